/* vireo-host-row.h — pieces of the manager window's sidebar rows: the Reconnect / Forget menu of a host the
 * user added by its address, and the row of a libvirt host. */
#pragma once

#include <gtk/gtk.h>

#include "vireo-libvirt-host.h"

G_BEGIN_DECLS

/* A menu button with Reconnect and Forget ("win.host-reconnect", "win.host-forget", target @uri). */
GtkWidget *vireo_host_row_menu_new (const char *uri);

/* The sidebar row of @host: its title, how far its connection got and how many domains it has, and the
 * menu above.  The row's "vireo-host" data is @host. */
GtkWidget *vireo_host_row_new_libvirt (VireoLibvirtHost *host);

G_END_DECLS
