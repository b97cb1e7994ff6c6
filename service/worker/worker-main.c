/* worker-main.c — the vireo-worker process: command line, entering the sandbox (sandbox.c), signals, the
 * peer-to-peer D-Bus connections (vireod's socketpair and the re-attach socket), and when to exit. */
#include "worker.h"
#include "exit-record.h"
#include "hv.h"
#include "sandbox.h"

#include <errno.h>
#include <fcntl.h>
#include <gio/gio.h>
#include <glib-unix.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define WORKER_OBJECT_PATH "/org/vireo/Worker1"
/* How long an ended machine's worker waits for its peers to read the outcome and hang up. */
#define LINGER_SECONDS 30

typedef struct
{
  VireoWorker *worker;
  GMainLoop *loop;
  GDBusAuthObserver *observer;
  GSocketService *server;
  char *guid;
  char *socket_path;
  gboolean own_socket;    /* bound by us (not passed by vireod): ours to remove at the end */
  int socket_dir_fd;      /* the socket's folder, reachable after the sandbox hides its path; or -1 */
  int exit_record_fd;     /* --exit-record-fd: where the exit record goes instead of the folder; or -1 */
  GPtrArray *connections; /* GDBusConnection, authenticated and exporting the worker */
  gboolean terminating;   /* SIGTERM: exit as soon as the machine has ended */
  guint linger_id;
} App;

/* Peers must be the worker's own user (vireod in session mode) or root (vireod in system mode, which
 * could take over the worker's uid anyway).  The socket's folder is vireod's and private already; this
 * is the second lock. */
static gboolean
authorize_peer (GDBusAuthObserver *observer, GIOStream *stream, GCredentials *credentials, gpointer data)
{
  uid_t uid;

  if (credentials == NULL)
    return FALSE;
  uid = g_credentials_get_unix_user (credentials, NULL);
  if (uid == (uid_t) -1 || (uid != getuid () && uid != 0))
    {
      g_message ("refused a connection from uid %d", (int) uid);
      return FALSE;
    }
  return TRUE;
}

static gboolean
allow_mechanism (GDBusAuthObserver *observer, const char *mechanism, gpointer data)
{
  /* Only EXTERNAL carries the peer's credentials that authorize_peer() checks. */
  return g_strcmp0 (mechanism, "EXTERNAL") == 0;
}

static void
app_quit (App *app)
{
  g_main_loop_quit (app->loop);
}

/* Leaves a record for the next vireod when no peer is there to see how the machine ended. */
static void
write_exit_record (App *app)
{
  VireoWorker1 *skeleton = vireo_worker_get_skeleton (app->worker);
  g_autoptr (GError) error = NULL;
  g_autofree char *base = g_path_get_basename (app->socket_path);
  g_autofree char *name = g_strconcat (base, ".exit", NULL);
  gboolean ok;

  /* By fd: the sandbox hides the path. */
  if (app->exit_record_fd >= 0)
    ok = vireo_exit_record_write_fd (
        app->exit_record_fd, vireo_worker1_get_uuid (skeleton), vireo_worker1_get_exit_reason (skeleton),
        vireo_worker1_get_exit_message (skeleton), vireo_worker1_get_start_time (skeleton), &error);
  else if (app->socket_dir_fd >= 0)
    ok = vireo_exit_record_write_at (
        app->socket_dir_fd, name, vireo_worker1_get_uuid (skeleton), vireo_worker1_get_exit_reason (skeleton),
        vireo_worker1_get_exit_message (skeleton), vireo_worker1_get_start_time (skeleton), &error);
  else
    {
      g_set_error_literal (&error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND, "its folder could not be opened");
      ok = FALSE;
    }
  if (!ok)
    g_warning ("cannot leave the exit record for vireod: %s", error->message);
}

static gboolean
linger_done (gpointer data)
{
  App *app = data;

  app->linger_id = 0;
  g_message ("peers still connected %d seconds after the machine ended; exiting", LINGER_SECONDS);
  app_quit (app);
  return G_SOURCE_REMOVE;
}

static void
on_machine_ended (VireoWorker *worker, gpointer data)
{
  App *app = data;

  if (app->connections->len == 0)
    {
      write_exit_record (app);
      app_quit (app);
    }
  else if (app->terminating)
    app_quit (app);
  else if (app->linger_id == 0)
    app->linger_id = g_timeout_add_seconds (LINGER_SECONDS, linger_done, app);
}

static void
on_connection_closed (GDBusConnection *connection, gboolean remote_peer_vanished, GError *error,
                      gpointer data)
{
  App *app = data;

  g_dbus_interface_skeleton_unexport_from_connection (
      G_DBUS_INTERFACE_SKELETON (vireo_worker_get_skeleton (app->worker)), connection);
  g_signal_handlers_disconnect_by_data (connection, app);
  g_ptr_array_remove (app->connections, connection);

  if (app->connections->len > 0)
    return;
  /* A running machine outlives vireod, which re-attaches through the socket.  One that ended has been
   * reported; one never started has nothing to keep. */
  if (vireo_worker_has_ended (app->worker) || !vireo_worker_has_started (app->worker))
    app_quit (app);
}

/* Exports the worker on an authenticated connection; FALSE if that fails. */
static gboolean
add_connection (App *app, GDBusConnection *connection)
{
  g_autoptr (GError) error = NULL;

  if (!g_dbus_interface_skeleton_export (G_DBUS_INTERFACE_SKELETON (vireo_worker_get_skeleton (app->worker)),
                                         connection, WORKER_OBJECT_PATH, &error))
    {
      g_warning ("cannot export the worker on a new connection: %s", error->message);
      return FALSE;
    }
  g_ptr_array_add (app->connections, g_object_ref (connection));
  g_signal_connect (connection, "closed", G_CALLBACK (on_connection_closed), app);
  return TRUE;
}

static void
on_initial_connection (GObject *source, GAsyncResult *result, gpointer data)
{
  App *app = data;
  g_autoptr (GError) error = NULL;
  g_autoptr (GDBusConnection) connection = g_dbus_connection_new_finish (result, &error);

  if (connection == NULL)
    {
      /* vireod may still come (again) through the socket. */
      g_warning ("a connection from vireod failed: %s", error->message);
      return;
    }
  if (add_connection (app, connection))
    g_dbus_connection_start_message_processing (connection);
  else
    g_dbus_connection_close (connection, NULL, NULL, NULL);
}

static gboolean
connect_initial (App *app, int fd, GError **error)
{
  g_autoptr (GSocket) socket = NULL;
  g_autoptr (GSocketConnection) stream = NULL;
  struct stat st;

  if (fstat (fd, &st) < 0 || !S_ISSOCK (st.st_mode))
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT, "--connection-fd %d is not a socket", fd);
      return FALSE;
    }
  if (fcntl (fd, F_SETFD, FD_CLOEXEC) < 0)
    {
      int saved = errno;
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved), "--connection-fd %d: %s", fd,
                   g_strerror (saved));
      return FALSE;
    }
  socket = g_socket_new_from_fd (fd, error);
  if (socket == NULL)
    return FALSE;
  stream = g_socket_connection_factory_create_connection (socket);
  /* Asynchronous, so a peer that never authenticates cannot hang the worker. */
  g_dbus_connection_new (G_IO_STREAM (stream), app->guid,
                         G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_SERVER
                             | G_DBUS_CONNECTION_FLAGS_DELAY_MESSAGE_PROCESSING,
                         app->observer, NULL, on_initial_connection, app);
  return TRUE;
}

/* A peer on the re-attach socket: authenticated like the initial connection, asynchronously so that a
 * peer that never authenticates cannot hang the worker. */
static gboolean
on_incoming (GSocketService *service, GSocketConnection *stream, GObject *source_object, gpointer data)
{
  App *app = data;

  g_dbus_connection_new (G_IO_STREAM (stream), app->guid,
                         G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_SERVER
                             | G_DBUS_CONNECTION_FLAGS_DELAY_MESSAGE_PROCESSING,
                         app->observer, NULL, on_initial_connection, app);
  return TRUE;
}

/* A socket left at @path by a worker that died is removed; a live one is not taken over. */
static gboolean
clear_stale_socket (const char *path, GError **error)
{
  struct sockaddr_un address = { .sun_family = AF_UNIX };
  struct stat st;
  int fd;
  int result;

  if (lstat (path, &st) < 0)
    return TRUE;
  if (!S_ISSOCK (st.st_mode))
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_EXISTS, "%s exists and is not a socket", path);
      return FALSE;
    }
  if (strlen (path) >= sizeof address.sun_path)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_FILENAME_TOO_LONG, "the socket path %s is too long", path);
      return FALSE;
    }
  strcpy (address.sun_path, path);
  fd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    {
      int saved = errno;
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved), "cannot create a socket: %s",
                   g_strerror (saved));
      return FALSE;
    }
  result = connect (fd, (struct sockaddr *) &address, sizeof address);
  close (fd);
  if (result == 0)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_ADDRESS_IN_USE, "another worker is listening on %s", path);
      return FALSE;
    }
  if (errno != ECONNREFUSED || unlink (path) < 0)
    {
      int saved = errno;
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved), "cannot reuse the socket %s: %s", path,
                   g_strerror (saved));
      return FALSE;
    }
  return TRUE;
}

/* Binds the re-attach socket at app->socket_path and returns it listening, or -1 and @error. */
static int
bind_socket (App *app, GError **error)
{
  struct sockaddr_un address = { .sun_family = AF_UNIX };
  int fd;

  if (!clear_stale_socket (app->socket_path, error))
    return -1;
  if (strlen (app->socket_path) >= sizeof address.sun_path)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_FILENAME_TOO_LONG, "the socket path %s is too long",
                   app->socket_path);
      return -1;
    }
  strcpy (address.sun_path, app->socket_path);
  fd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0 || bind (fd, (struct sockaddr *) &address, sizeof address) < 0
      || listen (fd, 16) < 0
      /* The umask (0077, set in main) creates the socket 0700; nobody executes a socket, so say 0600. */
      || chmod (app->socket_path, 0600) < 0)
    {
      int saved = errno;
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved), "cannot listen on %s: %s",
                   app->socket_path, g_strerror (saved));
      if (fd >= 0)
        close (fd);
      return -1;
    }
  app->own_socket = TRUE;
  return fd;
}

/* The socket peers re-attach through: @listen_fd when vireod bound it for us (it owns the path then),
 * else one bound here.  Either way the socket's folder is opened now, while its path can be reached, for
 * the exit record and the socket's removal at the end.  Plain system calls, no GLib machinery: this runs
 * before the sandbox, which needs the process to have a single thread. */
static int
prepare_listener (App *app, int listen_fd, GError **error)
{
  g_autofree char *dir = g_path_get_dirname (app->socket_path);

  if (listen_fd >= 0 && fcntl (listen_fd, F_SETFD, FD_CLOEXEC) < 0)
    {
      int saved = errno;
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved), "--listen-fd %d: %s", listen_fd,
                   g_strerror (saved));
      return -1;
    }
  if (listen_fd < 0)
    listen_fd = bind_socket (app, error);
  if (listen_fd < 0)
    return -1;
  if (app->exit_record_fd < 0 || app->own_socket)
    {
      app->socket_dir_fd = open (dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
      if (app->socket_dir_fd < 0)
        g_message ("cannot open %s: %s; the exit record will be missing", dir, g_strerror (errno));
    }
  return listen_fd;
}

/* Listens for peers re-attaching on @listen_fd (taken). */
static gboolean
start_server (App *app, int listen_fd, GError **error)
{
  g_autoptr (GSocket) socket = g_socket_new_from_fd (listen_fd, error);

  if (socket == NULL)
    {
      close (listen_fd);
      return FALSE;
    }
  app->server = g_socket_service_new ();
  if (!g_socket_listener_add_socket (G_SOCKET_LISTENER (app->server), socket, NULL, error))
    return FALSE;
  g_signal_connect (app->server, "incoming", G_CALLBACK (on_incoming), app);
  return TRUE;
}

static gboolean
on_sigterm (gpointer data)
{
  App *app = data;

  g_message ("SIGTERM: turning the machine off");
  app->terminating = TRUE;
  if (!vireo_worker_turn_off (app->worker))
    app_quit (app);
  return G_SOURCE_CONTINUE;
}

static void
flush_connections (App *app)
{
  vireo_worker_flush (app->worker);
  for (guint i = 0; i < app->connections->len; i++)
    {
      g_autoptr (GError) error = NULL;
      if (!g_dbus_connection_flush_sync (app->connections->pdata[i], NULL, &error))
        g_debug ("flushing a connection: %s", error->message);
    }
}

#if defined(__SANITIZE_ADDRESS__)
/* Sanitizer builds (CI): LeakSanitizer stops the process at exit with a helper that ptrace()s its
 * threads, which the sandbox does not let work (the helper dies and the worker spins waiting for it).
 * AddressSanitizer's own checks stay on; leaks are checked in vireo-run and the unit tests, which share
 * the core. */
int __lsan_is_turned_off (void);

int
__lsan_is_turned_off (void)
{
  return 1;
}
#endif

static GLogWriterOutput
write_log (GLogLevelFlags level, const GLogField *fields, gsize n_fields, gpointer data)
{
  if (g_log_writer_default_would_drop (level, NULL))
    return G_LOG_WRITER_HANDLED;
  return g_log_writer_standard_streams (level, fields, n_fields, data);
}

/* The sandbox (sandbox.c): the namespace if the kernel lets us, the machine's user when given one, no
 * capabilities, seccomp always. */
static gboolean
enter_sandbox (uid_t user, GError **error)
{
  g_autoptr (GError) local = NULL;
  g_autoptr (GTimeZone) zone = NULL;

  /* Read the time zone now, while /etc can be seen: a message logged later from any thread (a vCPU's
   * filter allows no open()) stamps its time from the caches of glibc and GLib. */
  tzset ();
  zone = g_time_zone_new_local ();
  if (!vireo_sandbox_enter_namespace (user, &local))
    g_message ("running without a mount namespace of its own: %s", local->message);
  /* The bounding set first: shrinking it needs the privilege that the change of user ends. */
  if (!vireo_sandbox_drop_capabilities (TRUE, error))
    return FALSE;
  if (user != (uid_t) -1 && !vireo_sandbox_become_user (user, error))
    return FALSE;
  return vireo_sandbox_drop_capabilities (FALSE, error) && vireo_sandbox_apply_seccomp (error);
}

/* --check-kvm: vireod's question whether machines can run here, answered with the core's own wording
 * of what is wrong (exit 3) or nothing (exit 0). */
static int
check_kvm_device (const char *path)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (HvVm) vm = hv_vm_new (path, &error);

  if (vm == NULL)
    {
      printf ("%s\n", error->message);
      return 3;
    }
  return 0;
}

int
main (int argc, char **argv)
{
  g_autoptr (GOptionContext) context = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *uuid = NULL;
  g_autofree char *socket_path = NULL;
  g_autofree char *check_kvm = NULL;
  int connection_fd = -1;
  int listen_fd = -1;
  int exit_record_fd = -1;
  gint64 user = -1;
  gboolean display = FALSE;
  App app = { 0 };
  const GOptionEntry entries[] = {
    { "uuid", 0, 0, G_OPTION_ARG_STRING, &uuid, "The machine's UUID", "UUID" },
    { "socket", 0, 0, G_OPTION_ARG_FILENAME, &socket_path, "Where to listen for vireod re-attaching",
      "PATH" },
    { "connection-fd", 0, 0, G_OPTION_ARG_INT, &connection_fd, "vireod's end of a socketpair", "FD" },
    { "listen-fd", 0, 0, G_OPTION_ARG_INT, &listen_fd,
      "The re-attach socket, bound at --socket and listening (else the worker binds it)", "FD" },
    { "exit-record-fd", 0, 0, G_OPTION_ARG_INT, &exit_record_fd,
      "Where to leave the exit record (else beside the socket)", "FD" },
    { "user", 0, 0, G_OPTION_ARG_INT64, &user,
      "Run the machine as this uid (and gid); the worker must be started as root", "UID" },
    { "display", 0, 0, G_OPTION_ARG_NONE, &display,
      "Load the display module before the sandbox hides it (the machine has a display)", NULL },
    { "check-kvm", 0, 0, G_OPTION_ARG_FILENAME, &check_kvm,
      "Check that machines can run with this KVM device, print why not, and exit", "PATH" },
    { NULL },
  };

  /* Before anything else: nothing this process runs may gain privileges. */
  if (prctl (PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
    {
      fprintf (stderr, "vireo-worker: cannot set no-new-privs: %s\n", g_strerror (errno));
      return 1;
    }
  umask (0077);
  /* vireod manages this process: a terminal's signals are not for it, and a peer closing a socket
   * must show up as an error, not kill it. */
  signal (SIGINT, SIG_IGN);
  signal (SIGHUP, SIG_IGN);
  signal (SIGPIPE, SIG_IGN);

  g_set_prgname ("vireo-worker");
  context = g_option_context_new ("- host one Vireo virtual machine (started by vireod)");
  g_option_context_add_main_entries (context, entries, NULL);
  if (!g_option_context_parse (context, &argc, &argv, &error))
    {
      fprintf (stderr, "vireo-worker: %s\n", error->message);
      return 1;
    }
  if (check_kvm)
    return check_kvm_device (check_kvm);
  if (uuid == NULL || !g_uuid_string_is_valid (uuid))
    {
      fprintf (stderr, "vireo-worker: --uuid needs the machine's UUID\n");
      return 1;
    }
  if (socket_path == NULL || !g_path_is_absolute (socket_path))
    {
      fprintf (stderr, "vireo-worker: --socket needs an absolute path\n");
      return 1;
    }

  app.loop = g_main_loop_new (NULL, FALSE);
  app.guid = g_dbus_generate_guid ();
  app.socket_path = socket_path;
  app.socket_dir_fd = -1;
  app.exit_record_fd = exit_record_fd;
  if (exit_record_fd >= 0 && fcntl (exit_record_fd, F_SETFD, FD_CLOEXEC) < 0)
    {
      fprintf (stderr, "vireo-worker: --exit-record-fd %d: %s\n", exit_record_fd, g_strerror (errno));
      return 1;
    }
  /* Messages go to stderr (the journal's stream under systemd): GLib would otherwise open a socket to
   * the journal, which the sandbox neither shows nor should need. */
  g_log_set_writer_func (write_log, NULL, NULL);
  app.connections = g_ptr_array_new_with_free_func (g_object_unref);
  app.observer = g_dbus_auth_observer_new ();
  g_signal_connect (app.observer, "authorize-authenticated-peer", G_CALLBACK (authorize_peer), &app);
  g_signal_connect (app.observer, "allow-mechanism", G_CALLBACK (allow_mechanism), &app);

  /* Whatever needs a path is opened before the sandbox: the display module, the socket and its folder. */
  if ((display && !hv_display_preload (&error)) || (!display && !hv_display_hold_module_dir (&error)))
    {
      /* A display asked for later fails with the same words, where vireod reports them. */
      g_message ("%s", error->message);
      g_clear_error (&error);
    }
  listen_fd = prepare_listener (&app, listen_fd, &error);
  if (user < -1 || user > G_MAXUINT32 - 1)
    {
      fprintf (stderr, "vireo-worker: --user %" G_GINT64_FORMAT " is not a uid\n", user);
      return 1;
    }
  if (listen_fd < 0 || !enter_sandbox ((uid_t) user, &error))
    {
      fprintf (stderr, "vireo-worker: %s\n", error->message);
      return 1;
    }
  app.worker = vireo_worker_new (uuid, on_machine_ended, &app, &error);
  if (app.worker == NULL || !start_server (&app, listen_fd, &error))
    {
      fprintf (stderr, "vireo-worker: %s\n", error->message);
      return 1;
    }
  /* Only now threads may start (GDBus's, GLib's signal thread): they inherit the filter. */
  if (connection_fd >= 0 && !connect_initial (&app, connection_fd, &error))
    {
      fprintf (stderr, "vireo-worker: %s\n", error->message);
      return 1;
    }
  g_socket_service_start (app.server);
  g_unix_signal_add (SIGTERM, on_sigterm, &app);

  g_main_loop_run (app.loop);

  /* The machine's outcome and its last serial output reach whoever is still connected. */
  flush_connections (&app);
  g_socket_service_stop (app.server);
  g_socket_listener_close (G_SOCKET_LISTENER (app.server));
  /* A socket vireod bound is vireod's to remove. */
  if (app.own_socket && app.socket_dir_fd >= 0)
    {
      g_autofree char *name = g_path_get_basename (app.socket_path);
      unlinkat (app.socket_dir_fd, name, 0);
    }
  if (app.socket_dir_fd >= 0)
    close (app.socket_dir_fd);
  if (app.exit_record_fd >= 0)
    close (app.exit_record_fd);
  for (guint i = 0; i < app.connections->len; i++)
    g_signal_handlers_disconnect_by_data (app.connections->pdata[i], &app);
  g_clear_pointer (&app.worker, vireo_worker_free);
  g_clear_pointer (&app.connections, g_ptr_array_unref);
  g_clear_object (&app.server);
  g_clear_object (&app.observer);
  g_clear_pointer (&app.loop, g_main_loop_unref);
  g_free (app.guid);
  if (app.linger_id)
    g_source_remove (app.linger_id);
  return 0;
}
