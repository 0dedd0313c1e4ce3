/*
 * events: the event stream (see events.h).
 *
 * A ring of serialized lines; the file is appended to as events come and
 * rewritten with only the kept lines once it holds twice as many.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "events.h"
#include "log.h"

struct line {
	uint64_t seq;
	char *text;
};

struct events {
	char *path;
	FILE *file;
	size_t in_file;		/* lines in the file */
	struct line *ring;
	size_t keep;
	size_t head;		/* index of the oldest */
	size_t count;
	uint64_t last;
	TAILQ_HEAD(, events_watch) watchers;
};

static void
keep_line(struct events *ev, uint64_t seq, char *text)
{
	struct line *l;

	if (ev->count == ev->keep) {
		free(ev->ring[ev->head].text);
		ev->head = (ev->head + 1) % ev->keep;
		ev->count--;
	}
	l = &ev->ring[(ev->head + ev->count) % ev->keep];
	l->seq = seq;
	l->text = text;
	ev->count++;
	ev->last = seq;
}

static void
load(struct events *ev)
{
	char *buf = NULL, *text;
	size_t cap = 0;
	json_t *e;
	ssize_t n;
	FILE *f;

	if ((f = fopen(ev->path, "re")) == NULL)
		return;
	while ((n = getline(&buf, &cap, f)) > 0) {
		e = json_loads(buf, 0, NULL);
		/* A torn last line (a crash mid-append) is skipped. */
		if (e != NULL && json_integer_value(json_object_get(e, "seq")) >
		    (json_int_t)ev->last && buf[n - 1] == '\n' &&
		    (text = strdup(buf)) != NULL)
			keep_line(ev, (uint64_t)json_integer_value(
			    json_object_get(e, "seq")), text);
		json_decref(e);
		ev->in_file++;
	}
	free(buf);
	fclose(f);
}

/* Rewrite the file with the kept lines only. */
static void
compact(struct events *ev)
{
	char tmp[4200];
	size_t i;
	FILE *f;

	snprintf(tmp, sizeof(tmp), "%s.tmp", ev->path);
	if ((f = fopen(tmp, "we")) == NULL) {
		log_warn("%s", tmp);
		return;
	}
	for (i = 0; i < ev->count; i++)
		fputs(ev->ring[(ev->head + i) % ev->keep].text, f);
	if (fflush(f) != 0 || fclose(f) != 0 || rename(tmp, ev->path) == -1) {
		log_warn("cannot rewrite %s", ev->path);
		unlink(tmp);
		return;
	}
	if (ev->file != NULL)
		fclose(ev->file);
	ev->file = fopen(ev->path, "ae");
	ev->in_file = ev->count;
}

struct events *
events_open(const char *dir, size_t keep, struct rrerr *err)
{
	struct events *ev;
	char path[4096];

	if ((ev = calloc(1, sizeof(*ev))) == NULL ||
	    (ev->ring = calloc(keep, sizeof(*ev->ring))) == NULL) {
		free(ev);
		rrerr_set(err, RRERR_INTERNAL, NULL, "out of memory");
		return NULL;
	}
	ev->keep = keep;
	TAILQ_INIT(&ev->watchers);
	snprintf(path, sizeof(path), "%s/events.jsonl", dir);
	if ((ev->path = strdup(path)) == NULL) {
		events_close(ev);
		rrerr_set(err, RRERR_INTERNAL, NULL, "out of memory");
		return NULL;
	}
	load(ev);
	if ((ev->file = fopen(path, "ae")) == NULL) {
		rrerr_set(err, RRERR_INTERNAL, NULL, "%s: %s", path,
		    strerror(errno));
		events_close(ev);
		return NULL;
	}
	return ev;
}

void
events_close(struct events *ev)
{
	size_t i;

	if (ev == NULL)
		return;
	for (i = 0; i < ev->count; i++)
		free(ev->ring[(ev->head + i) % ev->keep].text);
	if (ev->file != NULL)
		fclose(ev->file);
	free(ev->ring);
	free(ev->path);
	free(ev);
}

uint64_t
events_publish(struct events *ev, json_t *e)
{
	struct events_watch *w, *next;
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
		log_warnx("event %llu lost: out of memory",
		    (unsigned long long)seq);
		return ev->last;
	}
	free(dump);
	keep_line(ev, seq, text);
	if (ev->file != NULL) {
		fputs(text, ev->file);
		fflush(ev->file);
		if (++ev->in_file >= 2 * ev->keep)
			compact(ev);
	}
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
	const struct line *l;
	size_t i;

	if (ev->count == 0 || after >= ev->last)
		return NULL;
	/* Seqs are consecutive in the ring, so the slot can be computed. */
	l = &ev->ring[ev->head];
	i = after < l->seq ? 0 : (size_t)(after + 1 - l->seq);
	if (i >= ev->count)
		return NULL;
	l = &ev->ring[(ev->head + i) % ev->keep];
	*seq = l->seq;
	return l->text;
}

uint64_t
events_last_seq(const struct events *ev)
{
	return ev->last;
}

void
events_watch(struct events *ev, struct events_watch *w)
{
	TAILQ_INSERT_TAIL(&ev->watchers, w, link);
}

void
events_unwatch(struct events *ev, struct events_watch *w)
{
	TAILQ_REMOVE(&ev->watchers, w, link);
}
