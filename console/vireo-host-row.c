/* vireo-host-row.c — pieces of the manager window's sidebar rows: the Reconnect / Forget menu of a host the
 * user added by its address, and the row of a libvirt host (its title, its connection's state and its
 * number of domains). */
#include "vireo-host-row.h"

#include <glib/gi18n.h>

GtkWidget *
vireo_host_row_menu_new (const char *uri)
{
  g_autoptr (GMenu) menu = g_menu_new ();
  g_autoptr (GMenuItem) reconnect = g_menu_item_new (_ ("_Reconnect"), NULL);
  g_autoptr (GMenuItem) forget = g_menu_item_new (_ ("_Forget"), NULL);
  GtkWidget *button = gtk_menu_button_new ();

  g_menu_item_set_action_and_target (reconnect, "win.host-reconnect", "s", uri);
  g_menu_item_set_action_and_target (forget, "win.host-forget", "s", uri);
  g_menu_append_item (menu, reconnect);
  g_menu_append_item (menu, forget);
  gtk_menu_button_set_menu_model (GTK_MENU_BUTTON (button), G_MENU_MODEL (menu));
  gtk_menu_button_set_icon_name (GTK_MENU_BUTTON (button), "view-more-symbolic");
  gtk_menu_button_set_has_frame (GTK_MENU_BUTTON (button), FALSE);
  gtk_widget_set_valign (button, GTK_ALIGN_CENTER);
  gtk_widget_set_tooltip_text (button, _ ("Host Menu"));
  return button;
}

/* A libvirt host's second line: its domains, or why there are none to show. */
static void
on_libvirt_row_state (GtkLabel *label)
{
  VireoLibvirtHost *host = g_object_get_data (G_OBJECT (label), "vireo-host");
  guint n = g_list_model_get_n_items (vireo_libvirt_host_get_domains (host));
  g_autofree char *count = g_strdup_printf (
      /* Translators: a libvirt host's state in the sidebar: its number of virtual machines. */
      g_dngettext (GETTEXT_PACKAGE, "%u machine", "%u machines", n), n);
  const char *status = vireo_libvirt_host_get_status (host);
  gboolean failed = !vireo_libvirt_host_get_available (host) && status != NULL && *status != '\0';

  gtk_label_set_text (label, vireo_libvirt_host_get_available (host) ? count
                             : failed                                ? _ ("Not connected")
                                                                     : _ ("Connecting…"));
  gtk_widget_set_tooltip_text (GTK_WIDGET (label), failed ? status : NULL);
  if (failed)
    gtk_widget_add_css_class (GTK_WIDGET (label), "error");
  else
    gtk_widget_remove_css_class (GTK_WIDGET (label), "error");
}

GtkWidget *
vireo_host_row_new_libvirt (VireoLibvirtHost *host)
{
  GtkWidget *row = gtk_list_box_row_new ();
  GtkWidget *box = gtk_box_new (GTK_ORIENTATION_HORIZONTAL, 12);
  GtkWidget *labels = gtk_box_new (GTK_ORIENTATION_VERTICAL, 0);
  GtkWidget *icon = gtk_image_new_from_icon_name ("network-workgroup-symbolic");
  GtkWidget *title = gtk_label_new (vireo_libvirt_host_get_title (host));
  GtkWidget *state = gtk_label_new (NULL);

  gtk_label_set_xalign (GTK_LABEL (title), 0);
  gtk_label_set_ellipsize (GTK_LABEL (title), PANGO_ELLIPSIZE_END);
  gtk_widget_set_tooltip_text (title, vireo_libvirt_host_get_uri (host));
  gtk_label_set_xalign (GTK_LABEL (state), 0);
  gtk_widget_add_css_class (state, "caption");
  gtk_widget_add_css_class (state, "dim-label");
  gtk_widget_set_hexpand (labels, TRUE);
  gtk_widget_set_valign (labels, GTK_ALIGN_CENTER);
  gtk_box_append (GTK_BOX (labels), title);
  gtk_box_append (GTK_BOX (labels), state);
  gtk_box_append (GTK_BOX (box), icon);
  gtk_box_append (GTK_BOX (box), labels);
  gtk_box_append (GTK_BOX (box), vireo_host_row_menu_new (vireo_libvirt_host_get_uri (host)));
  gtk_list_box_row_set_child (GTK_LIST_BOX_ROW (row), box);
  gtk_widget_set_name (row, "host-libvirt");
  g_object_set_data (G_OBJECT (row), "vireo-host", host);
  g_object_set_data (G_OBJECT (state), "vireo-host", host);
  g_signal_connect_object (host, "notify", G_CALLBACK (on_libvirt_row_state), state, G_CONNECT_SWAPPED);
  g_signal_connect_object (vireo_libvirt_host_get_domains (host), "items-changed",
                           G_CALLBACK (on_libvirt_row_state), state, G_CONNECT_SWAPPED);
  on_libvirt_row_state (GTK_LABEL (state));
  return row;
}
