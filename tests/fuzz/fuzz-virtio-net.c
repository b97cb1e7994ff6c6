/* fuzz-virtio-net.c — the virtio-net NIC (hypervisor/devices/virtio-net.c) driven by a hostile guest on
 * the unit tests' machine (tests/virtio-driver.c), its network libslirp's NAT in restricted mode with no
 * port forwards (nothing opens a socket), and hostile frames from the network (anything a bridge could
 * carry: the DHCP ACK parser sees them all).
 *
 * The NIC has two queue pairs, so that the control queue is there (the device takes several pairs with
 * the NAT, its frames all going to the first; specs refuse that).  Before the first op the driver is
 * up: every feature the device offers accepted (MQ and the control queue among them), five queues of 16
 * entries at RAM 1 MiB + 0x1000 * i (receive 0, transmit 0, receive 1, transmit 1, control;
 * descriptors, avail ring + 0x100, used ring + 0x128), DRIVER_OK.  Buffers may go anywhere in the
 * 64 KiB window.
 *
 * Input: a sequence of ops, the op byte's low 3 bits the kind:
 *   0 guest RAM poke at 1 MiB + u16 % 64 KiB (u8 length % 33, bytes)   1 notify queue (op bits 3-5) % 5
 *   2 run the I/O thread's work                                          3 BAR 4 write (u16 offset,
 *   u8 width, u64 value)                                                 4 a frame from the network
 *   (u16 length % 2048, then bytes; the rest of the frame zeros)         5 pause, save, load, resume
 *   6 config space write (u8 register, u8 width, u32 value)              7 the link down (op bit 3) or up
 */
#include "fuzz-input.h"
#include "virtio-driver.h"
#include "devices/virtio-net.h"

#define MAX_OPS       256
#define WINDOW        0x100000
#define WINDOW_SIZE   FUZZ_WINDOW_SIZE
#define SLOT          1
#define NOTIFY_OFFSET 0x3000 /* in BAR 4 (virtio/pci.c) */
#define NOTIFY_STRIDE 4
#define PAIRS         2
#define QUEUES        (2 * PAIRS + 1)

static void
save_and_load (TestMachine *m, HvVirtioNet *net)
{
  g_autoptr (GVariant) state = NULL;
  GError *error = NULL;

  test_machine_run_io (m);
  hv_virtio_net_set_paused (net, TRUE);
  state = g_variant_ref_sink (hv_virtio_net_save_state (net));
  if (!hv_virtio_net_load_state (net, state, HV_VIRTIO_NET_STATE_VERSION, &error))
    fuzz_fail ("the NIC refused its own saved state: %s", error->message);
  hv_virtio_net_set_paused (net, FALSE);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  HvVirtioNetConfig config = { .name = "net0", .restricted = TRUE, .tftp_dir = -1, .queues = PAIRS };
  static uint8_t frame[2048];
  TestMachine m;
  TestDriver d;
  TestQueue queues[QUEUES];
  HvVirtioNet *net;
  FuzzInput in;
  GError *error = NULL;

  fuzz_setup_logging (TRUE);

  test_machine_init (&m);
  memcpy (config.mac, (const uint8_t[]){ 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 }, 6);
  net = hv_virtio_net_new (&m.tp.platform, m.io_context, m.pci, &config, &error);
  if (net == NULL)
    fuzz_fail ("cannot create the NIC: %s", error->message);

  test_driver_probe (&d, &m, SLOT);
  if (!test_driver_negotiate (&d, test_driver_device_features (&d)))
    fuzz_fail ("the NIC refused its own features");
  for (unsigned i = 0; i < QUEUES; i++)
    test_queue_setup (&queues[i], &d, i, 16, WINDOW + 0x1000 * i, HV_VIRTIO_MSI_NO_VECTOR);
  test_driver_set_status (&d, test_driver_status (&d) | HV_VIRTIO_STATUS_DRIVER_OK);

  fuzz_input_init (&in, data, size);
  for (unsigned n = 0; n < MAX_OPS && !fuzz_input_done (&in); n++)
    {
      uint8_t op = fuzz_take_u8 (&in);

      switch (op & 0x7)
        {
        case 0:
          fuzz_write_window (&in, test_guest (&m, WINDOW, WINDOW_SIZE));
          break;
        case 1:
          {
            unsigned queue = ((op >> 3) & 7) % QUEUES;
            test_mmio_write (&m, test_bar64_address (&m, SLOT, 0x20) + NOTIFY_OFFSET + queue * NOTIFY_STRIDE,
                             2, queue);
            break;
          }
        case 2:
          test_machine_run_io (&m);
          break;
        case 3:
          {
            uint16_t offset = fuzz_take_u16 (&in) & 0x3fff;
            unsigned len = fuzz_access_len (fuzz_take_u8 (&in), 8);
            test_mmio_write (&m, test_bar64_address (&m, SLOT, 0x20) + offset, len, fuzz_take_u64 (&in));
            break;
          }
        case 4:
          {
            size_t len = fuzz_take_u16 (&in) % sizeof frame, n_bytes;
            const uint8_t *bytes = fuzz_take_bytes (&in, len, &n_bytes);

            memset (frame, 0, len);
            memcpy (frame, bytes, n_bytes);
            hv_virtio_net_receive (net, frame, len);
            break;
          }
        case 5:
          save_and_load (&m, net);
          break;
        case 6:
          {
            uint8_t reg = fuzz_take_u8 (&in);
            unsigned len = fuzz_access_len (fuzz_take_u8 (&in), 4);
            test_config_write (&m, SLOT, reg, len, fuzz_take_u32 (&in));
            break;
          }
        case 7:
          hv_virtio_net_set_link (net, !((op >> 3) & 1));
          break;
        }
    }
  test_machine_run_io (&m);
  if (g_getenv ("FUZZ_VERBOSE"))
    {
      HvVirtioNetStats stats;

      hv_virtio_net_get_stats (net, &stats);
      fprintf (stderr,
               "tx %" G_GUINT64_FORMAT " dropped %" G_GUINT64_FORMAT " filtered %" G_GUINT64_FORMAT
               ", rx %" G_GUINT64_FORMAT " dropped %" G_GUINT64_FORMAT ", device status 0x%02x\n",
               stats.tx_frames, stats.tx_dropped, stats.tx_filtered, stats.rx_frames, stats.rx_dropped,
               test_driver_status (&d));
    }
  hv_virtio_net_free (net);
  test_machine_clear (&m);
  return 0;
}
