/* vireo-settings-general.c — the General page of a machine's settings: the name (checked as typed, applied
 * with Enter), the notes (saved with their button, or when the window closes), and what the machine does when
 * the service starts and stops. */
#include "vireo-settings-general.h"

#include <glib/gi18n.h>

#include "vireo-checks.h"

/* Orders of the combo rows' items, as the service spells them. */
static const char *const auto_start_values[] = { "none", "always", "if-running", NULL };
static const char *const auto_stop_values[] = { "save", "shutdown", "turn-off", NULL };

struct _VireoSettingsGeneral
{
  VireoSettingsPage parent_instance;

  /* Template widgets */
  AdwEntryRow *name_row;
  GtkLabel *name_message;
  GtkWidget *notes_save;
  GtkTextBuffer *notes_buffer;
  AdwComboRow *auto_start_row;
  AdwComboRow *auto_stop_row;
};

G_DEFINE_FINAL_TYPE (VireoSettingsGeneral, vireo_settings_general, VIREO_TYPE_SETTINGS_PAGE)

#define PAGE(self) VIREO_SETTINGS_PAGE (self)

static char *
notes_text (VireoSettingsGeneral *self)
{
  GtkTextIter start, end;

  gtk_text_buffer_get_bounds (self->notes_buffer, &start, &end);
  return gtk_text_buffer_get_text (self->notes_buffer, &start, &end, FALSE);
}

/* Save is offered while the notes differ from what the service has. */
static void
update_notes_button (VireoSettingsGeneral *self)
{
  g_autofree char *saved = vireo_settings_page_lookup_string (PAGE (self), "notes");
  g_autofree char *text = notes_text (self);

  gtk_widget_set_sensitive (self->notes_save, g_strcmp0 (saved, text) != 0);
}

static void
save_notes (VireoSettingsGeneral *self)
{
  g_autofree char *text = notes_text (self);

  vireo_settings_page_send (PAGE (self), "notes", g_variant_new_string (text));
  gtk_widget_set_sensitive (self->notes_save, FALSE);
}

/* ---- the user's changes ---- */

static void
on_name_changed (VireoSettingsGeneral *self)
{
  g_autofree char *name = vireo_entry_row_get_stripped_text (self->name_row);
  g_autofree char *current = vireo_settings_page_lookup_string (PAGE (self), "name");
  g_autofree char *reason = NULL;

  if (vireo_settings_page_is_syncing (PAGE (self)))
    return;
  if (g_strcmp0 (name, current) != 0)
    reason = vireo_check_machine_name (vireo_settings_page_get_host (PAGE (self)), name,
                                       vireo_settings_page_get_machine (PAGE (self)));
  vireo_settings_show_reason (self->name_message, GTK_WIDGET (self->name_row), reason);
}

static void
on_name_apply (VireoSettingsGeneral *self)
{
  g_autofree char *name = vireo_entry_row_get_stripped_text (self->name_row);
  g_autofree char *current = vireo_settings_page_lookup_string (PAGE (self), "name");
  g_autofree char *reason = vireo_check_machine_name (vireo_settings_page_get_host (PAGE (self)), name,
                                                      vireo_settings_page_get_machine (PAGE (self)));

  vireo_settings_show_reason (self->name_message, GTK_WIDGET (self->name_row), reason);
  if (reason == NULL && g_strcmp0 (name, current) != 0)
    vireo_settings_page_send (PAGE (self), "name", g_variant_new_string (name));
  else if (reason == NULL)
    {
      /* Only white space around the name changed: the service would trim it too. */
      g_autoptr (GVariant) value = g_variant_ref_sink (g_variant_new_string (current));
      vireo_settings_page_resync (PAGE (self), "name", value);
    }
}

static void
on_notes_changed (VireoSettingsGeneral *self)
{
  update_notes_button (self);
}

static void
on_notes_save (VireoSettingsGeneral *self)
{
  if (gtk_widget_get_sensitive (self->notes_save))
    save_notes (self);
}

static void
on_auto_start_selected (VireoSettingsGeneral *self)
{
  if (!vireo_settings_page_is_syncing (PAGE (self)))
    vireo_settings_page_send (PAGE (self), "auto-start",
                              g_variant_new_string (vireo_settings_value_at (
                                  auto_start_values, adw_combo_row_get_selected (self->auto_start_row))));
}

static void
on_auto_stop_selected (VireoSettingsGeneral *self)
{
  if (!vireo_settings_page_is_syncing (PAGE (self)))
    vireo_settings_page_send (PAGE (self), "auto-stop",
                              g_variant_new_string (vireo_settings_value_at (
                                  auto_stop_values, adw_combo_row_get_selected (self->auto_stop_row))));
}

/* ---- the window's calls ---- */

static gboolean
vireo_settings_general_sync_key (VireoSettingsPage *page, const char *key, GVariant *value)
{
  VireoSettingsGeneral *self = VIREO_SETTINGS_GENERAL (page);
  const char *text = g_variant_is_of_type (value, G_VARIANT_TYPE_STRING) ? g_variant_get_string (value, NULL)
                                                                         : "";

  if (g_str_equal (key, "name"))
    {
      vireo_settings_set_entry_text (self->name_row, text);
      gtk_widget_set_visible (GTK_WIDGET (self->name_message), FALSE);
    }
  else if (g_str_equal (key, "notes"))
    {
      /* Notes the user is editing (Save is offered) are not overwritten. */
      if (!gtk_widget_get_sensitive (self->notes_save))
        gtk_text_buffer_set_text (self->notes_buffer, text, -1);
    }
  else if (g_str_equal (key, "auto-start"))
    adw_combo_row_set_selected (self->auto_start_row, vireo_settings_index_of (auto_start_values, text));
  else if (g_str_equal (key, "auto-stop"))
    adw_combo_row_set_selected (self->auto_stop_row, vireo_settings_index_of (auto_stop_values, text));
  else
    return FALSE;
  return TRUE;
}

static GtkLabel *
vireo_settings_general_message_for_key (VireoSettingsPage *page, const char *key, GtkWidget **field)
{
  VireoSettingsGeneral *self = VIREO_SETTINGS_GENERAL (page);

  if (!g_str_equal (key, "name"))
    return NULL;
  *field = GTK_WIDGET (self->name_row);
  return self->name_message;
}

static void
vireo_settings_general_describe (VireoSettingsPage *page)
{
  update_notes_button (VIREO_SETTINGS_GENERAL (page));
}

static void
vireo_settings_general_flush (VireoSettingsPage *page)
{
  VireoSettingsGeneral *self = VIREO_SETTINGS_GENERAL (page);

  if (gtk_widget_get_sensitive (self->notes_save))
    save_notes (self);
}

static void
vireo_settings_general_dispose (GObject *object)
{
  gtk_widget_dispose_template (GTK_WIDGET (object), VIREO_TYPE_SETTINGS_GENERAL);
  G_OBJECT_CLASS (vireo_settings_general_parent_class)->dispose (object);
}

static void
vireo_settings_general_class_init (VireoSettingsGeneralClass *klass)
{
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);
  VireoSettingsPageClass *page_class = VIREO_SETTINGS_PAGE_CLASS (klass);

  G_OBJECT_CLASS (klass)->dispose = vireo_settings_general_dispose;

  page_class->sync_key = vireo_settings_general_sync_key;
  page_class->message_for_key = vireo_settings_general_message_for_key;
  page_class->describe = vireo_settings_general_describe;
  page_class->flush = vireo_settings_general_flush;

  gtk_widget_class_set_template_from_resource (widget_class, "/org/vireo/Vireo/vireo-settings-general.ui");
  gtk_widget_class_bind_template_child (widget_class, VireoSettingsGeneral, name_row);
  gtk_widget_class_bind_template_child (widget_class, VireoSettingsGeneral, name_message);
  gtk_widget_class_bind_template_child (widget_class, VireoSettingsGeneral, notes_save);
  gtk_widget_class_bind_template_child (widget_class, VireoSettingsGeneral, notes_buffer);
  gtk_widget_class_bind_template_child (widget_class, VireoSettingsGeneral, auto_start_row);
  gtk_widget_class_bind_template_child (widget_class, VireoSettingsGeneral, auto_stop_row);
  gtk_widget_class_bind_template_callback (widget_class, on_name_changed);
  gtk_widget_class_bind_template_callback (widget_class, on_name_apply);
  gtk_widget_class_bind_template_callback (widget_class, on_notes_changed);
  gtk_widget_class_bind_template_callback (widget_class, on_notes_save);
  gtk_widget_class_bind_template_callback (widget_class, on_auto_start_selected);
  gtk_widget_class_bind_template_callback (widget_class, on_auto_stop_selected);
}

static void
vireo_settings_general_init (VireoSettingsGeneral *self)
{
  gtk_widget_init_template (GTK_WIDGET (self));
}
