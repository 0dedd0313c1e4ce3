/*
 * Tests of what rrctl shows people (fmt.c, table.c) and of the pure parts
 * of its HTTP layer (host URLs, paths).
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

#include "fmt.h"
#include "http.h"
#include "table.h"

static void
test_time(void **state)
{
	int64_t ms;

	(void)state;
	assert_int_equal(fmt_time_ms("1970-01-01T00:00:00Z", &ms), 0);
	assert_int_equal(ms, 0);
	assert_int_equal(fmt_time_ms("2026-11-22T13:54:01.123Z", &ms), 0);
	assert_int_equal(ms, 1795355641123LL);
	assert_int_equal(fmt_time_ms("2026-11-22T14:54:01.5+01:00", &ms), 0);
	assert_int_equal(ms, 1795355641500LL);
	assert_int_equal(fmt_time_ms("2026-11-22T13:54:01-00:30", &ms), 0);
	assert_int_equal(ms, 1795357441000LL);
	assert_int_equal(fmt_time_ms("2026-11-22 13:54:01Z", &ms), -1);
	assert_int_equal(fmt_time_ms("2026-11-22T13:54:01", &ms), -1);
	assert_int_equal(fmt_time_ms("2026-11-22T13:54:01Zjunk", &ms), -1);
	assert_int_equal(fmt_time_ms("yesterday", &ms), -1);
	assert_int_equal(fmt_time_ms(NULL, &ms), -1);
}

static void
test_duration(void **state)
{
	static const struct {
		int64_t s;
		const char *text;
	} t[] = {
		{ -5, "0s" },
		{ 0, "0s" },
		{ 59, "59s" },
		{ 60, "1m00s" },
		{ 725, "12m05s" },
		{ 3600, "1h00m" },
		{ 18120, "5h02m" },
		{ 86400, "1d00h" },
		{ 273600, "3d04h" },
	};
	char buf[32];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		fmt_duration(t[i].s, buf, sizeof(buf));
		assert_string_equal(buf, t[i].text);
	}
}

static void
test_ps_row(void **state)
{
	struct fmt_ps row;
	json_t *inst;
	int64_t now;

	(void)state;
	memset(&row, 0, sizeof(row));
	assert_int_equal(fmt_time_ms("2026-11-22T13:55:06.000Z", &now), 0);
	inst = json_loads(
	    "{\"name\": \"web\", \"state\": \"running\","
	    " \"platform\": \"kvm\", \"memory_mib\": 64,"
	    " \"started\": \"2026-11-22T13:54:01.000Z\", \"exit_status\": null,"
	    " \"nics\": [{\"addr\": \"10.0.0.2/24\"}, {\"addr\": null},"
	    " {\"addr\": \"10.0.1.2/24\"}]}",
	    0, NULL);
	fmt_ps_row(inst, now, &row);
	assert_string_equal(row.name, "web");
	assert_string_equal(row.state, "running");
	assert_string_equal(row.platform, "kvm");
	assert_string_equal(row.memory, "64MiB");
	assert_string_equal(row.uptime, "1m05s");
	assert_string_equal(row.exit, "-");
	assert_string_equal(row.address, "10.0.0.2/24,10.0.1.2/24");
	assert_string_equal(row.status, "up 1m05s");
	json_decref(inst);

	/* What the daemon learnt comes first; host devices comma-separated. */
	inst =
	    json_loads("{\"name\": \"d\", \"state\": \"running\","
		       " \"nics\": [{\"addr\": null, \"host_dev\": \"vnet3\","
		       " \"addresses\": [{\"addr\": \"192.168.7.9/24\"},"
		       " {\"addr\": \"fe80::1/64\"}]},"
		       " {\"addr\": \"10.0.1.2/24\", \"host_dev\": null,"
		       " \"addresses\": []},"
		       " {\"addr\": \"10.0.2.2/24\", \"host_dev\": \"vnet4\","
		       " \"addresses\": [{\"addr\": \"10.0.2.2/24\"}]}]}",
		0, NULL);
	fmt_ps_row(inst, now, &row);
	assert_string_equal(row.address,
	    "192.168.7.9/24,fe80::1/64,10.0.1.2/24,10.0.2.2/24");
	assert_string_equal(row.hostdev, "vnet3,vnet4");
	json_decref(inst);

	inst = json_loads(
	    "{\"name\": \"done\", \"state\": \"exited\","
	    " \"platform\": \"xen\", \"memory_mib\": 128,"
	    " \"started\": \"2026-11-22T13:54:01.000Z\", \"exit_status\": 3,"
	    " \"nics\": []}",
	    0, NULL);
	fmt_ps_row(inst, now, &row);
	assert_string_equal(row.uptime, "-");
	assert_string_equal(row.exit, "3");
	assert_string_equal(row.address, "-");
	assert_string_equal(row.hostdev, "-");
	/* No finished time: no "ago". */
	assert_string_equal(row.status, "exited (3)");
	json_decref(inst);

	/* STATUS as docker ps's: how it ended, how long ago, why. */
	inst = json_loads(
	    "{\"name\": \"e\", \"state\": \"exited\","
	    " \"exit_status\": 3, \"finished\": \"2026-11-22T13:53:06.000Z\"}",
	    0, NULL);
	fmt_ps_row(inst, now, &row);
	assert_string_equal(row.status, "exited (3) 2m00s ago");
	json_decref(inst);
	inst = json_loads("{\"name\": \"c\", \"state\": \"crashed\","
			  " \"reason\": \"PANIC: oops\","
			  " \"finished\": \"2026-11-22T13:55:01.000Z\"}",
	    0, NULL);
	fmt_ps_row(inst, now, &row);
	assert_string_equal(row.status, "crashed 5s ago: PANIC: oops");
	json_decref(inst);
	inst = json_loads(
	    "{\"name\": \"f\", \"state\": \"failed\","
	    " \"reason\": \"main() not called in 60 s; last console line: "
	    "\\\"SeaBIOS (version 1.16.2)\\\"\"}",
	    0, NULL);
	fmt_ps_row(inst, now, &row);
	assert_string_equal(row.status,
	    "failed: main() not called in 60 s; "
	    "last console line:...");
	json_decref(inst);
	inst = json_loads("{\"name\": \"s\", \"state\": \"paused\"}", 0, NULL);
	fmt_ps_row(inst, now, &row);
	assert_string_equal(row.status, "paused");
	json_decref(inst);
	/* Stopping: said so; it still runs, so it has an uptime. */
	inst = json_loads("{\"name\": \"t\", \"state\": \"stopping\","
			  " \"started\": \"2026-11-22T13:54:01.000Z\"}",
	    0, NULL);
	fmt_ps_row(inst, now, &row);
	assert_string_equal(row.status, "stopping");
	assert_string_equal(row.uptime, "1m05s");
	json_decref(inst);
	/* Waiting for its restart policy: the attempt, seconds rounded up. */
	inst = json_loads("{\"name\": \"b\", \"state\": \"backoff\","
			  " \"exit_status\": 1, \"restart\": {\"attempt\": 3,"
			  " \"next_attempt\": \"2026-11-22T13:55:09.200Z\"}}",
	    0, NULL);
	fmt_ps_row(inst, now, &row);
	assert_string_equal(row.status, "backoff (retry 3 in 4s)");
	json_decref(inst);
	inst = json_loads("{\"name\": \"b\", \"state\": \"backoff\","
			  " \"restart\": {\"attempt\": 1,"
			  " \"next_attempt\": \"2026-11-22T13:55:05.000Z\"}}",
	    0, NULL);
	fmt_ps_row(inst, now, &row);
	assert_string_equal(row.status, "backoff (retry 1 in 0s)");
	json_decref(inst);

	/* Not started yet. */
	inst = json_loads("{\"name\": \"p\", \"state\": \"pending\","
			  " \"started\": null}",
	    0, NULL);
	fmt_ps_row(inst, now, &row);
	assert_string_equal(row.uptime, "-");
	assert_string_equal(row.memory, "-");
	assert_string_equal(row.platform, "-");
	json_decref(inst);
}

static void
test_ended(void **state)
{
	(void)state;
	assert_true(fmt_state_ended("exited"));
	assert_true(fmt_state_ended("stopped"));
	assert_true(fmt_state_ended("crashed"));
	assert_true(fmt_state_ended("failed"));
	assert_false(fmt_state_ended("running"));
	assert_false(fmt_state_ended("stopping"));
	assert_false(fmt_state_ended("paused"));
	assert_false(fmt_state_ended("pending"));
	assert_false(fmt_state_ended("starting"));
	assert_false(fmt_state_ended(NULL));
}

static void
test_event(void **state)
{
	static const struct {
		const char *json, *line;
	} t[] = {
		{ "{\"seq\": 1, \"time\": \"T1\", \"type\": \"created\","
		  " \"name\": \"a\", \"state\": \"pending\"}",
		    "1 T1 a created" },
		{ "{\"seq\": 2, \"time\": \"T2\", \"type\": \"state\","
		  " \"name\": \"a\", \"state\": \"running\"}",
		    "2 T2 a running" },
		{ "{\"seq\": 7, \"time\": \"T7\", \"type\": \"state\","
		  " \"name\": \"a\", \"state\": \"running\", \"exit_status\": 3}",
		    "7 T7 a running" },
		{ "{\"seq\": 3, \"time\": \"T3\", \"type\": \"state\","
		  " \"name\": \"a\", \"state\": \"exited\", \"exit_status\": 3}",
		    "3 T3 a exited (exit 3)" },
		{ "{\"seq\": 4, \"time\": \"T4\", \"type\": \"state\","
		  " \"name\": \"b\", \"state\": \"crashed\","
		  " \"reason\": \"PANIC: oops\"}",
		    "4 T4 b crashed (PANIC: oops)" },
		{ "{\"seq\": 5, \"time\": \"T5\", \"type\": \"state\","
		  " \"name\": \"c\", \"state\": \"stopped\", \"exit_status\": 0,"
		  " \"reason\": \"stopped\"}",
		    "5 T5 c stopped (exit 0, stopped)" },
		{ "{\"seq\": 6, \"time\": \"T6\", \"type\": \"removed\","
		  " \"name\": \"a\", \"state\": \"exited\"}",
		    "6 T6 a removed" },
		{ "{\"seq\": 8, \"time\": \"T8\", \"type\": \"state\","
		  " \"name\": \"r\", \"state\": \"backoff\", \"exit_status\": 1}",
		    "8 T8 r backoff (exit 1)" },
		{ "{\"seq\": 9, \"time\": \"T9\", \"type\": \"restart\","
		  " \"name\": \"r\", \"state\": \"pending\", \"generation\": 3,"
		  " \"attempt\": 2, \"restart_count\": 2,"
		  " \"reason\": \"exit status 1\"}",
		    "9 T9 r restart 2 (generation 3): exit status 1" },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		json_t *ev = json_loads(t[i].json, 0, NULL);
		char *line;

		assert_non_null(ev);
		line = fmt_event(ev);
		assert_string_equal(line, t[i].line);
		free(line);
		json_decref(ev);
	}
}

static void
test_table(void **state)
{
	static const char *const head[] = { "NAME", "STATE", "ADDRESS" };
	static const char *const r1[] = { "a-long-name", "running", NULL };
	static const char *const r2[] = { "b", "caf\xc3\xa9", "10.0.0.2/24" };
	struct table *t;
	char *buf = NULL;
	size_t len = 0;
	FILE *fp;

	(void)state;
	t = table_new(3);
	assert_non_null(t);
	assert_int_equal(table_row(t, head), 0);
	assert_int_equal(table_row(t, r1), 0);
	assert_int_equal(table_row(t, r2), 0);
	assert_int_equal(table_rows(t), 3);
	fp = open_memstream(&buf, &len);
	table_print(t, fp);
	fclose(fp);
	assert_string_equal(buf,
	    "NAME         STATE    ADDRESS\n"
	    "a-long-name  running  -\n"
	    "b            caf\xc3\xa9     10.0.0.2/24\n");
	free(buf);
	table_free(t);
	table_free(NULL);
	assert_int_equal(table_width("caf\xc3\xa9"), 4);
}

static void
test_hosts(void **state)
{
	static const struct {
		const char *host, *shown, *err;
	} t[] = {
		{ "unix:///run/rumprund/rumprund.sock",
		    "unix:///run/rumprund/rumprund.sock", NULL },
		{ "/tmp/x.sock", "unix:///tmp/x.sock", NULL },
		{ "http://127.0.0.1:7070", "http://127.0.0.1:7070", NULL },
		{ "http://127.0.0.1:7070/", "http://127.0.0.1:7070", NULL },
		{ "https://rr.example:443", "https://rr.example:443", NULL },
		{ "tcp://[::1]:7070", "http://[::1]:7070", NULL },
		{ "unix://relative.sock", NULL,
		    "--host unix://relative.sock: a "
		    "unix socket is unix:///PATH, with an absolute PATH" },
		{ "http://h:1/v1", NULL,
		    "--host http://h:1/v1: give "
		    "http://HOST:PORT without a path" },
		{ "http://", NULL,
		    "--host http://: give http://HOST:PORT "
		    "without a path" },
		{ "localhost:7070", NULL,
		    "--host localhost:7070: must be "
		    "unix:///PATH or http(s)://HOST:PORT" },
	};
	char err[256];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct http *h;

		err[0] = '\0';
		h = http_new(t[i].host, NULL, err, sizeof(err));
		if (t[i].shown != NULL) {
			assert_non_null(h);
			assert_string_equal(http_host(h), t[i].shown);
		} else {
			assert_null(h);
			assert_string_equal(err, t[i].err);
		}
		http_free(h);
	}
}

static void
test_token_file(void **state)
{
	char path[] = "/tmp/rr-test-token.XXXXXX", err[256];
	struct http *h;
	FILE *fp;
	int fd;

	(void)state;
	fd = mkstemp(path);
	assert_true(fd != -1);
	fp = fdopen(fd, "w");
	fputs("s3cret \n", fp);
	fclose(fp);
	h = http_new("http://127.0.0.1:1", path, err, sizeof(err));
	assert_non_null(h);
	http_free(h);
	fp = fopen(path, "w");
	fputs("\n", fp);
	fclose(fp);
	assert_null(http_new("http://127.0.0.1:1", path, err, sizeof(err)));
	assert_non_null(strstr(err, "no token in it"));
	unlink(path);
	assert_null(http_new("http://127.0.0.1:1", path, err, sizeof(err)));
	assert_non_null(strstr(err, "No such file or directory"));
}

static void
test_paths(void **state)
{
	char *p;

	(void)state;
	p = http_path("web-1", "/logs?follow=true");
	assert_string_equal(p, "/v1/unikernels/web-1/logs?follow=true");
	free(p);
	p = http_path("a b/c?d", "");
	assert_string_equal(p, "/v1/unikernels/a%20b%2Fc%3Fd");
	free(p);
	p = http_escape("team=web&x");
	assert_string_equal(p, "team%3Dweb%26x");
	free(p);
	/* Unreserved characters stay; bytes of UTF-8 and '+' are encoded. */
	p = http_escape("A-z_0.9~ \xc3\xa9+");
	assert_string_equal(p, "A-z_0.9~%20%C3%A9%2B");
	free(p);
	p = http_escape("");
	assert_string_equal(p, "");
	free(p);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_time),
		cmocka_unit_test(test_duration),
		cmocka_unit_test(test_ps_row),
		cmocka_unit_test(test_ended),
		cmocka_unit_test(test_event),
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_hosts),
		cmocka_unit_test(test_token_file),
		cmocka_unit_test(test_paths),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
