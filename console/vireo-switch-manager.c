/* vireo-switch-manager.c — the Virtual Switch Manager window: lists one service's virtual switches live (its
 * object manager's Switch objects), creates one through Manager.CreateSwitch (an existing Linux bridge,
 * "external", or a bridge the service makes, "private") and deletes one through Switch.Delete.  The service
 * decides: the built-in Default Switch cannot go, a switch in use is refused, and the session service has
 * only the Default Switch; the window shows its answers as it gives them. */
#include "vireo-switch-manager.h"

#include <glib/gi18n.h>

#include "vireo-checks.h"
#include "vireo-settings-page.h"
#include "vireo-switches.h"

/* The kind row's items, as the service spells them. */
static const char *const kind_values[] = { "external", "private", NULL };

struct _VireoSwitchManager
{
  AdwPreferencesWindow parent_instance;

  VireoHost *host;
  GPtrArray *rows;
  GStrv bridges;            /* the bridge row's items */
  AdwMessageDialog *dialog; /* the one dialog open now, if any */
  gboolean creating;        /* a CreateSwitch call is under way */

  /* Template widgets */
  AdwPreferencesGroup *switches_group;
  GtkLabel *switches_message;
  AdwPreferencesGroup *create_group;
  GtkWidget *create_button;
  AdwEntryRow *name_row;
  AdwComboRow *kind_row;
  AdwComboRow *bridge_row;
  GtkLabel *create_message;
};

G_DEFINE_FINAL_TYPE (VireoSwitchManager, vireo_switch_manager, ADW_TYPE_PREFERENCES_WINDOW)

static void
show_failure (VireoSwitchManager *self, const char *heading, const char *message)
{
  GtkWidget *dialog = adw_message_dialog_new (GTK_WINDOW (self), heading, message);

  adw_message_dialog_add_response (ADW_MESSAGE_DIALOG (dialog), "close", _ ("_Close"));
  gtk_widget_set_name (dialog, "switch-failure");
  g_set_weak_pointer (&self->dialog, ADW_MESSAGE_DIALOG (dialog));
  gtk_window_present (GTK_WINDOW (dialog));
}

/* ---- the list ---- */

static GtkWidget *
switch_row (VireoSwitchManager *self, GDBusProxy *proxy)
{
  GtkWidget *row = adw_action_row_new ();
  const char *kind = vireo_switch_get_kind (proxy);
  const char *bridge = vireo_switch_get_bridge (proxy);
  g_autofree char *about = vireo_switch_describe (kind, bridge);
  g_autofree char *subtitle = NULL;
  GtkWidget *remove = gtk_button_new_from_icon_name ("user-trash-symbolic");
  gboolean builtin = vireo_switch_is_builtin (proxy);

  /* Translators: a switch's kind and its Linux bridge, e.g. "External · bridge br0", or (without a bridge)
   * its kind and what it does.  What it does is also the row's tooltip. */
  subtitle = *bridge ? g_strdup_printf (_ ("%s · bridge %s"), vireo_switch_kind_label (kind), bridge)
                     : g_strdup_printf (_ ("%s · %s"), vireo_switch_kind_label (kind), about);
  gtk_widget_set_tooltip_text (row, about);
  adw_preferences_row_set_use_markup (ADW_PREFERENCES_ROW (row), FALSE);
  adw_preferences_row_set_title (ADW_PREFERENCES_ROW (row), vireo_switch_get_name (proxy));
  adw_action_row_set_subtitle (ADW_ACTION_ROW (row), subtitle);
  adw_action_row_add_prefix (ADW_ACTION_ROW (row),
                             gtk_image_new_from_icon_name (g_str_equal (kind, "nat")
                                                               ? "network-wired-symbolic"
                                                               : "network-workgroup-symbolic"));
  if (builtin)
    {
      GtkWidget *tag = gtk_label_new (_ ("Built-in"));

      gtk_widget_set_valign (tag, GTK_ALIGN_CENTER);
      gtk_widget_add_css_class (tag, "dim-label");
      gtk_widget_add_css_class (tag, "caption");
      adw_action_row_add_suffix (ADW_ACTION_ROW (row), tag);
    }
  gtk_widget_set_valign (remove, GTK_ALIGN_CENTER);
  gtk_widget_add_css_class (remove, "flat");
  gtk_widget_set_name (remove, "delete");
  /* The Default Switch is every new adapter's: the service never deletes it.  (No action: an actionable
   * button takes its sensitivity from its action's.) */
  if (!builtin)
    {
      gtk_actionable_set_action_name (GTK_ACTIONABLE (remove), "switches.delete");
      gtk_actionable_set_action_target (GTK_ACTIONABLE (remove), "o", g_dbus_proxy_get_object_path (proxy));
    }
  gtk_widget_set_sensitive (remove, !builtin);
  gtk_widget_set_tooltip_text (remove, builtin ? _ ("The Default Switch is built in and cannot be deleted")
                                               : _ ("Delete the switch"));
  adw_action_row_add_suffix (ADW_ACTION_ROW (row), remove);
  g_object_set_data (G_OBJECT (row), "delete", remove);
  return row;
}

static void
describe (VireoSwitchManager *self)
{
  gboolean session = vireo_host_get_kind (self->host) == VIREO_HOST_SESSION;
  gboolean available = vireo_host_get_objects (self->host) != NULL;

  /* The session service answers NotSupported to CreateSwitch: say so before the user tries. */
  if (!available)
    adw_preferences_group_set_description (self->switches_group, vireo_host_get_status (self->host));
  else if (session)
    adw_preferences_group_set_description (
        self->switches_group, _ ("Private machines have the Default Switch only: it shares this computer’s "
                                 "connection through NAT. Virtual switches other than NAT need the system "
                                 "service (System machines)."));
  else
    adw_preferences_group_set_description (
        self->switches_group, _ ("What the network adapters of system machines can be connected to."));
  gtk_widget_set_visible (GTK_WIDGET (self->create_group), available && !session);
}

static void
show_switches (VireoSwitchManager *self)
{
  g_autoptr (GPtrArray) switches = vireo_switches_list (self->host);

  for (guint i = 0; i < self->rows->len; i++)
    adw_preferences_group_remove (self->switches_group, g_ptr_array_index (self->rows, i));
  g_ptr_array_set_size (self->rows, 0);
  for (guint i = 0; i < switches->len; i++)
    {
      GtkWidget *row = switch_row (self, g_ptr_array_index (switches, i));

      adw_preferences_group_add (self->switches_group, row);
      g_ptr_array_add (self->rows, row);
    }
  /* The message stays under the rows. */
  g_object_ref (self->switches_message);
  adw_preferences_group_remove (self->switches_group, GTK_WIDGET (self->switches_message));
  adw_preferences_group_add (self->switches_group, GTK_WIDGET (self->switches_message));
  g_object_unref (self->switches_message);
  describe (self);
}

/* ---- deleting ---- */

typedef struct
{
  GWeakRef self;
  char *name;
} Call;

static Call *
call_new (VireoSwitchManager *self, const char *name)
{
  Call *call = g_new0 (Call, 1);

  g_weak_ref_init (&call->self, self);
  call->name = g_strdup (name);
  return call;
}

static void
call_free (Call *call)
{
  g_weak_ref_clear (&call->self);
  g_free (call->name);
  g_free (call);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (Call, call_free)

static void
on_deleted (GObject *source, GAsyncResult *result, gpointer data)
{
  g_autoptr (Call) call = data;
  g_autoptr (VireoSwitchManager) self = g_weak_ref_get (&call->self);
  g_autoptr (GError) error = NULL;
  gboolean deleted = vireo_dbus_switch_call_delete_finish (VIREO_DBUS_SWITCH (source), result, &error);
  g_autofree char *heading = NULL;

  /* Done: the object manager takes the switch off the list. */
  if (deleted || self == NULL)
    return;
  g_dbus_error_strip_remote_error (error);
  /* Translators: %s is a virtual switch's name. */
  heading = g_strdup_printf (_ ("“%s” Was Not Deleted"), call->name);
  /* In use, not allowed, or gone: the service's sentence says which (and names the machines). */
  show_failure (self, heading, error->message);
}

static void
on_delete_response (AdwMessageDialog *dialog, const char *response, VireoSwitchManager *self)
{
  const char *path = g_object_get_data (G_OBJECT (dialog), "switch-path");
  const char *name = g_object_get_data (G_OBJECT (dialog), "switch-name");
  GDBusObjectManager *objects = vireo_host_get_objects (self->host);
  g_autoptr (GDBusInterface) iface = NULL;

  if (!g_str_equal (response, "delete") || objects == NULL
      || (iface = g_dbus_object_manager_get_interface (objects, path, VIREO_SWITCH_INTERFACE)) == NULL
      || !VIREO_DBUS_IS_SWITCH (iface))
    return;
  /* Interactive: on the system service, deleting a switch asks for an administrator. */
  vireo_dbus_switch_call_delete (VIREO_DBUS_SWITCH (iface), G_DBUS_CALL_FLAGS_ALLOW_INTERACTIVE_AUTHORIZATION,
                                 G_MAXINT, NULL, on_deleted, call_new (self, name));
}

static void
on_delete (GtkWidget *widget, const char *action, GVariant *parameter)
{
  VireoSwitchManager *self = VIREO_SWITCH_MANAGER (widget);
  const char *path = g_variant_get_string (parameter, NULL);
  GDBusObjectManager *objects = vireo_host_get_objects (self->host);
  g_autoptr (GDBusInterface) iface = NULL;
  const char *name;
  GtkWidget *dialog;

  if (objects == NULL
      || (iface = g_dbus_object_manager_get_interface (objects, path, VIREO_SWITCH_INTERFACE)) == NULL)
    return;
  name = vireo_switch_get_name (G_DBUS_PROXY (iface));
  dialog = adw_message_dialog_new (GTK_WINDOW (self), NULL,
                                   _ ("Machines cannot be connected to it any more. Its adapters must be "
                                      "moved to another switch first."));
  adw_message_dialog_format_heading (ADW_MESSAGE_DIALOG (dialog), _ ("Delete “%s”?"), name);
  adw_message_dialog_add_responses (ADW_MESSAGE_DIALOG (dialog), "cancel", _ ("_Cancel"), "delete",
                                    _ ("_Delete"), NULL);
  adw_message_dialog_set_response_appearance (ADW_MESSAGE_DIALOG (dialog), "delete",
                                              ADW_RESPONSE_DESTRUCTIVE);
  adw_message_dialog_set_close_response (ADW_MESSAGE_DIALOG (dialog), "cancel");
  g_object_set_data_full (G_OBJECT (dialog), "switch-path", g_strdup (path), g_free);
  g_object_set_data_full (G_OBJECT (dialog), "switch-name", g_strdup (name), g_free);
  g_signal_connect_object (dialog, "response", G_CALLBACK (on_delete_response), self, 0);
  gtk_widget_set_name (dialog, "delete-switch");
  g_set_weak_pointer (&self->dialog, ADW_MESSAGE_DIALOG (dialog));
  gtk_window_present (GTK_WINDOW (dialog));
}

/* ---- creating ---- */

static const char *
chosen_kind (VireoSwitchManager *self)
{
  return vireo_settings_value_at (kind_values, adw_combo_row_get_selected (self->kind_row));
}

/* Why the fields cannot make a switch, or NULL. */
static char *
check_new_switch (VireoSwitchManager *self, const char *name)
{
  g_autoptr (GDBusProxy) existing = NULL;

  if (*name == '\0')
    return NULL; /* nothing typed yet: nothing wrong */
  if ((existing = vireo_switches_find (self->host, name)) != NULL)
    /* Translators: %s is a virtual switch's name. */
    return g_strdup_printf (_ ("There is a switch called “%s” already."), name);
  if (g_str_equal (chosen_kind (self), "external") && g_strv_length (self->bridges) == 0)
    return g_strdup (_ ("This computer has no Linux bridge for an external switch. Make one (e.g. with "
                        "NetworkManager) and put its uplink on it, or make a private switch."));
  return NULL;
}

static void
update_create (VireoSwitchManager *self)
{
  g_autofree char *name = vireo_entry_row_get_stripped_text (self->name_row);
  g_autofree char *reason = check_new_switch (self, name);
  gboolean external = g_str_equal (chosen_kind (self), "external");

  gtk_widget_set_visible (GTK_WIDGET (self->bridge_row), external);
  adw_action_row_set_subtitle (ADW_ACTION_ROW (self->kind_row),
                               external ? _ ("Machines join the network of a Linux bridge of this computer")
                                        : _ ("The service makes a bridge with no uplink: machines on it see "
                                             "only each other"));
  vireo_settings_show_reason (self->create_message, GTK_WIDGET (self->name_row), reason);
  gtk_widget_set_sensitive (self->create_button, !self->creating && *name != '\0' && reason == NULL);
}

static void
on_created (GObject *source, GAsyncResult *result, gpointer data)
{
  g_autoptr (Call) call = data;
  g_autoptr (VireoSwitchManager) self = g_weak_ref_get (&call->self);
  g_autoptr (GError) error = NULL;
  g_autofree char *path = NULL;
  gboolean created = vireo_dbus_manager_call_create_switch_finish (VIREO_DBUS_MANAGER (source), &path, result,
                                                                   &error);

  if (self == NULL)
    return;
  self->creating = FALSE;
  if (created)
    {
      gtk_editable_set_text (GTK_EDITABLE (self->name_row), "");
      update_create (self);
      return;
    }
  g_dbus_error_strip_remote_error (error);
  update_create (self);
  /* Translators: %s is the service's reason, e.g. that switches other than NAT need the system service. */
  {
    g_autofree char *refused = g_strdup_printf (_ ("Not created: %s"), error->message);
    vireo_settings_show_reason (self->create_message, GTK_WIDGET (self->name_row), refused);
  }
}

static void
on_create (VireoSwitchManager *self)
{
  VireoDBusManager *manager = vireo_host_get_manager (self->host);
  g_autofree char *name = vireo_entry_row_get_stripped_text (self->name_row);
  const char *kind = chosen_kind (self);
  const char *bridge = "";
  guint selected = adw_combo_row_get_selected (self->bridge_row);

  if (manager == NULL || *name == '\0')
    return;
  if (g_str_equal (kind, "external"))
    {
      if (selected >= g_strv_length (self->bridges))
        return;
      bridge = self->bridges[selected];
    }
  self->creating = TRUE;
  update_create (self);
  vireo_dbus_manager_call_create_switch (manager, name, kind, bridge,
                                         G_DBUS_CALL_FLAGS_ALLOW_INTERACTIVE_AUTHORIZATION, G_MAXINT, NULL,
                                         on_created, call_new (self, name));
}

static void
load_bridges (VireoSwitchManager *self)
{
  const char *none[] = { _ ("None on this computer"), NULL };
  g_autoptr (GtkStringList) model = NULL;

  g_strfreev (self->bridges);
  self->bridges = vireo_switches_host_bridges ();
  model = gtk_string_list_new (g_strv_length (self->bridges) > 0 ? (const char *const *) self->bridges
                                                                 : none);
  adw_combo_row_set_model (self->bridge_row, G_LIST_MODEL (model));
}

/* ---- the window ---- */

static void
vireo_switch_manager_dispose (GObject *object)
{
  VireoSwitchManager *self = VIREO_SWITCH_MANAGER (object);

  if (self->dialog != NULL)
    gtk_window_destroy (GTK_WINDOW (self->dialog));
  g_clear_weak_pointer (&self->dialog);
  g_object_set_data (object, "vireo-switches-watch", NULL);
  if (self->host != NULL)
    g_signal_handlers_disconnect_by_data (self->host, self);
  g_clear_object (&self->host);
  gtk_widget_dispose_template (GTK_WIDGET (self), VIREO_TYPE_SWITCH_MANAGER);
  G_OBJECT_CLASS (vireo_switch_manager_parent_class)->dispose (object);
}

static void
vireo_switch_manager_finalize (GObject *object)
{
  VireoSwitchManager *self = VIREO_SWITCH_MANAGER (object);

  g_clear_pointer (&self->rows, g_ptr_array_unref);
  g_strfreev (self->bridges);
  G_OBJECT_CLASS (vireo_switch_manager_parent_class)->finalize (object);
}

static void
vireo_switch_manager_class_init (VireoSwitchManagerClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = vireo_switch_manager_dispose;
  object_class->finalize = vireo_switch_manager_finalize;

  gtk_widget_class_install_action (widget_class, "switches.delete", "o", on_delete);

  gtk_widget_class_set_template_from_resource (widget_class, "/org/vireo/Vireo/vireo-switch-manager.ui");
  gtk_widget_class_bind_template_child (widget_class, VireoSwitchManager, switches_group);
  gtk_widget_class_bind_template_child (widget_class, VireoSwitchManager, switches_message);
  gtk_widget_class_bind_template_child (widget_class, VireoSwitchManager, create_group);
  gtk_widget_class_bind_template_child (widget_class, VireoSwitchManager, create_button);
  gtk_widget_class_bind_template_child (widget_class, VireoSwitchManager, name_row);
  gtk_widget_class_bind_template_child (widget_class, VireoSwitchManager, kind_row);
  gtk_widget_class_bind_template_child (widget_class, VireoSwitchManager, bridge_row);
  gtk_widget_class_bind_template_child (widget_class, VireoSwitchManager, create_message);
  gtk_widget_class_bind_template_callback (widget_class, on_create);
  gtk_widget_class_bind_template_callback (widget_class, update_create);
}

static void
vireo_switch_manager_init (VireoSwitchManager *self)
{
  self->rows = g_ptr_array_new ();
  gtk_widget_init_template (GTK_WIDGET (self));
}

VireoSwitchManager *
vireo_switch_manager_new (GtkWindow *parent, VireoHost *host)
{
  VireoSwitchManager *self;

  g_return_val_if_fail (VIREO_IS_HOST (host), NULL);

  self = g_object_new (VIREO_TYPE_SWITCH_MANAGER, "transient-for", parent, "application",
                       parent ? gtk_window_get_application (parent) : NULL, NULL);
  self->host = g_object_ref (host);
  load_bridges (self);
  g_signal_connect_swapped (host, "notify::status", G_CALLBACK (describe), self);
  vireo_switches_watch (host, G_OBJECT (self), G_CALLBACK (show_switches));
  update_create (self);
  return self;
}

GtkWidget *
vireo_switch_manager_get_row (VireoSwitchManager *self, guint index)
{
  g_return_val_if_fail (VIREO_IS_SWITCH_MANAGER (self), NULL);

  return index < self->rows->len ? g_ptr_array_index (self->rows, index) : NULL;
}

GObject *
vireo_switch_manager_get_part (VireoSwitchManager *self, const char *name)
{
  g_return_val_if_fail (VIREO_IS_SWITCH_MANAGER (self), NULL);

  return gtk_widget_get_template_child (GTK_WIDGET (self), VIREO_TYPE_SWITCH_MANAGER, name);
}

AdwMessageDialog *
vireo_switch_manager_get_dialog (VireoSwitchManager *self)
{
  g_return_val_if_fail (VIREO_IS_SWITCH_MANAGER (self), NULL);

  return self->dialog;
}
