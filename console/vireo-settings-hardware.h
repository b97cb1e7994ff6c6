/* vireo-settings-hardware.h — the Hardware page of a machine's settings: memory, processors, network, display
 * and disks. */
#pragma once

#include "vireo-settings-page.h"

G_BEGIN_DECLS

#define VIREO_TYPE_SETTINGS_HARDWARE (vireo_settings_hardware_get_type ())
G_DECLARE_FINAL_TYPE (VireoSettingsHardware, vireo_settings_hardware, VIREO, SETTINGS_HARDWARE,
                      VireoSettingsPage)

/* Sets the spin buttons' ranges for the window's host. */
void vireo_settings_hardware_set_ranges (VireoSettingsHardware *self);
/* Adds the image at @path as the machine's last disk, as choosing it in "Add Disk…" does. */
void vireo_settings_hardware_add_disk (VireoSettingsHardware *self, const char *path);
/* The row of the machine's disk number @index (from 0), or NULL. */
GtkWidget *vireo_settings_hardware_get_disk_row (VireoSettingsHardware *self, guint index);

G_END_DECLS
