/* ahci.h — the ICH9-compatible AHCI (SATA) controller with its drives: hard disks and ATAPI CD-ROMs
 * (ahci.c), and the "sata-disk" and "cdrom" kinds that sit on one controller made for them. */
#pragma once

#include "block/block.h"
#include "platform.h"
#include "devices/devices.h"

#define HV_AHCI_PORTS HV_SATA_PORTS

typedef struct _HvAhci HvAhci;

/* The controller as a PCI function on @pci; its commands run on @platform's io_context. */
HvAhci *hv_ahci_new (const HvPlatform *platform, HvPci *pci, const char *name, GError **error);
/* Quiesces, then frees the controller and every drive's image. */
void hv_ahci_free (HvAhci *ahci);

/* Puts a hard disk on the next free port (returned, or -1 with @error when all are taken).  @block is
 * taken (also on failure). */
int hv_ahci_add_disk (HvAhci *ahci, const char *name, HvBlock *block, const char *serial, GError **error);
/* A CD-ROM drive; @block NULL: an empty drive. */
int hv_ahci_add_cdrom (HvAhci *ahci, const char *name, HvBlock *block, GError **error);

/* Inserts @block (taken; NULL: opens the tray and takes the disc out) in the CD-ROM on @port, from any
 * thread but the controller's I/O thread.  The guest sees the tray close with a new disc (UNIT
 * ATTENTION, a media event) or open.  Taking the disc out of a tray the guest locked (PREVENT ALLOW
 * MEDIUM REMOVAL) fails with HV_ERROR_INVALID_STATE unless @force. */
gboolean hv_ahci_change_medium (HvAhci *ahci, unsigned port, HvBlock *block, gboolean force, GError **error);
/* Whether the drive on @port is a CD-ROM. */
gboolean hv_ahci_port_is_cdrom (HvAhci *ahci, unsigned port);

/* Takes no new commands and finishes those in flight (TRUE), or carries on (FALSE). */
void hv_ahci_quiesce (HvAhci *ahci, gboolean quiesced);

/* The controller's registers (@with_hba) and one port's, with its drive's state. */
GVariant *hv_ahci_save_port (HvAhci *ahci, unsigned port, gboolean with_hba);
gboolean hv_ahci_load_port (HvAhci *ahci, unsigned port, GVariant *state, GError **error);

/* The PCI function, for tests. */
HvPciDevice *hv_ahci_get_pci (HvAhci *ahci);

/* The drive a "sata-disk" or "cdrom" device is (device->impl). */
typedef struct
{
  HvAhci *ahci;
  unsigned port;
} HvAhciDrive;

/* For hv_vm_change_medium: @device is a "cdrom" device; @fd (taken) an image or -1 for none. */
gboolean hv_ahci_device_change_medium (void *device, int fd, gboolean force, GError **error);
