/*
 * Route-level tests: the real HTTP server (api/httpd.c) with the real
 * routes (api/routes.c) on a real engine (daemon/engine.c) over the fake
 * backend (backends/fake.c), on a temp unix socket: no root, no libvirtd.
 *
 * The loop (httpd and the engine) runs on the main thread, a libcurl
 * client on a second thread.  The client only records what it saw; the
 * main thread asserts once the loop has returned (cmocka is not
 * thread-safe).  The client makes a guest "print" with fake_console(),
 * which is thread-safe.  When the client is done it kicks the loop, which
 * stops httpd and quiesces the engine; uv_run() must then return by
 * itself.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>
#include <uv.h>

#include "engine.h"
#include "fake.h"
#include "fixture.h"
#include "fx_engine.h"
#include "fx_http.h"
#include "httpd.h"
#include "routes.h"
#include "spec.h"

#define NRESP 16

struct srv {
	uv_loop_t loop;
	struct engine *engine;
	struct httpd *h;
	struct spec_policy policy;
	const char *image_dirs[2];
	char image[PATH_MAX];
	char image_dir[PATH_MAX];
	char sock[PATH_MAX];
	struct routes_ctx rc;
	uv_async_t done;
	pthread_t thread;
	void (*client)(struct srv *);

	/* Client side results. */
	struct resp r[NRESP];
	bool running_seen; /* the guest's "main()" line made it running */
};

/*
 * Client side (client thread).
 */

/* One request on a fresh handle; body NULL: none. */
static void
fetch(struct srv *s, const char *method, const char *path, const char *body,
    struct resp *r)
{
	struct curl_slist *hl = NULL;
	char url[512];
	CURL *c;

	if ((c = curl_easy_init()) == NULL) {
		memset(r, 0, sizeof(*r));
		r->rc = CURLE_FAILED_INIT;
		return;
	}
	snprintf(url, sizeof(url), "http://localhost%s", path);
	curl_easy_setopt(c, CURLOPT_UNIX_SOCKET_PATH, s->sock);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 10000L);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	if (body != NULL) {
		hl = curl_slist_append(NULL, "Content-Type: application/json");
		curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	}
	perform(c, r);
	curl_easy_cleanup(c);
	curl_slist_free_all(hl);
}

/* A string field of a JSON body, into buf ("" when absent). */
static void
body_str(const struct resp *r, const char *key, char *buf, size_t size)
{
	json_t *j;

	buf[0] = '\0';
	if (r->body == NULL ||
	    (j = json_loadb(r->body, r->len, 0, NULL)) == NULL)
		return;
	if (json_string_value(json_object_get(j, key)) != NULL)
		snprintf(buf, size, "%s",
		    json_string_value(json_object_get(j, key)));
	json_decref(j);
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
 * Fixture (main thread).
 */

static void
on_done(uv_async_t *a)
{
	struct srv *s = a->data;

	httpd_stop(s->h);
	s->h = NULL;
	engine_quiesce(s->engine);
	uv_close((uv_handle_t *)a, NULL);
}

static struct srv *
srv_start(void)
{
	struct engine_config ec;
	struct httpd_config hc;
	struct rrerr err;
	struct srv *s;

	assert_non_null(s = calloc(1, sizeof(*s)));
	assert_int_equal(fx_build(fx_engine_tree), 0);
	snprintf(s->image, sizeof(s->image), "%s", fx_path("images/app"));
	snprintf(s->sock, sizeof(s->sock), "%s", fx_path("api.sock"));
	snprintf(s->image_dir, sizeof(s->image_dir), "%s", fx_path("images"));
	s->image_dirs[0] = s->image_dir;
	s->policy.image_dirs = s->image_dirs;
	fake_reset();
	assert_int_equal(uv_loop_init(&s->loop), 0);

	fx_engine_config(&ec, &s->loop, &s->policy);
	if ((s->engine = engine_open(&ec, &err)) == NULL)
		fail_msg("engine_open: %s", err.message);
	s->rc.engine = s->engine;
	s->rc.policy = &s->policy;
	s->rc.store = NULL;

	memset(&hc, 0, sizeof(hc));
	hc.unix_path = s->sock;
	hc.unix_mode = 0600;
	hc.unix_gid = (gid_t)-1;
	hc.unix_fd = -1;
	hc.tcp_fd = -1;
	hc.body_max = SPEC_BODY_MAX;
	hc.routes = routes_table;
	hc.nroutes = routes_count;
	hc.ctx = &s->rc;
	hc.uploads = routes_uploads;
	hc.nuploads = routes_uploads_count;
	if ((s->h = httpd_start(&s->loop, &hc, &err)) == NULL)
		fail_msg("httpd_start: %s", err.message);
	return s;
}

/* Run the loop until the client is done and everything is closed. */
static void
srv_run(struct srv *s, void (*client)(struct srv *))
{
	s->client = client;
	assert_int_equal(uv_async_init(&s->loop, &s->done, on_done), 0);
	s->done.data = s;
	assert_int_equal(pthread_create(&s->thread, NULL, client_main, s), 0);
	uv_run(&s->loop, UV_RUN_DEFAULT);
	assert_int_equal(pthread_join(s->thread, NULL), 0);
	assert_null(s->h);
}

static void
srv_free(struct srv *s)
{
	size_t i;

	engine_close(s->engine);
	assert_int_equal(uv_loop_close(&s->loop), 0);
	for (i = 0; i < NRESP; i++)
		free(s->r[i].body);
	free(s);
	assert_int_equal(fx_remove(), 0);
}

static json_t *
body_json(const struct resp *r)
{
	json_error_t je;
	json_t *j;

	assert_int_equal(r->rc, CURLE_OK);
	assert_non_null(r->body);
	j = json_loadb(r->body, r->len, 0, &je);
	if (j == NULL)
		fail_msg("not JSON (%s): %s", je.text, r->body);
	return j;
}

static void
assert_json_str(const json_t *o, const char *key, const char *want)
{
	const char *got = json_string_value(json_object_get(o, key));

	if (got == NULL)
		fail_msg("no string \"%s\" in the body", key);
	assert_string_equal(got, want);
}

/* An error body: {"error": code, "message": ..., "field": field}. */
static void
assert_error(const struct resp *r, long status, const char *code,
    const char *field)
{
	json_t *j;

	assert_int_equal(r->status, status);
	j = body_json(r);
	assert_json_str(j, "error", code);
	assert_non_null(json_string_value(json_object_get(j, "message")));
	if (field != NULL)
		assert_json_str(j, "field", field);
	json_decref(j);
}

/*
 * The lifecycle of one unikernel through HTTP.
 */

static void
client_lifecycle(struct srv *s)
{
	char body[PATH_MAX + 128], domain[256], state[64];
	struct resp probe;
	int i;

	fetch(s, "GET", "/v1/info", NULL, &s->r[0]);
	snprintf(body, sizeof(body), "{\"name\":\"a\",\"image\":\"%s\"}",
	    s->image);
	fetch(s, "POST", "/v1/unikernels", body, &s->r[1]);
	snprintf(body, sizeof(body),
	    "{\"name\":\"b\",\"image\":\"%s\","
	    "\"memory_mib\":\"lots\"}",
	    s->image);
	fetch(s, "POST", "/v1/unikernels", body, &s->r[2]);
	fetch(s, "POST", "/v1/unikernels", "{\"name\":", &s->r[3]);
	fetch(s, "GET", "/v1/unikernels/a", NULL, &s->r[4]);

	/* The guest prints rumprun's line before main(): running. */
	body_str(&s->r[4], "domain", domain, sizeof(domain));
	if (domain[0] != '\0' &&
	    fake_console(domain, "boot\n=== calling \"app\" main() ===\n\n") ==
		0) {
		for (i = 0; i < 500 && !s->running_seen; i++) {
			fetch(s, "GET", "/v1/unikernels/a", NULL, &probe);
			body_str(&probe, "state", state, sizeof(state));
			free(probe.body);
			if (strcmp(state, "running") == 0)
				s->running_seen = true;
			else
				usleep(5000);
		}
	}
	fetch(s, "GET", "/v1/unikernels", NULL, &s->r[5]);
	fetch(s, "GET", "/v1/unikernels/nosuch", NULL, &s->r[6]);
	fetch(s, "POST", "/v1/unikernels/a/stop", "", &s->r[7]);
	fetch(s, "GET", "/v1/unikernels/a", NULL, &s->r[8]);
	fetch(s, "DELETE", "/v1/unikernels/a", NULL, &s->r[9]);
	fetch(s, "GET", "/v1/unikernels/a", NULL, &s->r[10]);
	fetch(s, "GET", "/v1/unikernels", NULL, &s->r[11]);
	fetch(s, "GET", "/v1/nothing/here", NULL, &s->r[12]);
	fetch(s, "DELETE", "/v1/info", NULL, &s->r[13]);
}

/*
 * The fds open after the first run: the first opens some for good (libuv's
 * signal pipe, ...); every later run must leave the same number behind.
 */
static int fds_after_first = -1;

static void
test_lifecycle(void **state)
{
	struct srv *s;
	json_t *j, *list;
	size_t i;

	(void)state;
	s = srv_start();
	srv_run(s, client_lifecycle);
	for (i = 0; i < 14; i++)
		if (s->r[i].rc != CURLE_OK)
			fail_msg("request %zu: %s", i,
			    curl_easy_strerror(s->r[i].rc));

	/* GET /v1/info */
	assert_int_equal(s->r[0].status, 200);
	j = body_json(&s->r[0]);
	assert_json_str(j, "api_version", "v1");
	assert_true(json_is_object(json_object_get(j, "policy")));
	json_decref(j);

	/* POST /v1/unikernels: created, starting, and where. */
	assert_int_equal(s->r[1].status, 201);
	j = body_json(&s->r[1]);
	assert_json_str(j, "name", "a");
	assert_json_str(j, "state", "starting");
	json_decref(j);
	assert_string_equal(s->r[1].location, "/v1/unikernels/a");

	/* Bad requests name the field; nothing was launched for them. */
	assert_error(&s->r[2], 422, "invalid", "memory_mib");
	assert_error(&s->r[3], 400, "bad_request", NULL);
	assert_int_equal(fake_calls(FAKE_OP_LAUNCH), 1);

	/* GET one. */
	assert_int_equal(s->r[4].status, 200);
	j = body_json(&s->r[4]);
	assert_json_str(j, "name", "a");
	assert_non_null(json_string_value(json_object_get(j, "domain")));
	json_decref(j);
	assert_true(s->running_seen);

	/* The list holds a, running. */
	assert_int_equal(s->r[5].status, 200);
	j = body_json(&s->r[5]);
	list = json_is_array(j) ? j : json_object_get(j, "unikernels");
	assert_true(json_is_array(list));
	assert_int_equal(json_array_size(list), 1);
	assert_json_str(json_array_get(list, 0), "name", "a");
	assert_json_str(json_array_get(list, 0), "state", "running");
	json_decref(j);

	/* An unknown name. */
	assert_error(&s->r[6], 404, "not_found", NULL);

	/*
	 * Stop: answered once it is stopped.  Like rumprun, the fake guest
	 * ignores the shutdown: the engine destroys it after stop_timeout_s.
	 */
	assert_int_equal(s->r[7].status, 200);
	j = body_json(&s->r[7]);
	assert_json_str(j, "name", "a");
	json_decref(j);
	assert_int_equal(s->r[8].status, 200);
	j = body_json(&s->r[8]);
	assert_json_str(j, "state", "stopped");
	json_decref(j);
	assert_int_equal(fake_calls(FAKE_OP_SHUTDOWN), 1);
	assert_int_equal(fake_calls(FAKE_OP_DESTROY), 1);

	/* Delete, then it is gone, from the list too. */
	assert_int_equal(s->r[9].status, 200);
	j = body_json(&s->r[9]);
	assert_json_str(j, "name", "a");
	assert_json_str(j, "state", "stopped");
	json_decref(j);
	assert_error(&s->r[10], 404, "not_found", NULL);
	assert_int_equal(s->r[11].status, 200);
	j = body_json(&s->r[11]);
	list = json_is_array(j) ? j : json_object_get(j, "unikernels");
	assert_true(json_is_array(list));
	assert_int_equal(json_array_size(list), 0);
	json_decref(j);
	assert_int_equal(fake_ndomains(), 0);

	/* An unknown route; a known path with another method. */
	assert_error(&s->r[12], 404, "not_found", NULL);
	assert_int_equal(s->r[13].status, 405);

	srv_free(s);
	if (fds_after_first == -1)
		fds_after_first = count_fds();
	else
		assert_int_equal(count_fds(), fds_after_first);
}

/* Again on a fresh engine and server: the same answers, no fd more. */
static void
test_lifecycle_again(void **state)
{
	test_lifecycle(state);
}

/* After a failed test, the scratch tree goes too (a no-op otherwise). */
static int
teardown(void **state)
{
	(void)state;
	return fx_remove();
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_lifecycle, teardown),
		cmocka_unit_test_teardown(test_lifecycle_again, teardown),
	};
	int rv;

	curl_global_init(CURL_GLOBAL_DEFAULT);
	rv = cmocka_run_group_tests(tests, NULL, NULL);
	curl_global_cleanup();
	return rv;
}
