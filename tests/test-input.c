/* test-input.c — XT set-1 scancode fragments as display clients send them, gathered into key sequences
 * and named by evdev codes for the virtio keyboard: the table, prefixes, Pause, fake shifts, lost
 * fragments, and the set of codes a keyboard must announce. */
#include "input.h"

#include <linux/input-event-codes.h>

/* Feeds @n fragments and expects exactly one key event, at the last of them. */
static HvXtKey
feed (HvXtDecoder *decoder, const uint8_t *fragments, unsigned n)
{
  HvXtKey key = { 0 };

  for (unsigned i = 0; i < n; i++)
    {
      gboolean done = hv_xt_decoder_feed (decoder, fragments[i], &key);
      g_assert_cmpint (done, ==, i == n - 1);
    }
  g_assert_cmpuint (key.n_scancodes, ==, n);
  g_assert_cmpmem (key.scancodes, n, fragments, n);
  return key;
}

static void
test_table (void)
{
  /* Laid out by hand (a table, three keys a line): */
  /* clang-format off */
  static const struct
  {
    gboolean extended;
    uint8_t code;
    uint16_t key;
  } known[] = {
    { FALSE, 0x01, KEY_ESC },       { FALSE, 0x1c, KEY_ENTER },     { FALSE, 0x1e, KEY_A },
    { FALSE, 0x2a, KEY_LEFTSHIFT }, { FALSE, 0x39, KEY_SPACE },     { FALSE, 0x3b, KEY_F1 },
    { FALSE, 0x44, KEY_F10 },       { FALSE, 0x53, KEY_KPDOT },     { FALSE, 0x54, KEY_SYSRQ },
    { FALSE, 0x56, KEY_102ND },     { FALSE, 0x57, KEY_F11 },       { FALSE, 0x58, KEY_F12 },
    { FALSE, 0x70, KEY_KATAKANAHIRAGANA },                          { FALSE, 0x7d, KEY_YEN },
    { TRUE, 0x1c, KEY_KPENTER },    { TRUE, 0x1d, KEY_RIGHTCTRL },  { TRUE, 0x35, KEY_KPSLASH },
    { TRUE, 0x37, KEY_SYSRQ },      { TRUE, 0x38, KEY_RIGHTALT },   { TRUE, 0x47, KEY_HOME },
    { TRUE, 0x48, KEY_UP },         { TRUE, 0x49, KEY_PAGEUP },     { TRUE, 0x4b, KEY_LEFT },
    { TRUE, 0x4d, KEY_RIGHT },      { TRUE, 0x4f, KEY_END },        { TRUE, 0x50, KEY_DOWN },
    { TRUE, 0x51, KEY_PAGEDOWN },   { TRUE, 0x52, KEY_INSERT },     { TRUE, 0x53, KEY_DELETE },
    { TRUE, 0x5b, KEY_LEFTMETA },   { TRUE, 0x5c, KEY_RIGHTMETA },  { TRUE, 0x5d, KEY_COMPOSE },
    { TRUE, 0x20, KEY_MUTE },       { TRUE, 0x2e, KEY_VOLUMEDOWN }, { TRUE, 0x30, KEY_VOLUMEUP },
    { TRUE, 0x46, KEY_PAUSE },      { TRUE, 0x5e, KEY_POWER },
  };
  /* clang-format on */

  for (gsize i = 0; i < G_N_ELEMENTS (known); i++)
    g_assert_cmpuint (hv_xt_to_evdev (known[i].extended, known[i].code), ==, known[i].key);

  /* Linux numbered its keys after set 1: the main block maps to itself. */
  for (unsigned code = 0x01; code <= 0x53; code++)
    g_assert_cmpuint (hv_xt_to_evdev (FALSE, code), ==, code);

  /* No key: code 0, the fake shifts, codes with bit 7 (breaks are not make codes), unknown codes. */
  g_assert_cmpuint (hv_xt_to_evdev (FALSE, 0x00), ==, 0);
  g_assert_cmpuint (hv_xt_to_evdev (TRUE, 0x2a), ==, 0);
  g_assert_cmpuint (hv_xt_to_evdev (TRUE, 0x36), ==, 0);
  g_assert_cmpuint (hv_xt_to_evdev (TRUE, 0x01), ==, 0);
  g_assert_cmpuint (hv_xt_to_evdev (FALSE, 0x9e), ==, 0);
  g_assert_cmpuint (hv_xt_to_evdev (TRUE, 0xff), ==, 0);

  /* No two make codes share a key, except Print Screen with and without Alt (both SysRq). */
  for (unsigned a = 0; a < 256; a++)
    for (unsigned b = a + 1; b < 256; b++)
      {
        uint16_t ka = hv_xt_to_evdev (a >= 128, a & 0x7f);
        uint16_t kb = hv_xt_to_evdev (b >= 128, b & 0x7f);
        if (ka != 0 && ka == kb)
          g_assert_cmpuint (ka, ==, KEY_SYSRQ);
      }
}

static void
test_codes_to_announce (void)
{
  gsize n = 0;
  const uint16_t *codes = hv_xt_evdev_codes (&n);
  unsigned found = 0;

  g_assert_cmpuint (n, >, 100);
  for (gsize i = 0; i < n; i++)
    {
      /* What the virtio keyboard announces: KEY_ESC to 255. */
      g_assert_cmpuint (codes[i], >=, KEY_ESC);
      g_assert_cmpuint (codes[i], <=, 255);
      if (i > 0)
        g_assert_cmpuint (codes[i], >, codes[i - 1]);
    }
  /* Every key the table names is in the list, and the list holds nothing else. */
  for (unsigned code = 0; code < 256; code++)
    {
      uint16_t key = hv_xt_to_evdev (code >= 128, code & 0x7f);
      gboolean listed = FALSE;

      if (key == 0)
        continue;
      for (gsize i = 0; i < n; i++)
        listed = listed || codes[i] == key;
      g_assert_true (listed);
    }
  for (gsize i = 0; i < n; i++)
    for (unsigned code = 0; code < 256; code++)
      if (hv_xt_to_evdev (code >= 128, code & 0x7f) == codes[i])
        {
          found++;
          break;
        }
  g_assert_cmpuint (found, ==, n);
}

static void
test_sequences (void)
{
  HvXtDecoder decoder = { 0 };
  HvXtKey key;

  /* A plain key, pressed and released. */
  key = feed (&decoder, (const uint8_t[]){ 0x1e }, 1);
  g_assert_cmpuint (key.code, ==, KEY_A);
  g_assert_true (key.pressed);
  key = feed (&decoder, (const uint8_t[]){ 0x9e }, 1);
  g_assert_cmpuint (key.code, ==, KEY_A);
  g_assert_false (key.pressed);

  /* An extended key: the prefix alone is no event. */
  key = feed (&decoder, (const uint8_t[]){ 0xe0, 0x48 }, 2);
  g_assert_cmpuint (key.code, ==, KEY_UP);
  g_assert_true (key.pressed);
  key = feed (&decoder, (const uint8_t[]){ 0xe0, 0xc8 }, 2);
  g_assert_cmpuint (key.code, ==, KEY_UP);
  g_assert_false (key.pressed);
  /* The same code without the prefix is another key. */
  key = feed (&decoder, (const uint8_t[]){ 0x48 }, 1);
  g_assert_cmpuint (key.code, ==, KEY_KP8);

  /* Print Screen: a fake shift, then the key.  The fake shift names no key but is a sequence of its
   * own, which a PS/2 keyboard would send. */
  key = feed (&decoder, (const uint8_t[]){ 0xe0, 0x2a }, 2);
  g_assert_cmpuint (key.code, ==, 0);
  key = feed (&decoder, (const uint8_t[]){ 0xe0, 0x37 }, 2);
  g_assert_cmpuint (key.code, ==, KEY_SYSRQ);
  g_assert_true (key.pressed);
  key = feed (&decoder, (const uint8_t[]){ 0xe0, 0xb7 }, 2);
  g_assert_false (key.pressed);
  key = feed (&decoder, (const uint8_t[]){ 0xe0, 0xaa }, 2);
  g_assert_cmpuint (key.code, ==, 0);

  /* Pause: three fragments for the press, three for the release. */
  key = feed (&decoder, (const uint8_t[]){ 0xe1, 0x1d, 0x45 }, 3);
  g_assert_cmpuint (key.code, ==, KEY_PAUSE);
  g_assert_true (key.pressed);
  key = feed (&decoder, (const uint8_t[]){ 0xe1, 0x9d, 0xc5 }, 3);
  g_assert_cmpuint (key.code, ==, KEY_PAUSE);
  g_assert_false (key.pressed);
  /* Any other 0xe1 sequence is three fragments that name no key. */
  key = feed (&decoder, (const uint8_t[]){ 0xe1, 0x1d, 0xc5 }, 3);
  g_assert_cmpuint (key.code, ==, 0);
  key = feed (&decoder, (const uint8_t[]){ 0xe1, 0x10, 0x20 }, 3);
  g_assert_cmpuint (key.code, ==, 0);

  /* A client that lost the code after a prefix: the new prefix starts over. */
  g_assert_false (hv_xt_decoder_feed (&decoder, 0xe0, &key));
  key = feed (&decoder, (const uint8_t[]){ 0xe0, 0x4b }, 2);
  g_assert_cmpuint (key.code, ==, KEY_LEFT);
  g_assert_false (hv_xt_decoder_feed (&decoder, 0xe1, &key));
  g_assert_false (hv_xt_decoder_feed (&decoder, 0x1d, &key));
  key = feed (&decoder, (const uint8_t[]){ 0xe0, 0x1d }, 2);
  g_assert_cmpuint (key.code, ==, KEY_RIGHTCTRL);

  /* Unknown codes are sequences too (the PS/2 keyboard passes them on). */
  key = feed (&decoder, (const uint8_t[]){ 0x7f }, 1);
  g_assert_cmpuint (key.code, ==, 0);
  key = feed (&decoder, (const uint8_t[]){ 0x00 }, 1);
  g_assert_cmpuint (key.code, ==, 0);
}

/* Any stream of bytes: every event is a whole sequence of at most three fragments, and every fragment
 * ends up in exactly one event or in the one still pending. */
static void
test_garbage (void)
{
  g_autoptr (GRand) rand = g_rand_new_with_seed (0x1234);
  HvXtDecoder decoder = { 0 };
  unsigned fed = 0, delivered = 0, events = 0;

  for (unsigned i = 0; i < 100000; i++)
    {
      HvXtKey key;
      /* Prefixes often, so that they also land where codes should be. */
      uint8_t fragment = g_rand_int_range (rand, 0, 4) == 0 ? (uint8_t) (0xe0 + g_rand_int_range (rand, 0, 2))
                                                            : (uint8_t) g_rand_int (rand);

      fed++;
      if (!hv_xt_decoder_feed (&decoder, fragment, &key))
        continue;
      events++;
      g_assert_cmpuint (key.n_scancodes, >=, 1);
      g_assert_cmpuint (key.n_scancodes, <=, HV_XT_SEQUENCE_MAX);
      g_assert_cmphex (key.scancodes[key.n_scancodes - 1], ==, fragment);
      g_assert_cmpuint (key.code, <, 256);
      delivered += key.n_scancodes;
    }
  g_assert_cmpuint (events, >, 10000);
  /* Prefixes that restarted a sequence were dropped; nothing else was. */
  g_assert_cmpuint (delivered + decoder.n_pending, <=, fed);
  g_assert_cmpuint (decoder.n_pending, <, HV_XT_SEQUENCE_MAX);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/input/xt-table", test_table);
  g_test_add_func ("/input/codes-to-announce", test_codes_to_announce);
  g_test_add_func ("/input/sequences", test_sequences);
  g_test_add_func ("/input/garbage", test_garbage);
  return g_test_run ();
}
