/*
 * cmd_show: rrctl inspect, info and version.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"
#include "rrctl.h"
#include "sbuf.h"
#include "table.h"

static const struct option help_json_opts[] = {
	{ "json", no_argument, NULL, 'J' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

/* Only --help and --json, and no arguments; -1 to go on, or a status. */
static int
no_args(struct ctl *c, int argc, char *argv[])
{
	bool started = false;
	int rv;

	if (ctl_getopt(c, argc, argv, "h", help_json_opts, &started, &rv) != -1)
		return rv;
	if (optind < argc)
		return ctl_usage_error(c->cmd, "unexpected argument %s",
		    argv[optind]);
	return -1;
}

static void
print_json(json_t *v)
{
	json_dumpf(v, stdout, JSON_INDENT(2));
	putchar('\n');
}

int
ctl_inspect(struct ctl *c, int argc, char *argv[])
{
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	bool started = false;
	json_t *inst = NULL;
	char *path;
	int rv;

	if (ctl_getopt(c, argc, argv, "h", longopts, &started, &rv) != -1)
		return rv;
	if (argc - optind != 1)
		return ctl_usage_error(c->cmd, "give one name");
	if ((rv = ctl_connect(c)) != CTL_OK)
		return rv;
	if ((path = http_path(argv[optind], "")) == NULL) {
		ctl_warnx("out of memory");
		return CTL_DENIED;
	}
	if ((rv = ctl_call(c->http, "GET", path, NULL, &inst, NULL)) == CTL_OK)
		print_json(inst);
	json_decref(inst);
	free(path);
	return rv;
}

static const char *
str(json_t *o, const char *key, const char *dflt)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s != NULL ? s : dflt;
}

/* "1024" for an integer member, "-" otherwise, in buf. */
static const char *
num(json_t *o, const char *key, char *buf, size_t len)
{
	json_t *v = json_object_get(o, key);

	if (!json_is_integer(v))
		return "-";
	snprintf(buf, len, "%lld", (long long)json_integer_value(v));
	return buf;
}

static void
kv(struct table *t, const char *key, const char *value)
{
	table_row(t, (const char *const[]){ key, value });
}

/* What requests may use (image dirs ...), a line each: "-" for none. */
static void
policy_lines(struct table *t, json_t *policy)
{
	static const char *const keys[][2] = {
		{ "image_dirs", "image dirs" },
		{ "volume_dirs", "volume dirs" },
		{ "bridges", "bridges" },
		{ "networks", "networks" },
	};
	struct sbuf sb = SBUF_INIT;
	json_t *v;
	size_t i, j;
	char *line;

	if (policy == NULL)
		return;
	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		json_array_foreach(json_object_get(policy, keys[i][0]), j, v)
			sbuf_addf(&sb, "%s%s", j > 0 ? ", " : "",
			    json_string_value(v));
		if (sb.len == 0)
			sbuf_add(&sb, "-");
		line = sbuf_finish(&sb);
		kv(t, keys[i][1], line);
		free(line);
	}
}

static void
print_info(json_t *info)
{
	char a[32], b[32], cc[32];
	struct sbuf sb = SBUF_INIT;
	json_t *host, *limits, *be, *v;
	const char *key;
	struct table *t;
	char *line;

	if ((t = table_new(2)) == NULL)
		return;
	kv(t, "version", str(info, "version", "-"));
	kv(t, "owner", str(info, "owner", "-"));
	kv(t, "accel", str(info, "accel", "-"));
	kv(t, "cpu model", str(info, "cpu_model", "QEMU's default"));
	host = json_object_get(info, "host");
	sbuf_addf(&sb, "%s CPUs, %s MiB", num(host, "cpus", a, sizeof(a)),
	    num(host, "memory_mib", b, sizeof(b)));
	line = sbuf_finish(&sb);
	kv(t, "host", line);
	free(line);
	json_object_foreach(json_object_get(info, "backends"), key, be) {
		if (json_is_true(json_object_get(be, "available")))
			sbuf_addf(&sb, "available, %s",
			    json_is_true(json_object_get(be, "connected")) ?
				"connected" :
				"not connected");
		else
			sbuf_addf(&sb, "unavailable: %s",
			    str(be, "reason", "no reason given"));
		line = sbuf_finish(&sb);
		kv(t, key, line);
		free(line);
	}
	sbuf_addf(&sb, "%s", num(info, "instances", a, sizeof(a)));
	json_object_foreach(json_object_get(info, "counts"), key, v) {
		sbuf_addf(&sb, "%s %lld %s", sb.len == strlen(a) ? ":" : ",",
		    (long long)json_integer_value(v), key);
	}
	line = sbuf_finish(&sb);
	kv(t, "instances", line);
	free(line);
	limits = json_object_get(info, "limits");
	sbuf_addf(&sb, "%s instances, %s MiB and %s vCPUs per guest, ",
	    num(limits, "max_instances", a, sizeof(a)),
	    num(limits, "max_memory_mib", b, sizeof(b)),
	    num(limits, "max_vcpus", cc, sizeof(cc)));
	if (json_integer_value(
		json_object_get(limits, "max_total_memory_mib")) > 0) {
		char d[32];

		sbuf_addf(&sb, "%s MiB in all",
		    num(limits, "max_total_memory_mib", d, sizeof(d)));
	} else
		sbuf_add(&sb, "no limit on memory in all");
	line = sbuf_finish(&sb);
	kv(t, "limits", line);
	free(line);
	policy_lines(t, json_object_get(info, "policy"));
	table_print(t, stdout);
	table_free(t);
}

int
ctl_info(struct ctl *c, int argc, char *argv[])
{
	json_t *info = NULL;
	int rv;

	if ((rv = no_args(c, argc, argv)) != -1)
		return rv;
	if ((rv = ctl_connect(c)) != CTL_OK)
		return rv;
	if ((rv = ctl_call(c->http, "GET", "/v1/info", NULL, &info, NULL)) !=
	    CTL_OK)
		return rv;
	if (c->json)
		print_json(info);
	else
		print_info(info);
	json_decref(info);
	return CTL_OK;
}

int
ctl_version(struct ctl *c, int argc, char *argv[])
{
	json_t *info = NULL, *built, *v;
	const char *daemon, *api, *k;
	char with[64] = "";
	int rv;

	if ((rv = no_args(c, argc, argv)) != -1)
		return rv;
	if ((rv = ctl_connect(c)) != CTL_OK)
		return rv;
	if (!c->json)
		printf("rrctl %s\n", RUMPRUND_VERSION);
	rv = ctl_call(c->http, "GET", "/v1/info", NULL, &info, NULL);
	daemon = json_string_value(json_object_get(info, "version"));
	api = json_string_value(json_object_get(info, "api_version"));
	built = json_object_get(info, "built_with");
	if (rv == CTL_OK && daemon == NULL) {
		ctl_warnx("rumprund did not say its version");
		rv = CTL_DENIED;
	}
	json_object_foreach(built, k, v)
		if (json_is_true(v))
			snprintf(with + strlen(with),
			    sizeof(with) - strlen(with), "%s%s",
			    with[0] != '\0' ? ", " : "", k);
	if (c->json) {
		json_t *out = json_pack("{s:s,s:s?,s:s?,s:O?}", "rrctl",
		    RUMPRUND_VERSION, "rumprund", daemon, "api_version", api,
		    "built_with", built);

		print_json(out);
		json_decref(out);
	} else if (daemon != NULL) {
		printf("rumprund %s", daemon);
		if (api != NULL)
			printf(" (API %s%s%s)", api,
			    with[0] != '\0' ? "; built with " : "", with);
		printf("\n");
	}
	json_decref(info);
	return rv;
}
