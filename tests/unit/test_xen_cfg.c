/*
 * Tests of the Xen backend's domain configuration (backends/xen_cfg.c).
 *
 * Golden files: every launch request of tests/golden/NAME.json (shared
 * with test_guestconf) and tests/golden/xen/NAME.request.json (Xen only)
 * is run on platform xen; the libxl domain configuration built for it,
 * serialized by libxl itself (libxl_domain_config_to_json), must equal
 * tests/golden/xen/NAME.libxl.json, or the refusal must equal
 * tests/golden/xen/NAME.err.  Shared requests that spec or guestconf
 * already refuse are skipped (test_guestconf pins those).  "@IMAGES@" and
 * "@VOLUMES@" stand for the temp directories the test allows.
 * RR_GOLDEN_UPDATE=1 rewrites the expected files from the actual output
 * instead (read the diff before committing).
 *
 * Cross-checks that do not rely on our own idea of the format:
 * - each disk equals what xl's own disk parser (libxlutil's
 *   xlu_disk_parse) makes of "format=raw,vdev=xvdX,access=rw|ro,target=P",
 *   and, for paths without ',' or ':', of the upstream rumprun tool's
 *   'file:P,xvdX,w';
 * - the value the backend writes to xenstore is byte for byte the text of
 *   guestconf_build(), which tests/golden/NAME.xen.cfg pins.
 *
 * Built without libxl (no libxen-dev), the program only says so.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>

#ifdef HAVE_XEN

#include "xen_cfg.h"

#include <libxlutil.h>

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "fx_spec.h"
#include "golden.h"
#include "guestconf.h"
#include "spec.h"

#define OWNER	  "3f0c2a1e-8d4b-4c2e-9a51-7b6f0e2d9c10"
#define DOMID	  7
#define LOG_DIR	  "/var/log/rumprund/console"
#define MAX_CASES 256

/* A launch as the engine makes it, for spec. */
struct launch {
	struct backend_launch l;
	char domain_name[BACKEND_DOMAIN_NAME_MAX];
	char console_log[256];
	char mac_buf[SPEC_NICS_MAX][18];
	const char *macs[SPEC_NICS_MAX];
};

static void
launch_init(struct launch *ln, const struct spec *spec, const char *config)
{
	size_t i;

	memset(ln, 0, sizeof(*ln));
	/* The engine's name: rr-<owner8>-<instance>-<generation>. */
	snprintf(ln->domain_name, sizeof(ln->domain_name), "rr-%.8s-%s-1",
	    OWNER, spec->name);
	snprintf(ln->console_log, sizeof(ln->console_log), "%s/%s.log", LOG_DIR,
	    spec->name);
	for (i = 0; i < spec->nnics && i < SPEC_NICS_MAX; i++) {
		/* The request's MAC, else one like the engine's picks. */
		if (spec->nics[i].mac != NULL)
			snprintf(ln->mac_buf[i], sizeof(ln->mac_buf[i]), "%s",
			    spec->nics[i].mac);
		else
			snprintf(ln->mac_buf[i], sizeof(ln->mac_buf[i]),
			    "52:54:00:00:00:%02zx", i + 1);
		ln->macs[i] = ln->mac_buf[i];
	}
	ln->l.spec = spec;
	ln->l.owner = OWNER;
	ln->l.domain_name = ln->domain_name;
	ln->l.generation = 1;
	ln->l.guest_config = config;
	ln->l.console_log = ln->console_log;
	ln->l.macs = ln->macs;
}

/*
 * True when xl's disk parser makes of spec the same libxl disk as ours,
 * compared through libxl's JSON of each.
 */
static bool
same_as_xl(libxl_device_disk *ours, const char *spec)
{
	libxl_device_disk xl;
	XLU_Config *cfg;
	char *a, *b;
	bool same;

	cfg = xlu_cfg_init(stderr, "test_xen_cfg");
	assert_non_null(cfg);
	libxl_device_disk_init(&xl);
	assert_int_equal(xlu_disk_parse(cfg, 1, &spec, &xl), 0);
	a = libxl_device_disk_to_json(NULL, ours);
	b = libxl_device_disk_to_json(NULL, &xl);
	assert_non_null(a);
	assert_non_null(b);
	same = strcmp(a, b) == 0;
	if (!same)
		print_error("xl's parser makes of '%s':\n%sours:\n%s", spec, b,
		    a);
	free(a);
	free(b);
	libxl_device_disk_dispose(&xl);
	xlu_cfg_destroy(cfg);
	return same;
}

static bool
disks_match_xl(libxl_domain_config *d)
{
	char spec[1200];
	bool ok = true;
	int i;

	for (i = 0; i < d->num_disks; i++) {
		libxl_device_disk *disk = &d->disks[i];

		snprintf(spec, sizeof(spec),
		    "format=raw,vdev=%s,access=%s,target=%s", disk->vdev,
		    disk->readwrite ? "rw" : "ro", disk->pdev_path);
		ok &= same_as_xl(disk, spec);
		if (strpbrk(disk->pdev_path, ",:") != NULL)
			continue;
		snprintf(spec, sizeof(spec), "file:%s,%s,%s", disk->pdev_path,
		    disk->vdev, disk->readwrite ? "w" : "r");
		ok &= same_as_xl(disk, spec);
	}
	return ok;
}

/*
 * What the backend writes to xenstore for config: exactly config, at
 * rumprun/cfg, and (for shared requests) exactly NAME.xen.cfg.
 */
static bool
check_guest_config(const char *name, const char *config, bool shared)
{
	struct xen_cfg_write w;
	struct rrerr err;
	char path[1024], *golden, *value;
	bool ok = true;
	size_t len;

	assert_int_equal(xen_cfg_guest_config(DOMID, config, &w, &err), 0);
	assert_string_equal(w.path, "/local/domain/7/rumprun/cfg");
	assert_ptr_equal(w.value, config);
	assert_int_equal(w.len, strlen(config));
	if (!shared || golden_updating())
		return true;
	snprintf(path, sizeof(path), "%s/%s.xen.cfg", golden_dir(), name);
	if ((golden = golden_read(path)) == NULL) {
		print_error("%s: missing\n", path);
		return false;
	}
	/* test_guestconf writes the text (placeholders put back) and \n. */
	value = strndup(w.value, w.len);
	assert_non_null(value);
	golden_unexpand(value);
	len = strlen(golden);
	if (len == 0 || golden[len - 1] != '\n' ||
	    strncmp(golden, value, len - 1) != 0 || value[len - 1] != '\0') {
		print_error("%s: the xenstore value differs:\n  golden: %s"
			    "  value:  %s\n",
		    name, golden, value);
		ok = false;
	}
	free(value);
	free(golden);
	return ok;
}

/*
 * One case: the request at reqpath, output named name.  shared: the
 * request is one of test_guestconf's, and may be refused before the Xen
 * backend sees it.  Returns true when it passed or was skipped.
 */
static bool
run_case(const char *reqpath, const char *name, bool shared)
{
	static const char *const bridges[] = { "br0", "br1", "xenbr0", NULL };
	struct spec_policy policy;
	libxl_domain_config d;
	struct spec *spec = NULL;
	struct launch ln;
	struct rrerr err;
	char path[1024];
	char *text, *config;
	bool ok = true;

	text = golden_request(reqpath);
	golden_policy(&policy, bridges);
	if (spec_parse(text, strlen(text), &policy, &spec, &err) == -1) {
		free(text);
		if (shared)
			return true;
		print_error("%s: refused: %s\n", reqpath, err.message);
		return false;
	}
	free(text);
	spec->platform = SPEC_PLATFORM_XEN;
	spec->accel = SPEC_ACCEL_DEFAULT;
	config = guestconf_build(spec, spec->image, &err);
	if (config == NULL) {
		spec_free(spec);
		if (shared)
			return true;
		print_error("%s: no guest config: %s\n", reqpath, err.message);
		return false;
	}

	launch_init(&ln, spec, config);
	libxl_domain_config_init(&d);
	rrerr_clear(&err);
	if (xen_cfg_domain(&ln.l, &d, &err) == -1) {
		char out[RRERR_MESSAGE_MAX + RRERR_FIELD_MAX + 8];

		if (err.code != RRERR_INVALID) {
			print_error("%s: %s\n", name, err.message);
			ok = false;
		}
		snprintf(path, sizeof(path), "%s/xen/%s.err", golden_dir(),
		    name);
		snprintf(out, sizeof(out), "%s\n%s\n", err.field, err.message);
		ok &= golden_compare(path, out);
	} else {
		char *json = libxl_domain_config_to_json(NULL, &d);

		assert_non_null(json);
		snprintf(path, sizeof(path), "%s/xen/%s.libxl.json",
		    golden_dir(), name);
		ok &= disks_match_xl(&d);
		ok &= golden_compare(path, json);
		free(json);
		ok &= check_guest_config(name, config, shared);
	}
	libxl_domain_config_dispose(&d);
	free(config);
	spec_free(spec);
	return ok;
}

static void
test_golden(void **state)
{
	char shared_dir[512], xen_dir[520], path[1100], *names[MAX_CASES];
	size_t n, i, total = 0;
	int failed = 0;

	(void)state;
	snprintf(shared_dir, sizeof(shared_dir), "%s", golden_dir());
	snprintf(xen_dir, sizeof(xen_dir), "%s/xen", golden_dir());

	n = golden_list(shared_dir, ".json", names, MAX_CASES);
	assert_true(n >= 10);
	for (i = 0; i < n; i++, total++) {
		snprintf(path, sizeof(path), "%s/%s.json", shared_dir,
		    names[i]);
		if (!run_case(path, names[i], true)) {
			print_error("golden case %s failed\n", names[i]);
			failed++;
		}
		free(names[i]);
	}
	n = golden_list(xen_dir, ".request.json", names, MAX_CASES);
	assert_true(n >= 4);
	for (i = 0; i < n; i++, total++) {
		snprintf(path, sizeof(path), "%s/%s.request.json", xen_dir,
		    names[i]);
		if (!run_case(path, names[i], false)) {
			print_error("golden case xen/%s failed\n", names[i]);
			failed++;
		}
		free(names[i]);
	}
	print_message("%zu golden cases, %d failed\n", total, failed);
	assert_int_equal(failed, 0);
}

/* A minimal Xen launch, adjusted by each case. */
struct fixture {
	struct spec spec;
	struct spec_blk blk[2];
	struct spec_nic nics[3];
	const char *macs[3];
	char *argv[2];
	struct backend_launch l;
};

static void
fixture_init(struct fixture *f)
{
	memset(f, 0, sizeof(*f));
	fx_spec_hello(&f->spec, SPEC_PLATFORM_XEN, f->argv, f->blk, f->nics);
	f->l.spec = &f->spec;
	f->l.owner = OWNER;
	f->l.domain_name = "rr-3f0c2a1e-hello-1";
	f->l.generation = 1;
	f->l.guest_config = "{\"cmdline\":\"hello\"}";
	f->l.console_log = LOG_DIR "/hello.log";
	f->l.macs = f->macs;
}

/* Build f; -1 and err on refusal.  The config is disposed of either way. */
static int
build(struct fixture *f, struct rrerr *err)
{
	libxl_domain_config d;
	int rc;

	libxl_domain_config_init(&d);
	rrerr_clear(err);
	rc = xen_cfg_domain(&f->l, &d, err);
	libxl_domain_config_dispose(&d);
	return rc;
}

static void
test_refusals(void **state)
{
	struct fixture f;
	struct rrerr err;

	(void)state;
	fixture_init(&f);
	assert_int_equal(build(&f, &err), 0);

	f.spec.platform = SPEC_PLATFORM_KVM;
	assert_int_equal(build(&f, &err), -1);
	assert_int_equal(err.code, RRERR_INVALID);
	assert_string_equal(err.field, "platform");

	/* Tap and libvirt networks have no Xen counterpart. */
	fixture_init(&f);
	f.nics[0].type = SPEC_NIC_BRIDGE;
	f.nics[0].backend_name = "br0";
	f.nics[1].type = SPEC_NIC_TAP;
	f.macs[0] = "52:54:00:00:00:01";
	f.macs[1] = "52:54:00:00:00:02";
	f.spec.nnics = 2;
	assert_int_equal(build(&f, &err), -1);
	assert_int_equal(err.code, RRERR_INVALID);
	assert_string_equal(err.field, "nics[1].backend.type");
	assert_non_null(strstr(err.message, "tap"));
	f.nics[1].type = SPEC_NIC_NETWORK;
	f.nics[1].backend_name = "default";
	assert_int_equal(build(&f, &err), -1);
	assert_string_equal(err.field, "nics[1].backend.type");
	assert_non_null(strstr(err.message, "libvirt networks"));
	f.nics[1].type = SPEC_NIC_BRIDGE;
	f.nics[1].backend_name = "br1";
	assert_int_equal(build(&f, &err), 0);

	/* MACs come from the engine; a broken one is still caught. */
	f.macs[1] = "52:54:00:00:00";
	assert_int_equal(build(&f, &err), -1);
	assert_string_equal(err.field, "nics[1].mac");
	f.macs[1] = "52:54:00:00:00:0g";
	assert_int_equal(build(&f, &err), -1);
	f.macs[1] = "52-54-00-00-00-01";
	assert_int_equal(build(&f, &err), -1);
	f.l.macs = NULL;
	assert_int_equal(build(&f, &err), -1);
	assert_int_equal(err.code, RRERR_INTERNAL);
}

/* The MAC, the bridge, the devid, memory and actions, field by field. */
static void
test_fields(void **state)
{
	libxl_domain_config d;
	struct fixture f;
	struct rrerr err;
	const uint8_t want[6] = { 0x52, 0x54, 0x00, 0xab, 0xCD, 0x0f };

	(void)state;
	fixture_init(&f);
	f.nics[0].type = SPEC_NIC_BRIDGE;
	f.nics[0].backend_name = "br0";
	f.nics[1].type = SPEC_NIC_BRIDGE;
	f.nics[1].backend_name = "xenbr0";
	f.macs[0] = "52:54:00:00:00:01";
	f.macs[1] = "52:54:00:AB:cd:0F";
	f.spec.nnics = 2;
	libxl_domain_config_init(&d);
	assert_int_equal(xen_cfg_domain(&f.l, &d, &err), 0);
	assert_int_equal(d.num_nics, 2);
	assert_int_equal(d.nics[0].devid, 0);
	assert_int_equal(d.nics[1].devid, 1);
	assert_string_equal(d.nics[1].bridge, "xenbr0");
	assert_memory_equal(d.nics[1].mac, want, 6);
	assert_null(d.nics[1].script);
	assert_int_equal(d.b_info.max_memkb, 64 * 1024);
	assert_int_equal(d.b_info.target_memkb, 64 * 1024);
	assert_int_equal(d.c_info.type, LIBXL_DOMAIN_TYPE_PV);
	assert_int_equal(d.b_info.type, LIBXL_DOMAIN_TYPE_PV);
	/*
	 * Every action is destroy.  It is also libxl's initial value, which
	 * its serializer leaves out: the golden files cannot show it.
	 */
	assert_int_equal(d.on_poweroff, LIBXL_ACTION_ON_SHUTDOWN_DESTROY);
	assert_int_equal(d.on_reboot, LIBXL_ACTION_ON_SHUTDOWN_DESTROY);
	assert_int_equal(d.on_watchdog, LIBXL_ACTION_ON_SHUTDOWN_DESTROY);
	assert_int_equal(d.on_crash, LIBXL_ACTION_ON_SHUTDOWN_DESTROY);
	assert_int_equal(d.on_soft_reset, LIBXL_ACTION_ON_SHUTDOWN_DESTROY);
	assert_null(d.b_info.cmdline);
	libxl_domain_config_dispose(&d);
}

/* Ownership keys, in the order libxl writes them. */
static void
test_ownership(void **state)
{
	libxl_domain_config d;
	struct fixture f;
	struct rrerr err;
	char **kv;

	(void)state;
	fixture_init(&f);
	f.l.generation = 4294967295U;
	libxl_domain_config_init(&d);
	assert_int_equal(xen_cfg_domain(&f.l, &d, &err), 0);
	kv = d.c_info.xsdata;
	assert_non_null(kv);
	assert_string_equal(kv[0], XEN_CFG_KEY_OWNER);
	assert_string_equal(kv[1], OWNER);
	assert_string_equal(kv[2], XEN_CFG_KEY_INSTANCE);
	assert_string_equal(kv[3], "hello");
	assert_string_equal(kv[4], XEN_CFG_KEY_GENERATION);
	assert_string_equal(kv[5], "4294967295");
	assert_string_equal(kv[6], XEN_CFG_KEY_CONSOLE);
	assert_string_equal(kv[7], LOG_DIR "/hello.log");
	assert_null(kv[8]);
	libxl_domain_config_dispose(&d);
}

static void
test_guest_config_size(void **state)
{
	struct xen_cfg_write w;
	struct rrerr err;
	size_t most;
	char *big;

	(void)state;
	/* Whatever guestconf accepts fits, for any domain id. */
	most = GUESTCONF_XENSTORE_PAYLOAD_MAX - GUESTCONF_XENSTORE_PATH_MAX;
	big = malloc(GUESTCONF_XENSTORE_PAYLOAD_MAX + 1);
	assert_non_null(big);
	memset(big, 'x', most);
	big[most] = '\0';
	assert_int_equal(xen_cfg_guest_config(4294967295U, big, &w, &err), 0);
	assert_string_equal(w.path, "/local/domain/4294967295/rumprun/cfg");
	assert_int_equal(w.len, most);

	/* "path\0value" is one xenstore message of at most 4096 bytes. */
	most = GUESTCONF_XENSTORE_PAYLOAD_MAX -
	    sizeof("/local/domain/7/rumprun/cfg");
	memset(big, 'x', most + 1);
	big[most] = '\0';
	assert_int_equal(xen_cfg_guest_config(7, big, &w, &err), 0);
	big[most] = 'x';
	big[most + 1] = '\0';
	assert_int_equal(xen_cfg_guest_config(7, big, &w, &err), -1);
	assert_int_equal(err.code, RRERR_INVALID);
	assert_int_equal(xen_cfg_guest_config(7, NULL, &w, &err), -1);
	free(big);
}

static void
test_names_and_keys(void **state)
{
	char path[XEN_CFG_PATH_MAX];
	unsigned int g = 0;

	(void)state;
	assert_true(xen_cfg_name_is_ours("rr-3f0c2a1e-web-1-1", OWNER));
	assert_false(xen_cfg_name_is_ours("rr-3f0c2a1e-", OWNER));
	assert_false(xen_cfg_name_is_ours("rr-3f0c2a1f-web-1", OWNER));
	assert_false(xen_cfg_name_is_ours("Domain-0", OWNER));
	assert_false(xen_cfg_name_is_ours(NULL, OWNER));
	assert_false(xen_cfg_name_is_ours("rr--x", ""));

	assert_true(xen_cfg_path(12, XEN_CFG_KEY_OWNER, path, sizeof(path)));
	assert_string_equal(path, "/local/domain/12/rumprund/owner");
	assert_false(xen_cfg_path(12, XEN_CFG_KEY_OWNER, path, 16));

	assert_int_equal(xen_cfg_parse_generation("1", &g), 0);
	assert_int_equal(g, 1);
	assert_int_equal(xen_cfg_parse_generation("4294967295", &g), 0);
	assert_int_equal(g, 4294967295U);
	assert_int_equal(xen_cfg_parse_generation("4294967296", &g), -1);
	assert_int_equal(xen_cfg_parse_generation("0", &g), -1);
	assert_int_equal(xen_cfg_parse_generation("01", &g), -1);
	assert_int_equal(xen_cfg_parse_generation("1x", &g), -1);
	assert_int_equal(xen_cfg_parse_generation("", &g), -1);
	assert_int_equal(xen_cfg_parse_generation("99999999999", &g), -1);
	assert_int_equal(xen_cfg_parse_generation(NULL, &g), -1);

	assert_string_equal(xen_cfg_shutdown_reason(
				LIBXL_SHUTDOWN_REASON_POWEROFF),
	    "poweroff");
	assert_string_equal(xen_cfg_shutdown_reason(
				LIBXL_SHUTDOWN_REASON_CRASH),
	    "crash");
	assert_string_equal(xen_cfg_shutdown_reason(99), "unknown reason");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_golden),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_fields),
		cmocka_unit_test(test_ownership),
		cmocka_unit_test(test_guest_config_size),
		cmocka_unit_test(test_names_and_keys),
	};

	return cmocka_run_group_tests(tests, golden_setup, golden_teardown);
}

#else /* !HAVE_XEN */

int
main(void)
{
	printf("test_xen_cfg: skipped: built without Xen's libxl "
	       "(libxen-dev)\n");
	return 0;
}

#endif
