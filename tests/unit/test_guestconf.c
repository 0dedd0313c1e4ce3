/*
 * Tests of the rumprun guest configuration writer.
 *
 * Golden files: every tests/golden/NAME.json is a launch request; the
 * configuration written for it must equal NAME.kvm.cfg and NAME.xen.cfg
 * (the request's platform is switched to build both), or its error message
 * must equal NAME.err.  "@IMAGES@" and "@VOLUMES@" in a request stand for
 * the temp directories the test allows, and the files named below them are
 * created on the fly.  RR_GOLDEN_UPDATE=1 rewrites the expected files from
 * the actual output instead of comparing (review the diff before commit).
 *
 * The argv quoting is also checked against a model of the guest: the
 * quoted text must be a string body that jsmn accepts and the guest's argv
 * splitter (rumprun's parseargs.c, modelled below) must give argv back.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "golden.h"
#include "guestconf.h"
#include "spec.h"

/* The kernel path a KVM guest sees before its config, in golden cases. */
#define KERNEL_PATH "/srv/rumprun/images/app.bin"

static int
run_case(const char *dir, const char *name)
{
	static const char *const bridges[] = { "br0", "br1", NULL };
	struct spec_policy policy;
	static const struct {
		enum spec_platform platform;
		const char *suffix;
	} platforms[] = {
		{ SPEC_PLATFORM_KVM, "kvm.cfg" },
		{ SPEC_PLATFORM_XEN, "xen.cfg" },
	};
	struct spec *spec = NULL;
	struct rrerr err;
	char path[1024], out[4608];
	char *text, *cfg;
	int ok = 1;
	size_t i;

	snprintf(path, sizeof(path), "%s/%s.json", dir, name);
	text = golden_request(path);
	golden_policy(&policy, bridges);
	snprintf(path, sizeof(path), "%s/%s.err", dir, name);
	if (spec_parse(text, strlen(text), &policy, &spec, &err) == -1) {
		snprintf(out, sizeof(out), "%s\n", err.message);
		ok = golden_compare(path, out);
		free(text);
		return ok;
	}
	free(text);

	for (i = 0; i < 2; i++) {
		spec->platform = platforms[i].platform;
		if (spec->platform == SPEC_PLATFORM_XEN)
			spec->accel = SPEC_ACCEL_DEFAULT;
		cfg = guestconf_build(spec, KERNEL_PATH, &err);
		if (cfg == NULL) {
			/* A config error on either platform is the case's answer. */
			snprintf(path, sizeof(path), "%s/%s.err", dir, name);
			snprintf(out, sizeof(out), "%s\n", err.message);
			ok = golden_compare(path, out);
			break;
		}
		snprintf(path, sizeof(path), "%s/%s.%s", dir, name,
		    platforms[i].suffix);
		snprintf(out, sizeof(out), "%s\n", cfg);
		free(cfg);
		ok &= golden_compare(path, out);
	}
	spec_free(spec);
	return ok;
}

static void
test_golden(void **state)
{
	char *names[256];
	size_t n, i;
	int failed = 0;

	(void)state;
	n = golden_list(golden_dir(), ".json", names, 256);
	assert_true(n >= 10);
	for (i = 0; i < n; i++) {
		if (!run_case(golden_dir(), names[i])) {
			print_error("golden case %s failed\n", names[i]);
			failed++;
		}
		free(names[i]);
	}
	print_message("%zu golden cases, %d failed\n", n, failed);
	assert_int_equal(failed, 0);
}

/*
 * A model of what the guest does with the cmdline value: jsmn's string
 * scan (a backslash must be followed by a valid escape; a bare '"' ends the
 * string), then rumprun's argv splitter on the raw text.  Returns the
 * number of arguments, or -1 when jsmn would reject the text.
 */
static int
guest_split(const char *json_body, char out[][256], int max)
{
	char text[8192], *p;
	const char *s;
	int nargs = 0, quote = -1, ac, rc;
	size_t len = 0;

	for (s = json_body; *s != '\0'; s++) {
		if (*s == '"')
			return -1;
		if (*s == '\\') {
			if (strchr("\"/\\bfnrtu", s[1]) == NULL || s[1] == '\0')
				return -1;
			text[len++] = *s++;
		}
		text[len++] = *s;
	}
	text[len] = '\0';

	p = text;
	char *o = NULL;
	for (;;) {
		ac = *p++;
		rc = ac;
		if (ac == '\\')
			rc = *p++;
		if (rc == 0 || ac == ' ' || ac == '\n' || ac == '\t') {
			if (rc == 0 || quote == 0) {
				if (o != NULL)
					*o = '\0';
				o = NULL;
				quote = -1;
			}
			if (rc == 0)
				break;
			if (quote < 0)
				continue;
		}
		if (quote < 0) {
			if (nargs == max)
				return -1;
			o = out[nargs++];
			quote = 0;
		}
		if (quote > 0 && ac == quote) {
			quote = 0;
			continue;
		}
		if (ac == '\'' || ac == '"') {
			quote = ac;
			continue;
		}
		*o++ = (char)rc;
	}
	return nargs;
}

static void
check_roundtrip(char *const *argv, size_t argc)
{
	char out[16][256];
	struct rrerr err;
	char *cmdline;
	int n;
	size_t i;

	cmdline = guestconf_cmdline(argv, argc, &err);
	assert_non_null(cmdline);
	n = guest_split(cmdline, out, 16);
	if (n != (int)argc)
		fail_msg("cmdline <%s>: guest sees %d args, not %zu", cmdline,
		    n, argc);
	for (i = 0; i < argc; i++) {
		if (strcmp(out[i], argv[i]) != 0)
			fail_msg("cmdline <%s>: argv[%zu] is <%s>, not <%s>",
			    cmdline, i, out[i], argv[i]);
	}
	free(cmdline);
}

static void
test_quoting_cases(void **state)
{
	char *a1[] = { "prog", "a b", "", "say \"hi\"", "back\\slash", "\\",
		"\"", "end\\", "{\"json\": 1}" };
	char *a2[] = { "x" };
	char *a3[] = { "x", "  ", "a  b", "\"\"", "\\\\\"" };

	(void)state;
	check_roundtrip(a1, sizeof(a1) / sizeof(a1[0]));
	check_roundtrip(a2, 1);
	check_roundtrip(a3, sizeof(a3) / sizeof(a3[0]));
}

/* Random arguments over an alphabet of every character that matters. */
static void
test_quoting_random(void **state)
{
	static const char alphabet[] = "ab \"\\/{}:,=.";
	char bufs[8][32], *argv[8];
	unsigned int seed = 12345;
	size_t argc, i, j, len;
	int round;

	(void)state;
	for (round = 0; round < 20000; round++) {
		argc = 1 + (size_t)(rand_r(&seed) % 8);
		for (i = 0; i < argc; i++) {
			len = (size_t)(rand_r(&seed) % 12);
			for (j = 0; j < len; j++)
				bufs[i][j] = alphabet[rand_r(&seed) %
				    (sizeof(alphabet) - 1)];
			bufs[i][len] = '\0';
			argv[i] = bufs[i];
		}
		/* argv[0] is the program name: never empty. */
		if (argv[0][0] == '\0')
			argv[0] = "p";
		check_roundtrip(argv, argc);
	}
}

static void
test_quoting_refused(void **state)
{
	char *q[] = { "prog", "it's" };
	char *c[] = { "prog", "ok", "new\nline" };
	struct rrerr err;

	(void)state;
	assert_null(guestconf_cmdline(q, 2, &err));
	assert_int_equal(err.code, RRERR_INVALID);
	assert_string_equal(err.field, "argv[1]");
	assert_string_equal(err.message,
	    "argv[1]: contains a single quote, "
	    "which a rumprun guest cannot receive");
	assert_null(guestconf_cmdline(c, 3, &err));
	assert_string_equal(err.field, "argv[2]");
}

/*
 * The KVM limit: strlen("<kernel path> " + config) must stay below 4096.
 * Grow one argument until the config is exactly at the limit, then one
 * byte over it.
 */
static void
test_kvm_size_limit(void **state)
{
	static char arg[4096];
	char *argv[] = { "p", arg };
	struct spec spec = {
		.name = "t",
		.platform = SPEC_PLATFORM_KVM,
		.argv = argv,
		.argc = 2,
	};
	const char *kpath = "/k";
	struct rrerr err;
	size_t base, fill;
	char *cfg;

	(void)state;
	arg[0] = 'x';
	cfg = guestconf_build(&spec, kpath, &err);
	assert_non_null(cfg);
	base = strlen(cfg) - 1; /* without the one-byte argument */
	free(cfg);

	fill = GUESTCONF_KVM_CMDLINE_MAX - 1 - (strlen(kpath) + 1) - base;
	memset(arg, 'x', fill);
	arg[fill] = '\0';
	cfg = guestconf_build(&spec, kpath, &err);
	assert_non_null(cfg);
	assert_int_equal(strlen(kpath) + 1 + strlen(cfg),
	    GUESTCONF_KVM_CMDLINE_MAX - 1);
	free(cfg);

	arg[fill] = 'x';
	arg[fill + 1] = '\0';
	assert_null(guestconf_build(&spec, kpath, &err));
	assert_int_equal(err.code, RRERR_INVALID);
	assert_non_null(strstr(err.message, "at most 4095 bytes"));
	/* The field to shorten is the largest part: argv here ... */
	assert_string_equal(err.field, "argv");

	/* ... env when that is larger. */
	{
		static char var[4096];
		char *env[] = { var };

		arg[1] = '\0';
		memcpy(var, "A=", 2);
		memset(var + 2, 'y', fill);
		spec.env = env;
		spec.nenv = 1;
		assert_null(guestconf_build(&spec, kpath, &err));
		assert_string_equal(err.field, "env");
		assert_non_null(strstr(err.message, "env is the largest part"));
		spec.env = NULL;
		spec.nenv = 0;
	}

	/* A '{' in the kernel path would hide the config from the guest. */
	arg[1] = '\0';
	assert_null(guestconf_build(&spec, "/img/{x}", &err));
	assert_string_equal(err.field, "image");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_golden),
		cmocka_unit_test(test_quoting_cases),
		cmocka_unit_test(test_quoting_random),
		cmocka_unit_test(test_quoting_refused),
		cmocka_unit_test(test_kvm_size_limit),
	};

	return cmocka_run_group_tests(tests, golden_setup, golden_teardown);
}
