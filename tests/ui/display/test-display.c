/* test-display.c — VireoDisplay in a window under Xvfb, connected to vireo-run --display spice:PATH running
 * the display test guest (tests/guests/display.c documents its pattern and serial protocol): the
 * guest's pattern where the letterbox puts it, keys, pointer, wheel, typed text and Ctrl+Alt+Del arriving
 * in the guest, the keyboard grab and its release, a mode change, 1:1 zoom, the screenshot, and the end
 * of the connection when the guest powers off. */
#include "test-util.h"
#include "ui-renderer.h"
#include "vireo-display-private.h"

#include <fcntl.h>
#include <linux/input-event-codes.h>
#include <signal.h>
#include <stdio.h>
#include <spice/enums.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

/* Deadlines, not expectations: a broken test must not hang, and no test asserts how long anything took. */
#define WAIT_SECONDS 60

#define WAIT_FOR(condition, what) VIREO_TEST_WAIT_FOR (condition, what, WAIT_SECONDS)

/* The display guest's colours (0xRRGGBB). */
static const guint32 bar_colours[8] = {
  0xffffff, 0xffff00, 0x00ffff, 0x00ff00, 0xff00ff, 0xff0000, 0x0000ff, 0x808080,
};
#define POINTER_COLOUR 0xff8000

/* Where PNGs of what the widget showed go. */
static const char *
screenshot_dir (void)
{
  const char *dir = g_getenv ("VIREO_UI_SCREENSHOTS");
  return dir ? dir : g_get_tmp_dir ();
}

typedef struct
{
  char *dir;
  char *socket_path;
  char *log_path;
  GSubprocess *vireo_run;
  GtkWindow *window;
  VireoDisplay *display;
} Fixture;

static char *
serial_output (Fixture *f)
{
  char *text = NULL;
  if (!g_file_get_contents (f->log_path, &text, NULL, NULL))
    return g_strdup ("");
  return text;
}

static gboolean
guest_said (Fixture *f, const char *needle)
{
  g_autofree char *text = serial_output (f);
  return strstr (text, needle) != NULL;
}

static guint
guest_count (Fixture *f, const char *needle)
{
  g_autofree char *text = serial_output (f);
  guint n = 0;

  for (const char *p = text; (p = strstr (p, needle)); p += strlen (needle))
    n++;
  return n;
}

/* The guest reported the key events @events (Linux code and value pairs, ended by a 0 code) in this
 * order and with nothing else between them, after the first @skip bytes of its output. */
static gboolean
guest_keys_since (Fixture *f, gsize skip, const guint *events)
{
  g_autofree char *text = serial_output (f);
  g_autoptr (GString) expected = g_string_new (NULL);

  for (const guint *e = events; e[0] != 0; e += 2)
    g_string_append_printf (expected, "key: virtio %u %u\n", e[0], e[1]);
  return strlen (text) >= skip && strstr (text + skip, expected->str) != NULL;
}

static gsize
output_length (Fixture *f)
{
  g_autofree char *text = serial_output (f);
  return strlen (text);
}

/* spice-client-glib warns when a connection ends, which tests make happen: no failure.  GLib resets the
 * fatal handler for every test. */
static gboolean
on_fatal_log (const char *domain, GLogLevelFlags level, const char *message, gpointer data)
{
  return !(g_strcmp0 (domain, "GSpice") == 0 && (level & G_LOG_LEVEL_WARNING));
}

static void
fixture_set_up (Fixture *f, gconstpointer data)
{
  memset (f, 0, sizeof *f);
  g_test_log_set_fatal_handler (on_fatal_log, NULL);
  f->window = GTK_WINDOW (gtk_window_new ());
  gtk_window_set_default_size (f->window, 800, 800);
  f->display = VIREO_DISPLAY (vireo_display_new ());
  gtk_window_set_child (f->window, GTK_WIDGET (f->display));
  gtk_window_present (f->window);
}

/* A failed assertion aborts the test without its teardown: what it started must not outlive it (and
 * hold the test's output open). */
static void
end_with_test (gpointer data)
{
  prctl (PR_SET_PDEATHSIG, SIGKILL);
}

/* vireo-run with the display guest, serving its screen on a socket; FALSE (the test skipped) without KVM. */
static gboolean
start_guest (Fixture *f)
{
  g_autofree char *kernel = vireo_test_guest_path ("display");
  g_autofree char *display_arg = NULL;
  g_autofree char *serial_arg = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (GSubprocessLauncher) launcher = NULL;

  if (!vireo_test_require_kvm ())
    return FALSE;
  launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_NONE);
  g_subprocess_launcher_set_child_setup (launcher, end_with_test, NULL, NULL);
  f->dir = g_dir_make_tmp ("vireo-display-XXXXXX", &error);
  g_assert_no_error (error);
  f->socket_path = g_build_filename (f->dir, "s.sock", NULL);
  f->log_path = g_build_filename (f->dir, "serial.log", NULL);
  display_arg = g_strconcat ("spice:", f->socket_path, NULL);
  serial_arg = g_strconcat ("file:", f->log_path, NULL);
  f->vireo_run = g_subprocess_launcher_spawn (launcher, &error, vireo_test_vireo_run (), "--kernel", kernel,
                                              "--display", display_arg, "--serial", serial_arg, NULL);
  g_assert_no_error (error);
  WAIT_FOR (guest_said (f, "display: pattern ready\n") && guest_said (f, "display: input ready\n"),
            "the guest's pattern and input devices");
  /* The virtio keyboard and tablet: the guest then reports keys by their Linux codes. */
  g_assert_true (guest_said (f, "(keyboard)\n"));
  g_assert_true (guest_said (f, "(tablet)\n"));
  return TRUE;
}

static void
fixture_tear_down (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  GtkWidget *display = GTK_WIDGET (f->display);

  /* The widget goes with its window, whatever it was doing: nothing of it leaks. */
  g_object_add_weak_pointer (G_OBJECT (display), (gpointer *) &display);
  gtk_window_destroy (f->window);
  WAIT_FOR (display == NULL, "the display widget to be finalized");
  if (f->vireo_run)
    {
      /* SIGTERM presses the power button: the guest powers off. */
      g_subprocess_send_signal (f->vireo_run, SIGTERM);
      g_subprocess_wait (f->vireo_run, NULL, &error);
      g_assert_no_error (error);
      g_clear_object (&f->vireo_run);
    }
  if (f->dir == NULL)
    return;
  unlink (f->log_path);
  unlink (f->socket_path);
  g_assert_cmpint (rmdir (f->dir), ==, 0);
  g_free (f->log_path);
  g_free (f->socket_path);
  g_free (f->dir);
}

static gboolean
display_shows (Fixture *f, int width, int height)
{
  int w, h;

  vireo_display_get_guest_size (f->display, &w, &h);
  return vireo_display_get_state (f->display) == VIREO_DISPLAY_CONNECTED && w == width && h == height;
}

static void
connect_display (Fixture *f)
{
  vireo_display_open_path (f->display, f->socket_path);
  g_assert_cmpint (vireo_display_get_state (f->display), ==, VIREO_DISPLAY_CONNECTING);
  WAIT_FOR (display_shows (f, 1024, 768), "the guest's 1024x768 screen");
  g_assert_null (vireo_display_get_error (f->display));
  WAIT_FOR (vireo_display_get_inputs_ready (f->display), "the inputs channel");
  WAIT_FOR (gtk_widget_get_width (GTK_WIDGET (f->display)) == 800
                && gtk_widget_get_height (GTK_WIDGET (f->display)) == 800,
            "the window's 800x800 layout");
}

/* What the widget shows now, rendered as the window renders it; saved as @name.png. */
static GdkTexture *
render (Fixture *f, const char *name)
{
  GtkWidget *widget = GTK_WIDGET (f->display);
  g_autoptr (GdkPaintable) paintable = NULL;
  GtkSnapshot *snapshot;
  g_autoptr (GskRenderNode) node = NULL;
  g_autofree char *path = g_strdup_printf ("%s/%s.png", screenshot_dir (), name);
  int width, height;
  GdkTexture *texture;

  /* Let what the guest drew arrive, and the window lay out and draw it, first: the paintable holds what
   * the widget showed when it was made. */
  for (int i = 0; i < 100 && g_main_context_pending (NULL); i++)
    g_main_context_iteration (NULL, FALSE);
  gtk_test_widget_wait_for_draw (GTK_WIDGET (f->window));
  paintable = gtk_widget_paintable_new (widget);
  snapshot = gtk_snapshot_new ();
  width = gtk_widget_get_width (widget);
  height = gtk_widget_get_height (widget);
  gdk_paintable_snapshot (paintable, snapshot, width, height);
  node = gtk_snapshot_free_to_node (snapshot);
  g_assert_nonnull (node);
  texture = gsk_renderer_render_texture (vireo_ui_renderer (widget), node,
                                         &GRAPHENE_RECT_INIT (0, 0, width, height));
  g_assert_true (gdk_texture_save_to_png (texture, path));
  g_test_message ("the widget as shown: %s", path);
  return texture;
}

/* Pixel (x, y) of @texture as 0xRRGGBB. */
static guint32
pixel (GdkTexture *texture, int x, int y)
{
  int w = gdk_texture_get_width (texture), h = gdk_texture_get_height (texture);
  g_autofree guint32 *data = g_new (guint32, (gsize) w * h);

  g_assert_cmpint (x, <, w);
  g_assert_cmpint (y, <, h);
  gdk_texture_download (texture, (guchar *) data, (gsize) w * 4);
  return data[y * w + x] & 0xffffff;
}

/* Where guest pixel (@gx, @gy) of a @gw × @gh screen is in an 800×800 widget that fits it. */
static void
fit_point (int gw, int gh, double gx, double gy, int *x, int *y)
{
  double scale = MIN (800.0 / gw, 800.0 / gh);
  *x = (int) ((800 - gw * scale) / 2 + (gx + 0.5) * scale);
  *y = (int) ((800 - gh * scale) / 2 + (gy + 0.5) * scale);
}

/* The guest's pattern at @gw × @gh, in the middle of its features so that scaling cannot blur them. */
static void
assert_pattern (GdkTexture *shot, int gw, int gh)
{
  int x, y;

  fit_point (gw, gh, 132, 132, &x, &y); /* the white square */
  g_assert_cmphex (pixel (shot, x, y), ==, 0xffffff);
  fit_point (gw, gh, 40, 40, &x, &y);
  g_assert_cmphex (pixel (shot, x, y), ==, 0x000000);
  for (int i = 0; i < 8; i++)
    {
      fit_point (gw, gh, (i * gw / 8 + (i + 1) * gw / 8) / 2.0, gh * 3 / 4, &x, &y);
      g_assert_cmphex (pixel (shot, x, y), ==, bar_colours[i]);
      /* The bars' bottom row, right above the letterbox. */
      fit_point (gw, gh, (i * gw / 8 + (i + 1) * gw / 8) / 2.0, gh - 3, &x, &y);
      g_assert_cmphex (pixel (shot, x, y), ==, bar_colours[i]);
    }
}

/* The white square at guest (132, 132) is up in the widget: the guest's drawing has arrived. */
static gboolean
shows_square (Fixture *f, int gw, int gh)
{
  g_autoptr (GdkTexture) shot = render (f, "vireo-display-wait");
  int x, y;

  fit_point (gw, gh, 132, 132, &x, &y);
  return pixel (shot, x, y) == 0xffffff;
}

static void
press_key (Fixture *f, guint evdev, gboolean pressed)
{
  /* As GtkEventControllerKey reports it on X11 and Wayland: evdev + 8. */
  g_assert_true (vireo_display_handle_key (f->display, evdev + 8, pressed));
}

static void
tap_key (Fixture *f, guint evdev)
{
  press_key (f, evdev, TRUE);
  press_key (f, evdev, FALSE);
}

static void
test_pattern (Fixture *f, gconstpointer data)
{
  g_autoptr (GdkTexture) shot = NULL;
  int x, y;

  g_assert_cmpint (vireo_display_get_state (f->display), ==, VIREO_DISPLAY_DISCONNECTED);
  g_assert_null (vireo_display_get_screenshot (f->display));
  if (!start_guest (f))
    return;
  connect_display (f);

  /* 1024×768 fitted into 800×800: 800×600 from y 100, black above and below. */
  WAIT_FOR (shows_square (f, 1024, 768), "the guest's pattern in the widget");
  shot = render (f, "vireo-display-fit");
  g_assert_cmpint (gdk_texture_get_width (shot), ==, 800);
  assert_pattern (shot, 1024, 768);
  g_assert_cmphex (pixel (shot, 400, 50), ==, 0x000000);
  g_assert_cmphex (pixel (shot, 50, 98), ==, 0x000000);
  fit_point (1024, 768, 10, 767, &x, &y);
  g_assert_cmpint (y, ==, 699);
  g_assert_cmphex (pixel (shot, 50, 699), ==, 0xffffff); /* the white bar's last row */
  g_assert_cmphex (pixel (shot, 50, 701), ==, 0x000000); /* the letterbox under it */
  g_assert_cmphex (pixel (shot, 50, 790), ==, 0x000000);
}

static void
test_keyboard (Fixture *f, gconstpointer data)
{
  static const guint a[] = { KEY_A, 1, KEY_A, 0, 0 };
  static const guint arrows[] = { KEY_UP, 1, KEY_UP, 0, KEY_LEFT, 1, KEY_LEFT, 0, 0 };
  static const guint extended[] = {
    KEY_RIGHTCTRL, 1, KEY_RIGHTCTRL, 0, KEY_KPENTER, 1, KEY_KPENTER, 0, KEY_KP7, 1, KEY_KP7, 0,
    KEY_F12,       1, KEY_F12,       0, KEY_DELETE,  1, KEY_DELETE,  0, 0
  };
  static const guint pause[] = { KEY_PAUSE, 1, KEY_PAUSE, 0, 0 };
  static const guint released[] = { KEY_LEFTCTRL, 1, KEY_LEFTALT, 1, KEY_LEFTALT, 0, KEY_LEFTCTRL, 0, 0 };
  static const guint cad[] = { KEY_LEFTCTRL, 1, KEY_LEFTALT, 1, KEY_DELETE, 1, KEY_DELETE, 0, 0 };
  static const guint stuck[] = { KEY_LEFTSHIFT, 1, KEY_B, 1, KEY_B, 0, KEY_LEFTSHIFT, 0, 0 };
  gsize mark;

  if (!start_guest (f))
    return;
  connect_display (f);

  /* The display has the focus in an active window: once connected it has the keyboard. */
  WAIT_FOR (gtk_window_is_active (f->window), "the window to become active");
  g_assert_true (gtk_widget_has_focus (GTK_WIDGET (f->display)));
  g_assert_true (vireo_display_get_keyboard_grabbed (f->display));

  /* Not grabbed: keys are the window's, not the guest's. */
  vireo_display_release_keyboard (f->display);
  g_assert_false (vireo_display_get_keyboard_grabbed (f->display));
  g_assert_false (vireo_display_handle_key (f->display, KEY_A + 8, TRUE));

  /* Focus grabs the keyboard again, and shows how to let it go. */
  gtk_window_set_focus (f->window, NULL);
  gtk_widget_grab_focus (GTK_WIDGET (f->display));
  g_assert_true (vireo_display_get_keyboard_grabbed (f->display));
  g_assert_true (vireo_display_get_hint_visible (f->display));
  {
    g_autoptr (GdkTexture) shot = NULL;
    /* The hint slides in over the top of the screen. */
    for (int i = 0; i < 50; i++)
      {
        g_main_context_iteration (NULL, FALSE);
        g_usleep (10000);
      }
    shot = render (f, "vireo-display-grabbed");
  }

  mark = output_length (f);
  tap_key (f, KEY_A);
  WAIT_FOR (guest_keys_since (f, mark, a), "A in the guest");
  tap_key (f, KEY_UP);
  tap_key (f, KEY_LEFT);
  WAIT_FOR (guest_keys_since (f, mark, arrows), "the arrows in the guest");
  tap_key (f, KEY_RIGHTCTRL);
  tap_key (f, KEY_KPENTER);
  tap_key (f, KEY_KP7);
  tap_key (f, KEY_F12);
  tap_key (f, KEY_DELETE);
  WAIT_FOR (guest_keys_since (f, mark, extended), "the extended keys in the guest");
  tap_key (f, KEY_PAUSE);
  WAIT_FOR (guest_keys_since (f, mark, pause), "Pause in the guest");

  /* Left Ctrl+Alt on their own release the keyboard; the guest saw them come and go. */
  mark = output_length (f);
  press_key (f, KEY_LEFTCTRL, TRUE);
  press_key (f, KEY_LEFTALT, TRUE);
  press_key (f, KEY_LEFTALT, FALSE);
  g_assert_false (vireo_display_get_keyboard_grabbed (f->display));
  g_assert_false (vireo_display_get_hint_visible (f->display));
  WAIT_FOR (guest_keys_since (f, mark, released), "Ctrl+Alt pressed and released in the guest");
  g_assert_false (vireo_display_handle_key (f->display, KEY_LEFTCTRL + 8, FALSE));

  /* A click grabs it again; with a key between them Ctrl+Alt are the guest's (Ctrl+Alt+Del). */
  vireo_display_handle_motion (f->display, 400, 400);
  vireo_display_handle_button (f->display, GDK_BUTTON_PRIMARY, TRUE);
  vireo_display_handle_button (f->display, GDK_BUTTON_PRIMARY, FALSE);
  g_assert_true (vireo_display_get_keyboard_grabbed (f->display));
  mark = output_length (f);
  press_key (f, KEY_LEFTCTRL, TRUE);
  press_key (f, KEY_LEFTALT, TRUE);
  press_key (f, KEY_DELETE, TRUE);
  press_key (f, KEY_DELETE, FALSE);
  press_key (f, KEY_LEFTALT, FALSE);
  press_key (f, KEY_LEFTCTRL, FALSE);
  g_assert_true (vireo_display_get_keyboard_grabbed (f->display));
  WAIT_FOR (guest_keys_since (f, mark, cad), "Ctrl+Alt+Del typed on the keyboard in the guest");

  /* Losing focus releases the keyboard and every key still down in the guest. */
  mark = output_length (f);
  press_key (f, KEY_LEFTSHIFT, TRUE);
  tap_key (f, KEY_B);
  gtk_window_set_focus (f->window, NULL);
  g_assert_false (vireo_display_get_keyboard_grabbed (f->display));
  WAIT_FOR (guest_keys_since (f, mark, stuck), "Shift let go in the guest on focus loss");
}

static void
test_typing (Fixture *f, gconstpointer data)
{
  /* "Hi!" and Enter, a tab and "a~", in US layout with Shift where it takes one. */
  static const guint typed[] = {
    KEY_LEFTSHIFT, 1, KEY_H,         1, KEY_H, 0, KEY_LEFTSHIFT, 0, KEY_I,         1, KEY_I,     0,
    KEY_LEFTSHIFT, 1, KEY_1,         1, KEY_1, 0, KEY_LEFTSHIFT, 0, KEY_ENTER,     1, KEY_ENTER, 0,
    KEY_TAB,       1, KEY_TAB,       0, KEY_A, 1, KEY_A,         0, KEY_LEFTSHIFT, 1, KEY_GRAVE, 1,
    KEY_GRAVE,     0, KEY_LEFTSHIFT, 0, 0,
  };
  static const guint cad[] = { KEY_LEFTCTRL, 1, KEY_LEFTALT,  1, KEY_DELETE, 1, KEY_DELETE, 0,
                               KEY_LEFTALT,  0, KEY_LEFTCTRL, 0, 0 };
  g_autofree char *long_text = NULL;
  gsize mark;

  if (!start_guest (f))
    return;
  connect_display (f);
  /* Typing needs no grab: it is the window's toolbar that asks. */
  vireo_display_release_keyboard (f->display);
  g_assert_false (vireo_display_get_keyboard_grabbed (f->display));
  mark = output_length (f);
  g_assert_cmpuint (vireo_display_type_text (f->display, "Hi!\r\n\ta\xc3\xa9~"), ==, 1); /* é has no key */
  WAIT_FOR (guest_keys_since (f, mark, typed), "the typed text in the guest");

  mark = output_length (f);
  vireo_display_send_ctrl_alt_del (f->display);
  WAIT_FOR (guest_keys_since (f, mark, cad), "Ctrl+Alt+Del in the guest");

  /* Longer than the guest's keyboard queue holds at once: every key still arrives. */
  long_text = g_strnfill (300, 'x');
  mark = output_length (f);
  g_assert_cmpuint (vireo_display_type_text (f->display, long_text), ==, 0);
  WAIT_FOR (guest_count (f, "key: virtio 45 0\n") >= 300, "300 x in the guest");

  /* Not UTF-8: each bad byte is a character the guest does not get. */
  g_assert_cmpuint (vireo_display_type_text (f->display, "\xff\xfe"), ==, 2);
}

static void
test_pointer (Fixture *f, gconstpointer data)
{
  g_autofree char *middle = NULL;
  g_autofree char *top = NULL;
  g_autoptr (GdkTexture) shot = NULL;
  int x, y;

  if (!start_guest (f))
    return;
  connect_display (f);
  WAIT_FOR (vireo_display_get_mouse_mode (f->display) == SPICE_MOUSE_MODE_CLIENT, "client mouse mode");

  /* The middle of the widget is the middle of the guest's screen; the tablet's scale is 0..32767. */
  vireo_display_handle_motion (f->display, 400.5, 400.5);
  middle = g_strdup_printf ("tablet: %u %u 0\n", 512 * 32767 / 1023, 384 * 32767 / 767);
  WAIT_FOR (guest_said (f, middle), "the tablet in the middle");
  /* The guest draws its pointer there, and the widget shows it. */
  fit_point (1024, 768, 516, 388, &x, &y);
  WAIT_FOR (({
              g_autoptr (GdkTexture) t = render (f, "vireo-display-pointer");
              pixel (t, x, y) == POINTER_COLOUR;
            }),
            "the guest's pointer in the middle of the widget");

  /* Over the letterbox the pointer stays on the screen's edge. */
  vireo_display_handle_motion (f->display, 400.5, 50);
  top = g_strdup_printf ("tablet: %u 0 0\n", 512 * 32767 / 1023);
  WAIT_FOR (guest_said (f, top), "the tablet at the top edge");
  vireo_display_handle_motion (f->display, 799.9, 799.9);
  WAIT_FOR (guest_said (f, "tablet: 32767 32767 0\n"), "the tablet in the corner");

  /* Buttons, there. */
  vireo_display_handle_button (f->display, GDK_BUTTON_PRIMARY, TRUE);
  WAIT_FOR (guest_said (f, "tablet: 32767 32767 1\n"), "the left button");
  vireo_display_handle_button (f->display, GDK_BUTTON_SECONDARY, TRUE);
  WAIT_FOR (guest_said (f, "tablet: 32767 32767 5\n"), "left and right together");
  vireo_display_handle_button (f->display, GDK_BUTTON_PRIMARY, FALSE);
  WAIT_FOR (guest_said (f, "tablet: 32767 32767 4\n"), "the left button's release");
  vireo_display_handle_button (f->display, GDK_BUTTON_SECONDARY, FALSE);
  WAIT_FOR (guest_count (f, "tablet: 32767 32767 0\n") >= 2, "the right button's release");

  /* The wheel: up is +1, down -1. */
  vireo_display_handle_scroll (f->display, -1);
  WAIT_FOR (guest_said (f, "wheel: 1\n"), "a notch up");
  vireo_display_handle_scroll (f->display, 1);
  WAIT_FOR (guest_said (f, "wheel: -1\n"), "a notch down");

  /* The screenshot: the guest's own pixels at its own size, its pointer in the corner. */
  WAIT_FOR (({
              g_autoptr (GdkTexture) t = vireo_display_get_screenshot (f->display);
              t &&pixel (t, 1023, 767) == POINTER_COLOUR;
            }),
            "the pointer in the screenshot's corner");
  shot = vireo_display_get_screenshot (f->display);
  g_assert_cmpint (gdk_texture_get_width (shot), ==, 1024);
  g_assert_cmpint (gdk_texture_get_height (shot), ==, 768);
  g_assert_cmphex (pixel (shot, 100, 100), ==, 0xffffff);
  g_assert_cmphex (pixel (shot, 163, 163), ==, 0xffffff);
  g_assert_cmphex (pixel (shot, 164, 164), ==, 0x000000);
  g_assert_cmphex (pixel (shot, 99, 99), ==, 0x000000);
  for (int i = 0; i < 8; i++)
    {
      g_assert_cmphex (pixel (shot, i * 128, 384), ==, bar_colours[i]);
      g_assert_cmphex (pixel (shot, i * 128 + 127, 700), ==, bar_colours[i]);
    }
  g_assert_cmphex (pixel (shot, 512, 383), ==, 0x000000);

  /* A read-only view sends nothing. */
  vireo_display_set_interactive (f->display, FALSE);
  vireo_display_handle_motion (f->display, 100, 150);
  vireo_display_handle_button (f->display, GDK_BUTTON_PRIMARY, TRUE);
  g_assert_false (vireo_display_get_keyboard_grabbed (f->display));
  g_assert_cmpuint (vireo_display_type_text (f->display, "q"), ==, 0);
  {
    gsize before = output_length (f);
    for (int i = 0; i < 50; i++)
      {
        g_main_context_iteration (NULL, FALSE);
        g_usleep (10000);
      }
    g_assert_cmpuint (output_length (f), ==, before);
  }
}

static void
on_guest_size (GObject *object, GParamSpec *pspec, guint *count)
{
  (*count)++;
}

static void
test_mode_change (Fixture *f, gconstpointer data)
{
  g_autoptr (GdkTexture) shot = NULL;
  guint width_notes = 0;
  int min, nat;

  if (!start_guest (f))
    return;
  connect_display (f);
  g_signal_connect (f->display, "notify::guest-width", G_CALLBACK (on_guest_size), &width_notes);
  gtk_widget_grab_focus (GTK_WIDGET (f->display));
  vireo_display_grab_keyboard (f->display);
  g_assert_true (vireo_display_get_keyboard_grabbed (f->display));

  /* M switches the guest to 1280×800: 800×500 from y 150 in the widget. */
  tap_key (f, KEY_M);
  WAIT_FOR (guest_said (f, "display: mode 1280x800\n") && guest_count (f, "display: pattern ready\n") >= 2,
            "the guest's switch to 1280x800");
  WAIT_FOR (display_shows (f, 1280, 800), "the 1280x800 screen");
  g_assert_cmpuint (width_notes, >=, 1);
  g_object_get (f->display, "guest-width", &min, "guest-height", &nat, NULL);
  g_assert_cmpint (min, ==, 1280);
  g_assert_cmpint (nat, ==, 800);
  WAIT_FOR (({
              g_autoptr (GdkTexture) t = render (f, "vireo-display-1280x800");
              pixel (t, 50, 680) == 0x000000 && pixel (t, 50, 640) == 0xffffff;
            }),
            "the 1280x800 pattern in the widget");
  shot = render (f, "vireo-display-1280x800");
  assert_pattern (shot, 1280, 800);
  g_assert_cmphex (pixel (shot, 400, 140), ==, 0x000000);
  g_assert_cmphex (pixel (shot, 50, 660), ==, 0x000000);
  g_clear_object (&shot);

  /* 1:1 zoomed to half: the widget asks for 640×400 and shows the screen centred. */
  vireo_display_set_scale_to_fit (f->display, FALSE);
  g_object_set (f->display, "zoom", 0.5, NULL);
  g_assert_cmpfloat (vireo_display_get_zoom (f->display), ==, 0.5);
  gtk_widget_measure (GTK_WIDGET (f->display), GTK_ORIENTATION_HORIZONTAL, -1, &min, &nat, NULL, NULL);
  g_assert_cmpint (min, ==, 640);
  g_assert_cmpint (nat, ==, 640);
  gtk_widget_measure (GTK_WIDGET (f->display), GTK_ORIENTATION_VERTICAL, -1, &min, &nat, NULL, NULL);
  g_assert_cmpint (min, ==, 400);
  shot = render (f, "vireo-display-zoom-half");
  /* From (80, 200): bar 0 at guest x 0..159 is widget x 80..159; the square at guest 100..163. */
  g_assert_cmphex (pixel (shot, 120, 200 + 300), ==, 0xffffff);
  g_assert_cmphex (pixel (shot, 80 + 120, 200 + 300), ==, 0xffff00);
  g_assert_cmphex (pixel (shot, 80 + 66, 200 + 66), ==, 0xffffff);
  g_assert_cmphex (pixel (shot, 79, 500), ==, 0x000000);
  g_assert_cmphex (pixel (shot, 400, 199), ==, 0x000000);
  /* Pointer positions follow the new layout: widget (80 + 320, 200 + 200) is the guest's middle. */
  WAIT_FOR (vireo_display_get_mouse_mode (f->display) == SPICE_MOUSE_MODE_CLIENT, "client mouse mode");
  vireo_display_handle_motion (f->display, 400.2, 400.2);
  {
    g_autofree char *middle = g_strdup_printf ("tablet: %u %u 0\n", 640 * 32767 / 1279, 400 * 32767 / 799);
    WAIT_FOR (guest_said (f, middle), "the tablet in the middle at 1:1");
  }

  /* Q powers the guest off: the connection ends and says so. */
  tap_key (f, KEY_Q);
  WAIT_FOR (vireo_display_get_state (f->display) == VIREO_DISPLAY_DISCONNECTED, "the end of the connection");
  g_assert_nonnull (vireo_display_get_error (f->display));
  g_test_message ("error: %s", vireo_display_get_error (f->display));
  g_assert_false (vireo_display_get_keyboard_grabbed (f->display));
  /* The last picture stays for the window to show under its message. */
  shot = vireo_display_get_screenshot (f->display);
  g_assert_nonnull (shot);
  g_clear_object (&shot);

  /* Closed, it is empty. */
  vireo_display_close (f->display);
  g_assert_null (vireo_display_get_screenshot (f->display));
  g_assert_null (vireo_display_get_error (f->display));
  vireo_display_get_guest_size (f->display, &min, &nat);
  g_assert_cmpint (min, ==, 0);
}

/* A socket with no server behind it: DISCONNECTED, with a reason. */
static void
test_no_server (void)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *dir = g_dir_make_tmp ("vireo-display-XXXXXX", &error);
  g_autofree char *path = g_build_filename (dir, "nothing.sock", NULL);
  GtkWidget *display = g_object_ref_sink (vireo_display_new ());

  g_test_log_set_fatal_handler (on_fatal_log, NULL);
  vireo_display_open_path (VIREO_DISPLAY (display), path);
  WAIT_FOR (vireo_display_get_state (VIREO_DISPLAY (display)) == VIREO_DISPLAY_DISCONNECTED,
            "the failed connection");
  g_assert_nonnull (vireo_display_get_error (VIREO_DISPLAY (display)));
  g_test_message ("error: %s", vireo_display_get_error (VIREO_DISPLAY (display)));
  g_object_unref (display);
  g_assert_cmpint (rmdir (dir), ==, 0);
}

/* --- through Machine.OpenDisplay, with the real vireod on a private bus --- */

typedef struct
{
  GTestDBus *bus;
  GDBusConnection *connection;
  GSubprocess *vireod;
  char *base;
  gboolean name_owned;
} Service;

static void
on_name_appeared (GDBusConnection *connection, const char *name, const char *owner, gpointer data)
{
  ((Service *) data)->name_owned = TRUE;
}

static void
on_name_vanished (GDBusConnection *connection, const char *name, gpointer data)
{
  ((Service *) data)->name_owned = FALSE;
}

static void
service_start (Service *service)
{
  g_autoptr (GSubprocessLauncher) launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_NONE);
  g_autoptr (GError) error = NULL;
  g_autofree char *storage = NULL;
  g_autofree char *runtime_dir = NULL;
  g_autofree char *log_path = NULL;
  const char *vireod = g_getenv ("VIREOD") ? g_getenv ("VIREOD") : "service/vireod";
  guint watch;
  int log_fd;

  memset (service, 0, sizeof *service);
  service->base = g_dir_make_tmp ("vds-XXXXXX", &error);
  g_assert_no_error (error);
  storage = g_build_filename (service->base, "storage", NULL);
  runtime_dir = g_build_filename (service->base, "run", NULL);
  g_assert_cmpint (g_mkdir_with_parents (runtime_dir, 0700), ==, 0);

  service->bus = g_test_dbus_new (G_TEST_DBUS_NONE);
  g_test_dbus_up (service->bus);
  service->connection = g_dbus_connection_new_for_address_sync (
      g_test_dbus_get_bus_address (service->bus),
      G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT | G_DBUS_CONNECTION_FLAGS_MESSAGE_BUS_CONNECTION, NULL,
      NULL, &error);
  g_assert_no_error (error);

  /* vireod and its workers log to a file: workers outlive vireod by design, and must not hold the test's
   * output open if it fails. */
  log_path = g_build_filename (service->base, "vireod.log", NULL);
  log_fd = open (log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  g_assert_cmpint (log_fd, >=, 0);
  g_subprocess_launcher_take_stdout_fd (launcher, dup (log_fd));
  g_subprocess_launcher_take_stderr_fd (launcher, log_fd);
  g_subprocess_launcher_set_child_setup (launcher, end_with_test, NULL, NULL);
  g_subprocess_launcher_setenv (launcher, "XDG_RUNTIME_DIR", runtime_dir, TRUE);
  g_subprocess_launcher_setenv (launcher, "DBUS_SESSION_BUS_ADDRESS",
                                g_test_dbus_get_bus_address (service->bus), TRUE);
  service->vireod = g_subprocess_launcher_spawn (launcher, &error, vireod, "--session", "--storage", storage,
                                                 NULL);
  g_assert_no_error (error);
  watch = g_bus_watch_name_on_connection (service->connection, "org.vireo.Vireo1",
                                          G_BUS_NAME_WATCHER_FLAGS_NONE, on_name_appeared, on_name_vanished,
                                          service, NULL);
  WAIT_FOR (service->name_owned, "vireod on the bus");
  g_bus_unwatch_name (watch);
}

static void
remove_tree (const char *path)
{
  g_autoptr (GDir) dir = g_dir_open (path, 0, NULL);
  const char *name;

  while (dir && (name = g_dir_read_name (dir)))
    {
      g_autofree char *child = g_build_filename (path, name, NULL);
      if (g_file_test (child, G_FILE_TEST_IS_DIR) && !g_file_test (child, G_FILE_TEST_IS_SYMLINK))
        remove_tree (child);
      else
        unlink (child);
    }
  rmdir (path);
}

static void
service_stop (Service *service)
{
  g_autoptr (GError) error = NULL;

  g_subprocess_send_signal (service->vireod, SIGTERM);
  g_subprocess_wait_check (service->vireod, NULL, &error);
  g_assert_no_error (error);
  g_clear_object (&service->vireod);
  g_dbus_connection_close_sync (service->connection, NULL, NULL);
  g_clear_object (&service->connection);
  g_test_dbus_down (service->bus);
  g_clear_object (&service->bus);
  remove_tree (service->base);
  g_free (service->base);
}

static gboolean
machine_is (VireoDBusMachine *machine, const char *state)
{
  return g_strcmp0 (vireo_dbus_machine_get_state (machine), state) == 0;
}

static void
count_state (VireoDisplay *display, GParamSpec *pspec, guint *connecting)
{
  if (vireo_display_get_state (display) == VIREO_DISPLAY_CONNECTING)
    (*connecting)++;
}

/* The window's way in: Machine.OpenDisplay, one fd per channel; a reset (a new display server) is
 * reconnected to, a machine turned off ends it, and a machine started again comes back. */
static void
test_machine (Fixture *f, gconstpointer data)
{
  g_autofree char *kernel = vireo_test_guest_path ("display");
  g_autoptr (VireoDBusManager) manager = NULL;
  g_autoptr (VireoDBusMachine) machine = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *path = NULL;
  GVariantDict settings;
  guint connecting = 0;
  Service service;

  if (!vireo_test_require_kvm ())
    return;
  service_start (&service);
  manager = vireo_dbus_manager_proxy_new_sync (service.connection, G_DBUS_PROXY_FLAGS_DO_NOT_AUTO_START,
                                               "org.vireo.Vireo1", "/org/vireo/Vireo1", NULL, &error);
  g_assert_no_error (error);
  g_dbus_proxy_set_default_timeout (G_DBUS_PROXY (manager), WAIT_SECONDS * 1000);
  g_variant_dict_init (&settings, NULL);
  g_variant_dict_insert (&settings, "name", "s", "Display test");
  g_variant_dict_insert (&settings, "kernel", "s", kernel);
  g_variant_dict_insert (&settings, "memory-mib", "t", (guint64) 64);
  g_variant_dict_insert (&settings, "display", "b", TRUE);
  vireo_dbus_manager_call_create_machine_sync (manager, g_variant_dict_end (&settings),
                                               G_DBUS_CALL_FLAGS_NONE, -1, &path, NULL, &error);
  g_assert_no_error (error);
  machine = vireo_dbus_machine_proxy_new_sync (service.connection, G_DBUS_PROXY_FLAGS_DO_NOT_AUTO_START,
                                               "org.vireo.Vireo1", path, NULL, &error);
  g_assert_no_error (error);
  g_dbus_proxy_set_default_timeout (G_DBUS_PROXY (machine), WAIT_SECONDS * 1000);

  /* Off: nothing to show, and the reason. */
  vireo_display_open_machine (f->display, machine, NULL);
  WAIT_FOR (vireo_display_get_state (f->display) == VIREO_DISPLAY_DISCONNECTED,
            "the display of a machine that is off");
  g_assert_cmpstr (vireo_display_get_error (f->display), ==, "The machine is turned off");

  /* Started: the display comes up by itself. */
  vireo_dbus_machine_call_start_sync (machine, G_DBUS_CALL_FLAGS_NONE, -1, NULL, &error);
  g_assert_no_error (error);
  WAIT_FOR (display_shows (f, 1024, 768), "the running machine's screen");
  WAIT_FOR (shows_square (f, 1024, 768), "the guest's pattern through OpenDisplay");
  WAIT_FOR (vireo_display_get_inputs_ready (f->display), "the inputs channel");

  /* Input reaches the guest through the per-channel connections: M switches its mode. */
  vireo_display_grab_keyboard (f->display);
  g_assert_true (vireo_display_get_keyboard_grabbed (f->display));
  tap_key (f, KEY_M);
  WAIT_FOR (display_shows (f, 1280, 800), "the guest's 1280x800 mode");

  /* Reset: the worker starts a new display server; the widget reconnects and shows the new boot's
   * 1024×768. */
  g_signal_connect (f->display, "notify::state", G_CALLBACK (count_state), &connecting);
  vireo_dbus_machine_call_reset_sync (machine, G_DBUS_CALL_FLAGS_NONE, -1, NULL, &error);
  g_assert_no_error (error);
  WAIT_FOR (connecting > 0 && display_shows (f, 1024, 768), "the display after the reset");
  WAIT_FOR (shows_square (f, 1024, 768), "the rebooted guest's pattern");
  g_assert_null (vireo_display_get_error (f->display));

  /* Turned off: it ends, saying why, and stays ended. */
  vireo_dbus_machine_call_turn_off_sync (machine, G_DBUS_CALL_FLAGS_NONE, -1, NULL, &error);
  g_assert_no_error (error);
  WAIT_FOR (machine_is (machine, "off") && vireo_display_get_state (f->display) == VIREO_DISPLAY_DISCONNECTED,
            "the end of the display");
  g_assert_nonnull (vireo_display_get_error (f->display));
  g_assert_cmpstr (vireo_display_get_error (f->display), ==, "The machine is turned off");

  /* Started again from elsewhere (the toolbar): the display follows. */
  vireo_dbus_machine_call_start_sync (machine, G_DBUS_CALL_FLAGS_NONE, -1, NULL, &error);
  g_assert_no_error (error);
  WAIT_FOR (display_shows (f, 1024, 768), "the display after the new start");
  WAIT_FOR (shows_square (f, 1024, 768), "the pattern after the new start");

  vireo_display_close (f->display);
  vireo_dbus_machine_call_turn_off_sync (machine, G_DBUS_CALL_FLAGS_NONE, -1, NULL, &error);
  g_assert_no_error (error);
  WAIT_FOR (machine_is (machine, "off"), "the machine to be off");
  g_clear_object (&machine);
  g_clear_object (&manager);
  service_stop (&service);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  if (!gtk_init_check ())
    {
      /* TAP: the whole program skipped, and why. */
      printf ("1..0 # SKIP no display for GTK\n");
      return 0;
    }

  g_test_add_func ("/display/no-server", test_no_server);
  g_test_add ("/display/pattern", Fixture, NULL, fixture_set_up, test_pattern, fixture_tear_down);
  g_test_add ("/display/keyboard", Fixture, NULL, fixture_set_up, test_keyboard, fixture_tear_down);
  g_test_add ("/display/typing", Fixture, NULL, fixture_set_up, test_typing, fixture_tear_down);
  g_test_add ("/display/pointer", Fixture, NULL, fixture_set_up, test_pointer, fixture_tear_down);
  g_test_add ("/display/mode-change", Fixture, NULL, fixture_set_up, test_mode_change, fixture_tear_down);
  g_test_add ("/display/machine", Fixture, NULL, fixture_set_up, test_machine, fixture_tear_down);
  return g_test_run ();
}
