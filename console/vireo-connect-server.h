/* vireo-connect-server.h — "Connect to Server…": asks for a remote host's address and adds it to the app. */
#pragma once

#include "vireo-application.h"

G_BEGIN_DECLS

/* Shows the dialog over @parent; on Connect the host is added (vireo_application_add_host_uri) and selected
 * in the manager window. */
GtkWindow *vireo_connect_server_show (VireoApplication *app, GtkWindow *parent);

G_END_DECLS
