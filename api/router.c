/*
 * router: the route table's matcher (see router.h).  Pure functions on
 * strings; httpd.c calls them on the loop thread for every request.
 */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "router.h"

static int
hexval(int ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

ssize_t
router_pct_decode(const char *s, size_t n, char *dst)
{
	size_t i, o = 0;
	int hi, lo;

	for (i = 0; i < n; i++) {
		if (s[i] != '%') {
			dst[o++] = s[i];
			continue;
		}
		if (i + 2 >= n)
			return -1;
		if ((hi = hexval((unsigned char)s[i + 1])) == -1 ||
		    (lo = hexval((unsigned char)s[i + 2])) == -1)
			return -1;
		dst[o++] = (char)(hi << 4 | lo);
		i += 2;
	}
	dst[o] = '\0';
	return (ssize_t)o;
}

/* Does path segment seg equal the literal lit (after decoding)? */
static bool
literal_eq(const char *lit, size_t litn, const char *seg, size_t segn)
{
	char buf[256];
	ssize_t n;

	if (memchr(seg, '%', segn) == NULL)
		return litn == segn && memcmp(lit, seg, segn) == 0;
	if (segn >= sizeof(buf))
		return false;
	if ((n = router_pct_decode(seg, segn, buf)) == -1)
		return false;
	return (size_t)n == litn && memcmp(lit, buf, litn) == 0;
}

bool
router_match(const char *pattern, const char *path, struct router_span *names,
    struct router_span *vals, size_t max, size_t *np)
{
	const char *p = pattern, *q = path, *pe, *qe;

	*np = 0;
	if (*p != '/' || *q != '/')
		return false;
	for (;;) {
		p++;
		q++;
		size_t pn, qn;

		pe = strchrnul(p, '/');
		qe = strchrnul(q, '/');
		pn = (size_t)(pe - p);
		qn = (size_t)(qe - q);
		if (pn >= 2 && p[0] == '{' && p[pn - 1] == '}') {
			if (qn == 0 || *np == max)
				return false;
			names[*np].p = p + 1;
			names[*np].n = pn - 2;
			vals[*np].p = q;
			vals[*np].n = qn;
			(*np)++;
		} else if (!literal_eq(p, pn, q, qn))
			return false;
		if (*pe == '\0' || *qe == '\0')
			return *pe == '\0' && *qe == '\0';
		p = pe;
		q = qe;
	}
}

/* Add method to the comma-separated list in buf unless it is there. */
static void
allow_add(char *buf, size_t size, const char *method)
{
	const char *p = buf;
	size_t n = strlen(method), used;

	while (*p != '\0') {
		if (strncmp(p, method, n) == 0 && (p[n] == '\0' || p[n] == ','))
			return;
		if ((p = strchr(p, ',')) == NULL)
			break;
		p += 2;
	}
	used = strlen(buf);
	snprintf(buf + used, size - used, "%s%s", used > 0 ? ", " : "", method);
}

const struct httpd_route *
router_find(const struct httpd_route *routes, size_t nroutes,
    const char *method, const char *path, struct router_span *names,
    struct router_span *vals, size_t *np, char *allow, size_t allowsize)
{
	const struct httpd_route *r;
	size_t i, n;

	allow[0] = '\0';
	*np = 0;
	for (i = 0; i < nroutes; i++) {
		r = &routes[i];
		if (!router_match(r->pattern, path, names, vals,
			ROUTER_MAX_PARAMS, &n))
			continue;
		/* HEAD wherever GET is: MHD sends the headers only. */
		if (strcmp(r->method, method) != 0 &&
		    !(strcmp(method, "HEAD") == 0 &&
			strcmp(r->method, "GET") == 0)) {
			allow_add(allow, allowsize, r->method);
			if (strcmp(r->method, "GET") == 0)
				allow_add(allow, allowsize, "HEAD");
			continue;
		}
		*np = n;
		return r;
	}
	return NULL;
}
