/* aio-threads.c — the asynchronous I/O engine for hosts without io_uring: blocking system calls on a
 * thread pool, finished requests handed back through the completion eventfd. */
#include "aio-private.h"
#include "hv.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/eventfd.h>
#include <unistd.h>

/* Enough to keep a disk busy without one device owning the machine's threads. */
#define MAX_WORKERS 4

typedef struct
{
  GThreadPool *pool;
  GQueue done; /* HvAioRequest, finished, callback not run; under the HvAio lock */
} Engine;

static int64_t
transfer (HvAioRequest *request)
{
  for (;;)
    {
      ssize_t n;

      if (request->op == HV_AIO_READ)
        n = preadv2 (request->fd, request->iov, (int) request->n_iov, request->offset, 0);
      else
        n = pwritev2 (request->fd, request->iov, (int) request->n_iov, request->offset, 0);
      if (n < 0)
        {
          if (errno == EINTR)
            continue;
          return -errno;
        }
      if (n == 0 && request->remaining > 0)
        return hv_aio_request_end_of_file (request);
      if (hv_aio_request_advance (request, (uint64_t) n))
        return request->result;
    }
}

static int64_t
perform (HvAioRequest *request)
{
  int mode;

  switch (request->op)
    {
    case HV_AIO_READ:
    case HV_AIO_WRITE:
      return transfer (request);
    case HV_AIO_FLUSH:
      return fdatasync (request->fd) < 0 ? -errno : 0;
    case HV_AIO_DISCARD:
    case HV_AIO_WRITE_ZEROES:
      mode = request->op == HV_AIO_DISCARD ? FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE
                                           : FALLOC_FL_ZERO_RANGE;
      return fallocate (request->fd, mode, request->offset, (off_t) request->length) < 0 ? -errno : 0;
    default:
      return -EINVAL;
    }
}

static void
worker (gpointer data, gpointer user_data)
{
  HvAioRequest *request = data;
  HvAio *aio = user_data;
  Engine *engine = hv_aio_get_engine_data (aio);
  gboolean cancelled;

  /* A request cancelled while it waited for a worker is not started at all; one that has started runs
   * to its end (a blocking system call cannot be taken back). */
  g_mutex_lock (hv_aio_get_lock (aio));
  cancelled = hv_aio_request_cancelled (request);
  g_mutex_unlock (hv_aio_get_lock (aio));
  request->result = cancelled ? -ECANCELED : perform (request);
  g_mutex_lock (hv_aio_get_lock (aio));
  g_queue_push_tail (&engine->done, request);
  g_mutex_unlock (hv_aio_get_lock (aio));
  (void) eventfd_write (hv_aio_get_event_fd (aio), 1);
}

static gboolean
threads_init (HvAio *aio, unsigned depth, GError **error)
{
  Engine *engine = g_new0 (Engine, 1);

  /* Not exclusive: idle workers are shared with the other pools of the process. */
  engine->pool = g_thread_pool_new (worker, aio, (int) MIN (depth, MAX_WORKERS), FALSE, error);
  if (engine->pool == NULL)
    {
      g_free (engine);
      return FALSE;
    }
  g_queue_init (&engine->done);
  hv_aio_set_engine_data (aio, engine);
  return TRUE;
}

static void
threads_submit (HvAio *aio, HvAioRequest *request)
{
  Engine *engine = hv_aio_get_engine_data (aio);

  /* Cannot fail on a non-exclusive pool: a thread is made later if not now. */
  g_thread_pool_push (engine->pool, request, NULL);
}

static void
threads_reap (HvAio *aio, GQueue *done)
{
  Engine *engine = hv_aio_get_engine_data (aio);
  HvAioRequest *request;

  while ((request = g_queue_pop_head (&engine->done)) != NULL)
    g_queue_push_tail (done, request);
}

static void
threads_cancel (HvAio *aio)
{
  /* Nothing to do: the workers look at each request's generation before they start it. */
}

static void
threads_destroy (HvAio *aio)
{
  Engine *engine = hv_aio_get_engine_data (aio);

  g_thread_pool_free (engine->pool, FALSE, TRUE);
  g_free (engine);
  hv_aio_set_engine_data (aio, NULL);
}

const HvAioEngineOps hv_aio_threads_ops = {
  .engine = HV_AIO_ENGINE_THREADS,
  .init = threads_init,
  .submit = threads_submit,
  .reap = threads_reap,
  .cancel = threads_cancel,
  .destroy = threads_destroy,
};
