/*
 * xen_cfg: the libxl domain configuration of a rumprun guest (see
 * xen_cfg.h).
 *
 * Pure: golden-tested (tests/golden/xen/), also against xl's own parser.
 * The domain is the one xl would build from an equivalent xl.cfg, plus
 * rumprund's keys as xsdata, without a UUID (xen.c adds one); NICs are
 * bridges only.
 *
 * ARCHITECTURE.md, "The Xen domain", shows the xl.cfg and says why.
 */
#ifdef HAVE_XEN

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "guestconf.h"
#include "xen_cfg.h"

#define KIB_PER_MIB 1024

static int
oom(struct rrerr *err)
{
	return rrerr_set(err, RRERR_INTERNAL, NULL, "out of memory");
}

/* strdup() that notes a failure in *failed (s may be NULL). */
static char *
copy(const char *s, bool *failed)
{
	char *d;

	if (s == NULL)
		return NULL;
	if ((d = strdup(s)) == NULL)
		*failed = true;
	return d;
}

static bool
is_hex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
	    (c >= 'A' && c <= 'F');
}

static unsigned int
hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return (unsigned int)(c - '0');
	if (c >= 'a' && c <= 'f')
		return (unsigned int)(c - 'a' + 10);
	return (unsigned int)(c - 'A' + 10);
}

/* "52:54:00:12:34:56" into mac; -1 for anything else. */
static int
parse_mac(const char *s, libxl_mac *mac)
{
	size_t i;

	if (s == NULL || strlen(s) != 17)
		return -1;
	for (i = 0; i < 6; i++) {
		const char *p = s + 3 * i;

		if (!is_hex(p[0]) || !is_hex(p[1]) || (i < 5 && p[2] != ':'))
			return -1;
		(*mac)[i] = (uint8_t)(hex_value(p[0]) << 4 | hex_value(p[1]));
	}
	return 0;
}

/*
 * rumprund's keys, as a libxl key-value list (key, value, ..., NULL) in
 * *kvl.  Returns 0 or -1 (out of memory; what was made is in *kvl).
 */
static int
ownership(const struct backend_launch *l, libxl_key_value_list *kvl)
{
	char gen[16];
	char **list;
	bool failed = false;

	snprintf(gen, sizeof(gen), "%u", l->generation);
	if ((list = calloc(9, sizeof(*list))) == NULL)
		return -1;
	list[0] = copy(XEN_CFG_KEY_OWNER, &failed);
	list[1] = copy(l->owner != NULL ? l->owner : "", &failed);
	list[2] = copy(XEN_CFG_KEY_INSTANCE, &failed);
	list[3] = copy(l->spec->name, &failed);
	list[4] = copy(XEN_CFG_KEY_GENERATION, &failed);
	list[5] = copy(gen, &failed);
	list[6] = copy(XEN_CFG_KEY_CONSOLE, &failed);
	list[7] = copy(l->console_log != NULL ? l->console_log : "", &failed);
	*kvl = list;
	return failed ? -1 : 0;
}

/* Every vCPU online from the start, as xl's "vcpus = N" gives. */
static int
vcpus(libxl_domain_build_info *b, unsigned int n)
{
	unsigned int i;

	b->max_vcpus = (int)n;
	/* What libxl_bitmap_alloc() makes; libxl_bitmap_dispose() frees it. */
	b->avail_vcpus.size = (n + 7) / 8;
	b->avail_vcpus.map = calloc(b->avail_vcpus.size, 1);
	if (b->avail_vcpus.map == NULL) {
		b->avail_vcpus.size = 0;
		return -1;
	}
	for (i = 0; i < n; i++)
		libxl_bitmap_set(&b->avail_vcpus, (int)i);
	return 0;
}

static int
disks(const struct spec *spec, libxl_domain_config *d, struct rrerr *err)
{
	bool failed = false;
	char vdev[8];
	size_t i;

	if (spec->nblk == 0)
		return 0;
	if (spec->nblk > 26)
		return rrerr_set(err, RRERR_INVALID, "blk",
		    "blk: at most 26 disks fit xvda..xvdz");
	d->disks = calloc(spec->nblk, sizeof(*d->disks));
	if (d->disks == NULL)
		return oom(err);
	for (i = 0; i < spec->nblk; i++) {
		libxl_device_disk *disk = &d->disks[i];

		libxl_device_disk_init(disk);
		d->num_disks = (int)i + 1;
		snprintf(vdev, sizeof(vdev), "xvd%c", (char)('a' + i));
		disk->pdev_path = copy(spec->blk[i].source, &failed);
		disk->vdev = copy(vdev, &failed);
		disk->format = LIBXL_DISK_FORMAT_RAW;
		disk->readwrite = spec->blk[i].readonly ? 0 : 1;
		/*
		 * The backend stays LIBXL_DISK_BACKEND_UNKNOWN, as xl leaves
		 * it: libxl picks it at create time (phy, through a loop
		 * device set up by the block hotplug script, for a raw file
		 * or block device in a Linux dom0; qdisk otherwise).
		 */
	}
	return failed ? oom(err) : 0;
}

static int
nics(const struct backend_launch *l, libxl_domain_config *d, struct rrerr *err)
{
	const struct spec *spec = l->spec;
	bool failed = false;
	char field[48];
	size_t i;

	if (spec->nnics == 0)
		return 0;
	for (i = 0; i < spec->nnics; i++) {
		snprintf(field, sizeof(field), "nics[%zu].backend.type", i);
		switch (spec->nics[i].type) {
		case SPEC_NIC_BRIDGE:
			break;
		case SPEC_NIC_TAP:
			return rrerr_set(err, RRERR_INVALID, field,
			    "%s: a tap NIC has no Xen counterpart (netback "
			    "makes the host end, vif<domid>.%zu, and a hotplug "
			    "script attaches it): use a bridge",
			    field, i);
		case SPEC_NIC_NETWORK:
			return rrerr_set(err, RRERR_INVALID, field,
			    "%s: libvirt networks do not exist on Xen: use a "
			    "bridge",
			    field);
		}
	}
	if (l->macs == NULL)
		return rrerr_set(err, RRERR_INTERNAL, NULL,
		    "no MAC addresses for the NICs");
	d->nics = calloc(spec->nnics, sizeof(*d->nics));
	if (d->nics == NULL)
		return oom(err);
	for (i = 0; i < spec->nnics; i++) {
		libxl_device_nic *nic = &d->nics[i];

		libxl_device_nic_init(nic);
		d->num_nics = (int)i + 1;
		/* xl numbers vifs by position, and so does the guest. */
		nic->devid = (libxl_devid)i;
		if (parse_mac(l->macs[i], &nic->mac) == -1) {
			snprintf(field, sizeof(field), "nics[%zu].mac", i);
			return rrerr_set(err, RRERR_INVALID, field,
			    "%s: '%s' is not a MAC address", field,
			    l->macs[i] != NULL ? l->macs[i] : "");
		}
		nic->bridge = copy(spec->nics[i].backend_name, &failed);
	}
	return failed ? oom(err) : 0;
}

int
xen_cfg_domain(const struct backend_launch *l, libxl_domain_config *d,
    struct rrerr *err)
{
	const struct spec *spec = l->spec;
	libxl_domain_create_info *c = &d->c_info;
	libxl_domain_build_info *b = &d->b_info;
	bool failed = false;

	if (spec->platform != SPEC_PLATFORM_XEN)
		return rrerr_set(err, RRERR_INVALID, "platform",
		    "platform: the xen backend runs only xen guests");
	if (spec->vcpus == 0 || spec->memory_mib == 0)
		return rrerr_set(err, RRERR_INTERNAL, NULL,
		    "a spec without memory or vCPUs");

	c->type = LIBXL_DOMAIN_TYPE_PV;
	c->name = copy(l->domain_name, &failed);
	if (ownership(l, &c->xsdata) == -1 || failed)
		return oom(err);

	libxl_domain_build_info_init_type(b, LIBXL_DOMAIN_TYPE_PV);
	if (vcpus(b, spec->vcpus) == -1)
		return oom(err);
	b->max_memkb = (uint64_t)spec->memory_mib * KIB_PER_MIB;
	b->target_memkb = b->max_memkb;
	b->kernel = copy(spec->image, &failed);
	if (failed)
		return oom(err);

	d->on_poweroff = LIBXL_ACTION_ON_SHUTDOWN_DESTROY;
	d->on_reboot = LIBXL_ACTION_ON_SHUTDOWN_DESTROY;
	d->on_watchdog = LIBXL_ACTION_ON_SHUTDOWN_DESTROY;
	d->on_crash = LIBXL_ACTION_ON_SHUTDOWN_DESTROY;

	if (disks(spec, d, err) == -1 || nics(l, d, err) == -1)
		return -1;
	return 0;
}

bool
xen_cfg_path(uint32_t domid, const char *key, char *buf, size_t size)
{
	int n;

	n = snprintf(buf, size, "/local/domain/%u/%s", (unsigned int)domid,
	    key);
	return n > 0 && (size_t)n < size;
}

int
xen_cfg_guest_config(uint32_t domid, const char *guest_config,
    struct xen_cfg_write *out, struct rrerr *err)
{
	size_t len, max;

	memset(out, 0, sizeof(*out));
	if (guest_config == NULL)
		return rrerr_set(err, RRERR_INTERNAL, NULL,
		    "no guest configuration");
	if (!xen_cfg_path(domid, XEN_CFG_KEY_GUEST, out->path,
		sizeof(out->path)))
		return rrerr_set(err, RRERR_INTERNAL, NULL,
		    "domain id %u makes too long a xenstore path",
		    (unsigned int)domid);
	/* One XS_WRITE message carries "path\0value". */
	len = strlen(guest_config);
	max = GUESTCONF_XENSTORE_PAYLOAD_MAX - (strlen(out->path) + 1);
	if (len > max)
		return rrerr_set(err, RRERR_INVALID, NULL,
		    "the guest configuration is %zu bytes; xenstore carries "
		    "at most %zu here",
		    len, max);
	out->value = guest_config;
	out->len = len;
	return 0;
}

bool
xen_cfg_name_is_ours(const char *name, const char *owner)
{
	char prefix[BACKEND_DOMAIN_NAME_MAX];

	if (name == NULL || owner == NULL || owner[0] == '\0')
		return false;
	backend_domain_prefix(owner, prefix, sizeof(prefix));
	return backend_domain_has_prefix(name, prefix) &&
	    name[strlen(prefix)] != '\0';
}

int
xen_cfg_parse_generation(const char *s, unsigned int *out)
{
	unsigned long long v = 0;
	size_t i;

	if (s == NULL || s[0] < '1' || s[0] > '9')
		return -1;
	for (i = 0; s[i] != '\0'; i++) {
		if (s[i] < '0' || s[i] > '9' || i >= 10)
			return -1;
		v = v * 10 + (unsigned long long)(s[i] - '0');
	}
	if (v > 0xffffffffULL)
		return -1;
	*out = (unsigned int)v;
	return 0;
}

const char *
xen_cfg_shutdown_reason(int reason)
{
	switch (reason) {
	case LIBXL_SHUTDOWN_REASON_POWEROFF:
		return "poweroff";
	case LIBXL_SHUTDOWN_REASON_REBOOT:
		return "reboot";
	case LIBXL_SHUTDOWN_REASON_SUSPEND:
		return "suspend";
	case LIBXL_SHUTDOWN_REASON_CRASH:
		return "crash";
	case LIBXL_SHUTDOWN_REASON_WATCHDOG:
		return "watchdog";
	case LIBXL_SHUTDOWN_REASON_SOFT_RESET:
		return "soft reset";
	default:
		return "unknown reason";
	}
}

#endif /* HAVE_XEN */
