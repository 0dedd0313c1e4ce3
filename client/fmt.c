/*
 * fmt: instances and events for people (see fmt.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fmt.h"
#include "sbuf.h"

bool
fmt_state_ended(const char *state)
{
	return state != NULL &&
	    (strcmp(state, "exited") == 0 || strcmp(state, "stopped") == 0 ||
		strcmp(state, "crashed") == 0 || strcmp(state, "failed") == 0);
}

/* n decimal digits at s; -1 if one is not a digit. */
static int
digits(const char *s, int n)
{
	int v = 0;

	while (n-- > 0) {
		if (*s < '0' || *s > '9')
			return -1;
		v = v * 10 + (*s++ - '0');
	}
	return v;
}

int
fmt_time_ms(const char *s, int64_t *ms)
{
	struct tm tm;
	int64_t frac = 0, scale = 1000, off = 0;
	time_t t;
	int sign;

	if (s == NULL || strlen(s) < 20 || s[4] != '-' || s[7] != '-' ||
	    (s[10] != 'T' && s[10] != 't') || s[13] != ':' || s[16] != ':')
		return -1;
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = digits(s, 4) - 1900;
	tm.tm_mon = digits(s + 5, 2) - 1;
	tm.tm_mday = digits(s + 8, 2);
	tm.tm_hour = digits(s + 11, 2);
	tm.tm_min = digits(s + 14, 2);
	tm.tm_sec = digits(s + 17, 2);
	if (tm.tm_year < 0 || tm.tm_mon < 0 || tm.tm_mday < 0 ||
	    tm.tm_hour < 0 || tm.tm_min < 0 || tm.tm_sec < 0)
		return -1;
	s += 19;
	if (*s == '.') {
		for (s++; *s >= '0' && *s <= '9'; s++) {
			scale /= 10;
			frac += (*s - '0') * scale;
		}
	}
	if (*s == 'Z' || *s == 'z') {
		s++;
	} else if (*s == '+' || *s == '-') {
		sign = *s == '-' ? -1 : 1;
		if (digits(s + 1, 2) < 0 || s[3] != ':' || digits(s + 4, 2) < 0)
			return -1;
		off = sign * (digits(s + 1, 2) * 3600 + digits(s + 4, 2) * 60);
		s += 6;
	} else
		return -1;
	if (*s != '\0')
		return -1;
	if ((t = timegm(&tm)) == (time_t)-1)
		return -1;
	*ms = ((int64_t)t - off) * 1000 + frac;
	return 0;
}

void
fmt_duration(int64_t s, char *buf, size_t len)
{
	if (s < 0)
		s = 0;
	if (s < 60)
		snprintf(buf, len, "%llds", (long long)s);
	else if (s < 3600)
		snprintf(buf, len, "%lldm%02llds", (long long)(s / 60),
		    (long long)(s % 60));
	else if (s < 86400)
		snprintf(buf, len, "%lldh%02lldm", (long long)(s / 3600),
		    (long long)(s % 3600 / 60));
	else
		snprintf(buf, len, "%lldd%02lldh", (long long)(s / 86400),
		    (long long)(s % 86400 / 3600));
}

/* How long a reason may be in STATUS before it is cut ("..."). */
#define STATUS_REASON_MAX 48

/* row->status from the state, the times, the exit status and reason. */
static void
status_text(json_t *inst, const char *state, int64_t now_ms, struct fmt_ps *row)
{
	const char *finished, *reason;
	char ago[32] = "";
	size_t n;
	int64_t t;

	if (state != NULL && strcmp(state, "running") == 0) {
		snprintf(row->status, sizeof(row->status), "up %s",
		    row->uptime);
		return;
	}
	/* Waiting for its restart policy's next attempt. */
	if (state != NULL && strcmp(state, "backoff") == 0) {
		json_t *rs = json_object_get(inst, "restart");
		int64_t left = 0;

		if (fmt_time_ms(json_string_value(
				    json_object_get(rs, "next_attempt")),
			&t) == 0 &&
		    t > now_ms)
			left = (t - now_ms + 999) / 1000;
		snprintf(row->status, sizeof(row->status),
		    "backoff (retry %lld in %llds)",
		    (long long)json_integer_value(
			json_object_get(rs, "attempt")),
		    (long long)left);
		return;
	}
	if (!fmt_state_ended(state)) {
		snprintf(row->status, sizeof(row->status), "%s", row->state);
		return;
	}
	finished = json_string_value(json_object_get(inst, "finished"));
	if (fmt_time_ms(finished, &t) == 0) {
		fmt_duration(now_ms > t ? (now_ms - t) / 1000 : 0, ago,
		    sizeof(ago));
		snprintf(ago + strlen(ago), sizeof(ago) - strlen(ago), " ago");
	}
	if (strcmp(state, "exited") == 0)
		snprintf(row->status, sizeof(row->status), "exited (%s)%s%s",
		    row->exit, ago[0] != '\0' ? " " : "", ago);
	else
		snprintf(row->status, sizeof(row->status), "%s%s%s", state,
		    ago[0] != '\0' ? " " : "", ago);
	reason = json_string_value(json_object_get(inst, "reason"));
	if (reason != NULL && strcmp(state, "exited") != 0) {
		n = strlen(row->status);
		if (strlen(reason) > STATUS_REASON_MAX)
			snprintf(row->status + n, sizeof(row->status) - n,
			    ": %.*s...", STATUS_REASON_MAX - 3, reason);
		else
			snprintf(row->status + n, sizeof(row->status) - n,
			    ": %s", reason);
	}
}

void
fmt_ps_row(json_t *inst, int64_t now_ms, struct fmt_ps *row)
{
	const char *state, *started;
	json_t *nics, *nic, *st;
	int64_t t;
	size_t i;

	state = json_string_value(json_object_get(inst, "state"));
	snprintf(row->name, sizeof(row->name), "%s",
	    json_string_value(json_object_get(inst, "name")) != NULL ?
		json_string_value(json_object_get(inst, "name")) :
		"?");
	snprintf(row->state, sizeof(row->state), "%s",
	    state != NULL ? state : "?");
	snprintf(row->platform, sizeof(row->platform), "%s",
	    json_string_value(json_object_get(inst, "platform")) != NULL ?
		json_string_value(json_object_get(inst, "platform")) :
		"-");
	if (json_is_integer(json_object_get(inst, "memory_mib")))
		snprintf(row->memory, sizeof(row->memory), "%lldMiB",
		    (long long)json_integer_value(
			json_object_get(inst, "memory_mib")));
	else
		snprintf(row->memory, sizeof(row->memory), "-");
	started = json_string_value(json_object_get(inst, "started"));
	if (!fmt_state_ended(state) && fmt_time_ms(started, &t) == 0)
		fmt_duration((now_ms - t) / 1000, row->uptime,
		    sizeof(row->uptime));
	else
		snprintf(row->uptime, sizeof(row->uptime), "-");
	st = json_object_get(inst, "exit_status");
	if (json_is_integer(st))
		snprintf(row->exit, sizeof(row->exit), "%lld",
		    (long long)json_integer_value(st));
	else
		snprintf(row->exit, sizeof(row->exit), "-");
	status_text(inst, state, now_ms, row);
	row->address[0] = row->hostdev[0] = '\0';
	nics = json_object_get(inst, "nics");
	json_array_foreach(nics, i, nic) {
		const char *addr = json_string_value(
		    json_object_get(nic, "addr"));
		const char *dev = json_string_value(
		    json_object_get(nic, "host_dev"));
		json_t *addrs = json_object_get(nic, "addresses"), *a;
		size_t n, k;

		/* What the daemon learnt while it runs, else the static one. */
		json_array_foreach(addrs, k, a) {
			const char *s = json_string_value(
			    json_object_get(a, "addr"));

			if (s == NULL)
				continue;
			n = strlen(row->address);
			snprintf(row->address + n, sizeof(row->address) - n,
			    "%s%s", n > 0 ? "," : "", s);
			addr = NULL;
		}
		if (addr != NULL) {
			n = strlen(row->address);
			snprintf(row->address + n, sizeof(row->address) - n,
			    "%s%s", n > 0 ? "," : "", addr);
		}
		if (dev != NULL) {
			n = strlen(row->hostdev);
			snprintf(row->hostdev + n, sizeof(row->hostdev) - n,
			    "%s%s", n > 0 ? "," : "", dev);
		}
	}
	if (row->address[0] == '\0')
		snprintf(row->address, sizeof(row->address), "-");
	if (row->hostdev[0] == '\0')
		snprintf(row->hostdev, sizeof(row->hostdev), "-");
}

char *
fmt_event(json_t *ev)
{
	struct sbuf sb = SBUF_INIT;
	const char *type, *state, *reason;
	json_t *st;

	type = json_string_value(json_object_get(ev, "type"));
	/* The seq first: what --since takes. */
	if (json_is_integer(json_object_get(ev, "seq")))
		sbuf_addf(&sb, "%lld ",
		    (long long)json_integer_value(json_object_get(ev, "seq")));
	sbuf_addf(&sb, "%s %s ",
	    json_string_value(json_object_get(ev, "time")) != NULL ?
		json_string_value(json_object_get(ev, "time")) :
		"-",
	    json_string_value(json_object_get(ev, "name")) != NULL ?
		json_string_value(json_object_get(ev, "name")) :
		"?");
	reason = json_string_value(json_object_get(ev, "reason"));
	/* A restart policy's new generation: "restart 2 (generation 3): why" */
	if (type != NULL && strcmp(type, "restart") == 0) {
		sbuf_addf(&sb, "restart %lld (generation %lld)",
		    (long long)json_integer_value(
			json_object_get(ev, "attempt")),
		    (long long)json_integer_value(
			json_object_get(ev, "generation")));
		if (reason != NULL)
			sbuf_addf(&sb, ": %s", reason);
		return sbuf_finish(&sb);
	}
	if (type != NULL && strcmp(type, "state") != 0) {
		sbuf_add(&sb, type);
		return sbuf_finish(&sb);
	}
	state = json_string_value(json_object_get(ev, "state"));
	sbuf_add(&sb, state != NULL ? state : "?");
	/*
	 * The status is known before the state says the guest ended; backoff
	 * is the end of a generation that its restart policy follows up.
	 */
	st = fmt_state_ended(state) ||
		(state != NULL && strcmp(state, "backoff") == 0) ?
	    json_object_get(ev, "exit_status") :
	    NULL;
	if (json_is_integer(st) && reason != NULL)
		sbuf_addf(&sb, " (exit %lld, %s)",
		    (long long)json_integer_value(st), reason);
	else if (json_is_integer(st))
		sbuf_addf(&sb, " (exit %lld)",
		    (long long)json_integer_value(st));
	else if (reason != NULL)
		sbuf_addf(&sb, " (%s)", reason);
	return sbuf_finish(&sb);
}
