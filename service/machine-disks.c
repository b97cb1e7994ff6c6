/* machine-disks.c — a machine's disks through D-Bus: CreateDisk, AttachDisk, DetachDisk, ResizeDisk and
 * ChangeMedium (data/org.vireo.Vireo1.xml); ImportDisk and its DiskProgress are machine-disk-import.c.
 *
 * Whose rights.  Every caller is a stranger (system mode: any local user).  A path a caller names is
 * opened with the caller's rights (open-as.h), never vireod's.  Images vireod makes live directly in
 * the machine's own folder (<storage>/<uuid>/, mode 0700, vireod's), which no caller can enter; vireod
 * opens those with its own rights and never through a symlink (vireo_machine_config_open_image).
 *
 * Long work never runs on the main loop: raw files are sized in a thread; qemu-img (package qemu-utils)
 * runs as a subprocess watched asynchronously.  We use qemu-img rather than our own writers because it
 * is the reference for every format it writes and reads (qcow2 create and resize, and conversion from
 * vmdk, vdi, vhdx, ...), and a subprocess keeps its parsers of untrusted images out of vireod.
 *
 * No file an image's header names (a backing file, an external data file) is ever opened with
 * vireod's rights: ResizeDisk runs qemu-img as the caller, lending an image of vireod's to them for that
 * long (see machine-disk-import.c for why even vireod's images are not trusted that far).  What this
 * file and machine-disk-import.c share is machine-disks-private.h.
 */
#include "machine-disks-private.h"
#include "vireo-error.h"
#include "open-as.h"
#include "image-info.h"
#include "qemu-img.h"

#include <errno.h>
#include <fcntl.h>
#include <gio/gunixfdlist.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define DISK_SIZE_MAX  (64ULL << 40) /* 64 TiB */
#define NAME_MAX_BYTES 200

char *
vireo_machine_folder (VireoMachine *machine)
{
  return vireo_machine_store_machine_dir (machine->daemon->store, machine->config->uuid);
}

/* Disks change only while the machine is off (saved state would not fit the new devices), and one
 * disk operation runs at a time. */
VireoDiskConfig *
vireo_disks_parse_new_disk (VireoMachine *machine, VireoMachineConfig *config, GVariant *entry,
                            GDBusMethodInvocation *invocation)
{
  g_autoptr (GError) error = NULL;
  VireoDiskConfig *disk = vireo_disk_config_parse (config, entry, config->disks->len, &error);

  if (disk == NULL)
    {
      g_dbus_method_invocation_return_gerror (invocation, error);
      return NULL;
    }
  if (disk->target != NULL && vireo_machine_config_find_disk (config, disk->target) != NULL)
    {
      vireo_machine_return_error (invocation, VIREO_ERROR_EXISTS, "“%s” already has a disk “%s”",
                                  machine->config->name, disk->target);
      vireo_disk_config_free (disk);
      return NULL;
    }
  return disk;
}

gboolean
vireo_disks_require_off (VireoMachine *machine, GDBusMethodInvocation *invocation)
{
  if (is_active (machine) || state_is (machine, "saved"))
    {
      vireo_machine_return_error (invocation, VIREO_ERROR_INVALID_STATE,
                                  "“%s” is %s; its disks change only while it is off", machine->config->name,
                                  state (machine));
      return FALSE;
    }
  if (machine->disk_operation != NULL)
    {
      vireo_machine_return_error (invocation, VIREO_ERROR_INVALID_STATE,
                                  "“%s” has a disk operation (%s) under way", machine->config->name,
                                  machine->disk_operation);
      return FALSE;
    }
  return TRUE;
}

VireoDiskConfig *
vireo_disks_require_disk (VireoMachine *machine, GDBusMethodInvocation *invocation, const char *target)
{
  VireoDiskConfig *disk = vireo_machine_config_find_disk (machine->config, target);

  if (disk == NULL)
    {
      g_autofree char *shown = g_utf8_make_valid (target, MIN (strlen (target), 32));
      vireo_machine_return_error (invocation, VIREO_ERROR_NOT_FOUND, "“%s” has no disk “%s”",
                                  machine->config->name, shown);
    }
  return disk;
}

static gboolean
check_size (GDBusMethodInvocation *invocation, guint64 size, guint64 *rounded)
{
  if (size == 0 || size > DISK_SIZE_MAX)
    {
      vireo_machine_return_error (invocation, VIREO_ERROR_INVALID_ARGUMENT,
                                  "a disk's size is 1 byte to 64 TiB, not %" G_GUINT64_FORMAT " bytes", size);
      return FALSE;
    }
  *rounded = (size + 511) & ~(guint64) 511;
  return TRUE;
}

gboolean
vireo_disks_parse_new_options (GVariant *options, NewDiskOptions *out, GDBusMethodInvocation *invocation)
{
  static const char *const formats[] = { "qcow2", "raw", NULL };
  static const char *const buses[] = { "virtio", "sata", NULL };
  GVariantIter iter;
  const char *key;
  GVariant *value;

  out->format = "qcow2";
  out->bus = "virtio";
  out->name = NULL;
  g_variant_iter_init (&iter, options);
  while (g_variant_iter_next (&iter, "{&sv}", &key, &value))
    {
      g_autoptr (GVariant) owned = value;
      const char *text;

      if (strcmp (key, "format") != 0 && strcmp (key, "bus") != 0 && strcmp (key, "name") != 0)
        {
          g_autofree char *shown = g_utf8_make_valid (key, MIN (strlen (key), 32));
          vireo_machine_return_error (invocation, VIREO_ERROR_INVALID_ARGUMENT,
                                      "“%s” is not an option (known: “format”, “bus”, “name”)", shown);
          return FALSE;
        }
      if (!g_variant_is_of_type (value, G_VARIANT_TYPE_STRING))
        {
          vireo_machine_return_error (invocation, VIREO_ERROR_INVALID_ARGUMENT,
                                      "option “%s” must be of type “s”, not “%s”", key,
                                      g_variant_get_type_string (value));
          return FALSE;
        }
      text = g_variant_get_string (value, NULL);
      if (strcmp (key, "format") == 0)
        {
          if (!g_strv_contains (formats, text))
            {
              vireo_machine_return_error (invocation, VIREO_ERROR_INVALID_ARGUMENT,
                                          "option “format” must be “qcow2” or “raw”");
              return FALSE;
            }
          out->format = g_intern_string (text);
        }
      else if (strcmp (key, "bus") == 0)
        {
          if (!g_strv_contains (buses, text))
            {
              vireo_machine_return_error (invocation, VIREO_ERROR_INVALID_ARGUMENT,
                                          "option “bus” must be “virtio” or “sata”");
              return FALSE;
            }
          out->bus = g_intern_string (text);
        }
      else
        {
          gboolean ok = g_utf8_validate (text, -1, NULL) && *text != '\0' && *text != '.'
                        && strlen (text) <= NAME_MAX_BYTES && strchr (text, '/') == NULL
                        && !g_str_has_prefix (text, "machine.xml") && strcmp (text, "state") != 0;

          for (const char *p = text; ok && *p != '\0'; p = g_utf8_next_char (p))
            ok = !g_unichar_iscntrl (g_utf8_get_char (p));
          if (!ok)
            {
              vireo_machine_return_error (
                  invocation, VIREO_ERROR_INVALID_ARGUMENT,
                  "option “name” must be a file name of up to %d bytes, without “/” or control "
                  "characters, not starting with “.” or “machine.xml”, and not “state”",
                  NAME_MAX_BYTES);
              return FALSE;
            }
          out->name = g_intern_string (text);
        }
    }
  return TRUE;
}

/* A copy of the definition with a new last disk on @bus at @path (format @format), its target
 * assigned; NULL (and the error returned) when the machine has all the disks it may. */
VireoMachineConfig *
vireo_disks_config_with_new_disk (VireoMachine *machine, GDBusMethodInvocation *invocation, const char *bus,
                                  const char *format, VireoDiskConfig **new_disk)
{
  g_autoptr (VireoMachineConfig) config = vireo_machine_config_copy (machine->config);
  VireoDiskConfig *disk = vireo_disk_config_new ("", format, FALSE);

  g_free (disk->bus);
  disk->bus = g_strdup (bus);
  g_ptr_array_add (config->disks, disk);
  vireo_machine_config_assign_targets (config);
  if (disk->target == NULL)
    {
      vireo_machine_return_error (invocation, VIREO_ERROR_INVALID_ARGUMENT, "“%s” has no free %s target left",
                                  machine->config->name, bus);
      return NULL;
    }
  *new_disk = disk;
  return g_steal_pointer (&config);
}

/* Where a new image called @name (or after @disk's target) goes: <folder>/<name>. */
char *
vireo_disks_new_image_path (VireoMachine *machine, const NewDiskOptions *options, const VireoDiskConfig *disk)
{
  g_autofree char *folder = vireo_machine_folder (machine);
  g_autofree char *name = options->name != NULL
                              ? g_strdup (options->name)
                              : g_strdup_printf ("%s.%s", disk->target,
                                                 strcmp (options->format, "raw") == 0 ? "img" : "qcow2");
  return g_build_filename (folder, name, NULL);
}

char *
vireo_disks_qemu_img_path (GDBusMethodInvocation *invocation)
{
  g_autoptr (GError) error = NULL;
  char *path = vireo_qemu_img_find (&error);

  if (path == NULL)
    g_dbus_method_invocation_return_gerror (invocation, error);
  return path;
}

/* As vireo_error_code_for_errno(), and Exists for EEXIST (a new file's name is taken). */
VireoError
vireo_disks_error_code (int errsv)
{
  return errsv == EEXIST ? VIREO_ERROR_EXISTS : vireo_error_code_for_errno (errsv);
}

/* The end of CreateDisk or ImportDisk: the new disk (the last of @planned, taking it) joins the
 * definition as it is now, which an Update may have changed meanwhile; its target is kept if still
 * free.  Replies with the target. */
void
vireo_disks_finish_with_new_disk (VireoMachine *machine, GDBusMethodInvocation *invocation,
                                  VireoMachineConfig *planned)
{
  g_autoptr (VireoMachineConfig) owned = planned;
  g_autoptr (VireoMachineConfig) config = vireo_machine_config_copy (machine->config);
  g_autoptr (GError) error = NULL;
  VireoDiskConfig *disk = vireo_disk_config_copy (
      g_ptr_array_index (planned->disks, planned->disks->len - 1));
  g_autofree char *target = NULL;

  if (vireo_machine_config_find_disk (config, disk->target) != NULL)
    g_clear_pointer (&disk->target, g_free);
  g_ptr_array_add (config->disks, disk);
  vireo_machine_config_assign_targets (config);
  if (!vireo_machine_config_validate (config, &error))
    {
      g_prefix_error (&error, "the image %s is kept but not added: ", disk->path);
      g_dbus_method_invocation_return_gerror (invocation, error);
      return;
    }
  target = g_strdup (disk->target);
  if (vireo_machine_store_config (machine, g_steal_pointer (&config), invocation))
    g_dbus_method_invocation_return_value (invocation, g_variant_new ("(s)", target));
}

/* The end of a disk operation: the definition gets @config (taking it) and the call its reply. */
static void
finish_with_config (VireoMachine *machine, GDBusMethodInvocation *invocation, VireoMachineConfig *config,
                    GVariant *reply)
{
  g_autoptr (GVariant) owned = reply != NULL ? g_variant_ref_sink (reply) : NULL;

  if (vireo_machine_store_config (machine, config, invocation))
    g_dbus_method_invocation_return_value (invocation, owned);
}

/* ---- an operation in flight ---- */

DiskOperation *
vireo_disk_operation_new (VireoMachine *machine, GDBusMethodInvocation *invocation, const char *what)
{
  DiskOperation *op = g_new0 (DiskOperation, 1);

  op->machine = g_object_ref (machine);
  op->invocation = g_object_ref (invocation);
  op->fd = -1;
  op->caller_uid = vireo_authority_caller_uid (invocation);
  machine->disk_operation = what;
  if (machine->disk_cancellable == NULL)
    machine->disk_cancellable = g_cancellable_new ();
  return op;
}

void
vireo_disk_operation_free (DiskOperation *op)
{
  op->machine->disk_operation = NULL;
  g_object_unref (op->machine);
  g_object_unref (op->invocation);
  if (op->config)
    vireo_machine_config_free (op->config);
  g_free (op->target);
  g_free (op->path);
  g_free (op->folder);
  g_free (op->temp_folder);
  g_free (op->name);
  g_free (op->format);
  g_free (op->sha256);
  g_free (op->qemu_img);
  g_strfreev (op->snapshots);
  if (op->fd >= 0)
    close (op->fd);
  g_free (op);
}

/* ---- CreateDisk ---- */

static void
on_created (DiskOperation *op, GError *error)
{
  if (error != NULL)
    {
      if (op->remove_on_failure)
        unlink (op->path);
      g_dbus_method_invocation_return_gerror (op->invocation, error);
      return;
    }
  vireo_disks_finish_with_new_disk (op->machine, op->invocation, g_steal_pointer (&op->config));
}

static void
size_raw_in_thread (GTask *task, gpointer source, gpointer data, GCancellable *cancellable)
{
  DiskOperation *op = data;

  if (ftruncate (op->fd, (off_t) op->size) < 0 || fsync (op->fd) < 0)
    {
      int errsv = errno;
      g_task_return_new_error (task, VIREO_ERROR, vireo_disks_error_code (errsv),
                               "cannot size the image %s: %s", op->path, g_strerror (errsv));
      return;
    }
  g_task_return_boolean (task, TRUE);
}

static void
on_sized (GObject *source, GAsyncResult *result, gpointer data)
{
  g_autoptr (DiskOperation) op = data;
  g_autoptr (GError) error = NULL;
  OperationDone done = g_object_get_data (G_OBJECT (result), "done");

  g_task_propagate_boolean (G_TASK (result), &error);
  op->handed_on = FALSE;
  done (op, error);
  /* The next step (qemu-img) took it over. */
  if (op->handed_on)
    g_steal_pointer (&op);
}

void
vireo_disk_operation_in_thread (DiskOperation *op, GTaskThreadFunc func, OperationDone done)
{
  g_autoptr (GTask) task = g_task_new (NULL, NULL, on_sized, op);

  g_task_set_task_data (task, op, NULL);
  g_object_set_data (G_OBJECT (task), "done", done);
  g_task_run_in_thread (task, func);
}

static void
create_disk (VireoMachine *machine, GDBusMethodInvocation *invocation)
{
  g_autoptr (GVariant) options = NULL;
  g_autoptr (VireoMachineConfig) config = NULL;
  g_autoptr (DiskOperation) op = NULL;
  g_autofree char *qemu_img = NULL;
  g_autofree char *size_text = NULL;
  NewDiskOptions parsed;
  VireoDiskConfig *disk = NULL;
  guint64 size;
  int dir_fd;

  g_variant_get (g_dbus_method_invocation_get_parameters (invocation), "(t@a{sv})", &size, &options);
  if (!check_size (invocation, size, &size) || !vireo_disks_parse_new_options (options, &parsed, invocation)
      || !vireo_disks_require_off (machine, invocation))
    return;
  if (strcmp (parsed.format, "qcow2") == 0 && (qemu_img = vireo_disks_qemu_img_path (invocation)) == NULL)
    return;
  config = vireo_disks_config_with_new_disk (machine, invocation, parsed.bus, parsed.format, &disk);
  if (config == NULL)
    return;
  g_free (disk->path);
  disk->path = vireo_disks_new_image_path (machine, &parsed, disk);

  op = vireo_disk_operation_new (machine, invocation, "create");
  op->target = g_strdup (disk->target);
  op->path = g_strdup (disk->path);
  op->size = size;
  op->folder = vireo_machine_folder (machine);
  /* The folder holds the definition already; the new file must not replace anything. */
  dir_fd = open (op->folder, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (dir_fd >= 0)
    {
      g_autofree char *base = g_path_get_basename (op->path);
      op->fd = openat (dir_fd, base, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
      close (dir_fd);
    }
  if (op->fd < 0)
    {
      int errsv = errno;
      vireo_machine_return_error (invocation, vireo_disks_error_code (errsv), "cannot create %s: %s",
                                  op->path, g_strerror (errsv));
      return;
    }
  op->remove_on_failure = TRUE;
  op->config = g_steal_pointer (&config);
  if (strcmp (parsed.format, "raw") == 0)
    {
      vireo_disk_operation_in_thread (g_steal_pointer (&op), size_raw_in_thread, on_created);
      return;
    }
  size_text = g_strdup_printf ("%" G_GUINT64_FORMAT, size);
  {
    const char *argv[] = { qemu_img, "create", "-q", "-f", "qcow2", op->path, size_text, NULL };
    /* vireod's own: the path is its own file in its own folder, and nothing is read. */
    vireo_disk_operation_run_qemu_img (g_steal_pointer (&op), argv, -1, NULL, on_created);
  }
}

static gboolean
handle_create_disk (VireoDBusMachine *iface, GDBusMethodInvocation *invocation, guint64 size,
                    GVariant *options, VireoMachine *machine)
{
  vireo_machine_authorize (machine, invocation, VIREO_ACTION_MODIFY, create_disk);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

/* ---- AttachDisk ---- */

/* @config (a copy) with files_uid becoming the caller's: then every file of the machine must open with
 * the caller's rights, as for Update, so nobody keeps another user's rights for files they could not open. */
static gboolean
take_caller_rights (VireoMachine *machine, VireoMachineConfig *config, GDBusMethodInvocation *invocation)
{
  g_autoptr (GError) error = NULL;

  config->files_uid = vireo_authority_caller_uid (invocation);
  if (config->files_uid != machine->config->files_uid && !vireo_machine_config_check_files (config, &error))
    {
      g_dbus_method_invocation_return_gerror (invocation, error);
      return FALSE;
    }
  return TRUE;
}

static void
attach_disk (VireoMachine *machine, GDBusMethodInvocation *invocation)
{
  g_autoptr (GVariant) entry = NULL;
  g_autoptr (VireoMachineConfig) config = vireo_machine_config_copy (machine->config);
  g_autoptr (GError) error = NULL;
  VireoDiskConfig *disk;
  g_autofree char *target = NULL;

  g_variant_get (g_dbus_method_invocation_get_parameters (invocation), "(@a{sv})", &entry);
  if (!vireo_disks_require_off (machine, invocation))
    return;
  config->files_uid = vireo_authority_caller_uid (invocation);
  disk = vireo_disks_parse_new_disk (machine, config, entry, invocation);
  if (disk == NULL)
    return;
  g_ptr_array_add (config->disks, disk);
  vireo_machine_config_assign_targets (config);
  if (!take_caller_rights (machine, config, invocation))
    return;
  if (!vireo_machine_config_validate (config, &error))
    {
      g_dbus_method_invocation_return_gerror (invocation, error);
      return;
    }
  target = g_strdup (disk->target);
  finish_with_config (machine, invocation, g_steal_pointer (&config), g_variant_new ("(s)", target));
}

static gboolean
handle_attach_disk (VireoDBusMachine *iface, GDBusMethodInvocation *invocation, GVariant *disk,
                    VireoMachine *machine)
{
  vireo_machine_authorize (machine, invocation, VIREO_ACTION_MODIFY, attach_disk);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

/* ---- DetachDisk ---- */

static void
detach_disk (VireoMachine *machine, GDBusMethodInvocation *invocation)
{
  g_autoptr (VireoMachineConfig) config = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *path = NULL;
  const char *target;
  gboolean delete_file;
  gboolean own = FALSE;

  g_variant_get (g_dbus_method_invocation_get_parameters (invocation), "(&sb)", &target, &delete_file);
  if (vireo_disks_require_disk (machine, invocation, target) == NULL
      || !vireo_disks_require_off (machine, invocation))
    return;
  config = vireo_machine_config_copy (machine->config);
  for (guint i = 0; i < config->disks->len; i++)
    {
      VireoDiskConfig *disk = g_ptr_array_index (config->disks, i);
      if (strcmp (disk->target, target) == 0)
        {
          path = g_strdup (disk->path);
          own = *path != '\0' && vireo_machine_config_in_own_folder (config, path);
          g_ptr_array_remove_index (config->disks, i);
          break;
        }
    }
  /* Without disks a disk-booting machine could not boot: it stays valid only as it was. */
  if (!vireo_machine_config_validate (config, &error))
    {
      g_dbus_method_invocation_return_gerror (invocation, error);
      return;
    }
  if (!vireo_machine_store_config (machine, g_steal_pointer (&config), invocation))
    return;
  /* Only once the definition no longer names it; only a file vireod made, in the machine's folder,
   * never through a link. */
  if (delete_file && own)
    {
      g_autofree char *folder = vireo_machine_folder (machine);
      g_autofree char *base = g_path_get_basename (path);
      int dir_fd = open (folder, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

      if (dir_fd < 0 || (unlinkat (dir_fd, base, 0) < 0 && errno != ENOENT))
        g_warning ("Cannot delete the detached image %s: %s", path, g_strerror (errno));
      if (dir_fd >= 0)
        close (dir_fd);
    }
  g_dbus_method_invocation_return_value (invocation, NULL);
}

static gboolean
handle_detach_disk (VireoDBusMachine *iface, GDBusMethodInvocation *invocation, const char *target,
                    gboolean delete_file, VireoMachine *machine)
{
  vireo_machine_authorize (machine, invocation, VIREO_ACTION_MODIFY, detach_disk);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

/* ---- ResizeDisk ---- */

/* The virtual size of a qcow2 image (header offset 24, big-endian). */
static gboolean
read_qcow2_size (int fd, guint64 *size)
{
  guint64 be;

  if (pread (fd, &be, sizeof be, 24) != (ssize_t) sizeof be)
    return FALSE;
  *size = GUINT64_FROM_BE (be);
  return TRUE;
}

static void
on_resized (DiskOperation *op, GError *error)
{
  /* Its mode too: while it was theirs, they could change it. */
  if (op->lent && (fchown (op->fd, geteuid (), getegid ()) < 0 || fchmod (op->fd, 0600) < 0))
    g_warning ("Cannot take %s back from the caller: %s", op->path, g_strerror (errno));
  if (error != NULL)
    g_dbus_method_invocation_return_gerror (op->invocation, error);
  else
    g_dbus_method_invocation_return_value (op->invocation, NULL);
}

static void
resize_disk (VireoMachine *machine, GDBusMethodInvocation *invocation)
{
  g_autoptr (DiskOperation) op = NULL;
  g_autofree char *qemu_img = NULL;
  g_autofree char *size_text = NULL;
  const VireoDiskConfig *disk;
  const char *target;
  guint64 size, current;
  gboolean own;
  struct stat st;
  HvImageInfo info;

  g_variant_get (g_dbus_method_invocation_get_parameters (invocation), "(&st)", &target, &size);
  if ((disk = vireo_disks_require_disk (machine, invocation, target)) == NULL
      || !check_size (invocation, size, &size))
    return;
  if (strcmp (disk->device, "cdrom") == 0 || disk->readonly)
    {
      vireo_machine_return_error (invocation, VIREO_ERROR_INVALID_ARGUMENT,
                                  "disk “%s” is %s; it cannot be resized", target,
                                  strcmp (disk->device, "cdrom") == 0 ? "a CD-ROM drive" : "read-only");
      return;
    }
  if (!vireo_disks_require_off (machine, invocation))
    return;
  if (strcmp (disk->format, "qcow2") == 0 && (qemu_img = vireo_disks_qemu_img_path (invocation)) == NULL)
    return;

  op = vireo_disk_operation_new (machine, invocation, "resize");
  op->path = g_strdup (disk->path);
  op->size = size;
  own = vireo_machine_config_in_own_folder (machine->config, disk->path);
  /* The image as the definition's user sees it, or vireod's own; and with the caller's rights too, so
   * nobody resizes what they could not write. */
  op->fd = own ? vireo_machine_config_open_image (machine->config, disk->path, O_RDWR)
               : vireo_open_as (op->caller_uid, disk->path, O_RDWR);
  if (op->fd < 0)
    {
      int errsv = errno;
      vireo_machine_return_error (invocation, vireo_disks_error_code (errsv), "cannot open the image %s: %s",
                                  disk->path, g_strerror (errsv));
      return;
    }
  if (fstat (op->fd, &st) < 0 || !S_ISREG (st.st_mode) || fcntl (op->fd, F_SETFL, 0) < 0)
    {
      vireo_machine_return_error (invocation, VIREO_ERROR_INVALID_ARGUMENT, "%s is not a regular file",
                                  disk->path);
      return;
    }
  if (!hv_image_info_read (op->fd, &info, NULL))
    {
      vireo_machine_return_error (invocation, VIREO_ERROR_INVALID_ARGUMENT, "%s is a damaged image",
                                  disk->path);
      return;
    }
  if (info.qcow2 != (strcmp (disk->format, "qcow2") == 0) || (own && info.backing != NULL))
    {
      hv_image_info_clear (&info);
      vireo_machine_return_error (invocation, VIREO_ERROR_INVALID_ARGUMENT,
                                  "%s is no longer the %s image it was", disk->path, disk->format);
      return;
    }
  hv_image_info_clear (&info);
  if (strcmp (disk->format, "qcow2") == 0 ? !read_qcow2_size (op->fd, &current)
                                          : (current = (guint64) st.st_size, FALSE))
    {
      vireo_machine_return_error (invocation, VIREO_ERROR_INVALID_ARGUMENT, "cannot read the size of %s",
                                  disk->path);
      return;
    }
  if (size < current)
    {
      vireo_machine_return_error (invocation, VIREO_ERROR_INVALID_ARGUMENT,
                                  "disk “%s” is %" G_GUINT64_FORMAT
                                  " bytes; it can only grow, not shrink to %" G_GUINT64_FORMAT,
                                  target, current, size);
      return;
    }
  if (size == current)
    {
      g_dbus_method_invocation_return_value (invocation, NULL);
      return;
    }
  if (strcmp (disk->format, "raw") == 0)
    {
      vireo_disk_operation_in_thread (g_steal_pointer (&op), size_raw_in_thread, on_resized);
      return;
    }
  /* qemu-img runs as the caller and reaches the image only through the descriptor opened above
   * (/proc/self/fd/3): whatever files the image's header names (a backing file, an external data file,
   * which QEMU would open and even resize) it opens with the caller's rights.  An image of vireod's
   * own is lent to the caller for that long, then taken back. */
  if (!vireo_identity_init (&op->identity, op->caller_uid))
    {
      vireo_machine_return_error (invocation, VIREO_ERROR_PERMISSION_DENIED,
                                  "the caller has no usable identity");
      return;
    }
  if (own && op->identity.change)
    {
      if (fchown (op->fd, op->identity.uid, op->identity.gid) < 0)
        {
          int errsv = errno;
          vireo_machine_return_error (invocation, VIREO_ERROR_FAILED, "cannot lend %s to the caller: %s",
                                      disk->path, g_strerror (errsv));
          return;
        }
      op->lent = TRUE;
    }
  size_text = g_strdup_printf ("%" G_GUINT64_FORMAT, size);
  {
    const char *argv[] = { qemu_img, "resize", "-q", "-f", "qcow2", "/proc/self/fd/3", size_text, NULL };
    int fd = dup (op->fd);
    vireo_disk_operation_run_qemu_img (g_steal_pointer (&op), argv, fd, NULL, on_resized);
  }
}

static gboolean
handle_resize_disk (VireoDBusMachine *iface, GDBusMethodInvocation *invocation, const char *target,
                    guint64 size, VireoMachine *machine)
{
  vireo_machine_authorize (machine, invocation, VIREO_ACTION_MODIFY, resize_disk);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

/* ---- ChangeMedium ---- */

typedef struct
{
  VireoMachine *machine;
  GDBusMethodInvocation *invocation;
  VireoMachineConfig *config; /* the definition as the call began, with the drive changed */
  char *target;
  gboolean eject;
} MediumCall;

static void
medium_call_free (MediumCall *call)
{
  g_object_unref (call->machine);
  g_object_unref (call->invocation);
  if (call->config)
    vireo_machine_config_free (call->config);
  g_free (call->target);
  g_free (call);
}

static void
on_medium_changed (GObject *source, GAsyncResult *result, gpointer data)
{
  MediumCall *call = data;
  g_autoptr (GError) error = NULL;
  gboolean ok = call->eject
                    ? vireo_worker1_call_eject_medium_finish (VIREO_WORKER1 (source), result, &error)
                    : vireo_worker1_call_change_medium_finish (VIREO_WORKER1 (source), NULL, result, &error);

  if (ok)
    {
      /* Into the definition as it is now (a rename may have come meanwhile): only the drive and whose
       * rights open it change. */
      VireoMachineConfig *config = vireo_machine_config_copy (call->machine->config);
      const VireoDiskConfig *drive = vireo_machine_config_find_disk (call->config, call->target);

      for (guint i = 0; drive != NULL && i < config->disks->len; i++)
        if (strcmp (((VireoDiskConfig *) g_ptr_array_index (config->disks, i))->target, call->target) == 0)
          {
            vireo_disk_config_free (g_ptr_array_index (config->disks, i));
            g_ptr_array_index (config->disks, i) = vireo_disk_config_copy (drive);
          }
      config->files_uid = call->config->files_uid;
      finish_with_config (call->machine, call->invocation, config, NULL);
    }
  else if (g_error_matches (error, G_DBUS_ERROR, G_DBUS_ERROR_UNKNOWN_METHOD))
    vireo_machine_return_error (call->invocation, VIREO_ERROR_NOT_SUPPORTED,
                                "the running “%s” cannot change media (its worker has no CD-ROM drives)",
                                call->machine->config->name);
  else
    {
      g_dbus_error_strip_remote_error (error);
      g_dbus_method_invocation_return_gerror (call->invocation, error);
    }
  medium_call_free (call);
}

static void
change_medium (VireoMachine *machine, GDBusMethodInvocation *invocation)
{
  g_autoptr (VireoMachineConfig) config = NULL;
  g_autoptr (GError) error = NULL;
  const VireoDiskConfig *disk;
  VireoDiskConfig *changed;
  const char *target;
  const char *path;
  MediumCall *call;

  g_variant_get (g_dbus_method_invocation_get_parameters (invocation), "(&s&s)", &target, &path);
  if ((disk = vireo_disks_require_disk (machine, invocation, target)) == NULL)
    return;
  if (strcmp (disk->device, "cdrom") != 0)
    {
      vireo_machine_return_error (invocation, VIREO_ERROR_INVALID_ARGUMENT, "disk “%s” is not a CD-ROM drive",
                                  target);
      return;
    }
  if ((is_active (machine) && !state_is (machine, "running") && !state_is (machine, "paused"))
      || state_is (machine, "saved"))
    {
      vireo_machine_return_error (
          invocation, VIREO_ERROR_INVALID_STATE,
          "“%s” is %s; change the medium when it is off or running (its saved state holds the drive "
          "as it was)",
          machine->config->name, state (machine));
      return;
    }

  /* The definition as it will be: the drive with the new medium, checked as AttachDisk checks it. */
  config = vireo_machine_config_copy (machine->config);
  if (*path != '\0')
    {
      g_autoptr (GVariant) entry = NULL;
      guint index = 0;

      config->files_uid = vireo_authority_caller_uid (invocation);
      entry = g_variant_ref_sink (g_variant_new_parsed (
          "{'path': <%s>, 'device': <'cdrom'>, 'target': <%s>, 'boot-order': <%u>, 'cache': <%s>}", path,
          disk->target, disk->boot_order, disk->cache));
      for (guint i = 0; i < config->disks->len; i++)
        if (g_ptr_array_index (config->disks, i) == vireo_machine_config_find_disk (config, target))
          index = i;
      changed = vireo_disk_config_parse (config, entry, index, &error);
      if (changed == NULL)
        {
          g_dbus_method_invocation_return_gerror (invocation, error);
          return;
        }
      vireo_disk_config_free (g_ptr_array_index (config->disks, index));
      g_ptr_array_index (config->disks, index) = changed;
      if (!take_caller_rights (machine, config, invocation))
        return;
    }
  else
    {
      changed = vireo_machine_config_find_disk (config, target);
      g_free (changed->path);
      changed->path = g_strdup ("");
      g_free (changed->format);
      changed->format = g_strdup ("raw");
    }
  if (!vireo_machine_config_validate (config, &error))
    {
      g_dbus_method_invocation_return_gerror (invocation, error);
      return;
    }
  if (!is_active (machine))
    {
      finish_with_config (machine, invocation, g_steal_pointer (&config), NULL);
      return;
    }

  call = g_new0 (MediumCall, 1);
  call->machine = g_object_ref (machine);
  call->invocation = g_object_ref (invocation);
  call->config = g_steal_pointer (&config);
  call->target = g_strdup (target);
  call->eject = *path == '\0';
  if (call->eject)
    vireo_worker1_call_eject_medium (machine->worker, target, machine->cancellable, on_medium_changed, call);
  else
    {
      /* Opened here with the caller's rights, as it is when the machine starts; the worker gets the fd. */
      int fd = vireo_open_as (vireo_authority_caller_uid (invocation), path, O_RDONLY);
      g_autoptr (GUnixFDList) fds = NULL;
      struct stat st;

      if (fd < 0 || fstat (fd, &st) < 0 || !S_ISREG (st.st_mode) || fcntl (fd, F_SETFL, 0) < 0)
        {
          int errsv = fd < 0 ? errno : EINVAL;
          if (fd >= 0)
            close (fd);
          vireo_machine_return_error (invocation, vireo_disks_error_code (errsv),
                                      "cannot open the medium %s: %s", path, g_strerror (errsv));
          medium_call_free (call);
          return;
        }
      fds = g_unix_fd_list_new_from_array (&fd, 1);
      vireo_worker1_call_change_medium (machine->worker, target, g_variant_new_handle (0), fds,
                                        machine->cancellable, on_medium_changed, call);
    }
}

static gboolean
handle_change_medium (VireoDBusMachine *iface, GDBusMethodInvocation *invocation, const char *target,
                      const char *path, VireoMachine *machine)
{
  vireo_machine_authorize (machine, invocation, VIREO_ACTION_MODIFY, change_medium);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

/* ---- qemu-img (qemu-img.c) ---- */

static void
on_qemu_img_done (GObject *source, GAsyncResult *result, gpointer data)
{
  DiskOperation *op = data;
  g_autoptr (GError) error = NULL;

  vireo_qemu_img_run_finish (result, &error);
  op->handed_on = FALSE;
  op->done (op, error);
  if (!op->handed_on)
    vireo_disk_operation_free (op);
}

void
vireo_disk_operation_run_qemu_img (DiskOperation *op, const char *const *argv, int fd,
                                   VireoQemuImgProgress progress, OperationDone done)
{
  op->done = done;
  vireo_qemu_img_run_async (argv, fd, &op->identity, progress, op, op->machine->disk_cancellable,
                            on_qemu_img_done, op);
}

/* ---- set-up ---- */

void
vireo_machine_disks_init (VireoMachine *machine)
{
  g_signal_connect (machine->iface, "handle-create-disk", G_CALLBACK (handle_create_disk), machine);
  g_signal_connect (machine->iface, "handle-attach-disk", G_CALLBACK (handle_attach_disk), machine);
  g_signal_connect (machine->iface, "handle-detach-disk", G_CALLBACK (handle_detach_disk), machine);
  g_signal_connect (machine->iface, "handle-resize-disk", G_CALLBACK (handle_resize_disk), machine);
  g_signal_connect (machine->iface, "handle-change-medium", G_CALLBACK (handle_change_medium), machine);
  vireo_machine_disk_import_init (machine);
  vireo_machine_disk_send_init (machine);
  vireo_machine_disk_receive_init (machine);
}
