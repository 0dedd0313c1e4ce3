/*
 * cmd_life: rrctl stop, start and rm.
 *
 * Each takes several names; their requests run at once (a stop waits for
 * the guest, up to the stop timeout) and the answers are reported in the
 * order of the names: the name on standard output when it went well, the
 * daemon's message otherwise.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fmt.h"
#include "http.h"
#include "rrctl.h"

/* The worse of two exit statuses: unreachable, then denied, then ok. */
static int
worse(int a, int b)
{
	if (a == CTL_UNREACHABLE || b == CTL_UNREACHABLE)
		return CTL_UNREACHABLE;
	return a != CTL_OK ? a : b;
}

int
ctl_many(struct ctl *c, const char *method, const char *suffix, char **names,
    size_t n)
{
	struct http_req *reqs;
	char **paths;
	const char *state, *reason;
	json_t *inst;
	size_t i;
	int rv = CTL_OK, r;

	reqs = calloc(n, sizeof(*reqs));
	paths = calloc(n, sizeof(*paths));
	if (reqs == NULL || paths == NULL) {
		free(reqs);
		free(paths);
		ctl_warnx("out of memory");
		return CTL_DENIED;
	}
	for (i = 0; i < n; i++) {
		reqs[i].method = method;
		reqs[i].path = paths[i] = http_path(names[i], suffix);
		if (paths[i] == NULL || http_start(c->http, &reqs[i]) == -1) {
			ctl_warnx("out of memory");
			rv = CTL_DENIED;
			goto out;
		}
	}
	http_run(c->http, NULL, NULL);
	for (i = 0; i < n; i++) {
		http_end(c->http, &reqs[i]);
		/* An unreachable daemon is said once. */
		if (rv == CTL_UNREACHABLE && reqs[i].status == 0)
			continue;
		r = ctl_outcome(c->http, &reqs[i], &inst);
		if (r == CTL_OK) {
			state = json_string_value(
			    json_object_get(inst, "state"));
			reason = json_string_value(
			    json_object_get(inst, "reason"));
			if (strcmp(suffix, "/start") == 0 && state != NULL &&
			    strcmp(state, "failed") == 0) {
				ctl_warnx("%s failed: %s", names[i],
				    reason != NULL ? reason : "no reason");
				r = CTL_DENIED;
			} else
				printf("%s\n", names[i]);
			json_decref(inst);
		}
		rv = worse(rv, r);
	}
out:
	for (i = 0; i < n; i++) {
		http_end(c->http, &reqs[i]);
		http_req_reset(&reqs[i]);
		free(paths[i]);
	}
	free(reqs);
	free(paths);
	return rv;
}

/* The names of the instances that have not ended (new array), or NULL. */
static json_t *
live_names(struct ctl *c, int *rv)
{
	json_t *list = NULL, *names, *inst;
	size_t i;

	if ((*rv = ctl_call(c->http, "GET", "/v1/unikernels", NULL, &list,
		 NULL)) != CTL_OK)
		return NULL;
	names = json_array();
	json_array_foreach(list, i, inst) {
		if (!fmt_state_ended(
			json_string_value(json_object_get(inst, "state"))))
			json_array_append(names, json_object_get(inst, "name"));
	}
	json_decref(list);
	return names;
}

int
ctl_stop(struct ctl *c, int argc, char *argv[])
{
	static const struct option longopts[] = {
		{ "all", no_argument, NULL, 'a' },
		{ "force", no_argument, NULL, 'f' },
		{ "time", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	bool all = false, force = false, started = false;
	char suffix[64], **names;
	json_t *list;
	long timeout = -1;
	size_t i, n;
	int ch, rv;

	while ((ch = ctl_getopt(c, argc, argv, "afht:", longopts, &started,
		    &rv)) != -1) {
		switch (ch) {
		case 'a':
			all = true;
			break;
		case 'f':
			force = true;
			break;
		case 't':
			if (ctl_number(optarg, 0, 3600, &timeout) == -1)
				return ctl_usage_error(c->cmd,
				    "-t %s: give seconds from 0 to 3600",
				    optarg);
			break;
		default:
			return rv;
		}
	}
	if (all == (optind < argc))
		return ctl_usage_error(c->cmd,
		    all ? "give names or --all, "
			  "not both" :
			  "give the names to stop, or --all");
	snprintf(suffix, sizeof(suffix), "/stop%s", force ? "?force=true" : "");
	if (timeout >= 0)
		snprintf(suffix + strlen(suffix),
		    sizeof(suffix) - strlen(suffix), "%ctimeout=%ld",
		    force ? '&' : '?', timeout);
	if ((rv = ctl_connect(c)) != CTL_OK)
		return rv;
	if (!all)
		return ctl_many(c, "POST", suffix, argv + optind,
		    (size_t)(argc - optind));
	if ((list = live_names(c, &rv)) == NULL)
		return rv;
	n = json_array_size(list);
	names = calloc(n + 1, sizeof(*names));
	for (i = 0; names != NULL && i < n; i++)
		if ((names[i] = strdup(
			 json_string_value(json_array_get(list, i)))) == NULL)
			break;
	json_decref(list);
	if (names == NULL || i < n) {
		ctl_warnx("out of memory");
		rv = CTL_DENIED;
	} else
		rv = n > 0 ? ctl_many(c, "POST", suffix, names, n) : CTL_OK;
	for (i = 0; names != NULL && i < n; i++)
		free(names[i]);
	free(names);
	return rv;
}

int
ctl_start(struct ctl *c, int argc, char *argv[])
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
		return ctl_usage_error(c->cmd, "give the names to start");
	if ((rv = ctl_connect(c)) != CTL_OK)
		return rv;
	return ctl_many(c, "POST", "/start", argv + optind,
	    (size_t)(argc - optind));
}

int
ctl_rm(struct ctl *c, int argc, char *argv[])
{
	static const struct option longopts[] = {
		{ "force", no_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	bool force = false, started = false;
	int ch, rv;

	while ((ch = ctl_getopt(c, argc, argv, "fh", longopts, &started,
		    &rv)) != -1) {
		if (ch != 'f')
			return rv;
		force = true;
	}
	if (optind >= argc)
		return ctl_usage_error(c->cmd, "give the names to remove");
	if ((rv = ctl_connect(c)) != CTL_OK)
		return rv;
	return ctl_many(c, "DELETE", force ? "?force=true" : "", argv + optind,
	    (size_t)(argc - optind));
}
