/*
 * store: atomic per-instance records (see store.h).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include "fsutil.h"
#include "log.h"
#include "store.h"

struct store {
	char *dir; /* STATE/instances */
	int dirfd;
	char owner[33];
};

/* Write all of buf to fd. */
static int
write_all(int fd, const char *buf, size_t len)
{
	ssize_t n;

	while (len > 0) {
		n = write(fd, buf, len);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/*
 * Atomically replace dirfd/name with text: temp file, fsync, rename, fsync
 * of the directory.  On failure the old file is untouched and errno set.
 */
static int replace_file(int, const char *, const char *);

static int
atomic_write(int dirfd, const char *name, const char *text)
{
	if (replace_file(dirfd, name, text) == -1)
		return -1;
	return fsync(dirfd);
}

/* atomic_write() but for the directory's fsync, which is the caller's. */
static int
replace_file(int dirfd, const char *name, const char *text)
{
	char tmp[512];
	int fd, saved;

	snprintf(tmp, sizeof(tmp), ".%s.tmp", name);
	fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd == -1)
		return -1;
	if (write_all(fd, text, strlen(text)) == -1 || fsync(fd) == -1) {
		saved = errno;
		close(fd);
		unlinkat(dirfd, tmp, 0);
		errno = saved;
		return -1;
	}
	if (close(fd) == -1 || renameat(dirfd, tmp, dirfd, name) == -1) {
		saved = errno;
		unlinkat(dirfd, tmp, 0);
		errno = saved;
		return -1;
	}
	return 0;
}

static int
load_owner(struct store *st, const char *top, struct rrerr *err)
{
	unsigned char rnd[16];
	char path[4096], line[64];
	size_t i;
	FILE *f;
	int fd;

	snprintf(path, sizeof(path), "%s/owner", top);
	if ((f = fopen(path, "re")) != NULL) {
		if (fgets(line, sizeof(line), f) != NULL &&
		    strspn(line, "0123456789abcdef") == 32) {
			memcpy(st->owner, line, 32);
			st->owner[32] = '\0';
			fclose(f);
			return 0;
		}
		fclose(f);
		return rrerr_set(err, RRERR_INTERNAL, NULL,
		    "%s: not an owner id; remove it only if no guest of this "
		    "daemon runs",
		    path);
	}
	if ((fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC)) == -1 ||
	    read(fd, rnd, sizeof(rnd)) != (ssize_t)sizeof(rnd)) {
		if (fd != -1)
			close(fd);
		return rrerr_set(err, RRERR_INTERNAL, NULL,
		    "cannot read /dev/urandom: %s", strerror(errno));
	}
	close(fd);
	for (i = 0; i < sizeof(rnd); i++)
		snprintf(st->owner + 2 * i, 3, "%02x", rnd[i]);
	snprintf(line, sizeof(line), "%s\n", st->owner);
	if ((fd = open(top, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		return rrerr_set(err, RRERR_INTERNAL, NULL, "%s: %s", top,
		    strerror(errno));
	if (atomic_write(fd, "owner", line) == -1) {
		rrerr_set(err, RRERR_INTERNAL, NULL, "%s: %s", path,
		    strerror(errno));
		close(fd);
		return -1;
	}
	close(fd);
	return 0;
}

int
store_put_file(const char *dir, const char *name, const char *text)
{
	int fd, rv, saved;

	if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		return -1;
	rv = atomic_write(fd, name, text);
	saved = errno;
	close(fd);
	errno = saved;
	return rv;
}

struct store *
store_open(const char *dir, struct rrerr *err)
{
	struct store *st;
	char path[4096];

	if ((st = calloc(1, sizeof(*st))) == NULL) {
		rrerr_set(err, RRERR_INTERNAL, NULL, "out of memory");
		return NULL;
	}
	st->dirfd = -1;
	snprintf(path, sizeof(path), "%s/instances", dir);
	if (fsutil_mkdir_p(path, 0700, 0700) == -1) {
		rrerr_set(err, RRERR_INTERNAL, NULL, "cannot create %s: %s",
		    path, strerror(errno));
		goto fail;
	}
	if ((st->dir = strdup(path)) == NULL) {
		rrerr_set(err, RRERR_INTERNAL, NULL, "out of memory");
		goto fail;
	}
	st->dirfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (st->dirfd == -1) {
		rrerr_set(err, RRERR_INTERNAL, NULL, "%s: %s", path,
		    strerror(errno));
		goto fail;
	}
	if (load_owner(st, dir, err) == -1)
		goto fail;
	return st;

fail:
	store_close(st);
	return NULL;
}

void
store_close(struct store *st)
{
	if (st == NULL)
		return;
	if (st->dirfd != -1)
		close(st->dirfd);
	free(st->dir);
	free(st);
}

const char *
store_owner(const struct store *st)
{
	return st->owner;
}

char *
store_text(json_t *rec)
{
	return json_dumps(rec, JSON_INDENT(1) | JSON_SORT_KEYS);
}

int
store_put(struct store *st, const char *name, json_t *rec, struct rrerr *err)
{
	char file[128];
	char *text;
	int rv;

	snprintf(file, sizeof(file), "%s.json", name);
	text = store_text(rec);
	if (text == NULL)
		return rrerr_set(err, RRERR_INTERNAL, NULL, "out of memory");
	rv = atomic_write(st->dirfd, file, text);
	free(text);
	if (rv == -1)
		return rrerr_set(err, RRERR_UNAVAILABLE, NULL,
		    "cannot write the record of %s in %s: %s", name, st->dir,
		    strerror(errno));
	return 0;
}

void
store_put_batch(struct store *st, struct store_write *w, size_t n)
{
	char file[128];
	size_t i;
	int e;

	for (i = 0; i < n; i++) {
		snprintf(file, sizeof(file), "%s.json", w[i].name);
		w[i].rv = replace_file(st->dirfd, file, w[i].text);
		w[i].err = w[i].rv == -1 ? errno : 0;
	}
	/* One fsync of the directory makes every rename above durable. */
	if (fsync(st->dirfd) == -1) {
		e = errno;
		for (i = 0; i < n; i++) {
			if (w[i].rv == 0) {
				w[i].rv = -1;
				w[i].err = e;
			}
		}
	}
}

const char *
store_dir(const struct store *st)
{
	return st->dir;
}

int
store_delete(struct store *st, const char *name, struct rrerr *err)
{
	char file[128];

	snprintf(file, sizeof(file), "%s.json", name);
	if (unlinkat(st->dirfd, file, 0) == -1 && errno != ENOENT)
		return rrerr_set(err, RRERR_UNAVAILABLE, NULL,
		    "cannot remove the record of %s: %s", name,
		    strerror(errno));
	fsync(st->dirfd);
	return 0;
}

static int
cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int
store_load(struct store *st, store_load_fn *fn, void *arg)
{
	char **names = NULL, **nn, path[4096], broken[4200], name[128];
	size_t n = 0, i, len;
	json_error_t jerr;
	struct dirent *de;
	int nbroken = 0;
	json_t *rec;
	DIR *d;

	if ((d = opendir(st->dir)) == NULL) {
		log_warn("%s", st->dir);
		return 0;
	}
	while ((de = readdir(d)) != NULL) {
		len = strlen(de->d_name);
		if (de->d_name[0] == '.') {
			/* A temp file left by a crash mid-write: the old record stands. */
			if (len > 4 &&
			    strcmp(de->d_name + len - 4, ".tmp") == 0)
				unlinkat(st->dirfd, de->d_name, 0);
			continue;
		}
		if (len <= 5 || strcmp(de->d_name + len - 5, ".json") != 0)
			continue;
		if ((nn = realloc(names, (n + 1) * sizeof(*names))) == NULL)
			break;
		names = nn;
		if ((names[n] = strdup(de->d_name)) == NULL)
			break;
		n++;
	}
	closedir(d);
	if (n > 0)
		qsort(names, n, sizeof(*names), cmp_names);

	for (i = 0; i < n; i++) {
		snprintf(path, sizeof(path), "%s/%s", st->dir, names[i]);
		snprintf(name, sizeof(name), "%.*s",
		    (int)(strlen(names[i]) - 5), names[i]);
		rec = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
		if (rec == NULL || !json_is_object(rec)) {
			snprintf(broken, sizeof(broken), "%s.broken", path);
			log_warnx("%s: unreadable record (%s), moved to %s",
			    name, rec == NULL ? jerr.text : "not an object",
			    broken);
			rename(path, broken);
			nbroken++;
		} else {
			fn(arg, name, rec);
		}
		json_decref(rec);
		free(names[i]);
	}
	free(names);
	return nbroken;
}
