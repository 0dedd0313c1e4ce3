/*
 * fuzzenv: what the libFuzzer targets of fuzz/ share (header only, static
 * functions, as tests/unit/golden.h).
 *
 * - A scratch tree made once per process: DIR/images and DIR/volumes with
 *   the files the golden requests (tests/golden/NAME.json) name, so that
 *   requests from the seed corpus pass path confinement and the fuzzer
 *   explores past it.  "@IMAGES@" and "@VOLUMES@" in an input stand for
 *   those directories, as in the golden files.
 * - The policy: those directories, bridges br0/xenbr0/rrtbr0, network
 *   "default", at most 4096 MiB and 8 vCPUs (rumprund.conf's defaults).
 */
#ifndef FUZZENV_H
#define FUZZENV_H

#include <sys/stat.h>

#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sbuf.h"
#include "spec.h"

static char fz_images[PATH_MAX], fz_volumes[PATH_MAX];
static const char *fz_image_dirs[2], *fz_volume_dirs[2];
static const char *const fz_bridges[] = { "br0", "xenbr0", "rrtbr0", NULL };
static const char *const fz_networks[] = { "default", NULL };
static struct spec_policy fz_policy;

static char fz_root[PATH_MAX];

static int
fz_rm(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

/* At exit: the scratch tree goes. */
static void
fz_cleanup(void)
{
	if (fz_root[0] != '\0')
		nftw(fz_root, fz_rm, 16, FTW_DEPTH | FTW_PHYS);
}

static void
fz_touch(const char *dir, const char *name)
{
	char path[PATH_MAX + 64];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if ((f = fopen(path, "w")) == NULL) {
		perror(path);
		abort();
	}
	fputs("x", f);
	fclose(f);
}

/* The scratch tree and the policy, once. */
static void
fz_init(void)
{
	static const char *const images[] = { "app.bin", "hello.bin",
		"nginx.bin", "rrguest", NULL };
	static const char *const volumes[] = { "data.ffs", "etc.iso", "k.img",
		"nginxdata.iso", "raw.img", "data.img", NULL };
	static int done;
	char tmpl[] = "/tmp/rrfuzz.XXXXXX", root[PATH_MAX], name[16];
	char link[PATH_MAX + 16], out[PATH_MAX + 16];
	int i;

	if (done)
		return;
	done = 1;
	if (mkdtemp(tmpl) == NULL || realpath(tmpl, root) == NULL) {
		perror("mkdtemp");
		abort();
	}
	snprintf(fz_root, sizeof(fz_root), "%s", root);
	atexit(fz_cleanup);
	snprintf(fz_images, sizeof(fz_images), "%s/images", root);
	snprintf(fz_volumes, sizeof(fz_volumes), "%s/volumes", root);
	if (mkdir(fz_images, 0755) == -1 || mkdir(fz_volumes, 0755) == -1) {
		perror("mkdir");
		abort();
	}
	for (i = 0; images[i] != NULL; i++)
		fz_touch(fz_images, images[i]);
	for (i = 0; volumes[i] != NULL; i++)
		fz_touch(fz_volumes, volumes[i]);
	for (i = 0; i < 16; i++) {
		snprintf(name, sizeof(name), "d%02d.img", i);
		fz_touch(fz_volumes, name);
	}
	/* A symlink inside, and one pointing out. */
	snprintf(link, sizeof(link), "%s/link.bin", fz_images);
	snprintf(out, sizeof(out), "%s/out.bin", fz_images);
	if (symlink("app.bin", link) == -1 ||
	    symlink("/etc/passwd", out) == -1) {
		perror("symlink");
		abort();
	}
	fz_image_dirs[0] = fz_images;
	fz_volume_dirs[0] = fz_volumes;
	fz_policy.image_dirs = fz_image_dirs;
	fz_policy.volume_dirs = fz_volume_dirs;
	fz_policy.bridges = fz_bridges;
	fz_policy.networks = fz_networks;
	fz_policy.max_memory_mib = 4096;
	fz_policy.max_vcpus = 8;
}

/*
 * The input with the placeholders replaced: a new NUL-terminated string
 * (free() it) of *len bytes (NULs in the input are kept).
 */
static char *
fz_expand(const unsigned char *data, size_t size, size_t *len)
{
	struct sbuf sb = SBUF_INIT;
	size_t i = 0;
	char *s;

	while (i < size) {
		if (size - i >= 8 && memcmp(data + i, "@IMAGES@", 8) == 0) {
			sbuf_add(&sb, fz_images);
			i += 8;
		} else if (size - i >= 9 &&
		    memcmp(data + i, "@VOLUMES@", 9) == 0) {
			sbuf_add(&sb, fz_volumes);
			i += 9;
		} else {
			sbuf_addn(&sb, (const char *)data + i, 1);
			i++;
		}
	}
	*len = sb.len;
	sbuf_addn(&sb, "", 0);
	if ((s = sbuf_finish(&sb)) == NULL)
		abort();
	return s;
}

#define FZ_CHECK(cond, ...) \
	do { \
		if (!(cond)) { \
			fprintf(stderr, "fuzz check failed: %s: ", #cond); \
			fprintf(stderr, __VA_ARGS__); \
			fputc('\n', stderr); \
			abort(); \
		} \
	} while (0)

#endif
