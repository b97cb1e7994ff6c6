/* test-connection.c — the ui suite's connection-window tests: the real app, vireod --session and the
 * display test guest (tests/guests/display.c documents its pattern and serial protocol).  The window is
 * opened the way a user does (Connect on the selected machine) and judged by its pixels and by what the
 * guest reports on serial. */
#include "ui-fixture.h"

#include <errno.h>
#include <poll.h>
#include <spice/protocol.h>
#include <unistd.h>
#include <vte/vte.h>

#include "display/vireo-display-private.h"
#include "vireo-connection.h"

#define WAIT_SECONDS 90

static VireoUiFixture fixture;
static char *demo_path;
static VireoConnection *connection;

/* The mapped display under @root, or NULL. */
static VireoDisplay *
find_display (GtkWidget *root)
{
  return (VireoDisplay *) vireo_ui_find_mapped_type (root, VIREO_TYPE_DISPLAY);
}

static gboolean
display_connected (gpointer data)
{
  VireoDisplay *display = find_display (data);
  int width = 0, height = 0;

  if (!display || vireo_display_get_state (display) != VIREO_DISPLAY_CONNECTED
      || !vireo_display_get_inputs_ready (display))
    return FALSE;
  vireo_display_get_guest_size (display, &width, &height);
  return width > 0;
}

typedef struct
{
  const char *path;
  const char *needle;
} SerialQuery;

static gboolean
serial_has (gpointer data)
{
  SerialQuery *query = data;
  g_autofree char *output = vireo_ui_serial_output (&fixture, query->path);

  return strstr (output, query->needle) != NULL;
}

static gboolean
wait_for_serial (const char *path, const char *needle)
{
  SerialQuery query = { path, needle };

  if (vireo_ui_wait (serial_has, &query, WAIT_SECONDS))
    return TRUE;
  /* What the guest did say (a key that came through the PS/2 keyboard instead, or nothing). */
  {
    g_autofree char *output = vireo_ui_serial_output (&fixture, path);
    g_test_message ("no “%s” on the serial console; its last lines:\n%s", needle,
                    strlen (output) > 2000 ? output + strlen (output) - 2000 : output);
  }
  return FALSE;
}

/* The guest pixel (x, y) as the display widget shows it now: sampled at the middle of its widget area. */
static guint32
shown_pixel (VireoDisplay *display, GdkTexture *shot, int x, int y)
{
  VireoFrameLayout layout;
  graphene_rect_t rect;

  vireo_display_get_layout (display, &layout);
  vireo_frame_layout_to_widget (&layout, x, y, 1, 1, &rect);
  return vireo_ui_pixel (shot, (int) (rect.origin.x + rect.size.width / 2),
                         (int) (rect.origin.y + rect.size.height / 2));
}

static gboolean
pattern_shown (VireoDisplay *display, const char *name)
{
  static const guint32 bars[8] = { 0xffffff, 0xffff00, 0x00ffff, 0x00ff00,
                                   0xff00ff, 0xff0000, 0x0000ff, 0x808080 };
  g_autoptr (GdkTexture) shot = vireo_ui_render (GTK_WIDGET (display), name);
  int width, height;

  vireo_display_get_guest_size (display, &width, &height);
  /* Away from the edges of each area, so that scaling blends nothing in. */
  if (shown_pixel (display, shot, 132, 132) != 0xffffff || shown_pixel (display, shot, 40, 40) != 0x000000)
    return FALSE;
  for (int i = 0; i < 8; i++)
    if (shown_pixel (display, shot, i * width / 8 + width / 16, height * 3 / 4) != bars[i])
      return FALSE;
  return TRUE;
}

static gboolean
pattern_shown_now (gpointer data)
{
  VireoDisplay *display = find_display (data);

  return display && pattern_shown (display, NULL);
}

static GtkWindow *
connection_window (void)
{
  for (GList *l = gtk_application_get_windows (GTK_APPLICATION (fixture.app)); l; l = l->next)
    if (VIREO_IS_CONNECTION (l->data))
      return l->data;
  return NULL;
}

static gboolean
connection_shown (gpointer data)
{
  GtkWindow *window = connection_window ();

  return window && gtk_widget_get_mapped (GTK_WIDGET (window));
}

static GtkWidget *
find_picture (GtkWidget *root)
{
  if (GTK_IS_PICTURE (root) && gtk_widget_get_mapped (root) && gtk_picture_get_paintable (GTK_PICTURE (root)))
    return root;
  for (GtkWidget *child = gtk_widget_get_first_child (root); child;
       child = gtk_widget_get_next_sibling (child))
    {
      GtkWidget *found = find_picture (child);
      if (found)
        return found;
    }
  return NULL;
}

/* The thumbnail has the pattern's yellow and blue bars somewhere along the row at 3/4 of its height. */
static gboolean
thumbnail_shows_bars (gpointer data)
{
  GtkWidget *picture = find_picture (GTK_WIDGET (fixture.window));
  g_autoptr (GdkTexture) shot = NULL;
  gboolean yellow = FALSE, blue = FALSE;
  int width, y;

  if (!picture)
    return FALSE;
  shot = vireo_ui_render (picture, NULL);
  width = gdk_texture_get_width (shot);
  y = gdk_texture_get_height (shot) * 3 / 4;
  for (int x = 0; x < width; x++)
    {
      guint32 pixel = vireo_ui_pixel (shot, x, y);
      yellow |= pixel == 0xffff00;
      blue |= pixel == 0x0000ff;
    }
  return yellow && blue;
}

/* Connect on a running machine with a display: the window shows the guest's pattern. */
static void
test_display (void)
{
  VireoDisplay *display;

  demo_path = vireo_ui_create_machine (&fixture, "demo", "display", TRUE);
  vireo_ui_machine_call (&fixture, demo_path, "Start");
  g_assert_true (vireo_ui_wait_for_state (&fixture, demo_path, "running", WAIT_SECONDS));
  g_assert_true (wait_for_serial (demo_path, "display: input ready"));

  g_assert_true (vireo_ui_wait_for_label (GTK_WIDGET (fixture.window), "demo", WAIT_SECONDS));
  g_assert_true (vireo_window_select (fixture.window, VIREO_HOST_SESSION, demo_path));
  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (fixture.window), "win.connect", NULL));
  g_assert_true (vireo_ui_wait (connection_shown, NULL, WAIT_SECONDS));
  connection = VIREO_CONNECTION (connection_window ());

  g_assert_true (vireo_ui_wait (display_connected, connection, WAIT_SECONDS));
  g_assert_true (vireo_ui_wait (pattern_shown_now, connection, WAIT_SECONDS));
  display = find_display (GTK_WIDGET (connection));
  /* Its streams come from the machine's host (which relays them through ssh when it is remote). */
  g_assert_true (display->streams == VIREO_STREAM_SOURCE (fixture.host));
  g_assert_true (pattern_shown (display, "vireo-connection-display"));
  g_autoptr (GdkTexture) window_shot = vireo_ui_render (GTK_WIDGET (connection), "vireo-connection-window");

  /* The manager's thumbnail of the same machine mirrors the window (the server has one client). */
  g_assert_true (vireo_ui_wait (thumbnail_shows_bars, NULL, WAIT_SECONDS));
  g_autoptr (GdkTexture) manager_shot = vireo_ui_render (GTK_WIDGET (fixture.window), "vireo-app-thumbnail");
}

/* Keys typed on the display reach the guest as the scancodes of those keys. */
static void
test_keys (void)
{
  VireoDisplay *display = find_display (GTK_WIDGET (connection));

  g_assert_nonnull (display);
  vireo_display_grab_keyboard (display);
  g_assert_true (vireo_display_get_keyboard_grabbed (display));
  /* X11 keycodes are evdev + 8: KEY_A is 30, KEY_ENTER 28. */
  g_assert_true (vireo_display_handle_key (display, 30 + 8, TRUE));
  g_assert_true (vireo_display_handle_key (display, 30 + 8, FALSE));
  g_assert_true (wait_for_serial (demo_path, "key: virtio 30 1"));
  g_assert_true (wait_for_serial (demo_path, "key: virtio 30 0"));

  g_assert_cmpuint (vireo_display_type_text (display, "Hi\n"), ==, 0);
  g_assert_true (wait_for_serial (demo_path, "key: virtio 42 1")); /* left Shift for the H */
  g_assert_true (wait_for_serial (demo_path, "key: virtio 35 1")); /* H */
  g_assert_true (wait_for_serial (demo_path, "key: virtio 23 1")); /* I */
  g_assert_true (wait_for_serial (demo_path, "key: virtio 28 1")); /* Enter */
  g_assert_true (wait_for_serial (demo_path, "key: virtio 28 0"));
  vireo_display_release_keyboard (display);
  g_assert_false (vireo_display_get_keyboard_grabbed (display));
}

/* The toolbar's Ctrl+Alt+Del reaches the guest. */
static void
test_ctrl_alt_del (void)
{
  /* As a user's click comes: a moment after the typing above.  Sent within a few milliseconds of the
   * keyboard's release, these keys have been seen not to reach the guest (see the closing note). */
  vireo_ui_spin (500);
  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (connection), "win.ctrl-alt-del", NULL));
  g_assert_true (wait_for_serial (demo_path, "key: virtio 29 1"));  /* left Ctrl */
  g_assert_true (wait_for_serial (demo_path, "key: virtio 56 1"));  /* left Alt */
  g_assert_true (wait_for_serial (demo_path, "key: virtio 111 1")); /* Delete */
  g_assert_true (wait_for_serial (demo_path, "key: virtio 111 0"));
}

static gboolean
display_disconnected (gpointer data)
{
  VireoDisplay *display = find_display (data);

  return !display || vireo_display_get_state (display) != VIREO_DISPLAY_CONNECTED;
}

/* A guest reset starts a new display server in the worker: the window connects again by itself. */
static void
test_reconnect_after_reset (void)
{
  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (connection), "win.reset", NULL));
  g_assert_true (vireo_ui_wait (display_disconnected, connection, WAIT_SECONDS));
  g_assert_true (vireo_ui_wait (display_connected, connection, WAIT_SECONDS));
  g_assert_true (vireo_ui_wait (pattern_shown_now, connection, WAIT_SECONDS));
}

static char *
terminal_text (VteTerminal *terminal)
{
  G_GNUC_BEGIN_IGNORE_DEPRECATIONS
  return vte_terminal_get_text (terminal, NULL, NULL, NULL);
  G_GNUC_END_IGNORE_DEPRECATIONS
}

static VteTerminal *
find_terminal (GtkWidget *root)
{
  if (VTE_IS_TERMINAL (root))
    return VTE_TERMINAL (root);
  for (GtkWidget *child = gtk_widget_get_first_child (root); child;
       child = gtk_widget_get_next_sibling (child))
    {
      VteTerminal *found = find_terminal (child);
      if (found)
        return found;
    }
  return NULL;
}

static gboolean
terminal_has (gpointer data)
{
  VteTerminal *terminal = find_terminal (GTK_WIDGET (connection));
  g_autofree char *text = terminal ? terminal_text (terminal) : NULL;

  return text && strstr (text, data);
}

/* A machine without a display opens on its serial console, which shows what it prints and types into it. */
static void
test_serial_console (void)
{
  g_autofree char *echo_path = vireo_ui_create_machine (&fixture, "console", "echo", FALSE);
  VteTerminal *terminal;

  vireo_ui_machine_call (&fixture, echo_path, "Start");
  g_assert_true (wait_for_serial (echo_path, "echo ready"));
  g_assert_true (vireo_ui_wait_for_label (GTK_WIDGET (fixture.window), "console", WAIT_SECONDS));
  g_assert_true (vireo_window_select (fixture.window, VIREO_HOST_SESSION, echo_path));
  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (fixture.window), "win.connect", NULL));

  connection = NULL;
  for (GList *l = gtk_application_get_windows (GTK_APPLICATION (fixture.app)); l; l = l->next)
    if (VIREO_IS_CONNECTION (l->data)
        && g_str_equal (g_dbus_proxy_get_object_path (G_DBUS_PROXY (vireo_connection_get_machine (l->data))),
                        echo_path))
      connection = l->data;
  g_assert_nonnull (connection);
  g_assert_true (vireo_ui_wait (terminal_has, (gpointer) "echo ready", WAIT_SECONDS));

  terminal = find_terminal (GTK_WIDGET (connection));
  vte_terminal_feed_child (terminal, "typed into the console", -1);
  g_assert_true (vireo_ui_wait (terminal_has, (gpointer) "typed into the console", WAIT_SECONDS));
  g_assert_true (wait_for_serial (echo_path, "typed into the console"));
  vireo_ui_spin (300);
  g_autoptr (GdkTexture) shot = vireo_ui_render (GTK_WIDGET (connection), "vireo-connection-serial");
}

typedef struct
{
  GAsyncResult *result;
} StreamCall;

static void
on_stream_opened (GObject *source, GAsyncResult *result, gpointer data)
{
  ((StreamCall *) data)->result = g_object_ref (result);
}

static gboolean
stream_call_done (gpointer data)
{
  return ((StreamCall *) data)->result != NULL;
}

/* vireo_host_open_stream() on the app's host, to its end. */
static int
open_stream (const char *path, VireoStreamKind kind, GError **error)
{
  StreamCall call = { NULL };
  int fd;

  vireo_host_open_stream (fixture.host, vireo_host_find_machine (fixture.host, path), kind, NULL,
                          on_stream_opened, &call);
  g_assert_true (vireo_ui_wait (stream_call_done, &call, WAIT_SECONDS));
  fd = vireo_host_open_stream_finish (fixture.host, call.result, error);
  g_object_unref (call.result);
  return fd;
}

/* Reads @fd until @text appears (or the deadline passes, or the stream ends). */
static gboolean
stream_shows (int fd, const char *text)
{
  g_autoptr (GString) seen = g_string_new (NULL);
  gint64 deadline = g_get_monotonic_time () + WAIT_SECONDS * G_USEC_PER_SEC;

  while (strstr (seen->str, text) == NULL && g_get_monotonic_time () < deadline)
    {
      struct pollfd pfd = { .fd = fd, .events = POLLIN };
      char buffer[4096];
      ssize_t n;

      if (poll (&pfd, 1, 100) <= 0)
        continue;
      n = read (fd, buffer, sizeof buffer);
      if (n <= 0 && errno != EAGAIN && errno != EINTR)
        break;
      if (n > 0)
        g_string_append_len (seen, buffer, n);
    }
  return strstr (seen->str, text) != NULL;
}

/* The host hands out a machine's streams as the connection window gets them: its serial console (which
 * replays what the guest wrote), its display (a SPICE server, which answers a client's first message with
 * "REDQ"), and for a machine that is off, the service's reason. */
static void
test_host_streams (void)
{
  g_autofree char *idle_path = vireo_ui_create_machine (&fixture, "idle", "echo", FALSE);
  g_autoptr (GError) error = NULL;
  SpiceLinkHeader header = { .magic = SPICE_MAGIC,
                             .major_version = SPICE_VERSION_MAJOR,
                             .minor_version = SPICE_VERSION_MINOR,
                             .size = sizeof (SpiceLinkMess) };
  SpiceLinkMess mess = { .channel_type = SPICE_CHANNEL_MAIN, .caps_offset = sizeof (SpiceLinkMess) };
  SpiceLinkHeader reply = { 0 };
  int fd;

  fd = open_stream (demo_path, VIREO_STREAM_SERIAL, &error);
  g_assert_no_error (error);
  g_assert_true (stream_shows (fd, "display: input ready"));
  close (fd);

  fd = open_stream (demo_path, VIREO_STREAM_DISPLAY, &error);
  g_assert_no_error (error);
  g_assert_cmpint (write (fd, &header, sizeof header), ==, sizeof header);
  g_assert_cmpint (write (fd, &mess, sizeof mess), ==, sizeof mess);
  g_assert_cmpint (read (fd, &reply, sizeof reply), ==, sizeof reply);
  g_assert_cmpmem (&reply.magic, 4, "REDQ", 4);
  close (fd);

  g_assert_true (vireo_ui_wait_for_label (GTK_WIDGET (fixture.window), "idle", WAIT_SECONDS));
  fd = open_stream (idle_path, VIREO_STREAM_SERIAL, &error);
  g_assert_cmpint (fd, ==, -1);
  g_assert_nonnull (error);
  g_dbus_error_strip_remote_error (error);
  g_test_message ("a stopped machine's serial console: %s", error->message);
  g_assert_nonnull (strstr (error->message, "idle"));
}

/* The label of every item of @menu, joined by "|". */
static char *
menu_labels (GMenuModel *menu)
{
  g_autoptr (GString) labels = g_string_new (NULL);

  for (int i = 0; i < g_menu_model_get_n_items (menu); i++)
    {
      g_autofree char *label = NULL;

      g_menu_model_get_item_attribute (menu, i, G_MENU_ATTRIBUTE_LABEL, "s", &label);
      g_string_append_printf (labels, "%s%s", i ? "|" : "", label);
    }
  return g_string_free (g_steal_pointer (&labels), FALSE);
}

typedef struct
{
  GMenuModel *menu;
  const char *labels;
} MenuQuery;

static gboolean
menu_is (gpointer data)
{
  MenuQuery *query = data;
  g_autofree char *labels = menu_labels (query->menu);

  return g_str_equal (labels, query->labels);
}

static void
assert_menu (GMenuModel *menu, const char *labels)
{
  MenuQuery query = { menu, labels };

  if (!vireo_ui_wait (menu_is, &query, WAIT_SECONDS))
    {
      g_autofree char *shown = menu_labels (menu);
      g_error ("the CD/DVD menu says “%s”, not “%s”", shown, labels);
    }
}

/* The header bar's menu has the CD/DVD drive's Choose Medium… and Eject; both reach the service. */
static void
test_cd_menu (void)
{
  g_autofree char *path = vireo_ui_create_machine (&fixture, "With a CD", "hello", TRUE);
  g_autofree char *iso = g_build_filename (fixture.base, "installer.iso", NULL);
  g_autoptr (GVariant) reply = NULL;
  g_autoptr (GError) error = NULL;
  VireoConnection *window;
  GMenuModel *menu;
  GtkPopover *popover;

  g_assert_true (g_file_set_contents (iso, "an installation medium", -1, NULL));
  reply = g_dbus_connection_call_sync (
      fixture.connection, "org.vireo.Vireo1", path, "org.vireo.Vireo1.Machine", "Update",
      g_variant_new_parsed ("({'disks': <[{'path': <''>, 'device': <'cdrom'>, 'bus': <'sata'>}]>},)"), NULL,
      G_DBUS_CALL_FLAGS_NONE, -1, NULL, &error);
  g_assert_no_error (error);
  g_assert_true (vireo_ui_wait_for_listed (&fixture, path, WAIT_SECONDS));

  window = vireo_connection_new (fixture.app, fixture.host, vireo_host_find_machine (fixture.host, path));
  gtk_window_present (GTK_WINDOW (window));
  gtk_test_widget_wait_for_draw (GTK_WIDGET (window));
  menu = vireo_connection_get_media_menu (window);
  assert_menu (menu, "Choose CD/DVD _Medium…|_Eject CD/DVD");

  /* Off, the medium goes into the definition. */
  vireo_connection_change_medium (window, "sda", iso);
  assert_menu (menu, "Choose CD/DVD _Medium…|_Eject “installer.iso”");
  {
    GVariant *settings = vireo_dbus_machine_get_settings (vireo_connection_get_machine (window));
    g_autoptr (GVariant) disks = g_variant_lookup_value (settings, "disks", G_VARIANT_TYPE ("aa{sv}"));
    g_autoptr (GVariant) cd = g_variant_get_child_value (disks, 0);
    const char *medium = NULL;

    g_assert_true (g_variant_lookup (cd, "path", "&s", &medium));
    g_assert_cmpstr (medium, ==, iso);
  }
  gtk_menu_button_popup (GTK_MENU_BUTTON (vireo_connection_get_more_button (window)));
  popover = gtk_menu_button_get_popover (GTK_MENU_BUTTON (vireo_connection_get_more_button (window)));
  gtk_test_widget_wait_for_draw (GTK_WIDGET (popover));
  vireo_ui_spin (300);
  g_object_unref (vireo_ui_render (GTK_WIDGET (popover), "vireo-connection-cd-menu"));
  gtk_popover_popdown (popover);

  /* Eject, as the menu item does. */
  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (window), "win.eject", "s", "sda"));
  assert_menu (menu, "Choose CD/DVD _Medium…|_Eject CD/DVD");
  gtk_window_destroy (GTK_WINDOW (window));
}

int
main (int argc, char **argv)
{
  int status;

  if (!vireo_ui_init (&fixture, &argc, &argv))
    return 0;
  g_test_add_func ("/connection/display", test_display);
  g_test_add_func ("/connection/keys", test_keys);
  g_test_add_func ("/connection/ctrl-alt-del", test_ctrl_alt_del);
  g_test_add_func ("/connection/reconnect-after-reset", test_reconnect_after_reset);
  g_test_add_func ("/connection/serial-console", test_serial_console);
  g_test_add_func ("/connection/cd-menu", test_cd_menu);
  /* Last: its display stream takes the machine's SPICE server from the window's session. */
  g_test_add_func ("/connection/host-streams", test_host_streams);
  status = g_test_run ();
  vireo_ui_cleanup (&fixture);
  g_free (demo_path);
  return status;
}
