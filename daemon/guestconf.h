/*
 * guestconf: the configuration text a rumprun guest parses.
 *
 * A rumprun guest reads one JSON object: on KVM from its multiboot command
 * line, on Xen from xenstore (/local/domain/<domid>/rumprun/cfg), booted
 * from an ISO image from a file of the image (see daemon/iso.h).  Its
 * parser is not an ordinary JSON parser, and this writer follows it, not
 * the JSON standard:
 *
 * - keys repeat: one "env" key per variable, one "blk" per block device,
 *   one "net" per interface configuration, so no JSON library can write it;
 * - every value is a string, taken raw: the guest never unescapes, so a '"'
 *   or '\' in a value cannot be delivered (they are refused), except in
 *   "cmdline", whose text goes through the guest's own argv splitter:
 *   there "\"" and "\\" are both valid JSON escapes and the splitter's
 *   escapes for '"' and '\'.  Spaces are grouped with '...'; a '\'' cannot
 *   be expressed (a "\'" is not valid JSON) and is refused;
 * - devices are numbered by position: /dev/ld0a, ld1a ... and vioif0,
 *   vioif1 ... on KVM (the upstream rumprun tool skips vioif1); etfs
 *   xvda, xvdb ... and xenif0 ... with "cloner" on Xen, plus kernfs on /kern;
 *   in an ISO image every data image is a file of the image, attached by
 *   vnd from "images/NAME" (relative: the guest has chdir'd to the ISO it
 *   mounted on /rootfs), and a NIC is its driver's next unit: wm0, wm1,
 *   re0 ... in request order, without "cloner";
 * - on KVM the whole command line, "<kernel path> " prefix included, must
 *   stay under 4096 bytes or the guest halts at boot; in an ISO image the
 *   limit is that of the way it travels (GUESTCONF_ISO_*_MAX).
 */
#ifndef GUESTCONF_H
#define GUESTCONF_H

#include <stdbool.h>
#include <stddef.h>

#include "rrerr.h"
#include "spec.h"

/* The guest halts when its multiboot command line has this many bytes. */
#define GUESTCONF_KVM_CMDLINE_MAX 4096
/* A xenstore message carries at most this many bytes of path and value. */
#define GUESTCONF_XENSTORE_PAYLOAD_MAX 4096
/* The longest xenstore path the config is written to, NUL included. */
#define GUESTCONF_XENSTORE_PATH_MAX \
	sizeof("/local/domain/4294967295/rumprun/cfg")

/*
 * In an ISO image without data images the configuration is also a
 * multiboot module, which newer rumprun takes whole if it is shorter than
 * its 4096-byte command line buffer less one; a configuration file on the
 * image's root file system may have 64 KiB (rumprun's CFGMAXSIZE).
 */
#define GUESTCONF_ISO_MODULE_MAX 4094
#define GUESTCONF_ISO_FILE_MAX	 65536
/* Where data images go in an ISO image, relative to its root. */
#define GUESTCONF_ISO_IMAGES "images"

/*
 * Build the configuration text for spec on its platform.  kernel_path is
 * the path the KVM backend boots (QEMU puts it and a space before the
 * command line); it counts against the size limit and must not contain
 * '{'.  It is ignored for Xen and iso.  Returns a new string (free() it), or NULL
 * with err filled: RRERR_INVALID, naming the field, for what the guest
 * cannot receive; RRERR_INTERNAL when out of memory.
 */
char *guestconf_build(const struct spec *spec, const char *kernel_path,
    struct rrerr *err);

/*
 * Quote argv so that the guest's argv splitter gives back exactly argv,
 * in a form that is also valid inside a JSON string.  Returns a new string
 * or NULL with err naming "argv[N]".
 */
char *guestconf_cmdline(char *const *argv, size_t argc, struct rrerr *err);

/*
 * True when the ISO image of spec also hands its configuration to the
 * guest as the first multiboot module: when it has no data image (those
 * are found relative to the ISO mounted on /rootfs, which only the
 * _RUMPRUN_ROOTFSCFG= way mounts).
 */
bool guestconf_iso_module(const struct spec *spec);

#endif
