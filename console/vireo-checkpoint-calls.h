/* vireo-checkpoint-calls.h — the checkpoint actions the manager window and the connection window share: take a
 * checkpoint (offering to convert raw disks), apply or revert with Hyper-V's confirmation, rename, export and
 * delete, each with its dialog; and which checkpoint operations of the app are under way, for progress. */
#pragma once

#include <adwaita.h>

#include "vireo-host.h"
#include "vireo-machine-calls.h"

G_BEGIN_DECLS

#define VIREO_CHECKPOINT_INTERFACE "org.vireo.Vireo1.Checkpoint"
/* Checkpoint names: 1–100 characters (the service checks too). */
#define VIREO_CHECKPOINT_NAME_MAX_CHARS 100

/* The checkpoints of @machine that @host lists, parents before their children and siblings oldest first;
 * empty while the service is not running.  Each element is a VireoDBusCheckpoint. */
GPtrArray *vireo_checkpoints_list (VireoHost *host, VireoDBusMachine *machine);
/* The checkpoint at @object_path, or NULL ("/" is none). */
VireoDBusCheckpoint *vireo_checkpoints_find (VireoHost *host, const char *object_path);
/* How many checkpoints lie below @checkpoint in @list (as vireo_checkpoints_list() gives it). */
guint vireo_checkpoints_count_below (GPtrArray *list, VireoDBusCheckpoint *checkpoint);

/* What the app is doing to @machine's checkpoints now ("Taking a checkpoint…"), or NULL. */
const char *vireo_checkpoint_job (VireoDBusMachine *machine);
/* Calls @callback (@owner, VireoDBusMachine *machine) whenever a job begins or ends, until
 * vireo_checkpoint_jobs_unwatch (@owner) — which a widget calls in its dispose, since a job can end while
 * something still holds the disposed widget (a call under way keeps its window) — or @owner is finalized. */
void vireo_checkpoint_jobs_watch (GObject *owner, GCallback callback);
void vireo_checkpoint_jobs_unwatch (GObject *owner);

/* Takes a checkpoint of @machine with a default name and the machine's default kind.  A refusal because of a
 * raw disk offers to convert the disks to qcow2 (with the machine off) and tries again.  Dialogs are over
 * @owner, a window; failures go to @failed. */
void vireo_checkpoint_create (GtkWidget *owner, VireoDBusMachine *machine, VireoMachineCallFailed failed);
/* Asks Hyper-V's question ("Take Checkpoint and Apply", "Apply", "Cancel") and applies @checkpoint to
 * @machine; @revert words it as going back to the checkpoint "Now" derives from.  A running machine runs
 * again afterwards. */
void vireo_checkpoint_confirm_apply (GtkWidget *owner, VireoDBusMachine *machine,
                                     VireoDBusCheckpoint *checkpoint, gboolean revert,
                                     VireoMachineCallFailed failed);
/* Revert: apply the checkpoint "Now" derives from, with the same confirmation; says so when there is none. */
void vireo_checkpoint_revert (GtkWidget *owner, VireoHost *host, VireoDBusMachine *machine,
                              VireoMachineCallFailed failed);
/* Asks for a new name (1–100 characters) and renames. */
void vireo_checkpoint_ask_rename (GtkWidget *owner, VireoDBusCheckpoint *checkpoint,
                                  VireoMachineCallFailed failed);
/* Asks the new machine's name and exports @checkpoint of @machine as a new machine of @host. */
void vireo_checkpoint_ask_export (GtkWidget *owner, VireoHost *host, VireoDBusMachine *machine,
                                  VireoDBusCheckpoint *checkpoint, VireoMachineCallFailed failed);
/* Confirms and deletes @checkpoint, with the @below checkpoints under it when @subtree. */
void vireo_checkpoint_confirm_delete (GtkWidget *owner, VireoDBusMachine *machine,
                                      VireoDBusCheckpoint *checkpoint, gboolean subtree, guint below,
                                      VireoMachineCallFailed failed);

/* For the tests: the message dialog a checkpoint action has open now, or NULL. */
AdwMessageDialog *vireo_checkpoint_get_dialog (void);

G_END_DECLS
