/*
 * Tests of the engine's restart policies on the fake backend (as
 * test_engine.c: a real libuv loop, real records and console logs in a
 * scratch directory, the in-memory hypervisor of backends/fake.c): a
 * restart is a new generation with a new domain and a separator in the
 * log; max_retries ends it; a stop cancels a backoff; the backoff deadline
 * is in the record; a changed boot id brings an always instance back.
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

#include "engine.h"
#include "fake.h"
#include "fixture.h"
#include "fx_engine.h"
#include "instance.h"
#include "spec.h"

#define WAIT_MS 8000

static json_t *
get(const char *name)
{
	struct rrerr err;
	json_t *v = engine_get(eng, name, &err);

	assert_non_null(v);
	return v;
}

struct want {
	const char *name;
	const char *state;
	json_int_t generation; /* 0: any */
};

static bool
in_state(void *arg)
{
	struct want *w = arg;
	json_t *v = get(w->name);
	bool ok;

	ok = strcmp(json_string_value(json_object_get(v, "state")), w->state) ==
		0 &&
	    (w->generation == 0 ||
		json_integer_value(json_object_get(v, "generation")) ==
		    w->generation);
	json_decref(v);
	return ok;
}

static void
wait_state(const char *name, const char *state, json_int_t generation)
{
	struct want w = { name, state, generation };
	char what[128];

	snprintf(what, sizeof(what), "%s to be %s (generation %lld)", name,
	    state, (long long)generation);
	run_until(in_state, &w, what);
}

static const char *
domain_of(const char *name)
{
	static char buf[BACKEND_DOMAIN_NAME_MAX];
	json_t *v = get(name);

	snprintf(buf, sizeof(buf), "%s",
	    json_string_value(json_object_get(v, "domain")));
	json_decref(v);
	return buf;
}

static void
write_boot_id(const char *id)
{
	FILE *f = fopen(fx_path("boot_id"), "w");

	assert_non_null(f);
	fprintf(f, "%s\n", id);
	fclose(f);
}

static int
setup(void **state)
{
	static const struct fx_node boot_id[] = {
		{ 'f', "boot_id", "11111111-1111-1111-1111-111111111111\n" },
		{ 0, NULL, NULL },
	};

	(void)state;
	fx_wait_ms = WAIT_MS;
	fx_boot_id = true;
	return fx_engine_setup(boot_id);
}

static int
teardown(void **state)
{
	(void)state;
	return fx_engine_teardown();
}

/* Launch {"name":name,"image":...,"restart":{restart}}. */
static void
launch(const char *name, const char *restart)
{
	struct result r;
	char text[2048];

	snprintf(text, sizeof(text),
	    "{\"name\":\"%s\",\"image\":\"%s\","
	    "\"restart\":{%s}}",
	    name, fx_path("images/app"), restart);
	r = fx_launch(text);
	assert_false(r.failed);
	json_decref(r.body);
}

static void
guest_exits(const char *name, int status)
{
	char text[256];

	snprintf(text, sizeof(text),
	    "=== calling \"app\" main() ===\n"
	    "=== main() of \"app\" returned %d ===\nhalted\n",
	    status);
	assert_int_equal(fake_console(domain_of(name), text), 0);
}

static json_t *
restart_of(json_t *v)
{
	return json_object_get(v, "restart");
}

static void
test_on_failure_restarts_then_gives_up(void **state)
{
	char first[BACKEND_DOMAIN_NAME_MAX], log[4096];
	json_t *v;
	FILE *f;
	size_t n;

	(void)state;
	launch("a",
	    "\"policy\":\"on-failure\",\"max_retries\":1,"
	    "\"backoff_initial_s\":0");
	snprintf(first, sizeof(first), "%s", domain_of("a"));
	guest_exits("a", 0 + 1);
	wait_state("a", "starting", 2);
	v = get("a");
	assert_string_not_equal(json_string_value(json_object_get(v, "domain")),
	    first);
	assert_int_equal(json_integer_value(
			     json_object_get(restart_of(v), "count")),
	    1);
	assert_int_equal(json_integer_value(json_object_get(restart_of(v),
			     "last_exit_status")),
	    1);
	json_decref(v);
	assert_int_equal(fake_domain_get(first, &(struct fake_domain){ 0 }),
	    -1);

	guest_exits("a", 1);
	wait_state("a", "exited", 2);
	v = get("a");
	assert_string_equal(json_string_value(json_object_get(v, "reason")),
	    "restart policy on-failure: gave up after 1 restart");
	json_decref(v);

	f = fopen(fx_path("logs/a.log"), "r");
	assert_non_null(f);
	n = fread(log, 1, sizeof(log) - 1, f);
	fclose(f);
	log[n] = '\0';
	assert_non_null(strstr(log,
	    ": restart 1 (generation 2): exit status "
	    "1 ---\n"));
}

/* Exit 0 under on-failure: no restart. */
static void
test_on_failure_exit_0(void **state)
{
	(void)state;
	launch("a", "\"policy\":\"on-failure\",\"backoff_initial_s\":0");
	guest_exits("a", 0);
	wait_state("a", "exited", 1);
}

/* A stop cancels a backoff; the next restart never comes. */
static void
test_stop_in_backoff(void **state)
{
	struct result r;
	json_t *v;

	(void)state;
	launch("a",
	    "\"policy\":\"always\",\"backoff_initial_s\":60,"
	    "\"backoff_max_s\":60");
	guest_exits("a", 0);
	wait_state("a", "backoff", 1);
	v = get("a");
	assert_non_null(
	    json_string_value(json_object_get(restart_of(v), "next_attempt")));
	json_decref(v);
	memset(&r, 0, sizeof(r));
	engine_stop(eng, "a", false, -1, on_reply, &r);
	run_until(replied, &r, "the stop reply");
	assert_false(r.failed);
	assert_string_equal(json_string_value(json_object_get(r.body, "state")),
	    "stopped");
	json_decref(r.body);
}

/* A start in backoff starts the next generation now, as the operator's. */
static void
test_start_in_backoff(void **state)
{
	struct result r;
	json_t *v;

	(void)state;
	launch("a",
	    "\"policy\":\"always\",\"backoff_initial_s\":60,"
	    "\"backoff_max_s\":60");
	guest_exits("a", 0);
	wait_state("a", "backoff", 1);
	memset(&r, 0, sizeof(r));
	engine_start(eng, "a", on_reply, &r);
	run_until(replied, &r, "the start reply");
	assert_false(r.failed);
	json_decref(r.body);
	wait_state("a", "starting", 2);
	v = get("a");
	/* Not the policy's restart: not counted. */
	assert_int_equal(json_integer_value(
			     json_object_get(restart_of(v), "count")),
	    0);
	assert_true(
	    json_is_null(json_object_get(restart_of(v), "next_attempt")));
	json_decref(v);
}

/* The deadline is in the record: the same after a restart of the engine. */
static void
test_backoff_survives_restart(void **state)
{
	char before[64];
	json_t *v;

	(void)state;
	launch("a", "\"policy\":\"always\",\"backoff_initial_s\":2");
	guest_exits("a", 0);
	wait_state("a", "backoff", 1);
	v = get("a");
	snprintf(before, sizeof(before), "%s",
	    json_string_value(json_object_get(restart_of(v), "next_attempt")));
	json_decref(v);
	close_engine();
	open_engine();
	v = get("a");
	assert_string_equal(json_string_value(json_object_get(v, "state")),
	    "backoff");
	assert_string_equal(json_string_value(
				json_object_get(restart_of(v), "next_attempt")),
	    before);
	json_decref(v);
	wait_state("a", "starting", 2);
}

/* A new boot id: the host rebooted; always comes back, no ends crashed. */
static void
test_host_reboot(void **state)
{
	char dom_a[BACKEND_DOMAIN_NAME_MAX], dom_b[BACKEND_DOMAIN_NAME_MAX];
	struct result r;
	json_t *v;

	(void)state;
	launch("a", "\"policy\":\"always\"");
	launch("b", "\"policy\":\"no\"");
	snprintf(dom_a, sizeof(dom_a), "%s", domain_of("a"));
	snprintf(dom_b, sizeof(dom_b), "%s", domain_of("b"));
	/* The same boot id: a restart of rumprund adopts, restarts nothing. */
	close_engine();
	open_engine();
	wait_state("a", "starting", 1);
	assert_string_equal(domain_of("a"), dom_a);
	close_engine();
	/* The "reboot": the domains are gone, the boot id is new. */
	assert_int_equal(fake_end(dom_a, BACKEND_EVENT_STOPPED, ""), 0);
	assert_int_equal(fake_end(dom_b, BACKEND_EVENT_STOPPED, ""), 0);
	write_boot_id("22222222-2222-2222-2222-222222222222");
	open_engine();
	wait_state("a", "starting", 2);
	v = get("b");
	assert_string_equal(json_string_value(json_object_get(v, "state")),
	    "crashed");
	assert_string_equal(json_string_value(json_object_get(v, "reason")),
	    "the host rebooted while it ran (a new kernel boot id)");
	json_decref(v);
	v = get("a");
	assert_string_equal(json_string_value(
				json_object_get(restart_of(v), "why")),
	    "the host rebooted");
	json_decref(v);
	memset(&r, 0, sizeof(r));
	engine_stop(eng, "a", true, 0, on_reply, &r);
	run_until(replied, &r, "the stop reply");
	json_decref(r.body);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
		    test_on_failure_restarts_then_gives_up, setup, teardown),
		cmocka_unit_test_setup_teardown(test_on_failure_exit_0, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_stop_in_backoff, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_start_in_backoff, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_backoff_survives_restart,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_host_reboot, setup,
		    teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
