/*
 * cmd_stream: rrctl logs and events, streams copied as they arrive.
 * Ctrl-C ends the following (exit 130); the guests are not touched.
 *
 * A followed stream that breaks (rumprund restarts: it closes streams
 * without their last chunk, so a break is never taken for the end) is
 * resumed where it broke, from the byte offset (logs, X-Log-Offset plus
 * what came) or the event seq (events, X-Event-Seq or the last event's),
 * for up to CTL_RESUME_S seconds; then rrctl exits CTL_UNREACHABLE.
 */
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <sys/time.h>
#include <time.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fmt.h"
#include "http.h"
#include "rrctl.h"
#include "sbuf.h"

static long long
now_ms(void)
{
	struct timeval tv;

	gettimeofday(&tv, NULL);
	return (long long)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

/* CTL_RESUME_S, or RRCTL_RECONNECT_S (0 to 3600) when set. */
static long
resume_s(void)
{
	const char *env = getenv("RRCTL_RECONNECT_S");
	long n;

	if (env != NULL && ctl_number(env, 0, 3600, &n) == 0)
		return n;
	return CTL_RESUME_S;
}

int
ctl_resume_wait(struct ctl *c, struct http_req *r, long long *deadline_ms)
{
	long secs = resume_s();

	if (*deadline_ms == 0) {
		/* Just broke: say why, once. */
		(void)ctl_outcome(c->http, r, NULL);
		if (secs == 0)
			return CTL_UNREACHABLE;
		ctl_warnx("reconnecting for up to %ld s", secs);
		*deadline_ms = now_ms() + secs * 1000LL;
	}
	if (now_ms() >= *deadline_ms) {
		ctl_warnx("gave up: rumprund at %s did not come back in %ld s",
		    http_host(c->http), secs);
		return CTL_UNREACHABLE;
	}
	(void)poll(NULL, 0, CTL_RESUME_PAUSE_MS);
	if (http_interrupted())
		return CTL_INTERRUPTED;
	return CTL_OK;
}

void
ctl_resumed(struct ctl *c, long long *deadline_ms)
{
	if (*deadline_ms != 0)
		ctl_warnx("reconnected to rumprund at %s", http_host(c->http));
	*deadline_ms = 0;
}

/* The "2026-12-01T10:00:00.123Z " before each line of logs -t. */
#define LOG_STAMP_LEN 25

/* A followed stream: where it is, to resume it. */
struct follow {
	struct http_req r;
	int (*on_data)(void *, const char *, size_t);
	void *arg;
	long long at;	     /* logs: the next byte's offset, or -1 */
	long long seq;	     /* events: the last seq seen, or -1 */
	bool lines;	     /* events: whole lines only */
	long long cutoff_ms; /* events: only those from then on, or 0 */
	bool stamps;	     /* logs -t: each line after a prefix */
	bool line_start;     /* logs -t: a prefix comes next */
	size_t skip;	     /* logs -t: prefix bytes still to come */
	long long deadline;  /* resuming until then (ms), or 0 */
	struct sbuf partial; /* events: a line not yet complete */
};

static int
follow_data(void *arg, const char *buf, size_t len)
{
	struct follow *f = arg;

	size_t i;

	if (f->at < 0 && f->r.resume_at >= 0)
		f->at = f->r.resume_at;
	if (f->at >= 0 && !f->stamps)
		f->at += (long long)len;
	/* logs -t: count the log's own bytes only, not the prefixes. */
	for (i = 0; f->at >= 0 && f->stamps && i < len; i++) {
		if (f->skip > 0)
			f->skip--;
		else if (f->line_start) {
			f->skip = LOG_STAMP_LEN - 1;
			f->line_start = false;
		} else {
			f->at++;
			f->line_start = buf[i] == '\n';
		}
	}
	return f->on_data(f->arg, buf, len);
}

/* An until() of http_run(): the end, or a resumed stream answering. */
static bool
follow_until(void *arg)
{
	const struct follow *f = arg;

	return f->r.done ||
	    (f->deadline != 0 && f->r.status >= 200 && f->r.status < 300);
}

/*
 * GET path, its 2xx body to f's on_data, resumed with resume(f, buf) as
 * the path when it breaks after it began (when resume is not NULL).  The
 * exit status.
 */
static int
follow(struct ctl *c, const char *path, struct follow *f, bool interruptible,
    int (*resume)(struct follow *, char *, size_t))
{
	char again[512];
	bool began = false;
	int rv;

	if (interruptible && http_catch_interrupt(c->http) == -1) {
		ctl_warnx("cannot catch SIGINT");
		return CTL_DENIED;
	}
	for (;;) {
		memset(&f->r, 0, sizeof(f->r));
		f->r.method = "GET";
		f->r.path = path;
		f->r.on_data = follow_data;
		f->r.arg = f;
		if (http_start(c->http, &f->r) == -1) {
			ctl_warnx("out of memory");
			return CTL_DENIED;
		}
		while ((rv = http_run(c->http, follow_until, f)) == 0 &&
		    !f->r.done) {
			began = true;
			ctl_resumed(c, &f->deadline);
		}
		http_end(c->http, &f->r);
		fflush(stdout);
		if (rv == HTTP_INTERRUPTED) {
			http_req_reset(&f->r);
			return CTL_INTERRUPTED;
		}
		if (f->r.status >= 200 && f->r.status < 300) {
			began = true;
			ctl_resumed(c, &f->deadline);
		}
		if (resume == NULL || !began || !http_broken(&f->r) ||
		    resume(f, again, sizeof(again)) == -1)
			break;
		rv = ctl_resume_wait(c, &f->r, &f->deadline);
		http_req_reset(&f->r);
		if (rv != CTL_OK)
			return rv;
		path = again;
	}
	rv = ctl_outcome(c->http, &f->r, NULL);
	http_req_reset(&f->r);
	return rv;
}

static int since_arg(const char *, long *, long long *);

static const char *logs_name; /* the instance rrctl logs follows */

/* The path that goes on where the log broke; 0, or -1 when unknown. */
static int
logs_resume(struct follow *f, char *buf, size_t len)
{
	char query[64], *path;

	if (f->at < 0)
		return -1;
	snprintf(query, sizeof(query), "/logs?follow=true&since=%lld%s", f->at,
	    f->stamps ? "&timestamps=true" : "");
	if ((path = http_path(logs_name, query)) == NULL)
		return -1;
	snprintf(buf, len, "%s", path);
	free(path);
	return 0;
}

int
ctl_logs(struct ctl *c, int argc, char *argv[])
{
	static const struct option longopts[] = {
		{ "follow", no_argument, NULL, 'f' },
		{ "tail", required_argument, NULL, 'n' },
		{ "timestamps", no_argument, NULL, 't' },
		{ "since", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	bool follow_it = false, stamps = false, started = false;
	char *name, *path, query[160], when[40];
	long long cutoff = 0;
	struct follow f;
	long tail = -1, seq;
	int ch, rv;

	while ((ch = ctl_getopt(c, argc, argv, "fhn:t", longopts, &started,
		    &rv)) != -1) {
		switch (ch) {
		case 'f':
			follow_it = true;
			break;
		case 'n':
			if (ctl_number(optarg, 0, 100000, &tail) == -1)
				return ctl_usage_error(c->cmd,
				    "--tail %s: give "
				    "a number of lines up to 100000",
				    optarg);
			break;
		case 't':
			stamps = true;
			break;
		case 's':
			if (since_arg(optarg, &seq, &cutoff) == -1 ||
			    cutoff == 0)
				return ctl_usage_error(c->cmd,
				    "--since %s: "
				    "give a duration (10m) or a time "
				    "(2026-12-01T10:00:00Z)",
				    optarg);
			break;
		default:
			return rv;
		}
	}
	if (argc - optind != 1)
		return ctl_usage_error(c->cmd, "give one name");
	if (tail >= 0 && cutoff > 0)
		return ctl_usage_error(c->cmd,
		    "give --tail or --since, not both");
	name = argv[optind];
	if ((rv = ctl_connect(c)) != CTL_OK)
		return rv;
	snprintf(query, sizeof(query), "/logs?follow=%s%s",
	    follow_it ? "true" : "false", stamps ? "&timestamps=true" : "");
	if (tail >= 0)
		snprintf(query + strlen(query), sizeof(query) - strlen(query),
		    "&tail=%ld", tail);
	if (cutoff > 0) {
		time_t secs = (time_t)(cutoff / 1000);
		struct tm tm;

		gmtime_r(&secs, &tm);
		strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
		snprintf(query + strlen(query), sizeof(query) - strlen(query),
		    "&since_time=%s.%03dZ", when, (int)(cutoff % 1000));
	}
	if ((path = http_path(name, query)) == NULL) {
		ctl_warnx("out of memory");
		return CTL_DENIED;
	}
	memset(&f, 0, sizeof(f));
	f.on_data = ctl_copy_out;
	f.at = f.seq = -1;
	f.stamps = stamps;
	f.line_start = true;
	logs_name = name;
	rv = follow(c, path, &f, follow_it, follow_it ? logs_resume : NULL);
	free(path);
	return rv;
}

/* An event line: its seq noted, printed as JSON or made readable. */
static void
event_line(void *arg, const char *line, size_t len)
{
	struct follow *f = arg;
	json_error_t jerr;
	json_t *ev, *seq;
	const char *type;
	char *text = NULL;

	ev = json_loadb(line, len, 0, &jerr);
	seq = json_object_get(ev, "seq");
	if (json_is_integer(seq))
		f->seq = json_integer_value(seq);
	type = json_string_value(json_object_get(ev, "type"));
	/* A heartbeat only keeps the connection and the seq fresh. */
	if (type != NULL && strcmp(type, "heartbeat") == 0) {
		json_decref(ev);
		return;
	}
	if (type != NULL && strcmp(type, "lost") == 0 && !f->lines) {
		ctl_warnx("events %lld to %lld are no longer kept by rumprund",
		    (long long)json_integer_value(json_object_get(ev, "from")),
		    (long long)json_integer_value(json_object_get(ev, "to")));
		json_decref(ev);
		return;
	}
	if (f->cutoff_ms > 0 && ev != NULL) {
		int64_t t;

		if (fmt_time_ms(json_string_value(json_object_get(ev, "time")),
			&t) == 0 &&
		    t < f->cutoff_ms) {
			json_decref(ev);
			return; /* before --since TIME */
		}
	}
	if (f->lines || ev == NULL || (text = fmt_event(ev)) == NULL)
		printf("%.*s\n", (int)len, line);
	else
		printf("%s\n", text);
	free(text);
	json_decref(ev);
}

static int
event_data(void *arg, const char *buf, size_t len)
{
	struct follow *f = arg;

	http_lines(&f->partial, buf, len, event_line, f);
	fflush(stdout);
	return 0;
}

static bool events_follow; /* rrctl events without --no-follow */

/* The path that goes on after the last event; 0, or -1 when unknown. */
static int
events_resume(struct follow *f, char *buf, size_t len)
{
	long long after = f->seq;

	if (after < 0)
		after = f->r.resume_at;
	if (after < 0)
		return -1;
	/* A line cut by the break comes again, whole. */
	sbuf_reset(&f->partial);
	snprintf(buf, len, "/v1/events?since=%lld%s", after,
	    events_follow ? "" : "&follow=false");
	return 0;
}

/*
 * --since: an event seq (digits), a duration back from now (10s, 5m, 2h,
 * 1d) or an RFC 3339 time.  *seq or *cutoff_ms (the other -1 / 0); 0, or
 * -1 when s is none of them.
 */
static int
since_arg(const char *s, long *seq, long long *cutoff_ms)
{
	static const struct {
		char unit;
		long long ms;
	} units[] = {
		{ 's', 1000LL },
		{ 'm', 60000LL },
		{ 'h', 3600000LL },
		{ 'd', 86400000LL },
	};
	char num[24], *end;
	long long n;
	int64_t t;
	size_t i, len = strlen(s);

	*seq = -1;
	*cutoff_ms = 0;
	if (ctl_number(s, 0, LONG_MAX, seq) == 0)
		return 0;
	for (i = 0; len >= 2 && len < sizeof(num) &&
	     i < sizeof(units) / sizeof(units[0]);
	     i++) {
		if (s[len - 1] != units[i].unit || s[0] < '0' || s[0] > '9')
			continue;
		snprintf(num, sizeof(num), "%.*s", (int)(len - 1), s);
		n = strtoll(num, &end, 10);
		if (*end != '\0' || n > 3650LL * 86400000LL / units[i].ms)
			return -1;
		*cutoff_ms = now_ms() - n * units[i].ms;
		return 0;
	}
	if (fmt_time_ms(s, &t) == 0) {
		*cutoff_ms = t;
		return 0;
	}
	return -1;
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
	struct follow f;
	bool no_follow = false, started = false;
	char path[96];
	long since = -1;
	long long cutoff = 0;
	int ch, rv;

	while ((ch = ctl_getopt(c, argc, argv, "h", longopts, &started, &rv)) !=
	    -1) {
		switch (ch) {
		case 's':
			if (since_arg(optarg, &since, &cutoff) == -1)
				return ctl_usage_error(c->cmd,
				    "--since %s: "
				    "give an event number, a duration (10m) "
				    "or a time (2026-12-01T10:00:00Z)",
				    optarg);
			if (cutoff > 0)
				since = 0; /* the kept ones, then by time */
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
	memset(&f, 0, sizeof(f));
	f.on_data = event_data;
	f.arg = &f;
	f.at = f.seq = -1;
	f.lines = c->json;
	f.cutoff_ms = cutoff;
	events_follow = !no_follow;
	rv = follow(c, path, &f, true, events_resume);
	sbuf_reset(&f.partial);
	return rv;
}
