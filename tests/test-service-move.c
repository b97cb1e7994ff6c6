/* test-service-move.c — the service's side of moving a machine to another host: the source's disks hashed
 * (ChecksumDisk) and handed out (OpenDiskImage), the destination's received (ReceiveDisk, OpenReceivedDisk,
 * FinishReceivedDisk) into images whose bytes, hashes and qemu-img's judgement match, sparse; and every
 * refusal the app relies on. */
#include "service-fixture.h"
#include "sparse-copy.h"
#include "test-util.h"

#include <errno.h>
#include <fcntl.h>
#include <gio/gunixfdlist.h>
#include <glib/gstdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MIB           (1024 * 1024)
#define RAW_BYTES     (64 * MIB)
#define QCOW2_VIRTUAL "64M"

/* A raw image of RAW_BYTES, zeros but for a pattern in its first MiB and 64 KiB at 40 MiB. */
static char *
write_sparse_raw (const char *dir, const char *name)
{
  char *path = g_build_filename (dir, name, NULL);
  g_autofree guint8 *bytes = g_malloc (MIB);
  int fd = open (path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

  g_assert_cmpint (fd, >=, 0);
  for (gsize i = 0; i < MIB; i++)
    bytes[i] = (guint8) (i % 251 + 1);
  g_assert_cmpint (pwrite (fd, bytes, MIB, 0), ==, MIB);
  g_assert_cmpint (pwrite (fd, bytes, 64 * 1024, 40 * MIB), ==, 64 * 1024);
  g_assert_no_errno (ftruncate (fd, RAW_BYTES));
  close (fd);
  return path;
}

/* A qcow2 image with two patterns written by qemu-io and an internal snapshot "before". */
static char *
write_qcow2 (const char *dir, const char *name)
{
  char *path = g_build_filename (dir, name, NULL);

  run_ok ((const char *[]){ "qemu-img", "create", "-q", "-f", "qcow2", path, QCOW2_VIRTUAL, NULL });
  run_ok ((const char *[]){ "qemu-io", "-f", "qcow2", "-c", "write -P 0xab 0 1M", path, NULL });
  run_ok ((const char *[]){ "qemu-img", "snapshot", "-c", "before", path, NULL });
  run_ok ((const char *[]){ "qemu-io", "-f", "qcow2", "-c", "write -P 0xcd 32M 64k", path, NULL });
  return path;
}

static char *
file_sha256 (const char *path, gsize *size)
{
  g_autofree char *contents = NULL;

  g_assert_true (g_file_get_contents (path, &contents, size, NULL));
  return g_compute_checksum_for_data (G_CHECKSUM_SHA256, (const guchar *) contents, *size);
}

/* The DiskProgress reports of one call: the operation's name and the fractions in order. */
typedef struct
{
  const char *operation;
  GArray *fractions;
} Progress;

static void
on_disk_progress (VireoDBusMachine *machine, const char *operation, const char *target, double fraction,
                  gpointer data)
{
  Progress *progress = data;

  g_assert_cmpstr (operation, ==, progress->operation);
  g_array_append_val (progress->fractions, fraction);
}

/* Calls @method (which replies (ts)) on @machine and checks its DiskProgress(@operation): 0.0 first, 1.0
 * last, never backwards. */
static void
call_for_hash (VireoDBusMachine *machine, const char *method, GVariant *parameters, const char *operation,
               guint64 *size, char **sha256)
{
  Progress progress = { operation, g_array_new (FALSE, FALSE, sizeof (double)) };
  gulong handler = g_signal_connect (machine, "disk-progress", G_CALLBACK (on_disk_progress), &progress);
  g_autoptr (GError) error = NULL;
  g_autoptr (GVariant) reply = call_full (machine, method, parameters, NULL, &error);

  g_assert_no_error (error);
  g_variant_get (reply, "(ts)", size, sha256);
  for (guint i = 0; i < 100
                    && (progress.fractions->len == 0
                        || g_array_index (progress.fractions, double, progress.fractions->len - 1) < 1.0);
       i++)
    g_main_context_iteration (NULL, FALSE);
  g_signal_handler_disconnect (machine, handler);
  g_test_message ("%s: %u progress reports", method, progress.fractions->len);
  g_assert_cmpuint (progress.fractions->len, >=, 2);
  g_assert_cmpfloat (g_array_index (progress.fractions, double, 0), ==, 0.0);
  g_assert_cmpfloat (g_array_index (progress.fractions, double, progress.fractions->len - 1), ==, 1.0);
  for (guint i = 1; i < progress.fractions->len; i++)
    g_assert_cmpfloat (g_array_index (progress.fractions, double, i), >=,
                       g_array_index (progress.fractions, double, i - 1));
  g_array_unref (progress.fractions);
}

/* The fd a method taking a target returns. */
static int
call_for_fd (VireoDBusMachine *machine, const char *method, const char *target)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GUnixFDList) fds = NULL;
  g_autoptr (GVariant) reply = call_full (machine, method, g_variant_new ("(s)", target), &fds, &error);
  int fd;

  g_assert_no_error (error);
  g_assert_nonnull (fds);
  fd = g_unix_fd_list_get (fds, 0, &error);
  g_assert_no_error (error);
  return fd;
}

/* All of @fd's bytes from its start. */
static GByteArray *
read_fd (int fd)
{
  GByteArray *bytes = g_byte_array_new ();
  guint8 buffer[65536];
  ssize_t n;

  while ((n = read (fd, buffer, sizeof buffer)) > 0)
    g_byte_array_append (bytes, buffer, (guint) n);
  g_assert_cmpint (n, ==, 0);
  return bytes;
}

/* The source's image of @target handed out by OpenDiskImage and written by the app (here: this test,
 * with the sparse writer the app uses) into the destination's OpenReceivedDisk for @received. */
static void
copy_disk (VireoDBusMachine *source, const char *target, VireoDBusMachine *dest, const char *received)
{
  int in = call_for_fd (source, "OpenDiskImage", target);
  int out = call_for_fd (dest, "OpenReceivedDisk", received);
  g_autoptr (GByteArray) bytes = read_fd (in);
  g_autoptr (GError) error = NULL;

  g_assert_cmpint (fcntl (in, F_GETFL) & O_ACCMODE, ==, O_RDONLY);
  g_assert_cmpint (fcntl (out, F_GETFL) & (O_ACCMODE | O_APPEND), ==, O_WRONLY);
  for (gsize at = 0; at < bytes->len; at += MIB)
    g_assert_true (
        vireo_sparse_write (out, at, bytes->data + at, MIN ((gsize) MIB, bytes->len - at), &error));
  g_assert_true (vireo_sparse_finish (out, bytes->len, &error));
  g_assert_no_error (error);
  close (in);
  close (out);
}

static char *
snapshot_list (const char *image)
{
  const char *argv[] = { "qemu-img", "snapshot", "-l", image, NULL };
  char *out = NULL;

  g_assert_cmpint (vireo_test_run_judge (argv, &out), ==, 0);
  return out;
}

/* A raw and a qcow2 disk (with a snapshot) go from one machine to another: hashes agree with the files',
 * the bytes handed out are the file's, the received images are the same bytes, sparse, qemu-img finds the
 * qcow2 clean and its snapshots gone when asked. */
static void
test_move_disks (Fixture *f)
{
  g_autofree char *qemu_img = g_find_program_in_path ("qemu-io");
  g_autofree char *dir = g_build_filename (f->base, "user-files", NULL);
  g_autofree char *raw = NULL;
  g_autofree char *qcow2 = NULL;
  g_autofree char *raw_sha = NULL, *qcow2_sha = NULL, *sha = NULL;
  g_autofree char *folder = NULL, *received_raw = NULL, *received_qcow2 = NULL;
  g_autofree char *target = NULL, *snapshots = NULL;
  g_autoptr (VireoDBusMachine) source = NULL;
  g_autoptr (VireoDBusMachine) dest = NULL;
  gsize raw_size, qcow2_size;
  guint64 size;
  struct stat st;

  if (qemu_img == NULL)
    {
      g_test_skip ("needs qemu-img and qemu-io (Debian: qemu-utils)");
      return;
    }
  g_assert_no_errno (g_mkdir_with_parents (dir, 0700));
  raw = write_sparse_raw (dir, "data.img");
  qcow2 = write_qcow2 (dir, "system.qcow2");
  raw_sha = file_sha256 (raw, &raw_size);
  qcow2_sha = file_sha256 (qcow2, &qcow2_size);
  g_assert_nonnull (strstr (snapshot_list (qcow2), "before"));

  source = create_guest (f, "leaving", "echo");
  g_free (call_for_target (source, "AttachDisk",
                           g_variant_new_parsed ("({'path': <%s>, 'format': <'raw'>},)", raw)));
  g_free (call_for_target (source, "AttachDisk", g_variant_new_parsed ("({'path': <%s>},)", qcow2)));

  /* The source: the files as they are, hashed with progress, and handed out whole. */
  call_for_hash (source, "ChecksumDisk", g_variant_new ("(s)", "vda"), "checksum", &size, &sha);
  g_assert_cmpuint (size, ==, raw_size);
  g_assert_cmpstr (sha, ==, raw_sha);
  g_clear_pointer (&sha, g_free);
  call_for_hash (source, "ChecksumDisk", g_variant_new ("(s)", "vdb"), "checksum", &size, &sha);
  g_assert_cmpuint (size, ==, qcow2_size);
  g_assert_cmpstr (sha, ==, qcow2_sha);
  g_clear_pointer (&sha, g_free);
  {
    int fd = call_for_fd (source, "OpenDiskImage", "vdb");
    g_autoptr (GByteArray) bytes = read_fd (fd);
    g_autofree char *handed = g_compute_checksum_for_data (G_CHECKSUM_SHA256, bytes->data, bytes->len);

    g_assert_cmpuint (bytes->len, ==, qcow2_size);
    g_assert_cmpstr (handed, ==, qcow2_sha);
    close (fd);
  }

  /* The destination: a raw disk received whole, sparse. */
  dest = create_guest (f, "arriving", "echo");
  folder = machine_folder (f, dest);
  target = call_for_target (
      dest, "ReceiveDisk",
      g_variant_new_parsed ("({'format': <'raw'>}, {'size': <%t>})", (guint64) raw_size));
  g_assert_cmpstr (target, ==, "vda");
  received_raw = g_build_filename (folder, "vda.img", NULL);
  g_assert_no_errno (stat (received_raw, &st));
  g_assert_cmpint (st.st_size, ==, 0);
  g_assert_cmpint (st.st_mode & 0777, ==, 0600);
  /* Not startable nor readable while it arrives. */
  call_expect_error (dest, "Start", NULL, ERROR_NAME ("InvalidState"), "disk vda is still being received");
  call_expect_error (dest, "ChecksumDisk", g_variant_new ("(s)", "vda"), ERROR_NAME ("InvalidState"),
                     "still being received");
  call_expect_error (dest, "OpenDiskImage", g_variant_new ("(s)", "vda"), ERROR_NAME ("InvalidState"),
                     "still being received");
  copy_disk (source, "vda", dest, "vda");
  /* A retry writes the same bytes again. */
  copy_disk (source, "vda", dest, "vda");
  call_for_hash (dest, "FinishReceivedDisk", g_variant_new_parsed ("(%s, @a{sv} {})", "vda"), "verify", &size,
                 &sha);
  g_assert_cmpuint (size, ==, raw_size);
  g_assert_cmpstr (sha, ==, raw_sha);
  g_clear_pointer (&sha, g_free);
  g_assert_no_errno (stat (received_raw, &st));
  g_test_message ("received raw: %lld bytes allocated of %lld", (long long) st.st_blocks * 512,
                  (long long) st.st_size);
  g_assert_cmpint (st.st_blocks * 512, <=, 4 * MIB);
  call_expect_error (dest, "OpenReceivedDisk", g_variant_new ("(s)", "vda"), ERROR_NAME ("InvalidState"),
                     "not being received");
  call_expect_error (dest, "FinishReceivedDisk", g_variant_new_parsed ("(%s, @a{sv} {})", "vda"),
                     ERROR_NAME ("InvalidState"), "not being received");

  /* A qcow2 disk, named, its snapshots dropped after hashing. */
  g_clear_pointer (&target, g_free);
  target = call_for_target (
      dest, "ReceiveDisk",
      g_variant_new_parsed ("({'format': <'qcow2'>, 'target': <'vdb'>, 'cache': <'none'>}, "
                            "{'name': <'system.qcow2'>})"));
  g_assert_cmpstr (target, ==, "vdb");
  received_qcow2 = g_build_filename (folder, "system.qcow2", NULL);
  copy_disk (source, "vdb", dest, "vdb");
  call_for_hash (dest, "FinishReceivedDisk", g_variant_new_parsed ("(%s, {'drop-snapshots': <true>})", "vdb"),
                 "verify", &size, &sha);
  g_assert_cmpuint (size, ==, qcow2_size);
  g_assert_cmpstr (sha, ==, qcow2_sha);
  g_clear_pointer (&sha, g_free);
  run_ok ((const char *[]){ "qemu-img", "check", "-q", received_qcow2, NULL });
  snapshots = snapshot_list (received_qcow2);
  g_test_message ("snapshots left: “%s”", snapshots);
  g_assert_cmpstr (snapshots, ==, "");
  /* The definition names both, as ordinary disks. */
  {
    g_autofree char *xml = read_definition (f, dest);
    g_assert_nonnull (strstr (xml, "vda.img"));
    g_assert_nonnull (strstr (xml, "system.qcow2"));
  }
  /* Its source is untouched: still the snapshot. */
  g_assert_nonnull (strstr (snapshot_list (qcow2), "before"));
}

/* What the methods refuse: wrong targets, kinds, formats, names and sizes, and a qcow2 that is not one,
 * which stays received; the half-made machine can be deleted. */
static void
test_move_errors (Fixture *f)
{
  g_autofree char *qemu_img = g_find_program_in_path ("qemu-io");
  g_autofree char *dir = g_build_filename (f->base, "user-files", NULL);
  g_autofree char *raw = NULL, *qcow2 = NULL, *overlay = NULL;
  g_autofree char *folder = NULL, *target = NULL;
  g_autoptr (VireoDBusMachine) source = NULL;
  g_autoptr (VireoDBusMachine) dest = NULL;

  if (qemu_img == NULL)
    {
      g_test_skip ("needs qemu-img and qemu-io (Debian: qemu-utils)");
      return;
    }
  g_assert_no_errno (g_mkdir_with_parents (dir, 0700));
  raw = write_sparse_raw (dir, "data.img");
  qcow2 = write_qcow2 (dir, "base.qcow2");
  overlay = g_build_filename (dir, "overlay.qcow2", NULL);
  run_ok ((const char *[]){ "qemu-img", "create", "-q", "-f", "qcow2", "-F", "qcow2", "-b", qcow2, overlay,
                            NULL });

  source = create_guest (f, "sender", "echo");
  g_free (call_for_target (source, "AttachDisk",
                           g_variant_new_parsed ("({'path': <%s>, 'format': <'raw'>},)", raw)));
  g_free (call_for_target (source, "AttachDisk", g_variant_new_parsed ("({'path': <%s>},)", overlay)));
  g_free (call_for_target (source, "AttachDisk", g_variant_new_parsed ("({'device': <'cdrom'>},)")));

  /* The source's refusals. */
  call_expect_error (source, "ChecksumDisk", g_variant_new ("(s)", "vdz"), ERROR_NAME ("NotFound"), "vdz");
  call_expect_error (source, "OpenDiskImage", g_variant_new ("(s)", "vdz"), ERROR_NAME ("NotFound"), "vdz");
  call_expect_error (source, "ChecksumDisk", g_variant_new ("(s)", "sda"), ERROR_NAME ("InvalidArgument"),
                     "CD-ROM");
  call_expect_error (source, "OpenDiskImage", g_variant_new ("(s)", "sda"), ERROR_NAME ("InvalidArgument"),
                     "CD-ROM");
  call_expect_error (source, "OpenDiskImage", g_variant_new ("(s)", "vdb"), ERROR_NAME ("NotSupported"),
                     qcow2);
  call_expect_error (source, "OpenDiskImage", g_variant_new ("(s)", "vdb"), ERROR_NAME ("NotSupported"),
                     "differencing disk cannot be moved yet");

  /* The destination's. */
  dest = create_guest (f, "receiver", "echo");
  folder = machine_folder (f, dest);
  call_expect_error (dest, "ReceiveDisk", g_variant_new_parsed ("({'readonly': <false>}, @a{sv} {})"),
                     ERROR_NAME ("InvalidArgument"), "format");
  call_expect_error (dest, "ReceiveDisk", g_variant_new_parsed ("({'format': <'vmdk'>}, @a{sv} {})"),
                     ERROR_NAME ("InvalidArgument"), "format");
  call_expect_error (dest, "ReceiveDisk",
                     g_variant_new_parsed ("({'format': <'raw'>, 'path': <%s>}, @a{sv} {})", raw),
                     ERROR_NAME ("InvalidArgument"), "path");
  call_expect_error (dest, "ReceiveDisk",
                     g_variant_new_parsed ("({'format': <'raw'>, 'device': <'cdrom'>}, @a{sv} {})"),
                     ERROR_NAME ("InvalidArgument"), "device");
  call_expect_error (dest, "ReceiveDisk", g_variant_new_parsed ("({'format': <'raw'>}, {'name': <'../x'>})"),
                     ERROR_NAME ("InvalidArgument"), "name");
  call_expect_error (dest, "ReceiveDisk", g_variant_new_parsed ("({'format': <'raw'>}, {'speed': <1>})"),
                     ERROR_NAME ("InvalidArgument"), "speed");
  call_expect_error (dest, "ReceiveDisk",
                     g_variant_new_parsed ("({'format': <'raw'>}, {'size': <uint64 %t>})", (guint64) 1 << 62),
                     ERROR_NAME ("Failed"), "not enough free space");
  {
    g_autofree char *listing = folder_listing (folder);
    g_assert_cmpstr (listing, ==, "");
  }
  call_expect_error (dest, "OpenReceivedDisk", g_variant_new ("(s)", "vdz"), ERROR_NAME ("NotFound"), "vdz");
  call_expect_error (dest, "FinishReceivedDisk", g_variant_new_parsed ("(%s, @a{sv} {})", "vdz"),
                     ERROR_NAME ("NotFound"), "vdz");

  /* A qcow2 that arrives as something else is refused and stays received: the app may write it again. */
  target = call_for_target (dest, "ReceiveDisk", g_variant_new_parsed ("({'format': <'qcow2'>}, @a{sv} {})"));
  g_assert_cmpstr (target, ==, "vda");
  call_expect_error (dest, "ReceiveDisk",
                     g_variant_new_parsed ("({'format': <'qcow2'>, 'target': <'vda'>}, @a{sv} {})"),
                     ERROR_NAME ("Exists"), "vda");
  call_expect_error (dest, "ReceiveDisk",
                     g_variant_new_parsed ("({'format': <'raw'>}, {'name': <'vda.qcow2'>})"),
                     ERROR_NAME ("Exists"), "vda.qcow2");
  call_expect_error (dest, "FinishReceivedDisk",
                     g_variant_new_parsed ("(%s, {'drop-snapshots': <1>})", "vda"),
                     ERROR_NAME ("InvalidArgument"), "drop-snapshots");
  copy_disk (source, "vda", dest, "vda");
  call_expect_error (dest, "FinishReceivedDisk", g_variant_new_parsed ("(%s, @a{sv} {})", "vda"),
                     ERROR_NAME ("Failed"), "disk “vda”");
  call_expect_error (dest, "Start", NULL, ERROR_NAME ("InvalidState"), "still being received");
  call_expect_error (dest, "CreateCheckpoint", g_variant_new_parsed ("(%s, @a{sv} {})", ""),
                     ERROR_NAME ("InvalidState"), "still being received");
  close (call_for_fd (dest, "OpenReceivedDisk", "vda"));

  /* A failed move deletes the half-made machine. */
  delete_machine (f, dest, TRUE);
}

/* The source must be off: a running machine's disks change under the reader. */
static void
test_move_running (Fixture *f)
{
  g_autoptr (VireoDBusMachine) source = create_guest (f, "busy", "echo");
  g_autofree char *dir = g_build_filename (f->base, "user-files", NULL);
  g_autofree char *raw = NULL;
  g_autoptr (GString) seen = g_string_new (NULL);
  int serial;

  g_assert_no_errno (g_mkdir_with_parents (dir, 0700));
  raw = write_sparse_raw (dir, "data.img");
  g_free (call_for_target (source, "AttachDisk",
                           g_variant_new_parsed ("({'path': <%s>, 'format': <'raw'>},)", raw)));
  serial = start_and_wait_for (source, "echo ready", seen);
  call_expect_error (source, "ChecksumDisk", g_variant_new ("(s)", "vda"), ERROR_NAME ("InvalidState"),
                     "busy");
  call_expect_error (source, "OpenDiskImage", g_variant_new ("(s)", "vda"), ERROR_NAME ("InvalidState"),
                     "busy");
  call_expect_error (source, "ReceiveDisk", g_variant_new_parsed ("({'format': <'raw'>}, @a{sv} {})"),
                     ERROR_NAME ("InvalidState"), "busy");
  call_ok (source, "TurnOff", NULL);
  wait_for_state (source, "off");
  close (serial);
}

static const ServiceTest move_tests[] = {
  { "/move/disks", test_move_disks, FALSE },
  { "/move/disks-system", test_move_disks, FALSE, TRUE },
  { "/move/errors", test_move_errors, FALSE },
  { "/move/running", test_move_running, TRUE },
};

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  for (guint i = 0; i < G_N_ELEMENTS (move_tests); i++)
    g_test_add_data_func (move_tests[i].path, &move_tests[i], run_service_test);
  return g_test_run ();
}
