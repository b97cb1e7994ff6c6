/* test-boot-settings.c — the Boot page of a firmware machine against the real vireod --session on a private
 * bus: it shows the firmware, the drives in their boot order and the boot menu; moving, excluding and
 * including drives reaches the service as the whole disk list renumbered (checked on the test's own
 * connection); and all of it is locked while the machine runs.  Screenshots go to $VIREO_UI_SCREENSHOTS. */
#include <string.h>

#include "ui-fixture.h"
#include "vireo-machine-settings-private.h"

#define WAIT_SECONDS 60

static VireoUiFixture fixture;

static GtkWidget *
part (gpointer window, const char *name)
{
  GObject *object = vireo_machine_settings_get_part (window, name);

  g_assert_nonnull (object);
  return GTK_WIDGET (object);
}

/* A small raw image in the test's folder. */
static char *
make_image (const char *name)
{
  char *path = g_build_filename (fixture.base, name, NULL);
  g_autofree char *zeros = g_malloc0 (1 << 20);

  /* Blank: the firmware finds nothing to boot on it, and says so. */
  g_assert_true (g_file_set_contents (path, zeros, 1 << 20, NULL));
  return path;
}

/* A firmware machine with two disks and (@cdrom) an empty CD-ROM drive, defined through the service: the
 * first disk boots first, the CD-ROM second, the second disk not at all. */
static char *
create_firmware_machine (const char *name, gboolean cdrom)
{
  g_autofree char *system = make_image ("system.img");
  g_autofree char *data = make_image ("data.img");
  g_autoptr (GError) error = NULL;
  g_autoptr (GVariant) reply = NULL;
  GVariantBuilder disks;
  GVariant *settings;
  char *path;

  g_variant_builder_init (&disks, G_VARIANT_TYPE ("aa{sv}"));
  g_variant_builder_add_parsed (&disks, "{'path': <%s>, 'target': <'vda'>, 'boot-order': <uint32 1>}",
                                system);
  g_variant_builder_add_parsed (&disks, "{'path': <%s>, 'target': <'vdb'>, 'boot-order': <uint32 0>}", data);
  if (cdrom)
    g_variant_builder_add_parsed (
        &disks, "{'path': <''>, 'device': <'cdrom'>, 'target': <'sda'>, 'boot-order': <uint32 2>}");
  settings = g_variant_new_parsed (
      "{'name': <%s>, 'memory-mib': <uint64 64>, 'boot': <'disk'>, 'disks': <%@aa{sv}>}", name,
      g_variant_builder_end (&disks));
  reply = g_dbus_connection_call_sync (fixture.connection, "org.vireo.Vireo1", "/org/vireo/Vireo1",
                                       "org.vireo.Vireo1.Manager", "CreateMachine",
                                       g_variant_new_tuple (&settings, 1), G_VARIANT_TYPE ("(o)"),
                                       G_DBUS_CALL_FLAGS_NONE, -1, NULL, &error);
  g_assert_no_error (error);
  g_variant_get (reply, "(o)", &path);
  g_assert_true (vireo_ui_wait_for_listed (&fixture, path, WAIT_SECONDS));
  return path;
}

/* "vda=1 vdb=0 sda=2": each drive's boot order, in the definition's order. */
static char *
service_boot_orders (const char *path)
{
  g_autoptr (GVariant) settings = vireo_ui_machine_settings (&fixture, path);
  g_autoptr (GVariant) disks = g_variant_lookup_value (settings, "disks", G_VARIANT_TYPE ("aa{sv}"));
  GString *text = g_string_new (NULL);

  for (gsize i = 0; disks && i < g_variant_n_children (disks); i++)
    {
      g_autoptr (GVariant) disk = g_variant_get_child_value (disks, i);
      const char *target = "?";
      guint32 order = 0;

      g_variant_lookup (disk, "target", "&s", &target);
      g_variant_lookup (disk, "boot-order", "u", &order);
      g_string_append_printf (text, "%s%s=%u", text->len ? " " : "", target, order);
    }
  return g_string_free (text, FALSE);
}

typedef struct
{
  const char *path;
  const char *expected;
} OrderQuery;

static gboolean
boot_orders_are (gpointer data)
{
  OrderQuery *query = data;
  g_autofree char *orders = service_boot_orders (query->path);

  return g_str_equal (orders, query->expected);
}

static void
assert_boot_orders (const char *path, const char *expected)
{
  OrderQuery query = { path, expected };

  if (!vireo_ui_wait (boot_orders_are, &query, WAIT_SECONDS))
    {
      g_autofree char *orders = service_boot_orders (path);
      g_error ("the service's boot orders are “%s”, not “%s”", orders, expected);
    }
  /* The app's proxy follows; the page is made again from it. */
  vireo_ui_spin (200);
}

/* The rows of the Boot Order group as shown, top to bottom: the drive rows (not the "no drives" row). */
static GPtrArray *
order_rows (gpointer window)
{
  GPtrArray *rows = g_ptr_array_new ();
  GtkWidget *group = part (window, "order_group");
  GtkWidget *stack[64];
  guint depth = 0;

  /* Depth first, in order: the rows are inside the group's list. */
  stack[depth++] = group;
  while (depth > 0)
    {
      GtkWidget *widget = stack[--depth];
      GtkWidget *children[64];
      guint n = 0;

      if (ADW_IS_ACTION_ROW (widget) && g_object_get_data (G_OBJECT (widget), "target") != NULL)
        {
          g_ptr_array_add (rows, widget);
          continue;
        }
      for (GtkWidget *child = gtk_widget_get_first_child (widget); child && n < 64;
           child = gtk_widget_get_next_sibling (child))
        children[n++] = child;
      while (n > 0 && depth < 64)
        stack[depth++] = children[--n];
    }
  return rows;
}

/* "sda vda vdb*": the drives as the page shows them, top to bottom; '*' marks one that does not boot. */
static char *
shown_order (gpointer window)
{
  g_autoptr (GPtrArray) rows = order_rows (window);
  GString *text = g_string_new (NULL);

  for (guint i = 0; i < rows->len; i++)
    {
      GtkWidget *row = g_ptr_array_index (rows, i);
      GtkWidget *check = adw_action_row_get_activatable_widget (ADW_ACTION_ROW (row));

      g_assert_true (GTK_IS_CHECK_BUTTON (check));
      g_string_append_printf (text, "%s%s%s", i ? " " : "",
                              (char *) g_object_get_data (G_OBJECT (row), "target"),
                              gtk_check_button_get_active (GTK_CHECK_BUTTON (check)) ? "" : "*");
    }
  return g_string_free (text, FALSE);
}

static GtkWidget *
row_for (gpointer window, const char *target)
{
  g_autoptr (GPtrArray) rows = order_rows (window);

  for (guint i = 0; i < rows->len; i++)
    if (g_str_equal (g_object_get_data (G_OBJECT (g_ptr_array_index (rows, i)), "target"), target))
      return g_ptr_array_index (rows, i);
  g_error ("no row for the drive %s", target);
  return NULL;
}

/* The row's button with @icon ("go-up-symbolic"), as a user finds it. */
static GtkWidget *
row_button (GtkWidget *widget, const char *icon)
{
  if (GTK_IS_BUTTON (widget) && g_strcmp0 (gtk_button_get_icon_name (GTK_BUTTON (widget)), icon) == 0)
    return widget;
  for (GtkWidget *child = gtk_widget_get_first_child (widget); child;
       child = gtk_widget_get_next_sibling (child))
    {
      GtkWidget *found = row_button (child, icon);
      if (found)
        return found;
    }
  return NULL;
}

/* Checks or clears the drive's "start from this drive" box, as a click on its row does. */
static void
include_drive (gpointer window, const char *target, gboolean include)
{
  GtkWidget *check = adw_action_row_get_activatable_widget (ADW_ACTION_ROW (row_for (window, target)));

  gtk_check_button_set_active (GTK_CHECK_BUTTON (check), include);
}

static VireoMachineSettings *
open_boot_page (VireoDBusMachine *machine)
{
  VireoMachineSettings *window = vireo_machine_settings_new (GTK_WINDOW (fixture.window), fixture.host,
                                                             machine);

  gtk_window_present (GTK_WINDOW (window));
  adw_preferences_window_set_visible_page_name (ADW_PREFERENCES_WINDOW (window), "boot");
  gtk_test_widget_wait_for_draw (GTK_WIDGET (window));
  return window;
}

static void
screenshot (gpointer window, const char *name)
{
  g_autofree char *file = g_strconcat ("vireo-boot-settings-", name, NULL);

  gtk_test_widget_wait_for_draw (GTK_WIDGET (window));
  vireo_ui_spin (100);
  g_object_unref (vireo_ui_render (GTK_WIDGET (window), file));
}

static void
assert_shown (gpointer window, const char *expected)
{
  g_autofree char *shown = shown_order (window);

  g_assert_cmpstr (shown, ==, expected);
}

static gboolean
pointer_cleared (gpointer data)
{
  return *(gpointer *) data == NULL;
}

static gboolean
message_shown (gpointer data)
{
  return gtk_widget_get_visible (data);
}

static gboolean
boot_menu_is (gpointer data)
{
  const char *path = data;
  g_autoptr (GVariant) settings = vireo_ui_machine_settings (&fixture, path);
  gboolean menu = FALSE;

  g_variant_lookup (settings, "boot-menu", "b", &menu);
  return menu;
}

static gboolean
boot_menu_is_not (gpointer data)
{
  return !boot_menu_is (data);
}

/* The page shows the firmware, the drives in the definition's boot order, and the menu; each change the user
 * makes reaches the service, the other keys of each disk untouched. */
static void
test_order (void)
{
  g_autofree char *path = create_firmware_machine ("Firmware", TRUE);
  VireoDBusMachine *machine = vireo_host_find_machine (fixture.host, path);
  VireoMachineSettings *window = open_boot_page (machine);
  g_autoptr (GVariant) before = NULL;
  g_autoptr (GVariant) after = NULL;
  g_autoptr (GVariant) old_disks = NULL;
  g_autoptr (GVariant) new_disks = NULL;
  GtkWidget *row;

  g_object_add_weak_pointer (G_OBJECT (window), (gpointer *) &window);
  g_assert_true (gtk_widget_get_visible (part (window, "firmware_group")));
  g_assert_true (gtk_widget_get_visible (part (window, "order_group")));
  g_assert_false (gtk_widget_get_visible (part (window, "kernel_group")));
  g_assert_false (gtk_widget_get_visible (part (window, "no_drives_row")));
  g_assert_cmpstr (adw_preferences_row_get_title (ADW_PREFERENCES_ROW (part (window, "firmware_row"))), ==,
                   "BIOS (SeaBIOS)");
  g_assert_nonnull (
      strstr (adw_action_row_get_subtitle (ADW_ACTION_ROW (part (window, "firmware_row"))), "UEFI"));
  g_assert_cmpstr (adw_action_row_get_subtitle (ADW_ACTION_ROW (part (window, "boot_menu_row"))), ==,
                   "Press Esc at start to choose a device");
  g_assert_false (gtk_switch_get_active (GTK_SWITCH (part (window, "boot_menu_switch"))));

  /* The definition's order: vda, then the CD-ROM, then vdb, which does not boot. */
  assert_shown (window, "vda sda vdb*");
  row = row_for (window, "sda");
  g_assert_cmpstr (adw_preferences_row_get_title (ADW_PREFERENCES_ROW (row)), ==, "Empty drive");
  g_assert_nonnull (strstr (adw_action_row_get_subtitle (ADW_ACTION_ROW (row)), "CD-ROM"));
  g_assert_cmpstr (adw_preferences_row_get_title (ADW_PREFERENCES_ROW (row_for (window, "vda"))), ==,
                   "system.img");
  /* At the ends, nowhere to go; a drive that does not boot has no place to move to. */
  g_assert_false (gtk_widget_get_sensitive (row_button (row_for (window, "vda"), "go-up-symbolic")));
  g_assert_false (gtk_widget_get_sensitive (row_button (row_for (window, "sda"), "go-down-symbolic")));
  g_assert_false (gtk_widget_is_visible (row_button (row_for (window, "vdb"), "go-up-symbolic")));
  screenshot (window, "shown");

  /* The CD-ROM up: it boots first; the disk list keeps its order and everything else. */
  before = vireo_ui_machine_settings (&fixture, path);
  gtk_widget_activate (row_button (row_for (window, "sda"), "go-up-symbolic"));
  assert_boot_orders (path, "vda=2 vdb=0 sda=1");
  assert_shown (window, "sda vda vdb*");
  /* The keyboard focus stayed with the moved drive, whose up button is now at the top: on its other one. */
  g_assert_true (gtk_widget_has_focus (row_button (row_for (window, "sda"), "go-down-symbolic")));
  after = vireo_ui_machine_settings (&fixture, path);
  old_disks = g_variant_lookup_value (before, "disks", G_VARIANT_TYPE ("aa{sv}"));
  new_disks = g_variant_lookup_value (after, "disks", G_VARIANT_TYPE ("aa{sv}"));
  g_assert_cmpuint (g_variant_n_children (new_disks), ==, 3);
  for (guint i = 0; i < 3; i++)
    {
      g_autoptr (GVariant) old_disk = g_variant_get_child_value (old_disks, i);
      g_autoptr (GVariant) new_disk = g_variant_get_child_value (new_disks, i);
      GVariantDict old_dict, new_dict;

      g_variant_dict_init (&old_dict, old_disk);
      g_variant_dict_init (&new_dict, new_disk);
      g_variant_dict_remove (&old_dict, "boot-order");
      g_variant_dict_remove (&new_dict, "boot-order");
      g_assert_true (g_variant_equal (g_variant_dict_end (&old_dict), g_variant_dict_end (&new_dict)));
    }
  screenshot (window, "moved");

  /* Down again with the same button pair. */
  gtk_widget_activate (row_button (row_for (window, "sda"), "go-down-symbolic"));
  assert_boot_orders (path, "vda=1 vdb=0 sda=2");
  assert_shown (window, "vda sda vdb*");
  gtk_widget_activate (row_button (row_for (window, "sda"), "go-up-symbolic"));
  assert_boot_orders (path, "vda=2 vdb=0 sda=1");

  /* Excluded: boot order 0, the rest renumbered. */
  include_drive (window, "vda", FALSE);
  assert_boot_orders (path, "vda=0 vdb=0 sda=1");
  assert_shown (window, "sda vda* vdb*");
  /* Included: it boots last. */
  include_drive (window, "vdb", TRUE);
  assert_boot_orders (path, "vda=0 vdb=2 sda=1");
  assert_shown (window, "sda vdb vda*");
  screenshot (window, "excluded");

  /* Dragged: vdb's row dropped on the CD-ROM's row takes its place. */
  {
    GValue dragged = G_VALUE_INIT;
    gboolean dropped = FALSE;
    GtkWidget *stranger = adw_action_row_new ();

    g_object_ref_sink (stranger);
    g_value_init (&dragged, ADW_TYPE_ACTION_ROW);
    /* A row from elsewhere (another machine's window) is not taken. */
    g_value_set_object (&dragged, stranger);
    g_signal_emit_by_name (g_object_get_data (G_OBJECT (row_for (window, "sda")), "drop-target"), "drop",
                           &dragged, 10.0, 10.0, &dropped);
    g_assert_false (dropped);
    g_value_set_object (&dragged, row_for (window, "vdb"));
    g_signal_emit_by_name (g_object_get_data (G_OBJECT (row_for (window, "sda")), "drop-target"), "drop",
                           &dragged, 10.0, 10.0, &dropped);
    g_value_unset (&dragged);
    g_object_unref (stranger);
    g_assert_true (dropped);
    assert_boot_orders (path, "vda=0 vdb=1 sda=2");
    assert_shown (window, "vdb sda vda*");
    /* A drive that does not boot takes no drop: it has no place in the order. */
    g_assert_null (g_object_get_data (G_OBJECT (row_for (window, "vda")), "drop-target"));
  }

  /* The boot menu, both ways. */
  gtk_switch_set_active (GTK_SWITCH (part (window, "boot_menu_switch")), TRUE);
  g_assert_true (vireo_ui_wait (boot_menu_is, path, WAIT_SECONDS));
  gtk_switch_set_active (GTK_SWITCH (part (window, "boot_menu_switch")), FALSE);
  g_assert_true (vireo_ui_wait (boot_menu_is_not, path, WAIT_SECONDS));
  /* Changed elsewhere: the page follows. */
  {
    g_autoptr (GError) error = NULL;

    g_assert_true (vireo_dbus_machine_call_update_sync (
        machine, g_variant_new_parsed ("{'boot-menu': <true>}"), G_DBUS_CALL_FLAGS_NONE, -1, NULL, &error));
    g_assert_no_error (error);
    vireo_ui_spin (300);
    g_assert_true (gtk_switch_get_active (GTK_SWITCH (part (window, "boot_menu_switch"))));
  }

  gtk_window_close (GTK_WINDOW (window));
  g_assert_true (vireo_ui_wait (pointer_cleared, &window, WAIT_SECONDS));
}

/* A machine that boots a kernel keeps its page as it was: the kernel's files, no firmware, no boot order. */
static void
test_kernel_machine (void)
{
  g_autofree char *path = vireo_ui_create_machine (&fixture, "Kernel", "hello", FALSE);
  VireoMachineSettings *window;

  g_assert_true (vireo_ui_wait_for_listed (&fixture, path, WAIT_SECONDS));
  window = open_boot_page (vireo_host_find_machine (fixture.host, path));
  g_assert_true (gtk_widget_get_visible (part (window, "kernel_group")));
  g_assert_false (gtk_widget_get_visible (part (window, "firmware_group")));
  g_assert_false (gtk_widget_get_visible (part (window, "order_group")));
  screenshot (window, "kernel");
  gtk_window_destroy (GTK_WINDOW (window));
}

/* While the machine runs, the firmware settings are insensitive and say why; a change sent just before the
 * app learnt that the machine started is refused by the service, and the page says so and shows the order
 * in effect. */
static void
test_locked_while_running (void)
{
  g_autofree char *path = create_firmware_machine ("Running", TRUE);
  VireoDBusMachine *machine = vireo_host_find_machine (fixture.host, path);
  VireoMachineSettings *window = open_boot_page (machine);
  g_autoptr (GError) error = NULL;
  g_autoptr (GVariant) reply = NULL;
  GtkWidget *message = part (window, "order_message");

  assert_shown (window, "vda sda vdb*");
  g_assert_true (gtk_widget_get_sensitive (row_for (window, "vda")));
  /* Started on the test's own connection: the app hears of it only when its main loop runs again. */
  reply = g_dbus_connection_call_sync (fixture.connection, "org.vireo.Vireo1", path,
                                       "org.vireo.Vireo1.Machine", "Start", NULL, NULL,
                                       G_DBUS_CALL_FLAGS_NONE, -1, NULL, &error);
  if (reply == NULL)
    {
      g_test_skip_printf ("a firmware machine cannot start here: %s", error->message);
      gtk_window_destroy (GTK_WINDOW (window));
      return;
    }
  include_drive (window, "vdb", TRUE);
  g_assert_true (vireo_ui_wait (message_shown, message, WAIT_SECONDS));
  g_assert_nonnull (strstr (gtk_label_get_text (GTK_LABEL (message)), "Not changed"));
  g_assert_nonnull (strstr (gtk_label_get_text (GTK_LABEL (message)), "turn it off"));
  {
    g_autofree char *orders = service_boot_orders (path);
    g_assert_cmpstr (orders, ==, "vda=1 vdb=0 sda=2");
  }

  g_assert_true (vireo_ui_wait_for_state (&fixture, path, "running", WAIT_SECONDS));
  vireo_ui_spin (500);
  {
    g_autofree char *state = vireo_ui_machine_state (&fixture, path);
    g_assert_cmpstr (state, ==, "running");
  }
  assert_shown (window, "vda sda vdb*");
  g_assert_false (gtk_widget_get_sensitive (row_for (window, "vda")));
  g_assert_false (gtk_widget_get_sensitive (row_for (window, "vdb")));
  g_assert_false (gtk_widget_get_sensitive (part (window, "boot_menu_row")));
  g_assert_false (gtk_widget_get_sensitive (part (window, "boot_row")));
  g_assert_cmpstr (
      adw_preferences_group_get_description (ADW_PREFERENCES_GROUP (part (window, "order_group"))), ==,
      "Turn the machine off to change the boot order.");
  g_assert_cmpstr (adw_action_row_get_subtitle (ADW_ACTION_ROW (part (window, "boot_menu_row"))), ==,
                   "Turn the machine off to change this");
  screenshot (window, "running");

  vireo_ui_machine_call (&fixture, path, "TurnOff");
  g_assert_true (vireo_ui_wait_for_state (&fixture, path, "off", WAIT_SECONDS));
  vireo_ui_spin (200);
  g_assert_true (gtk_widget_get_sensitive (row_for (window, "vda")));
  g_assert_true (gtk_widget_get_sensitive (part (window, "boot_menu_row")));
  include_drive (window, "vdb", TRUE);
  assert_boot_orders (path, "vda=1 vdb=3 sda=2");
  g_assert_false (gtk_widget_get_visible (message));
  gtk_window_destroy (GTK_WINDOW (window));
}

int
main (int argc, char **argv)
{
  int status;

  if (!vireo_ui_init (&fixture, &argc, &argv))
    return 0;
  g_object_set (gtk_settings_get_default (), "gtk-enable-animations", FALSE, NULL);

  g_test_add_func ("/boot-settings/order", test_order);
  g_test_add_func ("/boot-settings/kernel-machine", test_kernel_machine);
  /* Running a machine needs /dev/kvm; without it the test says so and is skipped. */
  if (vireo_test_require_kvm ())
    g_test_add_func ("/boot-settings/locked-while-running", test_locked_while_running);
  status = g_test_run ();
  vireo_ui_cleanup (&fixture);
  return status;
}
