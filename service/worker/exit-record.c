/* exit-record.c — how a machine last ended, kept in a file beside its worker's socket (a key file, written
 * atomically, one format for the worker that writes it and the vireod that reads it). */
#include "exit-record.h"

#define GROUP "Exit"

gboolean
vireo_exit_record_write (const char *path, const char *uuid, const char *reason, const char *message,
                         guint64 start_time, GError **error)
{
  g_autoptr (GKeyFile) record = g_key_file_new ();
  g_autofree char *data = NULL;
  gsize length;

  g_key_file_set_string (record, GROUP, "uuid", uuid ? uuid : "");
  g_key_file_set_string (record, GROUP, "reason", reason ? reason : "");
  g_key_file_set_string (record, GROUP, "message", message ? message : "");
  g_key_file_set_uint64 (record, GROUP, "start-time", start_time);
  g_key_file_set_uint64 (record, GROUP, "time", (guint64) g_get_real_time ());
  data = g_key_file_to_data (record, &length, NULL);
  return g_file_set_contents_full (path, data, (gssize) length, G_FILE_SET_CONTENTS_CONSISTENT, 0600, error);
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
