/* test-qcow2-hostile.c — the qcow2 driver on images made by hand: a minimal image reads back and passes
 * qemu-img check; damaged and hostile headers, L2 entries, refcounts, compressed clusters and backing chains
 * (too deep, a loop) are refused with a message naming the problem, or fail requests, never writing
 * outside the image or into its metadata. */
#include "test-qcow2.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* ---- hostile images, made by hand ---- */

/* A v3 image of 512-byte clusters: header, refcount table, refcount block, L1 table (clusters 0-3), then an
 * L2 table and a data cluster (4, 5) mapping guest cluster 0, plus @backing (may be NULL). */
static GByteArray *
build_image (const char *backing)
{
  GByteArray *image = g_byte_array_new ();
  uint8_t *p;

  g_byte_array_set_size (image, 6 * 512);
  p = image->data;
  memset (p, 0, image->len);
#define PUT32(at, v) (*(uint32_t *) (p + (at)) = GUINT32_TO_BE (v))
#define PUT64(at, v) (*(uint64_t *) (p + (at)) = GUINT64_TO_BE (v))
  PUT32 (0, 0x514649fb);
  PUT32 (4, 3);
  PUT32 (20, 9);         /* cluster_bits */
  PUT64 (24, 32 * 1024); /* size: one L2 table */
  PUT32 (36, 1);         /* l1_size */
  PUT64 (40, 3 * 512);
  PUT64 (48, 1 * 512);
  PUT32 (56, 1);
  PUT32 (96, 4);
  PUT32 (100, 104);
  if (backing != NULL)
    {
      PUT64 (8, 112);
      PUT32 (16, strlen (backing));
      memcpy (p + 112, backing, strlen (backing));
    }
  PUT64 (512, 2 * 512); /* refcount table → block */
  for (unsigned c = 0; c < 6; c++)
    p[1024 + c * 2 + 1] = 1;              /* refcounts of clusters 0-5 */
  PUT64 (1536, (4 * 512) | (1ull << 63)); /* L1 → L2 */
  PUT64 (2048, (5 * 512) | (1ull << 63)); /* L2[0] → data */
  memset (p + 5 * 512, 0x99, 512);
#undef PUT32
#undef PUT64
  return image;
}

static void
save_image (Fixture *f, const char *name, GByteArray *image)
{
  g_autofree char *path = path_in (f, name);
  g_autoptr (GError) error = NULL;

  g_file_set_contents (path, (const char *) image->data, image->len, &error);
  g_assert_no_error (error);
}

static void
put_be (GByteArray *image, unsigned at, unsigned size, uint64_t value)
{
  for (unsigned i = 0; i < size; i++)
    image->data[at + i] = value >> (8 * (size - 1 - i));
}

static void
test_hand_built_image (Fixture *f, gconstpointer data)
{
  g_autoptr (GByteArray) image = build_image (NULL);
  g_autoptr (HvBlock) block = NULL;
  g_autofree uint8_t *buf = NULL;
  g_autofree char *qemu_img = g_find_program_in_path ("qemu-img");

  save_image (f, "h.qcow2", image);
  block = open_ok (f, "h.qcow2", FALSE);
  buf = read_all (block);
  assert_bytes (buf, 0, 512, 0x99);
  assert_bytes (buf, 512, 32 * 1024 - 512, 0);
  g_assert_cmpint (test_block_io (block, HV_BLOCK_WRITE, buf, 4096, 1024), ==, 0);
  g_clear_pointer (&block, hv_block_free);
  if (qemu_img != NULL)
    assert_check_clean (f, "h.qcow2");
}

typedef struct
{
  const char *what;
  unsigned at;
  unsigned size;
  uint64_t value;
  const char *message;
} Spoil;

static void
test_hostile_headers (Fixture *f, gconstpointer data)
{
  static const Spoil spoils[] = {
    { "magic", 0, 4, 0x514649fc, "not a qcow2 image" },
    { "version", 4, 4, 4, "version 4" },
    { "cluster_bits small", 20, 4, 8, "cluster_bits 8" },
    { "cluster_bits large", 20, 4, 31, "cluster_bits 31" },
    { "huge size", 24, 8, 1ull << 63, "virtual size" },
    { "size past L1", 24, 8, 1ull << 30, "L1 table of 1 entries is too small" },
    { "huge l1_size", 36, 4, 0x10000000, "larger than 32 MiB" },
    { "l1 past end", 40, 8, 1ull << 40, "L1 table at 0x10000000000 runs past the end" },
    { "l1 unaligned", 40, 8, 3 * 512 + 8, "not a cluster boundary" },
    { "l1 on header", 40, 8, 0, "not a cluster boundary" },
    { "l1 on refcount table", 40, 8, 512, "L1 table and refcount table overlap" },
    { "reftable past end", 48, 8, 1ull << 50, "refcount table at 0x4000000000000 runs past the end" },
    { "reftable on header", 48, 8, 0, "refcount table offset 0x0" },
    { "reftable empty", 56, 4, 0, "refcount table of 0 clusters" },
    { "reftable huge", 56, 4, 0xffffffff, "refcount table of 4294967295 clusters" },
    { "encrypted", 32, 4, 1, "encrypted" },
    { "unknown incompatible", 72, 8, 1ull << 10, "unknown incompatible feature 10" },
    { "data file", 72, 8, 1ull << 2, "external data file" },
    { "refcount_order", 96, 4, 7, "refcount_order 7" },
    { "header_length", 100, 4, 100, "header_length 100" },
    { "header_length long", 100, 4, 4096, "header_length 4096" },
    { "compression bit without type", 72, 8, 1ull << 3, "compression_type is 0" },
    { "backing name long", 8, 8, 112, "backing file name length 0" },
    { "L1 entry past end", 1536, 8, (1ull << 40) | (1ull << 63), "L2 table 0 at 0x10000000000" },
    { "L1 entry on refcount block", 1536, 8, 1024, "L2 table 0 at 0x400 overlaps" },
    { "refcount block past end", 512, 8, 1ull << 40, "refcount block 0 at 0x10000000000" },
    { "refcount block on L1", 512, 8, 3 * 512, "refcount block 0 at 0x600 overlaps" },
    { "extension past cluster", 104, 8, (0x12345678ull << 32) | 1000, "header extension 0x12345678" },
    { "snapshots", 60, 4, 1, "snapshot table offset" },
  };

  for (unsigned i = 0; i < G_N_ELEMENTS (spoils); i++)
    {
      g_autoptr (GByteArray) image = build_image (NULL);

      g_test_message ("%s", spoils[i].what);
      put_be (image, spoils[i].at, spoils[i].size, spoils[i].value);
      save_image (f, "bad.qcow2", image);
      assert_refused (f, "bad.qcow2", TRUE, spoils[i].message);
    }

  /* Backing file names and formats. */
  {
    g_autoptr (GByteArray) image = build_image ("base\001x");

    image->data[112 + 4] = 0;
    save_image (f, "bad.qcow2", image);
    assert_refused (f, "bad.qcow2", TRUE, "backing file name contains a NUL byte");
  }
  {
    g_autoptr (GByteArray) image = build_image (NULL);

    put_be (image, 104, 4, 0xe2792aca);
    put_be (image, 108, 4, 4);
    memcpy (image->data + 112, "vmdk", 4);
    put_be (image, 8, 8, 120);
    put_be (image, 16, 4, 4);
    memcpy (image->data + 120, "base", 4);
    save_image (f, "bad.qcow2", image);
    assert_refused (f, "bad.qcow2", TRUE, "backing file format \"vmdk\" is not supported");
  }
  {
    g_autoptr (GByteArray) image = build_image ("missing");
    g_autoptr (GError) error = NULL;
    g_autofree char *path = path_in (f, "bad.qcow2");

    save_image (f, "bad.qcow2", image);
    g_assert_null (open_image (f, "bad.qcow2", TRUE, &error));
    g_assert_error (error, HV_ERROR, HV_ERROR_NOT_FOUND);
  }

  /* The feature table names an unknown feature. */
  {
    g_autoptr (GByteArray) image = build_image (NULL);

    put_be (image, 72, 8, 1ull << 9);
    put_be (image, 104, 4, 0x6803f857);
    put_be (image, 108, 4, 48);
    image->data[112] = 0;
    image->data[113] = 9;
    memcpy (image->data + 114, "teleportation", 13);
    save_image (f, "bad.qcow2", image);
    assert_refused (f, "bad.qcow2", TRUE, "unknown incompatible feature 9 (teleportation)");
  }

  /* Corrupt and dirty images: read-only or not at all. */
  {
    g_autoptr (GByteArray) image = build_image (NULL);
    g_autoptr (HvBlock) block = NULL;

    put_be (image, 72, 8, 1ull << 1);
    save_image (f, "corrupt.qcow2", image);
    assert_refused (f, "corrupt.qcow2", FALSE, "marked corrupt");
    block = open_ok (f, "corrupt.qcow2", TRUE);
    g_assert_cmpint (test_block_io (block, HV_BLOCK_WRITE, image->data, 0, 512), ==, -EROFS);
    put_be (image, 72, 8, 1ull << 0);
    save_image (f, "dirty.qcow2", image);
    assert_refused (f, "dirty.qcow2", FALSE, "marked dirty");
  }
}

/* Data clusters that point at metadata or outside the file: reads fail or read zeros, writes fail, and
 * nothing outside the image or in its tables changes. */
static void
test_hostile_l2_entries (Fixture *f, gconstpointer data)
{
  static const uint64_t entries[] = {
    (0ull * 512) | (1ull << 63), /* the header */
    (3ull * 512) | (1ull << 63), /* the L1 table */
    (4ull * 512) | (1ull << 63), /* its own L2 table */
    (1ull << 40) | (1ull << 63), /* far past the end */
    (2ull * 512) | (1ull << 63), /* the refcount block */
  };

  for (unsigned i = 0; i < G_N_ELEMENTS (entries); i++)
    {
      g_autoptr (GByteArray) image = build_image (NULL);
      g_autoptr (HvBlock) block = NULL;
      g_autofree char *path = path_in (f, "l2.qcow2");
      g_autofree char *after = NULL;
      gsize after_len;
      uint8_t buf[512];

      put_be (image, 2048, 8, entries[i]);
      save_image (f, "l2.qcow2", image);
      block = open_ok (f, "l2.qcow2", FALSE);
      test_block_io (block, HV_BLOCK_READ, buf, 0, 512); /* -EIO or data of the image: no crash */
      memset (buf, 0xee, sizeof buf);
      g_assert_cmpint (test_block_io (block, HV_BLOCK_WRITE, buf, 0, 512), ==, -EIO);
      g_clear_pointer (&block, hv_block_free);
      g_assert_true (g_file_get_contents (path, &after, &after_len, NULL));
      g_assert_cmpmem (after, after_len, image->data, image->len);
    }
}

/* A refcount block claiming every cluster in use, those past the end of the file included: writes still
 * find room right after the file's end, and the image stays one qemu-img check accepts apart from the
 * refcounts it was given. */
static void
test_hostile_refcounts (Fixture *f, gconstpointer data)
{
  g_autoptr (GByteArray) image = build_image (NULL);
  g_autoptr (HvBlock) block = NULL;
  g_autofree char *path = path_in (f, "rc.qcow2");
  g_autofree uint8_t *buf = g_malloc (32 * 1024);
  GStatBuf st;

  for (unsigned c = 6; c < 256; c++)
    put_be (image, 1024 + c * 2, 2, 0xffff);
  save_image (f, "rc.qcow2", image);
  block = open_ok (f, "rc.qcow2", FALSE);
  memset (buf, 0x42, 32 * 1024);
  g_assert_cmpint (test_block_io (block, HV_BLOCK_WRITE, buf, 0, 32 * 1024), ==, 0);
  memset (buf, 0, 32 * 1024);
  g_assert_cmpint (test_block_io (block, HV_BLOCK_READ, buf, 0, 32 * 1024), ==, 0);
  assert_bytes (buf, 0, 32 * 1024, 0x42);
  g_clear_pointer (&block, hv_block_free);
  g_assert_cmpint (g_stat (path, &st), ==, 0);
  g_assert_cmpint (st.st_size, <=, 6 * 512 + 64 * 512 + 2 * 512);
}

/* Compressed entries pointing past the end of the file or at data that does not inflate: the read
 * fails with -EIO. */
static void
test_hostile_compressed (Fixture *f, gconstpointer data)
{
  static const uint64_t entries[] = {
    (1ull << 62) | (1ull << 40),     /* past the end */
    (1ull << 62) | (5 * 512 + 100),  /* 0x99 bytes: not deflate */
    (1ull << 62) | (3ull << 61) | 0, /* the header, with every sector bit set */
  };

  for (unsigned i = 0; i < G_N_ELEMENTS (entries); i++)
    {
      g_autoptr (GByteArray) image = build_image (NULL);
      g_autoptr (HvBlock) block = NULL;
      uint8_t buf[512];

      put_be (image, 2048, 8, entries[i]);
      save_image (f, "c.qcow2", image);
      block = open_ok (f, "c.qcow2", FALSE);
      g_assert_cmpint (test_block_io (block, HV_BLOCK_READ, buf, 0, 512), ==, -EIO);
      /* A partial write needs the old data and fails the same way; a whole one replaces it. */
      g_assert_cmpint (test_block_io (block, HV_BLOCK_WRITE, buf, 0, 100), ==, -EIO);
      memset (buf, 0x17, sizeof buf);
      g_assert_cmpint (test_block_io (block, HV_BLOCK_WRITE, buf, 0, 512), ==, 0);
      memset (buf, 0, sizeof buf);
      g_assert_cmpint (test_block_io (block, HV_BLOCK_READ, buf, 0, 512), ==, 0);
      assert_bytes (buf, 0, 512, 0x17);
    }
}

/* An opener that makes each backing file on the fly: image N names "N+1", up to @limit. */
typedef struct
{
  unsigned limit;
  unsigned opened;
} ChainOpener;

static int
open_generated (void *opaque, unsigned depth, const char *name, HvBlockFormat format, GError **error)
{
  ChainOpener *opener = opaque;
  g_autofree char *next = g_strdup_printf ("%u", depth + 1);
  g_autoptr (GByteArray) image = build_image (depth + 1 < opener->limit ? next : NULL);
  int fd = memfd_create ("backing", MFD_CLOEXEC);

  g_assert_cmpint (write (fd, image->data, image->len), ==, (ssize_t) image->len);
  opener->opened++;
  return fd;
}

static void
test_backing_too_deep (Fixture *f, gconstpointer data)
{
  ChainOpener deep = { 1000, 0 }, fine = { HV_BLOCK_MAX_CHAIN, 0 };
  g_autoptr (GByteArray) image = build_image ("1");
  g_autoptr (GError) error = NULL;
  g_autoptr (HvBlock) block = NULL;
  int fd;

  fd = memfd_create ("top", MFD_CLOEXEC);
  g_assert_cmpint (write (fd, image->data, image->len), ==, (ssize_t) image->len);
  block = test_block_open (&hv_block_qcow2_driver, fd, TRUE, open_generated, &deep, f->context, f->aio,
                           &error);
  g_assert_null (block);
  g_assert_error (error, HV_ERROR, HV_ERROR_BAD_IMAGE);
  g_assert_nonnull (strstr (error->message, "deeper"));
  g_assert_cmpuint (deep.opened, ==, HV_BLOCK_MAX_CHAIN);
  g_clear_error (&error);

  fd = memfd_create ("top", MFD_CLOEXEC);
  g_assert_cmpint (write (fd, image->data, image->len), ==, (ssize_t) image->len);
  block = test_block_open (&hv_block_qcow2_driver, fd, TRUE, open_generated, &fine, f->context, f->aio,
                           &error);
  g_assert_no_error (error);
  g_assert_cmpuint (fine.opened, ==, HV_BLOCK_MAX_CHAIN - 1);
}

static void
test_backing_loop (Fixture *f, gconstpointer data)
{
  if (!have_qemu_tools ())
    return;
  RUN_OK (f, "qemu-img create -q -f qcow2 a.qcow2 1M");
  RUN_OK (f, "qemu-img create -q -f qcow2 -b a.qcow2 -F qcow2 b.qcow2 1M");
  RUN_OK (f, "qemu-img rebase -u -b b.qcow2 -F qcow2 a.qcow2");
  assert_refused (f, "b.qcow2", TRUE, "deeper");
}

void
qcow2_add_hostile_tests (void)
{
#define ADD QCOW2_ADD
  ADD ("backing/too-deep", test_backing_too_deep, NULL);
  ADD ("backing/loop", test_backing_loop, NULL);
  ADD ("hostile/hand-built-image", test_hand_built_image, NULL);
  ADD ("hostile/headers", test_hostile_headers, NULL);
  ADD ("hostile/l2-entries", test_hostile_l2_entries, NULL);
  ADD ("hostile/refcounts", test_hostile_refcounts, NULL);
  ADD ("hostile/compressed", test_hostile_compressed, NULL);
#undef ADD
}
