/*
 * router: which route of a table a request's method and path go to, and
 * the {param} segments of the path.  Pure functions on strings (no
 * libmicrohttpd, no loop), used by httpd.c.
 *
 * A pattern is '/' and segments separated by '/'; a segment "{x}" matches
 * any one non-empty segment (a parameter named x), any other segment
 * matches itself, also percent-encoded.  A table is searched in order and
 * the first route whose pattern and method match wins; a GET route serves
 * HEAD too.  No match: 404 when no pattern matched, 405 with the methods
 * of the routes whose pattern matched (the Allow header) otherwise.
 */
#ifndef ROUTER_H
#define ROUTER_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "httpd.h"

/* A pattern with more {params} than this matches nothing. */
#define ROUTER_MAX_PARAMS 8

/* n bytes at p, not NUL-terminated: a part of a pattern or a path. */
struct router_span {
	const char *p;
	size_t n;
};

/*
 * Percent-decode s[0..n) into dst (at least n + 1 bytes).  Returns the
 * decoded length, or -1 on a malformed escape.
 */
ssize_t router_pct_decode(const char *s, size_t n, char *dst);

/*
 * Match path against pattern.  On a match, names[i] and vals[i] (up to max)
 * are the {param} names and raw segments, and *np their number.
 */
bool router_match(const char *pattern, const char *path,
    struct router_span *names, struct router_span *vals, size_t max,
    size_t *np);

/*
 * The route of routes[] for method and path, with its parameters in names
 * and vals (ROUTER_MAX_PARAMS entries each; raw, not decoded) and their
 * number in *np.  NULL when there is none: allow (allowsize bytes) is then
 * "" when no pattern matched (404), else the methods that would match,
 * ", " between them ("GET, HEAD, DELETE": 405).
 */
const struct httpd_route *router_find(const struct httpd_route *routes,
    size_t nroutes, const char *method, const char *path,
    struct router_span *names, struct router_span *vals, size_t *np,
    char *allow, size_t allowsize);

#endif
