/*
 * guest.h: declarations shared by the files of rrguest, the freestanding
 * test guest that behaves on its console like a rumprun hw unikernel.
 */

#ifndef RRGUEST_GUEST_H
#define RRGUEST_GUEST_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

/*
 * The size of rumprun hw's command line buffer: a multiboot command line
 * (the "<kernel path> " prefix QEMU adds included) must be shorter.
 */
#define CMDLINE_MAX 4096

/*
 * The longest configuration file rrguest reads from the boot CD
 * (_RUMPRUN_ROOTFSCFG=): rumprun takes up to 64 KiB there, rrguest no
 * more than its command line buffer holds.
 */
#define ROOTFS_CFG_MAX (CMDLINE_MAX - 1)

/* The raw text of a JSON string: the bytes between its quotes. */
struct cfgstr {
	const char *s;
	int len;
};

/* config.c: the JSON configuration and the argv splitter. */
void config_parse(const char *);
int config_next(const char *, int);
void config_str(int, struct cfgstr *);
int config_member(int, int, struct cfgstr *, struct cfgstr *);
int config_field(int, const char *, struct cfgstr *);
int config_argv(char *, char **, int);
int config_split(const char *, int, char *, char **, int);

/*
 * rootfs.c: the boot CD (an ATAPI drive on the PC's IDE ports) and its
 * ISO 9660 file system, read-only, for _RUMPRUN_ROOTFSCFG= and "file".
 * Paths are relative to the CD's root (leading '/' ignored).  Each returns
 * 0, or -1 with a reason in *why.
 */
int rootfs_mount(const char **);
int rootfs_lookup(const char *, uint32_t *, uint32_t *, const char **);
int rootfs_read(uint32_t, uint32_t, uint8_t *, uint32_t, const char **);
int rootfs_fold(uint32_t, uint32_t, uint32_t *, const char **);

/* vblk.c: the first virtio disk's sector 0 ("diskwrite", "diskread"). */
int vblk_cmd_write(const char *);
int vblk_cmd_read(const char *);

/*
 * vnet.c: legacy virtio-net and rumprun's DHCP (vioifN); the Xen guest
 * has no NIC driver and refuses DHCP.  vnet_dhcp() returns once the
 * interface has its address, or stops as rumprun's errx(1) does;
 * vnet_poll() answers ARP for configured interfaces; vnet_active() says
 * whether there is one.
 */
void vnet_dhcp(const char *, int);
void vnet_poll(void);
int vnet_active(void);
int vnet_cmd_ifaddr(const char *);

/*
 * guest.c: the loader's configuration text (guest_config), and everything
 * after the loader (guest_run, which never returns); the Xen guest calls
 * both with its xenstore configuration as a multiboot command line.
 */
void guest_config(const uint32_t *);
void guest_run(void) __attribute__((noreturn));

/*
 * machine.c (the Xen guest: tests/xen/guest/xen.c): console (con_init,
 * con_putc), timer, halting, the boot-* words; lib.c: the printf over
 * con_putc(), panic() and errx1() over halt() and stop(), the bits of
 * libc we need.
 */
void con_init(int);
void con_putc(int);
void con_write(const char *, size_t);
void con_printf(const char *, ...) __attribute__((format(printf, 1, 2)));
void timer_sleepms(uint32_t);
void stop(void) __attribute__((noreturn));
void halt(void) __attribute__((noreturn));
void panic(const char *, ...) __attribute__((noreturn, format(printf, 1, 2)));
void reset(void) __attribute__((noreturn));
void errx1(const char *, ...) __attribute__((noreturn, format(printf, 1, 2)));
void boot_sse(void);
void boot_hang(void) __attribute__((noreturn));

char *strstr(const char *, const char *);
void *memcpy(void *, const void *, size_t);
void *memmove(void *, const void *, size_t);
void *memset(void *, int, size_t);
int memcmp(const void *, const void *, size_t);
size_t strlen(const char *);
int strcmp(const char *, const char *);

/* Port I/O. */
static inline void
outb(uint16_t port, uint8_t val)
{
	__asm__ volatile("outb %0, %1" : : "a"(val), "Nd"(port));
}

static inline uint8_t
inb(uint16_t port)
{
	uint8_t val;

	__asm__ volatile("inb %1, %0" : "=a"(val) : "Nd"(port));
	return val;
}

static inline void
outw(uint16_t port, uint16_t val)
{
	__asm__ volatile("outw %0, %1" : : "a"(val), "Nd"(port));
}

static inline uint16_t
inw(uint16_t port)
{
	uint16_t val;

	__asm__ volatile("inw %1, %0" : "=a"(val) : "Nd"(port));
	return val;
}

#endif /* RRGUEST_GUEST_H */
