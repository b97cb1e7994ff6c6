/* test-virtio-serial.c — the virtio-serial device as Linux's virtio_console driver sees it: ports
 * announced and named on the control queues, data both ways between a port and its host socket, the
 * host's hang-up told to the guest, bounds when the guest takes nothing, drivers that break the protocol,
 * and saved state. */
#include "virtio-driver.h"
#include "devices/virtio-serial.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define AGENT_PORT "org.qemu.guest_agent.0"

#define QUEUE_BASE(i) (0x100000ull + 0x10000ull * (i))
#define CONTROL_BUFS  0x200000 /* control receive buffers, 128 bytes each */
#define CONTROL_MSGS  0x210000 /* control messages the driver sends, 8 bytes each */
#define RX_BUFS       0x220000 /* port 1's receive buffers, 4 KiB each */
#define TX_BUFS       0x300000 /* port 1's transmit buffers */

#define F_MULTIPORT 1

typedef struct
{
  TestMachine m;
  HvVirtioSerial *serial;
  int host[2]; /* host[0]: the device's end; host[1]: the test's (the host program's) */
  TestDriver d;
  TestQueue queues[6]; /* port 0 rx/tx, control rx/tx, port 1 rx/tx */
  unsigned n_control_bufs;
  unsigned n_messages;
  unsigned n_rx;
} Fixture;

static void
fixture_setup (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  const char *names[] = { AGENT_PORT };

  test_machine_init (&f->m);
  g_assert_cmpint (socketpair (AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, f->host), ==, 0);
  f->serial = hv_virtio_serial_new (&f->m.tp.platform, f->m.pci, names, f->host, 1, &error);
  g_assert_no_error (error);
  test_driver_probe (&f->d, &f->m, 1);
  f->n_control_bufs = f->n_messages = f->n_rx = 0;
}

static void
fixture_teardown (Fixture *f, gconstpointer data)
{
  hv_virtio_serial_free (f->serial);
  test_machine_clear (&f->m);
  close (f->host[0]);
  if (f->host[1] >= 0)
    close (f->host[1]);
}

static gboolean
needs_reset (Fixture *f)
{
  return (test_driver_status (&f->d) & HV_VIRTIO_STATUS_NEEDS_RESET) != 0;
}

static void
give_control_buffers (Fixture *f, unsigned count, uint32_t len)
{
  for (unsigned i = 0; i < count; i++)
    test_queue_add (&f->queues[2], CONTROL_BUFS + 128ull * (f->n_control_bufs++ % 64), len, TRUE);
  test_queue_kick (&f->queues[2], 2);
  test_machine_run_io (&f->m);
}

static void
send_control (Fixture *f, uint32_t id, uint16_t event, uint16_t value, uint32_t len)
{
  uint64_t addr = CONTROL_MSGS + 8ull * (f->n_messages++ % 64);
  uint8_t *p = test_guest (&f->m, addr, 8);

  p[0] = id & 0xff, p[1] = id >> 8 & 0xff, p[2] = id >> 16 & 0xff, p[3] = id >> 24;
  p[4] = event & 0xff, p[5] = event >> 8, p[6] = value & 0xff, p[7] = value >> 8;
  test_queue_add (&f->queues[3], addr, len, FALSE);
  test_queue_kick (&f->queues[3], 2);
  test_machine_run_io (&f->m);
}

/* The next control message the device sent: its id, event and value, and the name after them. */
static gboolean
next_control (Fixture *f, uint32_t *id, uint16_t *event, uint16_t *value, char **text)
{
  uint32_t head, len;
  uint64_t addr;
  const uint8_t *p;

  if (!test_queue_get_used (&f->queues[2], &head, &len))
    return FALSE;
  g_assert_cmpuint (len, >=, 8);
  memcpy (&addr, test_guest (&f->m, f->queues[2].desc + 16ull * head, 8), 8);
  p = test_guest (&f->m, GUINT64_FROM_LE (addr), len);
  *id = p[0] | p[1] << 8 | p[2] << 16 | (uint32_t) p[3] << 24;
  *event = (uint16_t) (p[4] | p[5] << 8);
  *value = (uint16_t) (p[6] | p[7] << 8);
  if (text)
    *text = g_strndup ((const char *) p + 8, len - 8);
  return TRUE;
}

static void
assert_control (Fixture *f, uint32_t id, uint16_t event, uint16_t value)
{
  uint32_t i;
  uint16_t e, v;

  g_assert_true (next_control (f, &i, &e, &v, NULL));
  g_assert_cmpuint (i, ==, id);
  g_assert_cmpuint (e, ==, event);
  g_assert_cmpuint (v, ==, value);
}

/* virtcons_probe(): MULTIPORT, the queues, DRIVER_OK; then DEVICE_READY. */
static void
bring_up (Fixture *f)
{
  g_assert_cmphex (test_mmio_read (&f->m, f->d.device + 4, 4), ==, 2); /* max_nr_ports */
  g_assert_true (test_driver_negotiate (&f->d, HV_VIRTIO_FEATURE (HV_VIRTIO_F_VERSION_1)
                                                   | HV_VIRTIO_FEATURE (F_MULTIPORT)));
  for (unsigned i = 0; i < 6; i++)
    test_queue_setup (&f->queues[i], &f->d, i, 64, QUEUE_BASE (i), HV_VIRTIO_MSI_NO_VECTOR);
  test_driver_set_status (&f->d, test_driver_status (&f->d) | HV_VIRTIO_STATUS_DRIVER_OK);
  give_control_buffers (f, 8, 128);
  send_control (f, 0, 0 /* DEVICE_READY */, 1, 8);
  assert_control (f, 1, 1 /* DEVICE_ADD */, 0);
}

/* What add_port() and the port's open do: PORT_READY, the name and the host's state back, PORT_OPEN. */
static void
open_port (Fixture *f)
{
  g_autofree char *name = NULL;
  uint32_t id;
  uint16_t event, value;

  send_control (f, 1, 3 /* PORT_READY */, 1, 8);
  g_assert_true (next_control (f, &id, &event, &value, &name));
  g_assert_cmpuint (id, ==, 1);
  g_assert_cmpuint (event, ==, 7 /* PORT_NAME */);
  g_assert_cmpstr (name, ==, AGENT_PORT);
  assert_control (f, 1, 6 /* PORT_OPEN */, 1);
  g_assert_false (hv_virtio_serial_guest_connected (f->serial, AGENT_PORT));
  send_control (f, 1, 6 /* PORT_OPEN */, 1, 8);
  g_assert_true (hv_virtio_serial_guest_connected (f->serial, AGENT_PORT));
}

static void
give_rx (Fixture *f, unsigned count, uint32_t len)
{
  for (unsigned i = 0; i < count; i++)
    test_queue_add (&f->queues[4], RX_BUFS + 4096ull * (f->n_rx++ % 64), len, TRUE);
  test_queue_kick (&f->queues[4], 2);
  test_machine_run_io (&f->m);
}

/* What the guest received in its next receive buffer. */
static char *
next_rx (Fixture *f)
{
  uint32_t head, len;
  uint64_t addr;

  if (!test_queue_get_used (&f->queues[4], &head, &len))
    return NULL;
  memcpy (&addr, test_guest (&f->m, f->queues[4].desc + 16ull * head, 8), 8);
  return g_strndup ((const char *) test_guest (&f->m, GUINT64_FROM_LE (addr), len), len);
}

static void
guest_send (Fixture *f, const char *text)
{
  gsize len = strlen (text);

  memcpy (test_guest (&f->m, TX_BUFS, len), text, len);
  test_queue_add (&f->queues[5], TX_BUFS, (uint32_t) len, FALSE);
  test_queue_kick (&f->queues[5], 2);
  test_machine_run_io (&f->m);
}

static char *
host_read (Fixture *f)
{
  char buffer[4096];
  ssize_t n = read (f->host[1], buffer, sizeof buffer);

  return n > 0 ? g_strndup (buffer, n) : NULL;
}

static void
test_ports (Fixture *f, gconstpointer data)
{
  g_autofree char *first = NULL;
  g_autofree char *second = NULL;
  g_autofree char *to_host = NULL;
  uint32_t id;
  uint16_t event, value;

  bring_up (f);
  open_port (f);

  /* Host to guest: what the host writes before the guest has buffers waits for them. */
  g_assert_cmpint (write (f->host[1], "{\"execute\":\"guest-ping\"}\n", 26), ==, 26);
  test_machine_run_io (&f->m);
  g_assert_null (next_rx (f));
  give_rx (f, 1, 10);
  first = next_rx (f);
  g_assert_cmpstr (first, ==, "{\"execute\"");
  give_rx (f, 1, 4096);
  second = next_rx (f);
  g_assert_cmpstr (second, ==, ":\"guest-ping\"}\n");

  /* Guest to host. */
  guest_send (f, "{\"return\": {}}\n");
  to_host = host_read (f);
  g_assert_cmpstr (to_host, ==, "{\"return\": {}}\n");

  /* The host hangs up: the guest hears of it. */
  close (f->host[1]);
  f->host[1] = -1;
  test_machine_run_io (&f->m);
  assert_control (f, 1, 6 /* PORT_OPEN */, 0);
  g_assert_false (next_control (f, &id, &event, &value, NULL));
  /* What the guest sends now goes nowhere, and nothing breaks. */
  guest_send (f, "lost");
  g_assert_false (needs_reset (f));
}

/* Host bytes wait until a program in the guest opens the port: Linux drops what reaches a closed one. */
static void
test_waits_for_open (Fixture *f, gconstpointer data)
{
  g_autofree char *got = NULL;

  bring_up (f);
  send_control (f, 1, 3 /* PORT_READY */, 1, 8);
  g_assert_cmpint (write (f->host[1], "early", 5), ==, 5);
  test_machine_run_io (&f->m);
  give_rx (f, 1, 64);
  g_assert_null (next_rx (f));
  send_control (f, 1, 6 /* PORT_OPEN */, 1, 8);
  got = next_rx (f);
  g_assert_cmpstr (got, ==, "early");
}

/* The guest takes nothing: the device holds a bounded amount and the host's socket fills up. */
static void
test_no_reader (Fixture *f, gconstpointer data)
{
  g_autofree char *chunk = g_malloc0 (65536);
  gsize written = 0;
  g_autofree char *got = NULL;

  bring_up (f);
  open_port (f);
  for (unsigned i = 0; i < 1000; i++)
    {
      ssize_t n = write (f->host[1], chunk, 65536);

      test_machine_run_io (&f->m);
      if (n < 0)
        {
          g_assert_cmpint (errno, ==, EAGAIN);
          break;
        }
      written += n;
    }
  g_assert_cmpuint (written, <, 1000 * 65536ull);
  /* Then the guest reads again, and the data flows. */
  give_rx (f, 1, 4096);
  got = next_rx (f);
  g_assert_nonnull (got);
  g_assert_false (needs_reset (f));
}

/* Without a driver nothing is read beyond the bound either, and freeing the device is fine. */
static void
test_absent_driver (Fixture *f, gconstpointer data)
{
  g_autofree char *chunk = g_malloc0 (65536);
  gsize written = 0;

  for (unsigned i = 0; i < 100; i++)
    {
      ssize_t n = write (f->host[1], chunk, 65536);

      test_machine_run_io (&f->m);
      if (n < 0)
        break;
      written += n;
    }
  g_assert_cmpuint (written, <, 100 * 65536ull);
  g_assert_false (hv_virtio_serial_guest_connected (f->serial, AGENT_PORT));
}

static void
test_bad_control (Fixture *f, gconstpointer data)
{
  uint32_t id;
  uint16_t event, value;

  bring_up (f);
  /* Unknown ports, events only the device sends, a second DEVICE_READY, short messages: ignored. */
  send_control (f, 7, 3, 1, 8);
  send_control (f, 0xffffffff, 6, 1, 8);
  send_control (f, 1, 6, 1, 8); /* open before ready */
  send_control (f, 1, 7, 1, 8);
  send_control (f, 1, 0xffff, 1, 8);
  send_control (f, 0, 0, 1, 8);
  send_control (f, 1, 3, 1, 3);
  g_assert_false (next_control (f, &id, &event, &value, NULL));
  g_assert_false (hv_virtio_serial_guest_connected (f->serial, AGENT_PORT));
  g_assert_false (needs_reset (f));
  open_port (f);

  /* A control buffer too small for the port's name: the driver must reset the device.  The port's
   * readiness goes back and forth until the driver's buffers run out. */
  for (unsigned i = 0; i < 4; i++)
    {
      send_control (f, 1, 3, 0, 8);
      send_control (f, 1, 3, 1, 8);
    }
  while (next_control (f, &id, &event, &value, NULL))
    ;
  give_control_buffers (f, 2, 12);
  g_assert_true (needs_reset (f));
}

static void
test_bad_rx (Fixture *f, gconstpointer data)
{
  bring_up (f);
  open_port (f);
  g_assert_cmpint (write (f->host[1], "x", 1), ==, 1);
  test_machine_run_io (&f->m);
  /* A receive buffer the device may only read. */
  test_queue_add (&f->queues[4], RX_BUFS, 64, FALSE);
  test_queue_kick (&f->queues[4], 2);
  test_machine_run_io (&f->m);
  g_assert_true (needs_reset (f));
  /* After a reset it all works again. */
  bring_up (f);
  open_port (f);
  give_rx (f, 1, 64);
  g_autofree char *got = next_rx (f);
  g_assert_cmpstr (got, ==, "x");
}

/* A driver without MULTIPORT gets no ports, and port 0 swallows what it sends. */
static void
test_single_port (Fixture *f, gconstpointer data)
{
  g_assert_true (test_driver_negotiate (&f->d, HV_VIRTIO_FEATURE (HV_VIRTIO_F_VERSION_1)));
  for (unsigned i = 0; i < 2; i++)
    test_queue_setup (&f->queues[i], &f->d, i, 64, QUEUE_BASE (i), HV_VIRTIO_MSI_NO_VECTOR);
  test_driver_set_status (&f->d, test_driver_status (&f->d) | HV_VIRTIO_STATUS_DRIVER_OK);
  memcpy (test_guest (&f->m, TX_BUFS, 5), "hello", 5);
  test_queue_add (&f->queues[1], TX_BUFS, 5, FALSE);
  test_queue_kick (&f->queues[1], 2);
  test_machine_run_io (&f->m);
  uint32_t head, len;
  g_assert_true (test_queue_get_used (&f->queues[1], &head, &len));
  g_assert_null (host_read (f));
  g_assert_false (needs_reset (f));
}

static void
test_save_load (Fixture *f, gconstpointer data)
{
  g_autoptr (GVariant) state = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *got = NULL;

  bring_up (f);
  open_port (f);
  g_assert_cmpint (write (f->host[1], "saved", 5), ==, 5);
  test_machine_run_io (&f->m);
  hv_virtio_serial_set_paused (f->serial, TRUE);
  state = g_variant_ref_sink (hv_virtio_serial_save_state (f->serial));
  g_assert_true (hv_virtio_serial_load_state (f->serial, state, &error));
  g_assert_no_error (error);
  hv_virtio_serial_set_paused (f->serial, FALSE);
  g_assert_true (hv_virtio_serial_guest_connected (f->serial, AGENT_PORT));
  give_rx (f, 1, 64);
  got = next_rx (f);
  g_assert_cmpstr (got, ==, "saved");

  /* A state with other ports is refused whole. */
  {
    g_autoptr (GVariant) bad = NULL;
    GVariantDict dict;

    g_variant_dict_init (&dict, state);
    g_variant_dict_insert_value (&dict, "ports",
                                 g_variant_new_array (G_VARIANT_TYPE ("(sbbbayay)"), NULL, 0));
    bad = g_variant_ref_sink (g_variant_dict_end (&dict));
    g_assert_false (hv_virtio_serial_load_state (f->serial, bad, &error));
    g_assert_error (error, HV_ERROR, HV_ERROR_BAD_IMAGE);
  }
}

static void
test_bad_names (void)
{
  TestMachine m;
  g_autoptr (GError) error = NULL;
  const char *twice[] = { "a", "a" };
  const int fds[] = { -1, -1 };

  test_machine_init (&m);
  g_assert_null (hv_virtio_serial_new (&m.tp.platform, m.pci, twice, fds, 2, &error));
  g_assert_error (error, HV_ERROR, HV_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);
  g_assert_null (hv_virtio_serial_new (&m.tp.platform, m.pci, twice, fds, 0, &error));
  g_assert_error (error, HV_ERROR, HV_ERROR_INVALID_ARGUMENT);
  test_machine_clear (&m);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add ("/virtio-serial/ports", Fixture, NULL, fixture_setup, test_ports, fixture_teardown);
  g_test_add ("/virtio-serial/waits-for-open", Fixture, NULL, fixture_setup, test_waits_for_open,
              fixture_teardown);
  g_test_add ("/virtio-serial/no-reader", Fixture, NULL, fixture_setup, test_no_reader, fixture_teardown);
  g_test_add ("/virtio-serial/absent-driver", Fixture, NULL, fixture_setup, test_absent_driver,
              fixture_teardown);
  g_test_add ("/virtio-serial/bad-control", Fixture, NULL, fixture_setup, test_bad_control, fixture_teardown);
  g_test_add ("/virtio-serial/bad-rx", Fixture, NULL, fixture_setup, test_bad_rx, fixture_teardown);
  g_test_add ("/virtio-serial/single-port", Fixture, NULL, fixture_setup, test_single_port, fixture_teardown);
  g_test_add ("/virtio-serial/save-load", Fixture, NULL, fixture_setup, test_save_load, fixture_teardown);
  g_test_add_func ("/virtio-serial/bad-names", test_bad_names);
  return g_test_run ();
}
