/*
 * fuzz_guestconf: libFuzzer target for the rumprun guest configuration
 * writer (daemon/guestconf.c), checked against the guest's own parser.
 *
 * Each input is a launch request (as fuzz_spec's; the seed corpus is the
 * golden requests).  When spec_parse() accepts it, guestconf_build()
 * writes its configuration, for its platform and, when the request can
 * run there too, for the other one.  The text must then be one a rumprun
 * guest takes as meant, which is checked with the test guest's parser
 * (tests/guest/config.c, rumprun's config.c and parseargs.c redone,
 * compiled here for the host; its panic() and errx1() come back here):
 * - the guest parses it without a PANIC (valid JSON as jsmn reads it, only
 *   known keys, every value a string, exactly one cmdline);
 * - argv round-trips through the guest's splitter, byte for byte;
 * - env (in order) and hostname arrive byte for byte (the guest never
 *   unescapes);
 * - on KVM: one blk entry per disk with a mount point, in order, path
 *   /dev/ldNa with N the disk's index and the mount point as given; on Xen
 *   one etfs entry per disk (xvda...) plus kernfs on /kern;
 * - one net entry per address family configured, "if" vioifN (xenifN)
 *   with N the NIC's index, static addresses and masks as given;
 * - the size limits: on KVM "<kernel path> " plus the text below 4096
 *   bytes; on Xen what one xenstore write carries.
 * A refusal must be RRERR_INVALID with a message.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "../tests/guest/guest.h"
#include "fuzzenv.h"
#include "rrerr.h"
#include "guestconf.h"
#include "spec.h"

#define ARGV_MAX (CMDLINE_MAX / 2 + 2)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static jmp_buf guest_panic;
static char panic_msg[512];

/* The guest's panic(): back to the check with the message. */
void
panic(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(panic_msg, sizeof(panic_msg), fmt, ap);
	va_end(ap);
	longjmp(guest_panic, 1);
}

/*
 * The guest's errx1(), rumprun's errx(1, ...) while it configures itself:
 * the guest refuses its configuration, as fatal to the check as a panic.
 */
void
errx1(const char *fmt, ...)
{
	va_list ap;
	int n;

	n = snprintf(panic_msg, sizeof(panic_msg), "rumprun: ");
	va_start(ap, fmt);
	vsnprintf(panic_msg + n, sizeof(panic_msg) - (size_t)n, fmt, ap);
	va_end(ap);
	longjmp(guest_panic, 1);
}

/*
 * The guest's DHCP (tests/guest/vnet.c), which config.c calls for a net
 * entry with method dhcp: whether it gets an answer depends on the
 * network, not on the configuration, so here it always succeeds.
 */
void
vnet_dhcp(const char *name, int len)
{
	(void)name;
	(void)len;
}

static bool
str_is(const struct cfgstr *s, const char *want)
{
	return want != NULL && (size_t)s->len == strlen(want) &&
	    memcmp(s->s, want, (size_t)s->len) == 0;
}

/* The value of member key of the checked blk/net object obj, or NULL. */
static bool
member(int obj, const char *key, struct cfgstr *val)
{
	struct cfgstr k;
	int i;

	for (i = 0; config_member(obj, i, &k, val) == 0; i++)
		if (str_is(&k, key))
			return true;
	return false;
}

static void
check_blk(const struct spec *spec, const char *cfg)
{
	struct cfgstr v;
	char want[32];
	size_t i = 0;
	int t;

	t = config_next("blk", 0);
	for (i = 0; i < spec->nblk; i++) {
		const struct spec_blk *b = &spec->blk[i];

		if (spec->platform == SPEC_PLATFORM_KVM &&
		    b->mountpoint == NULL)
			continue;
		FZ_CHECK(t != -1, "blk of disk %zu missing in %s", i, cfg);
		if (spec->platform == SPEC_PLATFORM_KVM) {
			snprintf(want, sizeof(want), "/dev/ld%zua", i);
			FZ_CHECK(member(t, "source", &v) && str_is(&v, "dev"),
			    "blk source in %s", cfg);
		} else {
			snprintf(want, sizeof(want), "xvd%c", (char)('a' + i));
			FZ_CHECK(member(t, "source", &v) && str_is(&v, "etfs"),
			    "blk source in %s", cfg);
		}
		FZ_CHECK(member(t, "path", &v) && str_is(&v, want),
		    "blk path of disk %zu (want %s) in %s", i, want, cfg);
		if (b->mountpoint != NULL)
			FZ_CHECK(member(t, "mountpoint", &v) &&
				str_is(&v, b->mountpoint),
			    "mount point of disk %zu in %s", i, cfg);
		else
			FZ_CHECK(!member(t, "mountpoint", &v),
			    "a mount point for disk %zu in %s", i, cfg);
		t = config_next("blk", t);
	}
	if (spec->platform == SPEC_PLATFORM_XEN) {
		FZ_CHECK(t != -1 && member(t, "fstype", &v) &&
			str_is(&v, "kernfs"),
		    "no kernfs in %s", cfg);
		t = config_next("blk", t);
	}
	FZ_CHECK(t == -1, "more blk entries than disks in %s", cfg);
}

static void
check_net(const struct spec *spec, const char *cfg)
{
	const char *base = spec->platform == SPEC_PLATFORM_XEN ? "xenif" :
								 "vioif";
	char ifname[32], mask[16];
	struct cfgstr v;
	size_t i;
	int t, fam;

	t = config_next("net", 0);
	for (i = 0; i < spec->nnics; i++) {
		const struct spec_nic *n = &spec->nics[i];

		snprintf(ifname, sizeof(ifname), "%s%zu", base, i);
		for (fam = 0; fam < 2; fam++) {
			const char *addr = fam == 0 ? n->addr : n->addr6;
			unsigned int plen = fam == 0 ? n->prefixlen :
						       n->prefixlen6;

			if ((fam == 0 && n->inet == SPEC_INET_NONE) ||
			    (fam == 1 && n->inet6 == SPEC_INET6_NONE))
				continue;
			FZ_CHECK(t != -1, "net entry of NIC %zu missing in %s",
			    i, cfg);
			FZ_CHECK(member(t, "if", &v) && str_is(&v, ifname),
			    "net if of NIC %zu (want %s) in %s", i, ifname,
			    cfg);
			FZ_CHECK(member(t, "type", &v) &&
				str_is(&v, fam == 0 ? "inet" : "inet6"),
			    "net type in %s", cfg);
			if (addr != NULL) {
				snprintf(mask, sizeof(mask), "%u", plen);
				FZ_CHECK(member(t, "addr", &v) &&
					str_is(&v, addr),
				    "addr of NIC %zu in %s", i, cfg);
				FZ_CHECK(member(t, "mask", &v) &&
					str_is(&v, mask),
				    "mask of NIC %zu in %s", i, cfg);
			} else {
				FZ_CHECK(!member(t, "addr", &v),
				    "an addr without a static address in %s",
				    cfg);
			}
			t = config_next("net", t);
		}
	}
	FZ_CHECK(t == -1, "more net entries than configured in %s", cfg);
}

static void
check_config(const struct spec *spec, const char *cfg)
{
	static char argbuf[CMDLINE_MAX + 1];
	static char *argv[ARGV_MAX];
	static char text[8192];
	struct cfgstr v;
	size_t i;
	int argc, t;

	FZ_CHECK(strlen(cfg) < sizeof(text), "config too long");
	strcpy(text, cfg);
	if (setjmp(guest_panic) != 0)
		FZ_CHECK(0, "the guest panics (%s) on %s", panic_msg, cfg);
	config_parse(text);
	FZ_CHECK(strlen(cfg) < CMDLINE_MAX,
	    "cmdline longer than the guest's "
	    "buffer");
	argc = config_argv(argbuf, argv, ARGV_MAX);
	FZ_CHECK((size_t)argc == spec->argc,
	    "the guest sees %d args, not %zu,"
	    " in %s",
	    argc, spec->argc, cfg);
	for (i = 0; i < spec->argc; i++)
		FZ_CHECK(strcmp(argv[i], spec->argv[i]) == 0,
		    "argv[%zu] is "
		    "<%s>, not <%s>, in %s",
		    i, argv[i], spec->argv[i], cfg);
	for (i = 0, t = config_next("env", 0); t != -1;
	     t = config_next("env", t), i++) {
		config_str(t, &v);
		FZ_CHECK(i < spec->nenv && str_is(&v, spec->env[i]),
		    "env %zu in %s", i, cfg);
	}
	FZ_CHECK(i == spec->nenv, "%zu env entries, not %zu, in %s", i,
	    spec->nenv, cfg);
	t = config_next("hostname", 0);
	if (spec->hostname == NULL) {
		FZ_CHECK(t == -1, "a hostname in %s", cfg);
	} else {
		FZ_CHECK(t != -1, "no hostname in %s", cfg);
		config_str(t, &v);
		FZ_CHECK(str_is(&v, spec->hostname), "hostname in %s", cfg);
		FZ_CHECK(config_next("hostname", t) == -1,
		    "two hostnames in %s", cfg);
	}
	check_blk(spec, cfg);
	check_net(spec, cfg);
}

/*
 * The checks below know the KVM and Xen layouts.  An ISO request's
 * configuration (vnd images, the NIC driver of the request) is pinned by
 * the golden files of tests/golden/iso; here the same request is checked
 * as a KVM launch (the "other platform" below).
 */
static void
build_and_check(const struct spec *spec)
{
	struct rrerr err;
	size_t len;
	char *cfg;

	if (spec->platform == SPEC_PLATFORM_ISO)
		return;
	cfg = guestconf_build(spec, spec->image, &err);
	if (cfg == NULL) {
		FZ_CHECK(err.code == RRERR_INVALID && err.message[0] != '\0',
		    "refused with code %d: %s", err.code, err.message);
		return;
	}
	len = strlen(cfg);
	if (spec->platform == SPEC_PLATFORM_KVM)
		FZ_CHECK(strlen(spec->image) + 1 + len <
			GUESTCONF_KVM_CMDLINE_MAX,
		    "%zu bytes: over the multiboot "
		    "command line",
		    strlen(spec->image) + 1 + len);
	else
		FZ_CHECK(len <= GUESTCONF_XENSTORE_PAYLOAD_MAX -
			    GUESTCONF_XENSTORE_PATH_MAX,
		    "%zu bytes: over a xenstore "
		    "write",
		    len);
	check_config(spec, cfg);
	free(cfg);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	enum spec_platform orig;
	struct spec *spec;
	struct rrerr err;
	bool other_ok;
	size_t len, i;
	char *text;

	fz_init();
	text = fz_expand(data, size, &len);
	if (spec_parse(text, len, &fz_policy, &spec, &err) == -1) {
		free(text);
		return 0;
	}
	build_and_check(spec);
	/* The same request on the other platform, when it can run there. */
	orig = spec->platform;
	other_ok = spec->accel == SPEC_ACCEL_DEFAULT;
	for (i = 0; i < spec->nnics && orig == SPEC_PLATFORM_KVM; i++)
		if (spec->nics[i].type != SPEC_NIC_BRIDGE)
			other_ok = false;
	if (other_ok && strchr(spec->image, '{') == NULL) {
		spec->platform = orig == SPEC_PLATFORM_KVM ? SPEC_PLATFORM_XEN :
							     SPEC_PLATFORM_KVM;
		build_and_check(spec);
		spec->platform = orig;
	}
	spec_free(spec);
	free(text);
	return 0;
}
