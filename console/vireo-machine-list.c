/* vireo-machine-list.c — the machines of one host in a sortable column view: each column a formatted
 * expression over the machine's D-Bus properties (so rows follow the service's signals by themselves), a single
 * selection the window follows, and the machine menu on a right click, a long press or the Menu key. */
#include "vireo-machine-list.h"

#include <glib/gi18n.h>

#include "vireo-format.h"

struct _VireoMachineList
{
  AdwBin parent_instance;

  /* Template widgets */
  GtkColumnView *machine_view;
  GtkPopoverMenu *context_menu;

  GtkSortListModel *sorted;
  GtkSingleSelection *selection;
};

G_DEFINE_FINAL_TYPE (VireoMachineList, vireo_machine_list, ADW_TYPE_BIN)

enum
{
  PROP_0,
  PROP_SELECTED,
  PROP_MENU_MODEL,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

static char *
format_state_cb (GObject *item, const char *state)
{
  return g_strdup (vireo_format_state (state));
}

static char *
format_state_icon_cb (GObject *item, const char *state)
{
  return g_strdup (vireo_format_state_icon (state));
}

static char *
format_cpu_cb (GObject *item, double percent, guint vcpus, const char *state)
{
  return vireo_format_cpu_usage (percent, vcpus, state);
}

static char *
format_memory_cb (GObject *item, guint64 mib)
{
  return vireo_format_memory (mib);
}

static char *
format_uptime_cb (GObject *item, guint64 seconds)
{
  return vireo_format_uptime (seconds);
}

static GtkExpression *
machine_property (const char *name)
{
  return gtk_property_expression_new (VIREO_DBUS_TYPE_MACHINE,
                                      gtk_property_expression_new (GTK_TYPE_LIST_ITEM, NULL, "item"), name);
}

static GtkExpression *
formatted (GCallback format, guint n, ...)
{
  GtkExpression *params[3];
  va_list args;

  g_assert (n <= G_N_ELEMENTS (params));
  va_start (args, n);
  for (guint i = 0; i < n; i++)
    params[i] = machine_property (va_arg (args, const char *));
  va_end (args);
  return gtk_cclosure_expression_new (G_TYPE_STRING, NULL, n, params, format, NULL, NULL);
}

static void popup_context_menu (VireoMachineList *self, GtkWidget *widget, double x, double y);

static void
on_cell_pressed (GtkGestureClick *gesture, int n_press, double x, double y, GtkListItem *item)
{
  GtkWidget *cell = gtk_event_controller_get_widget (GTK_EVENT_CONTROLLER (gesture));
  VireoMachineList *self = VIREO_MACHINE_LIST (gtk_widget_get_ancestor (cell, VIREO_TYPE_MACHINE_LIST));
  guint position = gtk_list_item_get_position (item);

  if (position == GTK_INVALID_LIST_POSITION)
    return;
  gtk_single_selection_set_selected (self->selection, position);
  popup_context_menu (self, cell, x, y);
  gtk_gesture_set_state (GTK_GESTURE (gesture), GTK_EVENT_SEQUENCE_CLAIMED);
}

/* A right click (or a long press) on any cell selects its row and opens the machine menu there. */
static void
add_context_gesture (GtkWidget *cell, GtkListItem *item)
{
  GtkGesture *click = gtk_gesture_click_new ();

  gtk_gesture_single_set_button (GTK_GESTURE_SINGLE (click), GDK_BUTTON_SECONDARY);
  g_signal_connect (click, "pressed", G_CALLBACK (on_cell_pressed), item);
  gtk_widget_add_controller (cell, GTK_EVENT_CONTROLLER (click));
}

static void
setup_text_cell (GtkSignalListItemFactory *factory, GtkListItem *item, GtkExpression *text)
{
  GtkWidget *label = gtk_label_new (NULL);

  gtk_label_set_xalign (GTK_LABEL (label), 0);
  gtk_label_set_ellipsize (GTK_LABEL (label), PANGO_ELLIPSIZE_END);
  gtk_expression_bind (gtk_expression_ref (text), label, "label", item);
  add_context_gesture (label, item);
  gtk_list_item_set_child (item, label);
}

static void
setup_name_cell (GtkSignalListItemFactory *factory, GtkListItem *item, gpointer data)
{
  GtkWidget *box = gtk_box_new (GTK_ORIENTATION_HORIZONTAL, 8);
  GtkWidget *icon = gtk_image_new ();
  GtkWidget *label = gtk_label_new (NULL);

  gtk_label_set_xalign (GTK_LABEL (label), 0);
  gtk_label_set_ellipsize (GTK_LABEL (label), PANGO_ELLIPSIZE_END);
  gtk_widget_add_css_class (label, "heading");
  gtk_expression_bind (formatted (G_CALLBACK (format_state_icon_cb), 1, "state"), icon, "icon-name", item);
  gtk_expression_bind (machine_property ("name"), label, "label", item);
  gtk_box_append (GTK_BOX (box), icon);
  gtk_box_append (GTK_BOX (box), label);
  add_context_gesture (box, item);
  gtk_list_item_set_child (item, box);
}

static void
add_column (VireoMachineList *self, const char *title, GtkListItemFactory *factory, GtkSorter *sorter,
            gboolean expand, int fixed_width)
{
  GtkColumnViewColumn *column = gtk_column_view_column_new (title, factory);

  gtk_column_view_column_set_sorter (column, sorter);
  gtk_column_view_column_set_expand (column, expand);
  gtk_column_view_column_set_resizable (column, TRUE);
  if (fixed_width > 0)
    gtk_column_view_column_set_fixed_width (column, fixed_width);
  gtk_column_view_append_column (self->machine_view, column);
  g_object_unref (column);
  if (sorter)
    g_object_unref (sorter);
}

static GtkListItemFactory *
text_factory (GtkExpression *text)
{
  GtkListItemFactory *factory = gtk_signal_list_item_factory_new ();

  g_signal_connect_data (factory, "setup", G_CALLBACK (setup_text_cell), text,
                         (GClosureNotify) (void (*) (void)) gtk_expression_unref, 0);
  return factory;
}

static void
build_columns (VireoMachineList *self)
{
  GtkListItemFactory *name_factory = gtk_signal_list_item_factory_new ();
  GtkColumnViewColumn *name_column;

  g_signal_connect (name_factory, "setup", G_CALLBACK (setup_name_cell), NULL);
  add_column (self, _ ("Name"), name_factory,
              GTK_SORTER (gtk_string_sorter_new (
                  gtk_property_expression_new (VIREO_DBUS_TYPE_MACHINE, NULL, "name"))),
              TRUE, -1);
  add_column (self, _ ("State"), text_factory (formatted (G_CALLBACK (format_state_cb), 1, "state")),
              GTK_SORTER (gtk_string_sorter_new (
                  gtk_property_expression_new (VIREO_DBUS_TYPE_MACHINE, NULL, "state"))),
              FALSE, 96);
  add_column (self, _ ("CPU Usage"),
              text_factory (formatted (G_CALLBACK (format_cpu_cb), 3, "cpu-usage", "vcpus", "state")),
              GTK_SORTER (gtk_numeric_sorter_new (
                  gtk_property_expression_new (VIREO_DBUS_TYPE_MACHINE, NULL, "cpu-usage"))),
              FALSE, 96);
  add_column (self, _ ("Memory"), text_factory (formatted (G_CALLBACK (format_memory_cb), 1, "memory-mib")),
              GTK_SORTER (gtk_numeric_sorter_new (
                  gtk_property_expression_new (VIREO_DBUS_TYPE_MACHINE, NULL, "memory-mib"))),
              FALSE, 90);
  add_column (self, _ ("Uptime"), text_factory (formatted (G_CALLBACK (format_uptime_cb), 1, "uptime")),
              GTK_SORTER (gtk_numeric_sorter_new (
                  gtk_property_expression_new (VIREO_DBUS_TYPE_MACHINE, NULL, "uptime"))),
              FALSE, 90);

  /* Sorted by name until the user clicks a header. */
  name_column = g_list_model_get_item (gtk_column_view_get_columns (self->machine_view), 0);
  gtk_column_view_sort_by_column (self->machine_view, name_column, GTK_SORT_ASCENDING);
  g_object_unref (name_column);
}

/* A double click or Enter on a row opens that machine: the window's "win.connect". */
static void
on_machine_activated (VireoMachineList *self, guint position)
{
  gtk_single_selection_set_selected (self->selection, position);
  gtk_widget_activate_action (GTK_WIDGET (self), "win.connect", NULL);
}

static void
popup_context_menu (VireoMachineList *self, GtkWidget *widget, double x, double y)
{
  graphene_point_t point;

  if (!gtk_widget_compute_point (widget, GTK_WIDGET (self->machine_view), &GRAPHENE_POINT_INIT (x, y),
                                 &point))
    point = GRAPHENE_POINT_INIT (x, y);
  gtk_popover_set_pointing_to (GTK_POPOVER (self->context_menu),
                               &(GdkRectangle){ (int) point.x, (int) point.y, 1, 1 });
  gtk_popover_popup (GTK_POPOVER (self->context_menu));
}

void
vireo_machine_list_popup_menu (VireoMachineList *self)
{
  GtkRoot *root;
  GtkWidget *focus;
  graphene_rect_t bounds;

  g_return_if_fail (VIREO_IS_MACHINE_LIST (self));

  root = gtk_widget_get_root (GTK_WIDGET (self));
  focus = root ? gtk_root_get_focus (root) : NULL;
  /* From the keyboard (Menu, Shift+F10): at the focused row, else at the top of the list. */
  if (focus && gtk_widget_is_ancestor (focus, GTK_WIDGET (self->machine_view))
      && gtk_widget_compute_bounds (focus, GTK_WIDGET (self->machine_view), &bounds))
    popup_context_menu (self, GTK_WIDGET (self->machine_view), bounds.origin.x + 24,
                        bounds.origin.y + bounds.size.height / 2);
  else
    popup_context_menu (self, GTK_WIDGET (self->machine_view), 24, 24);
}

void
vireo_machine_list_set_model (VireoMachineList *self, GListModel *machines)
{
  g_return_if_fail (VIREO_IS_MACHINE_LIST (self));

  gtk_sort_list_model_set_model (self->sorted, machines);
}

VireoDBusMachine *
vireo_machine_list_get_selected (VireoMachineList *self)
{
  g_return_val_if_fail (VIREO_IS_MACHINE_LIST (self), NULL);

  return gtk_single_selection_get_selected_item (self->selection);
}

gboolean
vireo_machine_list_select (VireoMachineList *self, const char *object_path)
{
  guint n;

  g_return_val_if_fail (VIREO_IS_MACHINE_LIST (self), FALSE);
  g_return_val_if_fail (object_path != NULL, FALSE);

  n = g_list_model_get_n_items (G_LIST_MODEL (self->selection));
  for (guint i = 0; i < n; i++)
    {
      g_autoptr (VireoDBusMachine) machine = g_list_model_get_item (G_LIST_MODEL (self->selection), i);
      if (g_str_equal (g_dbus_proxy_get_object_path (G_DBUS_PROXY (machine)), object_path))
        {
          gtk_single_selection_set_selected (self->selection, i);
          return TRUE;
        }
    }
  return FALSE;
}

void
vireo_machine_list_set_menu_model (VireoMachineList *self, GMenuModel *menu)
{
  g_return_if_fail (VIREO_IS_MACHINE_LIST (self));

  gtk_popover_menu_set_menu_model (self->context_menu, menu);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_MENU_MODEL]);
}

static void
on_selection_changed (VireoMachineList *self)
{
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_SELECTED]);
}

static void
vireo_machine_list_get_property (GObject *object, guint prop_id, GValue *value, GParamSpec *pspec)
{
  VireoMachineList *self = VIREO_MACHINE_LIST (object);

  switch (prop_id)
    {
    case PROP_SELECTED:
      g_value_set_object (value, vireo_machine_list_get_selected (self));
      break;
    case PROP_MENU_MODEL:
      g_value_set_object (value, gtk_popover_menu_get_menu_model (self->context_menu));
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
vireo_machine_list_set_property (GObject *object, guint prop_id, const GValue *value, GParamSpec *pspec)
{
  VireoMachineList *self = VIREO_MACHINE_LIST (object);

  switch (prop_id)
    {
    case PROP_MENU_MODEL:
      vireo_machine_list_set_menu_model (self, g_value_get_object (value));
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
vireo_machine_list_dispose (GObject *object)
{
  VireoMachineList *self = VIREO_MACHINE_LIST (object);

  if (self->context_menu)
    gtk_widget_unparent (GTK_WIDGET (self->context_menu));
  self->context_menu = NULL;
  gtk_widget_dispose_template (GTK_WIDGET (self), VIREO_TYPE_MACHINE_LIST);
  G_OBJECT_CLASS (vireo_machine_list_parent_class)->dispose (object);
}

static void
vireo_machine_list_class_init (VireoMachineListClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->get_property = vireo_machine_list_get_property;
  object_class->set_property = vireo_machine_list_set_property;
  object_class->dispose = vireo_machine_list_dispose;

  properties[PROP_SELECTED] = g_param_spec_object ("selected", NULL, NULL, VIREO_DBUS_TYPE_MACHINE,
                                                   G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
  properties[PROP_MENU_MODEL] = g_param_spec_object ("menu-model", NULL, NULL, G_TYPE_MENU_MODEL,
                                                     G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY
                                                         | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, properties);

  gtk_widget_class_set_template_from_resource (widget_class, "/org/vireo/Vireo/vireo-machine-list.ui");
  gtk_widget_class_bind_template_child (widget_class, VireoMachineList, machine_view);
  gtk_widget_class_bind_template_child (widget_class, VireoMachineList, context_menu);
  gtk_widget_class_bind_template_callback (widget_class, on_machine_activated);
}

static void
vireo_machine_list_init (VireoMachineList *self)
{
  gtk_widget_init_template (GTK_WIDGET (self));

  gtk_widget_set_parent (GTK_WIDGET (self->context_menu), GTK_WIDGET (self->machine_view));

  self->sorted = gtk_sort_list_model_new (NULL,
                                          g_object_ref (gtk_column_view_get_sorter (self->machine_view)));
  self->selection = gtk_single_selection_new (G_LIST_MODEL (self->sorted));
  gtk_single_selection_set_autoselect (self->selection, TRUE);
  gtk_column_view_set_model (self->machine_view, GTK_SELECTION_MODEL (self->selection));
  g_object_unref (self->selection);
  g_signal_connect_swapped (self->selection, "notify::selected-item", G_CALLBACK (on_selection_changed),
                            self);
  build_columns (self);
}
