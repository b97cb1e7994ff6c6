/* test-libvirt-page.c — a libvirt host's page (VireoLibvirtPage) against a libvirtd of the test's own
 * (libvirtd-fixture.c): the domains with their state and only the buttons that apply, the buttons driving
 * libvirt, a failure told in a toast naming the domain, the domain's SPICE display in its window with the
 * guest's own pixels and keys reaching the guest (through virDomainOpenGraphicsFD, as for a remote host
 * through the SPICE port, and for a qemu+ssh:// host through the test sshd), what the window says for a domain without SPICE, and an unreachable host. */
#include <adwaita.h>
#include <glib/gstdio.h>
#include <unistd.h>

#include "libvirtd-fixture.h"
#include "ssh-fixture.h"
#include "ui-fixture.h"
#include "vireo-libvirt-display.h"
#include "vireo-libvirt-page.h"
#include "vireo-resources.h"

#define WAIT_SECONDS 90

/* The row of the domain named @name. */
static GtkWidget *
find_row (GtkWidget *root, const char *name)
{
  for (GtkWidget *child = gtk_widget_get_first_child (root); child;
       child = gtk_widget_get_next_sibling (child))
    {
      GtkWidget *found;

      if (ADW_IS_ACTION_ROW (child)
          && g_strcmp0 (adw_preferences_row_get_title (ADW_PREFERENCES_ROW (child)), name) == 0)
        return child;
      if ((found = find_row (child, name)))
        return found;
    }
  return NULL;
}

static gboolean
shown (GtkWidget *row, const char *button)
{
  GtkWidget *widget = vireo_ui_find_named (row, button);

  g_assert_nonnull (widget);
  return gtk_widget_get_visible (widget);
}

static void
click (GtkWidget *row, const char *button)
{
  GtkWidget *widget = vireo_ui_find_named (row, button);

  g_assert_nonnull (widget);
  g_assert_true (gtk_widget_get_visible (widget));
  g_assert_true (gtk_widget_is_sensitive (widget));
  g_assert_true (gtk_widget_activate (widget));
  /* A button activated from the keyboard shows itself pressed for a moment before it is clicked. */
  vireo_ui_spin (400);
}

static void
wait_for_state (VireoLibvirtDomain *domain, VireoLibvirtDomainState state)
{
  g_autofree char *what = g_strdup_printf ("%s to be %u", vireo_libvirt_domain_get_name (domain), state);
  VIREO_TEST_WAIT_FOR (vireo_libvirt_domain_get_state (domain) == state, what, WAIT_SECONDS);
  vireo_ui_spin (100);
}

/* Whether the texture holds the display guest's yellow bar: the guest's pixels, not black, not ours. */
static gboolean
has_guest_yellow (GdkTexture *texture)
{
  int width = gdk_texture_get_width (texture);
  int height = gdk_texture_get_height (texture);
  gsize stride = (gsize) width * 4;
  g_autofree guint8 *pixels = g_malloc (stride * (gsize) height);

  /* GDK_MEMORY_DEFAULT: B, G, R, A bytes. */
  gdk_texture_download (texture, pixels, stride);
  for (int y = 0; y < height; y += 3)
    for (int x = 0; x < width; x += 3)
      {
        const guint8 *pixel = pixels + (gsize) y * stride + (gsize) x * 4;
        if (pixel[2] > 0xe0 && pixel[1] > 0xe0 && pixel[0] < 0x30)
          return TRUE;
      }
  return FALSE;
}

static gboolean
screen_has_pattern (gpointer data)
{
  g_autoptr (GdkTexture) screen = vireo_display_get_screenshot (data);
  return screen && has_guest_yellow (screen);
}

static gboolean
message_contains (gpointer data)
{
  const char *message = vireo_libvirt_display_get_message (VIREO_LIBVIRT_DISPLAY (data));
  const char *needle = g_object_get_data (G_OBJECT (data), "test-needle");
  return message && strstr (message, needle);
}

static void
wait_for_message (GtkWindow *window, const char *needle)
{
  g_object_set_data (G_OBJECT (window), "test-needle", (gpointer) needle);
  g_assert_true (vireo_ui_wait (message_contains, window, WAIT_SECONDS));
  g_assert_nonnull (vireo_ui_find_label (GTK_WIDGET (window), needle));
}

static void
test_page (void)
{
  VireoTestLibvirtd d;
  g_autoptr (VireoLibvirtHost) host = NULL;
  g_autoptr (VireoLibvirtHost) missing = NULL;
  g_autofree char *uuid = NULL;
  g_autofree char *plain_uuid = NULL;
  g_autofree char *broken_uuid = NULL;
  g_autofree char *kernel = NULL;
  g_autofree char *state = NULL;
  g_autoptr (GdkTexture) shot = NULL;
  GtkWidget *window, *toasts, *page, *row, *plain_row, *broken_row;
  GtkWindow *display_window, *plain_window;
  VireoLibvirtDomain *domain, *plain;
  VireoDisplay *display;

  if (!vireo_test_libvirtd_start (&d))
    return;
  uuid = vireo_test_libvirtd_define (&d, "tiny", "display", VIREO_TEST_SPICE);
  plain_uuid = vireo_test_libvirtd_define (&d, "plain", "display", VIREO_TEST_NO_GRAPHICS);
  broken_uuid = vireo_test_libvirtd_define (&d, "broken", "hello", VIREO_TEST_NO_GRAPHICS);
  /* A kernel gone since the domain was defined: libvirt refuses to start it. */
  kernel = g_strdup_printf ("%s/hello.elf", d.dir);
  g_assert_cmpint (unlink (kernel), ==, 0);

  host = vireo_libvirt_host_new (d.uri);
  window = adw_window_new ();
  gtk_window_set_default_size (GTK_WINDOW (window), 900, 600);
  page = vireo_libvirt_page_new (host);
  /* As in the manager window: the page's toasts go to the window's overlay. */
  toasts = adw_toast_overlay_new ();
  adw_toast_overlay_set_child (ADW_TOAST_OVERLAY (toasts), page);
  adw_window_set_content (ADW_WINDOW (window), toasts);
  gtk_window_present (GTK_WINDOW (window));

  g_assert_true (vireo_ui_wait_for_label (page, "QEMU/KVM (session)", WAIT_SECONDS));
  VIREO_TEST_WAIT_FOR ((row = find_row (page, "tiny")) && find_row (page, "plain")
                           && find_row (page, "broken"),
                       "the domains' rows", WAIT_SECONDS);
  domain = vireo_libvirt_host_find_domain (host, uuid);
  plain = vireo_libvirt_host_find_domain (host, plain_uuid);
  wait_for_state (domain, VIREO_LIBVIRT_DOMAIN_OFF);
  g_assert_true (vireo_ui_wait_for_label (row, "Off", WAIT_SECONDS));
  /* Off: only Start. */
  g_assert_true (shown (row, "start"));
  g_assert_false (shown (row, "pause"));
  g_assert_false (shown (row, "resume"));
  g_assert_false (shown (row, "shut-down"));
  g_assert_false (shown (row, "more"));
  g_assert_false (shown (row, "connect"));
  g_clear_object (&shot);
  shot = vireo_ui_render (page, "libvirt-page-off");

  /* A failure is told naming the domain. */
  broken_row = find_row (page, "broken");
  click (broken_row, "start");
  g_assert_true (vireo_ui_wait_for_label (toasts, "Could not start “broken”", WAIT_SECONDS));
  g_clear_object (&shot);
  shot = vireo_ui_render (toasts, "libvirt-page-failure");

  click (row, "start");
  wait_for_state (domain, VIREO_LIBVIRT_DOMAIN_RUNNING);
  state = vireo_test_virsh (&d, "domstate", "tiny", NULL);
  g_assert_cmpstr (state, ==, "running");
  g_assert_true (vireo_ui_wait_for_label (row, "Running", WAIT_SECONDS));
  g_assert_false (shown (row, "start"));
  g_assert_true (shown (row, "pause"));
  g_assert_true (shown (row, "shut-down"));
  g_assert_true (shown (row, "more"));
  g_assert_true (shown (row, "connect"));

  /* The display: the guest's own test pattern, through virDomainOpenGraphicsFD. */
  click (row, "connect");
  display_window = vireo_libvirt_page_get_display_window (VIREO_LIBVIRT_PAGE (page), uuid);
  g_assert_nonnull (display_window);
  display = vireo_libvirt_display_get_display (VIREO_LIBVIRT_DISPLAY (display_window));
  g_assert_true (vireo_ui_wait (screen_has_pattern, display, WAIT_SECONDS));
  VIREO_TEST_WAIT_FOR (vireo_display_get_state (display) == VIREO_DISPLAY_CONNECTED, "the display to connect",
                       WAIT_SECONDS);
  g_assert_null (vireo_libvirt_display_get_message (VIREO_LIBVIRT_DISPLAY (display_window)));
  vireo_ui_spin (500);
  g_clear_object (&shot);
  shot = vireo_ui_render (GTK_WIDGET (display_window), "libvirt-display");
  g_assert_true (has_guest_yellow (shot));
  g_clear_object (&shot);
  shot = vireo_ui_render (page, "libvirt-page-running");

  /* Keys typed in the window reach the guest's keyboard: 'a' is XT 0x1e, then its release 0x9e. */
  VIREO_TEST_WAIT_FOR (vireo_test_libvirtd_serial_has (&d, "tiny", "display: input ready"),
                       "the guest to be ready", WAIT_SECONDS);
  g_assert_cmpuint (vireo_display_type_text (display, "a"), ==, 0);
  VIREO_TEST_WAIT_FOR (vireo_test_libvirtd_serial_has (&d, "tiny", "key: ps2 0x9e"),
                       "the key to reach the guest", WAIT_SECONDS);

  /* Pause and resume from the row. */
  click (row, "pause");
  wait_for_state (domain, VIREO_LIBVIRT_DOMAIN_PAUSED);
  g_clear_pointer (&state, g_free);
  state = vireo_test_virsh (&d, "domstate", "tiny", NULL);
  g_assert_cmpstr (state, ==, "paused");
  g_assert_true (shown (row, "resume"));
  g_assert_false (shown (row, "pause"));
  g_assert_false (shown (row, "shut-down"));
  click (row, "resume");
  wait_for_state (domain, VIREO_LIBVIRT_DOMAIN_RUNNING);

  /* Shut down (the guest powers off on the power button): the window says why there is nothing to show. */
  click (row, "shut-down");
  wait_for_state (domain, VIREO_LIBVIRT_DOMAIN_OFF);
  g_clear_pointer (&state, g_free);
  state = vireo_test_virsh (&d, "domstate", "tiny", NULL);
  g_assert_cmpstr (state, ==, "shut off");
  wait_for_message (display_window, "“tiny” is not running");
  g_assert_true (shown (row, "start"));
  gtk_window_destroy (display_window);
  g_assert_null (vireo_libvirt_page_get_display_window (VIREO_LIBVIRT_PAGE (page), uuid));

  /* A domain without SPICE graphics: its window says so. */
  plain_row = find_row (page, "plain");
  click (plain_row, "start");
  wait_for_state (plain, VIREO_LIBVIRT_DOMAIN_RUNNING);
  click (plain_row, "connect");
  plain_window = vireo_libvirt_page_get_display_window (VIREO_LIBVIRT_PAGE (page), plain_uuid);
  g_assert_nonnull (plain_window);
  wait_for_message (plain_window, "“plain” has no SPICE display");
  g_clear_object (&shot);
  shot = vireo_ui_render (GTK_WIDGET (plain_window), "libvirt-display-no-spice");
  /* Force off, from the row's menu. */
  g_assert_true (gtk_widget_activate_action (page, "libvirt.force-off", "s", plain_uuid));
  wait_for_state (plain, VIREO_LIBVIRT_DOMAIN_OFF);
  gtk_window_destroy (plain_window);

  /* A host that cannot be reached says so, naming its address and libvirt's reason. */
  missing = vireo_libvirt_host_new ("qemu+unix:///session?socket=/nonexistent/libvirt-sock");
  adw_toast_overlay_set_child (ADW_TOAST_OVERLAY (toasts), vireo_libvirt_page_new (missing));
  g_assert_true (vireo_ui_wait_for_label (window, "Could not connect to qemu+unix:///session", WAIT_SECONDS));
  g_clear_object (&shot);
  shot = vireo_ui_render (window, "libvirt-page-unreachable");

  gtk_window_destroy (GTK_WINDOW (window));
  g_clear_object (&host);
  vireo_test_libvirtd_stop (&d);
}

/* A remote host's page in a window of its own and the domain's display window, shown. */
typedef struct
{
  GtkWidget *window;
  GtkWidget *page;
  GtkWidget *row;
  VireoLibvirtDomain *domain;
  GtkWindow *display_window;
} RemoteView;

static void
open_display_window (RemoteView *v, const char *uuid)
{
  click (v->row, "connect");
  v->display_window = vireo_libvirt_page_get_display_window (VIREO_LIBVIRT_PAGE (v->page), uuid);
  g_assert_nonnull (v->display_window);
}

/* Lists domain @name of @host, starts it and shows the guest's own pixels in its display window. */
static void
remote_view_open (RemoteView *v, VireoLibvirtHost *host, const char *uuid, const char *name,
                  const char *screenshot)
{
  g_autoptr (GdkTexture) shot = NULL;
  GtkWidget *toasts;
  VireoDisplay *display;

  v->window = adw_window_new ();
  gtk_window_set_default_size (GTK_WINDOW (v->window), 900, 600);
  v->page = vireo_libvirt_page_new (host);
  toasts = adw_toast_overlay_new ();
  adw_toast_overlay_set_child (ADW_TOAST_OVERLAY (toasts), v->page);
  adw_window_set_content (ADW_WINDOW (v->window), toasts);
  gtk_window_present (GTK_WINDOW (v->window));

  VIREO_TEST_WAIT_FOR ((v->row = find_row (v->page, name)), "the domain's row", WAIT_SECONDS);
  v->domain = vireo_libvirt_host_find_domain (host, uuid);
  wait_for_state (v->domain, VIREO_LIBVIRT_DOMAIN_OFF);
  click (v->row, "start");
  wait_for_state (v->domain, VIREO_LIBVIRT_DOMAIN_RUNNING);
  open_display_window (v, uuid);
  display = vireo_libvirt_display_get_display (VIREO_LIBVIRT_DISPLAY (v->display_window));
  g_assert_true (vireo_ui_wait (screen_has_pattern, display, WAIT_SECONDS));
  VIREO_TEST_WAIT_FOR (vireo_display_get_state (display) == VIREO_DISPLAY_CONNECTED, "the display to connect",
                       WAIT_SECONDS);
  vireo_ui_spin (500);
  shot = vireo_ui_render (GTK_WIDGET (v->display_window), screenshot);
  g_assert_true (has_guest_yellow (shot));
}

/* Forces the domain off from the row's menu; the display window says it is not running. */
static void
remote_view_close (RemoteView *v, const char *uuid, const char *name)
{
  g_autofree char *not_running = g_strdup_printf ("“%s” is not running", name);

  click (v->row, "more"); /* the menu opens; Force Off is its item */
  g_assert_true (gtk_widget_activate_action (v->page, "libvirt.force-off", "s", uuid));
  wait_for_state (v->domain, VIREO_LIBVIRT_DOMAIN_OFF);
  wait_for_message (v->display_window, not_running);
  gtk_window_destroy (v->display_window);
  gtk_window_destroy (GTK_WINDOW (v->window));
}

/* A host across the network: no fd passes, so the display is reached at the host's address and the
 * domain's SPICE port (qemu+ext, qemu+tcp, qemu+tls). */
static void
test_remote_display (void)
{
  VireoTestLibvirtd d;
  g_autoptr (VireoLibvirtHost) host = NULL;
  g_autofree char *uri = NULL;
  g_autofree char *uuid = NULL;
  RemoteView v;

  if (!vireo_test_libvirtd_start (&d))
    return;
  uuid = vireo_test_libvirtd_define (&d, "net", "display", VIREO_TEST_SPICE_TCP);
  uri = vireo_test_libvirtd_remote_uri (&d);
  host = vireo_libvirt_host_new (uri);
  g_assert_false (vireo_libvirt_host_get_local (host));
  g_assert_null (vireo_libvirt_host_get_ssh_uri (host));
  g_assert_cmpstr (vireo_libvirt_host_get_title (host), ==, "QEMU/KVM (session) on 127.0.0.1");

  remote_view_open (&v, host, uuid, "net", "libvirt-display-remote");
  remote_view_close (&v, uuid, "net");
  g_clear_object (&host);
  vireo_test_libvirtd_stop (&d);
}

static char *
write_script (const char *dir, const char *name, const char *text)
{
  char *path = g_build_filename (dir, name, NULL);

  g_assert_true (g_file_set_contents (path, text, -1, NULL));
  g_assert_cmpint (g_chmod (path, 0755), ==, 0);
  return path;
}

/* A qemu+ssh:// host, libvirt and the display both through the test sshd: SPICE listens on the "remote"
 * host's 127.0.0.1, which only an ssh forward reaches, as on a host virt-manager set up. */
static void
test_ssh_display (void)
{
  static const char netcat_script[] = "#!/bin/sh\n"
                                      "# [-q0] -U SOCKET; alone, -q is libvirt asking which netcat this is\n"
                                      "while [ $# -gt 0 ]; do\n"
                                      "  case \"$1\" in -U) exec socat - \"UNIX-CONNECT:$2\" ;; esac\n"
                                      "  shift\n"
                                      "done\n";
  const char *unavailable = vireo_ssh_fixture_unavailable ();
  VireoTestLibvirtd d;
  VireoSshFixture ssh;
  g_autoptr (VireoLibvirtHost) host = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *dir = NULL, *ssh_script = NULL, *command = NULL, *netcat = NULL;
  g_autofree char *uri = NULL, *ssh_uri = NULL, *uuid = NULL, *route = NULL, *quoted_config = NULL;
  g_autofree char *spice = NULL;
  g_autoptr (GArray) forwards = NULL;
  VireoTestProcessQuery forward = { "ssh", NULL };
  RemoteView v;

  if (unavailable)
    {
      g_test_skip (unavailable);
      return;
    }
  if (!vireo_test_libvirtd_start (&d))
    return;
  uuid = vireo_test_libvirtd_define (&d, "far", "display", VIREO_TEST_SPICE_TCP);
  dir = g_dir_make_tmp ("vireo-ssh-XXXXXX", &error);
  g_assert_no_error (error);
  vireo_ssh_fixture_start (&ssh, dir, NULL);

  /* libvirt's ssh transport runs `COMMAND [-p PORT] [-l USER] … HOST sh -c '… NETCAT -U SOCKET'`: the
   * fixture's ssh config as COMMAND (its key and known_hosts), and socat as the remote host's netcat. */
  quoted_config = g_shell_quote (ssh.config);
  ssh_script = g_strdup_printf ("#!/bin/sh\nexec ssh -F %s \"$@\"\n", quoted_config);
  command = write_script (dir, "libvirt-ssh", ssh_script);
  netcat = write_script (dir, "libvirt-netcat", netcat_script);
  uri = g_strdup_printf ("qemu+ssh://root@127.0.0.1:%d/session?socket=%s/run/libvirt/libvirt-sock"
                         "&command=%s&proxy=netcat&netcat=%s&no_tty=1",
                         ssh.port, d.dir, command, netcat);
  host = vireo_libvirt_host_new (uri);
  g_assert_false (vireo_libvirt_host_get_local (host));
  ssh_uri = g_strdup_printf ("ssh://root@127.0.0.1:%d", ssh.port);
  g_assert_cmpstr (vireo_libvirt_host_get_ssh_uri (host), ==, ssh_uri);

  remote_view_open (&v, host, uuid, "far", "libvirt-display-ssh");
  /* The channels are ssh forwards to where SPICE listens on the "remote" host. */
  spice = vireo_test_virsh (&d, "domdisplay", "far", NULL); /* spice://127.0.0.1:PORT */
  g_assert_nonnull (spice);
  forward.needle = strrchr (spice, '/') + 1;
  forwards = vireo_test_find_processes ("ssh", forward.needle);
  g_assert_cmpuint (forwards->len, >, 0);

  /* sshd no longer takes new logins (libvirt's stays): the window says how the display travels and why
   * ssh could not carry it. */
  gtk_window_destroy (v.display_window);
  vireo_ssh_fixture_stop_server (&ssh);
  open_display_window (&v, uuid);
  wait_for_message (v.display_window, "Could not show the display of “far”");
  route = g_strdup_printf ("Through ssh to 127.0.0.1:%s on 127.0.0.1: ", strrchr (spice, ':') + 1);
  /* ssh's reason may come a moment after the display saw its channel close. */
  g_assert_true (vireo_ui_wait_for_label (GTK_WIDGET (v.display_window), route, WAIT_SECONDS));
  g_assert_nonnull (vireo_ui_find_label (GTK_WIDGET (v.display_window), "Connection refused"));
  {
    g_autoptr (GdkTexture) shot = vireo_ui_render (GTK_WIDGET (v.display_window),
                                                   "libvirt-display-ssh-failed");
  }
  vireo_ssh_fixture_start_server (&ssh);

  remote_view_close (&v, uuid, "far");
  /* Each channel's ssh ended with it. */
  g_assert_true (vireo_test_wait_until (vireo_test_processes_gone, &forward, WAIT_SECONDS));
  g_clear_object (&host);
  vireo_test_libvirtd_stop (&d);
  vireo_ssh_fixture_stop (&ssh);
  vireo_test_remove_tree (dir);
}

/* The address a qemu+ssh host's display is forwarded to, from the domain's <graphics>. */
static void
test_listen_address (void)
{
  const struct
  {
    const char *xml;
    const char *address;
  } cases[] = {
    { "<graphics type='spice' port='5900' autoport='yes' listen='127.0.0.1'>"
      "<listen type='address' address='127.0.0.1'/></graphics>",
      "127.0.0.1" },
    { "<graphics type='spice' port='5901' listen='192.0.2.7'><listen type='address' address='192.0.2.7'/>"
      "</graphics>",
      "192.0.2.7" },
    { "<graphics type='spice' port='5902'><listen type='address' address='::1'/></graphics>", "::1" },
    { "<graphics type='spice' port='5903' listen='0.0.0.0'><listen type='address' address='0.0.0.0'/>"
      "</graphics>",
      "127.0.0.1" },
    { "<graphics type='spice' port='5904' listen='::'/>", "127.0.0.1" },
    { "<graphics type='spice' port='5905' autoport='yes'/>", "127.0.0.1" },
    { "<graphics type='spice' port='5906'><listen type='network' network='default' address='10.0.0.1'/>"
      "</graphics>",
      "10.0.0.1" },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *address = vireo_libvirt_display_listen_address (cases[i].xml);

      g_test_message ("%s", cases[i].xml);
      g_assert_cmpstr (address, ==, cases[i].address);
    }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  /* Criticals stay fatal; warnings not: spice-client-glib warns when a connection it had ends. */
  g_log_set_always_fatal (G_LOG_FATAL_MASK | G_LOG_LEVEL_CRITICAL);
  if (!gtk_init_check ())
    {
      g_print ("1..0 # SKIP no display: GTK cannot open one (DISPLAY=%s)\n", g_getenv ("DISPLAY"));
      return 0;
    }
  adw_init ();
  vireo_register_resource ();
  g_test_add_func ("/libvirt-page/domains-and-display", test_page);
  g_test_add_func ("/libvirt-page/remote-display", test_remote_display);
  g_test_add_func ("/libvirt-page/ssh-display", test_ssh_display);
  g_test_add_func ("/libvirt-page/listen-address", test_listen_address);
  return g_test_run ();
}
