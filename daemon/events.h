/*
 * events: the event stream (GET /v1/events).
 *
 * Every state change is published as one JSON object with a sequence
 * number ("seq": increasing, by one while rumprund runs and the disk takes
 * every event, never reused across restarts) and a time.  The last `keep`
 * events are kept in memory and in STATE/events.jsonl, so that a client can
 * resume after seq N, even across a restart of rumprund, as long as N is
 * still kept; a resume from a seq that was lost (a gap) goes on with the
 * next one kept.  A full disk delays lines on disk, never tears the file.
 * Watchers are told when an event is published.  Loop thread only.
 */
#ifndef EVENTS_H
#define EVENTS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>

#include <jansson.h>

#include "rrerr.h"
#include "watch.h"

struct events;

/* Open the stream kept in dir/events.jsonl.  NULL with err on failure. */
struct events *events_open(const char *dir, size_t keep, struct rrerr *err);
void events_close(struct events *ev);

/*
 * Publish e (stolen): "seq" and "time" are added, the line is kept and
 * appended to the file, watchers are notified.  Returns the seq.
 */
uint64_t events_publish(struct events *ev, json_t *e);

/*
 * The first kept event with seq > after, as a JSON line ending in '\n'
 * (borrowed, valid until the next publish), with its seq in *seq; NULL when
 * there is none yet.
 */
const char *events_next(struct events *ev, uint64_t after, uint64_t *seq);

/*
 * Write the events a full disk refused, if there is room now (the engine
 * calls it on its tick; a publish does it too).
 */
void events_flush(struct events *ev);

/* The seq of the newest event (0 when none). */
uint64_t events_last_seq(const struct events *ev);

void events_watch(struct events *ev, struct watch *w);
void events_unwatch(struct events *ev, struct watch *w);

/* How many watchers there are now (the event stream's clients). */
size_t events_watchers(const struct events *ev);

#endif
