/*
 * fx_engine: the engine harness of the unit tests that drive an engine on
 * the fake backend (test_engine, test_engine_restart, test_metrics,
 * test_backend): a real libuv loop, a scratch tree (fixture.h) with an
 * image, a state and a log directory, an engine over backends/fake.c, and
 * the helpers that run the loop until something holds.  test_routes, which runs an engine
 * under its HTTP server on a loop of its own, takes fx_engine_tree and
 * fx_engine_config().
 *
 * The names are the ones each program used when it had its own copy
 * (loop, eng, policy, struct result, on_reply, run_until...), so that the
 * tests' bodies did not change when the harness moved here.  One program
 * at a time: the state is global, as cmocka runs one test at a time.
 */
#ifndef FX_ENGINE_H
#define FX_ENGINE_H

#include <stdbool.h>

#include <jansson.h>
#include <uv.h>

#include "engine.h"
#include "fixture.h"
#include "rrerr.h"
#include "spec.h"

/* The loop, the engine (NULL when closed) and the launch policy. */
extern uv_loop_t loop;
extern struct engine *eng;
extern struct spec_policy policy;

/*
 * Knobs.  fx_wait_ms: how long run_until() waits (5000 unless the program
 * sets another before its tests run).  conf_boot_timeout: open_engine()'s
 * boot_timeout_s, back to 60 at every fx_engine_setup().  fx_boot_id:
 * open_engine() names the tree's "boot_id" file as the host's boot id
 * (the program's setup creates it).
 */
extern unsigned int fx_wait_ms;
extern unsigned int conf_boot_timeout;
extern bool fx_boot_id;

/* The ops fx_engine_config() gives the engine as KVM; NULL: the fake's. */
extern const struct backend_ops *fx_kvm_ops;

/* An engine reply, as on_reply() records it. */
struct result {
	bool done;
	enum engine_outcome outcome;
	json_t *body;	  /* owned by the test */
	struct rrerr err; /* when failed */
	bool failed;
};

/* The reply callback of every engine call; arg is a struct result. */
void on_reply(void *arg, enum engine_outcome outcome, json_t *body,
    const struct rrerr *err);

/* Run the loop until pred(arg) holds; fail after fx_wait_ms. */
void run_until(bool (*pred)(void *), void *arg, const char *what);

/* run_until()'s predicate for a struct result: the reply came. */
bool replied(void *arg);

/* Run the loop for ms milliseconds. */
void run_for(unsigned int ms);

/* run_until()'s predicate for a struct fx_want_state: eng's view of the
 * instance name says state. */
struct fx_want_state {
	const char *name;
	const char *state;
};
bool fx_in_state(void *arg);

/* The domain of the instance's current generation, from eng's view (a
 * static buffer); fails the test if there is no such instance. */
const char *fx_domain_of(const char *name);

/* The tree of fx_engine_setup(): images/app, state/ and logs/. */
extern const struct fx_node fx_engine_tree[];

/*
 * The engine_config open_engine() uses, on the given loop and policy:
 * state and logs in the tree, the fake backend as KVM, TCG, 8 instances,
 * a stop timeout of 1 s, a boot timeout of 60 s.  fx_kvm_ops, when set,
 * replaces the fake backend's ops.
 */
void fx_engine_config(struct engine_config *cfg, uv_loop_t *l,
    struct spec_policy *p);

/* Open eng on loop, and let its first list (reconciliation) run. */
void open_engine(void);

/* Quiesce, let the loop drain, free: what SIGTERM does. */
void close_engine(void);

/*
 * A setup: the tree (fx_engine_tree, then the nodes of extra when not
 * NULL), the policy (images/ allowed), a reset fake backend, the
 * loop and an open engine.  Returns 0 or -1.
 */
int fx_engine_setup(const struct fx_node *extra);

/* The matching teardown: closes the engine and the loop, removes the tree. */
int fx_engine_teardown(void);

/*
 * Launch the request in text (JSON) and run the loop until the reply;
 * returns it (its body to be freed).  A request that does not parse fails
 * the test.
 */
struct result fx_launch(const char *text);

#endif
