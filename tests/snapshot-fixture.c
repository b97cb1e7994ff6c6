/* snapshot-fixture.c — test guests on the core for the save/restore tests: booted, fed, saved to a temporary
 * folder and restored into a new VM. */
#include "snapshot-fixture.h"

/* A VM with @memory and @cpus, serial output to a memfd and input from a pipe; not started. */
void
guest_new (Guest *guest, uint64_t memory, unsigned cpus)
{
  vireo_test_guest_init (guest, memory, cpus);
}

/* Boots test guest @name. */
void
guest_boot (Guest *guest, const char *name, const char *cmdline, uint64_t memory, unsigned cpus)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *path = vireo_test_guest_path (name);

  guest_new (guest, memory, cpus);
  g_assert_true (hv_vm_set_kernel (guest->vm, path, NULL, cmdline, &error));
  g_assert_true (hv_vm_start (guest->vm, &error));
  g_assert_no_error (error);
}

void
guest_send (Guest *guest, const char *text)
{
  g_assert_cmpint (write (guest->input_pipe[1], text, strlen (text)), ==, (ssize_t) strlen (text));
}

HvExitReason
guest_wait_exit (Guest *guest)
{
  HvExitInfo info = { 0 };
  HvExitReason reason;

  hv_vm_wait (guest->vm, &info);
  g_test_message ("the guest ended: %s (%s)", hv_exit_reason_to_string (info.reason), info.message);
  reason = info.reason;
  hv_exit_info_clear (&info);
  return reason;
}

void
save_dir_init (SaveDir *dir)
{
  g_autoptr (GError) error = NULL;

  dir->path = g_dir_make_tmp ("vireo-snapshot-XXXXXX", &error);
  g_assert_no_error (error);
  dir->fd = open (dir->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  g_assert_cmpint (dir->fd, >=, 0);
}

void
save_dir_clear (SaveDir *dir)
{
  g_autoptr (GDir) listing = g_dir_open (dir->path, 0, NULL);
  const char *name;

  while (listing && (name = g_dir_read_name (listing)) != NULL)
    g_assert_no_errno (unlinkat (dir->fd, name, 0));
  close (dir->fd);
  g_assert_no_errno (rmdir (dir->path));
  g_free (dir->path);
}

char *
save_dir_file (SaveDir *dir, const char *name)
{
  return g_build_filename (dir->path, name, NULL);
}

/* Pauses, saves and measures; the VM stays paused.  The memory file must hold at most @touched bytes
 * of data more than a quarter of the guest's memory: saves are sparse. */
void
save_guest_touched (Guest *guest, SaveDir *dir, const char *label, gint64 touched)
{
  g_autoptr (GError) error = NULL;
  struct stat state_st, memory_st;
  gint64 start;

  g_assert_true (hv_vm_pause (guest->vm, &error));
  g_assert_no_error (error);
  start = g_get_monotonic_time ();
  g_assert_true (hv_vm_save (guest->vm, dir->fd, &error));
  g_assert_no_error (error);
  g_assert_no_errno (fstatat (dir->fd, "state", &state_st, 0));
  g_assert_no_errno (fstatat (dir->fd, "memory", &memory_st, 0));
  g_test_message ("%s: saved in %.1f ms; state %" G_GINT64_FORMAT " bytes, memory %" G_GINT64_FORMAT
                  " MiB apparent, %" G_GINT64_FORMAT " KiB on disk",
                  label, (g_get_monotonic_time () - start) / 1000.0, (gint64) state_st.st_size,
                  (gint64) memory_st.st_size >> 20, (gint64) memory_st.st_blocks / 2);
  /* Guest memory is private to its owner. */
  g_assert_cmpint (state_st.st_mode & 0777, ==, 0600);
  g_assert_cmpint (memory_st.st_mode & 0777, ==, 0600);
  /* Sparse: the guests touch a few MiB of their memory. */
  g_assert_cmpint ((gint64) memory_st.st_blocks * 512, <, memory_st.st_size / 4 + touched);
  g_assert_false (hv_vm_has_exited (guest->vm));
}

void
save_guest (Guest *guest, SaveDir *dir, const char *label)
{
  save_guest_touched (guest, dir, label, 0);
}

/* Restores @dir into a new VM with @memory and @cpus and starts it. */
void
restore_guest (Guest *guest, SaveDir *dir, uint64_t memory, unsigned cpus, const char *label)
{
  g_autoptr (GError) error = NULL;
  gint64 start;

  guest_new (guest, memory, cpus);
  start = g_get_monotonic_time ();
  g_assert_true (hv_vm_set_restore (guest->vm, dir->fd, &error));
  g_assert_no_error (error);
  g_assert_true (hv_vm_start (guest->vm, &error));
  g_assert_no_error (error);
  g_test_message ("%s: restored and started in %.1f ms", label, (g_get_monotonic_time () - start) / 1000.0);
}
