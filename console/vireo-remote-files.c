/* vireo-remote-files.c — files named for a machine on a remote host: a dialog that asks for a path on that
 * host where a local file chooser would pick a file of this computer, and checks that judge only the path. */
#include "vireo-remote-files.h"

#include <adwaita.h>
#include <glib/gi18n.h>

#include "vireo-checks.h"

typedef struct
{
  VireoRemotePathChosen chosen;
  gpointer data;
  GDestroyNotify destroy;
  GtkEditable *entry;
} Ask;

static void
ask_free (gpointer pointer)
{
  Ask *ask = pointer;

  if (ask->destroy)
    ask->destroy (ask->data);
  g_free (ask);
}

gboolean
vireo_host_files_are_remote (VireoHost *host)
{
  return host != NULL && vireo_host_get_kind (host) == VIREO_HOST_REMOTE;
}

static void
on_response (AdwMessageDialog *dialog, const char *response, Ask *ask)
{
  g_autofree char *path = g_strstrip (g_strdup (gtk_editable_get_text (ask->entry)));

  if (g_str_equal (response, "choose") && *path)
    ask->chosen (path, ask->data);
}

static void
on_changed (GtkEditable *entry, AdwMessageDialog *dialog)
{
  g_autofree char *path = g_strstrip (g_strdup (gtk_editable_get_text (entry)));

  adw_message_dialog_set_response_enabled (dialog, "choose", g_path_is_absolute (path));
}

void
vireo_remote_path_ask (GtkWindow *parent, VireoHost *host, const char *title, const char *near,
                       VireoRemotePathChosen chosen, gpointer data, GDestroyNotify destroy)
{
  GtkWidget *dialog = adw_message_dialog_new (parent, title, NULL);
  GtkWidget *entry = gtk_entry_new ();
  Ask *ask = g_new0 (Ask, 1);

  adw_message_dialog_format_body (ADW_MESSAGE_DIALOG (dialog),
                                  _ ("This machine runs on %s, so its files are files on %s: this computer’s "
                                     "files cannot be chosen for it. Type the full path of the file on %s."),
                                  vireo_host_get_title (host), vireo_host_get_title (host),
                                  vireo_host_get_title (host));
  gtk_entry_set_placeholder_text (GTK_ENTRY (entry), "/var/lib/vireo/images/installer.iso");
  gtk_entry_set_activates_default (GTK_ENTRY (entry), TRUE);
  if (near && *near)
    gtk_editable_set_text (GTK_EDITABLE (entry), near);
  gtk_widget_set_name (entry, "remote-path");
  adw_message_dialog_set_extra_child (ADW_MESSAGE_DIALOG (dialog), entry);
  adw_message_dialog_add_responses (ADW_MESSAGE_DIALOG (dialog), "cancel", _ ("_Cancel"), "choose",
                                    _ ("_Use This Path"), NULL);
  adw_message_dialog_set_response_appearance (ADW_MESSAGE_DIALOG (dialog), "choose", ADW_RESPONSE_SUGGESTED);
  adw_message_dialog_set_default_response (ADW_MESSAGE_DIALOG (dialog), "choose");
  adw_message_dialog_set_close_response (ADW_MESSAGE_DIALOG (dialog), "cancel");
  gtk_widget_set_name (dialog, "remote-path-dialog");
  ask->chosen = chosen;
  ask->data = data;
  ask->destroy = destroy;
  ask->entry = GTK_EDITABLE (entry);
  g_object_set_data_full (G_OBJECT (dialog), "vireo-ask", ask, ask_free);
  g_signal_connect (entry, "changed", G_CALLBACK (on_changed), dialog);
  g_signal_connect (dialog, "response", G_CALLBACK (on_response), ask);
  on_changed (GTK_EDITABLE (entry), ADW_MESSAGE_DIALOG (dialog));
  gtk_window_present (GTK_WINDOW (dialog));
  gtk_widget_grab_focus (entry);
}

char *
vireo_check_host_file (VireoHost *host, const char *path, gboolean writable)
{
  g_autofree char *display = NULL;

  if (!vireo_host_files_are_remote (host))
    return vireo_check_machine_file (path, writable);
  display = g_filename_display_name (path);
  if (!g_path_is_absolute (path))
    return g_strdup_printf (_ ("“%s” is not a full path; it must start with “/”."), display);
  return NULL;
}
