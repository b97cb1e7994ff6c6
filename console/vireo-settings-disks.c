/* vireo-settings-disks.c — the Disks page of a machine's settings: one row per disk or CD/DVD drive (what it
 * is, its file, format, size, bus, read-only), and what can be done to them.  Changes to the definition alone
 * (an existing image, an empty drive, removing, read-only, a medium while off) go through Update with the whole
 * new list, as the other pages' settings do; what touches files or a running machine goes through the
 * Machine's disk methods: CreateDisk, ResizeDisk, DetachDisk (deleting the file) and ChangeMedium. */
#include "vireo-settings-disks.h"

#include <glib/gi18n.h>

#include <string.h>

#include "vireo-checks.h"
#include "vireo-format.h"
#include "vireo-machine-calls.h"
#include "vireo-remote-files.h"

#define GIB (G_GUINT64_CONSTANT (1) << 30)

struct _VireoSettingsDisks
{
  VireoSettingsPage parent_instance;

  GPtrArray *rows;
  AdwMessageDialog *dialog; /* the one dialog open now, if any */

  /* Template widgets */
  AdwPreferencesGroup *disks_group;
  GtkWidget *add_disk_button;
  GtkWidget *no_disks_row;
};

G_DEFINE_FINAL_TYPE (VireoSettingsDisks, vireo_settings_disks, VIREO_TYPE_SETTINGS_PAGE)

#define PAGE(self) VIREO_SETTINGS_PAGE (self)

/* ---- what the service has ---- */

static GVariant *
current_disks (VireoSettingsDisks *self)
{
  GVariant *disks = vireo_settings_page_lookup (PAGE (self), "disks");

  if (disks == NULL || !g_variant_is_of_type (disks, G_VARIANT_TYPE ("aa{sv}")))
    {
      g_clear_pointer (&disks, g_variant_unref);
      disks = g_variant_ref_sink (g_variant_new_array (G_VARIANT_TYPE_VARDICT, NULL, 0));
    }
  return disks;
}

/* The disk whose "target" is @target, or NULL. */
static GVariant *
find_disk (VireoSettingsDisks *self, const char *target, gsize *index)
{
  g_autoptr (GVariant) disks = current_disks (self);

  for (gsize i = 0; i < g_variant_n_children (disks); i++)
    {
      g_autoptr (GVariant) disk = g_variant_get_child_value (disks, i);
      const char *other = NULL;

      if (g_variant_lookup (disk, "target", "&s", &other) && g_strcmp0 (other, target) == 0)
        {
          if (index != NULL)
            *index = i;
          return g_steal_pointer (&disk);
        }
    }
  return NULL;
}

static const char *
disk_string (GVariant *disk, const char *key, const char *fallback)
{
  const char *value = NULL;

  return g_variant_lookup (disk, key, "&s", &value) ? value : fallback;
}

static gboolean
is_cdrom (GVariant *disk)
{
  return g_str_equal (disk_string (disk, "device", "disk"), "cdrom");
}

/* The size the guest sees: a qcow2 image's virtual size (its header), a raw image's length; 0 when the file
 * cannot be read (e.g. in a system machine's folder, which only the service enters). */
static guint64
image_size (const char *path, const char *format)
{
  g_autoptr (GFile) file = g_file_new_for_path (path);
  g_autoptr (GFileInputStream) stream = g_file_read (file, NULL, NULL);
  guint8 header[32];
  gsize got = 0;

  if (stream == NULL)
    return 0;
  if (g_str_equal (format, "qcow2"))
    {
      guint64 size;

      if (!g_input_stream_read_all (G_INPUT_STREAM (stream), header, sizeof header, &got, NULL, NULL)
          || got < sizeof header || memcmp (header, "QFI\xfb", 4) != 0)
        return 0;
      memcpy (&size, header + 24, sizeof size);
      return GUINT64_FROM_BE (size);
    }
  else
    {
      g_autoptr (GFileInfo) info = g_file_query_info (file, G_FILE_ATTRIBUTE_STANDARD_SIZE, 0, NULL, NULL);

      return info ? (guint64) g_file_info_get_size (info) : 0;
    }
}

/* Whether @path is in the machine's own folder (<StorageLocation>/<uuid>/), the only place the service
 * deletes images from. */
static gboolean
in_machine_folder (VireoSettingsDisks *self, const char *path)
{
  VireoHost *host = vireo_settings_page_get_host (PAGE (self));
  VireoDBusManager *manager = host ? vireo_host_get_manager (host) : NULL;
  VireoDBusMachine *machine = vireo_settings_page_get_machine (PAGE (self));
  const char *storage = manager ? vireo_dbus_manager_get_storage_location (manager) : NULL;
  g_autofree char *folder = NULL;
  g_autofree char *parent = NULL;

  if (storage == NULL || *storage == '\0' || machine == NULL || path == NULL || *path == '\0')
    return FALSE;
  folder = g_build_filename (storage, vireo_dbus_machine_get_uuid (machine), NULL);
  parent = g_path_get_dirname (path);
  return g_str_equal (folder, parent);
}

/* ---- sending ---- */

/* The disks with the one of @target replaced by @replacement (NULL: removed), or @replacement added at the end
 * when @target is NULL. */
static GVariant *
edited_disks (VireoSettingsDisks *self, const char *target, GVariant *replacement)
{
  g_autoptr (GVariant) disks = current_disks (self);
  g_auto (GVariantBuilder) builder = G_VARIANT_BUILDER_INIT (G_VARIANT_TYPE ("aa{sv}"));
  g_autoptr (GVariant) owned = replacement ? g_variant_ref_sink (replacement) : NULL;

  for (gsize i = 0; i < g_variant_n_children (disks); i++)
    {
      g_autoptr (GVariant) disk = g_variant_get_child_value (disks, i);

      if (target != NULL && g_strcmp0 (disk_string (disk, "target", NULL), target) == 0)
        {
          if (owned != NULL)
            g_variant_builder_add_value (&builder, owned);
          continue;
        }
      g_variant_builder_add_value (&builder, disk);
    }
  if (target == NULL && owned != NULL)
    g_variant_builder_add_value (&builder, owned);
  return g_variant_builder_end (&builder);
}

static GVariant *
with_value (GVariant *disk, const char *key, GVariant *value)
{
  GVariantDict dict;

  g_variant_dict_init (&dict, disk);
  g_variant_dict_insert_value (&dict, key, value);
  return g_variant_dict_end (&dict);
}

typedef struct
{
  GWeakRef self;
  char *method;
} DiskCall;

static DiskCall *
disk_call_new (VireoSettingsDisks *self, const char *method)
{
  DiskCall *call = g_new0 (DiskCall, 1);

  g_weak_ref_init (&call->self, self);
  call->method = g_strdup (method);
  return call;
}

static void
disk_call_free (DiskCall *call)
{
  g_weak_ref_clear (&call->self);
  g_free (call->method);
  g_free (call);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (DiskCall, disk_call_free)

/* A failed disk method, in a dialog: its reason is often longer than a toast's one line. */
static void
show_failure (VireoSettingsDisks *self, const char *method, const char *message)
{
  GtkRoot *root = gtk_widget_get_root (GTK_WIDGET (self));
  const char *heading = g_str_equal (method, "CreateDisk")   ? _ ("The Disk Could Not Be Created")
                        : g_str_equal (method, "ResizeDisk") ? _ ("The Disk Could Not Grow")
                        : g_str_equal (method, "DetachDisk") ? _ ("The Disk Could Not Be Removed")
                                                             : _ ("The Medium Could Not Be Changed");
  GtkWidget *dialog = adw_message_dialog_new (GTK_IS_WINDOW (root) ? GTK_WINDOW (root) : NULL, heading,
                                              message);

  adw_message_dialog_add_response (ADW_MESSAGE_DIALOG (dialog), "close", _ ("_Close"));
  gtk_widget_set_name (dialog, "disk-failure");
  gtk_window_present (GTK_WINDOW (dialog));
}

static void show_disks (VireoSettingsDisks *self, GVariant *disks);

/* Every disk method's answer: a failure needs saying, a grown disk its new size; Settings brings the rest. */
static void
on_disk_call_done (GObject *source, GAsyncResult *result, gpointer data)
{
  g_autoptr (DiskCall) call = data;
  g_autoptr (VireoSettingsDisks) self = g_weak_ref_get (&call->self);
  g_autoptr (GVariant) reply = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *message = NULL;

  reply = g_dbus_proxy_call_finish (G_DBUS_PROXY (source), result, &error);
  if (reply != NULL && self != NULL && g_str_equal (call->method, "ResizeDisk"))
    {
      /* The definition did not change, the image did: its row shows the new size. */
      g_autoptr (GVariant) disks = current_disks (self);
      show_disks (self, disks);
    }
  if (reply != NULL || self == NULL || g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;
  message = vireo_disk_call_error (error, call->method);
  show_failure (self, call->method, message);
}

/* Calls a disk method by the name the API gives it (the generated proxy has one function per method; one path
 * here keeps their replies and failures alike). */
static void
call_disk_method (VireoSettingsDisks *self, const char *method, GVariant *parameters)
{
  VireoDBusMachine *machine = vireo_settings_page_get_machine (PAGE (self));

  g_dbus_proxy_call (G_DBUS_PROXY (machine), method, parameters,
                     G_DBUS_CALL_FLAGS_ALLOW_INTERACTIVE_AUTHORIZATION, -1, NULL, on_disk_call_done,
                     disk_call_new (self, method));
}

/* ---- the rows ---- */

static char *
describe_disk (VireoSettingsDisks *self, GVariant *disk)
{
  const char *path = disk_string (disk, "path", "");
  const char *format = disk_string (disk, "format", "raw");
  const char *bus = disk_string (disk, "bus", is_cdrom (disk) ? "sata" : "virtio");
  const char *target = disk_string (disk, "target", NULL);
  guint32 boot_order = 0;
  g_autoptr (GString) text = g_string_new (NULL);
  guint64 size;

  g_variant_lookup (disk, "boot-order", "u", &boot_order);
  if (is_cdrom (disk) && *path == '\0')
    g_string_append (text, _ ("No medium"));
  else if (is_cdrom (disk))
    g_string_append (text, _ ("CD/DVD"));
  else
    g_string_append (text, g_str_equal (format, "qcow2") ? _ ("qcow2") : _ ("Raw"));
  if (*path != '\0' && (size = image_size (path, format)) > 0)
    {
      g_autofree char *shown = g_format_size_full (size, G_FORMAT_SIZE_IEC_UNITS);
      g_string_append_printf (text, " · %s", shown);
    }
  /* Translators: the bus a disk is on, e.g. "VirtIO" or "SATA". */
  g_string_append_printf (text, " · %s", g_str_equal (bus, "sata") ? _ ("SATA") : _ ("VirtIO"));
  if (target != NULL)
    g_string_append_printf (text, " (%s)", target);
  if (boot_order > 0)
    /* Translators: where a disk is in the firmware's boot order. */
    g_string_append_printf (text, " · %s", boot_order == 1 ? _ ("boots first") : _ ("in the boot order"));
  return g_string_free (g_steal_pointer (&text), FALSE);
}

static GtkWidget *
row_button (const char *icon, const char *tooltip, const char *action, const char *target)
{
  GtkWidget *button = gtk_button_new_from_icon_name (icon);

  gtk_widget_set_valign (button, GTK_ALIGN_CENTER);
  gtk_widget_set_tooltip_text (button, tooltip);
  gtk_widget_add_css_class (button, "flat");
  gtk_actionable_set_action_name (GTK_ACTIONABLE (button), action);
  gtk_actionable_set_action_target (GTK_ACTIONABLE (button), "s", target);
  return button;
}

static void
on_readonly_toggled (GtkCheckButton *check, GParamSpec *pspec, VireoSettingsDisks *self)
{
  const char *target = g_object_get_data (G_OBJECT (check), "disk-target");
  g_autoptr (GVariant) disk = NULL;

  if (vireo_settings_page_is_syncing (PAGE (self)) || (disk = find_disk (self, target, NULL)) == NULL)
    return;
  vireo_settings_page_send (
      PAGE (self), "disks",
      edited_disks (
          self, target,
          with_value (disk, "readonly", g_variant_new_boolean (gtk_check_button_get_active (check)))));
}

static void
update_rows_lock (VireoSettingsDisks *self)
{
  gboolean locked = vireo_settings_page_is_locked (PAGE (self));

  /* Actions, not widgets: an actionable button's sensitivity is its action's. */
  const char *const off_only_actions[] = { "disks.new", "disks.existing", "disks.cdrom", "disks.grow",
                                           "disks.remove" };

  for (guint i = 0; i < G_N_ELEMENTS (off_only_actions); i++)
    gtk_widget_action_set_enabled (GTK_WIDGET (self), off_only_actions[i], !locked);
  gtk_widget_set_sensitive (self->add_disk_button, !locked);
  for (guint i = 0; i < self->rows->len; i++)
    {
      GtkWidget *row = g_ptr_array_index (self->rows, i);
      GtkWidget *off_only = g_object_get_data (G_OBJECT (row), "off-only");

      /* The widgets no action stands for (the read-only check buttons). */
      for (GtkWidget *child = off_only; child != NULL; child = g_object_get_data (G_OBJECT (child), "next"))
        gtk_widget_set_sensitive (child, !locked);
    }
}

static void
link_off_only (GtkWidget *row, GtkWidget *widget)
{
  g_object_set_data (G_OBJECT (widget), "next", g_object_get_data (G_OBJECT (row), "off-only"));
  g_object_set_data (G_OBJECT (row), "off-only", widget);
}

static void
show_disks (VireoSettingsDisks *self, GVariant *disks)
{
  for (guint i = 0; i < self->rows->len; i++)
    adw_preferences_group_remove (self->disks_group, g_ptr_array_index (self->rows, i));
  g_ptr_array_set_size (self->rows, 0);

  for (gsize i = 0; disks && i < g_variant_n_children (disks); i++)
    {
      g_autoptr (GVariant) disk = g_variant_get_child_value (disks, i);
      const char *path = disk_string (disk, "path", "");
      const char *target = disk_string (disk, "target", "");
      gboolean cdrom = is_cdrom (disk);
      gboolean readonly = FALSE;
      g_autofree char *name = NULL;
      g_autofree char *subtitle = describe_disk (self, disk);
      GtkWidget *row = adw_action_row_new ();
      GtkWidget *remove;

      g_variant_lookup (disk, "readonly", "b", &readonly);
      if (*path != '\0')
        name = g_filename_display_basename (path);
      else
        name = g_strdup (_ ("Empty CD/DVD drive"));
      adw_preferences_row_set_use_markup (ADW_PREFERENCES_ROW (row), FALSE);
      adw_preferences_row_set_title (ADW_PREFERENCES_ROW (row), name);
      adw_action_row_set_subtitle (ADW_ACTION_ROW (row), subtitle);
      /* One line of facts; where the file is, in the tooltip (a path would wrap the row into three lines). */
      adw_action_row_set_subtitle_lines (ADW_ACTION_ROW (row), 1);
      gtk_widget_set_tooltip_text (row, *path ? path : NULL);
      adw_action_row_add_prefix (
          ADW_ACTION_ROW (row),
          gtk_image_new_from_icon_name (cdrom ? "media-optical-symbolic" : "drive-harddisk-symbolic"));
      g_object_set_data_full (G_OBJECT (row), "disk-target", g_strdup (target), g_free);

      if (cdrom)
        {
          GtkWidget *choose = row_button ("document-open-symbolic", _ ("Choose the medium (an ISO file)"),
                                          "disks.choose-medium", target);
          GtkWidget *eject = row_button ("media-eject-symbolic", _ ("Eject the medium"),
                                         *path != '\0' ? "disks.eject" : NULL, target);

          gtk_widget_set_name (choose, "choose-medium");
          gtk_widget_set_name (eject, "eject");
          /* Nothing to eject from an empty drive. */
          gtk_widget_set_sensitive (eject, *path != '\0');
          adw_action_row_add_suffix (ADW_ACTION_ROW (row), choose);
          adw_action_row_add_suffix (ADW_ACTION_ROW (row), eject);
        }
      else
        {
          GtkWidget *check = gtk_check_button_new_with_mnemonic (_ ("_Read-only"));
          GtkWidget *grow = gtk_button_new_with_mnemonic (_ ("_Grow…"));

          gtk_widget_set_valign (grow, GTK_ALIGN_CENTER);
          gtk_widget_set_tooltip_text (grow, _ ("Make the disk larger"));
          gtk_widget_add_css_class (grow, "flat");
          gtk_actionable_set_action_name (GTK_ACTIONABLE (grow), "disks.grow");
          gtk_actionable_set_action_target (GTK_ACTIONABLE (grow), "s", target);

          gtk_check_button_set_active (GTK_CHECK_BUTTON (check), readonly);
          gtk_widget_set_valign (check, GTK_ALIGN_CENTER);
          g_object_set_data_full (G_OBJECT (check), "disk-target", g_strdup (target), g_free);
          g_signal_connect (check, "notify::active", G_CALLBACK (on_readonly_toggled), self);
          gtk_widget_set_name (grow, "grow");
          adw_action_row_add_suffix (ADW_ACTION_ROW (row), check);
          adw_action_row_add_suffix (ADW_ACTION_ROW (row), grow);
          link_off_only (row, check);
        }
      remove = row_button ("user-trash-symbolic",
                           cdrom ? _ ("Remove the drive from the machine")
                                 : _ ("Remove the disk from the machine"),
                           "disks.remove", target);
      gtk_widget_set_name (remove, "remove");
      adw_action_row_add_suffix (ADW_ACTION_ROW (row), remove);

      adw_preferences_group_add (self->disks_group, row);
      g_ptr_array_add (self->rows, row);
    }
  gtk_widget_set_visible (self->no_disks_row, self->rows->len == 0);
  update_rows_lock (self);
}

/* ---- adding ---- */

static void
add_image (VireoSettingsDisks *self, const char *path)
{
  g_autoptr (GVariant) disks = current_disks (self);
  VireoHost *host = vireo_settings_page_get_host (PAGE (self));
  gboolean remote = vireo_host_files_are_remote (host);
  g_autofree char *reason = vireo_check_host_file (host, path, FALSE);
  g_autofree char *not_writable = NULL;
  const char *format;
  GVariantDict dict;

  if (reason != NULL)
    {
      vireo_settings_page_toast (PAGE (self), reason);
      return;
    }
  for (gsize i = 0; i < g_variant_n_children (disks); i++)
    {
      g_autoptr (GVariant) disk = g_variant_get_child_value (disks, i);

      if (g_strcmp0 (disk_string (disk, "path", NULL), path) == 0)
        {
          g_autofree char *display = g_filename_display_basename (path);
          g_autofree char *message = g_strdup_printf (_ ("“%s” is already one of the machine’s disks."),
                                                      display);
          vireo_settings_page_toast (PAGE (self), message);
          return;
        }
    }
  g_variant_dict_init (&dict, NULL);
  g_variant_dict_insert (&dict, "path", "s", path);
  /* A remote host's image cannot be read or judged from here: its service does both. */
  if (!remote)
    {
      format = vireo_detect_image_format (path);
      g_variant_dict_insert (&dict, "format", "s", format ? format : "raw");
    }
  /* An image the user cannot write is still useful to the guest, read-only. */
  not_writable = remote ? NULL : vireo_check_machine_file (path, TRUE);
  g_variant_dict_insert (&dict, "readonly", "b", not_writable != NULL);
  vireo_settings_page_send (PAGE (self), "disks", edited_disks (self, NULL, g_variant_dict_end (&dict)));
}

static void
on_image_chosen (VireoSettingsPage *page, GtkWidget *target, const char *path)
{
  add_image (VIREO_SETTINGS_DISKS (page), path);
}

static void
on_add_existing (GtkWidget *widget, const char *action, GVariant *parameter)
{
  VireoSettingsDisks *self = VIREO_SETTINGS_DISKS (widget);

  vireo_settings_page_choose_file (PAGE (self), self->add_disk_button, _ ("Add a Disk Image"),
                                   VIREO_FILES_IMAGES, NULL, on_image_chosen);
}

static void
on_add_cdrom (GtkWidget *widget, const char *action, GVariant *parameter)
{
  VireoSettingsDisks *self = VIREO_SETTINGS_DISKS (widget);
  g_auto (GVariantDict) dict = G_VARIANT_DICT_INIT (NULL);

  g_variant_dict_insert (&dict, "path", "s", "");
  g_variant_dict_insert (&dict, "device", "s", "cdrom");
  g_variant_dict_insert (&dict, "bus", "s", "sata");
  g_variant_dict_insert (&dict, "readonly", "b", TRUE);
  vireo_settings_page_send (PAGE (self), "disks", edited_disks (self, NULL, g_variant_dict_end (&dict)));
}

/* ---- dialogs ---- */

static void
forget_dialog (VireoSettingsDisks *self)
{
  self->dialog = NULL;
}

static AdwMessageDialog *
new_dialog (VireoSettingsDisks *self, const char *heading, const char *body, const char *confirm,
            AdwResponseAppearance appearance)
{
  GtkRoot *root = gtk_widget_get_root (GTK_WIDGET (self));
  AdwMessageDialog *dialog = ADW_MESSAGE_DIALOG (
      adw_message_dialog_new (GTK_IS_WINDOW (root) ? GTK_WINDOW (root) : NULL, heading, body));

  adw_message_dialog_add_responses (dialog, "cancel", _ ("_Cancel"), "confirm", confirm, NULL);
  adw_message_dialog_set_response_appearance (dialog, "confirm", appearance);
  adw_message_dialog_set_default_response (dialog, "confirm");
  adw_message_dialog_set_close_response (dialog, "cancel");
  self->dialog = dialog;
  g_signal_connect_object (dialog, "destroy", G_CALLBACK (forget_dialog), self, G_CONNECT_SWAPPED);
  return dialog;
}

/* A size in GiB: a spin button and its unit, in a row. */
static GtkWidget *
size_box (GtkSpinButton **spin, double lower, double value)
{
  GtkWidget *box = gtk_box_new (GTK_ORIENTATION_HORIZONTAL, 6);
  GtkAdjustment *adjustment = gtk_adjustment_new (value, lower, 65536, 1, 10, 0);
  GtkWidget *label = gtk_label_new (_ ("Size"));
  GtkWidget *unit = gtk_label_new (_ ("GiB"));

  *spin = GTK_SPIN_BUTTON (gtk_spin_button_new (adjustment, 1, 0));
  gtk_spin_button_set_numeric (*spin, TRUE);
  gtk_widget_set_hexpand (label, TRUE);
  gtk_label_set_xalign (GTK_LABEL (label), 0.0);
  gtk_box_append (GTK_BOX (box), label);
  gtk_box_append (GTK_BOX (box), GTK_WIDGET (*spin));
  gtk_box_append (GTK_BOX (box), unit);
  return box;
}

static void
on_new_disk_response (AdwMessageDialog *dialog, const char *response, VireoSettingsDisks *self)
{
  GtkSpinButton *spin = g_object_get_data (G_OBJECT (dialog), "size");
  GtkDropDown *format = g_object_get_data (G_OBJECT (dialog), "format");
  g_auto (GVariantDict) options = G_VARIANT_DICT_INIT (NULL);
  guint64 size;

  if (!g_str_equal (response, "confirm"))
    return;
  gtk_spin_button_update (spin);
  size = (guint64) gtk_spin_button_get_value_as_int (spin) * GIB;
  g_variant_dict_insert (&options, "format", "s", gtk_drop_down_get_selected (format) == 1 ? "raw" : "qcow2");
  g_variant_dict_insert (&options, "bus", "s", "virtio");
  call_disk_method (self, "CreateDisk", g_variant_new ("(t@a{sv})", size, g_variant_dict_end (&options)));
}

static void
on_add_new (GtkWidget *widget, const char *action, GVariant *parameter)
{
  VireoSettingsDisks *self = VIREO_SETTINGS_DISKS (widget);
  AdwMessageDialog *dialog = new_dialog (
      self, _ ("New Disk"),
      _ ("An empty disk in the machine’s folder. A qcow2 disk takes room "
         "only as the machine writes to it; a raw one is simpler for other "
         "tools."),
      _ ("C_reate"), ADW_RESPONSE_SUGGESTED);
  GtkWidget *box = gtk_box_new (GTK_ORIENTATION_VERTICAL, 12);
  GtkWidget *format_box = gtk_box_new (GTK_ORIENTATION_HORIZONTAL, 6);
  GtkWidget *format_label = gtk_label_new (_ ("Format"));
  const char *formats[] = { _ ("qcow2"), _ ("Raw"), NULL };
  GtkWidget *format = gtk_drop_down_new_from_strings (formats);
  GtkSpinButton *spin;

  gtk_box_append (GTK_BOX (box), size_box (&spin, 1, 20));
  gtk_widget_set_hexpand (format_label, TRUE);
  gtk_label_set_xalign (GTK_LABEL (format_label), 0.0);
  gtk_box_append (GTK_BOX (format_box), format_label);
  gtk_box_append (GTK_BOX (format_box), format);
  gtk_box_append (GTK_BOX (box), format_box);
  adw_message_dialog_set_extra_child (dialog, box);
  g_object_set_data (G_OBJECT (dialog), "size", spin);
  g_object_set_data (G_OBJECT (dialog), "format", format);
  g_signal_connect_object (dialog, "response", G_CALLBACK (on_new_disk_response), self, 0);
  gtk_window_present (GTK_WINDOW (dialog));
}

static void
on_grow_response (AdwMessageDialog *dialog, const char *response, VireoSettingsDisks *self)
{
  GtkSpinButton *spin = g_object_get_data (G_OBJECT (dialog), "size");
  const char *target = g_object_get_data (G_OBJECT (dialog), "disk-target");
  guint64 current = *(guint64 *) g_object_get_data (G_OBJECT (dialog), "current");
  guint64 size;

  if (!g_str_equal (response, "confirm"))
    return;
  gtk_spin_button_update (spin);
  size = (guint64) gtk_spin_button_get_value_as_int (spin) * GIB;
  if (size <= current)
    return; /* only larger: the spin button's lower bound */
  call_disk_method (self, "ResizeDisk", g_variant_new ("(st)", target, size));
}

static void
on_grow (GtkWidget *widget, const char *action, GVariant *parameter)
{
  VireoSettingsDisks *self = VIREO_SETTINGS_DISKS (widget);
  const char *target = g_variant_get_string (parameter, NULL);
  g_autoptr (GVariant) disk = find_disk (self, target, NULL);
  g_autofree char *name = NULL;
  g_autofree char *body = NULL;
  g_autofree char *shown = NULL;
  AdwMessageDialog *dialog;
  GtkSpinButton *spin;
  guint64 *current;

  if (disk == NULL)
    return;
  current = g_new (guint64, 1);
  *current = image_size (disk_string (disk, "path", ""), disk_string (disk, "format", "raw"));
  name = g_filename_display_basename (disk_string (disk, "path", ""));
  shown = *current ? g_format_size_full (*current, G_FORMAT_SIZE_IEC_UNITS) : g_strdup (_ ("unknown"));
  /* Translators: %s is the disk's size now, e.g. "20.0 GiB". */
  body = g_strdup_printf (_ ("The disk is %s now. It can only grow: the guest then has to enlarge its "
                             "partitions to use the new room."),
                          shown);
  /* Translators: %s is a disk image's file name. */
  dialog = new_dialog (self, name, body, _ ("_Grow"), ADW_RESPONSE_SUGGESTED);
  adw_message_dialog_format_heading (dialog, _ ("Grow “%s”"), name);
  /* The smallest choice is the next whole GiB above what the disk has. */
  adw_message_dialog_set_extra_child (
      dialog, size_box (&spin, (double) (*current / GIB + 1), (double) (*current / GIB + 1)));
  g_object_set_data (G_OBJECT (dialog), "size", spin);
  g_object_set_data_full (G_OBJECT (dialog), "disk-target", g_strdup (target), g_free);
  g_object_set_data_full (G_OBJECT (dialog), "current", current, g_free);
  g_signal_connect_object (dialog, "response", G_CALLBACK (on_grow_response), self, 0);
  gtk_window_present (GTK_WINDOW (dialog));
}

static void
on_remove_response (AdwMessageDialog *dialog, const char *response, VireoSettingsDisks *self)
{
  GtkCheckButton *delete_check = g_object_get_data (G_OBJECT (dialog), "delete");
  const char *target = g_object_get_data (G_OBJECT (dialog), "disk-target");

  if (!g_str_equal (response, "confirm"))
    return;
  if (delete_check != NULL && gtk_check_button_get_active (delete_check))
    call_disk_method (self, "DetachDisk", g_variant_new ("(sb)", target, TRUE));
  else
    vireo_settings_page_send (PAGE (self), "disks", edited_disks (self, target, NULL));
}

static void
on_remove (GtkWidget *widget, const char *action, GVariant *parameter)
{
  VireoSettingsDisks *self = VIREO_SETTINGS_DISKS (widget);
  const char *target = g_variant_get_string (parameter, NULL);
  g_autoptr (GVariant) disk = find_disk (self, target, NULL);
  const char *path;
  g_autofree char *name = NULL;
  AdwMessageDialog *dialog;

  if (disk == NULL)
    return;
  path = disk_string (disk, "path", "");
  if (is_cdrom (disk))
    {
      /* A drive holds nothing of the machine's: no question to ask. */
      vireo_settings_page_send (PAGE (self), "disks", edited_disks (self, target, NULL));
      return;
    }
  name = g_filename_display_basename (path);
  dialog = new_dialog (self, name,
                       in_machine_folder (self, path)
                           ? _ ("The machine will no longer see this disk. Its image is in the machine’s "
                                "folder: it can be kept, or deleted with everything on it.")
                           : _ ("The machine will no longer see this disk. The image stays where it is."),
                       _ ("_Remove"), ADW_RESPONSE_DESTRUCTIVE);
  adw_message_dialog_format_heading (dialog, _ ("Remove “%s”?"), name);
  if (in_machine_folder (self, path))
    {
      GtkWidget *check = gtk_check_button_new_with_mnemonic (_ ("Also _delete the image file"));

      adw_message_dialog_set_extra_child (dialog, check);
      g_object_set_data (G_OBJECT (dialog), "delete", check);
    }
  g_object_set_data_full (G_OBJECT (dialog), "disk-target", g_strdup (target), g_free);
  g_signal_connect_object (dialog, "response", G_CALLBACK (on_remove_response), self, 0);
  gtk_window_present (GTK_WINDOW (dialog));
}

/* ---- the CD's medium ---- */

static void
change_medium (VireoSettingsDisks *self, const char *target, const char *path)
{
  g_autoptr (GVariant) disk = find_disk (self, target, NULL);

  if (disk == NULL)
    return;
  if (*path != '\0')
    {
      g_autofree char *reason = vireo_check_host_file (vireo_settings_page_get_host (PAGE (self)), path,
                                                       FALSE);

      if (reason != NULL)
        {
          vireo_settings_page_toast (PAGE (self), reason);
          return;
        }
    }
  /* Off, the medium is part of the definition; running, the drive's tray opens and closes. */
  if (vireo_settings_page_is_locked (PAGE (self)))
    call_disk_method (self, "ChangeMedium", g_variant_new ("(ss)", target, path));
  else
    vireo_settings_page_send (
        PAGE (self), "disks",
        edited_disks (self, target, with_value (disk, "path", g_variant_new_string (path))));
}

static void
on_medium_chosen (VireoSettingsPage *page, GtkWidget *target, const char *path)
{
  change_medium (VIREO_SETTINGS_DISKS (page), g_object_get_data (G_OBJECT (target), "medium-target"), path);
}

static void
on_choose_medium (GtkWidget *widget, const char *action, GVariant *parameter)
{
  VireoSettingsDisks *self = VIREO_SETTINGS_DISKS (widget);
  const char *target = g_variant_get_string (parameter, NULL);
  g_autoptr (GVariant) disk = find_disk (self, target, NULL);

  if (disk == NULL)
    return;
  /* The Add button stands for the page while the dialog is open; it carries the drive asked about. */
  g_object_set_data_full (G_OBJECT (self->add_disk_button), "medium-target", g_strdup (target), g_free);
  vireo_settings_page_choose_file (PAGE (self), self->add_disk_button, _ ("Choose the Medium"),
                                   VIREO_FILES_ISO, disk_string (disk, "path", NULL), on_medium_chosen);
}

static void
on_eject (GtkWidget *widget, const char *action, GVariant *parameter)
{
  change_medium (VIREO_SETTINGS_DISKS (widget), g_variant_get_string (parameter, NULL), "");
}

/* ---- the page ---- */

static gboolean
vireo_settings_disks_sync_key (VireoSettingsPage *page, const char *key, GVariant *value)
{
  if (!g_str_equal (key, "disks") || !g_variant_is_of_type (value, G_VARIANT_TYPE ("aa{sv}")))
    return FALSE;
  show_disks (VIREO_SETTINGS_DISKS (page), value);
  return TRUE;
}

static void
vireo_settings_disks_update_lock (VireoSettingsPage *page)
{
  update_rows_lock (VIREO_SETTINGS_DISKS (page));
}

static void
vireo_settings_disks_describe (VireoSettingsPage *page)
{
  VireoSettingsDisks *self = VIREO_SETTINGS_DISKS (page);

  adw_preferences_group_set_description (
      self->disks_group, vireo_settings_page_is_locked (page)
                             ? _ ("Turn the machine off to add, grow or remove disks. A CD/DVD drive’s "
                                  "medium can be changed at any time.")
                             : _ ("What the machine sees as its disks and CD/DVD drives."));
}

static void
vireo_settings_disks_dispose (GObject *object)
{
  VireoSettingsDisks *self = VIREO_SETTINGS_DISKS (object);

  if (self->dialog != NULL)
    gtk_window_destroy (GTK_WINDOW (self->dialog));
  gtk_widget_dispose_template (GTK_WIDGET (object), VIREO_TYPE_SETTINGS_DISKS);
  G_OBJECT_CLASS (vireo_settings_disks_parent_class)->dispose (object);
}

static void
vireo_settings_disks_finalize (GObject *object)
{
  VireoSettingsDisks *self = VIREO_SETTINGS_DISKS (object);

  g_clear_pointer (&self->rows, g_ptr_array_unref);
  G_OBJECT_CLASS (vireo_settings_disks_parent_class)->finalize (object);
}

static void
vireo_settings_disks_class_init (VireoSettingsDisksClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);
  VireoSettingsPageClass *page_class = VIREO_SETTINGS_PAGE_CLASS (klass);

  object_class->dispose = vireo_settings_disks_dispose;
  object_class->finalize = vireo_settings_disks_finalize;
  page_class->sync_key = vireo_settings_disks_sync_key;
  page_class->update_lock = vireo_settings_disks_update_lock;
  page_class->describe = vireo_settings_disks_describe;

  gtk_widget_class_install_action (widget_class, "disks.new", NULL, on_add_new);
  gtk_widget_class_install_action (widget_class, "disks.existing", NULL, on_add_existing);
  gtk_widget_class_install_action (widget_class, "disks.cdrom", NULL, on_add_cdrom);
  gtk_widget_class_install_action (widget_class, "disks.grow", "s", on_grow);
  gtk_widget_class_install_action (widget_class, "disks.remove", "s", on_remove);
  gtk_widget_class_install_action (widget_class, "disks.choose-medium", "s", on_choose_medium);
  gtk_widget_class_install_action (widget_class, "disks.eject", "s", on_eject);

  gtk_widget_class_set_template_from_resource (widget_class, "/org/vireo/Vireo/vireo-settings-disks.ui");
  gtk_widget_class_bind_template_child (widget_class, VireoSettingsDisks, disks_group);
  gtk_widget_class_bind_template_child (widget_class, VireoSettingsDisks, add_disk_button);
  gtk_widget_class_bind_template_child (widget_class, VireoSettingsDisks, no_disks_row);
}

static void
vireo_settings_disks_init (VireoSettingsDisks *self)
{
  self->rows = g_ptr_array_new ();
  gtk_widget_init_template (GTK_WIDGET (self));
}

void
vireo_settings_disks_add_image (VireoSettingsDisks *self, const char *path)
{
  g_return_if_fail (VIREO_IS_SETTINGS_DISKS (self));
  g_return_if_fail (path != NULL);

  add_image (self, path);
}

void
vireo_settings_disks_change_medium (VireoSettingsDisks *self, const char *target, const char *path)
{
  g_return_if_fail (VIREO_IS_SETTINGS_DISKS (self));
  g_return_if_fail (target != NULL && path != NULL);

  change_medium (self, target, path);
}

GtkWidget *
vireo_settings_disks_get_row (VireoSettingsDisks *self, guint index)
{
  g_return_val_if_fail (VIREO_IS_SETTINGS_DISKS (self), NULL);

  return index < self->rows->len ? g_ptr_array_index (self->rows, index) : NULL;
}

AdwMessageDialog *
vireo_settings_disks_get_dialog (VireoSettingsDisks *self)
{
  g_return_val_if_fail (VIREO_IS_SETTINGS_DISKS (self), NULL);

  return self->dialog;
}
