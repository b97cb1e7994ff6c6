/* test-bochs-display.c — the display adapter as Linux's bochs DRM driver finds and programs it: PCI
 * identity and BARs, DISPI registers through BAR 2 and the legacy ports, mode limits, blanking and the
 * EDID.  Its video memory is tested in test-bochs-display-memory.c. */
#include "bochs-display-fixture.h"

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
add_test (const char *path, BochsTestFunc func, gboolean mapped)
{
  g_autofree char *full = g_strconcat ("/bochs-display/", path, NULL);
  g_test_add (full, Fixture, GINT_TO_POINTER (mapped), fixture_setup, func, fixture_teardown);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  add_test ("pci-identity", test_pci_identity, TRUE);
  add_test ("linux-probe-and-mode-set", test_linux_probe_and_mode_set, TRUE);
  add_test ("legacy-ports", test_legacy_ports, TRUE);
  add_test ("read-only-registers", test_read_only_registers, TRUE);
  add_test ("mode-limits", test_mode_limits, TRUE);
  add_test ("blank-and-byte-order", test_blank_and_byte_order, TRUE);
  add_test ("edid", test_edid, TRUE);
  bochs_add_memory_tests (add_test);

  return g_test_run ();
}
