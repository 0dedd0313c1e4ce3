#!/bin/sh
# libvirt-up.sh: make qemu:///system answer, without systemd.
#
# Idempotent.  As root on a Debian 12 machine with libvirt-daemon-system,
# qemu-system-x86 and tini installed:
#   - qemu.conf gets stdio_handler = "file" (QEMU writes console logs
#     itself, so that virtlogd is not in the data path) unless it already
#     has a stdio_handler setting;
#   - qemu.conf gets cgroup_controllers = [ ] (libvirt makes no cgroup for
#     each QEMU: a launch takes tens of ms less; QEMU loses the devices
#     cgroup, a defense, and libvirt its per-guest resource limits and
#     cgroup statistics: rumprund.8, LAUNCH TIME) unless it already has a
#     cgroup_controllers setting;
#   - virtlogd -d is started unless it runs (libvirt 9.0 fails every domain
#     start without it);
#   - libvirtd is started under "tini -s" (a subreaper that reaps QEMU at
#     once; PID 1 here reaps only every ~1.2 s) unless it runs; the tini
#     stays across libvirtd restarts (libvirt-down.sh libvirtd, then this
#     script), so that it also reaps QEMUs started by an earlier libvirtd;
#   - waits (at most RR_LIBVIRT_WAIT seconds, default 10) until
#     "virsh -c qemu:///system version" answers.
# What it starts is recorded under $RR_LIBVIRT_STATE (default
# /run/rumprund-test), so that libvirt-down.sh stops only that.
#
# libvirt's default NAT network is not started: nothing needs it (tests
# use tap and bridge NICs).  Exit status 0 when libvirtd answers.
set -eu

state=${RR_LIBVIRT_STATE:-/run/rumprund-test}
wait_s=${RR_LIBVIRT_WAIT:-10}
qemuconf=/etc/libvirt/qemu.conf
log=/var/log/libvirt/rumprund-test-libvirtd.log
uri=qemu:///system

now_ms() {
	# Milliseconds since the epoch (GNU date).
	date +%s%3N
}

# alive PIDFILE COMM: true when the pid in PIDFILE runs a program COMM.
alive() {
	[ -r "$1" ] || return 1
	pid=$(cat "$1" 2>/dev/null) || return 1
	case "$pid" in '' | *[!0-9]*) return 1 ;; esac
	[ -r "/proc/$pid/comm" ] || return 1
	[ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$2" ]
}

answers() {
	virsh -q -c "$uri" version >/dev/null 2>&1
}

if [ "$(id -u)" -ne 0 ]; then
	echo "libvirt-up: must run as root" >&2
	exit 1
fi
for p in virtlogd libvirtd tini virsh; do
	if ! command -v "$p" >/dev/null 2>&1 &&
	    ! [ -x "/usr/sbin/$p" ]; then
		echo "libvirt-up: $p is not installed (scripts/deps.sh)" >&2
		exit 1
	fi
done
PATH=$PATH:/usr/sbin:/sbin
export PATH

t0=$(now_ms)
mkdir -p "$state" /run/libvirt /var/log/libvirt/qemu /var/lib/libvirt/qemu \
    /var/cache/libvirt/qemu

# QEMU writes the console log file itself.
if [ -f "$qemuconf" ] &&
    ! grep -Eq '^[[:space:]]*stdio_handler[[:space:]]*=' "$qemuconf"; then
	printf '\n# Added by rumprund scripts/libvirt-up.sh: QEMU writes its logs\n# itself, virtlogd is not in the console data path.\nstdio_handler = "file"\n' >>"$qemuconf"
	echo "libvirt-up: added stdio_handler = \"file\" to $qemuconf"
	if answers; then
		echo "libvirt-up: libvirtd already runs: restart it for the" \
		    "setting to apply"
	fi
fi

# libvirt makes no cgroup for each QEMU (rumprund.8, LAUNCH TIME).
if [ -f "$qemuconf" ] &&
    ! grep -Eq '^[[:space:]]*cgroup_controllers[[:space:]]*=' "$qemuconf"; then
	printf '\n# Added by rumprund scripts/libvirt-up.sh: no cgroup for each QEMU,\n# launches take tens of ms less (rumprund.8, LAUNCH TIME: what it gives up).\ncgroup_controllers = [ ]\n' >>"$qemuconf"
	echo "libvirt-up: added cgroup_controllers = [ ] to $qemuconf"
	if answers; then
		echo "libvirt-up: libvirtd already runs: restart it for the" \
		    "setting to apply"
	fi
fi

# Without udev /dev/kvm stays root-only (0600), but libvirt runs QEMU as
# libvirt-qemu (group kvm): KVM is then "not available", and libvirtd
# throws its QEMU capability cache away and re-probes QEMU (~2.3 s) on
# every start.  Do what udev's rule does on an ordinary Debian machine.
if [ -c /dev/kvm ] && getent group kvm >/dev/null 2>&1 &&
    [ "$(stat -c %G:%a /dev/kvm)" != kvm:660 ] &&
    [ "$(stat -c %G:%a /dev/kvm)" != kvm:666 ]; then
	was=$(stat -c '%G, mode %a' /dev/kvm)
	chgrp kvm /dev/kvm
	chmod 0660 /dev/kvm
	echo "libvirt-up: /dev/kvm was group $was: made it group kvm," \
	    "mode 0660, as udev would"
fi

# virtlogd first: libvirtd connects to its socket on every domain start.
if alive /run/virtlogd.pid virtlogd; then
	:
else
	rm -f "$state/virtlogd.pid"
	virtlogd -d
	i=0
	while ! alive /run/virtlogd.pid virtlogd; do
		i=$((i + 1))
		if [ "$i" -gt 100 ]; then
			echo "libvirt-up: virtlogd did not start" >&2
			exit 1
		fi
		sleep 0.05
	done
	cp /run/virtlogd.pid "$state/virtlogd.pid"
	echo "libvirt-up: started virtlogd (pid $(cat "$state/virtlogd.pid"))"
fi

# libvirtd, unless it answers or is starting (its pid file is locked).
if answers; then
	echo "libvirt-up: libvirtd already answers"
	exit 0
fi
if alive /run/libvirtd.pid libvirtd; then
	echo "libvirt-up: libvirtd (pid $(cat /run/libvirtd.pid)) runs;" \
	    "waiting for it"
else
	# The holder: "tini -s" (a subreaper) over a shell that starts
	# libvirtd, orphaned at once, whenever "start" is written to the
	# fifo.  It outlives libvirtd restarts, so QEMU processes orphaned
	# by a libvirtd that exited are still reaped at once by tini, not by
	# PID 1 (~1.2 s late: destroy -> STOPPED then takes ~1.4 s).
	if ! alive "$state/holder.pid" tini; then
		rm -f "$state/holder.pid" "$state/ctl"
		mkfifo -m 0600 "$state/ctl"
		# A session of its own, stdin closed: it outlives this
		# script; exec so that $! is tini (setsid does not fork when
		# it is not a process group leader).
		# shellcheck disable=SC2016,SC2094
		(exec setsid tini -s -- sh -c '
			exec 3<>"$1"
			while read -r cmd <&3; do
				if [ "$cmd" = start ]; then
					(libvirtd </dev/null >>"$2" 2>&1 &)
				fi
			done' holder "$state/ctl" "$log" \
		    </dev/null >>"$log" 2>&1) &
		echo $! >"$state/holder.pid"
		i=0
		while ! alive "$state/holder.pid" tini; do
			i=$((i + 1))
			if [ "$i" -gt 100 ]; then
				echo "libvirt-up: tini did not start" >&2
				exit 1
			fi
			sleep 0.02
		done
	fi
	rm -f "$state/libvirtd.pid"
	# shellcheck disable=SC2016
	if ! timeout 5 sh -c 'echo start >"$1"' start "$state/ctl"; then
		echo "libvirt-up: the holder (tini pid" \
		    "$(cat "$state/holder.pid")) does not listen" >&2
		exit 1
	fi
	i=0
	while ! alive /run/libvirtd.pid libvirtd; do
		i=$((i + 1))
		if [ "$i" -gt $((wait_s * 20)) ]; then
			echo "libvirt-up: libvirtd did not start; see $log" >&2
			tail -n 5 "$log" >&2 || true
			exit 1
		fi
		sleep 0.05
	done
	cp /run/libvirtd.pid "$state/libvirtd.pid"
	echo "libvirt-up: started libvirtd (pid $(cat "$state/libvirtd.pid")," \
	    "under tini pid $(cat "$state/holder.pid")); log $log"
fi

i=0
while ! answers; do
	i=$((i + 1))
	if [ "$i" -gt $((wait_s * 20)) ]; then
		echo "libvirt-up: $uri does not answer after ${wait_s}s;" \
		    "see $log" >&2
		exit 1
	fi
	sleep 0.05
done
t1=$(now_ms)
echo "libvirt-up: $uri answers after $((t1 - t0)) ms"
