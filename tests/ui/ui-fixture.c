/* ui-fixture.c — the ui suite's shared setup: a private session bus, the real vireod --session on it, the
 * Vireo app running in the test process, and helpers to wait, render and drive machines. */
#include "ui-fixture.h"
#include "ui-renderer.h"

#include <errno.h>
#include <fcntl.h>
#include <gio/gunixfdlist.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#define BUS_NAME      "org.vireo.Vireo1"
#define ROOT_PATH     "/org/vireo/Vireo1"
#define MACHINE_IFACE "org.vireo.Vireo1.Machine"
/* Deadlines, not expectations: no test asserts how long anything took. */
#define WAIT_SECONDS    60
#define CALL_TIMEOUT_MS (180 * 1000)

gboolean
vireo_ui_wait (VireoTestCondition condition, gpointer data, unsigned seconds)
{
  return vireo_test_wait_until (condition, data, seconds);
}

static gboolean
keep_going (gpointer data)
{
  return G_SOURCE_CONTINUE;
}

void
vireo_ui_spin (unsigned ms)
{
  gint64 end = g_get_monotonic_time () + (gint64) ms * 1000;
  guint tick = g_timeout_add (10, keep_going, NULL);

  while (g_get_monotonic_time () < end)
    g_main_context_iteration (NULL, TRUE);
  g_source_remove (tick);
}

typedef struct
{
  VireoUiFixture *f;
  gboolean owned;
} NameQuery;

static void
on_name_appeared (GDBusConnection *c, const char *name, const char *owner, gpointer data)
{
  ((NameQuery *) data)->owned = TRUE;
}

static void
on_name_vanished (GDBusConnection *c, const char *name, gpointer data)
{
  ((NameQuery *) data)->owned = FALSE;
}

static gboolean
name_owned (gpointer data)
{
  return ((NameQuery *) data)->owned;
}

static gboolean
name_unowned (gpointer data)
{
  return !((NameQuery *) data)->owned;
}

void
vireo_ui_start_vireod (VireoUiFixture *f)
{
  g_autoptr (GSubprocessLauncher) launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_NONE);
  g_autoptr (GError) error = NULL;
  g_autofree char *log_path = g_build_filename (f->base, "vireod.log", NULL);
  const char *vireod = g_getenv ("VIREOD");
  NameQuery query = { f, FALSE };
  guint watch;
  int log_fd;

  g_assert_nonnull (vireod);
  g_assert_null (f->vireod);
  g_subprocess_launcher_setenv (launcher, "XDG_RUNTIME_DIR", f->runtime_dir, TRUE);
  log_fd = open (log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  g_assert_cmpint (log_fd, >=, 0);
  g_subprocess_launcher_take_stdout_fd (launcher, dup (log_fd));
  g_subprocess_launcher_take_stderr_fd (launcher, log_fd);
  f->vireod = g_subprocess_launcher_spawn (launcher, &error, vireod, "--session", "--storage", f->storage,
                                           NULL);
  g_assert_no_error (error);

  watch = g_bus_watch_name_on_connection (f->connection, BUS_NAME, G_BUS_NAME_WATCHER_FLAGS_NONE,
                                          on_name_appeared, on_name_vanished, &query, NULL);
  g_assert_true (vireo_ui_wait (name_owned, &query, WAIT_SECONDS));
  g_bus_unwatch_name (watch);
}

void
vireo_ui_stop_vireod (VireoUiFixture *f)
{
  NameQuery query = { f, TRUE };
  g_autoptr (GError) error = NULL;
  guint watch;

  g_assert_nonnull (f->vireod);
  g_subprocess_send_signal (f->vireod, SIGTERM);
  g_assert_true (g_subprocess_wait_check (f->vireod, NULL, &error));
  g_clear_object (&f->vireod);
  watch = g_bus_watch_name_on_connection (f->connection, BUS_NAME, G_BUS_NAME_WATCHER_FLAGS_NONE,
                                          on_name_appeared, on_name_vanished, &query, NULL);
  g_assert_true (vireo_ui_wait (name_unowned, &query, WAIT_SECONDS));
  g_bus_unwatch_name (watch);
}

static gboolean
window_ready (gpointer data)
{
  VireoUiFixture *f = data;
  GList *windows = gtk_application_get_windows (GTK_APPLICATION (f->app));

  return windows && VIREO_IS_WINDOW (windows->data) && gtk_widget_get_mapped (windows->data)
         && vireo_host_get_available (f->host);
}

gboolean
vireo_ui_init (VireoUiFixture *f, int *argc, char ***argv)
{
  g_autoptr (GError) error = NULL;

  memset (f, 0, sizeof *f);
  /* The app's own tests keep to the session service; a system service on the test machine is not ours. */
  g_setenv ("VIREO_NO_SYSTEM_HOST", "1", TRUE);
  g_setenv ("GSETTINGS_BACKEND", "memory", TRUE);
  g_test_init (argc, argv, NULL);
  /* Criticals stay fatal; warnings not: spice-client-glib warns whenever a connection it had ends, which
   * closing a window or resetting a machine makes happen. */
  g_log_set_always_fatal (G_LOG_FATAL_MASK | G_LOG_LEVEL_CRITICAL);
  if (access ("/dev/kvm", R_OK | W_OK) != 0)
    {
      g_print ("1..0 # SKIP needs /dev/kvm, which cannot be opened: %s\n", g_strerror (errno));
      return FALSE;
    }
  if (!gtk_init_check ())
    {
      g_print ("1..0 # SKIP no display: GTK cannot open one (DISPLAY=%s)\n", g_getenv ("DISPLAY"));
      return FALSE;
    }

  f->base = g_dir_make_tmp ("vireo-ui-XXXXXX", &error);
  g_assert_no_error (error);
  f->storage = g_build_filename (f->base, "storage", NULL);
  f->runtime_dir = g_build_filename (f->base, "run", NULL);
  g_assert_cmpint (g_mkdir_with_parents (f->runtime_dir, 0700), ==, 0);

  /* g_test_dbus_up() points DBUS_SESSION_BUS_ADDRESS at the private bus: the app's g_bus_get() finds it. */
  f->bus = g_test_dbus_new (G_TEST_DBUS_NONE);
  g_test_dbus_up (f->bus);
  f->connection = g_dbus_connection_new_for_address_sync (
      g_test_dbus_get_bus_address (f->bus),
      G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT | G_DBUS_CONNECTION_FLAGS_MESSAGE_BUS_CONNECTION, NULL,
      NULL, &error);
  g_assert_no_error (error);
  vireo_ui_start_vireod (f);

  f->app = vireo_application_new ();
  g_application_register (G_APPLICATION (f->app), NULL, &error);
  g_assert_no_error (error);
  g_application_activate (G_APPLICATION (f->app));
  f->host = vireo_application_get_host (f->app, VIREO_HOST_SESSION);
  g_assert_true (vireo_ui_wait (window_ready, f, WAIT_SECONDS));
  f->window = gtk_application_get_windows (GTK_APPLICATION (f->app))->data;
  return TRUE;
}

void
vireo_ui_cleanup (VireoUiFixture *f)
{
  if (f->app)
    {
      g_action_group_activate_action (G_ACTION_GROUP (f->app), "quit", NULL);
      vireo_ui_spin (200);
      g_clear_object (&f->app);
    }
  if (f->vireod)
    vireo_ui_stop_vireod (f);
  /* Workers outlive vireod on purpose; SIGTERM turns their machines off. */
  if (f->runtime_dir)
    vireo_test_signal_processes ("vireo-worker", f->runtime_dir, SIGTERM, WAIT_SECONDS);
  if (f->connection)
    g_dbus_connection_close_sync (f->connection, NULL, NULL);
  g_clear_object (&f->connection);
  /* Stopped, not brought down: the app's bus singleton lives until the process ends, and unreffing a
   * GTestDBus that is up would wait for it. */
  if (f->bus)
    g_test_dbus_stop (f->bus);
  if (f->base)
    vireo_test_remove_tree (f->base);
  g_free (f->base);
  g_free (f->storage);
  g_free (f->runtime_dir);
}

static GVariant *
call (VireoUiFixture *f, const char *path, const char *iface, const char *method, GVariant *args,
      const GVariantType *reply_type, GUnixFDList **fds)
{
  g_autoptr (GError) error = NULL;
  GVariant *reply = g_dbus_connection_call_with_unix_fd_list_sync (
      f->connection, BUS_NAME, path, iface, method, args, reply_type, G_DBUS_CALL_FLAGS_NONE, CALL_TIMEOUT_MS,
      NULL, fds, NULL, &error);

  g_assert_no_error (error);
  return reply;
}

char *
vireo_ui_create_machine (VireoUiFixture *f, const char *name, const char *guest, gboolean display)
{
  g_autofree char *kernel = vireo_test_guest_path (guest);
  GVariantBuilder settings;
  g_autoptr (GVariant) reply = NULL;
  char *path;

  g_variant_builder_init (&settings, G_VARIANT_TYPE_VARDICT);
  g_variant_builder_add (&settings, "{sv}", "name", g_variant_new_string (name));
  g_variant_builder_add (&settings, "{sv}", "kernel", g_variant_new_string (kernel));
  g_variant_builder_add (&settings, "{sv}", "memory-mib", g_variant_new_uint64 (64));
  g_variant_builder_add (&settings, "{sv}", "display", g_variant_new_boolean (display));
  reply = call (f, ROOT_PATH, "org.vireo.Vireo1.Manager", "CreateMachine",
                g_variant_new ("(a{sv})", &settings), G_VARIANT_TYPE ("(o)"), NULL);
  g_variant_get (reply, "(o)", &path);
  return path;
}

char *
vireo_ui_machine_state (VireoUiFixture *f, const char *object_path)
{
  g_autoptr (GVariant) reply = call (f, object_path, "org.freedesktop.DBus.Properties", "Get",
                                     g_variant_new ("(ss)", MACHINE_IFACE, "State"), G_VARIANT_TYPE ("(v)"),
                                     NULL);
  g_autoptr (GVariant) value = NULL;

  g_variant_get (reply, "(v)", &value);
  return g_variant_dup_string (value, NULL);
}

GVariant *
vireo_ui_machine_settings (VireoUiFixture *f, const char *object_path)
{
  g_autoptr (GVariant) reply = call (f, object_path, "org.freedesktop.DBus.Properties", "Get",
                                     g_variant_new ("(ss)", MACHINE_IFACE, "Settings"),
                                     G_VARIANT_TYPE ("(v)"), NULL);
  GVariant *settings;

  g_variant_get (reply, "(v)", &settings);
  return settings;
}

typedef struct
{
  VireoUiFixture *f;
  const char *path;
} ListedQuery;

static gboolean
machine_listed (gpointer data)
{
  ListedQuery *query = data;

  return vireo_host_find_machine (query->f->host, query->path) != NULL;
}

gboolean
vireo_ui_wait_for_listed (VireoUiFixture *f, const char *object_path, unsigned seconds)
{
  ListedQuery query = { f, object_path };

  return vireo_ui_wait (machine_listed, &query, seconds);
}

void
vireo_ui_machine_call (VireoUiFixture *f, const char *object_path, const char *method)
{
  g_autoptr (GVariant) reply = call (f, object_path, MACHINE_IFACE, method, NULL, NULL, NULL);
}

typedef struct
{
  VireoUiFixture *f;
  const char *path;
  const char *state;
} StateQuery;

static gboolean
state_reached (gpointer data)
{
  StateQuery *query = data;
  g_autofree char *state = vireo_ui_machine_state (query->f, query->path);

  return g_strcmp0 (state, query->state) == 0;
}

gboolean
vireo_ui_wait_for_state (VireoUiFixture *f, const char *object_path, const char *state, unsigned seconds)
{
  StateQuery query = { f, object_path, state };

  return vireo_ui_wait (state_reached, &query, seconds);
}

char *
vireo_ui_serial_output (VireoUiFixture *f, const char *object_path)
{
  g_autoptr (GUnixFDList) fds = NULL;
  g_autoptr (GVariant) reply = NULL;
  g_autoptr (GError) error = NULL;
  GString *output = g_string_new (NULL);
  struct pollfd pfd;
  int fd;

  reply = call (f, object_path, MACHINE_IFACE, "OpenSerial", NULL, G_VARIANT_TYPE ("(h)"), &fds);
  fd = g_unix_fd_list_get (fds, 0, &error);
  g_assert_no_error (error);
  pfd.fd = fd;
  pfd.events = POLLIN;
  /* The service replays the history at once; a quiet 200 ms means we have it all. */
  while (poll (&pfd, 1, 200) > 0)
    {
      char buffer[4096];
      ssize_t n = read (fd, buffer, sizeof buffer);
      if (n <= 0)
        break;
      g_string_append_len (output, buffer, n);
    }
  close (fd);
  return g_string_free (output, FALSE);
}

GdkTexture *
vireo_ui_render (GtkWidget *widget, const char *name)
{
  g_autoptr (GdkPaintable) paintable = NULL;
  g_autoptr (GtkSnapshot) snapshot = gtk_snapshot_new ();
  g_autoptr (GskRenderNode) node = NULL;
  int width, height;
  GskRenderer *renderer = vireo_ui_renderer (widget);
  GdkTexture *texture;

  /* What the last frame drew: let pending layout and drawing happen first. */
  gtk_test_widget_wait_for_draw (GTK_WIDGET (gtk_widget_get_root (widget)));
  paintable = gtk_widget_paintable_new (widget);
  width = gtk_widget_get_width (widget);
  height = gtk_widget_get_height (widget);

  g_assert_cmpint (width, >, 0);
  g_assert_cmpint (height, >, 0);
  /* An opaque background, as the window would have behind the widget. */
  gtk_snapshot_append_color (snapshot, &(GdkRGBA){ 1, 1, 1, 1 }, &GRAPHENE_RECT_INIT (0, 0, width, height));
  gdk_paintable_snapshot (paintable, snapshot, width, height);
  node = gtk_snapshot_free_to_node (g_steal_pointer (&snapshot));
  g_assert_nonnull (node);
  texture = gsk_renderer_render_texture (renderer, node, &GRAPHENE_RECT_INIT (0, 0, width, height));
  if (name)
    {
      const char *dir = g_getenv ("VIREO_UI_SCREENSHOTS") ? g_getenv ("VIREO_UI_SCREENSHOTS")
                                                          : g_get_tmp_dir ();
      g_autofree char *file = g_strdup_printf ("%s.png", name);
      g_autofree char *path = g_build_filename (dir, file, NULL);
      g_mkdir_with_parents (dir, 0755);
      if (gdk_texture_save_to_png (texture, path))
        g_test_message ("screenshot: %s", path);
    }
  return texture;
}

guint32
vireo_ui_pixel (GdkTexture *texture, int x, int y)
{
  int width = gdk_texture_get_width (texture);
  int height = gdk_texture_get_height (texture);
  g_autofree guint8 *data = NULL;
  const guint8 *p;

  g_assert_cmpint (x, >=, 0);
  g_assert_cmpint (y, >=, 0);
  g_assert_cmpint (x, <, width);
  g_assert_cmpint (y, <, height);
  /* gdk_texture_download gives B8G8R8A8 premultiplied (Cairo's ARGB32 in memory on little-endian). */
  data = g_malloc ((gsize) width * height * 4);
  gdk_texture_download (texture, data, (gsize) width * 4);
  p = data + ((gsize) y * width + x) * 4;
  return (guint32) p[2] << 16 | (guint32) p[1] << 8 | p[0];
}

GtkWidget *
vireo_ui_find_label (GtkWidget *root, const char *text)
{
  if (!gtk_widget_get_mapped (root))
    return NULL;
  if (GTK_IS_LABEL (root) && strstr (gtk_label_get_text (GTK_LABEL (root)), text))
    return root;
  for (GtkWidget *child = gtk_widget_get_first_child (root); child;
       child = gtk_widget_get_next_sibling (child))
    {
      GtkWidget *found = vireo_ui_find_label (child, text);
      if (found)
        return found;
    }
  return NULL;
}

typedef struct
{
  GtkWidget *root;
  const char *text;
} LabelQuery;

static gboolean
label_shown (gpointer data)
{
  LabelQuery *query = data;

  return vireo_ui_find_label (query->root, query->text) != NULL;
}

gboolean
vireo_ui_wait_for_label (GtkWidget *root, const char *text, unsigned seconds)
{
  LabelQuery query = { root, text };

  return vireo_ui_wait (label_shown, &query, seconds);
}

GtkWidget *
vireo_ui_find_named (GtkWidget *root, const char *name)
{
  if (g_strcmp0 (gtk_widget_get_name (root), name) == 0)
    return root;
  for (GtkWidget *child = gtk_widget_get_first_child (root); child;
       child = gtk_widget_get_next_sibling (child))
    {
      GtkWidget *found = vireo_ui_find_named (child, name);
      if (found)
        return found;
    }
  return NULL;
}

GtkWidget *
vireo_ui_find_mapped_type (GtkWidget *root, GType type)
{
  if (G_TYPE_CHECK_INSTANCE_TYPE (root, type) && gtk_widget_get_mapped (root))
    return root;
  for (GtkWidget *child = gtk_widget_get_first_child (root); child;
       child = gtk_widget_get_next_sibling (child))
    {
      GtkWidget *found = vireo_ui_find_mapped_type (child, type);
      if (found)
        return found;
    }
  return NULL;
}

GtkWindow *
vireo_ui_find_window (const char *name)
{
  GListModel *toplevels = gtk_window_get_toplevels ();

  for (guint i = 0; i < g_list_model_get_n_items (toplevels); i++)
    {
      g_autoptr (GtkWindow) window = g_list_model_get_item (toplevels, i);
      if (g_strcmp0 (gtk_widget_get_name (GTK_WIDGET (window)), name) == 0)
        return window; /* GTK keeps it while it is shown */
    }
  return NULL;
}
