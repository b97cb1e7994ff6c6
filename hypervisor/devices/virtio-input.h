/* virtio-input.h — virtio-input keyboard and tablet (virtio 1.2 §5.8) on the virtio-pci transport:
 * events from the host go to the guest's event queue; the guest's LED changes come back on the status
 * queue.  Events use the Linux input ABI (<linux/input-event-codes.h>: EV_KEY, KEY_*, BTN_*, ...). */
#pragma once

#include "platform.h"
#include "devices/devices.h"

#include <linux/input-event-codes.h>

typedef struct _HvVirtioInput HvVirtioInput;

/* The absolute range of the tablet's ABS_X and ABS_Y. */
#define HV_VIRTIO_TABLET_ABS_MAX 32767

/* A keyboard ("virtio-keyboard" on the PCI bus): announces KEY_ESC (1) to 255, EV_REP, and the NumLock,
 * CapsLock and ScrollLock LEDs. */
HvVirtioInput *hv_virtio_input_new_keyboard (const HvPlatform *platform, HvPci *pci, GError **error);
/* A tablet ("virtio-tablet"): ABS_X and ABS_Y from 0 to HV_VIRTIO_TABLET_ABS_MAX, BTN_LEFT, BTN_RIGHT,
 * BTN_MIDDLE and REL_WHEEL. */
HvVirtioInput *hv_virtio_input_new_tablet (const HvPlatform *platform, HvPci *pci, GError **error);
/* Once the VM no longer runs (see hv_virtio_free). */
void hv_virtio_input_free (HvVirtioInput *input);

/* Whether the guest's driver has set DRIVER_OK (and the device does not need a reset): events sent now
 * reach it.  Any thread. */
gboolean hv_virtio_input_driver_ready (HvVirtioInput *input);

/* Queues one event for the guest.  Events are held until the caller sends EV_SYN/SYN_REPORT, and then
 * the whole report goes to the guest as soon as it has buffers for all of it (reports are never split).
 * Returns FALSE, dropping the event, when the driver is not ready; reports that find the device's queue
 * of 1024 waiting events full are dropped whole.  Any thread. */
gboolean hv_virtio_input_send (HvVirtioInput *input, uint16_t type, uint16_t code, int32_t value);

/* While the VM is paused (and saved), events wait in the device instead of going into guest memory; they
 * are delivered once it is unpaused.  Call with TRUE after the vCPUs have stopped, FALSE before they run
 * again.  Any thread. */
void hv_virtio_input_set_paused (HvVirtioInput *input, gboolean paused);

/* The LEDs the guest last set on the keyboard: bit n is LED code n (LED_NUML 0, LED_CAPSL 1, LED_SCROLLL
 * 2).  Any thread. */
uint32_t hv_virtio_input_get_leds (HvVirtioInput *input);

/* Saved state: the transport, the configuration selection, the LEDs and the events not yet delivered. */
GVariant *hv_virtio_input_save_state (HvVirtioInput *input);
gboolean hv_virtio_input_load_state (HvVirtioInput *input, GVariant *state, GError **error);
