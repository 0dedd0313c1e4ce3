/*
 * Tests of httpd: real sockets, a real libuv loop, libcurl as the client.
 *
 * Each test starts httpd on a temp unix socket and on a free TCP port of
 * 127.0.0.1, runs the loop on the main thread and the client scenario on a
 * second thread.  The client only records what it saw; the main thread
 * asserts once the loop has returned (cmocka is not thread-safe).  When
 * the client is done it kicks the loop, which stops httpd; uv_run() must
 * then return by itself, and uv_loop_close() must find no handle left.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>
#include <uv.h>

#include "fx_http.h"
#include "httpd.h"
#include "log.h"
#include "rrerr.h"

#define BODY_MAX    (64 * 1024)
#define NCHUNKS	    5
#define KEEPALIVE_N 200

struct srv;
typedef void client_fn(struct srv *);

struct srv {
	uv_loop_t loop;
	struct httpd *h;
	char dir[64];
	char sock[96];
	char tcp[32];
	int port;
	uv_async_t done;
	pthread_t thread;
	client_fn *client;

	/* Loop side. */
	uv_timer_t stop_timer;
	bool stop_timer_init;
	struct httpd_req *pending[2];
	int npending;
	atomic_int handled_sleepy;
	atomic_int sleepy_closed;
	_Atomic uint64_t sleepy_closed_ns;
	atomic_int stream_closed;
	atomic_int zombie_closed;
	atomic_int up_begun;   /* upload sinks made */
	atomic_int up_aborted; /* ... and aborted */
	uint64_t wake_ns[NCHUNKS];

	/* Client side results. */
	struct resp r[8];
	uint64_t recv_ns[NCHUNKS];
	int nrecv;
	int fds_before, fds_after;
	uint64_t closed_latency_ns;
	int keepalive_ok;
	long keepalive_connects;
	double keepalive_rps;
	int raw_ok;
};

static void
sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };

	nanosleep(&ts, NULL);
}

/*
 * Route handlers (loop thread).
 */

static void
h_echo(struct httpd_req *req, void *ctx)
{
	const char *q = httpd_req_query(req, "q");
	const char *flag = httpd_req_query(req, "flag");
	const char *hdr = httpd_req_header(req, "x-test");
	uid_t uid;
	json_t *o;

	(void)ctx;
	o = json_pack("{s:s, s:s, s:s, s:s, s:s?, s:s?, s:s?, s:i}", "method",
	    httpd_req_method(req), "path", httpd_req_path(req), "name",
	    httpd_req_param(req, "name"), "other",
	    httpd_req_param(req, "other"), "q", q, "flag", flag, "hdr", hdr,
	    "uid", httpd_req_peer_uid(req, &uid) == 0 ? (int)uid : -1);
	httpd_reply_json(req, 200, o);
}

static void
h_body(struct httpd_req *req, void *ctx)
{
	const unsigned char *b;
	uint32_t hash = 2166136261u;
	size_t len, i;

	(void)ctx;
	b = (const unsigned char *)httpd_req_body(req, &len);
	for (i = 0; i < len; i++)
		hash = (hash ^ b[i]) * 16777619u;
	httpd_reply_json(req, 200,
	    json_pack("{s:I, s:I}", "len", (json_int_t)len, "fnv",
		(json_int_t)hash));
}

static void
h_error(struct httpd_req *req, void *ctx)
{
	struct rrerr err;

	(void)ctx;
	if (httpd_req_query(req, "field") != NULL)
		rrerr_set(&err, RRERR_CONFLICT, "name", "%s exists", "it");
	else
		rrerr_set(&err, RRERR_INVALID, NULL, "bad value");
	httpd_reply_error(req, &err);
}

static void
h_fast(struct httpd_req *req, void *ctx)
{
	(void)ctx;
	httpd_reply_json(req, 200, json_pack("{s:b}", "fast", 1));
}

struct later {
	uv_timer_t t;
	struct httpd_req *req;
};

static void
later_closed(uv_handle_t *handle)
{
	free(handle->data);
}

static void
later_fire(uv_timer_t *t)
{
	struct later *l = t->data;

	httpd_reply_json(l->req, 200, json_pack("{s:b}", "slow", 1));
	uv_close((uv_handle_t *)t, later_closed);
}

/* Answers 300 ms later, from a timer. */
static void
h_slow(struct httpd_req *req, void *ctx)
{
	struct srv *s = ctx;
	struct later *l;

	l = calloc(1, sizeof(*l));
	assert_non_null(l);
	l->req = req;
	uv_timer_init(&s->loop, &l->t);
	l->t.data = l;
	uv_timer_start(&l->t, later_fire, 300, 0);
}

/* A stream woken NCHUNKS times by a timer with a line each, then ended. */
struct producer {
	uv_timer_t t;
	struct srv *s;
	struct httpd_stream *st;
	int n;
	char buf[256];
	size_t len;
	bool ended;
};

static ssize_t
prod_read(void *arg, char *buf, size_t max)
{
	struct producer *p = arg;
	size_t n;

	if (p->len == 0)
		return p->ended ? -1 : 0;
	n = p->len < max ? p->len : max;
	memcpy(buf, p->buf, n);
	memmove(p->buf, p->buf + n, p->len - n);
	p->len -= n;
	return (ssize_t)n;
}

static void
prod_closed(void *arg)
{
	struct producer *p = arg;

	p->st = NULL;
	atomic_fetch_add(&p->s->stream_closed, 1);
	uv_close((uv_handle_t *)&p->t, later_closed);
}

static const struct httpd_stream_ops prod_ops = { prod_read, prod_closed };

static void
prod_tick(uv_timer_t *t)
{
	struct producer *p = t->data;

	if (p->n < NCHUNKS) {
		p->len += (size_t)snprintf(p->buf + p->len,
		    sizeof(p->buf) - p->len, "chunk %d\n", p->n);
		p->s->wake_ns[p->n] = now_ns();
		p->n++;
	} else {
		p->ended = true;
		uv_timer_stop(t);
	}
	httpd_stream_wake(p->st);
}

static void
start_producer(struct srv *s, struct httpd_req *req)
{
	struct producer *p;

	p = calloc(1, sizeof(*p));
	assert_non_null(p);
	p->s = s;
	uv_timer_init(&s->loop, &p->t);
	p->t.data = p;
	p->st = httpd_reply_stream(req, 200, "text/plain", &prod_ops, p);
	assert_non_null(p->st);
	uv_timer_start(&p->t, prod_tick, 50, 50);
}

static void
h_stream(struct httpd_req *req, void *ctx)
{
	start_producer(ctx, req);
}

struct stream_later {
	uv_timer_t t;
	struct srv *s;
	struct httpd_req *req;
};

static void
stream_later_fire(uv_timer_t *t)
{
	struct stream_later *l = t->data;

	start_producer(l->s, l->req);
	uv_close((uv_handle_t *)t, later_closed);
}

/* The stream is the answer of a handler that returned long ago. */
static void
h_stream_later(struct httpd_req *req, void *ctx)
{
	struct stream_later *l;

	l = calloc(1, sizeof(*l));
	assert_non_null(l);
	l->s = ctx;
	l->req = req;
	uv_timer_init(&l->s->loop, &l->t);
	l->t.data = l;
	uv_timer_start(&l->t, stream_later_fire, 100, 0);
}

/* A stream that never has anything. */
static ssize_t
sleepy_read(void *arg, char *buf, size_t max)
{
	(void)arg;
	(void)buf;
	(void)max;
	return 0;
}

static void
sleepy_closed(void *arg)
{
	struct srv *s = arg;

	atomic_store(&s->sleepy_closed_ns, now_ns());
	atomic_fetch_add(&s->sleepy_closed, 1);
}

static const struct httpd_stream_ops sleepy_ops = { sleepy_read,
	sleepy_closed };

static void
h_sleepy(struct httpd_req *req, void *ctx)
{
	struct srv *s = ctx;

	assert_non_null(
	    httpd_reply_stream(req, 200, "text/plain", &sleepy_ops, s));
	atomic_fetch_add(&s->handled_sleepy, 1);
}

/* Never answered by the handler (the test answers after httpd_stop). */
static void
h_pending(struct httpd_req *req, void *ctx)
{
	struct srv *s = ctx;

	assert_true(s->npending < 2);
	s->pending[s->npending++] = req;
}

/* Answers, then stops httpd from inside MHD's callback. */
static void
h_stop(struct httpd_req *req, void *ctx)
{
	struct srv *s = ctx;

	httpd_reply_json(req, 200, json_pack("{s:b}", "stopping", 1));
	httpd_stop(s->h);
	s->h = NULL;
}

/*
 * An upload route: the sink hashes what comes (FNV-1a) and refuses past
 * ?limit=N bytes; ?no refuses at once.
 */
struct up_sink {
	struct srv *s;
	uint32_t hash;
	uint64_t len;
	uint64_t limit;
};

static void *
up_begin(struct httpd_req *req, void *ctx, long long length, struct rrerr *err)
{
	struct srv *s = ctx;
	const char *lim = httpd_req_query(req, "limit");
	struct up_sink *u;

	(void)length;
	if (httpd_req_query(req, "no") != NULL) {
		rrerr_set(err, RRERR_FORBIDDEN, "name", "no uploads of %s",
		    httpd_req_param(req, "name"));
		return NULL;
	}
	u = calloc(1, sizeof(*u));
	assert_non_null(u);
	u->s = s;
	u->hash = 2166136261u;
	u->limit = lim != NULL ? strtoull(lim, NULL, 10) : UINT64_MAX;
	atomic_fetch_add(&s->up_begun, 1);
	return u;
}

static int
up_data(void *sink, const char *buf, size_t len, struct rrerr *err)
{
	struct up_sink *u = sink;
	size_t i;

	if (u->len + len > u->limit)
		return rrerr_set(err, RRERR_TOO_LARGE, NULL, "over %llu",
		    (unsigned long long)u->limit);
	for (i = 0; i < len; i++)
		u->hash = (u->hash ^ (unsigned char)buf[i]) * 16777619u;
	u->len += len;
	return 0;
}

static void
up_abort(void *sink)
{
	struct up_sink *u = sink;

	atomic_fetch_add(&u->s->up_aborted, 1);
	free(u);
}

static void
h_upload(struct httpd_req *req, void *ctx)
{
	struct up_sink *u = httpd_req_take_upload(req);

	(void)ctx;
	assert_non_null(u);
	assert_null(httpd_req_take_upload(req));
	httpd_reply_json(req, 200,
	    json_pack("{s:I, s:I, s:s}", "len", (json_int_t)u->len, "fnv",
		(json_int_t)u->hash, "name", httpd_req_param(req, "name")));
	free(u);
}

static const struct httpd_upload_route uploads[] = {
	{ "PUT", "/v1/up/{name}", up_begin, up_data, up_abort },
};

static const struct httpd_route routes[] = {
	{ "PUT", "/v1/up/{name}", h_upload },
	{ "GET", "/v1/echo/{name}/x/{other}", h_echo },
	{ "DELETE", "/v1/echo/{name}/x/{other}", h_echo },
	{ "POST", "/v1/body", h_body },
	{ "GET", "/v1/error", h_error },
	{ "GET", "/v1/fast", h_fast },
	{ "GET", "/v1/slow", h_slow },
	{ "GET", "/v1/stream", h_stream },
	{ "GET", "/v1/stream-later", h_stream_later },
	{ "GET", "/v1/sleepy", h_sleepy },
	{ "GET", "/v1/pending", h_pending },
	{ "POST", "/v1/stop", h_stop },
};

/*
 * Client side (client thread).
 */

static CURL *
easy(struct srv *s, bool tcp, const char *path)
{
	char url[512];
	CURL *c;

	if ((c = curl_easy_init()) == NULL)
		return NULL;
	if (tcp)
		snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", s->port,
		    path);
	else {
		snprintf(url, sizeof(url), "http://localhost%s", path);
		curl_easy_setopt(c, CURLOPT_UNIX_SOCKET_PATH, s->sock);
	}
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_PATH_AS_IS, 1L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 10000L);
	return c;
}

/* One request on a fresh handle; method NULL is GET. */
static void
fetch(struct srv *s, bool tcp, const char *method, const char *path,
    struct resp *r)
{
	CURL *c = easy(s, tcp, path);

	if (c == NULL) {
		memset(r, 0, sizeof(*r));
		r->rc = CURLE_FAILED_INIT;
		return;
	}
	if (method != NULL)
		curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	perform(c, r);
	curl_easy_cleanup(c);
}

static void *
client_main(void *arg)
{
	struct srv *s = arg;

	s->client(s);
	uv_async_send(&s->done);
	return NULL;
}

/*
 * Fixture.
 */

static int
free_port(void)
{
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);
	int fd, port = -1;

	if ((fd = socket(AF_INET, SOCK_STREAM, 0)) == -1)
		return -1;
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&sin, &len) == 0)
		port = ntohs(sin.sin_port);
	close(fd);
	return port;
}

static void
srv_config(struct srv *s, struct httpd_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->unix_path = s->sock;
	cfg->unix_mode = 0660;
	cfg->unix_gid = (gid_t)-1;
	cfg->tcp_addr = s->tcp;
	cfg->unix_fd = -1;
	cfg->tcp_fd = -1;
	cfg->body_max = BODY_MAX;
	cfg->routes = routes;
	cfg->nroutes = sizeof(routes) / sizeof(routes[0]);
	cfg->uploads = uploads;
	cfg->nuploads = sizeof(uploads) / sizeof(uploads[0]);
	cfg->ctx = s;
}

static int
setup_cfg(void **state, void (*tweak)(struct httpd_config *))
{
	struct httpd_config cfg;
	struct rrerr err;
	struct srv *s;
	bool loop = false;

	if ((s = calloc(1, sizeof(*s))) == NULL)
		return -1;
	snprintf(s->dir, sizeof(s->dir), "/tmp/rr-test-httpd.XXXXXX");
	if (mkdtemp(s->dir) == NULL)
		goto fail;
	snprintf(s->sock, sizeof(s->sock), "%s/api.sock", s->dir);
	if ((s->port = free_port()) == -1)
		goto fail;
	snprintf(s->tcp, sizeof(s->tcp), "127.0.0.1:%d", s->port);
	if (uv_loop_init(&s->loop) != 0)
		goto fail;
	loop = true;
	srv_config(s, &cfg);
	if (tweak != NULL)
		tweak(&cfg);
	if ((s->h = httpd_start(&s->loop, &cfg, &err)) == NULL) {
		fprintf(stderr, "httpd_start: %s\n", err.message);
		goto fail;
	}
	*state = s;
	return 0;
fail:
	if (loop) {
		uv_run(&s->loop, UV_RUN_DEFAULT);
		uv_loop_close(&s->loop);
	}
	rmdir(s->dir);
	free(s);
	return -1;
}

static int
setup(void **state)
{
	return setup_cfg(state, NULL);
}

/* Small connection limits (the deadlines stay long). */
static void
tweak_limits(struct httpd_config *cfg)
{
	cfg->conn_limit = 6;
	cfg->peer_limit = 4;
}

static int
setup_limits(void **state)
{
	return setup_cfg(state, tweak_limits);
}

/* Short deadlines (the limits stay large). */
#define T_HEADERS_MS 300
#define T_REQUEST_MS 600

static void
tweak_deadlines(struct httpd_config *cfg)
{
	cfg->header_timeout_ms = T_HEADERS_MS;
	cfg->request_timeout_ms = T_REQUEST_MS;
}

static int
setup_deadlines(void **state)
{
	return setup_cfg(state, tweak_deadlines);
}

static int
teardown(void **state)
{
	struct srv *s = *state;
	size_t i;
	int rv;

	if (s == NULL)
		return 0;
	rv = uv_loop_close(&s->loop);
	for (i = 0; i < sizeof(s->r) / sizeof(s->r[0]); i++)
		resp_free(&s->r[i]);
	unlink(s->sock);
	rmdir(s->dir);
	free(s);
	return rv == 0 ? 0 : -1;
}

static void
on_done(uv_async_t *a)
{
	struct srv *s = a->data;

	if (s->h != NULL) {
		httpd_stop(s->h);
		s->h = NULL;
	}
	if (s->stop_timer_init)
		uv_close((uv_handle_t *)&s->stop_timer, NULL);
	uv_close((uv_handle_t *)a, NULL);
}

/* Run the loop until client is done and everything is closed. */
static void
run(struct srv *s, client_fn *client)
{
	s->client = client;
	assert_int_equal(uv_async_init(&s->loop, &s->done, on_done), 0);
	s->done.data = s;
	assert_int_equal(pthread_create(&s->thread, NULL, client_main, s), 0);
	assert_int_equal(uv_run(&s->loop, UV_RUN_DEFAULT), 0);
	assert_int_equal(pthread_join(s->thread, NULL), 0);
	assert_null(s->h);
}

static json_t *
body_json(const struct resp *r)
{
	json_error_t je;
	json_t *j;

	assert_non_null(r->body);
	j = json_loadb(r->body, r->len, 0, &je);
	assert_non_null(j);
	return j;
}

static void
assert_json_str(const json_t *o, const char *key, const char *want)
{
	const char *got = json_string_value(json_object_get(o, key));

	if (want == NULL) {
		assert_null(got);
		return;
	}
	assert_non_null(got);
	assert_string_equal(got, want);
}

/*
 * Routing, parameters, query, headers, errors.
 */

static void
client_routing(struct srv *s)
{
	struct curl_slist *hl;
	CURL *c;

	c = easy(s, false, "/v1/echo/a%20b/x/c%C3%A9?q=hello%20world&flag");
	hl = curl_slist_append(NULL, "X-Test: yes");
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
	perform(c, &s->r[0]);
	curl_easy_cleanup(c);
	curl_slist_free_all(hl);
	fetch(s, false, NULL, "/v1/%65cho/n/x/o", &s->r[1]);
	fetch(s, false, NULL, "/v1/echo/a%2Fb/x/c", &s->r[2]);
	fetch(s, false, NULL, "/v1/echo//x/c", &s->r[3]);
	fetch(s, false, NULL, "/nope", &s->r[4]);
	fetch(s, false, "POST", "/v1/echo/a/x/b", &s->r[5]);
	fetch(s, true, "DELETE", "/v1/echo/a/x/b", &s->r[6]);
	fetch(s, false, NULL, "/v1/error?field=1", &s->r[7]);
}

static void
test_routing(void **state)
{
	struct srv *s = *state;
	json_t *j;

	run(s, client_routing);

	assert_int_equal(s->r[0].rc, CURLE_OK);
	assert_int_equal(s->r[0].status, 200);
	assert_string_equal(s->r[0].ctype, "application/json");
	assert_true(s->r[0].len > 0 && s->r[0].body[s->r[0].len - 1] == '\n');
	j = body_json(&s->r[0]);
	assert_json_str(j, "method", "GET");
	assert_json_str(j, "path", "/v1/echo/a%20b/x/c%C3%A9");
	assert_json_str(j, "name", "a b");
	assert_json_str(j, "other", "c\xc3\xa9");
	assert_json_str(j, "q", "hello world");
	assert_json_str(j, "flag", "");
	assert_json_str(j, "hdr", "yes");
	json_decref(j);

	/* A literal segment may be percent-encoded too. */
	assert_int_equal(s->r[1].status, 200);
	j = body_json(&s->r[1]);
	assert_json_str(j, "name", "n");
	assert_json_str(j, "q", NULL);
	assert_json_str(j, "hdr", NULL);
	json_decref(j);

	/* An encoded '/' in a parameter. */
	assert_int_equal(s->r[2].status, 400);
	j = body_json(&s->r[2]);
	assert_json_str(j, "error", "bad_request");
	json_decref(j);

	/* An empty segment is no parameter. */
	assert_int_equal(s->r[3].status, 404);

	assert_int_equal(s->r[4].status, 404);
	assert_string_equal(s->r[4].body,
	    "{\"error\":\"not_found\",\"message\":\"no such path: /nope\"}\n");
	assert_string_equal(s->r[4].ctype, "application/json");

	assert_int_equal(s->r[5].status, 405);
	/* HEAD is served wherever GET is. */
	assert_string_equal(s->r[5].allow, "GET, HEAD, DELETE");
	j = body_json(&s->r[5]);
	assert_json_str(j, "error", "method_not_allowed");
	json_decref(j);

	/* Over TCP; the peer uid is unknown there. */
	assert_int_equal(s->r[6].status, 200);
	j = body_json(&s->r[6]);
	assert_json_str(j, "method", "DELETE");
	assert_int_equal(json_integer_value(json_object_get(j, "uid")), -1);
	json_decref(j);

	assert_int_equal(s->r[7].status, 409);
	assert_string_equal(s->r[7].body,
	    "{\"error\":\"conflict\","
	    "\"message\":\"it exists\",\"field\":\"name\"}\n");
}

static void
test_status_for(void **state)
{
	(void)state;
	assert_int_equal(httpd_status_for(RRERR_OK), 200);
	assert_int_equal(httpd_status_for(RRERR_BAD_REQUEST), 400);
	assert_int_equal(httpd_status_for(RRERR_INVALID), 422);
	assert_int_equal(httpd_status_for(RRERR_FORBIDDEN), 403);
	assert_int_equal(httpd_status_for(RRERR_NOT_FOUND), 404);
	assert_int_equal(httpd_status_for(RRERR_CONFLICT), 409);
	assert_int_equal(httpd_status_for(RRERR_TOO_LARGE), 413);
	assert_int_equal(httpd_status_for(RRERR_UNSUPPORTED_MEDIA), 415);
	assert_int_equal(httpd_status_for(RRERR_UNAVAILABLE), 503);
	assert_int_equal(httpd_status_for(RRERR_INTERNAL), 500);
}

/*
 * Bodies.
 */

static char *bigbody;

static uint32_t
fnv(const char *b, size_t len)
{
	uint32_t h = 2166136261u;
	size_t i;

	for (i = 0; i < len; i++)
		h = (h ^ (unsigned char)b[i]) * 16777619u;
	return h;
}

static void
post(struct srv *s, const char *data, size_t len, const char *hdr,
    struct resp *r)
{
	struct curl_slist *hl = NULL;
	CURL *c = easy(s, false, "/v1/body");

	curl_easy_setopt(c, CURLOPT_POSTFIELDS, data);
	curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
	if (hdr != NULL) {
		hl = curl_slist_append(NULL, hdr);
		curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
	}
	perform(c, r);
	curl_easy_cleanup(c);
	curl_slist_free_all(hl);
}

struct chunked {
	const char *p;
	size_t left;
};

static size_t
on_read(char *buf, size_t size, size_t n, void *arg)
{
	struct chunked *ck = arg;

	n *= size;
	if (n > 1000)
		n = 1000;
	if (n > ck->left)
		n = ck->left;
	memcpy(buf, ck->p, n);
	ck->p += n;
	ck->left -= n;
	return n;
}

/* A chunked upload (no Content-Length). */
static void
post_chunked(struct srv *s, const char *data, size_t len, struct resp *r)
{
	struct curl_slist *hl;
	struct chunked ck = { data, len };
	CURL *c = easy(s, false, "/v1/body");

	hl = curl_slist_append(NULL, "Transfer-Encoding: chunked");
	hl = curl_slist_append(hl, "Expect:");
	curl_easy_setopt(c, CURLOPT_POST, 1L);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
	curl_easy_setopt(c, CURLOPT_READFUNCTION, on_read);
	curl_easy_setopt(c, CURLOPT_READDATA, &ck);
	perform(c, r);
	curl_easy_cleanup(c);
	curl_slist_free_all(hl);
}

static void
client_body(struct srv *s)
{
	post(s, bigbody, 60 * 1024, "Expect:", &s->r[0]);
	post(s, bigbody, 100 * 1024, "Expect:", &s->r[1]);
	post(s, bigbody, 100 * 1024, "Expect: 100-continue", &s->r[2]);
	post_chunked(s, bigbody, 50 * 1024, &s->r[3]);
	post_chunked(s, bigbody, 200 * 1024, &s->r[4]);
	post(s, bigbody, 0, "Expect:", &s->r[5]);
	post(s, bigbody, BODY_MAX, NULL, &s->r[6]);
}

static void
assert_body(const struct resp *r, size_t len)
{
	json_t *j;

	assert_int_equal(r->rc, CURLE_OK);
	assert_int_equal(r->status, 200);
	j = body_json(r);
	assert_int_equal(json_integer_value(json_object_get(j, "len")), len);
	assert_int_equal(json_integer_value(json_object_get(j, "fnv")),
	    fnv(bigbody, len));
	json_decref(j);
}

static void
assert_413(const struct resp *r)
{
	char want[128];

	assert_int_equal(r->rc, CURLE_OK);
	assert_int_equal(r->status, 413);
	snprintf(want, sizeof(want),
	    "{\"error\":\"too_large\",\"message\":"
	    "\"request body is larger than %d bytes\"}\n",
	    BODY_MAX);
	assert_string_equal(r->body, want);
}

static void
test_body(void **state)
{
	struct srv *s = *state;
	size_t i;

	bigbody = malloc(256 * 1024);
	assert_non_null(bigbody);
	srandom(42);
	for (i = 0; i < 256 * 1024; i++)
		bigbody[i] = (char)(random() & 0xff);
	run(s, client_body);

	assert_body(&s->r[0], 60 * 1024);
	assert_413(&s->r[1]); /* read and dropped */
	assert_413(&s->r[2]); /* refused before "100 Continue" */
	assert_body(&s->r[3], 50 * 1024);
	assert_413(&s->r[4]); /* chunked, read and dropped */
	assert_body(&s->r[5], 0);
	assert_body(&s->r[6], BODY_MAX);
	free(bigbody);
	bigbody = NULL;
}

/*
 * Upload routes: bodies past body_max stream to the sink; a refusal at
 * begin() comes before the body; a refusal by data() after the rest is
 * read; a client that leaves mid-body gets its sink aborted.
 */

static int raw_connect(struct srv *);

static void
put(struct srv *s, const char *path, const char *data, size_t len, bool chunked,
    const char *hdr, struct resp *r)
{
	struct curl_slist *hl = NULL;
	struct chunked ck = { data, len };
	CURL *c = easy(s, false, path);

	curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
	curl_easy_setopt(c, CURLOPT_READFUNCTION, on_read);
	curl_easy_setopt(c, CURLOPT_READDATA, &ck);
	if (chunked)
		hl = curl_slist_append(hl, "Transfer-Encoding: chunked");
	else
		curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, (curl_off_t)len);
	hl = curl_slist_append(hl, hdr != NULL ? hdr : "Expect:");
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
	perform(c, r);
	curl_easy_cleanup(c);
	curl_slist_free_all(hl);
}

static void
client_upload(struct srv *s)
{
	static const char head[] = "PUT /v1/up/cut HTTP/1.1\r\nHost: x\r\n"
				   "Content-Length: 100000\r\n\r\n";
	int fd, i;

	put(s, "/v1/up/a", bigbody, 200 * 1024, false, NULL, &s->r[0]);
	put(s, "/v1/up/b", bigbody, 150 * 1024, true, NULL, &s->r[1]);
	put(s, "/v1/up/c?no", bigbody, 200 * 1024, false,
	    "Expect: 100-continue", &s->r[2]);
	put(s, "/v1/up/d?limit=1000", bigbody, 100 * 1024, false, NULL,
	    &s->r[3]);
	put(s, "/v1/up/e?limit=1000", bigbody, 100 * 1024, true, NULL,
	    &s->r[4]);
	/* Cut mid-body: headers and 5000 bytes, then gone. */
	fd = raw_connect(s);
	if (fd != -1) {
		(void)!write(fd, head, sizeof(head) - 1);
		(void)!write(fd, bigbody, 5000);
		sleep_ms(100);
		close(fd);
	}
	for (i = 0; i < 50 && atomic_load(&s->up_aborted) < 3; i++)
		sleep_ms(20);
}

static void
assert_upload(const struct resp *r, size_t len)
{
	json_t *j;

	assert_int_equal(r->rc, CURLE_OK);
	assert_int_equal(r->status, 200);
	j = body_json(r);
	assert_int_equal(json_integer_value(json_object_get(j, "len")), len);
	assert_int_equal(json_integer_value(json_object_get(j, "fnv")),
	    fnv(bigbody, len));
	json_decref(j);
}

static void
test_upload(void **state)
{
	struct srv *s = *state;
	size_t i;

	bigbody = malloc(256 * 1024);
	assert_non_null(bigbody);
	srandom(7);
	for (i = 0; i < 256 * 1024; i++)
		bigbody[i] = (char)(random() & 0xff);
	run(s, client_upload);

	assert_upload(&s->r[0], 200 * 1024); /* past body_max: streamed */
	assert_upload(&s->r[1], 150 * 1024);
	assert_int_equal(s->r[2].status, 403); /* before "100 Continue" */
	assert_string_equal(s->r[2].body,
	    "{\"error\":\"forbidden\","
	    "\"message\":\"no uploads of c\",\"field\":\"name\"}\n");
	for (i = 3; i <= 4; i++) {
		assert_int_equal(s->r[i].rc, CURLE_OK);
		assert_int_equal(s->r[i].status, 413);
		assert_string_equal(s->r[i].body,
		    "{\"error\":\"too_large\","
		    "\"message\":\"over 1000\"}\n");
	}
	/* c never began; d, e and the cut one were aborted. */
	assert_int_equal(atomic_load(&s->up_begun), 5);
	assert_int_equal(atomic_load(&s->up_aborted), 3);
	free(bigbody);
	bigbody = NULL;
}

/*
 * A slow answer does not hold up a fast one.
 */

static void *
slow_thread(void *arg)
{
	struct srv *s = arg;

	fetch(s, false, NULL, "/v1/slow", &s->r[0]);
	return NULL;
}

static void
client_deferred(struct srv *s)
{
	pthread_t t;

	pthread_create(&t, NULL, slow_thread, s);
	sleep_ms(50);
	fetch(s, false, NULL, "/v1/fast", &s->r[1]);
	fetch(s, true, NULL, "/v1/fast", &s->r[2]);
	pthread_join(t, NULL);
}

static void
test_deferred(void **state)
{
	struct srv *s = *state;
	uint64_t slow_ms, fast_ms;

	run(s, client_deferred);
	assert_int_equal(s->r[0].status, 200);
	assert_int_equal(s->r[1].status, 200);
	assert_int_equal(s->r[2].status, 200);
	assert_string_equal(s->r[0].body, "{\"slow\":true}\n");
	slow_ms = (s->r[0].t_end - s->r[0].t_start) / 1000000;
	fast_ms = (s->r[1].t_end - s->r[1].t_start) / 1000000;
	print_message("deferred: slow %" PRIu64 " ms, fast %" PRIu64 " ms\n",
	    slow_ms, fast_ms);
	assert_true(slow_ms >= 290);
	assert_true(fast_ms < 150);
	assert_true(s->r[1].t_end < s->r[0].t_end);
	assert_true(s->r[2].t_end < s->r[0].t_end);
}

/*
 * Streams.
 */

struct lines {
	struct srv *s;
	struct resp *r;
	size_t scanned;
};

static size_t
on_stream(char *d, size_t size, size_t n, void *arg)
{
	struct lines *ln = arg;
	struct resp *r = ln->r;
	uint64_t t = now_ns();
	char *nl;
	int k;

	n = on_body(d, size, n, r);
	while ((nl = memchr(r->body + ln->scanned, '\n',
		    r->len - ln->scanned)) != NULL) {
		if (sscanf(r->body + ln->scanned, "chunk %d", &k) == 1 &&
		    k >= 0 && k < NCHUNKS)
			ln->s->recv_ns[k] = t;
		ln->s->nrecv++;
		ln->scanned = (size_t)(nl - r->body) + 1;
	}
	return n;
}

static void
client_stream_path(struct srv *s, const char *path)
{
	struct lines ln = { s, &s->r[0], 0 };
	CURL *c = easy(s, false, path);

	memset(&s->r[0], 0, sizeof(s->r[0]));
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_stream);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &ln);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, &s->r[0]);
	s->r[0].rc = curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &s->r[0].status);
	curl_easy_cleanup(c);
	/* The stream is over for the server too. */
	for (int i = 0; i < 200 && atomic_load(&s->stream_closed) == 0; i++)
		sleep_ms(5);
}

static void
client_stream(struct srv *s)
{
	client_stream_path(s, "/v1/stream");
}

static void
client_stream_later(struct srv *s)
{
	client_stream_path(s, "/v1/stream-later");
}

static void
check_stream(struct srv *s, client_fn *client)
{
	uint64_t max = 0, sum = 0;
	int i;

	run(s, client);
	assert_int_equal(s->r[0].rc, CURLE_OK);
	assert_int_equal(s->r[0].status, 200);
	assert_string_equal(s->r[0].ctype, "text/plain");
	assert_string_equal(s->r[0].body,
	    "chunk 0\nchunk 1\nchunk 2\nchunk 3\nchunk 4\n");
	assert_int_equal(s->nrecv, NCHUNKS);
	assert_int_equal(atomic_load(&s->stream_closed), 1);
	for (i = 0; i < NCHUNKS; i++) {
		uint64_t lat;

		assert_true(s->recv_ns[i] >= s->wake_ns[i]);
		lat = s->recv_ns[i] - s->wake_ns[i];
		sum += lat;
		if (lat > max)
			max = lat;
	}
	print_message("stream: wake to client, mean %" PRIu64
		      " us, max %" PRIu64 " us\n",
	    sum / NCHUNKS / 1000, max / 1000);
}

static void
test_stream(void **state)
{
	check_stream(*state, client_stream);
}

static void
test_stream_later(void **state)
{
	check_stream(*state, client_stream_later);
}

/* A connected unix socket to s, or -1. */
static int
raw_connect(struct srv *s)
{
	struct sockaddr_un sun;
	int fd;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", s->sock);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return -1;
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		close(fd);
		return -1;
	}
	return fd;
}

/*
 * A client that leaves a sleeping stream is noticed; no fd leaks.  A raw
 * socket, to know when exactly the client closed.
 */
static void
client_disconnect(struct srv *s)
{
	static const char req[] = "GET /v1/sleepy HTTP/1.1\r\nHost: x\r\n\r\n";
	struct pollfd pfd;
	char buf[1024];
	uint64_t t0;
	int fd, i;

	s->fds_before = count_fds();
	if ((fd = raw_connect(s)) == -1)
		return;
	if (write(fd, req, sizeof(req) - 1) != (ssize_t)(sizeof(req) - 1)) {
		close(fd);
		return;
	}
	/* The headers come at once; the body never. */
	pfd.fd = fd;
	pfd.events = POLLIN;
	if (poll(&pfd, 1, 3000) == 1 && read(fd, buf, sizeof(buf)) > 0)
		s->raw_ok = strncmp(buf, "HTTP/1.1 200", 12) == 0;
	sleep_ms(100);
	t0 = now_ns();
	close(fd);
	for (i = 0; i < 1000 && atomic_load(&s->sleepy_closed) == 0; i++)
		sleep_ms(1);
	if (atomic_load(&s->sleepy_closed) != 0)
		s->closed_latency_ns = atomic_load(&s->sleepy_closed_ns) - t0;
	for (i = 0; i < 200; i++) {
		if ((s->fds_after = count_fds()) == s->fds_before)
			break;
		sleep_ms(5);
	}
}

static void
test_stream_disconnect(void **state)
{
	struct srv *s = *state;

	run(s, client_disconnect);
	assert_true(s->raw_ok);
	assert_int_equal(atomic_load(&s->handled_sleepy), 1);
	assert_int_equal(atomic_load(&s->sleepy_closed), 1);
	print_message("disconnect: closed() %" PRIu64 " us after the "
		      "client left\n",
	    s->closed_latency_ns / 1000);
	assert_true(s->closed_latency_ns < 1000000000u);
	assert_int_equal(s->fds_after, s->fds_before);
}

/*
 * Pipelined bytes on a sleeping stream are no disconnect.  Raw socket: a
 * second request follows the first before its answer.
 */
static void
client_pipeline(struct srv *s)
{
	static const char req[] = "GET /v1/sleepy HTTP/1.1\r\nHost: x\r\n\r\n"
				  "GET /v1/fast HTTP/1.1\r\nHost: x\r\n\r\n";
	int fd, i;

	if ((fd = raw_connect(s)) == -1)
		return;
	if (write(fd, req, sizeof(req) - 1) != (ssize_t)(sizeof(req) - 1)) {
		close(fd);
		return;
	}
	for (i = 0; i < 200 && atomic_load(&s->handled_sleepy) == 0; i++)
		sleep_ms(5);
	sleep_ms(300);
	s->raw_ok = atomic_load(&s->handled_sleepy) == 1 &&
	    atomic_load(&s->sleepy_closed) == 0;
	close(fd);
}

static void
test_pipeline(void **state)
{
	struct srv *s = *state;

	run(s, client_pipeline);
	assert_true(s->raw_ok);
	/* httpd_stop() ended it. */
	assert_int_equal(atomic_load(&s->sleepy_closed), 1);
}

/* A request pipelined behind a stream is served once the stream ends. */
static void
client_pipeline_after_stream(struct srv *s)
{
	static const char req[] = "GET /v1/stream HTTP/1.1\r\nHost: x\r\n\r\n"
				  "GET /v1/fast HTTP/1.1\r\nHost: x\r\n\r\n";
	struct resp *r = &s->r[0];
	char buf[4096];
	int fd;

	memset(r, 0, sizeof(*r));
	if ((fd = raw_connect(s)) == -1)
		return;
	if (write(fd, req, sizeof(req) - 1) != (ssize_t)(sizeof(req) - 1)) {
		close(fd);
		return;
	}
	/* Read until the answer of the second request is in. */
	while (r->body == NULL || strstr(r->body, "{\"fast\":true}") == NULL) {
		struct pollfd pfd = { fd, POLLIN, 0 };
		ssize_t n;

		if (poll(&pfd, 1, 3000) != 1)
			break;
		if ((n = read(fd, buf, sizeof(buf))) <= 0)
			break;
		on_body(buf, 1, (size_t)n, r);
	}
	close(fd);
}

static void
test_pipeline_after_stream(void **state)
{
	struct srv *s = *state;
	const char *p;

	run(s, client_pipeline_after_stream);
	assert_non_null(s->r[0].body);
	p = strstr(s->r[0].body, "chunk 4\n");
	assert_non_null(p);
	assert_non_null(strstr(p, "\r\n0\r\n\r\nHTTP/1.1 200 OK\r\n"));
	assert_non_null(strstr(p, "{\"fast\":true}\n"));
	assert_int_equal(atomic_load(&s->stream_closed), 1);
}

/*
 * A client that leaves while its answer is being prepared: the request
 * outlives MHD's interest in it, and the late answer is dropped.
 */
static void
client_deferred_gone(struct srv *s)
{
	CURL *c;
	int i;

	s->fds_before = count_fds();
	c = easy(s, false, "/v1/slow");
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 100L);
	perform(c, &s->r[0]);
	curl_easy_cleanup(c);
	for (i = 0; i < 100; i++) {
		if ((s->fds_after = count_fds()) == s->fds_before)
			break;
		sleep_ms(2);
	}
	sleep_ms(400); /* past the late answer */
	fetch(s, false, NULL, "/v1/fast", &s->r[1]);
}

static void
test_deferred_gone(void **state)
{
	struct srv *s = *state;

	run(s, client_deferred_gone);
	assert_int_equal(s->r[0].rc, CURLE_OPERATION_TIMEDOUT);
	/* The server closed its end before the answer came (300 ms). */
	assert_int_equal(s->fds_after, s->fds_before);
	assert_int_equal(s->r[1].status, 200);
}

/*
 * httpd_stop with a sleeping stream and requests waiting for answers.
 */

static void
on_stop_timer(uv_timer_t *t)
{
	struct srv *s = t->data;
	struct producer *p;

	if (atomic_load(&s->handled_sleepy) == 0 || s->npending < 2)
		return;
	uv_timer_stop(t);
	httpd_stop(s->h);
	s->h = NULL;
	/*
	 * The handlers answer late: httpd_stop() has answered 503 for
	 * them.  A late stream is closed from the loop, not from here.
	 */
	httpd_reply_json(s->pending[0], 200, json_pack("{s:b}", "late", 1));
	p = calloc(1, sizeof(*p));
	assert_non_null(p);
	p->s = s;
	uv_timer_init(&s->loop, &p->t);
	p->t.data = p;
	p->st = httpd_reply_stream(s->pending[1], 200, "text/plain", &prod_ops,
	    p);
	assert_non_null(p->st);
	assert_int_equal(atomic_load(&s->stream_closed), 0);
	httpd_stream_wake(p->st);
	s->npending = 0;
}

struct job {
	struct srv *s;
	const char *path;
	struct resp *r;
};

static void *
job_thread(void *arg)
{
	struct job *j = arg;

	fetch(j->s, false, NULL, j->path, j->r);
	return NULL;
}

static void
client_stop(struct srv *s)
{
	struct job jobs[3] = {
		{ s, "/v1/sleepy", &s->r[0] },
		{ s, "/v1/pending", &s->r[1] },
		{ s, "/v1/pending", &s->r[2] },
	};
	pthread_t t[3];
	int i;

	for (i = 0; i < 3; i++)
		pthread_create(&t[i], NULL, job_thread, &jobs[i]);
	for (i = 0; i < 3; i++)
		pthread_join(t[i], NULL);
}

static void
test_stop(void **state)
{
	struct srv *s = *state;
	struct stat st;
	int i;

	uv_timer_init(&s->loop, &s->stop_timer);
	s->stop_timer.data = s;
	s->stop_timer_init = true;
	uv_timer_start(&s->stop_timer, on_stop_timer, 10, 10);
	run(s, client_stop);

	assert_int_equal(atomic_load(&s->sleepy_closed), 1);
	/*
	 * A stream cut by httpd_stop() ends without its last chunk, so that a
	 * client tells it from a normal end (CURLE_PARTIAL_FILE).
	 */
	assert_int_equal(s->r[0].rc, CURLE_PARTIAL_FILE);
	assert_int_equal(s->r[0].status, 200);
	for (i = 1; i <= 2; i++) {
		assert_int_equal(s->r[i].rc, CURLE_OK);
		assert_int_equal(s->r[i].status, 503);
		assert_string_equal(s->r[i].body,
		    "{\"error\":\"unavailable\","
		    "\"message\":\"rumprund is shutting down\"}\n");
	}
	/* The late stream got closed() too. */
	assert_int_equal(atomic_load(&s->stream_closed), 1);
	assert_int_equal(lstat(s->sock, &st), -1);
	assert_int_equal(errno, ENOENT);
}

/*
 * The socket file, peer credentials, keep-alive.
 */

static void
client_whoami(struct srv *s)
{
	fetch(s, false, NULL, "/v1/echo/me/x/you", &s->r[0]);
	fetch(s, true, NULL, "/v1/echo/me/x/you", &s->r[1]);
}

static void
test_socket_and_uid(void **state)
{
	struct srv *s = *state;
	struct stat st;
	json_t *j;

	assert_int_equal(lstat(s->sock, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0660);
	run(s, client_whoami);
	j = body_json(&s->r[0]);
	assert_int_equal(json_integer_value(json_object_get(j, "uid")),
	    (json_int_t)getuid());
	json_decref(j);
	j = body_json(&s->r[1]);
	assert_int_equal(json_integer_value(json_object_get(j, "uid")), -1);
	json_decref(j);
	assert_int_equal(lstat(s->sock, &st), -1);
}

static void
keepalive(struct srv *s, bool tcp)
{
	struct resp r;
	uint64_t t0;
	CURL *c;
	int i;

	s->keepalive_ok = 0;
	s->keepalive_connects = 0;
	c = easy(s, tcp, "/v1/fast");
	t0 = now_ns();
	for (i = 0; i < KEEPALIVE_N; i++) {
		perform(c, &r);
		if (r.rc == CURLE_OK && r.status == 200 && r.body != NULL &&
		    strcmp(r.body, "{\"fast\":true}\n") == 0)
			s->keepalive_ok++;
		s->keepalive_connects += r.connects;
		resp_free(&r);
	}
	s->keepalive_rps = KEEPALIVE_N / ((double)(now_ns() - t0) / 1e9);
	curl_easy_cleanup(c);
}

static void
client_keepalive(struct srv *s)
{
	keepalive(s, false);
}

/*
 * Limits and deadlines against slow clients (api/httpd.c, "Limits on
 * connections").  Raw sockets: the test must know when exactly a
 * connection is closed.
 */

/* A TCP connection to s from the loopback address src ("127.0.0.N"). */
static int
tcp_from(struct srv *s, const char *src)
{
	struct sockaddr_in sin;
	int fd;

	if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return -1;
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	inet_pton(AF_INET, src, &sin.sin_addr);
	if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == -1)
		goto fail;
	sin.sin_port = htons((uint16_t)s->port);
	inet_pton(AF_INET, "127.0.0.1", &sin.sin_addr);
	if (connect(fd, (struct sockaddr *)&sin, sizeof(sin)) == -1)
		goto fail;
	return fd;
fail:
	close(fd);
	return -1;
}

/* Has the server closed fd (within ms)?  Data is read and dropped. */
static bool
closed_within(int fd, int ms)
{
	struct pollfd pfd = { fd, POLLIN, 0 };
	uint64_t end = now_ns() + (uint64_t)ms * 1000000u;
	char buf[4096];
	ssize_t n;

	for (;;) {
		int left = (int)(((int64_t)(end - now_ns())) / 1000000);

		if (left < 0)
			left = 0;
		if (poll(&pfd, 1, left) != 1)
			return false;
		n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (n == 0 || (n == -1 && errno != EAGAIN && errno != EINTR))
			return true;
		if (now_ns() >= end)
			return false;
	}
}

/* Send req on fd and read the answer's first bytes into buf. */
static bool
ask(int fd, const char *req, char *buf, size_t size)
{
	struct pollfd pfd = { fd, POLLIN, 0 };
	ssize_t n;

	if (write(fd, req, strlen(req)) != (ssize_t)strlen(req))
		return false;
	if (poll(&pfd, 1, 3000) != 1 || (n = read(fd, buf, size - 1)) <= 0)
		return false;
	buf[n] = '\0';
	return true;
}

#define NLIM 7
static int lim_fd[NLIM];
static bool lim_closed[NLIM];
static char lim_answer[512];

/*
 * peer_limit 4, conn_limit 6 on TCP.  Idle connections a0..a3 from
 * 127.0.0.1; a4 is its fifth: a0 (its oldest unfinished) goes, not a4.
 * b0, b1 from 127.0.0.2 make 6.  A request from 127.0.0.3 is the seventh:
 * the oldest unfinished of anyone (a1) goes, and the request is served.
 */
static void
client_limits(struct srv *s)
{
	static const char *const from[NLIM] = { "127.0.0.1", "127.0.0.1",
		"127.0.0.1", "127.0.0.1", "127.0.0.1", "127.0.0.2",
		"127.0.0.2" };
	int i, good;

	for (i = 0; i < NLIM; i++) {
		lim_fd[i] = tcp_from(s, from[i]);
		sleep_ms(20); /* distinct accept times */
	}
	good = tcp_from(s, "127.0.0.3");
	if (good != -1) {
		ask(good,
		    "GET /v1/fast HTTP/1.1\r\nHost: x\r\n"
		    "Connection: close\r\n\r\n",
		    lim_answer, sizeof(lim_answer));
		close(good);
	}
	for (i = 0; i < NLIM; i++) {
		lim_closed[i] = lim_fd[i] != -1 &&
		    closed_within(lim_fd[i], i < 2 ? 2000 : 200);
		if (lim_fd[i] != -1)
			close(lim_fd[i]);
	}
}

static void
test_limits(void **state)
{
	struct srv *s = *state;
	int i;

	run(s, client_limits);
	for (i = 0; i < NLIM; i++)
		assert_int_not_equal(lim_fd[i], -1);
	assert_true(strncmp(lim_answer, "HTTP/1.1 200", 12) == 0);
	assert_true(lim_closed[0]); /* peer limit: its oldest */
	assert_true(lim_closed[1]); /* listener limit: the oldest */
	for (i = 2; i < NLIM; i++)
		assert_false(lim_closed[i]);
}

/* What the deadline test saw: ms from the start of each to its close. */
static int64_t dl_idle, dl_trickle, dl_body, dl_keepalive;
static char dl_answer[512], dl_after[512];

static int64_t
ms_since(uint64_t t0)
{
	return (int64_t)((now_ns() - t0) / 1000000u);
}

/*
 * header_timeout 300 ms, request_timeout 600 ms: an idle connection, one
 * trickling its headers a byte every 50 ms, one with its headers but half
 * its body, and a keep-alive connection idle after an answer are all
 * closed on time, however they trickle; a new request is served.
 */
static void
client_deadlines(struct srv *s)
{
	static const char slow[] =
	    "GET /v1/fast HTTP/1.1\r\nHost: x\r\n"
	    "X-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
	static const char half[] = "POST /v1/body HTTP/1.1\r\nHost: x\r\n"
				   "Content-Length: 10\r\n\r\n01234";
	int idle, trickle, body, ka;
	uint64_t t0;
	size_t sent = 0;
	struct pollfd pfd[4];
	int64_t *when[4] = { &dl_idle, &dl_trickle, &dl_body, &dl_keepalive };
	int i, open = 4;

	dl_idle = dl_trickle = dl_body = dl_keepalive = -1;
	ka = raw_connect(s);
	if (ka == -1 ||
	    !ask(ka, "GET /v1/fast HTTP/1.1\r\nHost: x\r\n\r\n", dl_answer,
		sizeof(dl_answer)))
		return;
	t0 = now_ns();
	idle = raw_connect(s);
	trickle = raw_connect(s);
	body = raw_connect(s);
	if (idle == -1 || trickle == -1 || body == -1 ||
	    write(body, half, sizeof(half) - 1) != (ssize_t)(sizeof(half) - 1))
		return;
	pfd[0].fd = idle;
	pfd[1].fd = trickle;
	pfd[2].fd = body;
	pfd[3].fd = ka;
	for (i = 0; i < 4; i++)
		pfd[i].events = POLLIN;
	while (open > 0 && ms_since(t0) < 3000) {
		if (sent < sizeof(slow) - 1 && *when[1] == -1 &&
		    write(trickle, slow + sent, 1) == 1)
			sent++;
		if (poll(pfd, 4, 50) <= 0)
			continue;
		for (i = 0; i < 4; i++) {
			char buf[512];
			ssize_t n;

			if (pfd[i].fd == -1 || (pfd[i].revents & POLLIN) == 0)
				continue;
			n = recv(pfd[i].fd, buf, sizeof(buf), MSG_DONTWAIT);
			if (n > 0)
				continue;
			*when[i] = ms_since(t0);
			close(pfd[i].fd);
			pfd[i].fd = -1;
			open--;
		}
	}
	for (i = 0; i < 4; i++)
		if (pfd[i].fd != -1)
			close(pfd[i].fd);
	if ((ka = raw_connect(s)) != -1) {
		ask(ka,
		    "GET /v1/fast HTTP/1.1\r\nHost: x\r\n"
		    "Connection: close\r\n\r\n",
		    dl_after, sizeof(dl_after));
		close(ka);
	}
}

static void
test_deadlines(void **state)
{
	struct srv *s = *state;
	/* The sweep runs every T_HEADERS_MS / 4; the machine is busy. */
	const int64_t slack = T_HEADERS_MS / 4 + 250;

	run(s, client_deadlines);
	printf("deadlines: idle %" PRId64 " ms, trickling %" PRId64 " ms, "
	       "half a body %" PRId64 " ms, idle keep-alive %" PRId64 " ms\n",
	    dl_idle, dl_trickle, dl_body, dl_keepalive);
	assert_true(strncmp(dl_answer, "HTTP/1.1 200", 12) == 0);
	assert_true(
	    dl_idle >= T_HEADERS_MS - 20 && dl_idle <= T_HEADERS_MS + slack);
	assert_true(dl_trickle >= T_HEADERS_MS - 20 &&
	    dl_trickle <= T_HEADERS_MS + slack);
	assert_true(
	    dl_body >= T_REQUEST_MS - 20 && dl_body <= T_REQUEST_MS + slack);
	/* Its clock started at its answer, just before t0. */
	assert_true(dl_keepalive >= 0 && dl_keepalive <= T_HEADERS_MS + slack);
	assert_true(strncmp(dl_after, "HTTP/1.1 200", 12) == 0);
}

/*
 * A streamed body's deadline grows with its bytes: one that keeps coming
 * fast outlives T_REQUEST_MS, a trickle is cut soon after it.
 */
static int64_t ud_fast_ms = -1, ud_slow_ms = -1;
static char ud_fast[256];

static void
client_upload_deadline(struct srv *s)
{
	static char chunk[64 * 1024];
	char head[128];
	uint64_t t0;
	int fd, i;

	/* 4.8 MB at ~3 MB/s: about 1.5 s, past T_REQUEST_MS. */
	if ((fd = raw_connect(s)) == -1)
		return;
	snprintf(head, sizeof(head),
	    "PUT /v1/up/fast HTTP/1.1\r\nHost: x\r\n"
	    "Content-Length: %zu\r\n\r\n",
	    sizeof(chunk) * 75);
	t0 = now_ns();
	if (write(fd, head, strlen(head)) == -1)
		goto out;
	for (i = 0; i < 74; i++) {
		if (write(fd, chunk, sizeof(chunk)) != (ssize_t)sizeof(chunk))
			goto out;
		sleep_ms(20);
	}
	/* The last chunk, its last byte sent by ask(), which reads the answer. */
	if (write(fd, chunk, sizeof(chunk) - 1) == -1)
		goto out;
	ask(fd, "x", ud_fast, sizeof(ud_fast));
	ud_fast_ms = ms_since(t0);
	close(fd);

	/* 1 KB every 50 ms: 20 KB/s, under the 64 KiB/s a body must keep. */
	if ((fd = raw_connect(s)) == -1)
		return;
	snprintf(head, sizeof(head),
	    "PUT /v1/up/slow HTTP/1.1\r\nHost: x\r\n"
	    "Content-Length: %d\r\n\r\n",
	    1 << 20);
	t0 = now_ns();
	if (write(fd, head, strlen(head)) == -1)
		goto out;
	for (i = 0; i < 100; i++) {
		if (closed_within(fd, 50)) {
			ud_slow_ms = ms_since(t0);
			break;
		}
		if (send(fd, chunk, 1024, MSG_NOSIGNAL) != 1024) {
			ud_slow_ms = ms_since(t0);
			break;
		}
	}
out:
	close(fd);
}

static void
test_upload_deadline(void **state)
{
	run(*state, client_upload_deadline);
	printf("upload deadlines: fast body answered at %" PRId64 " ms, "
	       "trickle cut at %" PRId64 " ms\n",
	    ud_fast_ms, ud_slow_ms);
	assert_true(strncmp(ud_fast, "HTTP/1.1 200", 12) == 0);
	assert_true(ud_fast_ms > T_REQUEST_MS);
	/* 600 ms + 1 ms per 64 bytes received: cut at about 1 s. */
	assert_true(ud_slow_ms >= T_REQUEST_MS && ud_slow_ms <= 3000);
}

static char fr_two[1024], fr_gzip[1024], fr_both[1024];
static bool fr_two_closed, fr_gzip_closed, fr_both_closed;
static uint64_t fr_gzip_ns;

/* Framings MHD would misread: answered at once, JSON, and closed. */
static void
client_framing(struct srv *s)
{
	int fd;
	uint64_t t0;

	if ((fd = raw_connect(s)) != -1) {
		ask(fd,
		    "POST /v1/body HTTP/1.1\r\nHost: x\r\n"
		    "Content-Length: 2\r\nContent-Length: 3\r\n\r\n{}",
		    fr_two, sizeof(fr_two));
		fr_two_closed = closed_within(fd, 2000);
		close(fd);
	}
	if ((fd = raw_connect(s)) != -1) {
		t0 = now_ns();
		ask(fd,
		    "POST /v1/body HTTP/1.1\r\nHost: x\r\n"
		    "Transfer-Encoding: gzip\r\n\r\nxx",
		    fr_gzip, sizeof(fr_gzip));
		fr_gzip_ns = now_ns() - t0;
		fr_gzip_closed = closed_within(fd, 2000);
		close(fd);
	}
	if ((fd = raw_connect(s)) != -1) {
		ask(fd,
		    "POST /v1/body HTTP/1.1\r\nHost: x\r\n"
		    "Transfer-Encoding: chunked\r\nContent-Length: 2\r\n\r\n"
		    "2\r\n{}\r\n0\r\n\r\n",
		    fr_both, sizeof(fr_both));
		fr_both_closed = closed_within(fd, 2000);
		close(fd);
	}
}

static void
test_framing(void **state)
{
	struct srv *s = *state;

	run(s, client_framing);
	assert_true(strncmp(fr_two, "HTTP/1.1 400", 12) == 0);
	assert_non_null(strstr(fr_two, "\"error\":\"bad_request\""));
	assert_non_null(strstr(fr_two, "Connection: close"));
	assert_true(fr_two_closed);
	assert_true(strncmp(fr_gzip, "HTTP/1.1 501", 12) == 0);
	assert_non_null(strstr(fr_gzip, "\"error\":\"not_implemented\""));
	assert_true(fr_gzip_ns < 1000000000u);
	assert_true(fr_gzip_closed);
	assert_true(strncmp(fr_both, "HTTP/1.1 400", 12) == 0);
	assert_true(fr_both_closed);
}

static void
test_keepalive(void **state)
{
	struct srv *s = *state;

	run(s, client_keepalive);
	print_message("keep-alive: %d requests on the unix socket, %.0f/s\n",
	    KEEPALIVE_N, s->keepalive_rps);
	assert_int_equal(s->keepalive_ok, KEEPALIVE_N);
	assert_int_equal(s->keepalive_connects, 1);
}

static void
client_keepalive_tcp(struct srv *s)
{
	keepalive(s, true);
}

static void
test_keepalive_tcp(void **state)
{
	struct srv *s = *state;

	run(s, client_keepalive_tcp);
	print_message("keep-alive: %d requests over TCP, %.0f/s\n", KEEPALIVE_N,
	    s->keepalive_rps);
	assert_int_equal(s->keepalive_ok, KEEPALIVE_N);
	assert_int_equal(s->keepalive_connects, 1);
}

/* httpd_stop() from inside a handler still sends that handler's answer. */
static void
client_stop_in_handler(struct srv *s)
{
	fetch(s, false, "POST", "/v1/stop", &s->r[0]);
}

static void
test_stop_in_handler(void **state)
{
	struct srv *s = *state;
	struct stat st;

	run(s, client_stop_in_handler);
	assert_int_equal(s->r[0].status, 200);
	assert_string_equal(s->r[0].body, "{\"stopping\":true}\n");
	assert_int_equal(lstat(s->sock, &st), -1);
}

/*
 * Start-up errors; a stale socket file is replaced, a live one is not.
 */

static void
stop_now(uv_loop_t *loop, struct httpd *h)
{
	httpd_stop(h);
	assert_int_equal(uv_run(loop, UV_RUN_DEFAULT), 0);
}

static void
test_start(void **state)
{
	struct srv *s = *state;
	struct httpd_config cfg;
	struct sockaddr_un sun;
	struct rrerr err;
	struct httpd *h;
	char path[96];
	int fd, fd2;

	srv_config(s, &cfg);
	cfg.unix_path = NULL;
	cfg.tcp_addr = NULL;
	assert_null(httpd_start(&s->loop, &cfg, &err));
	assert_int_equal(err.code, RRERR_INVALID);

	cfg.tcp_addr = "localhost:80";
	assert_null(httpd_start(&s->loop, &cfg, &err));
	assert_int_equal(err.code, RRERR_INVALID);
	cfg.tcp_addr = "127.0.0.1";
	assert_null(httpd_start(&s->loop, &cfg, &err));
	cfg.tcp_addr = "::1:80";
	assert_null(httpd_start(&s->loop, &cfg, &err));
	cfg.tcp_addr = "127.0.0.1:99999";
	assert_null(httpd_start(&s->loop, &cfg, &err));
	/* The port is taken by s->h. */
	cfg.tcp_addr = s->tcp;
	assert_null(httpd_start(&s->loop, &cfg, &err));
	assert_int_equal(err.code, RRERR_INTERNAL);

	/* A live server's socket is not taken over. */
	cfg.tcp_addr = NULL;
	cfg.unix_path = s->sock;
	assert_null(httpd_start(&s->loop, &cfg, &err));
	assert_int_equal(err.code, RRERR_UNAVAILABLE);
	stop_now(&s->loop, s->h);
	s->h = NULL;
	assert_int_equal(access(s->sock, F_OK), -1);

	/* Not a socket. */
	snprintf(path, sizeof(path), "%s/file", s->dir);
	fd = open(path, O_CREAT | O_WRONLY, 0600);
	assert_true(fd >= 0);
	close(fd);
	cfg.unix_path = path;
	assert_null(httpd_start(&s->loop, &cfg, &err));
	assert_int_equal(err.code, RRERR_INVALID);
	unlink(path);

	/* A stale socket file (nobody listens) is replaced. */
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	close(fd);
	h = httpd_start(&s->loop, &cfg, &err);
	assert_non_null(h);
	stop_now(&s->loop, h);
	assert_int_equal(access(path, F_OK), -1);

	/* An inherited socket is used as is and its file left alone. */
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", s->sock);
	fd2 = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_int_equal(bind(fd2, (struct sockaddr *)&sun, sizeof(sun)), 0);
	assert_int_equal(listen(fd2, 8), 0);
	srv_config(s, &cfg);
	cfg.unix_path = NULL;
	cfg.unix_fd = fd2;
	cfg.tcp_addr = "[::1]:0";
	assert_null(httpd_start(&s->loop, &cfg, &err));
	cfg.tcp_addr = NULL;
	s->h = httpd_start(&s->loop, &cfg, &err);
	assert_non_null(s->h);
	run(s, client_whoami);
	assert_int_equal(s->r[0].status, 200);
	assert_true(access(s->sock, F_OK) == 0);
	assert_int_equal(fcntl(fd2, F_GETFD), -1); /* MHD closed it */
}

/* IPv6 loopback, when the host has it. */
static void
client_v6(struct srv *s)
{
	CURL *c;
	char url[64];

	c = curl_easy_init();
	snprintf(url, sizeof(url), "http://[::1]:%d/v1/fast", s->port);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 10000L);
	perform(c, &s->r[0]);
	curl_easy_cleanup(c);
}

static void
test_ipv6(void **state)
{
	struct srv *s = *state;
	struct httpd_config cfg;
	struct rrerr err;
	char addr[64];
	int fd;

	if ((fd = socket(AF_INET6, SOCK_STREAM, 0)) == -1)
		skip();
	close(fd);
	stop_now(&s->loop, s->h);
	s->h = NULL;
	srv_config(s, &cfg);
	cfg.unix_path = NULL;
	snprintf(addr, sizeof(addr), "[::1]:%d", s->port);
	cfg.tcp_addr = addr;
	s->h = httpd_start(&s->loop, &cfg, &err);
	if (s->h == NULL) {
		print_message("no IPv6 loopback here: %s\n", err.message);
		skip();
	}
	run(s, client_v6);
	assert_int_equal(s->r[0].rc, CURLE_OK);
	assert_int_equal(s->r[0].status, 200);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_status_for),
		cmocka_unit_test_setup_teardown(test_routing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_body, setup, teardown),
		cmocka_unit_test_setup_teardown(test_upload, setup, teardown),
		cmocka_unit_test_setup_teardown(test_deferred, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stream, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stream_later, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_stream_disconnect, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_pipeline, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pipeline_after_stream,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_deferred_gone, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_stop, setup, teardown),
		cmocka_unit_test_setup_teardown(test_socket_and_uid, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_limits, setup_limits,
		    teardown),
		cmocka_unit_test_setup_teardown(test_deadlines, setup_deadlines,
		    teardown),
		cmocka_unit_test_setup_teardown(test_upload_deadline,
		    setup_deadlines, teardown),
		cmocka_unit_test_setup_teardown(test_framing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_keepalive, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_keepalive_tcp, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_stop_in_handler, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_start, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ipv6, setup, teardown),
	};
	int rv;

	signal(SIGPIPE, SIG_IGN);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	rv = cmocka_run_group_tests(tests, NULL, NULL);
	curl_global_cleanup();
	return rv;
}
