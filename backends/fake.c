/*
 * fake: the in-memory backend for unit tests (see fake.h).
 *
 * Two locks.  state_lock guards the "hypervisor": domains, failures,
 * counters, the event queue and the list of open backends.  deliver_lock
 * (recursive) is held while events are handed to callbacks, and by
 * close() while it unlinks a backend, so that no callback runs after
 * close() returns; it is recursive so that a callback may call backend
 * operations, which deliver their own events.  Every change queues its
 * events under state_lock; deliver() then drains the queue in order.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backend.h"
#include "fake.h"

struct backend {
	struct backend *next;
	char *owner; /* NULL: every domain's events */
	backend_event_fn *cb;
	void *cb_arg;
};

struct dom {
	struct dom *next;
	struct fake_domain d;
};

struct event {
	struct event *next;
	char owner[128]; /* "" for (dis)connect: to every backend */
	struct backend_event ev;
};

struct failure {
	unsigned int n;
	enum rrerr_code code;
	char message[RRERR_MESSAGE_MAX];
};

static pthread_mutex_t state_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t deliver_lock = PTHREAD_RECURSIVE_MUTEX_INITIALIZER_NP;
static struct backend *backends;
static struct dom *doms;
static struct event *queue, **queue_tail = &queue;
static size_t nqueued;
static struct failure failures[FAKE_OP_COUNT];
static unsigned int calls[FAKE_OP_COUNT];
static bool disconnected;
static bool hold;
static bool stall_list; /* list() waits after its snapshot */
static pthread_cond_t stall_cond = PTHREAD_COND_INITIALIZER;
static bool no_started;
static bool stall_stats; /* stats() waits while it is set */

static char *
dup_str(const char *s)
{
	return s != NULL ? strdup(s) : NULL;
}

static struct dom *
find_locked(const char *name)
{
	struct dom *d;

	for (d = doms; d != NULL; d = d->next)
		if (strcmp(d->d.domain_name, name) == 0)
			return d;
	return NULL;
}

static void
dom_free(struct dom *d)
{
	if (d == NULL)
		return;
	fake_domain_clear(&d->d);
	free(d);
}

static void
unlink_locked(struct dom *d)
{
	struct dom **pp;

	for (pp = &doms; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == d) {
			*pp = d->next;
			return;
		}
	}
}

/* Queue an event; owner NULL: for every backend. */
static void
queue_locked(const char *owner, enum backend_event_type type, const char *name,
    const char *detail)
{
	struct event *e;

	e = calloc(1, sizeof(*e));
	if (e == NULL)
		return;
	snprintf(e->owner, sizeof(e->owner), "%s", owner != NULL ? owner : "");
	e->ev.type = type;
	snprintf(e->ev.domain_name, sizeof(e->ev.domain_name), "%s",
	    name != NULL ? name : "");
	snprintf(e->ev.detail, sizeof(e->ev.detail), "%s",
	    detail != NULL ? detail : "");
	*queue_tail = e;
	queue_tail = &e->next;
	nqueued++;
}

static struct event *
pop_locked(void)
{
	struct event *e = queue;

	if (e != NULL) {
		queue = e->next;
		if (queue == NULL)
			queue_tail = &queue;
		nqueued--;
	}
	return e;
}

/* Deliver the queued events (all of them when force, else unless held). */
static size_t
deliver(bool force)
{
	struct event *e;
	struct backend *b;
	size_t n = 0;

	pthread_mutex_lock(&deliver_lock);
	for (;;) {
		pthread_mutex_lock(&state_lock);
		e = (hold && !force) ? NULL : pop_locked();
		pthread_mutex_unlock(&state_lock);
		if (e == NULL)
			break;
		/*
		 * backends changes only under deliver_lock (held), so it
		 * can be walked without state_lock.
		 */
		for (b = backends; b != NULL; b = b->next) {
			if (e->owner[0] != '\0' && b->owner != NULL &&
			    strcmp(b->owner, e->owner) != 0)
				continue;
			if (b->cb != NULL)
				b->cb(b->cb_arg, &e->ev);
		}
		free(e);
		n++;
	}
	pthread_mutex_unlock(&deliver_lock);
	return n;
}

/*
 * Count a call of op and decide whether it fails: -1 with err when an
 * injected failure or the lost connection says so.
 */
static int
enter_locked(enum fake_op op, struct rrerr *err)
{
	struct failure *f = &failures[op];

	calls[op]++;
	if (f->n > 0) {
		f->n--;
		return rrerr_set(err, f->code, NULL, "%s", f->message);
	}
	if (disconnected)
		return rrerr_set(err, RRERR_UNAVAILABLE, NULL,
		    "libvirt is not reachable: fake hypervisor disconnected");
	return 0;
}

static struct backend *
fake_open(const struct backend_config *cfg, backend_event_fn *cb, void *cb_arg,
    struct rrerr *err)
{
	struct backend *b;
	int rc;

	pthread_mutex_lock(&state_lock);
	rc = enter_locked(FAKE_OP_OPEN, err);
	pthread_mutex_unlock(&state_lock);
	if (rc == -1)
		return NULL;
	b = calloc(1, sizeof(*b));
	if (b == NULL) {
		rrerr_set(err, RRERR_INTERNAL, NULL, "out of memory");
		return NULL;
	}
	b->owner = dup_str(cfg != NULL ? cfg->owner : NULL);
	if (cfg != NULL && cfg->owner != NULL && b->owner == NULL) {
		free(b);
		rrerr_set(err, RRERR_INTERNAL, NULL, "out of memory");
		return NULL;
	}
	b->cb = cb;
	b->cb_arg = cb_arg;
	pthread_mutex_lock(&deliver_lock);
	b->next = backends;
	backends = b;
	pthread_mutex_unlock(&deliver_lock);
	return b;
}

static void
fake_close(struct backend *b)
{
	struct backend **pp;

	if (b == NULL)
		return;
	pthread_mutex_lock(&deliver_lock);
	for (pp = &backends; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == b) {
			*pp = b->next;
			break;
		}
	}
	pthread_mutex_unlock(&deliver_lock);
	free(b->owner);
	free(b);
}

/* Create (or touch) the console log, as QEMU does at start. */
static int
touch(const char *path)
{
	int fd;

	if (path == NULL)
		return 0;
	fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
	if (fd == -1)
		return -1;
	close(fd);
	return 0;
}

static int
fake_launch(struct backend *b, const struct backend_launch *l,
    struct rrerr *err)
{
	const struct spec *spec = l->spec;
	struct dom *d = NULL;
	size_t i;
	int rc = -1;

	(void)b;
	pthread_mutex_lock(&state_lock);
	if (enter_locked(FAKE_OP_LAUNCH, err) == -1)
		goto cleanup;
	if (find_locked(l->domain_name) != NULL) {
		rrerr_set(err, RRERR_CONFLICT, NULL,
		    "a domain named %s already exists", l->domain_name);
		goto cleanup;
	}
	if (touch(l->console_log) == -1) {
		rrerr_set(err, RRERR_INTERNAL, NULL,
		    "libvirt could not start the domain: cannot open %s: %s",
		    l->console_log, strerror(errno));
		goto cleanup;
	}
	d = calloc(1, sizeof(*d));
	if (d == NULL) {
		rrerr_set(err, RRERR_INTERNAL, NULL, "out of memory");
		goto cleanup;
	}
	snprintf(d->d.domain_name, sizeof(d->d.domain_name), "%s",
	    l->domain_name);
	snprintf(d->d.owner, sizeof(d->d.owner), "%s",
	    l->owner != NULL ? l->owner : "");
	snprintf(d->d.instance, sizeof(d->d.instance), "%s",
	    spec->name != NULL ? spec->name : "");
	d->d.generation = l->generation;
	d->d.running = true;
	d->d.paused = spec->paused;
	d->d.memory_mib = spec->memory_mib;
	d->d.vcpus = spec->vcpus;
	d->d.nblk = spec->nblk;
	d->d.nnics = spec->nnics;
	for (i = 0; i < spec->nnics && i < SPEC_NICS_MAX; i++)
		if (l->macs != NULL && l->macs[i] != NULL)
			snprintf(d->d.macs[i], sizeof(d->d.macs[i]), "%s",
			    l->macs[i]);
	d->d.image = dup_str(spec->image);
	d->d.guest_config = dup_str(l->guest_config);
	d->d.console_log = dup_str(l->console_log);
	if ((spec->image != NULL && d->d.image == NULL) ||
	    (l->guest_config != NULL && d->d.guest_config == NULL) ||
	    (l->console_log != NULL && d->d.console_log == NULL)) {
		rrerr_set(err, RRERR_INTERNAL, NULL, "out of memory");
		goto cleanup;
	}
	d->next = doms;
	doms = d;
	d = NULL;
	if (!no_started)
		queue_locked(l->owner, BACKEND_EVENT_STARTED, l->domain_name,
		    spec->paused ? "started (paused)" : "started");
	rc = 0;
cleanup:
	pthread_mutex_unlock(&state_lock);
	dom_free(d);
	if (rc == 0)
		deliver(false);
	return rc;
}

static int
fake_shutdown(struct backend *b, const char *name, struct rrerr *err)
{
	int rc = -1;

	(void)b;
	pthread_mutex_lock(&state_lock);
	if (enter_locked(FAKE_OP_SHUTDOWN, err) == -1)
		goto cleanup;
	if (find_locked(name) == NULL) {
		rrerr_set(err, RRERR_NOT_FOUND, NULL, "no domain named %s",
		    name);
		goto cleanup;
	}
	rc = 0;
cleanup:
	pthread_mutex_unlock(&state_lock);
	return rc;
}

static int
fake_destroy(struct backend *b, const char *name, struct rrerr *err)
{
	struct dom *d = NULL;
	int rc = -1;

	(void)b;
	pthread_mutex_lock(&state_lock);
	if (enter_locked(FAKE_OP_DESTROY, err) == -1)
		goto cleanup;
	d = find_locked(name);
	if (d != NULL) {
		unlink_locked(d);
		queue_locked(d->d.owner, BACKEND_EVENT_STOPPED, name,
		    "stopped: destroyed");
	}
	rc = 0;
cleanup:
	pthread_mutex_unlock(&state_lock);
	dom_free(d);
	if (rc == 0)
		deliver(false);
	return rc;
}

/*
 * Pause (paused true, as op FAKE_OP_PAUSE) or resume (false,
 * FAKE_OP_RESUME) the domain name: an event when its state changes, none
 * when it was so already.
 */
static int
set_paused(enum fake_op op, const char *name, bool paused, struct rrerr *err)
{
	struct dom *d;
	int rc = -1;

	pthread_mutex_lock(&state_lock);
	if (enter_locked(op, err) == -1)
		goto cleanup;
	d = find_locked(name);
	if (d == NULL) {
		rrerr_set(err, RRERR_NOT_FOUND, NULL, "no domain named %s",
		    name);
		goto cleanup;
	}
	if (d->d.paused != paused)
		queue_locked(d->d.owner,
		    paused ? BACKEND_EVENT_PAUSED : BACKEND_EVENT_RESUMED, name,
		    paused ? "suspended: paused" : "resumed");
	d->d.paused = paused;
	rc = 0;
cleanup:
	pthread_mutex_unlock(&state_lock);
	if (rc == 0)
		deliver(false);
	return rc;
}

static int
fake_resume(struct backend *b, const char *name, struct rrerr *err)
{
	(void)b;
	return set_paused(FAKE_OP_RESUME, name, false, err);
}

static int
fake_pause(struct backend *b, const char *name, struct rrerr *err)
{
	(void)b;
	return set_paused(FAKE_OP_PAUSE, name, true, err);
}

/* The NICs of the domain, matched by MAC: see fake_set_addr(). */
static int
fake_addresses(struct backend *b, const char *name,
    struct backend_nic_info *nics, size_t nnics, struct rrerr *err)
{
	struct backend_nic_info *n;
	struct dom *d;
	size_t i, k;
	int rc = -1;

	(void)b;
	pthread_mutex_lock(&state_lock);
	if (enter_locked(FAKE_OP_ADDRESSES, err) == -1)
		goto cleanup;
	d = find_locked(name);
	if (d == NULL) {
		rrerr_set(err, RRERR_NOT_FOUND, NULL, "no domain named %s",
		    name);
		goto cleanup;
	}
	for (i = 0; i < d->d.nnics; i++) {
		for (k = 0, n = NULL; k < nnics && n == NULL; k++)
			if (strcmp(nics[k].mac, d->d.macs[i]) == 0)
				n = &nics[k];
		if (n == NULL)
			continue;
		snprintf(n->host_dev, sizeof(n->host_dev), "ftap%zu", i);
		if (d->d.addrs[i][0] == '\0')
			continue;
		snprintf(n->addrs[0].addr, sizeof(n->addrs[0].addr), "%s",
		    d->d.addrs[i]);
		n->addrs[0].prefix = 24;
		n->addrs[0].source = "lease";
		n->naddrs = 1;
	}
	rc = 0;
cleanup:
	pthread_mutex_unlock(&state_lock);
	return rc;
}

static int
fake_list(struct backend *b, const char *owner, struct backend_domain **out,
    size_t *n, struct rrerr *err)
{
	struct backend_domain *list = NULL;
	struct dom *d;
	size_t k = 0, count = 0;
	int rc = -1;

	*out = NULL;
	*n = 0;
	if (owner == NULL)
		owner = b->owner != NULL ? b->owner : "";
	pthread_mutex_lock(&state_lock);
	if (enter_locked(FAKE_OP_LIST, err) == -1)
		goto cleanup;
	for (d = doms; d != NULL; d = d->next)
		count++;
	list = calloc(count > 0 ? count : 1, sizeof(*list));
	if (list == NULL) {
		rrerr_set(err, RRERR_INTERNAL, NULL, "out of memory");
		goto cleanup;
	}
	for (d = doms; d != NULL; d = d->next) {
		if (strcmp(d->d.owner, owner) != 0)
			continue;
		snprintf(list[k].domain_name, sizeof(list[k].domain_name), "%s",
		    d->d.domain_name);
		snprintf(list[k].instance, sizeof(list[k].instance), "%s",
		    d->d.instance);
		list[k].generation = d->d.generation;
		list[k].running = d->d.running;
		snprintf(list[k].fault, sizeof(list[k].fault), "%s",
		    d->d.fault);
		list[k].paused = d->d.paused && d->d.fault[0] == '\0';
		k++;
	}
	*out = list;
	*n = k;
	list = NULL;
	rc = 0;
	/* The snapshot is taken; the answer comes once the test says. */
	while (stall_list)
		pthread_cond_wait(&stall_cond, &state_lock);
cleanup:
	pthread_mutex_unlock(&state_lock);
	free(list);
	return rc;
}

static int
fake_stats(struct backend *b, const char *prefix, struct backend_stats **out,
    size_t *n, struct rrerr *err)
{
	struct backend_stats *list = NULL;
	struct dom *d;
	size_t k = 0, count = 0;
	int rc = -1;

	(void)b;
	*out = NULL;
	*n = 0;
	pthread_mutex_lock(&state_lock);
	while (stall_stats)
		pthread_cond_wait(&stall_cond, &state_lock);
	if (enter_locked(FAKE_OP_STATS, err) == -1)
		goto cleanup;
	for (d = doms; d != NULL; d = d->next)
		count++;
	if ((list = calloc(count > 0 ? count : 1, sizeof(*list))) == NULL) {
		rrerr_set(err, RRERR_INTERNAL, NULL, "out of memory");
		goto cleanup;
	}
	for (d = doms; d != NULL; d = d->next) {
		if (!d->d.running ||
		    !backend_domain_has_prefix(d->d.domain_name, prefix))
			continue;
		backend_stats_init(&list[k]);
		snprintf(list[k].domain_name, sizeof(list[k].domain_name), "%s",
		    d->d.domain_name);
		list[k].cpu_ns = d->d.cpu_ns;
		list[k].memory_bytes = (uint64_t)d->d.memory_mib << 20;
		list[k].block_rd_bytes = list[k].block_rd_reqs = 0;
		list[k].block_wr_bytes = list[k].block_wr_reqs = 0;
		list[k].net_rx_bytes = list[k].net_rx_packets = 0;
		list[k].net_tx_bytes = list[k].net_tx_packets = 0;
		k++;
	}
	*out = list;
	*n = k;
	list = NULL;
	rc = 0;
cleanup:
	pthread_mutex_unlock(&state_lock);
	free(list);
	return rc;
}

const struct backend_ops backend_fake_ops = {
	.name = "fake",
	.open = fake_open,
	.launch = fake_launch,
	.shutdown = fake_shutdown,
	.destroy = fake_destroy,
	.resume = fake_resume,
	.list = fake_list,
	.close = fake_close,
	.stats = fake_stats,
	.addresses = fake_addresses,
	.pause = fake_pause,
};

/* The control API. */

void
fake_reset(void)
{
	struct dom *d;
	struct event *e;

	pthread_mutex_lock(&state_lock);
	while ((d = doms) != NULL) {
		doms = d->next;
		dom_free(d);
	}
	while ((e = pop_locked()) != NULL)
		free(e);
	memset(failures, 0, sizeof(failures));
	memset(calls, 0, sizeof(calls));
	disconnected = false;
	hold = false;
	no_started = false;
	stall_list = false;
	stall_stats = false;
	pthread_cond_broadcast(&stall_cond);
	pthread_mutex_unlock(&state_lock);
}

void
fake_fail(enum fake_op op, unsigned int n, enum rrerr_code code,
    const char *message)
{
	static const char *const names[FAKE_OP_COUNT] = {
		[FAKE_OP_OPEN] = "open",
		[FAKE_OP_LAUNCH] = "launch",
		[FAKE_OP_SHUTDOWN] = "shutdown",
		[FAKE_OP_DESTROY] = "destroy",
		[FAKE_OP_RESUME] = "resume",
		[FAKE_OP_LIST] = "list",
		[FAKE_OP_STATS] = "stats",
		[FAKE_OP_ADDRESSES] = "addresses",
		[FAKE_OP_PAUSE] = "pause",
	};

	if ((unsigned int)op >= FAKE_OP_COUNT)
		return;
	pthread_mutex_lock(&state_lock);
	failures[op].n = n;
	failures[op].code = code;
	if (message != NULL)
		snprintf(failures[op].message, sizeof(failures[op].message),
		    "%s", message);
	else
		snprintf(failures[op].message, sizeof(failures[op].message),
		    "fake %s failure (injected)", names[op]);
	pthread_mutex_unlock(&state_lock);
}

unsigned int
fake_calls(enum fake_op op)
{
	unsigned int n;

	if ((unsigned int)op >= FAKE_OP_COUNT)
		return 0;
	pthread_mutex_lock(&state_lock);
	n = calls[op];
	pthread_mutex_unlock(&state_lock);
	return n;
}

int
fake_set_addr(const char *name, size_t nic, const char *addr)
{
	struct dom *d;
	int rc = -1;

	pthread_mutex_lock(&state_lock);
	d = find_locked(name);
	if (d != NULL && nic < d->d.nnics) {
		snprintf(d->d.addrs[nic], sizeof(d->d.addrs[nic]), "%s", addr);
		rc = 0;
	}
	pthread_mutex_unlock(&state_lock);
	return rc;
}

size_t
fake_ndomains(void)
{
	struct dom *d;
	size_t n = 0;

	pthread_mutex_lock(&state_lock);
	for (d = doms; d != NULL; d = d->next)
		n++;
	pthread_mutex_unlock(&state_lock);
	return n;
}

int
fake_domain_get(const char *name, struct fake_domain *out)
{
	struct dom *d;
	int rc = -1;

	memset(out, 0, sizeof(*out));
	pthread_mutex_lock(&state_lock);
	d = find_locked(name);
	if (d != NULL) {
		*out = d->d;
		out->image = dup_str(d->d.image);
		out->guest_config = dup_str(d->d.guest_config);
		out->console_log = dup_str(d->d.console_log);
		rc = 0;
	}
	pthread_mutex_unlock(&state_lock);
	return rc;
}

void
fake_domain_clear(struct fake_domain *d)
{
	if (d == NULL)
		return;
	free(d->image);
	free(d->guest_config);
	free(d->console_log);
	d->image = NULL;
	d->guest_config = NULL;
	d->console_log = NULL;
}

int
fake_add(const char *owner, const char *domain_name, const char *instance,
    unsigned int generation, bool running)
{
	struct dom *d;
	int rc = -1;

	pthread_mutex_lock(&state_lock);
	if (find_locked(domain_name) != NULL)
		goto cleanup;
	d = calloc(1, sizeof(*d));
	if (d == NULL)
		goto cleanup;
	snprintf(d->d.domain_name, sizeof(d->d.domain_name), "%s", domain_name);
	snprintf(d->d.owner, sizeof(d->d.owner), "%s",
	    owner != NULL ? owner : "");
	snprintf(d->d.instance, sizeof(d->d.instance), "%s",
	    instance != NULL ? instance : "");
	d->d.generation = generation;
	d->d.running = running;
	d->next = doms;
	doms = d;
	rc = 0;
cleanup:
	pthread_mutex_unlock(&state_lock);
	return rc;
}

int
fake_end(const char *name, enum backend_event_type type, const char *detail)
{
	struct dom *d;

	pthread_mutex_lock(&state_lock);
	d = find_locked(name);
	if (d != NULL) {
		unlink_locked(d);
		queue_locked(d->d.owner, type, name, detail);
	}
	pthread_mutex_unlock(&state_lock);
	if (d == NULL)
		return -1;
	dom_free(d);
	deliver(false);
	return 0;
}

int
fake_crash(const char *name)
{
	return fake_end(name, BACKEND_EVENT_CRASHED, "crashed");
}

int
fake_fault(const char *name, const char *detail)
{
	struct dom *d;

	pthread_mutex_lock(&state_lock);
	d = find_locked(name);
	if (d != NULL) {
		d->d.paused = true;
		snprintf(d->d.fault, sizeof(d->d.fault), "%s", detail);
		queue_locked(d->d.owner, BACKEND_EVENT_FAULT, name, detail);
	}
	pthread_mutex_unlock(&state_lock);
	if (d == NULL)
		return -1;
	deliver(false);
	return 0;
}

int
fake_console(const char *name, const char *text)
{
	struct dom *d;
	char *path = NULL;
	size_t len, off;
	ssize_t w;
	int fd, rc = -1;

	pthread_mutex_lock(&state_lock);
	d = find_locked(name);
	if (d != NULL && d->d.console_log != NULL)
		path = strdup(d->d.console_log);
	pthread_mutex_unlock(&state_lock);
	if (path == NULL) {
		errno = ENOENT;
		return -1;
	}
	fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
	if (fd == -1)
		goto cleanup;
	len = strlen(text);
	for (off = 0; off < len; off += (size_t)w) {
		w = write(fd, text + off, len - off);
		if (w == -1 && errno == EINTR) {
			w = 0;
			continue;
		}
		if (w <= 0)
			goto cleanup;
	}
	rc = 0;
cleanup:
	if (fd != -1)
		close(fd);
	free(path);
	return rc;
}

void
fake_disconnect(void)
{
	pthread_mutex_lock(&state_lock);
	disconnected = true;
	queue_locked(NULL, BACKEND_EVENT_DISCONNECTED, NULL,
	    "fake hypervisor disconnected");
	pthread_mutex_unlock(&state_lock);
	deliver(false);
}

void
fake_reconnect(void)
{
	pthread_mutex_lock(&state_lock);
	disconnected = false;
	queue_locked(NULL, BACKEND_EVENT_RECONNECTED, NULL,
	    "fake hypervisor reconnected");
	pthread_mutex_unlock(&state_lock);
	deliver(false);
}

void
fake_set_emit_started(bool on)
{
	pthread_mutex_lock(&state_lock);
	no_started = !on;
	pthread_mutex_unlock(&state_lock);
}

void
fake_stall_list(bool on)
{
	pthread_mutex_lock(&state_lock);
	stall_list = on;
	pthread_cond_broadcast(&stall_cond);
	pthread_mutex_unlock(&state_lock);
}

void
fake_hold_events(bool on)
{
	pthread_mutex_lock(&state_lock);
	hold = on;
	pthread_mutex_unlock(&state_lock);
}

size_t
fake_release_events(void)
{
	return deliver(true);
}

size_t
fake_held_events(void)
{
	size_t n;

	pthread_mutex_lock(&state_lock);
	n = nqueued;
	pthread_mutex_unlock(&state_lock);
	return n;
}

int
fake_set_cpu(const char *name, uint64_t cpu_ns)
{
	struct dom *d;
	int rc = -1;

	pthread_mutex_lock(&state_lock);
	if ((d = find_locked(name)) != NULL) {
		d->d.cpu_ns = cpu_ns;
		rc = 0;
	}
	pthread_mutex_unlock(&state_lock);
	return rc;
}

void
fake_stall_stats(bool on)
{
	pthread_mutex_lock(&state_lock);
	stall_stats = on;
	pthread_cond_broadcast(&stall_cond);
	pthread_mutex_unlock(&state_lock);
}

int
fake_set_paused(const char *name, bool paused, bool emit)
{
	struct dom *d;

	pthread_mutex_lock(&state_lock);
	if ((d = find_locked(name)) == NULL) {
		pthread_mutex_unlock(&state_lock);
		return -1;
	}
	if (emit && d->d.paused != paused)
		queue_locked(d->d.owner,
		    paused ? BACKEND_EVENT_PAUSED : BACKEND_EVENT_RESUMED, name,
		    paused ? "suspended: paused" : "resumed");
	d->d.paused = paused;
	pthread_mutex_unlock(&state_lock);
	deliver(false);
	return 0;
}
