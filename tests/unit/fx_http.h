/*
 * fx_http: the libcurl client side of the unit tests that talk HTTP to a
 * real server (test_httpd: api/httpd.c alone; test_routes: the server and
 * the routes on an engine).  The client runs on a thread of its own and
 * only records what it saw in a struct resp; the main thread asserts.
 *
 * The names are the ones the programs used when each had its own copy, so
 * that the tests' bodies did not change when the code moved here.
 */
#ifndef FX_HTTP_H
#define FX_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include <curl/curl.h>

/* What a client saw of one request. */
struct resp {
	CURLcode rc;
	long status;
	char *body; /* NUL-terminated; resp_free() frees it */
	size_t len;
	char allow[128]; /* the headers the tests look at */
	char ctype[128];
	char location[256];
	uint64_t t_start, t_end; /* ns, CLOCK_MONOTONIC */
	long connects;
};

/* CLOCK_MONOTONIC in nanoseconds. */
uint64_t now_ns(void);

/* How many file descriptors the process has open. */
int count_fds(void);

/* libcurl's write callback: appends to the struct resp arg's body. */
size_t on_body(char *d, size_t size, size_t n, void *arg);

/*
 * libcurl's header callback: Allow, Content-Type and Location into the
 * struct resp arg (cut to their buffers).
 */
size_t on_header(char *d, size_t size, size_t n, void *arg);

/*
 * Perform the request set up in c into r (cleared first): the answer's
 * status, body, headers, time and connection count.
 */
void perform(CURL *c, struct resp *r);

/* Free r's body. */
void resp_free(struct resp *r);

#endif
