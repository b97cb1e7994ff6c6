/* device.h — the device model: a machine's devices are instances of kinds, each with an id ("serial0",
 * "keyboard1"), made from a list of requested devices, realized in a fixed order, quiesced, saved and
 * loaded one section each, and torn down in reverse (device.c).
 *
 * A kind is one HvDeviceKind in the device's own file plus one line in devices/kinds.c; the machine
 * never names a kind's functions.  Devices get their resources from the core: ISA ports and interrupt
 * lines are claimed through hv_device_claim_pio() and hv_device_claim_gsi() (which refuse conflicts and
 * name both owners), PCI slots come from the host bridge (hv_pci_add_device) and MSI vectors from the
 * platform (HvPlatform.add_msi_route).
 *
 * Reset: a machine resets by being built again from its spec (the worker's Reset and a guest's reboot
 * make a fresh HvVm, as Firecracker does): every device starts from realize, so no kind needs a reset
 * hook of its own, and a device cannot carry state across a reset by mistake.  Building a machine takes
 * milliseconds; guest memory is new too, as on real hardware after a cold reset.  Reverting to a
 * checkpoint (hv_vm_revert) is the exception, for speed: it loads saved state into the live devices,
 * which is why load() below promises to replace all of a device's present. */
#pragma once

#include "platform.h"
#include "spec.h"
#include "devices/devices.h"

typedef struct _HvDevice HvDevice;
typedef struct _HvDevices HvDevices;

/* When a kind is realized, relative to the others (then in the order instances were requested), and
 * torn down in reverse: buses before what sits on them.  Sections load in the same order, so the
 * bus has put BARs back where they were before the devices behind them load. */
typedef enum
{
  HV_DEVICE_ORDER_BUS = 0,      /* the PCI host bridge */
  HV_DEVICE_ORDER_PLATFORM = 1, /* ISA devices at fixed ports */
  HV_DEVICE_ORDER_PCI = 2,      /* devices on the PCI bus: realized only when there is one */
} HvDeviceOrder;

typedef struct
{
  /* Its name, id prefix, instance limit and options, as machine specs know them (spec-kinds.c). */
  const HvDeviceKindInfo *info;
  HvDeviceOrder order;
  /* The version of the section save() writes.  load() gets sections of this version or older (a
   * field added later is then missing and takes its default); newer ones are refused before. */
  unsigned state_version;

  /* Makes the device model and sets device->impl; on failure the error says why (the core prefixes
   * the id).  Required. */
  gboolean (*realize) (HvDevice *device, GError **error);
  /* Begins serving its host side (a serial port's input) once the machine is built and, for a
   * restore, loaded.  Optional. */
  gboolean (*start) (HvDevice *device, GError **error);
  /* Frees device->impl, once the vCPUs are stopped; also after a realize that failed having set
   * device->impl.  Required. */
  void (*teardown) (HvDevice *device);
  /* @quiesced TRUE: take no new work from the guest or the host and finish what is in flight, so
   * that guest memory and the device's state agree (the VM is paused, and may be saved); FALSE:
   * carry on, delivering what waited.  Optional: a device whose handlers only run on vCPU threads
   * is quiet once they are parked. */
  void (*quiesce) (HvDevice *device, gboolean quiesced);
  /* A new floating a{sv}, and checking one back (all of it or none, HV_ERROR_BAD_IMAGE naming the
   * field).  Both optional: a kind without state saves no section.
   *
   * load() runs on a freshly realized device (a restore) and on a live one that has run and is
   * quiesced (hv_vm_revert, which returns a paused machine in place to a checkpoint).  Either way,
   * afterwards nothing of the device's present may show to the guest: every guest-visible register
   * and buffer is the section's (or its default), what the device holds on the host side for the
   * guest is dropped or replaced (received packets, queued input events, console bytes in flight,
   * AHCI commands taken but not finished), its timers restart from the loaded state, and its
   * interrupt lines are taken as low (the core lowers every ISA line before loading; MSI-X routes
   * are marked stale) and raised again where the section says an interrupt is pending.  Guest
   * memory is already the saved one when load() runs. */
  GVariant *(*save) (HvDevice *device);
  gboolean (*load) (HvDevice *device, GVariant *state, unsigned version, GError **error);
  /* For a kind with a boot class (HvDeviceKindInfo.boot_class): the realized device's path as the
   * firmware's "bootorder" file names it (OpenFirmware style, as QEMU writes it: "/pci@i0cf8/scsi@4"),
   * newly allocated.  Optional: without it the device keeps its place in the firmware's own order. */
  char *(*boot_path) (HvDevice *device);
  /* The disk image the device serves (a disk's; NULL for an empty drive).  Optional: NULL for kinds
   * without one.  Used for the disks' internal snapshots (hv_vm_snapshot_disks). */
  struct _HvBlock *(*block) (HvDevice *device);
} HvDeviceKind;

/* The built-in kinds, NULL-terminated (devices/kinds.c). */
extern const HvDeviceKind *const hv_device_kinds[];

/* What the machine offers devices as they are realized. */
typedef struct
{
  const HvPlatform *platform;
  HvBus *pio;
  uint64_t ram_size;
} HvDeviceHost;

struct _HvDevice
{
  const HvDeviceKind *kind;
  char *id;
  unsigned index; /* among the instances of its kind, in the order they were requested */
  /* The options the machine spec gave (a{sv}, never NULL); an "h" here is an fd of this process,
   * which the VM keeps open until the device is torn down (hv_device_get_fd_option). */
  GVariant *options;
  HvDevices *devices; /* the set it belongs to */
  void *impl;         /* the device model (HvSerial, ...), set by realize */
  gboolean realized;
  gboolean quiesced;
};

/* A set of requested devices with @kinds (NULL-terminated; NULL means hv_device_kinds). */
HvDevices *hv_devices_new (const HvDeviceKind *const *kinds);
/* Tears down every realized device, last realized first. */
void hv_devices_free (HvDevices *devices);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (HvDevices, hv_devices_free)

/* Requests an instance of the kind named @kind with @id (NULL: the kind's prefix and the next free
 * number).  Fails with HV_ERROR_INVALID_ARGUMENT for an unknown kind, a taken or malformed id, or
 * more instances than the kind allows; not once the set is realized (HV_ERROR_INVALID_STATE). */
HvDevice *hv_devices_add (HvDevices *devices, const char *kind, const char *id, GError **error);
/* Withdraws a request (before realizing). */
gboolean hv_devices_remove (HvDevices *devices, const char *id);
HvDevice *hv_devices_lookup (HvDevices *devices, const char *id);
/* The realized devices with a disk image (HvDeviceKind.block), in realize order: HvDevice pointers. */
GPtrArray *hv_devices_with_blocks (HvDevices *devices);
/* The first instance of @kind (in request order), or NULL. */
HvDevice *hv_devices_find_kind (HvDevices *devices, const char *kind);
/* The device model of the first realized instance of @kind, or NULL. */
void *hv_devices_get_impl (HvDevices *devices, const char *kind);
/* Every device in realize order. */
unsigned hv_devices_get_count (HvDevices *devices);
HvDevice *hv_devices_get (HvDevices *devices, unsigned i);

/* Realizes every device in order.  On failure the error names the device ("serial1 (serial): ...");
 * the devices realized so far stay so, for hv_devices_free(). */
gboolean hv_devices_realize (HvDevices *devices, const HvDeviceHost *host, GError **error);
/* Starts every realized device's host side; the error names the device. */
gboolean hv_devices_start (HvDevices *devices, GError **error);
/* Quiesces (or lets go of) every realized device. */
void hv_devices_quiesce (HvDevices *devices, gboolean quiesced);

/* Saved state: a{sa{sv}}, one section per device with state, keyed by id: {"kind": s, "version": u,
 * "state": a{sv}}. */
GVariant *hv_devices_save (HvDevices *devices);
/* Loads @sections into the realized devices, in realize order.  Refused (HV_ERROR_BAD_IMAGE, naming
 * the device): a section for a device this set lacks or of another kind, a section newer than the
 * kind's version, a device with state and no section. */
gboolean hv_devices_load (HvDevices *devices, GVariant *sections, GError **error);

/* Replaces @device's options (a{sv}, sunk), before realizing. */
void hv_device_set_options (HvDevice *device, GVariant *options);
/* The fds of option @name ("ah"), in order, as a copy (g_free), or NULL (and 0).  A copy: the array a
 * serialised option gives out lives only as long as the child value looked up for it. */
int *hv_device_get_fds_option (HvDevice *device, const char *name, unsigned *n_fds);
/* The fd option @name of @device, or -1. */
int hv_device_get_fd_option (HvDevice *device, const char *name);

/* For realize functions. */
const HvPlatform *hv_device_get_platform (HvDevice *device);
uint64_t hv_device_get_ram_size (HvDevice *device);
/* The PCI bus (the first "pci-host"), realized before any PCI device, which can count on it. */
HvPci *hv_device_get_pci (HvDevice *device);
/* Claims port range [@base, @base + @len) of the machine's port bus for @handler, under the device's
 * id. */
gboolean hv_device_claim_pio (HvDevice *device, uint64_t base, uint64_t len, HvIoHandler handler,
                              void *opaque, GError **error);
/* Claims ISA interrupt line @gsi for the device alone: an edge-triggered ISA line cannot be shared.
 * Fails naming the device that has it. */
gboolean hv_device_claim_gsi (HvDevice *device, unsigned gsi, GError **error);
