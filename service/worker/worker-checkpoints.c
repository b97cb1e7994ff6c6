/* worker-checkpoints.c — Worker1's checkpoint calls: disk snapshots and the machine's state on a thread, the
 * guest agent's freeze and thaw around them, and applying a checkpoint in place. */
#include "worker-private.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

/* How long the guest agent has to freeze or thaw the guest's file systems (Worker1.CreateCheckpoint). */
#define AGENT_TIMEOUT_MS 5000

/* ---- Checkpoints ---- */

typedef enum
{
  CHECKPOINT_CREATE,
  CHECKPOINT_APPLY,
  CHECKPOINT_DELETE,
} CheckpointKind;

/* One checkpoint operation: on the main loop, the agent's freeze and pausing; on a thread, the disk
 * snapshots and the state (which take as long as the disks and the memory take); on the main loop again,
 * resuming and the agent's thaw, then the answer.  Meanwhile the worker refuses other calls
 * (checkpoint_busy) and defers the VM's end, as during Save. */
typedef struct
{
  VireoWorker *worker;
  GDBusMethodInvocation *invocation;
  CheckpointKind kind;
  char *name;
  int state_dir_fd; /* owned; -1 when none */
  gboolean freeze;  /* asked for */
  gboolean frozen;  /* the agent said it froze the file systems */
  gboolean was_running;
  gboolean paused_after; /* ApplyCheckpoint's "paused" */
  gboolean must_stop;    /* the disks were applied, the machine's state could not be: it must not run */
  gint64 start;          /* when the call came */
  gint64 resumed;        /* when the vCPUs ran again (Apply) */
  GError *error;
} CheckpointOp;

static void
checkpoint_op_free (CheckpointOp *op)
{
  if (op->state_dir_fd >= 0)
    close (op->state_dir_fd);
  g_clear_error (&op->error);
  g_free (op->name);
  g_free (op);
}

static const char *
checkpoint_method (CheckpointKind kind)
{
  switch (kind)
    {
    case CHECKPOINT_CREATE:
      return "CreateCheckpoint";
    case CHECKPOINT_APPLY:
      return "ApplyCheckpoint";
    case CHECKPOINT_DELETE:
      return "DeleteCheckpoint";
    }
  return "";
}

/* The answer, once everything (thawing included) is done; the op is freed. */
static void
checkpoint_finish (CheckpointOp *op)
{
  VireoWorker *worker = op->worker;

  worker->checkpoint_busy = FALSE;
  if (op->error != NULL)
    return_hv_error (op->invocation, op->error);
  else
    switch (op->kind)
      {
      case CHECKPOINT_CREATE:
        {
          g_auto (GVariantDict) result = G_VARIANT_DICT_INIT (NULL);

          /* With its state, a checkpoint is the machine exactly as it was: disks and memory agree. */
          g_variant_dict_insert (&result, "consistency", "s",
                                 op->frozen || op->state_dir_fd >= 0 ? "application" : "crash");
          g_variant_dict_insert (&result, "has-state", "b", op->state_dir_fd >= 0);
          vireo_worker1_complete_create_checkpoint (worker->skeleton, op->invocation, NULL,
                                                    g_variant_dict_end (&result));
          break;
        }
      case CHECKPOINT_APPLY:
        vireo_worker1_complete_apply_checkpoint (worker->skeleton, op->invocation, NULL);
        break;
      case CHECKPOINT_DELETE:
        vireo_worker1_complete_delete_checkpoint (worker->skeleton, op->invocation);
        break;
      }
  g_debug ("%s “%s” took %.1f ms", checkpoint_method (op->kind), op->name,
           (g_get_monotonic_time () - op->start) / 1000.0);
  checkpoint_op_free (op);
  if (worker->exit_deferred)
    {
      worker->exit_deferred = FALSE;
      handle_vm_exit (worker);
    }
}

static void
on_thawed (const HvAgentResult *result, const GError *error, gpointer user_data)
{
  CheckpointOp *op = user_data;

  if (error != NULL)
    g_warning ("the guest agent did not thaw the guest's file systems: %s", error->message);
  checkpoint_finish (op);
}

static void
checkpoint_thread (GTask *task, gpointer source_object, gpointer task_data, GCancellable *cancellable)
{
  CheckpointOp *op = task_data;
  HvVm *vm = op->worker->vm;
  GError *error = NULL;

  /* Only this thread touches the VM meanwhile: the main loop refuses every call but TurnOff, which
   * only asks the vCPUs to end. */
  switch (op->kind)
    {
    case CHECKPOINT_CREATE:
      if (!hv_vm_snapshot_disks (vm, "create", op->name, &error))
        break;
      if (op->state_dir_fd >= 0 && !hv_vm_save (vm, op->state_dir_fd, &error))
        {
          g_autoptr (GError) undo = NULL;

          if (!hv_vm_snapshot_disks (vm, "discard", op->name, &undo))
            g_warning ("cannot delete the disk snapshot “%s” again: %s", op->name, undo->message);
        }
      break;
    case CHECKPOINT_APPLY:
      /* A folder that is not this machine's saved state is refused before the disks change. */
      if (!hv_vm_check_saved (vm, op->state_dir_fd, &error)
          || !hv_vm_snapshot_disks (vm, "apply", op->name, &error))
        break;
      g_debug ("ApplyCheckpoint “%s”: the disks were applied %.3f ms after the call", op->name,
               (g_get_monotonic_time () - op->start) / 1000.0);
      /* The disks are the checkpoint's now: the memory of the present must never run on them. */
      if (!hv_vm_revert (vm, op->state_dir_fd, &error))
        op->must_stop = TRUE;
      else if (!op->paused_after && hv_vm_resume (vm, &error))
        op->resumed = g_get_monotonic_time ();
      break;
    case CHECKPOINT_DELETE:
      hv_vm_snapshot_disks (vm, "discard", op->name, &error);
      break;
    }
  op->error = error;
  g_task_return_boolean (task, TRUE);
}

static void
checkpoint_thread_done (GObject *source_object, GAsyncResult *result, gpointer user_data)
{
  CheckpointOp *op = user_data;
  VireoWorker *worker = op->worker;
  gboolean run;
  g_autoptr (GError) resume_error = NULL;

  if (op->must_stop)
    {
      g_warning ("applying checkpoint “%s” failed after its disks were applied; turning the machine off: %s",
                 op->name, op->error->message);
      worker->stop = STOP_TURN_OFF;
      hv_vm_stop (worker->vm);
      checkpoint_finish (op);
      return;
    }
  if (op->kind == CHECKPOINT_APPLY)
    {
      /* Resumed on the thread already, the moment the state was in place. */
      run = op->error == NULL ? !op->paused_after : op->was_running;
      if (op->error != NULL && run && !hv_vm_resume (worker->vm, &resume_error))
        g_debug ("resuming after the failed apply: %s", resume_error->message);
      if (op->resumed)
        g_debug ("ApplyCheckpoint “%s”: the guest runs again %.3f ms after the call", op->name,
                 (op->resumed - op->start) / 1000.0);
    }
  else
    {
      run = op->was_running;
      if (run && !hv_vm_resume (worker->vm, &resume_error))
        g_debug ("resuming after the checkpoint: %s", resume_error->message);
    }
  set_state (worker, run ? WORKER_RUNNING : WORKER_PAUSED);

  if (op->frozen)
    hv_agent_call (worker->agent_fd, "guest-fsfreeze-thaw", AGENT_TIMEOUT_MS, NULL, on_thawed, op);
  else
    checkpoint_finish (op);
}

/* Pauses the machine (if it runs) and hands the rest to a thread. */
static void
checkpoint_run (CheckpointOp *op)
{
  VireoWorker *worker = op->worker;
  g_autoptr (GTask) task = NULL;

  op->was_running = worker->state == WORKER_RUNNING;
  if (op->was_running && !hv_vm_pause (worker->vm, &op->error))
    {
      checkpoint_finish (op);
      return;
    }
  task = g_task_new (NULL, NULL, checkpoint_thread_done, op);
  g_task_set_task_data (task, op, NULL);
  g_task_run_in_thread (task, checkpoint_thread);
}

static void
on_frozen (const HvAgentResult *result, const GError *error, gpointer user_data)
{
  CheckpointOp *op = user_data;

  /* No agent, or one that cannot freeze: the checkpoint is crash-consistent, and says so. */
  if (error != NULL)
    g_debug ("the guest agent did not freeze the guest's file systems (%s): the checkpoint is "
             "crash-consistent",
             error->message);
  op->frozen = error == NULL;
  if (op->worker->state != WORKER_RUNNING && op->worker->state != WORKER_PAUSED)
    {
      op->error = g_error_new_literal (HV_ERROR, HV_ERROR_INVALID_STATE, "the machine ended meanwhile");
      checkpoint_finish (op);
      return;
    }
  checkpoint_run (op);
}

/* A new operation for a call, or NULL when the call was answered (an error). */
static CheckpointOp *
checkpoint_begin (VireoWorker *worker, GDBusMethodInvocation *invocation, CheckpointKind kind,
                  const char *name, GVariant *options, GUnixFDList *fd_list)
{
  g_autoptr (GVariant) dir = NULL;
  CheckpointOp *op;

  if (!is_active (worker))
    {
      return_not_active (worker, invocation);
      return NULL;
    }
  if (name[0] == '\0')
    {
      return_error (invocation, VIREO_ERROR_INVALID_ARGUMENT, "a checkpoint's disk snapshots need a name");
      return NULL;
    }
  op = g_new0 (CheckpointOp, 1);
  op->worker = worker;
  op->invocation = invocation;
  op->kind = kind;
  op->name = g_strdup (name);
  op->state_dir_fd = -1;
  op->start = g_get_monotonic_time ();
  if (options != NULL)
    {
      g_variant_lookup (options, "freeze", "b", &op->freeze);
      g_variant_lookup (options, "paused", "b", &op->paused_after);
      dir = g_variant_lookup_value (options, "state-dir-fd", G_VARIANT_TYPE_HANDLE);
    }
  if (dir != NULL)
    {
      int handle = g_variant_get_handle (dir);
      int fd = fd_list && handle >= 0 && handle < g_unix_fd_list_get_length (fd_list)
                   ? g_unix_fd_list_get (fd_list, handle, NULL)
                   : -1;

      if (fd < 0)
        {
          return_error (invocation, VIREO_ERROR_INVALID_ARGUMENT, "the “state-dir-fd” folder was not passed");
          checkpoint_op_free (op);
          return NULL;
        }
      op->state_dir_fd = fd;
    }
  if (kind == CHECKPOINT_APPLY && op->state_dir_fd < 0)
    {
      return_error (invocation, VIREO_ERROR_INVALID_ARGUMENT,
                    "applying a checkpoint in place needs its state (option “state-dir-fd”)");
      checkpoint_op_free (op);
      return NULL;
    }
  worker->checkpoint_busy = TRUE;
  return op;
}

gboolean
handle_create_checkpoint (VireoWorker1 *skeleton, GDBusMethodInvocation *invocation, GUnixFDList *fd_list,
                          const char *name, GVariant *options, VireoWorker *worker)
{
  CheckpointOp *op = checkpoint_begin (worker, invocation, CHECKPOINT_CREATE, name, options, fd_list);

  if (op == NULL)
    return TRUE;
  /* A paused guest cannot answer its agent: its checkpoint is crash-consistent (unless it has state). */
  if (op->freeze && worker->agent_fd >= 0 && worker->state == WORKER_RUNNING)
    hv_agent_call (worker->agent_fd, "guest-fsfreeze-freeze", AGENT_TIMEOUT_MS, NULL, on_frozen, op);
  else
    checkpoint_run (op);
  return TRUE;
}

gboolean
handle_apply_checkpoint (VireoWorker1 *skeleton, GDBusMethodInvocation *invocation, GUnixFDList *fd_list,
                         const char *name, GVariant *options, VireoWorker *worker)
{
  CheckpointOp *op = checkpoint_begin (worker, invocation, CHECKPOINT_APPLY, name, options, fd_list);

  if (op != NULL)
    checkpoint_run (op);
  return TRUE;
}

gboolean
handle_delete_checkpoint (VireoWorker1 *skeleton, GDBusMethodInvocation *invocation, const char *name,
                          VireoWorker *worker)
{
  CheckpointOp *op = checkpoint_begin (worker, invocation, CHECKPOINT_DELETE, name, NULL, NULL);

  if (op != NULL)
    checkpoint_run (op);
  return TRUE;
}
