/* vireo-move-dialog.c — "Move to…": four pages in one window.  Choose: the app's other hosts (connected ones
 * selectable) and whether to delete the machine here once the copy is verified.  Review: what will not
 * arrive as it is (vireo_move_check), or why the machine cannot move now.  Copy: the stage and a progress bar,
 * with Cancel.  Result: where the machine is now and the checksums both ends agreed on, or what went wrong. */
#include "vireo-move-dialog.h"

#include <glib/gi18n.h>

#include "vireo-libvirt-host.h"
#include "vireo-move.h"

struct _VireoMoveDialog
{
  AdwWindow parent_instance;

  VireoApplication *app;
  VireoHost *source;
  VireoDBusMachine *machine;
  VireoMove *move;
  GCancellable *cancellable;
  GPtrArray *destinations; /* the hosts offered, in the rows' order */

  GtkStack *stack;
  GtkButton *back, *next, *cancel;
  GtkListBox *hosts;
  GtkSwitch *delete_source;
  GtkSwitch *checkpoints; /* NULL when the machine has none */
  AdwActionRow *checkpoints_row;
  gboolean wanted_checkpoints;
  AdwPreferencesGroup *notes_group;
  GPtrArray *note_rows;
  GtkLabel *stage;
  GtkProgressBar *progress;
  AdwStatusPage *result;
  GtkLabel *report;
};

G_DEFINE_FINAL_TYPE (VireoMoveDialog, vireo_move_dialog, ADW_TYPE_WINDOW)

static const char *
host_title (GObject *host)
{
  return VIREO_IS_HOST (host) ? vireo_host_get_title (VIREO_HOST (host))
                              : vireo_libvirt_host_get_title (VIREO_LIBVIRT_HOST (host));
}

static gboolean
host_available (GObject *host)
{
  return VIREO_IS_HOST (host) ? vireo_host_get_available (VIREO_HOST (host))
                              : vireo_libvirt_host_get_available (VIREO_LIBVIRT_HOST (host));
}

static GObject *
chosen_host (VireoMoveDialog *self)
{
  GtkListBoxRow *row = gtk_list_box_get_selected_row (self->hosts);

  if (row == NULL)
    return NULL;
  return g_ptr_array_index (self->destinations, (guint) gtk_list_box_row_get_index (row));
}

static void
show_page (VireoMoveDialog *self, const char *page)
{
  gboolean choose = g_str_equal (page, "choose"), review = g_str_equal (page, "review");

  gtk_stack_set_visible_child_name (self->stack, page);
  gtk_widget_set_visible (GTK_WIDGET (self->back), review);
  gtk_widget_set_visible (GTK_WIDGET (self->next), choose || review || g_str_equal (page, "checking"));
  gtk_widget_set_sensitive (GTK_WIDGET (self->next), (choose && chosen_host (self)) || review);
  gtk_button_set_label (self->next,
                        review ? (gtk_switch_get_active (self->delete_source) ? _ ("_Move") : _ ("_Copy"))
                               : _ ("_Next"));
  gtk_button_set_label (self->cancel, g_str_equal (page, "result") ? _ ("_Close") : _ ("_Cancel"));
  if (review && gtk_switch_get_active (self->delete_source))
    gtk_widget_add_css_class (GTK_WIDGET (self->next), "destructive-action");
  else
    gtk_widget_remove_css_class (GTK_WIDGET (self->next), "destructive-action");
  gtk_widget_set_sensitive (GTK_WIDGET (self->cancel), TRUE);
}

static void
show_result (VireoMoveDialog *self, const char *icon, const char *title, const char *description)
{
  adw_status_page_set_icon_name (self->result, icon);
  adw_status_page_set_title (self->result, title);
  g_autofree char *markup = g_markup_escape_text (description, -1);

  adw_status_page_set_description (self->result, markup);
  show_page (self, "result");
}

/* ---- review ---- */

static void
clear_notes (VireoMoveDialog *self)
{
  for (guint i = 0; i < self->note_rows->len; i++)
    adw_preferences_group_remove (self->notes_group, g_ptr_array_index (self->note_rows, i));
  g_ptr_array_set_size (self->note_rows, 0);
}

static void
on_checked (GObject *source, GAsyncResult *result, gpointer data)
{
  VireoMoveDialog *self = data;
  g_autoptr (GError) error = NULL;
  g_auto (GStrv) notes = vireo_move_check_finish (VIREO_MOVE (source), result, &error);
  g_autofree char *description = NULL;

  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    {
      g_object_unref (self);
      return;
    }
  if (notes == NULL)
    {
      show_result (self, "dialog-error-symbolic", _ ("The Machine Cannot Move Now"), error->message);
      g_object_unref (self);
      return;
    }
  clear_notes (self);
  for (char **note = notes; *note; note++)
    {
      GtkWidget *row = adw_action_row_new ();
      GtkWidget *icon = gtk_image_new_from_icon_name ("dialog-information-symbolic");

      adw_preferences_row_set_title (ADW_PREFERENCES_ROW (row), *note);
      adw_preferences_row_set_use_markup (ADW_PREFERENCES_ROW (row), FALSE);
      adw_action_row_set_title_lines (ADW_ACTION_ROW (row), 0);
      adw_action_row_add_prefix (ADW_ACTION_ROW (row), icon);
      adw_preferences_group_add (self->notes_group, row);
      g_ptr_array_add (self->note_rows, row);
    }
  /* A group's description is markup: the names in it are escaped. */
  description = gtk_switch_get_active (self->delete_source)
                    ? g_markup_printf_escaped (
                        _ ("“%s” and its disks are copied to %s and checked there; then it is "
                           "deleted here, with the disk images in its folder."),
                        vireo_dbus_machine_get_name (self->machine), host_title (chosen_host (self)))
                    : g_strdup_printf (
                        _ ("“%s” and its disks are copied to %s and checked there; it stays here "
                           "as well."),
                        vireo_dbus_machine_get_name (self->machine), host_title (chosen_host (self)));
  adw_preferences_group_set_description (self->notes_group, description);
  adw_preferences_group_set_title (self->notes_group, notes[0] ? _ ("What Does Not Arrive as It Is")
                                                               : _ ("Everything Arrives as It Is"));
  show_page (self, "review");
  g_object_unref (self);
}

static void
check (VireoMoveDialog *self)
{
  GObject *host = chosen_host (self);

  if (host == NULL)
    return;
  g_clear_object (&self->move);
  self->move = vireo_move_new (self->source, self->machine, host);
  vireo_move_set_include_checkpoints (self->move,
                                      self->checkpoints && gtk_switch_get_active (self->checkpoints));
  show_page (self, "checking");
  gtk_widget_set_sensitive (GTK_WIDGET (self->next), FALSE);
  vireo_move_check_async (self->move, self->cancellable, on_checked, g_object_ref (self));
}

/* ---- copy ---- */

static void
on_progress (VireoMoveDialog *self)
{
  gtk_label_set_text (self->stage, vireo_move_get_stage (self->move));
  gtk_progress_bar_set_fraction (self->progress, vireo_move_get_fraction (self->move));
}

static void
on_moved (GObject *source, GAsyncResult *result, gpointer data)
{
  VireoMoveDialog *self = data;
  g_autoptr (GError) error = NULL;
  g_autofree char *made = vireo_move_run_finish (VIREO_MOVE (source), result, &error);

  g_signal_handlers_disconnect_by_data (source, self);
  if (made)
    {
      g_auto (GStrv) report = vireo_move_get_report (self->move);
      g_autofree char *lines = g_strjoinv ("\n", report);
      g_autofree char *title = g_strdup_printf (
          gtk_switch_get_active (self->delete_source) ? _ ("“%s” Moved to %s") : _ ("“%s” Copied to %s"),
          vireo_dbus_machine_get_name (self->machine), host_title (chosen_host (self)));

      gtk_label_set_text (self->report, lines);
      gtk_widget_set_visible (GTK_WIDGET (self->report), *lines != '\0');
      show_result (self, "emblem-ok-symbolic", title,
                   report[0] ? _ ("Each disk’s size and SHA-256 checksum were the same at both ends:")
                             : _ ("The machine has no disks to copy."));
    }
  else if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    show_result (self, "process-stop-symbolic", _ ("Move Cancelled"),
                 _ ("The unfinished copy was deleted; the machine is unchanged here."));
  else
    show_result (self, "dialog-error-symbolic", _ ("The Move Failed"), error->message);
  g_object_unref (self);
}

static void
run (VireoMoveDialog *self)
{
  gtk_widget_set_visible (GTK_WIDGET (self->report), FALSE);
  gtk_progress_bar_set_fraction (self->progress, 0);
  gtk_label_set_text (self->stage, "");
  show_page (self, "copy");
  g_signal_connect_swapped (self->move, "notify::fraction", G_CALLBACK (on_progress), self);
  g_signal_connect_swapped (self->move, "notify::stage", G_CALLBACK (on_progress), self);
  vireo_move_run_async (self->move, gtk_switch_get_active (self->delete_source), self->cancellable, on_moved,
                        g_object_ref (self));
}

/* ---- buttons ---- */

static void
on_next (VireoMoveDialog *self)
{
  const char *page = gtk_stack_get_visible_child_name (self->stack);

  if (g_str_equal (page, "choose"))
    check (self);
  else if (g_str_equal (page, "review"))
    run (self);
}

static void
on_back (VireoMoveDialog *self)
{
  show_page (self, "choose");
}

static void
on_cancel (VireoMoveDialog *self)
{
  const char *page = gtk_stack_get_visible_child_name (self->stack);

  /* A copy under way ends through its own cleanup, which deletes the half-made machine first. */
  if (g_str_equal (page, "copy"))
    {
      gtk_widget_set_sensitive (GTK_WIDGET (self->cancel), FALSE);
      gtk_label_set_text (self->stage, _ ("Cancelling…"));
      g_cancellable_cancel (self->cancellable);
      return;
    }
  gtk_window_close (GTK_WINDOW (self));
}

static gboolean
on_close_request (GtkWindow *window)
{
  VireoMoveDialog *self = VIREO_MOVE_DIALOG (window);

  /* Closing mid-copy would leave the copy running unseen: cancel it, and close when it has ended. */
  if (g_str_equal (gtk_stack_get_visible_child_name (self->stack), "copy"))
    {
      on_cancel (self);
      return TRUE;
    }
  g_cancellable_cancel (self->cancellable);
  return FALSE;
}

/* ---- building ---- */

static void
on_row_selected (VireoMoveDialog *self)
{
  GObject *host = chosen_host (self);

  /* libvirt keeps snapshots its own way: checkpoints go only to another Vireo host. */
  if (self->checkpoints)
    {
      gboolean vireo = host == NULL || VIREO_IS_HOST (host);

      /* Shown off where it cannot apply; the user's choice comes back with a Vireo host. */
      if (!vireo && gtk_widget_get_sensitive (GTK_WIDGET (self->checkpoints_row)))
        {
          self->wanted_checkpoints = gtk_switch_get_active (self->checkpoints);
          gtk_switch_set_active (self->checkpoints, FALSE);
        }
      else if (vireo && !gtk_widget_get_sensitive (GTK_WIDGET (self->checkpoints_row)))
        gtk_switch_set_active (self->checkpoints, self->wanted_checkpoints);
      gtk_widget_set_sensitive (GTK_WIDGET (self->checkpoints_row), vireo);
      adw_action_row_set_subtitle (self->checkpoints_row,
                                   vireo ? _ ("The disks keep their snapshots; saved states are copied too")
                                         : _ ("Not to a libvirt host"));
    }
  if (g_str_equal (gtk_stack_get_visible_child_name (self->stack), "choose"))
    show_page (self, "choose");
}

static void
fill_hosts (VireoMoveDialog *self)
{
  GListModel *hosts = vireo_application_get_hosts (self->app);

  for (guint i = 0; i < g_list_model_get_n_items (hosts); i++)
    {
      g_autoptr (GObject) host = g_list_model_get_item (hosts, i);
      GtkWidget *row;

      if (host == G_OBJECT (self->source))
        continue;
      row = adw_action_row_new ();
      adw_preferences_row_set_title (ADW_PREFERENCES_ROW (row), host_title (host));
      adw_preferences_row_set_use_markup (ADW_PREFERENCES_ROW (row), FALSE);
      adw_action_row_set_subtitle (ADW_ACTION_ROW (row), !host_available (host) ? _ ("Not connected")
                                                         : VIREO_IS_HOST (host) ? _ ("Vireo")
                                                                                : _ ("libvirt"));
      adw_action_row_add_prefix (ADW_ACTION_ROW (row),
                                 gtk_image_new_from_icon_name (
                                     VIREO_IS_HOST (host) ? "computer-symbolic" : "network-server-symbolic"));
      gtk_widget_set_sensitive (row, host_available (host));
      gtk_list_box_append (self->hosts, row);
      g_ptr_array_add (self->destinations, g_object_ref (host));
    }
}

static GtkWidget *
page_with (GtkWidget *child)
{
  GtkWidget *scroller = gtk_scrolled_window_new ();
  GtkWidget *clamp = adw_clamp_new ();

  gtk_scrolled_window_set_policy (GTK_SCROLLED_WINDOW (scroller), GTK_POLICY_NEVER, GTK_POLICY_AUTOMATIC);
  gtk_widget_set_vexpand (scroller, TRUE);
  gtk_widget_set_margin_top (child, 18);
  gtk_widget_set_margin_bottom (child, 18);
  gtk_widget_set_margin_start (child, 12);
  gtk_widget_set_margin_end (child, 12);
  adw_clamp_set_child (ADW_CLAMP (clamp), child);
  gtk_scrolled_window_set_child (GTK_SCROLLED_WINDOW (scroller), clamp);
  return scroller;
}

static GtkWidget *
build_choose (VireoMoveDialog *self)
{
  GtkWidget *box = gtk_box_new (GTK_ORIENTATION_VERTICAL, 18);
  GtkWidget *hosts_group = adw_preferences_group_new ();
  GtkWidget *options = adw_preferences_group_new ();
  GtkWidget *delete_row = adw_action_row_new ();
  guint checkpoints = vireo_move_count_checkpoints (self->source, self->machine);
  g_autofree char *description = g_strdup_printf (
      _ ("“%s” is copied with its disks. Add hosts with Connect to "
         "Server…"),
      vireo_dbus_machine_get_name (self->machine));

  adw_preferences_group_set_title (ADW_PREFERENCES_GROUP (hosts_group), _ ("Destination"));
  adw_preferences_group_set_description (ADW_PREFERENCES_GROUP (hosts_group), description);
  self->hosts = GTK_LIST_BOX (gtk_list_box_new ());
  gtk_widget_add_css_class (GTK_WIDGET (self->hosts), "boxed-list");
  gtk_list_box_set_selection_mode (self->hosts, GTK_SELECTION_SINGLE);
  gtk_accessible_update_property (GTK_ACCESSIBLE (self->hosts), GTK_ACCESSIBLE_PROPERTY_LABEL,
                                  _ ("Destination"), -1);
  g_signal_connect_swapped (self->hosts, "row-selected", G_CALLBACK (on_row_selected), self);
  adw_preferences_group_add (ADW_PREFERENCES_GROUP (hosts_group), GTK_WIDGET (self->hosts));
  fill_hosts (self);
  if (self->destinations->len == 0)
    {
      GtkWidget *none = adw_action_row_new ();
      adw_preferences_row_set_title (ADW_PREFERENCES_ROW (none), _ ("No other host"));
      adw_action_row_set_subtitle (ADW_ACTION_ROW (none), _ ("Add one with Connect to Server…"));
      gtk_list_box_set_placeholder (self->hosts, none);
    }

  self->delete_source = GTK_SWITCH (gtk_switch_new ());
  gtk_switch_set_active (self->delete_source, TRUE);
  gtk_widget_set_valign (GTK_WIDGET (self->delete_source), GTK_ALIGN_CENTER);
  adw_preferences_row_set_title (ADW_PREFERENCES_ROW (delete_row), _ ("_Delete here after a verified copy"));
  adw_preferences_row_set_use_underline (ADW_PREFERENCES_ROW (delete_row), TRUE);
  adw_action_row_set_subtitle (ADW_ACTION_ROW (delete_row),
                               _ ("Only once every disk’s size and checksum match at both ends"));
  adw_action_row_add_suffix (ADW_ACTION_ROW (delete_row), GTK_WIDGET (self->delete_source));
  adw_action_row_set_activatable_widget (ADW_ACTION_ROW (delete_row), GTK_WIDGET (self->delete_source));
  adw_preferences_group_add (ADW_PREFERENCES_GROUP (options), delete_row);
  if (checkpoints > 0)
    {
      g_autofree char *title = g_strdup_printf (
          g_dngettext (NULL, "_Include its checkpoint", "_Include its %u checkpoints", checkpoints),
          checkpoints);

      self->checkpoints = GTK_SWITCH (gtk_switch_new ());
      gtk_switch_set_active (self->checkpoints, TRUE);
      gtk_widget_set_valign (GTK_WIDGET (self->checkpoints), GTK_ALIGN_CENTER);
      self->checkpoints_row = ADW_ACTION_ROW (adw_action_row_new ());
      adw_preferences_row_set_title (ADW_PREFERENCES_ROW (self->checkpoints_row), title);
      adw_preferences_row_set_use_underline (ADW_PREFERENCES_ROW (self->checkpoints_row), TRUE);
      adw_action_row_add_suffix (self->checkpoints_row, GTK_WIDGET (self->checkpoints));
      adw_action_row_set_activatable_widget (self->checkpoints_row, GTK_WIDGET (self->checkpoints));
      adw_preferences_group_add (ADW_PREFERENCES_GROUP (options), GTK_WIDGET (self->checkpoints_row));
    }

  gtk_box_append (GTK_BOX (box), hosts_group);
  gtk_box_append (GTK_BOX (box), options);
  return page_with (box);
}

static GtkWidget *
build_copy (VireoMoveDialog *self)
{
  GtkWidget *box = gtk_box_new (GTK_ORIENTATION_VERTICAL, 12);

  gtk_widget_set_valign (box, GTK_ALIGN_CENTER);
  self->stage = GTK_LABEL (gtk_label_new (NULL));
  gtk_label_set_wrap (self->stage, TRUE);
  self->progress = GTK_PROGRESS_BAR (gtk_progress_bar_new ());
  gtk_accessible_update_property (GTK_ACCESSIBLE (self->progress), GTK_ACCESSIBLE_PROPERTY_LABEL,
                                  _ ("Progress"), -1);
  gtk_box_append (GTK_BOX (box), GTK_WIDGET (self->stage));
  gtk_box_append (GTK_BOX (box), GTK_WIDGET (self->progress));
  return page_with (box);
}

static void
build (VireoMoveDialog *self)
{
  GtkWidget *toolbar = gtk_box_new (GTK_ORIENTATION_VERTICAL, 0);
  GtkWidget *header = adw_header_bar_new ();
  GtkWidget *checking = gtk_spinner_new ();
  GtkWidget *notes_box = gtk_box_new (GTK_ORIENTATION_VERTICAL, 0);
  GtkWidget *result_box = gtk_box_new (GTK_ORIENTATION_VERTICAL, 0);
  g_autofree char *title = g_strdup_printf (_ ("Move “%s”"), vireo_dbus_machine_get_name (self->machine));

  gtk_window_set_title (GTK_WINDOW (self), title);
  adw_header_bar_set_show_end_title_buttons (ADW_HEADER_BAR (header), FALSE);
  adw_header_bar_set_show_start_title_buttons (ADW_HEADER_BAR (header), FALSE);
  self->cancel = GTK_BUTTON (gtk_button_new_with_mnemonic (_ ("_Cancel")));
  self->back = GTK_BUTTON (gtk_button_new_with_mnemonic (_ ("_Back")));
  self->next = GTK_BUTTON (gtk_button_new_with_mnemonic (_ ("_Next")));
  gtk_widget_add_css_class (GTK_WIDGET (self->next), "suggested-action");
  adw_header_bar_pack_start (ADW_HEADER_BAR (header), GTK_WIDGET (self->cancel));
  adw_header_bar_pack_end (ADW_HEADER_BAR (header), GTK_WIDGET (self->next));
  adw_header_bar_pack_end (ADW_HEADER_BAR (header), GTK_WIDGET (self->back));
  g_signal_connect_swapped (self->cancel, "clicked", G_CALLBACK (on_cancel), self);
  g_signal_connect_swapped (self->back, "clicked", G_CALLBACK (on_back), self);
  g_signal_connect_swapped (self->next, "clicked", G_CALLBACK (on_next), self);

  self->stack = GTK_STACK (gtk_stack_new ());
  gtk_stack_set_transition_type (self->stack, GTK_STACK_TRANSITION_TYPE_CROSSFADE);
  gtk_stack_add_named (self->stack, build_choose (self), "choose");
  gtk_spinner_start (GTK_SPINNER (checking));
  gtk_widget_set_size_request (checking, 32, 32);
  gtk_widget_set_halign (checking, GTK_ALIGN_CENTER);
  gtk_widget_set_valign (checking, GTK_ALIGN_CENTER);
  gtk_stack_add_named (self->stack, checking, "checking");
  self->notes_group = ADW_PREFERENCES_GROUP (adw_preferences_group_new ());
  gtk_box_append (GTK_BOX (notes_box), GTK_WIDGET (self->notes_group));
  gtk_stack_add_named (self->stack, page_with (notes_box), "review");
  gtk_stack_add_named (self->stack, build_copy (self), "copy");
  self->result = ADW_STATUS_PAGE (adw_status_page_new ());
  self->report = GTK_LABEL (gtk_label_new (NULL));
  gtk_label_set_selectable (self->report, TRUE);
  gtk_label_set_wrap (self->report, TRUE);
  gtk_label_set_wrap_mode (self->report, PANGO_WRAP_WORD_CHAR);
  gtk_widget_add_css_class (GTK_WIDGET (self->report), "monospace");
  gtk_box_append (GTK_BOX (result_box), GTK_WIDGET (self->report));
  adw_status_page_set_child (self->result, result_box);
  gtk_stack_add_named (self->stack, GTK_WIDGET (self->result), "result");

  gtk_box_append (GTK_BOX (toolbar), header);
  gtk_box_append (GTK_BOX (toolbar), GTK_WIDGET (self->stack));
  adw_window_set_content (ADW_WINDOW (self), toolbar);
  show_page (self, "choose");
}

VireoMoveDialog *
vireo_move_dialog_new (GtkWindow *parent, VireoApplication *app, VireoHost *source, VireoDBusMachine *machine)
{
  VireoMoveDialog *self;

  g_return_val_if_fail (VIREO_IS_APPLICATION (app), NULL);
  g_return_val_if_fail (VIREO_IS_HOST (source), NULL);
  g_return_val_if_fail (VIREO_DBUS_IS_MACHINE (machine), NULL);

  self = g_object_new (VIREO_TYPE_MOVE_DIALOG, "modal", TRUE, "transient-for", parent, "default-width", 520,
                       "default-height", 560, NULL);
  self->app = g_object_ref (app);
  self->source = g_object_ref (source);
  self->machine = g_object_ref (machine);
  build (self);
  return self;
}

static void
vireo_move_dialog_dispose (GObject *object)
{
  VireoMoveDialog *self = VIREO_MOVE_DIALOG (object);

  g_cancellable_cancel (self->cancellable);
  if (self->move)
    g_signal_handlers_disconnect_by_data (self->move, self);
  g_clear_object (&self->move);
  g_clear_object (&self->app);
  g_clear_object (&self->source);
  g_clear_object (&self->machine);
  G_OBJECT_CLASS (vireo_move_dialog_parent_class)->dispose (object);
}

static void
vireo_move_dialog_finalize (GObject *object)
{
  VireoMoveDialog *self = VIREO_MOVE_DIALOG (object);

  g_clear_object (&self->cancellable);
  g_ptr_array_unref (self->destinations);
  g_ptr_array_unref (self->note_rows);
  G_OBJECT_CLASS (vireo_move_dialog_parent_class)->finalize (object);
}

static void
vireo_move_dialog_class_init (VireoMoveDialogClass *klass)
{
  G_OBJECT_CLASS (klass)->dispose = vireo_move_dialog_dispose;
  G_OBJECT_CLASS (klass)->finalize = vireo_move_dialog_finalize;
  GTK_WINDOW_CLASS (klass)->close_request = on_close_request;
}

static void
vireo_move_dialog_init (VireoMoveDialog *self)
{
  self->cancellable = g_cancellable_new ();
  self->destinations = g_ptr_array_new_with_free_func (g_object_unref);
  self->note_rows = g_ptr_array_new ();
}
