/* block-private.h — what a format driver (raw.c, qcow2.c) implements and may use. */
#pragma once

#include "block.h"

typedef struct _HvBlockRequest HvBlockRequest;

typedef struct
{
  HvBlockFormat format;
  const char *name; /* "raw", "qcow2" */
  /* Whether the first bytes of a file (@len up to 4096, fewer for a short file) are this format. */
  gboolean (*probe) (const uint8_t *head, size_t len);
  /* Reads and checks the metadata of block->fd, sets block->size and block->impl; opens the backing
   * chain through hv_block_open_backing.  Required. */
  gboolean (*open) (HvBlock *block, GError **error);
  /* Frees block->impl (requests drained).  Required. */
  void (*close) (HvBlock *block);
  /* Starts @request (see HvBlockRequest); completes it with hv_block_request_complete, on the block's
   * context.  Returns FALSE only when it cannot start now (no aio slots): the core retries later. */
  gboolean (*submit) (HvBlock *block, HvBlockRequest *request);
  /* Whether DISCARD frees space (hv_block_can_discard).  Optional: NULL is FALSE. */
  gboolean (*can_discard) (HvBlock *block);
  /* Internal snapshots (hv_block_snapshot_list, hv_block_snapshot), no request in flight.  Optional:
   * NULL refuses them. */
  gboolean (*snapshot_list) (HvBlock *block, GPtrArray *out, GError **error);
  gboolean (*snapshot) (HvBlock *block, HvBlockSnapshotOp op, const char *name, GError **error);
} HvBlockDriver;

struct _HvBlockRequest
{
  HvBlock *block;
  HvBlockOp op;
  struct iovec *iov; /* the device's buffers (copied array) */
  unsigned n_iov;
  uint64_t offset;
  uint64_t length; /* bytes: the iov's total for reads and writes */
  HvBlockCallback callback;
  void *opaque;
  void *driver_data; /* the driver's own, per request */
  gboolean flushing; /* write-through: the write is done, the flush after it is in flight */
};

struct _HvBlock
{
  const HvBlockDriver *driver;
  int fd;
  HvBlockOptions options;
  gboolean direct;    /* O_DIRECT is on: buffers, offsets and lengths must be aligned */
  unsigned alignment; /* the alignment direct I/O needs (512 or 4096) */
  uint64_t size;
  HvBlock *backing; /* NULL at the end of the chain */
  unsigned depth;   /* 0 for the image itself, 1 for its backing file ... */
  HvBlockOpenBacking open_backing;
  void *open_backing_opaque;
  GMainContext *context;  /* hv_block_attach */
  HvAio *aio;             /* shared by the chain; made by hv_block_attach */
  unsigned in_flight;     /* requests submitted, not completed (atomic: drain reads it elsewhere) */
  unsigned max_in_flight; /* hv_block_attach's depth */
  gboolean wants_ready;   /* a request was refused: call ready once one completes */
  gboolean write_through; /* hv_block_set_write_through */
  void (*ready) (void *opaque);
  void *ready_opaque;
  GList *direct_writes;  /* file-io.c, with direct I/O: writes in flight (their aligned ranges) */
  GQueue direct_waiting; /* ... and writes waiting for an overlapping read-modify-write, or it for them */
  unsigned locked_perm;  /* QEMU permission bits this link holds, and those it does not share */
  unsigned locked_unshared;
  void *impl;
};

extern const HvBlockDriver hv_block_raw_driver;
extern const HvBlockDriver hv_block_qcow2_driver;
/* The formats hv_block_open knows, NULL-terminated (drivers.c): probed in order, raw last. */
extern const HvBlockDriver *const hv_block_drivers[];

/* File I/O on block->fd through block->aio, on the block's context (file-io.c): @op as hv_aio_submit
 * takes it (@iov for reads and writes, @length for discard and write-zeroes).  Where direct I/O is on and
 * @iov, @offset or the length are not aligned to block->alignment, the data goes through an aligned
 * bounce buffer (a write not covering whole aligned blocks reads them first, and waits for overlapping
 * writes in flight, as they wait for it).  FALSE with HV_ERROR_INVALID_STATE when
 * the aio queue is full. */
gboolean hv_block_file_io (HvBlock *block, HvAioOp op, const struct iovec *iov, unsigned n_iov,
                           uint64_t offset, uint64_t length, HvAioCallback callback, void *opaque,
                           GError **error);

/* Opens @block's backing file @name through the caller's opener (format as the image says), as the
 * next link of the chain; refuses chains deeper than HV_BLOCK_MAX_CHAIN. */
HvBlock *hv_block_open_backing (HvBlock *block, const char *name, HvBlockFormat format, GError **error);
/* Finishes @request with @result and frees it (on the block's context). */
void hv_block_request_complete (HvBlockRequest *request, int result);
