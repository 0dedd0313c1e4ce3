/*
 * collect: the guests' counters (CPU time, memory, block and network I/O),
 * read from the hypervisors in one call per backend and cached.
 *
 * A collection runs the stats op of every connected backend on libuv's
 * thread pool (on KVM one libvirt call, virDomainListGetStats, for all our
 * guests, after the list of running domains), never on the loop.  Its result, a snapshot, is kept for
 * COLLECT_MAX_AGE_MS: every request in that time (GET /metrics, GET
 * /v1/unikernels/{name}/stats, from any number of clients) is answered
 * from it, and requests that come while a collection runs wait for it, so
 * that the hypervisor is asked at most about once a second whatever the
 * load.  Loop thread only.
 */
#ifndef COLLECT_H
#define COLLECT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "backend.h"
#include "rrerr.h"
#include "spec.h"

#define COLLECT_MAX_AGE_MS 1000
/* How long a request waits for a hypervisor that does not answer. */
#define COLLECT_WAIT_MS 5000

struct engine;
struct collect;

/* What one collection found. */
struct collect_snapshot {
	int64_t time_ms;	     /* when it was taken (the calls ended) */
	struct backend_stats *stats; /* of every platform, nstats */
	size_t nstats;
	/* Per platform: whether its backend answered, else why not. */
	bool ok[SPEC_PLATFORMS_LAUNCHED];
	struct rrerr err[SPEC_PLATFORMS_LAUNCHED];
};

/*
 * The answer of collect_get(): snap is borrowed for the call (NULL when
 * out of memory).  Called on the loop thread, once.
 */
typedef void collect_fn(void *arg, const struct collect_snapshot *snap);

/*
 * A collector of e's backends, whose collections run on loop (the
 * engine's); NULL when out of memory.
 */
struct collect *collect_new(struct engine *e, uv_loop_t *loop);

/* Free c; no collection may be running (the loop has ended).  NULL ok. */
void collect_free(struct collect *c);

/*
 * Call fn with a snapshot taken at since_ms or later and at most
 * COLLECT_MAX_AGE_MS old: now when the cached one is such, else once a
 * collection (the one running, or a new one) has ended, or after
 * COLLECT_WAIT_MS with a snapshot that has no guest and says, for every
 * platform, that its backend did not answer.
 */
void collect_get(struct collect *c, int64_t since_ms, collect_fn *fn,
    void *arg);

/* The counters of domain_name in snap (borrowed), or NULL. */
const struct backend_stats *collect_find(const struct collect_snapshot *snap,
    const char *domain_name);

#endif
