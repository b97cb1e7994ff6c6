/* fuzz-ahci.c — the AHCI controller (hypervisor/devices/ahci.c), its SATA disk and ATAPI CD-ROM and the
 * raw block layer under them, driven by a hostile guest on the unit tests' machine
 * (tests/virtio-driver.c): a 64 KiB raw disk in a memfd on port 0, a 32-sector disc on port 1.
 *
 * Before the first op the driver is up as Linux brings it up: memory decoding and bus mastering on,
 * GHC.AE, and on ports 0 and 1 the command list at 1 MiB + 0x1000 * port, the received-FIS area
 * 0x400 after it, FRE and ST.  Command tables and buffers may go anywhere in the window (or, through
 * register writes, anywhere at all).
 *
 * Input: a sequence of ops, the op byte's low 3 bits the kind:
 *   0 guest RAM poke at 1 MiB + u16 % 64 KiB (u8 length % 33, bytes)   1 PxCI write (u8 port % 6, u32)
 *   2 run the I/O thread's work and wait for the drives to finish      3 ABAR write (u16 offset, u8
 *   width, u32 value)                                                  4 ABAR read (u16, u8)
 *   5 quiesce, save every port, load them back, carry on               6 config space write (u8
 *   register, u8 width, u32 value)                                     7 the host changes the disc
 *   (u8: 0 takes it out, 1 takes it out forced, else puts a new one in)
 */
#include "fuzz-input.h"
#include "virtio-driver.h"
#include "block/block.h"
#include "devices/ahci.h"

#include <sys/mman.h>
#include <unistd.h>

#define MAX_OPS     256
#define WINDOW      0x100000
#define WINDOW_SIZE FUZZ_WINDOW_SIZE
#define IMAGE_SIZE  (64 * 1024)
#define DISC_SIZE   (32 * 2048)
#define SLOT        1

static HvBlock *
new_block (size_t size, gboolean read_only)
{
  HvBlockOptions options = { .cache = HV_BLOCK_CACHE_WRITEBACK, .read_only = read_only };
  GError *error = NULL;
  HvBlock *block;
  int fd = memfd_create ("fuzz-ahci", MFD_CLOEXEC);

  if (fd < 0 || ftruncate (fd, (off_t) size) < 0)
    fuzz_fail ("cannot make an image");
  block = hv_block_open (fd, &options, NULL, NULL, &error);
  if (block == NULL)
    fuzz_fail ("cannot open an image: %s", error->message);
  return block;
}

static uint64_t
abar (TestMachine *m)
{
  return test_config_read (m, SLOT, 0x24, 4) & ~0xfu;
}

static void
settle (TestMachine *m, HvAhci *ahci)
{
  test_machine_run_io (m);
  hv_ahci_quiesce (ahci, TRUE);
  hv_ahci_quiesce (ahci, FALSE);
  test_machine_run_io (m);
}

static void
save_and_load (TestMachine *m, HvAhci *ahci)
{
  GVariant *states[2];
  GError *error = NULL;

  test_machine_run_io (m);
  hv_ahci_quiesce (ahci, TRUE);
  for (unsigned i = 0; i < 2; i++)
    states[i] = g_variant_ref_sink (hv_ahci_save_port (ahci, i, i == 0));
  for (unsigned i = 0; i < 2; i++)
    {
      if (!hv_ahci_load_port (ahci, i, states[i], &error))
        fuzz_fail ("port %u refused its own saved state: %s", i, error->message);
      g_variant_unref (states[i]);
    }
  hv_ahci_quiesce (ahci, FALSE);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  TestMachine m;
  HvAhci *ahci;
  FuzzInput in;
  GError *error = NULL;
  uint64_t base;

  fuzz_setup_logging (TRUE);

  test_machine_init (&m);
  ahci = hv_ahci_new (&m.tp.platform, m.pci, "ahci", &error);
  if (ahci == NULL || hv_ahci_add_disk (ahci, "sata0", new_block (IMAGE_SIZE, FALSE), NULL, &error) != 0
      || hv_ahci_add_cdrom (ahci, "cdrom0", new_block (DISC_SIZE, TRUE), &error) != 1)
    fuzz_fail ("cannot make the controller: %s", error->message);

  test_config_write (&m, SLOT, 0x04, 2, 0x0006);
  base = abar (&m);
  test_mmio_write (&m, base + 0x04, 4, 0x80000000u);
  for (unsigned port = 0; port < 2; port++)
    {
      uint64_t regs = base + 0x100 + 0x80 * port;

      test_mmio_write (&m, regs + 0x00, 4, WINDOW + 0x1000 * port);
      test_mmio_write (&m, regs + 0x08, 4, WINDOW + 0x1000 * port + 0x400);
      test_mmio_write (&m, regs + 0x18, 4, 0x11);
    }

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
            unsigned port = fuzz_take_u8 (&in) % 6;
            test_mmio_write (&m, abar (&m) + 0x100 + 0x80 * port + 0x38, 4, fuzz_take_u32 (&in));
            break;
          }
        case 2:
          settle (&m, ahci);
          break;
        case 3:
        case 4:
          {
            uint16_t offset = fuzz_take_u16 (&in) & 0xfff;
            unsigned len = fuzz_access_len (fuzz_take_u8 (&in), 4);

            if ((op & 0x7) == 3)
              test_mmio_write (&m, abar (&m) + offset, len, fuzz_take_u32 (&in));
            else
              test_mmio_read (&m, abar (&m) + offset, len);
            break;
          }
        case 5:
          save_and_load (&m, ahci);
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
            uint8_t how = fuzz_take_u8 (&in);

            test_machine_run_io (&m);
            if (!hv_ahci_change_medium (ahci, 1, how < 2 ? NULL : new_block (DISC_SIZE, TRUE), how == 1,
                                        &error))
              g_clear_error (&error);
            break;
          }
        default:
          break;
        }
    }
  settle (&m, ahci);
  hv_ahci_free (ahci);
  test_machine_clear (&m);
  return 0;
}
