/* vireo-run-private.h — what vireo-run's files share: vireo-run.c (the options, the VM and its run loop)
 * and vireo-run-devices.c (the options that make the spec's devices, and the files they open). */
#pragma once

#include "hv.h"

/* One --disk FILE[,format=raw|qcow2|auto][,bus=virtio|sata][,readonly=on|off][,cache=none|writeback]
 * [,serial=TEXT][,queues=N], or one --cdrom FILE ("" for an empty drive). */
typedef struct
{
  char *path;
  const char *format;
  const char *cache;
  char *serial;
  unsigned queues; /* 0: the default */
  gboolean read_only;
  gboolean sata;  /* on the AHCI controller instead of virtio */
  gboolean cdrom; /* a CD-ROM drive on the AHCI controller */
} DiskArg;

void vireo_run_disk_arg_clear (DiskArg *disk);
gboolean vireo_run_parse_disk (const char *text, DiskArg *disk, GError **error);
gboolean vireo_run_add_disk (HvMachineSpec *spec, const DiskArg *disk, GError **error);
gboolean vireo_run_add_net_device (HvMachineSpec *spec, const char *text, const char *mac, gboolean *rom,
                                   GError **error);
gboolean vireo_run_add_channels (HvMachineSpec *spec, char **channels, GError **error);
void vireo_run_set_boot_order (HvMachineSpec *spec, const char *boot);
void vireo_run_list_device_kinds (void);
int vireo_run_open_regular_file (const char *path, const char *what, GError **error);
int vireo_run_open_boot_file (HvMachineSpec *spec, const char *path, const char *what, GError **error);
