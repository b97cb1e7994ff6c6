/* vireo-settings-advanced.h — the Advanced page of a machine's settings: CPUID features hidden from the guest. */
#pragma once

#include "vireo-settings-page.h"

G_BEGIN_DECLS

#define VIREO_TYPE_SETTINGS_ADVANCED (vireo_settings_advanced_get_type ())
G_DECLARE_FINAL_TYPE (VireoSettingsAdvanced, vireo_settings_advanced, VIREO, SETTINGS_ADVANCED,
                      VireoSettingsPage)

G_END_DECLS
