/* bench-checkpoint.c — the checkpoint benchmark (--only checkpoint). */
#include "bench.h"

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
  ConsoleVm vm;
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
  if (!console_vm_start (&c.vm, argv, error))
    goto out;
  if (!console_vm_wait_for (&c.vm, CKPT_TOUCHED, CKPT_READY_MS, error))
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
      console_vm_finish (&c.vm);
    }
  console_vm_clear (&c.vm);
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

/* The bound for creating a checkpoint: writing the touched memory once.  CKPT_TOUCH_MIB of a
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

void
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

void
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
