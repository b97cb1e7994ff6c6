/* machine-config-files.c — the files a machine's settings name: the storage root, images in the machine's own
 * folder, opening a setting's file with the caller's rights, and an image's format from its first bytes. */
#include "machine-config-private.h"
#include "vireo-text.h"
#include "vireo-error.h"
#include "open-as.h"
#include "hv-limits.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- files named by settings ---- */

static char *storage_root;

void
vireo_machine_config_set_storage_root (const char *root)
{
  g_free (storage_root);
  storage_root = root != NULL ? realpath (root, NULL) : NULL;
}

gboolean
vireo_machine_config_in_own_folder (const VireoMachineConfig *config, const char *path)
{
  g_autofree char *canonical = NULL;
  g_autofree char *parent = NULL;
  g_autofree char *parent_real = NULL;
  g_autofree char *folder = NULL;
  g_autofree char *base = NULL;

  if (storage_root == NULL || path == NULL || !g_path_is_absolute (path)
      || !vireo_machine_config_is_canonical_uuid (config->uuid))
    return FALSE;
  canonical = g_canonicalize_filename (path, NULL);
  parent = g_path_get_dirname (canonical);
  base = g_path_get_basename (canonical);
  parent_real = realpath (parent, NULL);
  folder = g_build_filename (storage_root, config->uuid, NULL);
  /* Never the definition (nor its temporary copies), the saved state, or an import in progress:
   * images only. */
  return parent_real != NULL && strcmp (parent_real, folder) == 0 && *base != '.' && *base != '/'
         && !g_str_has_prefix (base, "machine.xml") && strcmp (base, "state") != 0;
}

int
vireo_machine_config_open_image (const VireoMachineConfig *config, const char *path, int flags)
{
  g_autofree char *folder = NULL;
  g_autofree char *base = NULL;
  int dir_fd, fd, saved;

  if (!vireo_machine_config_in_own_folder (config, path))
    return vireo_open_as (config->files_uid, path, flags);
  folder = g_build_filename (storage_root, config->uuid, NULL);
  base = g_path_get_basename (path);
  dir_fd = open (folder, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (dir_fd < 0)
    return -1;
  fd = openat (dir_fd, base, flags | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
  saved = errno;
  close (dir_fd);
  errno = saved;
  return fd;
}

/* Opens a file a setting names, with the rights of user @uid (open-as.h), and checks that it can serve,
 * with the error a user can act on.  Returns the descriptor, or -1. */
int
vireo_config_open_setting_file (const char *key, const char *path, gboolean writable,
                                const VireoMachineConfig *config, gboolean image, GError **error)
{
  struct stat st;
  int fd;

  if (!vireo_config_check_path_text (key, path, error))
    return -1;
  /* Without blocking (vireo_open_as): a FIFO put where an image was expected must not hang the service. */
  fd = image ? vireo_machine_config_open_image (config, path, O_RDONLY)
             : vireo_open_as (config->files_uid, path, O_RDONLY);
  if (fd < 0)
    {
      int saved_errno = errno;

      if (saved_errno == ENOENT || saved_errno == ENOTDIR)
        g_set_error (error, VIREO_ERROR, VIREO_ERROR_NOT_FOUND, "Setting “%s”: “%s” does not exist.", key,
                     path);
      else if (saved_errno == EACCES || saved_errno == EPERM)
        g_set_error (error, VIREO_ERROR, VIREO_ERROR_PERMISSION_DENIED,
                     "Setting “%s”: “%s” cannot be read (permission denied).", key, path);
      else
        g_set_error (error, VIREO_ERROR, VIREO_ERROR_FAILED, "Setting “%s”: cannot open “%s”: %s.", key, path,
                     g_strerror (saved_errno));
      return -1;
    }
  if (fstat (fd, &st) < 0 || !S_ISREG (st.st_mode))
    {
      g_set_error (error, VIREO_ERROR, VIREO_ERROR_INVALID_ARGUMENT,
                   "Setting “%s”: “%s” is not a regular file.", key, path);
      close (fd);
      return -1;
    }
  if (writable)
    {
      int write_fd = image ? vireo_machine_config_open_image (config, path, O_WRONLY)
                           : vireo_open_as (config->files_uid, path, O_WRONLY);
      int saved_errno = errno;

      if (write_fd >= 0)
        close (write_fd);
      else if (saved_errno == EACCES || saved_errno == EPERM || saved_errno == EROFS)
        {
          g_set_error (error, VIREO_ERROR, VIREO_ERROR_PERMISSION_DENIED,
                       "Setting “%s”: “%s” cannot be written; make it writable or mark the disk read-only.",
                       key, path);
          close (fd);
          return -1;
        }
    }
  return fd;
}

gboolean
vireo_config_check_setting_file (const char *key, const char *path, const VireoMachineConfig *config,
                                 GError **error)
{
  int fd = vireo_config_open_setting_file (key, path, FALSE, config, FALSE, error);

  if (fd < 0)
    return FALSE;
  close (fd);
  return TRUE;
}

static gboolean
check_files (const VireoMachineConfig *config, gboolean trust_own_folder, GError **error)
{
  if (*config->kernel != '\0' && !vireo_config_check_setting_file ("kernel", config->kernel, config, error))
    return FALSE;
  if (*config->initrd != '\0' && !vireo_config_check_setting_file ("initrd", config->initrd, config, error))
    return FALSE;
  for (guint i = 0; config->disks && i < config->disks->len; i++)
    {
      const VireoDiskConfig *disk = g_ptr_array_index (config->disks, i);
      int fd;

      if (*disk->path == '\0')
        continue;
      fd = vireo_config_open_setting_file ("disks", disk->path, !disk->readonly, config, trust_own_folder,
                                           error);
      if (fd < 0)
        return FALSE;
      close (fd);
    }
  return TRUE;
}

gboolean
vireo_machine_config_check_files (const VireoMachineConfig *config, GError **error)
{
  return check_files (config, TRUE, error);
}

gboolean
vireo_machine_config_check_imported_files (const VireoMachineConfig *config, GError **error)
{
  return check_files (config, FALSE, error);
}

/* Whether the definition already names @path as a disk: only then may an image in the machine's own
 * folder be opened with vireod's rights for a caller.  A folder may hold images of an earlier machine
 * of the same UUID (deleted, its disks kept) that the caller must not reach. */
gboolean
vireo_config_definition_names (const VireoMachineConfig *config, const char *path)
{
  g_autofree char *canonical = g_canonicalize_filename (path, NULL);

  for (guint i = 0; config->disks && i < config->disks->len; i++)
    {
      const VireoDiskConfig *disk = g_ptr_array_index (config->disks, i);
      g_autofree char *other = g_canonicalize_filename (disk->path, NULL);
      if (*disk->path != '\0' && strcmp (other, canonical) == 0)
        return TRUE;
    }
  return FALSE;
}

/* What the image really is, whatever its name says: a raw image declared qcow2 would not open, and
 * a qcow2 image declared raw would hand the guest the image's metadata. */
gboolean
vireo_config_read_image_format (int fd, const char *path, const char **format, GError **error)
{
  unsigned char magic[4];
  ssize_t n;

  do
    n = pread (fd, magic, sizeof magic, 0);
  while (n < 0 && errno == EINTR);
  if (n < 0)
    {
      g_set_error (error, VIREO_ERROR, VIREO_ERROR_FAILED, "Setting “disks”: cannot read “%s”: %s.", path,
                   g_strerror (errno));
      return FALSE;
    }
  *format = n == (ssize_t) sizeof magic && memcmp (magic, "QFI\xfb", 4) == 0 ? "qcow2" : "raw";
  return TRUE;
}
