/* e820.c — the guest's physical memory map (e820), shared by the Linux zero page and the PVH memmap. */
#include "boot.h"
#include "layout.h"

#include <string.h>

static void
add_entry (HvE820Map *map, uint64_t addr, uint64_t end, uint32_t type)
{
  if (end <= addr || map->n_entries >= HV_E820_MAX)
    return;
  map->entries[map->n_entries++] = (HvE820Entry){ .addr = addr, .size = end - addr, .type = type };
}

void
hv_e820_build (const HvMemory *mem, HvE820Map *map)
{
  uint64_t low_end = hv_memory_low_end (mem);

  g_return_if_fail (map != NULL);
  memset (map, 0, sizeof *map);

  /* The first MiB looks like a PC's: conventional memory up to the EBDA, the VGA/ROM hole left out, and
   * the BIOS area reserved because the ACPI tables (and the RSDP that legacy scans look for) live there:
   * a guest that took it for RAM would overwrite them. */
  add_entry (map, 0, MIN (HV_EBDA_START, low_end), HV_E820_RAM);
  add_entry (map, HV_EBDA_START, 0xA0000, HV_E820_RESERVED);
  add_entry (map, HV_ACPI_START, HV_ACPI_END, HV_E820_RESERVED);
  add_entry (map, HV_HIMEM_START, low_end, HV_E820_RAM);

  for (unsigned i = 0; i < mem->n_regions; i++)
    {
      const HvMemoryRegion *region = &mem->regions[i];
      if (region->gpa >= HV_HIGH_RAM_START && region->size > 0)
        add_entry (map, region->gpa, region->gpa + region->size, HV_E820_RAM);
    }
}
