/* machine-checkpoints.c — a machine's checkpoints through D-Bus: Machine.CreateCheckpoint and
 * CurrentCheckpoint, and the org.vireo.Vireo1.Checkpoint objects (Apply, Delete, Rename; Export and
 * convert-raw are machine-checkpoint-copies.c), on top of the tree store (checkpoints.h).
 *
 * Disk data are qcow2 internal snapshots "vireo-<id>" on every writable disk.  While the machine is off
 * or saved, vireod takes, applies and deletes them with qemu-img (as the owner of the machine's files,
 * on the image opened with their rights as fd 3, the way ResizeDisk runs it); while it runs or is
 * paused, the images are the worker's, and the worker does it (Worker1.CreateCheckpoint,
 * ApplyCheckpoint, DeleteCheckpoint).  One checkpoint or disk operation runs at a time per machine
 * (machine->disk_operation), and the machine does not start meanwhile.
 *
 * Crash safety (kill -9 at any moment): tree.ini is the truth, and its journal keys say what to finish.
 *  create: the id is "doomed" in tree.ini first; the folder is written as <id>.tmp, the snapshots are
 *          taken, the folder renamed to <id>, then tree.ini gets the node (no longer doomed).
 *  apply:  tree.ini records applying=<id>; disks applied; state linked; definition stored; then tree.ini
 *          records Now under <id> without the key.  A key found at load is applied again.
 *  delete: tree.ini loses the node (the id doomed), then the snapshots and folder go, then the id.
 * Doomed ids and stray folders are cleaned up when the machine is loaded off or saved, after its worker
 * ended, and before the next operation or start.  That recovery first repairs each writable qcow2 image
 * (qemu-img check -r all): a qcow2 snapshot step is not atomic, and one killed halfway (qemu-img, or the
 * worker) leaves refcounts and COPIED flags out of step.  qemu-img steps are not killed with vireod (they
 * finish, which narrows that window); an image still locked by another process is tried again.
 */
#include "machine-checkpoints-private.h"
#include "image-info.h"
#include "qemu-img.h"
#include "vireo-error.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <gio/gunixfdlist.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

CheckpointOp *
vireo_checkpoint_op_new (VireoMachine *machine, GDBusMethodInvocation *invocation, const char *what)
{
  CheckpointOp *op = g_new0 (CheckpointOp, 1);

  op->machine = g_object_ref (machine);
  op->invocation = invocation ? g_object_ref (invocation) : NULL;
  op->what = what;
  op->images = g_ptr_array_new_with_free_func (g_free);
  op->doomed = g_ptr_array_new_with_free_func (g_free);
  /* The machine is busy for whichever operation came last; a chained one takes it over. */
  machine->disk_operation = OPERATION_NAME;
  machine->checkpoint_op = op;
  return op;
}

/* A call that came while vireod was finishing interrupted work: it waits rather than being refused,
 * since nobody asked for that work (a script's first call after a restart of vireod would fail). */
typedef struct
{
  RetryFunc func;
  GDBusMethodInvocation *invocation; /* NULL: an unattended start */
} WaitingCall;

static gboolean
run_waiting_calls (gpointer data)
{
  VireoMachine *machine = data;
  GList *calls = g_steal_pointer (&machine->checkpoint_waiting);

  for (GList *l = calls; l != NULL; l = l->next)
    {
      WaitingCall *call = l->data;
      call->func (machine, call->invocation);
      g_clear_object (&call->invocation);
      g_free (call);
    }
  g_list_free (calls);
  return G_SOURCE_REMOVE;
}

/* The machine is no longer busy with @op (and may start). */
static void
release_machine (CheckpointOp *op)
{
  if (op->machine->checkpoint_op == op)
    {
      op->machine->checkpoint_op = NULL;
      op->machine->disk_operation = NULL;
      if (op->machine->checkpoint_waiting != NULL)
        g_idle_add_full (G_PRIORITY_DEFAULT, run_waiting_calls, g_object_ref (op->machine), g_object_unref);
    }
}

/* While recovery runs, queues the call (@func again with @invocation) and returns TRUE. */
gboolean
vireo_checkpoints_wait_for_recovery (VireoMachine *machine, GDBusMethodInvocation *invocation, RetryFunc func)
{
  CheckpointOp *busy = machine->checkpoint_op;
  WaitingCall *call;

  if (busy == NULL || strcmp (busy->what, "recover") != 0)
    return FALSE;
  call = g_new0 (WaitingCall, 1);
  call->func = func;
  call->invocation = invocation ? g_object_ref (invocation) : NULL;
  machine->checkpoint_waiting = g_list_append (machine->checkpoint_waiting, call);
  return TRUE;
}

static void
take_machine (CheckpointOp *op)
{
  op->machine->disk_operation = OPERATION_NAME;
  op->machine->checkpoint_op = op;
}

void
vireo_checkpoint_op_free (CheckpointOp *op)
{
  release_machine (op);
  g_object_unref (op->machine);
  g_clear_object (&op->invocation);
  g_free (op->id);
  g_clear_pointer (&op->checkpoint, vireo_checkpoint_free);
  g_clear_pointer (&op->definition, vireo_machine_config_free);
  g_ptr_array_unref (op->images);
  g_ptr_array_unref (op->doomed);
  g_clear_pointer (&op->copies, g_ptr_array_unref);
  g_free (op->qemu_img);
  g_clear_error (&op->error);
  g_clear_error (&op->cause);
  g_free (op->kind);
  g_free (op->name);
  g_free (op);
}

/* Replies with @error (or logs it without a caller) and ends the operation. */
void
vireo_checkpoint_op_fail (CheckpointOp *op, const GError *error)
{
  if (op->done != NULL)
    op->done (op, (GError *) error);
  else if (op->invocation != NULL)
    g_dbus_method_invocation_return_gerror (op->invocation, error);
  else
    g_message ("%s: checkpoint %s: %s", op->machine->config->name, op->what, error->message);
  vireo_checkpoint_op_free (op);
}

void
vireo_checkpoint_op_fail_literal (CheckpointOp *op, VireoError code, const char *message)
{
  g_autoptr (GError) error = g_error_new_literal (VIREO_ERROR, code, message);
  vireo_checkpoint_op_fail (op, error);
}

/* ---- objects ---- */

static char *
checkpoint_path (VireoMachine *machine, const char *id)
{
  g_autofree char *machine_path = vireo_machine_object_path (machine->config->uuid);
  return g_strconcat (machine_path, "/checkpoints/", id, NULL);
}

static char *
parent_path (VireoMachine *machine, const char *parent)
{
  return *parent == '\0' ? g_strdup ("/") : checkpoint_path (machine, parent);
}

static VireoDBusCheckpoint *
find_iface (VireoMachine *machine, const char *id)
{
  VireoDBusObjectSkeleton *object = g_hash_table_lookup (machine->checkpoint_objects, id);
  return object != NULL ? vireo_dbus_object_get_checkpoint (VIREO_DBUS_OBJECT (object)) : NULL;
}

static void publish_checkpoint (VireoMachine *machine, const VireoCheckpoint *checkpoint);

/* Properties of every object and CurrentCheckpoint from the tree; objects for new ids, none for gone. */
static void
publish_tree (VireoMachine *machine)
{
  GHashTableIter iter;
  gpointer key;
  g_autofree char *current = NULL;

  g_hash_table_iter_init (&iter, machine->checkpoint_objects);
  while (g_hash_table_iter_next (&iter, &key, NULL))
    if (vireo_checkpoint_tree_find (machine->checkpoints, key) == NULL)
      {
        g_autofree char *path = checkpoint_path (machine, key);
        g_dbus_object_manager_server_unexport (machine->daemon->object_manager, path);
        g_hash_table_iter_remove (&iter);
      }
  for (guint i = 0; i < machine->checkpoints->nodes->len; i++)
    publish_checkpoint (machine, g_ptr_array_index (machine->checkpoints->nodes, i));
  current = parent_path (machine, machine->checkpoints->current);
  vireo_dbus_machine_set_current_checkpoint (machine->iface, current);
  g_dbus_interface_skeleton_flush (G_DBUS_INTERFACE_SKELETON (machine->iface));
}

static gboolean handle_apply (VireoDBusCheckpoint *iface, GDBusMethodInvocation *invocation,
                              GVariant *options, VireoMachine *machine);
static gboolean handle_delete (VireoDBusCheckpoint *iface, GDBusMethodInvocation *invocation,
                               gboolean subtree, VireoMachine *machine);
static gboolean handle_rename (VireoDBusCheckpoint *iface, GDBusMethodInvocation *invocation,
                               const char *name, VireoMachine *machine);

static void
publish_checkpoint (VireoMachine *machine, const VireoCheckpoint *checkpoint)
{
  g_autoptr (VireoDBusCheckpoint) iface = find_iface (machine, checkpoint->id);
  g_autofree char *parent = parent_path (machine, checkpoint->parent);

  if (iface == NULL)
    {
      g_autofree char *path = checkpoint_path (machine, checkpoint->id);
      g_autofree char *machine_path = vireo_machine_object_path (machine->config->uuid);
      VireoDBusObjectSkeleton *object = vireo_dbus_object_skeleton_new (path);

      iface = vireo_dbus_checkpoint_skeleton_new ();
      vireo_dbus_checkpoint_set_machine (iface, machine_path);
      g_signal_connect (iface, "handle-apply", G_CALLBACK (handle_apply), machine);
      g_signal_connect (iface, "handle-delete", G_CALLBACK (handle_delete), machine);
      g_signal_connect (iface, "handle-rename", G_CALLBACK (handle_rename), machine);
      g_signal_connect (iface, "handle-export", G_CALLBACK (vireo_checkpoints_handle_export), machine);
      vireo_dbus_object_skeleton_set_checkpoint (object, iface);
      g_hash_table_insert (machine->checkpoint_objects, g_strdup (checkpoint->id), object);
      vireo_dbus_checkpoint_set_name (iface, checkpoint->name);
      vireo_dbus_checkpoint_set_parent (iface, parent);
      vireo_dbus_checkpoint_set_created (iface, (guint64) checkpoint->created);
      vireo_dbus_checkpoint_set_kind (iface, checkpoint->kind);
      vireo_dbus_checkpoint_set_has_state (iface, checkpoint->has_state);
      vireo_dbus_checkpoint_set_consistency (iface, checkpoint->consistency);
      g_dbus_object_manager_server_export (machine->daemon->object_manager, G_DBUS_OBJECT_SKELETON (object));
      return;
    }
  if (g_strcmp0 (vireo_dbus_checkpoint_get_name (iface), checkpoint->name) != 0)
    vireo_dbus_checkpoint_set_name (iface, checkpoint->name);
  if (g_strcmp0 (vireo_dbus_checkpoint_get_parent (iface), parent) != 0)
    vireo_dbus_checkpoint_set_parent (iface, parent);
  g_dbus_interface_skeleton_flush (G_DBUS_INTERFACE_SKELETON (iface));
}

/* The checkpoint a call on one of the objects is for, or NULL with NotFound returned. */
VireoCheckpoint *
vireo_checkpoints_require (VireoMachine *machine, GDBusMethodInvocation *invocation)
{
  const char *path = g_dbus_method_invocation_get_object_path (invocation);
  const char *id = strrchr (path, '/') + 1;
  VireoCheckpoint *checkpoint = machine->checkpoints ? vireo_checkpoint_tree_find (machine->checkpoints, id)
                                                     : NULL;

  if (checkpoint == NULL)
    vireo_machine_return_error (invocation, VIREO_ERROR_NOT_FOUND, "“%s” has no checkpoint %s",
                                machine->config->name, id);
  return checkpoint;
}

/* ---- the tree on disk ---- */

static gboolean
save_tree (VireoMachine *machine, GError **error)
{
  return vireo_checkpoint_tree_save (machine->checkpoints, error);
}

static char *
snapshot_name (const char *id)
{
  return g_strconcat (VIREO_CHECKPOINT_SNAPSHOT_PREFIX, id, NULL);
}

/* The images checkpoints cover: writable disks (not CD-ROMs, not read-only, with a file). */
static void
add_writable_images (GPtrArray *images, const VireoMachineConfig *config)
{
  for (guint i = 0; config != NULL && i < config->disks->len; i++)
    {
      const VireoDiskConfig *disk = g_ptr_array_index (config->disks, i);
      gboolean known = FALSE;

      if (disk->readonly || strcmp (disk->device, "disk") != 0 || *disk->path == '\0')
        continue;
      for (guint j = 0; j < images->len; j++)
        known |= strcmp (g_ptr_array_index (images, j), disk->path) == 0;
      if (!known)
        g_ptr_array_add (images, g_strdup (disk->path));
    }
}

/* The first writable raw disk, which checkpoints cannot cover. */
const VireoDiskConfig *
vireo_checkpoints_find_writable_raw (const VireoMachineConfig *config)
{
  for (guint i = 0; i < config->disks->len; i++)
    {
      const VireoDiskConfig *disk = g_ptr_array_index (config->disks, i);
      if (!disk->readonly && strcmp (disk->device, "disk") == 0 && *disk->path != '\0'
          && strcmp (disk->format, "qcow2") != 0)
        return disk;
    }
  return NULL;
}

/* The definition a checkpoint was taken with. */
VireoMachineConfig *
vireo_checkpoints_load_definition (VireoMachine *machine, const char *id, GError **error)
{
  g_autofree char *folder = vireo_checkpoint_tree_folder (machine->checkpoints, id);
  g_autofree char *path = g_build_filename (folder, "definition.xml", NULL);
  g_autofree char *xml = NULL;

  /* A create that did not finish left it in the temporary folder (for its doomed snapshots). */
  if (!g_file_test (path, G_FILE_TEST_EXISTS))
    {
      g_autofree char *temp = vireo_checkpoint_tree_temp_folder (machine->checkpoints, id);
      g_free (path);
      path = g_build_filename (temp, "definition.xml", NULL);
    }
  g_autoptr (GError) local = NULL;
  VireoMachineConfig *config;

  if (!g_file_get_contents (path, &xml, NULL, &local))
    {
      g_set_error (error, VIREO_ERROR, VIREO_ERROR_FAILED, "the checkpoint's definition is unreadable: %s",
                   local->message);
      return NULL;
    }
  config = vireo_machine_config_new_from_xml (xml, error);
  if (config == NULL)
    return NULL;
  /* The machine is the same machine: its UUID. */
  g_free (config->uuid);
  config->uuid = g_strdup (machine->config->uuid);
  return config;
}

static gboolean
write_definition (const char *folder, const VireoMachineConfig *config, GError **error)
{
  g_autofree char *xml = vireo_machine_config_to_xml (config);
  g_autofree char *path = g_build_filename (folder, "definition.xml", NULL);
  int fd;
  gsize length;
  gboolean ok;

  if (xml == NULL)
    {
      g_set_error_literal (error, VIREO_ERROR, VIREO_ERROR_FAILED,
                           "cannot describe the machine's definition");
      return FALSE;
    }
  length = strlen (xml);
  fd = open (path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  ok = fd >= 0 && write (fd, xml, length) == (ssize_t) length && fsync (fd) == 0;
  if (!ok)
    {
      int errsv = errno;
      g_set_error (error, VIREO_ERROR, vireo_error_code_for_errno (errsv), "cannot write %s: %s", path,
                   g_strerror (errsv));
    }
  if (fd >= 0)
    close (fd);
  return ok;
}

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
  g_autofree char *name = snapshot_name (op->id);
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
static void
snapshot_images (CheckpointOp *op, const char *flag, CheckpointStep after)
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
  snapshot_images (op, "check", after);
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
      if (!save_tree (machine, &error))
        g_message ("%s: %s", machine->config->name, error->message);
      op->after_doomed (op);
      return;
    }
  id = g_ptr_array_index (op->doomed, op->next_doomed);
  if (is_active (machine))
    {
      g_autofree char *name = snapshot_name (id);
      vireo_worker1_call_delete_checkpoint (machine->worker, name, machine->cancellable, on_worker_deleted,
                                            op);
      return;
    }
  /* Every image the machine or the checkpoint ever named: the definition may have changed since. */
  g_ptr_array_set_size (op->images, 0);
  add_writable_images (op->images, machine->config);
  {
    g_autoptr (VireoMachineConfig) definition = vireo_checkpoints_load_definition (machine, id, NULL);
    add_writable_images (op->images, definition);
  }
  g_free (op->id);
  op->id = g_strdup (id);
  snapshot_images (op, "-d", doomed_removed);
}

/* Removes every doomed checkpoint of the tree, then calls @after. */
static void
remove_doomed (CheckpointOp *op, CheckpointStep after)
{
  g_ptr_array_set_size (op->doomed, 0);
  for (guint i = 0; i < op->machine->checkpoints->doomed->len; i++)
    g_ptr_array_add (op->doomed, g_strdup (g_ptr_array_index (op->machine->checkpoints->doomed, i)));
  op->next_doomed = 0;
  op->after_doomed = after;
  remove_next_doomed (op);
}

/* ---- apply (machine off or saved) ---- */

static void apply_offline_images_done (CheckpointOp *op);

/* The machine's definition as the checkpoint has it, keeping what is not the machine's past: its name
 * and its checkpoint settings. */
static VireoMachineConfig *
definition_to_apply (VireoMachine *machine, const VireoMachineConfig *definition)
{
  VireoMachineConfig *config = vireo_machine_config_copy (definition);

  g_free (config->name);
  config->name = g_strdup (machine->config->name);
  g_free (config->checkpoint_kind);
  config->checkpoint_kind = g_strdup (machine->config->checkpoint_kind);
  config->automatic_checkpoints = machine->config->automatic_checkpoints;
  return config;
}

static void
apply_offline (CheckpointOp *op)
{
  VireoMachine *machine = op->machine;
  g_autoptr (GError) error = NULL;

  g_clear_pointer (&op->definition, vireo_machine_config_free);
  op->definition = vireo_checkpoints_load_definition (machine, op->id, &error);
  if (op->definition == NULL)
    {
      vireo_checkpoint_op_fail (op, error);
      return;
    }
  /* The journal first: from here on, a crash is finished by applying again. */
  g_free (machine->checkpoints->applying);
  machine->checkpoints->applying = g_strdup (op->id);
  if (!save_tree (machine, &error))
    {
      g_free (machine->checkpoints->applying);
      machine->checkpoints->applying = g_strdup ("");
      vireo_checkpoint_op_fail (op, error);
      return;
    }
  g_ptr_array_set_size (op->images, 0);
  add_writable_images (op->images, op->definition);
  snapshot_images (op, "-a", apply_offline_images_done);
}

/* Once the disks are the checkpoint's: saved state, definition, and Now. */
static void
apply_offline_images_done (CheckpointOp *op)
{
  VireoMachine *machine = op->machine;
  VireoCheckpoint *checkpoint = vireo_checkpoint_tree_find (machine->checkpoints, op->id);
  g_autoptr (GError) error = NULL;
  g_autofree char *state_dir = vireo_machine_store_state_dir (machine->daemon->store, machine->config->uuid);
  g_autofree char *folder = vireo_checkpoint_tree_folder (machine->checkpoints, op->id);
  VireoMachineConfig *config;

  if (op->error != NULL)
    {
      /* The journal stays: the disks may be half applied, and the next try finishes it. */
      vireo_checkpoint_op_fail (op, op->error);
      return;
    }
  if (!vireo_machine_store_discard_saved_state (machine->daemon->store, machine->config->uuid, &error)
      || (checkpoint->has_state
          && (g_mkdir_with_parents (state_dir, 0700) < 0
              || !vireo_checkpoint_link_state (folder, state_dir, &error))))
    {
      if (error == NULL)
        error = g_error_new (VIREO_ERROR, VIREO_ERROR_FAILED, "cannot create %s: %s", state_dir,
                             g_strerror (errno));
      vireo_checkpoint_op_fail (op, error);
      return;
    }
  config = definition_to_apply (machine, op->definition);
  if (!vireo_machine_store_save (machine->daemon->store, config, &error))
    {
      vireo_machine_config_free (config);
      vireo_checkpoint_op_fail (op, error);
      return;
    }
  vireo_machine_config_free (machine->config);
  machine->config = config;
  vireo_dbus_machine_set_settings (machine->iface, vireo_machine_config_to_settings (config));
  vireo_dbus_machine_set_memory_mib (machine->iface, config->memory_mib);
  vireo_dbus_machine_set_vcpus (machine->iface, config->vcpus);
  vireo_dbus_machine_set_notes (machine->iface, config->notes);
  if (!is_active (machine))
    vireo_machine_set_state (machine, checkpoint->has_state ? "saved" : "off");

  vireo_checkpoint_tree_set_current (machine->checkpoints, op->id);
  g_free (machine->checkpoints->applying);
  machine->checkpoints->applying = g_strdup ("");
  if (!save_tree (machine, &error))
    {
      vireo_checkpoint_op_fail (op, error);
      return;
    }
  publish_tree (machine);

  if (op->done != NULL)
    {
      op->done (op, NULL);
      vireo_checkpoint_op_free (op);
      return;
    }
  if (op->start)
    {
      /* Start replies to the call (with the same empty reply as Apply). */
      g_autoptr (GDBusMethodInvocation) invocation = g_steal_pointer (&op->invocation);
      g_autoptr (VireoMachine) machine_ref = g_object_ref (machine);
      vireo_checkpoint_op_free (op);
      vireo_machine_start_worker (machine_ref, invocation);
      return;
    }
  if (op->invocation != NULL)
    g_dbus_method_invocation_return_value (op->invocation, NULL);
  vireo_checkpoint_op_free (op);
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
  remove_doomed (next, recover_doomed_done);
}

/* Whether the tree has work left by an interrupted operation. */
static gboolean
needs_recovery (VireoMachine *machine)
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
      apply_offline (op);
      return;
    }
  remove_doomed (op, recover_doomed_done);
}

/* Finishes what an interrupted operation left (machine off or saved), then calls @then with the
 * recovery's operation (its invocation the caller's) and returns TRUE; without work, returns FALSE. */
static gboolean
recover (VireoMachine *machine, GDBusMethodInvocation *invocation, CheckpointDone then)
{
  CheckpointOp *op;
  g_autoptr (GError) error = NULL;

  if (!vireo_checkpoint_tree_remove_strays (machine->checkpoints, &error))
    g_message ("%s: %s", machine->config->name, error->message);
  if (is_active (machine))
    return FALSE;
  doom_untracked_snapshots (machine);
  if (!needs_recovery (machine))
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
  release_machine (recovery);
  retry (recovery->machine, invocation);
}

/* Before an operation (once per call): when the tree has interrupted work and the machine is at rest,
 * finishes it and calls @retry with the call again, returning TRUE. */
static gboolean
recover_first (VireoMachine *machine, GDBusMethodInvocation *invocation, RetryFunc retry)
{
  if (g_object_get_data (G_OBJECT (invocation), "vireo-checkpoint-recovered") != NULL)
    return FALSE;
  g_object_set_data (G_OBJECT (invocation), "vireo-checkpoint-recovered", GINT_TO_POINTER (TRUE));
  g_object_set_data (G_OBJECT (invocation), "vireo-checkpoint-retry", retry);
  return recover (machine, invocation, retry_after_recovery);
}

/* ---- create ---- */

static void create_images_done (CheckpointOp *op);

static void
create_failed_cleanup_done (CheckpointOp *op)
{
  VireoMachine *machine = op->machine;
  g_autoptr (GError) cause = g_steal_pointer (&op->cause);

  /* Only when every snapshot is gone: otherwise the journal keeps the id for the next try. */
  if (op->error == NULL && vireo_checkpoint_tree_remove_folder (machine->checkpoints, op->id, NULL))
    {
      vireo_checkpoint_tree_forget_doomed (machine->checkpoints, op->id);
      save_tree (machine, NULL);
    }
  vireo_checkpoint_op_fail (op, cause);
}

static void
on_worker_cleaned_up (GObject *source, GAsyncResult *result, gpointer data)
{
  CheckpointOp *op = data;
  g_autoptr (GError) error = NULL;

  /* A failure keeps the id doomed, for the recovery after the worker's end or before the next operation. */
  if (!vireo_worker1_call_delete_checkpoint_finish (VIREO_WORKER1 (source), result, &error))
    {
      g_dbus_error_strip_remote_error (error);
      op->error = g_steal_pointer (&error);
    }
  create_failed_cleanup_done (op);
}

/* A create that failed halfway (taking @cause): its snapshots (some may exist) and folder go, then the
 * error. */
static void
create_failed (CheckpointOp *op, GError *cause)
{
  g_clear_error (&op->cause);
  op->cause = cause;
  g_clear_error (&op->error);
  if (op->worker_made && is_active (op->machine))
    {
      g_autofree char *name = snapshot_name (op->id);
      vireo_worker1_call_delete_checkpoint (op->machine->worker, name, NULL, on_worker_cleaned_up, op);
      return;
    }
  if (op->worker_made)
    {
      /* The worker is gone, perhaps killed halfway through a snapshot: the id stays doomed, and the
       * recovery that follows the worker's end (vireo_machine_checkpoints_worker_ended) repairs the images
       * before it removes what is left. */
      g_autoptr (GError) kept = g_steal_pointer (&op->cause);
      vireo_checkpoint_op_fail (op, kept);
      return;
    }
  snapshot_images (op, "-d", create_failed_cleanup_done);
}

/* The snapshots are taken: the folder counts, then the tree. */
static void
create_finish (CheckpointOp *op)
{
  VireoMachine *machine = op->machine;
  g_autoptr (GError) error = NULL;
  g_autofree char *temp = vireo_checkpoint_tree_temp_folder (machine->checkpoints, op->id);
  g_autofree char *folder = vireo_checkpoint_tree_folder (machine->checkpoints, op->id);
  g_autofree char *path = NULL;

  if (rename (temp, folder) < 0)
    {
      int errsv = errno;
      create_failed (op, g_error_new (VIREO_ERROR, vireo_error_code_for_errno (errsv),
                                      "cannot put the checkpoint's folder in place: %s", g_strerror (errsv)));
      return;
    }
  {
    int dir_fd = open (machine->checkpoints->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir_fd >= 0)
      {
        fsync (dir_fd);
        close (dir_fd);
      }
  }
  vireo_checkpoint_tree_add (machine->checkpoints, vireo_checkpoint_copy (op->checkpoint));
  if (!save_tree (machine, &error))
    {
      /* Still doomed on disk: the next load removes it. */
      GPtrArray *removed = vireo_checkpoint_tree_remove (machine->checkpoints, op->id, FALSE);
      g_ptr_array_unref (removed);
      create_failed (op, g_steal_pointer (&error));
      return;
    }
  g_message ("%s: created checkpoint “%s” (%s)", machine->config->name, op->checkpoint->name, op->id);
  publish_tree (machine);
  path = checkpoint_path (machine, op->id);
  if (op->done != NULL)
    {
      op->done (op, NULL);
      vireo_checkpoint_op_free (op);
      return;
    }
  if (op->invocation != NULL)
    vireo_dbus_machine_complete_create_checkpoint (machine->iface, op->invocation, path);
  vireo_checkpoint_op_free (op);
}

static void
create_images_done (CheckpointOp *op)
{
  if (op->error != NULL)
    {
      create_failed (op, g_steal_pointer (&op->error));
      return;
    }
  create_finish (op);
}

static void
on_worker_created (GObject *source, GAsyncResult *result, gpointer data)
{
  CheckpointOp *op = data;
  g_autoptr (GError) error = NULL;
  g_autoptr (GVariant) reply = NULL;
  const char *consistency;
  gboolean has_state;

  if (!vireo_worker1_call_create_checkpoint_finish (VIREO_WORKER1 (source), &reply, NULL, result, &error))
    {
      g_dbus_error_strip_remote_error (error);
      if (g_error_matches (error, G_DBUS_ERROR, G_DBUS_ERROR_UNKNOWN_METHOD))
        {
          g_clear_error (&error);
          error = g_error_new (
              VIREO_ERROR, VIREO_ERROR_NOT_SUPPORTED,
              "the running “%s” cannot take checkpoints (its worker is older); save or turn it "
              "off first",
              op->machine->config->name);
        }
      op->worker_made = TRUE;
      create_failed (op, g_steal_pointer (&error));
      return;
    }
  if (g_variant_lookup (reply, "consistency", "&s", &consistency)
      && (strcmp (consistency, "application") == 0 || strcmp (consistency, "crash") == 0))
    {
      g_free (op->checkpoint->consistency);
      op->checkpoint->consistency = g_strdup (consistency);
    }
  if (g_variant_lookup (reply, "has-state", "b", &has_state))
    op->checkpoint->has_state = has_state;
  create_finish (op);
}

/* The default name: "<machine name> - (YYYY-MM-DD - HH:MM:SS)", local time. */
static char *
default_name (const char *prefix, const char *machine_name)
{
  g_autoptr (GDateTime) now = g_date_time_new_now_local ();
  g_autofree char *when = g_date_time_format (now, "%Y-%m-%d - %H:%M:%S");
  g_autofree char *name = g_strdup_printf ("%s%s - (%s)", prefix, machine_name, when);

  /* At most 100 characters. */
  if (g_utf8_strlen (name, -1) > VIREO_CHECKPOINT_NAME_MAX)
    *g_utf8_offset_to_pointer (name, VIREO_CHECKPOINT_NAME_MAX) = '\0';
  return g_steal_pointer (&name);
}

/* Takes the checkpoint described by op->name and op->kind (machine in any state that has one). */
void
vireo_checkpoints_create_start (CheckpointOp *op)
{
  VireoMachine *machine = op->machine;
  g_autoptr (GError) error = NULL;
  g_autofree char *temp = NULL;
  const VireoDiskConfig *raw = vireo_checkpoints_find_writable_raw (machine->config);

  if (raw != NULL)
    {
      g_autofree char *message = g_strdup_printf ("The disk “%s” is a raw image; checkpoints need qcow2. "
                                                  "Convert it (option “convert-raw”) or make it "
                                                  "read-only.",
                                                  raw->target);
      vireo_checkpoint_op_fail_literal (op, VIREO_ERROR_NOT_SUPPORTED, message);
      return;
    }

  op->id = vireo_checkpoint_tree_new_id (machine->checkpoints);
  op->checkpoint = vireo_checkpoint_new (op->id, op->name, op->kind);
  /* The journal first: whatever a crash leaves of this id goes at the next load. */
  vireo_checkpoint_tree_doom (machine->checkpoints, op->id);
  temp = vireo_checkpoint_tree_temp_folder (machine->checkpoints, op->id);
  if (!save_tree (machine, &error))
    {
      vireo_checkpoint_tree_forget_doomed (machine->checkpoints, op->id);
      vireo_checkpoint_op_fail (op, error);
      return;
    }
  if (g_mkdir_with_parents (temp, 0700) < 0)
    {
      int errsv = errno;
      error = g_error_new (VIREO_ERROR, vireo_error_code_for_errno (errsv), "cannot create %s: %s", temp,
                           g_strerror (errsv));
      create_failed (op, g_steal_pointer (&error));
      return;
    }
  if (!write_definition (temp, machine->config, &error))
    {
      create_failed (op, g_steal_pointer (&error));
      return;
    }
  add_writable_images (op->images, machine->config);

  if (is_active (machine))
    {
      g_autoptr (GUnixFDList) fds = g_unix_fd_list_new ();
      GVariantDict options;
      gboolean standard = strcmp (op->kind, "standard") == 0;

      g_variant_dict_init (&options, NULL);
      if (standard)
        {
          int fd = open (temp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
          if (fd < 0
              || (machine->worker_uid != 0 && !vireo_machine_give_state_dir (fd, machine->worker_uid, &error))
              || g_unix_fd_list_append (fds, fd, &error) < 0)
            {
              if (error == NULL)
                error = g_error_new (VIREO_ERROR, VIREO_ERROR_FAILED, "cannot open %s: %s", temp,
                                     g_strerror (errno));
              if (fd >= 0)
                close (fd);
              create_failed (op, g_steal_pointer (&error));
              return;
            }
          close (fd);
          g_variant_dict_insert (&options, "state-dir-fd", "h", 0);
        }
      else
        g_variant_dict_insert (&options, "freeze", "b", machine->config->guest_agent);
      g_dbus_proxy_set_default_timeout (G_DBUS_PROXY (machine->worker), WORKER_CHECKPOINT_TIMEOUT);
      {
        g_autofree char *name = snapshot_name (op->id);
        vireo_worker1_call_create_checkpoint (machine->worker, name, g_variant_dict_end (&options), fds,
                                              machine->cancellable, on_worker_created, op);
      }
      g_dbus_proxy_set_default_timeout (G_DBUS_PROXY (machine->worker), WORKER_CALL_TIMEOUT);
      return;
    }

  /* Off: the disks are at rest, nothing runs.  Saved: the guest's unwritten data is in the saved memory,
   * not on the disks: only a checkpoint that keeps that memory is consistent. */
  g_free (op->checkpoint->consistency);
  op->checkpoint->consistency = g_strdup (state_is (machine, "saved") ? "crash" : "application");
  if (state_is (machine, "saved") && strcmp (op->kind, "standard") == 0
      && vireo_machine_store_has_saved_state (machine->daemon->store, machine->config->uuid))
    {
      g_autofree char *state_dir = vireo_machine_store_state_dir (machine->daemon->store,
                                                                  machine->config->uuid);
      static const char *const files[] = { "state", "memory" };

      for (guint i = 0; i < G_N_ELEMENTS (files); i++)
        {
          g_autofree char *from = g_build_filename (state_dir, files[i], NULL);
          g_autofree char *to = g_build_filename (temp, files[i], NULL);
          if (link (from, to) < 0)
            {
              int errsv = errno;
              create_failed (op, g_error_new (VIREO_ERROR, vireo_error_code_for_errno (errsv),
                                              "cannot keep the saved state in the checkpoint: %s",
                                              g_strerror (errsv)));
              return;
            }
        }
      op->checkpoint->has_state = TRUE;
      g_free (op->checkpoint->consistency);
      op->checkpoint->consistency = g_strdup ("application");
    }
  snapshot_images (op, "-c", create_images_done);
}

/* Whether the machine is in a state a checkpoint operation may start from; else InvalidState. */
gboolean
vireo_checkpoints_check_can_operate (VireoMachine *machine, GDBusMethodInvocation *invocation, GError **error)
{
  if (machine->checkpoints == NULL)
    {
      g_set_error (error, VIREO_ERROR, VIREO_ERROR_NOT_FOUND, "“%s” was deleted", machine->config->name);
      return FALSE;
    }
  if (machine->disk_operation != NULL)
    {
      g_set_error (error, VIREO_ERROR, VIREO_ERROR_INVALID_STATE, "“%s” has a %s operation under way",
                   machine->config->name, machine->disk_operation);
      return FALSE;
    }
  if (is_active (machine)
          ? !(state_is (machine, "running") || state_is (machine, "paused"))
          : !(state_is (machine, "off") || state_is (machine, "saved") || state_is (machine, "crashed")))
    {
      g_set_error (error, VIREO_ERROR, VIREO_ERROR_INVALID_STATE, "“%s” is %s; try again in a moment",
                   machine->config->name, state (machine));
      return FALSE;
    }
  return TRUE;
}

static gboolean
parse_create_options (VireoMachine *machine, GVariant *options, char **kind, gboolean *convert_raw,
                      GError **error)
{
  GVariantIter iter;
  const char *key;
  GVariant *value;

  *kind = g_strdup (machine->config->checkpoint_kind);
  *convert_raw = FALSE;
  g_variant_iter_init (&iter, options);
  while (g_variant_iter_next (&iter, "{&sv}", &key, &value))
    {
      g_autoptr (GVariant) owned = value;
      if (strcmp (key, "kind") == 0 && g_variant_is_of_type (value, G_VARIANT_TYPE_STRING))
        {
          const char *text = g_variant_get_string (value, NULL);
          if (strcmp (text, "standard") != 0 && strcmp (text, "production") != 0)
            {
              g_set_error_literal (error, VIREO_ERROR, VIREO_ERROR_INVALID_ARGUMENT,
                                   "option “kind” must be “standard” or “production”");
              return FALSE;
            }
          g_free (*kind);
          *kind = g_strdup (text);
        }
      else if (strcmp (key, "convert-raw") == 0 && g_variant_is_of_type (value, G_VARIANT_TYPE_BOOLEAN))
        *convert_raw = g_variant_get_boolean (value);
      else
        {
          g_autofree char *shown = g_utf8_make_valid (key, MIN (strlen (key), 32));
          g_set_error (error, VIREO_ERROR, VIREO_ERROR_INVALID_ARGUMENT,
                       "“%s” is not an option of CreateCheckpoint (known: “kind” s, “convert-raw” b)", shown);
          return FALSE;
        }
    }
  return TRUE;
}

static void
create_checkpoint (VireoMachine *machine, GDBusMethodInvocation *invocation)
{
  g_autoptr (GVariant) options = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *kind = NULL;
  const char *name;
  gboolean convert_raw;
  CheckpointOp *op;

  if (vireo_checkpoints_wait_for_recovery (machine, invocation, create_checkpoint))
    return;
  g_variant_get (g_dbus_method_invocation_get_parameters (invocation), "(&s@a{sv})", &name, &options);
  if (!parse_create_options (machine, options, &kind, &convert_raw, &error)
      || (*name != '\0' && !vireo_checkpoint_check_name (name, &error))
      || !vireo_checkpoints_check_can_operate (machine, invocation, &error))
    {
      g_dbus_method_invocation_return_gerror (invocation, error);
      return;
    }
  if (recover_first (machine, invocation, create_checkpoint))
    return;
  op = vireo_checkpoint_op_new (machine, invocation, "create");
  op->name = *name != '\0' ? g_strdup (name) : default_name ("", machine->config->name);
  op->kind = g_steal_pointer (&kind);
  if (convert_raw && vireo_checkpoints_find_writable_raw (machine->config) != NULL)
    vireo_checkpoints_convert_then_create (op);
  else
    vireo_checkpoints_create_start (op);
}

static gboolean
handle_create_checkpoint (VireoDBusMachine *iface, GDBusMethodInvocation *invocation, const char *name,
                          GVariant *options, VireoMachine *machine)
{
  vireo_machine_authorize (machine, invocation, VIREO_ACTION_MODIFY, create_checkpoint);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

/* ---- Apply ---- */

static void apply_now (CheckpointOp *op);
static void apply_at_rest (CheckpointOp *op);

static void
on_worker_applied (GObject *source, GAsyncResult *result, gpointer data)
{
  CheckpointOp *op = data;
  VireoMachine *machine = op->machine;
  g_autoptr (GError) error = NULL;

  if (!vireo_worker1_call_apply_checkpoint_finish (VIREO_WORKER1 (source), NULL, result, &error))
    {
      /* The disks may be half reverted: the apply is finished at rest rather than left to the journal,
       * which would apply it again at some later start and throw away what ran meanwhile. */
      g_dbus_error_strip_remote_error (error);
      g_message ("%s: the worker could not apply checkpoint %s in place (%s); applying it with the machine "
                 "off",
                 machine->config->name, op->id, error->message);
      apply_at_rest (op);
      return;
    }
  if (is_active (machine))
    vireo_machine_set_state (machine, "running");
  vireo_checkpoint_tree_set_current (machine->checkpoints, op->id);
  g_free (machine->checkpoints->applying);
  machine->checkpoints->applying = g_strdup ("");
  if (!save_tree (machine, &error))
    {
      vireo_checkpoint_op_fail (op, error);
      return;
    }
  publish_tree (machine);
  if (op->invocation != NULL)
    g_dbus_method_invocation_return_value (op->invocation, NULL);
  vireo_checkpoint_op_free (op);
}

/* The running machine's definition is the checkpoint's (name and checkpoint settings aside). */
static gboolean
same_definition (VireoMachine *machine, const VireoMachineConfig *definition)
{
  g_autoptr (VireoMachineConfig) wanted = definition_to_apply (machine, definition);
  g_autofree char *a = vireo_machine_config_to_xml (wanted);
  g_autofree char *b = vireo_machine_config_to_xml (machine->config);
  return a != NULL && b != NULL && strcmp (a, b) == 0;
}

static void
on_turned_off_for_apply (GObject *source, GAsyncResult *result, gpointer data)
{
  CheckpointOp *op = data;
  g_autoptr (GError) error = NULL;

  if (!g_task_propagate_boolean (G_TASK (result), &error) && is_active (op->machine))
    {
      vireo_checkpoint_op_fail (op, error);
      return;
    }
  apply_offline (op);
}

static void
on_turn_off_called (GObject *source, GAsyncResult *result, gpointer data)
{
  g_autoptr (GError) error = NULL;
  /* The end itself completes the waiting task; a refusal shows as the machine still running. */
  if (!vireo_worker1_call_turn_off_finish (VIREO_WORKER1 (source), result, &error))
    g_debug ("TurnOff for Apply: %s", error->message);
}

static void
apply_now (CheckpointOp *op)
{
  VireoMachine *machine = op->machine;
  VireoCheckpoint *checkpoint = vireo_checkpoint_tree_find (machine->checkpoints, op->id);
  g_autoptr (GError) error = NULL;

  if (checkpoint == NULL)
    {
      vireo_checkpoint_op_fail_literal (op, VIREO_ERROR_NOT_FOUND, "the checkpoint is gone");
      return;
    }
  if (!is_active (machine))
    {
      apply_offline (op);
      return;
    }
  op->definition = vireo_checkpoints_load_definition (machine, op->id, &error);
  if (op->definition == NULL)
    {
      vireo_checkpoint_op_fail (op, error);
      return;
    }
  if (op->start && checkpoint->has_state && same_definition (machine, op->definition))
    {
      g_autofree char *folder = vireo_checkpoint_tree_folder (machine->checkpoints, op->id);
      g_autofree char *name = snapshot_name (op->id);
      g_autoptr (GUnixFDList) fds = g_unix_fd_list_new ();
      GVariantDict options;
      int fd = open (folder, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

      /* The worker reads it as the machine's user of this run, which may not be the one that wrote it. */
      if (fd < 0
          || (machine->worker_uid != 0 && !vireo_machine_give_state_dir (fd, machine->worker_uid, &error))
          || g_unix_fd_list_append (fds, fd, &error) < 0)
        {
          if (error == NULL)
            error = g_error_new (VIREO_ERROR, VIREO_ERROR_FAILED, "cannot open %s: %s", folder,
                                 g_strerror (errno));
          if (fd >= 0)
            close (fd);
          vireo_checkpoint_op_fail (op, error);
          return;
        }
      close (fd);
      g_free (machine->checkpoints->applying);
      machine->checkpoints->applying = g_strdup (op->id);
      if (!save_tree (machine, &error))
        {
          g_free (machine->checkpoints->applying);
          machine->checkpoints->applying = g_strdup ("");
          vireo_checkpoint_op_fail (op, error);
          return;
        }
      g_variant_dict_init (&options, NULL);
      g_variant_dict_insert (&options, "state-dir-fd", "h", 0);
      g_variant_dict_insert (&options, "paused", "b", FALSE);
      g_dbus_proxy_set_default_timeout (G_DBUS_PROXY (machine->worker), WORKER_CHECKPOINT_TIMEOUT);
      vireo_worker1_call_apply_checkpoint (machine->worker, name, g_variant_dict_end (&options), fds,
                                           machine->cancellable, on_worker_applied, op);
      g_dbus_proxy_set_default_timeout (G_DBUS_PROXY (machine->worker), WORKER_CALL_TIMEOUT);
      return;
    }
  apply_at_rest (op);
}

/* The machine ends first, as TurnOff ends it, and the checkpoint is applied at rest. */
static void
apply_at_rest (CheckpointOp *op)
{
  VireoMachine *machine = op->machine;
  GTask *task;

  if (!is_active (machine))
    {
      apply_offline (op);
      return;
    }
  task = g_task_new (machine, NULL, on_turned_off_for_apply, op);
  g_task_set_task_data (task, NULL, NULL);
  vireo_machine_wait_for_end (machine, task);
  vireo_worker1_call_turn_off (machine->worker, machine->cancellable, on_turn_off_called, NULL);
}

static void
apply_after_current (CheckpointOp *created, GError *error)
{
  CheckpointOp *op = created->done_data;

  created->done_data = NULL;
  if (error != NULL)
    {
      g_autoptr (GError) copy = g_error_copy (error);
      g_prefix_error (&copy, "cannot take a checkpoint of the current state first: ");
      vireo_checkpoint_op_fail (op, copy);
      return;
    }
  take_machine (op);
  apply_now (op);
}

static void
apply_checkpoint (VireoMachine *machine, GDBusMethodInvocation *invocation)
{
  g_autoptr (GVariant) options = NULL;
  g_autoptr (GError) error = NULL;
  VireoCheckpoint *checkpoint;
  gboolean take_current = FALSE;
  gboolean start = FALSE;
  GVariantIter iter;
  const char *key;
  GVariant *value;
  CheckpointOp *op;

  if (vireo_checkpoints_wait_for_recovery (machine, invocation, apply_checkpoint))
    return;
  g_variant_get (g_dbus_method_invocation_get_parameters (invocation), "(@a{sv})", &options);
  g_variant_iter_init (&iter, options);
  while (g_variant_iter_next (&iter, "{&sv}", &key, &value))
    {
      g_autoptr (GVariant) owned = value;
      gboolean boolean = g_variant_is_of_type (value, G_VARIANT_TYPE_BOOLEAN);
      if (boolean && strcmp (key, "checkpoint-current") == 0)
        take_current = g_variant_get_boolean (value);
      else if (boolean && strcmp (key, "start") == 0)
        start = g_variant_get_boolean (value);
      else
        {
          g_autofree char *shown = g_utf8_make_valid (key, MIN (strlen (key), 32));
          vireo_machine_return_error (
              invocation, VIREO_ERROR_INVALID_ARGUMENT,
              "“%s” is not an option of Apply (known: “checkpoint-current” b, “start” b)", shown);
          return;
        }
    }
  if ((checkpoint = vireo_checkpoints_require (machine, invocation)) == NULL)
    return;
  if (!vireo_checkpoints_check_can_operate (machine, invocation, &error))
    {
      g_dbus_method_invocation_return_gerror (invocation, error);
      return;
    }
  if (recover_first (machine, invocation, apply_checkpoint))
    return;
  op = vireo_checkpoint_op_new (machine, invocation, "apply");
  op->id = g_strdup (checkpoint->id);
  op->start = start;
  if (take_current)
    {
      CheckpointOp *current = vireo_checkpoint_op_new (machine, NULL, "create");
      current->name = default_name ("", machine->config->name);
      current->kind = g_strdup (machine->config->checkpoint_kind);
      current->done = apply_after_current;
      current->done_data = op;
      vireo_checkpoints_create_start (current);
      return;
    }
  apply_now (op);
}

static gboolean
handle_apply (VireoDBusCheckpoint *iface, GDBusMethodInvocation *invocation, GVariant *options,
              VireoMachine *machine)
{
  vireo_machine_authorize (machine, invocation, VIREO_ACTION_MODIFY, apply_checkpoint);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

/* ---- Delete ---- */

static void
delete_done (CheckpointOp *op)
{
  if (op->invocation != NULL)
    g_dbus_method_invocation_return_value (op->invocation, NULL);
  vireo_checkpoint_op_free (op);
}

static void
delete_checkpoint (VireoMachine *machine, GDBusMethodInvocation *invocation)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (VireoCheckpointTree) before = NULL;
  g_autoptr (GPtrArray) removed = NULL;
  VireoCheckpoint *checkpoint;
  gboolean subtree;
  CheckpointOp *op;

  if (vireo_checkpoints_wait_for_recovery (machine, invocation, delete_checkpoint))
    return;
  g_variant_get (g_dbus_method_invocation_get_parameters (invocation), "(b)", &subtree);
  if ((checkpoint = vireo_checkpoints_require (machine, invocation)) == NULL)
    return;
  if (!vireo_checkpoints_check_can_operate (machine, invocation, &error))
    {
      g_dbus_method_invocation_return_gerror (invocation, error);
      return;
    }
  if (recover_first (machine, invocation, delete_checkpoint))
    return;
  /* The tree first: once it no longer names them, they are gone, whatever happens to their data. */
  before = vireo_checkpoint_tree_copy (machine->checkpoints);
  removed = vireo_checkpoint_tree_remove (machine->checkpoints, checkpoint->id, subtree);
  if (!save_tree (machine, &error))
    {
      vireo_checkpoint_tree_free (machine->checkpoints);
      machine->checkpoints = g_steal_pointer (&before);
      g_dbus_method_invocation_return_gerror (invocation, error);
      return;
    }
  publish_tree (machine);
  op = vireo_checkpoint_op_new (machine, invocation, "delete");
  remove_doomed (op, delete_done);
}

static gboolean
handle_delete (VireoDBusCheckpoint *iface, GDBusMethodInvocation *invocation, gboolean subtree,
               VireoMachine *machine)
{
  vireo_machine_authorize (machine, invocation, VIREO_ACTION_MODIFY, delete_checkpoint);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

/* ---- Rename ---- */

static void
rename_checkpoint (VireoMachine *machine, GDBusMethodInvocation *invocation)
{
  g_autoptr (GError) error = NULL;
  VireoCheckpoint *checkpoint;
  g_autofree char *old_name = NULL;
  const char *name;

  g_variant_get (g_dbus_method_invocation_get_parameters (invocation), "(&s)", &name);
  if ((checkpoint = vireo_checkpoints_require (machine, invocation)) == NULL)
    return;
  if (!vireo_checkpoint_check_name (name, &error))
    {
      g_dbus_method_invocation_return_gerror (invocation, error);
      return;
    }
  old_name = checkpoint->name;
  checkpoint->name = g_strdup (name);
  if (!save_tree (machine, &error))
    {
      g_free (checkpoint->name);
      checkpoint->name = g_steal_pointer (&old_name);
      g_dbus_method_invocation_return_gerror (invocation, error);
      return;
    }
  publish_checkpoint (machine, checkpoint);
  g_dbus_method_invocation_return_value (invocation, NULL);
}

static gboolean
handle_rename (VireoDBusCheckpoint *iface, GDBusMethodInvocation *invocation, const char *name,
               VireoMachine *machine)
{
  vireo_machine_authorize (machine, invocation, VIREO_ACTION_MODIFY, rename_checkpoint);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

/* ---- Start: finishing interrupted work and the automatic checkpoint first ---- */

static void
start_after (CheckpointOp *op, GError *error)
{
  VireoMachine *machine = op->machine;
  g_autoptr (GDBusMethodInvocation) invocation = g_steal_pointer (&op->invocation);

  release_machine (op);
  if (error != NULL)
    {
      g_autofree char *message = g_strdup_printf ("cannot start “%s”: %s", machine->config->name,
                                                  error->message);
      if (invocation != NULL)
        g_dbus_method_invocation_return_error_literal (
            invocation, VIREO_ERROR, error->domain == VIREO_ERROR ? error->code : VIREO_ERROR_FAILED,
            message);
      else
        g_message ("%s", message);
      return;
    }
  vireo_machine_start_worker (machine, invocation);
}

static void
start_after_recovery (CheckpointOp *op, GError *error)
{
  VireoMachine *machine = op->machine;

  if (error == NULL && machine->config->automatic_checkpoints && !is_active (machine)
      && !state_is (machine, "saved"))
    {
      CheckpointOp *automatic = vireo_checkpoint_op_new (machine, op->invocation, "create");
      automatic->name = default_name ("Automatic Checkpoint - ", machine->config->name);
      automatic->kind = g_strdup ("production");
      automatic->done = start_after;
      g_clear_object (&op->invocation);
      vireo_checkpoints_create_start (automatic);
      return;
    }
  start_after (op, error);
}

void
vireo_machine_checkpoints_start (VireoMachine *machine, GDBusMethodInvocation *invocation)
{
  CheckpointOp *op;

  if (vireo_checkpoints_wait_for_recovery (machine, invocation, vireo_machine_checkpoints_start))
    return;
  if (is_active (machine) || machine->disk_operation != NULL)
    {
      /* Start says why it cannot. */
      vireo_machine_start_worker (machine, invocation);
      return;
    }
  if (recover (machine, invocation, start_after_recovery))
    return;
  if (!machine->config->automatic_checkpoints || state_is (machine, "saved"))
    {
      vireo_machine_start_worker (machine, invocation);
      return;
    }
  op = vireo_checkpoint_op_new (machine, invocation, "create");
  op->name = default_name ("Automatic Checkpoint - ", machine->config->name);
  op->kind = g_strdup ("production");
  op->done = start_after;
  vireo_checkpoints_create_start (op);
}

/* ---- set-up ---- */

void
vireo_machine_checkpoints_init (VireoMachine *machine)
{
  g_autofree char *machine_dir = vireo_machine_store_machine_dir (machine->daemon->store,
                                                                  machine->config->uuid);
  g_autoptr (GError) error = NULL;

  machine->checkpoint_objects = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_object_unref);
  machine->checkpoints = vireo_checkpoint_tree_load (machine_dir, &error);
  if (machine->checkpoints == NULL)
    {
      /* Not an empty tree written over it: the file stays for someone to look at. */
      g_warning ("%s: %s", machine->config->name, error->message);
      machine->checkpoints = vireo_checkpoint_tree_load ("/nonexistent", NULL);
      g_free (machine->checkpoints->dir);
      machine->checkpoints->dir = g_build_filename (machine_dir, "checkpoints.unreadable", NULL);
    }
  vireo_dbus_machine_set_current_checkpoint (machine->iface, "/");
  g_signal_connect (machine->iface, "handle-create-checkpoint", G_CALLBACK (handle_create_checkpoint),
                    machine);
  publish_tree (machine);
}

#define REATTACH_POLL_MS 250
#define REATTACH_POLLS   240

/* Once vireod knows whether the machine's worker still runs: an interrupted in-place apply is applied
 * again in place (the worker may or may not have reverted: applying twice gives the same state), and
 * doomed checkpoints go through the worker; a machine whose worker is gone recovers at rest. */
static gboolean
recover_after_reattach (gpointer data)
{
  VireoMachine *machine = data;
  guint polls = GPOINTER_TO_UINT (g_object_get_data (G_OBJECT (machine), "vireo-checkpoint-polls"));

  if (machine->daemon->reattaching > 0 && polls < REATTACH_POLLS)
    {
      g_object_set_data (G_OBJECT (machine), "vireo-checkpoint-polls", GUINT_TO_POINTER (polls + 1));
      return G_SOURCE_CONTINUE;
    }
  if (machine->checkpoints == NULL || machine->disk_operation != NULL)
    return G_SOURCE_REMOVE;
  /* At rest, also without journal entries: untracked snapshots are found there. */
  if (!is_active (machine))
    recover (machine, NULL, NULL);
  else if (needs_recovery (machine) && (state_is (machine, "running") || state_is (machine, "paused")))
    {
      CheckpointOp *op = vireo_checkpoint_op_new (machine, NULL, "recover");
      if (*machine->checkpoints->applying != '\0')
        {
          g_message ("%s: applying checkpoint %s again, as its apply was interrupted", machine->config->name,
                     machine->checkpoints->applying);
          op->id = g_strdup (machine->checkpoints->applying);
          op->start = TRUE;
          apply_now (op);
        }
      else
        remove_doomed (op, delete_done);
    }
  return G_SOURCE_REMOVE;
}

void
vireo_machine_checkpoints_recover (VireoMachine *machine)
{
  g_autofree char *socket_path = g_strdup_printf ("%s/%s.sock", machine->daemon->workers_dir,
                                                  machine->config->uuid);

  if (!is_active (machine) && !g_file_test (socket_path, G_FILE_TEST_EXISTS))
    {
      recover (machine, NULL, NULL);
      return;
    }
  /* A worker may still hold the disks: wait until it is re-attached or known gone (a socket a killed
   * worker left behind is no worker: the machine then recovers at rest, untracked snapshots too). */
  g_timeout_add_full (G_PRIORITY_DEFAULT, REATTACH_POLL_MS, recover_after_reattach, g_object_ref (machine),
                      g_object_unref);
}

static gboolean
recover_after_worker (gpointer data)
{
  VireoMachine *machine = data;
  guint polls = GPOINTER_TO_UINT (g_object_get_data (G_OBJECT (machine), "vireo-checkpoint-worker-polls"));

  if (machine->checkpoints == NULL || is_active (machine))
    return G_SOURCE_REMOVE;
  /* The operation the worker's end interrupted fails first (keeping its journal entries). */
  if (machine->disk_operation != NULL && polls < REATTACH_POLLS)
    {
      g_object_set_data (G_OBJECT (machine), "vireo-checkpoint-worker-polls", GUINT_TO_POINTER (polls + 1));
      return G_SOURCE_CONTINUE;
    }
  g_object_set_data (G_OBJECT (machine), "vireo-checkpoint-worker-polls", NULL);
  if (machine->disk_operation == NULL && needs_recovery (machine))
    recover (machine, NULL, NULL);
  return G_SOURCE_REMOVE;
}

void
vireo_machine_checkpoints_worker_ended (VireoMachine *machine)
{
  /* A worker killed during a checkpoint operation leaves journal entries and possibly images a snapshot
   * step was interrupted on: repaired and finished now, not at the next operation. */
  if (machine->checkpoints != NULL)
    g_timeout_add_full (G_PRIORITY_DEFAULT, REATTACH_POLL_MS, recover_after_worker, g_object_ref (machine),
                        g_object_unref);
}

void
vireo_machine_checkpoints_drop (VireoMachine *machine)
{
  GHashTableIter iter;
  gpointer key;

  for (GList *l = machine->checkpoint_waiting; l != NULL; l = l->next)
    {
      WaitingCall *call = l->data;
      if (call->invocation != NULL)
        vireo_machine_return_error (call->invocation, VIREO_ERROR_NOT_FOUND, "“%s” is gone",
                                    machine->config->name);
      g_clear_object (&call->invocation);
      g_free (call);
    }
  g_clear_pointer (&machine->checkpoint_waiting, g_list_free);
  if (machine->checkpoint_objects == NULL)
    return;
  g_hash_table_iter_init (&iter, machine->checkpoint_objects);
  while (g_hash_table_iter_next (&iter, &key, NULL))
    {
      g_autofree char *path = checkpoint_path (machine, key);
      g_dbus_object_manager_server_unexport (machine->daemon->object_manager, path);
    }
  g_clear_pointer (&machine->checkpoint_objects, g_hash_table_unref);
  g_clear_pointer (&machine->checkpoints, vireo_checkpoint_tree_free);
}
