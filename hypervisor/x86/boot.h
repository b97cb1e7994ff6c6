/* boot.h — kernel loading (PVH ELF, Linux bzImage), the e820 map, and the vCPU state at entry. */
#pragma once

#include "memory.h"

typedef enum
{
  HV_BOOT_PVH,     /* 32-bit protected mode, paging off, %ebx = hvm_start_info */
  HV_BOOT_LINUX64, /* Linux 64-bit boot protocol: long mode, identity-mapped, %rsi = boot_params */
} HvBootProtocol;

/* e820 entry types */
#define HV_E820_RAM      1
#define HV_E820_RESERVED 2
#define HV_E820_ACPI     3

typedef struct
{
  uint64_t addr;
  uint64_t size;
  uint32_t type;
} HvE820Entry;

#define HV_E820_MAX 16

typedef struct
{
  HvE820Entry entries[HV_E820_MAX];
  unsigned n_entries;
} HvE820Map;

/* The map a guest with @mem sees: low RAM, the EBDA/ROM area reserved, RAM up to the hole, high RAM. */
void hv_e820_build (const HvMemory *mem, HvE820Map *map);

/* What the vCPU needs to start the loaded kernel. */
typedef struct
{
  HvBootProtocol protocol;
  uint64_t entry;        /* guest-physical entry point */
  uint64_t boot_data;    /* hvm_start_info (PVH) or boot_params (LINUX64) */
  uint64_t kernel_start; /* loaded image, for messages and tests */
  uint64_t kernel_end;
  uint64_t initrd_start; /* 0 when there is none */
  uint64_t initrd_size;
} HvBootSetup;

typedef struct
{
  const uint8_t *kernel; /* the kernel file's bytes */
  gsize kernel_size;
  const uint8_t *initrd; /* NULL when there is none */
  gsize initrd_size;
  const char *cmdline; /* NULL means empty */
  uint64_t rsdp_addr;  /* guest-physical RSDP, 0 when there are no ACPI tables */
} HvBootImages;

/* Detects the kernel's format, loads it, the initrd and the command line into @mem, and writes the boot
 * data the protocol wants (hvm_start_info + memmap + modlist, or the zero page with e820 and the setup
 * header).  Errors say what the file is and what is supported (HV_ERROR_BAD_IMAGE), or what does not fit
 * and how much memory it needs (HV_ERROR_TOO_LARGE). */
gboolean hv_boot_load (HvMemory *mem, const HvE820Map *map, const HvBootImages *images, HvBootSetup *setup,
                       GError **error);

/* Describes a file that is not a kernel we boot, for error messages: "a gzip archive", "an ELF file for
 * ARM aarch64", "a 32-bit ELF without a PVH entry note", ... */
char *hv_boot_describe_file (const uint8_t *data, gsize size);

/* Writes the GDT, IDT and (for LINUX64) the identity page tables to guest RAM and sets the boot vCPU's
 * registers for @setup.  @vcpu_fd is a KVM vCPU fd. */
gboolean hv_boot_setup_vcpu (int vcpu_fd, HvMemory *mem, const HvBootSetup *setup, GError **error);
/* Puts the boot vCPU at a PC's reset vector, for firmware: real mode, CS base 0xFFFF0000, IP 0xFFF0. */
gboolean hv_boot_setup_vcpu_reset (int vcpu_fd, GError **error);
