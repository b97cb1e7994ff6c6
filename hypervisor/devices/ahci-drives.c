/* ahci-drives.c — the "sata-disk" and "cdrom" kinds: drives on one AHCI controller, made with the first
 * of them (each takes the next port, in the order the spec lists them) and freed with the last; their
 * images opened from the spec's fds; the controller's saved state in the first drive's section. */
#include "ahci-private.h"
#include "device.h"
#include "state.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

/* ---- The "sata-disk" and "cdrom" kinds: drives on one controller, made with the first ---- */

static HvBlockCache
parse_cache (const char *text)
{
  if (g_strcmp0 (text, "none") == 0)
    return HV_BLOCK_CACHE_NONE;
  if (g_strcmp0 (text, "writeback") == 0)
    return HV_BLOCK_CACHE_WRITEBACK;
  return HV_BLOCK_CACHE_DEFAULT;
}

static HvBlockFormat
parse_format (const char *text)
{
  if (g_strcmp0 (text, "raw") == 0)
    return HV_BLOCK_FORMAT_RAW;
  if (g_strcmp0 (text, "qcow2") == 0)
    return HV_BLOCK_FORMAT_QCOW2;
  return HV_BLOCK_FORMAT_AUTO;
}

static int
open_backing (void *opaque, unsigned depth, const char *name, HvBlockFormat format, GError **error)
{
  HvDevice *device = opaque;
  unsigned n;
  const int *fds = hv_device_get_fds_option (device, "backing", &n);
  int fd;

  if (depth == 0 || depth > n)
    {
      g_set_error (error, HV_ERROR, HV_ERROR_NOT_FOUND,
                   "it needs its backing file “%s” (link %u of its chain), which was not given", name, depth);
      return -1;
    }
  fd = fcntl (fds[depth - 1], F_DUPFD_CLOEXEC, 3);
  if (fd < 0)
    {
      int saved = errno;
      g_set_error (error, HV_ERROR, HV_ERROR_FAILED, "cannot use its backing file “%s”: %s", name,
                   g_strerror (saved));
    }
  return fd;
}

/* Opens @fd (not taken) as the device's image; a disc changed later (@changed) has its format probed,
 * since the device's options describe the first one. */
static HvBlock *
open_image (HvDevice *device, int fd, gboolean cdrom, gboolean changed, GError **error)
{
  HvBlockOptions options = { 0 };
  const char *format = NULL, *cache = NULL;
  HvBlock *block;

  g_variant_lookup (device->options, "format", "&s", &format);
  g_variant_lookup (device->options, "cache", "&s", &cache);
  g_variant_lookup (device->options, "read-only", "b", &options.read_only);
  options.format = changed ? HV_BLOCK_FORMAT_AUTO : parse_format (format);
  options.cache = parse_cache (cache);
  if (cdrom)
    options.read_only = TRUE;
  fd = fcntl (fd, F_DUPFD_CLOEXEC, 3);
  if (fd < 0)
    {
      int saved = errno;
      g_set_error (error, HV_ERROR, HV_ERROR_FAILED, "cannot use the image: %s", g_strerror (saved));
      return NULL;
    }
  block = hv_block_open (fd, &options, open_backing, device, error);
  if (block == NULL)
    g_prefix_error (error, cdrom ? "the disc image: " : "the disk image: ");
  return block;
}

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
  if (fd >= 0 && (block = open_image (device, fd, cdrom, FALSE, error)) == NULL)
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
      block = open_image (device, fd, TRUE, TRUE, error);
      close (fd);
      if (block == NULL)
        return FALSE;
    }
  return hv_ahci_change_medium (drive->ahci, drive->port, block, force, error);
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
};
