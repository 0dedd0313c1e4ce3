# rumprund: build, test and install.
#
#   make            rumprund (and, once it exists, rrctl)
#   make test       install missing Debian packages, build, run every test
#   make demo       install missing Debian packages, build, run the demo
#   make lint       the include walls (scripts/check-includes.sh), cppcheck
#                   and clang-tidy on our C sources (make -j2 lint: two
#                   files at a time; again: only what changed) and
#                   format-check; part of make check
#   make format     clang-format (.clang-format) rewrites our C in place;
#                   make format-check only shows what it would change
#   make openapi-lint  @redocly/cli (pinned, from npm) on openapi.yaml;
#                   part of make check
#   make unit       the unit tests (tests/unit/): no root, no libvirtd
#   make integration  the KVM backend against a real libvirtd and QEMU
#                   (tests/integration/; root; part of make check)
#   make asan       build and run the unit tests with ASan and UBSan
#   make bench      benchmarks, side by side with libvirt and QEMU (bench/)
#   make stress     stress and fault tests (tests/stress/); a short form
#                   runs in make check
#   make fuzz       libFuzzer targets, 60 s each (fuzz/); 5 s in make check
#   make xen-test   the Xen tests: a real Xen 4.17 nested under QEMU, its
#                   dom0 built once into /var/cache/rumprund-xen (tests/xen/)
#   make install    DESTDIR=... PREFIX=... (default /usr/local): binaries,
#                   man pages, systemd units, sysusers.d and tmpfiles.d
#                   snippets, and rumprund.conf unless one is there
#
# Library flags come from pkg-config.  They are expanded lazily (=, not :=)
# so that "make test" on a bare machine can first install the packages.

PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
SBINDIR ?= $(PREFIX)/sbin
MANDIR ?= $(PREFIX)/share/man
BASHCOMPDIR ?= $(PREFIX)/share/bash-completion/completions
SYSCONFDIR ?= /etc
# systemd reads units, sysusers.d and tmpfiles.d under /usr/local/lib too.
SYSTEMDUNITDIR ?= $(PREFIX)/lib/systemd/system
SYSUSERSDIR ?= $(PREFIX)/lib/sysusers.d
TMPFILESDIR ?= $(PREFIX)/lib/tmpfiles.d
BUILD ?= build
CC ?= cc
WERROR ?= -Werror

PKGS := jansson libmicrohttpd libuv libvirt gnutls libxml-2.0
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS))
PKG_LIBS = $(shell pkg-config --libs $(PKGS))

# The Xen backend (backends/xen*.c) is built when libxl's development files
# are installed (Debian: libxen-dev, which scripts/deps.sh installs); without
# them those files compile to nothing and rumprund reports Xen as not built
# in.  Lazy for the same reason as the flags above.
XEN_PKGS := xenlight xenstore
HAVE_XEN = $(shell pkg-config --exists $(XEN_PKGS) xlutil && echo yes)
XEN_CFLAGS = $(if $(HAVE_XEN),-DHAVE_XEN $(shell pkg-config --cflags $(XEN_PKGS)))
XEN_LIBS = $(if $(HAVE_XEN),$(shell pkg-config --libs $(XEN_PKGS)))
# test_xen_cfg also parses disks with xl's own parser (libxlutil).
XEN_TEST_LIBS = $(if $(HAVE_XEN),$(shell pkg-config --libs xlutil))

WARN := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
	-Wformat=2 -Wpointer-arith -Wcast-qual -Wundef $(WERROR)
CFLAGS ?= -O2 -g
ALL_CFLAGS = -std=gnu11 -D_GNU_SOURCE $(WARN) $(CFLAGS) $(SAN) $(INCLUDES) $(PKG_CFLAGS) $(XEN_CFLAGS)
ALL_LDFLAGS = $(LDFLAGS) $(SAN)

# The include graph has no cycle (ARCHITECTURE.md): the core (daemon/)
# includes nothing of api/ or backends/, which include only the core and
# their own headers; main/ (rumprund's main()) is the one place that puts
# them together.  Each directory is compiled with only the include paths it
# may use, so an include across those walls does not compile;
# scripts/check-includes.sh (make lint) also checks the headers.  The unit
# tests, fuzz targets, benchmarks and test shims see everything.
INC_ALL := -Idaemon -Iapi -Ibackends -Iclient
INCLUDES = $(INC_ALL)
$(BUILD)/daemon/%.o: INCLUDES = -Idaemon
$(BUILD)/api/%.o: INCLUDES = -Idaemon -Iapi
$(BUILD)/backends/%.o: INCLUDES = -Idaemon -Ibackends
$(BUILD)/client/%.o: INCLUDES = -Idaemon -Iclient
$(BUILD)/main/%.o: INCLUDES = -Idaemon -Iapi -Ibackends

# Everything but main() goes into one static library that the daemon and
# the unit tests link.
LIB_SRCS := $(wildcard daemon/*.c api/*.c backends/*.c)
LIB_OBJS := $(LIB_SRCS:%.c=$(BUILD)/%.o)
LIB := $(BUILD)/librumprund.a

# rrctl: client/main.c plus a library of the rest, for its unit tests.
CLIENT_SRCS := $(filter-out client/main.c,$(wildcard client/*.c))
CLIENT_OBJS := $(CLIENT_SRCS:%.c=$(BUILD)/%.o)
CLIENT_LIB := $(BUILD)/librrctl.a
CLIENT_PKGS := libcurl jansson gnutls

UNIT_SRCS := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/%)
# The unit tests' shared fixtures (tests/unit/*.c but the test_*.c): a
# library that every test program links, taking what it uses.
UNIT_FX_SRCS := $(filter-out $(UNIT_SRCS),$(wildcard tests/unit/*.c))
UNIT_FX_LIB := $(BUILD)/tests/libfixture.a
# Integration tests: cmocka programs against a real libvirtd and QEMU (they
# need root and may restart the libvirtd that scripts/libvirt-up.sh
# started), kept out of tests/unit so that `make unit` needs neither.
INTEG_SRCS := $(wildcard tests/integration/test_*.c)
INTEG_BINS := $(INTEG_SRCS:tests/integration/%.c=$(BUILD)/tests/integration/%)
# An LD_PRELOAD shim of the end-to-end tests (tests/e2e/evdelay.c).
EVDELAY := $(BUILD)/tests/evdelay.so

LINT_SRCS := $(wildcard main/*.c daemon/*.c api/*.c backends/*.c client/*.c)

.PHONY: all deps test check unit integration guest-test e2e xen-test demo lint include-walls \
	format format-check openapi-lint asan install clean
# Keep the objects of the test programs (make would delete them as
# intermediate files and rebuild them every time).
.SECONDARY:

all: $(BUILD)/rumprund $(if $(wildcard client/main.c),$(BUILD)/rrctl)

include tests/guest/guest.mk tests/xen/xen.mk
include bench/bench.mk tests/stress/stress.mk fuzz/fuzz.mk

deps:
	@scripts/deps.sh

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -MMD -MP -c -o $@ $<

$(LIB): $(LIB_OBJS)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/rumprund: $(BUILD)/main/main.o $(LIB)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(PKG_LIBS) $(XEN_LIBS) -lpthread

$(CLIENT_LIB): $(CLIENT_OBJS)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/rrctl: $(BUILD)/client/main.o $(CLIENT_LIB) $(LIB)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(shell pkg-config --libs $(CLIENT_PKGS))

$(UNIT_FX_LIB): $(UNIT_FX_SRCS:%.c=$(BUILD)/%.o)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/tests/%: $(BUILD)/tests/unit/%.o $(UNIT_FX_LIB) $(CLIENT_LIB) $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(PKG_LIBS) $(XEN_LIBS) $(XEN_TEST_LIBS) $(shell pkg-config --libs cmocka libcurl) -lpthread

$(BUILD)/tests/integration/%: $(BUILD)/tests/integration/%.o $(UNIT_FX_LIB) $(LIB)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(PKG_LIBS) $(XEN_LIBS) $(shell pkg-config --libs cmocka) -lpthread

# The README's test command: set-up, then every test (the lint first,
# LINT_JOBS clang-tidy runs at a time).  The unit tests of
# the KVM backend and the end-to-end tests need libvirtd: check starts it
# (scripts/libvirt-up.sh) and stops what it started at the end.
test: deps
	$(MAKE) check

LINT_JOBS ?= 2

# libvirt-down.sh has a line of its own: make -n runs every recipe line
# that names $(MAKE), and a dry run must not stop a libvirtd in use.
check: all $(UNIT_BINS) $(INTEG_BINS) $(GUEST_ELF) $(XENGUEST_ELF)
	@scripts/libvirt-up.sh
	@status=0; \
	$(MAKE) --no-print-directory -j$(LINT_JOBS) lint || status=1; \
	$(MAKE) --no-print-directory unit || status=1; \
	$(MAKE) --no-print-directory integration || status=1; \
	$(MAKE) --no-print-directory guest-test || status=1; \
	$(MAKE) --no-print-directory e2e || status=1; \
	$(MAKE) --no-print-directory xen-test || status=1; \
	$(MAKE) --no-print-directory stress-short || status=1; \
	$(MAKE) --no-print-directory fuzz-short || status=1; \
	$(MAKE) --no-print-directory openapi-lint || status=1; \
	echo $$status >$(BUILD)/check.status
	@scripts/libvirt-down.sh
	@exit $$(cat $(BUILD)/check.status)

# UNIT_JOBS programs at a time, each into its own log under $(BUILD)/unit/,
# shown in order once all have run.  test_engine goes first: it takes two
# thirds of the time, mostly waiting on the engine's real timers (1 s boot
# timeouts, the address poll), so the others run beside it.  The programs
# share nothing (each has its own mkdtemp directory).
UNIT_JOBS ?= 2
UNIT_ORDER = $(filter %/test_engine,$(UNIT_BINS)) \
	$(filter-out %/test_engine,$(UNIT_BINS))

unit: $(UNIT_BINS) $(GUEST_ELF)
	@rm -rf $(BUILD)/unit && mkdir -p $(BUILD)/unit
	@printf '%s\n' $(UNIT_ORDER) | RR_SRCDIR=$(CURDIR) \
		RR_GUEST_ELF=$(GUEST_ELF) xargs -P $(UNIT_JOBS) -I{} sh -c \
		'o=$(BUILD)/unit/$$(basename {}); {} >$$o.log 2>&1; echo $$? >$$o.rc'
	@failed=0; for t in $(UNIT_BINS); do \
		o=$(BUILD)/unit/$$(basename $$t); \
		echo "== $$t"; cat $$o.log; \
		[ "$$(cat $$o.rc)" = 0 ] || { echo "== $$t: FAILED"; failed=1; }; \
	done; exit $$failed

# Needs root and qemu:///system (check starts it); every test is skipped,
# saying why, without them.
integration: $(INTEG_BINS) $(GUEST_ELF)
	@failed=0; for t in $(INTEG_BINS); do \
		echo "== $$t"; \
		RR_SRCDIR=$(CURDIR) RR_GUEST_ELF=$(GUEST_ELF) $$t || failed=1; \
	done; exit $$failed

guest-test: $(GUEST_ELF)
	tests/guest/boot-test.sh $(GUEST_ELF)

# Debian's python3, whatever python3 comes first in PATH (pyenv...).
PYTHON ?= /usr/bin/python3

# The end-to-end tests drive a rumprund built with AddressSanitizer and
# UBSan (in build-asan/), so that every test also checks for memory errors
# and undefined behaviour.  Leaks are not checked there (detect_leaks=0):
# "make asan" runs the unit tests under LeakSanitizer; make test does not.
ASAN_BUILD := build-asan
SAN_FLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer

# The test shim (LD_PRELOAD) that delays libvirt's lifecycle events.
$(EVDELAY): tests/e2e/evdelay.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -shared -fPIC -o $@ $< $(shell pkg-config --libs libvirt) -ldl -lpthread

#
# Two test files at a time (pytest-xdist, E2E_JOBS=1 for one): much of a
# test is waiting (a boot watchdog, a DHCP guest's retries, a backoff, a
# header deadline), and each test has its own rumprund, temp directory and
# domains; a file stays on one worker (--dist loadfile) as its fixed names
# (test networks, bridges) are its own.  The tests marked serial stop
# libvirtd under everybody: they run alone, afterwards.  Measured on this
# 2-core machine: 8.1 min one at a time, 4.6 min two at a time.
E2E_JOBS ?= 2
E2E_ENV = RR_BUILD=$(BUILD) RR_DAEMON=$(ASAN_BUILD)/rumprund \
	ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 \
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

e2e: all $(GUEST_ELF) $(EVDELAY)
	$(MAKE) --no-print-directory BUILD=$(ASAN_BUILD) SAN="$(SAN_FLAGS)" \
		CFLAGS="-O1 -g" $(ASAN_BUILD)/rumprund
	@status=0; \
	$(E2E_ENV) $(PYTHON) -m pytest -q -m "not serial" \
		$(if $(filter-out 1,$(E2E_JOBS)),-n $(E2E_JOBS) --dist loadfile) \
		tests/e2e || status=1; \
	$(E2E_ENV) $(PYTHON) -m pytest -q -m serial tests/e2e || status=1; \
	exit $$status

# The Xen tests (tests/xen/README.md): the same sanitized rumprund, run
# inside the dom0 of a real Xen nested under QEMU TCG (one core).  The
# first run builds the dom0 image (debootstrap, network access, ~90 s) into
# /var/cache/rumprund-xen; a machine that cannot be built or booted fails.
xen-test: all $(XENGUEST_ELF)
	$(MAKE) --no-print-directory BUILD=$(ASAN_BUILD) SAN="$(SAN_FLAGS)" \
		CFLAGS="-O1 -g" $(ASAN_BUILD)/rumprund
	RR_BUILD=$(BUILD) RR_XEN_DAEMON=$(ASAN_BUILD)/rumprund \
	ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 \
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		$(PYTHON) -m pytest -q tests/xen

# The README's demo command.
demo: deps
	$(MAKE) all $(GUEST_ELF)
	scripts/demo.sh $(BUILD)

# The lint (make lint; part of make check): cppcheck over all of our C at
# once, clang-tidy on each file.  Each clang-tidy run is a rule with a
# stamp under $(LINT_DIR) that depends on the file, the headers it
# includes (listed by $(CC) -MM) and .clang-tidy: make -j2 lint runs two
# at a time, and a second run redoes only what changed.  One file per run
# also because clang-tidy 14 reports va_list false positives
# (llvm-project#40656) when given several files at once.  The test
# guests' sources are freestanding: their own flags, from guest.mk and
# xen.mk.
LINT_DIR := $(BUILD)/lint
TIDY_FLAGS = -std=gnu11 -D_GNU_SOURCE $(INC_ALL) $(PKG_CFLAGS) $(XEN_CFLAGS)
TIDY_GUEST_SRCS := $(filter %.c,$(GUEST_SRCS))
TIDY_STAMPS := $(LINT_SRCS:%.c=$(LINT_DIR)/%.tidy) \
	$(TIDY_GUEST_SRCS:%.c=$(LINT_DIR)/%.tidy) \
	$(LINT_DIR)/$(XENGUEST_DIR)/xen.tidy
$(TIDY_GUEST_SRCS:%.c=$(LINT_DIR)/%.tidy): TIDY_FLAGS = $(GUEST_TIDYFLAGS)
$(LINT_DIR)/$(XENGUEST_DIR)/xen.tidy: TIDY_FLAGS = $(XENGUEST_TIDYFLAGS)

$(LINT_DIR)/%.tidy: %.c .clang-tidy
	@mkdir -p $(@D)
	@$(CC) $(TIDY_FLAGS) -MM -MP -MT $@ -MF $(@:.tidy=.d) $<
	clang-tidy --quiet $< -- $(TIDY_FLAGS)
	@touch $@

# cppcheck reads no system headers: sys/queue.h is included for its macros
# and jansson's iteration macros are described in scripts/cppcheck/.
# variableScope is off: style(9) declares variables at the top of a function.
# Its build directory keeps what it found per file, for the next run.
CPPCHECK_FLAGS := --quiet --error-exitcode=1 \
	--enable=warning,style,performance,portability --std=c11 --inline-suppr \
	--suppress=variableScope --suppress=unusedStructMember \
	--include=/usr/include/x86_64-linux-gnu/sys/queue.h \
	--library=scripts/cppcheck/jansson.cfg -Idaemon -Iapi -Ibackends -Iclient

LINT_HDRS = $(wildcard $(addsuffix *.h,$(sort $(dir $(LINT_SRCS)))))

$(LINT_DIR)/cppcheck.stamp: $(LINT_SRCS) $(LINT_HDRS) scripts/cppcheck/jansson.cfg
	@mkdir -p $(LINT_DIR)/cppcheck
	cppcheck $(CPPCHECK_FLAGS) --cppcheck-build-dir=$(LINT_DIR)/cppcheck \
		$(LINT_SRCS)
	@touch $@

# scripts/check-includes.sh reads every file each time (a fraction of a
# second): no stamp.
include-walls:
	scripts/check-includes.sh

lint: include-walls $(LINT_DIR)/cppcheck.stamp $(TIDY_STAMPS) format-check

# clang-format with .clang-format on every C source and header of ours.
# The version is pinned (each formats a little differently): Debian 12's
# clang-format-14, which scripts/deps.sh installs.  make format rewrites
# the files in place; make format-check (part of make lint) changes
# nothing and fails, naming the files and showing the diff, if one is not
# formatted.
CLANG_FORMAT ?= clang-format-14
FORMAT_SRCS := $(sort $(wildcard $(addsuffix /*.[ch],main daemon api \
	backends client tests/unit tests/integration tests/guest tests/xen/guest \
	tests/e2e fuzz bench)))

format:
	$(CLANG_FORMAT) -i --style=file $(FORMAT_SRCS)

format-check:
	@mkdir -p $(LINT_DIR)
	@rm -f $(LINT_DIR)/format.diff; bad=""; \
	for f in $(FORMAT_SRCS); do \
		$(CLANG_FORMAT) --style=file "$$f" > $(LINT_DIR)/format.out || exit 1; \
		if ! diff -u --label "a/$$f" --label "b/$$f" "$$f" \
		    $(LINT_DIR)/format.out >> $(LINT_DIR)/format.diff; then \
			bad="$$bad $$f"; \
		fi; \
	done; \
	rm -f $(LINT_DIR)/format.out; \
	if [ -n "$$bad" ]; then \
		cat $(LINT_DIR)/format.diff; \
		echo "format-check: not formatted (make format fixes them;" \
		    "the diff is in $(LINT_DIR)/format.diff):"; \
		for f in $$bad; do echo "  $$f"; done; \
		exit 1; \
	fi
	@echo "format-check: $(words $(FORMAT_SRCS)) files formatted"

# The OpenAPI lint: @redocly/cli, pinned, from the npm registry into
# build/tools (once), with redocly.yaml's rules; any problem, warnings
# too, fails.  Telemetry and the update check are off: nothing leaves the
# machine but npm install's own requests.
REDOCLY_VERSION := 1.25.15
REDOCLY := $(BUILD)/tools/node_modules/.bin/redocly
REDOCLY_ENV := REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true

$(REDOCLY):
	mkdir -p $(BUILD)/tools
	npm install --no-audit --no-fund --no-update-notifier --prefix \
		$(BUILD)/tools @redocly/cli@$(REDOCLY_VERSION)

openapi-lint: $(REDOCLY)
	$(REDOCLY_ENV) $(REDOCLY) lint --config redocly.yaml openapi.yaml \
		> $(BUILD)/openapi-lint.txt 2>&1 || \
		{ cat $(BUILD)/openapi-lint.txt; exit 1; }
	@if grep -q 'warning' $(BUILD)/openapi-lint.txt; then \
		cat $(BUILD)/openapi-lint.txt; exit 1; fi
	@echo "openapi-lint: openapi.yaml is clean"

asan:
	$(MAKE) BUILD=$(ASAN_BUILD) SAN="$(SAN_FLAGS)" CFLAGS="-O1 -g" unit

# An existing rumprund.conf is the operator's: the new one goes beside it
# as rumprund.conf.dist.  The service's ExecStart= names the installed
# binary.
install: all
	install -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(MANDIR)/man8 \
		$(DESTDIR)$(SYSCONFDIR)/rumprund $(DESTDIR)$(SYSTEMDUNITDIR) \
		$(DESTDIR)$(SYSUSERSDIR) $(DESTDIR)$(TMPFILESDIR)
	install -m 0755 $(BUILD)/rumprund $(DESTDIR)$(SBINDIR)/rumprund
	install -m 0644 man/rumprund.8 $(DESTDIR)$(MANDIR)/man8/rumprund.8
	if [ -e $(DESTDIR)$(SYSCONFDIR)/rumprund/rumprund.conf ]; then \
		install -m 0644 etc/rumprund.conf \
			$(DESTDIR)$(SYSCONFDIR)/rumprund/rumprund.conf.dist; \
	else \
		install -m 0644 etc/rumprund.conf \
			$(DESTDIR)$(SYSCONFDIR)/rumprund/rumprund.conf; \
	fi
	sed 's|^ExecStart=/usr/sbin/rumprund |ExecStart=$(SBINDIR)/rumprund |' \
		systemd/rumprund.service > $(DESTDIR)$(SYSTEMDUNITDIR)/rumprund.service
	chmod 0644 $(DESTDIR)$(SYSTEMDUNITDIR)/rumprund.service
	install -m 0644 systemd/rumprund.socket $(DESTDIR)$(SYSTEMDUNITDIR)/rumprund.socket
	install -m 0644 systemd/rumprund.sysusers $(DESTDIR)$(SYSUSERSDIR)/rumprund.conf
	install -m 0644 systemd/rumprund.tmpfiles $(DESTDIR)$(TMPFILESDIR)/rumprund.conf
	if [ -f $(BUILD)/rrctl ]; then \
		install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1; \
		install -m 0755 $(BUILD)/rrctl $(DESTDIR)$(BINDIR)/rrctl; \
		install -m 0644 man/rrctl.1 $(DESTDIR)$(MANDIR)/man1/rrctl.1; \
		install -d $(DESTDIR)$(BASHCOMPDIR); \
		install -m 0644 client/completion/rrctl.bash \
			$(DESTDIR)$(BASHCOMPDIR)/rrctl; \
	fi

clean:
	rm -rf build build-asan

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
