/*
 * restart: the restart policy of an instance, as pure decisions.
 *
 * A launch request may carry a "restart" object (spec.c parses it into a
 * struct restart_spec).  When a generation of the instance ends, the
 * engine asks restart_decide() whether to start a new one and after what
 * delay; after a host reboot it asks restart_on_reboot() which instances
 * come back.  Nothing here knows the engine, the clock or the hypervisor,
 * so that tests/unit/test_restart.c can check every rule.
 *
 * Policies (docker's names):
 *   no              never (the default)
 *   on-failure      the generation failed: it exited with a status other
 *                   than 0 or without one, it crashed, or it failed (did not
 *                   start, or missed the boot watchdog)
 *   always          any end but a stop or kill asked through the API
 *   unless-stopped  as always; and an API stop also holds over a host
 *                   reboot (always comes back after a reboot even then)
 * An end after a stop asked through the API (stop_requested) is never
 * restarted, whatever the policy.
 *
 * Backoff.  The attempt-th restart of a crash loop waits
 * backoff_initial_s * 2^(attempt - 1) seconds, at most backoff_max_s.  A
 * generation that ran for reset_after_s or more ends the crash loop: the
 * next restart is attempt 1 again.  max_retries (0: no limit) bounds the
 * attempts of one crash loop; once they are spent, the instance stays
 * ended.
 */
#ifndef RESTART_H
#define RESTART_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum restart_policy {
	RESTART_NO,
	RESTART_ON_FAILURE,
	RESTART_ALWAYS,
	RESTART_UNLESS_STOPPED,
};

#define RESTART_BACKOFF_INITIAL_S 1
#define RESTART_BACKOFF_MAX_S	  300
#define RESTART_RESET_AFTER_S	  600
#define RESTART_SECONDS_MAX	  86400 /* bound of each setting */
#define RESTART_RETRIES_MAX	  1000000

struct restart_spec {
	enum restart_policy policy;
	unsigned int max_retries; /* 0: no limit */
	unsigned int backoff_initial_s;
	unsigned int backoff_max_s;
	unsigned int reset_after_s;
};

/* How a generation ended, as the policy needs to know it. */
struct restart_end {
	bool failed;	     /* see on-failure above */
	bool stop_requested; /* a stop or kill through the API */
	int64_t ran_ms;	     /* how long it ran; < 0: it never started */
};

/* The defaults: policy no. */
void restart_spec_default(struct restart_spec *rs);

/* "no", "on-failure", ...; parse returns -1 for an unknown name. */
const char *restart_policy_name(enum restart_policy p);
int restart_policy_parse(const char *name, enum restart_policy *p);

/*
 * Should the generation that ended as end says be followed by another?
 * *attempt is the number of restarts of the current crash loop so far; on
 * true it is the number of this restart and *delay_ms its delay; on false
 * why (a static string) says why not, for the instance's reason.
 */
bool restart_decide(const struct restart_spec *rs,
    const struct restart_end *end, unsigned int *attempt, int64_t *delay_ms,
    const char **why);

/* The delay of the attempt-th restart (attempt >= 1). */
int64_t restart_delay_ms(const struct restart_spec *rs, unsigned int attempt);

/*
 * After a host reboot: does an instance come back?  active: it had not
 * ended when the host went down (running, or waiting to restart);
 * api_stopped: its last end was a stop asked through the API.
 */
bool restart_on_reboot(const struct restart_spec *rs, bool active,
    bool api_stopped);

#endif
