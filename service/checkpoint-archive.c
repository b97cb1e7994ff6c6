/* checkpoint-archive.c — a machine's checkpoints folder as one stream and back (checkpoint-archive.h).
 *
 * What is read comes from another host, and so from anyone who can reach the pipe: each name is matched
 * against the few a checkpoints folder holds before anything is made, files are made without replacing
 * or following anything, and sizes are bounded where the data is held in memory. */
#include "checkpoint-archive.h"
#include "vireo-error.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define COPY_CHUNK_BYTES (256 * 1024)
#define TREE_NAME        "tree.ini"
#define NAME_MAX_BYTES   64

static const char *const checkpoint_files[] = { "definition.xml", "state", "memory", NULL };

/* ---- writing ---- */

static gboolean
write_all (int fd, const void *data, gsize length, GError **error)
{
  const guint8 *p = data;

  while (length > 0)
    {
      ssize_t n = write (fd, p, length);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        {
          int errsv = errno;
          g_set_error (error, VIREO_ERROR, vireo_error_code_for_errno (errsv),
                       "cannot write the checkpoint archive: %s", g_strerror (errsv));
          return FALSE;
        }
      p += n;
      length -= (gsize) n;
    }
  return TRUE;
}

static gboolean
write_header (int fd, const char *name, guint64 size, GError **error)
{
  guint16 name_length = GUINT16_TO_BE ((guint16) strlen (name));
  guint64 size_be = GUINT64_TO_BE (size);

  return write_all (fd, &name_length, sizeof name_length, error) && write_all (fd, name, strlen (name), error)
         && write_all (fd, &size_be, sizeof size_be, error);
}

/* The entry "<id>/<file>" from the checkpoint's folder under @dir_fd, as long as it is when opened. */
static gboolean
write_file_entry (int fd, int dir_fd, const char *dir, const char *id, const char *file, GError **error)
{
  g_autofree char *name = g_strconcat (id, "/", file, NULL);
  g_autofree guint8 *buffer = NULL;
  int file_fd = openat (dir_fd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  guint64 left;
  struct stat st;

  if (file_fd < 0 || fstat (file_fd, &st) < 0 || !S_ISREG (st.st_mode))
    {
      int errsv = file_fd < 0 ? errno : EINVAL;
      g_set_error (error, VIREO_ERROR, VIREO_ERROR_FAILED, "cannot read %s/%s: %s", dir, name,
                   g_strerror (errsv));
      if (file_fd >= 0)
        close (file_fd);
      return FALSE;
    }
  if (!write_header (fd, name, (guint64) st.st_size, error))
    {
      close (file_fd);
      return FALSE;
    }
  buffer = g_malloc (COPY_CHUNK_BYTES);
  for (left = (guint64) st.st_size; left > 0;)
    {
      ssize_t got = read (file_fd, buffer, MIN (left, COPY_CHUNK_BYTES));
      if (got < 0 && errno == EINTR)
        continue;
      if (got <= 0)
        {
          g_set_error (error, VIREO_ERROR, VIREO_ERROR_FAILED, "cannot read %s/%s: %s", dir, name,
                       got < 0 ? g_strerror (errno) : "it became shorter");
          close (file_fd);
          return FALSE;
        }
      if (!write_all (fd, buffer, (gsize) got, error))
        {
          close (file_fd);
          return FALSE;
        }
      left -= (guint64) got;
    }
  close (file_fd);
  return TRUE;
}

gboolean
vireo_checkpoint_archive_write (int fd, const VireoCheckpointTree *tree, GError **error)
{
  g_autoptr (VireoCheckpointTree) listed = vireo_checkpoint_tree_copy (tree);
  g_autofree char *tree_data = NULL;
  gsize tree_length;
  guint16 end = 0;
  int dir_fd = -1;
  gboolean ok;

  /* Only what the tree lists: the journal belongs to this host's unfinished work. */
  g_free (listed->applying);
  listed->applying = g_strdup ("");
  g_ptr_array_set_size (listed->doomed, 0);
  tree_data = vireo_checkpoint_tree_to_data (listed, &tree_length);

  if (listed->nodes->len > 0
      && (dir_fd = open (tree->dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0)
    {
      int errsv = errno;
      g_set_error (error, VIREO_ERROR, vireo_error_code_for_errno (errsv), "cannot open %s: %s", tree->dir,
                   g_strerror (errsv));
      return FALSE;
    }
  ok = write_all (fd, VIREO_CHECKPOINT_ARCHIVE_MAGIC, VIREO_CHECKPOINT_ARCHIVE_MAGIC_LEN, error)
       && write_header (fd, TREE_NAME, tree_length, error) && write_all (fd, tree_data, tree_length, error);
  for (guint i = 0; ok && i < listed->nodes->len; i++)
    {
      const VireoCheckpoint *checkpoint = g_ptr_array_index (listed->nodes, i);

      ok = write_file_entry (fd, dir_fd, tree->dir, checkpoint->id, "definition.xml", error);
      if (ok && checkpoint->has_state)
        ok = write_file_entry (fd, dir_fd, tree->dir, checkpoint->id, "state", error)
             && write_file_entry (fd, dir_fd, tree->dir, checkpoint->id, "memory", error);
    }
  if (dir_fd >= 0)
    close (dir_fd);
  return ok && write_all (fd, &end, sizeof end, error);
}

/* ---- reading ---- */

typedef struct
{
  int fd;
  GChecksum *checksum;
  guint64 size;
  const char *entry; /* the entry being read, for messages; NULL: between entries */
} ArchiveReader;

/* Exactly @length bytes of the stream; Failed when it ends before them. */
static gboolean
read_exactly (ArchiveReader *reader, void *buffer, gsize length, GError **error)
{
  guint8 *p = buffer;

  while (length > 0)
    {
      ssize_t got = read (reader->fd, p, length);
      if (got < 0 && errno == EINTR)
        continue;
      if (got < 0)
        {
          int errsv = errno;
          g_set_error (error, VIREO_ERROR, VIREO_ERROR_FAILED, "cannot read the checkpoint archive: %s",
                       g_strerror (errsv));
          return FALSE;
        }
      if (got == 0)
        {
          if (reader->entry != NULL)
            g_set_error (error, VIREO_ERROR, VIREO_ERROR_FAILED,
                         "the checkpoint archive ended early, in “%s”", reader->entry);
          else
            g_set_error_literal (error, VIREO_ERROR, VIREO_ERROR_FAILED,
                                 "the checkpoint archive ended early, before its end marker");
          return FALSE;
        }
      g_checksum_update (reader->checksum, p, (gsize) got);
      reader->size += (guint64) got;
      p += got;
      length -= (gsize) got;
    }
  return TRUE;
}

/* Whether @name is one an archive may hold; *@id_out is its checkpoint's id ("" for tree.ini). */
static gboolean
name_is_allowed (const char *name, gsize length, char **id_out)
{
  const char *slash;
  g_autofree char *id = NULL;

  if (memchr (name, '\0', length) != NULL || !g_utf8_validate (name, (gssize) length, NULL))
    return FALSE;
  if (strcmp (name, TREE_NAME) == 0)
    {
      *id_out = g_strdup ("");
      return TRUE;
    }
  slash = strchr (name, '/');
  if (slash == NULL)
    return FALSE;
  id = g_strndup (name, (gsize) (slash - name));
  if (!vireo_checkpoint_id_is_valid (id) || !g_strv_contains (checkpoint_files, slash + 1))
    return FALSE;
  *id_out = g_steal_pointer (&id);
  return TRUE;
}

static void
set_write_error (GError **error, const char *dir, const char *name, int errsv)
{
  g_set_error (error, VIREO_ERROR, VIREO_ERROR_FAILED, "cannot write %s/%s: %s", dir, name,
               g_strerror (errsv));
}

/* The file @name (allowed, new) in @dir_fd, its checkpoint's folder made first. */
static int
create_entry_file (int dir_fd, const char *dir, const char *name, const char *id, GError **error)
{
  int fd;

  if (*id != '\0' && mkdirat (dir_fd, id, 0700) < 0 && errno != EEXIST)
    {
      set_write_error (error, dir, id, errno);
      return -1;
    }
  fd = openat (dir_fd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0)
    set_write_error (error, dir, name, errno);
  return fd;
}

/* The entry's @size bytes from the stream into @out, flushed. */
static gboolean
copy_entry (ArchiveReader *reader, int out, guint64 size, const char *dir, GError **error)
{
  g_autofree guint8 *buffer = g_malloc (COPY_CHUNK_BYTES);

  while (size > 0)
    {
      gsize chunk = (gsize) MIN (size, COPY_CHUNK_BYTES);
      g_autoptr (GError) local = NULL;

      if (!read_exactly (reader, buffer, chunk, error))
        return FALSE;
      if (!write_all (out, buffer, chunk, &local))
        {
          g_set_error (error, VIREO_ERROR, VIREO_ERROR_FAILED, "cannot write %s/%s: %s", dir, reader->entry,
                       local->message);
          return FALSE;
        }
      size -= chunk;
    }
  if (fsync (out) < 0)
    {
      set_write_error (error, dir, reader->entry, errno);
      return FALSE;
    }
  return TRUE;
}

/* One entry after its name length (not 0); FALSE with the error. */
static gboolean
read_entry (ArchiveReader *reader, guint16 name_length, int dir_fd, const char *dir, GHashTable *seen,
            GError **error)
{
  g_autofree char *name = g_malloc0 ((gsize) name_length + 1);
  g_autofree char *id = NULL;
  guint64 size_be, size;
  int out;
  gboolean ok;

  if (!read_exactly (reader, name, name_length, error))
    return FALSE;
  if (name_length > NAME_MAX_BYTES || !name_is_allowed (name, name_length, &id))
    {
      g_autofree char *valid = g_utf8_make_valid (name, MIN (name_length, NAME_MAX_BYTES));
      g_autofree char *shown = g_strescape (valid, NULL);
      g_set_error (error, VIREO_ERROR, VIREO_ERROR_FAILED,
                   "the checkpoint archive holds “%s”, a name not allowed (only tree.ini and "
                   "<id>/definition.xml, <id>/state, <id>/memory)",
                   shown);
      return FALSE;
    }
  if (g_hash_table_size (seen) == 0 && strcmp (name, TREE_NAME) != 0)
    {
      g_set_error (error, VIREO_ERROR, VIREO_ERROR_FAILED,
                   "the checkpoint archive starts with “%s”; tree.ini must come first", name);
      return FALSE;
    }
  if (g_hash_table_contains (seen, name))
    {
      g_set_error (error, VIREO_ERROR, VIREO_ERROR_FAILED, "the checkpoint archive holds “%s” twice", name);
      return FALSE;
    }
  g_hash_table_add (seen, g_strdup (name));
  reader->entry = name;
  if (!read_exactly (reader, &size_be, sizeof size_be, error))
    return FALSE;
  size = GUINT64_FROM_BE (size_be);
  if ((strcmp (name, TREE_NAME) == 0 || g_str_has_suffix (name, "/definition.xml"))
      && size > VIREO_CHECKPOINT_ARCHIVE_SMALL_MAX)
    {
      g_set_error (error, VIREO_ERROR, VIREO_ERROR_FAILED,
                   "“%s” in the checkpoint archive has %" G_GUINT64_FORMAT " bytes, over its limit of %d",
                   name, size, VIREO_CHECKPOINT_ARCHIVE_SMALL_MAX);
      return FALSE;
    }
  if ((out = create_entry_file (dir_fd, dir, name, id, error)) < 0)
    return FALSE;
  ok = copy_entry (reader, out, size, dir, error);
  close (out);
  reader->entry = NULL;
  return ok;
}

/* Whether bytes follow the end marker already (not waiting for more: the sender may keep the pipe open). */
static gboolean
has_trailing_bytes (int fd)
{
  int flags = fcntl (fd, F_GETFL);
  char byte;
  ssize_t got;

  if (flags < 0 || fcntl (fd, F_SETFL, flags | O_NONBLOCK) < 0)
    return FALSE;
  got = read (fd, &byte, 1);
  fcntl (fd, F_SETFL, flags);
  return got > 0;
}

gboolean
vireo_checkpoint_archive_read (int fd, const char *dir, guint64 *size, char **sha256, GError **error)
{
  g_autoptr (GChecksum) checksum = g_checksum_new (G_CHECKSUM_SHA256);
  g_autoptr (GHashTable) seen = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  ArchiveReader reader = { fd, checksum, 0, NULL };
  char magic[VIREO_CHECKPOINT_ARCHIVE_MAGIC_LEN];
  gboolean ok = TRUE;
  int dir_fd;

  if (mkdir (dir, 0700) < 0 || (dir_fd = open (dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0)
    {
      int errsv = errno;
      g_set_error (error, VIREO_ERROR, VIREO_ERROR_FAILED, "cannot create %s: %s", dir, g_strerror (errsv));
      return FALSE;
    }
  if (!read_exactly (&reader, magic, sizeof magic, error))
    ok = FALSE;
  else if (memcmp (magic, VIREO_CHECKPOINT_ARCHIVE_MAGIC, sizeof magic) != 0)
    {
      g_set_error_literal (error, VIREO_ERROR, VIREO_ERROR_FAILED,
                           "this is not a checkpoint archive: its magic is not “VIREOCKP1”");
      ok = FALSE;
    }
  while (ok)
    {
      guint16 name_length;

      if (!read_exactly (&reader, &name_length, sizeof name_length, error))
        ok = FALSE;
      else if ((name_length = GUINT16_FROM_BE (name_length)) == 0)
        break;
      else
        ok = read_entry (&reader, name_length, dir_fd, dir, seen, error);
    }
  if (ok && !g_hash_table_contains (seen, TREE_NAME))
    {
      g_set_error_literal (error, VIREO_ERROR, VIREO_ERROR_FAILED, "the checkpoint archive has no tree.ini");
      ok = FALSE;
    }
  if (ok && has_trailing_bytes (fd))
    {
      g_set_error_literal (error, VIREO_ERROR, VIREO_ERROR_FAILED,
                           "the checkpoint archive goes on after its end marker");
      ok = FALSE;
    }
  if (ok && fsync (dir_fd) < 0)
    {
      set_write_error (error, dir, ".", errno);
      ok = FALSE;
    }
  close (dir_fd);
  if (!ok)
    return FALSE;
  *size = reader.size;
  *sha256 = g_strdup (g_checksum_get_string (checksum));
  return TRUE;
}
