/*
 * Tests of the engine's lifecycle on the fake backend: a real libuv loop,
 * real records and console logs in a scratch directory, and an in-memory
 * hypervisor (backends/fake.c) whose guests "write" to their console
 * through fake_console().
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <sys/resource.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine.h"
#include "fake.h"
#include "fixture.h"
#include "fx_engine.h"
#include "instance.h"
#include "sbuf.h"
#include "spec.h"

struct want_state {
	const char *name;
	const char *state;
};

/*
 * Whether w->name's last state event says w->state: events wait for the
 * record that says the same (engine.c: publish()), written by the writer
 * thread a moment after the view shows it.
 */
static bool
announced(void *arg)
{
	struct want_state *w = arg;
	const char *line;
	uint64_t seq = 0;
	bool ok = false;
	json_t *e;

	while ((line = events_next(engine_events(eng), seq, &seq)) != NULL) {
		if ((e = json_loads(line, 0, NULL)) == NULL)
			continue;
		if (json_string_value(json_object_get(e, "name")) != NULL &&
		    strcmp(json_string_value(json_object_get(e, "name")),
			w->name) == 0 &&
		    json_string_value(json_object_get(e, "type")) != NULL &&
		    strcmp(json_string_value(json_object_get(e, "type")),
			"state") == 0)
			ok = strcmp(json_string_value(
					json_object_get(e, "state")),
				 w->state) == 0;
		json_decref(e);
	}
	return ok;
}

/*
 * The whole list as the API answers it (engine_list_text(), from the text
 * the engine keeps) holds the same views as one made afresh.
 */
static void
list_checked(void)
{
	struct engine_filter f;
	struct sbuf sb = SBUF_INIT;
	json_error_t jerr;
	json_t *kept, *fresh, *k, *x = NULL;
	size_t i, j;

	memset(&f, 0, sizeof(f));
	assert_int_equal(engine_list_text(eng, &f, &sb), 0);
	kept = json_loadb(sb.buf, sb.len, 0, &jerr);
	if (kept == NULL)
		fail_msg("the kept list is not JSON: %s", jerr.text);
	fresh = engine_list(eng, &f);
	assert_int_equal(json_array_size(kept), json_array_size(fresh));
	json_array_foreach(kept, i, k) {
		json_array_foreach(fresh, j, x) {
			if (json_equal(json_object_get(k, "name"),
				json_object_get(x, "name")))
				break;
		}
		if (j == json_array_size(fresh) || !json_equal(k, x))
			fail_msg("stale list entry: %s", sb.buf);
	}
	sbuf_reset(&sb);
	json_decref(kept);
	json_decref(fresh);
}

/*
 * name's view as the API answers it (engine_get_text(), from the text the
 * instance keeps), checked against a view made afresh (engine_get()): a
 * change that did not go through instance_changed() shows here as a stale
 * text.  NULL when there is no such instance.
 */
static json_t *
view_checked(const char *name)
{
	struct sbuf sb = SBUF_INIT;
	struct rrerr err;
	json_error_t jerr;
	json_t *fresh, *kept;
	char *a, *b;

	fresh = engine_get(eng, name, &err);
	if (engine_get_text(eng, name, &sb, &err) == -1) {
		sbuf_reset(&sb);
		assert_null(fresh);
		list_checked();
		return NULL;
	}
	assert_non_null(fresh);
	kept = json_loadb(sb.buf, sb.len, 0, &jerr);
	if (kept == NULL)
		fail_msg("%s: the kept view is not JSON: %s: %s", name,
		    jerr.text, sb.buf);
	if (!json_equal(kept, fresh)) {
		a = json_dumps(kept, JSON_COMPACT | JSON_SORT_KEYS);
		b = json_dumps(fresh, JSON_COMPACT | JSON_SORT_KEYS);
		fail_msg("%s: stale view:\nkept  %s\nfresh %s", name, a, b);
	}
	sbuf_reset(&sb);
	json_decref(kept);
	list_checked();
	return fresh;
}

static bool
in_state(void *arg)
{
	struct want_state *w = arg;
	json_t *v;
	bool ok;

	if ((v = view_checked(w->name)) == NULL)
		return strcmp(w->state, "gone") == 0;
	ok = strcmp(json_string_value(json_object_get(v, "state")), w->state) ==
	    0;
	json_decref(v);
	return ok;
}

static void
wait_state(const char *name, const char *state)
{
	struct want_state w = { name, state };
	char what[128];

	snprintf(what, sizeof(what), "%s to be %s", name, state);
	run_until(in_state, &w, what);
}

static json_t *
get(const char *name)
{
	json_t *v = view_checked(name);

	assert_non_null(v);
	return v;
}

/* Assert that instance name's field holds expected. */
static void
expect_int(const char *name, const char *field, json_int_t expected)
{
	json_t *v = get(name);

	assert_int_equal(json_integer_value(json_object_get(v, field)),
	    expected);
	json_decref(v);
}

static void
expect_str(const char *name, const char *field, const char *expected)
{
	json_t *v = get(name);

	assert_string_equal(json_string_value(json_object_get(v, field)),
	    expected);
	json_decref(v);
}

static void
expect_substr(const char *name, const char *field, const char *part)
{
	json_t *v = get(name);
	const char *s = json_string_value(json_object_get(v, field));

	if (s == NULL || strstr(s, part) == NULL)
		fail_msg("%s.%s is \"%s\", without \"%s\"", name, field,
		    s != NULL ? s : "(null)", part);
	json_decref(v);
}

/* This engine's owner id, from its state directory. */
static void
read_owner(char *buf, size_t size)
{
	FILE *f;

	f = fopen(fx_path("state/owner"), "r");
	assert_non_null(f);
	assert_non_null(fgets(buf, (int)size, f));
	fclose(f);
	buf[strcspn(buf, "\n")] = '\0';
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

static int
setup(void **state)
{
	(void)state;
	return fx_engine_setup(NULL);
}

static int
teardown(void **state)
{
	(void)state;
	return fx_engine_teardown();
}

/*
 * Launch from JSON text, where %s stands for the image; returns the reply
 * (its body to be freed).
 */
static struct result __attribute__((format(printf, 1, 0)))
launch(const char *json)
{
	char text[2048];

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
	snprintf(text, sizeof(text), json, fx_path("images/app"));
#pragma GCC diagnostic pop
	return fx_launch(text);
}

#define SIMPLE "{\"name\":\"a\",\"image\":\"%s\"}"

static void
console(const char *name, const char *text)
{
	assert_int_equal(fake_console(domain_of(name), text), 0);
}

static void
test_exit_status(void **state)
{
	struct result r;

	(void)state;
	r = launch(SIMPLE);
	assert_false(r.failed);
	assert_int_equal(r.outcome, ENGINE_CREATED);
	assert_string_equal(json_string_value(json_object_get(r.body, "state")),
	    "starting");
	json_decref(r.body);

	console("a", "boot\n=== calling \"app\" main() ===\n\n");
	wait_state("a", "running");
	console("a", "hello\n\n=== main() of \"app\" returned 3 ===\n");
	/* The status alone does not end it: the guest has not halted. */
	uv_run(&loop, UV_RUN_NOWAIT);
	expect_str("a", "state", "running");
	console("a", "halted\n");
	wait_state("a", "exited");
	expect_int("a", "exit_status", 3);
	/* KVM guests never power off: the engine destroyed the domain. */
	assert_int_equal(fake_calls(FAKE_OP_DESTROY), 1);
	assert_int_equal(fake_ndomains(), 0);
}

/*
 * The end of a console exactly as rumprun (and the test guest) prints it:
 * the status is read from "returned N", not from _exit's line (with its
 * ERROR), and nothing before "halted" ends the instance.
 */
static void
test_rumprun_end(void **state)
{
	struct result r;

	(void)state;
	r = launch(SIMPLE);
	assert_int_equal(r.outcome, ENGINE_CREATED);
	json_decref(r.body);
	console("a",
	    "rump kernel bare metal bootstrap\n\n"
	    "mounted tmpfs on /tmp\n\n=== calling \"app\" main() ===\n\n");
	wait_state("a", "running");
	console("a",
	    "hello\n\n=== main() of \"app\" returned 3 ===\n\n"
	    "=== ERROR: _exit(3) called ===\n"
	    "rump kernel halting...\nsyncing disks... done\n"
	    "unmounting file systems...\n"
	    "unmounted /dev/ld0a on /data type ffs\n"
	    "unmounted tmpfs on /tmp type tmpfs\n"
	    "unmounted rumpfs on / type rumpfs\nunmounting done\n");
	uv_run(&loop, UV_RUN_NOWAIT);
	expect_str("a", "state", "running");
	assert_int_equal(fake_calls(FAKE_OP_DESTROY), 0);
	console("a", "halted\n");
	wait_state("a", "exited");
	expect_int("a", "exit_status", 3);
	assert_int_equal(fake_calls(FAKE_OP_DESTROY), 1);
}

static void
test_idempotent_create(void **state)
{
	struct result r;

	(void)state;
	r = launch(SIMPLE);
	assert_int_equal(r.outcome, ENGINE_CREATED);
	json_decref(r.body);
	r = launch(SIMPLE);
	assert_false(r.failed);
	assert_int_equal(r.outcome, ENGINE_EXISTED);
	json_decref(r.body);
	r = launch("{\"name\":\"a\",\"image\":\"%s\",\"memory_mib\":32}");
	assert_true(r.failed);
	assert_int_equal(r.err.code, RRERR_CONFLICT);
	assert_int_equal(fake_calls(FAKE_OP_LAUNCH), 1);
}

static void
test_panic(void **state)
{
	struct result r;
	json_t *v;

	(void)state;
	r = launch(SIMPLE);
	json_decref(r.body);
	console("a", "=== calling \"app\" main() ===\nPANIC: boom\nhalted\n");
	wait_state("a", "crashed");
	v = get("a");
	assert_string_equal(json_string_value(json_object_get(v, "reason")),
	    "PANIC: boom");
	assert_true(json_is_null(json_object_get(v, "exit_status")));
	json_decref(v);
	assert_int_equal(fake_ndomains(), 0);
}

static void
test_domain_crash(void **state)
{
	struct result r;

	(void)state;
	r = launch(SIMPLE);
	json_decref(r.body);
	assert_int_equal(fake_crash(domain_of("a")), 0);
	wait_state("a", "crashed");
	expect_substr("a", "reason", "crash");
}

static void
test_launch_failure(void **state)
{
	struct result r;

	(void)state;
	fake_fail(FAKE_OP_LAUNCH, 1, RRERR_INVALID, "no such bridge");
	r = launch(SIMPLE);
	assert_false(r.failed);
	assert_string_equal(json_string_value(json_object_get(r.body, "state")),
	    "failed");
	json_decref(r.body);
	expect_str("a", "reason", "no such bridge");
}

static void
test_stop_graceful_then_destroy(void **state)
{
	struct result r, s;

	(void)state;
	r = launch(SIMPLE);
	json_decref(r.body);
	console("a", "=== calling \"app\" main() ===\n");
	wait_state("a", "running");
	memset(&s, 0, sizeof(s));
	engine_stop(eng, "a", false, 1, on_reply, &s);
	/* The guest ignores the shutdown; the deadline destroys it. */
	run_until(replied, &s, "the stop reply");
	assert_false(s.failed);
	assert_string_equal(json_string_value(json_object_get(s.body, "state")),
	    "stopped");
	json_decref(s.body);
	assert_int_equal(fake_calls(FAKE_OP_SHUTDOWN), 1);
	assert_int_equal(fake_calls(FAKE_OP_DESTROY), 1);

	/* Stopping an ended instance answers with it as it is. */
	memset(&s, 0, sizeof(s));
	engine_stop(eng, "a", true, 0, on_reply, &s);
	assert_true(s.done);
	assert_int_equal(s.outcome, ENGINE_ALREADY);
	json_decref(s.body);
	expect_str("a", "state", "stopped");
}

/* The states of name's state events after seq, space-separated. */
static void
states_since(const char *name, uint64_t seq, char *buf, size_t size)
{
	struct events *ev = engine_events(eng);
	const char *line;
	json_t *e;

	buf[0] = '\0';
	while ((line = events_next(ev, seq, &seq)) != NULL) {
		e = json_loads(line, 0, NULL);
		assert_non_null(e);
		if (strcmp(json_string_value(json_object_get(e, "name")),
			name) == 0 &&
		    strcmp(json_string_value(json_object_get(e, "type")),
			"state") == 0)
			snprintf(buf + strlen(buf), size - strlen(buf), "%s ",
			    json_string_value(json_object_get(e, "state")));
		json_decref(e);
	}
}

/*
 * A stop shows "stopping" from the request until the domain is gone, in
 * the view and as an event, graceful or not; a timeout of 0 (the default
 * stop_timeout) destroys at once without asking the guest.
 */
static void
test_stop_shows_stopping(void **state)
{
	struct result r, s;
	uint64_t seq;
	char states[256];

	(void)state;
	r = launch(SIMPLE);
	json_decref(r.body);
	console("a", "=== calling \"app\" main() ===\n");
	wait_state("a", "running");
	/* Its event comes once the record says so. */
	run_until(announced, &(struct want_state){ "a", "running" },
	    "the event");
	seq = events_last_seq(engine_events(eng));
	memset(&s, 0, sizeof(s));
	engine_stop(eng, "a", false, 1, on_reply, &s);
	assert_false(s.done);
	expect_str("a", "state", "stopping");
	run_for(300);
	/* The guest ignores the shutdown: still stopping until the deadline. */
	assert_false(s.done);
	expect_str("a", "state", "stopping");
	run_until(replied, &s, "the stop reply");
	assert_false(s.failed);
	json_decref(s.body);
	expect_str("a", "state", "stopped");
	states_since("a", seq, states, sizeof(states));
	assert_string_equal(states, "stopping stopped ");
	assert_int_equal(fake_calls(FAKE_OP_SHUTDOWN), 1);

	/* timeout 0: no shutdown asked, destroyed at once, still stopping. */
	memset(&s, 0, sizeof(s));
	engine_start(eng, "a", on_reply, &s);
	run_until(replied, &s, "the start reply");
	json_decref(s.body);
	console("a", "=== calling \"app\" main() ===\n");
	wait_state("a", "running");
	run_until(announced, &(struct want_state){ "a", "running" },
	    "the event");
	seq = events_last_seq(engine_events(eng));
	memset(&s, 0, sizeof(s));
	engine_stop(eng, "a", false, 0, on_reply, &s);
	run_until(replied, &s, "the stop reply");
	assert_false(s.failed);
	json_decref(s.body);
	expect_str("a", "state", "stopped");
	states_since("a", seq, states, sizeof(states));
	assert_string_equal(states, "stopping stopped ");
	assert_int_equal(fake_calls(FAKE_OP_SHUTDOWN), 1);
	assert_int_equal(fake_calls(FAKE_OP_DESTROY), 2);
}

static void
test_start_again_and_remove(void **state)
{
	struct result r, s;
	char first[BACKEND_DOMAIN_NAME_MAX];
	json_t *v;

	(void)state;
	r = launch(SIMPLE);
	json_decref(r.body);
	snprintf(first, sizeof(first), "%s", domain_of("a"));
	memset(&s, 0, sizeof(s));
	engine_remove(eng, "a", false, on_reply, &s);
	assert_true(s.done && s.failed);
	assert_int_equal(s.err.code, RRERR_CONFLICT);

	memset(&s, 0, sizeof(s));
	engine_stop(eng, "a", true, 0, on_reply, &s);
	run_until(replied, &s, "the stop reply");
	json_decref(s.body);

	memset(&s, 0, sizeof(s));
	engine_start(eng, "a", on_reply, &s);
	run_until(replied, &s, "the start reply");
	assert_false(s.failed);
	v = s.body;
	assert_int_equal(json_integer_value(json_object_get(v, "generation")),
	    2);
	assert_string_not_equal(json_string_value(json_object_get(v, "domain")),
	    first);
	json_decref(v);
	/* A late event about generation 1 must not touch generation 2. */
	assert_int_equal(fake_add("x", first, "a", 1, true), 0);
	assert_int_equal(fake_end(first, BACKEND_EVENT_CRASHED, "old"), 0);
	uv_run(&loop, UV_RUN_NOWAIT);
	expect_str("a", "state", "starting");

	memset(&s, 0, sizeof(s));
	engine_remove(eng, "a", true, on_reply, &s);
	run_until(replied, &s, "the remove reply");
	assert_false(s.failed);
	json_decref(s.body);
	wait_state("a", "gone");
	assert_int_equal(access(fx_path("state/instances/a.json"), F_OK), -1);
	assert_int_equal(access(fx_path("logs/a.log"), F_OK), -1);
	assert_int_equal(fake_ndomains(), 0);
}

static void
test_restart_adopts(void **state)
{
	struct result r;

	(void)state;
	r = launch(SIMPLE);
	json_decref(r.body);
	console("a", "=== calling \"app\" main() ===\n");
	wait_state("a", "running");
	close_engine();
	/* While rumprund is down the guest goes on writing. */
	assert_int_equal(fake_ndomains(), 1);
	open_engine();
	wait_state("a", "running");
	assert_int_equal(fake_calls(FAKE_OP_LAUNCH), 1);
	console("a", "=== main() of \"app\" returned 0 ===\nhalted\n");
	wait_state("a", "exited");
	expect_int("a", "exit_status", 0);
}

static void
test_restart_after_exit_while_down(void **state)
{
	char dom[BACKEND_DOMAIN_NAME_MAX];
	struct result r;

	(void)state;
	r = launch(SIMPLE);
	json_decref(r.body);

	console("a", "=== calling \"app\" main() ===\n");
	wait_state("a", "running");
	snprintf(dom, sizeof(dom), "%s", domain_of("a"));
	close_engine();
	/* The guest finished while rumprund was down: markers are replayed. */
	assert_int_equal(fake_console(dom,
			     "=== main() of \"app\" returned 5 ===\nhalted\n"),
	    0);
	open_engine();
	wait_state("a", "exited");
	expect_int("a", "exit_status", 5);
	assert_int_equal(fake_ndomains(), 0);
}

static void
test_restart_domain_vanished(void **state)
{
	struct result r;

	char dom[BACKEND_DOMAIN_NAME_MAX];

	(void)state;
	r = launch(SIMPLE);
	json_decref(r.body);
	snprintf(dom, sizeof(dom), "%s", domain_of("a"));
	close_engine();
	assert_int_equal(fake_end(dom, BACKEND_EVENT_STOPPED, "gone"), 0);
	open_engine();
	wait_state("a", "crashed");
	expect_substr("a", "reason", "not watching");
}

static void
test_orphan_destroyed(void **state)
{
	char owner[64], dom[128];

	(void)state;
	read_owner(owner, sizeof(owner));
	owner[32] = '\0';
	close_engine();
	/* Ours by owner, but no record accounts for it. */
	snprintf(dom, sizeof(dom), "rr-%.8s-ghost-1", owner);
	assert_int_equal(fake_add(owner, dom, "ghost", 1, true), 0);
	/* Somebody else's domain is never touched. */
	assert_int_equal(fake_add("someone-else", "rr-other-x-1", "x", 1, true),
	    0);
	open_engine();
	usleep(50000);
	uv_run(&loop, UV_RUN_NOWAIT);
	assert_int_equal(fake_ndomains(), 1);
	assert_int_equal(fake_domain_get(dom, &(struct fake_domain){ 0 }), -1);
}

static void
test_pending_record_without_domain(void **state)
{
	char dom[BACKEND_DOMAIN_NAME_MAX];
	struct result r;
	json_t *rec;

	(void)state;
	r = launch(SIMPLE);
	json_decref(r.body);
	snprintf(dom, sizeof(dom), "%s", domain_of("a"));
	close_engine();
	/*
	 * Make it as if rumprund had been killed after writing the record
	 * and before libvirt created the domain.
	 */
	assert_int_equal(fake_end(dom, BACKEND_EVENT_STOPPED, "x"), 0);
	rec = json_load_file(fx_path("state/instances/a.json"), 0, NULL);
	assert_non_null(rec);
	json_object_set_new(rec, "state", json_string("pending"));
	json_object_set_new(rec, "launched", json_false());
	assert_int_equal(json_dump_file(rec, fx_path("state/instances/a.json"),
			     0),
	    0);
	json_decref(rec);
	open_engine();
	wait_state("a", "failed");
	expect_substr("a", "reason", "while launching");
	assert_int_equal(fake_ndomains(), 0);
}

static void
test_disconnected(void **state)
{
	struct result r;

	(void)state;
	fake_disconnect();
	uv_run(&loop, UV_RUN_NOWAIT);
	usleep(20000);
	uv_run(&loop, UV_RUN_NOWAIT);
	r = launch(SIMPLE);
	assert_true(r.failed);
	assert_int_equal(r.err.code, RRERR_UNAVAILABLE);
	fake_reconnect();
	usleep(20000);
	uv_run(&loop, UV_RUN_NOWAIT);
	r = launch(SIMPLE);
	assert_false(r.failed);
	assert_int_equal(r.outcome, ENGINE_CREATED);
	json_decref(r.body);
}

static void
test_limits(void **state)
{
	struct result r;
	char json[128];
	int i;

	(void)state;
	for (i = 0; i < 8; i++) {
		snprintf(json, sizeof(json),
		    "{\"name\":\"n%d\",\"image\":\"%%s\"}", i);
		r = launch(json);
		assert_false(r.failed);
		json_decref(r.body);
	}
	r = launch("{\"name\":\"one-too-many\",\"image\":\"%s\"}");
	assert_true(r.failed);
	assert_int_equal(r.err.code, RRERR_CONFLICT);
	assert_non_null(strstr(r.err.message, "limit of 8 instances"));
	assert_int_equal(fake_calls(FAKE_OP_LAUNCH), 8);
}

static void
test_events(void **state)
{
	struct events *ev;
	struct result r;
	const char *line;
	uint64_t seq = 0, prev = 0;
	char states[256] = "";
	json_t *e;

	(void)state;
	ev = engine_events(eng);
	prev = events_last_seq(ev);
	seq = prev;
	r = launch(SIMPLE);
	json_decref(r.body);
	console("a",
	    "=== calling \"app\" main() ===\n"
	    "=== main() of \"app\" returned 0 ===\nhalted\n");
	wait_state("a", "exited");
	/* The events come once the records say so. */
	run_until(announced, &(struct want_state){ "a", "exited" },
	    "the event");
	while ((line = events_next(ev, seq, &seq)) != NULL) {
		assert_int_equal(seq, prev + 1);
		prev = seq;
		e = json_loads(line, 0, NULL);
		assert_non_null(e);
		strcat(states, json_string_value(json_object_get(e, "state")));
		strcat(states, " ");
		json_decref(e);
	}
	assert_string_equal(states, "pending starting running exited ");
}

/* The last state event of name in the event log: a new reference. */
static json_t *
last_state_event(const char *name)
{
	struct events *ev = engine_events(eng);
	const char *line;
	json_t *e, *last = NULL;
	uint64_t seq = 0;

	while ((line = events_next(ev, seq, &seq)) != NULL) {
		e = json_loads(line, 0, NULL);
		assert_non_null(e);
		if (strcmp(json_string_value(json_object_get(e, "name")),
			name) == 0 &&
		    strcmp(json_string_value(json_object_get(e, "type")),
			"state") == 0) {
			json_decref(last);
			last = e;
		} else
			json_decref(e);
	}
	assert_non_null(last);
	return last;
}

/* Whether the record of w->name on disk says w->state. */
static bool
recorded(void *arg)
{
	struct want_state *w = arg;
	json_t *rec;
	bool ok;

	rec = json_load_file(fx_path("state/instances/%s.json", w->name), 0,
	    NULL);
	ok = rec != NULL &&
	    json_string_value(json_object_get(rec, "state")) != NULL &&
	    strcmp(json_string_value(json_object_get(rec, "state")),
		w->state) == 0;
	json_decref(rec);
	return ok;
}

/*
 * name ended in state with reason, in its view, its record and events.
 * The record is written by the writer thread, a moment after the view
 * shows the state, and the event follows the record: the loop runs until
 * the event is there.
 */
static void
expect_end(const char *name, const char *state, const char *reason)
{
	struct want_state w = { name, state };
	json_t *v, *rec;

	expect_str(name, "state", state);
	expect_str(name, "reason", reason);
	run_until(announced, &w, "the event (after the record)");
	v = last_state_event(name);
	assert_string_equal(json_string_value(json_object_get(v, "state")),
	    state);
	assert_string_equal(json_string_value(json_object_get(v, "reason")),
	    reason);
	json_decref(v);
	rec = json_load_file(fx_path("state/instances/%s.json", name), 0, NULL);
	assert_non_null(rec);
	assert_string_equal(json_string_value(json_object_get(rec, "state")),
	    state);
	assert_string_equal(json_string_value(json_object_get(rec, "reason")),
	    reason);
	json_decref(rec);
}

#define BOOT1 "{\"name\":\"a\",\"image\":\"%s\",\"boot_timeout_s\":1}"
#define NO_OUTPUT_1S \
	"no console output in 1 s: the guest does not write " \
	"to COM1; check the firmware setting"

static void
test_boot_no_output(void **state)
{
	struct result r;
	int64_t t0 = instance_now_ms(), dt;

	(void)state;
	r = launch(BOOT1);
	json_decref(r.body);
	run_for(700);
	expect_str("a", "state", "starting");
	wait_state("a", "failed");
	dt = instance_now_ms() - t0;
	assert_true(dt >= 1000 && dt < 2500);
	expect_end("a", "failed", NO_OUTPUT_1S);
	/* Destroyed, not left behind. */
	assert_int_equal(fake_calls(FAKE_OP_DESTROY), 1);
	assert_int_equal(fake_ndomains(), 0);
}

static void
test_boot_output_no_main(void **state)
{
	struct result r;

	(void)state;
	r = launch(BOOT1);
	json_decref(r.body);
	/* The last line with something in it, made printable, is quoted. */
	console("a", "rrguest: rumprun test guest\r\n");
	console("a",
	    "waiting for \x01the \xc3\xa9"
	    "disk\r\n  \n\n");
	wait_state("a", "failed");
	expect_end("a", "failed",
	    "main() not called in 1 s; last console "
	    "line: \"waiting for ?the ??disk\"");
	assert_int_equal(fake_ndomains(), 0);
}

static void
test_boot_partial_long_line(void **state)
{
	struct result r;
	char big[400], want[256];

	(void)state;
	r = launch(BOOT1);
	json_decref(r.body);
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	console("a", "first\n");
	console("a", big); /* no newline: still the last line */
	wait_state("a", "failed");
	snprintf(want, sizeof(want),
	    "main() not called in 1 s; last console "
	    "line: \"%.196s...\"",
	    big);
	expect_end("a", "failed", want);
}

static void
test_boot_main_in_time(void **state)
{
	struct result r;

	(void)state;
	r = launch(BOOT1);
	json_decref(r.body);
	console("a", "boot\n=== calling \"app\" main() ===\n");
	wait_state("a", "running");
	run_for(1500);
	expect_str("a", "state", "running");
	assert_int_equal(fake_ndomains(), 1);
	assert_int_equal(fake_calls(FAKE_OP_DESTROY), 0);
	/* A program that prints nothing for long is not the watchdog's. */
	console("a", "=== main() of \"app\" returned 0 ===\nhalted\n");
	wait_state("a", "exited");
}

static void
test_boot_timeout_sources(void **state)
{
	struct result r;

	(void)state;
	close_engine();
	conf_boot_timeout = 1;
	open_engine();
	/* 0 in the request: no limit, whatever rumprund.conf says. */
	r = launch("{\"name\":\"never\",\"image\":\"%s\","
		   "\"boot_timeout_s\":0}");
	json_decref(r.body);
	/* Nothing in the request: rumprund.conf's boot_timeout. */
	r = launch("{\"name\":\"conf\",\"image\":\"%s\"}");
	json_decref(r.body);
	wait_state("conf", "failed");
	expect_substr("conf", "reason", "no console output in 1 s");
	run_for(500);
	expect_str("never", "state", "starting");

	/* boot_timeout = 0 in rumprund.conf: no limit. */
	close_engine();
	conf_boot_timeout = 0;
	open_engine();
	r = launch("{\"name\":\"off\",\"image\":\"%s\"}");
	json_decref(r.body);
	run_for(1500);
	expect_str("off", "state", "starting");
	expect_str("never", "state", "starting");
}

static void
test_boot_paused(void **state)
{
	struct result r, s;

	(void)state;
	r = launch("{\"name\":\"a\",\"image\":\"%s\",\"paused\":true,"
		   "\"boot_timeout_s\":1}");
	json_decref(r.body);
	/* A paused guest is not booting: the clock starts at its resume. */
	run_for(1500);
	expect_str("a", "state", "paused");
	memset(&s, 0, sizeof(s));
	engine_start(eng, "a", on_reply, &s);
	run_until(replied, &s, "the start reply");
	json_decref(s.body);
	run_for(600);
	expect_str("a", "state", "starting");
	wait_state("a", "failed");
	expect_end("a", "failed", NO_OUTPUT_1S);
}

static void
test_boot_deadline_survives_restart(void **state)
{
	char dom[BACKEND_DOMAIN_NAME_MAX];
	struct result r;
	int64_t t0 = instance_now_ms(), dt;

	(void)state;
	r = launch("{\"name\":\"a\",\"image\":\"%s\",\"boot_timeout_s\":2}");
	json_decref(r.body);
	snprintf(dom, sizeof(dom), "%s", domain_of("a"));
	run_for(1000);
	close_engine();
	/* The deadline is the launch's, not the restart's. */
	assert_int_equal(fake_console(dom, "still loading\n"), 0);
	open_engine();
	wait_state("a", "failed");
	dt = instance_now_ms() - t0;
	assert_true(dt >= 2000 && dt < 2900);
	expect_end("a", "failed",
	    "main() not called in 2 s; last console "
	    "line: \"still loading\"");
	assert_int_equal(fake_ndomains(), 0);
}

static void
test_boot_missed_while_down(void **state)
{
	char dom[BACKEND_DOMAIN_NAME_MAX];
	struct result r;

	(void)state;
	r = launch(BOOT1);
	json_decref(r.body);
	snprintf(dom, sizeof(dom), "%s", domain_of("a"));
	close_engine();
	usleep(1200000);
	open_engine();
	/* Already past: at the first tick after the reconciliation. */
	run_for(400);
	expect_end("a", "failed", NO_OUTPUT_1S);
	assert_int_equal(fake_ndomains(), 0);
}

static void
test_boot_main_while_down(void **state)
{
	char dom[BACKEND_DOMAIN_NAME_MAX];
	struct result r;

	(void)state;
	r = launch(BOOT1);
	json_decref(r.body);
	snprintf(dom, sizeof(dom), "%s", domain_of("a"));
	close_engine();
	/* The guest got to main() while rumprund was down, in time. */
	assert_int_equal(fake_console(dom, "=== calling \"app\" main() ===\n"),
	    0);
	usleep(1200000);
	open_engine();
	run_for(400);
	expect_str("a", "state", "running");
	assert_int_equal(fake_ndomains(), 1);
}

static void
test_boot_vanished_while_down(void **state)
{
	char dom[BACKEND_DOMAIN_NAME_MAX];
	struct result r;

	(void)state;
	r = launch(BOOT1);
	json_decref(r.body);
	snprintf(dom, sizeof(dom), "%s", domain_of("a"));
	close_engine();
	assert_int_equal(fake_end(dom, BACKEND_EVENT_STOPPED, "gone"), 0);
	usleep(1200000);
	open_engine();
	/* What happened is that the domain went, not a missed deadline. */
	wait_state("a", "crashed");
	expect_substr("a", "reason", "not watching");
}

static void
test_boot_start_again(void **state)
{
	struct result r, s;

	(void)state;
	r = launch(BOOT1);
	json_decref(r.body);
	wait_state("a", "failed");
	/* A new generation gets a new deadline, and no old reason. */
	memset(&s, 0, sizeof(s));
	engine_start(eng, "a", on_reply, &s);
	run_until(replied, &s, "the start reply");
	assert_false(s.failed);
	assert_true(json_is_null(json_object_get(s.body, "reason")));
	json_decref(s.body);
	run_for(600);
	expect_str("a", "state", "starting");
	console("a", "=== calling \"app\" main() ===\n");
	wait_state("a", "running");
	run_for(800);
	expect_str("a", "state", "running");
	expect_int("a", "generation", 2);
}

#define FAULT \
	"the hypervisor stopped the guest: KVM internal error " \
	"(emulation failure)"

static void
test_fault(void **state)
{
	struct result r;

	(void)state;
	r = launch(SIMPLE);
	json_decref(r.body);
	assert_int_equal(fake_fault(domain_of("a"), FAULT), 0);
	/* At once, not at the boot deadline (60 s here). */
	wait_state("a", "crashed");
	expect_end("a", "crashed", FAULT);
	assert_int_equal(fake_calls(FAKE_OP_DESTROY), 1);
	assert_int_equal(fake_ndomains(), 0);
}

static void
test_fault_while_down(void **state)
{
	char dom[BACKEND_DOMAIN_NAME_MAX];
	struct result r;

	(void)state;
	r = launch(SIMPLE);
	json_decref(r.body);
	console("a", "=== calling \"app\" main() ===\n");
	wait_state("a", "running");
	snprintf(dom, sizeof(dom), "%s", domain_of("a"));
	close_engine();
	/* Nobody hears the event; the list shows the paused domain. */
	assert_int_equal(fake_fault(dom, FAULT), 0);
	open_engine();
	wait_state("a", "crashed");
	expect_end("a", "crashed", FAULT);
	assert_int_equal(fake_ndomains(), 0);
}

static void
test_reset_reason(void **state)
{
	struct result r;

	(void)state;
	r = launch(SIMPLE);
	json_decref(r.body);
	/* libvirt's "shutdown" of a KVM guest with on_reboot destroy. */
	assert_int_equal(fake_end(domain_of("a"), BACKEND_EVENT_SHUTDOWN,
			     "stopped: shutdown"),
	    0);
	wait_state("a", "crashed");
	expect_end("a", "crashed",
	    "the guest reset (a triple fault?) or "
	    "powered off before main() returned");
}

static bool
no_more_fails_of_destroy(void *arg)
{
	(void)arg;
	return fake_calls(FAKE_OP_DESTROY) >= 1;
}

/* Whether engine_info() lists domain arg among the refused orphans. */
static bool
orphan_reported(void *arg)
{
	json_t *info, *name;
	bool found = false;
	size_t i;

	info = engine_info(eng);
	json_array_foreach(json_object_get(info, "orphans"), i, name)
		found |= strcmp(json_string_value(name), arg) == 0;
	json_decref(info);
	return found;
}

static bool
list_taken(void *arg)
{
	return fake_calls(FAKE_OP_LIST) > *(unsigned int *)arg;
}

static bool
leftover_gone(void *arg)
{
	return fake_domain_get(arg, &(struct fake_domain){ 0 }) == -1;
}

/*
 * B3: an instance removed and created again under the same name gets a
 * domain of another name, so the late STOPPED of the removed one's domain
 * (held until the new one runs) cannot end the new one.
 */
static void
test_late_stop_of_removed_incarnation(void **state)
{
	char old[BACKEND_DOMAIN_NAME_MAX];
	struct fake_domain fd = { 0 };
	struct result r, s;

	(void)state;
	r = launch(SIMPLE);
	json_decref(r.body);
	console("a", "=== calling \"app\" main() ===\n");
	wait_state("a", "running");
	snprintf(old, sizeof(old), "%s", domain_of("a"));
	fake_hold_events(true);
	memset(&s, 0, sizeof(s));
	engine_remove(eng, "a", true, on_reply, &s);
	run_until(replied, &s, "the remove reply");
	assert_false(s.failed);
	json_decref(s.body);
	wait_state("a", "gone");
	/* The old domain's STOPPED has not arrived yet. */
	assert_true(fake_held_events() >= 1);

	r = launch(SIMPLE);
	assert_false(r.failed);
	assert_int_equal(r.outcome, ENGINE_CREATED);
	json_decref(r.body);
	assert_string_not_equal(domain_of("a"), old);
	assert_int_equal(fake_domain_get(domain_of("a"), &fd), 0);
	fake_domain_clear(&fd);
	fake_hold_events(false);
	assert_true(fake_release_events() >= 2);
	uv_run(&loop, UV_RUN_NOWAIT);
	expect_str("a", "state", "starting");
	console("a", "=== calling \"app\" main() ===\n");
	wait_state("a", "running");
	assert_int_equal(fake_ndomains(), 1);
}

/*
 * B4: a create that libvirt reported failed (libvirtd went away) although
 * it made the domain.  The name is free for a new instance at once; the
 * leftover is destroyed at the next list, and a destroy libvirt refuses
 * (a start job stuck on the domain) is tried again later, without
 * touching the new instance.
 */
static void
test_leftover_of_failed_create(void **state)
{
	char owner[64], left[BACKEND_DOMAIN_NAME_MAX];
	struct result r, s;

	(void)state;
	read_owner(owner, sizeof(owner));
	fake_fail(FAKE_OP_LAUNCH, 1, RRERR_UNAVAILABLE,
	    "libvirt is not reachable: End of file while reading data");
	r = launch(SIMPLE);
	assert_false(r.failed);
	assert_string_equal(json_string_value(json_object_get(r.body, "state")),
	    "failed");
	json_decref(r.body);
	snprintf(left, sizeof(left), "%s", domain_of("a"));
	/* libvirtd had made it after all, stuck paused in its start job. */
	assert_int_equal(fake_add(owner, left, "a", 1, true), 0);

	memset(&s, 0, sizeof(s));
	engine_remove(eng, "a", false, on_reply, &s);
	run_until(replied, &s, "the remove reply");
	json_decref(s.body);
	r = launch(SIMPLE);
	assert_false(r.failed);
	assert_int_equal(r.outcome, ENGINE_CREATED);
	assert_string_equal(json_string_value(json_object_get(r.body, "state")),
	    "starting");
	json_decref(r.body);
	assert_string_not_equal(domain_of("a"), left);

	/* The next list finds the leftover; the first destroy is refused. */
	fake_fail(FAKE_OP_DESTROY, 1, RRERR_UNAVAILABLE,
	    "Timed out during operation: cannot acquire state change lock");
	fake_disconnect();
	uv_run(&loop, UV_RUN_NOWAIT);
	fake_reconnect();
	run_until(no_more_fails_of_destroy, NULL, "the refused destroy");
	assert_int_equal(fake_domain_get(left, &(struct fake_domain){ 0 }), 0);
	/* Reported in /v1/info until it is gone. */
	run_until(orphan_reported, left, "the orphan in the info");
	run_until(leftover_gone, left, "the leftover to be destroyed");
	uv_run(&loop, UV_RUN_NOWAIT);
	assert_false(orphan_reported(left));
	expect_str("a", "state", "starting");
	assert_int_equal(fake_ndomains(), 1);
	assert_int_equal(fake_calls(FAKE_OP_DESTROY), 2);
}

/*
 * B7: a create of a name whose forced remove is in flight is a conflict,
 * not the instance being removed.
 */
static void
test_create_while_removing(void **state)
{
	struct result r, s, t;
	struct spec *spec;
	struct rrerr err;
	char text[512];

	(void)state;
	r = launch(SIMPLE);
	json_decref(r.body);
	console("a", "=== calling \"app\" main() ===\n");
	wait_state("a", "running");
	memset(&s, 0, sizeof(s));
	engine_remove(eng, "a", true, on_reply, &s);
	/* The destroy is on its way in the pool: the remove is in flight. */
	assert_false(s.done);
	snprintf(text, sizeof(text), SIMPLE, fx_path("images/app"));
	assert_int_equal(spec_parse(text, strlen(text), &policy, &spec, &err),
	    0);
	memset(&t, 0, sizeof(t));
	engine_launch(eng, spec, on_reply, &t);
	assert_true(t.done && t.failed);
	assert_int_equal(t.err.code, RRERR_CONFLICT);
	assert_non_null(strstr(t.err.message, "being removed"));
	run_until(replied, &s, "the remove reply");
	json_decref(s.body);
	wait_state("a", "gone");
	/* Once gone, the name is free. */
	r = launch(SIMPLE);
	assert_int_equal(r.outcome, ENGINE_CREATED);
	json_decref(r.body);
}

/*
 * B5: a guest that ran and exited while its record still said "pending,
 * not launched" (the later writes met a full disk, then rumprund was
 * killed): the console of its generation shows it ran, so it comes back
 * exited with its status, not "failed ... never created".
 */
static void
test_stale_pending_record_of_a_guest_that_ran(void **state)
{
	struct result r;
	json_t *rec, *v;

	(void)state;
	r = launch(SIMPLE);
	json_decref(r.body);
	console("a",
	    "=== calling \"app\" main() ===\n"
	    "=== main() of \"app\" returned 0 ===\nhalted\n");
	wait_state("a", "exited");
	close_engine();
	rec = json_load_file(fx_path("state/instances/a.json"), 0, NULL);
	assert_non_null(rec);
	json_object_set_new(rec, "state", json_string("pending"));
	json_object_set_new(rec, "launched", json_false());
	json_object_set_new(rec, "calling_seen", json_false());
	json_object_set_new(rec, "exit_status", json_null());
	json_object_set_new(rec, "finished_ms", json_integer(0));
	assert_int_equal(json_dump_file(rec, fx_path("state/instances/a.json"),
			     0),
	    0);
	json_decref(rec);
	open_engine();
	wait_state("a", "exited");
	v = get("a");
	assert_int_equal(json_integer_value(json_object_get(v, "exit_status")),
	    0);
	assert_true(json_is_null(json_object_get(v, "reason")));
	json_decref(v);
}

/*
 * A start whose record a full disk refuses (RLIMIT_FSIZE stands in for
 * it) is refused, 503, and the instance stays as it was: no domain of a
 * generation that no record knows (kill -9 then would bring back the
 * generation before, and destroy the new domain as an orphan).
 */
static void
test_start_refused_when_record_cannot_be_written(void **state)
{
	struct rlimit rl = { 64, RLIM_INFINITY };
	struct result r, s;
	char dom[BACKEND_DOMAIN_NAME_MAX];

	(void)state;
	r = launch(SIMPLE);
	json_decref(r.body);
	memset(&s, 0, sizeof(s));
	engine_stop(eng, "a", true, 0, on_reply, &s);
	run_until(replied, &s, "the stop reply");
	json_decref(s.body);
	snprintf(dom, sizeof(dom), "%s", domain_of("a"));

	signal(SIGXFSZ, SIG_IGN);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &rl), 0);
	memset(&s, 0, sizeof(s));
	engine_start(eng, "a", on_reply, &s);
	rl.rlim_cur = RLIM_INFINITY;
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &rl), 0);
	assert_true(s.done && s.failed);
	assert_int_equal(s.err.code, RRERR_UNAVAILABLE);
	assert_non_null(strstr(s.err.message, "cannot write the record"));
	expect_str("a", "state", "stopped");
	expect_int("a", "generation", 1);
	expect_str("a", "domain", dom);
	uv_run(&loop, UV_RUN_NOWAIT);
	assert_int_equal(fake_calls(FAKE_OP_LAUNCH), 1);

	memset(&s, 0, sizeof(s));
	engine_start(eng, "a", on_reply, &s);
	run_until(replied, &s, "the start reply");
	assert_false(s.failed);
	json_decref(s.body);
	expect_int("a", "generation", 2);
	expect_str("a", "state", "starting");
}

/*
 * A launch is answered once its record is on disk, written by the writer
 * thread: a record that cannot be written (RLIMIT_FSIZE stands in for a
 * full disk) refuses the launch, 503, and leaves nothing (no instance, no
 * record, no log, no domain); one that can is on disk, saying what the
 * answer says, when the answer comes.
 */
static void
test_launch_waits_for_its_record(void **state)
{
	struct rlimit rl = { 64, RLIM_INFINITY };
	struct want_state w = { "a", "starting" };
	struct result r;
	struct rrerr err;

	(void)state;
	signal(SIGXFSZ, SIG_IGN);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &rl), 0);
	r = launch(SIMPLE);
	rl.rlim_cur = RLIM_INFINITY;
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &rl), 0);
	assert_true(r.failed);
	assert_int_equal(r.err.code, RRERR_UNAVAILABLE);
	assert_non_null(strstr(r.err.message, "cannot write the record"));
	assert_null(engine_get(eng, "a", &err));
	assert_int_equal(access(fx_path("state/instances/a.json"), F_OK), -1);
	assert_int_equal(access(fx_path("logs/a.log"), F_OK), -1);
	assert_int_equal(fake_calls(FAKE_OP_LAUNCH), 0);

	r = launch(SIMPLE);
	assert_false(r.failed);
	assert_string_equal(json_string_value(json_object_get(r.body, "state")),
	    "starting");
	json_decref(r.body);
	/* No loop run since the answer: the record was there before it. */
	assert_true(recorded(&w));
	assert_int_equal(fake_calls(FAKE_OP_LAUNCH), 1);
}

/*
 * The kept list text goes with an instance removed while nothing else
 * changed (the list was made after its last change).
 */
static void
test_list_text_after_remove(void **state)
{
	struct result r, s;

	(void)state;
	r = launch(SIMPLE);
	json_decref(r.body);
	memset(&s, 0, sizeof(s));
	engine_stop(eng, "a", true, 0, on_reply, &s);
	run_until(replied, &s, "the stop reply");
	json_decref(s.body);
	expect_str("a", "state", "stopped"); /* lists it too */
	memset(&s, 0, sizeof(s));
	engine_remove(eng, "a", false, on_reply, &s);
	run_until(replied, &s, "the remove reply");
	assert_false(s.failed);
	json_decref(s.body);
	wait_state("a", "gone"); /* lists again */
}

/*
 * A list taken before a remove and a new launch of the name answers after
 * them: its entry for the removed instance's domain (destroyed meanwhile)
 * is neither an orphan to destroy nor news about the new instance.
 */
static void
test_stale_list_after_remove_and_relaunch(void **state)
{
	struct result r, s;
	unsigned int lists;

	(void)state;
	r = launch(SIMPLE);
	json_decref(r.body);
	console("a", "=== calling \"app\" main() ===\n");
	wait_state("a", "running");
	lists = fake_calls(FAKE_OP_LIST);
	fake_stall_list(true);
	fake_disconnect();
	uv_run(&loop, UV_RUN_NOWAIT);
	fake_reconnect();
	run_until(list_taken, &lists, "the list's snapshot");

	memset(&s, 0, sizeof(s));
	engine_remove(eng, "a", true, on_reply, &s);
	run_until(replied, &s, "the remove reply");
	json_decref(s.body);
	r = launch(SIMPLE);
	assert_int_equal(r.outcome, ENGINE_CREATED);
	json_decref(r.body);
	assert_int_equal(fake_calls(FAKE_OP_DESTROY), 1);

	fake_stall_list(false);
	/* The answer, and what it would set off (a destroy), take < 50 ms. */
	run_for(300);
	expect_str("a", "state", "starting");
	assert_int_equal(fake_calls(FAKE_OP_DESTROY), 1);
	assert_int_equal(fake_ndomains(), 1);
}

/* Pause, resume, restart, kill and wait (engine.c). */

/* op(eng, name, on_reply, &r) run to its reply. */
static struct result
op(void (*fn)(struct engine *, const char *, engine_reply_fn *, void *),
    const char *name)
{
	struct result r;

	memset(&r, 0, sizeof(r));
	fn(eng, name, on_reply, &r);
	run_until(replied, &r, "the reply");
	return r;
}

static void
test_pause_resume(void **state)
{
	struct result r;
	struct fake_domain fd;

	(void)state;
	r = launch(SIMPLE);
	json_decref(r.body);
	console("a", "=== calling \"app\" main() ===\n");
	wait_state("a", "running");
	r = op(engine_pause, "a");
	assert_false(r.failed);
	assert_string_equal(json_string_value(json_object_get(r.body, "state")),
	    "paused");
	json_decref(r.body);
	assert_int_equal(fake_domain_get(domain_of("a"), &fd), 0);
	assert_true(fd.paused);
	fake_domain_clear(&fd);
	/* Again: no second call. */
	r = op(engine_pause, "a");
	assert_false(r.failed);
	json_decref(r.body);
	assert_int_equal(fake_calls(FAKE_OP_PAUSE), 1);
	/* Shown paused by a rumprund that starts again. */
	close_engine();
	open_engine();
	run_for(300);
	expect_str("a", "state", "paused");
	r = op(engine_resume, "a");
	assert_false(r.failed);
	assert_string_equal(json_string_value(json_object_get(r.body, "state")),
	    "running");
	json_decref(r.body);
	assert_int_equal(fake_domain_get(domain_of("a"), &fd), 0);
	assert_false(fd.paused);
	fake_domain_clear(&fd);
	/* A failed pause answers its error and changes nothing. */
	fake_fail(FAKE_OP_PAUSE, 1, RRERR_INTERNAL, "no pause today");
	r = op(engine_pause, "a");
	assert_true(r.failed);
	assert_string_equal(r.err.message, "no pause today");
	expect_str("a", "state", "running");
	/* Created paused: a stop destroys it at once too (not in 30 s). */
	r = launch("{\"name\":\"b\",\"image\":\"%s\",\"paused\":true}");
	json_decref(r.body);
	memset(&r, 0, sizeof(r));
	engine_stop(eng, "b", false, 30, on_reply, &r);
	run_until(replied, &r, "the stop reply");
	assert_string_equal(json_string_value(json_object_get(r.body, "state")),
	    "stopped");
	json_decref(r.body);
	assert_int_equal(fake_calls(FAKE_OP_SHUTDOWN), 0);
}

static void
test_pause_outside(void **state)
{
	char dom[BACKEND_DOMAIN_NAME_MAX];
	struct result r;

	(void)state;
	r = launch(SIMPLE);
	json_decref(r.body);
	console("a", "=== calling \"app\" main() ===\n");
	wait_state("a", "running");
	snprintf(dom, sizeof(dom), "%s", domain_of("a"));
	/* virsh suspend: the event. */
	assert_int_equal(fake_set_paused(dom, true, true), 0);
	wait_state("a", "paused");
	assert_int_equal(fake_set_paused(dom, false, true), 0);
	wait_state("a", "running");
	/* While rumprund is down: the list at adoption. */
	close_engine();
	assert_int_equal(fake_set_paused(dom, true, false), 0);
	open_engine();
	wait_state("a", "paused");
	close_engine();
	assert_int_equal(fake_set_paused(dom, false, false), 0);
	open_engine();
	wait_state("a", "running");
	/* A stop of a paused guest destroys it at once. */
	assert_int_equal(fake_set_paused(dom, true, true), 0);
	wait_state("a", "paused");
	memset(&r, 0, sizeof(r));
	engine_stop(eng, "a", false, 30, on_reply, &r);
	run_until(replied, &r, "the stop reply");
	assert_string_equal(json_string_value(json_object_get(r.body, "state")),
	    "stopped");
	json_decref(r.body);
	assert_int_equal(fake_calls(FAKE_OP_SHUTDOWN), 0);
	/* Ended: nothing to pause, resume or kill. */
	r = op(engine_pause, "a");
	assert_true(r.failed);
	assert_int_equal(r.err.code, RRERR_CONFLICT);
	r = op(engine_resume, "a");
	assert_true(r.failed);
	r = op(engine_kill, "a");
	assert_true(r.failed);
	assert_int_equal(r.err.code, RRERR_CONFLICT);
}

static void
test_boot_watchdog_stands_still_while_paused(void **state)
{
	struct result r;
	int64_t t0;

	(void)state;
	r = launch("{\"name\":\"a\",\"image\":\"%s\",\"boot_timeout_s\":1}");
	json_decref(r.body);
	t0 = instance_now_ms();
	run_for(300);
	r = op(engine_pause, "a");
	json_decref(r.body);
	/* Paused across the deadline, and across a restart of rumprund. */
	run_for(800);
	close_engine();
	open_engine();
	run_for(800);
	expect_str("a", "state", "paused");
	r = op(engine_resume, "a");
	json_decref(r.body);
	expect_str("a", "state", "starting");
	/* It had ~0.7 s left when paused: failed about that long after. */
	wait_state("a", "failed");
	assert_true(instance_now_ms() - t0 >= 2400);
	expect_end("a", "failed", NO_OUTPUT_1S);
}

static void
test_restart(void **state)
{
	char dom[BACKEND_DOMAIN_NAME_MAX];
	struct result r;

	(void)state;
	r = launch(SIMPLE);
	json_decref(r.body);
	console("a", "=== calling \"app\" main() ===\n");
	wait_state("a", "running");
	snprintf(dom, sizeof(dom), "%s", domain_of("a"));
	memset(&r, 0, sizeof(r));
	engine_restart(eng, "a", -1, on_reply, &r);
	run_until(replied, &r, "the restart reply");
	assert_false(r.failed);
	assert_int_equal(json_integer_value(
			     json_object_get(r.body, "generation")),
	    2);
	json_decref(r.body);
	assert_int_equal(fake_domain_get(dom, &(struct fake_domain){ 0 }), -1);
	assert_int_equal(fake_ndomains(), 1);
	expect_str("a", "state", "starting");
	/* In flight when rumprund dies: the next one completes it. */
	snprintf(dom, sizeof(dom), "%s", domain_of("a"));
	memset(&r, 0, sizeof(r));
	engine_restart(eng, "a", 30, on_reply, &r);
	run_for(200);
	expect_str("a", "state", "stopping");
	close_engine();
	assert_true(r.done && r.failed); /* 503: shutting down */
	/* The guest ended while rumprund was down. */
	assert_int_equal(fake_end(dom, BACKEND_EVENT_STOPPED, "destroyed"), 0);
	open_engine();
	wait_state("a", "starting");
	expect_int("a", "generation", 3);
	assert_int_equal(fake_ndomains(), 1);
}

struct alive {
	bool alive;
};

static bool
is_alive(void *arg)
{
	return ((struct alive *)arg)->alive;
}

/* on_reply for a waiter whose arg is a struct result after struct alive. */
struct wait_ctx {
	struct alive a;
	struct result r;
};

static void
on_wait(void *arg, enum engine_outcome outcome, json_t *body,
    const struct rrerr *err)
{
	on_reply(&((struct wait_ctx *)arg)->r, outcome, body, err);
}

static bool
wait_alive(void *arg)
{
	return is_alive(&((struct wait_ctx *)arg)->a);
}

static json_int_t
waits(void)
{
	json_t *info = engine_info(eng);
	json_int_t n = json_integer_value(json_object_get(info, "waits"));

	json_decref(info);
	return n;
}

static void
test_wait(void **state)
{
	static struct wait_ctx w[ENGINE_WAITS_MAX + 1];
	struct result r;
	size_t i;

	(void)state;
	r = launch(SIMPLE);
	json_decref(r.body);
	memset(w, 0, sizeof(w));
	w[0].a.alive = true;
	engine_wait(eng, "a", -1, -1, wait_alive, on_wait, &w[0]);
	w[1].a.alive = true;
	engine_wait(eng, "a", INSTANCE_RUNNING, 5000, wait_alive, on_wait,
	    &w[1]);
	w[2].a.alive = true;
	engine_wait(eng, "a", -1, 300, wait_alive, on_wait, &w[2]);
	assert_int_equal(waits(), 3);
	/* Timed out: answered, not met. */
	run_until(replied, &w[2].r, "the timeout");
	assert_int_equal(w[2].r.outcome, ENGINE_DONE);
	assert_true(json_is_true(json_object_get(w[2].r.body, "timed_out")));
	assert_true(json_is_false(json_object_get(w[2].r.body, "met")));
	json_decref(w[2].r.body);
	console("a", "=== calling \"app\" main() ===\n");
	run_until(replied, &w[1].r, "running");
	assert_true(json_is_true(json_object_get(w[1].r.body, "met")));
	json_decref(w[1].r.body);
	assert_false(w[0].r.done);
	console("a", "=== main() of \"app\" returned 3 ===\nhalted\n");
	run_until(replied, &w[0].r, "the end");
	assert_int_equal(json_integer_value(
			     json_object_get(w[0].r.body, "exit_status")),
	    3);
	assert_string_equal(json_string_value(
				json_object_get(w[0].r.body, "state")),
	    "exited");
	json_decref(w[0].r.body);
	assert_int_equal(waits(), 0);
	/* A generation that runs; clients that leave; the bound. */
	r = op(engine_start, "a");
	json_decref(r.body);
	memset(w, 0, sizeof(w));
	for (i = 0; i < ENGINE_WAITS_MAX; i++) {
		w[i].a.alive = true;
		engine_wait(eng, "a", -1, -1, wait_alive, on_wait, &w[i]);
	}
	assert_int_equal(waits(), ENGINE_WAITS_MAX);
	engine_wait(eng, "a", -1, -1, wait_alive, on_wait,
	    &w[ENGINE_WAITS_MAX]);
	assert_true(w[ENGINE_WAITS_MAX].r.done && w[ENGINE_WAITS_MAX].r.failed);
	assert_int_equal(w[ENGINE_WAITS_MAX].r.err.code, RRERR_UNAVAILABLE);
	for (i = 0; i < ENGINE_WAITS_MAX; i++)
		w[i].a.alive = false;
	run_for(500);
	assert_int_equal(waits(), 0);
	for (i = 0; i < ENGINE_WAITS_MAX; i++)
		assert_true(w[i].r.done && w[i].r.failed);
	/* Removed while waited for: 404. */
	memset(w, 0, sizeof(w));
	w[0].a.alive = true;
	engine_wait(eng, "a", INSTANCE_PAUSED, -1, wait_alive, on_wait, &w[0]);
	memset(&r, 0, sizeof(r));
	engine_remove(eng, "a", true, on_reply, &r);
	run_until(replied, &r, "the removal");
	json_decref(r.body);
	/* It ended first (not met), or was removed: never left waiting. */
	assert_true(w[0].r.done);
	json_decref(w[0].r.body);
	assert_int_equal(waits(), 0);
}

/* A generation its restart policy follows with backoff has ended. */
static void
test_wait_pause_kill_in_backoff(void **state)
{
	struct wait_ctx w;
	struct result r;

	(void)state;
	r = launch("{\"name\":\"a\",\"image\":\"%s\",\"restart\":{\"policy\":"
		   "\"on-failure\",\"backoff_initial_s\":60}}");
	json_decref(r.body);
	memset(&w, 0, sizeof(w));
	w.a.alive = true;
	engine_wait(eng, "a", -1, -1, wait_alive, on_wait, &w);
	console("a",
	    "=== calling \"app\" main() ===\n"
	    "=== main() of \"app\" returned 1 ===\nhalted\n");
	run_until(replied, &w.r, "the end of generation 1");
	assert_string_equal(json_string_value(
				json_object_get(w.r.body, "state")),
	    "backoff");
	assert_int_equal(json_integer_value(
			     json_object_get(w.r.body, "exit_status")),
	    1);
	assert_true(json_is_true(json_object_get(w.r.body, "met")));
	json_decref(w.r.body);
	/* Nothing runs: nothing to pause. */
	r = op(engine_pause, "a");
	assert_true(r.failed);
	assert_int_equal(r.err.code, RRERR_CONFLICT);
	/* kill ends the wait for the next attempt. */
	r = op(engine_kill, "a");
	assert_false(r.failed);
	assert_string_equal(json_string_value(json_object_get(r.body, "state")),
	    "stopped");
	json_decref(r.body);
	/* restart of an ended instance is a start. */
	memset(&r, 0, sizeof(r));
	engine_restart(eng, "a", -1, on_reply, &r);
	run_until(replied, &r, "the restart reply");
	assert_false(r.failed);
	assert_int_equal(json_integer_value(
			     json_object_get(r.body, "generation")),
	    2);
	json_decref(r.body);
}

/* What nics[i] of instance name shows: host_dev and the first address. */
struct want_nic {
	const char *name;
	size_t i;
	const char *host_dev; /* NULL: null */
	const char *addr;     /* NULL: no address */
	const char *source;
};

static bool
nic_shows(void *arg)
{
	struct want_nic *w = arg;
	struct rrerr err;
	json_t *v, *nic, *a0;
	const char *dev, *addr, *src;
	bool ok;

	if ((v = engine_get(eng, w->name, &err)) == NULL)
		return false;
	nic = json_array_get(json_object_get(v, "nics"), w->i);
	dev = json_string_value(json_object_get(nic, "host_dev"));
	a0 = json_array_get(json_object_get(nic, "addresses"), 0);
	addr = json_string_value(json_object_get(a0, "addr"));
	src = json_string_value(json_object_get(a0, "source"));
	ok = (w->host_dev == NULL ?
		     dev == NULL :
		     dev != NULL && strcmp(dev, w->host_dev) == 0) &&
	    (w->addr == NULL ? addr == NULL :
			       addr != NULL && strcmp(addr, w->addr) == 0 &&
			strcmp(src, w->source) == 0);
	json_decref(v);
	return ok;
}

/*
 * Addresses: asked of the backend after the launch and again while a DHCP
 * NIC has none; a static one is the spec's ("config"); a failing query
 * changes nothing else; nothing is shown once the domain is gone.
 */
static void
test_addresses(void **state)
{
	struct want_nic w0 = { "a", 0, "ftap0", NULL, NULL };
	struct want_nic w1 = { "a", 1, "ftap1", "10.1.0.5/24", "config" };
	struct result r;
	unsigned int calls;

	(void)state;
	r = launch(
	    "{\"name\":\"a\",\"image\":\"%s\",\"nics\":["
	    "{\"backend\":{\"type\":\"tap\"},\"inet\":{\"method\":\"dhcp\"}},"
	    "{\"backend\":{\"type\":\"tap\"},\"inet\":{\"method\":"
	    "\"static\",\"addr\":\"10.1.0.5/24\"}}]}");
	assert_int_equal(r.outcome, ENGINE_CREATED);
	json_decref(r.body);
	run_until(nic_shows, &w0, "nic 0's host device");
	run_until(nic_shows, &w1, "nic 1's configured address");
	/* The lease comes later: asked again within ADDRS_FAST_MS. */
	fake_fail(FAKE_OP_ADDRESSES, 1, RRERR_INTERNAL, NULL);
	assert_int_equal(fake_set_addr(domain_of("a"), 0, "10.9.0.7"), 0);
	w0.addr = "10.9.0.7/24";
	w0.source = "lease";
	run_until(nic_shows, &w0, "nic 0's lease");
	expect_str("a", "state", "starting");
	calls = fake_calls(FAKE_OP_ADDRESSES);
	assert_true(calls >= 3);
	/* Everything known: the next query waits ADDRS_SLOW_MS. */
	run_for(ADDRS_FAST_MS + 500);
	assert_int_equal(fake_calls(FAKE_OP_ADDRESSES), calls);
	console("a",
	    "=== calling \"app\" main() ===\n\n=== main() of \"app\" "
	    "returned 0 ===\nhalted\n");
	wait_state("a", "exited");
	w0.host_dev = w0.addr = NULL;
	w1.host_dev = w1.addr = NULL;
	assert_true(nic_shows(&w0));
	assert_true(nic_shows(&w1));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
		    test_launch_waits_for_its_record, setup, teardown),
		cmocka_unit_test_setup_teardown(test_list_text_after_remove,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_exit_status, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_rumprun_end, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_idempotent_create, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_panic, setup, teardown),
		cmocka_unit_test_setup_teardown(test_domain_crash, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_launch_failure, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_stop_shows_stopping, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_stop_graceful_then_destroy,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_start_again_and_remove,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_restart_adopts, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(
		    test_restart_after_exit_while_down, setup, teardown),
		cmocka_unit_test_setup_teardown(test_restart_domain_vanished,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_orphan_destroyed, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(
		    test_pending_record_without_domain, setup, teardown),
		cmocka_unit_test_setup_teardown(test_disconnected, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_limits, setup, teardown),
		cmocka_unit_test_setup_teardown(test_events, setup, teardown),
		cmocka_unit_test_setup_teardown(test_boot_no_output, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_boot_output_no_main, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_boot_partial_long_line,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_boot_main_in_time, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_boot_timeout_sources,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_boot_paused, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(
		    test_boot_deadline_survives_restart, setup, teardown),
		cmocka_unit_test_setup_teardown(test_boot_missed_while_down,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_boot_main_while_down,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_boot_vanished_while_down,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_boot_start_again, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_fault, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fault_while_down, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_reset_reason, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(
		    test_late_stop_of_removed_incarnation, setup, teardown),
		cmocka_unit_test_setup_teardown(test_leftover_of_failed_create,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_create_while_removing,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_stale_pending_record_of_a_guest_that_ran, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(
		    test_start_refused_when_record_cannot_be_written, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(
		    test_stale_list_after_remove_and_relaunch, setup, teardown),
		cmocka_unit_test_setup_teardown(test_addresses, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_pause_resume, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_pause_outside, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(
		    test_boot_watchdog_stands_still_while_paused, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_restart, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wait, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wait_pause_kill_in_backoff,
		    setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
