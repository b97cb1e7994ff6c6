/* virtio-serial.h — virtio-console with VIRTIO_CONSOLE_F_MULTIPORT (virtio 1.2 §5.3) on the virtio-pci
 * transport: named ports ("org.qemu.guest_agent.0"), each joined on the host to one fd (a socket end),
 * announced to the driver on the control queues, their data carried both ways without ever blocking the
 * I/O thread or a vCPU. */
#pragma once

#include "platform.h"
#include "devices/devices.h"

typedef struct _HvVirtioSerial HvVirtioSerial;

/* The most named ports a device has (ids 1 to HV_VIRTIO_SERIAL_PORTS_MAX; id 0, the console, is not
 * offered), the longest name, and what each direction holds per port before it pushes back. */
#define HV_VIRTIO_SERIAL_PORTS_MAX 8
#define HV_VIRTIO_SERIAL_NAME_MAX  64
#define HV_VIRTIO_SERIAL_BUFFER    (64 * 1024)

/* A device with @n_ports ports named @names, port i's host side @fds[i] (a socket end the device makes
 * non-blocking and does not own; -1: no host connection).  The host side counts as connected while the
 * fd is open: end of file or a hang-up is told to the guest as PORT_OPEN 0.
 *
 * Host to guest: bytes read from the fd wait (up to HV_VIRTIO_SERIAL_BUFFER) until a program in the guest
 * opened the port (PORT_OPEN 1) and for the guest's receive buffers; while that is full the fd is not read, so the host's writer sees its socket fill up.
 * Guest to host: one buffer at a time is copied out of the guest (its bytes past HV_VIRTIO_SERIAL_BUFFER
 * are dropped) and written as the fd takes it; meanwhile the guest's further buffers stay in its queue,
 * which pushes back on the guest's writer. */
HvVirtioSerial *hv_virtio_serial_new (const HvPlatform *platform, HvPci *pci, const char *const *names,
                                      const int *fds, unsigned n_ports, GError **error);
/* Once the VM no longer runs. */
void hv_virtio_serial_free (HvVirtioSerial *serial);

/* Whether the guest opened port @name (PORT_OPEN 1 since its driver last reset).  Any thread. */
gboolean hv_virtio_serial_guest_connected (HvVirtioSerial *serial, const char *name);

/* Queue work and fd reads stop while paused (see hv_virtio_set_paused).  Any thread. */
void hv_virtio_serial_set_paused (HvVirtioSerial *serial, gboolean paused);

/* Saved state: the transport, each port's flags and the bytes waiting in either direction. */
GVariant *hv_virtio_serial_save_state (HvVirtioSerial *serial);
gboolean hv_virtio_serial_load_state (HvVirtioSerial *serial, GVariant *state, GError **error);
