/* machine-disk-receive.c — the receiving end of a disk moved from another host: Machine.ReceiveDisk (an
 * empty image in the machine's folder and its disk in the definition, marked as being received),
 * Machine.OpenReceivedDisk (a write-only descriptor of it, which the app fills) and
 * Machine.FinishReceivedDisk (flushed, hashed and checked in a thread; internal snapshots dropped on
 * request with qemu-img), after which the disk is an ordinary one.
 *
 * Whose rights.  The image is vireod's own (0600, in the machine's folder, which no caller can enter),
 * as CreateDisk's are; the caller only ever gets a descriptor to write its bytes.  Its bytes are a
 * stranger's, so before the disk counts FinishReceivedDisk checks that a qcow2 names no other file (a
 * backing or external data file): vireod opens images of its own folder with its own rights, and
 * qemu-img, run as vireod for the snapshots, would open whatever the header names.
 *
 * The mark lives in memory only (machine->receiving_disks): a vireod that restarts halfway forgets it,
 * and the half-received disk is an ordinary disk whose content the app never confirmed; the app
 * deletes the half-made machine.
 */
#include "image-handover.h"
#include "machine-disks-private.h"
#include "image-info.h"
#include "vireo-error.h"

#include <errno.h>
#include <fcntl.h>
#include <gio/gunixfdlist.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

/* ---- the mark ---- */

gboolean
vireo_disks_is_receiving (VireoMachine *machine, const char *target)
{
  const char *path = machine->receiving_disks != NULL ? g_hash_table_lookup (machine->receiving_disks, target)
                                                      : NULL;
  const VireoDiskConfig *disk = path != NULL ? vireo_machine_config_find_disk (machine->config, target)
                                             : NULL;

  /* A disk detached (or replaced through Update) since is no longer the one received. */
  return disk != NULL && strcmp (disk->path, path) == 0;
}

const char *
vireo_machine_receiving_disk (VireoMachine *machine)
{
  GHashTableIter iter;
  gpointer target;

  if (machine->receiving_disks == NULL)
    return NULL;
  g_hash_table_iter_init (&iter, machine->receiving_disks);
  while (g_hash_table_iter_next (&iter, &target, NULL))
    if (vireo_disks_is_receiving (machine, target))
      return target;
  return NULL;
}

static void
mark_receiving (VireoMachine *machine, const char *target, const char *path)
{
  if (machine->receiving_disks == NULL)
    machine->receiving_disks = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  g_hash_table_replace (machine->receiving_disks, g_strdup (target), g_strdup (path));
}

/* @target of @invocation's machine, being received; else NULL and NotFound or InvalidState returned. */
static const VireoDiskConfig *
require_receiving (VireoMachine *machine, GDBusMethodInvocation *invocation, const char *target)
{
  const VireoDiskConfig *disk = vireo_disks_require_disk (machine, invocation, target);

  if (disk != NULL && !vireo_disks_is_receiving (machine, target))
    {
      vireo_machine_return_error (invocation, VIREO_ERROR_INVALID_STATE, "disk “%s” is not being received",
                                  target);
      return NULL;
    }
  return disk;
}

/* ---- ReceiveDisk ---- */

/* The disk entry of ReceiveDisk, checked: *@format its format, and what vireo_disk_config_parse takes
 * (the entry with an empty "path" standing for the image to come: nothing to open yet).  NULL with
 * InvalidArgument returned. */
static GVariant *
parse_received_entry (GVariant *entry, const char **format, GDBusMethodInvocation *invocation)
{
  g_autoptr (GVariantDict) dict = g_variant_dict_new (entry);
  g_autoptr (GVariant) format_value = g_variant_dict_lookup_value (dict, "format", NULL);
  g_autoptr (GVariant) device = g_variant_dict_lookup_value (dict, "device", NULL);

  if (g_variant_dict_contains (dict, "path"))
    {
      vireo_machine_return_error (invocation, VIREO_ERROR_INVALID_ARGUMENT,
                                  "a received disk has no “path”: its image is made in the machine's folder");
      return NULL;
    }
  if (format_value == NULL || !g_variant_is_of_type (format_value, G_VARIANT_TYPE_STRING)
      || (strcmp (g_variant_get_string (format_value, NULL), "raw") != 0
          && strcmp (g_variant_get_string (format_value, NULL), "qcow2") != 0))
    {
      vireo_machine_return_error (invocation, VIREO_ERROR_INVALID_ARGUMENT,
                                  "a received disk needs its “format”: “raw” or “qcow2”");
      return NULL;
    }
  if (device != NULL
      && (!g_variant_is_of_type (device, G_VARIANT_TYPE_STRING)
          || strcmp (g_variant_get_string (device, NULL), "disk") != 0))
    {
      vireo_machine_return_error (invocation, VIREO_ERROR_INVALID_ARGUMENT,
                                  "a received disk's “device” is “disk”: a CD-ROM's medium is not moved");
      return NULL;
    }
  *format = g_intern_string (g_variant_get_string (format_value, NULL));
  g_variant_dict_remove (dict, "format");
  g_variant_dict_insert (dict, "path", "s", "");
  return g_variant_ref_sink (g_variant_dict_end (dict));
}

/* ReceiveDisk's options: "name" (as CreateDisk's, into @parsed) and "size".  FALSE with InvalidArgument
 * returned. */
static gboolean
parse_receive_options (GVariant *options, NewDiskOptions *parsed, guint64 *size,
                       GDBusMethodInvocation *invocation)
{
  g_autoptr (GVariantDict) name_only = g_variant_dict_new (NULL);
  g_autoptr (GVariant) name_options = NULL;
  GVariantIter iter;
  const char *key;
  GVariant *value;

  *size = 0;
  g_variant_iter_init (&iter, options);
  while (g_variant_iter_next (&iter, "{&sv}", &key, &value))
    {
      g_autoptr (GVariant) owned = value;

      if (strcmp (key, "name") == 0)
        g_variant_dict_insert_value (name_only, key, value);
      else if (strcmp (key, "size") == 0 && g_variant_is_of_type (value, G_VARIANT_TYPE_UINT64))
        *size = g_variant_get_uint64 (value);
      else
        {
          g_autofree char *shown = g_utf8_make_valid (key, MIN (strlen (key), 32));
          vireo_machine_return_error (invocation, VIREO_ERROR_INVALID_ARGUMENT,
                                      strcmp (key, "size") == 0
                                          ? "option “%s” must be of type “t”"
                                          : "“%s” is not an option (known: “name”, “size”)",
                                      shown);
          return FALSE;
        }
    }
  /* The name's rules are CreateDisk's. */
  name_options = g_variant_ref_sink (g_variant_dict_end (name_only));
  return vireo_disks_parse_new_options (name_options, parsed, invocation);
}

/* Whether the file system of @folder has @size bytes free; else Failed returned. */
static gboolean
check_free_space (const char *folder, guint64 size, const char *target, GDBusMethodInvocation *invocation)
{
  struct statvfs st;
  guint64 free_bytes;

  if (size == 0 || statvfs (folder, &st) < 0)
    return TRUE;
  free_bytes = (guint64) st.f_bavail * st.f_frsize;
  if (free_bytes >= size)
    return TRUE;
  {
    g_autofree char *needed = g_format_size (size);
    g_autofree char *available = g_format_size (free_bytes);
    vireo_machine_return_error (invocation, VIREO_ERROR_FAILED,
                                "not enough free space for disk “%s”: it needs %s, and %s has %s free",
                                target, needed, folder, available);
  }
  return FALSE;
}

/* The empty image, made without replacing anything; FALSE with the error returned. */
static gboolean
create_image (const char *folder, const char *path, GDBusMethodInvocation *invocation)
{
  g_autofree char *base = g_path_get_basename (path);
  int dir_fd = open (folder, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  int fd = dir_fd >= 0 ? openat (dir_fd, base, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600)
                       : -1;
  int errsv = errno;

  if (dir_fd >= 0)
    close (dir_fd);
  if (fd < 0)
    {
      vireo_machine_return_error (invocation, vireo_disks_error_code (errsv), "cannot create %s: %s", path,
                                  g_strerror (errsv));
      return FALSE;
    }
  close (fd);
  return TRUE;
}

static void
receive_disk (VireoMachine *machine, GDBusMethodInvocation *invocation)
{
  g_autoptr (GVariant) entry = NULL;
  g_autoptr (GVariant) options = NULL;
  g_autoptr (GVariant) parse_entry = NULL;
  g_autoptr (VireoMachineConfig) config = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *folder = NULL;
  g_autofree char *target = NULL;
  g_autofree char *path = NULL;
  NewDiskOptions parsed;
  VireoDiskConfig *disk;
  const char *format = NULL;
  guint64 size;
  struct stat st;

  g_variant_get (g_dbus_method_invocation_get_parameters (invocation), "(@a{sv}@a{sv})", &entry, &options);
  if ((parse_entry = parse_received_entry (entry, &format, invocation)) == NULL
      || !parse_receive_options (options, &parsed, &size, invocation)
      || !vireo_disks_require_off (machine, invocation))
    return;
  parsed.format = format;

  config = vireo_machine_config_copy (machine->config);
  disk = vireo_disks_parse_new_disk (machine, config, parse_entry, invocation);
  if (disk == NULL)
    return;
  g_ptr_array_add (config->disks, disk);
  vireo_machine_config_assign_targets (config);
  if (disk->target == NULL)
    {
      vireo_machine_return_error (invocation, VIREO_ERROR_INVALID_ARGUMENT, "“%s” has no free %s target left",
                                  machine->config->name, disk->bus);
      return;
    }
  g_free (disk->format);
  disk->format = g_strdup (format);
  g_free (disk->path);
  disk->path = vireo_disks_new_image_path (machine, &parsed, disk);
  /* Said before the definition would name a file twice. */
  if (lstat (disk->path, &st) == 0)
    {
      vireo_machine_return_error (invocation, VIREO_ERROR_EXISTS, "%s already exists", disk->path);
      return;
    }
  if (!vireo_machine_config_validate (config, &error))
    {
      g_dbus_method_invocation_return_gerror (invocation, error);
      return;
    }

  folder = vireo_machine_folder (machine);
  target = g_strdup (disk->target);
  path = g_strdup (disk->path);
  if (!check_free_space (folder, size, target, invocation) || !create_image (folder, path, invocation))
    return;
  if (!vireo_machine_store_config (machine, g_steal_pointer (&config), invocation))
    {
      g_autofree char *base = g_path_get_basename (path);
      int dir_fd = open (folder, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (dir_fd >= 0)
        {
          unlinkat (dir_fd, base, 0);
          close (dir_fd);
        }
      return;
    }
  mark_receiving (machine, target, path);
  vireo_dbus_machine_complete_receive_disk (machine->iface, invocation, target);
}

static gboolean
handle_receive_disk (VireoDBusMachine *iface, GDBusMethodInvocation *invocation, GVariant *disk,
                     GVariant *options, VireoMachine *machine)
{
  vireo_machine_authorize (machine, invocation, VIREO_ACTION_MODIFY, receive_disk);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

/* ---- OpenReceivedDisk ---- */

static void
open_received_disk (VireoMachine *machine, GDBusMethodInvocation *invocation)
{
  g_autoptr (GUnixFDList) fds = NULL;
  const VireoDiskConfig *disk;
  const char *target;
  int fd;

  g_variant_get (g_dbus_method_invocation_get_parameters (invocation), "(&s)", &target);
  if ((disk = require_receiving (machine, invocation, target)) == NULL
      || (fd = vireo_disks_open_image (machine, invocation, disk, O_WRONLY, VIREO_ERROR_FAILED)) < 0)
    return;
  fds = g_unix_fd_list_new_from_array (&fd, 1);
  vireo_dbus_machine_complete_open_received_disk (machine->iface, invocation, fds, g_variant_new_handle (0));
}

static gboolean
handle_open_received_disk (VireoDBusMachine *iface, GDBusMethodInvocation *invocation, GUnixFDList *fds,
                           const char *target, VireoMachine *machine)
{
  vireo_machine_authorize (machine, invocation, VIREO_ACTION_MODIFY, open_received_disk);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

/* ---- FinishReceivedDisk ---- */

/* In a thread: flushed, hashed, then checked to be an image of the disk's format. */
static void
verify_in_thread (GTask *task, gpointer source, gpointer data, GCancellable *cancellable)
{
  DiskOperation *op = data;
  GError *error = NULL;
  HvImageInfo info = { 0 };
  const char *problem = NULL;

  if (fdatasync (op->fd) < 0)
    {
      int errsv = errno;
      g_task_return_new_error (task, VIREO_ERROR, vireo_error_code_for_errno (errsv),
                               "cannot flush disk “%s” (%s) to storage: %s", op->target, op->path,
                               g_strerror (errsv));
      return;
    }
  if (!vireo_disks_hash_in_thread (op, "verify", &error))
    {
      g_task_return_error (task, error);
      return;
    }
  if (strcmp (op->format, "qcow2") == 0)
    {
      /* The same probe that tells an image's format everywhere else (image-info.h). */
      if (!hv_image_info_read (op->fd, &info, &error) || !info.qcow2)
        problem = "it has no qcow2 header that parses";
      else if (info.backing != NULL)
        problem = "it names a backing file";
      else if (vireo_qcow2_has_data_file (op->fd))
        problem = "it names an external data file";
      hv_image_info_clear (&info);
    }
  if (problem != NULL)
    g_task_return_new_error (task, VIREO_ERROR, VIREO_ERROR_FAILED,
                             "disk “%s” did not arrive as a qcow2 image: %s%s%s", op->target, problem,
                             error != NULL ? ": " : "", error != NULL ? error->message : "");
  else
    g_task_return_boolean (task, TRUE);
  g_clear_error (&error);
}

/* The end: the disk is an ordinary one. */
static void
finish_received (DiskOperation *op)
{
  if (op->machine->receiving_disks != NULL)
    g_hash_table_remove (op->machine->receiving_disks, op->target);
  vireo_dbus_machine_emit_disk_progress (op->machine->iface, "verify", op->target, 1.0);
  vireo_dbus_machine_complete_finish_received_disk (op->machine->iface, op->invocation, op->size, op->sha256);
}

static void on_snapshot_deleted (DiskOperation *op, GError *error);

/* qemu-img snapshot -d on the next of op->snapshots, as the image's owner (vireod), reaching the image
 * only through its descriptor. */
static void
delete_next_snapshot (DiskOperation *op)
{
  const char *argv[] = {
    op->qemu_img, "snapshot", "-d", op->snapshots[op->next_snapshot], "/proc/self/fd/3", NULL,
  };

  /* A snapshot step is worse interrupted than finished (machine-checkpoint-recovery.c). */
  vireo_identity_init (&op->identity, VIREO_OWN_UID);
  op->identity.outlive_parent = TRUE;
  vireo_disk_operation_run_qemu_img (op, argv, dup (op->fd), NULL, on_snapshot_deleted);
}

static void
on_snapshot_deleted (DiskOperation *op, GError *error)
{
  if (error != NULL)
    {
      g_dbus_method_invocation_return_gerror (op->invocation, error);
      return;
    }
  if (op->snapshots[++op->next_snapshot] == NULL)
    {
      finish_received (op);
      return;
    }
  op->handed_on = TRUE;
  delete_next_snapshot (op);
}

/* The names of the snapshots in `qemu-img snapshot -l`'s table, whose lines are
 *   ID        TAG               VM SIZE                DATE     VM CLOCK     ICOUNT
 *   1         my snapshot      1.5 MiB 2026-12-07 07:27:18 00:00:00.000          0
 * (qemu-img snapshot -d takes the name, not the id).  A name may hold spaces: it is what lies between the
 * id and the columns that end the line, the icount absent when the snapshot has none. */
static char **
parse_snapshot_names (const char *output)
{
  g_autoptr (GRegex) row = g_regex_new (
      "^\\S+\\s(.*?)\\s+\\S+ \\S+\\s+\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d"
      "\\s+\\d+:\\d\\d:\\d\\d\\.\\d+(\\s+\\d+)?$",
      G_REGEX_RAW | G_REGEX_MULTILINE, 0, NULL);
  g_autoptr (GStrvBuilder) names = g_strv_builder_new ();
  g_autoptr (GMatchInfo) match = NULL;

  g_regex_match (row, output, 0, &match);
  for (; g_match_info_matches (match); g_match_info_next (match, NULL))
    {
      g_autofree char *name = g_match_info_fetch (match, 1);
      g_strv_builder_add (names, g_strstrip (name));
    }
  return g_strv_builder_end (names);
}

static void
on_snapshots_listed (GObject *source, GAsyncResult *result, gpointer data)
{
  g_autoptr (DiskOperation) op = data;
  g_autoptr (GError) error = NULL;
  g_autofree char *output = NULL;

  if (!vireo_qemu_img_run_finish_with_output (result, &output, &error))
    {
      g_dbus_method_invocation_return_gerror (op->invocation, error);
      return;
    }
  op->snapshots = parse_snapshot_names (output);
  if (op->snapshots[0] == NULL)
    {
      finish_received (op);
      return;
    }
  delete_next_snapshot (g_steal_pointer (&op));
}

static void
on_verified (DiskOperation *op, GError *error)
{
  if (error != NULL)
    {
      g_dbus_method_invocation_return_gerror (op->invocation, error);
      return;
    }
  if (op->qemu_img == NULL || strcmp (op->format, "qcow2") != 0)
    {
      finish_received (op);
      return;
    }
  /* Checked above to name no other file: qemu-img as vireod opens nothing but this image. */
  {
    const char *argv[] = { op->qemu_img, "snapshot", "-l", "/proc/self/fd/3", NULL };
    vireo_identity_init (&op->identity, VIREO_OWN_UID);
    op->handed_on = TRUE;
    vireo_qemu_img_run_async (argv, dup (op->fd), &op->identity, NULL, NULL, op->machine->disk_cancellable,
                              on_snapshots_listed, op);
  }
}

/* FinishReceivedDisk's options: "drop-snapshots".  FALSE with InvalidArgument returned. */
static gboolean
parse_finish_options (GVariant *options, gboolean *drop_snapshots, GDBusMethodInvocation *invocation)
{
  GVariantIter iter;
  const char *key;
  GVariant *value;

  *drop_snapshots = FALSE;
  g_variant_iter_init (&iter, options);
  while (g_variant_iter_next (&iter, "{&sv}", &key, &value))
    {
      g_autoptr (GVariant) owned = value;

      if (strcmp (key, "drop-snapshots") == 0 && g_variant_is_of_type (value, G_VARIANT_TYPE_BOOLEAN))
        *drop_snapshots = g_variant_get_boolean (value);
      else
        {
          g_autofree char *shown = g_utf8_make_valid (key, MIN (strlen (key), 32));
          vireo_machine_return_error (invocation, VIREO_ERROR_INVALID_ARGUMENT,
                                      strcmp (key, "drop-snapshots") == 0
                                          ? "option “%s” must be of type “b”"
                                          : "“%s” is not an option (known: “drop-snapshots”)",
                                      shown);
          return FALSE;
        }
    }
  return TRUE;
}

static void
finish_received_disk (VireoMachine *machine, GDBusMethodInvocation *invocation)
{
  g_autoptr (GVariant) options = NULL;
  g_autoptr (DiskOperation) op = NULL;
  g_autofree char *qemu_img = NULL;
  const VireoDiskConfig *disk;
  const char *target;
  gboolean drop_snapshots;
  int fd;

  g_variant_get (g_dbus_method_invocation_get_parameters (invocation), "(&s@a{sv})", &target, &options);
  if (!parse_finish_options (options, &drop_snapshots, invocation)
      || (disk = require_receiving (machine, invocation, target)) == NULL
      || !vireo_disks_require_off (machine, invocation))
    return;
  if (drop_snapshots && strcmp (disk->format, "qcow2") == 0
      && (qemu_img = vireo_disks_qemu_img_path (invocation)) == NULL)
    return;
  /* Writable: qemu-img deletes snapshots through it. */
  if ((fd = vireo_disks_open_image (machine, invocation, disk, O_RDWR, VIREO_ERROR_FAILED)) < 0)
    return;
  op = vireo_disk_operation_new (machine, invocation, "verify");
  op->fd = fd;
  op->target = g_strdup (disk->target);
  op->path = g_strdup (disk->path);
  op->format = g_strdup (disk->format);
  op->qemu_img = g_steal_pointer (&qemu_img);
  vireo_dbus_machine_emit_disk_progress (machine->iface, "verify", op->target, 0.0);
  vireo_disk_operation_in_thread (g_steal_pointer (&op), verify_in_thread, on_verified);
}

static gboolean
handle_finish_received_disk (VireoDBusMachine *iface, GDBusMethodInvocation *invocation, const char *target,
                             GVariant *options, VireoMachine *machine)
{
  vireo_machine_authorize (machine, invocation, VIREO_ACTION_MODIFY, finish_received_disk);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

void
vireo_machine_disk_receive_init (VireoMachine *machine)
{
  g_signal_connect (machine->iface, "handle-receive-disk", G_CALLBACK (handle_receive_disk), machine);
  g_signal_connect (machine->iface, "handle-open-received-disk", G_CALLBACK (handle_open_received_disk),
                    machine);
  g_signal_connect (machine->iface, "handle-finish-received-disk", G_CALLBACK (handle_finish_received_disk),
                    machine);
}
