/* test-sata.c — SATA disks and CD-ROMs on the AHCI controller under KVM: the sata guest through
 * vireo-run on a qcow2 disk and an ISO made with xorriso, with qemu-img check and qemu-io judging the
 * disk afterwards; the disc taken out and another put in while the guest runs (hv_vm_change_medium),
 * seen by the guest as media events and UNIT ATTENTION; images vireo-run refuses before the guest
 * starts (missing, a folder, damaged, locked by another process); and a machine with SATA drives saved
 * and restored through the core. */
#include "test-util.h"

#include <gio/gio.h>

#include <fcntl.h>
#include <glib/gstdio.h>
#include <string.h>
#include <unistd.h>

#define STATUS_SETUP_ERROR 1

typedef struct
{
  char *dir;
  char *disk; /* qcow2, 1 MiB */
  char *iso;  /* volume FIRSTDISC */
  char *iso2; /* volume SECONDDISC */
} Fixture;

static void
setup (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;

  f->dir = g_dir_make_tmp ("vireo-sata-XXXXXX", &error);
  g_assert_no_error (error);
  f->disk = g_build_filename (f->dir, "disk.qcow2", NULL);
  f->iso = g_build_filename (f->dir, "first.iso", NULL);
  f->iso2 = g_build_filename (f->dir, "second.iso", NULL);
}

static void
teardown (Fixture *f, gconstpointer data)
{
  vireo_test_remove_tree (f->dir);
  g_free (f->disk);
  g_free (f->iso);
  g_free (f->iso2);
  g_free (f->dir);
}

/* The judges and the ISO maker, or a skipped test saying which is missing. */
static gboolean
require_tools (Fixture *f, gboolean second_disc)
{
  const char *create[] = { "qemu-img", "create", "-q", "-f", "qcow2", f->disk, "1M", NULL };

  if (!vireo_test_require_kvm ())
    return FALSE;
  if (!vireo_test_require_programs ((const char *const[]){ "xorriso", "qemu-img", "qemu-io", NULL }))
    return FALSE;
  g_assert_cmpint (vireo_test_run_judge (create, NULL), ==, 0);
  g_assert_true (vireo_test_make_iso (f->dir, f->iso, "FIRSTDISC"));
  if (second_disc)
    g_assert_true (vireo_test_make_iso (f->dir, f->iso2, "SECONDDISC"));
  return TRUE;
}

/* qemu-io's verdict on @len bytes at @offset of the qcow2 @image holding @value. */
static gboolean
qemu_io_reads (const char *image, uint8_t value, uint64_t offset, size_t len)
{
  g_autofree char *command = g_strdup_printf ("read -P 0x%x %" G_GUINT64_FORMAT " %zu", value, offset, len);
  g_autofree char *out = NULL;
  const char *argv[] = { "qemu-io", "-r", "-f", "qcow2", "-c", command, image, NULL };

  return vireo_test_run_judge (argv, &out) == 0 && strstr (out, "Pattern verification failed") == NULL;
}

static void
test_disk_and_cdrom (Fixture *f, gconstpointer data)
{
  g_autofree char *kernel = vireo_test_guest_path ("sata");
  g_autofree char *disk = NULL;
  const char *check[] = { "qemu-img", "check", "-q", f->disk, NULL };
  VireoTestRun r;

  if (!require_tools (f, FALSE))
    return;
  disk = g_strdup_printf ("%s,bus=sata,format=qcow2", f->disk);
  {
    const char *args[] = { "--kernel", kernel, "--disk", disk, "--cdrom", f->iso, "--cdrom", "", NULL };
    r = vireo_test_run_vireo_run (NULL, args);
  }
  g_assert_cmpint (r.status, ==, 0);
  for (const char *const *line = (const char *const[]){ "sata: port 0 disk 2048 sectors\n",
                                                        "sata: readback ok\n", "sata: ncq ok\n",
                                                        "sata: past the end refused\n",
                                                        "sata: port 1 cdrom\n", "sata: cd volume FIRSTDISC\n",
                                                        "sata: cd past the end refused\n",
                                                        "sata: port 2 cdrom\nsata: cd empty\n",
                                                        "sata: done\n", NULL };
       *line; line++)
    g_assert_nonnull (strstr (r.out, *line));
  g_assert_null (strstr (r.out, "FAIL"));
  g_assert_true (strstr (r.out, "sata: trim ok\n") || strstr (r.out, "sata: no trim\n"));
  vireo_test_run_clear (&r);

  /* The image is sound and holds what the guest wrote. */
  g_assert_cmpint (vireo_test_run_judge (check, NULL), ==, 0);
  g_assert_true (qemu_io_reads (f->disk, 0xa5, 0, 8 * 512));
  g_assert_true (qemu_io_reads (f->disk, 0x77, (1u << 20) - 512, 512));
  g_assert_true (qemu_io_reads (f->disk, 0x13, 22 * 512, 2 * 512)); /* the last NCQ write */
}

static void
test_media_change (Fixture *f, gconstpointer data)
{
  g_autofree char *kernel = vireo_test_guest_path ("sata");
  g_autoptr (HvMachineSpec) spec = hv_machine_spec_new ();
  g_autoptr (GError) error = NULL;
  g_autofree char *output = NULL;
  VireoTestGuest guest = { 0 };
  HvDeviceSpec *cdrom;
  HvExitInfo info = { 0 };
  int fd;

  if (!require_tools (f, TRUE))
    return;
  spec->memory = 128ull << 20;
  spec->kernel = hv_machine_spec_add_fd (spec, open (kernel, O_RDONLY | O_CLOEXEC));
  g_free (spec->cmdline);
  spec->cmdline = g_strdup ("media=1");
  cdrom = hv_machine_spec_add_device (spec, "cdrom", NULL, NULL);
  hv_device_spec_set_fd (spec, cdrom, "file", open (f->iso, O_RDONLY | O_CLOEXEC));

  vireo_test_guest_init (&guest, 128ull << 20, 1);
  g_assert_true (hv_vm_apply_spec (guest.vm, spec, &error));
  g_assert_no_error (error);
  hv_vm_set_serial (guest.vm, guest.input_pipe[0], guest.output_fd);
  g_assert_true (hv_vm_start (guest.vm, &error));
  g_assert_true (vireo_test_guest_wait_for_output (&guest, "sata: cd waiting for the disc to go", 60));

  /* Errors first: a drive that does not exist, and a file that is no disc image. */
  g_assert_false (hv_vm_change_medium (guest.vm, "cdrom9", -1, FALSE, &error));
  g_assert_error (error, HV_ERROR, HV_ERROR_NOT_FOUND);
  g_clear_error (&error);
  fd = open (f->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  g_assert_false (hv_vm_change_medium (guest.vm, "cdrom0", fd, FALSE, &error));
  g_assert_nonnull (error);
  g_test_message ("a folder as a disc: %s", error->message);
  g_clear_error (&error);
  close (fd);

  g_assert_true (hv_vm_change_medium (guest.vm, "cdrom0", -1, FALSE, &error));
  g_assert_no_error (error);
  g_assert_true (vireo_test_guest_wait_for_output (&guest, "sata: cd waiting for a disc", 60));
  fd = open (f->iso2, O_RDONLY | O_CLOEXEC);
  g_assert_true (hv_vm_change_medium (guest.vm, "cdrom0", fd, FALSE, &error));
  g_assert_no_error (error);
  close (fd);
  hv_vm_wait (guest.vm, &info);
  g_assert_cmpint (info.reason, ==, HV_EXIT_POWER_OFF);
  hv_exit_info_clear (&info);
  output = vireo_test_guest_output (&guest);
  g_test_message ("%s", output);
  g_assert_nonnull (strstr (output, "sata: cd volume FIRSTDISC\n"));
  g_assert_nonnull (strstr (output, "sata: cd removed\nsata: cd not ready\n"));
  g_assert_nonnull (
      strstr (output, "sata: cd inserted\nsata: cd unit attention\nsata: cd volume SECONDDISC\n"));
  g_assert_nonnull (strstr (output, "sata: done\n"));
  g_assert_null (strstr (output, "FAIL"));
  vireo_test_guest_clear (&guest);
}

static void
test_refused (Fixture *f, gconstpointer data)
{
  g_autofree char *kernel = vireo_test_guest_path ("sata");
  g_autofree char *missing = g_build_filename (f->dir, "missing.iso", NULL);
  g_autofree char *damaged = g_build_filename (f->dir, "damaged.qcow2", NULL);
  g_autofree char *damaged_sata = g_strdup_printf ("%s,bus=sata", damaged);
  g_autofree char *missing_sata = g_strdup_printf ("%s,bus=sata", missing);
  g_autofree char *locked = g_build_filename (f->dir, "locked.img", NULL);
  g_autofree char *locked_sata = g_strdup_printf ("%s,bus=sata,format=raw", locked);
  guint8 header[4096] = { 'Q', 'F', 'I', 0xfb, 0, 0, 0, 3 };
  const struct
  {
    const char *option;
    const char *value;
    const char *path;
    const char *message;
  } cases[] = {
    { "--cdrom", missing, missing, "no such file" }, { "--cdrom", f->dir, f->dir, "folder" },
    { "--cdrom", damaged, damaged, "qcow2" },        { "--disk", missing_sata, missing, "no such file" },
    { "--disk", damaged_sata, damaged, "qcow2" },    { "--cdrom", locked, locked, "locked" },
    { "--disk", locked_sata, locked, "locked" },
  };
  int lock_fd;

  if (!vireo_test_require_kvm ())
    return;
  g_assert_true (g_file_set_contents (damaged, (const char *) header, sizeof header, NULL));
  /* Another process writing the image holds a whole-file lock, which covers QEMU's lock bytes. */
  g_assert_true (g_file_set_contents (locked, "", 0, NULL));
  g_assert_no_errno (truncate (locked, 1 << 20));
  lock_fd = open (locked, O_RDWR | O_CLOEXEC);
  g_assert_no_errno (
      fcntl (lock_fd, F_OFD_SETLK, &(struct flock){ .l_type = F_WRLCK, .l_whence = SEEK_SET }));
  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      const char *args[] = { "--kernel", kernel, cases[i].option, cases[i].value, NULL };
      VireoTestRun r = vireo_test_run_vireo_run (NULL, args);

      g_assert_cmpint (r.status, ==, STATUS_SETUP_ERROR);
      g_assert_true (g_str_has_prefix (r.err, "vireo-run: "));
      g_assert_nonnull (strstr (r.err, cases[i].path));
      g_assert_nonnull (strstr (r.err, cases[i].message));
      g_assert_cmpstr (strchr (r.err, '\n') + 1, ==, "");
      g_assert_cmpstr (r.out, ==, "");
      vireo_test_run_clear (&r);
    }
  close (lock_fd);
}

/* A machine with a SATA disk and a CD-ROM saved and restored through the core. */
static void
test_save_restore (Fixture *f, gconstpointer data)
{
  g_autofree char *kernel = vireo_test_guest_path ("echo");
  g_autofree char *save = g_build_filename (f->dir, "saved", NULL);
  g_autoptr (GError) error = NULL;
  g_autoptr (HvMachineSpec) spec = hv_machine_spec_new ();
  VireoTestGuest old = { 0 };
  HvDeviceSpec *device;
  int dir_fd;

  if (!require_tools (f, FALSE))
    return;
  spec->memory = 128ull << 20;
  spec->kernel = hv_machine_spec_add_fd (spec, open (kernel, O_RDONLY | O_CLOEXEC));
  device = hv_machine_spec_add_device (spec, "sata-disk", NULL, NULL);
  hv_device_spec_set_fd (spec, device, "file", open (f->disk, O_RDWR | O_CLOEXEC));
  device = hv_machine_spec_add_device (spec, "cdrom", NULL, NULL);
  hv_device_spec_set_fd (spec, device, "file", open (f->iso, O_RDONLY | O_CLOEXEC));
  hv_machine_spec_add_device (spec, "cdrom", NULL, NULL);
  g_assert_no_errno (g_mkdir (save, 0700));
  dir_fd = open (save, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

  vireo_test_guest_init (&old, 128ull << 20, 1);
  g_assert_true (hv_vm_apply_spec (old.vm, spec, &error));
  g_assert_no_error (error);
  hv_vm_set_serial (old.vm, old.input_pipe[0], old.output_fd);
  g_assert_true (hv_vm_start (old.vm, &error));
  g_assert_true (vireo_test_guest_wait_for_output (&old, "echo ready", 60));
  g_assert_true (hv_vm_pause (old.vm, &error));
  /* A paused machine's disc can change too. */
  g_assert_true (hv_vm_change_medium (old.vm, "cdrom1", -1, FALSE, &error));
  g_assert_true (hv_vm_save (old.vm, dir_fd, &error));
  g_assert_no_error (error);
  vireo_test_guest_clear (&old);

  vireo_test_restore_echo_guest (spec, dir_fd);
  close (dir_fd);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add ("/sata/disk-and-cdrom", Fixture, NULL, setup, test_disk_and_cdrom, teardown);
  g_test_add ("/sata/media-change", Fixture, NULL, setup, test_media_change, teardown);
  g_test_add ("/sata/refused", Fixture, NULL, setup, test_refused, teardown);
  g_test_add ("/sata/save-restore", Fixture, NULL, setup, test_save_restore, teardown);
  return g_test_run ();
}
