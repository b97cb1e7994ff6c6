/* vireo-window.h — the manager window: hosts in a sidebar, their machines in a sortable list, the selected
 * machine's details with a live thumbnail, and every machine action (buttons, shortcuts, context menu). */
#pragma once

#include <adwaita.h>

#include "vireo-application.h"

G_BEGIN_DECLS

#define VIREO_TYPE_WINDOW (vireo_window_get_type ())
G_DECLARE_FINAL_TYPE (VireoWindow, vireo_window, VIREO, WINDOW, AdwApplicationWindow)

VireoWindow *vireo_window_new (VireoApplication *app);

/* The machine whose details are shown and which the actions apply to, or NULL. */
VireoDBusMachine *vireo_window_get_selected (VireoWindow *self);
/* Selects @host in the sidebar and, when @object_path is not NULL, that machine in the list. */
gboolean vireo_window_select (VireoWindow *self, VireoHostKind kind, const char *object_path);
/* Selects @host in the sidebar and shows its machines. */
/* @host: a VireoHost or a VireoLibvirtHost of the app's hosts. */
void vireo_window_select_host (VireoWindow *self, gpointer host);
/* Shows a toast, e.g. the service's message when an action fails. */
void vireo_window_add_toast (VireoWindow *self, const char *message);

G_END_DECLS
