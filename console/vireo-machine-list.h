/* vireo-machine-list.h — the machines of one host in a sortable column view (name, state, CPU use, memory,
 * uptime), one of them selected, with the machine menu on a right click or the Menu key. */
#pragma once

#include <adwaita.h>

#include "vireo-dbus-generated.h"

G_BEGIN_DECLS

#define VIREO_TYPE_MACHINE_LIST (vireo_machine_list_get_type ())
G_DECLARE_FINAL_TYPE (VireoMachineList, vireo_machine_list, VIREO, MACHINE_LIST, AdwBin)

/* Lists the VireoDBusMachines of @machines (NULL: none), sorted as the user chose. */
void vireo_machine_list_set_model (VireoMachineList *self, GListModel *machines);
/* The selected machine ("selected", notified when it changes), or NULL. */
VireoDBusMachine *vireo_machine_list_get_selected (VireoMachineList *self);
/* Selects the machine at @object_path; FALSE when the list has none there. */
gboolean vireo_machine_list_select (VireoMachineList *self, const char *object_path);
/* The menu a right click opens ("menu-model"): the window's machine actions. */
void vireo_machine_list_set_menu_model (VireoMachineList *self, GMenuModel *menu);
/* Opens the menu from the keyboard: at the focused row, else at the top of the list. */
void vireo_machine_list_popup_menu (VireoMachineList *self);

G_END_DECLS
