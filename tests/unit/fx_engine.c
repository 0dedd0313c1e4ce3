/*
 * fx_engine: the engine harness of the unit tests (fx_engine.h).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fake.h"
#include "fx_engine.h"

#define FX_WAIT_MS 5000

uv_loop_t loop;
struct engine *eng;
struct spec_policy policy;
unsigned int fx_wait_ms = FX_WAIT_MS;
unsigned int conf_boot_timeout = 60;
bool fx_boot_id;
const struct backend_ops *fx_kvm_ops;

static const char *image_dirs[2];
static char *image_dir;

const struct fx_node fx_engine_tree[] = {
	{ 'd', "images", NULL },
	{ 'f', "images/app", "kernel" },
	{ 'd', "state", NULL },
	{ 'd', "logs", NULL },
	{ 0, NULL, NULL },
};

void
on_reply(void *arg, enum engine_outcome outcome, json_t *body,
    const struct rrerr *err)
{
	struct result *r = arg;

	r->done = true;
	r->outcome = outcome;
	r->body = body;
	r->failed = err != NULL;
	if (err != NULL)
		r->err = *err;
}

static void
on_timeout(uv_timer_t *t)
{
	*(bool *)t->data = true;
}

void
run_until(bool (*pred)(void *), void *arg, const char *what)
{
	uv_timer_t t;
	bool expired = false;

	uv_timer_init(&loop, &t);
	t.data = &expired;
	uv_timer_start(&t, on_timeout, fx_wait_ms, 0);
	while (!pred(arg) && !expired)
		uv_run(&loop, UV_RUN_ONCE);
	uv_close((uv_handle_t *)&t, NULL);
	uv_run(&loop, UV_RUN_NOWAIT);
	if (!pred(arg))
		fail_msg("timed out waiting for %s", what);
}

bool
replied(void *arg)
{
	return ((struct result *)arg)->done;
}

void
run_for(unsigned int ms)
{
	uv_timer_t t;
	bool expired = false;

	uv_timer_init(&loop, &t);
	t.data = &expired;
	uv_timer_start(&t, on_timeout, ms, 0);
	while (!expired)
		uv_run(&loop, UV_RUN_ONCE);
	uv_close((uv_handle_t *)&t, NULL);
	uv_run(&loop, UV_RUN_NOWAIT);
}

bool
fx_in_state(void *arg)
{
	struct fx_want_state *w = arg;
	struct rrerr err;
	json_t *v;
	bool ok;

	if ((v = engine_get(eng, w->name, &err)) == NULL)
		return false;
	ok = strcmp(json_string_value(json_object_get(v, "state")), w->state) ==
	    0;
	json_decref(v);
	return ok;
}

const char *
fx_domain_of(const char *name)
{
	static char buf[BACKEND_DOMAIN_NAME_MAX];
	struct rrerr err;
	json_t *v = engine_get(eng, name, &err);

	assert_non_null(v);
	snprintf(buf, sizeof(buf), "%s",
	    json_string_value(json_object_get(v, "domain")));
	json_decref(v);
	return buf;
}

void
fx_engine_config(struct engine_config *cfg, uv_loop_t *l, struct spec_policy *p)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->loop = l;
	cfg->state_dir = fx_path("state");
	cfg->log_dir = fx_path("logs");
	cfg->policy = p;
	cfg->ops[SPEC_PLATFORM_KVM] = fx_kvm_ops != NULL ? fx_kvm_ops :
							   &backend_fake_ops;
	cfg->backend.accel = SPEC_ACCEL_TCG;
	cfg->max_instances = 8;
	cfg->stop_timeout_s = 1;
	cfg->boot_timeout_s = 60;
}

void
open_engine(void)
{
	struct engine_config cfg;
	struct rrerr err;

	fx_engine_config(&cfg, &loop, &policy);
	cfg.boot_timeout_s = conf_boot_timeout;
	if (fx_boot_id)
		cfg.boot_id_file = fx_path("boot_id");
	eng = engine_open(&cfg, &err);
	if (eng == NULL)
		fail_msg("engine_open: %s", err.message);
	/* Let the first list (reconciliation) run. */
	uv_run(&loop, UV_RUN_NOWAIT);
	usleep(20000);
	uv_run(&loop, UV_RUN_NOWAIT);
}

void
close_engine(void)
{
	engine_quiesce(eng);
	uv_run(&loop, UV_RUN_DEFAULT);
	engine_close(eng);
	eng = NULL;
}

int
fx_engine_setup(const struct fx_node *extra)
{
	if (fx_build(fx_engine_tree) == -1)
		return -1;
	for (; extra != NULL && extra->kind != 0; extra++)
		if (fx_make(extra) == -1)
			return -1;
	image_dir = strdup(fx_path("images"));
	image_dirs[0] = image_dir;
	image_dirs[1] = NULL;
	memset(&policy, 0, sizeof(policy));
	policy.image_dirs = image_dirs;
	fake_reset();
	conf_boot_timeout = 60;
	uv_loop_init(&loop);
	open_engine();
	return 0;
}

int
fx_engine_teardown(void)
{
	if (eng != NULL)
		close_engine();
	uv_loop_close(&loop);
	free(image_dir);
	image_dir = NULL;
	return fx_remove();
}

struct result
fx_launch(const char *text)
{
	struct result r;
	struct spec *spec;
	struct rrerr err;

	memset(&r, 0, sizeof(r));
	if (spec_parse(text, strlen(text), &policy, &spec, &err) == -1)
		fail_msg("spec_parse: %s", err.message);
	engine_launch(eng, spec, on_reply, &r);
	run_until(replied, &r, "the launch reply");
	return r;
}
