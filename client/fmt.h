/*
 * fmt: how rrctl shows instances and events to people.  Pure functions,
 * tested in tests/unit/test_rrctl_fmt.c.
 */
#ifndef FMT_H
#define FMT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

/* The row of one instance in `rrctl ps`. */
struct fmt_ps {
	char name[72];
	char state[16];
	char platform[8];
	char memory[24];   /* "64MiB" */
	char uptime[24];   /* "1m05s" since started; "-" once ended */
	char exit[16];	   /* the exit status, or "-" */
	char status[128];  /* "up 1m05s", "exited (3) 2m ago", "crashed
				   5s ago: PANIC: ..." (reason cut), as
				   docker ps's STATUS */
	char address[256]; /* addresses, comma separated, or "-" */
	char hostdev[160]; /* host devices of the NICs, or "-" */
};

/* True for a state in which an instance has ended. */
bool fmt_state_ended(const char *state);

/*
 * An RFC 3339 time ("2026-11-22T13:54:01.123Z", or with an offset) as
 * milliseconds since the epoch; 0, or -1 when s is not one.
 */
int fmt_time_ms(const char *s, int64_t *ms);

/* A duration for people: "45s", "12m03s", "5h02m", "3d04h". */
void fmt_duration(int64_t seconds, char *buf, size_t len);

/* The ps row of the instance inst (borrowed) at time now_ms. */
void fmt_ps_row(json_t *inst, int64_t now_ms, struct fmt_ps *row);

/*
 * One event (borrowed) as a line for people, without the newline:
 * "SEQ TIME NAME STATE", then " (exit N)" (for a state in which the guest
 * has ended) or " (REASON)" when the event has them; "SEQ TIME NAME
 * created" and "SEQ TIME NAME removed" for those types.
 * A new string (free() it), or NULL when out of memory.
 */
char *fmt_event(json_t *ev);

#endif
