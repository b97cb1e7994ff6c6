/* vireo-machine-calls.c — the Machine methods behind the user's actions, called through the generated proxy
 * (never by method name) with interactive authorization allowed, so that a system machine can ask polkit;
 * the manager window and the connection window share them, and word their failures alike. */
#include "vireo-machine-calls.h"

#include <glib/gi18n.h>

#include "vireo-format.h"

typedef gboolean (*MachineFinish) (VireoDBusMachine *proxy, GAsyncResult *result, GError **error);

typedef struct
{
  GtkWidget *owner;
  VireoMachineCallFailed failed;
  MachineFinish finish;
  char *what; /* "Could not start “demo”" */
} Call;

static Call *
call_new (GtkWidget *owner, VireoMachineCallFailed failed, MachineFinish finish, char *what)
{
  Call *call = g_new0 (Call, 1);

  call->owner = g_object_ref (owner);
  call->failed = failed;
  call->finish = finish;
  call->what = what;
  return call;
}

static void
call_free (Call *call)
{
  g_object_unref (call->owner);
  g_free (call->what);
  g_free (call);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (Call, call_free)

static void
on_call_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (Call) call = user_data;
  g_autoptr (GError) error = NULL;
  g_autofree char *message = NULL;

  if (call->finish (VIREO_DBUS_MACHINE (source), result, &error))
    return;
  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;
  g_dbus_error_strip_remote_error (error);
  message = g_strdup_printf ("%s: %s", call->what, error->message);
  call->failed (call->owner, message);
}

#define INTERACTIVE G_DBUS_CALL_FLAGS_ALLOW_INTERACTIVE_AUTHORIZATION

typedef void (*MachineCall) (VireoDBusMachine *proxy, GDBusCallFlags flags, int timeout_msec,
                             GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data);

/* A method without arguments; @what (owned) starts the sentence that reports its failure. */
static void
call_simple (VireoDBusMachine *machine, MachineCall call, MachineFinish finish, char *what, GtkWidget *owner,
             VireoMachineCallFailed failed)
{
  call (machine, INTERACTIVE, -1, NULL, on_call_done, call_new (owner, failed, finish, what));
}

gboolean
vireo_machine_call_verb (VireoDBusMachine *machine, const char *verb, GtkWidget *owner,
                         VireoMachineCallFailed failed)
{
  const char *name;

  g_return_val_if_fail (VIREO_DBUS_IS_MACHINE (machine), FALSE);
  g_return_val_if_fail (verb != NULL, FALSE);
  g_return_val_if_fail (GTK_IS_WIDGET (owner), FALSE);

  name = vireo_dbus_machine_get_name (machine);
  if (g_str_equal (verb, "start"))
    call_simple (machine, vireo_dbus_machine_call_start, vireo_dbus_machine_call_start_finish,
                 g_strdup_printf (_ ("Could not start “%s”"), name), owner, failed);
  else if (g_str_equal (verb, "turn-off"))
    call_simple (machine, vireo_dbus_machine_call_turn_off, vireo_dbus_machine_call_turn_off_finish,
                 g_strdup_printf (_ ("Could not turn off “%s”"), name), owner, failed);
  else if (g_str_equal (verb, "save"))
    call_simple (machine, vireo_dbus_machine_call_save, vireo_dbus_machine_call_save_finish,
                 g_strdup_printf (_ ("Could not save “%s”"), name), owner, failed);
  else if (g_str_equal (verb, "pause"))
    call_simple (machine, vireo_dbus_machine_call_pause, vireo_dbus_machine_call_pause_finish,
                 g_strdup_printf (_ ("Could not pause “%s”"), name), owner, failed);
  else if (g_str_equal (verb, "resume"))
    call_simple (machine, vireo_dbus_machine_call_resume, vireo_dbus_machine_call_resume_finish,
                 g_strdup_printf (_ ("Could not resume “%s”"), name), owner, failed);
  else if (g_str_equal (verb, "reset"))
    call_simple (machine, vireo_dbus_machine_call_reset, vireo_dbus_machine_call_reset_finish,
                 g_strdup_printf (_ ("Could not reset “%s”"), name), owner, failed);
  /* Shut Down presses the guest's power button; a timeout of 0 lets the service wait its default. */
  else if (g_str_equal (verb, "shutdown"))
    vireo_dbus_machine_call_shutdown (machine, 0, INTERACTIVE, -1, NULL, on_call_done,
                                      call_new (owner, failed, vireo_dbus_machine_call_shutdown_finish,
                                                g_strdup_printf (_ ("“%s” did not shut down"), name)));
  else
    return FALSE;
  return TRUE;
}

void
vireo_machine_call_rename (VireoDBusMachine *machine, const char *name, GtkWidget *owner,
                           VireoMachineCallFailed failed)
{
  g_return_if_fail (VIREO_DBUS_IS_MACHINE (machine));
  g_return_if_fail (name != NULL);
  g_return_if_fail (GTK_IS_WIDGET (owner));

  vireo_dbus_machine_call_rename (
      machine, name, INTERACTIVE, -1, NULL, on_call_done,
      call_new (owner, failed, vireo_dbus_machine_call_rename_finish,
                g_strdup_printf (_ ("Could not rename “%s”"), vireo_dbus_machine_get_name (machine))));
}

void
vireo_machine_call_delete (VireoDBusMachine *machine, gboolean delete_disks, GtkWidget *owner,
                           VireoMachineCallFailed failed)
{
  g_return_if_fail (VIREO_DBUS_IS_MACHINE (machine));
  g_return_if_fail (GTK_IS_WIDGET (owner));

  vireo_dbus_machine_call_delete (
      machine, delete_disks, INTERACTIVE, -1, NULL, on_call_done,
      call_new (owner, failed, vireo_dbus_machine_call_delete_finish,
                g_strdup_printf (_ ("Could not delete “%s”"), vireo_dbus_machine_get_name (machine))));
}

char *
vireo_disk_call_error (const GError *error, const char *method)
{
  g_autoptr (GError) copy = NULL;

  /* A service from before the disk methods: say what to do rather than "No such method". */
  if (g_dbus_error_is_remote_error (error))
    {
      g_autofree char *name = g_dbus_error_get_remote_error (error);

      if (g_strcmp0 (name, "org.freedesktop.DBus.Error.UnknownMethod") == 0)
        /* Translators: %s is a D-Bus method's name, e.g. CreateDisk. */
        return g_strdup_printf (_ ("This Vireo service cannot manage disks yet (it has no %s). Update Vireo "
                                   "and restart its service to use disks and CD drives here."),
                                method);
    }
  copy = g_error_copy (error);
  g_dbus_error_strip_remote_error (copy);
  return g_strdup (copy->message);
}

static void
on_medium_changed (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (Call) call = user_data;
  g_autoptr (GVariant) reply = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *reason = NULL;
  g_autofree char *message = NULL;

  reply = g_dbus_proxy_call_finish (G_DBUS_PROXY (source), result, &error);
  if (reply != NULL || g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;
  reason = vireo_disk_call_error (error, "ChangeMedium");
  message = g_strdup_printf ("%s: %s", call->what, reason);
  call->failed (call->owner, message);
}

/* The "disks" setting with the CD drive @target holding @path, or NULL when there is no such drive. */
static GVariant *
disks_with_medium (VireoDBusMachine *machine, const char *target, const char *path)
{
  GVariant *settings = vireo_dbus_machine_get_settings (machine);
  g_autoptr (GVariant) disks = settings
                                   ? g_variant_lookup_value (settings, "disks", G_VARIANT_TYPE ("aa{sv}"))
                                   : NULL;
  g_auto (GVariantBuilder) builder = G_VARIANT_BUILDER_INIT (G_VARIANT_TYPE ("aa{sv}"));
  gboolean found = FALSE;

  for (gsize i = 0; disks != NULL && i < g_variant_n_children (disks); i++)
    {
      g_autoptr (GVariant) disk = g_variant_get_child_value (disks, i);
      const char *other = NULL;
      GVariantDict dict;

      g_variant_dict_init (&dict, disk);
      if (g_variant_lookup (disk, "target", "&s", &other) && g_strcmp0 (other, target) == 0)
        {
          g_variant_dict_insert (&dict, "path", "s", path);
          found = TRUE;
        }
      g_variant_builder_add_value (&builder, g_variant_dict_end (&dict));
    }
  if (!found)
    return NULL;
  return g_variant_builder_end (&builder);
}

void
vireo_machine_call_change_medium (VireoDBusMachine *machine, const char *target, const char *path,
                                  GtkWidget *owner, VireoMachineCallFailed failed)
{
  const char *state;
  Call *call;

  g_return_if_fail (VIREO_DBUS_IS_MACHINE (machine));
  g_return_if_fail (target != NULL && path != NULL);
  g_return_if_fail (GTK_IS_WIDGET (owner));

  state = vireo_dbus_machine_get_state (machine);
  call = call_new (owner, failed, NULL,
                   *path ? g_strdup_printf (_ ("Could not change the CD/DVD of “%s”"),
                                            vireo_dbus_machine_get_name (machine))
                         : g_strdup_printf (_ ("Could not eject the CD/DVD of “%s”"),
                                            vireo_dbus_machine_get_name (machine)));
  /* Off, the medium is part of the definition (Update); with a process, the drive's tray opens and closes. */
  if (vireo_state_can_start (state))
    {
      GVariant *disks = disks_with_medium (machine, target, path);
      g_auto (GVariantDict) update = G_VARIANT_DICT_INIT (NULL);

      if (disks == NULL)
        {
          call_free (call);
          return;
        }
      g_variant_dict_insert_value (&update, "disks", disks);
      g_dbus_proxy_call (G_DBUS_PROXY (machine), "Update",
                         g_variant_new ("(@a{sv})", g_variant_dict_end (&update)), INTERACTIVE, -1, NULL,
                         on_medium_changed, call);
    }
  else
    g_dbus_proxy_call (G_DBUS_PROXY (machine), "ChangeMedium", g_variant_new ("(ss)", target, path),
                       INTERACTIVE, -1, NULL, on_medium_changed, call);
}
