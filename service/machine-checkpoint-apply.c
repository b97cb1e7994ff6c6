/* machine-checkpoint-apply.c — Checkpoint.Apply: at rest (the disks' snapshots applied with qemu-img, the
 * saved state linked, the definition stored, then Now moved, journalled in tree.ini), or in place by
 * the running worker when the checkpoint has the machine's state; optionally a checkpoint of the
 * current state first, and a start after. */
#include "machine-checkpoints-private.h"
#include "vireo-error.h"

#include <errno.h>
#include <fcntl.h>
#include <gio/gunixfdlist.h>
#include <string.h>
#include <unistd.h>

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

void
vireo_checkpoints_apply_offline (CheckpointOp *op)
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
  if (!vireo_checkpoints_save_tree (machine, &error))
    {
      g_free (machine->checkpoints->applying);
      machine->checkpoints->applying = g_strdup ("");
      vireo_checkpoint_op_fail (op, error);
      return;
    }
  g_ptr_array_set_size (op->images, 0);
  vireo_checkpoints_add_writable_images (op->images, op->definition);
  vireo_checkpoints_snapshot_images (op, "-a", apply_offline_images_done);
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
  if (!vireo_checkpoints_save_tree (machine, &error))
    {
      vireo_checkpoint_op_fail (op, error);
      return;
    }
  vireo_checkpoints_publish_tree (machine);

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

/* ---- Apply ---- */

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
  if (!vireo_checkpoints_save_tree (machine, &error))
    {
      vireo_checkpoint_op_fail (op, error);
      return;
    }
  vireo_checkpoints_publish_tree (machine);
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
  vireo_checkpoints_apply_offline (op);
}

static void
on_turn_off_called (GObject *source, GAsyncResult *result, gpointer data)
{
  g_autoptr (GError) error = NULL;
  /* The end itself completes the waiting task; a refusal shows as the machine still running. */
  if (!vireo_worker1_call_turn_off_finish (VIREO_WORKER1 (source), result, &error))
    g_debug ("TurnOff for Apply: %s", error->message);
}

void
vireo_checkpoints_apply_now (CheckpointOp *op)
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
      vireo_checkpoints_apply_offline (op);
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
      g_autofree char *name = vireo_checkpoints_snapshot_name (op->id);
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
      if (!vireo_checkpoints_save_tree (machine, &error))
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
      vireo_checkpoints_apply_offline (op);
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
  vireo_checkpoint_op_take_machine (op);
  vireo_checkpoints_apply_now (op);
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
  if (vireo_checkpoints_recover_first (machine, invocation, apply_checkpoint))
    return;
  op = vireo_checkpoint_op_new (machine, invocation, "apply");
  op->id = g_strdup (checkpoint->id);
  op->start = start;
  if (take_current)
    {
      CheckpointOp *current = vireo_checkpoint_op_new (machine, NULL, "create");
      current->name = vireo_checkpoints_default_name ("", machine->config->name);
      current->kind = g_strdup (machine->config->checkpoint_kind);
      current->done = apply_after_current;
      current->done_data = op;
      vireo_checkpoints_create_start (current);
      return;
    }
  vireo_checkpoints_apply_now (op);
}

gboolean
vireo_checkpoints_handle_apply (VireoDBusCheckpoint *iface, GDBusMethodInvocation *invocation,
                                GVariant *options, VireoMachine *machine)
{
  vireo_machine_authorize (machine, invocation, VIREO_ACTION_MODIFY, apply_checkpoint);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}
