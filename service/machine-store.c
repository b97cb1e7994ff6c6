/* machine-store.c — machines on disk: one folder per machine (<root>/<uuid>) with machine.xml,
 * state/ and the disks created for it; atomic writes, and deletion that never leaves the folder. */
#include "machine-store.h"
#include "vireo-error.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib/gstdio.h>

#define DEFINITION_FILE "machine.xml"
#define STATE_DIR       "state"
/* Definitions are a few KiB; a bigger file is damaged or not ours. */
#define DEFINITION_MAX_BYTES (1024 * 1024)
/* How deep state/ may nest before deleting it gives up (it is ours and flat in practice). */
#define REMOVE_DEPTH_MAX 32

struct _VireoMachineStore
{
  char *root;
};

/* When writing, a missing file is no error of its own: only permissions are worth telling apart. */
static VireoError
write_error_code (VireoError code)
{
  return code == VIREO_ERROR_PERMISSION_DENIED ? code : VIREO_ERROR_FAILED;
}

static VireoError
error_code_for_file_error (const GError *error)
{
  if (error->domain != G_FILE_ERROR)
    return VIREO_ERROR_FAILED;
  switch (error->code)
    {
    case G_FILE_ERROR_NOENT:
    case G_FILE_ERROR_NOTDIR:
      return VIREO_ERROR_NOT_FOUND;
    case G_FILE_ERROR_ACCES:
    case G_FILE_ERROR_PERM:
    case G_FILE_ERROR_ROFS:
      return VIREO_ERROR_PERMISSION_DENIED;
    default:
      return VIREO_ERROR_FAILED;
    }
}

VireoMachineStore *
vireo_machine_store_new (const char *root, GError **error)
{
  VireoMachineStore *store;
  struct stat st;

  g_return_val_if_fail (root != NULL && g_path_is_absolute (root), NULL);

  if (g_mkdir_with_parents (root, 0700) < 0 || stat (root, &st) < 0)
    {
      int errsv = errno;
      g_set_error (error, VIREO_ERROR, write_error_code (vireo_error_code_for_errno (errsv)),
                   "Cannot create the storage folder “%s”: %s.", root, g_strerror (errsv));
      return NULL;
    }
  if (!S_ISDIR (st.st_mode))
    {
      g_set_error (error, VIREO_ERROR, VIREO_ERROR_FAILED, "The storage location “%s” is not a folder.",
                   root);
      return NULL;
    }
  store = g_new0 (VireoMachineStore, 1);
  store->root = g_canonicalize_filename (root, NULL);
  return store;
}

void
vireo_machine_store_free (VireoMachineStore *store)
{
  if (store == NULL)
    return;
  g_free (store->root);
  g_free (store);
}

const char *
vireo_machine_store_get_root (VireoMachineStore *store)
{
  return store->root;
}

char *
vireo_machine_store_machine_dir (VireoMachineStore *store, const char *uuid)
{
  return g_build_filename (store->root, uuid, NULL);
}

char *
vireo_machine_store_state_dir (VireoMachineStore *store, const char *uuid)
{
  return g_build_filename (store->root, uuid, STATE_DIR, NULL);
}

static gboolean
require_uuid (const char *uuid, GError **error)
{
  if (vireo_machine_config_is_canonical_uuid (uuid))
    return TRUE;
  g_set_error (error, VIREO_ERROR, VIREO_ERROR_INVALID_ARGUMENT, "“%s” is not a machine UUID.",
               uuid != NULL ? uuid : "");
  return FALSE;
}

/* Opens <root>/<uuid> without following a symlink put in its place. */
static int
open_machine_dir (VireoMachineStore *store, const char *uuid, GError **error)
{
  g_autofree char *dir = vireo_machine_store_machine_dir (store, uuid);
  int fd = open (dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

  if (fd < 0)
    {
      int errsv = errno;
      if (errsv == ENOENT)
        g_set_error (error, VIREO_ERROR, VIREO_ERROR_NOT_FOUND, "There is no machine %s.", uuid);
      else
        g_set_error (error, VIREO_ERROR, vireo_error_code_for_errno (errsv), "Cannot open “%s”: %s.", dir,
                     g_strerror (errsv));
    }
  return fd;
}

/* Reads and parses one definition; the error names the file. */
static VireoMachineConfig *
load_definition (const char *path, const char *folder_uuid, GError **error)
{
  g_autoptr (GError) local_error = NULL;
  g_autoptr (VireoMachineConfig) config = NULL;
  g_autofree char *xml = NULL;
  gsize length = 0;

  if (!g_file_get_contents (path, &xml, &length, &local_error))
    {
      g_set_error (error, VIREO_ERROR, error_code_for_file_error (local_error), "Cannot read “%s”: %s", path,
                   local_error->message);
      return NULL;
    }
  if (length > DEFINITION_MAX_BYTES || strlen (xml) != length)
    {
      g_set_error (error, VIREO_ERROR, VIREO_ERROR_INVALID_ARGUMENT,
                   "“%s” is not a machine definition (too large, or not text).", path);
      return NULL;
    }
  config = vireo_machine_config_new_from_xml (xml, &local_error);
  if (config == NULL)
    {
      g_set_error (error, VIREO_ERROR, local_error->code, "“%s” is not a valid machine definition: %s", path,
                   local_error->message);
      return NULL;
    }
  if (strcmp (config->uuid, folder_uuid) != 0)
    {
      g_set_error (error, VIREO_ERROR, VIREO_ERROR_INVALID_ARGUMENT,
                   "“%s” defines machine %s, but lies in the folder of machine %s.", path, config->uuid,
                   folder_uuid);
      return NULL;
    }
  return g_steal_pointer (&config);
}

static int
compare_names (gconstpointer a, gconstpointer b)
{
  return strcmp (*(char *const *) a, *(char *const *) b);
}

/* What an interrupted write leaves in a machine's folder: the temporary file of a definition being
 * replaced (g_file_set_contents_full's "machine.xml.XXXXXX"), and a folder whose definition was never
 * written (or whose saved state was emptied) with nothing else in it.  Removed, with a log line each; a
 * folder that holds anything else (disks a Delete kept) stays. */
static void
clean_leftovers (const char *folder)
{
  g_autoptr (GDir) dir = g_dir_open (folder, 0, NULL);
  g_autofree char *definition = g_build_filename (folder, DEFINITION_FILE, NULL);
  g_autofree char *state = g_build_filename (folder, STATE_DIR, NULL);
  const char *entry;
  struct stat st;

  while (dir != NULL && (entry = g_dir_read_name (dir)) != NULL)
    if (g_str_has_prefix (entry, DEFINITION_FILE ".") && strlen (entry) == strlen (DEFINITION_FILE ".") + 6)
      {
        g_autofree char *path = g_build_filename (folder, entry, NULL);
        if (lstat (path, &st) == 0 && S_ISREG (st.st_mode) && unlink (path) == 0)
          g_message ("removed %s, left by an interrupted write", path);
      }
  if (lstat (definition, &st) == 0 || errno != ENOENT)
    return;
  rmdir (state);
  if (rmdir (folder) == 0)
    g_message ("removed %s, a machine folder without a definition (an interrupted creation)", folder);
}

GPtrArray *
vireo_machine_store_load_all (VireoMachineStore *store, GPtrArray **problems)
{
  g_autoptr (GPtrArray) machines = g_ptr_array_new_with_free_func (
      (GDestroyNotify) vireo_machine_config_free);
  g_autoptr (GPtrArray) found = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GPtrArray) issues = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GError) error = NULL;
  g_autoptr (GDir) dir = g_dir_open (store->root, 0, &error);
  const char *entry;

  if (dir == NULL)
    g_ptr_array_add (
        issues, g_strdup_printf ("Cannot read the storage folder “%s”: %s", store->root, error->message));
  while (dir != NULL && (entry = g_dir_read_name (dir)) != NULL)
    if (vireo_machine_config_is_canonical_uuid (entry))
      g_ptr_array_add (found, g_strdup (entry));
  /* Directory order is arbitrary; callers and users see machines in a stable order. */
  g_ptr_array_sort (found, compare_names);

  for (guint i = 0; i < found->len; i++)
    {
      const char *uuid = g_ptr_array_index (found, i);
      g_autofree char *folder = vireo_machine_store_machine_dir (store, uuid);
      g_autofree char *path = g_build_filename (folder, DEFINITION_FILE, NULL);
      g_autoptr (GError) load_error = NULL;
      VireoMachineConfig *config;
      struct stat st;

      /* Only real folders count; a folder without a definition is what Delete leaves when it keeps
       * the disks, so it is no problem either. */
      if (lstat (folder, &st) < 0 || !S_ISDIR (st.st_mode))
        continue;
      clean_leftovers (folder);
      if (lstat (path, &st) < 0 && errno == ENOENT)
        continue;
      config = load_definition (path, uuid, &load_error);
      if (config == NULL)
        g_ptr_array_add (issues, g_strdup (load_error->message));
      else
        g_ptr_array_add (machines, config);
    }

  if (problems != NULL)
    *problems = g_steal_pointer (&issues);
  return g_steal_pointer (&machines);
}

gboolean
vireo_machine_store_save (VireoMachineStore *store, const VireoMachineConfig *config, GError **error)
{
  g_autoptr (GError) local_error = NULL;
  g_autofree char *folder = NULL;
  g_autofree char *path = NULL;
  g_autofree char *xml = NULL;
  struct stat st;

  g_return_val_if_fail (config != NULL, FALSE);

  /* Never write a definition that would not load back. */
  if (!vireo_machine_config_validate (config, error))
    return FALSE;

  folder = vireo_machine_store_machine_dir (store, config->uuid);
  if (mkdir (folder, 0700) < 0 && errno != EEXIST)
    {
      int errsv = errno;
      g_set_error (error, VIREO_ERROR, write_error_code (vireo_error_code_for_errno (errsv)),
                   "Cannot create the folder “%s”: %s.", folder, g_strerror (errsv));
      return FALSE;
    }
  if (lstat (folder, &st) < 0 || !S_ISDIR (st.st_mode))
    {
      g_set_error (error, VIREO_ERROR, VIREO_ERROR_FAILED, "“%s” is not a folder.", folder);
      return FALSE;
    }

  xml = vireo_machine_config_to_xml (config);
  if (xml == NULL)
    {
      g_set_error (error, VIREO_ERROR, VIREO_ERROR_FAILED, "Cannot write the definition of machine %s.",
                   config->uuid);
      return FALSE;
    }
  /* A temporary file, fsync and rename: a crash leaves the old definition or the new one. */
  path = g_build_filename (folder, DEFINITION_FILE, NULL);
  if (!g_file_set_contents_full (path, xml, -1, G_FILE_SET_CONTENTS_CONSISTENT | G_FILE_SET_CONTENTS_DURABLE,
                                 0600, &local_error))
    {
      g_set_error (error, VIREO_ERROR, write_error_code (error_code_for_file_error (local_error)),
                   "Cannot save the definition of machine %s: %s", config->uuid, local_error->message);
      return FALSE;
    }
  return TRUE;
}

/* Removes @name inside @dir_fd, recursing into folders but never following a symlink: a link is
 * removed, not what it points to.  With @keep_top a folder @name is emptied and stays. */
static gboolean
remove_tree_below (int dir_fd, const char *name, unsigned depth, gboolean keep_top, GError **error)
{
  struct stat st;
  DIR *dir;
  struct dirent *entry;
  int fd;
  gboolean ok = TRUE;

  if (fstatat (dir_fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
    {
      if (errno == ENOENT)
        return TRUE;
      goto fail;
    }
  if (!S_ISDIR (st.st_mode))
    {
      if (unlinkat (dir_fd, name, 0) < 0 && errno != ENOENT)
        goto fail;
      return TRUE;
    }
  if (depth >= REMOVE_DEPTH_MAX)
    {
      g_set_error (error, VIREO_ERROR, VIREO_ERROR_FAILED, "Cannot remove “%s”: it nests too deeply.", name);
      return FALSE;
    }
  fd = openat (dir_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0)
    goto fail;
  dir = fdopendir (fd);
  if (dir == NULL)
    {
      close (fd);
      goto fail;
    }
  while (ok && (entry = readdir (dir)) != NULL)
    if (strcmp (entry->d_name, ".") != 0 && strcmp (entry->d_name, "..") != 0)
      ok = remove_tree_below (dirfd (dir), entry->d_name, depth + 1, FALSE, error);
  closedir (dir);
  if (!ok)
    return FALSE;
  if (!keep_top && unlinkat (dir_fd, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
    goto fail;
  return TRUE;

fail:
  {
    int errsv = errno;
    g_set_error (error, VIREO_ERROR, write_error_code (vireo_error_code_for_errno (errsv)),
                 "Cannot remove “%s”: %s.", name, g_strerror (errsv));
    return FALSE;
  }
}

gboolean
vireo_remove_tree_at (int dir_fd, const char *name, gboolean keep_top, GError **error)
{
  return remove_tree_below (dir_fd, name, 0, keep_top, error);
}

/* Removes a disk image if, and only if, it lies inside the machine's folder.  The image's folder is
 * resolved on its own and then walked from @machine_fd with O_NOFOLLOW, so no symlink (in the path
 * or in the folder) can lead the deletion elsewhere; a symlinked image is unlinked, not its target.
 */
static void
remove_disk_in_folder (int machine_fd, const char *machine_real, const char *disk_path)
{
  g_autofree char *canonical = g_canonicalize_filename (disk_path, NULL);
  g_autofree char *parent = g_path_get_dirname (canonical);
  g_autofree char *base = g_path_get_basename (canonical);
  g_autofree char *parent_real = realpath (parent, NULL);
  g_auto (GStrv) components = NULL;
  const char *relative;
  size_t root_len = strlen (machine_real);
  int fd;

  if (parent_real == NULL || strcmp (base, "/") == 0 || strcmp (base, ".") == 0 || strcmp (base, "..") == 0)
    return;
  if (strcmp (parent_real, machine_real) == 0)
    relative = "";
  else if (strncmp (parent_real, machine_real, root_len) == 0 && parent_real[root_len] == '/')
    relative = parent_real + root_len + 1;
  else
    return;

  fd = dup (machine_fd);
  if (fd < 0)
    return;
  components = g_strsplit (relative, "/", -1);
  for (guint i = 0; components[i] != NULL && fd >= 0; i++)
    {
      int next;

      if (*components[i] == '\0')
        continue;
      next = openat (fd, components[i], O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      close (fd);
      fd = next;
    }
  if (fd < 0)
    return;
  /* Only files: unlinkat without AT_REMOVEDIR refuses folders. */
  if (unlinkat (fd, base, 0) < 0 && errno != ENOENT)
    g_debug ("Keeping disk image %s: %s", disk_path, g_strerror (errno));
  close (fd);
}

gboolean
vireo_machine_store_delete (VireoMachineStore *store, const char *uuid, gboolean delete_disks, GError **error)
{
  g_autoptr (VireoMachineConfig) config = NULL;
  g_autofree char *folder = NULL;
  g_autofree char *folder_real = NULL;
  struct stat st;
  int fd;

  if (!require_uuid (uuid, error))
    return FALSE;
  fd = open_machine_dir (store, uuid, error);
  if (fd < 0)
    return FALSE;
  if (fstatat (fd, DEFINITION_FILE, &st, AT_SYMLINK_NOFOLLOW) < 0)
    {
      g_set_error (error, VIREO_ERROR, VIREO_ERROR_NOT_FOUND, "There is no machine %s.", uuid);
      close (fd);
      return FALSE;
    }

  folder = vireo_machine_store_machine_dir (store, uuid);
  if (delete_disks)
    {
      g_autofree char *path = g_build_filename (folder, DEFINITION_FILE, NULL);
      /* Which files are the machine's disks only its definition can say; a damaged definition
       * deletes no image. */
      config = load_definition (path, uuid, NULL);
      folder_real = realpath (folder, NULL);
    }

  /* Checkpoints first: their disk snapshots live in the images, their folders only here. */
  if (!vireo_remove_tree_at (fd, "checkpoints", FALSE, error)
      || !vireo_remove_tree_at (fd, STATE_DIR, FALSE, error)
      || !vireo_remove_tree_at (fd, DEFINITION_FILE, FALSE, error))
    {
      close (fd);
      return FALSE;
    }
  for (guint i = 0; config != NULL && folder_real != NULL && i < config->disks->len; i++)
    {
      const VireoDiskConfig *disk = g_ptr_array_index (config->disks, i);
      remove_disk_in_folder (fd, folder_real, disk->path);
    }
  close (fd);

  /* The folder goes when nothing is left in it; kept disks (and anything else) keep it. */
  if (rmdir (folder) < 0 && errno != ENOTEMPTY && errno != EEXIST && errno != ENOENT)
    g_debug ("Keeping folder %s: %s", folder, g_strerror (errno));
  return TRUE;
}

gboolean
vireo_machine_store_has_saved_state (VireoMachineStore *store, const char *uuid)
{
  g_autofree char *dir = NULL;
  g_autoptr (GDir) listing = NULL;
  struct stat st;

  if (!vireo_machine_config_is_canonical_uuid (uuid))
    return FALSE;
  dir = vireo_machine_store_state_dir (store, uuid);
  if (lstat (dir, &st) < 0 || !S_ISDIR (st.st_mode))
    return FALSE;
  listing = g_dir_open (dir, 0, NULL);
  return listing != NULL && g_dir_read_name (listing) != NULL;
}

gboolean
vireo_machine_store_discard_saved_state (VireoMachineStore *store, const char *uuid, GError **error)
{
  gboolean ok;
  int fd;

  if (!require_uuid (uuid, error))
    return FALSE;
  fd = open_machine_dir (store, uuid, error);
  if (fd < 0)
    return FALSE;
  /* Emptied, not removed: a running worker holds the folder open and saves into it next time. */
  ok = vireo_remove_tree_at (fd, STATE_DIR, TRUE, error);
  close (fd);
  return ok;
}
