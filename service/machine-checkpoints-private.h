/* machine-checkpoints-private.h — what machine-checkpoints.c (the tree on D-Bus: create, apply, delete,
 * recovery) and machine-checkpoint-copies.c (qemu-img convert of checkpoint disks: Export, convert-raw)
 * share: a checkpoint operation in flight and the checks both make. */
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

/* Marks the machine busy with @what (one checkpoint or disk operation at a time) until freed. */
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
/* Whether a checkpoint operation may start now; InvalidState (or NotFound) otherwise. */
gboolean vireo_checkpoints_check_can_operate (VireoMachine *machine, GDBusMethodInvocation *invocation,
                                              GError **error);
/* The checkpoint a call on its object is for, or NULL with NotFound returned. */
VireoCheckpoint *vireo_checkpoints_require (VireoMachine *machine, GDBusMethodInvocation *invocation);
/* The definition checkpoint @id was taken with (its UUID the machine's). */
VireoMachineConfig *vireo_checkpoints_load_definition (VireoMachine *machine, const char *id, GError **error);
/* The identity qemu-img takes for image @path opened as @fd (see machine-checkpoints.c). */
gboolean vireo_checkpoints_qemu_img_identity (VireoMachine *machine, const char *path, int fd,
                                              VireoIdentity *identity, GError **error);
/* Opens the machine's image @path as vireo_machine_config_open_image() does, blocking (qemu-img gets it);
 * -1 with @error (its code from errno, which stays set) otherwise. */
int vireo_checkpoints_open_image (VireoMachine *machine, const char *path, int flags, GError **error);
/* The first writable raw disk, which checkpoints cannot cover, or NULL. */
const VireoDiskConfig *vireo_checkpoints_find_writable_raw (const VireoMachineConfig *config);
/* Takes the checkpoint op->name of kind op->kind (taking @op). */
void vireo_checkpoints_create_start (CheckpointOp *op);

/* machine-checkpoint-copies.c: converts the writable raw disks, then vireo_checkpoints_create_start(). */
void vireo_checkpoints_convert_then_create (CheckpointOp *op);
/* Checkpoint.Export. */
gboolean vireo_checkpoints_handle_export (VireoDBusCheckpoint *iface, GDBusMethodInvocation *invocation,
                                          const char *new_name, VireoMachine *machine);

G_END_DECLS
