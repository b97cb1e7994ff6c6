/* test-qcow2.c — the qcow2 format driver against QEMU's own tools: images qemu-img and qemu-io make
 * (v2 and v3, cluster sizes 512 B to 2 MiB, zero and compressed clusters, subclusters, backing chains) read
 * back right; what we write passes `qemu-img check` and reads back in qemu-io; backing files stay
 * unchanged; a kill -9 in the middle of writing leaves leaks at most.  Damaged and hostile images are
 * test-qcow2-hostile.c, internal snapshots test-qcow2-snapshot.c; the fixture they share is here.  Tests
 * needing qemu-img report themselves skipped without it. */
#include "test-qcow2.h"
#include "hv-limits.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

void
fixture_setup (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;

  f->dir = g_dir_make_tmp ("vireo-qcow2-XXXXXX", &error);
  g_assert_no_error (error);
  f->context = g_main_context_new ();
  f->aio = hv_aio_new (f->context, 16, HV_AIO_ENGINE_THREADS, &error);
  g_assert_no_error (error);
}

void
fixture_teardown (Fixture *f, gconstpointer data)
{
  g_autofree char *cmd = g_strdup_printf ("rm -rf '%s'", f->dir);

  g_clear_pointer (&f->aio, hv_aio_free);
  g_main_context_unref (f->context);
  g_assert_cmpint (system (cmd), ==, 0);
  g_free (f->dir);
}

gboolean
have_qemu_tools (void)
{
  g_autofree char *img = g_find_program_in_path ("qemu-img");
  g_autofree char *io = g_find_program_in_path ("qemu-io");

  if (img == NULL || io == NULL)
    {
      g_test_skip ("qemu-img and qemu-io are not installed (Debian: qemu-utils)");
      return FALSE;
    }
  return TRUE;
}

char *
path_in (Fixture *f, const char *name)
{
  return g_build_filename (f->dir, name, NULL);
}

int
run (Fixture *f, char **output, const char *format, ...)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *line = NULL;
  g_autofree char *out = NULL;
  g_autofree char *err = NULL;
  g_auto (GStrv) argv = NULL;
  va_list args;
  int status;

  va_start (args, format);
  line = g_strdup_vprintf (format, args);
  va_end (args);
  g_shell_parse_argv (line, NULL, &argv, &error);
  g_assert_no_error (error);
  g_spawn_sync (f->dir, argv, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, &out, &err, &status, &error);
  g_assert_no_error (error);
  if (output != NULL)
    *output = g_strconcat (out, err, NULL);
  if (!g_spawn_check_wait_status (status, NULL))
    {
      g_test_message ("%s: %s%s", line, out, err);
      return WIFEXITED (status) ? WEXITSTATUS (status) : 255;
    }
  return 0;
}

/* The opener: names relative to the fixture's folder, as vireo-run resolves them. */
int
open_backing_in_dir (void *opaque, unsigned depth, const char *name, HvBlockFormat format, GError **error)
{
  Fixture *f = opaque;
  g_autofree char *path = path_in (f, name);
  int fd = open (path, O_RDONLY | O_CLOEXEC);

  if (fd < 0)
    g_set_error (error, HV_ERROR, HV_ERROR_NOT_FOUND, "cannot open %s: %s", name, g_strerror (errno));
  f->opened++;
  return fd;
}

HvBlock *
open_image (Fixture *f, const char *name, gboolean read_only, GError **error)
{
  g_autofree char *path = path_in (f, name);
  int fd = open (path, (read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC);

  g_assert_cmpint (fd, >=, 0);
  return test_block_open (&hv_block_qcow2_driver, fd, read_only, open_backing_in_dir, f, f->context, f->aio,
                          error);
}

HvBlock *
open_ok (Fixture *f, const char *name, gboolean read_only)
{
  g_autoptr (GError) error = NULL;
  HvBlock *block = open_image (f, name, read_only, &error);

  g_assert_no_error (error);
  return block;
}

void
assert_refused (Fixture *f, const char *name, gboolean read_only, const char *message)
{
  g_autoptr (GError) error = NULL;
  HvBlock *block = open_image (f, name, read_only, &error);

  g_assert_null (block);
  g_assert_error (error, HV_ERROR, HV_ERROR_BAD_IMAGE);
  if (strstr (error->message, message) == NULL)
    g_error ("expected \"%s\" in \"%s\"", message, error->message);
}

/* The whole disk, read through the driver. */
uint8_t *
read_all (HvBlock *block)
{
  uint8_t *buf = g_malloc (block->size);

  g_assert_cmpint (test_block_io (block, HV_BLOCK_READ, buf, 0, block->size), ==, 0);
  return buf;
}

void
assert_bytes (const uint8_t *buf, uint64_t offset, uint64_t len, uint8_t value)
{
  for (uint64_t i = 0; i < len; i++)
    if (buf[offset + i] != value)
      g_error ("byte 0x%" G_GINT64_MODIFIER "x is 0x%02x, expected 0x%02x", offset + i, buf[offset + i],
               value);
}

void
assert_check_clean (Fixture *f, const char *name)
{
  g_autofree char *out = NULL;
  int status = run (f, &out, "qemu-img check %s", name);

  if (status != 0)
    g_error ("qemu-img check %s: exit %d: %s", name, status, out);
}

/* ---- reading what QEMU wrote ---- */

static void
test_read_qemu_images (Fixture *f, gconstpointer data)
{
  static const char *const compats[] = { "0.10", "1.1" };
  static const unsigned cluster_sizes[] = { 512, 4096, 65536, 2 * MiB };

  if (!have_qemu_tools ())
    return;
  for (unsigned c = 0; c < G_N_ELEMENTS (compats); c++)
    for (unsigned s = 0; s < G_N_ELEMENTS (cluster_sizes); s++)
      {
        g_autofree uint8_t *buf = NULL;
        g_autoptr (HvBlock) block = NULL;

        g_test_message ("compat %s, clusters of %u", compats[c], cluster_sizes[s]);
        RUN_OK (f, "qemu-img create -q -f qcow2 -o compat=%s,cluster_size=%u d.qcow2 5M", compats[c],
                cluster_sizes[s]);
        RUN_OK (f,
                "qemu-io -c 'write -P 0xab 0 64k' -c 'write -P 0xcd 1049088 3000' -c 'write -P 0x11 4M 1M' "
                "-c 'write -z 4M 512k' d.qcow2");
        block = open_ok (f, "d.qcow2", TRUE);
        g_assert_cmpuint (block->size, ==, 5 * MiB);
        buf = read_all (block);
        assert_bytes (buf, 0, 64 * 1024, 0xab);
        assert_bytes (buf, 64 * 1024, 1049088 - 64 * 1024, 0);
        assert_bytes (buf, 1049088, 3000, 0xcd);
        assert_bytes (buf, 1049088 + 3000, 4 * MiB - 1049088 - 3000, 0);
        assert_bytes (buf, 4 * MiB, 512 * 1024, 0);
        assert_bytes (buf, 4 * MiB + 512 * 1024, 512 * 1024, 0x11);
        /* A read not aligned to anything, across clusters. */
        {
          uint8_t part[5000];

          g_assert_cmpint (test_block_io (block, HV_BLOCK_READ, part, 64 * 1024 - 1000, sizeof part), ==, 0);
          assert_bytes (part, 0, 1000, 0xab);
          assert_bytes (part, 1000, 4000, 0);
        }
        /* Past the end. */
        g_assert_cmpint (test_block_io (block, HV_BLOCK_READ, buf, 5 * MiB - 512, 1024), ==, -EINVAL);
      }
}

static void
test_read_zero_clusters (Fixture *f, gconstpointer data)
{
  g_autofree uint8_t *buf = NULL;
  g_autoptr (HvBlock) block = NULL;

  if (!have_qemu_tools ())
    return;
  /* Zero clusters over a backing file hide it: plain ones (no host cluster) and preallocated ones. */
  RUN_OK (f, "qemu-img create -q -f qcow2 base.qcow2 1M");
  RUN_OK (f, "qemu-io -c 'write -P 0x55 0 1M' base.qcow2");
  RUN_OK (f, "qemu-img create -q -f qcow2 -b base.qcow2 -F qcow2 top.qcow2 1M");
  RUN_OK (f, "qemu-io -c 'write -P 0x66 0 256k' -c 'write -z 0 128k' -c 'write -z 512k 64k' top.qcow2");
  block = open_ok (f, "top.qcow2", TRUE);
  buf = read_all (block);
  assert_bytes (buf, 0, 128 * 1024, 0);
  assert_bytes (buf, 128 * 1024, 128 * 1024, 0x66);
  assert_bytes (buf, 256 * 1024, 256 * 1024, 0x55);
  assert_bytes (buf, 512 * 1024, 64 * 1024, 0);
  assert_bytes (buf, 576 * 1024, 448 * 1024, 0x55);
}

static void
test_read_compressed (Fixture *f, gconstpointer data)
{
  const char *type = data;
  g_autofree char *raw_path = path_in (f, "src.raw");
  g_autofree uint8_t *expected = g_malloc (2 * MiB);
  g_autofree uint8_t *buf = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (HvBlock) block = NULL;
  GRand *rand = g_rand_new_with_seed (7);

  if (!have_qemu_tools ())
    return;
  /* Text-like data (compresses), a random stretch (stored uncompressed), zeros. */
  for (unsigned i = 0; i < 2 * MiB; i++)
    expected[i] = i < MiB                ? (uint8_t) "qcow2 compressed "[i % 17]
                  : i < MiB + 128 * 1024 ? (uint8_t) g_rand_int (rand)
                                         : 0;
  g_rand_free (rand);
  g_file_set_contents (raw_path, (const char *) expected, 2 * MiB, &error);
  g_assert_no_error (error);
  RUN_OK (f, "qemu-img convert -c -f raw -O qcow2 -o compression_type=%s,cluster_size=%s src.raw c.qcow2",
          type, strcmp (type, "zlib") == 0 ? "65536" : "16384");

  block = open_ok (f, "c.qcow2", FALSE);
  buf = read_all (block);
  g_assert_cmpmem (buf, 2 * MiB, expected, 2 * MiB);

  /* Writing into a compressed cluster makes it a plain one; the compressed one is freed. */
  memset (expected + 100, 0xee, 300);
  g_assert_cmpint (test_block_io (block, HV_BLOCK_WRITE, expected + 100, 100, 300), ==, 0);
  g_assert_cmpint (test_block_io (block, HV_BLOCK_FLUSH, NULL, 0, 0), ==, 0);
  g_clear_pointer (&buf, g_free);
  buf = read_all (block);
  g_assert_cmpmem (buf, 2 * MiB, expected, 2 * MiB);
  g_clear_pointer (&block, hv_block_free);
  assert_check_clean (f, "c.qcow2");
}

static void
test_extended_l2 (Fixture *f, gconstpointer data)
{
  g_autofree uint8_t *buf = NULL;
  g_autoptr (HvBlock) block = NULL;

  if (!have_qemu_tools ())
    return;
  RUN_OK (f, "qemu-img create -q -f qcow2 base.qcow2 1M");
  RUN_OK (f, "qemu-io -c 'write -P 0x22 0 1M' base.qcow2");
  RUN_OK (f,
          "qemu-img create -q -f qcow2 -o extended_l2=on,cluster_size=64k -b base.qcow2 -F qcow2 s.qcow2 1M");
  /* Subclusters of 2 KiB: one written, one zeroed, the rest of the cluster from the backing file. */
  RUN_OK (f, "qemu-io -c 'write -P 0x33 2k 2k' -c 'write -z 6k 2k' -c 'write -P 0x44 128k 64k' s.qcow2");
  block = open_ok (f, "s.qcow2", TRUE);
  buf = read_all (block);
  assert_bytes (buf, 0, 2048, 0x22);
  assert_bytes (buf, 2048, 2048, 0x33);
  assert_bytes (buf, 4096, 2048, 0x22);
  assert_bytes (buf, 6144, 2048, 0);
  assert_bytes (buf, 8192, 120 * 1024, 0x22);
  assert_bytes (buf, 128 * 1024, 64 * 1024, 0x44);
  assert_bytes (buf, 192 * 1024, MiB - 192 * 1024, 0x22);
  g_clear_pointer (&block, hv_block_free);

  /* Writing: a partial write over subclusters of all three kinds copies each up as it reads; whole
   * clusters zeroed become all-zero subclusters (the backing file hidden). */
  {
    uint8_t pattern[5000];

    memset (pattern, 0x55, sizeof pattern);
    block = open_ok (f, "s.qcow2", FALSE);
    g_assert_cmpint (test_block_io (block, HV_BLOCK_WRITE, pattern, 3000, sizeof pattern), ==, 0);
    g_assert_cmpint (test_block_io (block, HV_BLOCK_WRITE_ZEROES, NULL, 256 * 1024, 128 * 1024), ==, 0);
    g_assert_cmpint (test_block_io (block, HV_BLOCK_DISCARD, NULL, 128 * 1024, 64 * 1024), ==, 0);
    g_clear_pointer (&buf, g_free);
    buf = read_all (block);
    assert_bytes (buf, 0, 2048, 0x22);
    assert_bytes (buf, 2048, 952, 0x33);
    assert_bytes (buf, 3000, 5000, 0x55);
    assert_bytes (buf, 8000, 192, 0);
    assert_bytes (buf, 8192, 120 * 1024, 0x22);
    assert_bytes (buf, 128 * 1024, 64 * 1024, 0);
    assert_bytes (buf, 192 * 1024, 64 * 1024, 0x22);
    assert_bytes (buf, 256 * 1024, 128 * 1024, 0);
    assert_bytes (buf, 384 * 1024, MiB - 384 * 1024, 0x22);
    g_clear_pointer (&block, hv_block_free);
    assert_check_clean (f, "s.qcow2");
    RUN_OK (f, "qemu-io -c 'read -P 0x22 0 2k' -c 'read -P 0x33 2048 952' -c 'read -P 0x55 3000 5000' "
               "-c 'read -P 0 8000 192' -c 'read -P 0x22 8k 120k' -c 'read -P 0 128k 64k' "
               "-c 'read -P 0 256k 128k' -c 'read -P 0x22 384k 640k' s.qcow2");
  }
}

/* ---- writing ---- */

/* Writes a few patterns (unaligned, across clusters, far apart), checks them through the driver, then
 * with qemu-img check and qemu-io. */
static void
write_and_verify (Fixture *f, const char *create_options, uint64_t spread)
{
  static const struct
  {
    uint64_t offset;
    uint64_t len;
    uint8_t value;
  } writes[] = {
    { 0, 65536, 0xa1 },
    { 1000, 3000, 0xa2 },
    /* The second write to 70000 goes in place, over clusters the first allocated one after another. */
    { 70000, 200000, 0xee },
    { 70000, 200000, 0xa3 },
    { 3 * MiB + 17, 5, 0xa4 },
  };
  g_autoptr (HvBlock) block = NULL;
  g_autofree uint8_t *expected = g_malloc0 (4 * MiB + spread);
  g_autofree uint8_t *buf = NULL;

  RUN_OK (f, "qemu-img create -q -f qcow2 %s w.qcow2 %" G_GUINT64_FORMAT, create_options, 4 * MiB + spread);
  block = open_ok (f, "w.qcow2", FALSE);
  for (unsigned i = 0; i < G_N_ELEMENTS (writes); i++)
    {
      g_autofree uint8_t *data = g_malloc (writes[i].len);

      memset (data, writes[i].value, writes[i].len);
      memset (expected + writes[i].offset, writes[i].value, writes[i].len);
      g_assert_cmpint (test_block_io (block, HV_BLOCK_WRITE, data, writes[i].offset, writes[i].len), ==, 0);
    }
  if (spread > 0)
    {
      /* Many clusters, so the refcount table has to grow. */
      g_autofree uint8_t *data = g_malloc (spread);

      for (uint64_t i = 0; i < spread; i++)
        data[i] = i * 7 / 512;
      memcpy (expected + 4 * MiB, data, spread);
      g_assert_cmpint (test_block_io (block, HV_BLOCK_WRITE, data, 4 * MiB, spread), ==, 0);
    }
  buf = read_all (block);
  g_assert_cmpmem (buf, 4 * MiB + spread, expected, 4 * MiB + spread);
  g_assert_cmpint (test_block_io (block, HV_BLOCK_FLUSH, NULL, 0, 0), ==, 0);
  g_clear_pointer (&block, hv_block_free);

  assert_check_clean (f, "w.qcow2");
  RUN_OK (f,
          "qemu-io -c 'read -P 0xa2 1000 3000' -c 'read -P 0xa1 4000 61536' -c 'read -P 0xa3 70000 200000' "
          "-c 'read -P 0 270000 100000' -c 'read -P 0xa4 3145745 5' w.qcow2");
  block = open_ok (f, "w.qcow2", TRUE);
  g_clear_pointer (&buf, g_free);
  buf = read_all (block);
  g_assert_cmpmem (buf, 4 * MiB + spread, expected, 4 * MiB + spread);
}

static void
test_write (Fixture *f, gconstpointer data)
{
  if (!have_qemu_tools ())
    return;
  write_and_verify (f, data, 0);
}

/* The same through io_uring (the other tests use the thread pool), where the host allows it. */
static void
test_write_io_uring (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;

  if (!have_qemu_tools ())
    return;
  g_clear_pointer (&f->aio, hv_aio_free);
  f->aio = hv_aio_new (f->context, 16, HV_AIO_ENGINE_IO_URING, &error);
  if (f->aio == NULL)
    {
      g_test_skip (error->message);
      return;
    }
  write_and_verify (f, "-o cluster_size=4096", 0);
}

static void
test_write_grows_refcount_table (Fixture *f, gconstpointer data)
{
  if (!have_qemu_tools ())
    return;
  /* 512-byte clusters with 64-bit refcounts: one refcount table cluster covers 2 MiB. */
  write_and_verify (f, "-o cluster_size=512,refcount_bits=64", 3 * MiB);
  {
    g_autofree char *path = path_in (f, "w.qcow2");
    g_autofree char *contents = NULL;
    uint32_t clusters;

    /* The refcount table grew past the single cluster qemu-img made. */
    g_assert_true (g_file_get_contents (path, &contents, NULL, NULL));
    memcpy (&clusters, contents + 56, 4);
    g_assert_cmpuint (GUINT32_FROM_BE (clusters), >, 1);
  }
}

static void
test_write_without_aio (Fixture *f, gconstpointer data)
{
  if (!have_qemu_tools ())
    return;
  g_clear_pointer (&f->aio, hv_aio_free);
  /* One request of 2048 clusters, all done synchronously. */
  write_and_verify (f, "-o cluster_size=512", MiB);
}

/* Many requests in flight at once, several in the same cluster (each allocating it, copying on write):
 * every one lands. */
static void
test_concurrent_writes (Fixture *f, gconstpointer data)
{
  enum
  {
    N = 48
  };
  g_autofree uint8_t *expected = g_malloc0 (MiB);
  g_autofree uint8_t *buf = NULL;
  g_autoptr (HvBlock) block = NULL;
  uint8_t chunks[N][3000];
  int results[N];
  gboolean done[N];

  if (!have_qemu_tools ())
    return;
  RUN_OK (f, "qemu-img create -q -f qcow2 -o cluster_size=%s cw.qcow2 1M", (const char *) data);
  block = open_ok (f, "cw.qcow2", FALSE);
  for (unsigned i = 0; i < N; i++)
    {
      /* Six requests per 64 KiB, 8 KiB apart, in an order that mixes clusters. */
      uint64_t offset = ((i * 7) % N) * 8192 + 100;

      memset (chunks[i], i + 1, sizeof chunks[i]);
      memcpy (expected + offset, chunks[i], sizeof chunks[i]);
      test_block_submit (block, i % 5 == 4 ? HV_BLOCK_FLUSH : HV_BLOCK_WRITE, chunks[i], offset,
                         i % 5 == 4 ? 0 : sizeof chunks[i], &results[i], &done[i]);
      if (i % 5 == 4)
        memset (expected + offset, 0, sizeof chunks[i]);
    }
  for (unsigned i = 0; i < N; i++)
    {
      while (!done[i])
        g_main_context_iteration (f->context, TRUE);
      g_assert_cmpint (results[i], ==, 0);
    }
  buf = read_all (block);
  g_assert_cmpmem (buf, MiB, expected, MiB);
  g_clear_pointer (&block, hv_block_free);
  assert_check_clean (f, "cw.qcow2");
}

static void
test_discard_and_zeroes (Fixture *f, gconstpointer data)
{
  const char *compat = data;
  g_autofree uint8_t *ones = g_malloc (MiB);
  g_autofree uint8_t *buf = NULL;
  g_autoptr (HvBlock) block = NULL;

  if (!have_qemu_tools ())
    return;
  memset (ones, 0xff, MiB);
  RUN_OK (f, "qemu-img create -q -f qcow2 -o compat=%s,cluster_size=4096 z.qcow2 1M", compat);
  block = open_ok (f, "z.qcow2", FALSE);
  g_assert_cmpint (test_block_io (block, HV_BLOCK_WRITE, ones, 0, MiB), ==, 0);
  /* Whole clusters and a partial one at each end. */
  g_assert_cmpint (test_block_io (block, HV_BLOCK_WRITE_ZEROES, NULL, 1000, 20000), ==, 0);
  g_assert_cmpint (test_block_io (block, HV_BLOCK_DISCARD, NULL, 512 * 1024, 256 * 1024), ==, 0);
  g_assert_cmpint (test_block_io (block, HV_BLOCK_FLUSH, NULL, 0, 0), ==, 0);
  buf = read_all (block);
  assert_bytes (buf, 0, 1000, 0xff);
  assert_bytes (buf, 1000, 20000, 0);
  assert_bytes (buf, 21000, 512 * 1024 - 21000, 0xff);
  assert_bytes (buf, 512 * 1024, 256 * 1024, 0);
  assert_bytes (buf, 768 * 1024, 256 * 1024, 0xff);
  g_clear_pointer (&block, hv_block_free);
  assert_check_clean (f, "z.qcow2");
  RUN_OK (f,
          "qemu-io -c 'read -P 0 1000 20000' -c 'read -P 0 512k 256k' -c 'read -P 0xff 768k 256k' z.qcow2");

  /* The freed clusters are used again: the file does not grow for the next write. */
  {
    g_autofree char *path = path_in (f, "z.qcow2");
    GStatBuf before, after;

    g_assert_cmpint (g_stat (path, &before), ==, 0);
    block = open_ok (f, "z.qcow2", FALSE);
    g_assert_cmpint (test_block_io (block, HV_BLOCK_WRITE, ones, 512 * 1024, 128 * 1024), ==, 0);
    g_clear_pointer (&block, hv_block_free);
    g_assert_cmpint (g_stat (path, &after), ==, 0);
    g_assert_cmpint (after.st_size, ==, before.st_size);
    assert_check_clean (f, "z.qcow2");
  }
}

/* Over a backing file, discarded and zeroed clusters read as zeros, not as the backing file: v3 marks
 * them zero clusters, v2 (no such mark) writes zeros. */
static void
test_zeroes_over_backing (Fixture *f, gconstpointer data)
{
  const char *compat = data;
  g_autofree uint8_t *ones = g_malloc (256 * 1024);
  g_autofree uint8_t *buf = NULL;
  g_autoptr (HvBlock) block = NULL;

  if (!have_qemu_tools ())
    return;
  memset (ones, 0x66, 256 * 1024);
  RUN_OK (f, "qemu-img create -q -f qcow2 -o compat=%s base.qcow2 1M", compat);
  RUN_OK (f, "qemu-io -c 'write -P 0x55 0 1M' base.qcow2");
  RUN_OK (f, "qemu-img create -q -f qcow2 -o compat=%s -b base.qcow2 -F qcow2 top.qcow2 1M", compat);
  block = open_ok (f, "top.qcow2", FALSE);
  g_assert_cmpint (test_block_io (block, HV_BLOCK_WRITE, ones, 0, 256 * 1024), ==, 0);
  g_assert_cmpint (test_block_io (block, HV_BLOCK_WRITE_ZEROES, NULL, 0, 128 * 1024), ==, 0);
  g_assert_cmpint (test_block_io (block, HV_BLOCK_WRITE_ZEROES, NULL, 512 * 1024, 100000), ==, 0);
  g_assert_cmpint (test_block_io (block, HV_BLOCK_DISCARD, NULL, 768 * 1024, 64 * 1024), ==, 0);
  buf = read_all (block);
  assert_bytes (buf, 0, 128 * 1024, 0);
  assert_bytes (buf, 128 * 1024, 128 * 1024, 0x66);
  assert_bytes (buf, 256 * 1024, 256 * 1024, 0x55);
  assert_bytes (buf, 512 * 1024, 100000, 0);
  assert_bytes (buf, 512 * 1024 + 100000, 768 * 1024 - 512 * 1024 - 100000, 0x55);
  /* v2 cannot hide the backing file without writing: its discard leaves the data. */
  assert_bytes (buf, 768 * 1024, 64 * 1024, strcmp (compat, "1.1") == 0 ? 0 : 0x55);
  g_clear_pointer (&block, hv_block_free);
  assert_check_clean (f, "top.qcow2");
  RUN_OK (f,
          "qemu-io -c 'read -P 0 0 128k' -c 'read -P 0x66 128k 128k' -c 'read -P 0 512k 100000' top.qcow2");
}

/* An image with an internal snapshot: writes copy the shared L2 table and clusters, the snapshot keeps
 * what it had (qemu-img snapshot -a brings it back), and the image checks clean. */
static void
test_write_with_snapshot (Fixture *f, gconstpointer data)
{
  g_autofree uint8_t *twos = g_malloc (64 * 1024);
  g_autoptr (HvBlock) block = NULL;

  if (!have_qemu_tools ())
    return;
  memset (twos, 0x22, 64 * 1024);
  RUN_OK (f, "qemu-img create -q -f qcow2 -o cluster_size=4096 snap.qcow2 4M");
  RUN_OK (f, "qemu-io -c 'write -P 0x11 0 256k' snap.qcow2");
  RUN_OK (f, "qemu-img snapshot -c before snap.qcow2");
  block = open_ok (f, "snap.qcow2", FALSE);
  g_assert_cmpint (test_block_io (block, HV_BLOCK_WRITE, twos, 1000, 8192), ==, 0);
  g_assert_cmpint (test_block_io (block, HV_BLOCK_WRITE, twos, 128 * 1024, 64 * 1024), ==, 0);
  g_assert_cmpint (test_block_io (block, HV_BLOCK_WRITE, twos, 128 * 1024, 4096), ==, 0); /* in place now */
  g_assert_cmpint (test_block_io (block, HV_BLOCK_WRITE, twos, 3 * MiB, 4096), ==, 0);
  g_assert_cmpint (test_block_io (block, HV_BLOCK_DISCARD, NULL, 64 * 1024, 8192), ==, 0);
  g_clear_pointer (&block, hv_block_free);
  assert_check_clean (f, "snap.qcow2");
  RUN_OK (f, "qemu-io -c 'read -P 0x11 0 1000' -c 'read -P 0x22 1000 8192' -c 'read -P 0x11 9192 56344' "
             "-c 'read -P 0 64k 8k' -c 'read -P 0x22 128k 64k' -c 'read -P 0x11 192k 64k' "
             "-c 'read -P 0x22 3M 4k' snap.qcow2");
  RUN_OK (f, "qemu-img snapshot -a before snap.qcow2");
  assert_check_clean (f, "snap.qcow2");
  RUN_OK (f, "qemu-io -c 'read -P 0x11 0 256k' -c 'read -P 0 3M 4k' snap.qcow2");
}

char *
file_checksum (Fixture *f, const char *name)
{
  g_autofree char *path = path_in (f, name);
  g_autofree char *contents = NULL;
  gsize len;

  g_assert_true (g_file_get_contents (path, &contents, &len, NULL));
  return g_compute_checksum_for_data (G_CHECKSUM_SHA256, (const guchar *) contents, len);
}

static void
test_backing_chain (Fixture *f, gconstpointer data)
{
  g_autofree char *base_sum = NULL;
  g_autofree char *mid_sum = NULL;
  g_autofree uint8_t *buf = NULL;
  g_autoptr (HvBlock) block = NULL;
  uint8_t data77[3000];

  if (!have_qemu_tools ())
    return;
  /* raw base (2 MiB) ← mid qcow2 (2 MiB, 4 KiB clusters) ← top qcow2 (3 MiB: past the base reads zeros). */
  RUN_OK (f, "qemu-img create -q -f raw base.raw 2M");
  RUN_OK (f, "qemu-io -f raw -c 'write -P 0x10 0 2M' base.raw");
  RUN_OK (f, "qemu-img create -q -f qcow2 -o cluster_size=4096 -b base.raw -F raw mid.qcow2 2M");
  RUN_OK (f, "qemu-io -c 'write -P 0x20 1M 64k' mid.qcow2");
  RUN_OK (f, "qemu-img create -q -f qcow2 -b mid.qcow2 -F qcow2 top.qcow2 3M");
  base_sum = file_checksum (f, "base.raw");
  mid_sum = file_checksum (f, "mid.qcow2");

  block = open_ok (f, "top.qcow2", FALSE);
  g_assert_cmpuint (f->opened, ==, 2);
  buf = read_all (block);
  assert_bytes (buf, 0, MiB, 0x10);
  assert_bytes (buf, MiB, 64 * 1024, 0x20);
  assert_bytes (buf, MiB + 64 * 1024, MiB - 64 * 1024, 0x10);
  assert_bytes (buf, 2 * MiB, MiB, 0);

  /* A partial write copies the rest of its cluster up from the chain. */
  memset (data77, 0x77, sizeof data77);
  g_assert_cmpint (test_block_io (block, HV_BLOCK_WRITE, data77, MiB + 60 * 1024, sizeof data77), ==, 0);
  g_assert_cmpint (test_block_io (block, HV_BLOCK_WRITE, data77, 2 * MiB - 1000, sizeof data77), ==, 0);
  g_clear_pointer (&block, hv_block_free);

  {
    g_autofree char *base_after = file_checksum (f, "base.raw");
    g_autofree char *mid_after = file_checksum (f, "mid.qcow2");
    g_assert_cmpstr (base_after, ==, base_sum);
    g_assert_cmpstr (mid_after, ==, mid_sum);
  }
  assert_check_clean (f, "top.qcow2");
  RUN_OK (f, "qemu-io -c 'read -P 0x10 960k 64k' -c 'read -P 0x20 1M 61440' -c 'read -P 0x77 1110016 3000' "
             "-c 'read -P 0x20 1113016 1096' -c 'read -P 0x10 1114112 982040' -c 'read -P 0x77 2096152 3000' "
             "-c 'read -P 0 2099152 46000' top.qcow2");
}

/* A child writes without flushing until it is killed; whatever moment that was, the image has at most
 * leaked clusters (qemu-img check: 0 or 3, never 2). */
static void
test_kill_while_writing (Fixture *f, gconstpointer data)
{
  if (!have_qemu_tools ())
    return;
  g_clear_pointer (&f->aio, hv_aio_free); /* no threads across fork() */
  for (unsigned round = 0; round < 3; round++)
    {
      g_autofree char *out = NULL;
      pid_t pid;
      int status, check;

      RUN_OK (f, "qemu-img create -q -f qcow2 -o cluster_size=4096 k.qcow2 64M");
      pid = fork ();
      g_assert_cmpint (pid, >=, 0);
      if (pid == 0)
        {
          GMainContext *context = g_main_context_new ();
          g_autofree char *path = path_in (f, "k.qcow2");
          HvBlock *block = test_block_open (&hv_block_qcow2_driver, open (path, O_RDWR), FALSE, NULL, NULL,
                                            context, NULL, NULL);
          uint8_t chunk[6000];

          memset (chunk, 0x5a, sizeof chunk);
          for (uint64_t i = 0;; i++)
            {
              test_block_io (block, (i % 7 == 3) ? HV_BLOCK_DISCARD : HV_BLOCK_WRITE, chunk,
                             (i * 7919 * 4096 + i * 13) % (60 * MiB), sizeof chunk);
              if (i % 50 == 49)
                test_block_io (block, HV_BLOCK_FLUSH, NULL, 0, 0);
            }
        }
      g_usleep ((50 + 70 * round) * 1000);
      kill (pid, SIGKILL);
      g_assert_cmpint (waitpid (pid, &status, 0), ==, pid);
      check = run (f, &out, "qemu-img check k.qcow2");
      if (check != 0 && check != 3)
        g_error ("after kill -9: qemu-img check exit %d: %s", check, out);
      g_test_message ("round %u: qemu-img check exit %d", round, check);
    }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

#define ADD QCOW2_ADD
  ADD ("read/qemu-images", test_read_qemu_images, NULL);
  ADD ("read/zero-clusters", test_read_zero_clusters, NULL);
  ADD ("read/compressed-zlib", test_read_compressed, "zlib");
  ADD ("read/compressed-zstd", test_read_compressed, "zstd");
  ADD ("extended-l2", test_extended_l2, NULL);
  ADD ("write/v3", test_write, "-o cluster_size=65536");
  ADD ("write/v2", test_write, "-o compat=0.10,cluster_size=512");
  ADD ("write/2M-clusters", test_write, "-o cluster_size=2M");
  ADD ("write/lazy-refcounts-image", test_write, "-o lazy_refcounts=on");
  ADD ("write/refcount-1-bit", test_write, "-o cluster_size=4096,refcount_bits=1");
  ADD ("write/refcount-table-grows", test_write_grows_refcount_table, NULL);
  ADD ("write/without-aio", test_write_without_aio, NULL);
  ADD ("write/io-uring", test_write_io_uring, NULL);
  ADD ("write/discard-zeroes-v3", test_discard_and_zeroes, "1.1");
  ADD ("write/discard-zeroes-v2", test_discard_and_zeroes, "0.10");
  ADD ("write/concurrent", test_concurrent_writes, "65536");
  ADD ("write/concurrent-small-clusters", test_concurrent_writes, "4096");
  ADD ("write/with-snapshot", test_write_with_snapshot, NULL);
  ADD ("write/kill-9", test_kill_while_writing, NULL);
  ADD ("backing/zeroes-v3", test_zeroes_over_backing, "1.1");
  ADD ("backing/zeroes-v2", test_zeroes_over_backing, "0.10");
  ADD ("backing/chain", test_backing_chain, NULL);
  qcow2_add_hostile_tests ();
  qcow2_add_snapshot_tests ();
#undef ADD
  return g_test_run ();
}
