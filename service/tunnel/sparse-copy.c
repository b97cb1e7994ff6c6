/* sparse-copy.c — a byte stream into a sparse file, zero blocks left as holes (sparse-copy.h). */
#include "sparse-copy.h"

#include <errno.h>
#include <fcntl.h>
#include <gio/gio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static gboolean
all_zeros (const guint8 *data, gsize len)
{
  /* The first byte, then the rest compared with itself shifted by one: memcmp is fast. */
  return len == 0 || (data[0] == 0 && memcmp (data, data + 1, len - 1) == 0);
}

static gboolean
set_errno_error (GError **error, int errsv, const char *what, guint64 offset)
{
  g_set_error (error, G_IO_ERROR, g_io_error_from_errno (errsv),
               "cannot %s at byte %" G_GUINT64_FORMAT ": %s", what, offset, g_strerror (errsv));
  return FALSE;
}

static gboolean
write_all (int fd, guint64 offset, const guint8 *data, gsize len, GError **error)
{
  while (len > 0)
    {
      ssize_t written = pwrite (fd, data, MIN (len, (gsize) G_MAXSSIZE), (off_t) offset);

      if (written < 0 && errno == EINTR)
        continue;
      if (written < 0)
        return set_errno_error (error, errno, "write", offset);
      if (written == 0)
        return set_errno_error (error, ENOSPC, "write", offset);
      data += written;
      offset += (guint64) written;
      len -= (gsize) written;
    }
  return TRUE;
}

/* Zeros at @offset (@len bytes) of a file whose old bytes there must go: a hole if the file system
 * punches one, else written zeros. */
static gboolean
clear_range (int fd, guint64 offset, const guint8 *zeros, gsize len, GError **error)
{
  if (fallocate (fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t) offset, (off_t) len) == 0)
    return TRUE;
  if (errno != EOPNOTSUPP && errno != ENOSYS)
    return set_errno_error (error, errno, "punch a hole", offset);
  return write_all (fd, offset, zeros, len, error);
}

gboolean
vireo_sparse_write (int fd, guint64 offset, const void *buf, gsize len, GError **error)
{
  const guint8 *data = buf;
  guint64 end_of_file;
  struct stat st;
  gsize done = 0;

  if (fstat (fd, &st) < 0)
    return set_errno_error (error, errno, "look at the file", offset);
  end_of_file = (guint64) st.st_size;
  while (done < len)
    {
      /* The run of blocks up to the next boundary where zero and non-zero change. */
      guint64 at = offset + done;
      gsize block = MIN (len - done, VIREO_SPARSE_BLOCK_SIZE - (gsize) (at % VIREO_SPARSE_BLOCK_SIZE));
      gboolean zero = all_zeros (data + done, block);
      gsize run = block;

      while (done + run < len)
        {
          gsize next = MIN (len - done - run, VIREO_SPARSE_BLOCK_SIZE);
          if (all_zeros (data + done + run, next) != zero)
            break;
          run += next;
        }
      if (!zero)
        {
          if (!write_all (fd, at, data + done, run, error))
            return FALSE;
        }
      else if (at < end_of_file
               && !clear_range (fd, at, data + done, (gsize) MIN ((guint64) run, end_of_file - at), error))
        return FALSE;
      done += run;
    }
  return TRUE;
}

gboolean
vireo_sparse_finish (int fd, guint64 length, GError **error)
{
  while (ftruncate (fd, (off_t) length) < 0)
    if (errno != EINTR)
      return set_errno_error (error, errno, "set the length", length);
  return TRUE;
}
