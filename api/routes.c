/*
 * routes: the handlers of the REST API (see routes.h and openapi.yaml).
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "console.h"
#include "events.h"
#include "instance.h"
#include "log.h"
#include "routes.h"

#define STOP_TIMEOUT_MAX	3600
#define TAIL_MAX		100000

/* An engine answer becomes the HTTP answer of the request in arg. */
static void
reply(void *arg, unsigned int status, json_t *body, const struct rrerr *err)
{
	struct httpd_req *req = arg;

	if (err != NULL)
		httpd_reply_error(req, err);
	else
		httpd_reply_json(req, status, body);
}

static void __attribute__((format(printf, 4, 5)))
reply_bad(struct httpd_req *req, enum rrerr_code code, const char *field,
    const char *fmt, ...)
{
	struct rrerr err;
	va_list ap;

	rrerr_set(&err, code, field, "%s", "");
	va_start(ap, fmt);
	vsnprintf(err.message, sizeof(err.message), fmt, ap);
	va_end(ap);
	httpd_reply_error(req, &err);
}

/*
 * Log who asks for a change: the peer's uid on the unix socket; on TCP its
 * address, client certificate and token_file line.
 */
static void
log_change(struct httpd_req *req, const char *what, const char *name)
{
	char peer[512];
	uid_t uid;

	if (httpd_req_peer_uid(req, &uid) == 0) {
		log_info("%s: %s requested by uid %u", name, what,
		    (unsigned int)uid);
		return;
	}
	httpd_req_peer_name(req, peer, sizeof(peer));
	log_info("%s: %s requested over TCP by %s", name, what, peer);
}

/*
 * Optional query parameters.  Each returns 0 (leaving *out alone when the
 * parameter is absent) or -1 after answering 400 naming the parameter.
 */
static int
query_bool(struct httpd_req *req, const char *name, bool *out)
{
	const char *v = httpd_req_query(req, name);

	if (v == NULL)
		return 0;
	if (strcmp(v, "true") == 0 || strcmp(v, "1") == 0 || *v == '\0')
		*out = true;
	else if (strcmp(v, "false") == 0 || strcmp(v, "0") == 0)
		*out = false;
	else {
		reply_bad(req, RRERR_BAD_REQUEST, name,
		    "%s: must be true or false", name);
		return -1;
	}
	return 0;
}

static int
query_u64(struct httpd_req *req, const char *name, uint64_t max,
    uint64_t *out)
{
	const char *v = httpd_req_query(req, name);
	unsigned long long n;
	char *end;

	if (v == NULL)
		return 0;
	errno = 0;
	n = strtoull(v, &end, 10);
	if (*v < '0' || *v > '9' || *end != '\0' || errno != 0 || n > max) {
		reply_bad(req, RRERR_BAD_REQUEST, name,
		    "%s: must be a whole number from 0 to %llu", name,
		    (unsigned long long)max);
		return -1;
	}
	*out = n;
	return 0;
}

static void
post_unikernels(struct httpd_req *req, void *ctx)
{
	struct routes_ctx *rc = ctx;
	const char *ctype, *body;
	struct spec *spec;
	struct rrerr err;
	size_t len;

	ctype = httpd_req_header(req, "Content-Type");
	if (ctype == NULL || strncasecmp(ctype, "application/json", 16) != 0 ||
	    (ctype[16] != '\0' && ctype[16] != ';')) {
		reply_bad(req, RRERR_UNSUPPORTED_MEDIA, NULL,
		    "the request body must be application/json");
		return;
	}
	body = httpd_req_body(req, &len);
	if (spec_parse(body != NULL ? body : "", len, rc->policy, &spec,
	    &err) == -1) {
		httpd_reply_error(req, &err);
		return;
	}
	log_change(req, "launch", spec->name);
	engine_launch(rc->engine, spec, reply, req);
}

static void
get_unikernels(struct httpd_req *req, void *ctx)
{
	struct routes_ctx *rc = ctx;
	struct engine_filter f = { NULL, NULL, NULL, NULL };
	enum instance_state st;
	const char *label;
	char key[SPEC_LABEL_KEY_MAX + 2];
	const char *eq;

	f.state = httpd_req_query(req, "state");
	if (f.state != NULL && instance_state_parse(f.state, &st) == -1) {
		reply_bad(req, RRERR_BAD_REQUEST, "state",
		    "state: not a state (pending, starting, paused, running, "
		    "exited, stopped, crashed, failed)");
		return;
	}
	f.platform = httpd_req_query(req, "platform");
	if (f.platform != NULL && strcmp(f.platform, "kvm") != 0 &&
	    strcmp(f.platform, "xen") != 0) {
		reply_bad(req, RRERR_BAD_REQUEST, "platform",
		    "platform: must be kvm or xen");
		return;
	}
	if ((label = httpd_req_query(req, "label")) != NULL) {
		eq = strchr(label, '=');
		if ((eq != NULL ? (size_t)(eq - label) : strlen(label)) == 0 ||
		    (eq != NULL ? (size_t)(eq - label) : strlen(label)) >
		    SPEC_LABEL_KEY_MAX) {
			reply_bad(req, RRERR_BAD_REQUEST, "label",
			    "label: must be KEY or KEY=VALUE");
			return;
		}
		snprintf(key, sizeof(key), "%.*s",
		    (int)(eq != NULL ? (size_t)(eq - label) : strlen(label)),
		    label);
		f.label_key = key;
		f.label_value = eq != NULL ? eq + 1 : NULL;
	}
	httpd_reply_json(req, 200, engine_list(rc->engine, &f));
}

static void
get_unikernel(struct httpd_req *req, void *ctx)
{
	struct routes_ctx *rc = ctx;
	struct rrerr err;
	json_t *view;

	view = engine_get(rc->engine, httpd_req_param(req, "name"), &err);
	if (view == NULL)
		httpd_reply_error(req, &err);
	else
		httpd_reply_json(req, 200, view);
}

static void
post_stop(struct httpd_req *req, void *ctx)
{
	struct routes_ctx *rc = ctx;
	const char *name = httpd_req_param(req, "name");
	uint64_t timeout = UINT64_MAX;
	bool force = false;

	if (query_bool(req, "force", &force) == -1 ||
	    query_u64(req, "timeout", STOP_TIMEOUT_MAX, &timeout) == -1)
		return;
	log_change(req, force ? "forced stop" : "stop", name);
	engine_stop(rc->engine, name, force,
	    timeout == UINT64_MAX ? -1 : (int)timeout, reply, req);
}

static void
post_start(struct httpd_req *req, void *ctx)
{
	struct routes_ctx *rc = ctx;
	const char *name = httpd_req_param(req, "name");

	log_change(req, "start", name);
	engine_start(rc->engine, name, reply, req);
}

static void
delete_unikernel(struct httpd_req *req, void *ctx)
{
	struct routes_ctx *rc = ctx;
	const char *name = httpd_req_param(req, "name");
	bool force = false;

	if (query_bool(req, "force", &force) == -1)
		return;
	log_change(req, force ? "forced removal" : "removal", name);
	engine_remove(rc->engine, name, force, reply, req);
}

/* A reader of a console log, possibly following it. */
struct log_stream {
	struct console *console;
	struct console_watch watch;
	struct httpd_stream *stream;
	uint64_t off;
	bool follow;
};

static ssize_t
log_read(void *arg, char *buf, size_t max)
{
	struct log_stream *ls = arg;
	ssize_t n;

	if (ls->off < console_start(ls->console))
		ls->off = console_start(ls->console);
	n = console_read(ls->console, ls->off, buf, max);
	if (n > 0) {
		ls->off += (uint64_t)n;
		return n;
	}
	if (n < 0 || !ls->follow || console_ended(ls->console))
		return -1;
	return 0;
}

static void
log_closed(void *arg)
{
	struct log_stream *ls = arg;

	console_unwatch(ls->console, &ls->watch);
	console_unref(ls->console);
	free(ls);
}

static void
log_notify(struct console_watch *w)
{
	struct log_stream *ls = (struct log_stream *)((char *)w -
	    offsetof(struct log_stream, watch));

	if (ls->stream != NULL)
		httpd_stream_wake(ls->stream);
}

static const struct httpd_stream_ops log_ops = { log_read, log_closed };

static void
get_logs(struct httpd_req *req, void *ctx)
{
	struct routes_ctx *rc = ctx;
	uint64_t tail = UINT64_MAX, since = UINT64_MAX;
	struct log_stream *ls;
	struct console *c;
	struct rrerr err;
	bool follow = false;

	if (query_u64(req, "tail", TAIL_MAX, &tail) == -1 ||
	    query_u64(req, "since", UINT64_MAX - 1, &since) == -1 ||
	    query_bool(req, "follow", &follow) == -1)
		return;
	if (tail != UINT64_MAX && since != UINT64_MAX) {
		reply_bad(req, RRERR_BAD_REQUEST, "tail",
		    "tail: give tail or since, not both");
		return;
	}
	c = engine_console(rc->engine, httpd_req_param(req, "name"), &err);
	if (c == NULL) {
		httpd_reply_error(req, &err);
		return;
	}
	if ((ls = calloc(1, sizeof(*ls))) == NULL) {
		console_unref(c);
		reply_bad(req, RRERR_INTERNAL, NULL, "out of memory");
		return;
	}
	ls->console = c;
	ls->follow = follow;
	ls->watch.notify = log_notify;
	if (tail != UINT64_MAX)
		ls->off = console_tail(c, (unsigned int)tail);
	else if (since != UINT64_MAX)
		ls->off = since;
	else
		ls->off = console_start(c);
	console_watch(c, &ls->watch);
	ls->stream = httpd_reply_stream(req, 200, "text/plain; charset=utf-8",
	    &log_ops, ls);
}

/* A reader of the event stream. */
struct event_stream {
	struct events *events;
	struct events_watch watch;
	struct httpd_stream *stream;
	uint64_t after;
	bool follow;
	char *line;		/* a line not yet fully sent */
	size_t sent;
};

static ssize_t
event_read(void *arg, char *buf, size_t max)
{
	struct event_stream *es = arg;
	const char *line;
	uint64_t seq;
	size_t n;

	if (es->line == NULL) {
		line = events_next(es->events, es->after, &seq);
		if (line == NULL)
			return es->follow ? 0 : -1;
		/* The ring's copy changes on the next publish: keep ours. */
		if ((es->line = strdup(line)) == NULL)
			return -1;
		es->sent = 0;
		es->after = seq;
	}
	n = strlen(es->line + es->sent);
	if (n > max)
		n = max;
	memcpy(buf, es->line + es->sent, n);
	es->sent += n;
	if (es->line[es->sent] == '\0') {
		free(es->line);
		es->line = NULL;
	}
	return (ssize_t)n;
}

static void
event_closed(void *arg)
{
	struct event_stream *es = arg;

	events_unwatch(es->events, &es->watch);
	free(es->line);
	free(es);
}

static void
event_notify(struct events_watch *w)
{
	struct event_stream *es = (struct event_stream *)((char *)w -
	    offsetof(struct event_stream, watch));

	if (es->stream != NULL)
		httpd_stream_wake(es->stream);
}

static const struct httpd_stream_ops event_ops = { event_read, event_closed };

static void
get_events(struct httpd_req *req, void *ctx)
{
	struct routes_ctx *rc = ctx;
	struct event_stream *es;
	uint64_t since = UINT64_MAX;
	bool follow = true;

	if (query_u64(req, "since", UINT64_MAX - 1, &since) == -1 ||
	    query_bool(req, "follow", &follow) == -1)
		return;
	if ((es = calloc(1, sizeof(*es))) == NULL) {
		reply_bad(req, RRERR_INTERNAL, NULL, "out of memory");
		return;
	}
	es->events = engine_events(rc->engine);
	es->follow = follow;
	es->after = since != UINT64_MAX ? since :
	    events_last_seq(es->events);
	es->watch.notify = event_notify;
	events_watch(es->events, &es->watch);
	es->stream = httpd_reply_stream(req, 200, "application/x-ndjson",
	    &event_ops, es);
}

static void
get_health(struct httpd_req *req, void *ctx)
{
	struct routes_ctx *rc = ctx;

	httpd_reply_json(req, 200, engine_health(rc->engine));
}

static void
get_info(struct httpd_req *req, void *ctx)
{
	struct routes_ctx *rc = ctx;

	httpd_reply_json(req, 200, engine_info(rc->engine));
}

/* The paths of openapi.yaml, one handler each. */
const struct httpd_route routes_table[] = {
	{ "POST", "/v1/unikernels", post_unikernels },
	{ "GET", "/v1/unikernels", get_unikernels },
	{ "GET", "/v1/unikernels/{name}", get_unikernel },
	{ "DELETE", "/v1/unikernels/{name}", delete_unikernel },
	{ "POST", "/v1/unikernels/{name}/stop", post_stop },
	{ "POST", "/v1/unikernels/{name}/start", post_start },
	{ "GET", "/v1/unikernels/{name}/logs", get_logs },
	{ "GET", "/v1/events", get_events },
	{ "GET", "/v1/health", get_health },
	{ "GET", "/v1/info", get_info },
};

const size_t routes_count = sizeof(routes_table) / sizeof(routes_table[0]);
