#!/usr/bin/env bash
#
# tests/guest/boot-test.sh: boots rrguest with plain QEMU and checks what it
# prints on its serial console, under TCG and, when it works here, KVM.
#
# Usage: tests/guest/boot-test.sh GUEST_ELF
#
# Prints "ok NAME" or "FAIL NAME: why" per case, the boot time per
# accelerator, and last "N passed, M failed"; exits 1 if anything failed.
# QEMU is $QEMU (default qemu-system-x86_64).  Takes about 15 s.

set -u

if [ $# -ne 1 ] || [ ! -f "$1" ]; then
	echo "usage: $0 GUEST_ELF" >&2
	exit 2
fi
ELF=$1
QEMU=${QEMU:-qemu-system-x86_64}
BIOS=()
if [ -f /usr/share/qemu/qboot.rom ]; then
	BIOS=(-bios /usr/share/qemu/qboot.rom)	# SeaBIOS takes seconds.
fi

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
start_qemu() {
	local append=$1

	shift
	NLOG=$((NLOG + 1))
	LOG=$TMP/$NLOG.log
	: >"$LOG"
	T0=$(now_ms)
	"$QEMU" -kernel "$ELF" -append "$append" -nodefaults -display none \
	    -vga none -no-reboot -m 32 -serial "file:$LOG" "${BIOS[@]}" \
	    -accel "$ACCEL" "$@" </dev/null >"$LOG.err" 2>&1 &
	QPID=$!
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
# QEMU too.
QEMU_ARGS=()
boot() {
	start_qemu "$1" "${QEMU_ARGS[@]}"
	wait_line "${2:-halted}" "${3:-10}" ||
	    why="no line '${2:-halted}' within ${3:-10} s"
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
	need_log <<'EOF'
rrguest: rumprun test guest
=== calling "rrguest" main() ===

hello

=== main() of "rrguest" returned 0 ===
halted
EOF
	[ -n "$why" ] && return

	# Once more to time the boot, on an empty program.
	start_qemu '{"cmdline":"rrguest"}'
	if wait_line '=== calling "rrguest" main() ===' 10; then
		echo "info: $ACCEL boot time (QEMU start to calling marker):" \
		    "$((TSEEN - T0)) ms"
	else
		why="no calling marker within 10 s"
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
	need_log <<'EOF'
rrguest: rumprun test guest
=== calling "rrguest" main() ===

argv[0]=<rrguest>
argv[1]=<argv>
argv[2]=<exit>
argv[3]=<0>
argv[4]=<a b>
argv[5]=<"c>
argv[6]=<d">
argv[7]=<e"f>
argv[8]=<g\h>
argv[9]=<i"j>
argv[10]=<tabtx>
argv[11]=<kl m>

=== main() of "rrguest" returned 0 ===
halted
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
	need_log <<'EOF'
rrguest: rumprun test guest
=== calling "rrguest" main() ===

env=A=1
env=B=two words
env=C=
env=Q=say \"hi\" \\o/
hostname=box-1

=== main() of "rrguest" returned 0 ===
halted
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
	need_no_text notreached
}

t_exit3() {
	boot '{"cmdline":"/bin/prog hostname exit 3"}'
	need_line '=== calling "/bin/prog" main() ==='
	need_line 'hostname='
	need_line '=== main() of "/bin/prog" returned 3 ==='
	need_line 'halted'
}

t_panic() {
	boot "{\"cmdline\":\"rrguest echo before panic 'it broke' echo after\"}"
	need_log <<'EOF'
rrguest: rumprun test guest
=== calling "rrguest" main() ===

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
}

t_unknown_key() {
	boot '{"cmdline":"rrguest","env":"A=1","bogus":"x"}'
	need_log <<'EOF'
rrguest: rumprun test guest
PANIC: config: no match for key "bogus"
halted
EOF
}

t_bad_escape() {
	boot '{"cmdline":"rrguest \q"}'
	need_line 'PANIC: config: json parse failed'
	need_line 'halted'
	need_no_text '=== calling'
}

t_bad_json() {
	boot '{"cmdline":"rrguest",}'
	need_line 'PANIC: config: json parse failed'
	need_no_text '=== calling'
}

t_not_string() {
	boot '{"cmdline":"rrguest","env":1}'
	need_line 'PANIC: config: value of "env" is not a string'
	need_no_text '=== calling'
}

t_blk_key() {
	boot '{"cmdline":"rrguest","blk":{"source":"dev","size":"1"}}'
	need_line 'PANIC: config: unexpected key "size" in "blk"'
	need_no_text '=== calling'
}

t_no_cmdline() {
	boot '{"env":"A=1"}'
	need_line 'PANIC: config: no cmdline'
	need_no_text '=== calling'
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
rrguest: rumprun test guest
PANIC: command line too long
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
rrguest: rumprun test guest
multiboot: Using configuration from $cfg
=== calling "rrguest" main() ===

config={"cmdline":"rrguest config env exit 4","env":"FROM=module"}
env=FROM=module

=== main() of "rrguest" returned 4 ===
halted
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
	need_line 'PANIC: command line too long'
	need_no_text '=== calling'
}

# _RUMPRUN_ROOTFSCFG= without a boot CD: rumprun cannot mount its rootfs.
t_rootfs_no_cd() {
	boot '_RUMPRUN_ROOTFSCFG=/json.cfg'
	need_line 'PANIC: config: failed to mount rootfs from image: no ATAPI drive on the IDE ports'
	need_no_text '=== calling'
}

t_no_json() {
	boot 'no config here'
	need_log <<'EOF'
rrguest: rumprun test guest
could not find start of json. no config?
=== calling "rumprun" main() ===


=== main() of "rumprun" returned 0 ===
halted
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
	if wait_line start 10; then
		t1=$TSEEN
		if wait_line end 10; then
			ms=$((TSEEN - t1))
			echo "info: $ACCEL sleepms 500 took about $ms ms"
			if [ "$ms" -lt 300 ] || [ "$ms" -gt 3000 ]; then
				why="sleepms 500 took $ms ms"
			fi
		else
			why="no line 'end' within 10 s"
		fi
	else
		why="no line 'start' within 10 s"
	fi
	stop_qemu
}

t_spam() {
	local n bad

	boot '{"cmdline":"rrguest spam 1000"}' halted 20
	[ -n "$why" ] && return
	n=$(grep -cE '^spam [0-9]+ x+$' "$LOG")
	bad=$(awk '/^spam / && length($0) != 79' "$LOG" | wc -l)
	need_line "spam 1000 $(printf 'x%.0s' {1..69})"
	[ -z "$why" ] && [ "$n" -ne 1000 ] && why="$n spam lines, not 1000"
	[ -z "$why" ] && [ "$bad" -ne 0 ] && why="$bad spam lines not 80 bytes"
}

t_tick() {
	boot '{"cmdline":"rrguest tick 100"}' 'tick 3' 10
	need_line 'tick 1'
	need_line 'tick 2'
	need_no_text 'returned'
}

t_forever() {
	start_qemu '{"cmdline":"rrguest forever"}'
	wait_line '=== calling "rrguest" main() ===' 10 ||
	    why="no calling marker within 10 s"
	sleep 0.5
	stop_qemu
	need_log <<'EOF'
rrguest: rumprun test guest
=== calling "rrguest" main() ===

EOF
}

t_reset() {
	local deadline rc

	start_qemu '{"cmdline":"rrguest echo resetting reset"}'
	deadline=$(($(now_ms) + 5000))
	while kill -0 "$QPID" 2>/dev/null && [ "$(now_ms)" -lt "$deadline" ]; do
		sleep 0.01
	done
	if kill -0 "$QPID" 2>/dev/null; then
		why="QEMU still running 5 s after the reset"
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
	if ! wait_line '=== main() of "rrguest" returned 0 ===' 5; then
		reason="a trivial boot did not finish within 5 s"
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
