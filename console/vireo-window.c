/* vireo-window.c — the manager window: hosts in a sidebar (following the app's host list, remote ones with
 * their connection state and a Reconnect / Forget menu), and for the selected host its machine list
 * (vireo-machine-list.c) beside the selected machine's details (vireo-machine-details.c); it owns the machine
 * actions (buttons, shortcuts, menus) and their dialogs, the checkpoints' too (vireo-checkpoint-calls.c).  Everything follows the service's signals. */
#include "vireo-window.h"

#include "vireo-host-row.h"
#include "vireo-libvirt-page.h"

#include <glib/gi18n.h>
#include <string.h>

#include "vireo-checkpoint-calls.h"
#include "vireo-checks.h"
#include "vireo-format.h"
#include "vireo-machine-calls.h"
#include "vireo-machine-details.h"
#include "vireo-machine-list.h"
#include "vireo-machine-settings.h"
#include "vireo-move-dialog.h"
#include "vireo-new-machine.h"
#include "vireo-switch-manager.h"

struct _VireoWindow
{
  AdwApplicationWindow parent_instance;

  VireoApplication *app;
  GSettings *settings;

  /* Template widgets */
  AdwToastOverlay *toasts;
  AdwLeaflet *leaflet;
  GtkWidget *content;
  GtkListBox *hosts_list;
  AdwWindowTitle *content_title;
  GtkStack *content_stack;
  AdwStatusPage *unavailable_page;
  GtkWidget *reconnect_button;
  GtkRevealer *kvm_revealer;
  GtkLabel *kvm_label;
  VireoMachineList *machine_list;
  VireoMachineDetails *details;

  VireoHost *host;           /* the Vireo host selected in the sidebar */
  VireoLibvirtHost *libvirt; /* or the libvirt host, shown by libvirt_page */
  GtkWidget *libvirt_page;
  VireoDBusMachine *selected; /* followed for the actions */
  GCancellable *cancellable;
};

G_DEFINE_FINAL_TYPE (VireoWindow, vireo_window, ADW_TYPE_APPLICATION_WINDOW)

/* ---- calls and their failures ---- */

void
vireo_window_add_toast (VireoWindow *self, const char *message)
{
  AdwToast *toast = adw_toast_new (message);

  adw_toast_set_timeout (toast, 8);
  adw_toast_overlay_add_toast (self->toasts, toast);
}

static void
report_failure (VireoWindow *self, const char *what, GError *error)
{
  g_autofree char *message = NULL;

  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;
  g_dbus_error_strip_remote_error (error);
  message = g_strdup_printf ("%s: %s", what, error->message);
  vireo_window_add_toast (self, message);
}

/* ---- the selected machine ---- */

static void update_actions (VireoWindow *self);

static void
set_selected (VireoWindow *self, VireoDBusMachine *machine)
{
  if (self->selected == machine)
    return;
  if (self->selected)
    g_signal_handlers_disconnect_by_data (self->selected, self);
  g_set_object (&self->selected, machine);
  /* Also called while the window goes away, when its widgets may be gone already. */
  if (!self->details)
    return;
  vireo_machine_details_set_machine (self->details, machine);
  if (machine)
    g_signal_connect_swapped (machine, "notify", G_CALLBACK (update_actions), self);
  update_actions (self);
}

static void
on_selection_changed (VireoWindow *self)
{
  set_selected (self, vireo_machine_list_get_selected (self->machine_list));
}

/* ---- hosts ---- */

/* The status page of a host whose machines cannot be listed: why, in its title and its text. */
static void
show_unavailable (VireoWindow *self)
{
  gboolean remote = vireo_host_get_kind (self->host) == VIREO_HOST_REMOTE;
  VireoHostState state = vireo_host_get_state (self->host);
  const char *title = _ ("Service Not Running");
  g_autofree char *status = NULL;
  const char *subtitle = _ ("Not running");
  const char *icon = "computer-fail-symbolic";

  if (remote && state == VIREO_HOST_CONNECTING)
    {
      title = _ ("Connecting…");
      subtitle = _ ("Connecting…");
      icon = "network-server-symbolic";
    }
  else if (remote && state == VIREO_HOST_LOST)
    {
      title = _ ("Connection Lost");
      subtitle = _ ("Connection lost");
      icon = "network-offline-symbolic";
    }
  adw_status_page_set_title (self->unavailable_page, title);
  adw_status_page_set_icon_name (self->unavailable_page, icon);
  /* Markup there; the status is ssh's or the service's words. */
  status = g_markup_escape_text (vireo_host_get_status (self->host), -1);
  adw_status_page_set_description (self->unavailable_page, status);
  gtk_widget_set_visible (self->reconnect_button, remote && state == VIREO_HOST_LOST);
  gtk_stack_set_visible_child_name (self->content_stack, "unavailable");
  adw_window_title_set_subtitle (self->content_title, subtitle);
}

static void
update_content (VireoWindow *self)
{
  guint n;
  g_autofree char *subtitle = NULL;

  if (!self->host)
    return;
  n = g_list_model_get_n_items (vireo_host_get_machines (self->host));
  adw_window_title_set_title (self->content_title, vireo_host_get_title (self->host));
  if (!vireo_host_get_available (self->host))
    {
      show_unavailable (self);
      return;
    }
  subtitle = g_strdup_printf (g_dngettext (GETTEXT_PACKAGE, "%u machine", "%u machines", n), n);
  adw_window_title_set_subtitle (self->content_title, subtitle);
  gtk_label_set_text (self->kvm_label, vireo_host_get_status (self->host));
  gtk_revealer_set_reveal_child (self->kvm_revealer, *vireo_host_get_status (self->host) != '\0');
  gtk_stack_set_visible_child_name (self->content_stack, n ? "machines" : "empty");
}

static void
on_host_changed (VireoWindow *self)
{
  update_content (self);
  update_actions (self);
}

static void
select_host (VireoWindow *self, VireoHost *host)
{
  if (self->host == host)
    return;
  if (self->host)
    {
      g_signal_handlers_disconnect_by_data (self->host, self);
      g_signal_handlers_disconnect_by_data (vireo_host_get_machines (self->host), self);
    }
  self->host = host;
  vireo_machine_details_set_host (self->details, host);
  vireo_machine_list_set_model (self->machine_list, host ? vireo_host_get_machines (host) : NULL);
  if (host)
    {
      g_signal_connect_swapped (host, "notify", G_CALLBACK (on_host_changed), self);
      g_signal_connect_swapped (vireo_host_get_machines (host), "items-changed", G_CALLBACK (on_host_changed),
                                self);
      if (self->settings && vireo_host_get_kind (host) != VIREO_HOST_REMOTE)
        g_settings_set_string (self->settings, "sidebar",
                               vireo_host_get_kind (host) == VIREO_HOST_SESSION ? "session" : "system");
    }
  on_host_changed (self);
  on_selection_changed (self);
}

/* A libvirt host's page in the content area, in place of a Vireo host's machines (NULL: none). */
static void
show_libvirt (VireoWindow *self, VireoLibvirtHost *host)
{
  if (self->libvirt == host)
    return;
  if (self->libvirt_page)
    gtk_stack_remove (self->content_stack, self->libvirt_page);
  self->libvirt_page = NULL;
  self->libvirt = host;
  if (!host)
    return;
  self->libvirt_page = vireo_libvirt_page_new (host);
  gtk_stack_add_named (self->content_stack, self->libvirt_page, "libvirt");
  gtk_stack_set_visible_child (self->content_stack, self->libvirt_page);
  gtk_revealer_set_reveal_child (self->kvm_revealer, FALSE);
  adw_window_title_set_title (self->content_title, vireo_libvirt_host_get_title (host));
  adw_window_title_set_subtitle (self->content_title, vireo_libvirt_host_get_uri (host));
}

/* @host: a VireoHost or a VireoLibvirtHost, as the sidebar rows hold them. */
static void
select_any_host (VireoWindow *self, gpointer host)
{
  if (VIREO_IS_LIBVIRT_HOST (host))
    {
      select_host (self, NULL);
      show_libvirt (self, host);
      return;
    }
  show_libvirt (self, NULL);
  select_host (self, host);
}

static void
on_host_row_selected (VireoWindow *self, GtkListBoxRow *row)
{
  if (!row)
    return;
  select_any_host (self, g_object_get_data (G_OBJECT (row), "vireo-host"));
  adw_leaflet_navigate (self->leaflet, ADW_NAVIGATION_DIRECTION_FORWARD);
}

static void
on_host_row_count (GtkLabel *count)
{
  VireoHost *host = g_object_get_data (G_OBJECT (count), "vireo-host");
  g_autofree char *text = NULL;

  if (vireo_host_get_available (host))
    text = g_strdup_printf ("%u", g_list_model_get_n_items (vireo_host_get_machines (host)));
  gtk_label_set_text (count, text ? text : "");
  gtk_widget_set_tooltip_text (GTK_WIDGET (count),
                               vireo_host_get_available (host) ? NULL : vireo_host_get_status (host));
}

/* A remote host's second line: how far the connection got. */
static void
on_host_row_state (GtkLabel *label)
{
  VireoHost *host = g_object_get_data (G_OBJECT (label), "vireo-host");
  VireoHostState state = vireo_host_get_state (host);

  guint n = g_list_model_get_n_items (vireo_host_get_machines (host));
  g_autofree char *connected = g_strdup_printf (
      /* Translators: a remote host's state in the sidebar, with its number of machines. */
      g_dngettext (GETTEXT_PACKAGE, "Connected · %u machine", "Connected · %u machines", n), n);

  gtk_label_set_text (label, state == VIREO_HOST_CONNECTING    ? _ ("Connecting…")
                             : state == VIREO_HOST_LOST        ? _ ("Connection lost")
                             : vireo_host_get_available (host) ? connected
                                                               : _ ("Service not running"));
  gtk_widget_set_tooltip_text (GTK_WIDGET (label), vireo_host_get_status (host));
  if (state == VIREO_HOST_LOST)
    gtk_widget_add_css_class (GTK_WIDGET (label), "error");
  else
    gtk_widget_remove_css_class (GTK_WIDGET (label), "error");
}

static GtkWidget *
create_host_row (gpointer item, gpointer data)
{
  if (VIREO_IS_LIBVIRT_HOST (item))
    return vireo_host_row_new_libvirt (item);

  VireoHost *host = item;
  VireoHostKind kind = vireo_host_get_kind (host);
  GtkWidget *row = gtk_list_box_row_new ();
  GtkWidget *box = gtk_box_new (GTK_ORIENTATION_HORIZONTAL, 12);
  GtkWidget *labels = gtk_box_new (GTK_ORIENTATION_VERTICAL, 0);
  GtkWidget *icon = gtk_image_new_from_icon_name (kind == VIREO_HOST_SESSION  ? "avatar-default-symbolic"
                                                  : kind == VIREO_HOST_SYSTEM ? "computer-symbolic"
                                                                              : "network-server-symbolic");
  GtkWidget *label = gtk_label_new (vireo_host_get_title (host));
  GtkWidget *count = gtk_label_new ("");

  gtk_label_set_xalign (GTK_LABEL (label), 0);
  gtk_label_set_ellipsize (GTK_LABEL (label), PANGO_ELLIPSIZE_END);
  gtk_widget_set_hexpand (labels, TRUE);
  gtk_widget_set_valign (labels, GTK_ALIGN_CENTER);
  gtk_widget_add_css_class (count, "dim-label");
  gtk_box_append (GTK_BOX (labels), label);
  gtk_box_append (GTK_BOX (box), icon);
  gtk_box_append (GTK_BOX (box), labels);
  gtk_box_append (GTK_BOX (box), count);
  gtk_list_box_row_set_child (GTK_LIST_BOX_ROW (row), box);
  g_object_set_data (G_OBJECT (row), "vireo-host", host);
  g_object_set_data (G_OBJECT (count), "vireo-host", host);
  gtk_widget_set_name (row, kind == VIREO_HOST_SESSION  ? "host-session"
                            : kind == VIREO_HOST_SYSTEM ? "host-system"
                                                        : "host-remote");
  g_signal_connect_object (host, "notify::available", G_CALLBACK (on_host_row_count), count,
                           G_CONNECT_SWAPPED);
  g_signal_connect_object (host, "notify::status", G_CALLBACK (on_host_row_count), count, G_CONNECT_SWAPPED);
  g_signal_connect_object (vireo_host_get_machines (host), "items-changed", G_CALLBACK (on_host_row_count),
                           count, G_CONNECT_SWAPPED);
  on_host_row_count (GTK_LABEL (count));
  if (kind == VIREO_HOST_REMOTE)
    {
      GtkWidget *state = gtk_label_new (NULL);

      gtk_label_set_xalign (GTK_LABEL (state), 0);
      gtk_widget_add_css_class (state, "caption");
      gtk_widget_add_css_class (state, "dim-label");
      g_object_set_data (G_OBJECT (state), "vireo-host", host);
      g_signal_connect_object (host, "notify", G_CALLBACK (on_host_row_state), state, G_CONNECT_SWAPPED);
      g_signal_connect_object (vireo_host_get_machines (host), "items-changed",
                               G_CALLBACK (on_host_row_state), state, G_CONNECT_SWAPPED);
      /* The count is on the second line: the first keeps its width for the host's name. */
      gtk_widget_set_visible (count, FALSE);
      on_host_row_state (GTK_LABEL (state));
      gtk_box_append (GTK_BOX (labels), state);
      gtk_box_append (GTK_BOX (box), vireo_host_row_menu_new (vireo_host_get_uri (host)));
    }
  return row;
}

static void
select_host_row (VireoWindow *self, gpointer host)
{
  for (GtkWidget *row = gtk_widget_get_first_child (GTK_WIDGET (self->hosts_list)); row;
       row = gtk_widget_get_next_sibling (row))
    if (GTK_IS_LIST_BOX_ROW (row) && g_object_get_data (G_OBJECT (row), "vireo-host") == host)
      gtk_list_box_select_row (self->hosts_list, GTK_LIST_BOX_ROW (row));
  select_any_host (self, host);
}

/* A forgotten host leaves the sidebar: the first host takes its place in view. */
static void
on_hosts_changed (VireoWindow *self, guint position, guint removed, guint added, GListModel *hosts)
{
  g_autoptr (VireoHost) first = g_list_model_get_item (hosts, 0);

  for (guint i = 0; i < g_list_model_get_n_items (hosts); i++)
    {
      g_autoptr (GObject) host = g_list_model_get_item (hosts, i);
      if (host == (GObject *) self->host || host == (GObject *) self->libvirt)
        return;
    }
  show_libvirt (self, NULL);
  select_host (self, NULL);
  if (first)
    select_host_row (self, first);
}

static void
host_reconnect_activated (GtkWidget *widget, const char *action, GVariant *parameter)
{
  VireoWindow *self = VIREO_WINDOW (widget);
  GObject *host = parameter ? vireo_application_find_host (self->app, g_variant_get_string (parameter, NULL))
                            : G_OBJECT (self->host);

  if (VIREO_IS_HOST (host))
    vireo_host_reconnect (VIREO_HOST (host));
  else if (VIREO_IS_LIBVIRT_HOST (host))
    vireo_libvirt_host_reconnect (VIREO_LIBVIRT_HOST (host));
}

static void
host_forget_activated (GtkWidget *widget, const char *action, GVariant *parameter)
{
  VireoWindow *self = VIREO_WINDOW (widget);
  GObject *host = vireo_application_find_host (self->app, g_variant_get_string (parameter, NULL));

  if (host)
    vireo_application_forget_host (self->app, host);
}

static void
on_reconnect_clicked (VireoWindow *self)
{
  if (self->host)
    vireo_host_reconnect (self->host);
}

/* ---- the machine list ---- */

static void
context_menu_activated (GtkWidget *widget, const char *action, GVariant *parameter)
{
  VireoWindow *self = VIREO_WINDOW (widget);

  if (self->selected)
    vireo_machine_list_popup_menu (self->machine_list);
}

/* ---- actions ---- */

static void
update_actions (VireoWindow *self)
{
  const char *state = self->selected ? vireo_dbus_machine_get_state (self->selected) : NULL;
  gboolean have = self->selected != NULL;
  gboolean running = g_strcmp0 (state, "running") == 0;
  gboolean paused = g_strcmp0 (state, "paused") == 0;
  gboolean transitional = g_strcmp0 (state, "starting") == 0 || g_strcmp0 (state, "stopping") == 0;
  gboolean busy = have && vireo_checkpoint_job (self->selected) != NULL;
  struct
  {
    const char *name;
    gboolean enabled;
  } actions[] = {
    { "connect", have },
    { "start", have && vireo_state_can_start (state) },
    { "shutdown", running },
    { "turn-off", running || paused || transitional },
    { "save", running || paused },
    { "pause", running },
    { "resume", paused },
    { "reset", running },
    { "settings", have },
    /* One checkpoint operation at a time per machine: the service refuses a second. */
    { "checkpoint", have && !transitional && g_strcmp0 (state, "saving") != 0 && !busy },
    { "revert", have && !transitional && g_strcmp0 (state, "saving") != 0 && !busy
                    && g_strcmp0 (vireo_dbus_machine_get_current_checkpoint (self->selected), "/") != 0
                    && vireo_dbus_machine_get_current_checkpoint (self->selected) != NULL },
    { "rename", have },
    { "export", have },
    /* Only a machine that is off moves: its disks must hold still while they are copied. */
    { "move", have && g_strcmp0 (state, "off") == 0 },
    { "delete", have && vireo_state_can_start (state) },
    { "new-machine", self->host && vireo_host_get_available (self->host) },
    { "switch-manager", self->host && vireo_host_get_available (self->host) },
  };

  /* Installed as "win.<name>": GTK takes the name without its prefix for another action. */
  for (gsize i = 0; i < G_N_ELEMENTS (actions); i++)
    {
      g_autofree char *name = g_strconcat ("win.", actions[i].name, NULL);
      gtk_widget_action_set_enabled (GTK_WIDGET (self), name, actions[i].enabled);
    }
}

static void
connect_activated (GtkWidget *widget, const char *action, GVariant *parameter)
{
  VireoWindow *self = VIREO_WINDOW (widget);

  if (self->selected)
    vireo_application_connect (self->app, self->host, self->selected);
}

static void
on_call_failed (GtkWidget *window, const char *message)
{
  vireo_window_add_toast (VIREO_WINDOW (window), message);
}

/* "win.start" … "win.reset": the Machine method of the same name. */
static void
simple_machine_action (GtkWidget *widget, const char *action, GVariant *parameter)
{
  VireoWindow *self = VIREO_WINDOW (widget);

  if (self->selected)
    vireo_machine_call_verb (self->selected, action + strlen ("win."), widget, on_call_failed);
}

static void
new_machine_created (VireoWindow *self, const char *object_path, gboolean connect_now)
{
  VireoDBusMachine *machine;

  select_host_row (self, self->host);
  vireo_machine_list_select (self->machine_list, object_path);
  machine = vireo_host_find_machine (self->host, object_path);
  if (machine && connect_now)
    vireo_application_connect (self->app, self->host, machine);
}

static void
new_machine_activated (GtkWidget *widget, const char *action, GVariant *parameter)
{
  VireoWindow *self = VIREO_WINDOW (widget);
  VireoNewMachine *wizard;

  if (!self->host || !vireo_host_get_available (self->host))
    return;
  wizard = vireo_new_machine_new (GTK_WINDOW (self), self->host);
  g_signal_connect_object (wizard, "created", G_CALLBACK (new_machine_created), self, G_CONNECT_SWAPPED);
  gtk_window_present (GTK_WINDOW (wizard));
}

/* The switches of the host in view: each service has its own. */
static void
switch_manager_activated (GtkWidget *widget, const char *action, GVariant *parameter)
{
  VireoWindow *self = VIREO_WINDOW (widget);

  if (self->host && vireo_host_get_available (self->host))
    gtk_window_present (GTK_WINDOW (vireo_switch_manager_new (GTK_WINDOW (self), self->host)));
}

static void
settings_activated (GtkWidget *widget, const char *action, GVariant *parameter)
{
  VireoWindow *self = VIREO_WINDOW (widget);

  if (self->selected)
    gtk_window_present (
        GTK_WINDOW (vireo_machine_settings_new (GTK_WINDOW (self), self->host, self->selected)));
}

/* Rename: a message dialog with an entry; the service checks the name and says why it refuses one. */
static void
on_rename_response (AdwMessageDialog *dialog, const char *response, VireoWindow *self)
{
  GtkEditable *entry = g_object_get_data (G_OBJECT (dialog), "vireo-entry");
  VireoDBusMachine *machine = g_object_get_data (G_OBJECT (dialog), "vireo-machine");
  g_autofree char *name = NULL;

  if (!g_str_equal (response, "rename"))
    return;
  name = g_strstrip (g_strdup (gtk_editable_get_text (entry)));
  vireo_machine_call_rename (machine, name, GTK_WIDGET (self), on_call_failed);
}

static void
on_rename_changed (GtkEditable *entry, AdwMessageDialog *dialog)
{
  g_autofree char *name = g_strstrip (g_strdup (gtk_editable_get_text (entry)));
  gsize length = g_utf8_strlen (name, -1);

  adw_message_dialog_set_response_enabled (dialog, "rename",
                                           length >= 1 && length <= VIREO_MACHINE_NAME_MAX_CHARS);
}

static void
rename_activated (GtkWidget *widget, const char *action, GVariant *parameter)
{
  VireoWindow *self = VIREO_WINDOW (widget);
  GtkWidget *dialog, *entry;

  if (!self->selected)
    return;
  dialog = adw_message_dialog_new (GTK_WINDOW (self), _ ("Rename Machine"), NULL);
  adw_message_dialog_format_body (ADW_MESSAGE_DIALOG (dialog), _ ("Choose a new name for “%s”."),
                                  vireo_dbus_machine_get_name (self->selected));
  entry = gtk_entry_new ();
  gtk_editable_set_text (GTK_EDITABLE (entry), vireo_dbus_machine_get_name (self->selected));
  gtk_entry_set_activates_default (GTK_ENTRY (entry), TRUE);
  gtk_entry_set_max_length (GTK_ENTRY (entry), VIREO_MACHINE_NAME_MAX_CHARS);
  adw_message_dialog_set_extra_child (ADW_MESSAGE_DIALOG (dialog), entry);
  adw_message_dialog_add_responses (ADW_MESSAGE_DIALOG (dialog), "cancel", _ ("_Cancel"), "rename",
                                    _ ("_Rename"), NULL);
  adw_message_dialog_set_response_appearance (ADW_MESSAGE_DIALOG (dialog), "rename", ADW_RESPONSE_SUGGESTED);
  adw_message_dialog_set_default_response (ADW_MESSAGE_DIALOG (dialog), "rename");
  adw_message_dialog_set_close_response (ADW_MESSAGE_DIALOG (dialog), "cancel");
  g_object_set_data (G_OBJECT (dialog), "vireo-entry", entry);
  g_object_set_data_full (G_OBJECT (dialog), "vireo-machine", g_object_ref (self->selected), g_object_unref);
  g_signal_connect (entry, "changed", G_CALLBACK (on_rename_changed), dialog);
  g_signal_connect (dialog, "response", G_CALLBACK (on_rename_response), self);
  gtk_window_present (GTK_WINDOW (dialog));
  gtk_widget_grab_focus (entry);
}

/* Delete: confirmation, with the choice to delete the disk images the machine's folder holds. */
static void
on_delete_response (AdwMessageDialog *dialog, const char *response, VireoWindow *self)
{
  GtkCheckButton *disks = g_object_get_data (G_OBJECT (dialog), "vireo-disks");
  VireoDBusMachine *machine = g_object_get_data (G_OBJECT (dialog), "vireo-machine");

  if (!g_str_equal (response, "delete"))
    return;
  vireo_machine_call_delete (machine, gtk_check_button_get_active (disks), GTK_WIDGET (self), on_call_failed);
}

static void
delete_activated (GtkWidget *widget, const char *action, GVariant *parameter)
{
  VireoWindow *self = VIREO_WINDOW (widget);
  GtkWidget *dialog, *disks;

  if (!self->selected)
    return;
  dialog = adw_message_dialog_new (GTK_WINDOW (self), NULL, NULL);
  adw_message_dialog_format_heading (ADW_MESSAGE_DIALOG (dialog), _ ("Delete “%s”?"),
                                     vireo_dbus_machine_get_name (self->selected));
  adw_message_dialog_set_body (
      ADW_MESSAGE_DIALOG (dialog),
      _ ("The machine’s definition and saved state will be deleted. This cannot be undone."));
  disks = gtk_check_button_new_with_mnemonic (
      _ ("Also delete its _disk images (only those in its own folder)"));
  adw_message_dialog_set_extra_child (ADW_MESSAGE_DIALOG (dialog), disks);
  adw_message_dialog_add_responses (ADW_MESSAGE_DIALOG (dialog), "cancel", _ ("_Cancel"), "delete",
                                    _ ("_Delete"), NULL);
  adw_message_dialog_set_response_appearance (ADW_MESSAGE_DIALOG (dialog), "delete",
                                              ADW_RESPONSE_DESTRUCTIVE);
  adw_message_dialog_set_default_response (ADW_MESSAGE_DIALOG (dialog), "cancel");
  adw_message_dialog_set_close_response (ADW_MESSAGE_DIALOG (dialog), "cancel");
  g_object_set_data (G_OBJECT (dialog), "vireo-disks", disks);
  g_object_set_data_full (G_OBJECT (dialog), "vireo-machine", g_object_ref (self->selected), g_object_unref);
  g_signal_connect (dialog, "response", G_CALLBACK (on_delete_response), self);
  gtk_window_present (GTK_WINDOW (dialog));
}

/* Export: the definition as libvirt domain XML, written atomically where the user chose. */
typedef struct
{
  VireoWindow *window;
  GFile *file;
  char *name;
} ExportData;

static void
export_data_free (ExportData *data)
{
  g_object_unref (data->window);
  g_clear_object (&data->file);
  g_free (data->name);
  g_free (data);
}

static void
on_export_written (GObject *source, GAsyncResult *result, gpointer user_data)
{
  ExportData *data = user_data;
  g_autoptr (GError) error = NULL;

  if (!g_file_replace_contents_finish (G_FILE (source), result, NULL, &error))
    {
      g_autofree char *what = g_strdup_printf (_ ("Could not export “%s”"), data->name);
      report_failure (data->window, what, error);
    }
  else
    {
      g_autofree char *basename = g_file_get_basename (data->file);
      g_autofree char *message = g_strdup_printf (_ ("Exported “%s” to %s"), data->name, basename);
      vireo_window_add_toast (data->window, message);
    }
  export_data_free (data);
}

static void
on_export_xml (GObject *source, GAsyncResult *result, gpointer user_data)
{
  ExportData *data = user_data;
  g_autoptr (GError) error = NULL;
  g_autoptr (GBytes) bytes = NULL;
  char *xml = NULL;

  if (!vireo_dbus_machine_call_export_libvirt_xml_finish (VIREO_DBUS_MACHINE (source), &xml, result, &error))
    {
      g_autofree char *what = g_strdup_printf (_ ("Could not export “%s”"), data->name);
      report_failure (data->window, what, error);
      export_data_free (data);
      return;
    }
  bytes = g_bytes_new_take (xml, strlen (xml));
  /* g_file_replace_contents writes a temporary file and renames it over the old one. */
  g_file_replace_contents_bytes_async (data->file, bytes, NULL, TRUE, G_FILE_CREATE_REPLACE_DESTINATION,
                                       data->window->cancellable, on_export_written, data);
}

static void
export_to (VireoWindow *self, VireoDBusMachine *machine, GFile *file)
{
  ExportData *data = g_new0 (ExportData, 1);

  data->window = g_object_ref (self);
  data->file = g_object_ref (file);
  data->name = g_strdup (vireo_dbus_machine_get_name (machine));
  vireo_dbus_machine_call_export_libvirt_xml (machine, G_DBUS_CALL_FLAGS_NONE, -1, self->cancellable,
                                              on_export_xml, data);
}

static void
on_export_chosen (GtkNativeDialog *chooser, int response, VireoWindow *self)
{
  VireoDBusMachine *machine = g_object_get_data (G_OBJECT (chooser), "vireo-machine");
  g_autoptr (GFile) file = NULL;

  if (response == GTK_RESPONSE_ACCEPT)
    {
      file = gtk_file_chooser_get_file (GTK_FILE_CHOOSER (chooser));
      export_to (self, machine, file);
    }
  g_object_unref (chooser);
}

static void
export_activated (GtkWidget *widget, const char *action, GVariant *parameter)
{
  VireoWindow *self = VIREO_WINDOW (widget);
  GtkFileChooserNative *chooser;
  g_autofree char *suggested = NULL;

  if (!self->selected)
    return;
  chooser = gtk_file_chooser_native_new (_ ("Export Definition"), GTK_WINDOW (self),
                                         GTK_FILE_CHOOSER_ACTION_SAVE, _ ("_Export"), _ ("_Cancel"));
  suggested = g_strdup_printf ("%s.xml", vireo_dbus_machine_get_name (self->selected));
  g_strdelimit (suggested, "/", '-');
  gtk_file_chooser_set_current_name (GTK_FILE_CHOOSER (chooser), suggested);
  gtk_native_dialog_set_modal (GTK_NATIVE_DIALOG (chooser), TRUE);
  g_object_set_data_full (G_OBJECT (chooser), "vireo-machine", g_object_ref (self->selected), g_object_unref);
  g_signal_connect (chooser, "response", G_CALLBACK (on_export_chosen), self);
  gtk_native_dialog_show (GTK_NATIVE_DIALOG (chooser));
}

/* "Move to…": the dialog does the rest (vireo-move-dialog.c). */
static void
move_activated (GtkWidget *widget, const char *action, GVariant *parameter)
{
  VireoWindow *self = VIREO_WINDOW (widget);

  if (self->selected && self->host)
    gtk_window_present (
        GTK_WINDOW (vireo_move_dialog_new (GTK_WINDOW (self), self->app, self->host, self->selected)));
}

/* ---- checkpoints (vireo-checkpoint-calls.c) ---- */

static void
checkpoint_activated (GtkWidget *widget, const char *action, GVariant *parameter)
{
  VireoWindow *self = VIREO_WINDOW (widget);

  if (self->selected)
    vireo_checkpoint_create (widget, self->selected, on_call_failed);
}

static void
revert_activated (GtkWidget *widget, const char *action, GVariant *parameter)
{
  VireoWindow *self = VIREO_WINDOW (widget);

  if (self->selected)
    vireo_checkpoint_revert (widget, self->host, self->selected, on_call_failed);
}

/* "win.checkpoint-apply" … "win.checkpoint-delete-subtree": the checkpoint menu's items, each with the
 * checkpoint's object path; the checkpoint belongs to the selected machine. */
static void
checkpoint_item_activated (GtkWidget *widget, const char *action, GVariant *parameter)
{
  VireoWindow *self = VIREO_WINDOW (widget);
  VireoDBusCheckpoint *checkpoint = vireo_checkpoints_find (self->host,
                                                            g_variant_get_string (parameter, NULL));
  gboolean subtree = g_str_equal (action, "win.checkpoint-delete-subtree");

  if (checkpoint == NULL || self->selected == NULL)
    return;
  if (g_str_equal (action, "win.checkpoint-apply"))
    vireo_checkpoint_confirm_apply (widget, self->selected, checkpoint, FALSE, on_call_failed);
  else if (g_str_equal (action, "win.checkpoint-rename"))
    vireo_checkpoint_ask_rename (widget, checkpoint, on_call_failed);
  else if (g_str_equal (action, "win.checkpoint-export"))
    vireo_checkpoint_ask_export (widget, self->host, self->selected, checkpoint, on_call_failed);
  else if (subtree || g_str_equal (action, "win.checkpoint-delete"))
    {
      g_autoptr (GPtrArray) all = vireo_checkpoints_list (self->host, self->selected);

      vireo_checkpoint_confirm_delete (widget, self->selected, checkpoint, subtree,
                                       vireo_checkpoints_count_below (all, checkpoint), on_call_failed);
    }
}

static void
back_activated (GtkWidget *widget, const char *action, GVariant *parameter)
{
  VireoWindow *self = VIREO_WINDOW (widget);

  adw_leaflet_navigate (self->leaflet, ADW_NAVIGATION_DIRECTION_BACK);
}

static void
on_back_clicked (VireoWindow *self)
{
  adw_leaflet_navigate (self->leaflet, ADW_NAVIGATION_DIRECTION_BACK);
}

/* ---- window state ---- */

static gboolean
vireo_window_close_request (GtkWindow *window)
{
  VireoWindow *self = VIREO_WINDOW (window);

  if (self->settings)
    {
      int width, height;

      gtk_window_get_default_size (window, &width, &height);
      g_settings_set_int (self->settings, "window-width", width);
      g_settings_set_int (self->settings, "window-height", height);
      g_settings_set_boolean (self->settings, "window-maximized", gtk_window_is_maximized (window));
    }
  return GTK_WINDOW_CLASS (vireo_window_parent_class)->close_request (window);
}

/* Once the window belongs to the app (a plain property, set after construction): its hosts and state. */
static void
attach_app (VireoWindow *self, VireoApplication *app)
{
  VireoHost *first = NULL;
  g_autofree char *sidebar = NULL;

  self->app = app;
  vireo_machine_details_set_application (self->details, app);
  self->settings = vireo_application_get_settings ();
  if (self->settings)
    {
      gtk_window_set_default_size (GTK_WINDOW (self), g_settings_get_int (self->settings, "window-width"),
                                   g_settings_get_int (self->settings, "window-height"));
      if (g_settings_get_boolean (self->settings, "window-maximized"))
        gtk_window_maximize (GTK_WINDOW (self));
      sidebar = g_settings_get_string (self->settings, "sidebar");
    }

  gtk_list_box_bind_model (self->hosts_list, vireo_application_get_hosts (app), create_host_row, self, NULL);
  g_signal_connect_object (vireo_application_get_hosts (app), "items-changed", G_CALLBACK (on_hosts_changed),
                           self, G_CONNECT_SWAPPED);
  for (int kind = VIREO_HOST_SESSION; kind <= VIREO_HOST_SYSTEM; kind++)
    {
      VireoHost *host = vireo_application_get_host (self->app, kind);
      if (host && (!first || g_strcmp0 (sidebar, kind == VIREO_HOST_SESSION ? "session" : "system") == 0))
        first = host;
    }
  select_host_row (self, first);
  adw_leaflet_set_visible_child (self->leaflet, self->content);
}

static void
vireo_window_dispose (GObject *object)
{
  VireoWindow *self = VIREO_WINDOW (object);

  vireo_checkpoint_jobs_unwatch (object);
  if (self->host)
    {
      g_signal_handlers_disconnect_by_data (self->host, self);
      g_signal_handlers_disconnect_by_data (vireo_host_get_machines (self->host), self);
      self->host = NULL;
    }
  set_selected (self, NULL);
  g_cancellable_cancel (self->cancellable);
  g_clear_object (&self->cancellable);
  g_clear_object (&self->settings);

  gtk_widget_dispose_template (GTK_WIDGET (self), VIREO_TYPE_WINDOW);
  G_OBJECT_CLASS (vireo_window_parent_class)->dispose (object);
}

static void
vireo_window_class_init (VireoWindowClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);
  static const struct
  {
    const char *name;
    GtkWidgetActionActivateFunc activate;
    guint key;
    GdkModifierType mods;
  } actions[] = {
    { "win.connect", connect_activated, GDK_KEY_Return, GDK_CONTROL_MASK },
    { "win.start", simple_machine_action, GDK_KEY_s, GDK_CONTROL_MASK },
    { "win.shutdown", simple_machine_action, GDK_KEY_d, GDK_CONTROL_MASK },
    { "win.turn-off", simple_machine_action, GDK_KEY_o, GDK_CONTROL_MASK },
    { "win.save", simple_machine_action, GDK_KEY_a, GDK_CONTROL_MASK },
    { "win.pause", simple_machine_action, GDK_KEY_p, GDK_CONTROL_MASK },
    { "win.resume", simple_machine_action, GDK_KEY_r, GDK_CONTROL_MASK },
    { "win.reset", simple_machine_action, GDK_KEY_e, GDK_CONTROL_MASK },
    { "win.settings", settings_activated, GDK_KEY_Return, GDK_ALT_MASK },
    /* VMConnect's Ctrl+N and Ctrl+R are New Machine and Resume here: with Shift. */
    { "win.checkpoint", checkpoint_activated, GDK_KEY_N, GDK_CONTROL_MASK | GDK_SHIFT_MASK },
    { "win.revert", revert_activated, GDK_KEY_R, GDK_CONTROL_MASK | GDK_SHIFT_MASK },
    { "win.rename", rename_activated, GDK_KEY_F2, 0 },
    { "win.export", export_activated, GDK_KEY_e, GDK_CONTROL_MASK | GDK_SHIFT_MASK },
    { "win.move", move_activated, 0, 0 },
    { "win.delete", delete_activated, GDK_KEY_Delete, 0 },
    { "win.new-machine", new_machine_activated, GDK_KEY_n, GDK_CONTROL_MASK },
    { "win.switch-manager", switch_manager_activated, 0, 0 },
    { "win.context-menu", context_menu_activated, GDK_KEY_F10, GDK_SHIFT_MASK },
    { "win.back", back_activated, GDK_KEY_Left, GDK_ALT_MASK },
  };

  object_class->dispose = vireo_window_dispose;
  GTK_WINDOW_CLASS (klass)->close_request = vireo_window_close_request;

  g_type_ensure (VIREO_TYPE_MACHINE_LIST);
  g_type_ensure (VIREO_TYPE_MACHINE_DETAILS);
  gtk_widget_class_set_template_from_resource (widget_class, "/org/vireo/Vireo/vireo-window.ui");
  gtk_widget_class_bind_template_child (widget_class, VireoWindow, toasts);
  gtk_widget_class_bind_template_child (widget_class, VireoWindow, leaflet);
  gtk_widget_class_bind_template_child (widget_class, VireoWindow, content);
  gtk_widget_class_bind_template_child (widget_class, VireoWindow, hosts_list);
  gtk_widget_class_bind_template_child (widget_class, VireoWindow, content_title);
  gtk_widget_class_bind_template_child (widget_class, VireoWindow, content_stack);
  gtk_widget_class_bind_template_child (widget_class, VireoWindow, unavailable_page);
  gtk_widget_class_bind_template_child (widget_class, VireoWindow, reconnect_button);
  gtk_widget_class_bind_template_child (widget_class, VireoWindow, kvm_revealer);
  gtk_widget_class_bind_template_child (widget_class, VireoWindow, kvm_label);
  gtk_widget_class_bind_template_child (widget_class, VireoWindow, machine_list);
  gtk_widget_class_bind_template_child (widget_class, VireoWindow, details);
  gtk_widget_class_bind_template_callback (widget_class, on_selection_changed);
  gtk_widget_class_bind_template_callback (widget_class, on_back_clicked);
  gtk_widget_class_bind_template_callback (widget_class, on_reconnect_clicked);

  for (gsize i = 0; i < G_N_ELEMENTS (actions); i++)
    {
      gtk_widget_class_install_action (widget_class, actions[i].name, NULL, actions[i].activate);
      if (actions[i].key != 0)
        gtk_widget_class_add_binding_action (widget_class, actions[i].key, actions[i].mods, actions[i].name,
                                             NULL);
    }
  gtk_widget_class_install_action (widget_class, "win.host-reconnect", "s", host_reconnect_activated);
  gtk_widget_class_install_action (widget_class, "win.host-forget", "s", host_forget_activated);
  gtk_widget_class_install_action (widget_class, "win.checkpoint-apply", "s", checkpoint_item_activated);
  gtk_widget_class_install_action (widget_class, "win.checkpoint-rename", "s", checkpoint_item_activated);
  gtk_widget_class_install_action (widget_class, "win.checkpoint-export", "s", checkpoint_item_activated);
  gtk_widget_class_install_action (widget_class, "win.checkpoint-delete", "s", checkpoint_item_activated);
  gtk_widget_class_install_action (widget_class, "win.checkpoint-delete-subtree", "s",
                                   checkpoint_item_activated);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_Menu, 0, "win.context-menu", NULL);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_KP_Delete, 0, "win.delete", NULL);
}

static void
vireo_window_init (VireoWindow *self)
{
  GtkCssProvider *css = gtk_css_provider_new ();

  gtk_widget_init_template (GTK_WIDGET (self));

  gtk_css_provider_load_from_resource (css, "/org/vireo/Vireo/style.css");
  gtk_style_context_add_provider_for_display (gtk_widget_get_display (GTK_WIDGET (self)),
                                              GTK_STYLE_PROVIDER (css),
                                              GTK_STYLE_PROVIDER_PRIORITY_APPLICATION);
  g_object_unref (css);

  self->cancellable = g_cancellable_new ();
  g_signal_connect_swapped (self->hosts_list, "row-selected", G_CALLBACK (on_host_row_selected), self);
  vireo_checkpoint_jobs_watch (G_OBJECT (self), G_CALLBACK (update_actions));
  update_actions (self);
}

VireoWindow *
vireo_window_new (VireoApplication *app)
{
  VireoWindow *self = g_object_new (VIREO_TYPE_WINDOW, "application", app, NULL);

  attach_app (self, app);
  return self;
}

VireoDBusMachine *
vireo_window_get_selected (VireoWindow *self)
{
  g_return_val_if_fail (VIREO_IS_WINDOW (self), NULL);
  return self->selected;
}

gboolean
vireo_window_select (VireoWindow *self, VireoHostKind kind, const char *object_path)
{
  VireoHost *host;

  g_return_val_if_fail (VIREO_IS_WINDOW (self), FALSE);
  host = vireo_application_get_host (self->app, kind);
  if (!host)
    return FALSE;
  select_host_row (self, host);
  if (!object_path)
    return TRUE;
  return vireo_machine_list_select (self->machine_list, object_path);
}

void
vireo_window_select_host (VireoWindow *self, gpointer host)
{
  g_return_if_fail (VIREO_IS_WINDOW (self));
  select_host_row (self, host);
  adw_leaflet_navigate (self->leaflet, ADW_NAVIGATION_DIRECTION_FORWARD);
}
