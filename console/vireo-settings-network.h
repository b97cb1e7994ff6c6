/* vireo-settings-network.h — the Network page of a machine's settings: its network adapters ("nics"), each
 * with its cable, virtual switch, MAC address and (on a NAT switch) port forwards; adapters added and removed. */
#pragma once

#include "vireo-settings-page.h"

G_BEGIN_DECLS

#define VIREO_TYPE_SETTINGS_NETWORK (vireo_settings_network_get_type ())
G_DECLARE_FINAL_TYPE (VireoSettingsNetwork, vireo_settings_network, VIREO, SETTINGS_NETWORK,
                      VireoSettingsPage)

/* For the tests: a widget of adapter @nic (from 0): "group", "connected" (GtkSwitch), "switch" (AdwComboRow),
 * "mac" (AdwEntryRow), "mac-message" (GtkLabel), "forwards" (the row with Add), "forward-<j>" (a forward's
 * row); NULL when there is none. */
GtkWidget *vireo_settings_network_get_part (VireoSettingsNetwork *self, guint nic, const char *name);
/* The number of adapters shown. */
guint vireo_settings_network_get_n_adapters (VireoSettingsNetwork *self);
/* The Add Port Forward dialog open now, or NULL; its fields are its data "protocol" (GtkDropDown),
 * "address" (GtkEntry), "host-port" and "guest-port" (GtkSpinButton), "message" (GtkLabel). */
AdwMessageDialog *vireo_settings_network_get_dialog (VireoSettingsNetwork *self);

G_END_DECLS
