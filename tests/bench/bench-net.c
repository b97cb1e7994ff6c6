/* bench-net.c — the network benchmark (--only net). */
#include "bench.h"

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

/* What a signal handler needs to leave nothing behind: the namespace and the VMM running now. */
static char net_netns_cleanup[64];

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
  pid_t pid = console_vm_running_pid;

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
  ConsoleVm vm;
  double rtt, rtt_fast, pps[2], mbs[2], cpu[2];
  unsigned lost, received[2];
  gboolean ok = FALSE;
  int fd = -1;

  if (path == NET_USER && port == 0)
    {
      g_set_error (error, BENCH_ERROR, 0, "no free UDP port on 127.0.0.1");
      return FALSE;
    }
  if (!console_vm_start (&vm, argv, error))
    return FALSE;
  if (!console_vm_wait_for (&vm, NET_READY_MARKER, NET_READY_MS, error))
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
      console_vm_finish (&vm);
      g_autofree char *cmd = g_strjoinv (" ", (char **) argv->pdata);
      g_prefix_error (error, "%s: ", cmd);
      console_vm_clear (&vm);
      return FALSE;
    }
  if (!console_vm_finish (&vm) || strstr (vm.out->str, "net-bench done") == NULL)
    {
      g_set_error (error, BENCH_ERROR, 0, "it did not power off after \"net-bench quit\" (output: %.300s)",
                   vm.out->str);
      console_vm_clear (&vm);
      return FALSE;
    }
  console_vm_clear (&vm);
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

void
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

void
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
