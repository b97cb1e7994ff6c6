/* test-bochs-display-memory.c — the display adapter's video memory: dirty rectangles from the fake platform's
 * dirty log, BAR moves, the MMIO fallback when memory cannot be mapped, garbage from the guest, the saved state
 * and the option ROM. */
#include "bochs-display-fixture.h"

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

void
bochs_add_memory_tests (void (*add) (const char *path, BochsTestFunc func, gboolean mapped))
{
  add ("dirty-rects", test_dirty_rects, TRUE);
  add ("bar-moves", test_bar_moves, TRUE);
  add ("trapped-video-memory", test_trapped_video_memory, FALSE);
  add ("garbage", test_garbage, TRUE);
  add ("save-and-load", test_save_and_load, TRUE);
  add ("option-rom", test_option_rom, TRUE);
}
