#!/bin/sh
# The demo: check a launch request, print the rumprun configuration its
# guest receives, and boot the test guest with that configuration under
# QEMU (TCG), showing its console.  Usage: scripts/demo.sh BUILD_DIR
set -eu

build=${1:-build}
work=$(mktemp -d /tmp/rumprund-demo.XXXXXX)
qpid=
cleanup() {
	[ -n "$qpid" ] && kill "$qpid" 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT INT TERM

mkdir -p "$work/images" "$work/volumes"
cp "$build/guest/rrguest" "$work/images/rrguest"
truncate -s 1M "$work/volumes/data.img"

cat > "$work/request.json" <<JSON
{
  "name": "demo",
  "image": "$work/images/rrguest",
  "memory_mib": 32,
  "argv": ["rrguest", "echo", "hello from a rumprun-style guest",
           "argv", "env", "blk", "net", "exit", "7"],
  "env": {"GREETING": "hello world", "MODE": "demo"},
  "hostname": "demo",
  "blk": [{"source": "$work/volumes/data.img", "mountpoint": "/data"}],
  "nics": [{"backend": {"type": "tap"},
            "inet": {"method": "static", "addr": "10.0.0.2/24", "gw": "10.0.0.1"}}]
}
JSON

echo "== launch request"
cat "$work/request.json"
echo
echo "== rumprund -C: the configuration the guest receives"
cfg=$("$build/rumprund" -C "$work/request.json" -i "$work/images" -v "$work/volumes")
echo "$cfg"
echo
echo "== a request rumprund refuses (image outside the allowed directory)"
printf '{"name":"bad","image":"/etc/passwd"}' |
	"$build/rumprund" -C - -i "$work/images" || true
echo

bios=
[ -f /usr/share/qemu/qboot.rom ] && bios="-bios /usr/share/qemu/qboot.rom"
echo "== booting the test guest under QEMU (TCG) with that configuration"
# shellcheck disable=SC2086
qemu-system-x86_64 -accel tcg -nodefaults -display none -vga none \
	-no-reboot -m 32 $bios -kernel "$work/images/rrguest" \
	-append "$cfg" -serial "file:$work/console.log" &
qpid=$!
i=0
while ! grep -q '^halted' "$work/console.log" 2>/dev/null; do
	i=$((i + 1))
	if [ $i -gt 100 ]; then
		echo "demo: the guest did not halt within 10 s" >&2
		exit 1
	fi
	sleep 0.1
done
kill "$qpid" 2>/dev/null || true
wait "$qpid" 2>/dev/null || true
qpid=
echo "== console"
cat "$work/console.log"
status=$(sed -n 's/^=== main() of ".*" returned \([0-9-]*\) ===$/\1/p' "$work/console.log")
echo "== the guest program exited with status $status"
