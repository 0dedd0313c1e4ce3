/*
 * Tests of the restart policy decisions (daemon/restart.c) and of the
 * launch request's "restart" object (daemon/spec.c).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "restart.h"
#include "spec.h"

static struct restart_spec
policy(enum restart_policy p, unsigned int max, unsigned int initial,
    unsigned int cap, unsigned int reset)
{
	struct restart_spec rs = { p, max, initial, cap, reset };

	return rs;
}

static const struct restart_end fail_end = { true, false, 1000 };
static const struct restart_end ok_end = { false, false, 1000 };
static const struct restart_end stop_end = { false, true, 1000 };

static void
test_names(void **state)
{
	enum restart_policy p;

	(void)state;
	assert_int_equal(restart_policy_parse("no", &p), 0);
	assert_int_equal(p, RESTART_NO);
	assert_int_equal(restart_policy_parse("on-failure", &p), 0);
	assert_int_equal(p, RESTART_ON_FAILURE);
	assert_int_equal(restart_policy_parse("always", &p), 0);
	assert_int_equal(p, RESTART_ALWAYS);
	assert_int_equal(restart_policy_parse("unless-stopped", &p), 0);
	assert_int_equal(p, RESTART_UNLESS_STOPPED);
	assert_int_equal(restart_policy_parse("on_failure", &p), -1);
	assert_int_equal(restart_policy_parse("", &p), -1);
	assert_string_equal(restart_policy_name(RESTART_UNLESS_STOPPED),
	    "unless-stopped");
}

static void
test_no(void **state)
{
	struct restart_spec rs = policy(RESTART_NO, 0, 1, 300, 600);
	unsigned int attempt = 0;
	int64_t delay = -1;
	const char *why;

	(void)state;
	assert_false(restart_decide(&rs, &fail_end, &attempt, &delay, &why));
	assert_non_null(why);
	assert_int_equal(attempt, 0);
}

/* on-failure: restarts a failure, not an exit 0, never an API stop. */
static void
test_on_failure(void **state)
{
	struct restart_spec rs = policy(RESTART_ON_FAILURE, 0, 1, 300, 600);
	struct restart_end stopped_failing = { true, true, 1000 };
	unsigned int attempt = 0;
	int64_t delay = -1;
	const char *why;

	(void)state;
	assert_false(restart_decide(&rs, &ok_end, &attempt, &delay, &why));
	assert_non_null(strstr(why, "status 0"));
	assert_false(
	    restart_decide(&rs, &stopped_failing, &attempt, &delay, &why));
	assert_non_null(strstr(why, "API"));
	assert_int_equal(attempt, 0);
	assert_true(restart_decide(&rs, &fail_end, &attempt, &delay, &why));
	assert_int_equal(attempt, 1);
	assert_int_equal(delay, 1000);
}

/* always: an exit 0 too; an API stop not. */
static void
test_always(void **state)
{
	struct restart_spec rs = policy(RESTART_ALWAYS, 0, 2, 300, 600);
	unsigned int attempt = 0;
	int64_t delay = -1;
	const char *why;

	(void)state;
	assert_true(restart_decide(&rs, &ok_end, &attempt, &delay, &why));
	assert_int_equal(delay, 2000);
	assert_false(restart_decide(&rs, &stop_end, &attempt, &delay, &why));
	rs.policy = RESTART_UNLESS_STOPPED;
	assert_true(restart_decide(&rs, &fail_end, &attempt, &delay, &why));
	assert_false(restart_decide(&rs, &stop_end, &attempt, &delay, &why));
}

/* The delay doubles from initial to max; max_retries ends the loop. */
static void
test_backoff_and_max_retries(void **state)
{
	struct restart_spec rs = policy(RESTART_ON_FAILURE, 5, 1, 10, 600);
	static const int64_t want[] = { 1000, 2000, 4000, 8000, 10000 };
	unsigned int attempt = 0, i;
	int64_t delay;
	const char *why;

	(void)state;
	for (i = 0; i < 5; i++) {
		assert_true(
		    restart_decide(&rs, &fail_end, &attempt, &delay, &why));
		assert_int_equal(attempt, i + 1);
		assert_int_equal(delay, want[i]);
	}
	assert_false(restart_decide(&rs, &fail_end, &attempt, &delay, &why));
	assert_non_null(strstr(why, "max_retries"));
	assert_int_equal(attempt, 5);
	/* No overflow however long the loop. */
	assert_int_equal(restart_delay_ms(&rs, 4000000000u), 10000);
	rs.backoff_initial_s = 0;
	assert_int_equal(restart_delay_ms(&rs, 7), 0);
}

/* A run of reset_after_s or more starts a new crash loop. */
static void
test_reset_after(void **state)
{
	struct restart_spec rs = policy(RESTART_ALWAYS, 3, 1, 60, 10);
	struct restart_end long_run = { true, false, 10000 };
	struct restart_end short_run = { true, false, 9999 };
	struct restart_end never_ran = { true, false, -1 };
	unsigned int attempt = 3;
	int64_t delay;
	const char *why;

	(void)state;
	assert_false(restart_decide(&rs, &short_run, &attempt, &delay, &why));
	assert_false(restart_decide(&rs, &never_ran, &attempt, &delay, &why));
	assert_true(restart_decide(&rs, &long_run, &attempt, &delay, &why));
	assert_int_equal(attempt, 1);
	assert_int_equal(delay, 1000);
}

static void
test_on_reboot(void **state)
{
	struct restart_spec rs = policy(RESTART_NO, 0, 1, 300, 600);

	(void)state;
	assert_false(restart_on_reboot(&rs, true, false));
	rs.policy = RESTART_ALWAYS;
	assert_true(restart_on_reboot(&rs, false, true));
	assert_true(restart_on_reboot(&rs, false, false));
	rs.policy = RESTART_UNLESS_STOPPED;
	assert_false(restart_on_reboot(&rs, false, true));
	assert_true(restart_on_reboot(&rs, false, false));
	assert_true(restart_on_reboot(&rs, true, false));
	rs.policy = RESTART_ON_FAILURE;
	assert_true(restart_on_reboot(&rs, true, false));
	assert_false(restart_on_reboot(&rs, false, false));
	assert_false(restart_on_reboot(&rs, true, true));
}

/* The request: parse; bad values name the field; canonical form. */
static const char *image_dirs[2];
static struct spec_policy pol;

static int
parse(const char *restart, struct spec **out, struct rrerr *err)
{
	char text[1024];

	memset(&pol, 0, sizeof(pol));
	pol.image_dirs = image_dirs;
	pol.max_memory_mib = 4096;
	pol.max_vcpus = 8;
	snprintf(text, sizeof(text), "{\"name\":\"a\",\"image\":\"/bin/sh\"%s}",
	    restart);
	return spec_parse(text, strlen(text), &pol, out, err);
}

static void
bad(const char *restart, const char *field, const char *words)
{
	struct spec *spec = NULL;
	struct rrerr err;

	assert_int_equal(parse(restart, &spec, &err), -1);
	assert_null(spec);
	assert_int_equal(err.code, RRERR_INVALID);
	assert_string_equal(err.field, field);
	if (strstr(err.message, words) == NULL)
		fail_msg("\"%s\" lacks \"%s\"", err.message, words);
}

static void
test_spec(void **state)
{
	struct spec *spec = NULL, *back = NULL;
	struct rrerr err;
	json_t *j;

	(void)state;
	image_dirs[0] = "/bin";
	assert_int_equal(parse("", &spec, &err), 0);
	assert_int_equal(spec->restart.policy, RESTART_NO);
	j = spec_to_json(spec);
	assert_null(json_object_get(j, "restart"));
	json_decref(j);
	spec_free(spec);

	assert_int_equal(
	    parse(
		",\"restart\":{\"policy\":\"on-failure\","
		"\"max_retries\":3,\"backoff_initial_s\":2,\"backoff_max_s\":8}",
		&spec, &err),
	    0);
	assert_int_equal(spec->restart.policy, RESTART_ON_FAILURE);
	assert_int_equal(spec->restart.max_retries, 3);
	assert_int_equal(spec->restart.backoff_initial_s, 2);
	assert_int_equal(spec->restart.backoff_max_s, 8);
	assert_int_equal(spec->restart.reset_after_s, RESTART_RESET_AFTER_S);
	j = spec_to_json(spec);
	assert_string_equal(json_string_value(
				json_object_get(json_object_get(j, "restart"),
				    "policy")),
	    "on-failure");
	assert_int_equal(spec_from_json(j, &pol, &back, &err), 0);
	assert_true(spec_equal(spec, back));
	assert_int_equal(back->restart.backoff_max_s, 8);
	json_decref(j);
	spec_free(back);
	spec_free(spec);

	bad(",\"restart\":{}", "restart.policy", "required");
	bad(",\"restart\":{\"policy\":\"sometimes\"}", "restart.policy",
	    "on-failure");
	bad(",\"restart\":{\"policy\":\"always\",\"max_retries\":-1}",
	    "restart.max_retries", "between");
	bad(",\"restart\":{\"policy\":\"always\",\"backoff_initial_s\":"
	    "86401}",
	    "restart.backoff_initial_s", "between");
	bad(",\"restart\":{\"policy\":\"always\",\"backoff_initial_s\":9,"
	    "\"backoff_max_s\":8}",
	    "restart.backoff_max_s", "less");
	bad(",\"restart\":{\"policy\":\"no\",\"max_retries\":2}",
	    "restart.max_retries", "other than");
	bad(",\"restart\":{\"policy\":\"always\",\"delay\":2}", "restart.delay",
	    "unknown");
	bad(",\"restart\":\"always\"", "restart", "object");
	bad(",\"auto_remove\":true,\"restart\":{\"policy\":\"always\"}",
	    "restart.policy", "auto_remove");
	bad(",\"paused\":true,\"restart\":{\"policy\":\"on-failure\"}",
	    "restart.policy", "paused");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_no),
		cmocka_unit_test(test_on_failure),
		cmocka_unit_test(test_always),
		cmocka_unit_test(test_backoff_and_max_retries),
		cmocka_unit_test(test_reset_after),
		cmocka_unit_test(test_on_reboot),
		cmocka_unit_test(test_spec),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
