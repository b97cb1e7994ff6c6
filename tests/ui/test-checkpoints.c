/* test-checkpoints.c — the manager's checkpoints against the real vireod --session on a private bus: the tree in
 * the details pane with "Now" under the current checkpoint, Checkpoint (the button's action), Apply and Revert
 * through Hyper-V's confirmation, Rename, Export, Delete with its confirmation, the connection window's
 * Checkpoint and Revert, the settings page's keys, and the offer to convert a raw disk.  What
 * the app shows is checked against what the service says on the test's own connection. */
#include <string.h>

#include "ui-fixture.h"
#include "vireo-checkpoint-calls.h"
#include "vireo-checkpoint-tree.h"
#include "vireo-machine-settings-private.h"

#define WAIT_SECONDS 60

static VireoUiFixture fixture;
static char *machine_path;

static GtkWidget *
window_widget (void)
{
  return GTK_WIDGET (fixture.window);
}

static void
activate (const char *action, GVariant *parameter)
{
  g_assert_true (gtk_widget_activate_action_variant (window_widget (), action, parameter));
}

static GtkWidget *
find_type (GtkWidget *root, GType type)
{
  if (G_TYPE_CHECK_INSTANCE_TYPE (root, type))
    return root;
  for (GtkWidget *child = gtk_widget_get_first_child (root); child;
       child = gtk_widget_get_next_sibling (child))
    {
      GtkWidget *found = find_type (child, type);
      if (found)
        return found;
    }
  return NULL;
}

/* The button in the checkpoint section (the group around @inside) that activates @action. */
static GtkWidget *
find_action_button (GtkWidget *root, const char *action)
{
  if (GTK_IS_BUTTON (root) && g_strcmp0 (gtk_actionable_get_action_name (GTK_ACTIONABLE (root)), action) == 0)
    return root;
  for (GtkWidget *child = gtk_widget_get_first_child (root); child;
       child = gtk_widget_get_next_sibling (child))
    {
      GtkWidget *found = find_action_button (child, action);
      if (found)
        return found;
    }
  return NULL;
}

static GtkWidget *
action_button (GtkWidget *inside, const char *action)
{
  GtkWidget *group = gtk_widget_get_ancestor (inside, ADW_TYPE_PREFERENCES_GROUP);
  GtkWidget *button = find_action_button (group, action);

  g_assert_nonnull (button);
  return button;
}

static VireoCheckpointTree *
tree (void)
{
  GtkWidget *found = find_type (window_widget (), VIREO_TYPE_CHECKPOINT_TREE);

  g_assert_nonnull (found);
  return VIREO_CHECKPOINT_TREE (found);
}

/* The rows as the tree shows them: "name@depth" per row, "Now@depth" for Now, joined by ", ".  The depth is the
 * indentation of the row's icon. */
static char *
shown_rows (void)
{
  GtkListBox *list = vireo_checkpoint_tree_get_list (tree ());
  g_autoptr (GString) text = g_string_new (NULL);

  for (int i = 0; gtk_list_box_get_row_at_index (list, i) != NULL; i++)
    {
      GtkWidget *row = GTK_WIDGET (gtk_list_box_get_row_at_index (list, i));
      GtkWidget *icon = find_type (row, GTK_TYPE_IMAGE);

      g_string_append_printf (text, "%s%s@%d", i ? ", " : "",
                              adw_preferences_row_get_title (ADW_PREFERENCES_ROW (row)),
                              gtk_widget_get_margin_start (icon) / 18);
    }
  return g_string_free (g_steal_pointer (&text), FALSE);
}

static gboolean
rows_are (gpointer data)
{
  g_autofree char *rows = shown_rows ();

  return g_str_equal (rows, data);
}

static void
assert_rows (const char *expected)
{
  g_autofree char *rows = NULL;

  if (!vireo_ui_wait (rows_are, (gpointer) expected, WAIT_SECONDS))
    {
      rows = shown_rows ();
      g_assert_cmpstr (rows, ==, expected);
    }
}

/* ---- what the service says ---- */

static GVariant *
service_call (const char *path, const char *iface, const char *method, GVariant *args, const char *reply)
{
  g_autoptr (GError) error = NULL;
  GVariant *result = g_dbus_connection_call_sync (fixture.connection, "org.vireo.Vireo1", path, iface, method,
                                                  args, G_VARIANT_TYPE (reply), G_DBUS_CALL_FLAGS_NONE, 60000,
                                                  NULL, &error);

  g_assert_no_error (error);
  return result;
}

static GVariant *
service_property (const char *path, const char *iface, const char *name)
{
  g_autoptr (GVariant) reply = service_call (path, "org.freedesktop.DBus.Properties", "Get",
                                             g_variant_new ("(ss)", iface, name), "(v)");
  GVariant *value;

  g_variant_get (reply, "(v)", &value);
  return value;
}

static char *
current_checkpoint (void)
{
  g_autoptr (GVariant) value = service_property (machine_path, "org.vireo.Vireo1.Machine",
                                                 "CurrentCheckpoint");

  return g_variant_dup_string (value, NULL);
}

static char *
checkpoint_name (const char *path)
{
  g_autoptr (GVariant) value = service_property (path, VIREO_CHECKPOINT_INTERFACE, "Name");

  return g_variant_dup_string (value, NULL);
}

/* The machine's checkpoints the service lists, oldest first. */
static GPtrArray *
service_checkpoints (void)
{
  g_autoptr (GVariant) reply = service_call ("/org/vireo/Vireo1", "org.freedesktop.DBus.ObjectManager",
                                             "GetManagedObjects", NULL, "(a{oa{sa{sv}}})");
  g_autoptr (GVariant) objects = g_variant_get_child_value (reply, 0);
  GPtrArray *paths = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GArray) times = g_array_new (FALSE, FALSE, sizeof (guint64));
  GVariantIter iter;
  const char *path;
  GVariant *interfaces;

  g_variant_iter_init (&iter, objects);
  while (g_variant_iter_next (&iter, "{&o@a{sa{sv}}}", &path, &interfaces))
    {
      g_autoptr (GVariant) owned = interfaces;
      g_autoptr (GVariant) props = g_variant_lookup_value (interfaces, VIREO_CHECKPOINT_INTERFACE, NULL);
      const char *machine = NULL;
      guint64 created = 0;
      guint at = 0;

      if (props == NULL || !g_variant_lookup (props, "Machine", "&o", &machine)
          || g_strcmp0 (machine, machine_path) != 0)
        continue;
      g_variant_lookup (props, "Created", "t", &created);
      while (at < times->len && g_array_index (times, guint64, at) <= created)
        at++;
      g_array_insert_val (times, at, created);
      g_ptr_array_insert (paths, at, g_strdup (path));
    }
  return paths;
}

static gboolean
count_is (gpointer data)
{
  g_autoptr (GPtrArray) paths = service_checkpoints ();

  return paths->len == GPOINTER_TO_UINT (data);
}

static gboolean
current_is (gpointer data)
{
  g_autofree char *current = current_checkpoint ();

  return g_strcmp0 (current, data) == 0;
}

static gboolean
no_job (gpointer data)
{
  return vireo_checkpoint_job (vireo_host_find_machine (fixture.host, machine_path)) == NULL;
}

static gboolean
dialog_open (gpointer data)
{
  return vireo_checkpoint_get_dialog () != NULL;
}

static AdwMessageDialog *
wait_for_dialog (void)
{
  g_assert_true (vireo_ui_wait (dialog_open, NULL, WAIT_SECONDS));
  return vireo_checkpoint_get_dialog ();
}

static void
answer (AdwMessageDialog *dialog, const char *response)
{
  adw_message_dialog_response (dialog, response);
  gtk_window_destroy (GTK_WINDOW (dialog));
  vireo_ui_spin (100);
}

static GVariant *
path_parameter (const char *path)
{
  return g_variant_new_string (path);
}

/* ---- the tests ---- */

static gboolean
machine_selected (gpointer data)
{
  VireoDBusMachine *machine = vireo_window_get_selected (fixture.window);

  return machine && g_str_equal (g_dbus_proxy_get_object_path (G_DBUS_PROXY (machine)), data);
}

/* A machine without checkpoints: only "Now", and nothing to revert to. */
static void
test_empty (void)
{
  machine_path = vireo_ui_create_machine (&fixture, "lab", "echo", FALSE);
  g_assert_true (vireo_ui_wait_for_listed (&fixture, machine_path, WAIT_SECONDS));
  g_assert_true (vireo_window_select (fixture.window, VIREO_HOST_SESSION, machine_path));
  g_assert_true (vireo_ui_wait (machine_selected, machine_path, WAIT_SECONDS));
  assert_rows ("Now@0");
  g_assert_nonnull (vireo_ui_find_label (GTK_WIDGET (tree ()), "Off"));
  /* The section's Revert button is there, and insensitive. */
  g_assert_false (gtk_widget_is_sensitive (action_button (GTK_WIDGET (tree ()), "win.revert")));
  g_assert_true (gtk_widget_is_sensitive (action_button (GTK_WIDGET (tree ()), "win.checkpoint")));
  g_autoptr (GdkTexture) shot = vireo_ui_render (window_widget (), "vireo-checkpoints-empty");
}

/* Checkpoint (the section's button and the machine menu's item) takes one with the default name; the tree
 * shows it with "Now" below it, as the service says. */
static void
test_create (void)
{
  g_autoptr (GPtrArray) paths = NULL;
  g_autofree char *name = NULL;
  g_autofree char *current = NULL;
  g_autofree char *expected = NULL;

  /* The section's own button, as a user clicks it. */
  g_signal_emit_by_name (action_button (GTK_WIDGET (tree ()), "win.checkpoint"), "clicked");
  /* What is under way shows at once, and the button waits for it. */
  g_assert_nonnull (vireo_ui_find_label (GTK_WIDGET (tree ()), "Taking a checkpoint…"));
  g_assert_false (gtk_widget_is_sensitive (action_button (GTK_WIDGET (tree ()), "win.checkpoint")));
  {
    g_autoptr (GdkTexture) busy = vireo_ui_render (
        gtk_widget_get_ancestor (GTK_WIDGET (tree ()), ADW_TYPE_PREFERENCES_GROUP),
        "vireo-checkpoints-progress");
  }
  g_assert_true (vireo_ui_wait (count_is, GUINT_TO_POINTER (1), WAIT_SECONDS));
  paths = service_checkpoints ();
  name = checkpoint_name (paths->pdata[0]);
  /* The service's default name: "<machine> - (YYYY-MM-DD - HH:MM:SS)". */
  g_assert_true (g_str_has_prefix (name, "lab - ("));
  g_assert_true (vireo_ui_wait (current_is, paths->pdata[0], WAIT_SECONDS));
  current = current_checkpoint ();
  g_assert_cmpstr (current, ==, paths->pdata[0]);
  expected = g_strdup_printf ("%s@0, Now@1", name);
  assert_rows (expected);
  g_assert_true (vireo_ui_wait (no_job, NULL, WAIT_SECONDS));
  /* A machine that is off has nothing running: its disks are at rest. */
  g_assert_nonnull (vireo_ui_find_label (GTK_WIDGET (tree ()), "Standard, disks only"));
  vireo_ui_spin (300);
  g_autoptr (GdkTexture) shot = vireo_ui_render (window_widget (), "vireo-checkpoints-one");
}

/* Renaming asks for the name (1–100 characters) and the tree follows the service. */
static void
test_rename (void)
{
  g_autoptr (GPtrArray) paths = service_checkpoints ();
  AdwMessageDialog *dialog;
  GtkWidget *entry;
  g_autofree char *name = NULL;

  activate ("win.checkpoint-rename", path_parameter (paths->pdata[0]));
  dialog = wait_for_dialog ();
  entry = adw_message_dialog_get_extra_child (dialog);
  g_assert_true (GTK_IS_EDITABLE (entry));
  gtk_editable_set_text (GTK_EDITABLE (entry), "   ");
  g_assert_false (adw_message_dialog_get_response_enabled (dialog, "rename"));
  gtk_editable_set_text (GTK_EDITABLE (entry), "Before the update");
  g_assert_true (adw_message_dialog_get_response_enabled (dialog, "rename"));
  answer (dialog, "rename");
  assert_rows ("Before the update@0, Now@1");
  name = checkpoint_name (paths->pdata[0]);
  g_assert_cmpstr (name, ==, "Before the update");
}

/* A second checkpoint hangs below the first; applying the first asks Hyper-V's question, and "Apply" moves
 * "Now" under the first without taking another. */
static void
test_apply (void)
{
  g_autoptr (GPtrArray) paths = NULL;
  g_autofree char *second = NULL;
  g_autofree char *expected = NULL;
  AdwMessageDialog *dialog;

  activate ("win.checkpoint", NULL);
  g_assert_true (vireo_ui_wait (count_is, GUINT_TO_POINTER (2), WAIT_SECONDS));
  paths = service_checkpoints ();
  g_assert_true (vireo_ui_wait (current_is, paths->pdata[1], WAIT_SECONDS));
  second = checkpoint_name (paths->pdata[1]);
  expected = g_strdup_printf ("Before the update@0, %s@1, Now@2", second);
  assert_rows (expected);

  /* The first checkpoint's menu (its button; a right click opens the same) offers Delete Subtree too. */
  {
    GtkListBoxRow *row = gtk_list_box_get_row_at_index (vireo_checkpoint_tree_get_list (tree ()), 0);
    GtkWidget *button = find_type (GTK_WIDGET (row), GTK_TYPE_MENU_BUTTON);
    GtkPopover *popover;

    gtk_menu_button_popup (GTK_MENU_BUTTON (button));
    vireo_ui_spin (500);
    popover = gtk_menu_button_get_popover (GTK_MENU_BUTTON (button));
    g_assert_nonnull (vireo_ui_find_label (GTK_WIDGET (popover), "Apply…"));
    g_assert_nonnull (vireo_ui_find_label (GTK_WIDGET (popover), "Delete Checkpoint Subtree…"));
    /* A popover is a surface of its own: the window's picture does not hold it. */
    g_autoptr (GdkTexture) menu_shot = vireo_ui_render (GTK_WIDGET (popover), "vireo-checkpoints-menu");
    gtk_popover_popdown (popover);
  }

  activate ("win.checkpoint-apply", path_parameter (paths->pdata[0]));
  dialog = wait_for_dialog ();
  g_assert_true (adw_message_dialog_has_response (dialog, "checkpoint-apply"));
  g_assert_true (adw_message_dialog_has_response (dialog, "apply"));
  g_assert_true (adw_message_dialog_has_response (dialog, "cancel"));
  g_assert_cmpstr (adw_message_dialog_get_response_label (dialog, "checkpoint-apply"), ==,
                   "_Take Checkpoint and Apply");
  vireo_ui_spin (500);
  g_autoptr (GdkTexture) shot = vireo_ui_render (GTK_WIDGET (dialog), "vireo-checkpoints-apply-dialog");
  /* Cancel changes nothing. */
  answer (dialog, "cancel");
  vireo_ui_spin (500);
  g_assert_true (current_is (paths->pdata[1]));

  activate ("win.checkpoint-apply", path_parameter (paths->pdata[0]));
  answer (wait_for_dialog (), "apply");
  g_assert_true (vireo_ui_wait (current_is, paths->pdata[0], WAIT_SECONDS));
  g_assert_true (vireo_ui_wait (no_job, NULL, WAIT_SECONDS));
  g_free (expected);
  expected = g_strdup_printf ("Before the update@0, %s@1, Now@1", second);
  assert_rows (expected);
  g_assert_true (count_is (GUINT_TO_POINTER (2)));
  vireo_ui_spin (300);
  g_clear_object (&shot);
  shot = vireo_ui_render (window_widget (), "vireo-checkpoints-applied");
}

/* Revert applies the current checkpoint; "Take Checkpoint and Apply" first keeps the state being left. */
static void
test_revert (void)
{
  g_autoptr (GPtrArray) before = service_checkpoints ();
  g_autoptr (GPtrArray) after = NULL;
  AdwMessageDialog *dialog;

  activate ("win.revert", NULL);
  dialog = wait_for_dialog ();
  g_assert_nonnull (strstr (adw_message_dialog_get_heading (dialog), "Revert"));
  answer (dialog, "checkpoint-apply");
  g_assert_true (vireo_ui_wait (count_is, GUINT_TO_POINTER (before->len + 1), WAIT_SECONDS));
  g_assert_true (vireo_ui_wait (no_job, NULL, WAIT_SECONDS));
  /* Back under the checkpoint it reverted to, with the state it left kept as a checkpoint of its own. */
  g_assert_true (vireo_ui_wait (current_is, before->pdata[0], WAIT_SECONDS));
  after = service_checkpoints ();
  g_assert_cmpuint (after->len, ==, 3);
}

static gboolean
machine_named (gpointer data)
{
  GListModel *machines = vireo_host_get_machines (fixture.host);

  for (guint i = 0; i < g_list_model_get_n_items (machines); i++)
    {
      g_autoptr (VireoDBusMachine) machine = g_list_model_get_item (machines, i);
      if (g_strcmp0 (vireo_dbus_machine_get_name (machine), data) == 0)
        return TRUE;
    }
  return FALSE;
}

/* Export asks the new machine's name (a taken one is refused as typed) and the new machine is listed. */
static void
test_export (void)
{
  g_autoptr (GPtrArray) paths = service_checkpoints ();
  AdwMessageDialog *dialog;
  GtkWidget *entry;

  activate ("win.checkpoint-export", path_parameter (paths->pdata[0]));
  dialog = wait_for_dialog ();
  entry = find_type (adw_message_dialog_get_extra_child (dialog), GTK_TYPE_ENTRY);
  g_assert_nonnull (entry);
  gtk_editable_set_text (GTK_EDITABLE (entry), "lab");
  g_assert_false (adw_message_dialog_get_response_enabled (dialog, "export"));
  gtk_editable_set_text (GTK_EDITABLE (entry), "lab before the update");
  g_assert_true (adw_message_dialog_get_response_enabled (dialog, "export"));
  vireo_ui_spin (300);
  g_autoptr (GdkTexture) shot = vireo_ui_render (GTK_WIDGET (dialog), "vireo-checkpoints-export-dialog");
  answer (dialog, "export");
  g_assert_true (vireo_ui_wait (machine_named, (gpointer) "lab before the update", WAIT_SECONDS));
  g_assert_true (vireo_ui_wait (no_job, NULL, WAIT_SECONDS));
  /* Exporting changes nothing of the machine's own tree. */
  g_assert_true (count_is (GUINT_TO_POINTER (paths->len)));
}

/* The connection window's toolbar has Checkpoint and Revert too (VMConnect's Ctrl+N and Ctrl+R). */
static void
test_connection (void)
{
  g_autoptr (GPtrArray) before = service_checkpoints ();
  VireoDBusMachine *machine = vireo_host_find_machine (fixture.host, machine_path);
  GtkWindow *connection = vireo_application_connect (fixture.app, fixture.host, machine);
  AdwMessageDialog *dialog;
  g_autofree char *current = current_checkpoint ();

  g_assert_nonnull (connection);
  vireo_ui_spin (500);
  g_assert_true (gtk_widget_is_sensitive (find_action_button (GTK_WIDGET (connection), "win.checkpoint")));
  g_assert_true (gtk_widget_is_sensitive (find_action_button (GTK_WIDGET (connection), "win.revert")));
  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (connection), "win.checkpoint", NULL));
  g_assert_true (vireo_ui_wait (count_is, GUINT_TO_POINTER (before->len + 1), WAIT_SECONDS));
  g_assert_false (current_is (current));
  g_assert_true (vireo_ui_wait (no_job, NULL, WAIT_SECONDS));
  vireo_ui_spin (300);
  g_autoptr (GdkTexture) shot = vireo_ui_render (GTK_WIDGET (connection), "vireo-checkpoints-connection");

  /* Revert from here asks the same question, over this window. */
  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (connection), "win.revert", NULL));
  dialog = wait_for_dialog ();
  g_assert_true (gtk_window_get_transient_for (GTK_WINDOW (dialog)) == connection);
  answer (dialog, "cancel");
  gtk_window_destroy (connection);
  vireo_ui_spin (300);
}

/* Delete asks first; Cancel keeps the checkpoint, Delete removes it from the service and the tree. */
static void
test_delete (void)
{
  g_autoptr (GPtrArray) paths = service_checkpoints ();
  g_autofree char *last = g_strdup (paths->pdata[paths->len - 1]);
  AdwMessageDialog *dialog;

  activate ("win.checkpoint-delete", path_parameter (last));
  dialog = wait_for_dialog ();
  vireo_ui_spin (500);
  g_autoptr (GdkTexture) shot = vireo_ui_render (GTK_WIDGET (dialog), "vireo-checkpoints-delete-dialog");
  answer (dialog, "cancel");
  vireo_ui_spin (500);
  g_assert_true (count_is (GUINT_TO_POINTER (paths->len)));

  activate ("win.checkpoint-delete", path_parameter (last));
  answer (wait_for_dialog (), "delete");
  g_assert_true (vireo_ui_wait (count_is, GUINT_TO_POINTER (paths->len - 1), WAIT_SECONDS));
  g_assert_true (vireo_ui_wait (no_job, NULL, WAIT_SECONDS));

  /* Delete Subtree of the root takes every checkpoint; "Now" stays, alone. */
  activate ("win.checkpoint-delete-subtree", path_parameter (paths->pdata[0]));
  dialog = wait_for_dialog ();
  g_assert_nonnull (strstr (adw_message_dialog_get_heading (dialog), "Subtree"));
  answer (dialog, "delete");
  g_assert_true (vireo_ui_wait (count_is, GUINT_TO_POINTER (0), WAIT_SECONDS));
  assert_rows ("Now@0");
}

static gboolean
setting_is (gpointer data)
{
  const char *const *pair = data;
  g_autoptr (GVariant) settings = vireo_ui_machine_settings (&fixture, machine_path);
  g_autoptr (GVariant) value = g_variant_lookup_value (settings, pair[0], NULL);
  g_autofree char *text = value ? g_variant_print (value, FALSE) : NULL;

  return g_strcmp0 (text, pair[1]) == 0;
}

/* A writable raw disk: the service refuses, the app offers to convert the disks (the machine is off) and
 * takes the checkpoint with "convert-raw"; the disk is then a qcow2 copy. */
static void
test_raw_disk (void)
{
  g_autoptr (GVariant) reply = NULL;
  g_autoptr (GVariant) settings = NULL;
  g_autoptr (GVariant) disks = NULL;
  g_autoptr (GVariant) disk = NULL;
  const char *path = NULL;
  AdwMessageDialog *dialog;

  g_free (machine_path);
  machine_path = vireo_ui_create_machine (&fixture, "raw", "echo", FALSE);
  g_variant_unref (service_call (machine_path, "org.vireo.Vireo1.Machine", "CreateDisk",
                                 g_variant_new_parsed ("(uint64 1048576, {'format': <'raw'>})"), "(s)"));
  g_assert_true (vireo_ui_wait_for_listed (&fixture, machine_path, WAIT_SECONDS));
  g_assert_true (vireo_window_select (fixture.window, VIREO_HOST_SESSION, machine_path));
  g_assert_true (vireo_ui_wait (machine_selected, machine_path, WAIT_SECONDS));

  activate ("win.checkpoint", NULL);
  dialog = wait_for_dialog ();
  g_assert_cmpstr (adw_message_dialog_get_heading (dialog), ==, "Convert the Disks to qcow2?");
  /* The service's reason names the disk. */
  g_assert_nonnull (strstr (adw_message_dialog_get_body (dialog), "The disk “vda” is a raw image"));
  g_assert_null (strstr (adw_message_dialog_get_body (dialog), "convert-raw"));
  vireo_ui_spin (300);
  g_autoptr (GdkTexture) shot = vireo_ui_render (GTK_WIDGET (dialog), "vireo-checkpoints-convert-dialog");
  answer (dialog, "convert");
  g_assert_true (vireo_ui_wait (count_is, GUINT_TO_POINTER (1), WAIT_SECONDS));
  g_assert_true (vireo_ui_wait (no_job, NULL, WAIT_SECONDS));
  settings = vireo_ui_machine_settings (&fixture, machine_path);
  disks = g_variant_lookup_value (settings, "disks", G_VARIANT_TYPE ("aa{sv}"));
  disk = g_variant_get_child_value (disks, 0);
  g_assert_true (g_variant_lookup (disk, "path", "&s", &path));
  g_assert_true (g_str_has_suffix (path, ".qcow2"));
}

/* The settings page sends the checkpoint keys the user changes. */
static void
test_settings (void)
{
  VireoDBusMachine *machine = vireo_host_find_machine (fixture.host, machine_path);
  VireoMachineSettings *window = vireo_machine_settings_new (GTK_WINDOW (fixture.window), fixture.host,
                                                             machine);
  const char *kind[] = { "checkpoint-kind", "'production'" };
  const char *automatic[] = { "automatic-checkpoints", "true" };
  const char *agent[] = { "guest-agent", "true" };

  gtk_window_present (GTK_WINDOW (window));
  adw_preferences_window_set_visible_page_name (ADW_PREFERENCES_WINDOW (window), "checkpoints");
  vireo_ui_spin (300);
  g_assert_false (gtk_check_button_get_active (
      GTK_CHECK_BUTTON (vireo_machine_settings_get_part (window, "production_radio"))));
  gtk_check_button_set_active (
      GTK_CHECK_BUTTON (vireo_machine_settings_get_part (window, "production_radio")), TRUE);
  g_assert_true (vireo_ui_wait (setting_is, kind, WAIT_SECONDS));
  gtk_switch_set_active (GTK_SWITCH (vireo_machine_settings_get_part (window, "automatic_switch")), TRUE);
  g_assert_true (vireo_ui_wait (setting_is, automatic, WAIT_SECONDS));
  gtk_switch_set_active (GTK_SWITCH (vireo_machine_settings_get_part (window, "agent_switch")), TRUE);
  g_assert_true (vireo_ui_wait (setting_is, agent, WAIT_SECONDS));
  vireo_ui_spin (300);
  g_autoptr (GdkTexture) shot = vireo_ui_render (GTK_WIDGET (window), "vireo-checkpoints-settings");
  gtk_window_destroy (GTK_WINDOW (window));
}

int
main (int argc, char **argv)
{
  int status;

  if (!vireo_ui_init (&fixture, &argc, &argv))
    return 0;
  g_test_add_func ("/checkpoints/empty", test_empty);
  g_test_add_func ("/checkpoints/create", test_create);
  g_test_add_func ("/checkpoints/rename", test_rename);
  g_test_add_func ("/checkpoints/apply", test_apply);
  g_test_add_func ("/checkpoints/revert", test_revert);
  g_test_add_func ("/checkpoints/export", test_export);
  g_test_add_func ("/checkpoints/connection", test_connection);
  g_test_add_func ("/checkpoints/delete", test_delete);
  g_test_add_func ("/checkpoints/settings", test_settings);
  g_test_add_func ("/checkpoints/raw-disk", test_raw_disk);
  status = g_test_run ();
  vireo_ui_cleanup (&fixture);
  g_free (machine_path);
  return status;
}
