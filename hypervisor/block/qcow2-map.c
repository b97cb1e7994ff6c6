/* qcow2-map.c — what a qcow2 image's guest offsets map to: zeros, data in the file, or a compressed
 * cluster (deflate or zstd, decompressed here), through the backing chain; and reading guest bytes
 * synchronously for copy-on-write. */
#include "qcow2-private.h"

#include <errno.h>
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
/* Compressed clusters */

gboolean
hv_qcow2_decompressor_load (Qcow2 *q, GError **error)
{
  return q->compression_type == 1 ? hv_lazy_lib_load (&zstd_lib, "libzstd1", error)
                                  : hv_lazy_lib_load (&zlib_lib, "zlib1g", error);
}

void
hv_qcow2_decompressor_free (Qcow2 *q)
{
  if (q->zstd != NULL)
    ZSTD_freeDCtx (q->zstd);
}

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
