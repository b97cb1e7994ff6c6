/* vireo-settings-disks.h — the Disks page of a machine's settings: its disks and CD/DVD drives, added (a new
 * disk, an existing image, an empty drive), grown, removed, and the CD's medium changed (also while it runs). */
#pragma once

#include "vireo-settings-page.h"

G_BEGIN_DECLS

#define VIREO_TYPE_SETTINGS_DISKS (vireo_settings_disks_get_type ())
G_DECLARE_FINAL_TYPE (VireoSettingsDisks, vireo_settings_disks, VIREO, SETTINGS_DISKS, VireoSettingsPage)

/* Adds the image at @path as the machine's last disk, as choosing it in Add → Existing Image… does. */
void vireo_settings_disks_add_image (VireoSettingsDisks *self, const char *path);
/* Puts @path ("" ejects) in the CD drive @target, as choosing it in Choose Medium… does. */
void vireo_settings_disks_change_medium (VireoSettingsDisks *self, const char *target, const char *path);
/* The row of the disk number @index (from 0), or NULL. */
GtkWidget *vireo_settings_disks_get_row (VireoSettingsDisks *self, guint index);
/* The dialog the page shows now (New Disk, Grow, Remove), or NULL. */
AdwMessageDialog *vireo_settings_disks_get_dialog (VireoSettingsDisks *self);

G_END_DECLS
