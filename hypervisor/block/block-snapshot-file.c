/* block-snapshot-file.c — internal snapshots of an image file not in use (a stopped machine's disk):
 * opened, locked and closed around the operation. */
#include "block-private.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

typedef struct
{
  char *dir;
} SnapshotOpener;

static int
snapshot_open_backing (void *opaque, unsigned depth, const char *name, HvBlockFormat format, GError **error)
{
  SnapshotOpener *opener = opaque;
  g_autofree char *path = g_path_is_absolute (name) ? g_strdup (name)
                                                    : g_build_filename (opener->dir, name, NULL);
  int fd = open (path, O_RDONLY | O_CLOEXEC);

  if (fd < 0)
    g_set_error (error, HV_ERROR, errno == ENOENT ? HV_ERROR_NOT_FOUND : HV_ERROR_FAILED,
                 "cannot open its backing file %s: %s", path, g_strerror (errno));
  return fd;
}

gboolean
hv_block_snapshot_file (const char *path, HvBlockSnapshotOp op, const char *name, GError **error)
{
  HvBlockOptions options = { .format = HV_BLOCK_FORMAT_AUTO, .cache = HV_BLOCK_CACHE_WRITEBACK };
  g_autofree char *dir = g_path_get_dirname (path);
  SnapshotOpener opener = { dir };
  g_autoptr (HvBlock) block = NULL;
  g_autoptr (GError) local = NULL;
  int fd = open (path, O_RDWR | O_CLOEXEC);

  if (fd < 0)
    {
      int saved = errno;

      if (saved == EACCES || saved == EROFS || saved == EPERM)
        return g_set_error (error, HV_ERROR, HV_ERROR_PERMISSION, "%s: cannot %s a snapshot: it is read-only",
                            path, hv_block_snapshot_op_name (op)),
               FALSE;
      return g_set_error (error, HV_ERROR, saved == ENOENT ? HV_ERROR_NOT_FOUND : HV_ERROR_FAILED, "%s: %s",
                          path, g_strerror (saved)),
             FALSE;
    }
  block = hv_block_open (fd, &options, snapshot_open_backing, &opener, &local);
  if (block == NULL || !hv_block_snapshot (block, op, name, &local))
    return g_set_error (error, local->domain, local->code, "%s: cannot %s snapshot \"%s\": %s", path,
                        hv_block_snapshot_op_name (op), name, local->message),
           FALSE;
  return TRUE;
}
