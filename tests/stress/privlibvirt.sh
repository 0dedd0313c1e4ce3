#!/bin/sh
# privlibvirt.sh: a private virtlogd + libvirtd for the stress tests and the
# benchmarks, so that killing or restarting them never disturbs the shared
# libvirtd other tests use, and nobody else's domains share its locks.
#
#   privlibvirt.sh up DIR           start (idempotent); prints the URI
#   privlibvirt.sh uri DIR          print the URI
#   privlibvirt.sh exec DIR CMD...  run CMD in the private mount namespace
#                                   (e.g. scripts/libvirt-down.sh libvirtd,
#                                   then scripts/libvirt-up.sh: a restart)
#   privlibvirt.sh down DIR         stop libvirtd, virtlogd and the holder,
#                                   destroying the domains left in it first
#
# How: a mount namespace (unshare -m) in which DIR/run is mounted over /run,
# DIR/lib over /var/lib/libvirt, DIR/cache over /var/cache/libvirt (a copy
# of the host's QEMU capability cache, so libvirtd does not re-probe QEMU)
# and DIR/log over /var/log/libvirt; in it, scripts/libvirt-up.sh starts
# virtlogd and libvirtd (under its "tini -s" holder, which keeps the
# namespace alive).  Same binaries, same /etc/libvirt (qemu.conf with
# stdio_handler = "file"), so a domain starts exactly as with the shared
# libvirtd.  Clients outside reach it with
#   qemu+unix:///system?socket=DIR/run/libvirt/libvirt-sock
# As root; DIR should be short (unix socket paths have 107 bytes).
#
# RR_QEMU_CONF=FILE (up only): FILE is mounted over /etc/libvirt/qemu.conf
# in the namespace, so this libvirtd runs with other qemu.conf settings
# than the host's (bench/hostconf.py compares them side by side).  FILE
# should have stdio_handler = "file" (libvirt-up.sh appends it otherwise).
set -eu

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
cmd=${1:-}
dir=${2:-}
[ -n "$cmd" ] && [ -n "$dir" ] || {
	echo "usage: $0 up|uri|exec|down DIR [CMD...]" >&2
	exit 2
}
shift 2

uri="qemu+unix:///system?socket=$dir/run/libvirt/libvirt-sock"

holder() {
	f="$dir/run/rumprund-test/holder.pid"
	[ -r "$f" ] || return 1
	pid=$(cat "$f")
	[ "$(cat "/proc/$pid/comm" 2>/dev/null)" = tini ] || return 1
	echo "$pid"
}

in_ns() {
	pid=$(holder) || {
		echo "privlibvirt: no private libvirt in $dir" >&2
		return 1
	}
	nsenter -t "$pid" -m -- "$@"
}

case "$cmd" in
up)
	if holder >/dev/null && in_ns "$repo/scripts/libvirt-up.sh" >/dev/null
	then
		echo "$uri"
		exit 0
	fi
	mkdir -p "$dir/run" "$dir/lib/qemu" "$dir/cache" "$dir/log/qemu"
	chmod 0755 "$dir" "$dir/run" "$dir/lib" "$dir/cache" "$dir/log"
	if [ -d /var/cache/libvirt/qemu ] && [ ! -d "$dir/cache/qemu" ]; then
		cp -a /var/cache/libvirt/qemu "$dir/cache/"
	fi
	if getent passwd libvirt-qemu >/dev/null 2>&1; then
		chown libvirt-qemu:libvirt-qemu "$dir/lib/qemu"
	fi
	chmod 0751 "$dir/lib/qemu"
	# shellcheck disable=SC2016
	unshare -m --propagation private sh -c '
		set -e
		mount --bind "$1/run" /run
		mkdir -p /run/libvirt
		mount --bind "$1/lib" /var/lib/libvirt
		mount --bind "$1/cache" /var/cache/libvirt
		mount --bind "$1/log" /var/log/libvirt
		if [ -n "$3" ]; then
			mount --bind "$3" /etc/libvirt/qemu.conf
		fi
		exec "$2/scripts/libvirt-up.sh"' sh "$dir" "$repo" \
	    "${RR_QEMU_CONF:-}" >&2
	echo "$uri"
	;;
uri)
	echo "$uri"
	;;
exec)
	in_ns "$@"
	;;
down)
	holder >/dev/null || exit 0
	# Domains left behind (a failed run) go with it.
	for d in $(virsh -q -c "$uri" list --name 2>/dev/null); do
		virsh -q -c "$uri" destroy "$d" >/dev/null 2>&1 || true
	done
	in_ns "$repo/scripts/libvirt-down.sh" all >&2
	;;
*)
	echo "usage: $0 up|uri|exec|down DIR [CMD...]" >&2
	exit 2
	;;
esac
