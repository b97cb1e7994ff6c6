/* vireo-machine-details.h — the details pane of the manager window: the selected machine's live thumbnail,
 * name and state, its action buttons, and its facts (uptime, CPU use, processors, boot source, display, last
 * error, memory, network, notes) and its checkpoints, all following the service's signals. */
#pragma once

#include <adwaita.h>

#include "vireo-application.h"

G_BEGIN_DECLS

#define VIREO_TYPE_MACHINE_DETAILS (vireo_machine_details_get_type ())
G_DECLARE_FINAL_TYPE (VireoMachineDetails, vireo_machine_details, VIREO, MACHINE_DETAILS, AdwBin)

/* Shows @machine (NULL: "No machine selected") and follows it. */
void vireo_machine_details_set_machine (VireoMachineDetails *self, VireoDBusMachine *machine);
/* The host the machine is on: its object manager lists the machine's checkpoints. */
void vireo_machine_details_set_host (VireoMachineDetails *self, VireoHost *host);
/* The Checkpoints section (vireo-checkpoint-tree.h), for the tests. */
GtkWidget *vireo_machine_details_get_checkpoint_tree (VireoMachineDetails *self);
/* The app whose connection windows the thumbnail mirrors rather than competing with them for the display. */
void vireo_machine_details_set_application (VireoMachineDetails *self, VireoApplication *app);
/* The menu of the "More Actions" button ("menu-model"): the window's machine actions. */
void vireo_machine_details_set_menu_model (VireoMachineDetails *self, GMenuModel *menu);

G_END_DECLS
