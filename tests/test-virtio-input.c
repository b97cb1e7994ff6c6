/* test-virtio-input.c — the virtio-input keyboard and tablet as Linux's virtio_input driver sees them:
 * the configuration it queries, events delivered whole reports at a time, LEDs from the status queue,
 * what happens without buffers or with bad ones, reset, and saved state. */
#include "virtio-driver.h"
#include "device.h"
#include "devices/virtio-input.h"
#include "layout.h"

#include <linux/input.h>
#include <string.h>

#define EVENTQ_BASE  0x100000
#define STATUSQ_BASE 0x110000
#define EVENTS       0x200000 /* event buffers, 8 bytes each */
#define STATUS_BUFS  0x300000

typedef struct
{
  TestMachine m;
  HvVirtioInput *input;
  TestDriver d;
  TestQueue eventq;
  TestQueue statusq;
  unsigned n_buffers; /* event buffers given so far */
  uint64_t base;      /* added to the guest addresses of the queues and buffers below */
} Fixture;

static void
keyboard_setup (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;

  test_machine_init (&f->m);
  f->input = hv_virtio_input_new_keyboard (&f->m.tp.platform, f->m.pci, &error);
  g_assert_no_error (error);
  test_driver_probe (&f->d, &f->m, 1);
  f->n_buffers = 0;
}

static void
tablet_setup (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;

  test_machine_init (&f->m);
  f->input = hv_virtio_input_new_tablet (&f->m.tp.platform, f->m.pci, &error);
  g_assert_no_error (error);
  test_driver_probe (&f->d, &f->m, 1);
  f->n_buffers = 0;
}

static void
fixture_teardown (Fixture *f, gconstpointer data)
{
  hv_virtio_input_free (f->input);
  test_machine_clear (&f->m);
}

/* virtinput_cfg_select(): returns the size the device answers with. */
static unsigned
select_config (Fixture *f, uint8_t select, uint8_t subsel)
{
  test_mmio_write (f->d.machine, f->d.device + 0, 1, select);
  test_mmio_write (f->d.machine, f->d.device + 1, 1, subsel);
  return (unsigned) test_mmio_read (f->d.machine, f->d.device + 2, 1);
}

static uint8_t
config_byte (Fixture *f, unsigned offset)
{
  return (uint8_t) test_mmio_read (f->d.machine, f->d.device + 8 + offset, 1);
}

static gboolean
config_bit (Fixture *f, unsigned bit)
{
  return (config_byte (f, bit / 8) >> (bit % 8)) & 1;
}

/* What virtinput_probe() does, then the queues (the event queue @size long) and DRIVER_OK (no MSI-X:
 * INTx, as with pci=nomsi). */
static void
bring_up_sized (Fixture *f, unsigned buffers, uint16_t size)
{
  g_assert_true (test_driver_negotiate (&f->d, HV_VIRTIO_FEATURE (HV_VIRTIO_F_VERSION_1)));
  test_queue_setup (&f->eventq, &f->d, 0, size, f->base + EVENTQ_BASE, HV_VIRTIO_MSI_NO_VECTOR);
  test_queue_setup (&f->statusq, &f->d, 1, 64, f->base + STATUSQ_BASE, HV_VIRTIO_MSI_NO_VECTOR);
  g_assert_false (hv_virtio_input_driver_ready (f->input));
  test_driver_set_status (&f->d, test_driver_status (&f->d) | HV_VIRTIO_STATUS_DRIVER_OK);
  g_assert_true (hv_virtio_input_driver_ready (f->input));
  f->n_buffers = 0;
  for (unsigned i = 0; i < buffers; i++)
    test_queue_add (&f->eventq, f->base + EVENTS + 8ull * f->n_buffers++, 8, TRUE);
  test_queue_kick (&f->eventq, 2);
  test_machine_run_io (f->d.machine);
}

static void
bring_up (Fixture *f, unsigned buffers)
{
  bring_up_sized (f, buffers, 64);
}

static void
give_buffers (Fixture *f, unsigned count)
{
  for (unsigned i = 0; i < count; i++)
    test_queue_add (&f->eventq, f->base + EVENTS + 8ull * (f->n_buffers++ % 64), 8, TRUE);
  test_queue_kick (&f->eventq, 2);
  test_machine_run_io (f->d.machine);
}

/* The next event the device delivered, as the driver's virtinput_recv_events() reads it. */
static gboolean
next_event (Fixture *f, uint16_t *type, uint16_t *code, int32_t *value)
{
  uint32_t id, len;
  uint8_t raw[8];
  uint64_t addr;

  if (!test_queue_get_used (&f->eventq, &id, &len))
    return FALSE;
  g_assert_cmpuint (len, ==, 8);
  g_assert_cmpuint (id, <, 64);
  /* Descriptor @id points at the buffer given with it. */
  memcpy (&addr, test_guest (f->d.machine, f->eventq.desc + 16ull * id, 8), 8);
  memcpy (raw, test_guest (f->d.machine, GUINT64_FROM_LE (addr), 8), 8);
  *type = (uint16_t) (raw[0] | raw[1] << 8);
  *code = (uint16_t) (raw[2] | raw[3] << 8);
  *value = (int32_t) (raw[4] | raw[5] << 8 | raw[6] << 16 | (uint32_t) raw[7] << 24);
  return TRUE;
}

static void
assert_event (Fixture *f, uint16_t type, uint16_t code, int32_t value)
{
  uint16_t t, c;
  int32_t v;

  g_assert_true (next_event (f, &t, &c, &v));
  g_assert_cmpuint (t, ==, type);
  g_assert_cmpuint (c, ==, code);
  g_assert_cmpint (v, ==, value);
}

static void
assert_no_event (Fixture *f)
{
  uint16_t t, c;
  int32_t v;
  g_assert_false (next_event (f, &t, &c, &v));
}

static void
test_keyboard_config (Fixture *f, gconstpointer data)
{
  char name[64] = { 0 };
  unsigned size;

  g_assert_cmphex (test_config_read (f->d.machine, 1, 0x02, 2), ==, 0x1052);
  g_assert_cmphex (test_config_read (f->d.machine, 1, 0x0a, 2), ==, 0x0980);
  g_assert_cmpuint (f->d.device_length, >=, 136);

  size = select_config (f, 0x01, 0);
  g_assert_cmpuint (size, ==, strlen ("Vireo Virtio Keyboard"));
  for (unsigned i = 0; i < size; i++)
    name[i] = (char) config_byte (f, i);
  g_assert_cmpstr (name, ==, "Vireo Virtio Keyboard");
  g_assert_cmpuint (select_config (f, 0x01, 1), ==, 0); /* subsel must be 0 */
  g_assert_cmpuint (select_config (f, 0x02, 0), ==, 0); /* no serial */

  g_assert_cmpuint (select_config (f, 0x03, 0), ==, 8);
  g_assert_cmphex (test_mmio_read (f->d.machine, f->d.device + 8, 2), ==, BUS_VIRTUAL);

  g_assert_cmpuint (select_config (f, 0x10, 0), ==, 0); /* no properties */
  g_assert_cmpuint (select_config (f, 0x11, EV_REP), ==, 1);
  g_assert_cmpuint (select_config (f, 0x11, EV_KEY), ==, 32);
  g_assert_false (config_bit (f, KEY_RESERVED));
  g_assert_true (config_bit (f, KEY_ESC));
  g_assert_true (config_bit (f, KEY_A));
  g_assert_true (config_bit (f, KEY_RIGHTMETA));
  g_assert_true (config_bit (f, KEY_POWER));
  g_assert_cmpuint (select_config (f, 0x11, EV_LED), ==, 1);
  g_assert_cmphex (config_byte (f, 0), ==, 0x7);
  g_assert_cmpuint (select_config (f, 0x11, EV_ABS), ==, 0);
  g_assert_cmpuint (select_config (f, 0x11, EV_REL), ==, 0);
  g_assert_cmpuint (select_config (f, 0x12, ABS_X), ==, 0);
  g_assert_cmpuint (select_config (f, 0x77, 0), ==, 0);
  g_assert_cmphex (config_byte (f, 0), ==, 0);

  /* Only select and subsel are writable; the answer follows them. */
  select_config (f, 0x11, EV_LED);
  test_mmio_write (f->d.machine, f->d.device + 2, 1, 99);
  test_mmio_write (f->d.machine, f->d.device + 8, 4, 0xffffffff);
  g_assert_cmpuint (test_mmio_read (f->d.machine, f->d.device + 2, 1), ==, 1);
  g_assert_cmphex (config_byte (f, 0), ==, 0x7);
  test_mmio_write (f->d.machine, f->d.device + 0, 2, 0x11 | EV_KEY << 8);
  g_assert_cmpuint (test_mmio_read (f->d.machine, f->d.device + 2, 1), ==, 32);
  /* Past the structure: nothing. */
  g_assert_cmphex (test_mmio_read (f->d.machine, f->d.device + 136, 4), ==, 0);
}

static void
test_tablet_config (Fixture *f, gconstpointer data)
{
  g_assert_cmpuint (select_config (f, 0x01, 0), ==, strlen ("Vireo Virtio Tablet"));
  g_assert_cmpuint (select_config (f, 0x11, EV_ABS), ==, 1);
  g_assert_cmphex (config_byte (f, 0), ==, 1u << ABS_X | 1u << ABS_Y);
  g_assert_cmpuint (select_config (f, 0x12, ABS_X), ==, 20);
  g_assert_cmpuint (test_mmio_read (f->d.machine, f->d.device + 8, 4), ==, 0);
  g_assert_cmpuint (test_mmio_read (f->d.machine, f->d.device + 12, 4), ==, HV_VIRTIO_TABLET_ABS_MAX);
  g_assert_cmpuint (select_config (f, 0x12, ABS_Y), ==, 20);
  g_assert_cmpuint (test_mmio_read (f->d.machine, f->d.device + 12, 4), ==, 32767);
  g_assert_cmpuint (select_config (f, 0x12, ABS_Z), ==, 0);
  g_assert_cmpuint (select_config (f, 0x11, EV_KEY), ==, BTN_MIDDLE / 8 + 1);
  g_assert_true (config_bit (f, BTN_LEFT));
  g_assert_true (config_bit (f, BTN_RIGHT));
  g_assert_true (config_bit (f, BTN_MIDDLE));
  g_assert_false (config_bit (f, KEY_A));
  g_assert_false (config_bit (f, BTN_TOUCH)); /* not a touchscreen */
  g_assert_cmpuint (select_config (f, 0x11, EV_REL), ==, 2);
  g_assert_true (config_bit (f, REL_WHEEL));
  g_assert_cmpuint (select_config (f, 0x11, EV_REP), ==, 0);
  g_assert_cmpuint (select_config (f, 0x11, EV_LED), ==, 0);
  g_assert_cmpuint (select_config (f, 0x10, 0), ==, 0);
}

static void
test_events (Fixture *f, gconstpointer data)
{
  unsigned gsi = HV_PCI_INTX_GSI (1, 0);

  /* Before the driver is ready, nothing is taken. */
  g_assert_false (hv_virtio_input_send (f->input, EV_KEY, KEY_A, 1));
  g_assert_false (hv_virtio_input_send (f->input, EV_SYN, SYN_REPORT, 0));

  bring_up (f, 4);
  g_assert_true (hv_virtio_input_send (f->input, EV_KEY, KEY_A, 1));
  /* Nothing reaches the guest before the report ends. */
  assert_no_event (f);
  g_assert_false (test_machine_irq_level (f->d.machine, gsi));
  g_assert_true (hv_virtio_input_send (f->input, EV_SYN, SYN_REPORT, 0));
  assert_event (f, EV_KEY, KEY_A, 1);
  assert_event (f, EV_SYN, SYN_REPORT, 0);
  assert_no_event (f);
  g_assert_true (test_machine_irq_level (f->d.machine, gsi));
  g_assert_cmphex (test_mmio_read (f->d.machine, f->d.isr, 1), ==, 1);

  /* A report of three with two buffers left waits whole, then arrives whole when buffers come. */
  hv_virtio_input_send (f->input, EV_ABS, ABS_X, 100);
  hv_virtio_input_send (f->input, EV_REL, REL_WHEEL, -1);
  hv_virtio_input_send (f->input, EV_SYN, SYN_REPORT, 0);
  assert_no_event (f);
  hv_virtio_input_send (f->input, EV_KEY, KEY_A, 0);
  hv_virtio_input_send (f->input, EV_SYN, SYN_REPORT, 0);
  assert_no_event (f);
  give_buffers (f, 1);
  assert_event (f, EV_ABS, ABS_X, 100);
  assert_event (f, EV_REL, REL_WHEEL, -1);
  assert_event (f, EV_SYN, SYN_REPORT, 0);
  assert_no_event (f);
  give_buffers (f, 2);
  assert_event (f, EV_KEY, KEY_A, 0);
  assert_event (f, EV_SYN, SYN_REPORT, 0);
  assert_no_event (f);

  /* While the VM is paused nothing goes into its memory; unpausing delivers what waited. */
  give_buffers (f, 4);
  hv_virtio_input_set_paused (f->input, TRUE);
  g_assert_true (hv_virtio_input_driver_ready (f->input));
  g_assert_true (hv_virtio_input_send (f->input, EV_KEY, KEY_B, 1));
  g_assert_true (hv_virtio_input_send (f->input, EV_SYN, SYN_REPORT, 0));
  test_machine_run_io (f->d.machine);
  assert_no_event (f);
  hv_virtio_input_set_paused (f->input, FALSE);
  test_machine_run_io (f->d.machine);
  assert_event (f, EV_KEY, KEY_B, 1);
  assert_event (f, EV_SYN, SYN_REPORT, 0);
  assert_no_event (f);
}

static void
test_overflow (Fixture *f, gconstpointer data)
{
  unsigned delivered = 0;
  uint16_t type, code;
  int32_t value;

  bring_up (f, 0);
  /* 600 reports of 2 events with no buffers: 512 of them fit in the device's 1024 events. */
  for (int i = 0; i < 600; i++)
    {
      g_assert_true (hv_virtio_input_send (f->input, EV_KEY, KEY_B, i));
      g_assert_true (hv_virtio_input_send (f->input, EV_SYN, SYN_REPORT, 0));
    }
  /* A report longer than a report can be is dropped whole. */
  for (int i = 0; i < 100; i++)
    hv_virtio_input_send (f->input, EV_KEY, KEY_C, 1);
  hv_virtio_input_send (f->input, EV_SYN, SYN_REPORT, 0);

  /* The driver gives back each buffer it has read; the ring holds 64. */
  for (unsigned round = 0; round < 16; round++)
    {
      give_buffers (f, 64);
      while (next_event (f, &type, &code, &value))
        {
          /* The oldest reports, in order, whole. */
          if (delivered % 2 == 0)
            {
              g_assert_cmpuint (type, ==, EV_KEY);
              g_assert_cmpuint (code, ==, KEY_B);
              g_assert_cmpint (value, ==, (int32_t) delivered / 2);
            }
          else
            g_assert_cmpuint (type, ==, EV_SYN);
          delivered++;
        }
    }
  g_assert_cmpuint (delivered, ==, 1024);
  give_buffers (f, 2);
  assert_no_event (f);

  /* With buffers there again, new events flow. */
  hv_virtio_input_send (f->input, EV_KEY, KEY_D, 1);
  hv_virtio_input_send (f->input, EV_SYN, SYN_REPORT, 0);
  assert_event (f, EV_KEY, KEY_D, 1);
  assert_event (f, EV_SYN, SYN_REPORT, 0);
}

/* A report longer than the guest's whole queue can never be delivered whole: it is dropped, and
 * does not hold up the ones after it. */
static void
test_long_report (Fixture *f, gconstpointer data)
{
  bring_up_sized (f, 4, 4);
  for (int i = 0; i < 5; i++)
    g_assert_true (hv_virtio_input_send (f->input, EV_KEY, KEY_1 + i, 1));
  g_assert_true (hv_virtio_input_send (f->input, EV_SYN, SYN_REPORT, 0));
  g_assert_true (hv_virtio_input_send (f->input, EV_KEY, KEY_E, 1));
  g_assert_true (hv_virtio_input_send (f->input, EV_SYN, SYN_REPORT, 0));
  assert_event (f, EV_KEY, KEY_E, 1);
  assert_event (f, EV_SYN, SYN_REPORT, 0);
  assert_no_event (f);
}

static void
send_status (Fixture *f, unsigned index, uint16_t type, uint16_t code, int32_t value)
{
  uint8_t raw[8] = { (uint8_t) type,          (uint8_t) (type >> 8),
                     (uint8_t) code,          (uint8_t) (code >> 8),
                     (uint8_t) value,         (uint8_t) (value >> 8),
                     (uint8_t) (value >> 16), (uint8_t) ((uint32_t) value >> 24) };

  memcpy (test_guest (f->d.machine, f->base + STATUS_BUFS + 8ull * index, 8), raw, 8);
  test_queue_add (&f->statusq, f->base + STATUS_BUFS + 8ull * index, 8, FALSE);
}

static void
test_leds (Fixture *f, gconstpointer data)
{
  uint32_t id, len;

  bring_up (f, 4);
  g_assert_cmphex (hv_virtio_input_get_leds (f->input), ==, 0);
  /* What the guest's input core sends when CapsLock and NumLock go on: EV_LED events. */
  send_status (f, 0, EV_LED, LED_CAPSL, 1);
  send_status (f, 1, EV_LED, LED_NUML, 1);
  send_status (f, 2, EV_LED, LED_KANA, 1); /* an LED the keyboard does not have */
  send_status (f, 3, EV_SND, SND_BELL, 1); /* not an LED */
  test_queue_kick (&f->statusq, 2);
  test_machine_run_io (f->d.machine);
  g_assert_cmphex (hv_virtio_input_get_leds (f->input), ==, 1u << LED_CAPSL | 1u << LED_NUML);
  /* Every buffer went back, with nothing written. */
  for (unsigned i = 0; i < 4; i++)
    {
      g_assert_true (test_queue_get_used (&f->statusq, &id, &len));
      g_assert_cmpuint (len, ==, 0);
    }
  g_assert_false (test_queue_get_used (&f->statusq, &id, &len));

  send_status (f, 0, EV_LED, LED_CAPSL, 0);
  /* A short buffer is ignored, not read past. */
  test_queue_add (&f->statusq, STATUS_BUFS + 0x100, 3, FALSE);
  test_queue_kick (&f->statusq, 2);
  test_machine_run_io (f->d.machine);
  g_assert_cmphex (hv_virtio_input_get_leds (f->input), ==, 1u << LED_NUML);

  /* A reset forgets the LEDs. */
  test_driver_set_status (&f->d, 0);
  g_assert_cmphex (hv_virtio_input_get_leds (f->input), ==, 0);
  g_assert_false (hv_virtio_input_driver_ready (f->input));
}

static void
test_bad_buffers (Fixture *f, gconstpointer data)
{
  bring_up (f, 0);
  /* A buffer too small for an event, and one the device may not write (each before a good one, so
   * that a report of two fits). */
  test_queue_add (&f->eventq, EVENTS, 4, TRUE);
  test_queue_add (&f->eventq, EVENTS + 8, 8, TRUE);
  test_queue_kick (&f->eventq, 2);
  test_machine_run_io (f->d.machine);
  g_assert_true (hv_virtio_input_send (f->input, EV_KEY, KEY_A, 1));
  g_assert_true (hv_virtio_input_send (f->input, EV_SYN, SYN_REPORT, 0));
  g_assert_cmphex (test_driver_status (&f->d) & HV_VIRTIO_STATUS_NEEDS_RESET, ==,
                   HV_VIRTIO_STATUS_NEEDS_RESET);
  g_assert_false (hv_virtio_input_driver_ready (f->input));
  g_assert_false (hv_virtio_input_send (f->input, EV_KEY, KEY_A, 0));

  bring_up (f, 0);
  test_queue_add (&f->eventq, EVENTS, 8, FALSE);
  test_queue_add (&f->eventq, EVENTS + 8, 8, TRUE);
  test_queue_kick (&f->eventq, 2);
  test_machine_run_io (f->d.machine);
  hv_virtio_input_send (f->input, EV_KEY, KEY_A, 1);
  hv_virtio_input_send (f->input, EV_SYN, SYN_REPORT, 0);
  g_assert_false (hv_virtio_input_driver_ready (f->input));

  /* A buffer outside RAM. */
  bring_up (f, 0);
  test_queue_add (&f->eventq, TEST_RAM_SIZE, 8, TRUE);
  test_queue_add (&f->eventq, EVENTS + 8, 8, TRUE);
  test_queue_kick (&f->eventq, 2);
  test_machine_run_io (f->d.machine);
  hv_virtio_input_send (f->input, EV_KEY, KEY_A, 1);
  hv_virtio_input_send (f->input, EV_SYN, SYN_REPORT, 0);
  g_assert_false (hv_virtio_input_driver_ready (f->input));

  /* After a reset all is well again. */
  bring_up (f, 2);
  hv_virtio_input_send (f->input, EV_KEY, KEY_A, 1);
  hv_virtio_input_send (f->input, EV_SYN, SYN_REPORT, 0);
  assert_event (f, EV_KEY, KEY_A, 1);
  assert_event (f, EV_SYN, SYN_REPORT, 0);
}

static void
test_save_load (Fixture *f, gconstpointer data)
{
  g_autoptr (GVariant) pci_state = NULL;
  g_autoptr (GVariant) state = NULL;
  g_autoptr (GError) error = NULL;
  HvVirtioInput *copy;
  HvVirtioInput *tablet;
  TestMachine m2;

  bring_up (f, 1);
  send_status (f, 0, EV_LED, LED_SCROLLL, 1);
  test_queue_kick (&f->statusq, 2);
  test_machine_run_io (&f->m);
  select_config (f, 0x11, EV_LED);
  /* One report delivered, one waiting for buffers, one being built. */
  hv_virtio_input_send (f->input, EV_SYN, SYN_REPORT, 0);
  hv_virtio_input_send (f->input, EV_KEY, KEY_Q, 1);
  hv_virtio_input_send (f->input, EV_SYN, SYN_REPORT, 0);
  hv_virtio_input_send (f->input, EV_KEY, KEY_W, 1);
  assert_event (f, EV_SYN, SYN_REPORT, 0);

  pci_state = g_variant_ref_sink (hv_pci_save_state (f->m.pci));
  state = g_variant_ref_sink (hv_virtio_input_save_state (f->input));

  /* A new machine with the same keyboard, its RAM copied as the memory file would bring it. */
  test_machine_init (&m2);
  memcpy (test_guest (&m2, 0, TEST_RAM_SIZE), test_guest (&f->m, 0, TEST_RAM_SIZE), TEST_RAM_SIZE);
  copy = hv_virtio_input_new_keyboard (&m2.tp.platform, m2.pci, &error);
  g_assert_no_error (error);
  g_assert_true (hv_pci_load_state (m2.pci, pci_state, &error));
  g_assert_no_error (error);

  /* A keyboard's state does not fit a tablet. */
  tablet = hv_virtio_input_new_tablet (&m2.tp.platform, m2.pci, &error);
  g_assert_no_error (error);
  g_assert_false (hv_virtio_input_load_state (tablet, state, &error));
  g_assert_error (error, HV_ERROR, HV_ERROR_BAD_IMAGE);
  g_clear_error (&error);

  g_assert_true (hv_virtio_input_load_state (copy, state, &error));
  g_assert_no_error (error);

  /* The guest's driver goes on with the new machine's device. */
  f->d.machine = &m2;
  g_assert_true (hv_virtio_input_driver_ready (copy));
  g_assert_cmphex (hv_virtio_input_get_leds (copy), ==, 1u << LED_SCROLLL);
  g_assert_cmpuint (test_mmio_read (&m2, f->d.device + 2, 1), ==, 1);
  g_assert_cmphex (test_mmio_read (&m2, f->d.device + 8, 1), ==, 0x7);

  /* The waiting report arrives once there are buffers; the one being built goes on. */
  give_buffers (f, 4);
  assert_event (f, EV_KEY, KEY_Q, 1);
  assert_event (f, EV_SYN, SYN_REPORT, 0);
  assert_no_event (f);
  g_assert_true (hv_virtio_input_send (copy, EV_SYN, SYN_REPORT, 0));
  assert_event (f, EV_KEY, KEY_W, 1);
  assert_event (f, EV_SYN, SYN_REPORT, 0);
  assert_no_event (f);

  hv_virtio_input_free (tablet);
  hv_virtio_input_free (copy);
  test_machine_clear (&m2);
  f->d.machine = &f->m;
}

/* A machine whose PCI bus and two keyboards ("keyboard0" in slot 2, "keyboard1" in slot 3; the chipset
 * has slot 1) come from the device model, as a VM's do. */
static HvDevices *
machine_with_keyboards (TestMachine *m, HvBus *pio)
{
  g_autoptr (GError) error = NULL;
  HvDevices *devices = hv_devices_new (NULL);
  HvDeviceHost host;

  test_machine_init (m);
  g_clear_pointer (&m->pci, hv_pci_free);
  g_assert_nonnull (hv_devices_add (devices, "virtio-keyboard", NULL, &error));
  g_assert_nonnull (hv_devices_add (devices, "virtio-keyboard", NULL, &error));
  g_assert_nonnull (hv_devices_add (devices, "pci-host", NULL, &error));
  g_assert_no_error (error);
  host = (HvDeviceHost){ .platform = &m->tp.platform, .pio = pio, .ram_size = TEST_RAM_SIZE };
  g_assert_true (hv_devices_realize (devices, &host, &error));
  g_assert_no_error (error);
  m->pci = hv_devices_get_impl (devices, "pci-host");
  return devices;
}

static void
machine_with_keyboards_clear (TestMachine *m, HvDevices *devices)
{
  hv_devices_free (devices);
  m->pci = NULL; /* the device model's, freed with it */
  test_machine_clear (m);
}

/* Two keyboards in one machine: each in its own slot with its own queues, events and LEDs; each
 * quiesced; each saving its own section and carrying on from it in a new machine. */
static void
test_two_keyboards (void)
{
  TestMachine m, m2;
  Fixture k[2], saved[2];
  g_autofree uint8_t *ram = NULL;
  HvBus *pio = hv_bus_new ("port I/O");
  HvBus *pio2 = hv_bus_new ("port I/O");
  HvDevices *devices = machine_with_keyboards (&m, pio);
  HvDevices *devices2 = NULL;
  g_autoptr (GVariant) sections = NULL;
  g_autoptr (GError) error = NULL;

  memset (k, 0, sizeof k);
  for (unsigned i = 0; i < 2; i++)
    {
      g_autofree char *id = g_strdup_printf ("keyboard%u", i);
      k[i].input = hv_devices_lookup (devices, id)->impl;
      k[i].base = i * 0x8000;
      test_driver_probe (&k[i].d, &m, 2 + i);
      bring_up (&k[i], 4);
    }

  g_assert_true (hv_virtio_input_send (k[0].input, EV_KEY, KEY_A, 1));
  g_assert_true (hv_virtio_input_send (k[0].input, EV_SYN, SYN_REPORT, 0));
  g_assert_true (hv_virtio_input_send (k[1].input, EV_KEY, KEY_B, 1));
  g_assert_true (hv_virtio_input_send (k[1].input, EV_SYN, SYN_REPORT, 0));
  assert_event (&k[0], EV_KEY, KEY_A, 1);
  assert_event (&k[0], EV_SYN, SYN_REPORT, 0);
  assert_no_event (&k[0]);
  assert_event (&k[1], EV_KEY, KEY_B, 1);
  assert_event (&k[1], EV_SYN, SYN_REPORT, 0);
  assert_no_event (&k[1]);

  send_status (&k[1], 0, EV_LED, LED_CAPSL, 1);
  test_queue_kick (&k[1].statusq, 2);
  test_machine_run_io (&m);
  g_assert_cmphex (hv_virtio_input_get_leds (k[0].input), ==, 0);
  g_assert_cmphex (hv_virtio_input_get_leds (k[1].input), ==, 1u << LED_CAPSL);

  /* Quiesced, both hold their events; released, they deliver them. */
  hv_devices_quiesce (devices, TRUE);
  g_assert_true (hv_virtio_input_send (k[0].input, EV_KEY, KEY_C, 1));
  g_assert_true (hv_virtio_input_send (k[0].input, EV_SYN, SYN_REPORT, 0));
  g_assert_true (hv_virtio_input_send (k[1].input, EV_KEY, KEY_D, 1));
  g_assert_true (hv_virtio_input_send (k[1].input, EV_SYN, SYN_REPORT, 0));
  test_machine_run_io (&m);
  assert_no_event (&k[0]);
  assert_no_event (&k[1]);

  /* Saved while they hold them: a section each (and the bus's), with the guest's RAM and its
   * drivers as they are now. */
  sections = g_variant_ref_sink (hv_devices_save (devices));
  g_assert_cmpuint (g_variant_n_children (sections), ==, 3);
  ram = g_memdup2 (test_guest (&m, 0, TEST_RAM_SIZE), TEST_RAM_SIZE);
  memcpy (saved, k, sizeof k);

  hv_devices_quiesce (devices, FALSE);
  test_machine_run_io (&m);
  assert_event (&k[0], EV_KEY, KEY_C, 1);
  assert_event (&k[0], EV_SYN, SYN_REPORT, 0);
  assert_event (&k[1], EV_KEY, KEY_D, 1);
  assert_event (&k[1], EV_SYN, SYN_REPORT, 0);

  /* A new machine from the sections, its RAM and drivers as they were at the save: each keyboard is
   * back with its own LEDs and the events it held. */
  devices2 = machine_with_keyboards (&m2, pio2);
  memcpy (test_guest (&m2, 0, TEST_RAM_SIZE), ram, TEST_RAM_SIZE);
  memcpy (k, saved, sizeof k);
  g_assert_true (hv_devices_load (devices2, sections, &error));
  g_assert_no_error (error);
  for (unsigned i = 0; i < 2; i++)
    {
      g_autofree char *id = g_strdup_printf ("keyboard%u", i);
      k[i].input = hv_devices_lookup (devices2, id)->impl;
      k[i].d.machine = &m2;
      g_assert_true (hv_virtio_input_driver_ready (k[i].input));
    }
  g_assert_cmphex (hv_virtio_input_get_leds (k[0].input), ==, 0);
  g_assert_cmphex (hv_virtio_input_get_leds (k[1].input), ==, 1u << LED_CAPSL);
  /* The held reports go out once the drivers notify. */
  give_buffers (&k[0], 2);
  give_buffers (&k[1], 2);
  assert_event (&k[0], EV_KEY, KEY_C, 1);
  assert_event (&k[0], EV_SYN, SYN_REPORT, 0);
  assert_no_event (&k[0]);
  assert_event (&k[1], EV_KEY, KEY_D, 1);
  assert_event (&k[1], EV_SYN, SYN_REPORT, 0);
  assert_no_event (&k[1]);

  machine_with_keyboards_clear (&m2, devices2);
  machine_with_keyboards_clear (&m, devices);
  hv_bus_free (pio);
  hv_bus_free (pio2);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add ("/virtio-input/keyboard-config", Fixture, NULL, keyboard_setup, test_keyboard_config,
              fixture_teardown);
  g_test_add ("/virtio-input/tablet-config", Fixture, NULL, tablet_setup, test_tablet_config,
              fixture_teardown);
  g_test_add ("/virtio-input/events", Fixture, NULL, keyboard_setup, test_events, fixture_teardown);
  g_test_add ("/virtio-input/overflow", Fixture, NULL, keyboard_setup, test_overflow, fixture_teardown);
  g_test_add ("/virtio-input/long-report", Fixture, NULL, keyboard_setup, test_long_report, fixture_teardown);
  g_test_add ("/virtio-input/leds", Fixture, NULL, keyboard_setup, test_leds, fixture_teardown);
  g_test_add ("/virtio-input/bad-buffers", Fixture, NULL, keyboard_setup, test_bad_buffers, fixture_teardown);
  g_test_add ("/virtio-input/save-load", Fixture, NULL, keyboard_setup, test_save_load, fixture_teardown);
  g_test_add_func ("/virtio-input/two-keyboards", test_two_keyboards);
  return g_test_run ();
}
