/* test-worker.c — vireo-worker driven the way vireod drives it: spawned with a socketpair, spoken to
 * through the generated org.vireo.Worker1 proxy, re-attached through its socket: its life cycle, errors
 * and saved state.  The serial multiplexer, media and NIC tests are in test-worker-devices.c, the
 * checkpoint tests in test-worker-checkpoints.c, what they share in worker-fixture.c. */
#include "worker-fixture.h"

/* ---- tests with a guest ---- */

static void
test_hello (void)
{
  Worker worker;
  GStatBuf st;
  g_autofree char *status_path = NULL;
  g_autofree char *status = NULL;
  g_autoptr (GString) seen = g_string_new (NULL);
  g_autofree char *record = NULL;
  int fd;

  if (!worker_spawn (&worker))
    return;
  g_assert_cmpstr (vireo_worker1_get_uuid (worker.proxy), ==, TEST_UUID);
  g_assert_cmpstr (vireo_worker1_get_state (worker.proxy), ==, "idle");
  g_assert_cmpuint (vireo_worker1_get_start_time (worker.proxy), ==, 0);
  /* Only its owner may even reach the re-attach socket. */
  g_assert_cmpint (g_stat (worker.socket_path, &st), ==, 0);
  g_assert_true (S_ISSOCK (st.st_mode));
  g_assert_cmpint (st.st_mode & 0777, ==, 0600);
  /* Nothing it runs can gain privileges. */
  status_path = g_strdup_printf ("/proc/%s/status", g_subprocess_get_identifier (worker.process));
  g_assert_true (g_file_get_contents (status_path, &status, NULL, NULL));
  g_assert_nonnull (strstr (status, "\nNoNewPrivs:\t1\n"));

  worker_start (&worker, "hello");
  assert_state_becomes (&worker, "ended");
  g_assert_cmpstr (vireo_worker1_get_exit_reason (worker.proxy), ==, "power-off");
  g_assert_cmpstr (vireo_worker1_get_exit_message (worker.proxy), ==, "");
  g_assert_cmpuint (vireo_worker1_get_start_time (worker.proxy), >, 0);
  g_assert_cmpuint (vireo_worker1_get_start_time (worker.proxy), <=, (guint64) g_get_real_time ());

  /* The guest's output is still there after the end. */
  fd = worker_open_serial (&worker);
  g_assert_true (serial_wait_for (fd, seen, "Hello from a Vireo test guest\n"));
  close (fd);

  /* The peer saw the end: the worker exits when it hangs up, leaves no record, removes its socket. */
  worker_close_connection (&worker);
  g_assert_cmpint (worker_wait_exit (&worker, WAIT_SECONDS), ==, 0);
  record = g_strconcat (worker.socket_path, ".exit", NULL);
  g_assert_false (g_file_test (record, G_FILE_TEST_EXISTS));
  g_assert_false (g_file_test (worker.socket_path, G_FILE_TEST_EXISTS));
  worker_clear (&worker);
}

static void
test_linger (void)
{
  Worker worker;
  g_autofree char *record = NULL;
  gint64 ended;

  if (!worker_spawn (&worker))
    return;
  worker_start (&worker, "hello");
  assert_state_becomes (&worker, "ended");
  ended = g_get_monotonic_time ();

  /* A peer that stays connected keeps an ended worker around for 30 seconds, no longer. */
  spin (2000);
  g_assert_false (worker.exited);
  g_assert_cmpint (worker_wait_exit (&worker, 60), ==, 0);
  g_assert_cmpint (g_get_monotonic_time () - ended, >=, 29 * G_USEC_PER_SEC);
  g_assert_cmpint (g_get_monotonic_time () - ended, <, 45 * G_USEC_PER_SEC);
  record = g_strconcat (worker.socket_path, ".exit", NULL);
  g_assert_false (g_file_test (record, G_FILE_TEST_EXISTS));
  worker_clear (&worker);
}

static void
test_echo_serial (void)
{
  Worker worker;
  g_autoptr (GString) first = g_string_new (NULL);
  g_autoptr (GString) second = g_string_new (NULL);
  int fd1, fd2;

  if (!worker_spawn (&worker))
    return;
  worker_start (&worker, "echo");
  fd1 = worker_open_serial (&worker);
  g_assert_true (serial_wait_for (fd1, first, "echo ready\n"));

  /* A client that comes later gets the history first. */
  fd2 = worker_open_serial (&worker);
  g_assert_true (serial_wait_for (fd2, second, "echo ready\n"));

  /* Typing into one client reaches the guest; its echo reaches both. */
  serial_type (fd1, "hello vireo");
  g_assert_true (serial_wait_for (fd1, first, "echo ready\nhello vireo"));
  g_assert_true (serial_wait_for (fd2, second, "echo ready\nhello vireo"));
  serial_type (fd2, " from two");
  g_assert_true (serial_wait_for (fd1, first, "hello vireo from two"));

  /* A client that hangs up changes nothing for the others. */
  close (fd2);
  serial_type (fd1, "!q");
  g_assert_true (serial_wait_for (fd1, first, "from two!echo done\n"));
  assert_state_becomes (&worker, "ended");
  g_assert_cmpstr (vireo_worker1_get_exit_reason (worker.proxy), ==, "power-off");
  close (fd1);
  worker_clear (&worker);
}

static void
test_pause_resume (void)
{
  Worker worker;
  g_autoptr (GString) seen = g_string_new (NULL);
  g_autoptr (GError) error = NULL;
  g_autofree char *while_paused = NULL;
  int fd;

  if (!worker_spawn (&worker))
    return;
  worker_start (&worker, "echo");
  fd = worker_open_serial (&worker);
  g_assert_true (serial_wait_for (fd, seen, "echo ready\n"));

  vireo_worker1_call_pause_sync (worker.proxy, NULL, &error);
  g_assert_no_error (error);
  assert_state_becomes (&worker, "paused");
  vireo_worker1_call_pause_sync (worker.proxy, NULL, &error);
  assert_vireo_error (error, "InvalidState");
  g_clear_error (&error);
  vireo_worker1_call_press_power_button_sync (worker.proxy, NULL, &error);
  assert_vireo_error (error, "InvalidState");
  g_clear_error (&error);

  /* A paused guest does not echo... */
  serial_type (fd, "x");
  while_paused = serial_read_for (fd, 1000);
  g_assert_cmpstr (while_paused, ==, "");

  /* ...and catches up once resumed. */
  vireo_worker1_call_resume_sync (worker.proxy, NULL, &error);
  g_assert_no_error (error);
  assert_state_becomes (&worker, "running");
  g_assert_true (serial_wait_for (fd, seen, "echo ready\nx"));
  vireo_worker1_call_resume_sync (worker.proxy, NULL, &error);
  assert_vireo_error (error, "InvalidState");
  g_clear_error (&error);

  /* TurnOff from paused works too. */
  vireo_worker1_call_pause_sync (worker.proxy, NULL, &error);
  g_assert_no_error (error);
  vireo_worker1_call_turn_off_sync (worker.proxy, NULL, &error);
  g_assert_no_error (error);
  assert_state_becomes (&worker, "ended");
  g_assert_cmpstr (vireo_worker1_get_exit_reason (worker.proxy), ==, "turned-off");
  close (fd);
  worker_clear (&worker);
}

static void
test_power_button (void)
{
  Worker worker;
  g_autoptr (GString) seen = g_string_new (NULL);
  g_autoptr (GError) error = NULL;
  int fd;

  if (!worker_spawn (&worker))
    return;
  worker_start (&worker, "shutdown");
  fd = worker_open_serial (&worker);
  g_assert_true (serial_wait_for (fd, seen, "waiting for power button\n"));
  g_assert_null (strstr (seen->str, "power button pressed"));

  vireo_worker1_call_press_power_button_sync (worker.proxy, NULL, &error);
  g_assert_no_error (error);
  g_assert_true (serial_wait_for (fd, seen, "power button pressed\n"));
  assert_state_becomes (&worker, "ended");
  g_assert_cmpstr (vireo_worker1_get_exit_reason (worker.proxy), ==, "power-off");
  close (fd);
  worker_close_connection (&worker);
  g_assert_cmpint (worker_wait_exit (&worker, WAIT_SECONDS), ==, 0);
  worker_clear (&worker);
}

static void
test_turn_off (void)
{
  Worker worker;
  g_autoptr (GError) error = NULL;

  if (!worker_spawn (&worker))
    return;
  worker_start (&worker, "echo");
  vireo_worker1_call_turn_off_sync (worker.proxy, NULL, &error);
  g_assert_no_error (error);
  assert_state_becomes (&worker, "ended");
  g_assert_cmpstr (vireo_worker1_get_exit_reason (worker.proxy), ==, "turned-off");
  g_assert_cmpstr (vireo_worker1_get_exit_message (worker.proxy), !=, "");

  vireo_worker1_call_turn_off_sync (worker.proxy, NULL, &error);
  assert_vireo_error (error, "InvalidState");
  g_clear_error (&error);
  vireo_worker1_call_reset_sync (worker.proxy, NULL, &error);
  assert_vireo_error (error, "InvalidState");

  worker_close_connection (&worker);
  g_assert_cmpint (worker_wait_exit (&worker, WAIT_SECONDS), ==, 0);
  worker_clear (&worker);
}

static void
test_reset (void)
{
  Worker worker;
  g_autoptr (GString) seen = g_string_new (NULL);
  g_autoptr (GError) error = NULL;
  guint64 start_time;
  int fd;

  if (!worker_spawn (&worker))
    return;
  worker_start (&worker, "echo");
  start_time = vireo_worker1_get_start_time (worker.proxy);
  fd = worker_open_serial (&worker);
  g_assert_true (serial_wait_for (fd, seen, "echo ready\n"));

  /* Reset boots the machine again in place: the serial client stays, StartTime stays. */
  vireo_worker1_call_reset_sync (worker.proxy, NULL, &error);
  g_assert_no_error (error);
  assert_state_becomes (&worker, "running");
  g_assert_true (serial_wait_for_count (fd, seen, "echo ready\n", 2, WAIT_SECONDS));
  serial_type (fd, "again");
  g_assert_true (serial_wait_for (fd, seen, "echo ready\nagain"));
  g_assert_cmpuint (vireo_worker1_get_start_time (worker.proxy), ==, start_time);

  /* Resets asked for through the API are not the guest's reset loop. */
  for (unsigned i = 0; i < 4; i++)
    {
      vireo_worker1_call_reset_sync (worker.proxy, NULL, &error);
      g_assert_no_error (error);
      g_assert_true (serial_wait_for_count (fd, seen, "echo ready\n", 3 + i, WAIT_SECONDS));
    }
  assert_state_becomes (&worker, "running");

  serial_type (fd, "q");
  assert_state_becomes (&worker, "ended");
  g_assert_cmpstr (vireo_worker1_get_exit_reason (worker.proxy), ==, "power-off");
  close (fd);
  worker_clear (&worker);
}

static void
check_reset_loop (const char *guest, const char *line, const char *reason)
{
  Worker worker;
  g_autoptr (GString) seen = g_string_new (NULL);
  g_autofree char *expected = g_strdup_printf ("%s\n", line);
  unsigned boots = 0;
  int fd;

  if (!worker_spawn (&worker))
    return;
  worker_start (&worker, guest);
  assert_state_becomes (&worker, "ended");
  g_assert_cmpstr (vireo_worker1_get_exit_reason (worker.proxy), ==, reason);
  g_assert_nonnull (strstr (vireo_worker1_get_exit_message (worker.proxy), "4 times in 10 seconds"));

  /* It rebooted in place three times: the history has all four boots, and nothing else ended them. */
  fd = worker_open_serial (&worker);
  g_assert_true (serial_wait_for_count (fd, seen, expected, 4, WAIT_SECONDS));
  for (const char *p = strstr (seen->str, expected); p; p = strstr (p + 1, expected))
    boots++;
  g_assert_cmpuint (boots, ==, 4);
  g_assert_null (strstr (seen->str, "still running"));
  close (fd);
  worker_clear (&worker);
}

static void
test_reset_loop (void)
{
  check_reset_loop ("reset", "reset: pulsing the i8042 reset line", "reset-loop");
}

static void
test_triple_fault_loop (void)
{
  check_reset_loop ("triple-fault", "triple-fault: loading an empty IDT", "triple-fault");
}

static void
test_reattach (void)
{
  Worker worker;
  g_autoptr (GString) old_client = g_string_new (NULL);
  g_autoptr (GString) new_client = g_string_new (NULL);
  g_autoptr (GError) error = NULL;
  g_autofree char *address = NULL;
  GDBusConnection *connection;
  guint64 start_time;
  int fd1, fd2;

  if (!worker_spawn (&worker))
    return;
  worker_start (&worker, "echo");
  start_time = vireo_worker1_get_start_time (worker.proxy);
  fd1 = worker_open_serial (&worker);
  g_assert_true (serial_wait_for (fd1, old_client, "echo ready\n"));

  /* vireod goes away; the machine keeps running. */
  worker_close_connection (&worker);
  spin (500);
  g_assert_false (worker.exited);
  serial_type (fd1, "alone");
  g_assert_true (serial_wait_for (fd1, old_client, "echo ready\nalone"));

  /* A new vireod re-attaches through the socket. */
  address = g_strconcat ("unix:path=", worker.socket_path, NULL);
  connection = g_dbus_connection_new_for_address_sync (address, G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT,
                                                       NULL, NULL, &error);
  g_assert_no_error (error);
  worker_attach_proxy (&worker, connection);
  assert_state_becomes (&worker, "running");
  g_assert_cmpstr (vireo_worker1_get_uuid (worker.proxy), ==, TEST_UUID);
  g_assert_cmpuint (vireo_worker1_get_start_time (worker.proxy), ==, start_time);

  fd2 = worker_open_serial (&worker);
  g_assert_true (serial_wait_for (fd2, new_client, "echo ready\nalone"));
  serial_type (fd2, "+back");
  g_assert_true (serial_wait_for (fd2, new_client, "alone+back"));
  g_assert_true (serial_wait_for (fd1, old_client, "alone+back"));

  serial_type (fd2, "q");
  assert_state_becomes (&worker, "ended");
  g_assert_cmpstr (vireo_worker1_get_exit_reason (worker.proxy), ==, "power-off");
  close (fd1);
  close (fd2);
  worker_close_connection (&worker);
  g_assert_cmpint (worker_wait_exit (&worker, WAIT_SECONDS), ==, 0);
  worker_clear (&worker);
}

static void
test_exit_record (void)
{
  Worker worker;
  g_autoptr (GString) seen = g_string_new (NULL);
  g_autoptr (GKeyFile) record = g_key_file_new ();
  g_autoptr (GError) error = NULL;
  g_autofree char *record_path = NULL;
  g_autofree char *reason = NULL;
  g_autofree char *uuid = NULL;
  guint64 time;
  gint64 before;
  int fd;

  if (!worker_spawn (&worker))
    return;
  worker_start (&worker, "echo");
  fd = worker_open_serial (&worker);
  g_assert_true (serial_wait_for (fd, seen, "echo ready\n"));

  /* With vireod gone, the guest powers off: the worker leaves a record and exits. */
  worker_close_connection (&worker);
  spin (500);
  before = g_get_real_time ();
  serial_type (fd, "q");
  g_assert_true (serial_wait_for (fd, seen, "echo done\n"));
  g_assert_cmpint (worker_wait_exit (&worker, WAIT_SECONDS), ==, 0);
  close (fd);

  record_path = g_strconcat (worker.socket_path, ".exit", NULL);
  g_key_file_load_from_file (record, record_path, G_KEY_FILE_NONE, &error);
  g_assert_no_error (error);
  reason = g_key_file_get_string (record, "Exit", "reason", &error);
  g_assert_no_error (error);
  g_assert_cmpstr (reason, ==, "power-off");
  uuid = g_key_file_get_string (record, "Exit", "uuid", &error);
  g_assert_no_error (error);
  g_assert_cmpstr (uuid, ==, TEST_UUID);
  g_assert_true (g_key_file_has_key (record, "Exit", "message", NULL));
  time = g_key_file_get_uint64 (record, "Exit", "time", &error);
  g_assert_no_error (error);
  g_assert_cmpuint (time, >=, (guint64) before);
  g_assert_false (g_file_test (worker.socket_path, G_FILE_TEST_EXISTS));
  worker_clear (&worker);
}

static void
test_sigterm (void)
{
  Worker worker;
  g_autoptr (GString) seen = g_string_new (NULL);
  int fd;

  if (!worker_spawn (&worker))
    return;
  worker_start (&worker, "echo");
  fd = worker_open_serial (&worker);
  g_assert_true (serial_wait_for (fd, seen, "echo ready\n"));

  /* SIGINT and SIGHUP are ignored; SIGTERM turns the machine off and exits, telling the peer why. */
  g_subprocess_send_signal (worker.process, SIGINT);
  g_subprocess_send_signal (worker.process, SIGHUP);
  spin (300);
  g_assert_false (worker.exited);
  assert_state_becomes (&worker, "running");

  g_subprocess_send_signal (worker.process, SIGTERM);
  g_assert_cmpint (worker_wait_exit (&worker, WAIT_SECONDS), ==, 0);
  assert_state_becomes (&worker, "ended");
  g_assert_cmpstr (vireo_worker1_get_exit_reason (worker.proxy), ==, "turned-off");
  close (fd);
  worker_clear (&worker);
}

/* This program's path, for running it as another user in test_peer_credentials(). */
static const char *test_program;

/* The child mode of this program: connects to the worker's socket at @path and prints its State.
 * Exit status 0 on success, 1 when the worker does not let it in. */
static int
connect_and_print_state (const char *path)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *address = g_strconcat ("unix:path=", path, NULL);
  g_autoptr (GDBusConnection) connection = NULL;
  g_autoptr (VireoWorker1) proxy = NULL;

  connection = g_dbus_connection_new_for_address_sync (address, G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT,
                                                       NULL, NULL, &error);
  if (connection)
    proxy = vireo_worker1_proxy_new_sync (connection, G_DBUS_PROXY_FLAGS_NONE, NULL, "/org/vireo/Worker1",
                                          NULL, &error);
  if (proxy == NULL)
    {
      g_print ("refused: %s\n", error->message);
      return 1;
    }
  g_print ("State: %s\n", vireo_worker1_get_state (proxy));
  return 0;
}

/* Runs this program's child mode against @worker as the user @uid (-1: as this process). */
static gboolean
connect_as (Worker *worker, int uid, char **output)
{
  g_autofree char *reuid = g_strdup_printf ("--reuid=%d", uid);
  g_autofree char *regid = g_strdup_printf ("--regid=%d", uid);
  const char *child[] = { test_program, "--connect-to", worker->socket_path, NULL };
  const char *as_user[] = { "setpriv", reuid, regid, "--clear-groups", "--" };
  g_autoptr (GPtrArray) argv = g_ptr_array_new ();
  g_autoptr (GError) error = NULL;
  g_autoptr (GSubprocess) process = NULL;

  if (uid >= 0)
    for (gsize i = 0; i < G_N_ELEMENTS (as_user); i++)
      g_ptr_array_add (argv, (gpointer) as_user[i]);
  for (gsize i = 0; child[i]; i++)
    g_ptr_array_add (argv, (gpointer) child[i]);
  g_ptr_array_add (argv, NULL);
  process = g_subprocess_newv ((const char *const *) argv->pdata,
                               G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_MERGE, &error);
  g_assert_no_error (error);
  g_subprocess_communicate_utf8 (process, NULL, NULL, output, NULL, &error);
  g_assert_no_error (error);
  g_test_message ("connecting as uid %d: %s", uid, *output);
  return g_subprocess_get_successful (process);
}

static void
test_peer_credentials (void)
{
  Worker worker;
  g_autofree char *as_owner = NULL;
  g_autofree char *as_nobody = NULL;
  g_autofree char *setpriv = g_find_program_in_path ("setpriv");

  if (getuid () != 0 || setpriv == NULL)
    {
      g_test_skip ("needs root and setpriv(1) to connect as another user");
      return;
    }
  if (!worker_spawn (&worker))
    return;

  g_assert_true (connect_as (&worker, -1, &as_owner));
  g_assert_nonnull (strstr (as_owner, "State: idle"));

  /* Past the file permissions (vireod's private folder, the 0600 socket), the worker still refuses
   * another user. */
  g_assert_cmpint (g_chmod (worker.dir, 0711), ==, 0);
  g_assert_cmpint (g_chmod (worker.socket_path, 0666), ==, 0);
  g_assert_false (connect_as (&worker, 65534, &as_nobody));
  g_assert_nonnull (strstr (as_nobody, "refused"));
  g_assert_false (worker.exited);
  worker_clear (&worker);
}

static void
test_idle_hangup (void)
{
  Worker worker;

  if (!worker_spawn (&worker))
    return;
  /* A worker whose vireod leaves before Start has nothing to keep running for. */
  worker_close_connection (&worker);
  g_assert_cmpint (worker_wait_exit (&worker, WAIT_SECONDS), ==, 0);
  g_assert_false (g_file_test (worker.socket_path, G_FILE_TEST_EXISTS));
  worker_clear (&worker);
}

static void
start_expecting_error (Worker *worker, GVariant *config, GUnixFDList *fds, const char *error_name)
{
  g_autoptr (GError) error = NULL;

  vireo_worker1_call_start_sync (worker->proxy, config, fds, NULL, NULL, &error);
  assert_vireo_error (error, error_name);
}

/* A valid configuration for "echo" with @key replaced by @value (or removed when NULL). */
static GVariant *
config_with (GUnixFDList *fds, const char *key, GVariant *value)
{
  g_autoptr (GVariant) base = g_variant_ref_sink (guest_config ("echo", fds, NULL, FALSE));
  g_autoptr (GVariant) owned = value ? g_variant_ref_sink (value) : NULL;
  GVariantBuilder builder;
  GVariantIter iter;
  const char *k;
  GVariant *v;

  g_variant_builder_init (&builder, G_VARIANT_TYPE_VARDICT);
  g_variant_iter_init (&iter, base);
  while (g_variant_iter_next (&iter, "{&sv}", &k, &v))
    {
      if (strcmp (k, key) != 0)
        g_variant_builder_add (&builder, "{sv}", k, v);
      g_variant_unref (v);
    }
  if (value)
    g_variant_builder_add (&builder, "{sv}", key, value);
  return g_variant_builder_end (&builder);
}

static void
test_bad_calls (void)
{
  Worker worker;
  g_autoptr (GError) error = NULL;
  g_autoptr (GUnixFDList) fds = NULL;
  g_autoptr (GUnixFDList) no_fds = g_unix_fd_list_new ();

  if (!worker_spawn (&worker))
    return;

  /* Nothing to act on before Start. */
  vireo_worker1_call_pause_sync (worker.proxy, NULL, &error);
  assert_vireo_error (error, "InvalidState");
  g_clear_error (&error);
  vireo_worker1_call_turn_off_sync (worker.proxy, NULL, &error);
  assert_vireo_error (error, "InvalidState");
  g_clear_error (&error);
  vireo_worker1_call_save_sync (worker.proxy, NULL, &error);
  assert_vireo_error (error, "InvalidState");
  g_clear_error (&error);
  vireo_worker1_call_set_link_sync (worker.proxy, "net0", FALSE, NULL, &error);
  assert_vireo_error (error, "InvalidState");
  g_clear_error (&error);
  {
    g_autoptr (GVariant) addresses = vireo_worker1_dup_guest_addresses (worker.proxy);
    g_assert_nonnull (addresses);
    g_assert_cmpuint (g_variant_n_children (addresses), ==, 0);
  }
  {
    g_autoptr (GVariant) handle = NULL;
    g_autoptr (GUnixFDList) out = NULL;
    vireo_worker1_call_open_serial_sync (worker.proxy, getuid (), NULL, &handle, &out, NULL, &error);
    assert_vireo_error (error, "InvalidState");
    g_clear_error (&error);
  }

  /* Configurations that are wrong leave the worker waiting for a good one. */
  fds = g_unix_fd_list_new ();
  start_expecting_error (&worker, config_with (fds, "kernel", NULL), fds, "InvalidArgument");
  g_clear_object (&fds);
  fds = g_unix_fd_list_new ();
  start_expecting_error (&worker, config_with (fds, "kernel", g_variant_new_handle (7)), fds,
                         "InvalidArgument");
  g_clear_object (&fds);
  fds = g_unix_fd_list_new ();
  start_expecting_error (&worker, config_with (fds, "kvm-fd", g_variant_new_handle (-1)), fds,
                         "InvalidArgument");
  g_clear_object (&fds);
  fds = g_unix_fd_list_new ();
  /* The kernel where /dev/kvm should be. */
  start_expecting_error (&worker, config_with (fds, "kvm-fd", g_variant_new_handle (1)), fds,
                         "InvalidArgument");
  g_clear_object (&fds);
  fds = g_unix_fd_list_new ();
  start_expecting_error (&worker, config_with (fds, "memory", g_variant_new_string ("lots")), fds,
                         "InvalidArgument");
  g_clear_object (&fds);
  fds = g_unix_fd_list_new ();
  start_expecting_error (&worker, config_with (fds, "memory", g_variant_new_uint64 (G_MAXUINT64)), fds,
                         "InvalidArgument");
  g_clear_object (&fds);
  fds = g_unix_fd_list_new ();
  start_expecting_error (&worker, config_with (fds, "vcpus", g_variant_new_uint32 (0)), fds,
                         "InvalidArgument");
  g_clear_object (&fds);
  fds = g_unix_fd_list_new ();
  start_expecting_error (&worker, config_with (fds, "cpuid-mask", g_variant_new_string ("-no-such-bit")), fds,
                         "InvalidArgument");
  g_clear_object (&fds);
  fds = g_unix_fd_list_new ();
  start_expecting_error (&worker, config_with (fds, "disks", g_variant_new_string ("/dev/sda")), fds,
                         "InvalidArgument");
  g_clear_object (&fds);
  fds = g_unix_fd_list_new ();
  start_expecting_error (&worker, config_with (fds, "restore", g_variant_new_boolean (TRUE)), fds,
                         "InvalidArgument");
  g_clear_object (&fds);
  /* A spec from a newer vireod, and one that names a device the core lacks. */
  fds = g_unix_fd_list_new ();
  start_expecting_error (&worker, config_with (fds, "version", g_variant_new_uint32 (2)), fds,
                         "InvalidArgument");
  g_clear_object (&fds);
  fds = g_unix_fd_list_new ();
  start_expecting_error (
      &worker, config_with (fds, "devices", g_variant_new_parsed ("[('floppy', 'fd0', @a{sv} {})]")), fds,
      "InvalidArgument");
  g_clear_object (&fds);
  start_expecting_error (&worker, g_variant_new ("a{sv}", NULL), no_fds, "InvalidArgument");
  g_assert_cmpstr (vireo_worker1_get_state (worker.proxy), ==, "idle");
  g_assert_false (worker.exited);

  /* A good one starts the machine, once. */
  worker_start (&worker, "echo");
  fds = g_unix_fd_list_new ();
  start_expecting_error (&worker, guest_config ("echo", fds, NULL, FALSE), fds, "InvalidState");
  g_clear_object (&fds);
  vireo_worker1_call_resume_sync (worker.proxy, NULL, &error);
  assert_vireo_error (error, "InvalidState");
  g_clear_error (&error);
  /* The cable of a NIC it does not have, or of a device that is no NIC. */
  vireo_worker1_call_set_link_sync (worker.proxy, "net0", FALSE, NULL, &error);
  assert_vireo_error (error, "NotFound");
  g_clear_error (&error);
  vireo_worker1_call_set_link_sync (worker.proxy, "serial0", FALSE, NULL, &error);
  assert_vireo_error (error, "NotFound");
  g_clear_error (&error);
  /* Started without a state folder, it cannot be saved. */
  vireo_worker1_call_save_sync (worker.proxy, NULL, &error);
  assert_vireo_error (error, "NotSupported");
  g_clear_error (&error);
  assert_state_becomes (&worker, "running");
  g_assert_false (worker.exited);
  worker_clear (&worker);
}

static void
test_start_failed (void)
{
  Worker worker;
  g_autoptr (GUnixFDList) fds = g_unix_fd_list_new ();
  g_autoptr (GError) error = NULL;
  g_autofree char *path = NULL;
  GVariantBuilder builder;
  int kvm_fd, kernel_fd;

  if (!worker_spawn (&worker))
    return;
  /* A "kernel" that is not one: the core refuses it while building the machine. */
  kernel_fd = g_file_open_tmp ("vireo-not-a-kernel-XXXXXX", &path, &error);
  g_assert_no_error (error);
  g_assert_cmpint (write (kernel_fd, "garbage, not an ELF or a bzImage", 32), ==, 32);
  g_unlink (path);
  kvm_fd = open ("/dev/kvm", O_RDWR | O_CLOEXEC);
  g_assert_cmpint (g_unix_fd_list_append (fds, kvm_fd, &error), ==, 0);
  g_assert_cmpint (g_unix_fd_list_append (fds, kernel_fd, &error), ==, 1);
  close (kvm_fd);
  close (kernel_fd);
  g_variant_builder_init (&builder, G_VARIANT_TYPE_VARDICT);
  g_variant_builder_add (&builder, "{sv}", "version", g_variant_new_uint32 (1));
  g_variant_builder_add (&builder, "{sv}", "kvm-fd", g_variant_new_handle (0));
  g_variant_builder_add (&builder, "{sv}", "kernel", g_variant_new_handle (1));

  start_expecting_error (&worker, g_variant_builder_end (&builder), fds, "InvalidArgument");
  assert_state_becomes (&worker, "ended");
  g_assert_cmpstr (vireo_worker1_get_exit_reason (worker.proxy), ==, "start-failed");
  g_assert_cmpstr (vireo_worker1_get_exit_message (worker.proxy), !=, "");
  worker_close_connection (&worker);
  g_assert_cmpint (worker_wait_exit (&worker, WAIT_SECONDS), ==, 0);
  worker_clear (&worker);
}

static void
test_save_restore (void)
{
  Worker worker;
  g_autoptr (GString) seen = g_string_new (NULL);
  g_autoptr (GString) after = g_string_new (NULL);
  g_autoptr (GUnixFDList) fds = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *state_dir = NULL;
  g_autoptr (GDir) dir = NULL;
  const char *name;
  int fd;

  if (!worker_spawn (&worker))
    return;
  state_dir = g_dir_make_tmp ("vireo-worker-state-XXXXXX", &error);
  g_assert_no_error (error);

  fds = g_unix_fd_list_new ();
  vireo_worker1_call_start_sync (worker.proxy, guest_config ("echo", fds, state_dir, FALSE), fds, NULL, NULL,
                                 &error);
  g_assert_no_error (error);
  g_clear_object (&fds);
  fd = worker_open_serial (&worker);
  g_assert_true (serial_wait_for (fd, seen, "echo ready\n"));
  serial_type (fd, "before");
  g_assert_true (serial_wait_for (fd, seen, "echo ready\nbefore"));

  vireo_worker1_call_save_sync (worker.proxy, NULL, &error);
  g_assert_no_error (error);
  assert_state_becomes (&worker, "ended");
  g_assert_cmpstr (vireo_worker1_get_exit_reason (worker.proxy), ==, "saved");
  close (fd);
  worker_close_connection (&worker);
  g_assert_cmpint (worker_wait_exit (&worker, WAIT_SECONDS), ==, 0);
  worker_clear (&worker);

  /* A new worker continues the guest where it was: it echoes without printing "echo ready" again. */
  if (!worker_spawn (&worker))
    return;
  fds = g_unix_fd_list_new ();
  vireo_worker1_call_start_sync (worker.proxy, guest_config ("echo", fds, state_dir, TRUE), fds, NULL, NULL,
                                 &error);
  g_assert_no_error (error);
  assert_state_becomes (&worker, "running");
  fd = worker_open_serial (&worker);
  serial_type (fd, "after");
  g_assert_true (serial_wait_for (fd, after, "after"));
  g_assert_null (strstr (after->str, "echo ready"));
  serial_type (fd, "q");
  g_assert_true (serial_wait_for (fd, after, "echo done\n"));
  assert_state_becomes (&worker, "ended");
  g_assert_cmpstr (vireo_worker1_get_exit_reason (worker.proxy), ==, "power-off");
  close (fd);
  worker_clear (&worker);

  dir = g_dir_open (state_dir, 0, NULL);
  while (dir && (name = g_dir_read_name (dir)))
    {
      g_autofree char *path = g_build_filename (state_dir, name, NULL);
      g_unlink (path);
    }
  g_rmdir (state_dir);
}

int
main (int argc, char **argv)
{
  if (argc == 3 && strcmp (argv[1], "--connect-to") == 0)
    return connect_and_print_state (argv[2]);

  test_program = argv[0];
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/worker/hello", test_hello);
  g_test_add_func ("/worker/linger", test_linger);
  g_test_add_func ("/worker/echo-serial", test_echo_serial);
  g_test_add_func ("/worker/pause-resume", test_pause_resume);
  g_test_add_func ("/worker/power-button", test_power_button);
  g_test_add_func ("/worker/turn-off", test_turn_off);
  g_test_add_func ("/worker/reset", test_reset);
  g_test_add_func ("/worker/reset-loop", test_reset_loop);
  g_test_add_func ("/worker/triple-fault-loop", test_triple_fault_loop);
  g_test_add_func ("/worker/reattach", test_reattach);
  g_test_add_func ("/worker/exit-record", test_exit_record);
  g_test_add_func ("/worker/sigterm", test_sigterm);
  g_test_add_func ("/worker/peer-credentials", test_peer_credentials);
  g_test_add_func ("/worker/idle-hangup", test_idle_hangup);
  g_test_add_func ("/worker/bad-calls", test_bad_calls);
  g_test_add_func ("/worker/start-failed", test_start_failed);
  g_test_add_func ("/worker/save-restore", test_save_restore);
  worker_add_device_tests ();
  worker_add_checkpoint_tests ();
  return g_test_run ();
}
