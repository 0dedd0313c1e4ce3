/*
 * instance: one unikernel known to rumprund, and its two JSON forms.
 *
 * The struct is owned and changed by engine.c only (on the loop thread).
 * instance_view() is what the API shows; instance_record() is what the
 * store keeps, and instance_from_record() reads it back at start.
 *
 * The view's text is kept (instance_view_append()), and the engine keeps
 * the whole list's text, until the instance changes: every change to a
 * field that instance_view() shows must be followed by
 * instance_changed(inst), the one invalidation point.  The engine's save()
 * calls it, so a change that is recorded needs nothing more (everything
 * the view shows is also in the record, but the log's start and size,
 * which are read live at each answer).  To add a field to the view (a
 * restart count, addresses): add it in view_core() of instance.c, and
 * either save() after changing it or call instance_changed() (a field
 * that changes without a save, such as addresses a guest reports); test
 * test_engine.c's view helpers compare the kept text and list with fresh
 * ones at every step, so a forgotten call fails them.
 */
#ifndef INSTANCE_H
#define INSTANCE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/queue.h>

#include <jansson.h>
#include <uv.h>

#include "addrs.h"
#include "backend.h"
#include "console.h"
#include "rrerr.h"
#include "spec.h"

enum instance_state {
	INSTANCE_PENDING,  /* recorded; the hypervisor is creating it */
	INSTANCE_STARTING, /* the domain runs; main() not called yet */
	INSTANCE_PAUSED,   /* created paused (spec.paused), or paused */
	INSTANCE_RUNNING,  /* the console showed "=== calling ... main()" */
	INSTANCE_STOPPING, /* a stop was asked for; the domain is not gone */
	INSTANCE_EXITED,   /* main() returned (exit_status) and it halted */
	INSTANCE_STOPPED,  /* stopped by request */
	INSTANCE_CRASHED,  /* PANIC, or the domain died under it */
	INSTANCE_FAILED,   /* could not start (reason) */
	/*
	 * The generation ended (exit_status, reason as it left them) and its
	 * restart policy starts another at restart_at_ms: not final.
	 */
	INSTANCE_BACKOFF,
};

#define INSTANCE_REASON_MAX 512

struct waiter;
struct engine;

struct instance {
	struct engine *engine; /* the engine that owns it */
	char name[SPEC_NAME_MAX + 1];
	struct spec *spec;
	char *guest_config;
	char macs[SPEC_NICS_MAX][18];
	char domain_name[BACKEND_DOMAIN_NAME_MAX];
	char *log_path; /* owned: LOG_DIR/NAME.log */
	struct console *console;

	enum instance_state state;
	unsigned int generation;
	bool has_exit;
	int exit_status;
	char reason[INSTANCE_REASON_MAX];
	int64_t created_ms, started_ms, finished_ms;
	uint64_t gen_offset; /* console offset where this generation began */

	/* Facts of the current generation; the state follows from them. */
	bool launched; /* the backend created the domain */
	bool launch_failed;
	bool domain_gone;
	enum backend_event_type gone_how;
	bool calling_seen;
	bool halted_seen;
	bool panic_seen;     /* PANIC, or the hypervisor stopped it for good */
	bool boot_timed_out; /* no main() by boot_deadline_ms */
	bool stop_requested;
	bool stop_force;
	bool shutdown_sent;
	bool destroying;
	bool remove_requested;
	bool resumed;	      /* a paused launch was let run */
	int64_t paused_ms;    /* paused since then (a pause, or seen so); 0 */
	bool pause_job;	      /* a pause or resume call is in flight */
	bool restart_pending; /* a restart: launch again once ended */
	int64_t stop_deadline_ms;
	int64_t destroy_retry_ms; /* no destroy before this time */
	/* main() must be seen by then (the boot watchdog); 0: no limit. */
	int64_t boot_deadline_ms;
	unsigned int jobs; /* backend calls in flight */
	bool dirty;	   /* the record on disk is older than this */
	/* Record writes (recwriter.c): queued or being written, and numbered. */
	unsigned int writes;
	uint64_t rec_seq;
	bool unrecorded; /* a launch waits for its first record */
	bool refused;	 /* ... and that write failed: undo the launch */
	json_t *held;	 /* its events waiting for their record, or NULL */
	char refusal[RRERR_MESSAGE_MAX];
	uint64_t launch_seq; /* engine's number of its last launch; 0: none */
	/* When this generation was asked for (metrics); 0: not known/used. */
	int64_t requested_ms;

	/* The restart policy's bookkeeping (restart.h), over generations. */
	unsigned int restart_count;   /* restarts the policy made */
	unsigned int restart_attempt; /* restarts of this crash loop */
	int64_t restart_at_ms;	      /* backoff: the next attempt */
	bool restart_blocked;	      /* a due restart was refused: said */
	bool autostart;		      /* comes back after a host reboot */
	bool launch_interrupted;      /* rumprund died while launching it */
	char restart_why[INSTANCE_REASON_MAX]; /* of the next/last restart */
	char last_state[16]; /* how the last generation ended */
	bool last_has_exit;
	int last_exit_status;
	char last_reason[INSTANCE_REASON_MAX];
	struct inst_addrs addrs; /* NIC addresses, host devices */

	/* The view's text, kept until instance_changed() (see above). */
	uint64_t version;      /* bumped by instance_changed() */
	uint64_t view_version; /* the version view_text was made at */
	char *view_text;       /* owned: the view up to the log's "start" */
	size_t view_len;

	TAILQ_HEAD(, waiter) waiters;
	TAILQ_ENTRY(instance) link;
};

const char *instance_state_name(enum instance_state s);
int instance_state_parse(const char *name, enum instance_state *s);
bool instance_state_final(enum instance_state s);

/* The API's view: a new reference. */
json_t *instance_view(const struct instance *inst);

/*
 * Append the view's JSON text (as json_dumps(instance_view(), JSON_COMPACT)
 * gives it, but for the order of its members) to sb, from the text kept
 * since the last instance_changed(), made again if needed.  Returns 0, or
 * -1 when out of memory.
 */
struct sbuf;
int instance_view_append(struct instance *inst, struct sbuf *sb);

/* Something instance_view() shows has changed: the kept text is stale. */
void instance_changed(struct instance *inst);

/*
 * A number that changes whenever instance_changed() is called for any
 * instance: a text made of several views is stale once it moved.
 */
uint64_t instance_changes(void);

/* The log's start and size as the view shows them. */
void instance_log_range(const struct instance *inst, uint64_t *start,
    uint64_t *end);

/* Free what the instance keeps for its view. */
void instance_view_free(struct instance *inst);

/* The stored record: a new reference. */
json_t *instance_record(const struct instance *inst);

/*
 * Fill inst (zeroed by the caller) from rec, re-validating the spec with
 * policy.  Returns 0, or -1 with err when the record is unusable.  A
 * record older than the boot watchdog leaves boot_deadline_ms -1.
 */
int instance_from_record(struct instance *inst, json_t *rec,
    const struct spec_policy *policy, struct rrerr *err);

/* Milliseconds since the epoch. */
int64_t instance_now_ms(void);

#endif
