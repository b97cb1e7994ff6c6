/* fuzz-virtio-serial.c — the virtio-serial device (hypervisor/devices/virtio-serial.c) driven by a
 * hostile guest on the unit tests' machine (tests/virtio-driver.c), one port on a socketpair whose
 * host end the fuzzer writes, drains and closes.
 *
 * Before the first op the driver is up as virtio_console brings it up: MULTIPORT, the six queues
 * (port 0, control, port 1; 16 entries each, queue i at RAM 1 MiB + i * 0x200), DRIVER_OK.  Buffers
 * may go anywhere in the window.
 *
 * Input: a sequence of ops, the op byte's low 3 bits the kind:
 *   0 guest RAM poke at 1 MiB + u16 % 64 KiB (u8 length % 33, bytes)   1 notify queue u8 % 6
 *   2 run the I/O thread's work                                         3 BAR 4 write (u16 offset,
 *   u8 width, u64 value)                                                4 BAR 4 read (u16, u8)
 *   5 quiesce, save the device, load it back, carry on                  6 config space write (u8
 *   register, u8 width, u32 value)                                      7 host: u8 % 3: 0 write u8
 *   bytes of the input, 1 read what came, 2 hang up
 */
#include "fuzz-input.h"
#include "virtio-driver.h"
#include "devices/virtio-serial.h"

#include <sys/socket.h>
#include <unistd.h>

#define MAX_OPS  256
#define WINDOW   0x100000
#define SLOT     1
#define N_QUEUES 6

static void
save_and_load (TestMachine *m, HvVirtioSerial *serial)
{
  g_autoptr (GVariant) state = NULL;
  GError *error = NULL;

  test_machine_run_io (m);
  hv_virtio_serial_set_paused (serial, TRUE);
  state = g_variant_ref_sink (hv_virtio_serial_save_state (serial));
  if (!hv_virtio_serial_load_state (serial, state, &error))
    fuzz_fail ("the device refused its own saved state: %s", error->message);
  hv_virtio_serial_set_paused (serial, FALSE);
}

/* Queue @index's doorbell, its offset read as a driver would, kept inside the notify region. */
static void
notify (TestDriver *d, unsigned index)
{
  uint64_t offset;

  test_common_write (d, 0x16, 2, index);
  offset = test_common_read (d, 0x1e, 2) * (uint64_t) d->notify_multiplier;
  if (offset + 2 <= d->notify_length)
    test_mmio_write (d->machine, d->notify + offset, 2, index);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  const char *names[] = { "org.qemu.guest_agent.0" };
  TestMachine m;
  TestDriver d;
  TestQueue q;
  HvVirtioSerial *serial;
  FuzzInput in;
  GError *error = NULL;
  int host[2];

  fuzz_setup_logging (TRUE);

  test_machine_init (&m);
  if (socketpair (AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, host) < 0)
    fuzz_fail ("no socketpair");
  serial = hv_virtio_serial_new (&m.tp.platform, m.pci, names, host, 1, &error);
  if (serial == NULL)
    fuzz_fail ("cannot create the device: %s", error->message);

  test_driver_probe (&d, &m, SLOT);
  if (!test_driver_negotiate (&d, HV_VIRTIO_FEATURE (HV_VIRTIO_F_VERSION_1) | HV_VIRTIO_FEATURE (1)))
    fuzz_fail ("the device refused its own features");
  for (unsigned i = 0; i < N_QUEUES; i++)
    test_queue_setup (&q, &d, i, 16, WINDOW + 0x200ull * i, HV_VIRTIO_MSI_NO_VECTOR);
  test_driver_set_status (&d, test_driver_status (&d) | HV_VIRTIO_STATUS_DRIVER_OK);

  fuzz_input_init (&in, data, size);
  for (unsigned n = 0; n < MAX_OPS && !fuzz_input_done (&in); n++)
    {
      uint8_t op = fuzz_take_u8 (&in);

      switch (op & 0x7)
        {
        case 0:
          fuzz_write_window (&in, test_guest (&m, WINDOW, FUZZ_WINDOW_SIZE));
          break;
        case 1:
          notify (&d, fuzz_take_u8 (&in) % N_QUEUES);
          break;
        case 2:
          test_machine_run_io (&m);
          break;
        case 3:
        case 4:
          {
            uint16_t offset = fuzz_take_u16 (&in) & 0x3fff;
            unsigned len = fuzz_access_len (fuzz_take_u8 (&in), 8);
            uint64_t base = d.common & ~0x3fffull;

            if ((op & 0x7) == 3)
              test_mmio_write (&m, base + offset, len, fuzz_take_u64 (&in));
            else
              test_mmio_read (&m, base + offset, len);
            break;
          }
        case 5:
          save_and_load (&m, serial);
          break;
        case 6:
          {
            uint8_t reg = fuzz_take_u8 (&in);
            unsigned len = fuzz_access_len (fuzz_take_u8 (&in), 4);
            test_config_write (&m, SLOT, reg, len, fuzz_take_u32 (&in));
            break;
          }
        case 7:
          {
            uint8_t kind = fuzz_take_u8 (&in) % 3;
            uint8_t buffer[256];

            if (kind == 0 && host[1] >= 0)
              {
                size_t len = fuzz_take_u8 (&in);

                len = MIN (len, fuzz_input_left (&in)); /* MIN evaluates its arguments twice */
                if (write (host[1], in.data + in.at, len) < 0)
                  {
                    /* full: the device pushes back */
                  }
                in.at += len;
              }
            else if (kind == 1 && host[1] >= 0)
              while (read (host[1], buffer, sizeof buffer) > 0)
                ;
            else if (kind == 2 && host[1] >= 0)
              {
                close (host[1]);
                host[1] = -1;
              }
            break;
          }
        default:
          break;
        }
    }
  test_machine_run_io (&m);
  if (g_getenv ("FUZZ_VERBOSE"))
    fprintf (stderr, "device status 0x%02x\n", test_driver_status (&d));

  hv_virtio_serial_free (serial);
  test_machine_clear (&m);
  close (host[0]);
  if (host[1] >= 0)
    close (host[1]);
  return 0;
}
