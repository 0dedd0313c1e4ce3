/*
 * Tests of the backend interface's own code (daemon/backend.c): the one
 * format of a domain name and the one test of it.  (The format's exact
 * text and length are pinned in test_kvm_xml.c.)
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "backend.h"

#define OWNER	"3f0c2a1e-9b7d-4c55-8e21-0d6f4a7b9c10"
#define OTHER	"3f0c2a1f-9b7d-4c55-8e21-0d6f4a7b9c10"

/*
 * Every name backend_domain_name() gives passes backend_domain_has_prefix()
 * with its owner's prefix and with BACKEND_DOMAIN_PREFIX, never with the
 * prefix of an owner whose first 8 characters differ; and the parts read
 * back from the name are the parts it was made of.
 */
static void
test_name_round_trip(void **state)
{
	static const char *instances[] = {
		"a", "web-1", "x-1-2", "0", "db.primary_2",
	};
	static const unsigned int gens[] = { 1, 2, 10, 4294967295u };
	static const uint32_t tags[] = { 0, 0xa, 0x5d2a04c7, 0xffffffffu };
	char name[BACKEND_DOMAIN_NAME_MAX], mine[BACKEND_DOMAIN_NAME_MAX];
	char theirs[BACKEND_DOMAIN_NAME_MAX], inst[BACKEND_DOMAIN_NAME_MAX];
	char want[BACKEND_DOMAIN_NAME_MAX];
	size_t i, g, t, plen, nlen;
	unsigned int gen;
	uint32_t tag;
	int used;

	(void)state;
	backend_domain_prefix(OWNER, mine, sizeof(mine));
	backend_domain_prefix(OTHER, theirs, sizeof(theirs));
	assert_string_equal(mine, "rr-3f0c2a1e-");
	assert_string_not_equal(mine, theirs);
	plen = strlen(mine);
	for (i = 0; i < sizeof(instances) / sizeof(instances[0]); i++)
	for (g = 0; g < sizeof(gens) / sizeof(gens[0]); g++)
	for (t = 0; t < sizeof(tags) / sizeof(tags[0]); t++) {
		backend_domain_name(OWNER, instances[i], gens[g], tags[t],
		    name, sizeof(name));
		assert_true(backend_domain_has_prefix(name, mine));
		assert_true(backend_domain_has_prefix(name,
		    BACKEND_DOMAIN_PREFIX));
		assert_false(backend_domain_has_prefix(name, theirs));
		/* Read back from the right: "-<generation>-<8 hex>". */
		nlen = strlen(name);
		assert_true(nlen > plen + 11);
		assert_int_equal(sscanf(name + nlen - 8, "%8x%n", &tag, &used),
		    1);
		assert_int_equal(used, 8);
		assert_int_equal(tag, tags[t]);
		assert_int_equal(name[nlen - 9], '-');
		snprintf(inst, sizeof(inst), "%.*s", (int)(nlen - 9 - plen),
		    name + plen);
		snprintf(want, sizeof(want), "%s-%u", instances[i], gens[g]);
		assert_string_equal(inst, want);
		assert_int_equal(sscanf(strrchr(inst, '-') + 1, "%u", &gen),
		    1);
		assert_int_equal(gen, gens[g]);
	}
}

/* The test of a name: a plain prefix match; NULL is no name. */
static void
test_has_prefix(void **state)
{
	(void)state;
	assert_false(backend_domain_has_prefix(NULL, "rr-"));
	assert_false(backend_domain_has_prefix("", "rr-"));
	assert_false(backend_domain_has_prefix("rr", "rr-"));
	assert_false(backend_domain_has_prefix("xr-3f0c2a1e-a-1-00000000",
	    "rr-"));
	assert_true(backend_domain_has_prefix("rr-", "rr-"));
	assert_true(backend_domain_has_prefix("rr-3f0c2a1e-a-1-00000000",
	    "rr-3f0c2a1e-"));
	assert_false(backend_domain_has_prefix("rr-3f0c2a1e-a-1-00000000",
	    "rr-3f0c2a1f-"));
	/* A name of an owner shorter than 8 characters. */
	assert_true(backend_domain_has_prefix("rr-ab-x-12-0000000a",
	    "rr-ab-"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_name_round_trip),
		cmocka_unit_test(test_has_prefix),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
