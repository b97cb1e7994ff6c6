/* vireo-settings-boot.c — the Boot page of a machine's settings: whether it starts from a kernel file or
 * through its firmware; for a kernel, the kernel, initial ramdisk and command line, each checked as typed and
 * applied with Enter or when a file is chosen; for the firmware, which one it is, the order in which it tries
 * the disks and CD-ROM drives (moved with buttons or by dragging; each change sent as the whole "disks" list,
 * renumbered), and its boot menu. */
#include "vireo-settings-boot.h"

#include <glib/gi18n.h>

#include "vireo-checks.h"
#include "vireo-remote-files.h"

/* Order of the boot combo row's items, as the service spells them. */
static const char *const boot_values[] = { "kernel", "disk", NULL };

struct _VireoSettingsBoot
{
  VireoSettingsPage parent_instance;

  /* Template widgets */
  AdwComboRow *boot_row;
  AdwPreferencesGroup *kernel_group;
  AdwEntryRow *kernel_row;
  AdwEntryRow *initrd_row;
  AdwEntryRow *cmdline_row;
  GtkWidget *kernel_choose;
  GtkWidget *initrd_choose;
  GtkLabel *boot_message;
  AdwPreferencesGroup *firmware_group;
  AdwActionRow *firmware_row;
  AdwActionRow *boot_menu_row;
  GtkSwitch *boot_menu_switch;
  GtkLabel *firmware_message;
  AdwPreferencesGroup *order_group;
  GtkWidget *no_drives_row;
  GtkLabel *order_message;

  GPtrArray *order_rows; /* the drives' rows, in boot order */
  char *moved_target;    /* the drive the user just moved: it keeps the focus when its row is made again */
  gboolean moved_up;
};

G_DEFINE_FINAL_TYPE (VireoSettingsBoot, vireo_settings_boot, VIREO_TYPE_SETTINGS_PAGE)

#define PAGE(self) VIREO_SETTINGS_PAGE (self)

static char *
check_boot_text (VireoSettingsBoot *self, AdwEntryRow *row)
{
  g_autofree char *text = vireo_entry_row_get_stripped_text (row);

  if (row == self->cmdline_row)
    return vireo_check_cmdline (gtk_editable_get_text (GTK_EDITABLE (row)));
  if (*text == '\0')
    return row == self->kernel_row ? g_strdup (_ ("A machine that boots a kernel needs a kernel file."))
                                   : NULL;
  return vireo_check_host_file (vireo_settings_page_get_host (PAGE (self)), text, FALSE);
}

static const char *
boot_key (VireoSettingsBoot *self, AdwEntryRow *row)
{
  return row == self->kernel_row ? "kernel" : row == self->initrd_row ? "initrd" : "cmdline";
}

static void
describe (VireoSettingsBoot *self)
{
  gboolean locked = vireo_settings_page_is_locked (PAGE (self));

  adw_action_row_set_subtitle (ADW_ACTION_ROW (self->boot_row),
                               locked ? vireo_settings_lock_text ()
                               : adw_combo_row_get_selected (self->boot_row) == 0
                                   ? _ ("A kernel file, started directly")
                                   : _ ("The firmware starts a drive, in the boot order"));
  adw_preferences_group_set_description (self->kernel_group,
                                         locked ? vireo_settings_locked_group_text ()
                                                : _ ("A PVH ELF or bzImage kernel. Type a path or choose a "
                                                     "file; press Enter to apply."));
  adw_action_row_set_subtitle (self->boot_menu_row, locked ? vireo_settings_lock_text ()
                                                           : _ ("Press Esc at start to choose a device"));
  adw_preferences_group_set_description (
      self->order_group, locked
                             ? _ ("Turn the machine off to change the boot order.")
                             : _ ("The firmware tries the checked drives from the top, and starts the first "
                                  "one that holds a system."));
}

/* ---- the user's changes ---- */

static void
on_boot_selected (VireoSettingsBoot *self)
{
  const char *boot = vireo_settings_value_at (boot_values, adw_combo_row_get_selected (self->boot_row));

  describe (self);
  if (!vireo_settings_page_is_syncing (PAGE (self)))
    vireo_settings_page_send (PAGE (self), "boot", g_variant_new_string (boot));
}

static void
on_boot_text_changed (VireoSettingsBoot *self, AdwEntryRow *row)
{
  g_autofree char *reason = NULL;

  if (vireo_settings_page_is_syncing (PAGE (self)))
    return;
  reason = check_boot_text (self, row);
  vireo_settings_show_reason (self->boot_message, GTK_WIDGET (row), reason);
}

static void
on_boot_text_apply (VireoSettingsBoot *self, AdwEntryRow *row)
{
  g_autofree char *reason = check_boot_text (self, row);
  g_autofree char *value = row == self->cmdline_row ? g_strdup (gtk_editable_get_text (GTK_EDITABLE (row)))
                                                    : vireo_entry_row_get_stripped_text (row);
  g_autofree char *current = vireo_settings_page_lookup_string (PAGE (self), boot_key (self, row));

  vireo_settings_show_reason (self->boot_message, GTK_WIDGET (row), reason);
  if (reason == NULL && g_strcmp0 (value, current) != 0)
    vireo_settings_page_send (PAGE (self), boot_key (self, row), g_variant_new_string (value));
}

/* A chosen file is meant at once, as if typed and applied. */
static void
on_file_chosen (VireoSettingsPage *page, GtkWidget *target, const char *path)
{
  gtk_editable_set_text (GTK_EDITABLE (target), path);
  on_boot_text_apply (VIREO_SETTINGS_BOOT (page), ADW_ENTRY_ROW (target));
}

static void
on_choose_clicked (VireoSettingsBoot *self, GtkWidget *button)
{
  g_autofree char *near = NULL;

  if (button == self->kernel_choose)
    {
      near = vireo_entry_row_get_stripped_text (self->kernel_row);
      vireo_settings_page_choose_file (PAGE (self), GTK_WIDGET (self->kernel_row), _ ("Choose the Kernel"),
                                       VIREO_FILES_ANY, near, on_file_chosen);
    }
  else
    {
      near = vireo_entry_row_get_stripped_text (
          *gtk_editable_get_text (GTK_EDITABLE (self->initrd_row)) ? self->initrd_row : self->kernel_row);
      vireo_settings_page_choose_file (PAGE (self), GTK_WIDGET (self->initrd_row),
                                       _ ("Choose the Initial Ramdisk"), VIREO_FILES_ANY, near,
                                       on_file_chosen);
    }
}

/* ---- boot order ---- */

/* The service's disks, or an empty list. */
static GVariant *
current_disks (VireoSettingsBoot *self)
{
  GVariant *disks = vireo_settings_page_lookup (PAGE (self), "disks");

  if (disks == NULL || !g_variant_is_of_type (disks, G_VARIANT_TYPE ("aa{sv}")))
    {
      g_clear_pointer (&disks, g_variant_unref);
      disks = g_variant_ref_sink (g_variant_new_array (G_VARIANT_TYPE_VARDICT, NULL, 0));
    }
  return disks;
}

static guint
disk_boot_order (GVariant *disk)
{
  guint32 order = 0;

  g_variant_lookup (disk, "boot-order", "u", &order);
  return order;
}

typedef struct
{
  guint index; /* in the "disks" list */
  guint order; /* "boot-order" */
} Drive;

static int
compare_drives (gconstpointer a, gconstpointer b)
{
  const Drive *x = a, *y = b;

  /* Drives that boot first, by their order; the rest after them, as they are listed; equal orders (a
   * definition made elsewhere) keep the list's order. */
  if ((x->order == 0) != (y->order == 0))
    return x->order == 0 ? 1 : -1;
  if (x->order != y->order)
    return x->order < y->order ? -1 : 1;
  return x->index < y->index ? -1 : x->index > y->index;
}

/* The disks' indices in boot order; *n_boot: how many of them boot. */
static GArray *
drives_in_boot_order (GVariant *disks, guint *n_boot)
{
  GArray *drives = g_array_new (FALSE, FALSE, sizeof (Drive));

  *n_boot = 0;
  for (gsize i = 0; i < g_variant_n_children (disks); i++)
    {
      g_autoptr (GVariant) disk = g_variant_get_child_value (disks, i);
      Drive drive = { (guint) i, disk_boot_order (disk) };

      g_array_append_val (drives, drive);
      if (drive.order != 0)
        (*n_boot)++;
    }
  g_array_sort (drives, compare_drives);
  return drives;
}

/* Sends the disks with the drives at @indices (@n of them, in the list's numbering) booting in that order,
 * 1..n, and every other drive not booting; each disk's other keys as they are. */
static void
send_boot_order (VireoSettingsBoot *self, const guint *indices, guint n)
{
  g_autoptr (GVariant) disks = current_disks (self);
  g_auto (GVariantBuilder) builder = G_VARIANT_BUILDER_INIT (G_VARIANT_TYPE ("aa{sv}"));

  for (gsize i = 0; i < g_variant_n_children (disks); i++)
    {
      g_autoptr (GVariant) disk = g_variant_get_child_value (disks, i);
      guint32 order = 0;
      GVariantDict dict;

      for (guint k = 0; k < n; k++)
        if (indices[k] == i)
          order = k + 1;
      g_variant_dict_init (&dict, disk);
      g_variant_dict_insert (&dict, "boot-order", "u", order);
      g_variant_builder_add_value (&builder, g_variant_dict_end (&dict));
    }
  vireo_settings_show_reason (self->order_message, GTK_WIDGET (self->order_group), NULL);
  vireo_settings_page_send (PAGE (self), "disks", g_variant_builder_end (&builder));
}

typedef enum
{
  CHANGE_INCLUDE,
  CHANGE_EXCLUDE,
  CHANGE_MOVE,
} OrderChange;

/* Applies @change to the drive at @index of the list (CHANGE_MOVE: to place @to among the drives that boot,
 * from 0) and sends the new boot order; a change that changes nothing sends nothing. */
static void
change_boot_order (VireoSettingsBoot *self, guint index, OrderChange change, guint to)
{
  g_autoptr (GVariant) disks = current_disks (self);
  guint n_boot;
  g_autoptr (GArray) drives = drives_in_boot_order (disks, &n_boot);
  g_autoptr (GArray) booting = g_array_new (FALSE, FALSE, sizeof (guint));
  guint position = G_MAXUINT;

  for (guint k = 0; k < n_boot; k++)
    {
      guint i = g_array_index (drives, Drive, k).index;

      if (i == index)
        position = k;
      else
        g_array_append_val (booting, i);
    }
  switch (change)
    {
    case CHANGE_INCLUDE:
      if (position != G_MAXUINT)
        return;
      /* A drive newly included boots last, after those the user already put in order. */
      g_array_append_val (booting, index);
      break;
    case CHANGE_EXCLUDE:
      if (position == G_MAXUINT)
        return;
      break;
    case CHANGE_MOVE:
      if (position == G_MAXUINT || to == position || to >= n_boot)
        return;
      g_array_insert_val (booting, to, index);
      break;
    }
  send_boot_order (self, (const guint *) (gpointer) booting->data, booting->len);
}

static guint
row_disk_index (GtkWidget *widget)
{
  GtkWidget *row = gtk_widget_get_ancestor (widget, ADW_TYPE_ACTION_ROW);

  return GPOINTER_TO_UINT (g_object_get_data (G_OBJECT (row), "disk-index"));
}

/* The row's place in the boot order, from 0. */
static guint
row_position (GtkWidget *row)
{
  return GPOINTER_TO_UINT (g_object_get_data (G_OBJECT (row), "position"));
}

static void
on_drive_included (GtkCheckButton *check, GParamSpec *pspec, VireoSettingsBoot *self)
{
  if (vireo_settings_page_is_syncing (PAGE (self)))
    return;
  change_boot_order (self, row_disk_index (GTK_WIDGET (check)),
                     gtk_check_button_get_active (check) ? CHANGE_INCLUDE : CHANGE_EXCLUDE, 0);
}

static void
move_drive (VireoSettingsBoot *self, GtkWidget *button, gboolean up)
{
  GtkWidget *row = gtk_widget_get_ancestor (button, ADW_TYPE_ACTION_ROW);

  g_free (self->moved_target);
  self->moved_target = g_strdup (g_object_get_data (G_OBJECT (row), "target"));
  self->moved_up = up;
  change_boot_order (self, row_disk_index (button), CHANGE_MOVE,
                     up ? row_position (row) - 1 : row_position (row) + 1);
}

static void
on_drive_up (GtkButton *button, VireoSettingsBoot *self)
{
  move_drive (self, GTK_WIDGET (button), TRUE);
}

static void
on_drive_down (GtkButton *button, VireoSettingsBoot *self)
{
  move_drive (self, GTK_WIDGET (button), FALSE);
}

static GtkWidget *
move_button (const char *icon, const char *tooltip, const char *accessible, gboolean sensitive,
             GCallback clicked, VireoSettingsBoot *self)
{
  GtkWidget *button = gtk_button_new_from_icon_name (icon);

  gtk_widget_set_valign (button, GTK_ALIGN_CENTER);
  gtk_widget_set_tooltip_text (button, tooltip);
  gtk_accessible_update_property (GTK_ACCESSIBLE (button), GTK_ACCESSIBLE_PROPERTY_LABEL, accessible, -1);
  gtk_widget_add_css_class (button, "flat");
  gtk_widget_set_sensitive (button, sensitive);
  g_signal_connect (button, "clicked", clicked, self);
  return button;
}

/* Dragging a drive that boots onto another puts it in that one's place.  What is dragged is the row itself:
 * a row of another machine's window, which names another list, is not taken. */
static GdkContentProvider *
on_drag_prepare (GtkDragSource *source, double x, double y, VireoSettingsBoot *self)
{
  GtkWidget *row = gtk_event_controller_get_widget (GTK_EVENT_CONTROLLER (source));

  if (vireo_settings_page_is_locked (PAGE (self)))
    return NULL;
  return gdk_content_provider_new_typed (ADW_TYPE_ACTION_ROW, row);
}

static void
on_drag_begin (GtkDragSource *source, GdkDrag *drag, VireoSettingsBoot *self)
{
  GtkWidget *row = gtk_event_controller_get_widget (GTK_EVENT_CONTROLLER (source));
  g_autoptr (GdkPaintable) icon = gtk_widget_paintable_new (row);

  gtk_drag_source_set_icon (source, icon, 0, 0);
}

static gboolean
on_drop (GtkDropTarget *target, const GValue *value, double x, double y, VireoSettingsBoot *self)
{
  GtkWidget *row = gtk_event_controller_get_widget (GTK_EVENT_CONTROLLER (target));
  GtkWidget *dragged = G_VALUE_HOLDS (value, ADW_TYPE_ACTION_ROW) ? g_value_get_object (value) : NULL;

  if (dragged == NULL || !g_ptr_array_find (self->order_rows, dragged, NULL)
      || vireo_settings_page_is_locked (PAGE (self)))
    return FALSE;
  change_boot_order (self, row_disk_index (dragged), CHANGE_MOVE, row_position (row));
  return TRUE;
}

static void
add_drag_and_drop (VireoSettingsBoot *self, GtkWidget *row)
{
  GtkDragSource *source = gtk_drag_source_new ();
  GtkDropTarget *target = gtk_drop_target_new (ADW_TYPE_ACTION_ROW, GDK_ACTION_MOVE);

  gtk_drag_source_set_actions (source, GDK_ACTION_MOVE);
  g_signal_connect (source, "prepare", G_CALLBACK (on_drag_prepare), self);
  g_signal_connect (source, "drag-begin", G_CALLBACK (on_drag_begin), self);
  gtk_widget_add_controller (row, GTK_EVENT_CONTROLLER (source));
  g_signal_connect (target, "drop", G_CALLBACK (on_drop), self);
  gtk_widget_add_controller (row, GTK_EVENT_CONTROLLER (target));
  g_object_set_data (G_OBJECT (row), "drop-target", target);
}

/* The row of one drive: whether it boots, what it is, and buttons to move it among the drives that boot. */
static GtkWidget *
drive_row (VireoSettingsBoot *self, GVariant *disk, guint index, guint position, guint n_boot)
{
  const char *path = "";
  const char *device = "disk";
  const char *target = "";
  gboolean cdrom;
  gboolean boots = position < n_boot;
  g_autofree char *name = NULL;
  g_autofree char *subtitle = NULL;
  g_autofree char *up_label = NULL;
  g_autofree char *down_label = NULL;
  GtkWidget *row = adw_action_row_new ();
  GtkWidget *check = gtk_check_button_new ();
  GtkWidget *buttons = gtk_box_new (GTK_ORIENTATION_HORIZONTAL, 0);
  GtkWidget *up, *down, *icon;

  g_variant_lookup (disk, "path", "&s", &path);
  g_variant_lookup (disk, "device", "&s", &device);
  g_variant_lookup (disk, "target", "&s", &target);
  cdrom = g_str_equal (device, "cdrom");
  name = *path ? g_filename_display_basename (path) : g_strdup (_ ("Empty drive"));
  if (boots)
    /* Translators: a drive in the boot order: its position, its kind, and its name in the machine ("sda"). */
    subtitle = g_strdup_printf (_ ("%u. %s · %s"), position + 1, cdrom ? _ ("CD-ROM drive") : _ ("Disk"),
                                target);
  else
    /* Translators: a drive the firmware does not start from: its kind and its name in the machine. */
    subtitle = g_strdup_printf (_ ("%s · %s · not a boot device"), cdrom ? _ ("CD-ROM drive") : _ ("Disk"),
                                target);

  adw_preferences_row_set_use_markup (ADW_PREFERENCES_ROW (row), FALSE);
  adw_preferences_row_set_title (ADW_PREFERENCES_ROW (row), name);
  adw_action_row_set_subtitle (ADW_ACTION_ROW (row), subtitle);
  g_object_set_data (G_OBJECT (row), "disk-index", GUINT_TO_POINTER (index));
  g_object_set_data (G_OBJECT (row), "position", GUINT_TO_POINTER (position));
  g_object_set_data_full (G_OBJECT (row), "target", g_strdup (target), g_free);

  gtk_check_button_set_active (GTK_CHECK_BUTTON (check), boots);
  gtk_widget_set_valign (check, GTK_ALIGN_CENTER);
  gtk_widget_set_tooltip_text (check, _ ("Start from this drive"));
  g_signal_connect (check, "notify::active", G_CALLBACK (on_drive_included), self);
  /* Prefixes go before those already there: the icon first, so that the check box comes first. */
  icon = gtk_image_new_from_icon_name (cdrom ? "drive-optical-symbolic" : "drive-harddisk-symbolic");
  if (!boots)
    gtk_widget_add_css_class (icon, "dim-label");
  adw_action_row_add_prefix (ADW_ACTION_ROW (row), icon);
  adw_action_row_add_prefix (ADW_ACTION_ROW (row), check);
  adw_action_row_set_activatable_widget (ADW_ACTION_ROW (row), check);

  /* Translators: what a screen reader says for the move buttons; %s is the drive's name ("disk.img"). */
  up_label = g_strdup_printf (_ ("Move %s up"), name);
  down_label = g_strdup_printf (_ ("Move %s down"), name);
  up = move_button ("go-up-symbolic", _ ("Boot earlier"), up_label, position > 0, G_CALLBACK (on_drive_up),
                    self);
  down = move_button ("go-down-symbolic", _ ("Boot later"), down_label, position + 1 < n_boot,
                      G_CALLBACK (on_drive_down), self);
  gtk_box_append (GTK_BOX (buttons), up);
  gtk_box_append (GTK_BOX (buttons), down);
  g_object_set_data (G_OBJECT (row), "up-button", up);
  g_object_set_data (G_OBJECT (row), "down-button", down);
  /* Drives that do not boot have no order: they keep their place, without buttons. */
  gtk_widget_set_visible (buttons, boots);
  adw_action_row_add_suffix (ADW_ACTION_ROW (row), buttons);
  if (boots)
    add_drag_and_drop (self, row);
  return row;
}

/* The drive the user moved keeps the keyboard focus in its new row, on the button that moved it, or on the
 * other one when it reached an end: moving a drive with the keyboard is pressing a button again and again. */
static void
refocus_moved (VireoSettingsBoot *self)
{
  g_autofree char *target = g_steal_pointer (&self->moved_target);

  for (guint i = 0; target != NULL && i < self->order_rows->len; i++)
    {
      GtkWidget *row = g_ptr_array_index (self->order_rows, i);
      GtkWidget *same = g_object_get_data (G_OBJECT (row), self->moved_up ? "up-button" : "down-button");
      GtkWidget *other = g_object_get_data (G_OBJECT (row), self->moved_up ? "down-button" : "up-button");

      if (g_strcmp0 (g_object_get_data (G_OBJECT (row), "target"), target) != 0)
        continue;
      if (gtk_widget_get_sensitive (same))
        gtk_widget_grab_focus (same);
      else if (gtk_widget_get_sensitive (other))
        gtk_widget_grab_focus (other);
      return;
    }
}

static void
show_boot_order (VireoSettingsBoot *self, GVariant *disks)
{
  guint n_boot;
  g_autoptr (GArray) drives = drives_in_boot_order (disks, &n_boot);
  gboolean locked = vireo_settings_page_is_locked (PAGE (self));

  for (guint i = 0; i < self->order_rows->len; i++)
    adw_preferences_group_remove (self->order_group, g_ptr_array_index (self->order_rows, i));
  g_ptr_array_set_size (self->order_rows, 0);

  for (guint k = 0; k < drives->len; k++)
    {
      guint index = g_array_index (drives, Drive, k).index;
      g_autoptr (GVariant) disk = g_variant_get_child_value (disks, index);
      GtkWidget *row = drive_row (self, disk, index, k, n_boot);

      gtk_widget_set_sensitive (row, !locked);
      adw_preferences_group_add (self->order_group, row);
      g_ptr_array_add (self->order_rows, row);
    }
  gtk_widget_set_visible (self->no_drives_row, drives->len == 0);
  refocus_moved (self);
}

static void
on_boot_menu_toggled (VireoSettingsBoot *self)
{
  if (!vireo_settings_page_is_syncing (PAGE (self)))
    vireo_settings_page_send (PAGE (self), "boot-menu",
                              g_variant_new_boolean (gtk_switch_get_active (self->boot_menu_switch)));
}

/* ---- the window's calls ---- */

static gboolean
vireo_settings_boot_sync_key (VireoSettingsPage *page, const char *key, GVariant *value)
{
  VireoSettingsBoot *self = VIREO_SETTINGS_BOOT (page);
  const char *text = g_variant_is_of_type (value, G_VARIANT_TYPE_STRING) ? g_variant_get_string (value, NULL)
                                                                         : "";

  if (g_str_equal (key, "boot"))
    {
      gboolean firmware = g_str_equal (text, "disk");

      adw_combo_row_set_selected (self->boot_row, vireo_settings_index_of (boot_values, text));
      gtk_widget_set_visible (GTK_WIDGET (self->kernel_group), !firmware);
      gtk_widget_set_visible (GTK_WIDGET (self->firmware_group), firmware);
      gtk_widget_set_visible (GTK_WIDGET (self->order_group), firmware);
      return TRUE;
    }
  if (g_str_equal (key, "disks") && g_variant_is_of_type (value, G_VARIANT_TYPE ("aa{sv}")))
    {
      show_boot_order (self, value);
      vireo_settings_show_reason (self->order_message, GTK_WIDGET (self->order_group), NULL);
      return TRUE;
    }
  if (g_str_equal (key, "boot-menu") && g_variant_is_of_type (value, G_VARIANT_TYPE_BOOLEAN))
    {
      gtk_switch_set_active (self->boot_menu_switch, g_variant_get_boolean (value));
      vireo_settings_show_reason (self->firmware_message, GTK_WIDGET (self->boot_menu_switch), NULL);
      return TRUE;
    }
  if (g_str_equal (key, "kernel"))
    vireo_settings_set_entry_text (self->kernel_row, text);
  else if (g_str_equal (key, "initrd"))
    vireo_settings_set_entry_text (self->initrd_row, text);
  else if (g_str_equal (key, "cmdline"))
    vireo_settings_set_entry_text (self->cmdline_row, text);
  else
    return FALSE;
  gtk_widget_set_visible (GTK_WIDGET (self->boot_message), FALSE);
  return TRUE;
}

static GtkLabel *
vireo_settings_boot_message_for_key (VireoSettingsPage *page, const char *key, GtkWidget **field)
{
  VireoSettingsBoot *self = VIREO_SETTINGS_BOOT (page);

  if (g_str_equal (key, "kernel"))
    *field = GTK_WIDGET (self->kernel_row);
  else if (g_str_equal (key, "initrd"))
    *field = GTK_WIDGET (self->initrd_row);
  else if (g_str_equal (key, "cmdline"))
    *field = GTK_WIDGET (self->cmdline_row);
  else if (g_str_equal (key, "boot-menu"))
    {
      *field = GTK_WIDGET (self->boot_menu_switch);
      return self->firmware_message;
    }
  else if (g_str_equal (key, "disks"))
    {
      /* Asked first only for a change sent from here: the window asks the sending page first. */
      *field = GTK_WIDGET (self->order_group);
      return self->order_message;
    }
  else
    return NULL;
  return self->boot_message;
}

static void
vireo_settings_boot_update_lock (VireoSettingsPage *page)
{
  VireoSettingsBoot *self = VIREO_SETTINGS_BOOT (page);
  gboolean locked = vireo_settings_page_is_locked (page);

  gtk_widget_set_sensitive (GTK_WIDGET (self->boot_row), !locked);
  gtk_widget_set_sensitive (GTK_WIDGET (self->kernel_row), !locked);
  gtk_widget_set_sensitive (GTK_WIDGET (self->initrd_row), !locked);
  gtk_widget_set_sensitive (GTK_WIDGET (self->cmdline_row), !locked);
  gtk_widget_set_sensitive (GTK_WIDGET (self->boot_menu_row), !locked);
  for (guint i = 0; i < self->order_rows->len; i++)
    gtk_widget_set_sensitive (g_ptr_array_index (self->order_rows, i), !locked);
}

static void
vireo_settings_boot_describe (VireoSettingsPage *page)
{
  describe (VIREO_SETTINGS_BOOT (page));
}

static void
vireo_settings_boot_dispose (GObject *object)
{
  VireoSettingsBoot *self = VIREO_SETTINGS_BOOT (object);

  g_clear_pointer (&self->order_rows, g_ptr_array_unref);
  g_clear_pointer (&self->moved_target, g_free);
  gtk_widget_dispose_template (GTK_WIDGET (object), VIREO_TYPE_SETTINGS_BOOT);
  G_OBJECT_CLASS (vireo_settings_boot_parent_class)->dispose (object);
}

static void
vireo_settings_boot_class_init (VireoSettingsBootClass *klass)
{
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);
  VireoSettingsPageClass *page_class = VIREO_SETTINGS_PAGE_CLASS (klass);

  G_OBJECT_CLASS (klass)->dispose = vireo_settings_boot_dispose;
  page_class->sync_key = vireo_settings_boot_sync_key;
  page_class->message_for_key = vireo_settings_boot_message_for_key;
  page_class->update_lock = vireo_settings_boot_update_lock;
  page_class->describe = vireo_settings_boot_describe;

  gtk_widget_class_set_template_from_resource (widget_class, "/org/vireo/Vireo/vireo-settings-boot.ui");
  gtk_widget_class_bind_template_child (widget_class, VireoSettingsBoot, boot_row);
  gtk_widget_class_bind_template_child (widget_class, VireoSettingsBoot, kernel_group);
  gtk_widget_class_bind_template_child (widget_class, VireoSettingsBoot, kernel_row);
  gtk_widget_class_bind_template_child (widget_class, VireoSettingsBoot, initrd_row);
  gtk_widget_class_bind_template_child (widget_class, VireoSettingsBoot, cmdline_row);
  gtk_widget_class_bind_template_child (widget_class, VireoSettingsBoot, kernel_choose);
  gtk_widget_class_bind_template_child (widget_class, VireoSettingsBoot, initrd_choose);
  gtk_widget_class_bind_template_child (widget_class, VireoSettingsBoot, boot_message);
  gtk_widget_class_bind_template_callback (widget_class, on_boot_selected);
  gtk_widget_class_bind_template_callback (widget_class, on_boot_text_changed);
  gtk_widget_class_bind_template_callback (widget_class, on_boot_text_apply);
  gtk_widget_class_bind_template_child (widget_class, VireoSettingsBoot, firmware_group);
  gtk_widget_class_bind_template_child (widget_class, VireoSettingsBoot, firmware_row);
  gtk_widget_class_bind_template_child (widget_class, VireoSettingsBoot, boot_menu_row);
  gtk_widget_class_bind_template_child (widget_class, VireoSettingsBoot, boot_menu_switch);
  gtk_widget_class_bind_template_child (widget_class, VireoSettingsBoot, firmware_message);
  gtk_widget_class_bind_template_child (widget_class, VireoSettingsBoot, order_group);
  gtk_widget_class_bind_template_child (widget_class, VireoSettingsBoot, no_drives_row);
  gtk_widget_class_bind_template_child (widget_class, VireoSettingsBoot, order_message);
  gtk_widget_class_bind_template_callback (widget_class, on_choose_clicked);
  gtk_widget_class_bind_template_callback (widget_class, on_boot_menu_toggled);
}

static void
vireo_settings_boot_init (VireoSettingsBoot *self)
{
  gtk_widget_init_template (GTK_WIDGET (self));
  self->order_rows = g_ptr_array_new ();
}
