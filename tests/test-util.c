/* test-util.c — helpers shared by the test programs. */
#include "test-util.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <signal.h>
#include <stdlib.h>
#include <gio/gio.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <grp.h>
#include <unistd.h>

gboolean
vireo_test_require_kvm (void)
{
  int fd = open ("/dev/kvm", O_RDWR | O_CLOEXEC);
  if (fd < 0)
    {
      g_autofree char *why = g_strdup_printf ("needs /dev/kvm, which cannot be opened: %s",
                                              g_strerror (errno));
      g_test_skip (why);
      return FALSE;
    }
  close (fd);
  return TRUE;
}

char *
vireo_test_guest_path (const char *name)
{
  const char *dir = g_getenv ("VIREO_GUESTS_DIR");
  g_autofree char *file = g_strconcat (name, ".elf", NULL);
  if (dir == NULL)
    dir = "tests/guests";
  return g_build_filename (dir, file, NULL);
}

const char *
vireo_test_vireo_run (void)
{
  const char *path = g_getenv ("VIREO_RUN");
  return path ? path : "hypervisor/vireo-run";
}

void
vireo_test_guest_init (VireoTestGuest *guest, uint64_t memory, unsigned cpus)
{
  g_autoptr (GError) error = NULL;

  guest->vm = hv_vm_new (NULL, &error);
  g_assert_no_error (error);
  g_assert_true (hv_vm_set_memory (guest->vm, memory, &error));
  g_assert_true (hv_vm_set_vcpus (guest->vm, cpus, &error));
  guest->output_fd = memfd_create ("guest-serial", MFD_CLOEXEC);
  g_assert_cmpint (guest->output_fd, >=, 0);
  g_assert_no_errno (pipe2 (guest->input_pipe, O_CLOEXEC));
  hv_vm_set_serial (guest->vm, guest->input_pipe[0], guest->output_fd);
}

void
vireo_test_guest_clear (VireoTestGuest *guest)
{
  g_clear_pointer (&guest->vm, hv_vm_free);
  if (guest->output_fd >= 0)
    close (guest->output_fd);
  for (int i = 0; i < 2; i++)
    if (guest->input_pipe[i] >= 0)
      close (guest->input_pipe[i]);
  guest->output_fd = guest->input_pipe[0] = guest->input_pipe[1] = -1;
}

char *
vireo_test_guest_output (VireoTestGuest *guest)
{
  off_t size = lseek (guest->output_fd, 0, SEEK_END);
  char *text = g_malloc0 ((gsize) size + 1);
  g_assert_cmpint (pread (guest->output_fd, text, (gsize) size, 0), ==, size);
  return text;
}

gboolean
vireo_test_guest_wait_for_output (VireoTestGuest *guest, const char *needle, unsigned seconds)
{
  gint64 deadline = g_get_monotonic_time () + seconds * G_USEC_PER_SEC;
  while (g_get_monotonic_time () < deadline)
    {
      g_autofree char *text = vireo_test_guest_output (guest);
      if (strstr (text, needle))
        return TRUE;
      if (hv_vm_has_exited (guest->vm))
        return FALSE;
      g_usleep (5000);
    }
  return FALSE;
}

uint32_t
vireo_test_io_read (HvIoHandler handler, void *opaque, uint64_t offset, unsigned len)
{
  uint8_t buffer[4] = { 0xff, 0xff, 0xff, 0xff };
  uint32_t value = 0;

  g_assert_cmpuint (len, <=, sizeof buffer);
  handler (opaque, offset, buffer, len, FALSE);
  for (unsigned i = 0; i < len; i++)
    value |= (uint32_t) buffer[i] << (8 * i);
  return value;
}

void
vireo_test_io_write (HvIoHandler handler, void *opaque, uint64_t offset, unsigned len, uint32_t value)
{
  uint8_t buffer[4];

  g_assert_cmpuint (len, <=, sizeof buffer);
  for (unsigned i = 0; i < sizeof buffer; i++)
    buffer[i] = (uint8_t) (value >> (8 * i));
  handler (opaque, offset, buffer, len, TRUE);
}

GVariant *
vireo_test_state_through_bytes (GVariant *state)
{
  g_autoptr (GVariant) sunk = g_variant_ref_sink (state);
  g_autoptr (GBytes) bytes = g_variant_get_data_as_bytes (sunk);
  return g_variant_ref_sink (g_variant_new_from_bytes (G_VARIANT_TYPE_VARDICT, bytes, FALSE));
}

GVariant *
vireo_test_state_spoiled (GVariant *good, const char *key, const char *value)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GVariant) parsed = g_variant_parse (NULL, value, NULL, NULL, &error);
  GVariantDict dict;

  g_assert_no_error (error);
  g_variant_dict_init (&dict, good);
  g_variant_dict_insert_value (&dict, key, parsed);
  return g_variant_ref_sink (g_variant_dict_end (&dict));
}

static void
record_irq (void *opaque, unsigned gsi, gboolean level)
{
  VireoTestPlatform *tp = opaque;
  g_assert_cmpuint (gsi, <, G_N_ELEMENTS (tp->irq_level));
  g_mutex_lock (&tp->lock);
  if (level && !tp->irq_level[gsi])
    tp->irq_raises[gsi]++;
  tp->irq_level[gsi] = level;
  g_mutex_unlock (&tp->lock);
}

static void
record_exit (void *opaque, HvExitReason reason, const char *message)
{
  VireoTestPlatform *tp = opaque;
  g_mutex_lock (&tp->lock);
  if (tp->exit_reason == HV_EXIT_NONE)
    {
      tp->exit_reason = reason;
      tp->exit_message = g_strdup (message);
    }
  tp->exit_requests++;
  g_mutex_unlock (&tp->lock);
}

void
vireo_test_platform_init (VireoTestPlatform *tp)
{
  memset (tp, 0, sizeof *tp);
  g_mutex_init (&tp->lock);
  tp->platform.set_irq = record_irq;
  tp->platform.request_exit = record_exit;
  tp->platform.opaque = tp;
}

void
vireo_test_platform_clear (VireoTestPlatform *tp)
{
  g_clear_pointer (&tp->exit_message, g_free);
  g_mutex_clear (&tp->lock);
}

/* ---- main loop and processes ---- */

static gboolean
set_flag (gpointer data)
{
  *(gboolean *) data = TRUE;
  return G_SOURCE_REMOVE;
}

static gboolean
keep_ticking (gpointer data)
{
  return G_SOURCE_CONTINUE;
}

#define WAIT_TICK_MS 20

/* Runs the default main context until @condition holds or @seconds pass; returns the condition.  A
 * tick re-checks conditions that no event of ours announces (processes ending, files appearing).
 *
 * Between two looks at the condition the loop runs as an application's own would: everything that is
 * ready, idle callbacks included.  g_main_context_iteration() dispatches only the highest priority that
 * is ready, and a condition slower than the tick (a serial check is a D-Bus call and 200 ms of quiet; a
 * render on a loaded host) used to find the tick due at every iteration, so idle callbacks never ran
 * while a test waited.  spice-client-glib delivers each channel's signals from idle callbacks and its
 * channel reads and writes nothing more until they have run: keys typed during such a wait stayed in
 * the app and never reached the machine. */
gboolean
vireo_test_wait_until (VireoTestCondition condition, gpointer data, unsigned seconds)
{
  gboolean timed_out = FALSE;
  guint timeout = g_timeout_add_seconds (seconds, set_flag, &timed_out);
  /* Below idle priority: it only wakes the loop, it must not take the turn of the work being waited for. */
  guint tick = g_timeout_add_full (G_PRIORITY_LOW, WAIT_TICK_MS, keep_ticking, NULL, NULL);

  while (!condition (data) && !timed_out)
    {
      gint64 slice_end = g_get_monotonic_time () + WAIT_TICK_MS * 1000;

      g_main_context_iteration (NULL, TRUE);
      while (g_main_context_pending (NULL) && g_get_monotonic_time () < slice_end)
        g_main_context_iteration (NULL, FALSE);
    }
  g_source_remove (tick);
  if (!timed_out)
    g_source_remove (timeout);
  return condition (data);
}

/* ---- processes, found by their command line ---- */

/* The pids of processes whose program's base name is @program (NULL: any) and one of whose arguments
 * (argv[0] too) contains @needle. */
GArray *
vireo_test_find_processes (const char *program, const char *needle)
{
  GArray *pids = g_array_new (FALSE, FALSE, sizeof (pid_t));
  g_autoptr (GDir) proc = g_dir_open ("/proc", 0, NULL);
  const char *entry;

  g_assert_nonnull (proc);
  while ((entry = g_dir_read_name (proc)))
    {
      g_autofree char *path = NULL;
      g_autofree char *cmdline = NULL;
      g_autofree char *base = NULL;
      gsize length;
      gboolean match = FALSE;
      char *end;
      pid_t pid = (pid_t) strtol (entry, &end, 10);

      if (*end != '\0' || pid <= 0 || pid == getpid ())
        continue;
      path = g_strdup_printf ("/proc/%s/cmdline", entry);
      if (!g_file_get_contents (path, &cmdline, &length, NULL) || length == 0)
        continue;
      base = g_path_get_basename (cmdline);
      if (program && !g_str_equal (base, program))
        continue;
      /* From the first argument on: a process that retitles itself (sshd) has its whole command line
       * there. */
      for (gsize at = 0; at < length; at += strlen (cmdline + at) + 1)
        match |= strstr (cmdline + at, needle) != NULL;
      if (match)
        g_array_append_val (pids, pid);
    }
  return pids;
}

gboolean
vireo_test_processes_gone (gpointer data)
{
  const VireoTestProcessQuery *query = data;
  g_autoptr (GArray) pids = vireo_test_find_processes (query->program, query->needle);
  return pids->len == 0;
}

/* Sends @signal to every matching process; TRUE when none is left within @seconds. */
gboolean
vireo_test_signal_processes (const char *program, const char *needle, int signal_number, unsigned seconds)
{
  g_autoptr (GArray) pids = vireo_test_find_processes (program, needle);
  VireoTestProcessQuery query = { program, needle };

  for (guint i = 0; i < pids->len; i++)
    kill (g_array_index (pids, pid_t, i), signal_number);
  return vireo_test_wait_until (vireo_test_processes_gone, &query, seconds);
}

void
vireo_test_remove_tree (const char *path)
{
  g_autoptr (GFile) file = g_file_new_for_path (path);
  g_autoptr (GFileEnumerator) children = g_file_enumerate_children (
      file, G_FILE_ATTRIBUTE_STANDARD_NAME, G_FILE_QUERY_INFO_NOFOLLOW_SYMLINKS, NULL, NULL);
  GFileInfo *info;

  while (children && (info = g_file_enumerator_next_file (children, NULL, NULL)))
    {
      g_autoptr (GFileInfo) owned = info;
      g_autofree char *child = g_build_filename (path, g_file_info_get_name (info), NULL);
      if (g_file_test (child, G_FILE_TEST_IS_DIR) && !g_file_test (child, G_FILE_TEST_IS_SYMLINK))
        vireo_test_remove_tree (child);
      else
        g_unlink (child);
    }
  g_rmdir (path);
}

gboolean
vireo_test_user_can_run (uid_t uid, gid_t gid, const char *path, ...)
{
  va_list args;

  va_start (args, path);
  for (const char *p = path; p; p = va_arg (args, const char *))
    {
      int status = 0;
      pid_t pid = fork ();

      g_assert_cmpint (pid, >=, 0);
      if (pid == 0)
        {
          if (setgroups (0, NULL) < 0 || setgid (gid) < 0 || setuid (uid) < 0)
            _exit (2);
          _exit (access (p, X_OK) == 0 ? 0 : 1);
        }
      g_assert_cmpint (waitpid (pid, &status, 0), ==, pid);
      if (!WIFEXITED (status) || WEXITSTATUS (status) != 0)
        {
          g_autofree char *why = g_strdup_printf (
              "uid %u cannot %s %s (is the build tree inside a folder "
              "only its owner may enter?)",
              (unsigned) uid,
              WIFEXITED (status) && WEXITSTATUS (status) == 2 ? "be switched to in order to run" : "run", p);
          g_test_skip (why);
          va_end (args);
          return FALSE;
        }
    }
  va_end (args);
  return TRUE;
}

int
vireo_test_run_judge (const char *const *argv, char **out)
{
  int status;

  if (!g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_SEARCH_PATH | G_SPAWN_STDERR_TO_DEV_NULL, NULL, NULL,
                     out, NULL, &status, NULL))
    return -1;
  return WIFEXITED (status) ? WEXITSTATUS (status) : -1;
}

gboolean
vireo_test_make_iso (const char *dir, const char *path, const char *volume)
{
  g_autofree char *content = g_build_filename (dir, volume, NULL);
  g_autofree char *file = g_build_filename (content, "readme.txt", NULL);
  const char *argv[] = { "xorriso", "-as", "mkisofs", "-V", volume, "-o", path, content, NULL };

  if (g_mkdir_with_parents (content, 0700) < 0 || !g_file_set_contents (file, volume, -1, NULL))
    return FALSE;
  return vireo_test_run_judge (argv, NULL) == 0;
}

void
vireo_test_restore_echo_guest (const HvMachineSpec *spec, int dir_fd)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *output = NULL;
  VireoTestGuest guest;
  HvExitInfo info = { 0 };

  vireo_test_guest_init (&guest, 128ull << 20, 1);
  g_assert_true (hv_vm_apply_spec (guest.vm, spec, &error));
  hv_vm_set_serial (guest.vm, guest.input_pipe[0], guest.output_fd);
  g_assert_true (hv_vm_set_restore (guest.vm, dir_fd, &error));
  g_assert_no_error (error);
  g_assert_true (hv_vm_start (guest.vm, &error));
  g_assert_no_error (error);
  g_assert_cmpint (write (guest.input_pipe[1], "after q", 7), ==, 7);
  hv_vm_wait (guest.vm, &info);
  g_assert_cmpint (info.reason, ==, HV_EXIT_POWER_OFF);
  hv_exit_info_clear (&info);
  output = vireo_test_guest_output (&guest);
  g_assert_cmpstr (output, ==, "after echo done\n");
  vireo_test_guest_clear (&guest);
}

VireoTestRun
vireo_test_run_vireo_run (const char *aio, const char *const *args)
{
  g_autoptr (GSubprocessLauncher) launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE
                                                                        | G_SUBPROCESS_FLAGS_STDERR_PIPE);
  g_autoptr (GPtrArray) argv = g_ptr_array_new ();
  g_autoptr (GSubprocess) proc = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (GBytes) out = NULL;
  g_autoptr (GBytes) err = NULL;
  VireoTestRun r = { 0 };

  if (aio)
    g_subprocess_launcher_setenv (launcher, "VIREO_AIO", aio, TRUE);
  g_ptr_array_add (argv, (char *) vireo_test_vireo_run ());
  for (; *args; args++)
    g_ptr_array_add (argv, (char *) *args);
  g_ptr_array_add (argv, NULL);
  proc = g_subprocess_launcher_spawnv (launcher, (const char *const *) argv->pdata, &error);
  g_assert_no_error (error);
  g_assert_true (g_subprocess_communicate (proc, NULL, NULL, &out, &err, &error));
  g_assert_no_error (error);
  g_assert_true (g_subprocess_get_if_exited (proc));
  r.status = g_subprocess_get_exit_status (proc);
  r.out = g_strndup (g_bytes_get_size (out) ? g_bytes_get_data (out, NULL) : "", g_bytes_get_size (out));
  r.err = g_strndup (g_bytes_get_size (err) ? g_bytes_get_data (err, NULL) : "", g_bytes_get_size (err));
  g_test_message ("exit %d\nstdout: %s\nstderr: %s", r.status, r.out, r.err);
  return r;
}

void
vireo_test_run_clear (VireoTestRun *run)
{
  g_free (run->out);
  g_free (run->err);
}

void
vireo_test_assert_one_line_error (const VireoTestRun *run, const char *path, const char *needle)
{
  g_assert_true (g_str_has_prefix (run->err, "vireo-run: "));
  g_assert_nonnull (strstr (run->err, path));
  g_assert_nonnull (strstr (run->err, needle));
  g_assert_cmpstr (strchr (run->err, '\n') + 1, ==, "");
}

gboolean
vireo_test_require_programs (const char *const *programs)
{
  for (; *programs; programs++)
    {
      g_autofree char *path = g_find_program_in_path (*programs);
      if (path == NULL)
        {
          g_test_skip_printf ("%s is not installed", *programs);
          return FALSE;
        }
    }
  return TRUE;
}
