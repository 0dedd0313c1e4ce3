/*
 * rootfs.c: the boot CD of rrguest, for the _RUMPRUN_ROOTFSCFG= way of
 * configuring a rumprun guest booted from an ISO image.
 *
 * rumprun reads "_RUMPRUN_ROOTFSCFG=PATH" on its command line as: mount
 * the boot medium (cd9660 on /dev/ld0a or /dev/sd0a) on /rootfs, chdir
 * there, and take the file PATH as the configuration.  rrguest does the
 * same with what a plain PC in QEMU gives it: an ATAPI CD-ROM drive on
 * the legacy IDE ports (-cdrom is the secondary master), read by polled
 * PIO, one 2048-byte sector per PACKET command, and an ISO 9660 file
 * system whose names come from Rock Ridge (NM entries) when it has them,
 * else from the ISO 9660 identifiers (case-insensitive, ";1" dropped).
 *
 * Only what the tests need: no interrupts, no DMA, no multi-extent files,
 * no SUSP continuation areas.
 */

#include "guest.h"

#define SECTOR	2048
#define PVD_LBA 16

#define ATA_DATA     0 /* Registers, from the command block base. */
#define ATA_FEATURES 1
#define ATA_COUNT    2
#define ATA_LBA_MID  4 /* ATAPI: byte count, low. */
#define ATA_LBA_HIGH 5 /* ATAPI: byte count, high. */
#define ATA_DRIVE    6
#define ATA_STATUS   7 /* Read: status.  Write: command. */
#define ATA_CMD	     7
#define ATA_CTL_NIEN 0x02 /* Device control: no interrupts. */

#define ST_ERR 0x01
#define ST_DRQ 0x08
#define ST_BSY 0x80

#define CMD_PACKET    0xa0
#define CMD_ID_PACKET 0xa1 /* IDENTIFY PACKET DEVICE. */
#define SCSI_READ10   0x28

#define WAIT_MS 2000 /* For one command; TCG is slow. */
#define SPINS	1000 /* Polls before sleeping a millisecond. */

#define DIR_FLAG_DIR 0x02

struct ide {
	uint16_t base;
	uint16_t ctl;
	uint8_t drive; /* 0xa0 master, 0xb0 slave. */
};

static const struct ide ides[] = {
	{ 0x170, 0x376, 0xa0 }, /* QEMU's -cdrom: secondary master. */
	{ 0x170, 0x376, 0xb0 },
	{ 0x1f0, 0x3f6, 0xa0 },
	{ 0x1f0, 0x3f6, 0xb0 },
};

static const struct ide *cd;
static uint8_t sector[SECTOR];
static uint32_t root_lba, root_size;

static uint32_t
le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	    (uint32_t)p[3] << 24;
}

/* The 400 ns a drive needs after a select: four status reads. */
static void
settle(const struct ide *d)
{
	int i;

	for (i = 0; i < 4; i++)
		(void)inb(d->ctl);
}

/*
 * Waits until BSY is clear and (status & mask) == want; returns the
 * status, or -1 on a time-out or an error.
 */
static int
wait_status(const struct ide *d, uint8_t mask, uint8_t want)
{
	uint32_t ms = 0;
	int spins = 0;
	uint8_t st;

	for (;;) {
		st = inb((uint16_t)(d->base + ATA_STATUS));
		if (st == 0xff)
			return -1; /* Nothing on this channel. */
		if ((st & ST_BSY) == 0) {
			if ((st & ST_ERR) != 0)
				return -1;
			if ((st & mask) == want)
				return st;
		}
		if (++spins < SPINS)
			continue;
		spins = 0;
		if (ms++ == WAIT_MS)
			return -1;
		timer_sleepms(1);
	}
}

static void
select_drive(const struct ide *d)
{
	outb(d->ctl, ATA_CTL_NIEN);
	outb((uint16_t)(d->base + ATA_DRIVE), d->drive);
	settle(d);
}

/* True when d answers IDENTIFY PACKET DEVICE: an ATAPI drive. */
static int
is_atapi(const struct ide *d)
{
	uint8_t st;
	int i;

	select_drive(d);
	st = inb((uint16_t)(d->base + ATA_STATUS));
	if (st == 0xff || st == 0)
		return 0;
	outb((uint16_t)(d->base + ATA_CMD), CMD_ID_PACKET);
	settle(d);
	if (wait_status(d, ST_DRQ, ST_DRQ) == -1)
		return 0;
	for (i = 0; i < 256; i++)
		(void)inw((uint16_t)(d->base + ATA_DATA));
	return 1;
}

/* Reads sector lba of the CD into sector[]; 0 or -1. */
static int
read_once(uint32_t lba)
{
	const struct ide *d = cd;
	uint8_t pkt[12];
	uint32_t n, i;

	memset(pkt, 0, sizeof(pkt));
	pkt[0] = SCSI_READ10;
	pkt[2] = (uint8_t)(lba >> 24);
	pkt[3] = (uint8_t)(lba >> 16);
	pkt[4] = (uint8_t)(lba >> 8);
	pkt[5] = (uint8_t)lba;
	pkt[8] = 1; /* One block. */

	select_drive(d);
	if (wait_status(d, 0, 0) == -1)
		return -1;
	outb((uint16_t)(d->base + ATA_FEATURES), 0); /* PIO. */
	outb((uint16_t)(d->base + ATA_COUNT), 0);
	outb((uint16_t)(d->base + ATA_LBA_MID), SECTOR & 0xff);
	outb((uint16_t)(d->base + ATA_LBA_HIGH), SECTOR >> 8);
	outb((uint16_t)(d->base + ATA_CMD), CMD_PACKET);
	settle(d);
	if (wait_status(d, ST_DRQ, ST_DRQ) == -1)
		return -1;
	for (i = 0; i < sizeof(pkt); i += 2)
		outw((uint16_t)(d->base + ATA_DATA),
		    (uint16_t)(pkt[i] | pkt[i + 1] << 8));
	settle(d);
	if (wait_status(d, ST_DRQ, ST_DRQ) == -1)
		return -1;
	n = (uint32_t)inb((uint16_t)(d->base + ATA_LBA_MID)) |
	    (uint32_t)inb((uint16_t)(d->base + ATA_LBA_HIGH)) << 8;
	if (n != SECTOR)
		return -1;
	for (i = 0; i < SECTOR; i += 2) {
		uint16_t w = inw((uint16_t)(d->base + ATA_DATA));

		sector[i] = (uint8_t)w;
		sector[i + 1] = (uint8_t)(w >> 8);
	}
	settle(d);
	return wait_status(d, ST_DRQ, 0) == -1 ? -1 : 0;
}

/* read_once(), again after a unit attention or a slow start. */
static int
read_sector(uint32_t lba)
{
	int i;

	for (i = 0; i < 3; i++) {
		if (read_once(lba) == 0)
			return 0;
	}
	return -1;
}

int
rootfs_mount(const char **why)
{
	size_t i;

	if (cd != NULL)
		return 0;
	for (i = 0; i < sizeof(ides) / sizeof(ides[0]); i++) {
		if (is_atapi(&ides[i])) {
			cd = &ides[i];
			break;
		}
	}
	if (cd == NULL) {
		*why = "no ATAPI drive on the IDE ports";
		return -1;
	}
	if (read_sector(PVD_LBA) == -1) {
		cd = NULL;
		*why = "cannot read the CD";
		return -1;
	}
	if (sector[0] != 1 || memcmp(sector + 1, "CD001", 5) != 0) {
		cd = NULL;
		*why = "no ISO 9660 primary volume descriptor";
		return -1;
	}
	/* The root directory record, at offset 156 of the descriptor. */
	root_lba = le32(sector + 156 + 2);
	root_size = le32(sector + 156 + 10);
	return 0;
}

/* Upper case of an ASCII letter. */
static int
upper(int c)
{
	return c >= 'a' && c <= 'z' ? c - 'a' + 'A' : c;
}

/*
 * True when the directory record rec (of len bytes) is named name (nlen
 * bytes): by its Rock Ridge NM entries when it has them, else by its ISO
 * 9660 identifier without ";version" and a trailing '.', ignoring case.
 */
static int
rec_is(const uint8_t *rec, uint32_t len, const char *name, uint32_t nlen)
{
	char rr[256];
	uint32_t idlen, su, rrlen = 0, i;
	int has_nm = 0;

	idlen = rec[32];
	su = 33 + idlen + ((idlen & 1) == 0 ? 1 : 0);
	while (su + 4 <= len) {
		uint32_t elen = rec[su + 2];

		if (elen < 4 || su + elen > len)
			break;
		if (rec[su] == 'N' && rec[su + 1] == 'M' && elen >= 5) {
			has_nm = 1;
			for (i = 5; i < elen && rrlen < sizeof(rr); i++)
				rr[rrlen++] = (char)rec[su + i];
		}
		su += elen;
	}
	if (has_nm)
		return rrlen == nlen && memcmp(rr, name, nlen) == 0;
	for (i = 0; i < idlen && rec[33 + i] != ';'; i++)
		;
	if (i > 0 && rec[33 + i - 1] == '.')
		i--;
	if (i != nlen)
		return 0;
	for (i = 0; i < nlen; i++) {
		if (upper(rec[33 + i]) != upper((unsigned char)name[i]))
			return 0;
	}
	return 1;
}

/*
 * Finds name (nlen bytes) in the directory at lba (size bytes); its
 * extent and size go to *flba, *fsize and its flags to *flags.  Returns
 * 0, -1 when it is not there, -2 when the CD cannot be read.
 */
static int
dir_find(uint32_t lba, uint32_t size, const char *name, uint32_t nlen,
    uint32_t *flba, uint32_t *fsize, uint8_t *flags)
{
	uint32_t s, off;

	for (s = 0; s * SECTOR < size; s++) {
		if (read_sector(lba + s) == -1)
			return -2;
		for (off = 0; off + 34 <= SECTOR;) {
			const uint8_t *rec = sector + off;
			uint32_t len = rec[0];

			if (len == 0)
				break; /* The rest of the sector is free. */
			if (len < 34 || off + len > SECTOR)
				return -2;
			if (rec[32] > 0 && !(rec[32] == 1 && rec[33] <= 1) &&
			    rec_is(rec, len, name, nlen)) {
				*flba = le32(rec + 2);
				*fsize = le32(rec + 10);
				*flags = rec[25];
				return 0;
			}
			off += len;
		}
	}
	return -1;
}

int
rootfs_lookup(const char *path, uint32_t *lba, uint32_t *size, const char **why)
{
	uint32_t cur, cursize, nlen;
	uint8_t flags = DIR_FLAG_DIR;
	const char *p = path;

	if (rootfs_mount(why) == -1)
		return -1;
	cur = root_lba;
	cursize = root_size;
	for (;;) {
		while (*p == '/')
			p++;
		if (*p == '\0')
			break;
		if ((flags & DIR_FLAG_DIR) == 0) {
			*why = "not a directory";
			return -1;
		}
		for (nlen = 0; p[nlen] != '\0' && p[nlen] != '/'; nlen++)
			;
		switch (
		    dir_find(cur, cursize, p, nlen, &cur, &cursize, &flags)) {
		case 0:
			break;
		case -1:
			*why = "no such file";
			return -1;
		default:
			*why = "cannot read the CD";
			return -1;
		}
		p += nlen;
	}
	if ((flags & DIR_FLAG_DIR) != 0) {
		*why = "a directory";
		return -1;
	}
	*lba = cur;
	*size = cursize;
	return 0;
}

/* Reads the size bytes of the file at lba into buf (max bytes). */
int
rootfs_read(uint32_t lba, uint32_t size, uint8_t *buf, uint32_t max,
    const char **why)
{
	uint32_t done = 0, n;

	if (size > max) {
		*why = "too long";
		return -1;
	}
	while (done < size) {
		if (read_sector(lba + done / SECTOR) == -1) {
			*why = "cannot read the CD";
			return -1;
		}
		n = size - done < SECTOR ? size - done : SECTOR;
		memcpy(buf + done, sector, n);
		done += n;
	}
	return 0;
}

/* The 32-bit FNV-1a hash of the file at lba of size bytes, into *sum. */
int
rootfs_fold(uint32_t lba, uint32_t size, uint32_t *sum, const char **why)
{
	uint32_t done = 0, n, i, h = 2166136261U;

	while (done < size) {
		if (read_sector(lba + done / SECTOR) == -1) {
			*why = "cannot read the CD";
			return -1;
		}
		n = size - done < SECTOR ? size - done : SECTOR;
		for (i = 0; i < n; i++) {
			h ^= sector[i];
			h *= 16777619U;
		}
		done += n;
	}
	*sum = h;
	return 0;
}
