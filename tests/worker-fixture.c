/* worker-fixture.c — a vireo-worker under test: spawned and attached as vireod does it, waited on and cleared,
 * started on test guests; and clients of its serial console. */
#include "worker-fixture.h"

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
void
spin (unsigned ms)
{
  gboolean done = FALSE;
  g_timeout_add (ms, set_flag, &done);
  while (!done)
    g_main_context_iteration (NULL, TRUE);
}

static void
on_worker_exited (GObject *source, GAsyncResult *result, gpointer data)
{
  Worker *worker = data;
  g_subprocess_wait_finish (G_SUBPROCESS (source), result, NULL);
  worker->exited = TRUE;
}

void
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
gboolean
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
int
worker_wait_exit (Worker *worker, unsigned seconds)
{
  g_assert_true (wait_until (worker_has_exited, worker, seconds));
  return g_subprocess_get_if_exited (worker->process) ? g_subprocess_get_exit_status (worker->process) : -1;
}

/* Hangs up as vireod going away would. */
void
worker_close_connection (Worker *worker)
{
  g_clear_object (&worker->proxy);
  /* A worker that exited first has closed it already. */
  if (worker->connection && !g_dbus_connection_is_closed (worker->connection))
    g_dbus_connection_close_sync (worker->connection, NULL, NULL);
  g_clear_object (&worker->connection);
}

void
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

void
assert_state_becomes (Worker *worker, const char *state)
{
  StateWait wait = { worker, state };
  if (!wait_until (state_is, &wait, WAIT_SECONDS))
    g_error ("the worker's State is “%s”, expected “%s” (ExitReason “%s”: %s)",
             vireo_worker1_get_state (worker->proxy), state, vireo_worker1_get_exit_reason (worker->proxy),
             vireo_worker1_get_exit_message (worker->proxy));
}

/* The a{sv} and fd list for booting test guest @name. */
GVariant *
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

void
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
void
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

int
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
gboolean
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

gboolean
serial_wait_for (int fd, GString *seen, const char *needle)
{
  return serial_wait_for_count (fd, seen, needle, 1, WAIT_SECONDS);
}

void
serial_type (int fd, const char *text)
{
  g_assert_cmpint (write (fd, text, strlen (text)), ==, (gssize) strlen (text));
}

/* Everything that arrives on @fd within @ms milliseconds. */
char *
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
