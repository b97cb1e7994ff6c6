/* qcow2.c — the qcow2 image format (v2 and v3) as a block driver: requests split into pieces a cluster (or
 * a run of contiguous clusters) long, copy-on-write of partial clusters, zero and discard, flush, and
 * opening and closing an image.  The metadata it stands on is in qcow2-metadata.c and the files beside it
 * (qcow2-private.h names them).
 *
 * Every field of the file is untrusted: tables are checked against the file's size and against each
 * other when the image opens, and each pointer met later (an L2 table, a data cluster) again when used,
 * so a damaged image fails requests with -EIO and is never written outside itself or into its metadata.
 *
 * Metadata I/O is synchronous, on the block's I/O thread (block-private.h); data goes through hv_aio
 * when the block has one.  With direct I/O (the default where the file system has it) metadata goes
 * through aligned buffers (qcow2-metadata.c) and data through hv_block_file_io, which bounces what the
 * guest did not align; clusters smaller than the direct-I/O block turn it off.
 *
 * Writes keep a crash at any moment to leaked clusters at worst: a cluster's refcount is written when it
 * is allocated, before the data; the L2 entry pointing at it only after the data landed and an
 * fdatasync; a new L2 table before the L1 entry pointing at it, again after an fdatasync; a cluster is
 * freed (refcount decremented) only after the L2 entry that dropped it is on disk.  A guest FLUSH writes
 * the tables in that order and ends with an fdatasync.  The image is never marked dirty (no lazy
 * refcounts). */
#include "qcow2-private.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

/* ------------------------------------------------------------------------------------------------ */
/* Scatter-gather helpers */

/* The part [@skip, @skip + @len) of @iov as a new vector in @out (room for @n entries). */
static unsigned
iov_slice (const struct iovec *iov, unsigned n, uint64_t skip, uint64_t len, struct iovec *out)
{
  unsigned count = 0;

  for (unsigned i = 0; i < n && len > 0; i++)
    {
      if (skip >= iov[i].iov_len)
        {
          skip -= iov[i].iov_len;
          continue;
        }
      out[count].iov_base = (uint8_t *) iov[i].iov_base + skip;
      out[count].iov_len = MIN (iov[i].iov_len - skip, len);
      len -= out[count].iov_len;
      skip = 0;
      count++;
    }
  return count;
}

/* Copies between @iov (from byte @skip) and @buf: to the vector when @to_iov, zeros when @buf is NULL. */
static void
iov_copy (const struct iovec *iov, unsigned n, uint64_t skip, uint8_t *buf, uint64_t len, gboolean to_iov)
{
  for (unsigned i = 0; i < n && len > 0; i++)
    {
      uint8_t *base;
      uint64_t part;

      if (skip >= iov[i].iov_len)
        {
          skip -= iov[i].iov_len;
          continue;
        }
      base = (uint8_t *) iov[i].iov_base + skip;
      part = MIN (iov[i].iov_len - skip, len);
      if (buf == NULL)
        memset (base, 0, part);
      else if (to_iov)
        memcpy (base, buf, part);
      else
        memcpy (buf, base, part);
      if (buf != NULL)
        buf += part;
      len -= part;
      skip = 0;
    }
}

static void
iov_zero (const struct iovec *iov, unsigned n, uint64_t skip, uint64_t len)
{
  iov_copy (iov, n, skip, NULL, len, TRUE);
}

/* ------------------------------------------------------------------------------------------------ */
/* Requests */

/* A request in progress: handled a piece (up to a cluster, or a run of contiguous clusters) at a time,
 * each piece's data I/O through hv_aio when the block has one. */
typedef struct
{
  HvBlockRequest *request;
  HvBlock *block;
  uint64_t done;       /* bytes of the request handled */
  struct iovec *slice; /* request->n_iov entries */
  gboolean in_submit;  /* still inside driver->submit: completion is deferred */
  gboolean waiting;

  /* The piece in flight. */
  uint64_t piece_len; /* bytes of I/O */
  uint64_t advance;   /* bytes of the request it covers */
  int result;         /* a deferred completion's */
  gboolean piece_is_write;
  gboolean piece_allocating; /* an allocating write: the L2 entry is set when the data landed */
  uint64_t piece_cluster;    /* guest cluster index (busy while allocating) */
  uint64_t piece_host;
  uint8_t *bounce; /* the cluster written by an allocating write, or zeros */
} Qcow2Op;

static void op_continue (Qcow2Op *op);

static void
op_finish_now (Qcow2Op *op, int result)
{
  g_free (op->slice);
  hv_qcow2_buffer_free (op->bounce);
  hv_block_request_complete (op->request, result);
  g_free (op);
}

static gboolean
op_finish_idle (gpointer data)
{
  Qcow2Op *op = data;

  op_finish_now (op, op->result);
  return G_SOURCE_REMOVE;
}

static void
op_finish (Qcow2Op *op, int result)
{
  if (op->in_submit)
    {
      GSource *source = g_idle_source_new ();

      /* Completion runs on the block's context, after hv_block_submit returned. */
      op->result = result;
      g_source_set_callback (source, op_finish_idle, op, NULL);
      g_source_attach (source, op->block->context != NULL ? op->block->context
                                                          : g_main_context_get_thread_default ());
      g_source_unref (source);
      return;
    }
  op_finish_now (op, result);
}

static void
wake_waiters (Qcow2 *q)
{
  GQueue woken = G_QUEUE_INIT;
  Qcow2Op *op;

  while ((op = g_queue_pop_head (&q->waiting)) != NULL)
    g_queue_push_tail (&woken, op);
  while ((op = g_queue_pop_head (&woken)) != NULL)
    {
      op->waiting = FALSE;
      op_continue (op);
    }
}

/* The data of the piece in flight landed (@result: bytes, or -errno): 0 (the request moved past the
 * piece) or -errno. */
static int
piece_finish (Qcow2Op *op, int64_t result)
{
  Qcow2 *q = op->block->impl;
  int ret = 0;

  if (op->piece_is_write)
    q->writes_in_flight--;
  if (result < 0)
    ret = (int) result;
  else if (!op->piece_is_write && (uint64_t) result < op->piece_len)
    /* past the end of the file: zeros */
    iov_zero (op->request->iov, op->request->n_iov, op->done + result, op->piece_len - result);
  if (op->piece_is_write && ret == 0)
    {
      q->unsynced = TRUE;
      q->file_size = MAX (q->file_size, op->piece_host + op->piece_len);
    }

  if (op->piece_allocating)
    {
      g_hash_table_remove (q->busy, GSIZE_TO_POINTER (op->piece_cluster));
      if (ret == 0)
        {
          Qcow2Lookup lookup;

          ret = hv_qcow2_l2_lookup_for_write (q, op->piece_cluster << q->cluster_bits, &lookup);
          if (ret == 0)
            {
              uint64_t old = lookup.entry;

              /* The entry changes first: freeing may flush the tables, which must not still point at
               * what it frees. */
              hv_qcow2_l2_set (q, &lookup, op->piece_host | QCOW2_OFLAG_COPIED, QCOW2_SUBCLUSTERS_ALLOCATED);
              ret = hv_qcow2_entry_free_later (q, old);
            }
        }
      g_clear_pointer (&op->bounce, hv_qcow2_buffer_free);
      if (ret < 0)
        hv_qcow2_clusters_free_later (q, op->piece_host, 1);
      wake_waiters (q);
    }
  if (ret == 0)
    op->done += op->advance;
  return ret;
}

static void
piece_aio_cb (void *opaque, int64_t result)
{
  Qcow2Op *op = opaque;
  int ret = piece_finish (op, result);

  if (ret < 0)
    op_finish (op, ret);
  else
    op_continue (op);
}

/* Starts the data I/O of the piece: through hv_aio (the image's own file by hv_block_file_io, which
 * bounces what direct I/O cannot take), or synchronously without one. */
static gboolean
piece_io (Qcow2Op *op, int fd, uint64_t host, const struct iovec *iov, unsigned n_iov, gboolean write,
          int64_t *sync_result)
{
  HvBlock *block = op->block;
  Qcow2 *q = block->impl;
  g_autofree uint8_t *copy = NULL;
  int ret;

  if (write)
    q->writes_in_flight++;
  op->piece_is_write = write;
  op->piece_host = host;
  if (block->aio != NULL && n_iov <= HV_AIO_MAX_IOV)
    {
      HvAioOp aio_op = write ? HV_AIO_WRITE : HV_AIO_READ;

      if (fd == block->fd
              ? hv_block_file_io (block, aio_op, iov, n_iov, host, 0, piece_aio_cb, op, NULL)
              : hv_aio_submit (block->aio, aio_op, fd, iov, n_iov, host, 0, piece_aio_cb, op, NULL))
        return TRUE;
      /* A full queue (the core submits no more than the aio's depth): do it here. */
    }
  /* One buffer, through the same aligned paths as metadata (short transfers carried on, the end of the
   * file read as zeros). */
  copy = g_malloc (op->piece_len);
  if (write)
    {
      iov_copy (iov, n_iov, 0, copy, op->piece_len, FALSE);
      ret = hv_qcow2_write (q, copy, op->piece_len, host);
    }
  else
    {
      ret = hv_qcow2_file_read (fd, copy, op->piece_len, host);
      if (ret == 0)
        iov_copy (iov, n_iov, 0, copy, op->piece_len, TRUE);
    }
  *sync_result = ret < 0 ? ret : (int64_t) op->piece_len;
  return FALSE;
}

/* After a piece's data I/O: FALSE when it went asynchronous (the request continues from its callback),
 * TRUE when it is done and the request goes on here (or stops: *@error). */
static gboolean
piece_started (Qcow2Op *op, gboolean async, int64_t sync_result, int *error)
{
  int ret;

  if (async)
    return FALSE;
  ret = piece_finish (op, sync_result);
  if (ret < 0)
    *error = ret;
  return TRUE;
}

static gboolean
cluster_busy (Qcow2 *q, uint64_t guest, uint64_t len)
{
  if (g_hash_table_size (q->busy) == 0)
    return FALSE;
  for (uint64_t c = guest >> q->cluster_bits; c <= (guest + len - 1) >> q->cluster_bits; c++)
    if (g_hash_table_contains (q->busy, GSIZE_TO_POINTER (c)))
      return TRUE;
  return FALSE;
}

/* The next piece of a read: returns FALSE when it went asynchronous. */
static gboolean
read_piece (Qcow2Op *op, int *error)
{
  gboolean async;
  int64_t result;
  HvBlockRequest *r = op->request;
  uint64_t guest = r->offset + op->done, left = r->length - op->done;
  Qcow2Map m;
  unsigned n;
  int ret;

  ret = hv_qcow2_map_guest (op->block, guest, left, &m);
  if (ret < 0)
    return *error = ret, TRUE;
  switch (m.kind)
    {
    case MAP_ZERO:
      iov_zero (r->iov, r->n_iov, op->done, m.len);
      break;
    case MAP_COMPRESSED:
      iov_copy (r->iov, r->n_iov, op->done, (uint8_t *) m.data, m.len, TRUE);
      break;
    case MAP_DATA:
      /* Runs of clusters contiguous in the same file go as one read. */
      while (m.len < left && m.len < QCOW2_MAX_PIECE)
        {
          Qcow2Map next;

          if (hv_qcow2_map_guest (op->block, guest + m.len, left - m.len, &next) < 0 || next.kind != MAP_DATA
              || next.fd != m.fd || next.host != m.host + m.len)
            break;
          m.len += next.len;
        }
      op->piece_len = op->advance = m.len;
      op->piece_allocating = FALSE;
      n = iov_slice (r->iov, r->n_iov, op->done, m.len, op->slice);
      async = piece_io (op, m.fd, m.host, op->slice, n, FALSE, &result);
      return piece_started (op, async, result, error);
    }
  op->done += m.len;
  return TRUE;
}

/* Whether host cluster @host may take guest data written in place. */
static gboolean
data_cluster_writable (Qcow2 *q, uint64_t host)
{
  return host != 0 && host % q->cluster_size == 0 && host + q->cluster_size <= q->file_size
         && !hv_qcow2_is_metadata (q, host);
}

/* Whether a cluster takes a write where it is: a plain cluster of its own (with subclusters: all of them
 * allocated). */
static gboolean
writable_in_place (Qcow2 *q, const Qcow2Lookup *lookup)
{
  return (lookup->entry & QCOW2_OFLAG_COPIED) && !(lookup->entry & QCOW2_OFLAG_COMPRESSED)
         && (q->extended_l2 ? lookup->bitmap == QCOW2_SUBCLUSTERS_ALLOCATED
                            : !(lookup->entry & QCOW2_OFLAG_ZERO));
}

/* The next piece of a write (from the request's buffers, or zeros when @zeros). */
static gboolean
write_piece (Qcow2Op *op, gboolean zeros, int *error)
{
  gboolean async;
  int64_t result;
  HvBlockRequest *r = op->request;
  Qcow2 *q = op->block->impl;
  uint64_t guest = r->offset + op->done, left = r->length - op->done;
  uint64_t in_cluster = guest & (q->cluster_size - 1), len = MIN (left, q->cluster_size - in_cluster);
  Qcow2Lookup lookup;
  uint64_t host;
  unsigned n;
  int ret;

  ret = hv_qcow2_l2_lookup (q, guest, &lookup);
  if (ret < 0)
    return *error = ret, TRUE;
  host = lookup.entry & QCOW2_OFFSET_MASK;
  op->piece_cluster = guest >> q->cluster_bits;

  if (writable_in_place (q, &lookup))
    {
      if (!data_cluster_writable (q, host))
        {
          g_debug ("qcow2: L2 entry for 0x%" G_GINT64_MODIFIER "x points at metadata or outside the image",
                   guest);
          return *error = -EIO, TRUE;
        }
      /* The clusters after it that follow it in the file too go in the same write. */
      while (len < left && len < QCOW2_MAX_PIECE)
        {
          Qcow2Lookup next;

          if (hv_qcow2_l2_lookup (q, guest + len, &next) < 0 || !writable_in_place (q, &next)
              || (next.entry & QCOW2_OFFSET_MASK) != host + in_cluster + len
              || !data_cluster_writable (q, host + in_cluster + len) || cluster_busy (q, guest + len, 1))
            break;
          len += MIN (left - len, q->cluster_size);
        }
      op->piece_len = op->advance = len;
      op->piece_allocating = FALSE;
      if (zeros)
        {
          hv_qcow2_buffer_free (op->bounce);
          op->bounce = hv_qcow2_buffer_new (len);
          op->slice[0].iov_base = op->bounce;
          op->slice[0].iov_len = len;
          n = 1;
        }
      else
        n = iov_slice (r->iov, r->n_iov, op->done, len, op->slice);
      async = piece_io (op, q->fd, host + in_cluster, op->slice, n, TRUE, &result);
      return piece_started (op, async, result, error);
    }

  /* A new cluster: the old contents around the write (copy-on-write), then the data. */
  ret = hv_qcow2_cluster_alloc (q, &host);
  if (ret < 0)
    return *error = ret, TRUE;
  hv_qcow2_buffer_free (op->bounce);
  op->bounce = hv_qcow2_buffer_new (q->cluster_size);
  if (len < q->cluster_size)
    {
      ret = hv_qcow2_read_sync (op->block, guest - in_cluster, op->bounce, q->cluster_size);
      if (ret < 0)
        {
          hv_qcow2_clusters_free_later (q, host, 1);
          return *error = ret, TRUE;
        }
    }
  if (zeros)
    memset (op->bounce + in_cluster, 0, len);
  else
    iov_copy (r->iov, r->n_iov, op->done, op->bounce + in_cluster, len, FALSE);
  op->piece_len = q->cluster_size; /* the whole cluster is written ... */
  op->advance = len;               /* ... for @len bytes of the request */
  op->piece_allocating = TRUE;
  g_hash_table_add (q->busy, GSIZE_TO_POINTER (op->piece_cluster));
  op->slice[0].iov_base = op->bounce;
  op->slice[0].iov_len = q->cluster_size;
  async = piece_io (op, q->fd, host, op->slice, 1, TRUE, &result);
  return piece_started (op, async, result, error);
}

/* DISCARD and WRITE_ZEROES of whole clusters: metadata only.  Partial clusters: zeros written (WRITE_ZEROES)
 * or nothing (DISCARD). */
static gboolean
zero_piece (Qcow2Op *op, int *error)
{
  HvBlockRequest *r = op->request;
  HvBlock *block = op->block;
  Qcow2 *q = block->impl;
  uint64_t guest = r->offset + op->done, left = r->length - op->done;
  uint64_t in_cluster = guest & (q->cluster_size - 1), len = MIN (left, q->cluster_size - in_cluster);
  gboolean whole = in_cluster == 0 && (len == q->cluster_size || guest + len >= block->size);
  Qcow2Lookup lookup;
  uint64_t new_entry, new_bitmap;
  int ret;

  if (!whole || (q->version < 3 && block->backing != NULL))
    {
      if (r->op == HV_BLOCK_WRITE_ZEROES)
        return write_piece (op, TRUE, error);
      op->done += len;
      return TRUE;
    }
  ret = hv_qcow2_l2_lookup (q, guest, &lookup);
  if (ret < 0)
    return *error = ret, TRUE;
  /* v3: a zero cluster (reads zeros, hides the backing file); v2 without backing: unallocated.  An
   * unallocated cluster without a backing file already reads zeros. */
  new_entry = q->version >= 3 && block->backing != NULL && !q->extended_l2 ? QCOW2_OFLAG_ZERO : 0;
  new_bitmap = q->extended_l2 && block->backing != NULL ? QCOW2_SUBCLUSTERS_ZERO : 0;
  if ((lookup.entry != new_entry || lookup.bitmap != new_bitmap)
      && !(lookup.entry == 0 && (lookup.bitmap & QCOW2_SUBCLUSTERS_ALLOCATED) == 0 && block->backing == NULL))
    {
      uint64_t old = lookup.entry;

      ret = hv_qcow2_l2_lookup_for_write (q, guest, &lookup);
      if (ret == 0)
        {
          hv_qcow2_l2_set (q, &lookup, new_entry, new_bitmap);
          ret = hv_qcow2_entry_free_later (q, old);
        }
      if (ret < 0)
        return *error = ret, TRUE;
    }
  op->done += len;
  return TRUE;
}

static void
op_continue (Qcow2Op *op)
{
  HvBlockRequest *r = op->request;
  Qcow2 *q = op->block->impl;
  int error = 0;

  while (op->done < r->length)
    {
      uint64_t guest = r->offset + op->done;
      gboolean go_on;

      if (cluster_busy (q, guest, MIN (r->length - op->done, q->cluster_size)))
        {
          op->waiting = TRUE;
          g_queue_push_tail (&q->waiting, op);
          return;
        }
      switch (r->op)
        {
        case HV_BLOCK_READ:
          go_on = read_piece (op, &error);
          break;
        case HV_BLOCK_WRITE:
          go_on = write_piece (op, FALSE, &error);
          break;
        default:
          go_on = zero_piece (op, &error);
          break;
        }
      if (error < 0)
        {
          op_finish (op, error);
          return;
        }
      if (!go_on)
        return;
    }
  op_finish (op, 0);
}

static gboolean
qcow2_submit (HvBlock *block, HvBlockRequest *request)
{
  Qcow2 *q = block->impl;
  Qcow2Op *op;
  int result = 0;

  op = g_new0 (Qcow2Op, 1);
  op->request = request;
  op->block = block;
  op->in_submit = TRUE;
  op->slice = g_new (struct iovec, MAX (request->n_iov, 1));

  if (request->op != HV_BLOCK_FLUSH
      && (request->offset > block->size || request->length > block->size - request->offset))
    result = -EINVAL;
  else if (request->op != HV_BLOCK_READ && request->op != HV_BLOCK_FLUSH && q->read_only)
    result = -EROFS;
  else if (request->op == HV_BLOCK_FLUSH)
    {
      result = hv_qcow2_flush_metadata (q);
      if (result == 0 && !q->read_only)
        {
          q->unsynced = TRUE;
          result = hv_qcow2_sync (q);
        }
    }
  if (result < 0 || request->op == HV_BLOCK_FLUSH || request->length == 0)
    op_finish (op, result);
  else
    op_continue (op);
  op->in_submit = FALSE; /* @op may be gone: only a deferred completion still refers to it */
  return TRUE;
}

/* ------------------------------------------------------------------------------------------------ */
/* Open and close */

G_DEFINE_AUTOPTR_CLEANUP_FUNC (Qcow2, hv_qcow2_free)

static gboolean
qcow2_probe (const uint8_t *head, size_t len)
{
  return len >= 4 && be32_at (head) == QCOW2_MAGIC;
}

static gboolean
qcow2_open (HvBlock *block, GError **error)
{
  g_autoptr (Qcow2) q = g_new0 (Qcow2, 1);
  g_autofree uint8_t *head = NULL;
  struct stat st;
  size_t head_len;
  int ret;

  q->fd = block->fd;
  if (fstat (block->fd, &st) < 0)
    return g_set_error (error, HV_ERROR, HV_ERROR_FAILED, "cannot stat the image: %s", g_strerror (errno)),
           FALSE;
  q->file_size = st.st_size;
  /* The first cluster holds the header, extensions and backing name; clusters are at most 2 MiB. */
  head_len = MIN ((uint64_t) 1 << QCOW2_MAX_CLUSTER_BITS, q->file_size);
  head = g_malloc0 (MAX (head_len, 1));
  ret = hv_qcow2_file_read (q->fd, head, head_len, 0);
  if (ret < 0)
    return g_set_error (error, HV_ERROR, HV_ERROR_FAILED, "cannot read the qcow2 header: %s",
                        g_strerror (-ret)),
           FALSE;
  if (!hv_qcow2_parse_header (q, head, head_len, q->file_size, error))
    return FALSE;
  if (block->direct && q->cluster_size < block->alignment)
    {
      /* Direct I/O would write metadata in blocks shared with guest data in flight. */
      int flags = fcntl (block->fd, F_GETFL);

      if (block->options.cache == HV_BLOCK_CACHE_NONE)
        return g_set_error (error, HV_ERROR, HV_ERROR_INVALID_ARGUMENT,
                            "its clusters (%" G_GUINT64_FORMAT " bytes) are smaller than the blocks direct "
                            "I/O needs on its file system (%u bytes): use cache=writeback",
                            q->cluster_size, block->alignment),
               FALSE;
      if (flags < 0 || fcntl (block->fd, F_SETFL, flags & ~O_DIRECT) < 0)
        return g_set_error (error, HV_ERROR, HV_ERROR_FAILED, "cannot turn off direct I/O on the image: %s",
                            g_strerror (errno)),
               FALSE;
      g_debug ("qcow2: clusters smaller than the direct I/O block (%u bytes): using the host page cache",
               block->alignment);
      block->direct = FALSE;
    }
  q->alignment = block->direct ? block->alignment : 0;

  q->read_only = block->options.read_only;
  if (!q->read_only)
    {
      const char *why = NULL;

      if (q->incompatible & QCOW2_INCOMPAT_CORRUPT)
        why = "is marked corrupt (qemu-img check -r all repairs it); it can be opened read-only";
      else if (q->incompatible & QCOW2_INCOMPAT_DIRTY)
        why = "is marked dirty (lazy refcounts not written back: qemu-img check -r all repairs it); it can "
              "be opened read-only";
      if (why != NULL)
        return g_set_error (error, HV_ERROR, HV_ERROR_BAD_IMAGE, "qcow2 image %s", why), FALSE;
    }

  q->metadata = g_hash_table_new (NULL, NULL);
  q->busy = g_hash_table_new (NULL, NULL);
  q->pending_frees = g_array_new (FALSE, FALSE, sizeof (Qcow2Free));
  g_queue_init (&q->waiting);
  if (!hv_qcow2_load_tables (q, error))
    return FALSE;
  if (!q->read_only && q->nb_snapshots > 0 && !hv_qcow2_load_snapshots (q, error))
    return FALSE;

  /* Table buffers are allocated as the cache fills. */
  q->l2_cache_size = CLAMP (QCOW2_L2_CACHE_BYTES >> q->cluster_bits, QCOW2_L2_CACHE_MIN, QCOW2_L2_CACHE_MAX);
  q->l2_cache = g_new0 (Qcow2L2Slot, q->l2_cache_size);
  q->refblock.data = hv_qcow2_buffer_new (q->cluster_size);
  q->compressed_cluster = g_malloc (q->cluster_size);
  q->free_hint = 1;

  /* Auto-clear features we do not keep up to date (bitmaps) are cleared before the first write. */
  if (!q->read_only && q->version >= 3 && q->autoclear != 0)
    {
      uint8_t zero[8] = { 0 };

      ret = hv_qcow2_write (q, zero, 8, 88);
      if (ret == 0)
        ret = hv_qcow2_sync (q);
      if (ret < 0)
        return g_set_error (error, HV_ERROR, HV_ERROR_FAILED, "cannot update the qcow2 header: %s",
                            g_strerror (-ret)),
               FALSE;
      q->autoclear = 0;
    }

  block->size = (q->size + 511) / 512 * 512;
  block->impl = q;

  if (q->backing_name != NULL)
    {
      HvBlock *backing = hv_block_open_backing (block, q->backing_name, q->backing_format, error);

      if (backing == NULL)
        {
          block->impl = NULL;
          return FALSE;
        }
      block->backing = backing;
      /* Its data is read at any offset and length (copy-on-write of partial clusters). */
      for (HvBlock *b = backing; b != NULL; b = b->backing)
        if (b->direct)
          {
            int flags = fcntl (b->fd, F_GETFL);

            if (flags >= 0 && fcntl (b->fd, F_SETFL, flags & ~O_DIRECT) == 0)
              b->direct = FALSE;
          }
    }
  g_steal_pointer (&q);
  return TRUE;
}

static void
qcow2_close (HvBlock *block)
{
  Qcow2 *q = block->impl;

  if (q == NULL)
    return;
  if (!q->read_only)
    {
      int ret = hv_qcow2_flush_metadata (q);

      if (ret == 0)
        ret = hv_qcow2_sync (q);
      if (ret < 0)
        g_message ("qcow2: writing the image's tables on close failed: %s", g_strerror (-ret));
    }
  hv_qcow2_free (q);
  block->impl = NULL;
}

static gboolean
qcow2_snapshot_list (HvBlock *block, GPtrArray *out, GError **error)
{
  return hv_qcow2_snapshot_list (block->impl, out, error);
}

static gboolean
qcow2_snapshot (HvBlock *block, HvBlockSnapshotOp op, const char *name, GError **error)
{
  Qcow2 *q = block->impl;
  uint64_t size;

  if (q->read_only)
    return g_set_error (error, HV_ERROR, HV_ERROR_PERMISSION, "it is open read-only"), FALSE;
  if (q->writes_in_flight > 0 || g_hash_table_size (q->busy) > 0)
    return g_set_error (error, HV_ERROR, HV_ERROR_INVALID_STATE, "it has requests in flight"), FALSE;
  switch (op)
    {
    case HV_BLOCK_SNAPSHOT_CREATE:
      return hv_qcow2_snapshot_create (q, name, 0, error);
    case HV_BLOCK_SNAPSHOT_APPLY:
      if (!hv_qcow2_snapshot_apply (q, name, &size, error))
        return FALSE;
      block->size = (size + 511) / 512 * 512;
      return TRUE;
    case HV_BLOCK_SNAPSHOT_DELETE:
      return hv_qcow2_snapshot_delete (q, name, error);
    default:
      return g_set_error (error, HV_ERROR, HV_ERROR_INVALID_ARGUMENT, "there is no snapshot operation %u",
                          op),
             FALSE;
    }
}

const HvBlockDriver hv_block_qcow2_driver = {
  .format = HV_BLOCK_FORMAT_QCOW2,
  .name = "qcow2",
  .probe = qcow2_probe,
  .open = qcow2_open,
  .close = qcow2_close,
  .submit = qcow2_submit,
  .snapshot_list = qcow2_snapshot_list,
  .snapshot = qcow2_snapshot,
};
