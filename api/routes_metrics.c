/*
 * routes_metrics: GET /metrics (Prometheus) and GET
 * /v1/unikernels/{name}/stats, the two routes that read the guests'
 * counters (see openapi.yaml).
 *
 * Both wait for a collection (daemon/collect.c) that the other shares: the
 * request is answered from the loop once the backends' workers are back,
 * never blocking it.  Each wants a collection that began after the
 * domains it shows started (the stats route its guest's, /metrics the
 * newest of all), so that a guest launched within the last second is not
 * missing.  /metrics is behind the same door as every route: on
 * TCP the token (and client certificate) that httpd checks before any
 * handler, on the unix socket its file mode.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "collect.h"
#include "instance.h"
#include "metrics.h"
#include "routes.h"

/* Same as routes.c's: the request takes no query parameter. */
static int
no_query(struct httpd_req *req)
{
	const char *name;
	size_t it = 0;
	struct rrerr err;

	if ((name = httpd_req_query_next(req, &it, NULL)) == NULL)
		return 0;
	rrerr_set(&err, RRERR_BAD_REQUEST, name,
	    "%.64s: unknown query parameter; %s takes none", name,
	    httpd_req_path(req));
	httpd_reply_error(req, &err);
	return -1;
}

/* What a request waits for the counters with. */
struct stats_req {
	struct httpd_req *req;
	struct engine *e;
	char name[SPEC_NAME_MAX + 1]; /* stats: the instance */
};

static struct stats_req *
new_req(struct httpd_req *req, struct engine *e, const char *name)
{
	struct stats_req *sr;
	struct rrerr err;

	if ((sr = calloc(1, sizeof(*sr))) == NULL) {
		rrerr_set(&err, RRERR_INTERNAL, NULL, "out of memory");
		httpd_reply_error(req, &err);
		return NULL;
	}
	sr->req = req;
	sr->e = e;
	snprintf(sr->name, sizeof(sr->name), "%s", name);
	return sr;
}

static void
metrics_done(void *arg, const struct collect_snapshot *snap)
{
	struct stats_req *sr = arg;
	struct rrerr err;
	size_t len;
	char *text;

	if ((text = metrics_render(sr->e, snap, &len)) == NULL) {
		rrerr_set(&err, RRERR_INTERNAL, NULL, "out of memory");
		httpd_reply_error(sr->req, &err);
	} else
		httpd_reply_text(sr->req, 200, METRICS_CONTENT_TYPE, text, len);
	free(sr);
}

/* engine_foreach(): the latest start of a domain that runs. */
static void
newest_start(void *arg, const struct instance *inst)
{
	int64_t *since = arg;

	if (!instance_state_final(inst->state) && inst->launched &&
	    !inst->domain_gone && inst->started_ms > *since)
		*since = inst->started_ms;
}

void
routes_get_metrics(struct httpd_req *req, void *ctx)
{
	struct routes_ctx *rc = ctx;
	struct stats_req *sr;
	int64_t since = 0;

	if (no_query(req) == -1)
		return;
	/* Every guest that runs now is in it, even one a moment old. */
	engine_foreach(rc->engine, newest_start, &since)
		;
	if ((sr = new_req(req, rc->engine, "")) != NULL)
		collect_get(engine_collector(rc->engine), since, metrics_done,
		    sr);
}

struct find_arg {
	const char *name;
	const struct instance *inst;
};

static void
find_one(void *arg, const struct instance *inst)
{
	struct find_arg *fa = arg;

	if (strcmp(inst->name, fa->name) == 0)
		fa->inst = inst;
}

static const struct instance *
find(struct engine *e, const char *name)
{
	struct find_arg fa = { name, NULL };

	engine_foreach(e, find_one, &fa)
		;
	return fa.inst;
}

/* Whether inst has a domain that runs (paused counts); else err is 409. */
static bool
has_domain(const struct instance *inst, struct rrerr *err)
{
	if (!instance_state_final(inst->state) && inst->launched &&
	    !inst->domain_gone)
		return true;
	rrerr_set(err, RRERR_CONFLICT, "name",
	    "name: %s is %s: it has no domain to read counters of", inst->name,
	    instance_state_name(inst->state));
	return false;
}

/* A counter, or null when the backend could not read it (new). */
static json_t *
counter(uint64_t v)
{
	return v == BACKEND_STATS_NONE ? json_null() :
					 json_integer((json_int_t)v);
}

/* An RFC 3339 UTC time with milliseconds (new). */
static json_t *
time_json(int64_t ms)
{
	char buf[64];
	struct tm tm;
	time_t t = (time_t)(ms / 1000);
	size_t n;

	gmtime_r(&t, &tm);
	n = strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf + n, sizeof(buf) - n, ".%03dZ", (int)(ms % 1000));
	return json_string(buf);
}

static json_t *
stats_json(const struct instance *inst, const struct backend_stats *st,
    int64_t time_ms)
{
	return json_pack("{s:s,s:s,s:s,s:I,s:o,s:I,s:I,s:o,s:o,s:o,"
			 "s:{s:o,s:o,s:o,s:o},s:{s:o,s:o,s:o,s:o}}",
	    "name", inst->name, "platform",
	    spec_platform_name(inst->spec->platform), "state",
	    instance_state_name(inst->state), "generation",
	    (json_int_t)inst->generation, "time", time_json(time_ms), "vcpus",
	    (json_int_t)inst->spec->vcpus, "memory_mib",
	    (json_int_t)inst->spec->memory_mib, "cpu_time_ns",
	    counter(st->cpu_ns), "memory_bytes", counter(st->memory_bytes),
	    "memory_rss_bytes", counter(st->rss_bytes), "block", "read_bytes",
	    counter(st->block_rd_bytes), "read_requests",
	    counter(st->block_rd_reqs), "write_bytes",
	    counter(st->block_wr_bytes), "write_requests",
	    counter(st->block_wr_reqs), "net", "rx_bytes",
	    counter(st->net_rx_bytes), "rx_packets",
	    counter(st->net_rx_packets), "tx_bytes", counter(st->net_tx_bytes),
	    "tx_packets", counter(st->net_tx_packets));
}

static void
stats_done(void *arg, const struct collect_snapshot *snap)
{
	struct stats_req *sr = arg;
	const struct instance *inst;
	const struct backend_stats *st;
	struct rrerr err;
	json_t *body;
	int p;

	/* It may have ended, or gone, while the counters were read. */
	if ((inst = find(sr->e, sr->name)) == NULL) {
		rrerr_set(&err, RRERR_NOT_FOUND, NULL, "no instance named %s",
		    sr->name);
		goto fail;
	}
	if (!has_domain(inst, &err))
		goto fail;
	if (snap == NULL) {
		rrerr_set(&err, RRERR_INTERNAL, NULL, "out of memory");
		goto fail;
	}
	p = (int)inst->spec->platform;
	if ((st = collect_find(snap, inst->domain_name)) == NULL) {
		if (p < SPEC_PLATFORMS_LAUNCHED && !snap->ok[p])
			rrerr_set(&err, snap->err[p].code, NULL, "%s: %s",
			    inst->name, snap->err[p].message);
		else
			rrerr_set(&err, RRERR_CONFLICT, "name",
			    "name: the "
			    "hypervisor shows no running domain of %s",
			    inst->name);
		goto fail;
	}
	if ((body = stats_json(inst, st, snap->time_ms)) == NULL) {
		rrerr_set(&err, RRERR_INTERNAL, NULL, "out of memory");
		goto fail;
	}
	httpd_reply_json(sr->req, 200, body);
	free(sr);
	return;
fail:
	httpd_reply_error(sr->req, &err);
	free(sr);
}

void
routes_get_stats(struct httpd_req *req, void *ctx)
{
	struct routes_ctx *rc = ctx;
	const char *name = httpd_req_param(req, "name");
	const struct instance *inst;
	struct stats_req *sr;
	struct rrerr err;

	if (no_query(req) == -1)
		return;
	if ((inst = find(rc->engine, name)) == NULL) {
		rrerr_set(&err, RRERR_NOT_FOUND, NULL, "no instance named %s",
		    name);
		httpd_reply_error(req, &err);
		return;
	}
	if (!has_domain(inst, &err)) {
		httpd_reply_error(req, &err);
		return;
	}
	if ((sr = new_req(req, rc->engine, inst->name)) == NULL)
		return;
	/* A collection that began before this domain started misses it. */
	collect_get(engine_collector(rc->engine), inst->started_ms, stats_done,
	    sr);
}
