/*
 * iso: a bootable ISO 9660 image of a rumprun unikernel for a real
 * machine, from a request of platform iso (POST /v1/iso, rrctl iso).
 *
 * The image boots through GRUB's multiboot loader from a CD or a USB
 * stick (grub-mkrescue makes it hybrid) on a PC with a BIOS (or CSM).  It
 * holds, besides GRUB itself:
 *
 *   /boot/grub/grub.cfg   multiboot /boot/rumprun.bin _RUMPRUN_ROOTFSCFG=/json.cfg
 *                         module /json.cfg /json.cfg   (no data images only)
 *   /boot/rumprun.bin     the unikernel (the request's image)
 *   /json.cfg             the guest configuration (guestconf), exactly
 *   /images/NAME          each data image of the request, under its name
 *
 * The configuration never goes through GRUB's command line parser, which
 * would eat its quotes, braces, backslashes and '$'.  A rumprun hw guest
 * takes it one of two ways (see rumprund(8), "ISO IMAGES"):
 *
 * - newer rumprun (platform/hw/multiboot.c that prints "multiboot: Using
 *   configuration from ...") takes the first multiboot module as its
 *   configuration, byte for byte, and then ignores the command line: that
 *   works from any medium the BIOS can boot, the guest needs no driver for
 *   it.  At most GUESTCONF_ISO_MODULE_MAX bytes.
 * - older rumprun reads only the command line; "_RUMPRUN_ROOTFSCFG=/json.cfg"
 *   makes it mount the boot medium (cd9660 from /dev/ld0a or /dev/sd0a:
 *   a virtio disk or a USB stick; no IDE or SATA drive) on /rootfs, chdir
 *   there and read /json.cfg.  That is the upstream tool's way.
 *
 * Data images are attached by vnd from "images/NAME", relative to /rootfs:
 * only the second way mounts it, so an image with data images has no
 * module and every rumprun goes the second way.
 *
 * iso_build() is blocking (it runs grub-mkrescue and waits): call it on a
 * worker thread.  The other functions are pure.
 */
#ifndef ISO_H
#define ISO_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "rrerr.h"
#include "spec.h"

/* GRUB's BIOS modules and El Torito image (Debian: grub-pc-bin). */
#define ISO_GRUB_DIR "/usr/lib/grub/i386-pc"
/* The longest grub-mkrescue may take before it is killed. */
#define ISO_BUILD_TIMEOUT_S 600
/* The image and its data images together, in bytes. */
#define ISO_INPUT_MAX (4ULL << 30)
/* What GRUB and the file system add, about (BIOS only, no fonts). */
#define ISO_OVERHEAD (8ULL << 20)
/* In the image. */
#define ISO_KERNEL_PATH "/boot/rumprun.bin"
#define ISO_CONFIG_PATH "/json.cfg"

struct iso_image {
	int fd;	       /* the image, open for reading; unlinked */
	uint64_t size; /* its size in bytes */
};

/*
 * The grub.cfg of spec's image: a new string (free() it), or NULL when
 * out of memory.  It holds no text of the request.
 */
char *iso_grub_cfg(const struct spec *spec);

/*
 * Check that the first len bytes of an ISO image, which are at least
 * 17 sectors of 2048 bytes, start a whole ISO 9660 image of size bytes:
 * its primary volume descriptor says so.  Returns 0, or -1 with err.
 */
int iso_check_head(const unsigned char *head, size_t len, uint64_t size,
    struct rrerr *err);

/*
 * iso_check_head() on the head of the image open at fd (read with pread(),
 * so the file offset stays where it was), whose size is size bytes.
 */
int iso_check_fd(int fd, uint64_t size, struct rrerr *err);

/*
 * The directory under which builds make their temporary directory:
 * $TMPDIR when it is set to an absolute path, else /var/tmp.
 */
const char *iso_tmp_base(void);

/*
 * Build the ISO image of spec (platform iso), whose guest configuration
 * is config (guestconf_build()), in a new temporary directory under
 * tmp_base, which is removed before returning whatever happens.  The
 * image and data images are checked again under policy (paths_open_spec())
 * and copied from the descriptors that check gave: grub-mkrescue never
 * sees a path of the request.  While
 * grub-mkrescue runs, *cancel becoming true kills it.  On success fill
 * *out (close out->fd when done) and return 0.  On failure return -1 with
 * err: RRERR_UNAVAILABLE (grub-mkrescue or GRUB's BIOS files are not
 * installed, not enough space, cancelled), RRERR_INVALID (the inputs are
 * larger than ISO_INPUT_MAX, an input went away or is no longer a regular
 * file), RRERR_FORBIDDEN (an input now leads outside), RRERR_INTERNAL
 * (grub-mkrescue failed or timed out: its last line is in the message).
 * Blocking; thread-safe.
 */
int iso_build(const struct spec *spec, const struct spec_policy *policy,
    const char *config, const char *tmp_base, const atomic_bool *cancel,
    struct iso_image *out, struct rrerr *err);

#endif
