/* vireo-settings-network.c — the Network page of a machine's settings: one group per network adapter (the
 * "nics" setting, in order): its cable (which may be plugged in or out while the machine runs: the service
 * applies it at once), the virtual switch it is on, its MAC address (checked as it is typed) and, on a NAT
 * switch, its port forwards.  Every change sends the whole new list through Update, as the Disks page does;
 * the service's answer comes back as Settings and rebuilds the groups. */
#include "vireo-settings-network.h"

#include <glib/gi18n.h>

#include "vireo-checks.h"
#include "vireo-switches.h"

#define NICS_TYPE     G_VARIANT_TYPE ("aa{sv}")
#define FORWARDS_TYPE G_VARIANT_TYPE ("a(ssqq)")
/* The most adapters the service gives a machine (data/org.vireo.Vireo1.xml). */
#define MAX_NICS 8

struct _VireoSettingsNetwork
{
  VireoSettingsPage parent_instance;

  GPtrArray *groups;        /* one AdwPreferencesGroup per adapter, in order */
  AdwMessageDialog *dialog; /* the Add Port Forward dialog open now, if any */
  gboolean watching;        /* the host's switches are followed */
  GtkWidget *no_adapters;   /* no_adapters_row, held while it is out of its group */

  /* Template widgets */
  AdwPreferencesGroup *adapters_group;
  GtkWidget *add_adapter_button;
  GtkWidget *no_adapters_row;
  GtkLabel *nics_message;
};

G_DEFINE_FINAL_TYPE (VireoSettingsNetwork, vireo_settings_network, VIREO_TYPE_SETTINGS_PAGE)

#define PAGE(self) VIREO_SETTINGS_PAGE (self)

/* ---- what the service has ---- */

static GVariant *
current_nics (VireoSettingsNetwork *self)
{
  GVariant *nics = vireo_settings_page_lookup (PAGE (self), "nics");

  if (nics == NULL || !g_variant_is_of_type (nics, NICS_TYPE))
    {
      g_clear_pointer (&nics, g_variant_unref);
      nics = g_variant_ref_sink (g_variant_new_array (G_VARIANT_TYPE_VARDICT, NULL, 0));
    }
  return nics;
}

static GVariant *
get_nic (VireoSettingsNetwork *self, guint index)
{
  g_autoptr (GVariant) nics = current_nics (self);

  return index < g_variant_n_children (nics) ? g_variant_get_child_value (nics, index) : NULL;
}

static const char *
nic_switch (GVariant *nic)
{
  const char *name = NULL;

  return g_variant_lookup (nic, "switch", "&s", &name) && *name ? name : VIREO_DEFAULT_SWITCH;
}

static gboolean
nic_connected (GVariant *nic)
{
  gboolean connected = TRUE;

  g_variant_lookup (nic, "connected", "b", &connected);
  return connected;
}

static GVariant *
nic_forwards (GVariant *nic)
{
  GVariant *forwards = g_variant_lookup_value (nic, "forwards", FORWARDS_TYPE);

  return forwards ? forwards : g_variant_ref_sink (g_variant_new_array (G_VARIANT_TYPE ("(ssqq)"), NULL, 0));
}

/* The kind of the switch called @name on the machine's service; "nat" for the Default Switch when the service
 * has not listed it yet, "" for a switch it does not know. */
static const char *
switch_kind (VireoSettingsNetwork *self, const char *name)
{
  g_autoptr (GDBusProxy) proxy = vireo_switches_find (vireo_settings_page_get_host (PAGE (self)), name);

  if (proxy != NULL)
    return vireo_switch_get_kind (proxy);
  return g_str_equal (name, VIREO_DEFAULT_SWITCH) ? "nat" : "";
}

/* ---- sending ---- */

/* The adapters with number @index replaced by @replacement (NULL: removed), or @replacement added at the end
 * when @index is G_MAXUINT. */
static GVariant *
edited_nics (VireoSettingsNetwork *self, guint index, GVariant *replacement)
{
  g_autoptr (GVariant) nics = current_nics (self);
  g_auto (GVariantBuilder) builder = G_VARIANT_BUILDER_INIT (NICS_TYPE);
  g_autoptr (GVariant) owned = replacement ? g_variant_ref_sink (replacement) : NULL;

  for (gsize i = 0; i < g_variant_n_children (nics); i++)
    {
      g_autoptr (GVariant) nic = g_variant_get_child_value (nics, i);

      if (i == index)
        {
          if (owned != NULL)
            g_variant_builder_add_value (&builder, owned);
          continue;
        }
      g_variant_builder_add_value (&builder, nic);
    }
  if (index == G_MAXUINT && owned != NULL)
    g_variant_builder_add_value (&builder, owned);
  return g_variant_builder_end (&builder);
}

/* @nic with @key set to @value (NULL: removed). */
static GVariant *
with_value (GVariant *nic, const char *key, GVariant *value)
{
  GVariantDict dict;

  g_variant_dict_init (&dict, nic);
  if (value != NULL)
    g_variant_dict_insert_value (&dict, key, value);
  else
    g_variant_dict_remove (&dict, key);
  return g_variant_dict_end (&dict);
}

static void
send_nic (VireoSettingsNetwork *self, guint index, const char *key, GVariant *value)
{
  g_autoptr (GVariant) nic = get_nic (self, index);
  g_autoptr (GVariant) owned = value ? g_variant_ref_sink (value) : NULL;

  if (nic == NULL)
    return;
  vireo_settings_show_reason (self->nics_message, GTK_WIDGET (self->adapters_group), NULL);
  vireo_settings_page_send (PAGE (self), "nics", edited_nics (self, index, with_value (nic, key, owned)));
}

static guint
widget_nic (gpointer widget)
{
  return GPOINTER_TO_UINT (g_object_get_data (G_OBJECT (widget), "nic-index"));
}

/* ---- the adapters' widgets ---- */

static void
on_connected_changed (GtkSwitch *toggle, GParamSpec *pspec, VireoSettingsNetwork *self)
{
  if (vireo_settings_page_is_syncing (PAGE (self)))
    return;
  send_nic (self, widget_nic (toggle), "connected", g_variant_new_boolean (gtk_switch_get_active (toggle)));
}

static void
on_switch_selected (AdwComboRow *row, GParamSpec *pspec, VireoSettingsNetwork *self)
{
  GStrv names = g_object_get_data (G_OBJECT (row), "switch-names");
  guint selected = adw_combo_row_get_selected (row);
  guint index = widget_nic (row);
  g_autoptr (GVariant) nic = NULL;
  GVariant *changed;
  const char *name;

  if (vireo_settings_page_is_syncing (PAGE (self)) || names == NULL || selected >= g_strv_length (names)
      || (nic = get_nic (self, index)) == NULL)
    return;
  name = names[selected];
  if (g_str_equal (name, nic_switch (nic)))
    return;
  changed = with_value (nic, "switch", g_variant_new_string (name));
  /* Port forwards are a NAT switch's: on another switch the guest is reached at its own address. */
  if (!g_str_equal (switch_kind (self, name), "nat"))
    {
      g_autoptr (GVariant) owned = g_variant_ref_sink (changed);
      changed = with_value (owned, "forwards", NULL);
    }
  vireo_settings_show_reason (self->nics_message, GTK_WIDGET (self->adapters_group), NULL);
  vireo_settings_page_send (PAGE (self), "nics", edited_nics (self, index, changed));
}

/* Why @text cannot be the MAC address of adapter @index, or NULL: it must be a MAC address, and one no other
 * adapter of the machine has (two would confuse every switch they meet). */
static char *
check_mac (VireoSettingsNetwork *self, guint index, const char *text)
{
  g_autofree char *reason = vireo_check_mac (text);
  g_autoptr (GVariant) nics = NULL;

  if (reason != NULL)
    return g_steal_pointer (&reason);
  nics = current_nics (self);
  for (gsize i = 0; i < g_variant_n_children (nics); i++)
    {
      g_autoptr (GVariant) nic = g_variant_get_child_value (nics, i);
      const char *other = NULL;

      if (i != index && g_variant_lookup (nic, "mac", "&s", &other) && g_ascii_strcasecmp (other, text) == 0)
        /* Translators: %u is the number of another network adapter, from 1. */
        return g_strdup_printf (_ ("Network adapter %u has this address already."), (guint) i + 1);
    }
  return NULL;
}

static void
on_mac_changed (AdwEntryRow *row, VireoSettingsNetwork *self)
{
  GtkLabel *message = g_object_get_data (G_OBJECT (row), "message");
  g_autofree char *text = vireo_entry_row_get_stripped_text (row);
  g_autofree char *reason = NULL;

  if (vireo_settings_page_is_syncing (PAGE (self)))
    return;
  reason = check_mac (self, widget_nic (row), text);
  vireo_settings_show_reason (message, GTK_WIDGET (row), reason);
}

static void
on_mac_apply (AdwEntryRow *row, VireoSettingsNetwork *self)
{
  g_autofree char *text = vireo_entry_row_get_stripped_text (row);
  g_autofree char *reason = check_mac (self, widget_nic (row), text);
  g_autofree char *lower = NULL;

  /* A refused address stays as typed, with its reason beside it, to be corrected. */
  if (reason != NULL)
    {
      vireo_settings_show_reason (g_object_get_data (G_OBJECT (row), "message"), GTK_WIDGET (row), reason);
      return;
    }
  lower = g_ascii_strdown (text, -1);
  send_nic (self, widget_nic (row), "mac", g_variant_new_string (lower));
}

static GtkWidget *
row_button (const char *icon, const char *tooltip, const char *action, GVariant *target)
{
  GtkWidget *button = gtk_button_new_from_icon_name (icon);

  gtk_widget_set_valign (button, GTK_ALIGN_CENTER);
  gtk_widget_set_tooltip_text (button, tooltip);
  gtk_widget_add_css_class (button, "flat");
  gtk_actionable_set_action_name (GTK_ACTIONABLE (button), action);
  gtk_actionable_set_action_target_value (GTK_ACTIONABLE (button), target);
  return button;
}

static void
set_part (GtkWidget *group, const char *name, gpointer widget)
{
  g_object_set_data (G_OBJECT (group), name, widget);
}

static char *
describe_forward (const char *protocol, const char *address, guint16 host_port, guint16 guest_port,
                  char **subtitle)
{
  const char *shown = g_str_equal (protocol, "udp") ? _ ("UDP") : _ ("TCP");

  /* Translators: %s is "this computer's" address the forward listens on, e.g. 127.0.0.1. */
  *subtitle = g_strdup_printf (_ ("Listens on %s"), *address ? address : "127.0.0.1");
  /* Translators: a port forward, e.g. "TCP port 8080 → guest port 80". */
  return g_strdup_printf (_ ("%s port %u → guest port %u"), shown, host_port, guest_port);
}

/* The switches the combo row offers: the service's, and the adapter's own if the service does not list it (it
 * was deleted, or the service has not said yet), so that the row never shows another one. */
static GStrv
switch_choices (VireoSettingsNetwork *self, const char *current)
{
  g_autoptr (GPtrArray) switches = vireo_switches_list (vireo_settings_page_get_host (PAGE (self)));
  g_autoptr (GStrvBuilder) builder = g_strv_builder_new ();
  gboolean listed = FALSE;

  for (guint i = 0; i < switches->len; i++)
    {
      const char *name = vireo_switch_get_name (g_ptr_array_index (switches, i));

      g_strv_builder_add (builder, name);
      listed = listed || g_str_equal (name, current);
    }
  if (!listed)
    g_strv_builder_add (builder, current);
  return g_strv_builder_end (builder);
}

/* The switch row's subtitle is its kind, short enough to leave the switch's name room; what the kind means
 * is its tooltip. */
static void
describe_switch_row (VireoSettingsNetwork *self, AdwComboRow *row, const char *name)
{
  g_autoptr (GDBusProxy) proxy = vireo_switches_find (vireo_settings_page_get_host (PAGE (self)), name);
  const char *kind = proxy                                      ? vireo_switch_get_kind (proxy)
                     : g_str_equal (name, VIREO_DEFAULT_SWITCH) ? "nat"
                                                                : "";
  const char *bridge = proxy ? vireo_switch_get_bridge (proxy) : "";
  g_autofree char *about = vireo_switch_describe (kind, bridge);
  g_autofree char *subtitle = NULL;

  if (*kind == '\0')
    subtitle = g_strdup (_ ("The service has no switch of this name: choose another"));
  else if (*bridge != '\0')
    /* Translators: a switch's kind and its Linux bridge, e.g. "External, on br0". */
    subtitle = g_strdup_printf (_ ("%s, on %s"), vireo_switch_kind_label (kind), bridge);
  else
    subtitle = g_strdup (vireo_switch_kind_label (kind));
  adw_action_row_set_subtitle (ADW_ACTION_ROW (row), subtitle);
  gtk_widget_set_tooltip_text (GTK_WIDGET (row), *about ? about : NULL);
}

static GtkWidget *
adapter_group (VireoSettingsNetwork *self, guint index, GVariant *nic)
{
  GtkWidget *group = adw_preferences_group_new ();
  g_autofree char *title = g_strdup_printf (_ ("Network Adapter %u"), index + 1);
  /* Translators: the adapter's device name in the running machine, e.g. "net0". */
  g_autofree char *description = g_strdup_printf (_ ("VirtIO network card (net%u)"), index);
  const char *name = nic_switch (nic);
  const char *mac = "";
  g_auto (GStrv) choices = switch_choices (self, name);
  g_autoptr (GtkStringList) switch_model = gtk_string_list_new ((const char *const *) choices);
  g_autoptr (GVariant) forwards = nic_forwards (nic);
  GtkWidget *remove, *toggle, *connected, *switch_row, *mac_row, *generate, *message;
  gboolean nat;

  g_variant_lookup (nic, "mac", "&s", &mac);
  nat = g_str_equal (switch_kind (self, name), "nat");
  adw_preferences_group_set_title (ADW_PREFERENCES_GROUP (group), title);
  adw_preferences_group_set_description (ADW_PREFERENCES_GROUP (group), description);
  remove = row_button ("user-trash-symbolic", _ ("Remove the adapter from the machine"), "network.remove",
                       g_variant_new_uint32 (index));
  gtk_widget_set_valign (remove, GTK_ALIGN_END);
  adw_preferences_group_set_header_suffix (ADW_PREFERENCES_GROUP (group), remove);

  /* The cable: the one thing that changes while the machine runs. */
  connected = adw_action_row_new ();
  adw_preferences_row_set_title (ADW_PREFERENCES_ROW (connected), _ ("Connected"));
  adw_action_row_set_subtitle (ADW_ACTION_ROW (connected), nic_connected (nic)
                                                               ? _ ("The cable is plugged in")
                                                               : _ ("The guest sees an unplugged cable"));
  toggle = gtk_switch_new ();
  gtk_widget_set_valign (toggle, GTK_ALIGN_CENTER);
  gtk_switch_set_active (GTK_SWITCH (toggle), nic_connected (nic));
  g_object_set_data (G_OBJECT (toggle), "nic-index", GUINT_TO_POINTER (index));
  g_signal_connect (toggle, "notify::active", G_CALLBACK (on_connected_changed), self);
  adw_action_row_add_suffix (ADW_ACTION_ROW (connected), toggle);
  adw_action_row_set_activatable_widget (ADW_ACTION_ROW (connected), toggle);
  adw_preferences_group_add (ADW_PREFERENCES_GROUP (group), connected);

  switch_row = adw_combo_row_new ();
  adw_preferences_row_set_title (ADW_PREFERENCES_ROW (switch_row), _ ("Virtual switch"));
  adw_combo_row_set_model (ADW_COMBO_ROW (switch_row), G_LIST_MODEL (switch_model));
  adw_combo_row_set_selected (ADW_COMBO_ROW (switch_row),
                              vireo_settings_index_of ((const char *const *) choices, name));
  describe_switch_row (self, ADW_COMBO_ROW (switch_row), name);
  g_object_set_data (G_OBJECT (switch_row), "nic-index", GUINT_TO_POINTER (index));
  g_object_set_data_full (G_OBJECT (switch_row), "switch-names", g_steal_pointer (&choices),
                          (GDestroyNotify) g_strfreev);
  g_signal_connect (switch_row, "notify::selected", G_CALLBACK (on_switch_selected), self);
  adw_preferences_group_add (ADW_PREFERENCES_GROUP (group), switch_row);

  mac_row = adw_entry_row_new ();
  adw_preferences_row_set_title (ADW_PREFERENCES_ROW (mac_row), _ ("MAC address"));
  adw_preferences_row_set_use_markup (ADW_PREFERENCES_ROW (mac_row), FALSE);
  adw_entry_row_set_show_apply_button (ADW_ENTRY_ROW (mac_row), TRUE);
  gtk_editable_set_text (GTK_EDITABLE (mac_row), mac);
  generate = row_button ("view-refresh-symbolic", _ ("Generate a new address"), "network.generate-mac",
                         g_variant_new_uint32 (index));
  adw_entry_row_add_suffix (ADW_ENTRY_ROW (mac_row), generate);
  message = gtk_label_new (NULL);
  gtk_label_set_xalign (GTK_LABEL (message), 0);
  gtk_label_set_wrap (GTK_LABEL (message), TRUE);
  gtk_label_set_wrap_mode (GTK_LABEL (message), PANGO_WRAP_WORD_CHAR);
  gtk_widget_set_margin_top (message, 6);
  gtk_widget_set_visible (message, FALSE);
  gtk_widget_add_css_class (message, "caption");
  gtk_widget_add_css_class (message, "error");
  g_object_set_data (G_OBJECT (mac_row), "nic-index", GUINT_TO_POINTER (index));
  g_object_set_data (G_OBJECT (mac_row), "message", message);
  g_signal_connect (mac_row, "changed", G_CALLBACK (on_mac_changed), self);
  g_signal_connect (mac_row, "apply", G_CALLBACK (on_mac_apply), self);
  adw_preferences_group_add (ADW_PREFERENCES_GROUP (group), mac_row);
  {
    /* The reason sits right under the address, in a row of its own: below the group it would be read as
     * the port forwards'. */
    GtkWidget *message_row = adw_preferences_row_new (); /* a list row: other widgets go below the list */

    gtk_list_box_row_set_activatable (GTK_LIST_BOX_ROW (message_row), FALSE);
    gtk_widget_set_margin_start (message, 12);
    gtk_widget_set_margin_end (message, 12);
    gtk_widget_set_margin_bottom (message, 8);
    gtk_list_box_row_set_child (GTK_LIST_BOX_ROW (message_row), message);
    g_object_bind_property (message, "visible", message_row, "visible", G_BINDING_SYNC_CREATE);
    adw_preferences_group_add (ADW_PREFERENCES_GROUP (group), message_row);
  }

  set_part (group, "connected", toggle);
  set_part (group, "switch", switch_row);
  set_part (group, "mac", mac_row);
  set_part (group, "mac-message", message);
  set_part (group, "generate", generate);
  set_part (group, "remove", remove);

  /* Port forwards: only a NAT switch hides the guest behind this computer's address. */
  if (nat)
    {
      GtkWidget *forwards_row = adw_action_row_new ();
      GtkWidget *add = gtk_button_new ();
      GtkWidget *content = adw_button_content_new ();
      gsize n = g_variant_n_children (forwards);

      adw_preferences_row_set_title (ADW_PREFERENCES_ROW (forwards_row), _ ("Port forwards"));
      adw_action_row_set_subtitle (ADW_ACTION_ROW (forwards_row),
                                   n == 0 ? _ ("None: nothing reaches the guest’s ports")
                                          : _ ("Connections to this computer’s ports go to the guest"));
      adw_button_content_set_icon_name (ADW_BUTTON_CONTENT (content), "list-add-symbolic");
      adw_button_content_set_label (ADW_BUTTON_CONTENT (content), _ ("Add _Port Forward…"));
      adw_button_content_set_use_underline (ADW_BUTTON_CONTENT (content), TRUE);
      gtk_button_set_child (GTK_BUTTON (add), content);
      gtk_widget_set_valign (add, GTK_ALIGN_CENTER);
      gtk_widget_add_css_class (add, "flat");
      gtk_actionable_set_action_name (GTK_ACTIONABLE (add), "network.add-forward");
      gtk_actionable_set_action_target_value (GTK_ACTIONABLE (add), g_variant_new_uint32 (index));
      adw_action_row_add_suffix (ADW_ACTION_ROW (forwards_row), add);
      adw_preferences_group_add (ADW_PREFERENCES_GROUP (group), forwards_row);
      set_part (group, "forwards", forwards_row);

      for (gsize j = 0; j < n; j++)
        {
          const char *protocol, *address;
          guint16 host_port, guest_port;
          g_autofree char *subtitle = NULL;
          g_autofree char *text = NULL;
          g_autofree char *key = g_strdup_printf ("forward-%" G_GSIZE_FORMAT, j);
          GtkWidget *row = adw_action_row_new ();

          g_variant_get_child (forwards, j, "(&s&sqq)", &protocol, &address, &host_port, &guest_port);
          text = describe_forward (protocol, address, host_port, guest_port, &subtitle);
          adw_preferences_row_set_title (ADW_PREFERENCES_ROW (row), text);
          adw_action_row_set_subtitle (ADW_ACTION_ROW (row), subtitle);
          adw_action_row_add_prefix (ADW_ACTION_ROW (row),
                                     gtk_image_new_from_icon_name ("network-transmit-receive-symbolic"));
          adw_action_row_add_suffix (ADW_ACTION_ROW (row),
                                     row_button ("user-trash-symbolic", _ ("Remove the port forward"),
                                                 "network.remove-forward",
                                                 g_variant_new ("(uu)", index, (guint32) j)));
          adw_preferences_group_add (ADW_PREFERENCES_GROUP (group), row);
          set_part (group, key, row);
        }
    }
  return group;
}

static void
update_lock (VireoSettingsNetwork *self)
{
  gboolean locked = vireo_settings_page_is_locked (PAGE (self));
  /* Actions, not widgets: an actionable button's sensitivity is its action's. */
  const char *const off_only_actions[] = { "network.add", "network.remove", "network.generate-mac",
                                           "network.add-forward", "network.remove-forward" };

  for (guint i = 0; i < G_N_ELEMENTS (off_only_actions); i++)
    gtk_widget_action_set_enabled (GTK_WIDGET (self), off_only_actions[i], !locked);
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "network.add", !locked && self->groups->len < MAX_NICS);
  for (guint i = 0; i < self->groups->len; i++)
    {
      GObject *group = g_ptr_array_index (self->groups, i);

      gtk_widget_set_sensitive (g_object_get_data (group, "switch"), !locked);
      gtk_widget_set_sensitive (g_object_get_data (group, "mac"), !locked);
    }
}

static void
show_nics (VireoSettingsNetwork *self, GVariant *nics)
{
  for (guint i = 0; i < self->groups->len; i++)
    adw_preferences_page_remove (ADW_PREFERENCES_PAGE (self), g_ptr_array_index (self->groups, i));
  g_ptr_array_set_size (self->groups, 0);

  for (gsize i = 0; nics != NULL && i < g_variant_n_children (nics); i++)
    {
      g_autoptr (GVariant) nic = g_variant_get_child_value (nics, i);
      GtkWidget *group = adapter_group (self, i, nic);

      adw_preferences_page_add (ADW_PREFERENCES_PAGE (self), ADW_PREFERENCES_GROUP (group));
      g_ptr_array_add (self->groups, group);
    }
  /* Taken out rather than hidden: a group whose rows are all hidden still draws its empty list. */
  if (self->groups->len == 0 && gtk_widget_get_parent (self->no_adapters) == NULL)
    adw_preferences_group_add (self->adapters_group, self->no_adapters);
  else if (self->groups->len > 0 && gtk_widget_get_parent (self->no_adapters) != NULL)
    adw_preferences_group_remove (self->adapters_group, self->no_adapters);
  update_lock (self);
}

/* The service's switches came, went or changed: the switch rows offer what it has now. */
static void
on_switches_changed (VireoSettingsNetwork *self)
{
  g_autoptr (GVariant) nics = current_nics (self);
  gboolean syncing = vireo_settings_page_is_syncing (PAGE (self));

  /* Rebuilding selects the adapters' own switches again: nothing of it may be sent. */
  if (!syncing)
    vireo_settings_page_resync (PAGE (self), "nics", nics);
  else
    show_nics (self, nics);
}

static void
watch_switches (VireoSettingsNetwork *self)
{
  VireoHost *host = vireo_settings_page_get_host (PAGE (self));

  if (self->watching || host == NULL)
    return;
  self->watching = TRUE;
  vireo_switches_watch (host, G_OBJECT (self), G_CALLBACK (on_switches_changed));
}

/* ---- actions ---- */

static void
on_add (GtkWidget *widget, const char *action, GVariant *parameter)
{
  VireoSettingsNetwork *self = VIREO_SETTINGS_NETWORK (widget);
  GVariantDict dict;

  /* No MAC: the service generates one and keeps it in the definition. */
  g_variant_dict_init (&dict, NULL);
  g_variant_dict_insert (&dict, "switch", "s", VIREO_DEFAULT_SWITCH);
  g_variant_dict_insert (&dict, "connected", "b", TRUE);
  vireo_settings_show_reason (self->nics_message, GTK_WIDGET (self->adapters_group), NULL);
  vireo_settings_page_send (PAGE (self), "nics", edited_nics (self, G_MAXUINT, g_variant_dict_end (&dict)));
}

static void
on_remove (GtkWidget *widget, const char *action, GVariant *parameter)
{
  VireoSettingsNetwork *self = VIREO_SETTINGS_NETWORK (widget);
  guint index = g_variant_get_uint32 (parameter);
  g_autoptr (GVariant) nic = get_nic (self, index);

  if (nic == NULL)
    return;
  vireo_settings_show_reason (self->nics_message, GTK_WIDGET (self->adapters_group), NULL);
  vireo_settings_page_send (PAGE (self), "nics", edited_nics (self, index, NULL));
}

static void
on_generate_mac (GtkWidget *widget, const char *action, GVariant *parameter)
{
  VireoSettingsNetwork *self = VIREO_SETTINGS_NETWORK (widget);
  guint index = g_variant_get_uint32 (parameter);
  g_autofree char *mac = NULL;

  /* A random one could, once in 16 million, be another adapter's: draw again. */
  for (;;)
    {
      g_autofree char *reason = NULL;

      g_free (mac);
      mac = vireo_generate_mac ();
      if ((reason = check_mac (self, index, mac)) == NULL)
        break;
    }
  send_nic (self, index, "mac", g_variant_new_string (mac));
}

static void
on_remove_forward (GtkWidget *widget, const char *action, GVariant *parameter)
{
  VireoSettingsNetwork *self = VIREO_SETTINGS_NETWORK (widget);
  guint index, forward;
  g_autoptr (GVariant) nic = NULL;
  g_autoptr (GVariant) forwards = NULL;
  g_auto (GVariantBuilder) builder = G_VARIANT_BUILDER_INIT (FORWARDS_TYPE);

  g_variant_get (parameter, "(uu)", &index, &forward);
  if ((nic = get_nic (self, index)) == NULL)
    return;
  forwards = nic_forwards (nic);
  for (gsize j = 0; j < g_variant_n_children (forwards); j++)
    if (j != forward)
      {
        g_autoptr (GVariant) child = g_variant_get_child_value (forwards, j);
        g_variant_builder_add_value (&builder, child);
      }
  send_nic (self, index, "forwards", g_variant_builder_end (&builder));
}

/* The forward the dialog's fields describe, or NULL with @reason set when it cannot be one. */
static GVariant *
dialog_forward (VireoSettingsNetwork *self, AdwMessageDialog *dialog, char **reason)
{
  guint index = widget_nic (dialog);
  GtkDropDown *protocol = g_object_get_data (G_OBJECT (dialog), "protocol");
  GtkEditable *address_entry = g_object_get_data (G_OBJECT (dialog), "address");
  GtkSpinButton *host_spin = g_object_get_data (G_OBJECT (dialog), "host-port");
  GtkSpinButton *guest_spin = g_object_get_data (G_OBJECT (dialog), "guest-port");
  const char *proto = gtk_drop_down_get_selected (protocol) == 1 ? "udp" : "tcp";
  g_autofree char *address = g_strstrip (g_strdup (gtk_editable_get_text (address_entry)));
  guint16 host_port = (guint16) gtk_spin_button_get_value_as_int (host_spin);
  guint16 guest_port = (guint16) gtk_spin_button_get_value_as_int (guest_spin);
  g_autoptr (GVariant) nic = get_nic (self, index);
  g_autoptr (GVariant) forwards = NULL;

  *reason = vireo_check_forward_address (address);
  if (*reason != NULL || nic == NULL)
    return NULL;
  /* "" and 127.0.0.1 are the same place: store the default as the service spells it. */
  if (g_str_equal (address, "127.0.0.1"))
    address[0] = '\0';
  forwards = nic_forwards (nic);
  for (gsize j = 0; j < g_variant_n_children (forwards); j++)
    {
      const char *other_proto, *other_address;
      guint16 other_port, other_guest;

      g_variant_get_child (forwards, j, "(&s&sqq)", &other_proto, &other_address, &other_port, &other_guest);
      if (g_str_equal (other_proto, proto) && g_str_equal (other_address, address) && other_port == host_port)
        {
          /* Translators: %u is a port number. */
          *reason = g_strdup_printf (_ ("This adapter forwards port %u already."), host_port);
          return NULL;
        }
    }
  return g_variant_new ("(ssqq)", proto, address, host_port, guest_port);
}

static void
on_forward_fields_changed (AdwMessageDialog *dialog)
{
  VireoSettingsNetwork *self = g_object_get_data (G_OBJECT (dialog), "page");
  g_autofree char *reason = NULL;
  g_autoptr (GVariant) forward = dialog_forward (self, dialog, &reason);
  GtkLabel *message = g_object_get_data (G_OBJECT (dialog), "message");

  if (forward != NULL)
    g_variant_ref_sink (forward);
  gtk_label_set_text (message, reason ? reason : "");
  gtk_widget_set_visible (GTK_WIDGET (message), reason != NULL);
  adw_message_dialog_set_response_enabled (dialog, "add", forward != NULL);
}

static void
on_forward_response (AdwMessageDialog *dialog, const char *response, VireoSettingsNetwork *self)
{
  guint index = widget_nic (dialog);
  g_autofree char *reason = NULL;
  g_autoptr (GVariant) nic = NULL;
  g_autoptr (GVariant) forwards = NULL;
  g_auto (GVariantBuilder) builder = G_VARIANT_BUILDER_INIT (FORWARDS_TYPE);
  GVariant *forward;

  self->dialog = NULL;
  if (!g_str_equal (response, "add"))
    return;
  gtk_spin_button_update (g_object_get_data (G_OBJECT (dialog), "host-port"));
  gtk_spin_button_update (g_object_get_data (G_OBJECT (dialog), "guest-port"));
  if ((forward = dialog_forward (self, dialog, &reason)) == NULL)
    {
      if (reason != NULL)
        vireo_settings_page_toast (PAGE (self), reason);
      return;
    }
  nic = get_nic (self, index);
  forwards = nic_forwards (nic);
  for (gsize j = 0; j < g_variant_n_children (forwards); j++)
    {
      g_autoptr (GVariant) child = g_variant_get_child_value (forwards, j);
      g_variant_builder_add_value (&builder, child);
    }
  g_variant_builder_add_value (&builder, forward);
  send_nic (self, index, "forwards", g_variant_builder_end (&builder));
}

static GtkWidget *
field_label (const char *text, GtkWidget *field)
{
  GtkWidget *label = gtk_label_new_with_mnemonic (text);

  gtk_label_set_xalign (GTK_LABEL (label), 0);
  gtk_label_set_mnemonic_widget (GTK_LABEL (label), field);
  return label;
}

static GtkWidget *
port_spin (void)
{
  GtkWidget *spin = gtk_spin_button_new_with_range (1, 65535, 1);

  gtk_spin_button_set_numeric (GTK_SPIN_BUTTON (spin), TRUE);
  gtk_widget_set_hexpand (spin, TRUE);
  return spin;
}

static void
on_add_forward (GtkWidget *widget, const char *action, GVariant *parameter)
{
  VireoSettingsNetwork *self = VIREO_SETTINGS_NETWORK (widget);
  guint index = g_variant_get_uint32 (parameter);
  GtkRoot *root = gtk_widget_get_root (widget);
  const char *const protocols[] = { _ ("TCP"), _ ("UDP"), NULL };
  GtkWidget *grid = gtk_grid_new ();
  GtkWidget *protocol = gtk_drop_down_new_from_strings (protocols);
  GtkWidget *address = gtk_entry_new ();
  GtkWidget *host_port = port_spin ();
  GtkWidget *guest_port = port_spin ();
  GtkWidget *message = gtk_label_new (NULL);
  g_autoptr (GVariant) nic = get_nic (self, index);
  AdwMessageDialog *dialog;

  if (self->dialog != NULL || nic == NULL)
    return;
  dialog = ADW_MESSAGE_DIALOG (adw_message_dialog_new (
      GTK_IS_WINDOW (root) ? GTK_WINDOW (root) : NULL, _ ("Add Port Forward"),
      _ ("Connections to the port of this computer go to the port of the guest. Only programs on this "
         "computer reach 127.0.0.1; another address of this computer lets its network in too.")));
  adw_message_dialog_add_responses (dialog, "cancel", _ ("_Cancel"), "add", _ ("_Add"), NULL);
  adw_message_dialog_set_response_appearance (dialog, "add", ADW_RESPONSE_SUGGESTED);
  adw_message_dialog_set_default_response (dialog, "add");
  adw_message_dialog_set_close_response (dialog, "cancel");

  gtk_grid_set_row_spacing (GTK_GRID (grid), 6);
  gtk_grid_set_column_spacing (GTK_GRID (grid), 12);
  gtk_editable_set_text (GTK_EDITABLE (address), "127.0.0.1");
  gtk_spin_button_set_value (GTK_SPIN_BUTTON (host_port), 8080);
  gtk_spin_button_set_value (GTK_SPIN_BUTTON (guest_port), 80);
  gtk_grid_attach (GTK_GRID (grid), field_label (_ ("_Protocol"), protocol), 0, 0, 1, 1);
  gtk_grid_attach (GTK_GRID (grid), protocol, 1, 0, 1, 1);
  gtk_grid_attach (GTK_GRID (grid), field_label (_ ("Host _address"), address), 0, 1, 1, 1);
  gtk_grid_attach (GTK_GRID (grid), address, 1, 1, 1, 1);
  gtk_grid_attach (GTK_GRID (grid), field_label (_ ("_Host port"), host_port), 0, 2, 1, 1);
  gtk_grid_attach (GTK_GRID (grid), host_port, 1, 2, 1, 1);
  gtk_grid_attach (GTK_GRID (grid), field_label (_ ("_Guest port"), guest_port), 0, 3, 1, 1);
  gtk_grid_attach (GTK_GRID (grid), guest_port, 1, 3, 1, 1);
  gtk_label_set_xalign (GTK_LABEL (message), 0);
  gtk_label_set_wrap (GTK_LABEL (message), TRUE);
  gtk_widget_set_visible (message, FALSE);
  gtk_widget_add_css_class (message, "caption");
  gtk_widget_add_css_class (message, "error");
  gtk_grid_attach (GTK_GRID (grid), message, 0, 4, 2, 1);
  adw_message_dialog_set_extra_child (dialog, grid);

  g_object_set_data (G_OBJECT (dialog), "nic-index", GUINT_TO_POINTER (index));
  g_object_set_data (G_OBJECT (dialog), "page", self);
  g_object_set_data (G_OBJECT (dialog), "protocol", protocol);
  g_object_set_data (G_OBJECT (dialog), "address", address);
  g_object_set_data (G_OBJECT (dialog), "host-port", host_port);
  g_object_set_data (G_OBJECT (dialog), "guest-port", guest_port);
  g_object_set_data (G_OBJECT (dialog), "message", message);
  g_signal_connect_swapped (protocol, "notify::selected", G_CALLBACK (on_forward_fields_changed), dialog);
  g_signal_connect_swapped (address, "changed", G_CALLBACK (on_forward_fields_changed), dialog);
  g_signal_connect_swapped (host_port, "value-changed", G_CALLBACK (on_forward_fields_changed), dialog);
  g_signal_connect_swapped (guest_port, "value-changed", G_CALLBACK (on_forward_fields_changed), dialog);
  g_signal_connect_object (dialog, "response", G_CALLBACK (on_forward_response), self, 0);
  gtk_widget_set_name (GTK_WIDGET (dialog), "add-port-forward");
  self->dialog = dialog;
  on_forward_fields_changed (dialog);
  gtk_window_present (GTK_WINDOW (dialog));
}

/* ---- the page ---- */

static gboolean
vireo_settings_network_sync_key (VireoSettingsPage *page, const char *key, GVariant *value)
{
  VireoSettingsNetwork *self = VIREO_SETTINGS_NETWORK (page);

  if (!g_str_equal (key, "nics") || !g_variant_is_of_type (value, NICS_TYPE))
    return FALSE;
  watch_switches (self);
  show_nics (self, value);
  return TRUE;
}

static GtkLabel *
vireo_settings_network_message_for_key (VireoSettingsPage *page, const char *key, GtkWidget **field)
{
  VireoSettingsNetwork *self = VIREO_SETTINGS_NETWORK (page);

  if (!g_str_equal (key, "nics"))
    return NULL;
  *field = GTK_WIDGET (self->adapters_group);
  return self->nics_message;
}

static void
vireo_settings_network_update_lock (VireoSettingsPage *page)
{
  update_lock (VIREO_SETTINGS_NETWORK (page));
}

static void
vireo_settings_network_describe (VireoSettingsPage *page)
{
  VireoSettingsNetwork *self = VIREO_SETTINGS_NETWORK (page);

  watch_switches (self);
  adw_preferences_group_set_description (
      self->adapters_group, vireo_settings_page_is_locked (page)
                                ? _ ("Turn the machine off to add or remove adapters or to change their "
                                     "switch, address or port forwards. A cable can be plugged in or out at "
                                     "any time.")
                                : _ ("The machine’s network cards and the virtual switches they are on."));
}

static void
vireo_settings_network_dispose (GObject *object)
{
  VireoSettingsNetwork *self = VIREO_SETTINGS_NETWORK (object);

  if (self->dialog != NULL)
    gtk_window_destroy (GTK_WINDOW (self->dialog));
  self->dialog = NULL;
  /* The switch watch calls back into the page: it goes before the widgets do. */
  g_object_set_data (object, "vireo-switches-watch", NULL);
  gtk_widget_dispose_template (GTK_WIDGET (object), VIREO_TYPE_SETTINGS_NETWORK);
  G_OBJECT_CLASS (vireo_settings_network_parent_class)->dispose (object);
}

static void
vireo_settings_network_finalize (GObject *object)
{
  VireoSettingsNetwork *self = VIREO_SETTINGS_NETWORK (object);

  g_clear_pointer (&self->groups, g_ptr_array_unref);
  g_clear_object (&self->no_adapters);
  G_OBJECT_CLASS (vireo_settings_network_parent_class)->finalize (object);
}

static void
vireo_settings_network_class_init (VireoSettingsNetworkClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);
  VireoSettingsPageClass *page_class = VIREO_SETTINGS_PAGE_CLASS (klass);

  object_class->dispose = vireo_settings_network_dispose;
  object_class->finalize = vireo_settings_network_finalize;
  page_class->sync_key = vireo_settings_network_sync_key;
  page_class->message_for_key = vireo_settings_network_message_for_key;
  page_class->update_lock = vireo_settings_network_update_lock;
  page_class->describe = vireo_settings_network_describe;

  gtk_widget_class_install_action (widget_class, "network.add", NULL, on_add);
  gtk_widget_class_install_action (widget_class, "network.remove", "u", on_remove);
  gtk_widget_class_install_action (widget_class, "network.generate-mac", "u", on_generate_mac);
  gtk_widget_class_install_action (widget_class, "network.add-forward", "u", on_add_forward);
  gtk_widget_class_install_action (widget_class, "network.remove-forward", "(uu)", on_remove_forward);

  gtk_widget_class_set_template_from_resource (widget_class, "/org/vireo/Vireo/vireo-settings-network.ui");
  gtk_widget_class_bind_template_child (widget_class, VireoSettingsNetwork, adapters_group);
  gtk_widget_class_bind_template_child (widget_class, VireoSettingsNetwork, add_adapter_button);
  gtk_widget_class_bind_template_child (widget_class, VireoSettingsNetwork, no_adapters_row);
  gtk_widget_class_bind_template_child (widget_class, VireoSettingsNetwork, nics_message);
}

static void
vireo_settings_network_init (VireoSettingsNetwork *self)
{
  self->groups = g_ptr_array_new ();
  gtk_widget_init_template (GTK_WIDGET (self));
  /* Held: it leaves the group while there are adapters. */
  self->no_adapters = g_object_ref (self->no_adapters_row);
}

GtkWidget *
vireo_settings_network_get_part (VireoSettingsNetwork *self, guint nic, const char *name)
{
  g_return_val_if_fail (VIREO_IS_SETTINGS_NETWORK (self), NULL);

  if (nic >= self->groups->len)
    return NULL;
  if (g_str_equal (name, "group"))
    return g_ptr_array_index (self->groups, nic);
  return g_object_get_data (G_OBJECT (g_ptr_array_index (self->groups, nic)), name);
}

guint
vireo_settings_network_get_n_adapters (VireoSettingsNetwork *self)
{
  g_return_val_if_fail (VIREO_IS_SETTINGS_NETWORK (self), 0);

  return self->groups->len;
}

AdwMessageDialog *
vireo_settings_network_get_dialog (VireoSettingsNetwork *self)
{
  g_return_val_if_fail (VIREO_IS_SETTINGS_NETWORK (self), NULL);

  return self->dialog;
}
