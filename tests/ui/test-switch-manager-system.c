/* test-switch-manager-system.c — the Virtual Switch Manager against the real vireod --system: switches are
 * created (an external one on a Linux bridge the test makes, a private one whose bridge the service makes)
 * and deleted through the window, a name taken is said before asking, and the service's refusal to delete a
 * switch a machine uses is shown with its message; the Network page offers the new switches.  Bridges are real, so the program runs in a network
 * namespace of its own (root: unshare); without root it is skipped.  No polkit runs on the private bus: the
 * service lets root through, as it does on a host.  Screenshots go to $VIREO_UI_SCREENSHOTS. */
#include <errno.h>
#include <sched.h>
#include <string.h>
#include <sys/mount.h>
#include <unistd.h>

#include <adwaita.h>

#include "test-util.h"
#include "ui-fixture.h"
#include "vireo-machine-settings-private.h"
#include "vireo-resources.h"
#include "vireo-settings-network.h"
#include "vireo-switch-manager.h"

#define WAIT_SECONDS 60
#define BUS_NAME     "org.vireo.Vireo1"
#define TEST_BRIDGE  "vtest-br0"

static GTestDBus *bus;
static GDBusConnection *connection;
static GSubprocess *vireod;
static VireoHost *host;
static char *base;

static void
pump (void)
{
  while (g_main_context_pending (NULL))
    g_main_context_iteration (NULL, FALSE);
}

static gboolean
host_available (gpointer data)
{
  return vireo_host_get_available (host);
}

static GtkWidget *
row_named (VireoSwitchManager *window, const char *name)
{
  for (guint i = 0; vireo_switch_manager_get_row (window, i) != NULL; i++)
    {
      GtkWidget *row = vireo_switch_manager_get_row (window, i);

      if (g_str_equal (adw_preferences_row_get_title (ADW_PREFERENCES_ROW (row)), name))
        return row;
    }
  return NULL;
}

typedef struct
{
  VireoSwitchManager *window;
  const char *name;
  gboolean listed;
} RowQuery;

static gboolean
row_listed_is (gpointer data)
{
  RowQuery *query = data;

  return (row_named (query->window, query->name) != NULL) == query->listed;
}

static void
wait_listed (VireoSwitchManager *window, const char *name, gboolean listed)
{
  RowQuery query = { window, name, listed };

  g_assert_true (vireo_ui_wait (row_listed_is, &query, WAIT_SECONDS));
  pump ();
}

static GtkWidget *
part (VireoSwitchManager *window, const char *name)
{
  GObject *object = vireo_switch_manager_get_part (window, name);

  g_assert_nonnull (object);
  return GTK_WIDGET (object);
}

static gboolean
name_empty (gpointer window)
{
  return *gtk_editable_get_text (GTK_EDITABLE (part (window, "name_row"))) == '\0';
}

static void
create (VireoSwitchManager *window, const char *name, guint kind)
{
  gtk_editable_set_text (GTK_EDITABLE (part (window, "name_row")), name);
  adw_combo_row_set_selected (ADW_COMBO_ROW (part (window, "kind_row")), kind);
  pump ();
  g_assert_true (gtk_widget_get_sensitive (part (window, "create_button")));
  g_signal_emit_by_name (part (window, "create_button"), "clicked");
  wait_listed (window, name, TRUE);
  /* The form empties once the answer is in (the object manager may list the switch before it). */
  g_assert_true (vireo_ui_wait (name_empty, window, WAIT_SECONDS));
}

static const char *
switch_path (VireoSwitchManager *window, const char *name)
{
  GtkWidget *row = row_named (window, name);
  GtkWidget *delete = row ? g_object_get_data (G_OBJECT (row), "delete") : NULL;
  GVariant *target = delete ? gtk_actionable_get_action_target_value (GTK_ACTIONABLE (delete)) : NULL;

  g_assert_nonnull (target);
  return g_variant_get_string (target, NULL);
}

static gboolean
dialog_named (gpointer data)
{
  AdwMessageDialog *dialog = vireo_switch_manager_get_dialog (((RowQuery *) data)->window);

  return dialog != NULL && g_str_equal (gtk_widget_get_name (GTK_WIDGET (dialog)), ((RowQuery *) data)->name);
}

static AdwMessageDialog *
wait_dialog (VireoSwitchManager *window, const char *name)
{
  RowQuery query = { window, name, TRUE };

  g_assert_true (vireo_ui_wait (dialog_named, &query, WAIT_SECONDS));
  return vireo_switch_manager_get_dialog (window);
}

static void
delete_switch (VireoSwitchManager *window, const char *name)
{
  g_autofree char *path = g_strdup (switch_path (window, name));

  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (window), "switches.delete", "o", path));
  adw_message_dialog_response (wait_dialog (window, "delete-switch"), "delete");
}

static void
screenshot (GtkWidget *window, const char *name)
{
  gtk_test_widget_wait_for_draw (window);
  vireo_ui_spin (200);
  g_object_unref (vireo_ui_render (window, name));
}

static char *
create_machine_on (const char *name, const char *switch_name)
{
  g_autofree char *kernel = vireo_test_guest_path ("hello");
  g_autoptr (GError) error = NULL;
  g_autoptr (GVariant) reply = NULL;
  GVariantDict settings, nic;
  GVariantBuilder nics;
  char *path = NULL;

  g_variant_dict_init (&nic, NULL);
  g_variant_dict_insert (&nic, "switch", "s", switch_name);
  g_variant_builder_init (&nics, G_VARIANT_TYPE ("aa{sv}"));
  g_variant_builder_add_value (&nics, g_variant_dict_end (&nic));
  g_variant_dict_init (&settings, NULL);
  g_variant_dict_insert (&settings, "name", "s", name);
  g_variant_dict_insert (&settings, "kernel", "s", kernel);
  g_variant_dict_insert (&settings, "memory-mib", "t", (guint64) 64);
  g_variant_dict_insert_value (&settings, "nics", g_variant_builder_end (&nics));
  reply = g_dbus_connection_call_sync (connection, BUS_NAME, "/org/vireo/Vireo1", "org.vireo.Vireo1.Manager",
                                       "CreateMachine",
                                       g_variant_new ("(@a{sv})", g_variant_dict_end (&settings)),
                                       G_VARIANT_TYPE ("(o)"), G_DBUS_CALL_FLAGS_NONE, -1, NULL, &error);
  g_assert_no_error (error);
  g_variant_get (reply, "(o)", &path);
  return path;
}

static void
test_switches (void)
{
  VireoSwitchManager *window = vireo_switch_manager_new (NULL, host);
  GtkWidget *row;
  GListModel *bridges;
  gboolean offered = FALSE;
  g_autofree char *machine = NULL;
  g_autofree char *lab_bridge = NULL;
  g_autofree char *bridge_dir = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (GVariant) reply = NULL;
  AdwMessageDialog *dialog;

  gtk_window_present (GTK_WINDOW (window));
  gtk_test_widget_wait_for_draw (GTK_WIDGET (window));
  wait_listed (window, "Default Switch", TRUE);
  row = row_named (window, "Default Switch");
  g_assert_false (gtk_widget_get_sensitive (g_object_get_data (G_OBJECT (row), "delete")));
  g_assert_true (gtk_widget_get_visible (part (window, "create_group")));
  g_assert_false (gtk_widget_get_sensitive (part (window, "create_button")));

  /* External: the bridges of this computer (of the test's namespace) are offered. */
  bridges = adw_combo_row_get_model (ADW_COMBO_ROW (part (window, "bridge_row")));
  for (guint i = 0; i < g_list_model_get_n_items (bridges); i++)
    {
      g_autoptr (GtkStringObject) item = g_list_model_get_item (bridges, i);

      if (g_str_equal (gtk_string_object_get_string (item), TEST_BRIDGE))
        {
          adw_combo_row_set_selected (ADW_COMBO_ROW (part (window, "bridge_row")), i);
          offered = TRUE;
        }
    }
  g_assert_true (offered);
  create (window, "Uplink", 0);
  g_assert_nonnull (
      strstr (adw_action_row_get_subtitle (ADW_ACTION_ROW (row_named (window, "Uplink"))), TEST_BRIDGE));

  /* Private: the service makes the bridge; no bridge to choose. */
  adw_combo_row_set_selected (ADW_COMBO_ROW (part (window, "kind_row")), 1);
  pump ();
  g_assert_false (gtk_widget_get_visible (part (window, "bridge_row")));
  create (window, "Lab", 1);
  row = row_named (window, "Lab");
  g_assert_nonnull (strstr (adw_action_row_get_subtitle (ADW_ACTION_ROW (row)), "Private"));
  g_assert_true (gtk_widget_get_sensitive (g_object_get_data (G_OBJECT (row), "delete")));

  /* A name taken is said, and Create waits. */
  gtk_editable_set_text (GTK_EDITABLE (part (window, "name_row")), "Lab");
  pump ();
  g_assert_true (gtk_widget_get_visible (part (window, "create_message")));
  g_assert_nonnull (strstr (gtk_label_get_text (GTK_LABEL (part (window, "create_message"))), "already"));
  g_assert_false (gtk_widget_get_sensitive (part (window, "create_button")));
  gtk_editable_set_text (GTK_EDITABLE (part (window, "name_row")), "");
  adw_combo_row_set_selected (ADW_COMBO_ROW (part (window, "kind_row")), 0);
  screenshot (GTK_WIDGET (window), "vireo-switch-manager-system");

  /* In use: the service refuses, and its message (naming the machine) is shown. */
  machine = create_machine_on ("On the Lab", "Lab");
  delete_switch (window, "Lab");
  dialog = wait_dialog (window, "switch-failure");
  g_assert_nonnull (strstr (adw_message_dialog_get_body (dialog), "On the Lab"));
  screenshot (GTK_WIDGET (dialog), "vireo-switch-manager-in-use");
  adw_message_dialog_response (dialog, "close");
  pump ();
  g_assert_nonnull (row_named (window, "Lab"));

  /* Free again: deleted, and its bridge with it. */
  reply = g_dbus_connection_call_sync (connection, BUS_NAME, machine, "org.vireo.Vireo1.Machine", "Delete",
                                       g_variant_new ("(b)", FALSE), NULL, G_DBUS_CALL_FLAGS_NONE, -1, NULL,
                                       &error);
  g_assert_no_error (error);
  lab_bridge = g_strdup (
      strstr (adw_action_row_get_subtitle (ADW_ACTION_ROW (row_named (window, "Lab"))), "vireo-br"));
  g_assert_nonnull (lab_bridge);
  *strchrnul (lab_bridge, ' ') = '\0';
  bridge_dir = g_build_filename ("/sys/class/net", lab_bridge, NULL);
  g_assert_true (g_file_test (bridge_dir, G_FILE_TEST_IS_DIR));
  delete_switch (window, "Lab");
  wait_listed (window, "Lab", FALSE);
  g_assert_false (g_file_test (bridge_dir, G_FILE_TEST_EXISTS));
  delete_switch (window, "Uplink");
  wait_listed (window, "Uplink", FALSE);
  g_assert_nonnull (row_named (window, "Default Switch"));
  gtk_window_destroy (GTK_WINDOW (window));
}

static gboolean
machine_listed (gpointer path)
{
  return vireo_host_find_machine (host, path) != NULL;
}

typedef struct
{
  const char *path;
  const char *expected; /* the printed nics */
} NicsQuery;

static gboolean
nics_are (gpointer data)
{
  NicsQuery *query = data;
  g_autoptr (GVariant) reply = g_dbus_connection_call_sync (
      connection, BUS_NAME, query->path, "org.freedesktop.DBus.Properties", "Get",
      g_variant_new ("(ss)", "org.vireo.Vireo1.Machine", "Settings"), G_VARIANT_TYPE ("(v)"),
      G_DBUS_CALL_FLAGS_NONE, -1, NULL, NULL);
  g_autoptr (GVariant) settings = NULL;
  g_autoptr (GVariant) nics = NULL;
  g_autoptr (GVariant) nic = NULL;
  const char *name = NULL;
  g_autoptr (GVariant) forwards = NULL;

  if (reply == NULL)
    return FALSE;
  g_variant_get (reply, "(v)", &settings);
  nics = g_variant_lookup_value (settings, "nics", G_VARIANT_TYPE ("aa{sv}"));
  if (nics == NULL || g_variant_n_children (nics) != 1)
    return FALSE;
  nic = g_variant_get_child_value (nics, 0);
  g_variant_lookup (nic, "switch", "&s", &name);
  forwards = g_variant_lookup_value (nic, "forwards", G_VARIANT_TYPE ("a(ssqq)"));
  return g_strcmp0 (name, query->expected) == 0 && (forwards == NULL || g_variant_n_children (forwards) == 0);
}

/* On the system service the Network page offers every switch; moving an adapter off NAT drops its port
 * forwards (only a NAT switch has them) and hides them. */
static void
test_network_page_switches (void)
{
  VireoSwitchManager *manager = vireo_switch_manager_new (NULL, host);
  g_autofree char *path = NULL;
  VireoMachineSettings *window;
  VireoSettingsNetwork *page;
  AdwComboRow *row;
  GListModel *choices;
  guint lab = G_MAXUINT;
  NicsQuery query;
  g_autoptr (GError) error = NULL;
  g_autoptr (GVariant) reply = NULL;

  gtk_window_present (GTK_WINDOW (manager));
  wait_listed (manager, "Default Switch", TRUE);
  create (manager, "Lab", 1);
  path = create_machine_on ("Moving", "Default Switch");
  reply = g_dbus_connection_call_sync (
      connection, BUS_NAME, path, "org.vireo.Vireo1.Machine", "Update",
      g_variant_new_parsed ("({'nics': <[{'switch': <'Default Switch'>, 'forwards': <[('tcp', '', "
                            "uint16 8022, uint16 22)]>}]>},)"),
      NULL, G_DBUS_CALL_FLAGS_NONE, -1, NULL, &error);
  g_assert_no_error (error);
  g_assert_true (vireo_ui_wait (machine_listed, path, WAIT_SECONDS));
  window = vireo_machine_settings_new (NULL, host, vireo_host_find_machine (host, path));
  gtk_window_present (GTK_WINDOW (window));
  adw_preferences_window_set_visible_page_name (ADW_PREFERENCES_WINDOW (window), "network");
  gtk_test_widget_wait_for_draw (GTK_WIDGET (window));
  page = VIREO_SETTINGS_NETWORK (vireo_machine_settings_get_network_page (window));
  g_assert_nonnull (vireo_settings_network_get_part (page, 0, "forward-0"));

  row = ADW_COMBO_ROW (vireo_settings_network_get_part (page, 0, "switch"));
  choices = adw_combo_row_get_model (row);
  g_assert_cmpuint (g_list_model_get_n_items (choices), ==, 2);
  for (guint i = 0; i < g_list_model_get_n_items (choices); i++)
    {
      g_autoptr (GtkStringObject) item = g_list_model_get_item (choices, i);

      if (g_str_equal (gtk_string_object_get_string (item), "Lab"))
        lab = i;
    }
  g_assert_cmpuint (lab, !=, G_MAXUINT);
  adw_combo_row_set_selected (row, lab);
  query = (NicsQuery){ path, "Lab" };
  g_assert_true (vireo_ui_wait (nics_are, &query, WAIT_SECONDS));
  vireo_ui_spin (300);
  g_assert_null (vireo_settings_network_get_part (page, 0, "forwards"));
  /* The service names the bridge it made. */
  g_assert_true (g_str_has_prefix (
      adw_action_row_get_subtitle (ADW_ACTION_ROW (vireo_settings_network_get_part (page, 0, "switch"))),
      "Private, on vireo-br"));
  screenshot (GTK_WIDGET (window), "vireo-machine-settings-network-system");
  gtk_window_destroy (GTK_WINDOW (window));

  g_clear_pointer (&reply, g_variant_unref);
  reply = g_dbus_connection_call_sync (connection, BUS_NAME, path, "org.vireo.Vireo1.Machine", "Delete",
                                       g_variant_new ("(b)", FALSE), NULL, G_DBUS_CALL_FLAGS_NONE, -1, NULL,
                                       &error);
  g_assert_no_error (error);
  delete_switch (manager, "Lab");
  wait_listed (manager, "Lab", FALSE);
  gtk_window_destroy (GTK_WINDOW (manager));
}

/* Root's own network namespace for the bridges; FALSE (having said why) when the test cannot have one. */
static gboolean
enter_network_namespace (void)
{
  g_autoptr (GError) error = NULL;
  int status = 0;
  const char *argv[] = { "ip", "link", "add", TEST_BRIDGE, "type", "bridge", NULL };
  const char *up[] = { "ip", "link", "set", TEST_BRIDGE, "up", NULL };

  if (geteuid () != 0)
    {
      g_print ("1..0 # SKIP bridges need root (a network namespace of the test's own)\n");
      return FALSE;
    }
  /* A mount namespace too, as ip-netns(8) makes one: /sys/class/net shows the namespace sysfs was mounted
   * in, and the window and vireod find bridges there. */
  if (unshare (CLONE_NEWNET | CLONE_NEWNS) != 0 || mount (NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0
      || umount2 ("/sys", MNT_DETACH) != 0 || mount ("sysfs", "/sys", "sysfs", 0, NULL) != 0)
    {
      g_print ("1..0 # SKIP no network namespace of its own: %s\n", g_strerror (errno));
      return FALSE;
    }
  if (!g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, NULL, NULL, &status, &error)
      || !g_spawn_check_wait_status (status, NULL)
      || !g_spawn_sync (NULL, (char **) up, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, NULL, NULL, &status, NULL))
    {
      g_print ("1..0 # SKIP cannot make a bridge with ip(8): %s\n", error ? error->message : "it failed");
      return FALSE;
    }
  return TRUE;
}

static gboolean
name_owned (gpointer data)
{
  g_autoptr (GVariant) reply = g_dbus_connection_call_sync (
      connection, "org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus", "NameHasOwner",
      g_variant_new ("(s)", BUS_NAME), G_VARIANT_TYPE ("(b)"), G_DBUS_CALL_FLAGS_NONE, -1, NULL, NULL);
  gboolean owned = FALSE;

  if (reply != NULL)
    g_variant_get (reply, "(b)", &owned);
  return owned;
}

int
main (int argc, char **argv)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *storage = NULL;
  g_autofree char *runtime = NULL;
  int status;

  /* First, before any thread or connection: the namespace is the process's. */
  if (!enter_network_namespace ())
    return 0;
  g_setenv ("GSETTINGS_BACKEND", "memory", TRUE);
  g_test_init (&argc, &argv, NULL);
  g_log_set_always_fatal (G_LOG_FATAL_MASK | G_LOG_LEVEL_CRITICAL);
  if (!gtk_init_check ())
    {
      g_print ("1..0 # SKIP no display: GTK cannot open one (DISPLAY=%s)\n", g_getenv ("DISPLAY"));
      return 0;
    }
  adw_init ();
  vireo_register_resource ();
  g_object_set (gtk_settings_get_default (), "gtk-enable-animations", FALSE, NULL);

  base = g_dir_make_tmp ("vireo-ui-XXXXXX", &error);
  g_assert_no_error (error);
  storage = g_build_filename (base, "storage", NULL);
  runtime = g_build_filename (base, "run", NULL);
  g_assert_cmpint (g_mkdir_with_parents (runtime, 0700), ==, 0);
  /* A private bus stands for the system bus: vireod --system and the system host find it there. */
  bus = g_test_dbus_new (G_TEST_DBUS_NONE);
  g_test_dbus_up (bus);
  g_setenv ("DBUS_SYSTEM_BUS_ADDRESS", g_test_dbus_get_bus_address (bus), TRUE);
  connection = g_dbus_connection_new_for_address_sync (g_test_dbus_get_bus_address (bus),
                                                       G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT
                                                           | G_DBUS_CONNECTION_FLAGS_MESSAGE_BUS_CONNECTION,
                                                       NULL, NULL, &error);
  g_assert_no_error (error);
  g_assert_nonnull (g_getenv ("VIREOD"));
  vireod = g_subprocess_new (G_SUBPROCESS_FLAGS_NONE, &error, g_getenv ("VIREOD"), "--system", "--storage",
                             storage, "--runtime-dir", runtime, NULL);
  g_assert_no_error (error);
  g_assert_true (vireo_ui_wait (name_owned, NULL, WAIT_SECONDS));
  host = vireo_host_new (VIREO_HOST_SYSTEM, connection);
  g_assert_true (vireo_ui_wait (host_available, NULL, WAIT_SECONDS));

  g_test_add_func ("/switch-manager-system/switches", test_switches);
  g_test_add_func ("/switch-manager-system/network-page", test_network_page_switches);
  status = g_test_run ();

  g_clear_object (&host);
  g_subprocess_send_signal (vireod, SIGTERM);
  g_subprocess_wait (vireod, NULL, NULL);
  g_clear_object (&vireod);
  g_dbus_connection_close_sync (connection, NULL, NULL);
  g_clear_object (&connection);
  /* Stopped, not brought down: GTK's own bus singleton lives until the process ends, and bringing the bus
   * down would wait for it. */
  g_test_dbus_stop (bus);
  vireo_test_remove_tree (base);
  return status;
}
