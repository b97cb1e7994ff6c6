/* vireo-settings-page.h — what every page of a machine's settings window is: an AdwPreferencesPage that shows
 * some of Machine.Settings' keys, sends the user's changes to them, and locks what cannot change while the
 * machine runs.  The window (vireo-machine-settings.c) owns the machine and hands each key to its pages. */
#pragma once

#include <adwaita.h>

#include "vireo-machine-settings.h"
#include "vireo-new-machine.h"

G_BEGIN_DECLS

#define VIREO_TYPE_SETTINGS_PAGE (vireo_settings_page_get_type ())
G_DECLARE_DERIVABLE_TYPE (VireoSettingsPage, vireo_settings_page, VIREO, SETTINGS_PAGE, AdwPreferencesPage)

struct _VireoSettingsPageClass
{
  AdwPreferencesPageClass parent_class;

  /* Shows the service's @value of @key if this page has it; the window blocks sending meanwhile. */
  gboolean (*sync_key) (VireoSettingsPage *page, const char *key, GVariant *value);
  /* The message label under the field that shows @key, and that field; NULL when this page has none. */
  GtkLabel *(*message_for_key) (VireoSettingsPage *page, const char *key, GtkWidget **field);
  /* The machine started or stopped (vireo_settings_page_is_locked()). */
  void (*update_lock) (VireoSettingsPage *page);
  /* Words the rows' subtitles and groups' descriptions for the current values, lock and host. */
  void (*describe) (VireoSettingsPage *page);
  /* The window closes: sends what the user changed and is still waiting to be sent. */
  void (*flush) (VireoSettingsPage *page);
};

/* Called once by the window that holds @page. */
void vireo_settings_page_attach (VireoSettingsPage *page, VireoMachineSettings *window);
VireoMachineSettings *vireo_settings_page_get_window (VireoSettingsPage *page);
gboolean vireo_settings_page_sync_key (VireoSettingsPage *page, const char *key, GVariant *value);
GtkLabel *vireo_settings_page_message_for_key (VireoSettingsPage *page, const char *key, GtkWidget **field);
void vireo_settings_page_update_lock (VireoSettingsPage *page);
void vireo_settings_page_describe (VireoSettingsPage *page);
void vireo_settings_page_flush (VireoSettingsPage *page);

/* For the pages: what the window knows. */
VireoHost *vireo_settings_page_get_host (VireoSettingsPage *page);
VireoDBusMachine *vireo_settings_page_get_machine (VireoSettingsPage *page);
/* The service's value of @key as the window last showed it, or NULL. */
GVariant *vireo_settings_page_lookup (VireoSettingsPage *page, const char *key);
/* The same for a string key, "" when it is not one. */
char *vireo_settings_page_lookup_string (VireoSettingsPage *page, const char *key);
/* Whether widgets are being set from the service's values: their handlers must not send them back. */
gboolean vireo_settings_page_is_syncing (VireoSettingsPage *page);
/* Whether the machine runs: only name, notes and automatic actions may change. */
gboolean vireo_settings_page_is_locked (VireoSettingsPage *page);
/* Sends one changed setting (only what the user changed goes to the service). */
void vireo_settings_page_send (VireoSettingsPage *page, const char *key, GVariant *value);
/* Shows the service's @value of @key again, through every page, without sending it back. */
void vireo_settings_page_resync (VireoSettingsPage *page, const char *key, GVariant *value);
void vireo_settings_page_toast (VireoSettingsPage *page, const char *message);

/* Asks for a file in a modal dialog over the window, one at a time; @chosen gets @target and the path. */
typedef void (*VireoSettingsFileChosen) (VireoSettingsPage *page, GtkWidget *target, const char *path);
void vireo_settings_page_choose_file (VireoSettingsPage *page, GtkWidget *target, const char *title,
                                      VireoFiles files, const char *near, VireoSettingsFileChosen chosen);

/* Helpers the pages share. */
/* Shows @reason (NULL: none) under @field in @label, and marks @field as wrong while there is one. */
void vireo_settings_show_reason (GtkLabel *label, GtkWidget *field, const char *reason);
/* Sets @row's text to the service's @text, keeping the cursor when it is the same, and clears its error. */
void vireo_settings_set_entry_text (AdwEntryRow *row, const char *text);
/* The index of @value in the NULL-terminated @values (a combo row's items), 0 when it is not there. */
guint vireo_settings_index_of (const char *const *values, const char *value);
/* The value of item @index of @values, the first for an index out of range. */
const char *vireo_settings_value_at (const char *const *values, guint index);
/* "Turn the machine off to change this" */
const char *vireo_settings_lock_text (void);
/* "Turn the machine off to change these settings." */
const char *vireo_settings_locked_group_text (void);

G_END_DECLS
