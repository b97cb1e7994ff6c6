/* vireo-settings-boot.h — the Boot page of a machine's settings: boot source, kernel, initrd, command line. */
#pragma once

#include "vireo-settings-page.h"

G_BEGIN_DECLS

#define VIREO_TYPE_SETTINGS_BOOT (vireo_settings_boot_get_type ())
G_DECLARE_FINAL_TYPE (VireoSettingsBoot, vireo_settings_boot, VIREO, SETTINGS_BOOT, VireoSettingsPage)

G_END_DECLS
