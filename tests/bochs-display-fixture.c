/* bochs-display-fixture.c — the display adapter on a fake platform for its tests: memory mappings recorded, a
 * dirty log served, and accessors for its PCI config, BARs and DISPI registers. */
#include "bochs-display-fixture.h"

int
fake_map_memory (void *opaque, uint64_t gpa, uint64_t size, void *host, gboolean track_dirty, GError **error)
{
  Fixture *f = opaque;

  g_assert_false (f->mapped);
  f->mapped = TRUE;
  f->slot = 7 + (int) f->maps;
  f->gpa = gpa;
  f->size = size;
  f->host = host;
  f->track_dirty = track_dirty;
  f->maps++;
  return f->slot;
}

gboolean
fake_move_memory (void *opaque, int slot, uint64_t gpa, GError **error)
{
  Fixture *f = opaque;

  g_assert_true (f->mapped);
  g_assert_cmpint (slot, ==, f->slot);
  if (f->refuse_moves)
    {
      g_set_error (error, HV_ERROR, HV_ERROR_FAILED, "refused");
      return FALSE;
    }
  f->gpa = gpa;
  f->moves++;
  return TRUE;
}

void
fake_unmap_memory (void *opaque, int slot)
{
  Fixture *f = opaque;

  g_assert_true (f->mapped);
  g_assert_cmpint (slot, ==, f->slot);
  f->mapped = FALSE;
  f->unmaps++;
}

gboolean
fake_get_dirty_log (void *opaque, int slot, unsigned long *bitmap, GError **error)
{
  Fixture *f = opaque;

  g_assert_true (f->mapped);
  g_assert_cmpint (slot, ==, f->slot);
  f->log_reads++;
  if (f->refuse_log)
    {
      g_set_error (error, HV_ERROR, HV_ERROR_FAILED, "refused");
      return FALSE;
    }
  memcpy (bitmap, f->log, sizeof f->log);
  memset (f->log, 0, sizeof f->log);
  return TRUE;
}

void
mark_page (Fixture *f, unsigned page)
{
  f->log[page / LONG_BITS] |= 1ul << (page % LONG_BITS);
}

/* @data: GINT_TO_POINTER (TRUE) for a platform that maps memory, FALSE for one that only has a bus. */
void
fixture_setup (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;

  vireo_test_platform_init (&f->tp);
  f->mmio = hv_bus_new ("MMIO");
  f->pci = hv_pci_new ();
  f->tp.platform.mmio = f->mmio;
  if (GPOINTER_TO_INT (data))
    {
      f->tp.platform.map_memory = fake_map_memory;
      f->tp.platform.move_memory = fake_move_memory;
      f->tp.platform.unmap_memory = fake_unmap_memory;
      f->tp.platform.get_dirty_log = fake_get_dirty_log;
    }
  f->bochs = hv_bochs_display_new (&f->tp.platform, f->pci, &error);
  g_assert_no_error (error);
  g_assert_nonnull (f->bochs);
}

void
fixture_teardown (Fixture *f, gconstpointer data)
{
  hv_bochs_display_free (f->bochs);
  /* Freeing gives the mapping back. */
  g_assert_false (f->mapped);
  hv_pci_free (f->pci);
  hv_bus_free (f->mmio);
  vireo_test_platform_clear (&f->tp);
}

/* Configuration space through ports 0xCF8/0xCFC, like Linux's conf1 accessors. */
uint32_t
config_read (Fixture *f, unsigned reg, unsigned len)
{
  unsigned slot = hv_bochs_display_get_pci_device (f->bochs)->slot;

  vireo_test_io_write (hv_pci_conf1_io, f->pci, 0, 4, 0x80000000u | slot << 11 | (reg & 0xfc));
  return vireo_test_io_read (hv_pci_conf1_io, f->pci, 4 + (reg & 3), len);
}

void
config_write (Fixture *f, unsigned reg, unsigned len, uint32_t value)
{
  unsigned slot = hv_bochs_display_get_pci_device (f->bochs)->slot;

  vireo_test_io_write (hv_pci_conf1_io, f->pci, 0, 4, 0x80000000u | slot << 11 | (reg & 0xfc));
  vireo_test_io_write (hv_pci_conf1_io, f->pci, 4 + (reg & 3), len, value);
}

uint64_t
bar_address (Fixture *f, unsigned bar)
{
  return hv_pci_bar_address (hv_bochs_display_get_pci_device (f->bochs), bar);
}

/* Guest accesses to physical memory, through the MMIO bus as a vCPU's exits reach it. */
uint64_t
mmio_read (Fixture *f, uint64_t addr, unsigned len)
{
  uint8_t buffer[8];
  uint64_t value = 0;

  hv_bus_dispatch (f->mmio, addr, buffer, len, FALSE);
  for (unsigned i = 0; i < len; i++)
    value |= (uint64_t) buffer[i] << (8 * i);
  return value;
}

void
mmio_write (Fixture *f, uint64_t addr, unsigned len, uint64_t value)
{
  uint8_t buffer[8];

  for (unsigned i = 0; i < len; i++)
    buffer[i] = (uint8_t) (value >> (8 * i));
  hv_bus_dispatch (f->mmio, addr, buffer, len, TRUE);
}

/* Linux's bochs_dispi_read/write with an MMIO BAR: 16-bit accesses at 0x500 + 2 * index. */
uint16_t
dispi_read (Fixture *f, unsigned index)
{
  return (uint16_t) mmio_read (f, bar_address (f, 2) + 0x500 + 2 * index, 2);
}

void
dispi_write (Fixture *f, unsigned index, uint16_t value)
{
  mmio_write (f, bar_address (f, 2) + 0x500 + 2 * index, 2, value);
}

/* The same through ports 0x1CE/0x1CF. */
uint16_t
port_dispi_read (Fixture *f, unsigned index)
{
  vireo_test_io_write (hv_bochs_display_dispi_io, f->bochs, 0, 2, index);
  return (uint16_t) vireo_test_io_read (hv_bochs_display_dispi_io, f->bochs, 1, 2);
}

void
port_dispi_write (Fixture *f, unsigned index, uint16_t value)
{
  vireo_test_io_write (hv_bochs_display_dispi_io, f->bochs, 0, 2, index);
  vireo_test_io_write (hv_bochs_display_dispi_io, f->bochs, 1, 2, value);
}

/* bochs_hw_setmode() followed by bochs_hw_setbase() for a framebuffer at offset 0. */
void
linux_set_mode (Fixture *f, unsigned width, unsigned height)
{
  uint64_t regs = bar_address (f, 2);

  /* bochs_hw_blank (false): colour mode, reset the attribute flip-flop, index with PAS set. */
  mmio_write (f, regs + 0x400 + (0x3c2 - 0x3c0), 1, 0x01);
  mmio_read (f, regs + 0x400 + (0x3da - 0x3c0), 1);
  mmio_write (f, regs + 0x400, 1, 0x20);

  dispi_write (f, DISPI_ENABLE, 0);
  dispi_write (f, DISPI_BPP, 32);
  dispi_write (f, DISPI_XRES, (uint16_t) width);
  dispi_write (f, DISPI_YRES, (uint16_t) height);
  dispi_write (f, DISPI_BANK, 0);
  dispi_write (f, DISPI_VIRT_WIDTH, (uint16_t) width);
  dispi_write (f, DISPI_VIRT_HEIGHT, (uint16_t) (HV_BOCHS_VRAM_SIZE / (width * 4)));
  dispi_write (f, DISPI_X_OFFSET, 0);
  dispi_write (f, DISPI_Y_OFFSET, 0);
  dispi_write (f, DISPI_ENABLE, 0x01 | 0x40);
}

HvDisplayMode
get_mode (Fixture *f)
{
  HvDisplayMode mode;

  hv_display_get_mode (hv_bochs_display_get_display (f->bochs), &mode);
  return mode;
}

unsigned
collect (Fixture *f, HvRect *rects, unsigned max_rects)
{
  return hv_display_collect_dirty (hv_bochs_display_get_display (f->bochs), rects, max_rects);
}

void
assert_rect (const HvRect *rect, uint32_t x, uint32_t y, uint32_t width, uint32_t height)
{
  g_assert_cmpuint (rect->x, ==, x);
  g_assert_cmpuint (rect->y, ==, y);
  g_assert_cmpuint (rect->width, ==, width);
  g_assert_cmpuint (rect->height, ==, height);
}
