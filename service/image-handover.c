/* image-handover.c — an image written by qemu-img as another user, adopted by vireod (image-handover.h;
 * the security rule is told at the top of machine-disk-import.c). */
#include "image-handover.h"
#include "image-info.h"
#include "vireo-error.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h> /* renameat2 */
#include <sys/stat.h>
#include <unistd.h>

char *
vireo_handover_folder_new (const char *folder, const char *prefix, const VireoIdentity *identity, int *fd,
                           GError **error)
{
  g_autofree char *template = g_strdup_printf ("%s/%sXXXXXX", folder, prefix);

  if (g_mkdtemp_full (template, 0700) == NULL)
    {
      int errsv = errno;
      g_set_error (error, VIREO_ERROR, VIREO_ERROR_FAILED, "cannot make a temporary folder in %s: %s", folder,
                   g_strerror (errsv));
      return NULL;
    }
  *fd = open (template, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (*fd < 0 || (identity->change && fchown (*fd, identity->uid, identity->gid) < 0))
    {
      int errsv = errno;
      if (*fd >= 0)
        close (*fd);
      *fd = -1;
      vireo_handover_folder_remove (template);
      g_set_error (error, VIREO_ERROR, VIREO_ERROR_FAILED, "cannot prepare %s: %s", template,
                   g_strerror (errsv));
      return NULL;
    }
  return g_steal_pointer (&template);
}

void
vireo_handover_folder_remove (const char *temp_folder)
{
  int fd = open (temp_folder, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  g_autoptr (GDir) dir = NULL;
  const char *entry;

  if (fd >= 0)
    {
      dir = g_dir_open (temp_folder, 0, NULL);
      while (dir != NULL && (entry = g_dir_read_name (dir)) != NULL)
        if (unlinkat (fd, entry, 0) < 0 && errno == EISDIR)
          unlinkat (fd, entry, AT_REMOVEDIR);
      close (fd);
    }
  if (rmdir (temp_folder) < 0 && errno != ENOENT)
    g_warning ("Cannot remove %s: %s", temp_folder, g_strerror (errno));
}

void
vireo_handover_remove_leftovers (const char *folder, const char *prefix, const char *what)
{
  g_autoptr (GDir) dir = g_dir_open (folder, 0, NULL);
  const char *entry;

  while (dir != NULL && (entry = g_dir_read_name (dir)) != NULL)
    if (g_str_has_prefix (entry, prefix))
      {
        g_autofree char *path = g_build_filename (folder, entry, NULL);
        g_message ("removing %s, left by an interrupted %s", path, what);
        vireo_handover_folder_remove (path);
      }
}

gboolean
vireo_qcow2_has_data_file (int fd)
{
  guint32 version;
  guint64 incompatible;

  if (pread (fd, &version, sizeof version, 4) != (ssize_t) sizeof version)
    return TRUE;
  if (GUINT32_FROM_BE (version) < 3)
    return FALSE;
  if (pread (fd, &incompatible, sizeof incompatible, 72) != (ssize_t) sizeof incompatible)
    return TRUE;
  return (GUINT64_FROM_BE (incompatible) & (1u << 2)) != 0;
}

const char *
vireo_handover_adopt (const char *temp_folder, const char *name, const char *folder,
                      const VireoIdentity *identity, gboolean qcow2)
{
  int temp_fd = open (temp_folder, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  int folder_fd = open (folder, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  int fd = temp_fd >= 0 ? openat (temp_fd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC) : -1;
  uid_t expected = identity->change ? identity->uid : geteuid ();
  struct stat st;
  HvImageInfo info = { 0 };
  const char *problem = NULL;

  if (fd < 0 || folder_fd < 0)
    problem = "the copy is missing";
  else if (fstat (fd, &st) < 0 || !S_ISREG (st.st_mode) || st.st_nlink != 1 || st.st_uid != expected)
    problem = "the copy is not the file qemu-img made";
  else if (!hv_image_info_read (fd, &info, NULL) || info.qcow2 != qcow2)
    problem = "the copy is not of the format asked for";
  else if (info.backing != NULL)
    problem = "the copy names a backing file";
  else if (info.qcow2 && vireo_qcow2_has_data_file (fd))
    problem = "the copy names an external data file";
  else if (fchown (fd, geteuid (), getegid ()) < 0 || fchmod (fd, 0600) < 0 || fsync (fd) < 0)
    problem = g_strerror (errno);
  else if (renameat2 (temp_fd, name, folder_fd, name, RENAME_NOREPLACE) < 0)
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
  return problem;
}
