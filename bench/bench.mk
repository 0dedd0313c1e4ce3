# bench/bench.mk: the benchmark programs and `make bench` (see
# bench/README.md).  A fragment for the top-level Makefile, included after
# BUILD, LIB, ALL_CFLAGS, PKG_LIBS and GUEST_ELF are defined.
#
#   BENCH_BINS     $(BUILD)/bench/direct_libvirt, uload, apibench, bare_httpd
#   bench          runs bench/bench.py (BENCH_ARGS=... passes options,
#                  e.g. BENCH_ARGS=--quick); never part of `make test`

BENCH_BINS := $(BUILD)/bench/direct_libvirt $(BUILD)/bench/uload \
	$(BUILD)/bench/apibench $(BUILD)/bench/bare_httpd
BENCH_LIB_OBJ := $(BUILD)/bench/benchlib.o

$(BUILD)/bench/%.o: bench/%.c bench/benchlib.h
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -Ibench -c -o $@ $<

$(BUILD)/bench/direct_libvirt: $(BUILD)/bench/direct_libvirt.o $(BENCH_LIB_OBJ) $(LIB)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(PKG_LIBS) -lpthread

$(BUILD)/bench/apibench: $(BUILD)/bench/apibench.o $(BENCH_LIB_OBJ)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(PKG_LIBS) -lpthread

$(BUILD)/bench/bare_httpd: $(BUILD)/bench/bare_httpd.o $(BENCH_LIB_OBJ)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(PKG_LIBS) -lpthread

$(BUILD)/bench/uload: $(BUILD)/bench/uload.o $(BENCH_LIB_OBJ)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ -lpthread

.PHONY: bench
bench: all $(GUEST_ELF) $(BENCH_BINS)
	$(PYTHON) bench/bench.py --build $(BUILD) $(BENCH_ARGS)
