/*
 * Tests of the KVM backend against a real libvirtd, QEMU and test guest.
 *
 * Needs qemu:///system (scripts/libvirt-up.sh starts it) and the test
 * guest kernel: $RR_GUEST_ELF, default $RR_SRCDIR/build/guest/rrguest.
 * Every test is skipped, saying why, when either is missing.  The
 * restart test stops and starts libvirtd through scripts/libvirt-down.sh
 * and libvirt-up.sh, and only when libvirt-up.sh started it (else it is
 * skipped: we do not restart someone else's libvirtd).
 *
 * Domains are named rr-<owner8>-... with an owner made up per run, and
 * teardown fails the run if any of them is left behind.  Guests run
 * under TCG unless a test says otherwise; console logs go to a temp dir.
 *
 * Timings printed (create -> STARTED event, create -> first console
 * byte) are for comparison with bench/README.md; RR_LIVE_RUNS sets the runs
 * per configuration (default 3).  RR_LIVE_ONLY=PATTERN runs only the
 * tests whose names match (e.g. test_fault, on a shared libvirtd).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

#include "backend.h"
#include "kvm.h"
#include "kvm_xml.h"
#include "spec.h"

#define URI	      "qemu:///system"
#define MAX_EVENTS    512
#define EVENT_WAIT_MS 5000

static char owner[64];
static char tmpdir[64];
static char guest[256];
static int guest_fd = -1; /* the guest, opened once: what launches boot */
static char srcdir[256];
static char why_skip[1024];

/* Events seen by the backend callback, with when they arrived. */
struct seen {
	double t; /* seconds, CLOCK_MONOTONIC */
	struct backend_event ev;
	int tag; /* which backend */
};

static pthread_mutex_t ev_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t ev_cond = PTHREAD_COND_INITIALIZER;
static struct seen events[MAX_EVENTS];
static size_t nevents;

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
sleep_ms(unsigned int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

static void
on_event(void *arg, const struct backend_event *ev)
{
	pthread_mutex_lock(&ev_lock);
	if (nevents < MAX_EVENTS) {
		events[nevents].ev = *ev;
		events[nevents].t = now();
		events[nevents].tag = (int)(intptr_t)arg;
		nevents++;
	}
	pthread_cond_broadcast(&ev_cond);
	pthread_mutex_unlock(&ev_lock);
}

static const char *
event_name(enum backend_event_type t)
{
	switch (t) {
	case BACKEND_EVENT_STARTED:
		return "STARTED";
	case BACKEND_EVENT_STOPPED:
		return "STOPPED";
	case BACKEND_EVENT_SHUTDOWN:
		return "SHUTDOWN";
	case BACKEND_EVENT_CRASHED:
		return "CRASHED";
	case BACKEND_EVENT_FAULT:
		return "FAULT";
	case BACKEND_EVENT_DISCONNECTED:
		return "DISCONNECTED";
	case BACKEND_EVENT_RECONNECTED:
		return "RECONNECTED";
	case BACKEND_EVENT_PAUSED:
		return "PAUSED";
	case BACKEND_EVENT_RESUMED:
		return "RESUMED";
	}
	return "?";
}

/*
 * Wait up to ms for an event of type about name ("" for connection
 * events), seen at index >= from.  Returns its arrival time, or -1.
 */
static double
wait_event(size_t from, enum backend_event_type type, const char *name,
    unsigned int ms)
{
	struct timespec deadline;
	double t = -1;
	size_t i;

	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += ms / 1000;
	deadline.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (deadline.tv_nsec >= 1000000000L) {
		deadline.tv_sec++;
		deadline.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&ev_lock);
	for (;;) {
		for (i = from; i < nevents; i++) {
			if (events[i].ev.type == type &&
			    strcmp(events[i].ev.domain_name, name) == 0) {
				t = events[i].t;
				goto out;
			}
		}
		if (pthread_cond_timedwait(&ev_cond, &ev_lock, &deadline) ==
		    ETIMEDOUT)
			break;
	}
out:
	pthread_mutex_unlock(&ev_lock);
	return t;
}

static size_t
event_mark(void)
{
	size_t n;

	pthread_mutex_lock(&ev_lock);
	n = nevents;
	pthread_mutex_unlock(&ev_lock);
	return n;
}

static void
dump_events(size_t from)
{
	size_t i;

	pthread_mutex_lock(&ev_lock);
	for (i = from; i < nevents; i++)
		fprintf(stderr, "  event %s %s (%s)\n",
		    event_name(events[i].ev.type), events[i].ev.domain_name,
		    events[i].ev.detail);
	pthread_mutex_unlock(&ev_lock);
}

/* A launch of the test guest. */
struct guest {
	struct spec spec;
	char *argv[8];
	char name[SPEC_NAME_MAX + 1];
	char domain[BACKEND_DOMAIN_NAME_MAX];
	char config[256];
	char log[256];
	struct backend_launch launch;
};

/*
 * Set g up as instance name running the guest commands cmds (one string,
 * as the guest's argv after argv[0]).
 */
static void
guest_init(struct guest *g, const char *name, const char *cmds)
{
	memset(g, 0, sizeof(*g));
	snprintf(g->name, sizeof(g->name), "%s", name);
	backend_domain_name(owner, name, 1, backend_domain_tag(), g->domain,
	    sizeof(g->domain));
	snprintf(g->config, sizeof(g->config), "{\"cmdline\":\"rrguest %s\"}",
	    cmds);
	snprintf(g->log, sizeof(g->log), "%s/%s.log", tmpdir, name);
	unlink(g->log);
	g->argv[0] = "rrguest";
	g->spec.name = g->name;
	g->spec.platform = SPEC_PLATFORM_KVM;
	g->spec.image = guest;
	g->spec.memory_mib = 32;
	g->spec.vcpus = 1;
	g->spec.argv = g->argv;
	g->spec.argc = 1;
	g->spec.accel = SPEC_ACCEL_TCG;
	g->launch.spec = &g->spec;
	g->launch.owner = owner;
	g->launch.domain_name = g->domain;
	g->launch.generation = 1;
	g->launch.guest_config = g->config;
	g->launch.console_log = g->log;
	g->launch.image_fd = guest_fd;
}

static void
config_init(struct backend_config *cfg, bool fast)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->uri = URI;
	cfg->owner = owner;
	cfg->accel = SPEC_ACCEL_TCG;
	/*
	 * SeaBIOS, rumprund's default: under qboot the test guest, like a
	 * rumprun guest, finds no COM1 in the BIOS data area and is silent.
	 */
	cfg->firmware = NULL;
	cfg->fast_cpu_probe = fast;
}

static struct backend *
open_backend(const struct backend_config *cfg, int tag)
{
	struct backend *b;
	struct rrerr err;

	rrerr_clear(&err);
	b = backend_kvm_ops.open(cfg, on_event, (void *)(intptr_t)tag, &err);
	if (b == NULL)
		fail_msg("open: %s", err.message);
	return b;
}

static off_t
file_size(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 ? st.st_size : 0;
}

static char *
read_all(const char *path)
{
	FILE *f;
	char *buf;
	long n;
	size_t got;

	f = fopen(path, "r");
	if (f == NULL)
		return NULL;
	if (fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 ||
	    fseek(f, 0, SEEK_SET) != 0 ||
	    (buf = malloc((size_t)n + 1)) == NULL) {
		fclose(f);
		return NULL;
	}
	got = fread(buf, 1, (size_t)n, f);
	buf[got] = '\0';
	fclose(f);
	return buf;
}

/* Wait up to ms for text in the file at path. */
static bool
wait_text(const char *path, const char *text, unsigned int ms)
{
	double deadline = now() + ms / 1000.0;

	do {
		char *s = read_all(path);
		bool found = s != NULL && strstr(s, text) != NULL;

		free(s);
		if (found)
			return true;
		sleep_ms(20);
	} while (now() < deadline);
	return false;
}

/* The entry of domain in b's list, or false. */
static bool
listed(struct backend *b, const char *as_owner, const char *domain,
    struct backend_domain *out)
{
	struct backend_domain *list;
	struct rrerr err;
	size_t n, i;
	bool found = false;

	if (backend_kvm_ops.list(b, as_owner, &list, &n, &err) == -1)
		fail_msg("list: %s", err.message);
	for (i = 0; i < n; i++) {
		if (strcmp(list[i].domain_name, domain) == 0) {
			if (out != NULL)
				*out = list[i];
			found = true;
		}
	}
	free(list);
	return found;
}

static void
launch_ok(struct backend *b, struct guest *g)
{
	struct rrerr err;

	rrerr_clear(&err);
	if (backend_kvm_ops.launch(b, &g->launch, &err) == -1)
		fail_msg("launch %s: %s (%s)", g->domain, err.message,
		    rrerr_name(err.code));
}

static void
destroy_ok(struct backend *b, const char *domain)
{
	struct rrerr err;

	rrerr_clear(&err);
	if (backend_kvm_ops.destroy(b, domain, &err) == -1)
		fail_msg("destroy %s: %s", domain, err.message);
}

/* Setup and teardown. */

static void
silent_error(void *arg, virErrorPtr e)
{
	(void)arg;
	(void)e;
}

static void
run(const char *cmd)
{
	int rc = system(cmd);

	if (rc != 0)
		fprintf(stderr, "note: \"%s\" exited %d\n", cmd, rc);
}

static int
group_setup(void **state)
{
	const char *s;
	virConnectPtr c;
	char cmd[600], cp[1200];

	(void)state;
	s = getenv("RR_SRCDIR");
	snprintf(srcdir, sizeof(srcdir), "%s", s != NULL ? s : ".");
	snprintf(owner, sizeof(owner), "%08x-live-test",
	    (unsigned int)getpid() ^ (unsigned int)time(NULL) << 16);

	s = getenv("RR_GUEST_ELF");
	if (s != NULL)
		snprintf(cmd, sizeof(cmd), "%s", s);
	else
		snprintf(cmd, sizeof(cmd), "%s/build/guest/rrguest", srcdir);
	if (access(cmd, R_OK) != 0) {
		snprintf(why_skip, sizeof(why_skip),
		    "no test guest at %s (make build/guest/rrguest, or set "
		    "RR_GUEST_ELF)",
		    cmd);
		fprintf(stderr, "skipping: %s\n", why_skip);
		return 0;
	}
	virSetErrorFunc(NULL, silent_error);
	c = virConnectOpen(URI);
	if (c == NULL) {
		snprintf(why_skip, sizeof(why_skip),
		    "%s is not reachable (scripts/libvirt-up.sh starts it): %s",
		    URI, virGetLastErrorMessage());
		fprintf(stderr, "skipping: %s\n", why_skip);
		return 0;
	}
	virConnectClose(c);

	/* QEMU runs as libvirt-qemu: the dir must be searchable. */
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/rr-test-kvm-live.XXXXXX");
	if (mkdtemp(tmpdir) == NULL || chmod(tmpdir, 0755) == -1)
		return -1;
	snprintf(guest, sizeof(guest), "%s/rrguest", tmpdir);
	snprintf(cp, sizeof(cp), "cp '%s' '%s' && chmod 0644 '%s'", cmd, guest,
	    guest);
	if (system(cp) != 0)
		return -1;
	if ((guest_fd = open(guest, O_RDONLY | O_CLOEXEC)) == -1)
		return -1;
	fprintf(stderr, "live test: owner %s, guest %s, firmware SeaBIOS\n",
	    owner, guest);
	return 0;
}

/* Destroy what is left of ours; fail when anything was. */
static int
group_teardown(void **state)
{
	char prefix[32], cmd[128];
	virDomainPtr *doms = NULL;
	virConnectPtr c = NULL;
	int i, left = 0;

	(void)state;
	if (why_skip[0] != '\0')
		return 0;
	snprintf(prefix, sizeof(prefix), "rr-%.8s-", owner);
	/* libvirtd may be restarting (ours, or another test's). */
	for (i = 0; i < 100; i++) {
		c = virConnectOpen(URI);
		if (c != NULL)
			break;
		sleep_ms(100);
	}
	if (c == NULL)
		fprintf(stderr, "cannot check for leaked domains: %s\n",
		    virGetLastErrorMessage());
	if (c != NULL) {
		int n;

		n = virConnectListAllDomains(c, &doms, 0);
		for (i = 0; i < n; i++) {
			const char *name = virDomainGetName(doms[i]);

			if (strncmp(name, prefix, strlen(prefix)) == 0) {
				fprintf(stderr, "leaked domain %s\n", name);
				virDomainDestroy(doms[i]);
				left++;
			}
			virDomainFree(doms[i]);
		}
		free(doms);
		virConnectClose(c);
	}
	/* Bridges a failed test_nics may have left. */
	run("for d in rrtest-br0 rrtest-br1; do ! test -e /sys/class/net/$d ||"
	    " ip link del $d; done");
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	run(cmd);
	return left == 0 ? 0 : -1;
}

#define SKIP_IF_NEEDED() \
	do { \
		if (why_skip[0] != '\0') { \
			fprintf(stderr, "skipped: %s\n", why_skip); \
			skip(); \
		} \
	} while (0)

/* Tests. */

/*
 * The whole life of one guest: STARTED, its console, list(), destroy,
 * STOPPED, gone from list().  Also: QEMU got no VGA.
 */
static void
test_lifecycle(void **state)
{
	struct backend_config cfg;
	struct backend_domain d = { .running = false };
	struct backend *b;
	struct guest g;
	size_t mark;
	double t0, t;
	char path[256], *cmdline, *pid;
	FILE *f;
	size_t i, n;

	(void)state;
	SKIP_IF_NEEDED();
	config_init(&cfg, true);
	b = open_backend(&cfg, 1);
	guest_init(&g, "life", "echo hi config exit 3");
	/* What XML gives a meaning to must reach the guest as is. */
	snprintf(g.config, sizeof(g.config),
	    "{\"cmdline\":\"rrguest echo hi "
	    "config exit 3\",\"hostname\":\"a<b>&amp;c'd]]>\"}");
	g.launch.generation = 5;

	mark = event_mark();
	t0 = now();
	launch_ok(b, &g);
	t = wait_event(mark, BACKEND_EVENT_STARTED, g.domain, EVENT_WAIT_MS);
	if (t < 0) {
		dump_events(mark);
		fail_msg("no STARTED for %s", g.domain);
	}
	fprintf(stderr, "  create -> STARTED %.0f ms\n", (t - t0) * 1000);
	if (!wait_text(g.log,
		"=== main() of \"rrguest\" returned 3 ===", 10000) ||
	    !wait_text(g.log, "halted", 2000)) {
		char *s = read_all(g.log);

		fprintf(stderr, "console:\n%s\n", s != NULL ? s : "(none)");
		free(s);
		fail_msg("no exit status and halted on the console");
	}
	assert_true(wait_text(g.log, "hi\n", 0));
	{
		char expect[300];

		snprintf(expect, sizeof(expect), "config=%s\n", g.config);
		if (!wait_text(g.log, expect, 0))
			fail_msg("the guest did not get %s", g.config);
	}

	/* No VGA: QEMU was started with -nodefaults and no display. */
	snprintf(path, sizeof(path), "/run/libvirt/qemu/%s.pid", g.domain);
	pid = read_all(path);
	assert_non_null(pid);
	snprintf(path, sizeof(path), "/proc/%d/cmdline", atoi(pid));
	free(pid);
	f = fopen(path, "r");
	assert_non_null(f);
	cmdline = calloc(1, 65536);
	assert_non_null(cmdline);
	n = fread(cmdline, 1, 65535, f);
	fclose(f);
	for (i = 0; i + 1 < n; i++)
		if (cmdline[i] == '\0')
			cmdline[i] = ' ';
	assert_non_null(strstr(cmdline, "-nodefaults"));
	assert_null(strstr(cmdline, "-vga"));
	assert_null(strstr(cmdline, "VGA"));
	assert_null(strstr(cmdline, "-vnc"));
	assert_null(strstr(cmdline, "-spice"));
	assert_null(strstr(cmdline, "-cpu host"));
	free(cmdline);

	assert_true(listed(b, owner, g.domain, &d));
	assert_string_equal(d.instance, "life");
	assert_int_equal(d.generation, 5);
	assert_true(d.running);

	mark = event_mark();
	t0 = now();
	destroy_ok(b, g.domain);
	t = wait_event(mark, BACKEND_EVENT_STOPPED, g.domain, EVENT_WAIT_MS);
	if (t < 0) {
		dump_events(mark);
		fail_msg("no STOPPED for %s", g.domain);
	}
	fprintf(stderr, "  destroy -> STOPPED %.0f ms\n", (t - t0) * 1000);
	assert_false(listed(b, owner, g.domain, NULL));
	backend_kvm_ops.close(b);
}

/* A name in use, a missing domain, a paused launch, and resume. */
static void
test_conflict_missing_paused(void **state)
{
	struct backend_config cfg;
	struct backend_domain d = { .running = false };
	struct backend *b;
	struct guest g, p;
	struct rrerr err;
	size_t mark;
	char *s;

	(void)state;
	SKIP_IF_NEEDED();
	config_init(&cfg, true);
	b = open_backend(&cfg, 2);

	guest_init(&g, "dup", "forever");
	mark = event_mark();
	launch_ok(b, &g);
	assert_true(wait_event(mark, BACKEND_EVENT_STARTED, g.domain,
			EVENT_WAIT_MS) > 0);
	rrerr_clear(&err);
	assert_int_equal(backend_kvm_ops.launch(b, &g.launch, &err), -1);
	fprintf(stderr, "  second launch: %s: %s\n", rrerr_name(err.code),
	    err.message);
	assert_int_equal(err.code, RRERR_CONFLICT);
	assert_true(listed(b, owner, g.domain, NULL));
	/* pause: PAUSED, listed paused (no fault); twice is fine; resume. */
	mark = event_mark();
	rrerr_clear(&err);
	if (backend_kvm_ops.pause(b, g.domain, &err) == -1)
		fail_msg("pause: %s", err.message);
	assert_true(wait_event(mark, BACKEND_EVENT_PAUSED, g.domain,
			EVENT_WAIT_MS) > 0);
	assert_true(listed(b, owner, g.domain, &d));
	assert_true(d.running && d.paused);
	assert_string_equal(d.fault, "");
	if (backend_kvm_ops.pause(b, g.domain, &err) == -1)
		fail_msg("pause again: %s", err.message);
	mark = event_mark();
	if (backend_kvm_ops.resume(b, g.domain, &err) == -1)
		fail_msg("resume: %s", err.message);
	assert_true(wait_event(mark, BACKEND_EVENT_RESUMED, g.domain,
			EVENT_WAIT_MS) > 0);
	assert_true(listed(b, owner, g.domain, &d));
	assert_false(d.paused);
	destroy_ok(b, g.domain);
	rrerr_clear(&err);
	assert_int_equal(backend_kvm_ops.pause(b, g.domain, &err), -1);
	assert_int_equal(err.code, RRERR_NOT_FOUND);

	/* Missing: destroy is fine, the rest is not found. */
	destroy_ok(b, g.domain);
	destroy_ok(b, "rr-00000000-never-was");
	rrerr_clear(&err);
	assert_int_equal(backend_kvm_ops.resume(b, "rr-00000000-never-was",
			     &err),
	    -1);
	assert_int_equal(err.code, RRERR_NOT_FOUND);
	rrerr_clear(&err);
	assert_int_equal(backend_kvm_ops.shutdown(b, "rr-00000000-never-was",
			     &err),
	    -1);
	assert_int_equal(err.code, RRERR_NOT_FOUND);

	/* Paused: STARTED, listed as running, silent until resumed. */
	guest_init(&p, "paused", "echo resumed exit 0");
	p.spec.paused = true;
	mark = event_mark();
	launch_ok(b, &p);
	assert_true(wait_event(mark, BACKEND_EVENT_STARTED, p.domain,
			EVENT_WAIT_MS) > 0);
	assert_true(listed(b, owner, p.domain, &d));
	assert_true(d.running);
	assert_true(d.paused); /* paused with reason "user" */
	sleep_ms(500);
	s = read_all(p.log);
	assert_true(s == NULL || strstr(s, "calling") == NULL);
	free(s);
	rrerr_clear(&err);
	if (backend_kvm_ops.resume(b, p.domain, &err) == -1)
		fail_msg("resume: %s", err.message);
	assert_true(wait_text(p.log,
	    "=== main() of \"rrguest\" returned 0 ===", 10000));
	/* Shutdown is accepted (and ignored by the guest). */
	rrerr_clear(&err);
	if (backend_kvm_ops.shutdown(b, p.domain, &err) == -1)
		fail_msg("shutdown: %s", err.message);
	destroy_ok(b, p.domain);
	backend_kvm_ops.close(b);
}

/*
 * Launch failures that are the request's fault say so; NICs of each kind
 * that should work do.
 */
static void
test_nics(void **state)
{
	struct backend_config cfg;
	struct backend *b;
	struct guest g;
	struct spec_nic nic;
	const char *macs[1] = { "52:54:00:7e:57:01" };
	struct rrerr err;

	(void)state;
	SKIP_IF_NEEDED();
	config_init(&cfg, true);
	b = open_backend(&cfg, 3);

	guest_init(&g, "nobridge", "exit 0");
	memset(&nic, 0, sizeof(nic));
	nic.type = SPEC_NIC_BRIDGE;
	nic.backend_name = "rrnobr0";
	g.spec.nics = &nic;
	g.spec.nnics = 1;
	g.launch.macs = macs;
	rrerr_clear(&err);
	assert_int_equal(backend_kvm_ops.launch(b, &g.launch, &err), -1);
	fprintf(stderr, "  missing bridge: %s [%s]: %s\n", rrerr_name(err.code),
	    err.field, err.message);
	assert_int_equal(err.code, RRERR_INVALID);
	assert_string_equal(err.field, "nics[0].backend.name");

	guest_init(&g, "nonet", "exit 0");
	nic.type = SPEC_NIC_NETWORK;
	nic.backend_name = "rr-no-such-net";
	g.spec.nics = &nic;
	g.spec.nnics = 1;
	g.launch.macs = macs;
	rrerr_clear(&err);
	assert_int_equal(backend_kvm_ops.launch(b, &g.launch, &err), -1);
	fprintf(stderr, "  missing network: %s [%s]: %s\n",
	    rrerr_name(err.code), err.field, err.message);
	assert_int_equal(err.code, RRERR_INVALID);

	/* A tap name in use (by a bridge we create for the purpose). */
	if (system("ip link add rrtest-br0 type bridge 2>/dev/null") == 0) {
		guest_init(&g, "tapbusy", "exit 0");
		nic.type = SPEC_NIC_TAP;
		nic.backend_name = "rrtest-br0";
		g.spec.nics = &nic;
		g.spec.nnics = 1;
		g.launch.macs = macs;
		rrerr_clear(&err);
		if (backend_kvm_ops.launch(b, &g.launch, &err) == 0) {
			fprintf(stderr,
			    "  tap name of an existing bridge: "
			    "launched!\n");
			destroy_ok(b, g.domain);
		} else
			fprintf(stderr, "  tap name in use: %s [%s]: %s\n",
			    rrerr_name(err.code), err.field, err.message);
		run("ip link del rrtest-br0");
		assert_int_equal(err.code, RRERR_CONFLICT);
	}

	/*
	 * NICs that work: a tap libvirt names, a named tap, and a port on a
	 * bridge made for the test (no traffic: the guest has no driver).
	 */
	if (system("ip link add rrtest-br1 type bridge 2>/dev/null") == 0) {
		struct spec_nic three[3];
		const char *macs3[3] = { "52:54:00:7e:57:11",
			"52:54:00:7e:57:12", "52:54:00:7e:57:13" };
		size_t mark;
		bool started, devs, destroyed;

		memset(three, 0, sizeof(three));
		three[0].type = SPEC_NIC_TAP;
		three[1].type = SPEC_NIC_TAP;
		three[1].backend_name = "rrtest-tap1";
		three[2].type = SPEC_NIC_BRIDGE;
		three[2].backend_name = "rrtest-br1";
		guest_init(&g, "nics", "forever");
		g.spec.nics = three;
		g.spec.nnics = 3;
		g.launch.macs = macs3;
		mark = event_mark();
		rrerr_clear(&err);
		if (backend_kvm_ops.launch(b, &g.launch, &err) == -1) {
			run("ip link del rrtest-br1");
			fail_msg("launch with NICs: %s", err.message);
		}
		started = wait_event(mark, BACKEND_EVENT_STARTED, g.domain,
			      EVENT_WAIT_MS) > 0;
		/* The named tap exists; the bridge got a port. */
		devs =
		    system(
			"test -e /sys/class/net/rrtest-tap1 && "
			"test -n \"$(ls /sys/class/net/rrtest-br1/brif)\"") ==
		    0;
		rrerr_clear(&err);
		destroyed = backend_kvm_ops.destroy(b, g.domain, &err) == 0 &&
		    wait_event(mark, BACKEND_EVENT_STOPPED, g.domain,
			EVENT_WAIT_MS) > 0;
		run("ip link del rrtest-br1");
		assert_true(started);
		assert_true(devs);
		assert_true(destroyed);
	}
	backend_kvm_ops.close(b);
}

/*
 * Guests that end other ways: QEMU killed (STOPPED/FAILED -> CRASHED) and
 * a guest reset (on_reboot destroy -> whatever libvirt reports: printed).
 */
static void
test_guest_ends(void **state)
{
	struct backend_config cfg;
	struct backend *b;
	struct guest g;
	char path[256], *pid;
	size_t mark, i;
	bool seen_any = false;

	(void)state;
	SKIP_IF_NEEDED();
	config_init(&cfg, true);
	b = open_backend(&cfg, 8);

	guest_init(&g, "killed", "forever");
	mark = event_mark();
	launch_ok(b, &g);
	assert_true(wait_event(mark, BACKEND_EVENT_STARTED, g.domain,
			EVENT_WAIT_MS) > 0);
	snprintf(path, sizeof(path), "/run/libvirt/qemu/%s.pid", g.domain);
	pid = read_all(path);
	assert_non_null(pid);
	if (pid != NULL) {
		char cmd[64];

		snprintf(cmd, sizeof(cmd), "kill -9 %d", atoi(pid));
		free(pid);
		run(cmd);
	}
	if (wait_event(mark, BACKEND_EVENT_CRASHED, g.domain, EVENT_WAIT_MS) <
	    0) {
		dump_events(mark);
		fail_msg("no CRASHED after QEMU was killed");
	}
	assert_false(listed(b, owner, g.domain, NULL));

	guest_init(&g, "reset", "reset");
	mark = event_mark();
	launch_ok(b, &g);
	assert_true(wait_event(mark, BACKEND_EVENT_STARTED, g.domain,
			EVENT_WAIT_MS) > 0);
	sleep_ms(100);
	for (i = 0; i < 50 && !seen_any; i++) {
		size_t k;

		pthread_mutex_lock(&ev_lock);
		for (k = mark; k < nevents && !seen_any; k++)
			if (events[k].ev.type != BACKEND_EVENT_STARTED &&
			    strcmp(events[k].ev.domain_name, g.domain) == 0) {
				fprintf(stderr, "  guest reset: %s (%s)\n",
				    event_name(events[k].ev.type),
				    events[k].ev.detail);
				seen_any = true;
			}
		pthread_mutex_unlock(&ev_lock);
		if (!seen_any)
			sleep_ms(100);
	}
	if (!seen_any) {
		fprintf(stderr, "  guest reset: no event after 5 s\n");
		destroy_ok(b, g.domain);
	}
	assert_true(seen_any);
	assert_false(listed(b, owner, g.domain, NULL));
	backend_kvm_ops.close(b);
}

/* The detail of the first event of type about domain since from, or "". */
static void
event_detail(size_t from, enum backend_event_type type, const char *domain,
    char *buf, size_t size)
{
	size_t k;

	buf[0] = '\0';
	pthread_mutex_lock(&ev_lock);
	for (k = from; k < nevents; k++)
		if (events[k].ev.type == type &&
		    strcmp(events[k].ev.domain_name, domain) == 0) {
			snprintf(buf, size, "%s", events[k].ev.detail);
			break;
		}
	pthread_mutex_unlock(&ev_lock);
}

/*
 * A guest QEMU stops on a KVM internal error (the test guest's boot-sse
 * under this host's software KVM): FAULT naming the emulation failure,
 * and list() shows the domain, still there, with that fault.  A domain
 * paused by its launch is no fault.  Where KVM runs SSE (real hardware)
 * there is nothing to see.
 */
static void
test_fault(void **state)
{
	struct backend_config cfg;
	struct backend_domain d;
	struct backend *b;
	struct guest g;
	char detail[256];
	size_t mark;

	(void)state;
	SKIP_IF_NEEDED();
	config_init(&cfg, true);
	b = open_backend(&cfg, 10);
	guest_init(&g, "sse", "boot-sse exit 0");
	g.spec.accel = SPEC_ACCEL_KVM;
	mark = event_mark();
	launch_ok(b, &g);
	/* SeaBIOS alone takes seconds under a software KVM, more when busy. */
	if (wait_event(mark, BACKEND_EVENT_FAULT, g.domain, 30000) < 0) {
		bool ran = wait_text(g.log, "returned 0", 1000);

		dump_events(mark);
		destroy_ok(b, g.domain);
		backend_kvm_ops.close(b);
		if (ran) {
			fprintf(stderr, "  KVM runs SSE here: no fault\n");
			return;
		}
		fail_msg("no FAULT for a guest stopped by QEMU");
	}
	event_detail(mark, BACKEND_EVENT_FAULT, g.domain, detail,
	    sizeof(detail));
	fprintf(stderr, "  fault: %s\n", detail);
	assert_non_null(strstr(detail, "emulation failure"));
	assert_true(listed(b, owner, g.domain, &d));
	assert_true(d.running);
	assert_string_equal(d.fault, detail);
	destroy_ok(b, g.domain);

	guest_init(&g, "held", "exit 0");
	g.spec.paused = true;
	mark = event_mark();
	launch_ok(b, &g);
	assert_true(wait_event(mark, BACKEND_EVENT_STARTED, g.domain,
			EVENT_WAIT_MS) > 0);
	sleep_ms(300);
	assert_true(listed(b, owner, g.domain, &d));
	assert_string_equal(d.fault, "");
	event_detail(mark, BACKEND_EVENT_FAULT, g.domain, detail,
	    sizeof(detail));
	assert_string_equal(detail, "");
	destroy_ok(b, g.domain);
	backend_kvm_ops.close(b);
}

/*
 * Opt-in (RR_LIVE_KEEPALIVE=1, ~25 s): a hung libvirtd (SIGSTOP) is
 * noticed by keepalive, and the backend comes back after SIGCONT.
 */
static void
test_keepalive(void **state)
{
	struct backend_config cfg;
	struct backend *b;
	char cmd[128], *pid;
	size_t mark;
	double t0, t;

	(void)state;
	SKIP_IF_NEEDED();
	if (getenv("RR_LIVE_KEEPALIVE") == NULL) {
		fprintf(stderr, "skipped: set RR_LIVE_KEEPALIVE=1 to run\n");
		skip();
	}
	pid = read_all("/run/rumprund-test/libvirtd.pid");
	if (pid == NULL) {
		fprintf(stderr, "skipped: libvirtd not ours\n");
		skip();
		return;
	}
	config_init(&cfg, true);
	b = open_backend(&cfg, 9);
	mark = event_mark();
	snprintf(cmd, sizeof(cmd), "kill -STOP %d", atoi(pid));
	t0 = now();
	run(cmd);
	t = wait_event(mark, BACKEND_EVENT_DISCONNECTED, "", 30000);
	snprintf(cmd, sizeof(cmd), "kill -CONT %d", atoi(pid));
	run(cmd);
	free(pid);
	if (t < 0)
		fail_msg("hung libvirtd not noticed in 30 s");
	fprintf(stderr, "  hung libvirtd: DISCONNECTED after %.1f s\n", t - t0);
	t = wait_event(mark, BACKEND_EVENT_RECONNECTED, "", 10000);
	assert_true(t > 0);
	fprintf(stderr, "  RECONNECTED %.1f s after SIGSTOP\n", t - t0);
	backend_kvm_ops.close(b);
}

/* Domains of another owner, or without our metadata, are not listed. */
static void
test_foreign(void **state)
{
	struct backend_config cfg;
	struct backend *b;
	struct guest g;
	struct rrerr err;
	virConnectPtr c;
	virDomainPtr dom, bare;
	char *xml, *md, *end;

	(void)state;
	SKIP_IF_NEEDED();
	config_init(&cfg, true);
	b = open_backend(&cfg, 4);
	c = virConnectOpen(URI);
	assert_non_null(c);

	/* Our name prefix, another owner in the metadata. */
	guest_init(&g, "foreign", "forever");
	g.launch.owner = "somebody-else";
	xml = kvm_xml_domain(&g.launch, &cfg, &err);
	assert_non_null(xml);
	dom = virDomainCreateXML(c, xml, 0);
	free(xml);
	if (dom == NULL)
		fail_msg("create: %s", virGetLastErrorMessage());

	/* Our name prefix, no metadata at all. */
	guest_init(&g, "bare", "forever");
	xml = kvm_xml_domain(&g.launch, &cfg, &err);
	assert_non_null(xml);
	md = strstr(xml, "  <metadata>");
	end = strstr(xml, "</metadata>\n");
	assert_true(md != NULL && end != NULL);
	if (md != NULL && end != NULL) {
		end += strlen("</metadata>\n");
		memmove(md, end, strlen(end) + 1);
	}
	bare = virDomainCreateXML(c, xml, 0);
	free(xml);
	if (bare == NULL) {
		virDomainDestroy(dom);
		fail_msg("create: %s", virGetLastErrorMessage());
	}

	assert_false(listed(b, owner, virDomainGetName(dom), NULL));
	assert_false(listed(b, owner, virDomainGetName(bare), NULL));
	assert_true(listed(b, "somebody-else", virDomainGetName(dom), NULL));

	assert_int_equal(virDomainDestroy(dom), 0);
	assert_int_equal(virDomainDestroy(bare), 0);
	virDomainFree(dom);
	virDomainFree(bare);
	virConnectClose(c);
	backend_kvm_ops.close(b);
}

/* One launch with domain type 'kvm', reported either way. */
static void
test_kvm_accel(void **state)
{
	struct backend_config cfg;
	struct backend *b;
	struct guest g;
	struct rrerr err;
	size_t mark;
	double t0, t;

	(void)state;
	SKIP_IF_NEEDED();
	config_init(&cfg, true);
	cfg.accel = SPEC_ACCEL_KVM;
	b = open_backend(&cfg, 5);
	guest_init(&g, "kvm", "echo on-kvm exit 4");
	g.spec.accel = SPEC_ACCEL_DEFAULT;
	mark = event_mark();
	t0 = now();
	rrerr_clear(&err);
	if (backend_kvm_ops.launch(b, &g.launch, &err) == -1) {
		fprintf(stderr, "  KVM launch failed: %s: %s\n",
		    rrerr_name(err.code), err.message);
		backend_kvm_ops.close(b);
		return;
	}
	t = wait_event(mark, BACKEND_EVENT_STARTED, g.domain, EVENT_WAIT_MS);
	if (wait_text(g.log, "=== main() of \"rrguest\" returned 4 ===", 5000))
		fprintf(stderr, "  KVM: guest ran, STARTED after %.0f ms\n",
		    (t - t0) * 1000);
	else {
		char *s = read_all(g.log);

		fprintf(stderr, "  KVM: guest did not finish; console:\n%s\n",
		    s != NULL ? s : "(none)");
		free(s);
	}
	destroy_ok(b, g.domain);
	backend_kvm_ops.close(b);
}

/*
 * Latency: create -> STARTED and create -> first console byte, for TCG
 * and KVM, with and without fast_cpu_probe.
 */
static void
test_latency(void **state)
{
	static const struct {
		const char *label;
		enum spec_accel accel;
		bool fast;
	} confs[] = {
		{ "tcg, full cpu probe", SPEC_ACCEL_TCG, false },
		{ "tcg, fast_cpu_probe", SPEC_ACCEL_TCG, true },
		{ "kvm, full cpu probe", SPEC_ACCEL_KVM, false },
		{ "kvm, fast_cpu_probe", SPEC_ACCEL_KVM, true },
	};
	struct backend_config cfg;
	struct guest g;
	struct rrerr err;
	size_t ci, mark;
	int r, runs;
	const char *s;

	(void)state;
	SKIP_IF_NEEDED();
	s = getenv("RR_LIVE_RUNS");
	runs = s != NULL ? atoi(s) : 3;
	if (runs < 1)
		runs = 1;
	fprintf(stderr, "  %-22s %s\n", "configuration",
	    "create->STARTED ms, create->first byte ms (each run)");
	for (ci = 0; ci < sizeof(confs) / sizeof(confs[0]); ci++) {
		double sum_ev = 0, sum_con = 0;
		struct backend *b;
		char line[1024];
		int ok = 0;

		config_init(&cfg, confs[ci].fast);
		cfg.accel = confs[ci].accel;
		b = open_backend(&cfg, 6);
		snprintf(line, sizeof(line), "  %-22s", confs[ci].label);
		for (r = 0; r < runs; r++) {
			double t0, tev, tcon = -1, deadline;
			char name[32];

			snprintf(name, sizeof(name), "lat%zu-%d", ci, r);
			guest_init(&g, name, "exit 0");
			g.spec.accel = SPEC_ACCEL_DEFAULT;
			mark = event_mark();
			rrerr_clear(&err);
			t0 = now();
			if (backend_kvm_ops.launch(b, &g.launch, &err) == -1) {
				snprintf(line + strlen(line),
				    sizeof(line) - strlen(line), " failed: %s",
				    err.message);
				break;
			}
			deadline = t0 + 5;
			while (now() < deadline) {
				if (file_size(g.log) > 0) {
					tcon = now();
					break;
				}
				sleep_ms(1);
			}
			tev = wait_event(mark, BACKEND_EVENT_STARTED, g.domain,
			    EVENT_WAIT_MS);
			destroy_ok(b, g.domain);
			if (tev < 0 || tcon < 0) {
				snprintf(line + strlen(line),
				    sizeof(line) - strlen(line), " (no %s)",
				    tev < 0 ? "event" : "output");
				continue;
			}
			snprintf(line + strlen(line),
			    sizeof(line) - strlen(line), " %4.0f/%4.0f",
			    (tev - t0) * 1000, (tcon - t0) * 1000);
			sum_ev += tev - t0;
			sum_con += tcon - t0;
			ok++;
		}
		if (ok > 0)
			snprintf(line + strlen(line),
			    sizeof(line) - strlen(line), "   mean %.0f/%.0f",
			    sum_ev * 1000 / ok, sum_con * 1000 / ok);
		fprintf(stderr, "%s\n", line);
		backend_kvm_ops.close(b);
		if (confs[ci].accel == SPEC_ACCEL_TCG)
			assert_int_equal(ok, runs);
	}
}

/*
 * libvirtd restarts under a running guest: DISCONNECTED, RECONNECTED,
 * the guest still listed as running, its console still growing.
 */
static void
test_restart(void **state)
{
	struct backend_config cfg;
	struct backend_domain d = { .running = false };
	struct backend *b;
	struct guest g;
	struct rrerr err;
	char cmd[600];
	size_t mark;
	double t0, tdown, tup;
	off_t before, during, after;

	(void)state;
	SKIP_IF_NEEDED();
	if (access("/run/rumprund-test/libvirtd.pid", R_OK) != 0) {
		fprintf(stderr,
		    "skipped: libvirtd was not started by "
		    "scripts/libvirt-up.sh; not restarting it\n");
		skip();
	}
	config_init(&cfg, true);
	b = open_backend(&cfg, 7);
	guest_init(&g, "restart", "tick 100");
	mark = event_mark();
	launch_ok(b, &g);
	assert_true(wait_event(mark, BACKEND_EVENT_STARTED, g.domain,
			EVENT_WAIT_MS) > 0);
	assert_true(wait_text(g.log, "tick 3\n", 5000));

	mark = event_mark();
	before = file_size(g.log);
	t0 = now();
	snprintf(cmd, sizeof(cmd), "%s/scripts/libvirt-down.sh libvirtd",
	    srcdir);
	run(cmd);
	tdown = wait_event(mark, BACKEND_EVENT_DISCONNECTED, "", 5000);
	if (tdown < 0) {
		dump_events(mark);
		fail_msg("no DISCONNECTED");
	}
	fprintf(stderr, "  libvirtd stopped: DISCONNECTED after %.0f ms\n",
	    (tdown - t0) * 1000);
	/* Operations fail cleanly meanwhile. */
	rrerr_clear(&err);
	{
		struct backend_domain *list;
		size_t n;

		if (backend_kvm_ops.list(b, owner, &list, &n, &err) == 0) {
			free(list);
			fprintf(stderr,
			    "  list while down: worked "
			    "(already reconnected?)\n");
		} else {
			fprintf(stderr, "  list while down: %s: %s\n",
			    rrerr_name(err.code), err.message);
			assert_int_equal(err.code, RRERR_UNAVAILABLE);
		}
	}
	sleep_ms(500);
	during = file_size(g.log);

	t0 = now();
	snprintf(cmd, sizeof(cmd), "%s/scripts/libvirt-up.sh >&2", srcdir);
	run(cmd);
	tup = wait_event(mark, BACKEND_EVENT_RECONNECTED, "", 10000);
	if (tup < 0) {
		dump_events(mark);
		fail_msg("no RECONNECTED");
	}
	fprintf(stderr,
	    "  libvirt-up.sh started: RECONNECTED %.0f ms after"
	    " it was run\n",
	    (tup - t0) * 1000);
	assert_true(listed(b, owner, g.domain, &d));
	assert_true(d.running);
	sleep_ms(500);
	after = file_size(g.log);
	fprintf(stderr,
	    "  console: %lld bytes before, %lld while down, "
	    "%lld after\n",
	    (long long)before, (long long)during, (long long)after);
	assert_true(during > before);
	assert_true(after > during);

	/* Events work on the new connection. */
	mark = event_mark();
	t0 = now();
	destroy_ok(b, g.domain);
	tdown = wait_event(mark, BACKEND_EVENT_STOPPED, g.domain,
	    EVENT_WAIT_MS);
	assert_true(tdown > 0);
	fprintf(stderr, "  destroy -> STOPPED after the restart: %.0f ms\n",
	    (tdown - t0) * 1000);
	backend_kvm_ops.close(b);
}

/* open() of an unreachable URI fails with RRERR_UNAVAILABLE. */
static void
test_unreachable(void **state)
{
	struct backend_config cfg;
	struct backend *b;
	struct rrerr err;

	(void)state;
	SKIP_IF_NEEDED();
	config_init(&cfg, true);
	cfg.uri = "qemu+unix:///system?socket=/nonexistent/libvirt-sock";
	rrerr_clear(&err);
	b = backend_kvm_ops.open(&cfg, on_event, NULL, &err);
	assert_null(b);
	assert_int_equal(err.code, RRERR_UNAVAILABLE);
	fprintf(stderr, "  unreachable: %s\n", err.message);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_unreachable),
		cmocka_unit_test(test_lifecycle),
		cmocka_unit_test(test_conflict_missing_paused),
		cmocka_unit_test(test_nics),
		cmocka_unit_test(test_foreign),
		cmocka_unit_test(test_guest_ends),
		cmocka_unit_test(test_kvm_accel),
		cmocka_unit_test(test_fault),
		cmocka_unit_test(test_latency),
		cmocka_unit_test(test_restart),
		cmocka_unit_test(test_keepalive),
	};

	/* RR_LIVE_ONLY=test_fault (a cmocka pattern): only those tests. */
	if (getenv("RR_LIVE_ONLY") != NULL)
		cmocka_set_test_filter(getenv("RR_LIVE_ONLY"));
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
