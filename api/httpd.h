/*
 * httpd: libmicrohttpd driven by the daemon's libuv loop.
 *
 * One MHD daemon per listen socket (a unix socket, optionally a TCP
 * address), all in external-poll mode: the loop polls MHD's epoll fd with a
 * uv_poll and runs MHD_run(); a uv_timer or uv_idle follows MHD_get_timeout().
 * Every callback here runs on the loop thread.
 *
 * A route handler gets the whole request (the body is collected first, up
 * to body_max bytes, else 413) and answers it exactly once, now or later:
 * a handler that returns without answering leaves the request suspended
 * until httpd_reply_*() is called from the loop thread (after a worker
 * finished, say), so slow requests never block others.
 *
 * TCP: the listener may speak TLS, and require a client certificate that
 * chains to a given CA (a client without one fails the handshake); with
 * tcp_auth, every TCP request's Authorization header is judged before it
 * is routed or its body read, and a refused one is answered 401
 * {"error": "unauthorized"} with a WWW-Authenticate: Bearer header, and its
 * connection closed.
 *
 * Slow clients: a request must be in within a deadline that a trickle of
 * bytes does not extend, and a peer (uid or address) holds a bounded
 * number of connections; see the httpd_config limits.  The unix socket asks nothing:
 * its file mode decides.
 *
 * Streams (log follow, events): httpd_reply_stream() gives MHD a reader that
 * returns bytes, 0 for "nothing now" (the connection is then suspended until
 * httpd_stream_wake()), or -1 for the end.  A client that leaves a suspended
 * stream is noticed (its fd is watched) and the stream's closed() is called.
 */
#ifndef HTTPD_H
#define HTTPD_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/types.h>

#include <jansson.h>
#include <uv.h>

#include "rrerr.h"

struct httpd;
struct httpd_req;
struct httpd_stream;

typedef void httpd_handler_fn(struct httpd_req *req, void *ctx);

struct httpd_route {
	const char *method; /* "GET", "POST", "DELETE" */
	const char
	    *pattern; /* "/v1/unikernels/{name}/logs": {x} is one segment */
	httpd_handler_fn *handler;
};

/*
 * A route whose body is streamed to the handler's sink as it arrives,
 * never collected (PUT /v1/images/{name}): once the headers are in,
 * begin() gets the request (params, headers and query are there; the body
 * is not) and the announced Content-Length (-1: chunked) and returns a
 * sink, or NULL with err to refuse at once (the body is then dropped or
 * the connection closed).  data() gets each piece; -1 with err refuses the
 * rest (abort() is called, the rest of the body dropped, err answered).
 * Once the body is all in, the route of routes[] with the same method and
 * pattern runs and takes the sink with httpd_req_take_upload(); a sink
 * nobody took (the client left, the daemon stops) goes to abort().  No
 * body_max applies: begin() and data() enforce their own limits.  The
 * request deadline grows with the bytes received (at least 64 KiB/s).
 */
struct httpd_upload_route {
	const char *method;
	const char *pattern;
	void *(*begin)(struct httpd_req *req, void *ctx, long long length,
	    struct rrerr *err);
	int (*data)(void *sink, const char *buf, size_t len, struct rrerr *err);
	void (*abort)(void *sink);
};

/*
 * Whether a TCP request may go on, from its Authorization header (NULL when
 * absent): >= 0 yes (a number for the log, 0: nothing to say), -1 no (401).
 * Runs on the loop thread before any route handler.
 */
typedef int httpd_auth_fn(const char *authorization, void *arg);

struct httpd_config {
	const char *unix_path; /* NULL: no unix socket */
	mode_t unix_mode;      /* e.g. 0660 */
	gid_t unix_gid;	       /* (gid_t)-1: leave the group alone */
	const char *tcp_addr;  /* "127.0.0.1:8080", "[::1]:8080" or NULL */
	int unix_fd;	       /* an inherited, listening unix socket, or -1 */
	int tcp_fd;	       /* an inherited, listening TCP socket, or -1 */
	/*
	 * TLS on the TCP listener: PEM texts (copied), NULL for plain HTTP.
	 * With tls_client_ca, a client must present a certificate that chains
	 * to one of its CAs (and is fit for TLS client use), or the handshake
	 * fails.
	 */
	const char *tls_cert;
	const char *tls_key;
	const char *tls_client_ca;
	httpd_auth_fn *tcp_auth; /* NULL: every TCP request may go on */
	void *tcp_auth_arg;
	size_t body_max; /* larger bodies get 413 */
	/*
	 * Limits against clients that hold connections open (0: the default
	 * in brackets; see httpd.c): connections per listener [1024] and per
	 * peer, a uid on the unix socket or an address on TCP [512], past
	 * which the oldest connection whose request is not all in is closed;
	 * the time from accept (or from the previous answer on a keep-alive
	 * connection) to a request's last header [10000 ms] and to its last
	 * byte [30000 ms], past which its connection is closed.
	 */
	unsigned int conn_limit;
	unsigned int peer_limit;
	unsigned int header_timeout_ms;
	unsigned int request_timeout_ms;
	const struct httpd_route *routes;
	size_t nroutes;
	void *ctx;				  /* passed to every handler */
	const struct httpd_upload_route *uploads; /* streamed bodies */
	size_t nuploads;
};

/*
 * Parse "host:port" or "[v6]:port" (numeric host) into ss.  Returns 0, or
 * -1 with err.
 */
int httpd_parse_addr(const char *addr, struct sockaddr_storage *ss,
    struct rrerr *err);

/*
 * Bind the sockets (unix: bind, chmod, chown, listen; a stale socket file
 * is replaced) and start serving on loop.  Returns NULL with err on
 * failure.
 */
struct httpd *httpd_start(uv_loop_t *loop, const struct httpd_config *cfg,
    struct rrerr *err);

/*
 * Stop accepting, end every stream and suspended request, unlink the unix
 * socket and free h once MHD is stopped.  Requests still waiting for a
 * reply get 503.  NULL is fine.
 */
void httpd_stop(struct httpd *h);

/* Request accessors; the strings live as long as the request. */
const char *httpd_req_method(const struct httpd_req *req);
const char *httpd_req_path(const struct httpd_req *req);
const char *httpd_req_param(const struct httpd_req *req, const char *name);
const char *httpd_req_query(const struct httpd_req *req, const char *name);
/*
 * The query parameters one by one, in the order given, repeats included:
 * start with *iter 0; returns the next name (its value, NULL when it had
 * no '=', to *value unless NULL), or NULL after the last.
 */
const char *httpd_req_query_next(const struct httpd_req *req, size_t *iter,
    const char **value);
const char *httpd_req_header(const struct httpd_req *req, const char *name);
const char *httpd_req_body(const struct httpd_req *req, size_t *len);
/*
 * The sink of a streamed body (struct httpd_upload_route), now the
 * caller's; NULL when there is none or it was taken.
 */
void *httpd_req_take_upload(struct httpd_req *req);
/* The peer's uid on a unix socket; -1 on TCP. */
int httpd_req_peer_uid(const struct httpd_req *req, uid_t *uid);
/*
 * Who sent req over TCP, for the log, into buf: the address, the subject
 * of the client certificate and the number tcp_auth gave, when there are.
 */
void httpd_req_peer_name(const struct httpd_req *req, char *buf, size_t size);
/*
 * The loop req is served on (borrowed), for what a route does on it while
 * it answers: a stream's timers and file reads.
 */
uv_loop_t *httpd_req_loop(const struct httpd_req *req);

/*
 * Whether req's client still waits for the answer: false once it left
 * (its connection closed), once httpd_stop() answered for the handler, or
 * once req was answered.  For a handler that answers much later (a long
 * wait), so that it can drop the work of a client that left.
 */
bool httpd_req_waiting(const struct httpd_req *req);

/*
 * Answer req; after this req must not be used.  body is stolen (NULL: no
 * body).  Content-Type is application/json.
 */
void httpd_reply_json(struct httpd_req *req, unsigned int status, json_t *body);

/*
 * Answer req with the len bytes of body (stolen; NULL: none) as
 * content_type (copied), for the answers that are not JSON (GET /metrics).
 */
void httpd_reply_text(struct httpd_req *req, unsigned int status,
    const char *content_type, char *body, size_t len);

/*
 * Answer with {"error": rrerr_name(code), "message": ..., "field": ...}
 * and the status for err->code: 400 bad_request, 422 invalid, 403
 * forbidden, 404 not_found, 409 conflict, 413 too_large, 415
 * unsupported_media_type, 503 unavailable, 500 internal.
 */
void httpd_reply_error(struct httpd_req *req, const struct rrerr *err);
unsigned int httpd_status_for(enum rrerr_code code);

struct httpd_stream_ops {
	/*
	 * Copy up to max bytes into buf.  Returns how many (> 0), 0 when there
	 * is nothing now (the stream sleeps until httpd_stream_wake()), or -1
	 * when the stream has ended.
	 */
	ssize_t (*read)(void *arg, char *buf, size_t max);
	/* The stream is over (ended, client gone, or httpd stopped): free arg. */
	void (*closed)(void *arg);
};

/*
 * One more header (name without ':') for the answer req will get (JSON or
 * stream; not an error's); copied, the last one given wins.  Returns 0,
 * or -1 when out of memory (the answer goes without it).
 */
int httpd_reply_header(struct httpd_req *req, const char *name,
    const char *value);

/*
 * Answer req with a chunked stream.  When httpd stops (rumprund ends or
 * restarts), a stream's connection is closed without the last chunk: the
 * client sees a broken transfer, never a normal end.  Returns the stream's handle for
 * httpd_stream_wake(); it is valid until ops->closed has been called.
 */
struct httpd_stream *httpd_reply_stream(struct httpd_req *req,
    unsigned int status, const char *content_type,
    const struct httpd_stream_ops *ops, void *arg);

/* New data (or the end) is there: let a sleeping stream read again. */
void httpd_stream_wake(struct httpd_stream *s);

#endif
