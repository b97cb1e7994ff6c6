/* vireo-application.c — the Vireo app: hosts (local, and remote ones remembered in "remote-hosts"), the
 * manager window, connection windows, app-wide actions and the command line (--connect NAME opens a
 * machine's connection window once its service lists it). */
#include "vireo-application.h"

#include <glib/gi18n.h>

#include "vireo-connect-server.h"
#include "vireo-connection.h"
#include "vireo-resources.h"
#include "vireo-ssh-prompt.h"
#include "vireo-libvirt-host.h"
#include "vireo-ssh.h"
#include "vireo-window.h"

struct _VireoApplication
{
  AdwApplication parent_instance;

  VireoHost *hosts[2];
  GListStore *host_list;   /* every host, as the sidebar lists them */
  GSettings *settings;     /* NULL without the installed schema */
  GHashTable *connections; /* machine object path → VireoConnection (not owned: removed when it closes) */
  char *connect_name;      /* --connect: a machine to open when the session host lists it */
  gulong connect_handler;
};

G_DEFINE_FINAL_TYPE (VireoApplication, vireo_application, ADW_TYPE_APPLICATION)

enum
{
  SIGNAL_CONNECTIONS_CHANGED,
  N_SIGNALS
};

static guint signals[N_SIGNALS];

static GtkWindow *
main_window (VireoApplication *self)
{
  for (GList *l = gtk_application_get_windows (GTK_APPLICATION (self)); l; l = l->next)
    if (VIREO_IS_WINDOW (l->data))
      return l->data;
  return NULL;
}

static void
present_main_window (VireoApplication *self)
{
  GtkWindow *window = main_window (self);

  if (!window)
    window = GTK_WINDOW (vireo_window_new (self));
  gtk_window_present (window);
}

static gboolean
connect_named_machine (VireoApplication *self)
{
  GListModel *machines = vireo_host_get_machines (self->hosts[VIREO_HOST_SESSION]);

  for (guint i = 0; i < g_list_model_get_n_items (machines); i++)
    {
      g_autoptr (VireoDBusMachine) machine = g_list_model_get_item (machines, i);
      if (g_strcmp0 (vireo_dbus_machine_get_name (machine), self->connect_name) == 0)
        {
          vireo_application_connect (self, self->hosts[VIREO_HOST_SESSION], machine);
          return TRUE;
        }
    }
  return FALSE;
}

static void
on_session_machines_changed (VireoApplication *self)
{
  if (!self->connect_name || !connect_named_machine (self))
    return;
  g_clear_pointer (&self->connect_name, g_free);
  g_clear_signal_handler (&self->connect_handler, vireo_host_get_machines (self->hosts[VIREO_HOST_SESSION]));
}

static void
vireo_application_activate (GApplication *app)
{
  present_main_window (VIREO_APPLICATION (app));
}

static int
vireo_application_command_line (GApplication *app, GApplicationCommandLine *cmdline)
{
  VireoApplication *self = VIREO_APPLICATION (app);
  GVariantDict *options = g_application_command_line_get_options_dict (cmdline);
  const char *name = NULL;

  present_main_window (self);
  if (g_variant_dict_lookup (options, "connect", "&s", &name))
    {
      g_free (self->connect_name);
      self->connect_name = g_strdup (name);
      if (connect_named_machine (self))
        g_clear_pointer (&self->connect_name, g_free);
      else if (!self->connect_handler)
        self->connect_handler = g_signal_connect_swapped (
            vireo_host_get_machines (self->hosts[VIREO_HOST_SESSION]), "items-changed",
            G_CALLBACK (on_session_machines_changed), self);
    }
  return 0;
}

static void
about_activated (GSimpleAction *action, GVariant *parameter, gpointer data)
{
  VireoApplication *self = data;
  const char *developers[] = { "The Vireo developers", NULL };
  GtkWidget *about = adw_about_window_new ();

  g_object_set (about, "transient-for", gtk_application_get_active_window (GTK_APPLICATION (self)),
                "application-name", "Vireo", "application-icon", VIREO_APP_ID, "developer-name",
                _ ("The Vireo developers"), "version", VIREO_VERSION, "comments",
                _ ("Create, run and connect to virtual machines on this computer."), "license-type",
                GTK_LICENSE_GPL_2_0, "developers", developers,
                /* Translators: put your name here, one per line. */
                "translator-credits", _ ("translator-credits"), NULL);
  gtk_window_present (GTK_WINDOW (about));
}

static void
quit_activated (GSimpleAction *action, GVariant *parameter, gpointer data)
{
  GApplication *app = data;
  GList *windows = g_list_copy (gtk_application_get_windows (GTK_APPLICATION (app)));

  for (GList *l = windows; l; l = l->next)
    gtk_window_destroy (l->data);
  g_list_free (windows);
}

static void
connect_server_activated (GSimpleAction *action, GVariant *parameter, gpointer data)
{
  VireoApplication *self = data;

  vireo_connect_server_show (self, gtk_application_get_active_window (GTK_APPLICATION (self)));
}

static const GActionEntry app_actions[] = {
  { .name = "about", .activate = about_activated },
  { .name = "connect-server", .activate = connect_server_activated },
  { .name = "quit", .activate = quit_activated },
};

static void
vireo_application_startup (GApplication *app)
{
  VireoApplication *self = VIREO_APPLICATION (app);
  const char *quit_accels[] = { "<Control>q", NULL };

  G_APPLICATION_CLASS (vireo_application_parent_class)->startup (app);

  g_action_map_add_action_entries (G_ACTION_MAP (app), app_actions, G_N_ELEMENTS (app_actions), app);
  gtk_application_set_accels_for_action (GTK_APPLICATION (app), "app.quit", quit_accels);

  self->hosts[VIREO_HOST_SESSION] = vireo_host_new (VIREO_HOST_SESSION, NULL);
  g_list_store_append (self->host_list, self->hosts[VIREO_HOST_SESSION]);
  /* VIREO_NO_SYSTEM_HOST: tests (and people who never use the system service) keep to the session. */
  if (!g_getenv ("VIREO_NO_SYSTEM_HOST"))
    {
      self->hosts[VIREO_HOST_SYSTEM] = vireo_host_new (VIREO_HOST_SYSTEM, NULL);
      g_list_store_append (self->host_list, self->hosts[VIREO_HOST_SYSTEM]);
    }

  vireo_ssh_prompt_install (GTK_APPLICATION (self));
  self->settings = vireo_application_get_settings ();
  if (self->settings)
    {
      g_auto (GStrv) uris = g_settings_get_strv (self->settings, "remote-hosts");

      /* Vireo hosts over ssh and libvirt hosts; an address the app no longer understands is left alone. */
      for (char **uri = uris; *uri; uri++)
        if (vireo_ssh_parse_uri (*uri, &(VireoSshAddress){ 0 }, NULL))
          {
            g_autoptr (VireoHost) host = vireo_host_new_remote (*uri);
            g_list_store_append (self->host_list, host);
          }
        else if (vireo_libvirt_host_check_uri (*uri, NULL))
          {
            g_autoptr (VireoLibvirtHost) host = vireo_libvirt_host_new (*uri);
            g_list_store_append (self->host_list, host);
          }
    }
}

static void
vireo_application_dispose (GObject *object)
{
  VireoApplication *self = VIREO_APPLICATION (object);

  if (self->connect_handler)
    g_clear_signal_handler (&self->connect_handler,
                            vireo_host_get_machines (self->hosts[VIREO_HOST_SESSION]));
  g_clear_object (&self->hosts[VIREO_HOST_SESSION]);
  g_clear_object (&self->hosts[VIREO_HOST_SYSTEM]);
  if (self->host_list)
    g_list_store_remove_all (self->host_list);
  g_clear_object (&self->host_list);
  g_clear_object (&self->settings);
  vireo_ssh_prompt_uninstall ();
  g_clear_pointer (&self->connections, g_hash_table_unref);
  g_clear_pointer (&self->connect_name, g_free);

  G_OBJECT_CLASS (vireo_application_parent_class)->dispose (object);
}

static void
vireo_application_class_init (VireoApplicationClass *klass)
{
  GApplicationClass *app_class = G_APPLICATION_CLASS (klass);

  vireo_register_resource ();
  G_OBJECT_CLASS (klass)->dispose = vireo_application_dispose;
  app_class->startup = vireo_application_startup;
  app_class->activate = vireo_application_activate;
  app_class->command_line = vireo_application_command_line;

  signals[SIGNAL_CONNECTIONS_CHANGED] = g_signal_new ("connections-changed", G_TYPE_FROM_CLASS (klass),
                                                      G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL, G_TYPE_NONE, 0);
}

static void
vireo_application_init (VireoApplication *self)
{
  const GOptionEntry options[] = {
    { "connect", 'c', 0, G_OPTION_ARG_STRING, NULL, N_ ("Open the connection window of the machine NAME"),
      N_ ("NAME") },
    { NULL },
  };

  self->connections = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  self->host_list = g_list_store_new (G_TYPE_OBJECT);
  g_application_add_main_option_entries (G_APPLICATION (self), options);
  g_application_set_option_context_summary (G_APPLICATION (self),
                                            _ ("Manage and connect to virtual machines."));
}

VireoApplication *
vireo_application_new (void)
{
  return g_object_new (VIREO_TYPE_APPLICATION, "application-id", VIREO_APP_ID, "flags",
                       G_APPLICATION_HANDLES_COMMAND_LINE, "resource-base-path", "/org/vireo/Vireo", NULL);
}

VireoHost *
vireo_application_get_host (VireoApplication *self, VireoHostKind kind)
{
  g_return_val_if_fail (VIREO_IS_APPLICATION (self), NULL);
  g_return_val_if_fail (kind == VIREO_HOST_SESSION || kind == VIREO_HOST_SYSTEM, NULL);
  return self->hosts[kind];
}

GListModel *
vireo_application_get_hosts (VireoApplication *self)
{
  g_return_val_if_fail (VIREO_IS_APPLICATION (self), NULL);
  return G_LIST_MODEL (self->host_list);
}

static const char *
host_uri (GObject *host)
{
  if (VIREO_IS_HOST (host))
    return vireo_host_get_uri (VIREO_HOST (host));
  if (VIREO_IS_LIBVIRT_HOST (host))
    return vireo_libvirt_host_get_uri (VIREO_LIBVIRT_HOST (host));
  return NULL;
}

static GObject *
find_host (VireoApplication *self, const char *uri, guint *position)
{
  guint n = g_list_model_get_n_items (G_LIST_MODEL (self->host_list));

  for (guint i = 0; i < n; i++)
    {
      g_autoptr (GObject) item = g_list_model_get_item (G_LIST_MODEL (self->host_list), i);
      if (uri && g_strcmp0 (host_uri (item), uri) == 0)
        {
          if (position)
            *position = i;
          return item; /* the list keeps it */
        }
    }
  return NULL;
}

GObject *
vireo_application_find_host (VireoApplication *self, const char *uri)
{
  g_return_val_if_fail (VIREO_IS_APPLICATION (self), NULL);
  return find_host (self, uri, NULL);
}

static void
remember_uris (VireoApplication *self, const char *add, const char *remove)
{
  g_auto (GStrv) uris = NULL;
  g_autoptr (GStrvBuilder) kept = g_strv_builder_new ();
  g_auto (GStrv) result = NULL;

  if (!self->settings)
    return;
  uris = g_settings_get_strv (self->settings, "remote-hosts");
  for (char **uri = uris; *uri; uri++)
    if (g_strcmp0 (*uri, remove) != 0 && g_strcmp0 (*uri, add) != 0)
      g_strv_builder_add (kept, *uri);
  if (add)
    g_strv_builder_add (kept, add);
  result = g_strv_builder_end (kept);
  g_settings_set_strv (self->settings, "remote-hosts", (const char *const *) result);
}

/* Whether @uri is a libvirt address rather than a Vireo host's: libvirt's QEMU driver names start so. */
static gboolean
is_libvirt_uri (const char *uri)
{
  return g_str_has_prefix (uri, "qemu:") || g_str_has_prefix (uri, "qemu+");
}

gboolean
vireo_application_add_host_uri (VireoApplication *self, const char *uri, GError **error)
{
  g_autoptr (GObject) host = NULL;

  g_return_val_if_fail (VIREO_IS_APPLICATION (self), FALSE);
  if (is_libvirt_uri (uri) ? !vireo_libvirt_host_check_uri (uri, error)
                           : !vireo_ssh_parse_uri (uri, &(VireoSshAddress){ 0 }, error))
    return FALSE;
  if (find_host (self, uri, NULL))
    {
      g_autofree char *name = is_libvirt_uri (uri) ? g_strdup (uri) : vireo_ssh_describe_uri (uri);
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_EXISTS, _ ("%s is already in the list"), name);
      return FALSE;
    }
  host = is_libvirt_uri (uri) ? G_OBJECT (vireo_libvirt_host_new (uri))
                              : G_OBJECT (vireo_host_new_remote (uri));
  remember_uris (self, uri, NULL);
  g_list_store_append (self->host_list, host);
  return TRUE;
}

void
vireo_application_forget_host (VireoApplication *self, GObject *host)
{
  const char *uri;
  guint position;

  g_return_if_fail (VIREO_IS_APPLICATION (self));
  /* This computer's own services stay. */
  if (VIREO_IS_HOST (host) && vireo_host_get_kind (VIREO_HOST (host)) != VIREO_HOST_REMOTE)
    return;
  uri = host_uri (host);
  if (!uri)
    return;
  remember_uris (self, NULL, uri);
  if (find_host (self, uri, &position))
    {
      g_autoptr (GObject) forgotten = g_object_ref (host);

      g_list_store_remove (self->host_list, position);
      /* Its connection ends now, not when the last window lets go of it. */
      g_object_run_dispose (forgotten);
    }
}

static void
on_connection_destroyed (gpointer data, GObject *where_the_object_was)
{
  VireoApplication *self = data;
  GHashTableIter iter;
  gpointer window;

  if (!self->connections)
    return;
  g_hash_table_iter_init (&iter, self->connections);
  while (g_hash_table_iter_next (&iter, NULL, &window))
    if (window == where_the_object_was)
      g_hash_table_iter_remove (&iter);
  g_signal_emit (self, signals[SIGNAL_CONNECTIONS_CHANGED], 0);
}

GtkWindow *
vireo_application_connect (VireoApplication *self, VireoHost *host, VireoDBusMachine *machine)
{
  const char *path;
  GtkWindow *window;

  g_return_val_if_fail (VIREO_IS_APPLICATION (self), NULL);
  g_return_val_if_fail (VIREO_DBUS_IS_MACHINE (machine), NULL);

  path = g_dbus_proxy_get_object_path (G_DBUS_PROXY (machine));
  window = g_hash_table_lookup (self->connections, path);
  if (!window)
    {
      window = GTK_WINDOW (vireo_connection_new (self, host, machine));
      g_hash_table_insert (self->connections, g_strdup (path), window);
      g_object_weak_ref (G_OBJECT (window), on_connection_destroyed, self);
      g_signal_emit (self, signals[SIGNAL_CONNECTIONS_CHANGED], 0);
    }
  gtk_window_present (window);
  return window;
}

GtkWindow *
vireo_application_get_connection (VireoApplication *self, const char *object_path)
{
  g_return_val_if_fail (VIREO_IS_APPLICATION (self), NULL);
  return object_path ? g_hash_table_lookup (self->connections, object_path) : NULL;
}

GSettings *
vireo_application_get_settings (void)
{
  GSettingsSchemaSource *source = g_settings_schema_source_get_default ();
  g_autoptr (GSettingsSchema) schema = NULL;

  if (source)
    schema = g_settings_schema_source_lookup (source, VIREO_APP_ID, TRUE);
  return schema ? g_settings_new_full (schema, NULL, NULL) : NULL;
}
