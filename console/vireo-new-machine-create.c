/* vireo-new-machine-create.c — the New Machine wizard's Create: the settings for Manager.CreateMachine, then
 * for an ISO's machine a new disk (Machine.CreateDisk) beside the CD-ROM holding the ISO, or for an imported
 * image its copy (Machine.ImportDisk) in place of a stand-in drive; progress meanwhile, and a half-made
 * machine deleted when a step fails. */
#include "vireo-new-machine-private.h"

#include <glib/gi18n.h>
#include <string.h>

#include "vireo-checks.h"
#include "vireo-format.h"
#include "vireo-machine-calls.h"
#include "vireo-remote-files.h"

/* The stand-in drive of a machine whose disk is being copied. */
#define PLACEHOLDER_TARGET "sdz"

/* ---- creating ---- */

static GVariant *
build_settings (VireoNewMachine *self)
{
  g_auto (GVariantDict) dict = G_VARIANT_DICT_INIT (NULL);
  g_autofree char *name = trimmed_text (self->name_row);

  g_variant_dict_insert (&dict, "name", "s", name);
  g_variant_dict_insert (&dict, "memory-mib", "t", memory_mib (self));
  g_variant_dict_insert (&dict, "vcpus", "u", vcpus (self));
  if (boots_kernel (self))
    {
      g_autofree char *kernel = trimmed_text (self->kernel_row);
      g_autofree char *initrd = trimmed_text (self->initrd_row);

      g_variant_dict_insert (&dict, "boot", "s", "kernel");
      g_variant_dict_insert (&dict, "kernel", "s", kernel);
      g_variant_dict_insert (&dict, "initrd", "s", initrd);
      g_variant_dict_insert (&dict, "cmdline", "s", gtk_editable_get_text (GTK_EDITABLE (self->cmdline_row)));
    }
  else if (imports_image (self))
    {
      /* A machine that boots from disks needs one to be defined: an empty CD drive stands in until the copy
       * is made (on_new_machine_proxy()), then goes. */
      g_auto (GVariantBuilder) disks = G_VARIANT_BUILDER_INIT (G_VARIANT_TYPE ("aa{sv}"));

      g_variant_builder_open (&disks, G_VARIANT_TYPE_VARDICT);
      g_variant_builder_add (&disks, "{sv}", "path", g_variant_new_string (""));
      g_variant_builder_add (&disks, "{sv}", "device", g_variant_new_string ("cdrom"));
      g_variant_builder_add (&disks, "{sv}", "bus", g_variant_new_string ("sata"));
      g_variant_builder_add (&disks, "{sv}", "target", g_variant_new_string (PLACEHOLDER_TARGET));
      g_variant_builder_close (&disks);
      g_variant_dict_insert (&dict, "boot", "s", "disk");
      g_variant_dict_insert_value (&dict, "disks", g_variant_builder_end (&disks));
    }
  else if (installs_from_iso (self))
    {
      /* The CD drive holding the ISO; the new disk comes once the machine exists (on_new_machine_proxy()). */
      g_autofree char *iso = trimmed_text (self->iso_row);
      g_auto (GVariantBuilder) disks = G_VARIANT_BUILDER_INIT (G_VARIANT_TYPE ("aa{sv}"));

      g_variant_builder_open (&disks, G_VARIANT_TYPE_VARDICT);
      g_variant_builder_add (&disks, "{sv}", "path", g_variant_new_string (iso));
      g_variant_builder_add (&disks, "{sv}", "format", g_variant_new_string ("raw"));
      g_variant_builder_add (&disks, "{sv}", "readonly", g_variant_new_boolean (TRUE));
      g_variant_builder_add (&disks, "{sv}", "device", g_variant_new_string ("cdrom"));
      g_variant_builder_add (&disks, "{sv}", "bus", g_variant_new_string ("sata"));
      g_variant_builder_add (&disks, "{sv}", "boot-order", g_variant_new_uint32 (2));
      g_variant_builder_close (&disks);
      g_variant_dict_insert (&dict, "boot", "s", "disk");
      g_variant_dict_insert_value (&dict, "disks", g_variant_builder_end (&disks));
    }
  else
    {
      g_autofree char *image = trimmed_text (self->image_row);
      /* A remote host's image cannot be read from here: its service tells the format itself. */
      const char *format = vireo_host_files_are_remote (self->host) ? NULL
                                                                    : vireo_detect_image_format (image);
      g_auto (GVariantBuilder) disks = G_VARIANT_BUILDER_INIT (G_VARIANT_TYPE ("aa{sv}"));

      g_variant_builder_open (&disks, G_VARIANT_TYPE_VARDICT);
      g_variant_builder_add (&disks, "{sv}", "path", g_variant_new_string (image));
      if (!vireo_host_files_are_remote (self->host))
        g_variant_builder_add (&disks, "{sv}", "format", g_variant_new_string (format ? format : "raw"));
      g_variant_builder_add (&disks, "{sv}", "readonly",
                             g_variant_new_boolean (gtk_switch_get_active (self->readonly_switch)));
      g_variant_builder_close (&disks);
      g_variant_dict_insert (&dict, "boot", "s", "disk");
      g_variant_dict_insert_value (&dict, "disks", g_variant_builder_end (&disks));
    }
  g_variant_dict_insert (&dict, "network", "s", network (self));
  g_variant_dict_insert (&dict, "display", "b", gtk_switch_get_active (self->display_switch));
  return g_variant_dict_end (&dict);
}

static void
set_creating (VireoNewMachine *self, gboolean creating)
{
  self->creating = creating;
  gtk_widget_set_visible (GTK_WIDGET (self->spinner), creating);
  gtk_spinner_set_spinning (self->spinner, creating);
  gtk_widget_set_sensitive (GTK_WIDGET (self->carousel), !creating);
  if (!creating)
    {
      g_clear_handle_id (&self->pulse_timeout, g_source_remove);
      gtk_widget_set_visible (self->progress_group, FALSE);
    }
  vireo_new_machine_update_buttons (self);
}

/* ---- an ISO's machine: its disk and CD drive ---- */

static gboolean
pulse_progress (gpointer data)
{
  VireoNewMachine *self = data;

  gtk_progress_bar_pulse (self->progress_bar);
  return G_SOURCE_CONTINUE;
}

static void
show_progress (VireoNewMachine *self, const char *text)
{
  gtk_progress_bar_set_text (self->progress_bar, text);
  gtk_widget_set_visible (self->progress_group, TRUE);
  /* Pulses until the service reports how far it is (DiskProgress). */
  if (self->pulse_timeout == 0)
    self->pulse_timeout = g_timeout_add (100, pulse_progress, self);
}

static void
on_disk_progress (VireoDBusMachine *machine, const char *operation, const char *target, double fraction,
                  VireoNewMachine *self)
{
  g_clear_handle_id (&self->pulse_timeout, g_source_remove);
  gtk_progress_bar_set_fraction (self->progress_bar, CLAMP (fraction, 0.0, 1.0));
}

void
vireo_new_machine_forget_new_machine (VireoNewMachine *self)
{
  if (self->new_machine != NULL && self->progress_handler != 0)
    g_signal_handler_disconnect (self->new_machine, self->progress_handler);
  self->progress_handler = 0;
  g_clear_object (&self->new_machine);
  g_clear_pointer (&self->new_machine_path, g_free);
}

/* A step after CreateMachine failed: the half-made machine goes (with the disk it may have got in its own
 * folder, never the ISO), and the summary says why. */
static void
install_failed (VireoNewMachine *self, const GError *error, const char *method)
{
  g_autofree char *message = vireo_disk_call_error (error, method);

  if (self->new_machine != NULL)
    vireo_dbus_machine_call_delete (self->new_machine, TRUE, G_DBUS_CALL_FLAGS_NONE, -1, NULL, NULL, NULL);
  vireo_new_machine_forget_new_machine (self);
  g_free (self->service_error);
  /* Translators: %s is the service's own explanation. */
  self->service_error = g_strdup_printf (_ ("The machine could not be created: %s"), message);
  set_creating (self, FALSE);
}

static void
install_done (VireoNewMachine *self)
{
  g_autofree char *path = g_strdup (self->new_machine_path);

  vireo_new_machine_forget_new_machine (self);
  set_creating (self, FALSE);
  vireo_new_machine_emit_created (self, path);
  gtk_window_destroy (GTK_WINDOW (self));
}

static void
on_drives_updated (GObject *source, GAsyncResult *result, gpointer data)
{
  g_autoptr (GError) error = NULL;

  if (!vireo_dbus_machine_call_update_finish (VIREO_DBUS_MACHINE (source), result, &error)
      && g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;
  if (error != NULL)
    install_failed (VIREO_NEW_MACHINE (data), error, "Update");
  else
    install_done (VIREO_NEW_MACHINE (data));
}

/* The machine's disks with the new one first in the boot order, the CD (made with order 2) after it.  A blank
 * disk has no boot sector, so SeaBIOS goes on to the CD and the installer starts; once the system is
 * installed, the disk starts it and the installer no longer comes up at each boot. */
static GVariant *
disks_with_boot_order (VireoNewMachine *self, const char *disk_target)
{
  g_autoptr (GVariant) settings = vireo_dbus_machine_dup_settings (self->new_machine);
  g_autoptr (GVariant) disks = settings
                                   ? g_variant_lookup_value (settings, "disks", G_VARIANT_TYPE ("aa{sv}"))
                                   : NULL;
  g_auto (GVariantBuilder) builder = G_VARIANT_BUILDER_INIT (G_VARIANT_TYPE ("aa{sv}"));

  for (gsize i = 0; disks != NULL && i < g_variant_n_children (disks); i++)
    {
      g_autoptr (GVariant) disk = g_variant_get_child_value (disks, i);
      const char *target = NULL;
      GVariantDict dict;

      g_variant_dict_init (&dict, disk);
      if (g_variant_lookup (disk, "target", "&s", &target) && g_strcmp0 (target, disk_target) == 0)
        g_variant_dict_insert (&dict, "boot-order", "u", 1);
      g_variant_builder_add_value (&builder, g_variant_dict_end (&dict));
    }
  return g_variant_builder_end (&builder);
}

static void
on_placeholder_detached (GObject *source, GAsyncResult *result, gpointer data)
{
  g_autoptr (GError) error = NULL;

  if (!vireo_dbus_machine_call_detach_disk_finish (VIREO_DBUS_MACHINE (source), result, &error)
      && g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;
  if (error != NULL)
    install_failed (VIREO_NEW_MACHINE (data), error, "DetachDisk");
  else
    install_done (VIREO_NEW_MACHINE (data));
}

static void
on_disk_imported (GObject *source, GAsyncResult *result, gpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *target = NULL;
  VireoNewMachine *self;

  if (!vireo_dbus_machine_call_import_disk_finish (VIREO_DBUS_MACHINE (source), &target, result, &error)
      && g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;
  self = VIREO_NEW_MACHINE (data);
  if (error != NULL)
    {
      install_failed (self, error, "ImportDisk");
      return;
    }
  gtk_progress_bar_set_fraction (self->progress_bar, 1.0);
  vireo_dbus_machine_call_detach_disk (self->new_machine, PLACEHOLDER_TARGET, FALSE, G_DBUS_CALL_FLAGS_NONE,
                                       -1, self->cancellable, on_placeholder_detached, self);
}

static void
on_disk_created (GObject *source, GAsyncResult *result, gpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *target = NULL;
  VireoNewMachine *self;
  g_auto (GVariantDict) update = G_VARIANT_DICT_INIT (NULL);

  if (!vireo_dbus_machine_call_create_disk_finish (VIREO_DBUS_MACHINE (source), &target, result, &error)
      && g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;
  self = VIREO_NEW_MACHINE (data);
  if (error != NULL)
    {
      install_failed (self, error, "CreateDisk");
      return;
    }
  gtk_progress_bar_set_fraction (self->progress_bar, 1.0);
  show_progress (self, _ ("Setting the boot order…"));
  g_variant_dict_insert_value (&update, "disks", disks_with_boot_order (self, target));
  vireo_dbus_machine_call_update (self->new_machine, g_variant_dict_end (&update), G_DBUS_CALL_FLAGS_NONE, -1,
                                  self->cancellable, on_drives_updated, self);
}

static void
on_new_machine_proxy (GObject *source, GAsyncResult *result, gpointer data)
{
  g_autoptr (GError) error = NULL;
  VireoDBusMachine *machine = vireo_dbus_machine_proxy_new_finish (result, &error);
  VireoNewMachine *self;
  g_auto (GVariantDict) options = G_VARIANT_DICT_INIT (NULL);
  gboolean windows;

  if (machine == NULL && g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;
  self = VIREO_NEW_MACHINE (data);
  if (machine == NULL)
    {
      install_failed (self, error, "CreateDisk");
      return;
    }
  self->new_machine = machine;
  self->progress_handler = g_signal_connect (machine, "disk-progress", G_CALLBACK (on_disk_progress), self);
  if (imports_image (self))
    {
      g_autofree char *image = trimmed_text (self->image_row);

      g_variant_dict_insert (&options, "format", "s", "qcow2");
      show_progress (self, _ ("Copying the disk image…"));
      /* As long as the copy takes: the service reports how far it is. */
      vireo_dbus_machine_call_import_disk (machine, image, g_variant_dict_end (&options),
                                           G_DBUS_CALL_FLAGS_NONE, G_MAXINT, self->cancellable,
                                           on_disk_imported, self);
      return;
    }
  /* Windows has no virtio driver on its installation media; everything else libosinfo knows has. */
  windows = self->media != NULL && g_strcmp0 (self->media->distro, "win") == 0;
  g_variant_dict_insert (&options, "format", "s", "qcow2");
  g_variant_dict_insert (&options, "bus", "s", windows ? "sata" : "virtio");
  show_progress (self, _ ("Creating the disk…"));
  vireo_dbus_machine_call_create_disk (machine, disk_size_gib (self) << 30, g_variant_dict_end (&options),
                                       G_DBUS_CALL_FLAGS_NONE, -1, self->cancellable, on_disk_created, self);
}

static void
install_begin (VireoNewMachine *self, const char *path)
{
  GDBusProxy *manager = G_DBUS_PROXY (vireo_host_get_manager (self->host));

  self->new_machine_path = g_strdup (path);
  if (manager == NULL)
    {
      g_autoptr (GError) error = g_error_new_literal (G_IO_ERROR, G_IO_ERROR_CLOSED,
                                                      _ ("The Vireo service stopped."));
      install_failed (self, error, "CreateDisk");
      return;
    }
  show_progress (self, _ ("Creating the machine…"));
  vireo_dbus_machine_proxy_new (g_dbus_proxy_get_connection (manager), G_DBUS_PROXY_FLAGS_NONE,
                                g_dbus_proxy_get_name (manager), path, self->cancellable,
                                on_new_machine_proxy, self);
}

static void
on_machine_created (GObject *source, GAsyncResult *result, gpointer data)
{
  VireoNewMachine *self;
  g_autoptr (GError) error = NULL;
  g_autofree char *path = NULL;

  if (!vireo_dbus_manager_call_create_machine_finish (VIREO_DBUS_MANAGER (source), &path, result, &error)
      && g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return; /* the wizard is gone */

  self = VIREO_NEW_MACHINE (data);
  if (error == NULL && (installs_from_iso (self) || imports_image (self)))
    {
      install_begin (self, path);
      return;
    }
  set_creating (self, FALSE);
  if (error != NULL)
    {
      g_dbus_error_strip_remote_error (error);
      g_free (self->service_error);
      /* Translators: %s is the service's own explanation. */
      self->service_error = g_strdup_printf (_ ("The machine could not be created: %s"), error->message);
      vireo_new_machine_update_buttons (self);
      return;
    }
  vireo_new_machine_emit_created (self, path);
  gtk_window_destroy (GTK_WINDOW (self));
}

void
vireo_new_machine_create (VireoNewMachine *self)
{
  VireoDBusManager *manager = vireo_host_get_manager (self->host);

  vireo_new_machine_update_buttons (self);
  if (self->creating || self->page != PAGE_SUMMARY || !gtk_widget_get_sensitive (self->create_button)
      || manager == NULL)
    return;
  g_clear_pointer (&self->service_error, g_free);
  set_creating (self, TRUE);
  vireo_dbus_manager_call_create_machine (manager, build_settings (self), G_DBUS_CALL_FLAGS_NONE, -1,
                                          self->cancellable, on_machine_created, self);
}
