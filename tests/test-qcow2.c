/* test-qcow2.c — the qcow2 format driver against QEMU's own tools: images qemu-img and qemu-io make
 * (v2 and v3, cluster sizes 512 B to 2 MiB, zero and compressed clusters, subclusters, backing chains) read
 * back right; what we write passes `qemu-img check` and reads back in qemu-io; backing files stay
 * unchanged; a kill -9 in the middle of writing leaves leaks at most; damaged and hostile images are
 * refused with a message naming the problem.  Tests needing qemu-img report themselves skipped without it. */
#include "block-test-support.h"
#include "hv-limits.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#define MiB (1024 * 1024)

typedef struct
{
  char *dir;
  GMainContext *context;
  HvAio *aio;
  unsigned opened; /* backing files opened */
} Fixture;

static void
fixture_setup (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;

  f->dir = g_dir_make_tmp ("vireo-qcow2-XXXXXX", &error);
  g_assert_no_error (error);
  f->context = g_main_context_new ();
  f->aio = hv_aio_new (f->context, 16, HV_AIO_ENGINE_THREADS, &error);
  g_assert_no_error (error);
}

static void
fixture_teardown (Fixture *f, gconstpointer data)
{
  g_autofree char *cmd = g_strdup_printf ("rm -rf '%s'", f->dir);

  g_clear_pointer (&f->aio, hv_aio_free);
  g_main_context_unref (f->context);
  g_assert_cmpint (system (cmd), ==, 0);
  g_free (f->dir);
}

static gboolean
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

static char *
path_in (Fixture *f, const char *name)
{
  return g_build_filename (f->dir, name, NULL);
}

/* Runs a command line in the fixture's folder; returns its exit status, its output in @output. */
static int run (Fixture *f, char **output, const char *format, ...) G_GNUC_PRINTF (3, 4);

static int
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

#define RUN_OK(f, ...) g_assert_cmpint (run (f, NULL, __VA_ARGS__), ==, 0)

/* The opener: names relative to the fixture's folder, as vireo-run resolves them. */
static int
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

static HvBlock *
open_image (Fixture *f, const char *name, gboolean read_only, GError **error)
{
  g_autofree char *path = path_in (f, name);
  int fd = open (path, (read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC);

  g_assert_cmpint (fd, >=, 0);
  return test_block_open (&hv_block_qcow2_driver, fd, read_only, open_backing_in_dir, f, f->context, f->aio,
                          error);
}

static HvBlock *
open_ok (Fixture *f, const char *name, gboolean read_only)
{
  g_autoptr (GError) error = NULL;
  HvBlock *block = open_image (f, name, read_only, &error);

  g_assert_no_error (error);
  return block;
}

static void
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
static uint8_t *
read_all (HvBlock *block)
{
  uint8_t *buf = g_malloc (block->size);

  g_assert_cmpint (test_block_io (block, HV_BLOCK_READ, buf, 0, block->size), ==, 0);
  return buf;
}

static void
assert_bytes (const uint8_t *buf, uint64_t offset, uint64_t len, uint8_t value)
{
  for (uint64_t i = 0; i < len; i++)
    if (buf[offset + i] != value)
      g_error ("byte 0x%" G_GINT64_MODIFIER "x is 0x%02x, expected 0x%02x", offset + i, buf[offset + i],
               value);
}

static void
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

static char *
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

/* ---- internal snapshots: made, applied and deleted by us, judged by qemu-img and qemu-io ---- */

/* Opened with synchronous data I/O: the fixture's aio goes with the first block freed, and these tests
 * open an image several times. */
static HvBlock *
open_sync (Fixture *f, const char *name, gboolean read_only)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *path = path_in (f, name);
  int fd = open (path, (read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC);
  HvBlock *block;

  g_assert_cmpint (fd, >=, 0);
  block = test_block_open (&hv_block_qcow2_driver, fd, read_only, open_backing_in_dir, f,
                           g_main_context_ref (f->context), NULL, &error);
  g_assert_no_error (error);
  return block;
}

static void
snapshot_ok (HvBlock *block, HvBlockSnapshotOp op, const char *name)
{
  g_autoptr (GError) error = NULL;

  hv_block_snapshot (block, op, name, &error);
  g_assert_no_error (error);
}

static void
write_pattern (HvBlock *block, uint8_t value, uint64_t offset, uint64_t len)
{
  g_autofree uint8_t *buf = g_malloc (len);

  memset (buf, value, len);
  g_assert_cmpint (test_block_io (block, HV_BLOCK_WRITE, buf, offset, len), ==, 0);
}

static void
assert_pattern (HvBlock *block, uint8_t value, uint64_t offset, uint64_t len)
{
  g_autofree uint8_t *buf = g_malloc (len);

  g_assert_cmpint (test_block_io (block, HV_BLOCK_READ, buf, offset, len), ==, 0);
  assert_bytes (buf, 0, len, value);
}

static void
assert_listed (Fixture *f, const char *image, const char *const *names, const char *const *absent)
{
  g_autofree char *out = NULL;

  g_assert_cmpint (run (f, &out, "qemu-img snapshot -l %s", image), ==, 0);
  for (; names != NULL && *names != NULL; names++)
    if (strstr (out, *names) == NULL)
      g_error ("qemu-img snapshot -l does not list %s: %s", *names, out);
  for (; absent != NULL && *absent != NULL; absent++)
    if (strstr (out, *absent) != NULL)
      g_error ("qemu-img snapshot -l still lists %s: %s", *absent, out);
}

static void
test_snapshot_create_apply_delete (Fixture *f, gconstpointer data)
{
  const char *options = data;
  g_autoptr (HvBlock) block = NULL;
  g_autoptr (GPtrArray) list = NULL;
  g_autoptr (GError) error = NULL;
  const char *const both[] = { "first", "second", NULL };
  const char *const second[] = { "second", NULL };

  if (!have_qemu_tools ())
    return;
  RUN_OK (f, "qemu-img create -q -f qcow2 %s s.qcow2 4M", options);
  RUN_OK (f, "qemu-io -c 'write -P 0x11 0 256k' -c 'write -P 0x44 3M 4k' s.qcow2");
  block = open_sync (f, "s.qcow2", FALSE);
  snapshot_ok (block, HV_BLOCK_SNAPSHOT_CREATE, "first");
  write_pattern (block, 0x22, 0, 64 * 1024);
  write_pattern (block, 0x55, 1 * MiB, 8192);
  snapshot_ok (block, HV_BLOCK_SNAPSHOT_CREATE, "second");
  write_pattern (block, 0x33, 128 * 1024, 64 * 1024);
  g_assert_cmpint (test_block_io (block, HV_BLOCK_WRITE_ZEROES, NULL, 3 * MiB, 4096), ==, 0);

  list = hv_block_snapshot_list (block, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (list->len, ==, 2);
  g_assert_cmpstr (((HvBlockSnapshot *) list->pdata[0])->name, ==, "first");
  g_assert_cmpstr (((HvBlockSnapshot *) list->pdata[0])->id, ==, "1");
  g_assert_cmpstr (((HvBlockSnapshot *) list->pdata[1])->id, ==, "2");
  g_assert_cmpuint (((HvBlockSnapshot *) list->pdata[1])->disk_size, ==, 4 * MiB);
  g_assert_cmpuint (((HvBlockSnapshot *) list->pdata[1])->vm_state_size, ==, 0);
  g_assert_cmpint (((HvBlockSnapshot *) list->pdata[1])->date_sec, >, 1700000000);
  g_clear_pointer (&block, hv_block_free);

  assert_check_clean (f, "s.qcow2");
  assert_listed (f, "s.qcow2", both, NULL);
  RUN_OK (f, "qemu-io -c 'read -P 0x22 0 64k' -c 'read -P 0x11 64k 64k' -c 'read -P 0x33 128k 64k' "
             "-c 'read -P 0x11 192k 64k' -c 'read -P 0x55 1M 8k' -c 'read -P 0 3M 4k' s.qcow2");
  RUN_OK (f, "cp s.qcow2 q.qcow2");
  RUN_OK (f, "qemu-img snapshot -a first q.qcow2");
  assert_check_clean (f, "q.qcow2");
  RUN_OK (f, "qemu-io -c 'read -P 0x11 0 256k' -c 'read -P 0 1M 8k' -c 'read -P 0x44 3M 4k' q.qcow2");
  RUN_OK (f, "qemu-img snapshot -a second q.qcow2");
  RUN_OK (f, "qemu-io -c 'read -P 0x22 0 64k' -c 'read -P 0x11 64k 192k' -c 'read -P 0x55 1M 8k' "
             "-c 'read -P 0x44 3M 4k' q.qcow2");

  /* Applied by us: the first snapshot's data, the image still checks clean, writes go on. */
  block = open_sync (f, "s.qcow2", FALSE);
  snapshot_ok (block, HV_BLOCK_SNAPSHOT_APPLY, "first");
  assert_pattern (block, 0x11, 0, 256 * 1024);
  assert_pattern (block, 0x00, 1 * MiB, 8192);
  assert_pattern (block, 0x44, 3 * MiB, 4096);
  write_pattern (block, 0x66, 4096, 4096);
  g_clear_pointer (&block, hv_block_free);
  assert_check_clean (f, "s.qcow2");
  RUN_OK (f, "qemu-io -c 'read -P 0x11 0 4k' -c 'read -P 0x66 4k 4k' -c 'read -P 0x11 8k 248k' "
             "-c 'read -P 0x44 3M 4k' s.qcow2");

  /* Deleting by id, then by name: the other snapshot keeps its data. */
  block = open_sync (f, "s.qcow2", FALSE);
  snapshot_ok (block, HV_BLOCK_SNAPSHOT_DELETE, "1");
  g_clear_pointer (&block, hv_block_free);
  assert_check_clean (f, "s.qcow2");
  assert_listed (f, "s.qcow2", second, (const char *const[]){ "first", NULL });
  RUN_OK (f, "qemu-io -c 'read -P 0x66 4k 4k' -c 'read -P 0x44 3M 4k' s.qcow2");
  RUN_OK (f, "cp s.qcow2 q.qcow2");
  RUN_OK (f, "qemu-img snapshot -a second q.qcow2");
  RUN_OK (f, "qemu-io -c 'read -P 0x22 0 64k' -c 'read -P 0x11 64k 192k' -c 'read -P 0x55 1M 8k' q.qcow2");
  block = open_sync (f, "s.qcow2", FALSE);
  snapshot_ok (block, HV_BLOCK_SNAPSHOT_DELETE, "second");
  g_clear_pointer (&block, hv_block_free);
  assert_check_clean (f, "s.qcow2");
  RUN_OK (f, "qemu-io -c 'read -P 0x11 0 4k' -c 'read -P 0x66 4k 4k' -c 'read -P 0x44 3M 4k' s.qcow2");
  {
    g_autofree char *out = NULL;

    g_assert_cmpint (run (f, &out, "qemu-img check s.qcow2"), ==, 0);
    g_assert_nonnull (strstr (out, "No errors"));
  }
}

/* Snapshots qemu-img made: read, applied and deleted by us; ours go on beside them. */
static void
test_snapshot_of_qemu (Fixture *f, gconstpointer data)
{
  g_autoptr (HvBlock) block = NULL;

  if (!have_qemu_tools ())
    return;
  RUN_OK (f, "qemu-img create -q -f qcow2 -o cluster_size=65536 s.qcow2 2M");
  RUN_OK (f, "qemu-io -c 'write -P 0x11 0 1M' s.qcow2");
  RUN_OK (f, "qemu-img snapshot -c qa s.qcow2");
  RUN_OK (f, "qemu-io -c 'write -P 0x22 0 512k' s.qcow2");
  RUN_OK (f, "qemu-img snapshot -c qb s.qcow2");
  RUN_OK (f, "qemu-io -c 'write -P 0x33 256k 512k' s.qcow2");
  block = open_sync (f, "s.qcow2", FALSE);
  snapshot_ok (block, HV_BLOCK_SNAPSHOT_CREATE, "ours");
  snapshot_ok (block, HV_BLOCK_SNAPSHOT_APPLY, "qa");
  assert_pattern (block, 0x11, 0, 1 * MiB);
  assert_pattern (block, 0x00, 1 * MiB, 1 * MiB);
  snapshot_ok (block, HV_BLOCK_SNAPSHOT_DELETE, "qb");
  g_clear_pointer (&block, hv_block_free);
  assert_check_clean (f, "s.qcow2");
  assert_listed (f, "s.qcow2", (const char *const[]){ "qa", "ours", NULL },
                 (const char *const[]){ "qb", NULL });
  RUN_OK (f, "qemu-img snapshot -a ours s.qcow2");
  assert_check_clean (f, "s.qcow2");
  RUN_OK (f,
          "qemu-io -c 'read -P 0x22 0 256k' -c 'read -P 0x33 256k 512k' -c 'read -P 0x11 768k 256k' s.qcow2");
  RUN_OK (f, "qemu-img snapshot -d qa s.qcow2");
  assert_check_clean (f, "s.qcow2");
  block = open_sync (f, "s.qcow2", FALSE);
  assert_pattern (block, 0x33, 256 * 1024, 512 * 1024);
  snapshot_ok (block, HV_BLOCK_SNAPSHOT_DELETE, "ours");
  g_clear_pointer (&block, hv_block_free);
  assert_check_clean (f, "s.qcow2");
  RUN_OK (f,
          "qemu-io -c 'read -P 0x22 0 256k' -c 'read -P 0x33 256k 512k' -c 'read -P 0x11 768k 256k' s.qcow2");
}

/* A tree: a snapshot of an applied snapshot, the middle one deleted, the others whole. */
static void
test_snapshot_tree (Fixture *f, gconstpointer data)
{
  g_autoptr (HvBlock) block = NULL;

  if (!have_qemu_tools ())
    return;
  RUN_OK (f, "qemu-img create -q -f qcow2 -o cluster_size=4096 t.qcow2 1M");
  block = open_sync (f, "t.qcow2", FALSE);
  write_pattern (block, 0xa1, 0, 128 * 1024);
  snapshot_ok (block, HV_BLOCK_SNAPSHOT_CREATE, "A");
  write_pattern (block, 0xb2, 32 * 1024, 32 * 1024);
  snapshot_ok (block, HV_BLOCK_SNAPSHOT_CREATE, "B");
  snapshot_ok (block, HV_BLOCK_SNAPSHOT_APPLY, "A");
  write_pattern (block, 0xc3, 64 * 1024, 32 * 1024);
  snapshot_ok (block, HV_BLOCK_SNAPSHOT_CREATE, "C");
  write_pattern (block, 0xd4, 0, 4096);
  snapshot_ok (block, HV_BLOCK_SNAPSHOT_DELETE, "B");
  g_clear_pointer (&block, hv_block_free);
  assert_check_clean (f, "t.qcow2");
  RUN_OK (f, "qemu-io -c 'read -P 0xd4 0 4k' -c 'read -P 0xa1 4k 60k' -c 'read -P 0xc3 64k 32k' "
             "-c 'read -P 0xa1 96k 32k' t.qcow2");
  RUN_OK (f, "cp t.qcow2 a.qcow2");
  RUN_OK (f, "qemu-img snapshot -a A a.qcow2");
  RUN_OK (f, "qemu-io -c 'read -P 0xa1 0 128k' -c 'read -P 0 128k 128k' a.qcow2");
  RUN_OK (f, "qemu-img snapshot -a C a.qcow2");
  RUN_OK (f, "qemu-io -c 'read -P 0xa1 0 64k' -c 'read -P 0xc3 64k 32k' -c 'read -P 0xa1 96k 32k' a.qcow2");
  assert_check_clean (f, "a.qcow2");
  /* And back through ours. */
  block = open_sync (f, "t.qcow2", FALSE);
  snapshot_ok (block, HV_BLOCK_SNAPSHOT_APPLY, "C");
  assert_pattern (block, 0xa1, 0, 64 * 1024);
  assert_pattern (block, 0xc3, 64 * 1024, 32 * 1024);
  snapshot_ok (block, HV_BLOCK_SNAPSHOT_DELETE, "A");
  snapshot_ok (block, HV_BLOCK_SNAPSHOT_DELETE, "C");
  assert_pattern (block, 0xc3, 64 * 1024, 32 * 1024);
  g_clear_pointer (&block, hv_block_free);
  assert_check_clean (f, "t.qcow2");
  RUN_OK (f, "qemu-io -c 'read -P 0xa1 0 64k' -c 'read -P 0xc3 64k 32k' t.qcow2");
}

/* Compressed and zero clusters are counted and kept like any other. */
static void
test_snapshot_compressed_zero (Fixture *f, gconstpointer data)
{
  g_autoptr (HvBlock) block = NULL;

  if (!have_qemu_tools ())
    return;
  RUN_OK (f, "qemu-img create -q -f raw src.raw 1M");
  RUN_OK (f, "qemu-io -f raw -c 'write -P 0x77 0 512k' src.raw");
  RUN_OK (f, "qemu-img convert -c -f raw -O qcow2 -o cluster_size=65536 src.raw c.qcow2");
  RUN_OK (f, "qemu-io -c 'write -z 512k 64k' -c 'write -P 0x12 640k 64k' -c 'write -z 640k 64k' c.qcow2");
  block = open_sync (f, "c.qcow2", FALSE);
  snapshot_ok (block, HV_BLOCK_SNAPSHOT_CREATE, "packed");
  write_pattern (block, 0x99, 0, 128 * 1024);
  write_pattern (block, 0x98, 640 * 1024, 4096);
  snapshot_ok (block, HV_BLOCK_SNAPSHOT_APPLY, "packed");
  assert_pattern (block, 0x77, 0, 512 * 1024);
  assert_pattern (block, 0x00, 512 * 1024, 512 * 1024);
  g_clear_pointer (&block, hv_block_free);
  assert_check_clean (f, "c.qcow2");
  RUN_OK (f, "qemu-io -c 'read -P 0x77 0 512k' -c 'read -P 0 512k 512k' c.qcow2");
  block = open_sync (f, "c.qcow2", FALSE);
  snapshot_ok (block, HV_BLOCK_SNAPSHOT_DELETE, "packed");
  g_clear_pointer (&block, hv_block_free);
  assert_check_clean (f, "c.qcow2");
  RUN_OK (f, "qemu-io -c 'read -P 0x77 0 512k' -c 'read -P 0 512k 512k' c.qcow2");
}

static void
assert_snapshot_error (HvBlock *block, HvBlockSnapshotOp op, const char *name, int code, const char *message)
{
  g_autoptr (GError) error = NULL;

  g_assert_false (hv_block_snapshot (block, op, name, &error));
  g_assert_error (error, HV_ERROR, code);
  if (strstr (error->message, message) == NULL)
    g_error ("expected \"%s\" in \"%s\"", message, error->message);
}

static void
test_snapshot_refused (Fixture *f, gconstpointer data)
{
  g_autoptr (HvBlock) block = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *sum = NULL;
  g_autofree char *sum_after = NULL;
  char long_name[HV_BLOCK_SNAPSHOT_NAME_MAX + 2];

  if (!have_qemu_tools ())
    return;
  RUN_OK (f, "qemu-img create -q -f qcow2 e.qcow2 1M");
  block = open_sync (f, "e.qcow2", FALSE);
  snapshot_ok (block, HV_BLOCK_SNAPSHOT_CREATE, "one");
  assert_snapshot_error (block, HV_BLOCK_SNAPSHOT_CREATE, "one", HV_ERROR_INVALID_ARGUMENT, "already has");
  assert_snapshot_error (block, HV_BLOCK_SNAPSHOT_APPLY, "two", HV_ERROR_NOT_FOUND, "no snapshot \"two\"");
  assert_snapshot_error (block, HV_BLOCK_SNAPSHOT_DELETE, "two", HV_ERROR_NOT_FOUND, "no snapshot \"two\"");
  assert_snapshot_error (block, HV_BLOCK_SNAPSHOT_CREATE, "", HV_ERROR_INVALID_ARGUMENT, "1 to");
  memset (long_name, 'x', sizeof long_name - 1);
  long_name[sizeof long_name - 1] = '\0';
  assert_snapshot_error (block, HV_BLOCK_SNAPSHOT_CREATE, long_name, HV_ERROR_INVALID_ARGUMENT, "1 to");
  g_clear_pointer (&block, hv_block_free);
  assert_check_clean (f, "e.qcow2");

  RUN_OK (f, "qemu-img create -q -f qcow2 -o refcount_bits=1 narrow.qcow2 1M");
  block = open_sync (f, "narrow.qcow2", FALSE);
  assert_snapshot_error (block, HV_BLOCK_SNAPSHOT_CREATE, "one", HV_ERROR_INVALID_ARGUMENT, "1 bit wide");
  g_clear_pointer (&block, hv_block_free);
  assert_check_clean (f, "narrow.qcow2");

  sum = file_checksum (f, "e.qcow2");
  block = open_sync (f, "e.qcow2", TRUE);
  assert_snapshot_error (block, HV_BLOCK_SNAPSHOT_DELETE, "one", HV_ERROR_PERMISSION, "read-only");
  {
    g_autoptr (GPtrArray) list = hv_block_snapshot_list (block, &error);

    g_assert_no_error (error);
    g_assert_cmpuint (list->len, ==, 1);
  }
  g_clear_pointer (&block, hv_block_free);
  sum_after = file_checksum (f, "e.qcow2");
  g_assert_cmpstr (sum, ==, sum_after);
}

static uint64_t
read_be64 (const uint8_t *p)
{
  uint64_t v;

  memcpy (&v, p, 8);
  return GUINT64_FROM_BE (v);
}

/* A snapshot whose L1 table names the refcount table as an L2 table is refused, image untouched. */
static void
test_snapshot_hostile (Fixture *f, gconstpointer data)
{
  g_autofree char *path = path_in (f, "h.qcow2");
  g_autofree char *sum = NULL;
  g_autofree char *sum_after = NULL;
  g_autoptr (HvBlock) block = NULL;
  uint8_t header[72], entry[8], l1[8];
  uint64_t reftable, snapshots, sn_l1;
  int fd;

  if (!have_qemu_tools ())
    return;
  RUN_OK (f, "qemu-img create -q -f qcow2 -o cluster_size=4096 h.qcow2 1M");
  RUN_OK (f, "qemu-io -c 'write -P 0x11 0 8k' h.qcow2");
  RUN_OK (f, "qemu-img snapshot -c s h.qcow2");
  fd = open (path, O_RDWR | O_CLOEXEC);
  g_assert_cmpint (pread (fd, header, sizeof header, 0), ==, sizeof header);
  reftable = read_be64 (header + 48);
  snapshots = read_be64 (header + 64);
  g_assert_cmpint (pread (fd, entry, 8, snapshots), ==, 8);
  sn_l1 = read_be64 (entry);
  reftable = GUINT64_TO_BE (reftable);
  memcpy (l1, &reftable, 8);
  g_assert_cmpint (pwrite (fd, l1, 8, sn_l1), ==, 8);
  close (fd);
  sum = file_checksum (f, "h.qcow2");
  block = open_sync (f, "h.qcow2", FALSE);
  assert_snapshot_error (block, HV_BLOCK_SNAPSHOT_APPLY, "s", HV_ERROR_BAD_IMAGE, "over other metadata");
  g_clear_pointer (&block, hv_block_free);
  sum_after = file_checksum (f, "h.qcow2");
  g_assert_cmpstr (sum, ==, sum_after);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

#define ADD(name, fn, data) g_test_add ("/qcow2/" name, Fixture, data, fixture_setup, fn, fixture_teardown)
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
  ADD ("backing/too-deep", test_backing_too_deep, NULL);
  ADD ("backing/loop", test_backing_loop, NULL);
  ADD ("hostile/hand-built-image", test_hand_built_image, NULL);
  ADD ("hostile/headers", test_hostile_headers, NULL);
  ADD ("hostile/l2-entries", test_hostile_l2_entries, NULL);
  ADD ("hostile/refcounts", test_hostile_refcounts, NULL);
  ADD ("hostile/compressed", test_hostile_compressed, NULL);
  ADD ("snapshot/create-apply-delete-v3", test_snapshot_create_apply_delete, "-o cluster_size=4096");
  ADD ("snapshot/create-apply-delete-v2", test_snapshot_create_apply_delete,
       "-o compat=0.10,cluster_size=512");
  ADD ("snapshot/create-apply-delete-64k", test_snapshot_create_apply_delete, "-o cluster_size=65536");
  ADD ("snapshot/extended-l2", test_snapshot_create_apply_delete, "-o extended_l2=on,cluster_size=65536");
  ADD ("snapshot/of-qemu", test_snapshot_of_qemu, NULL);
  ADD ("snapshot/tree", test_snapshot_tree, NULL);
  ADD ("snapshot/compressed-zero", test_snapshot_compressed_zero, NULL);
  ADD ("snapshot/refused", test_snapshot_refused, NULL);
  ADD ("snapshot/hostile-l1", test_snapshot_hostile, NULL);
#undef ADD
  return g_test_run ();
}
