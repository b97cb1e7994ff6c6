/* acpi.c — the guest's ACPI tables: RSDP, RSDT/XSDT, FADT, FACS, MADT and the DSDT, built once as two
 * blobs (the RSDP, the tables) with the places that hold addresses and checksums, then either linked
 * and copied to HV_ACPI_START (direct kernel boot) or handed to firmware through fw_cfg's linker/loader,
 * which does the same linking (ACPI 6.x chapter 5).
 *
 * The tables describe fixed hardware: the PM block and devices of layout.h.  The RSDP comes first,
 * at the start of the BIOS area where legacy scans look for it; the other tables follow, so
 * references between them are known before each referring table is written.  Both the 32-bit RSDT
 * and the XSDT are offered because old guests only read the RSDT. */
#include "acpi.h"
#include "aml.h"
#include "layout.h"
#include "bytes.h"

#include <string.h>

#define ACPI_OEM_ID       "VIREO "
#define ACPI_OEM_TABLE_ID "VIREOVM "
#define ACPI_CREATOR_ID   "VIRO"
#define ACPI_REVISION     1

typedef struct __attribute__ ((packed))
{
  char signature[8];
  uint8_t checksum; /* over the first 20 bytes (the ACPI 1.0 structure) */
  char oem_id[6];
  uint8_t revision;
  uint32_t rsdt_address;
  uint32_t length;
  uint64_t xsdt_address;
  uint8_t extended_checksum; /* over all 36 bytes */
  uint8_t reserved[3];
} AcpiRsdp;
G_STATIC_ASSERT (sizeof (AcpiRsdp) == 36);

typedef struct __attribute__ ((packed))
{
  char signature[4];
  uint32_t length;
  uint8_t revision;
  uint8_t checksum;
  char oem_id[6];
  char oem_table_id[8];
  uint32_t oem_revision;
  char creator_id[4];
  uint32_t creator_revision;
} AcpiHeader;
G_STATIC_ASSERT (sizeof (AcpiHeader) == 36);

typedef struct __attribute__ ((packed))
{
  uint8_t space_id;
  uint8_t bit_width;
  uint8_t bit_offset;
  uint8_t access_size;
  uint64_t address;
} AcpiGas;
G_STATIC_ASSERT (sizeof (AcpiGas) == 12);

typedef struct __attribute__ ((packed))
{
  AcpiHeader header;
  uint32_t firmware_ctrl;
  uint32_t dsdt;
  uint8_t reserved0;
  uint8_t preferred_pm_profile;
  uint16_t sci_int;
  uint32_t smi_cmd;
  uint8_t acpi_enable;
  uint8_t acpi_disable;
  uint8_t s4bios_req;
  uint8_t pstate_cnt;
  uint32_t pm1a_evt_blk;
  uint32_t pm1b_evt_blk;
  uint32_t pm1a_cnt_blk;
  uint32_t pm1b_cnt_blk;
  uint32_t pm2_cnt_blk;
  uint32_t pm_tmr_blk;
  uint32_t gpe0_blk;
  uint32_t gpe1_blk;
  uint8_t pm1_evt_len;
  uint8_t pm1_cnt_len;
  uint8_t pm2_cnt_len;
  uint8_t pm_tmr_len;
  uint8_t gpe0_blk_len;
  uint8_t gpe1_blk_len;
  uint8_t gpe1_base;
  uint8_t cst_cnt;
  uint16_t p_lvl2_lat;
  uint16_t p_lvl3_lat;
  uint16_t flush_size;
  uint16_t flush_stride;
  uint8_t duty_offset;
  uint8_t duty_width;
  uint8_t day_alrm;
  uint8_t mon_alrm;
  uint8_t century;
  uint16_t iapc_boot_arch;
  uint8_t reserved1;
  uint32_t flags;
  AcpiGas reset_reg;
  uint8_t reset_value;
  uint16_t arm_boot_arch;
  uint8_t minor_version;
  uint64_t x_firmware_ctrl;
  uint64_t x_dsdt;
  AcpiGas x_pm1a_evt_blk;
  AcpiGas x_pm1b_evt_blk;
  AcpiGas x_pm1a_cnt_blk;
  AcpiGas x_pm1b_cnt_blk;
  AcpiGas x_pm2_cnt_blk;
  AcpiGas x_pm_tmr_blk;
  AcpiGas x_gpe0_blk;
  AcpiGas x_gpe1_blk;
  AcpiGas sleep_control_reg;
  AcpiGas sleep_status_reg;
  uint64_t hypervisor_vendor_id;
} AcpiFadt;
G_STATIC_ASSERT (sizeof (AcpiFadt) == 276);

typedef struct __attribute__ ((packed))
{
  char signature[4];
  uint32_t length;
  uint32_t hardware_signature;
  uint32_t firmware_waking_vector;
  uint32_t global_lock;
  uint32_t flags;
  uint64_t x_firmware_waking_vector;
  uint8_t version;
  uint8_t reserved0[3];
  uint32_t ospm_flags;
  uint8_t reserved1[24];
} AcpiFacs;
G_STATIC_ASSERT (sizeof (AcpiFacs) == 64);

/* FADT flags (ACPI 6.4 table 5.10). */
#define FADT_WBINVD  (1u << 0)
#define FADT_PROC_C1 (1u << 2)
/* PWR_BUTTON (bit 4) stays clear: the power button is a fixed feature.  The sleep button is not. */
#define FADT_SLP_BUTTON    (1u << 5)
#define FADT_TMR_VAL_EXT   (1u << 8)
#define FADT_RESET_REG_SUP (1u << 10)

/* IA-PC boot architecture flags. */
#define FADT_BOOT_LEGACY_DEVICES  (1u << 0)
#define FADT_BOOT_8042            (1u << 1)
#define FADT_BOOT_VGA_NOT_PRESENT (1u << 2)

#define FADT_PM_PROFILE_DESKTOP 1
/* Latencies above 100 (C2) and 1000 (C3) microseconds mean "not supported". */
#define FADT_C2_DISABLED 101
#define FADT_C3_DISABLED 1001

#define GAS_SYSTEM_IO    1
#define GAS_ACCESS_BYTE  1
#define GAS_ACCESS_WORD  2
#define GAS_ACCESS_DWORD 3

/* MADT structure types and flags. */
#define MADT_PCAT_COMPAT        1u
#define MADT_LOCAL_APIC         0
#define MADT_IO_APIC            1
#define MADT_INTERRUPT_OVERRIDE 2
#define MADT_LOCAL_APIC_NMI     4
#define MADT_LAPIC_ENABLED      1u
#define MADT_ALL_PROCESSORS     0xff
/* MPS INTI flags: polarity bits 0-1 (1 = high), trigger bits 2-3 (3 = level); 0 = as the bus. */
#define MPS_INTI_CONFORMS   0x0000
#define MPS_INTI_LEVEL_HIGH 0x000d

uint8_t
hv_acpi_checksum (const void *data, gsize len)
{
  const uint8_t *bytes = data;
  uint8_t sum = 0;

  for (gsize i = 0; i < len; i++)
    sum += bytes[i];
  return (uint8_t) -sum;
}

static void
put_u8 (GByteArray *buf, uint8_t v)
{
  g_byte_array_append (buf, &v, 1);
}

static void
put_u16 (GByteArray *buf, uint16_t v)
{
  v = GUINT16_TO_LE (v);
  g_byte_array_append (buf, (const uint8_t *) &v, sizeof v);
}

static void
put_u32 (GByteArray *buf, uint32_t v)
{
  v = GUINT32_TO_LE (v);
  g_byte_array_append (buf, (const uint8_t *) &v, sizeof v);
}

static void
put_u64 (GByteArray *buf, uint64_t v)
{
  v = GUINT64_TO_LE (v);
  g_byte_array_append (buf, (const uint8_t *) &v, sizeof v);
}

static AcpiHeader
header_new (const char *signature, uint8_t revision)
{
  AcpiHeader h = { .revision = revision };

  memcpy (h.signature, signature, sizeof h.signature);
  memcpy (h.oem_id, ACPI_OEM_ID, sizeof h.oem_id);
  memcpy (h.oem_table_id, ACPI_OEM_TABLE_ID, sizeof h.oem_table_id);
  h.oem_revision = GUINT32_TO_LE (ACPI_REVISION);
  memcpy (h.creator_id, ACPI_CREATOR_ID, sizeof h.creator_id);
  h.creator_revision = GUINT32_TO_LE (ACPI_REVISION);
  return h;
}

static GByteArray *
table_new (const char *signature, uint8_t revision)
{
  GByteArray *table = g_byte_array_new ();
  AcpiHeader h = header_new (signature, revision);

  g_byte_array_append (table, (const uint8_t *) &h, sizeof h);
  return table;
}

/* Pads the tables blob to @align and appends @len bytes; returns their offset in it. */
static uint32_t
blob_append (HvAcpiTables *t, const void *data, gsize len, gsize align)
{
  GByteArray *blob = t->tables;
  gsize start = (blob->len + align - 1) & ~(align - 1);
  gsize pad = start - blob->len;

  g_byte_array_set_size (blob, (guint) start);
  memset (blob->data + start - pad, 0, pad);
  g_byte_array_append (blob, data, (guint) len);
  return (uint32_t) start;
}

/* Notes that @size bytes at @offset of @file hold an offset into the tables blob. */
static void
add_pointer (HvAcpiTables *t, HvAcpiFile file, uint32_t offset, uint8_t size)
{
  HvAcpiPointer pointer = { .file = file, .offset = offset, .size = size };
  g_array_append_val (t->pointers, pointer);
}

static void
add_checksum (HvAcpiTables *t, HvAcpiFile file, uint32_t offset, uint32_t start, uint32_t length)
{
  HvAcpiChecksum checksum = { .file = file, .offset = offset, .start = start, .length = length };
  g_array_append_val (t->checksums, checksum);
}

/* Fills in the header's length, places the table in the blob and notes its checksum; returns its
 * offset. */
static uint32_t
blob_append_table (HvAcpiTables *t, GByteArray *table)
{
  AcpiHeader *h = (AcpiHeader *) table->data;
  uint32_t start;

  h->length = GUINT32_TO_LE (table->len);
  h->checksum = 0;
  start = blob_append (t, table->data, table->len, 16);
  add_checksum (t, HV_ACPI_FILE_TABLES, start + G_STRUCT_OFFSET (AcpiHeader, checksum), start, table->len);
  return start;
}

static void
dsdt_add_pci_root (GByteArray *aml)
{
  g_autoptr (GByteArray) res = g_byte_array_new ();
  gsize device, prt;

  device = hv_aml_device_begin (aml, "PCI0");
  /* Plain PCI (PNP0A03), not PCI Express: configuration space is reached through 0xCF8 only.  No
   * _ADR: a device has a _HID or an _ADR, not both (ACPI 6.1; iasl warns). */
  hv_aml_name (aml, "_HID");
  hv_aml_eisa_id (aml, "PNP0A03");
  hv_aml_name (aml, "_UID");
  hv_aml_integer (aml, 0);
  hv_aml_name (aml, "_BBN");
  hv_aml_integer (aml, 0);
  hv_aml_name (aml, "_SEG");
  hv_aml_integer (aml, 0);

  /* What the bridge decodes for its bus: all bus numbers, all ports but its own configuration ports
   * (which it consumes), and the 32-bit MMIO hole. */
  hv_aml_res_word_bus_number (res, 0, 0xff);
  hv_aml_res_io (res, HV_PORT_PCI_CONF, HV_PORT_PCI_CONF, 1, 8);
  hv_aml_res_word_io (res, 0, HV_PORT_PCI_CONF - 1);
  hv_aml_res_word_io (res, HV_PORT_PCI_CONF + 8, 0xffff);
  hv_aml_res_dword_memory (res, (uint32_t) HV_MMIO32_START, (uint32_t) (HV_MMIO32_END - 1));
  hv_aml_name (aml, "_CRS");
  hv_aml_resource_template (aml, res);

  /* Interrupt routing straight to IOAPIC inputs (no link devices): each entry is
   * Package { slot address (function wildcard), pin, Zero = GSI follows, GSI }. */
  hv_aml_name (aml, "_PRT");
  prt = hv_aml_package_begin (aml, 31 * 4);
  for (unsigned slot = 1; slot < 32; slot++)
    for (unsigned pin = 0; pin < 4; pin++)
      {
        gsize entry = hv_aml_package_begin (aml, 4);
        hv_aml_integer (aml, ((uint64_t) slot << 16) | 0xffff);
        hv_aml_integer (aml, pin);
        hv_aml_integer (aml, 0);
        hv_aml_integer (aml, HV_PCI_INTX_GSI (slot, pin));
        hv_aml_end (aml, entry);
      }
  hv_aml_end (aml, prt);

  hv_aml_end (aml, device);
}

/* A legacy ISA device: a _HID, an optional _UID, @n_ports port ranges and one ISA interrupt. */
static void
dsdt_add_isa_device (GByteArray *aml, const char *name, const char *hid, int uid, const uint16_t *ports,
                     const uint8_t *lengths, unsigned n_ports, unsigned irq)
{
  g_autoptr (GByteArray) res = g_byte_array_new ();
  gsize device;

  device = hv_aml_device_begin (aml, name);
  hv_aml_name (aml, "_HID");
  hv_aml_eisa_id (aml, hid);
  if (uid >= 0)
    {
      hv_aml_name (aml, "_UID");
      hv_aml_integer (aml, (uint64_t) uid);
    }
  for (unsigned i = 0; i < n_ports; i++)
    hv_aml_res_io (res, ports[i], ports[i], 1, lengths[i]);
  hv_aml_res_irq (res, irq);
  hv_aml_name (aml, "_CRS");
  hv_aml_resource_template (aml, res);
  hv_aml_end (aml, device);
}

static GByteArray *
build_dsdt (void)
{
  /* Revision 2: integers are 64 bits wide. */
  GByteArray *dsdt = table_new ("DSDT", 2);
  static const uint16_t com1_ports[] = { HV_PORT_COM1 };
  static const uint8_t com1_lengths[] = { 8 };
  static const uint16_t kbd_ports[] = { HV_PORT_I8042_DATA, HV_PORT_I8042_CMD };
  static const uint8_t kbd_lengths[] = { 1, 1 };
  static const uint16_t rtc_ports[] = { HV_PORT_RTC };
  static const uint8_t rtc_lengths[] = { 2 };
  gsize scope, package;

  scope = hv_aml_scope_begin (dsdt, "\\_SB");
  dsdt_add_pci_root (dsdt);
  dsdt_add_isa_device (dsdt, "COM1", "PNP0501", 1, com1_ports, com1_lengths, 1, HV_IRQ_COM1);
  dsdt_add_isa_device (dsdt, "KBD", "PNP0303", -1, kbd_ports, kbd_lengths, 2, HV_IRQ_KEYBOARD);
  dsdt_add_isa_device (dsdt, "RTC", "PNP0B00", -1, rtc_ports, rtc_lengths, 1, HV_IRQ_RTC);
  hv_aml_end (dsdt, scope);

  /* \_S5: SLP_TYP for PM1a and PM1b, then two reserved values. */
  hv_aml_name (dsdt, "\\_S5");
  package = hv_aml_package_begin (dsdt, 4);
  hv_aml_integer (dsdt, HV_ACPI_SLP_TYP_S5);
  hv_aml_integer (dsdt, HV_ACPI_SLP_TYP_S5);
  hv_aml_integer (dsdt, 0);
  hv_aml_integer (dsdt, 0);
  hv_aml_end (dsdt, package);
  return dsdt;
}

static AcpiGas
gas_io (uint16_t port, unsigned len, uint8_t access_size)
{
  return (AcpiGas){
    .space_id = GAS_SYSTEM_IO,
    .bit_width = (uint8_t) (len * 8),
    .access_size = access_size,
    .address = GUINT64_TO_LE (port),
  };
}

static GByteArray *
build_fadt (uint32_t facs_addr, uint32_t dsdt_addr)
{
  GByteArray *table = g_byte_array_new ();
  AcpiFadt f = { .header = header_new ("FACP", 6) };

  /* Both firmware control fields must not be non-zero at once (ACPI 5.2.9): the FACS is below 4
   * GiB, so only the 32-bit one is set.  The DSDT may be given both ways and is. */
  f.firmware_ctrl = GUINT32_TO_LE (facs_addr);
  f.dsdt = GUINT32_TO_LE (dsdt_addr);
  f.x_dsdt = GUINT64_TO_LE (dsdt_addr);
  f.preferred_pm_profile = FADT_PM_PROFILE_DESKTOP;
  f.sci_int = GUINT16_TO_LE (HV_IRQ_SCI);
  /* SMI_CMD 0: no SMM, the machine is always in ACPI mode (SCI_EN reads as set). */
  f.smi_cmd = 0;

  f.pm1a_evt_blk = GUINT32_TO_LE (HV_PORT_ACPI_PM1_EVT);
  f.pm1_evt_len = 4;
  f.x_pm1a_evt_blk = gas_io (HV_PORT_ACPI_PM1_EVT, 4, GAS_ACCESS_WORD);
  f.pm1a_cnt_blk = GUINT32_TO_LE (HV_PORT_ACPI_PM1_CNT);
  f.pm1_cnt_len = 2;
  f.x_pm1a_cnt_blk = gas_io (HV_PORT_ACPI_PM1_CNT, 2, GAS_ACCESS_WORD);
  f.pm_tmr_blk = GUINT32_TO_LE (HV_PORT_ACPI_PM_TMR);
  f.pm_tmr_len = 4;
  f.x_pm_tmr_blk = gas_io (HV_PORT_ACPI_PM_TMR, 4, GAS_ACCESS_DWORD);

  f.century = HV_RTC_CENTURY;
  f.p_lvl2_lat = GUINT16_TO_LE (FADT_C2_DISABLED);
  f.p_lvl3_lat = GUINT16_TO_LE (FADT_C3_DISABLED);
  f.iapc_boot_arch = GUINT16_TO_LE (FADT_BOOT_LEGACY_DEVICES | FADT_BOOT_8042 | FADT_BOOT_VGA_NOT_PRESENT);
  f.flags = GUINT32_TO_LE (FADT_WBINVD | FADT_PROC_C1 | FADT_SLP_BUTTON | FADT_TMR_VAL_EXT
                           | FADT_RESET_REG_SUP);
  f.reset_reg = gas_io (HV_PORT_ACPI_RESET, 1, GAS_ACCESS_BYTE);
  f.reset_value = HV_ACPI_RESET_VALUE;

  g_byte_array_append (table, (const uint8_t *) &f, sizeof f);
  return table;
}

static GByteArray *
build_madt (unsigned n_vcpus)
{
  /* Revision 3 (ACPI 5.0 onwards): the structures used here have not changed since. */
  GByteArray *madt = table_new ("APIC", 3);

  put_u32 (madt, (uint32_t) HV_LAPIC_ADDR);
  put_u32 (madt, MADT_PCAT_COMPAT); /* dual 8259s are present: the in-kernel PIC */

  for (unsigned i = 0; i < n_vcpus; i++)
    {
      put_u8 (madt, MADT_LOCAL_APIC);
      put_u8 (madt, 8);
      put_u8 (madt, (uint8_t) i); /* ACPI processor UID */
      put_u8 (madt, (uint8_t) i); /* APIC id, as hv_cpuid_prepare() reports it */
      put_u32 (madt, MADT_LAPIC_ENABLED);
    }

  put_u8 (madt, MADT_IO_APIC);
  put_u8 (madt, 12);
  put_u8 (madt, 0); /* IOAPIC id */
  put_u8 (madt, 0);
  put_u32 (madt, (uint32_t) HV_IOAPIC_ADDR);
  put_u32 (madt, 0); /* GSI base */

  /* The PIT (ISA IRQ 0) is wired to IOAPIC pin 2. */
  put_u8 (madt, MADT_INTERRUPT_OVERRIDE);
  put_u8 (madt, 10);
  put_u8 (madt, 0); /* ISA bus */
  put_u8 (madt, HV_IRQ_TIMER);
  put_u32 (madt, 2);
  put_u16 (madt, MPS_INTI_CONFORMS);

  /* The SCI is level-triggered; we drive it active high, unlike the ISA default. */
  put_u8 (madt, MADT_INTERRUPT_OVERRIDE);
  put_u8 (madt, 10);
  put_u8 (madt, 0);
  put_u8 (madt, HV_IRQ_SCI);
  put_u32 (madt, HV_IRQ_SCI);
  put_u16 (madt, MPS_INTI_LEVEL_HIGH);

  /* NMIs arrive on LINT1 of every local APIC. */
  put_u8 (madt, MADT_LOCAL_APIC_NMI);
  put_u8 (madt, 6);
  put_u8 (madt, MADT_ALL_PROCESSORS);
  put_u16 (madt, MPS_INTI_CONFORMS);
  put_u8 (madt, 1);
  return madt;
}

HvAcpiTables *
hv_acpi_tables_build (unsigned n_vcpus, GError **error)
{
  g_autoptr (HvAcpiTables) t = NULL;
  g_autoptr (GByteArray) dsdt = NULL;
  g_autoptr (GByteArray) fadt = NULL;
  g_autoptr (GByteArray) madt = NULL;
  g_autoptr (GByteArray) rsdt = NULL;
  g_autoptr (GByteArray) xsdt = NULL;
  AcpiFacs facs = { .signature = "FACS", .length = GUINT32_TO_LE (sizeof (AcpiFacs)), .version = 2 };
  AcpiRsdp rsdp = { .signature = "RSD PTR ", .oem_id = ACPI_OEM_ID, .revision = 2 };
  uint32_t facs_at, dsdt_at, fadt_at, madt_at, rsdt_at, xsdt_at;

  if (n_vcpus < HV_VCPUS_MIN || n_vcpus > HV_VCPUS_MAX)
    {
      g_set_error (error, HV_ERROR, HV_ERROR_INVALID_ARGUMENT,
                   "cannot describe %u processors in the ACPI tables (%u to %u are supported)", n_vcpus,
                   HV_VCPUS_MIN, HV_VCPUS_MAX);
      return NULL;
    }

  t = g_new0 (HvAcpiTables, 1);
  t->rsdp = g_byte_array_new ();
  t->tables = g_byte_array_sized_new (4096);
  t->pointers = g_array_new (FALSE, FALSE, sizeof (HvAcpiPointer));
  t->checksums = g_array_new (FALSE, FALSE, sizeof (HvAcpiChecksum));

  /* The FACS first: it wants 64-byte alignment, which the blob's own alignment gives. */
  facs_at = blob_append (t, &facs, sizeof facs, 64);

  dsdt = build_dsdt ();
  dsdt_at = blob_append_table (t, dsdt);
  fadt = build_fadt (facs_at, dsdt_at);
  fadt_at = blob_append_table (t, fadt);
  add_pointer (t, HV_ACPI_FILE_TABLES, fadt_at + G_STRUCT_OFFSET (AcpiFadt, firmware_ctrl), 4);
  add_pointer (t, HV_ACPI_FILE_TABLES, fadt_at + G_STRUCT_OFFSET (AcpiFadt, dsdt), 4);
  {
    /* x_dsdt: written here because build_fadt only knew the 32-bit field's type. */
    uint64_t x_dsdt = GUINT64_TO_LE (dsdt_at);
    memcpy (t->tables->data + fadt_at + G_STRUCT_OFFSET (AcpiFadt, x_dsdt), &x_dsdt, sizeof x_dsdt);
    add_pointer (t, HV_ACPI_FILE_TABLES, fadt_at + G_STRUCT_OFFSET (AcpiFadt, x_dsdt), 8);
  }
  madt = build_madt (n_vcpus);
  madt_at = blob_append_table (t, madt);

  rsdt = table_new ("RSDT", 1);
  put_u32 (rsdt, fadt_at);
  put_u32 (rsdt, madt_at);
  rsdt_at = blob_append_table (t, rsdt);
  for (unsigned i = 0; i < 2; i++)
    add_pointer (t, HV_ACPI_FILE_TABLES, rsdt_at + sizeof (AcpiHeader) + 4 * i, 4);
  xsdt = table_new ("XSDT", 1);
  put_u64 (xsdt, fadt_at);
  put_u64 (xsdt, madt_at);
  xsdt_at = blob_append_table (t, xsdt);
  for (unsigned i = 0; i < 2; i++)
    add_pointer (t, HV_ACPI_FILE_TABLES, xsdt_at + sizeof (AcpiHeader) + 8 * i, 8);

  rsdp.rsdt_address = GUINT32_TO_LE (rsdt_at);
  rsdp.length = GUINT32_TO_LE (sizeof rsdp);
  rsdp.xsdt_address = GUINT64_TO_LE (xsdt_at);
  g_byte_array_append (t->rsdp, (const uint8_t *) &rsdp, sizeof rsdp);
  add_pointer (t, HV_ACPI_FILE_RSDP, G_STRUCT_OFFSET (AcpiRsdp, rsdt_address), 4);
  add_pointer (t, HV_ACPI_FILE_RSDP, G_STRUCT_OFFSET (AcpiRsdp, xsdt_address), 8);
  /* The ACPI 1.0 checksum first: the extended one covers it. */
  add_checksum (t, HV_ACPI_FILE_RSDP, G_STRUCT_OFFSET (AcpiRsdp, checksum), 0, 20);
  add_checksum (t, HV_ACPI_FILE_RSDP, G_STRUCT_OFFSET (AcpiRsdp, extended_checksum), 0, sizeof rsdp);
  return g_steal_pointer (&t);
}

void
hv_acpi_tables_free (HvAcpiTables *t)
{
  if (t == NULL)
    return;
  g_byte_array_unref (t->rsdp);
  g_byte_array_unref (t->tables);
  g_array_unref (t->pointers);
  g_array_unref (t->checksums);
  g_free (t);
}

static GByteArray *
file_blob (HvAcpiTables *t, HvAcpiFile file)
{
  return file == HV_ACPI_FILE_RSDP ? t->rsdp : t->tables;
}

/* What the linker/loader's ADD_POINTER and ADD_CHECKSUM do, in the same order, so both boot paths
 * end with the same bytes. */
void
hv_acpi_tables_link (HvAcpiTables *t, uint64_t tables_addr)
{
  for (guint i = 0; i < t->pointers->len; i++)
    {
      const HvAcpiPointer *p = &g_array_index (t->pointers, HvAcpiPointer, i);
      uint8_t *at = file_blob (t, p->file)->data + p->offset;
      uint64_t value = 0;

      memcpy (&value, at, p->size);
      value = GUINT64_FROM_LE (value) + tables_addr;
      value = GUINT64_TO_LE (value);
      memcpy (at, &value, p->size);
    }
  for (guint i = 0; i < t->checksums->len; i++)
    {
      const HvAcpiChecksum *c = &g_array_index (t->checksums, HvAcpiChecksum, i);
      uint8_t *data = file_blob (t, c->file)->data;

      /* byte -= sum (range), the range including the byte itself. */
      data[c->offset] = (uint8_t) (data[c->offset] + hv_acpi_checksum (data + c->start, c->length));
    }
}

/* etc/table-loader: 128-byte little-endian commands (QEMU hw/acpi/bios-linker-loader.c has the
 * format; SeaBIOS src/fw/romfile_loader.c and OVMF's AcpiPlatformDxe run them). */
#define LOADER_ENTRY_SIZE   128
#define LOADER_NAME_SIZE    56
#define LOADER_ALLOCATE     1
#define LOADER_ADD_POINTER  2
#define LOADER_ADD_CHECKSUM 3
#define LOADER_ZONE_HIGH    1
#define LOADER_ZONE_FSEG    2

static const char *
file_name (HvAcpiFile file)
{
  return file == HV_ACPI_FILE_RSDP ? HV_ACPI_RSDP_FILE : HV_ACPI_TABLES_FILE;
}

static uint8_t *
loader_entry (GByteArray *loader, uint32_t command)
{
  guint at = loader->len;

  g_byte_array_set_size (loader, at + LOADER_ENTRY_SIZE);
  memset (loader->data + at, 0, LOADER_ENTRY_SIZE);
  hv_put_le32 (loader->data + at, command);
  return loader->data + at + 4;
}

static void
loader_allocate (GByteArray *loader, HvAcpiFile file, uint32_t align, uint8_t zone)
{
  uint8_t *e = loader_entry (loader, LOADER_ALLOCATE);

  strncpy ((char *) e, file_name (file), LOADER_NAME_SIZE - 1);
  hv_put_le32 (e + LOADER_NAME_SIZE, align);
  e[LOADER_NAME_SIZE + 4] = zone;
}

GBytes *
hv_acpi_tables_loader (const HvAcpiTables *t)
{
  g_autoptr (GByteArray) loader = g_byte_array_new ();

  /* The RSDP in the F segment, where SeaBIOS looks for it (finding one, it builds no tables of its
   * own); the tables in high memory, aligned for the FACS. */
  loader_allocate (loader, HV_ACPI_FILE_RSDP, 16, LOADER_ZONE_FSEG);
  loader_allocate (loader, HV_ACPI_FILE_TABLES, 64, LOADER_ZONE_HIGH);
  for (guint i = 0; i < t->pointers->len; i++)
    {
      const HvAcpiPointer *p = &g_array_index (t->pointers, HvAcpiPointer, i);
      uint8_t *e = loader_entry (loader, LOADER_ADD_POINTER);

      strncpy ((char *) e, file_name (p->file), LOADER_NAME_SIZE - 1);
      strncpy ((char *) e + LOADER_NAME_SIZE, HV_ACPI_TABLES_FILE, LOADER_NAME_SIZE - 1);
      hv_put_le32 (e + 2 * LOADER_NAME_SIZE, p->offset);
      e[2 * LOADER_NAME_SIZE + 4] = p->size;
    }
  for (guint i = 0; i < t->checksums->len; i++)
    {
      const HvAcpiChecksum *c = &g_array_index (t->checksums, HvAcpiChecksum, i);
      uint8_t *e = loader_entry (loader, LOADER_ADD_CHECKSUM);

      strncpy ((char *) e, file_name (c->file), LOADER_NAME_SIZE - 1);
      hv_put_le32 (e + LOADER_NAME_SIZE, c->offset);
      hv_put_le32 (e + LOADER_NAME_SIZE + 4, c->start);
      hv_put_le32 (e + LOADER_NAME_SIZE + 8, c->length);
    }
  return g_byte_array_free_to_bytes (g_steal_pointer (&loader));
}

gboolean
hv_acpi_build (HvMemory *mem, unsigned n_vcpus, uint64_t *rsdp_addr, GError **error)
{
  g_autoptr (HvAcpiTables) t = NULL;
  const gsize room = HV_ACPI_END - HV_ACPI_START;
  const uint64_t tables_addr = HV_ACPI_START + HV_ACPI_TABLES_OFFSET;

  g_return_val_if_fail (mem != NULL && rsdp_addr != NULL, FALSE);

  t = hv_acpi_tables_build (n_vcpus, error);
  if (t == NULL)
    return FALSE;
  /* The RSDP sits at the start of the BIOS area, where legacy scans look, and the tables after it. */
  if (HV_ACPI_TABLES_OFFSET + t->tables->len > room)
    {
      g_set_error (error, HV_ERROR, HV_ERROR_TOO_LARGE,
                   "the ACPI tables (%u bytes) do not fit in the %" G_GSIZE_FORMAT " bytes at 0x%llx",
                   HV_ACPI_TABLES_OFFSET + t->tables->len, room, HV_ACPI_START);
      return FALSE;
    }
  hv_acpi_tables_link (t, tables_addr);
  if (!hv_memory_write (mem, HV_ACPI_START, t->rsdp->data, t->rsdp->len, "the ACPI RSDP", error)
      || !hv_memory_write (mem, tables_addr, t->tables->data, t->tables->len, "the ACPI tables", error))
    return FALSE;
  *rsdp_addr = HV_ACPI_START;
  return TRUE;
}
