/*
 * Tests of the fake backend (backends/fake.c) that the engine's unit tests
 * stand on: it must behave like the kvm backend where the engine can see.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backend.h"
#include "fake.h"
#include "spec.h"

#define OWNER "0123abcd-0000-4000-8000-000000000000"

static struct backend_event seen[64];
static size_t nseen;
static char tmpdir[64];

static void
on_event(void *arg, const struct backend_event *ev)
{
	(void)arg;
	if (nseen < sizeof(seen) / sizeof(seen[0]))
		seen[nseen++] = *ev;
}

static int
setup(void **state)
{
	(void)state;
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/rr-test-fake.XXXXXX");
	return mkdtemp(tmpdir) != NULL ? 0 : -1;
}

static int
teardown(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

static int
each_setup(void **state)
{
	(void)state;
	fake_reset();
	nseen = 0;
	return 0;
}

struct launch {
	struct spec spec;
	char *argv[1];
	char domain[BACKEND_DOMAIN_NAME_MAX];
	char log[128];
	const char *macs[1];
	struct spec_nic nic;
	struct backend_launch l;
};

static void
launch_init(struct launch *x, const char *name)
{
	memset(x, 0, sizeof(*x));
	x->argv[0] = "app";
	x->spec.name = (char *)(uintptr_t)name;
	x->spec.platform = SPEC_PLATFORM_KVM;
	x->spec.image = "/img/app.bin";
	x->spec.memory_mib = 64;
	x->spec.vcpus = 1;
	x->spec.argv = x->argv;
	x->spec.argc = 1;
	x->nic.type = SPEC_NIC_TAP;
	x->spec.nics = &x->nic;
	x->spec.nnics = 1;
	x->macs[0] = "52:54:00:00:00:01";
	backend_domain_name(OWNER, name, 1, 0x5d2a04c7, x->domain,
	    sizeof(x->domain));
	snprintf(x->log, sizeof(x->log), "%s/%s.log", tmpdir, name);
	x->l.spec = &x->spec;
	x->l.owner = OWNER;
	x->l.domain_name = x->domain;
	x->l.generation = 2;
	x->l.guest_config = "{\"cmdline\":\"app\"}";
	x->l.console_log = x->log;
	x->l.macs = x->macs;
}

static struct backend *
open_fake(void)
{
	struct backend_config cfg = { .owner = OWNER };
	struct rrerr err;
	struct backend *b;

	b = backend_fake_ops.open(&cfg, on_event, NULL, &err);
	assert_non_null(b);
	return b;
}

static void
test_lifecycle(void **state)
{
	struct backend *b;
	struct launch x;
	struct rrerr err;
	struct backend_domain *list;
	struct fake_domain d;
	size_t n;

	(void)state;
	b = open_fake();
	launch_init(&x, "web");
	assert_int_equal(backend_fake_ops.launch(b, &x.l, &err), 0);
	assert_int_equal(nseen, 1);
	assert_int_equal(seen[0].type, BACKEND_EVENT_STARTED);
	assert_string_equal(seen[0].domain_name, x.domain);
	assert_int_equal(access(x.log, F_OK), 0);

	assert_int_equal(fake_domain_get(x.domain, &d), 0);
	assert_string_equal(d.guest_config, "{\"cmdline\":\"app\"}");
	assert_string_equal(d.macs[0], "52:54:00:00:00:01");
	assert_int_equal(d.generation, 2);
	fake_domain_clear(&d);

	/* The same name again is a conflict. */
	assert_int_equal(backend_fake_ops.launch(b, &x.l, &err), -1);
	assert_int_equal(err.code, RRERR_CONFLICT);

	assert_int_equal(backend_fake_ops.list(b, OWNER, &list, &n, &err), 0);
	assert_int_equal(n, 1);
	assert_string_equal(list[0].instance, "web");
	assert_true(list[0].running);
	free(list);
	assert_int_equal(backend_fake_ops.list(b, "other", &list, &n, &err), 0);
	assert_int_equal(n, 0);
	free(list);

	assert_int_equal(fake_console(x.domain,
			     "=== main() of \"app\" "
			     "returned 0 ===\n"),
	    0);

	assert_int_equal(backend_fake_ops.destroy(b, x.domain, &err), 0);
	assert_int_equal(nseen, 2);
	assert_int_equal(seen[1].type, BACKEND_EVENT_STOPPED);
	assert_int_equal(backend_fake_ops.destroy(b, x.domain, &err), 0);
	assert_int_equal(nseen, 2);
	assert_int_equal(fake_ndomains(), 0);
	assert_int_equal(fake_calls(FAKE_OP_DESTROY), 2);
	backend_fake_ops.close(b);
}

static void
test_failures_and_crash(void **state)
{
	struct backend *b;
	struct launch x;
	struct rrerr err;

	(void)state;
	b = open_fake();
	launch_init(&x, "db");
	fake_fail(FAKE_OP_LAUNCH, 1, RRERR_UNAVAILABLE, NULL);
	assert_int_equal(backend_fake_ops.launch(b, &x.l, &err), -1);
	assert_int_equal(err.code, RRERR_UNAVAILABLE);
	assert_int_equal(fake_ndomains(), 0);
	assert_int_equal(nseen, 0);
	assert_int_equal(backend_fake_ops.launch(b, &x.l, &err), 0);

	assert_int_equal(fake_crash(x.domain), 0);
	assert_int_equal(seen[nseen - 1].type, BACKEND_EVENT_CRASHED);
	assert_int_equal(fake_crash(x.domain), -1);

	assert_int_equal(backend_fake_ops.resume(b, x.domain, &err), -1);
	assert_int_equal(err.code, RRERR_NOT_FOUND);
	backend_fake_ops.close(b);
}

static void
test_disconnect_hold_adopt(void **state)
{
	struct backend *b;
	struct launch x;
	struct rrerr err;
	struct backend_domain *list;
	size_t n;

	(void)state;
	b = open_fake();
	fake_disconnect();
	assert_int_equal(seen[nseen - 1].type, BACKEND_EVENT_DISCONNECTED);
	launch_init(&x, "cache");
	assert_int_equal(backend_fake_ops.launch(b, &x.l, &err), -1);
	assert_int_equal(err.code, RRERR_UNAVAILABLE);
	fake_reconnect();
	assert_int_equal(seen[nseen - 1].type, BACKEND_EVENT_RECONNECTED);

	/* Held events arrive when released, in order. */
	nseen = 0;
	fake_hold_events(true);
	x.spec.paused = true;
	assert_int_equal(backend_fake_ops.launch(b, &x.l, &err), 0);
	assert_int_equal(backend_fake_ops.resume(b, x.domain, &err), 0);
	assert_int_equal(backend_fake_ops.destroy(b, x.domain, &err), 0);
	assert_int_equal(nseen, 0);
	assert_int_equal(fake_held_events(), 3);
	assert_int_equal(fake_release_events(), 3);
	assert_int_equal(nseen, 3);
	assert_int_equal(seen[0].type, BACKEND_EVENT_STARTED);
	assert_int_equal(seen[1].type, BACKEND_EVENT_RESUMED);
	assert_int_equal(seen[2].type, BACKEND_EVENT_STOPPED);
	fake_hold_events(false);

	/* A domain from "before": seen by list() after a new open(). */
	backend_fake_ops.close(b);
	assert_int_equal(fake_add(OWNER, "rr-0123abcd-old", "old", 9, true), 0);
	b = open_fake();
	assert_int_equal(backend_fake_ops.list(b, NULL, &list, &n, &err), 0);
	assert_int_equal(n, 1);
	assert_int_equal(list[0].generation, 9);
	free(list);

	/* No callback after close(). */
	backend_fake_ops.close(b);
	nseen = 0;
	assert_int_equal(fake_crash("rr-0123abcd-old"), 0);
	assert_int_equal(nseen, 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_lifecycle, each_setup),
		cmocka_unit_test_setup(test_failures_and_crash, each_setup),
		cmocka_unit_test_setup(test_disconnect_hold_adopt, each_setup),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
