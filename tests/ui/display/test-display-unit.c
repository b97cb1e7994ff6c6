/* test-display-unit.c — VireoDisplay's parts that need no display: the evdev → XT keymap (held against
 * the VMM's decoder in hypervisor/input.c), the US typing layout, the tiled frame and the letterbox
 * layout. */
#include "input.h"
#include "vireo-frame.h"
#include "vireo-keymap.h"
#include "vireo-stream.h"

#include <linux/input-event-codes.h>
#include <spice/enums.h>
#include <string.h>

/* --- keymap --- */

static void
test_keymap_spot_checks (void)
{
  /* Laid out by hand (a table, four keys a line): */
  /* clang-format off */
  static const struct
  {
    guint evdev;
    guint xt;
  } keys[] = {
    { KEY_ESC, 0x01 },       { KEY_A, 0x1e },         { KEY_Z, 0x2c },          { KEY_ENTER, 0x1c },
    { KEY_SPACE, 0x39 },     { KEY_LEFTCTRL, 0x1d },  { KEY_RIGHTCTRL, 0x11d }, { KEY_LEFTALT, 0x38 },
    { KEY_RIGHTALT, 0x138 }, { KEY_LEFTSHIFT, 0x2a }, { KEY_RIGHTSHIFT, 0x36 }, { KEY_UP, 0x148 },
    { KEY_DOWN, 0x150 },     { KEY_LEFT, 0x14b },     { KEY_RIGHT, 0x14d },     { KEY_HOME, 0x147 },
    { KEY_END, 0x14f },      { KEY_PAGEUP, 0x149 },   { KEY_PAGEDOWN, 0x151 },  { KEY_INSERT, 0x152 },
    { KEY_DELETE, 0x153 },   { KEY_KP7, 0x47 },       { KEY_KP0, 0x52 },        { KEY_KPDOT, 0x53 },
    { KEY_KPENTER, 0x11c },  { KEY_KPSLASH, 0x135 },  { KEY_KPASTERISK, 0x37 }, { KEY_KPMINUS, 0x4a },
    { KEY_KPPLUS, 0x4e },    { KEY_NUMLOCK, 0x45 },   { KEY_F1, 0x3b },         { KEY_F10, 0x44 },
    { KEY_F11, 0x57 },       { KEY_F12, 0x58 },       { KEY_102ND, 0x56 },      { KEY_LEFTMETA, 0x15b },
    { KEY_RIGHTMETA, 0x15c }, { KEY_COMPOSE, 0x15d }, { KEY_SYSRQ, 0x137 },     { KEY_SCROLLLOCK, 0x46 },
    { KEY_PAUSE, VIREO_XT_PAUSE },
  };
  /* clang-format on */

  for (gsize i = 0; i < G_N_ELEMENTS (keys); i++)
    {
      g_test_message ("evdev %u", keys[i].evdev);
      g_assert_cmphex (vireo_keymap_evdev_to_xt (keys[i].evdev), ==, keys[i].xt);
    }
  /* No key, and codes beyond the table. */
  g_assert_cmphex (vireo_keymap_evdev_to_xt (KEY_RESERVED), ==, 0);
  g_assert_cmphex (vireo_keymap_evdev_to_xt (vireo_keymap_max_evdev () + 1), ==, 0);
  g_assert_cmphex (vireo_keymap_evdev_to_xt (G_MAXUINT), ==, 0);
}

/* Every key of a full 105-key (ISO) PC keyboard has its own scancode. */
static void
test_keymap_full_keyboard (void)
{
  /* Laid out by hand (one row of the keyboard a line): */
  /* clang-format off */
  static const guint keys[] = {
    KEY_ESC, KEY_F1, KEY_F2, KEY_F3, KEY_F4, KEY_F5, KEY_F6, KEY_F7, KEY_F8, KEY_F9, KEY_F10, KEY_F11,
    KEY_F12, KEY_SYSRQ, KEY_SCROLLLOCK, KEY_PAUSE,
    KEY_GRAVE, KEY_1, KEY_2, KEY_3, KEY_4, KEY_5, KEY_6, KEY_7, KEY_8, KEY_9, KEY_0, KEY_MINUS, KEY_EQUAL,
    KEY_BACKSPACE, KEY_INSERT, KEY_HOME, KEY_PAGEUP, KEY_NUMLOCK, KEY_KPSLASH, KEY_KPASTERISK, KEY_KPMINUS,
    KEY_TAB, KEY_Q, KEY_W, KEY_E, KEY_R, KEY_T, KEY_Y, KEY_U, KEY_I, KEY_O, KEY_P, KEY_LEFTBRACE,
    KEY_RIGHTBRACE, KEY_ENTER, KEY_DELETE, KEY_END, KEY_PAGEDOWN, KEY_KP7, KEY_KP8, KEY_KP9, KEY_KPPLUS,
    KEY_CAPSLOCK, KEY_A, KEY_S, KEY_D, KEY_F, KEY_G, KEY_H, KEY_J, KEY_K, KEY_L, KEY_SEMICOLON,
    KEY_APOSTROPHE, KEY_BACKSLASH, KEY_KP4, KEY_KP5, KEY_KP6,
    KEY_LEFTSHIFT, KEY_102ND, KEY_Z, KEY_X, KEY_C, KEY_V, KEY_B, KEY_N, KEY_M, KEY_COMMA, KEY_DOT, KEY_SLASH,
    KEY_RIGHTSHIFT, KEY_UP, KEY_KP1, KEY_KP2, KEY_KP3, KEY_KPENTER,
    KEY_LEFTCTRL, KEY_LEFTMETA, KEY_LEFTALT, KEY_SPACE, KEY_RIGHTALT, KEY_RIGHTMETA, KEY_COMPOSE,
    KEY_RIGHTCTRL, KEY_LEFT, KEY_DOWN, KEY_RIGHT, KEY_KP0, KEY_KPDOT,
  };
  /* clang-format on */
  g_autoptr (GHashTable) seen = g_hash_table_new (NULL, NULL);

  g_assert_cmpuint (G_N_ELEMENTS (keys), ==, 105);
  for (gsize i = 0; i < G_N_ELEMENTS (keys); i++)
    {
      guint xt = vireo_keymap_evdev_to_xt (keys[i]);
      g_test_message ("evdev %u → 0x%x", keys[i], xt);
      g_assert_cmphex (xt, !=, 0);
      g_assert_false (g_hash_table_contains (seen, GUINT_TO_POINTER (xt)));
      g_hash_table_add (seen, GUINT_TO_POINTER (xt));
    }
}

/* The bytes spice-client-glib puts on the wire for a scancode in SPICE's spelling (spice_inputs_channel
 * key_press/key_release), which the server hands to the VMM one by one: the code, with 0x80 when
 * released; codes from 0x100 up as a prefix byte (0xe0, or 0xe1 for 0x2xx) and the code. */
static guint
wire_fragments (guint scancode, gboolean release, guint8 *fragments)
{
  guint code = (scancode & 0x37f) | (release ? 0x80 : 0);

  if (code < 0x100)
    {
      fragments[0] = (guint8) code;
      return 1;
    }
  code = 0xe000 | (code - 0x100);
  fragments[0] = (guint8) (code >> 8);
  fragments[1] = (guint8) code;
  return 2;
}

/* Feeds the fragments of one key event to @decoder; returns the key it completed, if any. */
static gboolean
feed (HvXtDecoder *decoder, guint scancode, gboolean release, HvXtKey *key)
{
  guint8 fragments[2];
  guint n = wire_fragments (scancode, release, fragments);
  gboolean complete = FALSE;

  for (guint i = 0; i < n; i++)
    {
      g_assert_false (complete);
      complete = hv_xt_decoder_feed (decoder, fragments[i], key);
    }
  return complete;
}

/* What the widget sends for each key is what the VMM decodes back to that key: press and release. */
static void
test_keymap_round_trip (void)
{
  HvXtDecoder decoder = { 0 };
  HvXtKey key;
  guint mapped = 0;

  for (guint evdev = 1; evdev <= vireo_keymap_max_evdev (); evdev++)
    {
      guint xt = vireo_keymap_evdev_to_xt (evdev);

      if (xt == 0 || xt == VIREO_XT_PAUSE)
        continue;
      mapped++;
      g_test_message ("evdev %u → 0x%x", evdev, xt);
      g_assert_true (feed (&decoder, xt, FALSE, &key));
      g_assert_cmpuint (key.code, ==, evdev);
      g_assert_true (key.pressed);
      g_assert_true (feed (&decoder, xt, TRUE, &key));
      g_assert_cmpuint (key.code, ==, evdev);
      g_assert_false (key.pressed);
    }
  g_assert_cmpuint (mapped, >=, 105);

  /* Pause goes as the widget sends it: 0x21d and 0x45 pressed, then both released. */
  g_assert_false (feed (&decoder, VIREO_XT_PAUSE, FALSE, &key));
  g_assert_true (feed (&decoder, 0x45, FALSE, &key));
  g_assert_cmpuint (key.code, ==, KEY_PAUSE);
  g_assert_true (key.pressed);
  g_assert_false (feed (&decoder, VIREO_XT_PAUSE, TRUE, &key));
  g_assert_true (feed (&decoder, 0x45, TRUE, &key));
  g_assert_cmpuint (key.code, ==, KEY_PAUSE);
  g_assert_false (key.pressed);

  /* And every key the VMM's keyboard knows can be sent. */
  {
    gsize n_codes;
    const uint16_t *codes = hv_xt_evdev_codes (&n_codes);

    g_assert_cmpuint (n_codes, >, 0);
    for (gsize i = 0; i < n_codes; i++)
      {
        g_test_message ("VMM key %u", codes[i]);
        g_assert_cmphex (vireo_keymap_evdev_to_xt (codes[i]), !=, 0);
      }
  }
}

static void
test_keymap_typing (void)
{
  static const struct
  {
    gunichar c;
    guint evdev;
    gboolean shift;
  } chars[] = {
    { 'a', KEY_A, FALSE },         { 'A', KEY_A, TRUE },
    { 'z', KEY_Z, FALSE },         { 'Q', KEY_Q, TRUE },
    { '0', KEY_0, FALSE },         { ')', KEY_0, TRUE },
    { '!', KEY_1, TRUE },          { '@', KEY_2, TRUE },
    { ' ', KEY_SPACE, FALSE },     { '\n', KEY_ENTER, FALSE },
    { '\r', KEY_ENTER, FALSE },    { '\t', KEY_TAB, FALSE },
    { '~', KEY_GRAVE, TRUE },      { '`', KEY_GRAVE, FALSE },
    { '"', KEY_APOSTROPHE, TRUE }, { '\'', KEY_APOSTROPHE, FALSE },
    { '|', KEY_BACKSLASH, TRUE },  { '?', KEY_SLASH, TRUE },
    { '_', KEY_MINUS, TRUE },      { '+', KEY_EQUAL, TRUE },
    { '{', KEY_LEFTBRACE, TRUE },  { '>', KEY_DOT, TRUE },
    { ';', KEY_SEMICOLON, FALSE },
  };
  guint evdev;
  gboolean shift;

  for (gsize i = 0; i < G_N_ELEMENTS (chars); i++)
    {
      g_test_message ("U+%04X", chars[i].c);
      g_assert_true (vireo_keymap_char_to_evdev (chars[i].c, &evdev, &shift));
      g_assert_cmpuint (evdev, ==, chars[i].evdev);
      g_assert_cmpint (shift, ==, chars[i].shift);
    }
  /* All of printable ASCII can be typed, each on a key with a scancode. */
  for (gunichar c = ' '; c <= '~'; c++)
    {
      g_assert_true (vireo_keymap_char_to_evdev (c, &evdev, &shift));
      g_assert_cmphex (vireo_keymap_evdev_to_xt (evdev), !=, 0);
    }
  /* Nothing else. */
  g_assert_false (vireo_keymap_char_to_evdev (0xe9 /* é */, &evdev, &shift));
  g_assert_false (vireo_keymap_char_to_evdev (0x1b /* escape */, &evdev, &shift));
  g_assert_false (vireo_keymap_char_to_evdev (0x7f, &evdev, &shift));
  g_assert_false (vireo_keymap_char_to_evdev (0, &evdev, &shift));
}

/* --- layout --- */

static void
assert_to_guest (const VireoFrameLayout *layout, double x, double y, int gx, int gy, gboolean inside)
{
  int got_x, got_y;
  gboolean got_inside = vireo_frame_layout_to_guest (layout, x, y, &got_x, &got_y);

  g_test_message ("(%g, %g)", x, y);
  g_assert_cmpint (got_x, ==, gx);
  g_assert_cmpint (got_y, ==, gy);
  g_assert_cmpint (got_inside, ==, inside);
}

static void
test_layout_fit (void)
{
  VireoFrameLayout layout;

  /* 1024×768 in 800×800: scaled by 0.78125 to 800×600, 100 pixels of letterbox above and below. */
  vireo_frame_layout_init (&layout, 1024, 768, 800, 800, TRUE, 1.0);
  g_assert_cmpint (layout.x, ==, 0);
  g_assert_cmpint (layout.y, ==, 100);
  g_assert_cmpint (layout.width, ==, 800);
  g_assert_cmpint (layout.height, ==, 600);
  assert_to_guest (&layout, 0, 100, 0, 0, TRUE);
  assert_to_guest (&layout, 400, 400, 512, 384, TRUE);
  assert_to_guest (&layout, 799.9, 699.9, 1023, 767, TRUE);
  /* In the letterbox: clamped to the nearest edge, and said to be outside. */
  assert_to_guest (&layout, 400, 50, 512, 0, FALSE);
  assert_to_guest (&layout, 400, 750, 512, 767, FALSE);
  assert_to_guest (&layout, -5, -5, 0, 0, FALSE);
  assert_to_guest (&layout, 1e300, 1e300, 1023, 767, FALSE);

  /* Pillarbox: 1280×800 in 1000×500 scales by 0.625 to 800×500, 100 pixels each side. */
  vireo_frame_layout_init (&layout, 1280, 800, 1000, 500, TRUE, 1.0);
  g_assert_cmpint (layout.x, ==, 100);
  g_assert_cmpint (layout.y, ==, 0);
  g_assert_cmpint (layout.width, ==, 800);
  g_assert_cmpint (layout.height, ==, 500);
  assert_to_guest (&layout, 500, 250, 640, 400, TRUE);
  assert_to_guest (&layout, 50, 250, 0, 400, FALSE);

  /* Upscaled: 640×480 in 1280×960 doubles. */
  vireo_frame_layout_init (&layout, 640, 480, 1280, 960, TRUE, 1.0);
  g_assert_cmpint (layout.width, ==, 1280);
  g_assert_cmpint (layout.height, ==, 960);
  assert_to_guest (&layout, 3, 3, 1, 1, TRUE);

  /* No screen, or no room: nothing maps. */
  vireo_frame_layout_init (&layout, 0, 0, 800, 600, TRUE, 1.0);
  assert_to_guest (&layout, 10, 10, 0, 0, FALSE);
  vireo_frame_layout_init (&layout, 1024, 768, 0, 0, TRUE, 1.0);
  assert_to_guest (&layout, 0, 0, 0, 0, FALSE);
}

static void
test_layout_zoom (void)
{
  VireoFrameLayout layout;

  /* 1:1 in a larger widget: centred. */
  vireo_frame_layout_init (&layout, 1024, 768, 1100, 800, FALSE, 1.0);
  g_assert_cmpint (layout.x, ==, 38);
  g_assert_cmpint (layout.y, ==, 16);
  g_assert_cmpint (layout.width, ==, 1024);
  assert_to_guest (&layout, 38 + 500.5, 16 + 300.5, 500, 300, TRUE);

  /* Zoomed 2× in a smaller widget (a scrolled window's viewport shows part of it): from the top-left. */
  vireo_frame_layout_init (&layout, 1024, 768, 300, 300, FALSE, 2.0);
  g_assert_cmpint (layout.x, ==, 0);
  g_assert_cmpint (layout.y, ==, 0);
  g_assert_cmpint (layout.width, ==, 2048);
  g_assert_cmpint (layout.height, ==, 1536);
  assert_to_guest (&layout, 201, 101, 100, 50, TRUE);

  /* 0.5×. */
  vireo_frame_layout_init (&layout, 1280, 800, 640, 400, FALSE, 0.5);
  g_assert_cmpint (layout.width, ==, 640);
  assert_to_guest (&layout, 639, 399, 1278, 798, TRUE);

  /* Nonsense zoom is 1. */
  vireo_frame_layout_init (&layout, 100, 100, 100, 100, FALSE, -3);
  g_assert_cmpint (layout.width, ==, 100);
}

/* Tiles meet edge to edge in whole pixels and cover exactly the guest's place, at any scale. */
static void
test_layout_tiles_meet (void)
{
  static const int sizes[][4] = {
    { 1000, 700, 777, 555 },
    { 1920, 1080, 1366, 705 },
    { 1024, 768, 1024, 768 },
    { 300, 200, 1000, 1000 },
  };

  for (gsize s = 0; s < G_N_ELEMENTS (sizes); s++)
    {
      int gw = sizes[s][0], gh = sizes[s][1];
      VireoFrameLayout layout;

      vireo_frame_layout_init (&layout, gw, gh, sizes[s][2], sizes[s][3], TRUE, 1.0);
      for (int y = 0; y < gh; y += VIREO_FRAME_TILE_SIZE)
        for (int x = 0; x < gw; x += VIREO_FRAME_TILE_SIZE)
          {
            int w = MIN (VIREO_FRAME_TILE_SIZE, gw - x), h = MIN (VIREO_FRAME_TILE_SIZE, gh - y);
            graphene_rect_t rect, right, below;

            vireo_frame_layout_to_widget (&layout, x, y, w, h, &rect);
            g_assert_cmpfloat (rect.origin.x, ==, floorf (rect.origin.x));
            g_assert_cmpfloat (rect.size.width, ==, floorf (rect.size.width));
            g_assert_cmpfloat (rect.origin.y, ==, floorf (rect.origin.y));
            g_assert_cmpfloat (rect.size.height, ==, floorf (rect.size.height));
            if (x == 0)
              g_assert_cmpfloat (rect.origin.x, ==, layout.x);
            if (y == 0)
              g_assert_cmpfloat (rect.origin.y, ==, layout.y);
            if (x + w == gw)
              g_assert_cmpfloat (rect.origin.x + rect.size.width, ==, layout.x + layout.width);
            else
              {
                vireo_frame_layout_to_widget (&layout, x + w, y, MIN (VIREO_FRAME_TILE_SIZE, gw - x - w), h,
                                              &right);
                g_assert_cmpfloat (rect.origin.x + rect.size.width, ==, right.origin.x);
              }
            if (y + h == gh)
              g_assert_cmpfloat (rect.origin.y + rect.size.height, ==, layout.y + layout.height);
            else
              {
                vireo_frame_layout_to_widget (&layout, x, y + h, w, MIN (VIREO_FRAME_TILE_SIZE, gh - y - h),
                                              &below);
                g_assert_cmpfloat (rect.origin.y + rect.size.height, ==, below.origin.y);
              }
          }
    }
}

/* --- frame --- */

#define FRAME_W 600
#define FRAME_H 300

/* An xRGB surface whose X byte is 0 (as many guests leave it), and whose pixels all differ. */
static guint32 *
make_surface (void)
{
  guint32 *pixels = g_new (guint32, FRAME_W * FRAME_H);
  for (int y = 0; y < FRAME_H; y++)
    for (int x = 0; x < FRAME_W; x++)
      pixels[y * FRAME_W + x] = GUINT32_TO_LE ((guint32) ((x * 7) & 0xff) << 16 | (guint32) (y & 0xff) << 8
                                               | (guint32) ((x ^ y) & 0xff));
  return pixels;
}

/* Pixel (x, y) of @texture as 0xAARRGGBB. */
static guint32
texture_pixel (GdkTexture *texture, int x, int y)
{
  int w = gdk_texture_get_width (texture), h = gdk_texture_get_height (texture);
  g_autofree guint32 *data = g_new (guint32, (gsize) w * h);

  gdk_texture_download (texture, (guchar *) data, (gsize) w * 4);
  return data[y * w + x];
}

static void
test_frame_tiles (void)
{
  g_autoptr (VireoFrame) frame = vireo_frame_new ();
  g_autofree guint32 *pixels = make_surface ();
  g_autoptr (GdkTexture) whole = NULL;
  GdkTexture *before[6];
  cairo_rectangle_int_t area;

  g_assert_true (vireo_frame_set_size (frame, FRAME_W, FRAME_H));
  g_assert_cmpuint (vireo_frame_get_n_tiles (frame), ==, 3 * 2);
  g_assert_true (vireo_frame_is_damaged (frame));
  g_assert_null (vireo_frame_get_tile (frame, 0, &area));

  g_assert_true (vireo_frame_update (frame, SPICE_SURFACE_FMT_32_xRGB, (const guint8 *) pixels, FRAME_W * 4));
  g_assert_false (vireo_frame_is_damaged (frame));
  for (guint i = 0; i < 6; i++)
    {
      before[i] = vireo_frame_get_tile (frame, i, &area);
      g_assert_nonnull (before[i]);
      g_assert_cmpint (area.x, ==, (int) (i % 3) * 256);
      g_assert_cmpint (area.y, ==, (int) (i / 3) * 256);
      g_assert_cmpint (gdk_texture_get_width (before[i]), ==, i % 3 == 2 ? FRAME_W - 512 : 256);
      g_assert_cmpint (gdk_texture_get_height (before[i]), ==, i / 3 == 1 ? FRAME_H - 256 : 256);
      g_object_ref (before[i]);
    }
  /* The tile's pixels are the surface's, made opaque. */
  g_assert_cmphex (texture_pixel (before[4], 300 - 256, 299 - 256), ==,
                   0xff000000u | GUINT32_FROM_LE (pixels[299 * FRAME_W + 300]));

  /* One changed pixel rebuilds its tile and no other. */
  pixels[10 * FRAME_W + 300] = GUINT32_TO_LE (0x00123456);
  vireo_frame_damage (frame, 300, 10, 1, 1);
  g_assert_true (vireo_frame_is_damaged (frame));
  g_assert_true (vireo_frame_update (frame, SPICE_SURFACE_FMT_32_xRGB, (const guint8 *) pixels, FRAME_W * 4));
  for (guint i = 0; i < 6; i++)
    {
      if (i == 1)
        g_assert_true (vireo_frame_get_tile (frame, i, &area) != before[i]);
      else
        g_assert_true (vireo_frame_get_tile (frame, i, &area) == before[i]);
    }
  g_assert_cmphex (texture_pixel (vireo_frame_get_tile (frame, 1, &area), 300 - 256, 10), ==, 0xff123456u);
  /* The old texture did not change under whoever still holds it. */
  g_assert_cmphex (texture_pixel (before[1], 300 - 256, 10), ==,
                   0xff000000u | ((300 * 7) & 0xff) << 16 | 10 << 8 | ((300 ^ 10) & 0xff));

  /* A rectangle across a tile corner damages the four tiles around it. */
  vireo_frame_damage (frame, 250, 250, 10, 10);
  g_assert_true (vireo_frame_update (frame, SPICE_SURFACE_FMT_32_xRGB, (const guint8 *) pixels, FRAME_W * 4));
  g_assert_true (vireo_frame_get_tile (frame, 0, &area) != before[0]);
  g_assert_true (vireo_frame_get_tile (frame, 2, &area) == before[2]);
  g_assert_true (vireo_frame_get_tile (frame, 3, &area) != before[3]);
  g_assert_true (vireo_frame_get_tile (frame, 5, &area) == before[5]);

  /* The whole picture, as the tiles have it. */
  whole = vireo_frame_to_texture (frame);
  g_assert_cmpint (gdk_texture_get_width (whole), ==, FRAME_W);
  g_assert_cmpint (gdk_texture_get_height (whole), ==, FRAME_H);
  g_assert_cmphex (texture_pixel (whole, 300, 10), ==, 0xff123456u);
  g_assert_cmphex (texture_pixel (whole, 599, 299), ==,
                   0xff000000u | GUINT32_FROM_LE (pixels[299 * FRAME_W + 599]));
  g_assert_cmphex (texture_pixel (whole, 0, 0), ==, 0xff000000u);

  for (guint i = 0; i < 6; i++)
    g_object_unref (before[i]);
}

static void
test_frame_bad_input (void)
{
  g_autoptr (VireoFrame) frame = vireo_frame_new ();
  g_autofree guint32 *pixels = make_surface ();
  g_autoptr (GdkTexture) whole = NULL;
  cairo_rectangle_int_t area;

  /* Sizes no screen has. */
  g_assert_false (vireo_frame_set_size (frame, 0, 10));
  g_assert_false (vireo_frame_set_size (frame, 10, -1));
  g_assert_false (vireo_frame_set_size (frame, VIREO_FRAME_MAX_SIZE + 1, 10));
  g_assert_cmpuint (vireo_frame_get_n_tiles (frame), ==, 0);
  g_assert_null (vireo_frame_to_texture (frame));

  g_assert_true (vireo_frame_set_size (frame, FRAME_W, FRAME_H));
  /* A stride too short for a row, a format it cannot show: nothing happens. */
  g_assert_false (
      vireo_frame_update (frame, SPICE_SURFACE_FMT_32_xRGB, (const guint8 *) pixels, FRAME_W * 4 - 1));
  g_assert_false (vireo_frame_update (frame, SPICE_SURFACE_FMT_8_A, (const guint8 *) pixels, FRAME_W * 4));
  g_assert_false (vireo_frame_update (frame, SPICE_SURFACE_FMT_32_xRGB, NULL, FRAME_W * 4));
  g_assert_null (vireo_frame_get_tile (frame, 0, &area));
  /* Black where nothing was built yet. */
  whole = vireo_frame_to_texture (frame);
  g_assert_cmphex (texture_pixel (whole, 5, 5), ==, 0xff000000u);

  g_assert_true (vireo_frame_update (frame, SPICE_SURFACE_FMT_32_xRGB, (const guint8 *) pixels, FRAME_W * 4));
  /* Damage that lies outside, or overflows when added up, is clipped away. */
  vireo_frame_damage (frame, -100, -100, 50, 50);
  vireo_frame_damage (frame, FRAME_W, 0, 10, 10);
  vireo_frame_damage (frame, 0, 0, -5, 10);
  vireo_frame_damage (frame, G_MAXINT, G_MAXINT, G_MAXINT, G_MAXINT);
  g_assert_false (vireo_frame_is_damaged (frame));
  vireo_frame_damage (frame, G_MININT, G_MININT, G_MAXINT, G_MAXINT);
  g_assert_false (vireo_frame_is_damaged (frame));
  vireo_frame_damage (frame, -10, -10, G_MAXINT, G_MAXINT);
  g_assert_true (vireo_frame_is_damaged (frame));
  g_assert_true (vireo_frame_update (frame, SPICE_SURFACE_FMT_32_xRGB, (const guint8 *) pixels, FRAME_W * 4));
  g_assert_false (vireo_frame_is_damaged (frame));
}

static void
test_frame_formats (void)
{
  g_autoptr (VireoFrame) frame = vireo_frame_new ();
  /* 16-bit little-endian: red, green, blue, white in 565, then in 555. */
  static const guint8 rgb565[8] = { 0x00, 0xf8, 0xe0, 0x07, 0x1f, 0x00, 0xff, 0xff };
  static const guint8 rgb555[8] = { 0x00, 0x7c, 0xe0, 0x03, 0x1f, 0x00, 0xff, 0x7f };
  static const guint32 expected[4] = { 0xffff0000u, 0xff00ff00u, 0xff0000ffu, 0xffffffffu };
  /* 32_ARGB with half alpha: a screen shows the colour, not a blend. */
  const guint32 argb[1] = { GUINT32_TO_LE (0x80ff8000u) };
  g_autoptr (GdkTexture) whole = NULL;

  g_assert_true (vireo_frame_set_size (frame, 4, 1));
  g_assert_true (vireo_frame_update (frame, SPICE_SURFACE_FMT_16_565, rgb565, sizeof rgb565));
  whole = vireo_frame_to_texture (frame);
  for (int i = 0; i < 4; i++)
    g_assert_cmphex (texture_pixel (whole, i, 0), ==, expected[i]);
  g_clear_object (&whole);

  g_assert_true (vireo_frame_set_size (frame, 4, 1));
  g_assert_true (vireo_frame_update (frame, SPICE_SURFACE_FMT_16_555, rgb555, sizeof rgb555));
  whole = vireo_frame_to_texture (frame);
  for (int i = 0; i < 4; i++)
    g_assert_cmphex (texture_pixel (whole, i, 0), ==, expected[i]);
  g_clear_object (&whole);

  g_assert_true (vireo_frame_set_size (frame, 1, 1));
  g_assert_true (vireo_frame_update (frame, SPICE_SURFACE_FMT_32_ARGB, (const guint8 *) argb, 4));
  whole = vireo_frame_to_texture (frame);
  g_assert_cmphex (texture_pixel (whole, 0, 0), ==, 0xffff8000u);
}

static gboolean have_gtk;

/* The render nodes: one texture per tile, where the layout puts it. */
static void
test_frame_snapshot (void)
{
  g_autoptr (VireoFrame) frame = vireo_frame_new ();
  g_autofree guint32 *pixels = make_surface ();
  g_autoptr (GtkSnapshot) snapshot = gtk_snapshot_new ();
  g_autoptr (GskRenderNode) node = NULL;
  VireoFrameLayout layout;
  graphene_rect_t bounds;

  if (!have_gtk)
    {
      g_test_skip ("render nodes need GTK, and GTK needs a display");
      return;
    }
  g_assert_true (vireo_frame_set_size (frame, FRAME_W, FRAME_H));
  g_assert_true (vireo_frame_update (frame, SPICE_SURFACE_FMT_32_xRGB, (const guint8 *) pixels, FRAME_W * 4));
  /* 600×300 in 400×400: 400×200 from y 100. */
  vireo_frame_layout_init (&layout, FRAME_W, FRAME_H, 400, 400, TRUE, 1.0);
  vireo_frame_snapshot (frame, snapshot, &layout);
  node = gtk_snapshot_to_node (snapshot);
  g_assert_nonnull (node);
  g_assert_cmpint (gsk_render_node_get_node_type (node), ==, GSK_CONTAINER_NODE);
  g_assert_cmpuint (gsk_container_node_get_n_children (node), ==, 6);
  for (guint i = 0; i < 6; i++)
    g_assert_cmpint (gsk_render_node_get_node_type (gsk_container_node_get_child (node, i)), ==,
                     GSK_TEXTURE_NODE);
  gsk_render_node_get_bounds (node, &bounds);
  g_assert_cmpfloat (bounds.origin.x, ==, 0);
  g_assert_cmpfloat (bounds.origin.y, ==, 100);
  g_assert_cmpfloat (bounds.size.width, ==, 400);
  g_assert_cmpfloat (bounds.size.height, ==, 200);
}

/* --- streams --- */

/* What a remote host runs (through ssh) for a machine's stream: vireo-tunnel on the service of the URI. */
static void
test_stream_tunnel_argv (void)
{
  g_auto (GStrv) display = vireo_stream_tunnel_argv ("/org/vireo/Vireo1/machines/a1", VIREO_STREAM_DISPLAY,
                                                     FALSE);
  g_auto (GStrv) serial = vireo_stream_tunnel_argv ("/org/vireo/Vireo1/machines/b2", VIREO_STREAM_SERIAL,
                                                    TRUE);
  const char *const display_expected[] = { "vireo-tunnel", "--system", "display",
                                           "/org/vireo/Vireo1/machines/a1", NULL };
  const char *const serial_expected[] = { "vireo-tunnel", "--session", "serial",
                                          "/org/vireo/Vireo1/machines/b2", NULL };

  g_assert_true (g_strv_equal ((const char *const *) display, display_expected));
  g_assert_true (g_strv_equal ((const char *const *) serial, serial_expected));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  have_gtk = gtk_init_check ();

  g_test_add_func ("/display/keymap/spot-checks", test_keymap_spot_checks);
  g_test_add_func ("/display/keymap/full-keyboard", test_keymap_full_keyboard);
  g_test_add_func ("/display/keymap/round-trip", test_keymap_round_trip);
  g_test_add_func ("/display/keymap/typing", test_keymap_typing);
  g_test_add_func ("/display/layout/fit", test_layout_fit);
  g_test_add_func ("/display/layout/zoom", test_layout_zoom);
  g_test_add_func ("/display/layout/tiles-meet", test_layout_tiles_meet);
  g_test_add_func ("/display/frame/tiles", test_frame_tiles);
  g_test_add_func ("/display/frame/bad-input", test_frame_bad_input);
  g_test_add_func ("/display/frame/formats", test_frame_formats);
  g_test_add_func ("/display/frame/snapshot", test_frame_snapshot);
  g_test_add_func ("/display/stream/tunnel-argv", test_stream_tunnel_argv);
  return g_test_run ();
}
