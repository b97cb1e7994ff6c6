/* test-vireo-run.c — vireo-run as a user runs it: guests, exit statuses, serial back ends, signals, and a
 * clear one-line error for every kind of bad input. */
#include "test-util.h"
#include "agent.h"

#include <gio/gio.h>

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

/* Exit statuses documented in vireo-run --help. */
enum
{
  STATUS_POWER_OFF = 0,
  STATUS_SETUP_ERROR = 1,
  STATUS_USAGE = 2,
  STATUS_RESET = 3,
  STATUS_TRIPLE_FAULT = 4,
  STATUS_STOPPED = 7,
};

typedef struct
{
  int status;
  char *out;
  char *err;
} Result;

static void
result_clear (Result *r)
{
  g_free (r->out);
  g_free (r->err);
}

static int
exit_status_of (GSubprocess *proc)
{
  if (g_subprocess_get_if_exited (proc))
    return g_subprocess_get_exit_status (proc);
  g_error ("vireo-run died from signal %d", g_subprocess_get_term_sig (proc));
  return -1;
}

/* Runs vireo-run with @argv (NULL-terminated, without the program) and @input on stdin. */
static Result
run_vireo (const char *input, const char *const *args)
{
  g_autoptr (GPtrArray) argv = g_ptr_array_new ();
  g_autoptr (GSubprocess) proc = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (GBytes) in = g_bytes_new (input ? input : "", input ? strlen (input) : 0);
  g_autoptr (GBytes) out = NULL;
  g_autoptr (GBytes) err = NULL;
  Result r = { 0 };

  g_ptr_array_add (argv, (char *) vireo_test_vireo_run ());
  for (; *args; args++)
    g_ptr_array_add (argv, (char *) *args);
  g_ptr_array_add (argv, NULL);

  proc = g_subprocess_newv ((const char *const *) argv->pdata,
                            G_SUBPROCESS_FLAGS_STDIN_PIPE | G_SUBPROCESS_FLAGS_STDOUT_PIPE
                                | G_SUBPROCESS_FLAGS_STDERR_PIPE,
                            &error);
  g_assert_no_error (error);
  g_assert_true (g_subprocess_communicate (proc, in, NULL, &out, &err, &error));
  g_assert_no_error (error);
  r.status = exit_status_of (proc);
  r.out = g_strndup (g_bytes_get_size (out) ? g_bytes_get_data (out, NULL) : "", g_bytes_get_size (out));
  r.err = g_strndup (g_bytes_get_size (err) ? g_bytes_get_data (err, NULL) : "", g_bytes_get_size (err));
  g_test_message ("exit %d\nstdout: %s\nstderr: %s", r.status, r.out, r.err);
  return r;
}

static char *
guest (const char *name)
{
  return vireo_test_guest_path (name);
}

/* One line on stderr, starting with "vireo-run: ", containing @needle. */
static void
assert_one_line_error (const Result *r, const char *needle)
{
  g_assert_true (g_str_has_prefix (r->err, "vireo-run: "));
  g_assert_nonnull (strstr (r->err, needle));
  g_assert_nonnull (strchr (r->err, '\n'));
  g_assert_cmpstr (strchr (r->err, '\n') + 1, ==, "");
  g_assert_cmpstr (r->out, ==, "");
}

static void
test_hello (void)
{
  g_autofree char *kernel = guest ("hello");
  Result r;

  if (!vireo_test_require_kvm ())
    return;
  r = run_vireo (NULL, (const char *const[]){ "--kernel", kernel, NULL });
  g_assert_cmpint (r.status, ==, STATUS_POWER_OFF);
  g_assert_nonnull (strstr (r.out, "Hello from a Vireo test guest"));
  g_assert_cmpstr (r.err, ==, "");
  result_clear (&r);
}

/* --device adds to the machine vireo-run describes, as vireod's specs do: COM2 and two keyboards. */
static void
test_devices (void)
{
  g_autofree char *kernel = guest ("hello");
  Result r;

  if (!vireo_test_require_kvm ())
    return;
  r = run_vireo (NULL, (const char *const[]){ "--kernel", kernel, "--device", "serial,id=com2", "--device",
                                              "virtio-keyboard", "--device", "virtio-keyboard", NULL });
  g_assert_cmpint (r.status, ==, STATUS_POWER_OFF);
  g_assert_nonnull (strstr (r.out, "Hello from a Vireo test guest"));
  g_assert_cmpstr (r.err, ==, "");
  result_clear (&r);

  r = run_vireo (NULL, (const char *const[]){ "--device", "help", NULL });
  g_assert_cmpint (r.status, ==, 0);
  g_assert_nonnull (strstr (r.out, "virtio-tablet"));
  g_assert_null (strstr (r.out, "pci-host"));
  result_clear (&r);
}

static void
test_boot_info_options (void)
{
  g_autofree char *kernel = guest ("boot-info");
  Result r;

  if (!vireo_test_require_kvm ())
    return;
  r = run_vireo (NULL, (const char *const[]){ "--kernel", kernel, "--cmdline", "hello world", "--memory",
                                              "96M", "--cpus", "3", "--cpuid-mask=-cx16,-avx512f", NULL });
  g_assert_cmpint (r.status, ==, STATUS_POWER_OFF);
  g_assert_nonnull (strstr (r.out, "cmdline: hello world\n"));
  g_assert_nonnull (strstr (r.out, "cpus: 3\n"));
  g_assert_nonnull (strstr (r.out, "memmap: 0x100000 0x5f00000 1\n"));
  result_clear (&r);
}

static void
test_exit_statuses (void)
{
  static const struct
  {
    const char *guest;
    int status;
    const char *message;
  } cases[] = {
    { "compute", STATUS_POWER_OFF, NULL },
    { "pio-loop", STATUS_POWER_OFF, NULL },
    { "reset", STATUS_RESET, "reset" },
    { "triple-fault", STATUS_TRIPLE_FAULT, "triple fault" },
  };

  if (!vireo_test_require_kvm ())
    return;
  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *kernel = guest (cases[i].guest);
      Result r = run_vireo (NULL, (const char *const[]){ "--kernel", kernel, NULL });
      g_assert_cmpint (r.status, ==, cases[i].status);
      if (cases[i].message)
        g_assert_nonnull (strstr (r.err, cases[i].message));
      else
        g_assert_cmpstr (r.err, ==, "");
      result_clear (&r);
    }
}

static void
test_serial_file (void)
{
  g_autofree char *kernel = guest ("hello");
  g_autofree char *dir = g_dir_make_tmp ("vireo-run-XXXXXX", NULL);
  g_autofree char *path = g_build_filename (dir, "serial.log", NULL);
  g_autofree char *spec = g_strconcat ("file:", path, NULL);
  g_autofree char *contents = NULL;
  Result r;

  if (!vireo_test_require_kvm ())
    return;
  r = run_vireo (NULL, (const char *const[]){ "--kernel", kernel, "--serial", spec, NULL });
  g_assert_cmpint (r.status, ==, STATUS_POWER_OFF);
  g_assert_cmpstr (r.out, ==, "");
  g_assert_true (g_file_get_contents (path, &contents, NULL, NULL));
  g_assert_nonnull (strstr (contents, "Hello from a Vireo test guest"));
  unlink (path);
  result_clear (&r);

  /* A link where the log goes is refused, and what it points to is left alone. */
  {
    g_autofree char *precious = g_build_filename (dir, "precious", NULL);
    g_autofree char *kept = NULL;

    g_assert_true (g_file_set_contents (precious, "keep me", -1, NULL));
    g_assert_cmpint (symlink (precious, path), ==, 0);
    r = run_vireo (NULL, (const char *const[]){ "--kernel", kernel, "--serial", spec, NULL });
    g_assert_cmpint (r.status, ==, STATUS_SETUP_ERROR);
    g_assert_nonnull (strstr (r.err, path));
    g_assert_true (g_file_get_contents (precious, &kept, NULL, NULL));
    g_assert_cmpstr (kept, ==, "keep me");
    unlink (path);
    unlink (precious);
    result_clear (&r);
  }
  rmdir (dir);
}

static int
connect_unix (const char *path)
{
  struct sockaddr_un addr = { .sun_family = AF_UNIX };
  int fd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  g_strlcpy (addr.sun_path, path, sizeof addr.sun_path);
  for (int tries = 0; tries < 500; tries++)
    {
      if (connect (fd, (struct sockaddr *) &addr, sizeof addr) == 0)
        return fd;
      g_usleep (10000);
    }
  g_error ("cannot connect to %s: %s", path, g_strerror (errno));
  return -1;
}

static void
test_serial_unix (void)
{
  g_autofree char *kernel = guest ("echo");
  g_autofree char *dir = g_dir_make_tmp ("vireo-run-XXXXXX", NULL);
  g_autofree char *path = g_build_filename (dir, "serial.sock", NULL);
  g_autofree char *spec = g_strconcat ("unix:", path, NULL);
  g_autoptr (GSubprocess) proc = NULL;
  g_autoptr (GError) error = NULL;
  GString *seen = g_string_new (NULL);
  char buf[256];
  ssize_t n;
  int fd;

  if (!vireo_test_require_kvm ())
    {
      g_string_free (seen, TRUE);
      return;
    }
  proc = g_subprocess_new (G_SUBPROCESS_FLAGS_STDERR_SILENCE, &error, vireo_test_vireo_run (), "--kernel",
                           kernel, "--serial", spec, NULL);
  g_assert_no_error (error);
  fd = connect_unix (path);
  while (strstr (seen->str, "echo ready") == NULL && (n = read (fd, buf, sizeof buf)) > 0)
    g_string_append_len (seen, buf, n);
  g_assert_cmpint (write (fd, "over a socket\nq", 15), ==, 15);
  while ((n = read (fd, buf, sizeof buf)) > 0)
    g_string_append_len (seen, buf, n);
  close (fd);
  g_assert_true (g_subprocess_wait (proc, NULL, &error));
  g_assert_cmpint (exit_status_of (proc), ==, STATUS_POWER_OFF);
  g_assert_nonnull (strstr (seen->str, "echo ready"));
  g_assert_nonnull (strstr (seen->str, "over a socket"));
  g_string_free (seen, TRUE);
  rmdir (dir);
}

/* Starts @guest_name with stdout piped, waits for @ready on it, then writes @input to its stdin (when not
 * NULL) and sends @signals SIGTERMs.  Returns the exit status; stdout and stderr in @out and @err. */
static int
run_interactive (const char *guest_name, const char *ready, const char *input, int signals, char **out,
                 char **err)
{
  g_autofree char *kernel = guest (guest_name);
  g_autoptr (GSubprocess) proc = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (GDataInputStream) stdout_lines = NULL;
  g_autoptr (GBytes) err_bytes = NULL;
  GOutputStream *stdin_pipe;
  GString *seen = g_string_new (NULL);
  char *line;

  proc = g_subprocess_new (G_SUBPROCESS_FLAGS_STDIN_PIPE | G_SUBPROCESS_FLAGS_STDOUT_PIPE
                               | G_SUBPROCESS_FLAGS_STDERR_PIPE,
                           &error, vireo_test_vireo_run (), "--kernel", kernel, NULL);
  g_assert_no_error (error);
  stdin_pipe = g_subprocess_get_stdin_pipe (proc);
  stdout_lines = g_data_input_stream_new (g_subprocess_get_stdout_pipe (proc));
  while ((line = g_data_input_stream_read_line (stdout_lines, NULL, NULL, &error)) != NULL)
    {
      gboolean found = strstr (line, ready) != NULL;
      g_string_append_printf (seen, "%s\n", line);
      g_free (line);
      if (found)
        break;
    }
  g_assert_no_error (error);
  /* The guest is past its UART set-up (which clears the FIFOs): input from now on reaches it. */
  if (input)
    g_assert_true (g_output_stream_write_all (stdin_pipe, input, strlen (input), NULL, NULL, &error));
  g_assert_no_error (error);
  for (int i = 0; i < signals; i++)
    {
      g_subprocess_send_signal (proc, SIGTERM);
      g_usleep (200000);
    }
  /* Drain stdout so the guest never blocks on a full pipe. */
  while ((line = g_data_input_stream_read_line (stdout_lines, NULL, NULL, NULL)) != NULL)
    {
      g_string_append_printf (seen, "%s\n", line);
      g_free (line);
    }
  g_assert_true (g_subprocess_wait (proc, NULL, &error));
  err_bytes = g_input_stream_read_bytes (g_subprocess_get_stderr_pipe (proc), 65536, NULL, NULL);
  *err = err_bytes && g_bytes_get_size (err_bytes)
             ? g_strndup (g_bytes_get_data (err_bytes, NULL), g_bytes_get_size (err_bytes))
             : g_strdup ("");
  *out = g_string_free (seen, FALSE);
  g_test_message ("stdout: %s\nstderr: %s", *out, *err);
  return exit_status_of (proc);
}

typedef struct
{
  gboolean done;
  gint64 number;
} ChannelReply;

static void
channel_replied (const HvAgentResult *result, const GError *error, gpointer user_data)
{
  ChannelReply *reply = user_data;

  g_assert_no_error (error);
  reply->done = TRUE;
  reply->number = result->number;
}

static gint64
channel_command (int fd, const char *command)
{
  ChannelReply reply = { 0 };

  hv_agent_call (fd, command, 60000, NULL, channel_replied, &reply);
  while (!reply.done)
    g_main_context_iteration (NULL, TRUE);
  return reply.number;
}

/* --channel joins the agent guest's port to a socket the test listens on; a malformed one is a usage
 * error and one nobody listens on a setup error. */
static void
test_channel (void)
{
  g_autofree char *kernel = guest ("agent");
  g_autofree char *dir = g_dir_make_tmp ("vireo-run-XXXXXX", NULL);
  g_autofree char *path = g_build_filename (dir, "qga.sock", NULL);
  g_autofree char *channel = g_strconcat (HV_AGENT_PORT "=unix:", path, NULL);
  g_autofree char *out = NULL;
  g_autoptr (GSubprocess) proc = NULL;
  g_autoptr (GError) error = NULL;
  struct sockaddr_un addr = { .sun_family = AF_UNIX };
  const char *freeze, *thaw;
  int listener, fd;

  if (!vireo_test_require_kvm ())
    return;
  {
    const char *bad[] = { "--kernel", kernel, "--channel", "no-equals", NULL };
    VireoTestRun r = vireo_test_run_vireo_run (NULL, bad);
    g_assert_cmpint (r.status, ==, 2);
    vireo_test_run_clear (&r);
  }
  {
    const char *args[] = { "--kernel", kernel, "--channel", channel, NULL };
    VireoTestRun r = vireo_test_run_vireo_run (NULL, args);
    g_assert_cmpint (r.status, ==, 1);
    g_assert_nonnull (strstr (r.err, "cannot connect"));
    vireo_test_run_clear (&r);
  }

  listener = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  g_strlcpy (addr.sun_path, path, sizeof addr.sun_path);
  g_assert_no_errno (bind (listener, (struct sockaddr *) &addr, sizeof addr));
  g_assert_no_errno (listen (listener, 1));
  proc = g_subprocess_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_SILENCE, &error,
                           vireo_test_vireo_run (), "--kernel", kernel, "--channel", channel, NULL);
  g_assert_no_error (error);
  fd = accept4 (listener, NULL, NULL, SOCK_CLOEXEC);
  g_assert_cmpint (fd, >=, 0);
  g_assert_cmpint (channel_command (fd, "guest-fsfreeze-freeze"), ==, 1);
  g_assert_cmpint (channel_command (fd, "guest-fsfreeze-thaw"), ==, 1);
  g_assert_cmpint (write (fd, "{\"execute\":\"guest-shutdown\"}\n", 30), ==, 30);
  g_assert_true (g_subprocess_communicate_utf8 (proc, NULL, NULL, &out, NULL, &error));
  g_assert_no_error (error);
  g_assert_cmpint (exit_status_of (proc), ==, STATUS_POWER_OFF);
  freeze = strstr (out, "agent: freeze");
  thaw = strstr (out, "agent: thaw");
  g_assert_nonnull (freeze);
  g_assert_nonnull (thaw);
  g_assert_true (freeze < thaw);
  close (fd);
  close (listener);
  unlink (path);
  rmdir (dir);
}

static void
test_stdin_reaches_guest (void)
{
  g_autofree char *out = NULL;
  g_autofree char *err = NULL;

  if (!vireo_test_require_kvm ())
    return;
  g_assert_cmpint (run_interactive ("echo", "echo ready", "typed into the serial port\nq", 0, &out, &err), ==,
                   STATUS_POWER_OFF);
  g_assert_nonnull (strstr (out, "typed into the serial port"));
  g_assert_nonnull (strstr (out, "echo done"));
}

static void
test_demo_guest (void)
{
  g_autofree char *out = NULL;
  g_autofree char *err = NULL;

  if (!vireo_test_require_kvm ())
    return;
  /* The README's main job: the banner, a command, and a clean power-off. */
  g_assert_cmpint (
      run_interactive ("demo", "Type help", "primes 1000000\recho hello demo\roff\r", 0, &out, &err), ==,
      STATUS_POWER_OFF);
  g_assert_nonnull (strstr (out, "Vireo demo guest"));
  g_assert_nonnull (strstr (out, "CPUs          1 (from the ACPI MADT)"));
  g_assert_nonnull (strstr (out, "78498 primes below 1000000"));
  g_assert_nonnull (strstr (out, "hello demo"));
  g_assert_nonnull (strstr (out, "Powering off."));
}

static void
test_demo_power_button (void)
{
  g_autofree char *out = NULL;
  g_autofree char *err = NULL;

  if (!vireo_test_require_kvm ())
    return;
  g_assert_cmpint (run_interactive ("demo", "Type help", NULL, 1, &out, &err), ==, STATUS_POWER_OFF);
  g_assert_nonnull (strstr (out, "Power button pressed: shutting down."));
}

static void
test_sigterm_presses_power_button (void)
{
  g_autofree char *out = NULL;
  g_autofree char *err = NULL;
  if (!vireo_test_require_kvm ())
    return;
  g_assert_cmpint (run_interactive ("shutdown", "waiting for power button", NULL, 1, &out, &err), ==,
                   STATUS_POWER_OFF);
  g_assert_nonnull (strstr (out, "power button pressed"));
  g_assert_nonnull (strstr (err, "power button"));
}

static void
test_second_sigterm_stops (void)
{
  g_autofree char *out = NULL;
  g_autofree char *err = NULL;
  if (!vireo_test_require_kvm ())
    return;
  /* The echo guest ignores the power button; the second signal ends it. */
  g_assert_cmpint (run_interactive ("echo", "echo ready", NULL, 2, &out, &err), ==, STATUS_STOPPED);
  g_assert_nonnull (strstr (err, "stopped"));
}

static void
test_usage_errors (void)
{
  g_autofree char *kernel = guest ("hello");
  static const struct
  {
    const char *args[6];
    const char *message;
  } cases[] = {
    { { "--kernel", "K", "--firmware", "K", NULL }, "not both" },
    { { "--initrd", "K", NULL }, "need --kernel" },
    { { "--kernel", "K", "--memory", "1M", NULL }, "minimum is 32 MiB" },
    { { "--kernel", "K", "--memory", "lots", NULL }, "not a memory size" },
    { { "--kernel", "K", "--memory", "100T", NULL }, "more than this host has" },
    { { "--kernel", "K", "--cpus", "0", NULL }, "out of range" },
    { { "--kernel", "K", "--cpus", "65", NULL }, "out of range" },
    { { "--kernel", "K", "--cpus", "-3", NULL }, "out of range" },
    { { "--kernel", "K", "--cpus", "two", NULL }, "two" },
    { { "--kernel", "K", "--cpuid-mask", "-warpdrive", NULL }, "warpdrive" },
    { { "--kernel", "K", "--cpuid-mask", "cx16", NULL }, "cx16" },
    { { "--kernel", "K", "--serial", "telnet:1", NULL }, "telnet:1" },
    { { "--kernel", "K", "--frobnicate", NULL }, "frobnicate" },
    { { "--kernel", "K", "extra", NULL }, "extra" },
    { { "--kernel", "K", "--device", "floppy", NULL }, "the kinds are: serial" },
    { { "--kernel", "K", "--device", "serial,speed=9600", NULL }, "no option “speed”" },
    { { "--kernel", "K", "--device", "serial", "--device", "serial" }, "at most 2 devices of kind “serial”" },
    { { "--kernel", "K", "--device", "virtio-tablet,id=kbc0", NULL }, "belongs to the machine's i8042" },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      const char *args[7];
      Result r;
      for (gsize j = 0; j < G_N_ELEMENTS (args); j++)
        {
          const char *a = j < G_N_ELEMENTS (cases[i].args) ? cases[i].args[j] : NULL;
          args[j] = a && g_str_equal (a, "K") ? kernel : a;
          if (a == NULL)
            break;
        }
      r = run_vireo (NULL, args);
      g_assert_cmpint (r.status, ==, STATUS_USAGE);
      assert_one_line_error (&r, cases[i].message);
      result_clear (&r);
    }
}

static char *
write_temp (const char *name, const void *data, gsize len)
{
  g_autofree char *dir = g_dir_make_tmp ("vireo-run-XXXXXX", NULL);
  char *path = g_build_filename (dir, name, NULL);
  g_assert_true (g_file_set_contents (path, data, (gssize) len, NULL));
  return path;
}

static void
test_file_errors (void)
{
  static const uint8_t gzip[] = { 0x1f, 0x8b, 0x08, 0x00, 0, 0, 0, 0, 0, 3, 1, 2, 3, 4 };
  static const char script[] = "#!/bin/sh\necho not a kernel\n";
  g_autofree char *hello = guest ("hello");
  g_autofree char *gz = write_temp ("kernel.gz", gzip, sizeof gzip);
  g_autofree char *sh = write_temp ("kernel.sh", script, sizeof script - 1);
  g_autofree char *empty = write_temp ("empty", "", 0);
  g_autofree char *tmpdir = g_path_get_dirname (empty);
  const struct
  {
    const char *args[8];
    const char *message;
  } cases[] = {
    { { "--kernel", "/nonexistent/vmlinux", NULL }, "No such file" },
    { { "--kernel", tmpdir, NULL }, "is a directory" },
    { { "--kernel", gz, NULL }, "gzip" },
    { { "--kernel", sh, NULL }, "script" },
    { { "--kernel", empty, NULL }, "empty" },
    { { "--kernel", hello, "--initrd", "/nonexistent/initrd", NULL }, "initrd" },
  };

  if (!vireo_test_require_kvm ())
    return;
  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      Result r = run_vireo (NULL, cases[i].args);
      g_assert_cmpint (r.status, ==, STATUS_SETUP_ERROR);
      assert_one_line_error (&r, cases[i].message);
      result_clear (&r);
    }
  unlink (gz);
  unlink (sh);
  unlink (empty);
}

static void
test_initrd_too_large (void)
{
  g_autofree char *hello = guest ("hello");
  g_autofree char *dir = g_dir_make_tmp ("vireo-run-XXXXXX", NULL);
  g_autofree char *initrd = g_build_filename (dir, "big.img", NULL);
  Result r;
  FILE *f;

  if (!vireo_test_require_kvm ())
    return;
  /* A sparse 40 MiB file cannot fit next to the kernel in 32 MiB. */
  f = fopen (initrd, "w");
  g_assert_nonnull (f);
  g_assert_cmpint (fseek (f, (40 << 20) - 1, SEEK_SET), ==, 0);
  fputc (0, f);
  fclose (f);
  r = run_vireo (NULL,
                 (const char *const[]){ "--kernel", hello, "--initrd", initrd, "--memory", "32M", NULL });
  g_assert_cmpint (r.status, ==, STATUS_SETUP_ERROR);
  assert_one_line_error (&r, "MiB");
  unlink (initrd);
  rmdir (dir);
  result_clear (&r);
}

static void
test_no_kvm_device (void)
{
  g_autofree char *hello = guest ("hello");
  g_autoptr (GSubprocessLauncher) launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE
                                                                        | G_SUBPROCESS_FLAGS_STDERR_PIPE);
  g_autoptr (GSubprocess) proc = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *out = NULL;
  g_autofree char *err = NULL;

  g_subprocess_launcher_setenv (launcher, "VIREO_KVM_DEVICE", "/nonexistent/kvm", TRUE);
  proc = g_subprocess_launcher_spawn (launcher, &error, vireo_test_vireo_run (), "--kernel", hello, NULL);
  g_assert_no_error (error);
  g_assert_true (g_subprocess_communicate_utf8 (proc, NULL, NULL, &out, &err, &error));
  g_assert_cmpint (exit_status_of (proc), ==, STATUS_SETUP_ERROR);
  g_assert_true (g_str_has_prefix (err, "vireo-run: /nonexistent/kvm does not exist"));
  g_assert_cmpstr (out, ==, "");
}

static void
drop_to_nobody (gpointer data)
{
  struct passwd *nobody = data;
  if (setgroups (0, NULL) < 0 || setgid (nobody->pw_gid) < 0 || setuid (nobody->pw_uid) < 0)
    _exit (99);
}

static void
test_kvm_permission_denied (void)
{
  g_autofree char *hello = guest ("hello");
  g_autoptr (GSubprocessLauncher) launcher = NULL;
  g_autoptr (GSubprocess) proc = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *out = NULL;
  g_autofree char *err = NULL;
  struct passwd *nobody = getpwnam ("nobody");

  if (getuid () != 0 || nobody == NULL)
    {
      g_test_skip ("needs root to run vireo-run as “nobody”, who may not open /dev/kvm");
      return;
    }
  if (access ("/dev/kvm", F_OK) < 0)
    {
      g_test_skip ("needs /dev/kvm to exist");
      return;
    }
  if (!vireo_test_user_can_run (nobody->pw_uid, nobody->pw_gid, vireo_test_vireo_run (), NULL))
    return;
  launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_PIPE);
  g_subprocess_launcher_set_child_setup (launcher, drop_to_nobody, nobody, NULL);
  /* /dev/null is as good a kernel as any: the device check comes first. */
  proc = g_subprocess_launcher_spawn (launcher, &error, vireo_test_vireo_run (), "--kernel", "/dev/null",
                                      NULL);
  g_assert_no_error (error);
  g_assert_true (g_subprocess_communicate_utf8 (proc, NULL, NULL, &out, &err, &error));
  g_assert_cmpint (exit_status_of (proc), !=, 99);
  g_assert_cmpint (exit_status_of (proc), ==, STATUS_SETUP_ERROR);
  g_assert_nonnull (strstr (err, "permission denied on /dev/kvm"));
  g_assert_nonnull (strstr (err, "kvm” group"));
}

static void
test_help (void)
{
  Result r = run_vireo (NULL, (const char *const[]){ "--help", NULL });
  g_assert_cmpint (r.status, ==, 0);
  g_assert_nonnull (strstr (r.out, "--kernel"));
  g_assert_nonnull (strstr (r.out, "--cpuid-mask"));
  g_assert_nonnull (strstr (r.out, "Exit status"));
  result_clear (&r);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/vireo-run/help", test_help);
  g_test_add_func ("/vireo-run/hello", test_hello);
  g_test_add_func ("/vireo-run/devices", test_devices);
  g_test_add_func ("/vireo-run/boot-info-options", test_boot_info_options);
  g_test_add_func ("/vireo-run/exit-statuses", test_exit_statuses);
  g_test_add_func ("/vireo-run/stdin-reaches-guest", test_stdin_reaches_guest);
  g_test_add_func ("/vireo-run/serial-file", test_serial_file);
  g_test_add_func ("/vireo-run/serial-unix", test_serial_unix);
  g_test_add_func ("/vireo-run/channel", test_channel);
  g_test_add_func ("/vireo-run/demo-guest", test_demo_guest);
  g_test_add_func ("/vireo-run/demo-power-button", test_demo_power_button);
  g_test_add_func ("/vireo-run/sigterm-presses-power-button", test_sigterm_presses_power_button);
  g_test_add_func ("/vireo-run/second-sigterm-stops", test_second_sigterm_stops);
  g_test_add_func ("/vireo-run/usage-errors", test_usage_errors);
  g_test_add_func ("/vireo-run/file-errors", test_file_errors);
  g_test_add_func ("/vireo-run/initrd-too-large", test_initrd_too_large);
  g_test_add_func ("/vireo-run/no-kvm-device", test_no_kvm_device);
  g_test_add_func ("/vireo-run/kvm-permission-denied", test_kvm_permission_denied);
  return g_test_run ();
}
