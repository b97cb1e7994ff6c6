/* fuzz-machine.h — the devices of a VM with a display, made by the device model as pc.c makes them
 * (hypervisor/device.c: pci0, serial0, kbc0, rtc0, pm0, display0, keyboard0, tablet0), on the unit
 * tests' machine (tests/virtio-driver.c) with a port bus of its own: what the devices and state
 * fuzz targets drive. */
#pragma once

#include "device.h"
#include "virtio-driver.h"

typedef struct
{
  TestMachine m; /* guest RAM, the MMIO bus, the I/O context (its own PCI bus stays empty) */
  HvBus *pio;
  HvDevices *devices;
} FuzzMachine;

void fuzz_machine_init (FuzzMachine *fm);
void fuzz_machine_clear (FuzzMachine *fm);
/* The device model of the first device of @kind ("serial", "bochs-display", ...). */
void *fuzz_machine_get (FuzzMachine *fm, const char *kind);
