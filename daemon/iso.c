/*
 * iso: building a bootable ISO image with grub-mkrescue (see iso.h).
 *
 * A build lives in a 0700 directory of its own; the inputs are copied
 * into it from descriptors paths_open_spec() checked, and grub-mkrescue
 * is given only that directory, never a path of the request.  The result
 * is an unlinked file that the caller holds alone.
 *
 * ARCHITECTURE.md, "ISO images", says how and why.
 */
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "iso.h"
#include "paths.h"
#include "guestconf.h"
#include "sbuf.h"

#define SECTOR	   2048
#define PVD_OFFSET (16 * SECTOR)
#define POLL_NS	   (10 * 1000 * 1000) /* waiting for grub-mkrescue */
#define LOG_TAIL   4096		      /* bytes of its log read for errors */
#define MIB	   (1024 * 1024)
#define DEFAULT_PATH \
	"/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:" \
	"/sbin:/bin"

extern char **environ;

char *
iso_grub_cfg(const struct spec *spec)
{
	struct sbuf sb = SBUF_INIT;

	sbuf_add(&sb,
	    "# Written by rumprund: boot the rumprun unikernel at once.\n"
	    "# Its configuration is " ISO_CONFIG_PATH
	    ": a multiboot module for\n"
	    "# rumprun that reads one, _RUMPRUN_ROOTFSCFG= for one that does\n"
	    "# not (see rumprund(8), ISO IMAGES).\n"
	    "set timeout=0\n"
	    "if serial --unit=0 --speed=115200; then\n"
	    "\tterminal_output --append serial\n"
	    "fi\n"
	    "multiboot " ISO_KERNEL_PATH " _RUMPRUN_ROOTFSCFG=" ISO_CONFIG_PATH
	    "\n");
	if (guestconf_iso_module(spec))
		sbuf_add(&sb,
		    "module " ISO_CONFIG_PATH " " ISO_CONFIG_PATH "\n");
	sbuf_add(&sb, "boot\n");
	return sbuf_finish(&sb);
}

static uint32_t
le32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	    (uint32_t)p[3] << 24;
}

int
iso_check_head(const unsigned char *head, size_t len, uint64_t size,
    struct rrerr *err)
{
	const unsigned char *pvd = head + PVD_OFFSET;
	uint64_t blocks, bsize;

	if (len < PVD_OFFSET + SECTOR || pvd[0] != 1 ||
	    memcmp(pvd + 1, "CD001", 5) != 0)
		return rrerr_set(err, RRERR_INTERNAL, NULL,
		    "the image has no ISO 9660 primary volume descriptor");
	blocks = le32(pvd + 80); /* volume space size */
	bsize = (uint64_t)pvd[128] | (uint64_t)pvd[129] << 8;
	if (blocks * bsize != size)
		return rrerr_set(err, RRERR_INTERNAL, NULL,
		    "the image is %llu bytes, its volume descriptor says %llu",
		    (unsigned long long)size,
		    (unsigned long long)(blocks * bsize));
	return 0;
}

int
iso_check_fd(int fd, uint64_t size, struct rrerr *err)
{
	unsigned char head[PVD_OFFSET + SECTOR];
	size_t got = 0;
	ssize_t n;

	while (got < sizeof(head)) {
		n = pread(fd, head + got, sizeof(head) - got, (off_t)got);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	return iso_check_head(head, got, size, err);
}

const char *
iso_tmp_base(void)
{
	const char *t = getenv("TMPDIR");

	return t != NULL && t[0] == '/' ? t : "/var/tmp";
}

/*
 * Removing a build directory.
 */

static int
remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	if (flag == FTW_DP)
		(void)rmdir(path);
	else
		(void)unlink(path);
	return 0;
}

static void
remove_tree(const char *dir)
{
	(void)nftw(dir, remove_one, 16, FTW_DEPTH | FTW_PHYS);
}

/*
 * The steps of a build.
 */

struct build {
	char dir[4096];
	char log[4200];
	char out[4200];
	char **argv;
	size_t argc;
};

/* Write len bytes of text to DIR/name, made 0644. */
static int
write_file(const struct build *b, const char *name, const char *text,
    size_t len, struct rrerr *err)
{
	char path[4300];
	ssize_t n;
	size_t done = 0;
	int fd;

	snprintf(path, sizeof(path), "%s/%s", b->dir, name);
	if ((fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644)) ==
	    -1)
		return rrerr_set(err, RRERR_INTERNAL, NULL, "%s: %s", path,
		    strerror(errno));
	while (done < len) {
		if ((n = write(fd, text + done, len - done)) == -1) {
			if (errno == EINTR)
				continue;
			rrerr_set(err,
			    errno == ENOSPC ? RRERR_UNAVAILABLE :
					      RRERR_INTERNAL,
			    NULL, "%s: %s", path, strerror(errno));
			close(fd);
			return -1;
		}
		done += (size_t)n;
	}
	if (close(fd) == -1)
		return rrerr_set(err, RRERR_INTERNAL, NULL, "%s: %s", path,
		    strerror(errno));
	return 0;
}

/* The directories of a build; images/ only when there are data images. */
static int
make_dirs(const struct build *b, size_t nblk, struct rrerr *err)
{
	static const char *const dirs[] = { "root", "root/boot",
		"root/boot/grub", "tmp", "root/" GUESTCONF_ISO_IMAGES, NULL };
	char path[4300];
	size_t i;

	for (i = 0; dirs[i] != NULL; i++) {
		if (dirs[i + 1] == NULL && nblk == 0)
			break;
		snprintf(path, sizeof(path), "%s/%s", b->dir, dirs[i]);
		if (mkdir(path, 0755) == -1)
			return rrerr_set(err, RRERR_INTERNAL, NULL, "%s: %s",
			    path, strerror(errno));
	}
	return 0;
}

/* The full path of the program name in $PATH, into buf; 0 or -1. */
static int
find_program(const char *name, char *buf, size_t size)
{
	const char *path = getenv("PATH"), *p, *end;

	if (path == NULL || *path == '\0')
		path = DEFAULT_PATH;
	for (p = path; *p != '\0'; p = *end != '\0' ? end + 1 : end) {
		end = strchr(p, ':');
		if (end == NULL)
			end = p + strlen(p);
		if (end == p)
			continue;
		if ((size_t)snprintf(buf, size, "%.*s/%s", (int)(end - p), p,
			name) < size &&
		    access(buf, X_OK) == 0)
			return 0;
	}
	return -1;
}

/* What the build needs on the host: grub-mkrescue, xorriso, GRUB's BIOS. */
static int
check_tools(char *mkrescue, size_t size, struct rrerr *err)
{
	static const char hint[] =
	    "an ISO image needs grub-mkrescue, "
	    "xorriso and GRUB's BIOS modules (Debian: grub-common, xorriso, "
	    "grub-pc-bin)";
	char xorriso[4096];

	if (find_program("grub-mkrescue", mkrescue, size) == -1)
		return rrerr_set(err, RRERR_UNAVAILABLE, NULL,
		    "%s: no grub-mkrescue in PATH", hint);
	if (find_program("xorriso", xorriso, sizeof(xorriso)) == -1)
		return rrerr_set(err, RRERR_UNAVAILABLE, NULL,
		    "%s: no xorriso in PATH", hint);
	if (access(ISO_GRUB_DIR "/cdboot.img", R_OK) == -1)
		return rrerr_set(err, RRERR_UNAVAILABLE, NULL, "%s: no %s",
		    hint, ISO_GRUB_DIR "/cdboot.img");
	return 0;
}

/*
 * The size of an input of the image (open at fd), added to *total; or -1
 * with err naming field.
 */
static int
input_size(int fd, const char *path, const char *field, uint64_t *total,
    uint64_t *size, struct rrerr *err)
{
	struct stat st;

	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode))
		return rrerr_set(err, RRERR_INVALID, field,
		    "%s: %s is not a regular file", field, path);
	*size = (uint64_t)st.st_size;
	*total += *size;
	return 0;
}

/*
 * The inputs must fit ISO_INPUT_MAX, and their copies and the image
 * (about their size plus ISO_OVERHEAD) the free space under the build
 * directory.  Their sizes go to sizes[0] (the image), sizes[1 + i].
 */
static int
check_space(const struct spec *spec, const struct paths_files *files,
    const struct build *b, uint64_t *sizes, struct rrerr *err)
{
	char field[48];
	struct statvfs vfs;
	uint64_t total = 0, avail, need;
	size_t i;

	if (input_size(files->image, spec->image, "image", &total, &sizes[0],
		err) == -1)
		return -1;
	for (i = 0; i < spec->nblk; i++) {
		snprintf(field, sizeof(field), "blk[%zu].source", i);
		if (input_size(files->blk[i], spec->blk[i].source, field,
			&total, &sizes[1 + i], err) == -1)
			return -1;
	}
	if (total > ISO_INPUT_MAX)
		return rrerr_set(err, RRERR_INVALID, NULL,
		    "the image and its "
		    "data images are %llu MiB; an ISO image made here holds "
		    "at most %llu MiB of them",
		    (unsigned long long)(total / MIB),
		    (unsigned long long)(ISO_INPUT_MAX / MIB));
	need = 2 * total + 2 * ISO_OVERHEAD;
	if (statvfs(b->dir, &vfs) == 0) {
		avail = (uint64_t)vfs.f_bavail * vfs.f_frsize;
		if (avail < need)
			return rrerr_set(err, RRERR_UNAVAILABLE, NULL,
			    "not enough space for the ISO image under %s: "
			    "%llu MiB free, about %llu MiB needed",
			    iso_tmp_base(), (unsigned long long)(avail / MIB),
			    (unsigned long long)(need / MIB));
	}
	return 0;
}

/*
 * Copy size bytes of the file open at in (from its start) to DIR/name,
 * made 0644; the copy stops early at the end of in.
 */
static int
copy_in(const struct build *b, int in, uint64_t size, const char *name,
    const atomic_bool *cancel, struct rrerr *err)
{
	char path[4400];
	int out, rv = 0;

	snprintf(path, sizeof(path), "%s/%s", b->dir, name);
	if ((out = open(path,
		 O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644)) ==
	    -1)
		return rrerr_set(err, RRERR_INTERNAL, NULL, "%s: %s", path,
		    strerror(errno));
	if (paths_copy(in, out, size, cancel) == -1) {
		if (errno == ECANCELED)
			rv = rrerr_set(err, RRERR_UNAVAILABLE, NULL,
			    "rumprund is shutting down");
		else
			rv = rrerr_set(err,
			    errno == ENOSPC ? RRERR_UNAVAILABLE :
					      RRERR_INTERNAL,
			    NULL, "copying into %s: %s", path, strerror(errno));
	}
	if (close(out) == -1 && rv == 0)
		rv = rrerr_set(err, RRERR_INTERNAL, NULL, "%s: %s", path,
		    strerror(errno));
	return rv;
}

/* Copy the inputs (open in files, sizes from check_space()) into DIR/root. */
static int
copy_inputs(const struct build *b, const struct spec *spec,
    const struct paths_files *files, const uint64_t *sizes,
    const atomic_bool *cancel, struct rrerr *err)
{
	char
	    name[sizeof("root/" GUESTCONF_ISO_IMAGES) + SPEC_DATA_NAME_MAX + 2];
	size_t i;

	if (copy_in(b, files->image, sizes[0], "root" ISO_KERNEL_PATH, cancel,
		err) == -1)
		return -1;
	for (i = 0; i < spec->nblk; i++) {
		snprintf(name, sizeof(name), "root/%s/%s", GUESTCONF_ISO_IMAGES,
		    spec_data_name(&spec->blk[i]));
		if (copy_in(b, files->blk[i], sizes[1 + i], name, cancel,
			err) == -1)
			return -1;
	}
	return 0;
}

static int
add_arg(struct build *b, char *arg, struct rrerr *err)
{
	char **v;

	if (arg == NULL)
		return rrerr_set(err, RRERR_INTERNAL, NULL, "out of memory");
	if ((v = realloc(b->argv, (b->argc + 2) * sizeof(*v))) == NULL) {
		free(arg);
		return rrerr_set(err, RRERR_INTERNAL, NULL, "out of memory");
	}
	b->argv = v;
	b->argv[b->argc++] = arg;
	b->argv[b->argc] = NULL;
	return 0;
}

/* grub-mkrescue's command line: no path of the request, only DIR/root. */
static int
make_argv(struct build *b, const char *mkrescue, struct rrerr *err)
{
	char path[4300];

	snprintf(path, sizeof(path), "%s/root", b->dir);
	if (add_arg(b, strdup(mkrescue), err) == -1 ||
	    add_arg(b, strdup("-d"), err) == -1 ||
	    add_arg(b, strdup(ISO_GRUB_DIR), err) == -1 ||
	    add_arg(b, strdup("--fonts="), err) == -1 ||
	    add_arg(b, strdup("--locales="), err) == -1 ||
	    add_arg(b, strdup("--themes="), err) == -1 ||
	    add_arg(b, strdup("-o"), err) == -1 ||
	    add_arg(b, strdup(b->out), err) == -1 ||
	    add_arg(b, strdup(path), err) == -1)
		return -1;
	return 0;
}

static void
free_argv(struct build *b)
{
	size_t i;

	for (i = 0; i < b->argc; i++)
		free(b->argv[i]);
	free(b->argv);
	b->argv = NULL;
	b->argc = 0;
}

/* The last line of grub-mkrescue's log, into buf. */
static void
log_tail(const struct build *b, char *buf, size_t size)
{
	char text[LOG_TAIL + 1], *end, *start;
	ssize_t n;
	off_t len;
	int fd;

	buf[0] = '\0';
	if ((fd = open(b->log, O_RDONLY | O_CLOEXEC)) == -1)
		return;
	len = lseek(fd, 0, SEEK_END);
	if (len > LOG_TAIL)
		(void)lseek(fd, len - LOG_TAIL, SEEK_SET);
	else
		(void)lseek(fd, 0, SEEK_SET);
	n = read(fd, text, LOG_TAIL);
	close(fd);
	if (n <= 0)
		return;
	text[n] = '\0';
	end = text + n;
	while (
	    end > text && (end[-1] == '\n' || end[-1] == ' ' || end[-1] == '.'))
		*--end = '\0';
	start = strrchr(text, '\n');
	start = start != NULL ? start + 1 : text;
	len = (off_t)strlen(start);
	if ((size_t)len >= size)
		len = (off_t)size - 1;
	memcpy(buf, start, (size_t)len);
	buf[len] = '\0';
	/* Keep control characters out of messages and logs. */
	for (; *buf != '\0'; buf++)
		if ((unsigned char)*buf < 0x20 || *buf == 0x7f)
			*buf = ' ';
}

/* The environment of grub-mkrescue: few, known variables. */
static void
make_env(const struct build *b, char *env[5], char bufs[4][4400])
{
	const char *path = getenv("PATH");

	snprintf(bufs[0], sizeof(bufs[0]), "PATH=%s",
	    path != NULL && *path != '\0' ? path : DEFAULT_PATH);
	snprintf(bufs[1], sizeof(bufs[1]), "TMPDIR=%s/tmp", b->dir);
	/* No ~/.xorrisorc of the daemon's user. */
	snprintf(bufs[2], sizeof(bufs[2]), "HOME=%s/tmp", b->dir);
	snprintf(bufs[3], sizeof(bufs[3]), "LC_ALL=C");
	env[0] = bufs[0];
	env[1] = bufs[1];
	env[2] = bufs[2];
	env[3] = bufs[3];
	env[4] = NULL;
}

/* Run grub-mkrescue and wait for it, killing it on cancel or time-out. */
static int
run_mkrescue(struct build *b, const atomic_bool *cancel, struct rrerr *err)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	sigset_t none, defaults;
	struct timespec poll = { 0, POLL_NS }, t0, now;
	char *env[5], envbufs[4][4400], tail[300];
	pid_t pid, w;
	int status = 0, rv, logfd;
	bool killed = false, timed_out;

	if ((logfd = open(b->log, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
		 0600)) == -1)
		return rrerr_set(err, RRERR_INTERNAL, NULL, "%s: %s", b->log,
		    strerror(errno));
	make_env(b, env, envbufs);
	sigemptyset(&none);
	sigfillset(&defaults);
	sigdelset(&defaults, SIGKILL);
	sigdelset(&defaults, SIGSTOP);
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, logfd, 1);
	posix_spawn_file_actions_adddup2(&fa, logfd, 2);
	posix_spawn_file_actions_addchdir_np(&fa, b->dir);
	posix_spawnattr_init(&attr);
	posix_spawnattr_setpgroup(&attr, 0);
	posix_spawnattr_setsigmask(&attr, &none);
	posix_spawnattr_setsigdefault(&attr, &defaults);
	posix_spawnattr_setflags(&attr,
	    POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK |
		POSIX_SPAWN_SETSIGDEF);
	rv = posix_spawn(&pid, b->argv[0], &fa, &attr, b->argv, env);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	close(logfd);
	if (rv != 0)
		return rrerr_set(err, RRERR_UNAVAILABLE, NULL,
		    "cannot run %s: %s", b->argv[0], strerror(rv));

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		w = waitpid(pid, &status, WNOHANG);
		if (w == pid || (w == -1 && errno != EINTR))
			break;
		clock_gettime(CLOCK_MONOTONIC, &now);
		timed_out = now.tv_sec - t0.tv_sec >= ISO_BUILD_TIMEOUT_S;
		if (!killed && (timed_out || atomic_load(cancel))) {
			/* grub-mkrescue, its xorriso: the whole group. */
			(void)kill(-pid, SIGKILL);
			killed = true;
		}
		nanosleep(&poll, NULL);
	}
	if (w == -1)
		return rrerr_set(err, RRERR_INTERNAL, NULL,
		    "waiting for grub-mkrescue: %s", strerror(errno));
	if (killed && atomic_load(cancel))
		return rrerr_set(err, RRERR_UNAVAILABLE, NULL,
		    "rumprund is shutting down");
	if (killed)
		return rrerr_set(err, RRERR_INTERNAL, NULL,
		    "grub-mkrescue took more than %d s and was killed",
		    ISO_BUILD_TIMEOUT_S);
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	log_tail(b, tail, sizeof(tail));
	if (WIFEXITED(status))
		return rrerr_set(err, RRERR_INTERNAL, NULL,
		    "grub-mkrescue failed (exit %d): %s", WEXITSTATUS(status),
		    tail[0] != '\0' ? tail : "no message");
	return rrerr_set(err, RRERR_INTERNAL, NULL,
	    "grub-mkrescue died (signal %d): %s", WTERMSIG(status),
	    tail[0] != '\0' ? tail : "no message");
}

/* Open the image and check it against its volume descriptor. */
static int
open_image(const struct build *b, struct iso_image *out, struct rrerr *err)
{
	struct stat st;
	int fd;

	if ((fd = open(b->out, O_RDONLY | O_CLOEXEC)) == -1)
		return rrerr_set(err, RRERR_INTERNAL, NULL,
		    "grub-mkrescue made no image: %s", strerror(errno));
	if (fstat(fd, &st) == -1) {
		rrerr_set(err, RRERR_INTERNAL, NULL, "%s: %s", b->out,
		    strerror(errno));
		goto fail;
	}
	if (iso_check_fd(fd, (uint64_t)st.st_size, err) == -1)
		goto fail;
	out->fd = fd;
	out->size = (uint64_t)st.st_size;
	return 0;
fail:
	close(fd);
	return -1;
}

int
iso_build(const struct spec *spec, const struct spec_policy *policy,
    const char *config, const char *tmp_base, const atomic_bool *cancel,
    struct iso_image *out, struct rrerr *err)
{
	struct paths_files files;
	struct build b;
	char mkrescue[4096], *cfg = NULL;
	uint64_t sizes[1 + SPEC_BLK_MAX] = { 0 };
	int rv = -1;

	memset(&b, 0, sizeof(b));
	files.image = -1;
	files.nblk = 0;
	out->fd = -1;
	out->size = 0;
	if (spec->platform != SPEC_PLATFORM_ISO)
		return rrerr_set(err, RRERR_INVALID, "platform",
		    "platform: an ISO image is built for platform iso, not %s",
		    spec_platform_name(spec->platform));
	if (check_tools(mkrescue, sizeof(mkrescue), err) == -1)
		return -1;
	/* The files checked now are the files copied: never a path again. */
	if (paths_open_spec(spec, policy, true, &files, err) == -1)
		return -1;
	if ((size_t)snprintf(b.dir, sizeof(b.dir), "%s/rumprund-iso.XXXXXX",
		tmp_base) >= sizeof(b.dir)) {
		rrerr_set(err, RRERR_INTERNAL, NULL, "%s: too long", tmp_base);
		paths_files_close(&files);
		return -1;
	}
	if (mkdtemp(b.dir) == NULL) {
		rrerr_set(err, RRERR_UNAVAILABLE, NULL,
		    "cannot make a directory under %s: %s", tmp_base,
		    strerror(errno));
		paths_files_close(&files);
		return -1;
	}
	snprintf(b.log, sizeof(b.log), "%s/mkrescue.log", b.dir);
	snprintf(b.out, sizeof(b.out), "%s/out.iso", b.dir);

	if (check_space(spec, &files, &b, sizes, err) == -1 ||
	    make_dirs(&b, spec->nblk, err) == -1 ||
	    copy_inputs(&b, spec, &files, sizes, cancel, err) == -1)
		goto out;
	paths_files_close(&files);
	if ((cfg = iso_grub_cfg(spec)) == NULL) {
		rrerr_set(err, RRERR_INTERNAL, NULL, "out of memory");
		goto out;
	}
	if (write_file(&b, "root/boot/grub/grub.cfg", cfg, strlen(cfg), err) ==
		-1 ||
	    write_file(&b, "root" ISO_CONFIG_PATH, config, strlen(config),
		err) == -1 ||
	    make_argv(&b, mkrescue, err) == -1 ||
	    run_mkrescue(&b, cancel, err) == -1 ||
	    open_image(&b, out, err) == -1)
		goto out;
	rv = 0;
out:
	paths_files_close(&files);
	free(cfg);
	free_argv(&b);
	remove_tree(b.dir);
	return rv;
}
