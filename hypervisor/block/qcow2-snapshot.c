/* qcow2-snapshot.c — a qcow2 image's internal snapshots (QEMU's savevm format): the snapshot table read
 * at open and rewritten, and listing, creating, applying and deleting snapshots in crash-safe order. */
#include "qcow2-private.h"

#include <errno.h>

/* ------------------------------------------------------------------------------------------------ */
/* Reading the snapshot table at open */

/* Reads the fixed 40 bytes of snapshot entry @i at @at and checks that the entry (with its id, name and
 * extra data) lies within the file and the table, and that its L1 table does; *entry_len is the entry's
 * whole length. */
static gboolean
read_snapshot_head (Qcow2 *q, uint32_t i, uint64_t at, uint8_t head[40], uint64_t *entry_len, GError **error)
{
  uint64_t l1_offset, l1_bytes;
  int ret;

  if (at > q->file_size || 40 > q->file_size - at || at - q->snapshots_offset > QCOW2_MAX_SNAPSHOT_TABLE)
    return g_set_error (error, HV_ERROR, HV_ERROR_BAD_IMAGE,
                        "qcow2 snapshot table runs past the end of the file"),
           FALSE;
  ret = hv_qcow2_file_read (q->fd, head, 40, at);
  if (ret < 0)
    return g_set_error (error, HV_ERROR, HV_ERROR_FAILED, "cannot read the qcow2 snapshot table: %s",
                        g_strerror (-ret)),
           FALSE;
  *entry_len = 40 + (uint64_t) be32_at (head + 36) + (((uint32_t) head[12] << 8) | head[13])
               + (((uint32_t) head[14] << 8) | head[15]);
  if (*entry_len > q->file_size - at || at + *entry_len - q->snapshots_offset > QCOW2_MAX_SNAPSHOT_TABLE)
    return g_set_error (error, HV_ERROR, HV_ERROR_BAD_IMAGE,
                        "qcow2 snapshot %u runs past the end of the file or of the snapshot table", i),
           FALSE;
  l1_offset = be64_at (head);
  l1_bytes = (uint64_t) be32_at (head + 8) * 8;
  if (l1_bytes > QCOW2_MAX_L1_BYTES || l1_offset % q->cluster_size != 0 || l1_offset > q->file_size
      || l1_bytes > q->file_size - l1_offset || (l1_bytes > 0 && l1_offset == 0))
    return g_set_error (error, HV_ERROR, HV_ERROR_BAD_IMAGE,
                        "qcow2 snapshot %u has an L1 table at 0x%" G_GINT64_MODIFIER
                        "x that is unaligned, too large or past the end of the file",
                        i, l1_offset),
           FALSE;
  return TRUE;
}

/* Records the snapshot table, each snapshot's L1 table and the L2 tables it names as metadata, so guest
 * data written in place never lands on them (writes to images with snapshots copy shared tables and
 * clusters first; refcounts say what is shared).  The snapshots themselves are not otherwise used. */
gboolean
hv_qcow2_load_snapshots (Qcow2 *q, GError **error)
{
  uint64_t at = q->snapshots_offset, l1_bytes_read = 0;

  if (q->nb_snapshots > QCOW2_MAX_SNAPSHOTS)
    return g_set_error (error, HV_ERROR, HV_ERROR_BAD_IMAGE, "qcow2 image has %u snapshots (at most %u)",
                        q->nb_snapshots, QCOW2_MAX_SNAPSHOTS),
           FALSE;
  for (uint32_t i = 0; i < q->nb_snapshots; i++)
    {
      uint8_t head[40];
      uint64_t l1_offset, l1_bytes, entry_len;
      g_autofree uint8_t *l1 = NULL;
      int ret;

      if (!read_snapshot_head (q, i, at, head, &entry_len, error))
        return FALSE;
      l1_offset = be64_at (head);
      l1_bytes = (uint64_t) be32_at (head + 8) * 8;
      l1_bytes_read += l1_bytes;
      if (l1_bytes_read > QCOW2_MAX_L1_BYTES * 2)
        return g_set_error (error, HV_ERROR, HV_ERROR_BAD_IMAGE,
                            "qcow2 snapshots' L1 tables are larger than %u MiB together",
                            QCOW2_MAX_L1_BYTES * 2 >> 20),
               FALSE;
      if (l1_bytes > 0)
        {
          hv_qcow2_add_metadata (q, l1_offset, (l1_bytes + q->cluster_size - 1) >> q->cluster_bits);
          l1 = g_malloc (l1_bytes);
          ret = hv_qcow2_file_read (q->fd, l1, l1_bytes, l1_offset);
          if (ret < 0)
            return g_set_error (error, HV_ERROR, HV_ERROR_FAILED,
                                "cannot read a qcow2 snapshot's L1 table: %s", g_strerror (-ret)),
                   FALSE;
          for (uint64_t e = 0; e < l1_bytes / 8; e++)
            {
              uint64_t l2 = be64_at (l1 + e * 8) & QCOW2_OFFSET_MASK;

              if (l2 != 0 && hv_qcow2_table_offset_valid (q, l2))
                hv_qcow2_add_metadata (q, l2, 1); /* shared with the active L1 or another snapshot */
            }
        }
      hv_qcow2_add_metadata (q, at & ~(q->cluster_size - 1),
                             ((at + entry_len - 1) >> q->cluster_bits) - (at >> q->cluster_bits) + 1);
      at += (entry_len + 7) / 8 * 8;
    }
  return TRUE;
}

/* ------------------------------------------------------------------------------------------------ */
/* Creating, applying and deleting internal snapshots
 *
 * QEMU's order (block/qcow2-snapshot.c), each step after an fdatasync of the one before, so a crash
 * leaves leaked clusters at worst: references are counted before anything points at them, and dropped
 * only once nothing on disk does.  A table's or data cluster's refcount is a count of the L1 tables
 * reaching it.  The one window no order closes: between a refcount moving across 1 and QCOW_OFLAG_COPIED
 * following it in the active tables (qemu-img check reports the flag; -r all rewrites it; no data is
 * at stake, both ways only make writes copy or not copy a cluster no snapshot holds yet). */

typedef struct
{
  uint64_t l1_offset;
  uint32_t l1_size;
  uint32_t date_sec, date_nsec;
  uint64_t vm_clock;
  uint64_t vm_state_size;
  uint64_t disk_size; /* the disk's size then (from the extra data; the image's when absent) */
  uint8_t *extra;
  uint32_t extra_len;
  char *id, *name;
} Qcow2Snapshot;

static void
snapshot_clear (gpointer data)
{
  Qcow2Snapshot *s = data;

  g_free (s->extra);
  g_free (s->id);
  g_free (s->name);
}

/* The snapshot table, parsed (each field checked against the file). */
static GArray *
snapshots_read (Qcow2 *q, uint64_t *table_bytes, GError **error)
{
  g_autoptr (GArray) list = g_array_new (FALSE, TRUE, sizeof (Qcow2Snapshot));
  uint64_t at = q->snapshots_offset;

  g_array_set_clear_func (list, snapshot_clear);
  if (q->nb_snapshots > QCOW2_MAX_SNAPSHOTS)
    return g_set_error (error, HV_ERROR, HV_ERROR_BAD_IMAGE, "qcow2 image has %u snapshots (at most %u)",
                        q->nb_snapshots, QCOW2_MAX_SNAPSHOTS),
           NULL;
  for (uint32_t i = 0; i < q->nb_snapshots; i++)
    {
      uint8_t head[40];
      Qcow2Snapshot s = { 0 };
      uint32_t id_len, name_len;
      uint64_t entry_len;
      g_autofree uint8_t *rest = NULL;
      int ret;

      if (!read_snapshot_head (q, i, at, head, &entry_len, error))
        return NULL;
      s.extra_len = be32_at (head + 36);
      id_len = ((uint32_t) head[12] << 8) | head[13];
      name_len = ((uint32_t) head[14] << 8) | head[15];
      s.l1_offset = be64_at (head);
      s.l1_size = be32_at (head + 8);
      s.date_sec = be32_at (head + 16);
      s.date_nsec = be32_at (head + 20);
      s.vm_clock = be64_at (head + 24);
      s.vm_state_size = be32_at (head + 32);
      s.disk_size = q->size;
      rest = g_malloc (entry_len - 40 + 1);
      ret = hv_qcow2_file_read (q->fd, rest, entry_len - 40, at + 40);
      if (ret < 0)
        return g_set_error (error, HV_ERROR, HV_ERROR_FAILED, "cannot read the qcow2 snapshot table: %s",
                            g_strerror (-ret)),
               NULL;
      s.extra = g_memdup2 (rest, s.extra_len);
      if (s.extra_len >= 8)
        s.vm_state_size = be64_at (rest);
      if (s.extra_len >= 16)
        s.disk_size = be64_at (rest + 8);
      s.id = g_strndup ((const char *) rest + s.extra_len, id_len);
      s.name = g_strndup ((const char *) rest + s.extra_len + id_len, name_len);
      g_array_append_val (list, s);
      at += (entry_len + 7) / 8 * 8;
    }
  if (table_bytes != NULL)
    *table_bytes = at - q->snapshots_offset;
  return g_steal_pointer (&list);
}

static uint8_t *
snapshots_serialize (Qcow2 *q, GArray *list, uint64_t *len)
{
  GByteArray *out = g_byte_array_new ();

  for (guint i = 0; i < list->len; i++)
    {
      Qcow2Snapshot *s = &g_array_index (list, Qcow2Snapshot, i);
      uint32_t extra_len = MAX (s->extra_len, 24u);
      g_autofree uint8_t *extra = g_malloc0 (extra_len);
      uint8_t head[40] = { 0 };
      size_t id_len = strlen (s->id), name_len = strlen (s->name);
      static const uint8_t pad[8] = { 0 };
      uint32_t v;

      if (s->extra_len > 0)
        memcpy (extra, s->extra, s->extra_len);
      else
        be64_put (extra + 16, G_MAXUINT64); /* no instruction count recorded */
      be64_put (extra, s->vm_state_size);
      be64_put (extra + 8, s->disk_size);
      be64_put (head, s->l1_offset);
      v = GUINT32_TO_BE (s->l1_size), memcpy (head + 8, &v, 4);
      head[12] = id_len >> 8, head[13] = id_len;
      head[14] = name_len >> 8, head[15] = name_len;
      v = GUINT32_TO_BE (s->date_sec), memcpy (head + 16, &v, 4);
      v = GUINT32_TO_BE (s->date_nsec), memcpy (head + 20, &v, 4);
      be64_put (head + 24, s->vm_clock);
      v = GUINT32_TO_BE (s->vm_state_size > G_MAXUINT32 ? 0 : (uint32_t) s->vm_state_size);
      memcpy (head + 32, &v, 4);
      v = GUINT32_TO_BE (extra_len), memcpy (head + 36, &v, 4);
      g_byte_array_append (out, head, sizeof head);
      g_byte_array_append (out, extra, extra_len);
      g_byte_array_append (out, (const uint8_t *) s->id, id_len);
      g_byte_array_append (out, (const uint8_t *) s->name, name_len);
      g_byte_array_append (out, pad, (8 - out->len % 8) % 8);
    }
  *len = out->len;
  return g_byte_array_free (out, FALSE);
}

/* Adds @delta (+1 or -1) to the refcount of cluster index @cluster, write-through. */
static int
refcount_add (Qcow2 *q, uint64_t cluster, int delta)
{
  uint64_t refcount, max = q->refcount_order == 6 ? G_MAXUINT64 : (1ull << (1u << q->refcount_order)) - 1;
  int ret = hv_qcow2_refcount_get (q, cluster, &refcount);

  if (ret < 0)
    return ret;
  if ((delta < 0 && refcount == 0) || (delta > 0 && refcount == 0))
    {
      g_debug ("qcow2: cluster %" G_GUINT64_FORMAT " is in use but has no reference", cluster);
      return -EIO;
    }
  if (delta > 0 && refcount == max)
    return -ERANGE;
  ret = hv_qcow2_refcount_set (q, cluster, refcount + delta);
  if (ret == 0 && refcount + delta == 0)
    q->free_hint = MIN (q->free_hint, cluster);
  return ret;
}

/* The host clusters an L2 entry holds: [*first, *first + *count). */
static void
entry_clusters (Qcow2 *q, uint64_t entry, uint64_t *first, uint64_t *count)
{
  *count = 0;
  if (entry & QCOW2_OFLAG_COMPRESSED)
    {
      unsigned x = 62 - (q->cluster_bits - 8);
      uint64_t host = entry & ((1ull << x) - 1);
      uint64_t sectors = ((entry & ~(QCOW2_OFLAG_COPIED | QCOW2_OFLAG_COMPRESSED)) >> x) + 1;
      uint64_t end = (host & ~511ull) + sectors * 512;

      *first = host >> q->cluster_bits;
      *count = ((end - 1) >> q->cluster_bits) - *first + 1;
    }
  else if ((entry & QCOW2_OFFSET_MASK) != 0)
    {
      *first = (entry & QCOW2_OFFSET_MASK) >> q->cluster_bits;
      *count = 1;
    }
}

/* Adds @delta to the refcount of every L2 table @l1 (host order) names and of every cluster those
 * tables hold; with @clear_copied also clears QCOW_OFLAG_COPIED in the tables (written back). */
static int
l1_refcounts_add (Qcow2 *q, const uint64_t *l1, uint32_t l1_size, int delta, gboolean clear_copied)
{
  g_autofree uint8_t *table = hv_qcow2_buffer_new (q->cluster_size);
  int ret;

  for (uint32_t i = 0; i < l1_size; i++)
    {
      uint64_t l2 = l1[i] & QCOW2_OFFSET_MASK;
      gboolean changed = FALSE;

      if (l2 == 0)
        continue;
      if (!hv_qcow2_table_offset_valid (q, l2))
        return -EIO;
      ret = hv_qcow2_file_read (q->fd, table, q->cluster_size, l2);
      if (ret < 0)
        return ret;
      for (uint64_t e = 0; e < (1ull << q->l2_bits); e++)
        {
          uint8_t *p = table + e * q->l2_entry_size;
          uint64_t entry = be64_at (p), first, count;

          entry_clusters (q, entry, &first, &count);
          for (uint64_t c = 0; c < count; c++)
            {
              ret = refcount_add (q, first + c, delta);
              if (ret < 0)
                return ret;
            }
          if (clear_copied && (entry & QCOW2_OFLAG_COPIED))
            {
              be64_put (p, entry & ~QCOW2_OFLAG_COPIED);
              changed = TRUE;
            }
        }
      ret = refcount_add (q, l2 >> q->cluster_bits, delta);
      if (ret < 0)
        return ret;
      if (changed)
        {
          /* The refcounts saying the table is shared reach the disk first. */
          ret = hv_qcow2_sync (q);
          if (ret == 0)
            ret = hv_qcow2_write (q, table, q->cluster_size, l2);
          if (ret < 0)
            return ret;
        }
    }
  return hv_qcow2_sync (q);
}

/* Sets QCOW_OFLAG_COPIED in the active tables where the refcount is 1 and clears it elsewhere, as
 * QEMU's checks want it (after references were dropped). */
static int
active_copied_fix (Qcow2 *q)
{
  g_autofree uint8_t *table = hv_qcow2_buffer_new (q->cluster_size);
  gboolean l1_changed = FALSE;
  int ret;

  for (uint32_t i = 0; i < q->l1_size; i++)
    {
      uint64_t l2 = q->l1[i] & QCOW2_OFFSET_MASK, refcount, want;
      gboolean changed = FALSE;

      if (l2 == 0)
        continue;
      if (!hv_qcow2_table_offset_valid (q, l2))
        return -EIO;
      ret = hv_qcow2_file_read (q->fd, table, q->cluster_size, l2);
      if (ret < 0)
        return ret;
      for (uint64_t e = 0; e < (1ull << q->l2_bits); e++)
        {
          uint8_t *p = table + e * q->l2_entry_size;
          uint64_t entry = be64_at (p), first, count;

          if (entry & QCOW2_OFLAG_COMPRESSED)
            continue;
          entry_clusters (q, entry, &first, &count);
          if (count == 0)
            continue;
          ret = hv_qcow2_refcount_get (q, first, &refcount);
          if (ret < 0)
            return ret;
          want = refcount == 1 ? (entry | QCOW2_OFLAG_COPIED) : (entry & ~QCOW2_OFLAG_COPIED);
          if (want != entry)
            {
              be64_put (p, want);
              changed = TRUE;
            }
        }
      if (changed)
        {
          ret = hv_qcow2_write (q, table, q->cluster_size, l2);
          if (ret < 0)
            return ret;
        }
      ret = hv_qcow2_refcount_get (q, l2 >> q->cluster_bits, &refcount);
      if (ret < 0)
        return ret;
      want = refcount == 1 ? (q->l1[i] | QCOW2_OFLAG_COPIED) : (q->l1[i] & ~QCOW2_OFLAG_COPIED);
      if (want != q->l1[i])
        {
          q->l1[i] = want;
          l1_changed = TRUE;
        }
    }
  ret = hv_qcow2_sync (q);
  if (ret == 0 && l1_changed)
    {
      g_autofree uint8_t *buf = g_malloc0 ((size_t) MAX (q->l1_size, 1) * 8);

      for (uint32_t i = 0; i < q->l1_size; i++)
        be64_put (buf + i * 8, q->l1[i]);
      ret = hv_qcow2_write (q, buf, (size_t) q->l1_size * 8, q->l1_offset);
      if (ret == 0)
        ret = hv_qcow2_sync (q);
    }
  return ret;
}

/* Allocates @clusters contiguous clusters (refcount 1); clusters handed out on the way and not in the
 * run are freed again. */
static int
clusters_alloc_run (Qcow2 *q, uint64_t clusters, uint64_t *offset)
{
  g_autoptr (GArray) stray = g_array_new (FALSE, FALSE, sizeof (uint64_t));
  uint64_t start = 0, have = 0;
  int ret = 0;

  while (have < clusters)
    {
      uint64_t at;

      ret = hv_qcow2_cluster_alloc (q, &at);
      if (ret < 0)
        break;
      if (have > 0 && at != start + have * q->cluster_size)
        {
          for (uint64_t c = 0; c < have; c++)
            {
              uint64_t o = start + c * q->cluster_size;

              g_array_append_val (stray, o);
            }
          have = 0;
        }
      if (have == 0)
        start = at;
      have++;
    }
  for (guint i = 0; i < stray->len; i++)
    refcount_add (q, g_array_index (stray, uint64_t, i) >> q->cluster_bits, -1);
  if (ret < 0)
    {
      for (uint64_t c = 0; c < have; c++)
        refcount_add (q, (start >> q->cluster_bits) + c, -1);
      return ret;
    }
  *offset = start;
  return 0;
}

static void
clusters_release (Qcow2 *q, uint64_t offset, uint64_t bytes)
{
  for (uint64_t c = 0; bytes > 0 && c < (bytes + q->cluster_size - 1) >> q->cluster_bits; c++)
    refcount_add (q, (offset >> q->cluster_bits) + c, -1);
}

/* Writes @list as a new snapshot table, then points the header at it (one write of nb_snapshots and
 * snapshots_offset, inside one sector), then frees the old table. */
static int
snapshots_write (Qcow2 *q, GArray *list, uint64_t old_bytes)
{
  g_autofree uint8_t *data = NULL;
  uint64_t len, offset = 0, old_offset = q->snapshots_offset;
  uint8_t header[12];
  uint32_t count = list->len;
  int ret;

  data = snapshots_serialize (q, list, &len);
  if (len > QCOW2_MAX_SNAPSHOT_TABLE)
    return -EFBIG;
  if (len > 0)
    {
      ret = clusters_alloc_run (q, (len + q->cluster_size - 1) >> q->cluster_bits, &offset);
      if (ret < 0)
        return ret;
      hv_qcow2_add_metadata (q, offset, (len + q->cluster_size - 1) >> q->cluster_bits);
      ret = hv_qcow2_write (q, data, len, offset);
      if (ret == 0)
        ret = hv_qcow2_sync (q);
      if (ret < 0)
        return ret;
    }
  count = GUINT32_TO_BE (count);
  memcpy (header, &count, 4);
  be64_put (header + 4, offset);
  ret = hv_qcow2_write (q, header, sizeof header, 60);
  if (ret == 0)
    ret = hv_qcow2_sync (q);
  if (ret < 0)
    return ret;
  q->nb_snapshots = list->len;
  q->snapshots_offset = offset;
  if (old_offset != 0 && old_bytes > 0)
    clusters_release (q, old_offset, old_bytes);
  return 0;
}

/* Before a snapshot operation: every table on disk, no cached table (they are edited in the file). */
static int
snapshot_prepare (Qcow2 *q)
{
  int ret = hv_qcow2_flush_metadata (q);

  if (ret == 0)
    ret = hv_qcow2_sync (q);
  if (ret < 0)
    return ret;
  if (q->pending_frees->len > 0)
    return -EBUSY;
  for (unsigned i = 0; i < q->l2_cache_size; i++)
    q->l2_cache[i].offset = 0, q->l2_cache[i].dirty = FALSE;
  q->refblock.offset = 0;
  q->compressed_valid = FALSE;
  return 0;
}

static uint64_t *
l1_read (Qcow2 *q, uint64_t offset, uint32_t size, int *ret)
{
  g_autofree uint8_t *buf = g_malloc ((size_t) MAX (size, 1) * 8);
  uint64_t *l1 = g_new0 (uint64_t, MAX (size, 1));

  *ret = size > 0 ? hv_qcow2_file_read (q->fd, buf, (size_t) size * 8, offset) : 0;
  for (uint32_t i = 0; i < size; i++)
    l1[i] = be64_at (buf + i * 8);
  return l1;
}

/* Writes @l1 (COPIED cleared: every table it names is shared) in new clusters: their offset. */
static int
l1_write_new (Qcow2 *q, const uint64_t *l1, uint32_t size, uint64_t *offset)
{
  uint64_t clusters = MAX (((uint64_t) size * 8 + q->cluster_size - 1) >> q->cluster_bits, 1);
  g_autofree uint8_t *buf = g_malloc0 (clusters << q->cluster_bits);
  int ret;

  for (uint32_t i = 0; i < size; i++)
    be64_put (buf + i * 8, l1[i] & ~QCOW2_OFLAG_COPIED);
  ret = clusters_alloc_run (q, clusters, offset);
  if (ret < 0)
    return ret;
  hv_qcow2_add_metadata (q, *offset, clusters);
  ret = hv_qcow2_write (q, buf, clusters << q->cluster_bits, *offset);
  if (ret == 0)
    ret = hv_qcow2_sync (q);
  return ret;
}

static int
snapshot_find (GArray *list, const char *name)
{
  for (guint i = 0; i < list->len; i++)
    {
      Qcow2Snapshot *s = &g_array_index (list, Qcow2Snapshot, i);

      if (g_strcmp0 (s->name, name) == 0)
        return i;
    }
  for (guint i = 0; i < list->len; i++)
    if (g_strcmp0 (g_array_index (list, Qcow2Snapshot, i).id, name) == 0)
      return i;
  return -1;
}

static gboolean
op_failed (int ret, const char *what, GError **error)
{
  return g_set_error (error, HV_ERROR, ret == -EIO ? HV_ERROR_BAD_IMAGE : HV_ERROR_FAILED, "cannot %s: %s",
                      what, ret == -EIO ? "the image's tables are damaged" : g_strerror (-ret)),
         FALSE;
}

gboolean
hv_qcow2_snapshot_list (Qcow2 *q, GPtrArray *out, GError **error)
{
  g_autoptr (GArray) list = snapshots_read (q, NULL, error);

  if (list == NULL)
    return FALSE;
  for (guint i = 0; i < list->len; i++)
    {
      Qcow2Snapshot *s = &g_array_index (list, Qcow2Snapshot, i);
      HvBlockSnapshot *info = g_new0 (HvBlockSnapshot, 1);

      info->id = g_strdup (s->id);
      info->name = g_strdup (s->name);
      info->date_sec = s->date_sec;
      info->date_nsec = s->date_nsec;
      info->vm_clock_nsec = s->vm_clock;
      info->disk_size = s->disk_size;
      info->vm_state_size = s->vm_state_size;
      g_ptr_array_add (out, info);
    }
  return TRUE;
}

gboolean
hv_qcow2_snapshot_create (Qcow2 *q, const char *name, uint64_t vm_clock, GError **error)
{
  g_autoptr (GArray) list = NULL;
  Qcow2Snapshot s = { 0 };
  uint64_t old_bytes, next_id = 1;
  int64_t now = g_get_real_time ();
  int ret;

  if (q->refcount_order == 0)
    return g_set_error (error, HV_ERROR, HV_ERROR_INVALID_ARGUMENT,
                        "its refcounts are 1 bit wide, too narrow for snapshots (qemu-img amend -o "
                        "refcount_bits=16 widens them)"),
           FALSE;
  list = snapshots_read (q, &old_bytes, error);
  if (list == NULL)
    return FALSE;
  if (snapshot_find (list, name) >= 0)
    return g_set_error (error, HV_ERROR, HV_ERROR_INVALID_ARGUMENT, "it already has a snapshot named \"%s\"",
                        name),
           FALSE;
  if (list->len >= QCOW2_MAX_SNAPSHOTS)
    return g_set_error (error, HV_ERROR, HV_ERROR_TOO_LARGE,
                        "it has no room for another snapshot (at most %u)", QCOW2_MAX_SNAPSHOTS),
           FALSE;
  for (guint i = 0; i < list->len; i++)
    {
      guint64 id;

      if (g_ascii_string_to_unsigned (g_array_index (list, Qcow2Snapshot, i).id, 10, 0, G_MAXUINT32, &id,
                                      NULL))
        next_id = MAX (next_id, id + 1);
    }
  ret = snapshot_prepare (q);
  if (ret < 0)
    return op_failed (ret, "write its tables", error);

  /* The snapshot's L1 table, a copy of the active one; nothing points at it yet. */
  ret = l1_write_new (q, q->l1, q->l1_size, &s.l1_offset);
  if (ret < 0)
    return op_failed (ret, "write the snapshot's L1 table", error);
  /* One more reference to everything the active tables reach, which are then shared (no COPIED). */
  ret = l1_refcounts_add (q, q->l1, q->l1_size, +1, TRUE);
  if (ret < 0)
    return op_failed (ret, "count the snapshot's references", error);
  for (uint32_t i = 0; i < q->l1_size; i++)
    q->l1[i] &= ~QCOW2_OFLAG_COPIED;
  if (q->l1_size > 0)
    {
      q->l1_dirty = TRUE;
      q->l1_dirty_first = 0;
      q->l1_dirty_last = q->l1_size - 1;
      ret = hv_qcow2_flush_metadata (q);
      if (ret == 0)
        ret = hv_qcow2_sync (q);
      if (ret < 0)
        return op_failed (ret, "write the L1 table", error);
    }

  s.l1_size = q->l1_size;
  s.date_sec = now / G_USEC_PER_SEC;
  s.date_nsec = (now % G_USEC_PER_SEC) * 1000;
  s.vm_clock = vm_clock;
  s.disk_size = q->size;
  s.id = g_strdup_printf ("%" G_GUINT64_FORMAT, next_id);
  s.name = g_strdup (name);
  g_array_append_val (list, s);
  ret = snapshots_write (q, list, old_bytes);
  if (ret < 0)
    return op_failed (ret, "write the snapshot table", error);
  return TRUE;
}

/* Whether an L2 table at @l2 would lie on the header, a refcount table or block, an L1 table or the
 * snapshot table: a damaged snapshot that, applied, would have guest writes land there. */
static gboolean
l2_table_is_other_metadata (Qcow2 *q, uint64_t l2, GArray *list)
{
  uint64_t c = l2 >> q->cluster_bits;

  if (c == 0
      || (c >= q->reftable_offset >> q->cluster_bits
          && c < (q->reftable_offset >> q->cluster_bits) + q->reftable_clusters))
    return TRUE;
  for (uint64_t i = 0; i < q->reftable_entries; i++)
    if ((q->reftable[i] & QCOW2_OFFSET_MASK) == l2)
      return TRUE;
  if (q->l1_size > 0 && l2 >= q->l1_offset && l2 < q->l1_offset + (uint64_t) q->l1_size * 8)
    return TRUE;
  for (guint i = 0; i < list->len; i++)
    {
      Qcow2Snapshot *s = &g_array_index (list, Qcow2Snapshot, i);

      if (s->l1_size > 0 && l2 + q->cluster_size > s->l1_offset
          && l2 < s->l1_offset + (uint64_t) s->l1_size * 8)
        return TRUE;
    }
  if (q->nb_snapshots > 0 && l2 + q->cluster_size > q->snapshots_offset
      && l2 < q->snapshots_offset + QCOW2_MAX_SNAPSHOT_TABLE && l2 < q->snapshots_offset + q->cluster_size)
    return TRUE;
  return FALSE;
}

gboolean
hv_qcow2_snapshot_apply (Qcow2 *q, const char *name, uint64_t *disk_size, GError **error)
{
  g_autoptr (GArray) list = NULL;
  g_autofree uint64_t *sn_l1 = NULL;
  g_autofree uint64_t *old_l1 = NULL;
  Qcow2Snapshot *s;
  uint64_t new_offset, old_offset = q->l1_offset, need;
  uint32_t old_size = q->l1_size;
  uint8_t header[24];
  int index, ret;

  list = snapshots_read (q, NULL, error);
  if (list == NULL)
    return FALSE;
  index = snapshot_find (list, name);
  if (index < 0)
    return g_set_error (error, HV_ERROR, HV_ERROR_NOT_FOUND, "it has no snapshot \"%s\"", name), FALSE;
  s = &g_array_index (list, Qcow2Snapshot, index);
  need = (s->disk_size + (q->cluster_size << q->l2_bits) - 1) / (q->cluster_size << q->l2_bits);
  if (s->disk_size > (1ull << 61) || need > s->l1_size)
    return g_set_error (error, HV_ERROR, HV_ERROR_BAD_IMAGE,
                        "its snapshot \"%s\" has an L1 table too small for its disk size", name),
           FALSE;
  ret = snapshot_prepare (q);
  if (ret < 0)
    return op_failed (ret, "write its tables", error);
  sn_l1 = l1_read (q, s->l1_offset, s->l1_size, &ret);
  if (ret < 0)
    return op_failed (ret, "read the snapshot's L1 table", error);
  for (uint32_t i = 0; i < s->l1_size; i++)
    {
      uint64_t l2 = sn_l1[i] & QCOW2_OFFSET_MASK;

      if (l2 != 0 && (!hv_qcow2_table_offset_valid (q, l2) || l2_table_is_other_metadata (q, l2, list)))
        return g_set_error (error, HV_ERROR, HV_ERROR_BAD_IMAGE,
                            "its snapshot \"%s\" has an L2 table at 0x%" G_GINT64_MODIFIER
                            "x over other metadata or outside the file",
                            name, l2),
               FALSE;
    }

  /* The new active state's references first, then its L1 table, then the header switch. */
  ret = l1_refcounts_add (q, sn_l1, s->l1_size, +1, FALSE);
  if (ret < 0)
    return op_failed (ret, "count the snapshot's references", error);
  ret = l1_write_new (q, sn_l1, s->l1_size, &new_offset);
  if (ret < 0)
    return op_failed (ret, "write the new L1 table", error);
  be64_put (header, s->disk_size);
  memset (header + 8, 0, 4); /* no encryption: such images are not opened */
  {
    uint32_t v = GUINT32_TO_BE (s->l1_size);

    memcpy (header + 12, &v, 4);
  }
  be64_put (header + 16, new_offset);
  ret = hv_qcow2_write (q, header, sizeof header, 24);
  if (ret == 0)
    ret = hv_qcow2_sync (q);
  if (ret < 0)
    return op_failed (ret, "update the header", error);

  old_l1 = g_steal_pointer (&q->l1);
  q->l1 = g_new0 (uint64_t, MAX (s->l1_size, 1));
  for (uint32_t i = 0; i < s->l1_size; i++)
    q->l1[i] = sn_l1[i] & ~QCOW2_OFLAG_COPIED;
  q->l1_size = s->l1_size;
  q->l1_offset = new_offset;
  q->size = s->disk_size;
  q->l1_dirty = FALSE;
  *disk_size = s->disk_size;

  /* The old active state's references go; then the flags follow the refcounts. */
  ret = l1_refcounts_add (q, old_l1, old_size, -1, FALSE);
  if (ret == 0 && old_size > 0)
    clusters_release (q, old_offset, (uint64_t) old_size * 8);
  if (ret == 0)
    ret = active_copied_fix (q);
  if (ret < 0)
    return op_failed (ret, "free the old active state (leaked clusters: qemu-img check -r leaks)", error);
  return TRUE;
}

gboolean
hv_qcow2_snapshot_delete (Qcow2 *q, const char *name, GError **error)
{
  g_autoptr (GArray) list = NULL;
  g_autofree uint64_t *sn_l1 = NULL;
  uint64_t old_bytes, l1_offset;
  uint32_t l1_size;
  int index, ret;

  list = snapshots_read (q, &old_bytes, error);
  if (list == NULL)
    return FALSE;
  index = snapshot_find (list, name);
  if (index < 0)
    return g_set_error (error, HV_ERROR, HV_ERROR_NOT_FOUND, "it has no snapshot \"%s\"", name), FALSE;
  l1_offset = g_array_index (list, Qcow2Snapshot, index).l1_offset;
  l1_size = g_array_index (list, Qcow2Snapshot, index).l1_size;
  ret = snapshot_prepare (q);
  if (ret < 0)
    return op_failed (ret, "write its tables", error);
  sn_l1 = l1_read (q, l1_offset, l1_size, &ret);
  if (ret < 0)
    return op_failed (ret, "read the snapshot's L1 table", error);

  /* The entry goes first; only then the references it held. */
  g_array_remove_index (list, index);
  ret = snapshots_write (q, list, old_bytes);
  if (ret < 0)
    return op_failed (ret, "write the snapshot table", error);
  ret = l1_refcounts_add (q, sn_l1, l1_size, -1, FALSE);
  if (ret == 0 && l1_size > 0)
    clusters_release (q, l1_offset, (uint64_t) l1_size * 8);
  if (ret == 0)
    ret = active_copied_fix (q);
  if (ret < 0)
    return op_failed (ret, "free the snapshot's clusters (leaked clusters: qemu-img check -r leaks)", error);
  return TRUE;
}
