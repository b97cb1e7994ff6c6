/* vireo-settings-general.h — the General page of a machine's settings: name, notes, automatic start and stop. */
#pragma once

#include "vireo-settings-page.h"

G_BEGIN_DECLS

#define VIREO_TYPE_SETTINGS_GENERAL (vireo_settings_general_get_type ())
G_DECLARE_FINAL_TYPE (VireoSettingsGeneral, vireo_settings_general, VIREO, SETTINGS_GENERAL,
                      VireoSettingsPage)

G_END_DECLS
