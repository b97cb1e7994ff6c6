/* test-move-dialog.c — "Move to…" in the manager window: offered only for a machine that is off; the dialog
 * lists the other hosts (a libvirt host of the test's own, ../libvirtd-fixture.c), says what will not arrive
 * as it is, copies the machine with a progress bar, and ends with the checksums both ends agreed on. */
#include "libvirtd-fixture.h"
#include "ui-fixture.h"
#include "vireo-libvirt-host.h"
#include "vireo-move-dialog.h"

#define WAIT_SECONDS 120

static VireoUiFixture fixture;
static VireoTestLibvirtd libvirtd;

static gboolean
libvirt_ready (gpointer data)
{
  GObject *host = vireo_application_find_host (fixture.app, libvirtd.uri);
  return VIREO_IS_LIBVIRT_HOST (host) && vireo_libvirt_host_get_available (VIREO_LIBVIRT_HOST (host));
}

static GtkWindow *
move_dialog (void)
{
  GListModel *toplevels = gtk_window_get_toplevels ();

  for (guint i = 0; i < g_list_model_get_n_items (toplevels); i++)
    {
      g_autoptr (GtkWindow) window = g_list_model_get_item (toplevels, i);
      if (VIREO_IS_MOVE_DIALOG (window) && gtk_widget_get_visible (GTK_WIDGET (window)))
        return window;
    }
  return NULL;
}

static gboolean
dialog_shown (gpointer data)
{
  return move_dialog () != NULL;
}

/* The header bar's button whose label is @label ("_Next", "_Copy", "_Close"). */
static GtkButton *
find_button (GtkWidget *root, const char *label)
{
  if (GTK_IS_BUTTON (root) && g_strcmp0 (gtk_button_get_label (GTK_BUTTON (root)), label) == 0
      && gtk_widget_get_mapped (root))
    return GTK_BUTTON (root);
  for (GtkWidget *child = gtk_widget_get_first_child (root); child;
       child = gtk_widget_get_next_sibling (child))
    {
      GtkButton *found = find_button (child, label);
      if (found)
        return found;
    }
  return NULL;
}

static void
click (GtkWindow *dialog, const char *label)
{
  GtkButton *button = find_button (GTK_WIDGET (dialog), label);

  g_assert_nonnull (button);
  g_assert_true (gtk_widget_is_sensitive (GTK_WIDGET (button)));
  g_signal_emit_by_name (button, "clicked");
  vireo_ui_spin (300);
}

static void
add_disk (const char *path)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GVariant) reply = g_dbus_connection_call_sync (
      fixture.connection, "org.vireo.Vireo1", path, "org.vireo.Vireo1.Machine", "CreateDisk",
      g_variant_new_parsed ("(uint64 8388608, @a{sv} {'format': <'qcow2'>})"), G_VARIANT_TYPE ("(s)"),
      G_DBUS_CALL_FLAGS_NONE, 60000, NULL, &error);

  g_assert_no_error (error);
}

static void
take_checkpoint (const char *path)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GVariant) reply = g_dbus_connection_call_sync (
      fixture.connection, "org.vireo.Vireo1", path, "org.vireo.Vireo1.Machine", "CreateCheckpoint",
      g_variant_new_parsed ("('Before the move', @a{sv} {})"), G_VARIANT_TYPE ("(o)"), G_DBUS_CALL_FLAGS_NONE,
      60000, NULL, &error);

  g_assert_no_error (error);
}

static void
test_move (void)
{
  g_autofree char *path = NULL;
  GtkWindow *dialog;
  GtkListBox *hosts;
  GtkSwitch *delete_source;
  g_autoptr (GError) error = NULL;

  if (!vireo_test_libvirtd_start (&libvirtd))
    return;
  vireo_test_libvirtd_add_pool (&libvirtd, "default");
  path = vireo_ui_create_machine (&fixture, "Nomad", "echo", FALSE);
  add_disk (path);
  take_checkpoint (path);
  g_assert_true (vireo_application_add_host_uri (fixture.app, libvirtd.uri, &error));
  g_assert_no_error (error);
  g_assert_true (vireo_ui_wait (libvirt_ready, NULL, WAIT_SECONDS));

  /* Offered for the machine while it is off. */
  g_assert_true (vireo_window_select (fixture.window, VIREO_HOST_SESSION, path));
  vireo_ui_spin (300);
  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (fixture.window), "win.move", NULL));
  g_assert_true (vireo_ui_wait (dialog_shown, NULL, WAIT_SECONDS));
  dialog = move_dialog ();

  /* The destinations: the libvirt host, connected; the machine's own host is not offered. */
  g_assert_true (vireo_ui_wait_for_label (GTK_WIDGET (dialog), "libvirt", WAIT_SECONDS));
  g_assert_null (vireo_ui_find_label (GTK_WIDGET (dialog), "My Machines"));
  hosts = GTK_LIST_BOX (vireo_ui_find_mapped_type (GTK_WIDGET (dialog), GTK_TYPE_LIST_BOX));
  g_assert_nonnull (hosts);
  g_assert_false (gtk_widget_is_sensitive (GTK_WIDGET (find_button (GTK_WIDGET (dialog), "_Next"))));
  /* The machine's checkpoint could come along to a Vireo host, not to libvirt. */
  g_assert_true (vireo_ui_wait_for_label (GTK_WIDGET (dialog), "Include its checkpoint", WAIT_SECONDS));
  gtk_list_box_select_row (hosts, gtk_list_box_get_row_at_index (hosts, 0));
  vireo_ui_spin (300);
  g_assert_nonnull (vireo_ui_find_label (GTK_WIDGET (dialog), "Not to a libvirt host"));
  /* The first switch: delete here after the copy. */
  delete_source = GTK_SWITCH (vireo_ui_find_mapped_type (GTK_WIDGET (dialog), GTK_TYPE_SWITCH));
  g_assert_true (gtk_switch_get_active (delete_source));
  gtk_switch_set_active (delete_source, FALSE);
  vireo_ui_spin (300);
  g_object_unref (vireo_ui_render (GTK_WIDGET (dialog), "move-choose"));
  click (dialog, "_Next");

  /* What does not arrive as it is, before anything is copied. */
  g_assert_true (vireo_ui_wait_for_label (GTK_WIDGET (dialog), "storage pool", WAIT_SECONDS));
  g_assert_nonnull (vireo_ui_find_label (GTK_WIDGET (dialog), "kernel"));
  g_assert_nonnull (vireo_ui_find_label (GTK_WIDGET (dialog), "it stays here as well"));
  g_assert_nonnull (vireo_ui_find_label (GTK_WIDGET (dialog), "libvirt keeps snapshots its own way"));
  vireo_ui_spin (300);
  g_object_unref (vireo_ui_render (GTK_WIDGET (dialog), "move-review"));
  click (dialog, "_Copy");

  /* The copy, and the checksums it was judged by. */
  g_assert_true (vireo_ui_wait_for_label (GTK_WIDGET (dialog), "Copied to", WAIT_SECONDS));
  g_assert_nonnull (vireo_ui_find_label (GTK_WIDGET (dialog), "vda: "));
  g_assert_nonnull (vireo_ui_find_label (GTK_WIDGET (dialog), "SHA-256"));
  vireo_ui_spin (300);
  g_object_unref (vireo_ui_render (GTK_WIDGET (dialog), "move-result"));
  {
    g_autofree char *xml = vireo_test_virsh (&libvirtd, "dumpxml", "Nomad", NULL);
    g_assert_nonnull (xml);
  }
  click (dialog, "_Close");
  g_assert_false (dialog_shown (NULL));

  /* A running machine is not offered a move. */
  vireo_ui_machine_call (&fixture, path, "Start");
  g_assert_true (vireo_ui_wait_for_state (&fixture, path, "running", WAIT_SECONDS));
  vireo_ui_spin (300);
  g_assert_false (gtk_widget_activate_action (GTK_WIDGET (fixture.window), "win.move", NULL)
                  && dialog_shown (NULL));
  vireo_ui_machine_call (&fixture, path, "TurnOff");
  g_assert_true (vireo_ui_wait_for_state (&fixture, path, "off", WAIT_SECONDS));
  vireo_test_libvirtd_stop (&libvirtd);
}

int
main (int argc, char **argv)
{
  int status;

  if (!vireo_ui_init (&fixture, &argc, &argv))
    return 0;
  g_test_add_func ("/move-dialog/to-libvirt", test_move);
  status = g_test_run ();
  vireo_ui_cleanup (&fixture);
  return status;
}
