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
VireoNewMachine *vireo_new_machine_new (GtkWindow *parent,
                                        VireoHost *host);

/* Checks shared by the wizard and the settings window, so both say the same thing about a file. */

/* Why the file at @path cannot serve a machine as a kernel, an initial ramdisk or (with @writable, a
 * disk the guest may write) a disk image, as a sentence for the user; NULL when it can. */
char       *vireo_check_machine_file  (const char *path,
                                       gboolean    writable);
/* "qcow2" when the file starts with the qcow2 magic "QFI\xfb", "raw" otherwise; NULL when it cannot be
 * read. */
const char *vireo_detect_image_format (const char *path);
/* Why @name cannot name a new machine (or, with @except set, rename that machine) on @host, or NULL.
 * @name is taken as it will be stored: without surrounding white space. */
char       *vireo_check_machine_name  (VireoHost        *host,
                                       const char       *name,
                                       VireoDBusMachine *except);
/* The longest name the service takes, in characters. */
#define VIREO_MACHINE_NAME_MAX_CHARS 64
/* Why @cmdline cannot be a kernel command line, or NULL. */
char       *vireo_check_cmdline       (const char *cmdline);
/* Why a machine cannot have @mib MiB on a host of @host_mib MiB (0: not known), or NULL. */
char       *vireo_check_memory        (guint64     mib,
                                       guint64     host_mib);
/* The text of @row as the service will store it: without surrounding white space, Unicode spaces too. */
char       *vireo_entry_row_get_stripped_text (AdwEntryRow *row);
/* "This computer has 8 processors and 16 GiB of memory.", or NULL while the host is not known. */
char       *vireo_describe_host       (VireoDBusManager *manager);
/* The ranges of the memory (MiB) and processor spin buttons on @manager's host (NULL: not known).  Typing
 * more memory than the host has is allowed, and then said to be wrong, rather than silently clamped. */
void        vireo_set_resource_ranges (VireoDBusManager *manager,
                                       GtkAdjustment    *memory,
                                       GtkAdjustment    *vcpus);
/* A modal Open dialog over @parent that starts in the folder of @near (may be NULL or ""); with @images it
 * offers disk images first. */
GtkFileChooserNative *vireo_file_chooser_new (GtkWindow  *parent,
                                              const char *title,
                                              gboolean    images,
                                              const char *near);

G_END_DECLS
