/* frame-bench.c — the display benchmark: the frame path at 1920x1080 from a guest's full-screen
 * update to a SPICE client holding the pixels, for vireo-run and for QEMU (bochs-display + SPICE)
 * on the same guest (tests/guests/frames.c), one run each, printed side by side with ratios.
 *
 * The guest redraws the whole screen at a paced rate (fps=60 by default), every frame one colour
 * that encodes its number, and prints "f N" on serial when frame N is completely written.  A thread
 * here reads the VMM's stdout (the guest's COM1) and timestamps every line; a spice-client-glib
 * client on the VMM's socket decodes the frame number from the surface's bottom-right pixel (the
 * last one the guest writes) on every display-invalidate and timestamps the first time it sees each
 * frame.  Latency of frame N = client first sees N − host reads "f N".  Both timestamps are this
 * process's CLOCK_MONOTONIC; the serial line costs the guest a few port exits, so the latency is
 * short by that much (well under a millisecond here).  Nothing is asserted: a measurement tool. */
#include <errno.h>
#include <glib.h>
#include <gio/gunixinputstream.h>
#include <glib/gstdio.h>
#include <malloc.h>
#include <math.h>
#include <signal.h>
#include <spice-client.h>
#include <stdio.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#ifndef VIREO_BENCH_VIREO_RUN
#define VIREO_BENCH_VIREO_RUN "hypervisor/vireo-run"
#endif
#ifndef VIREO_BENCH_GUESTS_DIR
#define VIREO_BENCH_GUESTS_DIR "tests/guests"
#endif

#define WIDTH          1920
#define HEIGHT         1080
#define FRAME_MOD      4096 /* the guest's colour encodes the frame number modulo this */
#define MAX_FRAMES     (1 << 20)
#define NS_PER_S       G_GINT64_CONSTANT (1000000000)
#define NS_PER_MS      1e6
#define TARGET_FPS     60.0
#define TARGET_LATENCY (1000.0 / 60.0) /* ms: one 60 Hz frame */

typedef enum
{
  VMM_VIREO,
  VMM_QEMU,
  N_VMMS
} VmmId;

static const char *const vmm_names[N_VMMS] = { "vireo", "qemu" };

typedef enum
{
  M_GUEST_FPS,
  M_CLIENT_FPS,
  M_LAT_MEDIAN,
  M_LAT_P99,
  M_LAT_MAX,
  M_DROPPED,
  M_TORN,
  M_CPU,
  M_STARTUP,
  N_METRICS
} Metric;

typedef struct
{
  /* Written by the serial thread, read by the main thread. */
  GMutex lock;
  gint64 *serial_ns; /* [MAX_FRAMES]: when "f N" arrived, 0 = not yet */
  gint64 highest;    /* the highest N seen on serial, -1 = none */
  gint64 start_ns;   /* when "frames: start" arrived, 0 = not yet */
  gboolean eof;
  GString *other; /* every line that is not "f N", for reports */

  /* Main thread only. */
  gint64 *client_ns; /* [MAX_FRAMES]: when the client first saw frame N */
  gint64 last_seen;  /* the highest frame the client has seen, -1 = none */
  gint64 first_seen_ns;
  guint invalidates;
  guint torn; /* invalidates whose top-left and bottom-right pixels are different frames */
  SpiceSession *session;
  SpiceDisplayChannel *display;
} Run;

typedef struct
{
  char *vmm_path[N_VMMS]; /* NULL: not run */
  char *guests_dir;
  char *tmpdir;
  int fps;
  int seconds;
  int warmup;
  int timeout;
  double value[N_VMMS][N_METRICS];
  gboolean have[N_VMMS];
  char *failure[N_VMMS];
  char *command[N_VMMS];
} Bench;

static gint64
now_ns (void)
{
  struct timespec ts;

  clock_gettime (CLOCK_MONOTONIC, &ts);
  return (gint64) ts.tv_sec * NS_PER_S + ts.tv_nsec;
}

/* --- the guest's serial output, read by its own thread so that decoding in the client never
 *     delays a timestamp --- */

typedef struct
{
  Run *run;
  int fd;
} SerialReader;

static void
serial_line (Run *run, const char *line, gint64 t)
{
  if (line[0] == 'f' && line[1] == ' ')
    {
      char *end;
      guint64 n = g_ascii_strtoull (line + 2, &end, 10);

      if (end != line + 2 && *end == '\0' && n < MAX_FRAMES)
        {
          if (run->serial_ns[n] == 0)
            run->serial_ns[n] = t;
          run->highest = MAX (run->highest, (gint64) n);
        }
      return;
    }
  if (g_str_equal (line, "frames: start") && run->start_ns == 0)
    run->start_ns = t;
  if (run->other->len < 65536)
    g_string_append_printf (run->other, "%s\n", line);
}

static gpointer
serial_thread (gpointer data)
{
  SerialReader *reader = data;
  Run *run = reader->run;
  g_autoptr (GString) pending = g_string_new (NULL);
  char buf[4096];

  for (;;)
    {
      ssize_t got = read (reader->fd, buf, sizeof buf);
      gint64 t = now_ns ();
      char *nl;

      if (got < 0 && errno == EINTR)
        continue;
      if (got <= 0)
        break;
      g_string_append_len (pending, buf, got);
      g_mutex_lock (&run->lock);
      while ((nl = memchr (pending->str, '\n', pending->len)) != NULL)
        {
          *nl = '\0';
          if (nl > pending->str && nl[-1] == '\r')
            nl[-1] = '\0';
          serial_line (run, pending->str, t);
          g_string_erase (pending, 0, nl - pending->str + 1);
        }
      if (pending->len > 4096)
        g_string_truncate (pending, 0); /* a runaway line */
      g_mutex_unlock (&run->lock);
    }
  g_mutex_lock (&run->lock);
  run->eof = TRUE;
  g_mutex_unlock (&run->lock);
  g_free (reader);
  return NULL;
}

/* --- the SPICE client --- */

/* The frame number modulo FRAME_MOD, or -1 when the pixel is not one of the guest's frame colours
 * (black before the first frame).  The tolerance takes a lossy codec's small errors. */
static int
decode_pixel (uint32_t pixel)
{
  int n = 0;

  for (int shift = 16; shift >= 0; shift -= 8)
    {
      int c = (pixel >> shift) & 0xff;
      int low = c & 15;

      if (low < 4 || low > 12)
        return -1;
      n = n << 4 | c >> 4;
    }
  return n;
}

/* The frame number nearest to the guest's latest "f N" that has this residue. */
static gint64
unwrap (int residue, gint64 reference)
{
  gint64 d = ((residue - reference) % FRAME_MOD + FRAME_MOD + FRAME_MOD / 2) % FRAME_MOD - FRAME_MOD / 2;

  return reference + d;
}

static uint32_t
primary_pixel (const SpiceDisplayPrimary *primary, int x, int y)
{
  return *(const uint32_t *) (primary->data + (gsize) y * primary->stride + (gsize) x * 4) & 0xffffff;
}

static void
on_invalidate (SpiceChannel *channel, int x, int y, int width, int height, Run *run)
{
  gint64 t = now_ns ();
  SpiceDisplayPrimary primary;
  int last, first;
  gint64 reference, n;

  run->invalidates++;
  if (!spice_display_channel_get_primary (channel, 0, &primary) || primary.width != WIDTH
      || primary.height != HEIGHT || primary.data == NULL)
    return;
  last = decode_pixel (primary_pixel (&primary, WIDTH - 1, HEIGHT - 1));
  first = decode_pixel (primary_pixel (&primary, 0, 0));
  if (last < 0)
    return;
  if (first != last)
    run->torn++;

  g_mutex_lock (&run->lock);
  reference = run->highest;
  g_mutex_unlock (&run->lock);
  n = unwrap (last, MAX (reference, 0));
  if (n < 0 || n >= MAX_FRAMES || n <= run->last_seen)
    return;
  run->client_ns[n] = t;
  run->last_seen = n;
  if (run->first_seen_ns == 0)
    run->first_seen_ns = t;
}

static void
on_channel_new (SpiceSession *session, SpiceChannel *channel, Run *run)
{
  if (SPICE_IS_DISPLAY_CHANNEL (channel))
    {
      run->display = SPICE_DISPLAY_CHANNEL (channel);
      g_signal_connect (channel, "display-invalidate", G_CALLBACK (on_invalidate), run);
      spice_channel_connect (channel);
    }
}

static void
quiet_spice (const char *domain, GLogLevelFlags level, const char *message, gpointer data)
{
  /* The client warns when the server goes away at the end of a run; that is expected. */
}

/* --- one run --- */

static GPtrArray *
vmm_argv (const Bench *b, VmmId id, const char *socket_path)
{
  GPtrArray *argv = g_ptr_array_new_with_free_func (g_free);
  g_autofree char *elf = g_build_filename (b->guests_dir, "frames.elf", NULL);
  g_autofree char *cmdline = g_strdup_printf ("fps=%d", b->fps);

  g_ptr_array_add (argv, g_strdup (b->vmm_path[id]));
  if (id == VMM_VIREO)
    {
      g_ptr_array_add (argv, g_strdup ("-m"));
      g_ptr_array_add (argv, g_strdup ("128M"));
      g_ptr_array_add (argv, g_strdup ("-k"));
      g_ptr_array_add (argv, g_strdup (elf));
      g_ptr_array_add (argv, g_strdup ("-c"));
      g_ptr_array_add (argv, g_strdup (cmdline));
      g_ptr_array_add (argv, g_strdup ("--display"));
      g_ptr_array_add (argv, g_strconcat ("spice:", socket_path, NULL));
    }
  else
    {
      const char *args[] = {
        "-enable-kvm", "-cpu",        "qemu64",          "-machine",      "pc",    "-m",
        "128M",        "-nodefaults", "-no-user-config", "-display",      "none",  "-serial",
        "stdio",       "-no-reboot",  "-device",         "bochs-display", "-spice"
      };

      for (gsize i = 0; i < G_N_ELEMENTS (args); i++)
        g_ptr_array_add (argv, g_strdup (args[i]));
      g_ptr_array_add (argv, g_strdup_printf ("unix=on,addr=%s,disable-ticketing=on", socket_path));
      g_ptr_array_add (argv, g_strdup ("-kernel"));
      g_ptr_array_add (argv, g_strdup (elf));
      g_ptr_array_add (argv, g_strdup ("-append"));
      g_ptr_array_add (argv, g_strdup (cmdline));
    }
  g_ptr_array_add (argv, NULL);
  return argv;
}

static void
on_exited (GObject *source, GAsyncResult *result, gpointer data)
{
  g_subprocess_wait_finish (G_SUBPROCESS (source), result, NULL);
  *(gboolean *) data = TRUE;
}

/* user + system CPU time of @pid in seconds, or -1. */
static double
process_cpu (const char *pid)
{
  g_autofree char *path = g_strdup_printf ("/proc/%s/stat", pid);
  g_autofree char *text = NULL;
  unsigned long utime, stime;
  const char *p;

  if (!g_file_get_contents (path, &text, NULL, NULL) || (p = strrchr (text, ')')) == NULL)
    return -1;
  /* After "pid (comm)": state is field 3; utime and stime are fields 14 and 15. */
  if (sscanf (p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &utime, &stime) != 2)
    return -1;
  return (double) (utime + stime) / (double) sysconf (_SC_CLK_TCK);
}

static int
compare_doubles (gconstpointer a, gconstpointer b)
{
  double x = *(const double *) a, y = *(const double *) b;
  return (x > y) - (x < y);
}

/* The value below which @q of the sorted values lie (nearest rank). */
static double
quantile (GArray *sorted, double q)
{
  guint i = (guint) ceil (q * sorted->len);

  if (sorted->len == 0)
    return NAN;
  i = i == 0 ? 0 : i - 1;
  return g_array_index (sorted, double, MIN (i, sorted->len - 1));
}

static gboolean
wake_up (gpointer data)
{
  *(gboolean *) data = TRUE;
  return G_SOURCE_REMOVE;
}

/* Runs the main loop, blocking in poll() until the next event, until @deadline (or @done is set).
 * Not a non-blocking iteration with a sleep between: the client reads an 8 MiB message in a socket
 * buffer's worth at a time, and a millisecond's nap after each would add tens of milliseconds to a
 * frame that the VMM did not cause. */
static void
iterate_until_or (gint64 deadline, const gint64 *done)
{
  gboolean woken = FALSE;
  gint64 left = deadline - now_ns ();
  GSource *timer;

  if (left <= 0)
    return;
  /* g_main_context_iteration() rounds its poll timeout to milliseconds: a timer in microseconds
   * errs by at most one. */
  timer = g_timeout_source_new ((guint) ((left + NS_PER_S / 1000 - 1) / (NS_PER_S / 1000)));
  g_source_set_callback (timer, wake_up, &woken, NULL);
  g_source_attach (timer, NULL);
  while (!woken && now_ns () < deadline && (done == NULL || *done == 0))
    g_main_context_iteration (NULL, TRUE);
  g_source_destroy (timer);
  g_source_unref (timer);
}

static void
iterate_until (gint64 deadline)
{
  iterate_until_or (deadline, NULL);
}

static gboolean
run_vmm (Bench *b, VmmId id)
{
  g_autofree char *socket_path = g_build_filename (b->tmpdir, "display.sock", NULL);
  g_autoptr (GPtrArray) argv = vmm_argv (b, id, socket_path);
  g_autoptr (GSubprocess) process = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (GArray) latencies = g_array_new (FALSE, FALSE, sizeof (double));
  SerialReader *reader = g_new0 (SerialReader, 1);
  GThread *thread;
  Run run = { 0 };
  gint64 spawn_ns, deadline, window_start = 0, window_end, start_ns = 0;
  guint guest_frames = 0, client_frames = 0;
  double cpu_start, cpu_end;
  const char *pid;
  gboolean ok = FALSE, eof = FALSE, exited = FALSE;

  b->command[id] = g_strjoinv (" ", (char **) argv->pdata);
  g_mutex_init (&run.lock);
  run.serial_ns = g_new0 (gint64, MAX_FRAMES);
  run.client_ns = g_new0 (gint64, MAX_FRAMES);
  run.highest = -1;
  run.last_seen = -1;
  run.other = g_string_new (NULL);
  g_unlink (socket_path);

  spawn_ns = now_ns ();
  process = g_subprocess_newv ((const char *const *) argv->pdata,
                               G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_MERGE
                                   | G_SUBPROCESS_FLAGS_STDIN_PIPE,
                               &error);
  if (process == NULL)
    {
      b->failure[id] = g_strdup (error->message);
      g_free (reader);
      goto out;
    }
  pid = g_subprocess_get_identifier (process);
  reader->run = &run;
  reader->fd = g_unix_input_stream_get_fd (G_UNIX_INPUT_STREAM (g_subprocess_get_stdout_pipe (process)));
  thread = g_thread_new ("serial", serial_thread, reader);

  /* Until the guest draws (QEMU boots SeaBIOS in emulated ring 0 first: seconds here). */
  deadline = spawn_ns + (gint64) b->timeout * NS_PER_S;
  while (start_ns == 0 && !eof && now_ns () < deadline)
    {
      g_usleep (10000);
      g_mutex_lock (&run.lock);
      start_ns = run.start_ns;
      eof = run.eof;
      g_mutex_unlock (&run.lock);
    }
  if (start_ns == 0)
    {
      g_mutex_lock (&run.lock);
      b->failure[id] = g_strdup_printf ("the guest never said \"frames: start\"; output:\n%s",
                                        run.other->str);
      g_mutex_unlock (&run.lock);
      goto stop;
    }
  b->value[id][M_STARTUP] = (double) (start_ns - spawn_ns) / NS_PER_MS;

  run.session = spice_session_new ();
  g_signal_connect (run.session, "channel-new", G_CALLBACK (on_channel_new), &run);
  g_object_set (run.session, "unix-path", socket_path, NULL);
  if (!spice_session_connect (run.session))
    {
      b->failure[id] = g_strdup ("the SPICE client could not connect");
      goto stop;
    }

  deadline = now_ns () + 30 * NS_PER_S;
  iterate_until_or (deadline, &run.first_seen_ns);
  if (run.first_seen_ns == 0)
    {
      b->failure[id] = g_strdup_printf ("the client never saw a frame (%u invalidates)", run.invalidates);
      goto stop;
    }

  window_start = run.first_seen_ns + (gint64) b->warmup * NS_PER_S;
  window_end = window_start + (gint64) b->seconds * NS_PER_S;
  iterate_until (window_start);
  cpu_start = process_cpu (pid);
  iterate_until (window_end);
  cpu_end = process_cpu (pid);
  /* Frames finished inside the window may still be on their way to the client. */
  iterate_until (window_end + NS_PER_S / 2);

  g_mutex_lock (&run.lock);
  for (gint64 n = 0; n < MAX_FRAMES && n <= run.highest; n++)
    {
      gint64 s = run.serial_ns[n], c = run.client_ns[n];

      if (s >= window_start && s < window_end)
        guest_frames++;
      if (c >= window_start && c < window_end)
        client_frames++;
      if (s >= window_start && s < window_end && c != 0)
        {
          double ms = (double) (c - s) / NS_PER_MS;
          g_array_append_val (latencies, ms);
        }
    }
  g_mutex_unlock (&run.lock);
  g_array_sort (latencies, compare_doubles);

  b->value[id][M_GUEST_FPS] = guest_frames / (double) b->seconds;
  b->value[id][M_CLIENT_FPS] = client_frames / (double) b->seconds;
  b->value[id][M_LAT_MEDIAN] = quantile (latencies, 0.5);
  b->value[id][M_LAT_P99] = quantile (latencies, 0.99);
  b->value[id][M_LAT_MAX] = quantile (latencies, 1.0);
  b->value[id][M_DROPPED] = guest_frames > latencies->len
                                ? (double) (guest_frames - latencies->len) / guest_frames * 100
                                : 0;
  b->value[id][M_TORN] = run.invalidates ? (double) run.torn / run.invalidates * 100 : 0;
  b->value[id][M_CPU] = cpu_start >= 0 && cpu_end >= 0 ? (cpu_end - cpu_start) / b->seconds * 100 : NAN;
  b->have[id] = TRUE;
  ok = TRUE;
  fprintf (stderr, "%s: %u frames from the guest, %u seen by the client, %u invalidates\n", vmm_names[id],
           guest_frames, client_frames, run.invalidates);

stop:
  if (run.session)
    {
      spice_session_disconnect (run.session);
      iterate_until (now_ns () + NS_PER_S / 10);
      g_clear_object (&run.session);
    }
  /* vireo-run turns SIGTERM into a power-button press; QEMU quits. */
  g_subprocess_send_signal (process, SIGTERM);
  g_subprocess_wait_async (process, NULL, on_exited, &exited);
  deadline = now_ns () + 15 * NS_PER_S;
  while (!exited && now_ns () < deadline)
    if (!g_main_context_iteration (NULL, FALSE))
      g_usleep (10000);
  if (!exited)
    {
      g_subprocess_force_exit (process);
      while (!exited)
        g_main_context_iteration (NULL, TRUE);
    }
  g_thread_join (thread);
out:
  g_unlink (socket_path);
  g_free (run.serial_ns);
  g_free (run.client_ns);
  g_string_free (run.other, TRUE);
  g_mutex_clear (&run.lock);
  return ok;
}

/* --- report --- */

static char *
first_line (const char *path, const char *arg)
{
  g_autofree char *out = NULL;
  const char *argv[] = { path, arg, NULL };

  if (!g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_STDERR_TO_DEV_NULL, NULL, NULL, &out, NULL, NULL,
                     NULL)
      || out == NULL)
    return g_strdup ("?");
  return g_strndup (out, strcspn (out, "\n"));
}

static void
print_row (const Bench *b, const char *label, const char *unit, Metric m)
{
  printf ("  %-38s %-4s", label, unit);
  for (int id = 0; id < N_VMMS; id++)
    if (b->vmm_path[id])
      {
        if (b->have[id] && !isnan (b->value[id][m]))
          printf (fabs (b->value[id][m]) >= 1000 ? " %12.0f" : " %12.3g", b->value[id][m]);
        else
          printf (" %12s", "-");
      }
  if (b->have[VMM_VIREO] && b->have[VMM_QEMU] && b->value[VMM_QEMU][m] != 0)
    printf (" %12.3gx", b->value[VMM_VIREO][m] / b->value[VMM_QEMU][m]);
  printf ("\n");
}

static void
print_target (const char *what, double value, const char *unit, gboolean met, const char *target)
{
  printf ("  %-34s %8.3g %-3s (target: %s): %s\n", what, value, unit, target, met ? "MET" : "MISSED");
}

static void
print_results (const Bench *b)
{
  double load[3] = { 0 };
  struct utsname u;
  GDateTime *now = g_date_time_new_now_local ();
  g_autofree char *date = g_date_time_format (now, "%F %T %z");

  g_date_time_unref (now);
  uname (&u);
  getloadavg (load, 3);
  printf ("frame-bench, %s\n", date);
  printf ("machine: %ld CPUs, %s %s %s; load average at the end: %.2f %.2f %.2f\n",
          sysconf (_SC_NPROCESSORS_ONLN), u.sysname, u.release, u.machine, load[0], load[1], load[2]);
  printf ("guest: frames.elf fps=%d, 1920x1080x32, whole screen per frame; %d s measured after %d s of "
          "frames\n",
          b->fps, b->seconds, b->warmup);
  for (int id = 0; id < N_VMMS; id++)
    if (b->command[id])
      printf ("  %-5s %s\n", vmm_names[id], b->command[id]);
  for (int id = 0; id < N_VMMS; id++)
    if (b->failure[id])
      printf ("%s FAILED: %s\n", vmm_names[id], b->failure[id]);

  printf ("\n  %-38s %-4s", "", "");
  for (int id = 0; id < N_VMMS; id++)
    if (b->vmm_path[id])
      printf (" %12s", vmm_names[id]);
  if (b->vmm_path[VMM_QEMU])
    printf (" %13s", "vireo/qemu");
  printf ("\n");
  print_row (b, "exec -> guest's \"frames: start\"", "ms", M_STARTUP);
  print_row (b, "frames written by the guest", "/s", M_GUEST_FPS);
  print_row (b, "frames the client saw (sustained fps)", "/s", M_CLIENT_FPS);
  print_row (b, "frames the client never saw", "%", M_DROPPED);
  print_row (b, "latency, guest done -> client, median", "ms", M_LAT_MEDIAN);
  print_row (b, "latency, p99", "ms", M_LAT_P99);
  print_row (b, "latency, max", "ms", M_LAT_MAX);
  print_row (b, "updates leaving two frames on screen", "%", M_TORN);
  print_row (b, "VMM CPU (user+sys, of one CPU)", "%", M_CPU);

  if (b->have[VMM_VIREO])
    {
      const double *v = b->value[VMM_VIREO];

      printf ("\nTargets (vireo)\n");
      print_target ("latency median", v[M_LAT_MEDIAN], "ms", v[M_LAT_MEDIAN] < TARGET_LATENCY,
                    "under one 60 Hz frame, 16.7 ms");
      print_target ("latency p99", v[M_LAT_P99], "ms", v[M_LAT_P99] < TARGET_LATENCY,
                    "under one 60 Hz frame, 16.7 ms");
      print_target ("sustained fps at the client", v[M_CLIENT_FPS], "/s",
                    v[M_CLIENT_FPS] >= TARGET_FPS * 0.98, "60");
    }
}

int
main (int argc, char **argv)
{
  Bench b = { .fps = 60, .seconds = 10, .warmup = 2, .timeout = 120 };
  g_autofree char *vireo_run = NULL;
  g_autofree char *qemu = NULL;
  g_autofree char *guests = NULL;
  gboolean no_qemu = FALSE;
  g_autoptr (GError) error = NULL;
  GOptionEntry entries[] = {
    { "seconds", 's', 0, G_OPTION_ARG_INT, &b.seconds, "Seconds measured per VMM (default 10)", "S" },
    { "warmup", 'w', 0, G_OPTION_ARG_INT, &b.warmup, "Seconds of frames before measuring (default 2)", "S" },
    { "fps", 'f', 0, G_OPTION_ARG_INT, &b.fps, "The guest's frame rate, 0 = unpaced (default 60)", "N" },
    { "no-qemu", 0, 0, G_OPTION_ARG_NONE, &no_qemu, "vireo only", NULL },
    { "qemu", 0, 0, G_OPTION_ARG_FILENAME, &qemu, "QEMU binary", "PATH" },
    { "vireo-run", 0, 0, G_OPTION_ARG_FILENAME, &vireo_run, "vireo-run binary", "PATH" },
    { "guests", 0, 0, G_OPTION_ARG_FILENAME, &guests, "Directory with frames.elf", "DIR" },
    { "timeout", 0, 0, G_OPTION_ARG_INT, &b.timeout, "Give up on a VMM's boot after S seconds (default 120)",
      "S" },
    { NULL },
  };
  g_autoptr (GOptionContext) context = g_option_context_new ("- display frame path benchmark");
  g_autofree char *elf = NULL;

  /* spice-client-glib allocates every display message, and pixman every decoded bitmap, anew: 8 MiB
   * each for a full 1920x1080 update.  glibc's defaults give such blocks back to the kernel on free
   * (munmap, or trimming the heap), so every frame paid about 4000 page faults and the zeroing of
   * 16 MiB; profiled, that was over half of this client's CPU time.  Keeping freed memory in the heap
   * is what any long-running SPICE client would do; the client still receives, decodes and draws
   * every byte. */
  mallopt (M_MMAP_THRESHOLD, 32 << 20); /* glibc's largest */
  mallopt (M_TRIM_THRESHOLD, 256 << 20);

  g_option_context_add_main_entries (context, entries, NULL);
  if (!g_option_context_parse (context, &argc, &argv, &error))
    {
      fprintf (stderr, "frame-bench: %s\n", error->message);
      return 2;
    }
  if (b.seconds < 1 || b.seconds > 600 || b.warmup < 0 || b.warmup > 60 || b.fps < 0 || b.fps > 1000
      || b.timeout < 1)
    {
      fprintf (stderr, "frame-bench: --seconds 1-600, --warmup 0-60, --fps 0-1000, --timeout >= 1\n");
      return 2;
    }
  if (access ("/dev/kvm", R_OK | W_OK) != 0)
    {
      fprintf (stderr, "frame-bench: /dev/kvm is not usable: %s\n", g_strerror (errno));
      return 1;
    }
  b.guests_dir = guests ? guests : (char *) VIREO_BENCH_GUESTS_DIR;
  elf = g_build_filename (b.guests_dir, "frames.elf", NULL);
  if (!g_file_test (elf, G_FILE_TEST_EXISTS))
    {
      fprintf (stderr, "frame-bench: %s is missing (build the test guests)\n", elf);
      return 1;
    }
  b.vmm_path[VMM_VIREO] = vireo_run ? vireo_run : (char *) VIREO_BENCH_VIREO_RUN;
  if (!no_qemu)
    {
      b.vmm_path[VMM_QEMU] = qemu ? g_strdup (qemu) : g_find_program_in_path ("qemu-system-x86_64");
      if (b.vmm_path[VMM_QEMU] == NULL)
        fprintf (stderr, "frame-bench: qemu-system-x86_64 is not installed: vireo only\n");
    }
  b.tmpdir = g_dir_make_tmp ("frame-bench-XXXXXX", &error);
  if (b.tmpdir == NULL)
    {
      fprintf (stderr, "frame-bench: %s\n", error->message);
      return 1;
    }
  g_log_set_handler ("Spice", G_LOG_LEVEL_WARNING | G_LOG_LEVEL_CRITICAL | G_LOG_LEVEL_MESSAGE, quiet_spice,
                     NULL);
  g_log_set_handler ("GSpice", G_LOG_LEVEL_WARNING | G_LOG_LEVEL_CRITICAL | G_LOG_LEVEL_MESSAGE, quiet_spice,
                     NULL);

  for (int id = 0; id < N_VMMS; id++)
    if (b.vmm_path[id])
      {
        g_autofree char *version = first_line (b.vmm_path[id], "--version");

        fprintf (stderr, "%s: %s\n", vmm_names[id], version);
        run_vmm (&b, id);
      }
  print_results (&b);
  g_rmdir (b.tmpdir);
  g_free (b.tmpdir);
  for (int id = 0; id < N_VMMS; id++)
    {
      g_free (b.failure[id]);
      g_free (b.command[id]);
    }
  if (b.vmm_path[VMM_QEMU] != NULL)
    g_free (b.vmm_path[VMM_QEMU]);
  return b.have[VMM_VIREO] ? 0 : 1;
}
