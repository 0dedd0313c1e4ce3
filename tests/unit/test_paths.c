/*
 * Unit tests of paths: confinement of host paths to allowed directories.
 *
 * Every test runs against the tree[] below, made under a fresh
 * /tmp/rrtest.XXXXXX: img/ is the allowed directory.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "fixture.h"
#include "paths.h"
#include "rrerr.h"
#include "spec.h"

static const struct fx_node tree[] = {
	{ 'd', "img", NULL },
	{ 'd', "img/sub", NULL },
	{ 'd', "img/dir", NULL },
	{ 'd', "img2", NULL }, /* img is a prefix of its name */
	{ 'd', "outside", NULL },
	{ 'f', "img/a.bin", "a" },
	{ 'f', "img/sub/b.bin", "b" },
	{ 'f', "img2/c.bin", "c" },
	{ 'f', "outside/secret", "s" },
	/* The race: img/race is swapped for a symlink to outside/race. */
	{ 'd', "img/race", NULL },
	{ 'f', "img/race/f", "ok" },
	{ 'd', "outside/race", NULL },
	{ 'f', "outside/race/f", "SECRET" },
	/* Symlinks inside that stay inside. */
	{ 'l', "img/in", "a.bin" },
	{ 'l', "img/in-abs", "@/img/sub/b.bin" },
	/* Symlinks inside that lead out, or nowhere. */
	{ 'l', "img/out", "@/outside/secret" },
	{ 'l', "img/out-dir", "@/outside" },
	{ 'l', "img/dangling", "@/outside/nothing" },
	{ 'l', "img/loop", "loop" },
	/* The allowed directory under another name. */
	{ 'l', "imglink", "@/img" },
	{ 0, NULL, NULL },
};

static const char *img_dirs[2];

static int
setup(void **state)
{
	(void)state;
	if (fx_build(tree) == -1)
		return -1;
	img_dirs[0] = strdup(fx_path("img"));
	img_dirs[1] = NULL;
	return img_dirs[0] != NULL ? 0 : -1;
}

static int
teardown(void **state)
{
	(void)state;
	free((char *)(uintptr_t)img_dirs[0]);
	return fx_remove();
}

/*
 * Expect paths_confine(path, dirs, kind) to succeed with the resolved path
 * want, or to fail with code and message; the field is always "image".
 */
#define expect_ok(path, dirs, kind, want) \
	expect_at(__FILE__, __LINE__, (path), (dirs), (kind), RRERR_OK, (want))
#define expect_fail(path, dirs, kind, code, message) \
	expect_at(__FILE__, __LINE__, (path), (dirs), (kind), (code), (message))

static void
expect_at(const char *file, int line, const char *path, const char *const *dirs,
    enum paths_kind kind, enum rrerr_code code, const char *want)
{
	struct rrerr err;
	char *resolved = NULL;
	int rv;

	rrerr_clear(&err);
	rv = paths_confine(path, dirs, kind, "image", &resolved, &err);
	if (code == RRERR_OK) {
		if (rv != 0)
			print_error("%s: %s\n", path, err.message);
		_assert_int_equal(rv, 0, file, line);
		_assert_string_equal(resolved, want, file, line);
	} else {
		_assert_int_equal(rv, -1, file, line);
		_assert_true(resolved == NULL, "resolved == NULL", file, line);
		_assert_int_equal(err.code, code, file, line);
		_assert_string_equal(err.field, "image", file, line);
		_assert_string_equal(err.message, want, file, line);
	}
	free(resolved);
}

/* The message for a path that leads out of the allowed directories. */
static const char *
outside(const char *path)
{
	static char buf[PATH_MAX + 128];

	snprintf(buf, sizeof(buf),
	    "image: %s is outside the allowed directories (GET /v1/info "
	    "and rrctl info list them)",
	    path);
	return buf;
}

/* The message "image: PATH REASON". */
static const char *
says(const char *path, const char *reason)
{
	static char buf[PATH_MAX + 128];

	snprintf(buf, sizeof(buf), "image: %s %s", path, reason);
	return buf;
}

static void
test_inside(void **state)
{
	(void)state;
	expect_ok(fx_path("img/a.bin"), img_dirs, PATHS_REGULAR,
	    fx_path("img/a.bin"));
	expect_ok(fx_path("img/sub/b.bin"), img_dirs, PATHS_REGULAR,
	    fx_path("img/sub/b.bin"));
	expect_ok(fx_path("img/sub/../a.bin"), img_dirs, PATHS_REGULAR,
	    fx_path("img/a.bin"));
	expect_ok(fx_path("img//./sub///b.bin"), img_dirs, PATHS_REGULAR,
	    fx_path("img/sub/b.bin"));
	expect_ok(fx_path("img/a.bin"), img_dirs, PATHS_REGULAR_OR_BLOCK,
	    fx_path("img/a.bin"));
}

static void
test_symlink_inside(void **state)
{
	(void)state;
	expect_ok(fx_path("img/in"), img_dirs, PATHS_REGULAR,
	    fx_path("img/a.bin"));
	expect_ok(fx_path("img/in-abs"), img_dirs, PATHS_REGULAR,
	    fx_path("img/sub/b.bin"));
}

static void
test_form(void **state)
{
	char longpath[SPEC_PATH_MAX + 2];

	(void)state;
	expect_fail("img/a.bin", img_dirs, PATHS_REGULAR, RRERR_INVALID,
	    "image: must be an absolute path");
	expect_fail("", img_dirs, PATHS_REGULAR, RRERR_INVALID,
	    "image: must be an absolute path");
	expect_fail(NULL, img_dirs, PATHS_REGULAR, RRERR_INVALID,
	    "image: must be an absolute path");
	memset(longpath, 'a', sizeof(longpath) - 1);
	longpath[0] = '/';
	longpath[sizeof(longpath) - 1] = '\0';
	expect_fail(longpath, img_dirs, PATHS_REGULAR, RRERR_INVALID,
	    "image: must be at most 1024 bytes");
	expect_fail(fx_path("img/a\nb"), img_dirs, PATHS_REGULAR, RRERR_INVALID,
	    "image: contains a control character");
	expect_fail(fx_path("img/a\177b"), img_dirs, PATHS_REGULAR,
	    RRERR_INVALID, "image: contains a control character");
}

static void
test_outside(void **state)
{
	const char *p;

	(void)state;
	p = fx_path("outside/secret");
	expect_fail(p, img_dirs, PATHS_REGULAR, RRERR_FORBIDDEN, outside(p));
	p = fx_path("outside/nothing");
	expect_fail(p, img_dirs, PATHS_REGULAR, RRERR_FORBIDDEN, outside(p));
	expect_fail("/etc/passwd", img_dirs, PATHS_REGULAR, RRERR_FORBIDDEN,
	    outside("/etc/passwd"));
	expect_fail("/", img_dirs, PATHS_REGULAR, RRERR_FORBIDDEN,
	    outside("/"));
	/* No allowed directory at all: everything is outside. */
	p = fx_path("img/a.bin");
	expect_fail(p, NULL, PATHS_REGULAR, RRERR_FORBIDDEN, outside(p));
}

static void
test_dotdot(void **state)
{
	const char *p;

	(void)state;
	p = fx_path("img/../outside/secret");
	expect_fail(p, img_dirs, PATHS_REGULAR, RRERR_FORBIDDEN, outside(p));
	p = fx_path("img/../outside/nothing");
	expect_fail(p, img_dirs, PATHS_REGULAR, RRERR_FORBIDDEN, outside(p));
	p = fx_path("img/sub/../../outside/secret");
	expect_fail(p, img_dirs, PATHS_REGULAR, RRERR_FORBIDDEN, outside(p));
	p = fx_path("img/../img2/c.bin");
	expect_fail(p, img_dirs, PATHS_REGULAR, RRERR_FORBIDDEN, outside(p));
}

/*
 * A symlink inside that leads out is forbidden, and the answer is the same
 * whether or not the file it leads to exists: no probing outside.
 */
static void
test_symlink_out(void **state)
{
	const char *p;

	(void)state;
	p = fx_path("img/out");
	expect_fail(p, img_dirs, PATHS_REGULAR, RRERR_FORBIDDEN, outside(p));
	p = fx_path("img/dangling");
	expect_fail(p, img_dirs, PATHS_REGULAR, RRERR_FORBIDDEN, outside(p));
	p = fx_path("img/loop");
	expect_fail(p, img_dirs, PATHS_REGULAR, RRERR_FORBIDDEN, outside(p));
	p = fx_path("img/out-dir/secret");
	expect_fail(p, img_dirs, PATHS_REGULAR, RRERR_FORBIDDEN, outside(p));
	p = fx_path("img/out-dir/nothing");
	expect_fail(p, img_dirs, PATHS_REGULAR, RRERR_FORBIDDEN, outside(p));
	p = fx_path("img/out-dir/nodir/nothing");
	expect_fail(p, img_dirs, PATHS_REGULAR, RRERR_FORBIDDEN, outside(p));
	/* Lexically img/a.bin, really ROOT/a.bin. */
	p = fx_path("img/out-dir/../a.bin");
	expect_fail(p, img_dirs, PATHS_REGULAR, RRERR_FORBIDDEN, outside(p));
	p = fx_path("img/out-dir/../img/a.bin");
	expect_ok(p, img_dirs, PATHS_REGULAR, fx_path("img/a.bin"));
}

static void
test_sibling_prefix(void **state)
{
	const char *p;

	(void)state;
	p = fx_path("img2/c.bin");
	expect_fail(p, img_dirs, PATHS_REGULAR, RRERR_FORBIDDEN, outside(p));
	p = fx_path("img2/nothing");
	expect_fail(p, img_dirs, PATHS_REGULAR, RRERR_FORBIDDEN, outside(p));
}

static void
test_dir_itself(void **state)
{
	const char *p;

	(void)state;
	p = fx_path("img");
	expect_fail(p, img_dirs, PATHS_REGULAR, RRERR_FORBIDDEN, outside(p));
	p = fx_path("img/");
	expect_fail(p, img_dirs, PATHS_REGULAR, RRERR_FORBIDDEN, outside(p));
	p = fx_path("img/.");
	expect_fail(p, img_dirs, PATHS_REGULAR, RRERR_FORBIDDEN, outside(p));
	p = fx_path("img/sub/..");
	expect_fail(p, img_dirs, PATHS_REGULAR, RRERR_FORBIDDEN, outside(p));
}

static void
test_missing_inside(void **state)
{
	const char *p;

	(void)state;
	p = fx_path("img/nothing");
	expect_fail(p, img_dirs, PATHS_REGULAR, RRERR_INVALID,
	    says(p, "does not exist"));
	p = fx_path("img/nodir/nothing");
	expect_fail(p, img_dirs, PATHS_REGULAR, RRERR_INVALID,
	    says(p, "does not exist"));
	p = fx_path("img/a.bin/nothing");
	expect_fail(p, img_dirs, PATHS_REGULAR, RRERR_INVALID,
	    says(p, "does not exist"));
	p = fx_path("img/sub/../nothing");
	expect_fail(p, img_dirs, PATHS_REGULAR, RRERR_INVALID,
	    says(p, "does not exist"));
}

static void
test_not_a_file(void **state)
{
	const char *p;

	(void)state;
	p = fx_path("img/dir");
	expect_fail(p, img_dirs, PATHS_REGULAR, RRERR_INVALID,
	    says(p, "is not a regular file"));
	expect_fail(p, img_dirs, PATHS_REGULAR_OR_BLOCK, RRERR_INVALID,
	    says(p, "is not a regular file or a block device"));
}

static void
test_devices(void **state)
{
	static const char *const dev[] = { "/dev", NULL };
	struct stat sb;

	(void)state;
	expect_fail("/dev/null", dev, PATHS_REGULAR_OR_BLOCK, RRERR_INVALID,
	    says("/dev/null", "is not a regular file or a block device"));
	if (stat("/dev/loop0", &sb) == -1 || !S_ISBLK(sb.st_mode)) {
		print_message("no /dev/loop0 block device: skipped\n");
		return;
	}
	expect_ok("/dev/loop0", dev, PATHS_REGULAR_OR_BLOCK, "/dev/loop0");
	expect_fail("/dev/loop0", dev, PATHS_REGULAR, RRERR_INVALID,
	    says("/dev/loop0", "is not a regular file"));
}

/*
 * The allowed directories themselves: named through a symlink, missing,
 * relative, with a trailing slash.
 */
static void
test_allowed_dirs(void **state)
{
	const char *dirs[4], *p;

	(void)state;
	dirs[0] = strdup(fx_path("imglink"));
	dirs[1] = NULL;
	expect_ok(fx_path("imglink/a.bin"), dirs, PATHS_REGULAR,
	    fx_path("img/a.bin"));
	expect_ok(fx_path("img/a.bin"), dirs, PATHS_REGULAR,
	    fx_path("img/a.bin"));
	p = fx_path("imglink/nothing");
	expect_fail(p, dirs, PATHS_REGULAR, RRERR_INVALID,
	    says(p, "does not exist"));
	p = fx_path("img/nothing");
	expect_fail(p, dirs, PATHS_REGULAR, RRERR_INVALID,
	    says(p, "does not exist"));
	free((char *)(uintptr_t)dirs[0]);

	/* A missing directory is skipped, but says "does not exist". */
	dirs[0] = strdup(fx_path("missing"));
	dirs[1] = "img"; /* relative: allows nothing */
	dirs[2] = NULL;
	p = fx_path("missing/x.bin");
	expect_fail(p, dirs, PATHS_REGULAR, RRERR_INVALID,
	    says(p, "does not exist"));
	p = fx_path("missing/../outside/secret");
	expect_fail(p, dirs, PATHS_REGULAR, RRERR_FORBIDDEN, outside(p));
	p = fx_path("img/a.bin");
	expect_fail(p, dirs, PATHS_REGULAR, RRERR_FORBIDDEN, outside(p));
	free((char *)(uintptr_t)dirs[0]);

	dirs[0] = strdup(fx_path("img/"));
	dirs[1] = NULL;
	expect_ok(fx_path("img/a.bin"), dirs, PATHS_REGULAR,
	    fx_path("img/a.bin"));
	free((char *)(uintptr_t)dirs[0]);
}

static void
test_field_in_messages(void **state)
{
	struct rrerr err;
	char *resolved = NULL;

	(void)state;
	assert_int_equal(paths_confine("x", img_dirs, PATHS_REGULAR,
			     "blk[2].source", &resolved, &err),
	    -1);
	assert_string_equal(err.field, "blk[2].source");
	assert_string_equal(err.message,
	    "blk[2].source: must be an absolute path");
	/* A NULL err is allowed. */
	assert_int_equal(paths_confine("x", img_dirs, PATHS_REGULAR, "image",
			     &resolved, NULL),
	    -1);
	assert_null(resolved);
}

static void
test_inside_function(void **state)
{
	(void)state;
	assert_true(paths_inside("/srv/img/a", "/srv/img"));
	assert_true(paths_inside("/srv/img/a/b", "/srv/img"));
	assert_true(paths_inside("/srv/img/a", "/srv/img/"));
	assert_false(paths_inside("/srv/img", "/srv/img"));
	assert_false(paths_inside("/srv/img/", "/srv/img"));
	assert_false(paths_inside("/srv/img2/a", "/srv/img"));
	assert_false(paths_inside("/srv/im", "/srv/img"));
	assert_false(paths_inside("/srv", "/srv/img"));
	assert_true(paths_inside("/a", "/"));
	assert_false(paths_inside("/", "/"));
	assert_false(paths_inside(NULL, "/srv"));
	assert_false(paths_inside("/srv/x", NULL));
}

/* The first bytes of the file open at fd, as a string. */
static const char *
contents(int fd)
{
	static char buf[64];
	ssize_t n;

	n = pread(fd, buf, sizeof(buf) - 1, 0);
	buf[n > 0 ? n : 0] = '\0';
	return buf;
}

/* paths_open() gives the file that was checked, and only on success. */
static void
test_open_fd(void **state)
{
	struct rrerr err;
	struct stat a, b;
	char *resolved = NULL;
	int fd = 42;

	(void)state;
	assert_int_equal(paths_open(fx_path("img/sub/../in"), img_dirs,
			     PATHS_REGULAR, O_RDONLY, "image", &resolved, &fd,
			     &err),
	    0);
	assert_string_equal(resolved, fx_path("img/a.bin"));
	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &a), 0);
	assert_int_equal(stat(fx_path("img/a.bin"), &b), 0);
	assert_true(a.st_dev == b.st_dev && a.st_ino == b.st_ino);
	assert_string_equal(contents(fd), "a");
	assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
	assert_int_equal(fcntl(fd, F_GETFL) & O_ACCMODE, O_RDONLY);
	close(fd);
	free(resolved);

	/* Writable when asked; no resolved path when not asked. */
	assert_int_equal(paths_open(fx_path("img/a.bin"), img_dirs,
			     PATHS_REGULAR, O_RDWR, "image", NULL, &fd, &err),
	    0);
	assert_int_equal(fcntl(fd, F_GETFL) & O_ACCMODE, O_RDWR);
	assert_int_equal(pwrite(fd, "A", 1, 0), 1);
	assert_int_equal(pwrite(fd, "a", 1, 0), 1);
	close(fd);

	/* Failures leave *fd at -1, with the same answers as before. */
	fd = 42;
	assert_int_equal(paths_open(fx_path("img/out"), img_dirs, PATHS_REGULAR,
			     O_RDONLY, "image", NULL, &fd, &err),
	    -1);
	assert_int_equal(err.code, RRERR_FORBIDDEN);
	assert_int_equal(fd, -1);
	assert_int_equal(paths_open(fx_path("img/dir"), img_dirs, PATHS_REGULAR,
			     O_RDONLY, "image", NULL, &fd, &err),
	    -1);
	assert_int_equal(err.code, RRERR_INVALID);
	assert_int_equal(fd, -1);
}

/*
 * Once opened, the file is what the descriptor names: swapping the
 * directory above it for a symlink to outside changes nothing.
 */
static void
test_open_then_swap(void **state)
{
	struct rrerr err;
	int fd;

	(void)state;
	assert_int_equal(paths_open(fx_path("img/race/f"), img_dirs,
			     PATHS_REGULAR, O_RDONLY, "image", NULL, &fd, &err),
	    0);
	assert_int_equal(rename(fx_path("img/race"), fx_path("img/race.orig")),
	    0);
	assert_int_equal(symlink(fx_path("outside/race"), fx_path("img/race")),
	    0);
	assert_string_equal(contents(fd), "ok");
	close(fd);
	/* Asked again, the path now leads out. */
	expect_fail(fx_path("img/race/f"), img_dirs, PATHS_REGULAR,
	    RRERR_FORBIDDEN, outside(fx_path("img/race/f")));
	assert_int_equal(unlink(fx_path("img/race")), 0);
	assert_int_equal(rename(fx_path("img/race.orig"), fx_path("img/race")),
	    0);
}

static atomic_bool swapping;

/* Swap img/race for a symlink to outside/race and back, until told. */
static void *
swapper(void *arg)
{
	char dir[PATH_MAX], orig[PATH_MAX], target[PATH_MAX];

	(void)arg;
	snprintf(dir, sizeof(dir), "%s", fx_path("img/race"));
	snprintf(orig, sizeof(orig), "%s", fx_path("img/race.orig"));
	snprintf(target, sizeof(target), "%s", fx_path("outside/race"));
	while (atomic_load(&swapping)) {
		if (rename(dir, orig) == -1 || symlink(target, dir) == -1)
			break;
		sched_yield();
		if (unlink(dir) == -1 || rename(orig, dir) == -1)
			break;
		sched_yield();
	}
	return NULL;
}

/*
 * The attack of issue 13's B1 against the resolver itself: while another
 * thread swaps a directory above the file for a symlink to outside, every
 * open either fails (forbidden or missing) or gives the file inside.
 * Never the file outside.  Both outcomes must be seen, or the race did not
 * happen and the test proves nothing.
 */
static void
race(bool walk_only)
{
	struct rrerr err;
	pthread_t t;
	unsigned int ok = 0, refused = 0, i;
	int fd;

	paths_no_openat2 = walk_only;
	atomic_store(&swapping, true);
	assert_int_equal(pthread_create(&t, NULL, swapper, NULL), 0);
	for (i = 0; i < 100000 && (i < 20000 || ok == 0 || refused == 0); i++) {
		if (paths_open(fx_path("img/race/f"), img_dirs, PATHS_REGULAR,
			O_RDONLY, "image", NULL, &fd, &err) == 0) {
			assert_string_equal(contents(fd), "ok");
			close(fd);
			ok++;
		} else {
			assert_true(err.code == RRERR_FORBIDDEN ||
			    err.code == RRERR_INVALID);
			refused++;
		}
	}
	atomic_store(&swapping, false);
	pthread_join(t, NULL);
	paths_no_openat2 = false;
	/* Put the tree back as it was, whatever the last swap did. */
	(void)unlink(fx_path("img/race"));
	(void)rename(fx_path("img/race.orig"), fx_path("img/race"));
	print_message("%s: %u opened the file inside, %u refused\n",
	    walk_only ? "walk" : "openat2", ok, refused);
	assert_true(ok > 0);
	assert_true(refused > 0);
}

static void
test_race_openat2(void **state)
{
	(void)state;
	race(false);
}

static void
test_race_walk(void **state)
{
	(void)state;
	race(true);
}

/* The component walk gives the same answers as openat2(). */
static void
test_walk_answers(void **state)
{
	(void)state;
	paths_no_openat2 = true;
	test_inside(state);
	test_symlink_inside(state);
	test_symlink_out(state);
	test_not_a_file(state);
	test_open_fd(state);
	paths_no_openat2 = false;
}

static void
test_open_spec(void **state)
{
	static const char *const none[] = { NULL };
	struct spec_policy policy;
	struct spec_blk blk[2];
	struct spec spec;
	struct paths_files files;
	struct rrerr err;

	(void)state;
	memset(&policy, 0, sizeof(policy));
	memset(&spec, 0, sizeof(spec));
	memset(blk, 0, sizeof(blk));
	policy.image_dirs = img_dirs;
	policy.volume_dirs = img_dirs;
	spec.image = (char *)(uintptr_t)fx_path("img/a.bin");
	blk[0].source = (char *)(uintptr_t)fx_path("img/sub/b.bin");
	blk[0].readonly = true;
	blk[1].source = (char *)(uintptr_t)fx_path("img/race/f");
	spec.blk = blk;
	spec.nblk = 2;
	assert_int_equal(paths_open_spec(&spec, &policy, false, &files, &err),
	    0);
	assert_int_equal(files.nblk, 2);
	assert_string_equal(contents(files.image), "a");
	assert_string_equal(contents(files.blk[0]), "b");
	assert_int_equal(fcntl(files.blk[0], F_GETFL) & O_ACCMODE, O_RDONLY);
	assert_int_equal(fcntl(files.blk[1], F_GETFL) & O_ACCMODE, O_RDWR);
	paths_files_close(&files);
	assert_int_equal(files.image, -1);
	paths_files_close(&files);

	/* Everything read-only (an ISO image). */
	assert_int_equal(paths_open_spec(&spec, &policy, true, &files, &err),
	    0);
	assert_int_equal(fcntl(files.blk[1], F_GETFL) & O_ACCMODE, O_RDONLY);
	paths_files_close(&files);

	/* The policy applies even to a trusted spec; nothing stays open. */
	policy.trusted = true;
	policy.volume_dirs = none;
	assert_int_equal(paths_open_spec(&spec, &policy, false, &files, &err),
	    -1);
	assert_int_equal(err.code, RRERR_FORBIDDEN);
	assert_string_equal(err.field, "blk[0].source");
	assert_int_equal(files.image, -1);
	assert_int_equal(files.blk[0], -1);
}

/* paths_copy(): the bytes asked for, fewer at the end of the input. */
static void
test_copy(void **state)
{
	char path[PATH_MAX];
	atomic_bool cancel;
	int in, out;

	(void)state;
	snprintf(path, sizeof(path), "%s", fx_path("copy.out"));
	assert_true((in = open(fx_path("img/a.bin"), O_RDONLY)) >= 0);
	/* The file offset of in does not matter. */
	assert_int_equal(lseek(in, 1, SEEK_SET), 1);
	assert_true((out = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600)) >= 0);
	assert_int_equal(paths_copy(in, out, 1 << 20, NULL), 0);
	assert_string_equal(contents(out), "a");
	assert_int_equal(ftruncate(out, 0), 0);
	atomic_init(&cancel, true);
	assert_int_equal(paths_copy(in, out, 1, &cancel), -1);
	assert_int_equal(errno, ECANCELED);
	close(in);
	close(out);
	unlink(path);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_inside),
		cmocka_unit_test(test_symlink_inside),
		cmocka_unit_test(test_form),
		cmocka_unit_test(test_outside),
		cmocka_unit_test(test_dotdot),
		cmocka_unit_test(test_symlink_out),
		cmocka_unit_test(test_sibling_prefix),
		cmocka_unit_test(test_dir_itself),
		cmocka_unit_test(test_missing_inside),
		cmocka_unit_test(test_not_a_file),
		cmocka_unit_test(test_devices),
		cmocka_unit_test(test_allowed_dirs),
		cmocka_unit_test(test_field_in_messages),
		cmocka_unit_test(test_inside_function),
		cmocka_unit_test(test_open_fd),
		cmocka_unit_test(test_open_then_swap),
		cmocka_unit_test(test_race_openat2),
		cmocka_unit_test(test_race_walk),
		cmocka_unit_test(test_walk_answers),
		cmocka_unit_test(test_open_spec),
		cmocka_unit_test(test_copy),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
