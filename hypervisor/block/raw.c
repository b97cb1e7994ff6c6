/* raw.c — the raw format: the guest's disk is the file, byte for byte.  Sparse files stay sparse:
 * discard punches a hole, write-zeroes zeroes a range without writing, a flush is an fdatasync. */
#include "block-private.h"

#include <errno.h>
#include <linux/fs.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>

#define SECTOR_SIZE 512
/* Where the file system cannot zero a range, zeros are written this much at a time. */
#define ZERO_CHUNK (1u << 20)

typedef struct
{
  gboolean regular; /* a file (holes can be punched), not a block device */
} Raw;

/* A write-zeroes the file system refused, done by writing zeros. */
typedef struct
{
  uint64_t offset;
  uint64_t remaining;
} ZeroWrite;

static const uint8_t *
zero_chunk (void)
{
  static gsize zeros;

  if (g_once_init_enter (&zeros))
    {
      void *buffer = NULL;
      if (posix_memalign (&buffer, 4096, ZERO_CHUNK) != 0)
        g_error ("out of memory");
      memset (buffer, 0, ZERO_CHUNK);
      g_once_init_leave (&zeros, (gsize) buffer);
    }
  return (const uint8_t *) zeros;
}

static gboolean
raw_probe (const uint8_t *head, size_t len)
{
  return TRUE;
}

static gboolean
raw_open (HvBlock *block, GError **error)
{
  Raw *raw = g_new0 (Raw, 1);
  struct stat st;
  uint64_t size = 0;

  if (fstat (block->fd, &st) < 0)
    {
      int saved = errno;
      g_free (raw);
      g_set_error (error, HV_ERROR, HV_ERROR_FAILED, "cannot read its size: %s", g_strerror (saved));
      return FALSE;
    }
  raw->regular = S_ISREG (st.st_mode);
  if (raw->regular)
    size = (uint64_t) st.st_size;
  else if (ioctl (block->fd, BLKGETSIZE64, &size) < 0)
    {
      int saved = errno;
      g_free (raw);
      g_set_error (error, HV_ERROR, HV_ERROR_FAILED, "cannot read the block device's size: %s",
                   g_strerror (saved));
      return FALSE;
    }
  /* The guest sees whole sectors; a partial last one is not part of the disk. */
  block->size = size & ~(uint64_t) (SECTOR_SIZE - 1);
  block->impl = raw;
  return TRUE;
}

static void
raw_close (HvBlock *block)
{
  g_clear_pointer (&block->impl, g_free);
}

static gboolean
raw_can_discard (HvBlock *block)
{
  Raw *raw = block->impl;
  return raw->regular;
}

static void raw_done (void *opaque, int64_t result);

static void
write_zeroes_done (void *opaque, int64_t result)
{
  HvBlockRequest *request = opaque;
  ZeroWrite *zero = request->driver_data;
  g_autoptr (GError) error = NULL;
  struct iovec iov;

  if (result >= 0)
    {
      zero->offset += (uint64_t) result;
      zero->remaining -= MIN ((uint64_t) result, zero->remaining);
    }
  if (result < 0 || zero->remaining == 0)
    {
      g_free (zero);
      hv_block_request_complete (request, result < 0 ? (int) result : 0);
      return;
    }
  iov = (struct iovec){ (void *) zero_chunk (), MIN (zero->remaining, ZERO_CHUNK) };
  if (!hv_block_file_io (request->block, HV_AIO_WRITE, &iov, 1, zero->offset, 0, write_zeroes_done, request,
                         &error))
    {
      g_debug ("writing zeros: %s", error->message);
      g_free (zero);
      hv_block_request_complete (request, -EIO);
    }
}

static void
raw_done (void *opaque, int64_t result)
{
  HvBlockRequest *request = opaque;

  if (result == -EOPNOTSUPP || (result == -EINVAL && request->op == HV_BLOCK_WRITE_ZEROES))
    {
      if (request->op == HV_BLOCK_DISCARD)
        {
          /* Discarding is advice: where holes cannot be punched the data simply stays. */
          hv_block_request_complete (request, 0);
          return;
        }
      if (request->op == HV_BLOCK_WRITE_ZEROES)
        {
          ZeroWrite *zero = g_new0 (ZeroWrite, 1);
          zero->offset = request->offset;
          zero->remaining = request->length;
          request->driver_data = zero;
          write_zeroes_done (request, 0);
          return;
        }
    }
  if (result >= 0 && request->op == HV_BLOCK_READ && (uint64_t) result < request->length)
    {
      /* The file shrank under us: what is gone reads as zeros. */
      uint64_t skip = (uint64_t) result;
      for (unsigned i = 0; i < request->n_iov; i++)
        {
          uint64_t here = MIN (skip, request->iov[i].iov_len);
          memset ((uint8_t *) request->iov[i].iov_base + here, 0, request->iov[i].iov_len - here);
          skip -= here;
        }
    }
  hv_block_request_complete (request, result < 0 ? (int) result : 0);
}

static gboolean
raw_submit (HvBlock *block, HvBlockRequest *request)
{
  static const HvAioOp ops[] = {
    [HV_BLOCK_READ] = HV_AIO_READ,
    [HV_BLOCK_WRITE] = HV_AIO_WRITE,
    [HV_BLOCK_FLUSH] = HV_AIO_FLUSH,
    [HV_BLOCK_DISCARD] = HV_AIO_DISCARD,
    [HV_BLOCK_WRITE_ZEROES] = HV_AIO_WRITE_ZEROES,
  };
  g_autoptr (GError) error = NULL;

  if (hv_block_file_io (block, ops[request->op], request->iov, request->n_iov, request->offset,
                        request->length, raw_done, request, &error))
    return TRUE;
  if (g_error_matches (error, HV_ERROR, HV_ERROR_INVALID_STATE))
    return FALSE;
  g_debug ("raw disk request: %s", error->message);
  hv_block_request_complete (request, -EINVAL);
  return TRUE;
}

const HvBlockDriver hv_block_raw_driver = {
  .format = HV_BLOCK_FORMAT_RAW,
  .name = "raw",
  .probe = raw_probe,
  .open = raw_open,
  .close = raw_close,
  .submit = raw_submit,
  .can_discard = raw_can_discard,
};
