/* aio.h — asynchronous file I/O for backends that may block (disk images now, other host files later):
 * read, write, flush, discard and write-zeroes requests on a file descriptor, completed by a callback on
 * the I/O context of the device that submitted them.
 *
 * Two engines behind one interface: io_uring through liburing, and a thread pool running preadv2,
 * pwritev2, fdatasync and fallocate for hosts where io_uring cannot be used (kernel.io_uring_disabled,
 * a seccomp filter, a kernel without the operations).  Both report each request's outcome the same way:
 * the bytes transferred, or a negative errno.  The engine is chosen when the HvAio is made; the
 * environment variable VIREO_AIO ("io_uring" or "threads") overrides the automatic choice.
 *
 * Threads: requests may be submitted from any thread; callbacks run on @context, one at a time, with it
 * acquired — on the thread iterating it, or inside hv_aio_drain() on a thread that drains while nothing
 * iterates it. */
#pragma once

#include <glib.h>
#include <stdint.h>
#include <sys/uio.h>

typedef struct _HvAio HvAio;

typedef enum
{
  HV_AIO_ENGINE_DEFAULT,  /* $VIREO_AIO if set, else io_uring when it works, else the thread pool */
  HV_AIO_ENGINE_IO_URING, /* io_uring or fail (HV_ERROR_FAILED saying why) */
  HV_AIO_ENGINE_THREADS,  /* the thread pool */
} HvAioEngine;

typedef enum
{
  HV_AIO_READ,         /* preadv: fill @iov from the file at @offset */
  HV_AIO_WRITE,        /* pwritev: write @iov to the file at @offset */
  HV_AIO_FLUSH,        /* fdatasync: what was written before is stable */
  HV_AIO_DISCARD,      /* punch a hole of @length bytes at @offset (reads as zeros, size kept) */
  HV_AIO_WRITE_ZEROES, /* zero @length bytes at @offset, growing the file as a write would */
} HvAioOp;

/* For reads and writes on files without a position (pipes, sockets): use the descriptor's own position
 * and return after one transfer, as read(2) and write(2) do.  Such files need it: with an offset, the
 * thread pool fails (-ESPIPE) where io_uring ignores the offset. */
#define HV_AIO_OFFSET_STREAM (-1)

#define HV_AIO_MAX_DEPTH 4096
#define HV_AIO_MAX_IOV   1024 /* IOV_MAX */

/* @result: for reads and writes the bytes transferred, for the others 0; or a negative errno.  A read
 * returns fewer bytes than asked only at end of file; a write returns all of them or an error (partial
 * transfers are continued, interrupted ones retried).  A descriptor in non-blocking mode may give
 * -EAGAIN. */
typedef void (*HvAioCallback) (void *opaque, int64_t result);

/* At most @depth requests (1 .. HV_AIO_MAX_DEPTH) are in flight at a time; completions are delivered on
 * @context. */
HvAio *hv_aio_new (GMainContext *context, unsigned depth, HvAioEngine engine, GError **error);
/* Drains, then frees (not from inside a completion callback). */
void hv_aio_free (HvAio *aio);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (HvAio, hv_aio_free)

/* HV_AIO_ENGINE_IO_URING or HV_AIO_ENGINE_THREADS: the engine in use. */
HvAioEngine hv_aio_get_engine (HvAio *aio);
const char *hv_aio_engine_name (HvAioEngine engine);

/* Starts a request.  @iov (at most HV_AIO_MAX_IOV entries) is copied, the buffers it points at are not:
 * they must stay valid until @callback runs.  @length is used by DISCARD and WRITE_ZEROES only; @iov by
 * READ and WRITE only.  Fails (HV_ERROR_INVALID_STATE) when @depth requests are in flight — a device
 * then leaves the rest of its queue for later — or (HV_ERROR_INVALID_ARGUMENT) on a request that cannot
 * be made; failures of the I/O itself, a bad descriptor included, arrive in @callback. */
gboolean hv_aio_submit (HvAio *aio, HvAioOp op, int fd, const struct iovec *iov, unsigned n_iov,
                        int64_t offset, uint64_t length, HvAioCallback callback, void *opaque,
                        GError **error);
/* Batches submissions: from hv_aio_plug() to the matching hv_aio_unplug() (they nest), requests are queued
 * and handed to the kernel together at the unplug, one system call for the batch with io_uring, where
 * each request would otherwise cost one.  For a device taking several requests off its queue at once.
 * Requests from other threads wait for the unplug too; hv_aio_drain() starts whatever is queued. */
void hv_aio_plug (HvAio *aio);
void hv_aio_unplug (HvAio *aio);
/* Asks the requests in flight to stop early, for a device reset that should not wait for a backend that
 * hangs (a pipe, a network file system): those not started yet, and those the kernel can interrupt (a
 * read waiting for data), complete with -ECANCELED; the others complete as they would have.  Every
 * request still gets its callback, so hv_aio_drain() still waits for all of them.  Requests submitted
 * afterwards are not affected. */
void hv_aio_cancel (HvAio *aio);
/* Requests submitted whose callback has not returned yet. */
unsigned hv_aio_get_in_flight (HvAio *aio);
/* How many more requests hv_aio_submit would take now. */
unsigned hv_aio_get_free_slots (HvAio *aio);
/* Returns once every request submitted before the call has completed and its callback has returned (to
 * quiesce a device before a snapshot or a reset).  Not from inside a completion callback.  Submitting
 * meanwhile from elsewhere makes it wait for those requests too. */
void hv_aio_drain (HvAio *aio);
