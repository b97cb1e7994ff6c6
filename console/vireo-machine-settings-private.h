/* vireo-machine-settings-private.h — what the settings window's pages ask of it, and what the ui tests reach
 * inside it: the pages' widgets, the disk rows, and the step behind the file chooser they cannot drive. */
#pragma once

#include "vireo-machine-settings.h"
#include "vireo-settings-page.h"

G_BEGIN_DECLS

/* For the pages (vireo-settings-page.c): each takes a NULL window, as a page not yet in one has. */
VireoHost *vireo_machine_settings_get_host (VireoMachineSettings *self);
VireoDBusMachine *vireo_machine_settings_get_machine (VireoMachineSettings *self);
GVariant *vireo_machine_settings_lookup (VireoMachineSettings *self, const char *key);
gboolean vireo_machine_settings_is_syncing (VireoMachineSettings *self);
gboolean vireo_machine_settings_is_locked (VireoMachineSettings *self);
/* @origin: the page that sends it, whose message label shows a refusal first. */
void vireo_machine_settings_send_update (VireoMachineSettings *self, VireoSettingsPage *origin,
                                         const char *key, GVariant *value);
void vireo_machine_settings_sync_key (VireoMachineSettings *self, const char *key, GVariant *value);
void vireo_machine_settings_toast (VireoMachineSettings *self, const char *message);

/* For the tests. */
/* Adds the image at @path as the machine's last disk, as choosing it in Add → Existing Image… does. */
void vireo_machine_settings_add_disk (VireoMachineSettings *self, const char *path);
/* The row of the machine's disk number @index (from 0), or NULL. */
GtkWidget *vireo_machine_settings_get_disk_row (VireoMachineSettings *self, guint index);
/* Puts @path ("" ejects) in the CD drive @target, as Choose Medium… does. */
void vireo_machine_settings_change_medium (VireoMachineSettings *self, const char *target, const char *path);
/* The New Disk, Grow or Remove dialog open now, or NULL. */
AdwMessageDialog *vireo_machine_settings_get_disk_dialog (VireoMachineSettings *self);
/* The Disks page: its actions ("disks.new", "disks.grow" …) are what its menus and buttons activate. */
GtkWidget *vireo_machine_settings_get_disks_page (VireoMachineSettings *self);
/* The Network page: its actions ("network.add", "network.add-forward" …) and its adapters' widgets
 * (vireo-settings-network.h). */
GtkWidget *vireo_machine_settings_get_network_page (VireoMachineSettings *self);
/* The widget or object with the id @name in the template of whichever page has it, or NULL. */
GObject *vireo_machine_settings_get_part (VireoMachineSettings *self, const char *name);

G_END_DECLS
