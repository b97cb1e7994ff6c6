/* checkpoints.c — one machine's tree of checkpoints on disk (checkpoints.h): tree.ini, the checkpoints'
 * folders and the journal keys of the crash-safety protocol.
 *
 * tree.ini is a key file:
 *   [tree]          current=<id or "">, applying=<id> (Apply under way), doomed=<id>;<id>;... (disk
 *                   snapshots and folders still to remove: a create that did not finish, a delete)
 *   [checkpoint <id>]  name, parent, created, kind, has-state, consistency
 * Everything else in the folder is a checkpoint's folder <id>/ (definition.xml, state, memory), or
 * stray: left by a crash, removed by vireo_checkpoint_tree_remove_strays().
 */
#include "checkpoints.h"
#include "machine-store.h"
#include "vireo-error.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define TREE_FILE   "tree.ini"
#define TREE_TEMP   "tree.ini.tmp"
#define TREE_GROUP  "tree"
#define NODE_PREFIX "checkpoint "
#define TEMP_SUFFIX ".tmp"

static const char *const kinds[] = { "standard", "production", NULL };
static const char *const consistencies[] = { "application", "crash", NULL };

VireoCheckpoint *
vireo_checkpoint_new (const char *id, const char *name, const char *kind)
{
  VireoCheckpoint *checkpoint = g_new0 (VireoCheckpoint, 1);

  checkpoint->id = g_strdup (id);
  checkpoint->name = g_strdup (name);
  checkpoint->parent = g_strdup ("");
  checkpoint->created = g_get_real_time ();
  checkpoint->kind = g_strdup (kind);
  checkpoint->consistency = g_strdup ("application");
  return checkpoint;
}

VireoCheckpoint *
vireo_checkpoint_copy (const VireoCheckpoint *checkpoint)
{
  VireoCheckpoint *copy = vireo_checkpoint_new (checkpoint->id, checkpoint->name, checkpoint->kind);

  g_free (copy->parent);
  copy->parent = g_strdup (checkpoint->parent);
  copy->created = checkpoint->created;
  copy->has_state = checkpoint->has_state;
  g_free (copy->consistency);
  copy->consistency = g_strdup (checkpoint->consistency);
  return copy;
}

void
vireo_checkpoint_free (VireoCheckpoint *checkpoint)
{
  if (checkpoint == NULL)
    return;
  g_free (checkpoint->id);
  g_free (checkpoint->name);
  g_free (checkpoint->parent);
  g_free (checkpoint->kind);
  g_free (checkpoint->consistency);
  g_free (checkpoint);
}

gboolean
vireo_checkpoint_id_is_valid (const char *text)
{
  if (text == NULL || strlen (text) != VIREO_CHECKPOINT_ID_LEN)
    return FALSE;
  for (const char *p = text; *p != '\0'; p++)
    if (!g_ascii_isxdigit (*p) || g_ascii_isupper (*p))
      return FALSE;
  return TRUE;
}

gboolean
vireo_checkpoint_check_name (const char *name, GError **error)
{
  glong length;

  if (name == NULL || !g_utf8_validate (name, -1, NULL))
    {
      g_set_error_literal (error, VIREO_ERROR, VIREO_ERROR_INVALID_ARGUMENT,
                           "A checkpoint's name must be valid UTF-8.");
      return FALSE;
    }
  length = g_utf8_strlen (name, -1);
  if (length < 1 || length > VIREO_CHECKPOINT_NAME_MAX)
    {
      g_set_error (error, VIREO_ERROR, VIREO_ERROR_INVALID_ARGUMENT,
                   "A checkpoint's name has 1 to %d characters, not %ld.", VIREO_CHECKPOINT_NAME_MAX, length);
      return FALSE;
    }
  for (const char *p = name; *p != '\0'; p = g_utf8_next_char (p))
    if (g_unichar_iscntrl (g_utf8_get_char (p)))
      {
        g_set_error_literal (error, VIREO_ERROR, VIREO_ERROR_INVALID_ARGUMENT,
                             "A checkpoint's name may not contain control characters (such as line breaks).");
        return FALSE;
      }
  return TRUE;
}

/* ---- the tree ---- */

static VireoCheckpointTree *
tree_new (const char *dir)
{
  VireoCheckpointTree *tree = g_new0 (VireoCheckpointTree, 1);

  tree->dir = g_strdup (dir);
  tree->nodes = g_ptr_array_new_with_free_func ((GDestroyNotify) vireo_checkpoint_free);
  tree->current = g_strdup ("");
  tree->applying = g_strdup ("");
  tree->doomed = g_ptr_array_new_with_free_func (g_free);
  return tree;
}

void
vireo_checkpoint_tree_free (VireoCheckpointTree *tree)
{
  if (tree == NULL)
    return;
  g_free (tree->dir);
  g_ptr_array_unref (tree->nodes);
  g_free (tree->current);
  g_free (tree->applying);
  g_ptr_array_unref (tree->doomed);
  g_free (tree);
}

VireoCheckpointTree *
vireo_checkpoint_tree_copy (const VireoCheckpointTree *tree)
{
  VireoCheckpointTree *copy = tree_new (tree->dir);

  for (guint i = 0; i < tree->nodes->len; i++)
    g_ptr_array_add (copy->nodes, vireo_checkpoint_copy (g_ptr_array_index (tree->nodes, i)));
  g_free (copy->current);
  copy->current = g_strdup (tree->current);
  g_free (copy->applying);
  copy->applying = g_strdup (tree->applying);
  for (guint i = 0; i < tree->doomed->len; i++)
    g_ptr_array_add (copy->doomed, g_strdup (g_ptr_array_index (tree->doomed, i)));
  return copy;
}

VireoCheckpoint *
vireo_checkpoint_tree_find (const VireoCheckpointTree *tree, const char *id)
{
  for (guint i = 0; id != NULL && i < tree->nodes->len; i++)
    {
      VireoCheckpoint *checkpoint = g_ptr_array_index (tree->nodes, i);
      if (strcmp (checkpoint->id, id) == 0)
        return checkpoint;
    }
  return NULL;
}

static gboolean
is_doomed (const VireoCheckpointTree *tree, const char *id)
{
  for (guint i = 0; i < tree->doomed->len; i++)
    if (strcmp (g_ptr_array_index (tree->doomed, i), id) == 0)
      return TRUE;
  return FALSE;
}

void
vireo_checkpoint_tree_doom (VireoCheckpointTree *tree, const char *id)
{
  if (!is_doomed (tree, id))
    g_ptr_array_add (tree->doomed, g_strdup (id));
}

void
vireo_checkpoint_tree_forget_doomed (VireoCheckpointTree *tree, const char *id)
{
  for (guint i = 0; i < tree->doomed->len; i++)
    if (strcmp (g_ptr_array_index (tree->doomed, i), id) == 0)
      {
        g_ptr_array_remove_index (tree->doomed, i);
        return;
      }
}

/* Whether following parents from @id reaches @ancestor (or @id is it). */
static gboolean
descends_from (const VireoCheckpointTree *tree, const char *id, const char *ancestor)
{
  guint steps = 0;

  while (id != NULL && *id != '\0' && steps++ <= tree->nodes->len)
    {
      VireoCheckpoint *checkpoint;
      if (strcmp (id, ancestor) == 0)
        return TRUE;
      checkpoint = vireo_checkpoint_tree_find (tree, id);
      id = checkpoint ? checkpoint->parent : NULL;
    }
  return FALSE;
}

VireoCheckpointTree *
vireo_checkpoint_tree_load (const char *machine_dir, GError **error)
{
  g_autofree char *dir = g_build_filename (machine_dir, "checkpoints", NULL);
  return vireo_checkpoint_tree_load_dir (dir, error);
}

VireoCheckpointTree *
vireo_checkpoint_tree_load_dir (const char *dir, GError **error)
{
  g_autofree char *path = g_build_filename (dir, TREE_FILE, NULL);
  g_autoptr (VireoCheckpointTree) tree = tree_new (dir);
  g_autoptr (GKeyFile) file = g_key_file_new ();
  g_autoptr (GError) local = NULL;
  g_auto (GStrv) groups = NULL;
  g_auto (GStrv) doomed = NULL;
  g_autofree char *current = NULL;
  g_autofree char *applying = NULL;

  if (!g_key_file_load_from_file (file, path, G_KEY_FILE_NONE, &local))
    {
      if (g_error_matches (local, G_FILE_ERROR, G_FILE_ERROR_NOENT))
        return g_steal_pointer (&tree);
      g_set_error (error, VIREO_ERROR, VIREO_ERROR_FAILED, "Cannot read the checkpoints of %s: %s", path,
                   local->message);
      return NULL;
    }

  groups = g_key_file_get_groups (file, NULL);
  for (guint i = 0; groups[i] != NULL; i++)
    {
      const char *id;
      g_autofree char *name = NULL;
      g_autofree char *kind = NULL;
      g_autofree char *consistency = NULL;
      g_autofree char *parent = NULL;
      VireoCheckpoint *checkpoint;

      if (!g_str_has_prefix (groups[i], NODE_PREFIX))
        continue;
      id = groups[i] + strlen (NODE_PREFIX);
      if (!vireo_checkpoint_id_is_valid (id) || vireo_checkpoint_tree_find (tree, id) != NULL)
        continue;
      name = g_key_file_get_string (file, groups[i], "name", NULL);
      if (name == NULL || !vireo_checkpoint_check_name (name, NULL))
        {
          g_free (name);
          name = g_strdup (id);
        }
      kind = g_key_file_get_string (file, groups[i], "kind", NULL);
      checkpoint = vireo_checkpoint_new (id, name,
                                         g_strv_contains (kinds, kind ? kind : "") ? kind : "standard");
      parent = g_key_file_get_string (file, groups[i], "parent", NULL);
      if (parent != NULL && vireo_checkpoint_id_is_valid (parent))
        {
          g_free (checkpoint->parent);
          checkpoint->parent = g_steal_pointer (&parent);
        }
      checkpoint->created = g_key_file_get_int64 (file, groups[i], "created", NULL);
      checkpoint->has_state = g_key_file_get_boolean (file, groups[i], "has-state", NULL);
      consistency = g_key_file_get_string (file, groups[i], "consistency", NULL);
      if (consistency != NULL && g_strv_contains (consistencies, consistency))
        {
          g_free (checkpoint->consistency);
          checkpoint->consistency = g_steal_pointer (&consistency);
        }
      g_ptr_array_add (tree->nodes, checkpoint);
    }
  /* Parents that are gone, and loops (only a damaged file has them), make roots. */
  for (guint i = 0; i < tree->nodes->len; i++)
    {
      VireoCheckpoint *checkpoint = g_ptr_array_index (tree->nodes, i);
      VireoCheckpoint *parent = vireo_checkpoint_tree_find (tree, checkpoint->parent);
      if (*checkpoint->parent != '\0'
          && (parent == NULL || descends_from (tree, checkpoint->parent, checkpoint->id)))
        {
          g_free (checkpoint->parent);
          checkpoint->parent = g_strdup ("");
        }
    }

  current = g_key_file_get_string (file, TREE_GROUP, "current", NULL);
  if (current != NULL && vireo_checkpoint_tree_find (tree, current) != NULL)
    {
      g_free (tree->current);
      tree->current = g_steal_pointer (&current);
    }
  applying = g_key_file_get_string (file, TREE_GROUP, "applying", NULL);
  if (applying != NULL && vireo_checkpoint_tree_find (tree, applying) != NULL)
    {
      g_free (tree->applying);
      tree->applying = g_steal_pointer (&applying);
    }
  doomed = g_key_file_get_string_list (file, TREE_GROUP, "doomed", NULL, NULL);
  for (guint i = 0; doomed != NULL && doomed[i] != NULL; i++)
    if (vireo_checkpoint_id_is_valid (doomed[i]) && vireo_checkpoint_tree_find (tree, doomed[i]) == NULL)
      vireo_checkpoint_tree_doom (tree, doomed[i]);
  return g_steal_pointer (&tree);
}

static gboolean
write_all (int fd, const char *data, gsize length)
{
  while (length > 0)
    {
      ssize_t n = write (fd, data, length);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        return FALSE;
      data += n;
      length -= (gsize) n;
    }
  return TRUE;
}

char *
vireo_checkpoint_tree_to_data (const VireoCheckpointTree *tree, gsize *length)
{
  g_autoptr (GKeyFile) file = g_key_file_new ();

  g_key_file_set_string (file, TREE_GROUP, "current", tree->current);
  if (*tree->applying != '\0')
    g_key_file_set_string (file, TREE_GROUP, "applying", tree->applying);
  if (tree->doomed->len > 0)
    g_key_file_set_string_list (file, TREE_GROUP, "doomed", (const char *const *) tree->doomed->pdata,
                                tree->doomed->len);
  for (guint i = 0; i < tree->nodes->len; i++)
    {
      const VireoCheckpoint *checkpoint = g_ptr_array_index (tree->nodes, i);
      g_autofree char *group = g_strconcat (NODE_PREFIX, checkpoint->id, NULL);

      g_key_file_set_string (file, group, "name", checkpoint->name);
      g_key_file_set_string (file, group, "parent", checkpoint->parent);
      g_key_file_set_int64 (file, group, "created", checkpoint->created);
      g_key_file_set_string (file, group, "kind", checkpoint->kind);
      g_key_file_set_boolean (file, group, "has-state", checkpoint->has_state);
      g_key_file_set_string (file, group, "consistency", checkpoint->consistency);
    }
  return g_key_file_to_data (file, length, NULL);
}

gboolean
vireo_checkpoint_tree_save (VireoCheckpointTree *tree, GError **error)
{
  gsize length;
  g_autofree char *data = vireo_checkpoint_tree_to_data (tree, &length);
  int dir_fd, fd;
  int errsv;

  if (g_mkdir_with_parents (tree->dir, 0700) < 0
      || (dir_fd = open (tree->dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0)
    {
      errsv = errno;
      g_set_error (error, VIREO_ERROR, vireo_error_code_for_errno (errsv), "Cannot open %s: %s", tree->dir,
                   g_strerror (errsv));
      return FALSE;
    }
  fd = openat (dir_fd, TREE_TEMP, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0 || !write_all (fd, data, length) || fsync (fd) < 0)
    goto fail;
  close (fd);
  fd = -1;
  if (renameat (dir_fd, TREE_TEMP, dir_fd, TREE_FILE) < 0 || fsync (dir_fd) < 0)
    goto fail;
  close (dir_fd);
  return TRUE;

fail:
  errsv = errno;
  if (fd >= 0)
    close (fd);
  unlinkat (dir_fd, TREE_TEMP, 0);
  close (dir_fd);
  g_set_error (error, VIREO_ERROR, vireo_error_code_for_errno (errsv),
               "Cannot write the checkpoints' tree in %s: %s", tree->dir, g_strerror (errsv));
  return FALSE;
}

char *
vireo_checkpoint_tree_folder (const VireoCheckpointTree *tree, const char *id)
{
  return g_build_filename (tree->dir, id, NULL);
}

char *
vireo_checkpoint_tree_temp_folder (const VireoCheckpointTree *tree, const char *id)
{
  g_autofree char *name = g_strconcat (id, TEMP_SUFFIX, NULL);
  return g_build_filename (tree->dir, name, NULL);
}

char *
vireo_checkpoint_tree_new_id (const VireoCheckpointTree *tree)
{
  while (TRUE)
    {
      char *id = g_strdup_printf ("%08x%08x", g_random_int (), g_random_int ());
      g_autofree char *folder = vireo_checkpoint_tree_folder (tree, id);
      g_autofree char *temp = vireo_checkpoint_tree_temp_folder (tree, id);

      if (vireo_checkpoint_tree_find (tree, id) == NULL && !is_doomed (tree, id)
          && !g_file_test (folder, G_FILE_TEST_EXISTS) && !g_file_test (temp, G_FILE_TEST_EXISTS))
        return id;
      g_free (id);
    }
}

void
vireo_checkpoint_tree_add (VireoCheckpointTree *tree, VireoCheckpoint *checkpoint)
{
  g_free (checkpoint->parent);
  checkpoint->parent = g_strdup (tree->current);
  g_free (tree->current);
  tree->current = g_strdup (checkpoint->id);
  vireo_checkpoint_tree_forget_doomed (tree, checkpoint->id);
  g_ptr_array_add (tree->nodes, checkpoint);
}

void
vireo_checkpoint_tree_set_current (VireoCheckpointTree *tree, const char *id)
{
  g_free (tree->current);
  tree->current = g_strdup (id);
}

GPtrArray *
vireo_checkpoint_tree_children (const VireoCheckpointTree *tree, const char *id)
{
  GPtrArray *children = g_ptr_array_new ();

  for (guint i = 0; i < tree->nodes->len; i++)
    {
      VireoCheckpoint *checkpoint = g_ptr_array_index (tree->nodes, i);
      if (strcmp (checkpoint->parent, id) == 0)
        g_ptr_array_add (children, checkpoint);
    }
  return children;
}

GPtrArray *
vireo_checkpoint_tree_remove (VireoCheckpointTree *tree, const char *id, gboolean subtree)
{
  VireoCheckpoint *target = vireo_checkpoint_tree_find (tree, id);
  g_autofree char *parent = NULL;
  g_autofree char *target_id = NULL;
  GPtrArray *removed;

  if (target == NULL)
    return NULL;
  parent = g_strdup (target->parent);
  target_id = g_strdup (target->id);
  removed = g_ptr_array_new_with_free_func (g_free);

  /* Now first, while the parents still say where it hangs. */
  if (*tree->current != '\0'
      && (subtree ? descends_from (tree, tree->current, target_id) : strcmp (tree->current, target_id) == 0))
    {
      g_free (tree->current);
      tree->current = g_strdup (parent);
    }
  for (guint i = tree->nodes->len; i > 0; i--)
    {
      VireoCheckpoint *checkpoint = g_ptr_array_index (tree->nodes, i - 1);
      if (subtree ? descends_from (tree, checkpoint->id, target_id) : strcmp (checkpoint->id, target_id) == 0)
        g_ptr_array_add (removed, g_strdup (checkpoint->id));
    }
  for (guint i = 0; i < removed->len; i++)
    {
      const char *gone = g_ptr_array_index (removed, i);
      for (guint j = 0; j < tree->nodes->len; j++)
        if (strcmp (((VireoCheckpoint *) g_ptr_array_index (tree->nodes, j))->id, gone) == 0)
          {
            g_ptr_array_remove_index (tree->nodes, j);
            break;
          }
      vireo_checkpoint_tree_doom (tree, gone);
    }
  /* A single checkpoint's children move up; nothing below it loses its place otherwise. */
  for (guint i = 0; !subtree && i < tree->nodes->len; i++)
    {
      VireoCheckpoint *checkpoint = g_ptr_array_index (tree->nodes, i);
      if (strcmp (checkpoint->parent, target_id) == 0)
        {
          g_free (checkpoint->parent);
          checkpoint->parent = g_strdup (parent);
        }
    }
  if (strcmp (tree->applying, target_id) == 0 || vireo_checkpoint_tree_find (tree, tree->applying) == NULL)
    {
      g_free (tree->applying);
      tree->applying = g_strdup ("");
    }
  return removed;
}

/* ---- folders ---- */

static int
open_tree_dir (VireoCheckpointTree *tree, GError **error)
{
  int fd = open (tree->dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

  if (fd < 0 && errno != ENOENT)
    {
      int errsv = errno;
      g_set_error (error, VIREO_ERROR, vireo_error_code_for_errno (errsv), "Cannot open %s: %s", tree->dir,
                   g_strerror (errsv));
    }
  return fd;
}

gboolean
vireo_checkpoint_tree_remove_folder (VireoCheckpointTree *tree, const char *id, GError **error)
{
  g_autofree char *temp = g_strconcat (id, TEMP_SUFFIX, NULL);
  gboolean ok;
  int fd;

  g_return_val_if_fail (vireo_checkpoint_id_is_valid (id), FALSE);
  fd = open_tree_dir (tree, error);
  if (fd < 0)
    return errno == ENOENT;
  ok = vireo_remove_tree_at (fd, id, FALSE, error) && vireo_remove_tree_at (fd, temp, FALSE, error);
  if (ok)
    fsync (fd);
  close (fd);
  return ok;
}

gboolean
vireo_checkpoint_tree_remove_strays (VireoCheckpointTree *tree, GError **error)
{
  g_autoptr (GPtrArray) strays = g_ptr_array_new_with_free_func (g_free);
  DIR *listing;
  struct dirent *entry;
  gboolean ok = TRUE;
  int fd = open_tree_dir (tree, error);
  int listing_fd;

  if (fd < 0)
    return errno == ENOENT;
  listing_fd = openat (fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  listing = listing_fd >= 0 ? fdopendir (listing_fd) : NULL;
  if (listing == NULL)
    {
      int errsv = errno;
      if (listing_fd >= 0)
        close (listing_fd);
      close (fd);
      g_set_error (error, VIREO_ERROR, vireo_error_code_for_errno (errsv), "Cannot list %s: %s", tree->dir,
                   g_strerror (errsv));
      return FALSE;
    }
  while ((entry = readdir (listing)) != NULL)
    {
      const char *name = entry->d_name;
      if (strcmp (name, ".") == 0 || strcmp (name, "..") == 0 || strcmp (name, TREE_FILE) == 0)
        continue;
      /* A checkpoint the tree names keeps its folder, and so does a doomed one until its disk snapshots
       * are gone (its definition says which images hold them); everything else (a "<id>.tmp" of a
       * create that did not finish, the folder of a deleted one, tree.ini.tmp) is stray. */
      if (vireo_checkpoint_id_is_valid (name) && vireo_checkpoint_tree_find (tree, name) != NULL)
        continue;
      {
        g_autofree char *id = g_strndup (name, VIREO_CHECKPOINT_ID_LEN);
        if (vireo_checkpoint_id_is_valid (id) && is_doomed (tree, id)
            && (name[VIREO_CHECKPOINT_ID_LEN] == '\0'
                || strcmp (name + VIREO_CHECKPOINT_ID_LEN, TEMP_SUFFIX) == 0))
          continue;
      }
      g_ptr_array_add (strays, g_strdup (name));
    }
  closedir (listing);
  for (guint i = 0; ok && i < strays->len; i++)
    ok = vireo_remove_tree_at (fd, g_ptr_array_index (strays, i), FALSE, error);
  if (ok && strays->len > 0)
    fsync (fd);
  close (fd);
  return ok;
}

gboolean
vireo_checkpoint_link_state (const char *from_dir, const char *to_dir, GError **error)
{
  static const char *const files[][2] = { { "memory", "memory.tmp" }, { "state", "state.tmp" } };
  int from_fd = open (from_dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  int to_fd = open (to_dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  int errsv = 0;

  if (from_fd < 0 || to_fd < 0)
    {
      errsv = errno;
      goto out;
    }
  for (guint i = 0; i < G_N_ELEMENTS (files); i++)
    {
      unlinkat (to_fd, files[i][1], 0);
      if (linkat (from_fd, files[i][0], to_fd, files[i][1], 0) < 0)
        {
          errsv = errno;
          goto out;
        }
    }
  /* As hv_snapshot_commit: memory first, so the old state never pairs with the new memory. */
  for (guint i = 0; i < G_N_ELEMENTS (files); i++)
    if (renameat (to_fd, files[i][1], to_fd, files[i][0]) < 0)
      {
        errsv = errno;
        goto out;
      }
  if (fsync (to_fd) < 0 && errno != EINVAL)
    errsv = errno;

out:
  if (from_fd >= 0)
    close (from_fd);
  if (to_fd >= 0)
    close (to_fd);
  if (errsv != 0)
    {
      g_set_error (error, VIREO_ERROR, vireo_error_code_for_errno (errsv),
                   "Cannot put the checkpoint's saved state from %s in place: %s", from_dir,
                   g_strerror (errsv));
      return FALSE;
    }
  return TRUE;
}

/* ---- the snapshot table of a qcow2 image (QEMU's docs/interop/qcow2.txt) ---- */

#define QCOW2_MAGIC          0x514649fbu
#define SNAPSHOTS_MAX        65536 /* QEMU's limit */
#define SNAPSHOT_ENTRY_FIXED 40
#define SNAPSHOT_TABLE_MAX   (64u << 20)

static gboolean
read_exactly (int fd, void *buffer, gsize length, guint64 offset)
{
  gsize done = 0;

  while (done < length)
    {
      ssize_t n = pread (fd, (char *) buffer + done, length - done, (off_t) (offset + done));
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        return FALSE;
      done += (gsize) n;
    }
  return TRUE;
}

static guint16
get_be16 (const guint8 *p)
{
  return (guint16) ((p[0] << 8) | p[1]);
}

static guint32
get_be32 (const guint8 *p)
{
  return ((guint32) p[0] << 24) | ((guint32) p[1] << 16) | ((guint32) p[2] << 8) | p[3];
}

static guint64
get_be64 (const guint8 *p)
{
  return ((guint64) get_be32 (p) << 32) | get_be32 (p + 4);
}

GPtrArray *
vireo_checkpoint_disk_snapshot_ids (int fd, GError **error)
{
  g_autoptr (GPtrArray) ids = g_ptr_array_new_with_free_func (g_free);
  guint8 header[72];
  guint32 count;
  guint64 offset;

  if (!read_exactly (fd, header, sizeof header, 0) || get_be32 (header) != QCOW2_MAGIC)
    return g_steal_pointer (&ids); /* raw, or too short to be qcow2 */
  count = get_be32 (header + 60);
  offset = get_be64 (header + 64);
  if (count > SNAPSHOTS_MAX || (count > 0 && (offset == 0 || offset % 8 != 0 || offset > G_MAXINT64 / 2)))
    goto bad;
  for (guint32 i = 0; i < count; i++)
    {
      guint8 entry[SNAPSHOT_ENTRY_FIXED];
      guint16 id_size, name_size;
      guint32 extra_size;
      g_autofree char *name = NULL;

      if (!read_exactly (fd, entry, sizeof entry, offset))
        goto bad;
      id_size = get_be16 (entry + 12);
      name_size = get_be16 (entry + 14);
      extra_size = get_be32 (entry + 36);
      if (extra_size > 1024)
        goto bad;
      name = g_malloc0 ((gsize) name_size + 1);
      if (!read_exactly (fd, name, name_size, offset + SNAPSHOT_ENTRY_FIXED + extra_size + id_size))
        goto bad;
      if (g_str_has_prefix (name, VIREO_CHECKPOINT_SNAPSHOT_PREFIX)
          && vireo_checkpoint_id_is_valid (name + strlen (VIREO_CHECKPOINT_SNAPSHOT_PREFIX)))
        g_ptr_array_add (ids, g_strdup (name + strlen (VIREO_CHECKPOINT_SNAPSHOT_PREFIX)));
      /* Each entry padded to a multiple of 8. */
      offset += ((guint64) SNAPSHOT_ENTRY_FIXED + extra_size + id_size + name_size + 7) & ~(guint64) 7;
      if (offset > SNAPSHOT_TABLE_MAX + get_be64 (header + 64))
        goto bad;
    }
  return g_steal_pointer (&ids);

bad:
  g_set_error_literal (error, VIREO_ERROR, VIREO_ERROR_INVALID_ARGUMENT, "its snapshot table is damaged");
  return NULL;
}
