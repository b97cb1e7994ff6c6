/* vireo-media.c — recognising installation media with libosinfo, as GNOME Boxes does: the default osinfo-db
 * is loaded once, in a worker thread (it is a few thousand XML files), and every ISO is identified there. */
#include "vireo-media.h"

#include <glib/gi18n.h>
#include <osinfo/osinfo.h>

void
vireo_media_info_free (VireoMediaInfo *info)
{
  if (info == NULL)
    return;
  g_free (info->os_name);
  g_free (info->os_id);
  g_free (info->short_id);
  g_free (info->distro);
  g_free (info->volume_id);
  g_free (info);
}

/* The loaded database, shared by every lookup; NULL when it could not be loaded (no osinfo-db installed). */
static gpointer
load_database (gpointer data)
{
  g_autoptr (OsinfoLoader) loader = osinfo_loader_new ();
  g_autoptr (GError) error = NULL;

  osinfo_loader_process_default_path (loader, &error);
  if (error != NULL)
    g_warning ("osinfo-db could not be loaded: %s", error->message);
  return g_object_ref (osinfo_loader_get_db (loader));
}

static OsinfoDb *
database (void)
{
  static GOnce once = G_ONCE_INIT;

  return g_once (&once, load_database, NULL);
}

/* The resources for @arch in @list (or those for every architecture), NULL when it has none. */
static OsinfoResources *
resources_for (OsinfoResourcesList *list, const char *arch)
{
  OsinfoResources *any = NULL;

  for (int i = 0; list != NULL && i < osinfo_list_get_length (OSINFO_LIST (list)); i++)
    {
      OsinfoResources *resources = OSINFO_RESOURCES (osinfo_list_get_nth (OSINFO_LIST (list), i));
      const char *resources_arch = osinfo_resources_get_architecture (resources);

      if (g_strcmp0 (resources_arch, arch) == 0)
        return resources;
      if (g_strcmp0 (resources_arch, "all") == 0)
        any = resources;
    }
  return any;
}

static void
apply_resources (VireoMediaInfo *info, OsinfoOs *os, const char *arch)
{
  g_autoptr (OsinfoResourcesList) recommended = osinfo_os_get_recommended_resources (os);
  g_autoptr (OsinfoResourcesList) minimum = osinfo_os_get_minimum_resources (os);
  OsinfoResources *best = resources_for (recommended, arch);
  OsinfoResources *least = resources_for (minimum, arch);
  gint64 ram = best ? osinfo_resources_get_ram (best) : -1;
  gint64 storage = best ? osinfo_resources_get_storage (best) : -1;

  /* Boxes: the recommendation, else the minimum (twice the minimum for the disk, which fills up). */
  if (ram <= 0 && least != NULL)
    ram = osinfo_resources_get_ram (least);
  if (storage <= 0 && least != NULL && osinfo_resources_get_storage (least) > 0)
    storage = osinfo_resources_get_storage (least) * 2;
  if (ram > 0)
    info->memory_mib = (guint64) ram / (1024 * 1024);
  if (storage > 0)
    info->disk_gib = MAX (1, ((guint64) storage + (1 << 30) - 1) >> 30);
}

static void
identify_in_thread (GTask *task, gpointer source, gpointer data, GCancellable *cancellable)
{
  const char *path = data;
  g_autoptr (VireoMediaInfo) info = g_new0 (VireoMediaInfo, 1);
  g_autoptr (GError) error = NULL;
  g_autoptr (OsinfoMedia) media = NULL;
  OsinfoDb *db = database ();

  info->memory_mib = VIREO_MEDIA_DEFAULT_MEMORY_MIB;
  info->disk_gib = VIREO_MEDIA_DEFAULT_DISK_GIB;

  /* Not only bootable media: a medium whose El Torito record osinfo cannot read is still worth naming. */
  media = osinfo_media_create_from_location_with_flags (path, cancellable, 0, &error);
  if (media == NULL)
    {
      g_autofree char *display = g_filename_display_basename (path);

      if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        g_task_return_error (task, g_steal_pointer (&error));
      else
        g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                                 /* Translators: %s is a file name. */
                                 _ ("“%s” is not an ISO image (an installation CD or DVD)."), display);
      return;
    }
  info->volume_id = g_strdup (osinfo_media_get_volume_id (media));
  if (db != NULL && osinfo_db_identify_media (db, media))
    {
      OsinfoOs *os = osinfo_media_get_os (media);

      if (os != NULL)
        {
          info->identified = TRUE;
          info->os_name = g_strdup (osinfo_product_get_name (OSINFO_PRODUCT (os)));
          info->os_id = g_strdup (osinfo_entity_get_id (OSINFO_ENTITY (os)));
          info->short_id = g_strdup (osinfo_product_get_short_id (OSINFO_PRODUCT (os)));
          info->distro = g_strdup (osinfo_os_get_distro (os));
          apply_resources (info, os, osinfo_media_get_architecture (media));
          g_object_unref (os);
        }
    }
  g_task_return_pointer (task, g_steal_pointer (&info), (GDestroyNotify) vireo_media_info_free);
}

void
vireo_media_identify_async (const char *path, GCancellable *cancellable, GAsyncReadyCallback callback,
                            gpointer user_data)
{
  g_autoptr (GTask) task = g_task_new (NULL, cancellable, callback, user_data);

  g_task_set_source_tag (task, vireo_media_identify_async);
  g_task_set_task_data (task, g_strdup (path), g_free);
  g_task_run_in_thread (task, identify_in_thread);
}

VireoMediaInfo *
vireo_media_identify_finish (GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, NULL), NULL);

  return g_task_propagate_pointer (G_TASK (result), error);
}

char *
vireo_media_icon_name (const VireoMediaInfo *info, GtkIconTheme *theme)
{
  if (info != NULL && info->distro != NULL && theme != NULL)
    {
      /* The names distributions' logo packages and icon themes use. */
      char *names[] = {
        g_strconcat ("distributor-logo-", info->distro, NULL),
        g_strconcat (info->distro, "-logo", NULL),
        g_strdup (info->distro),
      };
      char *found = NULL;

      for (guint i = 0; i < G_N_ELEMENTS (names); i++)
        {
          if (found == NULL && gtk_icon_theme_has_icon (theme, names[i]))
            found = g_steal_pointer (&names[i]);
          g_free (names[i]);
        }
      if (found != NULL)
        return found;
    }
  return g_strdup ("media-optical-symbolic");
}
