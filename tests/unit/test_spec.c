/*
 * Unit tests of spec: the launch request, its checks and its canonical form.
 *
 * Requests are written as templates: ` stands for " and @ for the root of
 * the scratch tree, so that `image`:`@/img/hello.bin` names a real file.
 * The tree (see tree[] below) has an allowed image directory img/, an
 * allowed volume directory vol/, and outside/.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "fixture.h"
#include "rrerr.h"
#include "spec.h"

/* The start of every request that only adds fields. */
#define BASE "{`name`:`web`,`image`:`@/img/hello.bin`"

static const char *img_dirs[2];
static const char *vol_dirs[2];
static const char *const bridges[] = { "br0", "br1", NULL };
static const char *const networks[] = { "default", NULL };
static struct spec_policy policy;

static const struct fx_node tree[] = {
	{ 'd', "img", NULL },
	{ 'd', "img/dir", NULL },
	{ 'd', "vol", NULL },
	{ 'd', "outside", NULL },
	{ 'f', "img/hello.bin", "ELF" },
	{ 'f', "img/it's.bin", "ELF" },
	{ 'f', "img/br{ace.bin", "ELF" },
	{ 'l', "img/link", "hello.bin" },
	{ 'f', "vol/disk1.img", "1" },
	{ 'f', "vol/disk2.img", "2" },
	{ 'l', "vol/d1", "disk1.img" },
	{ 'f', "outside/disk.img", "x" },
	{ 0, NULL, NULL },
};

static int
setup(void **state)
{
	(void)state;
	if (fx_build(tree) == -1)
		return -1;
	img_dirs[0] = strdup(fx_path("img"));
	vol_dirs[0] = strdup(fx_path("vol"));
	policy.image_dirs = img_dirs;
	policy.volume_dirs = vol_dirs;
	policy.bridges = bridges;
	policy.networks = networks;
	return img_dirs[0] != NULL && vol_dirs[0] != NULL ? 0 : -1;
}

static int
teardown(void **state)
{
	(void)state;
	free((char *)(uintptr_t)img_dirs[0]);
	free((char *)(uintptr_t)vol_dirs[0]);
	return fx_remove();
}

/* Restore the policy that every test starts from. */
static int
reset_policy(void **state)
{
	(void)state;
	policy.image_dirs = img_dirs;
	policy.volume_dirs = vol_dirs;
	policy.bridges = bridges;
	policy.networks = networks;
	policy.max_memory_mib = 0;
	policy.max_vcpus = 0;
	return 0;
}

/*
 * The template t with ` as " and @ as the tree's root; whole says whether
 * t is a whole request or fields to add to BASE.  A new string: free() it.
 */
static char *
expand(const char *t, bool whole)
{
	char *out, *p;
	size_t rootlen = strlen(fx_root), n = 0;
	const char *s;

	if (!whole) {
		if (asprintf(&p, "%s%s%s}", BASE, t[0] != '\0' ? "," : "", t) ==
		    -1)
			return NULL;
		out = expand(p, true);
		free(p);
		return out;
	}
	for (s = t; *s != '\0'; s++)
		n += *s == '@' ? rootlen : 1;
	if ((out = malloc(n + 1)) == NULL)
		return NULL;
	for (s = t, p = out; *s != '\0'; s++) {
		if (*s == '@') {
			memcpy(p, fx_root, rootlen);
			p += rootlen;
		} else
			*p++ = *s == '`' ? '"' : *s;
	}
	*p = '\0';
	return out;
}

/* Parse the template t (see expand()) with the current policy. */
static int
parse(const char *t, bool whole, struct spec **out, struct rrerr *err)
{
	char *text = expand(t, whole);
	int rv;

	assert_non_null(text);
	rv = spec_parse(text, strlen(text), &policy, out, err);
	free(text);
	return rv;
}

/* Expect the request to be accepted; returns the new spec. */
#define ACCEPT(fields)	  accept_at(__FILE__, __LINE__, (fields), false)
#define ACCEPT_BODY(body) accept_at(__FILE__, __LINE__, (body), true)

static struct spec *
accept_at(const char *file, int line, const char *t, bool whole)
{
	struct spec *spec = NULL;
	struct rrerr err;

	rrerr_clear(&err);
	if (parse(t, whole, &spec, &err) == -1)
		print_error("refused: %s\n", err.message);
	_assert_true(spec != NULL, "accepted", file, line);
	return spec;
}

/* Expect the request to be refused with code, field and message. */
#define REJECT(fields, code, field, message) \
	reject_at(__FILE__, __LINE__, (fields), false, (code), (field), \
	    (message))
#define REJECT_BODY(body, code, field, message) \
	reject_at(__FILE__, __LINE__, (body), true, (code), (field), (message))

static void
reject_at(const char *file, int line, const char *t, bool whole,
    enum rrerr_code code, const char *field, const char *message)
{
	struct spec *spec = (struct spec *)1;
	struct rrerr err;
	char *want;

	rrerr_clear(&err);
	_assert_int_equal(parse(t, whole, &spec, &err), -1, file, line);
	_assert_true(spec == NULL, "*out == NULL", file, line);
	want = expand(message, true);
	if (err.code != code)
		print_error("got %s: %s\n", rrerr_name(err.code), err.message);
	_assert_int_equal(err.code, code, file, line);
	_assert_string_equal(err.field, field, file, line);
	_assert_string_equal(err.message, want, file, line);
	free(want);
}

/* Expect the canonical form of spec to be the template want. */
#define CANONICAL(spec, want) canonical_at(__FILE__, __LINE__, (spec), (want))

static void
canonical_at(const char *file, int line, const struct spec *spec,
    const char *want)
{
	json_t *got, *expected;
	json_error_t jerr;
	char *text;

	got = spec_to_json(spec);
	text = expand(want, true);
	expected = json_loads(text, 0, &jerr);
	if (expected == NULL)
		print_error("bad template: %s\n", jerr.text);
	_assert_true(got != NULL && expected != NULL, "json", file, line);
	if (!json_equal(got, expected)) {
		char *a, *b;

		a = json_dumps(got, JSON_SORT_KEYS);
		b = json_dumps(expected, JSON_SORT_KEYS);
		print_error("got  %s\nwant %s\n", a, b);
		free(a);
		free(b);
	}
	_assert_true(json_equal(got, expected), "canonical", file, line);
	json_decref(got);
	json_decref(expected);
	free(text);
}

/* Expect the canonical form of spec to give an equal spec back. */
static void
round_trip(const struct spec *spec)
{
	struct spec *again = NULL;
	struct rrerr err;
	json_t *j, *k;

	j = spec_to_json(spec);
	assert_non_null(j);
	if (spec_from_json(j, &policy, &again, &err) == -1)
		print_error("refused: %s\n", err.message);
	assert_non_null(again);
	assert_true(spec_equal(spec, again));
	k = spec_to_json(again);
	assert_true(json_equal(j, k));
	json_decref(j);
	json_decref(k);
	spec_free(again);
}

/* "[item,item,...]" with n items. */
static char *
repeat(const char *item, size_t n)
{
	char *out, *p;
	size_t i, len = strlen(item);

	if ((out = malloc(n * (len + 1) + 3)) == NULL)
		return NULL;
	p = out;
	*p++ = '[';
	for (i = 0; i < n; i++) {
		if (i > 0)
			*p++ = ',';
		memcpy(p, item, len);
		p += len;
	}
	*p++ = ']';
	*p = '\0';
	return out;
}

/* A string of n copies of c. */
static char *
run_of(char c, size_t n)
{
	char *s = malloc(n + 1);

	assert_non_null(s);
	memset(s, c, n);
	s[n] = '\0';
	return s;
}

static void
test_minimal(void **state)
{
	struct spec *spec;

	(void)state;
	spec = ACCEPT("");
	assert_string_equal(spec->name, "web");
	assert_int_equal(spec->platform, SPEC_PLATFORM_KVM);
	assert_string_equal(spec->image, fx_path("img/hello.bin"));
	assert_int_equal(spec->memory_mib, SPEC_MEMORY_DEFAULT_MIB);
	assert_int_equal(spec->vcpus, 1);
	assert_int_equal(spec->argc, 1);
	assert_string_equal(spec->argv[0], "hello.bin");
	assert_int_equal(spec->nenv, 0);
	assert_null(spec->hostname);
	assert_int_equal(spec->accel, SPEC_ACCEL_DEFAULT);
	assert_false(spec->auto_remove);
	assert_false(spec->paused);
	assert_int_equal(spec->boot_timeout_s, -1);
	CANONICAL(spec,
	    "{`name`:`web`,`platform`:`kvm`,"
	    "`image`:`@/img/hello.bin`,`memory_mib`:64,`vcpus`:1,"
	    "`argv`:[`hello.bin`],`env`:[],`labels`:{},`blk`:[],`nics`:[],"
	    "`auto_remove`:false,`paused`:false}");
	round_trip(spec);
	spec_free(spec);
}

#define FULL_REQUEST \
	"{`name`:`web.1`,`platform`:`kvm`,`image`:`@/img/link`," \
	"`memory_mib`:128,`vcpus`:2," \
	"`argv`:[`nginx`,`-c`,`/etc/nginx.conf`,`say \\\"hi\\\" \\\\ now`,``]," \
	"`env`:{`A`:`1`,`B_2`:`x=y`,`EMPTY`:``}," \
	"`hostname`:`web-1`," \
	"`labels`:{`team`:`infra`,`app.kubernetes.io/name`:`a \\\"b\\\"`}," \
	"`blk`:[{`source`:`@/vol/d1`,`mountpoint`:`/data`,`readonly`:true}," \
	"{`source`:`@/vol/disk2.img`}]," \
	"`nics`:[{`backend`:{`type`:`tap`},`inet`:{`method`:`dhcp`}}," \
	"{`backend`:{`type`:`bridge`,`name`:`br0`},`mac`:`52:54:00:AB:cd:EF`," \
	"`inet`:{`method`:`static`,`addr`:`10.0.0.2/24`,`gw`:`10.0.0.1`}," \
	"`inet6`:{`method`:`static`,`addr`:`FD00:0::2/64`,`gw`:`fd00::1`}}," \
	"{`backend`:{`type`:`network`,`name`:`default`}," \
	"`inet6`:{`method`:`auto`}}," \
	"{`backend`:{`type`:`tap`,`name`:`tap7`}}]," \
	"`accel`:`tcg`,`auto_remove`:true,`paused`:true}"

#define FULL_CANONICAL \
	"{`name`:`web.1`,`platform`:`kvm`,`image`:`@/img/hello.bin`," \
	"`memory_mib`:128,`vcpus`:2," \
	"`argv`:[`nginx`,`-c`,`/etc/nginx.conf`,`say \\\"hi\\\" \\\\ now`,``]," \
	"`env`:[`A=1`,`B_2=x=y`,`EMPTY=`]," \
	"`hostname`:`web-1`," \
	"`labels`:{`team`:`infra`,`app.kubernetes.io/name`:`a \\\"b\\\"`}," \
	"`blk`:[{`source`:`@/vol/disk1.img`,`readonly`:true," \
	"`mountpoint`:`/data`},{`source`:`@/vol/disk2.img`,`readonly`:false}]," \
	"`nics`:[{`backend`:{`type`:`tap`},`inet`:{`method`:`dhcp`}}," \
	"{`backend`:{`type`:`bridge`,`name`:`br0`},`mac`:`52:54:00:ab:cd:ef`," \
	"`inet`:{`method`:`static`,`addr`:`10.0.0.2/24`,`gw`:`10.0.0.1`}," \
	"`inet6`:{`method`:`static`,`addr`:`fd00::2/64`,`gw`:`fd00::1`}}," \
	"{`backend`:{`type`:`network`,`name`:`default`}," \
	"`inet6`:{`method`:`auto`}}," \
	"{`backend`:{`type`:`tap`,`name`:`tap7`}}]," \
	"`accel`:`tcg`,`auto_remove`:true,`paused`:true}"

static void
test_full(void **state)
{
	struct spec *spec, *canon;
	const struct spec_nic *nic;

	(void)state;
	spec = ACCEPT_BODY(FULL_REQUEST);
	assert_int_equal(spec->argc, 5);
	assert_string_equal(spec->argv[3], "say \"hi\" \\ now");
	assert_string_equal(spec->argv[4], "");
	assert_int_equal(spec->nenv, 3);
	assert_string_equal(spec->env[1], "B_2=x=y");
	assert_int_equal(spec->nlabels, 2);
	assert_string_equal(spec->labels[1].key, "app.kubernetes.io/name");
	assert_int_equal(spec->nblk, 2);
	assert_string_equal(spec->blk[0].source, fx_path("vol/disk1.img"));
	assert_true(spec->blk[0].readonly);
	assert_null(spec->blk[1].mountpoint);
	assert_int_equal(spec->nnics, 4);
	nic = &spec->nics[1];
	assert_int_equal(nic->type, SPEC_NIC_BRIDGE);
	assert_string_equal(nic->backend_name, "br0");
	assert_string_equal(nic->mac, "52:54:00:ab:cd:ef");
	assert_int_equal(nic->inet, SPEC_INET_STATIC);
	assert_string_equal(nic->addr, "10.0.0.2");
	assert_int_equal(nic->prefixlen, 24);
	assert_string_equal(nic->gw, "10.0.0.1");
	assert_int_equal(nic->inet6, SPEC_INET6_STATIC);
	assert_string_equal(nic->addr6, "fd00::2");
	assert_int_equal(nic->prefixlen6, 64);
	assert_string_equal(nic->gw6, "fd00::1");
	assert_int_equal(spec->nics[0].inet, SPEC_INET_DHCP);
	assert_null(spec->nics[0].backend_name);
	assert_int_equal(spec->nics[2].inet6, SPEC_INET6_AUTO);
	assert_int_equal(spec->nics[2].inet, SPEC_INET_NONE);
	assert_int_equal(spec->accel, SPEC_ACCEL_TCG);
	CANONICAL(spec, FULL_CANONICAL);
	round_trip(spec);

	/* The canonical form, sent as a request, is the same launch. */
	canon = ACCEPT_BODY(FULL_CANONICAL);
	assert_true(spec_equal(spec, canon));
	spec_free(canon);
	spec_free(spec);
}

static void
test_body(void **state)
{
	struct spec *spec = NULL;
	struct rrerr err;
	char *big, *t;
	json_t *j;

	(void)state;
	/* Too large: refused before parsing. */
	big = run_of(' ', SPEC_BODY_MAX + 1);
	assert_int_equal(spec_parse(big, SPEC_BODY_MAX + 1, &policy, &spec,
			     &err),
	    -1);
	assert_int_equal(err.code, RRERR_TOO_LARGE);
	assert_string_equal(err.field, "");
	assert_string_equal(err.message,
	    "request body is larger than 65536 bytes");
	free(big);

	/* Exactly the limit is fine. */
	big = run_of(' ', SPEC_BODY_MAX);
	t = expand(BASE "}", true);
	memcpy(big, t, strlen(t));
	free(t);
	assert_int_equal(spec_parse(big, SPEC_BODY_MAX, &policy, &spec, &err),
	    0);
	spec_free(spec);
	free(big);

	REJECT_BODY("{`name`:", RRERR_BAD_REQUEST, "",
	    "request body is not valid JSON: unexpected token near end of "
	    "file at line 1 column 8");
	REJECT_BODY("{`name`:`a`,\n`name`:`b`}", RRERR_BAD_REQUEST, "",
	    "request body is not valid JSON: duplicate object key near "
	    "'`name`' at line 2 column 6");
	REJECT_BODY("{`labels`:{`a`:`1`,`a`:`2`}}", RRERR_BAD_REQUEST, "",
	    "request body is not valid JSON: duplicate object key near "
	    "'`a`' at line 1 column 22");
	REJECT_BODY("", RRERR_BAD_REQUEST, "",
	    "request body is not valid "
	    "JSON: '[' or '{' expected near end of file at line 1 column 0");
	REJECT_BODY("{`name`:`a`} x", RRERR_BAD_REQUEST, "",
	    "request body "
	    "is not valid JSON: end of file expected near 'x' at line 1 "
	    "column 14");
	REJECT_BODY("[1]", RRERR_BAD_REQUEST, "",
	    "request body must be a JSON object");
	REJECT_BODY("{`name`:`a\\u0000b`}", RRERR_BAD_REQUEST, "",
	    "request body is not valid JSON: \\u0000 is not allowed without "
	    "JSON_ALLOW_NUL near '`a\\u0000b`' at line 1 column 18");

	/* spec_from_json() with a value that is not an object. */
	j = json_integer(1);
	assert_int_equal(spec_from_json(j, &policy, &spec, &err), -1);
	assert_int_equal(err.code, RRERR_BAD_REQUEST);
	assert_null(spec);
	json_decref(j);

	/* A NULL err and a NULL text are allowed. */
	assert_int_equal(spec_parse("[]", 2, &policy, &spec, NULL), -1);
	assert_int_equal(spec_parse(NULL, 0, &policy, &spec, &err), -1);
	assert_int_equal(err.code, RRERR_BAD_REQUEST);
}

static void
test_unknown_fields(void **state)
{
	(void)state;
	REJECT("`foo`:1", RRERR_INVALID, "foo", "foo: unknown field");
	REJECT("`Name`:`x`", RRERR_INVALID, "Name", "Name: unknown field");
	REJECT("`fo\\u0001o`:1", RRERR_INVALID, "fo?o", "fo?o: unknown field");
	REJECT("`blk`:[{`source`:`@/vol/disk1.img`,`size`:1}]", RRERR_INVALID,
	    "blk[0].size", "blk[0].size: unknown field");
	REJECT("`nics`:[{`backend`:{`type`:`tap`}},"
	       "{`backend`:{`type`:`tap`},`model`:`virtio`}]",
	    RRERR_INVALID, "nics[1].model", "nics[1].model: unknown field");
	REJECT("`nics`:[{`backend`:{`type`:`tap`,`bridge`:`br0`}}]",
	    RRERR_INVALID, "nics[0].backend.bridge",
	    "nics[0].backend.bridge: unknown field");
	REJECT("`nics`:[{`backend`:{`type`:`tap`},"
	       "`inet`:{`method`:`dhcp`,`mask`:`24`}}]",
	    RRERR_INVALID, "nics[0].inet.mask",
	    "nics[0].inet.mask: unknown field");
	REJECT("`nics`:[{`backend`:{`type`:`tap`},"
	       "`inet6`:{`method`:`auto`,`prefix`:64}}]",
	    RRERR_INVALID, "nics[0].inet6.prefix",
	    "nics[0].inet6.prefix: unknown field");
}

static void
test_types(void **state)
{
	(void)state;
	REJECT_BODY("{`name`:5,`image`:`@/img/hello.bin`}", RRERR_INVALID,
	    "name", "name: must be a string");
	REJECT("`memory_mib`:`64`", RRERR_INVALID, "memory_mib",
	    "memory_mib: must be an integer");
	REJECT("`memory_mib`:64.0", RRERR_INVALID, "memory_mib",
	    "memory_mib: must be an integer");
	REJECT("`vcpus`:true", RRERR_INVALID, "vcpus",
	    "vcpus: must be an integer");
	REJECT("`auto_remove`:`yes`", RRERR_INVALID, "auto_remove",
	    "auto_remove: must be a boolean");
	REJECT("`paused`:1", RRERR_INVALID, "paused",
	    "paused: must be a boolean");
	REJECT("`env`:`A=1`", RRERR_INVALID, "env",
	    "env: must be an object or an array");
	REJECT("`argv`:`x`", RRERR_INVALID, "argv", "argv: must be an array");
	REJECT("`argv`:[`x`,5]", RRERR_INVALID, "argv[1]",
	    "argv[1]: must be a string");
	REJECT("`labels`:[]", RRERR_INVALID, "labels",
	    "labels: must be an object");
	REJECT("`hostname`:null", RRERR_INVALID, "hostname",
	    "hostname: must be a string");
	REJECT("`blk`:{}", RRERR_INVALID, "blk", "blk: must be an array");
	REJECT("`blk`:[`x`]", RRERR_INVALID, "blk[0]",
	    "blk[0]: must be an object");
	REJECT("`blk`:[{`source`:`@/vol/disk1.img`,`readonly`:`yes`}]",
	    RRERR_INVALID, "blk[0].readonly",
	    "blk[0].readonly: must be a boolean");
	REJECT("`nics`:[{`backend`:`tap`}]", RRERR_INVALID, "nics[0].backend",
	    "nics[0].backend: must be an object");
	REJECT("`nics`:[{`backend`:{`type`:`tap`},`inet`:{`method`:4}}]",
	    RRERR_INVALID, "nics[0].inet.method",
	    "nics[0].inet.method: must be a string");
}

static void
test_required(void **state)
{
	(void)state;
	REJECT_BODY("{`image`:`@/img/hello.bin`}", RRERR_INVALID, "name",
	    "name: required");
	REJECT_BODY("{`name`:`web`}", RRERR_INVALID, "image",
	    "image: required");
	REJECT_BODY("{}", RRERR_INVALID, "name", "name: required");
	REJECT("`blk`:[{`readonly`:true}]", RRERR_INVALID, "blk[0].source",
	    "blk[0].source: required");
	REJECT("`nics`:[{}]", RRERR_INVALID, "nics[0].backend",
	    "nics[0].backend: required");
	REJECT("`nics`:[{`backend`:{`name`:`tap0`}}]", RRERR_INVALID,
	    "nics[0].backend.type", "nics[0].backend.type: required");
	REJECT("`nics`:[{`backend`:{`type`:`tap`},`inet6`:{}}]", RRERR_INVALID,
	    "nics[0].inet6.method", "nics[0].inet6.method: required");
}

static void
test_name(void **state)
{
	static const char *const bad[] = { "Web", "-web", ".web", "", "a b",
		"web/1", "wéb", NULL };
	static const char msg[] =
	    "name: must be 1 to 63 characters of a-z, "
	    "0-9, '_', '.' and '-', starting with a letter or a digit";
	const char *const *b;
	char *t, *longname;
	struct spec *spec;

	(void)state;
	for (b = bad; *b != NULL; b++) {
		assert_true(asprintf(&t,
				"{`name`:`%s`,"
				"`image`:`@/img/hello.bin`}",
				*b) != -1);
		REJECT_BODY(t, RRERR_INVALID, "name", msg);
		free(t);
	}
	longname = run_of('a', 64);
	assert_true(asprintf(&t, "{`name`:`%s`,`image`:`@/img/hello.bin`}",
			longname) != -1);
	REJECT_BODY(t, RRERR_INVALID, "name", msg);
	free(t);
	longname[63] = '\0';
	assert_true(asprintf(&t, "{`name`:`%s`,`image`:`@/img/hello.bin`}",
			longname) != -1);
	spec = ACCEPT_BODY(t);
	spec_free(spec);
	free(t);
	free(longname);
	spec = ACCEPT_BODY("{`name`:`0web_1.x-y`,`image`:`@/img/hello.bin`}");
	spec_free(spec);
}

static void
test_image(void **state)
{
	struct spec *spec;

	(void)state;
	REJECT_BODY("{`name`:`a`,`image`:`@/outside/disk.img`}",
	    RRERR_FORBIDDEN, "image",
	    "image: @/outside/disk.img is outside the allowed directories "
	    "(GET /v1/info and rrctl info list them)");
	REJECT_BODY("{`name`:`a`,`image`:`@/img/../vol/disk1.img`}",
	    RRERR_FORBIDDEN, "image",
	    "image: @/img/../vol/disk1.img is "
	    "outside the allowed directories (GET /v1/info and rrctl info "
	    "list them)");
	REJECT_BODY("{`name`:`a`,`image`:`@/img/nothing.bin`}", RRERR_INVALID,
	    "image", "image: @/img/nothing.bin does not exist");
	REJECT_BODY("{`name`:`a`,`image`:`@/img/dir`}", RRERR_INVALID, "image",
	    "image: @/img/dir is not a regular file");
	REJECT_BODY("{`name`:`a`,`image`:`img/hello.bin`}", RRERR_INVALID,
	    "image", "image: must be an absolute path");
	REJECT_BODY("{`name`:`a`,`image`:`@/img/\\thello.bin`}", RRERR_INVALID,
	    "image", "image: contains a control character");
	/* A '{' in the image's path would break the kvm command line. */
	REJECT_BODY("{`name`:`a`,`image`:`@/img/br{ace.bin`}", RRERR_INVALID,
	    "image",
	    "image: @/img/br{ace.bin contains '{', which a rumprun "
	    "guest on kvm would take for its configuration");
	spec = ACCEPT_BODY("{`name`:`a`,`image`:`@/img/br{ace.bin`,"
			   "`platform`:`xen`}");
	assert_string_equal(spec->argv[0], "br{ace.bin");
	spec_free(spec);
	/* No policy allows no image. */
	policy.image_dirs = NULL;
	REJECT("", RRERR_FORBIDDEN, "image",
	    "image: @/img/hello.bin is outside the allowed directories "
	    "(GET /v1/info and rrctl info list them)");
}

static void
test_platform_accel(void **state)
{
	struct spec *spec;

	(void)state;
	REJECT("`platform`:`qemu`", RRERR_INVALID, "platform",
	    "platform: must be `kvm`, `xen` or `iso`");
	REJECT("`accel`:`hvf`", RRERR_INVALID, "accel",
	    "accel: must be `kvm` or `tcg`");
	REJECT("`platform`:`xen`,`accel`:`kvm`", RRERR_INVALID, "accel",
	    "accel: only for platform kvm");
	REJECT("`accel`:`tcg`,`platform`:`xen`", RRERR_INVALID, "accel",
	    "accel: only for platform kvm");
	REJECT("`platform`:`xen`,`nics`:[{`backend`:{`type`:`bridge`,"
	       "`name`:`br0`}},{`backend`:{`type`:`tap`}}]",
	    RRERR_INVALID, "nics[1].backend.type",
	    "nics[1].backend.type: must be bridge on platform xen");
	REJECT("`platform`:`xen`,`blk`:[{`source`:`@/vol/disk1.img`},"
	       "{`source`:`@/vol/disk2.img`,`readonly`:true}]",
	    RRERR_INVALID, "blk[1].readonly",
	    "blk[1].readonly: not supported on platform "
	    "xen: a rumprun Xen guest cannot attach a read-only disk");
	spec = ACCEPT("`platform`:`xen`,`blk`:[{`source`:`@/vol/disk1.img`,"
		      "`readonly`:false}]");
	spec_free(spec);
	spec = ACCEPT("`platform`:`xen`");
	assert_int_equal(spec->platform, SPEC_PLATFORM_XEN);
	assert_string_equal(spec_platform_name(spec->platform), "xen");
	round_trip(spec);
	spec_free(spec);
	spec = ACCEPT("`accel`:`kvm`");
	assert_int_equal(spec->accel, SPEC_ACCEL_KVM);
	CANONICAL(spec,
	    "{`name`:`web`,`platform`:`kvm`,"
	    "`image`:`@/img/hello.bin`,`memory_mib`:64,`vcpus`:1,"
	    "`argv`:[`hello.bin`],`env`:[],`labels`:{},`blk`:[],`nics`:[],"
	    "`accel`:`kvm`,`auto_remove`:false,`paused`:false}");
	spec_free(spec);
	assert_string_equal(spec_platform_name(SPEC_PLATFORM_KVM), "kvm");
}

static void
test_memory_vcpus(void **state)
{
	struct spec *spec;

	(void)state;
	REJECT("`memory_mib`:7", RRERR_INVALID, "memory_mib",
	    "memory_mib: must be between 8 and 4096");
	REJECT("`memory_mib`:4097", RRERR_INVALID, "memory_mib",
	    "memory_mib: must be between 8 and 4096");
	REJECT("`memory_mib`:-1", RRERR_INVALID, "memory_mib",
	    "memory_mib: must be between 8 and 4096");
	REJECT("`memory_mib`:99999999999999", RRERR_INVALID, "memory_mib",
	    "memory_mib: must be between 8 and 4096");
	REJECT("`vcpus`:0", RRERR_INVALID, "vcpus",
	    "vcpus: must be between 1 and 8");
	REJECT("`vcpus`:9", RRERR_INVALID, "vcpus",
	    "vcpus: must be between 1 and 8");
	spec = ACCEPT("`memory_mib`:8,`vcpus`:8");
	assert_int_equal(spec->memory_mib, 8);
	assert_int_equal(spec->vcpus, 8);
	spec_free(spec);
	spec = ACCEPT("`memory_mib`:4096");
	spec_free(spec);

	policy.max_memory_mib = 256;
	policy.max_vcpus = 2;
	REJECT("`memory_mib`:257", RRERR_INVALID, "memory_mib",
	    "memory_mib: must be between 8 and 256");
	REJECT("`vcpus`:3", RRERR_INVALID, "vcpus",
	    "vcpus: must be between 1 and 2");
	spec = ACCEPT("`memory_mib`:256,`vcpus`:2");
	spec_free(spec);

	/* A policy below the default lowers the default. */
	policy.max_memory_mib = 32;
	spec = ACCEPT("");
	assert_int_equal(spec->memory_mib, 32);
	spec_free(spec);
}

static void
test_boot_timeout(void **state)
{
	struct spec *a, *b;

	(void)state;
	REJECT("`boot_timeout_s`:-1", RRERR_INVALID, "boot_timeout_s",
	    "boot_timeout_s: must be between 0 and 3600");
	REJECT("`boot_timeout_s`:3601", RRERR_INVALID, "boot_timeout_s",
	    "boot_timeout_s: must be between 0 and 3600");
	REJECT("`boot_timeout_s`:1.5", RRERR_INVALID, "boot_timeout_s",
	    "boot_timeout_s: must be an integer");
	REJECT("`boot_timeout_s`:`60`", RRERR_INVALID, "boot_timeout_s",
	    "boot_timeout_s: must be an integer");
	REJECT("`platform`:`iso`,`boot_timeout_s`:5", RRERR_INVALID,
	    "boot_timeout_s",
	    "boot_timeout_s: not for platform iso: an ISO "
	    "image is not an instance");
	/* 0 (never) is a value of its own, not "the daemon's setting". */
	a = ACCEPT("`boot_timeout_s`:0");
	assert_int_equal(a->boot_timeout_s, 0);
	CANONICAL(a,
	    "{`name`:`web`,`platform`:`kvm`,"
	    "`image`:`@/img/hello.bin`,`memory_mib`:64,`vcpus`:1,"
	    "`argv`:[`hello.bin`],`env`:[],`labels`:{},`blk`:[],`nics`:[],"
	    "`auto_remove`:false,`paused`:false,`boot_timeout_s`:0}");
	round_trip(a);
	b = ACCEPT("");
	assert_false(spec_equal(a, b));
	spec_free(b);
	b = ACCEPT("`boot_timeout_s`:3600");
	assert_int_equal(b->boot_timeout_s, 3600);
	round_trip(b);
	assert_false(spec_equal(a, b));
	spec_free(b);
	/* Idempotent create: the same value is the same launch. */
	b = ACCEPT("`boot_timeout_s`:0");
	assert_true(spec_equal(a, b));
	spec_free(b);
	spec_free(a);
}

static void
test_argv(void **state)
{
	struct spec *spec = NULL;
	struct rrerr err;
	char *t, *s;
	json_t *j;

	(void)state;
	/* The default is the basename of the resolved image. */
	spec = ACCEPT_BODY("{`name`:`a`,`image`:`@/img/link`}");
	assert_int_equal(spec->argc, 1);
	assert_string_equal(spec->argv[0], "hello.bin");
	spec_free(spec);
	spec = ACCEPT("`argv`:[]");
	assert_int_equal(spec->argc, 1);
	assert_string_equal(spec->argv[0], "hello.bin");
	spec_free(spec);
	REJECT_BODY("{`name`:`a`,`image`:`@/img/it's.bin`}", RRERR_INVALID,
	    "argv[0]",
	    "argv[0]: contains a single quote, which a rumprun "
	    "guest cannot receive");

	REJECT("`argv`:[``]", RRERR_INVALID, "argv[0]",
	    "argv[0]: must not be empty");
	REJECT("`argv`:[`x`,`it's`]", RRERR_INVALID, "argv[1]",
	    "argv[1]: contains a single quote, which a rumprun guest cannot "
	    "receive");
	REJECT("`argv`:[`x`,`a\\nb`]", RRERR_INVALID, "argv[1]",
	    "argv[1]: contains a control character");
	REJECT("`argv`:[`x`,`a\\u007fb`]", RRERR_INVALID, "argv[1]",
	    "argv[1]: contains a control character");
	spec = ACCEPT("`argv`:[`x`,``,`a\\\"b`,`c\\\\d`,`é`]");
	assert_int_equal(spec->argc, 5);
	assert_string_equal(spec->argv[2], "a\"b");
	assert_string_equal(spec->argv[3], "c\\d");
	spec_free(spec);

	/* Bounds: 64 entries of 1024 bytes. */
	s = repeat("`x`", SPEC_ARGS_MAX + 1);
	assert_true(asprintf(&t, "`argv`:%s", s) != -1);
	REJECT(t, RRERR_INVALID, "argv", "argv: must have at most 64 entries");
	free(t);
	free(s);
	s = repeat("`x`", SPEC_ARGS_MAX);
	assert_true(asprintf(&t, "`argv`:%s", s) != -1);
	spec = ACCEPT(t);
	assert_int_equal(spec->argc, SPEC_ARGS_MAX);
	spec_free(spec);
	free(t);
	free(s);
	s = run_of('a', SPEC_ARG_LEN_MAX + 1);
	assert_true(asprintf(&t, "`argv`:[`x`,`%s`]", s) != -1);
	REJECT(t, RRERR_INVALID, "argv[1]",
	    "argv[1]: must be at most 1024 bytes");
	free(t);
	s[SPEC_ARG_LEN_MAX] = '\0';
	assert_true(asprintf(&t, "`argv`:[`%s`]", s) != -1);
	spec = ACCEPT(t);
	spec_free(spec);
	free(t);
	free(s);

	/* A NUL inside a string (possible through spec_from_json()). */
	t = expand(BASE "}", true);
	j = json_loads(t, 0, NULL);
	free(t);
	json_object_set_new(j, "argv",
	    json_pack("[s, s%]", "ab", "a\0b", (size_t)3));
	assert_int_equal(spec_from_json(j, &policy, &spec, &err), -1);
	assert_string_equal(err.field, "argv[1]");
	assert_string_equal(err.message,
	    "argv[1]: contains a control character");
	json_decref(j);
}

static void
test_env(void **state)
{
	struct spec *a, *b;
	char *t, *s;

	(void)state;
	a = ACCEPT("`env`:{`A`:`1`,`_b`:`x=y`,`C`:``}");
	b = ACCEPT("`env`:[`A=1`,`_b=x=y`,`C=`]");
	assert_int_equal(a->nenv, 3);
	assert_string_equal(a->env[0], "A=1");
	assert_string_equal(a->env[1], "_b=x=y");
	assert_string_equal(a->env[2], "C=");
	assert_true(spec_equal(a, b));
	round_trip(a);
	spec_free(b);
	/* Order is kept, and matters. */
	b = ACCEPT("`env`:[`_b=x=y`,`A=1`,`C=`]");
	assert_false(spec_equal(a, b));
	spec_free(b);
	spec_free(a);

	REJECT("`env`:{`1A`:`x`}", RRERR_INVALID, "env.1A",
	    "env.1A: not a valid variable name ([A-Za-z_][A-Za-z0-9_]*)");
	REJECT("`env`:{`A-B`:`x`}", RRERR_INVALID, "env.A-B",
	    "env.A-B: not a valid variable name ([A-Za-z_][A-Za-z0-9_]*)");
	REJECT("`env`:{``:`x`}", RRERR_INVALID, "env.",
	    "env.: not a valid variable name ([A-Za-z_][A-Za-z0-9_]*)");
	REJECT("`env`:[`A=1`,`=x`]", RRERR_INVALID, "env[1]",
	    "env[1]: not a valid variable name ([A-Za-z_][A-Za-z0-9_]*)");
	REJECT("`env`:[`A=1`,`B`]", RRERR_INVALID, "env[1]",
	    "env[1]: must be NAME=VALUE");
	REJECT("`env`:[`A=1`,5]", RRERR_INVALID, "env[1]",
	    "env[1]: must be a string");
	REJECT("`env`:{`FOO`:5}", RRERR_INVALID, "env.FOO",
	    "env.FOO: must be a string");
	REJECT("`env`:[`FOO=1`,`BAR=2`,`FOO=3`]", RRERR_INVALID, "env[2]",
	    "env[2]: FOO is given twice");
	REJECT("`env`:{`FOO`:`a\\\"b`}", RRERR_INVALID, "env.FOO",
	    "env.FOO: contains '`' or '\\', which a rumprun guest cannot "
	    "receive");
	REJECT("`env`:[`FOO=a\\\\b`]", RRERR_INVALID, "env[0]",
	    "env[0]: contains '`' or '\\', which a rumprun guest cannot "
	    "receive");
	REJECT("`env`:{`FOO`:`a\\tb`}", RRERR_INVALID, "env.FOO",
	    "env.FOO: contains a control character");
	/* A single quote is fine outside argv. */
	a = ACCEPT("`env`:{`FOO`:`it's`}");
	assert_string_equal(a->env[0], "FOO=it's");
	spec_free(a);

	/* Bounds: 64 entries, 1024 bytes as NAME=VALUE. */
	s = repeat("`A=1`", SPEC_ENV_MAX + 1);
	assert_true(asprintf(&t, "`env`:%s", s) != -1);
	REJECT(t, RRERR_INVALID, "env", "env: must have at most 64 entries");
	free(t);
	free(s);
	s = run_of('v', SPEC_ENV_LEN_MAX - 2);
	assert_true(asprintf(&t, "`env`:{`AB`:`%s`}", s) != -1);
	REJECT(t, RRERR_INVALID, "env.AB",
	    "env.AB: NAME=VALUE must be at most 1024 bytes");
	free(t);
	assert_true(asprintf(&t, "`env`:{`A`:`%s`}", s) != -1);
	a = ACCEPT(t);
	assert_int_equal(strlen(a->env[0]), SPEC_ENV_LEN_MAX);
	spec_free(a);
	free(t);
	free(s);
}

static void
test_hostname(void **state)
{
	static const char msg[] =
	    "hostname: must be 1 to 63 letters, "
	    "digits and '-', starting and ending with a letter or a digit";
	struct spec *spec;
	char *t, *s;

	(void)state;
	spec = ACCEPT("`hostname`:`Web-1`");
	assert_string_equal(spec->hostname, "Web-1");
	CANONICAL(spec,
	    "{`name`:`web`,`platform`:`kvm`,"
	    "`image`:`@/img/hello.bin`,`memory_mib`:64,`vcpus`:1,"
	    "`argv`:[`hello.bin`],`env`:[],`hostname`:`Web-1`,`labels`:{},"
	    "`blk`:[],`nics`:[],`auto_remove`:false,`paused`:false}");
	spec_free(spec);
	spec = ACCEPT("`hostname`:`a`");
	spec_free(spec);
	REJECT("`hostname`:`-web`", RRERR_INVALID, "hostname", msg);
	REJECT("`hostname`:`web-`", RRERR_INVALID, "hostname", msg);
	REJECT("`hostname`:`a_b`", RRERR_INVALID, "hostname", msg);
	REJECT("`hostname`:`a.b`", RRERR_INVALID, "hostname", msg);
	REJECT("`hostname`:``", RRERR_INVALID, "hostname", msg);
	REJECT("`hostname`:`a\\\"b`", RRERR_INVALID, "hostname",
	    "hostname: contains '`' or '\\', which a rumprun guest cannot "
	    "receive");
	REJECT("`hostname`:`a\\nb`", RRERR_INVALID, "hostname",
	    "hostname: contains a control character");
	s = run_of('h', 64);
	assert_true(asprintf(&t, "`hostname`:`%s`", s) != -1);
	REJECT(t, RRERR_INVALID, "hostname", msg);
	free(t);
	free(s);
}

static void
test_labels(void **state)
{
	static const char keymsg[] =
	    "not a valid label key (1 to 63 "
	    "characters of A-Z, a-z, 0-9, '.', '_', '/' and '-', starting "
	    "with a letter or a digit)";
	struct spec *a, *b;
	char *t, *s, *m, *f, many[1024];
	size_t i, len;

	(void)state;
	a = ACCEPT("`labels`:{`team`:`infra`,`app.k8s.io/name`:`a \\\"b\\\"`,"
		   "`x`:``}");
	assert_int_equal(a->nlabels, 3);
	assert_string_equal(a->labels[1].key, "app.k8s.io/name");
	assert_string_equal(a->labels[1].value, "a \"b\"");
	/* Labels are a set: their order does not matter. */
	b = ACCEPT("`labels`:{`x`:``,`team`:`infra`,"
		   "`app.k8s.io/name`:`a \\\"b\\\"`}");
	assert_true(spec_equal(a, b));
	round_trip(a);
	spec_free(a);
	spec_free(b);

	assert_true(asprintf(&m, "labels.-x: %s", keymsg) != -1);
	REJECT("`labels`:{`-x`:`1`}", RRERR_INVALID, "labels.-x", m);
	free(m);
	assert_true(asprintf(&m, "labels.a b: %s", keymsg) != -1);
	REJECT("`labels`:{`a b`:`1`}", RRERR_INVALID, "labels.a b", m);
	free(m);
	REJECT("`labels`:{`team`:5}", RRERR_INVALID, "labels.team",
	    "labels.team: must be a string");
	REJECT("`labels`:{`team`:`a\\nb`}", RRERR_INVALID, "labels.team",
	    "labels.team: contains a control character");
	s = run_of('v', SPEC_LABEL_VALUE_MAX + 1);
	assert_true(asprintf(&t, "`labels`:{`team`:`%s`}", s) != -1);
	REJECT(t, RRERR_INVALID, "labels.team",
	    "labels.team: must be at most 255 bytes");
	free(t);
	free(s);
	s = run_of('k', SPEC_LABEL_KEY_MAX + 1);
	assert_true(asprintf(&t, "`labels`:{`%s`:`1`}", s) != -1);
	assert_true(asprintf(&f, "labels.%s", s) != -1);
	assert_true(asprintf(&m, "%s: %s", f, keymsg) != -1);
	REJECT(t, RRERR_INVALID, f, m);
	free(f);
	free(m);
	free(t);
	free(s);

	/* At most 32 labels. */
	len = (size_t)snprintf(many, sizeof(many), "`labels`:{");
	for (i = 0; i <= SPEC_LABELS_MAX; i++)
		len += (size_t)snprintf(many + len, sizeof(many) - len,
		    "%s`k%zu`:`v`", i > 0 ? "," : "", i);
	snprintf(many + len, sizeof(many) - len, "}");
	REJECT(many, RRERR_INVALID, "labels",
	    "labels: must have at most 32 entries");
}

static void
test_blk(void **state)
{
	struct spec *spec;
	char *t, *s;

	(void)state;
	spec = ACCEPT(
	    "`blk`:[{`source`:`@/vol/disk1.img`,`mountpoint`:"
	    "`/data/www`,`readonly`:true},{`source`:`@/vol/disk2.img`,"
	    "`mountpoint`:`/a.b/c+d/e_f-g`}]");
	assert_int_equal(spec->nblk, 2);
	assert_string_equal(spec->blk[0].mountpoint, "/data/www");
	round_trip(spec);
	spec_free(spec);

	REJECT("`blk`:[{`source`:`@/outside/disk.img`}]", RRERR_FORBIDDEN,
	    "blk[0].source",
	    "blk[0].source: @/outside/disk.img is outside "
	    "the allowed directories (GET /v1/info and rrctl info list them)");
	REJECT("`blk`:[{`source`:`@/img/hello.bin`}]", RRERR_FORBIDDEN,
	    "blk[0].source",
	    "blk[0].source: @/img/hello.bin is outside "
	    "the allowed directories (GET /v1/info and rrctl info list them)");
	REJECT("`blk`:[{`source`:`@/vol/disk1.img`},{`source`:`@/vol/none`}]",
	    RRERR_INVALID, "blk[1].source",
	    "blk[1].source: @/vol/none does not exist");
	REJECT("`blk`:[{`source`:`vol/disk1.img`}]", RRERR_INVALID,
	    "blk[0].source", "blk[0].source: must be an absolute path");
	REJECT("`blk`:[{`source`:`@/vol/disk1.img`},{`source`:`@/vol/d1`}]",
	    RRERR_INVALID, "blk[1].source",
	    "blk[1].source: is the same file as blk[0].source");

	REJECT("`blk`:[{`source`:`@/vol/disk1.img`,`mountpoint`:`data`}]",
	    RRERR_INVALID, "blk[0].mountpoint",
	    "blk[0].mountpoint: must be an absolute path");
	REJECT("`blk`:[{`source`:`@/vol/disk1.img`,`mountpoint`:`/data/`}]",
	    RRERR_INVALID, "blk[0].mountpoint",
	    "blk[0].mountpoint: must be "
	    "made of '/' and letters, digits, '_', '.', '+' and '-', without "
	    "an empty component");
	REJECT("`blk`:[{`source`:`@/vol/disk1.img`,`mountpoint`:`/`}]",
	    RRERR_INVALID, "blk[0].mountpoint",
	    "blk[0].mountpoint: must be "
	    "made of '/' and letters, digits, '_', '.', '+' and '-', without "
	    "an empty component");
	REJECT("`blk`:[{`source`:`@/vol/disk1.img`,`mountpoint`:`/a//b`}]",
	    RRERR_INVALID, "blk[0].mountpoint",
	    "blk[0].mountpoint: must be "
	    "made of '/' and letters, digits, '_', '.', '+' and '-', without "
	    "an empty component");
	REJECT("`blk`:[{`source`:`@/vol/disk1.img`,`mountpoint`:`/da ta`}]",
	    RRERR_INVALID, "blk[0].mountpoint",
	    "blk[0].mountpoint: must be "
	    "made of '/' and letters, digits, '_', '.', '+' and '-', without "
	    "an empty component");
	REJECT("`blk`:[{`source`:`@/vol/disk1.img`,`mountpoint`:`/a/../b`}]",
	    RRERR_INVALID, "blk[0].mountpoint",
	    "blk[0].mountpoint: must not have a '.' or '..' component");
	REJECT("`blk`:[{`source`:`@/vol/disk1.img`,`mountpoint`:`/.`}]",
	    RRERR_INVALID, "blk[0].mountpoint",
	    "blk[0].mountpoint: must not have a '.' or '..' component");
	REJECT("`blk`:[{`source`:`@/vol/disk1.img`,`mountpoint`:`/a\\\"`}]",
	    RRERR_INVALID, "blk[0].mountpoint",
	    "blk[0].mountpoint: "
	    "contains '`' or '\\', which a rumprun guest cannot receive");
	REJECT("`blk`:[{`source`:`@/vol/disk1.img`,`mountpoint`:`/a\\tb`}]",
	    RRERR_INVALID, "blk[0].mountpoint",
	    "blk[0].mountpoint: contains a control character");
	REJECT("`blk`:[{`source`:`@/vol/disk1.img`,`mountpoint`:`/d`},"
	       "{`source`:`@/vol/disk2.img`,`mountpoint`:`/d`}]",
	    RRERR_INVALID, "blk[1].mountpoint",
	    "blk[1].mountpoint: is the "
	    "same mount point as blk[0].mountpoint");
	s = run_of('m', 255);
	s[0] = '/';
	assert_true(asprintf(&t,
			"`blk`:[{`source`:`@/vol/disk1.img`,"
			"`mountpoint`:`%s`}]",
			s) != -1);
	spec = ACCEPT(t);
	spec_free(spec);
	free(t);
	free(s);
	s = run_of('m', 256);
	s[0] = '/';
	assert_true(asprintf(&t,
			"`blk`:[{`source`:`@/vol/disk1.img`,"
			"`mountpoint`:`%s`}]",
			s) != -1);
	REJECT(t, RRERR_INVALID, "blk[0].mountpoint",
	    "blk[0].mountpoint: must be at most 255 bytes");
	free(t);
	free(s);

	s = repeat("{`source`:`@/vol/disk1.img`}", SPEC_BLK_MAX + 1);
	assert_true(asprintf(&t, "`blk`:%s", s) != -1);
	REJECT(t, RRERR_INVALID, "blk", "blk: must have at most 16 entries");
	free(t);
	free(s);
}

static void
test_backend(void **state)
{
	struct spec *spec;
	char *t, *s;

	(void)state;
	spec = ACCEPT("`nics`:[{`backend`:{`type`:`tap`}},"
		      "{`backend`:{`type`:`tap`,`name`:`tap0`}},"
		      "{`backend`:{`type`:`bridge`,`name`:`br0`}},"
		      "{`backend`:{`type`:`bridge`,`name`:`br0`}},"
		      "{`backend`:{`type`:`network`,`name`:`default`}},"
		      "{`backend`:{`type`:`tap`}}]");
	assert_int_equal(spec->nnics, 6);
	assert_int_equal(spec->nics[4].type, SPEC_NIC_NETWORK);
	round_trip(spec);
	spec_free(spec);

	REJECT("`nics`:[{`backend`:{`type`:`bridge`,`name`:`br9`}}]",
	    RRERR_FORBIDDEN, "nics[0].backend.name",
	    "nics[0].backend.name: "
	    "bridge `br9` is not allowed by the operator");
	REJECT("`nics`:[{`backend`:{`type`:`tap`}},"
	       "{`backend`:{`type`:`network`,`name`:`br0`}}]",
	    RRERR_FORBIDDEN, "nics[1].backend.name",
	    "nics[1].backend.name: "
	    "network `br0` is not allowed by the operator");
	REJECT("`nics`:[{`backend`:{`type`:`bridge`}}]", RRERR_INVALID,
	    "nics[0].backend.name",
	    "nics[0].backend.name: required for type bridge");
	REJECT("`nics`:[{`backend`:{`type`:`network`}}]", RRERR_INVALID,
	    "nics[0].backend.name",
	    "nics[0].backend.name: required for type network");
	REJECT("`nics`:[{`backend`:{`type`:`vde`}}]", RRERR_INVALID,
	    "nics[0].backend.type",
	    "nics[0].backend.type: must be `tap`, "
	    "`bridge` or `network`");
	REJECT("`nics`:[{`backend`:{`type`:`tap`,`name`:`tap0123456789abc`}}]",
	    RRERR_INVALID, "nics[0].backend.name",
	    "nics[0].backend.name: "
	    "must be 1 to 15 letters, digits, '_', '.' and '-'");
	REJECT("`nics`:[{`backend`:{`type`:`tap`,`name`:`a b`}}]",
	    RRERR_INVALID, "nics[0].backend.name",
	    "nics[0].backend.name: "
	    "must be 1 to 15 letters, digits, '_', '.' and '-'");
	REJECT("`nics`:[{`backend`:{`type`:`tap`,`name`:``}}]", RRERR_INVALID,
	    "nics[0].backend.name",
	    "nics[0].backend.name: "
	    "must be 1 to 15 letters, digits, '_', '.' and '-'");
	REJECT("`nics`:[{`backend`:{`name`:`tap0`,`type`:`tap`}},"
	       "{`backend`:{`type`:`tap`}},"
	       "{`backend`:{`type`:`tap`,`name`:`tap0`}}]",
	    RRERR_INVALID, "nics[2].backend.name",
	    "nics[2].backend.name: "
	    "tap `tap0` is already used by nics[0]");

	s = repeat("{`backend`:{`type`:`tap`}}", SPEC_NICS_MAX + 1);
	assert_true(asprintf(&t, "`nics`:%s", s) != -1);
	REJECT(t, RRERR_INVALID, "nics", "nics: must have at most 8 entries");
	free(t);
	free(s);

	/* A policy without lists allows no bridge and no network. */
	policy.bridges = NULL;
	policy.networks = NULL;
	REJECT("`nics`:[{`backend`:{`type`:`bridge`,`name`:`br0`}}]",
	    RRERR_FORBIDDEN, "nics[0].backend.name",
	    "nics[0].backend.name: "
	    "bridge `br0` is not allowed by the operator");
	REJECT("`nics`:[{`backend`:{`type`:`network`,`name`:`default`}}]",
	    RRERR_FORBIDDEN, "nics[0].backend.name",
	    "nics[0].backend.name: "
	    "network `default` is not allowed by the operator");
}

#define TAP "{`backend`:{`type`:`tap`}"

static void
test_mac(void **state)
{
	static const char *const malformed[] = { "52-54-00-12-34-56",
		"52:54:00:12:34", "52:54:00:12:34:5g", "52:54:00:12:34:567",
		"5254.0012.3456", "", " 52:54:00:12:34:56", NULL };
	const char *const *m;
	struct spec *spec;
	char *t;

	(void)state;
	spec = ACCEPT("`nics`:[" TAP ",`mac`:`52:54:00:AB:cd:EF`}]");
	assert_string_equal(spec->nics[0].mac, "52:54:00:ab:cd:ef");
	spec_free(spec);
	spec = ACCEPT("`nics`:[" TAP ",`mac`:`02:00:00:00:00:01`}]");
	spec_free(spec);
	for (m = malformed; *m != NULL; m++) {
		assert_true(
		    asprintf(&t, "`nics`:[" TAP ",`mac`:`%s`}]", *m) != -1);
		REJECT(t, RRERR_INVALID, "nics[0].mac",
		    "nics[0].mac: must be "
		    "six hexadecimal octets separated by ':'");
		free(t);
	}
	REJECT("`nics`:[" TAP ",`mac`:`01:00:5e:00:00:01`}]", RRERR_INVALID,
	    "nics[0].mac", "nics[0].mac: must be a unicast address");
	REJECT("`nics`:[" TAP ",`mac`:`FF:FF:FF:FF:FF:FF`}]", RRERR_INVALID,
	    "nics[0].mac", "nics[0].mac: must be a unicast address");
	REJECT("`nics`:[" TAP ",`mac`:`00:00:00:00:00:00`}]", RRERR_INVALID,
	    "nics[0].mac", "nics[0].mac: must not be all zeros");
	REJECT("`nics`:[" TAP ",`mac`:`52:54:00:ab:cd:ef`}," TAP "}," TAP
	       ",`mac`:`52:54:00:AB:CD:EF`}]",
	    RRERR_INVALID, "nics[2].mac",
	    "nics[2].mac: is the same MAC as nics[0].mac");
}

static void
test_inet(void **state)
{
	struct spec *spec;

	(void)state;
	spec = ACCEPT("`nics`:[" TAP ",`inet`:{`method`:`static`,"
		      "`addr`:`192.168.1.20/32`}}]");
	assert_string_equal(spec->nics[0].addr, "192.168.1.20");
	assert_int_equal(spec->nics[0].prefixlen, 32);
	assert_null(spec->nics[0].gw);
	round_trip(spec);
	spec_free(spec);
	spec = ACCEPT("`nics`:[" TAP ",`inet`:{`addr`:`10.1.2.3/8`,"
		      "`method`:`static`,`gw`:`10.0.0.1`}}]");
	assert_int_equal(spec->nics[0].prefixlen, 8);
	spec_free(spec);

	REJECT("`nics`:[" TAP "}," TAP ",`inet`:{`method`:`static`,"
	       "`addr`:`10.0.0.2`}}]",
	    RRERR_INVALID, "nics[1].inet.addr",
	    "nics[1].inet.addr: not an IPv4 CIDR");
	REJECT("`nics`:[" TAP ",`inet`:{`method`:`static`,"
	       "`addr`:`10.0.0.256/24`}}]",
	    RRERR_INVALID, "nics[0].inet.addr",
	    "nics[0].inet.addr: not an IPv4 CIDR");
	REJECT("`nics`:[" TAP ",`inet`:{`method`:`static`,"
	       "`addr`:`10.0.0.2/24x`}}]",
	    RRERR_INVALID, "nics[0].inet.addr",
	    "nics[0].inet.addr: not an IPv4 CIDR");
	REJECT("`nics`:[" TAP ",`inet`:{`method`:`static`,"
	       "`addr`:`10.0.0.2/`}}]",
	    RRERR_INVALID, "nics[0].inet.addr",
	    "nics[0].inet.addr: not an IPv4 CIDR");
	REJECT("`nics`:[" TAP ",`inet`:{`method`:`static`,"
	       "`addr`:`fd00::2/64`}}]",
	    RRERR_INVALID, "nics[0].inet.addr",
	    "nics[0].inet.addr: not an IPv4 CIDR");
	REJECT("`nics`:[" TAP ",`inet`:{`method`:`static`,"
	       "`addr`:`10.0.0.2/33`}}]",
	    RRERR_INVALID, "nics[0].inet.addr",
	    "nics[0].inet.addr: prefix length must be between 1 and 32");
	REJECT("`nics`:[" TAP ",`inet`:{`method`:`static`,"
	       "`addr`:`10.0.0.2/0`}}]",
	    RRERR_INVALID, "nics[0].inet.addr",
	    "nics[0].inet.addr: prefix length must be between 1 and 32");
	REJECT("`nics`:[" TAP ",`inet`:{`method`:`static`,"
	       "`addr`:`10.0.0.2\\\"/24`}}]",
	    RRERR_INVALID, "nics[0].inet.addr",
	    "nics[0].inet.addr: contains '`' or '\\', which a rumprun guest "
	    "cannot receive");
	REJECT("`nics`:[" TAP ",`inet`:{`method`:`static`,"
	       "`addr`:`10.0.0.2/24`,`gw`:`10.0.0`}}]",
	    RRERR_INVALID, "nics[0].inet.gw",
	    "nics[0].inet.gw: not an IPv4 address");
	REJECT("`nics`:[" TAP ",`inet`:{`method`:`static`,"
	       "`addr`:`10.0.0.2/24`,`gw`:`fd00::1`}}]",
	    RRERR_INVALID, "nics[0].inet.gw",
	    "nics[0].inet.gw: not an IPv4 address");
	REJECT("`nics`:[" TAP ",`inet`:{`method`:`static`}}]", RRERR_INVALID,
	    "nics[0].inet.addr",
	    "nics[0].inet.addr: required for method static");
	REJECT("`nics`:[" TAP ",`inet`:{`method`:`static`,"
	       "`gw`:`10.0.0.1`}}]",
	    RRERR_INVALID, "nics[0].inet.addr",
	    "nics[0].inet.addr: required for method static");
	REJECT("`nics`:[" TAP ",`inet`:{`method`:`dhcp`,"
	       "`addr`:`10.0.0.2/24`}}]",
	    RRERR_INVALID, "nics[0].inet.addr",
	    "nics[0].inet.addr: only with method static");
	REJECT("`nics`:[" TAP ",`inet`:{`method`:`dhcp`,"
	       "`gw`:`10.0.0.1`}}]",
	    RRERR_INVALID, "nics[0].inet.gw",
	    "nics[0].inet.gw: only with method static");
	REJECT("`nics`:[" TAP ",`inet`:{`method`:`auto`}}]", RRERR_INVALID,
	    "nics[0].inet.method",
	    "nics[0].inet.method: must be `dhcp` or `static`");
}

static void
test_inet6(void **state)
{
	struct spec *spec;

	(void)state;
	spec = ACCEPT("`nics`:[" TAP ",`inet6`:{`method`:`static`,"
		      "`addr`:`FD00:0:0::0002/128`,`gw`:`FE80::1`}}]");
	assert_int_equal(spec->nics[0].inet6, SPEC_INET6_STATIC);
	assert_string_equal(spec->nics[0].addr6, "fd00::2");
	assert_int_equal(spec->nics[0].prefixlen6, 128);
	assert_string_equal(spec->nics[0].gw6, "fe80::1");
	CANONICAL(spec,
	    "{`name`:`web`,`platform`:`kvm`,"
	    "`image`:`@/img/hello.bin`,`memory_mib`:64,`vcpus`:1,"
	    "`argv`:[`hello.bin`],`env`:[],`labels`:{},`blk`:[],"
	    "`nics`:[{`backend`:{`type`:`tap`},`inet6`:{`method`:`static`,"
	    "`addr`:`fd00::2/128`,`gw`:`fe80::1`}}],"
	    "`auto_remove`:false,`paused`:false}");
	round_trip(spec);
	spec_free(spec);
	spec = ACCEPT("`nics`:[" TAP ",`inet6`:{`method`:`auto`},"
		      "`inet`:{`method`:`dhcp`}}]");
	assert_int_equal(spec->nics[0].inet6, SPEC_INET6_AUTO);
	assert_int_equal(spec->nics[0].inet, SPEC_INET_DHCP);
	spec_free(spec);

	REJECT("`nics`:[" TAP ",`inet6`:{`method`:`static`,"
	       "`addr`:`10.0.0.2/24`}}]",
	    RRERR_INVALID, "nics[0].inet6.addr",
	    "nics[0].inet6.addr: not an IPv6 CIDR");
	REJECT("`nics`:[" TAP ",`inet6`:{`method`:`static`,"
	       "`addr`:`fd00::2`}}]",
	    RRERR_INVALID, "nics[0].inet6.addr",
	    "nics[0].inet6.addr: not an IPv6 CIDR");
	REJECT("`nics`:[" TAP ",`inet6`:{`method`:`static`,"
	       "`addr`:`fd00::2%eth0/64`}}]",
	    RRERR_INVALID, "nics[0].inet6.addr",
	    "nics[0].inet6.addr: not an IPv6 CIDR");
	REJECT("`nics`:[" TAP ",`inet6`:{`method`:`static`,"
	       "`addr`:`fd00::2/129`}}]",
	    RRERR_INVALID, "nics[0].inet6.addr",
	    "nics[0].inet6.addr: prefix length must be between 1 and 128");
	REJECT("`nics`:[" TAP ",`inet6`:{`method`:`static`,"
	       "`addr`:`fd00::2/64`,`gw`:`fd00::g`}}]",
	    RRERR_INVALID, "nics[0].inet6.gw",
	    "nics[0].inet6.gw: not an IPv6 address");
	REJECT("`nics`:[" TAP ",`inet6`:{`method`:`static`}}]", RRERR_INVALID,
	    "nics[0].inet6.addr",
	    "nics[0].inet6.addr: required for method static");
	REJECT("`nics`:[" TAP ",`inet6`:{`method`:`auto`,"
	       "`addr`:`fd00::2/64`}}]",
	    RRERR_INVALID, "nics[0].inet6.addr",
	    "nics[0].inet6.addr: only with method static");
	REJECT("`nics`:[" TAP ",`inet6`:{`method`:`auto`,"
	       "`gw`:`fd00::1`}}]",
	    RRERR_INVALID, "nics[0].inet6.gw",
	    "nics[0].inet6.gw: only with method static");
	REJECT("`nics`:[" TAP ",`inet6`:{`method`:`dhcp`}}]", RRERR_INVALID,
	    "nics[0].inet6.method",
	    "nics[0].inet6.method: must be `auto` or `static`");
}

static void
test_equal_free(void **state)
{
	struct spec *a, *b;

	(void)state;
	assert_true(spec_equal(NULL, NULL));
	a = ACCEPT("");
	assert_false(spec_equal(a, NULL));
	assert_false(spec_equal(NULL, a));
	assert_true(spec_equal(a, a));
	b = ACCEPT("`memory_mib`:65");
	assert_false(spec_equal(a, b));
	spec_free(b);
	/* Defaults written out are the same launch. */
	b = ACCEPT(
	    "`platform`:`kvm`,`memory_mib`:64,`vcpus`:1,"
	    "`argv`:[`hello.bin`],`env`:[],`labels`:{},`blk`:[],`nics`:[],"
	    "`auto_remove`:false,`paused`:false");
	assert_true(spec_equal(a, b));
	spec_free(b);
	b = ACCEPT("`paused`:true");
	assert_false(spec_equal(a, b));
	spec_free(b);
	spec_free(a);
	spec_free(NULL);
	assert_null(spec_to_json(NULL));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_minimal, reset_policy),
		cmocka_unit_test_setup(test_full, reset_policy),
		cmocka_unit_test_setup(test_body, reset_policy),
		cmocka_unit_test_setup(test_unknown_fields, reset_policy),
		cmocka_unit_test_setup(test_types, reset_policy),
		cmocka_unit_test_setup(test_required, reset_policy),
		cmocka_unit_test_setup(test_name, reset_policy),
		cmocka_unit_test_setup(test_image, reset_policy),
		cmocka_unit_test_setup(test_platform_accel, reset_policy),
		cmocka_unit_test_setup(test_memory_vcpus, reset_policy),
		cmocka_unit_test_setup(test_boot_timeout, reset_policy),
		cmocka_unit_test_setup(test_argv, reset_policy),
		cmocka_unit_test_setup(test_env, reset_policy),
		cmocka_unit_test_setup(test_hostname, reset_policy),
		cmocka_unit_test_setup(test_labels, reset_policy),
		cmocka_unit_test_setup(test_blk, reset_policy),
		cmocka_unit_test_setup(test_backend, reset_policy),
		cmocka_unit_test_setup(test_mac, reset_policy),
		cmocka_unit_test_setup(test_inet, reset_policy),
		cmocka_unit_test_setup(test_inet6, reset_policy),
		cmocka_unit_test_setup(test_equal_free, reset_policy),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
