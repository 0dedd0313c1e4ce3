/*
 * xen: the Xen backend, through libxl (and libxenstore for the guest's
 * configuration and rumprund's keys).
 *
 * Threads: an event thread per backend drives libxl's event machinery and
 * carries out on_poweroff and on_crash (libxl leaves them to its caller);
 * operations run on the engine's workers; each domain's console is copied
 * by a thread of xen_console.c.  Rule: no libxl call with b->lock held;
 * the xenstore handle only under xs_lock.  libxl never gets a path of the
 * request: the kernel is /proc/<pid>/fd/N, each disk a loop device bound
 * to the checked descriptor.  A libxl disaster is DISCONNECTED until
 * rumprund restarts.
 *
 * ARCHITECTURE.md, "The Xen backend", says how and why.
 */
#ifdef HAVE_XEN

#include "xen_cfg.h"
#include "xen_console.h"

#include <libxl_event.h>
#include <libxl_utils.h>
#include <xenstore.h>

#include <sys/ioctl.h>
#include <sys/time.h>

#include <linux/loop.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "backend.h"
#include "xen.h"

#define CONSOLE_WAIT_MS	 5000 /* xenconsoled's pty after create */
#define CONSOLE_POLL_MS	 10
#define QUIET_MS	 300  /* > engine.c's TICK_MS (200), see there */
#define DRAIN_MAX_MS	 3000 /* at most, after a shutdown */
#define READER_FINISH_MS 1000 /* after a death, for the last bytes */
#define CLOSE_ABORT_MS	 2000 /* for aborted operations to end */
#define WHY_MAX		 RRERR_MESSAGE_MAX

/*
 * libxl's error messages of the current call on this thread, "; "
 * between them.  Reset before each call whose failure we report.
 */
static _Thread_local char xlerr[WHY_MAX];
static _Thread_local size_t xlerr_len;

/* A domain of ours that we follow. */
struct xdom {
	struct xdom *next;
	char name[BACKEND_DOMAIN_NAME_MAX];
	uint32_t domid;		       /* INVALID_DOMID while being created */
	libxl_evgen_domain_death *evg; /* NULL until enabled */
	struct xen_console *reader;    /* NULL: no console attached */
	bool busy;		       /* a launch or list is setting it up */
	bool dead;		       /* died while busy: the setter frees */
	bool reported;		       /* SHUTDOWN or CRASHED emitted */
	bool silent;		       /* a failed launch: no events */
	int loops[SPEC_BLK_MAX];       /* the disks' loop devices, open */
	int nloops;
};

/* What the event thread is told, by libxl or by a check of ours. */
enum xev_kind {
	XEV_SHUTDOWN,
	XEV_DEATH,
};

struct xev {
	enum xev_kind kind;
	uint32_t domid;
	int reason; /* XEV_SHUTDOWN: libxl's reason */
};

/* An asynchronous libxl_domain_shutdown() in progress. */
struct pending_op {
	struct pending_op *next;
	struct backend *b;
};

struct backend {
	/* Set by open(), read-only afterwards. */
	char *owner;
	xentoollog_logger logger;
	libxl_ctx *ctx;
	struct xs_handle *xs;
	int wake[2]; /* wakes the event thread */

	struct backend_emitter emit; /* the engine's callback */

	pthread_mutex_t xs_lock; /* serializes the use of xs */

	pthread_mutex_t lock;	/* guards what follows */
	struct xdom *doms;	/* a list, through next */
	struct pending_op *ops; /* a list, through next */
	struct xev *queue;
	size_t nqueue;
	size_t capqueue;
	bool resync; /* an event was lost: re-list */
	bool quitting;
	bool broken; /* libxl reported a disaster */
	char broken_why[WHY_MAX];
	bool have_thread;
	pthread_t event_thread;
};

/* Time and small helpers. */

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
sleep_ms(unsigned int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

static void
close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

/* libxl's log. */

static void
xlerr_reset(void)
{
	xlerr[0] = '\0';
	xlerr_len = 0;
}

/*
 * libxl puts "file.c:123:function: " before its messages; the rest is the
 * sentence an operator needs.
 */
static const char *
strip_location(const char *msg)
{
	const char *p = msg, *colon;

	colon = strchr(p, ':');
	if (colon == NULL || colon - p < 3 || strncmp(colon - 2, ".c", 2) != 0)
		return msg;
	p = colon + 1;
	if (*p < '0' || *p > '9')
		return msg;
	while (*p >= '0' && *p <= '9')
		p++;
	if (*p++ != ':')
		return msg;
	while ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
	    (*p >= '0' && *p <= '9') || *p == '_')
		p++;
	if (p[0] != ':' || p[1] != ' ')
		return msg;
	return p + 2;
}

static void logger_vmessage(struct xentoollog_logger *, xentoollog_level, int,
    const char *, const char *, va_list) __attribute__((format(printf, 5, 0)));

static void
logger_vmessage(struct xentoollog_logger *lg, xentoollog_level level,
    int errnoval, const char *context, const char *format, va_list al)
{
	char msg[WHY_MAX];
	const char *e = "";
	int n;

	(void)lg;
	if (level < XTL_ERROR || xlerr_len >= sizeof(xlerr) - 1)
		return;
	vsnprintf(msg, sizeof(msg), format, al);
	if (errnoval > 0) {
		static _Thread_local char ebuf[128];

		e = strerror_r(errnoval, ebuf, sizeof(ebuf));
	}
	n = snprintf(xlerr + xlerr_len, sizeof(xlerr) - xlerr_len,
	    "%s%s%s%s%s%s", xlerr_len > 0 ? "; " : "",
	    context != NULL ? context : "", context != NULL ? ": " : "",
	    strip_location(msg), errnoval > 0 ? ": " : "", e);
	if (n > 0)
		xlerr_len += (size_t)n;
	if (xlerr_len >= sizeof(xlerr))
		xlerr_len = sizeof(xlerr) - 1;
}

static void
logger_destroy(struct xentoollog_logger *lg)
{
	(void)lg;
}

/*
 * Fill err with what failed and libxl's messages (else its error code's
 * name).  Returns -1.
 */
static int
xl_fail(struct rrerr *err, enum rrerr_code code, int rc, const char *what)
{
	const char *name = libxl_error_to_string((libxl_error)rc);

	if (xlerr_len > 0)
		rrerr_set(err, code, NULL, "%s: %s", what, xlerr);
	else if (name != NULL)
		rrerr_set(err, code, NULL, "%s: libxl error %s", what, name);
	else
		rrerr_set(err, code, NULL, "%s: libxl error %d", what, rc);
	xlerr_reset();
	return -1;
}

/* Events to the engine. */

static void
wake(struct backend *b)
{
	ssize_t n;

	/* A full pipe already wakes the thread. */
	do
		n = write(b->wake[1], "", 1);
	while (n == -1 && errno == EINTR);
}

/* Queue ev for the event thread; under b->lock. */
static void
enqueue_locked(struct backend *b, const struct xev *ev)
{
	if (b->nqueue == b->capqueue) {
		size_t cap = b->capqueue != 0 ? 2 * b->capqueue : 16;
		struct xev *q = realloc(b->queue, cap * sizeof(*q));

		if (q == NULL) {
			b->resync = true;
			return;
		}
		b->queue = q;
		b->capqueue = cap;
	}
	b->queue[b->nqueue++] = *ev;
}

static void
enqueue(struct backend *b, enum xev_kind kind, uint32_t domid, int reason)
{
	struct xev ev = { kind, domid, reason };

	pthread_mutex_lock(&b->lock);
	enqueue_locked(b, &ev);
	pthread_mutex_unlock(&b->lock);
	wake(b);
}

/* libxl's callbacks: any thread inside libxl; no libxl calls here. */

static void
event_occurs(void *user, libxl_event *event)
{
	struct backend *b = user;

	switch (event->type) {
	case LIBXL_EVENT_TYPE_DOMAIN_SHUTDOWN:
		enqueue(b, XEV_SHUTDOWN, event->domid,
		    event->u.domain_shutdown.shutdown_reason);
		break;
	case LIBXL_EVENT_TYPE_DOMAIN_DEATH:
		enqueue(b, XEV_DEATH, event->domid, 0);
		break;
	default:
		break;
	}
	libxl_event_free(b->ctx, event);
}

static void
disaster(void *user, libxl_event_type type, const char *msg, int errnoval)
{
	struct backend *b = user;
	char why[WHY_MAX], ebuf[128];

	(void)type;
	snprintf(why, sizeof(why), "libxl's event machinery failed: %s%s%s",
	    msg, errnoval > 0 ? ": " : "",
	    errnoval > 0 ? strerror_r(errnoval, ebuf, sizeof(ebuf)) : "");
	pthread_mutex_lock(&b->lock);
	if (!b->broken) {
		b->broken = true;
		memcpy(b->broken_why, why, sizeof(why));
	}
	pthread_mutex_unlock(&b->lock);
	backend_emit(&b->emit, BACKEND_EVENT_DISCONNECTED, NULL, why);
}

static const libxl_event_hooks event_hooks = {
	.event_occurs_mask = LIBXL_EVENTMASK_ALL,
	.event_occurs = event_occurs,
	.disaster = disaster,
};

static const libxl_childproc_hooks childproc_hooks = {
	.chldowner = libxl_sigchld_owner_libxl_always_selective_reap,
};

/* Fails with RRERR_UNAVAILABLE once libxl reported a disaster. */
static int
check_usable(struct backend *b, struct rrerr *err)
{
	char why[WHY_MAX];
	bool broken;

	pthread_mutex_lock(&b->lock);
	broken = b->broken;
	memcpy(why, b->broken_why, sizeof(why));
	pthread_mutex_unlock(&b->lock);
	if (broken)
		return rrerr_set(err, RRERR_UNAVAILABLE, NULL,
		    "the Xen backend stopped: %s; restart rumprund", why);
	return 0;
}

/*
 * Wait for xenconsoled to serve domid's console and start a reader that
 * appends it to log_path.  Returns the reader, or NULL with err.
 */
static struct xen_console *
attach_console(struct backend *b, uint32_t domid, const char *log_path,
    int64_t wait_ms, struct rrerr *err)
{
	int64_t end = now_ms() + wait_ms;
	char *tty = NULL;
	struct xen_console *r;

	for (;;) {
		int rc;

		xlerr_reset();
		rc = libxl_console_get_tty(b->ctx, domid, 0,
		    LIBXL_CONSOLE_TYPE_PV, &tty);
		if (rc == 0 && tty != NULL && tty[0] != '\0')
			break;
		free(tty);
		tty = NULL;
		if (now_ms() >= end) {
			xlerr_reset();
			rrerr_set(err, RRERR_UNAVAILABLE, NULL,
			    "xenconsoled gave domain %u no console within "
			    "%lld ms: is xenconsoled running?",
			    (unsigned int)domid, (long long)wait_ms);
			return NULL;
		}
		sleep_ms(CONSOLE_POLL_MS);
	}
	xlerr_reset();
	r = xen_console_start(domid, tty, log_path, err);
	free(tty);
	return r;
}

/* xenstore. */

/* Read key of domid into a new string, or NULL. */
static char *
xs_get(struct backend *b, uint32_t domid, const char *key)
{
	char path[XEN_CFG_PATH_MAX];
	unsigned int len;
	char *v;

	if (!xen_cfg_path(domid, key, path, sizeof(path)))
		return NULL;
	pthread_mutex_lock(&b->xs_lock);
	v = xs_read(b->xs, XBT_NULL, path, &len);
	pthread_mutex_unlock(&b->xs_lock);
	if (v != NULL && strlen(v) != len) {
		/* A NUL inside: not something we wrote. */
		free(v);
		return NULL;
	}
	return v;
}

/* Write the guest configuration of domid: exactly guestconf's text. */
static int
write_guest_config(struct backend *b, uint32_t domid, const char *config,
    struct rrerr *err)
{
	struct xen_cfg_write w;
	bool ok;

	if (xen_cfg_guest_config(domid, config, &w, err) == -1)
		return -1;
	pthread_mutex_lock(&b->xs_lock);
	ok = xs_write(b->xs, XBT_NULL, w.path, w.value, (unsigned int)w.len);
	pthread_mutex_unlock(&b->xs_lock);
	if (!ok)
		return rrerr_set(err, RRERR_INTERNAL, NULL,
		    "cannot write %s: %s", w.path, strerror(errno));
	return 0;
}

/* The domains we follow, and the operations in progress: short lists. */

static void
unlink_dom_locked(struct backend *b, struct xdom *d)
{
	struct xdom **pp;

	for (pp = &b->doms; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == d) {
			*pp = d->next;
			return;
		}
	}
}

static void
unlink_op_locked(struct backend *b, struct pending_op *op)
{
	struct pending_op **pp;

	for (pp = &b->ops; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == op) {
			*pp = op->next;
			return;
		}
	}
}

static struct xdom *
find_name_locked(struct backend *b, const char *name)
{
	struct xdom *d;

	for (d = b->doms; d != NULL; d = d->next) {
		if (strcmp(d->name, name) == 0)
			return d;
	}
	return NULL;
}

static struct xdom *
find_domid_locked(struct backend *b, uint32_t domid)
{
	struct xdom *d;

	for (d = b->doms; d != NULL; d = d->next) {
		if (d->domid == domid)
			return d;
	}
	return NULL;
}

/*
 * Add name, busy, unless it is followed already.  Returns the entry, NULL
 * when it exists (*exists) or when out of memory.
 */
static struct xdom *
track(struct backend *b, const char *name, uint32_t domid, bool *exists)
{
	struct xdom *d;

	*exists = false;
	pthread_mutex_lock(&b->lock);
	if (find_name_locked(b, name) != NULL ||
	    (domid != (uint32_t)INVALID_DOMID &&
		find_domid_locked(b, domid) != NULL)) {
		pthread_mutex_unlock(&b->lock);
		*exists = true;
		return NULL;
	}
	if ((d = calloc(1, sizeof(*d))) != NULL) {
		snprintf(d->name, sizeof(d->name), "%s", name);
		d->domid = domid;
		d->busy = true;
		d->next = b->doms;
		b->doms = d;
	}
	pthread_mutex_unlock(&b->lock);
	return d;
}

/* Free d, taken off the list; its events and its reader end. */
static void
untrack_free(struct backend *b, struct xdom *d, int64_t reader_wait_ms)
{
	if (d->evg != NULL)
		libxl_evdisable_domain_death(b->ctx, d->evg);
	xen_console_stop(d->reader, reader_wait_ms);
	while (d->nloops > 0)
		close(d->loops[--d->nloops]);
	free(d);
}

/*
 * The setter of d is done with it.  A death that came meanwhile was left
 * to us; remove is set when the caller wants d gone anyway (a failed
 * launch whose domain never existed or has no events enabled).
 */
static void
release(struct backend *b, struct xdom *d, bool remove)
{
	bool gone;

	pthread_mutex_lock(&b->lock);
	d->busy = false;
	gone = d->dead || remove;
	if (gone)
		unlink_dom_locked(b, d);
	pthread_mutex_unlock(&b->lock);
	if (gone)
		untrack_free(b, d, READER_FINISH_MS);
}

/*
 * Follow the events of d's domain (d busy).  libxl checks a domain only
 * when @releaseDomain fires, which it did not for a domain that shut down
 * or died before: check once now and queue what it would have reported.
 */
static int
enable_events(struct backend *b, struct xdom *d, struct rrerr *err)
{
	libxl_evgen_domain_death *evg = NULL;
	libxl_dominfo info;
	int rc;

	xlerr_reset();
	rc = libxl_evenable_domain_death(b->ctx, d->domid, 0, &evg);
	if (rc != 0)
		return xl_fail(err, RRERR_INTERNAL, rc,
		    "cannot follow the domain's events");
	pthread_mutex_lock(&b->lock);
	d->evg = evg;
	pthread_mutex_unlock(&b->lock);

	libxl_dominfo_init(&info);
	rc = libxl_domain_info(b->ctx, &info, d->domid);
	xlerr_reset();
	if (rc == ERROR_DOMAIN_NOTFOUND || (rc == 0 && info.dying))
		enqueue(b, XEV_DEATH, d->domid, 0);
	else if (rc == 0 && info.shutdown)
		enqueue(b, XEV_SHUTDOWN, d->domid, (int)info.shutdown_reason);
	libxl_dominfo_dispose(&info);
	return 0;
}

/* The event thread's work. */

static void
on_shutdown(struct backend *b, uint32_t domid, int reason)
{
	char name[BACKEND_DOMAIN_NAME_MAX], detail[64];
	enum backend_event_type type;
	struct xen_console *r;
	struct xdom *d;
	int rc;

	if (reason == LIBXL_SHUTDOWN_REASON_SUSPEND)
		return;
	pthread_mutex_lock(&b->lock);
	d = find_domid_locked(b, domid);
	if (d == NULL || d->reported || d->dead) {
		pthread_mutex_unlock(&b->lock);
		return;
	}
	d->reported = true;
	memcpy(name, d->name, sizeof(name));
	r = d->reader;
	if (d->silent) {
		/* A failed launch, which destroys the domain itself. */
		pthread_mutex_unlock(&b->lock);
		return;
	}
	pthread_mutex_unlock(&b->lock);

	/*
	 * r stays valid: only this thread frees a reader of an entry that
	 * is not busy, and a busy entry's setter installs the reader before
	 * it unpauses the domain, and keeps it.
	 */
	if (r != NULL)
		xen_console_wait_quiet(r, QUIET_MS, DRAIN_MAX_MS);

	switch (reason) {
	case LIBXL_SHUTDOWN_REASON_POWEROFF:
	case LIBXL_SHUTDOWN_REASON_REBOOT:
	case LIBXL_SHUTDOWN_REASON_SOFT_RESET:
		type = BACKEND_EVENT_SHUTDOWN;
		break;
	default:
		type = BACKEND_EVENT_CRASHED;
		break;
	}
	snprintf(detail, sizeof(detail), "shutdown: %s",
	    xen_cfg_shutdown_reason(reason));
	backend_emit(&b->emit, type, name, detail);

	/* on_poweroff, on_reboot, on_crash ...: destroy. */
	xlerr_reset();
	rc = libxl_domain_destroy(b->ctx, domid, NULL);
	(void)rc; /* the engine's next list() sees what is left */
	xlerr_reset();
}

static void
on_death(struct backend *b, uint32_t domid)
{
	char name[BACKEND_DOMAIN_NAME_MAX];
	bool tell, free_it;
	struct xdom *d;

	pthread_mutex_lock(&b->lock);
	d = find_domid_locked(b, domid);
	if (d == NULL || d->dead) {
		pthread_mutex_unlock(&b->lock);
		return;
	}
	d->dead = true;
	tell = !d->reported && !d->silent;
	d->reported = true;
	memcpy(name, d->name, sizeof(name));
	free_it = !d->busy;
	if (free_it)
		unlink_dom_locked(b, d);
	pthread_mutex_unlock(&b->lock);

	/* The last bytes first, so the log is complete when we report. */
	if (free_it)
		untrack_free(b, d, READER_FINISH_MS);
	if (tell)
		backend_emit(&b->emit, BACKEND_EVENT_STOPPED, name,
		    "destroyed");
}

static void
handle_queue(struct backend *b)
{
	struct xev *q;
	size_t n, i;
	bool resync;

	pthread_mutex_lock(&b->lock);
	q = b->queue;
	n = b->nqueue;
	resync = b->resync;
	b->queue = NULL;
	b->nqueue = b->capqueue = 0;
	b->resync = false;
	pthread_mutex_unlock(&b->lock);

	for (i = 0; i < n; i++) {
		if (q[i].kind == XEV_SHUTDOWN)
			on_shutdown(b, q[i].domid, q[i].reason);
		else
			on_death(b, q[i].domid);
	}
	free(q);
	if (resync) {
		/* The engine lists our domains again on RECONNECTED. */
		backend_emit(&b->emit, BACKEND_EVENT_DISCONNECTED, NULL,
		    "a libxl event was lost (out of memory)");
		backend_emit(&b->emit, BACKEND_EVENT_RECONNECTED, NULL, "xen");
	}
}

static void
shutdown_done(libxl_ctx *ctx, int rc, void *for_callback)
{
	struct pending_op *op = for_callback;
	struct backend *b = op->b;

	(void)ctx;
	(void)rc; /* a guest that does not acknowledge gets destroyed */
	pthread_mutex_lock(&b->lock);
	unlink_op_locked(b, op);
	pthread_mutex_unlock(&b->lock);
	free(op);
	wake(b);
}

/* Ask libxl to cut the asynchronous operations in progress short. */
static void
abort_ops(struct backend *b)
{
	libxl_asyncop_how *how;
	struct pending_op *op;
	size_t n = 0, i;

	pthread_mutex_lock(&b->lock);
	for (op = b->ops; op != NULL; op = op->next)
		n++;
	how = calloc(n > 0 ? n : 1, sizeof(*how));
	n = 0;
	if (how != NULL) {
		for (op = b->ops; op != NULL; op = op->next) {
			how[n].callback = shutdown_done;
			how[n].u.for_callback = op;
			n++;
		}
	}
	pthread_mutex_unlock(&b->lock);
	/*
	 * Only the how values are used: an op that completed meanwhile is
	 * not found (ERROR_NOTFOUND), its memory is not touched.
	 */
	for (i = 0; i < n; i++)
		libxl_ao_abort(b->ctx, &how[i]);
	free(how);
}

/*
 * One turn of libxl's machinery: poll its fds and our wake pipe for at
 * most timeout ms (-1: no limit), then let libxl act on what happened.
 * *fds, of *cap entries, grows as libxl needs.
 */
static void
poll_once(struct backend *b, struct pollfd **fds, int *cap, int timeout)
{
	struct pollfd *nf, *f;
	struct timeval tv;
	int nfds;

	/* f[0] is our wake pipe, then come libxl's fds. */
	for (;;) {
		int rc;

		nfds = *cap > 0 ? *cap - 1 : 0;
		gettimeofday(&tv, NULL);
		rc = libxl_osevent_beforepoll(b->ctx, &nfds,
		    *fds != NULL ? *fds + 1 : NULL, &timeout, tv);
		if (rc == 0 && *fds != NULL)
			break;
		if (rc != 0 && rc != ERROR_BUFFERFULL) {
			sleep_ms(100);
			return;
		}
		nf = realloc(*fds, (size_t)(nfds + 1) * sizeof(*nf));
		if (nf == NULL) {
			sleep_ms(100);
			return;
		}
		*fds = nf;
		*cap = nfds + 1;
	}
	f = *fds;
	f[0].fd = b->wake[0];
	f[0].events = POLLIN;
	f[0].revents = 0;
	if (poll(f, (nfds_t)nfds + 1, timeout) == -1) {
		int i;

		for (i = 0; i <= nfds; i++)
			f[i].revents = 0;
	}
	if (f[0].revents != 0) {
		char buf[64];

		while (read(b->wake[0], buf, sizeof(buf)) > 0)
			;
	}
	gettimeofday(&tv, NULL);
	libxl_osevent_afterpoll(b->ctx, nfds, f + 1, tv);
}

static void *
event_main(void *arg)
{
	struct backend *b = arg;
	struct pollfd *fds = NULL;
	int64_t give_up = 0;
	int cap = 0;

	for (;;) {
		bool quitting, ops_left;

		handle_queue(b);
		pthread_mutex_lock(&b->lock);
		quitting = b->quitting;
		ops_left = b->ops != NULL;
		pthread_mutex_unlock(&b->lock);
		if (quitting) {
			if (give_up == 0) {
				abort_ops(b);
				give_up = now_ms() + CLOSE_ABORT_MS;
			}
			if (!ops_left || now_ms() >= give_up)
				break;
		}
		poll_once(b, &fds, &cap, quitting ? 50 : -1);
	}
	free(fds);
	return NULL;
}

/* The open() and close() entries. */

/* Free everything of b; the event thread has ended or never started. */
static void
teardown(struct backend *b, bool ops_left)
{
	struct xdom *d;

	while ((d = b->doms) != NULL) {
		b->doms = d->next;
		/* Unread output stays in the pty for the next rumprund. */
		untrack_free(b, d, 0);
	}
	if (b->xs != NULL)
		xs_close(b->xs);
	/*
	 * libxl asserts that no operation is in progress when its context
	 * is freed; if an aborted one has not ended, leak the context
	 * rather than abort the process (which is exiting anyway).
	 */
	if (b->ctx != NULL && !ops_left)
		libxl_ctx_free(b->ctx);
	close_fd(&b->wake[0]);
	close_fd(&b->wake[1]);
	free(b->queue);
	pthread_mutex_destroy(&b->lock);
	pthread_mutex_destroy(&b->xs_lock);
	backend_emitter_destroy(&b->emit);
	free(b->owner);
	free(b);
}

static struct backend *
xen_open(const struct backend_config *cfg, backend_event_fn *cb, void *cb_arg,
    struct rrerr *err)
{
	struct backend *b;
	int rc;

	if ((b = calloc(1, sizeof(*b))) == NULL) {
		rrerr_set(err, RRERR_INTERNAL, NULL, "out of memory");
		return NULL;
	}
	pthread_mutex_init(&b->lock, NULL);
	pthread_mutex_init(&b->xs_lock, NULL);
	b->wake[0] = b->wake[1] = -1;
	backend_emitter_init(&b->emit, cb, cb_arg);
	b->logger.vmessage = logger_vmessage;
	b->logger.progress = NULL;
	b->logger.destroy = logger_destroy;
	if ((b->owner = strdup(cfg->owner != NULL ? cfg->owner : "")) == NULL) {
		rrerr_set(err, RRERR_INTERNAL, NULL, "out of memory");
		goto fail;
	}

	xlerr_reset();
	rc = libxl_ctx_alloc(&b->ctx, LIBXL_VERSION, 0, &b->logger);
	if (rc != 0) {
		b->ctx = NULL;
		rrerr_set(err, RRERR_UNAVAILABLE, NULL,
		    "Xen is not available on this host: %s",
		    xlerr_len > 0 ? xlerr : "libxl_ctx_alloc failed");
		xlerr_reset();
		goto fail;
	}
	libxl_childproc_setmode(b->ctx, &childproc_hooks, NULL);
	libxl_event_register_callbacks(b->ctx, &event_hooks, b);
	if ((b->xs = xs_open(0)) == NULL) {
		rrerr_set(err, RRERR_UNAVAILABLE, NULL,
		    "Xen is not available on this host: cannot connect to "
		    "xenstored: %s",
		    strerror(errno));
		goto fail;
	}
	if (pipe2(b->wake, O_CLOEXEC | O_NONBLOCK) == -1 ||
	    pthread_create(&b->event_thread, NULL, event_main, b) != 0) {
		rrerr_set(err, RRERR_INTERNAL, NULL,
		    "cannot start the Xen event thread: %s", strerror(errno));
		goto fail;
	}
	b->have_thread = true;
	return b;
fail:
	teardown(b, false);
	return NULL;
}

static void
xen_close(struct backend *b)
{
	bool ops_left;

	if (b == NULL)
		return;
	backend_emitter_close(&b->emit);

	pthread_mutex_lock(&b->lock);
	b->quitting = true;
	pthread_mutex_unlock(&b->lock);
	if (b->have_thread) {
		wake(b);
		pthread_join(b->event_thread, NULL);
	}
	pthread_mutex_lock(&b->lock);
	ops_left = b->ops != NULL;
	pthread_mutex_unlock(&b->lock);
	teardown(b, ops_left);
}

/* Operations. */

/* The bridges of the request exist (libxl would fail in a hotplug script). */
static int
check_bridges(const struct spec *spec, struct rrerr *err)
{
	char field[48];
	size_t i;

	for (i = 0; i < spec->nnics; i++) {
		const char *name = spec->nics[i].backend_name;

		if (spec->nics[i].type != SPEC_NIC_BRIDGE || name == NULL)
			continue;
		snprintf(field, sizeof(field), "nics[%zu].backend.name", i);
		if (!backend_netdev_exists(name, NULL))
			return rrerr_set(err, RRERR_INVALID, field,
			    "%s: bridge '%s' does not exist on this host",
			    field, name);
		if (!backend_netdev_exists(name, "bridge"))
			return rrerr_set(err, RRERR_INVALID, field,
			    "%s: '%s' is not a bridge", field, name);
	}
	return 0;
}

/*
 * The domid of the domain named name.  Returns 1 and sets *domid, 0 when
 * there is none, -1 with err when libxl cannot tell.
 */
static int
lookup(struct backend *b, const char *name, uint32_t *domid, struct rrerr *err)
{
	int rc;

	xlerr_reset();
	rc = libxl_name_to_domid(b->ctx, name, domid);
	if (rc == 0) {
		xlerr_reset();
		return 1;
	}
	/* libxl says ERROR_INVAL for "no domain of that name". */
	if (rc == ERROR_INVAL) {
		xlerr_reset();
		return 0;
	}
	return xl_fail(err, RRERR_INTERNAL, rc, "cannot look the domain up");
}

/* After a failed launch step: destroy the new domain, quietly. */
static void
abandon(struct backend *b, struct xdom *d)
{
	bool remove;

	pthread_mutex_lock(&b->lock);
	d->silent = true;
	/* Without events enabled no DEATH will come to remove it. */
	remove = d->evg == NULL;
	pthread_mutex_unlock(&b->lock);
	if (d->domid != (uint32_t)INVALID_DOMID) {
		xlerr_reset();
		libxl_domain_destroy(b->ctx, d->domid, NULL);
		xlerr_reset();
	}
	release(b, d, remove);
}

/*
 * A loop device bound to the open file fd (autoclear), opened: its
 * descriptor, its path in dev; -1 with err set.
 */
static int
bind_loop(int fd, bool readonly, char *dev, size_t size, struct rrerr *err)
{
	struct loop_config lc;
	int ctl, n, lfd = -1, tries;

	if ((ctl = open("/dev/loop-control", O_RDWR | O_CLOEXEC)) == -1) {
		rrerr_set(err, RRERR_UNAVAILABLE, NULL, "/dev/loop-control: %s",
		    strerror(errno));
		return -1;
	}
	/* Another process may take the free device first: try again. */
	for (tries = 0; tries < 16 && lfd == -1; tries++) {
		if ((n = ioctl(ctl, LOOP_CTL_GET_FREE)) < 0)
			break;
		snprintf(dev, size, "/dev/loop%d", n);
		if ((lfd = open(dev, O_RDWR | O_CLOEXEC)) == -1)
			break;
		memset(&lc, 0, sizeof(lc));
		lc.fd = (unsigned int)fd;
		lc.info.lo_flags = LO_FLAGS_AUTOCLEAR |
		    (readonly ? LO_FLAGS_READ_ONLY : 0);
		if (ioctl(lfd, LOOP_CONFIGURE, &lc) == 0)
			break;
		close(lfd);
		lfd = -1;
		if (errno != EBUSY)
			break;
	}
	if (lfd == -1)
		rrerr_set(err, RRERR_UNAVAILABLE, NULL,
		    "no loop device for a disk: %s", strerror(errno));
	close(ctl);
	return lfd;
}

/*
 * Points cfg's kernel and disks at the files checked for this launch (see
 * "Files" above) instead of the request's paths; d keeps the disks' loop
 * devices open.
 */
static int
use_checked_files(const struct backend_launch *l, libxl_domain_config *cfg,
    struct xdom *d, struct rrerr *err)
{
	char path[64];
	int i, lfd;

	if (l->image_fd < 0 || (cfg->num_disks > 0 && l->blk_fds == NULL)) {
		rrerr_set(err, RRERR_INTERNAL, NULL,
		    "the launch has no checked files");
		return -1;
	}
	snprintf(path, sizeof(path), "/proc/%ld/fd/%d", (long)getpid(),
	    l->image_fd);
	free(cfg->b_info.kernel);
	if ((cfg->b_info.kernel = strdup(path)) == NULL)
		goto oom;
	for (i = 0; i < cfg->num_disks && i < SPEC_BLK_MAX; i++) {
		lfd = bind_loop(l->blk_fds[i], cfg->disks[i].readwrite == 0,
		    path, sizeof(path), err);
		if (lfd == -1)
			return -1;
		d->loops[d->nloops++] = lfd;
		free(cfg->disks[i].pdev_path);
		if ((cfg->disks[i].pdev_path = strdup(path)) == NULL)
			goto oom;
		cfg->disks[i].backend = LIBXL_DISK_BACKEND_PHY;
	}
	return 0;
oom:
	rrerr_set(err, RRERR_INTERNAL, NULL, "out of memory");
	return -1;
}

static int
xen_launch(struct backend *b, const struct backend_launch *l, struct rrerr *err)
{
	const struct spec *spec = l->spec;
	libxl_domain_config cfg;
	struct xen_console *r;
	struct xdom *d = NULL;
	uint32_t domid = INVALID_DOMID;
	bool exists;
	int rc, found, ret = -1;

	if (check_usable(b, err) == -1)
		return -1;
	libxl_domain_config_init(&cfg);
	if (xen_cfg_domain(l, &cfg, err) == -1 ||
	    check_bridges(spec, err) == -1)
		goto cleanup;
	if ((found = lookup(b, l->domain_name, &domid, err)) == -1)
		goto cleanup;
	if (found == 1) {
		rrerr_set(err, RRERR_CONFLICT, NULL,
		    "a domain named %s already exists", l->domain_name);
		goto cleanup;
	}
	d = track(b, l->domain_name, INVALID_DOMID, &exists);
	if (d == NULL) {
		if (exists)
			rrerr_set(err, RRERR_CONFLICT, NULL,
			    "a domain named %s is being launched",
			    l->domain_name);
		else
			rrerr_set(err, RRERR_INTERNAL, NULL, "out of memory");
		goto cleanup;
	}
	if (use_checked_files(l, &cfg, d, err) == -1) {
		release(b, d, true);
		d = NULL;
		goto cleanup;
	}
	libxl_uuid_generate(&cfg.c_info.uuid);

	/* Created paused, with rumprund's keys; hotplug scripts run here. */
	xlerr_reset();
	domid = INVALID_DOMID;
	rc = libxl_domain_create_new(b->ctx, &cfg, &domid, NULL, NULL);
	if (rc != 0) {
		xl_fail(err, RRERR_INTERNAL, rc,
		    "libxl could not create the domain");
		/* libxl destroys what it half made; make sure. */
		pthread_mutex_lock(&b->lock);
		d->domid = domid;
		pthread_mutex_unlock(&b->lock);
		abandon(b, d);
		d = NULL;
		goto cleanup;
	}
	pthread_mutex_lock(&b->lock);
	d->domid = domid;
	pthread_mutex_unlock(&b->lock);

	/* Still paused: the guest reads its config, its console is ours. */
	if (write_guest_config(b, domid, l->guest_config, err) == -1)
		goto fail;
	r = attach_console(b, domid, l->console_log, CONSOLE_WAIT_MS, err);
	if (r == NULL)
		goto fail;
	pthread_mutex_lock(&b->lock);
	d->reader = r;
	pthread_mutex_unlock(&b->lock);
	if (enable_events(b, d, err) == -1)
		goto fail;
	backend_emit(&b->emit, BACKEND_EVENT_STARTED, l->domain_name,
	    "created");

	if (!spec->paused) {
		xlerr_reset();
		rc = libxl_domain_unpause(b->ctx, domid, NULL);
		if (rc != 0) {
			xl_fail(err, RRERR_INTERNAL, rc,
			    "libxl could not unpause the domain");
			goto fail;
		}
	}
	release(b, d, false);
	d = NULL;
	ret = 0;
	goto cleanup;
fail:
	abandon(b, d);
	d = NULL;
cleanup:
	libxl_domain_config_dispose(&cfg);
	return ret;
}

enum op {
	OP_SHUTDOWN,
	OP_DESTROY,
	OP_RESUME,
	OP_PAUSE,
};

static int
start_shutdown(struct backend *b, uint32_t domid, struct rrerr *err)
{
	libxl_asyncop_how how;
	struct pending_op *op;
	int rc;

	if ((op = calloc(1, sizeof(*op))) == NULL)
		return rrerr_set(err, RRERR_INTERNAL, NULL, "out of memory");
	op->b = b;
	pthread_mutex_lock(&b->lock);
	op->next = b->ops;
	b->ops = op;
	pthread_mutex_unlock(&b->lock);
	how.callback = shutdown_done;
	how.u.for_callback = op;
	xlerr_reset();
	/* op may be freed by shutdown_done() before this returns. */
	rc = libxl_domain_shutdown(b->ctx, domid, &how);
	if (rc == 0) {
		xlerr_reset();
		return 0;
	}
	/* Not started: no callback comes. */
	pthread_mutex_lock(&b->lock);
	unlink_op_locked(b, op);
	pthread_mutex_unlock(&b->lock);
	free(op);
	return xl_fail(err,
	    rc == ERROR_DOMAIN_NOTFOUND ? RRERR_NOT_FOUND : RRERR_INTERNAL, rc,
	    "cannot shut the domain down");
}

static int
domain_op(struct backend *b, const char *name, enum op op, struct rrerr *err)
{
	libxl_dominfo info;
	uint32_t domid;
	int found, rc, gone;
	bool paused;

	if (check_usable(b, err) == -1)
		return -1;
	found = lookup(b, name, &domid, err);
	if (found == -1)
		return -1;
	if (found == 0) {
		if (op == OP_DESTROY)
			return 0;
		return rrerr_set(err, RRERR_NOT_FOUND, NULL,
		    "no domain named %s", name);
	}
	switch (op) {
	case OP_SHUTDOWN:
		return start_shutdown(b, domid, err);
	case OP_RESUME:
		xlerr_reset();
		rc = libxl_domain_unpause(b->ctx, domid, NULL);
		if (rc == 0)
			return 0;
		libxl_dominfo_init(&info);
		gone = libxl_domain_info(b->ctx, &info, domid);
		paused = info.paused;
		libxl_dominfo_dispose(&info);
		if (gone == 0 && !paused) {
			xlerr_reset();
			return rrerr_set(err, RRERR_CONFLICT, NULL,
			    "cannot resume the domain: it is not paused");
		}
		return xl_fail(err,
		    gone == ERROR_DOMAIN_NOTFOUND ? RRERR_NOT_FOUND :
						    RRERR_INTERNAL,
		    rc, "cannot resume the domain");
	case OP_PAUSE:
		/* Paused already (xl pause counts no further): success. */
		xlerr_reset();
		rc = libxl_domain_pause(b->ctx, domid, NULL);
		if (rc == 0) {
			xlerr_reset();
			return 0;
		}
		libxl_dominfo_init(&info);
		gone = libxl_domain_info(b->ctx, &info, domid);
		libxl_dominfo_dispose(&info);
		return xl_fail(err,
		    gone == ERROR_DOMAIN_NOTFOUND ? RRERR_NOT_FOUND :
						    RRERR_INTERNAL,
		    rc, "cannot pause the domain");
	case OP_DESTROY:
		xlerr_reset();
		rc = libxl_domain_destroy(b->ctx, domid, NULL);
		if (rc == 0) {
			xlerr_reset();
			return 0;
		}
		/* Gone meanwhile (destroyed after its shutdown, say)? */
		libxl_dominfo_init(&info);
		gone = libxl_domain_info(b->ctx, &info, domid) ==
		    ERROR_DOMAIN_NOTFOUND;
		libxl_dominfo_dispose(&info);
		if (gone || rc == ERROR_DOMAIN_NOTFOUND) {
			xlerr_reset();
			return 0;
		}
		return xl_fail(err, RRERR_INTERNAL, rc,
		    "cannot destroy the domain");
	}
	return rrerr_set(err, RRERR_INTERNAL, NULL, "unknown operation");
}

static int
xen_shutdown(struct backend *b, const char *name, struct rrerr *err)
{
	return domain_op(b, name, OP_SHUTDOWN, err);
}

static int
xen_destroy(struct backend *b, const char *name, struct rrerr *err)
{
	return domain_op(b, name, OP_DESTROY, err);
}

static int
xen_resume(struct backend *b, const char *name, struct rrerr *err)
{
	return domain_op(b, name, OP_RESUME, err);
}

static int
xen_pause(struct backend *b, const char *name, struct rrerr *err)
{
	return domain_op(b, name, OP_PAUSE, err);
}

/*
 * The addresses() entry.  netback names a NIC's host end vif<domid>.<devid>
 * and xl numbers vifs by position (xen_cfg.c), so NIC i is vif<domid>.i
 * once it exists.  Xen has no DHCP server of its own to ask: a guest's
 * address is only known from the host's neighbour table (ARP), once the
 * host and the guest have exchanged a packet.
 */
static int
xen_addresses(struct backend *b, const char *name,
    struct backend_nic_info *nics, size_t nnics, struct rrerr *err)
{
	char dev[64];
	uint32_t domid;
	size_t i;
	int r;

	if (check_usable(b, err) == -1)
		return -1;
	r = lookup(b, name, &domid, err);
	if (r == -1)
		return -1;
	if (r == 0)
		return rrerr_set(err, RRERR_NOT_FOUND, NULL,
		    "no domain named %s", name);
	for (i = 0; i < nnics; i++) {
		snprintf(dev, sizeof(dev), "vif%u.%zu", domid, i);
		if (backend_netdev_exists(dev, NULL))
			snprintf(nics[i].host_dev, sizeof(nics[i].host_dev),
			    "%s", dev);
	}
	backend_arp_fill(nics, nnics);
	return 0;
}

/*
 * Follow a running domain of ours found by list() (after a restart, or
 * one a launch did not finish): events, and its console when its log is
 * known.  Failures only mean less is followed; list() goes on.
 */
static void
adopt(struct backend *b, uint32_t domid, const char *name,
    const char *console_log)
{
	struct rrerr err;
	struct xen_console *r;
	struct xdom *d;
	bool exists;

	d = track(b, name, domid, &exists);
	if (d == NULL)
		return;
	/* The console first: a shutdown handled next reads it to the end. */
	if (console_log != NULL && console_log[0] == '/') {
		r = attach_console(b, domid, console_log, 0, &err);
		pthread_mutex_lock(&b->lock);
		d->reader = r;
		pthread_mutex_unlock(&b->lock);
	}
	if (enable_events(b, d, &err) == -1) {
		release(b, d, true);
		return;
	}
	release(b, d, false);
}

/*
 * Fill out from domain info when it is owner's.  Returns 1 when it is, 0
 * when not (or it vanished).  Reads rumprund's keys.
 */
static int
our_domain(struct backend *b, const libxl_dominfo *info, const char *owner,
    struct backend_domain *out, char **console_log)
{
	char *name, *o = NULL, *inst = NULL, *gen = NULL;
	unsigned int g;
	int ours = 0;

	*console_log = NULL;
	if (info->domid == 0)
		return 0;
	name = libxl_domid_to_name(b->ctx, info->domid);
	xlerr_reset();
	if (name == NULL || !xen_cfg_name_is_ours(name, owner) ||
	    strlen(name) >= sizeof(out->domain_name))
		goto done;
	o = xs_get(b, info->domid, XEN_CFG_KEY_OWNER);
	inst = xs_get(b, info->domid, XEN_CFG_KEY_INSTANCE);
	gen = xs_get(b, info->domid, XEN_CFG_KEY_GENERATION);
	if (o == NULL || inst == NULL || gen == NULL || strcmp(o, owner) != 0 ||
	    inst[0] == '\0' || strlen(inst) >= sizeof(out->instance) ||
	    xen_cfg_parse_generation(gen, &g) == -1)
		goto done;
	memset(out, 0, sizeof(*out));
	snprintf(out->domain_name, sizeof(out->domain_name), "%s", name);
	snprintf(out->instance, sizeof(out->instance), "%s", inst);
	out->generation = g;
	/*
	 * A domain that shut down is still "running" for the engine: its
	 * SHUTDOWN or CRASHED event follows (after its console is read),
	 * then the domain is destroyed.  Dying is gone.
	 */
	out->running = !info->dying;
	/*
	 * libxl reports no pause or unpause as an event: a domain paused
	 * behind rumprund's back (xl pause) is seen here, at the next list.
	 */
	out->paused = out->running && info->paused && !info->shutdown;
	*console_log = xs_get(b, info->domid, XEN_CFG_KEY_CONSOLE);
	ours = 1;
done:
	free(name);
	free(o);
	free(inst);
	free(gen);
	return ours;
}

static int
xen_list(struct backend *b, const char *owner, struct backend_domain **out,
    size_t *n, struct rrerr *err)
{
	struct backend_domain *list = NULL;
	libxl_dominfo *infos;
	char *console_log;
	int ninfos = 0, i;
	size_t k = 0;

	*out = NULL;
	*n = 0;
	if (check_usable(b, err) == -1)
		return -1;
	if (owner == NULL)
		owner = b->owner;
	xlerr_reset();
	infos = libxl_list_domain(b->ctx, &ninfos);
	if (infos == NULL)
		return xl_fail(err, RRERR_INTERNAL, ERROR_FAIL,
		    "cannot list domains");
	xlerr_reset();
	list = calloc(ninfos > 0 ? (size_t)ninfos : 1, sizeof(*list));
	if (list == NULL) {
		libxl_dominfo_list_free(infos, ninfos);
		return rrerr_set(err, RRERR_INTERNAL, NULL, "out of memory");
	}
	for (i = 0; i < ninfos; i++) {
		if (our_domain(b, &infos[i], owner, &list[k], &console_log) !=
		    1)
			continue;
		if (list[k].running && strcmp(owner, b->owner) == 0)
			adopt(b, infos[i].domid, list[k].domain_name,
			    console_log);
		free(console_log);
		k++;
	}
	libxl_dominfo_list_free(infos, ninfos);
	*out = list;
	*n = k;
	return 0;
}

/* The number in the sysfs file dir/name into *v; false when unreadable. */
static bool
read_sysfs_u64(const char *dir, const char *name, uint64_t *v)
{
	char path[640], buf[32];
	unsigned long long n;
	char *end;
	ssize_t len;
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return false;
	len = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (len <= 0)
		return false;
	buf[len] = '\0';
	errno = 0;
	n = strtoull(buf, &end, 10);
	if (errno != 0 || end == buf)
		return false;
	*v = n;
	return true;
}

/* *sum += v, where *sum may still be BACKEND_STATS_NONE. */
static void
add_counter(uint64_t *sum, uint64_t v)
{
	if (*sum == BACKEND_STATS_NONE)
		*sum = 0;
	*sum += v;
}

/*
 * The block and network counters of domid, from the host side of its
 * devices: blkback's statistics of each vbd-DOMID-DEVID (sectors of 512
 * bytes) and netback's vifDOMID.N interfaces (the host's rx is the
 * guest's tx).  Sysfs reads, no hypercall; a device not there (no disk, no
 * NIC, a driver domain other than dom0) leaves the fields unknown.
 */
static void
device_stats(uint32_t domid, struct backend_stats *st)
{
	char dir[512], prefix[32];
	struct dirent *de;
	uint64_t v;
	DIR *d;
	int i;

	snprintf(prefix, sizeof(prefix), "vbd-%u-", (unsigned int)domid);
	if ((d = opendir("/sys/bus/xen-backend/devices")) != NULL) {
		while ((de = readdir(d)) != NULL) {
			if (strncmp(de->d_name, prefix, strlen(prefix)) != 0)
				continue;
			snprintf(dir, sizeof(dir),
			    "/sys/bus/xen-backend/devices/%s/statistics",
			    de->d_name);
			if (read_sysfs_u64(dir, "rd_sect", &v))
				add_counter(&st->block_rd_bytes, v * 512);
			if (read_sysfs_u64(dir, "rd_req", &v))
				add_counter(&st->block_rd_reqs, v);
			if (read_sysfs_u64(dir, "wr_sect", &v))
				add_counter(&st->block_wr_bytes, v * 512);
			if (read_sysfs_u64(dir, "wr_req", &v))
				add_counter(&st->block_wr_reqs, v);
		}
		closedir(d);
	}
	for (i = 0; i < SPEC_NICS_MAX; i++) {
		snprintf(dir, sizeof(dir), "/sys/class/net/vif%u.%d/statistics",
		    (unsigned int)domid, i);
		if (read_sysfs_u64(dir, "tx_bytes", &v))
			add_counter(&st->net_rx_bytes, v);
		if (read_sysfs_u64(dir, "tx_packets", &v))
			add_counter(&st->net_rx_packets, v);
		if (read_sysfs_u64(dir, "rx_bytes", &v))
			add_counter(&st->net_tx_bytes, v);
		if (read_sysfs_u64(dir, "rx_packets", &v))
			add_counter(&st->net_tx_packets, v);
	}
}

/*
 * CPU time and memory of every domain from one libxl_list_domain() (the
 * same hypercall as libxl_domain_info(), for all domains); block and
 * network counters from sysfs (device_stats()).  No host RSS on Xen: a
 * guest's memory is its own.
 */
static int
xen_stats(struct backend *b, const char *prefix, struct backend_stats **out,
    size_t *n, struct rrerr *err)
{
	struct backend_stats *list = NULL;
	libxl_dominfo *infos;
	char *name;
	int ninfos = 0, i;
	size_t k = 0;

	*out = NULL;
	*n = 0;
	if (check_usable(b, err) == -1)
		return -1;
	xlerr_reset();
	infos = libxl_list_domain(b->ctx, &ninfos);
	if (infos == NULL)
		return xl_fail(err, RRERR_INTERNAL, ERROR_FAIL,
		    "cannot list domains");
	xlerr_reset();
	list = calloc(ninfos > 0 ? (size_t)ninfos : 1, sizeof(*list));
	if (list == NULL) {
		libxl_dominfo_list_free(infos, ninfos);
		return rrerr_set(err, RRERR_INTERNAL, NULL, "out of memory");
	}
	for (i = 0; i < ninfos; i++) {
		if (infos[i].domid == 0 || infos[i].dying)
			continue;
		name = libxl_domid_to_name(b->ctx, infos[i].domid);
		xlerr_reset();
		if (!backend_domain_has_prefix(name, prefix) ||
		    strlen(name) >= sizeof(list[k].domain_name)) {
			free(name);
			continue;
		}
		backend_stats_init(&list[k]);
		snprintf(list[k].domain_name, sizeof(list[k].domain_name), "%s",
		    name);
		free(name);
		list[k].cpu_ns = infos[i].cpu_time;
		list[k].memory_bytes = infos[i].current_memkb * 1024;
		device_stats(infos[i].domid, &list[k]);
		k++;
	}
	libxl_dominfo_list_free(infos, ninfos);
	*out = list;
	*n = k;
	return 0;
}

const struct backend_ops backend_xen_ops = {
	.name = "xen",
	.open = xen_open,
	.launch = xen_launch,
	.shutdown = xen_shutdown,
	.destroy = xen_destroy,
	.resume = xen_resume,
	.list = xen_list,
	.close = xen_close,
	.stats = xen_stats,
	.addresses = xen_addresses,
	.pause = xen_pause,
};

#endif /* HAVE_XEN */
