/* qcow2-metadata.c — a qcow2 image's metadata: the header and its checks, the L1/L2 and refcount tables,
 * cluster allocation and freeing in crash-safe order, the L2 cache, compressed clusters, and what a guest
 * offset maps to through the backing chain.  All of it synchronous, over the image's fd. */
#include "qcow2-private.h"

#include <errno.h>
#include <stdlib.h>
#include <unistd.h>
#include <zlib.h>

#include "lazy-lib.h"

/* zlib and zstd, mapped when a qcow2 image is opened (lazy-lib.h): a machine without one maps neither.
 * The calls keep their names and go through the tables (a macro does not expand itself). */
static struct
{
  __typeof__ (inflateInit2_) *inflateInit2_;
  __typeof__ (inflate) *inflate;
  __typeof__ (inflateEnd) *inflateEnd;
} zlib_fn;

static const char *const zlib_symbols[] = { "inflateInit2_", "inflate", "inflateEnd", NULL };
static HvLazyLib zlib_lib = HV_LAZY_LIB_INIT ("libz.so.1", zlib_symbols, &zlib_fn);

static struct
{
  __typeof__ (ZSTD_createDCtx) *ZSTD_createDCtx;
  __typeof__ (ZSTD_freeDCtx) *ZSTD_freeDCtx;
  __typeof__ (ZSTD_DCtx_reset) *ZSTD_DCtx_reset;
  __typeof__ (ZSTD_decompressStream) *ZSTD_decompressStream;
  __typeof__ (ZSTD_isError) *ZSTD_isError;
} zstd_fn;

static const char *const zstd_symbols[] = {
  "ZSTD_createDCtx", "ZSTD_freeDCtx", "ZSTD_DCtx_reset", "ZSTD_decompressStream", "ZSTD_isError", NULL,
};
static HvLazyLib zstd_lib = HV_LAZY_LIB_INIT ("libzstd.so.1", zstd_symbols, &zstd_fn);

#define inflateInit2_         (zlib_fn.inflateInit2_)
#define inflate               (zlib_fn.inflate)
#define inflateEnd            (zlib_fn.inflateEnd)
#define ZSTD_createDCtx       (zstd_fn.ZSTD_createDCtx)
#define ZSTD_freeDCtx         (zstd_fn.ZSTD_freeDCtx)
#define ZSTD_DCtx_reset       (zstd_fn.ZSTD_DCtx_reset)
#define ZSTD_decompressStream (zstd_fn.ZSTD_decompressStream)
#define ZSTD_isError          (zstd_fn.ZSTD_isError)

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
  if (!(q->compression_type == 1 ? hv_lazy_lib_load (&zstd_lib, "libzstd1", error)
                                 : hv_lazy_lib_load (&zlib_lib, "zlib1g", error)))
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
static int
refcount_get (Qcow2 *q, uint64_t cluster, uint64_t *refcount)
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
static int
refcount_set (Qcow2 *q, uint64_t cluster, uint64_t value)
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
      ret = refcount_set (q, (old_offset >> q->cluster_bits) + i, 0);
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
      ret = refcount_get (q, cluster, &refcount);
      if (ret < 0)
        return ret;
      if (refcount != 0 && (cluster << q->cluster_bits) < q->file_size)
        continue;
      ret = refcount_set (q, cluster, 1);
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
static int
free_later (Qcow2 *q, uint64_t offset, uint64_t clusters, gboolean table)
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
  return free_later (q, offset, clusters, FALSE);
}

static int
apply_pending_frees (Qcow2 *q)
{
  for (unsigned i = 0; i < q->pending_frees->len; i++)
    {
      Qcow2Free *f = &g_array_index (q->pending_frees, Qcow2Free, i);

      for (uint64_t c = 0; c < f->clusters; c++)
        {
          uint64_t cluster = (f->offset >> q->cluster_bits) + c, refcount;
          int ret = refcount_get (q, cluster, &refcount);

          if (ret < 0)
            return ret;
          if (refcount == 0 || (!f->table && hv_qcow2_is_metadata (q, cluster << q->cluster_bits)))
            continue; /* a damaged image: leave it as it is */
          ret = refcount_set (q, cluster, refcount - 1);
          if (ret < 0)
            return ret;
          if (refcount == 1)
            q->free_hint = MIN (q->free_hint, cluster);
        }
    }
  g_array_set_size (q->pending_frees, 0);
  return 0;
}

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

      ret = refcount_get (q, (q->l1[l1_index] & QCOW2_OFFSET_MASK) >> q->cluster_bits, &refcount);
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
          ret = free_later (q, old, 1, TRUE);
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
        ret = apply_pending_frees (q);
      if (ret < 0)
        return ret;
    }
  return 0;
}

/* ------------------------------------------------------------------------------------------------ */
/* Compressed clusters */

static int
decompress_cluster (Qcow2 *q, uint64_t entry, uint8_t **out)
{
  unsigned x = 62 - (q->cluster_bits - 8);
  uint64_t host = entry & ((1ull << x) - 1);
  uint64_t sectors = ((entry & ~(QCOW2_OFLAG_COPIED | QCOW2_OFLAG_COMPRESSED)) >> x) + 1;
  uint64_t csize = sectors * 512 - (host & 511);
  g_autofree uint8_t *in = NULL;
  gboolean ok = FALSE;
  int ret;

  if (q->compressed_valid && q->compressed_entry == entry)
    {
      *out = q->compressed_cluster;
      return 0;
    }
  q->compressed_valid = FALSE;
  if (host >= q->file_size)
    {
      g_debug ("qcow2: compressed cluster at 0x%" G_GINT64_MODIFIER "x is past the end of the file", host);
      return -EIO;
    }
  csize = MIN (csize, q->file_size - host);
  in = g_malloc (csize);
  ret = hv_qcow2_file_read (q->fd, in, csize, host);
  if (ret < 0)
    return ret;

  if (q->compression_type == 0)
    {
      z_stream s = { 0 };

      if (inflateInit2 (&s, -15) != Z_OK)
        return -ENOMEM;
      s.next_in = in;
      s.avail_in = csize;
      s.next_out = q->compressed_cluster;
      s.avail_out = q->cluster_size;
      ret = inflate (&s, Z_FINISH);
      ok = (ret == Z_STREAM_END || ret == Z_BUF_ERROR || ret == Z_OK) && s.avail_out == 0;
      inflateEnd (&s);
    }
  else
    {
      ZSTD_inBuffer input = { in, csize, 0 };
      ZSTD_outBuffer output = { q->compressed_cluster, q->cluster_size, 0 };

      if (q->zstd == NULL)
        q->zstd = ZSTD_createDCtx ();
      ZSTD_DCtx_reset (q->zstd, ZSTD_reset_session_only);
      while (output.pos < output.size && input.pos < input.size)
        {
          size_t r = ZSTD_decompressStream (q->zstd, &output, &input);

          if (ZSTD_isError (r) || r == 0)
            break;
        }
      ok = output.pos == output.size;
    }
  if (!ok)
    {
      g_debug ("qcow2: compressed cluster at 0x%" G_GINT64_MODIFIER "x does not decompress", host);
      return -EIO;
    }
  q->compressed_entry = entry;
  q->compressed_valid = TRUE;
  *out = q->compressed_cluster;
  return 0;
}

/* ------------------------------------------------------------------------------------------------ */
/* Mapping guest offsets through the chain */

/* What guest bytes [@guest, @guest + @len) of @block are, for the first m->len of them (at least one
 * byte, at most to the end of @block's cluster or subcluster). */
int
hv_qcow2_map_guest (HvBlock *block, uint64_t guest, uint64_t len, Qcow2Map *m)
{
  for (;;)
    {
      Qcow2 *q;
      Qcow2Lookup lookup;
      uint64_t in_cluster, entry;
      int ret;

      memset (m, 0, sizeof *m);
      if (guest >= block->size)
        {
          m->kind = MAP_ZERO;
          m->len = len;
          return 0;
        }
      len = MIN (len, block->size - guest);
      if (block->driver != &hv_block_qcow2_driver)
        {
          m->kind = MAP_DATA;
          m->fd = block->fd;
          m->host = guest;
          m->len = len;
          return 0;
        }
      q = block->impl;
      in_cluster = guest & (q->cluster_size - 1);
      len = MIN (len, q->cluster_size - in_cluster);
      ret = hv_qcow2_l2_lookup (q, guest, &lookup);
      if (ret < 0)
        return ret;
      entry = lookup.entry;
      m->len = len;

      if (entry & QCOW2_OFLAG_COMPRESSED)
        {
          uint8_t *cluster;

          ret = decompress_cluster (q, entry, &cluster);
          if (ret < 0)
            return ret;
          m->kind = MAP_COMPRESSED;
          m->data = cluster + in_cluster;
          return 0;
        }
      if (q->extended_l2)
        {
          uint64_t sub_size = q->cluster_size / 32, sub = in_cluster / sub_size;

          m->len = len = MIN (len, sub_size - in_cluster % sub_size);
          if (lookup.bitmap & (1ull << sub))
            {
              if ((entry & QCOW2_OFFSET_MASK) == 0 || (entry & QCOW2_OFFSET_MASK) % q->cluster_size != 0)
                return -EIO;
              m->kind = MAP_DATA;
              m->fd = q->fd;
              m->host = (entry & QCOW2_OFFSET_MASK) + in_cluster;
              return 0;
            }
          if (lookup.bitmap & (1ull << (sub + 32)))
            {
              m->kind = MAP_ZERO;
              return 0;
            }
          entry = 0;
        }
      else if (q->version >= 3 && (entry & QCOW2_OFLAG_ZERO))
        {
          m->kind = MAP_ZERO;
          return 0;
        }
      if ((entry & QCOW2_OFFSET_MASK) != 0)
        {
          if ((entry & QCOW2_OFFSET_MASK) % q->cluster_size != 0)
            {
              g_debug ("qcow2: L2 entry for 0x%" G_GINT64_MODIFIER "x is not cluster-aligned", guest);
              return -EIO;
            }
          m->kind = MAP_DATA;
          m->fd = q->fd;
          m->host = (entry & QCOW2_OFFSET_MASK) + in_cluster;
          return 0;
        }
      if (block->backing == NULL)
        {
          m->kind = MAP_ZERO;
          return 0;
        }
      block = block->backing;
    }
}

/* Reads guest bytes of @block into @buf synchronously (copy-on-write of partial clusters). */
int
hv_qcow2_read_sync (HvBlock *block, uint64_t guest, uint8_t *buf, uint64_t len)
{
  while (len > 0)
    {
      Qcow2Map m;
      int ret = hv_qcow2_map_guest (block, guest, len, &m);

      if (ret < 0)
        return ret;
      switch (m.kind)
        {
        case MAP_ZERO:
          memset (buf, 0, m.len);
          break;
        case MAP_COMPRESSED:
          memcpy (buf, m.data, m.len);
          break;
        case MAP_DATA:
          ret = hv_qcow2_file_read (m.fd, buf, m.len, m.host);
          if (ret < 0)
            return ret;
          break;
        }
      guest += m.len;
      buf += m.len;
      len -= m.len;
    }
  return 0;
}

/* ------------------------------------------------------------------------------------------------ */
/* Internal snapshots */

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
  if (q->zstd != NULL)
    ZSTD_freeDCtx (q->zstd);
  g_clear_pointer (&q->metadata, g_hash_table_unref);
  g_clear_pointer (&q->busy, g_hash_table_unref);
  g_clear_pointer (&q->pending_frees, g_array_unref);
  g_free (q);
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
  int ret = refcount_get (q, cluster, &refcount);

  if (ret < 0)
    return ret;
  if ((delta < 0 && refcount == 0) || (delta > 0 && refcount == 0))
    {
      g_debug ("qcow2: cluster %" G_GUINT64_FORMAT " is in use but has no reference", cluster);
      return -EIO;
    }
  if (delta > 0 && refcount == max)
    return -ERANGE;
  ret = refcount_set (q, cluster, refcount + delta);
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
          ret = refcount_get (q, first, &refcount);
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
      ret = refcount_get (q, l2 >> q->cluster_bits, &refcount);
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
