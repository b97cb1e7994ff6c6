/* test-libvirt-window.c — a libvirt host in the manager window: added with "Connect to Server…" (with the
 * dialog's checks of a libvirt address), remembered in "remote-hosts", its row in the sidebar with its
 * number of machines, its page in the content area with the domains, back to a Vireo host and again, a lost
 * daemon shown in its row, and Forget.  The host is a libvirtd of the test's own (../libvirtd-fixture.c). */
#include "libvirtd-fixture.h"
#include "ui-fixture.h"
#include "vireo-connect-server.h"
#include "vireo-libvirt-host.h"
#include "vireo-libvirt-page.h"

#include <signal.h>

#define WAIT_SECONDS 90

static VireoUiFixture fixture;
static VireoTestLibvirtd libvirtd;

/* Whether the window's button for @action (e.g. "win.new-machine") can be clicked. */
static gboolean
action_button_sensitive (GtkWidget *root, const char *action)
{
  for (GtkWidget *child = gtk_widget_get_first_child (root); child;
       child = gtk_widget_get_next_sibling (child))
    {
      if (GTK_IS_ACTIONABLE (child)
          && g_strcmp0 (gtk_actionable_get_action_name (GTK_ACTIONABLE (child)), action) == 0)
        return gtk_widget_is_sensitive (child);
      if (action_button_sensitive (child, action))
        return TRUE;
    }
  return FALSE;
}

static VireoLibvirtHost *
libvirt_host (void)
{
  GObject *host = vireo_application_find_host (fixture.app, libvirtd.uri);
  return VIREO_IS_LIBVIRT_HOST (host) ? VIREO_LIBVIRT_HOST (host) : NULL;
}

static gboolean
host_lists_domains (gpointer data)
{
  VireoLibvirtHost *host = libvirt_host ();
  return host && vireo_libvirt_host_get_available (host)
         && g_list_model_get_n_items (vireo_libvirt_host_get_domains (host)) == 2;
}

static char **
remembered (void)
{
  g_autoptr (GSettings) settings = vireo_application_get_settings ();

  g_assert_nonnull (settings);
  return g_settings_get_strv (settings, "remote-hosts");
}

static void
type_address (GtkWindow *dialog, const char *text)
{
  GtkEditable *entry = GTK_EDITABLE (vireo_ui_find_named (GTK_WIDGET (dialog), "server-address"));

  g_assert_nonnull (entry);
  gtk_editable_set_text (entry, text);
  vireo_ui_spin (300);
}

static void
test_window (void)
{
  GtkWindow *dialog;
  GtkWidget *row, *page;
  g_auto (GStrv) uris = NULL;
  g_autofree char *first = NULL, *second = NULL;

  if (!vireo_test_libvirtd_start (&libvirtd))
    return;
  first = vireo_test_libvirtd_define (&libvirtd, "lv-first", "hello", VIREO_TEST_NO_GRAPHICS);
  second = vireo_test_libvirtd_define (&libvirtd, "lv-second", "hello", VIREO_TEST_NO_GRAPHICS);

  /* The dialog knows a libvirt address from a Vireo one, and says what is wrong with a bad one. */
  g_action_group_activate_action (G_ACTION_GROUP (fixture.app), "connect-server", NULL);
  vireo_ui_spin (300);
  dialog = vireo_ui_find_window ("connect-server");
  g_assert_nonnull (dialog);
  type_address (dialog, "qemu:///nowhere");
  g_assert_true (vireo_ui_wait_for_label (GTK_WIDGET (dialog), "ends in /system or /session", WAIT_SECONDS));
  g_assert_false (adw_message_dialog_get_response_enabled (ADW_MESSAGE_DIALOG (dialog), "connect"));
  type_address (dialog, libvirtd.uri);
  g_assert_null (vireo_ui_find_label (GTK_WIDGET (dialog), "ends in /system or /session"));
  g_assert_true (adw_message_dialog_get_response_enabled (ADW_MESSAGE_DIALOG (dialog), "connect"));
  g_object_unref (vireo_ui_render (GTK_WIDGET (dialog), "libvirt-connect"));
  adw_message_dialog_response (ADW_MESSAGE_DIALOG (dialog), "connect");
  gtk_window_destroy (dialog);

  /* Remembered, in the sidebar with its domains counted, and shown: its page lists the domains. */
  uris = remembered ();
  g_assert_cmpuint (g_strv_length (uris), ==, 1);
  g_assert_cmpstr (uris[0], ==, libvirtd.uri);
  g_assert_true (vireo_ui_wait (host_lists_domains, NULL, WAIT_SECONDS));
  row = vireo_ui_find_named (GTK_WIDGET (fixture.window), "host-libvirt");
  g_assert_nonnull (row);
  g_assert_true (vireo_ui_wait_for_label (row, "2 machines", WAIT_SECONDS));
  g_assert_true (vireo_ui_wait_for_label (GTK_WIDGET (fixture.window), "lv-first", WAIT_SECONDS));
  g_assert_true (vireo_ui_wait_for_label (GTK_WIDGET (fixture.window), "lv-second", WAIT_SECONDS));
  page = vireo_ui_find_mapped_type (GTK_WIDGET (fixture.window), VIREO_TYPE_LIBVIRT_PAGE);
  g_assert_nonnull (page);
  g_assert_true (vireo_libvirt_page_get_host (VIREO_LIBVIRT_PAGE (page)) == libvirt_host ());
  /* A Vireo host's actions do not apply to a libvirt host. */
  g_assert_false (action_button_sensitive (GTK_WIDGET (fixture.window), "win.new-machine"));
  vireo_ui_spin (500);
  g_object_unref (vireo_ui_render (GTK_WIDGET (fixture.window), "libvirt-window"));

  /* The session host and back: each shows its own content. */
  g_assert_true (vireo_window_select (fixture.window, VIREO_HOST_SESSION, NULL));
  vireo_ui_spin (300);
  g_assert_null (vireo_ui_find_mapped_type (GTK_WIDGET (fixture.window), VIREO_TYPE_LIBVIRT_PAGE));
  g_assert_true (action_button_sensitive (GTK_WIDGET (fixture.window), "win.new-machine"));
  vireo_window_select_host (fixture.window, libvirt_host ());
  vireo_ui_spin (300);
  g_assert_nonnull (vireo_ui_find_mapped_type (GTK_WIDGET (fixture.window), VIREO_TYPE_LIBVIRT_PAGE));

  /* The same address again is refused before Connect. */
  dialog = vireo_connect_server_show (fixture.app, GTK_WINDOW (fixture.window));
  type_address (dialog, libvirtd.uri);
  g_assert_true (vireo_ui_wait_for_label (GTK_WIDGET (dialog), "already in the list", WAIT_SECONDS));
  gtk_window_destroy (dialog);

  /* The daemon goes: the row says so, and Reconnect from its menu brings the domains back. */
  g_subprocess_send_signal (libvirtd.libvirtd, SIGTERM);
  g_subprocess_wait (libvirtd.libvirtd, NULL, NULL);
  g_assert_true (vireo_ui_wait_for_label (row, "Not connected", WAIT_SECONDS));
  vireo_ui_spin (500);
  g_object_unref (vireo_ui_render (GTK_WIDGET (fixture.window), "libvirt-window-lost"));
  vireo_test_libvirtd_restart (&libvirtd);
  g_assert_true (
      gtk_widget_activate_action (GTK_WIDGET (fixture.window), "win.host-reconnect", "s", libvirtd.uri));
  g_assert_true (vireo_ui_wait (host_lists_domains, NULL, WAIT_SECONDS));
  g_assert_true (vireo_ui_wait_for_label (row, "2 machines", WAIT_SECONDS));

  /* Forget: out of the sidebar and the setting; the session host is shown again. */
  g_assert_true (
      gtk_widget_activate_action (GTK_WIDGET (fixture.window), "win.host-forget", "s", libvirtd.uri));
  vireo_ui_spin (300);
  g_assert_null (libvirt_host ());
  g_assert_null (vireo_ui_find_named (GTK_WIDGET (fixture.window), "host-libvirt"));
  g_assert_null (vireo_ui_find_mapped_type (GTK_WIDGET (fixture.window), VIREO_TYPE_LIBVIRT_PAGE));
  g_strfreev (uris);
  uris = remembered ();
  g_assert_cmpuint (g_strv_length (uris), ==, 0);
  vireo_test_libvirtd_stop (&libvirtd);
}

int
main (int argc, char **argv)
{
  int status;

  if (!vireo_ui_init (&fixture, &argc, &argv))
    return 0;
  g_test_add_func ("/libvirt-window/host", test_window);
  status = g_test_run ();
  vireo_ui_cleanup (&fixture);
  return status;
}
