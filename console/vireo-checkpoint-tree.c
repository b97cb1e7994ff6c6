/* vireo-checkpoint-tree.c — a machine's checkpoints in the details pane: rows indented by depth (a boxed list
 * rather than a tree view: a machine has a handful of checkpoints, and rows read like the rest of the pane),
 * "Now" as the last child of the current checkpoint as in Hyper-V Manager, a menu per checkpoint on its button
 * and on a right click, and a progress line while the app changes them.  The rows are rebuilt only when what
 * they show changes, so that an open menu survives the service's frequent property updates. */
#include "vireo-checkpoint-tree.h"

#include <glib/gi18n.h>

#include "vireo-checkpoint-calls.h"
#include "vireo-format.h"
#include "vireo-spinner.h"

/* Indentation per level of the tree, in pixels. */
#define INDENT 18

struct _VireoCheckpointTree
{
  AdwBin parent_instance;

  VireoHost *host;
  VireoDBusMachine *machine;
  GDBusObjectManager *objects; /* the one the handlers are on */
  guint update_idle;
  char *signature;   /* what the rows show now */
  GHashTable *menus; /* checkpoint path → GMenuModel */

  GtkWidget *progress_box;
  VireoSpinner *spinner;
  GtkLabel *progress_label;
  GtkProgressBar *progress_bar;
  GtkListBox *list;
};

G_DEFINE_FINAL_TYPE (VireoCheckpointTree, vireo_checkpoint_tree, ADW_TYPE_BIN)

#define PATH_KEY   "vireo-checkpoint-path"
#define BUTTON_KEY "vireo-checkpoint-menu-button"

static GMenuModel *
checkpoint_menu (const char *path, gboolean has_children)
{
  GMenu *menu = g_menu_new ();
  g_autoptr (GMenu) use = g_menu_new ();
  g_autoptr (GMenu) remove = g_menu_new ();
  static const struct
  {
    const char *label;
    const char *action;
    gboolean removes;
  } items[] = {
    { N_ ("_Apply…"), "win.checkpoint-apply", FALSE },
    { N_ ("_Rename…"), "win.checkpoint-rename", FALSE },
    { N_ ("E_xport…"), "win.checkpoint-export", FALSE },
    { N_ ("_Delete Checkpoint…"), "win.checkpoint-delete", TRUE },
    { N_ ("Delete Checkpoint _Subtree…"), "win.checkpoint-delete-subtree", TRUE },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (items); i++)
    {
      g_autoptr (GMenuItem) item = NULL;

      /* Hyper-V offers Delete Subtree only where there is a subtree. */
      if (g_str_equal (items[i].action, "win.checkpoint-delete-subtree") && !has_children)
        continue;
      item = g_menu_item_new (_ (items[i].label), NULL);
      g_menu_item_set_action_and_target_value (item, items[i].action, g_variant_new_string (path));
      g_menu_append_item (items[i].removes ? remove : use, item);
    }
  g_menu_append_section (menu, NULL, G_MENU_MODEL (use));
  g_menu_append_section (menu, NULL, G_MENU_MODEL (remove));
  return G_MENU_MODEL (menu);
}

static GtkWidget *
row_new (const char *title, const char *subtitle, const char *icon, guint depth)
{
  GtkWidget *row = adw_action_row_new ();
  GtkWidget *image = gtk_image_new_from_icon_name (icon);

  adw_preferences_row_set_use_markup (ADW_PREFERENCES_ROW (row), FALSE);
  adw_preferences_row_set_title (ADW_PREFERENCES_ROW (row), title);
  adw_action_row_set_subtitle (ADW_ACTION_ROW (row), subtitle);
  /* The prefix carries the indentation: the tree's shape at a glance. */
  gtk_widget_set_margin_start (image, INDENT * depth);
  adw_action_row_add_prefix (ADW_ACTION_ROW (row), image);
  return row;
}

static GtkWidget *
checkpoint_row (VireoCheckpointTree *self, VireoDBusCheckpoint *checkpoint, guint depth,
                gboolean has_children)
{
  const char *path = g_dbus_proxy_get_object_path (G_DBUS_PROXY (checkpoint));
  g_autofree char *time = vireo_format_checkpoint_time (vireo_dbus_checkpoint_get_created (checkpoint));
  g_autofree char *kind = vireo_format_checkpoint_kind (vireo_dbus_checkpoint_get_kind (checkpoint),
                                                        vireo_dbus_checkpoint_get_has_state (checkpoint),
                                                        vireo_dbus_checkpoint_get_consistency (checkpoint));
  /* One line each: the pane is narrow, and a wrapped "Standard, with memory" reads worse than two lines. */
  g_autofree char *subtitle = g_strdup_printf ("%s\n%s", time, kind);
  GtkWidget *row = row_new (vireo_dbus_checkpoint_get_name (checkpoint), subtitle, "camera-photo-symbolic",
                            depth);
  GMenuModel *menu = checkpoint_menu (path, has_children);
  GtkWidget *button = gtk_menu_button_new ();

  gtk_menu_button_set_icon_name (GTK_MENU_BUTTON (button), "view-more-symbolic");
  gtk_menu_button_set_menu_model (GTK_MENU_BUTTON (button), menu);
  gtk_widget_set_valign (button, GTK_ALIGN_CENTER);
  gtk_widget_set_tooltip_text (button, _ ("Checkpoint Actions"));
  gtk_widget_add_css_class (button, "flat");
  adw_action_row_add_suffix (ADW_ACTION_ROW (row), button);
  /* Clicking the row or pressing Enter on it opens the same menu: keyboard users reach it too. */
  adw_action_row_set_activatable_widget (ADW_ACTION_ROW (row), button);
  g_object_set_data_full (G_OBJECT (row), PATH_KEY, g_strdup (path), g_free);
  g_object_set_data (G_OBJECT (row), BUTTON_KEY, button);
  g_hash_table_insert (self->menus, g_strdup (path), menu);
  return row;
}

/* Everything the rows show, in one string: rebuilt rows only when it changes. */
static char *
describe (VireoCheckpointTree *self, GPtrArray *checkpoints)
{
  GString *text = g_string_new (NULL);

  if (self->machine == NULL)
    return g_string_free (text, FALSE);
  g_string_append_printf (text, "%s\n%s\n", vireo_dbus_machine_get_current_checkpoint (self->machine),
                          vireo_dbus_machine_get_state (self->machine));
  for (guint i = 0; i < checkpoints->len; i++)
    {
      VireoDBusCheckpoint *checkpoint = g_ptr_array_index (checkpoints, i);

      g_string_append_printf (
          text, "%s|%s|%s|%" G_GUINT64_FORMAT "|%s|%d|%s\n",
          g_dbus_proxy_get_object_path (G_DBUS_PROXY (checkpoint)),
          vireo_dbus_checkpoint_get_name (checkpoint), vireo_dbus_checkpoint_get_parent (checkpoint),
          vireo_dbus_checkpoint_get_created (checkpoint), vireo_dbus_checkpoint_get_kind (checkpoint),
          vireo_dbus_checkpoint_get_has_state (checkpoint),
          vireo_dbus_checkpoint_get_consistency (checkpoint));
    }
  return g_string_free (text, FALSE);
}

static void
clear_rows (VireoCheckpointTree *self)
{
  GtkListBoxRow *row;

  while ((row = gtk_list_box_get_row_at_index (self->list, 0)) != NULL)
    gtk_list_box_remove (self->list, GTK_WIDGET (row));
  g_hash_table_remove_all (self->menus);
}

static void
rebuild (VireoCheckpointTree *self, GPtrArray *checkpoints)
{
  g_autofree guint *depths = g_new0 (guint, checkpoints->len + 1);
  const char *current = vireo_dbus_machine_get_current_checkpoint (self->machine);
  const char *state = vireo_dbus_machine_get_state (self->machine);
  guint now_position = checkpoints->len;
  guint now_depth = 0;
  GtkWidget *now;

  clear_rows (self);
  /* The list comes parents first: a checkpoint's depth is its parent's, found earlier, plus one. */
  for (guint i = 0; i < checkpoints->len; i++)
    {
      const char *parent = vireo_dbus_checkpoint_get_parent (g_ptr_array_index (checkpoints, i));

      for (guint j = 0; j < i; j++)
        if (g_strcmp0 (g_dbus_proxy_get_object_path (g_ptr_array_index (checkpoints, j)), parent) == 0)
          depths[i] = depths[j] + 1;
    }
  /* "Now" is the last child of the current checkpoint: after its subtree, which the first row that is not
   * deeper than the checkpoint ends. */
  for (guint i = 0; i < checkpoints->len; i++)
    if (g_strcmp0 (g_dbus_proxy_get_object_path (g_ptr_array_index (checkpoints, i)), current) == 0)
      {
        now_depth = depths[i] + 1;
        for (now_position = i + 1; now_position < checkpoints->len && depths[now_position] > depths[i];
             now_position++)
          ;
        break;
      }

  for (guint i = 0; i < checkpoints->len; i++)
    {
      VireoDBusCheckpoint *checkpoint = g_ptr_array_index (checkpoints, i);
      /* A child, if any, comes right after its parent. */
      gboolean has_children = i + 1 < checkpoints->len && depths[i + 1] > depths[i];

      gtk_list_box_append (self->list, checkpoint_row (self, checkpoint, depths[i], has_children));
    }
  now = row_new (_ ("Now"), vireo_format_state (state), "go-next-symbolic", now_depth);
  gtk_widget_set_name (now, "checkpoint-now");
  gtk_widget_add_css_class (now, "vireo-now");
  gtk_list_box_insert (self->list, now, (int) now_position);
}

static void
update_progress (VireoCheckpointTree *self)
{
  const char *job = vireo_checkpoint_job (self->machine);

  gtk_widget_set_visible (self->progress_box, job != NULL);
  vireo_spinner_set_spinning (self->spinner, job != NULL);
  gtk_label_set_text (self->progress_label, job ? job : "");
  if (job == NULL)
    {
      /* The next job starts without a bar until the service reports a fraction. */
      gtk_widget_set_visible (GTK_WIDGET (self->progress_bar), FALSE);
      gtk_progress_bar_set_fraction (self->progress_bar, 0);
    }
}

static void
on_progress (VireoCheckpointTree *self, const char *operation, double fraction)
{
  gtk_widget_set_visible (GTK_WIDGET (self->progress_bar), TRUE);
  gtk_progress_bar_set_fraction (self->progress_bar, CLAMP (fraction, 0, 1));
}

static gboolean
update_now (gpointer data)
{
  VireoCheckpointTree *self = data;
  g_autoptr (GPtrArray) checkpoints = NULL;
  g_autofree char *signature = NULL;

  self->update_idle = 0;
  update_progress (self);
  if (self->machine == NULL)
    {
      clear_rows (self);
      g_clear_pointer (&self->signature, g_free);
      return G_SOURCE_REMOVE;
    }
  checkpoints = vireo_checkpoints_list (self->host, self->machine);
  signature = describe (self, checkpoints);
  if (g_strcmp0 (signature, self->signature) == 0)
    return G_SOURCE_REMOVE;
  g_free (self->signature);
  self->signature = g_steal_pointer (&signature);
  rebuild (self, checkpoints);
  return G_SOURCE_REMOVE;
}

/* Many properties change in one signal; the rows follow once. */
static void
schedule_update (VireoCheckpointTree *self)
{
  if (self->update_idle == 0)
    self->update_idle = g_idle_add (update_now, self);
}

/* The progress line shows at once, before the service answers; the rows follow when it has. */
static void
on_jobs_changed (VireoCheckpointTree *self)
{
  update_progress (self);
  schedule_update (self);
}

/* ---- following the service ---- */

static void
on_object_changed (VireoCheckpointTree *self)
{
  schedule_update (self);
}

static void
on_properties_changed (GDBusObjectManagerClient *objects, GDBusObjectProxy *object, GDBusProxy *proxy,
                       GVariant *changed, GStrv invalidated, VireoCheckpointTree *self)
{
  if (g_str_equal (g_dbus_proxy_get_interface_name (proxy), VIREO_CHECKPOINT_INTERFACE))
    schedule_update (self);
}

static void
forget_objects (VireoCheckpointTree *self)
{
  if (self->objects != NULL)
    g_signal_handlers_disconnect_by_data (self->objects, self);
  g_clear_object (&self->objects);
}

static void
on_manager_changed (VireoCheckpointTree *self)
{
  GDBusObjectManager *objects = self->host ? vireo_host_get_objects (self->host) : NULL;

  forget_objects (self);
  if (objects != NULL)
    {
      self->objects = g_object_ref (objects);
      g_signal_connect_swapped (objects, "object-added", G_CALLBACK (on_object_changed), self);
      g_signal_connect_swapped (objects, "object-removed", G_CALLBACK (on_object_changed), self);
      g_signal_connect_swapped (objects, "interface-added", G_CALLBACK (on_object_changed), self);
      g_signal_connect_swapped (objects, "interface-removed", G_CALLBACK (on_object_changed), self);
      if (G_IS_DBUS_OBJECT_MANAGER_CLIENT (objects))
        g_signal_connect (objects, "interface-proxy-properties-changed", G_CALLBACK (on_properties_changed),
                          self);
    }
  schedule_update (self);
}

void
vireo_checkpoint_tree_set_machine (VireoCheckpointTree *self, VireoHost *host, VireoDBusMachine *machine)
{
  g_return_if_fail (VIREO_IS_CHECKPOINT_TREE (self));

  if (self->host != host)
    {
      if (self->host != NULL)
        g_signal_handlers_disconnect_by_data (self->host, self);
      forget_objects (self);
      g_set_object (&self->host, host);
      if (host != NULL)
        g_signal_connect_swapped (host, "notify::manager", G_CALLBACK (on_manager_changed), self);
      on_manager_changed (self);
    }
  if (self->machine != machine)
    {
      if (self->machine != NULL)
        g_signal_handlers_disconnect_by_data (self->machine, self);
      g_set_object (&self->machine, machine);
      if (machine != NULL)
        {
          g_signal_connect_swapped (machine, "notify::current-checkpoint", G_CALLBACK (schedule_update),
                                    self);
          g_signal_connect_swapped (machine, "notify::state", G_CALLBACK (schedule_update), self);
          g_signal_connect_swapped (machine, "checkpoint-progress", G_CALLBACK (on_progress), self);
        }
    }
  /* At once: the pane shows another machine, and must not show the last one's checkpoints meanwhile. */
  g_clear_handle_id (&self->update_idle, g_source_remove);
  update_now (self);
}

/* ---- the right-click menu ---- */

/* A right click opens the row's menu, where its button is: one menu, one place. */
static void
on_right_click (GtkGestureClick *gesture, int n_press, double x, double y, VireoCheckpointTree *self)
{
  GtkListBoxRow *row = gtk_list_box_get_row_at_y (self->list, (int) y);
  GtkWidget *button = row ? g_object_get_data (G_OBJECT (row), BUTTON_KEY) : NULL;

  if (button == NULL)
    return;
  gtk_menu_button_popup (GTK_MENU_BUTTON (button));
  gtk_gesture_set_state (GTK_GESTURE (gesture), GTK_EVENT_SEQUENCE_CLAIMED);
}

/* ---- the widget ---- */

static void
vireo_checkpoint_tree_dispose (GObject *object)
{
  VireoCheckpointTree *self = VIREO_CHECKPOINT_TREE (object);

  g_clear_handle_id (&self->update_idle, g_source_remove);
  vireo_checkpoint_jobs_unwatch (object);
  if (self->machine != NULL)
    g_signal_handlers_disconnect_by_data (self->machine, self);
  if (self->host != NULL)
    g_signal_handlers_disconnect_by_data (self->host, self);
  forget_objects (self);
  g_clear_object (&self->machine);
  g_clear_object (&self->host);
  g_clear_pointer (&self->menus, g_hash_table_unref);
  G_OBJECT_CLASS (vireo_checkpoint_tree_parent_class)->dispose (object);
}

static void
vireo_checkpoint_tree_finalize (GObject *object)
{
  g_free (VIREO_CHECKPOINT_TREE (object)->signature);
  G_OBJECT_CLASS (vireo_checkpoint_tree_parent_class)->finalize (object);
}

static void
vireo_checkpoint_tree_class_init (VireoCheckpointTreeClass *klass)
{
  G_OBJECT_CLASS (klass)->dispose = vireo_checkpoint_tree_dispose;
  G_OBJECT_CLASS (klass)->finalize = vireo_checkpoint_tree_finalize;
}

static void
vireo_checkpoint_tree_init (VireoCheckpointTree *self)
{
  GtkWidget *box = gtk_box_new (GTK_ORIENTATION_VERTICAL, 12);
  GtkWidget *line = gtk_box_new (GTK_ORIENTATION_HORIZONTAL, 12);
  GtkGesture *click = gtk_gesture_click_new ();

  self->menus = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_object_unref);

  self->progress_box = gtk_box_new (GTK_ORIENTATION_VERTICAL, 6);
  self->spinner = VIREO_SPINNER (vireo_spinner_new ());
  gtk_widget_set_size_request (GTK_WIDGET (self->spinner), 16, 16);
  self->progress_label = GTK_LABEL (gtk_label_new (NULL));
  gtk_label_set_xalign (self->progress_label, 0);
  gtk_label_set_wrap (self->progress_label, TRUE);
  gtk_box_append (GTK_BOX (line), GTK_WIDGET (self->spinner));
  gtk_box_append (GTK_BOX (line), GTK_WIDGET (self->progress_label));
  self->progress_bar = GTK_PROGRESS_BAR (gtk_progress_bar_new ());
  gtk_widget_set_visible (GTK_WIDGET (self->progress_bar), FALSE);
  gtk_box_append (GTK_BOX (self->progress_box), line);
  gtk_box_append (GTK_BOX (self->progress_box), GTK_WIDGET (self->progress_bar));
  gtk_widget_set_visible (self->progress_box, FALSE);

  self->list = GTK_LIST_BOX (gtk_list_box_new ());
  gtk_list_box_set_selection_mode (self->list, GTK_SELECTION_NONE);
  gtk_widget_add_css_class (GTK_WIDGET (self->list), "boxed-list");
  gtk_accessible_update_property (GTK_ACCESSIBLE (self->list), GTK_ACCESSIBLE_PROPERTY_LABEL,
                                  _ ("Checkpoints"), -1);
  gtk_gesture_single_set_button (GTK_GESTURE_SINGLE (click), GDK_BUTTON_SECONDARY);
  g_signal_connect (click, "pressed", G_CALLBACK (on_right_click), self);
  gtk_widget_add_controller (GTK_WIDGET (self->list), GTK_EVENT_CONTROLLER (click));

  gtk_box_append (GTK_BOX (box), self->progress_box);
  gtk_box_append (GTK_BOX (box), GTK_WIDGET (self->list));
  adw_bin_set_child (ADW_BIN (self), box);
  vireo_checkpoint_jobs_watch (G_OBJECT (self), G_CALLBACK (on_jobs_changed));
}

GtkListBox *
vireo_checkpoint_tree_get_list (VireoCheckpointTree *self)
{
  g_return_val_if_fail (VIREO_IS_CHECKPOINT_TREE (self), NULL);
  return self->list;
}

GMenuModel *
vireo_checkpoint_tree_get_menu (VireoCheckpointTree *self, const char *object_path)
{
  g_return_val_if_fail (VIREO_IS_CHECKPOINT_TREE (self), NULL);
  return g_hash_table_lookup (self->menus, object_path);
}
