/*
 * imgstore: the image and volume store (PUT /v1/images/NAME, /v1/volumes).
 *
 * A directory that rumprund owns (store_dir, 0700) holds what API callers
 * uploaded, so that a client without access to the host's files can launch
 * a unikernel ("image": "store:NAME") and attach a disk ("source":
 * "volume:NAME").  Layout, under DIR/images and DIR/volumes alike:
 *
 *   NAME.json        the entry: {"name", "sha256", "size", "created",
 *                    "file"}; an entry exists when (and only when) this
 *                    file does, so it becomes visible with one rename
 *   .blob-XXXXXXXX   its data (16 random hex digits; never reused, so a
 *                    replaced entry's old data stays what a running guest
 *                    has open, and nothing is overwritten in place)
 *   .up-XXXXXXXX     an upload in progress (removed if it fails)
 *
 * DIR/copies/INSTANCE/blkN is an instance's own writable copy of a volume
 * (blk "copy": true): made at its first launch (a reflink where the file
 * system has them, else a copy), kept across its restarts, removed with
 * the instance.
 *
 * An upload streams: each piece of the body is written to the .up- file
 * and hashed (SHA-256, GnuTLS) as it comes; imgstore_upload_commit() then
 * fsyncs it, checks the digest the client announced, renames it to a
 * .blob- name, writes NAME.json (temp file, fsync, rename, fsync of the
 * directory) and only then removes the data the entry had before.  A crash
 * at any point leaves the old entry or the new one; what no entry names
 * (.up- files, .blob- files of a half-done commit) is removed at open.
 *
 * Threads: the struct imgstore (the uploads in progress, the quota's
 * running count) is the loop thread's.  imgstore_upload_commit(),
 * imgstore_resolve() and imgstore_copy() touch only files and may run on a
 * worker (they block; storejobs.c runs the commit there).
 */
#ifndef IMGSTORE_H
#define IMGSTORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "rrerr.h"

enum imgstore_kind {
	IMGSTORE_IMAGE,	 /* DIR/images, "store:NAME" */
	IMGSTORE_VOLUME, /* DIR/volumes, "volume:NAME" */
};

#define IMGSTORE_IMAGE_PREFIX  "store:"
#define IMGSTORE_VOLUME_PREFIX "volume:"
#define IMGSTORE_NAME_MAX      63 /* as instance names (SPEC_NAME_MAX) */
#define IMGSTORE_HEX_LEN       64 /* a SHA-256 in hex */

struct imgstore_limits {
	uint64_t max_size;  /* bytes per image or volume; 0: no limit */
	uint64_t max_total; /* bytes of all of them; 0: no limit */
};

struct imgstore;
struct imgstore_upload;

/*
 * Open the store under dir (absolute; made 0700 with its subdirectories
 * when missing) and remove what no entry names.  Returns a new store, or
 * NULL with err.
 */
struct imgstore *imgstore_open(const char *dir,
    const struct imgstore_limits *limits, struct rrerr *err);
/* Free st (uploads in progress must be over); NULL is fine. */
void imgstore_close(struct imgstore *st);
/* The quotas, and the bytes the entries hold now. */
const struct imgstore_limits *imgstore_limits(const struct imgstore *st);
uint64_t imgstore_used(const struct imgstore *st);
/* The store's directory (borrowed). */
const char *imgstore_dir(const struct imgstore *st);

/* "image" or "volume", and the path segment "images" or "volumes". */
const char *imgstore_kind_name(enum imgstore_kind kind);

/* Pure helpers (unit tested). */

/* True when name is a store name: as an instance's ([a-z0-9][a-z0-9_.-]*). */
bool imgstore_name_ok(const char *name);

/*
 * If ref is a store reference of kind ("store:NAME" for images,
 * "volume:NAME" for volumes), return its NAME (borrowed from ref); else
 * NULL.  The name is not checked.
 */
const char *imgstore_ref_name(const char *ref, enum imgstore_kind kind);

/*
 * Check a digest a client sent (64 hex digits, either case, optionally
 * prefixed "sha256:") and store it in lower case in hex (65 bytes).
 * Returns 0, or -1 with err (RRERR_BAD_REQUEST naming field).
 */
int imgstore_parse_digest(const char *s, const char *field, char *hex,
    struct rrerr *err);

/*
 * Parse an entry's JSON text (NAME.json) into a new object with name,
 * sha256, size, created and file, all checked.  Returns NULL with err
 * (RRERR_INTERNAL) when it is not one.
 */
json_t *imgstore_entry_parse(const char *text, struct rrerr *err);

/* Reading. */

/*
 * The entries of kind, in name order: a new array of objects {name,
 * sha256, size, created} (file left out), only those with digest sha256
 * when it is not NULL.  NULL when out of memory.
 */
json_t *imgstore_list(struct imgstore *st, enum imgstore_kind kind,
    const char *sha256);

/* One entry (new object as in the list), or NULL with err (404). */
json_t *imgstore_get(struct imgstore *st, enum imgstore_kind kind,
    const char *name, struct rrerr *err);

/*
 * Remove an entry: its NAME.json, then its data.  Running guests keep
 * the file they have open.  Returns 0, or -1 with err (404, 409 while an
 * upload of the name is in progress).
 */
int imgstore_delete(struct imgstore *st, enum imgstore_kind kind,
    const char *name, struct rrerr *err);

/* Uploads. */

/*
 * Start an upload of name.  length is the announced body size, or -1 when
 * unknown (chunked); sha256 (lower-case hex, or NULL) the digest the
 * client announced.  Refused with err: RRERR_INVALID (name), RRERR_CONFLICT
 * (another upload of name is in progress: the first one wins),
 * RRERR_TOO_LARGE (length over a quota), RRERR_NO_SPACE or
 * RRERR_INTERNAL (the temp file).  Returns the upload (loop thread).
 */
struct imgstore_upload *imgstore_upload_begin(struct imgstore *st,
    enum imgstore_kind kind, const char *name, int64_t length,
    const char *sha256, struct rrerr *err);

/*
 * Write the next len bytes of the body.  Returns 0, or -1 with err:
 * RRERR_TOO_LARGE (a quota), RRERR_NO_SPACE (the disk is full),
 * RRERR_INTERNAL; then abort the upload.
 */
int imgstore_upload_write(struct imgstore_upload *up, const void *buf,
    size_t len, struct rrerr *err);

/*
 * The body is all in: fsync, check the length and digest announced
 * (RRERR_BAD_REQUEST naming the field on a mismatch), and make the entry
 * visible.  Blocking, touches only files: run it on a worker, then call
 * imgstore_upload_end() on the loop whatever it returned.
 */
int imgstore_upload_commit(struct imgstore_upload *up, struct rrerr *err);

/*
 * Free up (loop thread): after a successful commit, return its entry (a
 * new object as imgstore_get() gives); otherwise remove what it wrote and
 * return NULL.  NULL is fine.
 */
json_t *imgstore_upload_end(struct imgstore_upload *up);

/* Bytes written so far. */
uint64_t imgstore_upload_size(const struct imgstore_upload *up);

/* Launching (any thread: files only). */

/*
 * The path of name's data under dir (the store's directory), read from its
 * entry now: a new string, or NULL with err (RRERR_INVALID naming field:
 * no such entry).
 */
char *imgstore_resolve(const char *dir, enum imgstore_kind kind,
    const char *name, const char *field, struct rrerr *err);

/*
 * True when dir holds an entry name of kind (a quick check of a launch
 * request; the launch resolves it again).
 */
bool imgstore_exists(const char *dir, enum imgstore_kind kind,
    const char *name);

/*
 * Instance's own copy of the volume open at src, its block device index:
 * DIR/copies/INSTANCE/blkINDEX, made from src when missing (FICLONE, else
 * a copy, then fsync and rename).  Returns its path (new string; open it
 * with paths_open() beneath imgstore_copies_dir()), or NULL with err
 * naming field.
 */
char *imgstore_copy(const char *dir, const char *instance, size_t index,
    int src, const char *field, struct rrerr *err);

/* The path of instance's copy of block device index: a new string. */
char *imgstore_copy_path(const char *dir, const char *instance, size_t index);

/* DIR/copies into buf; returns buf. */
const char *imgstore_copies_dir(const char *dir, char *buf, size_t size);
/* DIR/images or DIR/volumes into buf; returns buf. */
const char *imgstore_kind_dir(const char *dir, enum imgstore_kind kind,
    char *buf, size_t size);

/* Remove instance's copies (when it is removed, or made anew). */
void imgstore_forget_instance(const char *dir, const char *instance);

#endif
