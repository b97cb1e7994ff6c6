/* test-net.c — networking end to end: vireo-run --net boots net-probe, which gets its address by DHCP
 * from the NAT (the VM learns it too), fetches a file from the NAT's TFTP server and echoes UDP datagrams
 * the test sends through a port forward on 127.0.0.1; MACs, a taken port and bad --net options; the
 * network benchmark's guest (net-bench) echoes and sends its bursts whole.  Every NAT machine runs
 * restricted: nothing leaves this host.  Bridged (root): in a network namespace of its own with a
 * bridge, vireo-run --net bridge= puts net-probe on it, the kernel's ping gets answers and datagrams go
 * both ways. */
#include "test-util.h"

#include <gio/gio.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

enum
{
  STATUS_POWER_OFF = 0,
  STATUS_SETUP_ERROR = 1,
  STATUS_USAGE = 2,
};

/* A UDP port on 127.0.0.1 that was free a moment ago, and the socket that held it (closed). */
static uint16_t
free_udp_port (void)
{
  struct sockaddr_in addr = { .sin_family = AF_INET, .sin_addr.s_addr = htonl (INADDR_LOOPBACK) };
  socklen_t len = sizeof addr;
  int fd = socket (AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

  g_assert_cmpint (fd, >=, 0);
  g_assert_cmpint (bind (fd, (struct sockaddr *) &addr, sizeof addr), ==, 0);
  g_assert_cmpint (getsockname (fd, (struct sockaddr *) &addr, &len), ==, 0);
  close (fd);
  return ntohs (addr.sin_port);
}

typedef struct
{
  GSubprocess *proc;
  GDataInputStream *lines;
  GString *seen;
} Run;

/* vireo-run dies with the test's process (and with it a namespace it made): a failed assertion leaves
 * no guest running on. */
static void
die_with_parent (gpointer data)
{
  prctl (PR_SET_PDEATHSIG, SIGKILL);
}

/* vireo-run --kernel @guest.elf @args (NULL-terminated) with @flags. */
static GSubprocess *
spawn_guest (const char *guest, const char *const *args, GSubprocessFlags flags)
{
  g_autofree char *kernel = vireo_test_guest_path (guest);
  g_autoptr (GPtrArray) argv = g_ptr_array_new ();
  g_autoptr (GSubprocessLauncher) launcher = g_subprocess_launcher_new (flags);
  g_autoptr (GError) error = NULL;
  GSubprocess *proc;

  g_ptr_array_add (argv, (char *) vireo_test_vireo_run ());
  g_ptr_array_add (argv, (char *) "--kernel");
  g_ptr_array_add (argv, kernel);
  for (gsize i = 0; args[i]; i++)
    g_ptr_array_add (argv, (char *) args[i]);
  g_ptr_array_add (argv, NULL);
  g_subprocess_launcher_set_child_setup (launcher, die_with_parent, NULL, NULL);
  proc = g_subprocess_launcher_spawnv (launcher, (const char *const *) argv->pdata, &error);
  g_assert_no_error (error);
  return proc;
}

/* vireo-run --kernel net-probe.elf @args (NULL-terminated) with @flags. */
static GSubprocess *
spawn_vireo_run (const char *const *args, GSubprocessFlags flags)
{
  return spawn_guest ("net-probe", args, flags);
}

/* Starts vireo-run with @guest and @args (NULL-terminated), stdout piped. */
static gboolean
run_start_guest (Run *run, const char *guest, const char *const *args)
{
  if (!vireo_test_require_kvm ())
    return FALSE;
  run->proc = spawn_guest (guest, args, G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_MERGE);
  run->lines = g_data_input_stream_new (g_subprocess_get_stdout_pipe (run->proc));
  run->seen = g_string_new (NULL);
  return TRUE;
}

/* Starts vireo-run with net-probe and @args (NULL-terminated), stdout piped. */
static gboolean
run_start (Run *run, const char *const *args)
{
  return run_start_guest (run, "net-probe", args);
}

/* The first line of the output starting with @prefix (NULL at the end of the output). */
static char *
run_wait_line (Run *run, const char *prefix)
{
  char *line;

  while ((line = g_data_input_stream_read_line (run->lines, NULL, NULL, NULL)) != NULL)
    {
      g_string_append_printf (run->seen, "%s\n", line);
      if (g_str_has_prefix (line, prefix))
        return line;
      g_free (line);
    }
  g_test_message ("output: %s", run->seen->str);
  return NULL;
}

/* Presses the power button (SIGTERM) and returns the exit status; the rest of the output is kept. */
static int
run_finish (Run *run)
{
  g_autoptr (GError) error = NULL;
  char *line;
  int status;

  g_subprocess_send_signal (run->proc, SIGTERM);
  while ((line = g_data_input_stream_read_line (run->lines, NULL, NULL, NULL)) != NULL)
    {
      g_string_append_printf (run->seen, "%s\n", line);
      g_free (line);
    }
  g_assert_true (g_subprocess_wait (run->proc, NULL, &error));
  g_assert_no_error (error);
  g_test_message ("output: %s", run->seen->str);
  g_assert_true (g_subprocess_get_if_exited (run->proc));
  status = g_subprocess_get_exit_status (run->proc);
  g_clear_object (&run->lines);
  g_clear_object (&run->proc);
  return status;
}

static void
run_clear (Run *run)
{
  if (run->seen)
    g_string_free (run->seen, TRUE);
}

/* Sends @len bytes to 127.0.0.1:@port and waits for them to come back, sending again a few times (the
 * first datagram may wait in the NAT for the guest's ARP answer). */
static void
assert_echoed (int fd, uint16_t port, const uint8_t *data, gsize len)
{
  struct sockaddr_in to = { .sin_family = AF_INET,
                            .sin_port = htons (port),
                            .sin_addr.s_addr = htonl (INADDR_LOOPBACK) };
  g_autofree uint8_t *reply = g_malloc (len + 1);

  for (int attempt = 0; attempt < 5; attempt++)
    {
      GPollFD pfd = { .fd = fd, .events = G_IO_IN };
      ssize_t n;

      g_assert_cmpint (sendto (fd, data, len, 0, (struct sockaddr *) &to, sizeof to), ==, (gssize) len);
      if (g_poll (&pfd, 1, 3000) != 1)
        continue;
      n = recv (fd, reply, len + 1, 0);
      g_assert_cmpint (n, ==, (gssize) len);
      g_assert_cmpmem (reply, len, data, len);
      return;
    }
  g_error ("no echo of %" G_GSIZE_FORMAT " bytes through 127.0.0.1:%u", len, port);
}

static void
test_dhcp_and_udp_echo (void)
{
  uint16_t port = free_udp_port ();
  g_autofree char *net = g_strdup_printf ("user,restrict=on,hostfwd=udp:127.0.0.1:%u-:7", port);
  const char *args[] = { "--net", net, NULL };
  const gsize sizes[] = { 1, 64, 512, 1400, 1472 };
  g_autofree char *line = NULL;
  Run run = { 0 };
  int fd;

  if (!run_start (&run, args))
    return;
  line = run_wait_line (&run, "net-probe ip=");
  g_assert_cmpstr (line, ==, "net-probe ip=10.0.2.15 gw=10.0.2.2");

  fd = socket (AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  g_assert_cmpint (fd, >=, 0);
  for (gsize i = 0; i < G_N_ELEMENTS (sizes); i++)
    {
      g_autofree uint8_t *data = g_malloc (sizes[i]);
      for (gsize j = 0; j < sizes[i]; j++)
        data[j] = (uint8_t) (i * 31 + j);
      assert_echoed (fd, port, data, sizes[i]);
    }
  close (fd);

  g_assert_cmpint (run_finish (&run), ==, STATUS_POWER_OFF);
  g_assert_nonnull (strstr (run.seen->str, "net-probe mac=52:54:00:12:34:56\n"));
  g_assert_nonnull (strstr (run.seen->str, "net-probe done\n"));
  run_clear (&run);
}

static void
test_mac (void)
{
  const char *args[] = { "--net", "user,restrict=on", "--mac", "52:54:00:ab:cd:ef", NULL };
  g_autofree char *line = NULL;
  g_autofree char *ip = NULL;
  Run run = { 0 };

  if (!run_start (&run, args))
    return;
  line = run_wait_line (&run, "net-probe mac=");
  g_assert_cmpstr (line, ==, "net-probe mac=52:54:00:ab:cd:ef");
  /* The button is looked at once the guest has its address. */
  ip = run_wait_line (&run, "net-probe ip=");
  g_assert_nonnull (ip);
  g_assert_cmpint (run_finish (&run), ==, STATUS_POWER_OFF);
  run_clear (&run);
}

/* Runs vireo-run with @args to its end; its status, with stderr in @err. */
static int
run_to_end (const char *const *args, char **err)
{
  g_autoptr (GSubprocess) proc = spawn_vireo_run (args, G_SUBPROCESS_FLAGS_STDOUT_SILENCE
                                                            | G_SUBPROCESS_FLAGS_STDERR_PIPE);
  g_autoptr (GError) error = NULL;

  g_assert_true (g_subprocess_communicate_utf8 (proc, NULL, NULL, NULL, err, &error));
  g_assert_no_error (error);
  g_test_message ("stderr: %s", *err);
  g_assert_true (g_subprocess_get_if_exited (proc));
  return g_subprocess_get_exit_status (proc);
}

static void
test_usage_errors (void)
{
  const struct
  {
    const char *args[8];
    const char *expect;
  } cases[] = {
    { { "--net", "tap", NULL }, "“tap” is not a network" },
    { { "--net", "user,restrict=maybe", NULL }, "restrict=on|off" },
    { { "--net", "user,speed=10", NULL }, "“speed=10” is not" },
    { { "--net", "user,hostfwd=sctp::22-:22", NULL },
      "the option “hostfwd”: the forward “sctp::22-:22” does not start with tcp: or udp:" },
    { { "--net", "user,hostfwd=tcp::2222:22", NULL }, "“tcp::2222:22” is not tcp|udp:" },
    { { "--net", "user,hostfwd=tcp::70000-:22", NULL },
      "“70000” in the forward “tcp::70000-:22” is not a host port" },
    { { "--net", "user,hostfwd=tcp:localhost:22-:22", NULL }, "“localhost” in the forward" },
    { { "--net", "user,hostfwd=udp::5000-:7,hostfwd=udp::5000-:8", NULL }, "already forwarded" },
    { { "--net", "user,mac=52:54:00:12:34", NULL },
      "the option “mac”: “52:54:00:12:34” is not a MAC address" },
    { { "--net", "user", "--mac", "01:00:5e:00:00:01", NULL }, "is a multicast address" },
    { { "--net", "user", "--mac", "52:54:00:00:00:01", "--mac", "52:54:00:00:00:02", NULL },
      "more --mac than --net" },
    { { "--net", "user,link=maybe", NULL }, "link=on|off" },
    { { "--net", "bridge=br0,hostfwd=udp::5000-:7", NULL }, "a bridge has no NAT options" },
    { { "--net", "bridge=", NULL }, "“bridge=” is not a network" },
    { { "--net", "tap=x", NULL }, "“x” is not an open file descriptor" },
    { { "--net", "tap=999", NULL }, "“999” is not an open file descriptor" },
    { { "--net", "tap=2,999", NULL }, "“999” is not an open file descriptor" },
    /* The NAT is one thread: one pair. */
    { { "--net", "user,queues=2", NULL }, "the NAT (user) has one queue pair, not queues=2" },
    { { "--net", "bridge=br0,queues=9", NULL }, "“queues=9” is not queues=1..8" },
    { { "--net", "bridge=br0,queues=0", NULL }, "“queues=0” is not queues=1..8" },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *err = NULL;
      g_auto (GStrv) lines = NULL;

      g_assert_cmpint (run_to_end (cases[i].args, &err), ==, STATUS_USAGE);
      g_assert_nonnull (strstr (err, cases[i].expect));
      /* One line, naming the option. */
      lines = g_strsplit (g_strchomp (err), "\n", -1);
      g_assert_cmpuint (g_strv_length (lines), ==, 1);
      g_assert_true (strstr (err, "--net") || strstr (err, "--mac") || strstr (err, "option"));
    }
}

static void
test_tftp_dir_missing (void)
{
  const char *args[] = { "--net", "user,tftp=/nonexistent/vireo-tftp", NULL };
  g_autofree char *err = NULL;

  g_assert_cmpint (run_to_end (args, &err), ==, STATUS_SETUP_ERROR);
  g_assert_nonnull (strstr (err, "--net: cannot open the TFTP directory /nonexistent/vireo-tftp"));
}

/* A bridge that is not there: one line naming it, a setup error. */
static void
test_bridge_missing (void)
{
  const char *args[] = { "--net", "bridge=vireo-nobr0", NULL };
  g_autofree char *err = NULL;

  g_assert_cmpint (run_to_end (args, &err), ==, STATUS_SETUP_ERROR);
  g_assert_cmpstr (err, ==, "vireo-run: --net: there is no bridge “vireo-nobr0”\n");
}

/* net-probe fetches a file from the NAT's TFTP server (the directory given with tftp=) and prints its
 * size and SHA-256: several blocks and a short last one. */
static void
test_tftp (void)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *dir = g_dir_make_tmp ("vireo-tftp-XXXXXX", &error);
  g_autofree char *file = g_build_filename (dir, "blob.bin", NULL);
  g_autofree char *net = g_strconcat ("user,restrict=on,tftp=", dir, NULL);
  g_autofree uint8_t *data = g_malloc (5000);
  g_autofree char *sha = NULL;
  g_autofree char *expect = NULL;
  g_autofree char *line = NULL;
  const char *args[] = { "--net", net, "--cmdline", "tftp=blob.bin", NULL };
  Run run = { 0 };

  g_assert_no_error (error);
  for (gsize i = 0; i < 5000; i++)
    data[i] = (uint8_t) (i * 7 + i / 256);
  g_assert_true (g_file_set_contents (file, (const char *) data, 5000, &error));
  sha = g_compute_checksum_for_data (G_CHECKSUM_SHA256, data, 5000);
  expect = g_strdup_printf ("net-probe tftp blob.bin bytes=5000 sha256=%s", sha);
  if (run_start (&run, args))
    {
      line = run_wait_line (&run, "net-probe tftp");
      g_assert_cmpstr (line, ==, expect);
      g_assert_cmpint (run_finish (&run), ==, STATUS_POWER_OFF);
      run_clear (&run);
    }
  vireo_test_remove_tree (dir);
}

/* A program run to its end in the test's namespace; its exit status, output in @out. */
static int
run_program (const char *const *argv, char **out)
{
  g_autoptr (GError) error = NULL;
  int status;

  g_assert_true (g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_SEARCH_PATH | G_SPAWN_STDERR_TO_DEV_NULL,
                               NULL, NULL, out, NULL, &status, &error));
  g_assert_no_error (error);
  return g_spawn_check_wait_status (status, NULL) ? 0 : 1;
}

static int
udp_socket_on (const char *address, uint16_t port)
{
  struct sockaddr_in addr = { .sin_family = AF_INET, .sin_port = htons (port) };
  int fd = socket (AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

  g_assert_cmpint (fd, >=, 0);
  g_assert_cmpint (inet_pton (AF_INET, address, &addr.sin_addr), ==, 1);
  g_assert_no_errno (bind (fd, (struct sockaddr *) &addr, sizeof addr));
  return fd;
}

/* The bridged machine, in a subprocess that has a network namespace of its own (gone when it ends,
 * whatever happens): a bridge with 10.77.0.1/24, net-probe on it as 10.77.0.2. */
static void
bridged_in_namespace (void)
{
  static const char *const setup[][8] = {
    { "ip", "link", "set", "lo", "up", NULL },
    { "ip", "link", "add", "br0", "type", "bridge", NULL },
    { "ip", "addr", "add", "10.77.0.1/24", "dev", "br0", NULL },
    { "ip", "link", "set", "br0", "up", NULL },
  };
  const char *ping[] = { "ping", "-c", "3", "-i", "0.2", "-W", "5", "10.77.0.2", NULL };
  const gsize sizes[] = { 1, 64, 512, 1400, 1472 };
  struct sockaddr_in guest = { .sin_family = AF_INET, .sin_port = htons (7) };
  g_autoptr (GSubprocessLauncher) launcher = NULL;
  g_autofree char *kernel = vireo_test_guest_path ("net-probe");
  g_autoptr (GError) error = NULL;
  g_autofree char *line = NULL;
  g_autofree char *out = NULL;
  uint8_t buf[2048], data[1472];
  Run run = { 0 };
  GPollFD pfd;
  int fd;

  g_assert_no_errno (unshare (CLONE_NEWNET));
  for (gsize i = 0; i < G_N_ELEMENTS (setup); i++)
    g_assert_cmpint (run_program (setup[i], NULL), ==, 0);
  /* Without CAP_NET_ADMIN: one line saying so. */
  {
    const char *argv[] = {
      "setpriv",  "--reuid=65534", "--regid=65534", "--clear-groups", vireo_test_vireo_run (),
      "--kernel", kernel,          "--net",         "bridge=br0",     NULL
    };
    g_autofree char *err = NULL;
    int status;

    g_assert_true (g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_SEARCH_PATH | G_SPAWN_STDOUT_TO_DEV_NULL,
                                 NULL, NULL, NULL, &err, &status, &error));
    g_assert_no_error (error);
    g_assert_true (WIFEXITED (status));
    g_assert_cmpint (WEXITSTATUS (status), ==, STATUS_SETUP_ERROR);
    g_assert_true (
        g_str_has_prefix (err, "vireo-run: --net: cannot attach a TAP device to the bridge br0: "));
    g_assert_nonnull (strstr (err, "(bridged networking needs root or CAP_NET_ADMIN)\n"));
    g_assert_cmpuint (strchr (err, '\n') - err + 1, ==, strlen (err));
  }
  /* Bound before the guest starts: it says hello once, as soon as it has its address. */
  fd = udp_socket_on ("10.77.0.1", 7);

  launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_MERGE);
  g_subprocess_launcher_set_child_setup (launcher, die_with_parent, NULL, NULL);
  run.proc = g_subprocess_launcher_spawn (launcher, &error, vireo_test_vireo_run (), "--kernel", kernel,
                                          "--cmdline", "ip=10.77.0.2/24 send=10.77.0.1", "--net",
                                          "bridge=br0", NULL);
  g_assert_no_error (error);
  run.lines = g_data_input_stream_new (g_subprocess_get_stdout_pipe (run.proc));
  run.seen = g_string_new (NULL);
  line = run_wait_line (&run, "net-probe ip=");
  g_assert_cmpstr (line, ==, "net-probe ip=10.77.0.2 gw=0.0.0.0");

  /* The guest's own datagram reaches a socket here. */
  pfd = (GPollFD){ .fd = fd, .events = G_IO_IN };
  g_assert_cmpint (g_poll (&pfd, 1, 10000), ==, 1);
  g_assert_cmpint (recv (fd, buf, sizeof buf, 0), ==, strlen ("net-probe hello"));
  g_assert_cmpmem (buf, strlen ("net-probe hello"), "net-probe hello", strlen ("net-probe hello"));

  /* The kernel's ping: ARP, then ICMP echo, answered every time. */
  g_assert_cmpint (run_program (ping, &out), ==, 0);
  g_print ("%s", out); /* for the parent's check */
  g_assert_nonnull (strstr (out, "3 packets transmitted, 3 received"));

  /* Echoes of every size up to a full frame. */
  g_assert_cmpint (inet_pton (AF_INET, "10.77.0.2", &guest.sin_addr), ==, 1);
  for (gsize k = 0; k < G_N_ELEMENTS (sizes); k++)
    {
      gsize size = sizes[k];

      for (gsize i = 0; i < size; i++)
        data[i] = (uint8_t) (size + i);
      g_assert_cmpint (sendto (fd, data, size, 0, (struct sockaddr *) &guest, sizeof guest), ==,
                       (gssize) size);
      g_assert_cmpint (g_poll (&pfd, 1, 5000), ==, 1);
      g_assert_cmpint (recv (fd, buf, sizeof buf, 0), ==, (gssize) size);
      g_assert_cmpmem (buf, size, data, size);
    }
  close (fd);
  g_assert_cmpint (run_finish (&run), ==, STATUS_POWER_OFF);
  run_clear (&run);

  /* Two queue pairs on a multiqueue TAP, with a driver that uses one (net-probe's takes no MQ): the
   * kernel sends nothing to the second pair's queue, which is detached, so ping gets every answer. */
  run = (Run){ 0 };
  run.proc = g_subprocess_launcher_spawn (launcher, &error, vireo_test_vireo_run (), "--kernel", kernel,
                                          "--cmdline", "ip=10.77.0.2/24", "--net", "bridge=br0,queues=2",
                                          NULL);
  g_assert_no_error (error);
  run.lines = g_data_input_stream_new (g_subprocess_get_stdout_pipe (run.proc));
  run.seen = g_string_new (NULL);
  g_clear_pointer (&line, g_free);
  line = run_wait_line (&run, "net-probe ip=");
  g_assert_cmpstr (line, ==, "net-probe ip=10.77.0.2 gw=0.0.0.0");
  g_clear_pointer (&out, g_free);
  g_assert_cmpint (run_program (ping, &out), ==, 0);
  g_print ("queues=2: %s", out);
  g_assert_nonnull (strstr (out, "3 packets transmitted, 3 received"));
  g_assert_cmpint (run_finish (&run), ==, STATUS_POWER_OFF);
  run_clear (&run);
}

static void
test_bridged (void)
{
  g_autofree char *ip = NULL;
  g_autofree char *ping = NULL;

  if (g_test_subprocess ())
    {
      bridged_in_namespace ();
      return;
    }
  if (!vireo_test_require_kvm ())
    return;
  if (geteuid () != 0)
    {
      g_test_skip ("bridged networking needs root (a network namespace, a bridge and a TAP)");
      return;
    }
  ip = g_find_program_in_path ("ip");
  ping = g_find_program_in_path ("ping");
  if (ip == NULL || ping == NULL)
    {
      g_test_skip ("bridged networking's test needs ip (iproute2) and ping (iputils-ping)");
      return;
    }
  g_test_trap_subprocess (NULL, 120 * G_USEC_PER_SEC, G_TEST_SUBPROCESS_INHERIT_STDERR);
  g_test_trap_assert_passed ();
  /* The subprocess ran the machine (it did not skip). */
  g_test_trap_assert_stdout (
      "*3 packets transmitted, 3 received*queues=2: *3 packets transmitted, 3 received*");
}

static void
test_port_taken (void)
{
  struct sockaddr_in addr = { .sin_family = AF_INET, .sin_addr.s_addr = htonl (INADDR_LOOPBACK) };
  socklen_t len = sizeof addr;
  g_autofree char *net = NULL;
  g_autofree char *err = NULL;
  g_autofree char *expect = NULL;
  const char *args[] = { "--net", NULL, NULL };
  int fd;

  if (!vireo_test_require_kvm ())
    return;
  fd = socket (AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  g_assert_cmpint (bind (fd, (struct sockaddr *) &addr, sizeof addr), ==, 0);
  g_assert_cmpint (getsockname (fd, (struct sockaddr *) &addr, &len), ==, 0);
  net = g_strdup_printf ("user,restrict=on,hostfwd=udp::%u-:7", ntohs (addr.sin_port));
  args[1] = net;
  g_assert_cmpint (run_to_end (args, &err), ==, STATUS_SETUP_ERROR);
  expect = g_strdup_printf ("cannot forward udp 127.0.0.1:%u to the guest", ntohs (addr.sin_port));
  g_assert_nonnull (strstr (err, expect));
  close (fd);
}

/* A machine like vireo-run's for net-probe with one restricted NIC forwarding 127.0.0.1:@port to the
 * guest's echo port, through the library; restored from @restore_dir_fd when it is not -1. */
static void
net_guest_start (VireoTestGuest *guest, uint16_t port, int restore_dir_fd)
{
  g_autoptr (HvMachineSpec) spec = hv_machine_spec_new ();
  g_autofree char *kernel = vireo_test_guest_path ("net-probe");
  g_autofree char *hostfwd = g_strdup_printf ("udp:127.0.0.1:%u-:7", port);
  g_autoptr (GError) error = NULL;
  GVariantDict options;

  vireo_test_guest_init (guest, 64ull << 20, 1);
  spec->memory = 64ull << 20;
  spec->kernel = hv_machine_spec_add_fd (spec, open (kernel, O_RDONLY | O_CLOEXEC));
  hv_machine_spec_add_device (spec, "serial", "serial0", NULL);
  g_variant_dict_init (&options, NULL);
  g_variant_dict_insert (&options, "restrict", "b", TRUE);
  g_variant_dict_insert (&options, "hostfwd", "s", hostfwd);
  hv_machine_spec_add_device (spec, "virtio-net", "net0", g_variant_dict_end (&options));
  g_assert_true (hv_vm_apply_spec (guest->vm, spec, &error));
  g_assert_no_error (error);
  hv_vm_set_serial (guest->vm, guest->input_pipe[0], guest->output_fd);
  if (restore_dir_fd >= 0)
    {
      g_assert_true (hv_vm_set_restore (guest->vm, restore_dir_fd, &error));
      g_assert_no_error (error);
    }
  g_assert_true (hv_vm_start (guest->vm, &error));
  g_assert_no_error (error);
}

static void
echo_three (uint16_t port)
{
  int fd = socket (AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

  g_assert_cmpint (fd, >=, 0);
  for (unsigned i = 0; i < 3; i++)
    {
      g_autofree char *text = g_strdup_printf ("datagram %u to port %u", i, port);
      assert_echoed (fd, port, (const uint8_t *) text, strlen (text));
    }
  close (fd);
}

/* With the cable out nothing reaches the guest (no echo); plugged in again, it answers. */
static void
assert_link_pulls (HvVm *vm, uint16_t port)
{
  struct sockaddr_in to = { .sin_family = AF_INET,
                            .sin_port = htons (port),
                            .sin_addr.s_addr = htonl (INADDR_LOOPBACK) };
  g_autoptr (GError) error = NULL;
  GPollFD pfd = { .events = G_IO_IN };
  int fd;

  g_assert_false (hv_vm_set_link (vm, "serial0", FALSE, &error));
  g_assert_error (error, HV_ERROR, HV_ERROR_NOT_FOUND);
  g_clear_error (&error);
  g_assert_true (hv_vm_set_link (vm, "net0", FALSE, &error));
  g_assert_no_error (error);
  fd = socket (AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  pfd.fd = fd;
  for (unsigned i = 0; i < 3; i++)
    g_assert_cmpint (sendto (fd, "x", 1, 0, (struct sockaddr *) &to, sizeof to), ==, 1);
  g_assert_cmpint (g_poll (&pfd, 1, 1000), ==, 0);
  close (fd);
  g_assert_true (hv_vm_set_link (vm, "net0", TRUE, &error));
  g_assert_no_error (error);
  echo_three (port);
}

/* A machine saved with its NIC in use and restored into a new one: the guest keeps its address and its
 * queues, the forward is bound again, and the echo goes on (the NAT's own state is not saved). */
static void
test_save_restore (void)
{
  uint16_t port = free_udp_port ();
  g_autoptr (GError) error = NULL;
  g_autofree char *dir = NULL;
  g_autofree char *out = NULL;
  VireoTestGuest guest;
  HvExitInfo info = { 0 };
  int dir_fd;

  if (!vireo_test_require_kvm ())
    return;
  dir = g_dir_make_tmp ("vireo-net-save-XXXXXX", &error);
  g_assert_no_error (error);
  dir_fd = open (dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  g_assert_cmpint (dir_fd, >=, 0);

  net_guest_start (&guest, port, -1);
  g_assert_true (vireo_test_guest_wait_for_output (&guest, "net-probe ip=10.0.2.15", 30));
  {
    /* The VM learnt the address from the DHCP ACK that went to the guest. */
    g_autoptr (GVariant) addresses = g_variant_ref_sink (hv_vm_get_guest_addresses (guest.vm));
    const char *address = NULL;

    g_assert_true (g_variant_lookup (addresses, "net0", "&s", &address));
    g_assert_cmpstr (address, ==, "10.0.2.15");
    g_assert_cmpuint (g_variant_n_children (addresses), ==, 1);
  }
  assert_link_pulls (guest.vm, port);
  echo_three (port);
  g_assert_true (hv_vm_pause (guest.vm, &error));
  g_assert_true (hv_vm_save (guest.vm, dir_fd, &error));
  g_assert_no_error (error);
  hv_vm_stop (guest.vm);
  hv_vm_wait (guest.vm, &info);
  hv_exit_info_clear (&info);
  vireo_test_guest_clear (&guest);

  net_guest_start (&guest, port, dir_fd);
  echo_three (port);
  g_assert_true (hv_vm_request_shutdown (guest.vm, &error));
  g_assert_no_error (error);
  hv_vm_wait (guest.vm, &info);
  out = vireo_test_guest_output (&guest);
  g_test_message ("restored guest: %s", out);
  g_assert_cmpint (info.reason, ==, HV_EXIT_POWER_OFF);
  g_assert_nonnull (strstr (out, "net-probe done"));
  hv_exit_info_clear (&info);
  vireo_test_guest_clear (&guest);
  close (dir_fd);
  vireo_test_remove_tree (dir);
}

/* Asks net-bench for @count datagrams of @size bytes and checks that each arrives once, in order, as
 * the guest made it (sequence number, then bytes counting up), then the end marker.  The bursts are
 * small enough for a socket's default buffer (net.core.rmem_default, 208 KiB on Debian), counted as
 * the kernel counts it: a datagram takes its buffer's true size, about 2.3 KiB for 1400 bytes and under
 * 1 KiB for 64.  A device quick enough to send a whole burst before the test reads any must not fill
 * it, so none may be lost. */
static void
assert_burst (int fd, unsigned count, unsigned size)
{
  g_autofree char *command = g_strdup_printf ("net-bench send %u %u", count, size);
  g_autofree char *end = g_strdup_printf ("net-bench end %u", count);
  uint8_t buf[2048];
  unsigned received = 0;

  g_assert_cmpint (send (fd, command, strlen (command), 0), ==, (gssize) strlen (command));
  for (;;)
    {
      GPollFD pfd = { .fd = fd, .events = G_IO_IN };
      ssize_t n;

      if (g_poll (&pfd, 1, 10000) != 1)
        g_error ("the burst of %u x %u bytes stopped after %u datagrams", count, size, received);
      n = recv (fd, buf, sizeof buf, 0);
      g_assert_cmpint (n, >, 0);
      if ((gsize) n == strlen (end) && memcmp (buf, end, (gsize) n) == 0)
        break;
      g_assert_cmpint (n, ==, size);
      g_assert_cmpuint ((guint) buf[0] << 24 | (guint) buf[1] << 16 | (guint) buf[2] << 8 | buf[3], ==,
                        received);
      for (unsigned i = 4; i < size; i++)
        g_assert_cmpuint (buf[i], ==, i & 0xff);
      received++;
    }
  g_assert_cmpuint (received, ==, count);
}

static void
test_bench_guest (void)
{
  uint16_t port = free_udp_port ();
  g_autofree char *net = g_strdup_printf ("user,restrict=on,hostfwd=udp:127.0.0.1:%u-:7", port);
  const char *args[] = { "--net", net, NULL };
  struct sockaddr_in to = { .sin_family = AF_INET,
                            .sin_port = htons (port),
                            .sin_addr.s_addr = htonl (INADDR_LOOPBACK) };
  const uint8_t ping[64] = { 1, 2, 3, 4 };
  g_autoptr (GError) error = NULL;
  g_autofree char *line = NULL;
  Run run = { 0 };
  int fd;

  if (!run_start_guest (&run, "net-bench", args))
    return;
  line = run_wait_line (&run, "net-bench ready ip=");
  g_assert_cmpstr (line, ==, "net-bench ready ip=10.0.2.15");

  fd = socket (AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  g_assert_cmpint (fd, >=, 0);
  g_assert_cmpint (connect (fd, (struct sockaddr *) &to, sizeof to), ==, 0);
  assert_echoed (fd, port, ping, sizeof ping);
  assert_burst (fd, 200, 64);
  assert_burst (fd, 64, 1400);
  /* A bad command is refused on the console, and the guest goes on serving. */
  g_assert_cmpint (send (fd, "net-bench send 5 7", 18, 0), ==, 18);
  g_clear_pointer (&line, g_free);
  line = run_wait_line (&run, "net-bench: ");
  g_assert_cmpstr (line, ==, "net-bench: bad send command");
  assert_echoed (fd, port, ping, sizeof ping);
  g_assert_cmpint (send (fd, "net-bench quit", 14, 0), ==, 14);
  close (fd);

  g_clear_pointer (&line, g_free);
  line = run_wait_line (&run, "net-bench done");
  g_assert_nonnull (line);
  g_assert_true (g_subprocess_wait (run.proc, NULL, &error));
  g_assert_no_error (error);
  g_assert_true (g_subprocess_get_if_exited (run.proc));
  g_assert_cmpint (g_subprocess_get_exit_status (run.proc), ==, STATUS_POWER_OFF);
  g_assert_nonnull (strstr (run.seen->str, "net-bench sent 200 64\n"));
  g_assert_nonnull (strstr (run.seen->str, "net-bench sent 64 1400\n"));
  g_clear_object (&run.lines);
  g_clear_object (&run.proc);
  run_clear (&run);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/net/dhcp-and-udp-echo", test_dhcp_and_udp_echo);
  g_test_add_func ("/net/mac", test_mac);
  g_test_add_func ("/net/bench-guest", test_bench_guest);
  g_test_add_func ("/net/save-restore", test_save_restore);
  g_test_add_func ("/net/usage-errors", test_usage_errors);
  g_test_add_func ("/net/tftp-dir-missing", test_tftp_dir_missing);
  g_test_add_func ("/net/port-taken", test_port_taken);
  g_test_add_func ("/net/bridge-missing", test_bridge_missing);
  g_test_add_func ("/net/tftp", test_tftp);
  g_test_add_func ("/net/bridged", test_bridged);
  return g_test_run ();
}
