/*
 * engine: the instance table, its state machine, and the one caller of the
 * backends.
 *
 * Everything here runs on the libuv loop thread, which owns all state.
 * Blocking backend calls go to libuv's thread pool (uv_queue_work) and come
 * back to the loop; hypervisor events arrive from the backend's thread
 * through a queue and a uv_async.  Operations that wait for the hypervisor
 * answer through an engine_reply_fn, called once, on the loop thread,
 * possibly before the engine_* call returns.
 *
 * The state of an instance follows from facts (the backend created the
 * domain; the console showed main() called, returned N, halted, PANIC; the
 * domain is gone, and how; a stop was asked for) in advance() of engine.c,
 * so that an event arriving late or twice cannot move it backwards.
 */
#ifndef ENGINE_H
#define ENGINE_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>
#include <uv.h>

#include "backend.h"
#include "console.h"
#include "events.h"
#include "isojobs.h"
#include "rrerr.h"
#include "spec.h"

struct engine;

struct engine_config {
	uv_loop_t *loop;
	const char *state_dir;
	const char *log_dir;		  /* console logs: LOG_DIR/NAME.log */
	const struct spec_policy *policy; /* borrowed for the engine's life */
	/* By enum spec_platform, the launched ones only; NULL: not built. */
	const struct backend_ops *ops[SPEC_PLATFORMS_LAUNCHED];
	struct backend_config backend;
	unsigned int max_instances;
	uint64_t
	    max_total_memory_mib; /* over all guests not ended; 0: no limit */
	uint64_t console_cap;	  /* bytes kept per console log; 0: no cap */
	unsigned int stop_timeout_s; /* graceful stop before destroy */
	/* Seconds a guest has to reach main() unless its spec says; 0: none. */
	unsigned int boot_timeout_s;
	/*
	 * The kernel's boot id (/proc/sys/kernel/random/boot_id); NULL: no
	 * host reboot is ever seen.  See "Restart policies" in engine.c.
	 */
	const char *boot_id_file;
};

/*
 * What an operation came to.  The API alone maps it to an HTTP status
 * (api/routes.c), as it maps an error's enum rrerr_code.
 */
enum engine_outcome {
	ENGINE_FAILED,	/* err says why */
	ENGINE_CREATED, /* launch: a new instance */
	ENGINE_EXISTED, /* launch: an identical instance exists */
	ENGINE_DONE,	/* carried out (a wait: answered, met or not) */
	/*
	 * Nothing to do, it was so already: a stop of an ended instance, a
	 * start of one that runs (or is on its way), a pause of a paused one,
	 * a resume of one not paused.
	 */
	ENGINE_ALREADY,
};

/*
 * The answer to an operation: its outcome with body (stolen), or
 * ENGINE_FAILED with err (borrowed).
 */
typedef void engine_reply_fn(void *arg, enum engine_outcome outcome,
    json_t *body, const struct rrerr *err);

/*
 * Load the records, connect the backends (an unavailable one is retried in
 * the background) and reconcile records with the running domains: running
 * guests are adopted, not restarted.  NULL with err on a fatal error (the
 * state directory is unusable).
 */
struct engine *engine_open(const struct engine_config *cfg, struct rrerr *err);

/*
 * Stop taking operations: every operation still waiting is answered
 * RRERR_UNAVAILABLE, new ones are refused.  Backend calls in flight
 * finish; guests keep running.  ISO builds in progress are cancelled
 * (answered the same), new ones refused.
 */
void engine_quiesce(struct engine *e);

/* Free the engine once the loop has no more work of it; NULL is fine. */
void engine_close(struct engine *e);

/*
 * Launch spec (stolen): ENGINE_CREATED with the instance once it left
 * pending; ENGINE_EXISTED at once when an identical one exists.
 */
void engine_launch(struct engine *e, struct spec *spec, engine_reply_fn *fn,
    void *arg);
void engine_stop(struct engine *e, const char *name, bool force, int timeout_s,
    engine_reply_fn *fn, void *arg);
void engine_start(struct engine *e, const char *name, engine_reply_fn *fn,
    void *arg);
void engine_remove(struct engine *e, const char *name, bool force,
    engine_reply_fn *fn, void *arg);

/*
 * Operations on a guest that runs (see "Pause, restart, kill, wait" in
 * engine.c).  pause and resume answer ENGINE_DONE with the instance once
 * the hypervisor did it (ENGINE_ALREADY at once when it is so already),
 * RRERR_CONFLICT when the state or the backend does not allow it.
 * restart stops the guest as stop does (timeout_s < 0: the daemon's
 * stop_timeout) and launches a new generation, answering ENGINE_DONE once
 * that left pending; an ended instance is started.  kill is a forced stop
 * of a guest that has not ended (RRERR_CONFLICT when it has), answered
 * once it has.
 */
void engine_pause(struct engine *e, const char *name, engine_reply_fn *fn,
    void *arg);
void engine_resume(struct engine *e, const char *name, engine_reply_fn *fn,
    void *arg);
void engine_restart(struct engine *e, const char *name, int timeout_s,
    engine_reply_fn *fn, void *arg);
void engine_kill(struct engine *e, const char *name, engine_reply_fn *fn,
    void *arg);

/* Whether the client of arg still waits for its answer. */
typedef bool engine_alive_fn(void *arg);

/*
 * Answer, ENGINE_DONE with a wait result (openapi.yaml WaitResult), once
 * name's generation current now has ended (want < 0) or its state is want (an
 * enum instance_state), or once that generation ended without reaching
 * it, or after timeout_ms (< 0: none) with timed_out true.  alive (NULL:
 * always) is asked every tick: a waiter whose client left is answered
 * (into the void) and freed.  RRERR_NOT_FOUND, or RRERR_UNAVAILABLE when
 * ENGINE_WAITS_MAX waits are in progress or the daemon stops.
 */
#define ENGINE_WAITS_MAX 512
void engine_wait(struct engine *e, const char *name, int want,
    int64_t timeout_ms, engine_alive_fn *alive, engine_reply_fn *fn, void *arg);

/*
 * Build the ISO image of spec (platform iso; stolen) for a real machine,
 * on the thread pool: isojobs_build() of the engine's builds (isojobs.h),
 * which engine_quiesce() cancels.  0, and fn is called once, later; or -1
 * with err, and fn is never called.
 */
int engine_build_iso(struct engine *e, struct spec *spec, isojobs_done_fn *fn,
    void *arg, struct rrerr *err);

/* Views: new references; engine_get returns NULL with err (404). */
json_t *engine_get(struct engine *e, const char *name, struct rrerr *err);

struct engine_filter {
	const char *state; /* NULL: any */
	const char *platform;
	const char *label_key; /* with label_value */
	const char *label_value;
	/* NULL, or what else an instance's spec must pass (engine_list_text) */
	bool (*match)(void *arg, const struct spec *spec);
	void *match_arg;
};

json_t *engine_list(struct engine *e, const struct engine_filter *f);

/*
 * The same views as JSON text, appended to sb: engine_get_text() one
 * (-1 with err: 404, or out of memory), engine_list_text() an array of
 * those f lets through in creation order (older first, then by name), -1
 * when out of memory.  Both from the text each instance keeps (see
 * instance.h): nothing is built again for an instance that has not changed.
 */
struct sbuf;
int engine_get_text(struct engine *e, const char *name, struct sbuf *sb,
    struct rrerr *err);
int engine_list_text(struct engine *e, const struct engine_filter *f,
    struct sbuf *sb);
json_t *engine_info(struct engine *e);
json_t *engine_health(struct engine *e);

/* name's console, with a new reference (console_unref() it), or NULL (404). */
struct console *engine_console(struct engine *e, const char *name,
    struct rrerr *err);

struct events *engine_events(struct engine *e);

/*
 * For the counters (daemon/collect.c, daemon/metrics.c), on the loop
 * thread.  engine_foreach() calls fn with each instance (borrowed, for the
 * call); engine_backend() is platform p's backend when it is connected
 * (borrowed, valid until engine_close(): a worker may use it) with its ops,
 * else NULL; engine_backend_state() is -1 when p is not built in, 0 when
 * its backend is unavailable or lost its connection, 1 when connected.
 */
struct instance;
struct collect;
void engine_foreach(struct engine *e,
    void (*fn)(void *arg, const struct instance *inst), void *arg);
struct backend *engine_backend(struct engine *e, int p,
    const struct backend_ops **ops);
int engine_backend_state(const struct engine *e, int p);
const char *engine_owner(const struct engine *e);
/* The engine's counter collector (borrowed). */
struct collect *engine_collector(struct engine *e);

#endif
