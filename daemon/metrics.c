/*
 * metrics: the counters and the Prometheus text (see metrics.h).
 *
 * Every family is written with its # HELP and # TYPE lines, also when it
 * has no sample yet (a family of labelled counters before the first
 * launch), and the labelled families that have a fixed set of label
 * values (state x platform, backend) have every combination, 0 included,
 * so that a query for a value that is 0 now finds a series.  Names are
 * rumprund_*, seconds and bytes as Prometheus' conventions say, counters
 * end in _total.  Label values are escaped (backslash, double quote,
 * newline), although instance names never hold such bytes.
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"
#include "events.h"
#include "metrics.h"
#include "sbuf.h"
#include "version.h"

#define NPLAT SPEC_PLATFORMS_LAUNCHED

/* The launch latency histogram's upper bounds, in seconds. */
static const double buckets[] = {
	0.25,
	0.5,
	1,
	2,
	5,
	10,
	30,
	60,
	120,
};
#define NBUCKETS (sizeof(buckets) / sizeof(buckets[0]))

static struct {
	uint64_t launches[NPLAT];
	uint64_t failures[NPLAT];
	uint64_t crashes[NPLAT];
	uint64_t restarts[NPLAT];
	uint64_t latency[NPLAT][NBUCKETS]; /* not cumulative */
	uint64_t latency_count[NPLAT];
	double latency_sum[NPLAT];
	uint64_t console_bytes;
} m;

static bool
valid(enum spec_platform p)
{
	return (int)p >= 0 && (int)p < NPLAT;
}

void
metrics_launch(enum spec_platform p)
{
	if (valid(p))
		m.launches[p]++;
}

void
metrics_end(enum spec_platform p, enum instance_state s)
{
	if (!valid(p))
		return;
	if (s == INSTANCE_FAILED)
		m.failures[p]++;
	else if (s == INSTANCE_CRASHED)
		m.crashes[p]++;
}

void
metrics_restart(enum spec_platform p)
{
	if (valid(p))
		m.restarts[p]++;
}

void
metrics_running(enum spec_platform p, int64_t ms)
{
	double s = ms > 0 ? (double)ms / 1000.0 : 0.0;
	size_t i;

	if (!valid(p))
		return;
	for (i = 0; i < NBUCKETS && s > buckets[i]; i++)
		;
	if (i < NBUCKETS)
		m.latency[p][i]++;
	m.latency_count[p]++;
	m.latency_sum[p] += s;
}

void
metrics_console_bytes(uint64_t n)
{
	m.console_bytes += n;
}

void
metrics_reset(void)
{
	memset(&m, 0, sizeof(m));
}

/* "# HELP name help\n# TYPE name type\n" */
static void
family(struct sbuf *sb, const char *name, const char *type, const char *help)
{
	sbuf_addf(sb, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* A label value, escaped as the text format wants. */
static void
label_value(struct sbuf *sb, const char *v)
{
	for (; *v != '\0'; v++) {
		if (*v == '\\')
			sbuf_add(sb, "\\\\");
		else if (*v == '"')
			sbuf_add(sb, "\\\"");
		else if (*v == '\n')
			sbuf_add(sb, "\\n");
		else
			sbuf_addc(sb, *v);
	}
}

static const char *
pname(int p)
{
	return spec_platform_name((enum spec_platform)p);
}

/* A counter family with one sample per platform. */
static void
per_platform(struct sbuf *sb, const char *name, const char *help,
    const uint64_t *v)
{
	int p;

	family(sb, name, "counter", help);
	for (p = 0; p < NPLAT; p++)
		sbuf_addf(sb, "%s{platform=\"%s\"} %llu\n", name, pname(p),
		    (unsigned long long)v[p]);
}

struct count_arg {
	/* By state (up to 64 of them) and platform. */
	uint64_t n[64][NPLAT];
};

static void
count_one(void *arg, const struct instance *inst)
{
	struct count_arg *ca = arg;

	if ((unsigned int)inst->state < 64 && valid(inst->spec->platform))
		ca->n[inst->state][inst->spec->platform]++;
}

static void
instances(struct sbuf *sb, struct engine *e)
{
	struct count_arg ca;
	unsigned int s;
	const char *sname;
	int p;

	memset(&ca, 0, sizeof(ca));
	engine_foreach(e, count_one, &ca)
		;
	family(sb, "rumprund_instances", "gauge",
	    "Instances rumprund knows, by state and platform.");
	for (s = 0; s < 64; s++) {
		sname = instance_state_name((enum instance_state)s);
		if (strcmp(sname, "unknown") == 0)
			break;
		for (p = 0; p < NPLAT; p++)
			sbuf_addf(sb,
			    "rumprund_instances{state=\"%s\","
			    "platform=\"%s\"} %llu\n",
			    sname, pname(p), (unsigned long long)ca.n[s][p]);
	}
}

static void
latency(struct sbuf *sb)
{
	static const char *const name = "rumprund_launch_duration_seconds";
	uint64_t cum;
	size_t i;
	int p;

	family(sb, name, "histogram",
	    "Time from a launch or start request "
	    "to the guest's main(), of guests not created paused.");
	for (p = 0; p < NPLAT; p++) {
		cum = 0;
		for (i = 0; i < NBUCKETS; i++) {
			cum += m.latency[p][i];
			sbuf_addf(sb,
			    "%s_bucket{platform=\"%s\",le=\"%g\"} "
			    "%llu\n",
			    name, pname(p), buckets[i],
			    (unsigned long long)cum);
		}
		sbuf_addf(sb, "%s_bucket{platform=\"%s\",le=\"+Inf\"} %llu\n",
		    name, pname(p), (unsigned long long)m.latency_count[p]);
		sbuf_addf(sb, "%s_sum{platform=\"%s\"} %.3f\n", name, pname(p),
		    m.latency_sum[p]);
		sbuf_addf(sb, "%s_count{platform=\"%s\"} %llu\n", name,
		    pname(p), (unsigned long long)m.latency_count[p]);
	}
}

/* The guests' counters: one family at a time, as the format requires. */
struct guest_arg {
	struct sbuf *sb;
	const struct collect_snapshot *snap;
	const char *name;
	size_t field; /* offsetof() in struct backend_stats */
	double scale; /* 1e-9 for ns to s, 1 otherwise */
};

static void
guest_one(void *arg, const struct instance *inst)
{
	struct guest_arg *ga = arg;
	const struct backend_stats *st;
	uint64_t v;

	if (instance_state_final(inst->state) ||
	    (st = collect_find(ga->snap, inst->domain_name)) == NULL)
		return;
	memcpy(&v, (const char *)st + ga->field, sizeof(v));
	if (v == BACKEND_STATS_NONE)
		return;
	sbuf_addf(ga->sb, "%s{name=\"", ga->name);
	label_value(ga->sb, inst->name);
	if (ga->scale != 1)
		sbuf_addf(ga->sb, "\",platform=\"%s\"} %.9f\n",
		    pname((int)inst->spec->platform), (double)v * ga->scale);
	else
		sbuf_addf(ga->sb, "\",platform=\"%s\"} %llu\n",
		    pname((int)inst->spec->platform), (unsigned long long)v);
}

static void
guests(struct sbuf *sb, struct engine *e, const struct collect_snapshot *snap)
{
	static const struct {
		const char *name, *type, *help;
		size_t field;
		double scale;
	} fams[] = {
		{ "rumprund_guest_cpu_seconds_total", "counter",
		    "CPU time of a guest's vCPUs since its domain started.",
		    offsetof(struct backend_stats, cpu_ns), 1e-9 },
		{ "rumprund_guest_memory_bytes", "gauge", "Memory a guest has.",
		    offsetof(struct backend_stats, memory_bytes), 1 },
		{ "rumprund_guest_memory_rss_bytes", "gauge",
		    "Host memory in use for a guest (its QEMU process on KVM).",
		    offsetof(struct backend_stats, rss_bytes), 1 },
		{ "rumprund_guest_block_read_bytes_total", "counter",
		    "Bytes a guest read from its disks.",
		    offsetof(struct backend_stats, block_rd_bytes), 1 },
		{ "rumprund_guest_block_write_bytes_total", "counter",
		    "Bytes a guest wrote to its disks.",
		    offsetof(struct backend_stats, block_wr_bytes), 1 },
		{ "rumprund_guest_block_read_requests_total", "counter",
		    "Read requests of a guest to its disks.",
		    offsetof(struct backend_stats, block_rd_reqs), 1 },
		{ "rumprund_guest_block_write_requests_total", "counter",
		    "Write requests of a guest to its disks.",
		    offsetof(struct backend_stats, block_wr_reqs), 1 },
		{ "rumprund_guest_network_receive_bytes_total", "counter",
		    "Bytes a guest received on its NICs.",
		    offsetof(struct backend_stats, net_rx_bytes), 1 },
		{ "rumprund_guest_network_transmit_bytes_total", "counter",
		    "Bytes a guest sent on its NICs.",
		    offsetof(struct backend_stats, net_tx_bytes), 1 },
		{ "rumprund_guest_network_receive_packets_total", "counter",
		    "Packets a guest received on its NICs.",
		    offsetof(struct backend_stats, net_rx_packets), 1 },
		{ "rumprund_guest_network_transmit_packets_total", "counter",
		    "Packets a guest sent on its NICs.",
		    offsetof(struct backend_stats, net_tx_packets), 1 },
	};
	struct guest_arg ga;
	size_t i;

	for (i = 0; i < sizeof(fams) / sizeof(fams[0]); i++) {
		family(sb, fams[i].name, fams[i].type, fams[i].help);
		if (snap == NULL)
			continue;
		ga.sb = sb;
		ga.snap = snap;
		ga.name = fams[i].name;
		ga.field = fams[i].field;
		ga.scale = fams[i].scale;
		engine_foreach(e, guest_one, &ga)
			;
	}
}

char *
metrics_render(struct engine *e, const struct collect_snapshot *snap,
    size_t *len)
{
	struct sbuf sb = SBUF_INIT;
	char *text;
	int p, st;

	family(&sb, "rumprund_build_info", "gauge",
	    "Always 1; the version of rumprund in a label.");
	sbuf_addf(&sb, "rumprund_build_info{version=\"%s\"} 1\n",
	    RUMPRUND_VERSION);
	instances(&sb, e);
	per_platform(&sb, "rumprund_launches_total",
	    "Domains created for a launch, a start or a restart.", m.launches);
	per_platform(&sb, "rumprund_failures_total",
	    "Generations that ended "
	    "failed (the hypervisor refused, or main() was not reached in "
	    "time).",
	    m.failures);
	per_platform(&sb, "rumprund_crashes_total",
	    "Generations that ended crashed.", m.crashes);
	per_platform(&sb, "rumprund_restarts_total",
	    "Ended guests launched again by their restart policy.", m.restarts);
	latency(&sb);
	family(&sb, "rumprund_console_bytes_total", "counter",
	    "Bytes guests wrote to their consoles while rumprund followed "
	    "them.");
	sbuf_addf(&sb, "rumprund_console_bytes_total %llu\n",
	    (unsigned long long)m.console_bytes);
	family(&sb, "rumprund_event_stream_clients", "gauge",
	    "Clients following GET /v1/events.");
	sbuf_addf(&sb, "rumprund_event_stream_clients %zu\n",
	    events_watchers(engine_events(e)));
	family(&sb, "rumprund_backend_connected", "gauge",
	    "1 when a backend built into rumprund has its hypervisor "
	    "connection.");
	for (p = 0; p < NPLAT; p++) {
		if ((st = engine_backend_state(e, p)) >= 0)
			sbuf_addf(&sb,
			    "rumprund_backend_connected{backend="
			    "\"%s\"} %d\n",
			    pname(p), st);
	}
	guests(&sb, e, snap);
	*len = sb.len;
	text = sbuf_finish(&sb);
	return text;
}
