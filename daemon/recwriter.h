/*
 * recwriter: the instances' records written off the loop thread.
 *
 * Every record write is an fsync'd file replacement (store.c): a few ms on
 * this kind of disk, much more on a busy one, and three per launch.  On
 * the loop thread they held up every answer and event meanwhile.  Here
 * one thread writes them: the loop queues a record's text and goes on;
 * the thread takes everything queued at once and writes it with one
 * fsync of the directory for the lot (store_put_batch()); the loop hears
 * of each write (done, or failed and why) from a uv_async, in the order
 * they were queued.
 *
 * Order: one thread, one batch at a time, so the writes of a record land
 * in the order they were queued.  A write queued for a key (the instance)
 * whose earlier write has not started yet replaces it: the newer text is
 * all that matters, and it is answered once, with the newer seq.
 *
 * The engine answers a launch (or a stop) only once the record that says
 * so is on disk (engine.c: resolve_waiters()).
 */
#ifndef RECWRITER_H
#define RECWRITER_H

#include <stdint.h>

#include <uv.h>

#include "rrerr.h"
#include "store.h"

struct recwriter;

/*
 * A write is over, on the loop thread: rv 0, or -1 with message (a
 * store_put()-like sentence).
 */
typedef void recwriter_done_fn(void *arg, void *key, uint64_t seq, int rv,
    const char *message);

/* Start the thread.  NULL with err when it cannot. */
struct recwriter *recwriter_open(uv_loop_t *loop, struct store *st,
    recwriter_done_fn *fn, void *arg, struct rrerr *err);

/*
 * Queue text (malloc'ed, stolen) as name's record for key.  Returns 1 when
 * queued as a new write, 0 when it replaced key's queued write (one
 * answer for both), -1 when out of memory (text freed, nothing queued).
 */
int recwriter_put(struct recwriter *w, void *key, const char *name, char *text,
    uint64_t seq);

/*
 * Wait for every write queued so far and answer them now, before this
 * returns (a blocking call: for what must be in order with a write done
 * here, and for the end).
 */
void recwriter_sync(struct recwriter *w);

/* No more answers through the loop (its uv_async is closed): the end. */
void recwriter_quiesce(struct recwriter *w);

/*
 * Wait for the writes queued, stop the thread, free w (no answers).  After
 * recwriter_quiesce() and the loop's last run; NULL is fine.
 */
void recwriter_close(struct recwriter *w);

#endif
