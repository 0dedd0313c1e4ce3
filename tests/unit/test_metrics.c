/*
 * Tests of the counters (daemon/metrics.c) and the collector
 * (daemon/collect.c) on the fake backend: a real libuv loop and engine,
 * an in-memory hypervisor whose CPU time a test sets (fake_set_cpu()).
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

#include "collect.h"
#include "engine.h"
#include "fake.h"
#include "fixture.h"
#include "fx_engine.h"
#include "instance.h"
#include "metrics.h"
#include "spec.h"

#define WAIT_MS 5000

static int
setup(void **state)
{
	(void)state;
	fx_wait_ms = COLLECT_WAIT_MS + WAIT_MS;
	metrics_reset();
	return fx_engine_setup(NULL);
}

static int
teardown(void **state)
{
	(void)state;
	return fx_engine_teardown();
}

static void
launch(const char *name)
{
	struct result r;
	char text[2048];

	snprintf(text, sizeof(text), "{\"name\":\"%s\",\"image\":\"%s\"}", name,
	    fx_path("images/app"));
	r = fx_launch(text);
	assert_false(r.failed);
	json_decref(r.body);
}

static void
wait_state(const char *name, const char *state)
{
	struct fx_want_state w = { name, state };

	run_until(fx_in_state, &w, state);
}

/* The text of /metrics now, and the value of one sample line in it. */
static char *
render(const struct collect_snapshot *snap)
{
	size_t len;
	char *text = metrics_render(eng, snap, &len);

	assert_non_null(text);
	assert_int_equal(strlen(text), len);
	return text;
}

static double
sample(const char *text, const char *key)
{
	const char *p = text;
	size_t n = strlen(key);

	while ((p = strstr(p, key)) != NULL) {
		if ((p == text || p[-1] == '\n') && p[n] == ' ')
			return strtod(p + n + 1, NULL);
		p += n;
	}
	return -1;
}

struct got {
	bool done;
	bool kvm_ok;
	char kvm_err[RRERR_MESSAGE_MAX];
	int64_t time_ms;
	size_t nstats;
	uint64_t cpu_ns;
	char domain[BACKEND_DOMAIN_NAME_MAX];
	char *text;
};

static void
on_snap(void *arg, const struct collect_snapshot *snap)
{
	struct got *g = arg;
	const struct backend_stats *st;

	g->done = true;
	assert_non_null(snap);
	g->time_ms = snap->time_ms;
	g->nstats = snap->nstats;
	g->kvm_ok = snap->ok[SPEC_PLATFORM_KVM];
	snprintf(g->kvm_err, sizeof(g->kvm_err), "%s",
	    snap->err[SPEC_PLATFORM_KVM].message);
	if ((st = collect_find(snap, g->domain)) != NULL)
		g->cpu_ns = st->cpu_ns;
	g->text = render(snap);
}

static bool
got_done(void *arg)
{
	return ((struct got *)arg)->done;
}

static void
collect(struct got *g, const char *name, int64_t since)
{
	memset(g, 0, sizeof(*g));
	snprintf(g->domain, sizeof(g->domain), "%s", fx_domain_of(name));
	collect_get(engine_collector(eng), since, on_snap, g);
	run_until(got_done, g, "a collection");
}

static void
test_counters(void **state)
{
	char *text;

	(void)state;
	text = render(NULL);
	assert_true(sample(text,
			"rumprund_instances{state=\"running\","
			"platform=\"kvm\"}") == 0);
	assert_true(sample(text,
			"rumprund_backend_connected{backend="
			"\"kvm\"}") == 1);
	/* Xen is not configured here: no sample for it. */
	assert_null(strstr(text, "backend=\"xen\""));
	free(text);

	launch("a");
	assert_int_equal(fake_console(fx_domain_of("a"),
			     "=== calling \"app\" main() ===\n"),
	    0);
	wait_state("a", "running");
	launch("b");
	assert_int_equal(
	    fake_console(fx_domain_of("b"),
		"=== calling \"app\" main() ===\nPANIC: boom\nhalted\n"),
	    0);
	wait_state("b", "crashed");

	text = render(NULL);
	assert_true(sample(text,
			"rumprund_instances{state=\"running\","
			"platform=\"kvm\"}") == 1);
	assert_true(sample(text,
			"rumprund_instances{state=\"crashed\","
			"platform=\"kvm\"}") == 1);
	assert_true(
	    sample(text, "rumprund_launches_total{platform=\"kvm\"}") == 2);
	assert_true(
	    sample(text, "rumprund_crashes_total{platform=\"kvm\"}") == 1);
	assert_true(
	    sample(text, "rumprund_failures_total{platform=\"kvm\"}") == 0);
	assert_true(sample(text,
			"rumprund_launch_duration_seconds_count"
			"{platform=\"kvm\"}") == 2);
	assert_true(sample(text,
			"rumprund_launch_duration_seconds_bucket"
			"{platform=\"kvm\",le=\"+Inf\"}") == 2);
	assert_true(sample(text, "rumprund_console_bytes_total") > 30);
	metrics_restart(SPEC_PLATFORM_KVM);
	free(text);
	text = render(NULL);
	assert_true(
	    sample(text, "rumprund_restarts_total{platform=\"kvm\"}") == 1);
	free(text);
}

static void
test_collector(void **state)
{
	struct got g1, g2, g3;

	(void)state;
	launch("a");
	assert_int_equal(fake_set_cpu(fx_domain_of("a"), 1500000000ULL), 0);
	collect(&g1, "a", 0);
	assert_int_equal(g1.nstats, 1);
	assert_true(g1.cpu_ns == 1500000000ULL);
	assert_true(sample(g1.text,
			"rumprund_guest_cpu_seconds_total"
			"{name=\"a\",platform=\"kvm\"}") == 1.5);
	assert_true(sample(g1.text,
			"rumprund_guest_memory_bytes"
			"{name=\"a\",platform=\"kvm\"}") == 64 << 20);
	/* The fake has no RSS: no sample rather than a made-up one. */
	assert_null(strstr(g1.text, "rumprund_guest_memory_rss_bytes{"));
	free(g1.text);

	/* Within the second: the same collection, the backend not asked. */
	assert_int_equal(fake_set_cpu(fx_domain_of("a"), 2500000000ULL), 0);
	collect(&g2, "a", 0);
	assert_int_equal(fake_calls(FAKE_OP_STATS), 1);
	assert_true(g2.time_ms == g1.time_ms);
	assert_true(g2.cpu_ns == 1500000000ULL);
	free(g2.text);

	/* Wanting one newer than that: asked again. */
	usleep(2000);
	collect(&g3, "a", g1.time_ms + 1);
	assert_int_equal(fake_calls(FAKE_OP_STATS), 2);
	assert_true(g3.cpu_ns == 2500000000ULL);
	free(g3.text);

	/* A failing backend: no guest samples, and said per platform. */
	fake_fail(FAKE_OP_STATS, 1, RRERR_UNAVAILABLE, "gone");
	usleep(2000);
	collect(&g3, "a", g3.time_ms + 1);
	assert_int_equal(g3.nstats, 0);
	assert_null(strstr(g3.text, "rumprund_guest_cpu_seconds_total{"));
	free(g3.text);
}

/* A hypervisor that does not answer holds no request past the wait. */
static void
test_collector_stalled(void **state)
{
	struct got g1, g2, g3;
	uint64_t t0;
	int i;

	(void)state;
	launch("a");
	fake_stall_stats(true);
	t0 = uv_hrtime() / 1000000;
	collect(&g1, "a", 0);
	assert_true(uv_hrtime() / 1000000 - t0 >= COLLECT_WAIT_MS - 10);
	assert_false(g1.kvm_ok);
	assert_non_null(strstr(g1.kvm_err, "did not answer"));
	assert_int_equal(g1.nstats, 0);
	/* Our own counters are there; the guest's are not. */
	assert_true(sample(g1.text,
			"rumprund_launches_total{platform="
			"\"kvm\"}") == 1);
	assert_null(strstr(g1.text, "rumprund_guest_cpu_seconds_total{"));
	free(g1.text);

	/* While it still hangs, a request is answered at once. */
	t0 = uv_hrtime() / 1000000;
	collect(&g2, "a", 0);
	assert_true(uv_hrtime() / 1000000 - t0 < 1000);
	assert_false(g2.kvm_ok);
	free(g2.text);

	/* It answers at last: the next request has the guest again. */
	fake_stall_stats(false);
	for (i = 0; i < 100; i++) {
		usleep(20000);
		collect(&g3, "a", instance_now_ms());
		if (g3.kvm_ok)
			break;
		free(g3.text);
	}
	assert_true(g3.kvm_ok);
	assert_int_equal(g3.nstats, 1);
	free(g3.text);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_counters, setup, teardown),
		cmocka_unit_test_setup_teardown(test_collector, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_collector_stalled, setup,
		    teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
