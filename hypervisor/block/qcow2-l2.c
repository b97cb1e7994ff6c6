/* qcow2-l2.c — a qcow2 image's L2 tables: the L2 cache, looking entries up, allocating and copying tables
 * for writes, and flushing the changed tables and L1 entries in crash-safe order. */
#include "qcow2-private.h"

#include <errno.h>

/* ------------------------------------------------------------------------------------------------ */
/* L2 tables */

static int
l2_slot_write (Qcow2 *q, Qcow2L2Slot *slot)
{
  int ret;

  if (!slot->dirty)
    return 0;
  /* What the table points at (refcounts, data) is on disk before the table. */
  ret = hv_qcow2_sync (q);
  if (ret < 0)
    return ret;
  ret = hv_qcow2_write (q, slot->data, q->cluster_size, slot->offset);
  if (ret < 0)
    return ret;
  slot->dirty = FALSE;
  return 0;
}

/* The L2 table at @offset, through the cache.  @fresh: a new table, zeros, not read. */
static int
l2_get (Qcow2 *q, uint64_t offset, gboolean fresh, Qcow2L2Slot **out)
{
  Qcow2L2Slot *victim = NULL;
  int ret;

  for (unsigned i = 0; i < q->l2_cache_size; i++)
    {
      Qcow2L2Slot *slot = &q->l2_cache[i];

      if (slot->offset == offset)
        {
          slot->used = ++q->l2_clock;
          *out = slot;
          return 0;
        }
      if (victim == NULL || slot->offset == 0 || (victim->offset != 0 && slot->used < victim->used))
        victim = slot;
    }
  ret = l2_slot_write (q, victim);
  if (ret < 0)
    return ret;
  victim->offset = 0;
  if (victim->data == NULL)
    victim->data = hv_qcow2_buffer_new (q->cluster_size);
  if (fresh)
    memset (victim->data, 0, q->cluster_size);
  else
    {
      ret = hv_qcow2_file_read (q->fd, victim->data, q->cluster_size, offset);
      if (ret < 0)
        return ret;
    }
  victim->offset = offset;
  victim->dirty = fresh;
  victim->used = ++q->l2_clock;
  *out = victim;
  return 0;
}

/* Finds the L2 entry of guest offset @guest.  -EIO (with a debug message) for a damaged table pointer. */
int
hv_qcow2_l2_lookup (Qcow2 *q, uint64_t guest, Qcow2Lookup *lookup)
{
  uint64_t cluster = guest >> q->cluster_bits, l1_index = cluster >> q->l2_bits, l2_offset;
  int ret;

  memset (lookup, 0, sizeof *lookup);
  if (l1_index >= q->l1_size)
    return 0;
  l2_offset = q->l1[l1_index] & QCOW2_OFFSET_MASK;
  if (l2_offset == 0)
    return 0;
  if (l2_offset % q->cluster_size != 0 || l2_offset + q->cluster_size > q->file_size)
    {
      g_debug ("qcow2: L1 entry %" G_GUINT64_FORMAT " points outside the image", l1_index);
      return -EIO;
    }
  ret = l2_get (q, l2_offset, FALSE, &lookup->slot);
  if (ret < 0)
    return ret;
  lookup->index = cluster & ((1ull << q->l2_bits) - 1);
  lookup->entry = be64_at (lookup->slot->data + lookup->index * q->l2_entry_size);
  if (q->extended_l2)
    lookup->bitmap = be64_at (lookup->slot->data + lookup->index * q->l2_entry_size + 8);
  return 0;
}

static void
l1_mark_dirty (Qcow2 *q, uint32_t index)
{
  if (!q->l1_dirty)
    q->l1_dirty_first = q->l1_dirty_last = index;
  q->l1_dirty_first = MIN (q->l1_dirty_first, index);
  q->l1_dirty_last = MAX (q->l1_dirty_last, index);
  q->l1_dirty = TRUE;
}

/* The L2 table for guest @guest, made if there is none, for a change. */
int
hv_qcow2_l2_lookup_for_write (Qcow2 *q, uint64_t guest, Qcow2Lookup *lookup)
{
  uint64_t l1_index = (guest >> q->cluster_bits) >> q->l2_bits;
  int ret;

  if (l1_index >= q->l1_size)
    return -EIO;
  if ((q->l1[l1_index] & QCOW2_OFFSET_MASK) == 0)
    {
      uint64_t offset;
      Qcow2L2Slot *slot;

      ret = hv_qcow2_cluster_alloc (q, &offset);
      if (ret < 0)
        return ret;
      hv_qcow2_add_metadata (q, offset, 1);
      ret = l2_get (q, offset, TRUE, &slot);
      if (ret < 0)
        return ret;
      q->l1[l1_index] = offset | QCOW2_OFLAG_COPIED;
      l1_mark_dirty (q, l1_index);
    }
  else if (!(q->l1[l1_index] & QCOW2_OFLAG_COPIED))
    {
      uint64_t refcount;

      ret = hv_qcow2_refcount_get (q, (q->l1[l1_index] & QCOW2_OFFSET_MASK) >> q->cluster_bits, &refcount);
      if (ret < 0)
        return ret;
      if (refcount == 1)
        q->l1[l1_index] |= QCOW2_OFLAG_COPIED;
      else
        {
          /* Shared with a snapshot: the active L1 gets a copy of its own.  The entries keep their
           * refcounts (a snapshot counts each data cluster once more), the old table loses the active
           * L1's reference once the new one is on disk. */
          uint64_t old = q->l1[l1_index] & QCOW2_OFFSET_MASK, offset;
          g_autofree uint8_t *copy = g_malloc (q->cluster_size);
          Qcow2L2Slot *slot;

          if (!hv_qcow2_table_offset_valid (q, old))
            return -EIO;
          ret = l2_get (q, old, FALSE, &slot);
          if (ret < 0)
            return ret;
          memcpy (copy, slot->data, q->cluster_size);
          ret = hv_qcow2_cluster_alloc (q, &offset);
          if (ret < 0)
            return ret;
          hv_qcow2_add_metadata (q, offset, 1);
          ret = l2_get (q, offset, TRUE, &slot);
          if (ret < 0)
            return ret;
          memcpy (slot->data, copy, q->cluster_size);
          for (uint64_t i = 0; i < (1ull << q->l2_bits); i++)
            {
              /* No entry of a shared table is a cluster of its own. */
              uint8_t *entry = slot->data + i * q->l2_entry_size;

              be64_put (entry, be64_at (entry) & ~QCOW2_OFLAG_COPIED);
            }
          q->l1[l1_index] = offset | QCOW2_OFLAG_COPIED;
          l1_mark_dirty (q, l1_index);
          ret = hv_qcow2_free_later (q, old, 1, TRUE);
          if (ret < 0)
            return ret;
        }
      l1_mark_dirty (q, l1_index);
    }
  ret = hv_qcow2_l2_lookup (q, guest, lookup);
  if (ret == 0 && lookup->slot == NULL)
    ret = -EIO;
  return ret;
}

/* Sets an L2 entry; with extended L2 entries also its subcluster bitmap. */
void
hv_qcow2_l2_set (Qcow2 *q, Qcow2Lookup *lookup, uint64_t entry, uint64_t bitmap)
{
  be64_put (lookup->slot->data + lookup->index * q->l2_entry_size, entry);
  if (q->extended_l2)
    be64_put (lookup->slot->data + lookup->index * q->l2_entry_size + 8, bitmap);
  lookup->slot->dirty = TRUE;
}

/* Frees (later) what an L2 entry held. */
int
hv_qcow2_entry_free_later (Qcow2 *q, uint64_t entry)
{
  if (entry & QCOW2_OFLAG_COMPRESSED)
    {
      unsigned x = 62 - (q->cluster_bits - 8);
      uint64_t host = entry & ((1ull << x) - 1);
      uint64_t sectors = ((entry & ~(QCOW2_OFLAG_COPIED | QCOW2_OFLAG_COMPRESSED)) >> x) + 1;
      uint64_t end = (host & ~511ull) + sectors * 512;
      uint64_t first = host >> q->cluster_bits, last = (end - 1) >> q->cluster_bits;

      return hv_qcow2_clusters_free_later (q, first << q->cluster_bits, last - first + 1);
    }
  if ((entry & QCOW2_OFFSET_MASK) != 0)
    return hv_qcow2_clusters_free_later (q, entry & QCOW2_OFFSET_MASK, 1);
  return 0;
}

/* Writes every dirty table, then the L1 table, then frees what they dropped; each step after an
 * fdatasync so a crash between them leaks at most. */
int
hv_qcow2_flush_metadata (Qcow2 *q)
{
  int ret;

  if (q->read_only)
    return 0;
  for (unsigned i = 0; i < q->l2_cache_size; i++)
    {
      ret = l2_slot_write (q, &q->l2_cache[i]);
      if (ret < 0)
        return ret;
    }
  if (q->l1_dirty)
    {
      uint32_t count = q->l1_dirty_last - q->l1_dirty_first + 1;
      g_autofree uint8_t *buf = g_malloc ((size_t) count * 8);

      for (uint32_t i = 0; i < count; i++)
        be64_put (buf + i * 8, q->l1[q->l1_dirty_first + i]);
      ret = hv_qcow2_sync (q);
      if (ret == 0)
        ret = hv_qcow2_write (q, buf, (size_t) count * 8, q->l1_offset + (uint64_t) q->l1_dirty_first * 8);
      if (ret < 0)
        return ret;
      q->l1_dirty = FALSE;
    }
  if (q->pending_frees->len > 0 && q->writes_in_flight == 0)
    {
      ret = hv_qcow2_sync (q);
      if (ret == 0)
        ret = hv_qcow2_apply_pending_frees (q);
      if (ret < 0)
        return ret;
    }
  return 0;
}
