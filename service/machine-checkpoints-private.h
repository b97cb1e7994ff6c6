/* machine-checkpoints-private.h — what the files of a machine's checkpoints share: machine-checkpoints.c
 * (the operation in flight, the objects, Delete, Rename, Start, set-up), machine-checkpoint-create.c
 * (CreateCheckpoint), machine-checkpoint-apply.c (Apply), machine-checkpoint-recovery.c (qemu-img on the
 * images, doomed checkpoints, recovery), machine-checkpoint-copies.c (qemu-img convert of checkpoint
 * disks: Export, convert-raw) and machine-checkpoint-send.c / machine-checkpoint-receive.c (the
 * checkpoints of a machine moved between hosts): a checkpoint operation in flight and the steps and checks they share. */
#pragma once

#include "machine-private.h"
#include "checkpoints.h"
#include "open-as.h"

G_BEGIN_DECLS

#define OPERATION_NAME            "checkpoint"
#define WORKER_CHECKPOINT_TIMEOUT (10 * 60 * 1000)

typedef struct _CheckpointOp CheckpointOp;
typedef void (*CheckpointStep) (CheckpointOp *op);
/* The end of a piece of work that others chain onto (a create before an apply or a start). */
typedef void (*CheckpointDone) (CheckpointOp *op, GError *error);

struct _CheckpointOp
{
  VireoMachine *machine;
  GDBusMethodInvocation *invocation; /* NULL: automatic checkpoint, recovery */
  const char *what;                  /* "create", "apply", "delete", "recover", "export" */
  char *id;
  VireoCheckpoint *checkpoint;    /* create: the new one */
  VireoMachineConfig *definition; /* apply: the checkpoint's */
  GPtrArray *images;              /* char *: the writable qcow2 images to work on */
  guint next_image;
  const char *snapshot_flag; /* "-c", "-a", "-d"; "check": qemu-img check -r all (repair) */
  guint lock_tries;          /* tries of the current image that found it locked */
  char *qemu_img;
  CheckpointStep after_images;
  CheckpointStep after_doomed;
  GError *error;     /* the first failure */
  GError *cause;     /* create: why it failed, while its remains are removed */
  GPtrArray *doomed; /* delete, recover: ids whose snapshots and folders go */
  guint next_doomed;
  gboolean start; /* apply: run afterwards */
  char *kind;
  char *name;
  gboolean worker_made; /* create: the worker took the snapshots */
  GPtrArray *copies;    /* convert-raw: char *, the qcow2 copy of each of op->images */
  CheckpointDone done;  /* instead of replying; the operation is freed after it */
  gpointer done_data;
  CheckpointDone then; /* recovery: what comes after it */
};

/* machine-checkpoints.c: marks the machine busy with @what (one checkpoint or disk operation at a time)
 * until freed. */
CheckpointOp *vireo_checkpoint_op_new (VireoMachine *machine, GDBusMethodInvocation *invocation,
                                       const char *what);
void vireo_checkpoint_op_free (CheckpointOp *op);
/* Ends @op with @error: to op->done, the caller, or the log. */
void vireo_checkpoint_op_fail (CheckpointOp *op, const GError *error);
void vireo_checkpoint_op_fail_literal (CheckpointOp *op, VireoError code, const char *message);

/* A call queued while interrupted work is finished: @func runs again with the invocation. */
typedef void (*RetryFunc) (VireoMachine *machine, GDBusMethodInvocation *invocation);
gboolean vireo_checkpoints_wait_for_recovery (VireoMachine *machine, GDBusMethodInvocation *invocation,
                                              RetryFunc func);
/* Whether no archive of the machine's checkpoints is being written or received (a move); else
 * InvalidState. */
gboolean vireo_checkpoints_check_not_moving (VireoMachine *machine, GError **error);
/* Whether a checkpoint operation may start now; InvalidState (or NotFound) otherwise. */
gboolean vireo_checkpoints_check_can_operate (VireoMachine *machine, GDBusMethodInvocation *invocation,
                                              GError **error);
/* The checkpoint a call on its object is for, or NULL with NotFound returned. */
VireoCheckpoint *vireo_checkpoints_require (VireoMachine *machine, GDBusMethodInvocation *invocation);
/* The definition checkpoint @id was taken with (its UUID the machine's). */
VireoMachineConfig *vireo_checkpoints_load_definition (VireoMachine *machine, const char *id, GError **error);
/* The first writable raw disk, which checkpoints cannot cover, or NULL. */
const VireoDiskConfig *vireo_checkpoints_find_writable_raw (const VireoMachineConfig *config);
/* The machine is no longer busy with @op (and may start; calls waiting for it run). */
void vireo_checkpoint_op_release_machine (CheckpointOp *op);
/* The machine is busy with @op again (an operation chained after another). */
void vireo_checkpoint_op_take_machine (CheckpointOp *op);
/* The D-Bus object path of checkpoint @id. */
char *vireo_checkpoints_object_path (VireoMachine *machine, const char *id);
/* Properties of every object and CurrentCheckpoint from the tree; objects for new ids, none for gone. */
void vireo_checkpoints_publish_tree (VireoMachine *machine);
gboolean vireo_checkpoints_save_tree (VireoMachine *machine, GError **error);
/* The name of checkpoint @id's internal snapshot on each disk: "vireo-<id>". */
char *vireo_checkpoints_snapshot_name (const char *id);
/* Adds the images checkpoints cover (writable disks with a file) of @config (may be NULL) not yet in
 * @images. */
void vireo_checkpoints_add_writable_images (GPtrArray *images, const VireoMachineConfig *config);

/* machine-checkpoint-create.c: takes the checkpoint op->name of kind op->kind (taking @op). */
void vireo_checkpoints_create_start (CheckpointOp *op);
/* The default name: "<prefix><machine name> - (YYYY-MM-DD - HH:MM:SS)", local time. */
char *vireo_checkpoints_default_name (const char *prefix, const char *machine_name);
/* Machine.CreateCheckpoint. */
gboolean vireo_checkpoints_handle_create_checkpoint (VireoDBusMachine *iface,
                                                     GDBusMethodInvocation *invocation, const char *name,
                                                     GVariant *options, VireoMachine *machine);

/* machine-checkpoint-apply.c: applies checkpoint op->id with the machine off or saved. */
void vireo_checkpoints_apply_offline (CheckpointOp *op);
/* Applies checkpoint op->id: in place by the worker when it can, else at rest. */
void vireo_checkpoints_apply_now (CheckpointOp *op);
/* Checkpoint.Apply. */
gboolean vireo_checkpoints_handle_apply (VireoDBusCheckpoint *iface, GDBusMethodInvocation *invocation,
                                         GVariant *options, VireoMachine *machine);

/* machine-checkpoint-recovery.c: the identity qemu-img takes for image @path opened as @fd (see there). */
gboolean vireo_checkpoints_qemu_img_identity (VireoMachine *machine, const char *path, int fd,
                                              VireoIdentity *identity, GError **error);
/* Opens the machine's image @path as vireo_machine_config_open_image() does, blocking (qemu-img gets it);
 * -1 with @error (its code from errno, which stays set) otherwise. */
int vireo_checkpoints_open_image (VireoMachine *machine, const char *path, int flags, GError **error);
/* Runs qemu-img snapshot @flag vireo-<op->id> on op->images ("check": qemu-img check -r all), then
 * @after (op->error holds a failure). */
void vireo_checkpoints_snapshot_images (CheckpointOp *op, const char *flag, CheckpointStep after);
/* Removes every doomed checkpoint of the tree, then calls @after. */
void vireo_checkpoints_remove_doomed (CheckpointOp *op, CheckpointStep after);
/* Whether the tree has work left by an interrupted operation. */
gboolean vireo_checkpoints_needs_recovery (VireoMachine *machine);
/* Finishes what an interrupted operation left (machine off or saved), then calls @then with the
 * recovery's operation and returns TRUE; without work, returns FALSE. */
gboolean vireo_checkpoints_recover (VireoMachine *machine, GDBusMethodInvocation *invocation,
                                    CheckpointDone then);
/* Before an operation (once per call): when the tree has interrupted work and the machine is at rest,
 * finishes it and calls @retry with the call again, returning TRUE. */
gboolean vireo_checkpoints_recover_first (VireoMachine *machine, GDBusMethodInvocation *invocation,
                                          RetryFunc retry);

/* machine-checkpoint-copies.c: converts the writable raw disks, then vireo_checkpoints_create_start(). */
void vireo_checkpoints_convert_then_create (CheckpointOp *op);
/* Checkpoint.Export. */
gboolean vireo_checkpoints_handle_export (VireoDBusCheckpoint *iface, GDBusMethodInvocation *invocation,
                                          const char *new_name, VireoMachine *machine);

/* machine-checkpoint-send.c: connects OpenCheckpointArchive. */
void vireo_machine_checkpoint_send_init (VireoMachine *machine);
/* A pipe for an archive, close-on-exec; FALSE with the error returned on @invocation. */
gboolean vireo_checkpoints_make_pipe (GDBusMethodInvocation *invocation, int fds[2]);
/* machine-checkpoint-receive.c: connects ReceiveCheckpointArchive and FinishCheckpointArchive, and
 * removes what an interrupted receive left. */
void vireo_machine_checkpoint_receive_init (VireoMachine *machine);
/* ... and lets go of a receive under way (the machine is gone). */
void vireo_machine_checkpoint_receive_drop (VireoMachine *machine);

G_END_DECLS
