/* boot-info.c — prints what the boot loader and the ACPI tables tell a guest, one fact per line, so
 * a test can check a VMM's PVH start info, memory map, module, command line and ACPI tables.
 *
 * Output, in this order (the formats are stable; tests parse them):
 *
 *   start_info: version <v> flags 0x<x> modules <n>     or "start_info: missing"
 *   cmdline: <the command line>                          "cmdline: " when there is none
 *   memmap: 0x<addr> 0x<size> <type>                     one per hvm_memmap entry, in table order
 *   acpi: <sig> ok                                       one per table reached (see below)
 *   acpi: <sig> bad-checksum
 *   acpi: entry <i> bad-address                          a root-table entry pointing nowhere useful
 *   acpi: DSDT missing                                   FADT present, DSDT not reachable
 *   acpi: none                                           no RSDP at all, and no other acpi: lines
 *   cpus: <N>                                            see below
 *   initrd: 0x<addr> <size> 0x<sum>                      see below
 *   initrd: none                                         no module
 *   initrd: 0x<addr> <size> out-of-range                 module not inside the low 4 GiB
 *   boot-info done
 *
 * The acpi: lines name the RSDP as "RSDP" (its extended checksum counts when its revision is >= 2),
 * then the root table (XSDT or RSDT), each table it lists in order, then the DSDT the FADT points
 * at.
 *
 * cpus: counts the MADT's Processor Local APIC and x2APIC entries with the Enabled flag (0 without
 * a MADT).
 *
 * initrd: describes the first module: its size in bytes in decimal and the sum of its bytes mod
 * 2^32 as 8 hex digits.
 *
 * Everything runs in ring 3: checksumming tables and the module is byte-at-a-time work. */
#include "kit.h"

#define MADT_ENTRIES_OFFSET 44 /* header, local APIC address, flags */
#define MADT_LOCAL_APIC     0
#define MADT_LOCAL_X2APIC   9
#define MADT_ENABLED        1u

static void
print_signature_status (const struct acpi_header *h)
{
  kit_printf ("acpi: %.4s %s\n", h->signature, kit_acpi_checksum_ok (h, h->length) ? "ok" : "bad-checksum");
}

static void
report_acpi (void)
{
  const struct acpi_rsdp *rsdp = kit_acpi_rsdp ();

  if (rsdp == NULL)
    {
      kit_puts ("acpi: none\n");
      return;
    }
  bool rsdp_ok = kit_acpi_checksum_ok (rsdp, 20);
  if (rsdp->revision >= 2)
    rsdp_ok = rsdp_ok && rsdp->length >= sizeof *rsdp && rsdp->length <= 4096
              && kit_phys ((uintptr_t) rsdp, rsdp->length) != NULL
              && kit_acpi_checksum_ok (rsdp, rsdp->length);
  kit_printf ("acpi: RSDP %s\n", rsdp_ok ? "ok" : "bad-checksum");

  const struct acpi_header *root = kit_acpi_root ();
  if (root == NULL)
    {
      kit_printf ("acpi: %s missing\n", rsdp->revision >= 2 ? "XSDT" : "RSDT");
      return;
    }
  print_signature_status (root);

  unsigned n = kit_acpi_root_count ();
  for (unsigned i = 0; i < n; i++)
    {
      const struct acpi_header *h = kit_acpi_root_entry (i);
      if (h == NULL)
        kit_printf ("acpi: entry %u bad-address\n", i);
      else
        print_signature_status (h);
    }

  if (kit_acpi_find ("FACP") != NULL)
    {
      const struct acpi_header *dsdt = kit_acpi_dsdt ();
      if (dsdt == NULL)
        kit_puts ("acpi: DSDT missing\n");
      else
        print_signature_status (dsdt);
    }
}

static unsigned
count_cpus (void)
{
  const struct acpi_header *madt = kit_acpi_find ("APIC");
  unsigned n = 0;

  if (madt == NULL || madt->length < MADT_ENTRIES_OFFSET)
    return 0;
  const uint8_t *p = (const uint8_t *) madt + MADT_ENTRIES_OFFSET;
  const uint8_t *end = (const uint8_t *) madt + madt->length;
  while (end - p >= 2 && p[1] >= 2 && p[1] <= end - p)
    {
      uint32_t flags = 0;
      if (p[0] == MADT_LOCAL_APIC && p[1] >= 8)
        memcpy (&flags, p + 4, sizeof flags);
      else if (p[0] == MADT_LOCAL_X2APIC && p[1] >= 16)
        memcpy (&flags, p + 8, sizeof flags);
      if (flags & MADT_ENABLED)
        n++;
      p += p[1];
    }
  return n;
}

static void
report_initrd (void)
{
  uint32_t n_modules;
  const struct hvm_modlist_entry *mods = kit_modules (&n_modules);

  if (n_modules == 0)
    {
      kit_puts ("initrd: none\n");
      return;
    }
  const uint8_t *data = kit_phys (mods[0].paddr, mods[0].size);
  if (data == NULL && mods[0].size != 0)
    {
      kit_printf ("initrd: 0x%lx %lu out-of-range\n", mods[0].paddr, mods[0].size);
      return;
    }
  uint32_t sum = 0;
  for (uint64_t i = 0; i < mods[0].size; i++)
    sum += data[i];
  kit_printf ("initrd: 0x%lx %lu 0x%08x\n", mods[0].paddr, mods[0].size, sum);
}

static long
report (void *unused)
{
  const struct hvm_start_info *si = kit_start_info ();

  if (si == NULL)
    kit_puts ("start_info: missing\n");
  else
    kit_printf ("start_info: version %u flags 0x%x modules %u\n", si->version, si->flags, si->nr_modules);

  kit_printf ("cmdline: %s\n", kit_cmdline ());

  uint32_t n_entries;
  const struct hvm_memmap_table_entry *map = kit_memmap (&n_entries);
  for (uint32_t i = 0; i < n_entries; i++)
    kit_printf ("memmap: 0x%lx 0x%lx %u\n", map[i].addr, map[i].size, map[i].type);

  report_acpi ();
  kit_printf ("cpus: %u\n", count_cpus ());
  report_initrd ();
  kit_puts ("boot-info done\n");
  return 0;
}

void
guest_main (void)
{
  kit_run_user (report, NULL);
}
