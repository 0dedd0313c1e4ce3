#!/bin/sh
# libvirt-down.sh: stop what libvirt-up.sh started, and nothing else.
#
#   scripts/libvirt-down.sh            libvirtd, the tini it ran under,
#                                      then virtlogd
#   scripts/libvirt-down.sh libvirtd   libvirtd only (guests keep running;
#                                      libvirt-up.sh starts it again under
#                                      the same tini)
#
# Reads the pids recorded under $RR_LIBVIRT_STATE (default
# /run/rumprund-test), checks that each still names the program it named
# (pids are reused), sends SIGTERM and waits up to 10 s for the exit, then
# SIGKILL.  Running guests are not touched: transient QEMU domains outlive
# libvirtd.
set -eu

state=${RR_LIBVIRT_STATE:-/run/rumprund-test}
what=${1:-all}

case "$what" in
all | libvirtd) ;;
*)
	echo "usage: $0 [all | libvirtd]" >&2
	exit 2
	;;
esac

# stop PIDFILE COMM: stop the process PIDFILE names if it still runs COMM.
stop() {
	[ -r "$1" ] || return 0
	pid=$(cat "$1")
	rm -f "$1"
	case "$pid" in '' | *[!0-9]*) return 0 ;; esac
	if [ "$(cat "/proc/$pid/comm" 2>/dev/null)" != "$2" ]; then
		return 0
	fi
	kill -TERM "$pid" 2>/dev/null || return 0
	i=0
	while [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$2" ]; do
		# A zombie has exited; its parent (PID 1) reaps it later.
		st=$(awk '{ print $3 }' "/proc/$pid/stat" 2>/dev/null || echo Z)
		[ "$st" = Z ] && break
		i=$((i + 1))
		if [ "$i" -eq 200 ]; then
			echo "libvirt-down: $2 (pid $pid) ignores SIGTERM;" \
			    "sending SIGKILL" >&2
			kill -KILL "$pid" 2>/dev/null || true
		fi
		if [ "$i" -gt 300 ]; then
			echo "libvirt-down: $2 (pid $pid) does not exit" >&2
			return 1
		fi
		sleep 0.05
	done
	echo "libvirt-down: stopped $2 (pid $pid)"
}

stop "$state/libvirtd.pid" libvirtd
if [ "$what" = all ]; then
	# The tini that libvirtd ran under (and reaped QEMU); tini.pid is
	# what an older libvirt-up.sh recorded.
	stop "$state/holder.pid" tini
	stop "$state/tini.pid" tini
	rm -f "$state/ctl"
	stop "$state/virtlogd.pid" virtlogd
fi
exit 0
