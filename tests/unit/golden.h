/*
 * golden: golden-file helpers for the unit tests.
 *
 * Header-only (static functions); it builds on fixture.h and expects
 * cmocka.
 *
 * A golden test lists its cases (golden_list()) under $RR_SRCDIR/tests/golden
 * (golden_dir(); "." when RR_SRCDIR is unset) and reads each request with
 * golden_request(), which puts the images/ and volumes/ directories of the
 * test's scratch tree (golden_build(), golden_setup()) in for "@IMAGES@" and
 * "@VOLUMES@" and makes the files named after them; golden_policy() allows
 * those directories.  golden_compare() puts the placeholders back in the
 * actual output and compares it with the expected file or, when
 * RR_GOLDEN_UPDATE is 1, rewrites the expected file instead (read the diff
 * before a commit).
 */
#ifndef GOLDEN_H
#define GOLDEN_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <sys/stat.h>

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fixture.h"
#include "sbuf.h"
#include "spec.h"

/* The directories that "@IMAGES@" and "@VOLUMES@" stand for. */
static char golden_imagedir[PATH_MAX];
static char golden_volumedir[PATH_MAX];

/*
 * Make the scratch tree (fixture.h): its images/ and volumes/, then the
 * nodes of extra (NULL for none).  Returns 0, or -1 with a message.
 */
static __attribute__((unused)) int
golden_build(const struct fx_node *extra)
{
	static const struct fx_node dirs[] = {
		{ 'd', "images", NULL },
		{ 'd', "volumes", NULL },
		{ 0, NULL, NULL },
	};

	if (fx_build(dirs) == -1)
		return -1;
	for (; extra != NULL && extra->kind != 0; extra++)
		if (fx_make(extra) == -1)
			return -1;
	snprintf(golden_imagedir, sizeof(golden_imagedir), "%s",
	    fx_path("images"));
	snprintf(golden_volumedir, sizeof(golden_volumedir), "%s",
	    fx_path("volumes"));
	return 0;
}

/* A cmocka setup function: golden_build() without extra nodes. */
static __attribute__((unused)) int
golden_setup(void **state)
{
	(void)state;
	return golden_build(NULL);
}

/* A cmocka teardown function: remove the scratch tree.  Returns 0 or -1. */
static __attribute__((unused)) int
golden_teardown(void **state)
{
	(void)state;
	golden_imagedir[0] = '\0';
	golden_volumedir[0] = '\0';
	return fx_remove();
}

/*
 * The directory of the golden files.  The result lives in a static buffer
 * and is the same at every call; it is kept short (512 bytes) so that the
 * tests can add a subdirectory and a file name in buffers of 1024.
 */
static __attribute__((unused)) const char *
golden_dir(void)
{
	static char dir[512];
	const char *src = getenv("RR_SRCDIR");

	snprintf(dir, sizeof(dir), "%s/tests/golden", src != NULL ? src : ".");
	return dir;
}

/*
 * Fill p with the policy that golden requests are checked against: the
 * scratch directories, the bridges given (NULL-terminated), libvirt's
 * network "default", at most 4096 MiB and 8 vCPUs.
 */
static __attribute__((unused)) void
golden_policy(struct spec_policy *p, const char *const *bridges)
{
	static const char *const image_dirs[] = { golden_imagedir, NULL };
	static const char *const volume_dirs[] = { golden_volumedir, NULL };
	static const char *const networks[] = { "default", NULL };

	memset(p, 0, sizeof(*p));
	p->image_dirs = image_dirs;
	p->volume_dirs = volume_dirs;
	p->bridges = bridges;
	p->networks = networks;
	p->max_memory_mib = 4096;
	p->max_vcpus = 8;
}

/* True when RR_GOLDEN_UPDATE=1 asks to rewrite the expected files. */
static __attribute__((unused)) bool
golden_updating(void)
{
	const char *update = getenv("RR_GOLDEN_UPDATE");

	return update != NULL && strcmp(update, "1") == 0;
}

/*
 * The whole text of the file at path.  Returns a new string (free() it),
 * or NULL when the file cannot be opened.
 */
static __attribute__((unused)) char *
golden_read(const char *path)
{
	struct sbuf sb = SBUF_INIT;
	char buf[4096];
	size_t n;
	FILE *f;

	if ((f = fopen(path, "r")) == NULL)
		return NULL;
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
		sbuf_addn(&sb, buf, n);
	fclose(f);
	sbuf_addn(&sb, "", 0);
	return sbuf_finish(&sb);
}

/* Replace the file at path by text; the test fails when it cannot. */
static __attribute__((unused)) void
golden_write(const char *path, const char *text)
{
	FILE *f;

	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	assert_int_equal(fclose(f), 0);
}

/*
 * Make the file path, "data" written at its start (an existing file is not
 * truncated), or, when path ends in '/', the directory; and their missing
 * parents.  A path with ".." in it is left alone, and so are the files
 * that cannot be made: the request that names them is left to fail.
 */
static __attribute__((unused)) void
golden_touch(const char *path)
{
	char buf[2 * PATH_MAX], *p;
	int fd;

	if (strstr(path, "..") != NULL)
		return;
	snprintf(buf, sizeof(buf), "%s", path);
	for (p = buf + 1; *p != '\0'; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		(void)mkdir(buf, 0755);
		*p = '/';
	}
	if (buf[strlen(buf) - 1] == '/')
		return;
	if ((fd = open(buf, O_WRONLY | O_CREAT, 0644)) != -1) {
		if (write(fd, "data", 4) != 4)
			fail_msg("cannot write %s", buf);
		close(fd);
	}
}

/*
 * Replace the placeholders in text by the scratch directories, making
 * (golden_touch()) each path that a placeholder starts, up to the next
 * '"'.  Returns a new string (free() it), or NULL when out of memory.
 */
static __attribute__((unused)) char *
golden_expand(const char *text)
{
	const struct {
		const char *token;
		const char *dir;
	} ph[] = {
		{ "@IMAGES@", golden_imagedir },
		{ "@VOLUMES@", golden_volumedir },
	};
	struct sbuf sb = SBUF_INIT;
	const char *p = text;
	char path[2 * PATH_MAX];
	size_t i, n;

	while (*p != '\0') {
		for (i = 0; i < 2; i++)
			if (strncmp(p, ph[i].token, strlen(ph[i].token)) == 0)
				break;
		if (i == 2) {
			sbuf_addc(&sb, *p++);
			continue;
		}
		p += strlen(ph[i].token);
		n = strcspn(p, "\"");
		snprintf(path, sizeof(path), "%s%.*s", ph[i].dir, (int)n, p);
		golden_touch(path);
		sbuf_add(&sb, ph[i].dir);
	}
	return sbuf_finish(&sb);
}

/*
 * The golden request at path, its placeholders expanded (golden_expand()):
 * a new string (free() it).  The test fails when it cannot be read.
 */
static __attribute__((unused)) char *
golden_request(const char *path)
{
	char *raw, *text;

	raw = golden_read(path);
	if (raw == NULL)
		fail_msg("cannot read %s", path);
	text = golden_expand(raw);
	free(raw);
	assert_non_null(text);
	return text;
}

/* Put the placeholders back for the scratch directories in text, in place. */
static __attribute__((unused)) void
golden_unexpand(char *text)
{
	const char *dirs[] = { golden_imagedir, golden_volumedir };
	const char *tokens[] = { "@IMAGES@", "@VOLUMES@" };
	size_t i, dlen, tlen;
	char *p;

	for (i = 0; i < 2; i++) {
		dlen = strlen(dirs[i]);
		tlen = strlen(tokens[i]);
		/* Before golden_build() there is nothing to put back. */
		if (dlen == 0)
			continue;
		while ((p = strstr(text, dirs[i])) != NULL) {
			memcpy(p, tokens[i], tlen);
			memmove(p + tlen, p + dlen, strlen(p + dlen) + 1);
		}
	}
}

/*
 * Compare actual, its scratch directories put back as placeholders (in
 * place), with the expected file at path; in update mode, rewrite the file
 * with it instead.  Returns true when they are the same or in update mode;
 * false after printing the expected and the actual text.
 */
static __attribute__((unused)) bool
golden_compare(const char *path, char *actual)
{
	char *expected;
	bool same;

	golden_unexpand(actual);
	if (golden_updating()) {
		golden_write(path, actual);
		return true;
	}
	if ((expected = golden_read(path)) == NULL) {
		print_error("%s: missing (RR_GOLDEN_UPDATE=1 writes it); "
			    "actual:\n%s",
		    path, actual);
		return false;
	}
	same = strcmp(expected, actual) == 0;
	if (!same)
		print_error("%s differs:\n--- expected\n%s--- actual\n%s", path,
		    expected, actual);
	free(expected);
	return same;
}

static int
golden_cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/*
 * The names of at most max files in dir that end in suffix, the suffix cut
 * off, in names and sorted.  Returns their number; each name is a new
 * string (free() it).
 */
static __attribute__((unused)) size_t
golden_list(const char *dir, const char *suffix, char **names, size_t max)
{
	struct dirent *de;
	size_t n = 0, len, slen = strlen(suffix);
	DIR *d;

	d = opendir(dir);
	assert_non_null(d);
	while ((de = readdir(d)) != NULL && n < max) {
		len = strlen(de->d_name);
		if (len > slen && strcmp(de->d_name + len - slen, suffix) == 0)
			names[n++] = strndup(de->d_name, len - slen);
	}
	closedir(d);
	qsort(names, n, sizeof(names[0]), golden_cmp_str);
	return n;
}

#endif
