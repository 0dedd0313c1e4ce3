/*
 * cmd_stats: rrctl stats, the guests' counters as docker stats shows them.
 *
 * A round asks GET /v1/unikernels/NAME/stats for every name given, or for
 * every instance that has not ended (listed again each round, so that new
 * guests appear); the requests run at once and rumprund answers them from
 * one collection.  CPU % is the CPU time a guest used between two rounds
 * over the time between their collections (100% is one vCPU busy), so
 * that even --no-stream takes two rounds, a little more than a second
 * apart (rumprund keeps a collection for a second).  On a terminal the
 * table is redrawn each round until Ctrl-C; elsewhere the tables follow
 * each other.  A guest that has no domain (ended, or not started yet)
 * shows "-"; a name that does not exist is an error, as in docker stats.
 */
#include <getopt.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fmt.h"
#include "http.h"
#include "rrctl.h"
#include "table.h"

#define ROUND_MS 1100 /* > rumprund's 1 s cache of a collection */

enum stats_format {
	FORMAT_TABLE,
	FORMAT_JSON,
	FORMAT_JSONL
};

/* One guest across rounds. */
struct guest {
	char *name;
	json_t *prev;	    /* its last stats answer, or NULL */
	json_t *cur;	    /* this round's, or NULL (no domain) */
	double cpu_percent; /* from prev and cur; NAN until known */
	bool seen;	    /* in this round's list */
};

struct stats_run {
	struct ctl *c;
	struct guest *g;
	size_t n;
	size_t cap;
};

static struct guest *
guest_find(struct stats_run *s, const char *name, bool add)
{
	struct guest *ng;
	size_t i;

	for (i = 0; i < s->n; i++)
		if (strcmp(s->g[i].name, name) == 0)
			return &s->g[i];
	if (!add)
		return NULL;
	if (s->n == s->cap) {
		ng = realloc(s->g, (s->cap ? 2 * s->cap : 8) * sizeof(*ng));
		if (ng == NULL)
			return NULL;
		s->g = ng;
		s->cap = s->cap ? 2 * s->cap : 8;
	}
	ng = &s->g[s->n];
	memset(ng, 0, sizeof(*ng));
	if ((ng->name = strdup(name)) == NULL)
		return NULL;
	ng->cpu_percent = NAN;
	s->n++;
	return ng;
}

static void
guests_free(struct stats_run *s)
{
	size_t i;

	for (i = 0; i < s->n; i++) {
		free(s->g[i].name);
		json_decref(s->g[i].prev);
		json_decref(s->g[i].cur);
	}
	free(s->g);
}

/* The names of the instances that have not ended, as guests; an exit status. */
static int
list_running(struct stats_run *s)
{
	json_t *list = NULL, *inst;
	struct guest *g;
	const char *name;
	size_t i;
	int rv;

	if ((rv = ctl_call(s->c->http, "GET", "/v1/unikernels", NULL, &list,
		 NULL)) != CTL_OK)
		return rv;
	for (i = 0; i < s->n; i++)
		s->g[i].seen = false;
	json_array_foreach(list, i, inst) {
		name = json_string_value(json_object_get(inst, "name"));
		if (name == NULL ||
		    fmt_state_ended(
			json_string_value(json_object_get(inst, "state"))))
			continue;
		if ((g = guest_find(s, name, true)) == NULL) {
			ctl_warnx("out of memory");
			json_decref(list);
			return CTL_DENIED;
		}
		g->seen = true;
	}
	json_decref(list);
	/* Those that ended or went are dropped. */
	for (i = 0; i < s->n;) {
		if (s->g[i].seen) {
			i++;
			continue;
		}
		free(s->g[i].name);
		json_decref(s->g[i].prev);
		json_decref(s->g[i].cur);
		memmove(&s->g[i], &s->g[i + 1], (s->n - i - 1) * sizeof(*s->g));
		s->n--;
	}
	return CTL_OK;
}

static double
num(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	return json_is_number(v) ? json_number_value(v) : NAN;
}

/* CPU % of g from its two last answers. */
static void
cpu_percent(struct guest *g)
{
	int64_t t0, t1;
	double c0, c1;

	if (g->prev == NULL || g->cur == NULL ||
	    json_integer_value(json_object_get(g->prev, "generation")) !=
		json_integer_value(json_object_get(g->cur, "generation")) ||
	    fmt_time_ms(json_string_value(json_object_get(g->prev, "time")),
		&t0) == -1 ||
	    fmt_time_ms(json_string_value(json_object_get(g->cur, "time")),
		&t1) == -1)
		return;
	c0 = num(g->prev, "cpu_time_ns");
	c1 = num(g->cur, "cpu_time_ns");
	/* The same collection twice: the last percentage stands. */
	if (t1 <= t0 || isnan(c0) || isnan(c1) || c1 < c0)
		return;
	g->cpu_percent = (c1 - c0) / ((double)(t1 - t0) * 1e6) * 100.0;
}

/*
 * One round: every guest's stats at once.  A 404 on a name the user gave
 * is an error (explicit); a 409 (no domain) leaves the guest without
 * counters.  Returns an exit status.
 */
static int
round_once(struct stats_run *s, bool explicit)
{
	struct http_req *reqs;
	char **paths;
	size_t i;
	int rv = CTL_OK, r;
	json_t *body;

	if (s->n == 0)
		return CTL_OK;
	reqs = calloc(s->n, sizeof(*reqs));
	paths = calloc(s->n, sizeof(*paths));
	if (reqs == NULL || paths == NULL) {
		free(reqs);
		free(paths);
		ctl_warnx("out of memory");
		return CTL_DENIED;
	}
	for (i = 0; i < s->n; i++) {
		reqs[i].method = "GET";
		reqs[i].path = paths[i] = http_path(s->g[i].name, "/stats");
		if (paths[i] == NULL ||
		    http_start(s->c->http, &reqs[i]) == -1) {
			ctl_warnx("out of memory");
			rv = CTL_DENIED;
			goto out;
		}
	}
	if (http_run(s->c->http, NULL, NULL) == HTTP_INTERRUPTED) {
		rv = CTL_INTERRUPTED;
		goto out;
	}
	for (i = 0; i < s->n; i++) {
		http_end(s->c->http, &reqs[i]);
		if (s->g[i].cur != NULL) {
			json_decref(s->g[i].prev);
			s->g[i].prev = s->g[i].cur;
			s->g[i].cur = NULL;
		}
		/* No domain (ended, or starting), or gone meanwhile. */
		if (reqs[i].status == 409 ||
		    (reqs[i].status == 404 && !explicit)) {
			s->g[i].cpu_percent = NAN;
			continue;
		}
		if ((r = ctl_outcome(s->c->http, &reqs[i], &body)) != CTL_OK) {
			rv = r;
			if (r == CTL_UNREACHABLE)
				break;
			continue;
		}
		s->g[i].cur = body;
		cpu_percent(&s->g[i]);
	}
out:
	for (i = 0; i < s->n; i++) {
		http_end(s->c->http, &reqs[i]);
		http_req_reset(&reqs[i]);
		free(paths[i]);
	}
	free(reqs);
	free(paths);
	return rv;
}

/* n bytes for people: "512B", "1.5KiB", "64MiB". */
static void
fmt_bytes(double n, char *buf, size_t len)
{
	static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	size_t u = 0;

	if (isnan(n)) {
		snprintf(buf, len, "-");
		return;
	}
	while (n >= 1024 && u + 1 < sizeof(units) / sizeof(units[0])) {
		n /= 1024;
		u++;
	}
	if (u == 0 || n >= 100 || n == (double)(uint64_t)n)
		snprintf(buf, len, "%.0f%s", n, units[u]);
	else
		snprintf(buf, len, "%.1f%s", n, units[u]);
}

static void
pair(json_t *o, const char *a, const char *b, char *buf, size_t len)
{
	char x[24], y[24];

	fmt_bytes(num(o, a), x, sizeof(x));
	fmt_bytes(num(o, b), y, sizeof(y));
	snprintf(buf, len, "%s / %s", x, y);
}

static void
print_table(struct stats_run *s)
{
	static const char *const head[] = { "NAME", "CPU %", "CPU TIME",
		"MEMORY", "HOST RSS", "BLOCK I/O (R / W)",
		"NET I/O (RX / TX)" };
	char pct[16], cpu[32], mem[32], rss[32], blk[80], net[80];
	const char *cells[7];
	struct table *t;
	struct guest *g;
	double ns;
	size_t i;

	if ((t = table_new(7)) == NULL)
		return;
	table_row(t, head);
	for (i = 0; i < s->n; i++) {
		g = &s->g[i];
		cells[0] = g->name;
		if (g->cur == NULL) {
			cells[1] = cells[2] = cells[3] = cells[4] = cells[5] =
			    cells[6] = "-";
			table_row(t, cells);
			continue;
		}
		if (isnan(g->cpu_percent))
			snprintf(pct, sizeof(pct), "-");
		else
			snprintf(pct, sizeof(pct), "%.2f%%", g->cpu_percent);
		ns = num(g->cur, "cpu_time_ns");
		if (isnan(ns))
			snprintf(cpu, sizeof(cpu), "-");
		else
			snprintf(cpu, sizeof(cpu), "%.2fs", ns / 1e9);
		fmt_bytes(num(g->cur, "memory_bytes"), mem, sizeof(mem));
		fmt_bytes(num(g->cur, "memory_rss_bytes"), rss, sizeof(rss));
		pair(json_object_get(g->cur, "block"), "read_bytes",
		    "write_bytes", blk, sizeof(blk));
		pair(json_object_get(g->cur, "net"), "rx_bytes", "tx_bytes",
		    net, sizeof(net));
		cells[1] = pct;
		cells[2] = cpu;
		cells[3] = mem;
		cells[4] = rss;
		cells[5] = blk;
		cells[6] = net;
		table_row(t, cells);
	}
	table_print(t, stdout);
	table_free(t);
}

/* The answers of this round with "cpu_percent" (null until known). */
static void
print_json(struct stats_run *s, enum stats_format f)
{
	json_t *a = json_array(), *o;
	size_t i;

	for (i = 0; i < s->n; i++) {
		if (s->g[i].cur == NULL)
			continue;
		o = json_deep_copy(s->g[i].cur);
		json_object_set_new(o, "cpu_percent",
		    isnan(s->g[i].cpu_percent) ?
			json_null() :
			json_real(s->g[i].cpu_percent));
		if (f == FORMAT_JSONL) {
			json_dumpf(o, stdout, JSON_COMPACT);
			putchar('\n');
			json_decref(o);
		} else
			json_array_append_new(a, o);
	}
	if (f == FORMAT_JSON) {
		json_dumpf(a, stdout, JSON_INDENT(2));
		putchar('\n');
	}
	json_decref(a);
}

/* Sleep ms unless interrupted; false when Ctrl-C came. */
static bool
pause_ms(long ms)
{
	struct timespec ts;

	for (; ms > 0; ms -= 100) {
		if (http_interrupted())
			return false;
		ts.tv_sec = 0;
		ts.tv_nsec = (ms < 100 ? ms : 100) * 1000000L;
		nanosleep(&ts, NULL);
	}
	return !http_interrupted();
}

int
ctl_stats(struct ctl *c, int argc, char *argv[])
{
	static const struct option longopts[] = {
		{ "no-stream", no_argument, NULL, 'n' },
		{ "format", required_argument, NULL, 'f' },
		{ "json", no_argument, NULL, 'J' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct stats_run s;
	enum stats_format f = FORMAT_TABLE;
	bool no_stream = false, started = false, tty, explicit;
	int ch, rv, round;

	memset(&s, 0, sizeof(s));
	s.c = c;
	while ((ch = ctl_getopt(c, argc, argv, "h", longopts, &started, &rv)) !=
	    -1) {
		switch (ch) {
		case 'n':
			no_stream = true;
			break;
		case 'f':
			if (strcmp(optarg, "json") == 0)
				c->json = true;
			else if (strcmp(optarg, "jsonl") == 0)
				f = FORMAT_JSONL;
			else if (strcmp(optarg, "table") != 0)
				return ctl_usage_error(c->cmd,
				    "--format %s: give table, json or jsonl",
				    optarg);
			break;
		default:
			return rv;
		}
	}
	if (c->json && f == FORMAT_TABLE)
		f = FORMAT_JSON;
	if ((rv = ctl_connect(c)) != CTL_OK)
		return rv;
	explicit = optind < argc;
	for (; optind < argc; optind++)
		if (guest_find(&s, argv[optind], true) == NULL) {
			ctl_warnx("out of memory");
			rv = CTL_DENIED;
			goto out;
		}
	if (!no_stream && http_catch_interrupt(c->http) == -1) {
		ctl_warnx("cannot catch SIGINT");
		rv = CTL_DENIED;
		goto out;
	}
	tty = isatty(STDOUT_FILENO) == 1;
	for (round = 0;; round++) {
		if (!explicit && (rv = list_running(&s)) != CTL_OK)
			goto out;
		if ((rv = round_once(&s, explicit)) != CTL_OK)
			goto out;
		/* The first round only gives the CPU % its start. */
		if (round > 0) {
			if (f != FORMAT_TABLE)
				print_json(&s, f);
			else {
				if (tty && !no_stream)
					fputs("\033[H\033[2J", stdout);
				print_table(&s);
			}
			if (fflush(stdout) == EOF || no_stream)
				break;
		}
		if (!pause_ms(ROUND_MS)) {
			rv = CTL_INTERRUPTED; /* Ctrl-C, as logs -f */
			break;
		}
	}
out:
	guests_free(&s);
	return rv;
}
