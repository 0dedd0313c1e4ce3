/*
 * rrerr: the error object every layer of rumprund fills in.
 *
 * A function that can fail returns -1 (or NULL) and describes the failure
 * in a caller-supplied struct rrerr: a code saying whose fault it is, the
 * path of the offending request field when the caller sent it, and one
 * sentence.  Lower layers fill it and do not log; the API layer maps the
 * code to an HTTP status in one table and logs once.
 */
#ifndef RRERR_H
#define RRERR_H

#include <stdarg.h>

enum rrerr_code {
	RRERR_OK = 0,
	RRERR_BAD_REQUEST, /* malformed: not JSON, wrong shape */
	RRERR_INVALID,	   /* well-formed, but a field's value is wrong */
	RRERR_FORBIDDEN,   /* outside what the operator allows */
	RRERR_NOT_FOUND,
	RRERR_CONFLICT,
	RRERR_TOO_LARGE,
	RRERR_UNSUPPORTED_MEDIA,
	RRERR_UNAVAILABLE, /* a backend or the host cannot do it now */
	RRERR_INTERNAL,	   /* our bug or the host's failure, never bad input */
	RRERR_NO_SPACE,	   /* the host's disk is full (507) */
};

#define RRERR_FIELD_MAX	  128
#define RRERR_MESSAGE_MAX 512

struct rrerr {
	enum rrerr_code code;
	char field[RRERR_FIELD_MAX]; /* "" when no request field is at fault */
	char message[RRERR_MESSAGE_MAX];
};

/*
 * Fill err (which may be NULL) and return -1, so that callers can write
 * "return rrerr_set(err, ...);".  field may be NULL.
 */
int rrerr_set(struct rrerr *err, enum rrerr_code code, const char *field,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* rrerr_set() for wrappers that take the format's arguments themselves. */
int rrerr_vset(struct rrerr *err, enum rrerr_code code, const char *field,
    const char *fmt, va_list ap) __attribute__((format(printf, 4, 0)));

/* Reset err to RRERR_OK with empty field and message. */
void rrerr_clear(struct rrerr *err);

/* The stable snake_case name of a code, as the API reports it. */
const char *rrerr_name(enum rrerr_code code);

#endif
