/*
 * instance: names of states and the JSON forms of an instance (see
 * instance.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include "instance.h"
#include "sbuf.h"

static const char *const state_names[] = {
	[INSTANCE_PENDING] = "pending",
	[INSTANCE_STARTING] = "starting",
	[INSTANCE_PAUSED] = "paused",
	[INSTANCE_RUNNING] = "running",
	[INSTANCE_STOPPING] = "stopping",
	[INSTANCE_EXITED] = "exited",
	[INSTANCE_STOPPED] = "stopped",
	[INSTANCE_CRASHED] = "crashed",
	[INSTANCE_FAILED] = "failed",
	[INSTANCE_BACKOFF] = "backoff",
};

#define NSTATES (sizeof(state_names) / sizeof(state_names[0]))

const char *
instance_state_name(enum instance_state s)
{
	return (size_t)s < NSTATES ? state_names[s] : "unknown";
}

int
instance_state_parse(const char *name, enum instance_state *s)
{
	size_t i;

	for (i = 0; i < NSTATES; i++) {
		if (strcmp(name, state_names[i]) == 0) {
			*s = (enum instance_state)i;
			return 0;
		}
	}
	return -1;
}

bool
instance_state_final(enum instance_state s)
{
	return s == INSTANCE_EXITED || s == INSTANCE_STOPPED ||
	    s == INSTANCE_CRASHED || s == INSTANCE_FAILED;
}

int64_t
instance_now_ms(void)
{
	struct timeval tv;

	gettimeofday(&tv, NULL);
	return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

/* An RFC 3339 UTC time with milliseconds, or null for 0. */
static json_t *
time_json(int64_t ms)
{
	char buf[40];
	struct tm tm;
	time_t t;
	size_t n;

	if (ms == 0)
		return json_null();
	t = (time_t)(ms / 1000);
	gmtime_r(&t, &tm);
	n = strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf + n, sizeof(buf) - n, ".%03dZ", (int)(ms % 1000));
	return json_string(buf);
}

static json_t *
nics_view(const struct instance *inst)
{
	static const char *const types[] = { "tap", "bridge", "network" };
	const struct spec_nic *n;
	json_t *a, *o, *be;
	char ifname[32], cidr[64];
	size_t i;

	a = json_array();
	for (i = 0; i < inst->spec->nnics; i++) {
		n = &inst->spec->nics[i];
		snprintf(ifname, sizeof(ifname), "%s%zu",
		    inst->spec->platform == SPEC_PLATFORM_XEN ? "xenif" :
								"vioif",
		    i);
		be = json_pack("{s:s}", "type", types[n->type]);
		if (n->backend_name != NULL)
			json_object_set_new(be, "name",
			    json_string(n->backend_name));
		o = json_pack("{s:I,s:s,s:s,s:o}", "index", (json_int_t)i,
		    "guest_ifname", ifname, "mac", inst->macs[i], "backend",
		    be);
		if (n->inet == SPEC_INET_STATIC) {
			snprintf(cidr, sizeof(cidr), "%s/%u", n->addr,
			    n->prefixlen);
			json_object_set_new(o, "addr", json_string(cidr));
		} else {
			json_object_set_new(o, "addr", json_null());
		}
		addrs_view(&inst->addrs, inst->spec, i,
		    inst->launched && !inst->domain_gone &&
			!instance_state_final(inst->state),
		    o);
		json_array_append_new(a, o);
	}
	return a;
}

static json_t *
labels_json(const struct spec *spec)
{
	json_t *o = json_object();
	size_t i;

	for (i = 0; i < spec->nlabels; i++)
		json_object_set_new(o, spec->labels[i].key,
		    json_string(spec->labels[i].value));
	return o;
}

/* The restart policy and what it did (restart.h). */
static json_t *
restart_view(const struct instance *inst)
{
	return json_pack("{s:s,s:I,s:I,s:o,s:s?,s:o,s:s?,s:s?}", "policy",
	    restart_policy_name(inst->spec->restart.policy), "count",
	    (json_int_t)inst->restart_count, "attempt",
	    (json_int_t)inst->restart_attempt, "next_attempt",
	    inst->state == INSTANCE_BACKOFF ? time_json(inst->restart_at_ms) :
					      json_null(),
	    "why", inst->restart_why[0] != '\0' ? inst->restart_why : NULL,
	    "last_exit_status",
	    inst->last_has_exit ? json_integer(inst->last_exit_status) :
				  json_null(),
	    "last_state", inst->last_state[0] != '\0' ? inst->last_state : NULL,
	    "last_reason",
	    inst->last_reason[0] != '\0' ? inst->last_reason : NULL);
}

/* Where the log starts and ends (0 and 0 without a console). */
static void
log_range(const struct instance *inst, uint64_t *start, uint64_t *end)
{
	*start = inst->console != NULL ? console_start(inst->console) : 0;
	*end = inst->console != NULL ? console_end(inst->console) : 0;
}

/* The view but for its "log" member, which changes as the guest writes. */
static json_t *
view_core(const struct instance *inst)
{
	json_t *o;

	o = json_pack("{s:s,s:s,s:s,s:I,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,"
		      "s:s?,s:o,s:s}",
	    "name", inst->name, "platform",
	    spec_platform_name(inst->spec->platform), "state",
	    instance_state_name(inst->state), "generation",
	    (json_int_t)inst->generation, "exit_status",
	    inst->has_exit ? json_integer(inst->exit_status) : json_null(),
	    "reason",
	    inst->reason[0] != '\0' ? json_string(inst->reason) : json_null(),
	    "created", time_json(inst->created_ms), "started",
	    time_json(inst->started_ms), "finished",
	    time_json(inst->finished_ms), "labels", labels_json(inst->spec),
	    "spec", spec_to_json(inst->spec), "nics", nics_view(inst),
	    "guest_config", inst->guest_config, "memory_mib",
	    json_integer(inst->spec->memory_mib), "domain", inst->domain_name);
	if (o != NULL)
		json_object_set_new(o, "restart", restart_view(inst));
	return o;
}

json_t *
instance_view(const struct instance *inst)
{
	uint64_t start, end;
	json_t *o;

	log_range(inst, &start, &end);
	if ((o = view_core(inst)) == NULL)
		return NULL;
	json_object_set_new(o, "log",
	    json_pack("{s:s,s:I,s:I}", "path", inst->log_path, "start",
		(json_int_t)start, "size", (json_int_t)end));
	return o;
}

/* Bumped with every instance's version (for the engine's list text). */
static uint64_t all_changes;

void
instance_changed(struct instance *inst)
{
	inst->version++;
	all_changes++;
}

uint64_t
instance_changes(void)
{
	return all_changes;
}

void
instance_log_range(const struct instance *inst, uint64_t *start, uint64_t *end)
{
	log_range(inst, start, end);
}

void
instance_view_free(struct instance *inst)
{
	free(inst->view_text);
	inst->view_text = NULL;
	inst->view_len = 0;
}

/*
 * Make the kept text: view_core()'s JSON without its closing brace, then
 * ,"log":{"path":PATH,"start": so that an answer adds the two numbers.
 */
static int
view_make(struct instance *inst)
{
	struct sbuf sb = SBUF_INIT;
	json_t *core, *path;
	char *text, *ptext;
	size_t n;

	if ((core = view_core(inst)) == NULL)
		return -1;
	text = json_dumps(core, JSON_COMPACT);
	json_decref(core);
	path = json_string(inst->log_path);
	ptext = path != NULL ? json_dumps(path, JSON_ENCODE_ANY) : NULL;
	json_decref(path);
	if (text == NULL || ptext == NULL || (n = strlen(text)) < 2) {
		free(text);
		free(ptext);
		return -1;
	}
	sbuf_addn(&sb, text, n - 1);
	sbuf_add(&sb, ",\"log\":{\"path\":");
	sbuf_add(&sb, ptext);
	sbuf_add(&sb, ",\"start\":");
	free(text);
	free(ptext);
	n = sb.len;
	if ((text = sbuf_finish(&sb)) == NULL)
		return -1;
	free(inst->view_text);
	inst->view_text = text;
	inst->view_len = n;
	inst->view_version = inst->version;
	return 0;
}

/* Decimal digits of v at the end of buf[32]; returns where they start. */
static char *
u64_text(uint64_t v, char *end)
{
	*--end = '\0';
	do {
		*--end = (char)('0' + v % 10);
		v /= 10;
	} while (v != 0);
	return end;
}

int
instance_view_append(struct instance *inst, struct sbuf *sb)
{
	uint64_t start, end;
	char buf[32], *p;

	if ((inst->view_text == NULL || inst->view_version != inst->version) &&
	    view_make(inst) == -1)
		return -1;
	log_range(inst, &start, &end);
	sbuf_reserve(sb, inst->view_len + 64);
	sbuf_addn(sb, inst->view_text, inst->view_len);
	p = u64_text(start, buf + sizeof(buf));
	sbuf_addn(sb, p, (size_t)(buf + sizeof(buf) - 1 - p));
	sbuf_addn(sb, ",\"size\":", 8);
	p = u64_text(end, buf + sizeof(buf));
	sbuf_addn(sb, p, (size_t)(buf + sizeof(buf) - 1 - p));
	sbuf_addn(sb, "}}", 2);
	return sb->failed ? -1 : 0;
}

json_t *
instance_record(const struct instance *inst)
{
	json_t *macs = json_array();
	size_t i;

	json_t *rec;

	for (i = 0; i < inst->spec->nnics; i++)
		json_array_append_new(macs, json_string(inst->macs[i]));
	rec = json_pack("{s:i,s:s,s:o,s:o,s:s,s:I,s:o,s:s,s:I,s:I,s:I,"
			"s:I,s:s,s:b,s:b,s:b,s:b,s:I,s:I,s:b,s:I,s:b}",
	    "version", 1, "name", inst->name, "spec", spec_to_json(inst->spec),
	    "macs", macs, "state", instance_state_name(inst->state),
	    "generation", (json_int_t)inst->generation, "exit_status",
	    inst->has_exit ? json_integer(inst->exit_status) : json_null(),
	    "reason", inst->reason, "created_ms", (json_int_t)inst->created_ms,
	    "started_ms", (json_int_t)inst->started_ms, "finished_ms",
	    (json_int_t)inst->finished_ms, "gen_offset",
	    (json_int_t)inst->gen_offset, "domain", inst->domain_name,
	    "launched", inst->launched, "calling_seen", inst->calling_seen,
	    "stop_requested", inst->stop_requested, "stop_force",
	    inst->stop_force, "stop_deadline_ms",
	    (json_int_t)inst->stop_deadline_ms, "boot_deadline_ms",
	    (json_int_t)inst->boot_deadline_ms, "resumed", inst->resumed,
	    "paused_ms", (json_int_t)inst->paused_ms, "restart_pending",
	    inst->restart_pending);
	/* Absent in records from before restart policies: all zero. */
	if (rec != NULL)
		json_object_set_new(rec, "restart",
		    json_pack("{s:I,s:I,s:I,"
			      "s:s,s:s,s:o,s:s}",
			"count", (json_int_t)inst->restart_count, "attempt",
			(json_int_t)inst->restart_attempt, "at_ms",
			(json_int_t)inst->restart_at_ms, "why",
			inst->restart_why, "last_state", inst->last_state,
			"last_exit_status",
			inst->last_has_exit ?
			    json_integer(inst->last_exit_status) :
			    json_null(),
			"last_reason", inst->last_reason));
	return rec;
}

/* The "restart" member of a record (NULL: none, all zero). */
static int
restart_from_record(struct instance *inst, json_t *r, struct rrerr *err)
{
	const char *why = "", *last_state = "", *last_reason = "";
	json_int_t count = 0, attempt = 0, at = 0;
	json_t *last_exit = NULL;
	json_error_t jerr;

	if (r == NULL)
		return 0;
	if (json_unpack_ex(r, &jerr, 0, "{s?I,s?I,s?I,s?s,s?s,s?o,s?s}",
		"count", &count, "attempt", &attempt, "at_ms", &at, "why", &why,
		"last_state", &last_state, "last_exit_status", &last_exit,
		"last_reason", &last_reason) == -1) {
		spec_free(inst->spec);
		inst->spec = NULL;
		return rrerr_set(err, RRERR_INTERNAL, NULL,
		    "record: restart: %s", jerr.text);
	}
	inst->restart_count = (unsigned int)count;
	inst->restart_attempt = (unsigned int)attempt;
	inst->restart_at_ms = at;
	snprintf(inst->restart_why, sizeof(inst->restart_why), "%s", why);
	snprintf(inst->last_state, sizeof(inst->last_state), "%s", last_state);
	inst->last_has_exit = json_is_integer(last_exit);
	inst->last_exit_status = (int)json_integer_value(last_exit);
	snprintf(inst->last_reason, sizeof(inst->last_reason), "%s",
	    last_reason);
	return 0;
}

int
instance_from_record(struct instance *inst, json_t *rec,
    const struct spec_policy *policy, struct rrerr *err)
{
	const char *name = NULL, *state = NULL, *reason = "", *domain = NULL;
	json_int_t gen = 0, created = 0, started = 0, finished = 0, off = 0;
	json_int_t deadline = 0, boot_deadline = -1, paused = 0;
	json_t *spec = NULL, *macs = NULL, *exit_status = NULL, *mac;
	int launched = 0, calling = 0, stopreq = 0, stopforce = 0;
	int resumed = 0, restart = 0;
	json_error_t jerr;
	size_t i;

	if (json_unpack_ex(rec, &jerr, 0,
		"{s:s,s:o,s:o,s:s,s:I,s?o,s?s,s?I,s?I,s?I,s?I,s:s,s?b,s?b,s?b,s?b,"
		"s?I,s?I,s?b,s?I,s?b}",
		"name", &name, "spec", &spec, "macs", &macs, "state", &state,
		"generation", &gen, "exit_status", &exit_status, "reason",
		&reason, "created_ms", &created, "started_ms", &started,
		"finished_ms", &finished, "gen_offset", &off, "domain", &domain,
		"launched", &launched, "calling_seen", &calling,
		"stop_requested", &stopreq, "stop_force", &stopforce,
		"stop_deadline_ms", &deadline, "boot_deadline_ms",
		&boot_deadline, "resumed", &resumed, "paused_ms", &paused,
		"restart_pending", &restart) == -1)
		return rrerr_set(err, RRERR_INTERNAL, NULL, "record: %s",
		    jerr.text);
	if (instance_state_parse(state, &inst->state) == -1)
		return rrerr_set(err, RRERR_INTERNAL, NULL,
		    "record: unknown state \"%s\"", state);
	if (spec_from_json(spec, policy, &inst->spec, err) == -1)
		return -1;
	if (strcmp(inst->spec->name, name) != 0 || !json_is_array(macs) ||
	    json_array_size(macs) != inst->spec->nnics) {
		spec_free(inst->spec);
		inst->spec = NULL;
		return rrerr_set(err, RRERR_INTERNAL, NULL,
		    "record: name or MACs do not match the spec");
	}
	json_array_foreach(macs, i, mac)
		snprintf(inst->macs[i], sizeof(inst->macs[i]), "%s",
		    json_string_value(mac) != NULL ? json_string_value(mac) :
						     "");
	snprintf(inst->name, sizeof(inst->name), "%s", name);
	snprintf(inst->reason, sizeof(inst->reason), "%s", reason);
	snprintf(inst->domain_name, sizeof(inst->domain_name), "%s", domain);
	inst->generation = (unsigned int)gen;
	inst->has_exit = json_is_integer(exit_status);
	inst->exit_status = (int)json_integer_value(exit_status);
	inst->created_ms = created;
	inst->started_ms = started;
	inst->finished_ms = finished;
	inst->gen_offset = (uint64_t)off;
	inst->launched = launched;
	inst->calling_seen = calling;
	inst->stop_requested = stopreq;
	inst->stop_force = stopforce;
	inst->stop_deadline_ms = deadline;
	inst->boot_deadline_ms = boot_deadline;
	inst->resumed = resumed;
	inst->paused_ms = paused;
	inst->restart_pending = restart;
	return restart_from_record(inst, json_object_get(rec, "restart"), err);
}
