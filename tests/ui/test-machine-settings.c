/* test-machine-settings.c — the settings window against the real vireod --session on a private bus: it shows
 * the machine's Settings, sends what the user changes (and only that), follows changes made elsewhere, shows
 * the service's refusals, and locks the hardware while the machine runs.  Screenshots of every page go to
 * $VIREO_UI_SCREENSHOTS (default /tmp). */
#include <string.h>

#include "ui-fixture.h"
#include "vireo-machine-settings-private.h"

#define WAIT_SECONDS 60

static VireoUiFixture fixture;

static void
pump (void)
{
  while (g_main_context_pending (NULL))
    g_main_context_iteration (NULL, FALSE);
}

static GtkWidget *
part (gpointer window, const char *name)
{
  GObject *object = vireo_machine_settings_get_part (window, name);

  g_assert_nonnull (object);
  return GTK_WIDGET (object);
}

/* A machine defined through the service, as the app lists it. */
static VireoDBusMachine *
create_machine (const char *name, const char *guest, char **path_out)
{
  char *path = vireo_ui_create_machine (&fixture, name, guest, FALSE);

  g_assert_true (vireo_ui_wait_for_listed (&fixture, path, WAIT_SECONDS));
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
  return window;
}

static void
screenshot (gpointer window, const char *page, const char *name)
{
  g_autofree char *file = g_strconcat ("vireo-machine-settings-", name, NULL);

  adw_preferences_window_set_visible_page_name (ADW_PREFERENCES_WINDOW (window), page);
  gtk_test_widget_wait_for_draw (GTK_WIDGET (window));
  vireo_ui_spin (100);
  g_object_unref (vireo_ui_render (GTK_WIDGET (window), file));
}

typedef struct
{
  VireoDBusMachine *machine;
  const char *key;
  GVariant *expected;
} SettingQuery;

static gboolean
setting_is (gpointer data)
{
  SettingQuery *query = data;
  GVariant *settings = vireo_dbus_machine_get_settings (query->machine);
  g_autoptr (GVariant) value = settings ? g_variant_lookup_value (settings, query->key, NULL) : NULL;

  return value && g_variant_equal (value, query->expected);
}

/* Waits until the service reports @key = @expected (a floating GVariant, consumed). */
static void
assert_setting (VireoDBusMachine *machine, const char *key, GVariant *expected)
{
  SettingQuery query = { machine, key, g_variant_ref_sink (expected) };

  if (!vireo_ui_wait (setting_is, &query, WAIT_SECONDS))
    {
      GVariant *settings = vireo_dbus_machine_get_settings (machine);
      g_autofree char *text = settings ? g_variant_print (settings, TRUE) : g_strdup ("(none)");
      g_error ("setting “%s” never became the expected value; settings: %s", key, text);
    }
  g_variant_unref (query.expected);
}

/* The setting keeps @expected for a while: nothing was sent. */
static void
assert_setting_stays (VireoDBusMachine *machine, const char *key, GVariant *expected)
{
  SettingQuery query = { machine, key, g_variant_ref_sink (expected) };

  vireo_ui_spin (1000);
  g_assert_true (setting_is (&query));
  g_variant_unref (query.expected);
}

static gboolean
widget_shows_text (GtkWidget *widget, const char *text)
{
  if (GTK_IS_LABEL (widget) && gtk_widget_is_drawable (widget)
      && strstr (gtk_label_get_text (GTK_LABEL (widget)), text) != NULL)
    return TRUE;
  for (GtkWidget *child = gtk_widget_get_first_child (widget); child;
       child = gtk_widget_get_next_sibling (child))
    if (widget_shows_text (child, text))
      return TRUE;
  return FALSE;
}

typedef struct
{
  GtkWidget *window;
  const char *text;
} TextQuery;

static gboolean
text_shown (gpointer data)
{
  TextQuery *query = data;
  return widget_shows_text (query->window, query->text);
}

static void
apply_entry (gpointer window, const char *row, const char *text)
{
  gtk_editable_set_text (GTK_EDITABLE (part (window, row)), text);
  g_signal_emit_by_name (part (window, row), "apply");
  pump ();
}

static gboolean
pointer_cleared (gpointer data)
{
  return *(gpointer *) data == NULL;
}

/* The window shows what the service has, and the machine's changes made elsewhere as they happen. */
static void
test_shows_settings (void)
{
  g_autofree char *path = NULL;
  g_autofree char *kernel = vireo_test_guest_path ("hello");
  VireoDBusMachine *machine = create_machine ("Shown", "hello", &path);
  VireoMachineSettings *window = open_settings (machine);
  g_autoptr (GError) error = NULL;
  GVariantDict dict;

  g_object_add_weak_pointer (G_OBJECT (window), (gpointer *) &window);
  g_assert_cmpstr (gtk_window_get_title (GTK_WINDOW (window)), ==, "Shown Settings");
  g_assert_cmpstr (gtk_editable_get_text (GTK_EDITABLE (part (window, "name_row"))), ==, "Shown");
  g_assert_cmpint (gtk_spin_button_get_value_as_int (GTK_SPIN_BUTTON (part (window, "memory_spin"))), ==, 64);
  g_assert_cmpstr (adw_action_row_get_subtitle (ADW_ACTION_ROW (part (window, "memory_row"))), ==, "64 MiB");
  g_assert_cmpint (gtk_spin_button_get_value_as_int (GTK_SPIN_BUTTON (part (window, "vcpus_spin"))), ==, 1);
  g_assert_cmpstr (gtk_editable_get_text (GTK_EDITABLE (part (window, "kernel_row"))), ==, kernel);
  g_assert_false (gtk_switch_get_active (GTK_SWITCH (part (window, "display_switch"))));
  g_assert_cmpuint (adw_combo_row_get_selected (ADW_COMBO_ROW (part (window, "boot_row"))), ==, 0);
  g_assert_cmpuint (adw_combo_row_get_selected (ADW_COMBO_ROW (part (window, "auto_start_row"))), ==, 0);
  g_assert_cmpuint (adw_combo_row_get_selected (ADW_COMBO_ROW (part (window, "auto_stop_row"))), ==, 0);
  g_assert_true (gtk_widget_get_visible (part (window, "no_disks_row")));
  g_assert_true (gtk_widget_get_sensitive (part (window, "memory_row")));
  g_assert_false (gtk_widget_get_sensitive (part (window, "notes_save")));

  /* Changed behind the window's back: the window follows, and sends nothing back. */
  g_variant_dict_init (&dict, NULL);
  g_variant_dict_insert (&dict, "memory-mib", "t", (guint64) 256);
  g_variant_dict_insert (&dict, "notes", "s", "Set elsewhere.");
  g_variant_dict_insert (&dict, "auto-stop", "s", "shutdown");
  g_assert_true (vireo_dbus_machine_call_update_sync (machine, g_variant_dict_end (&dict),
                                                      G_DBUS_CALL_FLAGS_NONE, -1, NULL, &error));
  g_assert_no_error (error);
  assert_setting (machine, "memory-mib", g_variant_new_uint64 (256));
  pump ();
  g_assert_cmpint (gtk_spin_button_get_value_as_int (GTK_SPIN_BUTTON (part (window, "memory_spin"))), ==,
                   256);
  g_assert_cmpuint (adw_combo_row_get_selected (ADW_COMBO_ROW (part (window, "auto_stop_row"))), ==, 1);
  {
    GtkTextIter start, end;
    GtkTextBuffer *buffer = GTK_TEXT_BUFFER (vireo_machine_settings_get_part (window, "notes_buffer"));
    g_autofree char *notes = NULL;

    gtk_text_buffer_get_bounds (buffer, &start, &end);
    notes = gtk_text_buffer_get_text (buffer, &start, &end, FALSE);
    g_assert_cmpstr (notes, ==, "Set elsewhere.");
  }
  g_assert_false (gtk_widget_get_sensitive (part (window, "notes_save")));
  assert_setting_stays (machine, "memory-mib", g_variant_new_uint64 (256));

  screenshot (window, "general", "general");
  screenshot (window, "hardware", "hardware");
  screenshot (window, "boot", "boot");
  screenshot (window, "advanced", "advanced");

  /* Deleted elsewhere: the window closes. */
  g_assert_true (
      vireo_dbus_machine_call_delete_sync (machine, FALSE, G_DBUS_CALL_FLAGS_NONE, -1, NULL, &error));
  g_assert_no_error (error);
  g_assert_true (vireo_ui_wait (pointer_cleared, &window, WAIT_SECONDS));
}

/* Each change the user makes goes to the service; what is wrong is said and not sent; what the service refuses
 * comes back as a toast with its message, and the field returns to the service's value. */
static void
test_changes (void)
{
  g_autofree char *path = NULL;
  VireoDBusMachine *machine = create_machine ("Changed", "hello", &path);
  VireoMachineSettings *window = open_settings (machine);
  guint64 host_mib = vireo_dbus_manager_get_host_memory_mib (vireo_host_get_manager (fixture.host));
  TextQuery toast = { GTK_WIDGET (window), "notafeature" };
  g_autofree char *taken = NULL;
  g_autofree char *initrd = vireo_test_guest_path ("echo");

  create_machine ("Other", "hello", &taken);

  /* Memory: sent once the spinning stops. */
  gtk_spin_button_set_value (GTK_SPIN_BUTTON (part (window, "memory_spin")), 96);
  gtk_spin_button_set_value (GTK_SPIN_BUTTON (part (window, "memory_spin")), 128);
  assert_setting (machine, "memory-mib", g_variant_new_uint64 (128));
  g_assert_cmpuint (vireo_dbus_machine_get_memory_mib (machine), ==, 128);
  /* More than the host: said, not sent. */
  gtk_spin_button_set_value (GTK_SPIN_BUTTON (part (window, "memory_spin")), (double) (host_mib + 1));
  pump ();
  g_assert_true (gtk_widget_get_visible (part (window, "resources_message")));
  g_assert_nonnull (
      strstr (gtk_label_get_text (GTK_LABEL (part (window, "resources_message"))), "more memory"));
  assert_setting_stays (machine, "memory-mib", g_variant_new_uint64 (128));
  gtk_spin_button_set_value (GTK_SPIN_BUTTON (part (window, "memory_spin")), 128);
  pump ();
  g_assert_false (gtk_widget_get_visible (part (window, "resources_message")));

  /* The name: applied with Enter or the apply button; a taken name is refused here. */
  apply_entry (window, "name_row", "Other");
  g_assert_true (gtk_widget_get_visible (part (window, "name_message")));
  g_assert_nonnull (strstr (gtk_label_get_text (GTK_LABEL (part (window, "name_message"))), "already"));
  assert_setting_stays (machine, "name", g_variant_new_string ("Changed"));
  apply_entry (window, "name_row", " Renamed ");
  assert_setting (machine, "name", g_variant_new_string ("Renamed"));
  g_assert_cmpstr (gtk_window_get_title (GTK_WINDOW (window)), ==, "Renamed Settings");
  g_assert_false (gtk_widget_get_visible (part (window, "name_message")));

  /* Combo rows, the switch, the boot files (the network adapters: test-network-settings.c). */
  gtk_switch_set_active (GTK_SWITCH (part (window, "display_switch")), TRUE);
  assert_setting (machine, "display", g_variant_new_boolean (TRUE));
  adw_combo_row_set_selected (ADW_COMBO_ROW (part (window, "auto_start_row")), 2);
  assert_setting (machine, "auto-start", g_variant_new_string ("if-running"));
  adw_combo_row_set_selected (ADW_COMBO_ROW (part (window, "auto_stop_row")), 2);
  assert_setting (machine, "auto-stop", g_variant_new_string ("turn-off"));
  apply_entry (window, "initrd_row", "/nonexistent/vireo/initrd.img");
  g_assert_true (gtk_widget_get_visible (part (window, "boot_message")));
  g_assert_nonnull (
      strstr (gtk_label_get_text (GTK_LABEL (part (window, "boot_message"))), "does not exist"));
  assert_setting_stays (machine, "initrd", g_variant_new_string (""));
  apply_entry (window, "initrd_row", initrd);
  assert_setting (machine, "initrd", g_variant_new_string (initrd));
  apply_entry (window, "cmdline_row", "console=ttyS0 noxsave");
  assert_setting (machine, "cmdline", g_variant_new_string ("console=ttyS0 noxsave"));

  /* Notes: saved with the button, only when they differ; what the user is typing survives a change of the
   * notes made elsewhere meanwhile. */
  gtk_text_buffer_set_text (GTK_TEXT_BUFFER (vireo_machine_settings_get_part (window, "notes_buffer")),
                            "Line one\nline two", -1);
  g_assert_true (gtk_widget_get_sensitive (part (window, "notes_save")));
  {
    g_autoptr (GError) error = NULL;
    GtkTextIter start, end;
    g_autofree char *notes = NULL;
    GtkTextBuffer *buffer = GTK_TEXT_BUFFER (vireo_machine_settings_get_part (window, "notes_buffer"));

    g_assert_true (vireo_dbus_machine_call_update_sync (machine,
                                                        g_variant_new_parsed ("{'notes': <'Elsewhere'>}"),
                                                        G_DBUS_CALL_FLAGS_NONE, -1, NULL, &error));
    g_assert_no_error (error);
    assert_setting (machine, "notes", g_variant_new_string ("Elsewhere"));
    pump ();
    gtk_text_buffer_get_bounds (buffer, &start, &end);
    notes = gtk_text_buffer_get_text (buffer, &start, &end, FALSE);
    g_assert_cmpstr (notes, ==, "Line one\nline two");
    g_assert_true (gtk_widget_get_sensitive (part (window, "notes_save")));
  }
  g_signal_emit_by_name (part (window, "notes_save"), "clicked");
  assert_setting (machine, "notes", g_variant_new_string ("Line one\nline two"));
  g_assert_false (gtk_widget_get_sensitive (part (window, "notes_save")));

  /* The CPUID mask: its syntax checked here, its names by the service. */
  apply_entry (window, "cpuid_row", "cx16");
  g_assert_true (gtk_widget_get_visible (part (window, "cpuid_message")));
  g_assert_nonnull (strstr (gtk_label_get_text (GTK_LABEL (part (window, "cpuid_message"))), "“-”"));
  apply_entry (window, "cpuid_row", "-cx16,,-avx");
  g_assert_nonnull (strstr (gtk_label_get_text (GTK_LABEL (part (window, "cpuid_message"))), "empty"));
  apply_entry (window, "cpuid_row", "-CX16");
  g_assert_nonnull (strstr (gtk_label_get_text (GTK_LABEL (part (window, "cpuid_message"))), "lowercase"));
  assert_setting_stays (machine, "cpuid-mask", g_variant_new_string (""));
  apply_entry (window, "cpuid_row", "-cx16, -avx512f");
  g_assert_false (gtk_widget_get_visible (part (window, "cpuid_message")));
  assert_setting (machine, "cpuid-mask", g_variant_new_string ("-cx16, -avx512f"));
  apply_entry (window, "cpuid_row", "-notafeature");
  g_assert_true (vireo_ui_wait (text_shown, &toast, WAIT_SECONDS));
  pump ();
  g_assert_cmpstr (gtk_editable_get_text (GTK_EDITABLE (part (window, "cpuid_row"))), ==, "-cx16, -avx512f");
  g_assert_true (gtk_widget_get_visible (part (window, "cpuid_message")));
  g_assert_nonnull (strstr (gtk_label_get_text (GTK_LABEL (part (window, "cpuid_message"))), "notafeature"));
  screenshot (window, "advanced", "refused");
  assert_setting_stays (machine, "cpuid-mask", g_variant_new_string ("-cx16, -avx512f"));

  g_object_add_weak_pointer (G_OBJECT (window), (gpointer *) &window);
  gtk_window_close (GTK_WINDOW (window));
  g_assert_true (vireo_ui_wait (pointer_cleared, &window, WAIT_SECONDS));
}

/* The first widget of @type under @widget, depth first. */
static GtkWidget *
find_widget (GtkWidget *widget, GType type)
{
  if (G_TYPE_CHECK_INSTANCE_TYPE (widget, type))
    return widget;
  for (GtkWidget *child = gtk_widget_get_first_child (widget); child;
       child = gtk_widget_get_next_sibling (child))
    {
      GtkWidget *found = find_widget (child, type);
      if (found)
        return found;
    }
  return NULL;
}

typedef struct
{
  VireoDBusMachine *machine;
  guint count;
} DiskQuery;

static gboolean
disk_count_is (gpointer data)
{
  DiskQuery *query = data;
  GVariant *settings = vireo_dbus_machine_get_settings (query->machine);
  g_autoptr (GVariant) disks = settings
                                   ? g_variant_lookup_value (settings, "disks", G_VARIANT_TYPE ("aa{sv}"))
                                   : NULL;

  return disks && g_variant_n_children (disks) == query->count;
}

/* The disk of @index as the service has it. */
static GVariant *
disk_setting (VireoDBusMachine *machine, guint index)
{
  g_autoptr (GVariant) disks = g_variant_lookup_value (vireo_dbus_machine_get_settings (machine), "disks",
                                                       G_VARIANT_TYPE ("aa{sv}"));

  g_assert_nonnull (disks);
  g_assert_cmpuint (index, <, g_variant_n_children (disks));
  return g_variant_get_child_value (disks, index);
}

/* A widget named @name (gtk_widget_set_name) under @widget, or NULL. */
static GtkWidget *
find_named (GtkWidget *widget, const char *name)
{
  if (g_strcmp0 (gtk_widget_get_name (widget), name) == 0)
    return widget;
  for (GtkWidget *child = gtk_widget_get_first_child (widget); child;
       child = gtk_widget_get_next_sibling (child))
    {
      GtkWidget *found = find_named (child, name);
      if (found != NULL)
        return found;
    }
  return NULL;
}

static const char *
lookup_string (GVariant *dict, const char *key)
{
  const char *value = NULL;

  g_variant_lookup (dict, key, "&s", &value);
  return value;
}

typedef struct
{
  VireoDBusMachine *machine;
  guint index;
  const char *key;
  const char *value;
} DiskKeyQuery;

static gboolean
disk_key_is (gpointer data)
{
  DiskKeyQuery *query = data;
  GVariant *settings = vireo_dbus_machine_get_settings (query->machine);
  g_autoptr (GVariant) disks = settings
                                   ? g_variant_lookup_value (settings, "disks", G_VARIANT_TYPE ("aa{sv}"))
                                   : NULL;
  g_autoptr (GVariant) disk = NULL;

  if (disks == NULL || query->index >= g_variant_n_children (disks))
    return FALSE;
  disk = g_variant_get_child_value (disks, query->index);
  return g_strcmp0 (lookup_string (disk, query->key), query->value) == 0;
}

static gboolean
dialog_open (gpointer window)
{
  return vireo_machine_settings_get_disk_dialog (window) != NULL;
}

/* Activates one of the Disks page's actions, as its menu and buttons do; @target: the disk, or NULL. */
static void
disks_action (VireoMachineSettings *window, const char *action, const char *target)
{
  GtkWidget *page = vireo_machine_settings_get_disks_page (window);

  if (target != NULL)
    g_assert_true (gtk_widget_activate_action (page, action, "s", target));
  else
    g_assert_true (gtk_widget_activate_action (page, action, NULL));
  pump ();
}

/* A dialog saying a disk method failed, with @text in it. */
typedef struct
{
  const char *text;
  GtkWidget *dialog;
} FailureQuery;

static gboolean
failure_shown (gpointer data)
{
  FailureQuery *query = data;
  GListModel *toplevels = gtk_window_get_toplevels ();

  for (guint i = 0; i < g_list_model_get_n_items (toplevels); i++)
    {
      g_autoptr (GtkWidget) window = g_list_model_get_item (toplevels, i);

      if (g_strcmp0 (gtk_widget_get_name (window), "disk-failure") == 0
          && widget_shows_text (window, query->text))
        {
          query->dialog = window;
          return TRUE;
        }
    }
  return FALSE;
}

typedef struct
{
  FailureQuery *refused;
  DiskQuery *created;
} CreatedOrRefused;

static gboolean
created_or_refused (gpointer data)
{
  CreatedOrRefused *either = data;

  return failure_shown (either->refused) || disk_count_is (either->created);
}

/* The disk row @row says the disk has @size bytes (as GLib words sizes, with a no-break space). */
static void
assert_shows_size (GtkWidget *row, guint64 size)
{
  g_autofree char *shown = g_format_size_full (size, G_FORMAT_SIZE_IEC_UNITS);
  const char *subtitle = adw_action_row_get_subtitle (ADW_ACTION_ROW (row));

  if (strstr (subtitle, shown) == NULL)
    g_error ("the row says “%s”, not “%s”", subtitle, shown);
}

/* A qcow2 header (version 3) for a disk of @size bytes: enough for the app to read its size. */
static void
write_qcow2_header (const char *path, guint64 size)
{
  guint8 header[104] = { 'Q', 'F', 'I', 0xfb, 0, 0, 0, 3 };
  guint64 be = GUINT64_TO_BE (size);

  memcpy (header + 24, &be, sizeof be);
  g_assert_true (g_file_set_contents (path, (const char *) header, sizeof header, NULL));
}

/* Disks: added (format read from the file), made read-only, refused twice, removed; a CD/DVD drive added, its
 * medium chosen and ejected; a new disk and growing one through the service's disk methods. */
static void
test_disks (void)
{
  g_autofree char *path = NULL;
  g_autofree char *raw = g_build_filename (fixture.base, "data.img", NULL);
  g_autofree char *qcow2 = g_build_filename (fixture.base, "system.qcow2", NULL);
  g_autofree char *iso = g_build_filename (fixture.base, "installer.iso", NULL);
  VireoDBusMachine *machine = create_machine ("With Disks", "hello", &path);
  VireoMachineSettings *window = open_settings (machine);
  DiskQuery query = { machine, 0 };
  TextQuery toast = { GTK_WIDGET (window), "already" };
  g_autoptr (GVariant) disk = NULL;
  g_autofree char *raw_target = NULL;
  g_autofree char *qcow2_target = NULL;
  g_autofree char *cd_target = NULL;
  const char *text;
  gboolean readonly;
  GtkWidget *row;
  AdwMessageDialog *dialog;

  g_assert_true (g_file_set_contents (raw, "\0\0\0\0\0\0\0\0", 8, NULL));
  write_qcow2_header (qcow2, G_GUINT64_CONSTANT (1) << 30);
  g_assert_true (g_file_set_contents (iso, "not really an ISO", -1, NULL));
  g_assert_true (gtk_widget_get_visible (part (window, "no_disks_row")));
  screenshot (window, "disks", "disks-empty");

  /* An existing image: the service names it; the row says what it is. */
  vireo_machine_settings_add_disk (window, raw);
  query.count = 1;
  g_assert_true (vireo_ui_wait (disk_count_is, &query, WAIT_SECONDS));
  pump ();
  disk = disk_setting (machine, 0);
  g_assert_true (g_variant_lookup (disk, "path", "&s", &text));
  g_assert_cmpstr (text, ==, raw);
  g_assert_true (g_variant_lookup (disk, "format", "&s", &text));
  g_assert_cmpstr (text, ==, "raw");
  g_assert_true (g_variant_lookup (disk, "readonly", "b", &readonly));
  g_assert_false (readonly);
  raw_target = g_strdup (lookup_string (disk, "target"));
  g_assert_nonnull (raw_target);
  g_clear_pointer (&disk, g_variant_unref);
  g_assert_false (gtk_widget_get_visible (part (window, "no_disks_row")));
  row = vireo_machine_settings_get_disk_row (window, 0);
  g_assert_nonnull (row);
  g_assert_cmpstr (adw_preferences_row_get_title (ADW_PREFERENCES_ROW (row)), ==, "data.img");
  g_assert_nonnull (strstr (adw_action_row_get_subtitle (ADW_ACTION_ROW (row)), "Raw"));
  g_assert_nonnull (strstr (adw_action_row_get_subtitle (ADW_ACTION_ROW (row)), "VirtIO"));

  /* Read-only, from the row's check button. */
  gtk_check_button_set_active (GTK_CHECK_BUTTON (find_widget (row, GTK_TYPE_CHECK_BUTTON)), TRUE);
  {
    gboolean flag = FALSE;

    for (guint i = 0; i < 50 && !flag; i++)
      {
        g_autoptr (GVariant) first = disk_setting (machine, 0);
        g_variant_lookup (first, "readonly", "b", &flag);
        if (!flag)
          vireo_ui_spin (100);
      }
    g_assert_true (flag);
  }

  /* A qcow2 image: its virtual size is read from its header. */
  vireo_machine_settings_add_disk (window, qcow2);
  query.count = 2;
  g_assert_true (vireo_ui_wait (disk_count_is, &query, WAIT_SECONDS));
  disk = disk_setting (machine, 1);
  g_assert_true (g_variant_lookup (disk, "format", "&s", &text));
  g_assert_cmpstr (text, ==, "qcow2");
  qcow2_target = g_strdup (lookup_string (disk, "target"));
  g_clear_pointer (&disk, g_variant_unref);
  pump ();
  row = vireo_machine_settings_get_disk_row (window, 1);
  assert_shows_size (row, G_GUINT64_CONSTANT (1) << 30);

  /* The same image twice: refused here, with a toast. */
  vireo_machine_settings_add_disk (window, raw);
  g_assert_true (vireo_ui_wait (text_shown, &toast, WAIT_SECONDS));
  g_assert_true (disk_count_is (&query));

  /* An empty CD/DVD drive (Add → CD/DVD Drive): SATA, nothing to eject. */
  disks_action (window, "disks.cdrom", NULL);
  query.count = 3;
  g_assert_true (vireo_ui_wait (disk_count_is, &query, WAIT_SECONDS));
  disk = disk_setting (machine, 2);
  g_assert_cmpstr (lookup_string (disk, "device"), ==, "cdrom");
  g_assert_cmpstr (lookup_string (disk, "bus"), ==, "sata");
  g_assert_cmpstr (lookup_string (disk, "path"), ==, "");
  cd_target = g_strdup (lookup_string (disk, "target"));
  g_clear_pointer (&disk, g_variant_unref);
  pump ();
  row = vireo_machine_settings_get_disk_row (window, 2);
  g_assert_cmpstr (adw_preferences_row_get_title (ADW_PREFERENCES_ROW (row)), ==, "Empty CD/DVD drive");
  g_assert_false (gtk_widget_get_sensitive (find_named (row, "eject")));
  g_assert_true (gtk_widget_get_sensitive (find_named (row, "choose-medium")));

  /* A medium in it (Choose Medium…), then ejected. */
  vireo_machine_settings_change_medium (window, cd_target, iso);
  {
    DiskKeyQuery medium = { machine, 2, "path", iso };
    g_assert_true (vireo_ui_wait (disk_key_is, &medium, WAIT_SECONDS));
  }
  pump ();
  row = vireo_machine_settings_get_disk_row (window, 2);
  g_assert_cmpstr (adw_preferences_row_get_title (ADW_PREFERENCES_ROW (row)), ==, "installer.iso");
  g_assert_true (gtk_widget_get_sensitive (find_named (row, "eject")));
  screenshot (window, "disks", "disks");
  disks_action (window, "disks.eject", cd_target);
  {
    DiskKeyQuery medium = { machine, 2, "path", "" };
    g_assert_true (vireo_ui_wait (disk_key_is, &medium, WAIT_SECONDS));
  }

  /* Removed after a question: the raw image is not in the machine's folder, so nothing offers to delete it. */
  disks_action (window, "disks.remove", raw_target);
  g_assert_true (vireo_ui_wait (dialog_open, window, WAIT_SECONDS));
  dialog = vireo_machine_settings_get_disk_dialog (window);
  g_assert_null (find_widget (GTK_WIDGET (dialog), GTK_TYPE_CHECK_BUTTON));
  gtk_test_widget_wait_for_draw (GTK_WIDGET (dialog));
  g_object_unref (vireo_ui_render (GTK_WIDGET (dialog), "vireo-machine-settings-disks-remove"));
  adw_message_dialog_response (dialog, "confirm");
  gtk_window_destroy (GTK_WINDOW (dialog));
  query.count = 2;
  g_assert_true (vireo_ui_wait (disk_count_is, &query, WAIT_SECONDS));
  disk = disk_setting (machine, 0);
  g_assert_cmpstr (lookup_string (disk, "path"), ==, qcow2);
  g_clear_pointer (&disk, g_variant_unref);
  g_assert_true (g_file_test (raw, G_FILE_TEST_EXISTS));

  /* A new disk (Add → New Disk…): 2 GiB of qcow2, made by the service in the machine's folder. */
  disks_action (window, "disks.new", NULL);
  g_assert_true (vireo_ui_wait (dialog_open, window, WAIT_SECONDS));
  dialog = vireo_machine_settings_get_disk_dialog (window);
  gtk_spin_button_set_value (GTK_SPIN_BUTTON (find_widget (GTK_WIDGET (dialog), GTK_TYPE_SPIN_BUTTON)), 2);
  gtk_test_widget_wait_for_draw (GTK_WIDGET (dialog));
  g_object_unref (vireo_ui_render (GTK_WIDGET (dialog), "vireo-machine-settings-disks-new"));
  adw_message_dialog_response (dialog, "confirm");
  gtk_window_destroy (GTK_WINDOW (dialog));
  {
    FailureQuery missing = { "no CreateDisk" };
    DiskQuery three = { machine, 3 };

    CreatedOrRefused either = { &missing, &three };

    g_assert_true (vireo_ui_wait (created_or_refused, &either, WAIT_SECONDS));
    if (!disk_count_is (&three))
      {
        /* A service without the disk methods: a dialog says so. */
        gtk_test_widget_wait_for_draw (missing.dialog);
        g_object_unref (vireo_ui_render (missing.dialog, "vireo-machine-settings-disks-no-create-disk"));
        gtk_window_destroy (GTK_WINDOW (missing.dialog));
        gtk_window_destroy (GTK_WINDOW (window));
        g_test_skip (
            "this vireod has no Machine.CreateDisk (branch svc-storage): new and grown disks are not "
            "checked");
        return;
      }
  }
  disk = disk_setting (machine, 2);
  g_assert_cmpstr (lookup_string (disk, "format"), ==, "qcow2");
  {
    g_autofree char *new_target = g_strdup (lookup_string (disk, "target"));
    g_autofree char *new_path = g_strdup (lookup_string (disk, "path"));

    g_clear_pointer (&disk, g_variant_unref);
    pump ();
    row = vireo_machine_settings_get_disk_row (window, 2);
    assert_shows_size (row, G_GUINT64_CONSTANT (2) << 30);

    /* Grown to 3 GiB: the dialog offers only larger sizes. */
    disks_action (window, "disks.grow", new_target);
    g_assert_true (vireo_ui_wait (dialog_open, window, WAIT_SECONDS));
    dialog = vireo_machine_settings_get_disk_dialog (window);
    {
      GtkSpinButton *spin = GTK_SPIN_BUTTON (find_widget (GTK_WIDGET (dialog), GTK_TYPE_SPIN_BUTTON));

      g_assert_cmpfloat (gtk_adjustment_get_lower (gtk_spin_button_get_adjustment (spin)), ==, 3);
      gtk_spin_button_set_value (spin, 1);
      g_assert_cmpfloat (gtk_spin_button_get_value (spin), ==, 3);
    }
    gtk_test_widget_wait_for_draw (GTK_WIDGET (dialog));
    g_object_unref (vireo_ui_render (GTK_WIDGET (dialog), "vireo-machine-settings-disks-grow"));
    adw_message_dialog_response (dialog, "confirm");
    gtk_window_destroy (GTK_WINDOW (dialog));
    {
      g_autofree char *three = g_format_size_full (G_GUINT64_CONSTANT (3) << 30, G_FORMAT_SIZE_IEC_UNITS);
      TextQuery grown = { GTK_WIDGET (window), three };
      g_assert_true (vireo_ui_wait (text_shown, &grown, WAIT_SECONDS));
    }

    /* Removed with its file: it is in the machine's folder, so the dialog offers to delete it. */
    disks_action (window, "disks.remove", new_target);
    g_assert_true (vireo_ui_wait (dialog_open, window, WAIT_SECONDS));
    dialog = vireo_machine_settings_get_disk_dialog (window);
    gtk_check_button_set_active (GTK_CHECK_BUTTON (find_widget (GTK_WIDGET (dialog), GTK_TYPE_CHECK_BUTTON)),
                                 TRUE);
    adw_message_dialog_response (dialog, "confirm");
    gtk_window_destroy (GTK_WINDOW (dialog));
    query.count = 2;
    g_assert_true (vireo_ui_wait (disk_count_is, &query, WAIT_SECONDS));
    vireo_ui_spin (200);
    g_assert_false (g_file_test (new_path, G_FILE_TEST_EXISTS));
  }
  screenshot (window, "disks", "disks-after");
  gtk_window_destroy (GTK_WINDOW (window));
}

/* While the machine runs, what the service cannot change is insensitive and says why; the rest still works;
 * turned off, everything is open again. */
static void
test_locked_while_running (void)
{
  g_autofree char *path = NULL;
  VireoDBusMachine *machine;
  VireoMachineSettings *window;

  machine = create_machine ("Running", "echo", &path);
  window = open_settings (machine);
  g_assert_true (gtk_widget_get_sensitive (part (window, "memory_row")));

  vireo_ui_machine_call (&fixture, path, "Start");
  g_assert_true (vireo_ui_wait_for_state (&fixture, path, "running", WAIT_SECONDS));
  vireo_ui_spin (200);
  g_assert_false (gtk_widget_get_sensitive (part (window, "memory_row")));
  g_assert_cmpstr (adw_action_row_get_subtitle (ADW_ACTION_ROW (part (window, "memory_row"))), ==,
                   "Turn the machine off to change this");
  g_assert_false (gtk_widget_get_sensitive (part (window, "vcpus_row")));
  g_assert_false (gtk_widget_get_sensitive (part (window, "display_row")));
  g_assert_false (gtk_widget_get_sensitive (part (window, "boot_row")));
  g_assert_false (gtk_widget_get_sensitive (part (window, "kernel_row")));
  g_assert_false (gtk_widget_get_sensitive (part (window, "cpuid_row")));
  g_assert_false (gtk_widget_get_sensitive (part (window, "add_disk_button")));
  g_assert_true (gtk_widget_get_sensitive (part (window, "name_row")));
  g_assert_true (gtk_widget_get_sensitive (part (window, "auto_start_row")));
  g_assert_true (gtk_widget_get_sensitive (part (window, "auto_stop_row")));
  screenshot (window, "hardware", "running-hardware");
  screenshot (window, "boot", "running-boot");

  /* What may change while running, does. */
  apply_entry (window, "name_row", "Running Renamed");
  assert_setting (machine, "name", g_variant_new_string ("Running Renamed"));
  adw_combo_row_set_selected (ADW_COMBO_ROW (part (window, "auto_start_row")), 1);
  assert_setting (machine, "auto-start", g_variant_new_string ("always"));

  vireo_ui_machine_call (&fixture, path, "TurnOff");
  g_assert_true (vireo_ui_wait_for_state (&fixture, path, "off", WAIT_SECONDS));
  vireo_ui_spin (200);
  g_assert_true (gtk_widget_get_sensitive (part (window, "memory_row")));
  g_assert_cmpstr (adw_action_row_get_subtitle (ADW_ACTION_ROW (part (window, "memory_row"))), ==, "64 MiB");
  gtk_spin_button_set_value (GTK_SPIN_BUTTON (part (window, "memory_spin")), 160);
  assert_setting (machine, "memory-mib", g_variant_new_uint64 (160));
  gtk_window_destroy (GTK_WINDOW (window));
}

int
main (int argc, char **argv)
{
  int status;

  if (!vireo_ui_init (&fixture, &argc, &argv))
    return 0;
  g_object_set (gtk_settings_get_default (), "gtk-enable-animations", FALSE, NULL);

  g_test_add_func ("/machine-settings/shows-settings", test_shows_settings);
  g_test_add_func ("/machine-settings/changes", test_changes);
  g_test_add_func ("/machine-settings/disks", test_disks);
  /* Running a machine needs /dev/kvm; without it the test says so and is skipped. */
  if (vireo_test_require_kvm ())
    g_test_add_func ("/machine-settings/locked-while-running", test_locked_while_running);
  status = g_test_run ();
  vireo_ui_cleanup (&fixture);
  return status;
}
