/* vireo-machine-settings.h — the settings window of one machine (AdwPreferencesWindow): name, notes, memory,
 * processors, boot source, disks, network, display, CPUID mask, automatic start and stop actions. */
#pragma once

#include <adwaita.h>

#include "vireo-host.h"

G_BEGIN_DECLS

#define VIREO_TYPE_MACHINE_SETTINGS (vireo_machine_settings_get_type ())
G_DECLARE_FINAL_TYPE (VireoMachineSettings, vireo_machine_settings, VIREO, MACHINE_SETTINGS,
                      AdwPreferencesWindow)

VireoMachineSettings *vireo_machine_settings_new (GtkWindow *parent, VireoHost *host,
                                                  VireoDBusMachine *machine);

G_END_DECLS
