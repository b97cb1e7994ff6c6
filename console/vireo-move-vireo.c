/* vireo-move-vireo.c — "Move to…" another Vireo host: the source's definition without its disks is imported
 * there (keeping its UUID and MACs; each NIC on the switch of the same name, else the Default Switch), then
 * each disk is received into the new machine's folder from the source's stream and checked by the
 * destination's own checksum; a failure deletes the half-made machine. */
#include "vireo-move-private.h"

#include "sparse-copy.h"

#include <errno.h>
#include <glib/gi18n.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

/* Where the pumped bytes go at a Vireo destination: the received disk's file itself (a hole for each
 * all-zero block, so a sparse image stays sparse), or the socket to ssh. */
typedef struct
{
  int fd;
  gboolean file;
} FdSink;

static gboolean
fd_sink (gpointer data, const guint8 *buffer, gsize length, guint64 offset, GError **error)
{
  FdSink *sink = data;

  if (sink->file)
    return vireo_sparse_write (sink->fd, offset, buffer, length, error);
  while (length > 0)
    {
      ssize_t done = write (sink->fd, buffer, length);
      if (done < 0 && errno == EINTR)
        continue;
      if (done <= 0)
        {
          int saved = done < 0 ? errno : EIO;
          g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved), _ ("Writing the copy failed: %s"),
                       g_strerror (saved));
          return FALSE;
        }
      buffer += done;
      length -= (gsize) done;
    }
  return TRUE;
}

/* ---- a Vireo destination ---- */

GVirConfigDomainDevice *
vireo_move_empty_drive (GVirConfigDomainDisk *drive)
{
  g_autofree char *xml = gvir_config_object_to_xml (GVIR_CONFIG_OBJECT (drive));
  g_autoptr (GRegex) source = g_regex_new ("<source[^>]*/>|<source[^>]*>.*?</source>", G_REGEX_DOTALL, 0,
                                           NULL);
  g_autofree char *empty = g_regex_replace_literal (source, xml, -1, 0, "", 0, NULL);
  GVirConfigDomainDisk *disk = gvir_config_domain_disk_new_from_xml (empty, NULL);

  return GVIR_CONFIG_DOMAIN_DEVICE (disk ? disk : g_object_ref (drive));
}

/* The source's definition without its disks (they come one by one) and without its CD-ROMs' media
 * (they stay on the source). */
static char *
definition_without_disks (const char *xml, GError **error)
{
  g_autoptr (GVirConfigDomain) domain = gvir_config_domain_new_from_xml (xml, error);
  GList *devices, *kept = NULL;
  char *out;

  if (domain == NULL)
    return NULL;
  devices = gvir_config_domain_get_devices (domain);
  for (GList *l = devices; l; l = l->next)
    {
      if (GVIR_CONFIG_IS_DOMAIN_DISK (l->data))
        {
          GVirConfigDomainDisk *disk = l->data;

          if (gvir_config_domain_disk_get_guest_device_type (disk)
              != GVIR_CONFIG_DOMAIN_DISK_GUEST_DEVICE_CDROM)
            continue;
          kept = g_list_append (kept, vireo_move_empty_drive (disk));
          continue;
        }
      kept = g_list_append (kept, g_object_ref (l->data));
    }
  gvir_config_domain_set_devices (domain, kept);
  g_list_free_full (kept, g_object_unref);
  g_list_free_full (devices, g_object_unref);
  out = gvir_config_object_to_xml (GVIR_CONFIG_OBJECT (domain));
  return out;
}

static GVariant *
receive_disk_settings (VireoMoveDisk *disk)
{
  GVariantDict dict;

  g_variant_dict_init (&dict, NULL);
  g_variant_dict_insert (&dict, "format", "s", disk->format);
  g_variant_dict_insert (&dict, "readonly", "b", disk->readonly);
  g_variant_dict_insert (&dict, "device", "s", "disk");
  g_variant_dict_insert (&dict, "bus", "s", disk->bus);
  g_variant_dict_insert (&dict, "target", "s", disk->target);
  g_variant_dict_insert (&dict, "boot-order", "u", disk->boot_order);
  g_variant_dict_insert (&dict, "cache", "s", disk->cache);
  return g_variant_dict_end (&dict);
}

/* Streams @source_kind of the source machine into @dest_kind of the destination's (@target: the disk, or NULL
 * for the checkpoints' archive), hashing on the way, and waits until both far ends say they are done.  *@size
 * as vireo_move_pump's. */
static gboolean
transfer (VireoMoveJob *job, const char *dest_path, VireoMoveStream source_kind, VireoMoveStream dest_kind,
          const char *target, guint64 *size, char **pumped, GError **error)
{
  g_autoptr (GSubprocess) source_ssh = NULL, dest_ssh = NULL;
  FdSink sink = { -1, FALSE };
  struct stat st;
  int in = -1;
  gboolean ok = FALSE;

  in = vireo_move_open_stream (job, &job->source, job->machine_path, source_kind, target, &source_ssh, error);
  if (in < 0)
    goto out;
  sink.fd = vireo_move_open_stream (job, &job->dest, dest_path, dest_kind, target, &dest_ssh, error);
  if (sink.fd < 0)
    goto out;
  sink.file = fstat (sink.fd, &st) == 0 && S_ISREG (st.st_mode);
  if (!vireo_move_pump (job, in, size, fd_sink, &sink, pumped, error))
    goto out;
  if (sink.file && !vireo_sparse_finish (sink.fd, *size, error))
    goto out;
  /* The far end learns that the stream ended when our end of the socket closes for writing. */
  if (!sink.file)
    shutdown (sink.fd, SHUT_WR);
  vireo_move_close_fd (&sink.fd);
  vireo_move_close_fd (&in);
  if (dest_ssh && !vireo_move_wait_ssh (dest_ssh, job->cancellable, error))
    goto out;
  if (source_ssh && !vireo_move_wait_ssh (source_ssh, job->cancellable, error))
    goto out;
  ok = TRUE;

out:
  vireo_move_close_fd (&sink.fd);
  vireo_move_close_fd (&in);
  /* A stream given up half-way: its ssh has nothing more to do. */
  if (!ok && source_ssh)
    g_subprocess_force_exit (source_ssh);
  if (!ok && dest_ssh)
    g_subprocess_force_exit (dest_ssh);
  return ok;
}

static gboolean
copy_disk_to_vireo (VireoMoveJob *job, const char *dest_path, VireoMoveDisk *disk, GError **error)
{
  g_autoptr (GVariant) reply = NULL;
  g_autofree char *basename = g_path_get_basename (disk->path);
  g_autofree char *pumped = NULL, *sha256 = NULL;
  GVariantDict options;
  guint64 size = disk->size;
  gboolean ok = FALSE;

  vireo_move_set_stage (job, _ ("Copying %s…"), disk->target);
  g_variant_dict_init (&options, NULL);
  g_variant_dict_insert (&options, "name", "s", basename);
  g_variant_dict_insert (&options, "size", "t", disk->size);
  reply = vireo_move_call (
      job, &job->dest, dest_path, VIREO_MOVE_MACHINE_IFACE, "ReceiveDisk",
      g_variant_new ("(@a{sv}@a{sv})", receive_disk_settings (disk), g_variant_dict_end (&options)), "(s)",
      error);
  if (reply == NULL
      || !transfer (job, dest_path, VIREO_MOVE_DISK_READ, VIREO_MOVE_DISK_WRITE, disk->target, &size, &pumped,
                    error))
    goto out;
  g_clear_pointer (&reply, g_variant_unref);

  vireo_move_set_stage (job, _ ("Checking %s at the destination…"), disk->target);
  /* Without the checkpoints, their snapshots inside the image would only take room. */
  g_variant_dict_init (&options, NULL);
  g_variant_dict_insert (&options, "drop-snapshots", "b", !job->include_checkpoints);
  reply = vireo_move_call (job, &job->dest, dest_path, VIREO_MOVE_MACHINE_IFACE, "FinishReceivedDisk",
                           g_variant_new ("(s@a{sv})", disk->target, g_variant_dict_end (&options)), "(ts)",
                           error);
  if (reply == NULL)
    goto out;
  g_variant_get (reply, "(ts)", &size, &sha256);
  vireo_move_add_done (job, disk->size);
  ok = vireo_move_check_copy (disk, pumped, size, sha256, job->dest_title, error);

out:
  if (!ok)
    g_prefix_error (error, _ ("Disk %s: "), disk->target);
  return ok;
}

/* The checkpoints' archive (tree, definitions, saved states), after the disks that hold their snapshots:
 * what arrived must be what was sent. */
static gboolean
copy_checkpoints (VireoMoveJob *job, const char *dest_path, GError **error)
{
  g_autoptr (GVariant) reply = NULL;
  g_autofree char *pumped = NULL, *sha256 = NULL;
  guint64 sent = VIREO_MOVE_SIZE_UNKNOWN, size;

  vireo_move_set_stage (job, _ ("Copying the checkpoints…"));
  if (!transfer (job, dest_path, VIREO_MOVE_CHECKPOINTS_READ, VIREO_MOVE_CHECKPOINTS_WRITE, NULL, &sent,
                 &pumped, error))
    goto fail;
  reply = vireo_move_call (job, &job->dest, dest_path, VIREO_MOVE_MACHINE_IFACE, "FinishCheckpointArchive",
                           NULL, "(ts)", error);
  if (reply == NULL)
    goto fail;
  g_variant_get (reply, "(ts)", &size, &sha256);
  if (size != sent || g_strcmp0 (sha256, pumped) != 0)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED,
                   _ ("%s received %" G_GUINT64_FORMAT " bytes (SHA-256 %s) of the %" G_GUINT64_FORMAT
                      " sent (SHA-256 %s)."),
                   job->dest_title, size, sha256, sent, pumped);
      goto fail;
    }
  g_ptr_array_add (job->report, g_strdup_printf (_ ("checkpoints: %" G_GUINT64_FORMAT " bytes, SHA-256 %s"),
                                                 size, sha256));
  return TRUE;

fail:
  g_prefix_error (error, _ ("The checkpoints: "));
  return FALSE;
}

/* Each NIC on the switch of the same name at the destination, or on its Default Switch when it has none:
 * the XML names bridges, which differ between hosts. */
static GVariant *
nics_for_destination (VireoMoveJob *job)
{
  g_autoptr (GVariant) nics = g_variant_lookup_value (job->settings, "nics", G_VARIANT_TYPE ("aa{sv}"));
  GVariantBuilder builder;
  GVariantIter iter;
  GVariant *nic;

  if (nics == NULL)
    return NULL;
  g_variant_builder_init (&builder, G_VARIANT_TYPE ("aa{sv}"));
  g_variant_iter_init (&iter, nics);
  while ((nic = g_variant_iter_next_value (&iter)))
    {
      GVariantDict dict;
      const char *name = vireo_move_lookup_string (nic, "switch", VIREO_MOVE_DEFAULT_SWITCH);

      g_variant_dict_init (&dict, nic);
      if (!g_strv_contains ((const char *const *) job->dest_switches, name))
        {
          g_variant_dict_insert (&dict, "switch", "s", VIREO_MOVE_DEFAULT_SWITCH);
          g_variant_dict_remove (&dict, "queues");
        }
      g_variant_builder_add_value (&builder, g_variant_dict_end (&dict));
      g_variant_unref (nic);
    }
  return g_variant_builder_end (&builder);
}

char *
vireo_move_vireo_run (VireoMoveJob *job, const char *xml, GError **error)
{
  g_autofree char *stripped = definition_without_disks (xml, error);
  g_autoptr (GVariant) reply = NULL;
  g_autofree char *dest_path = NULL;
  GVariantDict options;
  GVariant *nics;

  if (stripped == NULL)
    return NULL;
  vireo_move_set_stage (job, _ ("Defining “%s” on %s…"), job->name, job->dest_title);
  g_variant_dict_init (&options, NULL);
  g_variant_dict_insert (&options, "keep-uuid", "b", TRUE);
  reply = vireo_move_call (
      job, &job->dest, VIREO_MOVE_ROOT_PATH, VIREO_MOVE_MANAGER_IFACE, "ImportLibvirtXml",
      g_variant_new ("(s@a{sv})", stripped, g_variant_dict_end (&options)), "(o)", error);
  if (reply == NULL)
    return NULL;
  g_variant_get (reply, "(o)", &dest_path);
  g_clear_pointer (&reply, g_variant_unref);

  nics = nics_for_destination (job);
  if (nics)
    {
      GVariantDict update;

      g_variant_dict_init (&update, NULL);
      g_variant_dict_insert_value (&update, "nics", nics);
      reply = vireo_move_call (job, &job->dest, dest_path, VIREO_MOVE_MACHINE_IFACE, "Update",
                               g_variant_new ("(@a{sv})", g_variant_dict_end (&update)), NULL, error);
      if (reply == NULL)
        goto undo;
      g_clear_pointer (&reply, g_variant_unref);
    }
  for (guint i = 0; i < job->disks->len; i++)
    if (!copy_disk_to_vireo (job, dest_path, g_ptr_array_index (job->disks, i), error))
      goto undo;
  if (job->include_checkpoints && job->checkpoints > 0 && !copy_checkpoints (job, dest_path, error))
    goto undo;
  return g_steal_pointer (&dest_path);

undo:
  {
    g_autoptr (GError) ignored = NULL;
    g_autoptr (GVariant) deleted = g_dbus_connection_call_sync (
        job->dest.bus, VIREO_MOVE_BUS_NAME, dest_path, VIREO_MOVE_MACHINE_IFACE, "Delete",
        g_variant_new ("(b)", TRUE), NULL, G_DBUS_CALL_FLAGS_NONE, -1, NULL, &ignored);
    if (deleted == NULL)
      g_warning ("Could not delete the unfinished copy of “%s” on %s: %s", job->name, job->dest_title,
                 ignored->message);
  }
  return NULL;
}

void
vireo_move_vireo_notes (VireoMoveJob *job, GPtrArray *notes)
{
  g_autoptr (GVariant) nics = g_variant_lookup_value (job->settings, "nics", G_VARIANT_TYPE ("aa{sv}"));
  guint n = nics ? (guint) g_variant_n_children (nics) : 0;

  for (guint i = 0; i < n; i++)
    {
      g_autoptr (GVariant) nic = g_variant_get_child_value (nics, i);
      const char *name = vireo_move_lookup_string (nic, "switch", VIREO_MOVE_DEFAULT_SWITCH);

      if (!g_strv_contains ((const char *const *) job->dest_switches, name))
        g_ptr_array_add (notes,
                         g_strdup_printf (_ ("Network adapter %u moves to the Default Switch: %s has no "
                                             "switch “%s”."),
                                          i + 1, job->dest_title, name));
    }
}
