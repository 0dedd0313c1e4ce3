/*
 * vblk.c: the first virtio block device (legacy virtio PCI, I/O BAR 0),
 * polled, one 512-byte sector at a time: enough for a guest to write a
 * verdict to its disk, and to read back what it finds there, as upstream
 * rumprun's test programs do on /dev/ld0a.
 *
 * SeaBIOS assigns the BARs, qboot not the I/O ones (then one is taken
 * here, 0xc000 + 0x100 * slot); memory is
 * identity-mapped (no paging), so a buffer's address is its physical
 * address.  No interrupts, no features negotiated.
 */
#include "guest.h"

#define PCI_ADDR	  0xcf8
#define PCI_DATA	  0xcfc
#define VIRTIO_VENDOR	  0x1af4
#define VIRTIO_BLK_LEGACY 0x1001

/* Legacy virtio PCI registers, from BAR 0. */
#define VIO_GUEST_FEATURES 0x04
#define VIO_QUEUE_PFN	   0x08
#define VIO_QUEUE_SIZE	   0x0c
#define VIO_QUEUE_SELECT   0x0e
#define VIO_QUEUE_NOTIFY   0x10
#define VIO_STATUS	   0x12

#define ST_ACK	     1
#define ST_DRIVER    2
#define ST_DRIVER_OK 4

#define DESC_NEXT  1
#define DESC_WRITE 2

#define BLK_T_IN  0
#define BLK_T_OUT 1

#define QMAX   256
#define SECTOR 512

struct desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
	uint16_t next;
} __attribute__((packed));

struct blkreq {
	uint32_t type;
	uint32_t reserved;
	uint64_t sector;
} __attribute__((packed));

/* The legacy ring layout for up to QMAX entries, page aligned. */
static uint8_t ring[3 * 4096 + 16 * QMAX] __attribute__((aligned(4096)));
static struct blkreq req;
static uint8_t data[SECTOR] __attribute__((aligned(16)));
static volatile uint8_t status;
static uint16_t iobase, qsize, last_used;
static int ready;

static inline void
outl(uint16_t port, uint32_t val)
{
	__asm__ volatile("outl %0, %1" : : "a"(val), "Nd"(port));
}

static inline uint32_t
inl(uint16_t port)
{
	uint32_t val;

	__asm__ volatile("inl %1, %0" : "=a"(val) : "Nd"(port));
	return val;
}

static uint32_t
pci_read(int dev, int off)
{
	outl(PCI_ADDR, 0x80000000u | (uint32_t)dev << 11 | (uint32_t)off);
	return inl(PCI_DATA);
}

static void
pci_write(int dev, int off, uint32_t val)
{
	outl(PCI_ADDR, 0x80000000u | (uint32_t)dev << 11 | (uint32_t)off);
	outl(PCI_DATA, val);
}

static size_t
avail_off(void)
{
	return 16 * (size_t)qsize;
}

static size_t
used_off(void)
{
	return (avail_off() + 6 + 2 * (size_t)qsize + 4095) & ~(size_t)4095;
}

/* Find and set up the first virtio block device; 0 or -1 with *why. */
static int
vblk_init(const char **why)
{
	uint32_t id, bar;
	int dev;

	if (ready)
		return 0;
	for (dev = 0; dev < 32; dev++) {
		id = pci_read(dev, 0);
		if ((id & 0xffff) == VIRTIO_VENDOR &&
		    id >> 16 == VIRTIO_BLK_LEGACY)
			break;
	}
	if (dev == 32) {
		*why = "no virtio block device";
		return -1;
	}
	bar = pci_read(dev, 0x10);
	if ((bar & 1) == 0) {
		*why = "BAR 0 is not I/O";
		return -1;
	}
	if ((bar & ~3u) == 0) {
		/* qboot leaves I/O BARs unassigned: take a free range. */
		pci_write(dev, 0x10, 0xc000u + (uint32_t)dev * 0x100);
		bar = pci_read(dev, 0x10);
	}
	iobase = (uint16_t)(bar & ~3u);
	/* I/O space and bus mastering on. */
	pci_write(dev, 0x04, pci_read(dev, 0x04) | 0x5);
	outb(iobase + VIO_STATUS, 0);
	outb(iobase + VIO_STATUS, ST_ACK);
	outb(iobase + VIO_STATUS, ST_ACK | ST_DRIVER);
	outl(iobase + VIO_GUEST_FEATURES, 0);
	outw(iobase + VIO_QUEUE_SELECT, 0);
	qsize = inw(iobase + VIO_QUEUE_SIZE);
	if (qsize == 0 || qsize > QMAX) {
		*why = "unusable queue size";
		return -1;
	}
	memset(ring, 0, sizeof(ring));
	outl(iobase + VIO_QUEUE_PFN, (uint32_t)(uintptr_t)ring >> 12);
	outb(iobase + VIO_STATUS, ST_ACK | ST_DRIVER | ST_DRIVER_OK);
	ready = 1;
	return 0;
}

/* One request of type on sector 0 through data; 0 or -1 with *why. */
static int
vblk_io(uint32_t type, const char **why)
{
	struct desc *d = (struct desc *)ring;
	volatile uint16_t *avail = (volatile uint16_t *)(ring + avail_off());
	const volatile uint16_t *used = (const volatile uint16_t *)(ring +
	    used_off());
	uint32_t spins;

	req.type = type;
	req.reserved = 0;
	req.sector = 0;
	status = 0xff;
	d[0].addr = (uint32_t)(uintptr_t)&req;
	d[0].len = sizeof(req);
	d[0].flags = DESC_NEXT;
	d[0].next = 1;
	d[1].addr = (uint32_t)(uintptr_t)data;
	d[1].len = SECTOR;
	d[1].flags = DESC_NEXT | (type == BLK_T_IN ? DESC_WRITE : 0);
	d[1].next = 2;
	d[2].addr = (uint32_t)(uintptr_t)&status;
	d[2].len = 1;
	d[2].flags = DESC_WRITE;
	d[2].next = 0;
	avail[2 + avail[1] % qsize] = 0;
	__asm__ volatile("" : : : "memory");
	avail[1] = (uint16_t)(avail[1] + 1);
	__asm__ volatile("" : : : "memory");
	outw(iobase + VIO_QUEUE_NOTIFY, 0);
	for (spins = 0; used[1] == last_used; spins++) {
		if (spins > 2000) {
			*why = "no answer from the device";
			return -1;
		}
		timer_sleepms(1);
	}
	last_used = used[1];
	if (status != 0) {
		*why = "the device refused the request";
		return -1;
	}
	return 0;
}

/*
 * "diskwrite TEXT": TEXT and a newline, zero-padded, as sector 0 of the
 * first virtio disk; prints "diskwrite: ok" or "diskwrite: REASON".
 */
int
vblk_cmd_write(const char *arg)
{
	const char *why;
	size_t n = strlen(arg);

	if (n > SECTOR - 1)
		n = SECTOR - 1;
	memset(data, 0, sizeof(data));
	memcpy(data, arg, n);
	data[n] = '\n';
	if (vblk_init(&why) == -1 || vblk_io(BLK_T_OUT, &why) == -1) {
		con_printf("diskwrite: %s\n", why);
		return -1;
	}
	con_printf("diskwrite: ok\n");
	return -1;
}

/*
 * "diskread": prints "diskread: TEXT", the printable bytes at the start of
 * sector 0 of the first virtio disk (up to the first other byte).
 */
int
vblk_cmd_read(const char *arg)
{
	const char *why;
	size_t n;

	(void)arg;
	if (vblk_init(&why) == -1 || vblk_io(BLK_T_IN, &why) == -1) {
		con_printf("diskread: %s\n", why);
		return -1;
	}
	for (n = 0; n < 64 && data[n] >= 0x20 && data[n] < 0x7f; n++)
		;
	con_printf("diskread: ");
	con_write((const char *)data, n);
	con_printf("\n");
	return -1;
}
