/*
 * xen_cfg: the libxl domain configuration of a rumprun guest, and the
 * xenstore entries the Xen backend writes for it.
 *
 * Pure functions (no hypervisor, no xenstored): what they build can be
 * serialized with libxl's own libxl_domain_config_to_json(NULL, ...) and
 * checked against golden files on any machine with libxen-dev.  The Xen
 * backend (xen.c) only adds what cannot be golden: a random UUID.
 *
 * Only compiled with HAVE_XEN (libxl's headers present).
 */
#ifndef XEN_CFG_H
#define XEN_CFG_H

#ifdef HAVE_XEN

/* The libxl API this code is written against (Xen 4.14 and later). */
#ifndef LIBXL_API_VERSION
#define LIBXL_API_VERSION 0x041400
#endif

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libxl.h>
#include <libxl_utils.h>

#include "backend.h"
#include "rrerr.h"

/*
 * rumprund's keys in the domain's xenstore home (/local/domain/<domid>/),
 * written by libxl in the transaction that creates the domain (c_info's
 * xsdata), so that a domain never exists without them.  The guest can read
 * them (libxl gives a domain read access to its home) but not change them.
 */
#define XEN_CFG_KEY_OWNER      "rumprund/owner"
#define XEN_CFG_KEY_INSTANCE   "rumprund/instance"
#define XEN_CFG_KEY_GENERATION "rumprund/generation"
#define XEN_CFG_KEY_CONSOLE    "rumprund/console" /* the console log */

/* The key a rumprun guest reads its configuration from, in its home. */
#define XEN_CFG_KEY_GUEST "rumprun/cfg"

/* Every xenstore path the backend builds fits this (NUL included). */
#define XEN_CFG_PATH_MAX 64

/*
 * Fill d, which the caller initialized with libxl_domain_config_init(),
 * with the PV domain of launch l:
 *   type pv, name l->domain_name, kernel spec->image, memory and vCPUs;
 *   on_poweroff, on_reboot, on_watchdog and on_crash all "destroy" (the
 *   backend carries them out: libxl leaves that to its caller, as xl does);
 *   disks xvda, xvdb ... in request order, raw, read-only when asked, the
 *   disk backend left to libxl as xl leaves it for 'file:IMG,xvda,w';
 *   vifs with devid 0, 1 ..., l->macs[i], on the requested bridge (libxl's
 *   default hotplug script, vif-bridge);
 *   rumprund's ownership keys as xsdata.
 * Everything put into d is allocated with malloc() and freed by
 * libxl_domain_config_dispose(d), on failure too.  Returns 0, or -1 with
 * err: RRERR_INVALID, naming the field, for what Xen cannot run (a tap or
 * libvirt-network NIC, a spec for another platform, a bad MAC);
 * RRERR_INTERNAL when out of memory.
 */
int xen_cfg_domain(const struct backend_launch *l, libxl_domain_config *d,
    struct rrerr *err);

/* What the backend writes to xenstore between create and unpause. */
struct xen_cfg_write {
	char path[XEN_CFG_PATH_MAX];
	const char *value; /* borrowed from the caller */
	size_t len;	   /* bytes of value, no NUL */
};

/*
 * The guest configuration of domain domid: path
 * "/local/domain/<domid>/rumprun/cfg", value guest_config exactly (the
 * text guestconf_build() gave), len its length.  Returns 0, or -1 with
 * err RRERR_INVALID when path and value do not fit one xenstore message.
 */
int xen_cfg_guest_config(uint32_t domid, const char *guest_config,
    struct xen_cfg_write *out, struct rrerr *err);

/* "/local/domain/<domid>/<key>" into buf; false when it does not fit. */
bool xen_cfg_path(uint32_t domid, const char *key, char *buf, size_t size);

/*
 * True when name is a domain name of owner's (backend_domain_name()
 * prefix "rr-<first 8 of owner>-").  Only a prefilter: list() then checks
 * the owner key.
 */
bool xen_cfg_name_is_ours(const char *name, const char *owner);

/*
 * Parse the generation key's value (decimal, 1 to 4294967295, nothing
 * else).  Returns 0 and sets *out, or -1.
 */
int xen_cfg_parse_generation(const char *s, unsigned int *out);

/* "poweroff", "crash" ... for a libxl_shutdown_reason (never NULL). */
const char *xen_cfg_shutdown_reason(int reason);

#endif /* HAVE_XEN */

#endif
