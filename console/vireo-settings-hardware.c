/* vireo-settings-hardware.c — the Hardware page of a machine's settings: memory and processors (spin buttons
 * that apply once the user stops clicking, with the host's facts in view) and display.  The disks and the
 * network adapters have pages of their own (vireo-settings-disks.c, vireo-settings-network.c). */
#include "vireo-settings-hardware.h"

#include <glib/gi18n.h>

#include "vireo-checks.h"
#include "vireo-format.h"

/* Spin buttons apply once the user stops clicking, not on every step. */
#define SPIN_APPLY_DELAY_MS 500

struct _VireoSettingsHardware
{
  VireoSettingsPage parent_instance;

  guint memory_timeout;
  guint vcpus_timeout;

  /* Template widgets */
  AdwPreferencesGroup *resources_group;
  AdwActionRow *memory_row;
  AdwActionRow *memory_warning;
  AdwActionRow *vcpus_row;
  GtkSpinButton *memory_spin;
  GtkSpinButton *vcpus_spin;
  GtkAdjustment *memory_adjustment;
  GtkAdjustment *vcpus_adjustment;
  GtkLabel *resources_message;
  AdwActionRow *display_row;
  GtkSwitch *display_switch;
};

G_DEFINE_FINAL_TYPE (VireoSettingsHardware, vireo_settings_hardware, VIREO_TYPE_SETTINGS_PAGE)

#define PAGE(self) VIREO_SETTINGS_PAGE (self)

static guint64
host_memory_mib (VireoSettingsHardware *self)
{
  VireoHost *host = vireo_settings_page_get_host (PAGE (self));
  VireoDBusManager *manager = host ? vireo_host_get_manager (host) : NULL;

  return manager ? vireo_dbus_manager_get_host_memory_mib (manager) : 0;
}

static void
describe_memory (VireoSettingsHardware *self)
{
  gboolean locked = vireo_settings_page_is_locked (PAGE (self));
  guint64 mib = (guint64) gtk_spin_button_get_value_as_int (self->memory_spin);
  guint64 host_mib = host_memory_mib (self);
  g_autofree char *amount = vireo_format_memory (mib);

  adw_action_row_set_subtitle (self->memory_row, locked ? vireo_settings_lock_text () : amount);
  gtk_widget_set_visible (GTK_WIDGET (self->memory_warning),
                          !locked && vireo_memory_is_large (mib, host_mib));
}

static void
describe (VireoSettingsHardware *self)
{
  gboolean locked = vireo_settings_page_is_locked (PAGE (self));
  g_autofree char *facts = vireo_describe_host (
      vireo_host_get_manager (vireo_settings_page_get_host (PAGE (self))));
  guint max_vcpus = (guint) gtk_adjustment_get_upper (self->vcpus_adjustment);
  g_autofree char *range = g_strdup_printf (_ ("1 to %u"), max_vcpus);

  describe_memory (self);
  adw_action_row_set_subtitle (self->vcpus_row, locked ? vireo_settings_lock_text () : range);
  adw_action_row_set_subtitle (
      self->display_row, locked ? vireo_settings_lock_text ()
                                : _ ("A screen, keyboard and pointer for the machine. Without one it has its "
                                     "serial console only."));
  /* The host's facts stay in view while locked: they are what the user will want to know when off. */
  adw_preferences_group_set_description (self->resources_group, facts);
}

/* ---- memory, processors, devices ---- */

static gboolean
apply_memory (gpointer data)
{
  VireoSettingsHardware *self = data;
  guint64 mib = (guint64) gtk_spin_button_get_value_as_int (self->memory_spin);
  g_autoptr (GVariant) current = vireo_settings_page_lookup (PAGE (self), "memory-mib");

  self->memory_timeout = 0;
  if (current == NULL || g_variant_get_uint64 (current) != mib)
    vireo_settings_page_send (PAGE (self), "memory-mib", g_variant_new_uint64 (mib));
  return G_SOURCE_REMOVE;
}

static void
on_memory_changed (VireoSettingsHardware *self)
{
  guint64 mib = (guint64) gtk_spin_button_get_value_as_int (self->memory_spin);
  g_autofree char *reason = NULL;

  describe_memory (self);
  if (vireo_settings_page_is_syncing (PAGE (self)))
    return;
  g_clear_handle_id (&self->memory_timeout, g_source_remove);
  reason = vireo_check_memory (mib, host_memory_mib (self));
  vireo_settings_show_reason (self->resources_message, GTK_WIDGET (self->memory_spin), reason);
  if (reason == NULL)
    self->memory_timeout = g_timeout_add (SPIN_APPLY_DELAY_MS, apply_memory, self);
}

static gboolean
apply_vcpus (gpointer data)
{
  VireoSettingsHardware *self = data;
  guint vcpus = (guint) gtk_spin_button_get_value_as_int (self->vcpus_spin);
  g_autoptr (GVariant) current = vireo_settings_page_lookup (PAGE (self), "vcpus");

  self->vcpus_timeout = 0;
  if (current == NULL || g_variant_get_uint32 (current) != vcpus)
    vireo_settings_page_send (PAGE (self), "vcpus", g_variant_new_uint32 (vcpus));
  return G_SOURCE_REMOVE;
}

static void
on_vcpus_changed (VireoSettingsHardware *self)
{
  if (vireo_settings_page_is_syncing (PAGE (self)))
    return;
  g_clear_handle_id (&self->vcpus_timeout, g_source_remove);
  self->vcpus_timeout = g_timeout_add (SPIN_APPLY_DELAY_MS, apply_vcpus, self);
}

static void
on_display_toggled (VireoSettingsHardware *self)
{
  if (!vireo_settings_page_is_syncing (PAGE (self)))
    vireo_settings_page_send (PAGE (self), "display",
                              g_variant_new_boolean (gtk_switch_get_active (self->display_switch)));
}

/* ---- the window's calls ---- */

static gboolean
vireo_settings_hardware_sync_key (VireoSettingsPage *page, const char *key, GVariant *value)
{
  VireoSettingsHardware *self = VIREO_SETTINGS_HARDWARE (page);

  if (g_str_equal (key, "memory-mib") && g_variant_is_of_type (value, G_VARIANT_TYPE_UINT64))
    {
      double mib = (double) g_variant_get_uint64 (value);

      /* A machine defined elsewhere may have more than the host: show it as it is. */
      if (mib > gtk_adjustment_get_upper (self->memory_adjustment))
        gtk_adjustment_set_upper (self->memory_adjustment, mib);
      g_clear_handle_id (&self->memory_timeout, g_source_remove);
      gtk_spin_button_set_value (self->memory_spin, mib);
      vireo_settings_show_reason (self->resources_message, GTK_WIDGET (self->memory_spin), NULL);
    }
  else if (g_str_equal (key, "vcpus") && g_variant_is_of_type (value, G_VARIANT_TYPE_UINT32))
    {
      double vcpus = (double) g_variant_get_uint32 (value);

      if (vcpus > gtk_adjustment_get_upper (self->vcpus_adjustment))
        gtk_adjustment_set_upper (self->vcpus_adjustment, vcpus);
      g_clear_handle_id (&self->vcpus_timeout, g_source_remove);
      gtk_spin_button_set_value (self->vcpus_spin, vcpus);
    }
  else if (g_str_equal (key, "display") && g_variant_is_of_type (value, G_VARIANT_TYPE_BOOLEAN))
    gtk_switch_set_active (self->display_switch, g_variant_get_boolean (value));
  else
    return FALSE;
  return TRUE;
}

static GtkLabel *
vireo_settings_hardware_message_for_key (VireoSettingsPage *page, const char *key, GtkWidget **field)
{
  VireoSettingsHardware *self = VIREO_SETTINGS_HARDWARE (page);

  if (g_str_equal (key, "memory-mib"))
    *field = GTK_WIDGET (self->memory_spin);
  else if (g_str_equal (key, "vcpus"))
    *field = GTK_WIDGET (self->vcpus_spin);
  else
    return NULL;
  return self->resources_message;
}

static void
vireo_settings_hardware_update_lock (VireoSettingsPage *page)
{
  VireoSettingsHardware *self = VIREO_SETTINGS_HARDWARE (page);
  gboolean locked = vireo_settings_page_is_locked (page);
  GtkWidget *off_only[] = {
    GTK_WIDGET (self->memory_row),
    GTK_WIDGET (self->vcpus_row),
    GTK_WIDGET (self->display_row),
  };

  for (guint i = 0; i < G_N_ELEMENTS (off_only); i++)
    gtk_widget_set_sensitive (off_only[i], !locked);
  if (locked && (self->memory_timeout != 0 || self->vcpus_timeout != 0))
    {
      /* A change waiting to be sent would only be refused: the spin buttons show what is in effect. */
      g_autoptr (GVariant) memory = vireo_settings_page_lookup (page, "memory-mib");
      g_autoptr (GVariant) vcpus = vireo_settings_page_lookup (page, "vcpus");

      g_clear_handle_id (&self->memory_timeout, g_source_remove);
      g_clear_handle_id (&self->vcpus_timeout, g_source_remove);
      if (memory != NULL)
        vireo_settings_page_resync (page, "memory-mib", memory);
      if (vcpus != NULL)
        vireo_settings_page_resync (page, "vcpus", vcpus);
    }
}

static void
vireo_settings_hardware_describe (VireoSettingsPage *page)
{
  describe (VIREO_SETTINGS_HARDWARE (page));
}

static void
vireo_settings_hardware_flush (VireoSettingsPage *page)
{
  VireoSettingsHardware *self = VIREO_SETTINGS_HARDWARE (page);

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
}

/* ---- the page ---- */

void
vireo_settings_hardware_set_ranges (VireoSettingsHardware *self)
{
  g_return_if_fail (VIREO_IS_SETTINGS_HARDWARE (self));

  vireo_set_resource_ranges (vireo_host_get_manager (vireo_settings_page_get_host (PAGE (self))),
                             self->memory_adjustment, self->vcpus_adjustment);
}

static void
vireo_settings_hardware_dispose (GObject *object)
{
  VireoSettingsHardware *self = VIREO_SETTINGS_HARDWARE (object);

  g_clear_handle_id (&self->memory_timeout, g_source_remove);
  g_clear_handle_id (&self->vcpus_timeout, g_source_remove);
  gtk_widget_dispose_template (GTK_WIDGET (object), VIREO_TYPE_SETTINGS_HARDWARE);
  G_OBJECT_CLASS (vireo_settings_hardware_parent_class)->dispose (object);
}

static void
vireo_settings_hardware_class_init (VireoSettingsHardwareClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);
  VireoSettingsPageClass *page_class = VIREO_SETTINGS_PAGE_CLASS (klass);

  object_class->dispose = vireo_settings_hardware_dispose;
  page_class->sync_key = vireo_settings_hardware_sync_key;
  page_class->message_for_key = vireo_settings_hardware_message_for_key;
  page_class->update_lock = vireo_settings_hardware_update_lock;
  page_class->describe = vireo_settings_hardware_describe;
  page_class->flush = vireo_settings_hardware_flush;

  gtk_widget_class_set_template_from_resource (widget_class, "/org/vireo/Vireo/vireo-settings-hardware.ui");
  gtk_widget_class_bind_template_child (widget_class, VireoSettingsHardware, resources_group);
  gtk_widget_class_bind_template_child (widget_class, VireoSettingsHardware, memory_row);
  gtk_widget_class_bind_template_child (widget_class, VireoSettingsHardware, memory_warning);
  gtk_widget_class_bind_template_child (widget_class, VireoSettingsHardware, vcpus_row);
  gtk_widget_class_bind_template_child (widget_class, VireoSettingsHardware, memory_spin);
  gtk_widget_class_bind_template_child (widget_class, VireoSettingsHardware, vcpus_spin);
  gtk_widget_class_bind_template_child (widget_class, VireoSettingsHardware, memory_adjustment);
  gtk_widget_class_bind_template_child (widget_class, VireoSettingsHardware, vcpus_adjustment);
  gtk_widget_class_bind_template_child (widget_class, VireoSettingsHardware, resources_message);
  gtk_widget_class_bind_template_child (widget_class, VireoSettingsHardware, display_row);
  gtk_widget_class_bind_template_child (widget_class, VireoSettingsHardware, display_switch);
  gtk_widget_class_bind_template_callback (widget_class, on_memory_changed);
  gtk_widget_class_bind_template_callback (widget_class, on_vcpus_changed);
  gtk_widget_class_bind_template_callback (widget_class, on_display_toggled);
}

static void
vireo_settings_hardware_init (VireoSettingsHardware *self)
{
  gtk_widget_init_template (GTK_WIDGET (self));
}
