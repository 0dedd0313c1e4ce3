/*
 * lib.c: the parts of rrguest that need no hardware, shared by the hw
 * guest (machine.c: COM1, PIT) and the Xen guest (tests/xen/guest/): the
 * console's printf over con_putc(), panic() over halt(), and the bits of
 * libc we use, with the four that gcc may call on its own in freestanding
 * code (memcpy, memmove, memset, memcmp).
 */

#include "guest.h"

void
con_write(const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		con_putc(s[i]);
}

static void
con_putu(uint32_t v)
{
	char buf[10];
	int n = 0;

	do {
		buf[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v != 0);
	while (n > 0)
		con_putc(buf[--n]);
}

/*
 * A printf for the console that knows %s, %.*s, %d, %u, %c and %%.  With
 * %.*s exactly that many bytes are written: the strings of the JSON
 * configuration are not NUL-terminated.
 */
static void
con_vprintf(const char *fmt, va_list ap)
{
	const char *s;
	int prec, d;

	for (; *fmt != '\0'; fmt++) {
		if (*fmt != '%') {
			con_putc(*fmt);
			continue;
		}
		fmt++;
		prec = -1;
		if (fmt[0] == '.' && fmt[1] == '*') {
			prec = va_arg(ap, int);
			fmt += 2;
		}
		switch (*fmt) {
		case 's':
			s = va_arg(ap, const char *);
			if (s == NULL)
				s = "(null)";
			con_write(s, prec >= 0 ? (size_t)prec : strlen(s));
			break;
		case 'd':
			d = va_arg(ap, int);
			if (d < 0) {
				con_putc('-');
				con_putu(0U - (uint32_t)d);
			} else
				con_putu((uint32_t)d);
			break;
		case 'u':
			con_putu(va_arg(ap, unsigned int));
			break;
		case 'c':
			con_putc(va_arg(ap, int));
			break;
		case '\0':
			return;
		default:
			con_putc(*fmt);
			break;
		}
	}
}

void
con_printf(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	con_vprintf(fmt, ap);
	va_end(ap);
}

void
panic(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	con_write("PANIC: ", 7);
	con_vprintf(fmt, ap);
	va_end(ap);
	con_putc('\n');
	halt();
}

/*
 * What rumprun's errx(1, ...) does while it configures itself, before
 * main(): "rumprun: MESSAGE", then exit(1), whose _exit() prints its
 * marker and ends the bootstrap thread.  Nothing calls the halting code
 * after that: the guest prints nothing more and does not halt.
 */
void
errx1(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	con_write("rumprun: ", 9);
	con_vprintf(fmt, ap);
	va_end(ap);
	con_printf("\n\n=== ERROR: _exit(1) called ===\n");
	stop();
}

void *
memcpy(void *dst, const void *src, size_t len)
{
	unsigned char *d = dst;
	const unsigned char *s = src;

	while (len-- > 0)
		*d++ = *s++;
	return dst;
}

void *
memmove(void *dst, const void *src, size_t len)
{
	unsigned char *d = dst;
	const unsigned char *s = src;

	if (d <= s) {
		while (len-- > 0)
			*d++ = *s++;
	} else {
		while (len-- > 0)
			d[len] = s[len];
	}
	return dst;
}

void *
memset(void *dst, int c, size_t len)
{
	unsigned char *d = dst;

	while (len-- > 0)
		*d++ = (unsigned char)c;
	return dst;
}

int
memcmp(const void *a, const void *b, size_t len)
{
	const unsigned char *p = a, *q = b;
	size_t i;

	for (i = 0; i < len; i++) {
		if (p[i] != q[i])
			return p[i] - q[i];
	}
	return 0;
}

size_t
strlen(const char *s)
{
	size_t len = 0;

	while (s[len] != '\0')
		len++;
	return len;
}

char *
strstr(const char *hay, const char *needle)
{
	size_t n = strlen(needle);

	for (; *hay != '\0'; hay++) {
		if (memcmp(hay, needle, n) == 0)
			return (char *)(uintptr_t)hay;
	}
	return n == 0 ? (char *)(uintptr_t)hay : NULL;
}

int
strcmp(const char *a, const char *b)
{
	while (*a != '\0' && *a == *b) {
		a++;
		b++;
	}
	return (unsigned char)*a - (unsigned char)*b;
}
