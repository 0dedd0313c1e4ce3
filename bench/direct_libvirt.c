/*
 * direct_libvirt: the baselines rumprund's launch latency is held against.
 *
 *   direct_libvirt libvirt [options]   virDomainCreateXML with the XML
 *                                      rumprund would send (backends/kvm_xml.c)
 *   direct_libvirt qemu [options]      qemu-system-x86_64 spawned directly with
 *                                      -kernel/-append, as the upstream
 *                                      `rumprun kvm` tool does
 *
 * Options:
 *   --image PATH        the guest kernel (build/guest/rrguest)
 *   --arg WORD          argv of the guest after argv[0] (repeat); default
 *                       "forever": the guest prints its markers and stays
 *   --memory MIB        default 32
 *   --accel tcg|kvm     default tcg
 *   --firmware PATH     "seabios" (default, QEMU's own), or a ROM (qboot.rom)
 *   --cmdline-prefix T  put T and a space before the guest configuration on
 *                       the kernel command line (rrguest.console=com1
 *                       makes the test guest talk on COM1 under qboot too)
 *   --fast-cpu-probe yes|no   the <qemu:del capability='cpu-unavailable-
 *                       features'/> override (default yes)
 *   --uri URI           libvirt URI (default qemu:///system)
 *   --logdir DIR        console logs go to DIR/NAME.log
 *   --runs N            sequential launches (default 10)
 *   --burst N           N launches at once instead of sequential ones
 *   --parallel P        burst: P threads issue the N creates (default N)
 *   --prefix P          domain and log name prefix (default "rb<pid>")
 *   --qemu PATH         qemu mode: the binary (default qemu-system-x86_64)
 *   --via create|define libvirt mode: how a domain is started.  "create"
 *                       (default): one virDomainCreateXML, what a careful
 *                       libvirt user does for a guest with no disk (and
 *                       what rumprund does for one).  "define":
 *                       virDomainDefineXML, virDomainCreate,
 *                       virDomainUndefine, what rumprund does to hand a
 *                       disk's descriptor over (virDomainFDAssociate,
 *                       between define and create; no disk here, so only
 *                       the cost of the three calls is measured)
 *   --acpi yes|no       libvirt mode: "no" takes <features><acpi/> out of
 *                       rumprund's XML (what it costs; default yes)
 *   --stage-kernel DIR  libvirt mode: copy the kernel to DIR/DOMAIN.kernel
 *                       (0644, paths_copy() as rumprund does) before each
 *                       start and boot that copy; removed after the run
 *
 * Each launch is timed from just before virDomainCreateXML (or
 * posix_spawn) to: the call's return ("create"), libvirt's STARTED
 * lifecycle event ("started", libvirt mode), the first byte of the console
 * log file ("first_byte") and the `=== calling "rrguest" main() ===`
 * marker in it ("marker": the guest's main() runs, what rumprund calls
 * state "running").  With --stage-kernel or --via define, each step's own
 * duration too: "copy", "define", "start" (virDomainCreate or
 * virDomainCreateXML), "undefine".  A burst is timed from the common start.  Every domain
 * or QEMU is destroyed before the program exits.
 *
 * Output: one JSON object per launch on stdout, e.g.
 *   {"mode":"libvirt","i":0,"create":61.2,"started":63.0,"first_byte":70.1,
 *    "marker":71.5}
 * (milliseconds), then {"mode":...,"summary":true,"wall":...} for a burst.
 */
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

#include "backend.h"
#include "benchlib.h"
#include "kvm_xml.h"
#include "paths.h"
#include "guestconf.h"
#include "spec.h"

extern char **environ;

#define MARKER	 "=== calling \"rrguest\" main() ==="
#define WAIT_S	 60
#define MAX_ARGS 32

struct opts {
	const char *mode;
	const char *image;
	const char *args[MAX_ARGS];
	int nargs;
	unsigned int memory;
	const char *accel;
	const char *firmware;
	const char *cmdline_prefix;
	bool fast_cpu_probe;
	const char *uri;
	const char *logdir;
	int runs;
	int burst;
	int parallel;
	char prefix[32];
	const char *qemu;
	bool via_define;
	bool no_acpi;
	const char *stage_dir;
};

static struct opts o;

/* libvirt lifecycle events, by domain name. */
struct evrec {
	char name[128];
	uint64_t started, stopped;
};

static pthread_mutex_t ev_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t ev_cond = PTHREAD_COND_INITIALIZER;
static struct evrec *evs;
static size_t nevs, cap_evs;
static atomic_bool ev_quit;
static virConnectPtr conn;

static struct evrec *
ev_get(const char *name)
{
	size_t i;

	for (i = 0; i < nevs; i++)
		if (strcmp(evs[i].name, name) == 0)
			return &evs[i];
	if (nevs == cap_evs) {
		struct evrec *n;

		cap_evs = cap_evs ? cap_evs * 2 : 256;
		if ((n = realloc(evs, cap_evs * sizeof(*evs))) == NULL)
			die("out of memory");
		evs = n;
	}
	memset(&evs[nevs], 0, sizeof(evs[nevs]));
	snprintf(evs[nevs].name, sizeof(evs[nevs].name), "%s", name);
	return &evs[nevs++];
}

static int
on_lifecycle(virConnectPtr c, virDomainPtr dom, int event, int detail,
    void *opaque)
{
	uint64_t t = now_ns();
	struct evrec *r;

	(void)c;
	(void)detail;
	(void)opaque;
	pthread_mutex_lock(&ev_lock);
	r = ev_get(virDomainGetName(dom));
	if (event == VIR_DOMAIN_EVENT_STARTED && r->started == 0)
		r->started = t;
	else if (event == VIR_DOMAIN_EVENT_STOPPED && r->stopped == 0)
		r->stopped = t;
	pthread_cond_broadcast(&ev_cond);
	pthread_mutex_unlock(&ev_lock);
	return 0;
}

static void *
ev_thread(void *arg)
{
	(void)arg;
	while (!atomic_load(&ev_quit))
		if (virEventRunDefaultImpl() < 0)
			break;
	return NULL;
}

static void
ev_wake(int timer, void *opaque)
{
	(void)opaque;
	virEventRemoveTimeout(timer);
}

/* Wait for the STARTED (or STOPPED) event of name; its time or 0. */
static uint64_t
ev_wait(const char *name, bool stopped, uint64_t deadline)
{
	struct evrec *r;
	uint64_t v = 0;

	pthread_mutex_lock(&ev_lock);
	for (;;) {
		r = ev_get(name);
		v = stopped ? r->stopped : r->started;
		if (v != 0 || now_ns() >= deadline)
			break;
		cond_wait_short(&ev_cond, &ev_lock);
	}
	pthread_mutex_unlock(&ev_lock);
	return v;
}

/* The launch request rumprund would get, parsed as rumprund parses it. */
static struct spec *
make_spec(const char *name)
{
	const char *dirs[2] = { NULL, NULL };
	struct spec_policy policy;
	char dir[1024], *slash, *text;
	struct spec *spec;
	struct rrerr err;
	json_t *req, *argv;
	int i;

	snprintf(dir, sizeof(dir), "%s", o.image);
	if ((slash = strrchr(dir, '/')) != NULL)
		*slash = '\0';
	dirs[0] = dir;
	memset(&policy, 0, sizeof(policy));
	policy.image_dirs = dirs;
	policy.max_memory_mib = 1 << 20;
	policy.max_vcpus = 64;
	argv = json_array();
	json_array_append_new(argv, json_string("rrguest"));
	for (i = 0; i < o.nargs; i++)
		json_array_append_new(argv, json_string(o.args[i]));
	req = json_pack("{s:s,s:s,s:o,s:i}", "name", name, "image", o.image,
	    "argv", argv, "memory_mib", (int)o.memory);
	text = json_dumps(req, JSON_COMPACT);
	json_decref(req);
	if (spec_parse(text, strlen(text), &policy, &spec, &err) == -1)
		die("launch request: %s", err.message);
	free(text);
	return spec;
}

/*
 * The guest configuration of spec as the kernel command line: with
 * --cmdline-prefix, that text and a space before it.  New string.
 */
static char *
guest_cmdline(const struct spec *spec)
{
	struct rrerr err;
	char *cfg, *line;

	if ((cfg = guestconf_build(spec, spec->image, &err)) == NULL)
		die("guest config: %s", err.message);
	if (o.cmdline_prefix == NULL)
		return cfg;
	if (asprintf(&line, "%s %s", o.cmdline_prefix, cfg) == -1)
		die("out of memory");
	free(cfg);
	return line;
}

/* libvirt mode */

static char owner[33];

static char *
domain_xml(const char *name, char *domname, size_t domsize)
{
	struct backend_config cfg;
	struct backend_launch l;
	struct spec *spec;
	struct rrerr err;
	char log[2048];
	char *guest, *xml;

	spec = make_spec(name);
	guest = guest_cmdline(spec);
	backend_domain_name(owner, name, 1, backend_domain_tag(), domname,
	    domsize);
	snprintf(log, sizeof(log), "%s/%s.log", o.logdir, domname);
	memset(&cfg, 0, sizeof(cfg));
	cfg.uri = o.uri;
	cfg.owner = owner;
	cfg.accel = strcmp(o.accel, "kvm") == 0 ? SPEC_ACCEL_KVM :
						  SPEC_ACCEL_TCG;
	cfg.firmware = strcmp(o.firmware, "seabios") == 0 ? NULL : o.firmware;
	cfg.fast_cpu_probe = o.fast_cpu_probe;
	memset(&l, 0, sizeof(l));
	l.spec = spec;
	l.owner = owner;
	l.domain_name = domname;
	l.generation = 1;
	l.guest_config = guest;
	l.console_log = log;
	if (o.stage_dir != NULL) {
		struct kvm_xml_files files;
		char kernel[2048];

		snprintf(kernel, sizeof(kernel), "%s/%s.kernel", o.stage_dir,
		    domname);
		files.kernel = kernel;
		files.dir = o.stage_dir;
		xml = kvm_xml_domain_files(&l, &cfg, &files, &err);
	} else
		xml = kvm_xml_domain(&l, &cfg, &err);
	if (xml == NULL)
		die("domain XML: %s", err.message);
	if (o.no_acpi) {
		static const char acpi[] = "  <features>\n    <acpi/>\n"
					   "  </features>\n";
		char *at = strstr(xml, acpi);

		if (at == NULL)
			die("domain XML: no <acpi/> to take out");
		memmove(at, at + strlen(acpi), strlen(at + strlen(acpi)) + 1);
	}
	free(guest);
	spec_free(spec);
	return xml;
}

struct launch {
	char domname[128];
	char *xml;
	uint64_t t0, create, started, first, marker;
	uint64_t d_copy, d_define, d_start, d_undefine; /* ns */
	bool ok;
};

static struct launch *L;
static struct logwatch *lw;
static atomic_int next_launch;
static pthread_barrier_t barrier;
static _Atomic uint64_t burst_t0;

/* --stage-kernel: copy the kernel as rumprund's stage_kernel() does. */
static int
stage(struct launch *l)
{
	char path[2048];
	struct stat st;
	uint64_t t = now_ns();
	int in, out, rc = -1;

	snprintf(path, sizeof(path), "%s/%s.kernel", o.stage_dir, l->domname);
	(void)unlink(path);
	if ((in = open(o.image, O_RDONLY | O_CLOEXEC)) == -1)
		die("%s: %s", o.image, strerror(errno));
	out = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
	    0644);
	if (out != -1 && fstat(in, &st) == 0 && fchmod(out, 0644) == 0 &&
	    paths_copy(in, out, (uint64_t)st.st_size, NULL) == 0)
		rc = 0;
	if (out == -1 || close(out) == -1 || rc == -1) {
		fprintf(stderr, "direct_libvirt: %s: %s\n", path,
		    strerror(errno));
		rc = -1;
	}
	close(in);
	l->d_copy = now_ns() - t;
	return rc;
}

static void
unstage(const struct launch *l)
{
	char path[2048];

	if (o.stage_dir == NULL)
		return;
	snprintf(path, sizeof(path), "%s/%s.kernel", o.stage_dir, l->domname);
	(void)unlink(path);
}

static void
do_create(struct launch *l)
{
	char log[256];
	virDomainPtr dom;

	snprintf(log, sizeof(log), "%s.log", l->domname);
	unlink(log);
	logwatch_expect(lw, log);
	if (l->t0 == 0)
		l->t0 = now_ns();
	if (o.stage_dir != NULL && stage(l) == -1) {
		l->create = now_ns();
		return;
	}
	if (o.via_define) {
		uint64_t t = now_ns();

		dom = virDomainDefineXML(conn, l->xml);
		l->d_define = now_ns() - t;
		if (dom != NULL) {
			t = now_ns();
			if (virDomainCreate(dom) < 0) {
				fprintf(stderr, "direct_libvirt: %s: %s\n",
				    l->domname, virGetLastErrorMessage());
				virDomainUndefine(dom);
				virDomainFree(dom);
				dom = NULL;
			} else {
				l->d_start = now_ns() - t;
				t = now_ns();
				if (virDomainUndefine(dom) < 0)
					die("undefine: %s",
					    virGetLastErrorMessage());
				l->d_undefine = now_ns() - t;
			}
		}
	} else {
		uint64_t t = now_ns();

		dom = virDomainCreateXML(conn, l->xml, 0);
		l->d_start = now_ns() - t;
	}
	l->create = now_ns();
	if (dom == NULL) {
		fprintf(stderr, "direct_libvirt: %s: %s\n", l->domname,
		    virGetLastErrorMessage());
		return;
	}
	virDomainFree(dom);
	l->ok = true;
}

static void
collect(struct launch *l)
{
	uint64_t deadline = now_ns() + (uint64_t)WAIT_S * 1000000000u;
	char log[256];

	if (!l->ok)
		return;
	snprintf(log, sizeof(log), "%s.log", l->domname);
	l->started = ev_wait(l->domname, false, deadline);
	if (logwatch_wait(lw, log, LW_FIRST_BYTE, deadline, &l->first) == -1)
		l->first = 0;
	if (logwatch_wait(lw, log, LW_MARKER, deadline, &l->marker) == -1)
		l->marker = 0;
}

static void
destroy(struct launch *l)
{
	virDomainPtr dom;

	if (!l->ok)
		return;
	if ((dom = virDomainLookupByName(conn, l->domname)) != NULL) {
		if (virDomainDestroy(dom) < 0)
			fprintf(stderr, "direct_libvirt: destroy %s: %s\n",
			    l->domname, virGetLastErrorMessage());
		virDomainFree(dom);
	}
}

static double
rel(uint64_t t0, uint64_t t)
{
	return t == 0 ? -1 : ms_between(t0, t);
}

static void
print_launch(const char *mode, int i, const struct launch *l, uint64_t t0)
{
	printf("{\"mode\":\"%s\",\"i\":%d,\"ok\":%s,\"create\":%.3f,"
	       "\"started\":%.3f,\"first_byte\":%.3f,\"marker\":%.3f,"
	       "\"copy\":%.3f,\"define\":%.3f,\"start\":%.3f,"
	       "\"undefine\":%.3f}\n",
	    mode, i, l->ok && l->marker != 0 ? "true" : "false",
	    rel(t0, l->create), rel(t0, l->started), rel(t0, l->first),
	    rel(t0, l->marker), l->d_copy / 1e6, l->d_define / 1e6,
	    l->d_start / 1e6, l->d_undefine / 1e6);
	fflush(stdout);
}

static void *
burst_worker(void *arg)
{
	uint64_t zero = 0;
	int i;

	(void)arg;
	pthread_barrier_wait(&barrier);
	/* The burst starts when the first worker leaves the gate. */
	atomic_compare_exchange_strong(&burst_t0, &zero, now_ns());
	while ((i = atomic_fetch_add(&next_launch, 1)) < o.burst) {
		L[i].t0 = burst_t0;
		do_create(&L[i]);
	}
	return NULL;
}

static void *
destroy_worker(void *arg)
{
	int i;

	(void)arg;
	while ((i = atomic_fetch_add(&next_launch, 1)) < o.burst)
		destroy(&L[i]);
	return NULL;
}

static void
run_workers(void *(*fn)(void *), int n)
{
	pthread_t *th;
	int i;

	if ((th = calloc((size_t)n, sizeof(*th))) == NULL)
		die("out of memory");
	for (i = 0; i < n; i++)
		if (pthread_create(&th[i], NULL, fn, NULL) != 0)
			die("pthread_create");
	for (i = 0; i < n; i++)
		pthread_join(th[i], NULL);
	free(th);
}

static void
libvirt_mode(void)
{
	pthread_t evt;
	char name[96];
	uint64_t deadline, wall_end;
	int i, n, id, fails = 0;

	snprintf(owner, sizeof(owner), "%.8s%08x", o.prefix,
	    (unsigned int)getpid());
	if (virEventRegisterDefaultImpl() < 0)
		die("virEventRegisterDefaultImpl");
	if ((conn = virConnectOpen(o.uri)) == NULL)
		die("virConnectOpen %s: %s", o.uri, virGetLastErrorMessage());
	id = virConnectDomainEventRegisterAny(conn, NULL,
	    VIR_DOMAIN_EVENT_ID_LIFECYCLE,
	    VIR_DOMAIN_EVENT_CALLBACK(on_lifecycle), NULL, NULL);
	if (id < 0)
		die("event register: %s", virGetLastErrorMessage());
	if (pthread_create(&evt, NULL, ev_thread, NULL) != 0)
		die("pthread_create");
	lw = logwatch_start(o.logdir, MARKER);

	n = o.burst > 0 ? o.burst : o.runs;
	if ((L = calloc((size_t)n, sizeof(*L))) == NULL)
		die("out of memory");
	for (i = 0; i < n; i++) {
		snprintf(name, sizeof(name), "%s-%d", o.prefix, i);
		L[i].xml = domain_xml(name, L[i].domname, sizeof(L[i].domname));
	}
	/* A warm-up launch: the first connection-side work, caches. */
	{
		struct launch w;

		memset(&w, 0, sizeof(w));
		snprintf(name, sizeof(name), "%s-warm", o.prefix);
		w.xml = domain_xml(name, w.domname, sizeof(w.domname));
		do_create(&w);
		collect(&w);
		destroy(&w);
		ev_wait(w.domname, true, now_ns() + 10000000000u);
		unstage(&w);
		free(w.xml);
	}

	if (o.burst > 0) {
		if (o.parallel <= 0 || o.parallel > o.burst)
			o.parallel = o.burst;
		pthread_barrier_init(&barrier, NULL, (unsigned)o.parallel);
		run_workers(burst_worker, o.parallel);
		for (i = 0; i < n; i++)
			collect(&L[i]);
		wall_end = 0;
		for (i = 0; i < n; i++) {
			print_launch("libvirt", i, &L[i], burst_t0);
			if (!L[i].ok || L[i].marker == 0)
				fails++;
			else if (L[i].marker > wall_end)
				wall_end = L[i].marker;
		}
		printf("{\"mode\":\"libvirt\",\"summary\":true,\"n\":%d,"
		       "\"parallel\":%d,\"failed\":%d,\"wall\":%.3f}\n",
		    n, o.parallel, fails, rel(burst_t0, wall_end));
		fflush(stdout);
		atomic_store(&next_launch, 0);
		run_workers(destroy_worker, o.parallel < 16 ? o.parallel : 16);
		deadline = now_ns() + 30000000000u;
		for (i = 0; i < n; i++)
			if (L[i].ok)
				ev_wait(L[i].domname, true, deadline);
	} else {
		for (i = 0; i < n; i++) {
			do_create(&L[i]);
			collect(&L[i]);
			print_launch("libvirt", i, &L[i], L[i].t0);
			destroy(&L[i]);
			if (L[i].ok)
				ev_wait(L[i].domname, true,
				    now_ns() + 10000000000u);
		}
	}
	for (i = 0; i < n; i++) {
		unstage(&L[i]);
		free(L[i].xml);
	}
	free(L);
	logwatch_stop(lw);
	virConnectDomainEventDeregisterAny(conn, id);
	atomic_store(&ev_quit, true);
	virEventAddTimeout(0, ev_wake, NULL, NULL);
	pthread_join(evt, NULL);
	virConnectClose(conn);
}

/* qemu mode */

/* posix_spawn() takes char *const argv[]; it does not write to them. */
static char *
unconst(const char *s)
{
	union {
		const char *c;
		char *m;
	} u;

	u.c = s;
	return u.m;
}

static void
qemu_mode(void)
{
	char name[96], log[256], logpath[2048], serial[2200], mem[16], *cfg;
	char *argv[48];
	struct spec *spec;
	struct launch l;
	uint64_t deadline;
	int i, k, status, fails = 0;
	pid_t pid;

	lw = logwatch_start(o.logdir, MARKER);
	for (i = -1; i < o.runs; i++) { /* -1: a warm-up run */
		snprintf(name, sizeof(name), "%s-%d", o.prefix,
		    i < 0 ? 999 : i);
		spec = make_spec(name);
		cfg = guest_cmdline(spec);
		snprintf(log, sizeof(log), "%s.log", name);
		snprintf(logpath, sizeof(logpath), "%s/%s", o.logdir, log);
		snprintf(serial, sizeof(serial), "file:%s", logpath);
		snprintf(mem, sizeof(mem), "%u", o.memory);
		k = 0;
		/* What libvirt runs, less its monitor, sandbox and -S. */
		argv[k++] = unconst(o.qemu);
		argv[k++] = unconst("-machine");
		argv[k++] = unconst("pc,usb=off");
		argv[k++] = unconst("-accel");
		argv[k++] = unconst(o.accel);
		if (strcmp(o.firmware, "seabios") != 0) {
			argv[k++] = unconst("-bios");
			argv[k++] = unconst(o.firmware);
		}
		argv[k++] = unconst("-m");
		argv[k++] = mem;
		argv[k++] = unconst("-smp");
		argv[k++] = unconst("1");
		argv[k++] = unconst("-display");
		argv[k++] = unconst("none");
		argv[k++] = unconst("-no-user-config");
		argv[k++] = unconst("-nodefaults");
		argv[k++] = unconst("-no-reboot");
		argv[k++] = unconst("-kernel");
		argv[k++] = spec->image;
		argv[k++] = unconst("-append");
		argv[k++] = cfg;
		argv[k++] = unconst("-serial");
		argv[k++] = serial;
		argv[k] = NULL;
		unlink(logpath);
		memset(&l, 0, sizeof(l));
		logwatch_expect(lw, log);
		l.t0 = now_ns();
		if (posix_spawnp(&pid, o.qemu, NULL, NULL, argv, environ) != 0)
			die("posix_spawn %s", o.qemu);
		l.create = now_ns();
		l.ok = true;
		deadline = now_ns() + (uint64_t)WAIT_S * 1000000000u;
		if (logwatch_wait(lw, log, LW_FIRST_BYTE, deadline, &l.first) ==
		    -1)
			l.first = 0;
		if (logwatch_wait(lw, log, LW_MARKER, deadline, &l.marker) ==
		    -1)
			l.marker = 0;
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
		logwatch_forget(lw, log);
		unlink(logpath);
		if (i >= 0) {
			print_launch("qemu", i, &l, l.t0);
			if (l.marker == 0)
				fails++;
		}
		free(cfg);
		spec_free(spec);
	}
	logwatch_stop(lw);
	if (fails > 0)
		fprintf(stderr,
		    "direct_libvirt: %d QEMU runs never reached "
		    "main()\n",
		    fails);
}

static void __attribute__((noreturn)) usage(void)
{
	fprintf(stderr,
	    "usage: direct_libvirt libvirt|qemu --image PATH "
	    "--logdir DIR [--arg W]... [--memory MIB] [--accel tcg|kvm]\n"
	    "    [--firmware PATH|seabios] [--cmdline-prefix TEXT] "
	    "[--fast-cpu-probe yes|no] "
	    "[--uri URI] [--runs N]\n"
	    "    [--burst N [--parallel P]] [--prefix P] [--qemu PATH]\n"
	    "    [--via create|define] [--stage-kernel DIR] [--acpi yes|no]\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "image", required_argument, NULL, 'i' },
		{ "arg", required_argument, NULL, 'a' },
		{ "memory", required_argument, NULL, 'm' },
		{ "accel", required_argument, NULL, 'A' },
		{ "firmware", required_argument, NULL, 'F' },
		{ "cmdline-prefix", required_argument, NULL, 'C' },
		{ "fast-cpu-probe", required_argument, NULL, 'P' },
		{ "uri", required_argument, NULL, 'u' },
		{ "logdir", required_argument, NULL, 'l' },
		{ "runs", required_argument, NULL, 'r' },
		{ "burst", required_argument, NULL, 'b' },
		{ "parallel", required_argument, NULL, 'p' },
		{ "prefix", required_argument, NULL, 'x' },
		{ "qemu", required_argument, NULL, 'q' },
		{ "via", required_argument, NULL, 'V' },
		{ "acpi", required_argument, NULL, 'N' },
		{ "stage-kernel", required_argument, NULL, 'S' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	if (argc < 2)
		usage();
	o.mode = argv[1];
	o.memory = 32;
	o.accel = "tcg";
	o.firmware = "seabios";
	o.fast_cpu_probe = true;
	o.uri = "qemu:///system";
	o.runs = 10;
	o.qemu = "qemu-system-x86_64";
	snprintf(o.prefix, sizeof(o.prefix), "rb%d", (int)getpid());
	optind = 2;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 'i':
			o.image = optarg;
			break;
		case 'a':
			if (o.nargs == MAX_ARGS)
				usage();
			o.args[o.nargs++] = optarg;
			break;
		case 'm':
			o.memory = (unsigned int)atoi(optarg);
			break;
		case 'A':
			o.accel = optarg;
			break;
		case 'F':
			o.firmware = optarg;
			break;
		case 'C':
			o.cmdline_prefix = optarg;
			break;
		case 'P':
			o.fast_cpu_probe = strcmp(optarg, "yes") == 0;
			break;
		case 'u':
			o.uri = optarg;
			break;
		case 'l':
			o.logdir = optarg;
			break;
		case 'r':
			o.runs = atoi(optarg);
			break;
		case 'b':
			o.burst = atoi(optarg);
			break;
		case 'p':
			o.parallel = atoi(optarg);
			break;
		case 'x':
			snprintf(o.prefix, sizeof(o.prefix), "%.20s", optarg);
			break;
		case 'q':
			o.qemu = optarg;
			break;
		case 'V':
			if (strcmp(optarg, "define") != 0 &&
			    strcmp(optarg, "create") != 0)
				usage();
			o.via_define = strcmp(optarg, "define") == 0;
			break;
		case 'S':
			o.stage_dir = optarg;
			break;
		case 'N':
			o.no_acpi = strcmp(optarg, "no") == 0;
			break;
		default:
			usage();
		}
	}
	if (o.image == NULL || o.logdir == NULL)
		usage();
	if (o.nargs == 0)
		o.args[o.nargs++] = "forever";
	signal(SIGPIPE, SIG_IGN);
	if (strcmp(o.mode, "libvirt") == 0)
		libvirt_mode();
	else if (strcmp(o.mode, "qemu") == 0)
		qemu_mode();
	else
		usage();
	return 0;
}
