# fuzz/fuzz.mk: the libFuzzer targets and `make fuzz` (see fuzz/README.md).
# A fragment for the top-level Makefile, included after BUILD, PKG_CFLAGS
# and PYTHON are defined.
#
#   FUZZ_BINS        $(BUILD)/fuzz/fuzz_spec, $(BUILD)/fuzz/fuzz_guestconf
#   fuzz             each target for FUZZ_SECONDS (default 60)
#   fuzz-short       each for FUZZ_SHORT_SECONDS (default 5); does nothing
#                    without clang's libFuzzer runtime (libclang-rt-14-dev)
#
# Built with clang -fsanitize=fuzzer,address,undefined from the sources
# themselves (not from librumprund.a, which gcc builds without coverage).
# The corpus starts from tests/golden/*.json; what the fuzzer adds is kept
# in $(BUILD)/fuzz/corpus-NAME/ between runs (never in the source tree).

FUZZ_CC ?= clang
FUZZ_SECONDS ?= 60
FUZZ_SHORT_SECONDS ?= 5
FUZZ_DIR := $(BUILD)/fuzz
FUZZ_BINS := $(FUZZ_DIR)/fuzz_spec $(FUZZ_DIR)/fuzz_guestconf
FUZZ_FLAGS = -g -O1 -fsanitize=fuzzer,address,undefined \
	-fno-sanitize-recover=undefined -fno-omit-frame-pointer \
	-std=gnu11 -D_GNU_SOURCE -Idaemon $(shell pkg-config --cflags jansson)
FUZZ_LIBS = $(shell pkg-config --libs jansson gnutls)
FUZZ_COMMON := daemon/spec.c daemon/paths.c daemon/rrerr.c daemon/sbuf.c \
	daemon/imgstore.c daemon/fsutil.c daemon/log.c daemon/restart.c
FUZZ_HAVE = $(shell printf 'int LLVMFuzzerTestOneInput(const char *d, long n)\
	{ (void)d; (void)n; return 0; }\n' | $(FUZZ_CC) -x c - \
	-fsanitize=fuzzer -o /dev/null >/dev/null 2>&1 && echo yes)

$(FUZZ_DIR)/fuzz_spec: fuzz/fuzz_spec.c fuzz/fuzzenv.h $(FUZZ_COMMON)
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_FLAGS) -o $@ fuzz/fuzz_spec.c $(FUZZ_COMMON) \
		$(FUZZ_LIBS)

$(FUZZ_DIR)/fuzz_guestconf: fuzz/fuzz_guestconf.c fuzz/fuzzenv.h \
    $(FUZZ_COMMON) daemon/guestconf.c tests/guest/config.c
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_FLAGS) -o $@ fuzz/fuzz_guestconf.c \
		daemon/guestconf.c tests/guest/config.c $(FUZZ_COMMON) \
		$(FUZZ_LIBS)

.PHONY: fuzz fuzz-short
fuzz: $(FUZZ_BINS)
	@fuzz/run.sh $(FUZZ_DIR) $(FUZZ_SECONDS)

fuzz-short:
	@if [ "$(FUZZ_HAVE)" = yes ]; then \
		$(MAKE) --no-print-directory $(FUZZ_BINS) && \
		fuzz/run.sh $(FUZZ_DIR) $(FUZZ_SHORT_SECONDS); \
	else \
		echo "fuzz-short: no libFuzzer runtime ($(FUZZ_CC)" \
		    "-fsanitize=fuzzer; Debian: libclang-rt-14-dev): skipped"; \
	fi
