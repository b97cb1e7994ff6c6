/* vireo-switch-manager.h — the Virtual Switch Manager window, as Hyper-V has one: the virtual switches of one
 * service (name, kind, bridge), a new one made (an existing Linux bridge or a private one) and one deleted. */
#pragma once

#include <adwaita.h>

#include "vireo-host.h"

G_BEGIN_DECLS

#define VIREO_TYPE_SWITCH_MANAGER (vireo_switch_manager_get_type ())
G_DECLARE_FINAL_TYPE (VireoSwitchManager, vireo_switch_manager, VIREO, SWITCH_MANAGER, AdwPreferencesWindow)

VireoSwitchManager *vireo_switch_manager_new (GtkWindow *parent, VireoHost *host);

/* For the tests. */
/* The row of switch number @index as listed (the Default Switch first), or NULL. */
GtkWidget *vireo_switch_manager_get_row (VireoSwitchManager *self, guint index);
/* The widget with the id @name in the window's template, or NULL. */
GObject *vireo_switch_manager_get_part (VireoSwitchManager *self, const char *name);
/* The dialog open now (Delete, or a failure), or NULL. */
AdwMessageDialog *vireo_switch_manager_get_dialog (VireoSwitchManager *self);

G_END_DECLS
