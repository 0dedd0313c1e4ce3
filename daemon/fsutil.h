/*
 * fsutil: small file-system helpers shared by the core's modules.
 */
#ifndef FSUTIL_H
#define FSUTIL_H

#include <sys/types.h>

/*
 * Create the directory path and its missing parents, as mkdir -p: the
 * parents made on the way with parent_mode, path itself with mode (both
 * before the umask).  Existing directories are left as they are.
 * Returns 0, or -1 with errno set (ENAMETOOLONG for a path of 4096 bytes
 * or more).
 */
int fsutil_mkdir_p(const char *path, mode_t parent_mode, mode_t mode);

#endif
