/*
 * metrics: rumprund's counters and their Prometheus text (GET /metrics).
 *
 * The engine calls the metrics_*() hooks as things happen; they count in
 * this process (from 0 at each start of rumprund, as Prometheus expects of
 * a counter: it notices the reset).  metrics_render() writes the text
 * exposition format, version 0.0.4: these counters, gauges read from the
 * engine at that moment (instances by state and platform, backends
 * connected, event stream clients) and the guests' counters of a
 * collect.h snapshot.  Loop thread only: nothing here is atomic.
 */
#ifndef METRICS_H
#define METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "collect.h"
#include "instance.h"
#include "spec.h"

/* The Content-Type of the text. */
#define METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

struct engine;

/* A domain was created for a generation (a launch, a start, a restart). */
void metrics_launch(enum spec_platform p);

/* A generation ended in the final state s (failed and crashed count). */
void metrics_end(enum spec_platform p, enum instance_state s);

/* The restart policy launched an ended guest again. */
void metrics_restart(enum spec_platform p);

/* A guest reached main() ms milliseconds after its launch was asked for. */
void metrics_running(enum spec_platform p, int64_t ms);

/* Guests wrote n more bytes to their consoles. */
void metrics_console_bytes(uint64_t n);

/* Set every counter back to 0 (unit tests). */
void metrics_reset(void);

/*
 * The whole text, a new string (free() it) of *len bytes, or NULL when
 * out of memory.  snap may be NULL: no guest counters then.
 */
char *metrics_render(struct engine *e, const struct collect_snapshot *snap,
    size_t *len);

#endif
