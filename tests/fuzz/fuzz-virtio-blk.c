/* fuzz-virtio-blk.c — the virtio-blk device (hypervisor/devices/virtio-blk.c) and the block layer
 * under it (hypervisor/block/), driven by a hostile guest on the unit tests' machine
 * (tests/virtio-driver.c) with a 64 KiB raw image in a memfd.
 *
 * Before the first op the driver is up as Linux brings it up: every feature the device offers
 * accepted, the request queue (16 entries) with its descriptors at RAM 1 MiB, the avail ring at
 * 1 MiB + 0x100 and the used ring at 1 MiB + 0x128, DRIVER_OK.  Buffers may go anywhere in the window.
 *
 * Input: a sequence of ops, the op byte's low 3 bits the kind:
 *   0 guest RAM poke at 1 MiB + u16 % 64 KiB (u8 length % 33, bytes)   1 notify the request queue
 *   2 run the I/O thread's work and wait for the disk to finish          3 BAR 4 write (u16 offset,
 *   u8 width, u64 value)                                                 4 BAR 4 read (u16, u8)
 *   5 quiesce, save the device, load it back, carry on                   6 config space write (u8
 *   register, u8 width, u32 value)
 */
#include "fuzz-input.h"
#include "virtio-driver.h"
#include "block/block.h"
#include "devices/virtio-blk.h"

#include <sys/mman.h>
#include <unistd.h>

#define MAX_OPS       256
#define WINDOW        0x100000
#define WINDOW_SIZE   FUZZ_WINDOW_SIZE
#define IMAGE_SIZE    (64 * 1024)
#define SLOT          1
#define NOTIFY_OFFSET 0x3000 /* in BAR 4 (virtio/pci.c) */

static void
settle (TestMachine *m, HvVirtioBlk *blk)
{
  test_machine_run_io (m);
  hv_virtio_blk_quiesce (blk, TRUE);
  hv_virtio_blk_quiesce (blk, FALSE);
  test_machine_run_io (m);
}

static void
save_and_load (TestMachine *m, HvVirtioBlk *blk)
{
  g_autoptr (GVariant) state = NULL;
  GError *error = NULL;

  test_machine_run_io (m);
  hv_virtio_blk_quiesce (blk, TRUE);
  state = g_variant_ref_sink (hv_virtio_blk_save_state (blk));
  if (!hv_virtio_blk_load_state (blk, state, &error))
    fuzz_fail ("the disk refused its own saved state: %s", error->message);
  hv_virtio_blk_quiesce (blk, FALSE);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  HvBlockOptions options = { .cache = HV_BLOCK_CACHE_WRITEBACK };
  TestMachine m;
  TestDriver d;
  TestQueue q;
  HvVirtioBlk *blk;
  HvBlock *block;
  FuzzInput in;
  GError *error = NULL;
  int fd;

  fuzz_setup_logging (TRUE);

  test_machine_init (&m);
  fd = memfd_create ("fuzz-disk", MFD_CLOEXEC);
  if (fd < 0 || ftruncate (fd, IMAGE_SIZE) < 0)
    fuzz_fail ("cannot make the image");
  block = hv_block_open (fd, &options, NULL, NULL, &error);
  if (block == NULL)
    fuzz_fail ("cannot open the image: %s", error->message);
  blk = hv_virtio_blk_new (&m.tp.platform, m.pci, "disk0", block, "fuzz", 1, &error);
  if (blk == NULL)
    fuzz_fail ("cannot create the disk: %s", error->message);

  test_driver_probe (&d, &m, SLOT);
  if (!test_driver_negotiate (&d, test_driver_device_features (&d)))
    fuzz_fail ("the disk refused its own features");
  test_queue_setup (&q, &d, 0, 16, WINDOW, HV_VIRTIO_MSI_NO_VECTOR);
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
          /* Queue 0's doorbell at the start of the notify region (not test_queue_kick, which asserts
           * on what the fuzzer may have changed). */
          test_mmio_write (&m, test_bar64_address (&m, SLOT, 0x20) + NOTIFY_OFFSET, 2, 0);
          break;
        case 2:
          settle (&m, blk);
          break;
        case 3:
        case 4:
          {
            uint64_t base = test_bar64_address (&m, SLOT, 0x20);
            uint16_t offset = fuzz_take_u16 (&in) & 0x3fff;
            unsigned len = fuzz_access_len (fuzz_take_u8 (&in), 8);

            if ((op & 0x7) == 3)
              test_mmio_write (&m, base + offset, len, fuzz_take_u64 (&in));
            else
              test_mmio_read (&m, base + offset, len);
            break;
          }
        case 5:
          save_and_load (&m, blk);
          break;
        case 6:
          {
            uint8_t reg = fuzz_take_u8 (&in);
            unsigned len = fuzz_access_len (fuzz_take_u8 (&in), 4);
            test_config_write (&m, SLOT, reg, len, fuzz_take_u32 (&in));
            break;
          }
        default:
          break;
        }
    }
  settle (&m, blk);
  if (g_getenv ("FUZZ_VERBOSE"))
    {
      uint16_t used_idx;

      memcpy (&used_idx, test_guest (&m, q.used + 2, 2), 2);
      fprintf (stderr, "requests answered: %u, device status 0x%02x\n", GUINT16_FROM_LE (used_idx),
               test_driver_status (&d));
    }

  hv_virtio_blk_free (blk);
  test_machine_clear (&m);
  return 0;
}
