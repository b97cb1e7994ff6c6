/* vireo-settings-checkpoints.c — the Checkpoints page of a machine's settings: "checkpoint-kind" (Hyper-V's
 * Standard or Production), "automatic-checkpoints" and "guest-agent", each sent as soon as it changes.  The
 * guest agent channel is a device, so it changes only while the machine is off. */
#include "vireo-settings-checkpoints.h"

#include <glib/gi18n.h>

struct _VireoSettingsCheckpoints
{
  VireoSettingsPage parent_instance;

  /* Template widgets */
  GtkCheckButton *standard_radio;
  GtkCheckButton *production_radio;
  GtkSwitch *automatic_switch;
  AdwPreferencesGroup *agent_group;
  AdwActionRow *agent_row;
  GtkSwitch *agent_switch;
};

G_DEFINE_FINAL_TYPE (VireoSettingsCheckpoints, vireo_settings_checkpoints, VIREO_TYPE_SETTINGS_PAGE)

#define PAGE(self) VIREO_SETTINGS_PAGE (self)

static void
on_kind_toggled (VireoSettingsCheckpoints *self, GtkCheckButton *button)
{
  /* Both radios toggle: the one turned on speaks. */
  if (vireo_settings_page_is_syncing (PAGE (self)) || !gtk_check_button_get_active (button))
    return;
  vireo_settings_page_send (
      PAGE (self), "checkpoint-kind",
      g_variant_new_string (button == self->production_radio ? "production" : "standard"));
}

static void
on_automatic_toggled (VireoSettingsCheckpoints *self)
{
  if (!vireo_settings_page_is_syncing (PAGE (self)))
    vireo_settings_page_send (PAGE (self), "automatic-checkpoints",
                              g_variant_new_boolean (gtk_switch_get_active (self->automatic_switch)));
}

static void
on_agent_toggled (VireoSettingsCheckpoints *self)
{
  if (!vireo_settings_page_is_syncing (PAGE (self)))
    vireo_settings_page_send (PAGE (self), "guest-agent",
                              g_variant_new_boolean (gtk_switch_get_active (self->agent_switch)));
}

/* ---- the window's calls ---- */

static gboolean
boolean_value (GVariant *value)
{
  return g_variant_is_of_type (value, G_VARIANT_TYPE_BOOLEAN) && g_variant_get_boolean (value);
}

static gboolean
vireo_settings_checkpoints_sync_key (VireoSettingsPage *page, const char *key, GVariant *value)
{
  VireoSettingsCheckpoints *self = VIREO_SETTINGS_CHECKPOINTS (page);

  if (g_str_equal (key, "checkpoint-kind"))
    {
      gboolean production = g_variant_is_of_type (value, G_VARIANT_TYPE_STRING)
                            && g_str_equal (g_variant_get_string (value, NULL), "production");

      gtk_check_button_set_active (production ? self->production_radio : self->standard_radio, TRUE);
    }
  else if (g_str_equal (key, "automatic-checkpoints"))
    gtk_switch_set_active (self->automatic_switch, boolean_value (value));
  else if (g_str_equal (key, "guest-agent"))
    gtk_switch_set_active (self->agent_switch, boolean_value (value));
  else
    return FALSE;
  return TRUE;
}

static void
vireo_settings_checkpoints_update_lock (VireoSettingsPage *page)
{
  VireoSettingsCheckpoints *self = VIREO_SETTINGS_CHECKPOINTS (page);

  gtk_widget_set_sensitive (GTK_WIDGET (self->agent_row), !vireo_settings_page_is_locked (page));
}

static void
vireo_settings_checkpoints_describe (VireoSettingsPage *page)
{
  VireoSettingsCheckpoints *self = VIREO_SETTINGS_CHECKPOINTS (page);

  adw_preferences_group_set_description (
      self->agent_group, vireo_settings_page_is_locked (page) ? vireo_settings_locked_group_text () : NULL);
}

static void
vireo_settings_checkpoints_dispose (GObject *object)
{
  gtk_widget_dispose_template (GTK_WIDGET (object), VIREO_TYPE_SETTINGS_CHECKPOINTS);
  G_OBJECT_CLASS (vireo_settings_checkpoints_parent_class)->dispose (object);
}

static void
vireo_settings_checkpoints_class_init (VireoSettingsCheckpointsClass *klass)
{
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);
  VireoSettingsPageClass *page_class = VIREO_SETTINGS_PAGE_CLASS (klass);

  G_OBJECT_CLASS (klass)->dispose = vireo_settings_checkpoints_dispose;
  page_class->sync_key = vireo_settings_checkpoints_sync_key;
  page_class->update_lock = vireo_settings_checkpoints_update_lock;
  page_class->describe = vireo_settings_checkpoints_describe;

  gtk_widget_class_set_template_from_resource (widget_class,
                                               "/org/vireo/Vireo/vireo-settings-checkpoints.ui");
  gtk_widget_class_bind_template_child (widget_class, VireoSettingsCheckpoints, standard_radio);
  gtk_widget_class_bind_template_child (widget_class, VireoSettingsCheckpoints, production_radio);
  gtk_widget_class_bind_template_child (widget_class, VireoSettingsCheckpoints, automatic_switch);
  gtk_widget_class_bind_template_child (widget_class, VireoSettingsCheckpoints, agent_group);
  gtk_widget_class_bind_template_child (widget_class, VireoSettingsCheckpoints, agent_row);
  gtk_widget_class_bind_template_child (widget_class, VireoSettingsCheckpoints, agent_switch);
  gtk_widget_class_bind_template_callback (widget_class, on_kind_toggled);
  gtk_widget_class_bind_template_callback (widget_class, on_automatic_toggled);
  gtk_widget_class_bind_template_callback (widget_class, on_agent_toggled);
}

static void
vireo_settings_checkpoints_init (VireoSettingsCheckpoints *self)
{
  gtk_widget_init_template (GTK_WIDGET (self));
}
