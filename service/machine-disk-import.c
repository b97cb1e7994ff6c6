/* machine-disk-import.c — Machine.ImportDisk: an image of any format qemu-img reads, copied or
 * converted into the machine's folder by qemu-img, with DiskProgress as it goes.
 *
 * In system mode.  qemu-img opens the source and whatever files the source names (a qcow2
 * backing file, vmdk extents) by path; as root it would read /etc/shadow into a guest's disk for anyone
 * who asks.  So qemu-img runs as the caller (uid, gid and groups, vireo_identity_assume_in_child), and
 * reaches everything through that identity:
 *   1. vireod makes a temporary folder <folder>/.import-XXXXXX (0700) and gives it to the caller;
 *   2. qemu-img, as the caller, gets that folder as fd 3 and writes /proc/self/fd/3/<name> (the magic
 *      link lets it in without entering the machine's folder);
 *   3. when qemu-img has exited successfully, vireod (in a thread) opens the result without following
 *      links, checks that it is a regular file with one link, of the caller, of the format asked for,
 *      without a backing file; makes it vireod's own (fchown, 0600), fsyncs it, and renames it into the
 *      machine's folder without replacing anything (RENAME_NOREPLACE); the temporary folder goes.
 * (Steps 1 and 3 are image-handover.c, which Checkpoint.Export uses too, handing qemu-img the folder as
 * its fd 4 since its fd 3 is the checkpointed image.)
 * On failure or cancellation the temporary folder is removed with everything in it (unlinkat, no link
 * followed); a folder left by a vireod that died halfway is removed when the machine is next loaded.
 * What the caller can still do: control the content of the image (as its guest can) through a
 * process of theirs that kept a descriptor — never its owner, its place or a link to another file.
 * So no file an image's header names is ever opened with vireod's rights: the backing chain at start
 * is opened with the caller's (open_disks in machine-worker-config.c), the core refuses external data
 * files, and ResizeDisk runs qemu-img as the caller too (lending an image of vireod's to them meanwhile).
 */
#include "machine-disks-private.h"
#include "image-handover.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define IMPORT_PREFIX ".import-"

static void
on_import_progress (double fraction, gpointer data)
{
  DiskOperation *op = data;
  vireo_dbus_machine_emit_disk_progress (op->machine->iface, "import", op->target, fraction);
}

/* Step 3 of the import (see the top of this file), in a thread: the result made vireod's and moved in. */
static void
adopt_import_in_thread (GTask *task, gpointer source, gpointer data, GCancellable *cancellable)
{
  DiskOperation *op = data;
  const char *problem = vireo_handover_adopt (op->temp_folder, op->name, op->folder, &op->identity,
                                              strcmp (op->format, "qcow2") == 0);

  if (problem != NULL)
    g_task_return_new_error (task, VIREO_ERROR, VIREO_ERROR_FAILED, "cannot keep the imported image: %s",
                             problem);
  else
    g_task_return_boolean (task, TRUE);
}

static void
on_import_adopted (DiskOperation *op, GError *error)
{
  vireo_handover_folder_remove (op->temp_folder);
  if (error != NULL)
    {
      g_dbus_method_invocation_return_gerror (op->invocation, error);
      return;
    }
  /* The machine may have started meanwhile (Start waits for disk operations, so only if it was
   * re-attached): then the image stays, unnamed by the definition, and the caller hears why. */
  if (is_active (op->machine))
    {
      vireo_machine_return_error (op->invocation, VIREO_ERROR_INVALID_STATE,
                                  "“%s” started during the import; the image %s is kept but not added",
                                  op->machine->config->name, op->path);
      return;
    }
  vireo_dbus_machine_emit_disk_progress (op->machine->iface, "import", op->target, 1.0);
  vireo_disks_finish_with_new_disk (op->machine, op->invocation, g_steal_pointer (&op->config));
}

static void
on_imported (DiskOperation *op, GError *error)
{
  if (error != NULL)
    {
      vireo_handover_folder_remove (op->temp_folder);
      g_dbus_method_invocation_return_gerror (op->invocation, error);
      return;
    }
  /* The operation goes on, in a thread. */
  op->handed_on = TRUE;
  vireo_disk_operation_in_thread (op, adopt_import_in_thread, on_import_adopted);
}

static void
import_disk (VireoMachine *machine, GDBusMethodInvocation *invocation)
{
  g_autoptr (GVariant) options = NULL;
  g_autoptr (VireoMachineConfig) config = NULL;
  g_autoptr (DiskOperation) op = NULL;
  g_autofree char *qemu_img = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *output = NULL;
  NewDiskOptions parsed;
  VireoDiskConfig *disk = NULL;
  const char *source;
  struct stat st;
  int fd;

  g_variant_get (g_dbus_method_invocation_get_parameters (invocation), "(&s@a{sv})", &source, &options);
  if (!vireo_disks_parse_new_options (options, &parsed, invocation)
      || !vireo_disks_require_off (machine, invocation))
    return;
  if (!g_utf8_validate (source, -1, NULL) || !g_path_is_absolute (source) || strlen (source) > 4095)
    {
      vireo_machine_return_error (invocation, VIREO_ERROR_INVALID_ARGUMENT,
                                  "the source must be an absolute path");
      return;
    }
  if ((qemu_img = vireo_disks_qemu_img_path (invocation)) == NULL)
    return;
  /* Said now, in words a user understands, rather than in qemu-img's: the caller must be able to read
   * it (qemu-img will read it as them anyway). */
  fd = vireo_open_as (vireo_authority_caller_uid (invocation), source, O_RDONLY);
  if (fd < 0 || fstat (fd, &st) < 0 || !S_ISREG (st.st_mode))
    {
      int errsv = fd < 0 ? errno : EINVAL;
      if (fd >= 0)
        close (fd);
      if (errsv == EINVAL)
        vireo_machine_return_error (invocation, VIREO_ERROR_INVALID_ARGUMENT, "%s is not a regular file",
                                    source);
      else
        vireo_machine_return_error (invocation, vireo_disks_error_code (errsv), "cannot read %s: %s", source,
                                    g_strerror (errsv));
      return;
    }
  close (fd);

  config = vireo_disks_config_with_new_disk (machine, invocation, parsed.bus, parsed.format, &disk);
  if (config == NULL)
    return;
  g_free (disk->path);
  disk->path = vireo_disks_new_image_path (machine, &parsed, disk);

  op = vireo_disk_operation_new (machine, invocation, "import");
  op->target = g_strdup (disk->target);
  op->path = g_strdup (disk->path);
  op->folder = vireo_machine_folder (machine);
  op->name = g_path_get_basename (disk->path);
  op->format = g_strdup (parsed.format);
  if (lstat (op->path, &st) == 0)
    {
      vireo_machine_return_error (invocation, VIREO_ERROR_EXISTS, "%s already exists", op->path);
      return;
    }
  if (!vireo_identity_init (&op->identity, op->caller_uid))
    {
      vireo_machine_return_error (invocation, VIREO_ERROR_PERMISSION_DENIED,
                                  "the caller has no usable identity");
      return;
    }
  op->temp_folder = vireo_handover_folder_new (op->folder, IMPORT_PREFIX, &op->identity, &fd, &error);
  if (op->temp_folder == NULL)
    {
      g_dbus_method_invocation_return_gerror (invocation, error);
      return;
    }
  op->config = g_steal_pointer (&config);
  vireo_dbus_machine_emit_disk_progress (machine->iface, "import", op->target, 0.0);
  output = g_strdup_printf ("/proc/self/fd/3/%s", op->name);
  {
    const char *argv[] = { qemu_img, "convert", "-p", "-O", op->format, source, output, NULL };
    vireo_disk_operation_run_qemu_img (g_steal_pointer (&op), argv, fd, on_import_progress, on_imported);
  }
}

static gboolean
handle_import_disk (VireoDBusMachine *iface, GDBusMethodInvocation *invocation, const char *source,
                    GVariant *options, VireoMachine *machine)
{
  vireo_machine_authorize (machine, invocation, VIREO_ACTION_MODIFY, import_disk);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

void
vireo_machine_disk_import_init (VireoMachine *machine)
{
  g_autofree char *folder = vireo_machine_folder (machine);

  g_signal_connect (machine->iface, "handle-import-disk", G_CALLBACK (handle_import_disk), machine);
  /* Temporary folders of imports a vireod that died left behind. */
  vireo_handover_remove_leftovers (folder, IMPORT_PREFIX, "import");
}
