/* ahci-drives.c — the "sata-disk" and "cdrom" kinds: drives on one AHCI controller, made with the first
 * of them (each takes the next port, in the order the spec lists them) and freed with the last; their
 * images opened from the spec's fds; the controller's saved state in the first drive's section. */
#include "ahci-private.h"
#include "device.h"
#include "disk-image.h"
#include "state.h"

#include <unistd.h>

/* ---- The "sata-disk" and "cdrom" kinds: drives on one controller, made with the first ---- */

static HvAhci *
find_controller (HvDevice *device)
{
  HvDevices *devices = device->devices;

  for (unsigned i = 0; i < hv_devices_get_count (devices); i++)
    {
      HvDevice *other = hv_devices_get (devices, i);
      HvAhciDrive *drive = other->impl;

      if (other != device && other->realized && drive
          && (other->kind->info == &hv_kind_info_sata_disk || other->kind->info == &hv_kind_info_cdrom))
        return drive->ahci;
    }
  return NULL;
}

static gboolean
drive_realize (HvDevice *device, gboolean cdrom, GError **error)
{
  HvAhci *ahci = find_controller (device);
  int fd = hv_device_get_fd_option (device, "file");
  HvBlock *block = NULL;
  const char *serial = NULL;
  HvAhciDrive *drive;
  int port;

  if (fd < 0 && !cdrom)
    {
      g_set_error (error, HV_ERROR, HV_ERROR_INVALID_ARGUMENT, "no disk image was given");
      return FALSE;
    }
  if (fd >= 0
      && (block = hv_disk_image_open (device, fd, cdrom, FALSE, cdrom ? "disc image" : "disk image", error))
             == NULL)
    return FALSE;
  if (ahci == NULL)
    {
      HvPlatform platform = *hv_device_get_platform (device);

      platform.io_context = hv_platform_get_io_context (&platform, "sata", error);
      if (platform.io_context == NULL
          || (ahci = hv_ahci_new (&platform, hv_device_get_pci (device), "ahci", error)) == NULL)
        {
          hv_block_free (block);
          return FALSE;
        }
    }
  g_variant_lookup (device->options, "serial", "&s", &serial);
  port = cdrom ? hv_ahci_add_cdrom (ahci, device->id, block, error)
               : hv_ahci_add_disk (ahci, device->id, block, serial, error);
  if (port < 0)
    {
      if (ahci->refs == 0)
        hv_ahci_free (ahci);
      return FALSE;
    }
  ahci->refs++;
  drive = g_new0 (HvAhciDrive, 1);
  drive->ahci = ahci;
  drive->port = (unsigned) port;
  device->impl = drive;
  return TRUE;
}

static gboolean
disk_realize (HvDevice *device, GError **error)
{
  return drive_realize (device, FALSE, error);
}

static gboolean
cdrom_realize (HvDevice *device, GError **error)
{
  return drive_realize (device, TRUE, error);
}

static void
drive_teardown (HvDevice *device)
{
  HvAhciDrive *drive = device->impl;

  if (drive == NULL)
    return;
  if (--drive->ahci->refs == 0)
    hv_ahci_free (drive->ahci);
  g_free (drive);
}

static void
drive_quiesce (HvDevice *device, gboolean quiesced)
{
  HvAhciDrive *drive = device->impl;

  /* The controller's drives quiesce together; the first one's call does it. */
  if (drive->port == 0)
    hv_ahci_quiesce (drive->ahci, quiesced);
}

static GVariant *
drive_save (HvDevice *device)
{
  HvAhciDrive *drive = device->impl;

  return hv_ahci_save_port (drive->ahci, drive->port, drive->port == 0);
}

static gboolean
drive_load (HvDevice *device, GVariant *state, unsigned version, GError **error)
{
  HvAhciDrive *drive = device->impl;

  return hv_ahci_load_port (drive->ahci, drive->port, state, error);
}

gboolean
hv_ahci_device_change_medium (void *device_pointer, int fd, gboolean force, GError **error)
{
  HvDevice *device = device_pointer;
  HvAhciDrive *drive = device->impl;
  HvBlock *block = NULL;

  if (device->kind->info != &hv_kind_info_cdrom || drive == NULL)
    {
      g_set_error (error, HV_ERROR, HV_ERROR_INVALID_ARGUMENT, "%s is not a CD-ROM drive", device->id);
      if (fd >= 0)
        close (fd);
      return FALSE;
    }
  if (fd >= 0)
    {
      block = hv_disk_image_open (device, fd, TRUE, TRUE, "disc image", error);
      close (fd);
      if (block == NULL)
        return FALSE;
    }
  return hv_ahci_change_medium (drive->ahci, drive->port, block, force, error);
}

/* SeaBIOS names an AHCI drive by the controller's slot and the port: "/pci@i0cf8/…@N/drive@PORT/disk@0",
 * for disks and CD-ROMs alike. */
static char *
drive_boot_path (HvDevice *device)
{
  HvAhciDrive *drive = device->impl;
  g_autofree char *controller = hv_pci_boot_path (&drive->ahci->pci, "sata");

  return g_strdup_printf ("%s/drive@%x/disk@0", controller, drive->port);
}

static struct _HvBlock *
drive_block (HvDevice *device)
{
  HvAhciDrive *drive = device->impl;

  return drive != NULL ? drive->ahci->ports[drive->port].block : NULL;
}

const HvDeviceKind hv_sata_disk_kind = {
  .info = &hv_kind_info_sata_disk,
  .order = HV_DEVICE_ORDER_PCI,
  .state_version = 1,
  .realize = disk_realize,
  .teardown = drive_teardown,
  .quiesce = drive_quiesce,
  .save = drive_save,
  .load = drive_load,
  .boot_path = drive_boot_path,
  .block = drive_block,
};

const HvDeviceKind hv_cdrom_kind = {
  .info = &hv_kind_info_cdrom,
  .order = HV_DEVICE_ORDER_PCI,
  .state_version = 1,
  .realize = cdrom_realize,
  .teardown = drive_teardown,
  .quiesce = drive_quiesce,
  .save = drive_save,
  .load = drive_load,
  .boot_path = drive_boot_path,
};
