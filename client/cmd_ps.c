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

/* The columns -o can name, and where each one's text is in a row. */
enum col {
	C_NAME,
	C_STATUS,
	C_STATE,
	C_PLATFORM,
	C_MEMORY,
	C_ADDRESS,
	C_EXIT,
	C_UPTIME,
	C_GENERATION,
	C_CREATED,
	C_HOSTDEV,
	NCOLS
};

static const char *const col_names[NCOLS] = { "name", "status", "state",
	"platform", "memory", "address", "exit", "uptime", "generation",
	"created", "hostdev" };

#define PS_DEFAULT_COLS "name,status,platform,memory,address"
#define PS_MAX_COLS	16

/*
 * Parse -o's comma-separated column names into cols; the number, or -1
 * with the unknown one in *bad.
 */
static int
parse_cols(const char *spec, enum col *cols, char *bad, size_t badlen)
{
	const char *p = spec, *end;
	size_t len;
	int n = 0, i;

	while (*p != '\0') {
		end = strchr(p, ',');
		len = end != NULL ? (size_t)(end - p) : strlen(p);
		for (i = 0; i < NCOLS; i++)
			if (strlen(col_names[i]) == len &&
			    strncmp(col_names[i], p, len) == 0)
				break;
		if (i == NCOLS || n == PS_MAX_COLS) {
			snprintf(bad, badlen, "%.*s", (int)len, p);
			return -1;
		}
		cols[n++] = (enum col)i;
		p += len + (end != NULL);
	}
	if (n == 0) {
		snprintf(bad, badlen, "%s", "");
		return -1;
	}
	return n;
}

static const char *
col_text(enum col c, json_t *inst, const struct fmt_ps *row, char *buf,
    size_t len)
{
	switch (c) {
	case C_NAME:
		return row->name;
	case C_STATUS:
		return row->status;
	case C_STATE:
		return row->state;
	case C_PLATFORM:
		return row->platform;
	case C_MEMORY:
		return row->memory;
	case C_ADDRESS:
		return row->address;
	case C_EXIT:
		return row->exit;
	case C_UPTIME:
		return row->uptime;
	case C_HOSTDEV:
		return row->hostdev;
	case C_GENERATION:
		snprintf(buf, len, "%lld",
		    (long long)json_integer_value(
			json_object_get(inst, "generation")));
		return buf;
	case C_CREATED:
		snprintf(buf, len, "%s",
		    json_string_value(json_object_get(inst, "created")) !=
			    NULL ?
			json_string_value(json_object_get(inst, "created")) :
			"-");
		return buf;
	default:
		return "-";
	}
}

static void
print_table(json_t *list, const enum col *cols, int ncols)
{
	const char *cells[PS_MAX_COLS];
	char heads[PS_MAX_COLS][16], bufs[PS_MAX_COLS][64];
	struct fmt_ps row;
	struct table *t;
	json_t *inst;
	int64_t now = now_ms();
	size_t i, k;
	int j;

	for (j = 0; j < ncols; j++) {
		for (k = 0; col_names[cols[j]][k] != '\0'; k++)
			heads[j][k] = (char)(col_names[cols[j]][k] - 'a' + 'A');
		heads[j][k] = '\0';
		cells[j] = heads[j];
	}
	if ((t = table_new((size_t)ncols)) == NULL ||
	    table_row(t, cells) == -1) {
		table_free(t);
		ctl_warnx("out of memory");
		return;
	}
	memset(&row, 0, sizeof(row));
	json_array_foreach(list, i, inst) {
		fmt_ps_row(inst, now, &row);
		for (j = 0; j < ncols; j++)
			cells[j] = col_text(cols[j], inst, &row, bufs[j],
			    sizeof(bufs[j]));
		table_row(t, cells);
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
		{ "output", required_argument, NULL, 'o' },
		{ "format", required_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *state = NULL, *platform = NULL, *name = NULL, *labels[32];
	enum col cols[PS_MAX_COLS];
	char bad[64];
	bool lines = false;
	int ncols;
	struct sbuf q = SBUF_INIT;
	json_t *list = NULL, *out = NULL, *inst;
	bool all = false, quiet = false, started = false;
	size_t nlabels = 0, i, l;
	char *path = NULL;
	int ch, rv;

	ncols = parse_cols(PS_DEFAULT_COLS, cols, bad, sizeof(bad));
	while ((ch = ctl_getopt(c, argc, argv, "aF:ho:q", longopts, &started,
		    &rv)) != -1) {
		switch (ch) {
		case 'o':
			if ((ncols = parse_cols(optarg, cols, bad,
				 sizeof(bad))) == -1)
				return ctl_usage_error(c->cmd,
				    "-o %s: no "
				    "column '%s'; the columns: name, status, "
				    "state, platform, memory, address, exit, "
				    "uptime, generation, created, hostdev",
				    optarg, bad);
			break;
		case 'f':
			if (strcmp(optarg, "jsonl") == 0)
				lines = true;
			else if (strcmp(optarg, "json") == 0)
				c->json = true;
			else if (strcmp(optarg, "table") != 0)
				return ctl_usage_error(c->cmd,
				    "--format %s: give table, json or jsonl",
				    optarg);
			break;
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
				state = optarg + 7; /* docker's word */
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
				return ctl_usage_error(c->cmd,
				    "--filter %s: "
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
	if ((rv = ctl_call(c->http, "GET", path, NULL, &list, NULL)) != CTL_OK)
		goto out;
	if (!json_is_array(list)) {
		ctl_warnx("rumprund answered something else than a list");
		rv = CTL_DENIED;
		goto out;
	}

	/* A state filter shows that state, ended or not. */
	out = json_array();
	json_array_foreach(list, i, inst) {
		if (!all && state == NULL &&
		    fmt_state_ended(
			json_string_value(json_object_get(inst, "state"))))
			continue;
		/* name=PART: the names that contain it, as docker's. */
		if (name != NULL &&
		    strstr(json_string_value(json_object_get(inst, "name")),
			name) == NULL)
			continue;
		json_array_append(out, inst);
	}
	if (lines) {
		/* JSON lines: one compact instance a line, for scripts. */
		json_array_foreach(out, i, inst) {
			json_dumpf(inst, stdout, JSON_COMPACT);
			putchar('\n');
		}
	} else if (c->json) {
		json_dumpf(out, stdout, JSON_INDENT(2));
		putchar('\n');
	} else if (quiet) {
		json_array_foreach(out, i, inst) {
			printf("%s\n",
			    json_string_value(json_object_get(inst, "name")));
		}
	} else
		print_table(out, cols, ncols);
out:
	sbuf_reset(&q);
	free(path);
	json_decref(list);
	json_decref(out);
	return rv;
}
