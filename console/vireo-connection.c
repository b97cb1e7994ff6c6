/* vireo-connection.c — a machine's connection window: the display page (VireoDisplay, or a status page
 * saying why there is nothing to show and offering what to do), the serial console page
 * (vireo-serial-console.c), power actions, Checkpoint and Revert, Ctrl+Alt+Del, typing the clipboard, screenshots, zoom, full screen. */
#include "vireo-connection.h"

#include <glib/gi18n.h>
#include <string.h>

#include "display/vireo-display.h"
#include "vireo-checkpoint-calls.h"
#include "vireo-format.h"
#include "vireo-machine-calls.h"
#include "vireo-new-machine.h"
#include "vireo-remote-files.h"
#include "vireo-serial-console.h"
#include "vireo-spinner.h"

struct _VireoConnection
{
  AdwApplicationWindow parent_instance;

  VireoApplication *app;
  VireoHost *host;
  VireoDBusMachine *machine;
  GSettings *settings;
  GCancellable *cancellable;
  char *zoom_mode;  /* "fit", "100", "150", "200" */
  char *last_state; /* the machine's state when the view was last updated */

  /* Template widgets */
  GtkRevealer *header_revealer;
  AdwViewSwitcherTitle *switcher_title;
  GtkToggleButton *pause_button;
  GtkButton *fullscreen_button;
  AdwToastOverlay *toasts;
  AdwViewStack *view_stack;
  GtkStack *display_stack;
  GtkScrolledWindow *display_scroller;
  VireoDisplay *display;
  AdwStatusPage *display_status;
  VireoSpinner *display_spinner;
  GtkWidget *status_start;
  GtkWidget *status_serial;
  GtkWidget *checkpoint_job_box;
  GtkLabel *checkpoint_job_label;
  VireoSerialConsole *serial_console;
  GtkMenuButton *more_button;
  GMenu *media_section;
  GtkFileChooserNative *medium_chooser;
  char *medium_target;   /* the drive the chooser is for */
  char *media_signature; /* what the media section shows */
  char *checkpoint_job;  /* the checkpoint operation last announced */
};

G_DEFINE_FINAL_TYPE (VireoConnection, vireo_connection, ADW_TYPE_APPLICATION_WINDOW)

enum
{
  PROP_0,
  PROP_ZOOM_MODE,
  N_PROPS
};

static GParamSpec *props[N_PROPS];

static void
add_toast (VireoConnection *self, const char *message)
{
  AdwToast *toast;

  /* A call that ends after the window was closed (the call keeps it alive, disposed) has no one to tell. */
  if (self->toasts == NULL)
    return;
  toast = adw_toast_new (message);
  adw_toast_set_timeout (toast, 6);
  adw_toast_overlay_add_toast (self->toasts, toast);
}

static void
report_failure (VireoConnection *self, const char *what, GError *error)
{
  g_autofree char *message = NULL;

  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;
  g_dbus_error_strip_remote_error (error);
  message = g_strdup_printf ("%s: %s", what, error->message);
  add_toast (self, message);
}

static gboolean
machine_has_display (VireoDBusMachine *machine)
{
  GVariant *settings = vireo_dbus_machine_get_settings (machine);
  gboolean display = FALSE;

  if (settings)
    g_variant_lookup (settings, "display", "b", &display);
  return display;
}

/* ---- what the window shows ---- */

static void
show_status (VireoConnection *self, const char *icon, const char *title, const char *description,
             gboolean busy, gboolean offer_start, gboolean offer_serial)
{
  /* The description is markup; the texts here are not (an error may hold "<" or "&"). */
  g_autofree char *markup = description ? g_markup_escape_text (description, -1) : NULL;

  adw_status_page_set_icon_name (self->display_status, icon);
  adw_status_page_set_title (self->display_status, title);
  adw_status_page_set_description (self->display_status, markup);
  gtk_widget_set_visible (GTK_WIDGET (self->display_spinner), busy);
  vireo_spinner_set_spinning (self->display_spinner, busy);
  gtk_widget_set_visible (self->status_start, offer_start);
  gtk_widget_set_visible (self->status_serial, offer_serial);
  gtk_stack_set_visible_child_name (self->display_stack, "status");
}

static void
update_view (VireoConnection *self)
{
  const char *state = vireo_dbus_machine_get_state (self->machine);
  const char *name = vireo_dbus_machine_get_name (self->machine);
  gboolean has_display = machine_has_display (self->machine);
  gboolean state_changed = g_strcmp0 (state, self->last_state) != 0;
  g_autofree char *title = NULL;

  g_free (self->last_state);
  self->last_state = g_strdup (state);

  gtk_window_set_title (GTK_WINDOW (self), name);
  adw_view_switcher_title_set_title (self->switcher_title, name);
  adw_view_switcher_title_set_subtitle (self->switcher_title, vireo_format_state (state));

  if (vireo_state_is_active (state))
    {
      vireo_serial_console_open (self->serial_console);
      if (!has_display)
        {
          show_status (self, "utilities-terminal-symbolic", _ ("No Display"),
                       _ ("This machine has no graphical display. Its serial console shows what it prints."),
                       FALSE, FALSE, TRUE);
          return;
        }
      /* A display that gave up with a reason (e.g. not authorized) is tried again when the machine's
       * state changes, not on every property the service updates. */
      if (vireo_display_get_state (self->display) == VIREO_DISPLAY_DISCONNECTED
          && (!vireo_display_get_error (self->display) || state_changed))
        vireo_display_open_machine (self->display, self->machine, VIREO_STREAM_SOURCE (self->host));
      if (vireo_display_get_state (self->display) == VIREO_DISPLAY_CONNECTED)
        gtk_stack_set_visible_child_name (self->display_stack, "screen");
      else if (vireo_display_get_state (self->display) == VIREO_DISPLAY_DISCONNECTED)
        show_status (self, "dialog-warning-symbolic", _ ("The Display Is Not Available"),
                     vireo_display_get_error (self->display), FALSE, FALSE, TRUE);
      else
        show_status (self, "video-display-symbolic", _ ("Connecting…"), NULL, TRUE, FALSE, FALSE);
      return;
    }

  vireo_display_close (self->display);
  if (g_strcmp0 (state, "starting") == 0 || g_strcmp0 (state, "saving") == 0
      || g_strcmp0 (state, "stopping") == 0)
    {
      title = g_strdup_printf ("%s…", vireo_format_state (state));
      show_status (self, vireo_format_state_icon (state), title, NULL, TRUE, FALSE, FALSE);
    }
  else if (g_strcmp0 (state, "crashed") == 0)
    show_status (self, "dialog-error-symbolic", _ ("The Machine Stopped Unexpectedly"),
                 vireo_dbus_machine_get_last_error (self->machine), FALSE, TRUE, FALSE);
  else if (g_strcmp0 (state, "saved") == 0)
    show_status (self, "document-save-symbolic", _ ("The Machine Is Saved"),
                 _ ("Start it to continue where it was."), FALSE, TRUE, FALSE);
  else
    show_status (self, "system-shutdown-symbolic", _ ("The Machine Is Off"), NULL, FALSE, TRUE, FALSE);
}

static void
update_actions (VireoConnection *self)
{
  const char *state = vireo_dbus_machine_get_state (self->machine);
  gboolean running = g_strcmp0 (state, "running") == 0;
  gboolean paused = g_strcmp0 (state, "paused") == 0;
  gboolean connected = vireo_display_get_state (self->display) == VIREO_DISPLAY_CONNECTED;
  gboolean on_serial = g_strcmp0 (adw_view_stack_get_visible_child_name (self->view_stack), "serial") == 0;

  gtk_widget_action_set_enabled (GTK_WIDGET (self), "win.start", vireo_state_can_start (state));
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "win.shutdown", running);
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "win.turn-off",
                                 vireo_state_is_active (state) || g_strcmp0 (state, "starting") == 0
                                     || g_strcmp0 (state, "stopping") == 0);
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "win.save", running || paused);
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "win.pause-resume", running || paused);
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "win.reset", running);
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "win.ctrl-alt-del", running && connected);
  /* One checkpoint operation at a time per machine: the service refuses a second. */
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "win.checkpoint",
                                 (vireo_state_is_active (state) || vireo_state_can_start (state))
                                     && vireo_checkpoint_job (self->machine) == NULL);
  gtk_widget_action_set_enabled (
      GTK_WIDGET (self), "win.revert",
      (vireo_state_is_active (state) || vireo_state_can_start (state))
          && vireo_checkpoint_job (self->machine) == NULL
          && g_strcmp0 (vireo_dbus_machine_get_current_checkpoint (self->machine), "/") != 0
          && vireo_dbus_machine_get_current_checkpoint (self->machine) != NULL);
  gtk_widget_action_set_enabled (
      GTK_WIDGET (self), "win.type-clipboard",
      running && (on_serial ? vireo_serial_console_is_open (self->serial_console) : connected));
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "win.screenshot", connected);
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "win.release-keyboard",
                                 vireo_display_get_keyboard_grabbed (self->display));

  /* The toggle shows the machine's state, not the last click. */
  g_signal_handlers_block_matched (self->pause_button, G_SIGNAL_MATCH_DATA, 0, 0, NULL, NULL, self);
  gtk_toggle_button_set_active (self->pause_button, paused);
  gtk_widget_set_tooltip_text (GTK_WIDGET (self->pause_button), paused ? _ ("Resume") : _ ("Pause"));
  g_signal_handlers_unblock_matched (self->pause_button, G_SIGNAL_MATCH_DATA, 0, 0, NULL, NULL, self);
}

/* The machine's properties the window shows or acts on. */
static const char *const shown_properties[] = { "notify::state", "notify::name", "notify::settings",
                                                "notify::current-checkpoint" };

/* ---- the CD/DVD drives' media ---- */

/* One section of the menu: per CD/DVD drive, Choose Medium… and Eject (naming the drive when there are several
 * and the medium when there is one). */
static void
update_media_menu (VireoConnection *self)
{
  GVariant *settings = vireo_dbus_machine_get_settings (self->machine);
  g_autoptr (GVariant) disks = settings
                                   ? g_variant_lookup_value (settings, "disks", G_VARIANT_TYPE ("aa{sv}"))
                                   : NULL;
  g_autoptr (GMenu) section = g_menu_new ();
  g_autoptr (GString) signature = g_string_new (NULL);
  guint drives = 0;

  for (gsize i = 0; disks != NULL && i < g_variant_n_children (disks); i++)
    {
      g_autoptr (GVariant) disk = g_variant_get_child_value (disks, i);
      const char *device = NULL;

      if (g_variant_lookup (disk, "device", "&s", &device) && g_str_equal (device, "cdrom"))
        drives++;
    }
  for (gsize i = 0; disks != NULL && i < g_variant_n_children (disks); i++)
    {
      g_autoptr (GVariant) disk = g_variant_get_child_value (disks, i);
      const char *device = NULL;
      const char *target = NULL;
      const char *path = "";
      g_autofree char *choose = NULL;
      g_autofree char *eject = NULL;
      g_autofree char *medium = NULL;
      g_autoptr (GMenuItem) choose_item = NULL;
      g_autoptr (GMenuItem) eject_item = NULL;

      if (!g_variant_lookup (disk, "device", "&s", &device) || !g_str_equal (device, "cdrom")
          || !g_variant_lookup (disk, "target", "&s", &target))
        continue;
      g_variant_lookup (disk, "path", "&s", &path);
      if (*path != '\0')
        medium = g_filename_display_basename (path);
      if (drives > 1)
        {
          /* Translators: %s names a CD/DVD drive, e.g. "sda". */
          choose = g_strdup_printf (_ ("Choose CD/DVD Medium (%s)…"), target);
          eject = medium ? g_strdup_printf (_ ("Eject “%s” (%s)"), medium, target)
                         : g_strdup_printf (_ ("Eject CD/DVD (%s)"), target);
        }
      else
        {
          choose = g_strdup (_ ("Choose CD/DVD _Medium…"));
          /* Translators: %s is the file in the CD/DVD drive, e.g. "debian-12.iso". */
          eject = medium ? g_strdup_printf (_ ("_Eject “%s”"), medium) : g_strdup (_ ("_Eject CD/DVD"));
        }
      choose_item = g_menu_item_new (choose, NULL);
      g_menu_item_set_action_and_target (choose_item, "win.choose-medium", "s", target);
      g_menu_append_item (section, choose_item);
      /* An empty drive's Eject stays in the menu, insensitive: the drive is there, with nothing in it. */
      eject_item = g_menu_item_new (eject, NULL);
      g_menu_item_set_action_and_target (eject_item, medium ? "win.eject" : "win.eject-nothing", "s", target);
      g_menu_append_item (section, eject_item);
      g_string_append_printf (signature, "%s\n%s\n%s\n", target, choose, eject);
    }

  /* Only a real change touches the menu: rebuilding it (on every state or settings change otherwise) makes
   * GTK rebuild the popover, which loses the display's keyboard grab. */
  if (g_str_equal (signature->str, self->media_signature ? self->media_signature : ""))
    return;
  g_free (self->media_signature);
  self->media_signature = g_strdup (signature->str);
  g_menu_remove_all (self->media_section);
  for (int i = 0; i < g_menu_model_get_n_items (G_MENU_MODEL (section)); i++)
    {
      g_autoptr (GMenuItem) item = g_menu_item_new_from_model (G_MENU_MODEL (section), i);
      g_menu_append_item (self->media_section, item);
    }
}

static void
on_machine_changed (VireoConnection *self)
{
  update_view (self);
  update_actions (self);
  update_media_menu (self);
}

static void
on_display_changed (VireoConnection *self)
{
  update_view (self);
  update_actions (self);
}

/* ---- actions ---- */

static void
on_call_failed (GtkWidget *window, const char *message)
{
  add_toast (VIREO_CONNECTION (window), message);
}

static void
on_medium_chosen (GtkNativeDialog *dialog, int response, VireoConnection *self)
{
  g_autoptr (GFile) file = NULL;
  g_autofree char *path = NULL;

  if (response == GTK_RESPONSE_ACCEPT)
    file = gtk_file_chooser_get_file (GTK_FILE_CHOOSER (dialog));
  path = file ? g_file_get_path (file) : NULL;
  if (path != NULL && self->medium_target != NULL)
    vireo_machine_call_change_medium (self->machine, self->medium_target, path, GTK_WIDGET (self),
                                      on_call_failed);
  g_clear_object (&self->medium_chooser);
  g_clear_pointer (&self->medium_target, g_free);
}

/* A remote host's medium: a path typed for that host (vireo-remote-files.c). */
typedef struct
{
  VireoConnection *window;
  char *target;
} RemoteMedium;

static gpointer
remote_medium_new (VireoConnection *self, const char *target)
{
  RemoteMedium *medium = g_new0 (RemoteMedium, 1);

  medium->window = g_object_ref (self);
  medium->target = g_strdup (target);
  return medium;
}

static void
remote_medium_free (gpointer data)
{
  RemoteMedium *medium = data;

  g_object_unref (medium->window);
  g_free (medium->target);
  g_free (medium);
}

static void
on_remote_medium (const char *path, gpointer data)
{
  RemoteMedium *medium = data;

  vireo_machine_call_change_medium (medium->window->machine, medium->target, path,
                                    GTK_WIDGET (medium->window), on_call_failed);
}

static void
choose_medium_activated (GtkWidget *widget, const char *action, GVariant *parameter)
{
  VireoConnection *self = VIREO_CONNECTION (widget);

  if (self->medium_chooser != NULL)
    return;
  if (vireo_host_files_are_remote (self->host))
    {
      vireo_remote_path_ask (
          GTK_WINDOW (self), self->host, _ ("Choose the CD/DVD Medium"), NULL, on_remote_medium,
          remote_medium_new (self, g_variant_get_string (parameter, NULL)), remote_medium_free);
      return;
    }
  self->medium_target = g_variant_dup_string (parameter, NULL);
  self->medium_chooser = vireo_file_chooser_new (GTK_WINDOW (self), _ ("Choose the CD/DVD Medium"),
                                                 VIREO_FILES_ISO, NULL);
  g_signal_connect (self->medium_chooser, "response", G_CALLBACK (on_medium_chosen), self);
  gtk_native_dialog_show (GTK_NATIVE_DIALOG (self->medium_chooser));
}

static void
eject_activated (GtkWidget *widget, const char *action, GVariant *parameter)
{
  VireoConnection *self = VIREO_CONNECTION (widget);

  vireo_machine_call_change_medium (self->machine, g_variant_get_string (parameter, NULL), "", widget,
                                    on_call_failed);
}

static void
power_activated (GtkWidget *widget, const char *action, GVariant *parameter)
{
  VireoConnection *self = VIREO_CONNECTION (widget);
  const char *state = vireo_dbus_machine_get_state (self->machine);

  if (g_str_equal (action, "win.pause-resume"))
    {
      vireo_machine_call_verb (self->machine, g_strcmp0 (state, "paused") == 0 ? "resume" : "pause", widget,
                               on_call_failed);
      update_actions (self);
    }
  else
    vireo_machine_call_verb (self->machine, action + strlen ("win."), widget, on_call_failed);
}

/* A checkpoint operation on this machine began (from here or the manager): the window says so, since the
 * machine may pause or restart meanwhile. */
static void
on_checkpoint_jobs_changed (VireoConnection *self)
{
  const char *job = vireo_checkpoint_job (self->machine);

  if (g_strcmp0 (job, self->checkpoint_job) == 0)
    return;
  /* Shown beside the checkpoint buttons for as long as the operation lasts.  Not a toast: libadwaita 1.2
   * crashes when a toast is dismissed while it is still appearing, as a quick checkpoint would. */
  gtk_label_set_text (self->checkpoint_job_label, job != NULL ? job : "");
  gtk_widget_set_visible (self->checkpoint_job_box, job != NULL);
  g_free (self->checkpoint_job);
  self->checkpoint_job = g_strdup (job);
  update_actions (self);
}

static void
checkpoint_activated (GtkWidget *widget, const char *action, GVariant *parameter)
{
  VireoConnection *self = VIREO_CONNECTION (widget);

  vireo_checkpoint_create (widget, self->machine, on_call_failed);
}

/* Revert: back to the checkpoint "Now" derives from, after Hyper-V's question. */
static void
revert_activated (GtkWidget *widget, const char *action, GVariant *parameter)
{
  VireoConnection *self = VIREO_CONNECTION (widget);

  vireo_checkpoint_revert (widget, self->host, self->machine, on_call_failed);
}

static void
ctrl_alt_del_activated (GtkWidget *widget, const char *action, GVariant *parameter)
{
  VireoConnection *self = VIREO_CONNECTION (widget);

  vireo_display_send_ctrl_alt_del (self->display);
}

static void
on_clipboard_text (GObject *source, GAsyncResult *result, gpointer data)
{
  g_autoptr (VireoConnection) self = data;
  g_autoptr (GError) error = NULL;
  g_autofree char *text = gdk_clipboard_read_text_finish (GDK_CLIPBOARD (source), result, &error);
  guint skipped;

  if (!text)
    {
      add_toast (self, error ? error->message : _ ("The clipboard holds no text"));
      return;
    }
  if (g_strcmp0 (adw_view_stack_get_visible_child_name (self->view_stack), "serial") == 0)
    {
      vireo_serial_console_send (self->serial_console, text, strlen (text));
      return;
    }
  skipped = vireo_display_type_text (self->display, text);
  if (skipped)
    {
      g_autofree char *message = g_strdup_printf (
          g_dngettext (GETTEXT_PACKAGE, "%u character has no key on the machine’s keyboard and was not typed",
                       "%u characters have no key on the machine’s keyboard and were not typed", skipped),
          skipped);
      add_toast (self, message);
    }
}

static void
type_clipboard_activated (GtkWidget *widget, const char *action, GVariant *parameter)
{
  GdkClipboard *clipboard = gtk_widget_get_clipboard (widget);

  gdk_clipboard_read_text_async (clipboard, NULL, on_clipboard_text, g_object_ref (widget));
}

static void
on_screenshot_written (GObject *source, GAsyncResult *result, gpointer data)
{
  g_autoptr (VireoConnection) self = data;
  g_autoptr (GError) error = NULL;

  if (!g_file_replace_contents_finish (G_FILE (source), result, NULL, &error))
    report_failure (self, _ ("Could not save the screenshot"), error);
  else
    {
      g_autofree char *name = g_file_get_basename (G_FILE (source));
      g_autofree char *message = g_strdup_printf (_ ("Screenshot saved as %s"), name);
      add_toast (self, message);
    }
}

static void
on_screenshot_chosen (GtkNativeDialog *chooser, int response, VireoConnection *self)
{
  GBytes *png = g_object_get_data (G_OBJECT (chooser), "vireo-png");

  if (response == GTK_RESPONSE_ACCEPT)
    {
      g_autoptr (GFile) file = gtk_file_chooser_get_file (GTK_FILE_CHOOSER (chooser));
      /* Written to a temporary file and renamed over the target. */
      g_file_replace_contents_bytes_async (file, png, NULL, FALSE, G_FILE_CREATE_REPLACE_DESTINATION,
                                           self->cancellable, on_screenshot_written, g_object_ref (self));
    }
  g_object_unref (chooser);
}

static void
screenshot_activated (GtkWidget *widget, const char *action, GVariant *parameter)
{
  VireoConnection *self = VIREO_CONNECTION (widget);
  g_autoptr (GdkTexture) texture = vireo_display_get_screenshot (self->display);
  g_autoptr (GDateTime) now = g_date_time_new_now_local ();
  g_autofree char *stamp = g_date_time_format (now, "%Y-%m-%d %H-%M-%S");
  g_autofree char *name = NULL;
  GtkFileChooserNative *chooser;
  const char *pictures = g_get_user_special_dir (G_USER_DIRECTORY_PICTURES);

  if (!texture)
    return;
  /* Taken now: what the user saw when they asked, not what is there after the dialog. */
  name = g_strdup_printf ("%s %s.png", vireo_dbus_machine_get_name (self->machine), stamp);
  g_strdelimit (name, "/", '-');
  chooser = gtk_file_chooser_native_new (_ ("Save Screenshot"), GTK_WINDOW (self),
                                         GTK_FILE_CHOOSER_ACTION_SAVE, _ ("_Save"), _ ("_Cancel"));
  gtk_native_dialog_set_modal (GTK_NATIVE_DIALOG (chooser), TRUE);
  gtk_file_chooser_set_current_name (GTK_FILE_CHOOSER (chooser), name);
  if (pictures)
    {
      g_autoptr (GFile) folder = g_file_new_for_path (pictures);
      gtk_file_chooser_set_current_folder (GTK_FILE_CHOOSER (chooser), folder, NULL);
    }
  g_object_set_data_full (G_OBJECT (chooser), "vireo-png", gdk_texture_save_to_png_bytes (texture),
                          (GDestroyNotify) g_bytes_unref);
  g_signal_connect (chooser, "response", G_CALLBACK (on_screenshot_chosen), self);
  gtk_native_dialog_show (GTK_NATIVE_DIALOG (chooser));
}

static void
release_keyboard_activated (GtkWidget *widget, const char *action, GVariant *parameter)
{
  vireo_display_release_keyboard (VIREO_CONNECTION (widget)->display);
}

static void
show_serial_activated (GtkWidget *widget, const char *action, GVariant *parameter)
{
  VireoConnection *self = VIREO_CONNECTION (widget);

  adw_view_stack_set_visible_child_name (self->view_stack, "serial");
  gtk_widget_grab_focus (GTK_WIDGET (self->serial_console));
}

static void
fullscreen_activated (GtkWidget *widget, const char *action, GVariant *parameter)
{
  GtkWindow *window = GTK_WINDOW (widget);

  if (gtk_window_is_fullscreen (window))
    gtk_window_unfullscreen (window);
  else
    gtk_window_fullscreen (window);
}

/* In full screen the header bar hides and slides back in when the pointer touches the top edge. */
static void
on_fullscreen_changed (VireoConnection *self)
{
  gboolean fullscreen = gtk_window_is_fullscreen (GTK_WINDOW (self));

  gtk_revealer_set_reveal_child (self->header_revealer, !fullscreen);
  gtk_button_set_icon_name (self->fullscreen_button,
                            fullscreen ? "view-restore-symbolic" : "view-fullscreen-symbolic");
  gtk_widget_set_tooltip_text (GTK_WIDGET (self->fullscreen_button),
                               fullscreen ? _ ("Leave Full Screen") : _ ("Full Screen"));
}

static void
on_pointer_motion (GtkEventControllerMotion *motion, double x, double y, VireoConnection *self)
{
  int header_height;

  if (!gtk_window_is_fullscreen (GTK_WINDOW (self)))
    return;
  header_height = gtk_widget_get_height (GTK_WIDGET (self->header_revealer));
  if (y <= 4)
    gtk_revealer_set_reveal_child (self->header_revealer, TRUE);
  else if (gtk_revealer_get_child_revealed (self->header_revealer) && y > MAX (header_height, 48) + 24)
    gtk_revealer_set_reveal_child (self->header_revealer, FALSE);
}

static void
apply_zoom (VireoConnection *self)
{
  gboolean fit = g_strcmp0 (self->zoom_mode, "fit") == 0;

  vireo_display_set_scale_to_fit (self->display, fit);
  if (!fit)
    vireo_display_set_zoom (self->display, g_ascii_strtod (self->zoom_mode, NULL) / 100.0);
  gtk_scrolled_window_set_policy (self->display_scroller, fit ? GTK_POLICY_NEVER : GTK_POLICY_AUTOMATIC,
                                  fit ? GTK_POLICY_NEVER : GTK_POLICY_AUTOMATIC);
  if (self->settings)
    g_settings_set_boolean (self->settings, "scale-to-fit", fit);
}

static void
on_view_changed (VireoConnection *self)
{
  update_actions (self);
  if (g_strcmp0 (adw_view_stack_get_visible_child_name (self->view_stack), "serial") == 0)
    gtk_widget_grab_focus (GTK_WIDGET (self->serial_console));
}

/* ---- object ---- */

/* Once the machine is known: restore the window's size and zoom and follow the machine. */
static void
attach_machine (VireoConnection *self)
{
  self->settings = vireo_application_get_settings ();
  if (self->settings)
    {
      gtk_window_set_default_size (GTK_WINDOW (self),
                                   g_settings_get_int (self->settings, "connection-window-width"),
                                   g_settings_get_int (self->settings, "connection-window-height"));
      g_free (self->zoom_mode);
      self->zoom_mode = g_strdup (g_settings_get_boolean (self->settings, "scale-to-fit") ? "fit" : "100");
    }
  apply_zoom (self);

  /* Only what the window shows: the service updates uptime and CPU use every second, and redrawing the
   * window for them would cost a frame a second — on a software renderer, long enough to hold up the
   * idle callbacks the SPICE client sends keys and pointer moves from. */
  for (gsize i = 0; i < G_N_ELEMENTS (shown_properties); i++)
    g_signal_connect_object (self->machine, shown_properties[i], G_CALLBACK (on_machine_changed), self,
                             G_CONNECT_SWAPPED);
  vireo_checkpoint_jobs_watch (G_OBJECT (self), G_CALLBACK (on_checkpoint_jobs_changed));
  /* A machine without a display opens on its serial console. */
  if (!machine_has_display (self->machine))
    adw_view_stack_set_visible_child_name (self->view_stack, "serial");
  on_machine_changed (self);
}

static gboolean
vireo_connection_close_request (GtkWindow *window)
{
  VireoConnection *self = VIREO_CONNECTION (window);

  if (self->settings && !gtk_window_is_fullscreen (window) && !gtk_window_is_maximized (window))
    {
      int width, height;

      gtk_window_get_default_size (window, &width, &height);
      g_settings_set_int (self->settings, "connection-window-width", width);
      g_settings_set_int (self->settings, "connection-window-height", height);
    }
  return GTK_WINDOW_CLASS (vireo_connection_parent_class)->close_request (window);
}

static void
vireo_connection_dispose (GObject *object)
{
  VireoConnection *self = VIREO_CONNECTION (object);

  g_cancellable_cancel (self->cancellable);
  vireo_checkpoint_jobs_unwatch (object);
  if (self->medium_chooser != NULL)
    gtk_native_dialog_destroy (GTK_NATIVE_DIALOG (self->medium_chooser));
  g_clear_object (&self->medium_chooser);
  if (self->display)
    vireo_display_close (self->display);
  gtk_widget_dispose_template (GTK_WIDGET (self), VIREO_TYPE_CONNECTION);
  g_clear_object (&self->machine);
  g_clear_object (&self->host);
  g_clear_object (&self->settings);
  g_clear_object (&self->cancellable);

  G_OBJECT_CLASS (vireo_connection_parent_class)->dispose (object);
}

static void
vireo_connection_finalize (GObject *object)
{
  g_free (VIREO_CONNECTION (object)->zoom_mode);
  g_free (VIREO_CONNECTION (object)->last_state);
  g_free (VIREO_CONNECTION (object)->medium_target);
  g_free (VIREO_CONNECTION (object)->media_signature);
  g_free (VIREO_CONNECTION (object)->checkpoint_job);
  G_OBJECT_CLASS (vireo_connection_parent_class)->finalize (object);
}

static void
vireo_connection_get_property (GObject *object, guint prop_id, GValue *value, GParamSpec *pspec)
{
  VireoConnection *self = VIREO_CONNECTION (object);

  switch (prop_id)
    {
    case PROP_ZOOM_MODE:
      g_value_set_string (value, self->zoom_mode);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
vireo_connection_set_property (GObject *object, guint prop_id, const GValue *value, GParamSpec *pspec)
{
  VireoConnection *self = VIREO_CONNECTION (object);
  const char *mode;

  switch (prop_id)
    {
    case PROP_ZOOM_MODE:
      mode = g_value_get_string (value);
      if (g_strcmp0 (mode, "fit") != 0 && g_ascii_strtod (mode ? mode : "0", NULL) < 25)
        return;
      g_free (self->zoom_mode);
      self->zoom_mode = g_strdup (mode);
      apply_zoom (self);
      g_object_notify_by_pspec (object, pspec);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
vireo_connection_class_init (VireoConnectionClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);
  static const char *const power_actions[] = {
    "win.start", "win.shutdown", "win.turn-off", "win.save", "win.reset", "win.pause-resume",
  };

  object_class->dispose = vireo_connection_dispose;
  object_class->finalize = vireo_connection_finalize;
  object_class->get_property = vireo_connection_get_property;
  object_class->set_property = vireo_connection_set_property;
  GTK_WINDOW_CLASS (klass)->close_request = vireo_connection_close_request;

  props[PROP_ZOOM_MODE] = g_param_spec_string (
      "zoom-mode", NULL, NULL, "fit", G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, props);

  g_type_ensure (VIREO_TYPE_DISPLAY);
  g_type_ensure (VIREO_TYPE_SPINNER);
  g_type_ensure (VIREO_TYPE_SERIAL_CONSOLE);
  gtk_widget_class_set_template_from_resource (widget_class, "/org/vireo/Vireo/vireo-connection.ui");
  gtk_widget_class_bind_template_child (widget_class, VireoConnection, header_revealer);
  gtk_widget_class_bind_template_child (widget_class, VireoConnection, switcher_title);
  gtk_widget_class_bind_template_child (widget_class, VireoConnection, pause_button);
  gtk_widget_class_bind_template_child (widget_class, VireoConnection, fullscreen_button);
  gtk_widget_class_bind_template_child (widget_class, VireoConnection, toasts);
  gtk_widget_class_bind_template_child (widget_class, VireoConnection, view_stack);
  gtk_widget_class_bind_template_child (widget_class, VireoConnection, display_stack);
  gtk_widget_class_bind_template_child (widget_class, VireoConnection, display_scroller);
  gtk_widget_class_bind_template_child (widget_class, VireoConnection, display);
  gtk_widget_class_bind_template_child (widget_class, VireoConnection, display_status);
  gtk_widget_class_bind_template_child (widget_class, VireoConnection, display_spinner);
  gtk_widget_class_bind_template_child (widget_class, VireoConnection, status_start);
  gtk_widget_class_bind_template_child (widget_class, VireoConnection, status_serial);
  gtk_widget_class_bind_template_child (widget_class, VireoConnection, checkpoint_job_box);
  gtk_widget_class_bind_template_child (widget_class, VireoConnection, checkpoint_job_label);
  gtk_widget_class_bind_template_child (widget_class, VireoConnection, serial_console);
  gtk_widget_class_bind_template_child (widget_class, VireoConnection, more_button);
  gtk_widget_class_bind_template_child (widget_class, VireoConnection, media_section);

  for (gsize i = 0; i < G_N_ELEMENTS (power_actions); i++)
    gtk_widget_class_install_action (widget_class, power_actions[i], NULL, power_activated);
  gtk_widget_class_install_action (widget_class, "win.ctrl-alt-del", NULL, ctrl_alt_del_activated);
  gtk_widget_class_install_action (widget_class, "win.checkpoint", NULL, checkpoint_activated);
  gtk_widget_class_install_action (widget_class, "win.revert", NULL, revert_activated);
  gtk_widget_class_install_action (widget_class, "win.type-clipboard", NULL, type_clipboard_activated);
  gtk_widget_class_install_action (widget_class, "win.screenshot", NULL, screenshot_activated);
  gtk_widget_class_install_action (widget_class, "win.release-keyboard", NULL, release_keyboard_activated);
  gtk_widget_class_install_action (widget_class, "win.show-serial", NULL, show_serial_activated);
  gtk_widget_class_install_action (widget_class, "win.fullscreen", NULL, fullscreen_activated);
  gtk_widget_class_install_action (widget_class, "win.choose-medium", "s", choose_medium_activated);
  gtk_widget_class_install_action (widget_class, "win.eject", "s", eject_activated);
  /* Stands for Eject on an empty drive: never enabled. */
  gtk_widget_class_install_action (widget_class, "win.eject-nothing", "s", eject_activated);
  gtk_widget_class_install_property_action (widget_class, "win.zoom", "zoom-mode");
  /* Only reached while the keyboard is not the guest's: a grabbed display takes every key first. */
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_F11, 0, "win.fullscreen", NULL);
  /* VMConnect's keys for Checkpoint and Revert. */
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_n, GDK_CONTROL_MASK, "win.checkpoint", NULL);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_r, GDK_CONTROL_MASK, "win.revert", NULL);
}

static void
vireo_connection_init (VireoConnection *self)
{
  GtkEventController *motion;

  /* The zoom action's state is read while the template is built. */
  self->zoom_mode = g_strdup ("fit");
  gtk_widget_init_template (GTK_WIDGET (self));

  self->cancellable = g_cancellable_new ();
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "win.eject-nothing", FALSE);
  g_signal_connect_swapped (self->display, "notify::state", G_CALLBACK (on_display_changed), self);
  g_signal_connect_swapped (self->display, "notify::keyboard-grabbed", G_CALLBACK (update_actions), self);
  g_signal_connect_swapped (self->view_stack, "notify::visible-child-name", G_CALLBACK (on_view_changed),
                            self);
  g_signal_connect_swapped (self, "notify::fullscreened", G_CALLBACK (on_fullscreen_changed), self);

  motion = gtk_event_controller_motion_new ();
  gtk_event_controller_set_propagation_phase (motion, GTK_PHASE_CAPTURE);
  g_signal_connect (motion, "motion", G_CALLBACK (on_pointer_motion), self);
  gtk_widget_add_controller (GTK_WIDGET (self), motion);
}

VireoConnection *
vireo_connection_new (VireoApplication *app, VireoHost *host, VireoDBusMachine *machine)
{
  VireoConnection *self;

  g_return_val_if_fail (VIREO_IS_HOST (host), NULL);
  g_return_val_if_fail (VIREO_DBUS_IS_MACHINE (machine), NULL);

  self = g_object_new (VIREO_TYPE_CONNECTION, "application", app, NULL);
  self->app = app;
  /* The host opens the display's and the serial console's streams: over ssh when it is remote. */
  self->host = g_object_ref (host);
  self->machine = g_object_ref (machine);
  vireo_serial_console_set_machine (self->serial_console, host, machine);
  attach_machine (self);
  update_media_menu (self);
  return self;
}

void
vireo_connection_change_medium (VireoConnection *self, const char *target, const char *path)
{
  g_return_if_fail (VIREO_IS_CONNECTION (self));

  vireo_machine_call_change_medium (self->machine, target, path, GTK_WIDGET (self), on_call_failed);
}

GMenuModel *
vireo_connection_get_media_menu (VireoConnection *self)
{
  g_return_val_if_fail (VIREO_IS_CONNECTION (self), NULL);
  return G_MENU_MODEL (self->media_section);
}

GtkWidget *
vireo_connection_get_more_button (VireoConnection *self)
{
  g_return_val_if_fail (VIREO_IS_CONNECTION (self), NULL);
  return GTK_WIDGET (self->more_button);
}

VireoDBusMachine *
vireo_connection_get_machine (VireoConnection *self)
{
  g_return_val_if_fail (VIREO_IS_CONNECTION (self), NULL);
  return self->machine;
}

GtkWidget *
vireo_connection_get_display (VireoConnection *self)
{
  g_return_val_if_fail (VIREO_IS_CONNECTION (self), NULL);
  return GTK_WIDGET (self->display);
}
