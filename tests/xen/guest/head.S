/*
 * head.S: the Xen ELF notes and the entry point of rrxenguest, a 64-bit
 * PV kernel.
 *
 * Xen's domain builder reads the notes (a PT_NOTE segment of "Xen"
 * notes): the image is mapped at virtual address 0 (VIRT_BASE and
 * PADDR_OFFSET 0, so that a virtual address is the pseudo-physical
 * address), entered at _start, and Xen fills hypercall_page with the
 * hypercall stubs.  A generic loader and "xen-3.0" are what Xen requires
 * of a non-Linux PV kernel.  At _start, %rsi holds the address of the
 * start_info page; paging is on with the image, the start_info page, the
 * xenstore and console pages and the boot page tables mapped.  We switch
 * to our own stack and call xen_main(start_info), which never returns.
 */

#include <xen/elfnote.h>

#define STACK_SIZE	32768

#define NOTE(type, desc)			\
	.balign 4;				\
	.long	2f - 1f;			\
	.long	4f - 3f;			\
	.long	type;				\
1:	.asciz	"Xen";				\
2:	.balign 4;				\
3:	desc;					\
4:	.balign 4

	.section .note.Xen, "a", @note
	NOTE(XEN_ELFNOTE_GUEST_OS, .asciz "rrxenguest")
	NOTE(XEN_ELFNOTE_GUEST_VERSION, .asciz "1")
	NOTE(XEN_ELFNOTE_XEN_VERSION, .asciz "xen-3.0")
	NOTE(XEN_ELFNOTE_LOADER, .asciz "generic")
	NOTE(XEN_ELFNOTE_VIRT_BASE, .quad 0)
	NOTE(XEN_ELFNOTE_PADDR_OFFSET, .quad 0)
	NOTE(XEN_ELFNOTE_ENTRY, .quad _start)
	NOTE(XEN_ELFNOTE_HYPERCALL_PAGE, .quad hypercall_page)

	.text
	.globl	_start
	.type	_start, @function
_start:
	cld
	leaq	stack + STACK_SIZE(%rip), %rsp
	movq	%rsi, %rdi
	call	xen_main
1:	ud2
	jmp	1b
	.size	_start, . - _start

	.section .text.hypercall, "ax", @progbits
	.balign	4096
	.globl	hypercall_page
hypercall_page:
	.fill	4096, 1, 0xcc

	.section .bss
	.balign	16
	.lcomm	stack, STACK_SIZE

	.section .note.GNU-stack, "", @progbits
