/* test-i8042.c — the PS/2 controller driven through ports 0x60/0x64 as Linux's i8042 and atkbd drivers
 * do, plus reset, scancode injection and garbage. */
#include "devices.h"
#include "layout.h"
#include "test-util.h"

#include <string.h>

#define STR_OBF     0x01
#define STR_SYS     0x04
#define STR_CMDDAT  0x08
#define STR_AUXDATA 0x20
#define STR_TIMEOUT 0x40

#define CTR_KBDINT 0x01
#define CTR_AUXINT 0x02
#define CTR_KBDDIS 0x10
#define CTR_AUXDIS 0x20
#define CTR_XLATE  0x40

typedef struct
{
  VireoTestPlatform tp;
  HvI8042 *kbc;
} Fixture;

static void
fixture_setup (Fixture *f, gconstpointer data)
{
  vireo_test_platform_init (&f->tp);
  f->kbc = hv_i8042_new (&f->tp.platform);
}

static void
fixture_teardown (Fixture *f, gconstpointer data)
{
  hv_i8042_free (f->kbc);
  vireo_test_platform_clear (&f->tp);
}

static uint8_t
read_status (Fixture *f)
{
  uint8_t value = 0xff;
  hv_i8042_command_io (f->kbc, 0, &value, 1, FALSE);
  return value;
}

static void
write_command (Fixture *f, uint8_t value)
{
  hv_i8042_command_io (f->kbc, 0, &value, 1, TRUE);
}

static void
write_data (Fixture *f, uint8_t value)
{
  hv_i8042_data_io (f->kbc, 0, &value, 1, TRUE);
}

static uint8_t
read_data (Fixture *f)
{
  uint8_t value = 0xff;
  hv_i8042_data_io (f->kbc, 0, &value, 1, FALSE);
  return value;
}

/* Like i8042_wait_read() + i8042_read_data(): the byte must be there at once. */
static uint8_t
expect_byte (Fixture *f)
{
  g_assert_cmphex (read_status (f) & STR_OBF, ==, STR_OBF);
  return read_data (f);
}

static void
expect_empty (Fixture *f)
{
  g_assert_cmphex (read_status (f) & STR_OBF, ==, 0);
}

/* Like i8042_flush(): Linux gives up on a controller that keeps more than 16 bytes coming. */
static unsigned
flush (Fixture *f)
{
  unsigned count = 0;
  while ((read_status (f) & STR_OBF) && count < 17)
    {
      read_data (f);
      count++;
    }
  return count;
}

static uint8_t
read_ctr (Fixture *f)
{
  write_command (f, 0x20);
  return expect_byte (f);
}

static void
write_ctr (Fixture *f, uint8_t ctr)
{
  write_command (f, 0x60);
  write_data (f, ctr);
  g_assert_cmphex (read_ctr (f), ==, ctr);
}

/* drivers/input/serio/i8042.c: i8042_controller_check, _selftest, _init, i8042_check_aux, then atkbd. */
static void
test_linux_init (Fixture *f, gconstpointer data)
{
  uint8_t ctr;
  unsigned kbd_raises;

  g_assert_cmpuint (flush (f), ==, 0);

  write_command (f, 0xaa);
  g_assert_cmphex (read_status (f) & STR_CMDDAT, ==, STR_CMDDAT);
  g_assert_cmphex (expect_byte (f), ==, 0x55);
  g_assert_cmphex (read_status (f) & STR_SYS, ==, STR_SYS);

  /* A BIOS-like command byte: translation on, keyboard interrupt on, no mouse set up. */
  ctr = read_ctr (f);
  g_assert_cmphex (read_ctr (f), ==, ctr);
  g_assert_cmphex (ctr & (CTR_XLATE | CTR_KBDINT), ==, CTR_XLATE | CTR_KBDINT);
  g_assert_cmphex (ctr & CTR_KBDDIS, ==, 0);

  /* Linux disables both ports and their interrupts while it probes. */
  ctr = (ctr | CTR_KBDDIS | CTR_AUXDIS) & ~(CTR_KBDINT | CTR_AUXINT);
  write_ctr (f, ctr);
  g_assert_cmpuint (flush (f), ==, 0);

  /* i8042_check_aux: the AUX loopback returns the byte marked as aux data ... */
  write_command (f, 0xd3);
  write_data (f, 0x5a);
  g_assert_cmphex (read_status (f) & (STR_OBF | STR_AUXDATA), ==, STR_OBF | STR_AUXDATA);
  g_assert_cmphex (read_data (f), ==, 0x5a);
  /* ... the aux enable bit follows 0xA7/0xA8 ... */
  write_command (f, 0xa7);
  g_assert_cmphex (read_ctr (f) & CTR_AUXDIS, ==, CTR_AUXDIS);
  write_command (f, 0xa8);
  g_assert_cmphex (read_ctr (f) & CTR_AUXDIS, ==, 0);
  /* ... and a looped byte raises IRQ 12 once the aux interrupt is enabled. */
  write_ctr (f, (ctr & ~CTR_AUXDIS) | CTR_AUXINT);
  write_command (f, 0xd3);
  write_data (f, 0xa5);
  g_assert_true (f->tp.irq_level[HV_IRQ_MOUSE]);
  g_assert_false (f->tp.irq_level[HV_IRQ_KEYBOARD]);
  g_assert_cmphex (read_status (f) & STR_AUXDATA, ==, STR_AUXDATA);
  g_assert_cmphex (read_data (f), ==, 0xa5);
  g_assert_false (f->tp.irq_level[HV_IRQ_MOUSE]);
  write_ctr (f, ctr);

  /* i8042_enable_kbd_port. */
  ctr = (ctr & ~CTR_KBDDIS) | CTR_KBDINT;
  write_ctr (f, ctr);

  /* atkbd_probe: GETID answers ACK and an MF2 id, each byte on IRQ 1. */
  kbd_raises = f->tp.irq_raises[HV_IRQ_KEYBOARD];
  write_data (f, 0xf2);
  g_assert_cmphex (read_status (f) & STR_CMDDAT, ==, 0);
  g_assert_true (f->tp.irq_level[HV_IRQ_KEYBOARD]);
  g_assert_cmphex (expect_byte (f), ==, 0xfa);
  g_assert_cmphex (expect_byte (f), ==, 0xab);
  g_assert_cmphex (expect_byte (f), ==, 0x41); /* 0x83 as the translating controller presents it */
  expect_empty (f);
  g_assert_false (f->tp.irq_level[HV_IRQ_KEYBOARD]);
  g_assert_cmpuint (f->tp.irq_raises[HV_IRQ_KEYBOARD] - kbd_raises, ==, 3);

  /* Without translation the id is the raw one. */
  write_ctr (f, ctr & ~CTR_XLATE);
  write_data (f, 0xf2);
  g_assert_cmphex (expect_byte (f), ==, 0xfa);
  g_assert_cmphex (expect_byte (f), ==, 0xab);
  g_assert_cmphex (expect_byte (f), ==, 0x83);
  write_ctr (f, ctr);

  /* Reset and self-test. */
  write_data (f, 0xff);
  g_assert_cmphex (expect_byte (f), ==, 0xfa);
  g_assert_cmphex (expect_byte (f), ==, 0xaa);
  /* Set LEDs takes a parameter. */
  write_data (f, 0xed);
  g_assert_cmphex (expect_byte (f), ==, 0xfa);
  write_data (f, 0x07);
  g_assert_cmphex (expect_byte (f), ==, 0xfa);
  /* Scancode set: get answers 2, set acknowledges. */
  write_data (f, 0xf0);
  g_assert_cmphex (expect_byte (f), ==, 0xfa);
  write_data (f, 0x00);
  g_assert_cmphex (expect_byte (f), ==, 0xfa);
  g_assert_cmphex (expect_byte (f), ==, 0x02);
  write_data (f, 0xf0);
  g_assert_cmphex (expect_byte (f), ==, 0xfa);
  write_data (f, 0x07);
  g_assert_cmphex (expect_byte (f), ==, 0xfe);
  /* Typematic rate. */
  write_data (f, 0xf3);
  g_assert_cmphex (expect_byte (f), ==, 0xfa);
  write_data (f, 0x20);
  g_assert_cmphex (expect_byte (f), ==, 0xfa);
  /* A command instead of the expected parameter is a new command. */
  write_data (f, 0xed);
  g_assert_cmphex (expect_byte (f), ==, 0xfa);
  write_data (f, 0xee);
  g_assert_cmphex (expect_byte (f), ==, 0xee);
  /* Echo, defaults, and an unknown command. */
  write_data (f, 0xee);
  g_assert_cmphex (expect_byte (f), ==, 0xee);
  write_data (f, 0xf6);
  g_assert_cmphex (expect_byte (f), ==, 0xfa);
  write_data (f, 0xe1);
  g_assert_cmphex (expect_byte (f), ==, 0xfe);
  expect_empty (f);
}

static void
test_controller_commands (Fixture *f, gconstpointer data)
{
  /* Keyboard interface test and input port. */
  write_command (f, 0xab);
  g_assert_cmphex (expect_byte (f), ==, 0x00);
  write_command (f, 0xc0);
  g_assert_cmphex (expect_byte (f) & 0x80, ==, 0x80);

  /* Output port: reset high, A20 on, and the buffer-full lines. */
  write_command (f, 0xd0);
  g_assert_cmphex (read_status (f) & STR_OBF, ==, STR_OBF);
  g_assert_cmphex (read_data (f) & 0x03, ==, 0x03);

  /* Writing the keyboard output buffer looks like a keystroke. */
  write_command (f, 0xd2);
  write_data (f, 0x42);
  g_assert_true (f->tp.irq_level[HV_IRQ_KEYBOARD]);
  g_assert_cmphex (read_status (f) & (STR_OBF | STR_AUXDATA), ==, STR_OBF);
  g_assert_cmphex (read_data (f), ==, 0x42);

  /* 0xAD/0xAE toggle the keyboard-disable bit. */
  write_command (f, 0xad);
  g_assert_cmphex (read_ctr (f) & CTR_KBDDIS, ==, CTR_KBDDIS);
  write_command (f, 0xae);
  g_assert_cmphex (read_ctr (f) & CTR_KBDDIS, ==, 0);

  /* Controller RAM beyond the command byte keeps what is written. */
  write_command (f, 0x65);
  write_data (f, 0x3c);
  write_command (f, 0x25);
  g_assert_cmphex (expect_byte (f), ==, 0x3c);

  /* Unknown commands are ignored. */
  write_command (f, 0xc7);
  expect_empty (f);
  g_assert_cmpuint (f->tp.exit_requests, ==, 0);
}

static void
test_no_mouse (Fixture *f, gconstpointer data)
{
  /* The aux interface test reports nothing attached. */
  write_command (f, 0xa9);
  g_assert_cmphex (expect_byte (f), ==, 0x02);

  /* A byte for the mouse times out, which psmouse takes as "no mouse" at once. */
  write_command (f, 0xd4);
  write_data (f, 0xf2);
  g_assert_cmphex (read_status (f) & (STR_OBF | STR_AUXDATA | STR_TIMEOUT), ==,
                   STR_OBF | STR_AUXDATA | STR_TIMEOUT);
  g_assert_cmphex (read_data (f), ==, 0xfe);
  g_assert_cmphex (read_status (f) & (STR_OBF | STR_TIMEOUT), ==, 0);
}

static void
test_reset (Fixture *f, gconstpointer data)
{
  /* Pulses that leave bit 0 alone and an output port with reset high do nothing. */
  write_command (f, 0xff);
  write_command (f, 0xd1);
  write_data (f, 0xdf);
  g_assert_cmpuint (f->tp.exit_requests, ==, 0);

  write_command (f, 0xfe);
  g_assert_cmpuint (f->tp.exit_requests, ==, 1);
  g_assert_cmpint (f->tp.exit_reason, ==, HV_EXIT_RESET);
  g_assert_cmpstr (f->tp.exit_message, ==, "the guest reset the machine through the i8042");

  /* Every pulse command with bit 0 clear resets, and so does the output port's reset bit. */
  write_command (f, 0xf0);
  g_assert_cmpuint (f->tp.exit_requests, ==, 2);
  write_command (f, 0xd1);
  write_data (f, 0xde);
  g_assert_cmpuint (f->tp.exit_requests, ==, 3);
}

static void
test_scancodes (Fixture *f, gconstpointer data)
{
  static const uint8_t cad[] = { 0x1d, 0x38, 0xe0, 0x53, 0xe0, 0xd3, 0xb8, 0x9d };
  static const uint8_t a_key[] = { 0x1e, 0x9e };
  uint8_t many[100] = { 0 };
  unsigned raises = f->tp.irq_raises[HV_IRQ_KEYBOARD];

  /* Ctrl+Alt+Del: make codes, then break codes, one interrupt per byte. */
  hv_i8042_send_ctrl_alt_del (f->kbc);
  for (unsigned i = 0; i < G_N_ELEMENTS (cad); i++)
    {
      g_assert_true (f->tp.irq_level[HV_IRQ_KEYBOARD]);
      g_assert_cmphex (read_status (f) & (STR_OBF | STR_AUXDATA), ==, STR_OBF);
      g_assert_cmphex (read_data (f), ==, cad[i]);
    }
  expect_empty (f);
  g_assert_false (f->tp.irq_level[HV_IRQ_KEYBOARD]);
  g_assert_cmpuint (f->tp.irq_raises[HV_IRQ_KEYBOARD] - raises, ==, G_N_ELEMENTS (cad));

  /* Controller answers overtake keystrokes that have not reached the output buffer yet. */
  hv_i8042_inject_scancodes (f->kbc, a_key, 2);
  write_command (f, 0x20);
  g_assert_cmphex (read_data (f), ==, 0x1e);
  g_assert_cmphex (read_data (f) & CTR_XLATE, ==, CTR_XLATE);
  g_assert_cmphex (read_data (f), ==, 0x9e);
  expect_empty (f);

  /* With the keyboard interrupt off, bytes still arrive but raise nothing. */
  write_ctr (f, read_ctr (f) & ~CTR_KBDINT);
  raises = f->tp.irq_raises[HV_IRQ_KEYBOARD];
  hv_i8042_inject_scancodes (f->kbc, a_key, 2);
  g_assert_cmphex (expect_byte (f), ==, 0x1e);
  g_assert_cmphex (expect_byte (f), ==, 0x9e);
  g_assert_cmpuint (f->tp.irq_raises[HV_IRQ_KEYBOARD], ==, raises);
  write_ctr (f, read_ctr (f) | CTR_KBDINT);

  /* A keyboard with scanning off, or a disabled keyboard port, sends nothing. */
  write_data (f, 0xf5);
  g_assert_cmphex (expect_byte (f), ==, 0xfa);
  hv_i8042_inject_scancodes (f->kbc, a_key, 2);
  expect_empty (f);
  write_data (f, 0xf4);
  g_assert_cmphex (expect_byte (f), ==, 0xfa);
  write_command (f, 0xad);
  hv_i8042_inject_scancodes (f->kbc, a_key, 2);
  expect_empty (f);
  write_command (f, 0xae);
  hv_i8042_inject_scancodes (f->kbc, a_key, 2);
  g_assert_cmphex (expect_byte (f), ==, 0x1e);
  g_assert_cmphex (expect_byte (f), ==, 0x9e);

  /* More than the queue holds is refused whole, so no key is left half pressed. */
  for (unsigned i = 0; i < G_N_ELEMENTS (many); i++)
    many[i] = (uint8_t) (i + 1);
  hv_i8042_inject_scancodes (f->kbc, many, G_N_ELEMENTS (many));
  expect_empty (f);
  hv_i8042_inject_scancodes (f->kbc, many, 60);
  for (unsigned i = 0; i < 60; i++)
    g_assert_cmphex (expect_byte (f), ==, i + 1);
  expect_empty (f);
}

static void
test_garbage (Fixture *f, gconstpointer data)
{
  static const unsigned widths[] = { 1, 2, 4, 8 };

  for (unsigned i = 0; i < 200000; i++)
    {
      uint8_t buffer[8];
      unsigned len = widths[g_test_rand_int_range (0, G_N_ELEMENTS (widths))];
      uint64_t offset = (uint64_t) g_test_rand_int_range (0, 3);
      gboolean is_write = g_test_rand_bit ();

      for (unsigned b = 0; b < sizeof buffer; b++)
        buffer[b] = (uint8_t) g_test_rand_int ();
      if (g_test_rand_bit ())
        hv_i8042_data_io (f->kbc, offset, buffer, len, is_write);
      else
        hv_i8042_command_io (f->kbc, offset, buffer, len, is_write);
      if (g_test_rand_int_range (0, 100) == 0)
        hv_i8042_inject_scancodes (f->kbc, buffer, (gsize) g_test_rand_int_range (0, 9));
    }

  /* Still a working controller afterwards. */
  for (unsigned i = 0; i < 200 && (read_status (f) & STR_OBF); i++)
    read_data (f);
  write_command (f, 0xaa);
  g_assert_cmphex (expect_byte (f), ==, 0x55);
}

/* A controller with keys waiting, a keyboard half-way through a command and non-default settings comes
 * back in a new controller as the guest left it, with IRQ 1 raised for the waiting byte. */
static void
test_save_load (Fixture *f, gconstpointer data)
{
  static const uint8_t keys[] = { 0x1e, 0x9e, 0x30, 0xb0 };
  Fixture copy;
  g_autoptr (GVariant) state = NULL;
  g_autoptr (GError) error = NULL;

  write_ctr (f, CTR_KBDINT | CTR_XLATE | CTR_AUXDIS);
  write_data (f, 0xf0); /* scancode set 3 */
  g_assert_cmphex (expect_byte (f), ==, 0xfa);
  write_data (f, 0x03);
  g_assert_cmphex (expect_byte (f), ==, 0xfa);
  write_data (f, 0xed); /* LEDs: the parameter is still to come */
  g_assert_cmphex (expect_byte (f), ==, 0xfa);
  hv_i8042_inject_scancodes (f->kbc, keys, sizeof keys);
  g_assert_true (f->tp.irq_level[HV_IRQ_KEYBOARD]);
  state = vireo_test_state_through_bytes (hv_i8042_save_state (f->kbc));

  vireo_test_platform_init (&copy.tp);
  copy.kbc = hv_i8042_new (&copy.tp.platform);
  g_assert_true (hv_i8042_load_state (copy.kbc, state, &error));
  g_assert_no_error (error);
  g_assert_true (copy.tp.irq_level[HV_IRQ_KEYBOARD]);
  for (gsize i = 0; i < sizeof keys; i++)
    g_assert_cmphex (expect_byte (&copy), ==, keys[i]);
  expect_empty (&copy);
  g_assert_false (copy.tp.irq_level[HV_IRQ_KEYBOARD]);
  /* The LED command gets its parameter, then the set is still 3. */
  write_data (&copy, 0x07);
  g_assert_cmphex (expect_byte (&copy), ==, 0xfa);
  write_data (&copy, 0xf0);
  g_assert_cmphex (expect_byte (&copy), ==, 0xfa);
  write_data (&copy, 0x00);
  g_assert_cmphex (expect_byte (&copy), ==, 0xfa);
  g_assert_cmphex (expect_byte (&copy), ==, 0x03);
  g_assert_cmphex (read_ctr (&copy), ==, CTR_KBDINT | CTR_XLATE | CTR_AUXDIS);
  fixture_teardown (&copy, NULL);
}

/* A state with any field out of range is refused as a whole: the controller keeps what it had. */
static void
test_load_bad_state (Fixture *f, gconstpointer data)
{
  static const struct
  {
    const char *key;
    const char *value;
  } bad[] = {
    { "ram", "[byte 1, 2, 3]" },
    { "pending-command", "byte 0x20" },
    { "keyboard-pending", "byte 0xf4" },
    { "scancode-set", "byte 0" },
    { "obf-byte", "uint16 0x400" },
    { "controller-queue", "[uint16 0x4ff]" },
    { "leds", "byte 8" },
  };
  g_autoptr (GVariant) good = NULL;

  hv_i8042_inject_scancodes (f->kbc, (const uint8_t *) "\x1e", 1);
  good = g_variant_ref_sink (hv_i8042_save_state (f->kbc));
  for (gsize i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autoptr (GError) error = NULL;
      g_autoptr (GVariant) value = g_variant_parse (NULL, bad[i].value, NULL, NULL, &error);
      g_autoptr (GVariant) state = NULL;
      GVariantDict dict;

      g_assert_no_error (error);
      g_variant_dict_init (&dict, good);
      g_variant_dict_insert (&dict, "obf", "b", FALSE);
      g_variant_dict_insert_value (&dict, bad[i].key, value);
      state = g_variant_ref_sink (g_variant_dict_end (&dict));
      g_assert_false (hv_i8042_load_state (f->kbc, state, &error));
      g_assert_error (error, HV_ERROR, HV_ERROR_BAD_IMAGE);
      g_assert_nonnull (strstr (error->message, "i8042"));
      g_assert_cmphex (read_status (f) & STR_OBF, ==, STR_OBF);
    }
  /* A queue longer than the controller's is refused too. */
  {
    g_autoptr (GError) error = NULL;
    uint16_t long_queue[65] = { 0 };
    g_autoptr (GVariant) state = NULL;
    GVariantDict dict;

    g_variant_dict_init (&dict, good);
    g_variant_dict_insert_value (&dict, "keyboard-queue",
                                 g_variant_new_fixed_array (G_VARIANT_TYPE_UINT16, long_queue, 65, 2));
    state = g_variant_ref_sink (g_variant_dict_end (&dict));
    g_assert_false (hv_i8042_load_state (f->kbc, state, &error));
    g_assert_error (error, HV_ERROR, HV_ERROR_BAD_IMAGE);
  }
  g_assert_cmphex (expect_byte (f), ==, 0x1e);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

#define ADD(path, fn) g_test_add ("/i8042/" path, Fixture, NULL, fixture_setup, fn, fixture_teardown)
  ADD ("linux-init", test_linux_init);
  ADD ("controller-commands", test_controller_commands);
  ADD ("no-mouse", test_no_mouse);
  ADD ("reset", test_reset);
  ADD ("scancodes", test_scancodes);
  ADD ("garbage", test_garbage);
  ADD ("save-load", test_save_load);
  ADD ("load-bad-state", test_load_bad_state);
#undef ADD

  return g_test_run ();
}
