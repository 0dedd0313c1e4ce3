/*
 * paths: confinement of host paths named by API callers (see paths.h).
 *
 * The order of the checks matters.  Whether a path lies inside an allowed
 * directory is decided before anything about the file itself is said, and
 * the answer for a path that cannot be resolved never depends on what
 * exists outside the allowed directories: a caller learns "forbidden" for
 * every path that leads out, whether or not something is there.
 */
#include <sys/stat.h>

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "paths.h"
#include "rrerr.h"
#include "spec.h"

/*
 * The allowed directories of one call: resolved by realpath() (those that
 * exist), normalised lexically (all the absolute ones, as the operator
 * wrote them), and among those the ones that do not resolve.
 */
struct dirset {
	char **resolved;
	size_t nresolved;
	char **lexical;
	size_t nlexical;
	char **missing;		/* borrowed from lexical */
	size_t nmissing;
};

static void
dirset_free(struct dirset *set)
{
	size_t i;

	if (set == NULL)
		return;
	for (i = 0; i < set->nresolved; i++)
		free(set->resolved[i]);
	for (i = 0; i < set->nlexical; i++)
		free(set->lexical[i]);
	free(set->resolved);
	free(set->lexical);
	free(set->missing);
	memset(set, 0, sizeof(*set));
}

/*
 * The lexical normal form of the absolute path: "//" and "." removed, ".."
 * taken back one component (never above "/"), no trailing "/".  Returns a
 * new string (free() it), or NULL when out of memory.
 */
static char *
normalize(const char *path)
{
	char *out;
	const char *p, *end;
	size_t len = 0;

	if ((out = malloc(strlen(path) + 2)) == NULL)
		return NULL;
	for (p = path; *p != '\0'; p = end) {
		size_t n;

		while (*p == '/')
			p++;
		if ((end = strchr(p, '/')) == NULL)
			end = p + strlen(p);
		n = (size_t)(end - p);
		if (n == 0 || (n == 1 && p[0] == '.'))
			continue;
		if (n == 2 && p[0] == '.' && p[1] == '.') {
			while (len > 0 && out[len - 1] != '/')
				len--;
			if (len > 0)
				len--;
			continue;
		}
		out[len] = '/';
		memcpy(out + len + 1, p, n);
		len += n + 1;
	}
	if (len == 0)
		out[len++] = '/';
	out[len] = '\0';
	return out;
}

/* Fill set from the NULL-terminated list dirs (which may be NULL). */
static int
dirset_load(struct dirset *set, const char *const *dirs, struct rrerr *err)
{
	size_t n = 0;
	char *r;

	memset(set, 0, sizeof(*set));
	while (dirs != NULL && dirs[n] != NULL)
		n++;
	if (n == 0)
		return 0;
	set->resolved = calloc(n, sizeof(*set->resolved));
	set->lexical = calloc(n, sizeof(*set->lexical));
	set->missing = calloc(n, sizeof(*set->missing));
	if (set->resolved == NULL || set->lexical == NULL ||
	    set->missing == NULL)
		goto fail;
	for (; *dirs != NULL; dirs++) {
		if ((*dirs)[0] != '/')
			continue;	/* A relative directory allows nothing. */
		if ((r = normalize(*dirs)) == NULL)
			goto fail;
		set->lexical[set->nlexical++] = r;
		if ((r = realpath(*dirs, NULL)) != NULL)
			set->resolved[set->nresolved++] = r;
		else if (errno == ENOMEM)
			goto fail;
		else
			set->missing[set->nmissing++] =
			    set->lexical[set->nlexical - 1];
	}
	return 0;
fail:
	dirset_free(set);
	return rrerr_set(err, RRERR_INTERNAL, NULL, "out of memory");
}

/* True when path lies strictly inside one of the n directories dirs. */
static bool
inside_any(const char *path, char *const *dirs, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (paths_inside(path, dirs[i]))
			return true;
	return false;
}

/* True when path is one of the n directories dirs or lies inside one. */
static bool
within_any(const char *path, char *const *dirs, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcmp(path, dirs[i]) == 0)
			return true;
	return inside_any(path, dirs, n);
}

/* Cut the last component of the absolute path p: "/a//b" becomes "/a". */
static void
cut_last(char *p)
{
	char *slash = strrchr(p, '/');

	while (slash > p && slash[-1] == '/')
		slash--;
	slash[slash == p ? 1 : 0] = '\0';
}

/*
 * For a path that does not resolve: true when its deepest ancestor that
 * exists lies within a resolved allowed directory, or when an ancestor
 * that does not exist lies within an allowed directory that does not
 * exist either.  The ancestors are cut from the path as given, "..",
 * symlinks and all, so that "inside/link/../x" is judged by where
 * "inside/link/.." really is.  Anything that exists but does not resolve
 * (a dangling or looping symlink) could point anywhere: false.
 */
static bool
ancestors_inside(const char *path, const struct dirset *set)
{
	struct stat sb;
	char *probe;
	bool ok = false, done = false;

	if (lstat(path, &sb) == 0 || (probe = strdup(path)) == NULL)
		return false;
	while (!done && strcmp(probe, "/") != 0) {
		char *r, *lex;

		cut_last(probe);
		if ((r = realpath(probe, NULL)) != NULL) {
			ok = within_any(r, set->resolved, set->nresolved);
			done = true;
			free(r);
		} else if (lstat(probe, &sb) == 0) {
			done = true;
		} else if ((lex = normalize(probe)) == NULL) {
			done = true;
		} else {
			ok = done = within_any(lex, set->missing,
			    set->nmissing);
			free(lex);
		}
	}
	free(probe);
	return ok;
}

/*
 * Decide whether a path that realpath() could not resolve may be said not
 * to exist (true), or must be treated as leading outside (false): its
 * lexical form must lie inside an allowed directory (resolved, or as the
 * operator wrote it), and its ancestors must not lead out.
 */
static bool
may_say_missing(const char *path, const struct dirset *set)
{
	char *lex;
	bool inside;

	if ((lex = normalize(path)) == NULL)
		return false;
	inside = inside_any(lex, set->resolved, set->nresolved) ||
	    inside_any(lex, set->lexical, set->nlexical);
	free(lex);
	return inside && ancestors_inside(path, set);
}

/* Refuse a path that is not absolute, too long or not printable. */
static int
check_form(const char *path, const char *field, struct rrerr *err)
{
	const unsigned char *p;

	if (path == NULL || path[0] != '/')
		return rrerr_set(err, RRERR_INVALID, field,
		    "%s: must be an absolute path", field);
	if (strlen(path) > SPEC_PATH_MAX)
		return rrerr_set(err, RRERR_INVALID, field,
		    "%s: must be at most %d bytes", field, SPEC_PATH_MAX);
	for (p = (const unsigned char *)path; *p != '\0'; p++)
		if (*p < 0x20 || *p == 0x7f)
			return rrerr_set(err, RRERR_INVALID, field,
			    "%s: contains a control character", field);
	return 0;
}

/* Refuse a file (resolved) that is not of the given kind or not readable. */
static int
check_file(const char *path, const char *resolved, enum paths_kind kind,
    const char *field, struct rrerr *err)
{
	struct stat sb;

	if (stat(resolved, &sb) == -1)
		return rrerr_set(err, RRERR_INVALID, field, "%s: %s: %s",
		    field, path, strerror(errno));
	if (kind == PATHS_REGULAR && !S_ISREG(sb.st_mode))
		return rrerr_set(err, RRERR_INVALID, field,
		    "%s: %s is not a regular file", field, path);
	if (kind == PATHS_REGULAR_OR_BLOCK && !S_ISREG(sb.st_mode) &&
	    !S_ISBLK(sb.st_mode))
		return rrerr_set(err, RRERR_INVALID, field,
		    "%s: %s is not a regular file or a block device",
		    field, path);
	if (access(resolved, R_OK) == -1)
		return rrerr_set(err, RRERR_INVALID, field,
		    "%s: %s is not readable", field, path);
	return 0;
}

/* Refuse path as leading outside.  Returns -1. */
static int
forbidden(const char *path, const char *field, struct rrerr *err)
{
	return rrerr_set(err, RRERR_FORBIDDEN, field,
	    "%s: %s is outside the allowed directories", field, path);
}

/*
 * The answer for a path that realpath() failed on with errno saved: it does
 * not exist (or cannot be reached), or it leads outside.  Returns -1.
 */
static int
unresolved(const char *path, int saved, const struct dirset *set,
    const char *field, struct rrerr *err)
{
	if (!may_say_missing(path, set))
		return forbidden(path, field, err);
	if (saved == ENOENT || saved == ENOTDIR)
		return rrerr_set(err, RRERR_INVALID, field,
		    "%s: %s does not exist", field, path);
	return rrerr_set(err, RRERR_INVALID, field, "%s: %s: %s", field, path,
	    strerror(saved));
}

int
paths_confine(const char *path, const char *const *dirs,
    enum paths_kind kind, const char *field, char **resolved,
    struct rrerr *err)
{
	struct dirset set;
	char *r;
	int rv = -1;

	if (field == NULL)
		field = "path";
	if (check_form(path, field, err) == -1)
		return -1;
	if (dirset_load(&set, dirs, err) == -1)
		return -1;
	if ((r = realpath(path, NULL)) == NULL)
		rv = unresolved(path, errno, &set, field, err);
	else if (!inside_any(r, set.resolved, set.nresolved))
		forbidden(path, field, err);
	else if (check_file(path, r, kind, field, err) == 0) {
		*resolved = r;
		r = NULL;
		rv = 0;
	}
	free(r);
	dirset_free(&set);
	return rv;
}

bool
paths_inside(const char *resolved, const char *dir)
{
	size_t len;

	if (resolved == NULL || dir == NULL)
		return false;
	len = strlen(dir);
	while (len > 0 && dir[len - 1] == '/')
		len--;
	return strncmp(resolved, dir, len) == 0 && resolved[len] == '/' &&
	    resolved[len + 1] != '\0';
}
