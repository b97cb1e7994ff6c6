/* test-sparse-copy.c — the sparse writer of disk-write (service/tunnel/sparse-copy.c): what is read back
 * is what was written, zero blocks take no space, and a second write over an old file leaves none of it. */
#include "sparse-copy.h"

#include <fcntl.h>
#include <gio/gio.h>
#include <glib/gstdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MIB (1024 * 1024)

typedef struct
{
  char *dir;
  char *path;
  int fd;
} Fixture;

static void
fixture_setup (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;

  f->dir = g_dir_make_tmp ("vireo-sparse-XXXXXX", &error);
  g_assert_no_error (error);
  f->path = g_build_filename (f->dir, "image", NULL);
  f->fd = open (f->path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  g_assert_cmpint (f->fd, >=, 0);
}

static void
fixture_teardown (Fixture *f, gconstpointer data)
{
  close (f->fd);
  g_unlink (f->path);
  g_rmdir (f->dir);
  g_free (f->path);
  g_free (f->dir);
}

/* 8 MiB: a pattern in the first MiB, zeros, one byte at 5 MiB + 3, zeros to the end. */
static guint8 *
stream_new (gsize *len)
{
  guint8 *data = g_malloc0 (8 * MIB);

  for (gsize i = 0; i < MIB; i++)
    data[i] = (guint8) (i * 7 + 1);
  data[5 * MIB + 3] = 0x5a;
  *len = 8 * MIB;
  return data;
}

/* Writes @data in pieces of @piece bytes (not aligned to blocks), then the length. */
static void
write_stream (int fd, const guint8 *data, gsize len, gsize piece)
{
  g_autoptr (GError) error = NULL;

  for (gsize at = 0; at < len; at += piece)
    {
      g_assert_true (vireo_sparse_write (fd, at, data + at, MIN (piece, len - at), &error));
      g_assert_no_error (error);
    }
  g_assert_true (vireo_sparse_finish (fd, len, &error));
  g_assert_no_error (error);
}

static void
assert_file_holds (const char *path, const guint8 *data, gsize len)
{
  g_autofree char *contents = NULL;
  gsize read_len;

  g_assert_true (g_file_get_contents (path, &contents, &read_len, NULL));
  g_assert_cmpuint (read_len, ==, len);
  g_assert_true (memcmp (contents, data, len) == 0);
}

/* Allocated bytes: the first MiB and one block around the lone byte, not the 6+ MiB of zeros. */
static void
assert_sparse (int fd)
{
  struct stat st;

  g_assert_no_errno (fstat (fd, &st));
  g_test_message ("%lld bytes allocated of %lld", (long long) st.st_blocks * 512, (long long) st.st_size);
  g_assert_cmpint (st.st_blocks * 512, <=, 2 * MIB);
}

static void
test_sparse_write (Fixture *f, gconstpointer data)
{
  gsize len;
  g_autofree guint8 *stream = stream_new (&len);

  write_stream (f->fd, stream, len, 100 * 1000 + 17);
  assert_file_holds (f->path, stream, len);
  assert_sparse (f->fd);
}

/* A stream that ends in zeros gets its length from vireo_sparse_finish, not from a written byte. */
static void
test_sparse_trailing_hole (Fixture *f, gconstpointer data)
{
  g_autofree guint8 *zeros = g_malloc0 (3 * MIB);
  struct stat st;

  write_stream (f->fd, zeros, 3 * MIB, MIB);
  g_assert_no_errno (fstat (f->fd, &st));
  g_assert_cmpint (st.st_size, ==, 3 * MIB);
  g_assert_cmpint (st.st_blocks, ==, 0);
}

/* A retry over a file holding other bytes (and longer): the result is the new stream only. */
static void
test_sparse_rewrite (Fixture *f, gconstpointer data)
{
  gsize len;
  g_autofree guint8 *stream = stream_new (&len);
  g_autofree guint8 *old = g_malloc (len + MIB);

  memset (old, 0xee, len + MIB);
  write_stream (f->fd, old, len + MIB, MIB);
  write_stream (f->fd, stream, len, 64 * 1024);
  assert_file_holds (f->path, stream, len);
  assert_sparse (f->fd);
}

static void
test_sparse_write_error (void)
{
  g_autoptr (GError) error = NULL;
  int fd = open ("/dev/null", O_RDONLY | O_CLOEXEC);
  guint8 byte = 1;

  g_assert_false (vireo_sparse_write (fd, 0, &byte, 1, &error));
  g_assert_nonnull (error);
  g_test_message ("%s", error->message);
  g_assert_nonnull (strstr (error->message, "byte 0"));
  close (fd);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add ("/sparse-copy/write", Fixture, NULL, fixture_setup, test_sparse_write, fixture_teardown);
  g_test_add ("/sparse-copy/trailing-hole", Fixture, NULL, fixture_setup, test_sparse_trailing_hole,
              fixture_teardown);
  g_test_add ("/sparse-copy/rewrite", Fixture, NULL, fixture_setup, test_sparse_rewrite, fixture_teardown);
  g_test_add_func ("/sparse-copy/write-error", test_sparse_write_error);
  return g_test_run ();
}
