/* kinds.c — the device kinds a machine can ask for: one line per kind below, each kind defined in its
 * device's own file as hv_<name>_kind. */
#include "device.h"

#define HV_DEVICE_KIND_LIST(KIND)                                                                            \
  KIND (pci_host)                                                                                            \
  KIND (serial)                                                                                              \
  KIND (i8042)                                                                                               \
  KIND (rtc)                                                                                                 \
  KIND (acpi_pm)                                                                                             \
  KIND (fw_cfg)                                                                                              \
  KIND (bochs_display)                                                                                       \
  KIND (virtio_keyboard)                                                                                     \
  KIND (virtio_tablet)                                                                                       \
  KIND (virtio_blk)                                                                                          \
  KIND (virtio_net)                                                                                          \
  KIND (sata_disk)                                                                                           \
  KIND (cdrom)                                                                                               \
  KIND (virtio_serial)

#define DECLARE_KIND(name) extern const HvDeviceKind hv_##name##_kind;
#define LIST_KIND(name)    &hv_##name##_kind,

HV_DEVICE_KIND_LIST (DECLARE_KIND)

const HvDeviceKind *const hv_device_kinds[] = { HV_DEVICE_KIND_LIST (LIST_KIND) NULL };
