#!/usr/bin/env bash
#
# tests/guest/boot-test.sh: boots rrguest with plain QEMU and checks what it
# prints on its serial console, under TCG and, when it works here, KVM.
#
# Usage: tests/guest/boot-test.sh GUEST_ELF
#
# The firmware is QEMU's default, SeaBIOS, on a machine with no video
# device and no NIC: SeaBIOS then puts COM1 (0x3f8) in the BIOS data area
# and no CRTC, and the guest, like rumprun, talks on COM1.  The qboot and
# VGA cases check the other side: silent on COM1.
#
# Prints "ok NAME" or "FAIL NAME: why" per case, the boot time per
# accelerator, and last "N passed, M failed"; exits 1 if anything failed.
# QEMU is $QEMU (default qemu-system-x86_64), qboot $QBOOT (default
# /usr/share/qemu/qboot.rom, from Debian's qemu-system-data).

set -u

if [ $# -ne 1 ] || [ ! -f "$1" ]; then
	echo "usage: $0 GUEST_ELF" >&2
	exit 2
fi
ELF=$1
QEMU=${QEMU:-qemu-system-x86_64}
QBOOT=${QBOOT:-/usr/share/qemu/qboot.rom}

TMP=$(mktemp -d "${TMPDIR:-/tmp}/rrguest-test.XXXXXX") || exit 2
QPID=
cleanup() {
	if [ -n "$QPID" ]; then
		kill -9 "$QPID" 2>/dev/null
		wait "$QPID" 2>/dev/null
	fi
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

PASS=0
FAIL=0
ACCEL=
LOG=
NLOG=0
T0=
TSEEN=
why=

# now_ms: the wall clock in milliseconds, without forking.
now_ms() {
	local t=${EPOCHREALTIME/./}
	echo $((t / 1000))
}

# start_qemu APPEND [QEMU ARGS...]: boots the guest in the background with
# APPEND as its command line; sets QPID, LOG and T0 (the start time in ms).
# No video device unless the arguments add one; -no-reboot unless REBOOT
# is set.
REBOOT=
start_qemu() {
	local append=$1 noreboot=-no-reboot

	shift
	[ -n "$REBOOT" ] && noreboot=
	NLOG=$((NLOG + 1))
	LOG=$TMP/$NLOG.log
	: >"$LOG"
	T0=$(now_ms)
	"$QEMU" -kernel "$ELF" -append "$append" -nodefaults -display none \
	    $noreboot -m 32 -serial "file:$LOG" -accel "$ACCEL" "$@" \
	    </dev/null >"$LOG.err" 2>&1 &
	QPID=$!
}

# wait_exit SECS: waits until QEMU exits; sets why if it has not within
# SECS or exited non-zero.
wait_exit() {
	local deadline=$(($(now_ms) + $1 * 1000)) rc

	while kill -0 "$QPID" 2>/dev/null && [ "$(now_ms)" -lt "$deadline" ]; do
		sleep 0.01
	done
	if kill -0 "$QPID" 2>/dev/null; then
		why="QEMU still running after $1 s"
		stop_qemu
		return
	fi
	wait "$QPID"
	rc=$?
	QPID=
	[ "$rc" -ne 0 ] && why="QEMU exited with $rc"
}

# wait_line LINE SECS: waits until the log has LINE as a whole line; sets
# TSEEN (ms).  Fails if QEMU exits or SECS pass first.
wait_line() {
	local deadline=$(($(now_ms) + $2 * 1000))

	while ! grep -qxF -- "$1" "$LOG"; do
		if ! kill -0 "$QPID" 2>/dev/null || [ "$(now_ms)" -gt "$deadline" ]; then
			grep -qxF -- "$1" "$LOG" || return 1
			break
		fi
		sleep 0.01
	done
	TSEEN=$(now_ms)
}

stop_qemu() {
	kill "$QPID" 2>/dev/null
	wait "$QPID" 2>/dev/null
	QPID=
}

# boot APPEND [LINE [SECS]]: boots, waits for LINE (default "halted"),
# stops QEMU.  Sets why if LINE never came.  QEMU_ARGS (an array) go to
# QEMU too.  The default wait, $WAIT s, is long: SeaBIOS alone takes 2 to
# 9 s under this machine's software KVM when the machine is loaded.
QEMU_ARGS=()
WAIT=${WAIT:-30}
boot() {
	start_qemu "$1" "${QEMU_ARGS[@]}"
	wait_line "${2:-halted}" "${3:-$WAIT}" ||
	    why="no line '${2:-halted}' within ${3:-$WAIT} s"
	stop_qemu
}

# The checks below keep the first failure in why.
need_line() {
	[ -n "$why" ] && return
	grep -qxF -- "$1" "$LOG" || why="no line '$1'"
}

need_no_line() {
	[ -n "$why" ] && return
	grep -qxF -- "$1" "$LOG" && why="unexpected line '$1'"
}

need_no_text() {
	[ -n "$why" ] && return
	grep -qF -- "$1" "$LOG" && why="unexpected '$1' in the log"
}

# need_log: the whole log must be the text on stdin.
need_log() {
	[ -n "$why" ] && return
	cmp -s - "$LOG" || why="log differs from the expected text"
}

# The lines rrguest prints from the start to the calling marker (a blank
# line follows it), as rumprun prints its bootstrap line, its boot
# messages (rrguest's own line stands for the NetBSD ones), /tmp, and the
# marker.
HEAD='rump kernel bare metal bootstrap

rrguest: rumprun test guest'
START="$HEAD
mounted tmpfs on /tmp

=== calling \"rrguest\" main() ===
"

# end NAME N [UNMOUNTED...]: what rumprun prints after main() of NAME
# returned N: the status, _exit's line, the halting lines with one line
# per file system (the given ones, then /tmp and /), and "halted".
end() {
	local name=$1 n=$2 err=

	shift 2
	[ "$n" -ne 0 ] && err="ERROR: "
	printf '\n=== main() of "%s" returned %d ===\n\n' "$name" "$n"
	printf '=== %s_exit(%d) called ===\n' "$err" "$n"
	printf '%s\n' 'rump kernel halting...' 'syncing disks... done' \
	    'unmounting file systems...' "$@" \
	    'unmounted tmpfs on /tmp type tmpfs' \
	    'unmounted rumpfs on / type rumpfs' 'unmounting done' halted
}

# config_error MESSAGE: what rumprun prints when its configuration stops
# it before main(): nothing follows, not even "halted".
ERROR_EXIT='=== ERROR: _exit(1) called ==='
config_error() {
	printf '%s\n%s\n\n%s\n' "$HEAD" "rumprun: $1" "$ERROR_EXIT"
}

# run NAME FUNCTION: runs one case and reports it.
run() {
	why=
	LOG=/dev/null
	"$2"
	if [ -z "$why" ]; then
		echo "ok $ACCEL/$1"
		PASS=$((PASS + 1))
	else
		echo "FAIL $ACCEL/$1: $why"
		FAIL=$((FAIL + 1))
		if [ -s "$LOG" ]; then
			head -c 2000 "$LOG" | head -n 20 | sed 's/^/#   /'
		fi
		if [ -s "$LOG.err" ]; then
			head -n 5 "$LOG.err" | sed 's/^/#   qemu: /'
		fi
	fi
}

# The cases.  JSON text is given exactly as it goes on the command line.

t_echo() {
	boot '{"cmdline":"rrguest echo hello"}'
	need_log <<EOF
$START
hello
$(end rrguest 0)
EOF
	[ -n "$why" ] && return

	# Once more to time the boot, on an empty program.
	start_qemu '{"cmdline":"rrguest"}'
	if wait_line '=== calling "rrguest" main() ===' "$WAIT"; then
		echo "info: $ACCEL boot time (QEMU start to calling marker):" \
		    "$((TSEEN - T0)) ms"
	else
		why="no calling marker within $WAIT s"
	fi
	stop_qemu
}

# The guest does not undo JSON escapes: a \" in the JSON text reaches the
# splitter as backslash-quote, a literal quote.  So only ' can group.
t_argv() {
	boot "$(cat <<'EOF'
{"cmdline":"rrguest argv exit 0 'a b' \"c d\" e\"f g\\h 'i\"j' tab\tx  k'l 'm"}
EOF
)"
	need_log <<EOF
$START
argv[0]=<rrguest>
argv[1]=<argv>
argv[2]=<exit>
argv[3]=<0>
argv[4]=<a b>
argv[5]=<"c>
argv[6]=<d">
argv[7]=<e"f>
argv[8]=<g\\h>
argv[9]=<i"j>
argv[10]=<tabtx>
argv[11]=<kl m>
$(end rrguest 0)
EOF
}

t_empty_arg() {
	boot "{\"cmdline\":\"rrguest argv exit 0 '' x ''\"}"
	need_line 'argv[4]=<>'
	need_line 'argv[5]=<x>'
	need_line 'argv[6]=<>'
	need_no_text 'argv[7]'
	need_line '=== main() of "rrguest" returned 0 ==='
}

t_env() {
	boot "$(cat <<'EOF'
{"cmdline":"rrguest env hostname","env":"A=1","hostname":"box-1","env":"B=two words","env":"C=","env":"Q=say \"hi\" \\o/"}
EOF
)"
	need_log <<EOF
$START
env=A=1
env=B=two words
env=C=
env=Q=say \\"hi\\" \\\\o/
hostname=box-1
$(end rrguest 0)
EOF
}

t_config() {
	local json='{ "cmdline" : "rrguest config",	"env":"P=a\\b\u00e9\/" ,"hostname":"h" }  '

	boot "$json"
	need_line "config=$json"
}

t_blk_net() {
	boot "$(cat <<'EOF'
{"cmdline":"rrguest blk net","blk":{"source":"dev","path":"/dev/ld0a","fstype":"blk","mountpoint":"/data"},"net":{"if":"vioif0","type":"inet","method":"static","addr":"10.0.0.2","mask":"24","gw":"10.0.0.1"},"blk":{"source":"etfs","path":"xvda","fstype":"kernfs","mountpoint":"/kern"},"net":{"if":"vioif1","type":"inet6","method":"auto"}}
EOF
)"
	need_line 'blk[0]={source=dev,path=/dev/ld0a,fstype=blk,mountpoint=/data}'
	need_line 'blk[1]={source=etfs,path=xvda,fstype=kernfs,mountpoint=/kern}'
	need_line 'net[0]={if=vioif0,type=inet,method=static,addr=10.0.0.2,mask=24,gw=10.0.0.1}'
	need_line 'net[1]={if=vioif1,type=inet6,method=auto}'
}

t_exit0() {
	boot '{"cmdline":"rrguest exit 0 echo notreached"}'
	need_line '=== main() of "rrguest" returned 0 ==='
	need_line '=== _exit(0) called ==='
	need_no_text notreached
}

# A non-zero status: _exit's line says ERROR; the data disks mounted from
# the configuration are unmounted first, the last one first.
t_exit3() {
	boot "$(cat <<'EOF'
{"cmdline":"/bin/prog hostname exit 3","blk":{"source":"dev","path":"/dev/ld0a","fstype":"blk","mountpoint":"/data"},"blk":{"source":"dev","path":"/dev/ld1a"},"blk":{"source":"etfs","path":"xvdb","fstype":"blk","mountpoint":"/b"},"blk":{"source":"dev","path":"virtual","fstype":"kernfs","mountpoint":"/kern"}}
EOF
)"
	need_log <<EOF
$HEAD
mounted tmpfs on /tmp

=== calling "/bin/prog" main() ===

hostname=
$(end /bin/prog 3 'unmounted kernfs on /kern type kernfs' \
    'unmounted /dev/xvdb on /b type blk' \
    'unmounted /dev/ld0a on /data type blk')
EOF
}

t_panic() {
	boot "{\"cmdline\":\"rrguest echo before panic 'it broke' echo after\"}"
	need_log <<EOF
$START
before
PANIC: it broke
halted
EOF
}

t_panic_default() {
	boot '{"cmdline":"rrguest panic"}'
	need_line 'PANIC: test panic'
	need_line 'halted'
	need_no_text 'returned'
	need_no_text '_exit'
}

# A configuration rumprun refuses: its message, _exit(1)'s line, and
# nothing more (no "halted": the guest just stops).
# bad_config JSON MESSAGE: the configuration makes rumprun stop with
# MESSAGE before main(), and print nothing more (checked 0.2 s later).
bad_config() {
	start_qemu "$1" "${QEMU_ARGS[@]}"
	wait_line "$ERROR_EXIT" "$WAIT" || why="no line '$ERROR_EXIT' within $WAIT s"
	sleep 0.2
	stop_qemu
	config_error "$2" | need_log
}

t_unknown_key() {
	bad_config '{"cmdline":"rrguest","env":"A=1","bogus":"x"}' \
	    'no match for key "bogus"'
}

t_bad_escape() {
	bad_config '{"cmdline":"rrguest \q"}' 'jparse failed'
}

t_bad_json() {
	bad_config '{"cmdline":"rrguest",}' 'jparse failed'
}

t_not_string() {
	bad_config '{"cmdline":"rrguest","env":1}' \
	    'handle_env: expected STRING, got UNKNOWN'
}

t_blk_key() {
	bad_config '{"cmdline":"rrguest","blk":{"source":"dev","size":"1"}}' \
	    'unexpected key "size" in "handle_blk"'
}

t_blk_vital() {
	bad_config '{"cmdline":"rrguest","blk":{"source":"dev","fstype":"blk"}}' \
	    'blk cfg missing vital data'
}

t_blk_source() {
	bad_config '{"cmdline":"rrguest","blk":{"source":"nfs","path":"x"}}' \
	    'unsupported blk source "nfs"'
}

t_blk_fstype() {
	bad_config '{"cmdline":"rrguest","blk":{"source":"dev","path":"/dev/ld0a","fstype":"ffs","mountpoint":"/d"}}' \
	    'unknown fstype "ffs"'
}

t_net_vital() {
	bad_config '{"cmdline":"rrguest","net":{"if":"vioif0","type":"inet"}}' \
	    'net cfg missing vital data, not configuring'
}

t_net_static() {
	bad_config '{"cmdline":"rrguest","net":{"if":"vioif0","type":"inet","method":"static","addr":"10.0.0.2"}}' \
	    'static net cfg missing addr or mask'
}

t_net_method() {
	bad_config '{"cmdline":"rrguest","net":{"if":"vioif0","type":"inet","method":"auto"}}' \
	    'method "static" or "dhcp" expected, got "auto"'
}

# DHCP as rumprun does it before main(), on a virtio NIC: QEMU's user
# networking answers it itself (restrict=on: nothing leaves QEMU).
t_net_dhcp() {
	QEMU_ARGS=(-netdev user,id=n0,restrict=on
	    -device virtio-net-pci,netdev=n0,romfile=)
	boot '{"cmdline":"rrguest ifaddr","net":{"if":"vioif0","type":"inet","method":"dhcp"}}'
	QEMU_ARGS=()
	need_line 'ifaddr vioif0 10.0.2.15/24'
	need_line '=== main() of "rrguest" returned 0 ==='
}

# DHCP on an interface the guest does not have: rumprun's oneshot cannot
# init it, and rumprun stops.
t_net_dhcp_noif() {
	start_qemu '{"cmdline":"rrguest","net":{"if":"wm0","type":"inet","method":"dhcp"}}'
	wait_line "$ERROR_EXIT" "$WAIT" || why="no line '$ERROR_EXIT' within $WAIT s"
	sleep 0.2
	stop_qemu
	printf '%s\n%s\n%s\n\n%s\n' "$HEAD" 'cannot init wm0 (6)' \
	    'rumprun: configuring dhcp for wm0 failed: 6' "$ERROR_EXIT" |
	    need_log
}

t_net_type() {
	bad_config '{"cmdline":"rrguest","net":{"if":"vioif0","type":"ipx","method":"dhcp"}}' \
	    'network type "ipx" not supported'
}

t_env_no_equals() {
	bad_config '{"cmdline":"rrguest","env":"NOEQUALS"}' \
	    'putenv: Invalid argument'
}

t_no_cmdline() {
	bad_config '{"env":"A=1"}' 'rumprun_config: no bins'
}

# padded_json TOTAL: a configuration making the multiboot command line
# ("<kernel path> " + JSON) exactly TOTAL bytes long.
padded_json() {
	local head='{"cmdline":"rrguest exit 0","env":"PAD=' tail='"}' pad
	local n=$(($1 - ${#ELF} - 1 - ${#head} - ${#tail}))

	printf -v pad '%*s' "$n" ''
	echo "$head${pad// /x}$tail"
}

t_cmdline_4095() {
	boot "$(padded_json 4095)"
	need_line '=== main() of "rrguest" returned 0 ==='
}

t_cmdline_4096() {
	boot "$(padded_json 4096)"
	need_log <<'EOF'
rump kernel bare metal bootstrap

PANIC: command line too long, increase BMK_MULTIBOOT_CMDLINE_SIZE
halted
EOF
}

# QEMU's -initrd gives a multiboot kernel its files as modules, the way
# GRUB's "module" does.  Newer rumprun hw takes the first module, byte for
# byte, as its configuration and ignores the command line.
t_module() {
	local cfg=$TMP/module.json

	printf '%s' '{"cmdline":"rrguest config env exit 4","env":"FROM=module"}' >"$cfg"
	QEMU_ARGS=(-initrd "$cfg")
	boot '{"cmdline":"rrguest echo from-cmdline"}'
	QEMU_ARGS=()
	need_log <<EOF
rump kernel bare metal bootstrap

multiboot: Using configuration from $cfg
rrguest: rumprun test guest
mounted tmpfs on /tmp

=== calling "rrguest" main() ===

config={"cmdline":"rrguest config env exit 4","env":"FROM=module"}
env=FROM=module
$(end rrguest 4)
EOF
}

# module_json SIZE: a configuration of exactly SIZE bytes, in a file.
module_json() {
	local head='{"cmdline":"rrguest exit 0","env":"PAD=' tail='"}' pad
	local n=$(($1 - ${#head} - ${#tail}))

	printf -v pad '%*s' "$n" ''
	printf '%s' "$head${pad// /x}$tail" >"$TMP/module-$1.json"
	echo "$TMP/module-$1.json"
}

# rumprun halts on a module of BMK_MULTIBOOT_CMDLINE_SIZE - 1 bytes or more.
t_module_4094() {
	QEMU_ARGS=(-initrd "$(module_json 4094)")
	boot 'ignored'
	QEMU_ARGS=()
	need_line '=== main() of "rrguest" returned 0 ==='
}

t_module_4095() {
	QEMU_ARGS=(-initrd "$(module_json 4095)")
	boot 'ignored'
	QEMU_ARGS=()
	need_line 'PANIC: command line too long, increase BMK_MULTIBOOT_CMDLINE_SIZE'
	need_no_text '=== calling'
	need_no_text 'multiboot:'
}

# _RUMPRUN_ROOTFSCFG= without a boot CD: rumprun cannot mount its rootfs.
t_rootfs_no_cd() {
	boot '_RUMPRUN_ROOTFSCFG=/json.cfg' "$ERROR_EXIT" "$WAIT"
	sleep 0.2
	need_log <<EOF
$HEAD
rrguest: rootfs: no ATAPI drive on the IDE ports
rumprun: failed to mount rootfs from image

$ERROR_EXIT
EOF
}

t_no_json() {
	boot 'no config here'
	need_log <<EOF
$HEAD
rumprun: could not find start of json.  no config?
mounted tmpfs on /tmp

=== calling "rumprun" main() ===

$(end rumprun 0)
EOF
}

t_unknown_cmd() {
	boot '{"cmdline":"rrguest echo a frobnicate echo b"}'
	need_line 'unknown command "frobnicate"'
	need_line '=== main() of "rrguest" returned 127 ==='
	need_no_line b
}

t_sleepms() {
	local t1 ms

	start_qemu '{"cmdline":"rrguest echo start sleepms 500 echo end"}'
	if wait_line start "$WAIT"; then
		t1=$TSEEN
		if wait_line end 10; then
			ms=$((TSEEN - t1))
			echo "info: $ACCEL sleepms 500 took about $ms ms"
			if [ "$ms" -lt 300 ] || [ "$ms" -gt 3000 ]; then
				why="sleepms 500 took $ms ms"
			fi
		else
			why="no line 'end' within $WAIT s"
		fi
	else
		why="no line 'start' within $WAIT s"
	fi
	stop_qemu
}

t_spam() {
	local n bad

	boot '{"cmdline":"rrguest spam 1000"}' halted "$WAIT"
	[ -n "$why" ] && return
	n=$(grep -cE '^spam [0-9]+ x+$' "$LOG")
	bad=$(awk '/^spam / && length($0) != 79' "$LOG" | wc -l)
	need_line "spam 1000 $(printf 'x%.0s' {1..69})"
	[ -z "$why" ] && [ "$n" -ne 1000 ] && why="$n spam lines, not 1000"
	[ -z "$why" ] && [ "$bad" -ne 0 ] && why="$bad spam lines not 80 bytes"
}

t_tick() {
	boot '{"cmdline":"rrguest tick 100"}' 'tick 3' "$WAIT"
	need_line 'tick 1'
	need_line 'tick 2'
	need_no_text 'returned'
}

t_forever() {
	start_qemu '{"cmdline":"rrguest forever"}'
	wait_line '=== calling "rrguest" main() ===' "$WAIT" ||
	    why="no calling marker within $WAIT s"
	sleep 0.5
	stop_qemu
	need_log <<EOF
$START
EOF
}

t_reset() {
	local deadline rc

	start_qemu '{"cmdline":"rrguest echo resetting reset"}'
	deadline=$(($(now_ms) + WAIT * 1000))
	while kill -0 "$QPID" 2>/dev/null && [ "$(now_ms)" -lt "$deadline" ]; do
		sleep 0.01
	done
	if kill -0 "$QPID" 2>/dev/null; then
		why="QEMU still running $WAIT s after the reset"
		stop_qemu
		return
	fi
	wait "$QPID"
	rc=$?
	QPID=
	[ "$rc" -ne 0 ] && why="QEMU exited with $rc"
	need_line resetting
	need_no_text returned
	need_no_text halted
}

# The firmware side of the console.  Under qboot, which leaves the BIOS
# data area empty, rrguest (like a genuine rumprun) writes nothing to
# COM1; it still runs: its main() resets the machine, and with -no-reboot
# QEMU exits.
t_qboot_silent() {
	if [ ! -f "$QBOOT" ]; then
		why="no qboot at $QBOOT (Debian's qemu-system-data has it)"
		return
	fi
	start_qemu '{"cmdline":"rrguest echo hello reset"}' -bios "$QBOOT"
	wait_exit "$WAIT"
	[ -z "$why" ] && [ -s "$LOG" ] && why="$(wc -c <"$LOG") bytes on COM1 under qboot"
}

# The benchmark knob: rrguest.console=com1 before the configuration makes
# the guest use COM1 under qboot too (a genuine image has no such knob).
t_qboot_com1() {
	if [ ! -f "$QBOOT" ]; then
		why="no qboot at $QBOOT (Debian's qemu-system-data has it)"
		return
	fi
	QEMU_ARGS=(-bios "$QBOOT")
	boot 'rrguest.console=com1 {"cmdline":"rrguest echo hello"}'
	QEMU_ARGS=()
	need_log <<EOF
$START
hello
$(end rrguest 0)
EOF
}

# vga_text: the 80x25 text screen of the running QEMU (started with a
# monitor on the pipe $TMP/mon, open on fd 7), one line per row, trailing
# blanks cut.
vga_text() {
	local bin=$TMP/vga.bin n=0

	rm -f "$bin"
	echo "pmemsave 0xb8000 4000 \"$bin\"" >&7
	while [ ! -s "$bin" ] || [ "$(wc -c <"$bin")" -lt 4000 ]; do
		n=$((n + 1))
		[ "$n" -gt 500 ] && return 1
		sleep 0.01
	done
	od -An -v -tu1 -w2 "$bin" | awk '{ printf "%c", $1 }
	    NR % 80 == 0 { printf "\n" }' | sed 's/ *$//'
}

# With a video card SeaBIOS fills in the CRTC port (0x463) too, and the
# guest writes to VGA text memory only, even though COM1 is there.
t_seabios_vga() {
	local deadline=$(($(now_ms) + WAIT * 1000)) cpid

	rm -f "$TMP/mon.in" "$TMP/mon.out"
	mkfifo "$TMP/mon.in" "$TMP/mon.out"
	start_qemu '{"cmdline":"rrguest echo on-the-screen"}' -vga std \
	    -monitor "pipe:$TMP/mon"
	cat "$TMP/mon.out" >/dev/null &
	cpid=$!
	exec 7>"$TMP/mon.in"
	: >"$TMP/vga.txt"
	while ! grep -qxF halted "$TMP/vga.txt" &&
	    [ "$(now_ms)" -lt "$deadline" ]; do
		sleep 0.1
		vga_text >"$TMP/vga.txt" || break
	done
	echo quit >&7
	exec 7>&-
	wait "$QPID"
	QPID=
	wait "$cpid"
	[ -s "$LOG" ] && why="$(wc -c <"$LOG") bytes on COM1 with a VGA"
	[ -z "$why" ] && ! grep -qxF 'on-the-screen' "$TMP/vga.txt" &&
	    why="no line 'on-the-screen' on the VGA screen"
	[ -z "$why" ] && ! grep -qxF 'halted' "$TMP/vga.txt" &&
	    why="no line 'halted' on the VGA screen"
}

# boot-sse: one SSE instruction before main(), as rumprun executes early.
# TCG runs it and goes on with the other commands; the software KVM here
# cannot emulate it and QEMU stops the guest with an internal error.
t_boot_sse() {
	start_qemu '{"cmdline":"rrguest boot-sse argv"}'
	if [ "$ACCEL" = tcg ]; then
		wait_line halted "$WAIT" || why="no line 'halted' within $WAIT s"
		stop_qemu
		need_line 'argv[0]=<rrguest>'
		need_line 'argv[1]=<argv>'
		need_no_text 'argv[2]'
		need_no_text 'boot-sse'
		return
	fi
	local deadline=$(($(now_ms) + WAIT * 1000))
	while ! grep -q 'emulation failure' "$LOG.err" &&
	    [ "$(now_ms)" -lt "$deadline" ]; do
		sleep 0.01
	done
	sleep 0.2
	stop_qemu
	if ! grep -q 'KVM internal error' "$LOG.err" ||
	    ! grep -q 'emulation failure' "$LOG.err"; then
		why="no KVM internal error / emulation failure from QEMU"
		return
	fi
	need_log <<EOF
$HEAD
EOF
}

# boot-triplefault: the CPU resets before main().  Without -no-reboot the
# machine boots again, so the bootstrap line comes twice.
t_boot_triplefault() {
	REBOOT=1
	start_qemu '{"cmdline":"rrguest boot-triplefault echo x"}'
	REBOOT=
	local deadline=$(($(now_ms) + WAIT * 1000))
	while [ "$(grep -c 'rump kernel bare metal bootstrap' "$LOG")" -lt 2 ] &&
	    [ "$(now_ms)" -lt "$deadline" ]; do
		sleep 0.01
	done
	stop_qemu
	[ "$(grep -c 'rump kernel bare metal bootstrap' "$LOG")" -lt 2 ] &&
	    why="the machine did not reset"
	need_no_text '=== calling'
	need_no_text 'tmpfs'
}

# boot-hang: nothing after the bootstrap lines, and QEMU keeps running.
t_boot_hang() {
	start_qemu '{"cmdline":"rrguest boot-hang echo x"}'
	wait_line 'rrguest: rumprun test guest' "$WAIT" ||
	    why="no bootstrap lines within $WAIT s"
	sleep 1
	kill -0 "$QPID" 2>/dev/null || why="QEMU exited"
	stop_qemu
	need_log <<EOF
$HEAD
EOF
}

CASES=(
	echo t_echo
	argv t_argv
	empty-arg t_empty_arg
	env-hostname t_env
	config t_config
	blk-net t_blk_net
	exit-0 t_exit0
	exit-3 t_exit3
	panic t_panic
	panic-default t_panic_default
	unknown-key t_unknown_key
	bad-escape t_bad_escape
	bad-json t_bad_json
	not-string t_not_string
	blk-key t_blk_key
	blk-vital t_blk_vital
	blk-source t_blk_source
	blk-fstype t_blk_fstype
	net-vital t_net_vital
	net-static t_net_static
	net-method t_net_method
	net-type t_net_type
	net-dhcp t_net_dhcp
	net-dhcp-noif t_net_dhcp_noif
	env-no-equals t_env_no_equals
	no-cmdline t_no_cmdline
	cmdline-4095 t_cmdline_4095
	cmdline-4096 t_cmdline_4096
	no-json t_no_json
	module t_module
	module-4094 t_module_4094
	module-4095 t_module_4095
	rootfs-no-cd t_rootfs_no_cd
	unknown-command t_unknown_cmd
	sleepms t_sleepms
	spam t_spam
	tick t_tick
	forever t_forever
	reset t_reset
	qboot-silent t_qboot_silent
	qboot-com1-knob t_qboot_com1
	seabios-vga t_seabios_vga
	boot-sse t_boot_sse
	boot-triplefault t_boot_triplefault
	boot-hang t_boot_hang
)

run_all() {
	local i

	for ((i = 0; i < ${#CASES[@]}; i += 2)); do
		run "${CASES[i]}" "${CASES[i + 1]}"
	done
}

# kvm_check: sets reason to why KVM cannot be used, or to nothing.
kvm_check() {
	reason=
	if [ ! -e /dev/kvm ]; then
		reason="no /dev/kvm"
		return
	fi
	if [ ! -r /dev/kvm ] || [ ! -w /dev/kvm ]; then
		reason="no access to /dev/kvm"
		return
	fi
	ACCEL=kvm
	start_qemu '{"cmdline":"rrguest exit 0"}'
	if ! wait_line '=== main() of "rrguest" returned 0 ===' "$WAIT"; then
		reason="a trivial boot did not finish within $WAIT s"
		if grep -qv warning "$LOG.err"; then
			reason="a trivial boot failed: $(grep -v warning "$LOG.err" | head -n 1)"
		fi
	fi
	stop_qemu
}

ACCEL=tcg
run_all

kvm_check
if [ -z "$reason" ]; then
	ACCEL=kvm
	run_all
else
	echo "skip: KVM cases skipped: $reason"
fi

echo "$PASS passed, $FAIL failed"
[ "$FAIL" -eq 0 ]
