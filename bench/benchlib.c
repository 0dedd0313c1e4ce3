/*
 * benchlib: see benchlib.h.
 */
#include <sys/inotify.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/un.h>

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "benchlib.h"

uint64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

double
ms_between(uint64_t from, uint64_t to)
{
	return ((double)to - (double)from) / 1e6;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* Nearest rank: the smallest value with at least p of the sample <= it. */
static double
rank(const double *v, size_t n, double p)
{
	size_t k;

	k = (size_t)(p * (double)n + 0.999999);
	if (k < 1)
		k = 1;
	if (k > n)
		k = n;
	return v[k - 1];
}

void
stats_of(double *v, size_t n, struct stats *s)
{
	double sum = 0;
	size_t i;

	memset(s, 0, sizeof(*s));
	s->n = n;
	if (n == 0)
		return;
	qsort(v, n, sizeof(*v), cmp_double);
	for (i = 0; i < n; i++)
		sum += v[i];
	s->min = v[0];
	s->max = v[n - 1];
	s->p50 = rank(v, n, 0.50);
	s->p90 = rank(v, n, 0.90);
	s->p99 = rank(v, n, 0.99);
	s->mean = sum / (double)n;
}

void
die(const char *fmt, ...)
{
	int saved = errno;
	va_list ap;

	fprintf(stderr, "bench: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	if (saved != 0)
		fprintf(stderr, ": %s", strerror(saved));
	fputc('\n', stderr);
	exit(1);
}

/* HTTP */

int
http_connect(const char *where)
{
	struct addrinfo hints, *res, *ai;
	struct sockaddr_un sun;
	char host[256], *port;
	int fd;

	if (strncmp(where, "tcp:", 4) == 0) {
		snprintf(host, sizeof(host), "%s", where + 4);
		if ((port = strrchr(host, ':')) == NULL)
			return -1;
		*port++ = '\0';
		memset(&hints, 0, sizeof(hints));
		hints.ai_socktype = SOCK_STREAM;
		if (getaddrinfo(host, port, &hints, &res) != 0)
			return -1;
		fd = -1;
		for (ai = res; ai != NULL; ai = ai->ai_next) {
			fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC,
			    0);
			if (fd == -1)
				continue;
			if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
				break;
			close(fd);
			fd = -1;
		}
		freeaddrinfo(res);
		return fd;
	}
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(where) >= sizeof(sun.sun_path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	strcpy(sun.sun_path, where);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return -1;
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		close(fd);
		return -1;
	}
	return fd;
}

static int
write_all(int fd, const char *p, size_t n)
{
	ssize_t w;

	while (n > 0) {
		w = write(fd, p, n);
		if (w == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static int
send_request(int fd, const char *method, const char *path, const char *body,
    bool close_conn)
{
	char head[1024];
	int n;

	n = snprintf(head, sizeof(head),
	    "%s %s HTTP/1.1\r\nHost: localhost\r\n"
	    "%s%s",
	    method, path, close_conn ? "Connection: close\r\n" : "",
	    body != NULL ? "Content-Type: application/json\r\n" : "");
	if (body != NULL)
		n += snprintf(head + n, sizeof(head) - (size_t)n,
		    "Content-Length: %zu\r\n", strlen(body));
	n += snprintf(head + n, sizeof(head) - (size_t)n, "\r\n");
	if (write_all(fd, head, (size_t)n) == -1)
		return -1;
	if (body != NULL && write_all(fd, body, strlen(body)) == -1)
		return -1;
	return 0;
}

/* The value of header name in the header block h (lower-case compare). */
static const char *
find_header(const char *h, const char *name)
{
	size_t len = strlen(name);
	const char *p = h;

	while ((p = strstr(p, "\r\n")) != NULL) {
		p += 2;
		if (strncasecmp(p, name, len) == 0 && p[len] == ':') {
			p += len + 1;
			while (*p == ' ')
				p++;
			return p;
		}
	}
	return NULL;
}

int
http_request(const char *where, const char *method, const char *path,
    const char *body, struct http_resp *r)
{
	size_t cap = 16384, len = 0;
	char *buf, *hend, *nb;
	ssize_t n;
	int fd;

	memset(r, 0, sizeof(*r));
	if ((fd = http_connect(where)) == -1)
		return -1;
	if (send_request(fd, method, path, body, true) == -1) {
		close(fd);
		return -1;
	}
	if ((buf = malloc(cap)) == NULL)
		die("out of memory");
	for (;;) {
		if (len + 1 >= cap) {
			cap *= 2;
			if ((nb = realloc(buf, cap)) == NULL)
				die("out of memory");
			buf = nb;
		}
		n = read(fd, buf + len, cap - len - 1);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	buf[len] = '\0';
	if (len < 12 || strncmp(buf, "HTTP/1.", 7) != 0 ||
	    (hend = strstr(buf, "\r\n\r\n")) == NULL) {
		free(buf);
		return -1;
	}
	r->status = atoi(buf + 9);
	*hend = '\0';
	hend += 4;
	r->len = len - (size_t)(hend - buf);
	if ((r->body = malloc(r->len + 1)) == NULL)
		die("out of memory");
	memcpy(r->body, hend, r->len);
	r->body[r->len] = '\0';
	free(buf);
	return 0;
}

/* Stream reading. */

static ssize_t
fill(struct http_stream *s)
{
	ssize_t n;

	if (s->pos > 0) {
		memmove(s->buf, s->buf + s->pos, s->have - s->pos);
		s->have -= s->pos;
		s->pos = 0;
	}
	if (s->have == sizeof(s->buf))
		return -1;
	do
		n = read(s->fd, s->buf + s->have, sizeof(s->buf) - s->have);
	while (n == -1 && errno == EINTR);
	if (n > 0)
		s->have += (size_t)n;
	return n;
}

int
http_stream_open(struct http_stream *s, const char *where, const char *path)
{
	char *hend, *head;
	const char *te;

	memset(s, 0, sizeof(*s));
	if ((s->fd = http_connect(where)) == -1)
		return -1;
	if (send_request(s->fd, "GET", path, NULL, true) == -1)
		goto fail;
	for (;;) {
		s->buf[s->have] = '\0';
		if (s->have > 0 && (hend = strstr(s->buf, "\r\n\r\n")) != NULL)
			break;
		if (s->have + 1 >= sizeof(s->buf) || fill(s) <= 0)
			goto fail;
	}
	head = s->buf;
	*hend = '\0';
	s->status = atoi(head + 9);
	te = find_header(head, "transfer-encoding");
	s->chunked = te != NULL && strncasecmp(te, "chunked", 7) == 0;
	s->pos = (size_t)(hend + 4 - s->buf);
	return s->fd;
fail:
	close(s->fd);
	s->fd = -1;
	return -1;
}

ssize_t
http_stream_read(struct http_stream *s, char *out, size_t max)
{
	size_t n;
	char *nl;

	if (s->ended)
		return 0;
	if (!s->chunked) {
		if (s->pos == s->have) {
			s->pos = s->have = 0;
			if (fill(s) <= 0) {
				s->ended = true;
				return 0;
			}
		}
		n = s->have - s->pos < max ? s->have - s->pos : max;
		memcpy(out, s->buf + s->pos, n);
		s->pos += n;
		return (ssize_t)n;
	}
	while (s->chunk_left == 0) {
		/* A chunk-size line; after a chunk, first its CRLF. */
		for (;;) {
			s->buf[s->have < sizeof(s->buf) ? s->have :
							  sizeof(s->buf) - 1] =
			    '\0';
			nl = memmem(s->buf + s->pos, s->have - s->pos, "\r\n",
			    2);
			if (nl != NULL)
				break;
			if (fill(s) <= 0) {
				s->ended = true;
				return 0;
			}
		}
		if (nl == s->buf + s->pos) { /* the CRLF after a chunk */
			s->pos += 2;
			continue;
		}
		s->chunk_left = strtoul(s->buf + s->pos, NULL, 16);
		s->pos = (size_t)(nl + 2 - s->buf);
		if (s->chunk_left == 0) {
			s->ended = true;
			return 0;
		}
	}
	while (s->pos == s->have) {
		if (fill(s) <= 0) {
			s->ended = true;
			return 0;
		}
	}
	n = s->have - s->pos;
	if (n > s->chunk_left)
		n = s->chunk_left;
	if (n > max)
		n = max;
	memcpy(out, s->buf + s->pos, n);
	s->pos += n;
	s->chunk_left -= n;
	return (ssize_t)n;
}

void
http_stream_close(struct http_stream *s)
{
	if (s->fd != -1)
		close(s->fd);
	s->fd = -1;
}

/* The console log watcher. */

#define LW_MAX 4096

struct lw_entry {
	char name[256];
	bool used;
	int fd;
	uint64_t off;
	uint64_t t_first, t_marker;
	char carry[256]; /* the last bytes, for a marker across reads */
	size_t ncarry;
};

struct logwatch {
	char dir[1024];
	char marker[128];
	int ifd;
	int pipe[2];
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct lw_entry *e;
	size_t n;
};

static struct lw_entry *
lw_find(struct logwatch *lw, const char *name)
{
	size_t i;

	for (i = 0; i < lw->n; i++)
		if (lw->e[i].used && strcmp(lw->e[i].name, name) == 0)
			return &lw->e[i];
	return NULL;
}

/* New bytes of e, seen at time t (lock held). */
static void
lw_scan(struct logwatch *lw, struct lw_entry *e, uint64_t t)
{
	char path[1400], buf[65536 + 256];
	size_t mlen = strlen(lw->marker);
	ssize_t n;

	if (e->fd == -1) {
		snprintf(path, sizeof(path), "%s/%s", lw->dir, e->name);
		if ((e->fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
			return;
	}
	for (;;) {
		memcpy(buf, e->carry, e->ncarry);
		n = pread(e->fd, buf + e->ncarry, 65536, (off_t)e->off);
		if (n <= 0)
			return;
		if (e->t_first == 0)
			e->t_first = t;
		e->off += (uint64_t)n;
		n += (ssize_t)e->ncarry;
		if (e->t_marker == 0 &&
		    memmem(buf, (size_t)n, lw->marker, mlen) != NULL)
			e->t_marker = t;
		e->ncarry = (size_t)n < mlen ? (size_t)n : mlen;
		memcpy(e->carry, buf + n - (ssize_t)e->ncarry, e->ncarry);
		if (e->t_marker != 0)
			return; /* nothing more to learn from this file */
	}
}

static void *
lw_thread(void *arg)
{
	struct logwatch *lw = arg;
	char buf[65536] __attribute__((aligned(8)));
	struct pollfd pfd[2];
	struct inotify_event *ev;
	struct lw_entry *e;
	uint64_t t;
	ssize_t n;
	char *p;

	pfd[0].fd = lw->ifd;
	pfd[0].events = POLLIN;
	pfd[1].fd = lw->pipe[0];
	pfd[1].events = POLLIN;
	for (;;) {
		if (poll(pfd, 2, -1) == -1) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (pfd[1].revents != 0)
			break;
		n = read(lw->ifd, buf, sizeof(buf));
		if (n <= 0)
			continue;
		t = now_ns();
		pthread_mutex_lock(&lw->lock);
		for (p = buf; p < buf + n; p += sizeof(*ev) + ev->len) {
			ev = (struct inotify_event *)p;
			if (ev->len == 0)
				continue;
			if ((e = lw_find(lw, ev->name)) == NULL ||
			    e->t_marker != 0)
				continue;
			lw_scan(lw, e, t);
		}
		pthread_cond_broadcast(&lw->cond);
		pthread_mutex_unlock(&lw->lock);
	}
	return NULL;
}

struct logwatch *
logwatch_start(const char *dir, const char *marker)
{
	struct logwatch *lw;

	if ((lw = calloc(1, sizeof(*lw))) == NULL)
		die("out of memory");
	if ((lw->e = calloc(LW_MAX, sizeof(*lw->e))) == NULL)
		die("out of memory");
	snprintf(lw->dir, sizeof(lw->dir), "%s", dir);
	snprintf(lw->marker, sizeof(lw->marker), "%s", marker);
	if ((lw->ifd = inotify_init1(IN_CLOEXEC)) == -1)
		die("inotify_init1");
	if (inotify_add_watch(lw->ifd, dir,
		IN_MODIFY | IN_CREATE | IN_CLOSE_WRITE) == -1)
		die("inotify_add_watch %s", dir);
	if (pipe2(lw->pipe, O_CLOEXEC) == -1)
		die("pipe");
	pthread_mutex_init(&lw->lock, NULL);
	pthread_cond_init(&lw->cond, NULL);
	if (pthread_create(&lw->thread, NULL, lw_thread, lw) != 0)
		die("pthread_create");
	return lw;
}

void
logwatch_expect(struct logwatch *lw, const char *name)
{
	struct lw_entry *e;
	size_t i;

	pthread_mutex_lock(&lw->lock);
	if ((e = lw_find(lw, name)) == NULL) {
		for (i = 0; i < lw->n; i++)
			if (!lw->e[i].used)
				break;
		if (i == lw->n) {
			if (lw->n == LW_MAX)
				die("logwatch: too many files");
			lw->n++;
		}
		e = &lw->e[i];
	} else if (e->fd != -1) {
		close(e->fd);
	}
	memset(e, 0, sizeof(*e));
	e->used = true;
	e->fd = -1;
	snprintf(e->name, sizeof(e->name), "%s", name);
	pthread_mutex_unlock(&lw->lock);
}

void
cond_wait_short(pthread_cond_t *cond, pthread_mutex_t *lock)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_nsec += 50 * 1000000;
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	pthread_cond_timedwait(cond, lock, &ts);
}

int
logwatch_wait(struct logwatch *lw, const char *name, int what,
    uint64_t deadline, uint64_t *t)
{
	struct lw_entry *e;
	uint64_t v;
	int rv = -1;

	pthread_mutex_lock(&lw->lock);
	for (;;) {
		if ((e = lw_find(lw, name)) == NULL)
			break;
		v = what == LW_FIRST_BYTE ? e->t_first : e->t_marker;
		if (v != 0) {
			*t = v;
			rv = 0;
			break;
		}
		if (now_ns() >= deadline)
			break;
		cond_wait_short(&lw->cond, &lw->lock);
	}
	pthread_mutex_unlock(&lw->lock);
	return rv;
}

void
logwatch_forget(struct logwatch *lw, const char *name)
{
	struct lw_entry *e;

	pthread_mutex_lock(&lw->lock);
	if ((e = lw_find(lw, name)) != NULL) {
		if (e->fd != -1)
			close(e->fd);
		e->fd = -1;
		e->used = false;
	}
	pthread_mutex_unlock(&lw->lock);
}

void
logwatch_stop(struct logwatch *lw)
{
	size_t i;

	if (write(lw->pipe[1], "x", 1) != 1)
		die("logwatch: pipe");
	pthread_join(lw->thread, NULL);
	for (i = 0; i < lw->n; i++)
		if (lw->e[i].used && lw->e[i].fd != -1)
			close(lw->e[i].fd);
	close(lw->ifd);
	close(lw->pipe[0]);
	close(lw->pipe[1]);
	free(lw->e);
	free(lw);
}

/* /proc */

double
proc_cpu_ms(int pid)
{
	char path[64], buf[2048], *p;
	unsigned long utime, stime;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	if ((f = fopen(path, "re")) == NULL)
		return -1;
	if (fgets(buf, sizeof(buf), f) == NULL) {
		fclose(f);
		return -1;
	}
	fclose(f);
	/* Fields after the ")" of comm: state is field 3, utime 14. */
	if ((p = strrchr(buf, ')')) == NULL ||
	    sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu",
		&utime, &stime) != 2)
		return -1;
	return (double)(utime + stime) * 1000.0 / (double)sysconf(_SC_CLK_TCK);
}

long
proc_rss_kib(int pid)
{
	char path[64], line[256];
	long v = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", pid);
	if ((f = fopen(path, "re")) == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL)
		if (sscanf(line, "VmRSS: %ld", &v) == 1)
			break;
	fclose(f);
	return v;
}
