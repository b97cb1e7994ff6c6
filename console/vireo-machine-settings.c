/* vireo-machine-settings.c — the settings window of one machine: shows Machine.Settings and follows it live,
 * sends what the user changes through Machine.Update (only the changed keys), and locks what cannot change
 * while the machine runs. */
#include "vireo-machine-settings-private.h"

#include <glib/gi18n.h>
#include <string.h>

#include "vireo-checks.h"
#include "vireo-format.h"
#include "vireo-new-machine.h"

/* Spin buttons apply once the user stops clicking, not on every step. */
#define SPIN_APPLY_DELAY_MS 500

/* Orders of the combo rows' items, as the service spells them. */
static const char *const auto_start_values[] = { "none", "always", "if-running", NULL };
static const char *const auto_stop_values[] = { "save", "shutdown", "turn-off", NULL };
static const char *const network_values[] = { "none", "nat", NULL };
static const char *const boot_values[] = { "kernel", "disk", NULL };

struct _VireoMachineSettings
{
  AdwPreferencesWindow parent_instance;

  VireoHost *host;
  VireoDBusMachine *machine;
  char *object_path;
  GVariant *settings;          /* the service's settings as the widgets last showed them */
  guint syncing;               /* > 0 while widgets are set from the service's values */
  gboolean notes_edited;       /* the notes differ from what the service had: not overwritten */
  gboolean locked;             /* the machine runs: only name, notes and automatic actions may change */
  gboolean disposed;
  guint memory_timeout;
  guint vcpus_timeout;
  GPtrArray *disk_rows;
  GtkFileChooserNative *chooser;
  GtkWidget *chooser_target;   /* kernel_row, initrd_row or add_disk_button */

  AdwEntryRow *name_row;
  GtkLabel *name_message;
  GtkWidget *notes_save;
  GtkTextBuffer *notes_buffer;
  AdwComboRow *auto_start_row;
  AdwComboRow *auto_stop_row;

  AdwPreferencesGroup *resources_group;
  AdwActionRow *memory_row;
  AdwActionRow *memory_warning;
  AdwActionRow *vcpus_row;
  GtkSpinButton *memory_spin;
  GtkSpinButton *vcpus_spin;
  GtkAdjustment *memory_adjustment;
  GtkAdjustment *vcpus_adjustment;
  GtkLabel *resources_message;
  AdwComboRow *network_row;
  AdwActionRow *display_row;
  GtkSwitch *display_switch;
  AdwPreferencesGroup *disks_group;
  GtkWidget *add_disk_button;
  GtkWidget *no_disks_row;

  AdwComboRow *boot_row;
  AdwPreferencesGroup *kernel_group;
  AdwEntryRow *kernel_row;
  AdwEntryRow *initrd_row;
  AdwEntryRow *cmdline_row;
  GtkWidget *kernel_choose;
  GtkWidget *initrd_choose;
  GtkLabel *boot_message;

  AdwPreferencesGroup *cpuid_group;
  AdwEntryRow *cpuid_row;
  GtkLabel *cpuid_message;
};

G_DEFINE_FINAL_TYPE (VireoMachineSettings, vireo_machine_settings, ADW_TYPE_PREFERENCES_WINDOW)

static void sync_key (VireoMachineSettings *self, const char *key, GVariant *value);
static void update_notes_button (VireoMachineSettings *self);

/* ---- reading settings ---- */

static GVariant *
setting (VireoMachineSettings *self, const char *key)
{
  return self->settings ? g_variant_lookup_value (self->settings, key, NULL) : NULL;
}

static char *
setting_string (VireoMachineSettings *self, const char *key)
{
  g_autoptr (GVariant) value = setting (self, key);

  return g_strdup (value && g_variant_is_of_type (value, G_VARIANT_TYPE_STRING) ? g_variant_get_string (value, NULL)
                                                                               : "");
}

static guint
index_of (const char *const *values, const char *value)
{
  for (guint i = 0; values[i] != NULL; i++)
    if (g_strcmp0 (values[i], value) == 0)
      return i;
  return 0;
}

static const char *
value_at (const char *const *values, guint index)
{
  return index < g_strv_length ((char **) values) ? values[index] : values[0];
}

static guint64
host_memory_mib (VireoMachineSettings *self)
{
  VireoDBusManager *manager = vireo_host_get_manager (self->host);

  return manager ? vireo_dbus_manager_get_host_memory_mib (manager) : 0;
}

static char *
trimmed_text (AdwEntryRow *row)
{
  return vireo_entry_row_get_stripped_text (row);
}

/* ---- messages ---- */

static void
toast (VireoMachineSettings *self, const char *message)
{
  g_autofree char *escaped = g_markup_escape_text (message, -1);
  AdwToast *toast = adw_toast_new (escaped);

  adw_toast_set_timeout (toast, 8);
  adw_preferences_window_add_toast (ADW_PREFERENCES_WINDOW (self), toast);
}

static void
show_reason (GtkLabel *label, GtkWidget *field, const char *reason)
{
  gtk_label_set_text (label, reason ? reason : "");
  gtk_widget_set_visible (GTK_WIDGET (label), reason != NULL);
  if (reason != NULL)
    gtk_widget_add_css_class (field, "error");
  else
    gtk_widget_remove_css_class (field, "error");
}

/* The message label under the field that shows @key, if it has one, and that field. */
static GtkLabel *
message_for_key (VireoMachineSettings *self, const char *key, GtkWidget **field)
{
  static const struct
  {
    const char *key;
    gsize label;
    gsize field;
  } fields[] = {
    { "name", G_STRUCT_OFFSET (VireoMachineSettings, name_message), G_STRUCT_OFFSET (VireoMachineSettings, name_row) },
    { "memory-mib", G_STRUCT_OFFSET (VireoMachineSettings, resources_message),
      G_STRUCT_OFFSET (VireoMachineSettings, memory_spin) },
    { "vcpus", G_STRUCT_OFFSET (VireoMachineSettings, resources_message),
      G_STRUCT_OFFSET (VireoMachineSettings, vcpus_spin) },
    { "kernel", G_STRUCT_OFFSET (VireoMachineSettings, boot_message),
      G_STRUCT_OFFSET (VireoMachineSettings, kernel_row) },
    { "initrd", G_STRUCT_OFFSET (VireoMachineSettings, boot_message),
      G_STRUCT_OFFSET (VireoMachineSettings, initrd_row) },
    { "cmdline", G_STRUCT_OFFSET (VireoMachineSettings, boot_message),
      G_STRUCT_OFFSET (VireoMachineSettings, cmdline_row) },
    { "cpuid-mask", G_STRUCT_OFFSET (VireoMachineSettings, cpuid_message),
      G_STRUCT_OFFSET (VireoMachineSettings, cpuid_row) },
  };

  for (guint i = 0; i < G_N_ELEMENTS (fields); i++)
    if (g_str_equal (fields[i].key, key))
      {
        *field = G_STRUCT_MEMBER (GtkWidget *, self, fields[i].field);
        return G_STRUCT_MEMBER (GtkLabel *, self, fields[i].label);
      }
  return NULL;
}

/* ---- sending changes ---- */

typedef struct
{
  /* Weak: a window the user closed must not outlive its parent waiting for an answer. */
  GWeakRef self;
  GVariant *changes;
} Update;

static void
on_updated (GObject *source, GAsyncResult *result, gpointer data)
{
  Update *update = data;
  g_autoptr (VireoMachineSettings) self = g_weak_ref_get (&update->self);
  g_autoptr (GError) error = NULL;

  if (!vireo_dbus_machine_call_update_finish (VIREO_DBUS_MACHINE (source), result, &error))
    {
      g_dbus_error_strip_remote_error (error);
      if (self == NULL || self->disposed)
        g_message ("The settings of a closed window could not be saved: %s", error->message);
      else
        {
          GVariantIter iter;
          const char *key;

          toast (self, error->message);
          /* The widgets go back to what the service has, so that they never show what is not in effect; the
           * field's own message keeps the whole explanation, which a toast may cut short. */
          g_variant_iter_init (&iter, update->changes);
          while (g_variant_iter_next (&iter, "{&sv}", &key, NULL))
            {
              g_autoptr (GVariant) value = setting (self, key);
              GtkWidget *field = NULL;
              GtkLabel *message;

              /* Refused notes stay as typed, with Save to try again: they may be long. */
              if (g_str_equal (key, "notes"))
                {
                  update_notes_button (self);
                  continue;
                }
              if (value != NULL)
                sync_key (self, key, value);
              message = message_for_key (self, key, &field);
              if (message != NULL)
                {
                  /* Translators: %s is the service's reason for refusing a change. */
                  g_autofree char *refused = g_strdup_printf (_("Not changed: %s"), error->message);

                  /* The field shows the value in effect, which is not wrong: only the message says what was. */
                  show_reason (message, field, refused);
                  gtk_widget_remove_css_class (field, "error");
                }
            }
        }
    }
  g_variant_unref (update->changes);
  g_weak_ref_clear (&update->self);
  g_free (update);
}

/* Sends one changed setting: only what the user changed goes to the service. */
static void
send_update (VireoMachineSettings *self, const char *key, GVariant *value)
{
  g_auto (GVariantDict) dict = G_VARIANT_DICT_INIT (NULL);
  Update *update = g_new0 (Update, 1);

  g_variant_dict_insert_value (&dict, key, value);
  g_weak_ref_init (&update->self, self);
  update->changes = g_variant_ref_sink (g_variant_dict_end (&dict));
  /* No cancellable: a change made just before the window closed is still saved. */
  vireo_dbus_machine_call_update (self->machine, update->changes, G_DBUS_CALL_FLAGS_NONE, -1, NULL, on_updated, update);
}

/* ---- checks ---- */

static char *
check_boot_text (VireoMachineSettings *self, AdwEntryRow *row)
{
  g_autofree char *text = trimmed_text (row);

  if (row == self->cmdline_row)
    return vireo_check_cmdline (gtk_editable_get_text (GTK_EDITABLE (row)));
  if (*text == '\0')
    return row == self->kernel_row ? g_strdup (_("A machine that boots a kernel needs a kernel file.")) : NULL;
  return vireo_check_machine_file (text, FALSE);
}

/* ---- locking while the machine runs ---- */

static const char *
lock_text (void)
{
  return _("Turn the machine off to change this");
}

static void
describe_memory (VireoMachineSettings *self)
{
  guint64 mib = (guint64) gtk_spin_button_get_value_as_int (self->memory_spin);
  guint64 host_mib = host_memory_mib (self);
  g_autofree char *amount = vireo_format_memory (mib);

  adw_action_row_set_subtitle (self->memory_row, self->locked ? lock_text () : amount);
  gtk_widget_set_visible (GTK_WIDGET (self->memory_warning),
                          !self->locked && vireo_memory_is_large (mib, host_mib));
}

static void
describe_rows (VireoMachineSettings *self)
{
  g_autofree char *facts = vireo_describe_host (vireo_host_get_manager (self->host));
  guint max_vcpus = (guint) gtk_adjustment_get_upper (self->vcpus_adjustment);
  g_autofree char *range = g_strdup_printf (_("1 to %u"), max_vcpus);
  const char *network = value_at (network_values, adw_combo_row_get_selected (self->network_row));
  const char *locked_group = _("Turn the machine off to change these settings.");

  describe_memory (self);
  adw_action_row_set_subtitle (self->vcpus_row, self->locked ? lock_text () : range);
  adw_action_row_set_subtitle (ADW_ACTION_ROW (self->network_row),
                               self->locked                     ? lock_text ()
                               : g_str_equal (network, "nat")   ? _("The machine reaches the network through this "
                                                                    "computer’s connection")
                                                                : _("The machine has no network card"));
  adw_action_row_set_subtitle (self->display_row,
                               self->locked ? lock_text ()
                                            : _("A screen, keyboard and pointer for the machine. Without one it "
                                                "has its serial console only."));
  adw_action_row_set_subtitle (ADW_ACTION_ROW (self->boot_row),
                               self->locked ? lock_text ()
                               : adw_combo_row_get_selected (self->boot_row) == 0
                                   ? _("A kernel file, started directly")
                                   : _("The system installed on the first disk (see Hardware)"));

  /* The host's facts stay in view while locked: they are what the user will want to know when off. */
  adw_preferences_group_set_description (self->resources_group, facts);
  adw_preferences_group_set_description (self->kernel_group,
                                         self->locked ? locked_group
                                                      : _("A PVH ELF or bzImage kernel. Type a path or choose a "
                                                          "file; press Enter to apply."));
  adw_preferences_group_set_description (self->disks_group,
                                         self->locked ? locked_group
                                                      : _("Images the machine sees as disks, in this order."));
  adw_preferences_group_set_description (self->cpuid_group,
                                         self->locked ? locked_group
                                                      : _("Features the guest does not see, such as “-cx16”: "
                                                          "flag names of /proc/cpuinfo, each after a minus, "
                                                          "separated by commas. Useful to work around a guest’s "
                                                          "bug."));
}

static void
update_lock (VireoMachineSettings *self)
{
  GtkWidget *off_only[] = {
    GTK_WIDGET (self->memory_row), GTK_WIDGET (self->vcpus_row),   GTK_WIDGET (self->network_row),
    GTK_WIDGET (self->display_row), GTK_WIDGET (self->boot_row),   GTK_WIDGET (self->kernel_row),
    GTK_WIDGET (self->initrd_row), GTK_WIDGET (self->cmdline_row), GTK_WIDGET (self->cpuid_row),
    self->add_disk_button,
  };

  /* The service takes changes to the hardware only while the machine has no process. */
  self->locked = !vireo_state_can_start (vireo_dbus_machine_get_state (self->machine));
  for (guint i = 0; i < G_N_ELEMENTS (off_only); i++)
    gtk_widget_set_sensitive (off_only[i], !self->locked);
  for (guint i = 0; i < self->disk_rows->len; i++)
    gtk_widget_set_sensitive (g_ptr_array_index (self->disk_rows, i), !self->locked);
  if (self->locked && (self->memory_timeout != 0 || self->vcpus_timeout != 0))
    {
      /* A change waiting to be sent would only be refused: the spin buttons show what is in effect. */
      g_autoptr (GVariant) memory = setting (self, "memory-mib");
      g_autoptr (GVariant) vcpus = setting (self, "vcpus");

      g_clear_handle_id (&self->memory_timeout, g_source_remove);
      g_clear_handle_id (&self->vcpus_timeout, g_source_remove);
      if (memory != NULL)
        sync_key (self, "memory-mib", memory);
      if (vcpus != NULL)
        sync_key (self, "vcpus", vcpus);
    }
  describe_rows (self);
}

/* ---- disks ---- */

static GVariant *
current_disks (VireoMachineSettings *self)
{
  GVariant *disks = setting (self, "disks");

  if (disks == NULL || !g_variant_is_of_type (disks, G_VARIANT_TYPE ("aa{sv}")))
    {
      g_clear_pointer (&disks, g_variant_unref);
      disks = g_variant_ref_sink (g_variant_new_array (G_VARIANT_TYPE_VARDICT, NULL, 0));
    }
  return disks;
}

/* The disks as they are, with disk @change_index made read-only or not (@readonly) or, with @remove, gone. */
static GVariant *
edited_disks (VireoMachineSettings *self, guint change_index, gboolean remove, gboolean readonly)
{
  g_autoptr (GVariant) disks = current_disks (self);
  g_auto (GVariantBuilder) builder = G_VARIANT_BUILDER_INIT (G_VARIANT_TYPE ("aa{sv}"));

  for (gsize i = 0; i < g_variant_n_children (disks); i++)
    {
      g_autoptr (GVariant) disk = g_variant_get_child_value (disks, i);
      GVariantDict dict;

      if (i == change_index && remove)
        continue;
      g_variant_dict_init (&dict, disk);
      if (i == change_index)
        g_variant_dict_insert (&dict, "readonly", "b", readonly);
      g_variant_builder_add_value (&builder, g_variant_dict_end (&dict));
    }
  return g_variant_builder_end (&builder);
}

static void
on_disk_remove (GtkButton *button, VireoMachineSettings *self)
{
  guint index = GPOINTER_TO_UINT (g_object_get_data (G_OBJECT (button), "disk-index"));

  send_update (self, "disks", edited_disks (self, index, TRUE, FALSE));
}

static void
on_disk_readonly (GtkCheckButton *check, GParamSpec *pspec, VireoMachineSettings *self)
{
  guint index = GPOINTER_TO_UINT (g_object_get_data (G_OBJECT (check), "disk-index"));

  if (self->syncing == 0)
    send_update (self, "disks", edited_disks (self, index, FALSE, gtk_check_button_get_active (check)));
}

static void
show_disks (VireoMachineSettings *self, GVariant *disks)
{
  for (guint i = 0; i < self->disk_rows->len; i++)
    adw_preferences_group_remove (self->disks_group, g_ptr_array_index (self->disk_rows, i));
  g_ptr_array_set_size (self->disk_rows, 0);

  for (gsize i = 0; disks && i < g_variant_n_children (disks); i++)
    {
      g_autoptr (GVariant) disk = g_variant_get_child_value (disks, i);
      const char *path = "";
      const char *format = "raw";
      gboolean readonly = FALSE;
      g_autofree char *name = NULL;
      g_autofree char *subtitle = NULL;
      GtkWidget *row = adw_action_row_new ();
      GtkWidget *check = gtk_check_button_new_with_mnemonic (_("_Read-only"));
      GtkWidget *remove = gtk_button_new_from_icon_name ("user-trash-symbolic");

      g_variant_lookup (disk, "path", "&s", &path);
      g_variant_lookup (disk, "format", "&s", &format);
      g_variant_lookup (disk, "readonly", "b", &readonly);
      name = g_filename_display_basename (path);
      /* Translators: what kind of image a disk is, and where it is. */
      subtitle = g_strdup_printf (_("%s — %s"), g_str_equal (format, "qcow2") ? _("qcow2 image") : _("Raw image"),
                                  path);

      adw_preferences_row_set_use_markup (ADW_PREFERENCES_ROW (row), FALSE);
      adw_preferences_row_set_title (ADW_PREFERENCES_ROW (row), name);
      adw_action_row_set_subtitle (ADW_ACTION_ROW (row), subtitle);
      adw_action_row_set_subtitle_lines (ADW_ACTION_ROW (row), 2);
      adw_action_row_add_prefix (ADW_ACTION_ROW (row), gtk_image_new_from_icon_name ("drive-harddisk-symbolic"));

      gtk_check_button_set_active (GTK_CHECK_BUTTON (check), readonly);
      gtk_widget_set_valign (check, GTK_ALIGN_CENTER);
      g_object_set_data (G_OBJECT (check), "disk-index", GUINT_TO_POINTER ((guint) i));
      g_signal_connect (check, "notify::active", G_CALLBACK (on_disk_readonly), self);
      adw_action_row_add_suffix (ADW_ACTION_ROW (row), check);

      gtk_widget_set_valign (remove, GTK_ALIGN_CENTER);
      gtk_widget_set_tooltip_text (remove, _("Remove the disk from the machine (the image stays)"));
      gtk_widget_add_css_class (remove, "flat");
      g_object_set_data (G_OBJECT (remove), "disk-index", GUINT_TO_POINTER ((guint) i));
      g_signal_connect (remove, "clicked", G_CALLBACK (on_disk_remove), self);
      adw_action_row_add_suffix (ADW_ACTION_ROW (row), remove);

      gtk_widget_set_sensitive (row, !self->locked);
      adw_preferences_group_add (self->disks_group, row);
      g_ptr_array_add (self->disk_rows, row);
    }
  gtk_widget_set_visible (self->no_disks_row, self->disk_rows->len == 0);
}

static void
add_disk (VireoMachineSettings *self, const char *path)
{
  g_autoptr (GVariant) disks = current_disks (self);
  g_auto (GVariantBuilder) builder = G_VARIANT_BUILDER_INIT (G_VARIANT_TYPE ("aa{sv}"));
  g_autofree char *reason = vireo_check_machine_file (path, FALSE);
  g_autofree char *display = g_filename_display_name (path);
  const char *format;
  GVariantDict dict;

  if (reason != NULL)
    {
      toast (self, reason);
      return;
    }
  for (gsize i = 0; i < g_variant_n_children (disks); i++)
    {
      g_autoptr (GVariant) disk = g_variant_get_child_value (disks, i);
      const char *other = NULL;

      if (g_variant_lookup (disk, "path", "&s", &other) && g_strcmp0 (other, path) == 0)
        {
          g_autofree char *message = g_strdup_printf (_("“%s” is already one of the machine’s disks."), display);
          toast (self, message);
          return;
        }
      g_variant_builder_add_value (&builder, disk);
    }
  format = vireo_detect_image_format (path);
  g_variant_dict_init (&dict, NULL);
  g_variant_dict_insert (&dict, "path", "s", path);
  g_variant_dict_insert (&dict, "format", "s", format ? format : "raw");
  /* An image the user cannot write is still useful to the guest, read-only. */
  g_variant_dict_insert (&dict, "readonly", "b", vireo_check_machine_file (path, TRUE) != NULL);
  g_variant_builder_add_value (&builder, g_variant_dict_end (&dict));
  send_update (self, "disks", g_variant_builder_end (&builder));
}

/* ---- showing the service's values ---- */

static void
set_entry_text (AdwEntryRow *row, const char *text)
{
  if (g_strcmp0 (gtk_editable_get_text (GTK_EDITABLE (row)), text) != 0)
    gtk_editable_set_text (GTK_EDITABLE (row), text);
  gtk_widget_remove_css_class (GTK_WIDGET (row), "error");
}

static void
update_notes_button (VireoMachineSettings *self)
{
  g_autofree char *saved = setting_string (self, "notes");
  g_autofree char *text = NULL;
  GtkTextIter start, end;

  gtk_text_buffer_get_bounds (self->notes_buffer, &start, &end);
  text = gtk_text_buffer_get_text (self->notes_buffer, &start, &end, FALSE);
  gtk_widget_set_sensitive (self->notes_save, g_strcmp0 (saved, text) != 0);
}

/* Shows the service's @value of @key in its widget, without sending it back. */
static void
sync_key (VireoMachineSettings *self, const char *key, GVariant *value)
{
  const char *text = g_variant_is_of_type (value, G_VARIANT_TYPE_STRING) ? g_variant_get_string (value, NULL) : "";

  self->syncing++;
  if (g_str_equal (key, "name"))
    {
      set_entry_text (self->name_row, text);
      gtk_widget_set_visible (GTK_WIDGET (self->name_message), FALSE);
    }
  else if (g_str_equal (key, "notes") && !self->notes_edited)
    gtk_text_buffer_set_text (self->notes_buffer, text, -1);
  else if (g_str_equal (key, "memory-mib") && g_variant_is_of_type (value, G_VARIANT_TYPE_UINT64))
    {
      double mib = (double) g_variant_get_uint64 (value);

      /* A machine defined elsewhere may have more than the host: show it as it is. */
      if (mib > gtk_adjustment_get_upper (self->memory_adjustment))
        gtk_adjustment_set_upper (self->memory_adjustment, mib);
      g_clear_handle_id (&self->memory_timeout, g_source_remove);
      gtk_spin_button_set_value (self->memory_spin, mib);
      show_reason (self->resources_message, GTK_WIDGET (self->memory_spin), NULL);
    }
  else if (g_str_equal (key, "vcpus") && g_variant_is_of_type (value, G_VARIANT_TYPE_UINT32))
    {
      double vcpus = (double) g_variant_get_uint32 (value);

      if (vcpus > gtk_adjustment_get_upper (self->vcpus_adjustment))
        gtk_adjustment_set_upper (self->vcpus_adjustment, vcpus);
      g_clear_handle_id (&self->vcpus_timeout, g_source_remove);
      gtk_spin_button_set_value (self->vcpus_spin, vcpus);
    }
  else if (g_str_equal (key, "boot"))
    {
      adw_combo_row_set_selected (self->boot_row, index_of (boot_values, text));
      gtk_widget_set_visible (GTK_WIDGET (self->kernel_group), !g_str_equal (text, "disk"));
    }
  else if (g_str_equal (key, "kernel"))
    set_entry_text (self->kernel_row, text);
  else if (g_str_equal (key, "initrd"))
    set_entry_text (self->initrd_row, text);
  else if (g_str_equal (key, "cmdline"))
    set_entry_text (self->cmdline_row, text);
  else if (g_str_equal (key, "disks") && g_variant_is_of_type (value, G_VARIANT_TYPE ("aa{sv}")))
    show_disks (self, value);
  else if (g_str_equal (key, "network"))
    adw_combo_row_set_selected (self->network_row, index_of (network_values, text));
  else if (g_str_equal (key, "display") && g_variant_is_of_type (value, G_VARIANT_TYPE_BOOLEAN))
    gtk_switch_set_active (self->display_switch, g_variant_get_boolean (value));
  else if (g_str_equal (key, "cpuid-mask"))
    {
      set_entry_text (self->cpuid_row, text);
      gtk_widget_set_visible (GTK_WIDGET (self->cpuid_message), FALSE);
    }
  else if (g_str_equal (key, "auto-start"))
    adw_combo_row_set_selected (self->auto_start_row, index_of (auto_start_values, text));
  else if (g_str_equal (key, "auto-stop"))
    adw_combo_row_set_selected (self->auto_stop_row, index_of (auto_stop_values, text));
  if (g_str_equal (key, "kernel") || g_str_equal (key, "initrd") || g_str_equal (key, "cmdline"))
    gtk_widget_set_visible (GTK_WIDGET (self->boot_message), FALSE);
  self->syncing--;
}

/* Follows Machine.Settings: only keys whose value changed touch their widget, so that what the user is editing
 * elsewhere in the window stays as it is. */
static void
on_settings_changed (VireoMachineSettings *self)
{
  g_autoptr (GVariant) old = self->settings;
  GVariant *current = vireo_dbus_machine_get_settings (self->machine);
  GVariantIter iter;
  const char *key;
  GVariant *value;

  if (current == NULL || !g_variant_is_of_type (current, G_VARIANT_TYPE_VARDICT))
    {
      self->settings = g_steal_pointer (&old);
      return;
    }
  self->notes_edited = gtk_widget_get_sensitive (self->notes_save);
  self->settings = g_variant_ref (current);
  g_variant_iter_init (&iter, current);
  while (g_variant_iter_next (&iter, "{&sv}", &key, &value))
    {
      g_autoptr (GVariant) owned = value;
      g_autoptr (GVariant) previous = old ? g_variant_lookup_value (old, key, NULL) : NULL;

      if (previous == NULL || !g_variant_equal (previous, value))
        sync_key (self, key, value);
    }
  self->notes_edited = FALSE;
  update_notes_button (self);
  describe_rows (self);
}

static void
on_name_changed_remotely (VireoMachineSettings *self)
{
  const char *name = vireo_dbus_machine_get_name (self->machine);
  /* Translators: the title of a machine's settings window; %s is its name. */
  g_autofree char *title = g_strdup_printf (_("%s Settings"), name ? name : "");

  gtk_window_set_title (GTK_WINDOW (self), title);
}

static void
on_machines_changed (VireoMachineSettings *self)
{
  /* The machine was deleted, or its service went away: there is nothing left to set. */
  if (vireo_host_find_machine (self->host, self->object_path) == NULL)
    gtk_window_close (GTK_WINDOW (self));
}

/* ---- the user's changes ---- */

static void
on_name_changed (VireoMachineSettings *self)
{
  g_autofree char *name = trimmed_text (self->name_row);
  g_autofree char *current = setting_string (self, "name");
  g_autofree char *reason = NULL;

  if (self->syncing > 0)
    return;
  if (g_strcmp0 (name, current) != 0)
    reason = vireo_check_machine_name (self->host, name, self->machine);
  show_reason (self->name_message, GTK_WIDGET (self->name_row), reason);
}

static void
on_name_apply (VireoMachineSettings *self)
{
  g_autofree char *name = trimmed_text (self->name_row);
  g_autofree char *current = setting_string (self, "name");
  g_autofree char *reason = vireo_check_machine_name (self->host, name, self->machine);

  show_reason (self->name_message, GTK_WIDGET (self->name_row), reason);
  if (reason == NULL && g_strcmp0 (name, current) != 0)
    send_update (self, "name", g_variant_new_string (name));
  else if (reason == NULL)
    {
      /* Only white space around the name changed: the service would trim it too. */
      g_autoptr (GVariant) value = g_variant_ref_sink (g_variant_new_string (current));
      sync_key (self, "name", value);
    }
}

static void
on_notes_changed (VireoMachineSettings *self)
{
  update_notes_button (self);
}

static void
save_notes (VireoMachineSettings *self)
{
  g_autofree char *text = NULL;
  GtkTextIter start, end;

  gtk_text_buffer_get_bounds (self->notes_buffer, &start, &end);
  text = gtk_text_buffer_get_text (self->notes_buffer, &start, &end, FALSE);
  send_update (self, "notes", g_variant_new_string (text));
  gtk_widget_set_sensitive (self->notes_save, FALSE);
}

static void
on_notes_save (VireoMachineSettings *self)
{
  if (gtk_widget_get_sensitive (self->notes_save))
    save_notes (self);
}

static void
on_auto_start_selected (VireoMachineSettings *self)
{
  if (self->syncing == 0)
    send_update (self, "auto-start",
                 g_variant_new_string (value_at (auto_start_values, adw_combo_row_get_selected (self->auto_start_row))));
}

static void
on_auto_stop_selected (VireoMachineSettings *self)
{
  if (self->syncing == 0)
    send_update (self, "auto-stop",
                 g_variant_new_string (value_at (auto_stop_values, adw_combo_row_get_selected (self->auto_stop_row))));
}

static gboolean
apply_memory (gpointer data)
{
  VireoMachineSettings *self = data;
  guint64 mib = (guint64) gtk_spin_button_get_value_as_int (self->memory_spin);
  g_autoptr (GVariant) current = setting (self, "memory-mib");

  self->memory_timeout = 0;
  if (current == NULL || g_variant_get_uint64 (current) != mib)
    send_update (self, "memory-mib", g_variant_new_uint64 (mib));
  return G_SOURCE_REMOVE;
}

static void
on_memory_changed (VireoMachineSettings *self)
{
  guint64 mib = (guint64) gtk_spin_button_get_value_as_int (self->memory_spin);
  g_autofree char *reason = NULL;

  describe_memory (self);
  if (self->syncing > 0)
    return;
  g_clear_handle_id (&self->memory_timeout, g_source_remove);
  reason = vireo_check_memory (mib, host_memory_mib (self));
  show_reason (self->resources_message, GTK_WIDGET (self->memory_spin), reason);
  if (reason == NULL)
    self->memory_timeout = g_timeout_add (SPIN_APPLY_DELAY_MS, apply_memory, self);
}

static gboolean
apply_vcpus (gpointer data)
{
  VireoMachineSettings *self = data;
  guint vcpus = (guint) gtk_spin_button_get_value_as_int (self->vcpus_spin);
  g_autoptr (GVariant) current = setting (self, "vcpus");

  self->vcpus_timeout = 0;
  if (current == NULL || g_variant_get_uint32 (current) != vcpus)
    send_update (self, "vcpus", g_variant_new_uint32 (vcpus));
  return G_SOURCE_REMOVE;
}

static void
on_vcpus_changed (VireoMachineSettings *self)
{
  if (self->syncing > 0)
    return;
  g_clear_handle_id (&self->vcpus_timeout, g_source_remove);
  self->vcpus_timeout = g_timeout_add (SPIN_APPLY_DELAY_MS, apply_vcpus, self);
}

static void
on_network_selected (VireoMachineSettings *self)
{
  describe_rows (self);
  if (self->syncing == 0)
    send_update (self, "network",
                 g_variant_new_string (value_at (network_values, adw_combo_row_get_selected (self->network_row))));
}

static void
on_display_toggled (VireoMachineSettings *self)
{
  if (self->syncing == 0)
    send_update (self, "display", g_variant_new_boolean (gtk_switch_get_active (self->display_switch)));
}

static void
on_boot_selected (VireoMachineSettings *self)
{
  const char *boot = value_at (boot_values, adw_combo_row_get_selected (self->boot_row));

  describe_rows (self);
  if (self->syncing == 0)
    send_update (self, "boot", g_variant_new_string (boot));
}

static const char *
boot_key (VireoMachineSettings *self, AdwEntryRow *row)
{
  return row == self->kernel_row ? "kernel" : row == self->initrd_row ? "initrd" : "cmdline";
}

static void
on_boot_text_changed (VireoMachineSettings *self, AdwEntryRow *row)
{
  g_autofree char *reason = NULL;

  if (self->syncing > 0)
    return;
  reason = check_boot_text (self, row);
  show_reason (self->boot_message, GTK_WIDGET (row), reason);
}

static void
on_boot_text_apply (VireoMachineSettings *self, AdwEntryRow *row)
{
  g_autofree char *reason = check_boot_text (self, row);
  g_autofree char *value = row == self->cmdline_row ? g_strdup (gtk_editable_get_text (GTK_EDITABLE (row)))
                                                    : trimmed_text (row);
  g_autofree char *current = setting_string (self, boot_key (self, row));

  show_reason (self->boot_message, GTK_WIDGET (row), reason);
  if (reason == NULL && g_strcmp0 (value, current) != 0)
    send_update (self, boot_key (self, row), g_variant_new_string (value));
}

static void
on_cpuid_changed (VireoMachineSettings *self)
{
  g_autofree char *reason = NULL;

  if (self->syncing > 0)
    return;
  reason = vireo_check_cpuid_mask (gtk_editable_get_text (GTK_EDITABLE (self->cpuid_row)));
  show_reason (self->cpuid_message, GTK_WIDGET (self->cpuid_row), reason);
}

static void
on_cpuid_apply (VireoMachineSettings *self)
{
  g_autofree char *mask = trimmed_text (self->cpuid_row);
  g_autofree char *reason = vireo_check_cpuid_mask (mask);
  g_autofree char *current = setting_string (self, "cpuid-mask");

  show_reason (self->cpuid_message, GTK_WIDGET (self->cpuid_row), reason);
  if (reason == NULL && g_strcmp0 (mask, current) != 0)
    send_update (self, "cpuid-mask", g_variant_new_string (mask));
}

/* ---- files ---- */

static void
on_chooser_response (GtkNativeDialog *dialog, int response, gpointer data)
{
  VireoMachineSettings *self = data;
  GtkWidget *target = self->chooser_target;
  g_autoptr (GFile) file = NULL;
  g_autofree char *path = NULL;

  self->chooser_target = NULL;
  if (response == GTK_RESPONSE_ACCEPT)
    file = gtk_file_chooser_get_file (GTK_FILE_CHOOSER (dialog));
  g_clear_object (&self->chooser);
  path = file ? g_file_get_path (file) : NULL;
  if (path == NULL || target == NULL)
    return;
  if (target == self->add_disk_button)
    add_disk (self, path);
  else
    {
      /* A chosen file is meant at once, as if typed and applied. */
      gtk_editable_set_text (GTK_EDITABLE (target), path);
      on_boot_text_apply (self, ADW_ENTRY_ROW (target));
    }
}

static void
open_chooser (VireoMachineSettings *self, GtkWidget *target, const char *title, AdwEntryRow *near)
{
  g_autofree char *near_path = near ? trimmed_text (near) : NULL;

  if (self->chooser != NULL)
    return;
  self->chooser_target = target;
  self->chooser = vireo_file_chooser_new (GTK_WINDOW (self), title, target == self->add_disk_button, near_path);
  g_signal_connect (self->chooser, "response", G_CALLBACK (on_chooser_response), self);
  gtk_native_dialog_show (GTK_NATIVE_DIALOG (self->chooser));
}

static void
on_choose_clicked (VireoMachineSettings *self, GtkWidget *button)
{
  if (button == self->kernel_choose)
    open_chooser (self, GTK_WIDGET (self->kernel_row), _("Choose the Kernel"), self->kernel_row);
  else
    open_chooser (self, GTK_WIDGET (self->initrd_row), _("Choose the Initial Ramdisk"),
                  *gtk_editable_get_text (GTK_EDITABLE (self->initrd_row)) ? self->initrd_row : self->kernel_row);
}

static void
on_add_disk_clicked (VireoMachineSettings *self)
{
  open_chooser (self, self->add_disk_button, _("Add a Disk Image"), NULL);
}

/* ---- the window ---- */

static gboolean
vireo_machine_settings_close_request (GtkWindow *window)
{
  VireoMachineSettings *self = VIREO_MACHINE_SETTINGS (window);

  /* What the user changed last is saved, not lost with the window. */
  if (self->memory_timeout != 0)
    {
      g_clear_handle_id (&self->memory_timeout, g_source_remove);
      apply_memory (self);
    }
  if (self->vcpus_timeout != 0)
    {
      g_clear_handle_id (&self->vcpus_timeout, g_source_remove);
      apply_vcpus (self);
    }
  if (gtk_widget_get_sensitive (self->notes_save))
    save_notes (self);
  return GTK_WINDOW_CLASS (vireo_machine_settings_parent_class)->close_request (window);
}

static void
vireo_machine_settings_dispose (GObject *object)
{
  VireoMachineSettings *self = VIREO_MACHINE_SETTINGS (object);

  self->disposed = TRUE;
  g_clear_handle_id (&self->memory_timeout, g_source_remove);
  g_clear_handle_id (&self->vcpus_timeout, g_source_remove);
  if (self->chooser != NULL)
    gtk_native_dialog_destroy (GTK_NATIVE_DIALOG (self->chooser));
  g_clear_object (&self->chooser);
  if (self->machine != NULL)
    g_signal_handlers_disconnect_by_data (self->machine, self);
  if (self->host != NULL)
    {
      g_signal_handlers_disconnect_by_data (self->host, self);
      g_signal_handlers_disconnect_by_data (vireo_host_get_machines (self->host), self);
    }
  g_clear_object (&self->machine);
  g_clear_object (&self->host);
  gtk_widget_dispose_template (GTK_WIDGET (self), VIREO_TYPE_MACHINE_SETTINGS);

  G_OBJECT_CLASS (vireo_machine_settings_parent_class)->dispose (object);
}

static void
vireo_machine_settings_finalize (GObject *object)
{
  VireoMachineSettings *self = VIREO_MACHINE_SETTINGS (object);

  g_clear_pointer (&self->settings, g_variant_unref);
  g_clear_pointer (&self->disk_rows, g_ptr_array_unref);
  g_free (self->object_path);

  G_OBJECT_CLASS (vireo_machine_settings_parent_class)->finalize (object);
}

static void
vireo_machine_settings_class_init (VireoMachineSettingsClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);
  GtkWindowClass *window_class = GTK_WINDOW_CLASS (klass);

  object_class->dispose = vireo_machine_settings_dispose;
  object_class->finalize = vireo_machine_settings_finalize;
  window_class->close_request = vireo_machine_settings_close_request;

  gtk_widget_class_set_template_from_resource (widget_class, "/org/vireo/Vireo/vireo-machine-settings.ui");
  gtk_widget_class_bind_template_child (widget_class, VireoMachineSettings, name_row);
  gtk_widget_class_bind_template_child (widget_class, VireoMachineSettings, name_message);
  gtk_widget_class_bind_template_child (widget_class, VireoMachineSettings, notes_save);
  gtk_widget_class_bind_template_child (widget_class, VireoMachineSettings, notes_buffer);
  gtk_widget_class_bind_template_child (widget_class, VireoMachineSettings, auto_start_row);
  gtk_widget_class_bind_template_child (widget_class, VireoMachineSettings, auto_stop_row);
  gtk_widget_class_bind_template_child (widget_class, VireoMachineSettings, resources_group);
  gtk_widget_class_bind_template_child (widget_class, VireoMachineSettings, memory_row);
  gtk_widget_class_bind_template_child (widget_class, VireoMachineSettings, memory_warning);
  gtk_widget_class_bind_template_child (widget_class, VireoMachineSettings, vcpus_row);
  gtk_widget_class_bind_template_child (widget_class, VireoMachineSettings, memory_spin);
  gtk_widget_class_bind_template_child (widget_class, VireoMachineSettings, vcpus_spin);
  gtk_widget_class_bind_template_child (widget_class, VireoMachineSettings, memory_adjustment);
  gtk_widget_class_bind_template_child (widget_class, VireoMachineSettings, vcpus_adjustment);
  gtk_widget_class_bind_template_child (widget_class, VireoMachineSettings, resources_message);
  gtk_widget_class_bind_template_child (widget_class, VireoMachineSettings, network_row);
  gtk_widget_class_bind_template_child (widget_class, VireoMachineSettings, display_row);
  gtk_widget_class_bind_template_child (widget_class, VireoMachineSettings, display_switch);
  gtk_widget_class_bind_template_child (widget_class, VireoMachineSettings, disks_group);
  gtk_widget_class_bind_template_child (widget_class, VireoMachineSettings, add_disk_button);
  gtk_widget_class_bind_template_child (widget_class, VireoMachineSettings, no_disks_row);
  gtk_widget_class_bind_template_child (widget_class, VireoMachineSettings, boot_row);
  gtk_widget_class_bind_template_child (widget_class, VireoMachineSettings, kernel_group);
  gtk_widget_class_bind_template_child (widget_class, VireoMachineSettings, kernel_row);
  gtk_widget_class_bind_template_child (widget_class, VireoMachineSettings, initrd_row);
  gtk_widget_class_bind_template_child (widget_class, VireoMachineSettings, cmdline_row);
  gtk_widget_class_bind_template_child (widget_class, VireoMachineSettings, kernel_choose);
  gtk_widget_class_bind_template_child (widget_class, VireoMachineSettings, initrd_choose);
  gtk_widget_class_bind_template_child (widget_class, VireoMachineSettings, boot_message);
  gtk_widget_class_bind_template_child (widget_class, VireoMachineSettings, cpuid_group);
  gtk_widget_class_bind_template_child (widget_class, VireoMachineSettings, cpuid_row);
  gtk_widget_class_bind_template_child (widget_class, VireoMachineSettings, cpuid_message);
  gtk_widget_class_bind_template_callback (widget_class, on_name_changed);
  gtk_widget_class_bind_template_callback (widget_class, on_name_apply);
  gtk_widget_class_bind_template_callback (widget_class, on_notes_changed);
  gtk_widget_class_bind_template_callback (widget_class, on_notes_save);
  gtk_widget_class_bind_template_callback (widget_class, on_auto_start_selected);
  gtk_widget_class_bind_template_callback (widget_class, on_auto_stop_selected);
  gtk_widget_class_bind_template_callback (widget_class, on_memory_changed);
  gtk_widget_class_bind_template_callback (widget_class, on_vcpus_changed);
  gtk_widget_class_bind_template_callback (widget_class, on_network_selected);
  gtk_widget_class_bind_template_callback (widget_class, on_display_toggled);
  gtk_widget_class_bind_template_callback (widget_class, on_add_disk_clicked);
  gtk_widget_class_bind_template_callback (widget_class, on_boot_selected);
  gtk_widget_class_bind_template_callback (widget_class, on_boot_text_changed);
  gtk_widget_class_bind_template_callback (widget_class, on_boot_text_apply);
  gtk_widget_class_bind_template_callback (widget_class, on_choose_clicked);
  gtk_widget_class_bind_template_callback (widget_class, on_cpuid_changed);
  gtk_widget_class_bind_template_callback (widget_class, on_cpuid_apply);
}

static void
vireo_machine_settings_init (VireoMachineSettings *self)
{
  self->disk_rows = g_ptr_array_new ();
  /* Widgets are filled from the service's values before any handler may send them back. */
  self->syncing = 1;
  gtk_widget_init_template (GTK_WIDGET (self));
}

VireoMachineSettings *
vireo_machine_settings_new (GtkWindow *parent, VireoHost *host, VireoDBusMachine *machine)
{
  VireoMachineSettings *self;

  g_return_val_if_fail (VIREO_IS_HOST (host), NULL);
  g_return_val_if_fail (VIREO_DBUS_IS_MACHINE (machine), NULL);

  self = g_object_new (VIREO_TYPE_MACHINE_SETTINGS, "transient-for", parent, "application",
                       parent ? gtk_window_get_application (parent) : NULL, NULL);
  self->host = g_object_ref (host);
  self->machine = g_object_ref (machine);
  self->object_path = g_strdup (g_dbus_proxy_get_object_path (G_DBUS_PROXY (machine)));

  vireo_set_resource_ranges (vireo_host_get_manager (host), self->memory_adjustment, self->vcpus_adjustment);

  on_settings_changed (self);
  self->syncing--;
  on_name_changed_remotely (self);
  update_lock (self);

  g_signal_connect_swapped (machine, "notify::settings", G_CALLBACK (on_settings_changed), self);
  g_signal_connect_swapped (machine, "notify::state", G_CALLBACK (update_lock), self);
  g_signal_connect_swapped (machine, "notify::name", G_CALLBACK (on_name_changed_remotely), self);
  g_signal_connect_swapped (host, "notify::manager", G_CALLBACK (describe_rows), self);
  g_signal_connect_swapped (vireo_host_get_machines (host), "items-changed", G_CALLBACK (on_machines_changed), self);
  return self;
}

/* ---- for the tests (vireo-machine-settings-private.h) ---- */

void
vireo_machine_settings_add_disk (VireoMachineSettings *self, const char *path)
{
  g_return_if_fail (VIREO_IS_MACHINE_SETTINGS (self));
  g_return_if_fail (path != NULL);

  add_disk (self, path);
}

GtkWidget *
vireo_machine_settings_get_disk_row (VireoMachineSettings *self, guint index)
{
  g_return_val_if_fail (VIREO_IS_MACHINE_SETTINGS (self), NULL);

  return index < self->disk_rows->len ? g_ptr_array_index (self->disk_rows, index) : NULL;
}
