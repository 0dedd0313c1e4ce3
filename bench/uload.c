/*
 * uload: an HTTP/1.1 keep-alive load generator for a unix socket (wrk
 * speaks only TCP), or TCP for comparison with wrk.
 *
 *   uload [-c CONNS] [-t THREADS] [-d SECONDS] [-w WARMUP_S] WHERE PATH...
 *
 * WHERE is a unix socket path or tcp:HOST:PORT.  Each of CONNS connections
 * (spread over THREADS threads, each an epoll loop) sends one GET at a
 * time, cycling through PATH..., and sends the next as soon as the answer
 * is complete (Content-Length), like wrk.  A connection the server closes
 * is opened again (counted).  Requests that complete during the warm-up
 * are not counted.
 *
 * Output: one JSON line: requests, seconds, rps, latency p50/p90/p99/max
 * in ms, non-2xx answers, reconnects, errors.
 */
#include <sys/epoll.h>
#include <sys/socket.h>

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "benchlib.h"

#define RBUF	 (64 * 1024) /* grows to fit an answer */
#define RBUF_MAX (64 * 1024 * 1024)

struct conn {
	int fd;
	char *rbuf;
	size_t have, cap;
	uint64_t sent_at;
	unsigned int next_path;
};

struct worker {
	pthread_t th;
	int nconns;
	double *lat;
	size_t nlat, caplat;
	unsigned long non2xx, reconnects, errors;
};

static const char *where;
static char **paths;
static int npaths;
static char **reqs;
static size_t *reqlens;
static uint64_t t_start, t_measure, t_end;

static int
open_conn(struct conn *c, int ep)
{
	struct epoll_event ev;

	c->fd = http_connect(where);
	if (c->fd == -1)
		return -1;
	fcntl(c->fd, F_SETFL, O_NONBLOCK);
	c->have = 0;
	memset(&ev, 0, sizeof(ev));
	ev.events = EPOLLIN;
	ev.data.ptr = c;
	if (epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev) == -1)
		return -1;
	return 0;
}

static int
send_req(struct conn *c)
{
	unsigned int k = c->next_path++ % (unsigned int)npaths;
	ssize_t n;

	c->sent_at = now_ns();
	n = write(c->fd, reqs[k], reqlens[k]);
	return n == (ssize_t)reqlens[k] ? 0 : -1;
}

/* The length of a complete answer at the start of buf, or 0. */
static size_t
complete(const char *buf, size_t have, int *status)
{
	const char *hend, *cl;
	size_t hlen;
	long len;

	hend = memmem(buf, have, "\r\n\r\n", 4);
	if (hend == NULL)
		return 0;
	hlen = (size_t)(hend - buf) + 4;
	cl = memmem(buf, hlen, "\r\nContent-Length:", 17);
	if (cl == NULL)
		cl = memmem(buf, hlen, "\r\ncontent-length:", 17);
	if (cl == NULL)
		len = 0;
	else
		len = strtol(cl + 17, NULL, 10);
	if (have < hlen + (size_t)len)
		return 0;
	*status = atoi(buf + 9);
	return hlen + (size_t)len;
}

static void
record(struct worker *w, double ms)
{
	if (w->nlat == w->caplat) {
		double *n;

		w->caplat = w->caplat ? w->caplat * 2 : 65536;
		if ((n = realloc(w->lat, w->caplat * sizeof(double))) == NULL)
			die("out of memory");
		w->lat = n;
	}
	w->lat[w->nlat++] = ms;
}

static void
reopen(struct worker *w, struct conn *c, int ep)
{
	epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	w->reconnects++;
	if (open_conn(c, ep) == -1 || send_req(c) == -1)
		w->errors++;
}

static void *
run(void *arg)
{
	struct worker *w = arg;
	struct epoll_event evs[256];
	struct conn *conns;
	size_t used;
	uint64_t t;
	int ep, i, n, status;
	ssize_t r;

	if ((ep = epoll_create1(EPOLL_CLOEXEC)) == -1)
		die("epoll_create1");
	if ((conns = calloc((size_t)w->nconns, sizeof(*conns))) == NULL)
		die("out of memory");
	for (i = 0; i < w->nconns; i++) {
		conns[i].cap = RBUF;
		if ((conns[i].rbuf = malloc(RBUF)) == NULL)
			die("out of memory");
		if (open_conn(&conns[i], ep) == -1)
			die("connect %s", where);
		conns[i].next_path = (unsigned int)i;
		if (send_req(&conns[i]) == -1)
			die("write");
	}
	while (now_ns() < t_end) {
		n = epoll_wait(ep, evs, 256, 100);
		for (i = 0; i < n; i++) {
			struct conn *c = evs[i].data.ptr;

			if (c->have == c->cap) {
				if (c->cap >= RBUF_MAX) {
					w->errors++;
					reopen(w, c, ep);
					continue;
				}
				char *nb;

				c->cap *= 2;
				if ((nb = realloc(c->rbuf, c->cap)) == NULL)
					die("out of memory");
				c->rbuf = nb;
			}
			r = read(c->fd, c->rbuf + c->have, c->cap - c->have);
			if (r == -1 && (errno == EAGAIN || errno == EINTR))
				continue;
			if (r <= 0) {
				reopen(w, c, ep);
				continue;
			}
			c->have += (size_t)r;
			while (
			    (used = complete(c->rbuf, c->have, &status)) > 0) {
				t = now_ns();
				if (t >= t_measure && t < t_end) {
					record(w, ms_between(c->sent_at, t));
					if (status < 200 || status > 299)
						w->non2xx++;
				}
				memmove(c->rbuf, c->rbuf + used,
				    c->have - used);
				c->have -= used;
				if (send_req(c) == -1) {
					reopen(w, c, ep);
					break;
				}
			}
		}
	}
	for (i = 0; i < w->nconns; i++) {
		close(conns[i].fd);
		free(conns[i].rbuf);
	}
	free(conns);
	close(ep);
	return NULL;
}

static void __attribute__((noreturn)) usage(void)
{
	fprintf(stderr,
	    "usage: uload [-c CONNS] [-t THREADS] [-d SECONDS] "
	    "[-w WARMUP_S] WHERE PATH...\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	unsigned long non2xx = 0, reconnects = 0, errors = 0;
	int conns = 8, threads = 1, c, i;
	double dur = 5, warm = 1, *all;
	struct worker *w;
	struct stats st;
	size_t total = 0, k;
	char buf[1024];

	while ((c = getopt(argc, argv, "c:t:d:w:")) != -1) {
		switch (c) {
		case 'c':
			conns = atoi(optarg);
			break;
		case 't':
			threads = atoi(optarg);
			break;
		case 'd':
			dur = atof(optarg);
			break;
		case 'w':
			warm = atof(optarg);
			break;
		default:
			usage();
		}
	}
	if (argc - optind < 2 || conns < 1 || threads < 1 || threads > conns)
		usage();
	where = argv[optind];
	paths = argv + optind + 1;
	npaths = argc - optind - 1;
	reqs = calloc((size_t)npaths, sizeof(*reqs));
	reqlens = calloc((size_t)npaths, sizeof(*reqlens));
	if (reqs == NULL || reqlens == NULL)
		die("out of memory");
	for (i = 0; i < npaths; i++) {
		snprintf(buf, sizeof(buf),
		    "GET %s HTTP/1.1\r\nHost: localhost"
		    "\r\n\r\n",
		    paths[i]);
		if ((reqs[i] = strdup(buf)) == NULL)
			die("out of memory");
		reqlens[i] = strlen(buf);
	}
	signal(SIGPIPE, SIG_IGN);
	if ((w = calloc((size_t)threads, sizeof(*w))) == NULL)
		die("out of memory");
	t_start = now_ns();
	t_measure = t_start + (uint64_t)(warm * 1e9);
	t_end = t_measure + (uint64_t)(dur * 1e9);
	for (i = 0; i < threads; i++) {
		w[i].nconns = conns / threads + (i < conns % threads);
		if (pthread_create(&w[i].th, NULL, run, &w[i]) != 0)
			die("pthread_create");
	}
	for (i = 0; i < threads; i++) {
		pthread_join(w[i].th, NULL);
		total += w[i].nlat;
		non2xx += w[i].non2xx;
		reconnects += w[i].reconnects;
		errors += w[i].errors;
	}
	if ((all = malloc((total + 1) * sizeof(double))) == NULL)
		die("out of memory");
	for (k = 0, i = 0; i < threads; i++) {
		memcpy(all + k, w[i].lat, w[i].nlat * sizeof(double));
		k += w[i].nlat;
		free(w[i].lat);
	}
	stats_of(all, total, &st);
	printf(
	    "{\"requests\":%zu,\"seconds\":%.3f,\"rps\":%.1f,\"p50\":%.3f,"
	    "\"p90\":%.3f,\"p99\":%.3f,\"max\":%.3f,\"non2xx\":%lu,"
	    "\"reconnects\":%lu,\"errors\":%lu,\"conns\":%d,\"threads\":%d}\n",
	    total, dur, (double)total / dur, st.p50, st.p90, st.p99, st.max,
	    non2xx, reconnects, errors, conns, threads);
	free(all);
	free(w);
	return 0;
}
