/* machine-checkpoints.c — a machine's checkpoints through D-Bus: the operation in flight, the
 * org.vireo.Vireo1.Checkpoint objects with Delete and Rename, Start's checkpoint work first, and recovery
 * once vireod has loaded the machine or its worker has ended.  Machine.CreateCheckpoint is
 * machine-checkpoint-create.c, Apply machine-checkpoint-apply.c, the qemu-img steps and the recovery
 * itself machine-checkpoint-recovery.c, Export and convert-raw machine-checkpoint-copies.c; all of it
 * on top of the tree store (checkpoints.h).
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
#include "vireo-error.h"

#include <string.h>

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
void
vireo_checkpoint_op_release_machine (CheckpointOp *op)
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

void
vireo_checkpoint_op_take_machine (CheckpointOp *op)
{
  op->machine->disk_operation = OPERATION_NAME;
  op->machine->checkpoint_op = op;
}

void
vireo_checkpoint_op_free (CheckpointOp *op)
{
  vireo_checkpoint_op_release_machine (op);
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

char *
vireo_checkpoints_object_path (VireoMachine *machine, const char *id)
{
  g_autofree char *machine_path = vireo_machine_object_path (machine->config->uuid);
  return g_strconcat (machine_path, "/checkpoints/", id, NULL);
}

static char *
parent_path (VireoMachine *machine, const char *parent)
{
  return *parent == '\0' ? g_strdup ("/") : vireo_checkpoints_object_path (machine, parent);
}

static VireoDBusCheckpoint *
find_iface (VireoMachine *machine, const char *id)
{
  VireoDBusObjectSkeleton *object = g_hash_table_lookup (machine->checkpoint_objects, id);
  return object != NULL ? vireo_dbus_object_get_checkpoint (VIREO_DBUS_OBJECT (object)) : NULL;
}

static void publish_checkpoint (VireoMachine *machine, const VireoCheckpoint *checkpoint);

/* Properties of every object and CurrentCheckpoint from the tree; objects for new ids, none for gone. */
void
vireo_checkpoints_publish_tree (VireoMachine *machine)
{
  GHashTableIter iter;
  gpointer key;
  g_autofree char *current = NULL;

  g_hash_table_iter_init (&iter, machine->checkpoint_objects);
  while (g_hash_table_iter_next (&iter, &key, NULL))
    if (vireo_checkpoint_tree_find (machine->checkpoints, key) == NULL)
      {
        g_autofree char *path = vireo_checkpoints_object_path (machine, key);
        g_dbus_object_manager_server_unexport (machine->daemon->object_manager, path);
        g_hash_table_iter_remove (&iter);
      }
  for (guint i = 0; i < machine->checkpoints->nodes->len; i++)
    publish_checkpoint (machine, g_ptr_array_index (machine->checkpoints->nodes, i));
  current = parent_path (machine, machine->checkpoints->current);
  vireo_dbus_machine_set_current_checkpoint (machine->iface, current);
  g_dbus_interface_skeleton_flush (G_DBUS_INTERFACE_SKELETON (machine->iface));
}

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
      g_autofree char *path = vireo_checkpoints_object_path (machine, checkpoint->id);
      g_autofree char *machine_path = vireo_machine_object_path (machine->config->uuid);
      VireoDBusObjectSkeleton *object = vireo_dbus_object_skeleton_new (path);

      iface = vireo_dbus_checkpoint_skeleton_new ();
      vireo_dbus_checkpoint_set_machine (iface, machine_path);
      g_signal_connect (iface, "handle-apply", G_CALLBACK (vireo_checkpoints_handle_apply), machine);
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

gboolean
vireo_checkpoints_save_tree (VireoMachine *machine, GError **error)
{
  return vireo_checkpoint_tree_save (machine->checkpoints, error);
}

char *
vireo_checkpoints_snapshot_name (const char *id)
{
  return g_strconcat (VIREO_CHECKPOINT_SNAPSHOT_PREFIX, id, NULL);
}

/* The images checkpoints cover: writable disks (not CD-ROMs, not read-only, with a file). */
void
vireo_checkpoints_add_writable_images (GPtrArray *images, const VireoMachineConfig *config)
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

/* Whether no archive of the machine's checkpoints is being written or received; else InvalidState. */
gboolean
vireo_checkpoints_check_not_moving (VireoMachine *machine, GError **error)
{
  if (machine->checkpoint_archives_sending > 0)
    {
      g_set_error (error, VIREO_ERROR, VIREO_ERROR_INVALID_STATE,
                   "the checkpoints of “%s” are being read to move them", machine->config->name);
      return FALSE;
    }
  if (machine->checkpoint_receive != NULL)
    {
      g_set_error (error, VIREO_ERROR, VIREO_ERROR_INVALID_STATE,
                   "“%s” is receiving checkpoints from another host", machine->config->name);
      return FALSE;
    }
  return TRUE;
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
  if (!vireo_checkpoints_check_not_moving (machine, error))
    return FALSE;
  /* Its image is being written by someone else: neither snapshot nor restored. */
  if (vireo_machine_receiving_disk (machine) != NULL)
    {
      g_set_error (error, VIREO_ERROR, VIREO_ERROR_INVALID_STATE, "disk %s of “%s” is still being received",
                   vireo_machine_receiving_disk (machine), machine->config->name);
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
  if (vireo_checkpoints_recover_first (machine, invocation, delete_checkpoint))
    return;
  /* The tree first: once it no longer names them, they are gone, whatever happens to their data. */
  before = vireo_checkpoint_tree_copy (machine->checkpoints);
  removed = vireo_checkpoint_tree_remove (machine->checkpoints, checkpoint->id, subtree);
  if (!vireo_checkpoints_save_tree (machine, &error))
    {
      vireo_checkpoint_tree_free (machine->checkpoints);
      machine->checkpoints = g_steal_pointer (&before);
      g_dbus_method_invocation_return_gerror (invocation, error);
      return;
    }
  vireo_checkpoints_publish_tree (machine);
  op = vireo_checkpoint_op_new (machine, invocation, "delete");
  vireo_checkpoints_remove_doomed (op, delete_done);
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
  if (!vireo_checkpoints_save_tree (machine, &error))
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

  vireo_checkpoint_op_release_machine (op);
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
      automatic->name = vireo_checkpoints_default_name ("Automatic Checkpoint - ", machine->config->name);
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
  g_autoptr (GError) error = NULL;
  CheckpointOp *op;

  if (vireo_checkpoints_wait_for_recovery (machine, invocation, vireo_machine_checkpoints_start))
    return;
  /* Its automatic checkpoint, or its disks' changes, would not be in what is moved. */
  if (!vireo_checkpoints_check_not_moving (machine, &error))
    {
      g_autofree char *message = g_strdup_printf ("cannot start “%s”: %s", machine->config->name,
                                                  error->message);
      if (invocation != NULL)
        g_dbus_method_invocation_return_error_literal (invocation, VIREO_ERROR, error->code, message);
      else
        g_message ("%s", message);
      return;
    }
  if (is_active (machine) || machine->disk_operation != NULL
      || vireo_machine_receiving_disk (machine) != NULL)
    {
      /* Start says why it cannot. */
      vireo_machine_start_worker (machine, invocation);
      return;
    }
  if (vireo_checkpoints_recover (machine, invocation, start_after_recovery))
    return;
  if (!machine->config->automatic_checkpoints || state_is (machine, "saved"))
    {
      vireo_machine_start_worker (machine, invocation);
      return;
    }
  op = vireo_checkpoint_op_new (machine, invocation, "create");
  op->name = vireo_checkpoints_default_name ("Automatic Checkpoint - ", machine->config->name);
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
  g_signal_connect (machine->iface, "handle-create-checkpoint",
                    G_CALLBACK (vireo_checkpoints_handle_create_checkpoint), machine);
  vireo_machine_checkpoint_send_init (machine);
  vireo_machine_checkpoint_receive_init (machine);
  vireo_checkpoints_publish_tree (machine);
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
    vireo_checkpoints_recover (machine, NULL, NULL);
  else if (vireo_checkpoints_needs_recovery (machine)
           && (state_is (machine, "running") || state_is (machine, "paused")))
    {
      CheckpointOp *op = vireo_checkpoint_op_new (machine, NULL, "recover");
      if (*machine->checkpoints->applying != '\0')
        {
          g_message ("%s: applying checkpoint %s again, as its apply was interrupted", machine->config->name,
                     machine->checkpoints->applying);
          op->id = g_strdup (machine->checkpoints->applying);
          op->start = TRUE;
          vireo_checkpoints_apply_now (op);
        }
      else
        vireo_checkpoints_remove_doomed (op, delete_done);
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
      vireo_checkpoints_recover (machine, NULL, NULL);
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
  if (machine->disk_operation == NULL && vireo_checkpoints_needs_recovery (machine))
    vireo_checkpoints_recover (machine, NULL, NULL);
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
  vireo_machine_checkpoint_receive_drop (machine);
  if (machine->checkpoint_objects == NULL)
    return;
  g_hash_table_iter_init (&iter, machine->checkpoint_objects);
  while (g_hash_table_iter_next (&iter, &key, NULL))
    {
      g_autofree char *path = vireo_checkpoints_object_path (machine, key);
      g_dbus_object_manager_server_unexport (machine->daemon->object_manager, path);
    }
  g_clear_pointer (&machine->checkpoint_objects, g_hash_table_unref);
  g_clear_pointer (&machine->checkpoints, vireo_checkpoint_tree_free);
}
