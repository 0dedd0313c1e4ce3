/*
 * fuzz_spec: libFuzzer target for the launch request parser and validator
 * (daemon/spec.c), the code every POST /v1/unikernels body goes through.
 *
 * For every input (with "@IMAGES@"/"@VOLUMES@" standing for the scratch
 * tree of fuzzenv.h):
 * - spec_parse() either accepts it or refuses it with one of the error
 *   codes spec.h documents and a non-empty message (ASan and UBSan watch
 *   everything it does);
 * - an accepted request round-trips: its canonical form (spec_to_json) is
 *   serialized, parsed again under the same policy and must give a spec
 *   that spec_equal()s the first and has the same canonical form; the
 *   canonical form read back as a trusted record (spec_from_json with
 *   policy.trusted, as rumprund reloads its records) is equal too.
 */
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "fuzzenv.h"
#include "rrerr.h"
#include "spec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_refusal(const struct rrerr *err)
{
	FZ_CHECK(err->code == RRERR_TOO_LARGE ||
		err->code == RRERR_BAD_REQUEST || err->code == RRERR_INVALID ||
		err->code == RRERR_FORBIDDEN,
	    "code %d: %s", err->code, err->message);
	FZ_CHECK(err->message[0] != '\0', "empty message (code %d)", err->code);
	FZ_CHECK(memchr(err->message, '\0', sizeof(err->message)) != NULL,
	    "message not terminated");
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct spec_policy trusted;
	struct spec *a = NULL, *b = NULL, *c = NULL;
	char *text, *canon;
	json_t *ja, *jb;
	struct rrerr err;
	size_t len;

	fz_init();
	text = fz_expand(data, size, &len);
	if (spec_parse(text, len, &fz_policy, &a, &err) == -1) {
		FZ_CHECK(a == NULL, "refused but *out set");
		check_refusal(&err);
		free(text);
		return 0;
	}
	FZ_CHECK(a != NULL && a->name != NULL && a->image != NULL &&
		a->argc >= 1,
	    "accepted an incomplete spec");
	ja = spec_to_json(a);
	FZ_CHECK(ja != NULL, "no canonical form for %s", text);
	canon = json_dumps(ja, JSON_COMPACT);
	FZ_CHECK(canon != NULL, "canonical form does not serialize");
	if (spec_parse(canon, strlen(canon), &fz_policy, &b, &err) == -1)
		FZ_CHECK(0, "the canonical form %s of %s is refused: %s", canon,
		    text, err.message);
	FZ_CHECK(spec_equal(a, b), "round trip differs: %s", canon);
	jb = spec_to_json(b);
	FZ_CHECK(json_equal(ja, jb), "canonical forms differ: %s", canon);
	trusted = fz_policy;
	trusted.trusted = true;
	if (spec_from_json(ja, &trusted, &c, &err) == -1)
		FZ_CHECK(0, "the canonical form %s is refused as a record: %s",
		    canon, err.message);
	FZ_CHECK(spec_equal(a, c), "record round trip differs: %s", canon);
	json_decref(jb);
	json_decref(ja);
	free(canon);
	spec_free(a);
	spec_free(b);
	spec_free(c);
	free(text);
	return 0;
}
