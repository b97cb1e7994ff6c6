/* vireo-move.c — "Move to…" between Vireo hosts: the job, taken from the main thread's view of both hosts;
 * the checks before it starts; the copy on a thread (the source's definition without its disks defined at
 * the destination, then each disk streamed from Machine.OpenDiskImage to a disk the destination receives,
 * hashed on the way, and compared with both services' own checksums); and the deletion at the source only
 * once every disk matches.  The libvirt destination is in vireo-move-libvirt.c. */
#include "vireo-move-private.h"

#include <errno.h>
#include <glib/gi18n.h>
#include <gio/gunixfdlist.h>
#include <libvirt-gconfig/libvirt-gconfig.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vireo-libvirt-host.h"
#include "vireo-ssh.h"

#define SWITCH_IFACE "org.vireo.Vireo1.Switch"
#define PUMP_CHUNK   (1024 * 1024)
#define PROGRESS_MS  100

struct _VireoMove
{
  GObject parent_instance;

  VireoHost *source;
  VireoDBusMachine *machine;
  GObject *destination;

  gboolean include_checkpoints;
  VireoMoveJob *job; /* while checking or running, and after */
  guint progress_source;
  double fraction;
  char *stage;
};

G_DEFINE_FINAL_TYPE (VireoMove, vireo_move, G_TYPE_OBJECT)

enum
{
  PROP_0,
  PROP_FRACTION,
  PROP_STAGE,
  N_PROPS
};

static GParamSpec *props[N_PROPS];

/* ---- the job ---- */

static void
move_disk_free (VireoMoveDisk *disk)
{
  g_free (disk->target);
  g_free (disk->path);
  g_free (disk->format);
  g_free (disk->bus);
  g_free (disk->cache);
  g_free (disk->sha256);
  g_free (disk->copied_to);
  g_free (disk);
}

static void
move_end_clear (VireoMoveEnd *end)
{
  g_clear_object (&end->bus);
  g_clear_pointer (&end->uri, g_free);
  g_clear_pointer (&end->title, g_free);
}

static void
move_job_clear (VireoMoveJob *job)
{
  move_end_clear (&job->source);
  move_end_clear (&job->dest);
  g_free (job->machine_path);
  g_free (job->name);
  g_free (job->uuid);
  g_clear_pointer (&job->settings, g_variant_unref);
  g_ptr_array_unref (job->disks);
  g_ptr_array_unref (job->cdroms);
  g_clear_pointer (&job->libvirt, virConnectClose);
  g_free (job->dest_title);
  g_strfreev (job->dest_switches);
  g_clear_object (&job->cancellable);
  g_mutex_clear (&job->lock);
  g_free (job->stage);
  g_ptr_array_unref (job->report);
}

static void
move_job_release (VireoMoveJob *job)
{
  g_atomic_rc_box_release_full (job, (GDestroyNotify) move_job_clear);
}

void
vireo_move_close_fd (int *fd)
{
  if (*fd >= 0)
    close (*fd);
  *fd = -1;
}

static gboolean
take_end (VireoMoveEnd *end, VireoHost *host, GError **error)
{
  VireoDBusManager *manager = vireo_host_get_manager (host);

  if (manager == NULL)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_CONNECTED, _ ("%s is not connected."),
                   vireo_host_get_title (host));
      return FALSE;
    }
  end->bus = g_object_ref (g_dbus_proxy_get_connection (G_DBUS_PROXY (manager)));
  end->title = g_strdup (vireo_host_get_title (host));
  if (vireo_host_get_kind (host) == VIREO_HOST_REMOTE)
    {
      VireoSshAddress address;

      end->uri = g_strdup (vireo_host_get_uri (host));
      if (!vireo_ssh_parse_uri (end->uri, &address, error))
        return FALSE;
      end->session = address.session;
      vireo_ssh_address_clear (&address);
    }
  return TRUE;
}

static guint
count_checkpoints (VireoHost *host, const char *machine_path)
{
  GDBusObjectManager *objects = vireo_host_get_objects (host);
  g_autofree char *prefix = g_strconcat (machine_path, "/checkpoints/", NULL);
  GList *list;
  guint count = 0;

  if (objects == NULL)
    return 0;
  list = g_dbus_object_manager_get_objects (objects);
  for (GList *l = list; l; l = l->next)
    if (g_str_has_prefix (g_dbus_object_get_object_path (l->data), prefix))
      count++;
  g_list_free_full (list, g_object_unref);
  return count;
}

static char **
switch_names (VireoHost *host)
{
  GDBusObjectManager *objects = vireo_host_get_objects (host);
  GStrvBuilder *builder = g_strv_builder_new ();
  GList *list = objects ? g_dbus_object_manager_get_objects (objects) : NULL;
  char **names;

  for (GList *l = list; l; l = l->next)
    {
      g_autoptr (GDBusInterface) iface = g_dbus_object_get_interface (l->data, SWITCH_IFACE);
      g_autoptr (GVariant) name = iface ? g_dbus_proxy_get_cached_property (G_DBUS_PROXY (iface), "Name")
                                        : NULL;

      if (name && g_variant_is_of_type (name, G_VARIANT_TYPE_STRING))
        g_strv_builder_add (builder, g_variant_get_string (name, NULL));
    }
  g_list_free_full (list, g_object_unref);
  names = g_strv_builder_end (builder);
  g_strv_builder_unref (builder);
  return names;
}

const char *
vireo_move_lookup_string (GVariant *dict, const char *key, const char *fallback)
{
  const char *value;

  return g_variant_lookup (dict, key, "&s", &value) ? value : fallback;
}

static void
take_disks (VireoMoveJob *job)
{
  g_autoptr (GVariant) disks = g_variant_lookup_value (job->settings, "disks", G_VARIANT_TYPE ("aa{sv}"));
  GVariantIter iter;
  GVariant *dict;

  if (disks == NULL)
    return;
  g_variant_iter_init (&iter, disks);
  while ((dict = g_variant_iter_next_value (&iter)))
    {
      const char *device = vireo_move_lookup_string (dict, "device", "disk");
      const char *path = vireo_move_lookup_string (dict, "path", "");

      if (g_str_equal (device, "cdrom"))
        {
          if (*path)
            g_ptr_array_add (
                job->cdroms,
                g_strdup_printf ("%s: %s", vireo_move_lookup_string (dict, "target", "?"), path));
        }
      else
        {
          VireoMoveDisk *disk = g_new0 (VireoMoveDisk, 1);

          disk->target = g_strdup (vireo_move_lookup_string (dict, "target", ""));
          disk->path = g_strdup (path);
          disk->format = g_strdup (vireo_move_lookup_string (dict, "format", "raw"));
          disk->bus = g_strdup (vireo_move_lookup_string (dict, "bus", "virtio"));
          disk->cache = g_strdup (vireo_move_lookup_string (dict, "cache", "default"));
          g_variant_lookup (dict, "readonly", "b", &disk->readonly);
          g_variant_lookup (dict, "boot-order", "u", &disk->boot_order);
          g_ptr_array_add (job->disks, disk);
        }
      g_variant_unref (dict);
    }
}

/* Everything the thread needs, copied now: the thread never touches the hosts' objects. */
static VireoMoveJob *
make_job (VireoMove *self, GCancellable *cancellable, GError **error)
{
  VireoMoveJob *job = g_atomic_rc_box_new0 (VireoMoveJob);
  GVariant *settings = vireo_dbus_machine_get_settings (self->machine);
  const char *state = vireo_dbus_machine_get_state (self->machine);

  g_mutex_init (&job->lock);
  job->disks = g_ptr_array_new_with_free_func ((GDestroyNotify) move_disk_free);
  job->cdroms = g_ptr_array_new_with_free_func (g_free);
  job->report = g_ptr_array_new_with_free_func (g_free);
  job->cancellable = cancellable ? g_object_ref (cancellable) : g_cancellable_new ();
  job->machine_path = g_strdup (g_dbus_proxy_get_object_path (G_DBUS_PROXY (self->machine)));
  job->name = vireo_dbus_machine_dup_name (self->machine);
  job->uuid = vireo_dbus_machine_dup_uuid (self->machine);
  job->settings = settings ? g_variant_ref (settings) : g_variant_ref_sink (g_variant_new ("a{sv}", NULL));
  job->checkpoints = count_checkpoints (self->source, job->machine_path);
  job->include_checkpoints = self->include_checkpoints && VIREO_IS_HOST (self->destination);
  take_disks (job);

  if (!take_end (&job->source, self->source, error))
    goto fail;
  if (g_strcmp0 (state, "off") != 0)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_BUSY,
                   g_strcmp0 (state, "saved") == 0
                       ? _ ("“%s” has a saved state: start it and shut it down, or discard the saved state, "
                            "before moving it.")
                       : _ ("“%s” is not off: shut it down before moving it."),
                   job->name);
      goto fail;
    }

  if (VIREO_IS_HOST (self->destination))
    {
      VireoHost *dest = VIREO_HOST (self->destination);
      GListModel *machines = vireo_host_get_machines (dest);

      if (dest == self->source)
        {
          g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                               _ ("The machine is on that host already."));
          goto fail;
        }
      if (!take_end (&job->dest, dest, error))
        goto fail;
      job->dest_title = g_strdup (vireo_host_get_title (dest));
      job->dest_switches = switch_names (dest);
      for (guint i = 0; i < g_list_model_get_n_items (machines); i++)
        {
          g_autoptr (VireoDBusMachine) other = g_list_model_get_item (machines, i);

          if (g_strcmp0 (vireo_dbus_machine_get_uuid (other), job->uuid) == 0)
            {
              g_set_error (error, G_IO_ERROR, G_IO_ERROR_EXISTS, _ ("%s already has this machine (as “%s”)."),
                           job->dest_title, vireo_dbus_machine_get_name (other));
              goto fail;
            }
          if (g_strcmp0 (vireo_dbus_machine_get_name (other), job->name) == 0)
            {
              g_set_error (error, G_IO_ERROR, G_IO_ERROR_EXISTS,
                           _ ("%s already has a machine named “%s”: rename one of them first."),
                           job->dest_title, job->name);
              goto fail;
            }
        }
    }
  else
    {
      VireoLibvirtHost *dest = VIREO_LIBVIRT_HOST (self->destination);
      const char *uri = vireo_libvirt_host_get_uri (dest);

      job->libvirt = vireo_libvirt_host_get_handle (dest);
      if (job->libvirt == NULL)
        {
          g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_CONNECTED, _ ("%s is not connected."),
                       vireo_libvirt_host_get_title (dest));
          goto fail;
        }
      job->dest_title = g_strdup (vireo_libvirt_host_get_title (dest));
      job->libvirt_system = g_str_has_suffix (uri, "/system") || strstr (uri, "/system?") != NULL;
    }
  return job;

fail:
  move_job_release (job);
  return NULL;
}

/* ---- progress ---- */

void
vireo_move_set_stage (VireoMoveJob *job, const char *format, ...)
{
  va_list args;

  va_start (args, format);
  g_mutex_lock (&job->lock);
  g_free (job->stage);
  job->stage = g_strdup_vprintf (format, args);
  g_mutex_unlock (&job->lock);
  va_end (args);
}

void
vireo_move_add_done (VireoMoveJob *job, guint64 bytes)
{
  g_mutex_lock (&job->lock);
  job->done += bytes;
  g_mutex_unlock (&job->lock);
}

static gboolean
on_progress_tick (gpointer data)
{
  VireoMove *self = data;
  VireoMoveJob *job = self->job;
  double fraction;

  g_mutex_lock (&job->lock);
  fraction = job->total ? MIN (1.0, (double) job->done / (double) job->total) : 0.0;
  if (g_strcmp0 (job->stage, self->stage) != 0)
    {
      g_free (self->stage);
      self->stage = g_strdup (job->stage);
      g_mutex_unlock (&job->lock);
      g_object_notify_by_pspec (G_OBJECT (self), props[PROP_STAGE]);
    }
  else
    g_mutex_unlock (&job->lock);
  if (fraction != self->fraction)
    {
      self->fraction = fraction;
      g_object_notify_by_pspec (G_OBJECT (self), props[PROP_FRACTION]);
    }
  return G_SOURCE_CONTINUE;
}

/* ---- streams ---- */

gboolean
vireo_move_pump (VireoMoveJob *job, int in, guint64 *size, VireoMoveSink sink, gpointer sink_data,
                 char **hash_out, GError **error)
{
  g_autoptr (GChecksum) hash = g_checksum_new (G_CHECKSUM_SHA256);
  g_autofree guint8 *buffer = g_malloc (PUMP_CHUNK);
  guint64 offset = 0;

  for (;;)
    {
      gsize filled = 0;
      ssize_t got = 1;

      if (g_cancellable_set_error_if_cancelled (job->cancellable, error))
        return FALSE;
      /* Whole chunks, so that the sink sees aligned blocks and can leave holes. */
      while (filled < PUMP_CHUNK && got > 0)
        {
          got = read (in, buffer + filled, PUMP_CHUNK - filled);
          if (got < 0 && errno == EINTR)
            got = 1;
          else if (got < 0)
            {
              int saved = errno;
              g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved),
                           _ ("Reading the image failed: %s"), g_strerror (saved));
              return FALSE;
            }
          else
            filled += (gsize) got;
        }
      if (filled == 0)
        break;
      g_checksum_update (hash, buffer, filled);
      if (!sink (sink_data, buffer, filled, offset, error))
        return FALSE;
      offset += filled;
      /* A stream of unknown length (the checkpoints' archive) is not in the total. */
      if (*size != VIREO_MOVE_SIZE_UNKNOWN)
        vireo_move_add_done (job, filled);
      if (got == 0)
        break;
    }
  if (*size == VIREO_MOVE_SIZE_UNKNOWN)
    *size = offset;
  else if (offset != *size)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_PARTIAL_INPUT,
                   _ ("The image ended after %" G_GUINT64_FORMAT " of its %" G_GUINT64_FORMAT " bytes."),
                   offset, *size);
      return FALSE;
    }
  *hash_out = g_strdup (g_checksum_get_string (hash));
  return TRUE;
}

static void
on_waited (GObject *source, GAsyncResult *result, gpointer data)
{
  *(GAsyncResult **) data = g_object_ref (result);
}

gboolean
vireo_move_wait_ssh (GSubprocess *ssh, GCancellable *cancellable, GError **error)
{
  g_autoptr (GMainContext) context = g_main_context_new ();
  GAsyncResult *result = NULL;
  gboolean ok;

  g_main_context_push_thread_default (context);
  vireo_ssh_wait_async (ssh, cancellable, on_waited, &result);
  while (result == NULL)
    g_main_context_iteration (context, TRUE);
  ok = vireo_ssh_wait_finish (ssh, result, error);
  g_object_unref (result);
  g_main_context_pop_thread_default (context);
  return ok;
}

/* The tunnel's word and the service's method for each stream of a move. */
static const struct
{
  const char *tunnel, *method;
} stream_kinds[] = {
  [VIREO_MOVE_DISK_READ] = { "disk-read", "OpenDiskImage" },
  [VIREO_MOVE_DISK_WRITE] = { "disk-write", "OpenReceivedDisk" },
  [VIREO_MOVE_CHECKPOINTS_READ] = { "checkpoints-read", "OpenCheckpointArchive" },
  [VIREO_MOVE_CHECKPOINTS_WRITE] = { "checkpoints-write", "ReceiveCheckpointArchive" },
};

int
vireo_move_open_stream (VireoMoveJob *job, VireoMoveEnd *end, const char *machine_path, VireoMoveStream kind,
                        const char *target, GSubprocess **out_ssh, GError **error)
{
  g_autoptr (GUnixFDList) fds = NULL;
  g_autoptr (GVariant) reply = NULL;
  int fd = -1, index;

  *out_ssh = NULL;
  if (end->uri)
    {
      const char *argv[] = { "vireo-tunnel",
                             end->session ? "--session" : "--system",
                             stream_kinds[kind].tunnel,
                             machine_path,
                             target,
                             NULL };

      *out_ssh = vireo_ssh_spawn (end->uri, argv, &fd, error);
      return *out_ssh ? fd : -1;
    }
  reply = g_dbus_connection_call_with_unix_fd_list_sync (
      end->bus, VIREO_MOVE_BUS_NAME, machine_path, VIREO_MOVE_MACHINE_IFACE, stream_kinds[kind].method,
      target ? g_variant_new ("(s)", target) : NULL, G_VARIANT_TYPE ("(h)"), G_DBUS_CALL_FLAGS_NONE, -1, NULL,
      &fds, job->cancellable, error);
  if (reply == NULL)
    {
      if (error && *error)
        g_dbus_error_strip_remote_error (*error);
      return -1;
    }
  g_variant_get (reply, "(h)", &index);
  if (fds == NULL || index < 0 || index >= g_unix_fd_list_get_length (fds))
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, _ ("The service sent no file."));
      return -1;
    }
  return g_unix_fd_list_get (fds, index, error);
}

int
vireo_move_open_source_disk (VireoMoveJob *job, VireoMoveDisk *disk, GSubprocess **ssh, GError **error)
{
  return vireo_move_open_stream (job, &job->source, job->machine_path, VIREO_MOVE_DISK_READ, disk->target,
                                 ssh, error);
}

/* ---- calls ---- */

GVariant *
vireo_move_call (VireoMoveJob *job, VireoMoveEnd *end, const char *path, const char *iface,
                 const char *method, GVariant *parameters, const char *reply_type, GError **error)
{
  GVariant *reply = g_dbus_connection_call_sync (end->bus, VIREO_MOVE_BUS_NAME, path, iface, method,
                                                 parameters, reply_type ? G_VARIANT_TYPE (reply_type) : NULL,
                                                 G_DBUS_CALL_FLAGS_NONE, G_MAXINT, job->cancellable, error);
  if (reply == NULL && error && *error)
    g_dbus_error_strip_remote_error (*error);
  return reply;
}

static gboolean
source_checksums (VireoMoveJob *job, GError **error)
{
  for (guint i = 0; i < job->disks->len; i++)
    {
      VireoMoveDisk *disk = g_ptr_array_index (job->disks, i);
      g_autoptr (GVariant) reply = NULL;

      vireo_move_set_stage (job, _ ("Checking %s at the source…"), disk->target);
      reply = vireo_move_call (job, &job->source, job->machine_path, VIREO_MOVE_MACHINE_IFACE, "ChecksumDisk",
                               g_variant_new ("(s)", disk->target), "(ts)", error);
      if (reply == NULL)
        {
          g_prefix_error (error, _ ("Disk %s: "), disk->target);
          return FALSE;
        }
      g_variant_get (reply, "(ts)", &disk->size, &disk->sha256);
    }
  /* Each disk is read at the source, copied, and read at the destination: three passes of its size. */
  g_mutex_lock (&job->lock);
  for (guint i = 0; i < job->disks->len; i++)
    job->total += 3 * ((VireoMoveDisk *) g_ptr_array_index (job->disks, i))->size;
  job->done = job->total / 3;
  g_mutex_unlock (&job->lock);
  return TRUE;
}

/* The three views of one disk agree: the source's file, the bytes that went through us, the copy. */
gboolean
vireo_move_check_copy (VireoMoveDisk *disk, const char *pumped, guint64 size, const char *sha256,
                       const char *where, GError **error)
{
  if (size != disk->size || g_strcmp0 (sha256, disk->sha256) != 0 || g_strcmp0 (pumped, disk->sha256) != 0)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED,
                   _ ("The copy of disk %s does not match its source (%s: %" G_GUINT64_FORMAT
                      " bytes, SHA-256 %s; source: %" G_GUINT64_FORMAT " bytes, SHA-256 %s; sent: %s)."),
                   disk->target, where, size, sha256, disk->size, disk->sha256, pumped);
      return FALSE;
    }
  return TRUE;
}

/* ---- the thread ---- */

static void
run_thread (GTask *task, gpointer source, gpointer data, GCancellable *cancellable)
{
  VireoMoveJob *job = data;
  g_autoptr (GError) error = NULL;
  g_autoptr (GVariant) reply = NULL;
  g_autofree char *made = NULL;
  const char *xml;

  vireo_move_set_stage (job, _ ("Reading the definition of “%s”…"), job->name);
  reply = vireo_move_call (job, &job->source, job->machine_path, VIREO_MOVE_MACHINE_IFACE, "ExportLibvirtXml",
                           NULL, "(s)", &error);
  if (reply == NULL || !source_checksums (job, &error))
    goto fail;
  g_variant_get (reply, "(&s)", &xml);
  made = job->libvirt ? vireo_move_libvirt_run (job, xml, &error) : vireo_move_vireo_run (job, xml, &error);
  if (made == NULL)
    goto fail;

  for (guint i = 0; i < job->disks->len; i++)
    {
      VireoMoveDisk *disk = g_ptr_array_index (job->disks, i);
      /* Before the checkpoints' line, which came during the copy. */
      g_ptr_array_insert (job->report, (int) i,
                          g_strdup_printf ("%s: %" G_GUINT64_FORMAT " bytes, SHA-256 %s", disk->target,
                                           disk->size, disk->sha256));
    }
  if (job->delete_source)
    {
      g_autoptr (GVariant) deleted = NULL;

      vireo_move_set_stage (job, _ ("Deleting “%s” at the source…"), job->name);
      deleted = vireo_move_call (job, &job->source, job->machine_path, VIREO_MOVE_MACHINE_IFACE, "Delete",
                                 g_variant_new ("(b)", TRUE), NULL, &error);
      if (deleted == NULL)
        {
          g_prefix_error (&error,
                          _ ("The copy on %s is complete, but the machine could not be deleted at the "
                             "source: "),
                          job->dest_title);
          goto fail;
        }
    }
  vireo_move_set_stage (job, _ ("Done"));
  g_task_return_pointer (task, g_steal_pointer (&made), g_free);
  return;

fail:
  g_task_return_error (task, g_steal_pointer (&error));
}

static void
check_thread (GTask *task, gpointer source, gpointer data, GCancellable *cancellable)
{
  VireoMoveJob *job = data;
  g_autoptr (GPtrArray) notes = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GError) error = NULL;
  const char *boot = vireo_move_lookup_string (job->settings, "boot", "kernel");

  for (guint i = 0; i < job->cdroms->len; i++)
    g_ptr_array_add (notes,
                     g_strdup_printf (_ ("The CD-ROM drive %s arrives empty: its medium stays where it is."),
                                      (char *) g_ptr_array_index (job->cdroms, i)));
  if (g_str_equal (boot, "kernel"))
    {
      const char *kernel = vireo_move_lookup_string (job->settings, "kernel", "");
      const char *initrd = vireo_move_lookup_string (job->settings, "initrd", "");

      g_ptr_array_add (notes, *initrd
                                  ? g_strdup_printf (_ ("It boots the kernel %s and the initial ramdisk %s, "
                                                        "which are not copied: %s needs them at the same "
                                                        "place."),
                                                     kernel, initrd, job->dest_title)
                                  : g_strdup_printf (_ ("It boots the kernel %s, which is not copied: %s "
                                                        "needs it at the same place."),
                                                     kernel, job->dest_title));
    }
  if (job->checkpoints > 0 && job->libvirt)
    g_ptr_array_add (notes,
                     g_strdup_printf (g_dngettext (NULL,
                                                   "Its checkpoint is not moved: libvirt keeps snapshots "
                                                   "its own way.",
                                                   "Its %u checkpoints are not moved: libvirt keeps "
                                                   "snapshots its own way.",
                                                   job->checkpoints),
                                      job->checkpoints));
  else if (job->checkpoints > 0 && !job->include_checkpoints)
    g_ptr_array_add (notes,
                     g_strdup_printf (g_dngettext (NULL,
                                                   "Its checkpoint is not moved: the copy starts from the "
                                                   "machine as it is now.",
                                                   "Its %u checkpoints are not moved: the copy starts "
                                                   "from the machine as it is now.",
                                                   job->checkpoints),
                                      job->checkpoints));
  if (job->libvirt)
    {
      g_auto (GStrv) more = vireo_move_libvirt_notes (job, &error);
      if (more == NULL)
        {
          g_task_return_error (task, g_steal_pointer (&error));
          return;
        }
      for (char **note = more; *note; note++)
        g_ptr_array_add (notes, g_strdup (*note));
    }
  else
    vireo_move_vireo_notes (job, notes);
  g_ptr_array_add (notes, NULL);
  g_task_return_pointer (task, g_ptr_array_steal (notes, NULL), (GDestroyNotify) g_strfreev);
}

/* ---- the object ---- */

VireoMove *
vireo_move_new (VireoHost *source, VireoDBusMachine *machine, GObject *destination)
{
  VireoMove *self;

  g_return_val_if_fail (VIREO_IS_HOST (source), NULL);
  g_return_val_if_fail (VIREO_DBUS_IS_MACHINE (machine), NULL);
  g_return_val_if_fail (VIREO_IS_HOST (destination) || VIREO_IS_LIBVIRT_HOST (destination), NULL);

  self = g_object_new (VIREO_TYPE_MOVE, NULL);
  self->source = g_object_ref (source);
  self->machine = g_object_ref (machine);
  self->destination = g_object_ref (destination);
  return self;
}

void
vireo_move_set_include_checkpoints (VireoMove *self, gboolean include)
{
  g_return_if_fail (VIREO_IS_MOVE (self));
  self->include_checkpoints = include;
}

guint
vireo_move_count_checkpoints (VireoHost *host, VireoDBusMachine *machine)
{
  g_return_val_if_fail (VIREO_IS_HOST (host), 0);
  g_return_val_if_fail (VIREO_DBUS_IS_MACHINE (machine), 0);
  return count_checkpoints (host, g_dbus_proxy_get_object_path (G_DBUS_PROXY (machine)));
}

static gboolean
start_job (VireoMove *self, GTask *task, GCancellable *cancellable)
{
  g_autoptr (GError) error = NULL;

  if (self->progress_source)
    {
      g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_BUSY, "%s",
                               _ ("The machine is being moved already."));
      return FALSE;
    }
  g_clear_pointer (&self->job, move_job_release);
  self->job = make_job (self, cancellable, &error);
  if (self->job == NULL)
    {
      g_task_return_error (task, g_steal_pointer (&error));
      return FALSE;
    }
  return TRUE;
}

void
vireo_move_check_async (VireoMove *self, GCancellable *cancellable, GAsyncReadyCallback callback,
                        gpointer data)
{
  g_autoptr (GTask) task = NULL;

  g_return_if_fail (VIREO_IS_MOVE (self));
  task = g_task_new (self, cancellable, callback, data);
  g_task_set_source_tag (task, vireo_move_check_async);
  if (!start_job (self, task, cancellable))
    return;
  g_task_set_task_data (task, g_atomic_rc_box_acquire (self->job), (GDestroyNotify) move_job_release);
  g_task_run_in_thread (task, check_thread);
}

char **
vireo_move_check_finish (VireoMove *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);
  return g_task_propagate_pointer (G_TASK (result), error);
}

static void
on_run_done (GObject *source, GAsyncResult *result, gpointer data)
{
  VireoMove *self = VIREO_MOVE (source);
  GTask *outer = data;
  g_autoptr (GError) error = NULL;
  char *made = g_task_propagate_pointer (G_TASK (result), &error);

  on_progress_tick (self);
  g_clear_handle_id (&self->progress_source, g_source_remove);
  if (made)
    g_task_return_pointer (outer, made, g_free);
  else
    g_task_return_error (outer, g_steal_pointer (&error));
  g_object_unref (outer);
}

void
vireo_move_run_async (VireoMove *self, gboolean delete_source, GCancellable *cancellable,
                      GAsyncReadyCallback callback, gpointer data)
{
  GTask *outer;
  g_autoptr (GTask) inner = NULL;

  g_return_if_fail (VIREO_IS_MOVE (self));
  outer = g_task_new (self, cancellable, callback, data);
  g_task_set_source_tag (outer, vireo_move_run_async);
  if (!start_job (self, outer, cancellable))
    {
      g_object_unref (outer);
      return;
    }
  self->job->delete_source = delete_source;
  self->fraction = 0;
  self->progress_source = g_timeout_add (PROGRESS_MS, on_progress_tick, self);
  /* The inner task runs the thread; the outer one answers once the progress has caught up. */
  inner = g_task_new (self, NULL, on_run_done, outer);
  g_task_set_task_data (inner, g_atomic_rc_box_acquire (self->job), (GDestroyNotify) move_job_release);
  g_task_run_in_thread (inner, run_thread);
}

char *
vireo_move_run_finish (VireoMove *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);
  return g_task_propagate_pointer (G_TASK (result), error);
}

double
vireo_move_get_fraction (VireoMove *self)
{
  g_return_val_if_fail (VIREO_IS_MOVE (self), 0);
  return self->fraction;
}

const char *
vireo_move_get_stage (VireoMove *self)
{
  g_return_val_if_fail (VIREO_IS_MOVE (self), NULL);
  return self->stage ? self->stage : "";
}

char **
vireo_move_get_report (VireoMove *self)
{
  GStrvBuilder *builder;
  char **report;

  g_return_val_if_fail (VIREO_IS_MOVE (self), NULL);
  builder = g_strv_builder_new ();
  if (self->job)
    for (guint i = 0; i < self->job->report->len; i++)
      g_strv_builder_add (builder, g_ptr_array_index (self->job->report, i));
  report = g_strv_builder_end (builder);
  g_strv_builder_unref (builder);
  return report;
}

static void
vireo_move_finalize (GObject *object)
{
  VireoMove *self = VIREO_MOVE (object);

  g_clear_handle_id (&self->progress_source, g_source_remove);
  g_clear_pointer (&self->job, move_job_release);
  g_clear_object (&self->source);
  g_clear_object (&self->machine);
  g_clear_object (&self->destination);
  g_free (self->stage);
  G_OBJECT_CLASS (vireo_move_parent_class)->finalize (object);
}

static void
vireo_move_get_property (GObject *object, guint id, GValue *value, GParamSpec *pspec)
{
  VireoMove *self = VIREO_MOVE (object);

  switch (id)
    {
    case PROP_FRACTION:
      g_value_set_double (value, self->fraction);
      break;
    case PROP_STAGE:
      g_value_set_string (value, vireo_move_get_stage (self));
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, id, pspec);
    }
}

static void
vireo_move_class_init (VireoMoveClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->finalize = vireo_move_finalize;
  object_class->get_property = vireo_move_get_property;
  props[PROP_FRACTION] = g_param_spec_double ("fraction", NULL, NULL, 0, 1, 0,
                                              G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
  props[PROP_STAGE] = g_param_spec_string ("stage", NULL, NULL, "",
                                           G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, props);
}

static void
vireo_move_init (VireoMove *self)
{
}
