# tests/guest/guest.mk: builds rrguest, the rumprun look-alike test guest.
#
# A fragment for the top-level Makefile: set BUILD before including it.
# It defines only file targets under $(BUILD)/guest/ and GUEST_* variables:
#
#   GUEST_ELF        $(BUILD)/guest/rrguest, the multiboot v1 ELF32 kernel
#   GUEST_SRCS       the C sources (for cppcheck / clang-tidy)
#   GUEST_CFLAGS     gcc flags for those sources (32-bit, freestanding)
#   GUEST_TIDYFLAGS  flags for clang-tidy: clang-tidy F -- $(GUEST_TIDYFLAGS)
#   GUEST_BOOT_TEST  the boot test: $(GUEST_BOOT_TEST) $(GUEST_ELF)
#   GUEST_CC         the compiler, gcc unless set before the include

ifeq ($(BUILD),)
$(error tests/guest/guest.mk: set BUILD before including it)
endif

GUEST_DIR	:= tests/guest
GUEST_CC	?= gcc
GUEST_ELF	:= $(BUILD)/guest/rrguest
GUEST_BOOT_TEST	:= $(GUEST_DIR)/boot-test.sh
GUEST_SRCS	:= $(GUEST_DIR)/guest.c $(GUEST_DIR)/config.c \
		   $(GUEST_DIR)/machine.c $(GUEST_DIR)/lib.c $(GUEST_DIR)/rootfs.c \
		   $(GUEST_DIR)/vblk.c $(GUEST_DIR)/vnet.c
GUEST_HDRS	:= $(GUEST_DIR)/guest.h
GUEST_COBJS	:= $(patsubst $(GUEST_DIR)/%.c,$(BUILD)/guest/%.o,$(GUEST_SRCS))
GUEST_OBJS	:= $(BUILD)/guest/boot.o $(GUEST_COBJS)

GUEST_CFLAGS	:= -m32 -march=i686 -mgeneral-regs-only -ffreestanding \
		   -fno-pic -fno-pie -fno-stack-protector \
		   -fno-asynchronous-unwind-tables \
		   -fno-tree-loop-distribute-patterns -nostdlib -O2 -g \
		   -std=c11 -Wall -Wextra -Wshadow -Wstrict-prototypes \
		   -Wmissing-prototypes -Werror
GUEST_TIDYFLAGS	:= -m32 -ffreestanding -std=c11
GUEST_ASFLAGS	:= -m32 -Wa,--noexecstack
GUEST_LDFLAGS	:= -m32 -nostdlib -static -no-pie -Wl,--build-id=none \
		   -Wl,-z,max-page-size=0x1000 -Wl,-T,$(GUEST_DIR)/guest.ld

$(GUEST_ELF): $(GUEST_OBJS) $(GUEST_DIR)/guest.ld $(GUEST_DIR)/guest.mk
	$(GUEST_CC) $(GUEST_LDFLAGS) -o $@ $(GUEST_OBJS)

$(BUILD)/guest/boot.o: $(GUEST_DIR)/boot.S $(GUEST_DIR)/guest.mk
	@mkdir -p $(@D)
	$(GUEST_CC) $(GUEST_ASFLAGS) -c -o $@ $<

$(GUEST_COBJS): $(BUILD)/guest/%.o: $(GUEST_DIR)/%.c $(GUEST_HDRS) \
    $(GUEST_DIR)/guest.mk
	@mkdir -p $(@D)
	$(GUEST_CC) $(GUEST_CFLAGS) -c -o $@ $<
