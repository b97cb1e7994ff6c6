/* machine-checkpoint-recovery.c — checkpoint work on a machine at rest: qemu-img on each writable image
 * in turn (snapshot, or check -r all to repair one a step was killed on), removing doomed checkpoints,
 * and finishing what an interrupted operation left before the next one (see machine-checkpoints.c). */
#include "image-info.h"
#include "machine-checkpoints-private.h"
#include "qemu-img.h"
#include "vireo-error.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

/* ---- qemu-img on each image, one after the other (machine off or saved) ---- */

int
vireo_checkpoints_open_image (VireoMachine *machine, const char *path, int flags, GError **error)
{
  int fd = vireo_machine_config_open_image (machine->config, path, flags);
  int errsv;

  if (fd >= 0 && fcntl (fd, F_SETFL, 0) == 0)
    return fd;
  errsv = errno;
  if (fd >= 0)
    close (fd);
  g_set_error (error, VIREO_ERROR, vireo_error_code_for_errno (errsv), "cannot open the disk image %s: %s",
               path, g_strerror (errsv));
  errno = errsv;
  return -1;
}

/* The identity qemu-img takes for the image @path, opened as @fd: the owner of the machine's files, or
 * for an image of vireod's own folder vireod itself.  In system mode vireod is root, and qemu-img opens
 * whatever an image's header names: so an image of vireod's must name nothing (no backing file, no
 * external data file), or a header rewritten by someone who kept a descriptor could make root read
 * /etc/shadow into a disk. */
gboolean
vireo_checkpoints_qemu_img_identity (VireoMachine *machine, const char *path, int fd, VireoIdentity *identity,
                                     GError **error)
{
  HvImageInfo info;
  guint8 header[80];
  guint32 version = 0;
  guint64 incompatible = 0;

  if (!vireo_machine_config_in_own_folder (machine->config, path))
    {
      if (!vireo_identity_init (identity, machine->config->files_uid))
        {
          g_set_error (error, VIREO_ERROR, VIREO_ERROR_PERMISSION_DENIED,
                       "the owner of “%s”'s files has no usable identity", machine->config->name);
          return FALSE;
        }
      return TRUE;
    }
  vireo_identity_init (identity, VIREO_OWN_UID);
  if (machine->daemon->mode != VIREO_MODE_SYSTEM)
    return TRUE;
  if (pread (fd, header, sizeof header, 0) == (ssize_t) sizeof header)
    {
      memcpy (&version, header + 4, sizeof version);
      memcpy (&incompatible, header + 72, sizeof incompatible);
    }
  /* Incompatible feature bit 2 of a version 3 header: an external data file. */
  if (!hv_image_info_read (fd, &info, NULL) || !info.qcow2 || info.backing != NULL
      || GUINT32_FROM_BE (version) < 2
      || (GUINT32_FROM_BE (version) >= 3 && (GUINT64_FROM_BE (incompatible) & (1u << 2)) != 0))
    {
      hv_image_info_clear (&info);
      g_set_error (error, VIREO_ERROR, VIREO_ERROR_INVALID_ARGUMENT,
                   "%s is no longer the self-contained qcow2 image the service made (it names another file)",
                   path);
      return FALSE;
    }
  hv_image_info_clear (&info);
  return TRUE;
}

static void run_next_image (CheckpointOp *op);

/* How often and how long an image another process still holds is tried again: the qemu-img of a vireod
 * that was killed finishes its step (see run_next_image), and a worker that was killed lets go a moment
 * after.  100 ms doubling up to 2 s: about 13 s in all. */
#define LOCK_TRIES_MAX    10
#define LOCK_DELAY_MS     100
#define LOCK_DELAY_MAX_MS 2000

static gboolean
run_image_again (gpointer data)
{
  run_next_image (data);
  return G_SOURCE_REMOVE;
}

/* Whether qemu-img failed because another process has the image open for writing (QEMU's lock). */
static gboolean
is_lock_error (const GError *error)
{
  return strstr (error->message, "Failed to get") != NULL && strstr (error->message, "lock") != NULL;
}

static void
on_image_done (GObject *source, GAsyncResult *result, gpointer data)
{
  CheckpointOp *op = data;
  g_autoptr (GError) error = NULL;
  const char *path = g_ptr_array_index (op->images, op->next_image);
  gboolean repair = strcmp (op->snapshot_flag, "check") == 0;

  if (!vireo_qemu_img_run_finish (result, &error) && is_lock_error (error) && op->lock_tries < LOCK_TRIES_MAX)
    {
      /* The main loop goes on meanwhile; calls for the machine wait (recovery) or find it busy. */
      guint delay = MIN (LOCK_DELAY_MS << op->lock_tries, LOCK_DELAY_MAX_MS);
      if (op->lock_tries++ == 0)
        g_message ("%s: disk image %s is still in use by another process; trying again",
                   op->machine->config->name, path);
      g_timeout_add (delay, run_image_again, op);
      return;
    }
  op->lock_tries = 0;
  if (error != NULL && repair)
    {
      /* What could not be repaired shows in the step that follows, which needs the image too. */
      g_message ("%s: cannot check and repair the disk image %s: %s", op->machine->config->name, path,
                 error->message);
      g_clear_error (&error);
    }
  if (error != NULL)
    {
      /* Deleting what is not there is done. */
      gboolean missing = strcmp (op->snapshot_flag, "-d") == 0
                         && strstr (error->message, "not found") != NULL;
      if (!missing && op->error == NULL)
        {
          op->error = g_error_new (VIREO_ERROR, error->code, "disk image %s: %s", path, error->message);
          /* Creating stops at the first failure; deleting goes on with the rest. */
          if (strcmp (op->snapshot_flag, "-d") != 0)
            op->next_image = op->images->len;
        }
    }
  op->next_image++;
  if (op->images->len > 0)
    vireo_dbus_machine_emit_checkpoint_progress (op->machine->iface, op->what,
                                                 MIN (1.0, (double) op->next_image / op->images->len));
  run_next_image (op);
}

static void
run_next_image (CheckpointOp *op)
{
  g_autofree char *name = vireo_checkpoints_snapshot_name (op->id);
  const char *path;
  VireoIdentity identity;
  int fd;
  g_autoptr (GError) open_error = NULL;

  if (op->next_image >= op->images->len)
    {
      op->after_images (op);
      return;
    }
  path = g_ptr_array_index (op->images, op->next_image);
  fd = vireo_checkpoints_open_image (op->machine, path, O_RDWR, &open_error);
  if (fd < 0 && strcmp (op->snapshot_flag, "check") == 0)
    {
      if (errno != ENOENT)
        g_message ("%s: cannot check the disk image: %s", op->machine->config->name, open_error->message);
      op->next_image++;
      run_next_image (op);
      return;
    }
  if (fd < 0)
    {
      /* An image that is gone has no snapshot to delete. */
      if (strcmp (op->snapshot_flag, "-d") != 0 || errno != ENOENT)
        {
          if (op->error == NULL)
            op->error = g_steal_pointer (&open_error);
          if (strcmp (op->snapshot_flag, "-d") != 0)
            op->next_image = op->images->len;
        }
      op->next_image++;
      run_next_image (op);
      return;
    }
  /* As its owner: whatever the image's header names is opened with their rights, not vireod's. */
  {
    g_autoptr (GError) error = NULL;
    if (!vireo_checkpoints_qemu_img_identity (op->machine, path, fd, &identity, &error))
      {
        close (fd);
        if (strcmp (op->snapshot_flag, "check") == 0)
          {
            g_message ("%s: %s", op->machine->config->name, error->message);
            op->next_image++;
            run_next_image (op);
            return;
          }
        if (op->error == NULL)
          op->error = g_steal_pointer (&error);
        if (strcmp (op->snapshot_flag, "-d") != 0)
          op->next_image = op->images->len;
        op->next_image++;
        run_next_image (op);
        return;
      }
  }
  /* A qcow2 internal snapshot step is not atomic (refcounts are written before the snapshot table and
   * the L2 tables' COPIED flags): killed halfway, it leaves an image qemu-img check calls corrupt.  So
   * it runs to its end even when vireod is killed; the recovery that follows waits for its lock. */
  identity.outlive_parent = TRUE;
  if (strcmp (op->snapshot_flag, "check") == 0)
    {
      const char *argv[] = { op->qemu_img, "check", "-r", "all", "/proc/self/fd/3", NULL };
      vireo_qemu_img_run_async (argv, fd, &identity, NULL, NULL, op->machine->disk_cancellable, on_image_done,
                                op);
      return;
    }
  {
    const char *argv[] = { op->qemu_img, "snapshot", op->snapshot_flag, name, "/proc/self/fd/3", NULL };
    vireo_qemu_img_run_async (argv, fd, &identity, NULL, NULL, op->machine->disk_cancellable, on_image_done,
                              op);
  }
}

/* Runs qemu-img snapshot @flag vireo-<id> on op->images, then @after (op->error holds a failure). */
void
vireo_checkpoints_snapshot_images (CheckpointOp *op, const char *flag, CheckpointStep after)
{
  op->snapshot_flag = flag;
  op->next_image = 0;
  op->lock_tries = 0;
  op->after_images = after;
  if (op->images->len > 0 && op->qemu_img == NULL)
    {
      op->qemu_img = vireo_qemu_img_find (op->error == NULL ? &op->error : NULL);
      if (op->qemu_img == NULL)
        {
          after (op);
          return;
        }
    }
  if (op->machine->disk_cancellable == NULL)
    op->machine->disk_cancellable = g_cancellable_new ();
  run_next_image (op);
}

/* Repairs every writable qcow2 image of the machine (qemu-img check -r all), then calls @after.  An
 * interrupted snapshot step leaves refcounts out of step with the snapshot table and the COPIED flags
 * of the L1/L2 tables; a cluster flagged COPIED with a refcount of 2 would be written in place by the
 * next write, changing a snapshot's data: the image is repaired before anything writes to it again.
 * Failures are logged; the step after it needs the image too and says what is wrong. */
static void
repair_images (CheckpointOp *op, CheckpointStep after)
{
  const VireoMachineConfig *config = op->machine->config;

  g_ptr_array_set_size (op->images, 0);
  for (guint i = 0; i < config->disks->len; i++)
    {
      const VireoDiskConfig *disk = g_ptr_array_index (config->disks, i);
      gboolean known = FALSE;

      if (disk->readonly || strcmp (disk->device, "disk") != 0 || *disk->path == '\0'
          || strcmp (disk->format, "qcow2") != 0)
        continue;
      for (guint j = 0; j < op->images->len; j++)
        known |= strcmp (g_ptr_array_index (op->images, j), disk->path) == 0;
      if (!known)
        g_ptr_array_add (op->images, g_strdup (disk->path));
    }
  vireo_checkpoints_snapshot_images (op, "check", after);
}

/* ---- removing doomed checkpoints: their snapshots, their folder, then the journal entry ---- */

static void remove_next_doomed (CheckpointOp *op);

static void
doomed_removed (CheckpointOp *op)
{
  const char *id = g_ptr_array_index (op->doomed, op->next_doomed);
  g_autoptr (GError) error = NULL;

  if (op->error != NULL)
    {
      /* Kept in the journal: tried again before the next operation. */
      g_message ("%s: cannot remove the disk snapshots of checkpoint %s yet: %s", op->machine->config->name,
                 id, op->error->message);
      g_clear_error (&op->error);
    }
  else if (!vireo_checkpoint_tree_remove_folder (op->machine->checkpoints, id, &error))
    g_message ("%s: %s", op->machine->config->name, error->message);
  else
    vireo_checkpoint_tree_forget_doomed (op->machine->checkpoints, id);
  op->next_doomed++;
  remove_next_doomed (op);
}

static void
on_worker_deleted (GObject *source, GAsyncResult *result, gpointer data)
{
  CheckpointOp *op = data;
  g_autoptr (GError) error = NULL;

  if (!vireo_worker1_call_delete_checkpoint_finish (VIREO_WORKER1 (source), result, &error))
    {
      g_dbus_error_strip_remote_error (error);
      op->error = g_steal_pointer (&error);
    }
  doomed_removed (op);
}

static void
remove_next_doomed (CheckpointOp *op)
{
  VireoMachine *machine = op->machine;
  g_autoptr (GError) error = NULL;
  const char *id;

  if (op->next_doomed >= op->doomed->len)
    {
      if (!vireo_checkpoints_save_tree (machine, &error))
        g_message ("%s: %s", machine->config->name, error->message);
      op->after_doomed (op);
      return;
    }
  id = g_ptr_array_index (op->doomed, op->next_doomed);
  if (is_active (machine))
    {
      g_autofree char *name = vireo_checkpoints_snapshot_name (id);
      vireo_worker1_call_delete_checkpoint (machine->worker, name, machine->cancellable, on_worker_deleted,
                                            op);
      return;
    }
  /* Every image the machine or the checkpoint ever named: the definition may have changed since. */
  g_ptr_array_set_size (op->images, 0);
  vireo_checkpoints_add_writable_images (op->images, machine->config);
  {
    g_autoptr (VireoMachineConfig) definition = vireo_checkpoints_load_definition (machine, id, NULL);
    vireo_checkpoints_add_writable_images (op->images, definition);
  }
  g_free (op->id);
  op->id = g_strdup (id);
  vireo_checkpoints_snapshot_images (op, "-d", doomed_removed);
}

/* Removes every doomed checkpoint of the tree, then calls @after. */
void
vireo_checkpoints_remove_doomed (CheckpointOp *op, CheckpointStep after)
{
  g_ptr_array_set_size (op->doomed, 0);
  for (guint i = 0; i < op->machine->checkpoints->doomed->len; i++)
    g_ptr_array_add (op->doomed, g_strdup (g_ptr_array_index (op->machine->checkpoints->doomed, i)));
  op->next_doomed = 0;
  op->after_doomed = after;
  remove_next_doomed (op);
}

/* ---- recovery: an apply to finish, doomed checkpoints to remove ---- */

static void
recover_doomed_done (CheckpointOp *op)
{
  if (op->then != NULL)
    op->then (op, NULL);
  vireo_checkpoint_op_free (op);
}

static void
recover_applied (CheckpointOp *op, GError *error)
{
  CheckpointOp *next;

  if (error != NULL)
    {
      g_message ("%s: cannot finish the interrupted apply: %s", op->machine->config->name, error->message);
      if (op->then != NULL)
        op->then (op, error);
      return;
    }
  next = vireo_checkpoint_op_new (op->machine, op->invocation, "recover");
  next->then = op->then;
  vireo_checkpoints_remove_doomed (next, recover_doomed_done);
}

/* Whether the tree has work left by an interrupted operation. */
gboolean
vireo_checkpoints_needs_recovery (VireoMachine *machine)
{
  return *machine->checkpoints->applying != '\0' || machine->checkpoints->doomed->len > 0;
}

/* Dooms the checkpoint snapshots ("vireo-<id>") the tree does not name on the machine's own images (those
 * in its folder: only this machine uses them; an image elsewhere may be another machine's too). */
static void
doom_untracked_snapshots (VireoMachine *machine)
{
  for (guint i = 0; i < machine->config->disks->len; i++)
    {
      const VireoDiskConfig *disk = g_ptr_array_index (machine->config->disks, i);
      g_autoptr (GPtrArray) ids = NULL;
      g_autoptr (GError) error = NULL;
      int fd;

      if (*disk->path == '\0' || strcmp (disk->device, "disk") != 0
          || !vireo_machine_config_in_own_folder (machine->config, disk->path))
        continue;
      fd = vireo_machine_config_open_image (machine->config, disk->path, O_RDONLY);
      if (fd < 0)
        continue;
      ids = vireo_checkpoint_disk_snapshot_ids (fd, &error);
      close (fd);
      if (ids == NULL)
        {
          g_message ("%s: %s: %s", machine->config->name, disk->path, error->message);
          continue;
        }
      for (guint j = 0; j < ids->len; j++)
        {
          const char *id = g_ptr_array_index (ids, j);
          if (vireo_checkpoint_tree_find (machine->checkpoints, id) == NULL)
            {
              g_message ("%s: %s has a checkpoint snapshot no checkpoint names (%s); removing it",
                         machine->config->name, disk->path, id);
              vireo_checkpoint_tree_doom (machine->checkpoints, id);
            }
        }
    }
}

/* Once the images are repaired: the interrupted apply again, or the doomed checkpoints removed. */
static void
recover_repaired (CheckpointOp *op)
{
  VireoMachine *machine = op->machine;

  if (*machine->checkpoints->applying != '\0')
    {
      g_message ("%s: finishing the interrupted apply of checkpoint %s", machine->config->name,
                 machine->checkpoints->applying);
      g_free (op->id);
      op->id = g_strdup (machine->checkpoints->applying);
      op->done = recover_applied;
      vireo_checkpoints_apply_offline (op);
      return;
    }
  vireo_checkpoints_remove_doomed (op, recover_doomed_done);
}

/* Finishes what an interrupted operation left (machine off or saved), then calls @then with the
 * recovery's operation (its invocation the caller's) and returns TRUE; without work, returns FALSE. */
gboolean
vireo_checkpoints_recover (VireoMachine *machine, GDBusMethodInvocation *invocation, CheckpointDone then)
{
  CheckpointOp *op;
  g_autoptr (GError) error = NULL;

  if (!vireo_checkpoint_tree_remove_strays (machine->checkpoints, &error))
    g_message ("%s: %s", machine->config->name, error->message);
  if (is_active (machine))
    return FALSE;
  doom_untracked_snapshots (machine);
  if (!vireo_checkpoints_needs_recovery (machine))
    return FALSE;
  op = vireo_checkpoint_op_new (machine, invocation, "recover");
  op->then = then;
  repair_images (op, recover_repaired);
  return TRUE;
}

/* An operation asked for while interrupted work was left: that work first, then the call again. */

static void
retry_after_recovery (CheckpointOp *recovery, GError *error)
{
  g_autoptr (GDBusMethodInvocation) invocation = g_steal_pointer (&recovery->invocation);
  RetryFunc retry = g_object_get_data (G_OBJECT (invocation), "vireo-checkpoint-retry");

  /* The call goes on all the same: deleting the checkpoint whose apply cannot be finished, or applying
   * another one, is the way out (Start alone refuses until then). */
  if (error != NULL)
    g_message ("%s: going on without finishing the interrupted work", recovery->machine->config->name);
  vireo_checkpoint_op_release_machine (recovery);
  retry (recovery->machine, invocation);
}

/* Before an operation (once per call): when the tree has interrupted work and the machine is at rest,
 * finishes it and calls @retry with the call again, returning TRUE. */
gboolean
vireo_checkpoints_recover_first (VireoMachine *machine, GDBusMethodInvocation *invocation, RetryFunc retry)
{
  if (g_object_get_data (G_OBJECT (invocation), "vireo-checkpoint-recovered") != NULL)
    return FALSE;
  g_object_set_data (G_OBJECT (invocation), "vireo-checkpoint-recovered", GINT_TO_POINTER (TRUE));
  g_object_set_data (G_OBJECT (invocation), "vireo-checkpoint-retry", retry);
  return vireo_checkpoints_recover (machine, invocation, retry_after_recovery);
}
