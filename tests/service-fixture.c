/* service-fixture.c — what the service-level tests share: the real vireod --session (or --system) on a
 * private bus, calls through the generated proxies, machines made of test guests, their serial consoles,
 * and each test run in a child process (see service-fixture.h). */
#include "service-fixture.h"

#include "test-util.h"

#include <errno.h>
#include <fcntl.h>
#include <gio/gunixfdlist.h>
#include <glib/gstdio.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

void (*service_test_system_cleanup) (const char *base);

/* ---- main-loop helpers ---- */

static gboolean
flag_is_set (gpointer data)
{
  return *(gboolean *) data;
}

/* ---- the service under test ---- */

static void
on_vireod_exited (GObject *source, GAsyncResult *result, gpointer data)
{
  Fixture *f = data;
  g_subprocess_wait_finish (G_SUBPROCESS (source), result, NULL);
  f->vireod_exited = TRUE;
}

static void
on_name_appeared (GDBusConnection *connection, const char *name, const char *owner, gpointer data)
{
  ((Fixture *) data)->name_owned = TRUE;
}

static void
on_name_vanished (GDBusConnection *connection, const char *name, gpointer data)
{
  ((Fixture *) data)->name_owned = FALSE;
}

static gboolean
name_owned_or_vireod_gone (gpointer data)
{
  Fixture *f = data;
  return f->name_owned || f->vireod_exited;
}

static gboolean
name_unowned (gpointer data)
{
  return !((Fixture *) data)->name_owned;
}

void
vireod_start (Fixture *f)
{
  g_autoptr (GSubprocessLauncher) launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_NONE);
  g_autoptr (GError) error = NULL;
  const char *vireod = g_getenv ("VIREOD") ? g_getenv ("VIREOD") : "service/vireod";
  g_autofree char *log_path = g_build_filename (f->base, LOG_FILE, NULL);
  guint watch;
  int log_fd;

  g_assert_null (f->vireod);
  g_subprocess_launcher_setenv (launcher, "XDG_RUNTIME_DIR", f->runtime_dir, TRUE);
  g_subprocess_launcher_setenv (launcher, "DBUS_SESSION_BUS_ADDRESS", g_test_dbus_get_bus_address (f->bus),
                                TRUE);
  if (f->system_mode)
    g_subprocess_launcher_setenv (launcher, "DBUS_SYSTEM_BUS_ADDRESS", g_test_dbus_get_bus_address (f->bus),
                                  TRUE);
  if (f->worker_test_hook)
    g_subprocess_launcher_setenv (launcher, "VIREO_WORKER_TEST_FORBIDDEN_SYSCALL", f->worker_test_hook, TRUE);
  /* Its log and its workers' go to a file that the parent shows when the test fails: processes that
   * outlive a failed child must not hold the pipes g_test_trap_subprocess() waits on. */
  log_fd = open (log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  g_assert_cmpint (log_fd, >=, 0);
  g_subprocess_launcher_take_stdout_fd (launcher, dup (log_fd));
  g_subprocess_launcher_take_stderr_fd (launcher, log_fd);
  if (f->system_mode)
    {
      g_autofree char *runtime = g_build_filename (f->runtime_dir, "vireo", NULL);
      f->vireod = g_subprocess_launcher_spawn (launcher, &error, vireod, "--system", "--storage", f->storage,
                                               "--runtime-dir", runtime, NULL);
    }
  else
    f->vireod = g_subprocess_launcher_spawn (launcher, &error, vireod, "--session", "--storage", f->storage,
                                             NULL);
  g_assert_no_error (error);
  f->vireod_exited = FALSE;
  g_subprocess_wait_async (f->vireod, NULL, on_vireod_exited, f);

  f->name_owned = FALSE;
  watch = g_bus_watch_name_on_connection (f->connection, BUS_NAME, G_BUS_NAME_WATCHER_FLAGS_NONE,
                                          on_name_appeared, on_name_vanished, f, NULL);
  vireo_test_wait_until (name_owned_or_vireod_gone, f, WAIT_SECONDS);
  g_bus_unwatch_name (watch);
  g_assert_false (f->vireod_exited);
  g_assert_true (f->name_owned);

  f->objects = vireo_dbus_object_manager_client_new_sync (
      f->connection, G_DBUS_OBJECT_MANAGER_CLIENT_FLAGS_DO_NOT_AUTO_START, BUS_NAME, ROOT_PATH, NULL, &error);
  g_assert_no_error (error);
  f->manager = vireo_dbus_manager_proxy_new_sync (f->connection, G_DBUS_PROXY_FLAGS_DO_NOT_AUTO_START,
                                                  BUS_NAME, ROOT_PATH, NULL, &error);
  g_assert_no_error (error);
  /* The properties are read at once: an empty cache would mean the interface is not there. */
  g_assert_nonnull (vireo_dbus_manager_get_version (f->manager));
  g_dbus_proxy_set_default_timeout (G_DBUS_PROXY (f->manager), CALL_TIMEOUT_MS);
}

/* SIGTERM, as systemd stops it: vireod must exit cleanly and give up its name. */
void
vireod_stop (Fixture *f)
{
  guint watch;

  g_assert_nonnull (f->vireod);
  g_assert_false (f->vireod_exited);
  g_clear_object (&f->manager);
  g_clear_object (&f->objects);
  g_subprocess_send_signal (f->vireod, SIGTERM);
  g_assert_true (vireo_test_wait_until (flag_is_set, &f->vireod_exited, WAIT_SECONDS));
  g_assert_true (g_subprocess_get_if_exited (f->vireod));
  g_assert_cmpint (g_subprocess_get_exit_status (f->vireod), ==, 0);
  g_clear_object (&f->vireod);

  /* The bus may notice the closed connection a moment after the process ended. */
  f->name_owned = TRUE;
  watch = g_bus_watch_name_on_connection (f->connection, BUS_NAME, G_BUS_NAME_WATCHER_FLAGS_NONE,
                                          on_name_appeared, on_name_vanished, f, NULL);
  g_assert_true (vireo_test_wait_until (name_unowned, f, WAIT_SECONDS));
  g_bus_unwatch_name (watch);
}

void
vireod_restart (Fixture *f)
{
  vireod_stop (f);
  vireod_start (f);
}

void
fixture_setup (Fixture *f, const char *base, gboolean system_mode, const char *worker_test_hook)
{
  g_autoptr (GError) error = NULL;

  memset (f, 0, sizeof *f);
  f->system_mode = system_mode;
  f->worker_test_hook = worker_test_hook;
  f->base = g_strdup (base);
  f->storage = g_build_filename (base, "storage", NULL);
  f->runtime_dir = g_build_filename (base, "run", NULL);
  g_assert_cmpint (g_mkdir_with_parents (f->runtime_dir, 0700), ==, 0);

  f->bus = g_test_dbus_new (G_TEST_DBUS_NONE);
  g_test_dbus_up (f->bus);
  /* Our own connection, not the g_bus_get() singleton that g_test_dbus_down() would wait for. */
  f->connection = g_dbus_connection_new_for_address_sync (
      g_test_dbus_get_bus_address (f->bus),
      G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT | G_DBUS_CONNECTION_FLAGS_MESSAGE_BUS_CONNECTION, NULL,
      NULL, &error);
  g_assert_no_error (error);
  vireod_start (f);
}

void
fixture_teardown (Fixture *f)
{
  /* Whatever the test did, vireod must have survived it. */
  g_assert_false (f->vireod_exited);
  if (f->vireod)
    vireod_stop (f);
  /* Workers outlive vireod on purpose; SIGTERM turns their machines off. */
  g_assert_true (vireo_test_signal_processes ("vireo-worker", f->runtime_dir, SIGTERM, WAIT_SECONDS));
  g_dbus_connection_close_sync (f->connection, NULL, NULL);
  g_clear_object (&f->connection);
  g_test_dbus_down (f->bus);
  g_clear_object (&f->bus);
  g_free (f->base);
  g_free (f->storage);
  g_free (f->runtime_dir);
}

/* ---- D-Bus calls ---- */

static void
store_result (GObject *source, GAsyncResult *result, gpointer data)
{
  *(GAsyncResult **) data = g_object_ref (result);
}

/* Calls @method on @proxy, iterating the main context meanwhile so property changes arrive in the order
 * the service sent them, before the reply. */
GVariant *
call_full (gpointer proxy, const char *method, GVariant *parameters, GUnixFDList **out_fds, GError **error)
{
  g_autoptr (GAsyncResult) result = NULL;

  g_dbus_proxy_call_with_unix_fd_list (G_DBUS_PROXY (proxy), method, parameters,
                                       G_DBUS_CALL_FLAGS_NO_AUTO_START, CALL_TIMEOUT_MS, NULL, NULL,
                                       store_result, &result);
  while (result == NULL)
    g_main_context_iteration (NULL, TRUE);
  return g_dbus_proxy_call_with_unix_fd_list_finish (G_DBUS_PROXY (proxy), out_fds, result, error);
}

void
call_ok (gpointer proxy, const char *method, GVariant *parameters)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GVariant) reply = call_full (proxy, method, parameters, NULL, &error);

  if (error)
    g_test_message ("%s failed: %s", method, error->message);
  g_assert_no_error (error);
  g_assert_nonnull (reply);
}

/* Asserts that @error is the D-Bus error @name and that its message mentions @culprit. */
void
assert_dbus_error (GError *error, const char *name, const char *culprit)
{
  g_autofree char *remote = NULL;

  g_assert_nonnull (error);
  remote = g_dbus_error_get_remote_error (error);
  if (g_strcmp0 (remote, name) != 0)
    g_test_message ("expected %s, got %s: %s", name, remote, error->message);
  g_assert_cmpstr (remote, ==, name);
  g_dbus_error_strip_remote_error (error);
  g_assert_cmpstr (error->message, !=, "");
  if (culprit && strstr (error->message, culprit) == NULL)
    {
      g_test_message ("the message “%s” does not mention “%s”", error->message, culprit);
      g_assert_nonnull (strstr (error->message, culprit));
    }
}

void
call_expect_error (gpointer proxy, const char *method, GVariant *parameters, const char *name,
                   const char *culprit)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GVariant) reply = NULL;

  if (parameters)
    g_variant_ref_sink (parameters);
  reply = call_full (proxy, method, parameters, NULL, &error);
  if (parameters)
    g_variant_unref (parameters);
  g_assert_null (reply);
  assert_dbus_error (error, name, culprit);
}

/* A call on the bus itself (not through a proxy), answered by vireod or the bus. */
GVariant *
bus_call (Fixture *f, const char *path, const char *interface, const char *method, GVariant *parameters,
          GError **error)
{
  g_autoptr (GAsyncResult) result = NULL;

  g_dbus_connection_call (f->connection, BUS_NAME, path, interface, method, parameters, NULL,
                          G_DBUS_CALL_FLAGS_NO_AUTO_START, CALL_TIMEOUT_MS, NULL, store_result, &result);
  while (result == NULL)
    g_main_context_iteration (NULL, TRUE);
  return g_dbus_connection_call_finish (f->connection, result, error);
}

/* vireod answers a call that is not served from a cache. */
void
assert_vireod_answers (Fixture *f)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GVariant) reply = bus_call (f, ROOT_PATH, "org.freedesktop.DBus.Properties", "Get",
                                         g_variant_new ("(ss)", MANAGER_IFACE, "Version"), &error);
  g_autoptr (GVariant) version = NULL;

  g_assert_no_error (error);
  g_variant_get (reply, "(v)", &version);
  g_assert_cmpstr (g_variant_get_string (version, NULL), ==, VIREO_VERSION);
  g_assert_false (f->vireod_exited);
}

/* Every object vireod lists (GetManagedObjects) with interface @iface, as path → its @iface properties. */
GHashTable *
managed_objects (Fixture *f, const char *iface)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GVariant) reply = bus_call (f, ROOT_PATH, "org.freedesktop.DBus.ObjectManager",
                                         "GetManagedObjects", NULL, &error);
  GHashTable *objects_found = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
                                                     (GDestroyNotify) g_variant_unref);
  g_autoptr (GVariant) objects = NULL;
  GVariantIter iter;
  const char *path;
  GVariant *interfaces;

  g_assert_no_error (error);
  objects = g_variant_get_child_value (reply, 0);
  g_variant_iter_init (&iter, objects);
  while (g_variant_iter_next (&iter, "{&o@a{sa{sv}}}", &path, &interfaces))
    {
      GVariant *properties = g_variant_lookup_value (interfaces, iface, G_VARIANT_TYPE_VARDICT);
      if (properties)
        g_hash_table_insert (objects_found, g_strdup (path), properties);
      g_variant_unref (interfaces);
    }
  return objects_found;
}

/* Every machine object vireod lists, as path → its Machine properties. */
GHashTable *
managed_machines (Fixture *f)
{
  return managed_objects (f, MACHINE_IFACE);
}

/* ---- machines ---- */

gboolean
machine_exported (gpointer data)
{
  ObjectQuery *query = data;
  g_autoptr (GDBusInterface) iface = g_dbus_object_manager_get_interface (query->f->objects, query->path,
                                                                          MACHINE_IFACE);
  return iface != NULL;
}

gboolean
machine_gone (gpointer data)
{
  return !machine_exported (data);
}

/* The proxy of the machine at @path, once the object manager client has it. */
VireoDBusMachine *
machine_proxy (Fixture *f, const char *path)
{
  ObjectQuery query = { f, path };
  GDBusInterface *iface;

  g_assert_true (vireo_test_wait_until (machine_exported, &query, WAIT_SECONDS));
  iface = g_dbus_object_manager_get_interface (f->objects, path, MACHINE_IFACE);
  g_dbus_proxy_set_default_timeout (G_DBUS_PROXY (iface), CALL_TIMEOUT_MS);
  return VIREO_DBUS_MACHINE (iface);
}

/* The object path a Manager method (CreateMachine, CreateSwitch) returns, or NULL with @error. */
char *
call_for_path (Fixture *f, const char *method, GVariant *parameters, GError **error)
{
  g_autoptr (GVariant) reply = call_full (f->manager, method, parameters, NULL, error);
  char *path = NULL;

  if (reply)
    g_variant_get (reply, "(o)", &path);
  return path;
}

/* CreateMachine(@settings); returns the new object path, or NULL with @error. */
char *
try_create (Fixture *f, GVariant *settings, GError **error)
{
  return call_for_path (f, "CreateMachine", g_variant_new_tuple (&settings, 1), error);
}

VireoDBusMachine *
create (Fixture *f, GVariant *settings)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *path = try_create (f, settings, &error);

  g_assert_no_error (error);
  g_assert_true (g_variant_is_object_path (path));
  g_assert_true (g_str_has_prefix (path, ROOT_PATH "/machines/"));
  return machine_proxy (f, path);
}

/* {name, kernel: <guest>.elf, memory-mib 64}: the smallest machine that runs a test guest. */
GVariant *
guest_settings (const char *name, const char *guest)
{
  g_autofree char *kernel = vireo_test_guest_path (guest);
  return g_variant_new_parsed ("{'name': <%s>, 'kernel': <%s>, 'memory-mib': <uint64 64>}", name, kernel);
}

VireoDBusMachine *
create_guest (Fixture *f, const char *name, const char *guest)
{
  return create (f, guest_settings (name, guest));
}

const char *
machine_path (VireoDBusMachine *machine)
{
  return g_dbus_proxy_get_object_path (G_DBUS_PROXY (machine));
}

typedef struct
{
  VireoDBusMachine *machine;
  const char *state;
} StateQuery;

static gboolean
state_reached (gpointer data)
{
  StateQuery *query = data;
  return g_strcmp0 (vireo_dbus_machine_get_state (query->machine), query->state) == 0;
}

void
wait_for_state (VireoDBusMachine *machine, const char *state)
{
  StateQuery query = { machine, state };
  if (!vireo_test_wait_until (state_reached, &query, WAIT_SECONDS))
    g_test_message ("“%s” is %s, not %s; LastError: %s", vireo_dbus_machine_get_name (machine),
                    vireo_dbus_machine_get_state (machine), state,
                    vireo_dbus_machine_get_last_error (machine));
  g_assert_cmpstr (vireo_dbus_machine_get_state (machine), ==, state);
}

gboolean
uptime_positive (gpointer data)
{
  return vireo_dbus_machine_get_uptime (data) > 0;
}

void
on_state_changed (GObject *object, GParamSpec *pspec, gpointer data)
{
  g_ptr_array_add (data, g_strdup (vireo_dbus_machine_get_state (VIREO_DBUS_MACHINE (object))));
}

gboolean
strv_has (GPtrArray *strings, const char *wanted)
{
  for (guint i = 0; i < strings->len; i++)
    if (g_str_equal (g_ptr_array_index (strings, i), wanted))
      return TRUE;
  return FALSE;
}

char *
machine_folder (Fixture *f, VireoDBusMachine *machine)
{
  return g_build_filename (f->storage, vireo_dbus_machine_get_uuid (machine), NULL);
}

char *
read_definition (Fixture *f, VireoDBusMachine *machine)
{
  g_autofree char *folder = machine_folder (f, machine);
  g_autofree char *path = g_build_filename (folder, "machine.xml", NULL);
  g_autoptr (GError) error = NULL;
  char *contents = NULL;

  g_file_get_contents (path, &contents, NULL, &error);
  g_assert_no_error (error);
  return contents;
}

/* The running worker process of @machine (there must be exactly one). */
pid_t
worker_pid (VireoDBusMachine *machine)
{
  g_autoptr (GArray) pids = vireo_test_find_processes ("vireo-worker", vireo_dbus_machine_get_uuid (machine));
  g_assert_cmpuint (pids->len, ==, 1);
  return g_array_index (pids, pid_t, 0);
}

/* ---- serial console ---- */

int
open_serial (VireoDBusMachine *machine)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GUnixFDList) fds = NULL;
  g_autoptr (GVariant) reply = call_full (machine, "OpenSerial", NULL, &fds, &error);
  gint32 handle;
  int fd;

  g_assert_no_error (error);
  g_variant_get (reply, "(h)", &handle);
  g_assert_nonnull (fds);
  fd = g_unix_fd_list_get (fds, handle, &error);
  g_assert_no_error (error);
  g_assert_cmpint (fd, >=, 0);
  return fd;
}

/* Reads from @fd into @seen for as long as @text does not appear after offset @from, up to @seconds or
 * the end of the stream.  Returns whether it appeared. */
gboolean
serial_wait_for (int fd, GString *seen, gsize from, const char *text, unsigned seconds)
{
  gint64 deadline = g_get_monotonic_time () + (gint64) seconds * G_USEC_PER_SEC;

  while (from > seen->len || strstr (seen->str + from, text) == NULL)
    {
      struct pollfd pfd = { .fd = fd, .events = POLLIN };
      gint64 left = deadline - g_get_monotonic_time ();
      char buffer[4096];
      ssize_t n;

      if (left <= 0)
        {
          g_test_message ("no “%s” on the serial console; it showed: “%s”", text, seen->str);
          return FALSE;
        }
      if (poll (&pfd, 1, (int) (left / 1000) + 1) <= 0)
        continue;
      n = read (fd, buffer, sizeof buffer);
      if (n < 0 && (errno == EINTR || errno == EAGAIN))
        continue;
      if (n <= 0)
        {
          g_test_message ("the serial console ended without “%s”; it showed: “%s”", text, seen->str);
          return FALSE;
        }
      g_string_append_len (seen, buffer, n);
    }
  return TRUE;
}

/* Collects what @fd delivers during @ms milliseconds. */
void
serial_collect (int fd, GString *seen, unsigned ms)
{
  gint64 deadline = g_get_monotonic_time () + (gint64) ms * 1000;
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
        return;
      g_string_append_len (seen, buffer, n);
    }
}

void
serial_type (int fd, const char *text)
{
  gsize length = strlen (text);
  gsize done = 0;

  while (done < length)
    {
      ssize_t n = write (fd, text + done, length - done);
      if (n < 0 && errno == EINTR)
        continue;
      g_assert_cmpint (n, >, 0);
      done += (gsize) n;
    }
}

/* Starts @machine, opens its serial console and waits for the line @banner, up to its end (the guests
 * write whole lines, which may arrive in pieces). */
int
start_and_wait_for (VireoDBusMachine *machine, const char *banner, GString *seen)
{
  g_autofree char *line = g_strconcat (banner, "\n", NULL);
  int fd;

  call_ok (machine, "Start", NULL);
  g_assert_cmpstr (vireo_dbus_machine_get_state (machine), ==, "running");
  fd = open_serial (machine);
  g_assert_true (serial_wait_for (fd, seen, 0, line, WAIT_SECONDS));
  return fd;
}

void
run_ok (const char *const *argv)
{
  g_autofree char *out = NULL;
  int status = vireo_test_run_judge (argv, &out);

  if (status != 0)
    {
      g_autofree char *command = g_strjoinv (" ", (char **) argv);
      g_test_message ("%s exited with %d: %s", command, status, out ? out : "");
      g_printerr ("%s exited with %d\n", command, status);
    }
  g_assert_cmpint (status, ==, 0);
}

/* qemu-img's idea of an image's virtual size (its format probed; the image may be in use). */
guint64
disk_virtual_size (const char *image)
{
  const char *argv[] = { "qemu-img", "info", "--output=json", "-U", image, NULL };
  g_autofree char *out = NULL;
  const char *found;

  g_assert_cmpint (vireo_test_run_judge (argv, &out), ==, 0);
  found = strstr (out, "\"virtual-size\":");
  g_assert_nonnull (found);
  return g_ascii_strtoull (found + strlen ("\"virtual-size\":"), NULL, 10);
}

/* ---- checkpoints ---- */

const char *
checkpoint_id (const char *path)
{
  const char *id = strrchr (path, '/') + 1;

  g_assert_cmpuint (strlen (id), ==, 16);
  for (const char *c = id; *c; c++)
    g_assert_true (g_ascii_isdigit (*c) || (*c >= 'a' && *c <= 'f'));
  return id;
}

char *
current_checkpoint_of (Fixture *f, const char *machine_path)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GVariant) reply = bus_call (f, machine_path, "org.freedesktop.DBus.Properties", "Get",
                                         g_variant_new ("(ss)", MACHINE_IFACE, "CurrentCheckpoint"), &error);
  g_autoptr (GVariant) value = NULL;

  g_assert_no_error (error);
  g_variant_get (reply, "(v)", &value);
  return g_variant_dup_string (value, NULL);
}

void
disk_write_pattern (const char *image, guint byte)
{
  g_autofree char *command = g_strdup_printf ("write -P 0x%02x 0 " PATTERN_LENGTH, byte);
  const char *argv[] = { "qemu-io", "-c", command, image, NULL };
  run_ok (argv);
}

gboolean
disk_holds_pattern (const char *scratch_dir, const char *image, const char *snapshot, guint byte)
{
  g_autofree char *copy = g_build_filename (scratch_dir, "judged.raw", NULL);
  g_autofree char *option = snapshot ? g_strdup_printf ("snapshot.name=%s", snapshot) : NULL;
  const char *with_snapshot[] = { "qemu-img", "convert", "-U", "-l", option, "-O", "raw", image, copy, NULL };
  const char *without[] = { "qemu-img", "convert", "-U", "-O", "raw", image, copy, NULL };
  g_autofree char *bytes = NULL;
  gsize length;

  run_ok (snapshot ? with_snapshot : without);
  g_assert_true (g_file_get_contents (copy, &bytes, &length, NULL));
  g_unlink (copy);
  g_assert_cmpuint (length, >=, PATTERN_BYTES);
  for (gsize i = 0; i < PATTERN_BYTES; i++)
    if ((guchar) bytes[i] != byte)
      {
        test_say ("%s%s%s: byte %zu is 0x%02x, not 0x%02x", image, snapshot ? " snapshot " : "",
                  snapshot ? snapshot : "", i, (guchar) bytes[i], byte);
        return FALSE;
      }
  return TRUE;
}

static gint
compare_strings (gconstpointer a, gconstpointer b)
{
  return g_strcmp0 (*(const char *const *) a, *(const char *const *) b);
}

GPtrArray *
disk_checkpoint_snapshots (const char *image)
{
  const char *argv[] = { "qemu-img", "snapshot", "-U", "-l", image, NULL };
  g_autofree char *out = NULL;
  g_auto (GStrv) lines = NULL;
  GPtrArray *names = g_ptr_array_new_with_free_func (g_free);

  g_assert_cmpint (vireo_test_run_judge (argv, &out), ==, 0);
  lines = g_strsplit (out, "\n", -1);
  for (guint i = 0; lines[i]; i++)
    {
      g_auto (GStrv) fields = g_strsplit_set (g_strstrip (lines[i]), " \t", -1);
      guint n = 0;
      /* "ID TAG VM-SIZE DATE …": the tag is the second field that is not empty. */
      for (guint j = 0; fields[j]; j++)
        if (*fields[j] && ++n == 2 && g_str_has_prefix (fields[j], "vireo-"))
          g_ptr_array_add (names, g_strdup (fields[j]));
    }
  g_ptr_array_sort (names, compare_strings);
  return names;
}

void
store_pending_call (GObject *source, GAsyncResult *result, gpointer data)
{
  ((PendingCall *) data)->result = g_object_ref (result);
}

/* What the processes of a failed child logged: vireod.log first, then any other *.log of the folder (the
 * move tests' destination vireod). */
static void
show_logs (const char *base)
{
  g_autoptr (GDir) dir = g_dir_open (base, 0, NULL);
  g_autofree char *log_path = g_build_filename (base, LOG_FILE, NULL);
  g_autofree char *log = NULL;
  const char *entry;

  if (g_file_get_contents (log_path, &log, NULL, NULL))
    g_printerr ("---- what vireod and its workers logged ----\n%s---- end of the log ----\n", log);
  while (dir && (entry = g_dir_read_name (dir)) != NULL)
    if (g_str_has_suffix (entry, ".log") && !g_str_equal (entry, LOG_FILE))
      {
        g_autofree char *path = g_build_filename (base, entry, NULL);
        g_autofree char *other = NULL;
        if (g_file_get_contents (path, &other, NULL, NULL))
          g_printerr ("---- %s ----\n%s---- end of %s ----\n", entry, other, entry);
      }
}

void
run_test_in_child (unsigned child_timeout_seconds, gboolean system_mode)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *base = NULL;

  base = g_dir_make_tmp ("vireo-service-XXXXXX", &error);
  g_assert_no_error (error);
  g_setenv (TEST_DIR_VARIABLE, base, TRUE);
  g_test_trap_subprocess (NULL,
                          (guint64) (child_timeout_seconds ? child_timeout_seconds : CHILD_TIMEOUT_SECONDS)
                              * G_USEC_PER_SEC,
                          G_TEST_SUBPROCESS_INHERIT_STDERR);
  g_unsetenv (TEST_DIR_VARIABLE);
  /* A child that failed halfway leaves vireod and workers behind: end them all. */
  vireo_test_signal_processes (NULL, base, SIGKILL, WAIT_SECONDS);
  if (!g_test_trap_has_passed ())
    show_logs (base);
  if (system_mode && service_test_system_cleanup)
    service_test_system_cleanup (base);
  vireo_test_remove_tree (base);
  g_test_trap_assert_passed ();
}

void
run_service_test (gconstpointer data)
{
  const ServiceTest *test = data;

  if (g_test_subprocess ())
    {
      Fixture f;
      fixture_setup (&f, g_getenv (TEST_DIR_VARIABLE), test->system_mode, test->worker_test_hook);
      test->func (&f);
      fixture_teardown (&f);
      return;
    }

  if (test->needs_kvm && !vireo_test_require_kvm ())
    return;
  if (test->system_mode && geteuid () != 0)
    {
      g_test_skip ("vireod --system gives each machine's worker a user of its own, which needs root");
      return;
    }
  run_test_in_child (test->child_timeout_seconds, test->system_mode);
}

/* ---- helpers several service test programs use ---- */

void
create_expect_error (Fixture *f, GVariant *settings, const char *name, const char *culprit)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *path = try_create (f, settings, &error);

  g_assert_null (path);
  assert_dbus_error (error, name, culprit);
}

static void
on_object_removed (GDBusObjectManager *manager, GDBusObject *object, gpointer data)
{
  g_ptr_array_add (data, g_strdup (g_dbus_object_get_object_path (object)));
}

/* Deletes @machine and checks that its object and folder went away. */
void
delete_machine (Fixture *f, VireoDBusMachine *machine, gboolean delete_disks)
{
  g_autoptr (GPtrArray) removed = g_ptr_array_new_with_free_func (g_free);
  g_autofree char *path = g_strdup (machine_path (machine));
  g_autofree char *folder = machine_folder (f, machine);
  ObjectQuery query = { f, path };
  gulong handler = g_signal_connect (f->objects, "object-removed", G_CALLBACK (on_object_removed), removed);

  g_assert_true (g_file_test (folder, G_FILE_TEST_IS_DIR));
  call_ok (machine, "Delete", g_variant_new ("(b)", delete_disks));
  g_assert_true (vireo_test_wait_until (machine_gone, &query, WAIT_SECONDS));
  g_assert_true (strv_has (removed, path));
  g_assert_false (g_file_test (folder, G_FILE_TEST_EXISTS));
  g_signal_handler_disconnect (f->objects, handler);
}

/* Calls @method, expects a reply of one string (a disk's target) and returns it. */
char *
call_for_target (gpointer proxy, const char *method, GVariant *parameters)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GVariant) reply = call_full (proxy, method, parameters, NULL, &error);
  char *target = NULL;

  if (error)
    g_test_message ("%s failed: %s", method, error->message);
  g_assert_no_error (error);
  g_variant_get (reply, "(s)", &target);
  return target;
}

char *
write_pattern_image (const char *dir, const char *name, gsize size)
{
  char *path = g_build_filename (dir, name, NULL);
  g_autofree guchar *bytes = g_malloc (size);

  for (gsize i = 0; i < size; i++)
    bytes[i] = (guchar) ((i / 4096) * 7 + (i % 251));
  /* A hole in the middle, as real images have. */
  memset (bytes + size / 2, 0, MIN (size / 4, (gsize) 65536));
  g_assert_true (g_file_set_contents (path, (const char *) bytes, (gssize) size, NULL));
  return path;
}

/* The files of @folder that are not the definition, sorted, as one string. */
char *
folder_listing (const char *folder)
{
  g_autoptr (GDir) dir = g_dir_open (folder, 0, NULL);
  g_autoptr (GPtrArray) names = g_ptr_array_new_with_free_func (g_free);
  const char *entry;

  g_assert_nonnull (dir);
  while ((entry = g_dir_read_name (dir)) != NULL)
    if (!g_str_equal (entry, "machine.xml"))
      g_ptr_array_add (names, g_strdup (entry));
  g_ptr_array_sort (names, compare_strings);
  g_ptr_array_add (names, NULL);
  return g_strjoinv (" ", (char **) names->pdata);
}
