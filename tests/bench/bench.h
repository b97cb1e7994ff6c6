/* bench.h — what the parts of vireo-bench share: the benchmark's state, the metrics, the child-run
 * machinery (bench-run.c) and each benchmark's entry points (vireo-bench.c for boot, PIO and memory;
 * bench-disk.c, bench-firmware.c, bench-net.c, bench-checkpoint.c). */
#pragma once
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

extern const char *const vmm_names[N_VMMS];

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

extern const DiskWorkload disk_workloads[6];
#define N_DISK_WORKLOADS 6 /* N_METRICS counts on it */
#define N_DISK_FORMATS   2
#define DISK_IMAGE_MIB   256

extern const char *const disk_formats[N_DISK_FORMATS];

/* The network benchmark's paths and, per path, its cells. */
typedef enum
{
  NET_USER, /* slirp, through a UDP port forward on 127.0.0.1 */
  NET_TAP,  /* a TAP on a bridge in a network namespace */
  N_NET_PATHS
} NetPath;

extern const char *const net_path_names[N_NET_PATHS];

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

/* ---- bench-run.c: child runs, recording, statistics, the table ---- */

gint64 now_ns (void);
const char *find_in (const GString *s, const char *needle);
/* Reads what a child wrote on *@fd (closing it and setting it to -1 at EOF), timestamping each read. */
void drain_if_ready (int *fd, short revents, GString *into, GArray *events, gint64 now);
void drain_rest (int *fd, GString *into, GArray *events);
void run_result_clear (RunResult *r);
gboolean run_once (const Bench *b, GPtrArray *argv, const RunSpec *spec, RunResult *r, GError **error);
char *guest_path (const Bench *b, const char *name);
GPtrArray *vmm_argv (const Bench *b, VmmId id, const char *guest, const char *cmdline, gint64 count);
gboolean vmm_usable (const Bench *b, VmmId id);
void record (Bench *b, VmmId id, Metric m, double value);
gboolean run_vmm (Bench *b, VmmId id, const char *what, GPtrArray *argv, const RunSpec *spec, RunResult *r);
void rotated_order (int rep, const VmmId *ids, int n, VmmId *out);
void progress (const Bench *b, const char *format, ...) G_GNUC_PRINTF (2, 3);
char *load_average (void);
int compare_doubles (gconstpointer a, gconstpointer b);
gboolean summarize (GArray *values, double *median, double *lo, double *hi);
char *format_number (double v);
char *format_cell (const Bench *b, VmmId id, Metric m);
gboolean median_ratio (const Bench *b, VmmId num, VmmId den, Metric m, double *ratio);
char *format_ratio (const Bench *b, VmmId num, VmmId den, Metric m);
void print_row (const Bench *b, const char *label, const char *unit, Metric m, const VmmId *cols, int n_cols,
                const VmmId (*ratios)[2], int n_ratios);
void print_heading (const char *title, const VmmId *cols, int n_cols, const VmmId (*ratios)[2], int n_ratios);
void print_command (const Bench *b, VmmId id, const char *guest, const char *cmdline, gint64 count);
void print_target (const Bench *b, const char *what, Metric m, VmmId den, double limit, const char *target,
                   const char *unit);

/* A VMM running a guest, its console (stdout and stderr) read as it comes. */
typedef struct
{
  GPid pid;
  int fds[2];
  GString *out;
} ConsoleVm;

/* The VMM started last and not yet finished, for a signal handler to kill; 0 when none. */
extern volatile pid_t console_vm_running_pid;
gboolean console_vm_start (ConsoleVm *vm, GPtrArray *argv, GError **error);
/* Reads the console until @needle (then TRUE), EOF or @timeout_ms. */
gboolean console_vm_wait_for (ConsoleVm *vm, const char *needle, int timeout_ms, GError **error);
/* Waits for the VMM to exit, killing it after a while; TRUE when it exited by itself with 0. */
gboolean console_vm_finish (ConsoleVm *vm);
void console_vm_clear (ConsoleVm *vm);

/* ---- the benchmarks outside vireo-bench.c ---- */

gboolean make_disk_images (Bench *b, GError **error);
void remove_disk_images (Bench *b);
void bench_disk (Bench *b);
void print_disk_results (const Bench *b);

gboolean make_boot_image (Bench *b, GError **error);
void bench_firmware (Bench *b);
void print_firmware_results (const Bench *b);

void bench_net (Bench *b);
void print_net_results (const Bench *b);

void bench_checkpoint (Bench *b);
void print_checkpoint_results (const Bench *b);
