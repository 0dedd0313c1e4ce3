/*
 * restart: restart policy decisions (see restart.h).
 */
#include <string.h>

#include "restart.h"

static const char *const policy_names[] = {
	[RESTART_NO] = "no",
	[RESTART_ON_FAILURE] = "on-failure",
	[RESTART_ALWAYS] = "always",
	[RESTART_UNLESS_STOPPED] = "unless-stopped",
};

#define NPOLICIES (sizeof(policy_names) / sizeof(policy_names[0]))

void
restart_spec_default(struct restart_spec *rs)
{
	rs->policy = RESTART_NO;
	rs->max_retries = 0;
	rs->backoff_initial_s = RESTART_BACKOFF_INITIAL_S;
	rs->backoff_max_s = RESTART_BACKOFF_MAX_S;
	rs->reset_after_s = RESTART_RESET_AFTER_S;
}

const char *
restart_policy_name(enum restart_policy p)
{
	return (size_t)p < NPOLICIES ? policy_names[p] : "unknown";
}

int
restart_policy_parse(const char *name, enum restart_policy *p)
{
	size_t i;

	for (i = 0; i < NPOLICIES; i++) {
		if (strcmp(name, policy_names[i]) == 0) {
			*p = (enum restart_policy)i;
			return 0;
		}
	}
	return -1;
}

int64_t
restart_delay_ms(const struct restart_spec *rs, unsigned int attempt)
{
	int64_t d = (int64_t)rs->backoff_initial_s * 1000;
	int64_t max = (int64_t)rs->backoff_max_s * 1000;
	unsigned int i;

	/* Doubling stops at the cap: no overflow however many attempts. */
	for (i = 1; i < attempt && d < max; i++)
		d *= 2;
	return d < max ? d : max;
}

bool
restart_decide(const struct restart_spec *rs, const struct restart_end *end,
    unsigned int *attempt, int64_t *delay_ms, const char **why)
{
	*why = NULL;
	switch (rs->policy) {
	case RESTART_NO:
		*why = "restart policy no";
		return false;
	case RESTART_ON_FAILURE:
		if (!end->failed) {
			*why = "it exited with status 0 (restart policy "
			       "on-failure)";
			return false;
		}
		break;
	case RESTART_ALWAYS:
	case RESTART_UNLESS_STOPPED:
		break;
	}
	if (end->stop_requested) {
		*why = "stopped through the API";
		return false;
	}
	/* A long enough run ends the crash loop. */
	if (end->ran_ms >= 0 &&
	    end->ran_ms >= (int64_t)rs->reset_after_s * 1000)
		*attempt = 0;
	if (rs->max_retries != 0 && *attempt >= rs->max_retries) {
		*why = "restart policy: max_retries reached";
		return false;
	}
	(*attempt)++;
	*delay_ms = restart_delay_ms(rs, *attempt);
	return true;
}

bool
restart_on_reboot(const struct restart_spec *rs, bool active, bool api_stopped)
{
	switch (rs->policy) {
	case RESTART_ALWAYS:
		return true;
	case RESTART_UNLESS_STOPPED:
		return !api_stopped;
	case RESTART_ON_FAILURE:
		/* The reboot ended it without an exit: a failure. */
		return active && !api_stopped;
	default:
		return false;
	}
}
