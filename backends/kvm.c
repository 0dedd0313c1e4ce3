/*
 * kvm: the KVM backend, through libvirt's QEMU driver.
 *
 * Threads: libvirt's event thread (one per process, started by the first
 * open(), stopped by the last close()) delivers lifecycle events to the
 * engine's callback; a reconnect thread per backend reopens a lost
 * connection.  Operations run on the engine's workers, each holding its
 * own reference on the connection.  Rule: no libvirt call but
 * virConnectRef() with b->lock held.  QEMU never gets a path of the
 * request: disks go as descriptors (virDomainFDAssociate), the kernel as
 * a copy in guest_dir that release() removes.
 *
 * ARCHITECTURE.md, "The KVM backend", says how and why; backends/README.md
 * lists the events and errors.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

#include "backend.h"
#include "kvm.h"
#include "kvm_addrs.h"
#include "kvm_xml.h"
#include "paths.h"
#include "guestconf.h"

/* Where QEMU finds the kernels when the daemon does not say. */
#define KVM_GUEST_DIR  "/run/rumprund/guests"
#define KVM_KERNEL_MAX (256ULL << 20)

#define RECONNECT_MS	   100
#define KEEPALIVE_INTERVAL 5
#define KEEPALIVE_COUNT	   3
#define DOMAIN_PREFIX	   BACKEND_DOMAIN_PREFIX
#define WHY_MAX		   400
#define QEMU_LOG_DIR	   "/var/log/libvirt/qemu" /* qemu:///system's */
#define QEMU_LOG_TAIL	   65536 /* bytes of it read for a fault */

struct backend {
	/* Set by open(), read-only afterwards. */
	struct backend_config cfg; /* strings below are our copies */
	char *uri;
	char *owner;
	char *cpu_model;
	char *firmware;
	char *emulator;
	char *guest_dir;
	char prefix[16]; /* "rr-<owner8>-": our domains */

	struct backend_emitter emit; /* the engine's callback */

	pthread_mutex_t lock; /* guards what follows */
	pthread_cond_t cond;  /* wakes the reconnect thread */
	unsigned int refs;    /* open() + one per libvirt callback */
	bool closing;
	virConnectPtr conn; /* NULL while disconnected */
	int lifecycle_id;   /* its lifecycle callback, or -1 */
	virConnectPtr dead; /* closed by libvirtd, to be dropped */
	int dead_lifecycle_id;
	bool lost;	   /* DISCONNECTED not yet emitted */
	char why[WHY_MAX]; /* why there is no connection */
	bool have_thread;
	pthread_t reconnect_thread;
	struct inflight *inflight; /* launches between define and undefine */
};

/* A launch whose domain is defined but maybe not started yet. */
struct inflight {
	const char *name; /* borrowed from the launch */
	struct inflight *next;
};

/* The event thread, shared by every backend of the process. */
static pthread_mutex_t evloop_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t evloop_once = PTHREAD_ONCE_INIT;
static int evloop_init_rc;
static unsigned int evloop_users;
static atomic_bool evloop_quit;
static pthread_t evloop_thread;

static void
silent_error(void *arg, virErrorPtr e)
{
	(void)arg;
	(void)e;
}

/*
 * Once per process: a silent error handler, SIGPIPE ignored unless the
 * program chose a disposition (libvirt writes to its socket with write(),
 * so a libvirtd that goes away mid-call would otherwise kill the daemon),
 * and libvirt's default event loop.
 */
static void
evloop_init(void)
{
	struct sigaction sa;

	virSetErrorFunc(NULL, silent_error);
	if (sigaction(SIGPIPE, NULL, &sa) == 0 && sa.sa_handler == SIG_DFL) {
		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = SIG_IGN;
		sigemptyset(&sa.sa_mask);
		sigaction(SIGPIPE, &sa, NULL);
	}
	evloop_init_rc = virEventRegisterDefaultImpl();
}

static void *
evloop_main(void *arg)
{
	(void)arg;
	while (!atomic_load(&evloop_quit)) {
		if (virEventRunDefaultImpl() < 0) {
			struct timespec ts = { 0, 10 * 1000 * 1000 };

			nanosleep(&ts, NULL);
		}
	}
	return NULL;
}

/* A 0 ms timeout that removes itself: wakes the loop once. */
static void
evloop_wake(int timer, void *arg)
{
	(void)arg;
	virEventRemoveTimeout(timer);
}

static int
evloop_acquire(struct rrerr *err)
{
	int rc = -1;

	pthread_once(&evloop_once, evloop_init);
	if (evloop_init_rc < 0)
		return rrerr_set(err, RRERR_UNAVAILABLE, NULL,
		    "cannot set up libvirt's event loop: %s",
		    virGetLastErrorMessage());
	pthread_mutex_lock(&evloop_lock);
	if (evloop_users == 0) {
		atomic_store(&evloop_quit, false);
		if (pthread_create(&evloop_thread, NULL, evloop_main, NULL) !=
		    0) {
			rrerr_set(err, RRERR_INTERNAL, NULL,
			    "cannot start libvirt's event thread: %s",
			    strerror(errno));
			goto cleanup;
		}
	}
	evloop_users++;
	rc = 0;
cleanup:
	pthread_mutex_unlock(&evloop_lock);
	return rc;
}

static void
evloop_release(void)
{
	pthread_mutex_lock(&evloop_lock);
	if (evloop_users == 1) {
		atomic_store(&evloop_quit, true);
		if (virEventAddTimeout(0, evloop_wake, NULL, NULL) < 0) {
			/* Cannot wake it: leave it running (harmless). */
			atomic_store(&evloop_quit, false);
			virResetLastError();
			goto cleanup;
		}
		pthread_join(evloop_thread, NULL);
	}
	evloop_users--;
cleanup:
	pthread_mutex_unlock(&evloop_lock);
}

/* References on struct backend. */

static void
backend_ref(struct backend *b)
{
	pthread_mutex_lock(&b->lock);
	b->refs++;
	pthread_mutex_unlock(&b->lock);
}

static void
backend_unref(void *arg)
{
	struct backend *b = arg;
	bool last;

	pthread_mutex_lock(&b->lock);
	last = --b->refs == 0;
	pthread_mutex_unlock(&b->lock);
	if (!last)
		return;
	pthread_cond_destroy(&b->cond);
	pthread_mutex_destroy(&b->lock);
	backend_emitter_destroy(&b->emit);
	free(b->uri);
	free(b->owner);
	free(b->cpu_model);
	free(b->firmware);
	free(b->emulator);
	free(b->guest_dir);
	free(b);
}

/*
 * Drop a reference that cannot be the last one: the one taken for a
 * libvirt callback whose registration failed (libvirt does not call the
 * free callback then) while the caller holds its own.
 */
static void
backend_unref_not_last(struct backend *b)
{
	pthread_mutex_lock(&b->lock);
	b->refs--;
	pthread_mutex_unlock(&b->lock);
}

/*
 * Guests QEMU stopped for good.  On a KVM internal error (on this kind of
 * host, a software KVM that cannot emulate an instruction, e.g. the first
 * SSE instruction of a rumprun image) QEMU prints "KVM internal error.
 * Suberror: 1" and "emulation failure" to its log and stops the guest
 * (runstate internal-error); libvirt 9.0 reports only SUSPENDED/PAUSED,
 * and the domain stays, paused with reason "unknown" (measured).  A triple
 * fault under such a KVM ends the same way.  Every pause of rumprund's (a
 * launch with spec.paused, pause()) and virsh suspend leave reason "user",
 * so paused with reason unknown, or crashed, is such a guest; paused with
 * reason "user" is a pause (BACKEND_EVENT_PAUSED, backend_domain.paused).
 */
static bool
system_uri(const char *uri)
{
	return uri == NULL || strcmp(uri, "qemu:///system") == 0 ||
	    strncmp(uri, "qemu:///system?", 15) == 0 ||
	    strcmp(uri, "qemu+unix:///system") == 0;
}

/*
 * QEMU's words about domain name's internal error, from the part of its
 * log (libvirt's, on qemu:///system) since its last start, into buf: true
 * when the log says so.
 */
static bool
qemu_log_error(const char *uri, const char *name, char *buf, size_t size)
{
	char path[512], *tail = NULL, *from, *p, *q;
	struct stat st;
	off_t off;
	ssize_t n;
	int fd = -1, sub = -1;
	bool emul, found = false;

	if (!system_uri(uri) || strchr(name, '/') != NULL)
		return false;
	snprintf(path, sizeof(path), "%s/%s.log", QEMU_LOG_DIR, name);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) == -1 ||
	    fstat(fd, &st) == -1 || (tail = malloc(QEMU_LOG_TAIL + 1)) == NULL)
		goto cleanup;
	off = st.st_size > QEMU_LOG_TAIL ? st.st_size - QEMU_LOG_TAIL : 0;
	if ((n = pread(fd, tail, QEMU_LOG_TAIL, off)) <= 0)
		goto cleanup;
	tail[n] = '\0';
	/* Skip NULs, so that the string functions see the whole tail. */
	for (p = tail; p < tail + n; p++)
		if (*p == '\0')
			*p = ' ';
	/* libvirt writes "... starting up libvirt version ..." per start. */
	for (from = tail; (p = strstr(from, "starting up")) != NULL;
	     from = p + 1)
		;
	if ((q = strstr(from, "KVM internal error")) == NULL)
		goto cleanup;
	if ((p = strstr(q, "Suberror: ")) != NULL)
		sub = atoi(p + 10);
	emul = strstr(q, "emulation failure") != NULL;
	if (emul)
		snprintf(buf, size,
		    "the hypervisor stopped the guest: KVM "
		    "internal error (suberror %d: emulation failure): this "
		    "host's KVM could not run an instruction of the guest; try "
		    "accel tcg",
		    sub);
	else if (sub >= 0)
		snprintf(buf, size,
		    "the hypervisor stopped the guest: KVM "
		    "internal error (suberror %d)",
		    sub);
	else
		snprintf(buf, size,
		    "the hypervisor stopped the guest: KVM internal error");
	found = true;
cleanup:
	if (fd != -1)
		close(fd);
	free(tail);
	return found;
}

/*
 * Whether a domain in libvirt state and reason is a guest QEMU stopped for
 * good; if so, the reason for the user into buf.
 */
static bool
stopped_for_good(struct backend *b, const char *name, int state, int reason,
    char *buf, size_t size)
{
	if (state != VIR_DOMAIN_PAUSED ||
	    (reason != VIR_DOMAIN_PAUSED_UNKNOWN &&
		reason != VIR_DOMAIN_PAUSED_CRASHED))
		return false;
	if (qemu_log_error(b->uri, name, buf, size))
		return true;
	snprintf(buf, size,
	    "the hypervisor stopped the guest (libvirt: paused, reason %s)",
	    reason == VIR_DOMAIN_PAUSED_CRASHED ? "crashed" : "unknown");
	return true;
}

/* libvirt callbacks. */

static const char *
stopped_detail(int detail)
{
	switch (detail) {
	case VIR_DOMAIN_EVENT_STOPPED_SHUTDOWN:
		return "shutdown";
	case VIR_DOMAIN_EVENT_STOPPED_DESTROYED:
		return "destroyed";
	case VIR_DOMAIN_EVENT_STOPPED_CRASHED:
		return "crashed";
	case VIR_DOMAIN_EVENT_STOPPED_MIGRATED:
		return "migrated";
	case VIR_DOMAIN_EVENT_STOPPED_SAVED:
		return "saved";
	case VIR_DOMAIN_EVENT_STOPPED_FAILED:
		return "failed";
	case VIR_DOMAIN_EVENT_STOPPED_FROM_SNAPSHOT:
		return "from snapshot";
	default:
		return "unknown";
	}
}

/*
 * Lifecycle events: STARTED -> STARTED; STOPPED: DESTROYED -> STOPPED,
 * SHUTDOWN -> SHUTDOWN, FAILED or CRASHED -> CRASHED, the rest (migrated,
 * saved, from snapshot) -> STOPPED; CRASHED (a guest panic) -> CRASHED;
 * SUSPENDED of a guest QEMU stopped for good (see stopped_for_good(): its
 * state is read back, from this thread, which libvirt allows in a
 * callback) -> FAULT; SUSPENDED of a domain then paused with reason
 * "user" (a pause: rumprund's, or virsh suspend) -> PAUSED; RESUMED of a
 * domain then running -> RESUMED.  Other suspends (migration, snapshot:
 * transient), shutdown-requested, define and undefine events are not
 * reported: the engine's states do not change with them.
 */
static int
lifecycle_cb(virConnectPtr conn, virDomainPtr dom, int event, int detail,
    void *arg)
{
	struct backend *b = arg;
	const char *name;
	char text[256];
	int state, reason;

	(void)conn;
	name = virDomainGetName(dom);
	if (!backend_domain_has_prefix(name, b->prefix))
		return 0;
	switch (event) {
	case VIR_DOMAIN_EVENT_STARTED:
		snprintf(text, sizeof(text), "started (%d)", detail);
		backend_emit(&b->emit, BACKEND_EVENT_STARTED, name, text);
		break;
	case VIR_DOMAIN_EVENT_STOPPED:
		snprintf(text, sizeof(text), "stopped: %s",
		    stopped_detail(detail));
		switch (detail) {
		case VIR_DOMAIN_EVENT_STOPPED_SHUTDOWN:
			backend_emit(&b->emit, BACKEND_EVENT_SHUTDOWN, name,
			    text);
			break;
		case VIR_DOMAIN_EVENT_STOPPED_FAILED:
		case VIR_DOMAIN_EVENT_STOPPED_CRASHED:
			backend_emit(&b->emit, BACKEND_EVENT_CRASHED, name,
			    text);
			break;
		default:
			backend_emit(&b->emit, BACKEND_EVENT_STOPPED, name,
			    text);
			break;
		}
		break;
	case VIR_DOMAIN_EVENT_SUSPENDED:
		if (virDomainGetState(dom, &state, &reason, 0) < 0) {
			virResetLastError();
			break;
		}
		if (stopped_for_good(b, name, state, reason, text,
			sizeof(text)))
			backend_emit(&b->emit, BACKEND_EVENT_FAULT, name, text);
		else if (state == VIR_DOMAIN_PAUSED &&
		    reason == VIR_DOMAIN_PAUSED_USER)
			backend_emit(&b->emit, BACKEND_EVENT_PAUSED, name,
			    "suspended: paused");
		break;
	case VIR_DOMAIN_EVENT_RESUMED:
		if (virDomainGetState(dom, &state, &reason, 0) < 0) {
			virResetLastError();
			break;
		}
		if (state == VIR_DOMAIN_RUNNING)
			backend_emit(&b->emit, BACKEND_EVENT_RESUMED, name,
			    "resumed");
		break;
	case VIR_DOMAIN_EVENT_CRASHED:
		snprintf(text, sizeof(text), "crashed: %s",
		    detail == VIR_DOMAIN_EVENT_CRASHED_PANICKED ?
			"panicked" :
			"crashloaded");
		backend_emit(&b->emit, BACKEND_EVENT_CRASHED, name, text);
		break;
	default:
		break;
	}
	return 0;
}

static const char *
close_reason(int reason)
{
	switch (reason) {
	case VIR_CONNECT_CLOSE_REASON_ERROR:
		return "connection error";
	case VIR_CONNECT_CLOSE_REASON_EOF:
		return "libvirtd closed the connection";
	case VIR_CONNECT_CLOSE_REASON_KEEPALIVE:
		return "libvirtd stopped answering keepalives";
	case VIR_CONNECT_CLOSE_REASON_CLIENT:
		return "connection closed";
	default:
		return "connection lost";
	}
}

/* Move conn, if it is ours, to b->dead and wake the reconnect thread. */
static void
mark_lost(struct backend *b, virConnectPtr conn, const char *why)
{
	pthread_mutex_lock(&b->lock);
	if (b->conn == conn && conn != NULL) {
		b->dead = b->conn;
		b->dead_lifecycle_id = b->lifecycle_id;
		b->conn = NULL;
		b->lifecycle_id = -1;
		b->lost = true;
		snprintf(b->why, sizeof(b->why), "%s", why);
		pthread_cond_broadcast(&b->cond);
	}
	pthread_mutex_unlock(&b->lock);
}

/*
 * Called by libvirt with its close-callback object locked: only record;
 * touching the connection here would deadlock.
 */
static void
close_cb(virConnectPtr conn, int reason, void *arg)
{
	mark_lost(arg, conn, close_reason(reason));
}

/* Connections. */

/* Deregister our callbacks on c and drop our reference to it. */
static void
disconnect(struct backend *b, virConnectPtr c, int lifecycle_id)
{
	(void)b;
	if (c == NULL)
		return;
	if (lifecycle_id >= 0)
		virConnectDomainEventDeregisterAny(c, lifecycle_id);
	virConnectUnregisterCloseCallback(c, close_cb);
	virResetLastError();
	virConnectClose(c);
}

/*
 * Open the connection and register our callbacks.  Returns it (our
 * reference) and its lifecycle callback id in *id, or NULL with why
 * (WHY_MAX bytes) saying what failed.
 */
static virConnectPtr
connect_libvirt(struct backend *b, int *id, char *why)
{
	virConnectPtr c;

	*id = -1;
	c = virConnectOpen(b->uri);
	if (c == NULL) {
		snprintf(why, WHY_MAX, "%s", virGetLastErrorMessage());
		virResetLastError();
		return NULL;
	}
	/* Not every driver has keepalive (test:///); that is fine. */
	if (virConnectSetKeepAlive(c, KEEPALIVE_INTERVAL, KEEPALIVE_COUNT) < 0)
		virResetLastError();

	backend_ref(b);
	*id = virConnectDomainEventRegisterAny(c, NULL,
	    VIR_DOMAIN_EVENT_ID_LIFECYCLE,
	    VIR_DOMAIN_EVENT_CALLBACK(lifecycle_cb), b, backend_unref);
	if (*id < 0) {
		backend_unref_not_last(b);
		snprintf(why, WHY_MAX,
		    "cannot register for libvirt's domain events: %s",
		    virGetLastErrorMessage());
		goto fail;
	}
	backend_ref(b);
	if (virConnectRegisterCloseCallback(c, close_cb, b, backend_unref) <
	    0) {
		backend_unref_not_last(b);
		snprintf(why, WHY_MAX,
		    "cannot register libvirt's close callback: %s",
		    virGetLastErrorMessage());
		goto fail;
	}
	return c;
fail:
	virResetLastError();
	if (*id >= 0)
		virConnectDomainEventDeregisterAny(c, *id);
	*id = -1;
	virResetLastError();
	virConnectClose(c);
	return NULL;
}

/*
 * Make c the connection, unless close() began.  A connection that died
 * before its close callback was registered would never report it, so
 * check it is alive afterwards.  Returns false (and drops c) on close.
 */
static bool
install(struct backend *b, virConnectPtr c, int id)
{
	pthread_mutex_lock(&b->lock);
	if (b->closing) {
		pthread_mutex_unlock(&b->lock);
		disconnect(b, c, id);
		return false;
	}
	b->conn = c;
	b->lifecycle_id = id;
	b->why[0] = '\0';
	pthread_mutex_unlock(&b->lock);
	if (virConnectIsAlive(c) != 1) {
		virResetLastError();
		mark_lost(b, c, "connection closed at once");
	}
	return true;
}

static void
sleep_locked(struct backend *b, unsigned int ms)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_nsec += (long)ms * 1000000L;
	ts.tv_sec += ts.tv_nsec / 1000000000L;
	ts.tv_nsec %= 1000000000L;
	pthread_cond_timedwait(&b->cond, &b->lock, &ts);
}

static void *
reconnect_main(void *arg)
{
	struct backend *b = arg;
	virConnectPtr c;
	int id;
	char why[WHY_MAX];

	pthread_mutex_lock(&b->lock);
	for (;;) {
		virConnectPtr dead;
		int dead_id;

		while (!b->closing && b->conn != NULL && b->dead == NULL &&
		    !b->lost)
			pthread_cond_wait(&b->cond, &b->lock);
		if (b->closing)
			break;
		dead = b->dead;
		dead_id = b->dead_lifecycle_id;
		b->dead = NULL;
		b->dead_lifecycle_id = -1;
		if (b->lost) {
			b->lost = false;
			snprintf(why, sizeof(why), "%s", b->why);
			pthread_mutex_unlock(&b->lock);
			backend_emit(&b->emit, BACKEND_EVENT_DISCONNECTED, NULL,
			    why);
			pthread_mutex_lock(&b->lock);
		}
		if (dead != NULL) {
			pthread_mutex_unlock(&b->lock);
			disconnect(b, dead, dead_id);
			pthread_mutex_lock(&b->lock);
		}
		if (b->closing)
			break;
		if (b->conn != NULL)
			continue;

		pthread_mutex_unlock(&b->lock);
		c = connect_libvirt(b, &id, why);
		if (c == NULL) {
			pthread_mutex_lock(&b->lock);
			memcpy(b->why, why, sizeof(b->why));
			if (!b->closing)
				sleep_locked(b, RECONNECT_MS);
			continue;
		}
		if (!install(b, c, id)) {
			pthread_mutex_lock(&b->lock);
			break;
		}
		backend_emit(&b->emit, BACKEND_EVENT_RECONNECTED, NULL, b->uri);
		pthread_mutex_lock(&b->lock);
	}
	pthread_mutex_unlock(&b->lock);
	return NULL;
}

/*
 * The current connection with a reference for the caller (drop it with
 * virConnectClose()), or NULL with err RRERR_UNAVAILABLE.
 */
static virConnectPtr
conn_get(struct backend *b, struct rrerr *err)
{
	virConnectPtr c;
	char why[WHY_MAX];

	pthread_mutex_lock(&b->lock);
	c = b->conn;
	if (c != NULL)
		virConnectRef(c);
	snprintf(why, sizeof(why), "%s",
	    b->why[0] != '\0' ? b->why :
				"the connection is being re-established");
	pthread_mutex_unlock(&b->lock);
	if (c == NULL)
		rrerr_set(err, RRERR_UNAVAILABLE, NULL,
		    "libvirt is not reachable: %s", why);
	return c;
}

/*
 * libvirt's last error is per thread and every libvirt call resets it:
 * take a copy right after the failed call, before calling libvirt again.
 */
struct verr {
	int code;
	char msg[WHY_MAX];
};

static void
take_error(struct verr *e)
{
	virErrorPtr le = virGetLastError();

	e->code = le != NULL ? le->code : VIR_ERR_OK;
	snprintf(e->msg, sizeof(e->msg), "%s",
	    le != NULL && le->message != NULL ? le->message :
						"unknown libvirt error");
	virResetLastError();
}

/*
 * Fill err from e, the error of a failed call on c; what says what failed.
 * A dead connection or an RPC failure is RRERR_UNAVAILABLE, anything else
 * RRERR_INTERNAL.  Returns -1.
 */
static int
libvirt_error(virConnectPtr c, const char *what, const struct verr *e,
    struct rrerr *err)
{
	if (e->code == VIR_ERR_NO_CONNECT || e->code == VIR_ERR_RPC ||
	    e->code == VIR_ERR_AUTH_FAILED || virConnectIsAlive(c) != 1)
		rrerr_set(err, RRERR_UNAVAILABLE, NULL,
		    "libvirt is not reachable: %s: %s", what, e->msg);
	else
		rrerr_set(err, RRERR_INTERNAL, NULL, "%s: %s", what, e->msg);
	virResetLastError();
	return -1;
}

/* The open() entry. */

static char *
dup_or_null(const char *s, bool *failed)
{
	char *d;

	if (s == NULL)
		return NULL;
	d = strdup(s);
	if (d == NULL)
		*failed = true;
	return d;
}

static struct backend *
kvm_open(const struct backend_config *cfg, backend_event_fn *cb, void *cb_arg,
    struct rrerr *err)
{
	struct backend *b;
	virConnectPtr c;
	bool failed = false;
	char why[WHY_MAX];
	int id;

	b = calloc(1, sizeof(*b));
	if (b == NULL) {
		rrerr_set(err, RRERR_INTERNAL, NULL, "out of memory");
		return NULL;
	}
	pthread_mutex_init(&b->lock, NULL);
	pthread_cond_init(&b->cond, NULL);
	b->refs = 1;
	b->lifecycle_id = -1;
	b->dead_lifecycle_id = -1;
	backend_emitter_init(&b->emit, cb, cb_arg);
	b->cfg = *cfg;
	b->uri = dup_or_null(cfg->uri != NULL ? cfg->uri : "qemu:///system",
	    &failed);
	b->owner = dup_or_null(cfg->owner != NULL ? cfg->owner : "", &failed);
	b->cpu_model = dup_or_null(cfg->cpu_model, &failed);
	b->firmware = dup_or_null(cfg->firmware, &failed);
	b->emulator = dup_or_null(cfg->emulator, &failed);
	b->guest_dir = dup_or_null(cfg->guest_dir != NULL ? cfg->guest_dir :
							    KVM_GUEST_DIR,
	    &failed);
	b->cfg.uri = b->uri;
	b->cfg.owner = b->owner;
	b->cfg.cpu_model = b->cpu_model;
	b->cfg.firmware = b->firmware;
	b->cfg.emulator = b->emulator;
	b->cfg.guest_dir = b->guest_dir;
	if (failed) {
		rrerr_set(err, RRERR_INTERNAL, NULL, "out of memory");
		backend_unref(b);
		return NULL;
	}
	if (b->owner[0] != '\0')
		backend_domain_prefix(b->owner, b->prefix, sizeof(b->prefix));
	else
		snprintf(b->prefix, sizeof(b->prefix), DOMAIN_PREFIX);

	if (evloop_acquire(err) == -1) {
		backend_unref(b);
		return NULL;
	}
	c = connect_libvirt(b, &id, why);
	if (c == NULL) {
		rrerr_set(err, RRERR_UNAVAILABLE, NULL,
		    "libvirt is not reachable: %s", why);
		evloop_release();
		backend_unref(b);
		return NULL;
	}
	install(b, c, id);
	if (pthread_create(&b->reconnect_thread, NULL, reconnect_main, b) !=
	    0) {
		rrerr_set(err, RRERR_INTERNAL, NULL,
		    "cannot start the reconnect thread: %s", strerror(errno));
		pthread_mutex_lock(&b->lock);
		b->closing = true;
		c = b->conn;
		id = b->lifecycle_id;
		b->conn = NULL;
		pthread_mutex_unlock(&b->lock);
		disconnect(b, c, id);
		evloop_release();
		backend_unref(b);
		return NULL;
	}
	b->have_thread = true;
	return b;
}

static void
kvm_close(struct backend *b)
{
	virConnectPtr c, dead;
	int id, dead_id;

	if (b == NULL)
		return;
	backend_emitter_close(&b->emit);

	pthread_mutex_lock(&b->lock);
	b->closing = true;
	pthread_cond_broadcast(&b->cond);
	pthread_mutex_unlock(&b->lock);
	if (b->have_thread)
		pthread_join(b->reconnect_thread, NULL);

	pthread_mutex_lock(&b->lock);
	c = b->conn;
	id = b->lifecycle_id;
	dead = b->dead;
	dead_id = b->dead_lifecycle_id;
	b->conn = NULL;
	b->dead = NULL;
	pthread_mutex_unlock(&b->lock);
	disconnect(b, c, id);
	disconnect(b, dead, dead_id);
	evloop_release();
	backend_unref(b);
}

/* Operations. */

static bool
local_uri(const struct backend *b)
{
	return strncmp(b->uri, "qemu:///", 8) == 0;
}

/*
 * Say whose fault a failed virDomainCreateXML() is, as far as we can tell
 * for sure: a name in use is a conflict; a libvirt network, bridge or tap
 * name that the request gave and that is missing or busy on this host is
 * the request's; everything else is the host's.  Returns -1.
 */
static int
launch_error(struct backend *b, virConnectPtr c, const struct backend_launch *l,
    struct rrerr *err)
{
	const struct spec *spec = l->spec;
	struct verr e;
	const char *msg = e.msg;
	int code;
	char field[64];
	size_t i;

	take_error(&e);
	code = e.code;

	if (code == VIR_ERR_DOM_EXIST ||
	    (code == VIR_ERR_OPERATION_FAILED &&
		strstr(msg, "already exists") != NULL)) {
		rrerr_set(err, RRERR_CONFLICT, NULL,
		    "a domain named %s already exists", l->domain_name);
		goto done;
	}
	for (i = 0; i < spec->nnics; i++) {
		const struct spec_nic *nic = &spec->nics[i];
		const char *name = nic->backend_name;

		if (name == NULL)
			continue;
		snprintf(field, sizeof(field), "nics[%zu].backend.name", i);
		if (nic->type == SPEC_NIC_NETWORK &&
		    code == VIR_ERR_NO_NETWORK && strstr(msg, name) != NULL) {
			rrerr_set(err, RRERR_INVALID, field,
			    "libvirt has no network '%s'", name);
			goto done;
		}
		if (!local_uri(b) || strstr(msg, name) == NULL)
			continue;
		if (nic->type == SPEC_NIC_BRIDGE &&
		    !backend_netdev_exists(name, NULL)) {
			rrerr_set(err, RRERR_INVALID, field,
			    "bridge '%s' does not exist on this host", name);
			goto done;
		}
		if (nic->type == SPEC_NIC_BRIDGE &&
		    !backend_netdev_exists(name, "bridge")) {
			rrerr_set(err, RRERR_INVALID, field,
			    "'%s' is not a bridge", name);
			goto done;
		}
		if (nic->type == SPEC_NIC_TAP &&
		    backend_netdev_exists(name, NULL)) {
			rrerr_set(err, RRERR_CONFLICT, field,
			    "network device '%s' is in use: %s", name, msg);
			goto done;
		}
	}
	if (code == VIR_ERR_CONFIG_UNSUPPORTED && strstr(msg, "KVM") != NULL) {
		rrerr_set(err, RRERR_UNAVAILABLE, "accel",
		    "KVM is not available on this host: %s", msg);
		goto done;
	}
	return libvirt_error(c, "libvirt could not start the domain", &e, err);
done:
	return -1;
}

/*
 * Make dir (mode) if missing and check that it is a directory of ours that
 * nobody else can change: not a symlink, owned by our user, not writable
 * by group or others.  Returns an O_PATH descriptor of it, or -1 with err.
 */
static int
own_dir(const char *dir, mode_t mode, struct rrerr *err)
{
	struct stat st;
	int fd;

	if (mkdir(dir, mode) == -1 && errno != EEXIST)
		return rrerr_set(err, RRERR_UNAVAILABLE, NULL,
		    "cannot make %s (for the kernels QEMU boots): %s", dir,
		    strerror(errno));
	fd = open(dir, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd == -1)
		return rrerr_set(err, RRERR_UNAVAILABLE, NULL,
		    "%s (for the kernels QEMU boots): %s", dir,
		    strerror(errno));
	if (fstat(fd, &st) == -1 || st.st_uid != geteuid() ||
	    (st.st_mode & 022) != 0) {
		close(fd);
		return rrerr_set(err, RRERR_UNAVAILABLE, NULL,
		    "%s (for the "
		    "kernels QEMU boots) is not rumprund's own directory: it "
		    "must belong to uid %u and be writable by nobody else",
		    dir, (unsigned int)geteuid());
	}
	return fd;
}

/* dir and its parent, checked: an O_PATH descriptor of dir, or -1. */
static int
guest_dir(const char *dir, struct rrerr *err)
{
	char parent[4096], *slash;
	int fd;

	snprintf(parent, sizeof(parent), "%s", dir);
	slash = strrchr(parent, '/');
	if (slash != NULL && slash != parent) {
		*slash = '\0';
		if ((fd = own_dir(parent, 0755, err)) == -1)
			return -1;
		close(fd);
	}
	return own_dir(dir, 0711, err);
}

/*
 * Copy the kernel (l->image_fd) to b->guest_dir/DOMAIN.kernel; its path
 * into path.  Returns 0, or -1 with err and nothing left behind.
 */
static int
stage_kernel(struct backend *b, const struct backend_launch *l, char *path,
    size_t size, struct rrerr *err)
{
	struct stat st;
	char name[BACKEND_DOMAIN_NAME_MAX + 8];
	int dfd, out, rv = -1;

	if (l->image_fd < 0 || fstat(l->image_fd, &st) == -1 ||
	    !S_ISREG(st.st_mode))
		return rrerr_set(err, RRERR_INTERNAL, "image",
		    "image: no checked file to boot");
	if ((uint64_t)st.st_size > KVM_KERNEL_MAX)
		return rrerr_set(err, RRERR_INVALID, "image",
		    "image: %s is %llu MiB; a kernel is at most %llu MiB",
		    l->spec->image, (unsigned long long)st.st_size >> 20,
		    (unsigned long long)KVM_KERNEL_MAX >> 20);
	snprintf(name, sizeof(name), "%s.kernel", l->domain_name);
	if ((size_t)snprintf(path, size, "%s/%s", b->guest_dir, name) >= size)
		return rrerr_set(err, RRERR_INTERNAL, NULL, "%s: too long",
		    b->guest_dir);
	if ((dfd = guest_dir(b->guest_dir, err)) == -1)
		return -1;
	/* A copy left by a rumprund that died: ours, replace it. */
	(void)unlinkat(dfd, name, 0);
	out = openat(dfd, name,
	    O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (out == -1) {
		rrerr_set(err, RRERR_UNAVAILABLE, NULL, "%s: %s", path,
		    strerror(errno));
		goto cleanup;
	}
	if (fchmod(out, 0644) == -1 ||
	    paths_copy(l->image_fd, out, (uint64_t)st.st_size, NULL) == -1) {
		rrerr_set(err,
		    errno == ENOSPC ? RRERR_UNAVAILABLE : RRERR_INTERNAL, NULL,
		    "copying the kernel to %s: %s", path, strerror(errno));
		close(out);
		(void)unlinkat(dfd, name, 0);
		goto cleanup;
	}
	if (close(out) == -1) {
		rrerr_set(err, RRERR_INTERNAL, NULL, "%s: %s", path,
		    strerror(errno));
		(void)unlinkat(dfd, name, 0);
		goto cleanup;
	}
	rv = 0;
cleanup:
	close(dfd);
	return rv;
}

/* Remove b->guest_dir/DOMAIN.kernel (a missing one is fine). */
static void
unstage_kernel(struct backend *b, const char *domain_name)
{
	char name[BACKEND_DOMAIN_NAME_MAX + 8];
	int dfd;

	dfd = open(b->guest_dir, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dfd == -1)
		return;
	snprintf(name, sizeof(name), "%s.kernel", domain_name);
	(void)unlinkat(dfd, name, 0);
	close(dfd);
}

static void
kvm_release(struct backend *b, const char *domain_name)
{
	unstage_kernel(b, domain_name);
}

/*
 * Define the domain, give it the disks' descriptors, start it and make it
 * transient again (see "Files" above).  Returns 0, or -1 with err and no
 * domain left defined.
 */
static int
define_and_start(struct backend *b, virConnectPtr c,
    const struct backend_launch *l, const char *xml, struct rrerr *err)
{
	struct inflight *me, **pp;
	virDomainPtr dom;
	struct verr e;
	char group[32];
	size_t i;
	int fd, rc = -1;

	if ((me = malloc(sizeof(*me))) == NULL)
		return rrerr_set(err, RRERR_INTERNAL, NULL, "out of memory");
	me->name = l->domain_name;
	pthread_mutex_lock(&b->lock);
	me->next = b->inflight;
	b->inflight = me;
	pthread_mutex_unlock(&b->lock);
	dom = virDomainDefineXML(c, xml);
	if (dom == NULL) {
		launch_error(b, c, l, err);
		goto done;
	}
	for (i = 0; i < l->spec->nblk; i++) {
		snprintf(group, sizeof(group), KVM_XML_FDGROUP "%zu", i);
		fd = l->blk_fds != NULL ? l->blk_fds[i] : -1;
		if (fd < 0) {
			rrerr_set(err, RRERR_INTERNAL, NULL,
			    "blk[%zu]: no checked file to attach", i);
			goto cleanup;
		}
		if (virDomainFDAssociate(dom, group, 1, &fd, 0) < 0) {
			take_error(&e);
			libvirt_error(c,
			    "libvirt did not take a disk's descriptor", &e,
			    err);
			goto cleanup;
		}
	}
	if (virDomainCreateWithFlags(dom,
		l->spec->paused ? VIR_DOMAIN_START_PAUSED : 0) < 0) {
		launch_error(b, c, l, err);
		goto cleanup;
	}
	rc = 0;
cleanup:
	/* Transient from now on; list() undefines one this missed. */
	if (virDomainUndefine(dom) < 0)
		virResetLastError();
	virDomainFree(dom);
done:
	pthread_mutex_lock(&b->lock);
	for (pp = &b->inflight; *pp != NULL; pp = &(*pp)->next)
		if (*pp == me) {
			*pp = me->next;
			break;
		}
	pthread_mutex_unlock(&b->lock);
	free(me);
	return rc;
}

/*
 * Start a domain with no disks: one virDomainCreateXML, as before issue
 * 13; no descriptor to hand over, so define and undefine would be two
 * more libvirt calls (~3.6 ms here, and libvirtd writing, fsyncing and
 * removing a persistent config of the domain) for nothing (bench/README.md,
 * 2026-12-02).  Returns 0, or -1 with err and no domain.
 */
static int
create_transient(struct backend *b, virConnectPtr c,
    const struct backend_launch *l, const char *xml, struct rrerr *err)
{
	virDomainPtr dom;

	dom = virDomainCreateXML(c, xml,
	    l->spec->paused ? VIR_DOMAIN_START_PAUSED : 0);
	if (dom == NULL) {
		launch_error(b, c, l, err);
		return -1;
	}
	virDomainFree(dom);
	return 0;
}

/* True when a launch of this process is defining name right now. */
static bool
launching(struct backend *b, const char *name)
{
	struct inflight *f;
	bool yes = false;

	pthread_mutex_lock(&b->lock);
	for (f = b->inflight; f != NULL && !yes; f = f->next)
		yes = strcmp(f->name, name) == 0;
	pthread_mutex_unlock(&b->lock);
	return yes;
}

/*
 * A domain of ours that is defined (see "Files"): make it transient again.
 * Returns true when it is to be reported, false when it is shut off (then
 * undefined, unless a launch of ours is defining it now).
 */
static bool
keep_listed(struct backend *b, virDomainPtr dom, const char *name, bool running)
{
	if (virDomainIsPersistent(dom) != 1) {
		virResetLastError();
		return true;
	}
	if (!running && launching(b, name))
		return false;
	if (virDomainUndefine(dom) < 0)
		virResetLastError();
	return running;
}

static int
kvm_launch(struct backend *b, const struct backend_launch *l, struct rrerr *err)
{
	struct kvm_xml_files files;
	virConnectPtr c = NULL;
	char kernel[4096 + BACKEND_DOMAIN_NAME_MAX + 16];
	char *xml = NULL;
	size_t len;
	int rc = -1;

	if (stage_kernel(b, l, kernel, sizeof(kernel), err) == -1)
		return -1;
	len = strlen(kernel) + 1 +
	    (l->guest_config != NULL ? strlen(l->guest_config) : 0);
	if (len >= GUESTCONF_KVM_CMDLINE_MAX) {
		rrerr_set(err, RRERR_INVALID, NULL,
		    "the guest configuration "
		    "with the kernel path QEMU puts before it (%s) is %zu "
		    "bytes; the guest takes at most %d",
		    kernel, len, GUESTCONF_KVM_CMDLINE_MAX - 1);
		goto cleanup;
	}
	files.kernel = kernel;
	files.dir = b->guest_dir;
	xml = kvm_xml_domain_files(l, &b->cfg, &files, err);
	if (xml == NULL)
		goto cleanup;
	c = conn_get(b, err);
	if (c == NULL)
		goto cleanup;
	if (l->spec->nblk > 0)
		rc = define_and_start(b, c, l, xml, err);
	else
		rc = create_transient(b, c, l, xml, err);
cleanup:
	if (rc == -1)
		unstage_kernel(b, l->domain_name);
	if (c != NULL)
		virConnectClose(c);
	free(xml);
	return rc;
}

/*
 * Look name up.  Returns the domain, or NULL: *missing tells whether it
 * does not exist (err untouched) or the lookup failed (err filled).
 */
static virDomainPtr
lookup(virConnectPtr c, const char *name, bool *missing, struct rrerr *err)
{
	virDomainPtr dom;
	struct verr e;

	*missing = false;
	dom = virDomainLookupByName(c, name);
	if (dom == NULL) {
		take_error(&e);
		if (e.code == VIR_ERR_NO_DOMAIN)
			*missing = true;
		else
			libvirt_error(c, "cannot look the domain up", &e, err);
	}
	return dom;
}

enum op {
	OP_SHUTDOWN,
	OP_DESTROY,
	OP_RESUME,
	OP_SUSPEND,
};

static int
domain_op(struct backend *b, const char *name, enum op op, struct rrerr *err)
{
	static const char *const what[] = {
		[OP_SHUTDOWN] = "cannot shut the domain down",
		[OP_DESTROY] = "cannot destroy the domain",
		[OP_RESUME] = "cannot resume the domain",
		[OP_SUSPEND] = "cannot pause the domain",
	};
	virConnectPtr c;
	virDomainPtr dom = NULL;
	bool missing;
	struct verr e;
	int rc = -1, r = -1;

	c = conn_get(b, err);
	if (c == NULL)
		return -1;
	dom = lookup(c, name, &missing, err);
	if (dom == NULL) {
		if (missing && op == OP_DESTROY)
			rc = 0;
		else if (missing)
			rrerr_set(err, RRERR_NOT_FOUND, NULL,
			    "no domain named %s", name);
		goto cleanup;
	}
	switch (op) {
	case OP_SHUTDOWN:
		r = virDomainShutdown(dom);
		break;
	case OP_DESTROY:
		r = virDomainDestroy(dom);
		break;
	case OP_RESUME:
		r = virDomainResume(dom);
		break;
	case OP_SUSPEND:
		r = virDomainSuspend(dom);
		break;
	}
	if (r == 0) {
		rc = 0;
		goto cleanup;
	}
	take_error(&e);
	if (e.code == VIR_ERR_NO_DOMAIN) {
		/* It went away meanwhile. */
		if (op == OP_DESTROY)
			rc = 0;
		else
			rrerr_set(err, RRERR_NOT_FOUND, NULL,
			    "no domain named %s", name);
	} else if (e.code == VIR_ERR_OPERATION_INVALID) {
		/* "domain is not running", "domain is not paused" ... */
		if (op == OP_DESTROY)
			rc = 0;
		else
			rrerr_set(err, RRERR_CONFLICT, NULL, "%s: %s", what[op],
			    e.msg);
	} else
		libvirt_error(c, what[op], &e, err);
cleanup:
	/* A domain of ours left defined (see "Files") goes with it. */
	if (op == OP_DESTROY && rc == 0 && dom != NULL &&
	    virDomainIsPersistent(dom) == 1 && virDomainUndefine(dom) < 0) {
		take_error(&e);
		if (e.code != VIR_ERR_NO_DOMAIN)
			rc = libvirt_error(c, "cannot undefine the domain", &e,
			    err);
	}
	virResetLastError();
	if (dom != NULL)
		virDomainFree(dom);
	virConnectClose(c);
	return rc;
}

static int
kvm_shutdown(struct backend *b, const char *name, struct rrerr *err)
{
	return domain_op(b, name, OP_SHUTDOWN, err);
}

static int
kvm_destroy(struct backend *b, const char *name, struct rrerr *err)
{
	return domain_op(b, name, OP_DESTROY, err);
}

static int
kvm_resume(struct backend *b, const char *name, struct rrerr *err)
{
	return domain_op(b, name, OP_RESUME, err);
}

/* The addresses() entry: see kvm_addrs.c. */
static int
kvm_addresses(struct backend *b, const char *name,
    struct backend_nic_info *nics, size_t nnics, struct rrerr *err)
{
	virConnectPtr c;
	virDomainPtr dom;
	char why[RRERR_MESSAGE_MAX];
	bool missing;
	int rc = -1;

	if ((c = conn_get(b, err)) == NULL)
		return -1;
	dom = lookup(c, name, &missing, err);
	if (dom == NULL) {
		if (missing)
			rrerr_set(err, RRERR_NOT_FOUND, NULL,
			    "no domain named %s", name);
		goto cleanup;
	}
	if (kvm_addrs_fill(dom, nics, nnics, why, sizeof(why)) == -1)
		rrerr_set(err, RRERR_INTERNAL, NULL, "%s", why);
	else
		rc = 0;
	virDomainFree(dom);
cleanup:
	virConnectClose(c);
	return rc;
}

/* virDomainSuspend: paused with reason "user"; paused already is fine. */
static int
kvm_pause(struct backend *b, const char *name, struct rrerr *err)
{
	return domain_op(b, name, OP_SUSPEND, err);
}

/*
 * Fill d from dom when it is one of owner's domains.  Returns 1 when it
 * is, 0 when it is not (or vanished meanwhile), -1 with err on failure.
 */
static int
our_domain(struct backend *b, virConnectPtr c, virDomainPtr dom,
    const char *owner, struct backend_domain *d, struct rrerr *err)
{
	struct kvm_xml_meta meta;
	struct verr e;
	const char *name;
	char *md;
	int state, reason, rc;

	name = virDomainGetName(dom);
	if (!backend_domain_has_prefix(name, DOMAIN_PREFIX))
		return 0;
	md = virDomainGetMetadata(dom, VIR_DOMAIN_METADATA_ELEMENT,
	    KVM_XML_NS_URI, 0);
	if (md == NULL) {
		take_error(&e);
		if (e.code == VIR_ERR_NO_DOMAIN_METADATA ||
		    e.code == VIR_ERR_NO_DOMAIN)
			return 0;
		return libvirt_error(c, "cannot read a domain's metadata", &e,
		    err);
	}
	rc = kvm_xml_parse_metadata(md, &meta);
	free(md);
	if (rc == -1 || strcmp(meta.owner, owner) != 0)
		return 0;
	if (virDomainGetState(dom, &state, &reason, 0) < 0) {
		take_error(&e);
		if (e.code == VIR_ERR_NO_DOMAIN)
			return 0;
		return libvirt_error(c, "cannot read a domain's state", &e,
		    err);
	}
	memset(d, 0, sizeof(*d));
	snprintf(d->domain_name, sizeof(d->domain_name), "%s", name);
	snprintf(d->instance, sizeof(d->instance), "%s", meta.instance);
	d->generation = meta.generation;
	/* Running, paused, blocked, being shut down or pm-suspended. */
	d->running = state != VIR_DOMAIN_SHUTOFF &&
	    state != VIR_DOMAIN_CRASHED && state != VIR_DOMAIN_NOSTATE;
	if (!stopped_for_good(b, name, state, reason, d->fault,
		sizeof(d->fault)))
		d->fault[0] = '\0';
	d->paused = state == VIR_DOMAIN_PAUSED &&
	    reason == VIR_DOMAIN_PAUSED_USER;
	return 1;
}

static int
kvm_list(struct backend *b, const char *owner, struct backend_domain **out,
    size_t *n, struct rrerr *err)
{
	virConnectPtr c;
	virDomainPtr *doms = NULL;
	struct backend_domain *list = NULL;
	struct verr e;
	int ndoms, i, r, rc = -1;
	size_t k = 0;

	*out = NULL;
	*n = 0;
	if (owner == NULL)
		owner = b->owner;
	c = conn_get(b, err);
	if (c == NULL)
		return -1;
	ndoms = virConnectListAllDomains(c, &doms, 0);
	if (ndoms < 0) {
		take_error(&e);
		libvirt_error(c, "cannot list domains", &e, err);
		goto cleanup;
	}
	list = calloc(ndoms > 0 ? (size_t)ndoms : 1, sizeof(*list));
	if (list == NULL) {
		rrerr_set(err, RRERR_INTERNAL, NULL, "out of memory");
		goto cleanup;
	}
	for (i = 0; i < ndoms; i++) {
		r = our_domain(b, c, doms[i], owner, &list[k], err);
		if (r == -1)
			goto cleanup;
		if (r == 1 &&
		    keep_listed(b, doms[i], list[k].domain_name,
			list[k].running))
			k++;
	}
	*out = list;
	*n = k;
	list = NULL;
	rc = 0;
cleanup:
	for (i = 0; i < ndoms; i++)
		virDomainFree(doms[i]);
	free(doms);
	free(list);
	virConnectClose(c);
	return rc;
}

/*
 * Add the counter KIND.<index>.FIELD of the count devices of a kind
 * ("block", "net") to *sum; *sum stays BACKEND_STATS_NONE when no device
 * has it.
 */
static void
sum_devices(virTypedParameterPtr params, int nparams, unsigned int count,
    const char *kind, const char *field, uint64_t *sum)
{
	unsigned long long v;
	unsigned int i;
	char key[VIR_TYPED_PARAM_FIELD_LENGTH];

	for (i = 0; i < count; i++) {
		snprintf(key, sizeof(key), "%s.%u.%s", kind, i, field);
		if (virTypedParamsGetULLong(params, nparams, key, &v) != 1)
			continue;
		if (*sum == BACKEND_STATS_NONE)
			*sum = 0;
		*sum += v;
	}
}

/* st from one record of virDomainListGetStats(). */
static void
fill_stats(virDomainStatsRecordPtr r, struct backend_stats *st)
{
	virTypedParameterPtr p = r->params;
	int np = r->nparams;
	unsigned long long v;
	unsigned int nblk = 0, nnet = 0;

	if (virTypedParamsGetULLong(p, np, "cpu.time", &v) == 1)
		st->cpu_ns = v;
	if (virTypedParamsGetULLong(p, np, "balloon.current", &v) == 1)
		st->memory_bytes = v * 1024;
	if (virTypedParamsGetULLong(p, np, "balloon.rss", &v) == 1)
		st->rss_bytes = v * 1024;
	if (virTypedParamsGetUInt(p, np, "block.count", &nblk) == 1) {
		/* No disk is zero bytes read, not "unknown". */
		st->block_rd_bytes = st->block_rd_reqs = 0;
		st->block_wr_bytes = st->block_wr_reqs = 0;
		if (nblk > 0)
			st->block_rd_bytes = st->block_rd_reqs =
			    st->block_wr_bytes = st->block_wr_reqs =
				BACKEND_STATS_NONE;
		sum_devices(p, np, nblk, "block", "rd.bytes",
		    &st->block_rd_bytes);
		sum_devices(p, np, nblk, "block", "rd.reqs",
		    &st->block_rd_reqs);
		sum_devices(p, np, nblk, "block", "wr.bytes",
		    &st->block_wr_bytes);
		sum_devices(p, np, nblk, "block", "wr.reqs",
		    &st->block_wr_reqs);
	}
	if (virTypedParamsGetUInt(p, np, "net.count", &nnet) == 1) {
		st->net_rx_bytes = st->net_rx_packets = 0;
		st->net_tx_bytes = st->net_tx_packets = 0;
		if (nnet > 0)
			st->net_rx_bytes = st->net_rx_packets =
			    st->net_tx_bytes = st->net_tx_packets =
				BACKEND_STATS_NONE;
		sum_devices(p, np, nnet, "net", "rx.bytes", &st->net_rx_bytes);
		sum_devices(p, np, nnet, "net", "rx.pkts", &st->net_rx_packets);
		sum_devices(p, np, nnet, "net", "tx.bytes", &st->net_tx_bytes);
		sum_devices(p, np, nnet, "net", "tx.pkts", &st->net_tx_packets);
	}
}

/*
 * The counters of our running domains: one RPC lists the running domains
 * (virConnectListAllDomains), and one more reads the counters of those
 * named prefix... (virDomainListGetStats, the call behind
 * virConnectGetAllDomainStats, for a list): libvirt never queries the
 * monitor of a domain that is not ours, which on a shared host may be
 * busy or stuck.  NOWAIT: a domain in a job (being stopped, say) reports
 * what needs no job (CPU time, from its cgroup) instead of holding the
 * call; what it could not report is BACKEND_STATS_NONE.
 */
static int
kvm_stats(struct backend *b, const char *prefix, struct backend_stats **out,
    size_t *n, struct rrerr *err)
{
	virConnectPtr c;
	virDomainPtr *doms = NULL, *ours = NULL;
	virDomainStatsRecordPtr *recs = NULL;
	struct backend_stats *list = NULL;
	struct verr e;
	const char *name;
	int ndoms, nours = 0, nrecs = 0, i, rc = -1;
	size_t k = 0;

	*out = NULL;
	*n = 0;
	if ((c = conn_get(b, err)) == NULL)
		return -1;
	ndoms = virConnectListAllDomains(c, &doms,
	    VIR_CONNECT_LIST_DOMAINS_ACTIVE);
	if (ndoms < 0) {
		take_error(&e);
		libvirt_error(c, "cannot list domains", &e, err);
		goto cleanup;
	}
	if ((ours = calloc((size_t)ndoms + 1, sizeof(*ours))) == NULL) {
		rrerr_set(err, RRERR_INTERNAL, NULL, "out of memory");
		goto cleanup;
	}
	for (i = 0; i < ndoms; i++) {
		name = virDomainGetName(doms[i]);
		if (backend_domain_has_prefix(name, prefix))
			ours[nours++] = doms[i];
	}
	if (nours > 0) {
		nrecs = virDomainListGetStats(ours,
		    VIR_DOMAIN_STATS_CPU_TOTAL | VIR_DOMAIN_STATS_BALLOON |
			VIR_DOMAIN_STATS_BLOCK | VIR_DOMAIN_STATS_INTERFACE,
		    &recs, VIR_CONNECT_GET_ALL_DOMAINS_STATS_NOWAIT);
		if (nrecs < 0) {
			take_error(&e);
			libvirt_error(c, "cannot read the domains' counters",
			    &e, err);
			goto cleanup;
		}
	}
	if ((list = calloc((size_t)nrecs + 1, sizeof(*list))) == NULL) {
		rrerr_set(err, RRERR_INTERNAL, NULL, "out of memory");
		goto cleanup;
	}
	for (i = 0; i < nrecs; i++) {
		if ((name = virDomainGetName(recs[i]->dom)) == NULL)
			continue;
		backend_stats_init(&list[k]);
		snprintf(list[k].domain_name, sizeof(list[k].domain_name), "%s",
		    name);
		fill_stats(recs[i], &list[k]);
		k++;
	}
	*out = list;
	*n = k;
	list = NULL;
	rc = 0;
cleanup:
	if (recs != NULL)
		virDomainStatsRecordListFree(recs);
	for (i = 0; i < ndoms; i++)
		virDomainFree(doms[i]);
	free(doms);
	free(ours);
	free(list);
	virConnectClose(c);
	return rc;
}

const struct backend_ops backend_kvm_ops = {
	.name = "kvm",
	.open = kvm_open,
	.launch = kvm_launch,
	.shutdown = kvm_shutdown,
	.destroy = kvm_destroy,
	.resume = kvm_resume,
	.list = kvm_list,
	.release = kvm_release,
	.close = kvm_close,
	.stats = kvm_stats,
	.addresses = kvm_addresses,
	.pause = kvm_pause,
};
