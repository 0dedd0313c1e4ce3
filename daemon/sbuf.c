/*
 * sbuf: a growable string (see sbuf.h).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sbuf.h"

/* Make room for n more bytes plus the terminating NUL. */
static bool
reserve(struct sbuf *sb, size_t n)
{
	size_t cap;
	char *nbuf;

	if (sb->failed)
		return false;
	if (sb->len + n + 1 <= sb->cap)
		return true;
	cap = sb->cap != 0 ? sb->cap : 256;
	while (cap < sb->len + n + 1)
		cap *= 2;
	nbuf = realloc(sb->buf, cap);
	if (nbuf == NULL) {
		sb->failed = true;
		return false;
	}
	sb->buf = nbuf;
	sb->cap = cap;
	return true;
}

void
sbuf_reserve(struct sbuf *sb, size_t n)
{
	(void)reserve(sb, n);
}

void
sbuf_addn(struct sbuf *sb, const char *s, size_t n)
{
	if (!reserve(sb, n))
		return;
	memcpy(sb->buf + sb->len, s, n);
	sb->len += n;
	sb->buf[sb->len] = '\0';
}

void
sbuf_add(struct sbuf *sb, const char *s)
{
	sbuf_addn(sb, s, strlen(s));
}

void
sbuf_addc(struct sbuf *sb, char c)
{
	sbuf_addn(sb, &c, 1);
}

void
sbuf_addf(struct sbuf *sb, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0) {
		sb->failed = true;
		return;
	}
	if (!reserve(sb, (size_t)n))
		return;
	va_start(ap, fmt);
	vsnprintf(sb->buf + sb->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	sb->len += (size_t)n;
}

char *
sbuf_finish(struct sbuf *sb)
{
	char *s;

	if (!reserve(sb, 0)) {
		sbuf_reset(sb);
		return NULL;
	}
	s = sb->buf;
	sb->buf = NULL;
	sb->len = sb->cap = 0;
	return s;
}

void
sbuf_reset(struct sbuf *sb)
{
	free(sb->buf);
	sb->buf = NULL;
	sb->len = sb->cap = 0;
	sb->failed = false;
}
