/* test-qcow2-snapshot.c — the qcow2 driver's internal snapshots: made, applied and deleted by us on v2 and
 * v3 images of several cluster sizes, judged by qemu-img and qemu-io; QEMU's own snapshots applied; a tree
 * of them; compressed and zero clusters kept; and what is refused (a name taken or missing, a hostile
 * snapshot L1 table) leaves the image as it was. */
#include "test-qcow2.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

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

void
qcow2_add_snapshot_tests (void)
{
#define ADD QCOW2_ADD
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
}
