/* layout.h — every guest-physical address and port the x86 machine uses, in one place. */
#pragma once

/* Guest-physical memory map. */
#define HV_LOW_RAM_MAX      0xC0000000ull /* RAM below the 32-bit hole ends here at the latest */
#define HV_MMIO32_START     0xC0000000ull /* PCI 32-bit MMIO window ... */
#define HV_MMIO32_END       0xFEC00000ull /* ... up to the IOAPIC */
#define HV_IOAPIC_ADDR      0xFEC00000ull
#define HV_LAPIC_ADDR       0xFEE00000ull
#define HV_KVM_IDENTITY_MAP 0xFFFBC000ull  /* one page for KVM_SET_IDENTITY_MAP_ADDR */
#define HV_KVM_TSS          0xFFFBD000ull  /* three pages for KVM_SET_TSS_ADDR */
#define HV_HIGH_RAM_START   0x100000000ull /* RAM above the hole continues at 4 GiB */
#define HV_4GIB             0x100000000ull /* firmware images end here (the reset vector is 16 below) */
/* With firmware (which may reach down to 0xFF000000), KVM's pages go where QEMU puts them. */
#define HV_KVM_IDENTITY_MAP_FIRMWARE  0xFEFFC000ull
#define HV_KVM_TSS_FIRMWARE           0xFEFFD000ull
#define HV_KVM_PAGES_FIRMWARE_SIZE    0x4000ull
#define HV_BIOS_LOW_END               0x100000ull /* a BIOS's last 128 KiB also show below 1 MiB ... */
#define HV_BIOS_LOW_SIZE              0x20000ull  /* ... at 0xE0000 */
#define HV_FIRMWARE_BOOT_FAIL_WAIT_MS 5000        /* nothing to boot: the firmware retries after this */

/* Low memory used while booting (all below 1 MiB). */
#define HV_BOOT_GDT       0x500ull  /* boot GDT: null, null, code64 (0x10), data (0x18), tss (0x20) */
#define HV_BOOT_IDT       0x520ull  /* an empty IDT */
#define HV_PVH_START_INFO 0x6000ull /* struct hvm_start_info */
#define HV_PVH_MODLIST    0x6040ull /* struct hvm_modlist_entry[] (the initrd) */
#define HV_PVH_MEMMAP     0x6100ull /* struct hvm_memmap_table_entry[] */
#define HV_PVH_MEMMAP_MAX 64
#define HV_ZERO_PAGE      0x7000ull /* Linux boot_params */
#define HV_BOOT_STACK     0x8ff0ull
#define HV_PML4           0x9000ull /* identity page tables for the 64-bit entry: 4 GiB of 2 MiB pages */
#define HV_PDPT           0xA000ull
#define HV_PD             0xB000ull /* four pages, 0xB000..0xEFFF */
#define HV_CMDLINE        0x20000ull
#define HV_CMDLINE_MAX    4096       /* bytes including the NUL */
#define HV_EBDA_START     0x9FC00ull /* RAM ends here in the first MiB */
#define HV_ACPI_START     0xE0000ull /* RSDP (where legacy scans look) and the tables after it */
#define HV_ACPI_END       0x100000ull
#define HV_HIMEM_START    0x100000ull /* kernels load at or above 1 MiB */

/* Port I/O. */
#define HV_PORT_I8042_DATA   0x60
#define HV_PORT_I8042_CMD    0x64
#define HV_PORT_RTC          0x70  /* 0x70 index, 0x71 data */
#define HV_RTC_CENTURY       0x32  /* CMOS register holding the century (FADT CENTURY) */
#define HV_PORT_POST         0x80  /* POST/io_delay port: writes are ignored */
#define HV_PORT_ACPI_PM      0x600 /* PM1a_EVT (4), PM1a_CNT (2), pad, PM_TMR (4), RESET (1) */
#define HV_PORT_ACPI_PM1_EVT 0x600
#define HV_PORT_ACPI_PM1_CNT 0x604
#define HV_PORT_ACPI_PM_TMR  0x608
#define HV_PORT_ACPI_RESET   0x60C
#define HV_PORT_ACPI_PM_LEN  0x10
#define HV_PORT_PCI_CONF     0xCF8 /* 0xCF8 address, 0xCFC..0xCFF data */
#define HV_PORT_COM1         0x3F8
#define HV_PORT_COM2         0x2F8
#define HV_PORT_BOCHS_DISPI  0x1CE /* Bochs VBE DISPI: 0x1CE index, 0x1CF data (16-bit) */

/* Interrupt lines (GSIs of the in-kernel PIC/IOAPIC). */
#define HV_IRQ_TIMER     0 /* ISA IRQ 0, which the IOAPIC sees on pin 2 */
#define HV_IRQ_KEYBOARD  1
#define HV_IRQ_COM2      3
#define HV_IRQ_COM1      4
#define HV_IRQ_RTC       8
#define HV_IRQ_SCI       9 /* ACPI SCI: level, active high */
#define HV_IRQ_MOUSE     12
#define HV_IRQ_PCI_FIRST 16 /* PCI INTx lines 16..23 */
#define HV_IOAPIC_PINS   24
/* The GSI of PCI slot @slot's interrupt pin @pin (0 = INTA): the swizzle the DSDT's _PRT describes. */
#define HV_PCI_INTX_GSI(slot, pin) (HV_IRQ_PCI_FIRST + ((slot) + (pin)) % 8)

/* ACPI PM1 values shared by the tables and the PM device. */
#define HV_ACPI_SLP_TYP_S5  5    /* the value in the DSDT's _S5 package */
#define HV_ACPI_RESET_VALUE 0x01 /* written to HV_PORT_ACPI_RESET to reset */
