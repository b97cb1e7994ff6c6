/* machine-disk-send.c — the sending end of a disk moved to another host: Machine.ChecksumDisk (the image
 * file's length and SHA-256, hashed in a thread with DiskProgress) and Machine.OpenDiskImage (a read-only
 * descriptor of it, which the app copies to the other host's OpenReceivedDisk).
 *
 * The image is opened as the other disk methods open it: an image in the machine's own folder with
 * vireod's rights and never through a link, any other with the caller's (open-as.h), so nobody reads
 * through vireod what they could not read themselves.  What is hashed and handed out is the file's bytes
 * as they lie on disk; the receiving end (machine-disk-receive.c) hashes what arrived the same way.
 */
#include "machine-disks-private.h"
#include "image-info.h"
#include "vireo-error.h"

#include <errno.h>
#include <fcntl.h>
#include <gio/gunixfdlist.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* What one read takes while hashing. */
#define HASH_CHUNK_BYTES (1024 * 1024)

/* ---- progress from the hashing thread ---- */

typedef struct
{
  VireoMachine *machine;
  const char *operation; /* static */
  char *target;
  double fraction;
} ProgressReport;

static void
progress_report_free (gpointer data)
{
  ProgressReport *report = data;

  g_object_unref (report->machine);
  g_free (report->target);
  g_free (report);
}

static gboolean
emit_progress (gpointer data)
{
  ProgressReport *report = data;

  if (report->machine->iface != NULL)
    vireo_dbus_machine_emit_disk_progress (report->machine->iface, report->operation, report->target,
                                           report->fraction);
  return G_SOURCE_REMOVE;
}

/* The signal goes out on the main loop.  At the priority of the thread's completion, which comes after
 * (GTask returns through a source of G_PRIORITY_DEFAULT too): the reports arrive before the reply. */
static void
report_progress (DiskOperation *op, const char *operation, double fraction)
{
  ProgressReport *report = g_new0 (ProgressReport, 1);

  report->machine = g_object_ref (op->machine);
  report->operation = operation;
  report->target = g_strdup (op->target);
  report->fraction = fraction;
  g_idle_add_full (G_PRIORITY_DEFAULT, emit_progress, report, progress_report_free);
}

gboolean
vireo_disks_hash_in_thread (DiskOperation *op, const char *operation, GError **error)
{
  g_autoptr (GChecksum) checksum = g_checksum_new (G_CHECKSUM_SHA256);
  g_autofree guint8 *buffer = g_malloc (HASH_CHUNK_BYTES);
  guint64 offset = 0, expected;
  double reported = 0.0;
  struct stat st;

  if (fstat (op->fd, &st) < 0)
    {
      int errsv = errno;
      g_set_error (error, VIREO_ERROR, vireo_error_code_for_errno (errsv), "cannot read the image %s: %s",
                   op->path, g_strerror (errsv));
      return FALSE;
    }
  expected = (guint64) MAX (st.st_size, 1);
  /* Up to its end as read, not as fstat said: the length is what was hashed. */
  while (TRUE)
    {
      ssize_t got = pread (op->fd, buffer, HASH_CHUNK_BYTES, (off_t) offset);
      double fraction;

      if (got < 0 && errno == EINTR)
        continue;
      if (got < 0)
        {
          int errsv = errno;
          g_set_error (error, VIREO_ERROR, vireo_error_code_for_errno (errsv),
                       "cannot read the image %s at byte %" G_GUINT64_FORMAT ": %s", op->path, offset,
                       g_strerror (errsv));
          return FALSE;
        }
      if (got == 0)
        break;
      g_checksum_update (checksum, buffer, (gsize) got);
      offset += (guint64) got;
      fraction = MIN ((double) offset / (double) expected, 1.0);
      /* 1.0 is for the caller to say, once its work is done. */
      if (fraction < 1.0 && fraction - reported >= 0.01)
        {
          reported = fraction;
          report_progress (op, operation, fraction);
        }
    }
  op->size = offset;
  op->sha256 = g_strdup (g_checksum_get_string (checksum));
  return TRUE;
}

/* ---- opening a disk's image ---- */

/* Refuses (InvalidState on @invocation) a disk still being received. */
static gboolean
require_not_receiving (VireoMachine *machine, GDBusMethodInvocation *invocation, const char *target)
{
  if (!vireo_disks_is_receiving (machine, target))
    return TRUE;
  vireo_machine_return_error (invocation, VIREO_ERROR_INVALID_STATE, "disk %s is still being received",
                              target);
  return FALSE;
}

/* The disk @target of an off machine that may be read: not a CD-ROM, not being received; else NULL and
 * the error returned.  A ChecksumDisk under way does not stop another reader. */
static const VireoDiskConfig *
require_readable_disk (VireoMachine *machine, GDBusMethodInvocation *invocation, const char *target)
{
  const VireoDiskConfig *disk = vireo_disks_require_disk (machine, invocation, target);

  if (disk == NULL)
    return NULL;
  if (strcmp (disk->device, "disk") != 0)
    {
      vireo_machine_return_error (invocation, VIREO_ERROR_INVALID_ARGUMENT,
                                  "disk “%s” is a CD-ROM drive; only disks are read", target);
      return NULL;
    }
  if (is_active (machine) || state_is (machine, "saved"))
    {
      vireo_machine_return_error (invocation, VIREO_ERROR_INVALID_STATE,
                                  "“%s” is %s; its disks are read only while it is off",
                                  machine->config->name, state (machine));
      return NULL;
    }
  if (machine->disk_operation != NULL && g_strcmp0 (machine->disk_operation, "checksum") != 0)
    {
      vireo_machine_return_error (invocation, VIREO_ERROR_INVALID_STATE,
                                  "“%s” has a disk operation (%s) under way", machine->config->name,
                                  machine->disk_operation);
      return NULL;
    }
  if (!require_not_receiving (machine, invocation, target))
    return NULL;
  return disk;
}

int
vireo_disks_open_image (VireoMachine *machine, GDBusMethodInvocation *invocation, const VireoDiskConfig *disk,
                        int flags, VireoError not_regular)
{
  gboolean own = vireo_machine_config_in_own_folder (machine->config, disk->path);
  int fd = own ? vireo_machine_config_open_image (machine->config, disk->path, flags)
               : vireo_open_as (vireo_authority_caller_uid (invocation), disk->path, flags);
  struct stat st;

  if (fd < 0)
    {
      int errsv = errno;
      vireo_machine_return_error (invocation, vireo_disks_error_code (errsv), "cannot open the image %s: %s",
                                  disk->path, g_strerror (errsv));
      return -1;
    }
  /* Opened without blocking (a FIFO must not hang vireod); read as a file from here on. */
  if (fstat (fd, &st) < 0 || !S_ISREG (st.st_mode) || fcntl (fd, F_SETFL, 0) < 0)
    {
      close (fd);
      vireo_machine_return_error (invocation, not_regular, "%s is not a regular file", disk->path);
      return -1;
    }
  return fd;
}

/* ---- ChecksumDisk ---- */

static void
checksum_in_thread (GTask *task, gpointer source, gpointer data, GCancellable *cancellable)
{
  DiskOperation *op = data;
  GError *error = NULL;

  if (vireo_disks_hash_in_thread (op, "checksum", &error))
    g_task_return_boolean (task, TRUE);
  else
    g_task_return_error (task, error);
}

static void
on_checksummed (DiskOperation *op, GError *error)
{
  if (error != NULL)
    {
      g_dbus_method_invocation_return_gerror (op->invocation, error);
      return;
    }
  vireo_dbus_machine_emit_disk_progress (op->machine->iface, "checksum", op->target, 1.0);
  vireo_dbus_machine_complete_checksum_disk (op->machine->iface, op->invocation, op->size, op->sha256);
}

static void
checksum_disk (VireoMachine *machine, GDBusMethodInvocation *invocation)
{
  g_autoptr (DiskOperation) op = NULL;
  const VireoDiskConfig *disk;
  const char *target;
  int fd;

  g_variant_get (g_dbus_method_invocation_get_parameters (invocation), "(&s)", &target);
  if ((disk = require_readable_disk (machine, invocation, target)) == NULL
      || !vireo_disks_require_off (machine, invocation))
    return;
  if ((fd = vireo_disks_open_image (machine, invocation, disk, O_RDONLY, VIREO_ERROR_INVALID_ARGUMENT)) < 0)
    return;
  op = vireo_disk_operation_new (machine, invocation, "checksum");
  op->fd = fd;
  op->target = g_strdup (disk->target);
  op->path = g_strdup (disk->path);
  vireo_dbus_machine_emit_disk_progress (machine->iface, "checksum", op->target, 0.0);
  vireo_disk_operation_in_thread (g_steal_pointer (&op), checksum_in_thread, on_checksummed);
}

static gboolean
handle_checksum_disk (VireoDBusMachine *iface, GDBusMethodInvocation *invocation, const char *target,
                      VireoMachine *machine)
{
  vireo_machine_authorize (machine, invocation, VIREO_ACTION_MODIFY, checksum_disk);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

/* ---- OpenDiskImage ---- */

static void
open_disk_image (VireoMachine *machine, GDBusMethodInvocation *invocation)
{
  g_autoptr (GUnixFDList) fds = NULL;
  const VireoDiskConfig *disk;
  const char *target;
  HvImageInfo info = { 0 };
  int fd;

  g_variant_get (g_dbus_method_invocation_get_parameters (invocation), "(&s)", &target);
  if ((disk = require_readable_disk (machine, invocation, target)) == NULL)
    return;
  if ((fd = vireo_disks_open_image (machine, invocation, disk, O_RDONLY, VIREO_ERROR_INVALID_ARGUMENT)) < 0)
    return;
  /* A differencing disk's bytes are only half of it; its backing file would have to come too. */
  if (strcmp (disk->format, "qcow2") == 0 && hv_image_info_read (fd, &info, NULL) && info.backing != NULL)
    {
      vireo_machine_return_error (invocation, VIREO_ERROR_NOT_SUPPORTED,
                                  "disk “%s” is a differencing disk on the backing file %s; a differencing "
                                  "disk cannot be moved yet",
                                  target, info.backing);
      hv_image_info_clear (&info);
      close (fd);
      return;
    }
  hv_image_info_clear (&info);
  fds = g_unix_fd_list_new_from_array (&fd, 1);
  vireo_dbus_machine_complete_open_disk_image (machine->iface, invocation, fds, g_variant_new_handle (0));
}

static gboolean
handle_open_disk_image (VireoDBusMachine *iface, GDBusMethodInvocation *invocation, GUnixFDList *fds,
                        const char *target, VireoMachine *machine)
{
  vireo_machine_authorize (machine, invocation, VIREO_ACTION_MODIFY, open_disk_image);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

void
vireo_machine_disk_send_init (VireoMachine *machine)
{
  g_signal_connect (machine->iface, "handle-checksum-disk", G_CALLBACK (handle_checksum_disk), machine);
  g_signal_connect (machine->iface, "handle-open-disk-image", G_CALLBACK (handle_open_disk_image), machine);
}
