/* vireo-machine-settings.c — the settings window of one machine: shows Machine.Settings and follows it live,
 * sends what the user changes through Machine.Update (only the changed keys), and locks what cannot change
 * while the machine runs.  Its pages (vireo-settings-*.c) each show their own keys; this file hands them the
 * service's values, sends their changes and shows the service's refusals. */
#include "vireo-machine-settings-private.h"

#include <glib/gi18n.h>
#include <string.h>

#include "vireo-format.h"
#include "vireo-settings-advanced.h"
#include "vireo-settings-boot.h"
#include "vireo-settings-checkpoints.h"
#include "vireo-settings-disks.h"
#include "vireo-settings-general.h"
#include "vireo-settings-hardware.h"
#include "vireo-settings-network.h"

#define N_PAGES 7

struct _VireoMachineSettings
{
  AdwPreferencesWindow parent_instance;

  VireoHost *host;
  VireoDBusMachine *machine;
  char *object_path;
  GVariant *settings; /* the service's settings as the widgets last showed them */
  guint syncing;      /* > 0 while widgets are set from the service's values */
  gboolean locked;    /* the machine runs: only name, notes, automatic actions and cables may change */
  gboolean disposed;

  /* Template widgets */
  VireoSettingsGeneral *general_page;
  VireoSettingsHardware *hardware_page;
  VireoSettingsDisks *disks_page;
  VireoSettingsNetwork *network_page;
  VireoSettingsBoot *boot_page;
  VireoSettingsCheckpoints *checkpoints_page;
  VireoSettingsAdvanced *advanced_page;
  VireoSettingsPage *pages[N_PAGES];
};

G_DEFINE_FINAL_TYPE (VireoMachineSettings, vireo_machine_settings, ADW_TYPE_PREFERENCES_WINDOW)

/* ---- for the pages (vireo-settings-page.c) ---- */

VireoHost *
vireo_machine_settings_get_host (VireoMachineSettings *self)
{
  return self ? self->host : NULL;
}

VireoDBusMachine *
vireo_machine_settings_get_machine (VireoMachineSettings *self)
{
  return self ? self->machine : NULL;
}

GVariant *
vireo_machine_settings_lookup (VireoMachineSettings *self, const char *key)
{
  return self && self->settings ? g_variant_lookup_value (self->settings, key, NULL) : NULL;
}

gboolean
vireo_machine_settings_is_syncing (VireoMachineSettings *self)
{
  /* A page not yet in its window has nothing to send. */
  return self == NULL || self->syncing > 0;
}

gboolean
vireo_machine_settings_is_locked (VireoMachineSettings *self)
{
  return self != NULL && self->locked;
}

void
vireo_machine_settings_toast (VireoMachineSettings *self, const char *message)
{
  g_autofree char *escaped = g_markup_escape_text (message, -1);
  AdwToast *toast = adw_toast_new (escaped);

  adw_toast_set_timeout (toast, 8);
  adw_preferences_window_add_toast (ADW_PREFERENCES_WINDOW (self), toast);
}

/* Shows the service's @value of @key in the pages that have it, without sending it back.  A key may show on
 * more than one page: the disks are on Hardware and, as the boot order, on Boot. */
void
vireo_machine_settings_sync_key (VireoMachineSettings *self, const char *key, GVariant *value)
{
  self->syncing++;
  for (guint i = 0; i < N_PAGES; i++)
    vireo_settings_page_sync_key (self->pages[i], key, value);
  self->syncing--;
}

static void
describe_pages (VireoMachineSettings *self)
{
  for (guint i = 0; i < N_PAGES; i++)
    vireo_settings_page_describe (self->pages[i]);
}

/* The message label under the field that shows @key, if it has one, and that field: on the page that sent
 * the change first (@origin, or NULL), since a key may show on more than one page. */
static GtkLabel *
message_for_key (VireoMachineSettings *self, VireoSettingsPage *origin, const char *key, GtkWidget **field)
{
  if (origin != NULL)
    {
      GtkLabel *label = vireo_settings_page_message_for_key (origin, key, field);
      if (label != NULL)
        return label;
    }
  for (guint i = 0; i < N_PAGES; i++)
    {
      GtkLabel *label = vireo_settings_page_message_for_key (self->pages[i], key, field);
      if (label != NULL)
        return label;
    }
  return NULL;
}

/* ---- sending changes ---- */

typedef struct
{
  /* Weak: a window the user closed must not outlive its parent waiting for an answer. */
  GWeakRef self;
  GVariant *changes;
  VireoSettingsPage *origin; /* the page that sent it: lives as long as the window */
} Update;

static void
on_updated (GObject *source, GAsyncResult *result, gpointer data)
{
  Update *update = data;
  g_autoptr (VireoMachineSettings) self = g_weak_ref_get (&update->self);
  g_autoptr (GError) error = NULL;

  if (!vireo_dbus_machine_call_update_finish (VIREO_DBUS_MACHINE (source), result, &error))
    {
      g_dbus_error_strip_remote_error (error);
      if (self == NULL || self->disposed)
        g_message ("The settings of a closed window could not be saved: %s", error->message);
      else
        {
          GVariantIter iter;
          const char *key;

          vireo_machine_settings_toast (self, error->message);
          /* The widgets go back to what the service has, so that they never show what is not in effect; the
           * field's own message keeps the whole explanation, which a toast may cut short. */
          g_variant_iter_init (&iter, update->changes);
          while (g_variant_iter_next (&iter, "{&sv}", &key, NULL))
            {
              g_autoptr (GVariant) value = vireo_machine_settings_lookup (self, key);
              GtkWidget *field = NULL;
              GtkLabel *message;

              /* Refused notes stay as typed, with Save to try again: they may be long. */
              if (g_str_equal (key, "notes"))
                {
                  vireo_settings_page_describe (VIREO_SETTINGS_PAGE (self->general_page));
                  continue;
                }
              if (value != NULL)
                vireo_machine_settings_sync_key (self, key, value);
              message = message_for_key (self, update->origin, key, &field);
              if (message != NULL)
                {
                  /* Translators: %s is the service's reason for refusing a change. */
                  g_autofree char *refused = g_strdup_printf (_ ("Not changed: %s"), error->message);

                  /* The field shows the value in effect, which is not wrong: only the message says what was. */
                  vireo_settings_show_reason (message, field, refused);
                  gtk_widget_remove_css_class (field, "error");
                }
            }
        }
    }
  g_variant_unref (update->changes);
  g_weak_ref_clear (&update->self);
  g_free (update);
}

/* Sends one changed setting: only what the user changed goes to the service. */
void
vireo_machine_settings_send_update (VireoMachineSettings *self, VireoSettingsPage *origin, const char *key,
                                    GVariant *value)
{
  g_auto (GVariantDict) dict = G_VARIANT_DICT_INIT (NULL);
  Update *update = g_new0 (Update, 1);

  g_variant_dict_insert_value (&dict, key, value);
  g_weak_ref_init (&update->self, self);
  update->origin = origin;
  update->changes = g_variant_ref_sink (g_variant_dict_end (&dict));
  /* No cancellable: a change made just before the window closed is still saved. */
  vireo_dbus_machine_call_update (self->machine, update->changes, G_DBUS_CALL_FLAGS_NONE, -1, NULL,
                                  on_updated, update);
}

/* ---- following the machine ---- */

static void
update_lock (VireoMachineSettings *self)
{
  /* The service takes changes to the hardware only while the machine has no process. */
  self->locked = !vireo_state_can_start (vireo_dbus_machine_get_state (self->machine));
  for (guint i = 0; i < N_PAGES; i++)
    vireo_settings_page_update_lock (self->pages[i]);
  describe_pages (self);
}

/* Follows Machine.Settings: only keys whose value changed touch their widget, so that what the user is editing
 * elsewhere in the window stays as it is. */
static void
on_settings_changed (VireoMachineSettings *self)
{
  g_autoptr (GVariant) old = self->settings;
  GVariant *current = vireo_dbus_machine_get_settings (self->machine);
  GVariantIter iter;
  const char *key;
  GVariant *value;

  if (current == NULL || !g_variant_is_of_type (current, G_VARIANT_TYPE_VARDICT))
    {
      self->settings = g_steal_pointer (&old);
      return;
    }
  self->settings = g_variant_ref (current);
  g_variant_iter_init (&iter, current);
  while (g_variant_iter_next (&iter, "{&sv}", &key, &value))
    {
      g_autoptr (GVariant) owned = value;
      g_autoptr (GVariant) previous = old ? g_variant_lookup_value (old, key, NULL) : NULL;

      if (previous == NULL || !g_variant_equal (previous, value))
        vireo_machine_settings_sync_key (self, key, value);
    }
  describe_pages (self);
}

static void
on_name_changed_remotely (VireoMachineSettings *self)
{
  const char *name = vireo_dbus_machine_get_name (self->machine);
  /* Translators: the title of a machine's settings window; %s is its name. */
  g_autofree char *title = g_strdup_printf (_ ("%s Settings"), name ? name : "");

  gtk_window_set_title (GTK_WINDOW (self), title);
}

static void
on_machines_changed (VireoMachineSettings *self)
{
  /* The machine was deleted, or its service went away: there is nothing left to set. */
  if (vireo_host_find_machine (self->host, self->object_path) == NULL)
    gtk_window_close (GTK_WINDOW (self));
}

/* ---- the window ---- */

static gboolean
vireo_machine_settings_close_request (GtkWindow *window)
{
  VireoMachineSettings *self = VIREO_MACHINE_SETTINGS (window);

  /* What the user changed last is saved, not lost with the window. */
  for (guint i = 0; i < N_PAGES; i++)
    vireo_settings_page_flush (self->pages[i]);
  return GTK_WINDOW_CLASS (vireo_machine_settings_parent_class)->close_request (window);
}

static void
vireo_machine_settings_dispose (GObject *object)
{
  VireoMachineSettings *self = VIREO_MACHINE_SETTINGS (object);

  self->disposed = TRUE;
  if (self->machine != NULL)
    g_signal_handlers_disconnect_by_data (self->machine, self);
  if (self->host != NULL)
    {
      g_signal_handlers_disconnect_by_data (self->host, self);
      g_signal_handlers_disconnect_by_data (vireo_host_get_machines (self->host), self);
    }
  g_clear_object (&self->machine);
  g_clear_object (&self->host);
  gtk_widget_dispose_template (GTK_WIDGET (self), VIREO_TYPE_MACHINE_SETTINGS);
  memset (self->pages, 0, sizeof self->pages);

  G_OBJECT_CLASS (vireo_machine_settings_parent_class)->dispose (object);
}

static void
vireo_machine_settings_finalize (GObject *object)
{
  VireoMachineSettings *self = VIREO_MACHINE_SETTINGS (object);

  g_clear_pointer (&self->settings, g_variant_unref);
  g_free (self->object_path);

  G_OBJECT_CLASS (vireo_machine_settings_parent_class)->finalize (object);
}

static void
vireo_machine_settings_class_init (VireoMachineSettingsClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);
  GtkWindowClass *window_class = GTK_WINDOW_CLASS (klass);

  object_class->dispose = vireo_machine_settings_dispose;
  object_class->finalize = vireo_machine_settings_finalize;
  window_class->close_request = vireo_machine_settings_close_request;

  g_type_ensure (VIREO_TYPE_SETTINGS_GENERAL);
  g_type_ensure (VIREO_TYPE_SETTINGS_HARDWARE);
  g_type_ensure (VIREO_TYPE_SETTINGS_DISKS);
  g_type_ensure (VIREO_TYPE_SETTINGS_NETWORK);
  g_type_ensure (VIREO_TYPE_SETTINGS_BOOT);
  g_type_ensure (VIREO_TYPE_SETTINGS_CHECKPOINTS);
  g_type_ensure (VIREO_TYPE_SETTINGS_ADVANCED);
  gtk_widget_class_set_template_from_resource (widget_class, "/org/vireo/Vireo/vireo-machine-settings.ui");
  gtk_widget_class_bind_template_child (widget_class, VireoMachineSettings, general_page);
  gtk_widget_class_bind_template_child (widget_class, VireoMachineSettings, hardware_page);
  gtk_widget_class_bind_template_child (widget_class, VireoMachineSettings, disks_page);
  gtk_widget_class_bind_template_child (widget_class, VireoMachineSettings, network_page);
  gtk_widget_class_bind_template_child (widget_class, VireoMachineSettings, boot_page);
  gtk_widget_class_bind_template_child (widget_class, VireoMachineSettings, checkpoints_page);
  gtk_widget_class_bind_template_child (widget_class, VireoMachineSettings, advanced_page);
}

static void
vireo_machine_settings_init (VireoMachineSettings *self)
{
  /* Widgets are filled from the service's values before any handler may send them back. */
  self->syncing = 1;
  gtk_widget_init_template (GTK_WIDGET (self));

  self->pages[0] = VIREO_SETTINGS_PAGE (self->general_page);
  self->pages[1] = VIREO_SETTINGS_PAGE (self->hardware_page);
  self->pages[2] = VIREO_SETTINGS_PAGE (self->disks_page);
  self->pages[3] = VIREO_SETTINGS_PAGE (self->network_page);
  self->pages[4] = VIREO_SETTINGS_PAGE (self->boot_page);
  self->pages[5] = VIREO_SETTINGS_PAGE (self->checkpoints_page);
  self->pages[6] = VIREO_SETTINGS_PAGE (self->advanced_page);
  for (guint i = 0; i < N_PAGES; i++)
    vireo_settings_page_attach (self->pages[i], self);
}

VireoMachineSettings *
vireo_machine_settings_new (GtkWindow *parent, VireoHost *host, VireoDBusMachine *machine)
{
  VireoMachineSettings *self;

  g_return_val_if_fail (VIREO_IS_HOST (host), NULL);
  g_return_val_if_fail (VIREO_DBUS_IS_MACHINE (machine), NULL);

  self = g_object_new (VIREO_TYPE_MACHINE_SETTINGS, "transient-for", parent, "application",
                       parent ? gtk_window_get_application (parent) : NULL, NULL);
  self->host = g_object_ref (host);
  self->machine = g_object_ref (machine);
  self->object_path = g_strdup (g_dbus_proxy_get_object_path (G_DBUS_PROXY (machine)));

  vireo_settings_hardware_set_ranges (self->hardware_page);

  on_settings_changed (self);
  self->syncing--;
  on_name_changed_remotely (self);
  update_lock (self);

  g_signal_connect_swapped (machine, "notify::settings", G_CALLBACK (on_settings_changed), self);
  g_signal_connect_swapped (machine, "notify::state", G_CALLBACK (update_lock), self);
  g_signal_connect_swapped (machine, "notify::name", G_CALLBACK (on_name_changed_remotely), self);
  g_signal_connect_swapped (host, "notify::manager", G_CALLBACK (describe_pages), self);
  g_signal_connect_swapped (vireo_host_get_machines (host), "items-changed", G_CALLBACK (on_machines_changed),
                            self);
  return self;
}

/* ---- for the tests (vireo-machine-settings-private.h) ---- */

void
vireo_machine_settings_add_disk (VireoMachineSettings *self, const char *path)
{
  g_return_if_fail (VIREO_IS_MACHINE_SETTINGS (self));

  vireo_settings_disks_add_image (self->disks_page, path);
}

GtkWidget *
vireo_machine_settings_get_disk_row (VireoMachineSettings *self, guint index)
{
  g_return_val_if_fail (VIREO_IS_MACHINE_SETTINGS (self), NULL);

  return vireo_settings_disks_get_row (self->disks_page, index);
}

void
vireo_machine_settings_change_medium (VireoMachineSettings *self, const char *target, const char *path)
{
  g_return_if_fail (VIREO_IS_MACHINE_SETTINGS (self));

  vireo_settings_disks_change_medium (self->disks_page, target, path);
}

AdwMessageDialog *
vireo_machine_settings_get_disk_dialog (VireoMachineSettings *self)
{
  g_return_val_if_fail (VIREO_IS_MACHINE_SETTINGS (self), NULL);

  return vireo_settings_disks_get_dialog (self->disks_page);
}

GtkWidget *
vireo_machine_settings_get_disks_page (VireoMachineSettings *self)
{
  g_return_val_if_fail (VIREO_IS_MACHINE_SETTINGS (self), NULL);

  return GTK_WIDGET (self->disks_page);
}

GtkWidget *
vireo_machine_settings_get_network_page (VireoMachineSettings *self)
{
  g_return_val_if_fail (VIREO_IS_MACHINE_SETTINGS (self), NULL);

  return GTK_WIDGET (self->network_page);
}

GObject *
vireo_machine_settings_get_part (VireoMachineSettings *self, const char *name)
{
  g_return_val_if_fail (VIREO_IS_MACHINE_SETTINGS (self), NULL);

  for (guint i = 0; i < N_PAGES; i++)
    {
      GObject *part = gtk_widget_get_template_child (GTK_WIDGET (self->pages[i]),
                                                     G_OBJECT_TYPE (self->pages[i]), name);
      if (part != NULL)
        return part;
    }
  return NULL;
}
