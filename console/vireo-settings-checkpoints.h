/* vireo-settings-checkpoints.h — the Checkpoints page of a machine's settings: the default checkpoint kind,
 * automatic checkpoints at start, and the guest agent channel. */
#pragma once

#include "vireo-settings-page.h"

G_BEGIN_DECLS

#define VIREO_TYPE_SETTINGS_CHECKPOINTS (vireo_settings_checkpoints_get_type ())
G_DECLARE_FINAL_TYPE (VireoSettingsCheckpoints, vireo_settings_checkpoints, VIREO, SETTINGS_CHECKPOINTS,
                      VireoSettingsPage)

G_END_DECLS
