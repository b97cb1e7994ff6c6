/* vireo-connect-server.c — "Connect to Server…" (app.connect-server): a message dialog with the address of a
 * remote Vireo host or of a libvirt host; what is wrong with the address is said under the entry as it is
 * typed. */
#include "vireo-connect-server.h"

#include <glib/gi18n.h>

#include "vireo-libvirt-host.h"
#include "vireo-ssh.h"
#include "vireo-window.h"

/* Why @uri cannot be added, or NULL. */
static char *
address_problem (VireoApplication *app, const char *uri)
{
  g_autoptr (GError) error = NULL;
  gboolean libvirt = g_str_has_prefix (uri, "qemu");
  VireoSshAddress address;

  if (libvirt ? !vireo_libvirt_host_check_uri (uri, &error) : !vireo_ssh_parse_uri (uri, &address, &error))
    return g_strdup (error->message);
  if (!libvirt)
    vireo_ssh_address_clear (&address);
  if (vireo_application_find_host (app, uri))
    {
      g_autofree char *name = libvirt ? g_strdup (uri) : vireo_ssh_describe_uri (uri);
      return g_strdup_printf (_ ("%s is already in the list"), name);
    }
  return NULL;
}

static void
on_changed (GtkEditable *entry, AdwMessageDialog *dialog)
{
  VireoApplication *app = g_object_get_data (G_OBJECT (dialog), "vireo-app");
  GtkLabel *problem_label = g_object_get_data (G_OBJECT (dialog), "vireo-problem");
  g_autofree char *uri = g_strstrip (g_strdup (gtk_editable_get_text (entry)));
  g_autofree char *problem = *uri ? address_problem (app, uri) : NULL;

  gtk_label_set_text (problem_label, problem ? problem : "");
  gtk_widget_set_visible (GTK_WIDGET (problem_label), problem != NULL);
  if (problem)
    gtk_widget_add_css_class (GTK_WIDGET (entry), "error");
  else
    gtk_widget_remove_css_class (GTK_WIDGET (entry), "error");
  adw_message_dialog_set_response_enabled (dialog, "connect", *uri && !problem);
}

static void
on_response (AdwMessageDialog *dialog, const char *response, gpointer data)
{
  VireoApplication *app = g_object_get_data (G_OBJECT (dialog), "vireo-app");
  GtkEditable *entry = g_object_get_data (G_OBJECT (dialog), "vireo-entry");
  GtkWindow *parent = gtk_window_get_transient_for (GTK_WINDOW (dialog));
  g_autofree char *uri = g_strstrip (g_strdup (gtk_editable_get_text (entry)));
  g_autoptr (GError) error = NULL;
  GListModel *hosts;
  g_autoptr (GObject) added = NULL;

  if (!g_str_equal (response, "connect"))
    return;
  if (!vireo_application_add_host_uri (app, uri, &error))
    {
      if (VIREO_IS_WINDOW (parent))
        vireo_window_add_toast (VIREO_WINDOW (parent), error->message);
      return;
    }
  hosts = vireo_application_get_hosts (app);
  added = g_list_model_get_item (hosts, g_list_model_get_n_items (hosts) - 1);
  if (VIREO_IS_WINDOW (parent))
    vireo_window_select_host (VIREO_WINDOW (parent), added);
}

GtkWindow *
vireo_connect_server_show (VireoApplication *app, GtkWindow *parent)
{
  GtkWidget *dialog = adw_message_dialog_new (parent, _ ("Connect to Server"), NULL);
  GtkWidget *box = gtk_box_new (GTK_ORIENTATION_VERTICAL, 6);
  GtkWidget *entry = gtk_entry_new ();
  GtkWidget *problem = gtk_label_new (NULL);

  adw_message_dialog_set_body (
      ADW_MESSAGE_DIALOG (dialog),
      _ ("Manage the machines of another computer that runs Vireo (ssh://user@host; the app signs in with "
         "ssh, with your keys, agent and known hosts; the computer needs systemd-stdio-bridge), or the "
         "virtual machines of libvirt, here or on another computer (qemu:///system, "
         "qemu+ssh://user@host/system)."));
  gtk_entry_set_placeholder_text (GTK_ENTRY (entry), "ssh://user@host, qemu:///system");
  gtk_entry_set_activates_default (GTK_ENTRY (entry), TRUE);
  gtk_accessible_update_property (GTK_ACCESSIBLE (entry), GTK_ACCESSIBLE_PROPERTY_LABEL, _ ("Address"), -1);
  gtk_widget_set_name (entry, "server-address");
  gtk_label_set_wrap (GTK_LABEL (problem), TRUE);
  gtk_label_set_xalign (GTK_LABEL (problem), 0);
  gtk_widget_add_css_class (problem, "error");
  gtk_widget_add_css_class (problem, "caption");
  gtk_widget_set_visible (problem, FALSE);
  gtk_box_append (GTK_BOX (box), entry);
  gtk_box_append (GTK_BOX (box), problem);
  adw_message_dialog_set_extra_child (ADW_MESSAGE_DIALOG (dialog), box);
  adw_message_dialog_add_responses (ADW_MESSAGE_DIALOG (dialog), "cancel", _ ("_Cancel"), "connect",
                                    _ ("C_onnect"), NULL);
  adw_message_dialog_set_response_appearance (ADW_MESSAGE_DIALOG (dialog), "connect", ADW_RESPONSE_SUGGESTED);
  adw_message_dialog_set_response_enabled (ADW_MESSAGE_DIALOG (dialog), "connect", FALSE);
  adw_message_dialog_set_default_response (ADW_MESSAGE_DIALOG (dialog), "connect");
  adw_message_dialog_set_close_response (ADW_MESSAGE_DIALOG (dialog), "cancel");
  gtk_widget_set_name (dialog, "connect-server");
  g_object_set_data_full (G_OBJECT (dialog), "vireo-app", g_object_ref (app), g_object_unref);
  g_object_set_data (G_OBJECT (dialog), "vireo-entry", entry);
  g_object_set_data (G_OBJECT (dialog), "vireo-problem", problem);
  g_signal_connect (entry, "changed", G_CALLBACK (on_changed), dialog);
  g_signal_connect (dialog, "response", G_CALLBACK (on_response), NULL);
  gtk_window_present (GTK_WINDOW (dialog));
  gtk_widget_grab_focus (entry);
  return GTK_WINDOW (dialog);
}
