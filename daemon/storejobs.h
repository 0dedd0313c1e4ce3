/*
 * storejobs: the image and volume store's blocking work on libuv's thread
 * pool, for the daemon: an upload's commit (imgstore_upload_commit()).
 *
 * It is not in imgstore.c because that file is linked into rrctl too
 * (through spec.c), which has no libuv.  Loop thread only; the worker
 * touches only its job and the upload's files.
 */
#ifndef STOREJOBS_H
#define STOREJOBS_H

#include <jansson.h>
#include <uv.h>

#include "imgstore.h"
#include "rrerr.h"

/*
 * The answer of storejobs_commit(), on the loop thread: the entry (a new
 * object, as imgstore_upload_end() gives) or NULL with err (borrowed;
 * what imgstore_upload_commit() said, or out of memory).
 */
typedef void storejobs_fn(void *arg, json_t *entry, const struct rrerr *err);

/*
 * The body of up is all in: imgstore_upload_commit() on loop's thread
 * pool, then imgstore_upload_end() on the loop, and fn.  Returns 0: up is
 * gone, and fn is called once, later.  Returns -1 with err when the commit
 * cannot be queued: up is still the caller's to end.
 */
int storejobs_commit(struct imgstore_upload *up, uv_loop_t *loop,
    storejobs_fn *fn, void *arg, struct rrerr *err);

#endif
