/* vireo-media.h — what an installation ISO holds, as libosinfo recognises it: the system's name, its logo,
 * and the memory and disk it asks for; looked up off the main thread. */
#pragma once

#include <gtk/gtk.h>

G_BEGIN_DECLS

/* Used when the medium is not recognised, or the system recommends nothing: GNOME Boxes' defaults. */
#define VIREO_MEDIA_DEFAULT_MEMORY_MIB 2048
#define VIREO_MEDIA_DEFAULT_DISK_GIB   30

typedef struct
{
  gboolean identified; /* osinfo-db knows the system */
  char *os_name;       /* "Debian 11", or NULL */
  char *os_id;         /* "http://debian.org/debian/11", or NULL */
  char *short_id;      /* "debian11": a name for the machine, or NULL */
  char *distro;        /* "debian": for the logo, or NULL */
  char *volume_id;     /* the ISO's label, or NULL */
  guint64 memory_mib;  /* recommended, or the default */
  guint64 disk_gib;    /* recommended, or the default */
} VireoMediaInfo;

void vireo_media_info_free (VireoMediaInfo *info);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (VireoMediaInfo, vireo_media_info_free)

/* Reads @path's ISO 9660 header and asks osinfo-db what it is.  Fails only when the file is not an ISO image
 * (or cannot be read); an ISO osinfo-db does not know gives identified == FALSE and the defaults. */
void vireo_media_identify_async (const char *path, GCancellable *cancellable, GAsyncReadyCallback callback,
                                 gpointer user_data);
VireoMediaInfo *vireo_media_identify_finish (GAsyncResult *result, GError **error);

/* The name of an icon in the theme showing @info's system (its distribution's logo), or a generic one. */
char *vireo_media_icon_name (const VireoMediaInfo *info, GtkIconTheme *theme);

G_END_DECLS
