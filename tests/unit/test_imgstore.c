/*
 * Unit tests of imgstore: names, references, digests and entries (pure),
 * then the store itself in a fresh /tmp/rrstore.XXXXXX: uploads, digest
 * checks, quotas, one upload per name, the sweep at open, replacement,
 * removal, per-instance copies; and rrctl's default store name.
 */
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "imgstore.h"
#include "paths.h"
#include "rrctl.h"
#include "rrerr.h"
#include "spec.h"

/* SHA-256 of "hello\n" and of "". */
#define HELLO_SHA \
	"5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03"
#define EMPTY_SHA \
	"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

static char top[64];

static int
setup(void **state)
{
	(void)state;
	snprintf(top, sizeof(top), "/tmp/rrstore.XXXXXX");
	if (mkdtemp(top) == NULL)
		return -1;
	return 0;
}

static int
teardown(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", top);
	return system(cmd) == 0 ? 0 : -1;
}

/* Files in top/store/SUB whose names start with prefix. */
static int
count(const char *sub, const char *prefix)
{
	char path[256];
	struct dirent *de;
	DIR *d;
	int n = 0;

	snprintf(path, sizeof(path), "%s/store/%s", top, sub);
	if ((d = opendir(path)) == NULL)
		return -1;
	while ((de = readdir(d)) != NULL)
		if (strncmp(de->d_name, prefix, strlen(prefix)) == 0)
			n++;
	closedir(d);
	return n;
}

static struct imgstore *
open_store(uint64_t max_size, uint64_t max_total)
{
	struct imgstore_limits lim = { max_size, max_total };
	struct imgstore *st;
	struct rrerr err;
	char dir[128];

	snprintf(dir, sizeof(dir), "%s/store", top);
	st = imgstore_open(dir, &lim, &err);
	if (st == NULL)
		fail_msg("imgstore_open: %s", err.message);
	return st;
}

/* Upload text as name in one piece: the commit's result. */
static int
upload(struct imgstore *st, enum imgstore_kind kind, const char *name,
    const char *text, long long length, const char *sha, struct rrerr *err)
{
	struct imgstore_upload *up;
	int rv;

	up = imgstore_upload_begin(st, kind, name, length, sha, err);
	if (up == NULL)
		return -2;
	if (imgstore_upload_write(up, text, strlen(text), err) == -1) {
		json_decref(imgstore_upload_end(up));
		return -1;
	}
	rv = imgstore_upload_commit(up, err);
	json_decref(imgstore_upload_end(up));
	return rv;
}

static void
test_names(void **state)
{
	static const char *good[] = { "a", "0", "rrguest", "hello.bin",
		"a_b-c.d",
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
		NULL };
	static const char *bad[] = { "", "A", ".a", "-a", "_a", "a/b", "a b",
		"..", "a:b",
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
		NULL };
	size_t i;

	(void)state;
	for (i = 0; good[i] != NULL; i++)
		assert_true(imgstore_name_ok(good[i]));
	for (i = 0; bad[i] != NULL; i++)
		assert_false(imgstore_name_ok(bad[i]));
	assert_false(imgstore_name_ok(NULL));
	assert_string_equal(imgstore_ref_name("store:x", IMGSTORE_IMAGE), "x");
	assert_string_equal(imgstore_ref_name("volume:v", IMGSTORE_VOLUME),
	    "v");
	assert_null(imgstore_ref_name("volume:v", IMGSTORE_IMAGE));
	assert_null(imgstore_ref_name("store:x", IMGSTORE_VOLUME));
	assert_null(imgstore_ref_name("/srv/store:x", IMGSTORE_IMAGE));
	assert_string_equal(imgstore_ref_name("store:", IMGSTORE_IMAGE), "");
}

static void
test_digests(void **state)
{
	char hex[IMGSTORE_HEX_LEN + 1];
	struct rrerr err;

	(void)state;
	assert_int_equal(imgstore_parse_digest(HELLO_SHA, "sha256", hex, &err),
	    0);
	assert_string_equal(hex, HELLO_SHA);
	assert_int_equal(
	    imgstore_parse_digest("sha256:5891B5B522D5DF086D0FF0"
				  "B110FBD9D21BB4FC7163AF34D08286A2E846F6BE03",
		"sha256", hex, &err),
	    0);
	assert_string_equal(hex, HELLO_SHA);
	assert_int_equal(imgstore_parse_digest(HELLO_SHA "0", "sha256", hex,
			     &err),
	    -1);
	assert_int_equal(err.code, RRERR_BAD_REQUEST);
	assert_string_equal(err.field, "sha256");
	assert_int_equal(imgstore_parse_digest("sha1:" HELLO_SHA, "X-H", hex,
			     &err),
	    -1);
	assert_string_equal(err.field, "X-H");
	assert_int_equal(imgstore_parse_digest("", "sha256", hex, &err), -1);
	assert_int_equal(
	    imgstore_parse_digest("g891b5b522d5df086d0ff0b110fbd"
				  "9d21bb4fc7163af34d08286a2e846f6be03",
		"sha256", hex, &err),
	    -1);
}

static void
test_entries(void **state)
{
	struct rrerr err;
	json_t *e;

	(void)state;
	e = imgstore_entry_parse(
	    "{\"name\":\"k\",\"sha256\":\"" HELLO_SHA
	    "\",\"size\":6,\"created\":\"2026-12-02T00:00:00Z\",\"file\":"
	    "\".blob-0123456789abcdef\"}",
	    &err);
	assert_non_null(e);
	assert_int_equal(json_integer_value(json_object_get(e, "size")), 6);
	json_decref(e);
	/* What a damaged or hostile file could say: never used. */
	static const char *bad[] = {
		"",
		"[]",
		"{\"name\":\"k\"}",
		"{\"name\":\"k\",\"sha256\":\"" HELLO_SHA "\",\"size\":6,"
		"\"created\":\"x\",\"file\":\"../../etc/shadow\"}",
		"{\"name\":\"k\",\"sha256\":\"" HELLO_SHA "\",\"size\":6,"
		"\"created\":\"x\",\"file\":\".blob-0123456789abcdeg\"}",
		"{\"name\":\"K\",\"sha256\":\"" HELLO_SHA "\",\"size\":6,"
		"\"created\":\"x\",\"file\":\".blob-0123456789abcdef\"}",
		"{\"name\":\"k\",\"sha256\":\"abc\",\"size\":6,"
		"\"created\":\"x\",\"file\":\".blob-0123456789abcdef\"}",
		"{\"name\":\"k\",\"sha256\":\"" HELLO_SHA "\",\"size\":-1,"
		"\"created\":\"x\",\"file\":\".blob-0123456789abcdef\"}",
		"{\"name\":\"k\",\"name\":\"k\",\"sha256\":\"" HELLO_SHA
		"\",\"size\":6,\"created\":\"x\",\"file\":"
		"\".blob-0123456789abcdef\"}",
		NULL,
	};
	for (size_t i = 0; bad[i] != NULL; i++) {
		e = imgstore_entry_parse(bad[i], &err);
		if (e != NULL)
			fail_msg("accepted: %s", bad[i]);
		assert_int_equal(err.code, RRERR_INTERNAL);
	}
}

static void
test_upload_and_read(void **state)
{
	struct imgstore *st = open_store(0, 0);
	char dir[128], *path;
	struct rrerr err;
	json_t *e, *l;
	struct stat sb;

	(void)state;
	snprintf(dir, sizeof(dir), "%s/store", top);
	assert_int_equal(stat(dir, &sb), 0);
	assert_int_equal(sb.st_mode & 07777, 0700);
	assert_int_equal(upload(st, IMGSTORE_IMAGE, "k", "hello\n", 6,
			     HELLO_SHA, &err),
	    0);
	e = imgstore_get(st, IMGSTORE_IMAGE, "k", &err);
	assert_non_null(e);
	assert_string_equal(json_string_value(json_object_get(e, "sha256")),
	    HELLO_SHA);
	assert_null(json_object_get(e, "file")); /* never shown */
	json_decref(e);
	assert_null(imgstore_get(st, IMGSTORE_VOLUME, "k", &err));
	assert_int_equal(err.code, RRERR_NOT_FOUND);
	/* Listing, with and without the digest filter. */
	l = imgstore_list(st, IMGSTORE_IMAGE, NULL);
	assert_int_equal(json_array_size(l), 1);
	json_decref(l);
	l = imgstore_list(st, IMGSTORE_IMAGE, EMPTY_SHA);
	assert_int_equal(json_array_size(l), 0);
	json_decref(l);
	/* A launch resolves the entry to its data, which holds the bytes. */
	assert_true(imgstore_exists(dir, IMGSTORE_IMAGE, "k"));
	assert_false(imgstore_exists(dir, IMGSTORE_IMAGE, "nothing"));
	assert_false(imgstore_exists(dir, IMGSTORE_IMAGE, "../k"));
	path = imgstore_resolve(dir, IMGSTORE_IMAGE, "k", "image", &err);
	assert_non_null(path);
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(sb.st_size, 6);
	free(path);
	assert_null(
	    imgstore_resolve(dir, IMGSTORE_IMAGE, "nothing", "image", &err));
	assert_int_equal(err.code, RRERR_INVALID);
	assert_string_equal(err.field, "image");
	/* Unknown length (chunked), empty body. */
	assert_int_equal(upload(st, IMGSTORE_VOLUME, "empty", "", -1, EMPTY_SHA,
			     &err),
	    0);
	assert_int_equal(count("images", ".up-"), 0);
	assert_int_equal(count("images", ".blob-"), 1);
	assert_int_equal(count("volumes", ".blob-"), 1);
	imgstore_close(st);
}

static void
test_refusals_leave_nothing(void **state)
{
	struct imgstore *st = open_store(10, 15);
	struct imgstore_upload *up, *up2;
	struct rrerr err;

	(void)state;
	/* A digest mismatch. */
	assert_int_equal(upload(st, IMGSTORE_IMAGE, "k", "hello\n", 6,
			     EMPTY_SHA, &err),
	    -1);
	assert_int_equal(err.code, RRERR_BAD_REQUEST);
	assert_string_equal(err.field, "sha256");
	assert_non_null(strstr(err.message, HELLO_SHA));
	/* Fewer bytes than announced; more than announced. */
	assert_int_equal(upload(st, IMGSTORE_IMAGE, "k", "hello\n", 7, NULL,
			     &err),
	    -1);
	assert_int_equal(err.code, RRERR_BAD_REQUEST);
	assert_int_equal(upload(st, IMGSTORE_IMAGE, "k", "hello\n", 5, NULL,
			     &err),
	    -1);
	assert_int_equal(err.code, RRERR_BAD_REQUEST);
	/* Quotas: per entry, announced or not; in total. */
	assert_int_equal(upload(st, IMGSTORE_IMAGE, "k", "01234567890", 11,
			     NULL, &err),
	    -2);
	assert_int_equal(err.code, RRERR_TOO_LARGE);
	assert_non_null(strstr(err.message, "store_max_size"));
	assert_int_equal(upload(st, IMGSTORE_IMAGE, "k", "01234567890", -1,
			     NULL, &err),
	    -1);
	assert_int_equal(err.code, RRERR_TOO_LARGE);
	assert_int_equal(upload(st, IMGSTORE_IMAGE, "k", "0123456789", 10, NULL,
			     &err),
	    0);
	assert_int_equal(upload(st, IMGSTORE_VOLUME, "v", "012345", 6, NULL,
			     &err),
	    -2);
	assert_int_equal(err.code, RRERR_TOO_LARGE);
	assert_non_null(strstr(err.message, "store_max_total"));
	assert_int_equal(upload(st, IMGSTORE_VOLUME, "v", "012345", -1, NULL,
			     &err),
	    -1);
	assert_int_equal(err.code, RRERR_TOO_LARGE);
	assert_int_equal(count("images", ".up-"), 0);
	assert_int_equal(count("volumes", ".up-"), 0);
	assert_int_equal(count("volumes", ".blob-"), 0);
	/* A bad name. */
	assert_null(
	    imgstore_upload_begin(st, IMGSTORE_IMAGE, "../x", 1, NULL, &err));
	assert_int_equal(err.code, RRERR_INVALID);
	assert_string_equal(err.field, "name");
	/* One upload per name: the first one wins; others go on. */
	up = imgstore_upload_begin(st, IMGSTORE_VOLUME, "w", 2, NULL, &err);
	assert_non_null(up);
	assert_null(
	    imgstore_upload_begin(st, IMGSTORE_VOLUME, "w", 2, NULL, &err));
	assert_int_equal(err.code, RRERR_CONFLICT);
	assert_int_equal(imgstore_delete(st, IMGSTORE_VOLUME, "w", &err), -1);
	up2 = imgstore_upload_begin(st, IMGSTORE_IMAGE, "w", 2, NULL, &err);
	assert_non_null(up2);
	/* The two reserve 4 bytes of the 5 left: a third does not fit. */
	assert_null(
	    imgstore_upload_begin(st, IMGSTORE_VOLUME, "x", 2, NULL, &err));
	assert_int_equal(err.code, RRERR_TOO_LARGE);
	assert_int_equal(count("volumes", ".up-"), 1);
	/* Ended without a commit (the client left): nothing stays. */
	assert_int_equal(imgstore_upload_write(up, "ab", 2, &err), 0);
	assert_null(imgstore_upload_end(up));
	assert_null(imgstore_upload_end(up2));
	assert_int_equal(count("volumes", ".up-"), 0);
	assert_int_equal(count("images", ".up-"), 0);
	up = imgstore_upload_begin(st, IMGSTORE_VOLUME, "w", 2, NULL, &err);
	assert_non_null(up);
	json_decref(imgstore_upload_end(up));
	imgstore_close(st);
}

static void
test_replace_delete_sweep(void **state)
{
	struct imgstore *st = open_store(0, 0);
	char path[256];
	struct rrerr err;
	json_t *e;
	int fd;

	(void)state;
	assert_int_equal(upload(st, IMGSTORE_IMAGE, "k", "one", 3, NULL, &err),
	    0);
	assert_int_equal(upload(st, IMGSTORE_IMAGE, "k", "hello\n", 6, NULL,
			     &err),
	    0);
	/* The replaced data is gone; the entry names the new. */
	assert_int_equal(count("images", ".blob-"), 1);
	e = imgstore_get(st, IMGSTORE_IMAGE, "k", &err);
	assert_string_equal(json_string_value(json_object_get(e, "sha256")),
	    HELLO_SHA);
	json_decref(e);
	/* What a crash leaves: an upload, data no entry names, a temp entry. */
	imgstore_close(st);
	snprintf(path, sizeof(path), "%s/store/images/.up-0123456789abcdef",
	    top);
	assert_int_not_equal(fd = open(path, O_CREAT | O_WRONLY, 0600), -1);
	close(fd);
	snprintf(path, sizeof(path), "%s/store/images/.blob-0123456789abcdef",
	    top);
	assert_int_not_equal(fd = open(path, O_CREAT | O_WRONLY, 0600), -1);
	close(fd);
	snprintf(path, sizeof(path), "%s/store/images/.k.json.tmp", top);
	assert_int_not_equal(fd = open(path, O_CREAT | O_WRONLY, 0600), -1);
	close(fd);
	/* Not ours: left alone. */
	snprintf(path, sizeof(path), "%s/store/images/README", top);
	assert_int_not_equal(fd = open(path, O_CREAT | O_WRONLY, 0600), -1);
	close(fd);
	st = open_store(0, 0);
	assert_int_equal(count("images", ".up-"), 0);
	assert_int_equal(count("images", ".blob-"), 1);
	assert_int_equal(count("images", ".k.json"), 0);
	assert_int_equal(count("images", "README"), 1);
	e = imgstore_get(st, IMGSTORE_IMAGE, "k", &err);
	assert_non_null(e);
	json_decref(e);
	/* Removal: the entry and its data. */
	assert_int_equal(imgstore_delete(st, IMGSTORE_IMAGE, "k", &err), 0);
	assert_int_equal(count("images", ".blob-"), 0);
	assert_int_equal(count("images", "k.json"), 0);
	assert_int_equal(imgstore_delete(st, IMGSTORE_IMAGE, "k", &err), -1);
	assert_int_equal(err.code, RRERR_NOT_FOUND);
	imgstore_close(st);
}

static void
test_total_accounting(void **state)
{
	struct imgstore *st = open_store(0, 10);
	struct rrerr err;

	(void)state;
	assert_int_equal(upload(st, IMGSTORE_IMAGE, "k", "one", 3, NULL, &err),
	    0);
	/* A replacement counts its new size only. */
	assert_int_equal(upload(st, IMGSTORE_IMAGE, "k", "hello\n", 6, NULL,
			     &err),
	    0);
	assert_int_equal(upload(st, IMGSTORE_VOLUME, "v", "abcd", 4, NULL,
			     &err),
	    0);
	assert_int_equal(upload(st, IMGSTORE_VOLUME, "w", "x", 1, NULL, &err),
	    -2);
	assert_int_equal(err.code, RRERR_TOO_LARGE);
	/* A removal gives its bytes back; so does a restart's count. */
	assert_int_equal(imgstore_delete(st, IMGSTORE_IMAGE, "k", &err), 0);
	imgstore_close(st);
	st = open_store(0, 10);
	assert_int_equal(upload(st, IMGSTORE_VOLUME, "w", "abcdef", -1, NULL,
			     &err),
	    0);
	assert_int_equal(upload(st, IMGSTORE_VOLUME, "x", "x", -1, NULL, &err),
	    -1);
	assert_int_equal(err.code, RRERR_TOO_LARGE);
	imgstore_close(st);
}

static void
test_copies(void **state)
{
	struct imgstore *st = open_store(0, 0);
	char dir[128], buf[16], *vol, *copy, *again, *p;
	struct rrerr err;
	ssize_t n;
	int src, fd;

	(void)state;
	snprintf(dir, sizeof(dir), "%s/store", top);
	assert_int_equal(upload(st, IMGSTORE_VOLUME, "v", "hello\n", 6, NULL,
			     &err),
	    0);
	vol = imgstore_resolve(dir, IMGSTORE_VOLUME, "v", "blk[0].source",
	    &err);
	assert_non_null(vol);
	assert_int_not_equal(src = open(vol, O_RDONLY), -1);
	copy = imgstore_copy(dir, "inst", 0, src, "blk[0].source", &err);
	assert_non_null(copy);
	p = imgstore_copy_path(dir, "inst", 0);
	assert_string_equal(copy, p);
	free(p);
	/* The copy is the instance's: writing it leaves the volume alone. */
	assert_int_not_equal(fd = open(copy, O_WRONLY), -1);
	assert_int_equal(pwrite(fd, "HELLO", 5, 0), 5);
	close(fd);
	/* Asked again (the next start): the same copy, not a new one. */
	again = imgstore_copy(dir, "inst", 0, src, "blk[0].source", &err);
	assert_string_equal(again, copy);
	assert_int_not_equal(fd = open(again, O_RDONLY), -1);
	n = read(fd, buf, sizeof(buf));
	close(fd);
	assert_int_equal(n, 6);
	assert_memory_equal(buf, "HELLO\n", 6);
	assert_int_not_equal(fd = open(vol, O_RDONLY), -1);
	n = read(fd, buf, sizeof(buf));
	close(fd);
	assert_memory_equal(buf, "hello\n", 6);
	close(src);
	/* Removed with the instance. */
	imgstore_forget_instance(dir, "inst");
	assert_int_equal(access(copy, F_OK), -1);
	assert_int_equal(count("copies", "inst"), 0);
	imgstore_forget_instance(dir, "inst"); /* twice is fine */
	imgstore_forget_instance(NULL, "inst");
	free(again);
	free(copy);
	free(vol);
	imgstore_close(st);
}

/* The first bytes of the file open at fd (from offset 0). */
static void
assert_starts(int fd, const char *want)
{
	char buf[32];
	ssize_t n;

	n = pread(fd, buf, strlen(want), 0);
	assert_int_equal(n, (ssize_t)strlen(want));
	assert_memory_equal(buf, want, strlen(want));
}

/*
 * A launch's files from the store: opened beneath it, the copy made at the
 * first open and kept; a store file swapped for a symlink is refused.
 */
static void
test_launch_files(void **state)
{
	struct imgstore *st = open_store(0, 0);
	struct spec_blk blk[2];
	struct spec spec;
	struct spec_policy policy;
	struct paths_files files;
	char dir[128], *path;
	struct rrerr err;

	(void)state;
	snprintf(dir, sizeof(dir), "%s/store", top);
	assert_int_equal(upload(st, IMGSTORE_IMAGE, "k", "KERNEL", 6, NULL,
			     &err),
	    0);
	assert_int_equal(upload(st, IMGSTORE_VOLUME, "v", "volume", 6, NULL,
			     &err),
	    0);
	memset(&spec, 0, sizeof(spec));
	memset(blk, 0, sizeof(blk));
	memset(&policy, 0, sizeof(policy));
	policy.store_dir = dir;
	spec.name = (char *)"inst";
	spec.image = (char *)"store:k";
	blk[0].source = (char *)"volume:v";
	blk[0].copy = true;
	blk[1].source = (char *)"volume:v";
	blk[1].readonly = true;
	spec.blk = blk;
	spec.nblk = 2;

	/* An adoption's check (read-only): no copy made yet. */
	assert_int_equal(paths_open_spec(&spec, &policy, true, &files, &err),
	    0);
	assert_starts(files.image, "KERNEL");
	assert_starts(files.blk[0], "volume");
	paths_files_close(&files);
	assert_int_equal(count("copies", "inst"), 0);

	/* A launch: the copy is made, written through, kept. */
	assert_int_equal(paths_open_spec(&spec, &policy, false, &files, &err),
	    0);
	assert_int_equal(pwrite(files.blk[0], "COPY", 4, 0), 4);
	assert_starts(files.blk[1], "volume");
	assert_int_equal(fcntl(files.blk[1], F_GETFL) & O_ACCMODE, O_RDONLY);
	paths_files_close(&files);
	assert_int_equal(paths_open_spec(&spec, &policy, false, &files, &err),
	    0);
	assert_starts(files.blk[0], "COPYme");
	assert_starts(files.blk[1], "volume");
	paths_files_close(&files);

	/* An entry that is gone: the field says so. */
	spec.image = (char *)"store:nothing";
	assert_int_equal(paths_open_spec(&spec, &policy, false, &files, &err),
	    -1);
	assert_string_equal(err.field, "image");
	assert_non_null(strstr(err.message, "no stored image nothing"));
	spec.image = (char *)"store:k";

	/* The image's data swapped for a symlink out of the store. */
	path = imgstore_resolve(dir, IMGSTORE_IMAGE, "k", "image", &err);
	assert_non_null(path);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(symlink("/etc/passwd", path), 0);
	assert_int_equal(paths_open_spec(&spec, &policy, false, &files, &err),
	    -1);
	assert_string_equal(err.field, "image");
	free(path);
	imgstore_close(st);
}

static void
test_rrctl_default_name(void **state)
{
	static const struct {
		const char *file, *name;
	} cases[] = {
		{ "hello.bin", "hello.bin" },
		{ "/srv/x/Hello.Kernel", "hello.kernel" },
		{ "../a b+c", "a-b-c" },
		{ "._x", "x" },
		{ "...", "image" },
		{ "dir/", "image" },
		{ "/x/-_Z", "z" },
		{ NULL, NULL },
	};
	char buf[IMAGE_NAME_MAX + 1], big[200];
	size_t i;

	(void)state;
	for (i = 0; cases[i].file != NULL; i++) {
		image_default_name(cases[i].file, buf, sizeof(buf));
		assert_string_equal(buf, cases[i].name);
		assert_true(imgstore_name_ok(buf));
	}
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	image_default_name(big, buf, sizeof(buf));
	assert_int_equal(strlen(buf), IMAGE_NAME_MAX);
	assert_true(imgstore_name_ok(buf));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_digests),
		cmocka_unit_test(test_entries),
		cmocka_unit_test_setup_teardown(test_upload_and_read, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_refusals_leave_nothing,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_replace_delete_sweep,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_total_accounting, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_copies, setup, teardown),
		cmocka_unit_test_setup_teardown(test_launch_files, setup,
		    teardown),
		cmocka_unit_test(test_rrctl_default_name),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
