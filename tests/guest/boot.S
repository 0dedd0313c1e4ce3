/*
 * boot.S: the multiboot v1 header and entry point of rrguest.
 *
 * A multiboot loader (QEMU's -kernel) enters _start in 32-bit protected
 * mode with flat segments, paging and interrupts off, %eax holding the
 * boot magic and %ebx the address of the multiboot information.  We clear
 * .bss, switch to our own stack and call guest_main(magic, info), which
 * never returns.
 */

#define MB_MAGIC	0x1badb002
#define MB_FLAGS	0x00000003	/* Page-aligned modules, memory info. */
#define STACK_SIZE	16384

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
	movl	$__bss_start, %edi
	movl	$__bss_end, %ecx
	subl	%edi, %ecx
	xorl	%eax, %eax
	rep stosb
	movl	$stack + STACK_SIZE, %esp
	subl	$8, %esp		/* Keep %esp 16-byte aligned at the call. */
	pushl	%ebx
	pushl	%esi
	call	guest_main
1:	cli
	hlt
	jmp	1b
	.size	_start, . - _start

	.section .bss
	.balign	16
	.lcomm	stack, STACK_SIZE

	.section .note.GNU-stack, "", @progbits
