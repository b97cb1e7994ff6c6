/* vireo-connection.h — a machine's connection window (Hyper-V's Virtual Machine Connection): its display
 * (VireoDisplay over Machine.OpenDisplay), its serial console (VTE over Machine.OpenSerial) and a toolbar of
 * power actions, Checkpoint and Revert, Ctrl+Alt+Del, typing the clipboard, screenshots, the CD/DVD medium, zoom and full screen. */
#pragma once

#include <adwaita.h>

#include "vireo-application.h"

G_BEGIN_DECLS

#define VIREO_TYPE_CONNECTION (vireo_connection_get_type ())
G_DECLARE_FINAL_TYPE (VireoConnection, vireo_connection, VIREO, CONNECTION, AdwApplicationWindow)

VireoConnection *vireo_connection_new (VireoApplication *app, VireoHost *host, VireoDBusMachine *machine);
VireoDBusMachine *vireo_connection_get_machine (VireoConnection *self);
/* The window's display widget (a VireoDisplay). */
GtkWidget *vireo_connection_get_display (VireoConnection *self);

/* For the tests: puts @path ("" ejects) in the CD/DVD drive @target, as Choose Medium… and Eject do; the menu
 * section with those items; the header bar's menu button. */
void vireo_connection_change_medium (VireoConnection *self, const char *target, const char *path);
GMenuModel *vireo_connection_get_media_menu (VireoConnection *self);
GtkWidget *vireo_connection_get_more_button (VireoConnection *self);

G_END_DECLS
