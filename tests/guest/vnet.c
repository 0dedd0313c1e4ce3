/*
 * vnet.c: legacy virtio-net (virtio PCI, I/O BAR 0), polled, and the DHCP
 * client rumprun runs for a "net" entry with "method": "dhcp" while it
 * reads its configuration, before main().
 *
 * Interfaces are named as rumprun's NetBSD names virtio NICs: vioif0 is
 * the first virtio network device in PCI slot order on bus 0, vioif1 the
 * second, and so on.  Each one is set up when the configuration first
 * asks for DHCP on it: status ACK, DRIVER, the MAC feature only, queue 0
 * (receive) filled with RXBUFS buffers, queue 1 (transmit) used one frame
 * at a time, DRIVER_OK.  No interrupts: the receive queue is polled.
 *
 * DHCP as rumprun's rump_netconfig_dhcp_ipv4_oneshot() does it: up to 10
 * DISCOVERs, each followed by a wait of up to 5 s for an answer with our
 * transaction id (printing "dhcp get: timed out waiting for response."
 * after each silent wait), then up to 10 REQUESTs for the offered address
 * the same way; an answer of the wrong kind prints "dhcp: got NAK from dhcp
 * server" / "dhcp: didn't receive offer" / "dhcp: didn't receive ack" and
 * counts as a try.  All tries used: rumprun's
 * errx(1, "configuring dhcp for IF failed: 49") (49 is NetBSD's
 * EADDRNOTAVAIL, what the oneshot returns then).  An interface that does
 * not exist: "cannot init IF (6)" then the same errx with 6 (ENXIO).
 *
 * Once an interface has its address, vnet_poll() (called from the
 * timer's sleeps) answers ARP requests for it, so that the host's
 * neighbour table learns the guest, as it does for a genuine image whose
 * network stack runs on while main() waits.  Nothing else is answered.
 *
 * Memory is identity-mapped (no paging): a buffer's address is its
 * physical address.
 */
#include "guest.h"

#define PCI_ADDR	  0xcf8
#define PCI_DATA	  0xcfc
#define VIRTIO_VENDOR	  0x1af4
#define VIRTIO_NET_LEGACY 0x1000

#define VIO_HOST_FEATURES  0x00
#define VIO_GUEST_FEATURES 0x04
#define VIO_QUEUE_PFN	   0x08
#define VIO_QUEUE_SIZE	   0x0c
#define VIO_QUEUE_SELECT   0x0e
#define VIO_QUEUE_NOTIFY   0x10
#define VIO_STATUS	   0x12
#define VIO_NET_MAC	   0x14 /* device config without MSI-X */

#define F_MAC	     (1u << 5)
#define ST_ACK	     1
#define ST_DRIVER    2
#define ST_DRIVER_OK 4
#define DESC_WRITE   2

#define NIC_MAX	   8
#define QMAX	   256
#define RING_BYTES (3 * 4096) /* a legacy ring of QMAX entries */
#define RXBUFS	   8
#define BUFSZ	   2048
#define HDR	   10 /* struct virtio_net_hdr */

#define ETH_IP	0x0800
#define ETH_ARP 0x0806

#define DHCP_DISCOVER  1
#define DHCP_OFFER     2
#define DHCP_REQUEST   3
#define DHCP_ACK       5
#define DHCP_NAK       6
#define MAXTRIES       10
#define RESPWAIT_MS    5000
#define WAIT_STEP_MS   50
#define E_NXIO	       6
#define E_ADDRNOTAVAIL 49

struct desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
	uint16_t next;
} __attribute__((packed));

struct vq {
	uint8_t *ring;
	uint16_t size;
	uint16_t last_used;
};

struct nic {
	int found; /* a device in this slot of the order */
	int dev;   /* PCI device number */
	int up;	   /* set up */
	uint16_t iobase;
	uint8_t mac[6];
	uint32_t addr; /* host order; 0 until DHCP ended */
	struct vq rx, tx;
};

static struct nic nics[NIC_MAX];
static int nnics = -1;
static uint8_t rings[NIC_MAX][2][RING_BYTES] __attribute__((aligned(4096)));
static uint8_t rxbuf[NIC_MAX][RXBUFS][BUFSZ] __attribute__((aligned(16)));
static uint8_t txbuf[BUFSZ] __attribute__((aligned(16)));
static uint8_t frame[BUFSZ];
static uint32_t xid_seq;
static int polling;

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

static uint16_t
get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t
get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | p[3];
}

static void
put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void
put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/* The virtio network devices of bus 0, in slot order. */
static void
scan(void)
{
	uint32_t id;
	int dev;

	if (nnics >= 0)
		return;
	nnics = 0;
	for (dev = 0; dev < 32 && nnics < NIC_MAX; dev++) {
		id = pci_read(dev, 0);
		if ((id & 0xffff) != VIRTIO_VENDOR ||
		    id >> 16 != VIRTIO_NET_LEGACY)
			continue;
		nics[nnics].found = 1;
		nics[nnics].dev = dev;
		nnics++;
	}
}

static size_t
avail_off(const struct vq *q)
{
	return 16 * (size_t)q->size;
}

static size_t
used_off(const struct vq *q)
{
	return (avail_off(q) + 6 + 2 * (size_t)q->size + 4095) & ~(size_t)4095;
}

static int
setup_queue(struct nic *n, int idx, struct vq *q, uint8_t *mem)
{
	outw(n->iobase + VIO_QUEUE_SELECT, (uint16_t)idx);
	q->size = inw(n->iobase + VIO_QUEUE_SIZE);
	if (q->size == 0 || q->size > QMAX)
		return -1;
	q->ring = mem;
	q->last_used = 0;
	memset(mem, 0, RING_BYTES);
	outl(n->iobase + VIO_QUEUE_PFN, (uint32_t)(uintptr_t)mem >> 12);
	return 0;
}

/* Hand receive buffer i of nic k to the device. */
static void
rx_give(int k, uint16_t i)
{
	struct nic *n = &nics[k];
	struct desc *d = (struct desc *)n->rx.ring;
	volatile uint16_t *avail = (volatile uint16_t *)(n->rx.ring +
	    avail_off(&n->rx));

	d[i].addr = (uint32_t)(uintptr_t)rxbuf[k][i];
	d[i].len = BUFSZ;
	d[i].flags = DESC_WRITE;
	d[i].next = 0;
	avail[2 + avail[1] % n->rx.size] = i;
	__asm__ volatile("" : : : "memory");
	avail[1] = (uint16_t)(avail[1] + 1);
}

static int
nic_init(int k)
{
	struct nic *n = &nics[k];
	uint32_t bar, feat;
	uint16_t i;

	if (n->up)
		return 0;
	bar = pci_read(n->dev, 0x10);
	if ((bar & 1) == 0)
		return -1;
	if ((bar & ~3u) == 0) {
		/* qboot leaves I/O BARs unassigned: take a free range. */
		pci_write(n->dev, 0x10, 0xc000u + (uint32_t)n->dev * 0x100);
		bar = pci_read(n->dev, 0x10);
	}
	n->iobase = (uint16_t)(bar & ~3u);
	pci_write(n->dev, 0x04, pci_read(n->dev, 0x04) | 0x5);
	outb(n->iobase + VIO_STATUS, 0);
	outb(n->iobase + VIO_STATUS, ST_ACK);
	outb(n->iobase + VIO_STATUS, ST_ACK | ST_DRIVER);
	feat = inl(n->iobase + VIO_HOST_FEATURES);
	outl(n->iobase + VIO_GUEST_FEATURES, feat & F_MAC);
	if ((feat & F_MAC) == 0)
		return -1;
	for (i = 0; i < 6; i++)
		n->mac[i] = inb(n->iobase + VIO_NET_MAC + i);
	if (setup_queue(n, 0, &n->rx, rings[k][0]) == -1 ||
	    setup_queue(n, 1, &n->tx, rings[k][1]) == -1)
		return -1;
	for (i = 0; i < RXBUFS; i++)
		rx_give(k, i);
	outb(n->iobase + VIO_STATUS, ST_ACK | ST_DRIVER | ST_DRIVER_OK);
	outw(n->iobase + VIO_QUEUE_NOTIFY, 0);
	n->up = 1;
	return 0;
}

/* Send the len-byte Ethernet frame in frame[] on nic k. */
static void
tx_send(int k, size_t len)
{
	struct nic *n = &nics[k];
	struct desc *d = (struct desc *)n->tx.ring;
	volatile uint16_t *avail = (volatile uint16_t *)(n->tx.ring +
	    avail_off(&n->tx));
	const volatile uint16_t *used = (const volatile uint16_t *)(n->tx.ring +
	    used_off(&n->tx));
	uint32_t spins;

	memset(txbuf, 0, HDR);
	memcpy(txbuf + HDR, frame, len);
	d[0].addr = (uint32_t)(uintptr_t)txbuf;
	d[0].len = (uint32_t)(HDR + len);
	d[0].flags = 0;
	d[0].next = 0;
	avail[2 + avail[1] % n->tx.size] = 0;
	__asm__ volatile("" : : : "memory");
	avail[1] = (uint16_t)(avail[1] + 1);
	__asm__ volatile("" : : : "memory");
	outw(n->iobase + VIO_QUEUE_NOTIFY, 1);
	/* The buffer is reused: wait until the device has taken it. */
	for (spins = 0; used[1] == n->tx.last_used && spins < 1000000; spins++)
		__asm__ volatile("pause");
	n->tx.last_used = used[1];
}

/*
 * The next received frame of nic k into frame[]: its length, or 0 when
 * none is waiting.
 */
static size_t
rx_next(int k)
{
	struct nic *n = &nics[k];
	const volatile uint16_t *used = (const volatile uint16_t *)(n->rx.ring +
	    used_off(&n->rx));
	const volatile uint32_t *elem;
	uint32_t id, len;

	if (used[1] == n->rx.last_used)
		return 0;
	__asm__ volatile("" : : : "memory");
	elem = (const volatile uint32_t *)(used + 2) +
	    2 * (n->rx.last_used % n->rx.size);
	id = elem[0];
	len = elem[1];
	n->rx.last_used++;
	if (id >= RXBUFS)
		return 0;
	len = len > HDR ? len - HDR : 0;
	if (len > sizeof(frame))
		len = sizeof(frame);
	memcpy(frame, rxbuf[k][id] + HDR, len);
	rx_give(k, (uint16_t)id);
	outw(n->iobase + VIO_QUEUE_NOTIFY, 0);
	return len;
}

static uint16_t
ip_sum(const uint8_t *p, size_t len)
{
	uint32_t s = 0;
	size_t i;

	for (i = 0; i + 1 < len; i += 2)
		s += get16(p + i);
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)~s;
}

static uint32_t
rdtsc32(void)
{
	uint32_t lo, hi;

	__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
	return lo ^ hi;
}

/*
 * A DHCP message of type on nic k, broadcast from 0.0.0.0:68 to
 * 255.255.255.255:67; REQUEST names want and server.
 */
static void
dhcp_send(int k, int type, uint32_t xid, uint32_t want, uint32_t server)
{
	struct nic *n = &nics[k];
	uint8_t *ip = frame + 14, *udp = ip + 20, *bp = udp + 8, *o;
	size_t blen, i;

	memset(frame, 0, sizeof(frame));
	memset(frame, 0xff, 6);
	memcpy(frame + 6, n->mac, 6);
	put16(frame + 12, ETH_IP);
	bp[0] = 1; /* BOOTREQUEST */
	bp[1] = 1; /* Ethernet */
	bp[2] = 6;
	put32(bp + 4, xid);
	memcpy(bp + 28, n->mac, 6);
	put32(bp + 236, 0x63825363);
	o = bp + 240;
	*o++ = 53;
	*o++ = 1;
	*o++ = (uint8_t)type;
	*o++ = 61;
	*o++ = 7;
	*o++ = 1;
	for (i = 0; i < 6; i++)
		*o++ = n->mac[i];
	if (type == DHCP_REQUEST) {
		*o++ = 50;
		*o++ = 4;
		put32(o, want);
		o += 4;
		if (server != 0) {
			*o++ = 54;
			*o++ = 4;
			put32(o, server);
			o += 4;
		}
	}
	*o++ = 55;
	*o++ = 3;
	*o++ = 1;
	*o++ = 3;
	*o++ = 6;
	*o++ = 255;
	blen = (size_t)(o - bp);
	if (blen < 300)
		blen = 300; /* BOOTP's minimum */
	put16(udp, 68);
	put16(udp + 2, 67);
	put16(udp + 4, (uint16_t)(8 + blen));
	ip[0] = 0x45;
	put16(ip + 2, (uint16_t)(20 + 8 + blen));
	put16(ip + 4, (uint16_t)xid);
	ip[8] = 64;
	ip[9] = 17;
	put32(ip + 16, 0xffffffffu);
	put16(ip + 10, ip_sum(ip, 20));
	tx_send(k, 14 + 20 + 8 + blen);
}

/* Answer an ARP request in frame[] for nic k's address. */
static void
arp_answer(int k, size_t len)
{
	struct nic *n = &nics[k];
	uint8_t *a = frame + 14;
	uint8_t sha[6];
	uint32_t spa;

	if (n->addr == 0 || len < 14 + 28 || get16(a) != 1 ||
	    get16(a + 2) != ETH_IP || get16(a + 6) != 1 ||
	    get32(a + 24) != n->addr)
		return;
	memcpy(sha, a + 8, 6);
	spa = get32(a + 14);
	memcpy(frame, sha, 6);
	memcpy(frame + 6, n->mac, 6);
	put16(a + 6, 2);
	memcpy(a + 8, n->mac, 6);
	put32(a + 14, n->addr);
	memcpy(a + 18, sha, 6);
	put32(a + 24, spa);
	tx_send(k, 14 + 28);
}

/*
 * A DHCP answer with xid in frame[] (len bytes): its message type, with
 * *yiaddr, *server, *mask and *gw filled in; 0 when frame[] is something
 * else.
 */
static int
dhcp_parse(size_t len, uint32_t xid, uint32_t *yiaddr, uint32_t *server,
    uint32_t *mask, uint32_t *gw)
{
	const uint8_t *ip = frame + 14, *udp, *bp, *o, *end;
	size_t ihl;
	int type = 0;

	if (len < 14 + 20 || get16(frame + 12) != ETH_IP || (ip[0] >> 4) != 4 ||
	    ip[9] != 17)
		return 0;
	ihl = (size_t)(ip[0] & 0xf) * 4;
	udp = ip + ihl;
	bp = udp + 8;
	if ((size_t)(bp - frame) + 240 > len || get16(udp + 2) != 68 ||
	    bp[0] != 2 || get32(bp + 4) != xid || get32(bp + 236) != 0x63825363)
		return 0;
	*yiaddr = get32(bp + 16);
	end = frame + len;
	for (o = bp + 240; o < end && *o != 255;) {
		if (*o == 0) {
			o++;
			continue;
		}
		if (o + 2 > end || o + 2 + o[1] > end)
			break;
		if (o[0] == 53 && o[1] == 1)
			type = o[2];
		else if (o[0] == 54 && o[1] == 4)
			*server = get32(o + 2);
		else if (o[0] == 1 && o[1] == 4)
			*mask = get32(o + 2);
		else if (o[0] == 3 && o[1] >= 4)
			*gw = get32(o + 2);
		o += 2 + o[1];
	}
	return type;
}

/*
 * Wait up to RESPWAIT_MS for a DHCP answer with xid on nic k (answering
 * ARP meanwhile): its type, or 0 after "dhcp get: timed out ...".
 */
static int
dhcp_wait(int k, uint32_t xid, uint32_t *yiaddr, uint32_t *server,
    uint32_t *mask, uint32_t *gw)
{
	uint32_t ms;
	size_t len;
	int type;

	/*
	 * In steps of WAIT_STEP_MS: a sleep of 1 ms costs several under this
	 * machine's software KVM (PIT programming exits), 50 ms ones do not
	 * add up to much more than they say.
	 */
	for (ms = 0; ms < RESPWAIT_MS; ms += WAIT_STEP_MS) {
		while ((len = rx_next(k)) != 0) {
			type = dhcp_parse(len, xid, yiaddr, server, mask, gw);
			if (type != 0)
				return type;
		}
		timer_sleepms(WAIT_STEP_MS);
	}
	con_printf("dhcp get: timed out waiting for response.\n");
	return 0;
}

static void
print_ip(const char *what, uint32_t a)
{
	con_printf("%s%u.%u.%u.%u", what, a >> 24, (a >> 16) & 255,
	    (a >> 8) & 255, a & 255);
}

static unsigned int
prefix_of(uint32_t mask)
{
	unsigned int p = 0;

	while (mask & 0x80000000u) {
		p++;
		mask <<= 1;
	}
	return p;
}

static uint32_t nic_mask[NIC_MAX], nic_gw[NIC_MAX];

/* The index of the interface named name (len bytes), or -1. */
static int
nic_by_name(const char *name, int len)
{
	int k = 0, i;

	if (len < 6 || memcmp(name, "vioif", 5) != 0)
		return -1;
	for (i = 5; i < len; i++) {
		if (name[i] < '0' || name[i] > '9' || k > NIC_MAX)
			return -1;
		k = k * 10 + (name[i] - '0');
	}
	if (len > 6 && name[5] == '0')
		return -1;
	scan();
	return k < nnics ? k : -1;
}

void
vnet_dhcp(const char *name, int len)
{
	uint32_t xid, yiaddr = 0, server = 0, mask = 0, gw = 0;
	int k, tries, type = 0;

	k = nic_by_name(name, len);
	if (k == -1 || nic_init(k) == -1) {
		con_printf("cannot init %.*s (%d)\n", len, name, E_NXIO);
		errx1("configuring dhcp for %.*s failed: %d", len, name,
		    E_NXIO);
	}
	xid = rdtsc32() ^ (++xid_seq << 24);
	for (tries = 0; type != DHCP_OFFER && tries < MAXTRIES; tries++) {
		dhcp_send(k, DHCP_DISCOVER, xid, 0, 0);
		type = dhcp_wait(k, xid, &yiaddr, &server, &mask, &gw);
		if (type == DHCP_NAK)
			con_printf("dhcp: got NAK from dhcp server\n");
		else if (type != 0 && type != DHCP_OFFER)
			con_printf("dhcp: didn't receive offer\n");
	}
	if (type != DHCP_OFFER)
		errx1("configuring dhcp for %.*s failed: %d", len, name,
		    E_ADDRNOTAVAIL);
	for (tries = 0, type = 0; type != DHCP_ACK && tries < MAXTRIES;
	     tries++) {
		uint32_t y = 0, s = 0;

		dhcp_send(k, DHCP_REQUEST, xid, yiaddr, server);
		type = dhcp_wait(k, xid, &y, &s, &mask, &gw);
		if (type != 0 && type != DHCP_ACK)
			con_printf("dhcp: didn't receive ack\n");
	}
	if (type != DHCP_ACK)
		errx1("configuring dhcp for %.*s failed: %d", len, name,
		    E_ADDRNOTAVAIL);
	nics[k].addr = yiaddr;
	nic_mask[k] = mask;
	nic_gw[k] = gw;
}

/* Answer what is waiting on the configured interfaces (ARP only). */
void
vnet_poll(void)
{
	size_t len;
	int k;

	if (polling || nnics <= 0)
		return;
	polling = 1;
	for (k = 0; k < nnics; k++) {
		if (!nics[k].up || nics[k].addr == 0)
			continue;
		while ((len = rx_next(k)) != 0)
			if (get16(frame + 12) == ETH_ARP)
				arp_answer(k, len);
	}
	polling = 0;
}

/* True when an interface has an address (vnet_poll() has work). */
int
vnet_active(void)
{
	int k;

	for (k = 0; k < nnics; k++)
		if (nics[k].addr != 0)
			return 1;
	return 0;
}

/*
 * "ifaddr": prints "ifaddr vioifK A.B.C.D/P" (and " gw G" when the server
 * named a router) per interface DHCP configured, or "ifaddr none".
 */
int
vnet_cmd_ifaddr(const char *arg)
{
	int k, any = 0;

	(void)arg;
	for (k = 0; k < nnics; k++) {
		if (nics[k].addr == 0)
			continue;
		any = 1;
		con_printf("ifaddr vioif%d ", k);
		print_ip("", nics[k].addr);
		con_printf("/%u", prefix_of(nic_mask[k]));
		if (nic_gw[k] != 0)
			print_ip(" gw ", nic_gw[k]);
		con_printf("\n");
	}
	if (!any)
		con_printf("ifaddr none\n");
	return -1;
}
