/*
 * runopts: `rrctl run` options to a launch request (see runopts.h).
 *
 * The options follow the upstream rumprun tool (app-tools/rumprun, getopts
 * 'b:dD:e:g:iI:M:n:N:pW:'), with its bugs left out: the n-th -I is the n-th
 * NIC (upstream counts each -I twice on KVM), a -W keeps nothing of an
 * earlier one (upstream's dhcp inherits the previous static address), and
 * arguments are passed one by one, never joined into a string.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runopts.h"

#define MEM_MAX_MIB	 (16L * 1024 * 1024)
#define VCPUS_MAX	 1024
#define BOOT_TIMEOUT_MAX 3600	 /* the daemon's bound on boot_timeout_s */
#define RESTART_S_MAX	 86400	 /* the daemon's bound on the backoff */
#define RESTART_N_MAX	 1000000 /* and on max_retries */

static int __attribute__((format(printf, 3, 4)))
fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -1;
}

void
run_opts_free(struct run_opts *o)
{
	json_decref(o->env);
	json_decref(o->labels);
	json_decref(o->blk);
	json_decref(o->nics);
	json_decref(o->iftags);
	memset(o, 0, sizeof(*o));
}

/* n fields of s split at commas into f[] (each a new string); -1 if more. */
static int
split(const char *s, char **f, int max)
{
	const char *p;
	int n = 0;

	for (;;) {
		if (n == max) {
			while (n-- > 0)
				free(f[n]);
			return -1;
		}
		p = strchr(s, ',');
		f[n] = p != NULL ? strndup(s, (size_t)(p - s)) : strdup(s);
		if (f[n] == NULL) {
			while (n-- > 0)
				free(f[n]);
			return -1;
		}
		n++;
		if (p == NULL)
			return n;
		s = p + 1;
	}
}

static void
free_fields(char **f, int n)
{
	while (n-- > 0)
		free(f[n]);
}

/* -M: MiB, or with a suffix M (MiB) or G (GiB). */
static int
parse_memory(const char *s, long *out)
{
	long mul = 1, n;
	char *end;

	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	n = strtol(s, &end, 10);
	if (errno != 0)
		return -1;
	if (strcmp(end, "G") == 0 || strcmp(end, "g") == 0 ||
	    strcmp(end, "GiB") == 0)
		mul = 1024;
	else if (strcmp(end, "M") != 0 && strcmp(end, "m") != 0 &&
	    strcmp(end, "MiB") != 0 && *end != '\0')
		return -1;
	if (n <= 0 || n > MEM_MAX_MIB / mul)
		return -1;
	*out = n * mul;
	return 0;
}

/* A name that may name a bridge, network or tap (IFNAMSIZ - 1 bytes). */
static bool
good_ifname(const char *s)
{
	size_t n = strlen(s);

	return n >= 1 && n <= 15 &&
	    strspn(s,
		"abcdefghijklmnopqrstuvwxyz"
		"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") == n;
}

/* The upstream QEMU form: "-net tap,ifname=NAME" or "-net bridge,br=NAME". */
static int
backend_qemu(const char *what, const char *opts, json_t *backend, char *err,
    size_t errlen)
{
	char *f[16];
	const char *kind;
	int n, i, rv = -1;

	if ((n = split(opts, f, 16)) == -1)
		return fail(err, errlen, "-I %s: too many backend options",
		    what);
	kind = f[0];
	if (strcmp(kind, "tap") != 0 && strcmp(kind, "bridge") != 0) {
		fail(err, errlen,
		    "-I %s: -net %s is not supported by rrctl "
		    "(use tap:NAME, bridge:NAME or network:NAME)",
		    what, kind);
		goto out;
	}
	json_object_set_new(backend, "type", json_string(kind));
	for (i = 1; i < n; i++) {
		char *eq = strchr(f[i], '=');

		if (eq == NULL)
			goto bad;
		*eq++ = '\0';
		if (strcmp(kind, "tap") == 0 && strcmp(f[i], "ifname") == 0)
			json_object_set_new(backend, "name", json_string(eq));
		else if (strcmp(kind, "bridge") == 0 && strcmp(f[i], "br") == 0)
			json_object_set_new(backend, "name", json_string(eq));
		else if (strcmp(kind, "tap") != 0 ||
		    (strcmp(f[i], "script") != 0 &&
			strcmp(f[i], "downscript") != 0) ||
		    strcmp(eq, "no") != 0)
			goto bad;
		/* script=no, downscript=no: libvirt runs no scripts. */
	}
	/* QEMU's bridge helper joins br0 when no br= is given. */
	if (strcmp(kind, "bridge") == 0 &&
	    json_object_get(backend, "name") == NULL)
		json_object_set_new(backend, "name", json_string("br0"));
	rv = 0;
	goto out;
bad:
	fail(err, errlen, "-I %s: -net %s option %s is not supported by rrctl",
	    what, kind, f[i]);
out:
	free_fields(f, n);
	return rv;
}

/* The xl(1) vif form: "[bridge=NAME][,mac=MAC]"; xl's bridge by default. */
static int
backend_xl(const char *what, const char *opts, json_t *backend, json_t *nic,
    char *err, size_t errlen)
{
	char *f[16];
	int n, i, rv = -1;

	if ((n = split(opts, f, 16)) == -1)
		return fail(err, errlen, "-I %s: too many backend options",
		    what);
	json_object_set_new(backend, "type", json_string("bridge"));
	json_object_set_new(backend, "name", json_string(RUN_XEN_BRIDGE));
	for (i = 0; i < n; i++) {
		char *eq = strchr(f[i], '=');

		if (eq == NULL)
			break;
		*eq++ = '\0';
		if (strcmp(f[i], "bridge") == 0)
			json_object_set_new(backend, "name", json_string(eq));
		else if (strcmp(f[i], "mac") == 0)
			json_object_set_new(nic, "mac", json_string(eq));
		else
			break;
	}
	if (i < n)
		fail(err, errlen,
		    "-I %s: backend option %s is not supported by rrctl", what,
		    f[i]);
	else
		rv = 0;
	free_fields(f, n);
	return rv;
}

/* backendopts of -I into nic's "backend" (and "mac"). */
static int
parse_backend(const char *what, const char *opts, json_t *nic, char *err,
    size_t errlen)
{
	const char *colon;
	json_t *backend;
	size_t klen;
	int rv = 0;

	if ((backend = json_object()) == NULL)
		return fail(err, errlen, "out of memory");
	json_object_set_new(nic, "backend", backend);
	colon = strchr(opts, ':');
	klen = colon != NULL ? (size_t)(colon - opts) : 0;
	if (*opts == '\0') {
		json_object_set_new(backend, "type", json_string("tap"));
	} else if (colon != NULL && strchr(opts, '=') == NULL &&
	    ((klen == 3 && strncmp(opts, "tap", 3) == 0) ||
		(klen == 6 && strncmp(opts, "bridge", 6) == 0) ||
		(klen == 7 && strncmp(opts, "network", 7) == 0))) {
		json_object_set_new(backend, "type", json_stringn(opts, klen));
		if (colon[1] != '\0')
			json_object_set_new(backend, "name",
			    json_string(colon + 1));
		else if (klen != 3)
			rv = fail(err, errlen, "-I %s: %.*s: needs a NAME",
			    what, (int)klen, opts);
	} else if (strncmp(opts, "-net ", 5) == 0) {
		opts += 5;
		while (*opts == ' ')
			opts++;
		rv = backend_qemu(what, opts, backend, err, errlen);
	} else if (strchr(opts, '=') != NULL && opts[0] != '-') {
		rv = backend_xl(what, opts, backend, nic, err, errlen);
	} else {
		rv = fail(err, errlen,
		    "-I %s: backendopts must be tap:NAME, "
		    "bridge:NAME, network:NAME, '-net tap,ifname=NAME', "
		    "bridge=NAME or empty",
		    what);
	}
	if (rv == 0 && json_object_get(backend, "name") != NULL &&
	    !good_ifname(json_string_value(json_object_get(backend, "name"))))
		rv = fail(err, errlen,
		    "-I %s: %s is not an interface, bridge or network name",
		    what, json_string_value(json_object_get(backend, "name")));
	return rv;
}

/* A NetBSD NIC driver: lower case letters and digits, ending in a letter. */
static bool
good_driver(const char *s)
{
	size_t n = strlen(s);

	return n >= 1 && n <= 12 && s[0] >= 'a' && s[0] <= 'z' &&
	    s[n - 1] >= 'a' && s[n - 1] <= 'z' &&
	    strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789") == n;
}

/* -I iftag,driver of rrctl iso: the machine's NIC, named by its driver. */
static int
iso_iface(const char *arg, const char *base, const char *opts, json_t *nic,
    char *err, size_t errlen)
{
	if (*opts != '\0')
		return fail(err, errlen,
		    "-I %s: the NIC of an ISO image is the "
		    "machine's own: give iftag,driver, without backend options",
		    arg);
	if (!good_driver(base))
		return fail(err, errlen,
		    "-I %s: %s is not a NetBSD NIC driver "
		    "name (wm, re, vioif ...)",
		    arg, base);
	json_object_set_new(nic, "driver", json_string(base));
	return 0;
}

/* -I iftag,ifbasename[,backendopts] */
static int
parse_iface(struct run_opts *o, const char *arg, char *err, size_t errlen)
{
	const char *c1, *c2, *opts;
	json_t *nic, *t;
	size_t i;
	char *tag = NULL, *base = NULL;
	int rv = -1;

	if ((c1 = strchr(arg, ',')) == NULL || c1 == arg)
		return fail(err, errlen,
		    "-I %s: give iftag,ifbasename[,backendopts]", arg);
	c2 = strchr(c1 + 1, ',');
	opts = c2 != NULL ? c2 + 1 : "";
	tag = strndup(arg, (size_t)(c1 - arg));
	base = c2 != NULL ? strndup(c1 + 1, (size_t)(c2 - c1 - 1)) :
			    strdup(c1 + 1);
	if (tag == NULL || base == NULL) {
		fail(err, errlen, "out of memory");
		goto out;
	}
	if (*base == '\0' || strcmp(tag, base) == 0) {
		fail(err, errlen,
		    "-I %s: give iftag,ifbasename[,backendopts]"
		    " with an iftag other than the ifbasename",
		    arg);
		goto out;
	}
	json_array_foreach(o->iftags, i, t) {
		if (strcmp(json_string_value(json_object_get(t, "tag")), tag) ==
		    0) {
			fail(err, errlen,
			    "-I %s: there is already an interface tagged %s",
			    arg, tag);
			goto out;
		}
	}
	if ((nic = json_object()) == NULL ||
	    json_array_append_new(o->nics, nic) == -1) {
		fail(err, errlen, "out of memory");
		goto out;
	}
	if (json_array_append_new(o->iftags,
		json_pack("{s:s,s:s,s:s,s:b}", "tag", tag, "basename", base,
		    "spec", arg, "default", *opts == '\0')) == -1) {
		fail(err, errlen, "out of memory");
		goto out;
	}
	if (o->iso)
		rv = iso_iface(arg, base, opts, nic, err, errlen);
	else
		rv = parse_backend(arg, opts, nic, err, errlen);
out:
	free(tag);
	free(base);
	return rv;
}

/* ADDR/MASK[,GW] into inet's "addr" and "gw". */
static int
parse_static(const char *arg, char **f, int n, json_t *inet, char *err,
    size_t errlen)
{
	const char *slash;

	if (n < 4 || n > 5)
		return fail(err, errlen,
		    "-W %s: static needs ADDR/MASK and at most a gateway", arg);
	slash = strchr(f[3], '/');
	if (slash == NULL || slash == f[3] || slash[1] == '\0')
		return fail(err, errlen,
		    "-W %s: give the address as ADDR/MASK, e.g. 10.0.0.2/24",
		    arg);
	json_object_set_new(inet, "addr", json_string(f[3]));
	if (n == 5) {
		if (*f[4] == '\0')
			return fail(err, errlen, "-W %s: empty gateway", arg);
		json_object_set_new(inet, "gw", json_string(f[4]));
	}
	return 0;
}

/* -W iftag,inet,dhcp | iftag,inet[6],static,ADDR/MASK[,GW] | iftag,inet6,auto */
static int
parse_netspec(struct run_opts *o, const char *arg, char *err, size_t errlen)
{
	const char *family;
	json_t *t, *nic = NULL, *inet = NULL;
	char *f[8];
	size_t i;
	int n, rv = -1;

	if ((n = split(arg, f, 8)) == -1)
		return fail(err, errlen, "-W %s: too many fields", arg);
	if (n < 3) {
		fail(err, errlen,
		    "-W %s: give iftag,inet,dhcp | "
		    "iftag,inet,static,ADDR/MASK[,GW] | iftag,inet6,auto",
		    arg);
		goto out;
	}
	json_array_foreach(o->iftags, i, t) {
		if (strcmp(json_string_value(json_object_get(t, "tag")),
			f[0]) == 0)
			nic = json_array_get(o->nics, i);
	}
	if (nic == NULL) {
		fail(err, errlen,
		    "-W %s: no interface tagged %s: create it "
		    "with -I %s,... before",
		    arg, f[0], f[0]);
		goto out;
	}
	family = f[1];
	if (strcmp(family, "inet") != 0 && strcmp(family, "inet6") != 0) {
		fail(err, errlen, "-W %s: the family must be inet or inet6",
		    arg);
		goto out;
	}
	if (json_object_get(nic, family) != NULL) {
		fail(err, errlen,
		    "-W %s: interface %s already has an %s configuration", arg,
		    f[0], family);
		goto out;
	}
	if ((inet = json_object()) == NULL) {
		fail(err, errlen, "out of memory");
		goto out;
	}
	if (strcmp(f[2], "static") == 0) {
		json_object_set_new(inet, "method", json_string("static"));
		if (parse_static(arg, f, n, inet, err, errlen) == -1)
			goto out;
	} else if (strcmp(f[2], family[4] == '6' ? "auto" : "dhcp") == 0) {
		if (n != 3) {
			fail(err, errlen, "-W %s: %s takes no address", arg,
			    f[2]);
			goto out;
		}
		json_object_set_new(inet, "method", json_string(f[2]));
	} else {
		fail(err, errlen,
		    "-W %s: the method of %s must be %s or static", arg, family,
		    family[4] == '6' ? "auto" : "dhcp");
		goto out;
	}
	json_object_set_new(nic, family, inet);
	inet = NULL;
	rv = 0;
out:
	json_decref(inet);
	free_fields(f, n);
	return rv;
}

/* -b hostpath[,mountpoint]: upstream splits at the last comma. */
static int
parse_blk(struct run_opts *o, const char *arg, char *err, size_t errlen)
{
	const char *comma = strrchr(arg, ',');
	json_t *b;

	if ((b = json_object()) == NULL ||
	    json_array_append_new(o->blk, b) == -1)
		return fail(err, errlen, "out of memory");
	json_object_set_new(b, "source",
	    comma != NULL ? json_stringn(arg, (size_t)(comma - arg)) :
			    json_string(arg));
	if (json_string_length(json_object_get(b, "source")) == 0)
		return fail(err, errlen, "-b %s: give hostpath[,mountpoint]",
		    arg);
	if (comma != NULL && comma[1] != '\0')
		json_object_set_new(b, "mountpoint", json_string(comma + 1));
	return 0;
}

static bool
name_ok(const char *s)
{
	size_t n = strlen(s);

	return n >= 1 && n <= RUN_NAME_MAX &&
	    strchr("abcdefghijklmnopqrstuvwxyz0123456789", s[0]) != NULL &&
	    strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789_.-") == n;
}

static bool
hostname_ok(const char *s)
{
	size_t n = strlen(s);

	return n >= 1 && n <= 63 && s[0] != '-' && s[n - 1] != '-' &&
	    strspn(s,
		"abcdefghijklmnopqrstuvwxyz"
		"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-") == n;
}

static int
set_platform(struct run_opts *o, const char *platform, char *err, size_t errlen)
{
	if (o->platform_from != NULL && strcmp(o->platform, platform) != 0)
		return fail(err, errlen,
		    "--platform %s: conflicts with %s given before", platform,
		    o->platform_from);
	o->platform = platform;
	o->platform_from = platform;
	return 0;
}

enum {
	OPT_PLATFORM = 256,
	OPT_LABEL,
	OPT_VCPUS,
	OPT_ACCEL,
	OPT_DRY_RUN,
	OPT_BOOT_TIMEOUT,
	OPT_RM,
	OPT_RESTART,
	OPT_RESTART_BACKOFF,
	OPT_RESTART_RESET,
};

/* The options that have no meaning in an ISO image, and why. */
static const struct {
	int ch;
	const char *name;
	const char *why;
} not_iso[] = {
	{ 'd', "-d", "there is no instance to remove" },
	{ OPT_RM, "--rm", "there is no instance to remove" },
	{ 'i', "-i", "nothing runs to attach to" },
	{ 'p', "-p", "nothing runs to pause" },
	{ 'M', "-M", "the guest has the machine's memory" },
	{ OPT_VCPUS, "--vcpus", "the guest has the machine's processors" },
	{ OPT_ACCEL, "--accel", "the machine is the accelerator" },
	{ OPT_BOOT_TIMEOUT, "--boot-timeout", "nothing runs to watch" },
	{ OPT_RESTART, "--restart", "nothing runs to restart" },
	{ OPT_RESTART_BACKOFF, "--restart-backoff", "nothing runs to restart" },
	{ OPT_RESTART_RESET, "--restart-reset", "nothing runs to restart" },
	{ OPT_PLATFORM, "--platform", "the platform is iso" },
	{ 0, NULL, NULL },
};

/* A whole decimal number from 0 to max into *out; -1 if s is not. */
static int
parse_count(const char *s, long max, long *out)
{
	char *end;
	long n;

	errno = 0;
	n = strtol(s, &end, 10);
	if (*s < '0' || *s > '9' || *end != '\0' || errno != 0 || n > max)
		return -1;
	*out = n;
	return 0;
}

/* --restart no|on-failure[:N]|always|unless-stopped, as docker's. */
static int
parse_restart(struct run_opts *o, char *arg, char *err, size_t errlen)
{
	static const char *const policies[] = { "no", "on-failure", "always",
		"unless-stopped", NULL };
	char *colon = strchr(arg, ':');
	size_t i, n = colon != NULL ? (size_t)(colon - arg) : strlen(arg);

	for (i = 0; policies[i] != NULL; i++)
		if (strlen(policies[i]) == n &&
		    strncmp(arg, policies[i], n) == 0)
			break;
	if (policies[i] == NULL)
		return fail(err, errlen,
		    "--restart %s: must be no, "
		    "on-failure[:N], always or unless-stopped",
		    arg);
	o->restart = policies[i];
	o->restart_max = -1;
	if (colon == NULL)
		return 0;
	if (i != 1)
		return fail(err, errlen,
		    "--restart %s: only on-failure takes a number of retries",
		    arg);
	if (parse_count(colon + 1, RESTART_N_MAX, &o->restart_max) == -1)
		return fail(err, errlen,
		    "--restart %s: N must be a number of "
		    "retries from 0 (no limit) to %d",
		    arg, RESTART_N_MAX);
	return 0;
}

/* --restart-backoff INITIAL[:MAX], seconds. */
static int
parse_backoff(struct run_opts *o, char *arg, char *err, size_t errlen)
{
	char *colon = strchr(arg, ':');

	if (colon != NULL)
		*colon = '\0';
	if (parse_count(arg, RESTART_S_MAX, &o->backoff_initial) == -1 ||
	    (colon != NULL &&
		parse_count(colon + 1, RESTART_S_MAX, &o->backoff_max) == -1)) {
		if (colon != NULL)
			*colon = ':';
		return fail(err, errlen,
		    "--restart-backoff %s: must be "
		    "INITIAL[:MAX], seconds from 0 to %d",
		    arg, RESTART_S_MAX);
	}
	if (colon != NULL)
		*colon = ':';
	if (o->backoff_max >= 0 && o->backoff_max < o->backoff_initial)
		return fail(err, errlen,
		    "--restart-backoff %s: MAX must not be less than INITIAL",
		    arg);
	return 0;
}

/* One option of getopt_long(); 0 or -1. */
static int
option(struct run_opts *o, int ch, char *arg, char *err, size_t errlen)
{
	const char *eq;
	char *end;
	long n;
	size_t i;

	for (i = 0; o->iso && not_iso[i].name != NULL; i++)
		if (not_iso[i].ch == ch)
			return fail(err, errlen, "%s: not for an ISO image: %s",
			    not_iso[i].name, not_iso[i].why);
	switch (ch) {
	case 'o':
		if (!o->iso)
			return fail(err, errlen, "unknown option -o");
		if (*arg == '\0')
			return fail(err, errlen, "-o: give a file name");
		o->output = arg;
		return 0;
	case 'b':
		return parse_blk(o, arg, err, errlen);
	case 'd':
	case OPT_RM:
		/* Upstream's -d; docker's --rm. */
		o->auto_remove = true;
		return 0;
	case 'D':
		return fail(err, errlen,
		    "-D (a gdb server for the guest) is "
		    "not supported by rrctl");
	case 'e':
		if ((eq = strchr(arg, '=')) == NULL || eq == arg)
			return fail(err, errlen, "-e %s: must be NAME=VALUE",
			    arg);
		return json_array_append_new(o->env, json_string(arg)) == -1 ?
		    fail(err, errlen, "-e %s: not UTF-8", arg) :
		    0;
	case 'g':
		return fail(err, errlen,
		    "-g (arguments for the hypervisor) "
		    "is not supported by rrctl");
	case 'i':
		o->attach = true;
		return 0;
	case 'I':
		return parse_iface(o, arg, err, errlen);
	case 'M':
		if (parse_memory(arg, &o->memory_mib) == -1)
			return fail(err, errlen,
			    "-M %s: not a memory size in MiB", arg);
		return 0;
	case 'n':
		return fail(err, errlen,
		    "-n (the old network option) is not "
		    "supported by rrctl: use -I and -W");
	case 'N':
		if (!name_ok(arg))
			return fail(err, errlen,
			    "-N %s: the name must match "
			    "[a-z0-9][a-z0-9_.-]{0,62}",
			    arg);
		if (!hostname_ok(arg))
			return fail(err, errlen,
			    "-N %s: the name is also the "
			    "guest's hostname, which must be letters, digits "
			    "and inner '-'",
			    arg);
		o->name = arg;
		return 0;
	case 'p':
		o->paused = true;
		return 0;
	case 'W':
		return parse_netspec(o, arg, err, errlen);
	case OPT_PLATFORM:
		if (strcmp(arg, "kvm") != 0 && strcmp(arg, "xen") != 0)
			return fail(err, errlen,
			    "--platform %s: must be kvm or xen", arg);
		return set_platform(o, strcmp(arg, "kvm") == 0 ? "kvm" : "xen",
		    err, errlen);
	case OPT_LABEL:
		if ((eq = strchr(arg, '=')) == NULL || eq == arg)
			return fail(err, errlen,
			    "--label %s: must be KEY=VALUE", arg);
		if (json_object_setn_new(o->labels, arg, (size_t)(eq - arg),
			json_string(eq + 1)) == -1)
			return fail(err, errlen, "--label %s: not UTF-8", arg);
		return 0;
	case OPT_VCPUS:
		errno = 0;
		n = strtol(arg, &end, 10);
		if (*arg < '0' || *arg > '9' || *end != '\0' || errno != 0 ||
		    n < 1 || n > VCPUS_MAX)
			return fail(err, errlen,
			    "--vcpus %s: not a number of CPUs", arg);
		o->vcpus = n;
		return 0;
	case OPT_ACCEL:
		if (strcmp(arg, "kvm") != 0 && strcmp(arg, "tcg") != 0)
			return fail(err, errlen,
			    "--accel %s: must be kvm or tcg", arg);
		o->accel = strcmp(arg, "kvm") == 0 ? "kvm" : "tcg";
		return 0;
	case OPT_DRY_RUN:
		o->dry_run = true;
		return 0;
	case OPT_BOOT_TIMEOUT:
		errno = 0;
		n = strtol(arg, &end, 10);
		if (*arg < '0' || *arg > '9' || *end != '\0' || errno != 0 ||
		    n > BOOT_TIMEOUT_MAX)
			return fail(err, errlen,
			    "--boot-timeout %s: not a "
			    "number of seconds from 0 (no limit) to %d",
			    arg, BOOT_TIMEOUT_MAX);
		o->boot_timeout = n;
		return 0;
	case OPT_RESTART:
		return parse_restart(o, arg, err, errlen);
	case OPT_RESTART_BACKOFF:
		return parse_backoff(o, arg, err, errlen);
	case OPT_RESTART_RESET:
		if (parse_count(arg, RESTART_S_MAX, &o->restart_reset) == -1)
			return fail(err, errlen,
			    "--restart-reset %s: not a "
			    "number of seconds from 0 to %d",
			    arg, RESTART_S_MAX);
		return 0;
	default:
		return fail(err, errlen, "unknown option");
	}
}

/* After the options: what depends on all of them. */
static int
check(struct run_opts *o, char *err, size_t errlen)
{
	bool xen = strcmp(o->platform, "xen") == 0;
	const char *want = xen ? "xenif" : "vioif";
	json_t *t, *backend;
	size_t i;

	if (o->iso)
		return 0; /* -I named drivers, checked already */
	if ((o->restart == NULL || strcmp(o->restart, "no") == 0) &&
	    (o->backoff_initial >= 0 || o->restart_reset >= 0))
		return fail(err, errlen,
		    "--restart-backoff and --restart-reset "
		    "need --restart on-failure, always or unless-stopped");
	if (o->restart != NULL && strcmp(o->restart, "no") != 0 &&
	    o->auto_remove)
		return fail(err, errlen,
		    "--restart %s: not with -d or --rm: an "
		    "instance removed when it ends cannot be restarted",
		    o->restart);
	if (o->restart != NULL && strcmp(o->restart, "no") != 0 && o->paused)
		return fail(err, errlen,
		    "--restart %s: not with -p: each "
		    "restart would wait paused for a start",
		    o->restart);
	json_array_foreach(o->iftags, i, t) {
		const char *base = json_string_value(
		    json_object_get(t, "basename"));
		const char *spec = json_string_value(
		    json_object_get(t, "spec"));

		if (strcmp(base, want) != 0)
			return fail(err, errlen,
			    "-I %s: the interface base "
			    "name on %s is %s, not %s",
			    spec, o->platform, want, base);
		if (!xen)
			continue;
		/* A Xen vif joins a bridge: xl's default one when unsaid. */
		backend = json_object_get(json_array_get(o->nics, i),
		    "backend");
		if (json_is_true(json_object_get(t, "default"))) {
			json_object_set_new(backend, "type",
			    json_string("bridge"));
			json_object_set_new(backend, "name",
			    json_string(RUN_XEN_BRIDGE));
		} else if (strcmp(json_string_value(
				      json_object_get(backend, "type")),
			       "bridge") != 0)
			return fail(err, errlen,
			    "-I %s: a NIC on xen joins a "
			    "bridge: give bridge=NAME or bridge:NAME",
			    spec);
	}
	if (o->accel != NULL && strcmp(o->platform, "xen") == 0)
		return fail(err, errlen,
		    "--accel %s: an accelerator is for kvm, not xen", o->accel);
	return 0;
}

static int parse(int argc, char *argv[], struct run_opts *o, bool iso,
    char *err, size_t errlen);

int
run_parse(int argc, char *argv[], struct run_opts *o, char *err, size_t errlen)
{
	return parse(argc, argv, o, false, err, errlen);
}

int
run_parse_iso(int argc, char *argv[], struct run_opts *o, char *err,
    size_t errlen)
{
	return parse(argc, argv, o, true, err, errlen);
}

static int
parse(int argc, char *argv[], struct run_opts *o, bool iso, char *err,
    size_t errlen)
{
	static const struct option longopts[] = {
		{ "platform", required_argument, NULL, OPT_PLATFORM },
		{ "label", required_argument, NULL, OPT_LABEL },
		{ "vcpus", required_argument, NULL, OPT_VCPUS },
		{ "accel", required_argument, NULL, OPT_ACCEL },
		{ "dry-run", no_argument, NULL, OPT_DRY_RUN },
		{ "boot-timeout", required_argument, NULL, OPT_BOOT_TIMEOUT },
		{ "rm", no_argument, NULL, OPT_RM },
		{ "restart", required_argument, NULL, OPT_RESTART },
		{ "restart-backoff", required_argument, NULL,
		    OPT_RESTART_BACKOFF },
		{ "restart-reset", required_argument, NULL, OPT_RESTART_RESET },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *word;
	int ch;

	memset(o, 0, sizeof(*o));
	o->iso = iso;
	o->platform = iso ? "iso" : "kvm";
	o->boot_timeout = -1;
	o->restart_max = o->backoff_initial = o->backoff_max = -1;
	o->restart_reset = -1;
	o->env = json_array();
	o->labels = json_object();
	o->blk = json_array();
	o->nics = json_array();
	o->iftags = json_array();
	if (o->env == NULL || o->labels == NULL || o->blk == NULL ||
	    o->nics == NULL || o->iftags == NULL)
		return fail(err, errlen, "out of memory");

	/* The upstream tool's first word: the platform. */
	if (argc > 1 && !iso) {
		word = argv[1];
		if (strcmp(word, "kvm") == 0 || strcmp(word, "xen") == 0 ||
		    strcmp(word, "qemu") == 0) {
			o->platform = strcmp(word, "xen") == 0 ? "xen" : "kvm";
			o->platform_from = word;
			if (strcmp(word, "qemu") == 0)
				o->accel = "tcg";
			argc--;
			argv++;
		} else if (strcmp(word, "iso") == 0)
			return fail(err, errlen,
			    "platform iso: rrctl iso makes "
			    "the image; rrctl run runs guests");
		else if (strcmp(word, "ec2") == 0)
			return fail(err, errlen,
			    "platform %s is not supported "
			    "by rrctl (it runs guests; it does not make "
			    "images)",
			    word);
	}

	optind = 0;
	opterr = 0;
	while ((ch = getopt_long(argc, argv,
		    iso ? "+:b:dD:e:g:hiI:M:n:N:o:pW:" :
			  "+:b:dD:e:g:hiI:M:n:N:pW:",
		    longopts, NULL)) != -1) {
		if (ch == 'h')
			return 1;
		if (ch == ':' && optopt > 0 && optopt < 256)
			return fail(err, errlen, "option -%c needs an argument",
			    optopt);
		if (ch == ':')
			return fail(err, errlen, "option %s needs an argument",
			    argv[optind - 1]);
		if (ch == '?' && optopt > 0 && optopt < 256)
			return fail(err, errlen, "unknown option -%c", optopt);
		if (ch == '?')
			return fail(err, errlen, "unknown option %s",
			    argv[optind - 1]);
		if (option(o, ch, optarg, err, errlen) == -1)
			return -1;
	}
	if (optind >= argc)
		return fail(err, errlen, "missing IMAGE");
	o->image = argv[optind++];
	if (*o->image == '\0')
		return fail(err, errlen, "IMAGE is empty");
	/* "IMAGE -- ARGS": the first -- after IMAGE only separates. */
	if (optind < argc && strcmp(argv[optind], "--") == 0)
		optind++;
	o->args = argv + optind;
	o->nargs = (size_t)(argc - optind);
	return check(o, err, errlen);
}

void
run_default_name(const char *image, char *buf, size_t len)
{
	const char *base, *p;
	size_t n, end;

	base = strrchr(image, '/');
	base = base != NULL ? base + 1 : image;
	/* "dir/app/": the last component that has a name. */
	if (*base == '\0') {
		p = image + strlen(image);
		while (p > image && p[-1] == '/')
			p--;
		end = (size_t)(p - image);
		base = p;
		while (base > image && base[-1] != '/')
			base--;
		n = end - (size_t)(base - image);
	} else
		n = strlen(base);
	snprintf(buf, len, "rumprun-");
	end = strlen(buf);
	for (p = base; n > 0 && end + 1 < len && end < RUN_NAME_MAX; p++, n--) {
		char ch = *p;

		if (ch >= 'A' && ch <= 'Z')
			ch = (char)(ch - 'A' + 'a');
		if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
			ch == '_' || ch == '.' || ch == '-'))
			ch = '-';
		buf[end++] = ch;
	}
	buf[end] = '\0';
}

char *
run_realpath(const char *path, void *arg)
{
	char *abs;

	(void)arg;
	/* The daemon's store: "store:NAME" images, "volume:NAME" disks. */
	if (strncmp(path, "store:", 6) == 0 || strncmp(path, "volume:", 7) == 0)
		return strdup(path);
	if ((abs = realpath(path, NULL)) != NULL)
		return abs;
	if (path[0] == '/')
		return strdup(path);
	return NULL;
}

json_t *
run_request(const struct run_opts *o, run_resolve_fn *resolve, void *arg,
    char *err, size_t errlen)
{
	char name[RUN_NAME_MAX + 1];
	json_t *req, *argv, *blk, *b, *rs;
	const char *src;
	char *path;
	size_t i;

	if (o->name == NULL)
		run_default_name(o->image, name, sizeof(name));
	else
		snprintf(name, sizeof(name), "%s", o->name);
	if ((req = json_object()) == NULL) {
		fail(err, errlen, "out of memory");
		return NULL;
	}
	json_object_set_new(req, "name", json_string(name));
	json_object_set_new(req, "platform", json_string(o->platform));
	if ((path = resolve(o->image, arg)) == NULL) {
		fail(err, errlen, "%s: %s", o->image, strerror(errno));
		goto fail;
	}
	json_object_set_new(req, "image", json_string(path));
	free(path);

	/* argv[0] is the image as typed, as upstream's cmdline has it. */
	if ((argv = json_array()) == NULL ||
	    json_object_set_new(req, "argv", argv) == -1) {
		fail(err, errlen, "out of memory");
		goto fail;
	}
	json_array_append_new(argv, json_string(o->image));
	for (i = 0; i < o->nargs; i++)
		if (json_array_append_new(argv, json_string(o->args[i])) ==
		    -1) {
			fail(err, errlen, "argument %zu is not UTF-8", i + 1);
			goto fail;
		}
	if (o->memory_mib != 0)
		json_object_set_new(req, "memory_mib",
		    json_integer(o->memory_mib));
	if (o->vcpus != 0)
		json_object_set_new(req, "vcpus", json_integer(o->vcpus));
	if (json_array_size(o->env) > 0)
		json_object_set(req, "env", o->env);
	if (o->name != NULL)
		json_object_set_new(req, "hostname", json_string(o->name));
	if (json_object_size(o->labels) > 0)
		json_object_set(req, "labels", o->labels);
	if (json_array_size(o->blk) > 0) {
		if ((blk = json_deep_copy(o->blk)) == NULL) {
			fail(err, errlen, "out of memory");
			goto fail;
		}
		json_object_set_new(req, "blk", blk);
		json_array_foreach(blk, i, b) {
			src = json_string_value(json_object_get(b, "source"));
			if ((path = resolve(src, arg)) == NULL) {
				fail(err, errlen, "-b %s: %s", src,
				    strerror(errno));
				goto fail;
			}
			json_object_set_new(b, "source", json_string(path));
			free(path);
		}
	}
	if (json_array_size(o->nics) > 0)
		json_object_set(req, "nics", o->nics);
	if (o->accel != NULL)
		json_object_set_new(req, "accel", json_string(o->accel));
	if (o->auto_remove)
		json_object_set_new(req, "auto_remove", json_true());
	if (o->paused)
		json_object_set_new(req, "paused", json_true());
	if (o->boot_timeout >= 0)
		json_object_set_new(req, "boot_timeout_s",
		    json_integer(o->boot_timeout));
	if (o->restart != NULL) {
		rs = json_pack("{s:s}", "policy", o->restart);
		if (o->restart_max >= 0)
			json_object_set_new(rs, "max_retries",
			    json_integer(o->restart_max));
		if (o->backoff_initial >= 0)
			json_object_set_new(rs, "backoff_initial_s",
			    json_integer(o->backoff_initial));
		if (o->backoff_max >= 0)
			json_object_set_new(rs, "backoff_max_s",
			    json_integer(o->backoff_max));
		else if (o->backoff_initial > 300)
			/* The daemon's default maximum would be lower. */
			json_object_set_new(rs, "backoff_max_s",
			    json_integer(o->backoff_initial));
		if (o->restart_reset >= 0)
			json_object_set_new(rs, "reset_after_s",
			    json_integer(o->restart_reset));
		json_object_set_new(req, "restart", rs);
	}
	return req;
fail:
	json_decref(req);
	return NULL;
}
