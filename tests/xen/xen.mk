# tests/xen/xen.mk: builds rrxenguest (the Xen test guest) and runs the
# Xen tests: a real Xen 4.17 nested under QEMU TCG (tests/xen/README.md).
#
# A fragment for the top-level Makefile: set BUILD before including it.
#
#   XENGUEST_ELF     $(BUILD)/xenguest/rrxenguest, a 64-bit Xen PV kernel
#   XENGUEST_SRCS    its C sources (tests/guest's shared ones included)
#   XENGUEST_TIDYFLAGS  flags for clang-tidy on its own source (xen.c)
#
# rrxenguest shares the configuration parser, the command language and the
# printf/libc bits with rrguest (tests/guest/config.c, guest.c, lib.c),
# compiled 64-bit; only the machine layer (tests/xen/guest/xen.c) and the
# entry (head.S) are its own.  Xen's public headers come from libxen-dev.

ifeq ($(BUILD),)
$(error tests/xen/xen.mk: set BUILD before including it)
endif

XENGUEST_DIR	:= tests/xen/guest
XENGUEST_ELF	:= $(BUILD)/xenguest/rrxenguest
XENGUEST_SRCS	:= tests/guest/guest.c tests/guest/config.c tests/guest/lib.c \
		   $(XENGUEST_DIR)/xen.c
XENGUEST_COBJS	:= $(patsubst %.c,$(BUILD)/xenguest/%.o,$(notdir $(XENGUEST_SRCS)))
XENGUEST_OBJS	:= $(BUILD)/xenguest/head.o $(XENGUEST_COBJS)

XENGUEST_CFLAGS	:= -m64 -mno-red-zone -mgeneral-regs-only -mcmodel=small \
		   -ffreestanding -fno-pic -fno-pie -fno-stack-protector \
		   -fno-asynchronous-unwind-tables \
		   -fno-tree-loop-distribute-patterns -nostdlib -O2 -g \
		   -std=c11 -Itests/guest -Wall -Wextra -Wshadow \
		   -Wstrict-prototypes -Wmissing-prototypes -Werror
XENGUEST_TIDYFLAGS := -m64 -ffreestanding -std=c11 -Itests/guest
XENGUEST_LDFLAGS := -m64 -nostdlib -static -no-pie -Wl,--build-id=none \
		   -Wl,-z,max-page-size=0x1000 \
		   -Wl,-T,$(XENGUEST_DIR)/xenguest.ld

$(XENGUEST_ELF): $(XENGUEST_OBJS) $(XENGUEST_DIR)/xenguest.ld tests/xen/xen.mk
	$(GUEST_CC) $(XENGUEST_LDFLAGS) -o $@ $(XENGUEST_OBJS)

$(BUILD)/xenguest/head.o: $(XENGUEST_DIR)/head.S tests/xen/xen.mk
	@mkdir -p $(@D)
	$(GUEST_CC) -m64 -Wa,--noexecstack -c -o $@ $<

$(BUILD)/xenguest/%.o: tests/guest/%.c tests/guest/guest.h tests/xen/xen.mk
	@mkdir -p $(@D)
	$(GUEST_CC) $(XENGUEST_CFLAGS) -c -o $@ $<

$(BUILD)/xenguest/%.o: $(XENGUEST_DIR)/%.c tests/guest/guest.h tests/xen/xen.mk
	@mkdir -p $(@D)
	$(GUEST_CC) $(XENGUEST_CFLAGS) -c -o $@ $<
