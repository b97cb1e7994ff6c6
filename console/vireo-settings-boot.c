/* vireo-settings-boot.c — the Boot page of a machine's settings: whether it starts from a kernel file or its
 * first disk, and the kernel, initial ramdisk and command line, each checked as typed and applied with Enter
 * or when a file is chosen. */
#include "vireo-settings-boot.h"

#include <glib/gi18n.h>

#include "vireo-checks.h"

/* Order of the boot combo row's items, as the service spells them. */
static const char *const boot_values[] = { "kernel", "disk", NULL };

struct _VireoSettingsBoot
{
  VireoSettingsPage parent_instance;

  /* Template widgets */
  AdwComboRow *boot_row;
  AdwPreferencesGroup *kernel_group;
  AdwEntryRow *kernel_row;
  AdwEntryRow *initrd_row;
  AdwEntryRow *cmdline_row;
  GtkWidget *kernel_choose;
  GtkWidget *initrd_choose;
  GtkLabel *boot_message;
};

G_DEFINE_FINAL_TYPE (VireoSettingsBoot, vireo_settings_boot, VIREO_TYPE_SETTINGS_PAGE)

#define PAGE(self) VIREO_SETTINGS_PAGE (self)

static char *
check_boot_text (VireoSettingsBoot *self, AdwEntryRow *row)
{
  g_autofree char *text = vireo_entry_row_get_stripped_text (row);

  if (row == self->cmdline_row)
    return vireo_check_cmdline (gtk_editable_get_text (GTK_EDITABLE (row)));
  if (*text == '\0')
    return row == self->kernel_row ? g_strdup (_ ("A machine that boots a kernel needs a kernel file."))
                                   : NULL;
  return vireo_check_machine_file (text, FALSE);
}

static const char *
boot_key (VireoSettingsBoot *self, AdwEntryRow *row)
{
  return row == self->kernel_row ? "kernel" : row == self->initrd_row ? "initrd" : "cmdline";
}

static void
describe (VireoSettingsBoot *self)
{
  gboolean locked = vireo_settings_page_is_locked (PAGE (self));

  adw_action_row_set_subtitle (
      ADW_ACTION_ROW (self->boot_row),
      locked ? vireo_settings_lock_text ()
      : adw_combo_row_get_selected (self->boot_row) == 0
          ? _ ("A kernel file, started directly")
          : _ ("The firmware starts the disks and CD/DVD drives in their boot order (see Disks)"));
  adw_preferences_group_set_description (self->kernel_group,
                                         locked ? vireo_settings_locked_group_text ()
                                                : _ ("A PVH ELF or bzImage kernel. Type a path or choose a "
                                                     "file; press Enter to apply."));
}

/* ---- the user's changes ---- */

static void
on_boot_selected (VireoSettingsBoot *self)
{
  const char *boot = vireo_settings_value_at (boot_values, adw_combo_row_get_selected (self->boot_row));

  describe (self);
  if (!vireo_settings_page_is_syncing (PAGE (self)))
    vireo_settings_page_send (PAGE (self), "boot", g_variant_new_string (boot));
}

static void
on_boot_text_changed (VireoSettingsBoot *self, AdwEntryRow *row)
{
  g_autofree char *reason = NULL;

  if (vireo_settings_page_is_syncing (PAGE (self)))
    return;
  reason = check_boot_text (self, row);
  vireo_settings_show_reason (self->boot_message, GTK_WIDGET (row), reason);
}

static void
on_boot_text_apply (VireoSettingsBoot *self, AdwEntryRow *row)
{
  g_autofree char *reason = check_boot_text (self, row);
  g_autofree char *value = row == self->cmdline_row ? g_strdup (gtk_editable_get_text (GTK_EDITABLE (row)))
                                                    : vireo_entry_row_get_stripped_text (row);
  g_autofree char *current = vireo_settings_page_lookup_string (PAGE (self), boot_key (self, row));

  vireo_settings_show_reason (self->boot_message, GTK_WIDGET (row), reason);
  if (reason == NULL && g_strcmp0 (value, current) != 0)
    vireo_settings_page_send (PAGE (self), boot_key (self, row), g_variant_new_string (value));
}

/* A chosen file is meant at once, as if typed and applied. */
static void
on_file_chosen (VireoSettingsPage *page, GtkWidget *target, const char *path)
{
  gtk_editable_set_text (GTK_EDITABLE (target), path);
  on_boot_text_apply (VIREO_SETTINGS_BOOT (page), ADW_ENTRY_ROW (target));
}

static void
on_choose_clicked (VireoSettingsBoot *self, GtkWidget *button)
{
  g_autofree char *near = NULL;

  if (button == self->kernel_choose)
    {
      near = vireo_entry_row_get_stripped_text (self->kernel_row);
      vireo_settings_page_choose_file (PAGE (self), GTK_WIDGET (self->kernel_row), _ ("Choose the Kernel"),
                                       VIREO_FILES_ANY, near, on_file_chosen);
    }
  else
    {
      near = vireo_entry_row_get_stripped_text (
          *gtk_editable_get_text (GTK_EDITABLE (self->initrd_row)) ? self->initrd_row : self->kernel_row);
      vireo_settings_page_choose_file (PAGE (self), GTK_WIDGET (self->initrd_row),
                                       _ ("Choose the Initial Ramdisk"), VIREO_FILES_ANY, near,
                                       on_file_chosen);
    }
}

/* ---- the window's calls ---- */

static gboolean
vireo_settings_boot_sync_key (VireoSettingsPage *page, const char *key, GVariant *value)
{
  VireoSettingsBoot *self = VIREO_SETTINGS_BOOT (page);
  const char *text = g_variant_is_of_type (value, G_VARIANT_TYPE_STRING) ? g_variant_get_string (value, NULL)
                                                                         : "";

  if (g_str_equal (key, "boot"))
    {
      adw_combo_row_set_selected (self->boot_row, vireo_settings_index_of (boot_values, text));
      gtk_widget_set_visible (GTK_WIDGET (self->kernel_group), !g_str_equal (text, "disk"));
      return TRUE;
    }
  if (g_str_equal (key, "kernel"))
    vireo_settings_set_entry_text (self->kernel_row, text);
  else if (g_str_equal (key, "initrd"))
    vireo_settings_set_entry_text (self->initrd_row, text);
  else if (g_str_equal (key, "cmdline"))
    vireo_settings_set_entry_text (self->cmdline_row, text);
  else
    return FALSE;
  gtk_widget_set_visible (GTK_WIDGET (self->boot_message), FALSE);
  return TRUE;
}

static GtkLabel *
vireo_settings_boot_message_for_key (VireoSettingsPage *page, const char *key, GtkWidget **field)
{
  VireoSettingsBoot *self = VIREO_SETTINGS_BOOT (page);

  if (g_str_equal (key, "kernel"))
    *field = GTK_WIDGET (self->kernel_row);
  else if (g_str_equal (key, "initrd"))
    *field = GTK_WIDGET (self->initrd_row);
  else if (g_str_equal (key, "cmdline"))
    *field = GTK_WIDGET (self->cmdline_row);
  else
    return NULL;
  return self->boot_message;
}

static void
vireo_settings_boot_update_lock (VireoSettingsPage *page)
{
  VireoSettingsBoot *self = VIREO_SETTINGS_BOOT (page);
  gboolean locked = vireo_settings_page_is_locked (page);

  gtk_widget_set_sensitive (GTK_WIDGET (self->boot_row), !locked);
  gtk_widget_set_sensitive (GTK_WIDGET (self->kernel_row), !locked);
  gtk_widget_set_sensitive (GTK_WIDGET (self->initrd_row), !locked);
  gtk_widget_set_sensitive (GTK_WIDGET (self->cmdline_row), !locked);
}

static void
vireo_settings_boot_describe (VireoSettingsPage *page)
{
  describe (VIREO_SETTINGS_BOOT (page));
}

static void
vireo_settings_boot_dispose (GObject *object)
{
  gtk_widget_dispose_template (GTK_WIDGET (object), VIREO_TYPE_SETTINGS_BOOT);
  G_OBJECT_CLASS (vireo_settings_boot_parent_class)->dispose (object);
}

static void
vireo_settings_boot_class_init (VireoSettingsBootClass *klass)
{
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);
  VireoSettingsPageClass *page_class = VIREO_SETTINGS_PAGE_CLASS (klass);

  G_OBJECT_CLASS (klass)->dispose = vireo_settings_boot_dispose;
  page_class->sync_key = vireo_settings_boot_sync_key;
  page_class->message_for_key = vireo_settings_boot_message_for_key;
  page_class->update_lock = vireo_settings_boot_update_lock;
  page_class->describe = vireo_settings_boot_describe;

  gtk_widget_class_set_template_from_resource (widget_class, "/org/vireo/Vireo/vireo-settings-boot.ui");
  gtk_widget_class_bind_template_child (widget_class, VireoSettingsBoot, boot_row);
  gtk_widget_class_bind_template_child (widget_class, VireoSettingsBoot, kernel_group);
  gtk_widget_class_bind_template_child (widget_class, VireoSettingsBoot, kernel_row);
  gtk_widget_class_bind_template_child (widget_class, VireoSettingsBoot, initrd_row);
  gtk_widget_class_bind_template_child (widget_class, VireoSettingsBoot, cmdline_row);
  gtk_widget_class_bind_template_child (widget_class, VireoSettingsBoot, kernel_choose);
  gtk_widget_class_bind_template_child (widget_class, VireoSettingsBoot, initrd_choose);
  gtk_widget_class_bind_template_child (widget_class, VireoSettingsBoot, boot_message);
  gtk_widget_class_bind_template_callback (widget_class, on_boot_selected);
  gtk_widget_class_bind_template_callback (widget_class, on_boot_text_changed);
  gtk_widget_class_bind_template_callback (widget_class, on_boot_text_apply);
  gtk_widget_class_bind_template_callback (widget_class, on_choose_clicked);
}

static void
vireo_settings_boot_init (VireoSettingsBoot *self)
{
  gtk_widget_init_template (GTK_WIDGET (self));
}
