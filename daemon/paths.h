/*
 * paths: confinement of host paths named by API callers.
 *
 * Every host file a caller attaches to a guest (the image, block devices)
 * must resolve, after following every symlink and "..", to a file strictly
 * inside one of the directories the operator configured.
 */
#ifndef PATHS_H
#define PATHS_H

#include <stdbool.h>

#include "rrerr.h"

enum paths_kind {
	PATHS_REGULAR,		/* a regular file */
	PATHS_REGULAR_OR_BLOCK,	/* a regular file or a block device */
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

/* True when resolved (an absolute, canonical path) lies strictly inside dir. */
bool paths_inside(const char *resolved, const char *dir);

#endif
