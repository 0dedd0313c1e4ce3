/*
 * isojobs: the ISO image builds of POST /v1/iso, on libuv's thread pool.
 *
 * The engine owns the one struct isojobs of the daemon and is its door
 * (engine_build_iso()); iso.c is the builder a job runs.  At most
 * ISOJOBS_MAX builds run at once: the pool's threads also run every
 * backend call.  isojobs_quiesce() (from engine_quiesce()) refuses new
 * builds and cancels those in progress at once: a build still queued is
 * taken off the pool, one that runs has its grub-mkrescue killed; both
 * are answered RRERR_UNAVAILABLE "rumprund is shutting down".
 *
 * Loop thread only; the worker touches only its job.
 */
#ifndef ISOJOBS_H
#define ISOJOBS_H

#include <uv.h>

#include "iso.h"
#include "rrerr.h"
#include "spec.h"

#define ISOJOBS_MAX 2

struct isojobs;

/*
 * The end of a build, on the loop thread: img (its fd is now the
 * callee's: close it) when err is NULL, else err (borrowed).  name is the
 * request's name (borrowed, for the call).
 */
typedef void isojobs_done_fn(void *arg, const char *name, struct iso_image *img,
    const struct rrerr *err);

/* The builds of loop, checked under policy (borrowed); NULL: no memory. */
struct isojobs *isojobs_new(uv_loop_t *loop, const struct spec_policy *policy);

/* Free ij; no build may be in progress (the loop has ended).  NULL ok. */
void isojobs_free(struct isojobs *ij);

/*
 * Build the ISO image of spec (platform iso; stolen) in a new temporary
 * directory under iso_tmp_base(), and call fn once, later, with arg.
 * Returns 0 then; -1 with err, fn never called, when it is refused before
 * any work: what the guest cannot receive (guestconf_build()), the
 * daemon stops or ISOJOBS_MAX builds run (RRERR_UNAVAILABLE), out of
 * memory.
 */
int isojobs_build(struct isojobs *ij, struct spec *spec, isojobs_done_fn *fn,
    void *arg, struct rrerr *err);

/* Refuse new builds from now on and cancel those in progress. */
void isojobs_quiesce(struct isojobs *ij);

#endif
