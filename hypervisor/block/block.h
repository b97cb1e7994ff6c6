/* block.h — disk images behind the storage devices: an image format (raw, qcow2) over an open file,
 * read and written through asynchronous requests that complete on the device's I/O context.
 *
 * The contract between devices (virtio-blk, AHCI disks and CD-ROMs) and formats (block.c: the dispatch;
 * raw.c; qcow2.c: qcow2 v2/v3).  Offsets and lengths are in bytes of the guest-visible disk.
 *
 * Threads: an HvBlock belongs to one GMainContext (the device's I/O thread, hv_block_attach): requests
 * are submitted there and their callbacks run there.  Formats may do metadata I/O synchronously on that
 * thread (the device has it to itself); data I/O goes through hv_aio.
 *
 * Files: the VMM opens no path.  The image arrives as an fd; an image that names a backing file (qcow2)
 * gets it from the opener the caller passes (vireo-run opens it relative to the image's folder, the
 * worker takes the next fd vireod passed for that disk's chain). */
#pragma once

#include "hv-limits.h"
#include "image-info.h"
#include "io/aio.h"

#include <glib.h>
#include <stdint.h>
#include <sys/uio.h>

G_BEGIN_DECLS

typedef struct _HvBlock HvBlock;

typedef enum
{
  HV_BLOCK_FORMAT_AUTO, /* probe: qcow2 by its magic, raw otherwise */
  HV_BLOCK_FORMAT_RAW,
  HV_BLOCK_FORMAT_QCOW2,
} HvBlockFormat;

typedef enum
{
  HV_BLOCK_CACHE_DEFAULT,   /* direct I/O where the file system allows it, writeback otherwise */
  HV_BLOCK_CACHE_NONE,      /* O_DIRECT (set on the fd with fcntl); fails where it cannot be had */
  HV_BLOCK_CACHE_WRITEBACK, /* the host page cache; a guest flush is still an fdatasync */
} HvBlockCache;

typedef struct
{
  HvBlockFormat format;
  HvBlockCache cache;
  gboolean read_only; /* refuse writes, take QEMU's shared read lock only */
} HvBlockOptions;

/* Opens the backing file an image names (@name as written in the image; @format the format the image
 * says it has, or HV_BLOCK_FORMAT_AUTO), read-only.  Returns an fd the block then owns, or -1 and
 * @error.  Called during hv_block_open, once per link of the chain, depth first. */
typedef int (*HvBlockOpenBacking) (void *opaque, unsigned depth, const char *name, HvBlockFormat format,
                                   GError **error);

/* Chains longer than this are refused (a loop shows up as one). */
#define HV_BLOCK_MAX_CHAIN HV_IMAGE_CHAIN_MAX

/* Opens the image in @fd (taken, also on failure): takes QEMU-compatible OFD locks (refusing an image
 * another process writes, or that we would write while another reads with write-sharing off), reads
 * and checks the format's metadata (every field is untrusted: a damaged image fails with
 * HV_ERROR_BAD_IMAGE naming what is wrong), opens the backing chain through @open_backing (may be NULL:
 * an image with a backing file then fails).  Errors name no path: the caller adds it. */
HvBlock *hv_block_open (int fd, const HvBlockOptions *options, HvBlockOpenBacking open_backing, void *opaque,
                        GError **error);
/* Drains and closes the chain, releasing the locks.  Not from inside a callback. */
void hv_block_free (HvBlock *block);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (HvBlock, hv_block_free)

/* The guest-visible size in bytes (a multiple of 512). */
uint64_t hv_block_get_size (HvBlock *block);
gboolean hv_block_is_read_only (HvBlock *block);
HvBlockFormat hv_block_get_format (HvBlock *block);
const char *hv_block_format_name (HvBlockFormat format);
/* Whether DISCARD frees space and WRITE_ZEROES is cheap (for the device's feature bits). */
gboolean hv_block_can_discard (HvBlock *block);

/* Binds the block to @context (the device's I/O thread), where requests are submitted and complete, with
 * up to @depth requests in flight.  Once, before the first request. */
gboolean hv_block_attach (HvBlock *block, GMainContext *context, unsigned depth, GError **error);

typedef enum
{
  HV_BLOCK_READ,
  HV_BLOCK_WRITE,
  HV_BLOCK_FLUSH,        /* every write completed before it is on stable storage (fdatasync) */
  HV_BLOCK_DISCARD,      /* the range may read back as anything; formats free what they can */
  HV_BLOCK_WRITE_ZEROES, /* the range reads back as zeros */
} HvBlockOp;

/* @result: 0, or a negative errno (-EIO for a damaged image, -EROFS for a write to a read-only one,
 * -ENOSPC when the host is full, -EINVAL for a range past the end). */
typedef void (*HvBlockCallback) (void *opaque, int result);

/* Starts a request; on @context (hv_block_attach) only.  @iov is copied, the buffers are not: they stay
 * valid until @callback runs.  Returns FALSE (and no callback) when the block cannot take more now
 * (HV_ERROR_INVALID_STATE: @depth in flight) — the device keeps the rest of its queue for later and tries
 * again from hv_block_set_ready's callback.  @callback may run before hv_block_submit returns only when
 * the request fails at once. */
gboolean hv_block_submit (HvBlock *block, HvBlockOp op, const struct iovec *iov, unsigned n_iov,
                          uint64_t offset, uint64_t length, HvBlockCallback callback, void *opaque,
                          GError **error);
/* Batches the file I/O of the requests submitted until the matching hv_block_unplug (hv_aio_plug): for
 * a device taking several requests off its queue at once.  On @context's thread, after
 * hv_block_attach. */
void hv_block_plug (HvBlock *block);
void hv_block_unplug (HvBlock *block);
/* With @write_through, a write (and write-zeroes, discard) completes only once it is on stable storage,
 * data and metadata, as after a FLUSH: for a device whose driver has no flush command (virtio-blk without
 * VIRTIO_BLK_F_FLUSH negotiated).  Off by default; on @context's thread. */
void hv_block_set_write_through (HvBlock *block, gboolean write_through);
/* Called (on @context) when a block that refused a request can take one again. */
void hv_block_set_ready (HvBlock *block, void (*ready) (void *opaque), void *opaque);
/* Returns once every request submitted has completed and its callback returned (quiesce, save,
 * teardown).  From @context's thread or while nothing iterates @context. */
void hv_block_drain (HvBlock *block);

/* Internal snapshots of a qcow2 image (QEMU's savevm format: qemu-img snapshot lists, applies and
 * deletes them too).  Only with no request in flight (the devices quiesced, or the block never attached);
 * each operation keeps the image consistent across a crash at any point (leaked clusters at worst).
 * Errors name no path: the caller adds it.  A raw image or a read-only one is refused
 * (HV_ERROR_INVALID_ARGUMENT, HV_ERROR_PERMISSION); an unknown snapshot is HV_ERROR_NOT_FOUND. */
typedef struct
{
  char *id;
  char *name;
  uint64_t date_sec; /* wall clock when taken */
  uint32_t date_nsec;
  uint64_t vm_clock_nsec; /* guest clock when taken */
  uint64_t disk_size;     /* the disk's size then */
  uint64_t vm_state_size; /* machine state stored in the image (0: none, as ours) */
} HvBlockSnapshot;

typedef enum
{
  HV_BLOCK_SNAPSHOT_CREATE,
  HV_BLOCK_SNAPSHOT_APPLY, /* the disk becomes what the snapshot has; its size too */
  HV_BLOCK_SNAPSHOT_DELETE,
} HvBlockSnapshotOp;

/* The longest name or id a snapshot may have, in bytes. */
#define HV_BLOCK_SNAPSHOT_NAME_MAX 255

void hv_block_snapshot_free (HvBlockSnapshot *snapshot);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (HvBlockSnapshot, hv_block_snapshot_free)
/* The snapshots, oldest first: a GPtrArray of HvBlockSnapshot (freeing them), or NULL and @error. */
GPtrArray *hv_block_snapshot_list (HvBlock *block, GError **error);
/* @name: the snapshot's name (create: new, unique; apply, delete: a name or an id). */
gboolean hv_block_snapshot (HvBlock *block, HvBlockSnapshotOp op, const char *name, GError **error);
/* The same on the image at @path, opened (and locked) for the operation: for a stopped machine.  Errors
 * name @path. */
gboolean hv_block_snapshot_file (const char *path, HvBlockSnapshotOp op, const char *name, GError **error);
const char *hv_block_snapshot_op_name (HvBlockSnapshotOp op);

G_END_DECLS
