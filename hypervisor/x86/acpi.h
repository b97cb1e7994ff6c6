/* acpi.h — the ACPI tables the guest firmware interface offers: RSDP, XSDT, FADT (+FACS), MADT, DSDT. */
#pragma once

#include "memory.h"

/* Where the tables go after the RSDP in direct boot: the FACS, first among them, wants 64-byte
 * alignment. */
#define HV_ACPI_TABLES_OFFSET 64

/* The tables as firmware gets them: two files, "etc/acpi/rsdp" and "etc/acpi/tables", in which every
 * address is an offset into the tables blob until linked. */
typedef enum
{
  HV_ACPI_FILE_RSDP,
  HV_ACPI_FILE_TABLES,
} HvAcpiFile;

/* @size (4 or 8) little-endian bytes at @offset of @file hold an offset into the tables blob. */
typedef struct
{
  HvAcpiFile file;
  uint32_t offset;
  uint8_t size;
} HvAcpiPointer;

/* The byte at @offset of @file makes [@start, @start + @length) sum to zero; applied in order. */
typedef struct
{
  HvAcpiFile file;
  uint32_t offset;
  uint32_t start;
  uint32_t length;
} HvAcpiChecksum;

typedef struct
{
  GByteArray *rsdp;
  GByteArray *tables;
  GArray *pointers;  /* HvAcpiPointer */
  GArray *checksums; /* HvAcpiChecksum: every table, then the RSDP's two */
} HvAcpiTables;

/* The tables for @n_vcpus processors, unlinked. */
HvAcpiTables *hv_acpi_tables_build (unsigned n_vcpus, GError **error);
void hv_acpi_tables_free (HvAcpiTables *tables);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (HvAcpiTables, hv_acpi_tables_free)
/* Adds @tables_addr (where the tables blob will be) to every pointer and computes the checksums, as
 * the linker/loader's ADD_POINTER and ADD_CHECKSUM commands do. */
void hv_acpi_tables_link (HvAcpiTables *tables, uint64_t tables_addr);

/* The fw_cfg files firmware gets: the two blobs, unlinked, and the linker/loader's commands
 * ("etc/table-loader") that allocate them (the RSDP in the F segment, the tables in high memory),
 * add the tables' address to every pointer and compute every checksum, in hv_acpi_tables_link's
 * order. */
#define HV_ACPI_RSDP_FILE   "etc/acpi/rsdp"
#define HV_ACPI_TABLES_FILE "etc/acpi/tables"
#define HV_ACPI_LOADER_FILE "etc/table-loader"
GBytes *hv_acpi_tables_loader (const HvAcpiTables *tables);

/* Builds the tables for @n_vcpus processors into guest RAM at HV_ACPI_START and returns the RSDP's
 * guest-physical address in @rsdp_addr.  The DSDT describes COM1, the i8042, the RTC and the PCI root
 * bridge and has the _S5 package; the FADT points at the PM block in layout.h (power button as a fixed
 * feature, SCI on HV_IRQ_SCI, PM timer, reset register). */
gboolean hv_acpi_build (HvMemory *mem, unsigned n_vcpus, uint64_t *rsdp_addr, GError **error);

/* ACPI's checksum rule: the bytes of a table sum to zero.  Returns the value to store in the checksum
 * field, computed over @data while that field holds 0. */
uint8_t hv_acpi_checksum (const void *data, gsize len);
