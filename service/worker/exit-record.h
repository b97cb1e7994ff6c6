/* exit-record.h — how a machine last ended, kept in a file beside its worker's socket: written by a worker
 * that ended with no vireod listening, and by vireod for every end a user must still see (a crash), read
 * by the next vireod. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

gboolean vireo_exit_record_write (const char *path, const char *uuid, const char *reason, const char *message,
                                  guint64 start_time, GError **error);

/* FALSE when there is no readable record with a reason; @message may come back empty. */
/* The same, written into folder @dir_fd under @name (aside, then renamed). */
gboolean vireo_exit_record_write_at (int dir_fd, const char *name, const char *uuid, const char *reason,
                                     const char *message, guint64 start_time, GError **error);
/* The same, written over the whole of the file open at @fd (vireod made it, empty, for this run). */
gboolean vireo_exit_record_write_fd (int fd, const char *uuid, const char *reason, const char *message,
                                     guint64 start_time, GError **error);
gboolean vireo_exit_record_read (const char *path, char **reason, char **message);

G_END_DECLS
