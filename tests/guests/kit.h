/* kit.h — the freestanding kit every test guest links: serial console, printf, port I/O, the PVH
 * start info, an ACPI walker, power off / reset / triple fault, and running C code in ring 3.
 *
 * Execution model: the guest starts in ring 0 with interrupts off on one CPU; kit_start() sets up
 * the IDT and TSS, initialises COM1 and calls guest_main().  Ring 0 may be emulated (slow), so
 * guests keep ring-0 work to a few lines of output and move loops into kit_run_user(), where code
 * runs natively with IOPL 3 (port I/O allowed) and every page of the low 4 GiB mapped.  Every kit
 * function works in both rings.  Any CPU exception prints "kit: exception ..." and powers off.
 * Single CPU only: the kit never starts the other processors. */
#pragma once

/* Shared with entry.S. */
#define KIT_SEL_KERNEL_CODE   0x08
#define KIT_SEL_KERNEL_DATA   0x10
#define KIT_SEL_USER_DATA     0x1b /* 0x18 | RPL 3 */
#define KIT_SEL_USER_CODE     0x23 /* 0x20 | RPL 3 */
#define KIT_SEL_TSS           0x28
#define KIT_EXCEPTION_VECTORS 32
#define KIT_KERNEL_STACK_SIZE 16384
#define KIT_USER_STACK_SIZE   65536

#ifndef __ASSEMBLER__

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "x86/layout.h"

/* Each guest defines this; returning from it powers off. */
void guest_main (void);

/* Port I/O (needs ring 0 or IOPL 3, which the kit's ring 3 has). */
static inline void
outb (uint16_t port, uint8_t value)
{
  __asm__ volatile("outb %0, %1" : : "a"(value), "Nd"(port));
}

static inline void
outw (uint16_t port, uint16_t value)
{
  __asm__ volatile("outw %0, %1" : : "a"(value), "Nd"(port));
}

static inline void
outl (uint16_t port, uint32_t value)
{
  __asm__ volatile("outl %0, %1" : : "a"(value), "Nd"(port));
}

static inline uint8_t
inb (uint16_t port)
{
  uint8_t value;
  __asm__ volatile("inb %1, %0" : "=a"(value) : "Nd"(port));
  return value;
}

static inline uint16_t
inw (uint16_t port)
{
  uint16_t value;
  __asm__ volatile("inw %1, %0" : "=a"(value) : "Nd"(port));
  return value;
}

static inline uint32_t
inl (uint16_t port)
{
  uint32_t value;
  __asm__ volatile("inl %1, %0" : "=a"(value) : "Nd"(port));
  return value;
}

static inline void
cpu_pause (void)
{
  __asm__ volatile("pause" ::: "memory");
}

/* Freestanding replacements the compiler may also call on its own. */
void *memset (void *dst, int c, size_t n);
void *memcpy (void *dst, const void *src, size_t n);
void *memmove (void *dst, const void *src, size_t n);
int memcmp (const void *a, const void *b, size_t n);
size_t strlen (const char *s);
size_t kit_strnlen (const char *s, size_t max);

/* Serial console on COM1 (16550, polled).  Bytes go out as given: no "\n" -> "\r\n". */
void kit_putc (char c);
void kit_puts (const char *s);
/* %s %c %d %i %u %x %p %%, with l/ll/z size modifiers, a '0' flag, a field width, and a precision
 * for %s ("%.4s"). */
void kit_printf (const char *fmt, ...) __attribute__ ((format (printf, 1, 2)));
void kit_vprintf (const char *fmt, va_list ap);
/* TRUE and the byte in *c when COM1 has received one; never blocks. */
bool kit_serial_getc (uint8_t *c);

/* PVH boot data (Xen's public/arch-x86/hvm/start_info.h, version 1). */
#define HVM_START_MAGIC 0x336ec578u

struct hvm_start_info
{
  uint32_t magic;
  uint32_t version;
  uint32_t flags;
  uint32_t nr_modules;
  uint64_t modlist_paddr;
  uint64_t cmdline_paddr;
  uint64_t rsdp_paddr;
  uint64_t memmap_paddr;   /* version >= 1 */
  uint32_t memmap_entries; /* version >= 1 */
  uint32_t reserved;
};

struct hvm_modlist_entry
{
  uint64_t paddr;
  uint64_t size;
  uint64_t cmdline_paddr;
  uint64_t reserved;
};

struct hvm_memmap_table_entry
{
  uint64_t addr;
  uint64_t size;
  uint32_t type;
  uint32_t reserved;
};

/* A pointer to [paddr, paddr + len) when that range lies inside the kit's identity map (the low 4
 * GiB) and paddr is not 0; NULL otherwise.  Everything the boot loader hands over goes through
 * this. */
const void *kit_phys (uint64_t paddr, uint64_t len);

/* The start info when %ebx pointed at one with the right magic, else NULL (the kit prints why). */
const struct hvm_start_info *kit_start_info (void);
/* The command line ("" when there is none); at most HV_CMDLINE_MAX - 1 bytes are looked at. */
const char *kit_cmdline (void);
/* The value of the first "key=N" word on the command line (decimal or 0x-hex), or FALSE. */
bool kit_cmdline_u64 (const char *key, uint64_t *value);
/* Memory map and modules, bounds-checked: NULL when absent or out of range. */
const struct hvm_memmap_table_entry *kit_memmap (uint32_t *n_entries);
const struct hvm_modlist_entry *kit_modules (uint32_t *n_modules);

/* ACPI. */
struct acpi_header
{
  char signature[4];
  uint32_t length;
  uint8_t revision;
  uint8_t checksum;
  char oem_id[6];
  char oem_table_id[8];
  uint32_t oem_revision;
  uint32_t creator_id;
  uint32_t creator_revision;
} __attribute__ ((packed));

struct acpi_rsdp
{
  char signature[8]; /* "RSD PTR " */
  uint8_t checksum;  /* over the first 20 bytes */
  char oem_id[6];
  uint8_t revision; /* 0: ACPI 1.0 (RSDT only), 2: has the fields below */
  uint32_t rsdt_address;
  uint32_t length;
  uint64_t xsdt_address;
  uint8_t extended_checksum;
  uint8_t reserved[3];
} __attribute__ ((packed));

/* The bytes sum to zero (mod 256). */
bool kit_acpi_checksum_ok (const void *data, size_t len);
/* The RSDP from the start info, else from the legacy scan (EBDA, 0xE0000-0xFFFFF); NULL if none. */
const struct acpi_rsdp *kit_acpi_rsdp (void);
/* The XSDT (revision >= 2 with an XSDT address) or else the RSDT; NULL if unusable. */
const struct acpi_header *kit_acpi_root (void);
/* Entries of the root table.  An entry whose header is out of range or absurdly long is NULL. */
unsigned kit_acpi_root_count (void);
const struct acpi_header *kit_acpi_root_entry (unsigned i);
/* The first root-table entry with this signature, or NULL. */
const struct acpi_header *kit_acpi_find (const char *signature);
/* The DSDT the FADT points at (X_DSDT preferred), or NULL. */
const struct acpi_header *kit_acpi_dsdt (void);

/* What the FADT says about the fixed-feature PM registers; 0 means absent. */
typedef struct
{
  uint16_t pm1a_evt; /* PM1a_EVT_BLK: PM1_STS, then PM1_EN at + pm1_evt_len / 2 */
  uint16_t pm1b_evt;
  uint16_t pm1a_cnt;
  uint16_t pm1b_cnt;
  uint16_t pm_tmr;
  uint8_t pm1_evt_len;
  uint8_t pm1_cnt_len;
} KitAcpiPm;

bool kit_acpi_pm (KitAcpiPm *pm);
/* SLP_TYPa/b of the DSDT's \_S5 package: "_S5_", PackageOp, then the first two elements. */
bool kit_acpi_s5 (uint8_t *slp_typ_a, uint8_t *slp_typ_b);

#define ACPI_PM1_PWRBTN            (1u << 8) /* PWRBTN_STS in PM1_STS, PWRBTN_EN in PM1_EN */
#define ACPI_PM1_CNT_SLP_EN        (1u << 13)
#define ACPI_PM1_CNT_SLP_TYP_SHIFT 10

/* Machine control. */
/* Enters S5 through PM1a_CNT (and PM1b_CNT); if the machine is still running afterwards it says so
 * on serial and tries an i8042 reset, then a triple fault, so a broken power-off never looks like a
 * hang. */
void kit_poweroff (void) __attribute__ ((noreturn));
/* Pulses the reset line through the i8042 (0xFE to the command port).  Returns if the machine is
 * still running a little while later. */
void kit_reset_i8042 (void);
/* Loads an empty IDT and raises #UD: #UD -> #GP -> #DF -> shutdown.  Called in ring 3, it faults
 * into the kit, which then does it in ring 0. */
void kit_triple_fault (void) __attribute__ ((noreturn));
/* Waits about a second (by the TSC), giving the VMM time to act on a power-off or reset request. */
void kit_settle (void);

/* Ring 3. */
/* Runs fn (arg) in ring 3 (IOPL 3, interrupts off, its own 64 KiB stack) and returns its result.
 * From ring 3 it just calls fn.  A ring-3 function may also end the machine itself (kit_poweroff,
 * port I/O). */
long kit_run_user (long (*fn) (void *), void *arg);
bool kit_in_user (void);

#endif /* __ASSEMBLER__ */
