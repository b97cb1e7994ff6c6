/* bench-run.c — vireo-bench's machinery: one VMM run as a child process (its serial output timed per read,
 * memory sampled, CPU time from wait4), the recorded values, and the statistics and rows of the table. */
#include "bench.h"

G_DEFINE_QUARK (vireo - bench - error, bench_error)

gint64
now_ns (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_MONOTONIC, &ts);
  return (gint64) ts.tv_sec * G_GINT64_CONSTANT (1000000000) + ts.tv_nsec;
}

void
run_result_clear (RunResult *r)
{
  if (r->out != NULL)
    g_string_free (r->out, TRUE);
  if (r->err != NULL)
    g_string_free (r->err, TRUE);
  memset (r, 0, sizeof *r);
}

/* Reads the fields of /proc/<pid>/status this benchmark reports.  FALSE if the process is gone. */
static gboolean
read_mem_status (GPid pid, MemStatus *m)
{
  g_autofree char *path = g_strdup_printf ("/proc/%d/status", (int) pid);
  g_autofree char *text = NULL;
  static const struct
  {
    const char *key;
    gsize offset;
  } fields[] = {
    { "VmHWM:", G_STRUCT_OFFSET (MemStatus, vm_hwm_kib) },
    { "RssAnon:", G_STRUCT_OFFSET (MemStatus, rss_anon_kib) },
    { "RssFile:", G_STRUCT_OFFSET (MemStatus, rss_file_kib) },
    { "RssShmem:", G_STRUCT_OFFSET (MemStatus, rss_shmem_kib) },
  };

  if (!g_file_get_contents (path, &text, NULL, NULL))
    return FALSE;
  memset (m, 0, sizeof *m);
  g_auto (GStrv) lines = g_strsplit (text, "\n", -1);
  for (char **line = lines; *line != NULL; line++)
    for (gsize i = 0; i < G_N_ELEMENTS (fields); i++)
      if (g_str_has_prefix (*line, fields[i].key))
        G_STRUCT_MEMBER (gint64, m, fields[i].offset) = g_ascii_strtoll (*line + strlen (fields[i].key), NULL,
                                                                         10);
  return TRUE;
}

/* Guest output is a byte stream that may hold NULs: search all of it, not up to the first NUL. */
const char *
find_in (const GString *s, const char *needle)
{
  return memmem (s->str, s->len, needle, strlen (needle));
}

static gint64
time_of_offset (GArray *events, gsize offset)
{
  gint64 ns = -1;
  for (guint i = 0; i < events->len; i++)
    {
      const ReadEvent *e = &g_array_index (events, ReadEvent, i);
      if (e->offset > offset)
        break;
      ns = e->ns;
    }
  return ns;
}

static void
find_markers (const RunSpec *spec, RunResult *r, GArray *events, gint64 t0)
{
  for (int i = 0; i < MAX_MARKERS && spec->markers[i] != NULL; i++)
    {
      if (r->marker_ns[i] >= 0)
        continue;
      const char *hit = find_in (r->out, spec->markers[i]);
      if (hit != NULL)
        r->marker_ns[i] = time_of_offset (events, (gsize) (hit - r->out->str)) - t0;
    }
}

typedef enum
{
  DRAIN_CLOSED,
  DRAIN_READ,
  DRAIN_EMPTY,
} DrainResult;

/* One non-blocking read from a child's pipe into `into`; `events` (if any) records when it came. */
static DrainResult
drain (int fd, GString *into, GArray *events, gint64 now)
{
  char buf[4096];
  ssize_t n = read (fd, buf, sizeof buf);

  if (n < 0)
    return errno == EINTR || errno == EAGAIN ? DRAIN_EMPTY : DRAIN_CLOSED;
  if (n == 0)
    return DRAIN_CLOSED;
  if (into->len < OUTPUT_CAP)
    {
      if (events != NULL)
        {
          ReadEvent e = { into->len, now };
          g_array_append_val (events, e);
        }
      g_string_append_len (into, buf, n);
    }
  return DRAIN_READ;
}

void
drain_if_ready (int *fd, short revents, GString *into, GArray *events, gint64 now)
{
  if (*fd >= 0 && (revents & (POLLIN | POLLHUP | POLLERR)) != 0
      && drain (*fd, into, events, now) == DRAIN_CLOSED)
    {
      close (*fd);
      *fd = -1;
    }
}

/* After the child is gone: whatever is left in the pipe, without waiting for an EOF that a
 * grandchild holding the pipe could delay forever. */
void
drain_rest (int *fd, GString *into, GArray *events)
{
  while (*fd >= 0)
    {
      DrainResult d = drain (*fd, into, events, now_ns ());
      if (d == DRAIN_EMPTY)
        break;
      if (d == DRAIN_CLOSED)
        {
          close (*fd);
          *fd = -1;
        }
    }
}

static char *
describe_failure (int status, const RunResult *r)
{
  g_autofree char *how = NULL;
  /* The tail of stderr usually names the problem; all of it can be long (QEMU warnings). */
  const char *tail = r->err->str;
  if (r->err->len > 600)
    tail = r->err->str + r->err->len - 600;
  g_autofree char *clean = g_strstrip (g_strdup (tail));

  if (WIFEXITED (status))
    how = g_strdup_printf ("exited with status %d", WEXITSTATUS (status));
  else if (WIFSIGNALED (status))
    how = g_strdup_printf ("was killed by signal %d (%s)", WTERMSIG (status),
                           g_strsignal (WTERMSIG (status)));
  else
    how = g_strdup_printf ("ended with wait status 0x%x", (unsigned) status);
  if (*clean == '\0')
    return g_steal_pointer (&how);
  return g_strdup_printf ("%s; its stderr ends with:\n    %s", how, clean);
}

/* Runs argv to completion and fills r.  FALSE with an error when it could not be started, timed
 * out, failed, or its output lacks spec->required. */
gboolean
run_once (const Bench *b, GPtrArray *argv, const RunSpec *spec, RunResult *r, GError **error)
{
  g_autoptr (GArray) events = g_array_new (FALSE, FALSE, sizeof (ReadEvent));
  GPid pid;
  int out_fd = -1, err_fd = -1;
  gboolean timed_out = FALSE, term_sent = FALSE;
  gint64 next_sample = 0;
  int status = 0;
  struct rusage ru;

  memset (r, 0, sizeof *r);
  r->out = g_string_new (NULL);
  r->err = g_string_new (NULL);
  for (int i = 0; i < MAX_MARKERS; i++)
    r->marker_ns[i] = -1;

  gint64 t0 = now_ns ();
  if (!g_spawn_async_with_pipes_and_fds (NULL, (const char *const *) argv->pdata, NULL,
                                         G_SPAWN_DO_NOT_REAP_CHILD | G_SPAWN_STDIN_FROM_DEV_NULL, NULL, NULL,
                                         -1, -1, -1, NULL, NULL, 0, &pid, NULL, &out_fd, &err_fd, error))
    return FALSE;
  gint64 deadline = t0 + (gint64) b->timeout_s * G_GINT64_CONSTANT (1000000000);
  /* Readable once the child has exited; without it (kernels before 5.3) EOF on both pipes ends
   * the run instead. */
  int exit_fd = pidfd_open (pid, 0);
  fcntl (out_fd, F_SETFL, fcntl (out_fd, F_GETFL) | O_NONBLOCK);
  fcntl (err_fd, F_SETFL, fcntl (err_fd, F_GETFL) | O_NONBLOCK);

  for (;;)
    {
      gint64 now = now_ns ();
      gboolean sampling = spec->sample_after >= 0 && r->marker_ns[spec->sample_after] >= 0 && !term_sent;

      if (sampling && now >= next_sample)
        {
          MemStatus m;
          if (read_mem_status (pid, &m))
            {
              gint64 hwm = MAX (r->mem.vm_hwm_kib, m.vm_hwm_kib);
              r->mem = m;
              r->mem.vm_hwm_kib = hwm;
              r->n_samples++;
            }
          next_sample = now + MEMORY_SAMPLE_NS;
          if (r->n_samples >= MEMORY_SAMPLES)
            {
              kill (pid, SIGTERM);
              term_sent = TRUE;
              sampling = FALSE;
              deadline = MIN (deadline, now + STOP_GRACE_NS);
            }
        }
      if (now >= deadline)
        {
          kill (pid, SIGKILL);
          timed_out = TRUE;
          break;
        }

      gint64 wait_ns = deadline - now;
      if (sampling)
        wait_ns = MIN (wait_ns, MAX (next_sample - now, 0));
      struct pollfd fds[3] = {
        { out_fd, POLLIN, 0 },
        { err_fd, POLLIN, 0 },
        { exit_fd, POLLIN, 0 },
      };
      int ret = poll (fds, 3, (int) (wait_ns / 1000000) + 1);
      if (ret < 0 && errno != EINTR)
        {
          kill (pid, SIGKILL);
          break;
        }
      now = now_ns ();
      drain_if_ready (&out_fd, fds[0].revents, r->out, events, now);
      drain_if_ready (&err_fd, fds[1].revents, r->err, NULL, now);
      find_markers (spec, r, events, t0);
      if (exit_fd >= 0 ? (fds[2].revents & POLLIN) != 0 : out_fd < 0 && err_fd < 0)
        break;
    }

  while (wait4 (pid, &status, 0, &ru) < 0)
    if (errno != EINTR)
      {
        int saved = errno;
        g_set_error (error, BENCH_ERROR, 0, "wait4: %s", g_strerror (saved));
        return FALSE;
      }
  r->exit_ns = now_ns () - t0;
  drain_rest (&out_fd, r->out, events);
  drain_rest (&err_fd, r->err, NULL);
  find_markers (spec, r, events, t0);
  if (out_fd >= 0)
    close (out_fd);
  if (err_fd >= 0)
    close (err_fd);
  if (exit_fd >= 0)
    close (exit_fd);
  r->user_ms = ru.ru_utime.tv_sec * 1e3 + ru.ru_utime.tv_usec / 1e3;
  r->sys_ms = ru.ru_stime.tv_sec * 1e3 + ru.ru_stime.tv_usec / 1e3;

  if (timed_out)
    {
      g_set_error (error, BENCH_ERROR, 0, "did not finish within %d s (raise it with --timeout)",
                   b->timeout_s);
      return FALSE;
    }
  gboolean ok = WIFEXITED (status) && WEXITSTATUS (status) == spec->exit_status;
  if (spec->sigterm_ok && term_sent && WIFSIGNALED (status) && WTERMSIG (status) == SIGTERM)
    ok = TRUE;
  if (!ok)
    {
      g_autofree char *why = describe_failure (status, r);
      g_set_error (error, BENCH_ERROR, 0, "%s", why);
      return FALSE;
    }
  if (spec->required != NULL && find_in (r->out, spec->required) == NULL)
    {
      g_set_error (error, BENCH_ERROR, 0, "its output lacks \"%s\" (guest output: %.200s)", spec->required,
                   r->out->str);
      return FALSE;
    }
  if (spec->sample_after >= 0 && r->n_samples == 0)
    {
      g_set_error (error, BENCH_ERROR, 0, "exited before its memory could be sampled");
      return FALSE;
    }
  return TRUE;
}

char *
guest_path (const Bench *b, const char *name)
{
  g_autofree char *file = g_strconcat (name, ".elf", NULL);
  return g_build_filename (b->guests_dir, file, NULL);
}

/* The command line for one run.  guest is NULL for the floor, which takes count instead. */
GPtrArray *
vmm_argv (const Bench *b, VmmId id, const char *guest, const char *cmdline, gint64 count)
{
  /* A socket of its own for every run: no run waits for or meets the previous one's. */
  static unsigned display_serial;
  GPtrArray *argv = g_ptr_array_new_with_free_func (g_free);
  g_autofree char *elf = guest ? guest_path (b, guest) : NULL;
  g_autofree char *mem = g_strdup_printf ("%dM", b->memory_mib);
  g_autofree char *socket = b->display_dir ? g_strdup_printf ("%s/%s-%u.sock", b->display_dir, vmm_names[id],
                                                              display_serial++)
                                           : NULL;

  g_ptr_array_add (argv, g_strdup (b->vmm[id].path));
  switch (id)
    {
    case VMM_FLOOR:
      g_ptr_array_add (argv, g_strdup ("--count"));
      g_ptr_array_add (argv, g_strdup_printf ("%" G_GINT64_FORMAT, count));
      break;
    case VMM_VIREO:
      g_ptr_array_add (argv, g_strdup ("-m"));
      g_ptr_array_add (argv, g_strdup (mem));
      g_ptr_array_add (argv, g_strdup ("-k"));
      g_ptr_array_add (argv, g_strdup (elf));
      if (cmdline != NULL)
        {
          g_ptr_array_add (argv, g_strdup ("-c"));
          g_ptr_array_add (argv, g_strdup (cmdline));
        }
      if (socket != NULL)
        {
          g_ptr_array_add (argv, g_strdup ("--display"));
          g_ptr_array_add (argv, g_strconcat ("spice:", socket, NULL));
        }
      break;
    case VMM_QEMU:
      /* Guest RAM in a shared memfd, as vireo has it, so that RssShmem is guest RAM for both. */
      g_ptr_array_add (argv, g_strdup ("-enable-kvm"));
      g_ptr_array_add (argv, g_strdup ("-cpu"));
      g_ptr_array_add (argv, g_strdup ("qemu64"));
      g_ptr_array_add (argv, g_strdup ("-machine"));
      g_ptr_array_add (argv, g_strdup ("pc,memory-backend=ram"));
      g_ptr_array_add (argv, g_strdup ("-object"));
      g_ptr_array_add (argv, g_strdup_printf ("memory-backend-memfd,id=ram,size=%s,share=on", mem));
      g_ptr_array_add (argv, g_strdup ("-m"));
      g_ptr_array_add (argv, g_strdup (mem));
      if (b->qemu_stock)
        g_ptr_array_add (argv, g_strdup ("-nographic"));
      else
        {
          /* No NIC (its iPXE ROM costs seconds of emulated ring 0 here), no VGA, no monitor:
           * the same devices a test guest gets from vireo-run. */
          g_ptr_array_add (argv, g_strdup ("-nodefaults"));
          g_ptr_array_add (argv, g_strdup ("-no-user-config"));
          g_ptr_array_add (argv, g_strdup ("-display"));
          g_ptr_array_add (argv, g_strdup ("none"));
          g_ptr_array_add (argv, g_strdup ("-serial"));
          g_ptr_array_add (argv, g_strdup ("stdio"));
          /* The display vireo-run's --display gives (stock QEMU has its VGA). */
          if (socket != NULL)
            {
              g_ptr_array_add (argv, g_strdup ("-device"));
              g_ptr_array_add (argv, g_strdup ("bochs-display"));
            }
        }
      if (socket != NULL)
        {
          g_ptr_array_add (argv, g_strdup ("-spice"));
          g_ptr_array_add (argv, g_strdup_printf ("unix=on,addr=%s,disable-ticketing=on", socket));
        }
      g_ptr_array_add (argv, g_strdup ("-no-reboot"));
      g_ptr_array_add (argv, g_strdup ("-kernel"));
      g_ptr_array_add (argv, g_strdup (elf));
      if (cmdline != NULL)
        {
          g_ptr_array_add (argv, g_strdup ("-append"));
          g_ptr_array_add (argv, g_strdup (cmdline));
        }
      break;
    case N_VMMS:
    default:
      g_assert_not_reached ();
    }
  g_ptr_array_add (argv, NULL);
  return argv;
}

gboolean
vmm_usable (const Bench *b, VmmId id)
{
  return b->vmm[id].path != NULL && b->vmm[id].failure == NULL;
}

void
record (Bench *b, VmmId id, Metric m, double value)
{
  g_array_append_val (b->data[id][m], value);
}

/* Runs once; on failure prints why and retires this VMM from the rest of the benchmark. */
gboolean
run_vmm (Bench *b, VmmId id, const char *what, GPtrArray *argv, const RunSpec *spec, RunResult *r)
{
  g_autoptr (GError) error = NULL;

  if (run_once (b, argv, spec, r, &error))
    return TRUE;
  b->vmm[id].failure = g_strdup_printf ("%s run failed: %s", what, error->message);
  g_autofree char *cmd = g_strjoinv (" ", (char **) argv->pdata);
  g_printerr ("vireo-bench: %s: %s\n  command: %s\n  (no more %s runs)\n", vmm_names[id], b->vmm[id].failure,
              cmd, vmm_names[id]);
  run_result_clear (r);
  return FALSE;
}

/* The VMMs in the order repetition rep runs them: rotated each time so none is always first. */
void
rotated_order (int rep, const VmmId *ids, int n, VmmId *out)
{
  for (int i = 0; i < n; i++)
    out[i] = ids[(i + rep) % n];
}

void
progress (const Bench *b, const char *format, ...)
{
  va_list args;
  if (b->quiet)
    return;
  va_start (args, format);
  g_autofree char *text = g_strdup_vprintf (format, args);
  va_end (args);
  g_printerr ("  %s\n", text);
}

/* Statistics and the table. */

/* Other work on the machine shows up as noise (two CPUs here): the table says how busy it was. */
char *
load_average (void)
{
  g_autofree char *text = NULL;
  if (!g_file_get_contents ("/proc/loadavg", &text, NULL, NULL))
    return g_strdup ("unknown");
  g_auto (GStrv) fields = g_strsplit (g_strstrip (text), " ", 4);
  if (g_strv_length (fields) < 3)
    return g_strdup ("unknown");
  return g_strdup_printf ("%s %s %s", fields[0], fields[1], fields[2]);
}

int
compare_doubles (gconstpointer a, gconstpointer b)
{
  double x = *(const double *) a, y = *(const double *) b;
  return (x > y) - (x < y);
}

/* FALSE when there is no data. */
gboolean
summarize (GArray *values, double *median, double *lo, double *hi)
{
  if (values->len == 0)
    return FALSE;
  g_autoptr (GArray) sorted = g_array_sized_new (FALSE, FALSE, sizeof (double), values->len);
  g_array_append_vals (sorted, values->data, values->len);
  g_array_sort (sorted, compare_doubles);
  guint n = sorted->len;
  const double *v = (const double *) sorted->data;
  *median = n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
  *lo = v[0];
  *hi = v[n - 1];
  return TRUE;
}

char *
format_number (double v)
{
  double a = fabs (v);
  if (a >= 100)
    return g_strdup_printf ("%.0f", v);
  if (a >= 10)
    return g_strdup_printf ("%.1f", v);
  return g_strdup_printf ("%.2f", v);
}

char *
format_cell (const Bench *b, VmmId id, Metric m)
{
  double med, lo, hi;
  if (b->vmm[id].path == NULL)
    return g_strdup ("n/a");
  if (!summarize (b->data[id][m], &med, &lo, &hi))
    return g_strdup (b->vmm[id].failure ? "failed" : "-");
  g_autofree char *smed = format_number (med);
  g_autofree char *slo = format_number (lo);
  g_autofree char *shi = format_number (hi);
  return g_strdup_printf ("%s (%s-%s)", smed, slo, shi);
}

/* The ratio of the medians, or NULL. */
gboolean
median_ratio (const Bench *b, VmmId num, VmmId den, Metric m, double *ratio)
{
  double mn, md, lo, hi;
  if (!summarize (b->data[num][m], &mn, &lo, &hi) || !summarize (b->data[den][m], &md, &lo, &hi) || md == 0)
    return FALSE;
  *ratio = mn / md;
  return TRUE;
}

char *
format_ratio (const Bench *b, VmmId num, VmmId den, Metric m)
{
  double ratio;
  if (!median_ratio (b, num, den, m, &ratio))
    return g_strdup ("-");
  if (fabs (ratio) >= 0.1)
    return g_strdup_printf ("%.2fx", ratio);
  return g_strdup_printf ("%.4fx", ratio);
}

void
print_row (const Bench *b, const char *label, const char *unit, Metric m, const VmmId *cols, int n_cols,
           const VmmId (*ratios)[2], int n_ratios)
{
  g_print ("  %-34s %-4s", label, unit);
  for (int i = 0; i < n_cols; i++)
    {
      g_autofree char *cell = format_cell (b, cols[i], m);
      g_print (" %-22s", cell);
    }
  for (int i = 0; i < n_ratios; i++)
    {
      g_autofree char *cell = format_ratio (b, ratios[i][0], ratios[i][1], m);
      g_print (" %11s", cell);
    }
  g_print ("\n");
}

void
print_heading (const char *title, const VmmId *cols, int n_cols, const VmmId (*ratios)[2], int n_ratios)
{
  g_print ("\n%s\n  %-34s %-4s", title, "", "");
  for (int i = 0; i < n_cols; i++)
    g_print (" %-22s", vmm_names[cols[i]]);
  for (int i = 0; i < n_ratios; i++)
    {
      g_autofree char *r = g_strdup_printf ("%s/%s", vmm_names[ratios[i][0]], vmm_names[ratios[i][1]]);
      g_print (" %11s", r);
    }
  g_print ("\n");
}

void
print_command (const Bench *b, VmmId id, const char *guest, const char *cmdline, gint64 count)
{
  if (b->vmm[id].path == NULL)
    return;
  g_autoptr (GPtrArray) argv = vmm_argv (b, id, guest, cmdline, count);
  g_autofree char *cmd = g_strjoinv (" ", (char **) argv->pdata);
  g_print ("  %-5s %s\n", vmm_names[id], cmd);
}

void
print_target (const Bench *b, const char *what, Metric m, VmmId den, double limit, const char *target,
              const char *unit)
{
  double value, lo, hi;
  gboolean have;

  if (den == N_VMMS)
    have = summarize (b->data[VMM_VIREO][m], &value, &lo, &hi);
  else
    have = median_ratio (b, VMM_VIREO, den, m, &value);
  if (!have)
    {
      g_print ("  %-44s not measured (%s)\n", what, target);
      return;
    }
  g_print ("  %-44s %.2f%s (%s): %s\n", what, value, unit, target, value < limit ? "MET" : "MISSED");
}

/* ---- a VMM whose console is read as it comes (the network and checkpoint benchmarks) ---- */

volatile pid_t console_vm_running_pid;

gboolean
console_vm_start (ConsoleVm *vm, GPtrArray *argv, GError **error)
{
  memset (vm, 0, sizeof *vm);
  vm->fds[0] = vm->fds[1] = -1;
  vm->out = g_string_new (NULL);
  if (!g_spawn_async_with_pipes_and_fds (
          NULL, (const char *const *) argv->pdata, NULL,
          G_SPAWN_DO_NOT_REAP_CHILD | G_SPAWN_STDIN_FROM_DEV_NULL | G_SPAWN_SEARCH_PATH, NULL, NULL, -1, -1,
          -1, NULL, NULL, 0, &vm->pid, NULL, &vm->fds[0], &vm->fds[1], error))
    return FALSE;
  console_vm_running_pid = vm->pid;
  for (int i = 0; i < 2; i++)
    fcntl (vm->fds[i], F_SETFL, fcntl (vm->fds[i], F_GETFL) | O_NONBLOCK);
  return TRUE;
}

/* Reads the console until @needle (then TRUE), EOF or @timeout_ms. */
gboolean
console_vm_wait_for (ConsoleVm *vm, const char *needle, int timeout_ms, GError **error)
{
  gint64 deadline = now_ns () + (gint64) timeout_ms * 1000000;

  while (strstr (vm->out->str, needle) == NULL)
    {
      gint64 left = deadline - now_ns ();
      struct pollfd fds[2] = { { vm->fds[0], POLLIN, 0 }, { vm->fds[1], POLLIN, 0 } };

      if (left <= 0 || (vm->fds[0] < 0 && vm->fds[1] < 0))
        {
          g_set_error (error, BENCH_ERROR, 0, "%s before \"%s\" (output: %.300s)",
                       left <= 0 ? "timed out" : "it exited", needle, vm->out->str);
          return FALSE;
        }
      if (poll (fds, 2, (int) (left / 1000000) + 1) < 0 && errno != EINTR)
        continue;
      for (int i = 0; i < 2; i++)
        drain_if_ready (&vm->fds[i], fds[i].revents, vm->out, NULL, 0);
    }
  return TRUE;
}

/* Waits for the VMM to exit (after the guest was told to quit), killing it after a while; TRUE when it exited
 * by itself with 0. */
gboolean
console_vm_finish (ConsoleVm *vm)
{
  gint64 deadline = now_ns () + STOP_GRACE_NS;
  int status = -1;
  pid_t got;

  while ((got = waitpid (vm->pid, &status, WNOHANG)) == 0 && now_ns () < deadline)
    {
      struct pollfd fds[2] = { { vm->fds[0], POLLIN, 0 }, { vm->fds[1], POLLIN, 0 } };
      poll (fds, 2, 50);
      for (int i = 0; i < 2; i++)
        drain_if_ready (&vm->fds[i], fds[i].revents, vm->out, NULL, 0);
    }
  if (got == 0)
    {
      kill (vm->pid, SIGKILL);
      waitpid (vm->pid, &status, 0);
    }
  console_vm_running_pid = 0;
  for (int i = 0; i < 2; i++)
    drain_rest (&vm->fds[i], vm->out, NULL);
  g_spawn_close_pid (vm->pid);
  return got > 0 && WIFEXITED (status) && WEXITSTATUS (status) == 0;
}

void
console_vm_clear (ConsoleVm *vm)
{
  if (vm->out != NULL)
    g_string_free (vm->out, TRUE);
  vm->out = NULL;
}
