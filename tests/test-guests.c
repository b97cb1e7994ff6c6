/* test-guests.c — the test guests booted through the library API: output, exit reasons, lifecycle. */
#include "test-util.h"
#include "agent.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

typedef VireoTestGuest Guest;

/* Creates a VM for test guest @name; NULL (and the test skipped) without KVM. */
static gboolean
guest_init (Guest *guest, const char *name, const char *cmdline, uint64_t memory, unsigned cpus,
            const char *initrd)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *path = vireo_test_guest_path (name);

  guest->vm = NULL;
  guest->output_fd = -1;
  guest->input_pipe[0] = guest->input_pipe[1] = -1;
  if (!vireo_test_require_kvm ())
    return FALSE;

  vireo_test_guest_init (guest, memory, cpus);
  g_assert_true (hv_vm_set_kernel (guest->vm, path, initrd, cmdline, &error));
  g_assert_no_error (error);
  return TRUE;
}

/* Boots @name to its end and returns its output and exit reason. */
static char *
run_guest (const char *name, const char *cmdline, uint64_t memory, unsigned cpus, const char *initrd,
           HvExitReason *reason)
{
  Guest guest;
  HvExitInfo info = { 0 };
  g_autoptr (GError) error = NULL;
  char *output;

  if (!guest_init (&guest, name, cmdline, memory, cpus, initrd))
    return NULL;
  g_assert_true (hv_vm_start (guest.vm, &error));
  g_assert_no_error (error);
  hv_vm_wait (guest.vm, &info);
  output = vireo_test_guest_output (&guest);
  g_test_message ("%s ended: %s (%s)", name, hv_exit_reason_to_string (info.reason), info.message);
  *reason = info.reason;
  hv_exit_info_clear (&info);
  vireo_test_guest_clear (&guest);
  return output;
}

static void
test_hello (void)
{
  HvExitReason reason;
  g_autofree char *out = run_guest ("hello", NULL, 64ull << 20, 1, NULL, &reason);
  if (out == NULL)
    return;
  g_assert_nonnull (strstr (out, "Hello from a Vireo test guest\n"));
  g_assert_cmpint (reason, ==, HV_EXIT_POWER_OFF);
}

static void
check_boot_info (unsigned cpus, uint64_t memory)
{
  HvExitReason reason;
  g_autofree char *out = NULL;
  g_autofree char *expect_cpus = g_strdup_printf ("cpus: %u\n", cpus);
  g_autofree char *expect_low = NULL;

  out = run_guest ("boot-info", "console=ttyS0 marker=vireo-42", memory, cpus, NULL, &reason);
  if (out == NULL)
    return;
  g_assert_cmpint (reason, ==, HV_EXIT_POWER_OFF);
  g_assert_nonnull (strstr (out, "cmdline: console=ttyS0 marker=vireo-42\n"));
  g_assert_nonnull (strstr (out, expect_cpus));
  /* The memory map: low RAM, the reserved EBDA and BIOS area, RAM from 1 MiB to the hole (or the end). */
  g_assert_nonnull (strstr (out, "memmap: 0x0 0x9fc00 1\n"));
  g_assert_nonnull (strstr (out, "memmap: 0xe0000 0x20000 2\n"));
  expect_low = g_strdup_printf ("memmap: 0x100000 0x%" G_GINT64_MODIFIER "x 1\n",
                                (uint64_t) MIN (memory, 0xC0000000ull) - 0x100000);
  g_assert_nonnull (strstr (out, expect_low));
  if (memory > 0xC0000000ull)
    {
      g_autofree char *expect_high = g_strdup_printf ("memmap: 0x100000000 0x%" G_GINT64_MODIFIER "x 1\n",
                                                      (uint64_t) (memory - 0xC0000000ull));
      g_assert_nonnull (strstr (out, expect_high));
    }
  /* Every ACPI table the guest reached had a valid checksum. */
  g_assert_nonnull (strstr (out, "acpi: FACP ok"));
  g_assert_nonnull (strstr (out, "acpi: APIC ok"));
  g_assert_nonnull (strstr (out, "acpi: DSDT ok"));
  g_assert_null (strstr (out, "bad-checksum"));
}

static void
test_boot_info_1cpu (void)
{
  check_boot_info (1, 64ull << 20);
}

static void
test_boot_info_4cpus (void)
{
  check_boot_info (4, 128ull << 20);
}

static void
test_boot_info_above_4g (void)
{
  check_boot_info (2, 5ull << 30);
}

static void
test_boot_info_initrd (void)
{
  HvExitReason reason;
  g_autofree char *out = NULL;
  g_autofree char *path = NULL;
  g_autofree char *expect = NULL;
  g_autoptr (GError) error = NULL;
  uint8_t data[100000];
  uint32_t sum = 0;
  int fd;

  for (gsize i = 0; i < sizeof data; i++)
    {
      data[i] = (uint8_t) (i * 7 + 3);
      sum += data[i];
    }
  fd = g_file_open_tmp ("vireo-initrd-XXXXXX", &path, &error);
  g_assert_no_error (error);
  g_assert_cmpint (write (fd, data, sizeof data), ==, sizeof data);
  close (fd);

  out = run_guest ("boot-info", NULL, 64ull << 20, 1, path, &reason);
  unlink (path);
  if (out == NULL)
    return;
  g_assert_cmpint (reason, ==, HV_EXIT_POWER_OFF);
  expect = g_strdup_printf (" %zu 0x%08x\n", sizeof data, sum);
  g_assert_nonnull (strstr (out, "initrd: 0x"));
  g_assert_nonnull (strstr (strstr (out, "initrd: 0x"), expect));
}

static void
test_compute (void)
{
  HvExitReason reason;
  g_autofree char *out = run_guest ("compute", NULL, 64ull << 20, 1, NULL, &reason);
  if (out == NULL)
    return;
  g_assert_cmpint (reason, ==, HV_EXIT_POWER_OFF);
  /* The number of primes below 2,000,000. */
  g_assert_nonnull (strstr (out, "compute: 148933\n"));
}

static void
test_reset (void)
{
  HvExitReason reason;
  g_autofree char *out = run_guest ("reset", NULL, 64ull << 20, 1, NULL, &reason);
  if (out == NULL)
    return;
  g_assert_cmpint (reason, ==, HV_EXIT_RESET);
}

static void
test_triple_fault (void)
{
  HvExitReason reason;
  g_autofree char *out = run_guest ("triple-fault", NULL, 64ull << 20, 1, NULL, &reason);
  if (out == NULL)
    return;
  g_assert_cmpint (reason, ==, HV_EXIT_TRIPLE_FAULT);
}

static void
test_power_button (void)
{
  Guest guest;
  HvExitInfo info = { 0 };
  g_autoptr (GError) error = NULL;
  g_autofree char *out = NULL;

  if (!guest_init (&guest, "shutdown", NULL, 64ull << 20, 2, NULL))
    return;
  /* Not running yet: the button cannot be pressed. */
  g_assert_false (hv_vm_request_shutdown (guest.vm, &error));
  g_assert_error (error, HV_ERROR, HV_ERROR_INVALID_STATE);
  g_clear_error (&error);

  g_assert_true (hv_vm_start (guest.vm, &error));
  g_assert_true (vireo_test_guest_wait_for_output (&guest, "waiting for power button", 60));
  g_assert_true (hv_vm_request_shutdown (guest.vm, &error));
  g_assert_no_error (error);
  hv_vm_wait (guest.vm, &info);
  out = vireo_test_guest_output (&guest);
  g_assert_nonnull (strstr (out, "power button pressed"));
  g_assert_cmpint (info.reason, ==, HV_EXIT_POWER_OFF);
  hv_exit_info_clear (&info);
  vireo_test_guest_clear (&guest);
}

static void
test_pause_resume (void)
{
  Guest guest;
  HvExitInfo info = { 0 };
  g_autoptr (GError) error = NULL;
  g_autofree char *before = NULL;
  g_autofree char *after = NULL;

  if (!guest_init (&guest, "echo", NULL, 64ull << 20, 2, NULL))
    return;
  g_assert_false (hv_vm_resume (guest.vm, &error));
  g_assert_error (error, HV_ERROR, HV_ERROR_INVALID_STATE);
  g_clear_error (&error);

  g_assert_true (hv_vm_start (guest.vm, &error));
  g_assert_true (vireo_test_guest_wait_for_output (&guest, "echo ready", 60));
  g_assert_true (hv_vm_pause (guest.vm, &error));
  g_assert_no_error (error);

  /* Paused: input is queued but nothing is echoed. */
  g_assert_cmpint (write (guest.input_pipe[1], "abc", 3), ==, 3);
  before = vireo_test_guest_output (&guest);
  g_usleep (300000);
  after = vireo_test_guest_output (&guest);
  g_assert_cmpstr (before, ==, after);
  g_assert_false (hv_vm_has_exited (guest.vm));

  g_assert_true (hv_vm_resume (guest.vm, &error));
  g_assert_true (vireo_test_guest_wait_for_output (&guest, "abc", 30));
  g_assert_cmpint (write (guest.input_pipe[1], "q", 1), ==, 1);
  hv_vm_wait (guest.vm, &info);
  g_assert_cmpint (info.reason, ==, HV_EXIT_POWER_OFF);
  hv_exit_info_clear (&info);
  vireo_test_guest_clear (&guest);
}

static void
test_serial_input (void)
{
  Guest guest;
  HvExitInfo info = { 0 };
  g_autoptr (GError) error = NULL;
  g_autofree char *out = NULL;
  /* More than the UART's FIFO holds, so the input path must wait for the guest to drain it. */
  const char *text
      = "sphinx of black onyx, judge my vow 0123456789 ABCDEFGHIJKLMNOPRSTUVWXYZ abcdefghijklmnoprstuvwxyz\n";

  if (!guest_init (&guest, "echo", NULL, 64ull << 20, 1, NULL))
    return;
  g_assert_true (hv_vm_start (guest.vm, &error));
  /* Input sent before the guest set up its UART would be cleared with the FIFOs, as on hardware. */
  g_assert_true (vireo_test_guest_wait_for_output (&guest, "echo ready", 60));
  g_assert_cmpint (write (guest.input_pipe[1], text, strlen (text)), ==, (ssize_t) strlen (text));
  g_assert_cmpint (write (guest.input_pipe[1], "q", 1), ==, 1);
  hv_vm_wait (guest.vm, &info);
  out = vireo_test_guest_output (&guest);
  g_assert_nonnull (strstr (out, text));
  g_assert_nonnull (strstr (out, "echo done"));
  g_assert_cmpint (info.reason, ==, HV_EXIT_POWER_OFF);
  hv_exit_info_clear (&info);
  vireo_test_guest_clear (&guest);
}

static void
test_stop (void)
{
  Guest guest;
  HvExitInfo info = { 0 };
  g_autoptr (GError) error = NULL;

  if (!guest_init (&guest, "shutdown", NULL, 64ull << 20, 4, NULL))
    return;
  g_assert_true (hv_vm_start (guest.vm, &error));
  g_assert_true (vireo_test_guest_wait_for_output (&guest, "waiting for power button", 60));
  g_assert_true (hv_vm_pause (guest.vm, &error));
  hv_vm_stop (guest.vm);
  hv_vm_wait (guest.vm, &info);
  g_assert_cmpint (info.reason, ==, HV_EXIT_STOPPED);
  g_assert_true (hv_vm_has_exited (guest.vm));
  g_assert_false (hv_vm_pause (guest.vm, &error));
  g_assert_error (error, HV_ERROR, HV_ERROR_INVALID_STATE);
  g_clear_error (&error);
  g_assert_false (hv_vm_start (guest.vm, &error));
  g_assert_error (error, HV_ERROR, HV_ERROR_INVALID_STATE);
  hv_exit_info_clear (&info);
  vireo_test_guest_clear (&guest);
}

static void
test_free_while_running (void)
{
  Guest guest;
  g_autoptr (GError) error = NULL;

  if (!guest_init (&guest, "shutdown", NULL, 64ull << 20, 2, NULL))
    return;
  g_assert_true (hv_vm_start (guest.vm, &error));
  /* Freeing a running VM stops it and joins its threads: nothing leaks, nothing hangs. */
  vireo_test_guest_clear (&guest);
}

static void
test_kvm_fd_handed_over (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (HvVm) vm = NULL;
  g_autofree char *path = vireo_test_guest_path ("hello");
  HvExitInfo info = { 0 };
  int fd;

  if (!vireo_test_require_kvm ())
    return;
  /* A worker gets /dev/kvm as an fd from the service and may not open it itself. */
  fd = open ("/dev/kvm", O_RDWR | O_CLOEXEC);
  g_assert_cmpint (fd, >=, 0);
  vm = hv_vm_new_for_fd (fd, &error);
  g_assert_no_error (error);
  g_assert_true (hv_vm_set_kernel (vm, path, NULL, NULL, &error));
  hv_vm_set_serial (vm, -1, -1);
  g_assert_true (hv_vm_start (vm, &error));
  hv_vm_wait (vm, &info);
  g_assert_cmpint (info.reason, ==, HV_EXIT_POWER_OFF);
  hv_exit_info_clear (&info);

  /* Something that is not KVM is refused, and the fd is still taken care of. */
  fd = open ("/dev/null", O_RDWR | O_CLOEXEC);
  g_assert_null (hv_vm_new_for_fd (fd, &error));
  g_assert_error (error, HV_ERROR, HV_ERROR_NO_KVM);
}

static void
test_no_kvm (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (HvVm) vm = hv_vm_new ("/nonexistent/kvm", &error);

  g_assert_null (vm);
  g_assert_error (error, HV_ERROR, HV_ERROR_NO_KVM);
  g_assert_nonnull (strstr (error->message, "does not exist"));
  g_clear_error (&error);

  /* A device that is not KVM at all. */
  vm = hv_vm_new ("/dev/null", &error);
  g_assert_null (vm);
  g_assert_error (error, HV_ERROR, HV_ERROR_NO_KVM);
}

static void
test_bad_configuration (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (HvVm) vm = NULL;

  if (!vireo_test_require_kvm ())
    return;
  vm = hv_vm_new (NULL, &error);
  g_assert_no_error (error);
  g_assert_false (hv_vm_set_memory (vm, 16ull << 20, &error));
  g_assert_error (error, HV_ERROR, HV_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);
  g_assert_false (hv_vm_set_vcpus (vm, 0, &error));
  g_assert_error (error, HV_ERROR, HV_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);
  g_assert_false (hv_vm_set_cpuid_mask (vm, "-nosuchflag", &error));
  g_assert_error (error, HV_ERROR, HV_ERROR_INVALID_ARGUMENT);
  g_assert_nonnull (strstr (error->message, "nosuchflag"));
  g_clear_error (&error);
  g_assert_false (hv_vm_set_kernel (vm, "/nonexistent/vmlinux", NULL, NULL, &error));
  g_assert_error (error, HV_ERROR, HV_ERROR_NOT_FOUND);
  g_clear_error (&error);
  /* Starting without a kernel says so. */
  g_assert_false (hv_vm_start (vm, &error));
  g_assert_error (error, HV_ERROR, HV_ERROR_INVALID_ARGUMENT);
  g_assert_nonnull (strstr (error->message, "kernel"));
}

typedef struct
{
  gboolean done;
  gint64 number;
  GError *error;
} AgentOutcome;

static void
agent_replied (const HvAgentResult *result, const GError *error, gpointer user_data)
{
  AgentOutcome *outcome = user_data;

  outcome->done = TRUE;
  outcome->number = result ? result->number : -1;
  outcome->error = error ? g_error_copy (error) : NULL;
}

/* One command to the agent guest through the host client, waited for on this thread's context. */
static gint64
agent_command (int fd, const char *command)
{
  AgentOutcome outcome = { 0 };

  hv_agent_call (fd, command, 30000, NULL, agent_replied, &outcome);
  while (!outcome.done)
    g_main_context_iteration (NULL, TRUE);
  g_assert_no_error (outcome.error);
  return outcome.number;
}

/* The agent guest behind a virtio-serial port: the host client syncs with it, freezes and thaws, and
 * the guest says so in that order. */
static void
test_guest_agent (void)
{
  g_autofree char *kernel = vireo_test_guest_path ("agent");
  g_autoptr (HvMachineSpec) spec = hv_machine_spec_new ();
  g_autoptr (GError) error = NULL;
  g_autofree char *output = NULL;
  HvExitInfo info = { 0 };
  HvDeviceSpec *device;
  Guest guest;
  int fds[2];
  const char *freeze, *thaw;

  if (!vireo_test_require_kvm ())
    return;
  g_assert_cmpint (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), ==, 0);
  spec->memory = 64ull << 20;
  spec->kernel = hv_machine_spec_add_fd (spec, open (kernel, O_RDONLY | O_CLOEXEC));
  device = hv_machine_spec_add_device (spec, "virtio-serial", NULL,
                                       g_variant_new_parsed ("{'ports': <%s>}", HV_AGENT_PORT));
  hv_device_spec_set_fds (spec, device, "fds", &fds[1], 1);

  vireo_test_guest_init (&guest, 64ull << 20, 1);
  g_assert_true (hv_vm_apply_spec (guest.vm, spec, &error));
  g_assert_no_error (error);
  hv_vm_set_serial (guest.vm, guest.input_pipe[0], guest.output_fd);
  g_assert_true (hv_vm_start (guest.vm, &error));
  g_assert_no_error (error);
  g_assert_true (vireo_test_guest_wait_for_output (&guest, "agent ready", 120));

  g_assert_cmpint (agent_command (fds[0], "guest-ping"), ==, -1);
  g_assert_cmpint (agent_command (fds[0], "guest-fsfreeze-freeze"), ==, 1);
  g_assert_cmpint (agent_command (fds[0], "guest-fsfreeze-thaw"), ==, 1);
  g_assert_cmpint (write (fds[0], "{\"execute\":\"guest-shutdown\"}\n", 30), ==, 30);
  hv_vm_wait (guest.vm, &info);
  output = vireo_test_guest_output (&guest);
  g_test_message ("agent ended: %s (%s)", hv_exit_reason_to_string (info.reason), info.message);
  freeze = strstr (output, "agent: freeze\n");
  thaw = strstr (output, "agent: thaw\n");
  g_assert_nonnull (freeze);
  g_assert_nonnull (thaw);
  g_assert_true (freeze < thaw);
  g_assert_nonnull (strstr (output, "agent: done"));
  hv_exit_info_clear (&info);
  vireo_test_guest_clear (&guest);
  close (fds[0]);
}

/* A machine with the agent's port on @fd, booting the agent guest or restoring @restore_dir (>= 0). */
static void
agent_guest_start (Guest *guest, int fd, int restore_dir)
{
  g_autofree char *kernel = vireo_test_guest_path ("agent");
  g_autoptr (HvMachineSpec) spec = hv_machine_spec_new ();
  g_autoptr (GError) error = NULL;
  HvDeviceSpec *device;

  spec->memory = 64ull << 20;
  spec->kernel = hv_machine_spec_add_fd (spec, open (kernel, O_RDONLY | O_CLOEXEC));
  device = hv_machine_spec_add_device (spec, "virtio-serial", NULL,
                                       g_variant_new_parsed ("{'ports': <%s>}", HV_AGENT_PORT));
  hv_device_spec_set_fds (spec, device, "fds", &fd, 1);
  vireo_test_guest_init (guest, 64ull << 20, 1);
  g_assert_true (hv_vm_apply_spec (guest->vm, spec, &error));
  g_assert_no_error (error);
  hv_vm_set_serial (guest->vm, guest->input_pipe[0], guest->output_fd);
  if (restore_dir >= 0)
    {
      g_assert_true (hv_vm_set_restore (guest->vm, restore_dir, &error));
      g_assert_no_error (error);
    }
  g_assert_true (hv_vm_start (guest->vm, &error));
  g_assert_no_error (error);
}

/* Frozen, saved, restored on a new host connection: the restored agent still knows it is frozen and
 * answers the new connection's sync and thaw. */
static void
test_guest_agent_save_restore (void)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *dir = NULL;
  g_autofree char *output = NULL;
  HvExitInfo info = { 0 };
  Guest guest;
  int old[2], new[2];
  int dir_fd;

  if (!vireo_test_require_kvm ())
    return;
  dir = g_dir_make_tmp ("vireo-agent-XXXXXX", &error);
  g_assert_no_error (error);
  dir_fd = open (dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  g_assert_cmpint (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, old), ==, 0);
  g_assert_cmpint (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, new), ==, 0);

  agent_guest_start (&guest, old[1], -1);
  g_assert_true (vireo_test_guest_wait_for_output (&guest, "agent ready", 120));
  g_assert_cmpint (agent_command (old[0], "guest-fsfreeze-freeze"), ==, 1);
  g_assert_true (hv_vm_pause (guest.vm, &error));
  g_assert_true (hv_vm_save (guest.vm, dir_fd, &error));
  g_assert_no_error (error);
  vireo_test_guest_clear (&guest);
  close (old[0]);

  agent_guest_start (&guest, new[1], dir_fd);
  g_assert_cmpint (agent_command (new[0], "guest-fsfreeze-thaw"), ==, 1);
  g_assert_cmpint (write (new[0], "{\"execute\":\"guest-shutdown\"}\n", 30), ==, 30);
  hv_vm_wait (guest.vm, &info);
  g_assert_cmpint (info.reason, ==, HV_EXIT_POWER_OFF);
  output = vireo_test_guest_output (&guest);
  g_assert_cmpstr (output, ==, "agent: thaw\nagent: done\n");
  hv_exit_info_clear (&info);
  vireo_test_guest_clear (&guest);
  close (new[0]);
  close (dir_fd);
  vireo_test_remove_tree (dir);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/guest/hello", test_hello);
  g_test_add_func ("/guest/boot-info/1-cpu", test_boot_info_1cpu);
  g_test_add_func ("/guest/boot-info/4-cpus", test_boot_info_4cpus);
  g_test_add_func ("/guest/boot-info/above-4g", test_boot_info_above_4g);
  g_test_add_func ("/guest/boot-info/initrd", test_boot_info_initrd);
  g_test_add_func ("/guest/compute", test_compute);
  g_test_add_func ("/guest/reset", test_reset);
  g_test_add_func ("/guest/triple-fault", test_triple_fault);
  g_test_add_func ("/guest/power-button", test_power_button);
  g_test_add_func ("/guest/pause-resume", test_pause_resume);
  g_test_add_func ("/guest/serial-input", test_serial_input);
  g_test_add_func ("/guest/stop", test_stop);
  g_test_add_func ("/guest/free-while-running", test_free_while_running);
  g_test_add_func ("/guest/kvm-fd-handed-over", test_kvm_fd_handed_over);
  g_test_add_func ("/guest/no-kvm", test_no_kvm);
  g_test_add_func ("/guest/bad-configuration", test_bad_configuration);
  g_test_add_func ("/guest/agent", test_guest_agent);
  g_test_add_func ("/guest/agent-save-restore", test_guest_agent_save_restore);
  return g_test_run ();
}
