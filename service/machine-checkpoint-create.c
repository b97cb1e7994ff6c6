/* machine-checkpoint-create.c — Machine.CreateCheckpoint and the automatic checkpoints: the id doomed
 * first, the definition (and a saved machine's state) written to a temporary folder, the disks'
 * snapshots taken by qemu-img or the running worker, the folder renamed, then the tree; a create that
 * fails halfway removes what it made. */
#include "machine-checkpoints-private.h"
#include "vireo-error.h"

#include <errno.h>
#include <fcntl.h>
#include <gio/gunixfdlist.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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
      vireo_checkpoints_save_tree (machine, NULL);
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
      g_autofree char *name = vireo_checkpoints_snapshot_name (op->id);
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
  vireo_checkpoints_snapshot_images (op, "-d", create_failed_cleanup_done);
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
  if (!vireo_checkpoints_save_tree (machine, &error))
    {
      /* Still doomed on disk: the next load removes it. */
      GPtrArray *removed = vireo_checkpoint_tree_remove (machine->checkpoints, op->id, FALSE);
      g_ptr_array_unref (removed);
      create_failed (op, g_steal_pointer (&error));
      return;
    }
  g_message ("%s: created checkpoint “%s” (%s)", machine->config->name, op->checkpoint->name, op->id);
  vireo_checkpoints_publish_tree (machine);
  path = vireo_checkpoints_object_path (machine, op->id);
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
char *
vireo_checkpoints_default_name (const char *prefix, const char *machine_name)
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
  if (!vireo_checkpoints_save_tree (machine, &error))
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
  vireo_checkpoints_add_writable_images (op->images, machine->config);

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
        g_autofree char *name = vireo_checkpoints_snapshot_name (op->id);
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
  vireo_checkpoints_snapshot_images (op, "-c", create_images_done);
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
  if (vireo_checkpoints_recover_first (machine, invocation, create_checkpoint))
    return;
  op = vireo_checkpoint_op_new (machine, invocation, "create");
  op->name = *name != '\0' ? g_strdup (name) : vireo_checkpoints_default_name ("", machine->config->name);
  op->kind = g_steal_pointer (&kind);
  if (convert_raw && vireo_checkpoints_find_writable_raw (machine->config) != NULL)
    vireo_checkpoints_convert_then_create (op);
  else
    vireo_checkpoints_create_start (op);
}

gboolean
vireo_checkpoints_handle_create_checkpoint (VireoDBusMachine *iface, GDBusMethodInvocation *invocation,
                                            const char *name, GVariant *options, VireoMachine *machine)
{
  vireo_machine_authorize (machine, invocation, VIREO_ACTION_MODIFY, create_checkpoint);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}
