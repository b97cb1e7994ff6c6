/* test-bochs-display.c — the display adapter as Linux's bochs DRM driver finds and programs it: PCI
 * identity and BARs, DISPI registers through BAR 2 and the legacy ports, mode limits, blanking, the
 * EDID, dirty rectangles from a fake platform's dirty log, BAR moves, the MMIO fallback for video
 * memory, garbage from the guest, and the saved state. */
#include "bochs-display.h"
#include "bus.h"
#include "layout.h"
#include "test-util.h"

#include <string.h>

#define PAGE      4096u
#define LONG_BITS (8 * sizeof (unsigned long))
#define LOG_LONGS ((HV_BOCHS_VRAM_SIZE / PAGE + LONG_BITS - 1) / LONG_BITS)

#define DISPI_ID               0x0
#define DISPI_XRES             0x1
#define DISPI_YRES             0x2
#define DISPI_BPP              0x3
#define DISPI_ENABLE           0x4
#define DISPI_BANK             0x5
#define DISPI_VIRT_WIDTH       0x6
#define DISPI_VIRT_HEIGHT      0x7
#define DISPI_X_OFFSET         0x8
#define DISPI_Y_OFFSET         0x9
#define DISPI_VIDEO_MEMORY_64K 0xa

typedef struct
{
  VireoTestPlatform tp; /* first: the recorder's callbacks take the platform's opaque as theirs */
  HvBus *mmio;
  HvPci *pci;
  HvBochsDisplay *bochs;

  /* The fake memory mapping: one slot at most, like the device asks for. */
  gboolean mapped;
  int slot;
  uint64_t gpa;
  uint64_t size;
  uint8_t *host;
  gboolean track_dirty;
  unsigned maps, moves, unmaps;
  gboolean refuse_moves;
  gboolean refuse_log;
  unsigned long log[LOG_LONGS]; /* what the next get_dirty_log reports */
  unsigned log_reads;
} Fixture;

static int
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

static gboolean
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

static void
fake_unmap_memory (void *opaque, int slot)
{
  Fixture *f = opaque;

  g_assert_true (f->mapped);
  g_assert_cmpint (slot, ==, f->slot);
  f->mapped = FALSE;
  f->unmaps++;
}

static gboolean
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

static void
mark_page (Fixture *f, unsigned page)
{
  f->log[page / LONG_BITS] |= 1ul << (page % LONG_BITS);
}

/* @data: GINT_TO_POINTER (TRUE) for a platform that maps memory, FALSE for one that only has a bus. */
static void
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

static void
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
static uint32_t
config_read (Fixture *f, unsigned reg, unsigned len)
{
  unsigned slot = hv_bochs_display_get_pci_device (f->bochs)->slot;

  vireo_test_io_write (hv_pci_conf1_io, f->pci, 0, 4, 0x80000000u | slot << 11 | (reg & 0xfc));
  return vireo_test_io_read (hv_pci_conf1_io, f->pci, 4 + (reg & 3), len);
}

static void
config_write (Fixture *f, unsigned reg, unsigned len, uint32_t value)
{
  unsigned slot = hv_bochs_display_get_pci_device (f->bochs)->slot;

  vireo_test_io_write (hv_pci_conf1_io, f->pci, 0, 4, 0x80000000u | slot << 11 | (reg & 0xfc));
  vireo_test_io_write (hv_pci_conf1_io, f->pci, 4 + (reg & 3), len, value);
}

static uint64_t
bar_address (Fixture *f, unsigned bar)
{
  return hv_pci_bar_address (hv_bochs_display_get_pci_device (f->bochs), bar);
}

/* Guest accesses to physical memory, through the MMIO bus as a vCPU's exits reach it. */
static uint64_t
mmio_read (Fixture *f, uint64_t addr, unsigned len)
{
  uint8_t buffer[8];
  uint64_t value = 0;

  hv_bus_dispatch (f->mmio, addr, buffer, len, FALSE);
  for (unsigned i = 0; i < len; i++)
    value |= (uint64_t) buffer[i] << (8 * i);
  return value;
}

static void
mmio_write (Fixture *f, uint64_t addr, unsigned len, uint64_t value)
{
  uint8_t buffer[8];

  for (unsigned i = 0; i < len; i++)
    buffer[i] = (uint8_t) (value >> (8 * i));
  hv_bus_dispatch (f->mmio, addr, buffer, len, TRUE);
}

/* Linux's bochs_dispi_read/write with an MMIO BAR: 16-bit accesses at 0x500 + 2 * index. */
static uint16_t
dispi_read (Fixture *f, unsigned index)
{
  return (uint16_t) mmio_read (f, bar_address (f, 2) + 0x500 + 2 * index, 2);
}

static void
dispi_write (Fixture *f, unsigned index, uint16_t value)
{
  mmio_write (f, bar_address (f, 2) + 0x500 + 2 * index, 2, value);
}

/* The same through ports 0x1CE/0x1CF. */
static uint16_t
port_dispi_read (Fixture *f, unsigned index)
{
  vireo_test_io_write (hv_bochs_display_dispi_io, f->bochs, 0, 2, index);
  return (uint16_t) vireo_test_io_read (hv_bochs_display_dispi_io, f->bochs, 1, 2);
}

static void
port_dispi_write (Fixture *f, unsigned index, uint16_t value)
{
  vireo_test_io_write (hv_bochs_display_dispi_io, f->bochs, 0, 2, index);
  vireo_test_io_write (hv_bochs_display_dispi_io, f->bochs, 1, 2, value);
}

/* bochs_hw_setmode() followed by bochs_hw_setbase() for a framebuffer at offset 0. */
static void
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

static HvDisplayMode
get_mode (Fixture *f)
{
  HvDisplayMode mode;

  hv_display_get_mode (hv_bochs_display_get_display (f->bochs), &mode);
  return mode;
}

static unsigned
collect (Fixture *f, HvRect *rects, unsigned max_rects)
{
  return hv_display_collect_dirty (hv_bochs_display_get_display (f->bochs), rects, max_rects);
}

static void
assert_rect (const HvRect *rect, uint32_t x, uint32_t y, uint32_t width, uint32_t height)
{
  g_assert_cmpuint (rect->x, ==, x);
  g_assert_cmpuint (rect->y, ==, y);
  g_assert_cmpuint (rect->width, ==, width);
  g_assert_cmpuint (rect->height, ==, height);
}

static void
test_pci_identity (Fixture *f, gconstpointer data)
{
  uint32_t bar0 = config_read (f, 0x10, 4);
  uint32_t bar2 = config_read (f, 0x18, 4);

  /* What bochs_pci_tbl matches first (QEMU stdvga) and what the driver checks. */
  g_assert_cmphex (config_read (f, 0x00, 2), ==, 0x1234);
  g_assert_cmphex (config_read (f, 0x02, 2), ==, 0x1111);
  g_assert_cmphex (config_read (f, 0x2c, 2), ==, 0x1af4);
  g_assert_cmphex (config_read (f, 0x2e, 2), ==, 0x1100);
  g_assert_cmphex (config_read (f, 0x08, 1), ==, 2);
  g_assert_cmphex (config_read (f, 0x0a, 2), ==, 0x0380);
  g_assert_cmphex (config_read (f, 0x09, 1), ==, 0);
  g_assert_cmphex (config_read (f, 0x3d, 1), ==, 0);
  g_assert_cmphex (config_read (f, 0x04, 2) & 0x2, ==, 0x2);

  /* BAR 0: 32-bit prefetchable memory of 32 MiB; BAR 2: 4 KiB of memory; nothing else. */
  g_assert_cmphex (bar0 & 0xf, ==, 0x8);
  g_assert_cmphex (bar2 & 0xf, ==, 0x0);
  g_assert_cmpuint (bar0 & ~0xfu, ==, bar_address (f, 0));
  g_assert_cmpuint (bar2 & ~0xfu, ==, bar_address (f, 2));
  g_assert_cmpuint (bar_address (f, 0), >=, HV_MMIO32_START);
  g_assert_cmpuint (bar_address (f, 2) + HV_BOCHS_MMIO_SIZE, <=, HV_MMIO32_END);
  config_write (f, 0x10, 4, 0xffffffff);
  g_assert_cmphex (config_read (f, 0x10, 4), ==, (uint32_t) ~(HV_BOCHS_VRAM_SIZE - 1) | 0x8);
  config_write (f, 0x10, 4, bar0);
  config_write (f, 0x18, 4, 0xffffffff);
  g_assert_cmphex (config_read (f, 0x18, 4), ==, (uint32_t) ~(HV_BOCHS_MMIO_SIZE - 1));
  config_write (f, 0x18, 4, bar2);
  for (unsigned reg = 0x14; reg < 0x28; reg += 4)
    if (reg != 0x18)
      g_assert_cmphex (config_read (f, reg, 4), ==, 0);

  /* Sizing moved nothing: video memory is mapped where BAR 0 says, with dirty tracking. */
  g_assert_true (f->mapped);
  g_assert_cmpuint (f->maps, ==, 1);
  g_assert_cmpuint (f->gpa, ==, bar_address (f, 0));
  g_assert_cmpuint (f->size, ==, HV_BOCHS_VRAM_SIZE);
  g_assert_true (f->track_dirty);
  g_assert_nonnull (f->host);
}

/* bochs_hw_init(): the ID, video memory size matching BAR 0, and the extended registers of revision
 * 2, then bochs_hw_setmode() and bochs_hw_setbase(). */
static void
test_linux_probe_and_mode_set (Fixture *f, gconstpointer data)
{
  uint64_t regs = bar_address (f, 2);
  HvDisplayMode mode = get_mode (f);
  uint32_t qext_size;

  g_assert_false (mode.enabled);
  g_assert_cmphex (dispi_read (f, DISPI_ID) & 0xfff0, ==, 0xb0c0);
  g_assert_cmphex (dispi_read (f, DISPI_ID), ==, 0xb0c5);
  g_assert_cmpuint (dispi_read (f, DISPI_VIDEO_MEMORY_64K) * 65536u, ==, HV_BOCHS_VRAM_SIZE);
  qext_size = (uint32_t) mmio_read (f, regs + 0x600, 4);
  g_assert_cmpuint (qext_size, >=, 4);
  g_assert_cmpuint (qext_size, <=, HV_BOCHS_MMIO_SIZE);
  mmio_write (f, regs + 0x604, 4, 0x1e1e1e1e);
  g_assert_cmphex (mmio_read (f, regs + 0x604, 4), ==, 0x1e1e1e1e);

  linux_set_mode (f, 1024, 768);
  mode = get_mode (f);
  g_assert_true (mode.enabled);
  g_assert_cmpuint (mode.width, ==, 1024);
  g_assert_cmpuint (mode.height, ==, 768);
  g_assert_cmpuint (mode.stride, ==, 4096);
  g_assert_true (mode.pixels == f->host);
  g_assert_cmpuint (dispi_read (f, DISPI_XRES), ==, 1024);
  g_assert_cmpuint (dispi_read (f, DISPI_VIRT_HEIGHT), ==, HV_BOCHS_VRAM_SIZE / 4096);

  /* A page flip to a buffer 768 rows further on: the pixels move, the generation changes. */
  {
    uint64_t generation = mode.generation;
    dispi_write (f, DISPI_VIRT_WIDTH, 1024);
    dispi_write (f, DISPI_X_OFFSET, 0);
    dispi_write (f, DISPI_Y_OFFSET, 768);
    mode = get_mode (f);
    g_assert_true (mode.enabled);
    g_assert_true (mode.pixels == f->host + 768 * 4096);
    g_assert_cmpuint (mode.generation, !=, generation);
    /* Writing the same values again is no change. */
    generation = mode.generation;
    dispi_write (f, DISPI_Y_OFFSET, 768);
    g_assert_cmpuint (get_mode (f).generation, ==, generation);
  }

  /* What the guest writes to video memory is what the display shows. */
  f->host[768 * 4096] = 0x5a;
  g_assert_cmphex (get_mode (f).pixels[0], ==, 0x5a);
}

static void
test_legacy_ports (Fixture *f, gconstpointer data)
{
  HvDisplayMode mode;

  g_assert_cmphex (port_dispi_read (f, DISPI_ID), ==, 0xb0c5);
  g_assert_cmpuint (port_dispi_read (f, DISPI_VIDEO_MEMORY_64K), ==, HV_BOCHS_VRAM_SIZE >> 16);
  /* The index port reads back. */
  vireo_test_io_write (hv_bochs_display_dispi_io, f->bochs, 0, 2, DISPI_BPP);
  g_assert_cmpuint (vireo_test_io_read (hv_bochs_display_dispi_io, f->bochs, 0, 2), ==, DISPI_BPP);

  port_dispi_write (f, DISPI_XRES, 1280);
  port_dispi_write (f, DISPI_YRES, 800);
  port_dispi_write (f, DISPI_BPP, 32);
  port_dispi_write (f, DISPI_ENABLE, 0x41);
  mode = get_mode (f);
  g_assert_true (mode.enabled);
  g_assert_cmpuint (mode.width, ==, 1280);
  g_assert_cmpuint (mode.height, ==, 800);
  g_assert_cmpuint (mode.stride, ==, 1280 * 4);
  /* Ports and BAR 2 are two doors to the same registers. */
  g_assert_cmpuint (dispi_read (f, DISPI_XRES), ==, 1280);
  dispi_write (f, DISPI_YRES, 1024);
  g_assert_cmpuint (port_dispi_read (f, DISPI_YRES), ==, 1024);

  /* A byte write to the data port is a value with a zero high byte. */
  vireo_test_io_write (hv_bochs_display_dispi_io, f->bochs, 0, 2, DISPI_BANK);
  vireo_test_io_write (hv_bochs_display_dispi_io, f->bochs, 1, 1, 0x1234);
  g_assert_cmphex (port_dispi_read (f, DISPI_BANK), ==, 0x34);
  /* An index beyond the registers reads all ones and takes no writes. */
  port_dispi_write (f, 0x40, 0x1234);
  g_assert_cmphex (port_dispi_read (f, 0x40), ==, 0xffff);
  /* The third port is only reached by a 16-bit access to the second; alone it is nothing. */
  g_assert_cmphex (vireo_test_io_read (hv_bochs_display_dispi_io, f->bochs, 2, 1), ==, 0xff);
}

static void
test_read_only_registers (Fixture *f, gconstpointer data)
{
  dispi_write (f, DISPI_ID, 0xb0c0);
  g_assert_cmphex (dispi_read (f, DISPI_ID), ==, 0xb0c5);
  dispi_write (f, DISPI_VIDEO_MEMORY_64K, 1);
  g_assert_cmpuint (dispi_read (f, DISPI_VIDEO_MEMORY_64K), ==, HV_BOCHS_VRAM_SIZE >> 16);

  /* GETCAPS: the largest mode the device shows, while the bit is set. */
  dispi_write (f, DISPI_XRES, 1024);
  dispi_write (f, DISPI_ENABLE, 0x02);
  g_assert_cmpuint (dispi_read (f, DISPI_XRES), ==, HV_BOCHS_MAX_WIDTH);
  g_assert_cmpuint (dispi_read (f, DISPI_YRES), ==, HV_BOCHS_MAX_HEIGHT);
  g_assert_cmpuint (dispi_read (f, DISPI_BPP), ==, 32);
  dispi_write (f, DISPI_ENABLE, 0);
  g_assert_cmpuint (dispi_read (f, DISPI_XRES), ==, 1024);

  /* Byte and dword accesses split into the 16-bit registers' lanes. */
  mmio_write (f, bar_address (f, 2) + 0x500 + 2 * DISPI_X_OFFSET, 4, 0x00220011);
  g_assert_cmphex (dispi_read (f, DISPI_X_OFFSET), ==, 0x0011);
  g_assert_cmphex (dispi_read (f, DISPI_Y_OFFSET), ==, 0x0022);
  mmio_write (f, bar_address (f, 2) + 0x500 + 2 * DISPI_X_OFFSET + 1, 1, 0x33);
  g_assert_cmphex (dispi_read (f, DISPI_X_OFFSET), ==, 0x3311);
  g_assert_cmphex (mmio_read (f, bar_address (f, 2) + 0x500, 8), ==, 0x000000000400b0c5ull);
}

typedef struct
{
  unsigned width, height, bpp, virt_width, x_offset, y_offset;
  gboolean shown;
} ModeCase;

static void
test_mode_limits (Fixture *f, gconstpointer data)
{
  static const ModeCase cases[] = {
    { 800, 600, 32, 0, 0, 0, TRUE },
    { 2560, 1600, 32, 0, 0, 0, TRUE },
    { 1024, 768, 32, 0, 0, 0, TRUE },
    { 1366, 768, 32, 0, 0, 0, TRUE }, /* any size in the range, not only the EDID's */
    { 799, 600, 32, 0, 0, 0, FALSE },
    { 800, 599, 32, 0, 0, 0, FALSE },
    { 2561, 1600, 32, 0, 0, 0, FALSE },
    { 2560, 1601, 32, 0, 0, 0, FALSE },
    { 640, 480, 32, 0, 0, 0, FALSE },
    { 0, 0, 32, 0, 0, 0, FALSE },
    { 65535, 65535, 32, 0, 0, 0, FALSE },
    { 1024, 768, 16, 0, 0, 0, FALSE },
    { 1024, 768, 24, 0, 0, 0, FALSE },
    { 1024, 768, 8, 0, 0, 0, FALSE },
    { 1024, 768, 0, 0, 0, 0, FALSE },
    { 1024, 768, 32, 2048, 0, 0, TRUE }, /* a wider virtual screen: a longer stride */
    { 1024, 768, 32, 100, 0, 0, TRUE },  /* a narrower one counts as the visible width */
    /* The last row must end inside video memory. */
    { 1024, 768, 32, 1024, 0, 8192 - 768, TRUE },
    { 1024, 768, 32, 1024, 1, 8192 - 768, FALSE },
    { 1024, 768, 32, 1024, 0, 8192 - 767, FALSE },
    { 2560, 1600, 32, 65535, 0, 0, FALSE },
    { 1024, 768, 32, 65535, 65535, 65535, FALSE },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      const ModeCase *c = &cases[i];
      HvDisplayMode mode;

      dispi_write (f, DISPI_ENABLE, 0);
      dispi_write (f, DISPI_XRES, (uint16_t) c->width);
      dispi_write (f, DISPI_YRES, (uint16_t) c->height);
      dispi_write (f, DISPI_BPP, (uint16_t) c->bpp);
      dispi_write (f, DISPI_VIRT_WIDTH, (uint16_t) c->virt_width);
      dispi_write (f, DISPI_X_OFFSET, (uint16_t) c->x_offset);
      dispi_write (f, DISPI_Y_OFFSET, (uint16_t) c->y_offset);
      g_assert_false (get_mode (f).enabled);
      dispi_write (f, DISPI_ENABLE, 0x41);
      mode = get_mode (f);
      g_test_message ("%ux%u %u bpp, virtual width %u, offset %u,%u", c->width, c->height, c->bpp,
                      c->virt_width, c->x_offset, c->y_offset);
      g_assert_cmpint (mode.enabled, ==, c->shown);
      /* Refused values are kept as written, as the hardware's registers keep them. */
      g_assert_cmpuint (dispi_read (f, DISPI_XRES), ==, c->width);
      g_assert_cmpuint (dispi_read (f, DISPI_BPP), ==, c->bpp);
      if (!c->shown)
        {
          g_assert_cmpuint (mode.width, ==, 0);
          g_assert_null (mode.pixels);
          continue;
        }
      g_assert_cmpuint (mode.width, ==, c->width);
      g_assert_cmpuint (mode.height, ==, c->height);
      g_assert_cmpuint (mode.stride, ==, 4 * MAX (c->virt_width, c->width));
      g_assert_true (mode.pixels == f->host + (uint64_t) c->y_offset * mode.stride + 4 * c->x_offset);
    }
}

static void
test_blank_and_byte_order (Fixture *f, gconstpointer data)
{
  uint64_t regs = bar_address (f, 2);
  uint64_t generation;

  linux_set_mode (f, 1024, 768);
  g_assert_true (get_mode (f).enabled);
  generation = get_mode (f).generation;

  /* bochs_hw_blank (true): the attribute index without PAS turns the screen off... */
  mmio_write (f, regs + 0x402, 1, 0x01);
  mmio_read (f, regs + 0x41a, 1);
  mmio_write (f, regs + 0x400, 1, 0x00);
  g_assert_false (get_mode (f).enabled);
  g_assert_cmpuint (get_mode (f).generation, !=, generation);
  /* ...a data write after it is not an index... */
  mmio_write (f, regs + 0x400, 1, 0x20);
  g_assert_false (get_mode (f).enabled);
  /* ...and after resetting the flip-flop, PAS turns it back on. */
  mmio_read (f, regs + 0x41a, 1);
  mmio_write (f, regs + 0x400, 1, 0x20);
  g_assert_true (get_mode (f).enabled);
  /* Input status 1 changes as it is polled, so a guest waiting for a retrace finds one. */
  g_assert_cmphex (mmio_read (f, regs + 0x41a, 1), !=, mmio_read (f, regs + 0x41a, 1));

  /* A big-endian framebuffer (DRM_FORMAT_BGRX8888) is not a format the display shows. */
  mmio_write (f, regs + 0x604, 4, 0xbebebebe);
  g_assert_cmphex (mmio_read (f, regs + 0x604, 4), ==, 0xbebebebe);
  g_assert_false (get_mode (f).enabled);
  mmio_write (f, regs + 0x604, 4, 0x12345678);
  g_assert_cmphex (mmio_read (f, regs + 0x604, 4), ==, 0xbebebebe);
  /* Only dword accesses reach the extended registers. */
  mmio_write (f, regs + 0x604, 2, 0x1e1e);
  g_assert_cmphex (mmio_read (f, regs + 0x604, 4), ==, 0xbebebebe);
  g_assert_cmphex (mmio_read (f, regs + 0x600, 2), ==, 0xffff);
  mmio_write (f, regs + 0x604, 4, 0x1e1e1e1e);
  g_assert_true (get_mode (f).enabled);
}

/* The modes the EDID offers, as drm_edid_connector_add_modes() finds them (established timings,
 * standard timings, detailed timings); each is a mode the device shows. */
static void
test_edid (Fixture *f, gconstpointer data)
{
  static const uint8_t header[8] = { 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0 };
  static const unsigned established[][2] = { { 800, 600 }, { 1024, 768 } };
  uint64_t regs = bar_address (f, 2);
  uint8_t edid[128];
  unsigned sum = 0;
  unsigned n_modes = 0;
  unsigned widths[32], heights[32];

  for (unsigned i = 0; i < sizeof edid; i++)
    edid[i] = (uint8_t) mmio_read (f, regs + i, 1);
  /* bochs_hw_read_edid()'s header check, then the checksum drm_edid_block_valid() wants. */
  g_assert_cmpmem (edid, 8, header, 8);
  for (unsigned i = 0; i < sizeof edid; i++)
    sum += edid[i];
  g_assert_cmpuint (sum % 256, ==, 0);
  g_assert_cmpuint (edid[18], ==, 1);
  g_assert_cmpuint (edid[19], ==, 4);
  g_assert_cmpuint (edid[126], ==, 0);         /* no extensions */
  g_assert_cmphex (edid[24] & 0x01, ==, 0);    /* no continuous frequency: no inferred modes */
  g_assert_cmphex (edid[24] & 0x02, ==, 0x02); /* the first detailed timing is preferred */
  /* Past the block, up to the VGA ports, reads zero; the bytes are read-only. */
  g_assert_cmphex (mmio_read (f, regs + 128, 4), ==, 0);
  mmio_write (f, regs + 0, 1, 0x55);
  g_assert_cmphex (mmio_read (f, regs + 0, 1), ==, 0);
  /* Wide reads see the same bytes. */
  g_assert_cmphex (mmio_read (f, regs, 8), ==, 0x00ffffffffffff00ull);

  /* Established timings: only 800x600@60 (byte 35 bit 0) and 1024x768@60 (byte 36 bit 3). */
  g_assert_cmphex (edid[35], ==, 0x01);
  g_assert_cmphex (edid[36], ==, 0x08);
  g_assert_cmphex (edid[37], ==, 0x00);
  for (unsigned i = 0; i < G_N_ELEMENTS (established); i++)
    {
      widths[n_modes] = established[i][0];
      heights[n_modes++] = established[i][1];
    }
  /* Standard timings. */
  for (unsigned i = 0; i < 8; i++)
    {
      const uint8_t *st = edid + 38 + 2 * i;
      unsigned width, aspect;

      if (st[0] == 0x01 && st[1] == 0x01)
        continue;
      width = (st[0] + 31) * 8;
      aspect = st[1] >> 6;
      g_assert_cmpuint (st[1] & 0x3f, ==, 0); /* 60 Hz */
      widths[n_modes] = width;
      heights[n_modes++] = aspect == 0   ? width * 10 / 16
                           : aspect == 1 ? width * 3 / 4
                           : aspect == 2 ? width * 4 / 5
                                         : width * 9 / 16;
    }
  /* Detailed timings (a pixel clock), and descriptors (none). */
  for (unsigned i = 0; i < 4; i++)
    {
      const uint8_t *d = edid + 54 + 18 * i;
      unsigned clock = d[0] | d[1] << 8;

      if (clock == 0)
        continue;
      widths[n_modes] = d[2] | (d[4] >> 4) << 8;
      heights[n_modes++] = d[5] | (d[7] >> 4) << 8;
      g_assert_cmpuint (d[9], !=, 0); /* drm_mode_detailed() refuses a zero sync width */
      g_assert_cmpuint (d[10] & 0xf, !=, 0);
      if (i == 0)
        {
          g_assert_cmpuint (widths[n_modes - 1], ==, 1024);
          g_assert_cmpuint (heights[n_modes - 1], ==, 768);
        }
    }
  g_assert_cmpuint (n_modes, ==, 12);
  /* The product name: a newline ends it, spaces pad it (what edid-decode --check wants). */
  g_assert_cmphex (edid[90 + 3], ==, 0xfc);
  g_assert_cmpmem (edid + 90 + 5, 13, "Vireo\n       ", 13);

  for (unsigned i = 0; i < n_modes; i++)
    {
      HvDisplayMode mode;

      linux_set_mode (f, widths[i], heights[i]);
      mode = get_mode (f);
      g_test_message ("EDID mode %ux%u", widths[i], heights[i]);
      g_assert_true (mode.enabled);
      g_assert_cmpuint (mode.width, ==, widths[i]);
      g_assert_cmpuint (mode.height, ==, heights[i]);
      /* Linux's VRAM helper offers a mode only when it fits in half of video memory. */
      g_assert_cmpuint ((uint64_t) widths[i] * heights[i] * 4, <=, HV_BOCHS_VRAM_SIZE / 2);
    }
}

static void
test_dirty_rects (Fixture *f, gconstpointer data)
{
  HvRect rects[8];
  unsigned n;

  /* No mode, nothing to show. */
  g_assert_cmpuint (collect (f, rects, G_N_ELEMENTS (rects)), ==, 0);

  /* 1024 pixels of 4 bytes: one page per row. */
  linux_set_mode (f, 1024, 768);
  mark_page (f, 5);
  n = collect (f, rects, G_N_ELEMENTS (rects));
  g_assert_cmpuint (n, ==, 1);
  assert_rect (&rects[0], 0, 0, 1024, 768); /* the first look at a mode is the whole screen */
  g_assert_cmpuint (collect (f, rects, G_N_ELEMENTS (rects)), ==, 0);

  mark_page (f, 10);
  mark_page (f, 11);
  mark_page (f, 20);
  mark_page (f, 767);
  mark_page (f, 768); /* below the screen: not shown */
  n = collect (f, rects, G_N_ELEMENTS (rects));
  g_assert_cmpuint (n, ==, 3);
  assert_rect (&rects[0], 0, 10, 1024, 2);
  assert_rect (&rects[1], 0, 20, 1024, 1);
  assert_rect (&rects[2], 0, 767, 1024, 1);
  g_assert_cmpuint (collect (f, rects, G_N_ELEMENTS (rects)), ==, 0);

  /* More bands than rects: the last one covers the rest. */
  mark_page (f, 1);
  mark_page (f, 3);
  mark_page (f, 5);
  mark_page (f, 100);
  n = collect (f, rects, 2);
  g_assert_cmpuint (n, ==, 2);
  assert_rect (&rects[0], 0, 1, 1024, 1);
  assert_rect (&rects[1], 0, 3, 1024, 98);
  /* Zero rects asked for: nothing is consumed. */
  mark_page (f, 7);
  g_assert_cmpuint (collect (f, rects, 0), ==, 0);
  n = collect (f, rects, G_N_ELEMENTS (rects));
  g_assert_cmpuint (n, ==, 1);
  assert_rect (&rects[0], 0, 7, 1024, 1);

  /* A dirty log that cannot be read: redraw everything. */
  f->refuse_log = TRUE;
  n = collect (f, rects, G_N_ELEMENTS (rects));
  f->refuse_log = FALSE;
  g_assert_cmpuint (n, ==, 1);
  assert_rect (&rects[0], 0, 0, 1024, 768);
  g_assert_cmpuint (collect (f, rects, G_N_ELEMENTS (rects)), ==, 0);

  /* 2560 pixels: rows of 2.5 pages, so a page can hold parts of two rows. */
  linux_set_mode (f, 2560, 1600);
  n = collect (f, rects, G_N_ELEMENTS (rects));
  assert_rect (&rects[0], 0, 0, 2560, 1600);
  mark_page (f, 2);  /* bytes 8192..12287: rows 0 and 1 */
  mark_page (f, 10); /* bytes 40960..45055: row 4 only */
  n = collect (f, rects, G_N_ELEMENTS (rects));
  g_assert_cmpuint (n, ==, 2);
  assert_rect (&rects[0], 0, 0, 2560, 2);
  assert_rect (&rects[1], 0, 4, 2560, 1);

  /* A panned screen: rows start at the Y offset. */
  dispi_write (f, DISPI_Y_OFFSET, 2);
  n = collect (f, rects, G_N_ELEMENTS (rects));
  assert_rect (&rects[0], 0, 0, 2560, 1600);
  mark_page (f, 10); /* row 4 of video memory is row 2 of the screen */
  n = collect (f, rects, G_N_ELEMENTS (rects));
  g_assert_cmpuint (n, ==, 1);
  assert_rect (&rects[0], 0, 2, 2560, 1);

  /* The screen turned off: nothing, and turning it on again redraws it all. */
  dispi_write (f, DISPI_ENABLE, 0);
  mark_page (f, 10);
  g_assert_cmpuint (collect (f, rects, G_N_ELEMENTS (rects)), ==, 0);
  dispi_write (f, DISPI_ENABLE, 0x41);
  n = collect (f, rects, G_N_ELEMENTS (rects));
  g_assert_cmpuint (n, ==, 1);
  assert_rect (&rects[0], 0, 0, 2560, 1600);
}

static void
other_device_io (void *opaque, uint64_t offset, uint8_t *data, unsigned len, gboolean is_write)
{
}

static void
test_bar_moves (Fixture *f, gconstpointer data)
{
  uint64_t fb = bar_address (f, 0);
  uint64_t regs = bar_address (f, 2);
  uint64_t new_fb = HV_MMIO32_START + 0x10000000;
  uint64_t new_regs = HV_MMIO32_START + 0x0f000000;
  HvRect rects[4];

  linux_set_mode (f, 1024, 768);
  collect (f, rects, G_N_ELEMENTS (rects));
  g_assert_cmpuint (collect (f, rects, G_N_ELEMENTS (rects)), ==, 0);

  /* The guest moves both BARs: the mapping follows, the registers answer at the new place only. */
  config_write (f, 0x10, 4, (uint32_t) new_fb);
  config_write (f, 0x18, 4, (uint32_t) new_regs);
  g_assert_cmpuint (f->moves, ==, 1);
  g_assert_cmpuint (f->gpa, ==, new_fb);
  g_assert_cmphex (mmio_read (f, new_regs + 0x500, 2), ==, 0xb0c5);
  g_assert_cmphex (mmio_read (f, regs + 0x500, 2), ==, 0xffff);
  /* What was written during the move may be missing from the log: redraw it all. */
  g_assert_cmpuint (collect (f, rects, G_N_ELEMENTS (rects)), ==, 1);
  assert_rect (&rects[0], 0, 0, 1024, 768);

  /* Memory decoding off: neither BAR decodes, the mapping goes; on again: both come back. */
  config_write (f, 0x04, 2, config_read (f, 0x04, 2) & ~0x2u);
  g_assert_false (f->mapped);
  g_assert_cmphex (mmio_read (f, new_regs + 0x500, 2), ==, 0xffff);
  /* While unmapped there is no log to read. */
  g_assert_cmpuint (collect (f, rects, G_N_ELEMENTS (rects)), ==, 1);
  g_assert_cmpuint (collect (f, rects, G_N_ELEMENTS (rects)), ==, 0);
  config_write (f, 0x04, 2, config_read (f, 0x04, 2) | 0x2);
  g_assert_true (f->mapped);
  g_assert_cmpuint (f->gpa, ==, new_fb);
  g_assert_cmphex (mmio_read (f, new_regs + 0x500, 2), ==, 0xb0c5);

  /* A move the platform refuses (the guest aimed at something mapped): unmapped and mapped anew. */
  f->refuse_moves = TRUE;
  config_write (f, 0x10, 4, (uint32_t) fb);
  g_assert_true (f->mapped);
  g_assert_cmpuint (f->gpa, ==, fb);
  g_assert_cmpuint (f->maps, ==, 3);

  /* A BAR 2 moved over BAR 0's trapped range or anything else on the bus is refused by the bus and
   * leaves the registers unreachable, not the VM broken. */
  g_assert_true (
      hv_bus_register (f->mmio, HV_MMIO32_START + 0x20000000, 0x1000, "other", other_device_io, f, NULL));
  config_write (f, 0x18, 4, (uint32_t) (HV_MMIO32_START + 0x20000000));
  config_write (f, 0x18, 4, (uint32_t) new_regs);
  g_assert_cmphex (mmio_read (f, new_regs + 0x500, 2), ==, 0xb0c5);
  g_assert_true (hv_bus_unregister (f->mmio, HV_MMIO32_START + 0x20000000, f));
}

/* A platform that cannot map memory: video memory through MMIO exits, its own dirty tracking. */
static void
test_trapped_video_memory (Fixture *f, gconstpointer data)
{
  uint64_t fb = bar_address (f, 0);
  HvDisplayMode mode;
  HvRect rects[4];
  unsigned n;

  g_assert_cmpuint (f->maps, ==, 0);
  linux_set_mode (f, 800, 600);
  mode = get_mode (f);
  g_assert_true (mode.enabled);
  g_assert_cmpuint (collect (f, rects, G_N_ELEMENTS (rects)), ==, 1);

  /* A pixel at (10, 5) and a dword straddling rows 99 and 100. */
  mmio_write (f, fb + 5 * 3200 + 4 * 10, 4, 0x00ff8040);
  mmio_write (f, fb + 100 * 3200 - 2, 4, 0xaabbccdd);
  g_assert_cmphex (mmio_read (f, fb + 5 * 3200 + 4 * 10, 4), ==, 0x00ff8040);
  g_assert_cmphex (mode.pixels[5 * 3200 + 4 * 10 + 1], ==, 0x80);
  g_assert_cmphex (mmio_read (f, fb + 100 * 3200 - 2, 8), ==, 0xaabbccdd);
  n = collect (f, rects, G_N_ELEMENTS (rects));
  /* Rows are 3200 bytes: a written page is every row that has a byte in it. */
  g_assert_cmpuint (n, ==, 2);
  assert_rect (&rects[0], 0, 3, 800, 3);  /* page 3: bytes 12288..16383, rows 3..5 */
  assert_rect (&rects[1], 0, 99, 800, 3); /* page 78: bytes 319488..323583, rows 99..101 */
  g_assert_cmpuint (collect (f, rects, G_N_ELEMENTS (rects)), ==, 0);

  /* The last byte of video memory is reachable, nothing past it. */
  mmio_write (f, fb + HV_BOCHS_VRAM_SIZE - 1, 1, 0x77);
  g_assert_cmphex (mmio_read (f, fb + HV_BOCHS_VRAM_SIZE - 1, 1), ==, 0x77);
  g_assert_cmphex (mmio_read (f, fb + HV_BOCHS_VRAM_SIZE - 1, 2), ==, 0xff77);

  /* Moving BAR 0 moves the trapped range. */
  config_write (f, 0x10, 4, (uint32_t) (HV_MMIO32_START + 0x10000000));
  g_assert_cmphex (mmio_read (f, HV_MMIO32_START + 0x10000000 + 5 * 3200 + 4 * 10, 4), ==, 0x00ff8040);
  g_assert_cmphex (mmio_read (f, fb + 5 * 3200 + 4 * 10, 4), ==, 0xffffffff);
}

/* Whatever a guest writes wherever, with whatever width: the device keeps its ID, never shows a mode
 * outside its limits or video memory, and keeps running. */
static void
test_garbage (Fixture *f, gconstpointer data)
{
  g_autoptr (GRand) rand = g_rand_new_with_seed (0x5eed);
  uint64_t regs = bar_address (f, 2);

  for (unsigned i = 0; i < 200000; i++)
    {
      uint8_t buffer[8];
      unsigned len = 1u << g_rand_int_range (rand, 0, 4);
      unsigned what = g_rand_int_range (rand, 0, 10);
      uint64_t offset;
      HvDisplayMode mode;

      for (unsigned b = 0; b < sizeof buffer; b++)
        buffer[b] = (uint8_t) g_rand_int (rand);
      if (what < 6)
        {
          /* Mostly the registers, where the state is. */
          offset = what < 4 ? 0x500 + g_rand_int_range (rand, 0, 0x20)
                            : g_rand_int_range (rand, 0, HV_BOCHS_MMIO_SIZE + 16);
          hv_bochs_display_mmio (f->bochs, offset, buffer, len, g_rand_boolean (rand));
          hv_bus_dispatch (f->mmio, regs + offset, buffer, len, g_rand_boolean (rand));
        }
      else if (what < 9)
        hv_bochs_display_dispi_io (f->bochs, g_rand_int_range (rand, 0, 4), buffer, len,
                                   g_rand_boolean (rand));
      else
        {
          /* Now and then a pixel, through the mapping like a guest's store. */
          offset = g_rand_int_range (rand, 0, HV_BOCHS_VRAM_SIZE);
          f->host[offset] = buffer[0];
          mark_page (f, (unsigned) (offset / PAGE));
        }

      mode = get_mode (f);
      if (mode.enabled)
        {
          g_assert_cmpuint (mode.width, >=, HV_BOCHS_MIN_WIDTH);
          g_assert_cmpuint (mode.width, <=, HV_BOCHS_MAX_WIDTH);
          g_assert_cmpuint (mode.height, >=, HV_BOCHS_MIN_HEIGHT);
          g_assert_cmpuint (mode.height, <=, HV_BOCHS_MAX_HEIGHT);
          g_assert_cmpuint (mode.stride, >=, 4 * mode.width);
          g_assert_true (mode.pixels >= f->host);
          g_assert_cmpuint ((uint64_t) (mode.pixels - f->host) + (uint64_t) mode.stride * (mode.height - 1)
                                + 4 * mode.width,
                            <=, HV_BOCHS_VRAM_SIZE);
        }
      if (i % 64 == 0)
        {
          HvRect rects[4];
          unsigned n = collect (f, rects, G_N_ELEMENTS (rects));

          g_assert_cmpuint (n, <=, G_N_ELEMENTS (rects));
          for (unsigned r = 0; r < n; r++)
            {
              g_assert_cmpuint (rects[r].x + rects[r].width, <=, mode.width);
              g_assert_cmpuint (rects[r].y + rects[r].height, <=, mode.height);
            }
        }
    }
  g_assert_cmphex (dispi_read (f, DISPI_ID), ==, 0xb0c5);
  g_assert_cmpuint (f->tp.exit_requests, ==, 0);
}

static void
test_save_and_load (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GVariant) state = NULL;
  g_autoptr (GVariant) pci_state = NULL;
  Fixture restored = { 0 };
  HvDisplayMode mode;
  HvRect rects[4];

  linux_set_mode (f, 1280, 1024);
  dispi_write (f, DISPI_Y_OFFSET, 3);
  vireo_test_io_write (hv_bochs_display_dispi_io, f->bochs, 0, 2, DISPI_XRES);
  memset (f->host + 4096, 0xab, 4096);
  f->host[HV_BOCHS_VRAM_SIZE - 1] = 0xcd;
  f->host[3 * 5120 + 17] = 0xef;
  /* Moved BARs come back where the guest put them. */
  config_write (f, 0x10, 4, (uint32_t) (HV_MMIO32_START + 0x10000000));
  state = g_variant_ref_sink (hv_bochs_display_save_state (f->bochs));
  pci_state = g_variant_ref_sink (hv_pci_save_state (f->pci));
  /* Only the written pages are kept. */
  g_assert_cmpuint (g_variant_get_size (state), <, 4 * 4096 + 1024);

  fixture_setup (&restored, data);
  g_assert_true (hv_pci_load_state (restored.pci, pci_state, &error));
  g_assert_no_error (error);
  g_assert_true (hv_bochs_display_load_state (restored.bochs, state, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (restored.gpa, ==, HV_MMIO32_START + 0x10000000);

  mode = get_mode (&restored);
  g_assert_true (mode.enabled);
  g_assert_cmpuint (mode.width, ==, 1280);
  g_assert_cmpuint (mode.height, ==, 1024);
  g_assert_true (mode.pixels == restored.host + 3 * 5120);
  g_assert_cmphex (mode.pixels[17], ==, 0xef);
  g_assert_cmpmem (restored.host, HV_BOCHS_VRAM_SIZE, f->host, HV_BOCHS_VRAM_SIZE);
  g_assert_cmpuint (vireo_test_io_read (hv_bochs_display_dispi_io, restored.bochs, 0, 2), ==, DISPI_XRES);
  g_assert_cmpuint (collect (&restored, rects, G_N_ELEMENTS (rects)), ==, 1);
  assert_rect (&rects[0], 0, 0, 1280, 1024);

  /* Loading replaces what was there, video memory included. */
  restored.host[12345] = 1;
  g_assert_true (hv_bochs_display_load_state (restored.bochs, state, &error));
  g_assert_no_error (error);
  g_assert_cmphex (restored.host[12345], ==, 0);

  /* Bad states are refused and change nothing. */
  {
    static const char *const bad[] = {
      "{'dispi': <@aq [0, 1024, 768]>, 'port-index': <@q 0>, 'big-endian': <false>,"
      " 'attribute-data-next': <false>, 'palette-address-source': <true>, 'video-memory': <@a(uay) []>}",
      "{'dispi': <@aq [0, 1024, 768, 32, 1, 0, 0, 0, 0, 0]>, 'port-index': <@q 0>,"
      " 'big-endian': <false>, 'attribute-data-next': <false>, 'palette-address-source': <true>,"
      " 'video-memory': <[(@u 33554431, [@y 1, 2])]>}",
      "{'dispi': <@aq [0, 1024, 768, 32, 1, 0, 0, 0, 0, 0]>, 'port-index': <@q 0>,"
      " 'big-endian': <false>, 'attribute-data-next': <false>, 'palette-address-source': <true>,"
      " 'video-memory': <[(@u 4294967295, @ay [])]>}",
      "{'dispi': <@aq [0, 1024, 768, 32, 1, 0, 0, 0, 0, 0]>, 'port-index': <@q 0>,"
      " 'big-endian': <false>, 'attribute-data-next': <false>, 'palette-address-source': <true>}",
      "{'dispi': <@aq [0, 1024, 768, 32, 1, 0, 0, 0, 0, 0]>, 'port-index': <@u 0>,"
      " 'big-endian': <false>, 'attribute-data-next': <false>, 'palette-address-source': <true>,"
      " 'video-memory': <@a(uay) []>}",
      "{}",
    };

    for (gsize i = 0; i < G_N_ELEMENTS (bad); i++)
      {
        g_autoptr (GVariant) bad_state = g_variant_parse (G_VARIANT_TYPE_VARDICT, bad[i], NULL, NULL, &error);
        g_assert_no_error (error);
        g_assert_false (hv_bochs_display_load_state (restored.bochs, bad_state, &error));
        g_assert_error (error, HV_ERROR, HV_ERROR_BAD_IMAGE);
        g_clear_error (&error);
        g_assert_cmpuint (get_mode (&restored).width, ==, 1280);
        g_assert_cmphex (restored.host[3 * 5120 + 17], ==, 0xef);
      }
  }
  fixture_teardown (&restored, data);
}

/* The option ROM behind the ROM BAR, as SeaBIOS finds it: size the BAR, place it, enable it (with
 * memory decoding on), read the ROM; disabled or sized, it decodes nowhere.  Without a ROM the BAR
 * reads as zero. */
static void
test_option_rom (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GBytes) rom = g_bytes_new ("\x55\xaa\x38romdata", 10);
  g_autoptr (GBytes) empty = g_bytes_new (NULL, 0);
  const uint64_t at = 0xfe000000;

  config_write (f, 0x30, 4, 0xfffff800);
  g_assert_cmphex (config_read (f, 0x30, 4), ==, 0);

  g_assert_false (hv_bochs_display_set_rom (f->bochs, empty, &error));
  g_assert_error (error, HV_ERROR, HV_ERROR_BAD_IMAGE);
  g_assert_true (hv_bochs_display_set_rom (f->bochs, rom, NULL));

  /* 10 bytes take the smallest ROM BAR, 2 KiB. */
  config_write (f, 0x30, 4, 0xfffff800);
  g_assert_cmphex (config_read (f, 0x30, 4), ==, 0xfffff800);
  g_assert_cmphex (mmio_read (f, 0xfffff800, 2), ==, 0xffff);
  config_write (f, 0x30, 4, (uint32_t) at);
  g_assert_cmphex (mmio_read (f, at, 2), ==, 0xffff); /* not enabled yet */
  config_write (f, 0x30, 4, (uint32_t) at | 1);
  g_assert_cmphex (config_read (f, 0x30, 4), ==, (uint32_t) at | 1);
  g_assert_cmphex (mmio_read (f, at, 2), ==, 0xaa55);
  g_assert_cmphex (mmio_read (f, at + 3, 4), ==, 0x646d6f72); /* "romd" */
  g_assert_cmphex (mmio_read (f, at + 8, 4), ==, 0xffff6174); /* past the end: all ones */
  g_assert_cmphex (mmio_read (f, at + 0x7fc, 4), ==, 0xffffffff);
  mmio_write (f, at, 2, 0);
  g_assert_cmphex (mmio_read (f, at, 2), ==, 0xaa55);

  /* Memory decoding off takes it away, on brings it back; moving it moves it. */
  config_write (f, 0x04, 2, config_read (f, 0x04, 2) & ~0x2u);
  g_assert_cmphex (mmio_read (f, at, 2), ==, 0xffff);
  config_write (f, 0x04, 2, config_read (f, 0x04, 2) | 0x2u);
  g_assert_cmphex (mmio_read (f, at, 2), ==, 0xaa55);
  config_write (f, 0x30, 4, (uint32_t) (at + 0x10000) | 1);
  g_assert_cmphex (mmio_read (f, at, 2), ==, 0xffff);
  g_assert_cmphex (mmio_read (f, at + 0x10000, 2), ==, 0xaa55);
  /* Over the registers BAR: refused by the bus, decoding nowhere, no harm. */
  config_write (f, 0x30, 4, (uint32_t) bar_address (f, 2) | 1);
  g_assert_cmphex (mmio_read (f, at + 0x10000, 2), ==, 0xffff);
  config_write (f, 0x30, 4, 0);
  g_assert_cmphex (mmio_read (f, bar_address (f, 2) + 0x500, 2), ==, 0xb0c5);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

#define ADD(path, func, mapped)                                                                              \
  g_test_add ("/bochs-display/" path, Fixture, GINT_TO_POINTER (mapped), fixture_setup, func,                \
              fixture_teardown)
  ADD ("pci-identity", test_pci_identity, TRUE);
  ADD ("linux-probe-and-mode-set", test_linux_probe_and_mode_set, TRUE);
  ADD ("legacy-ports", test_legacy_ports, TRUE);
  ADD ("read-only-registers", test_read_only_registers, TRUE);
  ADD ("mode-limits", test_mode_limits, TRUE);
  ADD ("blank-and-byte-order", test_blank_and_byte_order, TRUE);
  ADD ("edid", test_edid, TRUE);
  ADD ("dirty-rects", test_dirty_rects, TRUE);
  ADD ("bar-moves", test_bar_moves, TRUE);
  ADD ("trapped-video-memory", test_trapped_video_memory, FALSE);
  ADD ("garbage", test_garbage, TRUE);
  ADD ("save-and-load", test_save_and_load, TRUE);
  ADD ("option-rom", test_option_rom, TRUE);
#undef ADD

  return g_test_run ();
}
