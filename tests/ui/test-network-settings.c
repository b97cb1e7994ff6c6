/* test-network-settings.c — the networking parts of the app against the real vireod --session on a private
 * bus: the settings window's Network page (an adapter shown, one added and removed, its MAC edited and a wrong
 * one refused with a message, its cable unplugged, a port forward added and removed, each reaching the
 * service's Settings as checked on the test's own connection, and locked but for the cable while the machine
 * runs), the Virtual Switch Manager (the session service's Default Switch, which cannot be deleted, and why
 * there are no others), and the details pane's guest address.  Screenshots go to $VIREO_UI_SCREENSHOTS. */
#include <string.h>

#include "ui-fixture.h"
#include "vireo-checks.h"
#include "vireo-format.h"
#include "vireo-machine-details.h"
#include "vireo-machine-settings-private.h"
#include "vireo-settings-network.h"
#include "vireo-switch-manager.h"

#define WAIT_SECONDS 60

static VireoUiFixture fixture;

static void
pump (void)
{
  while (g_main_context_pending (NULL))
    g_main_context_iteration (NULL, FALSE);
}

static GVariant *
service_nics (const char *path)
{
  g_autoptr (GVariant) settings = vireo_ui_machine_settings (&fixture, path);
  GVariant *nics = g_variant_lookup_value (settings, "nics", G_VARIANT_TYPE ("aa{sv}"));

  g_assert_nonnull (nics);
  return nics;
}

typedef gboolean (*NicsCheck) (GVariant *nics, gconstpointer data);

typedef struct
{
  const char *path;
  NicsCheck check;
  gconstpointer data;
} NicsQuery;

static gboolean
nics_match (gpointer data)
{
  NicsQuery *query = data;
  g_autoptr (GVariant) nics = service_nics (query->path);

  return query->check (nics, query->data);
}

/* Whether the app's proxy has the service's "nics": then the page has shown them, and what the test does next
 * is not undone by a rebuild still on its way. */
static gboolean
app_caught_up (gpointer data)
{
  const char *path = data;
  VireoDBusMachine *machine = vireo_host_find_machine (fixture.host, path);
  GVariant *settings = machine ? vireo_dbus_machine_get_settings (machine) : NULL;
  g_autoptr (GVariant) shown = settings ? g_variant_lookup_value (settings, "nics", NULL) : NULL;
  g_autoptr (GVariant) nics = service_nics (path);

  return shown != NULL && g_variant_equal (shown, nics);
}

/* Waits until the service's "nics" pass @check, and the app has them. */
static void
assert_nics (const char *path, NicsCheck check, gconstpointer data)
{
  NicsQuery query = { path, check, data };

  if (!vireo_ui_wait (nics_match, &query, WAIT_SECONDS))
    {
      g_autoptr (GVariant) nics = service_nics (path);
      g_autofree char *text = g_variant_print (nics, TRUE);
      g_error ("the service's nics never became what was expected: %s", text);
    }
  g_assert_true (vireo_ui_wait (app_caught_up, (gpointer) path, WAIT_SECONDS));
  pump ();
}

static gboolean
count_is (GVariant *nics, gconstpointer data)
{
  return g_variant_n_children (nics) == GPOINTER_TO_UINT (data);
}

static char *
nic_string (GVariant *nics, guint index, const char *key)
{
  g_autoptr (GVariant) nic = g_variant_get_child_value (nics, index);
  char *value = NULL;

  g_variant_lookup (nic, key, "s", &value);
  return value;
}

static gboolean
first_mac_is (GVariant *nics, gconstpointer data)
{
  g_autofree char *mac = g_variant_n_children (nics) > 0 ? nic_string (nics, 0, "mac") : NULL;

  return g_strcmp0 (mac, data) == 0;
}

static gboolean
first_disconnected (GVariant *nics, gconstpointer data)
{
  g_autoptr (GVariant) nic = g_variant_n_children (nics) > 0 ? g_variant_get_child_value (nics, 0) : NULL;
  gboolean connected = TRUE;

  return nic != NULL && g_variant_lookup (nic, "connected", "b", &connected)
         && connected == GPOINTER_TO_INT (data);
}

static gboolean
first_forwards_are (GVariant *nics, gconstpointer data)
{
  g_autoptr (GVariant) nic = g_variant_n_children (nics) > 0 ? g_variant_get_child_value (nics, 0) : NULL;
  g_autoptr (GVariant) forwards = nic ? g_variant_lookup_value (nic, "forwards", G_VARIANT_TYPE ("a(ssqq)"))
                                      : NULL;
  g_autofree char *text = NULL;

  if (nic == NULL)
    return FALSE;
  text = forwards ? g_variant_print (forwards, FALSE) : g_strdup ("[]");
  /* An empty list may be printed with its type. */
  if (g_str_equal (data, "[]"))
    return forwards == NULL || g_variant_n_children (forwards) == 0;
  return g_str_equal (text, data);
}

/* A machine defined through the service with one adapter on the Default Switch, as the app lists it. */
static VireoDBusMachine *
create_machine (const char *name, const char *guest, char **path_out)
{
  char *path = vireo_ui_create_machine (&fixture, name, guest, FALSE);
  g_autoptr (GError) error = NULL;
  g_autoptr (GVariant) reply = NULL;
  GVariantDict nic, update;
  GVariantBuilder nics;

  g_variant_dict_init (&nic, NULL);
  g_variant_dict_insert (&nic, "switch", "s", "Default Switch");
  g_variant_builder_init (&nics, G_VARIANT_TYPE ("aa{sv}"));
  g_variant_builder_add_value (&nics, g_variant_dict_end (&nic));
  g_variant_dict_init (&update, NULL);
  g_variant_dict_insert_value (&update, "nics", g_variant_builder_end (&nics));
  reply = g_dbus_connection_call_sync (fixture.connection, "org.vireo.Vireo1", path,
                                       "org.vireo.Vireo1.Machine", "Update",
                                       g_variant_new ("(@a{sv})", g_variant_dict_end (&update)), NULL,
                                       G_DBUS_CALL_FLAGS_NONE, -1, NULL, &error);
  g_assert_no_error (error);
  g_assert_true (vireo_ui_wait_for_listed (&fixture, path, WAIT_SECONDS));
  assert_nics (path, count_is, GUINT_TO_POINTER (1));
  *path_out = path;
  return vireo_host_find_machine (fixture.host, path);
}

static VireoMachineSettings *
open_settings (VireoDBusMachine *machine)
{
  VireoMachineSettings *window = vireo_machine_settings_new (GTK_WINDOW (fixture.window), fixture.host,
                                                             machine);

  gtk_window_present (GTK_WINDOW (window));
  gtk_test_widget_wait_for_draw (GTK_WIDGET (window));
  adw_preferences_window_set_visible_page_name (ADW_PREFERENCES_WINDOW (window), "network");
  return window;
}

static void
screenshot (GtkWidget *window, const char *name)
{
  gtk_test_widget_wait_for_draw (window);
  vireo_ui_spin (200);
  g_object_unref (vireo_ui_render (window, name));
}

static VireoSettingsNetwork *
network_page (VireoMachineSettings *window)
{
  return VIREO_SETTINGS_NETWORK (vireo_machine_settings_get_network_page (window));
}

static GtkWidget *
nic_part (VireoMachineSettings *window, guint nic, const char *name)
{
  GtkWidget *widget = vireo_settings_network_get_part (network_page (window), nic, name);

  g_assert_nonnull (widget);
  return widget;
}

typedef struct
{
  VireoMachineSettings *window;
  guint count;
} AdapterQuery;

static gboolean
adapters_shown (gpointer data)
{
  AdapterQuery *query = data;

  return vireo_settings_network_get_n_adapters (network_page (query->window)) == query->count;
}

static void
assert_adapters_shown (VireoMachineSettings *window, guint count)
{
  AdapterQuery query = { window, count };

  g_assert_true (vireo_ui_wait (adapters_shown, &query, WAIT_SECONDS));
  pump ();
}

static void
activate (VireoMachineSettings *window, const char *action, GVariant *target)
{
  g_assert_true (gtk_widget_activate_action_variant (GTK_WIDGET (network_page (window)), action, target));
  pump ();
}

static void
type_mac (VireoMachineSettings *window, guint nic, const char *text)
{
  gtk_editable_set_text (GTK_EDITABLE (nic_part (window, nic, "mac")), text);
  pump ();
}

static const char *
mac_message (VireoMachineSettings *window, guint nic)
{
  GtkWidget *label = nic_part (window, nic, "mac-message");

  return gtk_widget_get_visible (label) ? gtk_label_get_text (GTK_LABEL (label)) : NULL;
}

static gboolean
dialog_open (gpointer data)
{
  return vireo_settings_network_get_dialog (network_page (data)) != NULL;
}

/* The page shows the machine's adapter as the service has it, and what the user does reaches the service. */
static void
test_network_page (void)
{
  g_autofree char *path = NULL;
  VireoDBusMachine *machine = create_machine ("Networked", "hello", &path);
  VireoMachineSettings *window = open_settings (machine);
  g_autoptr (GVariant) nics = service_nics (path);
  g_autofree char *mac = nic_string (nics, 0, "mac");
  g_autofree char *generated = NULL;
  AdwComboRow *switch_row;
  AdwMessageDialog *dialog;
  GtkWidget *message;

  /* Shown as the service has it: its generated MAC, the cable in, the Default Switch, no forwards. */
  assert_adapters_shown (window, 1);
  g_assert_nonnull (mac);
  g_assert_null (vireo_check_mac (mac));
  g_assert_cmpstr (gtk_editable_get_text (GTK_EDITABLE (nic_part (window, 0, "mac"))), ==, mac);
  g_assert_true (gtk_switch_get_active (GTK_SWITCH (nic_part (window, 0, "connected"))));
  switch_row = ADW_COMBO_ROW (nic_part (window, 0, "switch"));
  g_assert_cmpstr (
      gtk_string_object_get_string (GTK_STRING_OBJECT (adw_combo_row_get_selected_item (switch_row))), ==,
      "Default Switch");
  /* The Default Switch is NAT: port forwards are offered. */
  g_assert_true (gtk_widget_get_visible (nic_part (window, 0, "forwards")));
  g_assert_null (vireo_settings_network_get_part (network_page (window), 0, "forward-0"));
  g_assert_false (
      gtk_widget_get_mapped (GTK_WIDGET (vireo_machine_settings_get_part (window, "no_adapters_row"))));

  /* A wrong MAC is said as it is typed and never sent. */
  type_mac (window, 0, "52:54:00:zz:00:01");
  g_assert_nonnull (mac_message (window, 0));
  g_assert_nonnull (strstr (mac_message (window, 0), "hexadecimal"));
  g_assert_true (gtk_widget_has_css_class (nic_part (window, 0, "mac"), "error"));
  g_signal_emit_by_name (nic_part (window, 0, "mac"), "apply");
  pump ();
  screenshot (GTK_WIDGET (window), "vireo-machine-settings-network-bad-mac");
  type_mac (window, 0, "01:00:5e:00:00:01");
  g_assert_nonnull (strstr (mac_message (window, 0), "multicast"));
  g_signal_emit_by_name (nic_part (window, 0, "mac"), "apply");
  vireo_ui_spin (1000);
  assert_nics (path, first_mac_is, mac);
  /* A right one, in capitals, is stored as the service spells it. */
  type_mac (window, 0, "52:54:00:AB:CD:EF");
  g_assert_null (mac_message (window, 0));
  g_signal_emit_by_name (nic_part (window, 0, "mac"), "apply");
  assert_nics (path, first_mac_is, "52:54:00:ab:cd:ef");
  assert_adapters_shown (window, 1);
  g_assert_cmpstr (gtk_editable_get_text (GTK_EDITABLE (nic_part (window, 0, "mac"))), ==,
                   "52:54:00:ab:cd:ef");

  /* Add Network Adapter: a second one, on the Default Switch, with an address of its own. */
  activate (window, "network.add", NULL);
  assert_nics (path, count_is, GUINT_TO_POINTER (2));
  assert_adapters_shown (window, 2);
  g_clear_pointer (&nics, g_variant_unref);
  nics = service_nics (path);
  {
    g_autofree char *second = nic_string (nics, 1, "mac");
    g_assert_nonnull (second);
    g_assert_cmpstr (second, !=, "52:54:00:ab:cd:ef");
  }
  /* The first adapter's address is not the second's. */
  type_mac (window, 1, "52:54:00:ab:cd:ef");
  g_assert_nonnull (strstr (mac_message (window, 1), "already"));
  /* Generate: a new valid address, sent at once. */
  activate (window, "network.generate-mac", g_variant_new_uint32 (0));
  vireo_ui_spin (500);
  g_clear_pointer (&nics, g_variant_unref);
  nics = service_nics (path);
  generated = nic_string (nics, 0, "mac");
  g_assert_cmpstr (generated, !=, "52:54:00:ab:cd:ef");
  g_assert_true (g_str_has_prefix (generated, "52:54:00:"));
  g_assert_null (vireo_check_mac (generated));

  /* The cable. */
  gtk_switch_set_active (GTK_SWITCH (nic_part (window, 0, "connected")), FALSE);
  assert_nics (path, first_disconnected, GINT_TO_POINTER (FALSE));
  assert_adapters_shown (window, 2);
  vireo_ui_spin (300);
  g_assert_false (gtk_switch_get_active (GTK_SWITCH (nic_part (window, 0, "connected"))));
  gtk_switch_set_active (GTK_SWITCH (nic_part (window, 0, "connected")), TRUE);
  assert_nics (path, first_disconnected, GINT_TO_POINTER (TRUE));

  /* A port forward: a wrong address is said in the dialog and cannot be added. */
  activate (window, "network.add-forward", g_variant_new_uint32 (0));
  g_assert_true (vireo_ui_wait (dialog_open, window, WAIT_SECONDS));
  dialog = vireo_settings_network_get_dialog (network_page (window));
  message = g_object_get_data (G_OBJECT (dialog), "message");
  gtk_editable_set_text (g_object_get_data (G_OBJECT (dialog), "address"), "300.1.2.3");
  pump ();
  g_assert_true (gtk_widget_get_visible (message));
  g_assert_nonnull (strstr (gtk_label_get_text (GTK_LABEL (message)), "IPv4"));
  g_assert_false (adw_message_dialog_get_response_enabled (dialog, "add"));
  gtk_editable_set_text (g_object_get_data (G_OBJECT (dialog), "address"), "127.0.0.1");
  gtk_drop_down_set_selected (g_object_get_data (G_OBJECT (dialog), "protocol"), 1);
  gtk_spin_button_set_value (g_object_get_data (G_OBJECT (dialog), "host-port"), 5555);
  gtk_spin_button_set_value (g_object_get_data (G_OBJECT (dialog), "guest-port"), 7);
  pump ();
  g_assert_false (gtk_widget_get_visible (message));
  g_assert_true (adw_message_dialog_get_response_enabled (dialog, "add"));
  screenshot (GTK_WIDGET (dialog), "vireo-network-add-forward");
  adw_message_dialog_response (dialog, "add");
  /* 127.0.0.1 is stored as the service's default, "". */
  assert_nics (path, first_forwards_are, "[('udp', '', 5555, 7)]");
  assert_adapters_shown (window, 2);
  g_assert_true (vireo_ui_wait_for_label (GTK_WIDGET (window), "UDP port 5555 → guest port 7", WAIT_SECONDS));
  g_assert_nonnull (vireo_settings_network_get_part (network_page (window), 0, "forward-0"));

  screenshot (GTK_WIDGET (window), "vireo-machine-settings-network");

  activate (window, "network.remove-forward", g_variant_new ("(uu)", 0, 0));
  assert_nics (path, first_forwards_are, "[]");

  /* Remove: the second adapter goes. */
  activate (window, "network.remove", g_variant_new_uint32 (1));
  assert_nics (path, count_is, GUINT_TO_POINTER (1));
  assert_adapters_shown (window, 1);

  gtk_window_destroy (GTK_WINDOW (window));
}

/* A machine with no adapter says so; Add gives it one. */
static void
test_no_adapters (void)
{
  g_autofree char *path = vireo_ui_create_machine (&fixture, "Unnetworked", "hello", FALSE);
  VireoDBusMachine *machine;
  VireoMachineSettings *window;
  g_autoptr (GError) error = NULL;
  g_autoptr (GVariant) reply = NULL;

  reply = g_dbus_connection_call_sync (
      fixture.connection, "org.vireo.Vireo1", path, "org.vireo.Vireo1.Machine", "Update",
      g_variant_new_parsed ("({'network': <'none'>},)"), NULL, G_DBUS_CALL_FLAGS_NONE, -1, NULL, &error);
  g_assert_no_error (error);
  assert_nics (path, count_is, GUINT_TO_POINTER (0));
  g_assert_true (vireo_ui_wait_for_listed (&fixture, path, WAIT_SECONDS));
  machine = vireo_host_find_machine (fixture.host, path);
  window = open_settings (machine);
  assert_adapters_shown (window, 0);
  g_assert_true (
      gtk_widget_get_mapped (GTK_WIDGET (vireo_machine_settings_get_part (window, "no_adapters_row"))));
  screenshot (GTK_WIDGET (window), "vireo-machine-settings-network-none");
  activate (window, "network.add", NULL);
  assert_nics (path, count_is, GUINT_TO_POINTER (1));
  assert_adapters_shown (window, 1);
  g_assert_false (
      gtk_widget_get_mapped (GTK_WIDGET (vireo_machine_settings_get_part (window, "no_adapters_row"))));
  gtk_window_destroy (GTK_WINDOW (window));
}

static gboolean
page_locked (gpointer window)
{
  return vireo_settings_network_get_n_adapters (network_page (window)) > 0
         && !gtk_widget_get_sensitive (nic_part (window, 0, "mac"));
}

/* While the machine runs only the cable may change: the service applies it at once. */
static void
test_locked_while_running (void)
{
  g_autofree char *path = NULL;
  VireoDBusMachine *machine = create_machine ("Running Net", "echo", &path);
  VireoMachineSettings *window = open_settings (machine);

  vireo_ui_machine_call (&fixture, path, "Start");
  g_assert_true (vireo_ui_wait_for_state (&fixture, path, "running", WAIT_SECONDS));
  assert_adapters_shown (window, 1);
  g_assert_true (vireo_ui_wait (page_locked, window, WAIT_SECONDS));
  g_assert_false (gtk_widget_get_sensitive (nic_part (window, 0, "switch")));
  g_assert_false (gtk_widget_get_sensitive (nic_part (window, 0, "mac")));
  g_assert_false (gtk_widget_get_sensitive (nic_part (window, 0, "remove")));
  g_assert_false (
      gtk_widget_get_sensitive (GTK_WIDGET (vireo_machine_settings_get_part (window, "add_adapter_button"))));
  g_assert_true (gtk_widget_get_sensitive (nic_part (window, 0, "connected")));
  screenshot (GTK_WIDGET (window), "vireo-machine-settings-network-running");

  gtk_switch_set_active (GTK_SWITCH (nic_part (window, 0, "connected")), FALSE);
  assert_nics (path, first_disconnected, GINT_TO_POINTER (FALSE));
  gtk_switch_set_active (GTK_SWITCH (nic_part (window, 0, "connected")), TRUE);
  assert_nics (path, first_disconnected, GINT_TO_POINTER (TRUE));

  /* What the service refuses while running (here a MAC, sent as if the locked row had been used) is said
   * under the adapters, and the page goes back to what is in effect. */
  {
    g_autoptr (GVariant) nics = service_nics (path);
    g_autofree char *mac = nic_string (nics, 0, "mac");
    GtkWidget *message = GTK_WIDGET (vireo_machine_settings_get_part (window, "nics_message"));

    type_mac (window, 0, "52:54:00:01:02:03");
    g_signal_emit_by_name (nic_part (window, 0, "mac"), "apply");
    g_assert_true (vireo_ui_wait_for_label (GTK_WIDGET (window), "Not changed:", WAIT_SECONDS));
    g_assert_true (gtk_widget_get_visible (message));
    pump ();
    g_assert_cmpstr (gtk_editable_get_text (GTK_EDITABLE (nic_part (window, 0, "mac"))), ==, mac);
    assert_nics (path, first_mac_is, mac);
    screenshot (GTK_WIDGET (window), "vireo-machine-settings-network-refused");
  }

  vireo_ui_machine_call (&fixture, path, "TurnOff");
  g_assert_true (vireo_ui_wait_for_state (&fixture, path, "off", WAIT_SECONDS));
  vireo_ui_spin (300);
  g_assert_true (gtk_widget_get_sensitive (nic_part (window, 0, "mac")));
  gtk_window_destroy (GTK_WINDOW (window));
}

static gboolean
switch_listed (gpointer data)
{
  return vireo_switch_manager_get_row (data, 0) != NULL;
}

/* The session service has the Default Switch only: listed, not deletable, and the window says why there
 * are no others. */
static void
test_switch_manager (void)
{
  VireoSwitchManager *window = NULL;
  GtkWidget *row;
  GtkWidget *delete;
  const char *description;

  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (fixture.window), "win.switch-manager", NULL));
  pump ();
  for (GList *l = gtk_window_list_toplevels (); l != NULL; l = g_list_delete_link (l, l))
    if (VIREO_IS_SWITCH_MANAGER (l->data))
      window = l->data;
  g_assert_nonnull (window);
  gtk_test_widget_wait_for_draw (GTK_WIDGET (window));
  g_assert_true (vireo_ui_wait (switch_listed, window, WAIT_SECONDS));
  row = vireo_switch_manager_get_row (window, 0);
  g_assert_cmpstr (adw_preferences_row_get_title (ADW_PREFERENCES_ROW (row)), ==, "Default Switch");
  g_assert_nonnull (strstr (adw_action_row_get_subtitle (ADW_ACTION_ROW (row)), "NAT"));
  g_assert_null (vireo_switch_manager_get_row (window, 1));
  delete = g_object_get_data (G_OBJECT (row), "delete");
  g_assert_false (gtk_widget_get_sensitive (delete));
  description = adw_preferences_group_get_description (
      ADW_PREFERENCES_GROUP (vireo_switch_manager_get_part (window, "switches_group")));
  g_assert_nonnull (strstr (description, "system service"));
  g_assert_false (
      gtk_widget_get_visible (GTK_WIDGET (vireo_switch_manager_get_part (window, "create_group"))));
  screenshot (GTK_WIDGET (window), "vireo-switch-manager");

  /* The service itself refuses other switches here, with its own reason. */
  {
    g_autoptr (GError) error = NULL;
    g_autoptr (GVariant) reply = g_dbus_connection_call_sync (
        fixture.connection, "org.vireo.Vireo1", "/org/vireo/Vireo1", "org.vireo.Vireo1.Manager",
        "CreateSwitch", g_variant_new ("(sss)", "Lab", "private", ""), NULL, G_DBUS_CALL_FLAGS_NONE, -1, NULL,
        &error);
    g_assert_null (reply);
    g_assert_nonnull (error);
    g_assert_nonnull (strstr (error->message, "system service"));
  }
  gtk_window_destroy (GTK_WINDOW (window));
}

/* The details pane shows the guest's addresses from Machine.GuestAddresses when it has any, and follows them:
 * the service learns them from a real guest's DHCP lease, which the ui suite's guests do not take, so a
 * machine object of the test's own stands for it. */
static void
test_details_address (void)
{
  const char *one[] = { "10.0.2.15", NULL };
  const char *two[] = { "10.0.2.15", "192.168.76.20", NULL };
  g_autoptr (VireoDBusMachine) machine = vireo_dbus_machine_skeleton_new ();
  GtkWidget *window = gtk_window_new ();
  VireoMachineDetails *details = g_object_new (VIREO_TYPE_MACHINE_DETAILS, NULL);
  g_autofree char *formatted = NULL;

  g_assert_null (vireo_format_guest_addresses (NULL));
  g_assert_null (vireo_format_guest_addresses ((const char *const[]){ NULL }));
  formatted = vireo_format_guest_addresses (two);
  g_assert_cmpstr (formatted, ==, "10.0.2.15, 192.168.76.20");
  g_assert_cmpstr (vireo_format_address_title (1), ==, "IP address");
  g_assert_cmpstr (vireo_format_address_title (2), ==, "IP addresses");

  vireo_dbus_machine_set_name (machine, "Addressed");
  vireo_dbus_machine_set_state (machine, "running");
  vireo_dbus_machine_set_settings (
      machine, g_variant_new_parsed ("{'nics': <[{'switch': <'Default Switch'>, 'connected': <true>}]>}"));
  gtk_window_set_default_size (GTK_WINDOW (window), 420, 1100);
  gtk_window_set_child (GTK_WINDOW (window), GTK_WIDGET (details));
  vireo_machine_details_set_machine (details, machine);
  gtk_window_present (GTK_WINDOW (window));
  gtk_test_widget_wait_for_draw (window);
  pump ();
  /* No lease yet: no address row. */
  g_assert_null (vireo_ui_find_label (window, "IP address"));
  g_assert_nonnull (vireo_ui_find_label (window, "Default Switch"));

  vireo_dbus_machine_set_guest_addresses (machine, one);
  g_assert_true (vireo_ui_wait_for_label (window, "10.0.2.15", WAIT_SECONDS));
  g_assert_nonnull (vireo_ui_find_label (window, "IP address"));
  vireo_dbus_machine_set_guest_addresses (machine, two);
  g_assert_true (vireo_ui_wait_for_label (window, "10.0.2.15, 192.168.76.20", WAIT_SECONDS));
  g_assert_nonnull (vireo_ui_find_label (window, "IP addresses"));
  screenshot (window, "vireo-details-address");
  vireo_dbus_machine_set_guest_addresses (machine, (const char *const[]){ NULL });
  vireo_ui_spin (200);
  g_assert_null (vireo_ui_find_label (window, "10.0.2.15"));
  vireo_machine_details_set_machine (details, NULL);
  gtk_window_destroy (GTK_WINDOW (window));
}

/* Scrolls the scrolled window around @widget so that @widget is in view (for the screenshot). */
static void
scroll_to (GtkWidget *widget)
{
  GtkWidget *scrolled = gtk_widget_get_ancestor (widget, GTK_TYPE_SCROLLED_WINDOW);
  GtkAdjustment *adjustment;
  graphene_point_t point;

  g_assert_nonnull (scrolled);
  adjustment = gtk_scrolled_window_get_vadjustment (GTK_SCROLLED_WINDOW (scrolled));
  g_assert_true (gtk_widget_compute_point (widget,
                                           gtk_scrolled_window_get_child (GTK_SCROLLED_WINDOW (scrolled)),
                                           &GRAPHENE_POINT_INIT (0, 0), &point));
  gtk_adjustment_set_value (adjustment, point.y - gtk_adjustment_get_page_size (adjustment) / 2);
  vireo_ui_spin (200);
}

/* A real guest's lease: net-probe takes its address from the Default Switch's DHCP server, the service
 * learns it, and the main window's details pane shows it, then forgets it when the machine is off. */
static void
test_details_lease (void)
{
  g_autofree char *path = NULL;
  VireoDBusMachine *machine = create_machine ("Leased", "net-probe", &path);
  GtkWidget *window = GTK_WIDGET (fixture.window);

  g_assert_nonnull (machine);
  g_assert_true (vireo_window_select (fixture.window, VIREO_HOST_SESSION, path));
  vireo_ui_machine_call (&fixture, path, "Start");
  g_assert_true (vireo_ui_wait_for_state (&fixture, path, "running", WAIT_SECONDS));
  g_assert_true (vireo_ui_wait_for_label (window, "10.0.2.15", WAIT_SECONDS));
  g_assert_nonnull (vireo_ui_find_label (window, "IP address"));
  scroll_to (vireo_ui_find_label (window, "10.0.2.15"));
  screenshot (window, "vireo-details-lease");
  vireo_ui_machine_call (&fixture, path, "TurnOff");
  g_assert_true (vireo_ui_wait_for_state (&fixture, path, "off", WAIT_SECONDS));
  vireo_ui_spin (500);
  g_assert_null (vireo_ui_find_label (window, "10.0.2.15"));
}

/* The checks the page's fields use, on the inputs people type. */
static void
test_checks (void)
{
  const char *wrong_macs[] = { "",
                               "52:54:00:12:34",
                               "52-54-00-12-34-56",
                               "52:54:00:12:34:5g",
                               "52:54:00:12:34:56:",
                               "525400123456",
                               "01:00:5e:00:00:01",
                               "00:00:00:00:00:00" };
  const char *wrong_addresses[] = { "::1", "localhost", "127.0.0", "300.0.0.1", "127.0.0.1 " };

  for (guint i = 0; i < G_N_ELEMENTS (wrong_macs); i++)
    {
      g_autofree char *reason = vireo_check_mac (wrong_macs[i]);
      g_assert_nonnull (reason);
    }
  g_assert_null (vireo_check_mac ("52:54:00:AB:cd:EF"));
  g_assert_null (vireo_check_mac ("02:00:00:00:00:01"));
  for (guint i = 0; i < 100; i++)
    {
      g_autofree char *mac = vireo_generate_mac ();
      g_assert_true (g_str_has_prefix (mac, "52:54:00:"));
      g_assert_null (vireo_check_mac (mac));
    }
  for (guint i = 0; i < G_N_ELEMENTS (wrong_addresses); i++)
    {
      g_autofree char *reason = vireo_check_forward_address (wrong_addresses[i]);
      g_assert_nonnull (reason);
    }
  g_assert_null (vireo_check_forward_address (""));
  g_assert_null (vireo_check_forward_address ("127.0.0.1"));
  g_assert_null (vireo_check_forward_address ("0.0.0.0"));
}

int
main (int argc, char **argv)
{
  int status;

  if (!vireo_ui_init (&fixture, &argc, &argv))
    return 0;
  g_object_set (gtk_settings_get_default (), "gtk-enable-animations", FALSE, NULL);

  g_test_add_func ("/network-settings/checks", test_checks);
  g_test_add_func ("/network-settings/page", test_network_page);
  g_test_add_func ("/network-settings/no-adapters", test_no_adapters);
  g_test_add_func ("/network-settings/switch-manager", test_switch_manager);
  g_test_add_func ("/network-settings/details-address", test_details_address);
  /* Running a machine needs /dev/kvm; without it the test says so and is skipped. */
  if (vireo_test_require_kvm ())
    {
      g_test_add_func ("/network-settings/locked-while-running", test_locked_while_running);
      g_test_add_func ("/network-settings/details-lease", test_details_lease);
    }
  status = g_test_run ();
  vireo_ui_cleanup (&fixture);
  return status;
}
