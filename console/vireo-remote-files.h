/* vireo-remote-files.h — files named for a machine on a remote host: paths there, not files here.  This
 * computer's file chooser cannot pick them, and they cannot be checked or read from here. */
#pragma once

#include <gtk/gtk.h>

#include "vireo-host.h"

G_BEGIN_DECLS

typedef void (*VireoRemotePathChosen) (const char *path, gpointer data);

/* Whether @host's files are on another computer (NULL: no). */
gboolean vireo_host_files_are_remote (VireoHost *host);
/* Instead of a file chooser: says why there is none and asks for the path of a file on @host.  @chosen gets
 * the path unless the user cancels; @destroy frees @data either way. */
void vireo_remote_path_ask (GtkWindow *parent, VireoHost *host, const char *title, const char *near,
                            VireoRemotePathChosen chosen, gpointer data, GDestroyNotify destroy);
/* vireo_check_machine_file() for a file of @host: for a remote host only what can be told from the path
 * itself; the service says the rest. */
char *vireo_check_host_file (VireoHost *host, const char *path, gboolean writable);

G_END_DECLS
