/* test-block.c — the block layer over raw images: reads, writes, flushes, discard and write-zeroes
 * through both aio engines, direct I/O with buffers the guest did not align, requests out of range or
 * to a read-only disk, the request depth, the cache modes (raw and qcow2, direct I/O by default where the
 * file system has it), and QEMU's lock bytes (against a second open and, where
 * qemu-utils is installed, against qemu-io, which also judges the content). */
#include "block/block-private.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <string.h>
#include <linux/magic.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <unistd.h>

#define IMAGE_SIZE (1u << 20)
#define MIB        (1024 * 1024)

typedef struct
{
  char *dir;
  char *path;
  GMainContext *context;
  HvBlock *block;
} Fixture;

typedef struct
{
  gboolean done;
  int result;
} Wait;

static void
on_done (void *opaque, int result)
{
  Wait *wait = opaque;
  wait->done = TRUE;
  wait->result = result;
}

static void
fixture_setup (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  int fd;

  f->dir = g_dir_make_tmp ("vireo-block-XXXXXX", &error);
  g_assert_no_error (error);
  f->path = g_build_filename (f->dir, "disk.img", NULL);
  fd = open (f->path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  g_assert_cmpint (fd, >=, 0);
  g_assert_cmpint (ftruncate (fd, IMAGE_SIZE), ==, 0);
  close (fd);
  f->context = g_main_context_new ();
}

static void
fixture_teardown (Fixture *f, gconstpointer data)
{
  hv_block_free (f->block);
  g_main_context_unref (f->context);
  g_unlink (f->path);
  g_rmdir (f->dir);
  g_free (f->path);
  g_free (f->dir);
}

static HvBlock *
open_image (Fixture *f, int flags, const HvBlockOptions *options, GError **error)
{
  int fd = open (f->path, flags | O_CLOEXEC);

  g_assert_cmpint (fd, >=, 0);
  return hv_block_open (fd, options, NULL, NULL, error);
}

static void
open_attached (Fixture *f, const HvBlockOptions *options)
{
  g_autoptr (GError) error = NULL;

  f->block = open_image (f, options->read_only ? O_RDONLY : O_RDWR, options, &error);
  g_assert_no_error (error);
  g_assert_true (hv_block_attach (f->block, f->context, 8, &error));
  g_assert_no_error (error);
}

/* Submits one request and runs the context until it completes; returns its result. */
static int
run_request (Fixture *f, HvBlockOp op, void *data, size_t len, uint64_t offset)
{
  g_autoptr (GError) error = NULL;
  struct iovec iov = { data, len };
  Wait wait = { 0 };
  gint64 deadline = g_get_monotonic_time () + 10 * G_TIME_SPAN_SECOND;

  g_assert_true (hv_block_submit (f->block, op, &iov, data ? 1 : 0, offset, len, on_done, &wait, &error));
  g_assert_no_error (error);
  while (!wait.done)
    {
      g_assert_cmpint (g_get_monotonic_time (), <, deadline);
      g_main_context_iteration (f->context, TRUE);
    }
  return wait.result;
}

static void
assert_file_bytes (Fixture *f, uint64_t offset, size_t len, uint8_t value)
{
  g_autofree uint8_t *data = g_malloc (len);
  int fd = open (f->path, O_RDONLY | O_CLOEXEC);

  g_assert_cmpint (pread (fd, data, len, (off_t) offset), ==, (ssize_t) len);
  close (fd);
  for (size_t i = 0; i < len; i++)
    if (data[i] != value)
      g_error ("byte %" G_GUINT64_FORMAT " of the image is 0x%02x, not 0x%02x", offset + i, data[i], value);
}

/* qemu-io as the judge of what the image holds: TRUE when it agrees, or skips when it is missing. */
static gboolean
qemu_io_reads (Fixture *f, uint8_t value, uint64_t offset, size_t len)
{
  g_autofree char *qemu_io = g_find_program_in_path ("qemu-io");
  g_autofree char *command = NULL;
  g_autofree char *out = NULL;
  g_autofree char *err = NULL;
  g_autoptr (GError) error = NULL;
  int status;

  if (qemu_io == NULL)
    return TRUE;
  command = g_strdup_printf ("read -P 0x%x %" G_GUINT64_FORMAT " %zu", value, offset, len);
  {
    const char *argv[] = { qemu_io, "-U", "-r", "-f", "raw", "-c", command, f->path, NULL };
    g_assert_true (
        g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_DEFAULT, NULL, NULL, &out, &err, &status, &error));
  }
  g_assert_no_error (error);
  return g_spawn_check_wait_status (status, NULL) && strstr (out, "Pattern verification failed") == NULL;
}

static void
test_io (Fixture *f, gconstpointer data)
{
  HvBlockOptions options = { .cache = HV_BLOCK_CACHE_WRITEBACK };
  g_autofree uint8_t *buffer = g_malloc (64 * 1024);
  g_autofree uint8_t *back = g_malloc0 (64 * 1024);
  struct stat before, after;

  if (g_str_equal (data, "io_uring"))
    {
      g_autoptr (GError) error = NULL;
      g_autoptr (HvAio) probe = hv_aio_new (f->context, 1, HV_AIO_ENGINE_IO_URING, &error);
      if (probe == NULL)
        {
          g_test_skip (error->message);
          return;
        }
    }
  g_setenv ("VIREO_AIO", data, TRUE);
  open_attached (f, &options);
  g_assert_cmpuint (hv_block_get_size (f->block), ==, IMAGE_SIZE);
  g_assert_cmpint (hv_block_get_format (f->block), ==, HV_BLOCK_FORMAT_RAW);
  g_assert_cmpstr (hv_aio_engine_name (hv_aio_get_engine (f->block->aio)), ==, data);
  g_assert_true (hv_block_can_discard (f->block));

  memset (buffer, 0xab, 64 * 1024);
  g_assert_cmpint (run_request (f, HV_BLOCK_WRITE, buffer, 64 * 1024, 4096), ==, 0);
  g_assert_cmpint (run_request (f, HV_BLOCK_FLUSH, NULL, 0, 0), ==, 0);
  g_assert_cmpint (run_request (f, HV_BLOCK_READ, back, 64 * 1024, 4096), ==, 0);
  g_assert_cmpmem (back, 64 * 1024, buffer, 64 * 1024);
  assert_file_bytes (f, 4096, 64 * 1024, 0xab);
  g_assert_true (qemu_io_reads (f, 0xab, 4096, 64 * 1024));
  g_assert_true (qemu_io_reads (f, 0, 0, 4096));

  /* Discard frees the blocks; write-zeroes reads back as zeros. */
  g_assert_cmpint (stat (f->path, &before), ==, 0);
  g_assert_cmpint (run_request (f, HV_BLOCK_DISCARD, NULL, 32 * 1024, 4096), ==, 0);
  g_assert_cmpint (run_request (f, HV_BLOCK_WRITE_ZEROES, NULL, 16 * 1024, 36 * 1024), ==, 0);
  g_assert_cmpint (stat (f->path, &after), ==, 0);
  g_assert_cmpint (after.st_blocks, <, before.st_blocks);
  memset (back, 0x11, 64 * 1024);
  g_assert_cmpint (run_request (f, HV_BLOCK_READ, back, 64 * 1024, 4096), ==, 0);
  for (unsigned i = 0; i < 48 * 1024; i++)
    g_assert_cmpuint (back[i], ==, 0);
  for (unsigned i = 48 * 1024; i < 64 * 1024; i++)
    g_assert_cmpuint (back[i], ==, 0xab);
  g_assert_true (qemu_io_reads (f, 0, 4096, 48 * 1024));
  g_assert_true (qemu_io_reads (f, 0xab, 52 * 1024, 16 * 1024));
}

static void
test_direct_unaligned (Fixture *f, gconstpointer data)
{
  HvBlockOptions options = { .cache = HV_BLOCK_CACHE_NONE };
  g_autofree uint8_t *raw = g_malloc (3 * 4096 + 1);
  uint8_t *unaligned = raw + 1; /* a guest's buffer need not be aligned */
  g_autofree uint8_t *back = g_malloc0 (3 * 4096 + 1);
  int probe = open (f->path, O_RDWR | O_DIRECT | O_CLOEXEC);

  if (probe < 0)
    {
      g_test_skip ("the temporary folder's file system has no direct I/O");
      return;
    }
  close (probe);
  open_attached (f, &options);
  g_assert_true (f->block->direct);
  g_assert_cmpint (fcntl (f->block->fd, F_GETFL) & O_DIRECT, !=, 0);
  /* As on a disk with 4 KiB sectors, so that a 512-byte write needs the blocks around it. */
  f->block->alignment = 4096;

  /* Aligned offset, unaligned buffer. */
  memset (unaligned, 0xc1, 4096);
  g_assert_cmpint (run_request (f, HV_BLOCK_WRITE, unaligned, 4096, 8192), ==, 0);
  /* A sector inside a 4 KiB block: read-modify-write where the alignment is larger. */
  memset (unaligned, 0xd2, 512);
  g_assert_cmpint (run_request (f, HV_BLOCK_WRITE, unaligned, 512, 8192 + 1024), ==, 0);
  g_assert_cmpint (run_request (f, HV_BLOCK_FLUSH, NULL, 0, 0), ==, 0);
  g_assert_cmpint (run_request (f, HV_BLOCK_READ, back + 1, 4096, 8192), ==, 0);
  for (unsigned i = 0; i < 4096; i++)
    g_assert_cmpuint (back[1 + i], ==, i >= 1024 && i < 1536 ? 0xd2 : 0xc1);
  assert_file_bytes (f, 8192, 1024, 0xc1);
  assert_file_bytes (f, 8192 + 1024, 512, 0xd2);
  assert_file_bytes (f, 8192 + 1536, 4096 - 1536, 0xc1);
  g_assert_true (qemu_io_reads (f, 0xd2, 8192 + 1024, 512));
}

static void
test_refused (Fixture *f, gconstpointer data)
{
  HvBlockOptions options = { .cache = HV_BLOCK_CACHE_WRITEBACK };
  uint8_t sector[512] = { 0 };

  open_attached (f, &options);
  g_assert_cmpint (run_request (f, HV_BLOCK_READ, sector, 512, IMAGE_SIZE), ==, -EINVAL);
  g_assert_cmpint (run_request (f, HV_BLOCK_WRITE, sector, 512, IMAGE_SIZE - 256), ==, -EINVAL);
  g_assert_cmpint (run_request (f, HV_BLOCK_DISCARD, NULL, 1024, G_MAXUINT64 - 512), ==, -EINVAL);
  g_assert_cmpint (run_request (f, HV_BLOCK_READ, sector, 512, IMAGE_SIZE - 512), ==, 0);
}

static void
test_read_only (Fixture *f, gconstpointer data)
{
  HvBlockOptions options = { .read_only = TRUE };
  HvBlockOptions writable = { 0 };
  g_autoptr (GError) error = NULL;
  uint8_t sector[512] = { 0 };
  HvBlock *block;

  /* A file opened read-only cannot back a writable disk. */
  block = open_image (f, O_RDONLY, &writable, &error);
  g_assert_null (block);
  g_assert_error (error, HV_ERROR, HV_ERROR_PERMISSION);

  open_attached (f, &options);
  g_assert_true (hv_block_is_read_only (f->block));
  g_assert_false (hv_block_can_discard (f->block));
  g_assert_cmpint (run_request (f, HV_BLOCK_WRITE, sector, 512, 0), ==, -EROFS);
  g_assert_cmpint (run_request (f, HV_BLOCK_DISCARD, NULL, 512, 0), ==, -EROFS);
  g_assert_cmpint (run_request (f, HV_BLOCK_WRITE_ZEROES, NULL, 512, 0), ==, -EROFS);
  g_assert_cmpint (run_request (f, HV_BLOCK_READ, sector, 512, 0), ==, 0);
}

static void
test_not_images (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  int fd = open (f->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  HvBlockOptions options = { .read_only = TRUE };

  g_assert_null (hv_block_open (fd, &options, NULL, NULL, &error));
  g_assert_error (error, HV_ERROR, HV_ERROR_INVALID_ARGUMENT);
  g_assert_nonnull (strstr (error->message, "folder"));
}

static void
on_ready (void *opaque)
{
  (*(unsigned *) opaque)++;
}

static void
test_depth (Fixture *f, gconstpointer data)
{
  HvBlockOptions options = { .cache = HV_BLOCK_CACHE_WRITEBACK };
  g_autoptr (GError) error = NULL;
  uint8_t sectors[3][512];
  Wait waits[3] = { 0 };
  unsigned ready = 0;
  struct iovec iov[3];

  f->block = open_image (f, O_RDWR, &options, &error);
  g_assert_no_error (error);
  g_assert_true (hv_block_attach (f->block, f->context, 2, &error));
  hv_block_set_ready (f->block, on_ready, &ready);
  for (unsigned i = 0; i < 3; i++)
    iov[i] = (struct iovec){ sectors[i], 512 };
  g_assert_true (hv_block_submit (f->block, HV_BLOCK_READ, &iov[0], 1, 0, 512, on_done, &waits[0], &error));
  g_assert_true (hv_block_submit (f->block, HV_BLOCK_READ, &iov[1], 1, 512, 512, on_done, &waits[1], &error));
  g_assert_false (
      hv_block_submit (f->block, HV_BLOCK_READ, &iov[2], 1, 1024, 512, on_done, &waits[2], &error));
  g_assert_error (error, HV_ERROR, HV_ERROR_INVALID_STATE);
  hv_block_drain (f->block);
  g_assert_true (waits[0].done && waits[1].done);
  g_assert_false (waits[2].done);
  g_assert_cmpuint (ready, ==, 1);
}

/* Two VMs must not write one image; readers exclude writers as QEMU's devices do. */
static void
test_locks (Fixture *f, gconstpointer data)
{
  HvBlockOptions writable = { .cache = HV_BLOCK_CACHE_WRITEBACK };
  HvBlockOptions read_only = { .cache = HV_BLOCK_CACHE_WRITEBACK, .read_only = TRUE };
  g_autofree char *qemu_io = g_find_program_in_path ("qemu-io");
  g_autoptr (GError) error = NULL;
  HvBlock *first, *second;

  first = open_image (f, O_RDWR, &writable, &error);
  g_assert_no_error (error);
  second = open_image (f, O_RDWR, &writable, &error);
  g_assert_null (second);
  g_assert_error (error, HV_ERROR, HV_ERROR_PERMISSION);
  g_clear_error (&error);
  second = open_image (f, O_RDONLY, &read_only, &error);
  g_assert_null (second);
  g_assert_error (error, HV_ERROR, HV_ERROR_PERMISSION);
  g_clear_error (&error);

  if (qemu_io)
    {
      const char *argv[] = { qemu_io, "-f", "raw", "-c", "write 0 512", f->path, NULL };
      g_autofree char *err = NULL;
      int status;

      g_assert_true (g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_STDOUT_TO_DEV_NULL, NULL, NULL, NULL,
                                   &err, &status, &error));
      g_assert_false (g_spawn_check_wait_status (status, NULL));
      g_assert_nonnull (strstr (err, "lock"));
    }
  hv_block_free (first);

  /* Readers share with readers, and keep writers out. */
  first = open_image (f, O_RDONLY, &read_only, &error);
  g_assert_no_error (error);
  second = open_image (f, O_RDONLY, &read_only, &error);
  g_assert_no_error (error);
  g_assert_null (open_image (f, O_RDWR, &writable, &error));
  g_assert_error (error, HV_ERROR, HV_ERROR_PERMISSION);
  g_clear_error (&error);
  hv_block_free (second);
  hv_block_free (first);

  /* Once they are gone the image is free again, for us and for QEMU. */
  first = open_image (f, O_RDWR, &writable, &error);
  g_assert_no_error (error);
  hv_block_free (first);
  if (qemu_io)
    {
      const char *argv[] = { qemu_io, "-f", "raw", "-c", "write -P 0x42 0 512", f->path, NULL };
      int status;

      g_assert_true (g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_STDOUT_TO_DEV_NULL, NULL, NULL, NULL,
                                   NULL, &status, &error));
      g_assert_true (g_spawn_check_wait_status (status, NULL));
      assert_file_bytes (f, 0, 512, 0x42);
    }
}

static gboolean
file_allows_direct_io (const char *path)
{
  int fd = open (path, O_RDWR | O_DIRECT | O_CLOEXEC);

  if (fd < 0)
    return FALSE;
  close (fd);
  return TRUE;
}

/* Runs qemu-img or qemu-io (@argv NULL-terminated); the exit status, with stdout and stderr in *@out. */
static int
run_qemu_tool (const char *const *argv, char **out)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *err = NULL;
  int status;

  g_assert_true (
      g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, out, &err, &status, &error));
  g_assert_no_error (error);
  g_test_message ("%s: %s%s", argv[0], *out, err);
  return WIFEXITED (status) ? WEXITSTATUS (status) : -1;
}

/* Snapshots of an image not in use, through the helper that opens it: a raw image is refused, errors name
 * the file, create, apply and delete leave an image qemu-img checks clean. */
static void
test_snapshot_file (Fixture *f, gconstpointer data)
{
  g_autofree char *qemu_img = g_find_program_in_path ("qemu-img");
  g_autofree char *qcow = g_build_filename (f->dir, "snap.qcow2", NULL);
  g_autofree char *out = NULL;
  g_autoptr (GError) error = NULL;

  g_assert_false (hv_block_snapshot_file (f->path, HV_BLOCK_SNAPSHOT_CREATE, "x", &error));
  g_assert_error (error, HV_ERROR, HV_ERROR_INVALID_ARGUMENT);
  g_assert_nonnull (strstr (error->message, "checkpoints need qcow2"));
  g_assert_nonnull (strstr (error->message, f->path));
  g_clear_error (&error);
  if (qemu_img == NULL)
    {
      g_test_skip ("qemu-img is not installed (Debian: qemu-utils)");
      return;
    }
  {
    const char *argv[] = { "qemu-img", "create", "-q", "-f", "qcow2", qcow, "1M", NULL };

    g_assert_cmpint (run_qemu_tool (argv, &out), ==, 0);
    g_clear_pointer (&out, g_free);
  }
  g_assert_false (hv_block_snapshot_file (qcow, HV_BLOCK_SNAPSHOT_APPLY, "nope", &error));
  g_assert_error (error, HV_ERROR, HV_ERROR_NOT_FOUND);
  g_assert_nonnull (strstr (error->message, qcow));
  g_assert_nonnull (strstr (error->message, "nope"));
  g_clear_error (&error);
  g_assert_true (hv_block_snapshot_file (qcow, HV_BLOCK_SNAPSHOT_CREATE, "one", &error));
  g_assert_no_error (error);
  g_assert_true (hv_block_snapshot_file (qcow, HV_BLOCK_SNAPSHOT_CREATE, "two", &error));
  g_assert_no_error (error);
  g_assert_true (hv_block_snapshot_file (qcow, HV_BLOCK_SNAPSHOT_APPLY, "one", &error));
  g_assert_no_error (error);
  g_assert_true (hv_block_snapshot_file (qcow, HV_BLOCK_SNAPSHOT_DELETE, "one", &error));
  g_assert_no_error (error);
  {
    const char *check[] = { "qemu-img", "check", qcow, NULL };
    const char *list[] = { "qemu-img", "snapshot", "-l", qcow, NULL };

    g_assert_cmpint (run_qemu_tool (check, &out), ==, 0);
    g_clear_pointer (&out, g_free);
    g_assert_cmpint (run_qemu_tool (list, &out), ==, 0);
    g_assert_nonnull (strstr (out, "two"));
    g_assert_null (strstr (out, "one"));
  }
  g_unlink (qcow);
}

/* qcow2 in each cache mode ("none", "writeback", "default"; "none-4k": 4 KiB clusters): allocating
 * writes from buffers the guest did not align (copy-on-write around them), in-place rewrites at offsets
 * that are not sector-aligned, a flush.  What the driver reads back, what qemu-img check says (clean) and
 * what qemu-io reads all agree. */
static void
test_qcow2_cache (Fixture *f, gconstpointer data)
{
  static const struct
  {
    uint64_t offset;
    uint64_t len;
    uint8_t value;
  } writes[] = {
    { 0, 4096, 0xa1 },      { 1536, 1536, 0xa2 },      { 1048676, 70000, 0xa3 },
    { 1048676, 300, 0xa4 }, { 7340032, 131072, 0xa5 },
  };
  const char *mode = data;
  gboolean none = g_str_has_prefix (mode, "none");
  HvBlockOptions options = {
    .cache = none                              ? HV_BLOCK_CACHE_NONE
             : strcmp (mode, "writeback") == 0 ? HV_BLOCK_CACHE_WRITEBACK
                                               : HV_BLOCK_CACHE_DEFAULT,
  };
  g_autofree char *image = g_build_filename (f->dir, "disk.qcow2", NULL);
  g_autofree char *qemu_img = g_find_program_in_path ("qemu-img");
  g_autofree char *qemu_io = g_find_program_in_path ("qemu-io");
  g_autofree uint8_t *expected = g_malloc0 (8 * MIB);
  g_autofree uint8_t *raw = g_malloc (8 * MIB + 1);
  g_autoptr (GError) error = NULL;
  g_autofree char *out = NULL;
  gboolean direct_ok = file_allows_direct_io (f->path);
  int fd;

  if (qemu_img == NULL || qemu_io == NULL)
    {
      g_test_skip ("qemu-img and qemu-io are not installed (Debian: qemu-utils)");
      return;
    }
  if (none && !direct_ok)
    {
      g_test_skip ("the temporary folder's file system has no direct I/O");
      return;
    }
  {
    const char *argv[] = { "qemu-img",
                           "create",
                           "-q",
                           "-f",
                           "qcow2",
                           "-o",
                           strcmp (mode, "none-4k") == 0 ? "cluster_size=4096" : "cluster_size=65536",
                           image,
                           "8M",
                           NULL };
    g_assert_cmpint (run_qemu_tool (argv, &out), ==, 0);
    g_clear_pointer (&out, g_free);
  }
  fd = open (image, O_RDWR | O_CLOEXEC);
  g_assert_cmpint (fd, >=, 0);
  f->block = hv_block_open (fd, &options, NULL, NULL, &error);
  g_assert_no_error (error);
  g_assert_true (hv_block_attach (f->block, f->context, 8, &error));
  g_assert_cmpint (hv_block_get_format (f->block), ==, HV_BLOCK_FORMAT_QCOW2);
  /* Direct I/O where asked for, and by default where the file system has it. */
  g_assert_cmpint (f->block->direct, ==, none || (options.cache == HV_BLOCK_CACHE_DEFAULT && direct_ok));
  g_assert_cmpint ((fcntl (f->block->fd, F_GETFL) & O_DIRECT) != 0, ==, f->block->direct);

  for (unsigned i = 0; i < G_N_ELEMENTS (writes); i++)
    {
      memset (raw + 1, writes[i].value, writes[i].len);
      memset (expected + writes[i].offset, writes[i].value, writes[i].len);
      g_assert_cmpint (run_request (f, HV_BLOCK_WRITE, raw + 1, writes[i].len, writes[i].offset), ==, 0);
    }
  g_assert_cmpint (run_request (f, HV_BLOCK_FLUSH, NULL, 0, 0), ==, 0);
  memset (raw, 0x11, 8 * MIB + 1);
  g_assert_cmpint (run_request (f, HV_BLOCK_READ, raw + 1, 8 * MIB, 0), ==, 0);
  g_assert_cmpmem (raw + 1, 8 * MIB, expected, 8 * MIB);
  g_clear_pointer (&f->block, hv_block_free);

  {
    const char *check[] = { "qemu-img", "check", image, NULL };
    const char *read[] = { "qemu-io", "-r",
                           "-c",      "read -P 0xa1 0 1536",
                           "-c",      "read -P 0xa2 1536 1536",
                           "-c",      "read -P 0xa1 3072 1024",
                           "-c",      "read -P 0 4096 61440",
                           "-c",      "read -P 0xa4 1048676 300",
                           "-c",      "read -P 0xa3 1048976 69700",
                           "-c",      "read -P 0 1118676 1000",
                           "-c",      "read -P 0xa5 7340032 131072",
                           image,     NULL };

    if (run_qemu_tool (check, &out) != 0)
      g_error ("qemu-img check: %s", out);
    g_clear_pointer (&out, g_free);
    g_assert_cmpint (run_qemu_tool (read, &out), ==, 0);
    g_assert_null (strstr (out, "Pattern verification failed"));
    g_assert_null (strstr (out, "Error"));
  }
  g_unlink (image);
}

/* By default a file system without direct I/O (tmpfs before Linux 6.6) gets the page cache; cache=none
 * is refused. */
static void
test_cache_without_direct_io (Fixture *f, gconstpointer data)
{
  HvBlockOptions defaults = { .cache = HV_BLOCK_CACHE_DEFAULT };
  HvBlockOptions none = { .cache = HV_BLOCK_CACHE_NONE };
  g_autoptr (GError) error = NULL;
  g_autofree char *path = g_strdup ("/dev/shm/vireo-block-XXXXXX");
  struct statfs fs;
  HvBlock *block;
  int fd;

  if (statfs ("/dev/shm", &fs) < 0 || fs.f_type != TMPFS_MAGIC)
    {
      g_test_skip ("no tmpfs at /dev/shm");
      return;
    }
  fd = g_mkstemp (path);
  g_assert_cmpint (fd, >=, 0);
  g_assert_cmpint (ftruncate (fd, IMAGE_SIZE), ==, 0);
  if (file_allows_direct_io (path))
    {
      close (fd);
      g_unlink (path);
      g_test_skip ("this kernel's tmpfs has direct I/O (Linux 6.6 and later)");
      return;
    }
  block = hv_block_open (fd, &defaults, NULL, NULL, &error);
  g_assert_no_error (error);
  g_assert_false (block->direct);
  g_assert_cmpint (fcntl (block->fd, F_GETFL) & O_DIRECT, ==, 0);
  hv_block_free (block);

  block = hv_block_open (open (path, O_RDWR | O_CLOEXEC), &none, NULL, NULL, &error);
  g_assert_null (block);
  g_assert_error (error, HV_ERROR, HV_ERROR_INVALID_ARGUMENT);
  g_assert_nonnull (strstr (error->message, "direct I/O"));
  g_unlink (path);
}

/* And where it has direct I/O, a raw image gets it by default. */
static void
test_raw_cache_default (Fixture *f, gconstpointer data)
{
  HvBlockOptions defaults = { .cache = HV_BLOCK_CACHE_DEFAULT };
  uint8_t *buffer = NULL;

  if (!file_allows_direct_io (f->path))
    {
      g_test_skip ("the temporary folder's file system has no direct I/O");
      return;
    }
  open_attached (f, &defaults);
  g_assert_true (f->block->direct);
  g_assert_cmpint (posix_memalign ((void **) &buffer, 4096, 8192), ==, 0);
  memset (buffer, 0x6b, 8192);
  g_assert_cmpint (run_request (f, HV_BLOCK_WRITE, buffer, 8192, 65536), ==, 0);
  g_assert_cmpint (run_request (f, HV_BLOCK_FLUSH, NULL, 0, 0), ==, 0);
  free (buffer);
  g_assert_true (qemu_io_reads (f, 0x6b, 65536, 8192));
}

/* Write-through (a virtio-blk driver without FLUSH): a qcow2 write that completed is on the image,
 * tables and all, for another reader, with no flush from the guest; without it the new cluster's table
 * entry may still be in our cache. */
static void
test_qcow2_write_through (Fixture *f, gconstpointer data)
{
  HvBlockOptions options = { .cache = HV_BLOCK_CACHE_DEFAULT };
  g_autofree char *image = g_build_filename (f->dir, "wt.qcow2", NULL);
  g_autofree char *qemu_io = g_find_program_in_path ("qemu-io");
  g_autoptr (GError) error = NULL;
  g_autofree char *out = NULL;
  uint8_t buffer[4096];
  int fd;

  if (qemu_io == NULL)
    {
      g_test_skip ("qemu-img and qemu-io are not installed (Debian: qemu-utils)");
      return;
    }
  {
    const char *argv[] = { "qemu-img", "create", "-q", "-f", "qcow2", image, "8M", NULL };
    g_assert_cmpint (run_qemu_tool (argv, &out), ==, 0);
    g_clear_pointer (&out, g_free);
  }
  fd = open (image, O_RDWR | O_CLOEXEC);
  f->block = hv_block_open (fd, &options, NULL, NULL, &error);
  g_assert_no_error (error);
  g_assert_true (hv_block_attach (f->block, f->context, 8, &error));

  memset (buffer, 0x3e, sizeof buffer);
  g_assert_cmpint (run_request (f, HV_BLOCK_WRITE, buffer, sizeof buffer, 0), ==, 0);
  {
    /* The judge can say no: written back, the entry is still ours alone. */
    const char *argv[] = { "qemu-io", "-U", "-r", "-c", "read -P 0x3e 0 4096", image, NULL };
    run_qemu_tool (argv, &out);
    g_assert_nonnull (strstr (out, "Pattern verification failed"));
    g_clear_pointer (&out, g_free);
  }
  hv_block_set_write_through (f->block, TRUE);
  memset (buffer, 0x4f, sizeof buffer);
  g_assert_cmpint (run_request (f, HV_BLOCK_WRITE, buffer, sizeof buffer, 4 * MIB), ==, 0);
  g_assert_cmpint (run_request (f, HV_BLOCK_WRITE_ZEROES, NULL, 65536, 6 * MIB), ==, 0);
  {
    const char *argv[] = { "qemu-io", "-U", "-r", "-c", "read -P 0x4f 4M 4096", "-c", "read -P 0x3e 0 4096",
                           image,     NULL };
    g_assert_cmpint (run_qemu_tool (argv, &out), ==, 0);
    g_assert_null (strstr (out, "Pattern verification failed"));
  }
  g_clear_pointer (&f->block, hv_block_free);
  g_unlink (image);
}

/* Read-modify-writes in flight together: sixteen 512-byte writes into two 4 KiB blocks (as on a disk of
 * 4 KiB sectors), all submitted before any completes, plus a whole-block write overlapping them.  Each
 * reads its block first; without waiting for the others, all but the last would be lost. */
static void
test_direct_concurrent_rmw (Fixture *f, gconstpointer data)
{
  HvBlockOptions options = { .cache = HV_BLOCK_CACHE_NONE };
  g_autoptr (GError) error = NULL;
  uint8_t *sectors = NULL;
  uint8_t *whole = NULL;
  Wait waits[18] = { 0 };
  struct iovec iov[18];
  gint64 deadline = g_get_monotonic_time () + 10 * G_TIME_SPAN_SECOND;

  if (!file_allows_direct_io (f->path))
    {
      g_test_skip ("the temporary folder's file system has no direct I/O");
      return;
    }
  f->block = open_image (f, O_RDWR, &options, &error);
  g_assert_no_error (error);
  g_assert_true (hv_block_attach (f->block, f->context, 32, &error));
  f->block->alignment = 4096;
  g_assert_cmpint (posix_memalign ((void **) &sectors, 4096, 16 * 512), ==, 0);
  g_assert_cmpint (posix_memalign ((void **) &whole, 4096, 4096), ==, 0);
  memset (whole, 0x77, 4096);
  for (unsigned i = 0; i < 16; i++)
    {
      memset (sectors + i * 512, 0x10 + i, 512);
      iov[i] = (struct iovec){ sectors + i * 512, 512 };
    }
  /* Sectors 0-7 of block 2, then a whole write of block 3 and sectors 0-7 of block 3 after it. */
  for (unsigned i = 0; i < 8; i++)
    g_assert_true (hv_block_submit (f->block, HV_BLOCK_WRITE, &iov[i], 1, 8192 + i * 512, 512, on_done,
                                    &waits[i], &error));
  iov[16] = (struct iovec){ whole, 4096 };
  g_assert_true (
      hv_block_submit (f->block, HV_BLOCK_WRITE, &iov[16], 1, 12288, 4096, on_done, &waits[16], &error));
  for (unsigned i = 8; i < 16; i++)
    g_assert_true (hv_block_submit (f->block, HV_BLOCK_WRITE, &iov[i], 1, 12288 + (i - 8) * 512, 512, on_done,
                                    &waits[i], &error));
  g_assert_no_error (error);
  for (unsigned i = 0; i < 17; i++)
    while (!waits[i].done)
      {
        g_assert_cmpint (g_get_monotonic_time (), <, deadline);
        g_main_context_iteration (f->context, TRUE);
      }
  for (unsigned i = 0; i < 17; i++)
    g_assert_cmpint (waits[i].result, ==, 0);
  for (unsigned i = 0; i < 16; i++)
    assert_file_bytes (f, (i < 8 ? 8192 : 12288) + (i % 8) * 512, 512, 0x10 + i);
  free (sectors);
  free (whole);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add ("/block/raw/io/io_uring", Fixture, "io_uring", fixture_setup, test_io, fixture_teardown);
  g_test_add ("/block/raw/io/threads", Fixture, "threads", fixture_setup, test_io, fixture_teardown);
  g_test_add ("/block/raw/direct-unaligned", Fixture, NULL, fixture_setup, test_direct_unaligned,
              fixture_teardown);
  g_test_add ("/block/raw/refused", Fixture, NULL, fixture_setup, test_refused, fixture_teardown);
  g_test_add ("/block/raw/read-only", Fixture, NULL, fixture_setup, test_read_only, fixture_teardown);
  g_test_add ("/block/not-images", Fixture, NULL, fixture_setup, test_not_images, fixture_teardown);
  g_test_add ("/block/depth", Fixture, NULL, fixture_setup, test_depth, fixture_teardown);
  g_test_add ("/block/locks", Fixture, NULL, fixture_setup, test_locks, fixture_teardown);
  g_test_add ("/block/snapshot-file", Fixture, NULL, fixture_setup, test_snapshot_file, fixture_teardown);
  g_test_add ("/block/raw/cache/default", Fixture, NULL, fixture_setup, test_raw_cache_default,
              fixture_teardown);
  g_test_add ("/block/raw/direct-concurrent-rmw", Fixture, NULL, fixture_setup, test_direct_concurrent_rmw,
              fixture_teardown);
  g_test_add ("/block/cache/without-direct-io", Fixture, NULL, fixture_setup, test_cache_without_direct_io,
              fixture_teardown);
  g_test_add ("/block/qcow2/cache/none", Fixture, "none", fixture_setup, test_qcow2_cache, fixture_teardown);
  g_test_add ("/block/qcow2/cache/none-4k-clusters", Fixture, "none-4k", fixture_setup, test_qcow2_cache,
              fixture_teardown);
  g_test_add ("/block/qcow2/cache/writeback", Fixture, "writeback", fixture_setup, test_qcow2_cache,
              fixture_teardown);
  g_test_add ("/block/qcow2/cache/default", Fixture, "default", fixture_setup, test_qcow2_cache,
              fixture_teardown);
  g_test_add ("/block/qcow2/write-through", Fixture, NULL, fixture_setup, test_qcow2_write_through,
              fixture_teardown);
  return g_test_run ();
}
