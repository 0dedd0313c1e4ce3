/*
 * Tests of ISO images: the request of platform iso (spec.c), its guest
 * configuration (guestconf.c), what iso.c writes and runs, rrctl iso's
 * options (client/runopts.c), the engine's refusal to launch one, and its
 * builds (isojobs.c: the bound, the cancel at a stop).
 *
 * Golden files: every tests/golden/iso/NAME.json is the request of an
 * ISO image (spec_parse_iso()); the configuration written for it must
 * equal NAME.cfg and its grub.cfg NAME.grub.cfg, or its error message
 * must equal NAME.err.  "@IMAGES@" and "@VOLUMES@" stand for the test's
 * directories and the files named under them are made on the fly (a name
 * ending in "/" makes a directory).  RR_GOLDEN_UPDATE=1 rewrites the
 * expected files from the actual output (read the diff before a commit).
 *
 * The builds (iso_build()) run the real grub-mkrescue when it is installed
 * (scripts/deps.sh installs it), on the test guest (RR_GUEST_ELF), and
 * check that nothing of a build stays behind, whatever happens to it.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "engine.h"
#include "fake.h"
#include "fixture.h"
#include "golden.h"
#include "iso.h"
#include "guestconf.h"
#include "runopts.h"
#include "spec.h"

static char tmpbase[PATH_MAX];
static const char *image_dirs[2];
static const char *volume_dirs[2];
static struct spec_policy policy;

static int
setup(void **state)
{
	static const struct fx_node tree[] = {
		{ 'd', "tmp", NULL },
		{ 'd', "state", NULL },
		{ 'd', "logs", NULL },
		{ 0, NULL, NULL },
	};

	(void)state;
	if (golden_build(tree) == -1)
		return -1;
	snprintf(tmpbase, sizeof(tmpbase), "%s", fx_path("tmp"));
	image_dirs[0] = golden_imagedir;
	volume_dirs[0] = golden_volumedir;
	memset(&policy, 0, sizeof(policy));
	policy.image_dirs = image_dirs;
	policy.volume_dirs = volume_dirs;
	return 0;
}

/* The canonical form of spec parses back to the same request. */
static int
roundtrip(const struct spec *spec)
{
	struct spec *again = NULL;
	struct rrerr err;
	json_t *j = spec_to_json(spec);
	int ok;

	ok = j != NULL && spec_from_json(j, &policy, &again, &err) == 0 &&
	    spec_equal(spec, again);
	if (!ok)
		print_error("%s: the canonical form does not parse back: %s\n",
		    spec->name, again == NULL ? err.message : "differs");
	json_decref(j);
	spec_free(again);
	return ok;
}

static int
run_case(const char *dir, const char *name)
{
	struct spec *spec = NULL;
	struct rrerr err;
	char path[2 * PATH_MAX], *text, *cfg, *grub, *out;
	int ok = 1;

	snprintf(path, sizeof(path), "%s/%s.json", dir, name);
	text = golden_request(path);
	snprintf(path, sizeof(path), "%s/%s.err", dir, name);
	if (spec_parse_iso(text, strlen(text), &policy, &spec, &err) == -1) {
		free(text);
		if (asprintf(&out, "%s\n", err.message) == -1)
			fail();
		ok = golden_compare(path, out);
		free(out);
		return ok;
	}
	free(text);
	assert_int_equal(spec->platform, SPEC_PLATFORM_ISO);
	ok &= roundtrip(spec);
	if ((cfg = guestconf_build(spec, NULL, &err)) == NULL) {
		if (asprintf(&out, "%s\n", err.message) == -1)
			fail();
		ok &= golden_compare(path, out);
		free(out);
		spec_free(spec);
		return ok;
	}
	snprintf(path, sizeof(path), "%s/%s.cfg", dir, name);
	if (asprintf(&out, "%s\n", cfg) == -1)
		fail();
	ok &= golden_compare(path, out);
	free(out);
	free(cfg);
	grub = iso_grub_cfg(spec);
	assert_non_null(grub);
	snprintf(path, sizeof(path), "%s/%s.grub.cfg", dir, name);
	ok &= golden_compare(path, grub);
	free(grub);
	spec_free(spec);
	return ok;
}

static void
test_golden(void **state)
{
	char dir[PATH_MAX], *names[256];
	size_t n, i;
	int failed = 0;

	(void)state;
	snprintf(dir, sizeof(dir), "%s/iso", golden_dir());
	n = golden_list(dir, ".json", names, 256);
	assert_true(n >= 10);
	for (i = 0; i < n; i++) {
		if (!run_case(dir, names[i])) {
			print_error("golden case iso/%s failed\n", names[i]);
			failed++;
		}
		free(names[i]);
	}
	print_message("%zu golden ISO cases, %d failed\n", n, failed);
	assert_int_equal(failed, 0);
}

/* A request of text (a printf format, %s: the image); NULL with err. */
static struct spec *__attribute__((format(printf, 3, 4)))
parse(int iso, struct rrerr *err, const char *fmt, ...)
{
	struct spec *spec = NULL;
	char text[8192];
	va_list ap;
	int rv;

	golden_touch(fx_path("images/app.bin"));
	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	rv = iso ? spec_parse_iso(text, strlen(text), &policy, &spec, err) :
		   spec_parse(text, strlen(text), &policy, &spec, err);
	return rv == 0 ? spec : NULL;
}

/* The platform: iso by default at POST /v1/iso only, and never launched. */
static void
test_platform(void **state)
{
	struct spec *spec;
	struct rrerr err;

	(void)state;
	spec = parse(1, &err, "{\"name\":\"a\",\"image\":\"%s\"}",
	    fx_path("images/app.bin"));
	assert_non_null(spec);
	assert_int_equal(spec->platform, SPEC_PLATFORM_ISO);
	assert_string_equal(spec_platform_name(spec->platform), "iso");
	spec_free(spec);
	/* Elsewhere the default stays kvm, and iso must be said. */
	spec = parse(0, &err, "{\"name\":\"a\",\"image\":\"%s\"}",
	    fx_path("images/app.bin"));
	assert_int_equal(spec->platform, SPEC_PLATFORM_KVM);
	spec_free(spec);
	spec = parse(0, &err,
	    "{\"name\":\"a\",\"image\":\"%s\","
	    "\"platform\":\"iso\",\"nics\":[{\"driver\":\"re\"}]}",
	    fx_path("images/app.bin"));
	assert_non_null(spec);
	assert_int_equal(spec->platform, SPEC_PLATFORM_ISO);
	spec_free(spec);
	/* The platform decides the fields wherever it stands. */
	assert_null(parse(0, &err,
	    "{\"name\":\"a\",\"nics\":[{\"backend\":"
	    "{\"type\":\"tap\"}}],\"image\":\"%s\",\"platform\":\"iso\"}",
	    fx_path("images/app.bin")));
	assert_string_equal(err.field, "nics[0].backend");
	assert_null(parse(1, &err,
	    "{\"name\":\"a\",\"image\":\"%s\","
	    "\"platform\":\"xen\"}",
	    fx_path("images/app.bin")));
	assert_int_equal(err.code, RRERR_INVALID);
	assert_string_equal(err.message,
	    "platform: must be \"iso\" or left out here");
	assert_null(parse(1, &err,
	    "{\"name\":\"a\",\"image\":\"%s\","
	    "\"platform\":\"pc\"}",
	    fx_path("images/app.bin")));
	assert_string_equal(err.message,
	    "platform: must be \"kvm\", \"xen\" or \"iso\"");
	/* A driver is for iso only. */
	assert_null(parse(0, &err,
	    "{\"name\":\"a\",\"image\":\"%s\","
	    "\"nics\":[{\"backend\":{\"type\":\"tap\"},\"driver\":\"wm\"}]}",
	    fx_path("images/app.bin")));
	assert_string_equal(err.field, "nics[0].driver");
	/* And a kvm NIC still needs its backend. */
	assert_null(parse(0, &err,
	    "{\"name\":\"a\",\"image\":\"%s\","
	    "\"nics\":[{}]}",
	    fx_path("images/app.bin")));
	assert_string_equal(err.message, "nics[0].backend: required");
}

/* Data images must be regular files: their bytes go into the image. */
static void
test_data_not_regular(void **state)
{
	struct rrerr err;

	(void)state;
	golden_touch(fx_path("volumes/dir/"));
	assert_null(parse(1, &err,
	    "{\"name\":\"a\",\"image\":\"%s\","
	    "\"blk\":[{\"source\":\"%s\"}]}",
	    fx_path("images/app.bin"), fx_path("volumes/dir")));
	assert_string_equal(err.field, "blk[0].source");
}

/* A head of an ISO image: 17 sectors, the last the volume descriptor. */
static void
make_head(unsigned char *head, uint32_t blocks, uint16_t bsize)
{
	unsigned char *pvd = head + 16 * 2048;

	memset(head, 0, 17 * 2048);
	pvd[0] = 1;
	memcpy(pvd + 1, "CD001", 5);
	pvd[80] = (unsigned char)blocks;
	pvd[81] = (unsigned char)(blocks >> 8);
	pvd[82] = (unsigned char)(blocks >> 16);
	pvd[83] = (unsigned char)(blocks >> 24);
	pvd[128] = (unsigned char)bsize;
	pvd[129] = (unsigned char)(bsize >> 8);
}

static void
test_check_head(void **state)
{
	static unsigned char head[17 * 2048];
	struct rrerr err;

	(void)state;
	make_head(head, 1340, 2048);
	assert_int_equal(iso_check_head(head, sizeof(head), 1340ULL * 2048,
			     &err),
	    0);
	assert_int_equal(iso_check_head(head, sizeof(head), 1340ULL * 2048 - 1,
			     &err),
	    -1);
	assert_string_equal(err.message,
	    "the image is 2744319 bytes, its "
	    "volume descriptor says 2744320");
	assert_int_equal(iso_check_head(head, sizeof(head) - 1, 1340ULL * 2048,
			     &err),
	    -1);
	head[16 * 2048 + 3] = 'X';
	assert_int_equal(iso_check_head(head, sizeof(head), 1340ULL * 2048,
			     &err),
	    -1);
	assert_string_equal(err.message,
	    "the image has no ISO 9660 primary volume descriptor");
}

/*
 * Builds.
 */

static bool
have_tools(void)
{
	return access("/usr/bin/grub-mkrescue", X_OK) == 0 &&
	    access("/usr/bin/xorriso", X_OK) == 0 &&
	    access(ISO_GRUB_DIR "/cdboot.img", R_OK) == 0;
}

/* True when dir has nothing in it. */
static bool
empty_dir(const char *dir)
{
	struct dirent *de;
	bool empty = true;
	DIR *d;

	assert_non_null(d = opendir(dir));
	while ((de = readdir(d)) != NULL)
		if (strcmp(de->d_name, ".") != 0 &&
		    strcmp(de->d_name, "..") != 0)
			empty = false;
	closedir(d);
	return empty;
}

/* The test guest as images/app.bin. */
static void
copy_guest(void)
{
	const char *elf = getenv("RR_GUEST_ELF");
	char *cmd;

	if (elf == NULL)
		elf = "build/guest/rrguest";
	if (asprintf(&cmd, "cp '%s' '%s'", elf, fx_path("images/app.bin")) ==
		-1 ||
	    system(cmd) != 0)
		fail_msg("cannot copy the test guest %s", elf);
	free(cmd);
}

/* Build spec; 0 or -1 with err; the image's size in *size. */
static int
build(const struct spec *spec, const atomic_bool *cancel, uint64_t *size,
    struct rrerr *err)
{
	static atomic_bool no;
	struct iso_image img;
	char *cfg;
	int rv;

	cfg = guestconf_build(spec, NULL, err);
	assert_non_null(cfg);
	rv = iso_build(spec, &policy, cfg, tmpbase,
	    cancel != NULL ? cancel : &no, &img, err);
	free(cfg);
	if (rv == 0) {
		struct stat st;

		assert_int_equal(fstat(img.fd, &st), 0);
		assert_int_equal((uint64_t)st.st_size, img.size);
		assert_int_equal(st.st_nlink, 0); /* unlinked already */
		*size = img.size;
		close(img.fd);
	}
	return rv;
}

static void
test_build(void **state)
{
	struct spec *spec;
	struct rrerr err;
	uint64_t size = 0;

	(void)state;
	if (!have_tools())
		skip();
	copy_guest();
	golden_touch(fx_path("volumes/d1.img"));
	spec = parse(1, &err,
	    "{\"name\":\"a\",\"image\":\"%s\",\"blk\":"
	    "[{\"source\":\"%s\",\"mountpoint\":\"/data\"}]}",
	    fx_path("images/app.bin"), fx_path("volumes/d1.img"));
	assert_non_null(spec);
	assert_int_equal(build(spec, NULL, &size, &err), 0);
	assert_true(size > 1024 * 1024);
	assert_true(empty_dir(tmpbase));
	spec_free(spec);
}

/* A thread that sets *cancel after 300 ms. */
static void *
cancel_later(void *arg)
{
	struct timespec ts = { 0, 300 * 1000 * 1000 };

	nanosleep(&ts, NULL);
	atomic_store((atomic_bool *)arg, true);
	return NULL;
}

/* A fake grub-mkrescue in DIR/bin, before the real tools in PATH. */
static char *
fake_mkrescue(const char *script)
{
	char *path,
	    *old = getenv("PATH") != NULL ? strdup(getenv("PATH")) :
					    strdup("/usr/bin:/bin"),
	    *new;

	golden_touch(fx_path("bin/"));
	golden_write(fx_path("bin/grub-mkrescue"), script);
	chmod(fx_path("bin/grub-mkrescue"), 0755);
	if (asprintf(&new, "%s:%s", fx_path("bin"), old) == -1)
		fail();
	setenv("PATH", new, 1);
	free(new);
	path = old;
	return path; /* the PATH to put back */
}

static void
test_build_failures(void **state)
{
	atomic_bool cancel;
	struct spec *spec;
	struct rrerr err;
	uint64_t size;
	pthread_t t;
	time_t t0;
	char *path;

	(void)state;
	if (!have_tools())
		skip();
	copy_guest();
	golden_touch(fx_path("volumes/d1.img"));
	spec = parse(1, &err,
	    "{\"name\":\"a\",\"image\":\"%s\",\"blk\":"
	    "[{\"source\":\"%s\"}]}",
	    fx_path("images/app.bin"), fx_path("volumes/d1.img"));
	assert_non_null(spec);

	/* grub-mkrescue fails: its last line says why. */
	path = fake_mkrescue(
	    "#!/bin/sh\necho working\n"
	    "echo 'grub-mkrescue: error: it broke.' >&2\nexit 1\n");
	assert_int_equal(build(spec, NULL, &size, &err), -1);
	assert_int_equal(err.code, RRERR_INTERNAL);
	assert_string_equal(err.message,
	    "grub-mkrescue failed (exit 1): "
	    "grub-mkrescue: error: it broke");
	assert_true(empty_dir(tmpbase));

	/* It makes no image, or a short one. */
	golden_write(fx_path("bin/grub-mkrescue"),
	    "#!/bin/sh\n"
	    "while [ $# -gt 0 ]; do [ \"$1\" = -o ] && out=$2; shift; done\n"
	    "head -c 40000 /dev/zero > \"$out\"\n");
	assert_int_equal(build(spec, NULL, &size, &err), -1);
	assert_string_equal(err.message,
	    "the image has no ISO 9660 primary volume descriptor");
	assert_true(empty_dir(tmpbase));

	/*
	 * Its command line holds no path of the request (only the build's
	 * directory), and that directory holds copies of the inputs.
	 */
	/* Its environment is rumprund's own: the paths go into the script. */
	{
		char *script;

		assert_true(
		    asprintf(&script,
			"#!/bin/sh\n"
			"out='%s'\n"
			"echo \"$*\" > \"$out\"\n"
			"while [ $# -gt 0 ]; do root=$1; shift; done\n"
			"ls -R \"$root\" >> \"$out\"\n"
			"cmp \"$root/images/d1.img\" '%s' >> \"$out\" 2>&1 && "
			"echo same >> \"$out\"\nexit 1\n",
			fx_path("args"), fx_path("volumes/d1.img")) != -1);
		golden_write(fx_path("bin/grub-mkrescue"), script);
		free(script);
	}
	golden_write(fx_path("volumes/d1.img"), "data of d1\n");
	assert_int_equal(build(spec, NULL, &size, &err), -1);
	{
		char *args = golden_read(fx_path("args"));

		assert_non_null(args);
		assert_null(strstr(args, fx_path("volumes")));
		assert_null(strstr(args, fx_path("images")));
		assert_non_null(strstr(args, "rumprun.bin"));
		assert_non_null(strstr(args, "d1.img"));
		assert_non_null(strstr(args, "\nsame\n"));
		free(args);
	}
	assert_true(empty_dir(tmpbase));

	/* The daemon stops while it runs: it is killed, with its children. */
	golden_write(fx_path("bin/grub-mkrescue"),
	    "#!/bin/sh\n"
	    "mkdir \"$TMPDIR/x\"\nsleep 30 &\nsleep 30\n");
	atomic_init(&cancel, false);
	assert_int_equal(pthread_create(&t, NULL, cancel_later, &cancel), 0);
	t0 = time(NULL);
	assert_int_equal(build(spec, &cancel, &size, &err), -1);
	pthread_join(t, NULL);
	assert_true(time(NULL) - t0 < 5);
	assert_int_equal(err.code, RRERR_UNAVAILABLE);
	assert_string_equal(err.message, "rumprund is shutting down");
	assert_true(empty_dir(tmpbase));

	/* No grub-mkrescue at all. */
	setenv("PATH", fx_path("bin"), 1);
	unlink(fx_path("bin/grub-mkrescue"));
	assert_int_equal(build(spec, NULL, &size, &err), -1);
	assert_int_equal(err.code, RRERR_UNAVAILABLE);
	assert_non_null(strstr(err.message, "grub-pc-bin"));
	setenv("PATH", path, 1);
	free(path);
	assert_true(empty_dir(tmpbase));

	/* A data image gone since the request was checked. */
	unlink(fx_path("volumes/d1.img"));
	assert_int_equal(build(spec, NULL, &size, &err), -1);
	assert_int_equal(err.code, RRERR_INVALID);
	assert_string_equal(err.field, "blk[0].source");
	assert_true(empty_dir(tmpbase));

	/* More than ISO_INPUT_MAX: refused before anything is read. */
	golden_touch(fx_path("volumes/d1.img"));
	assert_int_equal(truncate(fx_path("volumes/d1.img"),
			     (off_t)ISO_INPUT_MAX),
	    0);
	assert_int_equal(build(spec, NULL, &size, &err), -1);
	assert_int_equal(err.code, RRERR_INVALID);
	assert_non_null(strstr(err.message, "at most 4096 MiB"));
	assert_true(empty_dir(tmpbase));
	spec_free(spec);
}

/*
 * rrctl iso: options to the request, checked by the daemon's parser too.
 */

static char *
fake_resolve(const char *path, void *arg)
{
	char *out;

	(void)arg;
	if (path[0] == '/')
		return strdup(path);
	if (asprintf(&out, "/srv/%s", path) == -1)
		return NULL;
	return out;
}

struct iso_case {
	const char *argv[24];
	const char *request; /* JSON, or NULL */
	const char *error;   /* or this sentence */
};

static const struct iso_case rrctl_cases[] = {
	/* Upstream's README example of `rumprun iso`. */
	{ { "iso", "-b", "nginxdata.iso,/etc", "-I", "if0,wm", "-W",
	      "if0,inet,dhcp", "bin/nginx", "-c",
	      "/etc/nginx/conf/nginx.conf" },
	    "{\"name\": \"rumprun-nginx\", \"platform\": \"iso\","
	    " \"image\": \"/srv/bin/nginx\", \"argv\": [\"bin/nginx\", \"-c\","
	    " \"/etc/nginx/conf/nginx.conf\"], \"blk\": [{\"source\":"
	    " \"/srv/nginxdata.iso\", \"mountpoint\": \"/etc\"}], \"nics\":"
	    " [{\"driver\": \"wm\", \"inet\": {\"method\": \"dhcp\"}}]}",
	    NULL },
	{ { "iso", "-o", "out.iso", "-N", "box", "-e", "A=1", "-I", "a,re",
	      "-I", "b,wm", "-W", "b,inet,static,10.0.0.2/24,10.0.0.1", "app",
	      "--", "x", "-o", "y" },
	    "{\"name\": \"box\", \"platform\": \"iso\", \"image\": \"/srv/app\","
	    " \"argv\": [\"app\", \"x\", \"-o\", \"y\"], \"env\": [\"A=1\"],"
	    " \"hostname\": \"box\", \"nics\": [{\"driver\": \"re\"},"
	    " {\"driver\": \"wm\", \"inet\": {\"method\": \"static\", \"addr\":"
	    " \"10.0.0.2/24\", \"gw\": \"10.0.0.1\"}}]}",
	    NULL },
	{ { "iso", "-M", "128", "app" }, NULL,
	    "-M: not for an ISO image: the guest has the machine's memory" },
	{ { "iso", "-d", "app" }, NULL,
	    "-d: not for an ISO image: there is no instance to remove" },
	{ { "iso", "--rm", "app" }, NULL,
	    "--rm: not for an ISO image: there is no instance to remove" },
	{ { "iso", "-p", "app" }, NULL,
	    "-p: not for an ISO image: nothing runs to pause" },
	{ { "iso", "-i", "app" }, NULL,
	    "-i: not for an ISO image: nothing runs to attach to" },
	{ { "iso", "--boot-timeout", "5", "app" }, NULL,
	    "--boot-timeout: not for an ISO image: nothing runs to watch" },
	{ { "iso", "--vcpus", "2", "app" }, NULL,
	    "--vcpus: not for an ISO image: the guest has the machine's "
	    "processors" },
	{ { "iso", "--accel", "tcg", "app" }, NULL,
	    "--accel: not for an ISO image: the machine is the accelerator" },
	{ { "iso", "--platform", "kvm", "app" }, NULL,
	    "--platform: not for an ISO image: the platform is iso" },
	{ { "iso", "kvm", "app" }, NULL, NULL }, /* kvm is the image */
	{ { "iso", "-I", "if0,wm,tap:tap0", "app" }, NULL,
	    "-I if0,wm,tap:tap0: the NIC of an ISO image is the machine's own: "
	    "give iftag,driver, without backend options" },
	{ { "iso", "-I", "if0,wm0", "app" }, NULL,
	    "-I if0,wm0: wm0 is not a NetBSD NIC driver name (wm, re, vioif "
	    "...)" },
	{ { "iso", "-o", "", "app" }, NULL, "-o: give a file name" },
	{ { "run", "-o", "x", "app" }, NULL, "unknown option -o" },
};

static void
test_rrctl_iso(void **state)
{
	static const struct spec_policy trusted = { .trusted = true };
	struct run_opts o;
	struct spec *spec;
	struct rrerr err;
	char errbuf[512], *argv[24];
	json_t *req, *want;
	size_t i, j;
	int argc, rv;

	(void)state;
	for (i = 0; i < sizeof(rrctl_cases) / sizeof(rrctl_cases[0]); i++) {
		const struct iso_case *c = &rrctl_cases[i];

		for (argc = 0; c->argv[argc] != NULL; argc++)
			argv[argc] = (char *)(uintptr_t)c->argv[argc];
		argv[argc] = NULL;
		errbuf[0] = '\0';
		rv = strcmp(argv[0], "iso") == 0 ?
		    run_parse_iso(argc, argv, &o, errbuf, sizeof(errbuf)) :
		    run_parse(argc, argv, &o, errbuf, sizeof(errbuf));
		if (c->error != NULL) {
			if (rv != -1 || strcmp(errbuf, c->error) != 0)
				fail_msg("case %zu: got %d <%s>, want <%s>", i,
				    rv, errbuf, c->error);
			run_opts_free(&o);
			continue;
		}
		if (rv != 0)
			fail_msg("case %zu: %s", i, errbuf);
		req = run_request(&o, fake_resolve, NULL, errbuf,
		    sizeof(errbuf));
		assert_non_null(req);
		if (c->request != NULL) {
			want = json_loads(c->request, 0, NULL);
			assert_non_null(want);
			if (!json_equal(req, want)) {
				char *got = json_dumps(req, JSON_SORT_KEYS);

				fail_msg("case %zu: request %s", i, got);
			}
			json_decref(want);
		}
		/* What rrctl sends, the daemon takes. */
		if (spec_from_json(req, &trusted, &spec, &err) == -1)
			fail_msg("case %zu: the daemon refuses it: %s", i,
			    err.message);
		assert_int_equal(spec->platform, SPEC_PLATFORM_ISO);
		for (j = 0; j < spec->nnics; j++)
			assert_non_null(spec->nics[j].driver);
		spec_free(spec);
		json_decref(req);
		if (strcmp(c->argv[1], "-o") == 0)
			assert_string_equal(o.output, c->argv[2]);
		run_opts_free(&o);
	}
}

/*
 * The engine: nothing of platform iso is launched or adopted; its ISO
 * builds (engine_build_iso()) run on its loop, ISOJOBS_MAX at once, and
 * its quiesce cancels them and refuses new ones.
 */

static uv_loop_t loop;

struct result {
	bool done;
	bool failed;
	struct rrerr err;
};

static void
on_reply(void *arg, enum engine_outcome outcome, json_t *body,
    const struct rrerr *err)
{
	struct result *r = arg;

	(void)outcome;
	json_decref(body);
	r->done = true;
	r->failed = err != NULL;
	if (err != NULL)
		r->err = *err;
}

/* An ISO build's answer (an isojobs_done_fn). */
static void
on_iso(void *arg, const char *name, struct iso_image *img,
    const struct rrerr *err)
{
	struct result *r = arg;

	(void)name;
	r->done = true;
	r->failed = err != NULL;
	if (err != NULL)
		r->err = *err;
	else
		close(img->fd);
}

/* How many entries dir has. */
static int
count_dir(const char *dir)
{
	struct dirent *de;
	int n = 0;
	DIR *d;

	assert_non_null(d = opendir(dir));
	while ((de = readdir(d)) != NULL)
		if (strcmp(de->d_name, ".") != 0 &&
		    strcmp(de->d_name, "..") != 0)
			n++;
	closedir(d);
	return n;
}

static struct engine *
open_engine(void)
{
	struct engine_config cfg;
	struct engine *e;
	struct rrerr err;

	memset(&cfg, 0, sizeof(cfg));
	cfg.loop = &loop;
	cfg.state_dir = fx_path("state");
	cfg.log_dir = fx_path("logs");
	cfg.policy = &policy;
	cfg.ops[SPEC_PLATFORM_KVM] = &backend_fake_ops;
	cfg.backend.accel = SPEC_ACCEL_TCG;
	cfg.max_instances = 8;
	cfg.stop_timeout_s = 1;
	if ((e = engine_open(&cfg, &err)) == NULL)
		fail_msg("engine_open: %s", err.message);
	uv_run(&loop, UV_RUN_NOWAIT);
	return e;
}

static void
close_engine(struct engine *e)
{
	engine_quiesce(e);
	uv_run(&loop, UV_RUN_DEFAULT);
	engine_close(e);
}

static void
test_engine(void **state)
{
	struct result r = { false, false, { 0, "", "" } };
	struct result iso[ISOJOBS_MAX + 1];
	struct engine *e;
	struct spec *spec;
	struct rrerr err;
	json_t *rec, *view;
	char path[PATH_MAX], *oldpath = NULL;
	bool tools = have_tools();
	struct timespec tick = { 0, 20 * 1000 * 1000 };
	time_t t0;
	int i;

	(void)state;
	fake_reset();
	uv_loop_init(&loop);
	e = open_engine();
	memset(iso, 0, sizeof(iso));

	/*
	 * ISO builds on the engine's loop, at most ISOJOBS_MAX: builds whose
	 * grub-mkrescue takes 30 s (with the real tools around it).
	 */
	if (tools) {
		oldpath = fake_mkrescue("#!/bin/sh\nsleep 30 &\nsleep 30\n");
		setenv("TMPDIR", tmpbase, 1);
		golden_write(fx_path("images/app.bin"), "a kernel\n");
		for (i = 0; i <= ISOJOBS_MAX; i++) {
			spec = parse(1, &err,
			    "{\"name\":\"i%d\",\"image\":"
			    "\"%s\"}",
			    i, fx_path("images/app.bin"));
			assert_non_null(spec);
			assert_int_equal(engine_build_iso(e, spec, on_iso,
					     &iso[i], &err),
			    i < ISOJOBS_MAX ? 0 : -1);
		}
		assert_int_equal(err.code, RRERR_UNAVAILABLE);
		assert_string_equal(err.message,
		    "2 ISO images are being "
		    "built, the most at once; try again later");
		/* Both run: their build directories are there. */
		for (i = 0; i < 500 && count_dir(tmpbase) < ISOJOBS_MAX; i++) {
			uv_run(&loop, UV_RUN_NOWAIT);
			nanosleep(&tick, NULL);
		}
		assert_int_equal(count_dir(tmpbase), ISOJOBS_MAX);
		assert_false(iso[0].done || iso[1].done || iso[2].done);
	}

	/* Launching one is refused at once, with a reason. */
	spec = parse(1, &err, "{\"name\":\"a\",\"image\":\"%s\"}",
	    fx_path("images/app.bin"));
	assert_non_null(spec);
	engine_launch(e, spec, on_reply, &r);
	assert_true(r.done);
	assert_true(r.failed);
	assert_int_equal(r.err.code, RRERR_INVALID);
	assert_string_equal(r.err.field, "platform");
	assert_string_equal(r.err.message,
	    "platform: iso images are built "
	    "with POST /v1/iso, not launched");
	assert_int_equal(fake_calls(FAKE_OP_LAUNCH), 0);

	/* A kvm instance, whose record is then made to say iso. */
	spec = parse(0, &err, "{\"name\":\"b\",\"image\":\"%s\"}",
	    fx_path("images/app.bin"));
	memset(&r, 0, sizeof(r));
	engine_launch(e, spec, on_reply, &r);
	while (!r.done)
		uv_run(&loop, UV_RUN_ONCE);
	assert_false(r.failed);
	engine_quiesce(e);
	/* The daemon stops: a new build is refused at once... */
	spec = parse(1, &err, "{\"name\":\"late\",\"image\":\"%s\"}",
	    fx_path("images/app.bin"));
	assert_non_null(spec);
	assert_int_equal(engine_build_iso(e, spec, on_iso, &iso[ISOJOBS_MAX],
			     &err),
	    -1);
	assert_int_equal(err.code, RRERR_UNAVAILABLE);
	assert_string_equal(err.message, "rumprund is shutting down");
	t0 = time(NULL);
	uv_run(&loop, UV_RUN_DEFAULT);
	engine_close(e);
	/* ...and those in progress were cancelled, not waited for. */
	if (tools) {
		assert_true(time(NULL) - t0 < 5);
		for (i = 0; i < ISOJOBS_MAX; i++) {
			assert_true(iso[i].done);
			assert_true(iso[i].failed);
			assert_int_equal(iso[i].err.code, RRERR_UNAVAILABLE);
			assert_string_equal(iso[i].err.message,
			    "rumprund is shutting down");
		}
		assert_true(empty_dir(tmpbase));
		setenv("PATH", oldpath, 1);
		free(oldpath);
		unsetenv("TMPDIR");
	}
	assert_false(iso[ISOJOBS_MAX].done);

	snprintf(path, sizeof(path), "%s", fx_path("state/instances/b.json"));
	rec = json_load_file(path, 0, NULL);
	assert_non_null(rec);
	spec = parse(1, &err, "{\"name\":\"b\",\"image\":\"%s\"}",
	    fx_path("images/app.bin"));
	json_object_set_new(rec, "spec", spec_to_json(spec));
	spec_free(spec);
	assert_int_equal(json_dump_file(rec, path, 0), 0);
	json_decref(rec);

	e = open_engine();
	view = engine_get(e, "b", &err);
	assert_null(view);
	close_engine(e);
	uv_loop_close(&loop);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_golden, setup,
		    golden_teardown),
		cmocka_unit_test_setup_teardown(test_platform, setup,
		    golden_teardown),
		cmocka_unit_test_setup_teardown(test_data_not_regular, setup,
		    golden_teardown),
		cmocka_unit_test(test_check_head),
		cmocka_unit_test_setup_teardown(test_build, setup,
		    golden_teardown),
		cmocka_unit_test_setup_teardown(test_build_failures, setup,
		    golden_teardown),
		cmocka_unit_test(test_rrctl_iso),
		cmocka_unit_test_setup_teardown(test_engine, setup,
		    golden_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
