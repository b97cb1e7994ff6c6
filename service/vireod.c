/* vireod.c — the Vireo service: owns org.vireo.Vireo1 on the system or the session bus. */
#include "daemon.h"
#include "manager.h"
#include "vireo-error.h"

#include <glib-unix.h>
#include <glib/gstdio.h>
#include <locale.h>
#include <stdio.h>
#include <sys/stat.h>

typedef struct
{
  VireoDaemon daemon;
  VireoManager *manager;
  GMainLoop *loop;
  int exit_status;
  guint owner_id;
  gboolean name_owned;
} Service;

static void
on_bus_acquired (GDBusConnection *connection, const char *name, gpointer data)
{
  Service *service = data;
  /* The manager follows the object manager's connection (manager.c). */
  g_dbus_object_manager_server_set_connection (service->daemon.object_manager, connection);
}

static void
on_name_acquired (GDBusConnection *connection, const char *name, gpointer data)
{
  Service *service = data;
  service->name_owned = TRUE;
  g_message ("serving %s on the %s bus", name,
             service->daemon.mode == VIREO_MODE_SYSTEM ? "system" : "session");
  vireo_manager_autostart (service->manager);
}

static void
on_name_lost (GDBusConnection *connection, const char *name, gpointer data)
{
  Service *service = data;
  if (connection == NULL && service->name_owned)
    g_message ("lost the %s bus; stopping", service->daemon.mode == VIREO_MODE_SYSTEM ? "system" : "session");
  else if (connection == NULL)
    g_printerr ("vireod: cannot connect to the %s bus\n",
                service->daemon.mode == VIREO_MODE_SYSTEM ? "system" : "session");
  else
    g_printerr ("vireod: %s is already owned by another vireod on this bus\n", name);
  if (!service->name_owned)
    service->exit_status = 1;
  g_main_loop_quit (service->loop);
}

static gboolean
on_terminate (gpointer data)
{
  Service *service = data;
  /* Running machines keep running in their workers; the next vireod re-attaches to them. */
  g_message ("stopping; running machines stay up and will be re-attached");
  g_main_loop_quit (service->loop);
  return G_SOURCE_REMOVE;
}

static gboolean
on_tick (gpointer data)
{
  return G_SOURCE_CONTINUE;
}

static char *
find_worker (void)
{
  const char *env = g_getenv ("VIREO_WORKER");
  g_autofree char *self = g_file_read_link ("/proc/self/exe", NULL);
  g_autofree char *dir = self ? g_path_get_dirname (self) : NULL;
  g_autofree char *beside = dir ? g_build_filename (dir, "vireo-worker", NULL) : NULL;
  g_autofree char *build_tree = dir ? g_build_filename (dir, "worker", "vireo-worker", NULL) : NULL;

  if (env && *env)
    return g_strdup (env);
  /* Installed side by side in libexecdir, or in the build tree for tests and development. */
  if (beside && g_file_test (beside, G_FILE_TEST_IS_EXECUTABLE))
    return g_steal_pointer (&beside);
  if (build_tree && g_file_test (build_tree, G_FILE_TEST_IS_EXECUTABLE))
    return g_steal_pointer (&build_tree);
  return g_build_filename (VIREO_LIBEXECDIR, "vireo-worker", NULL);
}

static gboolean
make_private_dir (const char *path, GError **error)
{
  if (g_mkdir_with_parents (path, 0700) < 0 || g_chmod (path, 0700) < 0)
    {
      int saved = errno;
      g_set_error (error, VIREO_ERROR, VIREO_ERROR_FAILED, "cannot create %s: %s", path, g_strerror (saved));
      return FALSE;
    }
  return TRUE;
}

int
main (int argc, char **argv)
{
  gboolean system_mode = FALSE, session_mode = FALSE, version = FALSE;
  g_autofree char *storage = NULL;
  g_autofree char *runtime_dir = NULL;
  GOptionEntry entries[] = {
    { "system", 0, 0, G_OPTION_ARG_NONE, &system_mode, "Serve the system bus (machines in /var/lib/vireo)",
      NULL },
    { "session", 0, 0, G_OPTION_ARG_NONE, &session_mode,
      "Serve the user's session bus (machines in $XDG_DATA_HOME/vireo)", NULL },
    { "storage", 0, 0, G_OPTION_ARG_FILENAME, &storage, "Keep machines in DIR instead", "DIR" },
    { "runtime-dir", 0, 0, G_OPTION_ARG_FILENAME, &runtime_dir,
      "Keep the running machines' sockets in DIR instead (for tests; default /run/vireo or "
      "$XDG_RUNTIME_DIR/vireo)",
      "DIR" },
    { "version", 0, 0, G_OPTION_ARG_NONE, &version, "Print the version and exit", NULL },
    { NULL },
  };
  g_autoptr (GOptionContext) context = g_option_context_new ("- the Vireo virtual machine service");
  g_autoptr (GError) error = NULL;
  Service service = { 0 };
  VireoDaemon *daemon = &service.daemon;

  setlocale (LC_ALL, "");
  g_option_context_add_main_entries (context, entries, NULL);
  if (!g_option_context_parse (context, &argc, &argv, &error))
    {
      g_printerr ("vireod: %s (see --help)\n", error->message);
      return 2;
    }
  if (version)
    {
      printf ("vireod %s\n", VIREO_VERSION);
      return 0;
    }
  if (system_mode == session_mode)
    {
      g_printerr ("vireod: give exactly one of --system or --session\n");
      return 2;
    }

  daemon->mode = system_mode ? VIREO_MODE_SYSTEM : VIREO_MODE_SESSION;
  if (storage == NULL)
    storage = system_mode ? g_strdup ("/var/lib/vireo")
                          : g_build_filename (g_get_user_data_dir (), "vireo", NULL);
  if (runtime_dir)
    daemon->runtime_dir = g_steal_pointer (&runtime_dir);
  else
    daemon->runtime_dir = system_mode ? g_strdup ("/run/vireo")
                                      : g_build_filename (g_get_user_runtime_dir (), "vireo", NULL);
  daemon->workers_dir = g_build_filename (daemon->runtime_dir, "workers", NULL);
  daemon->worker_path = find_worker ();
  daemon->kvm_path = g_strdup (g_getenv ("VIREO_KVM_DEVICE") ? g_getenv ("VIREO_KVM_DEVICE") : "/dev/kvm");

  if (!make_private_dir (daemon->runtime_dir, &error) || !make_private_dir (daemon->workers_dir, &error))
    {
      g_printerr ("vireod: %s\n", error->message);
      return 1;
    }
  daemon->store = vireo_machine_store_new (storage, &error);
  if (daemon->store != NULL)
    vireo_machine_config_set_storage_root (vireo_machine_store_get_root (daemon->store));
  if (daemon->store == NULL)
    {
      g_printerr ("vireod: %s\n", error->message);
      return 1;
    }
  daemon->authority = vireo_authority_new (daemon->mode);
  daemon->object_manager = g_dbus_object_manager_server_new ("/org/vireo/Vireo1");

  service.loop = g_main_loop_new (NULL, FALSE);
  service.manager = vireo_manager_new (daemon);
  g_unix_signal_add (SIGTERM, on_terminate, &service);
  g_unix_signal_add (SIGINT, on_terminate, &service);
  signal (SIGPIPE, SIG_IGN);

  /* Answer no one before every running machine is known as running (a client must never see one as
   * "off" and start it a second time) and before whether KVM works is known. */
  {
    gint64 deadline = g_get_monotonic_time () + 10 * G_USEC_PER_SEC;
    guint tick = g_timeout_add (100, on_tick, NULL);
    while ((daemon->reattaching > 0 || !vireo_manager_is_ready (service.manager))
           && g_get_monotonic_time () < deadline)
      g_main_context_iteration (NULL, TRUE);
    g_source_remove (tick);
    if (daemon->reattaching > 0)
      g_warning ("%u machines' workers did not answer within 10 seconds", daemon->reattaching);
    if (!vireo_manager_is_ready (service.manager))
      g_warning ("the KVM check did not answer within 10 seconds");
  }

  service.owner_id = g_bus_own_name (system_mode ? G_BUS_TYPE_SYSTEM : G_BUS_TYPE_SESSION, "org.vireo.Vireo1",
                                     G_BUS_NAME_OWNER_FLAGS_NONE, on_bus_acquired, on_name_acquired,
                                     on_name_lost, &service, NULL);
  g_main_loop_run (service.loop);

  g_bus_unown_name (service.owner_id);
  vireo_manager_free (service.manager);
  daemon->manager = NULL;
  g_clear_object (&daemon->object_manager);
  vireo_authority_free (daemon->authority);
  vireo_machine_store_free (daemon->store);
  g_free (daemon->runtime_dir);
  g_free (daemon->workers_dir);
  g_free (daemon->worker_path);
  g_free (daemon->kvm_path);
  g_main_loop_unref (service.loop);
  return service.exit_status;
}
