/* vireo-application.h — the Vireo app: its hosts (the user's session service and the system service), the
 * manager window, one connection window per machine, and the app-wide actions. */
#pragma once

#include <adwaita.h>

#include "vireo-host.h"

G_BEGIN_DECLS

#define VIREO_TYPE_APPLICATION (vireo_application_get_type ())
G_DECLARE_FINAL_TYPE (VireoApplication, vireo_application, VIREO, APPLICATION, AdwApplication)

VireoApplication *vireo_application_new (void);

/* The session host or the system host (NULL when VIREO_NO_SYSTEM_HOST is set). */
VireoHost *vireo_application_get_host (VireoApplication *self, VireoHostKind kind);
/* Every host the sidebar shows, as GObjects: the session host, the system host (VireoHost), then the hosts
 * added by address in the order they were added (VireoHost for Vireo hosts over ssh, VireoLibvirtHost for
 * libvirt's). */
GListModel *vireo_application_get_hosts (VireoApplication *self);
/* The host added with address @uri, or NULL. */
GObject *vireo_application_find_host (VireoApplication *self, const char *uri);
/* Checks @uri (ssh://[user@]host[:port][/session] for a Vireo host; qemu:///system, qemu:///session or
 * qemu+TRANSPORT://[user@]host/system|session for libvirt's), remembers it in the "remote-hosts" setting and
 * connects to it; fails with a sentence for the user when the address is bad or already listed. */
gboolean vireo_application_add_host_uri (VireoApplication *self, const char *uri, GError **error);
/* Removes a host added by address from the list and from the setting, ending its connection. */
void vireo_application_forget_host (VireoApplication *self, GObject *host);
/* Opens (or raises) the connection window of @machine on @host. */
GtkWindow *vireo_application_connect (VireoApplication *self, VireoHost *host, VireoDBusMachine *machine);

/* The open connection window of the machine at @object_path, or NULL.  "connections-changed" is emitted
 * when one opens or closes. */
GtkWindow *vireo_application_get_connection (VireoApplication *self, const char *object_path);

/* The app's GSettings (org.vireo.Vireo), or NULL when the schema is not installed: run from a build tree
 * without GSETTINGS_SCHEMA_DIR, the app works and only forgets its window state.  Owned by the caller. */
GSettings *vireo_application_get_settings (void);

G_END_DECLS
