/*
 * routes: the REST API of rumprund, as listed in openapi.yaml.
 *
 * Each route is one handler that turns an HTTP request into an engine call
 * and the engine's answer into JSON.  Handlers never talk to a backend.
 */
#ifndef ROUTES_H
#define ROUTES_H

#include <stddef.h>

#include "engine.h"
#include "httpd.h"
#include "spec.h"

/* The API version: every path starts with /v1/ (GET /v1/info says it). */
#define ROUTES_API_VERSION "v1"

struct imgstore;

struct routes_ctx {
	struct engine *engine;
	const struct spec_policy *policy;
	struct imgstore *store; /* NULL: no image store */
};

/* routes_metrics.c: GET /metrics and GET /v1/unikernels/{name}/stats. */
void routes_get_metrics(struct httpd_req *req, void *ctx);
void routes_get_stats(struct httpd_req *req, void *ctx);

extern const struct httpd_route routes_table[];
extern const size_t routes_count;
/* The routes whose bodies stream (PUT of the image and volume store). */
extern const struct httpd_upload_route routes_uploads[];
extern const size_t routes_uploads_count;

#endif
