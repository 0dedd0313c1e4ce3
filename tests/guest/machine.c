/*
 * machine.c: the hardware side of rrguest.
 *
 * The console is chosen the way rumprun hw's cons_init() chooses it, from
 * the BIOS data area: the word at physical 0x400 is COM1's I/O port and
 * the word at 0x463 the base port of the CRTC (the video card).  Only
 * when the BIOS names a COM1 port and no CRTC does the guest use the
 * serial port; otherwise it writes to VGA text memory (0xb8000) and
 * nothing at all to serial.  SeaBIOS on a machine without a video device
 * fills 0x400 = 0x3f8, 0x463 = 0; qboot leaves both zero, so under qboot
 * the guest is silent on COM1, exactly like a genuine rumprun image.
 * Like rumprun's locore, the entry code (boot.S) clears the VGA text
 * screen first, whatever the BDA says.
 *
 * The serial port is written by polling the UART, one byte per "transmit
 * holding register empty", with "\n" sent as is (no "\r"), as rumprun's
 * serialcons_putc() does.  Sleeps count down PIT channel 2 with its gate
 * on and poll its output through port 0x61, so they follow the emulated
 * clock under TCG and KVM alike.  Halting prints "halted" and stops the
 * CPU, which is what rumprun does on KVM: the guest never powers off.
 * Also here: what the boot-* commands do before main() (an SSE
 * instruction, a triple fault, a silent hang).  The console's printf and
 * the bits of libc are in lib.c, shared with the Xen guest.
 */

#include "guest.h"

#define BDA_COM1 0x400 /* BIOS data area: COM1 I/O port. */
#define BDA_CRTC 0x463 /* BIOS data area: CRTC base port. */

#define COM_DATA   0 /* Data; divisor low with DLAB. */
#define COM_IER	   1 /* Interrupts; divisor high w/ DLAB. */
#define COM_FCR	   2 /* FIFO control. */
#define COM_LCR	   3 /* Line control. */
#define COM_LSR	   5 /* Line status. */
#define LCR_DLAB   0x80
#define LCR_8N1	   0x03
#define LSR_THRE   0x20 /* Transmit holding register empty. */
#define FCR_ENABLE 0xc7 /* Enable and clear FIFOs. */

#define VGA_TEXT 0xb8000 /* 80x25 text, a byte and an attribute */
#define VGA_COLS 80	 /* per cell. */
#define VGA_ROWS 25
#define VGA_ATTR 0x0700 /* Light grey on black. */

#define PIT_CH2		0x42
#define PIT_MODE	0x43
#define PIT_CH2_MODE0	0xb0 /* Channel 2, lo/hi byte, mode 0. */
#define PORTB		0x61 /* Gate 2 (bit 0), speaker (bit 1), */
#define PORTB_GATE2	0x01 /* and channel 2's output (bit 5). */
#define PORTB_SPKR	0x02
#define PORTB_OUT2	0x20
#define PIT_PER_MS	1193 /* The PIT runs at 1193182 Hz. */
#define PIT_PER_MS_FRAC 182  /* Thousandths of a tick per ms. */
#define PIT_CHUNK_MS	50   /* Fits the 16-bit counter. */

#define CR0_EM	       0x00000004 /* x87/SSE emulation: #UD on SSE. */
#define CR0_MP	       0x00000002
#define CR0_TS	       0x00000008
#define CR4_OSFXSR     0x00000200 /* What rumprun's locore sets too. */
#define CR4_OSXMMEXCPT 0x00000400

static uint16_t com; /* COM1's port, or 0: VGA. */
static int vga_col, vga_row;

/*
 * Reads a 16-bit word of the BIOS data area.  (The empty asm hides the
 * constant address from gcc, which takes any pointer below 4 KiB for a
 * null pointer plus an offset.)
 */
static uint16_t
bda_word(uint32_t addr)
{
	__asm__("" : "+r"(addr));
	return *(volatile const uint16_t *)(uintptr_t)addr;
}

/*
 * Picks the console as rumprun's cons_init() does (or COM1 at 0x3f8 when
 * force_com1, a benchmark knob) and, for a serial console, sets the UART
 * to 115200 baud 8N1 with FIFOs, as its serialcons_init() does.
 */
void
con_init(int force_com1)
{
	if (force_com1)
		com = 0x3f8;
	else if (bda_word(BDA_CRTC) != 0 || bda_word(BDA_COM1) == 0)
		com = 0;
	else
		com = bda_word(BDA_COM1);
	if (com == 0)
		return;
	outb((uint16_t)(com + COM_IER), 0);
	outb((uint16_t)(com + COM_LCR), LCR_DLAB);
	outb((uint16_t)(com + COM_DATA), 1);
	outb((uint16_t)(com + COM_IER), 0);
	outb((uint16_t)(com + COM_LCR), LCR_8N1);
	outb((uint16_t)(com + COM_FCR), FCR_ENABLE);
}

/* Writes a byte to VGA text memory, scrolling at the bottom. */
static void
vga_putc(int c)
{
	volatile uint16_t *cell = (volatile uint16_t *)VGA_TEXT;
	int i;

	if (c == '\n') {
		vga_col = 0;
		vga_row++;
	} else {
		cell[vga_row * VGA_COLS + vga_col] = (uint16_t)(VGA_ATTR |
		    (uint8_t)c);
		if (++vga_col == VGA_COLS) {
			vga_col = 0;
			vga_row++;
		}
	}
	if (vga_row < VGA_ROWS)
		return;
	for (i = 0; i < (VGA_ROWS - 1) * VGA_COLS; i++)
		cell[i] = cell[i + VGA_COLS];
	for (; i < VGA_ROWS * VGA_COLS; i++)
		cell[i] = VGA_ATTR | ' ';
	vga_row = VGA_ROWS - 1;
}

/* Writes a byte to the console con_init() chose. */
void
con_putc(int c)
{
	if (com == 0) {
		vga_putc(c);
		return;
	}
	while ((inb((uint16_t)(com + COM_LSR)) & LSR_THRE) == 0)
		__asm__ volatile("pause");
	outb((uint16_t)(com + COM_DATA), (uint8_t)c);
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
		vnet_poll(); /* the network stack runs on meanwhile */
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
 * Executes one SSE instruction, as rumprun does early in its memory
 * allocator (pxor %xmm0,%xmm0), after enabling SSE the way its locore
 * does (CR4.OSFXSR and OSXMMEXCPT; CR0.EM and TS clear, MP set).  Under
 * TCG and hardware KVM this just runs; the software KVM of our machines
 * cannot emulate it and QEMU stops the guest ("KVM internal error ...
 * emulation failure").
 */
void
boot_sse(void)
{
	uint32_t cr;

	__asm__ volatile("movl %%cr0, %0" : "=r"(cr));
	cr = (cr & ~(uint32_t)(CR0_EM | CR0_TS)) | CR0_MP;
	__asm__ volatile("movl %0, %%cr0" : : "r"(cr));
	__asm__ volatile("movl %%cr4, %0" : "=r"(cr));
	cr |= CR4_OSFXSR | CR4_OSXMMEXCPT;
	__asm__ volatile("movl %0, %%cr4" : : "r"(cr));
	__asm__ volatile("pxor %%xmm0, %%xmm0" : : : "memory");
}

/* Spins for ever with interrupts off, printing nothing. */
void
boot_hang(void)
{
	__asm__ volatile("cli");
	for (;;)
		__asm__ volatile("pause");
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
		uint16_t limit;
		uint32_t base;
	} __attribute__((packed)) noidt = { 0, 0 };

	__asm__ volatile("cli; lidt %0; ud2" : : "m"(noidt));
	for (;;)
		__asm__ volatile("hlt");
}
