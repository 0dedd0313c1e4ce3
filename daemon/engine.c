/*
 * engine: instances, their lifecycle, and the calls into the backends (see
 * engine.h).
 *
 * Contracts: the loop thread owns every struct instance; a backend call is
 * a struct job run on a worker, which touches only the job and the
 * instance's spec and guest config (they never change while a job runs),
 * and after_job() applies its result on the loop.  Backend events arrive
 * on the backend's thread into evq (under evq_lock) and a uv_async wakes
 * the loop.  advance() derives an instance's state from its facts; never
 * assign the state.  A launch opens the spec's paths again on the worker
 * and hands the backend descriptors, never paths.
 *
 * ARCHITECTURE.md, "Threads, and who owns what" and "The engine", says why.
 */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/sysinfo.h>
#include <time.h>
#include <unistd.h>

#include "collect.h"
#include "engine.h"
#include "imgstore.h"
#include "instance.h"
#include "isojobs.h"
#include "log.h"
#include "metrics.h"
#include "paths.h"
#include "recwriter.h"
#include "restart.h"
#include "guestconf.h"
#include "sbuf.h"
#include "store.h"
#include "version.h"

/* The platforms with a backend: tables here are indexed by them. */
#define NPLATFORMS SPEC_PLATFORMS_LAUNCHED
/*
 * The tick polls every console log (console_poll()).  backends/xen.c's
 * QUIET_MS (300) must stay above it: the Xen backend waits that long
 * after a guest's shutdown before it reports it, so that the exit status
 * line is read from the log before the event arrives.
 */
#define TICK_MS		    200
#define REOPEN_MS	    3000
#define DESTROY_RETRY_MS    1000  /* after a failed destroy */
#define ORPHAN_RETRY_MS	    1000  /* after the first refused orphan destroy */
#define ORPHAN_RETRY_MAX_MS 60000 /* the delay doubles up to this */
#define FLUSH_RETRY_MS	    1000  /* after a failed record write */
#define EVENTS_KEEP	    2000

enum waiter_kind {
	WAIT_LAUNCH,  /* answer once the instance left pending */
	WAIT_FINAL,   /* answer once it has ended */
	WAIT_REMOVED, /* answer once it is gone */
	WAIT_PAUSE,   /* once paused (a failed pause: its error) */
	WAIT_RESUME,  /* once not paused (a failed resume: error) */
	WAIT_RESTART, /* once a later generation left pending */
	WAIT_COND,    /* engine_wait(): answered with a WaitResult */
};

struct waiter {
	enum waiter_kind kind;
	enum engine_outcome outcome;
	engine_reply_fn *fn;
	void *arg;
	unsigned int generation; /* RESTART, COND: when asked */
	int want;		 /* COND: a state, or -1: the generation ends */
	int64_t deadline_ms;	 /* COND: answer timed out then; 0: never */
	engine_alive_fn *alive;	 /* COND: NULL, or is the client there */
	TAILQ_ENTRY(waiter) link;
};

enum job_kind {
	JOB_LAUNCH,
	JOB_SHUTDOWN,
	JOB_DESTROY,
	JOB_RESUME,
	JOB_LIST,
	JOB_ADDRESSES, /* see addrs.h; inst is NULL, name names it */
	JOB_PAUSE,
};

struct job {
	uv_work_t req;
	struct engine *e;
	enum job_kind kind;
	int platform;
	struct instance *inst; /* NULL for JOB_LIST and orphans */
	char domain_name[BACKEND_DOMAIN_NAME_MAX];
	const char *macs[SPEC_NICS_MAX];
	int rv;
	struct rrerr err;
	struct backend_domain *doms;
	size_t ndoms;
	uint64_t launches_before; /* JOB_LIST: launches done when it began */
	/* JOB_ADDRESSES: the instance, its NICs, the job's number. */
	char name[SPEC_NAME_MAX + 1];
	struct backend_nic_info nics[SPEC_NICS_MAX];
	size_t nnics;
	uint64_t seq;
};

/* The argument of a backend's event callback. */
struct backend_slot {
	struct engine *e;
	int platform;
	struct backend *b;
	bool connected;
	bool listing;
	bool relist;
	bool listed; /* reconciled once: the boot watchdog may act */
	int64_t reopen_at_ms;
	char reason[RRERR_MESSAGE_MAX];
};

/*
 * A domain of ours that no instance accounts for, being destroyed.  Found
 * by a list; forgotten once destroyed, or once a list or an event shows it
 * gone.  A refused destroy is retried after delay_ms, which doubles.
 */
struct orphan {
	int platform;
	char domain_name[BACKEND_DOMAIN_NAME_MAX];
	bool destroying;  /* a destroy job is in flight */
	bool reported;	  /* a refusal was logged: once */
	int64_t retry_ms; /* no destroy before this time */
	int64_t delay_ms;
	TAILQ_ENTRY(orphan) link;
};

struct queued_event {
	int platform;
	struct backend_event ev;
};

/*
 * The text of the whole list (GET /v1/unikernels, no filter), kept while
 * no instance changed (instance_changes(); an instance added or removed
 * changes too) and the logs of the instances that have not ended (whose
 * start and size move) are where they were.
 */
struct list_live {
	struct instance *inst;
	uint64_t start, end;
};

struct list_text {
	char *text;
	size_t len;
	uint64_t changes;
	struct list_live *live;
	size_t nlive;
};

struct engine {
	struct engine_config cfg;
	char *state_dir;
	char *log_dir;
	struct store *store;
	struct recwriter *writer; /* NULL: records written on the loop */
	struct events *events;
	struct backend_slot slots[NPLATFORMS];
	TAILQ_HEAD(, instance) instances;
	TAILQ_HEAD(, orphan) orphans;
	/* Domains that ended while a list was in flight (see reconcile()). */
	char (*ended)[BACKEND_DOMAIN_NAME_MAX];
	size_t nended;
	size_t ended_cap;
	size_t ninstances;
	unsigned int jobs;
	uint64_t launches_done;	   /* successful launches, numbered */
	struct collect *collect;   /* guests' counters (collect.c) */
	struct isojobs *iso;	   /* ISO image builds (isojobs.c) */
	unsigned int addr_jobs;	   /* JOB_ADDRESSES in flight */
	uint64_t addr_seq;	   /* JOB_ADDRESSES, numbered */
	unsigned int nwaits;	   /* WAIT_COND waiters, all instances */
	int64_t flush_at_ms;	   /* next retry of dirty records */
	int64_t autostart_gate_ms; /* no autostart before this time */
	bool quiescing;
	struct list_text list;
	uv_timer_t tick;
	uv_async_t async;
	pthread_mutex_t evq_lock;
	struct queued_event *evq;
	size_t evq_len;
	size_t evq_cap;
};

static void advance(struct engine *, struct instance *);
static void start_job(struct engine *, struct instance *, enum job_kind);
static void launch_recorded(struct engine *, struct instance *);
static void refuse_launch(struct engine *, struct instance *);
static int by_creation(const void *, const void *);
static void restart_now(struct engine *, struct instance *);
static enum instance_state policy_end(struct engine *, struct instance *,
    enum instance_state);
static void restart_due(struct engine *, struct instance *, int64_t);

/* The generation is over: ended for good, or waiting to restart. */
static bool
gen_over(enum instance_state s)
{
	return instance_state_final(s) || s == INSTANCE_BACKOFF;
}

static struct instance *
find(struct engine *e, const char *name)
{
	struct instance *inst;

	TAILQ_FOREACH(inst, &e->instances, link) {
		if (strcmp(inst->name, name) == 0)
			return inst;
	}
	return NULL;
}

/* The instance whose current domain is domain_name, or NULL. */
static struct instance *
find_domain(struct engine *e, const char *domain_name)
{
	struct instance *inst;

	TAILQ_FOREACH(inst, &e->instances, link) {
		if (strcmp(inst->domain_name, domain_name) == 0)
			return inst;
	}
	return NULL;
}

static void __attribute__((format(printf, 4, 5))) reply_err(engine_reply_fn *fn,
    void *arg, enum rrerr_code code, const char *fmt, ...)
{
	struct rrerr err;
	va_list ap;

	va_start(ap, fmt);
	rrerr_vset(&err, code, NULL, fmt, ap);
	va_end(ap);
	fn(arg, ENGINE_FAILED, NULL, &err);
}

/* reply_err() with err.field set: a 409 on a name names "name". */
static void reply_field(engine_reply_fn *, void *, enum rrerr_code,
    const char *, const char *, ...) __attribute__((format(printf, 5, 6)));

static void
reply_field(engine_reply_fn *fn, void *arg, enum rrerr_code code,
    const char *field, const char *fmt, ...)
{
	struct rrerr err;
	va_list ap;

	va_start(ap, fmt);
	rrerr_vset(&err, code, field, fmt, ap);
	va_end(ap);
	fn(arg, ENGINE_FAILED, NULL, &err);
}

static struct waiter *
add_waiter(struct instance *inst, enum waiter_kind kind,
    enum engine_outcome outcome, engine_reply_fn *fn, void *arg)
{
	struct waiter *w;

	if ((w = calloc(1, sizeof(*w))) == NULL) {
		reply_err(fn, arg, RRERR_INTERNAL, "%s: out of memory",
		    inst->name);
		return NULL;
	}
	w->kind = kind;
	w->outcome = outcome;
	w->fn = fn;
	w->arg = arg;
	w->generation = inst->generation;
	w->want = -1;
	TAILQ_INSERT_TAIL(&inst->waiters, w, link);
	if (kind == WAIT_COND)
		inst->engine->nwaits++;
	return w;
}

/* w leaves inst's waiters: after TAILQ_REMOVE, before free(). */
static void
waiter_gone(struct instance *inst, const struct waiter *w)
{
	if (w->kind == WAIT_COND && inst->engine != NULL)
		inst->engine->nwaits--;
}

/* Answer inst's waiters of kind with err: the operation they wait for failed. */
static void
fail_waiters(struct instance *inst, enum waiter_kind kind,
    const struct rrerr *err)
{
	struct waiter *w, *next;

	for (w = TAILQ_FIRST(&inst->waiters); w != NULL; w = next) {
		next = TAILQ_NEXT(w, link);
		if (w->kind != kind)
			continue;
		TAILQ_REMOVE(&inst->waiters, w, link);
		waiter_gone(inst, w);
		w->fn(w->arg, ENGINE_FAILED, NULL, err);
		free(w);
	}
}

/*
 * Persist inst.  The record is written by the writer thread (recwriter.c):
 * written_cb() hears how it went, and waiters of inst are answered only
 * once no write of it is left (resolve_waiters()).  A failure (a full
 * disk, say) leaves the record dirty: the state is still right in memory,
 * on_tick() writes it again every FLUSH_RETRY_MS and engine_quiesce() once
 * more, and only the first failure is logged.  Once the daemon is
 * stopping, the write is done here and now.
 */
static void
save(struct engine *e, struct instance *inst)
{
	struct rrerr err;
	json_t *rec;
	char *text;
	int rv;

	instance_changed(inst);
	if ((rec = instance_record(inst)) == NULL) {
		log_warnx("%s: cannot build its record", inst->name);
		inst->dirty = true;
		return;
	}
	if (e->writer != NULL && !e->quiescing &&
	    (text = store_text(rec)) != NULL) {
		json_decref(rec);
		rv = recwriter_put(e->writer, inst, inst->name, text,
		    ++inst->rec_seq);
		if (rv == 1)
			inst->writes++;
		if (rv != -1)
			return;
		log_warnx("%s: out of memory; will try again", inst->name);
		inst->dirty = true;
		return;
	}
	if (e->writer != NULL && inst->writes > 0)
		recwriter_sync(e->writer); /* after those, in order */
	if (store_put(e->store, inst->name, rec, &err) == -1) {
		if (!inst->dirty)
			log_warnx("%s: %s; will try again", inst->name,
			    err.message);
		inst->dirty = true;
	} else {
		if (inst->dirty)
			log_info("%s: record written", inst->name);
		inst->dirty = false;
	}
	json_decref(rec);
}

/*
 * Persist inst now or fail: for what must be on disk before a domain is
 * created.  -1 with err (a full disk is RRERR_UNAVAILABLE: 503).
 */
static int
write_record(struct engine *e, struct instance *inst, struct rrerr *err)
{
	json_t *rec;
	int rv;

	/* Callers wait for the queued writes first (recwriter_sync()). */
	assert(e->writer == NULL || inst->writes == 0);
	instance_changed(inst);
	if ((rec = instance_record(inst)) == NULL)
		return rrerr_set(err, RRERR_INTERNAL, NULL, "out of memory");
	rv = store_put(e->store, inst->name, rec, err);
	json_decref(rec);
	if (rv == 0)
		inst->dirty = false;
	return rv;
}

/* Write the records that could not be written before. */
static void
flush_dirty(struct engine *e)
{
	struct instance *inst;

	TAILQ_FOREACH(inst, &e->instances, link) {
		if (inst->dirty && inst->writes == 0)
			save(e, inst);
	}
}

static void emit(struct engine *, struct instance *, json_t *);

static void
publish(struct engine *e, struct instance *inst, const char *type,
    enum instance_state previous)
{
	json_t *ev;

	ev = json_pack("{s:s,s:s,s:s,s:s,s:I}", "type", type, "name",
	    inst->name, "state", instance_state_name(inst->state), "previous",
	    instance_state_name(previous), "generation",
	    (json_int_t)inst->generation);
	if (ev == NULL)
		return;
	if (inst->has_exit)
		json_object_set_new(ev, "exit_status",
		    json_integer(inst->exit_status));
	if (inst->reason[0] != '\0')
		json_object_set_new(ev, "reason", json_string(inst->reason));
	emit(e, inst, ev);
}

/*
 * Publish ev (stolen), an event of inst.  An event says what the record
 * says: it goes out once the record is written (or failed to be, as
 * before), after those held before it.  So a client that saw it, then
 * killed rumprund, finds it again.
 */
static void
emit(struct engine *e, struct instance *inst, json_t *ev)
{
	if (inst->writes > 0 || inst->held != NULL) {
		if (inst->held == NULL)
			inst->held = json_array();
		if (inst->held != NULL &&
		    json_array_append_new(inst->held, ev) == 0)
			return;
	}
	events_publish(e->events, ev);
}

/* Publish inst's held events once no record write of it is left. */
static void
release_events(struct engine *e, struct instance *inst)
{
	json_t *ev;
	size_t i;

	if (inst->held == NULL || inst->writes > 0)
		return;
	json_array_foreach(inst->held, i, ev)
		events_publish(e->events, json_incref(ev));
	json_decref(inst->held);
	inst->held = NULL;
}

/* Say why the instance ended or failed; the first reason given stays. */
static void __attribute__((format(printf, 2, 3)))
set_reason(struct instance *inst, const char *fmt, ...)
{
	va_list ap;

	if (inst->reason[0] != '\0')
		return;
	va_start(ap, fmt);
	vsnprintf(inst->reason, sizeof(inst->reason), fmt, ap);
	va_end(ap);
	instance_changed(inst);
}

static void
free_instance(struct instance *inst)
{
	struct waiter *w;

	while ((w = TAILQ_FIRST(&inst->waiters)) != NULL) {
		TAILQ_REMOVE(&inst->waiters, w, link);
		waiter_gone(inst, w);
		free(w);
	}
	console_close(inst->console);
	addrs_free(&inst->addrs);
	json_decref(inst->held);
	instance_view_free(inst);
	spec_free(inst->spec);
	free(inst->guest_config);
	free(inst->log_path);
	free(inst);
}

/* Paused: by a pause, found so, or created so and not let run yet. */
static bool
is_paused(const struct instance *inst)
{
	return inst->paused_ms != 0 || (inst->spec->paused && !inst->resumed);
}

/*
 * Whether generation gen of inst has ended: a later one began, or it is
 * in a final state, or its domain is gone or was never made (the state
 * that follows need not be final: a restart policy's wait, say).
 */
static bool
generation_ended(const struct instance *inst, unsigned int gen)
{
	return inst->generation != gen || gen_over(inst->state) ||
	    (inst->launched && inst->domain_gone) || inst->launch_failed;
}

/* A WAIT_COND answer (openapi.yaml WaitResult): a new reference. */
static json_t *
wait_result(const struct instance *inst, const struct waiter *w, bool met,
    bool timed_out)
{
	return json_pack("{s:s,s:s,s:I,s:s,s:b,s:b,s:o,s:o}", "name",
	    inst->name, "condition",
	    w->want < 0 ? "ended" :
			  instance_state_name((enum instance_state)w->want),
	    "generation", (json_int_t)w->generation, "state",
	    instance_state_name(inst->state), "met", met, "timed_out",
	    timed_out, "exit_status",
	    inst->has_exit && inst->generation == w->generation ?
		json_integer(inst->exit_status) :
		json_null(),
	    "reason",
	    inst->reason[0] != '\0' && inst->generation == w->generation ?
		json_string(inst->reason) :
		json_null());
}

/* Answer the waiters whose condition holds now. */
static void
resolve_waiters(struct instance *inst)
{
	struct waiter *w, *next;
	bool ok, met = false;

	for (w = TAILQ_FIRST(&inst->waiters); w != NULL; w = next) {
		next = TAILQ_NEXT(w, link);
		/* What the answer says is on disk first (or failed to be). */
		switch (w->kind) {
		case WAIT_LAUNCH:
			ok = inst->state != INSTANCE_PENDING &&
			    inst->writes == 0;
			break;
		case WAIT_FINAL:
			ok = instance_state_final(inst->state) &&
			    inst->writes == 0;
			break;
		case WAIT_PAUSE:
			ok = inst->paused_ms != 0 || inst->stop_requested ||
			    gen_over(inst->state);
			break;
		case WAIT_RESUME:
			ok = !is_paused(inst) || inst->stop_requested ||
			    gen_over(inst->state);
			break;
		case WAIT_RESTART:
			ok = inst->generation != w->generation &&
			    inst->state != INSTANCE_PENDING;
			break;
		case WAIT_COND:
			met = w->want < 0 ?
			    generation_ended(inst, w->generation) :
			    (int)inst->state == w->want;
			ok = met || generation_ended(inst, w->generation);
			break;
		default:
			ok = false;
		}
		if (!ok)
			continue;
		TAILQ_REMOVE(&inst->waiters, w, link);
		waiter_gone(inst, w);
		w->fn(w->arg, w->outcome,
		    w->kind == WAIT_COND ? wait_result(inst, w, met, false) :
					   instance_view(inst),
		    NULL);
		free(w);
	}
}

/* Forget an ended instance: record, console log, table. */
static void
remove_instance(struct engine *e, struct instance *inst)
{
	struct waiter *w;
	struct rrerr err;
	json_t *view, *ev;

	if (store_delete(e->store, inst->name, &err) == -1) {
		log_warnx("%s", err.message);
		inst->remove_requested = false;
		while ((w = TAILQ_FIRST(&inst->waiters)) != NULL) {
			TAILQ_REMOVE(&inst->waiters, w, link);
			waiter_gone(inst, w);
			w->fn(w->arg, ENGINE_FAILED, NULL, &err);
			free(w);
		}
		return;
	}
	view = instance_view(inst);
	instance_changed(inst); /* out of the list */
	if (unlink(inst->log_path) == -1 && errno != ENOENT)
		log_warn("%s: cannot remove %s", inst->name, inst->log_path);
	/* Its own copies of stored volumes go with it. */
	imgstore_forget_instance(e->cfg.policy->store_dir, inst->name);
	TAILQ_REMOVE(&e->instances, inst, link);
	e->ninstances--;
	ev = json_pack("{s:s,s:s,s:s}", "type", "removed", "name", inst->name,
	    "state", instance_state_name(inst->state));
	if (ev != NULL)
		events_publish(e->events, ev);
	log_info("%s: removed", inst->name);
	rrerr_set(&err, RRERR_NOT_FOUND, NULL, "%s was removed meanwhile",
	    inst->name);
	while ((w = TAILQ_FIRST(&inst->waiters)) != NULL) {
		TAILQ_REMOVE(&inst->waiters, w, link);
		waiter_gone(inst, w);
		/* What they waited for cannot come now. */
		if (w->kind == WAIT_RESTART || w->kind == WAIT_COND ||
		    w->kind == WAIT_PAUSE || w->kind == WAIT_RESUME)
			w->fn(w->arg, ENGINE_FAILED, NULL, &err);
		else
			w->fn(w->arg, w->outcome, json_incref(view), NULL);
		free(w);
	}
	json_decref(view);
	free_instance(inst);
}

/* The state a generation ended in, from what was seen of it. */
static enum instance_state
ended_state(struct instance *inst)
{
	if (inst->panic_seen)
		return INSTANCE_CRASHED;
	if (inst->boot_timed_out)
		return INSTANCE_FAILED;
	if (inst->has_exit)
		return INSTANCE_EXITED;
	if (inst->halted_seen) {
		set_reason(inst, "%s",
		    "the guest halted without an exit status");
		return INSTANCE_EXITED;
	}
	if (inst->stop_requested)
		return INSTANCE_STOPPED;
	switch (inst->gone_how) {
	case BACKEND_EVENT_SHUTDOWN:
		/*
		 * A rumprun guest on KVM never powers off; with on_reboot
		 * destroy, libvirt reports its reset (a triple fault) so.
		 */
		if (inst->spec->platform == SPEC_PLATFORM_KVM) {
			set_reason(inst, "%s",
			    "the guest reset (a triple "
			    "fault?) or powered off before main() returned");
			return INSTANCE_CRASHED;
		}
		set_reason(inst, "%s",
		    "the guest powered off without an exit status");
		return INSTANCE_EXITED;
	case BACKEND_EVENT_CRASHED:
		set_reason(inst, "%s", "the hypervisor reported a crash");
		return INSTANCE_CRASHED;
	default:
		set_reason(inst, "%s",
		    "the domain was destroyed outside rumprund");
		return INSTANCE_CRASHED;
	}
}

/* The domain domain_name of platform p is gone: tell its backend. */
static void
release_domain(struct engine *e, int p, const char *domain_name)
{
	const struct backend_ops *ops = e->cfg.ops[p];

	if (e->slots[p].b != NULL && ops->release != NULL)
		ops->release(e->slots[p].b, domain_name);
}

/* The state the generation of an instance in backoff ended in. */
static enum instance_state
ended_as(const struct instance *inst)
{
	enum instance_state s;

	if (instance_state_parse(inst->last_state, &s) == -1)
		return INSTANCE_CRASHED;
	return s;
}

static void
set_state(struct engine *e, struct instance *inst, enum instance_state next)
{
	enum instance_state prev = inst->state;

	inst->state = next;
	if (gen_over(next) && !gen_over(prev)) {
		release_domain(e, (int)inst->spec->platform, inst->domain_name);
		/* A generation that ends in backoff is counted as it ended. */
		metrics_end(inst->spec->platform,
		    next == INSTANCE_BACKOFF ? ended_as(inst) : next);
	}
	/* From the request (launch or start) to main(): once per generation. */
	if (next == INSTANCE_RUNNING && inst->requested_ms != 0) {
		if (!inst->spec->paused)
			metrics_running(inst->spec->platform,
			    instance_now_ms() - inst->requested_ms);
		inst->requested_ms = 0;
	}
	if (gen_over(next) && !gen_over(prev)) {
		inst->finished_ms = instance_now_ms();
		if (inst->console != NULL)
			console_set_ended(inst->console, true);
	}
	save(e, inst);
	publish(e, inst, "state", prev);
	if (inst->has_exit && gen_over(next))
		log_info("%s: %s, exit status %d", inst->name,
		    instance_state_name(next), inst->exit_status);
	else if (inst->reason[0] != '\0' && gen_over(next))
		log_info("%s: %s: %s", inst->name, instance_state_name(next),
		    inst->reason);
	else
		log_info("%s: %s", inst->name, instance_state_name(next));
}

static void
advance(struct engine *e, struct instance *inst)
{
	enum instance_state next;

	if (inst->state == INSTANCE_BACKOFF) {
		/* A stop (or forced remove) cancels the restart. */
		if (inst->stop_requested)
			set_state(e, inst, INSTANCE_STOPPED);
	} else if (!instance_state_final(inst->state)) {
		if (inst->launch_failed) {
			next = INSTANCE_FAILED;
		} else if (!inst->launched) {
			next = INSTANCE_PENDING;
		} else if (inst->domain_gone) {
			next = ended_state(inst);
		} else {
			/* A paused guest hears no shutdown: destroyed. */
			if ((inst->halted_seen || inst->panic_seen ||
				inst->boot_timed_out ||
				(inst->stop_requested &&
				    (inst->stop_force || is_paused(inst) ||
					instance_now_ms() >=
					    inst->stop_deadline_ms))) &&
			    !inst->destroying) {
				/* After a failed destroy, on_tick tries again. */
				if (instance_now_ms() >= inst->destroy_retry_ms)
					start_job(e, inst, JOB_DESTROY);
			} else if (inst->stop_requested &&
			    !inst->shutdown_sent && !inst->destroying) {
				start_job(e, inst, JOB_SHUTDOWN);
			}
			if (inst->stop_requested)
				next = INSTANCE_STOPPING;
			else if (is_paused(inst))
				next = INSTANCE_PAUSED;
			else if (inst->calling_seen)
				next = INSTANCE_RUNNING;
			else
				next = INSTANCE_STARTING;
		}
		if (instance_state_final(next))
			next = policy_end(e, inst, next);
		if (next != inst->state)
			set_state(e, inst, next);
	}
	resolve_waiters(inst);
	if (instance_state_final(inst->state) && inst->jobs == 0 &&
	    inst->writes == 0 && inst->restart_pending &&
	    !inst->remove_requested) {
		/* Its record goes after the queued ones (written_cb()). */
		restart_now(e, inst);
		return;
	}
	if (instance_state_final(inst->state) && inst->jobs == 0 &&
	    inst->writes == 0 &&
	    (inst->remove_requested ||
		(inst->spec->auto_remove && !inst->restart_pending)))
		remove_instance(e, inst);
}

/*
 * The boot watchdog.  A guest has boot_timeout seconds (its spec's, else
 * the daemon's) from the start of its domain, or from its resume when it
 * was created paused, to print rumprun's "=== calling" line.  The deadline
 * is absolute and kept in the record: the guest runs on while rumprund is
 * down, so after a restart the same deadline holds, and one that passed
 * meanwhile fires at once (after the first reconciliation, so that a domain
 * that vanished meanwhile is reported as such instead).  A guest that
 * misses it is destroyed and ends failed with what its console showed.
 */
static unsigned int
boot_timeout(const struct engine *e, const struct instance *inst)
{
	return inst->spec->boot_timeout_s >= 0 ?
	    (unsigned int)inst->spec->boot_timeout_s :
	    e->cfg.boot_timeout_s;
}

/* Start inst's watchdog: its guest runs since from_ms. */
static void
arm_boot(struct engine *e, struct instance *inst, int64_t from_ms)
{
	unsigned int s = boot_timeout(e, inst);

	inst->boot_deadline_ms = s != 0 ? from_ms + (int64_t)s * 1000 : 0;
}

/*
 * The last line of this generation's console with something visible in
 * it, as printable ASCII (other bytes become '?'; a long line is cut),
 * into buf.  Returns false when there is none.
 */
static bool
last_line(struct instance *inst, char *buf, size_t size)
{
	char tail[4096];
	uint64_t end, from;
	ssize_t n, i, start, stop;
	size_t k;

	end = console_end(inst->console);
	from = end - inst->gen_offset > sizeof(tail) ? end - sizeof(tail) :
						       inst->gen_offset;
	if ((n = console_read(inst->console, from, tail, sizeof(tail))) <= 0)
		return false;
	for (stop = n; stop > 0; stop = start - 1) {
		start = stop;
		while (start > 0 && tail[start - 1] != '\n')
			start--;
		for (i = start; i < stop; i++)
			if ((unsigned char)tail[i] > ' ' &&
			    (unsigned char)tail[i] < 0x7f)
				break;
		if (i < stop)
			break;
		if (start == 0)
			return false;
	}
	if (stop <= 0)
		return false;
	while (
	    stop > start && (tail[stop - 1] == '\r' || tail[stop - 1] == ' '))
		stop--;
	for (k = 0, i = start; i < stop && k + 1 < size; i++, k++)
		buf[k] = (unsigned char)tail[i] >= ' ' &&
			(unsigned char)tail[i] < 0x7f ?
		    tail[i] :
		    '?';
	if (i < stop && k >= 3)
		memcpy(buf + k - 3, "...", 3);
	buf[k] = '\0';
	return true;
}

/* On each tick: fail inst if its guest missed its boot deadline. */
static void
check_boot(struct engine *e, struct instance *inst, int64_t now)
{
	unsigned int s = boot_timeout(e, inst);
	char line[200];

	if (inst->boot_deadline_ms == 0 || now < inst->boot_deadline_ms ||
	    !inst->launched || inst->domain_gone || inst->calling_seen ||
	    inst->boot_timed_out || inst->halted_seen || inst->panic_seen ||
	    inst->stop_requested || inst->paused_ms != 0 ||
	    !e->slots[inst->spec->platform].listed)
		return;
	if (inst->console == NULL)
		set_reason(inst, "main() not called in %u s", s);
	else if (console_end(inst->console) <= inst->gen_offset)
		set_reason(inst, "no console output in %u s: %s", s,
		    inst->spec->platform == SPEC_PLATFORM_KVM ?
			"the guest does not write to COM1; check the firmware "
			"setting" :
			"the guest wrote nothing to its console");
	else if (last_line(inst, line, sizeof(line)))
		set_reason(inst,
		    "main() not called in %u s; last console line: \"%s\"", s,
		    line);
	else
		set_reason(inst,
		    "main() not called in %u s; the console "
		    "shows only blank lines",
		    s);
	inst->boot_timed_out = true;
	advance(e, inst);
}

/*
 * The hypervisor stopped inst's guest for good (a KVM internal error) and
 * its domain stays, paused: end it crashed, like a PANIC, and destroy it.
 */
static void
guest_faulted(struct instance *inst, const char *detail)
{
	if (inst->halted_seen || inst->panic_seen)
		return;
	inst->panic_seen = true;
	set_reason(inst, "%s",
	    detail[0] != '\0' ? detail : "the hypervisor stopped the guest");
}

/*
 * inst's guest runs again (a resume of ours, or someone's): a guest
 * created paused gets its whole boot time from now, a guest paused while
 * booting the time it had left when it was paused.
 */
static void
now_resumed(struct engine *e, struct instance *inst)
{
	int64_t now = instance_now_ms();

	if (inst->spec->paused && !inst->resumed) {
		inst->resumed = true;
		arm_boot(e, inst, now);
	} else if (inst->paused_ms != 0 && inst->boot_deadline_ms != 0 &&
	    now > inst->paused_ms)
		inst->boot_deadline_ms += now - inst->paused_ms;
	inst->paused_ms = 0;
}

/*
 * The hypervisor says inst's guest is paused (or is not): take it when it
 * is news (someone paused or resumed it behind rumprund's back, or while
 * rumprund was down).  Returns whether it was; the caller advances.
 */
static bool
note_paused(struct engine *e, struct instance *inst, bool paused)
{
	if (!inst->launched || inst->domain_gone || inst->pause_job ||
	    inst->stop_requested || gen_over(inst->state) ||
	    paused == is_paused(inst))
		return false;
	if (paused)
		inst->paused_ms = instance_now_ms();
	else
		now_resumed(e, inst);
	log_info("%s: %s outside rumprund", inst->name,
	    paused ? "paused" : "resumed");
	save(e, inst);
	return true;
}

/* Console markers of the current generation. */
static void
on_marker(void *arg, enum console_marker m, int status, const char *line)
{
	struct instance *inst = arg;
	struct engine *e;

	if (gen_over(inst->state))
		return;
	switch (m) {
	case CONSOLE_CALLING:
		inst->calling_seen = true;
		break;
	case CONSOLE_RETURNED:
		inst->has_exit = true;
		inst->exit_status = status;
		break;
	case CONSOLE_HALTED:
		inst->halted_seen = true;
		break;
	case CONSOLE_PANIC:
		inst->panic_seen = true;
		set_reason(inst, "%s", line);
		break;
	}
	/*
	 * A marker of this generation on the console: its domain was
	 * created, whatever the record says (one written while pending, when
	 * the later ones met a full disk and rumprund was then killed).  While
	 * the launch call runs, its end says so (and sets started).
	 */
	if (!inst->launch_failed && inst->jobs == 0)
		inst->launched = true;
	e = inst->engine;
	if (m == CONSOLE_RETURNED)
		save(e, inst);
	advance(e, inst);
}

/* Worker thread: one blocking backend call. */
static void
run_job(uv_work_t *req)
{
	struct job *j = req->data;
	struct backend_slot *slot = &j->e->slots[j->platform];
	const struct backend_ops *ops = j->e->cfg.ops[j->platform];
	struct backend_launch launch;
	struct paths_files files;
	struct instance *inst = j->inst;

	rrerr_clear(&j->err);
	switch (j->kind) {
	case JOB_LAUNCH:
		memset(&launch, 0, sizeof(launch));
		/* Checked now, and only what was checked is handed on. */
		j->rv = paths_open_spec(inst->spec, j->e->cfg.policy, false,
		    &files, &j->err);
		if (j->rv == -1)
			break;
		launch.image_fd = files.image;
		launch.blk_fds = files.blk;
		launch.spec = inst->spec;
		launch.owner = store_owner(j->e->store);
		launch.domain_name = j->domain_name;
		launch.generation = inst->generation;
		launch.guest_config = inst->guest_config;
		launch.console_log = inst->log_path;
		launch.macs = j->macs;
		j->rv = ops->launch(slot->b, &launch, &j->err);
		paths_files_close(&files);
		break;
	case JOB_SHUTDOWN:
		j->rv = ops->shutdown(slot->b, j->domain_name, &j->err);
		break;
	case JOB_DESTROY:
		j->rv = ops->destroy(slot->b, j->domain_name, &j->err);
		break;
	case JOB_RESUME:
		j->rv = ops->resume(slot->b, j->domain_name, &j->err);
		break;
	case JOB_PAUSE:
		j->rv = ops->pause(slot->b, j->domain_name, &j->err);
		break;
	case JOB_LIST:
		j->rv = ops->list(slot->b, store_owner(j->e->store), &j->doms,
		    &j->ndoms, &j->err);
		break;
	case JOB_ADDRESSES:
		j->rv = ops->addresses(slot->b, j->domain_name, j->nics,
		    j->nnics, &j->err);
		break;
	}
}

static void reconcile(struct engine *, int, struct backend_domain *, size_t,
    uint64_t);
static void orphan_destroyed(struct engine *, const char *,
    const struct rrerr *);
static bool listing(const struct engine *);
static void note_ended(struct engine *, const char *);
static void addresses_done(struct engine *, struct job *);

static void
after_job(uv_work_t *req, int status)
{
	struct job *j = req->data;
	struct engine *e = j->e;
	struct instance *inst = j->inst;

	(void)status;
	e->jobs--;
	if (inst != NULL)
		inst->jobs--;
	/*
	 * Only a list, the destroy of an orphan, or an address query (which
	 * finds its instance by name) concerns no instance.
	 */
	assert(inst != NULL || j->kind == JOB_LIST || j->kind == JOB_DESTROY ||
	    j->kind == JOB_ADDRESSES);
	switch (j->kind) {
	case JOB_LAUNCH:
		assert(inst != NULL);
		if (j->rv == 0) {
			inst->launched = true;
			inst->launch_seq = ++e->launches_done;
			metrics_launch(inst->spec->platform);
			if (inst->started_ms == 0)
				inst->started_ms = instance_now_ms();
			if (!inst->spec->paused)
				arm_boot(e, inst, instance_now_ms());
		} else {
			inst->launch_failed = true;
			set_reason(inst, "%s", j->err.message);
		}
		break;
	case JOB_SHUTDOWN:
		if (j->rv == -1)
			log_debug("%s: shutdown: %s", j->domain_name,
			    j->err.message);
		break;
	case JOB_DESTROY:
		if (j->rv == 0)
			note_ended(e, j->domain_name);
		if (inst != NULL) {
			inst->destroying = false;
			if (j->rv == 0) {
				inst->domain_gone = true;
				inst->gone_how = BACKEND_EVENT_STOPPED;
			} else {
				log_warnx("%s: destroy: %s; trying again in "
					  "%d ms",
				    inst->name, j->err.message,
				    DESTROY_RETRY_MS);
				inst->destroy_retry_ms = instance_now_ms() +
				    DESTROY_RETRY_MS;
			}
		} else {
			if (j->rv == 0)
				release_domain(e, j->platform, j->domain_name);
			orphan_destroyed(e, j->domain_name,
			    j->rv == 0 ? NULL : &j->err);
		}
		break;
	case JOB_RESUME:
		assert(inst != NULL);
		inst->pause_job = false;
		if (j->rv == -1) {
			log_warnx("%s: resume: %s", inst->name, j->err.message);
			fail_waiters(inst, WAIT_RESUME, &j->err);
		} else if (is_paused(inst)) {
			now_resumed(e, inst);
			save(e, inst);
		}
		break;
	case JOB_PAUSE:
		assert(inst != NULL);
		inst->pause_job = false;
		if (j->rv == -1) {
			log_warnx("%s: pause: %s", inst->name, j->err.message);
			fail_waiters(inst, WAIT_PAUSE, &j->err);
		} else if (inst->paused_ms == 0 && !gen_over(inst->state)) {
			inst->paused_ms = instance_now_ms();
			save(e, inst);
		}
		break;
	case JOB_LIST:
		e->slots[j->platform].listing = false;
		if (j->rv == 0) {
			reconcile(e, j->platform, j->doms, j->ndoms,
			    j->launches_before);
			e->slots[j->platform].listed = true;
		} else
			log_warnx("%s: cannot list domains: %s",
			    e->cfg.ops[j->platform]->name, j->err.message);
		free(j->doms);
		if (e->slots[j->platform].relist) {
			e->slots[j->platform].relist = false;
			start_job(e, NULL, JOB_LIST);
		}
		if (!listing(e))
			e->nended = 0;
		break;
	case JOB_ADDRESSES:
		addresses_done(e, j);
		break;
	}
	if (inst != NULL)
		advance(e, inst);
	free(j);
}

static struct job *
new_job(struct engine *e, struct instance *inst, enum job_kind kind,
    int platform)
{
	struct job *j;
	size_t i;

	if ((j = calloc(1, sizeof(*j))) == NULL)
		return NULL;
	j->e = e;
	j->kind = kind;
	j->inst = inst;
	j->platform = platform;
	j->req.data = j;
	if (inst != NULL) {
		snprintf(j->domain_name, sizeof(j->domain_name), "%s",
		    inst->domain_name);
		for (i = 0; i < inst->spec->nnics; i++)
			j->macs[i] = inst->macs[i];
	}
	return j;
}

static void
queue_job(struct engine *e, struct job *j)
{
	if (uv_queue_work(e->cfg.loop, &j->req, run_job, after_job) != 0) {
		log_warnx("cannot queue a backend call");
		free(j);
		return;
	}
	e->jobs++;
	if (j->inst != NULL)
		j->inst->jobs++;
}

/*
 * Start a backend call about inst.  For JOB_LIST inst is NULL and the call
 * lists the domains of every connected backend.
 */
static void
start_job(struct engine *e, struct instance *inst, enum job_kind kind)
{
	struct backend_slot *slot;
	struct job *j;
	int p;

	if (kind == JOB_LIST) {
		for (p = 0; p < NPLATFORMS; p++) {
			slot = &e->slots[p];
			if (slot->b == NULL || !slot->connected)
				continue;
			if (slot->listing) {
				slot->relist = true;
				continue;
			}
			if ((j = new_job(e, NULL, JOB_LIST, p)) == NULL)
				continue;
			j->launches_before = e->launches_done;
			slot->listing = true;
			queue_job(e, j);
		}
		return;
	}
	p = (int)inst->spec->platform;
	if (e->slots[p].b == NULL) {
		/* No backend: what was asked cannot happen; say why. */
		if (kind == JOB_LAUNCH) {
			inst->launch_failed = true;
			set_reason(inst, "%s", e->slots[p].reason);
		}
		return;
	}
	if ((j = new_job(e, inst, kind, p)) == NULL) {
		log_warnx("%s: out of memory", inst->name);
		return;
	}
	if (kind == JOB_DESTROY)
		inst->destroying = true;
	if (kind == JOB_SHUTDOWN)
		inst->shutdown_sent = true;
	queue_job(e, j);
}

static bool
listing(const struct engine *e)
{
	int p;

	for (p = 0; p < NPLATFORMS; p++) {
		if (e->slots[p].listing)
			return true;
	}
	return false;
}

/*
 * Domain name ended (we destroyed it, or an event said it stopped).  A list
 * in flight may have been taken before: remember the name until no list
 * is in flight, so that the list's entry is not taken for an orphan.
 */
static void
note_ended(struct engine *e, const char *domain_name)
{
	char(*n)[BACKEND_DOMAIN_NAME_MAX];
	size_t cap;

	if (!listing(e))
		return;
	if (e->nended == e->ended_cap) {
		cap = e->ended_cap != 0 ? 2 * e->ended_cap : 16;
		if ((n = realloc(e->ended, cap * sizeof(*n))) == NULL)
			return;
		e->ended = n;
		e->ended_cap = cap;
	}
	snprintf(e->ended[e->nended], sizeof(e->ended[0]), "%s", domain_name);
	e->nended++;
}

static bool
ended_during_list(const struct engine *e, const char *domain_name)
{
	size_t i;

	for (i = 0; i < e->nended; i++) {
		if (strcmp(e->ended[i], domain_name) == 0)
			return true;
	}
	return false;
}

static struct orphan *
find_orphan(struct engine *e, const char *domain_name)
{
	struct orphan *o;

	TAILQ_FOREACH(o, &e->orphans, link) {
		if (strcmp(o->domain_name, domain_name) == 0)
			return o;
	}
	return NULL;
}

static void
forget_orphan(struct engine *e, struct orphan *o)
{
	TAILQ_REMOVE(&e->orphans, o, link);
	free(o);
}

/* Start the destroy of o, unless one runs or its retry time is ahead. */
static void
try_orphan(struct engine *e, struct orphan *o)
{
	struct job *j;

	if (o->destroying || instance_now_ms() < o->retry_ms ||
	    e->slots[o->platform].b == NULL || !e->slots[o->platform].connected)
		return;
	if ((j = new_job(e, NULL, JOB_DESTROY, o->platform)) == NULL)
		return;
	snprintf(j->domain_name, sizeof(j->domain_name), "%s", o->domain_name);
	o->destroying = true;
	queue_job(e, j);
}

/*
 * An adopted domain's paths, checked again (see "Host files" above): the
 * guest keeps the files it was launched with whatever the answer.
 */
static void
check_adopted(struct engine *e, struct instance *inst)
{
	struct paths_files files;
	struct rrerr err;

	if (paths_open_spec(inst->spec, e->cfg.policy, true, &files, &err) ==
	    -1) {
		log_warnx("%s: %s; the guest keeps the files it was launched "
			  "with, a start will refuse this one",
		    inst->name, err.message);
		return;
	}
	paths_files_close(&files);
}

/*
 * Destroy a domain of ours that no instance accounts for.  Said once per
 * domain; a list that finds it again while its destroy waits for a retry
 * changes nothing.
 */
static void
destroy_orphan(struct engine *e, int platform, const char *domain_name)
{
	struct orphan *o;

	if ((o = find_orphan(e, domain_name)) == NULL) {
		if ((o = calloc(1, sizeof(*o))) == NULL)
			return;
		o->platform = platform;
		snprintf(o->domain_name, sizeof(o->domain_name), "%s",
		    domain_name);
		o->delay_ms = ORPHAN_RETRY_MS;
		TAILQ_INSERT_TAIL(&e->orphans, o, link);
		log_warnx("%s: a domain of this rumprund without a current "
			  "instance; destroying it",
		    domain_name);
	}
	try_orphan(e, o);
}

/* The destroy of an orphan is over: err NULL when it worked. */
static void
orphan_destroyed(struct engine *e, const char *domain_name,
    const struct rrerr *err)
{
	struct orphan *o;

	if ((o = find_orphan(e, domain_name)) == NULL)
		return;
	o->destroying = false;
	if (err == NULL) {
		if (o->reported)
			log_info("%s: destroyed at last", domain_name);
		forget_orphan(e, o);
		return;
	}
	/* A stuck start job refuses for as long as it lasts: say it once. */
	if (!o->reported)
		log_warnx("%s: destroy: %s; trying again with a growing delay",
		    domain_name, err->message);
	o->reported = true;
	o->retry_ms = instance_now_ms() + o->delay_ms;
	o->delay_ms = o->delay_ms * 2 > ORPHAN_RETRY_MAX_MS ?
	    ORPHAN_RETRY_MAX_MS :
	    o->delay_ms * 2;
}

/* A list of platform without the orphans it does not name: they are gone. */
static void
orphans_listed(struct engine *e, int platform, struct backend_domain *doms,
    size_t n)
{
	struct orphan *o, *next;
	size_t i;

	for (o = TAILQ_FIRST(&e->orphans); o != NULL; o = next) {
		next = TAILQ_NEXT(o, link);
		if (o->platform != platform || o->destroying)
			continue;
		for (i = 0; i < n; i++) {
			if (strcmp(doms[i].domain_name, o->domain_name) == 0)
				break;
		}
		if (i == n) {
			if (o->reported)
				log_info("%s: gone", o->domain_name);
			release_domain(e, platform, o->domain_name);
			forget_orphan(e, o);
		}
	}
}

/*
 * Compare what the hypervisor runs with the instances of that platform:
 * adopt running domains, finish instances whose domain vanished, destroy
 * our domains that nothing accounts for.  The list was taken after
 * launches_before launches had completed: an instance launched later may
 * be missing from it and is left alone.
 */
static void
reconcile(struct engine *e, int platform, struct backend_domain *doms, size_t n,
    uint64_t launches_before)
{
	struct instance *inst, *next;
	bool *seen;
	size_t i;

	orphans_listed(e, platform, doms, n);
	seen = calloc(n + 1, sizeof(*seen));
	for (i = 0; i < n; i++) {
		/*
		 * Gone since the list was taken (a remove, and perhaps a new
		 * instance of the name already): neither an orphan nor news.
		 */
		if (ended_during_list(e, doms[i].domain_name))
			continue;
		inst = find(e, doms[i].instance);
		if (inst == NULL || gen_over(inst->state) ||
		    strcmp(inst->domain_name, doms[i].domain_name) != 0 ||
		    inst->domain_gone) {
			destroy_orphan(e, platform, doms[i].domain_name);
			continue;
		}
		if (seen != NULL)
			seen[i] = true;
		if (!inst->launched && !inst->launch_failed &&
		    inst->jobs == 0) {
			log_info("%s: adopted its domain %s", inst->name,
			    inst->domain_name);
			inst->launched = true;
			check_adopted(e, inst);
		}
		if (!doms[i].running) {
			inst->domain_gone = true;
			inst->gone_how = BACKEND_EVENT_CRASHED;
		} else if (doms[i].fault[0] != '\0') {
			guest_faulted(inst, doms[i].fault);
		} else if (inst->jobs == 0) {
			/* Paused or resumed while nobody listened. */
			(void)note_paused(e, inst, doms[i].paused);
		}
	}
	for (inst = TAILQ_FIRST(&e->instances); inst != NULL; inst = next) {
		next = TAILQ_NEXT(inst, link);
		if ((int)inst->spec->platform != platform ||
		    gen_over(inst->state) || inst->jobs > 0 ||
		    inst->launch_seq > launches_before)
			continue;
		for (i = 0; i < n; i++) {
			if (strcmp(inst->domain_name, doms[i].domain_name) == 0)
				break;
		}
		if (i < n)
			continue;
		if (!inst->launched) {
			inst->launch_failed = true;
			inst->launch_interrupted = true;
			set_reason(inst, "%s",
			    "rumprund stopped while launching "
			    "it and the domain was never created");
		} else if (!inst->domain_gone) {
			inst->domain_gone = true;
			inst->gone_how = BACKEND_EVENT_STOPPED;
			/* The console may have told how it ended. */
			if (!inst->has_exit && !inst->halted_seen &&
			    !inst->panic_seen)
				set_reason(inst, "%s",
				    "the domain ended while "
				    "rumprund was not watching");
		}
		advance(e, inst);
	}
	for (i = 0; i < n; i++) {
		if (seen != NULL && seen[i] &&
		    (inst = find(e, doms[i].instance)) != NULL)
			advance(e, inst);
	}
	free(seen);
}

/* Loop thread: apply the backend events queued since the last wake-up. */
static void
on_async(uv_async_t *h)
{
	struct engine *e = h->data;
	struct queued_event *q;
	struct backend_slot *slot;
	struct instance *inst;
	struct orphan *o;
	size_t n, i;

	pthread_mutex_lock(&e->evq_lock);
	q = e->evq;
	n = e->evq_len;
	e->evq = NULL;
	e->evq_len = e->evq_cap = 0;
	pthread_mutex_unlock(&e->evq_lock);

	for (i = 0; i < n; i++) {
		slot = &e->slots[q[i].platform];
		switch (q[i].ev.type) {
		case BACKEND_EVENT_DISCONNECTED:
			log_warnx("%s: lost the hypervisor connection: %s",
			    e->cfg.ops[q[i].platform]->name, q[i].ev.detail);
			slot->connected = false;
			continue;
		case BACKEND_EVENT_RECONNECTED:
			log_info("%s: hypervisor connection back",
			    e->cfg.ops[q[i].platform]->name);
			slot->connected = true;
			start_job(e, NULL, JOB_LIST);
			continue;
		case BACKEND_EVENT_STARTED:
			continue;
		case BACKEND_EVENT_PAUSED:
		case BACKEND_EVENT_RESUMED:
			inst = find_domain(e, q[i].ev.domain_name);
			if (inst != NULL &&
			    note_paused(e, inst,
				q[i].ev.type == BACKEND_EVENT_PAUSED))
				advance(e, inst);
			continue;
		default:
			break;
		}
		/* An orphan that ended: nothing left to destroy. */
		if (q[i].ev.type != BACKEND_EVENT_FAULT) {
			note_ended(e, q[i].ev.domain_name);
			if ((o = find_orphan(e, q[i].ev.domain_name)) != NULL &&
			    !o->destroying)
				forget_orphan(e, o);
		}
		/* Events about earlier incarnations match no instance. */
		inst = find_domain(e, q[i].ev.domain_name);
		if (inst == NULL || inst->domain_gone || gen_over(inst->state))
			continue;
		log_debug("%s: domain event %d (%s)", inst->name,
		    (int)q[i].ev.type, q[i].ev.detail);
		/*
		 * Read the last console bytes first: they hold the exit status.
		 * What they set off may even have removed the instance.
		 */
		if (inst->console != NULL)
			console_poll(inst->console);
		inst = find_domain(e, q[i].ev.domain_name);
		if (inst == NULL || gen_over(inst->state))
			continue;
		if (q[i].ev.type == BACKEND_EVENT_FAULT) {
			guest_faulted(inst, q[i].ev.detail);
			advance(e, inst);
			continue;
		}
		inst->domain_gone = true;
		inst->gone_how = q[i].ev.type;
		if (q[i].ev.type == BACKEND_EVENT_CRASHED &&
		    q[i].ev.detail[0] != '\0' && !inst->panic_seen &&
		    !inst->halted_seen && !inst->stop_requested)
			set_reason(inst, "the hypervisor reported a crash: %s",
			    q[i].ev.detail);
		advance(e, inst);
	}
	free(q);
}

/* Any thread: a backend's event, queued for the loop. */
static void
on_backend_event(void *arg, const struct backend_event *ev)
{
	struct backend_slot *slot = arg;
	struct engine *e = slot->e;
	struct queued_event *nq;
	size_t cap;

	pthread_mutex_lock(&e->evq_lock);
	if (e->evq_len == e->evq_cap) {
		cap = e->evq_cap != 0 ? 2 * e->evq_cap : 16;
		nq = realloc(e->evq, cap * sizeof(*nq));
		if (nq == NULL) {
			pthread_mutex_unlock(&e->evq_lock);
			return;
		}
		e->evq = nq;
		e->evq_cap = cap;
	}
	e->evq[e->evq_len].platform = slot->platform;
	e->evq[e->evq_len].ev = *ev;
	e->evq_len++;
	pthread_mutex_unlock(&e->evq_lock);
	uv_async_send(&e->async);
}

static void
open_backend(struct engine *e, int p)
{
	struct backend_slot *slot = &e->slots[p];
	struct rrerr err;

	if (e->cfg.ops[p] == NULL || slot->b != NULL)
		return;
	slot->b = e->cfg.ops[p]->open(&e->cfg.backend, on_backend_event, slot,
	    &err);
	if (slot->b == NULL) {
		if (strcmp(slot->reason, err.message) != 0)
			log_warnx("%s backend unavailable: %s",
			    e->cfg.ops[p]->name, err.message);
		snprintf(slot->reason, sizeof(slot->reason), "%s", err.message);
		slot->reopen_at_ms = instance_now_ms() + REOPEN_MS;
		return;
	}
	log_info("%s backend connected", e->cfg.ops[p]->name);
	slot->reason[0] = '\0';
	slot->connected = true;
	start_job(e, NULL, JOB_LIST);
}

/*
 * Ask the backend for inst's NIC addresses when that is due (see addrs.h):
 * a job that no instance counts (inst->jobs), so that it never holds up a
 * state change; its answer finds the instance again by name and number.
 */
static void
start_addresses(struct engine *e, struct instance *inst, int64_t now)
{
	int p = (int)inst->spec->platform;
	unsigned int before;
	struct job *j;
	size_t i;

	if (inst->spec->nnics == 0 || !inst->launched || inst->domain_gone ||
	    inst->destroying || e->cfg.ops[p] == NULL ||
	    e->cfg.ops[p]->addresses == NULL || e->slots[p].b == NULL ||
	    !e->slots[p].connected || e->addr_jobs >= ADDRS_JOBS_MAX ||
	    !addrs_due(&inst->addrs, now))
		return;
	if ((j = new_job(e, NULL, JOB_ADDRESSES, p)) == NULL)
		return;
	snprintf(j->domain_name, sizeof(j->domain_name), "%s",
	    inst->domain_name);
	snprintf(j->name, sizeof(j->name), "%s", inst->name);
	j->nnics = inst->spec->nnics;
	for (i = 0; i < j->nnics; i++)
		snprintf(j->nics[i].mac, sizeof(j->nics[i].mac), "%s",
		    inst->macs[i]);
	j->seq = ++e->addr_seq;
	before = e->jobs;
	queue_job(e, j);
	if (e->jobs == before)
		return; /* not queued (and freed) */
	inst->addrs.inflight = j->seq;
	e->addr_jobs++;
}

/* On the loop: the answer of an address query. */
static void
addresses_done(struct engine *e, struct job *j)
{
	struct instance *inst = find(e, j->name);

	e->addr_jobs--;
	if (inst == NULL || inst->addrs.inflight != j->seq)
		return; /* removed, or a new generation since */
	inst->addrs.inflight = 0;
	if (strcmp(inst->domain_name, j->domain_name) != 0)
		return;
	if (j->rv == -1)
		log_debug("%s: addresses: %s", inst->name, j->err.message);
	addrs_apply(&inst->addrs, inst->spec, j->rv == 0 ? j->nics : NULL,
	    instance_now_ms());
	/* Addresses are in the view, not in the record: see instance.h. */
	instance_changed(inst);
}

static void tick_ops(struct engine *, int64_t);

/* Every TICK_MS: follow consoles, stop deadlines, backend retries. */
static void
on_tick(uv_timer_t *h)
{
	struct engine *e = h->data;
	struct instance *inst, *next;
	struct orphan *o;
	int64_t now = instance_now_ms();
	int p;

	for (p = 0; p < NPLATFORMS; p++) {
		if (e->slots[p].b == NULL && e->cfg.ops[p] != NULL &&
		    now >= e->slots[p].reopen_at_ms)
			open_backend(e, p);
	}
	if (now >= e->flush_at_ms) {
		flush_dirty(e);
		events_flush(e->events);
		e->flush_at_ms = now + FLUSH_RETRY_MS;
	}
	TAILQ_FOREACH(o, &e->orphans, link)
		try_orphan(e, o);
	tick_ops(e, now);
	for (inst = TAILQ_FIRST(&e->instances); inst != NULL; inst = next) {
		next = TAILQ_NEXT(inst, link);
		if (inst->state == INSTANCE_BACKOFF)
			restart_due(e, inst, now);
		if (gen_over(inst->state)) {
			/* Ended: its log is closed until someone reads it. */
			if (instance_state_final(inst->state))
				console_rest(inst->console);
			continue;
		}
		if (inst->console != NULL)
			console_poll(inst->console);
		if (gen_over(inst->state))
			continue; /* what the console showed ended it */
		check_boot(e, inst, now);
		start_addresses(e, inst, now);
		if ((inst->stop_requested || inst->halted_seen ||
			inst->panic_seen || inst->boot_timed_out) &&
		    !inst->destroying && now >= inst->stop_deadline_ms &&
		    now >= inst->destroy_retry_ms)
			advance(e, inst);
	}
}

static void
pick_mac(struct engine *e, char *out, size_t size)
{
	unsigned char r[3];
	struct instance *inst;
	bool taken;
	size_t i;

	do {
		if (getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r)) {
			r[0] = (unsigned char)rand();
			r[1] = (unsigned char)rand();
			r[2] = (unsigned char)rand();
		}
		snprintf(out, size, "52:54:00:%02x:%02x:%02x", r[0], r[1],
		    r[2]);
		taken = false;
		TAILQ_FOREACH(inst, &e->instances, link) {
			for (i = 0; i < inst->spec->nnics; i++)
				taken |= strcmp(inst->macs[i], out) == 0;
		}
	} while (taken);
}

/* Give inst a domain name and console for its current generation. */
static int
begin_generation(struct engine *e, struct instance *inst, struct rrerr *err)
{
	char name[BACKEND_DOMAIN_NAME_MAX];

	/* A new name for each incarnation: see backend.h. */
	do {
		backend_domain_name(store_owner(e->store), inst->name,
		    inst->generation, backend_domain_tag(), name, sizeof(name));
	} while (strcmp(name, inst->domain_name) == 0);
	snprintf(inst->domain_name, sizeof(inst->domain_name), "%s", name);
	if (inst->console == NULL) {
		inst->console = console_open(e->cfg.loop, inst->log_path,
		    inst->gen_offset, e->cfg.console_cap, on_marker, inst, err);
		if (inst->console == NULL)
			return -1;
	}
	console_poll(inst->console);
	inst->gen_offset = console_end(inst->console);
	console_rescan_from(inst->console, inst->gen_offset);
	console_set_ended(inst->console, false);
	inst->launched = inst->launch_failed = inst->domain_gone = false;
	inst->calling_seen = inst->halted_seen = inst->panic_seen = false;
	inst->boot_timed_out = false;
	inst->boot_deadline_ms = 0;
	inst->stop_requested = inst->stop_force = inst->shutdown_sent = false;
	inst->destroying = inst->resumed = false;
	inst->paused_ms = 0;
	inst->has_exit = false;
	inst->reason[0] = '\0';
	inst->started_ms = inst->finished_ms = 0;
	inst->requested_ms = instance_now_ms();
	inst->state = INSTANCE_PENDING;
	addrs_reset(&inst->addrs, instance_now_ms());
	instance_changed(inst);
	return 0;
}

static uint64_t
committed_memory(struct engine *e)
{
	struct instance *inst;
	uint64_t sum = 0;

	/* One waiting to restart holds none: its restart is checked again. */
	TAILQ_FOREACH(inst, &e->instances, link) {
		if (!gen_over(inst->state))
			sum += inst->spec->memory_mib;
	}
	return sum;
}

/* Why spec cannot be launched now, or 0. */
static int
check_capacity(struct engine *e, const struct spec *spec, bool is_new,
    struct rrerr *err)
{
	const struct backend_slot *slot = &e->slots[spec->platform];

	if (e->quiescing)
		return rrerr_set(err, RRERR_UNAVAILABLE, NULL,
		    "rumprund is shutting down");
	if (e->cfg.ops[spec->platform] == NULL)
		return rrerr_set(err, RRERR_UNAVAILABLE, "platform",
		    "platform: the %s backend is not built into this rumprund",
		    spec_platform_name(spec->platform));
	if (slot->b == NULL)
		return rrerr_set(err, RRERR_UNAVAILABLE, "platform",
		    "platform: the %s backend is unavailable: %s",
		    spec_platform_name(spec->platform), slot->reason);
	if (!slot->connected)
		return rrerr_set(err, RRERR_UNAVAILABLE, "platform",
		    "platform: the %s backend has lost its hypervisor "
		    "connection; try again",
		    spec_platform_name(spec->platform));
	if (is_new && e->cfg.max_instances != 0 &&
	    e->ninstances >= e->cfg.max_instances)
		return rrerr_set(err, RRERR_CONFLICT, NULL,
		    "the limit of %u instances is reached; remove ended ones",
		    e->cfg.max_instances);
	if (e->cfg.max_total_memory_mib != 0 &&
	    committed_memory(e) + spec->memory_mib >
		e->cfg.max_total_memory_mib)
		return rrerr_set(err, RRERR_CONFLICT, "memory_mib",
		    "memory_mib: %u MiB more would exceed the %llu MiB this "
		    "host gives guests",
		    spec->memory_mib,
		    (unsigned long long)e->cfg.max_total_memory_mib);
	return 0;
}

/* The record of a new instance is on disk: create its domain. */
static void
launch_recorded(struct engine *e, struct instance *inst)
{
	publish(e, inst, "created", INSTANCE_PENDING);
	log_info("%s: launching on %s", inst->name,
	    spec_platform_name(inst->spec->platform));
	start_job(e, inst, JOB_LAUNCH);
}

/*
 * The record of a new instance could not be written: answer its waiters
 * 503 (inst->refusal says why) and forget it, record and log included (a
 * later write of it may have made it).
 */
static void
refuse_launch(struct engine *e, struct instance *inst)
{
	struct waiter *w;
	struct rrerr err;

	log_warnx("%s", inst->refusal);
	(void)store_delete(e->store, inst->name, &err);
	unlink(inst->log_path);
	instance_changed(inst); /* out of the list */
	TAILQ_REMOVE(&e->instances, inst, link);
	e->ninstances--;
	rrerr_set(&err, RRERR_UNAVAILABLE, NULL, "%s", inst->refusal);
	while ((w = TAILQ_FIRST(&inst->waiters)) != NULL) {
		TAILQ_REMOVE(&inst->waiters, w, link);
		w->fn(w->arg, ENGINE_FAILED, NULL, &err);
		free(w);
	}
	free_instance(inst);
}

/* recwriter: a record write of inst is over (rv 0) or failed. */
static void
written_cb(void *arg, void *key, uint64_t seq, int rv, const char *message)
{
	struct engine *e = arg;
	struct instance *inst = key;

	inst->writes--;
	if (inst->unrecorded) {
		/* Its first record: a failure refuses the launch. */
		if (rv == -1 && !inst->refused) {
			inst->refused = true;
			snprintf(inst->refusal, sizeof(inst->refusal), "%s",
			    message);
		}
		if (rv == 0 && seq == inst->rec_seq)
			inst->dirty = false;
		if (inst->writes > 0)
			return;
		inst->unrecorded = false;
		inst->jobs--;
		if (inst->refused) {
			refuse_launch(e, inst);
			return;
		}
		release_events(e, inst);
		/* Stopping: left pending, a restart finds it never created. */
		if (!e->quiescing)
			launch_recorded(e, inst);
	} else if (rv == -1) {
		if (!inst->dirty)
			log_warnx("%s: %s; will try again", inst->name,
			    message);
		inst->dirty = true;
	} else if (seq == inst->rec_seq) {
		if (inst->dirty)
			log_info("%s: record written", inst->name);
		inst->dirty = false;
	}
	release_events(e, inst);
	advance(e, inst);
}

/*
 * Restart policies (restart.h decides; this applies).
 *
 * When a generation ends, policy_end() asks restart_decide() and turns the
 * final state into "backoff" with the time of the next attempt
 * (restart_at_ms, in the record: the deadline holds over a restart of
 * rumprund, and one that passed while it was down fires at once).  On
 * each tick restart_due() starts the next generation once that time has
 * come and the platform's domains were listed once (so that a leftover
 * domain is known for an orphan first): a new domain name, the console
 * appended to the same log after a separator line, a "restart" event.
 * The record of the new generation is written before its domain exists,
 * as for a start: a restart in flight when rumprund is killed is found
 * pending, its domain adopted, or found missing: then the same attempt
 * starts again at once (inst->launch_interrupted; the guest did not fail).
 *
 * Host reboot.  The kernel's boot id is kept in STATE_DIR/boot_id.  When
 * it differs at start, the host rebooted: no domain of before survives.
 * host_rebooted() ends the instances that had not ended, with a reason
 * that says so, through the policy (the reboot counts as a failure, and
 * starts a new crash loop: attempt 1); instances that had ended come back
 * as restart_on_reboot() says (always; unless-stopped unless stopped
 * through the API).  Those that come back are restarted in creation order,
 * AUTOSTART_GAP_MS apart (inst->autostart, in memory only: after a kill
 * -9 meanwhile, the rest come back as soon as they can, in any order).
 */
#define RESTART_BLOCKED_MS 5000 /* a refused restart is tried again */
#define AUTOSTART_GAP_MS   1000

/* Why the generation that ended as next is restarted, into restart_why. */
static void
restart_cause(struct instance *inst, enum instance_state next)
{
	if (next == INSTANCE_EXITED && inst->has_exit)
		snprintf(inst->restart_why, sizeof(inst->restart_why),
		    "exit status %d", inst->exit_status);
	else if (inst->reason[0] != '\0')
		snprintf(inst->restart_why, sizeof(inst->restart_why),
		    "%s: %.480s", instance_state_name(next), inst->reason);
	else
		snprintf(inst->restart_why, sizeof(inst->restart_why), "%s",
		    instance_state_name(next));
}

/* The generation ends as next: that, or backoff when the policy restarts. */
static enum instance_state
policy_end(struct engine *e, struct instance *inst, enum instance_state next)
{
	const struct restart_spec *rs = &inst->spec->restart;
	struct restart_end end;
	const char *why;
	int64_t delay, now = instance_now_ms();
	bool interrupted;
	size_t n;

	(void)e;
	inst->autostart = false;
	snprintf(inst->last_state, sizeof(inst->last_state), "%s",
	    instance_state_name(next));
	inst->last_has_exit = inst->has_exit;
	inst->last_exit_status = inst->exit_status;
	snprintf(inst->last_reason, sizeof(inst->last_reason), "%s",
	    inst->reason);
	if (rs->policy == RESTART_NO || inst->remove_requested)
		return next;
	/*
	 * A restart that rumprund's own death interrupted (see reconcile())
	 * is not the guest's failure: the same attempt again, at once.
	 */
	interrupted = inst->launch_interrupted;
	inst->launch_interrupted = false;
	if (interrupted && inst->restart_attempt > 0 && !inst->stop_requested) {
		inst->restart_at_ms = now;
		inst->restart_blocked = false;
		restart_cause(inst, next);
		log_info("%s: restart %u interrupted by rumprund's end; again "
			 "now",
		    inst->name, inst->restart_attempt);
		return INSTANCE_BACKOFF;
	}
	end.failed = next != INSTANCE_EXITED || !inst->has_exit ||
	    inst->exit_status != 0;
	end.stop_requested = inst->stop_requested;
	end.ran_ms = inst->launched && inst->started_ms != 0 ?
	    now - inst->started_ms :
	    -1;
	if (!restart_decide(rs, &end, &inst->restart_attempt, &delay, &why)) {
		/* Giving up on a crash loop is news: say it in the reason. */
		if (rs->max_retries != 0 && !end.stop_requested &&
		    inst->restart_attempt >= rs->max_retries && end.failed) {
			n = strlen(inst->reason);
			snprintf(inst->reason + n, sizeof(inst->reason) - n,
			    "%srestart policy %s: gave up after %u restart%s",
			    n != 0 ? "; " : "", restart_policy_name(rs->policy),
			    inst->restart_attempt,
			    inst->restart_attempt == 1 ? "" : "s");
		}
		return next;
	}
	inst->restart_at_ms = now + delay;
	inst->restart_blocked = false;
	restart_cause(inst, next);
	log_info("%s: %s; restart %u in %lld ms (policy %s)", inst->name,
	    inst->restart_why, inst->restart_attempt, (long long)delay,
	    restart_policy_name(rs->policy));
	return INSTANCE_BACKOFF;
}

/* Append a visible separator to inst's console log; best effort. */
static void
console_separator(struct instance *inst)
{
	char line[INSTANCE_REASON_MAX + 160];
	struct tm tm;
	time_t t = time(NULL);
	int fd, n;

	gmtime_r(&t, &tm);
	n = snprintf(line, sizeof(line),
	    "\n--- rumprund %04d-%02d-%02dT"
	    "%02d:%02d:%02dZ: restart %u (generation %u): %s ---\n",
	    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
	    tm.tm_sec, inst->restart_attempt, inst->generation + 1,
	    inst->restart_why);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(line))
		n = (int)sizeof(line) - 1;
	if ((fd = open(inst->log_path,
		 O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW,
		 0640)) == -1) {
		log_warn("%s: cannot write to %s", inst->name, inst->log_path);
		return;
	}
	if (write(fd, line, (size_t)n) != n)
		log_warn("%s: cannot write to %s", inst->name, inst->log_path);
	close(fd);
}

/* On a tick: start inst's next generation if its time has come. */
static void
restart_due(struct engine *e, struct instance *inst, int64_t now)
{
	const struct backend_slot *slot = &e->slots[inst->spec->platform];
	struct instance saved;
	struct rrerr err;
	json_t *ev;

	struct instance *other;

	if (now < inst->restart_at_ms || e->quiescing)
		return;
	/* After a host reboot: in creation order, AUTOSTART_GAP_MS apart. */
	if (inst->autostart) {
		if (now < e->autostart_gate_ms)
			return;
		TAILQ_FOREACH(other, &e->instances, link) {
			if (other->autostart &&
			    other->state == INSTANCE_BACKOFF &&
			    other->created_ms < inst->created_ms)
				return;
		}
	}
	/* Not before the first list; an absent backend is said below. */
	if (slot->b != NULL && slot->connected && !slot->listed)
		return;
	/* The record below goes after the ones queued: the next tick. */
	if (inst->writes > 0)
		return;
	saved = *inst;
	if (check_capacity(e, inst->spec, false, &err) == -1)
		goto blocked;
	console_separator(inst);
	inst->generation++;
	if (begin_generation(e, inst, &err) == -1 ||
	    write_record(e, inst, &err) == -1) {
		/* What begin_generation() let go of stays let go. */
		saved.console = inst->console;
		saved.addrs = inst->addrs;
		*inst = saved;
		if (inst->console != NULL) {
			console_rescan_from(inst->console, inst->gen_offset);
			console_set_ended(inst->console, true);
		}
		goto blocked;
	}
	inst->restart_count++;
	metrics_restart(inst->spec->platform);
	inst->restart_blocked = false;
	if (inst->autostart)
		e->autostart_gate_ms = now + AUTOSTART_GAP_MS;
	inst->autostart = false;
	ev = json_pack("{s:s,s:s,s:s,s:s,s:I,s:I,s:I,s:s}", "type", "restart",
	    "name", inst->name, "state", instance_state_name(inst->state),
	    "previous", instance_state_name(INSTANCE_BACKOFF), "generation",
	    (json_int_t)inst->generation, "attempt",
	    (json_int_t)inst->restart_attempt, "restart_count",
	    (json_int_t)inst->restart_count, "reason", inst->restart_why);
	if (ev != NULL)
		emit(e, inst, ev);
	log_info("%s: restart %u (generation %u): %s", inst->name,
	    inst->restart_attempt, inst->generation, inst->restart_why);
	start_job(e, inst, JOB_LAUNCH);
	advance(e, inst);
	return;

blocked:
	/* Capacity, a lost connection, a full disk: wait, say it once. */
	if (!inst->restart_blocked)
		log_warnx("%s: cannot restart it now: %s; trying again every "
			  "%d s",
		    inst->name, err.message, RESTART_BLOCKED_MS / 1000);
	inst->restart_blocked = true;
	inst->restart_at_ms = now + RESTART_BLOCKED_MS;
}

/* inst comes back after a host reboot. */
static void
reboot_backoff(struct engine *e, struct instance *inst)
{
	inst->restart_attempt = 1; /* of a new crash loop */
	inst->restart_at_ms = instance_now_ms();
	inst->autostart = true;
	/* An always instance stopped through the API comes back too. */
	inst->stop_requested = inst->stop_force = false;
	snprintf(inst->restart_why, sizeof(inst->restart_why), "%s",
	    "the host rebooted");
	if (inst->state != INSTANCE_BACKOFF)
		set_state(e, inst, INSTANCE_BACKOFF);
	else
		save(e, inst);
}

/* The host rebooted since the records were written: see above. */
static void
host_rebooted(struct engine *e)
{
	struct instance **v, *inst;
	char name[SPEC_NAME_MAX + 1];
	size_t n = 0, i;
	bool active;

	if ((v = calloc(e->ninstances + 1, sizeof(*v))) == NULL)
		return;
	TAILQ_FOREACH(inst, &e->instances, link)
		v[n++] = inst;
	qsort(v, n, sizeof(*v), by_creation);
	for (i = 0; i < n; i++) {
		inst = v[i];
		active = !instance_state_final(inst->state);
		if (active && inst->state != INSTANCE_BACKOFF) {
			if (inst->launched) {
				inst->domain_gone = true;
				inst->gone_how = BACKEND_EVENT_STOPPED;
			} else
				inst->launch_failed = true;
			set_reason(inst, "%s",
			    "the host rebooted while it ran "
			    "(a new kernel boot id)");
			inst->restart_attempt = 0;
			snprintf(name, sizeof(name), "%s", inst->name);
			advance(e, inst);
			/* auto_remove (never with a policy) forgot it. */
			if ((inst = find(e, name)) == NULL ||
			    inst->state != INSTANCE_BACKOFF)
				continue;
		} else if (!restart_on_reboot(&inst->spec->restart, active,
			       inst->stop_requested))
			continue;
		reboot_backoff(e, inst);
		log_info("%s: comes back after the host reboot (policy %s)",
		    inst->name,
		    restart_policy_name(inst->spec->restart.policy));
	}
	free(v);
}

/*
 * Compare the kernel's boot id with the one in the state directory and
 * keep the new one.  True when they differ: the host rebooted.  No file
 * yet (a new state directory) is not a reboot.
 */
static bool
check_boot_id(struct engine *e)
{
	char now[64] = "", before[64] = "", line[80], path[4096];
	FILE *f;
	bool rebooted;

	if (e->cfg.boot_id_file == NULL)
		return false;
	if ((f = fopen(e->cfg.boot_id_file, "re")) == NULL ||
	    fgets(now, sizeof(now), f) == NULL || now[0] == '\0') {
		log_warn("%s: cannot read the boot id; host reboots are not "
			 "told apart",
		    e->cfg.boot_id_file);
		if (f != NULL)
			fclose(f);
		return false;
	}
	fclose(f);
	now[strcspn(now, "\n")] = '\0';
	snprintf(path, sizeof(path), "%s/boot_id", e->state_dir);
	if ((f = fopen(path, "re")) != NULL) {
		if (fgets(before, sizeof(before), f) == NULL)
			before[0] = '\0';
		fclose(f);
		before[strcspn(before, "\n")] = '\0';
	}
	rebooted = before[0] != '\0' && strcmp(before, now) != 0;
	snprintf(line, sizeof(line), "%s\n", now);
	if (strcmp(before, now) != 0 &&
	    store_put_file(e->state_dir, "boot_id", line) == -1)
		log_warn("%s: cannot write", path);
	if (rebooted)
		log_info("the host rebooted (boot id %s, was %s)", now, before);
	return rebooted;
}

void
engine_launch(struct engine *e, struct spec *spec, engine_reply_fn *fn,
    void *arg)
{
	struct instance *inst;
	struct rrerr err;
	size_t i;

	/* The API refuses these first; no table here has a slot for them. */
	if ((int)spec->platform >= NPLATFORMS) {
		rrerr_set(&err, RRERR_INVALID, "platform",
		    "platform: %s images "
		    "are built with POST /v1/iso, not launched",
		    spec_platform_name(spec->platform));
		fn(arg, ENGINE_FAILED, NULL, &err);
		spec_free(spec);
		return;
	}
	if ((inst = find(e, spec->name)) != NULL) {
		/*
		 * Idempotent create: the same request gets the same instance,
		 * unless it is on its way out (a forced remove in flight): then
		 * the name is not free yet, and "running" would be a lie.
		 */
		if (inst->remove_requested)
			reply_field(fn, arg, RRERR_CONFLICT, "name",
			    "name: %s "
			    "is being removed; create it again once it is gone",
			    spec->name);
		else if (spec_equal(inst->spec, spec))
			fn(arg, ENGINE_EXISTED, instance_view(inst), NULL);
		else
			reply_field(fn, arg, RRERR_CONFLICT, "name",
			    "name: an "
			    "instance named %s exists with a different request: "
			    "remove it first (rrctl rm %s) or choose another "
			    "name (rrctl run -N)",
			    spec->name, spec->name);
		spec_free(spec);
		return;
	}
	if (check_capacity(e, spec, true, &err) == -1) {
		fn(arg, ENGINE_FAILED, NULL, &err);
		spec_free(spec);
		return;
	}
	if ((inst = calloc(1, sizeof(*inst))) == NULL) {
		reply_err(fn, arg, RRERR_INTERNAL, "%s: out of memory",
		    spec->name);
		spec_free(spec);
		return;
	}
	inst->engine = e;
	inst->spec = spec;
	TAILQ_INIT(&inst->waiters);
	snprintf(inst->name, sizeof(inst->name), "%s", spec->name);
	if (asprintf(&inst->log_path, "%s/%s.log", e->log_dir, spec->name) ==
	    -1) {
		inst->log_path = NULL;
		rrerr_set(&err, RRERR_INTERNAL, NULL, "%s: out of memory",
		    spec->name);
		goto fail;
	}
	for (i = 0; i < spec->nnics; i++) {
		if (spec->nics[i].mac != NULL)
			snprintf(inst->macs[i], sizeof(inst->macs[i]), "%s",
			    spec->nics[i].mac);
		else
			pick_mac(e, inst->macs[i], sizeof(inst->macs[i]));
	}
	inst->guest_config = guestconf_build(spec, spec->image, &err);
	if (inst->guest_config == NULL)
		goto fail;
	/*
	 * A log (or volume copies) left by an earlier instance of this
	 * name is not ours.
	 */
	imgstore_forget_instance(e->cfg.policy->store_dir, inst->name);
	if (unlink(inst->log_path) == -1 && errno != ENOENT) {
		rrerr_set(&err, RRERR_INTERNAL, NULL, "cannot replace %s: %s",
		    inst->log_path, strerror(errno));
		goto fail;
	}
	inst->generation = 1;
	inst->created_ms = instance_now_ms();
	if (begin_generation(e, inst, &err) == -1)
		goto fail;
	/*
	 * Recorded before the domain exists: nothing can be orphaned.  The
	 * writer thread writes the record; written_cb() goes on with the
	 * launch (launch_recorded()), or undoes it when the write failed
	 * (refuse_launch(): 503, as if it never was).  Meanwhile the instance
	 * is pending and holds a job, so that reconcile() leaves it alone.
	 */
	TAILQ_INSERT_TAIL(&e->instances, inst, link);
	e->ninstances++;
	inst->unrecorded = true;
	inst->jobs++;
	add_waiter(inst, WAIT_LAUNCH, ENGINE_CREATED, fn, arg);
	save(e, inst);
	if (inst->writes == 0 && inst->unrecorded) {
		/* Not queued (out of memory), or written here and now. */
		inst->unrecorded = false;
		inst->jobs--;
		if (inst->dirty) {
			snprintf(inst->refusal, sizeof(inst->refusal),
			    "%s: cannot write its record", inst->name);
			refuse_launch(e, inst);
			return;
		}
		launch_recorded(e, inst);
		advance(e, inst);
	}
	return;

fail:
	fn(arg, ENGINE_FAILED, NULL, &err);
	free_instance(inst);
}

void
engine_stop(struct engine *e, const char *name, bool force, int timeout_s,
    engine_reply_fn *fn, void *arg)
{
	struct instance *inst;
	int64_t deadline;

	if ((inst = find(e, name)) == NULL) {
		reply_err(fn, arg, RRERR_NOT_FOUND, "no instance named %s",
		    name);
		return;
	}
	if (instance_state_final(inst->state)) {
		fn(arg, ENGINE_ALREADY, instance_view(inst), NULL);
		return;
	}
	if (e->quiescing) {
		reply_err(fn, arg, RRERR_UNAVAILABLE,
		    "%s: rumprund is shutting down", name);
		return;
	}
	if (timeout_s < 0)
		timeout_s = (int)e->cfg.stop_timeout_s;
	deadline = instance_now_ms() + (int64_t)timeout_s * 1000;
	if (!inst->stop_requested || deadline < inst->stop_deadline_ms)
		inst->stop_deadline_ms = deadline;
	inst->stop_requested = true;
	inst->stop_force |= force;
	log_info("%s: stop requested%s", name, force ? " (force)" : "");
	save(e, inst);
	add_waiter(inst, WAIT_FINAL, ENGINE_DONE, fn, arg);
	advance(e, inst);
}

void
engine_start(struct engine *e, const char *name, engine_reply_fn *fn, void *arg)
{
	struct instance *inst, saved;
	struct rrerr err;

	if ((inst = find(e, name)) == NULL) {
		reply_err(fn, arg, RRERR_NOT_FOUND, "no instance named %s",
		    name);
		return;
	}
	if (inst->remove_requested) {
		reply_field(fn, arg, RRERR_CONFLICT, "name",
		    "name: %s is "
		    "being removed; launch it again once it is gone",
		    name);
		return;
	}
	if (!gen_over(inst->state)) {
		/* Paused by a pause: start is resume. */
		if (inst->paused_ms != 0) {
			engine_resume(e, name, fn, arg);
			return;
		}
		if (inst->state == INSTANCE_PAUSED && !inst->resumed &&
		    inst->jobs == 0 && !inst->stop_requested) {
			add_waiter(inst, WAIT_LAUNCH, ENGINE_DONE, fn, arg);
			start_job(e, inst, JOB_RESUME);
			/* Answer now: the state moves on as the guest runs. */
			inst->resumed = true;
			arm_boot(e, inst, instance_now_ms());
			advance(e, inst);
			return;
		}
		fn(arg, ENGINE_ALREADY, instance_view(inst), NULL);
		return;
	}
	if (check_capacity(e, inst->spec, false, &err) == -1) {
		fn(arg, ENGINE_FAILED, NULL, &err);
		return;
	}
	/*
	 * As for a launch, the record is written before the domain exists: a
	 * full disk refuses the start and leaves the instance as it was
	 * (otherwise a kill -9 would bring back the record of the generation
	 * before, and the new domain would be destroyed as an orphan).  It is
	 * written here (a start is rare), after the writes queued before it.
	 */
	if (e->writer != NULL && inst->writes > 0) {
		recwriter_sync(e->writer);
		if ((inst = find(e, name)) == NULL || !gen_over(inst->state) ||
		    inst->writes > 0) {
			reply_err(fn, arg, RRERR_CONFLICT,
			    "%s changed while its start waited; try again",
			    name);
			return;
		}
	}
	saved = *inst;
	inst->generation++;
	if (begin_generation(e, inst, &err) == -1 ||
	    write_record(e, inst, &err) == -1) {
		/* What begin_generation() let go of stays let go. */
		saved.console = inst->console;
		saved.addrs = inst->addrs;
		*inst = saved;
		instance_changed(inst);
		if (inst->console != NULL) {
			console_rescan_from(inst->console, inst->gen_offset);
			console_set_ended(inst->console, true);
		}
		fn(arg, ENGINE_FAILED, NULL, &err);
		return;
	}
	publish(e, inst, "state", INSTANCE_PENDING);
	log_info("%s: starting again (generation %u)", name, inst->generation);
	add_waiter(inst, WAIT_LAUNCH, ENGINE_DONE, fn, arg);
	start_job(e, inst, JOB_LAUNCH);
	advance(e, inst);
}

void
engine_remove(struct engine *e, const char *name, bool force,
    engine_reply_fn *fn, void *arg)
{
	struct instance *inst;

	if ((inst = find(e, name)) == NULL) {
		reply_err(fn, arg, RRERR_NOT_FOUND, "no instance named %s",
		    name);
		return;
	}
	if (!instance_state_final(inst->state) && !force) {
		reply_field(fn, arg, RRERR_CONFLICT, "name",
		    "name: %s has not "
		    "ended: stop it first (rrctl stop %s), or remove it with "
		    "force=true (rrctl rm -f %s)",
		    name, name, name);
		return;
	}
	if (!instance_state_final(inst->state)) {
		inst->stop_requested = true;
		inst->stop_force = true;
	}
	inst->remove_requested = true;
	add_waiter(inst, WAIT_REMOVED, ENGINE_DONE, fn, arg);
	advance(e, inst);
}

json_t *
engine_get(struct engine *e, const char *name, struct rrerr *err)
{
	struct instance *inst;

	if ((inst = find(e, name)) == NULL) {
		rrerr_set(err, RRERR_NOT_FOUND, NULL, "no instance named %s",
		    name);
		return NULL;
	}
	return instance_view(inst);
}

static bool
has_label(const struct spec *spec, const char *key, const char *value)
{
	size_t i;

	for (i = 0; i < spec->nlabels; i++) {
		if (strcmp(spec->labels[i].key, key) == 0)
			return value == NULL ||
			    strcmp(spec->labels[i].value, value) == 0;
	}
	return false;
}

json_t *
engine_list(struct engine *e, const struct engine_filter *f)
{
	struct instance *inst;
	json_t *a = json_array();

	TAILQ_FOREACH(inst, &e->instances, link) {
		if (f->state != NULL &&
		    strcmp(f->state, instance_state_name(inst->state)) != 0)
			continue;
		if (f->platform != NULL &&
		    strcmp(f->platform,
			spec_platform_name(inst->spec->platform)) != 0)
			continue;
		if (f->label_key != NULL &&
		    !has_label(inst->spec, f->label_key, f->label_value))
			continue;
		json_array_append_new(a, instance_view(inst));
	}
	return a;
}

int
engine_get_text(struct engine *e, const char *name, struct sbuf *sb,
    struct rrerr *err)
{
	struct instance *inst;

	if ((inst = find(e, name)) == NULL)
		return rrerr_set(err, RRERR_NOT_FOUND, NULL,
		    "no instance named %s", name);
	if (instance_view_append(inst, sb) == -1)
		return rrerr_set(err, RRERR_INTERNAL, NULL, "out of memory");
	return 0;
}

/* Older first, then by name: the order of "created" as text, then name. */
static int
by_creation(const void *a, const void *b)
{
	const struct instance *x = *(struct instance *const *)a;
	const struct instance *y = *(struct instance *const *)b;

	if (x->created_ms != y->created_ms)
		return x->created_ms < y->created_ms ? -1 : 1;
	return strcmp(x->name, y->name);
}

/* Is the kept text of the whole list still what it would be made of? */
static bool
list_fresh(const struct engine *e)
{
	uint64_t start, end;
	size_t i;

	if (e->list.text == NULL || e->list.changes != instance_changes())
		return false;
	for (i = 0; i < e->list.nlive; i++) {
		instance_log_range(e->list.live[i].inst, &start, &end);
		if (start != e->list.live[i].start ||
		    end != e->list.live[i].end)
			return false;
	}
	return true;
}

static void
list_forget(struct engine *e)
{
	free(e->list.text);
	free(e->list.live);
	memset(&e->list, 0, sizeof(e->list));
}

/* Keep text (len bytes, copied), the whole list made of instances v[n]. */
static void
list_keep(struct engine *e, const char *text, size_t len, struct instance **v,
    size_t n)
{
	size_t i;

	list_forget(e);
	if ((e->list.text = malloc(len)) == NULL)
		return;
	for (i = 0; i < n; i++) {
		struct list_live *nl;

		if (instance_state_final(v[i]->state))
			continue;
		nl = realloc(e->list.live, (e->list.nlive + 1) * sizeof(*nl));
		if (nl == NULL) {
			list_forget(e);
			return;
		}
		e->list.live = nl;
		nl[e->list.nlive].inst = v[i];
		instance_log_range(v[i], &nl[e->list.nlive].start,
		    &nl[e->list.nlive].end);
		e->list.nlive++;
	}
	memcpy(e->list.text, text, len);
	e->list.len = len;
	e->list.changes = instance_changes();
}

int
engine_list_text(struct engine *e, const struct engine_filter *f,
    struct sbuf *sb)
{
	struct instance *inst, **v;
	size_t i, n = 0, bytes = 2, from = sb->len;
	bool sorted = true, all;

	all = f->state == NULL && f->platform == NULL && f->label_key == NULL &&
	    f->match == NULL;
	if (all && list_fresh(e)) {
		sbuf_addn(sb, e->list.text, e->list.len);
		return sb->failed ? -1 : 0;
	}
	if ((v = calloc(e->ninstances + 1, sizeof(*v))) == NULL)
		return -1;
	TAILQ_FOREACH(inst, &e->instances, link) {
		if (f->state != NULL &&
		    strcmp(f->state, instance_state_name(inst->state)) != 0)
			continue;
		if (f->platform != NULL &&
		    strcmp(f->platform,
			spec_platform_name(inst->spec->platform)) != 0)
			continue;
		if (f->label_key != NULL &&
		    !has_label(inst->spec, f->label_key, f->label_value))
			continue;
		if (f->match != NULL && !f->match(f->match_arg, inst->spec))
			continue;
		if (n == e->ninstances)
			break;
		if (n > 0 && by_creation(&v[n - 1], &inst) > 0)
			sorted = false;
		v[n++] = inst;
		/* The kept text (or a guess) and the log's two numbers. */
		bytes += (inst->view_text != NULL ? inst->view_len : 1024) + 48;
	}
	/* The table is kept in creation order (sort_table()): seldom needed. */
	if (!sorted)
		qsort(v, n, sizeof(*v), by_creation);
	sbuf_reserve(sb, bytes);
	sbuf_addc(sb, '[');
	for (i = 0; i < n && !sb->failed; i++) {
		if (i > 0)
			sbuf_addc(sb, ',');
		if (instance_view_append(v[i], sb) == -1)
			break;
	}
	sbuf_addc(sb, ']');
	if (all && !sb->failed)
		list_keep(e, sb->buf + from, sb->len - from, v, n);
	free(v);
	return sb->failed ? -1 : 0;
}

json_t *
engine_info(struct engine *e)
{
	static const char *const accels[] = { "default", "kvm", "tcg" };
	json_t *backends, *counts, *orphans, *b;
	struct instance *inst;
	struct orphan *o;
	struct sysinfo si;
	json_int_t n;
	int p;

	backends = json_object();
	for (p = 0; p < NPLATFORMS; p++) {
		const char *pname = spec_platform_name((enum spec_platform)p);

		if (e->cfg.ops[p] == NULL)
			b = json_pack("{s:b,s:s}", "available", 0, "reason",
			    "not built into this rumprund");
		else if (e->slots[p].b == NULL)
			b = json_pack("{s:b,s:s}", "available", 0, "reason",
			    e->slots[p].reason);
		else
			b = json_pack("{s:b,s:b}", "available", 1, "connected",
			    e->slots[p].connected);
		json_object_set_new(backends, pname, b);
	}
	counts = json_object();
	TAILQ_FOREACH(inst, &e->instances, link) {
		const char *s = instance_state_name(inst->state);

		n = json_integer_value(json_object_get(counts, s));
		json_object_set_new(counts, s, json_integer(n + 1));
	}
	/* Leftovers libvirt refused to destroy so far (tried again). */
	orphans = json_array();
	TAILQ_FOREACH(o, &e->orphans, link) {
		if (o->reported)
			json_array_append_new(orphans,
			    json_string(o->domain_name));
	}
	if (sysinfo(&si) == -1)
		memset(&si, 0, sizeof(si));
	return json_pack("{s:s,s:o,s:s,s:s?,s:{s:I,s:I},s:o,s:I,s:{s:I,s:I,"
			 "s:I,s:I},s:s,s:o,s:I}",
	    "version", RUMPRUND_VERSION, "backends", backends, "accel",
	    accels[e->cfg.backend.accel], "cpu_model", e->cfg.backend.cpu_model,
	    "host", "memory_mib",
	    (json_int_t)((uint64_t)si.totalram * si.mem_unit >> 20), "cpus",
	    (json_int_t)sysconf(_SC_NPROCESSORS_ONLN), "counts", counts,
	    "instances", (json_int_t)e->ninstances, "limits", "max_instances",
	    (json_int_t)e->cfg.max_instances, "max_total_memory_mib",
	    (json_int_t)e->cfg.max_total_memory_mib, "max_memory_mib",
	    (json_int_t)e->cfg.policy->max_memory_mib, "max_vcpus",
	    (json_int_t)e->cfg.policy->max_vcpus, "owner",
	    store_owner(e->store), "orphans", orphans, "waits",
	    (json_int_t)e->nwaits);
}

json_t *
engine_health(struct engine *e)
{
	return json_pack("{s:s,s:b}", "status",
	    e->quiescing ? "stopping" : "ok", "kvm_connected",
	    e->slots[SPEC_PLATFORM_KVM].b != NULL &&
		e->slots[SPEC_PLATFORM_KVM].connected);
}

struct console *
engine_console(struct engine *e, const char *name, struct rrerr *err)
{
	struct instance *inst;

	if ((inst = find(e, name)) == NULL) {
		rrerr_set(err, RRERR_NOT_FOUND, NULL, "no instance named %s",
		    name);
		return NULL;
	}
	if (inst->console == NULL) {
		rrerr_set(err, RRERR_UNAVAILABLE, NULL,
		    "%s: the console log is not open", name);
		return NULL;
	}
	console_poll(inst->console);
	console_ref(inst->console);
	return inst->console;
}

void engine_foreach(struct engine *e,
    void (*fn)(void *arg, const struct instance *inst), void *arg)
{
	struct instance *inst;

	TAILQ_FOREACH(inst, &e->instances, link)
		fn(arg, inst);
}

struct backend *
engine_backend(struct engine *e, int p, const struct backend_ops **ops)
{
	if (p < 0 || p >= NPLATFORMS || e->slots[p].b == NULL ||
	    !e->slots[p].connected)
		return NULL;
	*ops = e->cfg.ops[p];
	return e->slots[p].b;
}

int
engine_backend_state(const struct engine *e, int p)
{
	if (p < 0 || p >= NPLATFORMS || e->cfg.ops[p] == NULL)
		return -1;
	return e->slots[p].b != NULL && e->slots[p].connected;
}

const char *
engine_owner(const struct engine *e)
{
	return store_owner(e->store);
}

struct collect *
engine_collector(struct engine *e)
{
	return e->collect;
}

int
engine_build_iso(struct engine *e, struct spec *spec, isojobs_done_fn *fn,
    void *arg, struct rrerr *err)
{
	return isojobs_build(e->iso, spec, fn, arg, err);
}

struct events *
engine_events(struct engine *e)
{
	return e->events;
}

/*
 * Put the table in creation order (the records load in name order), so
 * that lists need no sorting: launches add at the end.
 */
static void
sort_table(struct engine *e)
{
	struct instance *inst, **v;
	size_t i, n = 0;

	if (e->ninstances < 2 ||
	    (v = calloc(e->ninstances, sizeof(*v))) == NULL)
		return;
	while (
	    (inst = TAILQ_FIRST(&e->instances)) != NULL && n < e->ninstances) {
		TAILQ_REMOVE(&e->instances, inst, link);
		v[n++] = inst;
	}
	qsort(v, n, sizeof(*v), by_creation);
	for (i = 0; i < n; i++)
		TAILQ_INSERT_TAIL(&e->instances, v[i], link);
	free(v);
}

/* store_load() callback: one instance back from its record. */
static void
load_one(void *arg, const char *name, json_t *rec)
{
	struct engine *e = arg;
	struct spec_policy trusted = *e->cfg.policy;
	struct instance *inst;
	struct rrerr err;

	if ((inst = calloc(1, sizeof(*inst))) == NULL)
		return;
	inst->engine = e;
	TAILQ_INIT(&inst->waiters);
	/* Our own record: a changed policy must not lose the instance. */
	trusted.trusted = true;
	if (instance_from_record(inst, rec, &trusted, &err) == -1) {
		log_warnx("%s: cannot use its record: %s", name, err.message);
		free(inst);
		return;
	}
	/* Nothing launches on iso: a record that says so was not ours. */
	if ((int)inst->spec->platform >= NPLATFORMS) {
		log_warnx("%s: cannot use its record: platform %s is never "
			  "launched",
		    name, spec_platform_name(inst->spec->platform));
		free_instance(inst);
		return;
	}
	if (asprintf(&inst->log_path, "%s/%s.log", e->log_dir, inst->name) ==
	    -1) {
		inst->log_path = NULL;
		log_warnx("%s: out of memory", name);
		free_instance(inst);
		return;
	}
	inst->guest_config = guestconf_build(inst->spec, inst->spec->image,
	    &err);
	inst->console = console_open(e->cfg.loop, inst->log_path,
	    inst->gen_offset, e->cfg.console_cap, on_marker, inst, &err);
	if (inst->console == NULL)
		log_warnx("%s: %s", name, err.message);
	/* Addresses are not recorded: asked again as after a launch. */
	addrs_reset(&inst->addrs, instance_now_ms());
	instance_changed(inst);
	TAILQ_INSERT_TAIL(&e->instances, inst, link);
	e->ninstances++;
	/* Replay this generation's markers before the hypervisor is asked. */
	if (inst->console != NULL) {
		if (gen_over(inst->state)) {
			console_set_ended(inst->console, true);
			if (instance_state_final(inst->state))
				console_rest(inst->console);
		} else
			console_poll(inst->console);
	}
	if (inst->state == INSTANCE_RUNNING)
		inst->calling_seen = true;
	/* A record from before the boot watchdog: count from the launch. */
	if (inst->boot_deadline_ms < 0) {
		inst->boot_deadline_ms = 0;
		if (inst->state == INSTANCE_STARTING && inst->started_ms != 0)
			arm_boot(e, inst, inst->started_ms);
	}
	/* Running when rumprund stopped: its files are checked again. */
	if (!gen_over(inst->state) && inst->launched)
		check_adopted(e, inst);
}

struct engine *
engine_open(const struct engine_config *cfg, struct rrerr *err)
{
	struct engine *e;
	int p, broken;

	if ((e = calloc(1, sizeof(*e))) == NULL) {
		rrerr_set(err, RRERR_INTERNAL, NULL, "out of memory");
		return NULL;
	}
	e->cfg = *cfg;
	TAILQ_INIT(&e->instances);
	TAILQ_INIT(&e->orphans);
	pthread_mutex_init(&e->evq_lock, NULL);
	if ((e->state_dir = strdup(cfg->state_dir)) == NULL ||
	    (e->log_dir = strdup(cfg->log_dir)) == NULL) {
		rrerr_set(err, RRERR_INTERNAL, NULL, "out of memory");
		goto fail;
	}
	if ((e->store = store_open(cfg->state_dir, err)) == NULL)
		goto fail;
	e->cfg.backend.owner = store_owner(e->store);
	if ((e->events = events_open(cfg->state_dir, EVENTS_KEEP, err)) == NULL)
		goto fail;
	if ((e->collect = collect_new(e, cfg->loop)) == NULL ||
	    (e->iso = isojobs_new(cfg->loop, cfg->policy)) == NULL) {
		rrerr_set(err, RRERR_INTERNAL, NULL, "out of memory");
		goto fail;
	}
	/* The last that can fail: its uv_async lives as long as the loop. */
	if ((e->writer = recwriter_open(cfg->loop, e->store, written_cb, e,
		 err)) == NULL)
		goto fail;
	uv_async_init(cfg->loop, &e->async, on_async);
	e->async.data = e;
	uv_timer_init(cfg->loop, &e->tick);
	e->tick.data = e;
	uv_timer_start(&e->tick, on_tick, TICK_MS, TICK_MS);

	broken = store_load(e->store, load_one, e);
	sort_table(e);
	log_info("%zu instances loaded%s", e->ninstances,
	    broken > 0 ? " (some records were broken: see above)" : "");
	if (check_boot_id(e))
		host_rebooted(e);
	for (p = 0; p < NPLATFORMS; p++) {
		e->slots[p].e = e;
		e->slots[p].platform = p;
		if (cfg->ops[p] == NULL)
			snprintf(e->slots[p].reason, sizeof(e->slots[p].reason),
			    "not built into this rumprund");
		open_backend(e, p);
	}
	return e;

fail:
	collect_free(e->collect);
	isojobs_free(e->iso);
	store_close(e->store);
	events_close(e->events);
	free(e->state_dir);
	free(e->log_dir);
	pthread_mutex_destroy(&e->evq_lock);
	free(e);
	return NULL;
}

void
engine_quiesce(struct engine *e)
{
	struct instance *inst;
	struct waiter *w;
	struct rrerr err;

	if (e->quiescing)
		return;
	e->quiescing = true;
	isojobs_quiesce(e->iso);
	/* Answers of the writes queued come now, outside any walk below. */
	if (e->writer != NULL)
		recwriter_sync(e->writer);
	flush_dirty(e);
	rrerr_set(&err, RRERR_UNAVAILABLE, NULL, "rumprund is shutting down");
	TAILQ_FOREACH(inst, &e->instances, link) {
		while ((w = TAILQ_FIRST(&inst->waiters)) != NULL) {
			TAILQ_REMOVE(&inst->waiters, w, link);
			waiter_gone(inst, w);
			w->fn(w->arg, ENGINE_FAILED, NULL, &err);
			free(w);
		}
		/* Stop following the file; guests keep writing to it. */
		console_close(inst->console);
		inst->console = NULL;
	}
	/* The records queued are on disk before rumprund goes. */
	recwriter_quiesce(e->writer);
	uv_timer_stop(&e->tick);
	uv_close((uv_handle_t *)&e->tick, NULL);
	uv_close((uv_handle_t *)&e->async, NULL);
}

void
engine_close(struct engine *e)
{
	struct instance *inst;
	struct orphan *o;
	int p;

	if (e == NULL)
		return;
	for (p = 0; p < NPLATFORMS; p++) {
		if (e->slots[p].b != NULL)
			e->cfg.ops[p]->close(e->slots[p].b);
	}
	recwriter_close(e->writer);
	while ((inst = TAILQ_FIRST(&e->instances)) != NULL) {
		TAILQ_REMOVE(&e->instances, inst, link);
		free_instance(inst);
	}
	while ((o = TAILQ_FIRST(&e->orphans)) != NULL) {
		TAILQ_REMOVE(&e->orphans, o, link);
		free(o);
	}
	list_forget(e);
	collect_free(e->collect);
	isojobs_free(e->iso);
	store_close(e->store);
	events_close(e->events);
	free(e->evq);
	free(e->ended);
	pthread_mutex_destroy(&e->evq_lock);
	free(e->state_dir);
	free(e->log_dir);
	free(e);
}

/*
 * Pause, restart, kill, wait.
 *
 * A pause is a fact of the generation, paused_ms (when it began; kept in
 * the record, so that a paused guest is shown paused after a restart of
 * rumprund): the state is "paused" while it is set, and the state the
 * guest had (starting or running) when it is cleared.  The backend's
 * events and its list() also report pauses made behind rumprund's back
 * (virsh suspend, xl pause) and their end.  A paused guest's boot
 * watchdog stands still: the time it was paused is added to its deadline
 * at the resume.  A paused guest cannot hear a shutdown request, so a stop
 * destroys it at once.
 *
 * A restart is a stop (as engine_stop(), the same timeout) with
 * restart_pending set, also in the record: once the generation has ended
 * and no backend call about it is in flight, advance() launches the next
 * generation (restart_now()), after a kill -9 of rumprund too.  Its events
 * are one sequence: "restarting", then the states of the stop and of the
 * new generation's launch.
 *
 * A wait is a WAIT_COND waiter, at most ENGINE_WAITS_MAX of them: answered
 * by resolve_waiters(), or by tick_ops() once its deadline passed or its
 * client left.
 */

/* Launch the next generation of inst, which ended during a restart. */
static void
restart_now(struct engine *e, struct instance *inst)
{
	struct instance saved;
	enum instance_state was = inst->state;
	struct rrerr err;

	if (e->quiescing)
		return; /* the record keeps it for the next rumprund */
	if (check_capacity(e, inst->spec, false, &err) == -1) {
		/* The hypervisor is away: tick_ops() tries again. */
		if (err.code == RRERR_UNAVAILABLE)
			return;
		goto fail;
	}
	saved = *inst;
	inst->generation++;
	inst->restart_pending = false;
	if (begin_generation(e, inst, &err) == -1 ||
	    write_record(e, inst, &err) == -1) {
		/* What begin_generation() let go of stays let go. */
		saved.console = inst->console;
		saved.addrs = inst->addrs;
		*inst = saved;
		if (inst->console != NULL) {
			console_rescan_from(inst->console, inst->gen_offset);
			console_set_ended(inst->console, true);
		}
		goto fail;
	}
	publish(e, inst, "state", was);
	log_info("%s: restarting (generation %u)", inst->name,
	    inst->generation);
	start_job(e, inst, JOB_LAUNCH);
	advance(e, inst);
	return;

fail:
	log_warnx("%s: cannot restart: %s", inst->name, err.message);
	inst->restart_pending = false;
	save(e, inst);
	fail_waiters(inst, WAIT_RESTART, &err);
	advance(e, inst);
}

/*
 * Every tick: waits whose time is up or whose client left, and restarts
 * that wait for the hypervisor (or for the first list after a restart of
 * rumprund).
 */
static void
tick_ops(struct engine *e, int64_t now)
{
	struct instance *inst, *next;
	struct waiter *w, *wnext;
	struct rrerr gone;

	rrerr_set(&gone, RRERR_UNAVAILABLE, NULL, "the client left");
	for (inst = TAILQ_FIRST(&e->instances); inst != NULL; inst = next) {
		next = TAILQ_NEXT(inst, link);
		for (w = TAILQ_FIRST(&inst->waiters); w != NULL; w = wnext) {
			wnext = TAILQ_NEXT(w, link);
			if (w->kind != WAIT_COND)
				continue;
			if (w->alive != NULL && !w->alive(w->arg)) {
				TAILQ_REMOVE(&inst->waiters, w, link);
				waiter_gone(inst, w);
				w->fn(w->arg, ENGINE_FAILED, NULL, &gone);
				free(w);
			} else if (w->deadline_ms != 0 &&
			    now >= w->deadline_ms) {
				TAILQ_REMOVE(&inst->waiters, w, link);
				waiter_gone(inst, w);
				w->fn(w->arg, ENGINE_DONE,
				    wait_result(inst, w,
					w->want >= 0 &&
					    (int)inst->state == w->want,
					true),
				    NULL);
				free(w);
			}
		}
		if (inst->restart_pending &&
		    instance_state_final(inst->state) && inst->jobs == 0 &&
		    !e->quiescing && e->slots[inst->spec->platform].listed &&
		    e->slots[inst->spec->platform].connected)
			advance(e, inst);
	}
}

/* inst for an operation on a guest that runs, or NULL after answering. */
static struct instance *
live_instance(struct engine *e, const char *name, const char *what,
    engine_reply_fn *fn, void *arg)
{
	struct instance *inst;

	if ((inst = find(e, name)) == NULL) {
		reply_err(fn, arg, RRERR_NOT_FOUND, "no instance named %s",
		    name);
		return NULL;
	}
	if (e->quiescing) {
		reply_err(fn, arg, RRERR_UNAVAILABLE,
		    "%s: rumprund is shutting down", name);
		return NULL;
	}
	if (gen_over(inst->state)) {
		reply_field(fn, arg, RRERR_CONFLICT, "name",
		    "name: %s has ended (%s): nothing to %s%s", name,
		    instance_state_name(inst->state), what,
		    strcmp(what, "kill") != 0 ? "; start it again first" : "");
		return NULL;
	}
	if (inst->remove_requested || inst->stop_requested) {
		reply_field(fn, arg, RRERR_CONFLICT, "name",
		    "name: %s is being %s: nothing to %s", name,
		    inst->remove_requested ? "removed" : "stopped", what);
		return NULL;
	}
	if (!inst->launched) {
		reply_field(fn, arg, RRERR_CONFLICT, "name",
		    "name: %s is being launched; %s it once it has started",
		    name, what);
		return NULL;
	}
	return inst;
}

/*
 * Start the pause or resume job of inst (kind), answering fn once it is
 * done (wait), or at once when the backend has no connection.
 */
static void
pause_job(struct engine *e, struct instance *inst, enum job_kind kind,
    enum waiter_kind wait, engine_reply_fn *fn, void *arg)
{
	const struct backend_slot *slot = &e->slots[inst->spec->platform];

	if (slot->b == NULL || !slot->connected) {
		reply_field(fn, arg, RRERR_UNAVAILABLE, "platform",
		    "platform: "
		    "the %s backend has lost its hypervisor connection; try "
		    "again",
		    e->cfg.ops[inst->spec->platform]->name);
		return;
	}
	log_info("%s: %s requested", inst->name,
	    kind == JOB_PAUSE ? "pause" : "resume");
	if (add_waiter(inst, wait, ENGINE_DONE, fn, arg) == NULL)
		return;
	inst->pause_job = true;
	start_job(e, inst, kind);
	advance(e, inst);
}

void
engine_pause(struct engine *e, const char *name, engine_reply_fn *fn, void *arg)
{
	struct instance *inst;
	const struct backend_ops *ops;

	if ((inst = live_instance(e, name, "pause", fn, arg)) == NULL)
		return;
	if (is_paused(inst)) {
		fn(arg, ENGINE_ALREADY, instance_view(inst), NULL);
		return;
	}
	ops = e->cfg.ops[inst->spec->platform];
	if (ops == NULL || ops->pause == NULL) {
		reply_field(fn, arg, RRERR_CONFLICT, "platform",
		    "platform: the %s backend cannot pause a guest",
		    ops != NULL ? ops->name :
				  spec_platform_name(inst->spec->platform));
		return;
	}
	if (inst->pause_job) {
		reply_field(fn, arg, RRERR_CONFLICT, "name",
		    "name: a pause or resume of %s is in progress; try again",
		    name);
		return;
	}
	pause_job(e, inst, JOB_PAUSE, WAIT_PAUSE, fn, arg);
}

void
engine_resume(struct engine *e, const char *name, engine_reply_fn *fn,
    void *arg)
{
	struct instance *inst;

	if ((inst = live_instance(e, name, "resume", fn, arg)) == NULL)
		return;
	if (!is_paused(inst)) {
		fn(arg, ENGINE_ALREADY, instance_view(inst), NULL);
		return;
	}
	if (inst->pause_job || (inst->jobs > 0 && inst->paused_ms == 0)) {
		reply_field(fn, arg, RRERR_CONFLICT, "name",
		    "name: a pause or resume of %s is in progress; try again",
		    name);
		return;
	}
	pause_job(e, inst, JOB_RESUME, WAIT_RESUME, fn, arg);
}

void
engine_restart(struct engine *e, const char *name, int timeout_s,
    engine_reply_fn *fn, void *arg)
{
	struct instance *inst;
	enum instance_state was;
	json_t *ev;
	int64_t deadline;

	if ((inst = find(e, name)) == NULL) {
		reply_err(fn, arg, RRERR_NOT_FOUND, "no instance named %s",
		    name);
		return;
	}
	/* Ended, or waiting for its policy's restart: a start now. */
	if (gen_over(inst->state) && !inst->restart_pending) {
		engine_start(e, name, fn, arg);
		return;
	}
	if (e->quiescing) {
		reply_err(fn, arg, RRERR_UNAVAILABLE,
		    "%s: rumprund is shutting down", name);
		return;
	}
	if (inst->remove_requested) {
		reply_field(fn, arg, RRERR_CONFLICT, "name",
		    "name: %s is being removed", name);
		return;
	}
	if (!inst->launched && !inst->launch_failed) {
		reply_field(fn, arg, RRERR_CONFLICT, "name",
		    "name: %s is being "
		    "launched; restart it once it has started",
		    name);
		return;
	}
	if (add_waiter(inst, WAIT_RESTART, ENGINE_DONE, fn, arg) == NULL)
		return;
	if (inst->restart_pending)
		return; /* one restart is on its way: answered with it */
	if (timeout_s < 0)
		timeout_s = (int)e->cfg.stop_timeout_s;
	deadline = instance_now_ms() + (int64_t)timeout_s * 1000;
	if (!inst->stop_requested || deadline < inst->stop_deadline_ms)
		inst->stop_deadline_ms = deadline;
	inst->stop_requested = true;
	inst->restart_pending = true;
	was = inst->state;
	log_info("%s: restart requested", name);
	save(e, inst);
	ev = json_pack("{s:s,s:s,s:s,s:I}", "type", "restarting", "name",
	    inst->name, "state", instance_state_name(was), "generation",
	    (json_int_t)inst->generation);
	if (ev != NULL)
		emit(e, inst, ev); /* once the record says restart_pending */
	advance(e, inst);
}

void
engine_kill(struct engine *e, const char *name, engine_reply_fn *fn, void *arg)
{
	struct instance *inst;

	if ((inst = find(e, name)) == NULL) {
		reply_err(fn, arg, RRERR_NOT_FOUND, "no instance named %s",
		    name);
		return;
	}
	if (instance_state_final(inst->state)) {
		reply_field(fn, arg, RRERR_CONFLICT, "name",
		    "name: %s has ended (%s): nothing to kill", name,
		    instance_state_name(inst->state));
		return;
	}
	if (!e->quiescing && !inst->stop_force)
		set_reason(inst, "%s", "killed through the API");
	/* A stop requested through the API, forced: stop_requested. */
	engine_stop(e, name, true, 0, fn, arg);
}

void
engine_wait(struct engine *e, const char *name, int want, int64_t timeout_ms,
    engine_alive_fn *alive, engine_reply_fn *fn, void *arg)
{
	struct instance *inst;
	struct waiter *w;

	if ((inst = find(e, name)) == NULL) {
		reply_err(fn, arg, RRERR_NOT_FOUND, "no instance named %s",
		    name);
		return;
	}
	if (e->quiescing) {
		reply_err(fn, arg, RRERR_UNAVAILABLE,
		    "%s: rumprund is shutting down", name);
		return;
	}
	if (e->nwaits >= ENGINE_WAITS_MAX) {
		reply_err(fn, arg, RRERR_UNAVAILABLE,
		    "%u waits are in progress, "
		    "the most at once; try again later",
		    ENGINE_WAITS_MAX);
		return;
	}
	if ((w = add_waiter(inst, WAIT_COND, ENGINE_DONE, fn, arg)) == NULL)
		return;
	w->want = want;
	w->alive = alive;
	if (timeout_ms >= 0)
		w->deadline_ms = instance_now_ms() + timeout_ms;
	resolve_waiters(inst);
	/* timeout 0: the answer is now. */
	if (timeout_ms == 0 && TAILQ_FIRST(&inst->waiters) != NULL)
		tick_ops(e, instance_now_ms());
}
