/*
 * benchlib: what the benchmark programs of bench/ share.
 *
 * - now_ns(): CLOCK_MONOTONIC in nanoseconds; every time a benchmark
 *   reports is a difference of two of these, taken in the same process.
 * - stats: min, median, p90, p99 (nearest rank), max and mean of a sample.
 * - http: a tiny HTTP/1.1 client over a unix socket or TCP, one request
 *   per connection (as rrctl does), plus a reader of chunked streams
 *   (GET .../logs?follow=true, GET /v1/events).
 * - logwatch: one thread with an inotify watch on a directory of console
 *   logs; for each file it is told to expect, it notes when the first byte
 *   appeared and when a marker string (`=== calling "rrguest" main() ===`)
 *   did.  The same watcher times rumprund's guests, the direct libvirt
 *   program's and raw QEMU's, so the three are measured the same way.
 *
 * Results go to stdout as one JSON object per line, for bench/bench.py.
 */
#ifndef BENCHLIB_H
#define BENCHLIB_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

uint64_t now_ns(void);

/*
 * Wait on cond (lock held) for at most 50 ms: callers recheck their
 * condition and their own deadline, which runs on CLOCK_MONOTONIC while a
 * default condvar times out on CLOCK_REALTIME.
 */
void cond_wait_short(pthread_cond_t *cond, pthread_mutex_t *lock);
double ms_between(uint64_t from, uint64_t to);

struct stats {
	size_t n;
	double min, p50, p90, p99, max, mean;
};

/* Sorts v (n values) and fills s; n == 0 gives zeros. */
void stats_of(double *v, size_t n, struct stats *s);

/* Exit with a message (printf format) and errno's text when set. */
void die(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));

/* Where the daemon listens: a unix socket path or "tcp:HOST:PORT". */
int http_connect(const char *where);

struct http_resp {
	int status;
	char *body; /* NUL-terminated, malloc'd */
	size_t len;
};

/*
 * One request on a fresh connection ("Connection: close").  Returns 0 and
 * fills r (free r->body), or -1 on a transport error.
 */
int http_request(const char *where, const char *method, const char *path,
    const char *body, struct http_resp *r);

/*
 * A streaming GET: connect, send, read the status line and headers.
 * Returns the fd (blocking) with *status set, or -1.  Then call
 * http_stream_read() for body bytes (chunked decoding done).
 */
struct http_stream {
	int fd;
	int status;
	bool chunked;
	char buf[65536];
	size_t have, pos;
	size_t chunk_left; /* bytes left in the current chunk */
	bool ended;
};

int http_stream_open(struct http_stream *s, const char *where,
    const char *path);
/* Up to max body bytes into out; 0 at the end, -1 on error. */
ssize_t http_stream_read(struct http_stream *s, char *out, size_t max);
void http_stream_close(struct http_stream *s);

/* The console log watcher. */
enum {
	LW_FIRST_BYTE = 1,
	LW_MARKER = 2,
};

struct logwatch;

struct logwatch *logwatch_start(const char *dir, const char *marker);
/* Track dir/name from now on (before the launch that writes it). */
void logwatch_expect(struct logwatch *lw, const char *name);
/*
 * Wait until what (LW_FIRST_BYTE or LW_MARKER) happened to name, at most
 * until deadline (now_ns() scale).  Returns 0 with *t the time it was
 * seen, or -1 on timeout.
 */
int logwatch_wait(struct logwatch *lw, const char *name, int what,
    uint64_t deadline, uint64_t *t);
/* Forget name (its file may be reused). */
void logwatch_forget(struct logwatch *lw, const char *name);
void logwatch_stop(struct logwatch *lw);

/* Process CPU time (user + system) of pid in ms, from /proc; -1 if gone. */
double proc_cpu_ms(int pid);
/* Resident set size of pid in KiB, from /proc; -1 if gone. */
long proc_rss_kib(int pid);

#endif
