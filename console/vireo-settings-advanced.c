/* vireo-settings-advanced.c — the Advanced page of a machine's settings: the CPUID mask (features the guest
 * does not see), checked as typed and applied with Enter; the service says itself which names it knows. */
#include "vireo-settings-advanced.h"

#include <glib/gi18n.h>

#include "vireo-checks.h"

struct _VireoSettingsAdvanced
{
  VireoSettingsPage parent_instance;

  /* Template widgets */
  AdwPreferencesGroup *cpuid_group;
  AdwEntryRow *cpuid_row;
  GtkLabel *cpuid_message;
};

G_DEFINE_FINAL_TYPE (VireoSettingsAdvanced, vireo_settings_advanced, VIREO_TYPE_SETTINGS_PAGE)

#define PAGE(self) VIREO_SETTINGS_PAGE (self)

static void
on_cpuid_changed (VireoSettingsAdvanced *self)
{
  g_autofree char *reason = NULL;

  if (vireo_settings_page_is_syncing (PAGE (self)))
    return;
  reason = vireo_check_cpuid_mask (gtk_editable_get_text (GTK_EDITABLE (self->cpuid_row)));
  vireo_settings_show_reason (self->cpuid_message, GTK_WIDGET (self->cpuid_row), reason);
}

static void
on_cpuid_apply (VireoSettingsAdvanced *self)
{
  g_autofree char *mask = vireo_entry_row_get_stripped_text (self->cpuid_row);
  g_autofree char *reason = vireo_check_cpuid_mask (mask);
  g_autofree char *current = vireo_settings_page_lookup_string (PAGE (self), "cpuid-mask");

  vireo_settings_show_reason (self->cpuid_message, GTK_WIDGET (self->cpuid_row), reason);
  if (reason == NULL && g_strcmp0 (mask, current) != 0)
    vireo_settings_page_send (PAGE (self), "cpuid-mask", g_variant_new_string (mask));
}

/* ---- the window's calls ---- */

static gboolean
vireo_settings_advanced_sync_key (VireoSettingsPage *page, const char *key, GVariant *value)
{
  VireoSettingsAdvanced *self = VIREO_SETTINGS_ADVANCED (page);

  if (!g_str_equal (key, "cpuid-mask"))
    return FALSE;
  vireo_settings_set_entry_text (self->cpuid_row, g_variant_is_of_type (value, G_VARIANT_TYPE_STRING)
                                                      ? g_variant_get_string (value, NULL)
                                                      : "");
  gtk_widget_set_visible (GTK_WIDGET (self->cpuid_message), FALSE);
  return TRUE;
}

static GtkLabel *
vireo_settings_advanced_message_for_key (VireoSettingsPage *page, const char *key, GtkWidget **field)
{
  VireoSettingsAdvanced *self = VIREO_SETTINGS_ADVANCED (page);

  if (!g_str_equal (key, "cpuid-mask"))
    return NULL;
  *field = GTK_WIDGET (self->cpuid_row);
  return self->cpuid_message;
}

static void
vireo_settings_advanced_update_lock (VireoSettingsPage *page)
{
  gtk_widget_set_sensitive (GTK_WIDGET (VIREO_SETTINGS_ADVANCED (page)->cpuid_row),
                            !vireo_settings_page_is_locked (page));
}

static void
vireo_settings_advanced_describe (VireoSettingsPage *page)
{
  VireoSettingsAdvanced *self = VIREO_SETTINGS_ADVANCED (page);

  adw_preferences_group_set_description (
      self->cpuid_group, vireo_settings_page_is_locked (page)
                             ? vireo_settings_locked_group_text ()
                             : _ ("Features the guest does not see, such as “-cx16”: flag names of "
                                  "/proc/cpuinfo, each after a minus, separated by commas. Useful "
                                  "to work around a guest’s bug."));
}

static void
vireo_settings_advanced_dispose (GObject *object)
{
  gtk_widget_dispose_template (GTK_WIDGET (object), VIREO_TYPE_SETTINGS_ADVANCED);
  G_OBJECT_CLASS (vireo_settings_advanced_parent_class)->dispose (object);
}

static void
vireo_settings_advanced_class_init (VireoSettingsAdvancedClass *klass)
{
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);
  VireoSettingsPageClass *page_class = VIREO_SETTINGS_PAGE_CLASS (klass);

  G_OBJECT_CLASS (klass)->dispose = vireo_settings_advanced_dispose;
  page_class->sync_key = vireo_settings_advanced_sync_key;
  page_class->message_for_key = vireo_settings_advanced_message_for_key;
  page_class->update_lock = vireo_settings_advanced_update_lock;
  page_class->describe = vireo_settings_advanced_describe;

  gtk_widget_class_set_template_from_resource (widget_class, "/org/vireo/Vireo/vireo-settings-advanced.ui");
  gtk_widget_class_bind_template_child (widget_class, VireoSettingsAdvanced, cpuid_group);
  gtk_widget_class_bind_template_child (widget_class, VireoSettingsAdvanced, cpuid_row);
  gtk_widget_class_bind_template_child (widget_class, VireoSettingsAdvanced, cpuid_message);
  gtk_widget_class_bind_template_callback (widget_class, on_cpuid_changed);
  gtk_widget_class_bind_template_callback (widget_class, on_cpuid_apply);
}

static void
vireo_settings_advanced_init (VireoSettingsAdvanced *self)
{
  gtk_widget_init_template (GTK_WIDGET (self));
}
