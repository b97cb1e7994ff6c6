/* entry.S — the guest kit's machine start: PVH note and 32-bit entry, GDT, identity page tables,
 * the switch to long mode, exception stubs, and the ring-0 <-> ring-3 transitions.
 *
 * Ring 0 is emulated instruction by instruction on some hosts (about 1-2 MIPS), so everything that
 * can be data is data: the page tables and GDT are built by the assembler, .bss is zeroed by the
 * ELF loader, and only the handful of instructions that must run in ring 0 do. */

#include "kit.h"

/* PVH: the loader finds the 32-bit physical entry in this note (XEN_ELFNOTE_PHYS32_ENTRY). */
        .section .note.Xen, "a"
        .balign 4
        .long 4                         /* namesz: "Xen\0" */
        .long 4                         /* descsz */
        .long 18                        /* XEN_ELFNOTE_PHYS32_ENTRY */
        .asciz "Xen"
        .long kit_entry32
        .balign 4

/* PVH entry state: 32-bit protected mode, paging off, flat CS/DS/ES/SS, interrupts off, %ebx = the
 * physical address of struct hvm_start_info.  There is no stack yet, so nothing is pushed. */
        .section .text.entry, "ax"
        .code32
        .globl kit_entry32
kit_entry32:
        movl    %ebx, kit_start_info_paddr
        lgdtl   kit_gdt_pointer
        movl    %cr4, %eax
        orl     $0x20, %eax                     /* CR4.PAE */
        movl    %eax, %cr4
        movl    $kit_pml4, %eax
        movl    %eax, %cr3
        movl    $0xc0000080, %ecx               /* IA32_EFER */
        rdmsr
        orl     $0x100, %eax                    /* EFER.LME */
        wrmsr
        movl    %cr0, %eax
        orl     $0x80000001, %eax               /* CR0.PG | CR0.PE */
        movl    %eax, %cr0
        ljmpl   $KIT_SEL_KERNEL_CODE, $kit_entry64

        .code64
kit_entry64:
        movl    $KIT_SEL_KERNEL_DATA, %eax
        movl    %eax, %ds
        movl    %eax, %es
        movl    %eax, %ss
        xorl    %eax, %eax
        movl    %eax, %fs
        movl    %eax, %gs
        leaq    kit_kernel_stack_top(%rip), %rsp
        movl    kit_start_info_paddr(%rip), %edi
        call    kit_start
1:      ud2                                     /* kit_start never returns */
        jmp     1b

/* Exception stubs, 16 bytes apart so that the IDT code can compute vector n's address.  Each pushes
 * a zero where the CPU pushes no error code, then the vector, so kit_exception sees one layout. */
        .set    error_code_vectors, (1 << 8) | (1 << 10) | (1 << 11) | (1 << 12) | (1 << 13)
        .set    error_code_vectors, error_code_vectors | (1 << 14) | (1 << 17) | (1 << 21)
        .set    error_code_vectors, error_code_vectors | (1 << 29) | (1 << 30)

        .text
        .macro  KIT_EXCEPTION_STUB vector
        .balign 16
        .if     ((1 << \vector) & error_code_vectors) == 0
        pushq   $0
        .endif
        pushq   $\vector
        jmp     kit_exception_common
        .endm

        .balign 16
        .globl kit_exception_stubs
kit_exception_stubs:
        .irp    vector, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15
        KIT_EXCEPTION_STUB \vector
        .endr
        .irp    vector, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31
        KIT_EXCEPTION_STUB \vector
        .endr

kit_exception_common:
        movq    %rsp, %rdi                      /* KitExceptionFrame * */
        andq    $-16, %rsp
        call    kit_exception
1:      ud2
        jmp     1b

/* long kit_run_user_asm (long (*fn) (void *), void *arg, void *user_stack_top)
 * Calls fn (arg) in ring 3 with IOPL 3 and interrupts off, and returns what it returns.  The way
 * back is the int3 at kit_user_exit_trap: kit_exception recognises it and calls kit_user_resume,
 * which continues on the kernel stack saved here.  Ring-3 faults also land on that stack, below the
 * saved registers, through TSS.RSP0.  iretq rather than sysret: no MSRs to set up. */
        .globl kit_run_user_asm
kit_run_user_asm:
        pushq   %rbx
        pushq   %rbp
        pushq   %r12
        pushq   %r13
        pushq   %r14
        pushq   %r15
        movq    %rsp, kit_kernel_rsp(%rip)
        movq    %rsp, kit_tss+4(%rip)           /* TSS.RSP0 */
        pushq   $KIT_SEL_USER_DATA
        pushq   %rdx                            /* user stack */
        pushq   $0x3002                         /* RFLAGS: IOPL 3, IF 0 */
        pushq   $KIT_SEL_USER_CODE
        leaq    kit_user_trampoline(%rip), %rax
        pushq   %rax
        iretq

kit_user_trampoline:                            /* ring 3; %rdi = fn, %rsi = arg */
        movq    %rdi, %rax
        movq    %rsi, %rdi
        call    *%rax
        movq    %rax, kit_user_result(%rip)
        .globl kit_user_exit_trap
kit_user_exit_trap:
        int3                                    /* #BP has a DPL-3 gate; see cpu_init */
1:      ud2
        jmp     1b

/* void kit_user_resume (void): back on the kernel stack kit_run_user_asm saved, returning
 * kit_user_result from it.  The trap frame below is simply abandoned. */
        .globl kit_user_resume
kit_user_resume:
        movq    kit_kernel_rsp(%rip), %rsp
        movq    kit_user_result(%rip), %rax
        popq    %r15
        popq    %r14
        popq    %r13
        popq    %r12
        popq    %rbp
        popq    %rbx
        ret

/* GDT: selectors are in kit.h.  The TSS descriptor's base is filled in by cpu_init (kit-cpu.c). */
        .data
        .balign 16
kit_gdt:
        .quad   0                               /* 0x00 null */
        .quad   0x00af9a000000ffff              /* 0x08 ring-0 code, 64-bit */
        .quad   0x00cf92000000ffff              /* 0x10 ring-0 data */
        .quad   0x00cff2000000ffff              /* 0x18 ring-3 data */
        .quad   0x00affa000000ffff              /* 0x20 ring-3 code, 64-bit */
        .globl kit_gdt_tss
kit_gdt_tss:
        .quad   0, 0                            /* 0x28 64-bit TSS (16 bytes) */
kit_gdt_end:

        .balign 8
        .word   0
kit_gdt_pointer:                                /* lgdt operand (32-bit mode reads 6 bytes) */
        .word   kit_gdt_end - kit_gdt - 1
        .quad   kit_gdt

        .balign 4
        .globl kit_start_info_paddr
kit_start_info_paddr:
        .long   0

/* Identity map of the low 4 GiB with 2 MiB pages, present + writable + user, so ring-3 code
 * reaches everything (RAM, the boot data, the ACPI tables). */
        .balign 4096
kit_pml4:
        .quad   kit_pdpt + 0x7
        .fill   511, 8, 0
kit_pdpt:
        .quad   kit_pd + 0x0000 + 0x7
        .quad   kit_pd + 0x1000 + 0x7
        .quad   kit_pd + 0x2000 + 0x7
        .quad   kit_pd + 0x3000 + 0x7
        .fill   508, 8, 0
kit_pd:
        .set    page, 0
        .rept   2048
        .quad   (page << 21) | 0x87             /* present, writable, user, 2 MiB */
        .set    page, page + 1
        .endr

        .bss
        .balign 16
        .globl kit_kernel_rsp
kit_kernel_rsp:
        .quad   0
kit_user_result:
        .quad   0
        .balign 4096
        .skip   KIT_KERNEL_STACK_SIZE
kit_kernel_stack_top:

        .section .note.GNU-stack, "", @progbits
