/* checkpoint-harness.c — the vireo side of the checkpoint benchmark (vireo-bench --only checkpoint): one
 * guest on the core (libvireo-hv) with one qcow2 disk, taking and applying standard checkpoints when told
 * to over a unix socket, as QEMU takes savevm and loadvm over its monitor.
 *
 *   checkpoint-harness --kernel ELF [--cmdline TEXT] --memory MIB --disk IMAGE --state-dir DIR
 *                      --control SOCKET
 *
 * The guest's COM1 goes to stdout.  The control socket takes one connection and one command per line,
 * answering each with one line:
 *
 *   checkpoint NAME   pause, disk snapshot NAME on every writable disk, machine state into DIR/NAME/
 *                     (hv_vm_save), resume
 *                     → "ok checkpoint NAME pause=MS disks=MS save=MS resume=MS total=MS"
 *   apply NAME        back to checkpoint NAME, running (apply_checkpoint below)
 *                     → "ok apply NAME ...phases... total=MS" once the vCPUs run again
 *   quit              → "ok quit", then the harness ends the VM and exits 0
 *
 * A command that fails answers "error MESSAGE" and the harness goes on.  Not a test and not a tool: the
 * smallest host that does what vireo-worker does for a checkpoint, so the benchmark measures the core. */
#include "hv.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

typedef struct
{
  HvMachineSpec *spec; /* what every VM of this run is built from */
  HvVm *vm;
  int state_dir_fd;
} Harness;

static double
ms_since (gint64 *start)
{
  gint64 now = g_get_monotonic_time ();
  double ms = (now - *start) / 1000.0;

  *start = now;
  return ms;
}

/* A new VM from the spec, its serial on stdout; not started. */
static HvVm *
new_vm (Harness *h, GError **error)
{
  g_autoptr (HvVm) vm = hv_vm_new (NULL, error);

  if (vm == NULL || !hv_vm_apply_spec (vm, h->spec, error))
    return NULL;
  hv_vm_set_serial (vm, -1, STDOUT_FILENO);
  return g_steal_pointer (&vm);
}

static int
open_checkpoint_dir (Harness *h, const char *name, gboolean create, GError **error)
{
  int fd;

  if (strchr (name, '/') != NULL || g_str_equal (name, ".") || g_str_equal (name, ".."))
    {
      g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_INVAL, "“%s” is not a checkpoint name", name);
      return -1;
    }
  if (create && mkdirat (h->state_dir_fd, name, 0700) < 0 && errno != EEXIST)
    {
      g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (errno), "cannot make the folder %s: %s",
                   name, g_strerror (errno));
      return -1;
    }
  fd = openat (h->state_dir_fd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0)
    g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (errno), "no checkpoint %s: %s", name,
                 g_strerror (errno));
  return fd;
}

/* A standard checkpoint of the running VM, as vireo-worker's CreateCheckpoint takes one. */
static char *
create_checkpoint (Harness *h, const char *name, GError **error)
{
  gint64 start = g_get_monotonic_time (), t = start;
  double pause_ms, disks_ms, save_ms, resume_ms;
  int dir_fd = open_checkpoint_dir (h, name, TRUE, error);
  gboolean ok;

  if (dir_fd < 0)
    return NULL;
  if (!hv_vm_pause (h->vm, error))
    {
      close (dir_fd);
      return NULL;
    }
  pause_ms = ms_since (&t);
  ok = hv_vm_snapshot_disks (h->vm, "create", name, error);
  disks_ms = ms_since (&t);
  ok = ok && hv_vm_save (h->vm, dir_fd, error);
  save_ms = ms_since (&t);
  close (dir_fd);
  /* Running again whatever happened: a failed checkpoint must not stop the guest. */
  if (!hv_vm_resume (h->vm, ok ? error : NULL))
    ok = FALSE;
  resume_ms = ms_since (&t);
  if (!ok)
    return NULL;
  return g_strdup_printf ("ok checkpoint %s pause=%.2f disks=%.2f save=%.2f resume=%.2f total=%.2f", name,
                          pause_ms, disks_ms, save_ms, resume_ms, (t - start) / 1000.0);
}

/* Back to checkpoint @name, running: the one place that says how, the way vireo-worker's
 * ApplyCheckpoint does it.  The "revert" phase is the in-place restore (memory mapped lazily, vCPUs,
 * irqchip and devices loaded into the live machine). */
static char *
apply_checkpoint (Harness *h, const char *name, GError **error)
{
  gint64 start = g_get_monotonic_time (), t = start;
  double disks_ms, revert_ms, resume_ms;
  int dir_fd = open_checkpoint_dir (h, name, FALSE, error);
  gboolean ok;

  if (dir_fd < 0)
    return NULL;
  /* As vireo-worker's ApplyCheckpoint: the saved state is checked before the disks change, then the
   * paused VM returns to it in place (hv_vm_revert: memory mapped lazily) and runs on. */
  if (!hv_vm_check_saved (h->vm, dir_fd, error) || !hv_vm_pause (h->vm, error)
      || !hv_vm_snapshot_disks (h->vm, "apply", name, error))
    {
      close (dir_fd);
      hv_vm_resume (h->vm, NULL);
      return NULL;
    }
  disks_ms = ms_since (&t);
  ok = hv_vm_revert (h->vm, dir_fd, error);
  close (dir_fd);
  if (!ok)
    {
      /* A revert that failed half way ended the VM: nothing is left to run. */
      hv_vm_stop (h->vm);
      g_clear_pointer (&h->vm, hv_vm_free);
      return NULL;
    }
  revert_ms = ms_since (&t);
  if (!hv_vm_resume (h->vm, error))
    return NULL;
  resume_ms = ms_since (&t);
  return g_strdup_printf ("ok apply %s pause+disks=%.2f revert=%.2f resume=%.2f total=%.2f", name, disks_ms,
                          revert_ms, resume_ms, (t - start) / 1000.0);
}

/* Runs one command line; the answer, without its newline. */
static char *
run_command (Harness *h, const char *line, gboolean *quit)
{
  g_autoptr (GError) error = NULL;
  g_auto (GStrv) words = g_strsplit (line, " ", 2);
  char *answer = NULL;

  if (g_strv_length (words) == 2 && g_str_equal (words[0], "checkpoint"))
    answer = create_checkpoint (h, words[1], &error);
  else if (g_strv_length (words) == 2 && g_str_equal (words[0], "apply"))
    {
      answer = apply_checkpoint (h, words[1], &error);
      if (answer == NULL && h->vm == NULL)
        *quit = TRUE; /* nothing left to run */
    }
  else if (g_str_equal (line, "quit"))
    {
      *quit = TRUE;
      return g_strdup ("ok quit");
    }
  else
    return g_strdup_printf ("error unknown command “%s” (checkpoint NAME, apply NAME, quit)", line);
  if (answer == NULL)
    answer = g_strdup_printf ("error %s", error->message);
  return answer;
}

static int
listen_on (const char *path, GError **error)
{
  struct sockaddr_un addr = { .sun_family = AF_UNIX };
  int fd;

  if (strlen (path) >= sizeof addr.sun_path)
    {
      g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_INVAL, "the socket path %s is too long", path);
      return -1;
    }
  strcpy (addr.sun_path, path);
  unlink (path);
  fd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0 || bind (fd, (struct sockaddr *) &addr, sizeof addr) < 0 || listen (fd, 1) < 0)
    {
      g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (errno), "cannot listen on %s: %s", path,
                   g_strerror (errno));
      if (fd >= 0)
        close (fd);
      return -1;
    }
  return fd;
}

static int
serve (Harness *h, int listen_fd)
{
  g_autoptr (GString) line = g_string_new (NULL);
  gboolean quit = FALSE;
  int fd = accept4 (listen_fd, NULL, NULL, SOCK_CLOEXEC);

  if (fd < 0)
    {
      g_printerr ("checkpoint-harness: accept: %s\n", g_strerror (errno));
      return 1;
    }
  while (!quit)
    {
      char c;
      ssize_t n = read (fd, &c, 1);

      if (n <= 0)
        break;
      if (c != '\n')
        {
          g_string_append_c (line, c);
          continue;
        }
      g_autofree char *answer = run_command (h, g_strstrip (line->str), &quit);
      g_autofree char *reply = g_strconcat (answer, "\n", NULL);
      if (write (fd, reply, strlen (reply)) != (ssize_t) strlen (reply))
        break;
      g_string_truncate (line, 0);
    }
  close (fd);
  return quit ? 0 : 1;
}

int
main (int argc, char **argv)
{
  g_autofree char *kernel = NULL, *cmdline = NULL, *disk = NULL, *state_dir = NULL, *control = NULL;
  int memory_mib = 0;
  GOptionEntry entries[] = {
    { "kernel", 'k', 0, G_OPTION_ARG_FILENAME, &kernel, "Guest (PVH ELF)", "FILE" },
    { "cmdline", 'c', 0, G_OPTION_ARG_STRING, &cmdline, "Guest command line", "TEXT" },
    { "memory", 'm', 0, G_OPTION_ARG_INT, &memory_mib, "Guest memory in MiB", "MIB" },
    { "disk", 0, 0, G_OPTION_ARG_FILENAME, &disk, "qcow2 image for a virtio-blk disk", "IMAGE" },
    { "state-dir", 0, 0, G_OPTION_ARG_FILENAME, &state_dir, "Folder for the checkpoints' state", "DIR" },
    { "control", 0, 0, G_OPTION_ARG_FILENAME, &control, "Unix socket to listen on for commands", "PATH" },
    { NULL },
  };
  g_autoptr (GOptionContext) context = g_option_context_new ("- checkpoints of one guest, on command");
  g_autoptr (GError) error = NULL;
  Harness h = { 0 };
  HvDeviceSpec *device;
  int listen_fd, status, kernel_fd, disk_fd;

  g_option_context_add_main_entries (context, entries, NULL);
  if (!g_option_context_parse (context, &argc, &argv, &error))
    {
      g_printerr ("checkpoint-harness: %s\n", error->message);
      return 2;
    }
  if (kernel == NULL || disk == NULL || state_dir == NULL || control == NULL || memory_mib < 16)
    {
      g_printerr ("checkpoint-harness: --kernel, --disk, --state-dir, --control and --memory (MiB, at least "
                  "16) are needed\n");
      return 2;
    }
  kernel_fd = open (kernel, O_RDONLY | O_CLOEXEC);
  disk_fd = open (disk, O_RDWR | O_CLOEXEC);
  h.state_dir_fd = open (state_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (kernel_fd < 0 || disk_fd < 0 || h.state_dir_fd < 0)
    {
      g_printerr ("checkpoint-harness: cannot open %s: %s\n",
                  kernel_fd < 0 ? kernel
                  : disk_fd < 0 ? disk
                                : state_dir,
                  g_strerror (errno));
      return 1;
    }
  h.spec = hv_machine_spec_new ();
  h.spec->memory = (uint64_t) memory_mib << 20;
  h.spec->kernel = hv_machine_spec_add_fd (h.spec, kernel_fd);
  h.spec->cmdline = g_strdup (cmdline ? cmdline : "");
  device = hv_machine_spec_add_device (h.spec, "virtio-blk", NULL, NULL);
  hv_device_spec_set_fd (h.spec, device, "file", disk_fd);

  listen_fd = listen_on (control, &error);
  if (listen_fd < 0 || (h.vm = new_vm (&h, &error)) == NULL || !hv_vm_start (h.vm, &error))
    {
      g_printerr ("checkpoint-harness: %s\n", error->message);
      return 1;
    }
  status = serve (&h, listen_fd);
  close (listen_fd);
  unlink (control);
  if (h.vm != NULL)
    hv_vm_stop (h.vm);
  g_clear_pointer (&h.vm, hv_vm_free);
  hv_machine_spec_free (h.spec);
  close (h.state_dir_fd);
  return status;
}
