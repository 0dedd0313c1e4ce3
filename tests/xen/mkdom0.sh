#!/bin/sh
# mkdom0.sh: build (or find in the cache) the Xen test machine's dom0.
#
#   tests/xen/mkdom0.sh        prints the cache directory holding
#
#     xen.elf      the hypervisor, an ELF that QEMU's multiboot -kernel loads
#     vmlinux      dom0's kernel, uncompressed (Xen builds dom0 from it
#                  directly; decompressing a bzImage under TCG costs seconds)
#     initrd.cpio  a tiny busybox initramfs: loads virtio and ext4, mounts
#                  /dev/vda, copies the per-run payload (a second cpio
#                  appended by the test) into it and switch_roots to
#                  /opt/rr/rrinit
#     root.img     the root file system (ext2, 1 GiB sparse), booted with
#                  QEMU's -snapshot: nothing a run writes reaches it
#     versions     the Debian packages in it, with versions
#
# The machine is a Debian 12 minbase debootstrap with Xen 4.17 (the same
# version as the host's libxen-dev, so that a host build of rumprund runs
# in it), the dom0 kernel, busybox, and the runtime libraries of rumprund
# and rrctl.  No systemd, no udev: rrinit (tests/xen/rrinit) starts what
# is needed.
#
# Cache: $RR_XEN_CACHE (default /var/cache/rumprund-xen)/<key>, where the
# key hashes this script, initrd-init and the candidate versions of the packages on the
# host; an existing complete directory is reused, so only the first run
# (about 90 s and network access to deb.debian.org) builds.  Building
# needs root (debootstrap, chroot).  Any failure is fatal and loud: the Xen
# tests must not be skipped silently because the machine could not be
# made.
#
# The whole script is one brace group, read before it runs: editing the
# file while a build runs does not derail that build.
{
set -eu

here=$(cd "$(dirname "$0")" && pwd)
cache_root=${RR_XEN_CACHE:-/var/cache/rumprund-xen}
mirror=${RR_XEN_MIRROR:-http://deb.debian.org/debian}
security=${RR_XEN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}
suite=bookworm

# rumprund's and rrctl's runtime libraries (ldd build/rumprund build/rrctl,
# as Debian packages), and the sanitizers' for a build-asan rumprund.
LIBS="libmicrohttpd12 libjansson4 libuv1 libvirt0 libgnutls30 libcurl4
libcurl3-gnutls libasan8 libubsan1"
PKGS="xen-hypervisor-4.17-amd64 xen-utils-4.17 xenstore-utils
linux-image-amd64 busybox-static kmod iproute2 $LIBS"

die() {
	echo "mkdom0: $*" >&2
	exit 1
}

# Xen's version: the host's libxen-dev, which rumprund was built against.
xenver=$(dpkg-query -W -f='${Version}' libxen-dev 2>/dev/null) ||
	die "libxen-dev is not installed on the host (scripts/deps.sh)"

key=$( {
	cat "$0" "$here/initrd-init"
	echo "$xenver"
	# shellcheck disable=SC2086
	apt-cache policy $PKGS 2>/dev/null | grep -E '^[^ ]|Candidate'
} | sha256sum | cut -c1-16)
out=$cache_root/$key

if [ -f "$out/complete" ]; then
	echo "$out"
	exit 0
fi

[ "$(id -u)" -eq 0 ] || die "building the dom0 image needs root"
command -v debootstrap >/dev/null || die "debootstrap missing (scripts/deps.sh)"
command -v mke2fs >/dev/null || die "mke2fs missing"
mkdir -p "$cache_root"

# One build at a time; a second caller waits and then finds it done.
exec 9>"$cache_root/.lock"
flock 9
if [ -f "$out/complete" ]; then
	echo "$out"
	exit 0
fi

work=$(mktemp -d "$cache_root/.build.XXXXXX")
root=$work/root
cleanup() {
	for m in proc sys dev; do
		umount "$root/$m" 2>/dev/null || true
	done
	rm -rf "$work"
}
trap cleanup EXIT INT TERM

start=$(date +%s)
echo "mkdom0: debootstrap into $work (Xen $xenver)" >&2
# --include takes what debootstrap can resolve from the main suite; Xen
# comes from the security suite (as the host's libxen-dev), below.
debootstrap --variant=minbase --include=busybox-static,kmod,iproute2 \
	"$suite" "$root" "$mirror" >"$work/debootstrap.log" 2>&1 || {
	tail -20 "$work/debootstrap.log" >&2
	die "debootstrap failed (network access to $mirror needed once)"
}

cat >"$root/etc/apt/sources.list" <<EOF
deb $mirror $suite main
deb $mirror $suite-updates main
deb $security $suite-security main
EOF
# No service may start inside the chroot.
printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
chmod 0755 "$root/usr/sbin/policy-rc.d"
# Nor an initramfs-tools initrd (the machine boots with its own, and that
# one takes half a minute to make).
chroot "$root" dpkg-divert --quiet --local --rename \
	--add /usr/sbin/update-initramfs
ln -s /bin/true "$root/usr/sbin/update-initramfs"
mount -t proc proc "$root/proc"
mount -t sysfs sys "$root/sys"
mount --bind /dev "$root/dev"
export DEBIAN_FRONTEND=noninteractive
chroot "$root" apt-get -q update >"$work/apt.log" 2>&1 || {
	tail -20 "$work/apt.log" >&2
	die "apt-get update in the chroot failed"
}
# shellcheck disable=SC2086
chroot "$root" apt-get -q -y --no-install-recommends install \
	xen-hypervisor-4.17-amd64="$xenver" xen-utils-4.17="$xenver" \
	$PKGS >>"$work/apt.log" 2>&1 || {
	tail -30 "$work/apt.log" >&2
	die "installing the dom0 packages failed"
}
got=$(chroot "$root" dpkg-query -W -f='${Version}' libxenmisc4.17)
[ "$got" = "$xenver" ] ||
	die "dom0 got Xen libraries $got, the host's libxen-dev is $xenver"
chroot "$root" dpkg-query -W -f='${Package} ${Version}\n' >"$work/versions"
for m in proc sys dev; do
	umount "$root/$m"
done
rm -f "$root/usr/sbin/policy-rc.d"

kver=$(ls "$root/lib/modules" | sort -V | tail -1)
[ -n "$kver" ] || die "no kernel modules in the image"
xengz=$(ls "$root"/boot/xen-4.17-amd64.gz 2>/dev/null) ||
	die "no /boot/xen-4.17-amd64.gz in the image"
zcat "$xengz" >"$work/xen.elf"

# The dom0 kernel, uncompressed: the ELF inside the bzImage's XZ payload.
bz=$root/boot/vmlinuz-$kver
off=$(LC_ALL=C grep -abo "$(printf '\3757zXZ')" "$bz" | head -1 | cut -d: -f1) ||
	true
[ -n "$off" ] || die "no XZ payload in $bz"
tail -c +"$((off + 1))" "$bz" | xz -dc >"$work/vmlinux" 2>/dev/null || true
head -c 4 "$work/vmlinux" | grep -q 'ELF' ||
	die "could not extract the dom0 kernel from $bz"

# The initramfs: busybox and the modules to mount /dev/vda.
ird=$work/initrd
mkdir -p "$ird/bin" "$ird/dev" "$ird/proc" "$ird/sys" "$ird/newroot" \
	"$ird/modules"
cp "$root/bin/busybox" "$ird/bin/busybox"
ln -s busybox "$ird/bin/sh"
chroot "$root" modprobe -a -S "$kver" --show-depends virtio_pci virtio_blk crc32c_generic \
	ext4 | awk '$1 == "insmod" && !seen[$2]++ { print $2 }' >"$work/mods"
: >"$ird/modules/order"
while read -r m; do
	cp "$root$m" "$ird/modules/"
	echo "$(basename "$m")" >>"$ird/modules/order"
done <"$work/mods"
cp "$here/initrd-init" "$ird/init"
chmod 0755 "$ird/init"
(cd "$ird" && find . | cpio -o -H newc --quiet) >"$work/initrd.cpio"

# Prune what a test machine never reads.
rm -rf "$root/usr/share/doc" "$root/usr/share/man" "$root/usr/share/info" \
	"$root/usr/share/locale" "$root/var/cache/apt" "$root/var/lib/apt/lists" \
	"$root/boot"/*.gz "$root/boot/vmlinuz-"* "$root/boot/initrd.img-"*
mkdir -p "$root/opt/rr"

truncate -s 1G "$work/root.img"
mke2fs -q -t ext2 -L rrdom0 -d "$root" "$work/root.img" ||
	die "mke2fs failed"

rm -rf "$root" "$ird"
rm -f "$work/mods"
touch "$work/complete"
rm -rf "$out"
mv "$work" "$out"
trap - EXIT INT TERM
echo "mkdom0: built $out in $(($(date +%s) - start)) s" >&2
echo "$out"
exit 0
}
