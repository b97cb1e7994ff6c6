/* qcow2-metadata.c — a qcow2 image's metadata at open: file I/O aligned for direct I/O, the header and its
 * checks, the clusters holding metadata, the L1 and refcount tables read at open, and freeing the image's
 * state.  All of it synchronous, over the image's fd. */
#include "qcow2-private.h"

#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

/* ------------------------------------------------------------------------------------------------ */
/* Byte order and file I/O */

/* The most any file's direct I/O asks for (block.c probes 512 to 4096 bytes). */
#define IO_ALIGN 4096

void *
hv_qcow2_buffer_new (size_t size)
{
  void *buffer = NULL;

  if (posix_memalign (&buffer, IO_ALIGN, MAX (size, 1)) != 0)
    g_error ("out of memory (%zu bytes)", size);
  memset (buffer, 0, size);
  return buffer;
}

void
hv_qcow2_buffer_free (void *buffer)
{
  free (buffer);
}

static gboolean
is_aligned (const void *buf, size_t len, uint64_t offset, uint64_t alignment)
{
  return (((uintptr_t) buf | len | offset) & (alignment - 1)) == 0;
}

/* pread until @len bytes or the end of the file (zeros after it). */
static int
pread_all (int fd, uint8_t *buf, size_t len, uint64_t offset)
{
  size_t done = 0;

  while (done < len)
    {
      ssize_t n = pread (fd, buf + done, len - done, offset + done);

      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        return -errno;
      done += n;
      /* A direct read stops short only at the end of the file, which need not be aligned (and reading on
       * from there would be refused). */
      if (n == 0 || (done < len && ((offset + done) & 511) != 0))
        {
          memset (buf + done, 0, len - done);
          break;
        }
    }
  return 0;
}

static int
pwrite_all (int fd, const uint8_t *buf, size_t len, uint64_t offset)
{
  size_t done = 0;

  while (done < len)
    {
      ssize_t n = pwrite (fd, buf + done, len - done, offset + done);

      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        return -errno;
      if (n == 0)
        return -EIO;
      done += n;
    }
  return 0;
}

/* Reads @len bytes at @offset; past the end of the file reads zeros.  Any buffer, offset and length: where
 * they are not aligned for direct I/O (the fd may be in that mode) the read goes through an aligned bounce
 * buffer.  0 or -errno. */
int
hv_qcow2_file_read (int fd, void *buf, size_t len, uint64_t offset)
{
  uint64_t start = offset & ~(uint64_t) (IO_ALIGN - 1);
  uint64_t end = (offset + len + IO_ALIGN - 1) & ~(uint64_t) (IO_ALIGN - 1);
  uint8_t *bounce;
  int ret;

  if (is_aligned (buf, len, offset, IO_ALIGN))
    return pread_all (fd, buf, len, offset);
  bounce = hv_qcow2_buffer_new (end - start);
  ret = pread_all (fd, bounce, end - start, start);
  if (ret == 0)
    memcpy (buf, bounce + (offset - start), len);
  hv_qcow2_buffer_free (bounce);
  return ret;
}

/* Writes @len bytes at @offset.  With direct I/O on (q->alignment), a write not aligned to it goes
 * through an aligned buffer, the blocks around it read first: metadata clusters are never smaller than
 * that alignment (qcow2_open), so such a block holds nothing a data write in flight could change. */
int
hv_qcow2_write (Qcow2 *q, const void *buf, size_t len, uint64_t offset)
{
  uint64_t alignment = q->alignment, start, end;
  uint8_t *bounce;
  int ret;

  g_assert (!q->read_only);
  if (alignment == 0 || is_aligned (buf, len, offset, alignment))
    {
      ret = pwrite_all (q->fd, buf, len, offset);
      end = offset + len;
    }
  else
    {
      start = offset & ~(alignment - 1);
      end = (offset + len + alignment - 1) & ~(alignment - 1);
      bounce = hv_qcow2_buffer_new (end - start);
      ret = 0;
      if (start != offset || end - start != len)
        ret = hv_qcow2_file_read (q->fd, bounce, end - start, start);
      if (ret == 0)
        {
          memcpy (bounce + (offset - start), buf, len);
          ret = pwrite_all (q->fd, bounce, end - start, start);
        }
      hv_qcow2_buffer_free (bounce);
    }
  if (ret < 0)
    return ret;
  q->unsynced = TRUE;
  q->file_size = MAX (q->file_size, end);
  return 0;
}

int
hv_qcow2_sync (Qcow2 *q)
{
  if (!q->unsynced)
    return 0;
  if (fdatasync (q->fd) < 0)
    return -errno;
  q->unsynced = FALSE;
  return 0;
}

/* ------------------------------------------------------------------------------------------------ */
/* Header */

/* The name the image's feature table gives incompatible feature @bit, or NULL. */
static char *
feature_table_name (const uint8_t *table, size_t len, unsigned bit)
{
  for (size_t i = 0; i + 48 <= len; i += 48)
    if (table[i] == 0 && table[i + 1] == bit)
      {
        g_autofree char *name = g_strndup ((const char *) table + i + 2, 46);

        return g_utf8_make_valid (name, -1);
      }
  return NULL;
}

static gboolean
ranges_overlap (uint64_t a, uint64_t a_len, uint64_t b, uint64_t b_len)
{
  return a < b + b_len && b < a + a_len;
}

/* A table of @bytes at @offset named in the header: on a cluster boundary past the header, inside the file. */
static gboolean
check_table_place (Qcow2 *q, const char *what, uint64_t offset, uint64_t bytes, uint64_t file_size,
                   GError **error)
{
  if (offset == 0 || offset % q->cluster_size != 0)
    return g_set_error (error, HV_ERROR, HV_ERROR_BAD_IMAGE,
                        "qcow2 %s offset 0x%" G_GINT64_MODIFIER "x is not a cluster boundary past the header",
                        what, offset),
           FALSE;
  if (offset > file_size || bytes > file_size - offset)
    return g_set_error (error, HV_ERROR, HV_ERROR_BAD_IMAGE,
                        "qcow2 %s at 0x%" G_GINT64_MODIFIER "x runs past the end of the file", what, offset),
           FALSE;
  return TRUE;
}

/* Checks the header in @buf (the image's first cluster, @len bytes, at least 4096 or the whole file)
 * against @file_size and fills @q's header fields.  Every problem is HV_ERROR_BAD_IMAGE naming it. */
gboolean
hv_qcow2_parse_header (Qcow2 *q, const uint8_t *buf, size_t len, uint64_t file_size, GError **error)
{
  uint64_t backing_offset, l1_bytes, l2_coverage, needed_l1, reftable_bytes, unknown;
  uint32_t backing_size, crypt_method;
  size_t ext, ext_end;
  const uint8_t *feature_table = NULL;
  size_t feature_table_len = 0;
  g_autofree char *backing_format = NULL;

  if (len < 72 || be32_at (buf) != QCOW2_MAGIC)
    return g_set_error (error, HV_ERROR, HV_ERROR_BAD_IMAGE, "not a qcow2 image (no QFI magic)"), FALSE;
  q->version = be32_at (buf + 4);
  if (q->version != 2 && q->version != 3)
    return g_set_error (error, HV_ERROR, HV_ERROR_BAD_IMAGE, "qcow2 version %u is not supported (2 or 3)",
                        q->version),
           FALSE;
  q->cluster_bits = be32_at (buf + 20);
  if (q->cluster_bits < QCOW2_MIN_CLUSTER_BITS || q->cluster_bits > QCOW2_MAX_CLUSTER_BITS)
    return g_set_error (error, HV_ERROR, HV_ERROR_BAD_IMAGE,
                        "qcow2 cluster_bits %u is out of range (%u to %u)", q->cluster_bits,
                        QCOW2_MIN_CLUSTER_BITS, QCOW2_MAX_CLUSTER_BITS),
           FALSE;
  q->cluster_size = 1ull << q->cluster_bits;
  if (len < MIN (q->cluster_size, file_size) && len < 4096)
    return g_set_error (error, HV_ERROR, HV_ERROR_BAD_IMAGE, "qcow2 header is truncated"), FALSE;
  len = MIN (len, q->cluster_size);

  backing_offset = be64_at (buf + 8);
  backing_size = be32_at (buf + 16);
  q->size = be64_at (buf + 24);
  crypt_method = be32_at (buf + 32);
  q->l1_size = be32_at (buf + 36);
  q->l1_offset = be64_at (buf + 40);
  q->reftable_offset = be64_at (buf + 48);
  q->reftable_clusters = be32_at (buf + 56);
  q->nb_snapshots = be32_at (buf + 60);
  q->snapshots_offset = be64_at (buf + 64);
  q->refcount_order = 4;
  q->header_length = 72;
  q->compression_type = 0;
  q->backing_format = HV_BLOCK_FORMAT_AUTO;

  if (q->version == 3)
    {
      if (len < 104)
        return g_set_error (error, HV_ERROR, HV_ERROR_BAD_IMAGE, "qcow2 v3 header is truncated"), FALSE;
      q->incompatible = be64_at (buf + 72);
      q->autoclear = be64_at (buf + 88);
      q->refcount_order = be32_at (buf + 96);
      q->header_length = be32_at (buf + 100);
      if (q->header_length < 104 || q->header_length % 8 != 0 || q->header_length > len)
        return g_set_error (error, HV_ERROR, HV_ERROR_BAD_IMAGE,
                            "qcow2 header_length %u is invalid (at least 104, a multiple of 8, within the "
                            "first cluster)",
                            q->header_length),
               FALSE;
      if (q->header_length > 104)
        q->compression_type = buf[104];
    }
  if (q->refcount_order > 6)
    return g_set_error (error, HV_ERROR, HV_ERROR_BAD_IMAGE,
                        "qcow2 refcount_order %u is out of range (0 to 6)", q->refcount_order),
           FALSE;
  if (crypt_method != 0)
    return g_set_error (error, HV_ERROR, HV_ERROR_BAD_IMAGE,
                        "encrypted qcow2 images (crypt_method %u) are not supported", crypt_method),
           FALSE;

  /* Header extensions: after the header, up to the end of the first cluster. */
  ext = q->header_length;
  ext_end = len;
  while (ext + 8 <= ext_end)
    {
      uint32_t type = be32_at (buf + ext), ext_len = be32_at (buf + ext + 4);

      if (type == QCOW2_EXT_END)
        break;
      if (ext_len > ext_end - ext - 8)
        return g_set_error (error, HV_ERROR, HV_ERROR_BAD_IMAGE,
                            "qcow2 header extension 0x%08x at %zu runs past the first cluster", type, ext),
               FALSE;
      if (type == QCOW2_EXT_BACKING_FORMAT)
        {
          g_free (backing_format); /* given twice: the last one counts */
          backing_format = g_strndup ((const char *) buf + ext + 8, MIN (ext_len, 64));
        }
      else if (type == QCOW2_EXT_FEATURE_NAMES)
        {
          feature_table = buf + ext + 8;
          feature_table_len = ext_len;
        }
      ext += 8 + ((uint64_t) ext_len + 7) / 8 * 8;
    }

  unknown = q->incompatible
            & ~(QCOW2_INCOMPAT_DIRTY | QCOW2_INCOMPAT_CORRUPT | QCOW2_INCOMPAT_DATA_FILE
                | QCOW2_INCOMPAT_COMPRESSION | QCOW2_INCOMPAT_EXTL2);
  if (unknown != 0)
    {
      unsigned bit = __builtin_ctzll (unknown);
      g_autofree char *name = feature_table_name (feature_table, feature_table_len, bit);

      return g_set_error (error, HV_ERROR, HV_ERROR_BAD_IMAGE,
                          "qcow2 image uses unknown incompatible feature %u (%s)", bit,
                          name != NULL ? name : "no name given"),
             FALSE;
    }
  if (q->incompatible & QCOW2_INCOMPAT_DATA_FILE)
    return g_set_error (error, HV_ERROR, HV_ERROR_BAD_IMAGE,
                        "qcow2 images with an external data file are not supported"),
           FALSE;
  if (q->incompatible & QCOW2_INCOMPAT_COMPRESSION)
    {
      if (q->compression_type == 0)
        return g_set_error (error, HV_ERROR, HV_ERROR_BAD_IMAGE,
                            "qcow2 compression type bit is set but compression_type is 0"),
               FALSE;
    }
  else if (q->compression_type != 0)
    return g_set_error (error, HV_ERROR, HV_ERROR_BAD_IMAGE,
                        "qcow2 compression_type %u without the compression type feature bit",
                        q->compression_type),
           FALSE;
  if (q->compression_type > 1)
    return g_set_error (error, HV_ERROR, HV_ERROR_BAD_IMAGE,
                        "qcow2 compression_type %u is not supported (0 deflate, 1 zstd)",
                        q->compression_type),
           FALSE;
  /* Any cluster may be compressed: the decompressor is loaded now, on the thread opening the image. */
  if (!hv_qcow2_decompressor_load (q, error))
    return FALSE;
  q->extended_l2 = (q->incompatible & QCOW2_INCOMPAT_EXTL2) != 0;
  if (q->extended_l2 && q->cluster_bits < 14)
    return g_set_error (error, HV_ERROR, HV_ERROR_BAD_IMAGE,
                        "qcow2 extended L2 entries need clusters of 16 KiB or more (cluster_bits %u)",
                        q->cluster_bits),
           FALSE;

  q->l2_entry_size = q->extended_l2 ? 16 : 8;
  q->l2_bits = q->cluster_bits - (q->extended_l2 ? 4 : 3);
  q->refblock_entries = (q->cluster_size * 8) >> q->refcount_order;

  /* The virtual size, and an L1 table that covers it. */
  if (q->size > (1ull << 62))
    return g_set_error (error, HV_ERROR, HV_ERROR_BAD_IMAGE,
                        "qcow2 virtual size %" G_GUINT64_FORMAT " is too large", q->size),
           FALSE;
  l2_coverage = 1ull << (q->cluster_bits + q->l2_bits);
  needed_l1 = (q->size + 511) / 512 * 512;
  needed_l1 = needed_l1 / l2_coverage + (needed_l1 % l2_coverage != 0);
  l1_bytes = (uint64_t) q->l1_size * 8;
  if (l1_bytes > QCOW2_MAX_L1_BYTES)
    return g_set_error (error, HV_ERROR, HV_ERROR_BAD_IMAGE,
                        "qcow2 L1 table of %u entries is larger than %u MiB", q->l1_size,
                        QCOW2_MAX_L1_BYTES >> 20),
           FALSE;
  if (q->l1_size < needed_l1)
    return g_set_error (error, HV_ERROR, HV_ERROR_BAD_IMAGE,
                        "qcow2 L1 table of %u entries is too small for the virtual size (%" G_GUINT64_FORMAT
                        " needed)",
                        q->l1_size, needed_l1),
           FALSE;
  if (q->l1_size > 0)
    {
      if (!check_table_place (q, "L1 table", q->l1_offset, l1_bytes, file_size, error))
        return FALSE;
    }

  reftable_bytes = (uint64_t) q->reftable_clusters << q->cluster_bits;
  if (q->reftable_clusters == 0 || reftable_bytes > QCOW2_MAX_REFTABLE_BYTES)
    return g_set_error (error, HV_ERROR, HV_ERROR_BAD_IMAGE,
                        "qcow2 refcount table of %u clusters is empty or larger than %u MiB",
                        q->reftable_clusters, QCOW2_MAX_REFTABLE_BYTES >> 20),
           FALSE;
  if (!check_table_place (q, "refcount table", q->reftable_offset, reftable_bytes, file_size, error))
    return FALSE;
  if (q->l1_size > 0 && ranges_overlap (q->l1_offset, l1_bytes, q->reftable_offset, reftable_bytes))
    return g_set_error (error, HV_ERROR, HV_ERROR_BAD_IMAGE, "qcow2 L1 table and refcount table overlap"),
           FALSE;
  if (q->nb_snapshots > 0
      && (q->snapshots_offset == 0 || q->snapshots_offset % q->cluster_size != 0
          || q->snapshots_offset >= file_size))
    return g_set_error (error, HV_ERROR, HV_ERROR_BAD_IMAGE,
                        "qcow2 snapshot table offset 0x%" G_GINT64_MODIFIER "x is invalid",
                        q->snapshots_offset),
           FALSE;

  if (backing_offset != 0)
    {
      if (backing_size == 0 || backing_size > QCOW2_MAX_BACKING_NAME)
        return g_set_error (error, HV_ERROR, HV_ERROR_BAD_IMAGE,
                            "qcow2 backing file name length %u is out of range (1 to %u)", backing_size,
                            QCOW2_MAX_BACKING_NAME),
               FALSE;
      if (backing_offset > len || backing_size > len - backing_offset || backing_offset < q->header_length)
        return g_set_error (error, HV_ERROR, HV_ERROR_BAD_IMAGE,
                            "qcow2 backing file name at %" G_GUINT64_FORMAT
                            " is not inside the first cluster",
                            backing_offset),
               FALSE;
      if (memchr (buf + backing_offset, 0, backing_size) != NULL)
        return g_set_error (error, HV_ERROR, HV_ERROR_BAD_IMAGE,
                            "qcow2 backing file name contains a NUL byte"),
               FALSE;
      q->backing_name = g_strndup ((const char *) buf + backing_offset, backing_size);
      if (backing_format != NULL)
        {
          if (strcmp (backing_format, "qcow2") == 0)
            q->backing_format = HV_BLOCK_FORMAT_QCOW2;
          else if (strcmp (backing_format, "raw") == 0)
            q->backing_format = HV_BLOCK_FORMAT_RAW;
          else
            {
              g_autofree char *shown = g_utf8_make_valid (backing_format, -1);

              return g_set_error (error, HV_ERROR, HV_ERROR_BAD_IMAGE,
                                  "qcow2 backing file format \"%s\" is not supported (raw or qcow2)", shown),
                     FALSE;
            }
        }
    }
  return TRUE;
}

/* ------------------------------------------------------------------------------------------------ */
/* Metadata clusters */

gboolean
hv_qcow2_is_metadata (Qcow2 *q, uint64_t offset)
{
  return g_hash_table_contains (q->metadata, GSIZE_TO_POINTER (offset >> q->cluster_bits));
}

/* Records @clusters clusters from @offset as metadata; FALSE if one already was. */
gboolean
hv_qcow2_add_metadata (Qcow2 *q, uint64_t offset, uint64_t clusters)
{
  gboolean fresh = TRUE;

  for (uint64_t i = 0; i < clusters; i++)
    fresh &= g_hash_table_add (q->metadata, GSIZE_TO_POINTER ((offset >> q->cluster_bits) + i));
  return fresh;
}

/* Whether a table at @offset (one cluster) may be used: aligned, inside the file, not the header. */
gboolean
hv_qcow2_table_offset_valid (Qcow2 *q, uint64_t offset)
{
  return offset != 0 && offset % q->cluster_size == 0 && offset <= q->file_size
         && q->cluster_size <= q->file_size - offset;
}

/* ------------------------------------------------------------------------------------------------ */
/* Tables at open, and freeing */

/* Reads the L1 and refcount tables and records every metadata cluster, refusing tables that point
 * outside the file, at the header or at each other. */
gboolean
hv_qcow2_load_tables (Qcow2 *q, GError **error)
{
  uint64_t reftable_bytes = (uint64_t) q->reftable_clusters << q->cluster_bits;
  g_autofree uint8_t *buf = NULL;
  int ret;

  hv_qcow2_add_metadata (q, 0, 1);
  if (!hv_qcow2_add_metadata (q, q->reftable_offset, q->reftable_clusters))
    return g_set_error (error, HV_ERROR, HV_ERROR_BAD_IMAGE, "qcow2 refcount table overlaps the header"),
           FALSE;
  if (q->l1_size > 0
      && !hv_qcow2_add_metadata (q, q->l1_offset,
                                 ((uint64_t) q->l1_size * 8 + q->cluster_size - 1) >> q->cluster_bits))
    return g_set_error (error, HV_ERROR, HV_ERROR_BAD_IMAGE,
                        "qcow2 L1 table overlaps the header or the refcount table"),
           FALSE;
  if (q->nb_snapshots > 0)
    hv_qcow2_add_metadata (q, q->snapshots_offset, 1);

  buf = g_malloc (reftable_bytes);
  ret = hv_qcow2_file_read (q->fd, buf, reftable_bytes, q->reftable_offset);
  if (ret < 0)
    return g_set_error (error, HV_ERROR, HV_ERROR_FAILED, "cannot read the qcow2 refcount table: %s",
                        g_strerror (-ret)),
           FALSE;
  q->reftable_entries = reftable_bytes / 8;
  q->reftable = g_new (uint64_t, q->reftable_entries);
  for (uint64_t i = 0; i < q->reftable_entries; i++)
    {
      uint64_t offset = be64_at (buf + i * 8) & ~511ull;

      q->reftable[i] = offset;
      if (offset == 0)
        continue;
      if (!hv_qcow2_table_offset_valid (q, offset))
        return g_set_error (error, HV_ERROR, HV_ERROR_BAD_IMAGE,
                            "qcow2 refcount block %" G_GUINT64_FORMAT " at 0x%" G_GINT64_MODIFIER
                            "x is unaligned or past the end of the file",
                            i, offset),
               FALSE;
      if (!hv_qcow2_add_metadata (q, offset, 1))
        return g_set_error (error, HV_ERROR, HV_ERROR_BAD_IMAGE,
                            "qcow2 refcount block %" G_GUINT64_FORMAT " at 0x%" G_GINT64_MODIFIER
                            "x overlaps other metadata",
                            i, offset),
               FALSE;
    }

  g_clear_pointer (&buf, g_free);
  q->l1 = g_new0 (uint64_t, MAX (q->l1_size, 1));
  if (q->l1_size > 0)
    {
      buf = g_malloc ((size_t) q->l1_size * 8);
      ret = hv_qcow2_file_read (q->fd, buf, (size_t) q->l1_size * 8, q->l1_offset);
      if (ret < 0)
        return g_set_error (error, HV_ERROR, HV_ERROR_FAILED, "cannot read the qcow2 L1 table: %s",
                            g_strerror (-ret)),
               FALSE;
    }
  for (uint32_t i = 0; i < q->l1_size; i++)
    {
      uint64_t entry = be64_at (buf + i * 8), offset = entry & QCOW2_OFFSET_MASK;

      q->l1[i] = entry;
      if (offset == 0)
        continue;
      if (!hv_qcow2_table_offset_valid (q, offset))
        return g_set_error (error, HV_ERROR, HV_ERROR_BAD_IMAGE,
                            "qcow2 L2 table %u at 0x%" G_GINT64_MODIFIER
                            "x is unaligned or past the end of the file",
                            i, offset),
               FALSE;
      if (!hv_qcow2_add_metadata (q, offset, 1))
        return g_set_error (error, HV_ERROR, HV_ERROR_BAD_IMAGE,
                            "qcow2 L2 table %u at 0x%" G_GINT64_MODIFIER "x overlaps other metadata", i,
                            offset),
               FALSE;
    }
  return TRUE;
}

void
hv_qcow2_free (Qcow2 *q)
{
  if (q == NULL)
    return;
  for (unsigned i = 0; i < q->l2_cache_size; i++)
    hv_qcow2_buffer_free (q->l2_cache[i].data);
  g_free (q->l2_cache);
  hv_qcow2_buffer_free (q->refblock.data);
  g_free (q->l1);
  g_free (q->reftable);
  g_free (q->backing_name);
  g_free (q->compressed_cluster);
  hv_qcow2_decompressor_free (q);
  g_clear_pointer (&q->metadata, g_hash_table_unref);
  g_clear_pointer (&q->busy, g_hash_table_unref);
  g_clear_pointer (&q->pending_frees, g_array_unref);
  g_free (q);
}
