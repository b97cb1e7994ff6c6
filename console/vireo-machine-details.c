/* vireo-machine-details.c — the details pane of the manager window: the selected machine's thumbnail (its
 * live display, or a mirror of its open connection window, or a state icon), name, state, action buttons and
 * facts and checkpoints (vireo-checkpoint-tree.c).  Everything follows the machine proxy's property notifications; nothing is polled. */
#include "vireo-machine-details.h"

#include <glib/gi18n.h>

#include "display/vireo-display.h"
#include "vireo-checkpoint-tree.h"
#include "vireo-connection.h"
#include "vireo-format.h"

struct _VireoMachineDetails
{
  AdwBin parent_instance;

  VireoApplication *app; /* weak: the app outlives its windows */
  VireoDBusMachine *machine;
  VireoHost *host;

  /* Template widgets */
  GtkStack *thumbnail_stack;
  GtkImage *thumbnail_icon;
  VireoDisplay *thumbnail;
  GtkPicture *thumbnail_mirror;
  GtkLabel *details_name;
  GtkLabel *details_state;
  GtkWidget *start_button;
  GtkWidget *shutdown_button;
  GtkMenuButton *more_button;
  AdwPreferencesGroup *summary_group;
  AdwPreferencesGroup *memory_group;
  AdwPreferencesGroup *checkpoints_group;
  VireoCheckpointTree *checkpoint_tree;
  AdwPreferencesGroup *network_group;
  GtkLabel *notes_label;

  /* Fact rows: their value labels. */
  GtkLabel *uptime_value;
  GtkLabel *cpu_value;
  GtkLabel *vcpus_value;
  GtkLabel *boot_value;
  GtkLabel *display_value;
  AdwActionRow *error_row;
  GtkLabel *memory_value;
  GtkLabel *network_value;
  AdwActionRow *address_row;
  GtkLabel *address_value;
};

G_DEFINE_FINAL_TYPE (VireoMachineDetails, vireo_machine_details, ADW_TYPE_BIN)

enum
{
  PROP_0,
  PROP_MENU_MODEL,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

static GtkLabel *
add_fact (AdwPreferencesGroup *group, const char *title, AdwActionRow **row_out)
{
  GtkWidget *row = adw_action_row_new ();
  GtkWidget *value = gtk_label_new ("");

  adw_preferences_row_set_title (ADW_PREFERENCES_ROW (row), title);
  gtk_label_set_selectable (GTK_LABEL (value), TRUE);
  gtk_label_set_ellipsize (GTK_LABEL (value), PANGO_ELLIPSIZE_MIDDLE);
  gtk_label_set_xalign (GTK_LABEL (value), 1);
  gtk_widget_add_css_class (value, "dim-label");
  adw_action_row_add_suffix (ADW_ACTION_ROW (row), value);
  adw_preferences_group_add (group, row);
  if (row_out)
    *row_out = ADW_ACTION_ROW (row);
  return GTK_LABEL (value);
}

static GVariant *
machine_setting (VireoDBusMachine *machine, const char *key, const GVariantType *type)
{
  GVariant *settings = vireo_dbus_machine_get_settings (machine);

  return settings ? g_variant_lookup_value (settings, key, type) : NULL;
}

/* Which switch the machine's adapters are on: "Default Switch", "Default Switch, Lab", or "Not connected". */
static char *
describe_network (VireoDBusMachine *machine)
{
  g_autoptr (GVariant) nics = machine_setting (machine, "nics", G_VARIANT_TYPE ("aa{sv}"));
  g_autoptr (GVariant) network = NULL;
  g_autoptr (GPtrArray) names = NULL;

  if (nics == NULL)
    {
      network = machine_setting (machine, "network", G_VARIANT_TYPE_STRING);
      return g_strdup (network && g_str_equal (g_variant_get_string (network, NULL), "nat")
                           ? _ ("Shared connection (NAT)")
                           : _ ("Not connected"));
    }
  names = g_ptr_array_new_with_free_func (g_free);
  for (gsize i = 0; i < g_variant_n_children (nics); i++)
    {
      g_autoptr (GVariant) nic = g_variant_get_child_value (nics, i);
      g_autofree char *name = NULL;
      gboolean connected = TRUE;

      if (!g_variant_lookup (nic, "switch", "s", &name))
        name = g_strdup ("Default Switch");
      g_variant_lookup (nic, "connected", "b", &connected);
      /* An unplugged cable reaches no switch; the same switch twice is said once. */
      if (connected && !g_ptr_array_find_with_equal_func (names, name, g_str_equal, NULL))
        g_ptr_array_add (names, g_steal_pointer (&name));
    }
  if (names->len == 0)
    return g_strdup (_ ("Not connected"));
  g_ptr_array_add (names, NULL);
  return g_strjoinv (", ", (char **) names->pdata);
}

static gboolean
machine_has_display (VireoDBusMachine *machine)
{
  g_autoptr (GVariant) display = machine_setting (machine, "display", G_VARIANT_TYPE_BOOLEAN);

  return display && g_variant_get_boolean (display);
}

static char *
describe_boot (VireoDBusMachine *machine)
{
  g_autoptr (GVariant) boot = machine_setting (machine, "boot", G_VARIANT_TYPE_STRING);
  g_autoptr (GVariant) kernel = machine_setting (machine, "kernel", G_VARIANT_TYPE_STRING);
  g_autoptr (GVariant) disks = machine_setting (machine, "disks", G_VARIANT_TYPE ("aa{sv}"));

  if (boot && g_str_equal (g_variant_get_string (boot, NULL), "disk"))
    {
      g_autoptr (GVariant) first = NULL;
      const char *path = NULL;

      if (disks && g_variant_n_children (disks) > 0)
        {
          first = g_variant_get_child_value (disks, 0);
          g_variant_lookup (first, "path", "&s", &path);
        }
      if (path)
        {
          g_autofree char *name = g_path_get_basename (path);
          return g_strdup_printf (_ ("Disk %s"), name);
        }
      return g_strdup (_ ("Disk"));
    }
  if (kernel && *g_variant_get_string (kernel, NULL))
    {
      g_autofree char *name = g_path_get_basename (g_variant_get_string (kernel, NULL));
      return g_strdup_printf (_ ("Linux kernel %s"), name);
    }
  return g_strdup (_ ("Linux kernel"));
}

/* The thumbnail of a running machine with a display.  A SPICE server serves one client at a time, so
 * while the machine's connection window is open the thumbnail mirrors that window's display instead of
 * connecting itself. */
static void
update_thumbnail (VireoMachineDetails *self)
{
  VireoDBusMachine *machine = self->machine;

  if (!self->thumbnail)
    return;
  if (machine && self->app && vireo_state_is_active (vireo_dbus_machine_get_state (machine))
      && machine_has_display (machine))
    {
      GtkWindow *connection = vireo_application_get_connection (
          self->app, g_dbus_proxy_get_object_path (G_DBUS_PROXY (machine)));

      if (connection)
        {
          GtkWidget *display = GTK_WIDGET (vireo_connection_get_display (VIREO_CONNECTION (connection)));
          GdkPaintable *shown = gtk_picture_get_paintable (self->thumbnail_mirror);

          vireo_display_close (self->thumbnail);
          /* Once: this runs on every property the service updates (uptime, CPU use, every second). */
          if (!GTK_IS_WIDGET_PAINTABLE (shown)
              || gtk_widget_paintable_get_widget (GTK_WIDGET_PAINTABLE (shown)) != display)
            {
              g_autoptr (GdkPaintable) mirror = gtk_widget_paintable_new (display);
              gtk_picture_set_paintable (self->thumbnail_mirror, mirror);
            }
          gtk_stack_set_visible_child_name (self->thumbnail_stack, "mirror");
          return;
        }
      gtk_picture_set_paintable (self->thumbnail_mirror, NULL);
      if (vireo_display_get_state (self->thumbnail) == VIREO_DISPLAY_DISCONNECTED)
        vireo_display_open_machine (self->thumbnail, machine, VIREO_STREAM_SOURCE (self->host));
      gtk_stack_set_visible_child_name (self->thumbnail_stack, "display");
      return;
    }
  vireo_display_close (self->thumbnail);
  gtk_picture_set_paintable (self->thumbnail_mirror, NULL);
  gtk_image_set_from_icon_name (self->thumbnail_icon,
                                machine ? vireo_format_state_icon (vireo_dbus_machine_get_state (machine))
                                        : "computer-symbolic");
  gtk_stack_set_visible_child_name (self->thumbnail_stack, "icon");
}

static void
update_details (VireoMachineDetails *self)
{
  VireoDBusMachine *machine = self->machine;
  g_autofree char *uptime = NULL;
  g_autofree char *cpu = NULL;
  g_autofree char *memory = NULL;
  g_autofree char *boot = NULL;
  g_autofree char *vcpus = NULL;
  g_autofree char *network = NULL;
  g_autofree char *addresses = NULL;
  g_auto (GStrv) address_list = NULL;
  const char *state, *notes, *last_error;

  /* One power button at a time: the one that applies. */
  state = machine ? vireo_dbus_machine_get_state (machine) : NULL;
  gtk_widget_set_visible (self->start_button, !machine || vireo_state_can_start (state));
  gtk_widget_set_visible (self->shutdown_button, machine && !vireo_state_can_start (state));

  gtk_widget_set_sensitive (GTK_WIDGET (self->summary_group), machine != NULL);
  gtk_widget_set_visible (GTK_WIDGET (self->checkpoints_group), machine != NULL);
  if (!machine)
    {
      gtk_label_set_text (self->details_name, _ ("No machine selected"));
      gtk_label_set_text (self->details_state, "");
      update_thumbnail (self);
      return;
    }

  gtk_label_set_text (self->details_name, vireo_dbus_machine_get_name (machine));
  gtk_label_set_text (self->details_state, vireo_format_state (state));

  uptime = vireo_format_uptime (vireo_dbus_machine_get_uptime (machine));
  gtk_label_set_text (self->uptime_value, uptime);
  cpu = vireo_format_cpu_usage (vireo_dbus_machine_get_cpu_usage (machine),
                                vireo_dbus_machine_get_vcpus (machine), state);
  gtk_label_set_text (self->cpu_value, cpu);
  vcpus = g_strdup_printf ("%u", vireo_dbus_machine_get_vcpus (machine));
  gtk_label_set_text (self->vcpus_value, vcpus);
  boot = describe_boot (machine);
  gtk_label_set_text (self->boot_value, boot);
  gtk_label_set_text (self->display_value,
                      machine_has_display (machine) ? _ ("Yes") : _ ("Serial console only"));

  last_error = vireo_dbus_machine_get_last_error (machine);
  gtk_widget_set_visible (GTK_WIDGET (self->error_row), last_error && *last_error);
  adw_action_row_set_subtitle (self->error_row, last_error ? last_error : "");

  memory = vireo_format_memory (vireo_dbus_machine_get_memory_mib (machine));
  gtk_label_set_text (self->memory_value, memory);

  network = describe_network (machine);
  gtk_label_set_text (self->network_value, network);
  /* Only what a lease revealed: a guest that took no address by DHCP shows none. */
  /* A copy: the proxy's own array may point into a value it has already replaced when State and
   * GuestAddresses change in one signal and State's notification comes first. */
  address_list = vireo_dbus_machine_dup_guest_addresses (machine);
  addresses = vireo_format_guest_addresses ((const char *const *) address_list);
  gtk_widget_set_visible (GTK_WIDGET (self->address_row), addresses != NULL);
  gtk_label_set_text (self->address_value, addresses ? addresses : "");
  adw_preferences_row_set_title (
      ADW_PREFERENCES_ROW (self->address_row),
      vireo_format_address_title (address_list ? g_strv_length (address_list) : 0));

  notes = vireo_dbus_machine_get_notes (machine);
  gtk_label_set_text (self->notes_label, notes && *notes ? notes : _ ("No notes"));
  if (notes && *notes)
    gtk_widget_remove_css_class (GTK_WIDGET (self->notes_label), "dim-label");
  else
    gtk_widget_add_css_class (GTK_WIDGET (self->notes_label), "dim-label");

  update_thumbnail (self);
}

void
vireo_machine_details_set_machine (VireoMachineDetails *self, VireoDBusMachine *machine)
{
  g_return_if_fail (VIREO_IS_MACHINE_DETAILS (self));
  g_return_if_fail (machine == NULL || VIREO_DBUS_IS_MACHINE (machine));

  if (self->machine == machine)
    return;
  if (self->machine)
    g_signal_handlers_disconnect_by_data (self->machine, self);
  g_set_object (&self->machine, machine);
  /* Also called while the pane goes away, when its widgets may be gone already. */
  if (!self->thumbnail)
    return;
  vireo_display_close (self->thumbnail);
  if (machine)
    g_signal_connect_swapped (machine, "notify", G_CALLBACK (update_details), self);
  vireo_checkpoint_tree_set_machine (self->checkpoint_tree, self->host, machine);
  update_details (self);
}

void
vireo_machine_details_set_host (VireoMachineDetails *self, VireoHost *host)
{
  g_return_if_fail (VIREO_IS_MACHINE_DETAILS (self));

  g_set_object (&self->host, host);
  if (self->checkpoint_tree)
    vireo_checkpoint_tree_set_machine (self->checkpoint_tree, host, self->machine);
}

GtkWidget *
vireo_machine_details_get_checkpoint_tree (VireoMachineDetails *self)
{
  g_return_val_if_fail (VIREO_IS_MACHINE_DETAILS (self), NULL);
  return GTK_WIDGET (self->checkpoint_tree);
}

void
vireo_machine_details_set_application (VireoMachineDetails *self, VireoApplication *app)
{
  g_return_if_fail (VIREO_IS_MACHINE_DETAILS (self));

  self->app = app;
  g_signal_connect_object (app, "connections-changed", G_CALLBACK (update_thumbnail), self,
                           G_CONNECT_SWAPPED);
  update_thumbnail (self);
}

void
vireo_machine_details_set_menu_model (VireoMachineDetails *self, GMenuModel *menu)
{
  g_return_if_fail (VIREO_IS_MACHINE_DETAILS (self));

  gtk_menu_button_set_menu_model (self->more_button, menu);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_MENU_MODEL]);
}

static void
vireo_machine_details_get_property (GObject *object, guint prop_id, GValue *value, GParamSpec *pspec)
{
  VireoMachineDetails *self = VIREO_MACHINE_DETAILS (object);

  switch (prop_id)
    {
    case PROP_MENU_MODEL:
      g_value_set_object (value, gtk_menu_button_get_menu_model (self->more_button));
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
vireo_machine_details_set_property (GObject *object, guint prop_id, const GValue *value, GParamSpec *pspec)
{
  VireoMachineDetails *self = VIREO_MACHINE_DETAILS (object);

  switch (prop_id)
    {
    case PROP_MENU_MODEL:
      vireo_machine_details_set_menu_model (self, g_value_get_object (value));
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
vireo_machine_details_dispose (GObject *object)
{
  VireoMachineDetails *self = VIREO_MACHINE_DETAILS (object);

  if (self->machine)
    g_signal_handlers_disconnect_by_data (self->machine, self);
  g_clear_object (&self->machine);
  g_clear_object (&self->host);
  gtk_widget_dispose_template (GTK_WIDGET (self), VIREO_TYPE_MACHINE_DETAILS);
  G_OBJECT_CLASS (vireo_machine_details_parent_class)->dispose (object);
}

static void
vireo_machine_details_class_init (VireoMachineDetailsClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->get_property = vireo_machine_details_get_property;
  object_class->set_property = vireo_machine_details_set_property;
  object_class->dispose = vireo_machine_details_dispose;

  properties[PROP_MENU_MODEL] = g_param_spec_object ("menu-model", NULL, NULL, G_TYPE_MENU_MODEL,
                                                     G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY
                                                         | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, properties);

  g_type_ensure (VIREO_TYPE_DISPLAY);
  g_type_ensure (VIREO_TYPE_CHECKPOINT_TREE);
  gtk_widget_class_set_template_from_resource (widget_class, "/org/vireo/Vireo/vireo-machine-details.ui");
  gtk_widget_class_bind_template_child (widget_class, VireoMachineDetails, thumbnail_stack);
  gtk_widget_class_bind_template_child (widget_class, VireoMachineDetails, thumbnail_icon);
  gtk_widget_class_bind_template_child (widget_class, VireoMachineDetails, thumbnail);
  gtk_widget_class_bind_template_child (widget_class, VireoMachineDetails, thumbnail_mirror);
  gtk_widget_class_bind_template_child (widget_class, VireoMachineDetails, details_name);
  gtk_widget_class_bind_template_child (widget_class, VireoMachineDetails, details_state);
  gtk_widget_class_bind_template_child (widget_class, VireoMachineDetails, start_button);
  gtk_widget_class_bind_template_child (widget_class, VireoMachineDetails, shutdown_button);
  gtk_widget_class_bind_template_child (widget_class, VireoMachineDetails, more_button);
  gtk_widget_class_bind_template_child (widget_class, VireoMachineDetails, summary_group);
  gtk_widget_class_bind_template_child (widget_class, VireoMachineDetails, memory_group);
  gtk_widget_class_bind_template_child (widget_class, VireoMachineDetails, checkpoints_group);
  gtk_widget_class_bind_template_child (widget_class, VireoMachineDetails, checkpoint_tree);
  gtk_widget_class_bind_template_child (widget_class, VireoMachineDetails, network_group);
  gtk_widget_class_bind_template_child (widget_class, VireoMachineDetails, notes_label);
}

static void
vireo_machine_details_init (VireoMachineDetails *self)
{
  gtk_widget_init_template (GTK_WIDGET (self));

  self->uptime_value = add_fact (self->summary_group, _ ("Uptime"), NULL);
  self->cpu_value = add_fact (self->summary_group, _ ("CPU usage"), NULL);
  self->vcpus_value = add_fact (self->summary_group, _ ("Processors"), NULL);
  self->boot_value = add_fact (self->summary_group, _ ("Boot source"), NULL);
  self->display_value = add_fact (self->summary_group, _ ("Display"), NULL);
  add_fact (self->summary_group, _ ("Last error"), &self->error_row);
  gtk_widget_add_css_class (GTK_WIDGET (self->error_row), "error");
  self->memory_value = add_fact (self->memory_group, _ ("Assigned memory"), NULL);
  self->network_value = add_fact (self->network_group, _ ("Network"), NULL);
  self->address_value = add_fact (self->network_group, vireo_format_address_title (1), &self->address_row);
  update_details (self);
}
