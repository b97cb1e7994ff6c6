/* vireo-move-libvirt.c — "Move to…" a libvirt host: each disk becomes a volume in the host's storage pool
 * ("default" when it has one), uploaded through a libvirt stream while hashed, then downloaded again and
 * hashed to prove the copy; the definition is the source's own libvirt XML with its disks pointing at those
 * volumes and the parts libvirt has no counterpart for taken out (switches, NAT port forwards, CD-ROM
 * media).  Raw libvirt calls on the move's thread: libvirt-gobject's streams cannot report a failed finish. */
#include "vireo-move-private.h"

#include <glib/gi18n.h>
#include <string.h>
#include <unistd.h>

static void
set_libvirt_error (GError **error, const char *what)
{
  const char *message = virGetLastErrorMessage ();

  g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "%s: %s", what, message ? message : _ ("unknown error"));
}

/* The active pool named "default", else the first active one. */
static virStoragePoolPtr
find_pool (VireoMoveJob *job, GError **error)
{
  virStoragePoolPtr *pools = NULL;
  virStoragePoolPtr chosen = NULL;
  int n = virConnectListAllStoragePools (job->libvirt, &pools, VIR_CONNECT_LIST_STORAGE_POOLS_ACTIVE);

  if (n < 0)
    {
      set_libvirt_error (error, _ ("Could not list the storage pools"));
      return NULL;
    }
  for (int i = 0; i < n; i++)
    if (chosen == NULL || g_strcmp0 (virStoragePoolGetName (pools[i]), "default") == 0)
      chosen = pools[i];
  for (int i = 0; i < n; i++)
    if (pools[i] != chosen)
      virStoragePoolFree (pools[i]);
  free (pools);
  if (chosen == NULL)
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND,
                 _ ("%s has no active storage pool for the disks: make one (for example with virt-manager) "
                    "and try again."),
                 job->dest_title);
  return chosen;
}

static gboolean
check_free (VireoMoveJob *job, GError **error)
{
  virDomainPtr domain = virDomainLookupByUUIDString (job->libvirt, job->uuid);

  if (domain == NULL)
    domain = virDomainLookupByName (job->libvirt, job->name);
  if (domain != NULL)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_EXISTS,
                   _ ("%s already has a domain “%s” with this machine’s name or UUID."), job->dest_title,
                   virDomainGetName (domain));
      virDomainFree (domain);
      return FALSE;
    }
  return TRUE;
}

/* Whether the host's QEMU can use KVM; without it, domains of type "kvm" are refused there. */
static gboolean
has_kvm (VireoMoveJob *job)
{
  char *capabilities = virConnectGetDomainCapabilities (job->libvirt, NULL, NULL, NULL, "kvm", 0);

  free (capabilities);
  return capabilities != NULL;
}

char **
vireo_move_libvirt_notes (VireoMoveJob *job, GError **error)
{
  g_autoptr (GVariant) nics = g_variant_lookup_value (job->settings, "nics", G_VARIANT_TYPE ("aa{sv}"));
  GStrvBuilder *builder;
  virStoragePoolPtr pool;
  char **notes;
  guint n = nics ? (guint) g_variant_n_children (nics) : 0;

  if (!check_free (job, error))
    return NULL;
  pool = find_pool (job, error);
  if (pool == NULL)
    return NULL;
  builder = g_strv_builder_new ();
  for (guint i = 0; i < n; i++)
    {
      g_autoptr (GVariant) nic = g_variant_get_child_value (nics, i);
      g_autoptr (GVariant) forwards = g_variant_lookup_value (nic, "forwards", G_VARIANT_TYPE ("a(ssqq)"));
      const char *name = vireo_move_lookup_string (nic, "switch", VIREO_MOVE_DEFAULT_SWITCH);
      g_autofree char *note = NULL;

      if (!g_str_equal (name, VIREO_MOVE_DEFAULT_SWITCH))
        note = job->libvirt_system
                   ? g_strdup_printf (_ ("Network adapter %u joins libvirt’s network “default” "
                                         "instead of the switch “%s”."),
                                      i + 1, name)
                   : g_strdup_printf (_ ("Network adapter %u uses libvirt’s user-mode network "
                                         "instead of the switch “%s”."),
                                      i + 1, name);
      else if (forwards && g_variant_n_children (forwards) > 0)
        note = g_strdup_printf (_ ("The port forwards of network adapter %u are dropped: libvirt forwards "
                                   "ports only through passt."),
                                i + 1);
      if (note)
        g_strv_builder_add (builder, note);
    }
  if (!has_kvm (job))
    {
      g_autofree char *note = g_strdup_printf (
          _ ("%s cannot use KVM: the machine runs under QEMU’s emulation "
             "there, which is much slower."),
          job->dest_title);
      g_strv_builder_add (builder, note);
    }
  {
    g_autofree char *note = g_strdup_printf (_ ("The disks become volumes in the storage pool “%s”."),
                                             virStoragePoolGetName (pool));
    g_strv_builder_add (builder, note);
  }
  g_strv_builder_add (builder, _ ("Vireo’s own settings (automatic start and stop, checkpoints) do not "
                                  "apply under libvirt."));
  virStoragePoolFree (pool);
  notes = g_strv_builder_end (builder);
  g_strv_builder_unref (builder);
  return notes;
}

/* ---- the definition ---- */

/* Each NIC as libvirt's user-mode network (session) or its "default" network (system), keeping its MAC,
 * model and link state: Vireo's switches and port forwards do not exist there. */
static GVirConfigDomainDevice *
libvirt_interface (VireoMoveJob *job, GVirConfigDomainInterface *old)
{
  GVirConfigDomainInterface *nic;

  if (job->libvirt_system)
    {
      GVirConfigDomainInterfaceNetwork *network = gvir_config_domain_interface_network_new ();
      gvir_config_domain_interface_network_set_source (network, "default");
      nic = GVIR_CONFIG_DOMAIN_INTERFACE (network);
    }
  else
    nic = GVIR_CONFIG_DOMAIN_INTERFACE (gvir_config_domain_interface_user_new ());
  if (gvir_config_domain_interface_get_mac (old))
    gvir_config_domain_interface_set_mac (nic, gvir_config_domain_interface_get_mac (old));
  gvir_config_domain_interface_set_model (nic, gvir_config_domain_interface_get_model (old)
                                                   ? gvir_config_domain_interface_get_model (old)
                                                   : "virtio");
  if (gvir_config_domain_interface_get_link_state (old) != GVIR_CONFIG_DOMAIN_INTERFACE_LINK_STATE_DEFAULT)
    gvir_config_domain_interface_set_link_state (nic, gvir_config_domain_interface_get_link_state (old));
  return GVIR_CONFIG_DOMAIN_DEVICE (nic);
}

/* The domain with its NICs and CD-ROM drives made for libvirt; @disks gets its disks by target. */
static GVirConfigDomain *
libvirt_domain (VireoMoveJob *job, const char *xml, GHashTable *disks, GError **error)
{
  GVirConfigDomain *domain = gvir_config_domain_new_from_xml (xml, error);
  GList *devices, *kept = NULL;

  if (domain == NULL)
    return NULL;
  if (!has_kvm (job))
    gvir_config_domain_set_virt_type (domain, GVIR_CONFIG_DOMAIN_VIRT_QEMU);
  devices = gvir_config_domain_get_devices (domain);
  for (GList *l = devices; l; l = l->next)
    {
      GVirConfigDomainDevice *device = g_object_ref (l->data);

      if (GVIR_CONFIG_IS_DOMAIN_DISK (device))
        {
          GVirConfigDomainDisk *disk = GVIR_CONFIG_DOMAIN_DISK (device);

          if (gvir_config_domain_disk_get_guest_device_type (disk)
              == GVIR_CONFIG_DOMAIN_DISK_GUEST_DEVICE_CDROM)
            {
              g_object_unref (device);
              device = vireo_move_empty_drive (disk);
            }
          else
            g_hash_table_insert (disks, g_strdup (gvir_config_domain_disk_get_target_dev (disk)),
                                 g_object_ref (disk));
        }
      else if (GVIR_CONFIG_IS_DOMAIN_INTERFACE (device))
        {
          GVirConfigDomainDevice *nic = libvirt_interface (job, GVIR_CONFIG_DOMAIN_INTERFACE (device));
          g_object_unref (device);
          device = nic;
        }
      kept = g_list_append (kept, device);
    }
  gvir_config_domain_set_devices (domain, kept);
  g_list_free_full (kept, g_object_unref);
  g_list_free_full (devices, g_object_unref);
  return domain;
}

/* ---- volumes ---- */

static gboolean
stream_sink (gpointer data, const guint8 *buffer, gsize length, guint64 offset, GError **error)
{
  virStreamPtr stream = data;

  while (length > 0)
    {
      int sent = virStreamSend (stream, (const char *) buffer, MIN (length, (gsize) G_MAXINT));
      if (sent < 0)
        {
          set_libvirt_error (error, _ ("Uploading failed"));
          return FALSE;
        }
      buffer += sent;
      length -= (gsize) sent;
    }
  return TRUE;
}

static gboolean
upload (VireoMoveJob *job, virStorageVolPtr volume, VireoMoveDisk *disk, char **pumped, GError **error)
{
  g_autoptr (GSubprocess) ssh = NULL;
  virStreamPtr stream = virStreamNew (job->libvirt, 0);
  guint64 size = disk->size;
  int in = -1;
  gboolean ok = FALSE;

  if (stream == NULL || virStorageVolUpload (volume, stream, 0, disk->size, 0) < 0)
    {
      set_libvirt_error (error, _ ("Could not start the upload"));
      goto out;
    }
  in = vireo_move_open_source_disk (job, disk, &ssh, error);
  if (in >= 0 && vireo_move_pump (job, in, &size, stream_sink, stream, pumped, error))
    {
      if (virStreamFinish (stream) < 0)
        set_libvirt_error (error, _ ("Uploading failed"));
      else
        ok = TRUE;
    }
  else
    virStreamAbort (stream);
  if (in >= 0)
    close (in);
  if (ok && ssh && !vireo_move_wait_ssh (ssh, job->cancellable, error))
    ok = FALSE;
  if (!ok && ssh)
    g_subprocess_force_exit (ssh);
out:
  if (stream)
    virStreamFree (stream);
  return ok;
}

/* The volume as libvirt reads it back: its length and SHA-256. */
static gboolean
download_checksum (VireoMoveJob *job, virStorageVolPtr volume, guint64 *size, char **sha256, GError **error)
{
  g_autoptr (GChecksum) hash = g_checksum_new (G_CHECKSUM_SHA256);
  g_autofree char *buffer = g_malloc (1024 * 1024);
  virStreamPtr stream = virStreamNew (job->libvirt, 0);
  gboolean ok = FALSE;

  *size = 0;
  if (stream == NULL || virStorageVolDownload (volume, stream, 0, 0, 0) < 0)
    {
      set_libvirt_error (error, _ ("Could not read the volume back"));
      goto out;
    }
  for (;;)
    {
      int got = virStreamRecv (stream, buffer, 1024 * 1024);

      if (got < 0)
        {
          set_libvirt_error (error, _ ("Reading the volume back failed"));
          virStreamAbort (stream);
          goto out;
        }
      if (got == 0)
        break;
      if (g_cancellable_set_error_if_cancelled (job->cancellable, error))
        {
          virStreamAbort (stream);
          goto out;
        }
      g_checksum_update (hash, (const guchar *) buffer, (gsize) got);
      *size += (guint64) got;
      vireo_move_add_done (job, (guint64) got);
    }
  if (virStreamFinish (stream) < 0)
    set_libvirt_error (error, _ ("Reading the volume back failed"));
  else
    {
      *sha256 = g_strdup (g_checksum_get_string (hash));
      ok = TRUE;
    }
out:
  if (stream)
    virStreamFree (stream);
  return ok;
}

static virStorageVolPtr
copy_disk (VireoMoveJob *job, virStoragePoolPtr pool, const char *domain_name, VireoMoveDisk *disk,
           GError **error)
{
  g_autofree char *name = g_strdup_printf ("%s-%s.%s", domain_name, disk->target,
                                           g_str_equal (disk->format, "qcow2") ? "qcow2" : "img");
  /* A raw volume of the image file's length, which the upload fills byte for byte: the pool sees the
   * format of what arrived when it next looks. */
  g_autofree char *xml = g_markup_printf_escaped ("<volume><name>%s</name>"
                                                  "<capacity unit='bytes'>%" G_GUINT64_FORMAT "</capacity>"
                                                  "<allocation unit='bytes'>0</allocation>"
                                                  "<target><format type='raw'/></target></volume>",
                                                  name, disk->size);
  g_autofree char *pumped = NULL, *sha256 = NULL;
  virStorageVolPtr volume;
  guint64 size;

  vireo_move_set_stage (job, _ ("Copying %s…"), disk->target);
  volume = virStorageVolCreateXML (pool, xml, 0);
  if (volume == NULL)
    {
      set_libvirt_error (error, _ ("Could not make the volume"));
      return NULL;
    }
  if (!upload (job, volume, disk, &pumped, error))
    goto fail;
  vireo_move_set_stage (job, _ ("Checking %s at the destination…"), disk->target);
  if (!download_checksum (job, volume, &size, &sha256, error))
    goto fail;
  if (!vireo_move_check_copy (disk, pumped, size, sha256, job->dest_title, error))
    goto fail;
  disk->copied_to = virStorageVolGetPath (volume);
  return volume;

fail:
  virStorageVolDelete (volume, 0);
  virStorageVolFree (volume);
  return NULL;
}

char *
vireo_move_libvirt_run (VireoMoveJob *job, const char *xml, GError **error)
{
  g_autoptr (GHashTable) disks = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_object_unref);
  g_autoptr (GVirConfigDomain) domain = NULL;
  g_autoptr (GPtrArray) volumes = g_ptr_array_new ();
  g_autofree char *definition = NULL;
  virStoragePoolPtr pool = NULL;
  virDomainPtr defined = NULL;
  char uuid[VIR_UUID_STRING_BUFLEN];
  char *made = NULL;

  if (!check_free (job, error))
    return NULL;
  domain = libvirt_domain (job, xml, disks, error);
  if (domain == NULL || (pool = find_pool (job, error)) == NULL)
    return NULL;
  for (guint i = 0; i < job->disks->len; i++)
    {
      VireoMoveDisk *disk = g_ptr_array_index (job->disks, i);
      GVirConfigDomainDisk *element = g_hash_table_lookup (disks, disk->target);
      virStorageVolPtr volume = copy_disk (job, pool, gvir_config_domain_get_name (domain), disk, error);

      if (volume == NULL)
        {
          g_prefix_error (error, _ ("Disk %s: "), disk->target);
          goto out;
        }
      g_ptr_array_add (volumes, volume);
      if (element)
        gvir_config_domain_disk_set_source (element, disk->copied_to);
    }

  vireo_move_set_stage (job, _ ("Defining “%s” on %s…"), job->name, job->dest_title);
  definition = gvir_config_object_to_xml (GVIR_CONFIG_OBJECT (domain));
  defined = virDomainDefineXML (job->libvirt, definition);
  if (defined == NULL || virDomainGetUUIDString (defined, uuid) < 0)
    {
      set_libvirt_error (error, _ ("libvirt did not take the definition"));
      goto out;
    }
  made = g_strdup (uuid);

out:
  if (defined)
    virDomainFree (defined);
  for (guint i = 0; i < volumes->len; i++)
    {
      if (made == NULL)
        virStorageVolDelete (g_ptr_array_index (volumes, i), 0);
      virStorageVolFree (g_ptr_array_index (volumes, i));
    }
  if (made)
    virStoragePoolRefresh (pool, 0);
  virStoragePoolFree (pool);
  return made;
}
