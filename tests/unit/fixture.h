/*
 * fixture: scratch directory trees for the unit tests.
 *
 * A test describes its tree as a table of struct fx_node, creates it under
 * /tmp with fx_build(), names files in it with fx_path(), and removes it
 * with fx_remove().  The code is in fixture.c, which the Makefile links
 * into every test program (with the other shared fixtures, fx_*.c).
 */
#ifndef FIXTURE_H
#define FIXTURE_H

/*
 * The headers the header-only fixture.h included: the test programs came to
 * rely on them.
 */
#include <sys/stat.h>

#include <ftw.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The canonical path of the tree ("/tmp/rrtest.XXXXXX", resolved). */
extern char fx_root[PATH_MAX];

/*
 * The absolute path of rel (printf format) in the tree.  The result lives
 * in one of 16 rotating static buffers: use it before 16 more calls.
 */
const char *fx_path(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*
 * One entry of a tree: a directory ('d'), a regular file ('f') holding
 * arg, or a symlink ('l') pointing to arg, where a leading "@/" stands for
 * the tree's root.  A table of them ends with kind 0.
 */
struct fx_node {
	char kind;
	const char *path;
	const char *arg;
};

/* Create one node of the tree.  Returns 0, or -1 with a message. */
int fx_make(const struct fx_node *n);

/* Create the tree's root and the nodes.  Returns 0 or -1. */
int fx_build(const struct fx_node *nodes);

/* Remove the whole tree (symlinks are removed, never followed). */
int fx_remove(void);

#endif
