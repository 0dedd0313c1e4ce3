/*
 * paths: confinement of host paths named by API callers.
 *
 * Every host file a caller attaches to a guest (the image, block devices)
 * must resolve, after following every symlink and "..", to a file strictly
 * inside one of the directories the operator configured.
 *
 * A path is checked once and only the file that was checked is used
 * afterwards: paths_open() gives a descriptor of it, opened from the
 * allowed directory without following a symlink (see paths.c), and every
 * consumer (the ISO builder, libvirt, QEMU) gets that descriptor's file,
 * never the path to resolve again.  Each launch (and each start of a new
 * generation) opens the files anew: a check is never reused.
 */
#ifndef PATHS_H
#define PATHS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rrerr.h"
#include "spec.h"

enum paths_kind {
	PATHS_REGULAR,		/* a regular file */
	PATHS_REGULAR_OR_BLOCK, /* a regular file or a block device */
};

/*
 * Resolve path (which must be absolute) and check that it names an
 * existing file of the given kind strictly inside one of the NULL-terminated
 * list dirs.  On success store the resolved path in *resolved (free() it)
 * and return 0.  On failure return -1 with err naming field:
 * RRERR_FORBIDDEN when the path lies outside every allowed directory
 * (checked first, so that callers cannot probe for files elsewhere), and
 * RRERR_INVALID when it is malformed, missing or of the wrong kind.
 */
int paths_confine(const char *path, const char *const *dirs,
    enum paths_kind kind, const char *field, char **resolved,
    struct rrerr *err);

/*
 * As paths_confine(), and on success also store in *fd (when fd is not
 * NULL; -1 otherwise) a new close-on-exec descriptor of the file that was
 * checked, opened with flags (O_RDONLY or O_RDWR, O_NONBLOCK ...), and in
 * *resolved (when not NULL) its canonical path.  A path whose directories
 * change while it is opened is refused as leading outside
 * (RRERR_FORBIDDEN), or opened as it was checked: never the file a new
 * symlink names.  A file that cannot be opened with flags (a read-only
 * file system for O_RDWR) is RRERR_INVALID.
 */
int paths_open(const char *path, const char *const *dirs, enum paths_kind kind,
    int flags, const char *field, char **resolved, int *fd, struct rrerr *err);

/* The host files of a launch, each opened by paths_open(). */
struct paths_files {
	int image;	       /* O_RDONLY */
	int blk[SPEC_BLK_MAX]; /* O_RDONLY if read-only, else O_RDWR */
	size_t nblk;
};

/*
 * Check spec's image (under policy->image_dirs) and block devices (under
 * policy->volume_dirs) again, from the paths of spec, and open them into
 * *files: writable block devices O_RDWR unless readonly_all.  The policy
 * is applied as for a new request, even when it is marked trusted.
 * Returns 0 (close them with paths_files_close()), or -1 with err naming
 * the field ("image", "blk[N].source") and nothing left open.
 */
int paths_open_spec(const struct spec *spec, const struct spec_policy *policy,
    bool readonly_all, struct paths_files *files, struct rrerr *err);

/* Close the descriptors of files (-1 entries are skipped); idempotent. */
void paths_files_close(struct paths_files *files);

/* paths_copy() looks at its cancel flag after each chunk of this size. */
#define PATHS_COPY_CHUNK (8 << 20)

/*
 * Copy the first size bytes of the file open at in (from offset 0,
 * whatever the file offset) to out (written from offset 0), stopping early
 * at the end of in: copy_file_range() (in-kernel, a reflink where the file
 * system has them), else pread()/pwrite().  *cancel (NULL: none) becoming
 * true stops it (ECANCELED).  Returns 0, or -1 with errno.  Blocking.
 */
int paths_copy(int in, int out, uint64_t size, const atomic_bool *cancel);

/* Tests only: pretend that the kernel has no openat2(). */
extern bool paths_no_openat2;

/* True when resolved (an absolute, canonical path) lies strictly inside dir. */
bool paths_inside(const char *resolved, const char *dir);

#endif
