/* virtio-blk.c — the virtio block device (virtio 1.2 §5.2): the guest's requests (read, write, flush,
 * get-id, discard, write-zeroes) checked against the disk and turned into asynchronous HvBlock
 * requests on the disk's own I/O thread, completed into the used ring as they finish. */
#include "bytes.h"
#include "virtio-blk.h"
#include "device.h"
#include "disk-image.h"
#include "iothread.h"
#include "state.h"
#include "virtio/virtio.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#define VIRTIO_ID_BLOCK        2
#define PCI_CLASS_STORAGE_SCSI 0x010000

#define QUEUE_SIZE 128

/* Feature bits (§5.2.3). */
#define VIRTIO_BLK_F_SIZE_MAX     1
#define VIRTIO_BLK_F_SEG_MAX      2
#define VIRTIO_BLK_F_RO           5
#define VIRTIO_BLK_F_BLK_SIZE     6
#define VIRTIO_BLK_F_FLUSH        9
#define VIRTIO_BLK_F_MQ           12
#define VIRTIO_BLK_F_DISCARD      13
#define VIRTIO_BLK_F_WRITE_ZEROES 14

/* Request types and status (§5.2.6). */
#define VIRTIO_BLK_T_IN                    0
#define VIRTIO_BLK_T_OUT                   1
#define VIRTIO_BLK_T_FLUSH                 4
#define VIRTIO_BLK_T_GET_ID                8
#define VIRTIO_BLK_T_DISCARD               11
#define VIRTIO_BLK_T_WRITE_ZEROES          13
#define VIRTIO_BLK_S_OK                    0
#define VIRTIO_BLK_S_IOERR                 1
#define VIRTIO_BLK_S_UNSUPP                2
#define VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP 1

#define SECTOR_SIZE  512
#define HEADER_SIZE  16 /* le32 type, le32 reserved, le64 sector */
#define SEGMENT_SIZE 16 /* le64 sector, le32 num_sectors, le32 flags */

/* What the driver is told it may send: segments of at most SIZE_MAX bytes, at most SEG_MAX of them,
 * which bounds a transfer (and the bounce buffer direct I/O may need for it). */
#define SEG_MAX                   (QUEUE_SIZE - 2)
#define SIZE_MAX_BYTES            (64u * 1024)
#define TRANSFER_MAX              ((uint64_t) SEG_MAX * SIZE_MAX_BYTES)
#define RANGE_SECTORS_MAX         (1u << 22) /* one discard or write-zeroes: 2 GiB */
#define DISCARD_ALIGNMENT_SECTORS 8

/* struct virtio_blk_config (§5.2.4). */
#define CFG_CAPACITY                 0
#define CFG_SIZE_MAX                 8
#define CFG_SEG_MAX                  12
#define CFG_BLK_SIZE                 20
#define CFG_NUM_QUEUES               34
#define CFG_MAX_DISCARD_SECTORS      36
#define CFG_MAX_DISCARD_SEG          40
#define CFG_DISCARD_ALIGNMENT        44
#define CFG_MAX_WRITE_ZEROES_SECTORS 48
#define CFG_MAX_WRITE_ZEROES_SEG     52
#define CFG_WRITE_ZEROES_MAY_UNMAP   56
#define CFG_LEN                      60

typedef struct _Request Request;

struct _Request
{
  HvVirtioBlk *blk;
  HvVirtqueueElement *elem;
  HvVirtqueue *vq;
  unsigned generation; /* the device's at submission: a reset since drops the answer */
  HvBlockOp op;
  uint64_t offset;
  uint64_t length;
  uint32_t data_written; /* bytes of guest buffers filled on success (reads) */
  Request *merged;       /* requests for the ranges right after this one's, done in its block request */
  unsigned n_iov;        /* iov[] covers the merged requests' buffers too */
  struct iovec iov[];
};

struct _HvVirtioBlk
{
  HvVirtio *vdev;
  HvVirtioDeviceInfo info;
  HvPlatform platform; /* the machine's, with io_context the disk's own thread */
  char *name;
  HvBlock *block;
  unsigned n_queues;
  char serial[HV_VIRTIO_BLK_SERIAL_MAX];
  uint8_t config[CFG_LEN];

  /* Guarded by the transport's lock. */
  Request *deferred;   /* taken from the ring, refused by the block layer for now */
  unsigned in_flight;  /* submitted to the block layer, not completed */
  unsigned generation; /* counts device resets */
  gboolean pushed;     /* used entries added since the last interrupt */
  /* The thread working the ring with the lock held (the I/O thread, or one quiescing the device), so
   * that a request failing at once completes there without taking the lock again; NULL otherwise.
   * Other threads read it only to see that it is not theirs. */
  GThread *working;
};

/* Frees @request and those merged into it. */
static void
request_free (Request *request)
{
  while (request != NULL)
    {
      Request *next = request->merged;

      hv_virtqueue_element_free (request->elem);
      g_free (request);
      request = next;
    }
}

/* Writes the status byte (the last byte the driver made writable) and returns the chain. */
static void
finish_locked (HvVirtioBlk *blk, HvVirtqueue *vq, HvVirtqueueElement *elem, uint8_t status,
               uint32_t data_written)
{
  if (elem->in_bytes > 0)
    {
      hv_virtqueue_element_write (elem, elem->in_bytes - 1, &status, 1);
      hv_virtqueue_push (vq, elem, data_written + 1);
    }
  else
    hv_virtqueue_push (vq, elem, 0); /* nowhere to put a status: the driver broke the protocol */
  blk->pushed = TRUE;
}

static void
notify_locked (HvVirtioBlk *blk, HvVirtqueue *vq)
{
  if (blk->pushed)
    {
      blk->pushed = FALSE;
      hv_virtio_notify (blk->vdev, vq);
    }
}

/* Answers @request and those merged into it with @result, and frees them. */
static void
answer_locked (HvVirtioBlk *blk, Request *request, int result)
{
  if (request->generation == blk->generation && result < 0)
    g_debug ("%s: request %u at %" G_GUINT64_FORMAT " (%" G_GUINT64_FORMAT " bytes): %s", blk->name,
             request->op, request->offset, request->length, g_strerror (-result));
  for (Request *r = request; r != NULL; r = r->merged)
    if (r->generation == blk->generation)
      finish_locked (blk, r->vq, r->elem, result < 0 ? VIRTIO_BLK_S_IOERR : VIRTIO_BLK_S_OK,
                     result < 0 ? 0 : r->data_written);
  request_free (request);
}

static void
complete_locked (HvVirtioBlk *blk, Request *request, int result)
{
  blk->in_flight--;
  answer_locked (blk, request, result);
}

static void
request_done (void *opaque, int result)
{
  Request *request = opaque;
  HvVirtioBlk *blk = request->blk;
  HvVirtqueue *vq = request->vq;

  if (g_atomic_pointer_get (&blk->working) == g_thread_self ())
    {
      complete_locked (blk, request, result);
      return;
    }
  hv_virtio_lock (blk->vdev);
  complete_locked (blk, request, result);
  notify_locked (blk, vq);
  hv_virtio_unlock (blk->vdev);
}

/* Hands @request to the block layer; FALSE when it cannot take it now. */
static gboolean
submit_locked (HvVirtioBlk *blk, Request *request)
{
  g_autoptr (GError) error = NULL;

  blk->in_flight++;
  /* A driver without FLUSH expects each write stable once it completes (virtio 1.2 §5.2.6.2). */
  hv_block_set_write_through (blk->block,
                              !(hv_virtio_get_features (blk->vdev) & HV_VIRTIO_FEATURE (VIRTIO_BLK_F_FLUSH)));
  if (hv_block_submit (blk->block, request->op, request->iov, request->n_iov, request->offset,
                       request->length, request_done, request, &error))
    return TRUE;
  blk->in_flight--;
  if (g_error_matches (error, HV_ERROR, HV_ERROR_INVALID_STATE))
    return FALSE;
  g_debug ("%s: %s", blk->name, error->message);
  answer_locked (blk, request, -EIO);
  return TRUE;
}

/* Whether @next continues @request: the same transfer, on the range right after it, the two within
 * what one block request may be. */
static gboolean
mergeable (const Request *request, const Request *next)
{
  return (request->op == HV_BLOCK_READ || request->op == HV_BLOCK_WRITE) && next->op == request->op
         && next->vq == request->vq && next->generation == request->generation
         && next->offset == request->offset + request->length
         && request->n_iov + next->n_iov <= HV_AIO_MAX_IOV && request->length + next->length <= TRANSFER_MAX;
}

/* @next merged into @request (which may move): one block request for both, answered together. */
static Request *
merge (Request *request, Request *next)
{
  Request **tail;

  request = g_realloc (request, sizeof (Request) + (request->n_iov + next->n_iov) * sizeof (struct iovec));
  memcpy (request->iov + request->n_iov, next->iov, next->n_iov * sizeof (struct iovec));
  request->n_iov += next->n_iov;
  request->length += next->length;
  for (tail = &request->merged; *tail != NULL; tail = &(*tail)->merged)
    ;
  *tail = next;
  return request;
}

/* The segments covering bytes [@skip, @skip + @len) of @src. */
static unsigned
slice_iov (const struct iovec *src, unsigned n_src, uint64_t skip, uint64_t len, struct iovec *dst)
{
  unsigned n = 0;

  for (unsigned i = 0; i < n_src && len > 0; i++)
    {
      uint64_t here;

      if (skip >= src[i].iov_len)
        {
          skip -= src[i].iov_len;
          continue;
        }
      here = MIN (src[i].iov_len - skip, len);
      if (here == 0)
        continue;
      dst[n].iov_base = (uint8_t *) src[i].iov_base + skip;
      dst[n].iov_len = here;
      n++;
      len -= here;
      skip = 0;
    }
  return n;
}

static gboolean
range_ok (HvVirtioBlk *blk, uint64_t sector, uint64_t bytes)
{
  uint64_t size = hv_block_get_size (blk->block);

  return sector <= size / SECTOR_SIZE && bytes <= size - sector * SECTOR_SIZE;
}

static Request *
request_new (HvVirtioBlk *blk, HvVirtqueue *vq, HvVirtqueueElement *elem, HvBlockOp op, unsigned max_iov)
{
  Request *request = g_malloc0 (sizeof (Request) + max_iov * sizeof (struct iovec));

  request->blk = blk;
  request->vq = vq;
  request->elem = elem;
  request->op = op;
  request->generation = blk->generation;
  return request;
}

/* A discard or write-zeroes: one segment (max_*_seg is 1), its flags understood, inside the disk. */
static uint8_t
prepare_range_locked (HvVirtioBlk *blk, HvVirtqueueElement *elem, uint32_t type, uint64_t *offset,
                      uint64_t *length)
{
  uint8_t segment[SEGMENT_SIZE];
  uint64_t sector;
  uint32_t sectors, flags;

  if (!hv_block_can_discard (blk->block))
    return VIRTIO_BLK_S_UNSUPP;
  if (elem->out_bytes != HEADER_SIZE + SEGMENT_SIZE
      || hv_virtqueue_element_read (elem, HEADER_SIZE, segment, SEGMENT_SIZE) != SEGMENT_SIZE)
    return VIRTIO_BLK_S_IOERR;
  sector = hv_get_le64 (segment);
  sectors = hv_get_le32 (segment + 8);
  flags = hv_get_le32 (segment + 12);
  if (type == VIRTIO_BLK_T_DISCARD ? flags != 0 : (flags & ~VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP) != 0)
    return VIRTIO_BLK_S_UNSUPP;
  if (sectors > RANGE_SECTORS_MAX || !range_ok (blk, sector, (uint64_t) sectors * SECTOR_SIZE))
    return VIRTIO_BLK_S_IOERR;
  *offset = sector * SECTOR_SIZE;
  *length = (uint64_t) sectors * SECTOR_SIZE;
  return VIRTIO_BLK_S_OK;
}

/* Checks one chain and either answers it at once (returns NULL) or makes the block request for it. */
static Request *
prepare_locked (HvVirtioBlk *blk, HvVirtqueue *vq, HvVirtqueueElement *elem)
{
  uint8_t header[HEADER_SIZE];
  uint8_t status = VIRTIO_BLK_S_IOERR;
  uint32_t written = 0;
  Request *request;
  uint32_t type;
  uint64_t sector, length, offset;

  if (elem->in_bytes == 0 || hv_virtqueue_element_read (elem, 0, header, HEADER_SIZE) != HEADER_SIZE)
    goto answer;
  type = hv_get_le32 (header);
  sector = hv_get_le64 (header + 8);

  switch (type)
    {
    case VIRTIO_BLK_T_IN:
    case VIRTIO_BLK_T_OUT:
      /* Reads fill the writable buffers but the status byte; writes take the readable ones after the
       * header. */
      length = type == VIRTIO_BLK_T_IN ? elem->in_bytes - 1 : elem->out_bytes - HEADER_SIZE;
      if (type == VIRTIO_BLK_T_OUT && hv_block_is_read_only (blk->block))
        goto answer;
      if (length == 0 || length % SECTOR_SIZE != 0 || length > TRANSFER_MAX
          || !range_ok (blk, sector, length))
        goto answer;
      request = request_new (blk, vq, elem, type == VIRTIO_BLK_T_IN ? HV_BLOCK_READ : HV_BLOCK_WRITE,
                             elem->n_out + elem->n_in);
      if (type == VIRTIO_BLK_T_IN)
        request->n_iov = slice_iov (elem->iov + elem->n_out, elem->n_in, 0, length, request->iov);
      else
        request->n_iov = slice_iov (elem->iov, elem->n_out, HEADER_SIZE, length, request->iov);
      request->offset = sector * SECTOR_SIZE;
      request->length = length;
      request->data_written = type == VIRTIO_BLK_T_IN ? (uint32_t) length : 0;
      return request;

    case VIRTIO_BLK_T_FLUSH:
      return request_new (blk, vq, elem, HV_BLOCK_FLUSH, 0);

    case VIRTIO_BLK_T_GET_ID:
      written = (uint32_t) hv_virtqueue_element_write (elem, 0, blk->serial,
                                                       MIN (elem->in_bytes - 1, sizeof blk->serial));
      status = VIRTIO_BLK_S_OK;
      goto answer;

    case VIRTIO_BLK_T_DISCARD:
    case VIRTIO_BLK_T_WRITE_ZEROES:
      status = prepare_range_locked (blk, elem, type, &offset, &length);
      if (status != VIRTIO_BLK_S_OK || length == 0)
        goto answer;
      request = request_new (blk, vq, elem,
                             type == VIRTIO_BLK_T_DISCARD ? HV_BLOCK_DISCARD : HV_BLOCK_WRITE_ZEROES, 0);
      request->offset = offset;
      request->length = length;
      return request;

    default:
      status = VIRTIO_BLK_S_UNSUPP;
      goto answer;
    }

answer:
  finish_locked (blk, vq, elem, status, written);
  hv_virtqueue_element_free (elem);
  return NULL;
}

/* Takes what the driver made available until the ring is empty or the block layer is full.  Requests
 * that continue one another (a sequential stream the driver queued together) go as one block request,
 * as QEMU merges them: fewer system calls, completions and wake-ups for the same bytes. */
static void
process_queue_locked (HvVirtioBlk *blk, HvVirtqueue *vq)
{
  HvVirtqueueElement *elem;
  Request *pending = NULL; /* taken, not submitted yet: the next may continue it */

  g_atomic_pointer_set (&blk->working, g_thread_self ());
  /* Whatever the driver queued goes to the kernel in one batch, not a system call per request. */
  hv_block_plug (blk->block);
  if (blk->deferred)
    {
      Request *request = blk->deferred;
      blk->deferred = NULL;
      if (!submit_locked (blk, request))
        blk->deferred = request;
    }
  while (blk->deferred == NULL && (elem = hv_virtio_pop (blk->vdev, vq)) != NULL)
    {
      Request *request = prepare_locked (blk, vq, elem);

      if (request == NULL)
        continue;
      if (pending != NULL && mergeable (pending, request))
        {
          pending = merge (pending, request);
          continue;
        }
      if (pending != NULL && !submit_locked (blk, pending))
        {
          /* The block layer is full: the one after it goes back to the ring, untouched, for later. */
          blk->deferred = pending;
          request_free (request);
          hv_virtqueue_unpop (vq, 1);
          pending = NULL;
          break;
        }
      pending = request;
    }
  if (pending != NULL && !submit_locked (blk, pending))
    blk->deferred = pending;
  hv_block_unplug (blk->block);
  g_atomic_pointer_set (&blk->working, NULL);
  notify_locked (blk, vq);
}

static void
blk_queue_notify (void *opaque, HvVirtqueue *vq)
{
  process_queue_locked (opaque, vq);
}

/* The block layer can take requests again (on the I/O thread). */
static void
blk_ready (void *opaque)
{
  HvVirtioBlk *blk = opaque;

  if (g_atomic_pointer_get (&blk->working) == g_thread_self ())
    return; /* the loop in progress goes on by itself */
  hv_virtio_lock (blk->vdev);
  /* The refused request first (on its own queue), then every queue in turn. */
  if (blk->deferred)
    process_queue_locked (blk, blk->deferred->vq);
  for (unsigned i = 0; i < blk->n_queues && blk->deferred == NULL; i++)
    if (hv_virtqueue_is_ready (hv_virtio_get_queue (blk->vdev, i)))
      process_queue_locked (blk, hv_virtio_get_queue (blk->vdev, i));
  hv_virtio_unlock (blk->vdev);
}

static void
blk_config_read (void *opaque, unsigned offset, uint8_t *data, unsigned len)
{
  HvVirtioBlk *blk = opaque;

  memcpy (data, blk->config + offset, len);
}

static void
blk_reset (void *opaque)
{
  HvVirtioBlk *blk = opaque;

  /* Requests in flight still finish in the block layer, but their answers would land in rings the
   * driver no longer has: they are dropped. */
  blk->generation++;
  g_clear_pointer (&blk->deferred, request_free);
  blk->pushed = FALSE;
}

static void
build_config (HvVirtioBlk *blk)
{
  gboolean discard = hv_block_can_discard (blk->block);

  hv_put_le64 (blk->config + CFG_CAPACITY, hv_block_get_size (blk->block) / SECTOR_SIZE);
  hv_put_le32 (blk->config + CFG_SIZE_MAX, SIZE_MAX_BYTES);
  hv_put_le32 (blk->config + CFG_SEG_MAX, SEG_MAX);
  hv_put_le32 (blk->config + CFG_BLK_SIZE, SECTOR_SIZE);
  hv_put_le16 (blk->config + CFG_NUM_QUEUES, (uint16_t) blk->n_queues);
  if (discard)
    {
      hv_put_le32 (blk->config + CFG_MAX_DISCARD_SECTORS, RANGE_SECTORS_MAX);
      hv_put_le32 (blk->config + CFG_MAX_DISCARD_SEG, 1);
      /* A hint: holes are punched in file-system blocks. */
      hv_put_le32 (blk->config + CFG_DISCARD_ALIGNMENT, DISCARD_ALIGNMENT_SECTORS);
      hv_put_le32 (blk->config + CFG_MAX_WRITE_ZEROES_SECTORS, RANGE_SECTORS_MAX);
      hv_put_le32 (blk->config + CFG_MAX_WRITE_ZEROES_SEG, 1);
      blk->config[CFG_WRITE_ZEROES_MAY_UNMAP] = 0;
    }
}

HvVirtioBlk *
hv_virtio_blk_new (const HvPlatform *platform, HvPci *pci, const char *name, HvBlock *block,
                   const char *serial, unsigned n_queues, GError **error)
{
  HvVirtioBlk *blk = g_new0 (HvVirtioBlk, 1);
  uint64_t features;

  blk->name = g_strdup (name);
  blk->n_queues = CLAMP (n_queues, 1, HV_VIRTIO_BLK_MAX_QUEUES);
  blk->block = block;
  blk->platform = *platform;
  if (platform->io_context)
    g_main_context_ref (platform->io_context);
  if (serial)
    memcpy (blk->serial, serial, MIN (strlen (serial), sizeof blk->serial)); /* NUL-padded, not terminated */

  /* Every queue may fill up: the block layer takes as many requests as all of them hold. */
  if (platform->io_context == NULL
      || !hv_block_attach (block, platform->io_context, QUEUE_SIZE * blk->n_queues, error))
    {
      if (platform->io_context == NULL)
        g_set_error (error, HV_ERROR, HV_ERROR_INVALID_ARGUMENT, "%s: a disk needs an I/O thread", name);
      hv_virtio_blk_free (blk);
      return NULL;
    }
  hv_block_set_ready (block, blk_ready, blk);
  build_config (blk);

  features = HV_VIRTIO_FEATURE (VIRTIO_BLK_F_SIZE_MAX) | HV_VIRTIO_FEATURE (VIRTIO_BLK_F_SEG_MAX)
             | HV_VIRTIO_FEATURE (VIRTIO_BLK_F_BLK_SIZE) | HV_VIRTIO_FEATURE (VIRTIO_BLK_F_FLUSH);
  if (hv_block_is_read_only (block))
    features |= HV_VIRTIO_FEATURE (VIRTIO_BLK_F_RO);
  if (blk->n_queues > 1)
    features |= HV_VIRTIO_FEATURE (VIRTIO_BLK_F_MQ);
  if (hv_block_can_discard (block))
    features |= HV_VIRTIO_FEATURE (VIRTIO_BLK_F_DISCARD) | HV_VIRTIO_FEATURE (VIRTIO_BLK_F_WRITE_ZEROES);

  blk->info = (HvVirtioDeviceInfo){
    .name = blk->name,
    .device_id = VIRTIO_ID_BLOCK,
    .pci_class = PCI_CLASS_STORAGE_SCSI,
    .features = features,
    .n_queues = blk->n_queues,
    .queue_size = QUEUE_SIZE,
    .config_size = CFG_LEN,
    .config_read = blk_config_read,
    .queue_notify = blk_queue_notify,
    .reset = blk_reset,
  };
  blk->vdev = hv_virtio_pci_new (&blk->platform, pci, &blk->info, blk, error);
  if (blk->vdev == NULL)
    {
      hv_virtio_blk_free (blk);
      return NULL;
    }
  return blk;
}

unsigned
hv_virtio_blk_get_in_flight (HvVirtioBlk *blk)
{
  unsigned count;

  hv_virtio_lock (blk->vdev);
  count = blk->in_flight + (blk->deferred ? 1 : 0);
  hv_virtio_unlock (blk->vdev);
  return count;
}

void
hv_virtio_blk_quiesce (HvVirtioBlk *blk, gboolean quiesced)
{
  hv_virtio_lock (blk->vdev);
  hv_virtio_set_paused (blk->vdev, quiesced);
  hv_virtio_unlock (blk->vdev);
  if (!quiesced)
    return;

  /* Whatever the I/O thread is in the middle of finishes; then every request taken from the ring
   * completes, the one the block layer refused included, so no chain is left half done. */
  hv_iothread_barrier (blk->platform.io_context);
  for (;;)
    {
      gboolean deferred;

      hv_block_drain (blk->block);
      hv_virtio_lock (blk->vdev);
      deferred = blk->deferred != NULL;
      if (deferred && blk->in_flight == 0)
        process_queue_locked (blk, blk->deferred->vq);
      hv_virtio_unlock (blk->vdev);
      if (!deferred)
        break;
    }
}

void
hv_virtio_blk_free (HvVirtioBlk *blk)
{
  if (blk == NULL)
    return;
  if (blk->vdev)
    {
      hv_virtio_blk_quiesce (blk, TRUE);
      hv_virtio_free (blk->vdev);
    }
  g_clear_pointer (&blk->deferred, request_free);
  hv_block_free (blk->block);
  if (blk->platform.io_context)
    g_main_context_unref (blk->platform.io_context);
  g_free (blk->name);
  g_free (blk);
}

GVariant *
hv_virtio_blk_save_state (HvVirtioBlk *blk)
{
  g_auto (GVariantDict) dict = G_VARIANT_DICT_INIT (NULL);

  hv_virtio_lock (blk->vdev);
  g_variant_dict_insert_value (&dict, "virtio", hv_virtio_save_state (blk->vdev));
  g_variant_dict_insert (&dict, "capacity", "t", hv_block_get_size (blk->block));
  hv_virtio_unlock (blk->vdev);
  return g_variant_dict_end (&dict);
}

gboolean
hv_virtio_blk_load_state (HvVirtioBlk *blk, GVariant *state, GError **error)
{
  g_autoptr (GVariant) transport = NULL;
  uint64_t capacity;
  gboolean ok;

  if (!hv_state_get (state, blk->name, "capacity", "t", &capacity, error))
    return FALSE;
  if (capacity != hv_block_get_size (blk->block))
    {
      hv_state_set_bad (error, blk->name,
                        "the disk had %" G_GUINT64_FORMAT " bytes when saved and has %" G_GUINT64_FORMAT
                        " now: is it the same image?",
                        capacity, hv_block_get_size (blk->block));
      return FALSE;
    }
  transport = hv_state_lookup (state, blk->name, "virtio", G_VARIANT_TYPE_VARDICT, error);
  if (transport == NULL)
    return FALSE;
  hv_virtio_lock (blk->vdev);
  ok = hv_virtio_load_state (blk->vdev, transport, error);
  hv_virtio_unlock (blk->vdev);
  return ok;
}

/* The "virtio-blk" kind: a disk per instance, each on an I/O thread named after it. */

static gboolean
blk_realize (HvDevice *device, GError **error)
{
  const HvPlatform *machine = hv_device_get_platform (device);
  HvPlatform platform = *machine;
  const char *serial = NULL;
  guint32 queues = 1;
  HvBlock *block;
  int fd = hv_device_get_fd_option (device, "file");

  g_variant_lookup (device->options, "serial", "&s", &serial);
  g_variant_lookup (device->options, "queues", "u", &queues);
  if (fd < 0)
    {
      g_set_error (error, HV_ERROR, HV_ERROR_INVALID_ARGUMENT, "no disk image was given");
      return FALSE;
    }
  block = hv_disk_image_open (device, fd, FALSE, FALSE, "disk image", error);
  if (block == NULL)
    return FALSE;
  platform.io_context = hv_platform_get_io_context (machine, device->id, error);
  if (platform.io_context == NULL)
    {
      hv_block_free (block);
      return FALSE;
    }
  device->impl = hv_virtio_blk_new (&platform, hv_device_get_pci (device), device->id, block, serial, queues,
                                    error);
  return device->impl != NULL;
}

static void
blk_teardown (HvDevice *device)
{
  hv_virtio_blk_free (device->impl);
}

static void
blk_quiesce (HvDevice *device, gboolean quiesced)
{
  hv_virtio_blk_quiesce (device->impl, quiesced);
}

static GVariant *
blk_save (HvDevice *device)
{
  return hv_virtio_blk_save_state (device->impl);
}

static gboolean
blk_load (HvDevice *device, GVariant *state, unsigned version, GError **error)
{
  return hv_virtio_blk_load_state (device->impl, state, error);
}

/* QEMU names a virtio disk "scsi" in its boot order; SeaBIOS only looks at the slot. */
static char *
blk_boot_path (HvDevice *device)
{
  HvVirtioBlk *blk = device->impl;
  return hv_virtio_boot_path (blk->vdev, "scsi");
}

static struct _HvBlock *
blk_block (HvDevice *device)
{
  HvVirtioBlk *blk = device->impl;

  return blk != NULL ? blk->block : NULL;
}

const HvDeviceKind hv_virtio_blk_kind = {
  .info = &hv_kind_info_virtio_blk,
  .order = HV_DEVICE_ORDER_PCI,
  .state_version = 1,
  .realize = blk_realize,
  .teardown = blk_teardown,
  .quiesce = blk_quiesce,
  .save = blk_save,
  .load = blk_load,
  .boot_path = blk_boot_path,
  .block = blk_block,
};
