/* kit-pci.c — the guest kit's PCI access: configuration mechanism #1 on bus 0, enumeration, BARs
 * and the capability list.  Config space comes from the VMM under test, so BAR sizes, addresses
 * and capability pointers are checked before anything is mapped or followed. */
#include "kit-private.h"

#define PCI_CONF1_ENABLE   0x80000000u
#define PCI_VENDOR_ID      0x00
#define PCI_DEVICE_ID      0x02
#define PCI_CLASS_REVISION 0x08
#define PCI_HEADER_TYPE    0x0e
#define PCI_HEADER_MULTI   0x80
#define PCI_BAR0           0x10
#define PCI_BAR_IO         0x01
#define PCI_BAR_TYPE_MASK  0x06
#define PCI_BAR_TYPE_64    0x04

/* Capabilities live after the 64-byte header, dword-aligned; 48 of them fill the rest of the
 * 256-byte space, so a longer walk is a loop. */
#define PCI_CAP_FIRST 0x40
#define PCI_CAP_MAX   48

static void
select_register (const KitPciDevice *dev, uint8_t offset)
{
  outl (HV_PORT_PCI_CONF, PCI_CONF1_ENABLE | (uint32_t) dev->bus << 16 | (uint32_t) (dev->slot & 0x1f) << 11
                              | (uint32_t) (dev->function & 0x7) << 8 | (offset & 0xfcu));
}

uint32_t
kit_pci_read32 (const KitPciDevice *dev, uint8_t offset)
{
  select_register (dev, offset);
  return inl (HV_PORT_PCI_CONF + 4);
}

uint16_t
kit_pci_read16 (const KitPciDevice *dev, uint8_t offset)
{
  select_register (dev, offset);
  return inw ((uint16_t) (HV_PORT_PCI_CONF + 4 + (offset & 2)));
}

uint8_t
kit_pci_read8 (const KitPciDevice *dev, uint8_t offset)
{
  select_register (dev, offset);
  return inb ((uint16_t) (HV_PORT_PCI_CONF + 4 + (offset & 3)));
}

void
kit_pci_write32 (const KitPciDevice *dev, uint8_t offset, uint32_t value)
{
  select_register (dev, offset);
  outl (HV_PORT_PCI_CONF + 4, value);
}

void
kit_pci_write16 (const KitPciDevice *dev, uint8_t offset, uint16_t value)
{
  select_register (dev, offset);
  outw ((uint16_t) (HV_PORT_PCI_CONF + 4 + (offset & 2)), value);
}

/* Fills in @dev's IDs; FALSE when nothing answers at its address. */
static bool
probe (KitPciDevice *dev)
{
  uint32_t ids = kit_pci_read32 (dev, PCI_VENDOR_ID);

  if ((ids & 0xffff) == 0xffff || (ids & 0xffff) == 0)
    return false;
  dev->vendor_id = (uint16_t) ids;
  dev->device_id = (uint16_t) (ids >> 16);
  uint32_t class_revision = kit_pci_read32 (dev, PCI_CLASS_REVISION);
  dev->class_code = (uint8_t) (class_revision >> 24);
  dev->subclass = (uint8_t) (class_revision >> 16);
  return true;
}

unsigned
kit_pci_scan (KitPciDevice *devices, unsigned max)
{
  unsigned count = 0;

  for (uint8_t slot = 0; slot < 32; slot++)
    {
      KitPciDevice dev = { .bus = 0, .slot = slot, .function = 0 };

      if (!probe (&dev))
        continue;
      /* Functions 1-7 are only looked at on a multi-function device, as a real bus requires. */
      unsigned functions = (kit_pci_read8 (&dev, PCI_HEADER_TYPE) & PCI_HEADER_MULTI) ? 8 : 1;
      for (uint8_t function = 0; function < functions; function++)
        {
          dev.function = function;
          if (function > 0 && !probe (&dev))
            continue;
          if (count < max)
            devices[count] = dev;
          count++;
        }
    }
  return count;
}

bool
kit_pci_find (uint16_t vendor_id, uint16_t device_id, unsigned index, KitPciDevice *dev)
{
  KitPciDevice devices[64];
  unsigned count = kit_pci_scan (devices, 64);

  if (count > 64)
    count = 64;
  for (unsigned i = 0; i < count; i++)
    if (devices[i].vendor_id == vendor_id && devices[i].device_id == device_id && index-- == 0)
      {
        *dev = devices[i];
        return true;
      }
  return false;
}

bool
kit_pci_bar (const KitPciDevice *dev, unsigned index, KitPciBar *bar)
{
  memset (bar, 0, sizeof *bar);
  if (index > 5)
    return false;

  uint8_t offset = (uint8_t) (PCI_BAR0 + 4 * index);
  uint32_t low = kit_pci_read32 (dev, offset);
  bar->is_io = low & PCI_BAR_IO;
  bar->is_64 = !bar->is_io && (low & PCI_BAR_TYPE_MASK) == PCI_BAR_TYPE_64;
  if (bar->is_64 && index == 5)
    return false; /* no room for the upper half */
  uint32_t high = bar->is_64 ? kit_pci_read32 (dev, (uint8_t) (offset + 4)) : 0;

  /* Sizing writes all ones, which would move the BAR over whatever decodes at the top of the
   * address space: keep decoding off until the address is back. */
  uint16_t command = kit_pci_read16 (dev, KIT_PCI_COMMAND);
  kit_pci_write16 (dev, KIT_PCI_COMMAND,
                   (uint16_t) (command & ~(KIT_PCI_COMMAND_IO | KIT_PCI_COMMAND_MEMORY)));
  kit_pci_write32 (dev, offset, 0xffffffffu);
  uint32_t size_low = kit_pci_read32 (dev, offset);
  kit_pci_write32 (dev, offset, low);
  uint32_t size_high = 0xffffffffu;
  if (bar->is_64)
    {
      kit_pci_write32 (dev, (uint8_t) (offset + 4), 0xffffffffu);
      size_high = kit_pci_read32 (dev, (uint8_t) (offset + 4));
      kit_pci_write32 (dev, (uint8_t) (offset + 4), high);
    }
  kit_pci_write16 (dev, KIT_PCI_COMMAND, command);

  uint64_t mask;
  if (bar->is_io)
    {
      bar->address = low & ~0x3u;
      mask = (uint64_t) (size_low & ~0x3u) | 0xffffffff00000000ull;
    }
  else
    {
      bar->address = (uint64_t) high << 32 | (low & ~0xfu);
      mask = (uint64_t) size_high << 32 | (size_low & ~0xfu);
    }
  bar->size = ~mask + 1;
  if (bar->is_io)
    bar->size &= 0xffff;
  /* A BAR that reads back zero is unimplemented; a size that is not a power of two is garbage. */
  if (mask == 0 || bar->size == 0 || (bar->size & (bar->size - 1)) != 0)
    return false;
  return bar->address != 0;
}

volatile void *
kit_pci_bar_map (const KitPciBar *bar, uint64_t offset, uint64_t len)
{
  if (bar->is_io || offset > bar->size || len > bar->size - offset)
    return NULL;
  /* Device memory is reached through the same identity map as RAM. */
  return (volatile void *) (uintptr_t) kit_phys (bar->address + offset, len);
}

void
kit_pci_enable (const KitPciDevice *dev, uint16_t bits)
{
  uint16_t command = kit_pci_read16 (dev, KIT_PCI_COMMAND);

  if ((command & bits) != bits)
    kit_pci_write16 (dev, KIT_PCI_COMMAND, (uint16_t) (command | bits));
}

uint8_t
kit_pci_next_capability (const KitPciDevice *dev, uint8_t previous, uint8_t cap_id)
{
  uint8_t offset;

  if (previous == 0)
    {
      if (!(kit_pci_read16 (dev, KIT_PCI_STATUS) & KIT_PCI_STATUS_CAP_LIST))
        return 0;
      offset = kit_pci_read8 (dev, KIT_PCI_CAPABILITY_LIST);
    }
  else
    offset = kit_pci_read8 (dev, (uint8_t) (previous + 1));

  for (unsigned steps = 0; steps < PCI_CAP_MAX; steps++)
    {
      offset &= 0xfc;
      if (offset < PCI_CAP_FIRST)
        return 0;
      if (kit_pci_read8 (dev, offset) == cap_id)
        return offset;
      offset = kit_pci_read8 (dev, (uint8_t) (offset + 1));
    }
  return 0;
}
