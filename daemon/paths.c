/*
 * paths: confinement of host paths named by API callers (see paths.h).
 *
 * Contracts: a path that leads out of the allowed directories is
 * "forbidden" whatever exists there; only the open counts (openat2()
 * with RESOLVE_BENEATH from the allowed directory, or a walk of O_NOFOLLOW
 * opens), and the caller keeps that descriptor: nothing resolves the
 * path again.
 *
 * ARCHITECTURE.md, "Host paths", says why the order matters.
 */
#include <sys/stat.h>
#include <sys/syscall.h>

#include <linux/openat2.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "imgstore.h"
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
	char **missing; /* borrowed from lexical */
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
			continue; /* A relative directory allows nothing. */
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

static int forbidden(const char *, const char *, struct rrerr *);

/* Refuse a file (fstat() of it in sb) that is not of the given kind. */
static int
check_kind(const char *path, const struct stat *sb, enum paths_kind kind,
    const char *field, struct rrerr *err)
{
	if (kind == PATHS_REGULAR && !S_ISREG(sb->st_mode))
		return rrerr_set(err, RRERR_INVALID, field,
		    "%s: %s is not a regular file", field, path);
	if (kind == PATHS_REGULAR_OR_BLOCK && !S_ISREG(sb->st_mode) &&
	    !S_ISBLK(sb->st_mode))
		return rrerr_set(err, RRERR_INVALID, field,
		    "%s: %s is not a regular file or a block device", field,
		    path);
	return 0;
}

bool paths_no_openat2;

/*
 * openat2() as the C library may not have it.  Returns the descriptor, or
 * -1 with errno.
 */
static int
sys_openat2(int dfd, const char *rel, const struct open_how *how)
{
#ifdef SYS_openat2
	return (int)syscall(SYS_openat2, dfd, rel, how, sizeof(*how));
#else
	(void)dfd;
	(void)rel;
	(void)how;
	errno = ENOSYS;
	return -1;
#endif
}

/*
 * Open rel (canonical: no ".", "..", "//", never empty, never absolute)
 * under the directory dfd with O_PATH, following no symlink and never
 * leaving dfd, one component at a time.  Returns the descriptor, or -1
 * with errno (ELOOP for a symlink on the way).
 */
static int
walk(int dfd, const char *rel)
{
	char name[256];
	const char *p = rel, *end;
	int cur = dfd, next, saved;

	for (;;) {
		size_t n;

		end = strchr(p, '/');
		n = end != NULL ? (size_t)(end - p) : strlen(p);
		if (n == 0 || n >= sizeof(name) || (n == 1 && p[0] == '.') ||
		    (n == 2 && p[0] == '.' && p[1] == '.')) {
			errno = EXDEV;
			next = -1;
		} else {
			memcpy(name, p, n);
			name[n] = '\0';
			next = openat(cur, name,
			    O_PATH | O_NOFOLLOW | O_CLOEXEC |
				(end != NULL ? O_DIRECTORY : 0));
		}
		saved = errno;
		if (cur != dfd)
			close(cur);
		if (next == -1) {
			errno = saved;
			return -1;
		}
		if (end == NULL) {
			struct stat sb;

			/* O_PATH|O_NOFOLLOW opens a symlink itself. */
			if (fstat(next, &sb) == -1 || S_ISLNK(sb.st_mode)) {
				close(next);
				errno = ELOOP;
				return -1;
			}
			return next;
		}
		cur = next;
		p = end + 1;
	}
}

/*
 * Open rel beneath dfd without following any symlink: openat2() when the
 * kernel has it, else walk().  Returns an O_PATH descriptor or -1 with
 * errno.
 */
static int
open_beneath(int dfd, const char *rel)
{
	struct open_how how;
	int fd, tries;

	if (!paths_no_openat2) {
		memset(&how, 0, sizeof(how));
		how.flags = O_PATH | O_NOFOLLOW | O_CLOEXEC;
		how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS |
		    RESOLVE_NO_MAGICLINKS;
		/* EAGAIN: a rename anywhere raced the lookup; try again. */
		for (tries = 0; tries < 8; tries++) {
			fd = sys_openat2(dfd, rel, &how);
			if (fd != -1 || errno != EAGAIN)
				break;
		}
		if (fd != -1 || (errno != ENOSYS && errno != EPERM))
			return fd;
	}
	return walk(dfd, rel);
}

/*
 * The canonical resolved path r lies in the resolved allowed directory
 * dir: open it from dir, as paths.c's header says, check its kind and
 * reopen it with flags (O_RDONLY or O_RDWR) into *fd (NULL: only check
 * that it opens for reading).  Returns 0, or -1 with err.
 */
static int
open_checked(const char *path, const char *r, const char *dir,
    enum paths_kind kind, int flags, const char *field, int *fd,
    struct rrerr *err)
{
	struct stat sb, sb2;
	char proc[64];
	const char *rel;
	size_t len = strlen(dir);
	int dfd, pfd = -1, rfd = -1, saved, rv = -1;

	while (len > 0 && dir[len - 1] == '/')
		len--;
	for (rel = r + len; *rel == '/'; rel++)
		;
	if ((dfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC)) == -1)
		return rrerr_set(err, RRERR_INVALID, field, "%s: %s: %s", field,
		    path, strerror(errno));
	if ((pfd = open_beneath(dfd, rel)) == -1) {
		saved = errno;
		if (saved == ELOOP || saved == EXDEV || saved == EAGAIN)
			/* A symlink appeared since realpath() looked. */
			forbidden(path, field, err);
		else if (saved == ENOENT || saved == ENOTDIR)
			rrerr_set(err, RRERR_INVALID, field,
			    "%s: %s does not exist", field, path);
		else
			rrerr_set(err, RRERR_INVALID, field, "%s: %s: %s",
			    field, path, strerror(saved));
		goto cleanup;
	}
	if (fstat(pfd, &sb) == -1) {
		rrerr_set(err, RRERR_INVALID, field, "%s: %s: %s", field, path,
		    strerror(errno));
		goto cleanup;
	}
	if (check_kind(path, &sb, kind, field, err) == -1)
		goto cleanup;
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", pfd);
	rfd = open(proc, flags | O_CLOEXEC | O_NOCTTY);
	if (rfd == -1) {
		saved = errno;
		if (saved == EACCES || saved == EPERM)
			rrerr_set(err, RRERR_INVALID, field, "%s: %s is not %s",
			    field, path,
			    (flags & O_ACCMODE) == O_RDONLY ? "readable" :
							      "writable");
		else if (saved == EROFS)
			rrerr_set(err, RRERR_INVALID, field,
			    "%s: %s cannot be "
			    "opened for writing: the file system is read-only "
			    "for rumprund (rumprund opens a writable disk "
			    "itself: under systemd, its volume_dir needs "
			    "ReadWritePaths= in rumprund.service)",
			    field, path);
		else
			rrerr_set(err, RRERR_INVALID, field,
			    "%s: %s cannot be opened for %s: %s", field, path,
			    (flags & O_ACCMODE) == O_RDONLY ? "reading" :
							      "writing",
			    strerror(saved));
		goto cleanup;
	}
	if (fstat(rfd, &sb2) == -1 || sb2.st_dev != sb.st_dev ||
	    sb2.st_ino != sb.st_ino) {
		rrerr_set(err, RRERR_INTERNAL, field,
		    "%s: %s changed while it was opened", field, path);
		goto cleanup;
	}
	if (fd != NULL) {
		*fd = rfd;
		rfd = -1;
	}
	rv = 0;
cleanup:
	if (rfd != -1)
		close(rfd);
	if (pfd != -1)
		close(pfd);
	close(dfd);
	return rv;
}

/* Refuse path as leading outside.  Returns -1. */
static int
forbidden(const char *path, const char *field, struct rrerr *err)
{
	return rrerr_set(err, RRERR_FORBIDDEN, field,
	    "%s: %s is outside the allowed directories (GET /v1/info and "
	    "rrctl info list them)",
	    field, path);
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
paths_open(const char *path, const char *const *dirs, enum paths_kind kind,
    int flags, const char *field, char **resolved, int *fd, struct rrerr *err)
{
	struct dirset set;
	char *r;
	size_t i;
	int rv = -1;

	if (field == NULL)
		field = "path";
	if (fd != NULL)
		*fd = -1;
	if (check_form(path, field, err) == -1)
		return -1;
	if (dirset_load(&set, dirs, err) == -1)
		return -1;
	if ((r = realpath(path, NULL)) == NULL) {
		rv = unresolved(path, errno, &set, field, err);
		goto cleanup;
	}
	for (i = 0; i < set.nresolved; i++)
		if (paths_inside(r, set.resolved[i]))
			break;
	if (i == set.nresolved)
		forbidden(path, field, err);
	else if (open_checked(path, r, set.resolved[i], kind, flags, field, fd,
		     err) == 0) {
		if (resolved != NULL) {
			*resolved = r;
			r = NULL;
		}
		rv = 0;
	}
cleanup:
	free(r);
	dirset_free(&set);
	return rv;
}

int
paths_confine(const char *path, const char *const *dirs, enum paths_kind kind,
    const char *field, char **resolved, struct rrerr *err)
{
	return paths_open(path, dirs, kind, O_RDONLY, field, resolved, NULL,
	    err);
}

/*
 * Open what a request names: a host path under dirs, or a reference to
 * the store ("store:NAME", "volume:NAME"), resolved from the store's
 * entry now and opened as any path, beneath the store's directory for
 * its kind: the checked file is the used file here too.
 */
static int
open_named(const char *name, const char *const *dirs, enum imgstore_kind kind,
    const struct spec_policy *policy, enum paths_kind pk, int flags,
    const char *field, int *fd, struct rrerr *err)
{
	const char *ref = imgstore_ref_name(name, kind), *sdirs[2];
	char kdir[PATH_MAX], *path, *again;
	int rv;

	if (ref == NULL)
		return paths_open(name, dirs, pk, flags, field, NULL, fd, err);
	if ((path = imgstore_resolve(policy->store_dir, kind, ref, field,
		 err)) == NULL)
		return -1;
	sdirs[0] = imgstore_kind_dir(policy->store_dir, kind, kdir,
	    sizeof(kdir));
	sdirs[1] = NULL;
	rv = paths_open(path, sdirs, PATHS_REGULAR, flags, field, NULL, fd,
	    err);
	/*
	 * Replaced between the entry's read and the open (a PUT's commit
	 * removes the old data once the new entry is in): once more, with
	 * the entry as it is now.
	 */
	if (rv == -1 &&
	    (again = imgstore_resolve(policy->store_dir, kind, ref, field,
		 NULL)) != NULL) {
		if (strcmp(again, path) != 0)
			rv = paths_open(again, sdirs, PATHS_REGULAR, flags,
			    field, NULL, fd, err);
		free(again);
	}
	free(path);
	return rv;
}

/*
 * Block device i of spec with "copy": the instance's own copy of the
 * volume, made from the volume at its first launch (never when
 * readonly_all: then the volume itself is checked, read-only, until the
 * copy exists).
 */
static int
open_copy(const struct spec *spec, size_t i, const struct spec_policy *policy,
    bool readonly_all, const char *field, int *fd, struct rrerr *err)
{
	char cdir[PATH_MAX], *path;
	const char *dirs[2];
	struct stat sb;
	int src = -1, rv;

	dirs[0] = imgstore_copies_dir(policy->store_dir, cdir, sizeof(cdir));
	dirs[1] = NULL;
	if ((path = imgstore_copy_path(policy->store_dir, spec->name, i)) ==
	    NULL)
		return rrerr_set(err, RRERR_INTERNAL, NULL, "out of memory");
	if (lstat(path, &sb) == -1) {
		free(path);
		if (open_named(spec->blk[i].source, NULL, IMGSTORE_VOLUME,
			policy, PATHS_REGULAR, O_RDONLY, field, &src,
			err) == -1)
			return -1;
		if (readonly_all) {
			*fd = src;
			return 0;
		}
		path = imgstore_copy(policy->store_dir, spec->name, i, src,
		    field, err);
		close(src);
		if (path == NULL)
			return -1;
	}
	rv = paths_open(path, dirs, PATHS_REGULAR,
	    readonly_all ? O_RDONLY : O_RDWR, field, NULL, fd, err);
	free(path);
	return rv;
}

int
paths_open_spec(const struct spec *spec, const struct spec_policy *policy,
    bool readonly_all, struct paths_files *files, struct rrerr *err)
{
	char field[48];
	size_t i;
	int flags, rv;

	files->image = -1;
	files->nblk = 0;
	for (i = 0; i < SPEC_BLK_MAX; i++)
		files->blk[i] = -1;
	if (spec->nblk > SPEC_BLK_MAX)
		return rrerr_set(err, RRERR_INVALID, "blk", "blk: at most %d",
		    SPEC_BLK_MAX);
	if (open_named(spec->image, policy->image_dirs, IMGSTORE_IMAGE, policy,
		PATHS_REGULAR, O_RDONLY, "image", &files->image, err) == -1)
		return -1;
	for (i = 0; i < spec->nblk; i++) {
		snprintf(field, sizeof(field), "blk[%zu].source", i);
		flags = readonly_all || spec->blk[i].readonly ? O_RDONLY :
								O_RDWR;
		if (spec->blk[i].copy)
			rv = open_copy(spec, i, policy, readonly_all, field,
			    &files->blk[i], err);
		else
			rv = open_named(spec->blk[i].source,
			    policy->volume_dirs, IMGSTORE_VOLUME, policy,
			    PATHS_REGULAR_OR_BLOCK, flags, field,
			    &files->blk[i], err);
		if (rv == -1) {
			paths_files_close(files);
			return -1;
		}
		files->nblk = i + 1;
	}
	return 0;
}

void
paths_files_close(struct paths_files *files)
{
	size_t i;

	if (files->image != -1)
		close(files->image);
	files->image = -1;
	for (i = 0; i < SPEC_BLK_MAX; i++) {
		if (files->blk[i] != -1)
			close(files->blk[i]);
		files->blk[i] = -1;
	}
	files->nblk = 0;
}

int
paths_copy(int in, int out, uint64_t size, const atomic_bool *cancel)
{
	char buf[65536];
	off_t off = 0;
	ssize_t n, w, done;
	size_t want;
	bool plain = false;

	while ((uint64_t)off < size) {
		if (cancel != NULL && atomic_load(cancel)) {
			errno = ECANCELED;
			return -1;
		}
		want = size - (uint64_t)off < PATHS_COPY_CHUNK ?
		    (size_t)(size - (uint64_t)off) :
		    PATHS_COPY_CHUNK;
		if (!plain) {
			n = copy_file_range(in, &off, out, NULL, want, 0);
			if (n == -1 &&
			    (errno == EXDEV || errno == EINVAL ||
				errno == ENOSYS || errno == EOPNOTSUPP ||
				errno == EPERM)) {
				plain = true;
				continue;
			}
			if (n == -1 && errno == EINTR)
				continue;
			if (n == -1)
				return -1;
			if (n == 0)
				break;
			continue;
		}
		if (want > sizeof(buf))
			want = sizeof(buf);
		if ((n = pread(in, buf, want, off)) == -1 && errno == EINTR)
			continue;
		if (n == -1)
			return -1;
		if (n == 0)
			break;
		for (done = 0; done < n; done += w) {
			w = pwrite(out, buf + done, (size_t)(n - done),
			    off + done);
			if (w == -1 && errno == EINTR)
				w = 0;
			else if (w == -1)
				return -1;
		}
		off += n;
	}
	return 0;
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
