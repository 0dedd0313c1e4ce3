/*
 * console: following a guest's console log (see console.h).
 */
#define _FILE_OFFSET_BITS 64

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "console.h"
#include "log.h"
#include "metrics.h"

#define LINE_MAX_SCAN 1024 /* longer lines are cut for marker matching */
#define PUNCH_ALIGN   4096

/*
 * The side index of arrival times: bytes from off on arrived at ms (at the
 * latest: when console_poll() saw them).  In memory only, for the bytes
 * seen since rumprund opened the log; at most TIMES_MAX entries, halved
 * (every other one dropped, so coarser) when full.
 */
struct arrival {
	uint64_t off;
	int64_t ms;
};

#define TIMES_MAX 8192

struct console {
	int refs;
	bool closed;
	bool ended;
	int fd;
	char *path;
	uv_fs_event_t fsev;
	bool fsev_active;    /* fsev is initialized, not closed */
	bool fsev_running;   /* ... and watches the file */
	uint64_t start;	     /* first kept byte (the punched part ends) */
	uint64_t line_start; /* the first line start at or after it */
	uint64_t size;	     /* bytes seen so far */
	uint64_t scanned;    /* bytes scanned for markers */
	uint64_t scan_from;  /* report markers of lines from here */
	uint64_t line_off;   /* offset of the line in linebuf */
	uint64_t cap;
	bool cap_warned;
	struct arrival *times; /* when bytes arrived, by offset */
	size_t ntimes;
	uint64_t untimed; /* the file's size at open: no times */
	char *linebuf;	  /* LINE_MAX_SCAN + 1 bytes while scanning */
	size_t linelen;
	console_marker_fn *fn;
	void *arg;
	struct watch_list watchers;
};

/*
 * The log's descriptor, opened again after console_rest(); -1 when that
 * fails (the file is gone: reads fail).
 */
static int
fd_of(struct console *c)
{
	if (c->fd == -1)
		c->fd = open(c->path, O_RDWR | O_CLOEXEC);
	return c->fd;
}

static void
free_console(struct console *c)
{
	if (c->fd != -1)
		close(c->fd);
	free(c->linebuf);
	free(c->path);
	free(c->times);
	free(c);
}

void
console_ref(struct console *c)
{
	c->refs++;
}

void
console_unref(struct console *c)
{
	if (c == NULL || --c->refs > 0)
		return;
	/* The fs event handle, if any, holds the last reference. */
	free_console(c);
}

static void
on_fsev_closed(uv_handle_t *h)
{
	console_unref(h->data);
}

/* Match one complete line against rumprun's markers. */
static void
match_line(struct console *c, const char *line)
{
	const char *p;
	char *end;
	long status;

	if (c->fn == NULL || c->line_off < c->scan_from)
		return;
	if (strncmp(line, "=== calling \"", 13) == 0 &&
	    strstr(line, "\" main() ===") != NULL) {
		c->fn(c->arg, CONSOLE_CALLING, 0, line);
	} else if (strncmp(line, "=== main() of \"", 15) == 0 &&
	    (p = strstr(line + 15, "\" returned ")) != NULL) {
		errno = 0;
		status = strtol(p + 11, &end, 10);
		if (errno == 0 && end != p + 11 && strncmp(end, " ===", 4) == 0)
			c->fn(c->arg, CONSOLE_RETURNED, (int)status, line);
	} else if (strcmp(line, "halted") == 0) {
		c->fn(c->arg, CONSOLE_HALTED, 0, line);
	} else if (strncmp(line, "PANIC:", 6) == 0 ||
	    strncmp(line, "panic:", 6) == 0) {
		c->fn(c->arg, CONSOLE_PANIC, 0, line);
	}
}

static void
scan(struct console *c, const char *buf, size_t n)
{
	size_t i;

	if (c->linebuf == NULL &&
	    (c->linebuf = malloc(LINE_MAX_SCAN + 1)) == NULL) {
		log_warnx("%s: out of memory: %zu bytes not scanned", c->path,
		    n);
		c->scanned += n;
		return;
	}
	for (i = 0; i < n && !c->closed; i++) {
		if (c->linelen == 0)
			c->line_off = c->scanned + i;
		if (buf[i] == '\n') {
			/* Serial lines may end in \r\n. */
			if (c->linelen > 0 &&
			    c->linebuf[c->linelen - 1] == '\r')
				c->linelen--;
			c->linebuf[c->linelen] = '\0';
			match_line(c, c->linebuf);
			c->linelen = 0;
		} else if (c->linelen < LINE_MAX_SCAN) {
			c->linebuf[c->linelen++] = buf[i];
		}
	}
	c->scanned += n;
}

/*
 * The offset after the first newline at or after off (up to to), or off
 * when there is none: where the first whole line of what is kept begins.
 */
static uint64_t
next_line(struct console *c, uint64_t off, uint64_t to)
{
	char buf[4096], *nl;
	uint64_t pos = off;
	ssize_t got;

	while (pos < to) {
		got = pread(fd_of(c), buf,
		    to - pos < sizeof(buf) ? (size_t)(to - pos) : sizeof(buf),
		    (off_t)pos);
		if (got <= 0)
			break;
		if ((nl = memchr(buf, '\n', (size_t)got)) != NULL)
			return pos + (uint64_t)(nl - buf) + 1;
		pos += (uint64_t)got;
	}
	return off;
}

/*
 * Punch the oldest bytes out once the log is over its cap.  The file keeps
 * its size: the punched part reads as NUL bytes up to start, a multiple
 * of PUNCH_ALIGN.  Readers begin at line_start, after the first newline
 * at or after start, never mid-line (a line longer than the kept half of
 * the cap, not ended yet, is the exception: it is read from start).
 */
static void
enforce_cap(struct console *c)
{
	uint64_t upto, line;

	if (c->cap == 0 || c->size - c->start <= c->cap)
		return;
	/* Keep about half the cap, on a block boundary. */
	upto = (c->size - c->cap / 2) / PUNCH_ALIGN * PUNCH_ALIGN;
	if (upto <= c->start)
		return;
	/*
	 * After the first newline, even when upto starts a line: the byte
	 * before it is gone, so console_open() can only do the same, and
	 * line_start must not change when rumprund restarts.
	 */
	line = next_line(c, upto, c->size);
	if (fallocate(fd_of(c), FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
		(off_t)c->start, (off_t)(upto - c->start)) == -1) {
		if (!c->cap_warned)
			log_warn("%s: cannot cap the console log", c->path);
		c->cap_warned = true;
		return;
	}
	c->start = upto;
	c->line_start = line;
}

static int64_t
wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Bytes from off to end arrive now (those there at open have no time). */
static void
note_arrival(struct console *c, uint64_t off, uint64_t end)
{
	size_t i, j;

	if (off < c->untimed)
		off = c->untimed;
	if (off >= end)
		return;
	metrics_console_bytes(end - off);
	if (c->times == NULL &&
	    (c->times = calloc(TIMES_MAX, sizeof(*c->times))) == NULL)
		return; /* no times: logs -t shows "-" */
	if (c->ntimes == TIMES_MAX) {
		for (i = 0, j = 0; i < c->ntimes; i += 2)
			c->times[j++] = c->times[i];
		c->ntimes = j;
	}
	c->times[c->ntimes].off = off;
	c->times[c->ntimes].ms = wall_ms();
	c->ntimes++;
}

int64_t
console_time_at(const struct console *c, uint64_t off)
{
	size_t lo = 0, hi = c->ntimes, mid;

	if (c->ntimes == 0 || off < c->times[0].off)
		return -1;
	/* The last entry at or before off. */
	while (hi - lo > 1) {
		mid = (lo + hi) / 2;
		if (c->times[mid].off <= off)
			lo = mid;
		else
			hi = mid;
	}
	return c->times[lo].ms;
}

uint64_t
console_line_since(struct console *c, int64_t ms)
{
	uint64_t off = c->size;
	char before;
	size_t i;

	for (i = 0; i < c->ntimes; i++)
		if (c->times[i].ms >= ms) {
			off = c->times[i].off;
			break;
		}
	/* The bytes before the first known time may be that recent too. */
	if (i == 0 || off <= c->line_start)
		return c->line_start;
	if (off >= c->size)
		return c->size;
	/* At a line start, or at the next one. */
	if (pread(fd_of(c), &before, 1, (off_t)(off - 1)) == 1 &&
	    before == '\n')
		return off;
	off = next_line(c, off, c->size);
	return off;
}

void
console_poll(struct console *c)
{
	struct watch *w, *next;
	char buf[16384];
	struct stat st;
	ssize_t n;

	if (c->closed || fstat(fd_of(c), &st) == -1)
		return;
	if ((uint64_t)st.st_size < c->size) {
		/* Truncated behind our back: start over from its new end. */
		log_warnx("%s: console log shrank; following from its end",
		    c->path);
		c->size = c->scanned = c->start = c->line_start =
		    (uint64_t)st.st_size;
		c->linelen = 0;
		return;
	}
	if ((uint64_t)st.st_size == c->size)
		return;
	note_arrival(c, c->size, (uint64_t)st.st_size);
	c->size = (uint64_t)st.st_size;
	if (c->scanned < c->start) {
		c->scanned = c->start;
		c->linelen = 0;
	}
	while (c->scanned < c->size && !c->closed) {
		n = pread(fd_of(c), buf, sizeof(buf), (off_t)c->scanned);
		if (n <= 0)
			break;
		scan(c, buf, (size_t)n);
	}
	if (c->closed)
		return;
	enforce_cap(c);
	for (w = TAILQ_FIRST(&c->watchers); w != NULL; w = next) {
		next = TAILQ_NEXT(w, link);
		w->notify(w);
	}
}

static void
on_fsev(uv_fs_event_t *h, const char *filename, int events, int status)
{
	(void)filename;
	(void)events;
	(void)status;
	console_poll(h->data);
}

struct console *
console_open(uv_loop_t *loop, const char *path, uint64_t scan_from,
    uint64_t cap, console_marker_fn *fn, void *arg, struct rrerr *err)
{
	struct console *c;
	struct stat st;
	int rv;

	if ((c = calloc(1, sizeof(*c))) == NULL ||
	    (c->path = strdup(path)) == NULL) {
		free(c);
		rrerr_set(err, RRERR_INTERNAL, NULL, "out of memory");
		return NULL;
	}
	c->refs = 1;
	c->fn = fn;
	c->arg = arg;
	c->cap = cap;
	c->scan_from = scan_from;
	TAILQ_INIT(&c->watchers);
	/* Read and write: enforce_cap() punches holes, which needs both. */
	c->fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0640);
	if (c->fd == -1 || fstat(c->fd, &st) == -1) {
		rrerr_set(err, RRERR_INTERNAL, NULL, "console log %s: %s", path,
		    strerror(errno));
		free_console(c);
		return NULL;
	}
	/* Start where the kept bytes start (earlier ones were punched out). */
	c->start = (uint64_t)lseek(c->fd, 0, SEEK_DATA);
	if (c->start == (uint64_t)-1)
		c->start = (uint64_t)st.st_size;
	c->scanned = c->start;
	c->untimed = (uint64_t)st.st_size;
	/* As enforce_cap() decided: after the first newline from start. */
	c->line_start = c->start == 0 ?
	    0 :
	    next_line(c, c->start, (uint64_t)st.st_size);

	/* The handle holds a reference until its close callback. */
	uv_fs_event_init(loop, &c->fsev);
	c->fsev.data = c;
	c->refs++;
	if ((rv = uv_fs_event_start(&c->fsev, on_fsev, path, 0)) == 0) {
		c->fsev_active = c->fsev_running = true;
	} else {
		/* The engine's periodic poll still follows the file. */
		log_warnx("%s: cannot watch the console log: %s", path,
		    uv_strerror(rv));
		uv_close((uv_handle_t *)&c->fsev, on_fsev_closed);
	}
	return c;
}

void
console_close(struct console *c)
{
	struct watch *w, *next;

	if (c == NULL)
		return;
	c->closed = true;
	c->ended = true;
	c->fn = NULL;
	for (w = TAILQ_FIRST(&c->watchers); w != NULL; w = next) {
		next = TAILQ_NEXT(w, link);
		w->notify(w);
	}
	if (c->fsev_active) {
		c->fsev_active = c->fsev_running = false;
		uv_fs_event_stop(&c->fsev);
		uv_close((uv_handle_t *)&c->fsev, on_fsev_closed);
	}
	console_unref(c);
}

void
console_rescan_from(struct console *c, uint64_t off)
{
	c->scan_from = off;
}

uint64_t
console_start(const struct console *c)
{
	return c->line_start;
}

uint64_t
console_end(const struct console *c)
{
	return c->size;
}

uint64_t
console_tail(struct console *c, unsigned int n)
{
	char buf[4096];
	uint64_t pos = c->size, off;
	unsigned int seen = 0;
	size_t len, i;
	ssize_t got;

	if (n == 0)
		return c->size;
	/* A last line without its newline counts as a line. */
	while (pos > c->line_start) {
		len = pos - c->line_start < sizeof(buf) ?
		    (size_t)(pos - c->line_start) :
		    sizeof(buf);
		off = pos - len;
		got = pread(fd_of(c), buf, len, (off_t)off);
		if (got != (ssize_t)len)
			return c->line_start;
		for (i = len; i > 0; i--) {
			if (buf[i - 1] != '\n' || off + i == c->size)
				continue;
			if (++seen == n)
				return off + i;
		}
		pos = off;
	}
	return c->line_start;
}

ssize_t
console_read(struct console *c, uint64_t off, char *buf, size_t max)
{
	ssize_t n;

	if (off < c->line_start)
		off = c->line_start;
	if (off >= c->size)
		return 0;
	if (max > c->size - off)
		max = (size_t)(c->size - off);
	n = pread(fd_of(c), buf, max, (off_t)off);
	return n;
}

void
console_set_ended(struct console *c, bool ended)
{
	struct watch *w, *next;

	c->ended = ended;
	if (!ended) {
		/* Watched again after console_rest(). */
		if (c->fsev_active && !c->fsev_running && !c->closed &&
		    uv_fs_event_start(&c->fsev, on_fsev, c->path, 0) == 0)
			c->fsev_running = true;
		return;
	}
	/* Catch the last bytes before followers decide they are done. */
	console_poll(c);
	for (w = TAILQ_FIRST(&c->watchers); w != NULL; w = next) {
		next = TAILQ_NEXT(w, link);
		w->notify(w);
	}
}

void
console_rest(struct console *c)
{
	if (c == NULL || c->closed || !c->ended)
		return;
	if (c->fsev_running) {
		uv_fs_event_stop(&c->fsev);
		c->fsev_running = false;
	}
	if (c->fd != -1) {
		close(c->fd);
		c->fd = -1;
	}
	/* No line half scanned: the buffer comes back when one is. */
	if (c->linelen == 0) {
		free(c->linebuf);
		c->linebuf = NULL;
	}
}

bool
console_ended(const struct console *c)
{
	return c->ended;
}

void
console_watch(struct console *c, struct watch *w)
{
	TAILQ_INSERT_TAIL(&c->watchers, w, link);
}

void
console_unwatch(struct console *c, struct watch *w)
{
	TAILQ_REMOVE(&c->watchers, w, link);
}
