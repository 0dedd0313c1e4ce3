/*
 * http: rrctl's requests to rumprund, on libcurl (see http.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <curl/curl.h>

#include "http.h"
#include "version.h"

#define TOKEN_MAX	4096
#define CONNECT_TIMEOUT 10L
#define POLL_MS		60000

struct http {
	char *shown;	 /* the host as shown in messages */
	char *base;	 /* URL without the path: "http://localhost" */
	char *unix_path; /* the socket, or NULL for TCP */
	char *auth;	 /* "Authorization: Bearer ...", or NULL */
	char *cacert;	 /* PEM files for TLS, or NULL */
	char *cert;
	char *key;
	CURLM *multi;
	bool quiet_conflict; /* say nothing of a 409 on "name" */
	long err_status;     /* the last error answer's status, or 0 */
	char err_field[64];  /* and its "field", or "" */
};

/* The self-pipe that SIGINT writes to, and what it says. */
static int intr_pipe[2] = { -1, -1 };
static volatile sig_atomic_t intr_seen;
static int curl_ready;

static void
on_sigint(int sig)
{
	int saved = errno;
	ssize_t n;

	(void)sig;
	intr_seen = 1;
	if (intr_pipe[1] != -1)
		n = write(intr_pipe[1], "", 1);
	(void)n;
	errno = saved;
}

/*
 * The first token of path: its first line that is not blank or a '#'
 * comment (the daemon's token_file format), without surrounding white space.
 */
static char *
read_token(const char *path, char *err, size_t errlen)
{
	char buf[TOKEN_MAX + 2], *p;
	size_t len;
	FILE *fp;

	if ((fp = fopen(path, "r")) == NULL) {
		snprintf(err, errlen, "--token-file %s: %s", path,
		    strerror(errno));
		return NULL;
	}
	while (fgets(buf, sizeof(buf), fp) != NULL) {
		p = buf + strspn(buf, " \t");
		len = strlen(p);
		while (len > 0 &&
		    (p[len - 1] == '\n' || p[len - 1] == '\r' ||
			p[len - 1] == ' ' || p[len - 1] == '\t'))
			p[--len] = '\0';
		if (len == 0 || p[0] == '#')
			continue;
		fclose(fp);
		if (strpbrk(p, " \t") != NULL) {
			snprintf(err, errlen,
			    "--token-file %s: a token has no spaces", path);
			return NULL;
		}
		return strdup(p);
	}
	fclose(fp);
	snprintf(err, errlen, "--token-file %s: no token in it", path);
	return NULL;
}

/* Keep a copy of the readable file's path in *slot (NULL: keep none). */
static int
keep_file(char **slot, const char *file, char *err, size_t errlen)
{
	if (file == NULL)
		return 0;
	if (access(file, R_OK) == -1) {
		snprintf(err, errlen, "%s: %s", file, strerror(errno));
		return -1;
	}
	free(*slot);
	if ((*slot = strdup(file)) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	return 0;
}

int
http_set_tls(struct http *h, const char *cacert, const char *cert,
    const char *key, char *err, size_t errlen)
{
	if (key != NULL && cert == NULL) {
		snprintf(err, errlen, "--key needs --cert");
		return -1;
	}
	if (keep_file(&h->cacert, cacert, err, errlen) == -1 ||
	    keep_file(&h->cert, cert, err, errlen) == -1 ||
	    keep_file(&h->key, key, err, errlen) == -1)
		return -1;
	return 0;
}

struct http *
http_new(const char *host, const char *token_file, char *err, size_t errlen)
{
	struct http *h;
	const char *rest;
	size_t len;
	char *token;
	int ok;

	if ((h = calloc(1, sizeof(*h))) == NULL)
		goto nomem;
	if (strncmp(host, "unix://", 7) == 0 || host[0] == '/') {
		rest = host[0] == '/' ? host : host + 7;
		if (rest[0] != '/' || rest[1] == '\0') {
			snprintf(err, errlen,
			    "--host %s: a unix socket is "
			    "unix:///PATH, with an absolute PATH",
			    host);
			goto fail;
		}
		ok = asprintf(&h->shown, "unix://%s", rest) != -1 &&
		    (h->unix_path = strdup(rest)) != NULL &&
		    (h->base = strdup("http://localhost")) != NULL;
	} else if (strncmp(host, "http://", 7) == 0 ||
	    strncmp(host, "https://", 8) == 0 ||
	    strncmp(host, "tcp://", 6) == 0) {
		rest = strstr(host, "://") + 3;
		len = strlen(rest);
		while (len > 0 && rest[len - 1] == '/')
			len--;
		if (len == 0 || memchr(rest, '/', len) != NULL) {
			snprintf(err, errlen,
			    "--host %s: give http://HOST:PORT without a path",
			    host);
			goto fail;
		}
		ok = asprintf(&h->base, "%s://%.*s",
			 host[0] == 't' ? "http" :
					  (host[4] == 's' ? "https" : "http"),
			 (int)len, rest) != -1 &&
		    (h->shown = strdup(h->base)) != NULL;
	} else {
		snprintf(err, errlen,
		    "--host %s: must be unix:///PATH or http(s)://HOST:PORT",
		    host);
		goto fail;
	}
	if (!ok)
		goto nomem;
	if (token_file != NULL) {
		if ((token = read_token(token_file, err, errlen)) == NULL)
			goto fail;
		ok = asprintf(&h->auth, "Authorization: Bearer %s", token) !=
		    -1;
		free(token);
		if (!ok) {
			h->auth = NULL;
			goto nomem;
		}
	}
	if (!curl_ready) {
		if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
			snprintf(err, errlen, "cannot initialise libcurl");
			goto fail;
		}
		curl_ready = 1;
	}
	if ((h->multi = curl_multi_init()) == NULL)
		goto nomem;
	return h;
nomem:
	snprintf(err, errlen, "out of memory");
fail:
	http_free(h);
	return NULL;
}

void
http_free(struct http *h)
{
	if (h == NULL)
		return;
	if (h->multi != NULL)
		curl_multi_cleanup(h->multi);
	free(h->shown);
	free(h->base);
	free(h->unix_path);
	free(h->auth);
	free(h->cacert);
	free(h->cert);
	free(h->key);
	free(h);
}

const char *
http_host(const struct http *h)
{
	return h->shown;
}

int
http_catch_interrupt(struct http *h)
{
	struct sigaction sa;

	(void)h;
	if (intr_pipe[0] == -1) {
		if (pipe(intr_pipe) == -1)
			return -1;
		for (int i = 0; i < 2; i++) {
			fcntl(intr_pipe[i], F_SETFL, O_NONBLOCK);
			fcntl(intr_pipe[i], F_SETFD, FD_CLOEXEC);
		}
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_sigint;
	sigemptyset(&sa.sa_mask);
	return sigaction(SIGINT, &sa, NULL);
}

bool
http_interrupted(void)
{
	return intr_seen != 0;
}

/*
 * Headers: the status is known once the empty line that ends them came
 * (the only header line of at most two bytes: CR LF, or a bare LF).  A
 * stream's X-Log-Offset or X-Event-Seq goes to r->resume_at.
 */
static size_t
on_header(char *p, size_t size, size_t n, void *arg)
{
	static const char *const names[] = { "X-Log-Offset:", "X-Event-Seq:" };
	struct http_req *r = arg;
	size_t len = size * n, i, nl;
	long status = 0;

	for (i = 0; i < 2; i++) {
		nl = strlen(names[i]);
		if (len > nl && len < 64 && strncasecmp(p, names[i], nl) == 0) {
			char v[64];

			snprintf(v, sizeof(v), "%.*s", (int)(len - nl), p + nl);
			r->resume_at = strtoll(v, NULL, 10);
		}
	}
	if (len <= 2) {
		curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &status);
		/* An interim 1xx answer is followed by the real one. */
		if (status >= 200)
			r->status = status;
	}
	return len;
}

static size_t
on_body(char *p, size_t size, size_t n, void *arg)
{
	struct http_req *r = arg;
	size_t len = size * n;

	if (r->status == 0)
		curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &r->status);
	if (r->on_data != NULL && r->status >= 200 && r->status < 300) {
		if (r->on_data(r->arg, p, len) == -1) {
			r->write_errno = errno;
			return 0;
		}
		return len;
	}
	sbuf_addn(&r->resp, p, len);
	return r->resp.failed ? 0 : len;
}

int
http_start(struct http *h, struct http_req *r)
{
	struct curl_slist *hdrs = NULL, *l;
	CURL *e;
	char *url = NULL;
	int rv = -1;

	r->status = 0;
	r->done = false;
	r->rc = CURLE_OK;
	r->resume_at = -1;
	r->os_errno = 0;
	if ((e = curl_easy_init()) == NULL)
		return -1;
	if (asprintf(&url, "%s%s", h->base, r->path) == -1) {
		url = NULL;
		goto out;
	}
	curl_easy_setopt(e, CURLOPT_URL, url);
	if (h->unix_path != NULL) {
		curl_easy_setopt(e, CURLOPT_UNIX_SOCKET_PATH, h->unix_path);
		curl_easy_setopt(e, CURLOPT_NOPROXY, "*");
	}
	if (h->cacert != NULL)
		curl_easy_setopt(e, CURLOPT_CAINFO, h->cacert);
	if (h->cert != NULL) {
		curl_easy_setopt(e, CURLOPT_SSLCERT, h->cert);
		curl_easy_setopt(e, CURLOPT_SSLCERTTYPE, "PEM");
		curl_easy_setopt(e, CURLOPT_SSLKEY,
		    h->key != NULL ? h->key : h->cert);
		curl_easy_setopt(e, CURLOPT_SSLKEYTYPE, "PEM");
	}
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_PATH_AS_IS, 1L);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT, CONNECT_TIMEOUT);
	curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
	curl_easy_setopt(e, CURLOPT_USERAGENT, "rrctl/" RUMPRUND_VERSION);
	curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(e, CURLOPT_PRIVATE, r);
	curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(e, CURLOPT_HEADERDATA, r);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, r);
	if (strcmp(r->method, "POST") == 0) {
		curl_easy_setopt(e, CURLOPT_POST, 1L);
		curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE,
		    (long)(r->body != NULL ? strlen(r->body) : 0));
		curl_easy_setopt(e, CURLOPT_COPYPOSTFIELDS,
		    r->body != NULL ? r->body : "");
	} else if (r->upload != NULL) {
		curl_easy_setopt(e, CURLOPT_UPLOAD, 1L);
		curl_easy_setopt(e, CURLOPT_READDATA, r->upload);
		curl_easy_setopt(e, CURLOPT_INFILESIZE_LARGE,
		    (curl_off_t)r->upload_size);
	} else if (strcmp(r->method, "GET") != 0)
		curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, r->method);
	if ((l = curl_slist_append(hdrs, "Expect:")) == NULL)
		goto out;
	hdrs = l;
	if (r->upload != NULL) {
		if ((l = curl_slist_append(hdrs,
			 "Content-Type: application/octet-stream")) == NULL)
			goto out;
		hdrs = l;
	}
	if (r->body != NULL) {
		if ((l = curl_slist_append(hdrs,
			 "Content-Type: application/json")) == NULL)
			goto out;
		hdrs = l;
	}
	if (h->auth != NULL) {
		if ((l = curl_slist_append(hdrs, h->auth)) == NULL)
			goto out;
		hdrs = l;
	}
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, hdrs);
	r->easy = e;
	r->hdrs = hdrs;
	if (curl_multi_add_handle(h->multi, e) != CURLM_OK) {
		r->easy = NULL;
		r->hdrs = NULL;
		goto out;
	}
	e = NULL;
	hdrs = NULL;
	rv = 0;
out:
	free(url);
	curl_slist_free_all(hdrs);
	if (e != NULL)
		curl_easy_cleanup(e);
	return rv;
}

/* Note the requests that ended. */
static void
collect(struct http *h)
{
	struct http_req *r;
	CURLMsg *msg;
	char *priv;
	int left;

	while ((msg = curl_multi_info_read(h->multi, &left)) != NULL) {
		if (msg->msg != CURLMSG_DONE)
			continue;
		priv = NULL;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &priv);
		if ((r = (struct http_req *)(void *)priv) == NULL)
			continue;
		r->done = true;
		r->rc = msg->data.result;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_OS_ERRNO,
		    &r->os_errno);
		if (r->status == 0 && r->rc == CURLE_OK)
			curl_easy_getinfo(msg->easy_handle,
			    CURLINFO_RESPONSE_CODE, &r->status);
	}
}

int
http_run(struct http *h, bool (*until)(void *), void *arg)
{
	struct curl_waitfd wfd;
	int running, n;
	char buf[64];

	for (;;) {
		unsigned int nfds = 0;

		if (intr_seen)
			return HTTP_INTERRUPTED;
		curl_multi_perform(h->multi, &running);
		collect(h);
		if (until != NULL && until(arg))
			return 0;
		if (running == 0)
			return 0;
		memset(&wfd, 0, sizeof(wfd));
		if (intr_pipe[0] != -1) {
			wfd.fd = intr_pipe[0];
			wfd.events = CURL_WAIT_POLLIN;
			nfds = 1;
		}
		/* Sleeps until a transfer or SIGINT has something for us. */
		curl_multi_poll(h->multi, nfds != 0 ? &wfd : NULL, nfds,
		    POLL_MS, &n);
		if (nfds != 0 && wfd.revents != 0) {
			while (read(intr_pipe[0], buf, sizeof(buf)) > 0) {
				/* Drain it: intr_seen says what it meant. */
			}
		}
	}
}

void
http_end(struct http *h, struct http_req *r)
{
	if (r->easy != NULL) {
		curl_multi_remove_handle(h->multi, r->easy);
		curl_easy_cleanup(r->easy);
		r->easy = NULL;
	}
	curl_slist_free_all(r->hdrs);
	r->hdrs = NULL;
}

void
http_req_reset(struct http_req *r)
{
	sbuf_reset(&r->resp);
}

/* Why a transfer failed, as the end of a sentence. */
static const char *
failure(const struct http_req *r, bool connected)
{
	if (!connected && r->os_errno != 0)
		return strerror((int)r->os_errno);
	switch (r->rc) {
	case CURLE_COULDNT_RESOLVE_HOST:
		return "cannot resolve the host name";
	case CURLE_COULDNT_CONNECT:
		return "cannot connect";
	case CURLE_OPERATION_TIMEDOUT:
		return "timed out";
	case CURLE_GOT_NOTHING:
		return "the connection closed without an answer";
	case CURLE_PARTIAL_FILE:
	case CURLE_RECV_ERROR:
		return "the connection closed before the end of the answer";
	case CURLE_SEND_ERROR:
		return "the connection closed while sending";
	default:
		return curl_easy_strerror((CURLcode)r->rc);
	}
}

/* Fill err with kind and the message fmt (printf-like); returns -1. */
static int __attribute__((format(printf, 3, 4)))
fail(struct http_err *err, enum http_errkind kind, const char *fmt, ...)
{
	va_list ap;

	err->kind = kind;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	return -1;
}

int
http_outcome(struct http *h, struct http_req *r, json_t **out,
    struct http_err *err)
{
	json_error_t jerr;
	const char *msg;
	json_t *body;

	if (out != NULL)
		*out = NULL;
	if (r->done && r->rc == CURLE_WRITE_ERROR && r->on_data != NULL) {
		/* on_data could not write the bytes out. */
		return fail(err, HTTP_ERR_DENIED, "cannot write the output: %s",
		    strerror(r->write_errno));
	}
	if (!r->done || r->rc != CURLE_OK) {
		if (r->status == 0)
			return fail(err, HTTP_ERR_UNREACHABLE,
			    "cannot reach rumprund at %s: %s", h->shown,
			    r->done ? failure(r, false) : "interrupted");
		return fail(err, HTTP_ERR_UNREACHABLE,
		    "lost the connection to rumprund at %s: %s", h->shown,
		    r->done ? failure(r, true) : "interrupted");
	}
	body = NULL;
	if (r->resp.len > 0 && r->resp.buf != NULL)
		body = json_loadb(r->resp.buf, r->resp.len, JSON_DECODE_ANY,
		    &jerr);
	if (r->status >= 200 && r->status < 300) {
		if (out == NULL) {
			json_decref(body);
			return 0;
		}
		if (body == NULL && r->on_data == NULL && r->resp.len > 0) {
			return fail(err, HTTP_ERR_DENIED,
			    "rumprund at %s "
			    "answered %ld with a body that is not JSON",
			    h->shown, r->status);
		}
		*out = body != NULL ? body : json_null();
		return 0;
	}
	h->err_status = r->status;
	snprintf(h->err_field, sizeof(h->err_field), "%s",
	    json_is_string(json_object_get(body, "field")) ?
		json_string_value(json_object_get(body, "field")) :
		"");
	msg = json_string_value(json_object_get(body, "message"));
	if (h->quiet_conflict && r->status == 409 &&
	    strcmp(h->err_field, "name") == 0)
		(void)fail(err, HTTP_ERR_DENIED, "%s", ""); /* tries another */
	else if (msg != NULL && r->status == 401)
		(void)fail(err, HTTP_ERR_DENIED, "%s (%s)", msg,
		    h->auth != NULL ?
			"the token of --token-file was refused" :
			"give a token with --token-file or RRCTL_TOKEN_FILE");
	else if (msg != NULL)
		(void)fail(err, HTTP_ERR_DENIED, "%s", msg);
	else {
		size_t len = r->resp.len;
		const char *nl;

		if (r->resp.buf != NULL &&
		    (nl = memchr(r->resp.buf, '\n', len)) != NULL)
			len = (size_t)(nl - r->resp.buf);
		(void)fail(err, HTTP_ERR_DENIED,
		    "rumprund at %s answered %ld%s%.*s", h->shown, r->status,
		    len > 0 ? ": " : "", (int)(len > 200 ? 200 : len),
		    r->resp.buf != NULL ? r->resp.buf : "");
	}
	json_decref(body);
	return -1;
}

void
http_quiet_conflict(struct http *h, bool quiet)
{
	h->quiet_conflict = quiet;
}

long
http_error(const struct http *h, const char **field)
{
	*field = h->err_field;
	return h->err_status;
}

bool
http_broken(const struct http_req *r)
{
	if (r->done && r->rc == CURLE_OK && r->status == 503)
		return true; /* rumprund is shutting down */
	if (!r->done || r->rc == CURLE_OK)
		return false;
	if (r->rc == CURLE_WRITE_ERROR)
		return false; /* ours: stdout failed */
	return r->status == 0 || (r->status >= 200 && r->status < 300);
}

bool
http_req_done(void *arg)
{
	const struct http_req *r = arg;

	return r->done;
}

int
http_call(struct http *h, const char *method, const char *path, json_t *body,
    json_t **out, long *status, struct http_err *err)
{
	struct http_req r;
	char *text = NULL;
	int rv;

	memset(&r, 0, sizeof(r));
	if (body != NULL && (text = json_dumps(body, JSON_COMPACT)) == NULL)
		return fail(err, HTTP_ERR_DENIED, "out of memory");
	r.method = method;
	r.path = path;
	r.body = text;
	if (http_start(h, &r) == -1) {
		free(text);
		return fail(err, HTTP_ERR_DENIED,
		    "cannot make a request: out of memory");
	}
	rv = http_run(h, http_req_done, &r);
	http_end(h, &r);
	free(text);
	if (status != NULL)
		*status = r.status;
	if (rv == HTTP_INTERRUPTED) {
		http_req_reset(&r);
		return fail(err, HTTP_ERR_INTERRUPTED, "%s", "");
	}
	rv = http_outcome(h, &r, out, err);
	http_req_reset(&r);
	return rv;
}

void
http_lines(struct sbuf *partial, const char *buf, size_t len,
    void (*fn)(void *, const char *, size_t), void *arg)
{
	const char *nl;

	while ((nl = memchr(buf, '\n', len)) != NULL) {
		size_t n = (size_t)(nl - buf);

		if (partial->len > 0) {
			sbuf_addn(partial, buf, n);
			if (partial->buf != NULL)
				fn(arg, partial->buf, partial->len);
			sbuf_reset(partial);
		} else
			fn(arg, buf, n);
		buf += n + 1;
		len -= n + 1;
	}
	sbuf_addn(partial, buf, len);
}

char *
http_escape(const char *s)
{
	char *esc, *out;

	/* RFC 3986's unreserved characters stay; curl_free() its answer. */
	if ((esc = curl_easy_escape(NULL, s, 0)) == NULL)
		return NULL;
	out = strdup(esc);
	curl_free(esc);
	return out;
}

char *
http_path(const char *name, const char *suffix)
{
	char *esc, *path;

	if ((esc = http_escape(name)) == NULL)
		return NULL;
	if (asprintf(&path, "/v1/unikernels/%s%s", esc, suffix) == -1)
		path = NULL;
	free(esc);
	return path;
}
