/* machine-checkpoint-copies.c — checkpoint disks copied with qemu-img convert: Checkpoint.Export (a new
 * machine from a checkpoint, each writable disk converted from its internal snapshot) and
 * CreateCheckpoint's option convert-raw (each writable raw disk becomes a qcow2 copy first).  The
 * rest of the checkpoints is machine-checkpoints.c. */
#include "machine-checkpoints-private.h"
#include "image-handover.h"
#include "manager.h"
#include "qemu-img.h"
#include "vireo-error.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

/* ---- convert-raw: each writable raw disk becomes a qcow2 copy next to the machine's other images ---- */

static void convert_next (CheckpointOp *op);

static void
convert_failed (CheckpointOp *op, GError *error)
{
  /* The copies go; the raw files were never touched. */
  for (guint i = 0; i < op->copies->len; i++)
    unlink (g_ptr_array_index (op->copies, i));
  vireo_checkpoint_op_fail (op, error);
}

static void
on_converted (GObject *source, GAsyncResult *result, gpointer data)
{
  CheckpointOp *op = data;
  g_autoptr (GError) error = NULL;

  if (!vireo_qemu_img_run_finish (result, &error))
    {
      g_autoptr (GError) wrapped = g_error_new (VIREO_ERROR, error->code, "cannot convert %s to qcow2: %s",
                                                (const char *) g_ptr_array_index (op->images, op->next_image),
                                                error->message);
      convert_failed (op, wrapped);
      return;
    }
  op->next_image++;
  vireo_dbus_machine_emit_checkpoint_progress (op->machine->iface, "convert",
                                               MIN (1.0, (double) op->next_image / op->images->len));
  convert_next (op);
}

/* Once every copy is made: the definition names the copies (the raw files stay), then the checkpoint. */
static void
convert_done (CheckpointOp *op)
{
  VireoMachine *machine = op->machine;
  g_autoptr (VireoMachineConfig) config = vireo_machine_config_copy (machine->config);
  g_autoptr (GError) error = NULL;

  for (guint i = 0; i < config->disks->len; i++)
    {
      VireoDiskConfig *disk = g_ptr_array_index (config->disks, i);
      for (guint j = 0; j < op->images->len; j++)
        if (!disk->readonly && strcmp (disk->device, "disk") == 0
            && strcmp (disk->path, g_ptr_array_index (op->images, j)) == 0)
          {
            g_free (disk->path);
            disk->path = g_strdup (g_ptr_array_index (op->copies, j));
            g_free (disk->format);
            disk->format = g_strdup ("qcow2");
          }
    }
  if (!vireo_machine_store_save (machine->daemon->store, config, &error))
    {
      convert_failed (op, error);
      return;
    }
  vireo_machine_config_free (machine->config);
  machine->config = g_steal_pointer (&config);
  vireo_dbus_machine_set_settings (machine->iface, vireo_machine_config_to_settings (machine->config));
  g_dbus_interface_skeleton_flush (G_DBUS_INTERFACE_SKELETON (machine->iface));
  g_message ("%s: converted %u raw disk(s) to qcow2 for a checkpoint", machine->config->name,
             op->images->len);
  g_ptr_array_set_size (op->images, 0);
  vireo_checkpoints_create_start (op);
}

static void
convert_next (CheckpointOp *op)
{
  VireoMachine *machine = op->machine;
  const char *path;
  VireoIdentity identity;
  int fd;
  g_autoptr (GError) open_error = NULL;

  if (op->next_image >= op->images->len)
    {
      convert_done (op);
      return;
    }
  path = g_ptr_array_index (op->images, op->next_image);
  fd = vireo_checkpoints_open_image (machine, path, O_RDONLY, &open_error);
  if (fd < 0)
    {
      convert_failed (op, open_error);
      return;
    }
  /* A raw image names no other file, so reading it through fd 3 needs nobody's rights but the
   * opener's; the copy is written by vireod into its own folder. */
  vireo_identity_init (&identity, VIREO_OWN_UID);
  {
    const char *argv[] = { op->qemu_img,
                           "convert",
                           "-f",
                           "raw",
                           "-O",
                           "qcow2",
                           "/proc/self/fd/3",
                           g_ptr_array_index (op->copies, op->next_image),
                           NULL };
    vireo_qemu_img_run_async (argv, fd, &identity, NULL, NULL, machine->disk_cancellable, on_converted, op);
  }
}

/* A free name for the copy of disk @target in @folder: "<target>.qcow2", else "<target>-<n>.qcow2". */
static char *
copy_path_for (const char *folder, const char *target, GPtrArray *taken)
{
  for (guint n = 1;; n++)
    {
      g_autofree char *base = n == 1 ? g_strdup_printf ("%s.qcow2", target)
                                     : g_strdup_printf ("%s-%u.qcow2", target, n);
      char *path = g_build_filename (folder, base, NULL);
      gboolean used = g_file_test (path, G_FILE_TEST_EXISTS);

      for (guint i = 0; !used && i < taken->len; i++)
        used = strcmp (g_ptr_array_index (taken, i), path) == 0;
      if (!used)
        return path;
      g_free (path);
    }
}

/* Converts the machine's writable raw disks (it is off), then takes the checkpoint. */
void
vireo_checkpoints_convert_then_create (CheckpointOp *op)
{
  VireoMachine *machine = op->machine;
  g_autofree char *folder = vireo_machine_store_machine_dir (machine->daemon->store, machine->config->uuid);
  g_autoptr (GError) error = NULL;

  if (is_active (machine) || state_is (machine, "saved"))
    {
      g_autofree char *message = g_strdup_printf ("“%s” is %s; its raw disks can be converted only while it "
                                                  "is off (its saved state holds the disks as "
                                                  "they are)",
                                                  machine->config->name, state (machine));
      vireo_checkpoint_op_fail_literal (op, VIREO_ERROR_INVALID_STATE, message);
      return;
    }
  if ((op->qemu_img = vireo_qemu_img_find (&error)) == NULL)
    {
      vireo_checkpoint_op_fail (op, error);
      return;
    }
  op->copies = g_ptr_array_new_with_free_func (g_free);
  g_ptr_array_set_size (op->images, 0);
  for (guint i = 0; i < machine->config->disks->len; i++)
    {
      const VireoDiskConfig *disk = g_ptr_array_index (machine->config->disks, i);
      if (disk->readonly || strcmp (disk->device, "disk") != 0 || *disk->path == '\0'
          || strcmp (disk->format, "qcow2") == 0)
        continue;
      g_ptr_array_add (op->images, g_strdup (disk->path));
      g_ptr_array_add (op->copies, copy_path_for (folder, disk->target, op->copies));
    }
  op->next_image = 0;
  if (machine->disk_cancellable == NULL)
    machine->disk_cancellable = g_cancellable_new ();
  convert_next (op);
}

/* ---- Export ---- */

/* A copy of each writable disk as it was in the checkpoint, into the new machine's folder. */
typedef struct
{
  CheckpointOp *op;
  VireoMachineConfig *config; /* the new machine */
  char *folder;               /* its folder */
  GPtrArray *sources;         /* char *: each writable image of the checkpoint */
  GPtrArray *copies;          /* char *: where each goes */
  guint next;
  /* The copy being made as the owner of the machine's files, who cannot write into vireod's folder:
   * qemu-img writes into this folder of theirs, vireod adopts the result (image-handover.h). */
  char *temp_folder;
  VireoIdentity identity;
} ExportJob;

#define EXPORT_PREFIX ".export-"

static void
export_job_free (ExportJob *job)
{
  g_clear_pointer (&job->config, vireo_machine_config_free);
  g_free (job->folder);
  g_free (job->temp_folder);
  g_ptr_array_unref (job->sources);
  g_ptr_array_unref (job->copies);
  g_free (job);
}

static void export_next (ExportJob *job);

static void
export_failed (ExportJob *job, GError *error)
{
  CheckpointOp *op = job->op;

  /* Nothing of a half-made machine stays: its folder holds only the copies made here. */
  if (job->temp_folder != NULL)
    vireo_handover_folder_remove (job->temp_folder);
  for (guint i = 0; i < job->copies->len; i++)
    unlink (g_ptr_array_index (job->copies, i));
  rmdir (job->folder);
  export_job_free (job);
  vireo_checkpoint_op_fail (op, error);
}

static void
export_image_done (ExportJob *job)
{
  job->next++;
  vireo_dbus_machine_emit_checkpoint_progress (job->op->machine->iface, "export",
                                               MIN (1.0, (double) job->next / job->sources->len));
  export_next (job);
}

/* In a thread: the copy qemu-img made as the owner becomes vireod's, in the new machine's folder. */
static void
adopt_export_in_thread (GTask *task, gpointer source, gpointer data, GCancellable *cancellable)
{
  ExportJob *job = data;
  g_autofree char *name = g_path_get_basename (g_ptr_array_index (job->copies, job->next));
  const char *problem = vireo_handover_adopt (job->temp_folder, name, job->folder, &job->identity, TRUE);

  if (problem != NULL)
    g_task_return_new_error (task, VIREO_ERROR, VIREO_ERROR_FAILED, "cannot keep the copy of %s: %s",
                             (const char *) g_ptr_array_index (job->sources, job->next), problem);
  else
    g_task_return_boolean (task, TRUE);
}

static void
on_export_adopted (GObject *source, GAsyncResult *result, gpointer data)
{
  ExportJob *job = data;
  g_autoptr (GError) error = NULL;

  if (!g_task_propagate_boolean (G_TASK (result), &error))
    {
      export_failed (job, error);
      return;
    }
  vireo_handover_folder_remove (job->temp_folder);
  g_clear_pointer (&job->temp_folder, g_free);
  export_image_done (job);
}

static void
on_exported_image (GObject *source, GAsyncResult *result, gpointer data)
{
  ExportJob *job = data;
  g_autoptr (GError) error = NULL;

  if (!vireo_qemu_img_run_finish (result, &error))
    {
      GError *wrapped = g_error_new (VIREO_ERROR, error->code, "cannot copy %s from the checkpoint: %s",
                                     (const char *) g_ptr_array_index (job->sources, job->next),
                                     error->message);
      export_failed (job, wrapped);
      g_error_free (wrapped);
      return;
    }
  if (job->temp_folder != NULL)
    {
      GTask *task = g_task_new (NULL, NULL, on_export_adopted, job);
      g_task_set_task_data (task, job, NULL);
      g_task_run_in_thread (task, adopt_export_in_thread);
      g_object_unref (task);
      return;
    }
  export_image_done (job);
}

static void
export_next (ExportJob *job)
{
  CheckpointOp *op = job->op;
  VireoMachine *machine = op->machine;
  g_autofree char *option = NULL;
  g_autofree char *output = NULL;
  const char *path;
  VireoIdentity *identity = &job->identity;
  int fd;
  int folder_fd = -1;
  g_autoptr (GError) open_error = NULL;

  if (job->next >= job->sources->len)
    {
      VireoManager *manager = machine->daemon->manager;
      g_autoptr (GDBusMethodInvocation) invocation = NULL;
      g_autoptr (GError) error = NULL;
      VireoMachineConfig *config;

      /* Whoever exports names the other files (read-only disks, media, kernel) anew: checked with their
       * rights, as Update checks them; the copies are the new machine's own. */
      if (!vireo_machine_config_check_files (job->config, &error))
        {
          export_failed (job, error);
          return;
        }
      invocation = g_steal_pointer (&op->invocation);
      config = g_steal_pointer (&job->config);
      export_job_free (job);
      vireo_checkpoint_op_free (op);
      g_message ("%s: exported a checkpoint as “%s”", machine->config->name, config->name);
      vireo_manager_define_machine (manager, invocation, config);
      return;
    }
  path = g_ptr_array_index (job->sources, job->next);
  fd = vireo_checkpoints_open_image (machine, path, O_RDONLY, &open_error);
  if (fd < 0)
    {
      export_failed (job, open_error);
      return;
    }
  /* Read as the owner of the machine's files (their rights open what the header names); images of
   * vireod's own folder as vireod, which also writes the new machine's folder.  The owner cannot write
   * there: they write into a temporary folder of theirs in it, given as fd 4, and vireod adopts the
   * copy as ImportDisk does (machine-disk-import.c). */
  {
    g_autoptr (GError) error = NULL;
    if (!vireo_checkpoints_qemu_img_identity (machine, path, fd, identity, &error))
      {
        close (fd);
        export_failed (job, error);
        return;
      }
    if (identity->change)
      {
        g_autofree char *name = g_path_get_basename (g_ptr_array_index (job->copies, job->next));
        job->temp_folder = vireo_handover_folder_new (job->folder, EXPORT_PREFIX, identity, &folder_fd,
                                                      &error);
        if (job->temp_folder == NULL)
          {
            close (fd);
            export_failed (job, error);
            return;
          }
        output = g_strdup_printf ("/proc/self/fd/4/%s", name);
      }
    else
      output = g_strdup (g_ptr_array_index (job->copies, job->next));
  }
  option = g_strdup_printf ("snapshot.name=" VIREO_CHECKPOINT_SNAPSHOT_PREFIX "%s", op->id);
  {
    const char *argv[] = { op->qemu_img, "convert",         "-f",   "qcow2", "-l", option, "-O",
                           "qcow2",      "/proc/self/fd/3", output, NULL };
    vireo_qemu_img_run_with_folder_async (argv, fd, folder_fd, identity, NULL, NULL,
                                          machine->disk_cancellable, on_exported_image, job);
  }
}

static void
export_authorized (VireoMachine *machine, GDBusMethodInvocation *invocation)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (VireoMachineConfig) definition = NULL;
  g_autoptr (GVariant) settings = NULL;
  VireoCheckpoint *checkpoint;
  const char *new_name;
  CheckpointOp *op;
  ExportJob *job;

  if (vireo_checkpoints_wait_for_recovery (machine, invocation, export_authorized))
    return;
  g_variant_get (g_dbus_method_invocation_get_parameters (invocation), "(&s)", &new_name);
  if ((checkpoint = vireo_checkpoints_require (machine, invocation)) == NULL)
    return;
  if (!vireo_checkpoints_check_can_operate (machine, invocation, &error)
      || (definition = vireo_checkpoints_load_definition (machine, checkpoint->id, &error)) == NULL)
    {
      g_dbus_method_invocation_return_gerror (invocation, error);
      return;
    }
  /* The checkpoint's definition as a new machine: its own UUID, name and MACs. */
  g_free (definition->uuid);
  definition->uuid = g_uuid_string_random ();
  settings = g_variant_ref_sink (g_variant_new_parsed ("{'name': <%s>}", new_name));
  if (!vireo_machine_config_apply_settings (definition, settings, FALSE, &error))
    {
      g_dbus_method_invocation_return_gerror (invocation, error);
      return;
    }
  for (guint i = 0; i < definition->nics->len; i++)
    g_clear_pointer (&((VireoNicConfig *) g_ptr_array_index (definition->nics, i))->mac, g_free);
  vireo_machine_config_assign_macs (definition);

  op = vireo_checkpoint_op_new (machine, invocation, "export");
  op->id = g_strdup (checkpoint->id);
  job = g_new0 (ExportJob, 1);
  job->op = op;
  job->sources = g_ptr_array_new_with_free_func (g_free);
  job->copies = g_ptr_array_new_with_free_func (g_free);
  job->folder = vireo_machine_store_machine_dir (machine->daemon->store, definition->uuid);
  for (guint i = 0; i < definition->disks->len; i++)
    {
      VireoDiskConfig *disk = g_ptr_array_index (definition->disks, i);
      g_autofree char *base = NULL;

      if (disk->readonly || strcmp (disk->device, "disk") != 0 || *disk->path == '\0')
        continue;
      /* Named after the target: unique in the machine, whatever the sources were called. */
      base = g_strdup_printf ("%s.qcow2", disk->target);
      g_ptr_array_add (job->sources, g_strdup (disk->path));
      g_ptr_array_add (job->copies, g_build_filename (job->folder, base, NULL));
      g_free (disk->path);
      disk->path = g_build_filename (job->folder, base, NULL);
      g_free (disk->format);
      disk->format = g_strdup ("qcow2");
    }
  definition->files_uid = vireo_authority_caller_uid (invocation);
  job->config = g_steal_pointer (&definition);
  if (job->sources->len > 0 && (op->qemu_img = vireo_qemu_img_find (&error)) == NULL)
    {
      export_failed (job, error);
      return;
    }
  if (g_mkdir_with_parents (job->folder, 0700) < 0)
    {
      int errsv = errno;
      error = g_error_new (VIREO_ERROR, vireo_error_code_for_errno (errsv), "cannot create %s: %s",
                           job->folder, g_strerror (errsv));
      export_failed (job, error);
      return;
    }
  if (machine->disk_cancellable == NULL)
    machine->disk_cancellable = g_cancellable_new ();
  export_next (job);
}

static void
export_checkpoint (VireoMachine *machine, GDBusMethodInvocation *invocation)
{
  /* A new machine: the create action too. */
  vireo_machine_authorize (machine, invocation, VIREO_ACTION_CREATE, export_authorized);
}

gboolean
vireo_checkpoints_handle_export (VireoDBusCheckpoint *iface, GDBusMethodInvocation *invocation,
                                 const char *new_name, VireoMachine *machine)
{
  vireo_machine_authorize (machine, invocation, VIREO_ACTION_MODIFY, export_checkpoint);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}
