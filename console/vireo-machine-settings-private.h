/* vireo-machine-settings-private.h — what the ui tests reach inside the settings window beyond its template
 * children: the disk rows it builds, and the step behind the file chooser it cannot drive. */
#pragma once

#include "vireo-machine-settings.h"

G_BEGIN_DECLS

/* Adds the image at @path as the machine's last disk, as choosing it in "Add Disk…" does. */
void       vireo_machine_settings_add_disk     (VireoMachineSettings *self,
                                                const char           *path);
/* The row of the machine's disk number @index (from 0), or NULL. */
GtkWidget *vireo_machine_settings_get_disk_row (VireoMachineSettings *self,
                                                guint                 index);

G_END_DECLS
