/*
 * sbuf: a growable, always NUL-terminated string.
 *
 * Appends never fail halfway: on allocation failure the buffer is marked
 * failed, later appends do nothing, and sbuf_finish() returns NULL.  Callers
 * can therefore append freely and check once at the end.
 */
#ifndef SBUF_H
#define SBUF_H

#include <stdbool.h>
#include <stddef.h>

struct sbuf {
	char *buf;
	size_t len;
	size_t cap;
	bool failed;
};

#define SBUF_INIT \
	{ \
		NULL, 0, 0, false \
	}

/* Make room for n more bytes now (one allocation for what follows). */
void sbuf_reserve(struct sbuf *sb, size_t n);
void sbuf_add(struct sbuf *sb, const char *s);
void sbuf_addn(struct sbuf *sb, const char *s, size_t n);
void sbuf_addc(struct sbuf *sb, char c);
void sbuf_addf(struct sbuf *sb, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/*
 * End the string: returns the buffer, now owned by the caller (free() it),
 * or NULL when an append failed; either way sb is empty afterwards.
 */
char *sbuf_finish(struct sbuf *sb);

/* Free the buffer without returning it. */
void sbuf_reset(struct sbuf *sb);

#endif
