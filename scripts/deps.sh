#!/bin/sh
# Install every Debian package that building, testing and the demo need.
# Does nothing (and needs no network) when all of them are present.
# systemd is here for systemd-analyze and systemd-socket-activate (the
# tests of systemd/): the package does not make systemd the init, which is
# systemd-sysv's doing (and on Debian 12 libvirt-daemon-system already
# pulls both in).  openssl makes the tests' certificates.  grub-pc-bin,
# grub-common, xorriso (and mtools, which grub-mkrescue wants for EFI
# images) build the ISO images of POST /v1/iso and rrctl iso.  debootstrap,
# cpio, xz-utils and e2fsprogs build the Xen test machine (tests/xen).
# cppcheck, clang-tidy and clang-format-14 are make lint's (the Makefile
# runs clang-format-14 by that name: each version formats a little
# differently).  linux-perf and valgrind profile the daemon and libvirtd
# (bench/README.md).
# prometheus (and its promtool) scrapes rumprund in tests/e2e/test_metrics.py
# (96 MB installed, some 10 s; without its recommended node exporter).  On
# a host that runs systemd its package enables and starts prometheus.service
# (a Prometheus on :9090 scraping itself); the tests start their own on a
# free loopback port, and this script stops and disables that service
# when it was this script that installed the package.
set -eu

PACKAGES="
build-essential pkg-config
libmicrohttpd-dev libjansson-dev libvirt-dev libxen-dev libuv1-dev
libcurl4-openssl-dev libcmocka-dev libgnutls28-dev libxml2-dev
qemu-system-x86 qemu-utils libvirt-daemon-system libvirt-clients
tini genisoimage iproute2 dnsmasq-base iptables curl
python3 python3-yaml python3-jsonschema python3-pytest python3-pytest-xdist
cppcheck clang-tidy clang-format-14 clang libclang-rt-14-dev wrk linux-perf
valgrind
systemd openssl
debootstrap cpio xz-utils e2fsprogs
grub-pc-bin grub-common xorriso mtools
prometheus
"

missing=""
for p in $PACKAGES; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
		missing="$missing $p"
	fi
done

# node and npm for the OpenAPI lint (make openapi-lint), which installs
# its pinned @redocly/cli from the npm registry: Debian's nodejs and npm
# unless a node with npm is already there (as from another source, whose
# nodejs package must not be replaced).
if ! command -v npm >/dev/null 2>&1; then
	missing="$missing nodejs npm"
fi

if [ -z "$missing" ]; then
	exit 0
fi

echo "deps: installing:$missing"
if [ "$(id -u)" -ne 0 ]; then
	SUDO=sudo
else
	SUDO=
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
# shellcheck disable=SC2086
$SUDO apt-get install -y -q --no-install-recommends $missing

case " $missing " in
*" prometheus "*)
	if [ -d /run/systemd/system ]; then
		$SUDO systemctl disable --now prometheus.service || true
	fi
	;;
esac
