/* machine-disks.c — a machine's disks through D-Bus: CreateDisk, AttachDisk, DetachDisk, ResizeDisk,
 * ChangeMedium and ImportDisk (data/org.vireo.Vireo1.xml), with the DiskProgress signal.
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
 * ImportDisk in system mode.  qemu-img opens the source and whatever files the source names (a qcow2
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
 * On failure or cancellation the temporary folder is removed with everything in it (unlinkat, no link
 * followed); a folder left by a vireod that died halfway is removed when the machine is next loaded.
 * What the caller can still do: control the content of the image (as its guest can) through a
 * process of theirs that kept a descriptor — never its owner, its place or a link to another file; and
 * the image's backing chain is opened with the caller's rights anyway (open_disks in machine-worker.c).
 */
#include "machine-private.h"
#include "vireo-error.h"
#include "open-as.h"
#include "image-info.h"

#include <errno.h>
#include <fcntl.h>
#include <gio/gunixfdlist.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define DISK_SIZE_MAX   (64ULL << 40) /* 64 TiB */
#define NAME_MAX_BYTES  200
#define IMPORT_PREFIX   ".import-"
#define OUTPUT_KEPT_MAX 4096

static void return_error (GDBusMethodInvocation *invocation, VireoError code, const char *format, ...)
    G_GNUC_PRINTF (3, 4);

static void
return_error (GDBusMethodInvocation *invocation, VireoError code, const char *format, ...)
{
  va_list args;
  g_autofree char *message = NULL;

  va_start (args, format);
  message = g_strdup_vprintf (format, args);
  va_end (args);
  g_dbus_method_invocation_return_error_literal (invocation, VIREO_ERROR, code, message);
}

static char *
machine_folder (VireoMachine *machine)
{
  return vireo_machine_store_machine_dir (machine->daemon->store, machine->config->uuid);
}

/* Disks change only while the machine is off (saved state would not fit the new devices), and one
 * disk operation runs at a time. */
static gboolean
require_off (VireoMachine *machine, GDBusMethodInvocation *invocation)
{
  if (is_active (machine) || state_is (machine, "saved"))
    {
      return_error (invocation, VIREO_ERROR_INVALID_STATE,
                    "“%s” is %s; its disks change only while it is off", machine->config->name,
                    state (machine));
      return FALSE;
    }
  if (machine->disk_operation != NULL)
    {
      return_error (invocation, VIREO_ERROR_INVALID_STATE, "“%s” has a disk operation (%s) under way",
                    machine->config->name, machine->disk_operation);
      return FALSE;
    }
  return TRUE;
}

static VireoDiskConfig *
require_disk (VireoMachine *machine, GDBusMethodInvocation *invocation, const char *target)
{
  VireoDiskConfig *disk = vireo_machine_config_find_disk (machine->config, target);

  if (disk == NULL)
    {
      g_autofree char *shown = g_utf8_make_valid (target, MIN (strlen (target), 32));
      return_error (invocation, VIREO_ERROR_NOT_FOUND, "“%s” has no disk “%s”", machine->config->name, shown);
    }
  return disk;
}

static gboolean
check_size (GDBusMethodInvocation *invocation, guint64 size, guint64 *rounded)
{
  if (size == 0 || size > DISK_SIZE_MAX)
    {
      return_error (invocation, VIREO_ERROR_INVALID_ARGUMENT,
                    "a disk's size is 1 byte to 64 TiB, not %" G_GUINT64_FORMAT " bytes", size);
      return FALSE;
    }
  *rounded = (size + 511) & ~(guint64) 511;
  return TRUE;
}

/* Options of CreateDisk and ImportDisk: "format", "bus", "name". */
typedef struct
{
  const char *format;
  const char *bus;
  const char *name; /* NULL: from the target */
} NewDiskOptions;

static gboolean
parse_new_disk_options (GVariant *options, NewDiskOptions *out, GDBusMethodInvocation *invocation)
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
          return_error (invocation, VIREO_ERROR_INVALID_ARGUMENT,
                        "“%s” is not an option (known: “format”, “bus”, “name”)", shown);
          return FALSE;
        }
      if (!g_variant_is_of_type (value, G_VARIANT_TYPE_STRING))
        {
          return_error (invocation, VIREO_ERROR_INVALID_ARGUMENT, "option “%s” must be of type “s”, not “%s”",
                        key, g_variant_get_type_string (value));
          return FALSE;
        }
      text = g_variant_get_string (value, NULL);
      if (strcmp (key, "format") == 0)
        {
          if (!g_strv_contains (formats, text))
            {
              return_error (invocation, VIREO_ERROR_INVALID_ARGUMENT,
                            "option “format” must be “qcow2” or “raw”");
              return FALSE;
            }
          out->format = g_intern_string (text);
        }
      else if (strcmp (key, "bus") == 0)
        {
          if (!g_strv_contains (buses, text))
            {
              return_error (invocation, VIREO_ERROR_INVALID_ARGUMENT,
                            "option “bus” must be “virtio” or “sata”");
              return FALSE;
            }
          out->bus = g_intern_string (text);
        }
      else
        {
          gboolean ok = g_utf8_validate (text, -1, NULL) && *text != '\0' && *text != '.'
                        && strlen (text) <= NAME_MAX_BYTES && strchr (text, '/') == NULL
                        && strcmp (text, "machine.xml") != 0 && strcmp (text, "state") != 0;

          for (const char *p = text; ok && *p != '\0'; p = g_utf8_next_char (p))
            ok = !g_unichar_iscntrl (g_utf8_get_char (p));
          if (!ok)
            {
              return_error (invocation, VIREO_ERROR_INVALID_ARGUMENT,
                            "option “name” must be a file name of up to %d bytes, without “/” or control "
                            "characters, not starting with “.”, and neither “machine.xml” nor “state”",
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
static VireoMachineConfig *
config_with_new_disk (VireoMachine *machine, GDBusMethodInvocation *invocation, const char *bus,
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
      return_error (invocation, VIREO_ERROR_INVALID_ARGUMENT, "“%s” has no free %s target left",
                    machine->config->name, bus);
      return NULL;
    }
  *new_disk = disk;
  return g_steal_pointer (&config);
}

/* Where a new image called @name (or after @disk's target) goes: <folder>/<name>. */
static char *
new_image_path (VireoMachine *machine, const NewDiskOptions *options, const VireoDiskConfig *disk)
{
  g_autofree char *folder = machine_folder (machine);
  g_autofree char *name = options->name != NULL
                              ? g_strdup (options->name)
                              : g_strdup_printf ("%s.%s", disk->target,
                                                 strcmp (options->format, "raw") == 0 ? "img" : "qcow2");
  return g_build_filename (folder, name, NULL);
}

static char *
qemu_img_path (GDBusMethodInvocation *invocation)
{
  char *path = g_find_program_in_path ("qemu-img");

  if (path == NULL)
    return_error (invocation, VIREO_ERROR_NOT_SUPPORTED,
                  "this needs qemu-img, which is not installed (Debian: package qemu-utils)");
  return path;
}

static VireoError
error_code_for_errno (int errsv)
{
  switch (errsv)
    {
    case ENOENT:
    case ENOTDIR:
      return VIREO_ERROR_NOT_FOUND;
    case EACCES:
    case EPERM:
    case EROFS:
      return VIREO_ERROR_PERMISSION_DENIED;
    case EEXIST:
      return VIREO_ERROR_EXISTS;
    default:
      return VIREO_ERROR_FAILED;
    }
}

/* The end of CreateDisk or ImportDisk: the new disk (the last of @planned, taking it) joins the
 * definition as it is now, which an Update may have changed meanwhile; its target is kept if still
 * free.  Replies with the target. */
static void
finish_with_new_disk (VireoMachine *machine, GDBusMethodInvocation *invocation, VireoMachineConfig *planned)
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

typedef struct
{
  VireoMachine *machine;
  GDBusMethodInvocation *invocation;
  VireoMachineConfig *config; /* the definition to store when done */
  char *target;
  char *path;        /* the image */
  char *folder;      /* the machine's folder */
  char *temp_folder; /* ImportDisk: <folder>/.import-XXXXXX */
  char *name;        /* the image's file name */
  char *format;
  guint64 size;
  int fd;
  gint64 caller_uid;
  VireoIdentity identity;
  GSubprocess *process;
  GString *output; /* what qemu-img said (the last OUTPUT_KEPT_MAX bytes, progress removed) */
  GString *pending;
  double last_fraction;
  gboolean output_done;
  gboolean process_done;
  gboolean process_ok;
  GError *process_error;
  gboolean remove_on_failure; /* CreateDisk: the image is new */
  gboolean handed_on;         /* the next step took the operation over */
} DiskOperation;

static DiskOperation *
disk_operation_new (VireoMachine *machine, GDBusMethodInvocation *invocation, const char *what)
{
  DiskOperation *op = g_new0 (DiskOperation, 1);

  op->machine = g_object_ref (machine);
  op->invocation = g_object_ref (invocation);
  op->fd = -1;
  op->caller_uid = vireo_authority_caller_uid (invocation);
  op->output = g_string_new (NULL);
  op->pending = g_string_new (NULL);
  op->last_fraction = -1.0;
  machine->disk_operation = what;
  if (machine->disk_cancellable == NULL)
    machine->disk_cancellable = g_cancellable_new ();
  return op;
}

static void
disk_operation_free (DiskOperation *op)
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
  if (op->fd >= 0)
    close (op->fd);
  g_clear_object (&op->process);
  g_string_free (op->output, TRUE);
  g_string_free (op->pending, TRUE);
  g_clear_error (&op->process_error);
  g_free (op);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (DiskOperation, disk_operation_free)

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
  finish_with_new_disk (op->machine, op->invocation, g_steal_pointer (&op->config));
}

static void
size_raw_in_thread (GTask *task, gpointer source, gpointer data, GCancellable *cancellable)
{
  DiskOperation *op = data;

  if (ftruncate (op->fd, (off_t) op->size) < 0 || fsync (op->fd) < 0)
    {
      int errsv = errno;
      g_task_return_new_error (task, VIREO_ERROR,
                               errsv == ENOSPC ? VIREO_ERROR_FAILED : error_code_for_errno (errsv),
                               "cannot size the image %s: %s", op->path, g_strerror (errsv));
      return;
    }
  g_task_return_boolean (task, TRUE);
}

typedef void (*OperationDone) (DiskOperation *op, GError *error);

static void
on_sized (GObject *source, GAsyncResult *result, gpointer data)
{
  g_autoptr (DiskOperation) op = data;
  g_autoptr (GError) error = NULL;
  OperationDone done = g_object_get_data (G_OBJECT (result), "done");

  g_task_propagate_boolean (G_TASK (result), &error);
  done (op, error);
}

static void
run_in_thread (DiskOperation *op, GTaskThreadFunc func, OperationDone done)
{
  g_autoptr (GTask) task = g_task_new (NULL, NULL, on_sized, op);

  g_task_set_task_data (task, op, NULL);
  g_object_set_data (G_OBJECT (task), "done", done);
  g_task_run_in_thread (task, func);
}

/* qemu-img, as @identity (NULL: vireod's own), with @fd (if >= 0) as its fd 3; @done when it ends. */
static void start_qemu_img (DiskOperation *op, const char *const *argv, int fd, gboolean report_progress,
                            OperationDone done);

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
  if (!check_size (invocation, size, &size) || !parse_new_disk_options (options, &parsed, invocation)
      || !require_off (machine, invocation))
    return;
  if (strcmp (parsed.format, "qcow2") == 0 && (qemu_img = qemu_img_path (invocation)) == NULL)
    return;
  config = config_with_new_disk (machine, invocation, parsed.bus, parsed.format, &disk);
  if (config == NULL)
    return;
  g_free (disk->path);
  disk->path = new_image_path (machine, &parsed, disk);

  op = disk_operation_new (machine, invocation, "create");
  op->target = g_strdup (disk->target);
  op->path = g_strdup (disk->path);
  op->size = size;
  op->folder = machine_folder (machine);
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
      return_error (invocation, error_code_for_errno (errsv), "cannot create %s: %s", op->path,
                    g_strerror (errsv));
      return;
    }
  op->remove_on_failure = TRUE;
  op->config = g_steal_pointer (&config);
  if (strcmp (parsed.format, "raw") == 0)
    {
      run_in_thread (g_steal_pointer (&op), size_raw_in_thread, on_created);
      return;
    }
  size_text = g_strdup_printf ("%" G_GUINT64_FORMAT, size);
  {
    const char *argv[] = { qemu_img, "create", "-q", "-f", "qcow2", op->path, size_text, NULL };
    /* vireod's own: the path is its own file in its own folder, and nothing is read. */
    start_qemu_img (g_steal_pointer (&op), argv, -1, FALSE, on_created);
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
  if (!require_off (machine, invocation))
    return;
  config->files_uid = vireo_authority_caller_uid (invocation);
  disk = vireo_disk_config_parse (config, entry, config->disks->len, &error);
  if (disk == NULL)
    {
      g_dbus_method_invocation_return_gerror (invocation, error);
      return;
    }
  if (disk->target != NULL && vireo_machine_config_find_disk (config, disk->target) != NULL)
    {
      return_error (invocation, VIREO_ERROR_EXISTS, "“%s” already has a disk “%s”", machine->config->name,
                    disk->target);
      vireo_disk_config_free (disk);
      return;
    }
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
  if (require_disk (machine, invocation, target) == NULL || !require_off (machine, invocation))
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
      g_autofree char *folder = machine_folder (machine);
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
  if ((disk = require_disk (machine, invocation, target)) == NULL || !check_size (invocation, size, &size))
    return;
  if (strcmp (disk->device, "cdrom") == 0 || disk->readonly)
    {
      return_error (invocation, VIREO_ERROR_INVALID_ARGUMENT, "disk “%s” is %s; it cannot be resized", target,
                    strcmp (disk->device, "cdrom") == 0 ? "a CD-ROM drive" : "read-only");
      return;
    }
  if (!require_off (machine, invocation))
    return;
  if (strcmp (disk->format, "qcow2") == 0 && (qemu_img = qemu_img_path (invocation)) == NULL)
    return;

  op = disk_operation_new (machine, invocation, "resize");
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
      return_error (invocation, error_code_for_errno (errsv), "cannot open the image %s: %s", disk->path,
                    g_strerror (errsv));
      return;
    }
  if (fstat (op->fd, &st) < 0 || !S_ISREG (st.st_mode) || fcntl (op->fd, F_SETFL, 0) < 0)
    {
      return_error (invocation, VIREO_ERROR_INVALID_ARGUMENT, "%s is not a regular file", disk->path);
      return;
    }
  if (!hv_image_info_read (op->fd, &info, NULL))
    {
      return_error (invocation, VIREO_ERROR_INVALID_ARGUMENT, "%s is a damaged image", disk->path);
      return;
    }
  if (info.qcow2 != (strcmp (disk->format, "qcow2") == 0) || (own && info.backing != NULL))
    {
      hv_image_info_clear (&info);
      return_error (invocation, VIREO_ERROR_INVALID_ARGUMENT, "%s is no longer the %s image it was",
                    disk->path, disk->format);
      return;
    }
  hv_image_info_clear (&info);
  if (strcmp (disk->format, "qcow2") == 0 ? !read_qcow2_size (op->fd, &current)
                                          : (current = (guint64) st.st_size, FALSE))
    {
      return_error (invocation, VIREO_ERROR_INVALID_ARGUMENT, "cannot read the size of %s", disk->path);
      return;
    }
  if (size < current)
    {
      return_error (invocation, VIREO_ERROR_INVALID_ARGUMENT,
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
      run_in_thread (g_steal_pointer (&op), size_raw_in_thread, on_resized);
      return;
    }
  /* qemu-img reaches the image only through the descriptor opened above, and runs as the caller
   * unless the image is vireod's own (then checked above to have no backing file). */
  if (!own && !vireo_identity_init (&op->identity, op->caller_uid))
    {
      return_error (invocation, VIREO_ERROR_PERMISSION_DENIED, "the caller has no usable identity");
      return;
    }
  size_text = g_strdup_printf ("%" G_GUINT64_FORMAT, size);
  {
    const char *argv[] = { qemu_img, "resize", "-q", "-f", "qcow2", "/proc/self/fd/3", size_text, NULL };
    int fd = op->fd;
    op->fd = -1;
    start_qemu_img (g_steal_pointer (&op), argv, fd, FALSE, on_resized);
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
  VireoMachineConfig *config;
  gboolean eject;
} MediumCall;

static void
medium_call_free (MediumCall *call)
{
  g_object_unref (call->machine);
  g_object_unref (call->invocation);
  if (call->config)
    vireo_machine_config_free (call->config);
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
    finish_with_config (call->machine, call->invocation, g_steal_pointer (&call->config), NULL);
  else if (g_error_matches (error, G_DBUS_ERROR, G_DBUS_ERROR_UNKNOWN_METHOD))
    return_error (call->invocation, VIREO_ERROR_NOT_SUPPORTED,
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
  if ((disk = require_disk (machine, invocation, target)) == NULL)
    return;
  if (strcmp (disk->device, "cdrom") != 0)
    {
      return_error (invocation, VIREO_ERROR_INVALID_ARGUMENT, "disk “%s” is not a CD-ROM drive", target);
      return;
    }
  if ((is_active (machine) && !state_is (machine, "running") && !state_is (machine, "paused"))
      || state_is (machine, "saved"))
    {
      return_error (
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
          return_error (invocation, error_code_for_errno (errsv), "cannot open the medium %s: %s", path,
                        g_strerror (errsv));
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

/* ---- qemu-img as a subprocess ---- */

/* Takes what qemu-img printed: "(12.34/100%)" progress reports (separated by "\r") become DiskProgress;
 * the rest is kept for an error message. */
static void
take_output (DiskOperation *op, const char *text, gsize len, gboolean report_progress)
{
  g_string_append_len (op->pending, text, (gssize) len);
  while (TRUE)
    {
      char *end = strpbrk (op->pending->str, "\r\n");
      g_autofree char *piece = NULL;
      double percent;

      if (end == NULL)
        break;
      piece = g_strndup (op->pending->str, (gsize) (end - op->pending->str));
      g_string_erase (op->pending, 0, end - op->pending->str + 1);
      g_strstrip (piece);
      if (*piece == '(' && sscanf (piece, "(%lf/100%%)", &percent) == 1)
        {
          double fraction = CLAMP (percent / 100.0, 0.0, 1.0);
          /* 1.0 is sent once, when the image is in place. */
          if (report_progress && fraction < 1.0 && fraction - op->last_fraction >= 0.01)
            {
              op->last_fraction = fraction;
              vireo_dbus_machine_emit_disk_progress (op->machine->iface, "import", op->target, fraction);
            }
          continue;
        }
      if (*piece != '\0')
        {
          g_string_append_printf (op->output, "%s%s", op->output->len ? " " : "", piece);
          if (op->output->len > OUTPUT_KEPT_MAX)
            g_string_erase (op->output, 0, op->output->len - OUTPUT_KEPT_MAX);
        }
    }
  /* A line without an end is no longer than a line. */
  if (op->pending->len > OUTPUT_KEPT_MAX)
    g_string_truncate (op->pending, 0);
}

static void qemu_img_maybe_done (DiskOperation *op);

static void
on_output (GObject *source, GAsyncResult *result, gpointer data)
{
  DiskOperation *op = data;
  g_autoptr (GBytes) bytes = g_input_stream_read_bytes_finish (G_INPUT_STREAM (source), result, NULL);
  gboolean report = GPOINTER_TO_INT (g_object_get_data (G_OBJECT (op->process), "report-progress"));

  if (bytes == NULL || g_bytes_get_size (bytes) == 0)
    {
      take_output (op, "\n", 1, report);
      op->output_done = TRUE;
      qemu_img_maybe_done (op);
      return;
    }
  take_output (op, g_bytes_get_data (bytes, NULL), g_bytes_get_size (bytes), report);
  g_input_stream_read_bytes_async (G_INPUT_STREAM (source), 4096, G_PRIORITY_DEFAULT, NULL, on_output, op);
}

static void
on_qemu_img_exited (GObject *source, GAsyncResult *result, gpointer data)
{
  DiskOperation *op = data;

  op->process_ok = g_subprocess_wait_finish (G_SUBPROCESS (source), result, &op->process_error)
                   && g_subprocess_get_successful (G_SUBPROCESS (source));
  /* Cancelled (vireod is going away): qemu-img goes too; what it wrote goes with the operation. */
  if (op->process_error != NULL)
    g_subprocess_force_exit (G_SUBPROCESS (source));
  op->process_done = TRUE;
  qemu_img_maybe_done (op);
}

static void
qemu_img_maybe_done (DiskOperation *op)
{
  OperationDone done;
  g_autoptr (GError) error = NULL;

  if (!op->output_done || !op->process_done)
    return;
  done = g_object_get_data (G_OBJECT (op->process), "done");
  if (op->process_error != NULL)
    error = g_error_new (VIREO_ERROR, VIREO_ERROR_FAILED, "qemu-img did not finish: %s",
                         op->process_error->message);
  else if (!op->process_ok)
    {
      int status = g_subprocess_get_if_exited (op->process) ? g_subprocess_get_exit_status (op->process) : -1;
      if (status == 126)
        error = g_error_new (VIREO_ERROR, VIREO_ERROR_PERMISSION_DENIED,
                             "qemu-img could not take the caller's identity");
      else
        error = g_error_new (VIREO_ERROR, VIREO_ERROR_FAILED, "qemu-img failed: %s",
                             op->output->len ? op->output->str : "(it said nothing)");
    }
  done (op, error);
  if (!op->handed_on)
    disk_operation_free (op);
}

static void
start_qemu_img (DiskOperation *op, const char *const *argv, int fd, gboolean report_progress,
                OperationDone done)
{
  g_autoptr (GSubprocessLauncher) launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE
                                                                        | G_SUBPROCESS_FLAGS_STDERR_MERGE);
  g_autoptr (GError) error = NULL;

  g_subprocess_launcher_unsetenv (launcher, "LD_PRELOAD");
  if (fd >= 0)
    g_subprocess_launcher_take_fd (launcher, fd, 3);
  g_subprocess_launcher_set_child_setup (launcher, vireo_identity_assume_in_child, &op->identity, NULL);
  op->process = g_subprocess_launcher_spawnv (launcher, argv, &error);
  if (op->process == NULL)
    {
      g_autoptr (GError) failure = g_error_new (VIREO_ERROR, VIREO_ERROR_FAILED, "cannot run qemu-img: %s",
                                                error->message);
      done (op, failure);
      disk_operation_free (op);
      return;
    }
  g_object_set_data (G_OBJECT (op->process), "done", done);
  g_object_set_data (G_OBJECT (op->process), "report-progress", GINT_TO_POINTER (report_progress));
  g_input_stream_read_bytes_async (g_subprocess_get_stdout_pipe (op->process), 4096, G_PRIORITY_DEFAULT, NULL,
                                   on_output, op);
  g_subprocess_wait_async (op->process, op->machine->disk_cancellable, on_qemu_img_exited, op);
}

/* ---- ImportDisk ---- */

/* Removes @folder and what is in it, one level deep (qemu-img makes one file), following no link. */
static void
remove_temp_folder (const char *folder)
{
  int fd = open (folder, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  g_autoptr (GDir) dir = NULL;
  const char *entry;

  if (fd >= 0)
    {
      dir = g_dir_open (folder, 0, NULL);
      while (dir != NULL && (entry = g_dir_read_name (dir)) != NULL)
        if (unlinkat (fd, entry, 0) < 0 && errno == EISDIR)
          unlinkat (fd, entry, AT_REMOVEDIR);
      close (fd);
    }
  if (rmdir (folder) < 0 && errno != ENOENT)
    g_warning ("Cannot remove %s: %s", folder, g_strerror (errno));
}

/* Step 3 of the import (see the top of this file), in a thread: the result made vireod's and moved in. */
static void
adopt_import_in_thread (GTask *task, gpointer source, gpointer data, GCancellable *cancellable)
{
  DiskOperation *op = data;
  int temp_fd = open (op->temp_folder, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  int folder_fd = open (op->folder, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  int fd = temp_fd >= 0 ? openat (temp_fd, op->name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC) : -1;
  uid_t expected = op->identity.change ? op->identity.uid : geteuid ();
  struct stat st;
  HvImageInfo info = { 0 };
  g_autoptr (GError) local = NULL;
  const char *problem = NULL;

  if (fd < 0 || folder_fd < 0)
    problem = "the copy is missing";
  else if (fstat (fd, &st) < 0 || !S_ISREG (st.st_mode) || st.st_nlink != 1 || st.st_uid != expected)
    problem = "the copy is not the file qemu-img made";
  else if (!hv_image_info_read (fd, &info, &local) || info.qcow2 != (strcmp (op->format, "qcow2") == 0))
    problem = "the copy is not of the format asked for";
  else if (info.backing != NULL)
    problem = "the copy names a backing file";
  else if (fchown (fd, geteuid (), getegid ()) < 0 || fchmod (fd, 0600) < 0 || fsync (fd) < 0)
    problem = g_strerror (errno);
  else if (renameat2 (temp_fd, op->name, folder_fd, op->name, RENAME_NOREPLACE) < 0)
    problem = errno == EEXIST ? "a file of that name appeared meanwhile" : g_strerror (errno);
  else if (fsync (folder_fd) < 0)
    problem = g_strerror (errno);
  hv_image_info_clear (&info);
  if (fd >= 0)
    close (fd);
  if (temp_fd >= 0)
    close (temp_fd);
  if (folder_fd >= 0)
    close (folder_fd);
  if (problem != NULL)
    g_task_return_new_error (task, VIREO_ERROR, VIREO_ERROR_FAILED, "cannot keep the imported image: %s",
                             problem);
  else
    g_task_return_boolean (task, TRUE);
}

static void
on_import_adopted (DiskOperation *op, GError *error)
{
  remove_temp_folder (op->temp_folder);
  if (error != NULL)
    {
      g_dbus_method_invocation_return_gerror (op->invocation, error);
      return;
    }
  /* The machine may have started meanwhile (Start waits for disk operations, so only if it was
   * re-attached): then the image stays, unnamed by the definition, and the caller hears why. */
  if (is_active (op->machine))
    {
      return_error (op->invocation, VIREO_ERROR_INVALID_STATE,
                    "“%s” started during the import; the image %s is kept but not added",
                    op->machine->config->name, op->path);
      return;
    }
  vireo_dbus_machine_emit_disk_progress (op->machine->iface, "import", op->target, 1.0);
  finish_with_new_disk (op->machine, op->invocation, g_steal_pointer (&op->config));
}

static void
on_imported (DiskOperation *op, GError *error)
{
  if (error != NULL)
    {
      remove_temp_folder (op->temp_folder);
      g_dbus_method_invocation_return_gerror (op->invocation, error);
      return;
    }
  /* The operation goes on, in a thread. */
  op->handed_on = TRUE;
  run_in_thread (op, adopt_import_in_thread, on_import_adopted);
}

static void
import_disk (VireoMachine *machine, GDBusMethodInvocation *invocation)
{
  g_autoptr (GVariant) options = NULL;
  g_autoptr (VireoMachineConfig) config = NULL;
  g_autoptr (DiskOperation) op = NULL;
  g_autofree char *qemu_img = NULL;
  g_autofree char *template = NULL;
  g_autofree char *output = NULL;
  NewDiskOptions parsed;
  VireoDiskConfig *disk = NULL;
  const char *source;
  struct stat st;
  int fd;

  g_variant_get (g_dbus_method_invocation_get_parameters (invocation), "(&s@a{sv})", &source, &options);
  if (!parse_new_disk_options (options, &parsed, invocation) || !require_off (machine, invocation))
    return;
  if (!g_utf8_validate (source, -1, NULL) || !g_path_is_absolute (source) || strlen (source) > 4095)
    {
      return_error (invocation, VIREO_ERROR_INVALID_ARGUMENT, "the source must be an absolute path");
      return;
    }
  if ((qemu_img = qemu_img_path (invocation)) == NULL)
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
        return_error (invocation, VIREO_ERROR_INVALID_ARGUMENT, "%s is not a regular file", source);
      else
        return_error (invocation, error_code_for_errno (errsv), "cannot read %s: %s", source,
                      g_strerror (errsv));
      return;
    }
  close (fd);

  config = config_with_new_disk (machine, invocation, parsed.bus, parsed.format, &disk);
  if (config == NULL)
    return;
  g_free (disk->path);
  disk->path = new_image_path (machine, &parsed, disk);

  op = disk_operation_new (machine, invocation, "import");
  op->target = g_strdup (disk->target);
  op->path = g_strdup (disk->path);
  op->folder = machine_folder (machine);
  op->name = g_path_get_basename (disk->path);
  op->format = g_strdup (parsed.format);
  if (lstat (op->path, &st) == 0)
    {
      return_error (invocation, VIREO_ERROR_EXISTS, "%s already exists", op->path);
      return;
    }
  if (!vireo_identity_init (&op->identity, op->caller_uid))
    {
      return_error (invocation, VIREO_ERROR_PERMISSION_DENIED, "the caller has no usable identity");
      return;
    }
  template = g_build_filename (op->folder, IMPORT_PREFIX "XXXXXX", NULL);
  if (g_mkdtemp_full (template, 0700) == NULL)
    {
      int errsv = errno;
      return_error (invocation, VIREO_ERROR_FAILED, "cannot make a temporary folder in %s: %s", op->folder,
                    g_strerror (errsv));
      return;
    }
  op->temp_folder = g_steal_pointer (&template);
  fd = open (op->temp_folder, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0 || (op->identity.change && fchown (fd, op->identity.uid, op->identity.gid) < 0))
    {
      int errsv = errno;
      if (fd >= 0)
        close (fd);
      remove_temp_folder (op->temp_folder);
      return_error (invocation, VIREO_ERROR_FAILED, "cannot prepare %s: %s", op->temp_folder,
                    g_strerror (errsv));
      return;
    }
  op->config = g_steal_pointer (&config);
  vireo_dbus_machine_emit_disk_progress (machine->iface, "import", op->target, 0.0);
  op->last_fraction = 0.0;
  output = g_strdup_printf ("/proc/self/fd/3/%s", op->name);
  {
    const char *argv[] = { qemu_img, "convert", "-p", "-O", op->format, source, output, NULL };
    start_qemu_img (g_steal_pointer (&op), argv, fd, TRUE, on_imported);
  }
}

static gboolean
handle_import_disk (VireoDBusMachine *iface, GDBusMethodInvocation *invocation, const char *source,
                    GVariant *options, VireoMachine *machine)
{
  vireo_machine_authorize (machine, invocation, VIREO_ACTION_MODIFY, import_disk);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

/* ---- set-up ---- */

/* Temporary folders of imports a vireod that died left behind. */
static void
remove_import_leftovers (VireoMachine *machine)
{
  g_autofree char *folder = machine_folder (machine);
  g_autoptr (GDir) dir = g_dir_open (folder, 0, NULL);
  const char *entry;

  while (dir != NULL && (entry = g_dir_read_name (dir)) != NULL)
    if (g_str_has_prefix (entry, IMPORT_PREFIX))
      {
        g_autofree char *path = g_build_filename (folder, entry, NULL);
        g_message ("removing %s, left by an interrupted import", path);
        remove_temp_folder (path);
      }
}

void
vireo_machine_disks_init (VireoMachine *machine)
{
  g_signal_connect (machine->iface, "handle-create-disk", G_CALLBACK (handle_create_disk), machine);
  g_signal_connect (machine->iface, "handle-attach-disk", G_CALLBACK (handle_attach_disk), machine);
  g_signal_connect (machine->iface, "handle-detach-disk", G_CALLBACK (handle_detach_disk), machine);
  g_signal_connect (machine->iface, "handle-resize-disk", G_CALLBACK (handle_resize_disk), machine);
  g_signal_connect (machine->iface, "handle-change-medium", G_CALLBACK (handle_change_medium), machine);
  g_signal_connect (machine->iface, "handle-import-disk", G_CALLBACK (handle_import_disk), machine);
  remove_import_leftovers (machine);
}
