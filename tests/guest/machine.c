/*
 * machine.c: the hardware side of rrguest.
 *
 * The console is COM1 only, written by polling the UART, with "\n" sent
 * as is (no "\r"), the way rumprun hw writes to a serial console.  Sleeps
 * count down PIT channel 2 with its gate on and poll its output through
 * port 0x61, so they follow the emulated clock under TCG and KVM alike.
 * Halting prints "halted" and stops the CPU with interrupts off, which is
 * what rumprun does on KVM: the guest never powers off.  The printf, panic()
 * and libc bits that need no hardware are in lib.c.
 */

#include "guest.h"

#define COM1		0x3f8
#define COM_DATA	(COM1 + 0)	/* Data; divisor low with DLAB. */
#define COM_IER		(COM1 + 1)	/* Interrupts; divisor high w/ DLAB. */
#define COM_FCR		(COM1 + 2)	/* FIFO control. */
#define COM_LCR		(COM1 + 3)	/* Line control. */
#define COM_MCR		(COM1 + 4)	/* Modem control. */
#define COM_LSR		(COM1 + 5)	/* Line status. */
#define LCR_DLAB	0x80
#define LCR_8N1		0x03
#define LSR_THRE	0x20		/* Transmit holding register empty. */
#define FCR_ENABLE	0xc7		/* Enable and clear FIFOs. */
#define COM_FIFO	16		/* A 16550A's transmit FIFO. */
#define MCR_DTR_RTS	0x03

#define PIT_CH2		0x42
#define PIT_MODE	0x43
#define PIT_CH2_MODE0	0xb0		/* Channel 2, lo/hi byte, mode 0. */
#define PORTB		0x61		/* Gate 2 (bit 0), speaker (bit 1), */
#define PORTB_GATE2	0x01		/* and channel 2's output (bit 5). */
#define PORTB_SPKR	0x02
#define PORTB_OUT2	0x20
#define PIT_PER_MS	1193		/* The PIT runs at 1193182 Hz. */
#define PIT_PER_MS_FRAC	182		/* Thousandths of a tick per ms. */
#define PIT_CHUNK_MS	50		/* Fits the 16-bit counter. */

/* Sets COM1 to 115200 baud, 8N1, FIFOs on, no interrupts. */
void
con_init(void)
{
	outb(COM_IER, 0);
	outb(COM_LCR, LCR_DLAB);
	outb(COM_DATA, 1);
	outb(COM_IER, 0);
	outb(COM_LCR, LCR_8N1);
	outb(COM_FCR, FCR_ENABLE);
	outb(COM_MCR, MCR_DTR_RTS);
}

/*
 * Writes a byte.  Once the transmitter is found empty, its FIFO takes
 * COM_FIFO bytes without asking again: that halves the port accesses,
 * which are VM exits under KVM.
 */
void
con_putc(int c)
{
	static int room;

	if (room == 0) {
		while ((inb(COM_LSR) & LSR_THRE) == 0)
			__asm__ volatile("pause");
		room = COM_FIFO;
	}
	outb(COM_DATA, (uint8_t)c);
	room--;
}

/* Waits until PIT channel 2 has counted count ticks down to zero. */
static void
pit_wait(uint32_t count)
{
	outb(PORTB, (uint8_t)((inb(PORTB) & ~PORTB_SPKR) | PORTB_GATE2));
	outb(PIT_MODE, PIT_CH2_MODE0);
	outb(PIT_CH2, (uint8_t)(count & 0xff));
	outb(PIT_CH2, (uint8_t)(count >> 8));
	while ((inb(PORTB) & PORTB_OUT2) == 0)
		__asm__ volatile("pause");
}

void
timer_sleepms(uint32_t ms)
{
	while (ms > 0) {
		uint32_t chunk = ms < PIT_CHUNK_MS ? ms : PIT_CHUNK_MS;

		pit_wait(chunk * PIT_PER_MS + chunk * PIT_PER_MS_FRAC / 1000);
		ms -= chunk;
	}
}

/* Stops the CPU for good: no interrupt can wake it. */
void
stop(void)
{
	for (;;)
		__asm__ volatile("cli; hlt");
}

/* Prints "halted" and stops, as rumprun hw does on KVM. */
void
halt(void)
{
	con_printf("halted\n");
	stop();
}

/*
 * Resets the machine by a triple fault: with an empty IDT the invalid
 * opcode exception raises #GP, which raises #DF, which shuts the CPU down.
 * QEMU resets it, or exits when started with -no-reboot.  (The software
 * KVM here cannot deliver int3 through an empty IDT and stops the guest
 * with an emulation failure; ud2 works everywhere.)
 */
void
reset(void)
{
	static const struct {
		uint16_t	limit;
		uint32_t	base;
	} __attribute__((packed)) noidt = { 0, 0 };

	__asm__ volatile("cli; lidt %0; ud2" : : "m"(noidt));
	for (;;)
		__asm__ volatile("hlt");
}
