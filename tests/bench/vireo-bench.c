/* vireo-bench.c — benchmarks vireo-run side by side with QEMU and with the bare-KVM floor in
 * kvm-floor.c on the same test guests (and, for disks, with host fio on the same file), and prints a
 * table of ratios.
 *
 * Every number comes from running the VMM as a child process, exactly as a user would: the clock
 * starts just before the spawn, the guest's serial output is read from the child's stdout with a
 * timestamp per read, and wait4() gives the exit time and the child's CPU time.  The VMMs take
 * turns (the order rotates every repetition) so that both see the same machine conditions.
 * Nothing here asserts on a timing: this is a measurement tool, not a test. */
#include "bench.h"

const char *const vmm_names[N_VMMS] = { "floor", "vireo", "qemu", "fio" };

/* The disk benchmark: blk-bench.elf's workloads (tests/guests/blk-bench.c), in its order, on each image
 * format. */
const DiskWorkload disk_workloads[N_DISK_WORKLOADS] = {
  { "randread-4k-qd1", "4 KiB random read, QD1", "randread", 4096, 1, 2000 },
  { "randread-4k-qd32", "4 KiB random read, QD32", "randread", 4096, 32, 8000 },
  { "randwrite-4k-qd1", "4 KiB random write, QD1", "randwrite", 4096, 1, 2000 },
  { "randwrite-4k-qd32", "4 KiB random write, QD32", "randwrite", 4096, 32, 8000 },
  { "seqread-1m-qd4", "1 MiB sequential read, QD4", "read", 1u << 20, 4, 256 },
  { "seqwrite-1m-qd4", "1 MiB sequential write, QD4", "write", 1u << 20, 4, 256 },
};
const char *const disk_formats[N_DISK_FORMATS] = { "raw", "qcow2" };
const char *const net_path_names[N_NET_PATHS] = { "user", "tap" };

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
    print_disk_results (b);
  if (b->do_firmware)
    print_firmware_results (b);

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
