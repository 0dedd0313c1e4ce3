/*
 * fx_http: the libcurl client side of the unit tests (fx_http.h).
 */
#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "fx_http.h"

uint64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int
count_fds(void)
{
	struct dirent *de;
	DIR *d;
	int n = 0;

	if ((d = opendir("/proc/self/fd")) == NULL)
		return -1;
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	return n - 1; /* the DIR's own fd */
}

size_t
on_body(char *d, size_t size, size_t n, void *arg)
{
	struct resp *r = arg;
	char *p;

	n *= size;
	if ((p = realloc(r->body, r->len + n + 1)) == NULL)
		return 0;
	r->body = p;
	memcpy(r->body + r->len, d, n);
	r->len += n;
	r->body[r->len] = '\0';
	return n;
}

static void
header_value(const char *d, size_t n, const char *name, char *out, size_t outsz)
{
	size_t nl = strlen(name), vn;

	if (n <= nl || strncasecmp(d, name, nl) != 0)
		return;
	d += nl;
	n -= nl;
	while (n > 0 && *d == ' ') {
		d++;
		n--;
	}
	while (n > 0 && (d[n - 1] == '\r' || d[n - 1] == '\n'))
		n--;
	vn = n < outsz - 1 ? n : outsz - 1;
	memcpy(out, d, vn);
	out[vn] = '\0';
}

size_t
on_header(char *d, size_t size, size_t n, void *arg)
{
	struct resp *r = arg;

	n *= size;
	header_value(d, n, "Allow:", r->allow, sizeof(r->allow));
	header_value(d, n, "Content-Type:", r->ctype, sizeof(r->ctype));
	header_value(d, n, "Location:", r->location, sizeof(r->location));
	return n;
}

void
perform(CURL *c, struct resp *r)
{
	memset(r, 0, sizeof(*r));
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
	r->t_start = now_ns();
	r->rc = curl_easy_perform(c);
	r->t_end = now_ns();
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
	curl_easy_getinfo(c, CURLINFO_NUM_CONNECTS, &r->connects);
}

void
resp_free(struct resp *r)
{
	free(r->body);
	r->body = NULL;
}
