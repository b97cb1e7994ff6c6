/* fuzz-machine.c — the display machine the devices and state fuzz targets share (fuzz-machine.h).
 */
#include "fuzz-machine.h"
#include "fuzz-input.h"

/* The ids pc.c gives them, which saved states key their sections on. */
static const struct
{
  const char *kind;
  const char *id;
} machine_devices[] = {
  { "pci-host", "pci0" },
  { "serial", "serial0" },
  { "i8042", "kbc0" },
  { "rtc", "rtc0" },
  { "acpi-pm", "pm0" },
  { "bochs-display", "display0" },
  { "virtio-keyboard", "keyboard0" },
  { "virtio-tablet", "tablet0" },
};

void
fuzz_machine_init (FuzzMachine *fm)
{
  GError *error = NULL;
  HvDeviceHost host;

  test_machine_init (&fm->m);
  fm->pio = hv_bus_new ("PIO");
  fm->m.tp.platform.pio = fm->pio;
  fm->devices = hv_devices_new (NULL);
  for (gsize i = 0; i < G_N_ELEMENTS (machine_devices); i++)
    if (hv_devices_add (fm->devices, machine_devices[i].kind, machine_devices[i].id, &error) == NULL)
      fuzz_fail ("cannot ask for %s: %s", machine_devices[i].id, error->message);
  host = (HvDeviceHost){ .platform = &fm->m.tp.platform, .pio = fm->pio, .ram_size = TEST_RAM_SIZE };
  if (!hv_devices_realize (fm->devices, &host, &error))
    fuzz_fail ("cannot make the devices: %s", error->message);
}

void
fuzz_machine_clear (FuzzMachine *fm)
{
  hv_devices_free (fm->devices);
  hv_bus_free (fm->pio);
  test_machine_clear (&fm->m);
}

void *
fuzz_machine_get (FuzzMachine *fm, const char *kind)
{
  return hv_devices_get_impl (fm->devices, kind);
}
