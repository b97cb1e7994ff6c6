/* vireo-new-machine.h — the New Machine wizard: boot source (an ISO to install from, a disk image, a kernel),
 * name and location, memory and processors, network, display, summary; validated as the user types; creates
 * the machine through Manager.CreateMachine (and its disk and CD-ROM through the Machine's disk methods). */
#pragma once

#include <adwaita.h>

#include "vireo-host.h"

G_BEGIN_DECLS

#define VIREO_TYPE_NEW_MACHINE (vireo_new_machine_get_type ())
G_DECLARE_FINAL_TYPE (VireoNewMachine, vireo_new_machine, VIREO, NEW_MACHINE, AdwWindow)

/* A modal wizard over @parent for a new machine on @host.  When the service has created the machine it
 * emits "created" (const char *object_path, gboolean connect_now) and closes itself. */
VireoNewMachine *vireo_new_machine_new (GtkWindow *parent, VireoHost *host);

/* What a file dialog offers first. */
typedef enum
{
  VIREO_FILES_ANY,
  VIREO_FILES_IMAGES, /* disk images: raw, qcow2 */
  VIREO_FILES_ISO,    /* CD and DVD images */
} VireoFiles;

/* A modal Open dialog over @parent that starts in the folder of @near (may be NULL or ""), offering @files
 * first. */
GtkFileChooserNative *vireo_file_chooser_new (GtkWindow *parent, const char *title, VireoFiles files,
                                              const char *near);

G_END_DECLS
