/* vireo-new-machine.h — the New Machine wizard: name and location, boot source, memory and processors,
 * network, display, summary; validated as the user types; creates the machine through Manager.CreateMachine. */
#pragma once

#include <adwaita.h>

#include "vireo-host.h"

G_BEGIN_DECLS

#define VIREO_TYPE_NEW_MACHINE (vireo_new_machine_get_type ())
G_DECLARE_FINAL_TYPE (VireoNewMachine, vireo_new_machine, VIREO, NEW_MACHINE, AdwWindow)

/* A modal wizard over @parent for a new machine on @host.  When the service has created the machine it
 * emits "created" (const char *object_path, gboolean connect_now) and closes itself. */
VireoNewMachine *vireo_new_machine_new (GtkWindow *parent, VireoHost *host);

/* A modal Open dialog over @parent that starts in the folder of @near (may be NULL or ""); with @images it
 * offers disk images first. */
GtkFileChooserNative *vireo_file_chooser_new (GtkWindow *parent, const char *title, gboolean images,
                                              const char *near);

G_END_DECLS
