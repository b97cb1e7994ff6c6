/* aio-uring.c — the asynchronous I/O engine on io_uring (liburing): one ring per HvAio, its completions
 * signalled on the HvAio's eventfd. */
#include "aio-private.h"
#include "hv.h"

#include <errno.h>
#include <fcntl.h>
#include <liburing.h>

typedef struct
{
  struct io_uring ring;
} Engine;

static const struct
{
  int opcode;
  const char *name;
} needed_ops[] = {
  { IORING_OP_READV, "READV" },
  { IORING_OP_WRITEV, "WRITEV" },
  { IORING_OP_FSYNC, "FSYNC" },
  { IORING_OP_FALLOCATE, "FALLOCATE" },
  { IORING_OP_ASYNC_CANCEL, "ASYNC_CANCEL" },
};

/* Whether the kernel has every operation the requests need; says which one it lacks. */
static gboolean
check_kernel (Engine *engine, GError **error)
{
  struct io_uring_probe *probe;

  /* Stream transfers (offset -1) need the file position feature of Linux 5.6, as does FALLOCATE. */
  if (!(engine->ring.features & IORING_FEAT_RW_CUR_POS))
    {
      g_set_error (error, HV_ERROR, HV_ERROR_FAILED, "io_uring cannot use file positions (Linux < 5.6)");
      return FALSE;
    }
  probe = io_uring_get_probe_ring (&engine->ring);
  if (probe == NULL)
    {
      g_set_error (error, HV_ERROR, HV_ERROR_FAILED, "io_uring cannot tell which operations it has");
      return FALSE;
    }
  for (unsigned i = 0; i < G_N_ELEMENTS (needed_ops); i++)
    if (!io_uring_opcode_supported (probe, needed_ops[i].opcode))
      {
        g_set_error (error, HV_ERROR, HV_ERROR_FAILED, "io_uring has no %s operation", needed_ops[i].name);
        io_uring_free_probe (probe);
        return FALSE;
      }
  io_uring_free_probe (probe);
  return TRUE;
}

static gboolean
uring_init (HvAio *aio, unsigned depth, GError **error)
{
  Engine *engine = g_new0 (Engine, 1);
  int ret;

  /* The completion queue is twice as long: it cannot overflow with at most @depth in flight. */
  ret = io_uring_queue_init (depth, &engine->ring, 0);
  if (ret < 0)
    {
      g_set_error (error, HV_ERROR, HV_ERROR_FAILED, "io_uring is not available: %s", g_strerror (-ret));
      g_free (engine);
      return FALSE;
    }
  if (!check_kernel (engine, error))
    goto fail;
  ret = io_uring_register_eventfd (&engine->ring, hv_aio_get_event_fd (aio));
  if (ret < 0)
    {
      g_set_error (error, HV_ERROR, HV_ERROR_FAILED, "io_uring cannot signal an eventfd: %s",
                   g_strerror (-ret));
      goto fail;
    }
  hv_aio_set_engine_data (aio, engine);
  return TRUE;

fail:
  io_uring_queue_exit (&engine->ring);
  g_free (engine);
  return FALSE;
}

/* Queues @request's next step in the submission ring (not submitted yet). */
static void
prepare (Engine *engine, HvAioRequest *request)
{
  struct io_uring_sqe *sqe = io_uring_get_sqe (&engine->ring);

  /* With at most depth requests in flight and each one at most one entry, there is always room; but
   * entries a failed io_uring_submit left behind would take some. */
  while (sqe == NULL)
    {
      io_uring_submit (&engine->ring);
      sqe = io_uring_get_sqe (&engine->ring);
    }
  switch (request->op)
    {
    case HV_AIO_READ:
      io_uring_prep_readv (sqe, request->fd, request->iov, request->n_iov, (uint64_t) request->offset);
      break;
    case HV_AIO_WRITE:
      io_uring_prep_writev (sqe, request->fd, request->iov, request->n_iov, (uint64_t) request->offset);
      break;
    case HV_AIO_FLUSH:
      io_uring_prep_fsync (sqe, request->fd, IORING_FSYNC_DATASYNC);
      break;
    case HV_AIO_DISCARD:
      io_uring_prep_fallocate (sqe, request->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                               (uint64_t) request->offset, request->length);
      break;
    case HV_AIO_WRITE_ZEROES:
      io_uring_prep_fallocate (sqe, request->fd, FALLOC_FL_ZERO_RANGE, (uint64_t) request->offset,
                               request->length);
      break;
    }
  io_uring_sqe_set_data (sqe, request);
}

static void
uring_submit (HvAio *aio, HvAioRequest *request)
{
  Engine *engine = hv_aio_get_engine_data (aio);

  prepare (engine, request);
}

static void
uring_flush (HvAio *aio)
{
  Engine *engine = hv_aio_get_engine_data (aio);

  /* Nothing queued: no system call.  A refusal (EAGAIN, EBUSY: the kernel is short of something) leaves
   * the entries in the ring; the next submission or completion submits them again. */
  if (io_uring_sq_ready (&engine->ring) > 0)
    io_uring_submit (&engine->ring);
}

/* Whether @request is finished after its entry completed with @res; if not, its next step is queued. */
static gboolean
completed (Engine *engine, HvAioRequest *request, int res)
{
  /* An interrupted or partial request that was cancelled stops here rather than going on. */
  if (hv_aio_request_cancelled (request)
      && (res == -EINTR
          || (res > 0 && (uint64_t) res < request->remaining && request->offset != HV_AIO_OFFSET_STREAM)))
    {
      request->result = -ECANCELED;
      return TRUE;
    }
  if (res == -EINTR)
    {
      prepare (engine, request);
      return FALSE;
    }
  if (res < 0)
    {
      request->result = res;
      return TRUE;
    }
  if (request->op != HV_AIO_READ && request->op != HV_AIO_WRITE)
    {
      request->result = 0;
      return TRUE;
    }
  if (res == 0 && request->remaining > 0)
    {
      request->result = hv_aio_request_end_of_file (request);
      return TRUE;
    }
  if (hv_aio_request_advance (request, (uint64_t) res))
    return TRUE;
  /* A partial transfer (a signal, a short read from the page cache): go on with the rest. */
  prepare (engine, request);
  return FALSE;
}

static void
uring_reap (HvAio *aio, GQueue *done)
{
  Engine *engine = hv_aio_get_engine_data (aio);
  struct io_uring_cqe *cqe;
  gboolean resubmit = io_uring_sq_ready (&engine->ring) > 0;

  while (io_uring_peek_cqe (&engine->ring, &cqe) == 0)
    {
      HvAioRequest *request = io_uring_cqe_get_data (cqe);
      int res = cqe->res;

      io_uring_cqe_seen (&engine->ring, cqe);
      /* The cancellation's own completion (how many it stopped, or why it could not). */
      if (request == NULL)
        continue;
      if (completed (engine, request, res))
        g_queue_push_tail (done, request);
      else
        resubmit = TRUE;
    }
  if (resubmit)
    io_uring_submit (&engine->ring);
}

static void
uring_cancel (HvAio *aio)
{
  Engine *engine = hv_aio_get_engine_data (aio);
  struct io_uring_sqe *sqe = io_uring_get_sqe (&engine->ring);

  /* Submitted entries leave the ring, so there is room unless failed submissions left some behind and
   * the kernel still refuses them; then the requests run to their end. */
  if (sqe == NULL)
    {
      io_uring_submit (&engine->ring);
      sqe = io_uring_get_sqe (&engine->ring);
      if (sqe == NULL)
        return;
    }
  /* Every request of the ring (Linux 5.19; older kernels refuse, and the requests run to their end). */
  io_uring_prep_cancel (sqe, NULL, IORING_ASYNC_CANCEL_ALL | IORING_ASYNC_CANCEL_ANY);
  io_uring_sqe_set_data (sqe, NULL);
  io_uring_submit (&engine->ring);
}

static void
uring_destroy (HvAio *aio)
{
  Engine *engine = hv_aio_get_engine_data (aio);

  io_uring_queue_exit (&engine->ring);
  g_free (engine);
  hv_aio_set_engine_data (aio, NULL);
}

const HvAioEngineOps hv_aio_uring_ops = {
  .engine = HV_AIO_ENGINE_IO_URING,
  .init = uring_init,
  .submit = uring_submit,
  .flush = uring_flush,
  .reap = uring_reap,
  .cancel = uring_cancel,
  .destroy = uring_destroy,
};
