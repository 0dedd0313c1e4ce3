/*
 * cmd_stream: rrctl logs and events, streams copied as they arrive.
 * Ctrl-C ends the following (exit 130); the guests are not touched.
 */
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fmt.h"
#include "http.h"
#include "rrctl.h"
#include "sbuf.h"

/* One GET whose 2xx body goes to on_data; the exit status. */
static int
follow(struct ctl *c, const char *path, int (*on_data)(void *, const char *,
    size_t), void *arg, bool interruptible)
{
	struct http_req r;
	int rv;

	memset(&r, 0, sizeof(r));
	r.method = "GET";
	r.path = path;
	r.on_data = on_data;
	r.arg = arg;
	if (interruptible && http_catch_interrupt(c->http) == -1) {
		ctl_warnx("cannot catch SIGINT");
		return CTL_DENIED;
	}
	if (http_start(c->http, &r) == -1) {
		ctl_warnx("out of memory");
		return CTL_DENIED;
	}
	rv = http_run(c->http, http_req_done, &r);
	http_end(c->http, &r);
	fflush(stdout);
	if (rv == HTTP_INTERRUPTED)
		rv = CTL_INTERRUPTED;
	else
		rv = http_outcome(c->http, &r, NULL);
	http_req_reset(&r);
	return rv;
}

int
ctl_logs(struct ctl *c, int argc, char *argv[])
{
	static const struct option longopts[] = {
		{ "follow", no_argument, NULL, 'f' },
		{ "tail", required_argument, NULL, 'n' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	bool follow_it = false, started = false;
	char *name, *path, query[64];
	long tail = -1;
	int ch, rv;

	while ((ch = ctl_getopt(c, argc, argv, "fhn:", longopts, &started,
	    &rv)) != -1) {
		switch (ch) {
		case 'f':
			follow_it = true;
			break;
		case 'n':
			if (ctl_number(optarg, 0, 100000, &tail) == -1)
				return ctl_usage_error(c->cmd, "--tail %s: give "
				    "a number of lines up to 100000", optarg);
			break;
		default:
			return rv;
		}
	}
	if (argc - optind != 1)
		return ctl_usage_error(c->cmd, "give one name");
	name = argv[optind];
	if ((rv = ctl_connect(c)) != CTL_OK)
		return rv;
	snprintf(query, sizeof(query), "/logs%s", follow_it ?
	    "?follow=true" : "");
	if (tail >= 0)
		snprintf(query + strlen(query), sizeof(query) - strlen(query),
		    "%ctail=%ld", follow_it ? '&' : '?', tail);
	if ((path = http_path(name, query)) == NULL) {
		ctl_warnx("out of memory");
		return CTL_DENIED;
	}
	rv = follow(c, path, ctl_copy_out, NULL, follow_it);
	free(path);
	return rv;
}

/* Events for people: whole lines, each made readable. */
static void
readable_line(void *arg, const char *line, size_t len)
{
	json_error_t jerr;
	json_t *ev;
	char *text;

	(void)arg;
	if ((ev = json_loadb(line, len, 0, &jerr)) == NULL ||
	    (text = fmt_event(ev)) == NULL)
		printf("%.*s\n", (int)len, line);
	else {
		printf("%s\n", text);
		free(text);
	}
	json_decref(ev);
}

static int
readable_data(void *arg, const char *buf, size_t len)
{
	http_lines(arg, buf, len, readable_line, NULL);
	fflush(stdout);
	return 0;
}

int
ctl_events(struct ctl *c, int argc, char *argv[])
{
	static const struct option longopts[] = {
		{ "since", required_argument, NULL, 's' },
		{ "no-follow", no_argument, NULL, 'N' },
		{ "json", no_argument, NULL, 'J' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct sbuf partial = SBUF_INIT;
	bool no_follow = false, started = false;
	char path[96];
	long since = -1;
	int ch, rv;

	while ((ch = ctl_getopt(c, argc, argv, "h", longopts, &started,
	    &rv)) != -1) {
		switch (ch) {
		case 's':
			if (ctl_number(optarg, 0, LONG_MAX,
			    &since) == -1)
				return ctl_usage_error(c->cmd, "--since %s: "
				    "give an event number", optarg);
			break;
		case 'N':
			no_follow = true;
			break;
		default:
			return rv;
		}
	}
	if (optind < argc)
		return ctl_usage_error(c->cmd, "unexpected argument %s",
		    argv[optind]);
	if ((rv = ctl_connect(c)) != CTL_OK)
		return rv;
	snprintf(path, sizeof(path), "/v1/events");
	if (since >= 0)
		snprintf(path + strlen(path), sizeof(path) - strlen(path),
		    "?since=%ld", since);
	if (no_follow)
		snprintf(path + strlen(path), sizeof(path) - strlen(path),
		    "%cfollow=false", since >= 0 ? '&' : '?');
	if (c->json)
		return follow(c, path, ctl_copy_out, NULL, true);
	rv = follow(c, path, readable_data, &partial, true);
	sbuf_reset(&partial);
	return rv;
}
