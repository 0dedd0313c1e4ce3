/*
 * cmd_image: rrctl image and rrctl volume (push, ls, rm), and the push
 * of rrctl run's kernel to a daemon on another machine.
 *
 * A push hashes the file (SHA-256, GnuTLS) before it sends it, and sends
 * the digest with it (?sha256=): the daemon keeps nothing whose bytes do
 * not match.  The body streams from the file (libcurl reads it as it
 * sends), so a large volume is never in rrctl's memory either.
 */
#include <sys/stat.h>

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>

#include "http.h"
#include "rrctl.h"
#include "table.h"

#define HEX_LEN 64

/* "images" or "volumes" for kind "image" or "volume". */
static const char *
plural(const char *kind)
{
	return strcmp(kind, "volume") == 0 ? "volumes" : "images";
}

void
image_default_name(const char *file, char *buf, size_t len)
{
	const char *base = strrchr(file, '/');
	size_t i, n = 0;
	char ch;

	base = base != NULL ? base + 1 : file;
	for (i = 0; base[i] != '\0' && n + 1 < len && n < IMAGE_NAME_MAX; i++) {
		ch = base[i];
		if (ch >= 'A' && ch <= 'Z')
			ch = (char)(ch - 'A' + 'a');
		if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
			ch == '_' || ch == '.' || ch == '-'))
			ch = '-';
		/* The first character is a letter or a digit. */
		if (n == 0 &&
		    !((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9')))
			continue;
		buf[n++] = ch;
	}
	if (n == 0)
		snprintf(buf, len, "image");
	else
		buf[n] = '\0';
}

int
image_file_digest(FILE *f, char *hex, long long *size)
{
	gnutls_hash_hd_t h;
	unsigned char md[32], buf[65536];
	size_t n, i;
	long long total = 0;

	if (gnutls_hash_init(&h, GNUTLS_DIG_SHA256) != 0)
		return -1;
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0) {
		gnutls_hash(h, buf, n);
		total += (long long)n;
	}
	gnutls_hash_deinit(h, md);
	if (ferror(f) || fseek(f, 0, SEEK_SET) == -1)
		return -1;
	for (i = 0; i < sizeof(md); i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	*size = total;
	return 0;
}

/*
 * PUT file as kind's entry name with its digest; the entry to *out (new
 * reference) when out is not NULL.  Returns an exit status (said).
 */
static int
push(struct ctl *c, const char *kind, const char *file, const char *name,
    bool force, json_t **out)
{
	struct http_req r;
	struct stat sb;
	char hex[HEX_LEN + 1], *esc = NULL, *path = NULL;
	long long size;
	FILE *f;
	int rv;

	if ((f = fopen(file, "rbe")) == NULL) {
		ctl_warnx("%s: %s", file, strerror(errno));
		return CTL_USAGE;
	}
	if (fstat(fileno(f), &sb) == -1 || !S_ISREG(sb.st_mode)) {
		ctl_warnx("%s: not a regular file", file);
		fclose(f);
		return CTL_USAGE;
	}
	if (image_file_digest(f, hex, &size) == -1) {
		ctl_warnx("%s: cannot read it", file);
		fclose(f);
		return CTL_USAGE;
	}
	if ((esc = http_escape(name)) == NULL ||
	    asprintf(&path, "/v1/%s/%s?sha256=%s%s", plural(kind), esc, hex,
		force ? "&force=true" : "") == -1) {
		path = NULL;
		free(esc);
		fclose(f);
		ctl_warnx("out of memory");
		return CTL_DENIED;
	}
	free(esc);
	memset(&r, 0, sizeof(r));
	r.method = "PUT";
	r.path = path;
	r.upload = f;
	r.upload_size = size;
	if (http_start(c->http, &r) == -1) {
		ctl_warnx("cannot make a request: out of memory");
		rv = CTL_DENIED;
		goto out;
	}
	rv = http_run(c->http, http_req_done, &r);
	http_end(c->http, &r);
	if (rv == HTTP_INTERRUPTED)
		rv = CTL_INTERRUPTED;
	else
		rv = ctl_outcome(c->http, &r, out);
	http_req_reset(&r);
out:
	fclose(f);
	free(path);
	return rv;
}

int
image_push_for_run(struct ctl *c, const char *file, char **ref)
{
	char base[IMAGE_NAME_MAX + 1], name[IMAGE_NAME_MAX + 16];
	char hex[HEX_LEN + 1], *path = NULL;
	json_t *list = NULL, *entry = NULL;
	long long size;
	FILE *f;
	int rv;

	*ref = NULL;
	if ((f = fopen(file, "rbe")) == NULL) {
		ctl_warnx("%s: %s", file, strerror(errno));
		return RUN_NOT_FOUND;
	}
	rv = image_file_digest(f, hex, &size);
	fclose(f);
	if (rv == -1) {
		ctl_warnx("%s: cannot read it", file);
		return RUN_NOT_FOUND;
	}
	/* The daemon may have these bytes already, under any name. */
	if (asprintf(&path, "/v1/images?sha256=%s", hex) == -1) {
		ctl_warnx("out of memory");
		return CTL_DENIED;
	}
	rv = ctl_call(c->http, "GET", path, NULL, &list, NULL);
	free(path);
	if (rv != CTL_OK)
		return rv;
	if (json_array_size(list) > 0) {
		rv = asprintf(ref, "store:%s",
		    json_string_value(
			json_object_get(json_array_get(list, 0), "name")));
		json_decref(list);
		if (rv == -1) {
			*ref = NULL;
			ctl_warnx("out of memory");
			return CTL_DENIED;
		}
		return CTL_OK;
	}
	json_decref(list);
	/* NAME-DIGEST12: a name of its own for these bytes, never reused. */
	image_default_name(file, base, sizeof(base));
	base[IMAGE_NAME_MAX - 13] = '\0'; /* room for -DIGEST12 */
	snprintf(name, sizeof(name), "%s-%.12s", base, hex);
	if ((rv = push(c, "image", file, name, false, &entry)) != CTL_OK)
		return rv;
	json_decref(entry);
	fprintf(stderr, "rrctl: pushed %s as image %s (sha256 %.12s)\n", file,
	    name, hex);
	if (asprintf(ref, "store:%s", name) == -1) {
		*ref = NULL;
		ctl_warnx("out of memory");
		return CTL_DENIED;
	}
	return CTL_OK;
}

static int
cmd_push(struct ctl *c, const char *kind, int argc, char *argv[])
{
	static const struct option longopts[] = {
		{ "force", no_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	char name[IMAGE_NAME_MAX + 1];
	bool force = false, started = false;
	json_t *entry = NULL;
	int ch, rv;

	while ((ch = ctl_getopt(c, argc, argv, "fh", longopts, &started,
		    &rv)) != -1) {
		if (ch != 'f')
			return rv;
		force = true;
	}
	if (optind >= argc || argc - optind > 2)
		return ctl_usage_error(c->cmd, "push FILE [NAME]");
	if (argc - optind == 2)
		snprintf(name, sizeof(name), "%s", argv[optind + 1]);
	else
		image_default_name(argv[optind], name, sizeof(name));
	if ((rv = ctl_connect(c)) != CTL_OK)
		return rv;
	if ((rv = push(c, kind, argv[optind], name, force, &entry)) != CTL_OK)
		return rv;
	if (c->json) {
		json_dumpf(entry, stdout, JSON_INDENT(2));
		putchar('\n');
	} else
		printf("%s sha256:%s %lld\n",
		    json_string_value(json_object_get(entry, "name")),
		    json_string_value(json_object_get(entry, "sha256")),
		    (long long)json_integer_value(
			json_object_get(entry, "size")));
	json_decref(entry);
	return CTL_OK;
}

static int
cmd_ls(struct ctl *c, const char *kind, int argc, char *argv[])
{
	static const struct option longopts[] = {
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *cells[5];
	char path[32], size[32], sha[20], users[256];
	bool quiet = false, started = false;
	json_t *list = NULL, *e, *u;
	struct table *t;
	size_t i, j, used;
	int ch, rv;

	while ((ch = ctl_getopt(c, argc, argv, "qh", longopts, &started,
		    &rv)) != -1) {
		if (ch != 'q')
			return rv;
		quiet = true;
	}
	if (optind != argc)
		return ctl_usage_error(c->cmd, "ls takes no names");
	if ((rv = ctl_connect(c)) != CTL_OK)
		return rv;
	snprintf(path, sizeof(path), "/v1/%s", plural(kind));
	if ((rv = ctl_call(c->http, "GET", path, NULL, &list, NULL)) != CTL_OK)
		return rv;
	if (c->json) {
		json_dumpf(list, stdout, JSON_INDENT(2));
		putchar('\n');
		json_decref(list);
		return CTL_OK;
	}
	if (quiet) {
		json_array_foreach(list, i, e)
			printf("%s\n",
			    json_string_value(json_object_get(e, "name")));
		json_decref(list);
		return CTL_OK;
	}
	if ((t = table_new(5)) == NULL) {
		json_decref(list);
		ctl_warnx("out of memory");
		return CTL_DENIED;
	}
	cells[0] = "NAME";
	cells[1] = "SIZE";
	cells[2] = "SHA256";
	cells[3] = "CREATED";
	cells[4] = "USED BY";
	table_row(t, cells);
	json_array_foreach(list, i, e) {
		snprintf(size, sizeof(size), "%lld",
		    (long long)json_integer_value(json_object_get(e, "size")));
		snprintf(sha, sizeof(sha), "%.12s",
		    json_string_value(json_object_get(e, "sha256")));
		users[0] = '\0';
		used = 0;
		json_array_foreach(json_object_get(e, "used_by"), j, u)
			if (used + 1 < sizeof(users))
				used += (size_t)snprintf(users + used,
				    sizeof(users) - used, "%s%s",
				    j > 0 ? "," : "", json_string_value(u));
		cells[0] = json_string_value(json_object_get(e, "name"));
		cells[1] = size;
		cells[2] = sha;
		cells[3] = json_string_value(json_object_get(e, "created"));
		cells[4] = users[0] != '\0' ? users : "-";
		table_row(t, cells);
	}
	table_print(t, stdout);
	table_free(t);
	json_decref(list);
	return CTL_OK;
}

static int
cmd_rm(struct ctl *c, const char *kind, int argc, char *argv[])
{
	static const struct option longopts[] = {
		{ "force", no_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	bool force = false, started = false;
	char *esc, *path;
	int ch, rv, worst = CTL_OK;

	while ((ch = ctl_getopt(c, argc, argv, "fh", longopts, &started,
		    &rv)) != -1) {
		if (ch != 'f')
			return rv;
		force = true;
	}
	if (optind >= argc)
		return ctl_usage_error(c->cmd, "give the names to remove");
	if ((rv = ctl_connect(c)) != CTL_OK)
		return rv;
	for (; optind < argc; optind++) {
		if ((esc = http_escape(argv[optind])) == NULL ||
		    asprintf(&path, "/v1/%s/%s%s", plural(kind), esc,
			force ? "?force=true" : "") == -1) {
			free(esc);
			ctl_warnx("out of memory");
			return CTL_DENIED;
		}
		free(esc);
		rv = ctl_call(c->http, "DELETE", path, NULL, NULL, NULL);
		free(path);
		if (rv == CTL_OK)
			printf("%s\n", argv[optind]);
		else if (worst != CTL_UNREACHABLE)
			worst = rv;
		if (rv == CTL_UNREACHABLE)
			break;
	}
	return worst;
}

/* rrctl image|volume SUBCOMMAND ...: argv[0] is "image" or "volume". */
static int
store_cmd(struct ctl *c, const char *kind, int argc, char *argv[])
{
	if (argc < 2)
		return ctl_usage_error(c->cmd,
		    "give a subcommand: push, ls or rm");
	if (strcmp(argv[1], "push") == 0)
		return cmd_push(c, kind, argc - 1, argv + 1);
	if (strcmp(argv[1], "ls") == 0 || strcmp(argv[1], "list") == 0)
		return cmd_ls(c, kind, argc - 1, argv + 1);
	if (strcmp(argv[1], "rm") == 0 || strcmp(argv[1], "remove") == 0)
		return cmd_rm(c, kind, argc - 1, argv + 1);
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		ctl_cmd_help(c->cmd);
		return CTL_OK;
	}
	return ctl_usage_error(c->cmd,
	    "%s: not a subcommand of %s (push, ls, rm)", argv[1], kind);
}

int
ctl_image(struct ctl *c, int argc, char *argv[])
{
	return store_cmd(c, "image", argc, argv);
}

int
ctl_volume(struct ctl *c, int argc, char *argv[])
{
	return store_cmd(c, "volume", argc, argv);
}
