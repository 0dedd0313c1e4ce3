/*
 * http: rrctl's requests to rumprund, on libcurl.
 *
 * The host is unix:///PATH (HTTP over a unix socket, through
 * CURLOPT_UNIX_SOCKET_PATH), a bare absolute PATH, or http(s)://HOST:PORT.
 * A token file adds "Authorization: Bearer TOKEN" to every request.
 *
 * All requests go through one curl multi handle, so several run at once
 * (stop a b c waits for the three stops together) and a streaming GET is
 * driven by curl_multi_poll(): bytes are handed to the caller as they
 * arrive, with no polling loop.  After http_catch_interrupt(), SIGINT wakes
 * that poll through a self-pipe and http_run() returns HTTP_INTERRUPTED.
 */
#ifndef HTTP_H
#define HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include <jansson.h>

#include "sbuf.h"

struct http;

/*
 * One request.  The caller fills method, path (starting with "/v1/"; the
 * caller owns it) and optionally body (JSON text) and on_data; http fills
 * the rest.  Without on_data the answer's body is collected in resp; with
 * it, the bytes of a 2xx answer go to on_data as they arrive (it returns 0,
 * or -1 with errno set when it cannot write them, which ends the
 * transfer) and an error answer's body is collected.
 */
struct http_req {
	const char *method;
	const char *path;
	const char *body;
	int (*on_data)(void *arg, const char *buf, size_t len);
	void *arg;
	/*
	 * A PUT whose body is upload_size bytes read from upload as they are
	 * sent (application/octet-stream), or NULL; the caller owns it.
	 */
	FILE *upload;
	long long upload_size;

	long status;	     /* the HTTP status, 0 until headers came */
	bool done;	     /* the transfer ended (see rc) */
	int rc;		     /* its CURLcode */
	long os_errno;	     /* errno of a failed connect */
	int write_errno;     /* errno of a failed on_data */
	long long resume_at; /* X-Log-Offset / X-Event-Seq, or -1 */
	struct sbuf resp;    /* the body (see above) */
	void *easy;	     /* the curl handle while started */
	void *hdrs;	     /* its header list */
};

#define HTTP_INTERRUPTED 130

/*
 * A connection to host (see above) with the token in token_file (NULL for
 * none).  Returns a new struct http (free with http_free()), or NULL with a
 * sentence in err: host is not a URL rrctl knows, the token file cannot be
 * read, or out of memory.
 */
struct http *http_new(const char *host, const char *token_file, char *err,
    size_t errlen);
void http_free(struct http *h);

/*
 * TLS settings for an https:// host, each a PEM file or NULL: the CA that
 * signed rumprund's certificate (else the system's CAs), and a client
 * certificate and key for a daemon that asks for one.  The files are read
 * by libcurl when a request is made.
 */
int http_set_tls(struct http *h, const char *cacert, const char *cert,
    const char *key, char *err, size_t errlen);

/* The host as shown in messages: "unix:///run/rumprund/rumprund.sock". */
const char *http_host(const struct http *h);

/* SIGINT from now on makes http_run() return HTTP_INTERRUPTED. */
int http_catch_interrupt(struct http *h);

/*
 * Whether r is a stream that broke: it had answered 2xx and its transfer
 * ended without the end of the answer (rumprund restarted or went away).
 * Or whether rumprund could not be reached at all (status 0) or answered
 * 503 (it is shutting down), which is what the next attempt sees while it
 * restarts.
 */
bool http_broken(const struct http_req *r);

/* True once SIGINT came (after http_catch_interrupt()). */
bool http_interrupted(void);

/* Start r (it must stay where it is until http_end()); 0 or -1. */
int http_start(struct http *h, struct http_req *r);

/*
 * Drive the started requests until until(arg) is true (NULL: never) or
 * none is running.  Returns 0, or HTTP_INTERRUPTED.
 */
int http_run(struct http *h, bool (*until)(void *), void *arg);

/* An until() for http_run(): true once the request arg has ended. */
bool http_req_done(void *arg);

/* Stop r if it still runs and release its curl handle; the results stay. */
void http_end(struct http *h, struct http_req *r);

/* Free the collected body of r; r can then be started again. */
void http_req_reset(struct http_req *r);

/*
 * Why a request failed, for the command layer to print ("rrctl: MSG") and
 * to turn into an exit status; http prints nothing itself.  An empty msg
 * means there is nothing to say (a quiet 409, an interruption).
 */
enum http_errkind {
	HTTP_ERR_DENIED,      /* an error answer, or rrctl's own failure */
	HTTP_ERR_UNREACHABLE, /* no answer, or the connection broke */
	HTTP_ERR_INTERRUPTED  /* SIGINT came during http_call() */
};

struct http_err {
	enum http_errkind kind;
	char msg[4096]; /* the daemon's messages stay under 512 */
};

/*
 * The outcome of an ended request: 0, or -1 with err filled.
 * HTTP_ERR_UNREACHABLE: "cannot reach rumprund at HOST: REASON", or "lost
 * the connection..." when it broke after the answer began; HTTP_ERR_DENIED
 * with the daemon's message.  On 0 and when out is not NULL, *out is the
 * answer's JSON body (new reference; JSON null for a streamed or empty
 * body).
 */
int http_outcome(struct http *h, struct http_req *r, json_t **out,
    struct http_err *err);

/*
 * The HTTP status of the last error answer http_outcome() saw (0 when
 * none), and in *field its "field" ("" when it named none; borrowed, valid
 * until the next error answer).
 */
long http_error(const struct http *h, const char **field);

/*
 * While quiet is true, http_outcome() says nothing (empty msg) for a 409 on
 * the field "name" (a caller that picks names tries the next one).
 */
void http_quiet_conflict(struct http *h, bool quiet);

/*
 * One request from start to end: method, path, an optional JSON body
 * (borrowed).  Returns as http_outcome() (and HTTP_ERR_INTERRUPTED on
 * SIGINT); the HTTP status goes to *status when status is not NULL (0 when
 * there was no answer).
 */
int http_call(struct http *h, const char *method, const char *path,
    json_t *body, json_t **out, long *status, struct http_err *err);

/*
 * Split the bytes of a stream into lines: each whole line (without its
 * newline) goes to fn; the start of an unfinished one waits in partial
 * (sbuf_reset() it when done) for the next call.
 */
void http_lines(struct sbuf *partial, const char *buf, size_t len,
    void (*fn)(void *, const char *, size_t), void *arg);

/*
 * "/v1/unikernels/NAME" + suffix with NAME percent-encoded: a new string
 * (free() it), or NULL when out of memory.
 */
char *http_path(const char *name, const char *suffix);

/* s percent-encoded for a query string: new string (free()), or NULL. */
char *http_escape(const char *s);

#endif
