/*
 * store: one JSON record per instance under the state directory.
 *
 * Layout: STATE/owner (this daemon's id, made once), STATE/instances/NAME.json.
 * Records are written atomically (temp file, fsync, rename, fsync of the
 * directory): after a crash a record is either the old one or the new one,
 * never half of each.  A record that cannot be parsed at start is moved
 * aside as NAME.json.broken and reported, not silently dropped.
 */
#ifndef STORE_H
#define STORE_H

#include <jansson.h>

#include "rrerr.h"

struct store;

/*
 * Open (creating it when needed) the store under dir.  Returns a new store
 * or NULL with err.
 */
struct store *store_open(const char *dir, struct rrerr *err);
void store_close(struct store *st);

/* This daemon's owner id: 32 hex digits, stable across restarts. */
const char *store_owner(const struct store *st);

/*
 * Write rec (borrowed) as name's record.  On failure (a full disk, say)
 * the previous record, if any, is intact and err says why:
 * RRERR_UNAVAILABLE.
 */
int store_put(struct store *st, const char *name, json_t *rec,
    struct rrerr *err);

/*
 * Atomically write text as the file name of the state directory dir (not
 * a record: STATE/boot_id, say).  -1 with errno.
 */
int store_put_file(const char *dir, const char *name, const char *text);

/* Remove name's record; a missing record is success. */
int store_delete(struct store *st, const char *name, struct rrerr *err);

typedef void store_load_fn(void *arg, const char *name, json_t *rec);

/*
 * Call fn for every record (rec is borrowed for the call), in name order.
 * Returns the number of records that had to be moved aside as broken.
 */
int store_load(struct store *st, store_load_fn *fn, void *arg);

#endif
