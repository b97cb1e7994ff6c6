/* vireo-move-dialog.h — the "Move to…" dialog: choose a host, read what will not arrive as it is, watch the
 * copy and its checks, see the result.  The work itself is vireo-move.c's. */
#pragma once

#include <adwaita.h>

#include "vireo-application.h"

G_BEGIN_DECLS

#define VIREO_TYPE_MOVE_DIALOG (vireo_move_dialog_get_type ())
G_DECLARE_FINAL_TYPE (VireoMoveDialog, vireo_move_dialog, VIREO, MOVE_DIALOG, AdwWindow)

/* A dialog moving @machine of @source to one of @app's other hosts, modal over @parent. */
VireoMoveDialog *vireo_move_dialog_new (GtkWindow *parent, VireoApplication *app, VireoHost *source,
                                        VireoDBusMachine *machine);

G_END_DECLS
