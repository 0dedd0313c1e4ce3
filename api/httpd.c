/*
 * httpd: libmicrohttpd driven by the daemon's libuv loop (see httpd.h).
 *
 * One MHD daemon per listen socket in external-poll mode, run from a
 * uv_poll on its epoll fd and a uv_timer or uv_idle that follows
 * MHD_get_timeout(); every MHD_resume_connection() is followed by a kick
 * (uv_async).  Route matching is router.c's; parameters are decoded here.
 * A struct httpd_req is reference counted (MHD, the handler until it
 * answers, a stream's response, the "closed later" timer), so an answer
 * after httpd_stop() or after the client left is dropped, never a use
 * after free.  Every function here runs on the loop thread.
 *
 * ARCHITECTURE.md, "The HTTP server", says how and why, with what
 * libmicrohttpd 0.9.75 answers by itself.
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/un.h>

#include <netinet/in.h>

#include <assert.h>
#include <errno.h>
#include <limits.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <jansson.h>
#include <microhttpd.h>
#include <uv.h>

#include "httpd.h"
#include "log.h"
#include "router.h"
#include "rrerr.h"

#define CONN_TIMEOUT_S 60 /* idle or stuck connections */
/* Defaults of the httpd_config limits (see "Limits on connections"). */
#define CONN_LIMIT	   1024	       /* per listen socket */
#define PEER_LIMIT	   512	       /* per uid (unix) or address (TCP) */
#define HEADER_TIMEOUT_MS  (10 * 1000) /* accept (or last answer) to headers */
#define REQUEST_TIMEOUT_MS (30 * 1000) /* the same to the end of the body */
#define CONN_SLACK	   64	       /* MHD's limit: ours + closing ones */
#define SWEEP_MS	   1000	       /* how often the deadlines are checked */
#define LOG_WINDOW_MS	   (10 * 1000) /* rate-limited log lines: per window */
#define LOG_BURST	   5	       /* lines of one kind per window */
#define CONN_MEMORY	   (32 * 1024) /* MHD's pool: headers and buffers */
#define STREAM_BLOCK	   4096	       /* a stream's chunk buffer */
#define DRAIN_MAX	   (1024 * 1024) /* read and dropped past body_max */
#define AUTH_DRAIN_MAX	   (256 * 1024)	 /* read and dropped of a 401's body */
#define UPLOAD_DRAIN_MAX   (1024ULL << 20) /* of a refused streamed body */
#define STOP_FLUSH_MS	   1000		   /* httpd_stop() waits for answers */
#define LISTEN_BACKLOG	   1024
#define MAX_LISTENERS	   2
#define WAKE_RETRIES	   4
#define TLS_PRIORITIES	   "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2"
#define PEER_MAX	   (NI_MAXHOST + 8)
#define DN_MAX		   256
#define UPLOAD_RATE_MIN	   64 /* bytes per ms a streamed body keeps */

enum req_state {
	RQ_HEADERS, /* waiting for the first access handler call */
	RQ_BODY,    /* collecting the body */
	RQ_DRAIN,   /* the body is too large: dropping it, then 413 */
	RQ_UPLOAD,  /* streaming the body to an upload route's sink */
	RQ_HANDLER, /* the route handler is running */
	RQ_WAIT,    /* suspended until the answer comes */
	RQ_QUEUED,  /* MHD has the response */
};

struct listener {
	struct httpd *h;
	struct MHD_Daemon *mhd;
	uv_poll_t poll;
	bool poll_init;
	bool tls;	     /* MHD_USE_TLS */
	bool verify;	     /* a client certificate is required */
	httpd_auth_fn *auth; /* NULL: no Authorization check */
	void *auth_arg;
	struct conn *conns; /* every connection, newest first */
	unsigned int nlive; /* of them, not being closed */
};

/* One per MHD connection (its socket context). */
struct conn {
	struct listener *l;
	struct MHD_Connection *mc;
	struct conn *cprev, *cnext; /* in l->conns */
	struct httpd_req *cur;	    /* the request MHD is serving */
	struct httpd_req *susp;	    /* cur, while it is suspended */
	uint64_t since;		    /* accepted, or its last request done */
	uv_poll_t watch;	    /* the fd, while suspended */
	int fd;
	uid_t uid;
	unsigned int nreq; /* requests it has completed */
	bool has_uid;	   /* a unix peer: uid is valid */
	bool reading;	   /* a request is not all in yet */
	bool hdrs_in;	   /* ... but its headers are */
	bool doomed;	   /* shut down: MHD is closing it */
	bool cert_checked; /* cert_ok and cert_dn are known */
	bool cert_ok;
	bool gone; /* the client left while suspended */
	bool watch_init;
	char cert_dn[DN_MAX];  /* the client certificate's subject */
	char host[NI_MAXHOST]; /* a TCP peer's address: its limit */
	char peer[PEER_MAX];   /* a TCP peer's address:port */
};

struct kv {
	const char *name;
	const char *value;
	enum MHD_ValueKind kind;
};

struct httpd_stream {
	struct httpd_req *req; /* the request it is embedded in */
	struct httpd_stream_ops ops;
	void *arg;
	bool live;   /* it is the request's answer */
	bool stop;   /* httpd is stopping: end it */
	bool woken;  /* woken while ops.read ran */
	bool closed; /* ops.closed has been called */
};

struct httpd_req {
	struct httpd_req *prev, *next; /* in h->reqs while MHD has it */
	struct httpd *h;	       /* NULL once MHD let go */
	struct conn *conn;	       /* NULL once MHD let go */
	uv_loop_t *loop;
	unsigned int refs;
	enum req_state state;
	bool suspended;
	bool owned; /* the route handler must answer */

	char *method;
	char *path;	   /* as sent, without the query */
	struct kv *params; /* decoded {param} segments */
	size_t nparams;
	struct kv *vals; /* headers and query arguments */
	size_t nvals;
	bool has_uid;
	uid_t uid;
	int auth_id;	      /* what tcp_auth said; -1: not asked */
	const char *www_auth; /* a 401's WWW-Authenticate */
	bool close;	      /* answer with "Connection: close" */

	char *body;
	size_t len;
	size_t cap;
	uint64_t drained;
	uint64_t drain_limit; /* 0: body_max + DRAIN_MAX */
	const struct httpd_upload_route *upload;
	void *sink;	   /* the upload's, until taken */
	uint64_t uploaded; /* bytes of a streamed body */
	bool prepared;	   /* params and values taken early */

	/* The answer, once there is one. */
	bool has_reply;
	bool is_stream;
	unsigned int status;
	char *rbuf; /* owned until handed to MHD */
	size_t rlen;
	char *allow; /* 405: the Allow header */
	char *ctype; /* a stream's or text answer's Content-Type */
	char *xhdr;  /* one more "Name: value", or NULL */
	struct httpd_stream stream;
	uv_timer_t ztimer; /* closes a stream nobody reads */
};

/* Log lines of one kind: at most LOG_BURST per LOG_WINDOW_MS. */
struct ratelog {
	const char *what;     /* for the summary: "refused clients" */
	uint64_t start;	      /* of the window */
	unsigned int n;	      /* lines logged in it */
	unsigned int dropped; /* lines not logged in it */
};

struct httpd {
	uv_loop_t *loop;
	struct listener lis[MAX_LISTENERS];
	size_t nlis;
	uv_timer_t timer;
	uv_timer_t sweep;	   /* deadlines of unfinished requests */
	struct ratelog rl_refused; /* 401 and TLS handshake failures */
	struct ratelog rl_limit;   /* deadlines and connection limits */
	struct ratelog rl_mhd;	   /* MHD's words on malformed requests */
	uv_idle_t idle;
	uv_async_t kick;
	unsigned int nhandles; /* open uv handles; free h at 0 */
	bool kick_init;

	const struct httpd_route *routes; /* borrowed from the config */
	size_t nroutes;
	const struct httpd_upload_route *uploads;
	size_t nuploads;
	void *ctx;
	size_t body_max;
	unsigned int conn_limit; /* the limits of httpd_config */
	unsigned int peer_limit;
	uint64_t header_timeout;  /* ms */
	uint64_t request_timeout; /* ms */

	char *tls_cert; /* PEM copies for MHD; NULL: no TLS */
	char *tls_key;
	char *tls_ca;
	char *unix_path; /* ours to unlink; NULL if inherited */
	dev_t unix_dev;
	ino_t unix_ino;

	struct httpd_req *reqs; /* every request MHD holds */
	bool in_run;		/* inside MHD_run() */
	bool stop_pending;	/* httpd_stop() was called in MHD_run() */
	bool stopping;
};

static void run_all(struct httpd *);
static void do_stop(struct httpd *);
static void req_unref(struct httpd_req *);
static void req_resume(struct httpd_req *);

/*
 * Rate-limited logging: a client can make rumprund log (a refused token, a
 * failed TLS handshake, a connection closed for its deadline), so such
 * lines are logged at most LOG_BURST times per LOG_WINDOW_MS and kind, and
 * the window ends with one line counting the ones left out.
 */

/* End rl's window if it is over, with the count of what it left out. */
static void
rl_flush(struct ratelog *rl, uint64_t now)
{
	if (rl->n == 0 || now - rl->start < LOG_WINDOW_MS)
		return;
	if (rl->dropped > 0)
		log_info("httpd: %u more %s in %llu s (not logged one by one)",
		    rl->dropped, rl->what,
		    (unsigned long long)((now - rl->start + 999) / 1000));
	rl->n = rl->dropped = 0;
}

/* May a line of rl's kind be logged now?  Counts the ones that may not. */
static bool
rl_ok(struct httpd *h, struct ratelog *rl)
{
	uint64_t now = uv_now(h->loop);

	rl_flush(rl, now);
	if (rl->n == 0)
		rl->start = now;
	if (rl->n < LOG_BURST) {
		rl->n++;
		return true;
	}
	rl->dropped++;
	return false;
}

/*
 * MHD's messages go to our log.  Those that only say that a client left
 * (or that we closed its connection because it left) are debug noise;
 * those about a client's malformed request or failed handshake are the
 * client's affair: info, rate-limited.
 */
static void mhd_log(void *, const char *, va_list)
    __attribute__((format(printf, 2, 0)));

static void
mhd_log(void *cls, const char *fmt, va_list ap)
{
	static const char *const quiet[] = {
		"Application reported internal error",
		"Closing connection (application error generating",
		"Failed to send the",
		/* The client left mid-request, or we shut it down. */
		"Socket has been disconnected when reading",
		"Connection socket is closed when reading",
		"Connection was closed by remote side with incomplete",
	};
	static const char *const clients[] = {
		"Error processing request",
		"Failed to parse `Content-Length'",
		"Too large value of 'Content-Length'",
		"Received HTTP/1.1 request without `Host'",
		"Not enough memory in pool",
		"Error: TLS handshake",
		"Error: received handshake",
		/* Past conn_limit + CONN_SLACK: a flood, logged sparingly. */
		"Server reached connection limit",
	};
	struct listener *l = cls;
	char msg[512];
	size_t i, n;

	vsnprintf(msg, sizeof(msg), fmt, ap);
	n = strlen(msg);
	while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
		msg[--n] = '\0';
	/* MHD says this of every failed TLS handshake: a client's affair. */
	if (strcmp(msg, "Error: received handshake message out of context.") ==
	    0) {
		if (rl_ok(l->h, &l->h->rl_refused))
			log_info(
			    "httpd: a TLS handshake failed (no valid "
			    "client certificate, or the client does not speak "
			    "TLS)");
		return;
	}
	for (i = 0; i < sizeof(quiet) / sizeof(quiet[0]); i++) {
		if (strncmp(msg, quiet[i], strlen(quiet[i])) == 0) {
			log_debug("httpd: %s", msg);
			return;
		}
	}
	for (i = 0; i < sizeof(clients) / sizeof(clients[0]); i++) {
		if (strncmp(msg, clients[i], strlen(clients[i])) == 0) {
			char *html = strstr(msg, " ('<");

			if (html != NULL) /* its HTML error page */
				memcpy(html, ")", 2);
			if (rl_ok(l->h, &l->h->rl_mhd))
				log_info("httpd: %s", msg);
			return;
		}
	}
	log_warnx("httpd: %s", msg);
}

/*
 * Loop side.
 */

static void on_timer(uv_timer_t *);
static void on_idle(uv_idle_t *);

/* Free h and its copies (the key wiped). */
static void
h_free(struct httpd *h)
{
	free(h->tls_cert);
	if (h->tls_key != NULL) {
		explicit_bzero(h->tls_key, strlen(h->tls_key));
		free(h->tls_key);
	}
	free(h->tls_ca);
	free(h);
}

static void
handle_closed(uv_handle_t *handle)
{
	struct httpd *h = handle->data;

	if (--h->nhandles == 0)
		h_free(h);
}

/* Close the polls on MHD's epoll fds (before MHD closes them). */
static void
close_listen_polls(struct httpd *h)
{
	size_t i;

	for (i = 0; i < h->nlis; i++) {
		if (!h->lis[i].poll_init)
			continue;
		h->lis[i].poll_init = false;
		h->lis[i].poll.data = h;
		uv_close((uv_handle_t *)&h->lis[i].poll, handle_closed);
	}
}

/* Close the timer, idle and kick handles; the last callback frees h. */
static void
close_loop_handles(struct httpd *h)
{
	uv_close((uv_handle_t *)&h->timer, handle_closed);
	uv_close((uv_handle_t *)&h->sweep, handle_closed);
	uv_close((uv_handle_t *)&h->idle, handle_closed);
	if (h->kick_init)
		uv_close((uv_handle_t *)&h->kick, handle_closed);
}

/* Arm the timer or the idle handle from MHD's timeouts. */
static void
schedule(struct httpd *h)
{
	MHD_UNSIGNED_LONG_LONG t, min = 0;
	bool have = false;
	size_t i;

	for (i = 0; i < h->nlis; i++) {
		if (MHD_get_timeout(h->lis[i].mhd, &t) != MHD_YES)
			continue;
		if (!have || t < min)
			min = t;
		have = true;
	}
	if (have && min == 0) {
		uv_timer_stop(&h->timer);
		uv_idle_start(&h->idle, on_idle);
		return;
	}
	uv_idle_stop(&h->idle);
	if (have)
		uv_timer_start(&h->timer, on_timer, (uint64_t)min, 0);
	else
		uv_timer_stop(&h->timer);
}

static void
run_all(struct httpd *h)
{
	size_t i;

	if (h->stopping)
		return;
	h->in_run = true;
	for (i = 0; i < h->nlis; i++)
		MHD_run(h->lis[i].mhd);
	h->in_run = false;
	if (h->stop_pending) {
		do_stop(h);
		return;
	}
	schedule(h);
}

static void
on_listen_poll(uv_poll_t *p, int status, int events)
{
	struct listener *l = p->data;

	(void)events;
	if (status < 0)
		log_warnx("httpd: polling MHD's epoll fd: %s",
		    uv_strerror(status));
	run_all(l->h);
}

static void
on_timer(uv_timer_t *t)
{
	run_all(t->data);
}

static void
on_idle(uv_idle_t *i)
{
	run_all(i->data);
}

static void
on_kick(uv_async_t *a)
{
	run_all(a->data);
}

/*
 * Connections and the watch on a suspended one.
 */

static void
watch_closed(uv_handle_t *handle)
{
	free(handle->data);
}

static void
on_watch(uv_poll_t *p, int status, int events)
{
	struct conn *c = p->data;

	if (status == 0 && (events & UV_DISCONNECT) == 0) {
		char b;
		ssize_t n = recv(c->fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);

		if (n > 0 && c->l->tls) {
			/*
			 * A TLS record: a pipelined request or the client's
			 * close_notify.  Wait for the hang-up that follows a
			 * goodbye (EPOLLRDHUP), not for more bytes.
			 */
			uv_poll_start(p, UV_DISCONNECT, on_watch);
			return;
		}
		if (n > 0) {
			/*
			 * A pipelined request, not a goodbye: MHD reads it
			 * after the resume.  Watch again on the next suspend.
			 */
			uv_poll_stop(p);
			return;
		}
		if (n == -1 &&
		    (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
			return;
	}
	uv_poll_stop(p);
	c->gone = true;
	if (c->susp != NULL)
		req_resume(c->susp);
}

static void
watch_start(struct conn *c)
{
	int rv;

	if (c->gone)
		return;
	if (!c->watch_init) {
		rv = uv_poll_init(c->l->h->loop, &c->watch, c->fd);
		if (rv != 0) {
			log_warnx("httpd: cannot watch connection fd %d: %s",
			    c->fd, uv_strerror(rv));
			return;
		}
		c->watch.data = c;
		c->watch_init = true;
	}
	rv = uv_poll_start(&c->watch, UV_READABLE | UV_DISCONNECT, on_watch);
	if (rv != 0)
		log_warnx("httpd: cannot watch connection fd %d: %s", c->fd,
		    uv_strerror(rv));
}

/* c->peer: "ADDRESS:PORT" ("[ADDRESS]:PORT" for IPv6). */
static void
peer_address(struct conn *c)
{
	char host[NI_MAXHOST], port[NI_MAXSERV];
	struct sockaddr_storage ss;
	socklen_t len;

	memset(&ss, 0, sizeof(ss));
	len = sizeof(ss);
	if (getpeername(c->fd, (struct sockaddr *)&ss, &len) == -1 ||
	    getnameinfo((struct sockaddr *)&ss, len, host, sizeof(host), port,
		sizeof(port), NI_NUMERICHOST | NI_NUMERICSERV) != 0) {
		snprintf(c->peer, sizeof(c->peer), "?");
		snprintf(c->host, sizeof(c->host), "?");
		return;
	}
	snprintf(c->peer, sizeof(c->peer),
	    ss.ss_family == AF_INET6 ? "[%s]:%s" : "%s:%s", host, port);
	snprintf(c->host, sizeof(c->host), "%s", host);
}

/*
 * Make the handshake of a new TLS connection fail unless the client
 * presents a certificate that chains to the client CA and may be used by
 * a TLS client.  The purpose list must outlive the session: static.
 */
static int
require_client_cert(struct MHD_Connection *mc)
{
	static gnutls_typed_vdata_st purpose[] = {
		{ GNUTLS_DT_KEY_PURPOSE_OID,
		    (unsigned char *)GNUTLS_KP_TLS_WWW_CLIENT, 0 },
	};
	const union MHD_ConnectionInfo *ci;
	gnutls_session_t session;

	ci = MHD_get_connection_info(mc, MHD_CONNECTION_INFO_GNUTLS_SESSION);
	if (ci == NULL || ci->tls_session == NULL)
		return -1;
	session = ci->tls_session;
	gnutls_certificate_server_set_request(session, GNUTLS_CERT_REQUIRE);
	gnutls_session_set_verify_cert2(session, purpose,
	    sizeof(purpose) / sizeof(purpose[0]), 0);
	return 0;
}

/*
 * After the handshake: did the client's certificate verify?  Also keeps
 * its subject for the log.  Checked once per connection.
 */
static bool
client_cert_ok(struct conn *c)
{
	const union MHD_ConnectionInfo *ci;
	const gnutls_datum_t *peers;
	gnutls_session_t session;
	gnutls_x509_crt_t crt;
	unsigned int status = 1, n = 0;
	size_t len;

	if (c->cert_checked)
		return c->cert_ok;
	c->cert_checked = true;
	ci = MHD_get_connection_info(c->mc, MHD_CONNECTION_INFO_GNUTLS_SESSION);
	if (ci == NULL || (session = ci->tls_session) == NULL)
		return false;
	if (gnutls_certificate_verify_peers2(session, &status) < 0 ||
	    status != 0 ||
	    (peers = gnutls_certificate_get_peers(session, &n)) == NULL ||
	    n == 0)
		return false;
	c->cert_ok = true;
	if (gnutls_x509_crt_init(&crt) < 0)
		return true;
	len = sizeof(c->cert_dn);
	if (gnutls_x509_crt_import(crt, &peers[0], GNUTLS_X509_FMT_DER) < 0 ||
	    gnutls_x509_crt_get_dn(crt, c->cert_dn, &len) < 0)
		c->cert_dn[0] = '\0';
	gnutls_x509_crt_deinit(crt);
	return true;
}

/* The peer's uid, when the connection is a unix socket. */
static void
conn_peer(struct conn *c)
{
	struct sockaddr_storage ss;
	struct ucred cred;
	socklen_t len;

	memset(&ss, 0, sizeof(ss));
	len = sizeof(ss);
	if (getsockname(c->fd, (struct sockaddr *)&ss, &len) == -1)
		return;
	if (ss.ss_family != AF_UNIX) {
		peer_address(c);
		return;
	}
	len = sizeof(cred);
	if (getsockopt(c->fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == -1)
		return;
	c->uid = cred.uid;
	c->has_uid = true;
}

/*
 * Limits on connections, against clients that open many and send slowly
 * (slowloris).  MHD's own idle timeout does not help there: every byte
 * restarts it, so a byte every few seconds holds a connection for ever,
 * and 1024 of them shut everybody else out.  So:
 *
 * - Deadlines that a trickle cannot extend: a request's headers must be in
 *   header_timeout ms after the connection was accepted (or after the
 *   previous request on it was answered, so an idle keep-alive connection
 *   goes at that time too), the whole request, body included,
 *   request_timeout ms after.  A timer checks every SWEEP_MS (or a
 *   quarter of header_timeout, if shorter).
 * - At most peer_limit connections per peer (its uid on the unix socket,
 *   its address on TCP) and conn_limit per listener.  A connection past a
 *   limit does not shut out the next client: the oldest connection whose
 *   request is not all in yet (of that peer, or of anyone for conn_limit)
 *   is closed instead, which is the new one only when all the others are
 *   serving requests.  A client that sends its request at once is never
 *   the oldest unfinished one for long, so it gets in under any number of
 *   slow ones.
 * - Closing: shutdown(2) of the connection's fd, never close(): MHD owns
 *   the fd and closes it once it reads the end of the stream (an epoll
 *   event it gets from the shutdown), notifying us as for any other close.
 *   A shut-down ("doomed") connection no longer counts against the limits;
 *   MHD's own limit is conn_limit + CONN_SLACK so that it never refuses a
 *   connection while doomed ones are on their way out.
 * - On TCP with bearer tokens, a request without a valid token is refused
 *   as soon as its headers are in, its body never kept (see above), and
 *   its connection closed after the 401.
 * - Lines about refused or closed clients are rate-limited (rl_ok()).
 */

static bool
same_peer(const struct conn *a, const struct conn *b)
{
	if (a->has_uid || b->has_uid)
		return a->has_uid && b->has_uid && a->uid == b->uid;
	return strcmp(a->host, b->host) == 0;
}

/* "uid N" or the address, for the log. */
static const char *
peer_label(const struct conn *c, char *buf, size_t size)
{
	if (c->has_uid)
		snprintf(buf, size, "uid %u", (unsigned int)c->uid);
	else
		snprintf(buf, size, "%s", c->peer[0] != '\0' ? c->peer : "?");
	return buf;
}

/* Shut c down; MHD closes it (see above). */
static void
doom(struct conn *c)
{
	if (c->doomed)
		return;
	c->doomed = true;
	c->l->nlive--;
	(void)shutdown(c->fd, SHUT_RDWR);
	/* MHD sees the end of the stream on its next run: make it run. */
	uv_async_send(&c->l->h->kick);
}

/*
 * The oldest connection of l whose request is not all in, of c's peer
 * only when peer is true; NULL if none.
 */
static struct conn *
oldest_reading(struct listener *l, const struct conn *c, bool peer)
{
	struct conn *p, *old = NULL;

	/* Newest first: "<=" keeps the oldest of equal times. */
	for (p = l->conns; p != NULL; p = p->cnext) {
		if (p->doomed || !p->reading || (peer && !same_peer(p, c)))
			continue;
		if (old == NULL || p->since <= old->since)
			old = p;
	}
	return old;
}

/* c is new: enforce peer_limit and conn_limit (see above). */
static void
admit(struct listener *l, struct conn *c)
{
	struct conn *p, *victim;
	char who[PEER_MAX], whose[PEER_MAX];
	unsigned int n = 0;

	for (p = l->conns; p != NULL; p = p->cnext)
		if (!p->doomed && same_peer(p, c))
			n++;
	if (n > l->h->peer_limit &&
	    (victim = oldest_reading(l, c, true)) != NULL) {
		if (rl_ok(l->h, &l->h->rl_limit))
			log_info("httpd: %s has more than %u connections: "
				 "closing its oldest unfinished request%s",
			    c->has_uid ? peer_label(c, who, sizeof(who)) :
					 c->host,
			    l->h->peer_limit,
			    victim == c ? " (this new one: the others are "
					  "being served)" :
					  "");
		doom(victim);
		if (victim == c)
			return;
	}
	if (l->nlive > l->h->conn_limit &&
	    (victim = oldest_reading(l, c, false)) != NULL) {
		if (rl_ok(l->h, &l->h->rl_limit))
			log_info("httpd: more than %u connections: closing the "
				 "oldest unfinished request (of %s)%s",
			    l->h->conn_limit,
			    peer_label(victim, whose, sizeof(whose)),
			    victim == c ? ", the new one: the others are "
					  "being served" :
					  "");
		doom(victim);
	}
}

/* Close the connections that are past their deadline. */
static void
on_sweep(uv_timer_t *t)
{
	struct httpd *h = t->data;
	uint64_t now = uv_now(h->loop), limit;
	struct conn *p;
	char who[PEER_MAX];
	size_t i;

	for (i = 0; i < h->nlis; i++) {
		for (p = h->lis[i].conns; p != NULL; p = p->cnext) {
			limit = p->hdrs_in ? h->request_timeout :
					     h->header_timeout;
			if (p->hdrs_in && p->cur != NULL)
				limit += p->cur->uploaded / UPLOAD_RATE_MIN;
			if (p->doomed || !p->reading || now - p->since < limit)
				continue;
			if (p->cur == NULL && p->nreq > 0)
				log_debug("httpd: %s: idle keep-alive "
					  "connection closed",
				    peer_label(p, who, sizeof(who)));
			else if (rl_ok(h, &h->rl_limit))
				log_info("httpd: %s: %s not in within "
					 "%llu ms: closing the connection",
				    peer_label(p, who, sizeof(who)),
				    p->hdrs_in ? "the request" :
						 "the request headers",
				    (unsigned long long)limit);
			doom(p);
		}
	}
	rl_flush(&h->rl_refused, now);
	rl_flush(&h->rl_limit, now);
	rl_flush(&h->rl_mhd, now);
}

static void req_detach(struct httpd_req *);

static void
on_connection(void *cls, struct MHD_Connection *mc, void **socket_context,
    enum MHD_ConnectionNotificationCode toe)
{
	const union MHD_ConnectionInfo *ci;
	struct listener *l = cls;
	struct conn *c;

	if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
		ci = MHD_get_connection_info(mc,
		    MHD_CONNECTION_INFO_CONNECTION_FD);
		if (ci == NULL || (c = calloc(1, sizeof(*c))) == NULL) {
			*socket_context = NULL;
			return;
		}
		c->l = l;
		c->mc = mc;
		c->fd = ci->connect_fd;
		conn_peer(c);
		/* Should that fail, client_cert_ok() refuses its requests. */
		if (l->verify && require_client_cert(mc) == -1)
			log_warnx("httpd: %s: cannot require a client "
				  "certificate",
			    c->peer);
		*socket_context = c;
		c->since = uv_now(l->h->loop);
		c->reading = true;
		c->cnext = l->conns;
		if (l->conns != NULL)
			l->conns->cprev = c;
		l->conns = c;
		l->nlive++;
		admit(l, c);
		return;
	}
	if ((c = *socket_context) == NULL)
		return;
	*socket_context = NULL;
	if (c->cprev != NULL)
		c->cprev->cnext = c->cnext;
	else
		l->conns = c->cnext;
	if (c->cnext != NULL)
		c->cnext->cprev = c->cprev;
	if (!c->doomed)
		l->nlive--;
	if (c->cur != NULL) {
		/* MHD completes requests first; do not count on it. */
		log_warnx("httpd: connection closed before its request");
		req_detach(c->cur);
	}
	/* The fd is still open here: uv_close() takes it out of epoll. */
	if (c->watch_init)
		uv_close((uv_handle_t *)&c->watch, watch_closed);
	else
		free(c);
}

/*
 * Requests.
 */

static void
req_free(struct httpd_req *req)
{
	if (req->sink != NULL)
		req->upload->abort(req->sink);
	free(req->method);
	free(req->path);
	free(req->params);
	free(req->vals);
	free(req->body);
	free(req->rbuf);
	free(req->allow);
	free(req->ctype);
	free(req->xhdr);
	free(req);
}

static void
req_unref(struct httpd_req *req)
{
	if (--req->refs == 0)
		req_free(req);
}

static void
req_suspend(struct httpd_req *req)
{
	struct conn *c = req->conn;

	req->suspended = true;
	c->susp = req;
	MHD_suspend_connection(c->mc);
	watch_start(c);
}

static void
req_resume(struct httpd_req *req)
{
	struct conn *c = req->conn;

	if (!req->suspended)
		return;
	req->suspended = false;
	c->susp = NULL;
	if (c->watch_init)
		uv_poll_stop(&c->watch);
	MHD_resume_connection(c->mc);
	/* MHD wakes nothing on resume: make the loop run it again. */
	uv_async_send(&req->h->kick);
}

static void
stream_closed(struct httpd_stream *s)
{
	if (s->closed)
		return;
	s->closed = true;
	s->live = false;
	if (s->ops.closed != NULL)
		s->ops.closed(s->arg);
}

/*
 * MHD is done with the request (answered, failed, or shut down): unlink
 * it from the connection and from h.  Idempotent; MHD's reference is
 * dropped by on_completed().
 */
static void
req_detach(struct httpd_req *req)
{
	struct httpd *h = req->h;
	struct conn *c = req->conn;

	if (c == NULL)
		return;
	if (req->suspended) {
		/* Only MHD_stop_daemon() could do this; we resume first. */
		req->suspended = false;
		c->susp = NULL;
	}
	if (c->cur == req)
		c->cur = NULL;
	if (req->prev != NULL)
		req->prev->next = req->next;
	else
		h->reqs = req->next;
	if (req->next != NULL)
		req->next->prev = req->prev;
	req->prev = req->next = NULL;
	if (req->has_reply)
		log_debug("httpd: %s %s %u",
		    req->method != NULL ? req->method : "-", req->path,
		    req->status);
	req->conn = NULL;
	req->h = NULL;
	/* A streamed body nobody took (the client left): nothing kept. */
	if (req->sink != NULL) {
		req->upload->abort(req->sink);
		req->sink = NULL;
	}
	/* A stream answer that never reached MHD still ends. */
	if (req->is_stream && req->state != RQ_QUEUED)
		stream_closed(&req->stream);
	free(req->rbuf);
	req->rbuf = NULL;
}

static void
on_completed(void *cls, struct MHD_Connection *mc, void **ctxp,
    enum MHD_RequestTerminationCode toe)
{
	struct httpd_req *req = *ctxp;
	struct conn *c;

	(void)cls;
	(void)mc;
	(void)toe;
	if (req == NULL)
		return;
	*ctxp = NULL;
	if ((c = req->conn) != NULL) {
		/* A keep-alive connection waits for its next request. */
		c->reading = true;
		c->hdrs_in = false;
		c->since = uv_now(c->l->h->loop);
		c->nreq++;
	}
	req_detach(req);
	req_unref(req); /* MHD's */
}

/*
 * MHD calls this once per request with the URI as the client sent it,
 * before it decodes it (routing decodes segment by segment, so that an
 * encoded '/' stays inside its segment).  The new request is MHD's
 * reference, given back in on_completed().
 */
static void *
on_uri(void *cls, const char *uri, struct MHD_Connection *mc)
{
	const union MHD_ConnectionInfo *ci;
	struct listener *l = cls;
	struct httpd *h = l->h;
	struct httpd_req *req;
	struct conn *c;
	size_t n;

	ci = MHD_get_connection_info(mc, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	if (ci == NULL || (c = ci->socket_context) == NULL)
		return NULL;
	if ((req = calloc(1, sizeof(*req))) == NULL)
		return NULL;
	n = strcspn(uri, "?#");
	if ((req->path = strndup(uri, n)) == NULL) {
		free(req);
		return NULL;
	}
	req->h = h;
	req->conn = c;
	req->loop = h->loop;
	req->refs = 1;
	req->state = RQ_HEADERS;
	req->has_uid = c->has_uid;
	req->uid = c->uid;
	req->auth_id = -1;
	req->stream.req = req;
	req->next = h->reqs;
	if (h->reqs != NULL)
		h->reqs->prev = req;
	h->reqs = req;
	c->cur = req;
	return req;
}

/* Store an answer; buf (a malloc'ed body, or NULL) is stolen. */
static void
set_reply(struct httpd_req *req, unsigned int status, char *buf, size_t len)
{
	free(req->rbuf);
	req->has_reply = true;
	req->status = status;
	req->rbuf = buf;
	req->rlen = len;
}

/*
 * The JSON text of body plus a newline in a new buffer; NULL if it cannot
 * be encoded.  body is borrowed.
 */
static char *
dump_json(const json_t *body, size_t *lenp)
{
	char *s, *t;
	size_t n;

	if ((s = json_dumps(body, JSON_COMPACT | JSON_ENCODE_ANY)) == NULL)
		return NULL;
	n = strlen(s);
	if ((t = realloc(s, n + 2)) == NULL) {
		free(s);
		return NULL;
	}
	t[n] = '\n';
	t[n + 1] = '\0';
	*lenp = n + 1;
	return t;
}

/* The error body for code and message, in a new buffer; NULL on ENOMEM. */
static char *
error_body(const char *name, const char *message, const char *field,
    size_t *lenp)
{
	json_t *o;
	char *buf = NULL;

	o = json_object();
	if (o == NULL)
		return NULL;
	if (json_object_set_new(o, "error", json_string(name)) == -1 ||
	    json_object_set_new(o, "message",
		message != NULL ? json_string(message) : json_string("")) == -1)
		goto cleanup;
	if (field != NULL && field[0] != '\0' &&
	    json_object_set_new(o, "field", json_string(field)) == -1)
		goto cleanup;
	buf = dump_json(o, lenp);
cleanup:
	json_decref(o);
	return buf;
}

static void set_error(struct httpd_req *req, enum rrerr_code code,
    const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void
set_error(struct httpd_req *req, enum rrerr_code code, const char *fmt, ...)
{
	char msg[RRERR_MESSAGE_MAX];
	size_t len = 0;
	char *buf;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	buf = error_body(rrerr_name(code), msg, NULL, &len);
	set_reply(req, httpd_status_for(code), buf, buf != NULL ? len : 0);
}

static ssize_t stream_read(void *, uint64_t, char *, size_t);
static void stream_free(void *);

/* Hand the stored answer to MHD.  Only from the access handler. */
static enum MHD_Result
queue(struct httpd_req *req)
{
	struct MHD_Response *resp;
	enum MHD_Result ret;

	if (req->is_stream) {
		resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN,
		    STREAM_BLOCK, stream_read, &req->stream, stream_free);
		if (resp == NULL) {
			stream_closed(&req->stream);
			return MHD_NO;
		}
		req->refs++; /* dropped by stream_free() */
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
		    req->ctype);
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL,
		    "no-cache");
	} else {
		resp = MHD_create_response_from_buffer(req->rlen, req->rbuf,
		    req->rbuf != NULL ? MHD_RESPMEM_MUST_FREE :
					MHD_RESPMEM_PERSISTENT);
		if (resp == NULL)
			return MHD_NO;
		req->rbuf = NULL; /* MHD frees it */
		if (req->rlen > 0)
			MHD_add_response_header(resp,
			    MHD_HTTP_HEADER_CONTENT_TYPE,
			    req->ctype != NULL ? req->ctype :
						 "application/json");
		if (req->allow != NULL)
			MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW,
			    req->allow);
		if (req->www_auth != NULL)
			MHD_add_response_header(resp,
			    MHD_HTTP_HEADER_WWW_AUTHENTICATE, req->www_auth);
	}
	if (req->xhdr != NULL) {
		char *colon = strchr(req->xhdr, ':');

		*colon = '\0';
		MHD_add_response_header(resp, req->xhdr, colon + 2);
		*colon = ':';
	}
	if (req->close)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION,
		    "close");
	req->state = RQ_QUEUED;
	req->conn->reading = false;
	ret = MHD_queue_response(req->conn->mc, req->status, resp);
	MHD_destroy_response(resp);
	return ret;
}

/*
 * Headers and query arguments are copied when the request is dispatched,
 * so that they live as long as the request, not as long as MHD's pool.
 */
struct kv_copy {
	size_t n;
	size_t bytes;
	struct kv *kv;
	char *p;
};

static enum MHD_Result
kv_count(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
	struct kv_copy *kc = cls;

	(void)kind;
	if (key == NULL)
		return MHD_YES;
	kc->n++;
	kc->bytes += strlen(key) + 1 + (value != NULL ? strlen(value) : 0) + 1;
	return MHD_YES;
}

static enum MHD_Result
kv_fill(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
	struct kv_copy *kc = cls;
	struct kv *kv;
	size_t n;

	if (key == NULL)
		return MHD_YES;
	kv = &kc->kv[kc->n++];
	kv->kind = kind;
	n = strlen(key) + 1;
	memcpy(kc->p, key, n);
	kv->name = kc->p;
	kc->p += n;
	if (value == NULL)
		value = "";
	n = strlen(value) + 1;
	memcpy(kc->p, value, n);
	kv->value = kc->p;
	kc->p += n;
	return MHD_YES;
}

static int
copy_values(struct httpd_req *req)
{
	const enum MHD_ValueKind kinds = (enum MHD_ValueKind)(
	    MHD_HEADER_KIND | MHD_GET_ARGUMENT_KIND);
	struct kv_copy kc;
	size_t n;

	memset(&kc, 0, sizeof(kc));
	MHD_get_connection_values(req->conn->mc, kinds, kv_count, &kc);
	if (kc.n == 0)
		return 0;
	n = kc.n;
	kc.kv = malloc(n * sizeof(struct kv) + kc.bytes);
	if (kc.kv == NULL)
		return -1;
	kc.p = (char *)(kc.kv + n);
	kc.n = 0;
	MHD_get_connection_values(req->conn->mc, kinds, kv_fill, &kc);
	req->vals = kc.kv;
	req->nvals = kc.n;
	return 0;
}

/*
 * Routing: router.c finds the route; here its parameters are decoded.
 */

/* Decode the matched params into req->params; -1 with err set. */
static int
take_params(struct httpd_req *req, const struct router_span *names,
    const struct router_span *vals, size_t n)
{
	struct kv *kv;
	size_t i, bytes = 0;
	char *p;

	if (n == 0)
		return 0;
	for (i = 0; i < n; i++)
		bytes += names[i].n + 1 + vals[i].n + 1;
	if ((kv = malloc(n * sizeof(*kv) + bytes)) == NULL) {
		set_error(req, RRERR_INTERNAL, "out of memory");
		return -1;
	}
	req->params = kv;
	p = (char *)(kv + n);
	for (i = 0; i < n; i++) {
		ssize_t dn;

		memcpy(p, names[i].p, names[i].n);
		p[names[i].n] = '\0';
		kv[i].name = p;
		kv[i].kind = MHD_HEADER_KIND;
		p += names[i].n + 1;
		dn = router_pct_decode(vals[i].p, vals[i].n, p);
		if (dn == -1) {
			set_error(req, RRERR_BAD_REQUEST,
			    "bad percent-encoding in path parameter \"%s\"",
			    kv[i].name);
			return -1;
		}
		if (memchr(p, '/', (size_t)dn) != NULL ||
		    strlen(p) != (size_t)dn) {
			set_error(req, RRERR_BAD_REQUEST,
			    "path parameter \"%s\" contains '/' or a NUL byte",
			    kv[i].name);
			return -1;
		}
		kv[i].value = p;
		p += vals[i].n + 1;
		req->nparams = i + 1;
	}
	return 0;
}

/* Find the route and run its handler, or store the error answer. */
static void
dispatch(struct httpd_req *req)
{
	struct httpd *h = req->h;
	const struct httpd_route *found;
	struct router_span names[ROUTER_MAX_PARAMS], vals[ROUTER_MAX_PARAMS];
	char allow[128];
	size_t n;

	req->state = RQ_HANDLER;
	req->conn->reading = false;
	if (h->stopping || h->stop_pending) {
		set_error(req, RRERR_UNAVAILABLE, "rumprund is shutting down");
		return;
	}
	found = router_find(h->routes, h->nroutes, req->method, req->path,
	    names, vals, &n, allow, sizeof(allow));
	if (found == NULL && allow[0] == '\0') {
		set_error(req, RRERR_NOT_FOUND, "no such path: %s", req->path);
		return;
	}
	if (found == NULL) {
		size_t len = 0;
		char msg[RRERR_MESSAGE_MAX], *buf;

		snprintf(msg, sizeof(msg), "method %s is not allowed on %s",
		    req->method, req->path);
		buf = error_body("method_not_allowed", msg, NULL, &len);
		set_reply(req, 405, buf, buf != NULL ? len : 0);
		req->allow = strdup(allow);
		return;
	}
	if (!req->prepared && take_params(req, names, vals, n) == -1)
		return;
	if (!req->prepared && copy_values(req) == -1) {
		set_error(req, RRERR_INTERNAL, "out of memory");
		return;
	}
	req->owned = true;
	req->refs++; /* the handler's, until it answers */
	found->handler(req, h->ctx);
}

/*
 * Ask the listener's auth function about req.  Returns true when req may
 * go on; otherwise the 401 answer is stored.
 */
static bool
authorized(struct httpd_req *req, struct MHD_Connection *mc)
{
	struct listener *l = req->conn->l;
	const char *v;
	char *buf;
	size_t len = 0;

	v = MHD_lookup_connection_value(mc, MHD_HEADER_KIND,
	    MHD_HTTP_HEADER_AUTHORIZATION);
	if ((req->auth_id = l->auth(v, l->auth_arg)) >= 0)
		return true;
	if (rl_ok(l->h, &l->h->rl_refused))
		log_info("httpd: %s %s from %s: refused: %s", req->method,
		    req->path, req->conn->peer,
		    v == NULL ? "no bearer token" : "not a valid bearer token");
	buf = error_body("unauthorized",
	    v == NULL ?
		"this listener needs \"Authorization: Bearer TOKEN\" with a "
		"token of rumprund's token_file" :
		"the bearer token is not one of rumprund's token_file",
	    NULL, &len);
	set_reply(req, 401, buf, buf != NULL ? len : 0);
	/* RFC 6750: error="invalid_token" when a token was there. */
	req->www_auth = v == NULL ?
	    "Bearer realm=\"rumprund\"" :
	    "Bearer realm=\"rumprund\", error=\"invalid_token\"";
	return false;
}

struct framing {
	unsigned int ncl; /* Content-Length headers */
	unsigned int nte; /* Transfer-Encoding headers */
	const char *cl;	  /* the first Content-Length */
	const char *te;	  /* the first Transfer-Encoding */
	bool cl_differ;	  /* two Content-Lengths differ */
};

static enum MHD_Result
framing_header(void *cls, enum MHD_ValueKind kind, const char *key,
    const char *value)
{
	struct framing *f = cls;

	(void)kind;
	if (key == NULL || value == NULL)
		return MHD_YES;
	if (strcasecmp(key, MHD_HTTP_HEADER_CONTENT_LENGTH) == 0) {
		if (f->ncl++ == 0)
			f->cl = value;
		else if (strcmp(f->cl, value) != 0)
			f->cl_differ = true;
	} else if (strcasecmp(key, MHD_HTTP_HEADER_TRANSFER_ENCODING) == 0) {
		if (f->nte++ == 0)
			f->te = value;
	}
	return MHD_YES;
}

/*
 * Is the body's framing one that MHD reads the way the client means it?
 * MHD takes the first of two Content-Lengths and reads a body in any
 * transfer coding but chunked up to the end of the connection, which a
 * client waiting for its answer never sends.  Otherwise the error answer
 * is stored, to be sent at once with "Connection: close" (the rest of the
 * connection cannot be read as requests).  MHD refuses a Content-Length
 * that is not a number itself, before this runs.
 */
static bool
framing_ok(struct httpd_req *req, struct MHD_Connection *mc)
{
	struct framing f;
	size_t len = 0;
	char msg[RRERR_MESSAGE_MAX], *buf;

	memset(&f, 0, sizeof(f));
	MHD_get_connection_values(mc, MHD_HEADER_KIND, framing_header, &f);
	if (f.cl_differ) {
		set_error(req, RRERR_BAD_REQUEST,
		    "two Content-Length headers with different values");
		goto refused;
	}
	if (f.nte > 0 && f.ncl > 0) {
		set_error(req, RRERR_BAD_REQUEST,
		    "both Transfer-Encoding and "
		    "Content-Length: send one of them");
		goto refused;
	}
	if (f.nte > 1 || (f.nte == 1 && strcasecmp(f.te, "chunked") != 0)) {
		snprintf(msg, sizeof(msg),
		    "Transfer-Encoding \"%.64s\"%s is "
		    "not supported: send the body with Content-Length or "
		    "\"Transfer-Encoding: chunked\"",
		    f.te, f.nte > 1 ? " and others" : "");
		buf = error_body("not_implemented", msg, NULL, &len);
		set_reply(req, 501, buf, buf != NULL ? len : 0);
		goto refused;
	}
	return true;
refused:
	req->close = true;
	return false;
}

/* Store err as the answer. */
static void
set_rrerr(struct httpd_req *req, const struct rrerr *err)
{
	size_t len = 0;
	char *buf;

	buf = error_body(rrerr_name(err->code), err->message,
	    err->field[0] != '\0' ? err->field : NULL, &len);
	set_reply(req, httpd_status_for(err->code), buf, buf != NULL ? len : 0);
}

/*
 * If req goes to an upload route, start it: 1 (streaming: RQ_UPLOAD), or
 * -1 with the refusal stored.  0: not an upload route.
 */
static int
upload_start(struct httpd_req *req, long long length)
{
	struct httpd *h = req->h;
	const struct httpd_upload_route *u = NULL;
	struct router_span names[ROUTER_MAX_PARAMS], vals[ROUTER_MAX_PARAMS];
	struct rrerr err;
	size_t i, n = 0;

	for (i = 0; i < h->nuploads; i++) {
		if (strcmp(h->uploads[i].method, req->method) == 0 &&
		    router_match(h->uploads[i].pattern, req->path, names, vals,
			ROUTER_MAX_PARAMS, &n)) {
			u = &h->uploads[i];
			break;
		}
	}
	if (u == NULL)
		return 0;
	if (h->stopping || h->stop_pending) {
		set_error(req, RRERR_UNAVAILABLE, "rumprund is shutting down");
		return -1;
	}
	if (take_params(req, names, vals, n) == -1)
		return -1;
	if (copy_values(req) == -1) {
		set_error(req, RRERR_INTERNAL, "out of memory");
		return -1;
	}
	req->prepared = true;
	rrerr_clear(&err);
	if ((req->sink = u->begin(req, h->ctx, length, &err)) == NULL) {
		set_rrerr(req, &err);
		return -1;
	}
	req->upload = u;
	req->state = RQ_UPLOAD;
	return 1;
}

/*
 * The access handler: MHD calls it once the headers are in, once per piece
 * of body, once at the end, and again after every resume.
 */
static enum MHD_Result
on_request(void *cls, struct MHD_Connection *mc, const char *url,
    const char *method, const char *version, const char *data, size_t *size,
    void **ctxp)
{
	struct listener *l = cls;
	struct httpd *h = l->h;
	struct httpd_req *req = *ctxp;
	struct rrerr uerr;
	const char *v;
	unsigned long long cl;
	char *end;

	(void)mc;
	(void)url;
	(void)version;
	if (req == NULL)
		return MHD_NO; /* out of memory in on_uri() */

	switch (req->state) {
	case RQ_HEADERS:
		if ((req->method = strdup(method)) == NULL)
			return MHD_NO;
		req->state = RQ_BODY;
		req->conn->hdrs_in = true;
		/* Never served without a verified client certificate. */
		if (l->verify && !client_cert_ok(req->conn)) {
			log_warnx("httpd: %s: a request without a verified "
				  "client certificate: closing",
			    req->conn->peer);
			return MHD_NO;
		}
		/*
		 * Refused: its body is never kept, and the connection closes
		 * after the answer.  A body of up to AUTH_DRAIN_MAX bytes is
		 * read and dropped first, so that a client that sends all
		 * of it before it reads (most libraries do) sees the 401
		 * rather than a reset; a larger or chunked one, or one the
		 * client waits to be asked for, is not read: 401 now.
		 */
		if (l->auth != NULL && !authorized(req, mc)) {
			req->close = true;
			v = MHD_lookup_connection_value(mc, MHD_HEADER_KIND,
			    MHD_HTTP_HEADER_CONTENT_LENGTH);
			errno = 0;
			if (v == NULL ||
			    MHD_lookup_connection_value(mc, MHD_HEADER_KIND,
				MHD_HTTP_HEADER_EXPECT) != NULL ||
			    (cl = strtoull(v, &end, 10)) == 0 || errno != 0 ||
			    *end != '\0' || cl > AUTH_DRAIN_MAX)
				return queue(req);
			req->state = RQ_DRAIN;
			return MHD_YES;
		}
		if (!framing_ok(req, mc))
			return queue(req);
		v = MHD_lookup_connection_value(mc, MHD_HEADER_KIND,
		    MHD_HTTP_HEADER_CONTENT_LENGTH);
		errno = 0;
		cl = v != NULL ? strtoull(v, &end, 10) : 0;
		if (v != NULL && (errno != 0 || end == v))
			return MHD_YES; /* MHD refuses it itself */
		switch (upload_start(req,
		    v != NULL && cl <= LLONG_MAX ? (long long)cl : -1)) {
		case 1:
			return MHD_YES;
		case -1:
			/* As for a body too large: drop a small one. */
			if (v == NULL || cl > DRAIN_MAX ||
			    MHD_lookup_connection_value(mc, MHD_HEADER_KIND,
				MHD_HTTP_HEADER_EXPECT) != NULL) {
				req->close = true;
				return queue(req);
			}
			req->state = RQ_DRAIN;
			return MHD_YES;
		}
		if (v == NULL)
			return MHD_YES;
		if (cl <= h->body_max) {
			if (cl > 0 && (req->body = malloc(cl + 1)) != NULL)
				req->cap = cl + 1;
			return MHD_YES;
		}
		set_error(req, RRERR_TOO_LARGE,
		    "request body is larger than %zu bytes", h->body_max);
		/*
		 * A client that waits for "100 Continue" sends nothing more;
		 * an enormous body is not worth reading.  Otherwise read and
		 * drop it so that the client sees the answer, not a reset.
		 */
		v = MHD_lookup_connection_value(mc, MHD_HEADER_KIND,
		    MHD_HTTP_HEADER_EXPECT);
		if (v != NULL || cl - h->body_max > DRAIN_MAX)
			return queue(req);
		req->state = RQ_DRAIN;
		return MHD_YES;

	case RQ_BODY:
		if (*size == 0)
			break;
		if (*size > h->body_max - req->len) {
			free(req->body);
			req->body = NULL;
			req->drained = req->len + *size;
			req->len = req->cap = 0;
			*size = 0;
			req->state = RQ_DRAIN;
			set_error(req, RRERR_TOO_LARGE,
			    "request body is larger than %zu bytes",
			    h->body_max);
			return MHD_YES;
		}
		if (req->len + *size + 1 > req->cap) {
			size_t cap = req->cap > 0 ? req->cap : 4096;
			char *nb;

			while (cap < req->len + *size + 1)
				cap *= 2;
			if (cap > h->body_max + 1)
				cap = h->body_max + 1;
			if ((nb = realloc(req->body, cap)) == NULL)
				return MHD_NO;
			req->body = nb;
			req->cap = cap;
		}
		memcpy(req->body + req->len, data, *size);
		req->len += *size;
		req->body[req->len] = '\0';
		*size = 0;
		return MHD_YES;

	case RQ_UPLOAD:
		if (*size == 0)
			break;
		req->uploaded += *size;
		if (req->upload->data(req->sink, data, *size, &uerr) == -1) {
			req->upload->abort(req->sink);
			req->sink = NULL;
			set_rrerr(req, &uerr);
			/* Read the rest the client announced, then answer. */
			v = MHD_lookup_connection_value(mc, MHD_HEADER_KIND,
			    MHD_HTTP_HEADER_CONTENT_LENGTH);
			cl = v != NULL ? strtoull(v, &end, 10) : 0;
			req->drain_limit = cl > req->uploaded ?
			    cl - req->uploaded :
			    UPLOAD_DRAIN_MAX;
			if (req->drain_limit > UPLOAD_DRAIN_MAX)
				req->drain_limit = UPLOAD_DRAIN_MAX;
			req->drained = 0;
			req->state = RQ_DRAIN;
		}
		*size = 0;
		return MHD_YES;

	case RQ_DRAIN:
		if (*size != 0) {
			req->drained += *size;
			if (req->upload != NULL)
				req->uploaded += *size;
			*size = 0;
			if (req->drained >
			    (req->drain_limit != 0 ?
				    req->drain_limit :
				    (uint64_t)h->body_max + DRAIN_MAX))
				return MHD_NO; /* refuse the rest */
			return MHD_YES;
		}
		if (!req->has_reply)
			set_error(req, RRERR_TOO_LARGE,
			    "request body is larger than %zu bytes",
			    h->body_max);
		return queue(req);

	case RQ_WAIT:
		/* Resumed: an answer came, the client left, or a stop. */
		if (req->conn->gone)
			return MHD_NO;
		if (!req->has_reply) {
			req_suspend(req);
			return MHD_YES;
		}
		return queue(req);

	case RQ_HANDLER:
	case RQ_QUEUED:
		log_warnx("httpd: %s %s: unexpected call in state %d",
		    req->method, req->path, (int)req->state);
		return MHD_NO;
	}

	/* The request is complete. */
	dispatch(req);
	if (req->has_reply)
		return queue(req);
	req->state = RQ_WAIT;
	req_suspend(req);
	return MHD_YES;
}

/*
 * Streams.
 */

static ssize_t
stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct httpd_stream *s = cls;
	struct httpd_req *req = s->req;
	int i;

	(void)pos;
	if (req->conn == NULL || req->conn->gone)
		return MHD_CONTENT_READER_END_WITH_ERROR;
	/*
	 * httpd is stopping (rumprund restarts or ends): close the connection
	 * without the last chunk, so that a client sees a broken transfer, not
	 * the normal end of the stream, and can resume (openapi.yaml).
	 */
	if (s->stop)
		return MHD_CONTENT_READER_END_WITH_ERROR;
	if (s->closed)
		return MHD_CONTENT_READER_END_OF_STREAM;
	for (i = 0; i < WAKE_RETRIES; i++) {
		ssize_t n;

		s->woken = false;
		n = s->ops.read(s->arg, buf, max);
		if (n > 0)
			return n <= (ssize_t)max ? n : (ssize_t)max;
		if (n < 0)
			return MHD_CONTENT_READER_END_OF_STREAM;
		if (!s->woken)
			break;
	}
	/* Nothing now: sleep until httpd_stream_wake(), do not spin. */
	req_suspend(req);
	return 0;
}

static void
stream_free(void *cls)
{
	struct httpd_stream *s = cls;

	stream_closed(s);
	req_unref(s->req);
}

static void
ztimer_closed(uv_handle_t *handle)
{
	req_unref(handle->data);
}

static void
on_ztimer(uv_timer_t *t)
{
	struct httpd_req *req = t->data;

	stream_closed(&req->stream);
	uv_close((uv_handle_t *)t, ztimer_closed);
}

/*
 * Answers from route handlers.
 */

bool
httpd_req_waiting(const struct httpd_req *req)
{
	return req->conn != NULL && !req->conn->gone && !req->has_reply;
}

/*
 * The route handler gives its answer: take its reference back.  Returns
 * whether the answer can still be sent: not if MHD has let go of the
 * request (client gone, httpd stopped) or httpd_stop() answered it.
 * Call owner_done() after.
 */
static bool
owner_answers(struct httpd_req *req)
{
	req->owned = false;
	return req->conn != NULL && !req->has_reply;
}

/*
 * Send the stored answer and drop the handler's reference.  While MHD has
 * the request (conn is set) that is not the last one.
 */
static void
owner_done(struct httpd_req *req)
{
	if (req->conn == NULL) {
		req_unref(req);
		return;
	}
	if (req->suspended)
		req_resume(req);
	assert(req->refs > 1);
	req->refs--;
}

static bool
answered_twice(const struct httpd_req *req)
{
	if (req->owned)
		return false;
	log_warnx("httpd: %s %s: answered twice or by the wrong code",
	    req->method, req->path);
	return true;
}

void
httpd_reply_json(struct httpd_req *req, unsigned int status, json_t *body)
{
	if (req == NULL || answered_twice(req)) {
		json_decref(body);
		return;
	}
	if (owner_answers(req)) {
		size_t len = 0;
		char *buf;

		if (body == NULL)
			set_reply(req, status, NULL, 0);
		else if ((buf = dump_json(body, &len)) != NULL)
			set_reply(req, status, buf, len);
		else {
			log_warnx("httpd: %s %s: cannot encode the answer",
			    req->method, req->path);
			set_error(req, RRERR_INTERNAL,
			    "cannot encode the answer");
		}
	}
	json_decref(body);
	owner_done(req);
}

void
httpd_reply_text(struct httpd_req *req, unsigned int status,
    const char *content_type, char *body, size_t len)
{
	if (req == NULL || answered_twice(req)) {
		free(body);
		return;
	}
	if (owner_answers(req)) {
		free(req->ctype);
		if ((req->ctype = strdup(content_type)) == NULL) {
			free(body);
			set_error(req, RRERR_INTERNAL, "out of memory");
		} else
			set_reply(req, status, body, body != NULL ? len : 0);
	} else
		free(body);
	owner_done(req);
}

void
httpd_reply_error(struct httpd_req *req, const struct rrerr *err)
{
	unsigned int status;

	if (req == NULL || err == NULL || answered_twice(req))
		return;
	status = httpd_status_for(err->code);
	if (status >= 500)
		log_warnx("httpd: %s %s: %s", req->method, req->path,
		    err->message);
	else
		log_debug("httpd: %s %s: %s", req->method, req->path,
		    err->message);
	if (owner_answers(req)) {
		size_t len = 0;
		char *buf = error_body(rrerr_name(err->code), err->message,
		    err->field, &len);

		set_reply(req, status, buf, buf != NULL ? len : 0);
	}
	owner_done(req);
}

unsigned int
httpd_status_for(enum rrerr_code code)
{
	switch (code) {
	case RRERR_OK:
		return 200;
	case RRERR_BAD_REQUEST:
		return 400;
	case RRERR_INVALID:
		return 422;
	case RRERR_FORBIDDEN:
		return 403;
	case RRERR_NOT_FOUND:
		return 404;
	case RRERR_CONFLICT:
		return 409;
	case RRERR_TOO_LARGE:
		return 413;
	case RRERR_UNSUPPORTED_MEDIA:
		return 415;
	case RRERR_UNAVAILABLE:
		return 503;
	case RRERR_INTERNAL:
		return 500;
	case RRERR_NO_SPACE:
		return 507;
	}
	return 500;
}

int
httpd_reply_header(struct httpd_req *req, const char *name, const char *value)
{
	free(req->xhdr);
	if (asprintf(&req->xhdr, "%s: %s", name, value) == -1) {
		req->xhdr = NULL;
		return -1;
	}
	return 0;
}

struct httpd_stream *
httpd_reply_stream(struct httpd_req *req, unsigned int status,
    const char *content_type, const struct httpd_stream_ops *ops, void *arg)
{
	struct httpd_stream *s;
	bool live;

	if (req == NULL || ops == NULL || answered_twice(req))
		return NULL;
	s = &req->stream;
	s->ops = *ops;
	s->arg = arg;
	if ((live = owner_answers(req)) &&
	    (req->ctype = strdup(content_type != NULL ?
		     content_type :
		     "application/octet-stream")) == NULL) {
		set_error(req, RRERR_INTERNAL, "out of memory");
		live = false;
	}
	if (live) {
		req->has_reply = true;
		req->is_stream = true;
		req->status = status;
		s->live = true;
		owner_done(req);
		return s;
	}
	/*
	 * Nobody will read it.  End it from the loop, not from here: the
	 * caller has not even stored the handle yet.  The handler's
	 * reference becomes the timer's, dropped by ztimer_closed().
	 */
	if (req->conn != NULL && req->suspended)
		req_resume(req); /* to send the 500 */
	uv_timer_init(req->loop, &req->ztimer);
	req->ztimer.data = req;
	uv_timer_start(&req->ztimer, on_ztimer, 0, 0);
	return s;
}

void
httpd_stream_wake(struct httpd_stream *s)
{
	struct httpd_req *req;

	if (s == NULL || s->closed || !s->live)
		return;
	req = s->req;
	if (req->conn == NULL)
		return;
	if (req->suspended && req->state == RQ_QUEUED)
		req_resume(req);
	else
		s->woken = true;
}

/*
 * Request accessors.
 */

const char *
httpd_req_method(const struct httpd_req *req)
{
	return req->method;
}

const char *
httpd_req_path(const struct httpd_req *req)
{
	return req->path;
}

const char *
httpd_req_param(const struct httpd_req *req, const char *name)
{
	size_t i;

	for (i = 0; i < req->nparams; i++)
		if (strcmp(req->params[i].name, name) == 0)
			return req->params[i].value;
	return NULL;
}

static const char *
lookup(const struct httpd_req *req, enum MHD_ValueKind kind, const char *name)
{
	size_t i;

	for (i = 0; i < req->nvals; i++) {
		const struct kv *kv = &req->vals[i];

		if (kv->kind != kind)
			continue;
		if (kind == MHD_HEADER_KIND ? strcasecmp(kv->name, name) == 0 :
					      strcmp(kv->name, name) == 0)
			return kv->value;
	}
	return NULL;
}

const char *
httpd_req_query(const struct httpd_req *req, const char *name)
{
	return lookup(req, MHD_GET_ARGUMENT_KIND, name);
}

const char *
httpd_req_query_next(const struct httpd_req *req, size_t *iter,
    const char **value)
{
	while (*iter < req->nvals) {
		const struct kv *kv = &req->vals[(*iter)++];

		if (kv->kind != MHD_GET_ARGUMENT_KIND)
			continue;
		if (value != NULL)
			*value = kv->value;
		return kv->name;
	}
	return NULL;
}

const char *
httpd_req_header(const struct httpd_req *req, const char *name)
{
	return lookup(req, MHD_HEADER_KIND, name);
}

void *
httpd_req_take_upload(struct httpd_req *req)
{
	void *sink = req->sink;

	req->sink = NULL;
	return sink;
}

const char *
httpd_req_body(const struct httpd_req *req, size_t *len)
{
	if (len != NULL)
		*len = req->len;
	return req->body != NULL ? req->body : "";
}

int
httpd_req_peer_uid(const struct httpd_req *req, uid_t *uid)
{
	if (!req->has_uid)
		return -1;
	*uid = req->uid;
	return 0;
}

void
httpd_req_peer_name(const struct httpd_req *req, char *buf, size_t size)
{
	const struct conn *c = req->conn;
	int n;

	if (req->has_uid) {
		snprintf(buf, size, "uid %u", (unsigned int)req->uid);
		return;
	}
	if (c == NULL) {
		snprintf(buf, size, "a client that has left");
		return;
	}
	n = snprintf(buf, size, "%s", c->peer);
	if (n >= 0 && (size_t)n < size && c->cert_dn[0] != '\0')
		n += snprintf(buf + n, size - (size_t)n, " (certificate %s)",
		    c->cert_dn);
	if (n >= 0 && (size_t)n < size && req->auth_id > 0)
		snprintf(buf + n, size - (size_t)n, " (token_file line %d)",
		    req->auth_id);
}

uv_loop_t *
httpd_req_loop(const struct httpd_req *req)
{
	return req->loop;
}

/*
 * Starting and stopping.
 */

/*
 * Is a server answering on the socket file of sun?  A connect that succeeds
 * is not proof: a process that inherited the listening socket through a
 * fork() without exec() (libxl runs xc_domain_destroy in such a child)
 * keeps queueing connections nobody accepts after the server that made it
 * has died.  SO_PEERCRED names the process that called listen(); when it
 * is gone, *gone is its pid and the socket file is stale.
 */
static bool
unix_in_use(const struct sockaddr_un *sun, pid_t *gone)
{
	struct ucred cr;
	socklen_t len = sizeof(cr);
	bool in_use;
	int fd;

	*gone = 0;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd == -1)
		return false;
	if (connect(fd, (const struct sockaddr *)sun, sizeof(*sun)) == 0) {
		in_use = true;
		if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) == 0 &&
		    cr.pid > 0 && kill(cr.pid, 0) == -1 && errno == ESRCH) {
			*gone = cr.pid;
			in_use = false;
		}
	} else
		in_use = errno == EAGAIN || errno == EINPROGRESS;
	close(fd);
	return in_use;
}

/*
 * Bind a listening unix socket to cfg->unix_path with its mode and group,
 * replacing a stale socket file.  Returns the fd, or -1 with err set.
 */
static int
unix_listen(struct httpd *h, const struct httpd_config *cfg, struct rrerr *err)
{
	const char *path = cfg->unix_path;
	struct sockaddr_un sun;
	struct stat st;
	bool bound = false;
	pid_t gone;
	int fd = -1;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun.sun_path)) {
		rrerr_set(err, RRERR_INVALID, NULL,
		    "unix socket path %s is too long", path);
		return -1;
	}
	memcpy(sun.sun_path, path, strlen(path) + 1);
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			rrerr_set(err, RRERR_INVALID, NULL,
			    "%s exists and is not a socket", path);
			return -1;
		}
		if (unix_in_use(&sun, &gone)) {
			rrerr_set(err, RRERR_UNAVAILABLE, NULL,
			    "another server is listening on %s", path);
			return -1;
		}
		if (gone != 0)
			log_warnx("httpd: %s: the server that listened on it "
				  "(pid %ld) is gone, another process still "
				  "holds it: replacing it",
			    path, (long)gone);
		if (unlink(path) == -1 && errno != ENOENT) {
			rrerr_set(err, RRERR_INTERNAL, NULL,
			    "cannot remove stale socket %s: %s", path,
			    strerror(errno));
			return -1;
		}
	} else if (errno != ENOENT) {
		rrerr_set(err, RRERR_INTERNAL, NULL, "%s: %s", path,
		    strerror(errno));
		return -1;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd == -1) {
		rrerr_set(err, RRERR_INTERNAL, NULL, "socket: %s",
		    strerror(errno));
		goto fail;
	}
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		rrerr_set(err, RRERR_INTERNAL, NULL, "cannot bind %s: %s", path,
		    strerror(errno));
		goto fail;
	}
	bound = true;
	/* Nobody can connect before listen(): no window with a wrong mode. */
	if (chmod(path, cfg->unix_mode) == -1) {
		rrerr_set(err, RRERR_INTERNAL, NULL, "chmod %s: %s", path,
		    strerror(errno));
		goto fail;
	}
	if (cfg->unix_gid != (gid_t)-1 &&
	    chown(path, (uid_t)-1, cfg->unix_gid) == -1) {
		rrerr_set(err, RRERR_INTERNAL, NULL, "chown %s: %s", path,
		    strerror(errno));
		goto fail;
	}
	if (lstat(path, &st) == -1 || listen(fd, LISTEN_BACKLOG) == -1) {
		rrerr_set(err, RRERR_INTERNAL, NULL, "cannot listen on %s: %s",
		    path, strerror(errno));
		goto fail;
	}
	if ((h->unix_path = strdup(path)) == NULL) {
		rrerr_set(err, RRERR_INTERNAL, NULL, "out of memory");
		goto fail;
	}
	h->unix_dev = st.st_dev;
	h->unix_ino = st.st_ino;
	return fd;
fail:
	if (bound)
		unlink(path);
	if (fd != -1)
		close(fd);
	return -1;
}

int
httpd_parse_addr(const char *addr, struct sockaddr_storage *ss,
    struct rrerr *err)
{
	struct addrinfo hints, *ai = NULL;
	const char *host, *port, *end;
	char hostbuf[INET6_ADDRSTRLEN + 1];
	unsigned long pn;
	size_t hn;
	char *pend;

	if (addr[0] == '[') {
		host = addr + 1;
		if ((end = strchr(host, ']')) == NULL || end[1] != ':')
			goto bad;
		port = end + 2;
	} else {
		host = addr;
		if ((end = strrchr(addr, ':')) == NULL ||
		    memchr(addr, ':', (size_t)(end - addr)) != NULL)
			goto bad;
		port = end + 1;
	}
	hn = (size_t)(end - host);
	if (hn == 0 || hn >= sizeof(hostbuf))
		goto bad;
	memcpy(hostbuf, host, hn);
	hostbuf[hn] = '\0';
	errno = 0;
	pn = strtoul(port, &pend, 10);
	if (port[0] < '0' || port[0] > '9' || *pend != '\0' || errno != 0 ||
	    pn == 0 || pn > 65535)
		goto bad;
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE;
	if (getaddrinfo(hostbuf, port, &hints, &ai) != 0 || ai == NULL)
		goto bad;
	memset(ss, 0, sizeof(*ss));
	memcpy(ss, ai->ai_addr, ai->ai_addrlen);
	freeaddrinfo(ai);
	return 0;
bad:
	return rrerr_set(err, RRERR_INVALID, NULL,
	    "bad TCP address \"%s\": want host:port or [v6]:port with a "
	    "numeric host",
	    addr);
}

/*
 * Start one MHD daemon on fd (a listening socket) or on address ss.  A TCP
 * listener (tcp) gets TLS when h has a certificate, and cfg's auth.
 */
static int
start_listener(struct httpd *h, int fd, struct sockaddr_storage *ss,
    const char *what, bool tcp, const struct httpd_config *cfg,
    struct rrerr *err)
{
	static char priorities[] = TLS_PRIORITIES;
	struct listener *l = &h->lis[h->nlis];
	unsigned int flags;
	size_t n = 3;
	struct MHD_OptionItem opts[] = {
		{ MHD_OPTION_CONNECTION_LIMIT, h->conn_limit + CONN_SLACK,
		    NULL },
		{ MHD_OPTION_CONNECTION_TIMEOUT, CONN_TIMEOUT_S, NULL },
		{ MHD_OPTION_CONNECTION_MEMORY_LIMIT, CONN_MEMORY, NULL },
		/* The socket, then TLS, below. */
		{ MHD_OPTION_END, 0, NULL },
		{ MHD_OPTION_END, 0, NULL },
		{ MHD_OPTION_END, 0, NULL },
		{ MHD_OPTION_END, 0, NULL },
		{ MHD_OPTION_END, 0, NULL },
		{ MHD_OPTION_END, 0, NULL },
		{ MHD_OPTION_END, 0, NULL },
	};

	flags = MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
	if (fd >= 0) {
		opts[n].option = MHD_OPTION_LISTEN_SOCKET;
		opts[n++].value = fd;
	} else {
		opts[n].option = MHD_OPTION_SOCK_ADDR;
		opts[n++].ptr_value = ss;
		opts[n].option = MHD_OPTION_LISTEN_BACKLOG_SIZE;
		opts[n++].value = LISTEN_BACKLOG;
		if (ss->ss_family == AF_INET6)
			flags |= MHD_USE_IPv6;
	}
	memset(l, 0, sizeof(*l));
	if (tcp && h->tls_cert != NULL) {
		flags |= MHD_USE_TLS;
		l->tls = true;
		opts[n].option = MHD_OPTION_HTTPS_MEM_CERT;
		opts[n++].ptr_value = h->tls_cert;
		opts[n].option = MHD_OPTION_HTTPS_MEM_KEY;
		opts[n++].ptr_value = h->tls_key;
		opts[n].option = MHD_OPTION_HTTPS_PRIORITIES;
		opts[n++].ptr_value = priorities;
		if (h->tls_ca != NULL) {
			opts[n].option = MHD_OPTION_HTTPS_MEM_TRUST;
			opts[n++].ptr_value = h->tls_ca;
			l->verify = true;
		}
	}
	if (tcp) {
		l->auth = cfg->tcp_auth;
		l->auth_arg = cfg->tcp_auth_arg;
	}
	l->h = h;
	/* The logger first, or MHD logs to stderr until it sees it. */
	l->mhd = MHD_start_daemon(flags, 0, NULL, NULL, on_request, l,
	    MHD_OPTION_EXTERNAL_LOGGER, mhd_log, l, MHD_OPTION_ARRAY, opts,
	    MHD_OPTION_NOTIFY_COMPLETED, on_completed, l,
	    MHD_OPTION_NOTIFY_CONNECTION, on_connection, l,
	    MHD_OPTION_URI_LOG_CALLBACK, on_uri, l, MHD_OPTION_END);
	if (l->mhd == NULL)
		return rrerr_set(err, RRERR_INTERNAL, NULL,
		    "cannot serve HTTP on %s (see the log)", what);
	h->nlis++;
	return 0;
}

struct httpd *
httpd_start(uv_loop_t *loop, const struct httpd_config *cfg, struct rrerr *err)
{
	const union MHD_DaemonInfo *di;
	struct sockaddr_storage ss;
	struct httpd *h;
	size_t i;
	int fd = -1, rv;
	uint64_t sweep;

	if (cfg->unix_path == NULL && cfg->unix_fd < 0 &&
	    cfg->tcp_addr == NULL && cfg->tcp_fd < 0) {
		rrerr_set(err, RRERR_INVALID, NULL,
		    "no unix socket and no TCP address to listen on");
		return NULL;
	}
	if ((cfg->tls_cert == NULL) != (cfg->tls_key == NULL) ||
	    (cfg->tls_client_ca != NULL && cfg->tls_cert == NULL)) {
		rrerr_set(err, RRERR_INVALID, NULL,
		    "TLS needs a certificate and its key");
		return NULL;
	}
	memset(&ss, 0, sizeof(ss));
	if (cfg->tcp_fd < 0 && cfg->tcp_addr != NULL &&
	    httpd_parse_addr(cfg->tcp_addr, &ss, err) == -1)
		return NULL;
	if ((h = calloc(1, sizeof(*h))) == NULL) {
		rrerr_set(err, RRERR_INTERNAL, NULL, "out of memory");
		return NULL;
	}
	h->loop = loop;
	h->routes = cfg->routes;
	h->nroutes = cfg->nroutes;
	h->ctx = cfg->ctx;
	h->body_max = cfg->body_max;
	h->uploads = cfg->uploads;
	h->nuploads = cfg->nuploads;
	h->conn_limit = cfg->conn_limit > 0 ? cfg->conn_limit : CONN_LIMIT;
	h->peer_limit = cfg->peer_limit > 0 ? cfg->peer_limit : PEER_LIMIT;
	h->header_timeout = cfg->header_timeout_ms > 0 ?
	    cfg->header_timeout_ms :
	    HEADER_TIMEOUT_MS;
	h->request_timeout = cfg->request_timeout_ms > 0 ?
	    cfg->request_timeout_ms :
	    REQUEST_TIMEOUT_MS;
	h->rl_refused.what = "refused clients";
	h->rl_limit.what = "connections closed by a deadline or a limit";
	h->rl_mhd.what = "malformed requests";
	if ((cfg->tls_cert != NULL &&
		((h->tls_cert = strdup(cfg->tls_cert)) == NULL ||
		    (h->tls_key = strdup(cfg->tls_key)) == NULL)) ||
	    (cfg->tls_client_ca != NULL &&
		(h->tls_ca = strdup(cfg->tls_client_ca)) == NULL)) {
		rrerr_set(err, RRERR_INTERNAL, NULL, "out of memory");
		goto fail;
	}

	if (cfg->unix_fd >= 0)
		fd = cfg->unix_fd;
	else if (cfg->unix_path != NULL &&
	    (fd = unix_listen(h, cfg, err)) == -1)
		goto fail;
	if (fd >= 0) {
		if (start_listener(h, fd, NULL,
			cfg->unix_fd < 0 ? cfg->unix_path :
					   "the inherited unix socket",
			false, cfg, err) == -1) {
			/* MHD owns the fd only once it started. */
			if (cfg->unix_fd < 0)
				close(fd);
			goto fail;
		}
	}
	/* An inherited fd is MHD's once it started, else the caller's. */
	if (cfg->tcp_fd >= 0) {
		if (start_listener(h, cfg->tcp_fd, NULL,
			"the inherited TCP socket", true, cfg, err) == -1)
			goto fail;
	} else if (cfg->tcp_addr != NULL &&
	    start_listener(h, -1, &ss, cfg->tcp_addr, true, cfg, err) == -1)
		goto fail;

	/* From here on h is freed by the last uv close callback. */
	uv_timer_init(loop, &h->timer);
	uv_timer_init(loop, &h->sweep);
	uv_idle_init(loop, &h->idle);
	h->timer.data = h->sweep.data = h->idle.data = h;
	h->nhandles = 3;
	sweep = h->header_timeout / 4;
	if (sweep > SWEEP_MS)
		sweep = SWEEP_MS;
	if (sweep < 10)
		sweep = 10;
	uv_timer_start(&h->sweep, on_sweep, sweep, sweep);
	if ((rv = uv_async_init(loop, &h->kick, on_kick)) != 0) {
		rrerr_set(err, RRERR_INTERNAL, NULL, "uv_async_init: %s",
		    uv_strerror(rv));
		goto fail_uv;
	}
	h->kick.data = h;
	h->kick_init = true;
	h->nhandles++;
	for (i = 0; i < h->nlis; i++) {
		di = MHD_get_daemon_info(h->lis[i].mhd,
		    MHD_DAEMON_INFO_EPOLL_FD);
		if (di == NULL) {
			rrerr_set(err, RRERR_INTERNAL, NULL,
			    "MHD has no epoll fd");
			goto fail_uv;
		}
		rv = uv_poll_init(loop, &h->lis[i].poll, di->epoll_fd);
		if (rv != 0) {
			rrerr_set(err, RRERR_INTERNAL, NULL, "uv_poll_init: %s",
			    uv_strerror(rv));
			goto fail_uv;
		}
		h->lis[i].poll.data = &h->lis[i];
		h->lis[i].poll_init = true;
		h->nhandles++;
		uv_poll_start(&h->lis[i].poll, UV_READABLE, on_listen_poll);
	}
	schedule(h);
	return h;

fail_uv:
	h->stopping = true;
	close_listen_polls(h);
	for (i = 0; i < h->nlis; i++)
		MHD_stop_daemon(h->lis[i].mhd);
	if (h->unix_path != NULL)
		unlink(h->unix_path);
	free(h->unix_path);
	h->unix_path = NULL;
	close_loop_handles(h);
	return NULL;
fail:
	for (i = 0; i < h->nlis; i++)
		MHD_stop_daemon(h->lis[i].mhd);
	if (h->unix_path != NULL)
		unlink(h->unix_path);
	free(h->unix_path);
	h_free(h);
	return NULL;
}

/* Are answers still on their way (or about to be)? */
static bool
answers_pending(const struct httpd *h)
{
	const struct httpd_req *req;

	for (req = h->reqs; req != NULL; req = req->next)
		if (req->state >= RQ_HANDLER)
			return true;
	return false;
}

/*
 * Run MHD by hand (the loop is not ours to run here) until the answers
 * given at stop time have gone out, for at most STOP_FLUSH_MS.
 */
static void
flush(struct httpd *h)
{
	struct pollfd pfd[MAX_LISTENERS];
	const union MHD_DaemonInfo *di;
	MHD_UNSIGNED_LONG_LONG t;
	uint64_t deadline;
	size_t i;

	deadline = uv_hrtime() / 1000000 + STOP_FLUSH_MS;
	for (i = 0; i < h->nlis; i++) {
		di = MHD_get_daemon_info(h->lis[i].mhd,
		    MHD_DAEMON_INFO_EPOLL_FD);
		pfd[i].fd = di != NULL ? di->epoll_fd : -1;
		pfd[i].events = POLLIN;
	}
	for (;;) {
		uint64_t now, wait;

		h->in_run = true;
		for (i = 0; i < h->nlis; i++)
			MHD_run(h->lis[i].mhd);
		h->in_run = false;
		if (!answers_pending(h))
			break;
		now = uv_hrtime() / 1000000;
		if (now >= deadline) {
			log_warnx("httpd: answers still pending after %d ms, "
				  "closing their connections",
			    STOP_FLUSH_MS);
			break;
		}
		wait = deadline - now;
		for (i = 0; i < h->nlis; i++)
			if (MHD_get_timeout(h->lis[i].mhd, &t) == MHD_YES &&
			    t < wait)
				wait = t;
		(void)poll(pfd, (nfds_t)h->nlis, (int)wait);
	}
}

static void
do_stop(struct httpd *h)
{
	struct httpd_req *req;
	struct stat st;
	size_t i;

	h->stop_pending = false;
	h->stopping = true;
	close_listen_polls(h);
	uv_timer_stop(&h->timer);
	uv_timer_stop(&h->sweep);
	uv_idle_stop(&h->idle);

	/* Accept nobody new; the socket file goes now. */
	for (i = 0; i < h->nlis; i++) {
		int fd = MHD_quiesce_daemon(h->lis[i].mhd);

		if (fd != MHD_INVALID_SOCKET)
			close(fd);
	}
	if (h->unix_path != NULL) {
		/* Unless another server has taken the path since. */
		if (lstat(h->unix_path, &st) == 0 && st.st_dev == h->unix_dev &&
		    st.st_ino == h->unix_ino && unlink(h->unix_path) == -1)
			log_warn("httpd: unlink %s", h->unix_path);
		free(h->unix_path);
		h->unix_path = NULL;
	}

	/* Answer whoever waits, end streams, and let MHD send that. */
	for (req = h->reqs; req != NULL; req = req->next) {
		if (req->is_stream)
			req->stream.stop = true;
		else if (req->state == RQ_WAIT && !req->has_reply)
			set_error(req, RRERR_UNAVAILABLE,
			    "rumprund is shutting down");
		if (req->suspended)
			req_resume(req);
	}
	flush(h);

	/* Completes every request still there: streams get closed(). */
	for (i = 0; i < h->nlis; i++)
		MHD_stop_daemon(h->lis[i].mhd);
	if (h->reqs != NULL)
		log_warnx("httpd: requests left after MHD stopped");
	close_loop_handles(h);
}

void
httpd_stop(struct httpd *h)
{
	if (h == NULL || h->stopping)
		return;
	if (h->in_run) {
		/* Called from a handler or stream: finish MHD_run() first. */
		h->stop_pending = true;
		return;
	}
	do_stop(h);
}
