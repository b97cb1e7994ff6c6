/* test-checkpoint.c — the core's side of checkpoints, seen through guests that show their state: the
 * boot-counter guest's disk through qcow2 internal snapshots taken, applied and deleted on a paused VM
 * (hv_vm_snapshot_disks), with qemu-img judging the image; and the mem-counter guest's memory saved from
 * a running count (hv_vm_save) and restored into a new VM (hv_vm_set_restore), which must go on from the
 * saved count. */
#include "block/block.h"
#include "test-util.h"

#include <gio/gio.h>

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define BOOT_COUNTER_MEMORY (64ull << 20)
#define MEM_COUNTER_MEMORY  (128ull << 20)
#define DISK_SIZE           "16M"
#define WAIT_SECONDS        60

typedef struct
{
  char *dir;
  char *image;
} Fixture;

static void
setup (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;

  f->dir = g_dir_make_tmp ("vireo-checkpoint-XXXXXX", &error);
  g_assert_no_error (error);
  f->image = g_build_filename (f->dir, "disk.qcow2", NULL);
}

static void
teardown (Fixture *f, gconstpointer data)
{
  vireo_test_remove_tree (f->dir);
  g_free (f->image);
  g_free (f->dir);
}

/* The number on the first complete line of @text that starts with @prefix, or -1. */
static gint64
line_number (const char *text, const char *prefix)
{
  for (const char *line = text; line && *line; line = strchr (line, '\n') ? strchr (line, '\n') + 1 : NULL)
    {
      const char *end = strchr (line, '\n');
      char *after;
      gint64 value;

      if (end == NULL)
        break;
      if (!g_str_has_prefix (line, prefix))
        continue;
      value = g_ascii_strtoll (line + strlen (prefix), &after, 10);
      if (after == end && after != line + strlen (prefix))
        return value;
    }
  return -1;
}

/* Waits for a complete line "@prefix N" from the guest and returns N; fails the test after @seconds or
 * when the guest ends or reports a failure first. */
static gint64
wait_for_number (VireoTestGuest *guest, const char *prefix, unsigned seconds)
{
  gint64 deadline = g_get_monotonic_time () + seconds * G_USEC_PER_SEC;

  for (;;)
    {
      g_autofree char *text = vireo_test_guest_output (guest);
      gint64 value = line_number (text, prefix);

      if (strstr (text, "FAIL") != NULL)
        g_error ("the guest failed: %s", text);
      if (value >= 0)
        return value;
      if (hv_vm_has_exited (guest->vm) || g_get_monotonic_time () > deadline)
        g_error ("no “%sN” line from the guest; it printed: %s", prefix, text);
      g_usleep (2000);
    }
}

/* ---- the boot counter: disk state ---- */

/* Boots boot-counter.elf on @image and returns the count it printed; the VM keeps running. */
static gint64
boot_counter_start (VireoTestGuest *guest, const char *image)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (HvMachineSpec) spec = hv_machine_spec_new ();
  g_autofree char *kernel = vireo_test_guest_path ("boot-counter");
  HvDeviceSpec *disk;
  int fd = open (image, O_RDWR | O_CLOEXEC);

  g_assert_no_errno (fd);
  spec->memory = BOOT_COUNTER_MEMORY;
  spec->kernel = hv_machine_spec_add_fd (spec, open (kernel, O_RDONLY | O_CLOEXEC));
  disk = hv_machine_spec_add_device (spec, "virtio-blk", NULL, NULL);
  hv_device_spec_set_fd (spec, disk, "file", fd);
  vireo_test_guest_init (guest, BOOT_COUNTER_MEMORY, 1);
  g_assert_true (hv_vm_apply_spec (guest->vm, spec, &error));
  g_assert_no_error (error);
  hv_vm_set_serial (guest->vm, guest->input_pipe[0], guest->output_fd);
  g_assert_true (hv_vm_start (guest->vm, &error));
  g_assert_no_error (error);
  return wait_for_number (guest, "boot counter ", WAIT_SECONDS);
}

/* Presses the power button: the guest must power off. */
static void
boot_counter_power_off (VireoTestGuest *guest)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *output = NULL;
  HvExitInfo info = { 0 };

  g_assert_true (hv_vm_request_shutdown (guest->vm, &error));
  g_assert_no_error (error);
  hv_vm_wait (guest->vm, &info);
  g_assert_cmpint (info.reason, ==, HV_EXIT_POWER_OFF);
  hv_exit_info_clear (&info);
  output = vireo_test_guest_output (guest);
  g_assert_nonnull (strstr (output, "boot-counter: power button\n"));
  vireo_test_guest_clear (guest);
}

/* Boots, then runs @op on the paused VM's disks; the VM is powered off afterwards ("create", "delete"),
 * or ended without asking the guest ("apply": the guest's view of the disk is gone). */
static gint64
boot_counter_with (const char *image, const char *op, const char *name)
{
  g_autoptr (GError) error = NULL;
  VireoTestGuest guest = { 0 };
  gint64 count = boot_counter_start (&guest, image);

  g_assert_true (hv_vm_pause (guest.vm, &error));
  g_assert_no_error (error);
  g_assert_true (hv_vm_snapshot_disks (guest.vm, op, name, &error));
  g_assert_no_error (error);
  if (g_strcmp0 (op, "apply") == 0)
    {
      hv_vm_stop (guest.vm);
      vireo_test_guest_clear (&guest);
    }
  else
    {
      g_assert_true (hv_vm_resume (guest.vm, &error));
      boot_counter_power_off (&guest);
    }
  return count;
}

/* Boots once and powers off: the count. */
static gint64
boot_counter_boot (const char *image)
{
  VireoTestGuest guest = { 0 };
  gint64 count = boot_counter_start (&guest, image);

  boot_counter_power_off (&guest);
  return count;
}

/* The count stored in snapshot @name of @image (NULL: its current state), read by booting a copy of the
 * image with that snapshot applied, so that neither the image nor its other states change. */
static gint64
boot_counter_peek (Fixture *f, const char *name)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *copy_path = g_build_filename (f->dir, "peek.qcow2", NULL);
  g_autoptr (GFile) original = g_file_new_for_path (f->image);
  g_autoptr (GFile) copy = g_file_new_for_path (copy_path);
  gint64 count;

  g_assert_true (g_file_copy (original, copy, G_FILE_COPY_OVERWRITE, NULL, NULL, NULL, &error));
  g_assert_no_error (error);
  if (name != NULL)
    {
      g_assert_true (hv_block_snapshot_file (copy_path, HV_BLOCK_SNAPSHOT_APPLY, name, &error));
      g_assert_no_error (error);
    }
  count = boot_counter_boot (copy_path) - 1;
  g_assert_no_errno (g_unlink (copy_path));
  return count;
}

/* qemu-img's verdict: no errors, no leaks; and the snapshots it lists are exactly @names
 * (NULL-terminated).  Without qemu-img, says so and checks nothing. */
static void
qemu_img_judges (const char *image, const char *const *names)
{
  const char *check[] = { "qemu-img", "check", "-f", "qcow2", image, NULL };
  const char *list[] = { "qemu-img", "snapshot", "-l", image, NULL };
  g_autofree char *out = NULL;
  g_autofree char *listing = NULL;
  g_autofree char *qemu_img = g_find_program_in_path ("qemu-img");
  guint n_listed = 0;

  if (qemu_img == NULL)
    {
      g_test_message ("no qemu-img (Debian: qemu-utils): the image is not judged");
      return;
    }
  g_assert_cmpint (vireo_test_run_judge (check, &out), ==, 0);
  g_test_message ("qemu-img check: %.*s", (int) strcspn (out, "\n"), out);
  g_assert_nonnull (strstr (out, "No errors were found"));
  g_assert_null (strstr (out, "leaked"));
  g_assert_cmpint (vireo_test_run_judge (list, &listing), ==, 0);
  for (guint i = 0; names[i]; i++)
    {
      g_autofree char *word = g_strdup_printf (" %s ", names[i]);
      g_assert_nonnull (strstr (listing, word));
    }
  /* One line per snapshot after the two header lines. */
  if (names[0] != NULL)
    {
      g_auto (GStrv) lines = g_strsplit (g_strstrip (listing), "\n", -1);
      n_listed = g_strv_length (lines) - 2;
    }
  else
    g_assert_cmpstr (g_strstrip (listing), ==, "");
  g_assert_cmpuint (n_listed, ==, g_strv_length ((char **) names));
}

static gboolean
make_qcow2 (const char *image)
{
  const char *argv[] = { "qemu-img", "create", "-q", "-f", "qcow2", image, DISK_SIZE, NULL };

  if (!vireo_test_require_programs ((const char *const[]){ "qemu-img", NULL }))
    return FALSE;
  g_assert_cmpint (vireo_test_run_judge (argv, NULL), ==, 0);
  return TRUE;
}

/* The disk test: checkpoints at counters 1 and 2; applying 1 makes the next boot say 2 again;
 * deleting checkpoints (the older first here) leaves every other state's count as it was. */
static void
test_boot_counter (Fixture *f, gconstpointer data)
{
  const gboolean newer_first = GPOINTER_TO_INT (data);
  g_autoptr (GError) error = NULL;

  if (!vireo_test_require_kvm () || !make_qcow2 (f->image))
    return;

  g_assert_cmpint (boot_counter_with (f->image, "create", "c1"), ==, 1);
  g_assert_cmpint (boot_counter_with (f->image, "create", "c2"), ==, 2);
  qemu_img_judges (f->image, (const char *const[]){ "c1", "c2", NULL });
  /* The third boot counts 3, then the disk goes back to c1 under the paused guest. */
  g_assert_cmpint (boot_counter_with (f->image, "apply", "c1"), ==, 3);
  g_assert_cmpint (boot_counter_boot (f->image), ==, 2);
  g_assert_cmpint (boot_counter_boot (f->image), ==, 3);
  qemu_img_judges (f->image, (const char *const[]){ "c1", "c2", NULL });

  /* Every state as it should be, before any delete: c1 1, c2 2, now 3. */
  g_assert_cmpint (boot_counter_peek (f, "c1"), ==, 1);
  g_assert_cmpint (boot_counter_peek (f, "c2"), ==, 2);
  g_assert_cmpint (boot_counter_peek (f, NULL), ==, 3);

  /* Delete one (the VM paused, as for a running machine); the other and the current state stay. */
  g_assert_cmpint (boot_counter_with (f->image, "delete", newer_first ? "c2" : "c1"), ==, 4);
  qemu_img_judges (f->image, (const char *const[]){ newer_first ? "c1" : "c2", NULL });
  g_assert_cmpint (boot_counter_peek (f, newer_first ? "c1" : "c2"), ==, newer_first ? 1 : 2);
  g_assert_cmpint (boot_counter_peek (f, NULL), ==, 4);

  /* A deleted checkpoint cannot be applied, and the refusal changes nothing. */
  {
    VireoTestGuest guest = { 0 };

    g_assert_cmpint (boot_counter_start (&guest, f->image), ==, 5);
    g_assert_true (hv_vm_pause (guest.vm, &error));
    g_assert_false (hv_vm_snapshot_disks (guest.vm, "apply", newer_first ? "c2" : "c1", &error));
    g_assert_nonnull (error);
    g_test_message ("applying a deleted checkpoint: %s", error->message);
    g_clear_error (&error);
    g_assert_true (hv_vm_resume (guest.vm, &error));
    boot_counter_power_off (&guest);
  }

  /* The last one goes too, from a stopped machine's image (hv_block_snapshot_file, as vireod does). */
  g_assert_true (
      hv_block_snapshot_file (f->image, HV_BLOCK_SNAPSHOT_DELETE, newer_first ? "c1" : "c2", &error));
  g_assert_no_error (error);
  qemu_img_judges (f->image, (const char *const[]){ NULL });
  g_assert_cmpint (boot_counter_peek (f, NULL), ==, 5);
  g_assert_cmpint (boot_counter_boot (f->image), ==, 6);
}

/* ---- the memory counter: memory and device state ---- */

/* The "count N" lines of @text in order must be 1, 2, 3, ... without a gap or a repeat; returns the last,
 * 0 when there is none.  A line cut short at the end of @text does not count. */
static gint64
counts_in_order (const char *text)
{
  g_auto (GStrv) lines = g_strsplit (text, "\n", -1);
  gint64 expected = 1;
  guint n = g_strv_length (lines);

  /* The last element is what follows the last newline: an unfinished line, or "". */
  for (guint i = 0; i + 1 < n; i++)
    {
      if (!g_str_has_prefix (lines[i], "count "))
        continue;
      if (g_ascii_strtoll (lines[i] + 6, NULL, 10) != expected)
        g_error ("expected “count %" G_GINT64_FORMAT "”, got “%s” in: %s", expected, lines[i], text);
      expected++;
    }
  return expected - 1;
}

static void
mem_counter_boot (VireoTestGuest *guest, const char *cmdline)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *kernel = vireo_test_guest_path ("mem-counter");

  vireo_test_guest_init (guest, MEM_COUNTER_MEMORY, 1);
  g_assert_true (hv_vm_set_kernel (guest->vm, kernel, NULL, cmdline, &error));
  g_assert_true (hv_vm_start (guest->vm, &error));
  g_assert_no_error (error);
}

/* Waits until the guest has printed "count @n" or more; returns its whole output. */
static char *
mem_counter_wait (VireoTestGuest *guest, gint64 n)
{
  g_autofree char *needle = g_strdup_printf ("count %" G_GINT64_FORMAT "\n", n);

  if (!vireo_test_guest_wait_for_output (guest, needle, WAIT_SECONDS))
    {
      g_autofree char *text = vireo_test_guest_output (guest);
      g_error ("no “count %" G_GINT64_FORMAT "” from the guest; it printed: %s", n, text);
    }
  return vireo_test_guest_output (guest);
}

/* The memory test at the core: paused at some count K and saved, the guest counts on; a new VM
 * restored from the saved folder goes on from K, not from 1 and not from where the first VM got to.  The
 * same folder restores the same way twice (a checkpoint is applied more than once).  The guest also
 * filled 16 MiB with a pattern it checks as it counts: restored memory holds it. */
static void
test_memory_counter (void)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *dir = NULL;
  g_autofree char *at_save = NULL;
  VireoTestGuest old = { 0 };
  gint64 saved_count, later_count;
  int dir_fd;

  if (!vireo_test_require_kvm ())
    return;
  dir = g_dir_make_tmp ("vireo-checkpoint-mem-XXXXXX", &error);
  g_assert_no_error (error);
  dir_fd = open (dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  g_assert_no_errno (dir_fd);

  mem_counter_boot (&old, "period=20 touch=16");
  g_free (mem_counter_wait (&old, 5));
  g_assert_true (hv_vm_pause (old.vm, &error));
  g_assert_true (hv_vm_save (old.vm, dir_fd, &error));
  g_assert_no_error (error);
  at_save = vireo_test_guest_output (&old);
  g_assert_nonnull (strstr (at_save, "mem-counter: touched 16 MiB\n"));
  saved_count = counts_in_order (at_save);
  g_assert_cmpint (saved_count, >=, 5);

  /* The first VM goes on counting well past the saved count. */
  g_assert_true (hv_vm_resume (old.vm, &error));
  {
    g_autofree char *text = mem_counter_wait (&old, saved_count + 10);
    later_count = counts_in_order (text);
  }
  vireo_test_guest_clear (&old);
  g_test_message ("saved at count %" G_GINT64_FORMAT ", the first VM went on to %" G_GINT64_FORMAT,
                  saved_count, later_count);

  for (int round = 0; round < 2; round++)
    {
      VireoTestGuest restored = { 0 };
      g_autofree char *after = NULL;
      g_autofree char *joined = NULL;
      gint64 first;

      vireo_test_guest_init (&restored, MEM_COUNTER_MEMORY, 1);
      g_assert_true (hv_vm_set_restore (restored.vm, dir_fd, &error));
      g_assert_no_error (error);
      g_assert_true (hv_vm_start (restored.vm, &error));
      g_assert_no_error (error);
      /* 20 counts: the guest's checks go once round the 16 MiB it filled. */
      after = mem_counter_wait (&restored, saved_count + 20);
      g_assert_null (strstr (after, "FAIL"));
      g_assert_null (strstr (after, "touched")); /* it did not boot again */
      first = line_number (after, "count ");
      g_test_message ("restore %d: the first whole line is count %" G_GINT64_FORMAT, round + 1, first);
      /* The saved output and the restored output read as one count without a gap or repeat: the guest
       * went on from the saved count (a line cut by the save is finished by the restored guest). */
      joined = g_strconcat (at_save, after, NULL);
      g_assert_cmpint (counts_in_order (joined), >=, saved_count + 20);
      g_assert_cmpint (first, <=, saved_count + 2);
      g_assert_cmpint (first, <, later_count);
      vireo_test_guest_clear (&restored);
    }

  vireo_test_remove_tree (dir);
  close (dir_fd);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add ("/checkpoint/boot-counter/delete-older-first", Fixture, GINT_TO_POINTER (FALSE), setup,
              test_boot_counter, teardown);
  g_test_add ("/checkpoint/boot-counter/delete-newer-first", Fixture, GINT_TO_POINTER (TRUE), setup,
              test_boot_counter, teardown);
  g_test_add_func ("/checkpoint/memory-counter", test_memory_counter);
  return g_test_run ();
}
