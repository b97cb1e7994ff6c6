/* test-disk-crash.c — crash safety of the disk path, end to end: 50 trials, each a vireo-run running the
 * flush-writer guest (tests/guests/flush-writer.c) on a fresh image — qcow2 of several cluster sizes with
 * direct I/O or the page cache, raw, a driver that does not negotiate FLUSH, the thread-pool aio engine
 * on four queues — killed with SIGKILL at a random moment while the guest writes
 * and flushes.  Afterwards qemu-img check finds no corruption (leaked clusters are allowed: that is what a
 * crash may leave) and qemu-io reads back every write the guest reported flushed.
 *
 * A trial takes about a second; --seed reproduces the moments chosen. */
#include "test-util.h"

#include "guests/flush-writer.h"

#include <gio/gio.h>
#include <gio/gunixinputstream.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define TRIALS        50
#define IMAGE_MIB     64
#define START_TIMEOUT (30 * G_USEC_PER_SEC)
#define READS_PER_RUN 1000 /* qemu-io commands per invocation */

typedef struct
{
  const char *name;
  const char *format;
  const char *create_options; /* qemu-img -o; NULL for raw */
  const char *disk_options;   /* appended to --disk */
  const char *cmdline;        /* the guest's */
  const char *aio;            /* VIREO_AIO: the aio engine (NULL: the default, io_uring where it works) */
} Variant;

static const Variant variants[] = {
  { "qcow2 64 KiB clusters, direct I/O", "qcow2", "cluster_size=65536", "", "", NULL },
  { "qcow2 4 KiB clusters, direct I/O", "qcow2", "cluster_size=4096", "", "", NULL },
  { "qcow2 v2 512-byte clusters", "qcow2", "compat=0.10,cluster_size=512", "", "", NULL },
  { "qcow2 64 KiB clusters, page cache", "qcow2", "cluster_size=65536", ",cache=writeback", "", NULL },
  { "raw", "raw", NULL, "", "", NULL },
  /* A driver without FLUSH: every completed write must be stable. */
  { "qcow2 64 KiB clusters, FLUSH not negotiated", "qcow2", "cluster_size=65536", "", "noflush=1", NULL },
  /* The thread-pool engine (where io_uring is not allowed), on four queues. */
  { "qcow2 4 KiB clusters, thread pool, 4 queues", "qcow2", "cluster_size=4096", ",queues=4", "", "threads" },
};

typedef struct
{
  unsigned flushed; /* the last "flushed S" the guest printed */
  gboolean started;
  gboolean failed; /* the guest printed FAIL */
  gint64 killed_after_us;
  int check_status;
} Trial;

/* Runs a qemu tool; its exit status (-1 when it did not exit), stdout and stderr in *@out. */
static int
run_tool (const char *const *argv, char **out)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *stdout_text = NULL;
  g_autofree char *stderr_text = NULL;
  int status;

  g_assert_true (g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, &stdout_text,
                               &stderr_text, &status, &error));
  g_assert_no_error (error);
  *out = g_strconcat (stdout_text, stderr_text, NULL);
  return WIFEXITED (status) ? WEXITSTATUS (status) : -1;
}

/* run_tool, for a judge of the image a killed VMM held: the kernel may release its file (and so its
 * locks) a moment after the process is reaped (io_uring drops its files asynchronously), so a judge
 * refused the lock tries again for a few seconds. */
static int
run_judge (const char *const *argv, char **out)
{
  gint64 deadline = g_get_monotonic_time () + 10 * G_USEC_PER_SEC;

  for (;;)
    {
      int status = run_tool (argv, out);

      if (status == 0 || strstr (*out, "lock") == NULL || g_get_monotonic_time () > deadline)
        return status;
      g_test_message ("%s: the image is still locked: trying again", argv[0]);
      g_clear_pointer (out, g_free);
      g_usleep (50 * 1000);
    }
}

static void
parse_output (const char *text, Trial *trial)
{
  g_auto (GStrv) lines = g_strsplit (text, "\n", -1);
  guint n = g_strv_length (lines);

  /* The last piece has no newline yet: a line cut by the kill does not count. */
  for (guint i = 0; i + 1 < n; i++)
    {
      unsigned seq;

      if (g_str_has_prefix (lines[i], "flush-writer: start"))
        trial->started = TRUE;
      else if (strstr (lines[i], "FAIL") != NULL)
        trial->failed = TRUE;
      else if (sscanf (lines[i], "flushed %u", &seq) == 1)
        trial->flushed = seq;
    }
}

/* Boots the guest on @image and kills the VMM @kill_after_us after the guest starts writing. */
static void
run_and_kill (const char *image, const Variant *variant, gint64 kill_after_us, Trial *trial)
{
  g_autoptr (GSubprocessLauncher) launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE
                                                                        | G_SUBPROCESS_FLAGS_STDERR_SILENCE);
  g_autofree char *kernel = vireo_test_guest_path ("flush-writer");
  g_autofree char *disk = g_strdup_printf ("%s,format=%s%s", image, variant->format, variant->disk_options);
  const char *argv[] = { vireo_test_vireo_run (), "--memory", "64M", "--kernel", kernel, "--cmdline",
                         variant->cmdline,        "--disk",   disk,  NULL };
  g_autoptr (GSubprocess) proc = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (GString) out = g_string_new (NULL);
  gint64 begin = g_get_monotonic_time (), started_at = 0;
  int fd;

  if (variant->aio != NULL)
    g_subprocess_launcher_setenv (launcher, "VIREO_AIO", variant->aio, TRUE);
  proc = g_subprocess_launcher_spawnv (launcher, argv, &error);
  g_assert_no_error (error);
  fd = g_unix_input_stream_get_fd (G_UNIX_INPUT_STREAM (g_subprocess_get_stdout_pipe (proc)));
  g_assert_cmpint (fcntl (fd, F_SETFL, fcntl (fd, F_GETFL) | O_NONBLOCK), ==, 0);

  for (;;)
    {
      gint64 now = g_get_monotonic_time (), deadline;
      struct pollfd pfd = { fd, POLLIN, 0 };
      char chunk[4096];
      ssize_t n;

      if (!trial->started && strstr (out->str, "flush-writer: start") != NULL)
        {
          trial->started = TRUE;
          started_at = now;
        }
      if (trial->started && now - started_at >= kill_after_us)
        break;
      if (!trial->started && now - begin > START_TIMEOUT)
        g_error ("the flush-writer guest did not start within %d s: %s", START_TIMEOUT / G_USEC_PER_SEC,
                 out->str);
      deadline = trial->started ? started_at + kill_after_us : begin + START_TIMEOUT;
      if (poll (&pfd, 1, (int) MAX ((deadline - now) / 1000, 1)) < 0 && errno != EINTR)
        g_error ("poll: %s", g_strerror (errno));
      n = read (fd, chunk, sizeof chunk);
      if (n > 0)
        g_string_append_len (out, chunk, n);
      else if (n == 0)
        break; /* the guest finished (or vireo-run died) before the kill */
      else if (errno != EAGAIN && errno != EINTR)
        g_error ("reading vireo-run's output: %s", g_strerror (errno));
    }
  trial->killed_after_us = g_get_monotonic_time () - (started_at ? started_at : begin);
  g_subprocess_send_signal (proc, SIGKILL);
  g_assert_true (g_subprocess_wait (proc, NULL, NULL));
  /* What it wrote before it died is still in the pipe. */
  g_assert_cmpint (fcntl (fd, F_SETFL, fcntl (fd, F_GETFL) & ~O_NONBLOCK), ==, 0);
  for (;;)
    {
      char chunk[4096];
      ssize_t n = read (fd, chunk, sizeof chunk);

      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        break;
      g_string_append_len (out, chunk, n);
    }
  trial->started = FALSE;
  parse_output (out->str, trial);
  if (!trial->started || trial->failed)
    g_error ("flush-writer (%s): %s", variant->name, out->str);
}

/* Every write up to @flushed reads back as the guest wrote it, as qemu-io sees the image. */
static void
check_flushed_writes (const char *image, const Variant *variant, unsigned flushed)
{
  for (unsigned first = 1; first <= flushed; first += READS_PER_RUN)
    {
      unsigned last = MIN (flushed, first + READS_PER_RUN - 1);
      g_autoptr (GPtrArray) argv = g_ptr_array_new_with_free_func (g_free);
      g_autofree char *out = NULL;
      g_autofree char *expected = NULL;
      guint reads = 0;
      const char *p;
      int status;

      g_ptr_array_add (argv, g_strdup ("qemu-io"));
      g_ptr_array_add (argv, g_strdup ("-r"));
      g_ptr_array_add (argv, g_strdup ("-f"));
      g_ptr_array_add (argv, g_strdup (variant->format));
      for (unsigned seq = first; seq <= last; seq++)
        {
          g_ptr_array_add (argv, g_strdup ("-c"));
          g_ptr_array_add (argv, g_strdup_printf ("read -P 0x%02x %" G_GUINT64_FORMAT " %u",
                                                  FLUSH_WRITER_BYTE (seq),
                                                  (uint64_t) FLUSH_WRITER_SLOT (seq) * FLUSH_WRITER_BYTES,
                                                  FLUSH_WRITER_BYTES));
        }
      g_ptr_array_add (argv, g_strdup (image));
      g_ptr_array_add (argv, NULL);
      status = run_judge ((const char *const *) argv->pdata, &out);
      if (status != 0 || strstr (out, "Pattern verification failed") != NULL)
        g_error ("a write the guest was told is flushed (one of %u-%u) did not read back (%s, qemu-io exit "
                 "%d): %s",
                 first, last, variant->name, status, out);
      expected = g_strdup_printf ("read %u/%u bytes", FLUSH_WRITER_BYTES, FLUSH_WRITER_BYTES);
      for (p = strstr (out, expected); p != NULL; p = strstr (p + 1, expected))
        reads++;
      g_assert_cmpuint (reads, ==, last - first + 1);
    }
}

static void
test_kill_while_writing (void)
{
  g_autofree char *qemu_img = g_find_program_in_path ("qemu-img");
  g_autofree char *qemu_io = g_find_program_in_path ("qemu-io");
  g_autoptr (GError) error = NULL;
  g_autofree char *dir = NULL;
  unsigned with_writes = 0, leaked = 0;

  if (!vireo_test_require_kvm ())
    return;
  if (qemu_img == NULL || qemu_io == NULL)
    {
      g_test_skip ("qemu-img and qemu-io are not installed (Debian: qemu-utils)");
      return;
    }
  /* A disk file system (direct I/O), not tmpfs. */
  dir = g_dir_make_tmp ("vireo-crash-XXXXXX", &error);
  g_assert_no_error (error);

  for (unsigned i = 0; i < TRIALS; i++)
    {
      const Variant *variant = &variants[i % G_N_ELEMENTS (variants)];
      g_autofree char *image = g_strdup_printf ("%s/trial-%u.%s", dir, i, variant->format);
      g_autofree char *out = NULL;
      /* From before the first flush to well into the run. */
      gint64 kill_after_us = g_test_rand_int_range (5, 1500) * G_GINT64_CONSTANT (1000);
      Trial trial = { 0 };

      if (variant->create_options != NULL)
        {
          g_autofree char *size = g_strdup_printf ("%uM", IMAGE_MIB);
          const char *argv[] = { "qemu-img", "create", "-q", "-f", "qcow2", "-o", variant->create_options,
                                 image,      size,     NULL };
          g_assert_cmpint (run_tool (argv, &out), ==, 0);
          g_clear_pointer (&out, g_free);
        }
      else
        {
          int fd = open (image, O_RDWR | O_CREAT | O_CLOEXEC, 0600);

          g_assert_cmpint (fd, >=, 0);
          g_assert_cmpint (ftruncate (fd, (off_t) IMAGE_MIB << 20), ==, 0);
          close (fd);
        }

      run_and_kill (image, variant, kill_after_us, &trial);
      trial.check_status = 0;
      if (variant->create_options != NULL)
        {
          const char *argv[] = { "qemu-img", "check", image, NULL };

          /* 0 clean, 3 leaked clusters only; 2 is corruption, 1 a check that could not run. */
          trial.check_status = run_judge (argv, &out);
          if (trial.check_status != 0 && trial.check_status != 3)
            g_error ("trial %u (%s), killed %" G_GINT64_FORMAT
                     " ms after the start: qemu-img check exit %d: %s",
                     i, variant->name, trial.killed_after_us / 1000, trial.check_status, out);
          g_clear_pointer (&out, g_free);
        }
      check_flushed_writes (image, variant, trial.flushed);
      g_test_message ("trial %u (%s): killed %" G_GINT64_FORMAT " ms after the start, %u writes flushed, "
                      "qemu-img check exit %d",
                      i, variant->name, trial.killed_after_us / 1000, trial.flushed, trial.check_status);
      with_writes += trial.flushed > 0;
      leaked += trial.check_status == 3;
      g_assert_no_errno (unlink (image));
    }
  g_test_message ("%u of %u trials were killed after flushed writes; %u left leaked clusters", with_writes,
                  TRIALS, leaked);
  /* Most kills must land while the guest writes, or the test proves nothing. */
  g_assert_cmpuint (with_writes, >=, TRIALS / 2);
  vireo_test_remove_tree (dir);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/slow/disk/kill-9-while-writing", test_kill_while_writing);
  return g_test_run ();
}
