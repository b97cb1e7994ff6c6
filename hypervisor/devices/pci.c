/* pci.c — the PCI host bridge: configuration mechanism #1 on bus 0, BAR placement, sizing and moves, and
 * the saved configuration spaces.
 *
 * Slot 0 is the host bridge itself; devices take function 0 of a free slot, a chipset (i440fx.c) fixed
 * functions of its own.  The bridge plays firmware for the devices added to it: it gives every BAR an
 * address and turns decoding on, so a guest that does not reassign resources finds them ready.  Device callbacks run with the bridge's lock held
 * and must not access configuration space through hv_pci_conf1_io. */
#include "devices.h"
#include "device.h"
#include "layout.h"
#include "state.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#define N_SLOTS     32
#define N_FUNCTIONS (N_SLOTS * 8)
/* Functions are kept (and saved) by slot | function << 5: function 0 of a slot is the slot number. */
#define FUNCTION_INDEX(slot, function) ((slot) | (function) << 5)

#define CONFIG_ENABLE    0x80000000u
#define CONFIG_ADDR_MASK 0x80fffffcu /* enable, bus, device, function, dword register */

#define PCI_VENDOR_ID       0x00
#define PCI_DEVICE_ID       0x02
#define PCI_COMMAND         0x04
#define PCI_STATUS          0x06
#define PCI_CLASS_PROG      0x09
#define PCI_BAR0            0x10
#define PCI_BAR_END         0x28
#define PCI_ROM_ADDRESS     0x30
#define PCI_INTERRUPT_LINE  0x3c
#define PCI_REVISION_ID     0x08
#define PCI_HEADER_TYPE     0x0e
#define PCI_SUBSYSTEM       0x2c
#define PCI_CAPABILITY_LIST 0x34
#define PCI_INTERRUPT_PIN   0x3d

#define COMMAND_IO           0x0001
#define COMMAND_MEMORY       0x0002
#define COMMAND_BUS_MASTER   0x0004
#define COMMAND_INTX_DISABLE 0x0400
#define COMMAND_WRITABLE     (COMMAND_IO | COMMAND_MEMORY | COMMAND_BUS_MASTER | COMMAND_INTX_DISABLE)

#define ROM_ENABLE       0x1u
#define ROM_ADDRESS_MASK 0xfffff800u
#define ROM_SIZE_MIN     0x800u

#define RCR_SYS_RST 0x02
#define RCR_RST_CPU 0x04

#define BAR_IO           0x1
#define BAR_MEM_64       0x4
#define BAR_MEM_PREFETCH 0x8
#define IO_BAR_START     0xc000u
#define IO_BAR_END       0x10000u
#define IO_BAR_MIN       4u
#define MEM_BAR_MIN      16u

struct _HvPci
{
  GMutex lock;
  uint32_t config_address;
  HvPciDevice *functions[N_FUNCTIONS]; /* by FUNCTION_INDEX */
  HvPciDevice host_bridge;
  const HvPlatform *platform; /* for the reset control register; may be NULL */
  uint8_t reset_control;      /* port 0xCF9 */
  void *chipset;
  GDestroyNotify chipset_free;
  uint64_t next_mmio;
  uint64_t next_io;
};

static void
put16 (uint8_t *config, unsigned offset, uint16_t value)
{
  config[offset] = (uint8_t) value;
  config[offset + 1] = (uint8_t) (value >> 8);
}

static uint16_t
get16 (const uint8_t *config, unsigned offset)
{
  return (uint16_t) (config[offset] | (config[offset + 1] << 8));
}

static void
put32 (uint8_t *config, unsigned offset, uint32_t value)
{
  put16 (config, offset, (uint16_t) value);
  put16 (config, offset + 2, (uint16_t) (value >> 16));
}

static uint32_t
get32 (const uint8_t *config, unsigned offset)
{
  return get16 (config, offset) | ((uint32_t) get16 (config, offset + 2) << 16);
}

static uint32_t
rom_address_mask (const HvPciDevice *device)
{
  return (uint32_t) ~(device->rom_size - 1) & ROM_ADDRESS_MASK;
}

/* The writable address bits of the low dword of a BAR, and its read-only type bits. */
static uint32_t
bar_low_mask (const HvPciDevice *device, unsigned bar)
{
  uint64_t size = device->bar_size[bar];

  /* An I/O BAR decodes 16 bits of port address, the x86 I/O space. */
  if (device->bar_is_io[bar])
    return (uint32_t) ~(size - 1) & 0xfffcu;
  return (uint32_t) ~(size - 1) & 0xfffffff0u;
}

static uint32_t
bar_type_bits (const HvPciDevice *device, unsigned bar)
{
  if (device->bar_is_io[bar])
    return BAR_IO;
  return (device->bar_is_64[bar] ? BAR_MEM_64 : 0)
         | (device->bar_is_prefetchable[bar] ? BAR_MEM_PREFETCH : 0);
}

static uint32_t
bar_high_mask (const HvPciDevice *device, unsigned bar)
{
  return (uint32_t) (~(device->bar_size[bar] - 1) >> 32);
}

static void
store_bar_address (HvPciDevice *device, unsigned bar, uint64_t address)
{
  put32 (device->config, PCI_BAR0 + 4 * bar,
         ((uint32_t) address & bar_low_mask (device, bar)) | bar_type_bits (device, bar));
  if (device->bar_is_64[bar])
    put32 (device->config, PCI_BAR0 + 4 * (bar + 1),
           (uint32_t) (address >> 32) & bar_high_mask (device, bar));
}

/* A write of @value to BAR dword @index (0..5), already merged with the bytes not written. */
static void
write_bar_locked (HvPciDevice *device, unsigned index, uint32_t value)
{
  unsigned bar = index;
  uint32_t low;
  uint32_t high = 0;
  gboolean sizing;
  uint64_t address;

  /* The upper dword of a 64-bit BAR belongs to the BAR below it. */
  if (index > 0 && device->bar_is_64[index - 1] && device->bar_size[index - 1] != 0)
    bar = index - 1;
  if (device->bar_size[bar] == 0)
    return; /* unimplemented BARs read as zero */

  if (bar == index)
    put32 (device->config, PCI_BAR0 + 4 * bar,
           (value & bar_low_mask (device, bar)) | bar_type_bits (device, bar));
  else
    put32 (device->config, PCI_BAR0 + 4 * index, value & bar_high_mask (device, bar));

  low = get32 (device->config, PCI_BAR0 + 4 * bar) & bar_low_mask (device, bar);
  if (device->bar_is_64[bar])
    high = get32 (device->config, PCI_BAR0 + 4 * (bar + 1));
  address = ((uint64_t) high << 32) | low;

  /* All address bits set is a guest sizing the BAR (it restores the address next); the BAR keeps
   * decoding where it was.  For a 64-bit BAR either half all ones counts, since sizing does one half at
   * a time and no real address has them. */
  sizing = low == bar_low_mask (device, bar) || (device->bar_is_64[bar] && high == 0xffffffffu);
  if (sizing || address == device->bar_addr[bar])
    return;

  {
    uint64_t old_address = device->bar_addr[bar];
    device->bar_addr[bar] = address;
    if (device->bar_moved)
      device->bar_moved (device, bar, old_address, address);
  }
}

/* A write to the dword at @reg (aligned) of the bytes in @byte_mask. */
static void
config_write_locked (HvPciDevice *device, unsigned reg, uint32_t value, uint32_t byte_mask)
{
  unsigned first = 4;
  unsigned last = 0;

  if (reg >= PCI_BAR0 && reg < PCI_BAR_END)
    {
      uint32_t merged = (get32 (device->config, reg) & ~byte_mask) | (value & byte_mask);
      write_bar_locked (device, (reg - PCI_BAR0) / 4, merged);
      return;
    }
  if (reg == PCI_ROM_ADDRESS)
    {
      uint32_t merged;

      /* Without an option ROM the ROM BAR reads as zero, so sizing finds nothing.  With one, the
       * address and enable bit are the guest's; the device maps the ROM (hv_pci_rom_address). */
      if (device->rom_size == 0)
        return;
      merged = (get32 (device->config, reg) & ~byte_mask) | (value & byte_mask);
      put32 (device->config, reg, merged & (rom_address_mask (device) | ROM_ENABLE));
      if (device->config_written)
        device->config_written (device, reg, 4);
      return;
    }

  for (unsigned b = 0; b < 4; b++)
    {
      unsigned offset = reg + b;
      uint8_t byte = (uint8_t) (value >> (8 * b));
      uint8_t mask;

      if (!(byte_mask & (0xffu << (8 * b))))
        continue;
      if (offset == PCI_COMMAND || offset == PCI_COMMAND + 1)
        mask = (uint8_t) (COMMAND_WRITABLE >> (8 * (offset - PCI_COMMAND)));
      else if (offset == PCI_STATUS || offset == PCI_STATUS + 1)
        mask = 0; /* no error bits are ever set, so write-one-to-clear has nothing to clear */
      else if (offset == PCI_INTERRUPT_LINE)
        mask = 0xff; /* scratch for the OS, always writable */
      else
        mask = device->write_mask[offset];
      device->config[offset] = (uint8_t) ((device->config[offset] & ~mask) | (byte & mask));
      first = MIN (first, b);
      last = MAX (last, b);
    }

  if (first <= last && device->config_written)
    device->config_written (device, reg + first, last - first + 1);
}

static HvPciDevice *
addressed_device_locked (HvPci *pci)
{
  uint32_t address = pci->config_address;
  unsigned bus = (address >> 16) & 0xff;
  unsigned slot = (address >> 11) & 0x1f;
  unsigned function = (address >> 8) & 0x7;

  if (!(address & CONFIG_ENABLE) || bus != 0)
    return NULL;
  return pci->functions[FUNCTION_INDEX (slot, function)];
}

void
hv_pci_conf1_io (void *opaque, uint64_t offset, uint8_t *data, unsigned len, gboolean is_write)
{
  HvPci *pci = opaque;
  HvPciDevice *device;
  unsigned reg;
  unsigned lane;
  uint32_t value = 0;
  uint32_t byte_mask = 0;

  if (offset >= 8 || len == 0 || len > 8)
    return;

  g_mutex_lock (&pci->lock);
  if (offset < 4)
    {
      /* CONFIG_ADDRESS answers only whole dword accesses; a byte at 0xCF9 is the reset control
       * register (PIIX3 and ICH9 alike), others are registers this machine does not have. */
      gboolean reset = FALSE;

      if (offset == 0 && len == 4)
        {
          if (is_write)
            pci->config_address = get32 (data, 0) & CONFIG_ADDR_MASK;
          else
            put32 (data, 0, pci->config_address);
        }
      else if (offset == 1 && len == 1)
        {
          /* SYS_RST (bit 1) chooses a hard reset, RST_CPU (bit 2) does it; ours are all hard. */
          if (is_write)
            {
              reset = (data[0] & RCR_RST_CPU) != 0;
              pci->reset_control = data[0] & RCR_SYS_RST;
            }
          else
            data[0] = pci->reset_control;
        }
      g_mutex_unlock (&pci->lock);
      if (reset)
        hv_platform_request_exit (pci->platform, HV_EXIT_RESET,
                                  "the guest reset the machine through port 0xCF9");
      return;
    }

  device = addressed_device_locked (pci);
  reg = pci->config_address & 0xfc;
  lane = (unsigned) offset - 4;
  /* An access past CONFIG_DATA's last byte lane is cut. */
  len = MIN (len, 4 - lane);

  if (!is_write)
    {
      for (unsigned i = 0; i < len; i++)
        data[i] = device ? device->config[reg + lane + i] : 0xff;
    }
  else if (device != NULL)
    {
      for (unsigned i = 0; i < len; i++)
        {
          value |= (uint32_t) data[i] << (8 * (lane + i));
          byte_mask |= 0xffu << (8 * (lane + i));
        }
      config_write_locked (device, reg, value, byte_mask);
    }
  g_mutex_unlock (&pci->lock);
}

HvPci *
hv_pci_new (void)
{
  HvPci *pci = g_new0 (HvPci, 1);
  HvPciDevice *bridge = &pci->host_bridge;

  g_mutex_init (&pci->lock);
  bridge->name = "host bridge";
  put16 (bridge->config, PCI_VENDOR_ID, 0x1b36); /* Red Hat, Inc. */
  put16 (bridge->config, PCI_DEVICE_ID, 0x0008); /* QEMU PCIe host bridge */
  bridge->config[PCI_CLASS_PROG + 2] = 0x06;     /* bridge, host bridge (subclass 0) */
  bridge->slot = 0;
  pci->functions[0] = bridge;
  pci->next_mmio = HV_MMIO32_START;
  pci->next_io = IO_BAR_START;
  return pci;
}

void
hv_pci_free (HvPci *pci)
{
  if (pci == NULL)
    return;
  if (pci->chipset_free)
    pci->chipset_free (pci->chipset);
  g_mutex_clear (&pci->lock);
  g_free (pci);
}

static gboolean
check_bars (const HvPciDevice *device, GError **error)
{
  if (device->rom_size != 0
      && ((device->rom_size & (device->rom_size - 1)) != 0 || device->rom_size < ROM_SIZE_MIN
          || device->rom_size > (16u << 20)))
    {
      g_set_error (error, HV_ERROR, HV_ERROR_INVALID_ARGUMENT,
                   "the option ROM BAR of PCI device %s must be a power of two from 2 KiB to 16 MiB",
                   device->name);
      return FALSE;
    }
  for (unsigned bar = 0; bar < 6; bar++)
    {
      uint64_t size = device->bar_size[bar];

      if (size == 0)
        continue;
      if ((size & (size - 1)) != 0)
        {
          g_set_error (error, HV_ERROR, HV_ERROR_INVALID_ARGUMENT,
                       "BAR %u of PCI device %s has size %" G_GUINT64_FORMAT ", not a power of two", bar,
                       device->name, size);
          return FALSE;
        }
      if (bar > 0 && device->bar_is_64[bar - 1] && device->bar_size[bar - 1] != 0)
        {
          g_set_error (error, HV_ERROR, HV_ERROR_INVALID_ARGUMENT,
                       "BAR %u of PCI device %s is the upper half of 64-bit BAR %u", bar, device->name,
                       bar - 1);
          return FALSE;
        }
      if (device->bar_is_io[bar]
          && (device->bar_is_64[bar] || size < IO_BAR_MIN || size > IO_BAR_END - IO_BAR_START))
        {
          g_set_error (error, HV_ERROR, HV_ERROR_INVALID_ARGUMENT,
                       "I/O BAR %u of PCI device %s must be 32-bit and 4 to 16384 ports", bar, device->name);
          return FALSE;
        }
      if (!device->bar_is_io[bar] && size < MEM_BAR_MIN)
        {
          g_set_error (error, HV_ERROR, HV_ERROR_INVALID_ARGUMENT,
                       "Memory BAR %u of PCI device %s is smaller than 16 bytes", bar, device->name);
          return FALSE;
        }
      if (device->bar_is_64[bar] && bar == 5)
        {
          g_set_error (error, HV_ERROR, HV_ERROR_INVALID_ARGUMENT, "BAR 5 of PCI device %s cannot be 64-bit",
                       device->name);
          return FALSE;
        }
    }
  return TRUE;
}

static gboolean
allocate (uint64_t *cursor, uint64_t end, uint64_t size, uint64_t *address)
{
  uint64_t start = (*cursor + size - 1) & ~(size - 1);

  if (start < *cursor || start > end || end - start < size)
    return FALSE;
  *address = start;
  *cursor = start + size;
  return TRUE;
}

/* Places @device at @slot and @function, or (@slot -1) function 0 of the first free slot. */
static gboolean
add_device (HvPci *pci, HvPciDevice *device, int fixed_slot, unsigned function, GError **error)
{
  uint64_t addresses[6] = { 0 };
  uint64_t next_mmio;
  uint64_t next_io;
  uint16_t command;
  unsigned slot;

  g_return_val_if_fail (pci != NULL, FALSE);
  g_return_val_if_fail (device != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (!check_bars (device, error))
    return FALSE;

  g_mutex_lock (&pci->lock);
  if (fixed_slot >= 0)
    {
      slot = (unsigned) fixed_slot;
      if (pci->functions[FUNCTION_INDEX (slot, function)] != NULL)
        {
          g_mutex_unlock (&pci->lock);
          g_set_error (error, HV_ERROR, HV_ERROR_INVALID_ARGUMENT, "PCI %02x.%u is taken, not free for %s",
                       slot, function, device->name);
          return FALSE;
        }
    }
  else
    {
      /* A slot any of whose functions is taken is not free. */
      for (slot = 1; slot < N_SLOTS; slot++)
        {
          gboolean used = FALSE;
          for (unsigned f = 0; f < 8; f++)
            used |= pci->functions[FUNCTION_INDEX (slot, f)] != NULL;
          if (!used)
            break;
        }
      if (slot == N_SLOTS)
        {
          g_mutex_unlock (&pci->lock);
          g_set_error (error, HV_ERROR, HV_ERROR_TOO_LARGE,
                       "No free PCI slot for %s: all %u slots of bus 0 are taken", device->name, N_SLOTS - 1);
          return FALSE;
        }
    }

  /* Place every BAR before changing anything, so a failure leaves the bridge as it was. */
  next_mmio = pci->next_mmio;
  next_io = pci->next_io;
  for (unsigned bar = 0; bar < 6; bar++)
    {
      uint64_t size = device->bar_size[bar];
      gboolean ok;

      if (size == 0 || (bar > 0 && device->bar_is_64[bar - 1] && device->bar_size[bar - 1]))
        continue;
      if (device->bar_is_io[bar])
        ok = allocate (&next_io, IO_BAR_END, size, &addresses[bar]);
      else
        ok = allocate (&next_mmio, HV_MMIO32_END, size, &addresses[bar]);
      if (!ok)
        {
          g_mutex_unlock (&pci->lock);
          g_set_error (error, HV_ERROR, HV_ERROR_TOO_LARGE,
                       "BAR %u of PCI device %s (%" G_GUINT64_FORMAT " bytes) does not fit in the "
                       "PCI %s window",
                       bar, device->name, size, device->bar_is_io[bar] ? "I/O" : "32-bit memory");
          return FALSE;
        }
    }
  pci->next_mmio = next_mmio;
  pci->next_io = next_io;

  command = get16 (device->config, PCI_COMMAND);
  for (unsigned bar = 0; bar < 6; bar++)
    {
      gboolean upper_half = bar > 0 && device->bar_is_64[bar - 1] && device->bar_size[bar - 1];

      if (upper_half)
        continue;
      if (device->bar_size[bar] == 0)
        {
          put32 (device->config, PCI_BAR0 + 4 * bar, 0);
          device->bar_addr[bar] = 0;
          continue;
        }
      store_bar_address (device, bar, addresses[bar]);
      device->bar_addr[bar] = addresses[bar];
      command |= device->bar_is_io[bar] ? COMMAND_IO : COMMAND_MEMORY;
    }
  put32 (device->config, PCI_ROM_ADDRESS, 0);
  put16 (device->config, PCI_COMMAND, command);

  device->slot = slot;
  device->function = function;
  pci->functions[FUNCTION_INDEX (slot, function)] = device;
  g_mutex_unlock (&pci->lock);
  return TRUE;
}

gboolean
hv_pci_add_device (HvPci *pci, HvPciDevice *device, GError **error)
{
  return add_device (pci, device, -1, 0, error);
}

gboolean
hv_pci_add_function (HvPci *pci, HvPciDevice *device, unsigned slot, unsigned function, GError **error)
{
  g_return_val_if_fail (slot > 0 && slot < N_SLOTS && function < 8, FALSE);
  return add_device (pci, device, (int) slot, function, error);
}

HvPciDevice *
hv_pci_get_host_bridge (HvPci *pci)
{
  return &pci->host_bridge;
}

void
hv_pci_set_platform (HvPci *pci, const HvPlatform *platform)
{
  pci->platform = platform;
}

void
hv_pci_take_chipset (HvPci *pci, void *chipset, GDestroyNotify free_func)
{
  g_return_if_fail (pci->chipset == NULL);
  pci->chipset = chipset;
  pci->chipset_free = free_func;
}

uint64_t
hv_pci_rom_address (const HvPciDevice *device)
{
  uint32_t value = get32 (device->config, PCI_ROM_ADDRESS);
  uint32_t address = value & rom_address_mask (device);

  /* All address bits set is a guest sizing the ROM BAR; it decodes nowhere meanwhile. */
  if (device->rom_size == 0 || !(value & ROM_ENABLE) || address == rom_address_mask (device))
    return 0;
  return address;
}

char *
hv_pci_boot_path (const HvPciDevice *device, const char *name)
{
  if (device->function != 0)
    return g_strdup_printf ("/pci@i0cf8/%s@%x,%x", name, device->slot, device->function);
  return g_strdup_printf ("/pci@i0cf8/%s@%x", name, device->slot);
}

uint64_t
hv_pci_bar_address (const HvPciDevice *device, unsigned bar)
{
  g_return_val_if_fail (device != NULL, 0);

  if (bar >= 6)
    return 0;
  return device->bar_addr[bar];
}

GVariant *
hv_pci_save_state (HvPci *pci)
{
  g_auto (GVariantDict) dict = G_VARIANT_DICT_INIT (NULL);
  GVariantBuilder list;

  g_return_val_if_fail (pci != NULL, NULL);

  g_variant_builder_init (&list, G_VARIANT_TYPE ("a(ysayat)"));
  g_mutex_lock (&pci->lock);
  g_variant_dict_insert (&dict, "config-address", "u", pci->config_address);
  for (unsigned slot = 0; slot < N_FUNCTIONS; slot++)
    {
      const HvPciDevice *device = pci->functions[slot];
      if (device == NULL)
        continue;
      g_variant_builder_add (
          &list, "(ys@ay@at)", (guint8) slot, device->name,
          hv_state_new_bytes (device->config, sizeof device->config),
          g_variant_new_fixed_array (G_VARIANT_TYPE_UINT64, device->bar_addr, 6, sizeof device->bar_addr[0]));
    }
  g_mutex_unlock (&pci->lock);
  g_variant_dict_insert_value (&dict, "devices", g_variant_builder_end (&list));
  return g_variant_dict_end (&dict);
}

typedef struct
{
  gboolean present;
  uint8_t config[256];
  uint64_t bar_addr[6];
} SavedFunction;

/* The bytes that make a device what it is; a saved state for another device differs in them. */
static gboolean
same_identity (const uint8_t *a, const uint8_t *b)
{
  static const struct
  {
    unsigned offset;
    unsigned len;
  } ranges[] = {
    { PCI_VENDOR_ID, 4 }, { PCI_REVISION_ID, 4 },     { PCI_HEADER_TYPE, 1 },
    { PCI_SUBSYSTEM, 4 }, { PCI_CAPABILITY_LIST, 1 }, { PCI_INTERRUPT_PIN, 1 },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (ranges); i++)
    if (memcmp (a + ranges[i].offset, b + ranges[i].offset, ranges[i].len) != 0)
      return FALSE;
  return TRUE;
}

static gboolean
check_saved_bars (const HvPciDevice *device, const SavedFunction *saved, GError **error)
{
  for (unsigned bar = 0; bar < 6; bar++)
    {
      uint32_t dword = get32 (saved->config, PCI_BAR0 + 4 * bar);
      uint64_t address = saved->bar_addr[bar];
      uint64_t size = device->bar_size[bar];
      uint64_t limit;

      if (bar > 0 && device->bar_is_64[bar - 1] && device->bar_size[bar - 1] != 0)
        {
          if ((dword & ~bar_high_mask (device, bar - 1)) != 0 || address != 0)
            goto bad;
          continue;
        }
      if (size == 0)
        {
          if (dword != 0 || address != 0)
            goto bad;
          continue;
        }
      if ((dword & ~bar_low_mask (device, bar)) != bar_type_bits (device, bar))
        goto bad;
      /* Where the BAR decodes must be a place it can decode.  A 64-bit BAR takes any address a guest
       * can write to it (write_bar_locked), beyond what the CPU can reach too: refusing one here would
       * let a guest make its own saved state unrestorable. */
      if ((address & (size - 1)) != 0)
        goto bad;
      if (device->bar_is_64[bar])
        {
          if (address > G_MAXUINT64 - (size - 1))
            goto bad;
          continue;
        }
      limit = device->bar_is_io[bar] ? IO_BAR_END : G_GUINT64_CONSTANT (1) << 32;
      if (size > limit || address > limit - size)
        goto bad;
      continue;

    bad:
      hv_state_set_bad (error, "the PCI bus", "BAR %u of %s is out of range", bar, device->name);
      return FALSE;
    }
  return TRUE;
}

gboolean
hv_pci_load_state (HvPci *pci, GVariant *state, GError **error)
{
  const char *what = "the PCI bus";
  g_autofree SavedFunction *saved = g_new0 (SavedFunction, N_FUNCTIONS);
  g_autoptr (GVariant) list = NULL;
  uint32_t config_address;
  GVariantIter iter;
  GVariant *config;
  GVariant *bars;
  const char *name;
  guint8 slot;
  gboolean ok = FALSE;

  g_return_val_if_fail (pci != NULL, FALSE);
  g_return_val_if_fail (state != NULL, FALSE);

  if (!hv_state_get (state, what, "config-address", "u", &config_address, error))
    return FALSE;
  if (config_address & ~CONFIG_ADDR_MASK)
    {
      hv_state_set_bad (error, what, "CONFIG_ADDRESS 0x%08x sets bits that do not exist", config_address);
      return FALSE;
    }
  list = hv_state_lookup (state, what, "devices", G_VARIANT_TYPE ("a(ysayat)"), error);
  if (list == NULL)
    return FALSE;

  g_mutex_lock (&pci->lock);
  g_variant_iter_init (&iter, list);
  while (g_variant_iter_next (&iter, "(y&s@ay@at)", &slot, &name, &config, &bars))
    {
      g_autoptr (GVariant) config_owned = config;
      g_autoptr (GVariant) bars_owned = bars;
      const HvPciDevice *device = pci->functions[slot]; /* a byte cannot be out of range */
      const void *data;
      gsize len;

      if (device == NULL || strcmp (device->name, name) != 0)
        {
          hv_state_set_bad (error, what, "slot %u holds “%s” in the saved state, %s%s%s here", slot, name,
                            device ? "“" : "", device ? device->name : "nothing", device ? "”" : "");
          goto out;
        }
      if (saved[slot].present)
        {
          hv_state_set_bad (error, what, "slot %u is saved twice", slot);
          goto out;
        }
      data = g_variant_get_fixed_array (config, &len, 1);
      if (len != sizeof saved[slot].config)
        {
          hv_state_set_bad (error, what, "the configuration space of %s is %" G_GSIZE_FORMAT " bytes long",
                            name, len);
          goto out;
        }
      memcpy (saved[slot].config, data, len);
      data = g_variant_get_fixed_array (bars, &len, sizeof (uint64_t));
      if (len != G_N_ELEMENTS (saved[slot].bar_addr))
        {
          hv_state_set_bad (error, what, "%s has %" G_GSIZE_FORMAT " BAR addresses, not 6", name, len);
          goto out;
        }
      memcpy (saved[slot].bar_addr, data, sizeof saved[slot].bar_addr);
      saved[slot].present = TRUE;
      if (!same_identity (saved[slot].config, device->config))
        {
          hv_state_set_bad (error, what, "the saved configuration space of %s is another device's", name);
          goto out;
        }
      if (!check_saved_bars (device, &saved[slot], error))
        goto out;
    }
  for (unsigned i = 0; i < N_FUNCTIONS; i++)
    if (pci->functions[i] != NULL && !saved[i].present)
      {
        hv_state_set_bad (error, what, "the state of %s (slot %u) is missing", pci->functions[i]->name, i);
        goto out;
      }

  pci->config_address = config_address;
  for (unsigned i = 0; i < N_FUNCTIONS; i++)
    {
      HvPciDevice *device = pci->functions[i];
      if (device == NULL)
        continue;
      memcpy (device->config, saved[i].config, sizeof device->config);
      for (unsigned bar = 0; bar < 6; bar++)
        if (device->bar_addr[bar] != saved[i].bar_addr[bar])
          {
            uint64_t old_address = device->bar_addr[bar];
            device->bar_addr[bar] = saved[i].bar_addr[bar];
            if (device->bar_moved)
              device->bar_moved (device, bar, old_address, device->bar_addr[bar]);
          }
    }
  ok = TRUE;

out:
  g_mutex_unlock (&pci->lock);
  return ok;
}

/* The "pci-host" kind: bus 0, realized before the devices on it. */

static gboolean
pci_host_realize (HvDevice *device, GError **error)
{
  device->impl = hv_pci_new ();
  hv_pci_set_platform (device->impl, hv_device_get_platform (device));
  return hv_i440fx_init (device->impl, error)
         && hv_device_claim_pio (device, HV_PORT_PCI_CONF, 8, hv_pci_conf1_io, device->impl, error);
}

static void
pci_host_teardown (HvDevice *device)
{
  hv_pci_free (device->impl);
}

static GVariant *
pci_host_save (HvDevice *device)
{
  return hv_pci_save_state (device->impl);
}

static gboolean
pci_host_load (HvDevice *device, GVariant *state, unsigned version, GError **error)
{
  return hv_pci_load_state (device->impl, state, error);
}

const HvDeviceKind hv_pci_host_kind = {
  .info = &hv_kind_info_pci_host,
  .order = HV_DEVICE_ORDER_BUS,
  .state_version = 1,
  .realize = pci_host_realize,
  .teardown = pci_host_teardown,
  .save = pci_host_save,
  .load = pci_host_load,
};

GBytes *
hv_pci_read_rom (int fd, GError **error)
{
  g_autoptr (GByteArray) bytes = g_byte_array_new ();
  uint8_t buf[16384];
  off_t at = 0;

  for (;;)
    {
      ssize_t n = pread (fd, buf, sizeof buf, at);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        {
          int saved = errno;
          g_set_error (error, HV_ERROR, HV_ERROR_FAILED, "cannot read the option ROM: %s",
                       g_strerror (saved));
          return NULL;
        }
      if (n == 0)
        break;
      if (bytes->len + (gsize) n > HV_PCI_ROM_MAX)
        {
          g_set_error (error, HV_ERROR, HV_ERROR_BAD_IMAGE, "the option ROM is larger than 1 MiB");
          return NULL;
        }
      g_byte_array_append (bytes, buf, (guint) n);
      at += n;
    }
  return g_byte_array_free_to_bytes (g_steal_pointer (&bytes));
}
