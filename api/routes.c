/*
 * routes: the handlers of the REST API (see routes.h and openapi.yaml).
 *
 * POST /v1/iso has the engine build an ISO image (engine_build_iso():
 * daemon/isojobs.c runs daemon/iso.c on libuv's thread pool) and streams
 * the image from its unlinked file, reading it on the pool too
 * (uv_fs_read), so that the loop never waits for a disk.
 */
#include <sys/time.h>

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "console.h"
#include "events.h"
#include "instance.h"
#include "imgstore.h"
#include "iso.h"
#include "log.h"
#include "routes.h"
#include "sbuf.h"
#include "storejobs.h"

#define STOP_TIMEOUT_MAX 3600
#define TAIL_MAX	 100000
#define ISO_CHUNK	 (64 * 1024)

/*
 * The HTTP status of what the engine did: the one place that says it, as
 * httpd_status_for() is for errors.
 */
static unsigned int
outcome_status(enum engine_outcome outcome)
{
	switch (outcome) {
	case ENGINE_CREATED:
		return 201;
	case ENGINE_EXISTED:
	case ENGINE_DONE:
	case ENGINE_ALREADY:
		return 200;
	case ENGINE_FAILED:
		break;
	}
	return 500;
}

/* An engine answer becomes the HTTP answer of the request in arg. */
static void
reply(void *arg, enum engine_outcome outcome, json_t *body,
    const struct rrerr *err)
{
	struct httpd_req *req = arg;
	const char *name;
	char *where;

	if (err != NULL) {
		httpd_reply_error(req, err);
		return;
	}
	/* 201 Created says where (a name needs no escaping in a path). */
	name = json_string_value(json_object_get(body, "name"));
	if (outcome == ENGINE_CREATED && name != NULL &&
	    asprintf(&where, "/v1/unikernels/%s", name) != -1) {
		(void)httpd_reply_header(req, "Location", where);
		free(where);
	}
	httpd_reply_json(req, outcome_status(outcome), body);
}

static void __attribute__((format(printf, 4, 5)))
reply_bad(struct httpd_req *req, enum rrerr_code code, const char *field,
    const char *fmt, ...)
{
	struct rrerr err;
	va_list ap;

	va_start(ap, fmt);
	rrerr_vset(&err, code, field, fmt, ap);
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
query_u64(struct httpd_req *req, const char *name, uint64_t max, uint64_t *out)
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

/*
 * Refuse query parameters the path does not take: 400 naming the first
 * unknown one (a misspelt filter must not quietly list everything), or one
 * given twice that is not repeatable.  allowed: the names, separated by
 * spaces, each with '*' after it when it may be repeated ("label*").
 * Returns 0, or -1 after answering.
 */
static int
check_query(struct httpd_req *req, const char *allowed)
{
	const char *name, *other, *w;
	size_t it = 0, it2, len;
	bool known, repeatable;
	int seen;

	while ((name = httpd_req_query_next(req, &it, NULL)) != NULL) {
		known = repeatable = false;
		len = strlen(name);
		for (w = allowed; *w != '\0';
		     w += strcspn(w, " "), w += strspn(w, " ")) {
			size_t wl = strcspn(w, " ");
			bool star = wl > 0 && w[wl - 1] == '*';

			if (wl - star == len && len > 0 &&
			    strncmp(w, name, len) == 0) {
				known = true;
				repeatable = star;
				break;
			}
		}
		if (!known) {
			char list[128];
			size_t i, n = 0;

			/* The names as a reader wants them: no '*'. */
			for (i = 0; allowed[i] != '\0' && n + 3 < sizeof(list);
			     i++)
				if (allowed[i] == ' ') {
					list[n++] = ',';
					list[n++] = ' ';
				} else if (allowed[i] != '*')
					list[n++] = allowed[i];
			list[n] = '\0';
			reply_bad(req, RRERR_BAD_REQUEST, name,
			    "%.64s: unknown query parameter; %s takes %s", name,
			    httpd_req_path(req), n > 0 ? list : "none");
			return -1;
		}
		seen = 0;
		it2 = 0;
		while ((other = httpd_req_query_next(req, &it2, NULL)) != NULL)
			seen += strcmp(other, name) == 0;
		if (seen > 1 && !repeatable) {
			reply_bad(req, RRERR_BAD_REQUEST, name,
			    "%s: given %d times; give it once", name, seen);
			return -1;
		}
	}
	return 0;
}

/* 0 when req's body is JSON; else answer 415 and return -1. */
static int
json_body(struct httpd_req *req)
{
	const char *ctype = httpd_req_header(req, "Content-Type");

	if (ctype == NULL || strncasecmp(ctype, "application/json", 16) != 0 ||
	    (ctype[16] != '\0' && ctype[16] != ';')) {
		reply_bad(req, RRERR_UNSUPPORTED_MEDIA, NULL,
		    "the request body must be application/json");
		return -1;
	}
	return 0;
}

static void
post_unikernels(struct httpd_req *req, void *ctx)
{
	struct routes_ctx *rc = ctx;
	const char *body;
	struct spec *spec;
	struct rrerr err;
	size_t len;

	if (check_query(req, "") == -1)
		return;
	if (json_body(req) == -1)
		return;
	body = httpd_req_body(req, &len);
	if (spec_parse(body != NULL ? body : "", len, rc->policy, &spec,
		&err) == -1) {
		httpd_reply_error(req, &err);
		return;
	}
	if (spec->platform == SPEC_PLATFORM_ISO) {
		spec_free(spec);
		reply_bad(req, RRERR_INVALID, "platform",
		    "platform: iso images "
		    "are built with POST /v1/iso, not launched");
		return;
	}
	log_change(req, "launch", spec->name);
	engine_launch(rc->engine, spec, reply, req);
}

/*
 * POST /v1/iso.
 */

/* An image being sent: read ahead by one chunk on the thread pool. */
struct iso_stream {
	uv_loop_t *loop;
	uv_fs_t fs;
	struct httpd_stream *stream;
	char *name;
	int fd;
	uint64_t size;
	uint64_t off;	  /* of the next read */
	char *buf;	  /* ISO_CHUNK bytes */
	size_t have, pos; /* bytes in buf, bytes of them sent */
	bool pending;	  /* a read is on the pool */
	bool eof;
	bool closed; /* httpd is done with the stream */
};

static void
iso_stream_free(struct iso_stream *st)
{
	if (st->fd != -1)
		close(st->fd);
	free(st->buf);
	free(st->name);
	free(st);
}

static void
iso_read_done(uv_fs_t *fs)
{
	struct iso_stream *st = fs->data;
	ssize_t n = fs->result;

	uv_fs_req_cleanup(fs);
	st->pending = false;
	if (st->closed) {
		iso_stream_free(st);
		return;
	}
	if (n < 0) {
		/* The client sees a short image (iso(7) size check). */
		log_warnx("%s: reading the ISO image: %s", st->name,
		    uv_strerror((int)n));
		st->eof = true;
	} else if (n == 0) {
		st->eof = true;
	} else {
		st->have = (size_t)n;
		st->pos = 0;
		st->off += (uint64_t)n;
	}
	httpd_stream_wake(st->stream);
}

static ssize_t
iso_read(void *arg, char *buf, size_t max)
{
	struct iso_stream *st = arg;
	uv_buf_t b;
	size_t n;

	if (st->pos < st->have) {
		n = st->have - st->pos < max ? st->have - st->pos : max;
		memcpy(buf, st->buf + st->pos, n);
		st->pos += n;
		return (ssize_t)n;
	}
	if (st->eof || st->off >= st->size)
		return -1;
	if (st->pending)
		return 0;
	b = uv_buf_init(st->buf, ISO_CHUNK);
	st->fs.data = st;
	if (uv_fs_read(st->loop, &st->fs, st->fd, &b, 1, (int64_t)st->off,
		iso_read_done) != 0) {
		log_warnx("%s: cannot read the ISO image", st->name);
		return -1;
	}
	st->pending = true;
	return 0;
}

static void
iso_closed(void *arg)
{
	struct iso_stream *st = arg;

	st->closed = true;
	if (!st->pending)
		iso_stream_free(st);
}

static const struct httpd_stream_ops iso_ops = { iso_read, iso_closed };

/* Stream the image built (its fd is ours), or say why there is none. */
static void
iso_send(void *arg, const char *name, struct iso_image *img,
    const struct rrerr *err)
{
	struct httpd_req *req = arg;
	struct iso_stream *st;

	if (err != NULL) {
		httpd_reply_error(req, err);
		return;
	}
	if ((st = calloc(1, sizeof(*st))) == NULL ||
	    (st->buf = malloc(ISO_CHUNK)) == NULL ||
	    (st->name = strdup(name)) == NULL) {
		if (st != NULL) {
			free(st->buf);
			free(st);
		}
		close(img->fd);
		reply_bad(req, RRERR_INTERNAL, NULL, "out of memory");
		return;
	}
	st->loop = httpd_req_loop(req);
	st->fd = img->fd;
	st->size = img->size;
	st->stream = httpd_reply_stream(req, 200, "application/x-iso9660-image",
	    &iso_ops, st);
}

static void
post_iso(struct httpd_req *req, void *ctx)
{
	struct routes_ctx *rc = ctx;
	char name[SPEC_NAME_MAX + 1];
	const char *body;
	struct spec *spec;
	struct rrerr err;
	size_t len;

	if (check_query(req, "") == -1)
		return;
	if (json_body(req) == -1)
		return;
	body = httpd_req_body(req, &len);
	if (spec_parse_iso(body != NULL ? body : "", len, rc->policy, &spec,
		&err) == -1) {
		httpd_reply_error(req, &err);
		return;
	}
	snprintf(name, sizeof(name), "%s", spec->name);
	if (engine_build_iso(rc->engine, spec, iso_send, req, &err) == -1) {
		httpd_reply_error(req, &err);
		return;
	}
	log_change(req, "ISO image", name);
}

/*
 * Whether spec's labels have every label=KEY (any value) and
 * label=KEY=VALUE of req's query (an engine_filter's match).
 */
static bool
labels_match(void *arg, const struct spec *spec)
{
	const struct httpd_req *req = arg;
	const char *name, *label, *eq;
	size_t it = 0, klen, i;

	while ((name = httpd_req_query_next(req, &it, &label)) != NULL) {
		if (strcmp(name, "label") != 0)
			continue;
		if (label == NULL)
			label = "";
		eq = strchr(label, '=');
		klen = eq != NULL ? (size_t)(eq - label) : strlen(label);
		for (i = 0; i < spec->nlabels; i++) {
			if (strlen(spec->labels[i].key) == klen &&
			    strncmp(spec->labels[i].key, label, klen) == 0)
				break;
		}
		if (i == spec->nlabels ||
		    (eq != NULL && strcmp(spec->labels[i].value, eq + 1) != 0))
			return false;
	}
	return true;
}

/* Answer 200 with the JSON text in sb (taken), or 500 when it failed. */
static void
reply_sbuf(struct httpd_req *req, struct sbuf *sb, int rv)
{
	size_t len;
	char *buf;

	sbuf_addc(sb, '\n');
	len = sb->len;
	if (rv == -1 || (buf = sbuf_finish(sb)) == NULL) {
		sbuf_reset(sb);
		reply_bad(req, RRERR_INTERNAL, NULL, "out of memory");
		return;
	}
	httpd_reply_text(req, 200, "application/json", buf, len);
}

static void
get_unikernels(struct httpd_req *req, void *ctx)
{
	struct routes_ctx *rc = ctx;
	struct engine_filter f;
	struct sbuf sb = SBUF_INIT;
	enum instance_state st;
	const char *name, *label, *eq;
	size_t it, klen;
	bool labels = false;

	if (check_query(req, "state platform label*") == -1)
		return;
	memset(&f, 0, sizeof(f));
	f.state = httpd_req_query(req, "state");
	if (f.state != NULL && instance_state_parse(f.state, &st) == -1) {
		reply_bad(req, RRERR_BAD_REQUEST, "state",
		    "state: not a state (pending, starting, paused, running, "
		    "stopping, exited, stopped, crashed, failed)");
		return;
	}
	f.platform = httpd_req_query(req, "platform");
	if (f.platform != NULL && strcmp(f.platform, "kvm") != 0 &&
	    strcmp(f.platform, "xen") != 0) {
		reply_bad(req, RRERR_BAD_REQUEST, "platform",
		    "platform: must be kvm or xen");
		return;
	}
	/* Every label= must hold (AND): checked first, then applied. */
	it = 0;
	while ((name = httpd_req_query_next(req, &it, &label)) != NULL) {
		if (strcmp(name, "label") != 0)
			continue;
		if (label == NULL)
			label = "";
		eq = strchr(label, '=');
		klen = eq != NULL ? (size_t)(eq - label) : strlen(label);
		if (klen == 0 || klen > SPEC_LABEL_KEY_MAX) {
			reply_bad(req, RRERR_BAD_REQUEST, "label",
			    "label: must be KEY or KEY=VALUE");
			return;
		}
		labels = true;
	}
	if (labels) {
		f.match = labels_match;
		f.match_arg = req;
	}
	/* Made of the text each instance keeps: nothing parsed again. */
	reply_sbuf(req, &sb, engine_list_text(rc->engine, &f, &sb));
}

static void
get_unikernel(struct httpd_req *req, void *ctx)
{
	struct routes_ctx *rc = ctx;
	struct sbuf sb = SBUF_INIT;
	struct rrerr err;

	if (check_query(req, "") == -1)
		return;
	if (engine_get_text(rc->engine, httpd_req_param(req, "name"), &sb,
		&err) == -1) {
		sbuf_reset(&sb);
		httpd_reply_error(req, &err);
		return;
	}
	reply_sbuf(req, &sb, 0);
}

static void
post_stop(struct httpd_req *req, void *ctx)
{
	struct routes_ctx *rc = ctx;
	const char *name = httpd_req_param(req, "name");
	uint64_t timeout = UINT64_MAX;
	bool force = false;

	if (check_query(req, "force timeout") == -1)
		return;
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

	if (check_query(req, "") == -1)
		return;
	log_change(req, "start", name);
	engine_start(rc->engine, name, reply, req);
}

static void
delete_unikernel(struct httpd_req *req, void *ctx)
{
	struct routes_ctx *rc = ctx;
	const char *name = httpd_req_param(req, "name");
	bool force = false;

	if (check_query(req, "force") == -1)
		return;
	if (query_bool(req, "force", &force) == -1)
		return;
	log_change(req, force ? "forced removal" : "removal", name);
	engine_remove(rc->engine, name, force, reply, req);
}

/*
 * Operations on a guest that runs: pause, resume, restart, kill and wait
 * (engine.c, "Pause, restart, kill, wait").
 */
#define WAIT_TIMEOUT_MAX 86400

static void
post_pause(struct httpd_req *req, void *ctx)
{
	struct routes_ctx *rc = ctx;
	const char *name = httpd_req_param(req, "name");

	if (check_query(req, "") == -1)
		return;
	log_change(req, "pause", name);
	engine_pause(rc->engine, name, reply, req);
}

static void
post_resume(struct httpd_req *req, void *ctx)
{
	struct routes_ctx *rc = ctx;
	const char *name = httpd_req_param(req, "name");

	if (check_query(req, "") == -1)
		return;
	log_change(req, "resume", name);
	engine_resume(rc->engine, name, reply, req);
}

static void
post_restart(struct httpd_req *req, void *ctx)
{
	struct routes_ctx *rc = ctx;
	const char *name = httpd_req_param(req, "name");
	uint64_t timeout = UINT64_MAX;

	if (check_query(req, "timeout") == -1)
		return;
	if (query_u64(req, "timeout", STOP_TIMEOUT_MAX, &timeout) == -1)
		return;
	log_change(req, "restart", name);
	engine_restart(rc->engine, name,
	    timeout == UINT64_MAX ? -1 : (int)timeout, reply, req);
}

static void
post_kill(struct httpd_req *req, void *ctx)
{
	struct routes_ctx *rc = ctx;
	const char *name = httpd_req_param(req, "name");

	if (check_query(req, "") == -1)
		return;
	log_change(req, "kill", name);
	engine_kill(rc->engine, name, reply, req);
}

/* engine_wait()'s alive: the client of req is still there. */
static bool
wait_alive(void *arg)
{
	return httpd_req_waiting(arg);
}

/* A wait's answer; nothing is said to a client that left. */
static void
wait_reply(void *arg, enum engine_outcome outcome, json_t *body,
    const struct rrerr *err)
{
	struct httpd_req *req = arg;

	if (!httpd_req_waiting(req)) {
		json_decref(body);
		httpd_reply_json(req, 200, NULL);
		return;
	}
	reply(arg, outcome, body, err);
}

static void
post_wait(struct httpd_req *req, void *ctx)
{
	struct routes_ctx *rc = ctx;
	uint64_t timeout = UINT64_MAX;
	enum instance_state st;
	const char *cond;
	int want = -1;

	if (check_query(req, "timeout condition") == -1)
		return;
	if (query_u64(req, "timeout", WAIT_TIMEOUT_MAX, &timeout) == -1)
		return;
	cond = httpd_req_query(req, "condition");
	if (cond != NULL && strcmp(cond, "ended") != 0) {
		if (instance_state_parse(cond, &st) == -1) {
			reply_bad(req, RRERR_BAD_REQUEST, "condition",
			    "condition: must be ended or a state (pending, "
			    "starting, paused, running, stopping, exited, "
			    "stopped, crashed, failed, backoff)");
			return;
		}
		want = (int)st;
	}
	engine_wait(rc->engine, httpd_req_param(req, "name"), want,
	    timeout == UINT64_MAX ? -1 : (int64_t)timeout * 1000, wait_alive,
	    wait_reply, req);
}

/* A reader of a console log, possibly following it. */
/* "2026-12-01T10:00:00.123Z " before each line with timestamps=true. */
#define STAMP_LEN 25

struct log_stream {
	struct console *console;
	struct watch watch;
	struct httpd_stream *stream;
	uint64_t off;
	bool follow;
	bool stamps;	 /* timestamps=true */
	bool line_start; /* off starts a line (stamps) */
	char stamp[STAMP_LEN + 1];
	size_t stamp_sent; /* of stamp, STAMP_LEN when none waits */
};

/* The arrival time of the line at ls->off as its prefix, in ls->stamp. */
static void
make_stamp(struct log_stream *ls)
{
	int64_t ms = console_time_at(ls->console, ls->off);
	time_t secs;
	struct tm tm;
	size_t n;

	if (ms < 0) {
		/* Arrived before this rumprund: no time, same width. */
		snprintf(ls->stamp, sizeof(ls->stamp), "%-24s ", "-");
	} else {
		secs = (time_t)(ms / 1000);
		gmtime_r(&secs, &tm);
		n = strftime(ls->stamp, sizeof(ls->stamp), "%Y-%m-%dT%H:%M:%S",
		    &tm);
		snprintf(ls->stamp + n, sizeof(ls->stamp) - n, ".%03dZ ",
		    (int)(ms % 1000));
	}
	ls->stamp_sent = 0;
}

/* As console_read(), each line after its arrival time (stamps). */
static ssize_t
read_stamped(struct log_stream *ls, char *buf, size_t max)
{
	char tmp[4096], *nl;
	size_t out = 0, k;
	ssize_t n;

	while (out < max) {
		if (ls->stamp_sent < STAMP_LEN) {
			k = STAMP_LEN - ls->stamp_sent;
			if (k > max - out)
				k = max - out;
			memcpy(buf + out, ls->stamp + ls->stamp_sent, k);
			ls->stamp_sent += k;
			out += k;
			continue;
		}
		/* A prefix only before a byte that is there. */
		if (ls->line_start && ls->off < console_end(ls->console)) {
			make_stamp(ls);
			ls->line_start = false;
			continue;
		}
		k = max - out < sizeof(tmp) ? max - out : sizeof(tmp);
		if ((n = console_read(ls->console, ls->off, tmp, k)) <= 0)
			return out > 0 ? (ssize_t)out : n;
		/* Up to the end of the line: the next one gets its prefix. */
		k = (size_t)n;
		if ((nl = memchr(tmp, '\n', k)) != NULL) {
			k = (size_t)(nl - tmp) + 1;
			ls->line_start = true;
		}
		memcpy(buf + out, tmp, k);
		ls->off += k;
		out += k;
	}
	return (ssize_t)out;
}

static ssize_t
log_read(void *arg, char *buf, size_t max)
{
	struct log_stream *ls = arg;
	ssize_t n;

	if (ls->off < console_start(ls->console)) {
		ls->off = console_start(ls->console);
		ls->line_start = true;
	}
	if (ls->stamps)
		n = read_stamped(ls, buf, max);
	else
		n = console_read(ls->console, ls->off, buf, max);
	if (n > 0) {
		if (!ls->stamps)
			ls->off += (uint64_t)n;
		return n;
	}
	if (n < 0 || !ls->follow || console_ended(ls->console))
		return -1;
	return 0;
}

/*
 * An RFC 3339 UTC time, "2026-12-01T10:00:00Z" or with ".mmm" before the
 * Z, as ms since the epoch; -1 when s is not one.
 */
static int64_t
parse_utc(const char *s)
{
	struct tm tm;
	const char *p;
	int ms = 0;

	memset(&tm, 0, sizeof(tm));
	if ((p = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm)) == NULL)
		return -1;
	if (*p == '.') {
		if (p[1] < '0' || p[1] > '9' || p[2] < '0' || p[2] > '9' ||
		    p[3] < '0' || p[3] > '9')
			return -1;
		ms = (p[1] - '0') * 100 + (p[2] - '0') * 10 + (p[3] - '0');
		p += 4;
	}
	if (strcmp(p, "Z") != 0)
		return -1;
	return (int64_t)timegm(&tm) * 1000 + ms;
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
log_notify(struct watch *w)
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
	bool follow = false, stamps = false;
	const char *when;
	int64_t since_ms = 0;
	char hdr[24];

	if (check_query(req, "tail since follow timestamps since_time") == -1)
		return;
	if (query_u64(req, "tail", TAIL_MAX, &tail) == -1 ||
	    query_u64(req, "since", UINT64_MAX - 1, &since) == -1 ||
	    query_bool(req, "follow", &follow) == -1 ||
	    query_bool(req, "timestamps", &stamps) == -1)
		return;
	if ((when = httpd_req_query(req, "since_time")) != NULL &&
	    (since_ms = parse_utc(when)) < 0) {
		reply_bad(req, RRERR_BAD_REQUEST, "since_time",
		    "since_time: "
		    "must be an RFC 3339 UTC time, 2026-12-01T10:00:00Z");
		return;
	}
	if ((tail != UINT64_MAX) + (since != UINT64_MAX) + (when != NULL) > 1) {
		reply_bad(req, RRERR_BAD_REQUEST,
		    tail != UINT64_MAX ? "tail" : "since",
		    "%s: give one of tail, since and since_time",
		    tail != UINT64_MAX ? "tail" : "since");
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
	else if (when != NULL)
		ls->off = console_line_since(c, since_ms);
	else
		ls->off = console_start(c);
	ls->stamps = stamps;
	ls->stamp_sent = STAMP_LEN;
	/* A prefix goes before a line's first byte only. */
	if (ls->off <= console_start(c))
		ls->line_start = true;
	else {
		char before;

		ls->line_start = console_read(c, ls->off - 1, &before, 1) ==
			1 &&
		    before == '\n';
	}
	/* Where the bytes start, for a client that resumes with since=. */
	snprintf(hdr, sizeof(hdr), "%llu",
	    (unsigned long long)(ls->off > console_start(c) ?
		    ls->off :
		    console_start(c)));
	(void)httpd_reply_header(req, "X-Log-Offset", hdr);
	console_watch(c, &ls->watch);
	ls->stream = httpd_reply_stream(req, 200, "text/plain; charset=utf-8",
	    &log_ops, ls);
}

/* A reader of the event stream. */
/* Heartbeats on an idle event stream: every this many seconds by default. */
#define HEARTBEAT_S	15
#define HEARTBEAT_MAX_S 3600

struct event_stream {
	struct events *events;
	struct watch watch;
	struct httpd_stream *stream;
	uint64_t after;
	bool follow;
	char *line; /* a line not yet fully sent */
	size_t sent;
	uv_timer_t beat; /* heartbeats, when beat_ms > 0 */
	uint64_t beat_ms;
	bool beat_due; /* a heartbeat line is to be sent */
};

/* "2026-12-01T10:00:00.123Z", now, into buf (40 bytes). */
static void
now_stamp(char *buf, size_t len)
{
	struct timeval tv;
	struct tm tm;
	size_t n;

	gettimeofday(&tv, NULL);
	gmtime_r(&tv.tv_sec, &tm);
	n = strftime(buf, len, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf + n, len - n, ".%03ldZ", (long)(tv.tv_usec / 1000));
}

/*
 * The next line of the stream in es->line: an event; before it, a "lost"
 * notice when the ring no longer has the events between es->after and it
 * (since= older than what is kept, or a reader that fell behind); a
 * "heartbeat" when one is due and no event waits.  0, or -1 when there is
 * nothing (or no memory).
 */
static int
next_line(struct event_stream *es)
{
	const char *line;
	char stamp[40];
	uint64_t seq;

	line = events_next(es->events, es->after, &seq);
	if (line != NULL && seq > es->after + 1) {
		now_stamp(stamp, sizeof(stamp));
		if (asprintf(&es->line,
			"{\"type\":\"lost\",\"time\":\"%s\","
			"\"from\":%llu,\"to\":%llu}\n",
			stamp, (unsigned long long)es->after + 1,
			(unsigned long long)seq - 1) == -1) {
			es->line = NULL;
			return -1;
		}
		es->after = seq - 1;
		return 0;
	}
	if (line != NULL) {
		/* The ring's copy changes on the next publish: keep ours. */
		if ((es->line = strdup(line)) == NULL)
			return -1;
		es->after = seq;
		es->beat_due = false;
		return 0;
	}
	if (!es->beat_due)
		return -1;
	es->beat_due = false;
	now_stamp(stamp, sizeof(stamp));
	if (asprintf(&es->line,
		"{\"type\":\"heartbeat\",\"time\":\"%s\","
		"\"seq\":%llu}\n",
		stamp, (unsigned long long)es->after) == -1) {
		es->line = NULL;
		return -1;
	}
	return 0;
}

static ssize_t
event_read(void *arg, char *buf, size_t max)
{
	struct event_stream *es = arg;
	size_t n;

	if (es->line == NULL) {
		if (next_line(es) == -1)
			return es->follow ? 0 : -1;
		es->sent = 0;
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
beat_closed(uv_handle_t *h)
{
	free(h->data);
}

static void
event_closed(void *arg)
{
	struct event_stream *es = arg;

	events_unwatch(es->events, &es->watch);
	free(es->line);
	es->line = NULL;
	/* es goes with its timer. */
	uv_close((uv_handle_t *)&es->beat, beat_closed);
}

static void
on_beat(uv_timer_t *t)
{
	struct event_stream *es = t->data;

	es->beat_due = true;
	if (es->stream != NULL)
		httpd_stream_wake(es->stream);
}

static void
event_notify(struct watch *w)
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
	uint64_t since = UINT64_MAX, beat = HEARTBEAT_S;
	bool follow = true;
	char hdr[24];

	if (check_query(req, "since follow heartbeat") == -1)
		return;
	if (query_u64(req, "since", UINT64_MAX - 1, &since) == -1 ||
	    query_bool(req, "follow", &follow) == -1 ||
	    query_u64(req, "heartbeat", HEARTBEAT_MAX_S, &beat) == -1)
		return;
	if ((es = calloc(1, sizeof(*es))) == NULL) {
		reply_bad(req, RRERR_INTERNAL, NULL, "out of memory");
		return;
	}
	es->events = engine_events(rc->engine);
	es->follow = follow;
	es->after = since != UINT64_MAX ? since : events_last_seq(es->events);
	es->watch.notify = event_notify;
	uv_timer_init(httpd_req_loop(req), &es->beat);
	es->beat.data = es;
	es->beat_ms = follow ? beat * 1000 : 0;
	if (es->beat_ms > 0)
		uv_timer_start(&es->beat, on_beat, es->beat_ms, es->beat_ms);
	/* The events that follow are those after this seq. */
	snprintf(hdr, sizeof(hdr), "%llu", (unsigned long long)es->after);
	(void)httpd_reply_header(req, "X-Event-Seq", hdr);
	events_watch(es->events, &es->watch);
	es->stream = httpd_reply_stream(req, 200, "application/x-ndjson",
	    &event_ops, es);
}

static void
get_health(struct httpd_req *req, void *ctx)
{
	struct routes_ctx *rc = ctx;

	if (check_query(req, "") == -1)
		return;
	httpd_reply_json(req, 200, engine_health(rc->engine));
}

/* A NULL-ended list as a JSON array (new). */
static json_t *
list_json(const char *const *items)
{
	json_t *a = json_array();

	for (; items != NULL && *items != NULL; items++)
		json_array_append_new(a, json_string(*items));
	return a;
}

/*
 * Where launch requests may take paths from and which bridges and networks
 * they may join: policy, not secret (a refused path points here).
 */
static json_t *
policy_json(const struct spec_policy *p)
{
	return json_pack("{s:o,s:o,s:o,s:o}", "image_dirs",
	    list_json(p->image_dirs), "volume_dirs", list_json(p->volume_dirs),
	    "bridges", list_json(p->bridges), "networks",
	    list_json(p->networks));
}

static void
get_info(struct httpd_req *req, void *ctx)
{
	struct routes_ctx *rc = ctx;
	json_t *info;

	if (check_query(req, "") == -1)
		return;
	info = engine_info(rc->engine);
	/*
	 * The API's version (the path prefix; it changes only when a change
	 * breaks clients) and the backends compiled in: a backend that is
	 * built in may still be unavailable on this host (backends.*).
	 */
	json_object_set_new(info, "api_version",
	    json_string(ROUTES_API_VERSION));
	json_object_set_new(info, "built_with",
	    json_pack("{s:b,s:b}", "kvm", 1, "xen",
#ifdef HAVE_XEN
		1
#else
		0
#endif
		));
	json_object_set_new(info, "policy", policy_json(rc->policy));
	if (rc->store != NULL)
		json_object_set_new(json_object_get(info, "policy"), "store",
		    json_pack("{s:I,s:I,s:I}", "max_size",
			(json_int_t)imgstore_limits(rc->store)->max_size,
			"max_total",
			(json_int_t)imgstore_limits(rc->store)->max_total,
			"used", (json_int_t)imgstore_used(rc->store)));
	httpd_reply_json(req, 200, info);
}

/*
 * The image and volume store (daemon/imgstore.h): PUT streams the body
 * into the store (httpd's upload routes: routes_uploads[]), the commit
 * (fsync, digest check, rename) runs on libuv's thread pool.
 */

/*
 * The instances (not removed) whose request names kind's entry name, or
 * every entry when name is NULL: a new object {entry name: [instances]}.
 */
static json_t *
store_users(struct routes_ctx *rc, enum imgstore_kind kind, const char *name)
{
	struct engine_filter f = { .state = NULL };
	json_t *list, *out, *view, *spec, *blk, *b, *a;
	const char *ref, *iname;
	size_t i, j;

	if ((out = json_object()) == NULL)
		return NULL;
	list = engine_list(rc->engine, &f);
	json_array_foreach(list, i, view) {
		iname = json_string_value(json_object_get(view, "name"));
		spec = json_object_get(view, "spec");
		if (iname == NULL)
			continue;
		if (kind == IMGSTORE_IMAGE) {
			ref = imgstore_ref_name(json_string_value(
						    json_object_get(spec,
							"image")),
			    kind);
			if (ref != NULL &&
			    (name == NULL || strcmp(ref, name) == 0)) {
				if ((a = json_object_get(out, ref)) == NULL) {
					a = json_array();
					json_object_set_new(out, ref, a);
				}
				json_array_append_new(a, json_string(iname));
			}
			continue;
		}
		blk = json_object_get(spec, "blk");
		json_array_foreach(blk, j, b) {
			ref = imgstore_ref_name(json_string_value(
						    json_object_get(b,
							"source")),
			    kind);
			if (ref == NULL ||
			    (name != NULL && strcmp(ref, name) != 0))
				continue;
			if ((a = json_object_get(out, ref)) == NULL) {
				a = json_array();
				json_object_set_new(out, ref, a);
			}
			json_array_append_new(a, json_string(iname));
		}
	}
	json_decref(list);
	return out;
}

/* Set entry's "used_by" from users (borrowed). */
static void
set_used_by(json_t *entry, json_t *users)
{
	const char *name = json_string_value(json_object_get(entry, "name"));
	json_t *a = name != NULL ? json_object_get(users, name) : NULL;

	json_object_set_new(entry, "used_by",
	    a != NULL ? json_deep_copy(a) : json_array());
}

/* The names in users' array for name, "a, b", into buf; false if none. */
static bool
users_text(json_t *users, const char *name, char *buf, size_t size)
{
	json_t *a = json_object_get(users, name), *v;
	size_t i, used = 0;

	buf[0] = '\0';
	json_array_foreach(a, i, v) {
		if (used + 1 >= size)
			break;
		used += (size_t)snprintf(buf + used, size - used, "%s%s",
		    i > 0 ? ", " : "", json_string_value(v));
	}
	return json_array_size(a) > 0;
}

struct put_sink {
	struct imgstore_upload *up;
	enum imgstore_kind kind;
	bool replaces; /* the name had an entry */
};

/* The digest a PUT announces: ?sha256= or X-Content-SHA256. */
static int
put_digest(struct httpd_req *req, char *hex, bool *given, struct rrerr *err)
{
	const char *q = httpd_req_query(req, "sha256");
	const char *h = httpd_req_header(req, "X-Content-SHA256");
	char other[IMGSTORE_HEX_LEN + 1] = "";

	*given = q != NULL || h != NULL;
	if (q != NULL && imgstore_parse_digest(q, "sha256", hex, err) == -1)
		return -1;
	if (h != NULL &&
	    imgstore_parse_digest(h, "X-Content-SHA256",
		q != NULL ? other : hex, err) == -1)
		return -1;
	if (q != NULL && h != NULL && strcmp(hex, other) != 0)
		return rrerr_set(err, RRERR_BAD_REQUEST, "sha256",
		    "sha256: the query and X-Content-SHA256 announce different "
		    "digests");
	return 0;
}

static void *
put_begin(struct httpd_req *req, struct routes_ctx *rc, enum imgstore_kind kind,
    long long length, struct rrerr *err)
{
	const char *name = httpd_req_param(req, "name"), *q, *v;
	char hex[IMGSTORE_HEX_LEN + 1], who[512];
	struct put_sink *ps;
	json_t *users, *cur;
	bool given = false, force = false;
	size_t it = 0;

	while ((q = httpd_req_query_next(req, &it, &v)) != NULL) {
		if (strcmp(q, "sha256") != 0 && strcmp(q, "force") != 0) {
			rrerr_set(err, RRERR_BAD_REQUEST, q,
			    "%.64s: unknown "
			    "query parameter; %s takes sha256, force",
			    q, httpd_req_path(req));
			return NULL;
		}
		if (strcmp(q, "force") == 0) {
			if (v == NULL || *v == '\0' || strcmp(v, "true") == 0 ||
			    strcmp(v, "1") == 0)
				force = true;
			else if (strcmp(v, "false") != 0 &&
			    strcmp(v, "0") != 0) {
				rrerr_set(err, RRERR_BAD_REQUEST, "force",
				    "force: must be true or false");
				return NULL;
			}
		}
	}
	if (put_digest(req, hex, &given, err) == -1)
		return NULL;
	if (rc->store == NULL) {
		rrerr_set(err, RRERR_UNAVAILABLE, NULL,
		    "this rumprund has no image store");
		return NULL;
	}
	/* Replacing what a guest uses: only when asked. */
	cur = imgstore_get(rc->store, kind, name, NULL);
	if (cur != NULL && !force) {
		users = store_users(rc, kind, name);
		if (users_text(users, name, who, sizeof(who))) {
			rrerr_set(err, RRERR_CONFLICT, "name",
			    "%s %s is used "
			    "by %s: ?force=true replaces it (guests that run "
			    "keep the file they have)",
			    imgstore_kind_name(kind), name, who);
			json_decref(users);
			json_decref(cur);
			return NULL;
		}
		json_decref(users);
	}
	if ((ps = calloc(1, sizeof(*ps))) == NULL) {
		json_decref(cur);
		rrerr_set(err, RRERR_INTERNAL, NULL, "out of memory");
		return NULL;
	}
	ps->kind = kind;
	ps->replaces = cur != NULL;
	json_decref(cur);
	ps->up = imgstore_upload_begin(rc->store, kind, name, length,
	    given ? hex : NULL, err);
	if (ps->up == NULL) {
		free(ps);
		return NULL;
	}
	log_change(req,
	    kind == IMGSTORE_IMAGE ? "image upload" : "volume upload", name);
	return ps;
}

static void *
put_begin_image(struct httpd_req *req, void *ctx, long long length,
    struct rrerr *err)
{
	return put_begin(req, ctx, IMGSTORE_IMAGE, length, err);
}

static void *
put_begin_volume(struct httpd_req *req, void *ctx, long long length,
    struct rrerr *err)
{
	return put_begin(req, ctx, IMGSTORE_VOLUME, length, err);
}

static int
put_data(void *sink, const char *buf, size_t len, struct rrerr *err)
{
	struct put_sink *ps = sink;

	return imgstore_upload_write(ps->up, buf, len, err);
}

static void
put_abort(void *sink)
{
	struct put_sink *ps = sink;
	uint64_t got = imgstore_upload_size(ps->up);

	json_decref(imgstore_upload_end(ps->up));
	log_info("store: an upload ended after %llu bytes: nothing kept",
	    (unsigned long long)got);
	free(ps);
}

/* What a commit stored, or why nothing was: the answer of the PUT. */
struct put_job {
	struct httpd_req *req;
	struct routes_ctx *rc;
	struct put_sink *ps;
};

static void
put_done(void *arg, json_t *entry, const struct rrerr *err)
{
	struct put_job *j = arg;
	json_t *users;
	const char *name;
	char *where;

	if (err != NULL) {
		httpd_reply_error(j->req, err);
		goto cleanup;
	}
	name = json_string_value(json_object_get(entry, "name"));
	log_info("store: %s %s stored: %lld bytes, sha256 %s",
	    imgstore_kind_name(j->ps->kind), name,
	    (long long)json_integer_value(json_object_get(entry, "size")),
	    json_string_value(json_object_get(entry, "sha256")));
	users = store_users(j->rc, j->ps->kind, name);
	set_used_by(entry, users);
	json_decref(users);
	if (asprintf(&where, "/v1/%ss/%s", imgstore_kind_name(j->ps->kind),
		name) != -1) {
		(void)httpd_reply_header(j->req, "Location", where);
		free(where);
	}
	httpd_reply_json(j->req, j->ps->replaces ? 200 : 201, entry);
cleanup:
	free(j->ps);
	free(j);
}

static void
put_store(struct httpd_req *req, void *ctx)
{
	struct routes_ctx *rc = ctx;
	struct put_sink *ps = httpd_req_take_upload(req);
	struct put_job *j;
	struct rrerr err;

	if (ps == NULL) {
		reply_bad(req, RRERR_INTERNAL, NULL, "the upload was lost");
		return;
	}
	if ((j = calloc(1, sizeof(*j))) == NULL) {
		put_abort(ps);
		reply_bad(req, RRERR_INTERNAL, NULL, "out of memory");
		return;
	}
	j->req = req;
	j->rc = rc;
	j->ps = ps;
	if (storejobs_commit(ps->up, httpd_req_loop(req), put_done, j, &err) ==
	    -1) {
		put_abort(ps);
		free(j);
		httpd_reply_error(req, &err);
	}
}

static void
get_store_list(struct httpd_req *req, struct routes_ctx *rc,
    enum imgstore_kind kind)
{
	const char *q;
	char hex[IMGSTORE_HEX_LEN + 1];
	struct rrerr err;
	json_t *list, *users, *e;
	size_t i;

	if (check_query(req, "sha256") == -1)
		return;
	q = httpd_req_query(req, "sha256");
	if (q != NULL && imgstore_parse_digest(q, "sha256", hex, &err) == -1) {
		httpd_reply_error(req, &err);
		return;
	}
	if (rc->store == NULL) {
		httpd_reply_json(req, 200, json_array());
		return;
	}
	if ((list = imgstore_list(rc->store, kind, q != NULL ? hex : NULL)) ==
	    NULL) {
		reply_bad(req, RRERR_INTERNAL, NULL, "out of memory");
		return;
	}
	users = store_users(rc, kind, NULL);
	json_array_foreach(list, i, e)
		set_used_by(e, users);
	json_decref(users);
	httpd_reply_json(req, 200, list);
}

static void
get_store_entry(struct httpd_req *req, struct routes_ctx *rc,
    enum imgstore_kind kind)
{
	const char *name = httpd_req_param(req, "name");
	struct rrerr err;
	json_t *e, *users;

	if (check_query(req, "") == -1)
		return;
	if (rc->store == NULL) {
		reply_bad(req, RRERR_NOT_FOUND, "name", "no %s %s",
		    imgstore_kind_name(kind), name);
		return;
	}
	if ((e = imgstore_get(rc->store, kind, name, &err)) == NULL) {
		httpd_reply_error(req, &err);
		return;
	}
	users = store_users(rc, kind, name);
	set_used_by(e, users);
	json_decref(users);
	httpd_reply_json(req, 200, e);
}

static void
delete_store_entry(struct httpd_req *req, struct routes_ctx *rc,
    enum imgstore_kind kind)
{
	const char *name = httpd_req_param(req, "name");
	char who[512];
	struct rrerr err;
	json_t *e, *users;
	bool force = false;

	if (check_query(req, "force") == -1 ||
	    query_bool(req, "force", &force) == -1)
		return;
	if (rc->store == NULL ||
	    (e = imgstore_get(rc->store, kind, name, &err)) == NULL) {
		if (rc->store == NULL)
			rrerr_set(&err, RRERR_NOT_FOUND, "name", "no %s %s",
			    imgstore_kind_name(kind), name);
		httpd_reply_error(req, &err);
		return;
	}
	users = store_users(rc, kind, name);
	set_used_by(e, users);
	if (users_text(users, name, who, sizeof(who)) && !force) {
		reply_bad(req, RRERR_CONFLICT, "name",
		    "%s %s is used by %s: "
		    "remove them first, or ?force=true (guests that run keep "
		    "the file they have; a new start of theirs fails)",
		    imgstore_kind_name(kind), name, who);
		json_decref(users);
		json_decref(e);
		return;
	}
	json_decref(users);
	log_change(req, force ? "forced removal" : "removal", name);
	if (imgstore_delete(rc->store, kind, name, &err) == -1) {
		json_decref(e);
		httpd_reply_error(req, &err);
		return;
	}
	httpd_reply_json(req, 200, e);
}

/* One handler per kind: the route decides, never the path's spelling. */
static void
get_images(struct httpd_req *req, void *ctx)
{
	get_store_list(req, ctx, IMGSTORE_IMAGE);
}

static void
get_volumes(struct httpd_req *req, void *ctx)
{
	get_store_list(req, ctx, IMGSTORE_VOLUME);
}

static void
get_image(struct httpd_req *req, void *ctx)
{
	get_store_entry(req, ctx, IMGSTORE_IMAGE);
}

static void
get_volume(struct httpd_req *req, void *ctx)
{
	get_store_entry(req, ctx, IMGSTORE_VOLUME);
}

static void
delete_image(struct httpd_req *req, void *ctx)
{
	delete_store_entry(req, ctx, IMGSTORE_IMAGE);
}

static void
delete_volume(struct httpd_req *req, void *ctx)
{
	delete_store_entry(req, ctx, IMGSTORE_VOLUME);
}

const struct httpd_upload_route routes_uploads[] = {
	{ "PUT", "/v1/images/{name}", put_begin_image, put_data, put_abort },
	{ "PUT", "/v1/volumes/{name}", put_begin_volume, put_data, put_abort },
};

const size_t routes_uploads_count = sizeof(routes_uploads) /
    sizeof(routes_uploads[0]);

/* The paths of openapi.yaml, one handler each, under /ROUTES_API_VERSION. */
const struct httpd_route routes_table[] = {
	{ "POST", "/v1/unikernels", post_unikernels },
	{ "POST", "/v1/iso", post_iso },
	{ "GET", "/v1/unikernels", get_unikernels },
	{ "GET", "/v1/unikernels/{name}", get_unikernel },
	{ "DELETE", "/v1/unikernels/{name}", delete_unikernel },
	{ "POST", "/v1/unikernels/{name}/stop", post_stop },
	{ "POST", "/v1/unikernels/{name}/start", post_start },
	{ "GET", "/v1/unikernels/{name}/logs", get_logs },
	{ "POST", "/v1/unikernels/{name}/pause", post_pause },
	{ "POST", "/v1/unikernels/{name}/resume", post_resume },
	{ "POST", "/v1/unikernels/{name}/restart", post_restart },
	{ "POST", "/v1/unikernels/{name}/kill", post_kill },
	{ "POST", "/v1/unikernels/{name}/wait", post_wait },
	{ "GET", "/v1/events", get_events },
	{ "GET", "/v1/health", get_health },
	{ "GET", "/v1/info", get_info },
	{ "PUT", "/v1/images/{name}", put_store },
	{ "GET", "/v1/images", get_images },
	{ "GET", "/v1/images/{name}", get_image },
	{ "DELETE", "/v1/images/{name}", delete_image },
	{ "PUT", "/v1/volumes/{name}", put_store },
	{ "GET", "/v1/volumes", get_volumes },
	{ "GET", "/v1/volumes/{name}", get_volume },
	{ "DELETE", "/v1/volumes/{name}", delete_volume },
	/* routes_metrics.c */
	{ "GET", "/metrics", routes_get_metrics },
	{ "GET", "/v1/unikernels/{name}/stats", routes_get_stats },
};

const size_t routes_count = sizeof(routes_table) / sizeof(routes_table[0]);
