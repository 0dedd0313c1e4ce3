/*
 * xen.c: the Xen side of rrxenguest, the test guest that behaves like a
 * rumprun Xen unikernel (a 64-bit PV kernel; see ../README.md).
 *
 * It shares everything above the machine with rrguest (tests/guest): the
 * JSON parser and argv splitter (config.c), the command language and the
 * console markers (guest.c), printf and libc (lib.c).  What is here:
 *
 * - Hypercalls through the page Xen fills (head.S), the start_info page.
 * - The PV console: bytes go into the out ring of the console page
 *   (start_info console.domU), "\n" sent as "\r\n" as Mini-OS does, and
 *   xenconsoled is told through the console's event channel.
 * - Xenstore, through the ring of the store page (start_info store_mfn):
 *   the guest reads its own rumprun/cfg (a path relative to its home
 *   /local/domain/<domid>, as rumprun reads it), lists device/vbd and
 *   device/vif, and prints one line per disk and NIC.  It never looks at
 *   control/shutdown: like a rumprun Xen guest, it ignores a graceful
 *   shutdown request.
 * - Time from the shared info page's vcpu_time_info (system time plus the
 *   scaled TSC); sleeps block in SCHEDOP_poll with a timeout, with event
 *   delivery masked (no upcall is ever set up).
 * - The end: halt() prints "halted" and powers the domain off
 *   (SCHEDOP_shutdown, SHUTDOWN_poweroff), as rumprun does on Xen when its
 *   program returns; reset() executes ud2 with no trap table: Xen crashes
 *   the domain (shutdown reason crash), as when a rumprun guest faults.
 *
 * The configuration text is handed to guest.c's guest_config() as the
 * command line of a multiboot information block, then guest_run() does
 * the rest; everything in the image
 * is below 4 GiB (xenguest.ld), so its 32-bit pointers fit.
 */

#define __XEN_INTERFACE_VERSION__ 0x00040e00

#include "guest.h"

#include <xen/xen.h>
#include <xen/event_channel.h>
#include <xen/sched.h>
#include <xen/io/console.h>
#include <xen/io/xs_wire.h>

#define PAGE_SHIFT	12
#define PAGE_SIZE	(1UL << PAGE_SHIFT)
#define PTE_PRW		0x7 /* present, writable, user */
#define UVMF_INVLPG_	2   /* update_va_mapping: flush one entry */
#define MB_INFO_CMDLINE 0x00000004
/* One wait for xenstored or the console, before looking again. */
#define XS_WAIT_NS   10000000ULL
#define XS_VALUE_MAX 4096 /* XENSTORE_PAYLOAD_MAX */

extern char hypercall_page[];

void xen_main(start_info_t *);

static start_info_t *si;
static volatile struct xencons_interface *cons;
static volatile struct xenstore_domain_interface *store;
static volatile shared_info_t *shared;
static uint32_t xs_req_id;

/* The page the shared info page is mapped over. */
static char shared_page[PAGE_SIZE] __attribute__((aligned(PAGE_SIZE)));

static char cfgtext[CMDLINE_MAX + 1];
static uint32_t mbi[8];

static long
hypercall3(unsigned int nr, unsigned long a1, unsigned long a2,
    unsigned long a3)
{
	register unsigned long rdi __asm__("rdi") = a1;
	register unsigned long rsi __asm__("rsi") = a2;
	register unsigned long rdx __asm__("rdx") = a3;
	long ret;

	__asm__ volatile("call *%[fn]"
			 : "=a"(ret), "+r"(rdi), "+r"(rsi), "+r"(rdx)
			 : [fn] "r"(hypercall_page + nr * 32)
			 : "memory", "rcx", "r8", "r10", "r11");
	return ret;
}

static long
sched_op(int cmd, void *arg)
{
	return hypercall3(__HYPERVISOR_sched_op, (unsigned long)cmd,
	    (unsigned long)arg, 0);
}

static void
notify(evtchn_port_t port)
{
	struct evtchn_send send = { .port = port };

	(void)hypercall3(__HYPERVISOR_event_channel_op, EVTCHNOP_send,
	    (unsigned long)&send, 0);
}

static void
shutdown(unsigned int reason)
{
	struct sched_shutdown s = { .reason = reason };

	for (;;)
		(void)sched_op(SCHEDOP_shutdown, &s);
}

/* The address of a page of ours given its machine frame number. */
static void *
mfn_to_virt(unsigned long mfn)
{
	const unsigned long *p2m = (const unsigned long *)si->mfn_list;
	unsigned long pfn;

	for (pfn = 0; pfn < si->nr_pages; pfn++) {
		if (p2m[pfn] == mfn)
			return (void *)(pfn << PAGE_SHIFT);
	}
	shutdown(SHUTDOWN_crash);
	return NULL;
}

static uint64_t
rdtsc(void)
{
	uint32_t lo, hi;

	__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
	return ((uint64_t)hi << 32) | lo;
}

/* Xen's system time: nanoseconds since the machine booted. */
static uint64_t
now_ns(void)
{
	volatile struct vcpu_time_info *t = &shared->vcpu_info[0].time;
	uint32_t version, mul;
	uint64_t stamp, sys, delta;
	int8_t shift;

	do {
		version = t->version;
		__asm__ volatile("" ::: "memory");
		stamp = t->tsc_timestamp;
		sys = t->system_time;
		mul = t->tsc_to_system_mul;
		shift = t->tsc_shift;
		__asm__ volatile("" ::: "memory");
	} while ((version & 1) != 0 || version != t->version);
	delta = rdtsc() - stamp;
	if (shift < 0)
		delta >>= -shift;
	else
		delta <<= shift;
	return sys + (uint64_t)(((unsigned __int128)delta * mul) >> 32);
}

/*
 * Blocks until an event is pending on port (none: -1) or until Xen's
 * system time reaches deadline (0: no deadline), then clears the port's
 * pending bit.  Event delivery stays masked: nothing else wakes us.
 */
static void
wait_event(int port, uint64_t deadline)
{
	struct sched_poll poll;
	evtchn_port_t p = (evtchn_port_t)port;

	poll.nr_ports = port >= 0 ? 1 : 0;
	set_xen_guest_handle(poll.ports, port >= 0 ? &p : NULL);
	poll.timeout = deadline;
	if (sched_op(SCHEDOP_poll, &poll) != 0)
		(void)sched_op(SCHEDOP_yield, NULL);
	if (port >= 0)
		__atomic_fetch_and(&shared->evtchn_pending[p / 64],
		    ~(1UL << (p % 64)), __ATOMIC_SEQ_CST);
}

/* The console. */

static void
cons_wait(void)
{
	notify(si->console.domU.evtchn);
	wait_event((int)si->console.domU.evtchn, now_ns() + XS_WAIT_NS);
}

static void
cons_byte(char c)
{
	XENCONS_RING_IDX prod;

	if (cons == NULL)
		return;
	while (cons->out_prod - cons->out_cons >= sizeof(cons->out))
		cons_wait();
	prod = cons->out_prod;
	cons->out[MASK_XENCONS_IDX(prod, cons->out)] = c;
	__atomic_thread_fence(__ATOMIC_RELEASE);
	cons->out_prod = prod + 1;
}

static void
cons_flush(void)
{
	if (cons != NULL)
		notify(si->console.domU.evtchn);
}

/* force_com1 is the hw guest's benchmark knob: nothing to force here. */
void
con_init(int force_com1)
{
	(void)force_com1;
	cons = mfn_to_virt(si->console.domU.mfn);
}

void
con_putc(int c)
{
	if (c == '\n') {
		cons_byte('\r');
		cons_byte('\n');
		cons_flush();
	} else
		cons_byte((char)c);
}

/* Xenstore. */

static void
xs_wait(void)
{
	notify(si->store_evtchn);
	wait_event((int)si->store_evtchn, now_ns() + XS_WAIT_NS);
}

static void
xs_put(const void *buf, uint32_t len)
{
	const char *p = buf;
	XENSTORE_RING_IDX prod;

	while (len > 0) {
		while (store->req_prod - store->req_cons >= XENSTORE_RING_SIZE)
			xs_wait();
		prod = store->req_prod;
		/* The analyzer loses track of the bytes of a struct here. */
		/* NOLINTNEXTLINE(clang-analyzer-core.uninitialized.Assign) */
		store->req[MASK_XENSTORE_IDX(prod)] = *p++;
		__atomic_thread_fence(__ATOMIC_RELEASE);
		store->req_prod = prod + 1;
		len--;
	}
	notify(si->store_evtchn);
}

static void
xs_get(void *buf, uint32_t len)
{
	char *p = buf;
	XENSTORE_RING_IDX cons_idx;

	while (len > 0) {
		while (store->rsp_prod == store->rsp_cons)
			xs_wait();
		__atomic_thread_fence(__ATOMIC_ACQUIRE);
		cons_idx = store->rsp_cons;
		*p++ = store->rsp[MASK_XENSTORE_IDX(cons_idx)];
		store->rsp_cons = cons_idx + 1;
		len--;
	}
	notify(si->store_evtchn);
}

/*
 * One xenstore request with a path; the answer (at most max - 1 bytes,
 * NUL added) in out.  Returns its length, or -1 (XS_ERROR, or an answer
 * too long: the rest is read and dropped).
 */
static int
xs_call(uint32_t type, const char *path, char *out, uint32_t max)
{
	struct xsd_sockmsg msg = {
		.type = type,
		.req_id = ++xs_req_id,
		.tx_id = 0,
		.len = (uint32_t)strlen(path) + 1,
	};
	uint32_t i;
	char c;

	xs_put(&msg, sizeof(msg));
	xs_put(path, msg.len);
	for (;;) {
		xs_get(&msg, sizeof(msg));
		if (msg.type != XS_WATCH_EVENT && msg.req_id == xs_req_id)
			break;
		for (i = 0; i < msg.len; i++) /* not ours: skip it */
			xs_get(&c, 1);
	}
	for (i = 0; i < msg.len; i++) {
		xs_get(&c, 1);
		if (i < max - 1)
			out[i] = c;
	}
	out[msg.len < max ? msg.len : max - 1] = '\0';
	if (msg.type == XS_ERROR || msg.len >= max)
		return -1;
	return (int)msg.len;
}

static int
xs_read(const char *path, char *out, uint32_t max)
{
	return xs_call(XS_READ, path, out, max);
}

static void
join(char *dst, size_t max, const char *a, const char *b, const char *c)
{
	size_t n = 0;
	const char *parts[3] = { a, b, c };
	int i;

	for (i = 0; i < 3; i++) {
		const char *s = parts[i];

		while (s != NULL && *s != '\0' && n < max - 1)
			dst[n++] = *s++;
	}
	dst[n] = '\0';
}

/* "xvda" ... from a vbd's virtual-device number (Xen's vbd numbering). */
static void
vbd_name(const char *id, char *name)
{
	uint32_t v = 0, disk;
	const char *p;
	int n = 0;

	for (p = id; *p >= '0' && *p <= '9'; p++)
		v = v * 10 + (uint32_t)(*p - '0');
	if ((v >> 8) == 202)
		disk = (v & 0xff) >> 4;
	else if ((v & (1U << 28)) != 0)
		disk = (v & ((1U << 28) - 1)) >> 8;
	else {
		memcpy(name, "?", 2);
		return;
	}
	memcpy(name, "xvd", 3);
	n = 3;
	if (disk >= 26)
		name[n++] = (char)('a' + disk / 26 - 1);
	name[n++] = (char)('a' + disk % 26);
	name[n] = '\0';
}

/*
 * Prints one line per device of a class (device/vbd, device/vif), in
 * xenstore's order, as rumprun's drivers find them: disks by their xvdX
 * names, NICs as xenifN (N counted from 0), with what the backend says.
 */
static void
list_devices(const char *cls)
{
	static char ids[XS_VALUE_MAX], path[256], backend[256], val[256];
	char name[8];
	const char *id;
	int len, n = 0;

	join(path, sizeof(path), "device/", cls, NULL);
	if ((len = xs_call(XS_DIRECTORY, path, ids, sizeof(ids))) <= 0)
		return;
	for (id = ids; id < ids + len && *id != '\0'; id += strlen(id) + 1) {
		join(path, sizeof(path), "device/", cls, "/");
		join(path, sizeof(path), path, id, "/backend");
		if (xs_read(path, backend, sizeof(backend)) < 0)
			memcpy(backend, "?", 2);
		if (strcmp(cls, "vbd") == 0) {
			vbd_name(id, name);
			join(path, sizeof(path), backend, "/dev", NULL);
			if (xs_read(path, val, sizeof(val)) < 0)
				memcpy(val, "?", 2);
			con_printf("xenbus: %s: vbd %s, backend dev %s\n", name,
			    id, val);
		} else {
			join(path, sizeof(path), backend, "/bridge", NULL);
			if (xs_read(path, val, sizeof(val)) < 0)
				memcpy(val, "?", 2);
			con_printf("xenbus: xenif%d: vif %s, bridge %s", n++,
			    id, val);
			join(path, sizeof(path), "device/vif/", id, "/mac");
			if (xs_read(path, val, sizeof(val)) < 0)
				memcpy(val, "?", 2);
			con_printf(", mac %s\n", val);
		}
	}
}

/* The machine interface of guest.h. */

void
timer_sleepms(uint32_t ms)
{
	uint64_t deadline = now_ns() + (uint64_t)ms * 1000000ULL;

	cons_flush();
	while (now_ns() < deadline)
		wait_event(-1, deadline);
}

/* Stops for good: blocks with no event and no deadline to wake it. */
void
stop(void)
{
	cons_flush();
	for (;;)
		wait_event(-1, 0);
}

/* Prints "halted" and powers the domain off, as rumprun does on Xen. */
void
halt(void)
{
	con_printf("halted\n");
	shutdown(SHUTDOWN_poweroff);
	stop();
}

/* A fatal fault: with no trap table, Xen crashes the domain. */
void
reset(void)
{
	cons_flush();
	__asm__ volatile("ud2");
	shutdown(SHUTDOWN_crash);
	stop();
}

/*
 * boot-sse: one SSE instruction.  Xen runs a 64-bit PV guest with SSE
 * enabled, as genuine rumprun Xen guests need, so this just runs.
 */
void
boot_sse(void)
{
	__asm__ volatile("pxor %%xmm0, %%xmm0" : : : "memory");
}

/* boot-hang: blocks for ever, printing nothing. */
void
boot_hang(void)
{
	stop();
}

/* There is no virtio disk on Xen: diskwrite and diskread fail. */
int
vblk_cmd_write(const char *arg)
{
	(void)arg;
	con_printf("diskwrite: no virtio disk on Xen\n");
	return -1;
}

int
vblk_cmd_read(const char *arg)
{
	(void)arg;
	con_printf("diskread: no virtio disk on Xen\n");
	return -1;
}

/*
 * No netfront driver: DHCP cannot work, and the guest stops as rumprun
 * does when its DHCP fails (stricter than a genuine image on a bridge with
 * a DHCP server; no Xen test asks for DHCP).
 */
void
vnet_dhcp(const char *name, int len)
{
	errx1("rrguest: no netfront driver: cannot configure dhcp for %.*s",
	    len, name);
}

void
vnet_poll(void)
{
}

int
vnet_active(void)
{
	return 0;
}

int
vnet_cmd_ifaddr(const char *arg)
{
	(void)arg;
	con_printf("ifaddr none\n");
	return -1;
}

/* There is no boot CD on Xen: "file" and _RUMPRUN_ROOTFSCFG= fail. */
int
rootfs_mount(const char **why)
{
	*why = "no boot CD on Xen";
	return -1;
}

int
rootfs_lookup(const char *path, uint32_t *lba, uint32_t *size, const char **why)
{
	(void)path;
	(void)lba;
	(void)size;
	*why = "no boot CD on Xen";
	return -1;
}

int
rootfs_read(uint32_t lba, uint32_t size, uint8_t *buf, uint32_t max,
    const char **why)
{
	(void)lba;
	(void)size;
	(void)buf;
	(void)max;
	*why = "no boot CD on Xen";
	return -1;
}

int
rootfs_fold(uint32_t lba, uint32_t size, uint32_t *sum, const char **why)
{
	(void)lba;
	(void)size;
	(void)sum;
	*why = "no boot CD on Xen";
	return -1;
}

/* Called from head.S with Xen's start_info page. */
void
xen_main(start_info_t *start)
{
	int len;

	si = start;
	if (hypercall3(__HYPERVISOR_update_va_mapping,
		(unsigned long)shared_page, si->shared_info | PTE_PRW,
		UVMF_INVLPG_) != 0)
		shutdown(SHUTDOWN_crash);
	shared = (volatile shared_info_t *)shared_page;
	shared->vcpu_info[0].evtchn_upcall_mask = 1;
	store = mfn_to_virt(si->store_mfn);
	con_init(0);
	con_printf("rrxenguest: rumprun Xen test guest\n");

	list_devices("vbd");
	list_devices("vif");

	len = xs_read("rumprun/cfg", cfgtext, sizeof(cfgtext));
	if (len < 0)
		cfgtext[0] = '\0';
	if ((uintptr_t)cfgtext > UINT32_MAX)
		panic("configuration buffer above 4 GiB");
	mbi[0] = MB_INFO_CMDLINE;
	mbi[4] = (uint32_t)(uintptr_t)cfgtext;
	guest_config(mbi);
	guest_run();
}
