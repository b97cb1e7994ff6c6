/* qcow2-refcount.c — a qcow2 image's refcounts: the refcount blocks and table (grown as the file grows),
 * cluster allocation in crash-safe order, and frees held back until the L2 entries that dropped the
 * clusters are on disk. */
#include "qcow2-private.h"

#include <errno.h>

/* ------------------------------------------------------------------------------------------------ */
/* Refcounts */

static int
refblock_load (Qcow2 *q, uint64_t offset, uint8_t **data)
{
  int ret;

  if (q->refblock.offset == offset)
    {
      *data = q->refblock.data;
      return 0;
    }
  q->refblock.offset = 0;
  ret = hv_qcow2_file_read (q->fd, q->refblock.data, q->cluster_size, offset);
  if (ret < 0)
    return ret;
  q->refblock.offset = offset;
  *data = q->refblock.data;
  return 0;
}

static uint64_t
refcount_get_entry (Qcow2 *q, const uint8_t *block, uint64_t index)
{
  unsigned bits = 1u << q->refcount_order;

  switch (bits)
    {
    case 64:
      return be64_at (block + index * 8);
    case 32:
      return be32_at (block + index * 4);
    case 16:
      return ((uint64_t) block[index * 2] << 8) | block[index * 2 + 1];
    case 8:
      return block[index];
    default:
      return (block[index * bits / 8] >> ((index * bits) % 8)) & ((1u << bits) - 1);
    }
}

/* Sets the entry and returns the byte range of the block that changed. */
static void
refcount_set_entry (Qcow2 *q, uint8_t *block, uint64_t index, uint64_t value, size_t *at, size_t *len)
{
  unsigned bits = 1u << q->refcount_order;

  switch (bits)
    {
    case 64:
      be64_put (block + index * 8, value);
      *at = index * 8, *len = 8;
      break;
    case 32:
      {
        uint32_t v = GUINT32_TO_BE ((uint32_t) value);

        memcpy (block + index * 4, &v, 4);
        *at = index * 4, *len = 4;
        break;
      }
    case 16:
      block[index * 2] = value >> 8;
      block[index * 2 + 1] = value;
      *at = index * 2, *len = 2;
      break;
    case 8:
      block[index] = value;
      *at = index, *len = 1;
      break;
    default:
      {
        unsigned shift = (index * bits) % 8, mask = ((1u << bits) - 1) << shift;
        uint8_t *byte = block + index * bits / 8;

        *byte = (*byte & ~mask) | ((value << shift) & mask);
        *at = index * bits / 8, *len = 1;
        break;
      }
    }
}

/* The refcount of the cluster at index @cluster; clusters past the table count as free.  -errno or 0. */
int
hv_qcow2_refcount_get (Qcow2 *q, uint64_t cluster, uint64_t *refcount)
{
  uint64_t table_index = cluster / q->refblock_entries, block_offset;
  uint8_t *block;
  int ret;

  *refcount = 0;
  if (table_index >= q->reftable_entries)
    return 0;
  block_offset = q->reftable[table_index] & QCOW2_OFFSET_MASK;
  if (block_offset == 0)
    return 0;
  ret = refblock_load (q, block_offset, &block);
  if (ret < 0)
    return ret;
  *refcount = refcount_get_entry (q, block, cluster % q->refblock_entries);
  return 0;
}

/* Writes one refcount, write-through; the block must exist. */
int
hv_qcow2_refcount_set (Qcow2 *q, uint64_t cluster, uint64_t value)
{
  uint64_t table_index = cluster / q->refblock_entries, block_offset;
  uint8_t *block;
  size_t at, len;
  int ret;

  g_return_val_if_fail (table_index < q->reftable_entries, -EIO);
  block_offset = q->reftable[table_index] & QCOW2_OFFSET_MASK;
  g_return_val_if_fail (block_offset != 0, -EIO);
  ret = refblock_load (q, block_offset, &block);
  if (ret < 0)
    return ret;
  refcount_set_entry (q, block, cluster % q->refblock_entries, value, &at, &len);
  if (q->alignment != 0)
    {
      /* Direct I/O: the aligned block around the entry, straight from the cached (aligned) copy. */
      size_t first = at & ~(size_t) (q->alignment - 1);

      len = ((at + len + q->alignment - 1) & ~(size_t) (q->alignment - 1)) - first;
      at = first;
    }
  ret = hv_qcow2_write (q, block + at, len, block_offset + at);
  if (ret < 0)
    q->refblock.offset = 0;
  return ret;
}

/* Makes the refcount table cover cluster index @cluster: a new, larger table at cluster @at (free, as is
 * everything after it), followed by the refcount blocks for itself, written and synced before the header
 * points at it.  The old table's clusters are then freed. */
static int
reftable_grow (Qcow2 *q, uint64_t at)
{
  uint64_t entries_per_cluster = q->cluster_size / 8, new_clusters = q->reftable_clusters, blocks = 0;
  uint64_t first_block, last_block, old_offset = q->reftable_offset, old_clusters = q->reftable_clusters;
  g_autofree uint8_t *table = NULL;
  g_autofree uint8_t *block = NULL;
  uint8_t header[12];
  int ret;

  /* Blocks first (at @at ...), then the table; grow until the table covers all of them. */
  first_block = at / q->refblock_entries;
  for (;;)
    {
      uint64_t end = at + blocks + new_clusters; /* one past the last cluster we place */

      last_block = (end - 1) / q->refblock_entries;
      if (last_block - first_block + 1 != blocks)
        {
          blocks = last_block - first_block + 1;
          continue;
        }
      if ((last_block + 1) > new_clusters * entries_per_cluster)
        {
          new_clusters = MAX (new_clusters * 2, (last_block + entries_per_cluster) / entries_per_cluster);
          continue;
        }
      break;
    }
  if ((new_clusters << q->cluster_bits) > QCOW2_MAX_REFTABLE_BYTES || new_clusters > G_MAXUINT32)
    return -EFBIG;
  /* Clusters past the refcount table's reach are free, unless a damaged image put tables there. */
  for (uint64_t c = at; c < at + blocks + new_clusters; c++)
    if (hv_qcow2_is_metadata (q, c << q->cluster_bits))
      {
        g_debug ("qcow2: metadata at cluster %" G_GUINT64_FORMAT " is not covered by the refcount table", c);
        return -EIO;
      }

  table = g_malloc0 (new_clusters << q->cluster_bits);
  for (uint64_t i = 0; i < q->reftable_entries; i++)
    be64_put (table + i * 8, q->reftable[i]);
  block = g_malloc0 (q->cluster_size);
  for (uint64_t b = first_block; b <= last_block; b++)
    {
      memset (block, 0, q->cluster_size);
      for (uint64_t c = MAX (at, b * q->refblock_entries);
           c < at + blocks + new_clusters && c < (b + 1) * q->refblock_entries; c++)
        {
          size_t unused_at, unused_len;

          refcount_set_entry (q, block, c % q->refblock_entries, 1, &unused_at, &unused_len);
        }
      ret = hv_qcow2_write (q, block, q->cluster_size, (at + (b - first_block)) << q->cluster_bits);
      if (ret < 0)
        return ret;
      be64_put (table + b * 8, (at + (b - first_block)) << q->cluster_bits);
    }
  ret = hv_qcow2_write (q, table, new_clusters << q->cluster_bits, (at + blocks) << q->cluster_bits);
  if (ret < 0)
    return ret;
  ret = hv_qcow2_sync (q);
  if (ret < 0)
    return ret;

  be64_put (header, (at + blocks) << q->cluster_bits);
  {
    uint32_t v = GUINT32_TO_BE ((uint32_t) new_clusters);

    memcpy (header + 8, &v, 4);
  }
  ret = hv_qcow2_write (q, header, sizeof header, 48);
  if (ret < 0)
    return ret;
  ret = hv_qcow2_sync (q);
  if (ret < 0)
    return ret;

  g_free (q->reftable);
  q->reftable = g_new0 (uint64_t, new_clusters * entries_per_cluster);
  for (uint64_t i = 0; i < new_clusters * entries_per_cluster; i++)
    q->reftable[i] = be64_at (table + i * 8);
  q->reftable_entries = new_clusters * entries_per_cluster;
  q->reftable_offset = (at + blocks) << q->cluster_bits;
  q->reftable_clusters = new_clusters;
  hv_qcow2_add_metadata (q, at << q->cluster_bits, blocks + new_clusters);

  /* The old table is no longer pointed at by the (synced) header. */
  for (uint64_t i = 0; i < old_clusters; i++)
    {
      g_hash_table_remove (q->metadata, GSIZE_TO_POINTER ((old_offset >> q->cluster_bits) + i));
      ret = hv_qcow2_refcount_set (q, (old_offset >> q->cluster_bits) + i, 0);
      if (ret < 0)
        return ret;
    }
  q->free_hint = MIN (q->free_hint, old_offset >> q->cluster_bits);
  return 0;
}

/* Allocates one cluster (refcount 1, written through) and returns its byte offset. */
int
hv_qcow2_cluster_alloc (Qcow2 *q, uint64_t *offset)
{
  for (uint64_t cluster = q->free_hint;; cluster++)
    {
      uint64_t table_index = cluster / q->refblock_entries, refcount;
      int ret;

      if ((cluster << q->cluster_bits) >= (1ull << 56))
        return -ENOSPC;
      if (hv_qcow2_is_metadata (q, cluster << q->cluster_bits))
        continue;
      if (table_index >= q->reftable_entries)
        {
          ret = reftable_grow (q, cluster);
          if (ret < 0)
            return ret;
          continue; /* @cluster now holds a refcount block or the table */
        }
      if ((q->reftable[table_index] & QCOW2_OFFSET_MASK) == 0)
        {
          /* No block for this stretch: all of it is free.  The block describes itself, at @cluster. */
          g_autofree uint8_t *block = g_malloc0 (q->cluster_size);
          size_t unused_at, unused_len;
          uint8_t entry[8];

          refcount_set_entry (q, block, cluster % q->refblock_entries, 1, &unused_at, &unused_len);
          q->refblock.offset = 0;
          ret = hv_qcow2_write (q, block, q->cluster_size, cluster << q->cluster_bits);
          if (ret == 0)
            ret = hv_qcow2_sync (q);
          if (ret < 0)
            return ret;
          be64_put (entry, cluster << q->cluster_bits);
          ret = hv_qcow2_write (q, entry, 8, q->reftable_offset + table_index * 8);
          if (ret < 0)
            return ret;
          q->reftable[table_index] = cluster << q->cluster_bits;
          hv_qcow2_add_metadata (q, cluster << q->cluster_bits, 1);
          continue;
        }
      /* Past the end of the file nothing is stored, whatever a damaged refcount block says: the search
       * ends there instead of walking the refcounts of clusters that cannot exist. */
      ret = hv_qcow2_refcount_get (q, cluster, &refcount);
      if (ret < 0)
        return ret;
      if (refcount != 0 && (cluster << q->cluster_bits) < q->file_size)
        continue;
      ret = hv_qcow2_refcount_set (q, cluster, 1);
      if (ret < 0)
        return ret;
      q->free_hint = cluster + 1;
      *offset = cluster << q->cluster_bits;
      /* Part of the image from now on, even before anything is written to it. */
      q->file_size = MAX (q->file_size, *offset + q->cluster_size);
      return 0;
    }
}

/* Drops one reference to each cluster of [@offset, @offset + @clusters clusters) — once the L2 entries
 * that pointed at them are on disk (qcow2_flush_metadata). */
int
hv_qcow2_free_later (Qcow2 *q, uint64_t offset, uint64_t clusters, gboolean table)
{
  Qcow2Free f = { offset, clusters, table };

  g_array_append_val (q->pending_frees, f);
  if (q->pending_frees->len >= QCOW2_MAX_PENDING_FREES && q->writes_in_flight == 0)
    return hv_qcow2_flush_metadata (q);
  return 0;
}

int
hv_qcow2_clusters_free_later (Qcow2 *q, uint64_t offset, uint64_t clusters)
{
  return hv_qcow2_free_later (q, offset, clusters, FALSE);
}

int
hv_qcow2_apply_pending_frees (Qcow2 *q)
{
  for (unsigned i = 0; i < q->pending_frees->len; i++)
    {
      Qcow2Free *f = &g_array_index (q->pending_frees, Qcow2Free, i);

      for (uint64_t c = 0; c < f->clusters; c++)
        {
          uint64_t cluster = (f->offset >> q->cluster_bits) + c, refcount;
          int ret = hv_qcow2_refcount_get (q, cluster, &refcount);

          if (ret < 0)
            return ret;
          if (refcount == 0 || (!f->table && hv_qcow2_is_metadata (q, cluster << q->cluster_bits)))
            continue; /* a damaged image: leave it as it is */
          ret = hv_qcow2_refcount_set (q, cluster, refcount - 1);
          if (ret < 0)
            return ret;
          if (refcount == 1)
            q->free_hint = MIN (q->free_hint, cluster);
        }
    }
  g_array_set_size (q->pending_frees, 0);
  return 0;
}
