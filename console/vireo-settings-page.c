/* vireo-settings-page.c — the base of the settings window's pages: the calls the window makes on each page
 * (show a key, lock, describe, flush), what a page may ask of the window (values, sending, toasts), the
 * file dialog, and the small helpers every page uses to show values and reasons. */
#include "vireo-settings-page.h"

#include <glib/gi18n.h>

#include "vireo-machine-settings-private.h"
#include "vireo-new-machine.h"
#include "vireo-remote-files.h"

typedef struct
{
  VireoMachineSettings *window; /* weak: the window holds its pages */
  GtkFileChooserNative *chooser;
  GtkWidget *chooser_target;
  VireoSettingsFileChosen chosen;
} VireoSettingsPagePrivate;

G_DEFINE_ABSTRACT_TYPE_WITH_PRIVATE (VireoSettingsPage, vireo_settings_page, ADW_TYPE_PREFERENCES_PAGE)

#define PRIV(page) ((VireoSettingsPagePrivate *) vireo_settings_page_get_instance_private (page))

void
vireo_settings_page_attach (VireoSettingsPage *page, VireoMachineSettings *window)
{
  g_return_if_fail (VIREO_IS_SETTINGS_PAGE (page));

  PRIV (page)->window = window;
}

VireoMachineSettings *
vireo_settings_page_get_window (VireoSettingsPage *page)
{
  g_return_val_if_fail (VIREO_IS_SETTINGS_PAGE (page), NULL);

  return PRIV (page)->window;
}

gboolean
vireo_settings_page_sync_key (VireoSettingsPage *page, const char *key, GVariant *value)
{
  VireoSettingsPageClass *klass = VIREO_SETTINGS_PAGE_GET_CLASS (page);

  return klass->sync_key ? klass->sync_key (page, key, value) : FALSE;
}

GtkLabel *
vireo_settings_page_message_for_key (VireoSettingsPage *page, const char *key, GtkWidget **field)
{
  VireoSettingsPageClass *klass = VIREO_SETTINGS_PAGE_GET_CLASS (page);

  return klass->message_for_key ? klass->message_for_key (page, key, field) : NULL;
}

void
vireo_settings_page_update_lock (VireoSettingsPage *page)
{
  VireoSettingsPageClass *klass = VIREO_SETTINGS_PAGE_GET_CLASS (page);

  if (klass->update_lock)
    klass->update_lock (page);
}

void
vireo_settings_page_describe (VireoSettingsPage *page)
{
  VireoSettingsPageClass *klass = VIREO_SETTINGS_PAGE_GET_CLASS (page);

  if (klass->describe)
    klass->describe (page);
}

void
vireo_settings_page_flush (VireoSettingsPage *page)
{
  VireoSettingsPageClass *klass = VIREO_SETTINGS_PAGE_GET_CLASS (page);

  if (klass->flush)
    klass->flush (page);
}

/* ---- what the window knows ---- */

VireoHost *
vireo_settings_page_get_host (VireoSettingsPage *page)
{
  return vireo_machine_settings_get_host (PRIV (page)->window);
}

VireoDBusMachine *
vireo_settings_page_get_machine (VireoSettingsPage *page)
{
  return vireo_machine_settings_get_machine (PRIV (page)->window);
}

GVariant *
vireo_settings_page_lookup (VireoSettingsPage *page, const char *key)
{
  return vireo_machine_settings_lookup (PRIV (page)->window, key);
}

char *
vireo_settings_page_lookup_string (VireoSettingsPage *page, const char *key)
{
  g_autoptr (GVariant) value = vireo_settings_page_lookup (page, key);

  return g_strdup (
      value && g_variant_is_of_type (value, G_VARIANT_TYPE_STRING) ? g_variant_get_string (value, NULL) : "");
}

gboolean
vireo_settings_page_is_syncing (VireoSettingsPage *page)
{
  return vireo_machine_settings_is_syncing (PRIV (page)->window);
}

gboolean
vireo_settings_page_is_locked (VireoSettingsPage *page)
{
  return vireo_machine_settings_is_locked (PRIV (page)->window);
}

void
vireo_settings_page_send (VireoSettingsPage *page, const char *key, GVariant *value)
{
  vireo_machine_settings_send_update (PRIV (page)->window, page, key, value);
}

void
vireo_settings_page_resync (VireoSettingsPage *page, const char *key, GVariant *value)
{
  vireo_machine_settings_sync_key (PRIV (page)->window, key, value);
}

void
vireo_settings_page_toast (VireoSettingsPage *page, const char *message)
{
  vireo_machine_settings_toast (PRIV (page)->window, message);
}

/* ---- files ---- */

static void
on_chooser_response (GtkNativeDialog *dialog, int response, gpointer data)
{
  VireoSettingsPage *page = data;
  VireoSettingsPagePrivate *priv = PRIV (page);
  GtkWidget *target = priv->chooser_target;
  g_autoptr (GFile) file = NULL;
  g_autofree char *path = NULL;

  priv->chooser_target = NULL;
  if (response == GTK_RESPONSE_ACCEPT)
    file = gtk_file_chooser_get_file (GTK_FILE_CHOOSER (dialog));
  g_clear_object (&priv->chooser);
  path = file ? g_file_get_path (file) : NULL;
  if (path == NULL || target == NULL)
    return;
  priv->chosen (page, target, path);
}

typedef struct
{
  VireoSettingsPage *page;
  GtkWidget *target;
  VireoSettingsFileChosen chosen;
} RemoteChoice;

static void
remote_choice_free (gpointer data)
{
  RemoteChoice *choice = data;

  g_object_unref (choice->page);
  g_object_unref (choice->target);
  g_free (choice);
}

static void
on_remote_path (const char *path, gpointer data)
{
  RemoteChoice *choice = data;

  choice->chosen (choice->page, choice->target, path);
}

void
vireo_settings_page_choose_file (VireoSettingsPage *page, GtkWidget *target, const char *title,
                                 VireoFiles files, const char *near, VireoSettingsFileChosen chosen)
{
  VireoSettingsPagePrivate *priv = PRIV (page);
  VireoHost *host = vireo_settings_page_get_host (page);

  if (priv->chooser != NULL)
    return;
  /* A remote host's machine takes paths on that host: typed, not chosen among this computer's files. */
  if (vireo_host_files_are_remote (host))
    {
      RemoteChoice *choice = g_new0 (RemoteChoice, 1);

      choice->page = g_object_ref (page);
      choice->target = g_object_ref (target);
      choice->chosen = chosen;
      vireo_remote_path_ask (GTK_WINDOW (priv->window), host, title, near, on_remote_path, choice,
                             remote_choice_free);
      return;
    }
  priv->chooser_target = target;
  priv->chosen = chosen;
  priv->chooser = vireo_file_chooser_new (GTK_WINDOW (priv->window), title, files, near);
  g_signal_connect (priv->chooser, "response", G_CALLBACK (on_chooser_response), page);
  gtk_native_dialog_show (GTK_NATIVE_DIALOG (priv->chooser));
}

/* ---- helpers ---- */

void
vireo_settings_show_reason (GtkLabel *label, GtkWidget *field, const char *reason)
{
  gtk_label_set_text (label, reason ? reason : "");
  gtk_widget_set_visible (GTK_WIDGET (label), reason != NULL);
  if (reason != NULL)
    gtk_widget_add_css_class (field, "error");
  else
    gtk_widget_remove_css_class (field, "error");
}

void
vireo_settings_set_entry_text (AdwEntryRow *row, const char *text)
{
  if (g_strcmp0 (gtk_editable_get_text (GTK_EDITABLE (row)), text) != 0)
    gtk_editable_set_text (GTK_EDITABLE (row), text);
  gtk_widget_remove_css_class (GTK_WIDGET (row), "error");
}

guint
vireo_settings_index_of (const char *const *values, const char *value)
{
  for (guint i = 0; values[i] != NULL; i++)
    if (g_strcmp0 (values[i], value) == 0)
      return i;
  return 0;
}

const char *
vireo_settings_value_at (const char *const *values, guint index)
{
  return index < g_strv_length ((char **) values) ? values[index] : values[0];
}

const char *
vireo_settings_lock_text (void)
{
  return _ ("Turn the machine off to change this");
}

const char *
vireo_settings_locked_group_text (void)
{
  return _ ("Turn the machine off to change these settings.");
}

/* ---- object ---- */

static void
vireo_settings_page_dispose (GObject *object)
{
  VireoSettingsPagePrivate *priv = PRIV (VIREO_SETTINGS_PAGE (object));

  if (priv->chooser != NULL)
    gtk_native_dialog_destroy (GTK_NATIVE_DIALOG (priv->chooser));
  g_clear_object (&priv->chooser);
  G_OBJECT_CLASS (vireo_settings_page_parent_class)->dispose (object);
}

static void
vireo_settings_page_class_init (VireoSettingsPageClass *klass)
{
  G_OBJECT_CLASS (klass)->dispose = vireo_settings_page_dispose;
}

static void
vireo_settings_page_init (VireoSettingsPage *page)
{
}
