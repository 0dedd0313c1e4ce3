/*
 * events: the event stream (see events.h).
 *
 * A ring of serialized lines in memory, and STATE/events.jsonl on disk.
 * Contracts: the file only ever holds whole lines, also on a full disk; a
 * seq is never given out twice, also across a kill -9 (STATE/events.seq
 * holds a mark no seq exceeds); a since= in a gap resumes at the next
 * kept event.
 *
 * ARCHITECTURE.md, "The event stream", says how.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "events.h"
#include "log.h"

#define SEQ_RESERVE   1000
#define SEQ_LEN	      21  /* "%020" PRIu64 "\n" */
#define COMPACT_RETRY 100 /* lines appended before compacting again */

struct line {
	uint64_t seq;
	char *text;
	bool on_disk;
};

struct events {
	char *path;	   /* STATE/events.jsonl */
	char *seq_path;	   /* STATE/events.seq */
	int fd;		   /* O_APPEND, or -1 */
	off_t size;	   /* of the file: whole lines only */
	bool torn;	   /* the file ends in a fragment that stays */
	bool full;	   /* the last write failed (said once) */
	bool seq_failed;   /* the last mark could not be kept (said once) */
	size_t in_file;	   /* lines in the file */
	size_t compact_at; /* compact when in_file reaches this */
	size_t unwritten;  /* the newest lines of the ring not on disk */
	struct line *ring;
	size_t keep;
	size_t head; /* index of the oldest */
	size_t count;
	uint64_t last; /* the last seq given out */
	uint64_t mark; /* H: no seq above it was given out */
	struct watch_list watchers;
	size_t nwatchers;
};

static struct line *
at(struct events *ev, size_t i)
{
	return &ev->ring[(ev->head + i) % ev->keep];
}

static void
keep_line(struct events *ev, uint64_t seq, char *text, bool on_disk)
{
	struct line *l;

	if (ev->count == ev->keep) {
		l = at(ev, 0);
		/* Dropped before it could be written: a gap in the file. */
		if (!l->on_disk)
			ev->unwritten--;
		free(l->text);
		ev->head = (ev->head + 1) % ev->keep;
		ev->count--;
	}
	l = at(ev, ev->count);
	l->seq = seq;
	l->text = text;
	l->on_disk = on_disk;
	ev->count++;
	if (!on_disk)
		ev->unwritten++;
}

/*
 * Keep H = mark in events.seq (opened for the write only: it happens once
 * per SEQ_RESERVE events).  -1 with errno when it could not.
 */
static int
write_mark(struct events *ev, uint64_t mark)
{
	char buf[SEQ_LEN + 1];
	ssize_t n;
	int fd, rv = -1, saved;

	fd = open(ev->seq_path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	if (fd == -1)
		return -1;
	snprintf(buf, sizeof(buf), "%020" PRIu64 "\n", mark);
	n = pwrite(fd, buf, SEQ_LEN, 0);
	if (n == SEQ_LEN)
		rv = fdatasync(fd);
	else if (n >= 0)
		errno = ENOSPC;
	saved = errno;
	close(fd);
	errno = saved;
	return rv;
}

/* Make sure seq may be given out: H >= seq, kept on disk when possible. */
static void
reserve(struct events *ev, uint64_t seq)
{
	uint64_t mark = seq + SEQ_RESERVE - 1;

	if (seq <= ev->mark)
		return;
	if (write_mark(ev, mark) == -1) {
		/* Given out all the same: a state change cannot wait. */
		if (!ev->seq_failed)
			log_warn("%s: cannot keep the sequence mark; a crash "
				 "now could reuse seq numbers",
			    ev->seq_path);
		ev->seq_failed = true;
		return;
	}
	if (ev->seq_failed)
		log_info("%s: sequence mark kept again", ev->seq_path);
	ev->seq_failed = false;
	ev->mark = mark;
}

/* H from events.seq, or 0 when there is none. */
static uint64_t
read_mark(struct events *ev)
{
	char buf[SEQ_LEN + 1];
	uint64_t v = 0;
	ssize_t n;
	size_t i;
	int fd;

	if ((fd = open(ev->seq_path, O_RDONLY | O_CLOEXEC)) == -1)
		return 0;
	n = read(fd, buf, SEQ_LEN);
	close(fd);
	if (n <= 0)
		return 0;
	for (i = 0; i < (size_t)n && buf[i] >= '0' && buf[i] <= '9'; i++)
		v = v * 10 + (uint64_t)(buf[i] - '0');
	if (n != SEQ_LEN || i != SEQ_LEN - 1 || buf[SEQ_LEN - 1] != '\n') {
		/* Unknown: assume the worst a crash could have left. */
		log_warnx("%s: not a sequence mark; skipping %d numbers",
		    ev->seq_path, SEQ_RESERVE);
		return UINT64_MAX;
	}
	return v;
}

/* Read the file into the ring, and cut a torn tail. */
static void
load(struct events *ev)
{
	char *buf = NULL, *p, *nl, *text;
	size_t cap = 0, len = 0;
	json_int_t seq;
	bool eof = false;
	json_t *e;
	ssize_t n;
	int fd;

	if ((fd = open(ev->path, O_RDONLY | O_CLOEXEC)) == -1)
		return;
	for (;;) {
		if (len == cap) {
			cap = cap != 0 ? 2 * cap : 65536;
			if ((p = realloc(buf, cap)) == NULL)
				break;
			buf = p;
		}
		n = read(fd, buf + len, cap - len);
		if (n <= 0) {
			eof = n == 0;
			break;
		}
		len += (size_t)n;
	}
	close(fd);
	/* Only what was read to its end can have a torn tail. */
	if (!eof)
		log_warn("%s: read only %zu bytes", ev->path, len);
	for (p = buf; p != NULL && p < buf + len; p = nl + 1) {
		if ((nl = memchr(p, '\n', (size_t)(buf + len - p))) == NULL) {
			if (!eof)
				break;
			log_warnx("%s: a torn last line (%zu bytes) cut off",
			    ev->path, (size_t)(buf + len - p));
			if (truncate(ev->path, p - buf) == -1)
				ev->torn = true;
			break;
		}
		ev->in_file++;
		if ((e = json_loadb(p, (size_t)(nl - p), 0, NULL)) == NULL)
			continue;
		seq = json_integer_value(json_object_get(e, "seq"));
		json_decref(e);
		if (seq <= 0 || (uint64_t)seq <= ev->last)
			continue;
		if ((text = strndup(p, (size_t)(nl + 1 - p))) == NULL)
			continue;
		keep_line(ev, (uint64_t)seq, text, true);
		ev->last = (uint64_t)seq;
	}
	free(buf);
}

/*
 * Append text (a whole line) to the file with one write(), or leave the
 * file as it was.  -1 with errno when it could not.
 */
static int
append(struct events *ev, const char *text)
{
	size_t len = strlen(text);
	ssize_t n;
	int saved;

	if (ev->fd == -1) {
		errno = EBADF;
		return -1;
	}
	if (ev->torn) {
		if (write(ev->fd, "\n", 1) != 1)
			return -1;
		ev->torn = false;
		ev->in_file++;
		ev->size = lseek(ev->fd, 0, SEEK_END);
	}
	n = write(ev->fd, text, len);
	if (n == (ssize_t)len) {
		ev->size += (off_t)len;
		ev->in_file++;
		return 0;
	}
	saved = n == -1 ? errno : ENOSPC;
	if (n > 0 && ftruncate(ev->fd, ev->size) == -1)
		ev->torn = true;
	errno = saved;
	return -1;
}

/*
 * Rewrite the file with the kept lines only, all of them on disk then: a
 * new file, synced, renamed over the old one.  Its descriptor is opened
 * before the rename, so the one appended to is the one renamed.
 */
static void
compact(struct events *ev)
{
	char tmp[4200];
	size_t i, len;
	int fd;

	snprintf(tmp, sizeof(tmp), "%s.tmp", ev->path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC,
	    0600);
	if (fd == -1)
		goto fail;
	for (i = 0; i < ev->count; i++) {
		len = strlen(at(ev, i)->text);
		if (write(fd, at(ev, i)->text, len) != (ssize_t)len) {
			if (errno == 0)
				errno = ENOSPC;
			goto fail;
		}
	}
	if (fsync(fd) == -1 || rename(tmp, ev->path) == -1)
		goto fail;
	if (ev->fd != -1)
		close(ev->fd);
	ev->fd = fd;
	ev->size = lseek(fd, 0, SEEK_END);
	ev->torn = false;
	for (i = 0; i < ev->count; i++)
		at(ev, i)->on_disk = true;
	ev->unwritten = 0;
	ev->in_file = ev->count;
	ev->compact_at = 2 * ev->keep;
	return;

fail:
	if (!ev->full)
		log_warn("cannot rewrite %s", ev->path);
	if (fd != -1)
		close(fd);
	unlink(tmp);
	ev->compact_at = ev->in_file + COMPACT_RETRY;
}

void
events_flush(struct events *ev)
{
	struct line *l;

	while (ev->unwritten > 0) {
		l = at(ev, ev->count - ev->unwritten);
		if (append(ev, l->text) == -1) {
			if (!ev->full)
				log_warn(
				    "%s: cannot append event %" PRIu64
				    "; it is kept in memory until there is room",
				    ev->path, l->seq);
			ev->full = true;
			return;
		}
		l->on_disk = true;
		ev->unwritten--;
		if (ev->full)
			log_info("%s: appending again", ev->path);
		ev->full = false;
	}
	if (ev->in_file >= ev->compact_at)
		compact(ev);
}

struct events *
events_open(const char *dir, size_t keep, struct rrerr *err)
{
	struct events *ev;
	uint64_t mark;

	if ((ev = calloc(1, sizeof(*ev))) == NULL ||
	    (ev->ring = calloc(keep, sizeof(*ev->ring))) == NULL) {
		free(ev);
		rrerr_set(err, RRERR_INTERNAL, NULL, "out of memory");
		return NULL;
	}
	ev->keep = keep;
	ev->fd = -1;
	ev->compact_at = 2 * keep;
	TAILQ_INIT(&ev->watchers);
	if (asprintf(&ev->path, "%s/events.jsonl", dir) == -1 ||
	    asprintf(&ev->seq_path, "%s/events.seq", dir) == -1) {
		ev->path = ev->seq_path = NULL;
		events_close(ev);
		rrerr_set(err, RRERR_INTERNAL, NULL, "out of memory");
		return NULL;
	}
	load(ev);
	mark = read_mark(ev);
	if (mark == UINT64_MAX)
		mark = ev->last + SEQ_RESERVE;
	if (mark > ev->last)
		ev->last = mark;
	/*
	 * Have the mark's file (and its block) now, while there may be room:
	 * later marks are rewritten in place, which a full disk allows.
	 */
	if (write_mark(ev, ev->last) == -1)
		log_warn("%s", ev->seq_path);
	ev->mark = ev->last;
	ev->fd = open(ev->path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC,
	    0600);
	if (ev->fd == -1 || fchmod(ev->fd, 0600) == -1) {
		rrerr_set(err, RRERR_INTERNAL, NULL, "%s: %s", ev->path,
		    strerror(errno));
		events_close(ev);
		return NULL;
	}
	ev->size = lseek(ev->fd, 0, SEEK_END);
	return ev;
}

void
events_close(struct events *ev)
{
	size_t i;

	if (ev == NULL)
		return;
	/* A clean stop: the next start goes on at last + 1. */
	if (ev->fd != -1) {
		events_flush(ev);
		if (ev->last > 0 && ev->last != ev->mark &&
		    write_mark(ev, ev->last) == -1)
			log_warn("%s", ev->seq_path);
	}
	for (i = 0; i < ev->count; i++)
		free(at(ev, i)->text);
	if (ev->fd != -1)
		close(ev->fd);
	free(ev->ring);
	free(ev->path);
	free(ev->seq_path);
	free(ev);
}

uint64_t
events_publish(struct events *ev, json_t *e)
{
	struct watch *w, *next;
	struct timeval tv;
	char stamp[40], *dump, *text;
	struct tm tm;
	uint64_t seq = ev->last + 1;
	size_t len;

	gettimeofday(&tv, NULL);
	gmtime_r(&tv.tv_sec, &tm);
	len = strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(stamp + len, sizeof(stamp) - len, ".%03ldZ",
	    (long)(tv.tv_usec / 1000));
	json_object_set_new(e, "seq", json_integer((json_int_t)seq));
	json_object_set_new(e, "time", json_string(stamp));
	dump = json_dumps(e, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(e);
	if (dump == NULL || asprintf(&text, "%s\n", dump) == -1) {
		free(dump);
		log_warnx("event %" PRIu64 " lost: out of memory", seq);
		return ev->last;
	}
	free(dump);
	reserve(ev, seq);
	ev->last = seq;
	keep_line(ev, seq, text, false);
	events_flush(ev);
	/* A watcher may unwatch itself from notify(), none other. */
	for (w = TAILQ_FIRST(&ev->watchers); w != NULL; w = next) {
		next = TAILQ_NEXT(w, link);
		w->notify(w);
	}
	return seq;
}

const char *
events_next(struct events *ev, uint64_t after, uint64_t *seq)
{
	size_t lo = 0, hi = ev->count, mid;
	struct line *l;

	if (ev->count == 0 || after >= at(ev, ev->count - 1)->seq)
		return NULL;
	/* Seqs increase along the ring, with gaps: the first one > after. */
	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (at(ev, mid)->seq <= after)
			lo = mid + 1;
		else
			hi = mid;
	}
	l = at(ev, lo);
	*seq = l->seq;
	return l->text;
}

uint64_t
events_last_seq(const struct events *ev)
{
	return ev->last;
}

void
events_watch(struct events *ev, struct watch *w)
{
	TAILQ_INSERT_TAIL(&ev->watchers, w, link);
	ev->nwatchers++;
}

void
events_unwatch(struct events *ev, struct watch *w)
{
	TAILQ_REMOVE(&ev->watchers, w, link);
	ev->nwatchers--;
}

size_t
events_watchers(const struct events *ev)
{
	return ev->nwatchers;
}
