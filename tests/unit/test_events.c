/*
 * Tests of the event stream's file (daemon/events.c): a full disk never
 * tears it, a torn tail is cut at load, seq numbers are never reused
 * (also after a crash with events that never reached the disk), a resume
 * from a seq in a gap goes on with the next kept one, the file is 0600.
 *
 * The full disk is RLIMIT_FSIZE (with SIGXFSZ ignored): a write() across
 * the limit writes what fits and comes back short, the next one fails
 * with EFBIG.  A full filesystem does the same with ENOSPC; the code
 * treats every failed or short write alike.  (The e2e test
 * test_records.py fills a real tmpfs.)
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "events.h"
#include "fixture.h"

static int
setup(void **state)
{
	static const struct fx_node tree[] = {
		{ 'd', "state", NULL },
		{ 0, NULL, NULL },
	};

	(void)state;
	signal(SIGXFSZ, SIG_IGN);
	return fx_build(tree);
}

static int
teardown(void **state)
{
	struct rlimit rl = { RLIM_INFINITY, RLIM_INFINITY };

	(void)state;
	setrlimit(RLIMIT_FSIZE, &rl);
	return fx_remove();
}

static struct events *
open_events(size_t keep)
{
	struct events *ev;
	struct rrerr err;

	ev = events_open(fx_path("state"), keep, &err);
	if (ev == NULL)
		fail_msg("events_open: %s", err.message);
	return ev;
}

static uint64_t
publish(struct events *ev, int i)
{
	return events_publish(ev, json_pack("{s:s,s:i}", "type", "t", "i", i));
}

static void
limit_file_size(off_t size)
{
	struct rlimit rl = { (rlim_t)size, RLIM_INFINITY };

	assert_int_equal(setrlimit(RLIMIT_FSIZE, &rl), 0);
}

static off_t
file_size(const char *name)
{
	struct stat st;

	assert_int_equal(stat(fx_path("state/%s", name), &st), 0);
	return st.st_size;
}

/*
 * The seqs of the file's lines into seqs (at most max), asserting that
 * every line is whole JSON.  Returns how many.
 */
static size_t
file_seqs(uint64_t *seqs, size_t max)
{
	char *line = NULL;
	size_t cap = 0, n = 0;
	ssize_t len;
	json_t *e;
	FILE *f;

	f = fopen(fx_path("state/events.jsonl"), "r");
	assert_non_null(f);
	while ((len = getline(&line, &cap, f)) > 0) {
		if (line[len - 1] != '\n')
			fail_msg("a line without its newline: \"%s\"", line);
		if ((e = json_loads(line, 0, NULL)) == NULL)
			fail_msg("a torn line: \"%s\"", line);
		assert_true(n < max);
		seqs[n++] = (uint64_t)json_integer_value(
		    json_object_get(e, "seq"));
		json_decref(e);
	}
	free(line);
	fclose(f);
	return n;
}

/* The seqs events_next() gives after `after`, into seqs: how many. */
static size_t
ring_seqs(struct events *ev, uint64_t after, uint64_t *seqs, size_t max)
{
	size_t n = 0;

	while (events_next(ev, after, &after) != NULL) {
		assert_true(n < max);
		seqs[n++] = after;
	}
	return n;
}

static void
test_full_disk_never_tears(void **state)
{
	struct events *ev;
	uint64_t seqs[64], first;
	size_t n, i;

	(void)state;
	ev = open_events(100);
	first = publish(ev, 0);
	/* Room for about two and a half more lines. */
	limit_file_size(file_size("events.jsonl") + 130);
	for (i = 1; i < 20; i++)
		assert_int_equal(publish(ev, (int)i), first + i);
	/* Whole lines only on disk, and not all of them. */
	n = file_seqs(seqs, 64);
	assert_true(n >= 2 && n < 20);
	for (i = 0; i < n; i++)
		assert_int_equal(seqs[i], first + i);
	/* Followers see every event meanwhile. */
	assert_int_equal(ring_seqs(ev, 0, seqs, 64), 20);
	for (i = 0; i < 20; i++)
		assert_int_equal(seqs[i], first + i);
	/* Room again: the rest follows, in order, once each. */
	limit_file_size(RLIM_INFINITY);
	events_flush(ev);
	assert_int_equal(file_seqs(seqs, 64), 20);
	for (i = 0; i < 20; i++)
		assert_int_equal(seqs[i], first + i);
	events_close(ev);

	ev = open_events(100);
	assert_int_equal(publish(ev, 20), first + 20);
	events_close(ev);
}

static void
test_torn_tail_cut(void **state)
{
	static const char text[] = "{\"seq\":1,\"type\":\"t\"}\n"
				   "{\"seq\":2,\"type\":\"t\"}\n"
				   "not json at all\n"
				   "{\"seq\":3,\"type\":\"t\"}\n"
				   "{\"seq\":4,\"ty";
	struct events *ev;
	uint64_t seqs[16];
	FILE *f;

	(void)state;
	f = fopen(fx_path("state/events.jsonl"), "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	ev = open_events(100);
	assert_int_equal(ring_seqs(ev, 0, seqs, 16), 3);
	assert_int_equal(seqs[2], 3);
	assert_int_equal(file_size("events.jsonl"),
	    (off_t)(strrchr(text, '\n') + 1 - text));
	/* The torn event's seq is not reused: it was given out once. */
	assert_true(publish(ev, 4) > 3);
	events_close(ev);
}

/*
 * A crash with events that never reached the disk: their seqs were given
 * to followers, so the next rumprund must not give them again.
 */
static void
test_seq_not_reused_after_crash(void **state)
{
	struct events *ev;
	uint64_t seqs[64], last = 0;
	int pfd[2], status;
	pid_t pid;
	size_t n;
	int i;

	(void)state;
	assert_int_equal(pipe(pfd), 0);
	if ((pid = fork()) == 0) {
		ev = open_events(100);
		publish(ev, 0);
		limit_file_size(file_size("events.jsonl"));
		for (i = 1; i < 10; i++)
			last = publish(ev, i);
		(void)!write(pfd[1], &last, sizeof(last));
		_exit(0); /* as kill -9 would: no events_close() */
	}
	assert_true(pid > 0);
	close(pfd[1]);
	assert_int_equal(read(pfd[0], &last, sizeof(last)), sizeof(last));
	close(pfd[0]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	n = file_seqs(seqs, 64);
	assert_int_equal(n, 1);
	assert_true(last > seqs[0]);

	ev = open_events(100);
	assert_true(publish(ev, 10) > last);
	events_close(ev);
}

/* A clean close leaves no jump: the next start goes on by one. */
static void
test_seq_goes_on_after_clean_close(void **state)
{
	struct events *ev;
	uint64_t a;

	(void)state;
	ev = open_events(100);
	a = publish(ev, 0);
	events_close(ev);
	ev = open_events(100);
	assert_int_equal(publish(ev, 1), a + 1);
	events_close(ev);
}

static void
test_resume_across_a_gap(void **state)
{
	static const char text[] = "{\"seq\":1,\"type\":\"t\"}\n"
				   "{\"seq\":2,\"type\":\"t\"}\n"
				   "{\"seq\":5,\"type\":\"t\"}\n"
				   "{\"seq\":6,\"type\":\"t\"}\n";
	struct events *ev;
	uint64_t seq, last;
	FILE *f;

	(void)state;
	f = fopen(fx_path("state/events.jsonl"), "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	ev = open_events(100);
	assert_non_null(events_next(ev, 3, &seq));
	assert_int_equal(seq, 5);
	assert_non_null(events_next(ev, 2, &seq));
	assert_int_equal(seq, 5);
	assert_non_null(events_next(ev, 0, &seq));
	assert_int_equal(seq, 1);
	assert_null(events_next(ev, 6, &seq));
	/* A live follower starts at the last seq and sees the next one. */
	last = events_last_seq(ev);
	assert_true(last >= 6);
	assert_int_equal(publish(ev, 7), last + 1);
	assert_non_null(events_next(ev, last, &seq));
	assert_int_equal(seq, last + 1);
	events_close(ev);
}

static void
test_ring_drops_unwritten_and_compacts(void **state)
{
	struct events *ev;
	uint64_t seqs[64], first;
	size_t n, i;

	(void)state;
	ev = open_events(8);
	first = publish(ev, 0);
	limit_file_size(file_size("events.jsonl"));
	for (i = 1; i < 20; i++)
		publish(ev, (int)i);
	/* The ring keeps 8: events 1..11 never reach the disk. */
	limit_file_size(RLIM_INFINITY);
	for (i = 20; i < 40; i++)
		publish(ev, (int)i);
	n = file_seqs(seqs, 64);
	assert_true(n <= 16);
	for (i = 1; i < n; i++)
		assert_true(seqs[i] > seqs[i - 1]);
	assert_int_equal(seqs[n - 1], first + 39);
	events_close(ev);
}

static void
test_file_is_0600(void **state)
{
	struct events *ev;
	struct stat st;
	FILE *f;

	(void)state;
	f = fopen(fx_path("state/events.jsonl"), "w");
	assert_non_null(f);
	fclose(f);
	assert_int_equal(chmod(fx_path("state/events.jsonl"), 0644), 0);
	ev = open_events(10);
	publish(ev, 0);
	events_close(ev);
	assert_int_equal(stat(fx_path("state/events.jsonl"), &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(stat(fx_path("state/events.seq"), &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_full_disk_never_tears,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_torn_tail_cut, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_seq_not_reused_after_crash,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_seq_goes_on_after_clean_close, setup, teardown),
		cmocka_unit_test_setup_teardown(test_resume_across_a_gap, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(
		    test_ring_drops_unwritten_and_compacts, setup, teardown),
		cmocka_unit_test_setup_teardown(test_file_is_0600, setup,
		    teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
