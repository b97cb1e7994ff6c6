/* fuzz-virtio-pci.c — the modern virtio-pci transport (hypervisor/virtio/pci.c, msix.c,
 * pci-state.c) and the virtio-input keyboard behind it, driven by a hostile guest:
 * configuration-space and BAR accesses of any offset and width, guest RAM pokes, I/O thread runs
 * (queue notifications), input events from the host and saved-state round trips, on the unit tests'
 * machine (tests/virtio-driver.c).
 *
 * Slot 1 holds a small echo device that answers each chain with its bytes reversed and asserts that
 * the transport only hands it configuration accesses inside its configuration; slot 2 holds the
 * keyboard.
 *
 * Input: a sequence of ops; the op byte's low 4 bits are the kind, bit 4 picks the slot:
 *   0 config write (u8 register, u8 width, u32 value)     1 config read (u8 register, u8 width)
 *   2 BAR 4 write (u16 offset, u8 width, u64 value)       3 BAR 4 read (u16 offset, u8 width)
 *   4 BAR 1 (MSI-X) write (u16 offset, u8 width, u32)     5 BAR 1 read (u16 offset, u8 width)
 *   6 guest RAM poke at 1 MiB + u16 (u8 length, bytes)    7 run the I/O thread's work
 *   8 save the bus and the device and load them back      9 a key event (u16 code, u8 value) and
 * SYN A BAR's address is read from configuration space at each access, so BAR moves are followed.
 */
#include "fuzz-input.h"
#include "virtio-driver.h"
#include "devices/virtio-input.h"

#define MAX_OPS       512
#define POKE_WINDOW   0x100000
#define ECHO_SLOT     1
#define KEYBOARD_SLOT 2

typedef struct
{
  HvVirtio *vdev;
  HvVirtioDeviceInfo info;
  uint8_t config[8];
} EchoDevice;

static void
echo_config_read (void *opaque, unsigned offset, uint8_t *data, unsigned len)
{
  EchoDevice *echo = opaque;

  g_assert (offset + len <= sizeof echo->config);
  memcpy (data, echo->config + offset, len);
}

static void
echo_config_write (void *opaque, unsigned offset, const uint8_t *data, unsigned len)
{
  EchoDevice *echo = opaque;

  g_assert (offset + len <= sizeof echo->config);
  memcpy (echo->config + offset, data, len);
}

static void
echo_queue_notify (void *opaque, HvVirtqueue *vq)
{
  EchoDevice *echo = opaque;
  HvVirtqueueElement *elem;
  gboolean pushed = FALSE;

  while ((elem = hv_virtio_pop (echo->vdev, vq)) != NULL)
    {
      uint8_t in[256], out[256];
      gsize n = hv_virtqueue_element_read (elem, 0, in, sizeof in);

      for (gsize i = 0; i < n; i++)
        out[i] = in[n - 1 - i];
      hv_virtqueue_push (vq, elem, (uint32_t) hv_virtqueue_element_write (elem, 0, out, n));
      hv_virtqueue_element_free (elem);
      pushed = TRUE;
    }
  if (pushed)
    hv_virtio_notify (echo->vdev, vq);
}

static uint64_t
bar_address (TestMachine *m, unsigned slot, unsigned bar)
{
  uint32_t low = test_config_read (m, slot, 0x10 + 4 * bar, 4);
  uint64_t address = low & ~0xfu;

  if ((low & 0x7) == 0x4)
    address |= (uint64_t) test_config_read (m, slot, 0x10 + 4 * (bar + 1), 4) << 32;
  return address;
}

static void
save_and_load (TestMachine *m, EchoDevice *echo, HvVirtioInput *keyboard, gboolean pick_keyboard)
{
  g_autoptr (GVariant) pci_state = g_variant_ref_sink (hv_pci_save_state (m->pci));
  g_autoptr (GVariant) state = NULL;
  GError *error = NULL;

  if (!hv_pci_load_state (m->pci, pci_state, &error))
    fuzz_fail ("the bus refused its own saved state: %s", error->message);
  if (pick_keyboard)
    {
      state = g_variant_ref_sink (hv_virtio_input_save_state (keyboard));
      if (!hv_virtio_input_load_state (keyboard, state, &error))
        fuzz_fail ("the keyboard refused its own saved state: %s", error->message);
      return;
    }
  hv_virtio_lock (echo->vdev);
  state = g_variant_ref_sink (hv_virtio_save_state (echo->vdev));
  if (!hv_virtio_load_state (echo->vdev, state, &error))
    fuzz_fail ("the transport refused its own saved state: %s", error->message);
  hv_virtio_unlock (echo->vdev);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  TestMachine m;
  EchoDevice echo = { 0 };
  HvVirtioInput *keyboard;
  FuzzInput in;
  GError *error = NULL;

  fuzz_setup_logging (TRUE);

  test_machine_init (&m);
  echo.info = (HvVirtioDeviceInfo){
    .name = "echo",
    .device_id = 0x3f,
    .pci_class = 0xff0000,
    .features = 3,
    .n_queues = 2,
    .queue_size = 8,
    .config_size = sizeof echo.config,
    .config_read = echo_config_read,
    .config_write = echo_config_write,
    .queue_notify = echo_queue_notify,
  };
  echo.vdev = hv_virtio_pci_new (&m.tp.platform, m.pci, &echo.info, &echo, &error);
  keyboard = hv_virtio_input_new_keyboard (&m.tp.platform, m.pci, &error);
  if (echo.vdev == NULL || keyboard == NULL)
    fuzz_fail ("cannot create the devices: %s", error->message);

  fuzz_input_init (&in, data, size);
  for (unsigned n = 0; n < MAX_OPS && !fuzz_input_done (&in); n++)
    {
      uint8_t op = fuzz_take_u8 (&in);
      unsigned slot = (op & 0x10) ? KEYBOARD_SLOT : ECHO_SLOT;

      switch (op & 0xf)
        {
        case 0:
          {
            uint8_t reg = fuzz_take_u8 (&in);
            unsigned len = fuzz_access_len (fuzz_take_u8 (&in), 4);
            test_config_write (&m, slot, reg, len, fuzz_take_u32 (&in));
            break;
          }
        case 1:
          {
            uint8_t reg = fuzz_take_u8 (&in);
            test_config_read (&m, slot, reg, fuzz_access_len (fuzz_take_u8 (&in), 4));
            break;
          }
        case 2:
        case 3:
        case 4:
        case 5:
          {
            gboolean regs = (op & 0xf) <= 3;
            gboolean is_write = (op & 1) == 0;
            uint64_t base = bar_address (&m, slot, regs ? 4 : 1);
            uint16_t offset = fuzz_take_u16 (&in) & (regs ? 0x3fff : 0xfff);
            unsigned len = fuzz_access_len (fuzz_take_u8 (&in), regs ? 8 : 4);

            if (is_write)
              test_mmio_write (&m, base + offset, len, fuzz_take_u64 (&in));
            else
              test_mmio_read (&m, base + offset, len);
            break;
          }
        case 6:
          {
            uint16_t offset = fuzz_take_u16 (&in);
            size_t n_bytes;
            const uint8_t *bytes = fuzz_take_bytes (&in, fuzz_take_u8 (&in) % 17, &n_bytes);
            memcpy (test_guest (&m, POKE_WINDOW + offset, n_bytes), bytes, n_bytes);
            break;
          }
        case 7:
          test_machine_run_io (&m);
          break;
        case 8:
          save_and_load (&m, &echo, keyboard, slot == KEYBOARD_SLOT);
          break;
        case 9:
          {
            uint16_t code = fuzz_take_u16 (&in);
            hv_virtio_input_send (keyboard, EV_KEY, code, fuzz_take_u8 (&in) % 3);
            hv_virtio_input_send (keyboard, EV_SYN, SYN_REPORT, 0);
            break;
          }
        default:
          break;
        }
    }
  test_machine_run_io (&m);

  hv_virtio_input_free (keyboard);
  hv_virtio_free (echo.vdev);
  test_machine_clear (&m);
  return 0;
}
