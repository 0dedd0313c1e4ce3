/*
 * rrerr: filling and naming the error object (see rrerr.h).
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "rrerr.h"

int
rrerr_vset(struct rrerr *err, enum rrerr_code code, const char *field,
    const char *fmt, va_list ap)
{
	if (err == NULL)
		return -1;
	err->code = code;
	snprintf(err->field, sizeof(err->field), "%s",
	    field != NULL ? field : "");
	vsnprintf(err->message, sizeof(err->message), fmt, ap);
	return -1;
}

int
rrerr_set(struct rrerr *err, enum rrerr_code code, const char *field,
    const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	rrerr_vset(err, code, field, fmt, ap);
	va_end(ap);
	return -1;
}

void
rrerr_clear(struct rrerr *err)
{
	if (err == NULL)
		return;
	err->code = RRERR_OK;
	err->field[0] = '\0';
	err->message[0] = '\0';
}

const char *
rrerr_name(enum rrerr_code code)
{
	switch (code) {
	case RRERR_OK:
		return "ok";
	case RRERR_BAD_REQUEST:
		return "bad_request";
	case RRERR_INVALID:
		return "invalid";
	case RRERR_FORBIDDEN:
		return "forbidden";
	case RRERR_NOT_FOUND:
		return "not_found";
	case RRERR_CONFLICT:
		return "conflict";
	case RRERR_TOO_LARGE:
		return "too_large";
	case RRERR_UNSUPPORTED_MEDIA:
		return "unsupported_media_type";
	case RRERR_UNAVAILABLE:
		return "unavailable";
	case RRERR_INTERNAL:
		return "internal";
	case RRERR_NO_SPACE:
		return "insufficient_storage";
	}
	return "internal";
}
