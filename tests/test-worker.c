/* test-worker.c — vireo-worker driven the way vireod drives it: spawned with a socketpair, spoken to
 * through the generated org.vireo.Worker1 proxy, re-attached through its socket; and its serial
 * multiplexer on its own (no KVM needed for that part). */
#include "net-options.h"
#include "serial-mux.h"
#include "test-util.h"
#include "vireo-worker-generated.h"

#include <errno.h>
#include <fcntl.h>
#include <gio/gunixfdlist.h>
#include <glib-unix.h>
#include <glib/gstdio.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <arpa/inet.h>
#include <net/if.h>
#include <sched.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#define TEST_UUID    "2f6bb3a4-6a0c-4c0e-9c53-0d9b1f6f1a01"
#define WAIT_SECONDS 60

/* ---- main-loop helpers ---- */

typedef gboolean (*Condition) (gpointer data);

static gboolean
set_flag (gpointer data)
{
  *(gboolean *) data = TRUE;
  return G_SOURCE_REMOVE;
}

/* Runs the default main context until @condition holds or @seconds pass. */
static gboolean
wait_until (Condition condition, gpointer data, unsigned seconds)
{
  gboolean timed_out = FALSE;
  guint timeout = g_timeout_add_seconds (seconds, set_flag, &timed_out);

  while (!condition (data) && !timed_out)
    g_main_context_iteration (NULL, TRUE);
  if (!timed_out)
    g_source_remove (timeout);
  return condition (data);
}

/* Runs the default main context for @ms milliseconds. */
static void
spin (unsigned ms)
{
  gboolean done = FALSE;
  g_timeout_add (ms, set_flag, &done);
  while (!done)
    g_main_context_iteration (NULL, TRUE);
}

/* ---- a worker under test ---- */

typedef struct
{
  GSubprocess *process;
  char *dir;
  char *socket_path;
  GDBusConnection *connection;
  VireoWorker1 *proxy;
  gboolean exited;
} Worker;

static void
on_worker_exited (GObject *source, GAsyncResult *result, gpointer data)
{
  Worker *worker = data;
  g_subprocess_wait_finish (G_SUBPROCESS (source), result, NULL);
  worker->exited = TRUE;
}

static void
worker_attach_proxy (Worker *worker, GDBusConnection *connection)
{
  g_autoptr (GError) error = NULL;

  g_clear_object (&worker->proxy);
  g_clear_object (&worker->connection);
  worker->connection = connection;
  worker->proxy = vireo_worker1_proxy_new_sync (connection, G_DBUS_PROXY_FLAGS_NONE, NULL,
                                                "/org/vireo/Worker1", NULL, &error);
  g_assert_no_error (error);
}

/* Spawns vireo-worker as vireod does and connects over the socketpair; FALSE (test skipped) without KVM.
 */
static gboolean
worker_spawn (Worker *worker)
{
  g_autoptr (GSubprocessLauncher) launcher = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (GSocket) socket = NULL;
  g_autoptr (GSocketConnection) stream = NULL;
  const char *binary = g_getenv ("VIREO_WORKER");
  GDBusConnection *connection;
  int pair[2];

  memset (worker, 0, sizeof *worker);
  if (!vireo_test_require_kvm ())
    return FALSE;

  worker->dir = g_dir_make_tmp ("vireo-worker-XXXXXX", &error);
  g_assert_no_error (error);
  worker->socket_path = g_build_filename (worker->dir, "worker.sock", NULL);

  g_assert_cmpint (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair), ==, 0);
  launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_NONE);
  g_subprocess_launcher_take_fd (launcher, pair[1], 3);
  worker->process = g_subprocess_launcher_spawn (
      launcher, &error, binary ? binary : "service/worker/vireo-worker", "--uuid", TEST_UUID, "--socket",
      worker->socket_path, "--connection-fd", "3", NULL);
  g_assert_no_error (error);
  g_subprocess_wait_async (worker->process, NULL, on_worker_exited, worker);

  socket = g_socket_new_from_fd (pair[0], &error);
  g_assert_no_error (error);
  stream = g_socket_connection_factory_create_connection (socket);
  connection = g_dbus_connection_new_sync (G_IO_STREAM (stream), NULL,
                                           G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT, NULL, NULL, &error);
  g_assert_no_error (error);
  worker_attach_proxy (worker, connection);
  return TRUE;
}

static gboolean
worker_has_exited (gpointer data)
{
  return ((Worker *) data)->exited;
}

/* Waits for the process to end and returns its exit status (-1 when killed by a signal). */
static int
worker_wait_exit (Worker *worker, unsigned seconds)
{
  g_assert_true (wait_until (worker_has_exited, worker, seconds));
  return g_subprocess_get_if_exited (worker->process) ? g_subprocess_get_exit_status (worker->process) : -1;
}

/* Hangs up as vireod going away would. */
static void
worker_close_connection (Worker *worker)
{
  g_clear_object (&worker->proxy);
  /* A worker that exited first has closed it already. */
  if (worker->connection && !g_dbus_connection_is_closed (worker->connection))
    g_dbus_connection_close_sync (worker->connection, NULL, NULL);
  g_clear_object (&worker->connection);
}

static void
worker_clear (Worker *worker)
{
  g_autofree char *record = NULL;

  worker_close_connection (worker);
  if (worker->process && !worker->exited)
    {
      g_subprocess_force_exit (worker->process);
      wait_until (worker_has_exited, worker, WAIT_SECONDS);
    }
  g_clear_object (&worker->process);
  if (worker->dir)
    {
      record = g_strconcat (worker->socket_path, ".exit", NULL);
      g_unlink (record);
      g_unlink (worker->socket_path);
      g_rmdir (worker->dir);
    }
  g_clear_pointer (&worker->socket_path, g_free);
  g_clear_pointer (&worker->dir, g_free);
}

typedef struct
{
  Worker *worker;
  const char *state;
} StateWait;

static gboolean
state_is (gpointer data)
{
  StateWait *wait = data;
  return g_strcmp0 (vireo_worker1_get_state (wait->worker->proxy), wait->state) == 0;
}

static void
assert_state_becomes (Worker *worker, const char *state)
{
  StateWait wait = { worker, state };
  if (!wait_until (state_is, &wait, WAIT_SECONDS))
    g_error ("the worker's State is “%s”, expected “%s” (ExitReason “%s”: %s)",
             vireo_worker1_get_state (worker->proxy), state, vireo_worker1_get_exit_reason (worker->proxy),
             vireo_worker1_get_exit_message (worker->proxy));
}

/* The a{sv} and fd list for booting test guest @name. */
static GVariant *
guest_config (const char *name, GUnixFDList *fds, const char *state_dir, gboolean restore)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *path = vireo_test_guest_path (name);
  GVariantBuilder builder;
  int kvm_fd = open ("/dev/kvm", O_RDWR | O_CLOEXEC);
  int kernel_fd = open (path, O_RDONLY | O_CLOEXEC);
  int kvm_index, kernel_index;

  g_assert_cmpint (kvm_fd, >=, 0);
  g_assert_cmpint (kernel_fd, >=, 0);
  kvm_index = g_unix_fd_list_append (fds, kvm_fd, &error);
  g_assert_no_error (error);
  kernel_index = g_unix_fd_list_append (fds, kernel_fd, &error);
  g_assert_no_error (error);
  close (kvm_fd);
  close (kernel_fd);

  g_variant_builder_init (&builder, G_VARIANT_TYPE_VARDICT);
  g_variant_builder_add (&builder, "{sv}", "version", g_variant_new_uint32 (1));
  g_variant_builder_add (&builder, "{sv}", "memory", g_variant_new_uint64 (64 << 20));
  g_variant_builder_add (&builder, "{sv}", "vcpus", g_variant_new_uint32 (1));
  g_variant_builder_add (&builder, "{sv}", "kvm-fd", g_variant_new_handle (kvm_index));
  g_variant_builder_add (&builder, "{sv}", "kernel", g_variant_new_handle (kernel_index));
  g_variant_builder_add (&builder, "{sv}", "devices",
                         g_variant_new_parsed ("[('serial', 'serial0', @a{sv} {})]"));
  if (state_dir)
    {
      int dir_fd = open (state_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
      int dir_index;
      g_assert_cmpint (dir_fd, >=, 0);
      dir_index = g_unix_fd_list_append (fds, dir_fd, &error);
      g_assert_no_error (error);
      close (dir_fd);
      g_variant_builder_add (&builder, "{sv}", "state-dir-fd", g_variant_new_handle (dir_index));
    }
  if (restore)
    g_variant_builder_add (&builder, "{sv}", "restore", g_variant_new_boolean (TRUE));
  return g_variant_builder_end (&builder);
}

static gboolean
has_started (gpointer data)
{
  Worker *worker = data;
  const char *state = vireo_worker1_get_state (worker->proxy);
  return g_strcmp0 (state, "running") == 0 || g_strcmp0 (state, "ended") == 0;
}

static void
worker_start (Worker *worker, const char *guest)
{
  g_autoptr (GUnixFDList) fds = g_unix_fd_list_new ();
  g_autoptr (GError) error = NULL;
  GVariant *config = guest_config (guest, fds, NULL, FALSE);

  vireo_worker1_call_start_sync (worker->proxy, config, fds, NULL, NULL, &error);
  g_assert_no_error (error);
  /* A guest as quick as hello may be over before the proxy hears of "running". */
  g_assert_true (wait_until (has_started, worker, WAIT_SECONDS));
}

/* Asserts @error is the D-Bus error org.vireo.Vireo1.Error.@name. */
static void
assert_vireo_error (const GError *error, const char *name)
{
  g_autofree char *remote = NULL;
  g_autofree char *expected = g_strconcat ("org.vireo.Vireo1.Error.", name, NULL);

  g_assert_nonnull (error);
  remote = g_dbus_error_get_remote_error (error);
  if (g_strcmp0 (remote, expected) != 0)
    g_error ("expected %s, got %s: %s", expected, remote, error->message);
  g_test_message ("%s: %s", name, error->message);
}

/* ---- serial console clients ---- */

static int
worker_open_serial (Worker *worker)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GVariant) handle = NULL;
  g_autoptr (GUnixFDList) fds = NULL;
  int fd;

  vireo_worker1_call_open_serial_sync (worker->proxy, getuid (), NULL, &handle, &fds, NULL, &error);
  g_assert_no_error (error);
  g_assert_nonnull (fds);
  fd = g_unix_fd_list_get (fds, g_variant_get_handle (handle), &error);
  g_assert_no_error (error);
  return fd;
}

/* Reads from @fd into @seen until it holds @needle @count times; FALSE after @seconds or at end of file.
 */
static gboolean
serial_wait_for_count (int fd, GString *seen, const char *needle, unsigned count, unsigned seconds)
{
  gint64 deadline = g_get_monotonic_time () + (gint64) seconds * G_USEC_PER_SEC;

  for (;;)
    {
      unsigned found = 0;
      struct pollfd pfd = { .fd = fd, .events = POLLIN };
      char buffer[4096];
      gint64 left;
      ssize_t n;

      for (const char *p = strstr (seen->str, needle); p; p = strstr (p + 1, needle))
        found++;
      if (found >= count)
        return TRUE;
      left = deadline - g_get_monotonic_time ();
      if (left <= 0)
        return FALSE;
      if (poll (&pfd, 1, (int) (left / 1000) + 1) <= 0)
        continue;
      n = read (fd, buffer, sizeof buffer);
      if (n <= 0)
        return FALSE;
      g_string_append_len (seen, buffer, n);
    }
}

static gboolean
serial_wait_for (int fd, GString *seen, const char *needle)
{
  return serial_wait_for_count (fd, seen, needle, 1, WAIT_SECONDS);
}

static void
serial_type (int fd, const char *text)
{
  g_assert_cmpint (write (fd, text, strlen (text)), ==, (gssize) strlen (text));
}

/* Everything that arrives on @fd within @ms milliseconds. */
static char *
serial_read_for (int fd, unsigned ms)
{
  GString *seen = g_string_new (NULL);
  gint64 deadline = g_get_monotonic_time () + ms * 1000;
  gint64 left;

  while ((left = deadline - g_get_monotonic_time ()) > 0)
    {
      struct pollfd pfd = { .fd = fd, .events = POLLIN };
      char buffer[4096];
      ssize_t n;

      if (poll (&pfd, 1, (int) (left / 1000) + 1) <= 0)
        continue;
      n = read (fd, buffer, sizeof buffer);
      if (n <= 0)
        break;
      g_string_append_len (seen, buffer, n);
    }
  return g_string_free (seen, FALSE);
}

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

/* ---- checkpoints ---- */

/* The config of guest @name (with @cmdline) and @devices (a(ssa{sv}) text, "%h" for the disk's fd)
 * for the disk at @disk_path (or none). */
static GVariant *
checkpoint_config (const char *name, const char *cmdline, GUnixFDList *fds, const char *disk_path,
                   const char *devices)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GVariant) base = g_variant_ref_sink (guest_config (name, fds, NULL, FALSE));
  g_auto (GVariantDict) dict = G_VARIANT_DICT_INIT (base);

  if (cmdline)
    g_variant_dict_insert (&dict, "cmdline", "s", cmdline);
  if (disk_path)
    {
      int fd = open (disk_path, O_RDWR | O_CLOEXEC);
      int index;

      g_assert_cmpint (fd, >=, 0);
      index = g_unix_fd_list_append (fds, fd, &error);
      g_assert_no_error (error);
      close (fd);
      g_variant_dict_insert_value (&dict, "devices", g_variant_new_parsed (devices, index));
    }
  else if (devices)
    g_variant_dict_insert_value (&dict, "devices", g_variant_new_parsed (devices));
  return g_variant_dict_end (&dict);
}

/* A folder for a checkpoint's state, as an fd in @fds (its index in *@index). */
static char *
checkpoint_dir (GUnixFDList *fds, int *index)
{
  g_autoptr (GError) error = NULL;
  char *path = g_dir_make_tmp ("vireo-checkpoint-XXXXXX", &error);
  int fd;

  g_assert_no_error (error);
  fd = open (path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  g_assert_cmpint (fd, >=, 0);
  *index = g_unix_fd_list_append (fds, fd, &error);
  g_assert_no_error (error);
  close (fd);
  return path;
}

static char *
make_qcow2 (const char *dir, const char *name)
{
  char *path = g_build_filename (dir, name, NULL);
  const char *argv[] = { "qemu-img", "create", "-q", "-f", "qcow2", path, "16M", NULL };

  g_assert_cmpint (vireo_test_run_judge (argv, NULL), ==, 0);
  return path;
}

static char *
snapshot_list (const char *path)
{
  const char *argv[] = { "qemu-img", "snapshot", "-l", path, NULL };
  char *out = NULL;

  g_assert_cmpint (vireo_test_run_judge (argv, &out), ==, 0);
  return out;
}

static uint64_t
last_tick (const char *text)
{
  const char *p = text;
  const char *found = NULL;

  while ((p = strstr (p, "tick ")) != NULL)
    {
      if (strchr (p, '\n'))
        found = p;
      p += 5;
    }
  return found ? g_ascii_strtoull (found + 5, NULL, 10) : 0;
}

static GVariant *
create_checkpoint (Worker *worker, const char *name, GVariant *options, GUnixFDList *fds, GError **error)
{
  GVariant *result = NULL;

  vireo_worker1_call_create_checkpoint_sync (worker->proxy, name, options, fds, &result, NULL, NULL, error);
  return result;
}

/* A standard checkpoint (disks and state) of a guest counting in memory, applied in place: the guest
 * counts on from the checkpoint's count and keeps its serial client; the disk has the snapshot, which
 * DeleteCheckpoint removes (twice: the second time is no error); the image stays clean. */
static void
test_checkpoint_apply (void)
{
  Worker worker;
  g_autoptr (GError) error = NULL;
  g_autoptr (GUnixFDList) fds = g_unix_fd_list_new ();
  g_autoptr (GUnixFDList) create_fds = g_unix_fd_list_new ();
  g_autoptr (GUnixFDList) apply_fds = NULL;
  g_autoptr (GVariant) result = NULL;
  g_autoptr (GString) seen = g_string_new (NULL);
  g_autofree char *state_dir = NULL;
  g_autofree char *disk = NULL;
  g_autofree char *disk_dir = NULL;
  g_autofree char *list = NULL;
  const char *check[] = { "qemu-img", "check", "-q", NULL, NULL };
  GVariant *config;
  const char *consistency = NULL;
  gboolean has_state = FALSE;
  uint64_t at_checkpoint, before, first;
  gsize mark;
  int dir_index, serial;
  gint64 start;

  if (!vireo_test_require_programs ((const char *[]){ "qemu-img", NULL }) || !worker_spawn (&worker))
    return;
  disk_dir = g_dir_make_tmp ("vireo-disk-XXXXXX", &error);
  g_assert_no_error (error);
  disk = make_qcow2 (disk_dir, "disk.qcow2");
  config = checkpoint_config ("tick-counter", "spin=3000000", fds, disk,
                              "[('serial', 'serial0', @a{sv} {}), ('virtio-blk', 'vda', {'file': <@h %h>})]");
  vireo_worker1_call_start_sync (worker.proxy, config, fds, NULL, NULL, &error);
  g_assert_no_error (error);
  serial = worker_open_serial (&worker);
  g_assert_true (serial_wait_for (serial, seen, "tick 3\n"));

  /* Taken from a paused machine, whose last tick the serial client then knows for sure. */
  vireo_worker1_call_pause_sync (worker.proxy, NULL, &error);
  g_assert_no_error (error);
  {
    g_autofree char *rest = serial_read_for (serial, 300);
    g_string_append (seen, rest);
  }
  at_checkpoint = last_tick (seen->str);
  state_dir = checkpoint_dir (create_fds, &dir_index);
  result = create_checkpoint (&worker, "vireo-0123456789abcdef",
                              g_variant_new_parsed ("{'state-dir-fd': <@h %h>}", dir_index), create_fds,
                              &error);
  g_assert_no_error (error);
  g_assert_true (g_variant_lookup (result, "consistency", "&s", &consistency));
  g_assert_true (g_variant_lookup (result, "has-state", "b", &has_state));
  g_assert_cmpstr (consistency, ==, "application");
  g_assert_true (has_state);
  assert_state_becomes (&worker, "paused");
  vireo_worker1_call_resume_sync (worker.proxy, NULL, &error);
  g_assert_no_error (error);

  /* Well past it, then back. */
  {
    g_autofree char *later = g_strdup_printf ("tick %" G_GUINT64_FORMAT "\n", at_checkpoint + 6);
    g_assert_true (serial_wait_for (serial, seen, later));
  }
  before = last_tick (seen->str);
  mark = seen->len;
  apply_fds = g_unix_fd_list_new ();
  {
    int fd = open (state_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    dir_index = g_unix_fd_list_append (apply_fds, fd, &error);
    close (fd);
  }
  start = g_get_monotonic_time ();
  vireo_worker1_call_apply_checkpoint_sync (worker.proxy, "vireo-0123456789abcdef",
                                            g_variant_new_parsed ("{'state-dir-fd': <@h %h>}", dir_index),
                                            apply_fds, NULL, NULL, &error);
  g_assert_no_error (error);
  g_test_message ("ApplyCheckpoint answered after %.1f ms", (g_get_monotonic_time () - start) / 1000.0);
  assert_state_becomes (&worker, "running");

  /* The same serial client hears the guest count on from the checkpoint: after the call, a tick lower
   * than the one before it (ticks printed before the pause may still arrive after the call). */
  {
    unsigned ticks = 0;
    uint64_t previous = before;

    for (const char *p = strstr (seen->str, "tick "); p; p = strstr (p + 5, "tick "))
      ticks++;
    g_assert_true (serial_wait_for_count (serial, seen, "tick ", ticks + 8, WAIT_SECONDS));
    first = 0;
    for (const char *p = strstr (seen->str + mark, "\ntick "); p && first == 0; p = strstr (p + 6, "\ntick "))
      {
        char *end = NULL;
        uint64_t tick = g_ascii_strtoull (p + 6, &end, 10);

        /* A line the revert cut ("tick 1" + "2\n" from the checkpoint) is skipped; the last one may not
         * be whole yet. */
        if (*end != '\n')
          {
            if (strchr (end, '\n') == NULL)
              break;
            continue;
          }
        if (tick < previous)
          first = tick;
        previous = tick;
      }
  }
  g_test_message ("ticks: %" G_GUINT64_FORMAT " at the checkpoint, %" G_GUINT64_FORMAT
                  " before applying it, counting again from %" G_GUINT64_FORMAT " after",
                  at_checkpoint, before, first);
  /* At the checkpoint the count was the last tick printed, or one more when the pause came between
   * counting and printing; a revert may cut a line, so the next whole one is one or two on. */
  g_assert_cmpuint (first, >=, at_checkpoint + 1);
  g_assert_cmpuint (first, <=, at_checkpoint + 2);

  /* A machine running on a checkpoint's memory file saves like any other (its pages and the file's). */
  {
    g_autoptr (GUnixFDList) again_fds = g_unix_fd_list_new ();
    g_autoptr (GVariant) again = NULL;
    int again_index;
    g_autofree char *again_dir = checkpoint_dir (again_fds, &again_index);
    g_autofree char *memory = g_build_filename (again_dir, "memory", NULL);
    struct stat st;

    again = create_checkpoint (&worker, "vireo-0123456789abcdee",
                               g_variant_new_parsed ("{'state-dir-fd': <@h %h>}", again_index), again_fds,
                               &error);
    g_assert_no_error (error);
    g_assert_no_errno (stat (memory, &st));
    g_assert_cmpint ((gint64) st.st_blocks * 512, <, st.st_size / 4);
    vireo_worker1_call_delete_checkpoint_sync (worker.proxy, "vireo-0123456789abcdee", NULL, &error);
    g_assert_no_error (error);
    vireo_test_remove_tree (again_dir);
  }

  /* Errors: a snapshot the disk lacks changes nothing. */
  vireo_worker1_call_apply_checkpoint_sync (worker.proxy, "vireo-ffffffffffffffff",
                                            g_variant_new_parsed ("{'state-dir-fd': <@h %h>}", dir_index),
                                            apply_fds, NULL, NULL, &error);
  assert_vireo_error (error, "NotFound");
  g_clear_error (&error);
  vireo_worker1_call_apply_checkpoint_sync (worker.proxy, "vireo-0123456789abcdef",
                                            g_variant_new_parsed ("@a{sv} {}"), NULL, NULL, NULL, &error);
  assert_vireo_error (error, "InvalidArgument");
  g_clear_error (&error);
  /* A folder without a saved state is refused before the disks change, and the machine runs on. */
  {
    g_autoptr (GUnixFDList) empty_fds = g_unix_fd_list_new ();
    int empty_index;
    g_autofree char *empty = checkpoint_dir (empty_fds, &empty_index);

    vireo_worker1_call_apply_checkpoint_sync (worker.proxy, "vireo-0123456789abcdef",
                                              g_variant_new_parsed ("{'state-dir-fd': <@h %h>}", empty_index),
                                              empty_fds, NULL, NULL, &error);
    assert_vireo_error (error, "NotFound");
    g_clear_error (&error);
    g_rmdir (empty);
  }
  assert_state_becomes (&worker, "running");

  vireo_worker1_call_delete_checkpoint_sync (worker.proxy, "vireo-0123456789abcdef", NULL, &error);
  g_assert_no_error (error);
  vireo_worker1_call_delete_checkpoint_sync (worker.proxy, "vireo-0123456789abcdef", NULL, &error);
  g_assert_no_error (error);
  assert_state_becomes (&worker, "running");

  vireo_worker1_call_turn_off_sync (worker.proxy, NULL, &error);
  g_assert_no_error (error);
  close (serial);
  worker_clear (&worker);
  list = snapshot_list (disk);
  g_assert_null (strstr (list, "vireo-0123456789abcdef"));
  check[3] = disk;
  g_assert_cmpint (vireo_test_run_judge (check, NULL), ==, 0);
  vireo_test_remove_tree (state_dir);
  vireo_test_remove_tree (disk_dir);
}

/* Production checkpoints: with the fake guest agent on the port the worker wires itself, freeze then
 * thaw, in that order, and "application"; without an agent, "crash" and no error.  A writable raw
 * disk is refused, named. */
static void
test_checkpoint_production (void)
{
  Worker worker;
  g_autoptr (GError) error = NULL;
  g_autoptr (GUnixFDList) fds = g_unix_fd_list_new ();
  g_autoptr (GVariant) result = NULL;
  g_autoptr (GString) seen = g_string_new (NULL);
  g_autofree char *raw = NULL;
  GVariant *config;
  const char *consistency = NULL;
  const char *freeze, *thaw;
  int serial;

  if (!worker_spawn (&worker))
    return;
  config = checkpoint_config ("agent", NULL, fds, NULL,
                              "[('serial', 'serial0', @a{sv} {}), "
                              "('virtio-serial', 'vserial0', {'ports': <'org.qemu.guest_agent.0'>})]");
  vireo_worker1_call_start_sync (worker.proxy, config, fds, NULL, NULL, &error);
  g_assert_no_error (error);
  serial = worker_open_serial (&worker);
  g_assert_true (serial_wait_for (serial, seen, "agent ready"));
  result = create_checkpoint (&worker, "vireo-00000000000000aa", g_variant_new_parsed ("{'freeze': <true>}"),
                              NULL, &error);
  g_assert_no_error (error);
  g_assert_true (g_variant_lookup (result, "consistency", "&s", &consistency));
  g_assert_cmpstr (consistency, ==, "application");
  g_assert_true (serial_wait_for (serial, seen, "agent: thaw\n"));
  freeze = strstr (seen->str, "agent: freeze\n");
  thaw = strstr (seen->str, "agent: thaw\n");
  g_assert_nonnull (freeze);
  g_assert_true (freeze < thaw);
  assert_state_becomes (&worker, "running");
  g_clear_pointer (&result, g_variant_unref);

  /* A live virtio device through a revert: a standard checkpoint applied in place, after which the
   * agent still answers on its queues. */
  {
    g_autoptr (GUnixFDList) create_fds = g_unix_fd_list_new ();
    g_autoptr (GUnixFDList) apply_fds = g_unix_fd_list_new ();
    g_autofree char *state_dir = NULL;
    gsize mark;
    int dir_index, fd;

    state_dir = checkpoint_dir (create_fds, &dir_index);
    result = create_checkpoint (&worker, "vireo-00000000000000ab",
                                g_variant_new_parsed ("{'state-dir-fd': <@h %h>}", dir_index), create_fds,
                                &error);
    g_assert_no_error (error);
    g_clear_pointer (&result, g_variant_unref);
    fd = open (state_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    dir_index = g_unix_fd_list_append (apply_fds, fd, &error);
    close (fd);
    vireo_worker1_call_apply_checkpoint_sync (worker.proxy, "vireo-00000000000000ab",
                                              g_variant_new_parsed ("{'state-dir-fd': <@h %h>}", dir_index),
                                              apply_fds, NULL, NULL, &error);
    g_assert_no_error (error);
    mark = seen->len;
    result = create_checkpoint (&worker, "vireo-00000000000000ac",
                                g_variant_new_parsed ("{'freeze': <true>}"), NULL, &error);
    g_assert_no_error (error);
    g_assert_true (g_variant_lookup (result, "consistency", "&s", &consistency));
    g_assert_cmpstr (consistency, ==, "application");
    g_assert_true (serial_wait_for_count (serial, seen, "agent: thaw\n", 2, WAIT_SECONDS));
    g_assert_nonnull (strstr (seen->str + mark, "agent: freeze\n"));
    vireo_test_remove_tree (state_dir);
  }
  vireo_worker1_call_turn_off_sync (worker.proxy, NULL, &error);
  g_assert_no_error (error);
  close (serial);
  worker_clear (&worker);
  g_clear_pointer (&result, g_variant_unref);

  /* No agent: crash-consistent. */
  if (!worker_spawn (&worker))
    return;
  g_clear_object (&fds);
  fds = g_unix_fd_list_new ();
  config = checkpoint_config ("tick-counter", NULL, fds, NULL, NULL);
  vireo_worker1_call_start_sync (worker.proxy, config, fds, NULL, NULL, &error);
  g_assert_no_error (error);
  result = create_checkpoint (&worker, "vireo-00000000000000bb", g_variant_new_parsed ("{'freeze': <true>}"),
                              NULL, &error);
  g_assert_no_error (error);
  g_assert_true (g_variant_lookup (result, "consistency", "&s", &consistency));
  g_assert_cmpstr (consistency, ==, "crash");
  vireo_worker1_call_turn_off_sync (worker.proxy, NULL, &error);
  g_assert_no_error (error);
  worker_clear (&worker);
  g_clear_pointer (&result, g_variant_unref);

  /* A writable raw disk. */
  if (!worker_spawn (&worker))
    return;
  raw = g_build_filename (worker.dir, "disk.raw", NULL);
  g_assert_true (g_file_set_contents (raw, "", 0, NULL));
  g_assert_no_errno (truncate (raw, 1 << 20));
  g_clear_object (&fds);
  fds = g_unix_fd_list_new ();
  config = checkpoint_config ("tick-counter", NULL, fds, raw,
                              "[('serial', 'serial0', @a{sv} {}), ('virtio-blk', 'vda', {'file': <@h %h>})]");
  vireo_worker1_call_start_sync (worker.proxy, config, fds, NULL, NULL, &error);
  g_assert_no_error (error);
  result = create_checkpoint (&worker, "vireo-00000000000000cc", g_variant_new_parsed ("@a{sv} {}"), NULL,
                              &error);
  assert_vireo_error (error, "NotSupported");
  g_assert_nonnull (strstr (error->message, "vda"));
  g_clear_error (&error);
  assert_state_becomes (&worker, "running");
  vireo_worker1_call_turn_off_sync (worker.proxy, NULL, &error);
  g_assert_no_error (error);
  g_unlink (raw);
  worker_clear (&worker);
}

/* The benchmark's case through the worker (with -m slow): a 1 GiB guest with 512 MiB touched; how long
 * CreateCheckpoint (with state) takes, and how long after the ApplyCheckpoint call the guest runs again
 * (the worker's own measurement, in its debug output) and the call is answered.  Timings are reported,
 * not judged. */
static void
test_checkpoint_apply_large (void)
{
  Worker worker;
  g_autoptr (GError) error = NULL;
  g_autoptr (GUnixFDList) fds = g_unix_fd_list_new ();
  g_autoptr (GUnixFDList) create_fds = g_unix_fd_list_new ();
  g_autoptr (GUnixFDList) apply_fds = g_unix_fd_list_new ();
  g_autoptr (GVariant) result = NULL;
  g_autoptr (GVariant) base = NULL;
  g_autoptr (GString) seen = g_string_new (NULL);
  g_autofree char *state_dir = NULL;
  g_autofree char *disk_dir = NULL;
  g_autofree char *disk = NULL;
  g_auto (GVariantDict) dict = G_VARIANT_DICT_INIT (NULL);
  int dir_index, serial, fd;
  gint64 start;

  if (!g_test_slow ())
    {
      g_test_skip ("a benchmark: run with -m slow");
      return;
    }
  if (!vireo_test_require_programs ((const char *[]){ "qemu-img", NULL }) || !worker_spawn (&worker))
    return;
  disk_dir = g_dir_make_tmp ("vireo-disk-XXXXXX", &error);
  disk = make_qcow2 (disk_dir, "disk.qcow2");
  base = g_variant_ref_sink (
      checkpoint_config ("tick-counter", "spin=3000000 touch=512", fds, disk,
                         "[('serial', 'serial0', @a{sv} {}), ('virtio-blk', 'vda', {'file': <@h %h>})]"));
  g_variant_dict_init (&dict, base);
  g_variant_dict_insert (&dict, "memory", "t", (guint64) 1 << 30);
  vireo_worker1_call_start_sync (worker.proxy, g_variant_dict_end (&dict), fds, NULL, NULL, &error);
  g_assert_no_error (error);
  serial = worker_open_serial (&worker);
  g_assert_true (serial_wait_for (serial, seen, "touched 512 MiB"));
  g_assert_true (serial_wait_for (serial, seen, "tick 2\n"));

  state_dir = checkpoint_dir (create_fds, &dir_index);
  start = g_get_monotonic_time ();
  result = create_checkpoint (&worker, "vireo-0000000000000001",
                              g_variant_new_parsed ("{'state-dir-fd': <@h %h>}", dir_index), create_fds,
                              &error);
  g_assert_no_error (error);
  g_test_message ("1 GiB, 512 MiB touched: CreateCheckpoint with state took %.1f ms",
                  (g_get_monotonic_time () - start) / 1000.0);
  g_assert_true (serial_wait_for (serial, seen, "tick 8\n"));

  fd = open (state_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  dir_index = g_unix_fd_list_append (apply_fds, fd, &error);
  close (fd);
  start = g_get_monotonic_time ();
  vireo_worker1_call_apply_checkpoint_sync (worker.proxy, "vireo-0000000000000001",
                                            g_variant_new_parsed ("{'state-dir-fd': <@h %h>}", dir_index),
                                            apply_fds, NULL, NULL, &error);
  g_assert_no_error (error);
  g_test_message ("1 GiB, 512 MiB touched: ApplyCheckpoint answered after %.1f ms",
                  (g_get_monotonic_time () - start) / 1000.0);
  /* The guest counts again from the checkpoint's count: after the call, a tick lower than the one before
   * it (ticks printed before the pause may still arrive after the call). */
  {
    gsize mark = seen->len;
    unsigned ticks = 0;
    uint64_t previous = last_tick (seen->str), went_back_to = 0;

    for (const char *p = strstr (seen->str, "tick "); p; p = strstr (p + 5, "tick "))
      ticks++;
    g_assert_true (serial_wait_for_count (serial, seen, "tick ", ticks + 8, WAIT_SECONDS));
    for (const char *p = strstr (seen->str + mark, "\ntick "); p && went_back_to == 0;
         p = strstr (p + 6, "\ntick "))
      {
        char *end = NULL;
        uint64_t tick = g_ascii_strtoull (p + 6, &end, 10);

        /* A line the revert cut ("tick 1" + "2\n" from the checkpoint) is skipped; the last one may not
         * be whole yet. */
        if (*end != '\n')
          {
            if (strchr (end, '\n') == NULL)
              break;
            continue;
          }
        if (tick < previous)
          went_back_to = tick;
        previous = tick;
      }
    g_test_message ("ticks: counting again from %" G_GUINT64_FORMAT " after the apply", went_back_to);
    g_assert_cmpuint (went_back_to, >, 0);
  }

  vireo_worker1_call_turn_off_sync (worker.proxy, NULL, &error);
  g_assert_no_error (error);
  close (serial);
  worker_clear (&worker);
  vireo_test_remove_tree (state_dir);
  vireo_test_remove_tree (disk_dir);
}

int
main (int argc, char **argv)
{
  if (argc == 3 && strcmp (argv[1], "--connect-to") == 0)
    return connect_and_print_state (argv[2]);

  test_program = argv[0];
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/worker/serial-mux/slow-client", test_mux_slow_client);
  g_test_add_func ("/worker/serial-mux/input-backpressure", test_mux_input_backpressure);
  g_test_add_func ("/worker/serial-mux/client-limit", test_mux_client_limit);
  g_test_add_func ("/worker/hello", test_hello);
  g_test_add_func ("/worker/tap", test_tap);
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
  g_test_add_func ("/worker/change-medium", test_change_medium);
  g_test_add_func ("/worker/change-medium-reset", test_change_medium_reset);
  g_test_add_func ("/worker/checkpoint-apply", test_checkpoint_apply);
  g_test_add_func ("/worker/checkpoint-production", test_checkpoint_production);
  g_test_add_func ("/worker/checkpoint-apply-large", test_checkpoint_apply_large);
  return g_test_run ();
}
