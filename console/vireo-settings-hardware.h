/* vireo-settings-hardware.h — the Hardware page of a machine's settings: memory, processors and display. */
#pragma once

#include "vireo-settings-page.h"

G_BEGIN_DECLS

#define VIREO_TYPE_SETTINGS_HARDWARE (vireo_settings_hardware_get_type ())
G_DECLARE_FINAL_TYPE (VireoSettingsHardware, vireo_settings_hardware, VIREO, SETTINGS_HARDWARE,
                      VireoSettingsPage)

/* Sets the spin buttons' ranges for the window's host. */
void vireo_settings_hardware_set_ranges (VireoSettingsHardware *self);

G_END_DECLS
