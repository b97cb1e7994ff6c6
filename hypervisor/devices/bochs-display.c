/* bochs-display.c — the display adapter: a PCI device (1234:1111, class 0380, revision 2, QEMU's
 * subsystem 1af4:1100) with video memory at BAR 0 and its registers at BAR 2 and the legacy DISPI ports;
 * the scan-out mode those registers describe; the written parts of the screen, from the dirty log of the
 * video memory's mapping; the EDID the guest reads; and the saved state.
 *
 * It is what Linux's bochs DRM driver and QEMU's "bochs-display" agree on.  The registers hold whatever
 * the guest writes, like QEMU's; only the mode they add up to is checked: it is shown when it is 32 bpp,
 * 800x600 to 2560x1600, little-endian and inside video memory, otherwise the screen is off, as a monitor
 * shows nothing for a mode it cannot display.  The EDID lists only modes in that range, so a guest that
 * reads it never asks for another. */
#include "bochs-display.h"
#include "bus.h"
#include "device.h"
#include "edid.h"
#include "layout.h"
#include "state.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define PCI_COMMAND     0x04
#define PCI_ROM_ADDRESS 0x30
#define COMMAND_MEMORY  0x0002

/* DISPI register indexes. */
enum
{
  DISPI_ID,
  DISPI_XRES,
  DISPI_YRES,
  DISPI_BPP,
  DISPI_ENABLE,
  DISPI_BANK,
  DISPI_VIRT_WIDTH,
  DISPI_VIRT_HEIGHT,
  DISPI_X_OFFSET,
  DISPI_Y_OFFSET,
  DISPI_VIDEO_MEMORY_64K,
  N_DISPI
};

#define DISPI_ID5      0xb0c5
#define ENABLE_ENABLED 0x01
#define ENABLE_GETCAPS 0x02 /* XRES, YRES and BPP read as the largest values the device takes */

/* BAR 2 layout. */
#define MMIO_EDID      0x000
#define MMIO_EDID_END  0x400
#define MMIO_VGA       0x400 /* VGA ports 0x3C0..0x3DF */
#define MMIO_VGA_END   0x420
#define MMIO_DISPI     0x500
#define MMIO_DISPI_END (MMIO_DISPI + 2 * N_DISPI)
#define MMIO_QEXT      0x600
#define MMIO_QEXT_END  0x608

#define QEXT_SIZE          8
#define QEXT_REG_SIZE      0x0
#define QEXT_REG_BYTEORDER 0x4
#define QEXT_LITTLE_ENDIAN 0x1e1e1e1eu
#define QEXT_BIG_ENDIAN    0xbebebebeu

#define VGA_ATT_W          0x3c0 /* attribute controller: index, then data, alternately */
#define VGA_IS1_RC         0x3da /* input status 1: reading it sends the attribute controller back to index */
#define ATT_PAS            0x20  /* palette address source: clear while the screen is blanked */
#define IS1_DISPLAY_ENABLE 0x01
#define IS1_VRETRACE       0x08

#define PAGE_SHIFT  12
#define N_PAGES     (HV_BOCHS_VRAM_SIZE >> PAGE_SHIFT)
#define LONG_BITS   (8 * sizeof (unsigned long))
#define DIRTY_LONGS ((N_PAGES + LONG_BITS - 1) / LONG_BITS)

#define EDID_SIZE HV_EDID_SIZE

/* The saved registers: the DISPI ones the guest can write (ID's slot is kept, always 0). */
#define N_SAVED_DISPI DISPI_VIDEO_MEMORY_64K

struct _HvDisplay
{
  GMutex lock;
  const HvPlatform *platform;
  HvPciDevice pci;
  int memfd;
  uint8_t *vram;
  uint8_t edid[EDID_SIZE];

  /* Registers. */
  uint16_t dispi[N_SAVED_DISPI];
  uint16_t port_index;     /* selected by port 0x1CE */
  gboolean big_endian;     /* QEXT byte order: the framebuffer holds big-endian pixels */
  gboolean attr_data_next; /* the next write to 0x3C0 is attribute data, not an index */
  gboolean attr_pas;

  /* Where the BARs decode; 0 when they do not. */
  uint64_t fb_addr;
  int fb_slot; /* the map_memory slot, -1 without one */
  uint64_t regs_addr;
  uint64_t rom_addr;
  GBytes *rom;        /* the option ROM (SeaVGABIOS) behind the ROM BAR, or NULL */
  uint8_t vga_status; /* toggles as the guest polls it, like a retracing screen */

  /* Scan-out. */
  HvDisplayMode mode;
  uint64_t reported_generation;             /* the mode the consumer last got rects for */
  gboolean full_redraw;                     /* the dirty log was lost: the next rects cover the screen */
  unsigned long trapped_dirty[DIRTY_LONGS]; /* pages written through the MMIO fallback */
};

static void
put16 (uint8_t *bytes, unsigned offset, uint16_t value)
{
  bytes[offset] = (uint8_t) value;
  bytes[offset + 1] = (uint8_t) (value >> 8);
}

/* The mode. */

static void
compute_mode (const HvBochsDisplay *bochs, HvDisplayMode *mode)
{
  const uint16_t *r = bochs->dispi;
  uint32_t width = r[DISPI_XRES];
  uint32_t height = r[DISPI_YRES];
  uint32_t stride = 4 * (uint32_t) MAX (r[DISPI_VIRT_WIDTH], width);
  uint64_t offset = (uint64_t) r[DISPI_Y_OFFSET] * stride + 4 * (uint64_t) r[DISPI_X_OFFSET];

  memset (mode, 0, sizeof *mode);
  if (!(r[DISPI_ENABLE] & ENABLE_ENABLED) || r[DISPI_BPP] != 32 || bochs->big_endian || !bochs->attr_pas)
    return;
  if (width < HV_BOCHS_MIN_WIDTH || width > HV_BOCHS_MAX_WIDTH || height < HV_BOCHS_MIN_HEIGHT
      || height > HV_BOCHS_MAX_HEIGHT)
    return;
  if (offset + (uint64_t) stride * (height - 1) + 4 * width > HV_BOCHS_VRAM_SIZE)
    return;

  mode->enabled = TRUE;
  mode->width = width;
  mode->height = height;
  mode->stride = stride;
  mode->pixels = bochs->vram + offset;
}

/* Recomputes the mode after a register changed; a different mode is a new generation. */
static void
update_mode_locked (HvBochsDisplay *bochs)
{
  HvDisplayMode mode;

  compute_mode (bochs, &mode);
  if (mode.enabled == bochs->mode.enabled && mode.width == bochs->mode.width
      && mode.height == bochs->mode.height && mode.stride == bochs->mode.stride
      && mode.pixels == bochs->mode.pixels)
    return;
  mode.generation = bochs->mode.generation + 1;
  bochs->mode = mode;
}

/* Registers. */

static uint16_t
dispi_read_locked (HvBochsDisplay *bochs, unsigned index)
{
  gboolean caps = (bochs->dispi[DISPI_ENABLE] & ENABLE_GETCAPS) != 0;

  switch (index)
    {
    case DISPI_ID:
      return DISPI_ID5;
    case DISPI_VIDEO_MEMORY_64K:
      return HV_BOCHS_VRAM_SIZE >> 16;
    case DISPI_XRES:
      return caps ? HV_BOCHS_MAX_WIDTH : bochs->dispi[index];
    case DISPI_YRES:
      return caps ? HV_BOCHS_MAX_HEIGHT : bochs->dispi[index];
    case DISPI_BPP:
      return caps ? 32 : bochs->dispi[index];
    default:
      return index < N_SAVED_DISPI ? bochs->dispi[index] : 0xffff;
    }
}

static void
dispi_write_locked (HvBochsDisplay *bochs, unsigned index, uint16_t value)
{
  /* ID and VIDEO_MEMORY_64K are read-only; there is nothing beyond them. */
  if (index == DISPI_ID || index >= N_SAVED_DISPI || bochs->dispi[index] == value)
    return;
  bochs->dispi[index] = value;
  update_mode_locked (bochs);
}

void
hv_bochs_display_dispi_io (void *opaque, uint64_t offset, uint8_t *data, unsigned len, gboolean is_write)
{
  HvBochsDisplay *bochs = opaque;
  uint16_t value;

  /* A 16-bit access at 0x1CE is the index, one at 0x1CF the data; bytes beyond the first two of an
   * access go nowhere.  A byte access is a 16-bit value with a zero high byte. */
  if (offset > 1 || len == 0)
    return;
  value = len >= 2 ? (uint16_t) (data[0] | data[1] << 8) : data[0];

  g_mutex_lock (&bochs->lock);
  if (offset == 0)
    {
      if (is_write)
        bochs->port_index = value;
      else
        value = bochs->port_index;
    }
  else if (is_write)
    dispi_write_locked (bochs, bochs->port_index, value);
  else
    value = dispi_read_locked (bochs, bochs->port_index);
  g_mutex_unlock (&bochs->lock);

  if (!is_write)
    for (unsigned i = 0; i < MIN (len, 2u); i++)
      data[i] = (uint8_t) (value >> (8 * i));
}

/* An access to the DISPI registers in BAR 2: each register is two byte lanes, so a wide access covers
 * several registers and a byte access half of one. */
static void
dispi_mmio_locked (HvBochsDisplay *bochs, unsigned offset, uint8_t *data, unsigned len, gboolean is_write)
{
  unsigned end = MIN (offset + len, (unsigned) MMIO_DISPI_END);

  for (unsigned at = offset; at < end;)
    {
      unsigned index = (at - MMIO_DISPI) / 2;
      unsigned reg_start = MMIO_DISPI + 2 * index;
      uint16_t value = index < N_SAVED_DISPI ? bochs->dispi[index] : 0;
      uint16_t read_value = dispi_read_locked (bochs, index);

      for (unsigned lane = at - reg_start; lane < 2 && at < end; lane++, at++)
        {
          if (is_write)
            value = (uint16_t) ((value & ~(0xff << (8 * lane))) | data[at - offset] << (8 * lane));
          else
            data[at - offset] = (uint8_t) (read_value >> (8 * lane));
        }
      if (is_write)
        dispi_write_locked (bochs, index, value);
    }
}

static void
qext_mmio_locked (HvBochsDisplay *bochs, unsigned offset, uint8_t *data, unsigned len, gboolean is_write)
{
  unsigned reg = offset - MMIO_QEXT;
  uint32_t value;

  /* Dword registers, dword accesses only (as QEMU's). */
  if (len != 4 || reg % 4 != 0)
    return;
  if (is_write)
    {
      value = (uint32_t) data[0] | (uint32_t) data[1] << 8 | (uint32_t) data[2] << 16
              | (uint32_t) data[3] << 24;
      if (reg == QEXT_REG_BYTEORDER && (value == QEXT_BIG_ENDIAN || value == QEXT_LITTLE_ENDIAN))
        {
          bochs->big_endian = value == QEXT_BIG_ENDIAN;
          update_mode_locked (bochs);
        }
      return;
    }
  value = reg == QEXT_REG_SIZE ? QEXT_SIZE : bochs->big_endian ? QEXT_BIG_ENDIAN : QEXT_LITTLE_ENDIAN;
  for (unsigned i = 0; i < 4; i++)
    data[i] = (uint8_t) (value >> (8 * i));
}

/* The VGA ports Linux's driver uses to blank the screen: the attribute controller's PAS bit. */
static void
vga_mmio_locked (HvBochsDisplay *bochs, unsigned offset, uint8_t *data, unsigned len, gboolean is_write)
{
  for (unsigned i = 0; i < len && offset + i < MMIO_VGA_END; i++)
    {
      unsigned port = 0x3c0 + offset + i - MMIO_VGA;

      if (is_write && port == VGA_ATT_W)
        {
          if (!bochs->attr_data_next)
            {
              bochs->attr_pas = (data[i] & ATT_PAS) != 0;
              update_mode_locked (bochs);
            }
          bochs->attr_data_next = !bochs->attr_data_next;
        }
      else if (!is_write && port == VGA_IS1_RC)
        {
          bochs->attr_data_next = FALSE;
          bochs->vga_status ^= IS1_DISPLAY_ENABLE | IS1_VRETRACE;
          data[i] = bochs->vga_status;
        }
    }
}

void
hv_bochs_display_mmio (void *opaque, uint64_t offset, uint8_t *data, unsigned len, gboolean is_write)
{
  HvBochsDisplay *bochs = opaque;
  unsigned at;

  if (offset >= HV_BOCHS_MMIO_SIZE || len == 0 || len > 8)
    return;
  at = (unsigned) offset;
  len = MIN (len, HV_BOCHS_MMIO_SIZE - at);

  g_mutex_lock (&bochs->lock);
  if (at < MMIO_EDID_END)
    {
      if (!is_write)
        for (unsigned i = 0; i < len; i++)
          data[i] = at + i < EDID_SIZE ? bochs->edid[at + i] : 0;
    }
  else if (at >= MMIO_VGA && at < MMIO_VGA_END)
    vga_mmio_locked (bochs, at, data, len, is_write);
  else if (at >= MMIO_DISPI && at < MMIO_DISPI_END)
    dispi_mmio_locked (bochs, at, data, len, is_write);
  else if (at >= MMIO_QEXT && at < MMIO_QEXT_END)
    qext_mmio_locked (bochs, at, data, len, is_write);
  g_mutex_unlock (&bochs->lock);
}

/* Video memory through MMIO exits, for a platform that cannot map it. */
static void
trapped_framebuffer_io (void *opaque, uint64_t offset, uint8_t *data, unsigned len, gboolean is_write)
{
  HvBochsDisplay *bochs = opaque;

  if (offset >= HV_BOCHS_VRAM_SIZE || len > HV_BOCHS_VRAM_SIZE - offset)
    return;
  g_mutex_lock (&bochs->lock);
  if (is_write)
    {
      memcpy (bochs->vram + offset, data, len);
      for (uint64_t page = offset >> PAGE_SHIFT; page <= (offset + len - 1) >> PAGE_SHIFT; page++)
        bochs->trapped_dirty[page / LONG_BITS] |= 1ul << (page % LONG_BITS);
    }
  else
    memcpy (data, bochs->vram + offset, len);
  g_mutex_unlock (&bochs->lock);
}

/* BAR placement. */

/* Makes video memory appear at @addr (0: nowhere). */
static gboolean
place_framebuffer_locked (HvBochsDisplay *bochs, uint64_t addr, GError **error)
{
  const HvPlatform *platform = bochs->platform;

  if (addr == bochs->fb_addr)
    return TRUE;
  /* Writes made while it moves may be missing from the log. */
  bochs->full_redraw = TRUE;

  if (platform->map_memory == NULL)
    {
      if (platform->mmio == NULL)
        return TRUE;
      if (bochs->fb_addr != 0)
        hv_bus_unregister (platform->mmio, bochs->fb_addr, bochs);
      bochs->fb_addr = 0;
      if (addr != 0
          && !hv_bus_register (platform->mmio, addr, HV_BOCHS_VRAM_SIZE, "bochs-display video memory",
                               trapped_framebuffer_io, bochs, error))
        return FALSE;
      bochs->fb_addr = addr;
      return TRUE;
    }

  if (bochs->fb_slot >= 0 && addr != 0 && platform->move_memory != NULL)
    {
      g_autoptr (GError) local = NULL;

      if (platform->move_memory (platform->opaque, bochs->fb_slot, addr, &local))
        {
          bochs->fb_addr = addr;
          return TRUE;
        }
      g_debug ("bochs-display: cannot move video memory to 0x%" G_GINT64_MODIFIER "x: %s", addr,
               local->message);
    }
  if (bochs->fb_slot >= 0 && platform->unmap_memory != NULL)
    platform->unmap_memory (platform->opaque, bochs->fb_slot);
  bochs->fb_slot = -1;
  bochs->fb_addr = 0;
  if (addr == 0)
    return TRUE;

  bochs->fb_slot = platform->map_memory (platform->opaque, addr, HV_BOCHS_VRAM_SIZE, bochs->vram, TRUE,
                                         error);
  if (bochs->fb_slot < 0)
    {
      bochs->fb_slot = -1;
      return FALSE;
    }
  bochs->fb_addr = addr;
  return TRUE;
}

static gboolean
place_registers_locked (HvBochsDisplay *bochs, uint64_t addr, GError **error)
{
  HvBus *mmio = bochs->platform->mmio;

  if (addr == bochs->regs_addr || mmio == NULL)
    return TRUE;
  if (bochs->regs_addr != 0)
    hv_bus_unregister (mmio, bochs->regs_addr, bochs);
  bochs->regs_addr = 0;
  if (addr != 0
      && !hv_bus_register (mmio, addr, HV_BOCHS_MMIO_SIZE, "bochs-display registers", hv_bochs_display_mmio,
                           bochs, error))
    return FALSE;
  bochs->regs_addr = addr;
  return TRUE;
}

/* The ROM BAR: reads see the ROM (0xff past its end), writes go nowhere.  The ROM never changes, so
 * no lock is needed. */
static void
rom_mmio (void *opaque, uint64_t offset, uint8_t *data, unsigned len, gboolean is_write)
{
  HvBochsDisplay *bochs = opaque;
  gsize size;
  const uint8_t *rom = g_bytes_get_data (bochs->rom, &size);

  if (is_write)
    return;
  for (unsigned i = 0; i < len; i++)
    data[i] = offset + i < size ? rom[offset + i] : 0xff;
}

static gboolean
place_rom_locked (HvBochsDisplay *bochs, uint64_t addr, GError **error)
{
  HvBus *mmio = bochs->platform->mmio;

  if (addr == bochs->rom_addr || mmio == NULL || bochs->rom == NULL)
    return TRUE;
  if (bochs->rom_addr != 0)
    hv_bus_unregister (mmio, bochs->rom_addr, bochs);
  bochs->rom_addr = 0;
  if (addr != 0
      && !hv_bus_register (mmio, addr, bochs->pci.rom_size, "bochs-display option ROM", rom_mmio, bochs,
                           error))
    return FALSE;
  bochs->rom_addr = addr;
  return TRUE;
}

/* Puts the BARs where the configuration space says, or nowhere while memory decoding is off. */
static gboolean
update_mappings_locked (HvBochsDisplay *bochs, GError **error)
{
  gboolean decode = (bochs->pci.config[PCI_COMMAND] & COMMAND_MEMORY) != 0;

  return place_framebuffer_locked (bochs, decode ? hv_pci_bar_address (&bochs->pci, 0) : 0, error)
         && place_registers_locked (bochs, decode ? hv_pci_bar_address (&bochs->pci, 2) : 0, error)
         && place_rom_locked (bochs, decode ? hv_pci_rom_address (&bochs->pci) : 0, error);
}

/* After a guest's configuration write: a failure is the guest's doing (a BAR over RAM or another
 * BAR), and leaves that BAR decoding nowhere. */
static void
follow_guest_locked (HvBochsDisplay *bochs)
{
  g_autoptr (GError) error = NULL;

  if (!update_mappings_locked (bochs, &error))
    g_debug ("bochs-display: %s", error->message);
}

static void
pci_config_written (HvPciDevice *device, unsigned offset, unsigned len)
{
  HvBochsDisplay *bochs = device->opaque;

  if ((offset > PCI_COMMAND || offset + len <= PCI_COMMAND) && offset != PCI_ROM_ADDRESS)
    return;
  g_mutex_lock (&bochs->lock);
  follow_guest_locked (bochs);
  g_mutex_unlock (&bochs->lock);
}

static void
pci_bar_moved (HvPciDevice *device, unsigned bar, uint64_t old_addr, uint64_t new_addr)
{
  HvBochsDisplay *bochs = device->opaque;

  g_mutex_lock (&bochs->lock);
  follow_guest_locked (bochs);
  g_mutex_unlock (&bochs->lock);
}

/* Life cycle. */

static void
init_pci_device (HvBochsDisplay *bochs)
{
  HvPciDevice *d = &bochs->pci;

  d->name = "bochs-display";
  d->opaque = bochs;
  d->config_written = pci_config_written;
  d->bar_moved = pci_bar_moved;
  put16 (d->config, 0x00, 0x1234); /* the vendor and device Linux's bochs driver binds to */
  put16 (d->config, 0x02, 0x1111);
  d->config[0x08] = 2;    /* revision 2: the extended registers exist */
  d->config[0x0a] = 0x80; /* display controller, other: no legacy VGA */
  d->config[0x0b] = 0x03;
  put16 (d->config, 0x2c, 0x1af4); /* QEMU's subsystem, which Linux names "QEMU stdvga" */
  put16 (d->config, 0x2e, 0x1100);
  d->bar_size[0] = HV_BOCHS_VRAM_SIZE;
  d->bar_is_prefetchable[0] = TRUE;
  d->bar_size[2] = HV_BOCHS_MMIO_SIZE;
}

HvBochsDisplay *
hv_bochs_display_new (const HvPlatform *platform, HvPci *pci, GError **error)
{
  HvBochsDisplay *bochs;
  void *vram;
  gboolean ok;

  g_return_val_if_fail (platform != NULL, NULL);
  g_return_val_if_fail (pci != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  bochs = g_new0 (HvBochsDisplay, 1);
  g_mutex_init (&bochs->lock);
  bochs->platform = platform;
  bochs->fb_slot = -1;
  bochs->attr_pas = TRUE; /* unblanked, for guests that never touch the VGA ports */
  hv_edid_build (bochs->edid);
  init_pci_device (bochs);

  bochs->memfd = memfd_create ("vireo-video-memory", MFD_CLOEXEC);
  if (bochs->memfd < 0 || ftruncate (bochs->memfd, HV_BOCHS_VRAM_SIZE) < 0)
    {
      int saved = errno;
      g_set_error (error, HV_ERROR, HV_ERROR_FAILED, "cannot create video memory: %s", g_strerror (saved));
      hv_bochs_display_free (bochs);
      return NULL;
    }
  vram = mmap (NULL, HV_BOCHS_VRAM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE, bochs->memfd, 0);
  if (vram == MAP_FAILED)
    {
      int saved = errno;
      g_set_error (error, HV_ERROR, HV_ERROR_FAILED, "cannot map video memory: %s", g_strerror (saved));
      hv_bochs_display_free (bochs);
      return NULL;
    }
  madvise (vram, HV_BOCHS_VRAM_SIZE, MADV_DONTDUMP);
  bochs->vram = vram;

  if (!hv_pci_add_device (pci, &bochs->pci, error))
    {
      hv_bochs_display_free (bochs);
      return NULL;
    }
  g_mutex_lock (&bochs->lock);
  ok = update_mappings_locked (bochs, error);
  g_mutex_unlock (&bochs->lock);
  if (!ok)
    {
      g_prefix_error (error, "cannot map the display's BARs: ");
      hv_bochs_display_free (bochs);
      return NULL;
    }
  return bochs;
}

void
hv_bochs_display_free (HvBochsDisplay *bochs)
{
  if (bochs == NULL)
    return;
  /* The PCI bus keeps no use for the device once the VM is taken apart; its BARs leave the buses. */
  if (bochs->vram != NULL)
    {
      place_framebuffer_locked (bochs, 0, NULL);
      place_registers_locked (bochs, 0, NULL);
      place_rom_locked (bochs, 0, NULL);
      munmap (bochs->vram, HV_BOCHS_VRAM_SIZE);
    }
  if (bochs->memfd >= 0)
    close (bochs->memfd);
  g_clear_pointer (&bochs->rom, g_bytes_unref);
  g_mutex_clear (&bochs->lock);
  g_free (bochs);
}

HvDisplay *
hv_bochs_display_get_display (HvBochsDisplay *bochs)
{
  return bochs;
}

HvPciDevice *
hv_bochs_display_get_pci_device (HvBochsDisplay *bochs)
{
  g_return_val_if_fail (bochs != NULL, NULL);
  return &bochs->pci;
}

/* display.h */

void
hv_display_get_mode (HvDisplay *display, HvDisplayMode *mode)
{
  g_return_if_fail (display != NULL);
  g_return_if_fail (mode != NULL);

  g_mutex_lock (&display->lock);
  *mode = display->mode;
  g_mutex_unlock (&display->lock);
}

/* The pages written since the last look: the dirty log of the mapping plus what went through the MMIO
 * fallback.  FALSE when that cannot be known. */
static gboolean
fetch_dirty_locked (HvBochsDisplay *bochs, unsigned long *dirty)
{
  const HvPlatform *platform = bochs->platform;
  unsigned long logged[DIRTY_LONGS] = { 0 };
  g_autoptr (GError) error = NULL;

  memcpy (dirty, bochs->trapped_dirty, sizeof bochs->trapped_dirty);
  memset (bochs->trapped_dirty, 0, sizeof bochs->trapped_dirty);
  if (bochs->fb_slot < 0)
    return TRUE;
  if (platform->get_dirty_log == NULL)
    return FALSE;
  if (!platform->get_dirty_log (platform->opaque, bochs->fb_slot, logged, &error))
    {
      g_debug ("bochs-display: cannot read the dirty log: %s", error->message);
      return FALSE;
    }
  for (unsigned i = 0; i < DIRTY_LONGS; i++)
    dirty[i] |= logged[i];
  return TRUE;
}

static gboolean
pages_dirty (const unsigned long *dirty, uint64_t first, uint64_t last)
{
  for (uint64_t page = first; page <= last; page++)
    if (dirty[page / LONG_BITS] & (1ul << (page % LONG_BITS)))
      return TRUE;
  return FALSE;
}

static gboolean
row_dirty (const HvBochsDisplay *bochs, const unsigned long *dirty, uint32_t y)
{
  const HvDisplayMode *mode = &bochs->mode;
  uint64_t start = (uint64_t) (mode->pixels - bochs->vram) + (uint64_t) y * mode->stride;

  return pages_dirty (dirty, start >> PAGE_SHIFT, (start + 4 * mode->width - 1) >> PAGE_SHIFT);
}

/* Full-width bands of consecutive written rows; past @max_rects, the last band grows to cover the
 * rest. */
static unsigned
dirty_bands_locked (const HvBochsDisplay *bochs, const unsigned long *dirty, HvRect *rects,
                    unsigned max_rects)
{
  const HvDisplayMode *mode = &bochs->mode;
  unsigned n = 0;
  uint32_t y = 0;

  while (y < mode->height)
    {
      uint32_t start;

      if (!row_dirty (bochs, dirty, y))
        {
          y++;
          continue;
        }
      start = y;
      while (y < mode->height && row_dirty (bochs, dirty, y))
        y++;
      if (n < max_rects)
        rects[n++] = (HvRect){ 0, start, mode->width, y - start };
      else
        rects[n - 1].height = y - rects[n - 1].y;
    }
  return n;
}

unsigned
hv_display_collect_dirty (HvDisplay *display, HvRect *rects, unsigned max_rects)
{
  unsigned long dirty[DIRTY_LONGS];
  gboolean known;
  unsigned n = 0;

  g_return_val_if_fail (display != NULL, 0);
  g_return_val_if_fail (rects != NULL || max_rects == 0, 0);

  if (max_rects == 0)
    return 0;
  g_mutex_lock (&display->lock);
  known = fetch_dirty_locked (display, dirty);
  if (display->mode.enabled)
    {
      if (!known || display->full_redraw || display->reported_generation != display->mode.generation)
        rects[n++] = (HvRect){ 0, 0, display->mode.width, display->mode.height };
      else
        n = dirty_bands_locked (display, dirty, rects, max_rects);
    }
  /* A screen that is off has nothing to redraw; turning it on is a new generation. */
  display->reported_generation = display->mode.generation;
  display->full_redraw = FALSE;
  g_mutex_unlock (&display->lock);
  return n;
}

/* Saved state. */

static gboolean
page_is_zero (const uint8_t *page)
{
  const uint64_t *words = (const uint64_t *) page;

  for (unsigned i = 0; i < (1u << PAGE_SHIFT) / sizeof *words; i++)
    if (words[i] != 0)
      return FALSE;
  return TRUE;
}

/* Adds runs of non-zero pages in [@start, @end) to @runs, as (offset, bytes). */
static void
add_nonzero_runs (HvBochsDisplay *bochs, uint64_t start, uint64_t end, GVariantBuilder *runs)
{
  uint64_t at = start;

  while (at < end)
    {
      uint64_t run;

      if (page_is_zero (bochs->vram + at))
        {
          at += 1u << PAGE_SHIFT;
          continue;
        }
      run = at;
      while (at < end && !page_is_zero (bochs->vram + at))
        at += 1u << PAGE_SHIFT;
      g_variant_builder_add (runs, "(u@ay)", (guint32) run, hv_state_new_bytes (bochs->vram + run, at - run));
    }
}

/* Video memory as runs of non-zero pages, skipping the memfd's holes without touching them (reading a
 * hole of shared memory would allocate it). */
static GVariant *
save_video_memory (HvBochsDisplay *bochs)
{
  GVariantBuilder runs;
  uint64_t offset = 0;

  g_variant_builder_init (&runs, G_VARIANT_TYPE ("a(uay)"));
  while (offset < HV_BOCHS_VRAM_SIZE)
    {
      off_t data = lseek (bochs->memfd, (off_t) offset, SEEK_DATA);
      off_t hole;

      if (data < 0 && errno == ENXIO)
        break;
      if (data < 0)
        {
          data = (off_t) offset;
          hole = HV_BOCHS_VRAM_SIZE;
        }
      else
        {
          hole = lseek (bochs->memfd, data, SEEK_HOLE);
          if (hole < 0)
            hole = HV_BOCHS_VRAM_SIZE;
        }
      /* Holes and data are page-aligned in shared memory; rounding keeps page_is_zero in bounds. */
      data &= ~(off_t) ((1u << PAGE_SHIFT) - 1);
      hole = MIN ((hole + (1 << PAGE_SHIFT) - 1) & ~(off_t) ((1u << PAGE_SHIFT) - 1),
                  (off_t) HV_BOCHS_VRAM_SIZE);
      if ((uint64_t) hole <= offset)
        break;
      add_nonzero_runs (bochs, MAX ((uint64_t) data, offset), (uint64_t) hole, &runs);
      offset = (uint64_t) hole;
    }
  return g_variant_builder_end (&runs);
}

GVariant *
hv_bochs_display_save_state (HvBochsDisplay *bochs)
{
  g_auto (GVariantDict) dict = G_VARIANT_DICT_INIT (NULL);

  g_return_val_if_fail (bochs != NULL, NULL);

  g_mutex_lock (&bochs->lock);
  g_variant_dict_insert_value (
      &dict, "dispi",
      g_variant_new_fixed_array (G_VARIANT_TYPE_UINT16, bochs->dispi, N_SAVED_DISPI, sizeof bochs->dispi[0]));
  g_variant_dict_insert (&dict, "port-index", "q", bochs->port_index);
  g_variant_dict_insert (&dict, "big-endian", "b", bochs->big_endian);
  g_variant_dict_insert (&dict, "attribute-data-next", "b", bochs->attr_data_next);
  g_variant_dict_insert (&dict, "palette-address-source", "b", bochs->attr_pas);
  g_variant_dict_insert_value (&dict, "video-memory", save_video_memory (bochs));
  g_mutex_unlock (&bochs->lock);
  return g_variant_dict_end (&dict);
}

/* Zeroes video memory, giving its pages back when the memfd can. */
static void
clear_video_memory (HvBochsDisplay *bochs)
{
  if (fallocate (bochs->memfd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, HV_BOCHS_VRAM_SIZE) < 0)
    memset (bochs->vram, 0, HV_BOCHS_VRAM_SIZE);
}

gboolean
hv_bochs_display_load_state (HvBochsDisplay *bochs, GVariant *state, GError **error)
{
  const char *what = "the display";
  g_autoptr (GVariant) dispi = NULL;
  g_autoptr (GVariant) runs = NULL;
  const uint16_t *values;
  uint16_t port_index;
  gboolean big_endian, attr_data_next, attr_pas;
  GVariantIter iter;
  GVariant *run;
  gsize n;

  g_return_val_if_fail (bochs != NULL, FALSE);
  g_return_val_if_fail (state != NULL, FALSE);

  dispi = hv_state_lookup (state, what, "dispi", G_VARIANT_TYPE ("aq"), error);
  if (dispi == NULL)
    return FALSE;
  values = g_variant_get_fixed_array (dispi, &n, sizeof values[0]);
  if (n != N_SAVED_DISPI)
    {
      hv_state_set_bad (error, what, "it has %" G_GSIZE_FORMAT " DISPI registers, not %d", n, N_SAVED_DISPI);
      return FALSE;
    }
  if (!hv_state_get (state, what, "port-index", "q", &port_index, error)
      || !hv_state_get (state, what, "big-endian", "b", &big_endian, error)
      || !hv_state_get (state, what, "attribute-data-next", "b", &attr_data_next, error)
      || !hv_state_get (state, what, "palette-address-source", "b", &attr_pas, error))
    return FALSE;
  runs = hv_state_lookup (state, what, "video-memory", G_VARIANT_TYPE ("a(uay)"), error);
  if (runs == NULL)
    return FALSE;
  g_variant_iter_init (&iter, runs);
  while ((run = g_variant_iter_next_value (&iter)) != NULL)
    {
      g_autoptr (GVariant) owned = run;
      g_autoptr (GVariant) bytes = g_variant_get_child_value (run, 1);
      guint32 offset;

      g_variant_get_child (run, 0, "u", &offset);
      if (offset > HV_BOCHS_VRAM_SIZE || g_variant_get_size (bytes) > HV_BOCHS_VRAM_SIZE - offset)
        {
          hv_state_set_bad (error, what,
                            "video memory at 0x%x (%" G_GSIZE_FORMAT " bytes) is beyond its %u MiB", offset,
                            g_variant_get_size (bytes), HV_BOCHS_VRAM_SIZE >> 20);
          return FALSE;
        }
    }

  g_mutex_lock (&bochs->lock);
  memcpy (bochs->dispi, values, sizeof bochs->dispi);
  bochs->port_index = port_index;
  bochs->big_endian = big_endian;
  bochs->attr_data_next = attr_data_next;
  bochs->attr_pas = attr_pas;
  clear_video_memory (bochs);
  g_variant_iter_init (&iter, runs);
  while ((run = g_variant_iter_next_value (&iter)) != NULL)
    {
      g_autoptr (GVariant) owned = run;
      g_autoptr (GVariant) bytes = g_variant_get_child_value (run, 1);
      guint32 offset;

      g_variant_get_child (run, 0, "u", &offset);
      memcpy (bochs->vram + offset, g_variant_get_data (bytes), g_variant_get_size (bytes));
    }
  update_mode_locked (bochs);
  bochs->full_redraw = TRUE;
  /* The PCI bus has restored the command register and moved the BARs; catch up with what it did not
   * tell through bar_moved (decoding turned off where the BARs were).  A BAR the guest put over the
   * other one decoded nowhere when the state was saved, and does so again: refusing the state would
   * let a guest make its own saved state unrestorable. */
  follow_guest_locked (bochs);
  g_mutex_unlock (&bochs->lock);
  return TRUE;
}

gboolean
hv_bochs_display_set_rom (HvBochsDisplay *bochs, GBytes *rom, GError **error)
{
  gsize size = g_bytes_get_size (rom);
  uint32_t bar_size = 0x800;

  if (size == 0 || size > HV_PCI_ROM_MAX)
    {
      g_set_error (error, HV_ERROR, HV_ERROR_BAD_IMAGE,
                   "the display's option ROM is %" G_GSIZE_FORMAT " bytes; it must be 1 byte to 1 MiB", size);
      return FALSE;
    }
  while (bar_size < size)
    bar_size <<= 1;
  g_mutex_lock (&bochs->lock);
  g_clear_pointer (&bochs->rom, g_bytes_unref);
  bochs->rom = g_bytes_ref (rom);
  bochs->pci.rom_size = bar_size;
  g_mutex_unlock (&bochs->lock);
  return TRUE;
}

/* The "bochs-display" kind: one, since the legacy DISPI ports are fixed and the machine has one
 * display for SPICE to show. */

static gboolean
bochs_display_realize (HvDevice *device, GError **error)
{
  int rom_fd = hv_device_get_fd_option (device, "rom");

  device->impl = hv_bochs_display_new (hv_device_get_platform (device), hv_device_get_pci (device), error);
  if (device->impl == NULL)
    return FALSE;
  if (rom_fd >= 0)
    {
      g_autoptr (GBytes) rom = hv_pci_read_rom (rom_fd, error);
      if (rom == NULL || !hv_bochs_display_set_rom (device->impl, rom, error))
        return FALSE;
    }
  return hv_device_claim_pio (device, HV_PORT_BOCHS_DISPI, HV_BOCHS_DISPI_PORTS, hv_bochs_display_dispi_io,
                              device->impl, error);
}

static void
bochs_display_teardown (HvDevice *device)
{
  hv_bochs_display_free (device->impl);
}

static GVariant *
bochs_display_save (HvDevice *device)
{
  return hv_bochs_display_save_state (device->impl);
}

static gboolean
bochs_display_load (HvDevice *device, GVariant *state, unsigned version, GError **error)
{
  return hv_bochs_display_load_state (device->impl, state, error);
}

const HvDeviceKind hv_bochs_display_kind = {
  .info = &hv_kind_info_bochs_display,
  .order = HV_DEVICE_ORDER_PCI,
  .state_version = 1,
  .realize = bochs_display_realize,
  .teardown = bochs_display_teardown,
  .save = bochs_display_save,
  .load = bochs_display_load,
};
