/*
 * cmd_run: rrctl run, and run -i (attach).
 *
 * run -i follows two streams at once: the event stream, opened before the
 * launch so that the instance's end cannot be missed (it carries the exit
 * status even when -d removes the instance at once), and the console log
 * (GET logs?follow=true), copied to standard output as it arrives.  It
 * ends when the log has ended and the event of the end came, and exits
 * with the guest program's exit status.  Ctrl-C stops following; the guest
 * keeps running.
 *
 * run's own failures have exit statuses of their own (enum run_exit, as
 * docker run's 125, 126 and 127), so that a guest's exit 1, 2 or 3 is not
 * taken for rrctl's usage error or an unreachable daemon.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fmt.h"
#include "http.h"
#include "rrctl.h"
#include "runopts.h"
#include "sbuf.h"

struct attach {
	struct http_req events;
	struct http_req logs;
	char name[RUN_NAME_MAX + 1]; /* the instance's name */
	json_int_t generation; /* its generation, once the launch answered */
	struct sbuf line;      /* an event line not yet complete */
	long long seq;	       /* the last event's seq, or -1 */
	long long at;	       /* the next console byte's offset, or -1 */
	long long deadline;    /* resuming until then (ms), or 0 */
	json_t *ends;	       /* events that ended an instance of that name */
	bool want_end;	       /* an end event is still to come */
};

/* Keep the events that end an instance of our name. */
static void
event_line(void *arg, const char *line, size_t len)
{
	struct attach *a = arg;
	const char *type, *name, *state;
	json_error_t jerr;
	json_t *ev;

	if ((ev = json_loadb(line, len, 0, &jerr)) == NULL)
		return;
	if (json_is_integer(json_object_get(ev, "seq")))
		a->seq = json_integer_value(json_object_get(ev, "seq"));
	type = json_string_value(json_object_get(ev, "type"));
	name = json_string_value(json_object_get(ev, "name"));
	state = json_string_value(json_object_get(ev, "state"));
	/* backoff: this generation ended, its restart policy runs another. */
	if (type != NULL && name != NULL && strcmp(name, a->name) == 0 &&
	    (strcmp(type, "removed") == 0 ||
		(strcmp(type, "state") == 0 && state != NULL &&
		    (fmt_state_ended(state) || strcmp(state, "backoff") == 0))))
		json_array_append(a->ends, ev);
	json_decref(ev);
}

static int
event_data(void *arg, const char *buf, size_t len)
{
	struct attach *a = arg;

	http_lines(&a->line, buf, len, event_line, a);
	return 0;
}

/* The event that ended this generation, or NULL (borrowed). */
static json_t *
end_event(const struct attach *a)
{
	json_t *ev;
	size_t i;

	json_array_foreach(a->ends, i, ev) {
		json_t *g = json_object_get(ev, "generation");

		if (strcmp(json_string_value(json_object_get(ev, "type")),
			"removed") == 0 ||
		    !json_is_integer(g) ||
		    json_integer_value(g) == a->generation)
			return ev;
	}
	return NULL;
}

static bool
events_ready(void *arg)
{
	const struct attach *a = arg;

	return a->events.status != 0 || a->events.done;
}

/* The console to stdout, its offset kept to resume it. */
static int
log_data(void *arg, const char *buf, size_t len)
{
	struct attach *a = arg;

	if (a->at < 0 && a->logs.resume_at >= 0)
		a->at = a->logs.resume_at;
	if (a->at >= 0)
		a->at += (long long)len;
	return ctl_copy_out(NULL, buf, len);
}

static bool
finished(void *arg)
{
	const struct attach *a = arg;

	if (a->events.done || http_broken(&a->logs))
		return true;
	/* Resuming, and both streams answer again: say so. */
	if (a->deadline != 0 && a->events.status == 200 &&
	    a->logs.status == 200)
		return true;
	return a->logs.done && (!a->want_end || end_event(a) != NULL);
}

/*
 * How the guest ended, as rrctl run's exit status: the guest program's
 * exit status when it returned, else one of enum run_exit (said on
 * stderr).
 */
static int
ended(const char *name, json_t *how)
{
	const char *state, *reason, *type;
	json_t *st;

	state = json_string_value(json_object_get(how, "state"));
	st = json_object_get(how, "exit_status");
	reason = json_string_value(json_object_get(how, "reason"));
	type = json_string_value(json_object_get(how, "type"));
	if (state != NULL && strcmp(state, "exited") == 0 &&
	    json_is_integer(st))
		return (int)(json_integer_value(st) & 255);
	/* As docker run: attached to the first run only. */
	if (state != NULL && strcmp(state, "backoff") == 0) {
		if (json_is_integer(st)) {
			ctl_warnx("%s exited (%lld); its restart policy starts "
				  "it again",
			    name, (long long)json_integer_value(st));
			return (int)(json_integer_value(st) & 255);
		}
		ctl_warnx("%s ended%s%s; its restart policy starts it again",
		    name, reason != NULL ? ": " : "",
		    reason != NULL ? reason : "");
		return RUN_CRASHED;
	}
	if (type != NULL && strcmp(type, "removed") == 0) {
		ctl_warnx("%s was removed", name);
		return RUN_KILLED;
	}
	if (reason != NULL)
		ctl_warnx("%s %s: %s", name, state != NULL ? state : "ended",
		    reason);
	else
		ctl_warnx("%s %s", name, state != NULL ? state : "ended");
	if (state != NULL && strcmp(state, "failed") == 0)
		return RUN_CANNOT_RUN;
	if (state != NULL && strcmp(state, "crashed") == 0)
		return RUN_CRASHED;
	return RUN_KILLED;
}

/*
 * Say that an instance launched with auto_remove (-d, --rm) goes away
 * when it ends: upstream's -d, which a docker user reads as "detach".
 */
static void
say_removal(const char *name, json_t *inst)
{
	if (json_is_true(
		json_object_get(json_object_get(inst, "spec"), "auto_remove")))
		ctl_warnx("%s and its console log will be removed when it "
			  "ends (-d, --rm)",
		    name);
}

/*
 * An exit status of rrctl (enum ctl_exit) as rrctl run's (enum run_exit):
 * a refusal of the image is 126 or 127, every other failure 125.
 */
static int
run_status(struct ctl *c, int rv)
{
	const char *field;
	long status;

	switch (rv) {
	case CTL_OK:
	case CTL_INTERRUPTED:
		return rv;
	case CTL_DENIED:
		if (c->http == NULL)
			return RUN_FAILED;
		status = http_error(c->http, &field);
		if (strcmp(field, "image") == 0 && status == 403)
			return RUN_CANNOT_RUN;
		if (strcmp(field, "image") == 0 &&
		    (status == 400 || status == 422))
			return RUN_NOT_FOUND;
		return RUN_FAILED;
	default:
		return RUN_FAILED;
	}
}

/*
 * The next name to try for a request without -N: base itself, then
 * base-2, base-3 ... (base cut so that the suffix fits), skipping those in
 * list (the instances, borrowed).  Written to buf (RUN_NAME_MAX + 1).
 */
static void
next_name(const char *base, json_t *list, unsigned int *n, char *buf)
{
	char suffix[16];
	json_t *inst;
	size_t i, keep;
	bool taken;

	for (;;) {
		if (*n <= 1)
			snprintf(suffix, sizeof(suffix), "%s", "");
		else
			snprintf(suffix, sizeof(suffix), "-%u", *n);
		keep = RUN_NAME_MAX - strlen(suffix);
		snprintf(buf, RUN_NAME_MAX + 1, "%.*s%s", (int)keep, base,
		    suffix);
		(*n)++;
		taken = false;
		json_array_foreach(list, i, inst) {
			const char *nm = json_string_value(
			    json_object_get(inst, "name"));

			if (nm != NULL && strcmp(nm, buf) == 0)
				taken = true;
		}
		if (!taken)
			return;
	}
}

/* How many names create() tries before it gives up. */
#define CREATE_TRIES 100

/*
 * POST req (run and run -i).  Without -N (generated), the name is the
 * first free one of rumprun-IMAGE, rumprun-IMAGE-2 ... (a 409 on "name",
 * someone else taking it meanwhile, moves on), as docker picks a new name
 * for each run.  With -N, an ended instance with the same request is run
 * again as a new generation (POST start): a person who types the same line
 * again means "run it" (the API's idempotent create answers 200 with the
 * old run, which is what a control plane's retry needs).  The name goes to
 * name (RUN_NAME_MAX + 1; it is the name being tried while the POST runs),
 * the instance to *instp (new reference), and to *fromp the log offset its
 * generation starts at (-1: a new instance, its log from the first byte).
 * Returns an exit status of rrctl (enum ctl_exit).
 */
static int
create(struct ctl *c, json_t *req, bool generated, char *name, json_t **instp,
    json_int_t *fromp)
{
	json_t *list = NULL, *inst = NULL, *again = NULL;
	char base[RUN_NAME_MAX + 1], *path = NULL;
	const char *state;
	unsigned int n = 1, tries;
	long status = 0;
	int rv;

	*instp = NULL;
	*fromp = -1;
	snprintf(base, sizeof(base), "%s",
	    json_string_value(json_object_get(req, "name")));
	snprintf(name, RUN_NAME_MAX + 1, "%s", base);
	if (generated &&
	    (rv = ctl_call(c->http, "GET", "/v1/unikernels", NULL, &list,
		 NULL)) != CTL_OK)
		return rv;
	http_quiet_conflict(c->http, generated);
	for (tries = 0; tries < CREATE_TRIES; tries++) {
		const char *field;

		if (generated) {
			next_name(base, list, &n, name);
			json_object_set_new(req, "name", json_string(name));
		}
		json_decref(inst);
		inst = NULL;
		rv = ctl_call(c->http, "POST", "/v1/unikernels", req, &inst,
		    &status);
		if (!generated)
			break;
		if (rv == CTL_OK && status == 200)
			continue; /* someone else's, made meanwhile */
		if (rv == CTL_DENIED && http_error(c->http, &field) == 409 &&
		    strcmp(field, "name") == 0)
			continue;
		break;
	}
	http_quiet_conflict(c->http, false);
	json_decref(list);
	if (tries == CREATE_TRIES) {
		ctl_warnx("no free name after %s-%u: give one with -N", base,
		    n - 1);
		json_decref(inst);
		return CTL_DENIED;
	}
	if (rv != CTL_OK)
		return rv;
	state = json_string_value(json_object_get(inst, "state"));
	if (status == 200 && fmt_state_ended(state)) {
		/* Ended, so its log ends here: the new generation's starts. */
		*fromp = json_integer_value(
		    json_object_get(json_object_get(inst, "log"), "size"));
		ctl_warnx("%s had ended (%s) with this request: running it "
			  "again",
		    name, state);
		if ((path = http_path(name, "/start")) == NULL) {
			ctl_warnx("out of memory");
			json_decref(inst);
			return CTL_DENIED;
		}
		rv = ctl_call(c->http, "POST", path, NULL, &again, NULL);
		free(path);
		json_decref(inst);
		if (rv != CTL_OK)
			return rv;
		inst = again;
	} else if (status == 200)
		ctl_warnx("%s already exists with this request (%s): not "
			  "launched again",
		    name, state);
	*instp = inst;
	return CTL_OK;
}

/*
 * run -i.  Returns an exit status of rrctl (enum ctl_exit), or with *final
 * set the guest's or one of enum run_exit (from ended()).
 */
static int
attach(struct ctl *c, json_t *req, bool generated, bool *final)
{
	struct http *h = c->http;
	struct attach a;
	json_t *inst = NULL, *view = NULL, *how;
	json_int_t from;
	const char *state;
	char *path = NULL, suffix[64], evpath[64];
	int rv = CTL_OK;

	memset(&a, 0, sizeof(a));
	a.seq = a.at = -1;
	if ((a.ends = json_array()) == NULL) {
		ctl_warnx("out of memory");
		rv = CTL_DENIED;
		goto out;
	}
	snprintf(a.name, sizeof(a.name), "%s",
	    json_string_value(json_object_get(req, "name")));
	if (http_catch_interrupt(h) == -1) {
		ctl_warnx("cannot catch SIGINT");
		rv = CTL_DENIED;
		goto out;
	}

	/* The event stream first: from now on no end can be missed. */
	a.events.method = "GET";
	a.events.path = "/v1/events";
	a.events.on_data = event_data;
	a.events.arg = &a;
	if (http_start(h, &a.events) == -1 ||
	    (rv = http_run(h, events_ready, &a)) != 0)
		goto interrupted;
	if (a.events.done || a.events.status != 200) {
		http_end(h, &a.events);
		rv = ctl_outcome(h, &a.events, NULL);
		goto out;
	}

	rv = create(c, req, generated, a.name, &inst, &from);
	if (rv == CTL_INTERRUPTED) {
		rv = HTTP_INTERRUPTED;
		goto interrupted;
	}
	if (rv != CTL_OK)
		goto out;
	a.generation = json_integer_value(json_object_get(inst, "generation"));
	state = json_string_value(json_object_get(inst, "state"));
	say_removal(a.name, inst);
	if (state != NULL && strcmp(state, "failed") == 0) {
		rv = ended(a.name, inst);
		*final = true;
		goto out;
	}
	a.want_end = !fmt_state_ended(state) &&
	    (state == NULL || strcmp(state, "backoff") != 0);

	/* A generation run again: its console only. */
	if (from >= 0)
		snprintf(suffix, sizeof(suffix), "/logs?follow=true&since=%lld",
		    (long long)from);
	else
		snprintf(suffix, sizeof(suffix), "/logs?follow=true");
	if ((path = http_path(a.name, suffix)) == NULL) {
		ctl_warnx("out of memory");
		rv = CTL_DENIED;
		goto out;
	}
	a.logs.method = "GET";
	a.logs.path = path;
	a.logs.on_data = log_data;
	a.logs.arg = &a;
	if (http_start(h, &a.logs) == -1)
		goto interrupted;
	for (;;) {
		if ((rv = http_run(h, finished, &a)) != 0)
			goto interrupted;
		fflush(stdout);
		if (a.deadline != 0 && a.events.status == 200 &&
		    a.logs.status == 200 && !a.events.done &&
		    !http_broken(&a.logs)) {
			ctl_resumed(c, &a.deadline);
			continue;
		}
		if (!http_broken(&a.events) && !http_broken(&a.logs))
			break;
		/* rumprund went away: resume both where they were. */
		if (a.seq < 0)
			a.seq = a.events.resume_at;
		if (a.seq < 0 || (a.at < 0 && !a.logs.done)) {
			http_end(h, &a.logs);
			rv = ctl_outcome(h,
			    http_broken(&a.events) ? &a.events : &a.logs, NULL);
			goto out;
		}
		rv = ctl_resume_wait(c,
		    http_broken(&a.events) ? &a.events : &a.logs, &a.deadline);
		if (rv == CTL_INTERRUPTED) {
			rv = HTTP_INTERRUPTED;
			goto interrupted;
		}
		if (rv != CTL_OK)
			goto out;
		if (http_broken(&a.events)) {
			http_end(h, &a.events);
			http_req_reset(&a.events);
			snprintf(evpath, sizeof(evpath),
			    "/v1/events?since=%lld", a.seq);
			sbuf_reset(&a.line);
			a.events.path = evpath;
			if (http_start(h, &a.events) == -1)
				goto interrupted;
		}
		if (http_broken(&a.logs)) {
			http_end(h, &a.logs);
			http_req_reset(&a.logs);
			free(path);
			snprintf(suffix, sizeof(suffix),
			    "/logs?follow=true&since=%lld", a.at);
			if ((path = http_path(a.name, suffix)) == NULL)
				goto interrupted;
			a.logs.path = path;
			if (http_start(h, &a.logs) == -1)
				goto interrupted;
		}
	}

	if ((how = end_event(&a)) != NULL) {
		rv = ended(a.name, how);
		*final = true;
		goto out;
	}
	/* No end event: the stream broke, or it had ended before. */
	if (a.events.done) {
		http_end(h, &a.events);
		if ((rv = ctl_outcome(h, &a.events, NULL)) == CTL_OK) {
			ctl_warnx("the event stream ended early");
			rv = CTL_DENIED;
		}
		goto out;
	}
	if (a.logs.rc != 0 || a.logs.status != 200) {
		http_end(h, &a.logs);
		rv = ctl_outcome(h, &a.logs, NULL);
		goto out;
	}
	free(path);
	if ((path = http_path(a.name, "")) == NULL) {
		ctl_warnx("out of memory");
		rv = CTL_DENIED;
		goto out;
	}
	if ((rv = ctl_call(h, "GET", path, NULL, &view, NULL)) == CTL_OK) {
		rv = ended(a.name, view);
		*final = true;
	}
	goto out;

interrupted:
	if (rv == HTTP_INTERRUPTED || http_interrupted()) {
		fflush(stdout);
		ctl_warnx("stopped following %s; it keeps running", a.name);
		rv = CTL_INTERRUPTED;
	} else {
		ctl_warnx("cannot make a request: out of memory");
		rv = CTL_DENIED;
	}
out:
	http_end(h, &a.events);
	http_end(h, &a.logs);
	http_req_reset(&a.events);
	http_req_reset(&a.logs);
	sbuf_reset(&a.line);
	json_decref(a.ends);
	json_decref(inst);
	json_decref(view);
	free(path);
	return rv;
}

/* Launch and say the name; returns as attach(). */
static int
launch(struct ctl *c, json_t *req, bool generated, bool *final)
{
	char name[RUN_NAME_MAX + 1];
	const char *state;
	json_t *inst = NULL;
	json_int_t from;
	int rv;

	if ((rv = create(c, req, generated, name, &inst, &from)) != CTL_OK)
		return rv;
	state = json_string_value(json_object_get(inst, "state"));
	if (state != NULL && strcmp(state, "failed") == 0) {
		rv = ended(name, inst);
		*final = true;
	} else {
		printf("%s\n", name);
		say_removal(name, inst);
	}
	json_decref(inst);
	return rv;
}

int
ctl_run_request(struct ctl *c, int argc, char *argv[], bool iso,
    struct run_opts *o, json_t **reqp)
{
	char err[512];
	json_t *req;
	int rv;

	*reqp = NULL;
	if (iso)
		rv = run_parse_iso(argc, argv, o, err, sizeof(err));
	else
		rv = run_parse(argc, argv, o, err, sizeof(err));
	switch (rv) {
	case 1:
		ctl_cmd_help(c->cmd);
		return CTL_OK;
	case -1:
		return ctl_usage_error(c->cmd, "%s", err);
	default:
		break;
	}
	if ((req = run_request(o, run_realpath, NULL, err, sizeof(err))) ==
	    NULL) {
		ctl_warnx("%s", err);
		return CTL_USAGE;
	}
	if (o->dry_run) {
		json_dumpf(req, stdout, JSON_INDENT(2));
		putchar('\n');
		json_decref(req);
		return CTL_OK;
	}
	*reqp = req;
	return CTL_OK;
}

int
ctl_run(struct ctl *c, int argc, char *argv[])
{
	struct run_opts o;
	json_t *req = NULL;
	bool final = false;
	int rv;

	rv = ctl_run_request(c, argc, argv, false, &o, &req);
	if (rv == CTL_USAGE && o.image != NULL && access(o.image, F_OK) == -1) {
		/* The image as typed is not there (said): not found. */
		rv = RUN_NOT_FOUND;
		final = true;
	}
	if (rv != CTL_OK || req == NULL)
		goto out;
	if ((rv = ctl_connect(c)) != CTL_OK)
		goto out;
	/* A daemon elsewhere cannot read our file: push it to its store. */
	if (strncmp(http_host(c->http), "http", 4) == 0 &&
	    access(o.image, R_OK) == 0) {
		char *ref;

		if ((rv = image_push_for_run(c, o.image, &ref)) != CTL_OK)
			goto out;
		json_object_set_new(req, "image", json_string(ref));
		free(ref);
	}
	rv = o.attach ? attach(c, req, o.name == NULL, &final) :
			launch(c, req, o.name == NULL, &final);
out:
	if (!final)
		rv = run_status(c, rv);
	json_decref(req);
	run_opts_free(&o);
	return rv;
}
