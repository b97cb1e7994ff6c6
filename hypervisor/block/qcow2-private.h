/* qcow2-private.h — what the pieces of the qcow2 driver share: the image's state (Qcow2), its metadata
 * functions (qcow2-metadata.c: file I/O, header, tables at open; qcow2-refcount.c: refcounts, allocation,
 * freeing; qcow2-l2.c: the L2 cache; qcow2-map.c: compressed clusters, mapping guest offsets through the
 * chain; qcow2-snapshot.c: internal snapshots) and the requests and open/close built on them (qcow2.c).
 * Metadata I/O is synchronous on the block's I/O thread; every function returning int gives 0 or -errno. */
#pragma once

#include "block-private.h"
#include "hv-limits.h"

#include <stdint.h>
#include <string.h>
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
/* Internal snapshots (QEMU's limits): how many, and how long their table may be. */
#define QCOW2_MAX_SNAPSHOTS      65536
#define QCOW2_MAX_SNAPSHOT_TABLE (64u << 20)
/* The most one piece of a request (one data I/O) covers. */
#define QCOW2_MAX_PIECE (4u << 20)
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
  /* Direct I/O is on: metadata is written in blocks of this many bytes from aligned buffers (0: off). */
  unsigned alignment;
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
  gboolean table; /* an L2 table (metadata) no longer in the active L1 */
} Qcow2Free;

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

typedef struct
{
  uint64_t entry;  /* the L2 entry (0: none) */
  uint64_t bitmap; /* extended L2: the subcluster bitmap */
  Qcow2L2Slot *slot;
  unsigned index;
} Qcow2Lookup;

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

/* Buffers aligned for direct I/O (zeroed), for tables and data written through it. */
void *hv_qcow2_buffer_new (size_t size);
void hv_qcow2_buffer_free (void *buffer);

/* File I/O at any offset and length, aligned for direct I/O as needed: reads past the end give zeros;
 * writes mark the image unsynced and grow file_size. */
int hv_qcow2_file_read (int fd, void *buf, size_t len, uint64_t offset);
int hv_qcow2_write (Qcow2 *q, const void *buf, size_t len, uint64_t offset);
int hv_qcow2_sync (Qcow2 *q);

/* Opening: the header (HV_ERROR_BAD_IMAGE naming what is wrong), then the L1 and refcount tables. */
gboolean hv_qcow2_parse_header (Qcow2 *q, const uint8_t *buf, size_t len, uint64_t file_size, GError **error);
gboolean hv_qcow2_load_tables (Qcow2 *q, GError **error);
gboolean hv_qcow2_load_snapshots (Qcow2 *q, GError **error);
void hv_qcow2_free (Qcow2 *q);

/* Clusters holding metadata, never written as data nor handed out. */
gboolean hv_qcow2_is_metadata (Qcow2 *q, uint64_t offset);
gboolean hv_qcow2_add_metadata (Qcow2 *q, uint64_t offset, uint64_t clusters);
gboolean hv_qcow2_table_offset_valid (Qcow2 *q, uint64_t offset);

/* Refcounts by cluster index (clusters past the table count as free; setting one writes it through, and
 * its refcount block must exist). */
int hv_qcow2_refcount_get (Qcow2 *q, uint64_t cluster, uint64_t *refcount);
int hv_qcow2_refcount_set (Qcow2 *q, uint64_t cluster, uint64_t value);

/* Allocation (refcount written at once) and freeing (once the L2 entries that dropped them are on disk):
 * hv_qcow2_free_later queues the frees (@table: an L2 table no longer in the active L1),
 * hv_qcow2_apply_pending_frees drops them once the tables are written. */
int hv_qcow2_cluster_alloc (Qcow2 *q, uint64_t *offset);
int hv_qcow2_free_later (Qcow2 *q, uint64_t offset, uint64_t clusters, gboolean table);
int hv_qcow2_clusters_free_later (Qcow2 *q, uint64_t offset, uint64_t clusters);
int hv_qcow2_entry_free_later (Qcow2 *q, uint64_t entry);
int hv_qcow2_apply_pending_frees (Qcow2 *q);

/* L2 entries through the cache; changes reach the file with hv_qcow2_flush_metadata (or eviction). */
int hv_qcow2_l2_lookup (Qcow2 *q, uint64_t guest, Qcow2Lookup *lookup);
int hv_qcow2_l2_lookup_for_write (Qcow2 *q, uint64_t guest, Qcow2Lookup *lookup);
void hv_qcow2_l2_set (Qcow2 *q, Qcow2Lookup *lookup, uint64_t entry, uint64_t bitmap);
int hv_qcow2_flush_metadata (Qcow2 *q);

/* The decompressor for the image's compression type, loaded when it opens (HV_ERROR naming the package),
 * and freed with it. */
gboolean hv_qcow2_decompressor_load (Qcow2 *q, GError **error);
void hv_qcow2_decompressor_free (Qcow2 *q);

/* What guest bytes are, through the backing chain; and reading them synchronously (copy-on-write). */
int hv_qcow2_map_guest (HvBlock *block, uint64_t guest, uint64_t len, Qcow2Map *m);
int hv_qcow2_read_sync (HvBlock *block, uint64_t guest, uint8_t *buf, uint64_t len);

/* Internal snapshots (QEMU's savevm format), on an image with no request in flight: listing (HvBlockSnapshot
 * added to @out), creating, applying (the disk's new size in *@disk_size) and deleting one named by name
 * or id.  Errors name no path. */
gboolean hv_qcow2_snapshot_list (Qcow2 *q, GPtrArray *out, GError **error);
gboolean hv_qcow2_snapshot_create (Qcow2 *q, const char *name, uint64_t vm_clock, GError **error);
gboolean hv_qcow2_snapshot_apply (Qcow2 *q, const char *name, uint64_t *disk_size, GError **error);
gboolean hv_qcow2_snapshot_delete (Qcow2 *q, const char *name, GError **error);
