/* fuzz-devices.c — the register paths of the platform devices (hypervisor/devices/: 16550A serial,
 * i8042, CMOS RTC, ACPI PM block, PCI host bridge, Bochs display) as a hostile guest drives them:
 * port and MMIO accesses of any offset, width and value through the machine's buses
 * (hypervisor/bus.c), mixed with what the host does to them (serial input, scancodes, the power
 * button, Ctrl+Alt+Del, saved state round trips, the display server reading the screen).
 *
 * Input: a sequence of ops.  Op byte % 16:
 *   0..13  a port access: device (op / 2: serial, i8042 data, i8042 command, RTC, ACPI PM, PCI
 *          configuration, Bochs DISPI), write when odd; then u8 offset, u8 width, u32 value
 * (writes) 14     an MMIO access to the display's BARs: u8 flags (bit 0 write, bit 1 BAR 2 rather
 * than the framebuffer, bits 2-3 width), u32 offset, u64 value (writes) 15     a host event: u8
 * kind (0 serial input, 1 scancodes: u8 length and bytes; 2 power button, 3 Ctrl+Alt+Del, 4 save
 * every device and load it back, 5 the display server reads the screen) */
#include "fuzz-input.h"
#include "fuzz-machine.h"
#include "bochs-display.h"
#include "layout.h"

#define MAX_OPS 1024

typedef struct
{
  uint64_t base;
  unsigned len;
} PortRange;

static const PortRange ports[] = {
  { HV_PORT_COM1, 8 },
  { HV_PORT_I8042_DATA, 1 },
  { HV_PORT_I8042_CMD, 1 },
  { HV_PORT_RTC, 2 },
  { HV_PORT_ACPI_PM, HV_PORT_ACPI_PM_LEN },
  { HV_PORT_PCI_CONF, 8 },
  { HV_PORT_BOCHS_DISPI, HV_BOCHS_DISPI_PORTS },
};

/* What a saved VM does: every device saved by the device model, its sections serialized as in a
 * state file, and loaded back. */
static void
save_and_load (FuzzMachine *fm)
{
  GError *error = NULL;
  g_autoptr (GVariant) saved = g_variant_ref_sink (hv_devices_save (fm->devices));
  g_autoptr (GBytes) bytes = g_variant_get_data_as_bytes (saved);
  g_autoptr (GVariant) sections = g_variant_ref_sink (
      g_variant_new_from_bytes (g_variant_get_type (saved), bytes, FALSE));

  if (!hv_devices_load (fm->devices, sections, &error))
    fuzz_fail ("a device refused its own saved state: %s", error->message);
}

/* What the SPICE glue does: the mode, its pixels and the dirty rectangles, which must lie inside
 * it. */
static void
read_screen (FuzzMachine *fm)
{
  HvDisplay *display = hv_bochs_display_get_display (fuzz_machine_get (fm, "bochs-display"));
  HvDisplayMode mode;
  HvRect rects[8];
  unsigned n;

  hv_display_get_mode (display, &mode);
  if (mode.enabled)
    {
      volatile const uint8_t *last = mode.pixels + (uint64_t) mode.stride * (mode.height - 1)
                                     + 4ull * mode.width - 1;
      g_assert (mode.width > 0 && mode.height > 0 && mode.stride >= 4ull * mode.width);
      (void) *mode.pixels;
      (void) *last;
    }
  n = hv_display_collect_dirty (display, rects, G_N_ELEMENTS (rects));
  g_assert (n <= G_N_ELEMENTS (rects));
  for (unsigned i = 0; i < n && mode.enabled; i++)
    g_assert ((uint64_t) rects[i].x + rects[i].width <= mode.width
              && (uint64_t) rects[i].y + rects[i].height <= mode.height);
}

static void
host_event (FuzzMachine *fm, FuzzInput *in)
{
  switch (fuzz_take_u8 (in) % 6)
    {
    case 0:
      {
        size_t n;
        const uint8_t *bytes = fuzz_take_bytes (in, fuzz_take_u8 (in) % 33, &n);
        hv_serial_receive (fuzz_machine_get (fm, "serial"), bytes, n);
        break;
      }
    case 1:
      {
        size_t n;
        const uint8_t *codes = fuzz_take_bytes (in, fuzz_take_u8 (in) % 33, &n);
        hv_i8042_inject_scancodes (fuzz_machine_get (fm, "i8042"), codes, n);
        break;
      }
    case 2:
      hv_acpi_pm_press_power_button (fuzz_machine_get (fm, "acpi-pm"));
      break;
    case 3:
      hv_i8042_send_ctrl_alt_del (fuzz_machine_get (fm, "i8042"));
      break;
    case 4:
      save_and_load (fm);
      break;
    case 5:
      read_screen (fm);
      break;
    }
}

static void
mmio_access (FuzzMachine *fm, FuzzInput *in)
{
  uint8_t flags = fuzz_take_u8 (in);
  gboolean is_write = flags & 1;
  unsigned bar = (flags & 2) ? 2 : 0;
  unsigned len = fuzz_access_len (flags >> 2, 8);
  uint64_t size = bar == 2 ? HV_BOCHS_MMIO_SIZE : HV_BOCHS_VRAM_SIZE;
  uint64_t addr = hv_pci_bar_address (
                      hv_bochs_display_get_pci_device (fuzz_machine_get (fm, "bochs-display")), bar)
                  + (fuzz_take_u32 (in) & (size - 1));
  uint64_t value = is_write ? fuzz_take_u64 (in) : 0;
  uint8_t bytes[8];

  for (unsigned i = 0; i < 8; i++)
    bytes[i] = (uint8_t) (value >> (8 * i));
  hv_bus_dispatch (fm->m.mmio, addr, bytes, len, is_write);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  FuzzMachine fm;
  FuzzInput in;

  fuzz_setup_logging (TRUE);

  fuzz_machine_init (&fm);
  fuzz_input_init (&in, data, size);
  for (unsigned n = 0; n < MAX_OPS && !fuzz_input_done (&in); n++)
    {
      uint8_t op = fuzz_take_u8 (&in) % 16;

      if (op < 14)
        {
          const PortRange *range = &ports[op / 2];
          gboolean is_write = op & 1;
          uint64_t port = range->base + fuzz_take_u8 (&in) % range->len;
          unsigned len = fuzz_access_len (fuzz_take_u8 (&in), 4);
          uint32_t value = is_write ? fuzz_take_u32 (&in) : 0;
          uint8_t bytes[4];

          for (unsigned i = 0; i < 4; i++)
            bytes[i] = (uint8_t) (value >> (8 * i));
          hv_bus_dispatch (fm.pio, port, bytes, len, is_write);
        }
      else if (op == 14)
        mmio_access (&fm, &in);
      else
        host_event (&fm, &in);
    }
  read_screen (&fm);
  fuzz_machine_clear (&fm);
  return 0;
}
