/* aio-private.h — what aio.c shares with its two engines (aio-uring.c, aio-threads.c). */
#pragma once

#include "aio.h"

typedef struct _HvAioRequest HvAioRequest;

struct _HvAioRequest
{
  HvAio *aio;
  HvAioOp op;
  int fd;
  int64_t offset;    /* where the rest of the transfer goes (advances with partial transfers) */
  uint64_t length;   /* DISCARD and WRITE_ZEROES */
  struct iovec *iov; /* the rest of the transfer: advanced past what is done */
  unsigned n_iov;
  uint64_t remaining; /* bytes of iov[] still to transfer */
  uint64_t done;      /* bytes transferred so far */
  int64_t result;     /* set once complete */
  HvAioCallback callback;
  void *opaque;
  unsigned generation; /* the HvAio's cancel generation when submitted */
};

typedef struct
{
  HvAioEngine engine;
  /* Sets aio->engine_data; FALSE with @error when the engine cannot work here. */
  gboolean (*init) (HvAio *aio, unsigned depth, GError **error);
  /* With the lock held: start @request (there is room: fewer than depth are in flight), or only queue it
   * for the next flush. */
  void (*submit) (HvAio *aio, HvAioRequest *request);
  /* With the lock held: hand what submit queued to the kernel.  Optional: NULL when submit starts
   * requests at once. */
  void (*flush) (HvAio *aio);
  /* With the lock held, after the completion eventfd was read: move finished requests to @done. */
  void (*reap) (HvAio *aio, GQueue *done);
  /* With the lock held, after hv_aio_request_cancelled() became TRUE for every request in flight: stop
   * what the engine can stop (each still completes, through reap). */
  void (*cancel) (HvAio *aio);
  /* Nothing is in flight any more. */
  void (*destroy) (HvAio *aio);
} HvAioEngineOps;

extern const HvAioEngineOps hv_aio_uring_ops;
extern const HvAioEngineOps hv_aio_threads_ops;

/* For the engines: the completion eventfd, the lock and the engine's own data. */
int hv_aio_get_event_fd (HvAio *aio);
GMutex *hv_aio_get_lock (HvAio *aio);
void *hv_aio_get_engine_data (HvAio *aio);
void hv_aio_set_engine_data (HvAio *aio, void *data);

/* With the lock held: hv_aio_cancel() was called since @request was submitted. */
gboolean hv_aio_request_cancelled (HvAioRequest *request);

/* Accounts for @transferred bytes of a read or write (> 0): advances the request past them.  TRUE when
 * the request is finished (all done, or a stream transfer, which stops after one). */
gboolean hv_aio_request_advance (HvAioRequest *request, uint64_t transferred);
/* The result of a read or write whose last transfer returned 0 (end of file). */
int64_t hv_aio_request_end_of_file (HvAioRequest *request);
