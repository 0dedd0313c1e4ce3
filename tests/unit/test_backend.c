/*
 * Tests of the backend interface (daemon/backend.h): the one format of a
 * domain name and the one test of it (daemon/backend.c; the format's
 * exact text and length are pinned in test_kvm_xml.c), and its promise
 * that an optional op left NULL is unsupported, not a crash: an engine on
 * the fake backend without release, stats, addresses and pause.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backend.h"
#include "collect.h"
#include "engine.h"
#include "fake.h"
#include "fixture.h"
#include "fx_engine.h"
#include "httpd.h"
#include "spec.h"

#define OWNER "3f0c2a1e-9b7d-4c55-8e21-0d6f4a7b9c10"
#define OTHER "3f0c2a1f-9b7d-4c55-8e21-0d6f4a7b9c10"

/*
 * Every name backend_domain_name() gives passes backend_domain_has_prefix()
 * with its owner's prefix and with BACKEND_DOMAIN_PREFIX, never with the
 * prefix of an owner whose first 8 characters differ; and the parts read
 * back from the name are the parts it was made of.
 */
static void
test_name_round_trip(void **state)
{
	static const char *instances[] = {
		"a",
		"web-1",
		"x-1-2",
		"0",
		"db.primary_2",
	};
	static const unsigned int gens[] = { 1, 2, 10, 4294967295u };
	static const uint32_t tags[] = { 0, 0xa, 0x5d2a04c7, 0xffffffffu };
	char name[BACKEND_DOMAIN_NAME_MAX], mine[BACKEND_DOMAIN_NAME_MAX];
	char theirs[BACKEND_DOMAIN_NAME_MAX], inst[BACKEND_DOMAIN_NAME_MAX];
	char want[BACKEND_DOMAIN_NAME_MAX];
	size_t i, g, t, plen, nlen;
	unsigned int gen;
	uint32_t tag;
	int used;

	(void)state;
	backend_domain_prefix(OWNER, mine, sizeof(mine));
	backend_domain_prefix(OTHER, theirs, sizeof(theirs));
	assert_string_equal(mine, "rr-3f0c2a1e-");
	assert_string_not_equal(mine, theirs);
	plen = strlen(mine);
	for (i = 0; i < sizeof(instances) / sizeof(instances[0]); i++)
		for (g = 0; g < sizeof(gens) / sizeof(gens[0]); g++)
			for (t = 0; t < sizeof(tags) / sizeof(tags[0]); t++) {
				backend_domain_name(OWNER, instances[i],
				    gens[g], tags[t], name, sizeof(name));
				assert_true(
				    backend_domain_has_prefix(name, mine));
				assert_true(backend_domain_has_prefix(name,
				    BACKEND_DOMAIN_PREFIX));
				assert_false(
				    backend_domain_has_prefix(name, theirs));
				/* Read back from the right: "-<generation>-<8 hex>". */
				nlen = strlen(name);
				assert_true(nlen > plen + 11);
				assert_int_equal(sscanf(name + nlen - 8,
						     "%8x%n", &tag, &used),
				    1);
				assert_int_equal(used, 8);
				assert_int_equal(tag, tags[t]);
				assert_int_equal(name[nlen - 9], '-');
				snprintf(inst, sizeof(inst), "%.*s",
				    (int)(nlen - 9 - plen), name + plen);
				snprintf(want, sizeof(want), "%s-%u",
				    instances[i], gens[g]);
				assert_string_equal(inst, want);
				assert_int_equal(sscanf(strrchr(inst, '-') + 1,
						     "%u", &gen),
				    1);
				assert_int_equal(gen, gens[g]);
			}
}

/* The test of a name: a plain prefix match; NULL is no name. */
static void
test_has_prefix(void **state)
{
	(void)state;
	assert_false(backend_domain_has_prefix(NULL, "rr-"));
	assert_false(backend_domain_has_prefix("", "rr-"));
	assert_false(backend_domain_has_prefix("rr", "rr-"));
	assert_false(
	    backend_domain_has_prefix("xr-3f0c2a1e-a-1-00000000", "rr-"));
	assert_true(backend_domain_has_prefix("rr-", "rr-"));
	assert_true(backend_domain_has_prefix("rr-3f0c2a1e-a-1-00000000",
	    "rr-3f0c2a1e-"));
	assert_false(backend_domain_has_prefix("rr-3f0c2a1e-a-1-00000000",
	    "rr-3f0c2a1f-"));
	/* A name of an owner shorter than 8 characters. */
	assert_true(backend_domain_has_prefix("rr-ab-x-12-0000000a", "rr-ab-"));
}

/* An engine (fx_engine.h) on lean_ops: the fake backend with only the
 * mandatory ops. */
static struct backend_ops lean_ops;

static int
setup_lean(void **state)
{
	(void)state;
	lean_ops = backend_fake_ops;
	lean_ops.release = NULL;
	lean_ops.stats = NULL;
	lean_ops.addresses = NULL;
	lean_ops.pause = NULL;
	fx_kvm_ops = &lean_ops;
	/* The longest wait: a collection (COLLECT_WAIT_MS), and then some. */
	fx_wait_ms = COLLECT_WAIT_MS + 5000;
	return fx_engine_setup(NULL);
}

static int
teardown_lean(void **state)
{
	(void)state;
	return fx_engine_teardown();
}

struct snap {
	bool done;
	bool ok;
	struct rrerr err;
};

static void
on_snap(void *arg, const struct collect_snapshot *cs)
{
	struct snap *s = arg;

	assert_non_null(cs);
	s->done = true;
	s->ok = cs->ok[SPEC_PLATFORM_KVM];
	s->err = cs->err[SPEC_PLATFORM_KVM];
}

static bool
snapped(void *arg)
{
	return ((struct snap *)arg)->done;
}

/*
 * Every optional op NULL: a guest with NICs launches, runs, stops and is
 * removed as on any backend (release); its NIC addresses are never asked
 * for (addresses); a pause is refused with a 4xx naming the backend, and
 * the guest keeps running (pause); the counters are reported unavailable
 * for this backend, without a call (stats).
 */
static void
test_optional_ops_null(void **state)
{
	struct fx_want_state running = { "a", "running" };
	struct fx_want_state stopped = { "a", "stopped" };
	struct spec *spec;
	struct result r;
	struct snap sn;
	struct rrerr err;
	char text[1024];
	enum fake_op op;

	(void)state;
	snprintf(text, sizeof(text),
	    "{\"name\":\"a\",\"image\":\"%s\","
	    "\"nics\":[{\"backend\":{\"type\":\"tap\"},\"inet\":"
	    "{\"method\":\"dhcp\"}}]}",
	    fx_path("images/app"));
	if (spec_parse(text, strlen(text), &policy, &spec, &err) == -1)
		fail_msg("spec_parse: %s", err.message);
	memset(&r, 0, sizeof(r));
	engine_launch(eng, spec, on_reply, &r);
	run_until(replied, &r, "the launch reply");
	assert_false(r.failed);
	assert_int_equal(r.outcome, ENGINE_CREATED);
	json_decref(r.body);
	assert_int_equal(fake_console(fx_domain_of("a"),
			     "=== calling \"app\" main() ===\n"),
	    0);
	run_until(fx_in_state, &running, "running");

	memset(&r, 0, sizeof(r));
	engine_pause(eng, "a", on_reply, &r);
	run_until(replied, &r, "the pause reply");
	assert_true(r.failed);
	assert_int_equal(r.err.code, RRERR_CONFLICT);
	assert_int_equal(httpd_status_for(r.err.code), 409);
	assert_string_equal(r.err.field, "platform");
	assert_non_null(strstr(r.err.message, "fake backend cannot pause"));
	assert_true(fx_in_state(&running));

	memset(&sn, 0, sizeof(sn));
	collect_get(engine_collector(eng), 0, on_snap, &sn);
	run_until(snapped, &sn, "a collection");
	assert_false(sn.ok);
	assert_int_equal(sn.err.code, RRERR_UNAVAILABLE);
	assert_non_null(strstr(sn.err.message,
	    "fake backend cannot read a guest's counters"));

	/* Longer than the first address query waits after a launch. */
	run_for(1500);

	memset(&r, 0, sizeof(r));
	engine_stop(eng, "a", true, 0, on_reply, &r);
	run_until(replied, &r, "the stop reply");
	assert_false(r.failed);
	json_decref(r.body);
	run_until(fx_in_state, &stopped, "stopped");
	memset(&r, 0, sizeof(r));
	engine_remove(eng, "a", false, on_reply, &r);
	run_until(replied, &r, "the remove reply");
	assert_false(r.failed);
	json_decref(r.body);
	assert_int_equal(fake_ndomains(), 0);
	for (op = FAKE_OP_STATS; op <= FAKE_OP_PAUSE; op++)
		assert_int_equal(fake_calls(op), 0);
	assert_int_equal(fake_calls(FAKE_OP_LAUNCH), 1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_name_round_trip),
		cmocka_unit_test(test_has_prefix),
		cmocka_unit_test_setup_teardown(test_optional_ops_null,
		    setup_lean, teardown_lean),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
