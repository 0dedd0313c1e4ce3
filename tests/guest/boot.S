/*
 * boot.S: the multiboot v1 header and entry point of rrguest.
 *
 * A multiboot loader (QEMU's -kernel, GRUB) enters _start in 32-bit
 * protected mode with flat segments, paging and interrupts off, %eax
 * holding the boot magic and %ebx the address of the multiboot
 * information.  As rumprun's locore does, we first blank the VGA text
 * screen (whatever the machine has there), and without the multiboot
 * magic write "not multibooted, halting!" to it and stop, silent on the
 * serial port.  Then we clear .bss, switch to our own stack and call
 * guest_main(info), which never returns.
 */

#define MB_MAGIC	0x1badb002
#define MB_FLAGS	0x00000003	/* Page-aligned modules, memory info. */
#define MB_BOOT_MAGIC	0x2badb002	/* What the loader passes in %eax. */
#define STACK_SIZE	16384
#define VGA_TEXT	0xb8000
#define VGA_CELLS	(80 * 25)

	.section .multiboot, "a"
	.balign 4
	.long	MB_MAGIC
	.long	MB_FLAGS
	.long	-(MB_MAGIC + MB_FLAGS)

	.text
	.globl	_start
	.type	_start, @function
_start:
	cli
	cld
	movl	%eax, %esi		/* Keep the boot magic. */
	movl	$VGA_TEXT, %edi		/* Blank the screen, as rumprun does. */
	movl	$VGA_CELLS, %ecx
	movw	$0x20, %ax
	rep stosw
	cmpl	$MB_BOOT_MAGIC, %esi
	jne	nomultiboot
	movl	$__bss_start, %edi
	movl	$__bss_end, %ecx
	subl	%edi, %ecx
	xorl	%eax, %eax
	rep stosb
	movl	$stack + STACK_SIZE, %esp
	subl	$12, %esp		/* Keep %esp 16-byte aligned at the call. */
	pushl	%ebx
	call	guest_main
	jmp	haltme

nomultiboot:
	movl	$nomultimsg, %ebx
	movl	$VGA_TEXT, %ecx
1:	movsbl	(%ebx), %eax
	testb	%al, %al
	je	haltme
	orl	$0x500, %eax
	movw	%ax, (%ecx)
	incl	%ebx
	addl	$2, %ecx
	jmp	1b

haltme:
	cli
	hlt
	jmp	haltme
	.size	_start, . - _start

	.section .rodata
nomultimsg:
	.asciz	"not multibooted, halting!"

	.section .bss
	.balign	16
	.lcomm	stack, STACK_SIZE

	.section .note.GNU-stack, "", @progbits
