/* vireo-bench.c — benchmarks vireo-run side by side with QEMU and with the bare-KVM floor in
 * kvm-floor.c on the same test guests (and, for disks, with host fio on the same file), and prints a
 * table of ratios.
 *
 * Every number comes from running the VMM as a child process, exactly as a user would: the clock
 * starts just before the spawn, the guest's serial output is read from the child's stdout with a
 * timestamp per read, and wait4() gives the exit time and the child's CPU time.  The VMMs take
 * turns (the order rotates every repetition) so that both see the same machine conditions.
 * Nothing here asserts on a timing: this is a measurement tool, not a test. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <glib.h>
#include <math.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "boot-sector.h"

#ifndef VIREO_BENCH_VIREO_RUN
#define VIREO_BENCH_VIREO_RUN "hypervisor/vireo-run"
#endif
#ifndef VIREO_BENCH_GUESTS_DIR
#define VIREO_BENCH_GUESTS_DIR "tests/guests"
#endif
#ifndef VIREO_BENCH_KVM_FLOOR
#define VIREO_BENCH_KVM_FLOOR "tests/bench/kvm-floor"
#endif
#ifndef VIREO_BENCH_CHECKPOINT_HARNESS
#define VIREO_BENCH_CHECKPOINT_HARNESS "tests/bench/checkpoint-harness"
#endif

#define NS_PER_MS        1e6
#define NS_PER_US        1e3
#define KIB_PER_MIB      1024.0
#define MAX_MARKERS      12
#define OUTPUT_CAP       (1u << 20) /* a runaway guest must not eat the benchmark's memory */
#define MEMORY_SAMPLES   10
#define MEMORY_SAMPLE_NS (100 * G_GINT64_CONSTANT (1000000))
#define STOP_GRACE_NS    (15 * G_GINT64_CONSTANT (1000000000))

#define HELLO_MARKER     "Hello from a Vireo test guest"
#define PIO_START_MARKER "pio-loop start"
#define PIO_DONE_MARKER  "pio-loop done"
#define SHUTDOWN_MARKER  "waiting for power button"
/* What the firmware benchmark's boot sector prints before it resets the machine. */
#define BOOT_SECTOR_MARKER "vireo-bench: boot sector"
#define SEABIOS_IMAGE      "/usr/share/seabios/bios-256k.bin"
/* vireo-run's exit status when the guest reset the machine. */
#define VIREO_EXIT_RESET 3

typedef enum
{
  VMM_FLOOR,
  VMM_VIREO,
  VMM_QEMU,
  VMM_FIO, /* host fio on the disk benchmark's image: the ceiling */
  N_VMMS
} VmmId;

static const char *const vmm_names[N_VMMS] = { "floor", "vireo", "qemu", "fio" };

/* The disk benchmark: blk-bench.elf's workloads (tests/guests/blk-bench.c), in its order, on each image
 * format. */
typedef struct
{
  const char *name; /* the guest's */
  const char *label;
  const char *fio_rw;
  unsigned bytes;
  unsigned depth;
  unsigned count; /* requests at scale 1 */
} DiskWorkload;

static const DiskWorkload disk_workloads[] = {
  { "randread-4k-qd1", "4 KiB random read, QD1", "randread", 4096, 1, 2000 },
  { "randread-4k-qd32", "4 KiB random read, QD32", "randread", 4096, 32, 8000 },
  { "randwrite-4k-qd1", "4 KiB random write, QD1", "randwrite", 4096, 1, 2000 },
  { "randwrite-4k-qd32", "4 KiB random write, QD32", "randwrite", 4096, 32, 8000 },
  { "seqread-1m-qd4", "1 MiB sequential read, QD4", "read", 1u << 20, 4, 256 },
  { "seqwrite-1m-qd4", "1 MiB sequential write, QD4", "write", 1u << 20, 4, 256 },
};
#define N_DISK_WORKLOADS G_N_ELEMENTS (disk_workloads)
G_STATIC_ASSERT (N_DISK_WORKLOADS == 6); /* N_METRICS counts on it */
#define N_DISK_FORMATS 2
#define DISK_IMAGE_MIB 256

static const char *const disk_formats[N_DISK_FORMATS] = { "raw", "qcow2" };

/* The network benchmark's paths and, per path, its cells. */
typedef enum
{
  NET_USER, /* slirp, through a UDP port forward on 127.0.0.1 */
  NET_TAP,  /* a TAP on a bridge in a network namespace */
  N_NET_PATHS
} NetPath;

static const char *const net_path_names[N_NET_PATHS] = { "user", "tap" };

enum
{
  NET_RTT,       /* µs, median */
  NET_RTT_FAST,  /* µs, 10th percentile: the path without the scheduler's delays */
  NET_PPS_SMALL, /* thousands of datagrams/s */
  NET_MBS_SMALL, /* MB/s of payload */
  NET_CPU_SMALL, /* µs of the VMM's CPU outside its vCPU threads per datagram */
  NET_PPS_LARGE,
  NET_MBS_LARGE,
  NET_CPU_LARGE,
  N_NET_CELLS
};
#define NET_SMALL 64 /* payload bytes */
#define NET_LARGE 1400

typedef struct
{
  char *path; /* NULL when this VMM is not run at all */
  char *version;
  char *failure; /* set once a run failed; the VMM is not run again */
} Vmm;

typedef enum
{
  M_FIRST_BYTE,
  M_EXIT,
  M_CPU,
  M_CPU_USER,
  M_CPU_SYS,
  M_PIO_WALL,
  M_PIO_CPU,
  M_PIO_LOOP,
  M_MEM_HWM,
  M_MEM_GUEST,
  M_MEM_OVERHEAD,
  M_MEM_ANON,
  M_MEM_FILE,
  M_FW_FIRST_BYTE,
  M_FW_EXIT,
  M_FW_CPU,
  M_DISK_FIRST, /* then one per format and disk workload: IOPS, or MB/s for 1 MiB requests */
  M_NET_FIRST = M_DISK_FIRST + N_DISK_FORMATS * 6, /* then N_NET_CELLS per network path */
  M_CKPT_CREATE = M_NET_FIRST + N_NET_PATHS * N_NET_CELLS,
  M_CKPT_APPLY_ANSWER,
  M_CKPT_APPLY_GUEST,
  N_METRICS
} Metric;

#define NET_METRIC(path, cell) (M_NET_FIRST + (path) *N_NET_CELLS + (cell))

typedef struct
{
  Vmm vmm[N_VMMS];
  char *guests_dir;
  int runs;
  gint64 count_lo;
  gint64 count_hi;
  int memory_mib;
  int timeout_s;
  gboolean qemu_stock;
  char *display_dir; /* --display: the SPICE sockets go here; NULL without a display */
  gboolean quiet;
  gboolean do_boot;
  gboolean do_pio;
  gboolean do_memory;
  gboolean do_disk;
  gboolean do_firmware;
  gboolean do_net;
  gboolean do_checkpoint;
  char *checkpoint_harness;               /* the vireo side of the checkpoint benchmark */
  char *checkpoint_skipped;               /* why the checkpoint benchmark did not run */
  char *checkpoint_failure[N_VMMS];       /* a VMM's failed checkpoint run: no more of them */
  GArray *checkpoint_write_once;          /* ms to write and fsync the touched memory once: the bound */
  unsigned net_count;                     /* datagrams per burst */
  gboolean net_vhost;                     /* /dev/vhost-net is there: QEMU's TAP gets vhost=on */
  char *net_netns;                        /* the namespace made for the TAP cells */
  char *net_tap_skipped;                  /* why the TAP cells are not run */
  char *net_failure[N_VMMS][N_NET_PATHS]; /* the last failure of that VMM on that path */
  int net_failures[N_VMMS][N_NET_PATHS];  /* how many runs failed; NET_MAX_FAILURES retire the path */
  char *boot_image;                       /* the firmware benchmark's disk: a boot sector */
  int disk_scale;
  int fio_seconds;
  char *disk_dir;                    /* where the images are made: a disk file system, not tmpfs */
  char *disk_images[N_DISK_FORMATS]; /* NULL: that format is not measured */
  GArray *data[N_VMMS][N_METRICS];   /* doubles: ms, us or MiB depending on the metric */
} Bench;

/* What one child run watches for. */
typedef struct
{
  const char *markers[MAX_MARKERS]; /* NULL-padded; when each one's first byte arrived is kept */
  const char *required;             /* the run failed unless this appears in the output */
  int sample_after;                 /* sample memory after this marker, then stop; -1: never */
  gboolean sigterm_ok;              /* after sampling, death by SIGTERM counts as success */
  int exit_status;                  /* what a successful run exits with (0 unless said) */
} RunSpec;

typedef struct
{
  gint64 vm_hwm_kib;
  gint64 rss_anon_kib;
  gint64 rss_file_kib;
  gint64 rss_shmem_kib;
} MemStatus;

typedef struct
{
  gint64 marker_ns[MAX_MARKERS]; /* since the spawn; -1 when never seen */
  gint64 exit_ns;
  double user_ms;
  double sys_ms;
  MemStatus mem; /* the last sample, except vm_hwm_kib: the largest seen */
  guint n_samples;
  GString *out;
  GString *err;
} RunResult;

typedef struct
{
  gsize offset;
  gint64 ns;
} ReadEvent;

#define BENCH_ERROR (bench_error_quark ())
GQuark bench_error_quark (void);
G_DEFINE_QUARK (vireo - bench - error, bench_error)

static gint64
now_ns (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_MONOTONIC, &ts);
  return (gint64) ts.tv_sec * G_GINT64_CONSTANT (1000000000) + ts.tv_nsec;
}

static void
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
static const char *
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

static void
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
static void
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
static gboolean
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

static char *
guest_path (const Bench *b, const char *name)
{
  g_autofree char *file = g_strconcat (name, ".elf", NULL);
  return g_build_filename (b->guests_dir, file, NULL);
}

/* The command line for one run.  guest is NULL for the floor, which takes count instead. */
static GPtrArray *
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

static gboolean
vmm_usable (const Bench *b, VmmId id)
{
  return b->vmm[id].path != NULL && b->vmm[id].failure == NULL;
}

static void
record (Bench *b, VmmId id, Metric m, double value)
{
  g_array_append_val (b->data[id][m], value);
}

/* Runs once; on failure prints why and retires this VMM from the rest of the benchmark. */
static gboolean
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
static void
rotated_order (int rep, const VmmId *ids, int n, VmmId *out)
{
  for (int i = 0; i < n; i++)
    out[i] = ids[(i + rep) % n];
}

static void progress (const Bench *b, const char *format, ...) G_GNUC_PRINTF (2, 3);

static void
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

static void
bench_boot (Bench *b)
{
  static const VmmId ids[] = { VMM_FLOOR, VMM_VIREO, VMM_QEMU };
  RunSpec spec = { { HELLO_MARKER, NULL, NULL }, HELLO_MARKER, -1, FALSE };
  /* The floor has no serial port: it only shows what creating, running and destroying the smallest
   * possible VM costs on this machine. */
  RunSpec floor_spec = { { NULL, NULL, NULL }, "loop_ns=", -1, FALSE };

  for (int rep = 0; rep < b->runs; rep++)
    {
      VmmId order[G_N_ELEMENTS (ids)];
      rotated_order (rep, ids, G_N_ELEMENTS (ids), order);
      for (gsize i = 0; i < G_N_ELEMENTS (ids); i++)
        {
          VmmId id = order[i];
          RunResult r;
          if (!vmm_usable (b, id))
            continue;
          gboolean is_floor = id == VMM_FLOOR;
          g_autoptr (GPtrArray) argv = vmm_argv (b, id, is_floor ? NULL : "hello", NULL, 1);
          if (!run_vmm (b, id, is_floor ? "kvm-floor --count 1" : "hello.elf", argv,
                        is_floor ? &floor_spec : &spec, &r))
            continue;
          if (r.marker_ns[0] >= 0)
            record (b, id, M_FIRST_BYTE, r.marker_ns[0] / NS_PER_MS);
          record (b, id, M_EXIT, r.exit_ns / NS_PER_MS);
          record (b, id, M_CPU, r.user_ms + r.sys_ms);
          record (b, id, M_CPU_USER, r.user_ms);
          record (b, id, M_CPU_SYS, r.sys_ms);
          g_autofree char *first = r.marker_ns[0] >= 0
                                       ? g_strdup_printf ("%8.1f ms", r.marker_ns[0] / NS_PER_MS)
                                       : g_strdup ("       -   ");
          progress (b, "[boot %d/%d] %-5s first byte %s, exit %8.1f ms, cpu %7.1f ms", rep + 1, b->runs,
                    vmm_names[id], first, r.exit_ns / NS_PER_MS, r.user_ms + r.sys_ms);
          run_result_clear (&r);
        }
    }
}

static void
bench_pio (Bench *b)
{
  static const VmmId ids[] = { VMM_FLOOR, VMM_VIREO, VMM_QEMU };
  RunSpec spec = { { PIO_START_MARKER, PIO_DONE_MARKER, NULL }, PIO_DONE_MARKER, -1, FALSE };
  RunSpec floor_spec = { { "loop_ns=", NULL, NULL }, "loop_ns=", -1, FALSE };

  for (int rep = 0; rep < b->runs; rep++)
    {
      VmmId order[G_N_ELEMENTS (ids)];
      double wall[N_VMMS][2] = { { 0 } }, cpu[N_VMMS][2] = { { 0 } }, loop[N_VMMS] = { 0 };
      gboolean done[N_VMMS][2] = { { FALSE } };

      rotated_order (rep, ids, G_N_ELEMENTS (ids), order);
      for (int c = 0; c < 2; c++)
        {
          /* Alternate which count goes first, too. */
          int which = (rep % 2 == 0) ? c : 1 - c;
          gint64 count = which == 0 ? b->count_lo : b->count_hi;
          g_autofree char *cmdline = g_strdup_printf ("count=%" G_GINT64_FORMAT, count);
          for (gsize i = 0; i < G_N_ELEMENTS (ids); i++)
            {
              VmmId id = order[i];
              RunResult r;
              if (!vmm_usable (b, id))
                continue;
              g_autoptr (GPtrArray) argv = vmm_argv (b, id, id == VMM_FLOOR ? NULL : "pio-loop", cmdline,
                                                     count);
              if (!run_vmm (b, id, id == VMM_FLOOR ? "kvm-floor" : "pio-loop.elf", argv,
                            id == VMM_FLOOR ? &floor_spec : &spec, &r))
                continue;
              wall[id][which] = (double) r.exit_ns;
              cpu[id][which] = (r.user_ms + r.sys_ms) * NS_PER_MS;
              done[id][which] = TRUE;
              if (which == 1)
                {
                  /* The loop alone: between the markers for a guest, self-timed by the floor. */
                  if (id == VMM_FLOOR)
                    {
                      const char *p = find_in (r.out, "loop_ns=");
                      loop[id] = g_ascii_strtod (p + strlen ("loop_ns="), NULL);
                    }
                  else
                    loop[id] = (double) (r.marker_ns[1] - r.marker_ns[0]);
                }
              progress (b, "[pio %d/%d] %-5s count=%-7" G_GINT64_FORMAT " exit %8.1f ms, cpu %7.1f ms",
                        rep + 1, b->runs, vmm_names[id], count, r.exit_ns / NS_PER_MS, r.user_ms + r.sys_ms);
              run_result_clear (&r);
            }
        }
      for (int id = 0; id < N_VMMS; id++)
        {
          if (!done[id][0] || !done[id][1])
            continue;
          double delta = (double) (b->count_hi - b->count_lo);
          record (b, id, M_PIO_WALL, (wall[id][1] - wall[id][0]) / delta / NS_PER_US);
          record (b, id, M_PIO_CPU, (cpu[id][1] - cpu[id][0]) / delta / NS_PER_US);
          record (b, id, M_PIO_LOOP, loop[id] / (double) b->count_hi / NS_PER_US);
        }
    }
}

static void
bench_memory (Bench *b)
{
  static const VmmId ids[] = { VMM_VIREO, VMM_QEMU };
  /* vireo-run turns SIGTERM into a power-button press, which this guest answers by powering off;
   * QEMU just quits on it. */
  RunSpec spec = { { SHUTDOWN_MARKER, NULL, NULL }, SHUTDOWN_MARKER, 0, TRUE };

  for (int rep = 0; rep < b->runs; rep++)
    {
      VmmId order[G_N_ELEMENTS (ids)];
      rotated_order (rep, ids, G_N_ELEMENTS (ids), order);
      for (gsize i = 0; i < G_N_ELEMENTS (ids); i++)
        {
          VmmId id = order[i];
          RunResult r;
          if (!vmm_usable (b, id))
            continue;
          g_autoptr (GPtrArray) argv = vmm_argv (b, id, "shutdown", NULL, 0);
          if (!run_vmm (b, id, "shutdown.elf", argv, &spec, &r))
            continue;
          double hwm = r.mem.vm_hwm_kib / KIB_PER_MIB;
          double guest = r.mem.rss_shmem_kib / KIB_PER_MIB;
          record (b, id, M_MEM_HWM, hwm);
          record (b, id, M_MEM_GUEST, guest);
          record (b, id, M_MEM_OVERHEAD, hwm - guest);
          record (b, id, M_MEM_ANON, r.mem.rss_anon_kib / KIB_PER_MIB);
          record (b, id, M_MEM_FILE, r.mem.rss_file_kib / KIB_PER_MIB);
          progress (b, "[memory %d/%d] %-5s VmHWM %6.2f MiB, guest RAM %6.2f MiB, overhead %6.2f MiB",
                    rep + 1, b->runs, vmm_names[id], hwm, guest, hwm - guest);
          run_result_clear (&r);
        }
    }
}

/* The disk benchmark. */

/* Fills @path with @mib MiB of bytes that are neither zeros nor compressible, so that every block is
 * allocated and read from the file. */
static gboolean
write_filled_image (const char *path, int mib, GError **error)
{
  g_autofree guint8 *chunk = g_malloc (1 << 20);
  guint64 x = 0x2545f4914f6cdd1dull;
  int fd = open (path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

  if (fd < 0)
    {
      int saved = errno;
      g_set_error (error, BENCH_ERROR, 0, "cannot create %s: %s", path, g_strerror (saved));
      return FALSE;
    }
  for (int m = 0; m < mib; m++)
    {
      for (gsize i = 0; i < (1 << 20); i += 8)
        {
          x ^= x << 13;
          x ^= x >> 7;
          x ^= x << 17;
          memcpy (chunk + i, &x, 8);
        }
      if (write (fd, chunk, 1 << 20) != 1 << 20)
        {
          int saved = errno;
          close (fd);
          g_set_error (error, BENCH_ERROR, 0, "cannot write %s: %s", path, g_strerror (saved));
          return FALSE;
        }
    }
  fsync (fd);
  close (fd);
  return TRUE;
}

/* The raw image, and a qcow2 converted from it (every cluster allocated) when qemu-img is there. */
static gboolean
make_disk_images (Bench *b, GError **error)
{
  g_autofree char *qemu_img = g_find_program_in_path ("qemu-img");
  g_autofree char *raw = g_build_filename (b->disk_dir, "bench-disk.raw", NULL);
  g_autofree char *qcow2 = g_build_filename (b->disk_dir, "bench-disk.qcow2", NULL);

  if (!write_filled_image (raw, DISK_IMAGE_MIB, error))
    return FALSE;
  b->disk_images[0] = g_steal_pointer (&raw);
  if (qemu_img == NULL)
    {
      g_printerr ("vireo-bench: qemu-img not found (Debian: qemu-utils): raw only\n");
      return TRUE;
    }
  {
    const char *argv[] = { qemu_img, "convert", "-f", "raw", "-O", "qcow2", b->disk_images[0], qcow2, NULL };
    int status;

    if (!g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_DEFAULT, NULL, NULL, NULL, NULL, &status, error)
        || !g_spawn_check_wait_status (status, error))
      return FALSE;
  }
  b->disk_images[1] = g_steal_pointer (&qcow2);
  return TRUE;
}

static void
remove_disk_images (Bench *b)
{
  for (int f = 0; f < N_DISK_FORMATS; f++)
    if (b->disk_images[f] != NULL)
      {
        unlink (b->disk_images[f]);
        g_clear_pointer (&b->disk_images[f], g_free);
      }
}

/* vmm_argv for blk-bench.elf with the image of format @f as its virtio-blk disk, direct I/O. */
static GPtrArray *
disk_argv (const Bench *b, VmmId id, int f)
{
  g_autofree char *cmdline = g_strdup_printf ("scale=%d", b->disk_scale);
  GPtrArray *argv = vmm_argv (b, id, "blk-bench", cmdline, 0);

  g_ptr_array_remove_index (argv, argv->len - 1); /* the NULL */
  if (id == VMM_VIREO)
    {
      g_ptr_array_add (argv, g_strdup ("--disk"));
      g_ptr_array_add (argv, g_strdup_printf ("%s,format=%s,cache=none", b->disk_images[f], disk_formats[f]));
    }
  else
    {
      g_ptr_array_add (argv, g_strdup ("-drive"));
      g_ptr_array_add (argv, g_strdup_printf ("file=%s,format=%s,if=none,id=disk0,cache=none,aio=io_uring",
                                              b->disk_images[f], disk_formats[f]));
      g_ptr_array_add (argv, g_strdup ("-device"));
      /* Modern only: the guest looks for the virtio 1.x device ID, as vireo offers it. */
      g_ptr_array_add (argv, g_strdup ("virtio-blk-pci,drive=disk0,disable-legacy=on"));
    }
  g_ptr_array_add (argv, NULL);
  return argv;
}

static GPtrArray *
fio_argv (const Bench *b, const DiskWorkload *w)
{
  GPtrArray *argv = g_ptr_array_new_with_free_func (g_free);

  g_ptr_array_add (argv, g_strdup (b->vmm[VMM_FIO].path));
  g_ptr_array_add (argv, g_strdup_printf ("--name=%s", w->name));
  g_ptr_array_add (argv, g_strdup_printf ("--filename=%s", b->disk_images[0]));
  g_ptr_array_add (argv, g_strdup ("--direct=1"));
  g_ptr_array_add (argv, g_strdup ("--ioengine=io_uring"));
  g_ptr_array_add (argv, g_strdup_printf ("--rw=%s", w->fio_rw));
  g_ptr_array_add (argv, g_strdup_printf ("--bs=%u", w->bytes));
  g_ptr_array_add (argv, g_strdup_printf ("--iodepth=%u", w->depth));
  g_ptr_array_add (argv, g_strdup_printf ("--runtime=%d", b->fio_seconds));
  g_ptr_array_add (argv, g_strdup ("--time_based"));
  g_ptr_array_add (argv, g_strdup ("--minimal"));
  g_ptr_array_add (argv, NULL);
  return argv;
}

/* IOPS for small requests, MB/s (10^6 bytes) for 1 MiB ones, from @requests done in @ns. */
static double
disk_rate (const DiskWorkload *w, double requests, double ns)
{
  double per_second = requests / (ns / 1e9);
  return w->bytes >= (1u << 20) ? per_second * w->bytes / 1e6 : per_second;
}

/* fio's terse (v3) line: field 7/8 read KiB/s and IOPS, 48/49 the same for writes. */
static gboolean
parse_fio (const DiskWorkload *w, const char *out, double *value)
{
  g_auto (GStrv) fields = g_strsplit (out, ";", -1);
  gboolean write = strstr (w->fio_rw, "write") != NULL;
  guint iops_field = write ? 48 : 7, bw_field = write ? 47 : 6;

  if (g_strv_length (fields) <= iops_field || !g_str_equal (fields[0], "3"))
    return FALSE;
  if (w->bytes >= (1u << 20))
    *value = g_ascii_strtod (fields[bw_field], NULL) * 1024 / 1e6;
  else
    *value = g_ascii_strtod (fields[iops_field], NULL);
  return *value > 0;
}

static void
bench_disk_fio (Bench *b, int rep)
{
  for (gsize i = 0; i < N_DISK_WORKLOADS && vmm_usable (b, VMM_FIO); i++)
    {
      const DiskWorkload *w = &disk_workloads[i];
      g_autoptr (GPtrArray) argv = fio_argv (b, w);
      RunSpec spec = { { NULL }, NULL, -1, FALSE };
      RunResult r;
      double value;

      if (!run_vmm (b, VMM_FIO, w->name, argv, &spec, &r))
        return;
      if (!parse_fio (w, r.out->str, &value))
        {
          b->vmm[VMM_FIO].failure = g_strdup_printf ("cannot read fio's output: %.200s", r.out->str);
          run_result_clear (&r);
          return;
        }
      /* The host file is the ceiling for both formats (fio cannot write inside a qcow2 image). */
      for (int f = 0; f < N_DISK_FORMATS; f++)
        record (b, VMM_FIO, M_DISK_FIRST + f * N_DISK_WORKLOADS + i, value);
      progress (b, "[disk %d/%d] fio   %-18s %10.1f %s", rep + 1, b->runs, w->name, value,
                w->bytes >= (1u << 20) ? "MB/s" : "IOPS");
      run_result_clear (&r);
    }
}

static void
bench_disk (Bench *b)
{
  static const VmmId ids[] = { VMM_VIREO, VMM_QEMU, VMM_FIO };
  g_autofree char *go[N_DISK_WORKLOADS] = { NULL };
  g_autofree char *done[N_DISK_WORKLOADS] = { NULL };
  RunSpec spec = { { NULL }, "blk-bench: finished", -1, FALSE };

  /* Markers in pairs: "go NAME\n" (the newline keeps qd1 from matching qd32) and "done NAME ". */
  for (gsize i = 0; i < N_DISK_WORKLOADS; i++)
    {
      go[i] = g_strdup_printf ("blk-bench: go %s\n", disk_workloads[i].name);
      done[i] = g_strdup_printf ("blk-bench: done %s ", disk_workloads[i].name);
      spec.markers[2 * i] = go[i];
      spec.markers[2 * i + 1] = done[i];
    }
  for (int rep = 0; rep < b->runs; rep++)
    {
      VmmId order[G_N_ELEMENTS (ids)];

      rotated_order (rep, ids, G_N_ELEMENTS (ids), order);
      for (gsize k = 0; k < G_N_ELEMENTS (ids); k++)
        {
          VmmId id = order[k];

          if (!vmm_usable (b, id))
            continue;
          if (id == VMM_FIO)
            {
              bench_disk_fio (b, rep);
              continue;
            }
          for (int f = 0; f < N_DISK_FORMATS; f++)
            {
              g_autoptr (GPtrArray) argv = NULL;
              RunResult r;

              if (b->disk_images[f] == NULL || !vmm_usable (b, id))
                continue;
              argv = disk_argv (b, id, f);
              if (!run_vmm (b, id, "blk-bench.elf", argv, &spec, &r))
                continue;
              for (gsize i = 0; i < N_DISK_WORKLOADS; i++)
                {
                  const DiskWorkload *w = &disk_workloads[i];
                  gint64 ns = r.marker_ns[2 * i + 1] - r.marker_ns[2 * i];
                  double value;

                  if (r.marker_ns[2 * i] < 0 || r.marker_ns[2 * i + 1] < 0 || ns <= 0)
                    continue;
                  value = disk_rate (w, (double) w->count * b->disk_scale, (double) ns);
                  record (b, id, M_DISK_FIRST + f * N_DISK_WORKLOADS + i, value);
                  progress (b, "[disk %d/%d] %-5s %-5s %-18s %10.1f %s", rep + 1, b->runs, vmm_names[id],
                            disk_formats[f], w->name, value, w->bytes >= (1u << 20) ? "MB/s" : "IOPS");
                }
              run_result_clear (&r);
            }
        }
    }
}

/* The firmware benchmark: SeaBIOS boots a boot sector from a virtio disk, which prints a line on COM1
 * and resets the machine through port 0xCF9. */

/* A 1 MiB raw disk whose boot sector prints BOOT_SECTOR_MARKER and resets the machine. */
static gboolean
make_boot_image (Bench *b, GError **error)
{
  g_autofree uint8_t *disk = g_malloc0 (1 << 20);
  g_autofree char *path = g_build_filename (b->disk_dir ? b->disk_dir : g_get_tmp_dir (), "bench-boot.raw",
                                            NULL);

  vireo_boot_sector_fill (disk, BOOT_SECTOR_MARKER "\r\n", TRUE);
  if (!g_file_set_contents (path, (const char *) disk, 1 << 20, error))
    return FALSE;
  b->boot_image = g_steal_pointer (&path);
  return TRUE;
}

/* Both boot Debian's SeaBIOS on an i440FX machine with the boot image as a virtio disk and nothing else:
 * no display, no NIC (QEMU: -nodefaults). */
static GPtrArray *
firmware_argv (const Bench *b, VmmId id)
{
  GPtrArray *argv = g_ptr_array_new_with_free_func (g_free);
  g_autofree char *mem = g_strdup_printf ("%dM", b->memory_mib);

  g_ptr_array_add (argv, g_strdup (b->vmm[id].path));
  if (id == VMM_VIREO)
    {
      g_ptr_array_add (argv, g_strdup ("-m"));
      g_ptr_array_add (argv, g_strdup (mem));
      g_ptr_array_add (argv, g_strdup ("--firmware"));
      g_ptr_array_add (argv, g_strdup (SEABIOS_IMAGE));
      g_ptr_array_add (argv, g_strdup ("--disk"));
      g_ptr_array_add (argv, g_strdup_printf ("%s,format=raw,readonly=on", b->boot_image));
    }
  else
    {
      const char *const fixed[] = { "-enable-kvm", "-cpu",        "qemu64",          "-machine",
                                    "pc",          "-nodefaults", "-no-user-config", "-display",
                                    "none",        "-serial",     "stdio",           "-no-reboot",
                                    "-bios",       SEABIOS_IMAGE };
      for (gsize i = 0; i < G_N_ELEMENTS (fixed); i++)
        g_ptr_array_add (argv, g_strdup (fixed[i]));
      g_ptr_array_add (argv, g_strdup ("-m"));
      g_ptr_array_add (argv, g_strdup (mem));
      g_ptr_array_add (argv, g_strdup ("-drive"));
      g_ptr_array_add (argv,
                       g_strdup_printf ("file=%s,format=raw,if=none,id=disk0,readonly=on", b->boot_image));
      g_ptr_array_add (argv, g_strdup ("-device"));
      g_ptr_array_add (argv, g_strdup ("virtio-blk-pci,drive=disk0"));
    }
  g_ptr_array_add (argv, NULL);
  return argv;
}

static void
bench_firmware (Bench *b)
{
  static const VmmId ids[] = { VMM_VIREO, VMM_QEMU };
  /* vireo-run reports the reset by its exit status; QEMU (-no-reboot) exits 0. */
  RunSpec specs[N_VMMS] = {
    [VMM_VIREO] = { { BOOT_SECTOR_MARKER, NULL }, BOOT_SECTOR_MARKER, -1, FALSE, VIREO_EXIT_RESET },
    [VMM_QEMU] = { { BOOT_SECTOR_MARKER, NULL }, BOOT_SECTOR_MARKER, -1, FALSE, 0 },
  };

  for (int rep = 0; rep < b->runs; rep++)
    {
      VmmId order[G_N_ELEMENTS (ids)];
      rotated_order (rep, ids, G_N_ELEMENTS (ids), order);
      for (gsize i = 0; i < G_N_ELEMENTS (ids); i++)
        {
          VmmId id = order[i];
          g_autoptr (GPtrArray) argv = NULL;
          RunResult r;

          if (!vmm_usable (b, id))
            continue;
          argv = firmware_argv (b, id);
          if (!run_vmm (b, id, "SeaBIOS boot sector", argv, &specs[id], &r))
            continue;
          record (b, id, M_FW_FIRST_BYTE, r.marker_ns[0] / NS_PER_MS);
          record (b, id, M_FW_EXIT, r.exit_ns / NS_PER_MS);
          record (b, id, M_FW_CPU, r.user_ms + r.sys_ms);
          progress (b, "[firmware %d/%d] %-5s boot sector %8.1f ms, exit %8.1f ms, cpu %7.1f ms", rep + 1,
                    b->runs, vmm_names[id], r.marker_ns[0] / NS_PER_MS, r.exit_ns / NS_PER_MS,
                    r.user_ms + r.sys_ms);
          run_result_clear (&r);
        }
    }
}

/* The network benchmark: net-bench.elf (tests/guests/net-bench.c) with one virtio-net NIC, reached through
 * slirp's UDP port forward on 127.0.0.1 and through a TAP on a bridge inside a network namespace the
 * benchmark makes (and removes, also when it is interrupted).  Per boot: NET_PINGS round trips of a
 * 64-byte datagram from a host socket to the guest's echo port, then a burst of datagrams from the guest
 * to that socket at each of two payload sizes.  Traffic goes only to 127.0.0.1 or inside the namespace;
 * vireo's slirp runs restricted (QEMU's cannot: see bench_net). */

#define NET_PINGS        1000
#define NET_READY_MARKER "net-bench ready ip="
#define NET_READY_MS     60000 /* QEMU's SeaBIOS takes seconds where ring 0 is emulated */
#define NET_REPLY_MS     1000
#define NET_IDLE_MS      2000
#define NET_RCVBUF       (32 << 20)
/* A run can fail once on a machine busy enough to starve a thread for a second; twice is the VMM. */
#define NET_MAX_FAILURES 2
/* The namespace's bridge and addresses: a private /24 that exists nowhere else. */
#define NET_BRIDGE    "vbbr0"
#define NET_QEMU_TAP  "vbtap0"
#define NET_HOST_IP   "10.77.0.1"
#define NET_GUEST_IP  "10.77.0.2"
#define NET_HOST_CIDR NET_HOST_IP "/24"

static const unsigned net_sizes[2] = { NET_SMALL, NET_LARGE };

static gboolean summarize (GArray *values, double *median, double *lo, double *hi);
static int compare_doubles (gconstpointer a, gconstpointer b);

/* What a signal handler needs to leave nothing behind: the namespace and the VMM running now. */
static char net_netns_cleanup[64];
static volatile pid_t net_running_pid;

static gboolean
run_ip (GError **error, ...)
{
  g_autoptr (GPtrArray) argv = g_ptr_array_new ();
  g_autofree char *err = NULL;
  int status;
  va_list args;
  const char *arg;

  g_ptr_array_add (argv, (gpointer) "ip");
  va_start (args, error);
  while ((arg = va_arg (args, const char *)) != NULL)
    g_ptr_array_add (argv, (gpointer) arg);
  va_end (args);
  g_ptr_array_add (argv, NULL);
  if (!g_spawn_sync (NULL, (char **) argv->pdata, NULL, G_SPAWN_SEARCH_PATH | G_SPAWN_STDOUT_TO_DEV_NULL,
                     NULL, NULL, NULL, &err, &status, error))
    return FALSE;
  if (!g_spawn_check_wait_status (status, NULL))
    {
      g_autofree char *cmd = g_strjoinv (" ", (char **) argv->pdata);
      g_set_error (error, BENCH_ERROR, 0, "`%s` failed: %s", cmd, err ? g_strstrip (err) : "");
      return FALSE;
    }
  return TRUE;
}

static void
net_remove_netns (Bench *b)
{
  if (b->net_netns == NULL)
    return;
  run_ip (NULL, "netns", "del", b->net_netns, NULL);
  net_netns_cleanup[0] = '\0';
  g_clear_pointer (&b->net_netns, g_free);
}

/* Async-signal-safe: stop the VMM, delete the namespace (its bridge and TAPs go with it), and die of
 * the signal as if nothing had caught it. */
static void
net_on_signal (int sig)
{
  pid_t pid = net_running_pid;

  if (pid > 0)
    kill (pid, SIGKILL);
  if (net_netns_cleanup[0] != '\0')
    {
      pid_t child = fork ();
      if (child == 0)
        {
          char *const argv[] = { (char *) "ip", (char *) "netns", (char *) "del", net_netns_cleanup, NULL };
          execvp ("ip", argv);
          _exit (127);
        }
      if (child > 0)
        waitpid (child, NULL, 0);
    }
  signal (sig, SIG_DFL);
  raise (sig);
}

/* The namespace with its bridge (NET_HOST_CIDR, no uplink) and QEMU's TAP on it.  FALSE with a reason
 * for the table when TAP cells cannot be run. */
static gboolean
net_make_netns (Bench *b, GError **error)
{
  b->net_netns = g_strdup_printf ("vireo-bench-%d", (int) getpid ());
  if (!run_ip (error, "netns", "add", b->net_netns, NULL))
    {
      g_clear_pointer (&b->net_netns, g_free);
      return FALSE;
    }
  g_strlcpy (net_netns_cleanup, b->net_netns, sizeof net_netns_cleanup);
  struct sigaction sa = { .sa_handler = net_on_signal };
  sigaction (SIGINT, &sa, NULL);
  sigaction (SIGTERM, &sa, NULL);
  sigaction (SIGHUP, &sa, NULL);
  const char *ns = b->net_netns;
  if (!run_ip (error, "-n", ns, "link", "set", "lo", "up", NULL)
      || !run_ip (error, "-n", ns, "link", "add", NET_BRIDGE, "type", "bridge", NULL)
      || !run_ip (error, "-n", ns, "addr", "add", NET_HOST_CIDR, "dev", NET_BRIDGE, NULL)
      || !run_ip (error, "-n", ns, "link", "set", NET_BRIDGE, "up", NULL)
      || !run_ip (error, "-n", ns, "tuntap", "add", "dev", NET_QEMU_TAP, "mode", "tap", "vnet_hdr", NULL)
      || !run_ip (error, "-n", ns, "link", "set", NET_QEMU_TAP, "master", NET_BRIDGE, "up", NULL))
    {
      net_remove_netns (b);
      return FALSE;
    }
  return TRUE;
}

/* A UDP socket connected to the guest's echo service: in the namespace for TAP. */
static int
net_socket (const Bench *b, NetPath path, uint16_t port, GError **error)
{
  struct sockaddr_in to = { .sin_family = AF_INET, .sin_port = htons (port) };
  int self_ns = -1, fd = -1, saved;

  if (path == NET_TAP)
    {
      g_autofree char *ns_path = g_strdup_printf ("/run/netns/%s", b->net_netns);
      int ns = open (ns_path, O_RDONLY | O_CLOEXEC);

      self_ns = open ("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
      if (ns < 0 || self_ns < 0 || setns (ns, CLONE_NEWNET) < 0)
        {
          saved = errno;
          if (ns >= 0)
            close (ns);
          if (self_ns >= 0)
            close (self_ns);
          g_set_error (error, BENCH_ERROR, 0, "cannot enter the namespace %s: %s", b->net_netns,
                       g_strerror (saved));
          return -1;
        }
      close (ns);
      inet_pton (AF_INET, NET_GUEST_IP, &to.sin_addr);
    }
  else
    to.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
  /* A socket stays in the namespace it was made in. */
  fd = socket (AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  saved = errno;
  if (self_ns >= 0)
    {
      if (setns (self_ns, CLONE_NEWNET) < 0)
        g_error ("cannot return to the benchmark's own network namespace: %s", g_strerror (errno));
      close (self_ns);
    }
  if (fd < 0)
    {
      g_set_error (error, BENCH_ERROR, 0, "socket: %s", g_strerror (saved));
      return -1;
    }
  int size = NET_RCVBUF;
  /* Root may go past rmem_max; bursts must not be lost in our own socket. */
  if (setsockopt (fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof size) < 0)
    setsockopt (fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
  if (connect (fd, (struct sockaddr *) &to, sizeof to) < 0)
    {
      saved = errno;
      close (fd);
      g_set_error (error, BENCH_ERROR, 0, "connect: %s", g_strerror (saved));
      return -1;
    }
  return fd;
}

/* A port on 127.0.0.1 nothing uses now, for the forward. */
static uint16_t
net_free_port (void)
{
  struct sockaddr_in addr = { .sin_family = AF_INET, .sin_addr.s_addr = htonl (INADDR_LOOPBACK) };
  socklen_t len = sizeof addr;
  int fd = socket (AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  uint16_t port = 0;

  if (fd >= 0 && bind (fd, (struct sockaddr *) &addr, sizeof addr) == 0
      && getsockname (fd, (struct sockaddr *) &addr, &len) == 0)
    port = ntohs (addr.sin_port);
  if (fd >= 0)
    close (fd);
  return port;
}

/* The VMM's command line; TAP ones run inside the namespace @netns. */
static GPtrArray *
net_argv (const Bench *b, VmmId id, NetPath path, uint16_t port, const char *netns)
{
  g_autofree char *cmdline = path == NET_TAP ? g_strdup ("ip=" NET_GUEST_IP) : NULL;
  GPtrArray *argv = vmm_argv (b, id, "net-bench", cmdline, 0);

  g_ptr_array_remove_index (argv, argv->len - 1); /* the NULL */
  if (id == VMM_VIREO)
    {
      g_ptr_array_add (argv, g_strdup ("--net"));
      if (path == NET_TAP)
        g_ptr_array_add (argv, g_strdup ("bridge=" NET_BRIDGE));
      else
        g_ptr_array_add (argv, g_strdup_printf ("user,restrict=on,hostfwd=udp:127.0.0.1:%u-:7", port));
    }
  else
    {
      g_ptr_array_add (argv, g_strdup ("-netdev"));
      if (path == NET_TAP)
        g_ptr_array_add (argv, g_strdup_printf ("tap,id=n0,ifname=" NET_QEMU_TAP
                                                ",script=no,downscript=no,vhost=%s",
                                                b->net_vhost ? "on" : "off"));
      else
        /* Not restrict=on: QEMU's libslirp then drops every UDP datagram from the guest but DHCP and
         * TFTP, the echoes through the forward included. */
        g_ptr_array_add (argv, g_strdup_printf ("user,id=n0,hostfwd=udp:127.0.0.1:%u-:7", port));
      g_ptr_array_add (argv, g_strdup ("-device"));
      /* Modern only, as vireo's; no option ROM: iPXE costs seconds of emulated ring 0 here. */
      g_ptr_array_add (argv, g_strdup ("virtio-net-pci,netdev=n0,disable-legacy=on,romfile="));
    }
  g_ptr_array_add (argv, NULL);
  if (path == NET_TAP)
    {
      /* The VMM runs inside the namespace, where the bridge is. */
      const char *prefix[] = { "ip", "netns", "exec", netns };
      for (gsize i = 0; i < G_N_ELEMENTS (prefix); i++)
        g_ptr_array_insert (argv, (gint) i, g_strdup (prefix[i]));
    }
  return argv;
}

/* A VMM running net-bench.elf, its console (stdout and stderr) read as it comes. */
typedef struct
{
  GPid pid;
  int fds[2];
  GString *out;
} NetVm;

static gboolean
net_vm_start (NetVm *vm, GPtrArray *argv, GError **error)
{
  memset (vm, 0, sizeof *vm);
  vm->fds[0] = vm->fds[1] = -1;
  vm->out = g_string_new (NULL);
  if (!g_spawn_async_with_pipes_and_fds (
          NULL, (const char *const *) argv->pdata, NULL,
          G_SPAWN_DO_NOT_REAP_CHILD | G_SPAWN_STDIN_FROM_DEV_NULL | G_SPAWN_SEARCH_PATH, NULL, NULL, -1, -1,
          -1, NULL, NULL, 0, &vm->pid, NULL, &vm->fds[0], &vm->fds[1], error))
    return FALSE;
  net_running_pid = vm->pid;
  for (int i = 0; i < 2; i++)
    fcntl (vm->fds[i], F_SETFL, fcntl (vm->fds[i], F_GETFL) | O_NONBLOCK);
  return TRUE;
}

/* Reads the console until @needle (then TRUE), EOF or @timeout_ms. */
static gboolean
net_vm_wait_for (NetVm *vm, const char *needle, int timeout_ms, GError **error)
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

/* Waits for the VMM to exit (after "net-bench quit"), killing it after a while; TRUE when it exited
 * by itself with 0. */
static gboolean
net_vm_finish (NetVm *vm)
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
  net_running_pid = 0;
  for (int i = 0; i < 2; i++)
    drain_rest (&vm->fds[i], vm->out, NULL);
  g_spawn_close_pid (vm->pid);
  return got > 0 && WIFEXITED (status) && WEXITSTATUS (status) == 0;
}

static void
net_vm_clear (NetVm *vm)
{
  if (vm->out != NULL)
    g_string_free (vm->out, TRUE);
  vm->out = NULL;
}

/* The CPU time of @pid's threads but its vCPUs (vireo's "vcpu N", QEMU's "CPU N/KVM"), in ns: the
 * device's and the network's work, which the guest's spinning vCPU would drown. */
static gint64
net_vmm_cpu_ns (GPid pid)
{
  g_autofree char *tasks = g_strdup_printf ("/proc/%d/task", (int) pid);
  g_autoptr (GDir) dir = g_dir_open (tasks, 0, NULL);
  const char *tid;
  gint64 total = 0;

  while (dir != NULL && (tid = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *comm_path = g_build_filename (tasks, tid, "comm", NULL);
      g_autofree char *stat_path = g_build_filename (tasks, tid, "schedstat", NULL);
      g_autofree char *comm = NULL, *stat = NULL;

      if (!g_file_get_contents (comm_path, &comm, NULL, NULL) || g_str_has_prefix (comm, "vcpu ")
          || g_str_has_prefix (comm, "CPU ") || !g_file_get_contents (stat_path, &stat, NULL, NULL))
        continue;
      total += g_ascii_strtoll (stat, NULL, 10);
    }
  return total;
}

/* NET_PINGS round trips of 64 bytes; the median and 10th percentile in µs.  A datagram lost on the way
 * (none should be) is sent again after NET_REPLY_MS. */
static gboolean
net_ping (int fd, double *median_us, double *fast_us, unsigned *lost, GError **error)
{
  g_autoptr (GArray) rtts = g_array_sized_new (FALSE, FALSE, sizeof (double), NET_PINGS);
  uint8_t msg[NET_SMALL] = { 0 }, reply[2048];
  double lo, hi;

  *lost = 0;
  for (uint32_t seq = 0; rtts->len < NET_PINGS; seq++)
    {
      msg[0] = (uint8_t) (seq >> 24);
      msg[1] = (uint8_t) (seq >> 16);
      msg[2] = (uint8_t) (seq >> 8);
      msg[3] = (uint8_t) seq;
      gint64 t0 = now_ns ();
      if (send (fd, msg, sizeof msg, 0) < 0)
        {
          g_set_error (error, BENCH_ERROR, 0, "send: %s", g_strerror (errno));
          return FALSE;
        }
      for (;;)
        {
          struct pollfd p = { fd, POLLIN, 0 };
          gint64 left = t0 + NET_REPLY_MS * G_GINT64_CONSTANT (1000000) - now_ns ();
          if (left <= 0 || poll (&p, 1, (int) (left / 1000000) + 1) == 0)
            {
              if (++*lost > NET_PINGS / 10)
                {
                  g_set_error (error, BENCH_ERROR, 0, "no echo for %u datagrams", *lost);
                  return FALSE;
                }
              break;
            }
          ssize_t n = recv (fd, reply, sizeof reply, MSG_DONTWAIT);
          if (n == (ssize_t) sizeof msg && memcmp (reply, msg, sizeof msg) == 0)
            {
              double us = (now_ns () - t0) / NS_PER_US;
              g_array_append_val (rtts, us);
              break;
            }
          /* A late echo of an earlier one, or an error from an ICMP (before the guest listens). */
        }
    }
  if (!summarize (rtts, median_us, &lo, &hi))
    return FALSE;
  g_array_sort (rtts, compare_doubles);
  *fast_us = g_array_index (rtts, double, rtts->len / 10);
  return TRUE;
}

/* One burst of @count datagrams of @size bytes from the guest; datagrams/s and MB/s (10^6 bytes of
 * payload) over the time from the command to the last datagram. */
static gboolean
net_burst (int fd, unsigned count, unsigned size, double *pps, double *mbs, unsigned *received,
           GError **error)
{
  g_autofree char *command = g_strdup_printf ("net-bench send %u %u", count, size);
  uint8_t buf[2048];
  gint64 t0, last;

  *received = 0;
  /* Whatever was left over (late echoes) must not count. */
  while (recv (fd, buf, sizeof buf, MSG_DONTWAIT) >= 0)
    ;
  t0 = last = now_ns ();
  if (send (fd, command, strlen (command), 0) < 0)
    {
      g_set_error (error, BENCH_ERROR, 0, "send: %s", g_strerror (errno));
      return FALSE;
    }
  for (;;)
    {
      struct pollfd p = { fd, POLLIN, 0 };
      if (poll (&p, 1, NET_IDLE_MS) <= 0)
        break; /* the end marker was lost, or the rest */
      ssize_t n = recv (fd, buf, sizeof buf, MSG_DONTWAIT);
      if (n < 0)
        continue;
      if (n >= 13 && memcmp (buf, "net-bench end", 13) == 0)
        break;
      if (n == (ssize_t) size)
        {
          ++*received;
          last = now_ns ();
        }
    }
  if (*received == 0)
    {
      g_set_error (error, BENCH_ERROR, 0, "no datagram of %u bytes came from the guest", size);
      return FALSE;
    }
  *pps = *received / ((last - t0) / 1e9);
  *mbs = *pps * size / 1e6;
  return TRUE;
}

/* One boot: round trips, then both bursts; the numbers recorded. */
static gboolean
net_run_once (Bench *b, VmmId id, NetPath path, int rep, GError **error)
{
  uint16_t port = path == NET_USER ? net_free_port () : 7;
  g_autoptr (GPtrArray) argv = net_argv (b, id, path, port, b->net_netns);
  NetVm vm;
  double rtt, rtt_fast, pps[2], mbs[2], cpu[2];
  unsigned lost, received[2];
  gboolean ok = FALSE;
  int fd = -1;

  if (path == NET_USER && port == 0)
    {
      g_set_error (error, BENCH_ERROR, 0, "no free UDP port on 127.0.0.1");
      return FALSE;
    }
  if (!net_vm_start (&vm, argv, error))
    return FALSE;
  if (!net_vm_wait_for (&vm, NET_READY_MARKER, NET_READY_MS, error))
    goto out;
  fd = net_socket (b, path, port, error);
  if (fd < 0 || !net_ping (fd, &rtt, &rtt_fast, &lost, error))
    goto out;
  for (int s = 0; s < 2; s++)
    {
      gint64 cpu0 = net_vmm_cpu_ns (vm.pid);
      if (!net_burst (fd, b->net_count, net_sizes[s], &pps[s], &mbs[s], &received[s], error))
        goto out;
      cpu[s] = (net_vmm_cpu_ns (vm.pid) - cpu0) / NS_PER_US / received[s];
    }
  send (fd, "net-bench quit", 14, 0);
  ok = TRUE;

out:
  if (fd >= 0)
    close (fd);
  if (!ok)
    {
      kill (vm.pid, SIGKILL);
      net_vm_finish (&vm);
      g_autofree char *cmd = g_strjoinv (" ", (char **) argv->pdata);
      g_prefix_error (error, "%s: ", cmd);
      net_vm_clear (&vm);
      return FALSE;
    }
  if (!net_vm_finish (&vm) || strstr (vm.out->str, "net-bench done") == NULL)
    {
      g_set_error (error, BENCH_ERROR, 0, "it did not power off after \"net-bench quit\" (output: %.300s)",
                   vm.out->str);
      net_vm_clear (&vm);
      return FALSE;
    }
  net_vm_clear (&vm);
  record (b, id, NET_METRIC (path, NET_RTT), rtt);
  record (b, id, NET_METRIC (path, NET_RTT_FAST), rtt_fast);
  for (int s = 0; s < 2; s++)
    {
      record (b, id, NET_METRIC (path, NET_PPS_SMALL + 3 * s), pps[s] / 1e3);
      record (b, id, NET_METRIC (path, NET_MBS_SMALL + 3 * s), mbs[s]);
      record (b, id, NET_METRIC (path, NET_CPU_SMALL + 3 * s), cpu[s]);
    }
  progress (b,
            "[net %d/%d] %-5s %-4s rtt %5.1f us (p10 %5.1f, %u resent), %4u B: %6.1f kpps %5.1f MB/s "
            "%5.2f us cpu (%u of %u), %4u B: %6.1f kpps %5.1f MB/s %5.2f us cpu (%u of %u)",
            rep + 1, b->runs, vmm_names[id], net_path_names[path], rtt, rtt_fast, lost, net_sizes[0],
            pps[0] / 1e3, mbs[0], cpu[0], received[0], b->net_count, net_sizes[1], pps[1] / 1e3, mbs[1],
            cpu[1], received[1], b->net_count);
  return TRUE;
}

static void
bench_net (Bench *b)
{
  static const VmmId ids[] = { VMM_VIREO, VMM_QEMU };
  g_autoptr (GError) error = NULL;

  if (geteuid () != 0)
    b->net_tap_skipped = g_strdup ("not root: the TAP cells need a network namespace, a bridge and TAPs");
  else if (!net_make_netns (b, &error))
    b->net_tap_skipped = g_strdup_printf ("cannot make the namespace: %s", error->message);
  if (b->net_tap_skipped != NULL)
    g_printerr ("vireo-bench: skipping the TAP cells: %s\n", b->net_tap_skipped);

  for (int rep = 0; rep < b->runs; rep++)
    for (int path = 0; path < N_NET_PATHS; path++)
      {
        VmmId order[G_N_ELEMENTS (ids)];

        if (path == NET_TAP && b->net_tap_skipped != NULL)
          continue;
        rotated_order (rep, ids, G_N_ELEMENTS (ids), order);
        for (gsize i = 0; i < G_N_ELEMENTS (ids); i++)
          {
            VmmId id = order[i];
            g_autoptr (GError) local = NULL;

            if (!vmm_usable (b, id) || b->net_failures[id][path] >= NET_MAX_FAILURES)
              continue;
            if (!net_run_once (b, id, (NetPath) path, rep, &local))
              {
                /* One path failing (vireo without --net bridge=, say) leaves the other measured. */
                g_free (b->net_failure[id][path]);
                b->net_failure[id][path] = g_strdup_printf ("%s run failed: %s", net_path_names[path],
                                                            local->message);
                b->net_failures[id][path]++;
                g_printerr ("vireo-bench: %s: %s\n%s", vmm_names[id], b->net_failure[id][path],
                            b->net_failures[id][path] >= NET_MAX_FAILURES ? "  (no more runs of it)\n" : "");
              }
          }
      }
  net_remove_netns (b);
}

/* The checkpoint benchmark (--only checkpoint): mem-counter.elf in a 1 GiB guest that filled 512 MiB,
 * with a fresh qcow2 disk, on each VMM: one standard checkpoint taken while the guest counts, then
 * applied CKPT_APPLIES times, each after the guest has counted on for a while.  vireo is the core in
 * checkpoint-harness (checkpoint-harness.c: pause, disk snapshots, hv_vm_save, resume; apply as
 * vireo-worker does it, in place with hv_vm_revert), driven over its control socket; QEMU takes HMP savevm and loadvm over its monitor
 * socket.  The guest prints "count N" every millisecond, so "running again" is seen within one. */

#define CKPT_MEMORY_MIB  1024
#define CKPT_TOUCH_MIB   512
#define CKPT_CMDLINE     "period=1 touch=512"
#define CKPT_TOUCHED     "mem-counter: touched 512 MiB\n"
#define CKPT_NAME        "c1"
#define CKPT_APPLIES     3
#define CKPT_IMAGE_SIZE  "1G"
#define CKPT_READY_MS    180000 /* SeaBIOS, then 512 MiB faulted in, where ring 0 is emulated */
#define CKPT_COMMAND_MS  120000
#define CKPT_RUN_ON      300 /* counts (milliseconds) the guest runs on between operations */
#define CKPT_QEMU_PROMPT "(qemu) "

/* A VMM of the benchmark, its console and its control connection. */
typedef struct
{
  NetVm vm;
  int control;
  GString *reply;      /* what the control connection said since the last command */
  gsize checked;       /* the console up to here has no failure in it */
  gint64 last_count;   /* the guest's last complete "count N" line so far, -1 before any */
  gsize counted;       /* ... in the console up to here */
  gint64 counted_prev; /* the number of the "count" line before, for ckpt_scan_counts */
} CkptVm;

static GPtrArray *
ckpt_argv (const Bench *b, VmmId id, const char *image, const char *state_dir, const char *socket)
{
  g_autofree char *elf = guest_path (b, "mem-counter");
  GPtrArray *argv;

  if (id == VMM_VIREO)
    {
      argv = g_ptr_array_new_with_free_func (g_free);
      g_ptr_array_add (argv, g_strdup (b->checkpoint_harness));
      g_ptr_array_add (argv, g_strdup_printf ("--memory=%d", CKPT_MEMORY_MIB));
      g_ptr_array_add (argv, g_strconcat ("--kernel=", elf, NULL));
      g_ptr_array_add (argv, g_strdup ("--cmdline=" CKPT_CMDLINE));
      g_ptr_array_add (argv, g_strconcat ("--disk=", image, NULL));
      g_ptr_array_add (argv, g_strconcat ("--state-dir=", state_dir, NULL));
      g_ptr_array_add (argv, g_strconcat ("--control=", socket, NULL));
      g_ptr_array_add (argv, NULL);
      return argv;
    }
  /* QEMU as in the other benchmarks (guest RAM in a shared memfd), with the disk and an HMP monitor. */
  Bench sized = *b;
  sized.memory_mib = CKPT_MEMORY_MIB;
  sized.display_dir = NULL;
  argv = vmm_argv (&sized, id, "mem-counter", CKPT_CMDLINE, 0);
  g_ptr_array_remove_index (argv, argv->len - 1); /* the NULL */
  g_ptr_array_add (argv, g_strdup ("-drive"));
  g_ptr_array_add (argv, g_strdup_printf ("if=none,id=d0,file=%s,format=qcow2", image));
  g_ptr_array_add (argv, g_strdup ("-device"));
  g_ptr_array_add (argv, g_strdup ("virtio-blk-pci,drive=d0,disable-legacy=on"));
  g_ptr_array_add (argv, g_strdup ("-monitor"));
  g_ptr_array_add (argv, g_strdup_printf ("unix:%s,server=on,wait=off", socket));
  g_ptr_array_add (argv, NULL);
  return argv;
}

/* One poll of the console and the control connection, up to @timeout_ms.  The console keeps only its
 * recent part: the guest prints about 10 KB/s, and a long run must neither fill the runner's output cap
 * (which would hide the guest from then on) nor make every look at it slower. */
static void
ckpt_pump (CkptVm *c, int timeout_ms)
{
  struct pollfd fds[3] = { { c->vm.fds[0], POLLIN, 0 },
                           { c->vm.fds[1], POLLIN, 0 },
                           { c->control, POLLIN, 0 } };

  if (poll (fds, 3, timeout_ms) < 0)
    return;
  for (int i = 0; i < 2; i++)
    drain_if_ready (&c->vm.fds[i], fds[i].revents, c->vm.out, NULL, 0);
  drain_if_ready (&c->control, fds[2].revents, c->reply, NULL, 0);
}

/* Forgets all of the console but its last few KiB, between commands (offsets into it change). */
static void
ckpt_trim (CkptVm *c)
{
  const gsize keep = 4096;
  gsize cut;

  if (c->vm.out->len < 256 * 1024)
    return;
  cut = c->vm.out->len - keep;
  g_string_erase (c->vm.out, 0, cut);
  c->checked = c->checked > cut ? c->checked - cut : 0;
  c->counted = c->counted > cut ? c->counted - cut : 0;
}

/* Reads the complete lines from *@scan on, advancing it: the last "count N" number among them, or -1;
 * with @below > 0, stops at the first one below it and returns that.  A count is taken only when the
 * line before said N - 1 (*@prev, kept by the caller between scans): a pause or an apply can cut the
 * line the guest was writing, and an apply then goes on with the rest of the checkpoint's own line, so
 * one line may read "count 1" or "count 19" mid-way; two in a row are the guest's. */
static gint64
ckpt_scan_counts (const CkptVm *c, gsize *scan, gint64 *prev, gint64 below)
{
  const char *text = c->vm.out->str;
  gint64 last = -1;

  for (const char *nl; (nl = strchr (text + *scan, '\n')) != NULL;)
    {
      const char *p = text + *scan;

      *scan = nl - text + 1;
      if (g_str_has_prefix (p, "count "))
        {
          gint64 n = g_ascii_strtoll (p + 6, NULL, 10);
          gboolean whole = *prev >= 0 && n == *prev + 1;

          *prev = n;
          if (!whole)
            continue;
          last = n;
          if (below > 0 && last < below)
            return last;
        }
    }
  return below > 0 ? -1 : last;
}

/* The guest's last count so far. */
static gint64
ckpt_last_count (CkptVm *c)
{
  gint64 last = ckpt_scan_counts (c, &c->counted, &c->counted_prev, 0);

  if (last >= 0)
    c->last_count = last;
  return c->last_count;
}

static gboolean
ckpt_check_guest (CkptVm *c, GError **error)
{
  gsize from = c->checked > 8 ? c->checked - 8 : 0; /* "FAIL" may straddle two reads */
  gboolean failed = strstr (c->vm.out->str + from, "FAIL") != NULL;

  c->checked = c->vm.out->len;
  if (failed || c->vm.fds[0] < 0)
    {
      g_set_error (error, BENCH_ERROR, 0, "the guest %s (output: ...%.300s)", failed ? "failed" : "exited",
                   c->vm.out->str + (c->vm.out->len > 300 ? c->vm.out->len - 300 : 0));
      return FALSE;
    }
  return TRUE;
}

/* Lets the guest count on @counts more. */
static gboolean
ckpt_run_on (CkptVm *c, gint64 counts, GError **error)
{
  gint64 deadline = now_ns () + (gint64) CKPT_COMMAND_MS * 1000000;
  gint64 target = ckpt_last_count (c) + counts;

  while (ckpt_last_count (c) < target)
    {
      if (!ckpt_check_guest (c, error))
        return FALSE;
      if (now_ns () > deadline)
        {
          g_set_error (error, BENCH_ERROR, 0, "the guest stopped counting (output: ...%.300s)",
                       c->vm.out->str + (c->vm.out->len > 300 ? c->vm.out->len - 300 : 0));
          return FALSE;
        }
      ckpt_pump (c, 100);
      ckpt_trim (c);
    }
  return TRUE;
}

/* Sends @command and waits for its answer (@id's prompt), and with @counting_below > 0 also for the
 * guest to count again below that (from the checkpoint); the times from sending, in ns. */
static gboolean
ckpt_command (CkptVm *c, VmmId id, const char *command, gint64 counting_below, gint64 *answer_ns,
              gint64 *guest_ns, GError **error)
{
  g_autofree char *line = g_strconcat (command, "\n", NULL);
  gsize scan, from;
  gint64 start, deadline, scan_prev = -1;

  ckpt_trim (c);
  scan = from = c->vm.out->len;
  g_string_truncate (c->reply, 0);
  *answer_ns = *guest_ns = -1;
  start = now_ns ();
  deadline = start + (gint64) CKPT_COMMAND_MS * 1000000;
  if (write (c->control, line, strlen (line)) != (ssize_t) strlen (line))
    {
      g_set_error (error, BENCH_ERROR, 0, "cannot send “%s”: %s", command, g_strerror (errno));
      return FALSE;
    }
  while (*answer_ns < 0 || (counting_below > 0 && *guest_ns < 0))
    {
      ckpt_pump (c, 100);
      if (*answer_ns < 0
          && (id == VMM_QEMU ? strstr (c->reply->str, CKPT_QEMU_PROMPT) != NULL
                             : strchr (c->reply->str, '\n') != NULL))
        *answer_ns = now_ns () - start;
      if (counting_below > 0 && *guest_ns < 0 && ckpt_scan_counts (c, &scan, &scan_prev, counting_below) >= 0)
        *guest_ns = now_ns () - start;
      if (!ckpt_check_guest (c, error))
        return FALSE;
      if (c->control < 0 || now_ns () > deadline)
        {
          g_set_error (error, BENCH_ERROR, 0,
                       "“%s”: %s (answer so far: %s; waiting for a count below %" G_GINT64_FORMAT
                       "; console after the command: %.200s ... %.200s)",
                       command,
                       c->control < 0   ? "the control connection closed"
                       : *answer_ns < 0 ? "no answer in time"
                                        : "the guest did not count from the checkpoint in time",
                       c->reply->str, counting_below, c->vm.out->str + from,
                       c->vm.out->str + (c->vm.out->len > from + 200 ? c->vm.out->len - 200 : from));
          return FALSE;
        }
    }
  /* HMP answers errors in words before its prompt; the harness starts them with "error". */
  if (id == VMM_QEMU ? strstr (c->reply->str, "rror") != NULL : !g_str_has_prefix (c->reply->str, "ok"))
    {
      g_set_error (error, BENCH_ERROR, 0, "“%s” failed: %s", command, g_strstrip (c->reply->str));
      return FALSE;
    }
  return TRUE;
}

static int
ckpt_connect (CkptVm *c, const char *path, GError **error)
{
  struct sockaddr_un addr = { .sun_family = AF_UNIX };
  gint64 deadline = now_ns () + 10 * G_GINT64_CONSTANT (1000000000);

  g_strlcpy (addr.sun_path, path, sizeof addr.sun_path);
  for (;;)
    {
      int fd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

      if (fd >= 0 && connect (fd, (struct sockaddr *) &addr, sizeof addr) == 0)
        {
          fcntl (fd, F_SETFL, fcntl (fd, F_GETFL) | O_NONBLOCK);
          return fd;
        }
      if (fd >= 0)
        close (fd);
      if (now_ns () > deadline)
        {
          g_set_error (error, BENCH_ERROR, 0, "cannot connect to %s: %s", path, g_strerror (errno));
          return -1;
        }
      ckpt_pump (c, 10);
    }
}

static gboolean
ckpt_make_image (const char *image, GError **error)
{
  const char *argv[] = { "qemu-img", "create", "-q", "-f", "qcow2", image, CKPT_IMAGE_SIZE, NULL };
  g_autofree char *err = NULL;
  int status;

  if (!g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_SEARCH_PATH | G_SPAWN_STDOUT_TO_DEV_NULL, NULL, NULL,
                     NULL, &err, &status, error))
    return FALSE;
  if (!g_spawn_check_wait_status (status, NULL))
    {
      g_set_error (error, BENCH_ERROR, 0, "qemu-img create failed: %s", err);
      return FALSE;
    }
  return TRUE;
}

static gboolean
ckpt_run_once (Bench *b, VmmId id, int rep, GError **error)
{
  g_autofree char *dir = g_dir_make_tmp ("vireo-bench-ckpt-XXXXXX", error);
  g_autofree char *image = dir ? g_build_filename (dir, "disk.qcow2", NULL) : NULL;
  g_autofree char *state_dir = dir ? g_build_filename (dir, "checkpoints", NULL) : NULL;
  g_autofree char *socket_path = dir ? g_build_filename (dir, "control.sock", NULL) : NULL;
  g_autoptr (GPtrArray) argv = NULL;
  g_autoptr (GString) apply_lines = g_string_new (NULL);
  CkptVm c = { .control = -1, .last_count = -1, .counted_prev = -1 };
  gint64 create_ns, ignored, answer_ns[CKPT_APPLIES], guest_ns[CKPT_APPLIES];
  g_autofree char *create_reply = NULL;
  gboolean ok = FALSE;

  if (dir == NULL)
    return FALSE;
  if (mkdir (state_dir, 0700) < 0 || !ckpt_make_image (image, error))
    {
      if (error != NULL && *error == NULL)
        g_set_error (error, BENCH_ERROR, 0, "cannot make %s: %s", state_dir, g_strerror (errno));
      goto out;
    }
  argv = ckpt_argv (b, id, image, state_dir, socket_path);
  c.reply = g_string_new (NULL);
  if (!net_vm_start (&c.vm, argv, error))
    goto out;
  if (!net_vm_wait_for (&c.vm, CKPT_TOUCHED, CKPT_READY_MS, error))
    goto out;
  c.control = ckpt_connect (&c, socket_path, error);
  if (c.control < 0)
    goto out;
  if (id == VMM_QEMU)
    {
      /* The monitor's banner ends with its first prompt. */
      gint64 deadline = now_ns () + 10 * G_GINT64_CONSTANT (1000000000);
      while (strstr (c.reply->str, CKPT_QEMU_PROMPT) == NULL && c.control >= 0 && now_ns () < deadline)
        ckpt_pump (&c, 100);
    }
  if (!ckpt_run_on (&c, CKPT_RUN_ON, error))
    goto out;
  if (!ckpt_command (&c, id, id == VMM_QEMU ? "savevm " CKPT_NAME : "checkpoint " CKPT_NAME, 0, &create_ns,
                     &ignored, error))
    goto out;
  create_reply = g_strdup (g_strstrip (c.reply->str));
  for (int i = 0; i < CKPT_APPLIES; i++)
    {
      gint64 reached;

      if (!ckpt_run_on (&c, CKPT_RUN_ON, error))
        goto out;
      reached = ckpt_last_count (&c);
      if (!ckpt_command (&c, id, id == VMM_QEMU ? "loadvm " CKPT_NAME : "apply " CKPT_NAME,
                         reached - CKPT_RUN_ON / 2, &answer_ns[i], &guest_ns[i], error))
        goto out;
      if (id == VMM_VIREO)
        g_string_append_printf (apply_lines, "\n      %s", g_strstrip (c.reply->str));
    }
  if (!ckpt_run_on (&c, 10, error))
    goto out;
  {
    gint64 a, g;
    ok = ckpt_command (&c, id, "quit", 0, &a, &g, NULL) || id == VMM_QEMU;
  }

out:
  if (c.control >= 0)
    close (c.control);
  if (c.vm.pid > 0)
    {
      if (!ok)
        kill (c.vm.pid, SIGKILL);
      net_vm_finish (&c.vm);
    }
  net_vm_clear (&c.vm);
  if (c.reply != NULL)
    g_string_free (c.reply, TRUE);
  if (dir != NULL)
    {
      unlink (image);
      unlink (socket_path);
      {
        g_autofree char *checkpoint = g_build_filename (state_dir, CKPT_NAME, NULL);
        g_autofree char *state = g_build_filename (checkpoint, "state", NULL);
        g_autofree char *memory = g_build_filename (checkpoint, "memory", NULL);
        unlink (state);
        unlink (memory);
        rmdir (checkpoint);
      }
      rmdir (state_dir);
      rmdir (dir);
    }
  if (!ok)
    {
      if (argv != NULL)
        {
          g_autofree char *cmd = g_strjoinv (" ", (char **) argv->pdata);
          g_prefix_error (error, "%s: ", cmd);
        }
      return FALSE;
    }
  record (b, id, M_CKPT_CREATE, create_ns / NS_PER_MS);
  for (int i = 0; i < CKPT_APPLIES; i++)
    {
      record (b, id, M_CKPT_APPLY_ANSWER, answer_ns[i] / NS_PER_MS);
      record (b, id, M_CKPT_APPLY_GUEST, guest_ns[i] / NS_PER_MS);
    }
  progress (b,
            "[checkpoint %d/%d] %-5s create %7.1f ms; apply, answered / guest counting: %.1f/%.1f %.1f/%.1f "
            "%.1f/%.1f ms",
            rep + 1, b->runs, vmm_names[id], create_ns / NS_PER_MS, answer_ns[0] / NS_PER_MS,
            guest_ns[0] / NS_PER_MS, answer_ns[1] / NS_PER_MS, guest_ns[1] / NS_PER_MS,
            answer_ns[2] / NS_PER_MS, guest_ns[2] / NS_PER_MS);
  if (id == VMM_VIREO)
    progress (b, "      %s%s", create_reply, apply_lines->str);
  return TRUE;
}

/* The issue's bound for creating a checkpoint: writing the touched memory once.  CKPT_TOUCH_MIB of a
 * non-zero pattern written to a new file in the temporary folder (where the checkpoints go) and fsynced,
 * as hv_vm_save does; ms, or -1. */
static double
ckpt_write_once_ms (void)
{
  g_autofree char *path = g_build_filename (g_get_tmp_dir (), "vireo-bench-write-once-XXXXXX", NULL);
  g_autofree uint8_t *chunk = g_malloc (1 << 20);
  int fd = g_mkstemp (path);
  gint64 start;
  gboolean ok = fd >= 0;

  for (gsize i = 0; i < (1 << 20); i++)
    chunk[i] = (uint8_t) (i * 131 + 7);
  start = now_ns ();
  for (int i = 0; ok && i < CKPT_TOUCH_MIB; i++)
    ok = write (fd, chunk, 1 << 20) == 1 << 20;
  ok = ok && fsync (fd) == 0;
  if (fd >= 0)
    {
      close (fd);
      unlink (path);
    }
  return ok ? (now_ns () - start) / NS_PER_MS : -1;
}

static void
bench_checkpoint (Bench *b)
{
  static const VmmId ids[] = { VMM_VIREO, VMM_QEMU };
  g_autofree char *qemu_img = g_find_program_in_path ("qemu-img");

  if (qemu_img == NULL)
    {
      b->checkpoint_skipped = g_strdup (
          "qemu-img is missing (Debian: qemu-utils): it makes the qcow2 images");
      g_printerr ("vireo-bench: skipping the checkpoint benchmark: %s\n", b->checkpoint_skipped);
      return;
    }
  for (int rep = 0; rep < b->runs; rep++)
    {
      VmmId order[G_N_ELEMENTS (ids)];

      double write_once = ckpt_write_once_ms ();

      if (write_once >= 0)
        g_array_append_val (b->checkpoint_write_once, write_once);
      progress (b, "[checkpoint %d/%d] host: %d MiB written and fsynced in %.1f ms", rep + 1, b->runs,
                CKPT_TOUCH_MIB, write_once);
      rotated_order (rep, ids, G_N_ELEMENTS (ids), order);
      for (gsize i = 0; i < G_N_ELEMENTS (ids); i++)
        {
          VmmId id = order[i];
          g_autoptr (GError) local = NULL;

          if (!vmm_usable (b, id) || b->checkpoint_failure[id] != NULL)
            continue;
          if (!ckpt_run_once (b, id, rep, &local))
            {
              b->checkpoint_failure[id] = g_strdup_printf ("checkpoint run failed: %s", local->message);
              g_printerr ("vireo-bench: %s: %s\n  (no more checkpoint runs of it)\n", vmm_names[id],
                          b->checkpoint_failure[id]);
            }
        }
    }
}

/* Statistics and the table. */

/* Other work on the machine shows up as noise (two CPUs here): the table says how busy it was. */
static char *
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

static int
compare_doubles (gconstpointer a, gconstpointer b)
{
  double x = *(const double *) a, y = *(const double *) b;
  return (x > y) - (x < y);
}

/* FALSE when there is no data. */
static gboolean
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

static char *
format_number (double v)
{
  double a = fabs (v);
  if (a >= 100)
    return g_strdup_printf ("%.0f", v);
  if (a >= 10)
    return g_strdup_printf ("%.1f", v);
  return g_strdup_printf ("%.2f", v);
}

static char *
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
static gboolean
median_ratio (const Bench *b, VmmId num, VmmId den, Metric m, double *ratio)
{
  double mn, md, lo, hi;
  if (!summarize (b->data[num][m], &mn, &lo, &hi) || !summarize (b->data[den][m], &md, &lo, &hi) || md == 0)
    return FALSE;
  *ratio = mn / md;
  return TRUE;
}

static char *
format_ratio (const Bench *b, VmmId num, VmmId den, Metric m)
{
  double ratio;
  if (!median_ratio (b, num, den, m, &ratio))
    return g_strdup ("-");
  if (fabs (ratio) >= 0.1)
    return g_strdup_printf ("%.2fx", ratio);
  return g_strdup_printf ("%.4fx", ratio);
}

static void
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

static void
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

static void
print_command (const Bench *b, VmmId id, const char *guest, const char *cmdline, gint64 count)
{
  if (b->vmm[id].path == NULL)
    return;
  g_autoptr (GPtrArray) argv = vmm_argv (b, id, guest, cmdline, count);
  g_autofree char *cmd = g_strjoinv (" ", (char **) argv->pdata);
  g_print ("  %-5s %s\n", vmm_names[id], cmd);
}

static void
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

static void
print_net_results (const Bench *b)
{
  static const VmmId pair[] = { VMM_VIREO, VMM_QEMU };
  static const VmmId vq[][2] = { { VMM_VIREO, VMM_QEMU } };
  static const char *const path_labels[N_NET_PATHS] = { "slirp forward", "TAP" };
  g_autofree char *title = g_strdup_printf (
      "6. Network: net-bench.elf (virtio-net polled from guest ring 3); UDP round trip host -> guest -> "
      "host, %d x 64 B per boot; guest -> host bursts of %u datagrams; QEMU's TAP with vhost=%s",
      NET_PINGS, b->net_count, b->net_vhost ? "on" : "off (this host has no /dev/vhost-net)");

  print_heading (title, pair, 2, vq, 1);
  for (int path = 0; path < N_NET_PATHS; path++)
    {
      g_autofree char *rtt = g_strdup_printf ("%s: UDP round trip", path_labels[path]);
      g_autofree char *rtt_fast = g_strdup_printf ("%s:   10th percentile", path_labels[path]);
      g_autofree char *cpu_small = g_strdup_printf ("%s:   VMM CPU/datagram", path_labels[path]);
      g_autofree char *cpu_large = g_strdup_printf ("%s:   VMM CPU/datagram", path_labels[path]);
      g_autofree char *pps_small = g_strdup_printf ("%s: guest->host %u B", path_labels[path], NET_SMALL);
      g_autofree char *pps_large = g_strdup_printf ("%s: guest->host %u B", path_labels[path], NET_LARGE);
      g_autofree char *mbs_small = g_strdup_printf ("%s:   same, payload", path_labels[path]);
      g_autofree char *mbs_large = g_strdup_printf ("%s:   same, payload", path_labels[path]);

      if (path == NET_TAP && b->net_tap_skipped != NULL)
        {
          g_print ("  %s: skipped: %s\n", path_labels[path], b->net_tap_skipped);
          continue;
        }
      print_row (b, rtt, "us", NET_METRIC (path, NET_RTT), pair, 2, vq, 1);
      print_row (b, rtt_fast, "us", NET_METRIC (path, NET_RTT_FAST), pair, 2, vq, 1);
      print_row (b, pps_small, "kpps", NET_METRIC (path, NET_PPS_SMALL), pair, 2, vq, 1);
      print_row (b, mbs_small, "MB/s", NET_METRIC (path, NET_MBS_SMALL), pair, 2, vq, 1);
      print_row (b, cpu_small, "us", NET_METRIC (path, NET_CPU_SMALL), pair, 2, vq, 1);
      print_row (b, pps_large, "kpps", NET_METRIC (path, NET_PPS_LARGE), pair, 2, vq, 1);
      print_row (b, mbs_large, "MB/s", NET_METRIC (path, NET_MBS_LARGE), pair, 2, vq, 1);
      print_row (b, cpu_large, "us", NET_METRIC (path, NET_CPU_LARGE), pair, 2, vq, 1);
    }
  g_print ("  round trip and VMM CPU per datagram (all threads but the vCPUs, during the burst): lower is "
           "better;\n  kpps and MB/s (payload, 10^6 bytes): higher is better\n");
  g_print ("  vireo's slirp runs restrict=on; QEMU's cannot (its restricted libslirp drops the guest's UDP "
           "answers through a forward)\n");
  g_print ("  commands (the forward's port changes every run; TAP runs inside the namespace the benchmark "
           "makes):\n");
  for (int path = 0; path < N_NET_PATHS; path++)
    for (int id = VMM_VIREO; id <= VMM_QEMU; id++)
      if (b->vmm[id].path != NULL && (path == NET_USER || b->net_tap_skipped == NULL))
        {
          /* The namespace is gone by now: its name's pattern, and a port for the forward's. */
          g_autoptr (GPtrArray) argv = net_argv (b, id, (NetPath) path, 40000, "vireo-bench-PID");
          g_autofree char *cmd = g_strjoinv (" ", (char **) argv->pdata);
          g_print ("  %-5s %s\n", vmm_names[id], cmd);
        }
  for (int id = VMM_VIREO; id <= VMM_QEMU; id++)
    for (int path = 0; path < N_NET_PATHS; path++)
      if (b->net_failure[id][path] != NULL)
        g_print ("  %s: %d %s run(s) failed; the last: %s\n", vmm_names[id], b->net_failures[id][path],
                 net_path_names[path], b->net_failure[id][path]);
}

static void
print_checkpoint_results (const Bench *b)
{
  static const VmmId pair[] = { VMM_VIREO, VMM_QEMU };
  static const VmmId vq[][2] = { { VMM_VIREO, VMM_QEMU } };
  double write_once, lo, hi;

  print_heading ("7. Checkpoints: mem-counter.elf, 1 GiB guest with 512 MiB filled, one qcow2 disk; a "
                 "standard checkpoint (disks + memory + devices) taken, then applied " G_STRINGIFY (
                     CKPT_APPLIES) " times; vireo: the core in checkpoint-harness, QEMU: HMP savevm/loadvm",
                     pair, 2, vq, 1);
  if (b->checkpoint_skipped != NULL)
    {
      g_print ("  skipped: %s\n", b->checkpoint_skipped);
      return;
    }
  print_row (b, "create a checkpoint, guest running", "ms", M_CKPT_CREATE, pair, 2, vq, 1);
  print_row (b, "apply -> VMM answers (running)", "ms", M_CKPT_APPLY_ANSWER, pair, 2, vq, 1);
  print_row (b, "apply -> guest counts again", "ms", M_CKPT_APPLY_GUEST, pair, 2, vq, 1);
  if (summarize (b->checkpoint_write_once, &write_once, &lo, &hi))
    {
      g_autofree char *cell = g_strdup_printf ("%.0f (%.0f-%.0f)", write_once, lo, hi);
      g_print ("  %-34s %-4s %-22s (host: write + fsync of a new file beside the checkpoints)\n",
               "write " G_STRINGIFY (CKPT_TOUCH_MIB) " MiB once (the bound)", "ms", cell);
    }
  g_print ("  create: from the command to its answer (vireo: pause, disk snapshot, hv_vm_save of the state\n"
           "  and memory, resume; QEMU: savevm, which writes the memory into the qcow2 image).  apply: to\n"
           "  the answer, and to the guest's first \"count N\" line from the checkpoint's count (it prints\n"
           "  one every millisecond).  vireo applies as vireo-worker does: disks, then hv_vm_revert in\n"
           "  place, the memory file mapped lazily (its pages fault in as the guest touches them).\n");
  g_print ("  commands (DIR a fresh temporary folder per run; the image made by qemu-img create -f qcow2 "
           "DIR/disk.qcow2 " CKPT_IMAGE_SIZE "):\n");
  for (int id = VMM_VIREO; id <= VMM_QEMU; id++)
    if (b->vmm[id].path != NULL)
      {
        g_autoptr (GPtrArray) argv = ckpt_argv (b, (VmmId) id, "DIR/disk.qcow2", "DIR/checkpoints",
                                                "DIR/control.sock");
        g_autoptr (GString) cmd = g_string_new (NULL);

        /* Quoted: the guest's command line has a blank. */
        for (guint i = 0; i + 1 < argv->len; i++)
          {
            g_autofree char *quoted = g_shell_quote (g_ptr_array_index (argv, i));
            g_string_append_printf (cmd, "%s%s", i ? " " : "", quoted);
          }
        g_print ("  %-5s %s\n", vmm_names[id], cmd->str);
      }
  for (int id = VMM_VIREO; id <= VMM_QEMU; id++)
    if (b->checkpoint_failure[id] != NULL)
      g_print ("  %s: %s\n", vmm_names[id], b->checkpoint_failure[id]);
}

static void
print_results (const Bench *b)
{
  static const VmmId pair[] = { VMM_VIREO, VMM_QEMU };
  static const VmmId triple[] = { VMM_FLOOR, VMM_VIREO, VMM_QEMU };
  static const VmmId vq[][2] = { { VMM_VIREO, VMM_QEMU } };
  static const VmmId boot_ratios[][2] = { { VMM_VIREO, VMM_QEMU }, { VMM_VIREO, VMM_FLOOR } };
  static const VmmId pio_ratios[][2] = { { VMM_VIREO, VMM_FLOOR },
                                         { VMM_QEMU, VMM_FLOOR },
                                         { VMM_VIREO, VMM_QEMU } };

  g_autofree char *load = load_average ();
  g_print ("\nload average at the end: %s\n", load);
  g_print ("median (min-max) of %d runs each; ratios are of medians\n", b->runs);
  if (b->do_boot)
    {
      print_heading ("1. Boot: hello.elf (prints one line, ACPI power-off); "
                     "floor: kvm-floor --count 1 (no serial)",
                     triple, 3, boot_ratios, 2);
      print_row (b, "exec -> first guest serial byte", "ms", M_FIRST_BYTE, triple, 3, boot_ratios, 2);
      print_row (b, "exec -> VMM exit after power-off", "ms", M_EXIT, triple, 3, boot_ratios, 2);
      print_row (b, "VMM CPU time, user+sys", "ms", M_CPU, triple, 3, boot_ratios, 2);
      print_row (b, "  of which user (tick-sampled)", "ms", M_CPU_USER, triple, 3, boot_ratios, 2);
      print_row (b, "  of which sys (tick-sampled)", "ms", M_CPU_SYS, triple, 3, boot_ratios, 2);
    }
  if (b->do_pio)
    {
      g_autofree char *title = g_strdup_printf (
          "2. PIO exit round trip from guest ring 3: pio-loop.elf count=%" G_GINT64_FORMAT
          " and count=%" G_GINT64_FORMAT,
          b->count_lo, b->count_hi);
      print_heading (title, triple, 3, pio_ratios, 3);
      print_row (b, "per exit, d(wall)/d(count)", "us", M_PIO_WALL, triple, 3, pio_ratios, 3);
      print_row (b, "per exit, d(VMM CPU)/d(count)", "us", M_PIO_CPU, triple, 3, pio_ratios, 3);
      print_row (b, "per exit, loop alone (high count)", "us", M_PIO_LOOP, triple, 3, pio_ratios, 3);
      g_print ("  d(...)/d(count) cancels boot time only as far as boot time is steady; QEMU's "
               "firmware boot\n  varies by seconds where ring 0 is emulated, so for QEMU the "
               "\"loop alone\" row is the sharper one.\n");
    }
  if (b->do_memory)
    {
      g_autofree char *title = g_strdup_printf (
          "3. Host memory: shutdown.elf waiting for the power button, %d MiB guest%s", b->memory_mib,
          b->display_dir ? ", with a display (SPICE socket, no client)" : "");
      print_heading (title, pair, 2, vq, 1);
      print_row (b, "peak RSS (VmHWM)", "MiB", M_MEM_HWM, pair, 2, vq, 1);
      print_row (b, "guest RAM touched (RssShmem)", "MiB", M_MEM_GUEST, pair, 2, vq, 1);
      print_row (b, "VMM overhead (VmHWM - RssShmem)", "MiB", M_MEM_OVERHEAD, pair, 2, vq, 1);
      print_row (b, "  RssAnon (heap, stacks, ROMs)", "MiB", M_MEM_ANON, pair, 2, vq, 1);
      print_row (b, "  RssFile (binary, shared libs)", "MiB", M_MEM_FILE, pair, 2, vq, 1);
    }

  if (b->do_disk)
    {
      static const VmmId disk_cols[] = { VMM_VIREO, VMM_QEMU, VMM_FIO };
      static const VmmId disk_ratios[][2] = { { VMM_VIREO, VMM_QEMU }, { VMM_VIREO, VMM_FIO } };
      g_autofree char *title = g_strdup_printf (
          "4. Disk: blk-bench.elf (virtio-blk driven from guest ring 3, polled), scale=%d, cache=none, "
          "%d MiB images; fio: the host on the raw file (%d s per job), the ceiling for both formats",
          b->disk_scale, DISK_IMAGE_MIB, b->fio_seconds);

      print_heading (title, disk_cols, 3, disk_ratios, 2);
      for (int f = 0; f < N_DISK_FORMATS; f++)
        for (gsize i = 0; i < N_DISK_WORKLOADS; i++)
          {
            g_autofree char *label = g_strdup_printf ("%s %s", disk_formats[f], disk_workloads[i].label);

            if (b->disk_images[f] == NULL)
              continue;
            print_row (b, label, disk_workloads[i].bytes >= (1u << 20) ? "MB/s" : "IOPS",
                       M_DISK_FIRST + f * N_DISK_WORKLOADS + i, disk_cols, 3, disk_ratios, 2);
          }
      g_print ("  higher is better; commands (raw shown; qcow2 differs in the image and format=):\n");
      for (int id = VMM_VIREO; id <= VMM_QEMU; id++)
        if (b->vmm[id].path != NULL && b->disk_images[0] != NULL)
          {
            g_autoptr (GPtrArray) argv = disk_argv (b, id, 0);
            g_autofree char *cmd = g_strjoinv (" ", (char **) argv->pdata);
            g_print ("  %-5s %s\n", vmm_names[id], cmd);
          }
      if (b->vmm[VMM_FIO].path != NULL && b->disk_images[0] != NULL)
        {
          g_autoptr (GPtrArray) argv = fio_argv (b, &disk_workloads[0]);
          g_autofree char *cmd = g_strjoinv (" ", (char **) argv->pdata);
          g_print ("  fio   %s (--rw, --bs, --iodepth per row)\n", cmd);
        }
    }

  if (b->do_firmware)
    {
      print_heading (
          "5. Firmware: Debian's SeaBIOS boots a boot sector from a virtio disk, which prints a line "
          "and resets (i440FX on both)",
          pair, 2, vq, 1);
      print_row (b, "exec -> boot sector's first byte", "ms", M_FW_FIRST_BYTE, pair, 2, vq, 1);
      print_row (b, "exec -> VMM exit after the reset", "ms", M_FW_EXIT, pair, 2, vq, 1);
      print_row (b, "VMM CPU time, user+sys", "ms", M_FW_CPU, pair, 2, vq, 1);
      for (int id = VMM_VIREO; id <= VMM_QEMU; id++)
        if (b->vmm[id].path != NULL && b->boot_image != NULL)
          {
            g_autoptr (GPtrArray) argv = firmware_argv (b, id);
            g_autofree char *cmd = g_strjoinv (" ", (char **) argv->pdata);
            g_print ("  %-5s %s\n", vmm_names[id], cmd);
          }
    }

  if (b->do_net)
    print_net_results (b);
  if (b->do_checkpoint)
    print_checkpoint_results (b);

  if (b->do_boot || b->do_pio || b->do_memory || (b->do_checkpoint && b->checkpoint_skipped == NULL))
    g_print ("\nTargets (vireo)\n");
  if (b->do_boot)
    print_target (b, "VMM CPU for a whole hello.elf run", M_CPU, N_VMMS, 10.0, "target: well under 10 ms",
                  " ms");
  if (b->do_pio)
    {
      print_target (b, "PIO exit vs bare-KVM floor, d(wall)", M_PIO_WALL, VMM_FLOOR, 1.3,
                    "target: within 1.3x", "x");
      /* Time spent waiting for a CPU counts in wall time but not here: the steadier of the two
       * when the machine is busy. */
      print_target (b, "PIO exit vs bare-KVM floor, d(VMM CPU)", M_PIO_CPU, VMM_FLOOR, 1.3,
                    "target: within 1.3x", "x");
    }
  if (b->do_memory)
    print_target (b, "VMM memory overhead", M_MEM_OVERHEAD, N_VMMS, 5.0, "target: under 5 MiB", " MiB");
  if (b->do_checkpoint && b->checkpoint_skipped == NULL)
    {
      double create, write_once, guest, lo, hi;

      /* Running again: the vCPUs run the checkpoint's state (the harness answers once they do).  The
       * guest's own first counts come later by what its first touches of the lazily mapped memory cost
       * (shown beside it, judged by nothing: they depend on the guest and on the host's KVM). */
      print_target (b, "checkpoint apply -> running again", M_CKPT_APPLY_ANSWER, N_VMMS, 10.0,
                    "target: 10 ms or less", " ms");
      if (summarize (b->data[VMM_VIREO][M_CKPT_APPLY_GUEST], &guest, &lo, &hi))
        g_print ("  %-44s %.2f ms (no target: the pages it touches first fault in)\n",
                 "  then the guest's first two counts", guest);
      if (summarize (b->data[VMM_VIREO][M_CKPT_CREATE], &create, &lo, &hi)
          && summarize (b->checkpoint_write_once, &write_once, &lo, &hi) && write_once > 0)
        g_print ("  %-44s %.2fx (target: bounded by writing the touched memory once; MET under 1.25x): %s\n",
                 "checkpoint create vs writing it once", create / write_once,
                 create / write_once < 1.25 ? "MET" : "MISSED");
      else
        g_print ("  %-44s not measured\n", "checkpoint create vs writing it once");
    }

  gboolean notes = FALSE;
  for (int id = 0; id < N_VMMS; id++)
    if (b->vmm[id].failure != NULL)
      {
        if (!notes)
          g_print ("\nNotes\n");
        notes = TRUE;
        g_print ("  %s: %s\n", vmm_names[id], b->vmm[id].failure);
      }
}

static char *
first_line_of (const char *path, const char *arg)
{
  const char *argv[] = { path, arg, NULL };
  g_autofree char *out = NULL;
  if (!g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_STDERR_TO_DEV_NULL, NULL, NULL, &out, NULL, NULL,
                     NULL)
      || out == NULL)
    return g_strdup ("version unknown");
  char *nl = strchr (out, '\n');
  if (nl != NULL)
    *nl = '\0';
  return g_strdup (g_strstrip (out));
}

static char *
cpu_model (void)
{
  g_autofree char *text = NULL;
  if (g_file_get_contents ("/proc/cpuinfo", &text, NULL, NULL))
    {
      g_auto (GStrv) lines = g_strsplit (text, "\n", -1);
      for (char **line = lines; *line != NULL; line++)
        if (g_str_has_prefix (*line, "model name"))
          {
            const char *colon = strchr (*line, ':');
            if (colon != NULL)
              return g_strstrip (g_strdup (colon + 1));
          }
    }
  return g_strdup ("unknown CPU");
}

static void
print_header (const Bench *b)
{
  g_autoptr (GDateTime) now = g_date_time_new_now_local ();
  g_autofree char *date = g_date_time_format (now, "%Y-%m-%d %H:%M:%S %z");
  g_autofree char *cpu = cpu_model ();
  g_autofree char *load = load_average ();
  struct utsname u;

  if (uname (&u) < 0)
    memset (&u, 0, sizeof u);
  g_print ("vireo-bench, %s\n", date);
  g_print ("machine: %u CPUs, %s %s %s, %s\n", g_get_num_processors (), u.sysname, u.release, u.machine, cpu);
  g_print ("load average at start: %s\n", load);
  for (int id = 0; id < N_VMMS; id++)
    {
      if (b->vmm[id].path != NULL)
        g_print ("%-6s %s\n", vmm_names[id], b->vmm[id].version);
      else
        g_print ("%-6s not run: %s\n", vmm_names[id],
                 b->vmm[id].failure ? b->vmm[id].failure : "not used by the selected benchmarks");
    }
  if (b->checkpoint_harness != NULL)
    g_print ("%-6s %s (the core, for the checkpoint benchmark)\n", "vireo", b->checkpoint_harness);
  g_print ("runs: %d per VMM per measurement, VMMs interleaved (order rotates each repetition)\n", b->runs);
  if (!b->do_boot && !b->do_pio && !b->do_memory)
    return; /* the disk benchmark prints its commands with its table */
  g_print ("commands (hello.elf shown; the other guests differ in -k/-kernel and -c/-append):\n");
  print_command (b, VMM_VIREO, "hello", NULL, 0);
  print_command (b, VMM_QEMU, "hello", NULL, 0);
  print_command (b, VMM_FLOOR, NULL, NULL, b->count_hi);
}

/* Setup and checks. */

static gboolean
parse_counts (const char *text, gint64 *lo, gint64 *hi)
{
  g_auto (GStrv) parts = g_strsplit (text, ",", -1);
  guint64 a, b;
  if (g_strv_length (parts) != 2 || !g_ascii_string_to_unsigned (parts[0], 10, 1, G_MAXUINT32, &a, NULL)
      || !g_ascii_string_to_unsigned (parts[1], 10, 1, G_MAXUINT32, &b, NULL) || a >= b)
    return FALSE;
  *lo = (gint64) a;
  *hi = (gint64) b;
  return TRUE;
}

static gboolean
parse_only (Bench *b, const char *text)
{
  g_auto (GStrv) parts = g_strsplit (text, ",", -1);
  b->do_boot = b->do_pio = b->do_memory = b->do_disk = b->do_firmware = b->do_net = FALSE;
  b->do_checkpoint = FALSE;
  for (char **p = parts; *p != NULL; p++)
    {
      if (g_str_equal (*p, "checkpoint"))
        {
          b->do_checkpoint = TRUE;
          continue;
        }
      if (g_str_equal (*p, "net"))
        {
          b->do_net = TRUE;
          continue;
        }
      if (g_str_equal (*p, "disk"))
        {
          b->do_disk = TRUE;
          continue;
        }
      if (g_str_equal (*p, "firmware"))
        {
          b->do_firmware = TRUE;
          continue;
        }
      if (g_str_equal (*p, "boot"))
        b->do_boot = TRUE;
      else if (g_str_equal (*p, "pio"))
        b->do_pio = TRUE;
      else if (g_str_equal (*p, "memory"))
        b->do_memory = TRUE;
      else
        return FALSE;
    }
  return TRUE;
}

static gboolean
check_guests (const Bench *b)
{
  const char *needed[6];
  int n = 0;
  gboolean ok = TRUE;

  if (b->do_boot)
    needed[n++] = "hello";
  if (b->do_pio)
    needed[n++] = "pio-loop";
  if (b->do_memory)
    needed[n++] = "shutdown";
  if (b->do_disk)
    needed[n++] = "blk-bench";
  if (b->do_net)
    needed[n++] = "net-bench";
  if (b->do_checkpoint)
    needed[n++] = "mem-counter";
  for (int i = 0; i < n; i++)
    {
      g_autofree char *path = guest_path (b, needed[i]);
      if (!g_file_test (path, G_FILE_TEST_IS_REGULAR))
        {
          g_printerr ("vireo-bench: test guest %s is missing; build the test guests first "
                      "(`ninja -C <builddir>`, or use `ninja -C <builddir> bench`), or point "
                      "--guests at them\n",
                      path);
          ok = FALSE;
        }
    }
  return ok;
}

int
main (int argc, char **argv)
{
  g_autofree char *vireo_run = NULL, *qemu = NULL, *floor = NULL, *guests = NULL;
  g_autofree char *counts = NULL, *only = NULL, *fio = NULL, *disk_dir = NULL, *harness = NULL;
  gboolean no_qemu = FALSE, display = FALSE;
  int net_count = 50000;
  Bench bench = { 0 }, *b = &bench;
  b->runs = 5;
  b->memory_mib = 128;
  b->timeout_s = 180;
  b->disk_scale = 1;
  b->fio_seconds = 2;
  GOptionEntry entries[] = {
    { "runs", 'n', 0, G_OPTION_ARG_INT, &b->runs, "Runs per VMM per measurement (default 5)", "N" },
    { "counts", 0, 0, G_OPTION_ARG_STRING, &counts, "The two pio-loop counts (default 20000,220000)",
      "LO,HI" },
    { "memory", 'm', 0, G_OPTION_ARG_INT, &b->memory_mib, "Guest RAM in MiB (default 128)", "MIB" },
    { "only", 0, 0, G_OPTION_ARG_STRING, &only,
      "Run only some of boot,pio,memory,disk,firmware,net,checkpoint (default: the first three; disk writes "
      "512 MiB of images; net makes a network namespace when root; checkpoint runs 1 GiB guests)",
      "LIST" },
    { "disk-scale", 0, 0, G_OPTION_ARG_INT, &b->disk_scale,
      "Multiply blk-bench's request counts (default 1: about 2 s of I/O per VMM and format)", "S" },
    { "disk-dir", 0, 0, G_OPTION_ARG_FILENAME, &disk_dir,
      "Folder for the disk benchmark's images, on a disk file system (default: the temporary folder)",
      "DIR" },
    { "net-count", 0, 0, G_OPTION_ARG_INT, &net_count,
      "Datagrams per guest-to-host burst in the network benchmark (default 50000)", "N" },
    { "fio", 0, 0, G_OPTION_ARG_FILENAME, &fio, "fio binary (default: fio in PATH)", "PATH" },
    { "fio-seconds", 0, 0, G_OPTION_ARG_INT, &b->fio_seconds, "Seconds per fio job (default 2)", "S" },
    { "timeout", 0, 0, G_OPTION_ARG_INT, &b->timeout_s, "Seconds before a run is killed (default 180)", "S" },
    { "vireo-run", 0, 0, G_OPTION_ARG_FILENAME, &vireo_run, "vireo-run to measure", "PATH" },
    { "qemu", 0, 0, G_OPTION_ARG_FILENAME, &qemu, "QEMU binary (default: qemu-system-x86_64 in PATH)",
      "PATH" },
    { "no-qemu", 0, 0, G_OPTION_ARG_NONE, &no_qemu, "Do not run QEMU", NULL },
    { "qemu-stock", 0, 0, G_OPTION_ARG_NONE, &b->qemu_stock,
      "Give QEMU its default devices (-nographic; NIC with iPXE, VGA) instead of -nodefaults", NULL },
    { "display", 0, 0, G_OPTION_ARG_NONE, &display,
      "Give vireo and QEMU a display served on a SPICE unix socket (vireo-run --display spice:PATH; "
      "QEMU -device bochs-display -spice unix=on,...), with no client connected",
      NULL },
    { "kvm-floor", 0, 0, G_OPTION_ARG_FILENAME, &floor, "The bare-KVM floor program", "PATH" },
    { "checkpoint-harness", 0, 0, G_OPTION_ARG_FILENAME, &harness,
      "The checkpoint benchmark's vireo side (checkpoint-harness)", "PATH" },
    { "guests", 0, 0, G_OPTION_ARG_FILENAME, &guests, "Directory of the built test guests", "DIR" },
    { "quiet", 'q', 0, G_OPTION_ARG_NONE, &b->quiet, "Print only the results, not each run", NULL },
    { NULL },
  };
  g_autoptr (GOptionContext) context = g_option_context_new ("- vireo-run vs QEMU benchmarks");
  g_autoptr (GError) error = NULL;

  g_option_context_add_main_entries (context, entries, NULL);
  g_option_context_set_description (
      context, "Boot time, PIO exit cost and memory overhead of vireo-run next to QEMU on the same "
               "test guests.\nNot a test: it never fails on a timing.  See tests/bench/README.md.");
  if (!g_option_context_parse (context, &argc, &argv, &error))
    {
      g_printerr ("vireo-bench: %s\n", error->message);
      return 2;
    }
  b->do_boot = b->do_pio = b->do_memory = TRUE;
  b->do_disk = FALSE;
  b->count_lo = 20000;
  b->count_hi = 220000;
  if (b->runs < 1 || b->runs > 1000 || b->memory_mib < 32 || b->memory_mib > 65536 || b->timeout_s < 1
      || b->timeout_s > 86400 || (counts != NULL && !parse_counts (counts, &b->count_lo, &b->count_hi))
      || (only != NULL && !parse_only (b, only)) || b->disk_scale < 1 || b->disk_scale > 1000
      || b->fio_seconds < 1 || b->fio_seconds > 600 || net_count < 1 || net_count > 10000000)
    {
      g_printerr ("vireo-bench: bad option value (--runs 1-1000, --memory 32-65536, "
                  "--timeout 1-86400, --counts LO,HI with LO < HI, --only from "
                  "boot,pio,memory,disk,firmware,net,checkpoint, "
                  "--disk-scale 1-1000, --fio-seconds 1-600, --net-count 1-10000000)\n");
      return 2;
    }

  int kvm = open ("/dev/kvm", O_RDWR | O_CLOEXEC);
  if (kvm < 0)
    {
      g_printerr ("vireo-bench: cannot open /dev/kvm: %s; every benchmark here needs KVM\n",
                  g_strerror (errno));
      return 1;
    }
  close (kvm);

  b->guests_dir = guests ? g_strdup (guests) : g_strdup (VIREO_BENCH_GUESTS_DIR);
  if (!check_guests (b))
    return 1;
  if (display)
    {
      b->display_dir = g_dir_make_tmp ("vireo-bench-XXXXXX", &error);
      if (b->display_dir == NULL)
        {
          g_printerr ("vireo-bench: %s\n", error->message);
          return 1;
        }
    }

  b->vmm[VMM_VIREO].path = g_strdup (vireo_run ? vireo_run : VIREO_BENCH_VIREO_RUN);
  if (!g_file_test (b->vmm[VMM_VIREO].path, G_FILE_TEST_IS_EXECUTABLE))
    {
      g_printerr ("vireo-bench: %s is missing; build it or point --vireo-run at it\n",
                  b->vmm[VMM_VIREO].path);
      return 1;
    }

  if (no_qemu)
    b->vmm[VMM_QEMU].failure = g_strdup ("--no-qemu given");
  else
    {
      b->vmm[VMM_QEMU].path = qemu ? g_strdup (qemu) : g_find_program_in_path ("qemu-system-x86_64");
      if (b->vmm[VMM_QEMU].path == NULL || !g_file_test (b->vmm[VMM_QEMU].path, G_FILE_TEST_IS_EXECUTABLE))
        {
          b->vmm[VMM_QEMU].failure = g_strdup_printf (
              "%s not found (on Debian: apt-get install qemu-system-x86); "
              "printing vireo numbers only",
              qemu ? qemu : "qemu-system-x86_64");
          g_clear_pointer (&b->vmm[VMM_QEMU].path, g_free);
          g_printerr ("vireo-bench: %s\n", b->vmm[VMM_QEMU].failure);
        }
    }

  if (b->do_pio || b->do_boot)
    {
      b->vmm[VMM_FLOOR].path = g_strdup (floor ? floor : VIREO_BENCH_KVM_FLOOR);
      if (!g_file_test (b->vmm[VMM_FLOOR].path, G_FILE_TEST_IS_EXECUTABLE))
        {
          b->vmm[VMM_FLOOR].failure = g_strdup_printf (
              "%s is missing (`ninja -C <builddir> tests/bench/kvm-floor`); no floor column",
              b->vmm[VMM_FLOOR].path);
          g_clear_pointer (&b->vmm[VMM_FLOOR].path, g_free);
          g_printerr ("vireo-bench: %s\n", b->vmm[VMM_FLOOR].failure);
        }
    }

  if (b->do_disk)
    {
      b->vmm[VMM_FIO].path = fio ? g_strdup (fio) : g_find_program_in_path ("fio");
      if (b->vmm[VMM_FIO].path == NULL)
        {
          b->vmm[VMM_FIO].failure = g_strdup (
              "fio not found (on Debian: apt-get install fio); no host ceiling");
          g_printerr ("vireo-bench: %s\n", b->vmm[VMM_FIO].failure);
        }
      b->disk_dir = g_strdup (disk_dir ? disk_dir : g_get_tmp_dir ());
      if (!make_disk_images (b, &error))
        {
          g_printerr ("vireo-bench: the disk benchmark's images: %s\n", error->message);
          remove_disk_images (b);
          return 1;
        }
    }

  b->net_count = (unsigned) net_count;
  b->checkpoint_write_once = g_array_new (FALSE, FALSE, sizeof (double));
  if (b->do_checkpoint)
    {
      b->checkpoint_harness = g_strdup (harness ? harness : VIREO_BENCH_CHECKPOINT_HARNESS);
      if (!g_file_test (b->checkpoint_harness, G_FILE_TEST_IS_EXECUTABLE))
        {
          g_printerr ("vireo-bench: %s is missing (`ninja -C <builddir> tests/bench/checkpoint-harness`) or "
                      "point --checkpoint-harness at it\n",
                      b->checkpoint_harness);
          return 1;
        }
    }
  b->net_vhost = access ("/dev/vhost-net", R_OK | W_OK) == 0;

  if (b->do_firmware)
    {
      if (!g_file_test (SEABIOS_IMAGE, G_FILE_TEST_IS_REGULAR))
        {
          g_printerr ("vireo-bench: " SEABIOS_IMAGE " is missing (Debian: apt-get install seabios)\n");
          return 1;
        }
      if (!make_boot_image (b, &error))
        {
          g_printerr ("vireo-bench: the firmware benchmark's disk: %s\n", error->message);
          return 1;
        }
    }

  for (int id = 0; id < N_VMMS; id++)
    {
      for (int m = 0; m < N_METRICS; m++)
        b->data[id][m] = g_array_new (FALSE, FALSE, sizeof (double));
      if (b->vmm[id].path != NULL)
        {
          g_autofree char *version = id == VMM_FLOOR ? g_strdup ("bare KVM_RUN loop")
                                                     : first_line_of (b->vmm[id].path, "--version");
          b->vmm[id].version = g_strdup_printf ("%s (%s)", b->vmm[id].path, version);
        }
    }

  print_header (b);
  if (b->do_boot)
    bench_boot (b);
  if (b->do_pio)
    bench_pio (b);
  if (b->do_memory)
    bench_memory (b);
  if (b->do_disk)
    bench_disk (b);
  if (b->do_firmware)
    bench_firmware (b);
  if (b->do_net)
    bench_net (b);
  if (b->do_checkpoint)
    bench_checkpoint (b);
  print_results (b);
  remove_disk_images (b);
  if (b->boot_image != NULL)
    unlink (b->boot_image);
  g_free (b->boot_image);
  g_free (b->disk_dir);

  for (int id = 0; id < N_VMMS; id++)
    {
      for (int m = 0; m < N_METRICS; m++)
        g_array_unref (b->data[id][m]);
      g_free (b->vmm[id].path);
      g_free (b->vmm[id].version);
      g_free (b->vmm[id].failure);
      for (int path = 0; path < N_NET_PATHS; path++)
        g_free (b->net_failure[id][path]);
      g_free (b->checkpoint_failure[id]);
    }
  g_array_unref (b->checkpoint_write_once);
  g_free (b->checkpoint_harness);
  g_free (b->checkpoint_skipped);
  g_free (b->net_tap_skipped);
  g_free (b->guests_dir);
  if (b->display_dir != NULL)
    {
      /* Each VMM removes its socket when it ends; whatever is left goes with the folder. */
      g_autoptr (GDir) dir = g_dir_open (b->display_dir, 0, NULL);
      const char *name;
      while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
        {
          g_autofree char *path = g_build_filename (b->display_dir, name, NULL);
          unlink (path);
        }
      rmdir (b->display_dir);
      g_free (b->display_dir);
    }
  /* A peer that failed is reported in the table; vireo failing makes the whole run an error. */
  return b->vmm[VMM_VIREO].failure != NULL ? 1 : 0;
}
