/*
 * guestconf: writing the rumprun guest configuration (see guestconf.h).
 *
 * The text is written by hand into an sbuf, compact and in a fixed order:
 * cmdline, hostname, env..., blk..., net....  Values were validated by
 * spec.c already; the checks here are the guest's own limits, repeated so
 * that this writer never emits a config the guest would misread, whatever
 * its caller validated.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "guestconf.h"
#include "sbuf.h"

/* Characters that end an argument in the guest's splitter. */
#define SPLIT_DELIMS " \t\n"

static bool
has_control(const char *s)
{
	for (; *s != '\0'; s++) {
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return true;
	}
	return false;
}

/*
 * A plain value reaches the guest byte for byte, so it must need no JSON
 * escape at all.
 */
static int
check_plain(const char *value, const char *field, struct rrerr *err)
{
	if (has_control(value))
		return rrerr_set(err, RRERR_INVALID, field,
		    "%s: contains a control character, which a rumprun guest "
		    "cannot receive",
		    field);
	if (strpbrk(value, "\"\\") != NULL)
		return rrerr_set(err, RRERR_INVALID, field,
		    "%s: contains '\"' or '\\', which a rumprun guest cannot "
		    "receive",
		    field);
	return 0;
}

char *
guestconf_cmdline(char *const *argv, size_t argc, struct rrerr *err)
{
	struct sbuf sb = SBUF_INIT;
	char field[32];
	const char *p;
	size_t i;
	bool quote;
	char *s;

	for (i = 0; i < argc; i++) {
		snprintf(field, sizeof(field), "argv[%zu]", i);
		if (has_control(argv[i])) {
			rrerr_set(err, RRERR_INVALID, field,
			    "%s: contains a control character, which a rumprun "
			    "guest cannot receive",
			    field);
			goto fail;
		}
		if (strchr(argv[i], '\'') != NULL) {
			rrerr_set(err, RRERR_INVALID, field,
			    "%s: contains a single quote, which a rumprun guest "
			    "cannot receive",
			    field);
			goto fail;
		}
		if (i > 0)
			sbuf_addc(&sb, ' ');
		/* An empty argument, or one with blanks, is grouped by '...'. */
		quote = argv[i][0] == '\0' ||
		    strpbrk(argv[i], SPLIT_DELIMS) != NULL;
		if (quote)
			sbuf_addc(&sb, '\'');
		for (p = argv[i]; *p != '\0'; p++) {
			/* "\"" and "\\": JSON escapes and splitter escapes alike. */
			if (*p == '"' || *p == '\\')
				sbuf_addc(&sb, '\\');
			sbuf_addc(&sb, *p);
		}
		if (quote)
			sbuf_addc(&sb, '\'');
	}
	if ((s = sbuf_finish(&sb)) == NULL)
		rrerr_set(err, RRERR_INTERNAL, NULL, "out of memory");
	return s;

fail:
	sbuf_reset(&sb);
	return NULL;
}

/* Append ,"key":"value" (the leading comma only when not first). */
static void
add_pair(struct sbuf *sb, bool *first, const char *key, const char *value)
{
	if (!*first)
		sbuf_addc(sb, ',');
	*first = false;
	sbuf_addf(sb, "\"%s\":\"%s\"", key, value);
}

/*
 * One "blk" entry: source, path and, when the guest mounts it (mountpoint
 * not NULL), fstype blk and mountpoint.
 */
static void
add_blk_entry(struct sbuf *sb, const char *source, const char *path,
    const char *mountpoint)
{
	bool first = true;

	sbuf_add(sb, ",\"blk\":{");
	add_pair(sb, &first, "source", source);
	add_pair(sb, &first, "path", path);
	if (mountpoint != NULL) {
		add_pair(sb, &first, "fstype", "blk");
		add_pair(sb, &first, "mountpoint", mountpoint);
	}
	sbuf_addc(sb, '}');
}

/*
 * An ISO image's data image i: a file of the image, made a block device by
 * vnd (read-only, vnd0a, vnd1a ... in this order) even when not mounted.
 */
static int
add_vnd(struct sbuf *sb, const struct spec *spec, size_t i, struct rrerr *err)
{
	const struct spec_blk *b = &spec->blk[i];
	char field[48], path[sizeof(GUESTCONF_ISO_IMAGES) + SPEC_DATA_NAME_MAX];
	const char *name = spec_data_name(b);

	snprintf(field, sizeof(field), "blk[%zu].source", i);
	if (check_plain(name, field, err) == -1)
		return -1;
	if (strlen(name) > SPEC_DATA_NAME_MAX)
		return rrerr_set(err, RRERR_INVALID, field,
		    "%s: its file name is longer than %d bytes", field,
		    SPEC_DATA_NAME_MAX);
	snprintf(field, sizeof(field), "blk[%zu].mountpoint", i);
	if (b->mountpoint != NULL &&
	    (strcmp(b->mountpoint, "/rootfs") == 0 ||
		strncmp(b->mountpoint, "/rootfs/", 8) == 0))
		return rrerr_set(err, RRERR_INVALID, field,
		    "%s: /rootfs is where a guest booted from an ISO mounts the "
		    "ISO itself",
		    field);
	snprintf(path, sizeof(path), "%s/%s", GUESTCONF_ISO_IMAGES, name);
	add_blk_entry(sb, "vnd", path, b->mountpoint);
	return 0;
}

static int
add_blk(struct sbuf *sb, const struct spec *spec, struct rrerr *err)
{
	const struct spec_blk *b;
	char field[48], path[32];
	const char *source;
	size_t i;

	if (spec->nblk > 26)
		return rrerr_set(err, RRERR_INVALID, "blk",
		    "blk: at most 26 block devices (xvda to xvdz)");
	for (i = 0; i < spec->nblk; i++) {
		b = &spec->blk[i];
		snprintf(field, sizeof(field), "blk[%zu].mountpoint", i);
		if (b->mountpoint != NULL &&
		    check_plain(b->mountpoint, field, err) == -1)
			return -1;

		if (spec->platform == SPEC_PLATFORM_KVM) {
			/* Nothing to tell the guest about a disk it won't mount. */
			if (b->mountpoint == NULL)
				continue;
			snprintf(path, sizeof(path), "/dev/ld%zua", i);
			source = "dev";
		} else if (spec->platform == SPEC_PLATFORM_ISO) {
			if (add_vnd(sb, spec, i, err) == -1)
				return -1;
			continue;
		} else {
			if (b->mountpoint != NULL &&
			    strcmp(b->mountpoint, "/kern") == 0)
				return rrerr_set(err, RRERR_INVALID, field,
				    "%s: /kern is where a Xen guest mounts kernfs",
				    field);
			/* etfs registers the device even when not mounted. */
			snprintf(path, sizeof(path), "xvd%c", (char)('a' + i));
			source = "etfs";
		}
		add_blk_entry(sb, source, path, b->mountpoint);
	}

	/* The upstream tool always gives a Xen guest kernfs on /kern. */
	if (spec->platform == SPEC_PLATFORM_XEN)
		sbuf_add(sb,
		    ",\"blk\":{\"source\":\"dev\",\"path\":\"virtual\","
		    "\"fstype\":\"kernfs\",\"mountpoint\":\"/kern\"}");
	return 0;
}

/*
 * One "net" entry: if, cloner (Xen, first entry of an interface only),
 * type, method and, for static, addr, mask and gw.
 */
static void
add_net_entry(struct sbuf *sb, const char *ifname, bool cloner,
    const char *type, const char *method, const char *addr,
    unsigned int prefixlen, const char *gw)
{
	char mask[8];
	bool first = true;

	sbuf_add(sb, ",\"net\":{");
	add_pair(sb, &first, "if", ifname);
	if (cloner)
		add_pair(sb, &first, "cloner", "true");
	add_pair(sb, &first, "type", type);
	add_pair(sb, &first, "method", method);
	if (addr != NULL) {
		snprintf(mask, sizeof(mask), "%u", prefixlen);
		add_pair(sb, &first, "addr", addr);
		add_pair(sb, &first, "mask", mask);
		if (gw != NULL)
			add_pair(sb, &first, "gw", gw);
	}
	sbuf_addc(sb, '}');
}

/*
 * The interface name of NIC i of an ISO image: its driver and the number
 * of NICs of that driver before it (NetBSD numbers units per driver).
 */
static int
iso_ifname(const struct spec *spec, size_t i, char *buf, size_t size,
    struct rrerr *err)
{
	const char *driver = spec->nics[i].driver != NULL ?
	    spec->nics[i].driver :
	    SPEC_DRIVER_DEFAULT;
	char field[48];
	size_t j, unit = 0;

	snprintf(field, sizeof(field), "nics[%zu].driver", i);
	if (check_plain(driver, field, err) == -1)
		return -1;
	for (j = 0; j < i; j++) {
		const char *d = spec->nics[j].driver != NULL ?
		    spec->nics[j].driver :
		    SPEC_DRIVER_DEFAULT;

		if (strcmp(d, driver) == 0)
			unit++;
	}
	if ((size_t)snprintf(buf, size, "%s%zu", driver, unit) >= size)
		return rrerr_set(err, RRERR_INVALID, field,
		    "%s: too long for an interface name", field);
	return 0;
}

static int
add_net(struct sbuf *sb, const struct spec *spec, struct rrerr *err)
{
	const struct spec_nic *n;
	const char *base, *method;
	char ifname[32], field[48];
	bool cloner;
	size_t i;

	base = spec->platform == SPEC_PLATFORM_XEN ? "xenif" : "vioif";
	for (i = 0; i < spec->nnics; i++) {
		n = &spec->nics[i];
		if (spec->platform == SPEC_PLATFORM_ISO) {
			if (iso_ifname(spec, i, ifname, sizeof(ifname), err) ==
			    -1)
				return -1;
		} else
			snprintf(ifname, sizeof(ifname), "%s%zu", base, i);
		cloner = spec->platform == SPEC_PLATFORM_XEN;

		snprintf(field, sizeof(field), "nics[%zu].inet", i);
		if ((n->addr != NULL &&
			check_plain(n->addr, field, err) == -1) ||
		    (n->gw != NULL && check_plain(n->gw, field, err) == -1))
			return -1;
		snprintf(field, sizeof(field), "nics[%zu].inet6", i);
		if ((n->addr6 != NULL &&
			check_plain(n->addr6, field, err) == -1) ||
		    (n->gw6 != NULL && check_plain(n->gw6, field, err) == -1))
			return -1;

		if (n->inet != SPEC_INET_NONE) {
			method = n->inet == SPEC_INET_DHCP ? "dhcp" : "static";
			add_net_entry(sb, ifname, cloner, "inet", method,
			    n->inet == SPEC_INET_STATIC ? n->addr : NULL,
			    n->prefixlen, n->gw);
			cloner = false;
		}
		if (n->inet6 != SPEC_INET6_NONE) {
			method = n->inet6 == SPEC_INET6_AUTO ? "auto" :
							       "static";
			add_net_entry(sb, ifname, cloner, "inet6", method,
			    n->inet6 == SPEC_INET6_STATIC ? n->addr6 : NULL,
			    n->prefixlen6, n->gw6);
		}
	}
	return 0;
}

/*
 * The size limits.  A configuration that is too large names as the field
 * at fault the request field that makes the largest part of it (argv,
 * env, hostname, blk or nics: big is the one to shorten).
 */
static int
check_size(const struct spec *spec, const char *kernel_path, size_t len,
    const char *big, size_t bigsz, struct rrerr *err)
{
	size_t prefix, total, max;

	if (spec->platform == SPEC_PLATFORM_KVM) {
		prefix = kernel_path != NULL ? strlen(kernel_path) + 1 : 0;
		total = prefix + len;
		max = GUESTCONF_KVM_CMDLINE_MAX - 1;
		if (total > max)
			return rrerr_set(err, RRERR_INVALID, big,
			    "the guest configuration is %zu bytes and the kernel "
			    "path prefix %zu more; a KVM guest receives at most "
			    "%zu bytes in all; %s is the largest part (%zu "
			    "bytes)",
			    len, prefix, max, big, bigsz);
	} else if (spec->platform == SPEC_PLATFORM_ISO) {
		if (guestconf_iso_module(spec) &&
		    len > GUESTCONF_ISO_MODULE_MAX)
			return rrerr_set(err, RRERR_INVALID, big,
			    "the guest configuration is %zu bytes; an ISO image "
			    "without data images hands it over as a multiboot "
			    "module, of which a rumprun guest takes at most %d "
			    "bytes; %s is the largest part (%zu bytes)",
			    len, GUESTCONF_ISO_MODULE_MAX, big, bigsz);
		if (len > GUESTCONF_ISO_FILE_MAX)
			return rrerr_set(err, RRERR_INVALID, big,
			    "the guest configuration is %zu bytes; a rumprun "
			    "guest reads at most %d bytes from its root file "
			    "system; %s is the largest part (%zu bytes)",
			    len, GUESTCONF_ISO_FILE_MAX, big, bigsz);
	} else {
		max = GUESTCONF_XENSTORE_PAYLOAD_MAX -
		    GUESTCONF_XENSTORE_PATH_MAX;
		if (len > max)
			return rrerr_set(err, RRERR_INVALID, big,
			    "the guest configuration is %zu bytes; xenstore "
			    "carries at most %zu; %s is the largest part (%zu "
			    "bytes)",
			    len, max, big, bigsz);
	}
	return 0;
}

/* Make name the largest part if size is larger than *bigsz. */
static void
part(const char *name, size_t size, const char **big, size_t *bigsz)
{
	if (size > *bigsz) {
		*big = name;
		*bigsz = size;
	}
}

bool
guestconf_iso_module(const struct spec *spec)
{
	return spec->nblk == 0;
}

char *
guestconf_build(const struct spec *spec, const char *kernel_path,
    struct rrerr *err)
{
	struct sbuf sb = SBUF_INIT;
	char field[32];
	char *cmdline, *s;
	const char *big = "argv";
	size_t i, at, bigsz = 0;

	if (spec->platform == SPEC_PLATFORM_KVM && kernel_path != NULL &&
	    strchr(kernel_path, '{') != NULL) {
		/* The guest would take the config to start inside the path. */
		rrerr_set(err, RRERR_INVALID, "image",
		    "image: the path contains '{', which hides the "
		    "configuration from a KVM guest");
		return NULL;
	}
	if (spec->hostname != NULL &&
	    check_plain(spec->hostname, "hostname", err) == -1)
		return NULL;
	for (i = 0; i < spec->nenv; i++) {
		snprintf(field, sizeof(field), "env[%zu]", i);
		if (check_plain(spec->env[i], field, err) == -1)
			return NULL;
	}
	if ((cmdline = guestconf_cmdline(spec->argv, spec->argc, err)) == NULL)
		return NULL;

	sbuf_add(&sb, "{\"cmdline\":\"");
	at = sb.len;
	sbuf_add(&sb, cmdline);
	part("argv", sb.len - at, &big, &bigsz);
	sbuf_addc(&sb, '"');
	free(cmdline);
	at = sb.len;
	if (spec->hostname != NULL)
		sbuf_addf(&sb, ",\"hostname\":\"%s\"", spec->hostname);
	part("hostname", sb.len - at, &big, &bigsz);
	at = sb.len;
	for (i = 0; i < spec->nenv; i++)
		sbuf_addf(&sb, ",\"env\":\"%s\"", spec->env[i]);
	part("env", sb.len - at, &big, &bigsz);
	at = sb.len;
	if (add_blk(&sb, spec, err) == -1)
		goto fail;
	part("blk", sb.len - at, &big, &bigsz);
	at = sb.len;
	if (add_net(&sb, spec, err) == -1)
		goto fail;
	part("nics", sb.len - at, &big, &bigsz);
	sbuf_addc(&sb, '}');

	if (sb.failed) {
		rrerr_set(err, RRERR_INTERNAL, NULL, "out of memory");
		goto fail;
	}
	if (check_size(spec, kernel_path, sb.len, big, bigsz, err) == -1)
		goto fail;
	if ((s = sbuf_finish(&sb)) == NULL)
		rrerr_set(err, RRERR_INTERNAL, NULL, "out of memory");
	return s;

fail:
	sbuf_reset(&sb);
	return NULL;
}
