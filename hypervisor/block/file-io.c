/* file-io.c — a block's file I/O through its aio, with aligned bounce buffers where direct I/O needs an
 * alignment the caller's buffers, offset or length lack (a write not covering whole aligned blocks reads
 * them first).  Formats call it for their data; it is apart from block.c so that a format driver can be
 * tested without the block core. */
#include "block-private.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define BUFFER_ALIGN 4096

static void *
aligned_alloc0 (size_t size)
{
  void *buffer = NULL;

  if (posix_memalign (&buffer, BUFFER_ALIGN, MAX (size, 1)) != 0)
    g_error ("out of memory (%zu bytes)", size);
  memset (buffer, 0, size);
  return buffer;
}

typedef struct
{
  HvBlock *block;
  HvAioOp op;
  struct iovec *iov; /* the caller's buffers */
  unsigned n_iov;
  uint64_t offset; /* the caller's range */
  uint64_t length;
  uint64_t aligned_offset;
  uint64_t aligned_length;
  uint8_t *buffer; /* aligned_length bytes, aligned */
  gboolean reading_for_write;
  HvAioCallback callback;
  void *opaque;
} Bounce;

static void
bounce_free (Bounce *bounce)
{
  free (bounce->buffer);
  g_free (bounce->iov);
  g_free (bounce);
}

static void
copy_from_iov (uint8_t *to, const struct iovec *iov, unsigned n_iov)
{
  for (unsigned i = 0; i < n_iov; i++)
    {
      memcpy (to, iov[i].iov_base, iov[i].iov_len);
      to += iov[i].iov_len;
    }
}

static void
copy_to_iov (const struct iovec *iov, unsigned n_iov, const uint8_t *from)
{
  for (unsigned i = 0; i < n_iov; i++)
    {
      memcpy (iov[i].iov_base, from, iov[i].iov_len);
      from += iov[i].iov_len;
    }
}

static void bounce_done (void *opaque, int64_t result);

static gboolean
bounce_submit (Bounce *bounce, HvAioOp op, GError **error)
{
  struct iovec whole = { bounce->buffer, bounce->aligned_length };

  return hv_aio_submit (bounce->block->aio, op, bounce->block->fd, &whole, 1,
                        (int64_t) bounce->aligned_offset, 0, bounce_done, bounce, error);
}

static void
bounce_done (void *opaque, int64_t result)
{
  Bounce *bounce = opaque;
  g_autoptr (GError) error = NULL;

  if (result >= 0 && (bounce->op == HV_AIO_READ || bounce->reading_for_write))
    {
      /* Past the end of the file reads as zeros. */
      if ((uint64_t) result < bounce->aligned_length)
        memset (bounce->buffer + result, 0, bounce->aligned_length - (uint64_t) result);
      if (bounce->op == HV_AIO_READ)
        {
          copy_to_iov (bounce->iov, bounce->n_iov,
                       bounce->buffer + (bounce->offset - bounce->aligned_offset));
          result = (int64_t) bounce->length;
        }
      else
        {
          bounce->reading_for_write = FALSE;
          copy_from_iov (bounce->buffer + (bounce->offset - bounce->aligned_offset), bounce->iov,
                         bounce->n_iov);
          if (bounce_submit (bounce, HV_AIO_WRITE, &error))
            return;
          g_debug ("a disk write could not follow its read: %s", error->message);
          result = -EIO;
        }
    }
  else if (result >= 0)
    result = (int64_t) bounce->length;
  bounce->callback (bounce->opaque, result);
  bounce_free (bounce);
}

static gboolean
is_aligned (HvBlock *block, const struct iovec *iov, unsigned n_iov, uint64_t offset)
{
  uint64_t mask = block->alignment - 1;
  uint64_t total = 0;

  if (offset & mask)
    return FALSE;
  for (unsigned i = 0; i < n_iov; i++)
    {
      if (((uintptr_t) iov[i].iov_base & mask) || (iov[i].iov_len & mask))
        return FALSE;
      total += iov[i].iov_len;
    }
  return (total & mask) == 0;
}

gboolean
hv_block_file_io (HvBlock *block, HvAioOp op, const struct iovec *iov, unsigned n_iov, uint64_t offset,
                  uint64_t length, HvAioCallback callback, void *opaque, GError **error)
{
  Bounce *bounce;
  uint64_t end, total = 0;

  if (!block->direct || (op != HV_AIO_READ && op != HV_AIO_WRITE) || is_aligned (block, iov, n_iov, offset))
    return hv_aio_submit (block->aio, op, block->fd, iov, n_iov, (int64_t) offset, length, callback, opaque,
                          error);

  for (unsigned i = 0; i < n_iov; i++)
    total += iov[i].iov_len;
  if (offset > G_MAXINT64 - total - block->alignment)
    {
      g_set_error (error, HV_ERROR, HV_ERROR_INVALID_ARGUMENT, "a disk transfer past the largest offset");
      return FALSE;
    }
  bounce = g_new0 (Bounce, 1);
  bounce->block = block;
  bounce->op = op;
  bounce->iov = g_memdup2 (iov, n_iov * sizeof *iov);
  bounce->n_iov = n_iov;
  bounce->offset = offset;
  bounce->length = total;
  bounce->aligned_offset = offset & ~(uint64_t) (block->alignment - 1);
  end = (offset + total + block->alignment - 1) & ~(uint64_t) (block->alignment - 1);
  bounce->aligned_length = end - bounce->aligned_offset;
  bounce->buffer = aligned_alloc0 (bounce->aligned_length);
  bounce->callback = callback;
  bounce->opaque = opaque;
  if (op == HV_AIO_WRITE)
    {
      if (bounce->aligned_offset == offset && bounce->aligned_length == total)
        copy_from_iov (bounce->buffer, iov, n_iov);
      else
        bounce->reading_for_write = TRUE; /* the blocks around the data are read first */
    }
  if (!bounce_submit (bounce, op == HV_AIO_WRITE && bounce->reading_for_write ? HV_AIO_READ : op, error))
    {
      bounce_free (bounce);
      return FALSE;
    }
  return TRUE;
}
