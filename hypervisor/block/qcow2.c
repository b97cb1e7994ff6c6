/* qcow2.c — the qcow2 image format (v2 and v3): header checks, L1/L2 mapping with an L2 cache, refcounts
 * and cluster allocation, compressed (deflate, zstd) and zero clusters, extended L2 entries (subclusters),
 * and reads that fall through to the backing chain.
 *
 * Every field of the file is untrusted: tables are checked against the file's size and against each
 * other when the image opens, and each pointer met later (an L2 table, a data cluster) again when used,
 * so a damaged image fails requests with -EIO and is never written outside itself or into its metadata.
 *
 * Metadata I/O is synchronous, on the block's I/O thread (block-private.h); data goes through hv_aio
 * when the block has one.  Writes keep a crash at any moment to leaked clusters at worst: a cluster's
 * refcount is written when it is allocated, before the data; the L2 entry pointing at it only after the
 * data landed and an fdatasync; a cluster is freed (refcount decremented) only after the L2 entry that
 * dropped it is on disk.  The image is never marked dirty (no lazy refcounts). */
#include "block-private.h"
#include "hv-limits.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#define QCOW2_MAGIC 0x514649fbu

#define QCOW2_INCOMPAT_DIRTY       (1ull << 0)
#define QCOW2_INCOMPAT_CORRUPT     (1ull << 1)
#define QCOW2_INCOMPAT_DATA_FILE   (1ull << 2)
#define QCOW2_INCOMPAT_COMPRESSION (1ull << 3)
#define QCOW2_INCOMPAT_EXTL2       (1ull << 4)

#define QCOW2_EXT_END            0x00000000u
#define QCOW2_EXT_BACKING_FORMAT 0xe2792acau
#define QCOW2_EXT_FEATURE_NAMES  0x6803f857u

#define QCOW2_OFLAG_COPIED     (1ull << 63)
#define QCOW2_OFLAG_COMPRESSED (1ull << 62)
#define QCOW2_OFLAG_ZERO       (1ull << 0)
#define QCOW2_OFFSET_MASK      0x00fffffffffffe00ull
/* Extended L2 entries: every subcluster allocated; every subcluster reading as zeros. */
#define QCOW2_SUBCLUSTERS_ALLOCATED 0x00000000ffffffffull
#define QCOW2_SUBCLUSTERS_ZERO      0xffffffff00000000ull

/* Limits on what an image may make us hold in memory (QEMU's own limits: 32 MiB of L1, 8 MiB of
 * refcount table), and on the clusters we accept (QEMU: 512 B to 2 MiB). */
#define QCOW2_MAX_L1_BYTES       (32u << 20)
#define QCOW2_MAX_REFTABLE_BYTES (8u << 20)
#define QCOW2_MIN_CLUSTER_BITS   9
#define QCOW2_MAX_CLUSTER_BITS   21
#define QCOW2_MAX_BACKING_NAME   1023
/* The L2 cache holds this many bytes of tables, and at least this many tables. */
#define QCOW2_L2_CACHE_BYTES (4u << 20)
#define QCOW2_L2_CACHE_MIN   4
#define QCOW2_L2_CACHE_MAX   1024
/* Frees waiting for their L2 entries to reach the disk; more start a metadata flush. */
#define QCOW2_MAX_PENDING_FREES 4096

typedef struct
{
  uint64_t offset; /* 0: empty slot */
  uint8_t *data;   /* the table as on disk (big-endian) */
  gboolean dirty;
  uint64_t used; /* LRU clock */
} Qcow2L2Slot;

typedef struct
{
  uint64_t offset; /* 0: empty */
  uint8_t *data;
} Qcow2RefblockSlot;

typedef struct
{
  /* header */
  unsigned version;
  unsigned cluster_bits;
  uint64_t cluster_size;
  uint64_t size;
  uint64_t l1_offset;
  uint32_t l1_size;
  uint64_t reftable_offset;
  uint32_t reftable_clusters;
  uint32_t nb_snapshots;
  uint64_t snapshots_offset;
  uint64_t incompatible;
  uint64_t autoclear;
  unsigned refcount_order;
  unsigned header_length;
  unsigned compression_type; /* 0 deflate, 1 zstd */
  gboolean extended_l2;
  char *backing_name;
  HvBlockFormat backing_format;

  /* derived */
  unsigned l2_bits; /* log2 of the entries in one L2 table */
  unsigned l2_entry_size;
  uint64_t refblock_entries;
  uint64_t file_size; /* grows with our writes */
  gboolean read_only;

  int fd;
  uint64_t *l1; /* host order */
  gboolean l1_dirty;
  uint32_t l1_dirty_first, l1_dirty_last; /* the entries changed since the table was written */
  uint64_t *reftable;                     /* host order; reftable_clusters * cluster_size / 8 entries */
  uint64_t reftable_entries;
  uint64_t free_hint; /* no free cluster below this index */

  /* Clusters holding metadata (header, L1, refcount table and blocks, L2 tables, snapshot table),
   * by cluster index: never handed out for data, never written as data. */
  GHashTable *metadata;

  Qcow2L2Slot *l2_cache;
  unsigned l2_cache_size;
  uint64_t l2_clock;
  Qcow2RefblockSlot refblock; /* the refcount block last used */

  gboolean unsynced;     /* written since the last fdatasync */
  GArray *pending_frees; /* host clusters (byte offsets, counts) freed once L2 is on disk */
  unsigned writes_in_flight;

  /* The last compressed cluster read, decompressed. */
  uint64_t compressed_entry;
  uint8_t *compressed_cluster;
  gboolean compressed_valid;
  ZSTD_DCtx *zstd;

  /* Guest clusters with an allocating write in flight, and requests waiting for them. */
  GHashTable *busy;
  GQueue waiting;
} Qcow2;

typedef struct
{
  uint64_t offset;
  uint64_t clusters;
} Qcow2Free;

static int qcow2_flush_metadata (Qcow2 *q);

/* ------------------------------------------------------------------------------------------------ */
/* Byte order and file I/O */

static inline uint64_t
be64_at (const uint8_t *p)
{
  uint64_t v;

  memcpy (&v, p, 8);
  return GUINT64_FROM_BE (v);
}

static inline uint32_t
be32_at (const uint8_t *p)
{
  uint32_t v;

  memcpy (&v, p, 4);
  return GUINT32_FROM_BE (v);
}

static inline void
be64_put (uint8_t *p, uint64_t v)
{
  v = GUINT64_TO_BE (v);
  memcpy (p, &v, 8);
}

/* Reads @len bytes at @offset; past the end of the file reads zeros.  0 or -errno. */
static int
file_read (int fd, void *buf, size_t len, uint64_t offset)
{
  size_t done = 0;

  while (done < len)
    {
      ssize_t n = pread (fd, (uint8_t *) buf + done, len - done, offset + done);

      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        return -errno;
      if (n == 0)
        {
          memset ((uint8_t *) buf + done, 0, len - done);
          break;
        }
      done += n;
    }
  return 0;
}

static int
qcow2_write (Qcow2 *q, const void *buf, size_t len, uint64_t offset)
{
  size_t done = 0;

  g_assert (!q->read_only);
  while (done < len)
    {
      ssize_t n = pwrite (q->fd, (const uint8_t *) buf + done, len - done, offset + done);

      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        return -errno;
      done += n;
    }
  q->unsynced = TRUE;
  q->file_size = MAX (q->file_size, offset + len);
  return 0;
}

static int
qcow2_sync (Qcow2 *q)
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

/* Checks the header in @buf (the image's first cluster, @len bytes, at least 4096 or the whole file)
 * against @file_size and fills @q's header fields.  Every problem is HV_ERROR_BAD_IMAGE naming it. */
static gboolean
qcow2_parse_header (Qcow2 *q, const uint8_t *buf, size_t len, uint64_t file_size, GError **error)
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
        backing_format = g_strndup ((const char *) buf + ext + 8, MIN (ext_len, 64));
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
      if (q->l1_offset == 0 || q->l1_offset % q->cluster_size != 0)
        return g_set_error (error, HV_ERROR, HV_ERROR_BAD_IMAGE,
                            "qcow2 L1 table offset 0x%" G_GINT64_MODIFIER
                            "x is not a cluster boundary past the header",
                            q->l1_offset),
               FALSE;
      if (q->l1_offset > file_size || l1_bytes > file_size - q->l1_offset)
        return g_set_error (error, HV_ERROR, HV_ERROR_BAD_IMAGE,
                            "qcow2 L1 table at 0x%" G_GINT64_MODIFIER "x runs past the end of the file",
                            q->l1_offset),
               FALSE;
    }

  reftable_bytes = (uint64_t) q->reftable_clusters << q->cluster_bits;
  if (q->reftable_clusters == 0 || reftable_bytes > QCOW2_MAX_REFTABLE_BYTES)
    return g_set_error (error, HV_ERROR, HV_ERROR_BAD_IMAGE,
                        "qcow2 refcount table of %u clusters is empty or larger than %u MiB",
                        q->reftable_clusters, QCOW2_MAX_REFTABLE_BYTES >> 20),
           FALSE;
  if (q->reftable_offset == 0 || q->reftable_offset % q->cluster_size != 0)
    return g_set_error (error, HV_ERROR, HV_ERROR_BAD_IMAGE,
                        "qcow2 refcount table offset 0x%" G_GINT64_MODIFIER
                        "x is not a cluster boundary past the header",
                        q->reftable_offset),
           FALSE;
  if (q->reftable_offset > file_size || reftable_bytes > file_size - q->reftable_offset)
    return g_set_error (error, HV_ERROR, HV_ERROR_BAD_IMAGE,
                        "qcow2 refcount table at 0x%" G_GINT64_MODIFIER "x runs past the end of the file",
                        q->reftable_offset),
           FALSE;
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

static gboolean
is_metadata (Qcow2 *q, uint64_t offset)
{
  return g_hash_table_contains (q->metadata, GSIZE_TO_POINTER (offset >> q->cluster_bits));
}

/* Records @clusters clusters from @offset as metadata; FALSE if one already was. */
static gboolean
add_metadata (Qcow2 *q, uint64_t offset, uint64_t clusters)
{
  gboolean fresh = TRUE;

  for (uint64_t i = 0; i < clusters; i++)
    fresh &= g_hash_table_add (q->metadata, GSIZE_TO_POINTER ((offset >> q->cluster_bits) + i));
  return fresh;
}

/* Whether a table at @offset (one cluster) may be used: aligned, inside the file, not the header. */
static gboolean
table_offset_valid (Qcow2 *q, uint64_t offset)
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
  ret = file_read (q->fd, q->refblock.data, q->cluster_size, offset);
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
  ret = qcow2_write (q, block + at, len, block_offset + at);
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
    if (is_metadata (q, c << q->cluster_bits))
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
      ret = qcow2_write (q, block, q->cluster_size, (at + (b - first_block)) << q->cluster_bits);
      if (ret < 0)
        return ret;
      be64_put (table + b * 8, (at + (b - first_block)) << q->cluster_bits);
    }
  ret = qcow2_write (q, table, new_clusters << q->cluster_bits, (at + blocks) << q->cluster_bits);
  if (ret < 0)
    return ret;
  ret = qcow2_sync (q);
  if (ret < 0)
    return ret;

  be64_put (header, (at + blocks) << q->cluster_bits);
  {
    uint32_t v = GUINT32_TO_BE ((uint32_t) new_clusters);

    memcpy (header + 8, &v, 4);
  }
  ret = qcow2_write (q, header, sizeof header, 48);
  if (ret < 0)
    return ret;
  ret = qcow2_sync (q);
  if (ret < 0)
    return ret;

  g_free (q->reftable);
  q->reftable = g_new0 (uint64_t, new_clusters * entries_per_cluster);
  for (uint64_t i = 0; i < new_clusters * entries_per_cluster; i++)
    q->reftable[i] = be64_at (table + i * 8);
  q->reftable_entries = new_clusters * entries_per_cluster;
  q->reftable_offset = (at + blocks) << q->cluster_bits;
  q->reftable_clusters = new_clusters;
  add_metadata (q, at << q->cluster_bits, blocks + new_clusters);

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
static int
cluster_alloc (Qcow2 *q, uint64_t *offset)
{
  for (uint64_t cluster = q->free_hint;; cluster++)
    {
      uint64_t table_index = cluster / q->refblock_entries, refcount;
      int ret;

      if ((cluster << q->cluster_bits) >= (1ull << 56))
        return -ENOSPC;
      if (is_metadata (q, cluster << q->cluster_bits))
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
          ret = qcow2_write (q, block, q->cluster_size, cluster << q->cluster_bits);
          if (ret == 0)
            ret = qcow2_sync (q);
          if (ret < 0)
            return ret;
          be64_put (entry, cluster << q->cluster_bits);
          ret = qcow2_write (q, entry, 8, q->reftable_offset + table_index * 8);
          if (ret < 0)
            return ret;
          q->reftable[table_index] = cluster << q->cluster_bits;
          add_metadata (q, cluster << q->cluster_bits, 1);
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
clusters_free_later (Qcow2 *q, uint64_t offset, uint64_t clusters)
{
  Qcow2Free f = { offset, clusters };

  g_array_append_val (q->pending_frees, f);
  if (q->pending_frees->len >= QCOW2_MAX_PENDING_FREES && q->writes_in_flight == 0)
    return qcow2_flush_metadata (q);
  return 0;
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
          if (refcount == 0 || is_metadata (q, cluster << q->cluster_bits))
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
  ret = qcow2_sync (q);
  if (ret < 0)
    return ret;
  ret = qcow2_write (q, slot->data, q->cluster_size, slot->offset);
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
    victim->data = g_malloc (q->cluster_size);
  if (fresh)
    memset (victim->data, 0, q->cluster_size);
  else
    {
      ret = file_read (q->fd, victim->data, q->cluster_size, offset);
      if (ret < 0)
        return ret;
    }
  victim->offset = offset;
  victim->dirty = fresh;
  victim->used = ++q->l2_clock;
  *out = victim;
  return 0;
}

typedef struct
{
  uint64_t entry;  /* the L2 entry (0: none) */
  uint64_t bitmap; /* extended L2: the subcluster bitmap */
  Qcow2L2Slot *slot;
  unsigned index;
} Qcow2Lookup;

/* Finds the L2 entry of guest offset @guest.  -EIO (with a debug message) for a damaged table pointer. */
static int
l2_lookup (Qcow2 *q, uint64_t guest, Qcow2Lookup *lookup)
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
static int
l2_lookup_for_write (Qcow2 *q, uint64_t guest, Qcow2Lookup *lookup)
{
  uint64_t l1_index = (guest >> q->cluster_bits) >> q->l2_bits;
  int ret;

  if (l1_index >= q->l1_size)
    return -EIO;
  if ((q->l1[l1_index] & QCOW2_OFFSET_MASK) == 0)
    {
      uint64_t offset;
      Qcow2L2Slot *slot;

      ret = cluster_alloc (q, &offset);
      if (ret < 0)
        return ret;
      add_metadata (q, offset, 1);
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
      if (refcount != 1)
        return -EIO; /* shared with a snapshot: those images open read-only */
      q->l1[l1_index] |= QCOW2_OFLAG_COPIED;
      l1_mark_dirty (q, l1_index);
    }
  ret = l2_lookup (q, guest, lookup);
  if (ret == 0 && lookup->slot == NULL)
    ret = -EIO;
  return ret;
}

/* Sets an L2 entry; with extended L2 entries also its subcluster bitmap. */
static void
l2_set (Qcow2 *q, Qcow2Lookup *lookup, uint64_t entry, uint64_t bitmap)
{
  be64_put (lookup->slot->data + lookup->index * q->l2_entry_size, entry);
  if (q->extended_l2)
    be64_put (lookup->slot->data + lookup->index * q->l2_entry_size + 8, bitmap);
  lookup->slot->dirty = TRUE;
}

/* Frees (later) what an L2 entry held. */
static int
entry_free_later (Qcow2 *q, uint64_t entry)
{
  if (entry & QCOW2_OFLAG_COMPRESSED)
    {
      unsigned x = 62 - (q->cluster_bits - 8);
      uint64_t host = entry & ((1ull << x) - 1);
      uint64_t sectors = ((entry & ~(QCOW2_OFLAG_COPIED | QCOW2_OFLAG_COMPRESSED)) >> x) + 1;
      uint64_t end = (host & ~511ull) + sectors * 512;
      uint64_t first = host >> q->cluster_bits, last = (end - 1) >> q->cluster_bits;

      return clusters_free_later (q, first << q->cluster_bits, last - first + 1);
    }
  if ((entry & QCOW2_OFFSET_MASK) != 0)
    return clusters_free_later (q, entry & QCOW2_OFFSET_MASK, 1);
  return 0;
}

/* Writes every dirty table, then the L1 table, then frees what they dropped; each step after an
 * fdatasync so a crash between them leaks at most. */
static int
qcow2_flush_metadata (Qcow2 *q)
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
      ret = qcow2_sync (q);
      if (ret == 0)
        ret = qcow2_write (q, buf, (size_t) count * 8, q->l1_offset + (uint64_t) q->l1_dirty_first * 8);
      if (ret < 0)
        return ret;
      q->l1_dirty = FALSE;
    }
  if (q->pending_frees->len > 0 && q->writes_in_flight == 0)
    {
      ret = qcow2_sync (q);
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
  ret = file_read (q->fd, in, csize, host);
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

typedef enum
{
  MAP_ZERO,
  MAP_DATA,       /* @fd at @host */
  MAP_COMPRESSED, /* @data: @len bytes inside a decompressed cluster */
} Qcow2MapKind;

typedef struct
{
  Qcow2MapKind kind;
  uint64_t len;
  int fd;
  uint64_t host;
  const uint8_t *data;
} Qcow2Map;

/* What guest bytes [@guest, @guest + @len) of @block are, for the first m->len of them (at least one
 * byte, at most to the end of @block's cluster or subcluster). */
static int
map_guest (HvBlock *block, uint64_t guest, uint64_t len, Qcow2Map *m)
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
      ret = l2_lookup (q, guest, &lookup);
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
static int
read_sync (HvBlock *block, uint64_t guest, uint8_t *buf, uint64_t len)
{
  while (len > 0)
    {
      Qcow2Map m;
      int ret = map_guest (block, guest, len, &m);

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
          ret = file_read (m.fd, buf, m.len, m.host);
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

/* Copies between @iov (from byte @skip) and @buf: to the vector when @to_iov. */
static void
iov_copy (const struct iovec *iov, unsigned n, uint64_t skip, uint8_t *buf, uint64_t len, gboolean to_iov)
{
  for (unsigned i = 0; i < n && len > 0; i++)
    {
      uint64_t part;

      if (skip >= iov[i].iov_len)
        {
          skip -= iov[i].iov_len;
          continue;
        }
      part = MIN (iov[i].iov_len - skip, len);
      if (to_iov)
        memcpy ((uint8_t *) iov[i].iov_base + skip, buf, part);
      else
        memcpy (buf, (uint8_t *) iov[i].iov_base + skip, part);
      buf += part;
      len -= part;
      skip = 0;
    }
}

static void
iov_zero (const struct iovec *iov, unsigned n, uint64_t skip, uint64_t len)
{
  for (unsigned i = 0; i < n && len > 0; i++)
    {
      uint64_t part;

      if (skip >= iov[i].iov_len)
        {
          skip -= iov[i].iov_len;
          continue;
        }
      part = MIN (iov[i].iov_len - skip, len);
      memset ((uint8_t *) iov[i].iov_base + skip, 0, part);
      len -= part;
      skip = 0;
    }
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
  g_free (op->bounce);
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

          ret = l2_lookup_for_write (q, op->piece_cluster << q->cluster_bits, &lookup);
          if (ret == 0)
            ret = entry_free_later (q, lookup.entry);
          if (ret == 0)
            l2_set (q, &lookup, op->piece_host | QCOW2_OFLAG_COPIED, QCOW2_SUBCLUSTERS_ALLOCATED);
        }
      g_clear_pointer (&op->bounce, g_free);
      if (ret < 0)
        clusters_free_later (q, op->piece_host, 1);
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

/* Starts the data I/O of the piece: through hv_aio, or synchronously without one. */
static gboolean
piece_io (Qcow2Op *op, int fd, uint64_t host, const struct iovec *iov, unsigned n_iov, gboolean write,
          int64_t *sync_result)
{
  HvBlock *block = op->block;
  int64_t result;

  if (write)
    ((Qcow2 *) block->impl)->writes_in_flight++;
  op->piece_is_write = write;
  op->piece_host = host;
  if (block->aio != NULL)
    {
      if (n_iov <= HV_AIO_MAX_IOV
          && hv_aio_submit (block->aio, write ? HV_AIO_WRITE : HV_AIO_READ, fd, iov, n_iov, host, 0,
                            piece_aio_cb, op, NULL))
        return TRUE;
      /* A full queue (the core submits no more than the aio's depth) or a vector too long: do it here. */
    }
  result = write ? pwritev (fd, iov, n_iov, host) : preadv (fd, iov, n_iov, host);
  if (result < 0)
    result = -errno;
  else if (write && (uint64_t) result < op->piece_len)
    {
      /* A short write (the disk filled up, or a signal): the rest from a copy, until done or an error. */
      g_autofree uint8_t *copy = g_malloc (op->piece_len);
      ssize_t n;

      iov_copy (iov, n_iov, 0, copy, op->piece_len, FALSE);
      while ((uint64_t) result < op->piece_len)
        {
          n = pwrite (fd, copy + result, op->piece_len - result, host + result);
          if (n < 0 && errno == EINTR)
            continue;
          if (n <= 0)
            {
              result = n < 0 ? -errno : -EIO;
              break;
            }
          result += n;
        }
    }
  else if (!write && (uint64_t) result < op->piece_len)
    {
      /* preadv stops short at end of file, or on a signal: carry on one buffer at a time. */
      g_autofree uint8_t *copy = g_malloc0 (op->piece_len);
      uint64_t got = result;

      while (got < op->piece_len)
        {
          ssize_t n = pread (fd, copy + got, op->piece_len - got, host + got);

          if (n < 0 && errno == EINTR)
            continue;
          if (n <= 0)
            break;
          got += n;
        }
      iov_copy (iov, n_iov, result, copy + result, op->piece_len - result, TRUE);
      result = op->piece_len;
    }
  *sync_result = result;
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

  ret = map_guest (op->block, guest, left, &m);
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
      while (m.len < left && m.len < (64u << 20))
        {
          Qcow2Map next;

          if (map_guest (op->block, guest + m.len, left - m.len, &next) < 0 || next.kind != MAP_DATA
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
         && !is_metadata (q, host);
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

  ret = l2_lookup (q, guest, &lookup);
  if (ret < 0)
    return *error = ret, TRUE;
  host = lookup.entry & QCOW2_OFFSET_MASK;
  op->piece_cluster = guest >> q->cluster_bits;

  /* In place: a plain cluster of its own (with subclusters: all of them allocated). */
  if ((lookup.entry & QCOW2_OFLAG_COPIED) && !(lookup.entry & QCOW2_OFLAG_COMPRESSED)
      && (q->extended_l2 ? lookup.bitmap == QCOW2_SUBCLUSTERS_ALLOCATED : !(lookup.entry & QCOW2_OFLAG_ZERO)))
    {
      if (!data_cluster_writable (q, host))
        {
          g_debug ("qcow2: L2 entry for 0x%" G_GINT64_MODIFIER "x points at metadata or outside the image",
                   guest);
          return *error = -EIO, TRUE;
        }
      op->piece_len = op->advance = len;
      op->piece_allocating = FALSE;
      if (zeros)
        {
          g_free (op->bounce);
          op->bounce = g_malloc0 (len);
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
  ret = cluster_alloc (q, &host);
  if (ret < 0)
    return *error = ret, TRUE;
  g_free (op->bounce);
  op->bounce = g_malloc (q->cluster_size);
  if (len < q->cluster_size)
    {
      ret = read_sync (op->block, guest - in_cluster, op->bounce, q->cluster_size);
      if (ret < 0)
        {
          clusters_free_later (q, host, 1);
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
  ret = l2_lookup (q, guest, &lookup);
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

      ret = l2_lookup_for_write (q, guest, &lookup);
      if (ret == 0)
        {
          l2_set (q, &lookup, new_entry, new_bitmap);
          ret = entry_free_later (q, old);
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
      result = qcow2_flush_metadata (q);
      if (result == 0 && !q->read_only)
        {
          q->unsynced = TRUE;
          result = qcow2_sync (q);
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

static void
qcow2_free (Qcow2 *q)
{
  if (q == NULL)
    return;
  for (unsigned i = 0; i < q->l2_cache_size; i++)
    g_free (q->l2_cache[i].data);
  g_free (q->l2_cache);
  g_free (q->refblock.data);
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

G_DEFINE_AUTOPTR_CLEANUP_FUNC (Qcow2, qcow2_free)

static gboolean
qcow2_probe (const uint8_t *head, size_t len)
{
  return len >= 4 && be32_at (head) == QCOW2_MAGIC;
}

/* Reads the L1 and refcount tables and records every metadata cluster, refusing tables that point
 * outside the file, at the header or at each other. */
static gboolean
qcow2_load_tables (Qcow2 *q, GError **error)
{
  uint64_t reftable_bytes = (uint64_t) q->reftable_clusters << q->cluster_bits;
  g_autofree uint8_t *buf = NULL;
  int ret;

  add_metadata (q, 0, 1);
  if (!add_metadata (q, q->reftable_offset, q->reftable_clusters))
    return g_set_error (error, HV_ERROR, HV_ERROR_BAD_IMAGE, "qcow2 refcount table overlaps the header"),
           FALSE;
  if (q->l1_size > 0
      && !add_metadata (q, q->l1_offset,
                        ((uint64_t) q->l1_size * 8 + q->cluster_size - 1) >> q->cluster_bits))
    return g_set_error (error, HV_ERROR, HV_ERROR_BAD_IMAGE,
                        "qcow2 L1 table overlaps the header or the refcount table"),
           FALSE;
  if (q->nb_snapshots > 0)
    add_metadata (q, q->snapshots_offset, 1);

  buf = g_malloc (reftable_bytes);
  ret = file_read (q->fd, buf, reftable_bytes, q->reftable_offset);
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
      if (!table_offset_valid (q, offset))
        return g_set_error (error, HV_ERROR, HV_ERROR_BAD_IMAGE,
                            "qcow2 refcount block %" G_GUINT64_FORMAT " at 0x%" G_GINT64_MODIFIER
                            "x is unaligned or past the end of the file",
                            i, offset),
               FALSE;
      if (!add_metadata (q, offset, 1))
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
      ret = file_read (q->fd, buf, (size_t) q->l1_size * 8, q->l1_offset);
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
      if (!table_offset_valid (q, offset))
        return g_set_error (error, HV_ERROR, HV_ERROR_BAD_IMAGE,
                            "qcow2 L2 table %u at 0x%" G_GINT64_MODIFIER
                            "x is unaligned or past the end of the file",
                            i, offset),
               FALSE;
      if (!add_metadata (q, offset, 1))
        return g_set_error (error, HV_ERROR, HV_ERROR_BAD_IMAGE,
                            "qcow2 L2 table %u at 0x%" G_GINT64_MODIFIER "x overlaps other metadata", i,
                            offset),
               FALSE;
    }
  return TRUE;
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
  /* Metadata goes through the page cache a few bytes at a time (refcounts, L2 entries), which O_DIRECT
   * would refuse; the image is read and written without it. */
  if (block->direct)
    {
      int flags = fcntl (block->fd, F_GETFL);

      if (flags < 0 || fcntl (block->fd, F_SETFL, flags & ~O_DIRECT) < 0)
        return g_set_error (error, HV_ERROR, HV_ERROR_FAILED, "cannot turn off direct I/O on the image: %s",
                            g_strerror (errno)),
               FALSE;
      block->direct = FALSE;
    }
  if (fstat (block->fd, &st) < 0)
    return g_set_error (error, HV_ERROR, HV_ERROR_FAILED, "cannot stat the image: %s", g_strerror (errno)),
           FALSE;
  q->file_size = st.st_size;
  /* The first cluster holds the header, extensions and backing name; clusters are at most 2 MiB. */
  head_len = MIN ((uint64_t) 1 << QCOW2_MAX_CLUSTER_BITS, q->file_size);
  head = g_malloc0 (MAX (head_len, 1));
  ret = file_read (q->fd, head, head_len, 0);
  if (ret < 0)
    return g_set_error (error, HV_ERROR, HV_ERROR_FAILED, "cannot read the qcow2 header: %s",
                        g_strerror (-ret)),
           FALSE;
  if (!qcow2_parse_header (q, head, head_len, q->file_size, error))
    return FALSE;

  q->read_only = block->options.read_only;
  if (!q->read_only)
    {
      const char *why = NULL;

      if (q->incompatible & QCOW2_INCOMPAT_CORRUPT)
        why = "is marked corrupt (qemu-img check -r all repairs it); it can be opened read-only";
      else if (q->incompatible & QCOW2_INCOMPAT_DIRTY)
        why = "is marked dirty (lazy refcounts not written back: qemu-img check -r all repairs it); it can "
              "be opened read-only";
      else if (q->nb_snapshots > 0)
        why = "has internal snapshots, which are supported read-only";
      if (why != NULL)
        return g_set_error (error, HV_ERROR, HV_ERROR_BAD_IMAGE, "qcow2 image %s", why), FALSE;
    }

  q->metadata = g_hash_table_new (NULL, NULL);
  q->busy = g_hash_table_new (NULL, NULL);
  q->pending_frees = g_array_new (FALSE, FALSE, sizeof (Qcow2Free));
  g_queue_init (&q->waiting);
  if (!qcow2_load_tables (q, error))
    return FALSE;

  /* Table buffers are allocated as the cache fills. */
  q->l2_cache_size = CLAMP (QCOW2_L2_CACHE_BYTES >> q->cluster_bits, QCOW2_L2_CACHE_MIN, QCOW2_L2_CACHE_MAX);
  q->l2_cache = g_new0 (Qcow2L2Slot, q->l2_cache_size);
  q->refblock.data = g_malloc (q->cluster_size);
  q->compressed_cluster = g_malloc (q->cluster_size);
  q->free_hint = 1;

  /* Auto-clear features we do not keep up to date (bitmaps) are cleared before the first write. */
  if (!q->read_only && q->version >= 3 && q->autoclear != 0)
    {
      uint8_t zero[8] = { 0 };

      ret = qcow2_write (q, zero, 8, 88);
      if (ret == 0)
        ret = qcow2_sync (q);
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
      int ret = qcow2_flush_metadata (q);

      if (ret == 0)
        ret = qcow2_sync (q);
      if (ret < 0)
        g_message ("qcow2: writing the image's tables on close failed: %s", g_strerror (-ret));
    }
  qcow2_free (q);
  block->impl = NULL;
}

const HvBlockDriver hv_block_qcow2_driver = {
  .format = HV_BLOCK_FORMAT_QCOW2,
  .name = "qcow2",
  .probe = qcow2_probe,
  .open = qcow2_open,
  .close = qcow2_close,
  .submit = qcow2_submit,
};
