/*
 * cmd_ops: rrctl pause, unpause (resume), restart, kill and wait.
 *
 * Each takes several names; their requests run at once.  pause, unpause,
 * restart and kill report as stop does (ctl_many()).  wait prints one line
 * per name, in the order of the names, as docker wait does: the guest
 * program's exit status, or for a guest that ended without one the number
 * rrctl run -i would exit with (126 failed, 134 crashed, 137 stopped or
 * killed); rrctl exits with the first name's.  With --condition STATE
 * the line is the state reached, and the status 0 when every name got
 * there, else the first one's that did not.  A wait that times out
 * prints nothing on standard output for its name and makes that status
 * 124, as timeout(1).
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"
#include "rrctl.h"

#define WAIT_TIMEOUT_MAX 86400
#define WAIT_TIMED_OUT	 124 /* as timeout(1) */

/* The options every one of these takes: --help only. */
static int
names_only(struct ctl *c, int argc, char *argv[], const char *suffix,
    const char *what)
{
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	bool started = false;
	int rv;

	if (ctl_getopt(c, argc, argv, "h", longopts, &started, &rv) != -1)
		return rv;
	if (optind >= argc)
		return ctl_usage_error(c->cmd, "give the names to %s", what);
	if ((rv = ctl_connect(c)) != CTL_OK)
		return rv;
	return ctl_many(c, "POST", suffix, argv + optind,
	    (size_t)(argc - optind));
}

int
ctl_pause(struct ctl *c, int argc, char *argv[])
{
	return names_only(c, argc, argv, "/pause", "pause");
}

int
ctl_unpause(struct ctl *c, int argc, char *argv[])
{
	return names_only(c, argc, argv, "/resume", c->cmd->name);
}

int
ctl_restart(struct ctl *c, int argc, char *argv[])
{
	static const struct option longopts[] = {
		{ "time", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	bool started = false;
	char suffix[64];
	long timeout = -1;
	int ch, rv;

	while ((ch = ctl_getopt(c, argc, argv, "ht:", longopts, &started,
		    &rv)) != -1) {
		if (ch != 't')
			return rv;
		if (ctl_number(optarg, 0, 3600, &timeout) == -1)
			return ctl_usage_error(c->cmd,
			    "-t %s: give seconds from 0 to 3600", optarg);
	}
	if (optind >= argc)
		return ctl_usage_error(c->cmd, "give the names to restart");
	if (timeout >= 0)
		snprintf(suffix, sizeof(suffix), "/restart?timeout=%ld",
		    timeout);
	else
		snprintf(suffix, sizeof(suffix), "/restart");
	if ((rv = ctl_connect(c)) != CTL_OK)
		return rv;
	return ctl_many(c, "POST", suffix, argv + optind,
	    (size_t)(argc - optind));
}

int
ctl_kill(struct ctl *c, int argc, char *argv[])
{
	static const struct option longopts[] = {
		{ "signal", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	bool started = false;
	int ch, rv;

	while ((ch = ctl_getopt(c, argc, argv, "hs:", longopts, &started,
		    &rv)) != -1) {
		if (ch != 's')
			return rv;
		/* docker kill's default; a unikernel has no other. */
		if (strcmp(optarg, "KILL") != 0 &&
		    strcmp(optarg, "SIGKILL") != 0 && strcmp(optarg, "9") != 0)
			return ctl_usage_error(c->cmd,
			    "-s %s: a unikernel has "
			    "no signals; only KILL (destroy it) is there",
			    optarg);
	}
	if (optind >= argc)
		return ctl_usage_error(c->cmd, "give the names to kill");
	if ((rv = ctl_connect(c)) != CTL_OK)
		return rv;
	return ctl_many(c, "POST", "/kill", argv + optind,
	    (size_t)(argc - optind));
}

/*
 * What rrctl wait says of one answer (openapi.yaml WaitResult): its line
 * on stdout, and the status.
 */
static int
wait_status(const char *name, json_t *r, bool by_state)
{
	const char *state, *reason, *cond;
	json_t *st;

	state = json_string_value(json_object_get(r, "state"));
	reason = json_string_value(json_object_get(r, "reason"));
	cond = json_string_value(json_object_get(r, "condition"));
	st = json_object_get(r, "exit_status");
	if (state == NULL)
		state = "unknown";
	if (json_is_true(json_object_get(r, "timed_out"))) {
		ctl_warnx("%s: timed out (%s)", name, state);
		return WAIT_TIMED_OUT;
	}
	if (by_state) {
		printf("%s\n", state);
		if (json_is_true(json_object_get(r, "met")))
			return CTL_OK;
		ctl_warnx("%s: %s, not %s%s%s", name, state,
		    cond != NULL ? cond : "?", reason != NULL ? ": " : "",
		    reason != NULL ? reason : "");
		return CTL_DENIED;
	}
	if (json_is_integer(st)) {
		printf("%d\n", (int)(json_integer_value(st) & 255));
		return (int)(json_integer_value(st) & 255);
	}
	/* Ended without an exit status: rrctl run -i's numbers. */
	if (strcmp(state, "failed") == 0) {
		printf("%d\n", RUN_CANNOT_RUN);
		return RUN_CANNOT_RUN;
	}
	if (strcmp(state, "crashed") == 0) {
		printf("%d\n", RUN_CRASHED);
		return RUN_CRASHED;
	}
	printf("%d\n", RUN_KILLED);
	return RUN_KILLED;
}

int
ctl_wait(struct ctl *c, int argc, char *argv[])
{
	static const struct option longopts[] = {
		{ "timeout", required_argument, NULL, 't' },
		{ "condition", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct http_req *reqs = NULL;
	char **paths = NULL, suffix[128], *cond = NULL;
	bool started = false, by_state;
	json_t *r;
	long timeout = -1;
	size_t i, n;
	int ch, rv, st, out, first = -1;

	while ((ch = ctl_getopt(c, argc, argv, "hc:t:", longopts, &started,
		    &rv)) != -1) {
		switch (ch) {
		case 't':
			if (ctl_number(optarg, 0, WAIT_TIMEOUT_MAX, &timeout) ==
			    -1)
				return ctl_usage_error(c->cmd,
				    "-t %s: give seconds from 0 to %d", optarg,
				    WAIT_TIMEOUT_MAX);
			break;
		case 'c':
			cond = optarg;
			break;
		default:
			return rv;
		}
	}
	if (optind >= argc)
		return ctl_usage_error(c->cmd, "give the names to wait for");
	by_state = cond != NULL && strcmp(cond, "ended") != 0;
	if (cond != NULL &&
	    (strlen(cond) > 32 ||
		strspn(cond, "abcdefghijklmnopqrstuvwxyz") != strlen(cond)))
		return ctl_usage_error(c->cmd,
		    "--condition %s: give ended or "
		    "a state (running, paused, exited ...)",
		    cond);
	snprintf(suffix, sizeof(suffix), "/wait");
	if (cond != NULL)
		snprintf(suffix + strlen(suffix),
		    sizeof(suffix) - strlen(suffix), "?condition=%s", cond);
	if (timeout >= 0)
		snprintf(suffix + strlen(suffix),
		    sizeof(suffix) - strlen(suffix), "%ctimeout=%ld",
		    cond != NULL ? '&' : '?', timeout);
	if ((rv = ctl_connect(c)) != CTL_OK)
		return rv;
	n = (size_t)(argc - optind);
	reqs = calloc(n, sizeof(*reqs));
	paths = calloc(n, sizeof(*paths));
	if (reqs == NULL || paths == NULL) {
		ctl_warnx("out of memory");
		rv = CTL_DENIED;
		goto out;
	}
	for (i = 0; i < n; i++) {
		reqs[i].method = "POST";
		reqs[i].path = paths[i] = http_path(argv[optind + i], suffix);
		if (paths[i] == NULL || http_start(c->http, &reqs[i]) == -1) {
			ctl_warnx("out of memory");
			rv = CTL_DENIED;
			goto out;
		}
	}
	http_run(c->http, NULL, NULL);
	for (i = 0; i < n; i++) {
		http_end(c->http, &reqs[i]);
		out = ctl_outcome(c->http, &reqs[i], &r);
		st = out;
		if (out == CTL_OK) {
			st = wait_status(argv[optind + i], r, by_state);
			json_decref(r);
		}
		fflush(stdout);
		/* By state: the first that did not get there. */
		if (first == -1 || (by_state && first == CTL_OK))
			first = st;
		/* An unreachable daemon is said once. */
		if (out == CTL_UNREACHABLE)
			break;
	}
	rv = first != -1 ? first : CTL_OK;
out:
	for (i = 0; reqs != NULL && paths != NULL && i < n; i++) {
		http_end(c->http, &reqs[i]);
		http_req_reset(&reqs[i]);
		free(paths[i]);
	}
	free(reqs);
	free(paths);
	return rv;
}
