/* vireo-libvirt-page.c — a libvirt host's page in the manager window: one row per domain with its state
 * and only the buttons that apply to it (the "libvirt.*" actions, each with the domain's UUID), a toast
 * (in the window's AdwToastOverlay) naming the domain when an action fails, the domains' display
 * windows, and a status page with Reconnect while the host cannot be reached. */
#include "vireo-libvirt-page.h"

#include <glib/gi18n.h>

#include "vireo-libvirt-display.h"

struct _VireoLibvirtPage
{
  AdwBin parent_instance;

  VireoLibvirtHost *host;
  GHashTable *windows; /* uuid → display window (not owned: removed as it is destroyed) */

  AdwStatusPage *status_page;
  GtkLabel *title_label;
  GtkLabel *uri_label;
  GtkListBox *list;
};

G_DEFINE_FINAL_TYPE (VireoLibvirtPage, vireo_libvirt_page, ADW_TYPE_BIN)

/* The buttons of one row, by action. */
typedef struct
{
  VireoLibvirtDomain *domain;
  GtkWidget *spinner;
  GtkWidget *start;
  GtkWidget *pause;
  GtkWidget *resume;
  GtkWidget *shut_down;
  GtkWidget *connect;
  GtkWidget *more; /* Force Off */
} RowWidgets;

static const struct
{
  const char *action;
  VireoLibvirtAction value;
} actions[] = {
  { "libvirt.start", VIREO_LIBVIRT_START },         { "libvirt.shut-down", VIREO_LIBVIRT_SHUT_DOWN },
  { "libvirt.force-off", VIREO_LIBVIRT_FORCE_OFF }, { "libvirt.pause", VIREO_LIBVIRT_PAUSE },
  { "libvirt.resume", VIREO_LIBVIRT_RESUME },
};

static void
row_widgets_free (gpointer data)
{
  RowWidgets *widgets = data;

  g_object_unref (widgets->domain);
  g_free (widgets);
}

static void
update_row (RowWidgets *widgets)
{
  VireoLibvirtDomain *domain = widgets->domain;
  VireoLibvirtDomainState state = vireo_libvirt_domain_get_state (domain);
  gboolean busy = vireo_libvirt_domain_get_busy (domain);

  gtk_widget_set_visible (widgets->spinner, busy);
  gtk_spinner_set_spinning (GTK_SPINNER (widgets->spinner), busy);
  gtk_widget_set_visible (widgets->start, vireo_libvirt_domain_can (domain, VIREO_LIBVIRT_START));
  gtk_widget_set_visible (widgets->pause, vireo_libvirt_domain_can (domain, VIREO_LIBVIRT_PAUSE));
  gtk_widget_set_visible (widgets->resume, vireo_libvirt_domain_can (domain, VIREO_LIBVIRT_RESUME));
  gtk_widget_set_visible (widgets->shut_down, vireo_libvirt_domain_can (domain, VIREO_LIBVIRT_SHUT_DOWN));
  gtk_widget_set_visible (widgets->more, vireo_libvirt_domain_can (domain, VIREO_LIBVIRT_FORCE_OFF));
  gtk_widget_set_visible (widgets->connect,
                          state == VIREO_LIBVIRT_DOMAIN_RUNNING || state == VIREO_LIBVIRT_DOMAIN_PAUSED);
  /* One action at a time per domain: its state decides what comes next. */
  gtk_widget_set_sensitive (widgets->start, !busy);
  gtk_widget_set_sensitive (widgets->pause, !busy);
  gtk_widget_set_sensitive (widgets->resume, !busy);
  gtk_widget_set_sensitive (widgets->shut_down, !busy);
  gtk_widget_set_sensitive (widgets->more, !busy);
}

static void
on_domain_changed (GtkWidget *row)
{
  update_row (g_object_get_data (G_OBJECT (row), "vireo-libvirt-row"));
}

static GtkWidget *
action_button (GtkWidget *box, const char *name, const char *icon, const char *tooltip, const char *action,
               const char *uuid)
{
  GtkWidget *button = gtk_button_new_from_icon_name (icon);

  gtk_widget_set_name (button, name);
  gtk_widget_set_tooltip_text (button, tooltip);
  gtk_accessible_update_property (GTK_ACCESSIBLE (button), GTK_ACCESSIBLE_PROPERTY_LABEL, tooltip, -1);
  gtk_widget_set_valign (button, GTK_ALIGN_CENTER);
  gtk_widget_add_css_class (button, "flat");
  gtk_actionable_set_action_name (GTK_ACTIONABLE (button), action);
  gtk_actionable_set_action_target (GTK_ACTIONABLE (button), "s", uuid);
  gtk_box_append (GTK_BOX (box), button);
  return button;
}

static GtkWidget *
create_row (gpointer item, gpointer data)
{
  VireoLibvirtDomain *domain = item;
  const char *uuid = vireo_libvirt_domain_get_uuid (domain);
  GtkWidget *row = adw_action_row_new ();
  GtkWidget *box = gtk_box_new (GTK_ORIENTATION_HORIZONTAL, 6);
  RowWidgets *widgets = g_new0 (RowWidgets, 1);
  g_autoptr (GMenu) menu = g_menu_new ();
  g_autoptr (GMenuItem) force_off = g_menu_item_new (_ ("_Force Off"), NULL);

  adw_preferences_row_set_use_markup (ADW_PREFERENCES_ROW (row), FALSE);
  adw_preferences_row_set_title (ADW_PREFERENCES_ROW (row), vireo_libvirt_domain_get_name (domain));
  g_object_bind_property (domain, "state-label", row, "subtitle", G_BINDING_SYNC_CREATE);

  widgets->domain = g_object_ref (domain);
  widgets->spinner = gtk_spinner_new ();
  gtk_box_append (GTK_BOX (box), widgets->spinner);
  widgets->start = action_button (box, "start", "media-playback-start-symbolic", _ ("Start"), "libvirt.start",
                                  uuid);
  widgets->resume = action_button (box, "resume", "media-playback-start-symbolic", _ ("Resume"),
                                   "libvirt.resume", uuid);
  widgets->pause = action_button (box, "pause", "media-playback-pause-symbolic", _ ("Pause"), "libvirt.pause",
                                  uuid);
  widgets->shut_down = action_button (box, "shut-down", "system-shutdown-symbolic", _ ("Shut Down"),
                                      "libvirt.shut-down", uuid);

  g_menu_item_set_action_and_target_value (force_off, "libvirt.force-off", g_variant_new_string (uuid));
  g_menu_append_item (menu, force_off);
  widgets->more = gtk_menu_button_new ();
  gtk_widget_set_name (widgets->more, "more");
  gtk_menu_button_set_icon_name (GTK_MENU_BUTTON (widgets->more), "view-more-symbolic");
  gtk_menu_button_set_menu_model (GTK_MENU_BUTTON (widgets->more), G_MENU_MODEL (menu));
  gtk_widget_set_tooltip_text (widgets->more, _ ("More"));
  gtk_accessible_update_property (GTK_ACCESSIBLE (widgets->more), GTK_ACCESSIBLE_PROPERTY_LABEL, _ ("More"),
                                  -1);
  gtk_widget_set_valign (widgets->more, GTK_ALIGN_CENTER);
  gtk_widget_add_css_class (widgets->more, "flat");
  gtk_box_append (GTK_BOX (box), widgets->more);

  widgets->connect = gtk_button_new_with_mnemonic (_ ("_Connect"));
  gtk_widget_set_name (widgets->connect, "connect");
  gtk_widget_set_valign (widgets->connect, GTK_ALIGN_CENTER);
  gtk_actionable_set_action_name (GTK_ACTIONABLE (widgets->connect), "libvirt.connect");
  gtk_actionable_set_action_target (GTK_ACTIONABLE (widgets->connect), "s", uuid);
  gtk_box_append (GTK_BOX (box), widgets->connect);

  adw_action_row_add_suffix (ADW_ACTION_ROW (row), box);
  g_object_set_data_full (G_OBJECT (row), "vireo-libvirt-row", widgets, row_widgets_free);
  g_signal_connect_object (domain, "notify::state", G_CALLBACK (on_domain_changed), row, G_CONNECT_SWAPPED);
  g_signal_connect_object (domain, "notify::busy", G_CALLBACK (on_domain_changed), row, G_CONNECT_SWAPPED);
  update_row (widgets);
  return row;
}

static void
update_host (VireoLibvirtPage *self)
{
  gboolean available = vireo_libvirt_host_get_available (self->host);
  const char *status = vireo_libvirt_host_get_status (self->host);
  /* The description is markup; a URI's "&" (…?socket=…&keyfile=…) is not. */
  g_autofree char *description = status ? g_markup_escape_text (status, -1) : NULL;

  gtk_label_set_text (self->title_label, vireo_libvirt_host_get_title (self->host));
  gtk_label_set_text (self->uri_label, vireo_libvirt_host_get_uri (self->host));
  adw_status_page_set_title (self->status_page, vireo_libvirt_host_get_title (self->host));
  adw_status_page_set_description (self->status_page, description);
  /* The stack is AdwBin's child, not bound: AdwBin unparents it itself. */
  gtk_stack_set_visible_child_name (GTK_STACK (adw_bin_get_child (ADW_BIN (self))),
                                    available ? "domains" : "status");
}

static void
on_action_done (GObject *source, GAsyncResult *result, gpointer data)
{
  g_autoptr (VireoLibvirtPage) self = data;
  g_autoptr (GError) error = NULL;
  GtkWidget *overlay;

  if (vireo_libvirt_domain_run_finish (VIREO_LIBVIRT_DOMAIN (source), result, &error))
    return;
  /* The window's toasts, which outlive the page (a host chosen in the sidebar replaces it). */
  overlay = gtk_widget_get_ancestor (GTK_WIDGET (self), ADW_TYPE_TOAST_OVERLAY);
  if (overlay)
    {
      AdwToast *toast = adw_toast_new (error->message);
      adw_toast_set_timeout (toast, 10);
      adw_toast_overlay_add_toast (ADW_TOAST_OVERLAY (overlay), toast);
    }
  else
    g_message ("%s", error->message); /* the page was taken out of its window meanwhile */
}

static void
run_action (GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  VireoLibvirtPage *self = VIREO_LIBVIRT_PAGE (widget);
  VireoLibvirtDomain *domain = vireo_libvirt_host_find_domain (self->host,
                                                               g_variant_get_string (parameter, NULL));

  if (domain == NULL)
    return;
  for (gsize i = 0; i < G_N_ELEMENTS (actions); i++)
    if (g_str_equal (action_name, actions[i].action) && vireo_libvirt_domain_can (domain, actions[i].value))
      vireo_libvirt_domain_run_async (domain, actions[i].value, NULL, on_action_done, g_object_ref (self));
}

static void
on_window_destroy (GtkWidget *window, VireoLibvirtPage *self)
{
  g_hash_table_remove (self->windows, g_object_get_data (G_OBJECT (window), "vireo-libvirt-uuid"));
}

static void
connect_action (GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  VireoLibvirtPage *self = VIREO_LIBVIRT_PAGE (widget);
  const char *uuid = g_variant_get_string (parameter, NULL);
  VireoLibvirtDomain *domain = vireo_libvirt_host_find_domain (self->host, uuid);
  GtkWindow *window = g_hash_table_lookup (self->windows, uuid);
  GtkRoot *root = gtk_widget_get_root (widget);

  if (window == NULL && domain != NULL)
    {
      window = vireo_libvirt_display_new (domain);
      if (GTK_IS_WINDOW (root) && gtk_window_get_application (GTK_WINDOW (root)))
        gtk_window_set_application (window, gtk_window_get_application (GTK_WINDOW (root)));
      g_object_set_data_full (G_OBJECT (window), "vireo-libvirt-uuid", g_strdup (uuid), g_free);
      g_hash_table_insert (self->windows, g_strdup (uuid), window);
      g_signal_connect_object (window, "destroy", G_CALLBACK (on_window_destroy), self, 0);
    }
  if (window)
    gtk_window_present (window);
}

static void
reconnect_action (GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  vireo_libvirt_host_reconnect (VIREO_LIBVIRT_PAGE (widget)->host);
}

static void
vireo_libvirt_page_dispose (GObject *object)
{
  VireoLibvirtPage *self = VIREO_LIBVIRT_PAGE (object);

  if (self->host)
    g_signal_handlers_disconnect_by_data (self->host, self);
  if (self->windows)
    {
      /* The display windows belong to the host's domains, not to this view of them: they stay open. */
      GHashTableIter iter;
      gpointer window;

      g_hash_table_iter_init (&iter, self->windows);
      while (g_hash_table_iter_next (&iter, NULL, &window))
        g_signal_handlers_disconnect_by_data (window, self);
      g_clear_pointer (&self->windows, g_hash_table_unref);
    }
  gtk_widget_dispose_template (GTK_WIDGET (self), VIREO_TYPE_LIBVIRT_PAGE);
  g_clear_object (&self->host);
  G_OBJECT_CLASS (vireo_libvirt_page_parent_class)->dispose (object);
}

static void
vireo_libvirt_page_class_init (VireoLibvirtPageClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = vireo_libvirt_page_dispose;

  gtk_widget_class_set_template_from_resource (widget_class, "/org/vireo/Vireo/vireo-libvirt-page.ui");
  gtk_widget_class_bind_template_child (widget_class, VireoLibvirtPage, status_page);
  gtk_widget_class_bind_template_child (widget_class, VireoLibvirtPage, title_label);
  gtk_widget_class_bind_template_child (widget_class, VireoLibvirtPage, uri_label);
  gtk_widget_class_bind_template_child (widget_class, VireoLibvirtPage, list);

  for (gsize i = 0; i < G_N_ELEMENTS (actions); i++)
    gtk_widget_class_install_action (widget_class, actions[i].action, "s", run_action);
  gtk_widget_class_install_action (widget_class, "libvirt.connect", "s", connect_action);
  gtk_widget_class_install_action (widget_class, "libvirt.reconnect", NULL, reconnect_action);
}

static void
vireo_libvirt_page_init (VireoLibvirtPage *self)
{
  GtkWidget *placeholder;

  gtk_widget_init_template (GTK_WIDGET (self));
  self->windows = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  placeholder = gtk_label_new (_ ("No domains on this host"));
  gtk_widget_add_css_class (placeholder, "dim-label");
  gtk_widget_set_margin_top (placeholder, 18);
  gtk_widget_set_margin_bottom (placeholder, 18);
  gtk_list_box_set_placeholder (self->list, placeholder);
}

GtkWidget *
vireo_libvirt_page_new (VireoLibvirtHost *host)
{
  VireoLibvirtPage *self;

  g_return_val_if_fail (VIREO_IS_LIBVIRT_HOST (host), NULL);

  self = g_object_new (VIREO_TYPE_LIBVIRT_PAGE, NULL);
  self->host = g_object_ref (host);
  gtk_list_box_bind_model (self->list, vireo_libvirt_host_get_domains (host), create_row, self, NULL);
  g_signal_connect_swapped (host, "notify::available", G_CALLBACK (update_host), self);
  g_signal_connect_swapped (host, "notify::status", G_CALLBACK (update_host), self);
  update_host (self);
  return GTK_WIDGET (self);
}

VireoLibvirtHost *
vireo_libvirt_page_get_host (VireoLibvirtPage *self)
{
  g_return_val_if_fail (VIREO_IS_LIBVIRT_PAGE (self), NULL);
  return self->host;
}

GtkWindow *
vireo_libvirt_page_get_display_window (VireoLibvirtPage *self, const char *uuid)
{
  g_return_val_if_fail (VIREO_IS_LIBVIRT_PAGE (self), NULL);
  return g_hash_table_lookup (self->windows, uuid);
}
