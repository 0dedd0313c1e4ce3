/*
 * fsutil: small file-system helpers (see fsutil.h).
 */
#include <sys/stat.h>

#include <errno.h>
#include <stdio.h>

#include "fsutil.h"

int
fsutil_mkdir_p(const char *path, mode_t parent_mode, mode_t mode)
{
	char buf[4096], *p;

	if (snprintf(buf, sizeof(buf), "%s", path) >= (int)sizeof(buf)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	for (p = buf + 1; *p != '\0'; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, parent_mode) == -1 && errno != EEXIST)
			return -1;
		*p = '/';
	}
	if (mkdir(buf, mode) == -1 && errno != EEXIST)
		return -1;
	return 0;
}
