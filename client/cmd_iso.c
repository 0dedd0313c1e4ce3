/*
 * cmd_iso: rrctl iso, a bootable ISO image of a unikernel (POST /v1/iso).
 *
 * The image goes to a temporary file beside the output (".NAME.XXXXXX" in
 * its directory), which becomes the output by rename(2) once it is whole:
 * the answer ended with its last chunk and its size is the one its ISO
 * 9660 volume descriptor states.  On any error, and on Ctrl-C, the
 * temporary file is removed and the output is left as it was.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "http.h"
#include "iso.h"
#include "rrctl.h"
#include "runopts.h"

struct download {
	int fd;
	unsigned long long bytes;
};

static int
write_out(void *arg, const char *buf, size_t len)
{
	struct download *d = arg;
	ssize_t n;

	while (len > 0) {
		if ((n = write(d->fd, buf, len)) == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		buf += n;
		len -= (size_t)n;
		d->bytes += (unsigned long long)n;
	}
	return 0;
}

/* The image in fd is whole: its size is what its volume descriptor says. */
static int
check_whole(int fd, unsigned long long bytes)
{
	struct rrerr err;

	if (iso_check_fd(fd, bytes, &err) == -1) {
		ctl_warnx("the ISO image did not arrive whole (%llu bytes): %s",
		    bytes, err.message);
		return -1;
	}
	return 0;
}

/* A new temporary file beside path, its name in tmp; the fd or -1. */
static int
temp_beside(const char *path, char *tmp, size_t size)
{
	char *copy1, *copy2;
	mode_t mask;
	int fd;

	if ((copy1 = strdup(path)) == NULL || (copy2 = strdup(path)) == NULL) {
		free(copy1);
		errno = ENOMEM;
		return -1;
	}
	if ((size_t)snprintf(tmp, size, "%s/.%s.XXXXXX", dirname(copy1),
		basename(copy2)) >= size) {
		free(copy1);
		free(copy2);
		errno = ENAMETOOLONG;
		return -1;
	}
	free(copy1);
	free(copy2);
	if ((fd = mkstemp(tmp)) == -1)
		return -1;
	/* As an ordinary new file: 0666 less the umask. */
	mask = umask(0);
	umask(mask);
	(void)fchmod(fd, 0666 & ~mask);
	return fd;
}

/* Send req and write the image to output; an exit status. */
static int
fetch(struct ctl *c, json_t *req, const char *output)
{
	struct http_req r;
	struct download d = { -1, 0 };
	struct stat st;
	char tmp[4096], *body;
	int rv;

	if (stat(output, &st) == 0 && S_ISDIR(st.st_mode)) {
		ctl_warnx("%s is a directory: give -o a file name", output);
		return CTL_USAGE;
	}
	if ((body = json_dumps(req, JSON_COMPACT)) == NULL) {
		ctl_warnx("out of memory");
		return CTL_DENIED;
	}
	if ((d.fd = temp_beside(output, tmp, sizeof(tmp))) == -1) {
		ctl_warnx("cannot make a file beside %s: %s", output,
		    strerror(errno));
		free(body);
		return CTL_DENIED;
	}
	memset(&r, 0, sizeof(r));
	r.method = "POST";
	r.path = "/v1/iso";
	r.body = body;
	r.on_data = write_out;
	r.arg = &d;
	if (http_catch_interrupt(c->http) == -1 ||
	    http_start(c->http, &r) == -1) {
		ctl_warnx("cannot make a request: out of memory");
		rv = CTL_DENIED;
		goto out;
	}
	rv = http_run(c->http, http_req_done, &r);
	http_end(c->http, &r);
	if (rv == HTTP_INTERRUPTED) {
		ctl_warnx("interrupted: no image written");
		rv = CTL_INTERRUPTED;
		goto out;
	}
	if ((rv = ctl_outcome(c->http, &r, NULL)) != CTL_OK)
		goto out;
	if (check_whole(d.fd, d.bytes) == -1) {
		rv = CTL_DENIED;
		goto out;
	}
	if (fsync(d.fd) == -1 || close(d.fd) == -1) {
		d.fd = -1;
		ctl_warnx("cannot write %s: %s", tmp, strerror(errno));
		rv = CTL_DENIED;
		goto out;
	}
	d.fd = -1;
	if (rename(tmp, output) == -1) {
		ctl_warnx("cannot rename %s to %s: %s", tmp, output,
		    strerror(errno));
		rv = CTL_DENIED;
		goto out;
	}
	tmp[0] = '\0';
	printf("%s\n", output);
out:
	if (d.fd != -1)
		close(d.fd);
	if (tmp[0] != '\0')
		(void)unlink(tmp);
	http_req_reset(&r);
	free(body);
	return rv;
}

int
ctl_iso(struct ctl *c, int argc, char *argv[])
{
	struct run_opts o;
	char name[RUN_NAME_MAX + 1], *output = NULL;
	json_t *req = NULL;
	int rv;

	rv = ctl_run_request(c, argc, argv, true, &o, &req);
	if (rv != CTL_OK || req == NULL)
		goto out;
	if (o.output == NULL) {
		snprintf(name, sizeof(name), "%s",
		    json_string_value(json_object_get(req, "name")));
		if (asprintf(&output, "%s.iso", name) == -1) {
			output = NULL;
			ctl_warnx("out of memory");
			rv = CTL_DENIED;
			goto out;
		}
	}
	if ((rv = ctl_connect(c)) != CTL_OK)
		goto out;
	rv = fetch(c, req, o.output != NULL ? o.output : output);
out:
	free(output);
	json_decref(req);
	run_opts_free(&o);
	return rv;
}
