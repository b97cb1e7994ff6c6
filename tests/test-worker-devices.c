/* test-worker-devices.c — the worker's serial multiplexer on its own (no KVM needed), CD-ROM media changed over
 * D-Bus, and a NIC on a bridge. */
#include "worker-fixture.h"

/* ---- the serial multiplexer on its own ---- */

/* CPU time this process uses while its main loop runs for @ms: a mux that waits properly uses next to
 * none, one that spins uses all of it. */
static gint64
cpu_usec_while_spinning (unsigned ms)
{
  struct rusage before, after;

  g_assert_cmpint (getrusage (RUSAGE_SELF, &before), ==, 0);
  spin (ms);
  g_assert_cmpint (getrusage (RUSAGE_SELF, &after), ==, 0);
  return (after.ru_utime.tv_sec - before.ru_utime.tv_sec + after.ru_stime.tv_sec - before.ru_stime.tv_sec)
             * G_USEC_PER_SEC
         + (after.ru_utime.tv_usec - before.ru_utime.tv_usec)
         + (after.ru_stime.tv_usec - before.ru_stime.tv_usec);
}

/* The guest's output stream in the mux tests: every byte says where it is. */
static uint8_t
pattern_byte (gsize position)
{
  return (uint8_t) (position ^ (position >> 8) ^ (position >> 16));
}

static void
read_available (int fd, GByteArray *into)
{
  uint8_t buffer[65536];
  ssize_t n;

  while ((n = recv (fd, buffer, sizeof buffer, MSG_DONTWAIT)) > 0)
    g_byte_array_append (into, buffer, (guint) n);
}

static void
test_mux_slow_client (void)
{
  const gsize total = 4 * 1024 * 1024;
  g_autoptr (GError) error = NULL;
  g_autoptr (VireoSerialMux) mux = vireo_serial_mux_new (&error);
  g_autoptr (GByteArray) fast_got = g_byte_array_new ();
  g_autoptr (GByteArray) slow_got = g_byte_array_new ();
  uint8_t chunk[8192];
  gint64 deadline = g_get_monotonic_time () + 60 * G_USEC_PER_SEC;
  gsize written = 0;
  int guest_fd, fast, slow;

  g_assert_no_error (error);
  guest_fd = vireo_serial_mux_get_guest_output_fd (mux);
  slow = vireo_serial_mux_add_client (mux, 1000, &error);
  g_assert_no_error (error);
  fast = vireo_serial_mux_add_client (mux, 1000, &error);
  g_assert_no_error (error);

  /* The guest writes far more than the history and a socket buffer hold while one client never reads:
   * the guest's writes keep going, and the reading client gets every byte in order. */
  while (written < total)
    {
      gsize n = MIN (sizeof chunk, total - written);
      ssize_t done;

      g_assert_cmpint (g_get_monotonic_time (), <, deadline);
      for (gsize i = 0; i < n; i++)
        chunk[i] = pattern_byte (written + i);
      done = write (guest_fd, chunk, n);
      if (done > 0)
        written += (gsize) done;
      else
        g_assert_cmpint (errno, ==, EAGAIN);
      while (g_main_context_iteration (NULL, FALSE))
        ;
      read_available (fast, fast_got);
    }
  while (fast_got->len < total)
    {
      g_assert_cmpint (g_get_monotonic_time (), <, deadline);
      g_main_context_iteration (NULL, FALSE);
      read_available (fast, fast_got);
    }
  g_assert_cmpuint (vireo_serial_mux_get_output_total (mux), ==, total);
  g_assert_cmpuint (fast_got->len, ==, total);
  for (gsize i = 0; i < total; i++)
    if (fast_got->data[i] != pattern_byte (i))
      g_error ("the reading client's byte %zu is wrong", i);

  /* Waiting for the slow client to make room costs nothing. */
  g_assert_cmpint (cpu_usec_while_spinning (500), <, 100000);

  /* The slow client lost the middle but catches up to the latest output once it reads. */
  for (gint64 quiet_until = g_get_monotonic_time () + G_USEC_PER_SEC; g_get_monotonic_time () < quiet_until;)
    {
      guint before = slow_got->len;
      g_main_context_iteration (NULL, FALSE);
      read_available (slow, slow_got);
      if (slow_got->len != before)
        quiet_until = g_get_monotonic_time () + 200 * 1000;
      else
        g_usleep (1000);
    }
  g_assert_cmpuint (slow_got->len, <, total);
  g_assert_cmpuint (slow_got->len, >=, VIREO_SERIAL_HISTORY_SIZE);
  for (gsize i = 0; i < VIREO_SERIAL_HISTORY_SIZE; i++)
    g_assert_cmpuint (slow_got->data[slow_got->len - 1 - i], ==, pattern_byte (total - 1 - i));

  /* A client arriving now gets exactly the last 64 KiB. */
  {
    g_autoptr (GByteArray) late_got = g_byte_array_new ();
    int late = vireo_serial_mux_add_client (mux, 1000, &error);
    g_assert_no_error (error);
    while (late_got->len < VIREO_SERIAL_HISTORY_SIZE)
      {
        g_assert_cmpint (g_get_monotonic_time (), <, deadline);
        g_main_context_iteration (NULL, FALSE);
        read_available (late, late_got);
      }
    g_assert_cmpuint (late_got->len, ==, VIREO_SERIAL_HISTORY_SIZE);
    for (gsize i = 0; i < VIREO_SERIAL_HISTORY_SIZE; i++)
      g_assert_cmpuint (late_got->data[i], ==, pattern_byte (total - VIREO_SERIAL_HISTORY_SIZE + i));
    close (late);
  }

  g_assert_cmpuint (vireo_serial_mux_get_n_clients (mux), ==, 3);
  close (slow);
  close (fast);
  for (int i = 0; i < 10 && vireo_serial_mux_get_n_clients (mux) > 0; i++)
    spin (20);
  g_assert_cmpuint (vireo_serial_mux_get_n_clients (mux), ==, 0);
}

/* A serial console serves a bounded number of clients: one more is refused naming the limit, and a
 * client that goes makes room again. */
static void
test_mux_client_limit (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (VireoSerialMux) mux = vireo_serial_mux_new (&error);
  int fds[VIREO_SERIAL_CLIENTS_MAX];
  int n = 0;

  g_assert_no_error (error);
  /* Each owner up to its share; owners beyond the total are refused however few they hold. */
  for (guint32 owner = 1000; n < VIREO_SERIAL_CLIENTS_MAX; owner++)
    for (int i = 0; i < VIREO_SERIAL_CLIENTS_PER_OWNER && n < VIREO_SERIAL_CLIENTS_MAX; i++)
      {
        fds[n++] = vireo_serial_mux_add_client (mux, owner, &error);
        g_assert_no_error (error);
        g_assert_cmpint (fds[n - 1], >=, 0);
      }
  g_assert_cmpint (vireo_serial_mux_add_client (mux, 1000, &error), ==, -1);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_TOO_MANY_OPEN_FILES);
  g_assert_nonnull (strstr (error->message, G_STRINGIFY (VIREO_SERIAL_CLIENTS_PER_OWNER) " serial consoles"));
  g_clear_error (&error);
  g_assert_cmpint (vireo_serial_mux_add_client (mux, 4242, &error), ==, -1);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_TOO_MANY_OPEN_FILES);
  g_assert_nonnull (strstr (error->message, G_STRINGIFY (VIREO_SERIAL_CLIENTS_MAX) " clients"));
  g_clear_error (&error);

  /* A client that goes makes room, for its owner too. */
  close (fds[0]);
  VIREO_TEST_WAIT_FOR (vireo_serial_mux_get_n_clients (mux) < VIREO_SERIAL_CLIENTS_MAX,
                       "the closed client to go", WAIT_SECONDS);
  fds[0] = vireo_serial_mux_add_client (mux, 1000, &error);
  g_assert_no_error (error);
  for (int i = 0; i < VIREO_SERIAL_CLIENTS_MAX; i++)
    close (fds[i]);
}

static void
test_mux_input_backpressure (void)
{
  const gsize total = 1024 * 1024;
  g_autoptr (GError) error = NULL;
  g_autoptr (VireoSerialMux) mux = vireo_serial_mux_new (&error);
  g_autoptr (GByteArray) guest_got = g_byte_array_new ();
  gint64 deadline = g_get_monotonic_time () + 60 * G_USEC_PER_SEC;
  gsize typed = 0;
  gboolean blocked = FALSE;
  int guest_fd, client;

  g_assert_no_error (error);
  guest_fd = vireo_serial_mux_get_guest_input_fd (mux);
  g_assert_true (g_unix_set_fd_nonblocking (guest_fd, TRUE, NULL));
  client = vireo_serial_mux_add_client (mux, 1000, &error);
  g_assert_no_error (error);
  g_assert_true (g_unix_set_fd_nonblocking (client, TRUE, NULL));

  /* A guest that does not read: the client is held back rather than its typing dropped. */
  while (!blocked)
    {
      uint8_t chunk[4096];
      ssize_t n;

      g_assert_cmpint (g_get_monotonic_time (), <, deadline);
      for (gsize i = 0; i < sizeof chunk; i++)
        chunk[i] = pattern_byte (typed + i);
      n = write (client, chunk, sizeof chunk);
      if (n > 0)
        typed += (gsize) n;
      else
        {
          g_assert_cmpint (errno, ==, EAGAIN);
          /* Let the mux take what it will; if the client is still full after that, it is held back. */
          spin (50);
          n = write (client, chunk, 1);
          if (n < 0)
            blocked = TRUE;
          else
            typed += 1;
        }
      while (g_main_context_iteration (NULL, FALSE))
        ;
    }
  g_assert_cmpuint (typed, <, total);
  g_assert_cmpint (cpu_usec_while_spinning (500), <, 100000);

  /* Once the guest reads, everything typed arrives, in order, and typing flows again. */
  while (guest_got->len < total)
    {
      uint8_t buffer[65536];
      ssize_t n;

      g_assert_cmpint (g_get_monotonic_time (), <, deadline);
      if (typed < total)
        {
          uint8_t chunk[4096];
          gsize want = MIN (sizeof chunk, total - typed);
          for (gsize i = 0; i < want; i++)
            chunk[i] = pattern_byte (typed + i);
          n = write (client, chunk, want);
          if (n > 0)
            typed += (gsize) n;
        }
      while (g_main_context_iteration (NULL, FALSE))
        ;
      while ((n = read (guest_fd, buffer, sizeof buffer)) > 0)
        g_byte_array_append (guest_got, buffer, (guint) n);
    }
  g_assert_cmpuint (guest_got->len, ==, total);
  for (gsize i = 0; i < total; i++)
    if (guest_got->data[i] != pattern_byte (i))
      g_error ("the guest's input byte %zu is wrong", i);
  close (client);
}

/* ---- CD-ROM discs changed over D-Bus ---- */

static int
append_fd (GUnixFDList *fds, const char *path, int flags)
{
  g_autoptr (GError) error = NULL;
  int fd = open (path, flags | O_CLOEXEC);
  int index;

  g_assert_cmpint (fd, >=, 0);
  index = g_unix_fd_list_append (fds, fd, &error);
  g_assert_no_error (error);
  close (fd);
  return index;
}

/* EjectMedium refused while the guest locks the tray (the guest hears the button), then done;
 * ChangeMedium puts another disc in, which the guest reads; unknown drives and files that are no
 * disc images are refused by name; the sandboxed worker opens the image it is passed. */
/* Starts the sata guest with @cmdline and a CD-ROM "cdrom0" holding @disc. */
static void
worker_start_sata (Worker *worker, const char *cmdline, const char *disc)
{
  g_autofree char *kernel = vireo_test_guest_path ("sata");
  g_autoptr (GUnixFDList) fds = g_unix_fd_list_new ();
  g_autoptr (GError) error = NULL;
  GVariantBuilder builder;
  int kvm = append_fd (fds, "/dev/kvm", O_RDWR);
  int iso = append_fd (fds, disc, O_RDONLY);

  g_variant_builder_init (&builder, G_VARIANT_TYPE_VARDICT);
  g_variant_builder_add (&builder, "{sv}", "version", g_variant_new_uint32 (1));
  g_variant_builder_add (&builder, "{sv}", "memory", g_variant_new_uint64 (64 << 20));
  g_variant_builder_add (&builder, "{sv}", "kvm-fd", g_variant_new_handle (kvm));
  g_variant_builder_add (&builder, "{sv}", "kernel",
                         g_variant_new_handle (append_fd (fds, kernel, O_RDONLY)));
  g_variant_builder_add (&builder, "{sv}", "cmdline", g_variant_new_string (cmdline));
  g_variant_builder_add (
      &builder, "{sv}", "devices",
      g_variant_new_parsed ("[('serial', 'serial0', @a{sv} {}), ('cdrom', 'cdrom0', {'file': "
                            "<%h>})]",
                            iso));
  vireo_worker1_call_start_sync (worker->proxy, g_variant_builder_end (&builder), fds, NULL, NULL, &error);
  g_assert_no_error (error);
}

static void
test_change_medium (void)
{
  g_autofree char *xorriso = g_find_program_in_path ("xorriso");
  g_autofree char *dir = NULL;
  g_autofree char *first = NULL;
  g_autofree char *second = NULL;
  g_autoptr (GString) seen = g_string_new (NULL);
  g_autoptr (GError) error = NULL;
  Worker worker;
  int fd;

  if (xorriso == NULL)
    {
      g_test_skip ("xorriso is not installed (it makes the discs)");
      return;
    }
  if (!worker_spawn (&worker))
    return;
  dir = g_dir_make_tmp ("vireo-worker-cd-XXXXXX", NULL);
  first = g_build_filename (dir, "first.iso", NULL);
  second = g_build_filename (dir, "second.iso", NULL);
  g_assert_true (vireo_test_make_iso (dir, first, "FIRSTDISC"));
  g_assert_true (vireo_test_make_iso (dir, second, "SECONDDISC"));

  worker_start_sata (&worker, "media=2", first);
  fd = worker_open_serial (&worker);
  g_assert_true (serial_wait_for (fd, seen, "sata: cd locked\n"));

  vireo_worker1_call_eject_medium_sync (worker.proxy, "cdrom9", NULL, &error);
  assert_vireo_error (error, "NotFound");
  g_clear_error (&error);
  vireo_worker1_call_eject_medium_sync (worker.proxy, "cdrom0", NULL, &error);
  assert_vireo_error (error, "MediumLocked");
  g_clear_error (&error);
  g_assert_true (serial_wait_for (fd, seen, "sata: cd eject requested\nsata: cd unlocked\n"));
  g_assert_true (serial_wait_for (fd, seen, "sata: cd waiting for the disc to go\n"));
  vireo_worker1_call_eject_medium_sync (worker.proxy, "cdrom0", NULL, &error);
  g_assert_no_error (error);
  g_assert_true (serial_wait_for (fd, seen, "sata: cd removed\nsata: cd not ready\n"));
  g_assert_true (serial_wait_for (fd, seen, "sata: cd waiting for a disc\n"));

  {
    g_autoptr (GUnixFDList) change = g_unix_fd_list_new ();
    int folder = append_fd (change, dir, O_RDONLY | O_DIRECTORY);
    int disc = append_fd (change, second, O_RDONLY);

    vireo_worker1_call_change_medium_sync (worker.proxy, "cdrom0", g_variant_new_handle (folder), change,
                                           NULL, NULL, &error);
    assert_vireo_error (error, "InvalidArgument");
    g_clear_error (&error);
    vireo_worker1_call_change_medium_sync (worker.proxy, "cdrom0", g_variant_new_handle (disc), change, NULL,
                                           NULL, &error);
    g_assert_no_error (error);
  }
  g_assert_true (
      serial_wait_for (fd, seen, "sata: cd inserted\nsata: cd unit attention\nsata: cd volume SECONDDISC\n"));
  g_assert_true (serial_wait_for (fd, seen, "sata: done\n"));
  g_assert_null (strstr (seen->str, "FAIL"));
  close (fd);
  worker_clear (&worker);
  vireo_test_remove_tree (dir);
}

/* ---- a NIC on a bridge ---- */

/* The sandboxed worker runs a NIC on a TAP it was handed (as vireod hands it one): net-probe, at a
 * static address on a bridge in a network namespace the test process made for itself (a subprocess, so
 * the namespace goes with it), sends its hello to a socket there, and echoes a datagram back; the NIC's
 * I/O thread reads and writes the TAP under its seccomp filter. */
static void
tap_in_namespace (void)
{
  static const char *const setup[][8] = {
    { "ip", "link", "set", "lo", "up", NULL },
    { "ip", "link", "add", "br0", "type", "bridge", NULL },
    { "ip", "addr", "add", "10.77.0.1/24", "dev", "br0", NULL },
    { "ip", "link", "set", "br0", "up", NULL },
  };
  g_autofree char *kernel = vireo_test_guest_path ("net-probe");
  g_autoptr (GUnixFDList) fds = g_unix_fd_list_new ();
  g_autoptr (GString) seen = g_string_new (NULL);
  g_autoptr (GError) error = NULL;
  struct sockaddr_in addr = { .sin_family = AF_INET, .sin_port = htons (7) };
  GVariantBuilder builder;
  Worker worker;
  char buf[64];
  int serial, sock, tap, tap_index;
  struct pollfd pfd;

  g_assert_no_errno (unshare (CLONE_NEWNET));
  for (gsize i = 0; i < G_N_ELEMENTS (setup); i++)
    {
      int status;
      g_assert_true (
          g_spawn_sync (NULL, (char **) setup[i], NULL,
                        G_SPAWN_SEARCH_PATH | G_SPAWN_STDOUT_TO_DEV_NULL | G_SPAWN_STDERR_TO_DEV_NULL, NULL,
                        NULL, NULL, NULL, &status, &error));
      g_assert_true (g_spawn_check_wait_status (status, NULL));
    }
  sock = socket (AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  g_assert_cmpint (inet_pton (AF_INET, "10.77.0.1", &addr.sin_addr), ==, 1);
  g_assert_no_errno (bind (sock, (struct sockaddr *) &addr, sizeof addr));
  tap = hv_net_open_bridge_tap ("br0", NULL, &error);
  g_assert_no_error (error);
  tap_index = g_unix_fd_list_append (fds, tap, &error);
  g_assert_no_error (error);
  close (tap);

  if (!worker_spawn (&worker))
    return;
  g_variant_builder_init (&builder, G_VARIANT_TYPE_VARDICT);
  g_variant_builder_add (&builder, "{sv}", "version", g_variant_new_uint32 (1));
  g_variant_builder_add (&builder, "{sv}", "memory", g_variant_new_uint64 (64 << 20));
  g_variant_builder_add (&builder, "{sv}", "kvm-fd",
                         g_variant_new_handle (append_fd (fds, "/dev/kvm", O_RDWR)));
  g_variant_builder_add (&builder, "{sv}", "kernel",
                         g_variant_new_handle (append_fd (fds, kernel, O_RDONLY)));
  g_variant_builder_add (&builder, "{sv}", "cmdline",
                         g_variant_new_string ("ip=10.77.0.2/24 send=10.77.0.1"));
  g_variant_builder_add (&builder, "{sv}", "devices",
                         g_variant_new_parsed ("[('serial', 'serial0', @a{sv} {}), ('virtio-net', 'net0', "
                                               "{'backend': <'tap'>, 'tap': <[%h]>})]",
                                               tap_index));
  vireo_worker1_call_start_sync (worker.proxy, g_variant_builder_end (&builder), fds, NULL, NULL, &error);
  g_assert_no_error (error);
  serial = worker_open_serial (&worker);
  g_assert_true (serial_wait_for (serial, seen, "net-probe ip=10.77.0.2 gw=0.0.0.0\n"));

  pfd = (struct pollfd){ .fd = sock, .events = POLLIN };
  g_assert_cmpint (poll (&pfd, 1, 10000), ==, 1);
  g_assert_cmpint (recv (sock, buf, sizeof buf, 0), ==, strlen ("net-probe hello"));
  g_assert_cmpmem (buf, strlen ("net-probe hello"), "net-probe hello", strlen ("net-probe hello"));
  g_assert_cmpint (inet_pton (AF_INET, "10.77.0.2", &addr.sin_addr), ==, 1);
  g_assert_cmpint (sendto (sock, "through the sandbox", 19, 0, (struct sockaddr *) &addr, sizeof addr), ==,
                   19);
  g_assert_cmpint (poll (&pfd, 1, 10000), ==, 1);
  g_assert_cmpint (recv (sock, buf, sizeof buf, 0), ==, 19);
  g_assert_cmpmem (buf, 19, "through the sandbox", 19);
  g_print ("echoed through the sandbox\n"); /* for the parent's check */
  close (sock);
  close (serial);
  worker_clear (&worker);
}

static void
test_tap (void)
{
  g_autofree char *ip = g_find_program_in_path ("ip");

  if (g_test_subprocess ())
    {
      tap_in_namespace ();
      return;
    }
  if (!vireo_test_require_kvm ())
    return;
  if (geteuid () != 0 || ip == NULL)
    {
      g_test_skip ("a NIC on a bridge needs root and ip (iproute2)");
      return;
    }
  g_test_trap_subprocess (NULL, 120 * G_USEC_PER_SEC, G_TEST_SUBPROCESS_INHERIT_STDERR);
  g_test_trap_assert_passed ();
  g_test_trap_assert_stdout ("*echoed through the sandbox*");
}

/* ChangeMedium replaces a disc the guest locked, and the machine keeps the new disc across Reset. */
static void
test_change_medium_reset (void)
{
  g_autofree char *xorriso = g_find_program_in_path ("xorriso");
  g_autofree char *dir = NULL;
  g_autofree char *first = NULL;
  g_autofree char *second = NULL;
  g_autoptr (GString) seen = g_string_new (NULL);
  g_autoptr (GError) error = NULL;
  g_autoptr (GUnixFDList) change = g_unix_fd_list_new ();
  Worker worker;
  int fd, disc;

  if (xorriso == NULL)
    {
      g_test_skip ("xorriso is not installed (it makes the discs)");
      return;
    }
  if (!worker_spawn (&worker))
    return;
  dir = g_dir_make_tmp ("vireo-worker-cd-XXXXXX", NULL);
  first = g_build_filename (dir, "first.iso", NULL);
  second = g_build_filename (dir, "second.iso", NULL);
  g_assert_true (vireo_test_make_iso (dir, first, "FIRSTDISC"));
  g_assert_true (vireo_test_make_iso (dir, second, "SECONDDISC"));
  worker_start_sata (&worker, "media=2", first);
  fd = worker_open_serial (&worker);
  g_assert_true (serial_wait_for (fd, seen, "sata: cd volume FIRSTDISC\n"));
  g_assert_true (serial_wait_for (fd, seen, "sata: cd locked\n"));

  disc = append_fd (change, second, O_RDONLY);
  vireo_worker1_call_change_medium_sync (worker.proxy, "cdrom0", g_variant_new_handle (disc), change, NULL,
                                         NULL, &error);
  g_assert_no_error (error);
  /* The guest waits for the eject button, which never comes: the reset boots it with the new disc. */
  vireo_worker1_call_reset_sync (worker.proxy, NULL, &error);
  g_assert_no_error (error);
  g_assert_true (serial_wait_for (fd, seen, "sata: cd volume SECONDDISC\n"));
  g_assert_true (serial_wait_for_count (fd, seen, "sata: cd locked\n", 2, WAIT_SECONDS));
  g_assert_null (strstr (seen->str, "FAIL"));
  vireo_worker1_call_turn_off_sync (worker.proxy, NULL, &error);
  g_assert_no_error (error);
  close (fd);
  worker_clear (&worker);
  vireo_test_remove_tree (dir);
}

void
worker_add_device_tests (void)
{
  g_test_add_func ("/worker/serial-mux/slow-client", test_mux_slow_client);
  g_test_add_func ("/worker/serial-mux/input-backpressure", test_mux_input_backpressure);
  g_test_add_func ("/worker/serial-mux/client-limit", test_mux_client_limit);
  g_test_add_func ("/worker/tap", test_tap);
  g_test_add_func ("/worker/change-medium", test_change_medium);
  g_test_add_func ("/worker/change-medium-reset", test_change_medium_reset);
}
