/*
 * fixture: scratch directory trees for the unit tests (fixture.h).
 */
#include <sys/stat.h>

#include <ftw.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fixture.h"

char fx_root[PATH_MAX];

const char *
fx_path(const char *fmt, ...)
{
	static char ring[16][2 * PATH_MAX];
	static unsigned int next;
	char *buf = ring[next++ % 16];
	size_t len;
	va_list ap;

	len = (size_t)snprintf(buf, sizeof(ring[0]), "%s/", fx_root);
	va_start(ap, fmt);
	vsnprintf(buf + len, sizeof(ring[0]) - len, fmt, ap);
	va_end(ap);
	return buf;
}

int
fx_make(const struct fx_node *n)
{
	char target[2 * PATH_MAX];
	FILE *f;
	int rv = 0;

	switch (n->kind) {
	case 'd':
		rv = mkdir(fx_path("%s", n->path), 0755);
		break;
	case 'f':
		if ((f = fopen(fx_path("%s", n->path), "w")) == NULL)
			rv = -1;
		else if (fputs(n->arg, f) == EOF || fclose(f) == EOF)
			rv = -1;
		break;
	case 'l':
		snprintf(target, sizeof(target), "%s",
		    strncmp(n->arg, "@/", 2) == 0 ? fx_path("%s", n->arg + 2) :
						    n->arg);
		rv = symlink(target, fx_path("%s", n->path));
		break;
	default:
		rv = -1;
	}
	if (rv == -1)
		perror(n->path);
	return rv;
}

int
fx_build(const struct fx_node *nodes)
{
	char tmpl[] = "/tmp/rrtest.XXXXXX";

	if (mkdtemp(tmpl) == NULL || realpath(tmpl, fx_root) == NULL) {
		perror("fixture: mkdtemp");
		return -1;
	}
	for (; nodes->kind != 0; nodes++)
		if (fx_make(nodes) == -1)
			return -1;
	return 0;
}

static int
fx_unlink_one(const char *path, const struct stat *sb, int flag,
    struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path) == -1 ? -1 : 0;
}

int
fx_remove(void)
{
	if (fx_root[0] == '\0')
		return 0;
	if (nftw(fx_root, fx_unlink_one, 16, FTW_DEPTH | FTW_PHYS) == -1) {
		perror("fixture: nftw");
		return -1;
	}
	fx_root[0] = '\0';
	return 0;
}
