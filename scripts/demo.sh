#!/bin/sh
# The demo: start what is needed (virtlogd, libvirtd, rumprund), launch the
# test guest through rumprund's REST API, show it in the list while it runs,
# then print its console log and the exit status its program returned.
# Usage: scripts/demo.sh BUILD_DIR   (make demo runs it)
set -eu

build=${1:-build}
here=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d /tmp/rumprund-demo.XXXXXX)
# QEMU runs as libvirt-qemu: it must be able to reach the image and disks.
chmod 755 "$work"
sock=$work/rumprund.sock
py=/usr/bin/python3
dpid=

cleanup() {
	if [ -n "$dpid" ]; then
		kill -TERM "$dpid" 2>/dev/null || true
		wait "$dpid" 2>/dev/null || true
	fi
	"$here/scripts/libvirt-down.sh" >/dev/null 2>&1 || true
	rm -rf "$work"
}
trap cleanup EXIT INT TERM

api() {
	# api METHOD PATH [BODY]: one request over the unix socket.
	if [ $# -ge 3 ]; then
		curl -sS --unix-socket "$sock" -X "$1" -H 'Content-Type: application/json' \
			--data-binary "$3" "http://rumprund$2"
	else
		curl -sS --unix-socket "$sock" -X "$1" "http://rumprund$2"
	fi
}

pretty() {
	$py -m json.tool
}

echo "== starting virtlogd and libvirtd"
"$here/scripts/libvirt-up.sh"

mkdir -p "$work/images" "$work/volumes"
cp "$build/guest/rrguest" "$work/images/rrguest"
truncate -s 1M "$work/volumes/data.img"
cat > "$work/rumprund.conf" <<CONF
socket = $sock
state_dir = $work/state
log_dir = $work/logs
image_dir = $work/images
volume_dir = $work/volumes
accel = tcg
CONF

echo "== starting rumprund"
"$build/rumprund" -d -f "$work/rumprund.conf" 2> "$work/rumprund.log" &
dpid=$!
i=0
until api GET /v1/health >/dev/null 2>&1; do
	i=$((i + 1))
	if [ $i -gt 100 ]; then
		cat "$work/rumprund.log" >&2
		echo "demo: rumprund did not start" >&2
		exit 1
	fi
	sleep 0.1
done
api GET /v1/info | pretty

request=$(cat <<JSON
{
  "name": "demo",
  "image": "$work/images/rrguest",
  "memory_mib": 32,
  "argv": ["rrguest", "echo", "hello from a unikernel launched by rumprund",
           "env", "blk", "net", "sleepms", "1500", "exit", "7"],
  "env": {"GREETING": "hello world", "MODE": "demo"},
  "hostname": "demo",
  "blk": [{"source": "$work/volumes/data.img", "mountpoint": "/data"}],
  "nics": [{"backend": {"type": "tap"},
            "inet": {"method": "static", "addr": "10.0.0.2/24", "gw": "10.0.0.1"}}],
  "labels": {"app": "demo"}
}
JSON
)
echo "== POST /v1/unikernels"
echo "$request"
api POST /v1/unikernels "$request" | pretty

sleep 0.5
echo "== GET /v1/unikernels (while it runs)"
api GET /v1/unikernels | $py -c '
import json, sys
print("%-8s %-9s %-8s %-6s %s" % ("NAME", "STATE", "PLATFORM", "MEMORY", "EXIT"))
for i in json.load(sys.stdin):
    print("%-8s %-9s %-8s %-6s %s" % (i["name"], i["state"], i["platform"],
          i["memory_mib"], "" if i["exit_status"] is None else i["exit_status"]))'

i=0
while :; do
	state=$(api GET /v1/unikernels/demo | $py -c 'import json,sys; print(json.load(sys.stdin)["state"])')
	case $state in exited | stopped | crashed | failed) break ;; esac
	i=$((i + 1))
	if [ $i -gt 150 ]; then
		echo "demo: the guest did not end within 15 s (state $state)" >&2
		exit 1
	fi
	sleep 0.1
done

echo "== GET /v1/unikernels/demo/logs (the guest's console)"
api GET /v1/unikernels/demo/logs
echo "== GET /v1/events?since=0&follow=false"
api GET '/v1/events?since=0&follow=false'
status=$(api GET /v1/unikernels/demo | $py -c 'import json,sys; print(json.load(sys.stdin)["exit_status"])')
echo "== the guest ended $state; its program returned $status"
api DELETE /v1/unikernels/demo >/dev/null
