/* exit-record.c — how a machine last ended, kept in a file beside its worker's socket (a key file, written
 * atomically, one format for the worker that writes it and the vireod that reads it). */
#include "exit-record.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

#define GROUP "Exit"

static char *
record_data (const char *uuid, const char *reason, const char *message, guint64 start_time, gsize *length)
{
  g_autoptr (GKeyFile) record = g_key_file_new ();

  g_key_file_set_string (record, GROUP, "uuid", uuid ? uuid : "");
  g_key_file_set_string (record, GROUP, "reason", reason ? reason : "");
  g_key_file_set_string (record, GROUP, "message", message ? message : "");
  g_key_file_set_uint64 (record, GROUP, "start-time", start_time);
  g_key_file_set_uint64 (record, GROUP, "time", (guint64) g_get_real_time ());
  return g_key_file_to_data (record, length, NULL);
}

static gboolean
set_errno_error (GError **error, const char *what)
{
  int saved = errno;
  g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (saved), "%s: %s", what, g_strerror (saved));
  return FALSE;
}

static gboolean
write_all (int fd, const char *data, gsize length, GError **error)
{
  gsize done = 0;

  while (done < length)
    {
      ssize_t n = pwrite (fd, data + done, length - done, (off_t) done);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        return set_errno_error (error, "cannot write the exit record");
      done += (gsize) n;
    }
  return TRUE;
}

gboolean
vireo_exit_record_write (const char *path, const char *uuid, const char *reason, const char *message,
                         guint64 start_time, GError **error)
{
  gsize length;
  g_autofree char *data = record_data (uuid, reason, message, start_time, &length);

  return g_file_set_contents_full (path, data, (gssize) length, G_FILE_SET_CONTENTS_CONSISTENT, 0600, error);
}

gboolean
vireo_exit_record_write_at (int dir_fd, const char *name, const char *uuid, const char *reason,
                            const char *message, guint64 start_time, GError **error)
{
  gsize length;
  g_autofree char *data = record_data (uuid, reason, message, start_time, &length);
  g_autofree char *temp = g_strconcat (name, ".tmp", NULL);
  int fd;

  /* Written aside and renamed, so a reader sees the old record or the new one. */
  unlinkat (dir_fd, temp, 0);
  fd = openat (dir_fd, temp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0)
    return set_errno_error (error, temp);
  if (!write_all (fd, data, length, error) || fsync (fd) < 0 || renameat (dir_fd, temp, dir_fd, name) < 0)
    {
      if (error && *error == NULL)
        set_errno_error (error, name);
      close (fd);
      unlinkat (dir_fd, temp, 0);
      return FALSE;
    }
  close (fd);
  return TRUE;
}

gboolean
vireo_exit_record_write_fd (int fd, const char *uuid, const char *reason, const char *message,
                            guint64 start_time, GError **error)
{
  gsize length;
  g_autofree char *data = record_data (uuid, reason, message, start_time, &length);

  /* vireod made the file empty for this run and reads it only once the worker is gone. */
  if (ftruncate (fd, 0) < 0)
    return set_errno_error (error, "cannot empty the exit record");
  return write_all (fd, data, length, error) && (fsync (fd) == 0 || set_errno_error (error, "fsync"));
}

gboolean
vireo_exit_record_read (const char *path, char **reason, char **message)
{
  g_autoptr (GKeyFile) record = g_key_file_new ();
  g_autofree char *read_reason = NULL;

  if (!g_key_file_load_from_file (record, path, G_KEY_FILE_NONE, NULL))
    return FALSE;
  read_reason = g_key_file_get_string (record, GROUP, "reason", NULL);
  if (read_reason == NULL || *read_reason == '\0')
    return FALSE;
  *reason = g_steal_pointer (&read_reason);
  *message = g_key_file_get_string (record, GROUP, "message", NULL);
  if (*message == NULL)
    *message = g_strdup ("");
  return TRUE;
}
