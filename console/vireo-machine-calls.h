/* vireo-machine-calls.h — the Machine methods behind the user's actions (start, shut down, rename, delete …),
 * called through the generated proxy with a polkit prompt allowed; a failure comes back as one sentence. */
#pragma once

#include <gtk/gtk.h>

#include "vireo-dbus-generated.h"

G_BEGIN_DECLS

/* Shows @message ("Could not start “demo”: …") to the user, e.g. as a toast on @owner. */
typedef void (*VireoMachineCallFailed) (GtkWidget *owner, const char *message);

/* Calls the method behind @verb on @machine: "start", "shutdown", "turn-off", "save", "pause", "resume" or
 * "reset" (the actions' names).  Returns FALSE, calling nothing, for any other @verb.  @owner is kept until
 * the answer arrives; cancelled calls are not reported. */
gboolean vireo_machine_call_verb (VireoDBusMachine *machine, const char *verb, GtkWidget *owner,
                                  VireoMachineCallFailed failed);
/* Machine.Rename: the service checks @name and says why it refuses one. */
void vireo_machine_call_rename (VireoDBusMachine *machine, const char *name, GtkWidget *owner,
                                VireoMachineCallFailed failed);
/* Machine.Delete, with the disk images in the machine's own folder when @delete_disks. */
void vireo_machine_call_delete (VireoDBusMachine *machine, gboolean delete_disks, GtkWidget *owner,
                                VireoMachineCallFailed failed);

/* Puts @path in the CD/DVD drive @target ("" ejects): through Machine.Update while the machine is off (the
 * medium is part of its definition), through Machine.ChangeMedium while it runs. */
void vireo_machine_call_change_medium (VireoDBusMachine *machine, const char *target, const char *path,
                                       GtkWidget *owner, VireoMachineCallFailed failed);
/* The sentence a user reads when the disk method @method (e.g. "CreateDisk") failed with @error: the
 * service's own, or, from a service older than the disk methods, that it must be updated. */
char *vireo_disk_call_error (const GError *error, const char *method);

G_END_DECLS
