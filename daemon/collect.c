/*
 * collect: the guests' counters, one collection at a time (see collect.h).
 *
 * A collection is one uv_work per connected backend that has a stats op;
 * each worker touches only its job (the backend is thread-safe and lives
 * until engine_close(), which runs once the loop has no work left).  When
 * the last job is back the snapshot replaces the cached one and the
 * waiters are answered in the order they came.  A waiter that wants a
 * snapshot newer than the running collection began (since_ms after its
 * start) waits for the next one, started when this one ends.
 *
 * A hypervisor that does not answer (a libvirtd stuck in a job) must not
 * hold /metrics: after COLLECT_WAIT_MS the waiters are answered with a
 * snapshot without the guests of the backends still being asked (their
 * err says so), and so is every request until that collection ends.  The
 * timer is the collection's own, closed when it ends.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include <uv.h>

#include "collect.h"
#include "engine.h"
#include "instance.h"
#include "log.h"

struct cwaiter {
	int64_t since_ms;
	collect_fn *fn;
	void *arg;
	TAILQ_ENTRY(cwaiter) link;
};

struct cjob {
	uv_work_t req;
	struct collect *c;
	int platform;
	struct backend *b;
	const struct backend_ops *ops;
	char prefix[BACKEND_DOMAIN_NAME_MAX];
	struct backend_stats *out;
	size_t n;
	int rv;
	struct rrerr err;
};

struct collect {
	struct engine *e;
	uv_loop_t *loop;   /* the engine's: its jobs and timer */
	uv_timer_t *timer; /* of the running collection, or NULL */
	bool late;	   /* it ran out of COLLECT_WAIT_MS */
	bool busy[SPEC_PLATFORMS_LAUNCHED]; /* its jobs still running */
	struct collect_snapshot snap;	    /* the cached one */
	bool have_snap;
	uint64_t snap_mono_ms;	      /* its time on the monotonic clock */
	unsigned int pending;	      /* jobs of the running collection */
	int64_t started_ms;	      /* of the running collection */
	struct collect_snapshot next; /* being filled */
	TAILQ_HEAD(, cwaiter) waiters;
};

static void start(struct collect *);
static void answer_late(struct collect *);

struct collect *
collect_new(struct engine *e, uv_loop_t *loop)
{
	struct collect *c;

	if ((c = calloc(1, sizeof(*c))) == NULL)
		return NULL;
	c->e = e;
	c->loop = loop;
	TAILQ_INIT(&c->waiters);
	return c;
}

void
collect_free(struct collect *c)
{
	struct cwaiter *w;

	if (c == NULL)
		return;
	while ((w = TAILQ_FIRST(&c->waiters)) != NULL) {
		TAILQ_REMOVE(&c->waiters, w, link);
		free(w);
	}
	free(c->snap.stats);
	free(c->next.stats);
	free(c);
}

/* The age is measured on the monotonic clock: a clock step cannot pin it. */
static bool
fresh(const struct collect *c, int64_t since_ms)
{
	return c->have_snap && c->snap.time_ms >= since_ms &&
	    uv_hrtime() / 1000000 - c->snap_mono_ms <= COLLECT_MAX_AGE_MS;
}

/* Worker thread: one backend's counters. */
static void
run(uv_work_t *req)
{
	struct cjob *j = req->data;

	rrerr_clear(&j->err);
	j->rv = j->ops->stats(j->b, j->prefix, &j->out, &j->n, &j->err);
}

static void
timer_closed(uv_handle_t *h)
{
	free(h);
}

/* The collection has ended: keep it and answer whom it satisfies. */
static void
finish(struct collect *c)
{
	struct cwaiter *w, *nw;
	bool again = false;

	if (c->timer != NULL) {
		uv_close((uv_handle_t *)c->timer, timer_closed);
		c->timer = NULL;
	}
	c->late = false;
	log_debug("counters of %zu guests read in %lld ms", c->next.nstats,
	    (long long)(instance_now_ms() - c->started_ms));
	free(c->snap.stats);
	c->snap = c->next;
	c->snap.time_ms = instance_now_ms();
	c->snap_mono_ms = uv_hrtime() / 1000000;
	c->have_snap = true;
	memset(&c->next, 0, sizeof(c->next));
	for (w = TAILQ_FIRST(&c->waiters); w != NULL; w = nw) {
		nw = TAILQ_NEXT(w, link);
		/* Asked for after this collection began: the next one. */
		if (w->since_ms > c->started_ms) {
			again = true;
			continue;
		}
		TAILQ_REMOVE(&c->waiters, w, link);
		w->fn(w->arg, &c->snap);
		free(w);
	}
	if (again && c->pending == 0)
		start(c);
}

static void
after(uv_work_t *req, int status)
{
	struct cjob *j = req->data;
	struct collect *c = j->c;
	struct backend_stats *grown;

	(void)status;
	c->busy[j->platform] = false;
	if (j->rv == 0) {
		c->next.ok[j->platform] = true;
		if (j->n > 0) {
			grown = realloc(c->next.stats,
			    (c->next.nstats + j->n) * sizeof(*grown));
			if (grown == NULL) {
				c->next.ok[j->platform] = false;
				rrerr_set(&c->next.err[j->platform],
				    RRERR_INTERNAL, NULL, "out of memory");
			} else {
				memcpy(grown + c->next.nstats, j->out,
				    j->n * sizeof(*grown));
				c->next.stats = grown;
				c->next.nstats += j->n;
			}
		}
	} else
		c->next.err[j->platform] = j->err;
	free(j->out);
	free(j);
	if (--c->pending == 0)
		finish(c);
}

/*
 * Answer every waiter now with what is known: the guests of the backends
 * that answered, and for the others that they did not.
 */
static void
answer_late(struct collect *c)
{
	struct collect_snapshot late;
	struct cwaiter *w;
	int p;

	late = c->next; /* its stats borrowed */
	late.time_ms = instance_now_ms();
	for (p = 0; p < SPEC_PLATFORMS_LAUNCHED; p++)
		if (c->busy[p])
			rrerr_set(&late.err[p], RRERR_UNAVAILABLE, NULL,
			    "the %s backend did not answer in %d ms",
			    spec_platform_name((enum spec_platform)p),
			    COLLECT_WAIT_MS);
	while ((w = TAILQ_FIRST(&c->waiters)) != NULL) {
		TAILQ_REMOVE(&c->waiters, w, link);
		w->fn(w->arg, &late);
		free(w);
	}
}

static void
on_wait(uv_timer_t *t)
{
	struct collect *c = t->data;

	c->late = true;
	answer_late(c);
}

/* Start a collection: a job per backend that can answer. */
static void
start(struct collect *c)
{
	const struct backend_ops *ops;
	struct backend *b;
	struct cjob *j;
	int p;

	memset(&c->next, 0, sizeof(c->next));
	c->started_ms = instance_now_ms();
	c->pending = 1; /* held while the jobs are queued */
	for (p = 0; p < SPEC_PLATFORMS_LAUNCHED; p++) {
		switch (engine_backend_state(c->e, p)) {
		case -1:
			rrerr_set(&c->next.err[p], RRERR_UNAVAILABLE, NULL,
			    "the %s backend is not built into this rumprund",
			    spec_platform_name((enum spec_platform)p));
			continue;
		case 0:
			rrerr_set(&c->next.err[p], RRERR_UNAVAILABLE, NULL,
			    "the %s backend is not connected",
			    spec_platform_name((enum spec_platform)p));
			continue;
		}
		if ((b = engine_backend(c->e, p, &ops)) == NULL)
			continue;
		if (ops->stats == NULL) {
			rrerr_set(&c->next.err[p], RRERR_UNAVAILABLE, NULL,
			    "the %s backend cannot read a guest's counters",
			    ops->name);
			continue;
		}
		if ((j = calloc(1, sizeof(*j))) == NULL) {
			rrerr_set(&c->next.err[p], RRERR_INTERNAL, NULL,
			    "out of memory");
			continue;
		}
		j->c = c;
		j->platform = p;
		j->b = b;
		j->ops = ops;
		j->req.data = j;
		backend_domain_prefix(engine_owner(c->e), j->prefix,
		    sizeof(j->prefix));
		if (uv_queue_work(c->loop, &j->req, run, after) != 0) {
			rrerr_set(&c->next.err[p], RRERR_INTERNAL, NULL,
			    "cannot queue a backend call");
			free(j);
			continue;
		}
		c->pending++;
		c->busy[p] = true;
	}
	if (c->pending > 1 && (c->timer = malloc(sizeof(*c->timer))) != NULL) {
		uv_timer_init(c->loop, c->timer);
		c->timer->data = c;
		uv_timer_start(c->timer, on_wait, COLLECT_WAIT_MS, 0);
	}
	if (--c->pending == 0)
		finish(c);
}

void
collect_get(struct collect *c, int64_t since_ms, collect_fn *fn, void *arg)
{
	struct cwaiter *w;

	if (fresh(c, since_ms)) {
		fn(arg, &c->snap);
		return;
	}
	if ((w = calloc(1, sizeof(*w))) == NULL) {
		fn(arg, NULL);
		return;
	}
	w->since_ms = since_ms;
	w->fn = fn;
	w->arg = arg;
	TAILQ_INSERT_TAIL(&c->waiters, w, link);
	if (c->pending == 0)
		start(c);
	else if (c->late)
		answer_late(c);
}

const struct backend_stats *
collect_find(const struct collect_snapshot *snap, const char *domain_name)
{
	size_t i;

	if (snap == NULL)
		return NULL;
	for (i = 0; i < snap->nstats; i++)
		if (strcmp(snap->stats[i].domain_name, domain_name) == 0)
			return &snap->stats[i];
	return NULL;
}
