/* test-linux-boot.c — the slow suite: a stock Debian kernel booted by vireo-run (through PVH and through the
 * bzImage 64-bit protocol) judges our platform code by what it prints: the command line it received, the
 * e820 map, the ACPI tables and their checksums, the CPUs in the MADT, the IOAPIC and the timer.
 *
 * Where the host runs guest ring 0 on real VT-x/AMD-V the kernel boots to the initramfs, which reports the
 * CPU count and powers off through ACPI.  Where guest ring 0 is emulated (see "This machine" in
 * ARCHITECTURE.md) the kernel cannot get past its int3 self-test; everything above is printed before it,
 * so the test verifies early boot and says which case applied. */
#include "linux-boot.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <sys/file.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

static void
output_line_free (gpointer data)
{
  OutputLine *line = data;
  g_free (line->text);
  g_free (line);
}

static void
push_line (Reader *reader, GString *text, gint64 time)
{
  OutputLine *line = g_new0 (OutputLine, 1);
  if (text->len > 0 && text->str[text->len - 1] == '\r')
    g_string_truncate (text, text->len - 1);
  line->text = g_strndup (text->str, text->len);
  line->time = time;
  line->is_stderr = reader->is_stderr;
  g_async_queue_push (reader->queue, line);
  g_string_truncate (text, 0);
}

/* Splits a stream into lines stamped with the arrival of their first byte, so a line that takes minutes to
 * complete (nothing in between) is still timed from when it began. */
static gpointer
reader_thread (gpointer data)
{
  Reader *reader = data;
  g_autoptr (GString) text = g_string_new (NULL);
  gint64 line_time = 0;
  char buffer[4096];

  for (;;)
    {
      ssize_t n = read (reader->fd, buffer, sizeof buffer);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        break;
      for (ssize_t i = 0; i < n; i++)
        {
          if (text->len == 0 && line_time == 0)
            line_time = g_get_monotonic_time ();
          if (buffer[i] == '\n')
            {
              push_line (reader, text, line_time);
              line_time = 0;
            }
          else if (buffer[i] != '\0')
            g_string_append_c (text, buffer[i]);
        }
    }
  if (text->len > 0)
    push_line (reader, text, line_time);

  OutputLine *end = g_new0 (OutputLine, 1);
  end->is_stderr = reader->is_stderr;
  end->time = g_get_monotonic_time ();
  g_async_queue_push (reader->queue, end);
  return NULL;
}

/* ---- running vireo-run ------------------------------------------------------------------------------- */

/* The one place that decides how the kernel is started. */
static GStrv
build_command (const Boot *boot)
{
  g_autoptr (GStrvBuilder) argv = g_strv_builder_new ();
  g_autofree char *cpus = g_strdup_printf ("%u", N_CPUS);

  g_strv_builder_add (argv, vireo_test_vireo_run ());
  if (boot->cdrom)
    g_strv_builder_add_many (argv, "--cdrom", boot->cdrom, NULL);
  else if (boot->disk)
    {
      /* No --kernel: vireo-run boots its firmware (SeaBIOS) from the disk. */
      g_autofree char *disk = g_strconcat (boot->disk, ",format=raw,readonly=on", NULL);
      g_strv_builder_add_many (argv, "--disk", disk, NULL);
    }
  else
    g_strv_builder_add_many (argv, "--kernel", boot->kernel, "--initrd", boot->initrd, "--cmdline",
                             boot->cmdline, NULL);
  g_strv_builder_add_many (argv, "--memory", MEMORY_ARG, "--cpus", cpus, "--cpuid-mask=-cx16", "--serial",
                           "stdio", NULL);
  return g_strv_builder_end (argv);
}

static void
child_setup (gpointer data)
{
  /* If the test dies (a timeout kill, an abort), the VM must not live on. */
  prctl (PR_SET_PDEATHSIG, SIGKILL);
}

static gboolean
boot_spawn (Boot *boot, GError **error)
{
  g_auto (GStrv) argv = build_command (boot);
  g_autofree char *shown = g_strjoinv (" ", argv);
  int out_fd, err_fd;

  g_test_message ("running: %s", shown);
  if (!g_spawn_async_with_pipes (NULL, argv, NULL, G_SPAWN_DO_NOT_REAP_CHILD, child_setup, NULL, &boot->pid,
                                 &boot->stdin_fd, &out_fd, &err_fd, error))
    return FALSE;

  boot->start = g_get_monotonic_time ();
  boot->last_output = boot->start;
  boot->last_step_time = boot->start;
  boot->readers[0] = (Reader){ out_fd, FALSE, boot->queue };
  boot->readers[1] = (Reader){ err_fd, TRUE, boot->queue };
  boot->threads[0] = g_thread_new ("serial reader", reader_thread, &boot->readers[0]);
  boot->threads[1] = g_thread_new ("stderr reader", reader_thread, &boot->readers[1]);
  boot->open_streams = 2;
  return TRUE;
}

static gboolean
boot_reap (Boot *boot, gboolean wait)
{
  if (!boot->exited && boot->pid > 0)
    {
      pid_t r;
      do
        r = waitpid (boot->pid, &boot->wait_status, wait ? 0 : WNOHANG);
      while (r < 0 && errno == EINTR);
      if (r == boot->pid)
        boot->exited = TRUE;
    }
  return boot->exited;
}

/* SIGTERM first (vireo-run presses the power button, which a stuck kernel ignores), then SIGKILL. */
static void
boot_stop (Boot *boot)
{
  if (boot->pid <= 0 || boot_reap (boot, FALSE))
    return;
  kill (boot->pid, SIGTERM);
  for (int i = 0; i < 50 && !boot_reap (boot, FALSE); i++)
    g_usleep (100 * 1000);
  if (!boot->exited)
    {
      kill (boot->pid, SIGKILL);
      boot_reap (boot, TRUE);
    }
}

static double
seconds_since_start (Boot *boot, gint64 time)
{
  return (time - boot->start) / 1e6;
}

static void
report_step (Boot *boot, const char *phase, gint64 time)
{
  g_test_message ("%-36s at %7.1f s (+%6.1f s)", phase, seconds_since_start (boot, time),
                  (time - boot->last_step_time) / 1e6);
  boot->last_step_time = time;
}

static gboolean
check_forbidden (const char *line, GError **error)
{
  for (unsigned i = 0; i < forbidden_lines_count; i++)
    if (strstr (line, forbidden_lines[i]))
      {
        g_set_error (error, TEST_ERROR, TEST_ERROR_FAILED, "the kernel complained: \"%s\"", line);
        return FALSE;
      }
  return TRUE;
}

static gboolean
handle_serial_line (Boot *boot, const OutputLine *line, GError **error)
{
  g_ptr_array_add (boot->serial, g_strdup (line->text));
  if (!check_forbidden (line->text, error))
    return FALSE;

  if (boot->in_e820)
    {
      if (strstr (line->text, "BIOS-e820: "))
        return parse_e820_line (boot, line->text, error);
      boot->in_e820 = FALSE;
      if (!check_e820 (boot, error))
        return FALSE;
      report_step (boot, boot->steps[boot->step].phase, line->time);
      boot->step++;
    }

  if (boot->step >= boot->n_steps)
    return TRUE;
  switch (boot->steps[boot->step].match (boot, line->text, error))
    {
    case STEP_FAIL:
      return FALSE;
    case STEP_MATCH:
      report_step (boot, boot->steps[boot->step].phase, line->time);
      boot->step++;
      return TRUE;
    case STEP_NO_MATCH:
    default:
      return TRUE;
    }
}

/* How the run ended once early boot was seen. */
typedef enum
{
  END_POWERED_OFF,    /* reached userspace and powered off: real VT */
  END_EMULATED_RING0, /* stopped at the int3 self-test: ring 0 is emulated on this host */
} BootEnd;

static gboolean
boot_finish (Boot *boot, const char *why, BootEnd *end, GError **error)
{
  if (boot->step < boot->n_early)
    {
      g_set_error (error, TEST_ERROR, TEST_ERROR_FAILED, "%s before the kernel printed what proves \"%s\"",
                   why, boot->steps[boot->step].phase);
      return FALSE;
    }
  if (boot->step == boot->n_steps)
    {
      if (!boot->exited)
        {
          g_set_error (error, TEST_ERROR, TEST_ERROR_FAILED, "%s after userspace ran, without powering off",
                       why);
          return FALSE;
        }
      if (!WIFEXITED (boot->wait_status) || WEXITSTATUS (boot->wait_status) != 0)
        {
          g_set_error (error, TEST_ERROR, TEST_ERROR_FAILED,
                       "userspace ran `poweroff -f`, but vireo-run ended with wait status 0x%x, not exit 0",
                       boot->wait_status);
          return FALSE;
        }
      *end = END_POWERED_OFF;
      return TRUE;
    }
  if (boot->step > boot->n_early)
    {
      g_set_error (error, TEST_ERROR, TEST_ERROR_FAILED,
                   "%s after the kernel got past its int3 self-test but "
                   "before it printed what proves \"%s\"",
                   why, boot->steps[boot->step].phase);
      return FALSE;
    }
  /* Early boot is done and the kernel got no further: the int3 self-test is next.  vireo-run either reports
   * the emulation failure (exit 5) or the kernel sits there silently. */
  if (boot->exited && !boot->stopped
      && !(WIFEXITED (boot->wait_status) && WEXITSTATUS (boot->wait_status) == 5))
    {
      g_set_error (error, TEST_ERROR, TEST_ERROR_FAILED,
                   "%s right before the int3 self-test with wait status 0x%x (expected exit 5, an emulation "
                   "failure, or a hang)",
                   why, boot->wait_status);
      return FALSE;
    }
  *end = END_EMULATED_RING0;
  return TRUE;
}

static gboolean
boot_watch (Boot *boot, BootEnd *end, GError **error)
{
  gint64 deadline = boot->start + (gint64) HARD_TIMEOUT_S * G_USEC_PER_SEC;

  for (;;)
    {
      g_autoptr (GError) local_error = NULL;
      OutputLine *line = g_async_queue_timeout_pop (boot->queue, 250 * 1000);
      gint64 now = g_get_monotonic_time ();

      if (line != NULL)
        {
          gboolean ok = TRUE;
          if (line->text == NULL)
            boot->open_streams--;
          else if (line->is_stderr)
            g_string_append_printf (boot->errors, "%s\n", line->text);
          else
            {
              boot->last_output = now;
              ok = handle_serial_line (boot, line, &local_error);
            }
          output_line_free (line);
          if (!ok)
            {
              g_propagate_error (error, g_steal_pointer (&local_error));
              return FALSE;
            }
          continue; /* drain what is queued before judging the state */
        }

      boot_reap (boot, FALSE);
      if (boot->exited && boot->open_streams == 0)
        {
          g_autofree char *why = g_strdup_printf ("vireo-run exited (wait status 0x%x)", boot->wait_status);
          return boot_finish (boot, why, end, error);
        }
      if (boot->step == boot->n_early && now - boot->last_output > (gint64) SILENCE_S * G_USEC_PER_SEC)
        {
          g_autofree char *why = g_strdup_printf ("the kernel fell silent for %d s", SILENCE_S);
          report_step (boot, "silence (int3 self-test hang)", now);
          boot_stop (boot);
          boot->stopped = TRUE;
          return boot_finish (boot, why, end, error);
        }
      if (now > deadline)
        {
          g_set_error (error, TEST_ERROR, TEST_ERROR_TIMED_OUT,
                       "timed out after %d s waiting for the kernel to print what proves \"%s\"",
                       HARD_TIMEOUT_S,
                       boot->step < boot->n_steps ? boot->steps[boot->step].phase : "power-off");
          return FALSE;
        }
    }
}

static void
boot_clear (Boot *boot)
{
  boot_stop (boot);
  if (boot->stdin_fd >= 0)
    close (boot->stdin_fd);
  for (unsigned i = 0; i < G_N_ELEMENTS (boot->threads); i++)
    if (boot->threads[i])
      {
        g_thread_join (boot->threads[i]);
        close (boot->readers[i].fd);
      }
  g_clear_pointer (&boot->queue, g_async_queue_unref);
  g_clear_pointer (&boot->serial, g_ptr_array_unref);
  if (boot->errors)
    g_string_free (boot->errors, TRUE);
  g_clear_pointer (&boot->e820, g_array_unref);
  g_free (boot->cmdline);
}

/* ---- the image and the test cases -------------------------------------------------------------------- */

/* Runs an image script under a lock: the tests run as processes side by side, and the second must wait
 * for the first rather than build the same files at once.  Its output goes into the test log as comments
 * (bare lines would break the TAP stream). */
static void
run_image_script (const char *const *argv, const char *lock_file, int *wait_status)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *output = NULL;
  g_autofree char *output_err = NULL;
  int lock = open (lock_file, O_RDWR | O_CREAT | O_CLOEXEC, 0600);

  if (lock < 0 || flock (lock, LOCK_EX) < 0)
    g_error ("cannot lock %s: %s", lock_file, g_strerror (errno));
  if (!g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_DEFAULT, NULL, NULL, &output, &output_err,
                     wait_status, &error))
    g_error ("cannot run %s: %s", argv[0], error->message);
  close (lock);
  if (*output)
    g_test_message ("%s", g_strstrip (output));
  if (*output_err)
    g_test_message ("%s", g_strstrip (output_err));
}

/* Builds (or finds current) the Linux test image with make-linux-image.sh.  The script runs here, when a
 * slow test runs, rather than as a build target, so that an ordinary build never fetches a kernel. */
static gboolean
require_image (void)
{
  const char *script = g_getenv ("VIREO_SLOW_IMAGE_SCRIPT");
  g_autofree char *dir = g_test_build_filename (G_TEST_BUILT, "slow", "linux", NULL);
  g_autofree char *status_file = g_test_build_filename (G_TEST_BUILT, "slow", "linux-image.status", NULL);
  g_autofree char *lock_file = g_strconcat (status_file, ".lock", NULL);
  g_autofree char *status = NULL;
  g_autoptr (GError) error = NULL;
  const char *argv[] = { script, "--status", status_file, dir, NULL };
  int wait_status;

  if (script == NULL)
    {
      g_test_skip ("VIREO_SLOW_IMAGE_SCRIPT is not set: run the slow suite through meson test");
      return FALSE;
    }
  g_test_message ("building or checking the Linux test image in %s", dir);
  run_image_script (argv, lock_file, &wait_status);

  if (!g_file_get_contents (status_file, &status, NULL, &error))
    {
      g_autofree char *why = g_strdup_printf ("the Linux test image was not built (%s)", error->message);
      g_test_skip (why);
      return FALSE;
    }
  g_strstrip (status);
  if (strcmp (status, "ok") != 0)
    {
      g_autofree char *why = g_strdup_printf ("the Linux test image could not be built: "
                                              "tests/slow/make-linux-image.sh said \"%s\"",
                                              status);
      g_test_skip (why);
      return FALSE;
    }
  return TRUE;
}

/* The GRUB disk and CD (make-grub-images.sh) around the Linux test image; NULL (the test skipped, saying
 * why) when the image or GRUB's tools are missing. */
static char *
require_grub_images (void)
{
  const char *script = g_getenv ("VIREO_SLOW_GRUB_SCRIPT");
  g_autofree char *linux_dir = g_test_build_filename (G_TEST_BUILT, "slow", "linux", NULL);
  g_autofree char *dir = g_test_build_filename (G_TEST_BUILT, "slow", "grub", NULL);
  g_autofree char *lock_file = g_test_build_filename (G_TEST_BUILT, "slow", "grub-images.lock", NULL);
  const char *argv[] = { script, linux_dir, dir, CMDLINE, NULL };
  int wait_status;

  if (!require_image ())
    return NULL;
  if (script == NULL)
    {
      g_test_skip ("VIREO_SLOW_GRUB_SCRIPT is not set: run the slow suite through meson test");
      return NULL;
    }
  run_image_script (argv, lock_file, &wait_status);
  if (!g_spawn_check_wait_status (wait_status, NULL))
    {
      g_test_skip ("the GRUB images could not be built (tests/slow/make-grub-images.sh said why, above; "
                   "it needs the Debian packages grub-pc-bin, mtools and xorriso)");
      return NULL;
    }
  return g_steal_pointer (&dir);
}

/* Boots @boot (kernel, initrd or disk, and cmdline set) and judges what it prints. */
static void
run_boot (Boot *boot, const Step *prefix, unsigned n_prefix, const char *what)
{
  g_autoptr (GArray) all_steps = g_array_new (FALSE, FALSE, sizeof (Step));
  g_autoptr (GError) error = NULL;
  BootEnd end = END_EMULATED_RING0;

  g_array_append_vals (all_steps, prefix, n_prefix);
  g_array_append_vals (all_steps, boot_steps, boot_steps_count);
  boot->stdin_fd = -1;
  boot->queue = g_async_queue_new_full (output_line_free);
  boot->serial = g_ptr_array_new_with_free_func (g_free);
  boot->errors = g_string_new (NULL);
  boot->e820 = g_array_new (FALSE, FALSE, sizeof (E820Range));
  boot->steps = (const Step *) all_steps->data;
  boot->n_steps = all_steps->len;
  boot->n_early = count_early_steps (boot->steps, boot->n_steps);
  g_assert_cmpuint (boot->n_early, <, boot->n_steps);

  if (!boot_spawn (boot, &error) || !boot_watch (boot, &end, &error))
    {
      boot_stop (boot);
      g_autoptr (GString) tail = g_string_new (NULL);
      unsigned first = boot->serial->len > TAIL_LINES ? boot->serial->len - TAIL_LINES : 0;
      for (unsigned i = first; i < boot->serial->len; i++)
        g_string_append_printf (tail, "\n  | %s", (const char *) g_ptr_array_index (boot->serial, i));
      g_test_message ("last %u serial lines of %u:%s", boot->serial->len - first, boot->serial->len,
                      tail->str);
      if (boot->errors->len > 0)
        g_test_message ("vireo-run said:\n%s", boot->errors->str);
      g_test_fail_printf ("%s boot after %.1f s: %s", what,
                          seconds_since_start (boot, g_get_monotonic_time ()), error->message);
      boot_clear (boot);
      return;
    }

  if (end == END_POWERED_OFF)
    g_test_message (
        "guest ring 0 runs on hardware virtualization: the kernel booted to userspace, saw %u CPUs "
        "and powered off through ACPI",
        N_CPUS);
  else if (boot->stopped)
    g_test_message ("guest ring 0 is emulated on this host: the kernel stops at its int3 self-test, as "
                    "expected (it fell silent there for %d s and was stopped); early boot verified",
                    SILENCE_S);
  else
    g_test_message ("guest ring 0 is emulated on this host: the kernel stops at its int3 self-test, as "
                    "expected; early boot verified. vireo-run said: %s",
                    g_strchomp (boot->errors->str));
  g_assert_cmpuint (boot->step, >=, boot->n_early);
  boot_clear (boot);
}

static void
test_linux_boot (gboolean pvh)
{
  g_autofree char *kernel = NULL;
  g_autofree char *initrd = NULL;
  Boot boot = { 0 };

  if (!vireo_test_require_kvm () || !require_image ())
    return;

  kernel = g_test_build_filename (G_TEST_BUILT, "slow", "linux", pvh ? "vmlinux" : "bzImage", NULL);
  initrd = g_test_build_filename (G_TEST_BUILT, "slow", "linux", "initramfs.cpio.gz", NULL);
  boot.pvh = pvh;
  boot.kernel = kernel;
  boot.initrd = initrd;
  boot.cmdline = g_strdup (CMDLINE);
  run_boot (&boot, NULL, 0, pvh ? "PVH" : "bzImage");
}

static void
test_pvh (void)
{
  test_linux_boot (TRUE);
}

static void
test_bzimage (void)
{
  test_linux_boot (FALSE);
}

/* SeaBIOS boots GRUB from a virtio disk or from a CD-ROM (El Torito, on the AHCI controller); GRUB shows
 * its menu on COM1 and loads the kernel and initrd through int 13h; the kernel then gets our ACPI tables
 * and memory map through the firmware. */
static void
test_grub (gconstpointer data)
{
  const char *image = data;
  g_autofree char *dir = NULL;
  g_autofree char *path = NULL;
  Boot boot = { 0 };

  if (!vireo_test_require_kvm () || (dir = require_grub_images ()) == NULL)
    return;
  path = g_build_filename (dir, image, NULL);
  if (g_str_has_suffix (image, ".iso"))
    boot.cdrom = path;
  else
    boot.disk = path;
  boot.cmdline = g_strdup (GRUB_BOOT_ARGS CMDLINE);
  run_boot (&boot, firmware_boot_steps, firmware_boot_steps_count, image);
}

/* Cancels @data (a GCancellable, unreffed here) after HARD_TIMEOUT_S, or returns once it is cancelled. */
static gpointer
cancel_after_timeout (gpointer data)
{
  g_autoptr (GCancellable) cancel = data;

  for (unsigned i = 0; i < HARD_TIMEOUT_S * 4 && !g_cancellable_is_cancelled (cancel); i++)
    g_usleep (250 * 1000);
  g_cancellable_cancel (cancel);
  return NULL;
}

/* The test's own cross-check: the same image under QEMU (its SeaBIOS, its virtio disk or IDE CD-ROM) gets as
 * far as the kernel's first line, so a failure of test_grub is Vireo's and not the image's. */
static void
test_grub_qemu (gconstpointer data)
{
  const char *image = data;
  g_autofree char *qemu = g_find_program_in_path ("qemu-system-x86_64");
  g_autofree char *dir = NULL;
  g_autofree char *drive = NULL;
  g_autofree char *cpus = g_strdup_printf ("%u", N_CPUS);
  g_autoptr (GError) error = NULL;
  g_autoptr (GSubprocessLauncher) launcher = NULL;
  g_autoptr (GSubprocess) process = NULL;
  g_autoptr (GDataInputStream) lines = NULL;
  g_autoptr (GCancellable) cancel = g_cancellable_new ();
  GThread *watchdog;
  gboolean menu = FALSE, kernel = FALSE;

  if (qemu == NULL)
    {
      g_test_skip ("qemu-system-x86_64 is not installed (Debian package qemu-system-x86): no cross-check");
      return;
    }
  if (!vireo_test_require_kvm () || (dir = require_grub_images ()) == NULL)
    return;
  if (g_str_has_suffix (image, ".iso"))
    drive = g_strdup_printf ("file=%s/%s,media=cdrom,if=ide", dir, image);
  else
    drive = g_strdup_printf ("file=%s/%s,format=raw,if=virtio,readonly=on", dir, image);
  launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_MERGE
                                        | G_SUBPROCESS_FLAGS_STDIN_PIPE);
  g_subprocess_launcher_set_child_setup (launcher, child_setup, NULL, NULL);
  process = g_subprocess_launcher_spawn (
      launcher, &error, qemu, "-enable-kvm", "-machine", "pc", "-cpu", "host,-cx16", "-m", MEMORY_ARG, "-smp",
      cpus, "-display", "none", "-serial", "stdio", "-monitor", "none", "-no-reboot", "-drive", drive, NULL);
  g_assert_no_error (error);
  lines = g_data_input_stream_new (g_subprocess_get_stdout_pipe (process));
  watchdog = g_thread_new ("qemu watchdog", cancel_after_timeout, g_object_ref (cancel));
  for (;;)
    {
      g_autofree char *line = g_data_input_stream_read_line (lines, NULL, cancel, NULL);
      if (line == NULL)
        break;
      menu = menu || strstr (line, "GNU GRUB") != NULL;
      if (menu && strstr (line, "Linux version ") != NULL)
        {
          kernel = TRUE;
          break;
        }
    }
  g_subprocess_force_exit (process);
  g_subprocess_wait (process, NULL, NULL);
  g_cancellable_cancel (cancel);
  g_thread_join (watchdog);
  if (!menu)
    g_test_fail_printf ("QEMU never showed GRUB's menu from %s: the image is broken", image);
  else if (!kernel)
    g_test_fail_printf (
        "QEMU showed GRUB's menu but the kernel never printed its version: the image is broken");
  else
    g_test_message ("QEMU boots %s to the kernel too", image);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/slow/linux/pvh", test_pvh);
  g_test_add_func ("/slow/linux/bzimage", test_bzimage);
  g_test_add_data_func ("/slow/grub/disk", "grub-disk.img", test_grub);
  g_test_add_data_func ("/slow/grub/disk-qemu", "grub-disk.img", test_grub_qemu);
  g_test_add_data_func ("/slow/grub/cdrom", "grub-cd.iso", test_grub);
  g_test_add_data_func ("/slow/grub/cdrom-qemu", "grub-cd.iso", test_grub_qemu);
  return g_test_run ();
}
