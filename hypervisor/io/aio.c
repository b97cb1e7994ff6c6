/* aio.c — asynchronous file I/O requests: checking and accounting them, picking an engine, delivering
 * completions on the submitter's context, draining. */
#include "aio-private.h"
#include "hv.h"
#include "iothread.h"

#include <errno.h>
#include <glib-unix.h>
#include <poll.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

struct _HvAio
{
  GMutex lock; /* guards in_flight and the engine's queues */
  GCond idle;  /* broadcast when in_flight drops to 0 and idle_waiters wait for it */
  unsigned idle_waiters;
  GMainContext *context;
  GSource *source; /* watches event_fd on context */
  int event_fd;    /* signalled by the engine when requests finish */
  unsigned depth;
  unsigned in_flight;  /* submitted, callback not returned */
  unsigned generation; /* how often hv_aio_cancel was called */
  unsigned plugged;    /* hv_aio_plug nesting: submissions are queued, flushed at the last unplug */
  const HvAioEngineOps *ops;
  void *engine_data;
};

const char *
hv_aio_engine_name (HvAioEngine engine)
{
  switch (engine)
    {
    case HV_AIO_ENGINE_IO_URING:
      return "io_uring";
    case HV_AIO_ENGINE_THREADS:
      return "threads";
    case HV_AIO_ENGINE_DEFAULT:
    default:
      return "default";
    }
}

int
hv_aio_get_event_fd (HvAio *aio)
{
  return aio->event_fd;
}

GMutex *
hv_aio_get_lock (HvAio *aio)
{
  return &aio->lock;
}

void *
hv_aio_get_engine_data (HvAio *aio)
{
  return aio->engine_data;
}

void
hv_aio_set_engine_data (HvAio *aio, void *data)
{
  aio->engine_data = data;
}

gboolean
hv_aio_request_cancelled (HvAioRequest *request)
{
  return request->generation != request->aio->generation;
}

gboolean
hv_aio_request_advance (HvAioRequest *request, uint64_t transferred)
{
  request->done += transferred;
  if (request->offset == HV_AIO_OFFSET_STREAM || transferred >= request->remaining)
    {
      request->result = (int64_t) request->done;
      return TRUE;
    }
  request->remaining -= transferred;
  request->offset += (int64_t) transferred;
  while (request->n_iov > 0 && transferred >= request->iov[0].iov_len)
    {
      transferred -= request->iov[0].iov_len;
      request->iov++;
      request->n_iov--;
    }
  if (request->n_iov > 0)
    {
      request->iov[0].iov_base = (uint8_t *) request->iov[0].iov_base + transferred;
      request->iov[0].iov_len -= transferred;
    }
  return FALSE;
}

int64_t
hv_aio_request_end_of_file (HvAioRequest *request)
{
  /* A write that moves nothing would loop for ever; the kernel says ENOSPC when it means it. */
  return request->op == HV_AIO_WRITE ? -EIO : (int64_t) request->done;
}

/* Runs the callbacks of whatever finished.  With the context acquired. */
static void
deliver_completions (HvAio *aio)
{
  GQueue done = G_QUEUE_INIT;
  HvAioRequest *request;
  eventfd_t count;

  /* Read first: a request finishing after the reap below signals the eventfd again. */
  (void) eventfd_read (aio->event_fd, &count);
  g_mutex_lock (&aio->lock);
  aio->ops->reap (aio, &done);
  g_mutex_unlock (&aio->lock);

  /* What the callbacks submit next (the following piece of a request, the queue's next requests) goes
   * to the kernel in one batch. */
  hv_aio_plug (aio);
  while ((request = g_queue_pop_head (&done)) != NULL)
    {
      request->callback (request->opaque, request->result);
      /* The iov pointer may have advanced; the copy was allocated with the request. */
      g_free (request);
      g_mutex_lock (&aio->lock);
      /* A broadcast is a system call even with nobody waiting: only for a drain. */
      if (--aio->in_flight == 0 && aio->idle_waiters > 0)
        g_cond_broadcast (&aio->idle);
      g_mutex_unlock (&aio->lock);
    }
  hv_aio_unplug (aio);
}

static gboolean
completions_ready (int fd, GIOCondition condition, gpointer data)
{
  deliver_completions (data);
  return G_SOURCE_CONTINUE;
}

static const HvAioEngineOps *
engine_ops (HvAioEngine engine)
{
  return engine == HV_AIO_ENGINE_IO_URING ? &hv_aio_uring_ops : &hv_aio_threads_ops;
}

HvAio *
hv_aio_new (GMainContext *context, unsigned depth, HvAioEngine engine, GError **error)
{
  g_autoptr (GError) uring_error = NULL;
  HvAio *aio;

  g_return_val_if_fail (context != NULL, NULL);

  if (depth == 0 || depth > HV_AIO_MAX_DEPTH)
    {
      g_set_error (error, HV_ERROR, HV_ERROR_INVALID_ARGUMENT,
                   "an asynchronous I/O queue holds 1 to %u requests, not %u", HV_AIO_MAX_DEPTH, depth);
      return NULL;
    }
  if (engine == HV_AIO_ENGINE_DEFAULT)
    {
      const char *forced = g_getenv ("VIREO_AIO");

      if (forced != NULL && g_str_equal (forced, "threads"))
        engine = HV_AIO_ENGINE_THREADS;
      else if (forced != NULL && g_str_equal (forced, "io_uring"))
        engine = HV_AIO_ENGINE_IO_URING;
      else if (forced != NULL && *forced != '\0')
        {
          g_set_error (error, HV_ERROR, HV_ERROR_INVALID_ARGUMENT,
                       "VIREO_AIO=%s: the asynchronous I/O engines are \"io_uring\" and \"threads\"", forced);
          return NULL;
        }
    }

  aio = g_new0 (HvAio, 1);
  g_mutex_init (&aio->lock);
  g_cond_init (&aio->idle);
  aio->depth = depth;
  aio->event_fd = eventfd (0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (aio->event_fd < 0)
    {
      int saved = errno;
      g_set_error (error, HV_ERROR, HV_ERROR_FAILED, "cannot create an eventfd for asynchronous I/O: %s",
                   g_strerror (saved));
      goto fail;
    }

  if (engine == HV_AIO_ENGINE_DEFAULT)
    {
      /* io_uring where the kernel and the sandbox allow it, the thread pool elsewhere. */
      aio->ops = &hv_aio_uring_ops;
      if (!aio->ops->init (aio, depth, &uring_error))
        {
          g_debug ("asynchronous I/O on a thread pool: %s", uring_error->message);
          aio->ops = NULL;
        }
    }
  if (aio->ops == NULL)
    {
      const HvAioEngineOps *ops;

      ops = engine_ops (engine == HV_AIO_ENGINE_DEFAULT ? HV_AIO_ENGINE_THREADS : engine);

      if (!ops->init (aio, depth, error))
        goto fail;
      aio->ops = ops;
    }

  aio->context = g_main_context_ref (context);
  aio->source = g_unix_fd_source_new (aio->event_fd, G_IO_IN);
  g_source_set_callback (aio->source, G_SOURCE_FUNC (completions_ready), aio, NULL);
  /* GLib takes a source that may not recurse out of the poll set while it is dispatched and puts it
   * back after, each time waking the context (an eventfd write, and a read and another poll to
   * follow): three system calls per batch of completions, for nothing, as delivering them again from
   * a nested iteration is harmless (the lock is not held while callbacks run). */
  g_source_set_can_recurse (aio->source, TRUE);
  g_source_set_static_name (aio->source, "vireo-aio");
  g_source_attach (aio->source, context);
  return aio;

fail:
  if (aio->event_fd >= 0)
    close (aio->event_fd);
  g_cond_clear (&aio->idle);
  g_mutex_clear (&aio->lock);
  g_free (aio);
  return NULL;
}

void
hv_aio_free (HvAio *aio)
{
  if (aio == NULL)
    return;
  hv_aio_drain (aio);
  g_source_destroy (aio->source);
  /* The last callback has returned, but its dispatch may still be on its way out. */
  hv_iothread_barrier (aio->context);
  g_source_unref (aio->source);
  aio->ops->destroy (aio);
  close (aio->event_fd);
  g_main_context_unref (aio->context);
  g_cond_clear (&aio->idle);
  g_mutex_clear (&aio->lock);
  g_free (aio);
}

HvAioEngine
hv_aio_get_engine (HvAio *aio)
{
  return aio->ops->engine;
}

gboolean
hv_aio_submit (HvAio *aio, HvAioOp op, int fd, const struct iovec *iov, unsigned n_iov, int64_t offset,
               uint64_t length, HvAioCallback callback, void *opaque, GError **error)
{
  HvAioRequest *request;
  gboolean transfer = op == HV_AIO_READ || op == HV_AIO_WRITE;
  uint64_t total = 0;

  g_return_val_if_fail (callback != NULL, FALSE);

  if (op == HV_AIO_FLUSH)
    offset = 0; /* a flush has no range */
  if (op > HV_AIO_WRITE_ZEROES || (transfer && (n_iov > HV_AIO_MAX_IOV || (n_iov > 0 && iov == NULL)))
      || (offset < 0 && !(transfer && offset == HV_AIO_OFFSET_STREAM))
      || (!transfer && op != HV_AIO_FLUSH && (length == 0 || length > (uint64_t) (G_MAXINT64 - offset))))
    {
      g_set_error (error, HV_ERROR, HV_ERROR_INVALID_ARGUMENT,
                   "asynchronous I/O request %u at offset %" G_GINT64_FORMAT
                   " (%u buffers, %" G_GUINT64_FORMAT " bytes) cannot be made",
                   op, offset, n_iov, length);
      return FALSE;
    }
  for (unsigned i = 0; transfer && i < n_iov; i++)
    {
      total += iov[i].iov_len;
      if (total < iov[i].iov_len || total > G_MAXSSIZE)
        {
          g_set_error (error, HV_ERROR, HV_ERROR_INVALID_ARGUMENT,
                       "asynchronous I/O request of more than %" G_GSSIZE_FORMAT " bytes", G_MAXSSIZE);
          return FALSE;
        }
    }

  /* The request and its own copy of the buffer list in one allocation. */
  request = g_malloc0 (sizeof (HvAioRequest) + (transfer ? n_iov : 0) * sizeof (struct iovec));
  request->aio = aio;
  request->op = op;
  request->fd = fd;
  request->offset = offset;
  request->length = transfer ? 0 : length;
  request->iov = (struct iovec *) (request + 1);
  request->n_iov = transfer ? n_iov : 0;
  if (request->n_iov > 0)
    memcpy (request->iov, iov, n_iov * sizeof (struct iovec));
  request->remaining = total;
  request->callback = callback;
  request->opaque = opaque;

  g_mutex_lock (&aio->lock);
  if (aio->in_flight >= aio->depth)
    {
      g_mutex_unlock (&aio->lock);
      g_free (request);
      g_set_error (error, HV_ERROR, HV_ERROR_INVALID_STATE,
                   "the asynchronous I/O queue is full (%u requests in flight)", aio->depth);
      return FALSE;
    }
  aio->in_flight++;
  request->generation = aio->generation;
  aio->ops->submit (aio, request);
  if (aio->plugged == 0 && aio->ops->flush)
    aio->ops->flush (aio);
  g_mutex_unlock (&aio->lock);
  return TRUE;
}

void
hv_aio_plug (HvAio *aio)
{
  g_mutex_lock (&aio->lock);
  aio->plugged++;
  g_mutex_unlock (&aio->lock);
}

void
hv_aio_unplug (HvAio *aio)
{
  g_mutex_lock (&aio->lock);
  if (G_UNLIKELY (aio->plugged == 0))
    {
      g_mutex_unlock (&aio->lock);
      g_critical ("hv_aio_unplug without hv_aio_plug");
      return;
    }
  if (--aio->plugged == 0 && aio->ops->flush)
    aio->ops->flush (aio);
  g_mutex_unlock (&aio->lock);
}

void
hv_aio_cancel (HvAio *aio)
{
  g_mutex_lock (&aio->lock);
  aio->generation++;
  if (aio->in_flight > 0)
    aio->ops->cancel (aio);
  g_mutex_unlock (&aio->lock);
}

unsigned
hv_aio_get_in_flight (HvAio *aio)
{
  unsigned count;

  g_mutex_lock (&aio->lock);
  count = aio->in_flight;
  g_mutex_unlock (&aio->lock);
  return count;
}

unsigned
hv_aio_get_free_slots (HvAio *aio)
{
  unsigned count;

  g_mutex_lock (&aio->lock);
  count = aio->depth - aio->in_flight;
  g_mutex_unlock (&aio->lock);
  return count;
}

void
hv_aio_drain (HvAio *aio)
{
  /* Requests queued under a plug would otherwise never finish. */
  g_mutex_lock (&aio->lock);
  if (aio->ops->flush)
    aio->ops->flush (aio);
  g_mutex_unlock (&aio->lock);
  for (;;)
    {
      gboolean idle;

      if (g_main_context_acquire (aio->context))
        {
          /* Nothing else delivers completions now (or this thread is the one that does, and it is busy
           * here): deliver them while waiting. */
          struct pollfd pfd = { .fd = aio->event_fd, .events = POLLIN };

          while (hv_aio_get_in_flight (aio) > 0)
            {
              if (poll (&pfd, 1, -1) < 0 && errno != EINTR)
                g_usleep (G_TIME_SPAN_MILLISECOND); /* ENOMEM: nothing better to do than try again */
              deliver_completions (aio);
            }
          g_main_context_release (aio->context);
          return;
        }

      /* The thread iterating the context delivers them; look again now and then in case it stops. */
      g_mutex_lock (&aio->lock);
      if (aio->in_flight > 0)
        {
          aio->idle_waiters++;
          g_cond_wait_until (&aio->idle, &aio->lock, g_get_monotonic_time () + 10 * G_TIME_SPAN_MILLISECOND);
          aio->idle_waiters--;
        }
      idle = aio->in_flight == 0;
      g_mutex_unlock (&aio->lock);
      if (idle)
        return;
    }
}
