/* test-app.c — the ui suite's manager-window tests: the real app against the real vireod --session on a
 * private bus (ui-fixture.c), under Xvfb.  What the window shows is checked against what the service says. */
#include "ui-fixture.h"

#include <glib/gstdio.h>

#define WAIT_SECONDS 60

static VireoUiFixture fixture;

static GtkWidget *
window_widget (void)
{
  return GTK_WIDGET (fixture.window);
}

static void
activate (const char *action)
{
  g_assert_true (gtk_widget_activate_action (window_widget (), action, NULL));
}

/* No machines yet: the empty page invites the user to create one. */
static void
test_empty (void)
{
  g_autoptr (GdkTexture) shot = NULL;

  g_assert_true (vireo_ui_wait_for_label (window_widget (), "No Machines", WAIT_SECONDS));
  g_assert_nonnull (vireo_ui_find_label (window_widget (), "My Machines"));
  shot = vireo_ui_render (window_widget (), "vireo-app-empty");
  /* The window is there and painted: not one flat colour. */
  g_assert_cmpuint (
      vireo_ui_pixel (shot, 5, 5), !=,
      vireo_ui_pixel (shot, gdk_texture_get_width (shot) / 2, gdk_texture_get_height (shot) / 2));
}

static char *alpha_path;
static char *beta_path;

static gboolean
machine_selected (gpointer data)
{
  VireoDBusMachine *machine = vireo_window_get_selected (fixture.window);

  return machine && g_str_equal (g_dbus_proxy_get_object_path (G_DBUS_PROXY (machine)), data);
}

/* Machines defined on the service appear in the list, with their state, memory and name; the details pane
 * follows the selection. */
static void
test_lists_machines (void)
{
  g_autoptr (GdkTexture) shot = NULL;

  alpha_path = vireo_ui_create_machine (&fixture, "alpha", "echo", FALSE);
  beta_path = vireo_ui_create_machine (&fixture, "beta", "display", TRUE);

  g_assert_true (vireo_ui_wait_for_label (window_widget (), "alpha", WAIT_SECONDS));
  g_assert_true (vireo_ui_wait_for_label (window_widget (), "beta", WAIT_SECONDS));
  g_assert_true (vireo_ui_wait_for_label (window_widget (), "2 machines", WAIT_SECONDS));
  g_assert_nonnull (vireo_ui_find_label (window_widget (), "Off"));
  g_assert_nonnull (vireo_ui_find_label (window_widget (), "64 MiB"));

  g_assert_true (vireo_window_select (fixture.window, VIREO_HOST_SESSION, beta_path));
  g_assert_true (vireo_ui_wait (machine_selected, beta_path, WAIT_SECONDS));
  g_assert_true (vireo_ui_wait_for_label (window_widget (), "Linux kernel display.elf", WAIT_SECONDS));
  vireo_ui_spin (300);
  shot = vireo_ui_render (window_widget (), "vireo-app-machines");
}

/* The window's actions drive the selected machine; what the service reports shows in the list. */
static void
test_actions (void)
{
  g_autofree char *state = NULL;

  g_assert_true (vireo_window_select (fixture.window, VIREO_HOST_SESSION, alpha_path));
  g_assert_true (vireo_ui_wait (machine_selected, alpha_path, WAIT_SECONDS));

  activate ("win.start");
  g_assert_true (vireo_ui_wait_for_state (&fixture, alpha_path, "running", WAIT_SECONDS));
  g_assert_true (vireo_ui_wait_for_label (window_widget (), "Running", WAIT_SECONDS));

  activate ("win.pause");
  g_assert_true (vireo_ui_wait_for_state (&fixture, alpha_path, "paused", WAIT_SECONDS));
  g_assert_true (vireo_ui_wait_for_label (window_widget (), "Paused", WAIT_SECONDS));
  vireo_ui_spin (200);
  g_autoptr (GdkTexture) shot = vireo_ui_render (window_widget (), "vireo-app-paused");

  activate ("win.resume");
  g_assert_true (vireo_ui_wait_for_state (&fixture, alpha_path, "running", WAIT_SECONDS));

  activate ("win.turn-off");
  g_assert_true (vireo_ui_wait_for_state (&fixture, alpha_path, "off", WAIT_SECONDS));
  g_assert_true (vireo_ui_wait (machine_selected, alpha_path, WAIT_SECONDS));
  state = vireo_ui_machine_state (&fixture, alpha_path);
  g_assert_cmpstr (state, ==, "off");
}

/* A failing action shows the service's message in a toast. */
static void
test_failure_toast (void)
{
  g_autofree char *missing_path = NULL;
  g_autofree char *kernel = g_build_filename (fixture.base, "vanishing.elf", NULL);
  g_autofree char *source = vireo_test_guest_path ("echo");
  g_autofree char *contents = NULL;
  gsize length;

  /* A machine whose kernel file is removed after it was defined. */
  g_assert_true (g_file_get_contents (source, &contents, &length, NULL));
  g_assert_true (g_file_set_contents (kernel, contents, length, NULL));
  {
    g_autoptr (GVariant) reply = NULL;
    GVariantBuilder settings;
    g_autoptr (GError) error = NULL;

    g_variant_builder_init (&settings, G_VARIANT_TYPE_VARDICT);
    g_variant_builder_add (&settings, "{sv}", "name", g_variant_new_string ("gamma"));
    g_variant_builder_add (&settings, "{sv}", "kernel", g_variant_new_string (kernel));
    g_variant_builder_add (&settings, "{sv}", "memory-mib", g_variant_new_uint64 (64));
    reply = g_dbus_connection_call_sync (fixture.connection, "org.vireo.Vireo1", "/org/vireo/Vireo1",
                                         "org.vireo.Vireo1.Manager", "CreateMachine",
                                         g_variant_new ("(a{sv})", &settings), G_VARIANT_TYPE ("(o)"),
                                         G_DBUS_CALL_FLAGS_NONE, -1, NULL, &error);
    g_assert_no_error (error);
    g_variant_get (reply, "(o)", &missing_path);
  }
  g_assert_cmpint (g_unlink (kernel), ==, 0);

  g_assert_true (vireo_ui_wait_for_label (window_widget (), "gamma", WAIT_SECONDS));
  g_assert_true (vireo_window_select (fixture.window, VIREO_HOST_SESSION, missing_path));
  activate ("win.start");
  g_assert_true (vireo_ui_wait_for_label (window_widget (), "Could not start “gamma”", WAIT_SECONDS));
  /* The toast carries the service's reason, which names the file. */
  g_assert_nonnull (vireo_ui_find_label (window_widget (), "vanishing.elf"));
  vireo_ui_spin (300);
  g_autoptr (GdkTexture) shot = vireo_ui_render (window_widget (), "vireo-app-toast");
}

static AdwMessageDialog *
open_dialog (void)
{
  for (GList *l = gtk_window_list_toplevels (); l; l = g_list_delete_link (l, l))
    if (ADW_IS_MESSAGE_DIALOG (l->data) && gtk_widget_get_visible (l->data))
      {
        AdwMessageDialog *dialog = l->data;
        g_list_free (l);
        return dialog;
      }
  return NULL;
}

static gboolean
dialog_shown (gpointer data)
{
  return open_dialog () != NULL;
}

static gboolean
machine_named (gpointer data)
{
  VireoDBusMachine *machine = vireo_host_find_machine (fixture.host, alpha_path);

  return machine && g_strcmp0 (vireo_dbus_machine_get_name (machine), data) == 0;
}

static gboolean
alpha_gone (gpointer data)
{
  return vireo_host_find_machine (fixture.host, alpha_path) == NULL;
}

static GtkWidget *
find_popover (GtkWidget *root)
{
  if (GTK_IS_POPOVER_MENU (root) && gtk_widget_get_visible (root))
    return root;
  for (GtkWidget *child = gtk_widget_get_first_child (root); child;
       child = gtk_widget_get_next_sibling (child))
    {
      GtkWidget *found = find_popover (child);
      if (found)
        return found;
    }
  return NULL;
}

/* The machine menu opens from the keyboard (Shift+F10 / Menu) at the selected machine. */
static void
test_context_menu (void)
{
  GtkWidget *popover;

  g_assert_true (vireo_window_select (fixture.window, VIREO_HOST_SESSION, alpha_path));
  activate ("win.context-menu");
  vireo_ui_spin (300);
  popover = find_popover (window_widget ());
  g_assert_nonnull (popover);
  g_assert_nonnull (vireo_ui_find_label (popover, "Connect"));
  g_assert_nonnull (vireo_ui_find_label (popover, "Delete…"));
  g_autoptr (GdkTexture) shot = vireo_ui_render (window_widget (), "vireo-app-context-menu");
  gtk_popover_popdown (GTK_POPOVER (popover));
}

/* Rename asks for the new name; the service renames the machine and the list follows. */
static void
test_rename (void)
{
  AdwMessageDialog *dialog;
  GtkWidget *entry;

  g_assert_true (vireo_window_select (fixture.window, VIREO_HOST_SESSION, alpha_path));
  activate ("win.rename");
  g_assert_true (vireo_ui_wait (dialog_shown, NULL, WAIT_SECONDS));
  dialog = open_dialog ();
  entry = adw_message_dialog_get_extra_child (dialog);
  g_assert_true (GTK_IS_EDITABLE (entry));
  g_assert_cmpstr (gtk_editable_get_text (GTK_EDITABLE (entry)), ==, "alpha");
  /* An empty name cannot be confirmed. */
  gtk_editable_set_text (GTK_EDITABLE (entry), "  ");
  g_assert_false (adw_message_dialog_get_response_enabled (dialog, "rename"));
  gtk_editable_set_text (GTK_EDITABLE (entry), "alpha renamed");
  g_assert_true (adw_message_dialog_get_response_enabled (dialog, "rename"));
  adw_message_dialog_response (dialog, "rename");
  gtk_window_destroy (GTK_WINDOW (dialog));
  g_assert_true (vireo_ui_wait (machine_named, (gpointer) "alpha renamed", WAIT_SECONDS));
  g_assert_true (vireo_ui_wait_for_label (window_widget (), "alpha renamed", WAIT_SECONDS));
}

/* Delete asks first; cancelling keeps the machine, confirming removes it from the service and the list. */
static void
test_delete (void)
{
  AdwMessageDialog *dialog;

  g_assert_true (vireo_window_select (fixture.window, VIREO_HOST_SESSION, alpha_path));
  activate ("win.delete");
  g_assert_true (vireo_ui_wait (dialog_shown, NULL, WAIT_SECONDS));
  dialog = open_dialog ();
  g_autoptr (GdkTexture) shot = vireo_ui_render (GTK_WIDGET (dialog), "vireo-app-delete");
  adw_message_dialog_response (dialog, "cancel");
  gtk_window_destroy (GTK_WINDOW (dialog));
  vireo_ui_spin (500);
  g_assert_nonnull (vireo_host_find_machine (fixture.host, alpha_path));

  activate ("win.delete");
  g_assert_true (vireo_ui_wait (dialog_shown, NULL, WAIT_SECONDS));
  dialog = open_dialog ();
  adw_message_dialog_response (dialog, "delete");
  gtk_window_destroy (GTK_WINDOW (dialog));
  g_assert_true (vireo_ui_wait (alpha_gone, NULL, WAIT_SECONDS));
  g_assert_null (vireo_ui_find_label (window_widget (), "alpha renamed"));
}

/* Stopping the service while the app runs: the app says so, and recovers when the service returns. */
static void
test_service_restart (void)
{
  vireo_ui_stop_vireod (&fixture);
  g_assert_true (vireo_ui_wait_for_label (window_widget (), "Service Not Running", WAIT_SECONDS));
  g_assert_nonnull (vireo_ui_find_label (window_widget (), "vireod"));
  g_autoptr (GdkTexture) down = vireo_ui_render (window_widget (), "vireo-app-service-down");

  vireo_ui_start_vireod (&fixture);
  g_assert_true (vireo_ui_wait_for_label (window_widget (), "beta", WAIT_SECONDS));
  g_assert_true (vireo_ui_wait_for_label (window_widget (), "2 machines", WAIT_SECONDS));
  g_assert_null (vireo_ui_find_label (window_widget (), "Service Not Running"));
}

int
main (int argc, char **argv)
{
  int status;

  if (!vireo_ui_init (&fixture, &argc, &argv))
    return 0;
  g_test_add_func ("/app/empty", test_empty);
  g_test_add_func ("/app/lists-machines", test_lists_machines);
  g_test_add_func ("/app/actions", test_actions);
  g_test_add_func ("/app/failure-toast", test_failure_toast);
  g_test_add_func ("/app/context-menu", test_context_menu);
  g_test_add_func ("/app/rename", test_rename);
  g_test_add_func ("/app/delete", test_delete);
  g_test_add_func ("/app/service-restart", test_service_restart);
  status = g_test_run ();
  vireo_ui_cleanup (&fixture);
  g_free (alpha_path);
  g_free (beta_path);
  return status;
}
