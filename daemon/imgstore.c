/*
 * imgstore: the image and volume store (see imgstore.h).
 */
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/types.h>

#include <linux/fs.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>

#include "fsutil.h"
#include "imgstore.h"
#include "log.h"
#include "paths.h"

#define ENTRY_MAX 4096 /* bytes of a NAME.json */
#define KINDS	  2

struct imgstore_upload {
	struct imgstore *st;
	struct imgstore_upload *next; /* in st->uploads */
	enum imgstore_kind kind;
	char name[IMGSTORE_NAME_MAX + 1];
	char tmp[32];			 /* .up-XXXX in the kind's dir */
	char blob[32];			 /* .blob-XXXX once committed */
	char want[IMGSTORE_HEX_LEN + 1]; /* "": not announced */
	char got[IMGSTORE_HEX_LEN + 1];
	int64_t length; /* announced; -1: unknown */
	uint64_t size;	/* written so far */
	int fd;
	int dirfd; /* the kind's dir (borrowed) */
	gnutls_hash_hd_t hash;
	bool hashing;
	bool committed;
	char old_blob[32]; /* the replaced entry's data, or "" */
	uint64_t old_size; /* its size */
	json_t *entry;	   /* after a commit */
};

struct imgstore {
	char *dir;
	int dirfd[KINDS];
	struct imgstore_limits limits;
	struct imgstore_upload *uploads;
	uint64_t inflight; /* bytes reserved by uploads in progress */
	uint64_t stored;   /* bytes of every entry (counted at open) */
};

static const char *const kind_dirs[KINDS] = { "images", "volumes" };

static uint64_t stored_total(struct imgstore *);

const char *
imgstore_kind_name(enum imgstore_kind kind)
{
	return kind == IMGSTORE_IMAGE ? "image" : "volume";
}

bool
imgstore_name_ok(const char *name)
{
	size_t n;

	if (name == NULL || (n = strlen(name)) == 0 || n > IMGSTORE_NAME_MAX)
		return false;
	if (!((name[0] >= 'a' && name[0] <= 'z') ||
		(name[0] >= '0' && name[0] <= '9')))
		return false;
	return strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789_.-") == n;
}

const char *
imgstore_ref_name(const char *ref, enum imgstore_kind kind)
{
	const char *prefix = kind == IMGSTORE_IMAGE ? IMGSTORE_IMAGE_PREFIX :
						      IMGSTORE_VOLUME_PREFIX;
	size_t n = strlen(prefix);

	if (ref == NULL || strncmp(ref, prefix, n) != 0)
		return NULL;
	return ref + n;
}

int
imgstore_parse_digest(const char *s, const char *field, char *hex,
    struct rrerr *err)
{
	size_t i;

	if (strncmp(s, "sha256:", 7) == 0)
		s += 7;
	if (strlen(s) != IMGSTORE_HEX_LEN ||
	    strspn(s, "0123456789abcdefABCDEF") != IMGSTORE_HEX_LEN)
		return rrerr_set(err, RRERR_BAD_REQUEST, field,
		    "%s: must be a SHA-256 digest, 64 hex digits", field);
	for (i = 0; i < IMGSTORE_HEX_LEN; i++)
		hex[i] = (char)(s[i] >= 'A' && s[i] <= 'F' ? s[i] - 'A' + 'a' :
							     s[i]);
	hex[IMGSTORE_HEX_LEN] = '\0';
	return 0;
}

/* Is s a data file name of ours: PREFIX and 16 lower-case hex digits? */
static bool
our_file(const char *s, const char *prefix)
{
	size_t n = strlen(prefix);

	return strncmp(s, prefix, n) == 0 && strlen(s + n) == 16 &&
	    strspn(s + n, "0123456789abcdef") == 16;
}

json_t *
imgstore_entry_parse(const char *text, struct rrerr *err)
{
	json_t *root, *out = NULL;
	json_error_t je;
	const char *name, *sha, *created, *file;
	json_int_t size;

	root = json_loads(text, JSON_REJECT_DUPLICATES, &je);
	if (root == NULL) {
		rrerr_set(err, RRERR_INTERNAL, NULL, "not JSON: %s", je.text);
		return NULL;
	}
	if (json_unpack(root, "{s:s,s:s,s:I,s:s,s:s}", "name", &name, "sha256",
		&sha, "size", &size, "created", &created, "file",
		&file) == -1 ||
	    !imgstore_name_ok(name) || strlen(sha) != IMGSTORE_HEX_LEN ||
	    strspn(sha, "0123456789abcdef") != IMGSTORE_HEX_LEN || size < 0 ||
	    !our_file(file, ".blob-") || strlen(created) > 40) {
		rrerr_set(err, RRERR_INTERNAL, NULL, "not a store entry");
		goto cleanup;
	}
	out = json_pack("{s:s,s:s,s:I,s:s,s:s}", "name", name, "sha256", sha,
	    "size", size, "created", created, "file", file);
	if (out == NULL)
		rrerr_set(err, RRERR_INTERNAL, NULL, "out of memory");
cleanup:
	json_decref(root);
	return out;
}

const char *
imgstore_kind_dir(const char *dir, enum imgstore_kind kind, char *buf,
    size_t size)
{
	snprintf(buf, size, "%s/%s", dir, kind_dirs[kind]);
	return buf;
}

const char *
imgstore_copies_dir(const char *dir, char *buf, size_t size)
{
	snprintf(buf, size, "%s/copies", dir);
	return buf;
}

static int
write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	ssize_t n;

	while (len > 0) {
		if ((n = write(fd, p, len)) == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Read dirfd/name (at most ENTRY_MAX bytes): new string or NULL, errno. */
static char *
read_small(int dirfd, const char *name)
{
	char *buf;
	ssize_t n;
	size_t len = 0;
	int fd;

	if ((fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) == -1)
		return NULL;
	if ((buf = malloc(ENTRY_MAX + 1)) == NULL) {
		close(fd);
		return NULL;
	}
	while (len < ENTRY_MAX &&
	    (n = read(fd, buf + len, ENTRY_MAX - len)) != 0) {
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			free(buf);
			close(fd);
			return NULL;
		}
		len += (size_t)n;
	}
	close(fd);
	buf[len] = '\0';
	return buf;
}

/* name's entry in dirfd (a new object with "file"), or NULL (errno). */
static json_t *
load_entry(int dirfd, const char *name, struct rrerr *err)
{
	char file[IMGSTORE_NAME_MAX + 8], *text;
	json_t *e;

	snprintf(file, sizeof(file), "%s.json", name);
	if ((text = read_small(dirfd, file)) == NULL) {
		rrerr_set(err,
		    errno == ENOENT ? RRERR_NOT_FOUND : RRERR_INTERNAL, NULL,
		    "%s: %s", file, strerror(errno));
		return NULL;
	}
	e = imgstore_entry_parse(text, err);
	free(text);
	if (e != NULL &&
	    strcmp(json_string_value(json_object_get(e, "name")), name) != 0) {
		json_decref(e);
		rrerr_set(err, RRERR_INTERNAL, NULL, "%s: names another entry",
		    file);
		return NULL;
	}
	return e;
}

static int
random_hex(char *out, size_t nbytes)
{
	unsigned char rnd[16];
	size_t i;

	if (nbytes > sizeof(rnd) ||
	    gnutls_rnd(GNUTLS_RND_NONCE, rnd, nbytes) != 0)
		return -1;
	for (i = 0; i < nbytes; i++)
		snprintf(out + 2 * i, 3, "%02x", rnd[i]);
	return 0;
}

/* A descriptor of dirfd's directory with its own offset (dup() shares it). */
static int
reopen_dir(int dirfd)
{
	return openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
}

/*
 * Remove what no entry of dirfd names: uploads (.up-), half-done commits
 * (.blob- not named), temp entries (.NAME.json.tmp).
 */
static void
sweep(int dirfd, const char *where)
{
	char **keep = NULL;
	size_t nkeep = 0, i;
	struct dirent *de;
	json_t *e;
	DIR *d;
	int fd;

	if ((fd = reopen_dir(dirfd)) == -1 || (d = fdopendir(fd)) == NULL) {
		if (fd != -1)
			close(fd);
		return;
	}
	while ((de = readdir(d)) != NULL) {
		size_t n = strlen(de->d_name);
		char name[IMGSTORE_NAME_MAX + 1], **nk;

		if (de->d_name[0] == '.' || n <= 5 ||
		    n - 5 > IMGSTORE_NAME_MAX ||
		    strcmp(de->d_name + n - 5, ".json") != 0)
			continue;
		memcpy(name, de->d_name, n - 5);
		name[n - 5] = '\0';
		if ((e = load_entry(dirfd, name, NULL)) == NULL) {
			log_warnx("store: %s/%s is not a store entry: left "
				  "alone",
			    where, de->d_name);
			continue;
		}
		if ((nk = realloc(keep, (nkeep + 1) * sizeof(*keep))) != NULL) {
			keep = nk;
			if ((keep[nkeep] = strdup(json_string_value(
				 json_object_get(e, "file")))) != NULL)
				nkeep++;
		}
		json_decref(e);
	}
	rewinddir(d);
	while ((de = readdir(d)) != NULL) {
		bool drop = false;

		if (our_file(de->d_name, ".up-"))
			drop = true;
		else if (our_file(de->d_name, ".blob-")) {
			drop = true;
			for (i = 0; i < nkeep; i++)
				if (strcmp(keep[i], de->d_name) == 0)
					drop = false;
		} else if (de->d_name[0] == '.' && strlen(de->d_name) > 9 &&
		    strcmp(de->d_name + strlen(de->d_name) - 9, ".json.tmp") ==
			0)
			drop = true;
		if (!drop)
			continue;
		if (unlinkat(dirfd, de->d_name, 0) == 0)
			log_info("store: removed %s/%s (no entry names it)",
			    where, de->d_name);
	}
	closedir(d);
	for (i = 0; i < nkeep; i++)
		free(keep[i]);
	free(keep);
}

struct imgstore *
imgstore_open(const char *dir, const struct imgstore_limits *limits,
    struct rrerr *err)
{
	struct imgstore *st;
	char path[4096];
	int i;

	if (dir == NULL || dir[0] != '/') {
		rrerr_set(err, RRERR_INTERNAL, NULL,
		    "store_dir: must be an absolute path");
		return NULL;
	}
	if ((st = calloc(1, sizeof(*st))) == NULL ||
	    (st->dir = strdup(dir)) == NULL) {
		free(st);
		rrerr_set(err, RRERR_INTERNAL, NULL, "out of memory");
		return NULL;
	}
	st->dirfd[0] = st->dirfd[1] = -1;
	st->limits = *limits;
	if (fsutil_mkdir_p(dir, 0755, 0700) == -1 || chmod(dir, 0700) == -1) {
		rrerr_set(err, RRERR_INTERNAL, NULL, "store_dir %s: %s", dir,
		    strerror(errno));
		goto fail;
	}
	imgstore_copies_dir(dir, path, sizeof(path));
	if (mkdir(path, 0700) == -1 && errno != EEXIST) {
		rrerr_set(err, RRERR_INTERNAL, NULL, "%s: %s", path,
		    strerror(errno));
		goto fail;
	}
	for (i = 0; i < KINDS; i++) {
		imgstore_kind_dir(dir, (enum imgstore_kind)i, path,
		    sizeof(path));
		if ((mkdir(path, 0700) == -1 && errno != EEXIST) ||
		    (st->dirfd[i] = open(path,
			 O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW)) ==
			-1) {
			rrerr_set(err, RRERR_INTERNAL, NULL, "%s: %s", path,
			    strerror(errno));
			goto fail;
		}
		sweep(st->dirfd[i], path);
	}
	st->stored = stored_total(st);
	return st;
fail:
	imgstore_close(st);
	return NULL;
}

void
imgstore_close(struct imgstore *st)
{
	int i;

	if (st == NULL)
		return;
	for (i = 0; i < KINDS; i++)
		if (st->dirfd[i] != -1)
			close(st->dirfd[i]);
	free(st->dir);
	free(st);
}

const struct imgstore_limits *
imgstore_limits(const struct imgstore *st)
{
	return &st->limits;
}

uint64_t
imgstore_used(const struct imgstore *st)
{
	return st->stored;
}

const char *
imgstore_dir(const struct imgstore *st)
{
	return st->dir;
}

/* e without its "file" (the public view); e is stolen. */
static json_t *
public_view(json_t *e)
{
	if (e != NULL)
		json_object_del(e, "file");
	return e;
}

static int
by_name(const void *a, const void *b)
{
	const json_t *const *x = a, *const *y = b;

	return strcmp(json_string_value(json_object_get(*x, "name")),
	    json_string_value(json_object_get(*y, "name")));
}

/* Every entry of kind (with "file"): a new array, NULL when out of memory. */
static json_t *
all_entries(struct imgstore *st, enum imgstore_kind kind)
{
	json_t *list, **v = NULL, **nv, *e;
	struct dirent *de;
	size_t n = 0, i;
	DIR *d;
	int fd;

	if ((list = json_array()) == NULL)
		return NULL;
	if ((fd = reopen_dir(st->dirfd[kind])) == -1 ||
	    (d = fdopendir(fd)) == NULL) {
		if (fd != -1)
			close(fd);
		return list;
	}
	while ((de = readdir(d)) != NULL) {
		size_t len = strlen(de->d_name);
		char name[IMGSTORE_NAME_MAX + 1];

		if (de->d_name[0] == '.' || len <= 5 ||
		    len - 5 > IMGSTORE_NAME_MAX ||
		    strcmp(de->d_name + len - 5, ".json") != 0)
			continue;
		memcpy(name, de->d_name, len - 5);
		name[len - 5] = '\0';
		if ((e = load_entry(st->dirfd[kind], name, NULL)) == NULL)
			continue;
		if ((nv = realloc(v, (n + 1) * sizeof(*v))) == NULL) {
			json_decref(e);
			break;
		}
		v = nv;
		v[n++] = e;
	}
	closedir(d);
	if (n > 0)
		qsort(v, n, sizeof(*v), by_name);
	for (i = 0; i < n; i++)
		json_array_append_new(list, v[i]);
	free(v);
	return list;
}

json_t *
imgstore_list(struct imgstore *st, enum imgstore_kind kind, const char *sha256)
{
	json_t *all, *out, *e;
	size_t i;

	if ((all = all_entries(st, kind)) == NULL ||
	    (out = json_array()) == NULL) {
		json_decref(all);
		return NULL;
	}
	json_array_foreach(all, i, e) {
		if (sha256 != NULL &&
		    strcmp(json_string_value(json_object_get(e, "sha256")),
			sha256) != 0)
			continue;
		json_array_append_new(out, public_view(json_deep_copy(e)));
	}
	json_decref(all);
	return out;
}

json_t *
imgstore_get(struct imgstore *st, enum imgstore_kind kind, const char *name,
    struct rrerr *err)
{
	json_t *e;

	if (!imgstore_name_ok(name)) {
		rrerr_set(err, RRERR_NOT_FOUND, "name", "no %s %s",
		    imgstore_kind_name(kind), name);
		return NULL;
	}
	if ((e = load_entry(st->dirfd[kind], name, err)) == NULL) {
		if (err != NULL && err->code == RRERR_NOT_FOUND)
			rrerr_set(err, RRERR_NOT_FOUND, "name", "no %s %s",
			    imgstore_kind_name(kind), name);
		return NULL;
	}
	return public_view(e);
}

static struct imgstore_upload *
upload_of(struct imgstore *st, enum imgstore_kind kind, const char *name)
{
	struct imgstore_upload *up;

	for (up = st->uploads; up != NULL; up = up->next)
		if (up->kind == kind && strcmp(up->name, name) == 0)
			return up;
	return NULL;
}

int
imgstore_delete(struct imgstore *st, enum imgstore_kind kind, const char *name,
    struct rrerr *err)
{
	char file[IMGSTORE_NAME_MAX + 8];
	json_t *e;

	if (!imgstore_name_ok(name))
		return rrerr_set(err, RRERR_NOT_FOUND, "name", "no %s %s",
		    imgstore_kind_name(kind), name);
	if (upload_of(st, kind, name) != NULL)
		return rrerr_set(err, RRERR_CONFLICT, "name",
		    "an upload of %s %s is in progress",
		    imgstore_kind_name(kind), name);
	if ((e = load_entry(st->dirfd[kind], name, err)) == NULL) {
		if (err != NULL && err->code == RRERR_NOT_FOUND)
			rrerr_set(err, RRERR_NOT_FOUND, "name", "no %s %s",
			    imgstore_kind_name(kind), name);
		return -1;
	}
	snprintf(file, sizeof(file), "%s.json", name);
	if (unlinkat(st->dirfd[kind], file, 0) == -1) {
		rrerr_set(err, RRERR_INTERNAL, NULL, "cannot remove %s: %s",
		    file, strerror(errno));
		json_decref(e);
		return -1;
	}
	(void)fsync(st->dirfd[kind]);
	st->stored -= (uint64_t)json_integer_value(json_object_get(e, "size"));
	if (unlinkat(st->dirfd[kind],
		json_string_value(json_object_get(e, "file")), 0) == -1 &&
	    errno != ENOENT)
		log_warn("store: %s %s: cannot remove its data",
		    imgstore_kind_name(kind), name);
	json_decref(e);
	return 0;
}

/* Sum of the sizes of every entry of every kind. */
static uint64_t
stored_total(struct imgstore *st)
{
	uint64_t total = 0;
	json_t *all, *e;
	size_t i;
	int k;

	for (k = 0; k < KINDS; k++) {
		if ((all = all_entries(st, (enum imgstore_kind)k)) == NULL)
			continue;
		json_array_foreach(all, i, e)
			total += (uint64_t)json_integer_value(
			    json_object_get(e, "size"));
		json_decref(all);
	}
	return total;
}

static int
space_error(struct rrerr *err, enum imgstore_kind kind, const char *name)
{
	return rrerr_set(err, RRERR_NO_SPACE, NULL,
	    "%s %s: the store's file "
	    "system is full (store_dir): nothing was kept",
	    imgstore_kind_name(kind), name);
}

struct imgstore_upload *
imgstore_upload_begin(struct imgstore *st, enum imgstore_kind kind,
    const char *name, int64_t length, const char *sha256, struct rrerr *err)
{
	struct imgstore_upload *up;
	char hex[17];
	uint64_t total;

	if (!imgstore_name_ok(name)) {
		rrerr_set(err, RRERR_INVALID, "name",
		    "name: must be 1 to %d "
		    "characters of a-z, 0-9, '_', '.' and '-', starting with "
		    "a letter or a digit",
		    IMGSTORE_NAME_MAX);
		return NULL;
	}
	if (upload_of(st, kind, name) != NULL) {
		rrerr_set(err, RRERR_CONFLICT, "name",
		    "an upload of %s %s is "
		    "in progress: the first one wins; try again once it is "
		    "over",
		    imgstore_kind_name(kind), name);
		return NULL;
	}
	if (length >= 0 && st->limits.max_size != 0 &&
	    (uint64_t)length > st->limits.max_size) {
		rrerr_set(err, RRERR_TOO_LARGE, NULL,
		    "%s %s: %lld bytes; an "
		    "%s is at most %llu bytes (store_max_size)",
		    imgstore_kind_name(kind), name, (long long)length,
		    imgstore_kind_name(kind),
		    (unsigned long long)st->limits.max_size);
		return NULL;
	}
	if (length >= 0 && st->limits.max_total != 0) {
		total = st->stored + st->inflight;
		if (total + (uint64_t)length > st->limits.max_total) {
			rrerr_set(err, RRERR_TOO_LARGE, NULL,
			    "%s %s: %lld "
			    "bytes do not fit: the store holds %llu of at "
			    "most %llu bytes (store_max_total)",
			    imgstore_kind_name(kind), name, (long long)length,
			    (unsigned long long)total,
			    (unsigned long long)st->limits.max_total);
			return NULL;
		}
	}
	if ((up = calloc(1, sizeof(*up))) == NULL) {
		rrerr_set(err, RRERR_INTERNAL, NULL, "out of memory");
		return NULL;
	}
	up->st = st;
	up->kind = kind;
	up->fd = -1;
	up->length = length;
	up->dirfd = st->dirfd[kind];
	snprintf(up->name, sizeof(up->name), "%s", name);
	if (sha256 != NULL)
		snprintf(up->want, sizeof(up->want), "%s", sha256);
	if (random_hex(hex, 8) == -1) {
		rrerr_set(err, RRERR_INTERNAL, NULL, "no random numbers");
		free(up);
		return NULL;
	}
	snprintf(up->tmp, sizeof(up->tmp), ".up-%s", hex);
	if (gnutls_hash_init(&up->hash, GNUTLS_DIG_SHA256) != 0) {
		rrerr_set(err, RRERR_INTERNAL, NULL, "no SHA-256");
		free(up);
		return NULL;
	}
	up->hashing = true;
	up->fd = openat(up->dirfd, up->tmp,
	    O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (up->fd == -1) {
		if (errno == ENOSPC || errno == EDQUOT)
			space_error(err, kind, name);
		else
			rrerr_set(err, RRERR_INTERNAL, NULL,
			    "store: cannot create %s: %s", up->tmp,
			    strerror(errno));
		gnutls_hash_deinit(up->hash, NULL);
		free(up);
		return NULL;
	}
	/* A known length is reserved at once, so that the disk says no now. */
	if (length > 0 &&
	    (errno = posix_fallocate(up->fd, 0, (off_t)length)) != 0 &&
	    errno != EOPNOTSUPP && errno != EINVAL) {
		if (errno == ENOSPC || errno == EDQUOT || errno == EFBIG)
			space_error(err, kind, name);
		else
			rrerr_set(err, RRERR_INTERNAL, NULL, "store: %s: %s",
			    up->tmp, strerror(errno));
		close(up->fd);
		unlinkat(up->dirfd, up->tmp, 0);
		gnutls_hash_deinit(up->hash, NULL);
		free(up);
		return NULL;
	}
	if (length > 0)
		st->inflight += (uint64_t)length;
	up->next = st->uploads;
	st->uploads = up;
	return up;
}

int
imgstore_upload_write(struct imgstore_upload *up, const void *buf, size_t len,
    struct rrerr *err)
{
	struct imgstore *st = up->st;

	if (st->limits.max_size != 0 && up->size + len > st->limits.max_size)
		return rrerr_set(err, RRERR_TOO_LARGE, NULL,
		    "%s %s: more than %llu bytes (store_max_size)",
		    imgstore_kind_name(up->kind), up->name,
		    (unsigned long long)st->limits.max_size);
	if (up->length >= 0 && up->size + len > (uint64_t)up->length)
		return rrerr_set(err, RRERR_BAD_REQUEST, NULL,
		    "the body is longer than its Content-Length");
	/* An unknown length is counted against the total as it comes. */
	if (up->length < 0 && st->limits.max_total != 0 &&
	    st->stored + st->inflight + len > st->limits.max_total)
		return rrerr_set(err, RRERR_TOO_LARGE, NULL,
		    "%s %s: the store is full at %llu bytes (store_max_total)",
		    imgstore_kind_name(up->kind), up->name,
		    (unsigned long long)st->limits.max_total);
	if (write_all(up->fd, buf, len) == -1) {
		if (errno == ENOSPC || errno == EDQUOT || errno == EFBIG)
			return space_error(err, up->kind, up->name);
		return rrerr_set(err, RRERR_INTERNAL, NULL, "store: %s: %s",
		    up->tmp, strerror(errno));
	}
	gnutls_hash(up->hash, buf, len);
	up->size += len;
	if (up->length < 0)
		st->inflight += len;
	return 0;
}

uint64_t
imgstore_upload_size(const struct imgstore_upload *up)
{
	return up->size;
}

static void
utc_now(char *buf, size_t size)
{
	struct timespec ts;
	struct tm tm;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

int
imgstore_upload_commit(struct imgstore_upload *up, struct rrerr *err)
{
	unsigned char md[32];
	char created[32], file[IMGSTORE_NAME_MAX + 8],
	    tmp[IMGSTORE_NAME_MAX + 16], hex[17], *text = NULL;
	json_t *old, *e = NULL;
	size_t i;
	int fd, rv = -1;

	gnutls_hash_deinit(up->hash, md);
	up->hashing = false;
	for (i = 0; i < sizeof(md); i++)
		snprintf(up->got + 2 * i, 3, "%02x", md[i]);
	if (up->length >= 0 && up->size != (uint64_t)up->length)
		return rrerr_set(err, RRERR_BAD_REQUEST, NULL,
		    "the body has %llu bytes, its Content-Length said %lld",
		    (unsigned long long)up->size, (long long)up->length);
	if (up->want[0] != '\0' && strcmp(up->want, up->got) != 0)
		return rrerr_set(err, RRERR_BAD_REQUEST, "sha256",
		    "sha256: "
		    "the body's SHA-256 is %s, not %s as announced: nothing "
		    "was kept",
		    up->got, up->want);
	/* Drop what posix_fallocate() reserved past the end. */
	if (ftruncate(up->fd, (off_t)up->size) == -1 || fsync(up->fd) == -1)
		goto io;
	if (random_hex(hex, 8) == -1)
		return rrerr_set(err, RRERR_INTERNAL, NULL,
		    "no random numbers");
	snprintf(up->blob, sizeof(up->blob), ".blob-%s", hex);
	if (renameat(up->dirfd, up->tmp, up->dirfd, up->blob) == -1)
		goto io;
	up->tmp[0] = '\0';
	utc_now(created, sizeof(created));
	e = json_pack("{s:s,s:s,s:I,s:s,s:s}", "name", up->name, "sha256",
	    up->got, "size", (json_int_t)up->size, "created", created, "file",
	    up->blob);
	if (e == NULL || (text = json_dumps(e, JSON_COMPACT)) == NULL) {
		rrerr_set(err, RRERR_INTERNAL, NULL, "out of memory");
		goto cleanup;
	}
	/* The entry it replaces, whose data goes once the new one is in. */
	if ((old = load_entry(up->dirfd, up->name, NULL)) != NULL) {
		snprintf(up->old_blob, sizeof(up->old_blob), "%s",
		    json_string_value(json_object_get(old, "file")));
		up->old_size = (uint64_t)json_integer_value(
		    json_object_get(old, "size"));
		json_decref(old);
	}
	snprintf(file, sizeof(file), "%s.json", up->name);
	snprintf(tmp, sizeof(tmp), ".%s.json.tmp", up->name);
	fd = openat(up->dirfd, tmp,
	    O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd == -1)
		goto io;
	if (write_all(fd, text, strlen(text)) == -1 || fsync(fd) == -1) {
		int saved = errno;

		close(fd);
		unlinkat(up->dirfd, tmp, 0);
		errno = saved;
		goto io;
	}
	if (close(fd) == -1 ||
	    renameat(up->dirfd, tmp, up->dirfd, file) == -1) {
		int saved = errno;

		unlinkat(up->dirfd, tmp, 0);
		errno = saved;
		goto io;
	}
	up->committed = true;
	(void)fsync(up->dirfd);
	if (up->old_blob[0] != '\0' && strcmp(up->old_blob, up->blob) != 0)
		(void)unlinkat(up->dirfd, up->old_blob, 0);
	up->entry = public_view(e);
	e = NULL;
	rv = 0;
	goto cleanup;
io:
	if (errno == ENOSPC || errno == EDQUOT || errno == EFBIG)
		space_error(err, up->kind, up->name);
	else
		rrerr_set(err, RRERR_INTERNAL, NULL, "store: %s %s: %s",
		    imgstore_kind_name(up->kind), up->name, strerror(errno));
cleanup:
	json_decref(e);
	free(text);
	return rv;
}

json_t *
imgstore_upload_end(struct imgstore_upload *up)
{
	struct imgstore_upload **pp;
	json_t *entry;

	if (up == NULL)
		return NULL;
	for (pp = &up->st->uploads; *pp != NULL; pp = &(*pp)->next)
		if (*pp == up) {
			*pp = up->next;
			break;
		}
	up->st->inflight -= up->length >= 0 ? (uint64_t)up->length : up->size;
	if (up->committed)
		up->st->stored += up->size - up->old_size;
	if (up->hashing)
		gnutls_hash_deinit(up->hash, NULL);
	if (up->fd != -1)
		close(up->fd);
	if (!up->committed) {
		if (up->tmp[0] != '\0')
			(void)unlinkat(up->dirfd, up->tmp, 0);
		if (up->blob[0] != '\0')
			(void)unlinkat(up->dirfd, up->blob, 0);
	}
	entry = up->entry;
	free(up);
	return entry;
}

char *
imgstore_resolve(const char *dir, enum imgstore_kind kind, const char *name,
    const char *field, struct rrerr *err)
{
	char kdir[4096], *path = NULL;
	json_t *e;
	int fd;

	if (dir == NULL) {
		rrerr_set(err, RRERR_INVALID, field,
		    "%s: this rumprund has no store", field);
		return NULL;
	}
	imgstore_kind_dir(dir, kind, kdir, sizeof(kdir));
	if ((fd = open(kdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1) {
		rrerr_set(err, RRERR_INTERNAL, field, "%s: %s", kdir,
		    strerror(errno));
		return NULL;
	}
	e = imgstore_name_ok(name) ? load_entry(fd, name, NULL) : NULL;
	close(fd);
	if (e == NULL) {
		rrerr_set(err, RRERR_INVALID, field,
		    "%s: no stored %s %s (GET /v1/%s lists them)", field,
		    imgstore_kind_name(kind), name, kind_dirs[kind]);
		return NULL;
	}
	if (asprintf(&path, "%s/%s", kdir,
		json_string_value(json_object_get(e, "file"))) == -1) {
		path = NULL;
		rrerr_set(err, RRERR_INTERNAL, NULL, "out of memory");
	}
	json_decref(e);
	return path;
}

bool
imgstore_exists(const char *dir, enum imgstore_kind kind, const char *name)
{
	char *path;

	if ((path = imgstore_resolve(dir, kind, name, "", NULL)) == NULL)
		return false;
	free(path);
	return true;
}

char *
imgstore_copy_path(const char *dir, const char *instance, size_t index)
{
	char *path;

	if (asprintf(&path, "%s/copies/%s/blk%zu", dir, instance, index) == -1)
		return NULL;
	return path;
}

char *
imgstore_copy(const char *dir, const char *instance, size_t index, int src,
    const char *field, struct rrerr *err)
{
	char idir[4096], tmp[64], *path = NULL;
	struct stat sb;
	int dfd = -1, out = -1;

	imgstore_copies_dir(dir, idir, sizeof(idir));
	snprintf(idir + strlen(idir), sizeof(idir) - strlen(idir), "/%s",
	    instance);
	if (asprintf(&path, "%s/blk%zu", idir, index) == -1) {
		rrerr_set(err, RRERR_INTERNAL, NULL, "out of memory");
		return NULL;
	}
	if (lstat(path, &sb) == 0 && S_ISREG(sb.st_mode))
		return path; /* made at an earlier launch: the instance's */
	if ((mkdir(idir, 0700) == -1 && errno != EEXIST) ||
	    (dfd = open(idir,
		 O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW)) == -1 ||
	    fstat(src, &sb) == -1)
		goto io;
	snprintf(tmp, sizeof(tmp), ".blk%zu.tmp", index);
	out = openat(dfd, tmp,
	    O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (out == -1)
		goto io;
	/* A reflink shares the blocks; else copy them (copy_file_range). */
	if (ioctl(out, FICLONE, src) == -1 &&
	    paths_copy(src, out, (uint64_t)sb.st_size, NULL) == -1)
		goto io;
	if (fsync(out) == -1 || close(out) == -1) {
		out = -1;
		goto io;
	}
	out = -1;
	if (renameat(dfd, tmp, dfd, path + strlen(idir) + 1) == -1)
		goto io;
	(void)fsync(dfd);
	close(dfd);
	return path;
io:
	if (errno == ENOSPC || errno == EDQUOT)
		rrerr_set(err, RRERR_NO_SPACE, field,
		    "%s: no room for the "
		    "instance's copy of the volume: the store's file system "
		    "is full",
		    field);
	else
		rrerr_set(err, RRERR_INTERNAL, field,
		    "%s: cannot copy the volume: %s", field, strerror(errno));
	if (out != -1)
		close(out);
	if (dfd != -1) {
		(void)unlinkat(dfd, tmp, 0);
		close(dfd);
	}
	free(path);
	return NULL;
}

void
imgstore_forget_instance(const char *dir, const char *instance)
{
	char idir[4096];
	struct dirent *de;
	DIR *d;
	int dfd;

	if (dir == NULL)
		return;
	imgstore_copies_dir(dir, idir, sizeof(idir));
	snprintf(idir + strlen(idir), sizeof(idir) - strlen(idir), "/%s",
	    instance);
	if ((dfd = open(idir,
		 O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW)) == -1)
		return;
	if ((d = fdopendir(dfd)) == NULL) {
		close(dfd);
		return;
	}
	while ((de = readdir(d)) != NULL)
		if (strcmp(de->d_name, ".") != 0 &&
		    strcmp(de->d_name, "..") != 0)
			(void)unlinkat(dirfd(d), de->d_name, 0);
	closedir(d);
	if (rmdir(idir) == -1 && errno != ENOENT)
		log_warn("store: cannot remove %s", idir);
}
