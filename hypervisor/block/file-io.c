/* file-io.c — a block's file I/O through its aio, with aligned bounce buffers where direct I/O needs an
 * alignment the caller's buffers, offset or length lack (a write not covering whole aligned blocks reads
 * them first), and those read-modify-writes serialized against overlapping writes.  Formats call it for
 * their data; it is apart from block.c so that a format driver can be tested without the block core. */
#include "block-private.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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

/* One transfer with direct I/O on: through an aligned buffer when the caller's is not aligned, and for
 * a write, tracked in block->direct_writes while in flight. */
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
  uint8_t *buffer;            /* aligned_length bytes, aligned; NULL: the caller's buffers go as they are */
  gboolean read_modify_write; /* the blocks around the data are read first */
  gboolean reading_for_write; /* ... and that read is in flight */
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

/* Whether two writes may not be in flight together: they touch a common aligned block and one of them
 * reads it first (it would write back what it read over the other's data). */
static gboolean
bounces_conflict (const Bounce *a, const Bounce *b)
{
  return (a->read_modify_write || b->read_modify_write)
         && a->aligned_offset < b->aligned_offset + b->aligned_length
         && b->aligned_offset < a->aligned_offset + a->aligned_length;
}

static gboolean
conflicts_in_flight (HvBlock *block, const Bounce *bounce)
{
  for (GList *l = block->direct_writes; l != NULL; l = l->next)
    if (bounces_conflict (l->data, bounce))
      return TRUE;
  return FALSE;
}

static void bounce_done (void *opaque, int64_t result);

/* The current step of @bounce as one aio request: FALSE when the queue is full. */
static gboolean
bounce_submit (Bounce *bounce, GError **error)
{
  HvBlock *block = bounce->block;
  struct iovec whole = { bounce->buffer, bounce->aligned_length };
  HvAioOp op = bounce->reading_for_write ? HV_AIO_READ : bounce->op;

  if (bounce->buffer == NULL)
    return hv_aio_submit (block->aio, op, block->fd, bounce->iov, bounce->n_iov, (int64_t) bounce->offset, 0,
                          bounce_done, bounce, error);
  return hv_aio_submit (block->aio, op, block->fd, &whole, 1, (int64_t) bounce->aligned_offset, 0,
                        bounce_done, bounce, error);
}

/* The current step done here, synchronously, when the aio queue has no room: a step that follows
 * another (the write after its read, a write that waited) cannot be refused any more. */
static void
bounce_run_sync (Bounce *bounce)
{
  HvBlock *block = bounce->block;
  gboolean write = !bounce->reading_for_write && bounce->op == HV_AIO_WRITE;
  struct iovec whole = { bounce->buffer, bounce->aligned_length };
  const struct iovec *iov = bounce->buffer ? &whole : bounce->iov;
  unsigned n_iov = bounce->buffer ? 1 : bounce->n_iov;
  off_t offset = (off_t) (bounce->buffer ? bounce->aligned_offset : bounce->offset);
  ssize_t n;

  do
    n = write ? pwritev (block->fd, iov, (int) n_iov, offset) : preadv (block->fd, iov, (int) n_iov, offset);
  while (n < 0 && errno == EINTR);
  bounce_done (bounce, n < 0 ? -errno : n);
}

static void
bounce_step (Bounce *bounce)
{
  g_autoptr (GError) error = NULL;

  if (!bounce_submit (bounce, &error))
    {
      g_debug ("disk I/O done synchronously (%s)", error->message);
      bounce_run_sync (bounce);
    }
}

/* Starts the writes that waited for overlapping ones, in order: one waits while an earlier one that
 * overlaps it still waits. */
static void
start_waiting_writes (HvBlock *block)
{
  GList *l = block->direct_waiting.head;

  while (l != NULL)
    {
      Bounce *bounce = l->data;
      GList *next = l->next;
      gboolean blocked = conflicts_in_flight (block, bounce);

      for (GList *earlier = block->direct_waiting.head; earlier != l && !blocked; earlier = earlier->next)
        blocked = bounces_conflict (earlier->data, bounce)
                  || (((Bounce *) earlier->data)->aligned_offset
                          < bounce->aligned_offset + bounce->aligned_length
                      && bounce->aligned_offset < ((Bounce *) earlier->data)->aligned_offset
                                                      + ((Bounce *) earlier->data)->aligned_length);
      if (!blocked)
        {
          g_queue_delete_link (&block->direct_waiting, l);
          block->direct_writes = g_list_prepend (block->direct_writes, bounce);
          bounce_step (bounce);
          /* That may have completed writes and changed the queue: start over. */
          start_waiting_writes (block);
          return;
        }
      l = next;
    }
}

static void
bounce_done (void *opaque, int64_t result)
{
  Bounce *bounce = opaque;
  HvBlock *block = bounce->block;

  if (result >= 0 && bounce->reading_for_write)
    {
      /* Past the end of the file reads as zeros. */
      if ((uint64_t) result < bounce->aligned_length)
        memset (bounce->buffer + result, 0, bounce->aligned_length - (uint64_t) result);
      bounce->reading_for_write = FALSE;
      copy_from_iov (bounce->buffer + (bounce->offset - bounce->aligned_offset), bounce->iov, bounce->n_iov);
      bounce_step (bounce);
      return;
    }
  if (result >= 0 && bounce->op == HV_AIO_READ)
    {
      if (bounce->buffer != NULL)
        {
          if ((uint64_t) result < bounce->aligned_length)
            memset (bounce->buffer + result, 0, bounce->aligned_length - (uint64_t) result);
          copy_to_iov (bounce->iov, bounce->n_iov,
                       bounce->buffer + (bounce->offset - bounce->aligned_offset));
          result = (int64_t) bounce->length;
        }
    }
  else if (result >= 0 && bounce->buffer != NULL)
    result = (int64_t) bounce->length;
  if (bounce->op == HV_AIO_WRITE)
    block->direct_writes = g_list_remove (block->direct_writes, bounce);
  bounce->callback (bounce->opaque, result);
  bounce_free (bounce);
  if (block->direct_waiting.length > 0)
    start_waiting_writes (block);
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
  gboolean aligned;

  if (!block->direct || (op != HV_AIO_READ && op != HV_AIO_WRITE))
    return hv_aio_submit (block->aio, op, block->fd, iov, n_iov, (int64_t) offset, length, callback, opaque,
                          error);
  aligned = is_aligned (block, iov, n_iov, offset);
  /* An aligned read needs nothing; an aligned write only to be known to the read-modify-writes. */
  if (aligned && op == HV_AIO_READ)
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
  bounce->callback = callback;
  bounce->opaque = opaque;
  if (!aligned)
    {
      bounce->buffer = aligned_alloc0 (bounce->aligned_length);
      if (op == HV_AIO_WRITE)
        {
          if (bounce->aligned_offset == offset && bounce->aligned_length == total)
            copy_from_iov (bounce->buffer, iov, n_iov);
          else
            bounce->read_modify_write = bounce->reading_for_write = TRUE;
        }
    }
  if (op == HV_AIO_WRITE)
    {
      /* Every write is tracked: a plain one in flight must not be overwritten by what an overlapping
       * read-modify-write read before it landed, nor a read-modify-write by another. */
      if (conflicts_in_flight (block, bounce) || block->direct_waiting.length > 0)
        {
          g_queue_push_tail (&block->direct_waiting, bounce);
          return TRUE;
        }
      block->direct_writes = g_list_prepend (block->direct_writes, bounce);
    }
  if (!bounce_submit (bounce, error))
    {
      block->direct_writes = g_list_remove (block->direct_writes, bounce);
      bounce_free (bounce);
      return FALSE;
    }
  return TRUE;
}
