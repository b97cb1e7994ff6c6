/* block-test-support.c — TEST ONLY: the few block-core functions a format driver calls
 * (hv_block_open_backing, hv_block_request_complete, hv_block_free) and a raw driver, so qcow2.c can be
 * tested before and without block.c.  They are weak: where block.c is linked in, its own ones win.  The
 * product never links this file. */
#include "block-test-support.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static gboolean
test_raw_open (HvBlock *block, GError **error)
{
  struct stat st;

  if (fstat (block->fd, &st) < 0)
    return g_set_error (error, HV_ERROR, HV_ERROR_FAILED, "fstat: %s", g_strerror (errno)), FALSE;
  block->size = st.st_size / 512 * 512;
  return TRUE;
}

static void
test_raw_close (HvBlock *block)
{
}

static gboolean
test_raw_submit (HvBlock *block, HvBlockRequest *request)
{
  hv_block_request_complete (request, -ENOTSUP); /* the tests read raw backing files through qcow2 only */
  return TRUE;
}

__attribute__ ((weak)) const HvBlockDriver hv_block_raw_driver = {
  .format = HV_BLOCK_FORMAT_RAW,
  .name = "raw",
  .open = test_raw_open,
  .close = test_raw_close,
  .submit = test_raw_submit,
};

__attribute__ ((weak)) void
hv_block_request_complete (HvBlockRequest *request, int result)
{
  request->callback (request->opaque, result);
  g_free (request->iov);
  g_free (request);
}

__attribute__ ((weak)) void
hv_block_free (HvBlock *block)
{
  while (block != NULL)
    {
      HvBlock *backing = block->backing;

      block->driver->close (block);
      close (block->fd);
      g_free (block);
      block = backing;
    }
}

static HvBlock *
block_new (int fd, gboolean read_only, unsigned depth, HvBlockOpenBacking open_backing, void *opaque,
           GMainContext *context, HvAio *aio)
{
  HvBlock *block = g_new0 (HvBlock, 1);

  block->fd = fd;
  block->options.read_only = read_only;
  block->depth = depth;
  block->open_backing = open_backing;
  block->open_backing_opaque = opaque;
  block->context = context;
  block->aio = aio;
  return block;
}

__attribute__ ((weak)) HvBlock *
hv_block_open_backing (HvBlock *block, const char *name, HvBlockFormat format, GError **error)
{
  HvBlock *backing;
  uint8_t head[4096];
  ssize_t len;
  int fd;

  if (block->depth + 1 > HV_BLOCK_MAX_CHAIN)
    return g_set_error (error, HV_ERROR, HV_ERROR_BAD_IMAGE,
                        "backing chain is deeper than %u images (a loop?)", HV_BLOCK_MAX_CHAIN),
           NULL;
  if (block->open_backing == NULL)
    return g_set_error (error, HV_ERROR, HV_ERROR_INVALID_ARGUMENT, "image has a backing file (%s)", name),
           NULL;
  fd = block->open_backing (block->open_backing_opaque, block->depth + 1, name, format, error);
  if (fd < 0)
    return NULL;
  backing = block_new (fd, TRUE, block->depth + 1, block->open_backing, block->open_backing_opaque,
                       block->context, block->aio);
  len = pread (fd, head, sizeof head, 0);
  if (format == HV_BLOCK_FORMAT_QCOW2
      || (format == HV_BLOCK_FORMAT_AUTO && hv_block_qcow2_driver.probe (head, MAX (len, 0))))
    backing->driver = &hv_block_qcow2_driver;
  else
    backing->driver = &hv_block_raw_driver;
  if (!backing->driver->open (backing, error))
    {
      close (fd);
      g_free (backing);
      return NULL;
    }
  return backing;
}

HvBlock *
test_block_open (const HvBlockDriver *driver, int fd, gboolean read_only, HvBlockOpenBacking open_backing,
                 void *opaque, GMainContext *context, HvAio *aio, GError **error)
{
  HvBlock *block = block_new (fd, read_only, 0, open_backing, opaque, context, aio);

  block->driver = driver;
  if (!driver->open (block, error))
    {
      close (fd);
      g_free (block);
      return NULL;
    }
  return block;
}

typedef struct
{
  int *result;
  gboolean *done;
} TestIo;

static void
test_io_done (void *opaque, int result)
{
  TestIo *io = opaque;

  *io->result = result;
  *io->done = TRUE;
  g_free (io);
}

void
test_block_submit (HvBlock *block, HvBlockOp op, void *buf, uint64_t offset, uint64_t length, int *result,
                   gboolean *done)
{
  HvBlockRequest *request = g_new0 (HvBlockRequest, 1);
  TestIo *io = g_new (TestIo, 1);

  io->result = result;
  io->done = done;
  *done = FALSE;

  request->block = block;
  request->op = op;
  request->iov = g_new (struct iovec, 1);
  request->iov[0].iov_base = buf;
  request->iov[0].iov_len = length;
  request->n_iov = buf != NULL ? 1 : 0;
  request->offset = offset;
  request->length = length;
  request->callback = test_io_done;
  request->opaque = io;
  g_assert_true (block->driver->submit (block, request));
  g_assert_false (*done); /* completions come from the context, after submit returned */
}

int
test_block_io (HvBlock *block, HvBlockOp op, void *buf, uint64_t offset, uint64_t length)
{
  gboolean done;
  int result;

  test_block_submit (block, op, buf, offset, length, &result, &done);
  while (!done)
    g_main_context_iteration (block->context, TRUE);
  return result;
}
