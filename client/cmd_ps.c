/*
 * cmd_ps: rrctl ps, the instances as a table.
 *
 * The state, platform and label filters go to the daemon as query
 * parameters (every label must hold); "not ended" (without -a) and name=
 * are applied here.  STATUS says what docker ps's does: "up 5m",
 * "exited (3) 2m ago", "crashed 10s ago: PANIC: ...".
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "fmt.h"
#include "http.h"
#include "rrctl.h"
#include "sbuf.h"
#include "table.h"

static void
add_query(struct sbuf *q, const char *key, const char *value)
{
	char *esc = http_escape(value);

	sbuf_addf(q, "%c%s=%s", q->len == 0 ? '?' : '&', key,
	    esc != NULL ? esc : "");
	free(esc);
}

static int64_t
now_ms(void)
{
	struct timeval tv;

	gettimeofday(&tv, NULL);
	return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

static void
print_table(json_t *list)
{
	static const char *const head[] = { "NAME", "STATUS", "PLATFORM",
	    "MEMORY", "ADDRESS" };
	struct fmt_ps row;
	struct table *t;
	json_t *inst;
	int64_t now = now_ms();
	size_t i;

	if ((t = table_new(5)) == NULL || table_row(t, head) == -1) {
		table_free(t);
		ctl_warnx("out of memory");
		return;
	}
	memset(&row, 0, sizeof(row));
	json_array_foreach(list, i, inst) {
		fmt_ps_row(inst, now, &row);
		table_row(t, (const char *const []){ row.name, row.status,
		    row.platform, row.memory, row.address });
	}
	table_print(t, stdout);
	table_free(t);
}

int
ctl_ps(struct ctl *c, int argc, char *argv[])
{
	static const struct option longopts[] = {
		{ "all", no_argument, NULL, 'a' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "filter", required_argument, NULL, 'F' },
		{ "json", no_argument, NULL, 'J' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *state = NULL, *platform = NULL, *name = NULL, *labels[32];
	struct sbuf q = SBUF_INIT;
	json_t *list = NULL, *out = NULL, *inst;
	bool all = false, quiet = false, started = false;
	size_t nlabels = 0, i, l;
	char *path = NULL;
	int ch, rv;

	while ((ch = ctl_getopt(c, argc, argv, "aF:hq", longopts, &started,
	    &rv)) != -1) {
		switch (ch) {
		case 'a':
			all = true;
			break;
		case 'q':
			quiet = true;
			break;
		case 'F':
			if (strncmp(optarg, "state=", 6) == 0 && state == NULL)
				state = optarg + 6;
			else if (strncmp(optarg, "status=", 7) == 0 &&
			    state == NULL)
				state = optarg + 7;	/* docker's word */
			else if (strncmp(optarg, "name=", 5) == 0 &&
			    name == NULL)
				name = optarg + 5;
			else if (strncmp(optarg, "platform=", 9) == 0 &&
			    platform == NULL)
				platform = optarg + 9;
			else if (strncmp(optarg, "label=", 6) == 0 &&
			    optarg[6] != '\0' && optarg[6] != '=' &&
			    nlabels < sizeof(labels) / sizeof(labels[0]))
				labels[nlabels++] = optarg + 6;
			else
				return ctl_usage_error(c->cmd, "--filter %s: "
				    "give state=STATE (or status=), "
				    "platform=PLATFORM, name=PART or "
				    "label=KEY[=VALUE], all but label once",
				    optarg);
			break;
		default:
			return rv;
		}
	}
	if (optind < argc)
		return ctl_usage_error(c->cmd, "unexpected argument %s",
		    argv[optind]);
	if ((rv = ctl_connect(c)) != CTL_OK)
		return rv;

	sbuf_add(&q, "");
	if (state != NULL)
		add_query(&q, "state", state);
	if (platform != NULL)
		add_query(&q, "platform", platform);
	for (l = 0; l < nlabels; l++)
		add_query(&q, "label", labels[l]);
	if (asprintf(&path, "/v1/unikernels%s", q.buf != NULL ? q.buf : "") ==
	    -1) {
		path = NULL;
		ctl_warnx("out of memory");
		rv = CTL_DENIED;
		goto out;
	}
	if ((rv = http_call(c->http, "GET", path, NULL, &list, NULL)) !=
	    CTL_OK)
		goto out;
	if (!json_is_array(list)) {
		ctl_warnx("rumprund answered something else than a list");
		rv = CTL_DENIED;
		goto out;
	}

	/* A state filter shows that state, ended or not. */
	out = json_array();
	json_array_foreach(list, i, inst) {
		if (!all && state == NULL && fmt_state_ended(
		    json_string_value(json_object_get(inst, "state"))))
			continue;
		/* name=PART: the names that contain it, as docker's. */
		if (name != NULL && strstr(json_string_value(json_object_get(
		    inst, "name")), name) == NULL)
			continue;
		json_array_append(out, inst);
	}
	if (c->json) {
		json_dumpf(out, stdout, JSON_INDENT(2));
		putchar('\n');
	} else if (quiet) {
		json_array_foreach(out, i, inst) {
			printf("%s\n", json_string_value(json_object_get(inst,
			    "name")));
		}
	} else
		print_table(out);
out:
	sbuf_reset(&q);
	free(path);
	json_decref(list);
	json_decref(out);
	return rv;
}
