/* vireo-new-machine.c — the New Machine wizard: five pages (boot source, name and location, memory and
 * processors, network and display, summary) that validate as the user types and block Next/Create with the
 * reason in view (vireo-new-machine-checks.c; the checks are vireo-checks.c), then Manager.CreateMachine
 * (vireo-new-machine-create.c).  An installation ISO is recognised with libosinfo (vireo-media.c), which
 * suggests the name, memory and disk size; such a machine gets a new disk (Machine.CreateDisk) and a SATA
 * CD-ROM holding the ISO.  Also the file dialog the settings window shares with it. */
#include "vireo-new-machine-private.h"

#include <glib/gi18n.h>
#include <string.h>

#include "vireo-format.h"
#include "vireo-media.h"
#include "vireo-remote-files.h"

G_DEFINE_FINAL_TYPE (VireoNewMachine, vireo_new_machine, ADW_TYPE_WINDOW)

enum
{
  SIGNAL_CREATED,
  N_SIGNALS
};

static guint signals[N_SIGNALS];

void
vireo_new_machine_emit_created (VireoNewMachine *self, const char *path)
{
  g_signal_emit (self, signals[SIGNAL_CREATED], 0, path, gtk_check_button_get_active (self->connect_check));
}

/* ---- the file dialog the settings window shares ---- */

GtkFileChooserNative *
vireo_file_chooser_new (GtkWindow *parent, const char *title, VireoFiles files, const char *near)
{
  GtkFileChooserNative *chooser = gtk_file_chooser_native_new (title, parent, GTK_FILE_CHOOSER_ACTION_OPEN,
                                                               _ ("_Open"), _ ("_Cancel"));
  g_autoptr (GtkFileFilter) all = gtk_file_filter_new ();

  gtk_native_dialog_set_modal (GTK_NATIVE_DIALOG (chooser), TRUE);
  if (files == VIREO_FILES_ISO)
    {
      g_autoptr (GtkFileFilter) filter = gtk_file_filter_new ();

      gtk_file_filter_set_name (filter, _ ("ISO images"));
      gtk_file_filter_add_mime_type (filter, "application/x-cd-image");
      gtk_file_filter_add_pattern (filter, "*.iso");
      gtk_file_filter_add_pattern (filter, "*.ISO");
      gtk_file_chooser_add_filter (GTK_FILE_CHOOSER (chooser), filter);
    }
  else if (files == VIREO_FILES_IMAGES)
    {
      g_autoptr (GtkFileFilter) filter = gtk_file_filter_new ();

      gtk_file_filter_set_name (filter, _ ("Disk images"));
      gtk_file_filter_add_pattern (filter, "*.img");
      gtk_file_filter_add_pattern (filter, "*.raw");
      gtk_file_filter_add_pattern (filter, "*.qcow2");
      gtk_file_filter_add_pattern (filter, "*.qcow");
      gtk_file_chooser_add_filter (GTK_FILE_CHOOSER (chooser), filter);
    }
  gtk_file_filter_set_name (all, _ ("All files"));
  gtk_file_filter_add_pattern (all, "*");
  gtk_file_chooser_add_filter (GTK_FILE_CHOOSER (chooser), all);

  /* Start where the current choice is, so that a kernel's initrd is a click away. */
  if (near != NULL && g_path_is_absolute (near))
    {
      g_autofree char *folder = g_path_get_dirname (near);
      g_autoptr (GFile) file = g_file_new_for_path (folder);
      gtk_file_chooser_set_current_folder (GTK_FILE_CHOOSER (chooser), file, NULL);
    }
  return chooser;
}

static void
on_input_changed (VireoNewMachine *self)
{
  vireo_new_machine_update_buttons (self);
}

/* ---- the host's facts ---- */

static void
apply_host_facts (VireoNewMachine *self)
{
  VireoDBusManager *manager = vireo_host_get_manager (self->host);
  guint64 host_mib = manager ? vireo_dbus_manager_get_host_memory_mib (manager) : 0;
  guint host_cpus = manager ? vireo_dbus_manager_get_host_cpus (manager) : 0;
  const char *location = manager ? vireo_dbus_manager_get_storage_location (manager) : NULL;
  g_autofree char *facts = NULL;
  g_autofree char *range = NULL;

  adw_preferences_row_set_title (ADW_PREFERENCES_ROW (self->host_row), vireo_host_get_title (self->host));
  adw_action_row_set_subtitle (self->host_row,
                               vireo_host_get_kind (self->host) == VIREO_HOST_SESSION
                                   ? _ ("Your own machines, run by your session’s Vireo service")
                                   : _ ("Machines of the whole computer, run by the system’s "
                                        "Vireo service"));
  adw_action_row_set_subtitle (self->location_row,
                               location && *location ? location : _ ("Unknown: the service is not running"));

  facts = vireo_describe_host (manager);
  if (facts != NULL)
    adw_preferences_group_set_description (self->resources_group, facts);
  vireo_set_resource_ranges (manager, self->memory_adjustment, self->vcpus_adjustment);
  range = g_strdup_printf (_ ("1 to %u"), (guint) gtk_adjustment_get_upper (self->vcpus_adjustment));
  adw_action_row_set_subtitle (self->vcpus_row, range);

  /* Defaults once, so that a service restart does not undo what the user chose. */
  if (manager && !self->defaults_applied)
    {
      guint64 mib = VIREO_DEFAULT_MEMORY_MIB;

      /* A quarter of a small host, in steps of 32 MiB, but never below the service's minimum. */
      if (host_mib > 0 && host_mib / 4 < mib)
        mib = MAX (VIREO_MEMORY_MIB_MIN, host_mib / 4 / 32 * 32);
      gtk_spin_button_set_value (self->memory_spin, (double) mib);
      gtk_spin_button_set_value (self->vcpus_spin, host_cpus >= 4 ? 2 : 1);
      self->defaults_applied = TRUE;
    }
  vireo_new_machine_update_buttons (self);
}

/* ---- the installation medium ---- */

/* A name for a machine running @base that no other machine of the host has: "Debian 11", "Debian 11 (2)". */
static char *
unique_name (VireoNewMachine *self, const char *base)
{
  for (guint n = 1; n < 100; n++)
    {
      g_autofree char *candidate = n == 1 ? g_strdup (base) : g_strdup_printf ("%s (%u)", base, n);
      g_autofree char *reason = vireo_check_machine_name (self->host, candidate, NULL);

      if (reason == NULL)
        return g_steal_pointer (&candidate);
    }
  return g_strdup (base);
}

/* The memory libosinfo suggests, within what this host can give: at most half of it (more is what the
 * resources page warns about), in steps of 32 MiB. */
static guint64
suggested_memory_mib (VireoNewMachine *self, guint64 mib)
{
  guint64 host_mib = host_memory_mib (self);

  if (host_mib > 0 && mib > host_mib / 2)
    mib = host_mib / 2;
  return MAX (VIREO_MEMORY_MIB_MIN, mib / 32 * 32);
}

static void
show_media (VireoNewMachine *self)
{
  g_autofree char *icon = NULL;
  g_autofree char *subtitle = NULL;

  gtk_widget_set_visible (GTK_WIDGET (self->os_spinner), self->identifying);
  gtk_spinner_set_spinning (self->os_spinner, self->identifying);
  if (self->identifying)
    subtitle = g_strdup (_ ("Recognising the system…"));
  else if (self->media == NULL)
    subtitle = g_strdup (_ ("Choose an ISO file to see what it installs"));
  else if (self->media->identified)
    subtitle = g_strdup (self->media->os_name);
  else if (self->media->volume_id != NULL && *self->media->volume_id != '\0')
    /* Translators: %s is the ISO's volume label, e.g. "MY_DISC". */
    subtitle = g_strdup_printf (_ ("Unknown system (“%s”): general settings are suggested"),
                                self->media->volume_id);
  else
    subtitle = g_strdup (_ ("Unknown system: general settings are suggested"));
  adw_action_row_set_subtitle (self->os_row, subtitle);
  icon = vireo_media_icon_name (self->media,
                                gtk_icon_theme_get_for_display (gtk_widget_get_display (GTK_WIDGET (self))));
  gtk_image_set_from_icon_name (self->os_icon, icon);
}

/* Fills in what the medium suggests; a name the user typed is kept. */
static void
apply_media (VireoNewMachine *self)
{
  g_autofree char *name = trimmed_text (self->name_row);
  const VireoMediaInfo *media = self->media;

  if (*name == '\0' || g_strcmp0 (name, self->suggested_name) == 0)
    {
      g_autofree char *base = NULL;

      if (media->identified && media->os_name != NULL)
        base = g_strdup (media->os_name);
      else
        {
          g_autofree char *iso = trimmed_text (self->iso_row);
          g_autofree char *file = g_filename_display_basename (iso);
          char *dot = strrchr (file, '.');

          if (dot != NULL && dot != file)
            *dot = '\0';
          base = g_strndup (file, 64);
        }
      g_free (self->suggested_name);
      self->suggested_name = unique_name (self, base);
      gtk_editable_set_text (GTK_EDITABLE (self->name_row), self->suggested_name);
    }
  gtk_spin_button_set_value (self->memory_spin, (double) suggested_memory_mib (self, media->memory_mib));
  gtk_spin_button_set_value (self->disk_size_spin, (double) media->disk_gib);
  /* Installers fetch packages and updates: NAT, unless the user chose otherwise. */
  adw_combo_row_set_selected (self->network_row, 1);
}

static void
on_media_identified (GObject *source, GAsyncResult *result, gpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (VireoMediaInfo) media = vireo_media_identify_finish (result, &error);
  VireoNewMachine *self;

  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return; /* another file was chosen, or the wizard is gone */
  self = VIREO_NEW_MACHINE (data);
  self->identifying = FALSE;
  g_clear_object (&self->identify_cancellable);
  if (media == NULL)
    self->media_error = g_strdup (error->message);
  else
    {
      self->media = g_steal_pointer (&media);
      apply_media (self);
    }
  show_media (self);
  vireo_new_machine_update_buttons (self);
}

static void
on_iso_changed (VireoNewMachine *self)
{
  g_autofree char *iso = trimmed_text (self->iso_row);

  if (self->identify_cancellable != NULL)
    g_cancellable_cancel (self->identify_cancellable);
  g_clear_object (&self->identify_cancellable);
  g_clear_pointer (&self->media, vireo_media_info_free);
  g_clear_pointer (&self->media_error, g_free);
  self->identifying = FALSE;
  /* Only a file that is there is worth reading: not each prefix of a path being typed. */
  if (*iso != '\0' && !vireo_host_files_are_remote (self->host) && g_file_test (iso, G_FILE_TEST_IS_REGULAR))
    {
      self->identifying = TRUE;
      self->identify_cancellable = g_cancellable_new ();
      vireo_media_identify_async (iso, self->identify_cancellable, on_media_identified, self);
    }
  show_media (self);
  vireo_new_machine_update_buttons (self);
}

/* ---- pages ---- */

static const char *
page_title (guint page)
{
  static const char *const titles[N_PAGES] = {
    N_ ("Boot Source"),         N_ ("Name and Location"), N_ ("Memory and Processors"),
    N_ ("Network and Display"), N_ ("Summary"),
  };

  return _ (titles[MIN (page, N_PAGES - 1)]);
}

/* One line of the summary: compact key–value rows, so that the whole summary and the "Connect when created"
 * choice fit the window without scrolling. */
static void
add_summary_row (VireoNewMachine *self, const char *title, const char *value)
{
  GtkWidget *row = gtk_list_box_row_new ();
  GtkWidget *box = gtk_box_new (GTK_ORIENTATION_HORIZONTAL, 12);
  GtkWidget *key = gtk_label_new (title);
  GtkWidget *label = gtk_label_new (value);

  gtk_list_box_row_set_activatable (GTK_LIST_BOX_ROW (row), FALSE);
  gtk_widget_set_margin_start (box, 12);
  gtk_widget_set_margin_end (box, 12);
  gtk_widget_set_margin_top (box, 8);
  gtk_widget_set_margin_bottom (box, 8);
  gtk_label_set_xalign (GTK_LABEL (key), 0.0);
  gtk_label_set_ellipsize (GTK_LABEL (label), PANGO_ELLIPSIZE_MIDDLE);
  gtk_label_set_xalign (GTK_LABEL (label), 1.0);
  gtk_label_set_width_chars (GTK_LABEL (label), 12);
  gtk_widget_set_hexpand (label, TRUE);
  gtk_widget_set_tooltip_text (label, value);
  gtk_widget_add_css_class (label, "dim-label");
  gtk_box_append (GTK_BOX (box), key);
  gtk_box_append (GTK_BOX (box), label);
  gtk_list_box_row_set_child (GTK_LIST_BOX_ROW (row), box);
  gtk_list_box_append (self->summary_list, row);
}

static void
fill_summary (VireoNewMachine *self)
{
  g_autofree char *name = trimmed_text (self->name_row);
  g_autofree char *memory = vireo_format_memory (memory_mib (self));
  g_autofree char *processors = g_strdup_printf ("%u", vcpus (self));

  GtkWidget *child;

  while ((child = gtk_widget_get_first_child (GTK_WIDGET (self->summary_list))) != NULL)
    gtk_list_box_remove (self->summary_list, child);

  add_summary_row (self, _ ("Name"), name);
  if (installs_from_iso (self))
    {
      g_autofree char *iso = trimmed_text (self->iso_row);
      g_autofree char *disk = g_strdup_printf (_ ("%" G_GUINT64_FORMAT " GiB, qcow2"), disk_size_gib (self));

      add_summary_row (self, _ ("Start from"), _ ("ISO file"));
      add_summary_row (self, _ ("Operating system"),
                       self->media && self->media->os_name ? self->media->os_name : _ ("Unknown"));
      add_summary_row (self, _ ("ISO file"), iso);
      add_summary_row (self, _ ("New disk"), disk);
    }
  else if (boots_kernel (self))
    {
      g_autofree char *kernel = trimmed_text (self->kernel_row);
      g_autofree char *initrd = trimmed_text (self->initrd_row);
      const char *cmdline = gtk_editable_get_text (GTK_EDITABLE (self->cmdline_row));

      add_summary_row (self, _ ("Start from"), _ ("Linux kernel"));
      add_summary_row (self, _ ("Kernel"), kernel);
      if (*initrd != '\0')
        add_summary_row (self, _ ("Initial ramdisk"), initrd);
      add_summary_row (self, _ ("Command line"), *cmdline ? cmdline : _ ("None"));
    }
  else
    {
      g_autofree char *image = trimmed_text (self->image_row);
      gboolean remote = vireo_host_files_are_remote (self->host);
      const char *format = remote ? NULL : vireo_detect_image_format (image);
      g_autofree char *description = g_strdup_printf (
          "%s%s",
          remote                             ? _ ("Format told by the host")
          : g_strcmp0 (format, "qcow2") == 0 ? _ ("qcow2")
                                             : _ ("Raw"),
          gtk_switch_get_active (self->readonly_switch) ? _ (", read-only") : "");

      add_summary_row (self, _ ("Start from"), _ ("Disk image"));
      add_summary_row (self, _ ("Disk image"), image);
      if (imports_image (self))
        add_summary_row (self, _ ("Format"), _ ("A qcow2 copy in the machine’s folder"));
      else
        add_summary_row (self, _ ("Format"), description);
    }
  add_summary_row (self, _ ("Memory"), memory);
  add_summary_row (self, _ ("Processors"), processors);
  add_summary_row (self, _ ("Network"),
                   g_str_equal (network (self), "nat") ? _ ("NAT (Default Switch)") : _ ("None"));
  add_summary_row (self, _ ("Display"), gtk_switch_get_active (self->display_switch) ? _ ("On") : _ ("Off"));
}

static void
show_page (VireoNewMachine *self, guint page, gboolean animate)
{
  g_autofree char *subtitle = NULL;

  self->page = MIN (page, N_PAGES - 1);
  if (self->page == PAGE_SUMMARY)
    fill_summary (self);

  /* Pages beside the visible one take no focus: Tab must not walk into what cannot be seen. */
  for (guint i = 0; i < N_PAGES; i++)
    gtk_widget_set_can_focus (self->pages[i], i == self->page);
  adw_carousel_scroll_to (self->carousel, self->pages[self->page], animate);

  /* Translators: "Step 2 of 5: Boot Source" */
  subtitle = g_strdup_printf (_ ("Step %u of %u: %s"), self->page + 1, N_PAGES, page_title (self->page));
  adw_window_title_set_subtitle (self->window_title, subtitle);
  gtk_widget_set_visible (self->cancel_button, self->page == 0);
  gtk_widget_set_visible (self->back_button, self->page != 0);
  gtk_widget_set_visible (self->next_button, self->page != PAGE_SUMMARY);
  gtk_widget_set_visible (self->create_button, self->page == PAGE_SUMMARY);
  gtk_window_set_default_widget (GTK_WINDOW (self),
                                 self->page == PAGE_SUMMARY ? self->create_button : self->next_button);
  vireo_new_machine_update_buttons (self);

  switch (self->page)
    {
    case PAGE_NAME:
      gtk_widget_grab_focus (GTK_WIDGET (self->name_row));
      break;
    case PAGE_BOOT:
      gtk_widget_grab_focus (GTK_WIDGET (installs_from_iso (self) ? self->iso_row
                                         : boots_kernel (self)    ? self->kernel_row
                                                                  : self->image_row));
      break;
    case PAGE_RESOURCES:
      gtk_widget_grab_focus (GTK_WIDGET (self->memory_spin));
      break;
    case PAGE_SUMMARY:
      gtk_widget_grab_focus (self->create_button);
      break;
    default:
      break;
    }
}

static void
on_back_clicked (VireoNewMachine *self)
{
  if (self->creating || self->page == 0)
    return;
  g_clear_pointer (&self->service_error, g_free);
  show_page (self, self->page - 1, TRUE);
}

static void
on_next_clicked (VireoNewMachine *self)
{
  /* A number typed into a spin button counts once it is committed. */
  gtk_spin_button_update (self->memory_spin);
  gtk_spin_button_update (self->vcpus_spin);
  gtk_spin_button_update (self->disk_size_spin);
  vireo_new_machine_update_buttons (self);
  if (self->creating || self->page >= PAGE_SUMMARY || !gtk_widget_get_sensitive (self->next_button))
    return;
  show_page (self, self->page + 1, TRUE);
}

/* ---- files ---- */

static void
on_chooser_response (GtkNativeDialog *dialog, int response, gpointer data)
{
  VireoNewMachine *self = data;

  if (response == GTK_RESPONSE_ACCEPT && self->chooser_target != NULL)
    {
      g_autoptr (GFile) file = gtk_file_chooser_get_file (GTK_FILE_CHOOSER (dialog));
      g_autofree char *path = file ? g_file_get_path (file) : NULL;

      if (path != NULL)
        gtk_editable_set_text (GTK_EDITABLE (self->chooser_target), path);
    }
  self->chooser_target = NULL;
  g_clear_object (&self->chooser);
}

/* The path of a file on a remote host, typed in place of a chooser (vireo-remote-files.c). */
static void
on_remote_path_typed (const char *path, gpointer target)
{
  gtk_editable_set_text (GTK_EDITABLE (target), path);
}

static void
on_choose_clicked (VireoNewMachine *self, GtkWidget *button)
{
  const char *title;
  g_autofree char *near = NULL;

  if (self->chooser != NULL)
    return;
  if (button == self->kernel_choose)
    {
      self->chooser_target = self->kernel_row;
      title = _ ("Choose the Kernel");
    }
  else if (button == self->initrd_choose)
    {
      self->chooser_target = self->initrd_row;
      title = _ ("Choose the Initial Ramdisk");
    }
  else if (button == self->iso_choose)
    {
      self->chooser_target = self->iso_row;
      title = _ ("Choose the ISO File");
    }
  else
    {
      self->chooser_target = self->image_row;
      title = _ ("Choose the Disk Image");
    }

  near = trimmed_text (self->chooser_target);
  if (*near == '\0' && self->chooser_target == self->initrd_row)
    {
      g_free (near);
      near = trimmed_text (self->kernel_row);
    }
  if (vireo_host_files_are_remote (self->host))
    {
      vireo_remote_path_ask (GTK_WINDOW (self), self->host, title, near, on_remote_path_typed,
                             g_object_ref (self->chooser_target), g_object_unref);
      self->chooser_target = NULL;
      return;
    }
  self->chooser = vireo_file_chooser_new (GTK_WINDOW (self), title,
                                          self->chooser_target == self->iso_row     ? VIREO_FILES_ISO
                                          : self->chooser_target == self->image_row ? VIREO_FILES_IMAGES
                                                                                    : VIREO_FILES_ANY,
                                          near);
  g_signal_connect (self->chooser, "response", G_CALLBACK (on_chooser_response), self);
  gtk_native_dialog_show (GTK_NATIVE_DIALOG (self->chooser));
}

/* ---- the window ---- */

static gboolean
vireo_new_machine_close_request (GtkWindow *window)
{
  VireoNewMachine *self = VIREO_NEW_MACHINE (window);

  /* Once asked, the service creates the machine whether or not anyone waits: stay to report it. */
  if (self->creating)
    return TRUE;
  return GTK_WINDOW_CLASS (vireo_new_machine_parent_class)->close_request (window);
}

static void
vireo_new_machine_dispose (GObject *object)
{
  VireoNewMachine *self = VIREO_NEW_MACHINE (object);

  g_cancellable_cancel (self->cancellable);
  if (self->identify_cancellable != NULL)
    g_cancellable_cancel (self->identify_cancellable);
  g_clear_object (&self->identify_cancellable);
  g_clear_handle_id (&self->pulse_timeout, g_source_remove);
  vireo_new_machine_forget_new_machine (self);
  if (self->chooser != NULL)
    gtk_native_dialog_destroy (GTK_NATIVE_DIALOG (self->chooser));
  g_clear_object (&self->chooser);
  if (self->host != NULL)
    {
      g_signal_handlers_disconnect_by_data (self->host, self);
      g_signal_handlers_disconnect_by_data (vireo_host_get_machines (self->host), self);
    }
  g_clear_object (&self->host);
  gtk_widget_dispose_template (GTK_WIDGET (self), VIREO_TYPE_NEW_MACHINE);

  G_OBJECT_CLASS (vireo_new_machine_parent_class)->dispose (object);
}

static void
vireo_new_machine_finalize (GObject *object)
{
  VireoNewMachine *self = VIREO_NEW_MACHINE (object);

  g_clear_object (&self->cancellable);
  g_free (self->service_error);
  g_free (self->media_error);
  g_free (self->suggested_name);
  vireo_media_info_free (self->media);

  G_OBJECT_CLASS (vireo_new_machine_parent_class)->finalize (object);
}

static void
vireo_new_machine_class_init (VireoNewMachineClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);
  GtkWindowClass *window_class = GTK_WINDOW_CLASS (klass);

  object_class->dispose = vireo_new_machine_dispose;
  object_class->finalize = vireo_new_machine_finalize;
  window_class->close_request = vireo_new_machine_close_request;

  /**
   * VireoNewMachine::created:
   * @object_path: the new machine's object path on the host's service
   * @connect_now: whether the user asked to connect to it at once
   */
  signals[SIGNAL_CREATED] = g_signal_new ("created", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL,
                                          NULL, NULL, G_TYPE_NONE, 2, G_TYPE_STRING, G_TYPE_BOOLEAN);

  /* Escape cancels, as in any dialog (and, while creating, is refused by close_request). */
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_Escape, 0, "window.close", NULL);

  gtk_widget_class_set_template_from_resource (widget_class, "/org/vireo/Vireo/vireo-new-machine.ui");
  gtk_widget_class_bind_template_child (widget_class, VireoNewMachine, window_title);
  gtk_widget_class_bind_template_child (widget_class, VireoNewMachine, cancel_button);
  gtk_widget_class_bind_template_child (widget_class, VireoNewMachine, back_button);
  gtk_widget_class_bind_template_child (widget_class, VireoNewMachine, next_button);
  gtk_widget_class_bind_template_child (widget_class, VireoNewMachine, create_button);
  gtk_widget_class_bind_template_child (widget_class, VireoNewMachine, spinner);
  gtk_widget_class_bind_template_child (widget_class, VireoNewMachine, carousel);
  gtk_widget_class_bind_template_child_full (widget_class, "name_page", FALSE,
                                             G_STRUCT_OFFSET (VireoNewMachine, pages[PAGE_NAME]));
  gtk_widget_class_bind_template_child_full (widget_class, "boot_page", FALSE,
                                             G_STRUCT_OFFSET (VireoNewMachine, pages[PAGE_BOOT]));
  gtk_widget_class_bind_template_child_full (widget_class, "resources_page", FALSE,
                                             G_STRUCT_OFFSET (VireoNewMachine, pages[PAGE_RESOURCES]));
  gtk_widget_class_bind_template_child_full (widget_class, "devices_page", FALSE,
                                             G_STRUCT_OFFSET (VireoNewMachine, pages[PAGE_DEVICES]));
  gtk_widget_class_bind_template_child_full (widget_class, "summary_page", FALSE,
                                             G_STRUCT_OFFSET (VireoNewMachine, pages[PAGE_SUMMARY]));
  gtk_widget_class_bind_template_child (widget_class, VireoNewMachine, name_row);
  gtk_widget_class_bind_template_child (widget_class, VireoNewMachine, name_message);
  gtk_widget_class_bind_template_child (widget_class, VireoNewMachine, host_row);
  gtk_widget_class_bind_template_child (widget_class, VireoNewMachine, location_row);
  gtk_widget_class_bind_template_child (widget_class, VireoNewMachine, iso_radio);
  gtk_widget_class_bind_template_child (widget_class, VireoNewMachine, iso_group);
  gtk_widget_class_bind_template_child (widget_class, VireoNewMachine, iso_row);
  gtk_widget_class_bind_template_child (widget_class, VireoNewMachine, iso_choose);
  gtk_widget_class_bind_template_child (widget_class, VireoNewMachine, os_row);
  gtk_widget_class_bind_template_child (widget_class, VireoNewMachine, os_icon);
  gtk_widget_class_bind_template_child (widget_class, VireoNewMachine, os_spinner);
  gtk_widget_class_bind_template_child (widget_class, VireoNewMachine, iso_message);
  gtk_widget_class_bind_template_child (widget_class, VireoNewMachine, storage_group);
  gtk_widget_class_bind_template_child (widget_class, VireoNewMachine, disk_size_spin);
  gtk_widget_class_bind_template_child (widget_class, VireoNewMachine, progress_group);
  gtk_widget_class_bind_template_child (widget_class, VireoNewMachine, progress_bar);
  gtk_widget_class_bind_template_child (widget_class, VireoNewMachine, kernel_radio);
  gtk_widget_class_bind_template_child (widget_class, VireoNewMachine, disk_radio);
  gtk_widget_class_bind_template_child (widget_class, VireoNewMachine, kernel_group);
  gtk_widget_class_bind_template_child (widget_class, VireoNewMachine, disk_group);
  gtk_widget_class_bind_template_child (widget_class, VireoNewMachine, kernel_row);
  gtk_widget_class_bind_template_child (widget_class, VireoNewMachine, initrd_row);
  gtk_widget_class_bind_template_child (widget_class, VireoNewMachine, cmdline_row);
  gtk_widget_class_bind_template_child (widget_class, VireoNewMachine, image_row);
  gtk_widget_class_bind_template_child (widget_class, VireoNewMachine, kernel_choose);
  gtk_widget_class_bind_template_child (widget_class, VireoNewMachine, initrd_choose);
  gtk_widget_class_bind_template_child (widget_class, VireoNewMachine, image_choose);
  gtk_widget_class_bind_template_child (widget_class, VireoNewMachine, kernel_message);
  gtk_widget_class_bind_template_child (widget_class, VireoNewMachine, image_message);
  gtk_widget_class_bind_template_child (widget_class, VireoNewMachine, image_format_label);
  gtk_widget_class_bind_template_child (widget_class, VireoNewMachine, readonly_switch);
  gtk_widget_class_bind_template_child (widget_class, VireoNewMachine, readonly_row);
  gtk_widget_class_bind_template_child (widget_class, VireoNewMachine, import_switch);
  gtk_widget_class_bind_template_child (widget_class, VireoNewMachine, resources_group);
  gtk_widget_class_bind_template_child (widget_class, VireoNewMachine, memory_row);
  gtk_widget_class_bind_template_child (widget_class, VireoNewMachine, memory_warning);
  gtk_widget_class_bind_template_child (widget_class, VireoNewMachine, vcpus_row);
  gtk_widget_class_bind_template_child (widget_class, VireoNewMachine, memory_spin);
  gtk_widget_class_bind_template_child (widget_class, VireoNewMachine, vcpus_spin);
  gtk_widget_class_bind_template_child (widget_class, VireoNewMachine, memory_adjustment);
  gtk_widget_class_bind_template_child (widget_class, VireoNewMachine, vcpus_adjustment);
  gtk_widget_class_bind_template_child (widget_class, VireoNewMachine, resources_message);
  gtk_widget_class_bind_template_child (widget_class, VireoNewMachine, network_row);
  gtk_widget_class_bind_template_child (widget_class, VireoNewMachine, display_switch);
  gtk_widget_class_bind_template_child (widget_class, VireoNewMachine, error_group);
  gtk_widget_class_bind_template_child (widget_class, VireoNewMachine, error_label);
  gtk_widget_class_bind_template_child (widget_class, VireoNewMachine, summary_list);
  gtk_widget_class_bind_template_child (widget_class, VireoNewMachine, connect_check);
  gtk_widget_class_bind_template_callback (widget_class, on_input_changed);
  gtk_widget_class_bind_template_callback (widget_class, on_back_clicked);
  gtk_widget_class_bind_template_callback (widget_class, on_next_clicked);
  gtk_widget_class_bind_template_callback_full (widget_class, "on_create_clicked",
                                                G_CALLBACK (vireo_new_machine_create));
  gtk_widget_class_bind_template_callback (widget_class, on_choose_clicked);
  gtk_widget_class_bind_template_callback (widget_class, on_iso_changed);
}

static void
vireo_new_machine_init (VireoNewMachine *self)
{
  self->cancellable = g_cancellable_new ();
  gtk_widget_init_template (GTK_WIDGET (self));
}

VireoNewMachine *
vireo_new_machine_new (GtkWindow *parent, VireoHost *host)
{
  VireoNewMachine *self;

  g_return_val_if_fail (VIREO_IS_HOST (host), NULL);

  self = g_object_new (VIREO_TYPE_NEW_MACHINE, "transient-for", parent, "application",
                       parent ? gtk_window_get_application (parent) : NULL, NULL);
  self->host = g_object_ref (host);
  g_signal_connect_swapped (host, "notify::manager", G_CALLBACK (apply_host_facts), self);
  g_signal_connect_swapped (vireo_host_get_machines (host), "items-changed",
                            G_CALLBACK (vireo_new_machine_update_buttons), self);
  apply_host_facts (self);
  show_page (self, 0, FALSE);
  return self;
}
