/* vireo-new-machine-private.h — what the New Machine wizard's files share (vireo-new-machine.c: the window,
 * its pages and the installation medium; vireo-new-machine-checks.c: the pages' verdicts;
 * vireo-new-machine-create.c: Create): the window's state and widgets, and reading the form. */
#pragma once

#include "vireo-new-machine.h"

#include "vireo-checks.h"
#include "vireo-media.h"

G_BEGIN_DECLS

enum
{
  PAGE_BOOT,
  PAGE_NAME,
  PAGE_RESOURCES,
  PAGE_DEVICES,
  PAGE_SUMMARY,
  N_PAGES
};

/* Order of the network combo row's items. */
static const char *const network_values[] = { "none", "nat" };

struct _VireoNewMachine
{
  AdwWindow parent_instance;

  VireoHost *host;
  GCancellable *cancellable;
  guint page;
  gboolean creating;
  gboolean defaults_applied;
  char *service_error; /* what CreateMachine last answered, shown on the summary page */
  GtkFileChooserNative *chooser;
  AdwEntryRow *chooser_target;

  AdwWindowTitle *window_title;
  GtkWidget *cancel_button;
  GtkWidget *back_button;
  GtkWidget *next_button;
  GtkWidget *create_button;
  GtkSpinner *spinner;
  AdwCarousel *carousel;
  GtkWidget *pages[N_PAGES];

  AdwEntryRow *name_row;
  GtkLabel *name_message;
  AdwActionRow *host_row;
  AdwActionRow *location_row;

  /* The ISO being identified, what it is, and what the wizard filled in from it (overwritten only while the
   * user leaves it as it was). */
  GCancellable *identify_cancellable;
  VireoMediaInfo *media;
  char *media_error;
  gboolean identifying;
  char *suggested_name;
  /* Creating from an ISO: the new machine, while its disk and CD are added. */
  char *new_machine_path;
  VireoDBusMachine *new_machine;
  gulong progress_handler;
  guint pulse_timeout;

  GtkCheckButton *iso_radio;
  GtkWidget *iso_group;
  AdwEntryRow *iso_row;
  GtkWidget *iso_choose;
  AdwActionRow *os_row;
  GtkImage *os_icon;
  GtkSpinner *os_spinner;
  GtkLabel *iso_message;
  GtkWidget *storage_group;
  GtkSpinButton *disk_size_spin;
  GtkWidget *progress_group;
  GtkProgressBar *progress_bar;
  GtkCheckButton *kernel_radio;
  GtkCheckButton *disk_radio;
  GtkWidget *kernel_group;
  GtkWidget *disk_group;
  AdwEntryRow *kernel_row;
  AdwEntryRow *initrd_row;
  AdwEntryRow *cmdline_row;
  AdwEntryRow *image_row;
  GtkWidget *kernel_choose;
  GtkWidget *initrd_choose;
  GtkWidget *image_choose;
  GtkLabel *kernel_message;
  GtkLabel *image_message;
  GtkLabel *image_format_label;
  GtkSwitch *readonly_switch;
  GtkWidget *readonly_row;
  GtkSwitch *import_switch;

  AdwPreferencesGroup *resources_group;
  AdwActionRow *memory_row;
  AdwActionRow *memory_warning;
  AdwActionRow *vcpus_row;
  GtkSpinButton *memory_spin;
  GtkSpinButton *vcpus_spin;
  GtkAdjustment *memory_adjustment;
  GtkAdjustment *vcpus_adjustment;
  GtkLabel *resources_message;

  AdwComboRow *network_row;
  GtkSwitch *display_switch;

  GtkWidget *error_group;
  GtkLabel *error_label;
  GtkListBox *summary_list;
  GtkCheckButton *connect_check;
};

/* Reading the form. */

static inline char *
trimmed_text (AdwEntryRow *row)
{
  return vireo_entry_row_get_stripped_text (row);
}

static inline gboolean
boots_kernel (VireoNewMachine *self)
{
  return gtk_check_button_get_active (self->kernel_radio);
}

static inline gboolean
installs_from_iso (VireoNewMachine *self)
{
  return gtk_check_button_get_active (self->iso_radio);
}

/* An existing image copied (converted) into the machine's folder with Machine.ImportDisk. */
static inline gboolean
imports_image (VireoNewMachine *self)
{
  return !installs_from_iso (self) && !boots_kernel (self) && gtk_switch_get_active (self->import_switch);
}

static inline guint64
disk_size_gib (VireoNewMachine *self)
{
  return (guint64) gtk_spin_button_get_value_as_int (self->disk_size_spin);
}

static inline guint64
memory_mib (VireoNewMachine *self)
{
  return (guint64) gtk_spin_button_get_value_as_int (self->memory_spin);
}

static inline guint
vcpus (VireoNewMachine *self)
{
  return (guint) gtk_spin_button_get_value_as_int (self->vcpus_spin);
}

static inline const char *
network (VireoNewMachine *self)
{
  guint selected = adw_combo_row_get_selected (self->network_row);

  return network_values[selected < G_N_ELEMENTS (network_values) ? selected : 0];
}

static inline guint64
host_memory_mib (VireoNewMachine *self)
{
  VireoDBusManager *manager = vireo_host_get_manager (self->host);

  return manager ? vireo_dbus_manager_get_host_memory_mib (manager) : 0;
}

/* vireo-new-machine.c: emits "created" for the machine at @path (with the Connect check's state). */
void vireo_new_machine_emit_created (VireoNewMachine *self, const char *path);

/* vireo-new-machine-checks.c: checks every page, and sets Next, Create, Back and Cancel and the summary's
 * error from the verdicts. */
void vireo_new_machine_update_buttons (VireoNewMachine *self);

/* vireo-new-machine-create.c: Create (the summary page's button); and dropping the machine being given its
 * disk and CD drive, when the window goes. */
void vireo_new_machine_create (VireoNewMachine *self);
void vireo_new_machine_forget_new_machine (VireoNewMachine *self);

G_END_DECLS
