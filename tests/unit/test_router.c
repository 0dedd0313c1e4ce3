/*
 * Tests of the route matcher (api/router.c): patterns, {param} segments,
 * percent-encoding, the table's order, HEAD on GET routes and the
 * 404-or-405 decision with its Allow list.  Pure functions: no server, no
 * socket.  What the server does with the answer (the 404 and 405 bodies,
 * the Allow header, a 400 for a decoded '/' in a parameter) is tested
 * through real sockets in test_httpd.c's test_routing.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <string.h>

#include "router.h"

static void
handler(struct httpd_req *req, void *ctx)
{
	(void)req;
	(void)ctx;
}

/* Does path match pattern?  The parameters go to names and vals. */
static bool
m(const char *pattern, const char *path, size_t *np, struct router_span *names,
    struct router_span *vals)
{
	return router_match(pattern, path, names, vals, ROUTER_MAX_PARAMS, np);
}

static void
assert_span(const struct router_span *s, const char *want)
{
	assert_int_equal(s->n, strlen(want));
	assert_memory_equal(s->p, want, s->n);
}

static void
test_literal(void **state)
{
	struct router_span names[ROUTER_MAX_PARAMS], vals[ROUTER_MAX_PARAMS];
	size_t n = 99;

	(void)state;
	assert_true(m("/v1/info", "/v1/info", &n, names, vals));
	assert_int_equal(n, 0);
	assert_true(m("/", "/", &n, names, vals));
	assert_false(m("/v1/info", "/v1/info/", &n, names, vals));
	assert_false(m("/v1/info", "/v1/inf", &n, names, vals));
	assert_false(m("/v1/info", "/v1/infos", &n, names, vals));
	assert_false(m("/v1/info", "/v1", &n, names, vals));
	assert_false(m("/v1/info", "/v1/info/x", &n, names, vals));
	assert_false(m("/v1/info", "//v1/info", &n, names, vals));
	assert_false(m("/v1/info", "v1/info", &n, names, vals));
	assert_false(m("v1/info", "v1/info", &n, names, vals));
	assert_false(m("/v1/info", "", &n, names, vals));
	/* Case matters. */
	assert_false(m("/v1/info", "/V1/info", &n, names, vals));
	/* A literal segment may be percent-encoded, in either case. */
	assert_true(m("/v1/info", "/v1/%69nfo", &n, names, vals));
	assert_true(m("/v1/info", "/%76%31/info", &n, names, vals));
	assert_true(m("/v1/a-b", "/v1/a%2db", &n, names, vals));
	assert_true(m("/v1/a-b", "/v1/a%2Db", &n, names, vals));
	/* A bad escape matches nothing. */
	assert_false(m("/v1/info", "/v1/%zznfo", &n, names, vals));
	assert_false(m("/v1/info", "/v1/info%", &n, names, vals));
	/* An encoded '/' is no separator. */
	assert_false(m("/v1/info", "/v1%2finfo", &n, names, vals));
}

static void
test_params(void **state)
{
	struct router_span names[ROUTER_MAX_PARAMS], vals[ROUTER_MAX_PARAMS];
	size_t n;

	(void)state;
	assert_true(m("/v1/unikernels/{name}/logs", "/v1/unikernels/a%20b/logs",
	    &n, names, vals));
	assert_int_equal(n, 1);
	assert_span(&names[0], "name");
	/* Raw: the caller decodes. */
	assert_span(&vals[0], "a%20b");

	assert_true(m("/v1/echo/{name}/x/{other}", "/v1/echo/a/x/c%C3%A9", &n,
	    names, vals));
	assert_int_equal(n, 2);
	assert_span(&names[0], "name");
	assert_span(&vals[0], "a");
	assert_span(&names[1], "other");
	assert_span(&vals[1], "c%C3%A9");

	/* An encoded '/' stays in the one segment (httpd.c refuses it). */
	assert_true(m("/v1/unikernels/{name}", "/v1/unikernels/a%2Fb", &n,
	    names, vals));
	assert_span(&vals[0], "a%2Fb");

	/* A parameter is one segment, never empty. */
	assert_false(
	    m("/v1/unikernels/{name}", "/v1/unikernels/", &n, names, vals));
	assert_false(
	    m("/v1/unikernels/{name}", "/v1/unikernels", &n, names, vals));
	assert_false(
	    m("/v1/unikernels/{name}", "/v1/unikernels/a/b", &n, names, vals));
	assert_false(m("/v1/unikernels/{name}/logs", "/v1/unikernels//logs", &n,
	    names, vals));

	/* A parameter as the first segment, and braces that are literal. */
	assert_true(m("/{a}", "/x", &n, names, vals));
	assert_int_equal(n, 1);
	assert_false(m("/{a", "/x", &n, names, vals));
	assert_true(m("/{a", "/{a", &n, names, vals));
	assert_int_equal(n, 0);
}

static void
test_max_params(void **state)
{
	struct router_span names[ROUTER_MAX_PARAMS], vals[ROUTER_MAX_PARAMS];
	size_t n;

	(void)state;
	assert_int_equal(ROUTER_MAX_PARAMS, 8);
	assert_true(m("/{a}/{b}/{c}/{d}/{e}/{f}/{g}/{h}", "/1/2/3/4/5/6/7/8",
	    &n, names, vals));
	assert_int_equal(n, 8);
	assert_span(&names[7], "h");
	assert_span(&vals[7], "8");
	/* More parameters than max: no match. */
	assert_false(m("/{a}/{b}/{c}/{d}/{e}/{f}/{g}/{h}/{i}",
	    "/1/2/3/4/5/6/7/8/9", &n, names, vals));
	assert_true(router_match("/{a}", "/1", names, vals, 1, &n));
	assert_false(router_match("/{a}/{b}", "/1/2", names, vals, 1, &n));
}

static void
test_pct_decode(void **state)
{
	char buf[32];

	(void)state;
	assert_int_equal(router_pct_decode("a%20b", 5, buf), 3);
	assert_string_equal(buf, "a b");
	assert_int_equal(router_pct_decode("c%C3%a9", 7, buf), 3);
	assert_string_equal(buf, "c\xc3\xa9");
	assert_int_equal(router_pct_decode("%2F", 3, buf), 1);
	assert_string_equal(buf, "/");
	/* Only n bytes are read. */
	assert_int_equal(router_pct_decode("abcdef", 3, buf), 3);
	assert_string_equal(buf, "abc");
	assert_int_equal(router_pct_decode("", 0, buf), 0);
	assert_string_equal(buf, "");
	/* A NUL byte decodes (the caller checks for it). */
	assert_int_equal(router_pct_decode("a%00b", 5, buf), 3);
	assert_int_equal(buf[1], '\0');
	/* Malformed escapes. */
	assert_int_equal(router_pct_decode("%", 1, buf), -1);
	assert_int_equal(router_pct_decode("a%2", 3, buf), -1);
	assert_int_equal(router_pct_decode("%g0", 3, buf), -1);
	assert_int_equal(router_pct_decode("%0g", 3, buf), -1);
	assert_int_equal(router_pct_decode("%%41", 4, buf), -1);
}

static const struct httpd_route table[] = {
	{ "GET", "/v1/echo/{name}/x/{other}", handler },
	{ "DELETE", "/v1/echo/{name}/x/{other}", handler },
	{ "GET", "/v1/things", handler },
	{ "POST", "/v1/things", handler },
	{ "POST", "/v1/only-post", handler },
	{ "GET", "/v1/order/{x}", handler },
	{ "GET", "/v1/order/literal", handler },
	{ "DELETE", "/v1/order/literal", handler },
	{ "GET", "/v1/dup/{a}", handler },
	{ "GET", "/v1/{b}/y", handler },
};
#define NTABLE (sizeof(table) / sizeof(table[0]))

/* Find method and path in table: the index of the route, or -1. */
static int
find(const char *method, const char *path, size_t *np, char *allow,
    size_t allowsize, struct router_span *vals)
{
	struct router_span names[ROUTER_MAX_PARAMS];
	const struct httpd_route *r;

	r = router_find(table, NTABLE, method, path, names, vals, np, allow,
	    allowsize);
	return r == NULL ? -1 : (int)(r - table);
}

static void
test_find(void **state)
{
	struct router_span vals[ROUTER_MAX_PARAMS];
	char allow[128];
	size_t n;

	(void)state;
	/* Found: the parameters are the found route's. */
	memset(allow, 'x', sizeof(allow));
	assert_int_equal(find("GET", "/v1/echo/a/x/b", &n, allow, sizeof(allow),
			     vals),
	    0);
	assert_int_equal(n, 2);
	assert_span(&vals[1], "b");
	assert_int_equal(find("DELETE", "/v1/echo/a/x/b", &n, allow,
			     sizeof(allow), vals),
	    1);
	assert_int_equal(find("POST", "/v1/things", &n, allow, sizeof(allow),
			     vals),
	    3);
	assert_int_equal(n, 0);

	/* HEAD wherever GET is, and nowhere else. */
	assert_int_equal(find("HEAD", "/v1/things", &n, allow, sizeof(allow),
			     vals),
	    2);
	assert_int_equal(find("HEAD", "/v1/only-post", &n, allow, sizeof(allow),
			     vals),
	    -1);
	assert_string_equal(allow, "POST");

	/* The first route of the table wins. */
	assert_int_equal(find("GET", "/v1/order/literal", &n, allow,
			     sizeof(allow), vals),
	    5);
	assert_int_equal(n, 1);
	assert_int_equal(find("DELETE", "/v1/order/literal", &n, allow,
			     sizeof(allow), vals),
	    7);
	assert_int_equal(n, 0);

	/* No pattern matches: 404, allow empty. */
	memset(allow, 'x', sizeof(allow));
	assert_int_equal(find("GET", "/nope", &n, allow, sizeof(allow), vals),
	    -1);
	assert_string_equal(allow, "");
	assert_int_equal(n, 0);
	assert_int_equal(find("POST", "/v1/echo/a/x/", &n, allow, sizeof(allow),
			     vals),
	    -1);
	assert_string_equal(allow, "");

	/* A pattern matches, no method: 405 and the methods, in order. */
	assert_int_equal(find("POST", "/v1/echo/a/x/b", &n, allow,
			     sizeof(allow), vals),
	    -1);
	assert_string_equal(allow, "GET, HEAD, DELETE");
	assert_int_equal(n, 0);
	assert_int_equal(find("PUT", "/v1/things", &n, allow, sizeof(allow),
			     vals),
	    -1);
	assert_string_equal(allow, "GET, HEAD, POST");
	/* Each method once, however many routes match. */
	assert_int_equal(find("POST", "/v1/dup/y", &n, allow, sizeof(allow),
			     vals),
	    -1);
	assert_string_equal(allow, "GET, HEAD");
	/* Methods are case-sensitive. */
	assert_int_equal(find("get", "/v1/things", &n, allow, sizeof(allow),
			     vals),
	    -1);
	assert_string_equal(allow, "GET, HEAD, POST");

	/* An empty table: 404. */
	assert_null(router_find(table, 0, "GET", "/v1/things", vals, vals, &n,
	    allow, sizeof(allow)));
	assert_string_equal(allow, "");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_literal),
		cmocka_unit_test(test_params),
		cmocka_unit_test(test_max_params),
		cmocka_unit_test(test_pct_decode),
		cmocka_unit_test(test_find),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
