/* test-disk.c — virtio-blk disks under KVM: the disk guest through vireo-run on raw images (read-write
 * with both aio engines, read-only), with qemu-io judging the image afterwards; images vireo-run must
 * refuse before the guest starts (missing, a folder, locked by QEMU or by another vireo-run,
 * unwritable without readonly=on, damaged); and a machine with a disk saved and restored through the
 * core. */
#include "block/block.h"
#include "test-util.h"

#include <gio/gio.h>

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <linux/fs.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <unistd.h>

#define STATUS_SETUP_ERROR 1
#define STATUS_USAGE       2
#define IMAGE_SIZE         (1u << 20)

typedef struct
{
  char *dir;
  char *image;
} Fixture;

static void
setup (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  int fd;

  f->dir = g_dir_make_tmp ("vireo-disk-XXXXXX", &error);
  g_assert_no_error (error);
  f->image = g_build_filename (f->dir, "disk.img", NULL);
  fd = open (f->image, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  g_assert_cmpint (ftruncate (fd, IMAGE_SIZE), ==, 0);
  close (fd);
}

static void
teardown (Fixture *f, gconstpointer data)
{
  vireo_test_remove_tree (f->dir);
  g_free (f->image);
  g_free (f->dir);
}

/* qemu-io's verdict on @len bytes at @offset holding @value; TRUE without qemu-io. */
static gboolean
qemu_io_reads (const char *image, uint8_t value, uint64_t offset, size_t len)
{
  g_autofree char *qemu_io = g_find_program_in_path ("qemu-io");
  g_autofree char *command = NULL;
  g_autofree char *out = NULL;
  int status;

  if (qemu_io == NULL)
    return TRUE;
  command = g_strdup_printf ("read -P 0x%x %" G_GUINT64_FORMAT " %zu", value, offset, len);
  {
    const char *argv[] = { qemu_io, "-r", "-f", "raw", "-c", command, image, NULL };
    g_assert_true (g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_STDERR_TO_DEV_NULL, NULL, NULL, &out,
                                 NULL, &status, NULL));
  }
  return g_spawn_check_wait_status (status, NULL) && strstr (out, "Pattern verification failed") == NULL;
}

static gboolean
supports_direct_io (const char *path)
{
  int fd = open (path, O_RDWR | O_DIRECT | O_CLOEXEC);

  if (fd < 0)
    return FALSE;
  close (fd);
  return TRUE;
}

static void
test_read_write (Fixture *f, gconstpointer data)
{
  const char *aio = data;
  gboolean direct = g_strcmp0 (aio, "threads") == 0 && supports_direct_io (f->image);
  g_autofree char *kernel = vireo_test_guest_path ("disk");
  /* The threads variant also offers several queues, which a driver not asking for them ignores. */
  g_autofree char *disk = g_strdup_printf ("%s,format=raw,serial=vireo-disk-7%s%s", f->image,
                                           direct ? ",cache=none" : "",
                                           g_strcmp0 (aio, "threads") == 0 ? ",queues=4" : "");
  const char *args[] = { "--kernel", kernel, "--disk", disk, NULL };
  g_autofree char *qemu_io = g_find_program_in_path ("qemu-io");
  gboolean have_qemu_io = qemu_io != NULL;
  VireoTestRun r;

  if (!vireo_test_require_kvm ())
    return;
  r = vireo_test_run_vireo_run (aio, args);
  g_assert_cmpint (r.status, ==, 0);
  g_assert_nonnull (strstr (r.out, "disk: capacity 2048 sectors"));
  g_assert_nonnull (strstr (r.out, "disk: serial vireo-disk-7\n"));
  g_assert_nonnull (strstr (r.out, "disk: readback ok"));
  g_assert_nonnull (strstr (r.out, "disk: zeroes ok"));
  g_assert_nonnull (strstr (r.out, "disk: discarded range reads zeros")); /* a hole was punched */
  g_assert_nonnull (strstr (r.out, "disk: past the end refused"));
  g_assert_nonnull (strstr (r.out, "disk: done"));
  g_assert_null (strstr (r.out, "FAIL"));
  vireo_test_run_clear (&r);

  /* What the guest wrote is on the image, as QEMU reads it. */
  g_assert_true (qemu_io_reads (f->image, 0xa5, 0, 4096));
  g_assert_true (qemu_io_reads (f->image, 0, 4096, 8192));
  g_assert_true (qemu_io_reads (f->image, 0xc3, 12288, 4096));
  g_assert_true (qemu_io_reads (f->image, 0x77, IMAGE_SIZE - 512, 512));
  if (have_qemu_io)
    g_assert_false (qemu_io_reads (f->image, 0x77, 0, 512)); /* the judge can say no */
}

/* A qcow2 overlay on a raw base: the guest's writes land in the overlay, which qemu-img finds clean,
 * unwritten clusters read from the base, and the base is not touched. */
static void
test_qcow2_overlay (Fixture *f, gconstpointer data)
{
  g_autofree char *kernel = vireo_test_guest_path ("disk");
  g_autofree char *overlay = g_build_filename (f->dir, "overlay.qcow2", NULL);
  g_autofree char *base_bytes = g_malloc (IMAGE_SIZE);
  g_autofree char *after = NULL;
  g_autofree char *out = NULL;
  g_autofree char *qemu_img = g_find_program_in_path ("qemu-img");
  gsize after_len;
  VireoTestRun r;

  if (!vireo_test_require_kvm ())
    return;
  if (qemu_img == NULL)
    {
      g_test_skip ("needs qemu-img (Debian: qemu-utils) to make the overlay");
      return;
    }
  memset (base_bytes, 0x42, IMAGE_SIZE);
  g_assert_true (g_file_set_contents (f->image, base_bytes, IMAGE_SIZE, NULL));
  {
    /* The overlay names its base relatively, as images moved together do. */
    const char *argv[] = { "qemu-img", "create", "-q",  "-f",    "qcow2", "-b",
                           "disk.img", "-F",     "raw", overlay, NULL };
    g_assert_cmpint (vireo_test_run_judge (argv, NULL), ==, 0);
  }
  {
    const char *args[] = { "--kernel", kernel, "--disk", overlay, NULL };
    r = vireo_test_run_vireo_run (NULL, args);
  }
  g_assert_cmpint (r.status, ==, 0);
  g_assert_nonnull (strstr (r.out, "disk: readback ok"));
  g_assert_nonnull (strstr (r.out, "disk: done"));
  g_assert_null (strstr (r.out, "FAIL"));
  vireo_test_run_clear (&r);

  g_assert_true (g_file_get_contents (f->image, &after, &after_len, NULL));
  g_assert_cmpmem (after, after_len, base_bytes, IMAGE_SIZE);
  {
    const char *check[] = { "qemu-img", "check", "-q", overlay, NULL };
    const char *written[] = { "qemu-io", "-r", "-c", "read -P 0xa5 0 4k", overlay, NULL };
    const char *from_base[] = { "qemu-io", "-r", "-c", "read -P 0x42 512k 4k", overlay, NULL };
    g_assert_cmpint (vireo_test_run_judge (check, NULL), ==, 0);
    g_assert_cmpint (vireo_test_run_judge (written, &out), ==, 0);
    g_assert_null (strstr (out, "Pattern verification failed"));
    g_clear_pointer (&out, g_free);
    g_assert_cmpint (vireo_test_run_judge (from_base, &out), ==, 0);
    g_assert_null (strstr (out, "Pattern verification failed"));
  }

  /* Without its base, the overlay is refused before the guest starts, naming what is missing. */
  g_assert_no_errno (g_unlink (f->image));
  {
    const char *args[] = { "--kernel", kernel, "--disk", overlay, NULL };
    r = vireo_test_run_vireo_run (NULL, args);
  }
  g_assert_cmpint (r.status, ==, 1);
  vireo_test_assert_one_line_error (&r, overlay, "backing file");
  vireo_test_run_clear (&r);
}

static void
test_read_only (Fixture *f, gconstpointer data)
{
  g_autofree char *kernel = vireo_test_guest_path ("disk");
  g_autofree char *disk = g_strdup_printf ("%s,readonly=on", f->image);
  const char *args[] = { "--kernel", kernel, "--disk", disk, NULL };
  guint8 sector[512];
  VireoTestRun r;
  int fd;

  if (!vireo_test_require_kvm ())
    return;
  memset (sector, 0x5e, sizeof sector);
  fd = open (f->image, O_WRONLY | O_CLOEXEC);
  g_assert_cmpint (pwrite (fd, sector, sizeof sector, 0), ==, sizeof sector);
  close (fd);
  /* Nobody may write it: not even the owner through the file mode. */
  g_assert_no_errno (chmod (f->image, 0444));

  r = vireo_test_run_vireo_run (NULL, args);
  g_assert_cmpint (r.status, ==, 0);
  g_assert_nonnull (strstr (r.out, "disk: read-only write refused"));
  g_assert_nonnull (strstr (r.out, "disk: read-only first byte 0x5e"));
  g_assert_nonnull (strstr (r.out, "disk: done"));
  vireo_test_run_clear (&r);
  g_assert_true (qemu_io_reads (f->image, 0x5e, 0, 512));
}

/* Waits until the image is locked by someone else (a VM starting up). */
static gboolean
wait_locked (const char *image)
{
  for (unsigned i = 0; i < 200; i++)
    {
      g_autoptr (GError) error = NULL;
      HvBlockOptions options = { .cache = HV_BLOCK_CACHE_WRITEBACK };
      HvBlock *block = hv_block_open (open (image, O_RDWR | O_CLOEXEC), &options, NULL, NULL, &error);

      if (block == NULL && g_error_matches (error, HV_ERROR, HV_ERROR_PERMISSION))
        return TRUE;
      hv_block_free (block);
      g_usleep (50 * G_TIME_SPAN_MILLISECOND);
    }
  return FALSE;
}

static void
stop (GSubprocess *proc)
{
  g_subprocess_force_exit (proc);
  g_assert_true (g_subprocess_wait (proc, NULL, NULL));
}

static void
test_locked (Fixture *f, gconstpointer data)
{
  g_autofree char *kernel = vireo_test_guest_path ("disk");
  g_autofree char *looper = vireo_test_guest_path ("pio-loop");
  g_autofree char *qemu = g_find_program_in_path ("qemu-system-x86_64");
  const char *args[] = { "--kernel", kernel, "--disk", f->image, NULL };
  g_autoptr (GError) error = NULL;
  VireoTestRun r;

  if (!vireo_test_require_kvm ())
    return;

  /* Another vireo-run using it. */
  {
    const char *first[] = { vireo_test_vireo_run (), "--kernel", looper,   "--cmdline",
                            "count=100000000",       "--disk",   f->image, NULL };
    g_autoptr (GSubprocess) proc = g_subprocess_newv (
        first, G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_PIPE, &error);

    g_assert_no_error (error);
    g_assert_true (wait_locked (f->image));
    r = vireo_test_run_vireo_run (NULL, args);
    g_assert_cmpint (r.status, ==, STATUS_SETUP_ERROR);
    vireo_test_assert_one_line_error (&r, f->image, "another process is using it");
    vireo_test_run_clear (&r);
    stop (proc);
  }

  /* QEMU using it (its lock bytes: QEMU 7.2 on Debian 12). */
  if (qemu)
    {
      g_autofree char *drive = g_strdup_printf ("file=%s,format=raw,if=none,id=d0", f->image);
      const char *qemu_args[] = { qemu,      "-machine",    "pc,accel=tcg",
                                  "-S",      "-nodefaults", "-display",
                                  "none",    "-monitor",    "none",
                                  "-serial", "none",        "-drive",
                                  drive,     "-device",     "virtio-blk-pci,drive=d0",
                                  NULL };
      g_autoptr (GSubprocess) proc = g_subprocess_newv (
          qemu_args, G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_PIPE, &error);

      g_assert_no_error (error);
      g_assert_true (wait_locked (f->image));
      r = vireo_test_run_vireo_run (NULL, args);
      g_assert_cmpint (r.status, ==, STATUS_SETUP_ERROR);
      vireo_test_assert_one_line_error (&r, f->image, "another process is using it");
      vireo_test_run_clear (&r);
      stop (proc);
    }
  else
    g_test_message ("no qemu-system-x86_64: not checked against QEMU");

  /* Free again once they are gone. */
  r = vireo_test_run_vireo_run (NULL, args);
  g_assert_cmpint (r.status, ==, 0);
  vireo_test_run_clear (&r);
}

/* Makes @path unwritable even for root (the immutable flag); FALSE where that cannot be done. */
static gboolean
make_unwritable (const char *path, gboolean on)
{
  int fd, flags = 0;
  gboolean ok;

  if (geteuid () != 0)
    return chmod (path, on ? 0444 : 0644) == 0;
  fd = open (path, O_RDONLY | O_CLOEXEC);
  ok = fd >= 0 && ioctl (fd, FS_IOC_GETFLAGS, &flags) == 0;
  flags = on ? flags | FS_IMMUTABLE_FL : flags & ~FS_IMMUTABLE_FL;
  ok = ok && ioctl (fd, FS_IOC_SETFLAGS, &flags) == 0;
  if (fd >= 0)
    close (fd);
  return ok;
}

static void
test_refused (Fixture *f, gconstpointer data)
{
  g_autofree char *kernel = vireo_test_guest_path ("disk");
  g_autofree char *missing = g_build_filename (f->dir, "missing.img", NULL);
  g_autofree char *damaged = g_build_filename (f->dir, "damaged.qcow2", NULL);
  g_autofree char *scsi = g_strdup_printf ("%s,bus=scsi", f->image);
  g_autofree char *unknown = g_strdup_printf ("%s,speed=fast", f->image);
  guint8 header[4096] = { 'Q', 'F', 'I', 0xfb, 0, 0, 0, 3 };
  const struct
  {
    const char *disk;
    int status;
    const char *message;
  } cases[] = {
    { missing, STATUS_SETUP_ERROR, "no such file" }, { f->dir, STATUS_SETUP_ERROR, "folder" },
    { damaged, STATUS_SETUP_ERROR, "qcow2" },        { scsi, STATUS_USAGE, "bus=scsi" },
    { unknown, STATUS_USAGE, "speed=fast" },
  };

  if (!vireo_test_require_kvm ())
    return;
  g_assert_true (g_file_set_contents (damaged, (const char *) header, sizeof header, NULL));
  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      const char *args[] = { "--kernel", kernel, "--disk", cases[i].disk, NULL };
      VireoTestRun r = vireo_test_run_vireo_run (NULL, args);

      g_assert_cmpint (r.status, ==, cases[i].status);
      vireo_test_assert_one_line_error (&r, cases[i].status == STATUS_USAGE ? f->image : cases[i].disk,
                                        cases[i].message);
      g_assert_cmpstr (r.out, ==, "");
      vireo_test_run_clear (&r);
    }

  /* A file the user may not write needs readonly=on. */
  if (make_unwritable (f->image, TRUE))
    {
      const char *args[] = { "--kernel", kernel, "--disk", f->image, NULL };
      VireoTestRun r = vireo_test_run_vireo_run (NULL, args);

      make_unwritable (f->image, FALSE);
      g_assert_cmpint (r.status, ==, STATUS_SETUP_ERROR);
      vireo_test_assert_one_line_error (&r, f->image, "readonly=on");
      g_assert_cmpstr (r.out, ==, "");
      vireo_test_run_clear (&r);
    }
  else
    g_test_message ("cannot make a file unwritable here: not checked");
}

/* A machine with a disk saved and restored through the core: the disk's section travels with the
 * state, and a restore needs the disk. */
static void
test_save_restore (Fixture *f, gconstpointer data)
{
  g_autofree char *kernel = vireo_test_guest_path ("echo");
  g_autofree char *save = g_build_filename (f->dir, "saved", NULL);
  g_autoptr (GError) error = NULL;
  g_autoptr (HvMachineSpec) spec = hv_machine_spec_new ();
  g_autoptr (HvMachineSpec) bare = hv_machine_spec_new ();
  VireoTestGuest old = { 0 }, new = { 0 };
  HvDeviceSpec *disk;
  int dir_fd;

  if (!vireo_test_require_kvm ())
    return;
  spec->memory = bare->memory = 128ull << 20;
  spec->kernel = hv_machine_spec_add_fd (spec, open (kernel, O_RDONLY | O_CLOEXEC));
  bare->kernel = hv_machine_spec_add_fd (bare, open (kernel, O_RDONLY | O_CLOEXEC));
  disk = hv_machine_spec_add_device (spec, "virtio-blk", NULL, NULL);
  hv_device_spec_set_fd (spec, disk, "file", open (f->image, O_RDWR | O_CLOEXEC));
  g_assert_no_errno (g_mkdir (save, 0700));
  dir_fd = open (save, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

  vireo_test_guest_init (&old, 128ull << 20, 1);
  g_assert_true (hv_vm_apply_spec (old.vm, spec, &error));
  g_assert_no_error (error);
  hv_vm_set_serial (old.vm, old.input_pipe[0], old.output_fd);
  g_assert_true (hv_vm_start (old.vm, &error));
  g_assert_true (vireo_test_guest_wait_for_output (&old, "echo ready", 60));
  g_assert_true (hv_vm_pause (old.vm, &error));
  g_assert_true (hv_vm_save (old.vm, dir_fd, &error));
  g_assert_no_error (error);
  vireo_test_guest_clear (&old);

  /* Without the disk, the saved state does not fit the machine. */
  vireo_test_guest_init (&new, 128ull << 20, 1);
  g_assert_true (hv_vm_apply_spec (new.vm, bare, &error));
  if (hv_vm_set_restore (new.vm, dir_fd, &error))
    g_assert_false (hv_vm_start (new.vm, &error));
  g_assert_nonnull (error);
  g_assert_nonnull (strstr (error->message, "disk0"));
  g_test_message ("without the disk: %s", error->message);
  g_clear_error (&error);
  vireo_test_guest_clear (&new);

  vireo_test_restore_echo_guest (spec, dir_fd);
  close (dir_fd);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add ("/disk/read-write", Fixture, NULL, setup, test_read_write, teardown);
  g_test_add ("/disk/read-write-threads-direct", Fixture, "threads", setup, test_read_write, teardown);
  g_test_add ("/disk/read-only", Fixture, NULL, setup, test_read_only, teardown);
  g_test_add ("/disk/qcow2-overlay", Fixture, NULL, setup, test_qcow2_overlay, teardown);
  g_test_add ("/disk/locked", Fixture, NULL, setup, test_locked, teardown);
  g_test_add ("/disk/refused", Fixture, NULL, setup, test_refused, teardown);
  g_test_add ("/disk/save-restore", Fixture, NULL, setup, test_save_restore, teardown);
  return g_test_run ();
}
