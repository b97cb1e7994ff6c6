/* machine.c — one machine in vireod: the org.vireo.Vireo1.Machine methods, its state, and changes
 * to its definition.  The vireo-worker process that runs it is machine-worker.c.
 *
 * Every method answers asynchronously: authorization, the worker's replies and the guest's own pace
 * never block the bus.  vireod runs no guest-facing code; the worker does.
 */
#include "machine-private.h"
#include "vireo-error.h"
#include "open-as.h"

#include <gio/gunixfdlist.h>

#define SHUTDOWN_DEFAULT_TIMEOUT 120 /* seconds */
#define WORKER_SAVE_TIMEOUT      (10 * 60 * 1000)

G_DEFINE_TYPE (VireoMachine, vireo_machine, G_TYPE_OBJECT)

enum
{
  SIGNAL_DELETED,
  N_SIGNALS,
};
static guint signals[N_SIGNALS];

char *
vireo_machine_object_path (const char *uuid)
{
  g_autofree char *escaped = g_strdup (uuid);
  g_strdelimit (escaped, "-", '_');
  return g_strconcat ("/org/vireo/Vireo1/machines/", escaped, NULL);
}

void
vireo_machine_set_state (VireoMachine *machine, const char *new_state)
{
  if (g_strcmp0 (state (machine), new_state) == 0)
    return;
  g_debug ("%s: %s → %s", machine->config->name, state (machine), new_state);
  vireo_dbus_machine_set_state (machine->iface, new_state);
  if (!g_str_equal (new_state, "running") && !g_str_equal (new_state, "paused")
      && !g_str_equal (new_state, "stopping") && !g_str_equal (new_state, "saving"))
    {
      vireo_dbus_machine_set_uptime (machine->iface, 0);
      vireo_dbus_machine_set_cpu_usage (machine->iface, 0.0);
    }
  /* Announce it now rather than from an idle: a reply sent next must not overtake it, or a caller
   * that reads State after Pause returns would still see "running". */
  g_dbus_interface_skeleton_flush (G_DBUS_INTERFACE_SKELETON (machine->iface));
}

static void
publish_config (VireoMachine *machine)
{
  const VireoMachineConfig *c = machine->config;
  vireo_dbus_machine_set_name (machine->iface, c->name);
  vireo_dbus_machine_set_uuid (machine->iface, c->uuid);
  vireo_dbus_machine_set_memory_mib (machine->iface, c->memory_mib);
  vireo_dbus_machine_set_vcpus (machine->iface, c->vcpus);
  vireo_dbus_machine_set_notes (machine->iface, c->notes);
  vireo_dbus_machine_set_settings (machine->iface, vireo_machine_config_to_settings (c));
  /* Before the reply to Update or Rename, like vireo_machine_set_state(). */
  g_dbus_interface_skeleton_flush (G_DBUS_INTERFACE_SKELETON (machine->iface));
}

/* --- authorization helper --- */

typedef VireoAuthorizedFunc AuthorizedFunc;

typedef struct
{
  VireoMachine *machine;
  GDBusMethodInvocation *invocation;
  AuthorizedFunc func;
} AuthCall;

static void
on_authorized (GObject *source, GAsyncResult *result, gpointer data)
{
  AuthCall *call = data;
  g_autoptr (GError) error = NULL;

  if (vireo_authority_check_finish (call->machine->daemon->authority, result, &error))
    call->func (call->machine, call->invocation);
  else
    g_dbus_method_invocation_return_gerror (call->invocation, error);
  g_object_unref (call->machine);
  g_object_unref (call->invocation);
  g_free (call);
}

static void
authorize (VireoMachine *machine, GDBusMethodInvocation *invocation, const char *action, AuthorizedFunc func)
{
  AuthCall *call = g_new0 (AuthCall, 1);
  call->machine = g_object_ref (machine);
  call->invocation = g_object_ref (invocation);
  call->func = func;
  vireo_authority_check_async (machine->daemon->authority, invocation, action, NULL, on_authorized, call);
}

void
vireo_machine_authorize (VireoMachine *machine, GDBusMethodInvocation *invocation, const char *action,
                         VireoAuthorizedFunc func)
{
  authorize (machine, invocation, action, func);
}

void
vireo_machine_return_error (GDBusMethodInvocation *invocation, VireoError code, const char *format, ...)
{
  va_list args;
  g_autofree char *message = NULL;

  va_start (args, format);
  message = g_strdup_vprintf (format, args);
  va_end (args);
  g_dbus_method_invocation_return_error_literal (invocation, VIREO_ERROR, code, message);
}

static gboolean
require_active (VireoMachine *machine, GDBusMethodInvocation *invocation)
{
  if (is_active (machine) && !state_is (machine, "starting"))
    return TRUE;
  vireo_machine_return_error (invocation, VIREO_ERROR_INVALID_STATE, "“%s” is not running (it is %s)",
                              machine->config->name, state (machine));
  return FALSE;
}

/* --- Start (the worker side is in machine-worker.c) --- */

static gboolean
handle_start (VireoDBusMachine *iface, GDBusMethodInvocation *invocation, VireoMachine *machine)
{
  authorize (machine, invocation, VIREO_ACTION_START_STOP, vireo_machine_checkpoints_start);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

void
vireo_machine_start_unattended (VireoMachine *machine)
{
  vireo_machine_checkpoints_start (machine, NULL);
}

/* --- calls forwarded to the worker --- */

typedef void (*WorkerCallFunc) (VireoWorker1 *worker, GCancellable *cancellable, GAsyncReadyCallback cb,
                                gpointer data);
typedef gboolean (*WorkerFinishFunc) (VireoWorker1 *worker, GAsyncResult *result, GError **error);

typedef struct
{
  VireoMachine *machine;
  GDBusMethodInvocation *invocation;
  WorkerFinishFunc finish;
  const char *state_after; /* the machine's state once the worker agreed, or NULL */
} WorkerCall;

static void
on_worker_call_done (GObject *source, GAsyncResult *result, gpointer data)
{
  WorkerCall *call = data;
  g_autoptr (GError) error = NULL;

  if (call->finish (VIREO_WORKER1 (source), result, &error))
    {
      if (call->state_after && is_active (call->machine))
        vireo_machine_set_state (call->machine, call->state_after);
      g_dbus_method_invocation_return_value (call->invocation, NULL);
    }
  else
    {
      g_dbus_error_strip_remote_error (error);
      g_dbus_method_invocation_return_gerror (call->invocation, error);
    }
  g_object_unref (call->machine);
  g_object_unref (call->invocation);
  g_free (call);
}

static void
forward (VireoMachine *machine, GDBusMethodInvocation *invocation, WorkerCallFunc func,
         WorkerFinishFunc finish, const char *state_after)
{
  WorkerCall *call = g_new0 (WorkerCall, 1);
  call->machine = g_object_ref (machine);
  call->invocation = g_object_ref (invocation);
  call->finish = finish;
  call->state_after = state_after;
  func (machine->worker, machine->cancellable, on_worker_call_done, call);
}

static void
pause_machine (VireoMachine *machine, GDBusMethodInvocation *invocation)
{
  if (!require_active (machine, invocation))
    return;
  if (state_is (machine, "paused"))
    {
      vireo_machine_return_error (invocation, VIREO_ERROR_INVALID_STATE, "“%s” is already paused",
                                  machine->config->name);
      return;
    }
  forward (machine, invocation, vireo_worker1_call_pause, vireo_worker1_call_pause_finish, "paused");
}

static gboolean
handle_pause (VireoDBusMachine *iface, GDBusMethodInvocation *invocation, VireoMachine *machine)
{
  authorize (machine, invocation, VIREO_ACTION_START_STOP, pause_machine);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

static void
resume_machine (VireoMachine *machine, GDBusMethodInvocation *invocation)
{
  if (!require_active (machine, invocation))
    return;
  if (!state_is (machine, "paused"))
    {
      vireo_machine_return_error (invocation, VIREO_ERROR_INVALID_STATE, "“%s” is not paused (it is %s)",
                                  machine->config->name, state (machine));
      return;
    }
  forward (machine, invocation, vireo_worker1_call_resume, vireo_worker1_call_resume_finish, "running");
}

static gboolean
handle_resume (VireoDBusMachine *iface, GDBusMethodInvocation *invocation, VireoMachine *machine)
{
  authorize (machine, invocation, VIREO_ACTION_START_STOP, resume_machine);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

static void
reset_machine (VireoMachine *machine, GDBusMethodInvocation *invocation)
{
  if (!require_active (machine, invocation))
    return;
  forward (machine, invocation, vireo_worker1_call_reset, vireo_worker1_call_reset_finish, "running");
}

static gboolean
handle_reset (VireoDBusMachine *iface, GDBusMethodInvocation *invocation, VireoMachine *machine)
{
  authorize (machine, invocation, VIREO_ACTION_START_STOP, reset_machine);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

/* --- calls that wait for the machine to end: TurnOff, Save, Shutdown --- */

static void
on_end_reached (GObject *source, GAsyncResult *result, gpointer data)
{
  GDBusMethodInvocation *invocation = data;
  g_autoptr (GError) error = NULL;

  if (g_task_propagate_boolean (G_TASK (result), &error))
    g_dbus_method_invocation_return_value (invocation, NULL);
  else
    g_dbus_method_invocation_return_gerror (invocation, error);
  g_object_unref (invocation);
}

/* A task completing @invocation once the worker ends with @wanted_reason (NULL: any reason). */
static GTask *
end_task (VireoMachine *machine, GDBusMethodInvocation *invocation, const char *wanted_reason)
{
  GTask *task = g_task_new (machine, NULL, on_end_reached, g_object_ref (invocation));
  g_task_set_task_data (task, g_strdup (wanted_reason), g_free);
  return task;
}

static void
on_ending_call_done (GObject *source, GAsyncResult *result, gpointer data)
{
  g_autoptr (GTask) task = data;
  VireoMachine *machine = g_task_get_source_object (task);
  WorkerFinishFunc finish = g_object_get_data (G_OBJECT (task), "finish");
  const char *restore_state = g_object_get_data (G_OBJECT (task), "restore-state");
  g_autoptr (GError) error = NULL;

  if (finish (VIREO_WORKER1 (source), result, &error))
    return; /* the task completes when the worker reports the end */

  g_dbus_error_strip_remote_error (error);
  if (g_list_find (machine->waiting_for_end, task))
    {
      machine->waiting_for_end = g_list_remove (machine->waiting_for_end, task);
      if (restore_state && is_active (machine))
        vireo_machine_set_state (machine, restore_state);
      g_task_return_error (task, g_steal_pointer (&error));
      g_object_unref (task); /* the waiting list's reference */
    }
}

static void
call_and_wait_for_end (VireoMachine *machine, GDBusMethodInvocation *invocation, WorkerCallFunc func,
                       WorkerFinishFunc finish, const char *wanted_reason, const char *state_during,
                       int timeout_ms)
{
  GTask *task = end_task (machine, invocation, wanted_reason);
  g_object_set_data (G_OBJECT (task), "finish", finish);
  g_object_set_data_full (G_OBJECT (task), "restore-state", g_strdup (state (machine)), g_free);
  vireo_machine_wait_for_end (machine, task);
  if (state_during)
    vireo_machine_set_state (machine, state_during);
  g_dbus_proxy_set_default_timeout (G_DBUS_PROXY (machine->worker), timeout_ms);
  func (machine->worker, machine->cancellable, on_ending_call_done, g_object_ref (task));
  g_dbus_proxy_set_default_timeout (G_DBUS_PROXY (machine->worker), WORKER_CALL_TIMEOUT);
}

static void
turn_off_machine (VireoMachine *machine, GDBusMethodInvocation *invocation)
{
  if (!require_active (machine, invocation))
    return;
  call_and_wait_for_end (machine, invocation, vireo_worker1_call_turn_off, vireo_worker1_call_turn_off_finish,
                         NULL, NULL, WORKER_CALL_TIMEOUT);
}

static gboolean
handle_turn_off (VireoDBusMachine *iface, GDBusMethodInvocation *invocation, VireoMachine *machine)
{
  authorize (machine, invocation, VIREO_ACTION_START_STOP, turn_off_machine);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

static void
save_machine (VireoMachine *machine, GDBusMethodInvocation *invocation)
{
  if (!require_active (machine, invocation))
    return;
  if (state_is (machine, "saving"))
    {
      vireo_machine_return_error (invocation, VIREO_ERROR_INVALID_STATE, "“%s” is already being saved",
                                  machine->config->name);
      return;
    }
  call_and_wait_for_end (machine, invocation, vireo_worker1_call_save, vireo_worker1_call_save_finish,
                         "saved", "saving", WORKER_SAVE_TIMEOUT);
}

static gboolean
handle_save (VireoDBusMachine *iface, GDBusMethodInvocation *invocation, VireoMachine *machine)
{
  authorize (machine, invocation, VIREO_ACTION_START_STOP, save_machine);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

static gboolean
on_shutdown_timeout (gpointer data)
{
  GTask *task = data;
  VireoMachine *machine = g_task_get_source_object (task);
  guint timeout = GPOINTER_TO_UINT (g_object_get_data (G_OBJECT (task), "timeout"));
  GList *link = g_list_find (machine->waiting_for_end, task);

  machine->shutdown_timeout = 0;
  if (link)
    {
      machine->waiting_for_end = g_list_delete_link (machine->waiting_for_end, link);
      if (is_active (machine) && state_is (machine, "stopping"))
        vireo_machine_set_state (machine, g_strcmp0 (vireo_worker1_get_state (machine->worker), "paused") == 0
                                              ? "paused"
                                              : "running");
      g_task_return_new_error (task, VIREO_ERROR, VIREO_ERROR_TIMEOUT,
                               "“%s” did not shut down within %u seconds; it is still running (use "
                               "TurnOff to force it off)",
                               machine->config->name, timeout);
      g_object_unref (task);
    }
  return G_SOURCE_REMOVE;
}

static void
shutdown_machine (VireoMachine *machine, GDBusMethodInvocation *invocation)
{
  guint timeout;
  GTask *task;

  if (!require_active (machine, invocation))
    return;
  if (state_is (machine, "paused"))
    {
      vireo_machine_return_error (invocation, VIREO_ERROR_INVALID_STATE,
                                  "“%s” is paused and cannot react to the power button; resume it first",
                                  machine->config->name);
      return;
    }
  g_variant_get (g_dbus_method_invocation_get_parameters (invocation), "(u)", &timeout);
  if (timeout == 0)
    timeout = SHUTDOWN_DEFAULT_TIMEOUT;

  task = end_task (machine, invocation, "off");
  g_object_set_data (G_OBJECT (task), "finish", vireo_worker1_call_press_power_button_finish);
  g_object_set_data_full (G_OBJECT (task), "restore-state", g_strdup (state (machine)), g_free);
  g_object_set_data (G_OBJECT (task), "timeout", GUINT_TO_POINTER (timeout));
  vireo_machine_wait_for_end (machine, task);
  vireo_machine_set_state (machine, "stopping");
  g_clear_handle_id (&machine->shutdown_timeout, g_source_remove);
  machine->shutdown_timeout = g_timeout_add_seconds (timeout, on_shutdown_timeout, task);
  vireo_worker1_call_press_power_button (machine->worker, machine->cancellable, on_ending_call_done,
                                         g_object_ref (task));
}

static gboolean
handle_shutdown (VireoDBusMachine *iface, GDBusMethodInvocation *invocation, guint timeout,
                 VireoMachine *machine)
{
  authorize (machine, invocation, VIREO_ACTION_START_STOP, shutdown_machine);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

/* --- serial and display --- */

typedef gboolean (*OpenFinishFunc) (VireoWorker1 *worker, GVariant **out_handle, GUnixFDList **out_fds,
                                    GAsyncResult *result, GError **error);

typedef struct
{
  GDBusMethodInvocation *invocation;
  OpenFinishFunc finish;
} OpenCall;

/* Passes the socket a worker opened (serial console or display) on to the caller. */
static void
on_console_opened (GObject *source, GAsyncResult *result, gpointer data)
{
  OpenCall *call = data;
  g_autoptr (GError) error = NULL;
  g_autoptr (GUnixFDList) fds = NULL;
  g_autoptr (GVariant) handle = NULL;

  if (!call->finish (VIREO_WORKER1 (source), &handle, &fds, result, &error))
    {
      g_dbus_error_strip_remote_error (error);
      g_dbus_method_invocation_return_gerror (call->invocation, error);
    }
  else
    g_dbus_method_invocation_return_value_with_unix_fd_list (call->invocation, g_variant_new ("(@h)", handle),
                                                             fds);
  g_object_unref (call->invocation);
  g_free (call);
}

static OpenCall *
open_call_new (GDBusMethodInvocation *invocation, OpenFinishFunc finish)
{
  OpenCall *call = g_new0 (OpenCall, 1);
  call->invocation = g_object_ref (invocation);
  call->finish = finish;
  return call;
}

static void
open_serial (VireoMachine *machine, GDBusMethodInvocation *invocation)
{
  if (!require_active (machine, invocation))
    return;
  gint64 caller = vireo_authority_caller_uid (invocation);

  vireo_worker1_call_open_serial (machine->worker,
                                  caller == VIREO_OWN_UID ? (guint32) geteuid () : (guint32) caller, NULL,
                                  machine->cancellable, on_console_opened,
                                  open_call_new (invocation, vireo_worker1_call_open_serial_finish));
}

static gboolean
handle_open_serial (VireoDBusMachine *iface, GDBusMethodInvocation *invocation, GUnixFDList *fds,
                    VireoMachine *machine)
{
  authorize (machine, invocation, VIREO_ACTION_CONSOLE, open_serial);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

static void
open_display (VireoMachine *machine, GDBusMethodInvocation *invocation)
{
  if (!machine->config->display)
    {
      vireo_machine_return_error (invocation, VIREO_ERROR_NOT_SUPPORTED,
                                  "“%s” has no display; use its serial console", machine->config->name);
      return;
    }
  if (!require_active (machine, invocation))
    return;
  vireo_worker1_call_open_display (machine->worker, NULL, machine->cancellable, on_console_opened,
                                   open_call_new (invocation, vireo_worker1_call_open_display_finish));
}

static gboolean
handle_open_display (VireoDBusMachine *iface, GDBusMethodInvocation *invocation, GUnixFDList *fds,
                     VireoMachine *machine)
{
  authorize (machine, invocation, VIREO_ACTION_CONSOLE, open_display);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

/* --- definition changes --- */

static gboolean
store_config (VireoMachine *machine, VireoMachineConfig *config, GDBusMethodInvocation *invocation)
{
  g_autoptr (GError) error = NULL;

  if (!vireo_machine_store_save (machine->daemon->store, config, &error))
    {
      g_dbus_method_invocation_return_gerror (invocation, error);
      return FALSE;
    }
  vireo_machine_config_free (machine->config);
  machine->config = config;
  publish_config (machine);
  return TRUE;
}

gboolean
vireo_machine_store_config (VireoMachine *machine, VireoMachineConfig *config,
                            GDBusMethodInvocation *invocation)
{
  return store_config (machine, config, invocation);
}

/* Whether @settings name any file of the machine. */
static gboolean
names_files (GVariant *settings)
{
  static const char *const keys[] = { "kernel", "initrd", "disks" };

  for (gsize i = 0; i < G_N_ELEMENTS (keys); i++)
    {
      g_autoptr (GVariant) value = g_variant_lookup_value (settings, keys[i], NULL);
      if (value)
        return TRUE;
    }
  return FALSE;
}

/* An Update of a running machine that changes NICs' "connected": each change goes to the worker
 * (SetLink) before the definition is stored, so what is stored is what the guest sees. */
typedef struct
{
  VireoMachine *machine;
  GDBusMethodInvocation *invocation;
  VireoMachineConfig *config; /* to store */
  guint pending;
  GError *error; /* the first failure */
} LinkUpdate;

static void
link_update_finish (LinkUpdate *update)
{
  if (update->error != NULL)
    g_dbus_method_invocation_return_gerror (update->invocation, update->error);
  else if (!is_active (update->machine))
    vireo_machine_return_error (update->invocation, VIREO_ERROR_INVALID_STATE,
                                "“%s” stopped while its NICs were changed", update->machine->config->name);
  else if (store_config (update->machine, g_steal_pointer (&update->config), update->invocation))
    g_dbus_method_invocation_return_value (update->invocation, NULL);
  g_clear_error (&update->error);
  g_clear_pointer (&update->config, vireo_machine_config_free);
  g_object_unref (update->invocation);
  g_object_unref (update->machine);
  g_free (update);
}

static void
on_link_set (GObject *source, GAsyncResult *result, gpointer data)
{
  LinkUpdate *update = data;
  g_autoptr (GError) error = NULL;

  if (!vireo_worker1_call_set_link_finish (VIREO_WORKER1 (source), result, &error) && update->error == NULL)
    {
      g_dbus_error_strip_remote_error (error);
      update->error = g_error_new (VIREO_ERROR,
                                   error->domain == VIREO_ERROR ? error->code : VIREO_ERROR_FAILED,
                                   "cannot change the link of a NIC: %s", error->message);
    }
  if (--update->pending == 0)
    link_update_finish (update);
}

/* @settings' "nics" for a running machine: only "connected" may differ.  Takes @config. */
static void
update_links (VireoMachine *machine, GDBusMethodInvocation *invocation, VireoMachineConfig *config)
{
  LinkUpdate *update;

  if (!vireo_machine_config_nics_differ_only_in_link (machine->config, config))
    {
      vireo_machine_return_error (invocation, VIREO_ERROR_INVALID_STATE,
                                  "“%s” is running; only “connected” of its NICs may change now (turn it "
                                  "off to change the rest)",
                                  machine->config->name);
      vireo_machine_config_free (config);
      return;
    }
  update = g_new0 (LinkUpdate, 1);
  update->machine = g_object_ref (machine);
  update->invocation = g_object_ref (invocation);
  update->config = config;
  update->pending = 1; /* until every call is made */
  for (guint i = 0; i < config->nics->len; i++)
    {
      const VireoNicConfig *now = g_ptr_array_index (machine->config->nics, i);
      const VireoNicConfig *wanted = g_ptr_array_index (config->nics, i);
      g_autofree char *id = NULL;

      if (now->connected == wanted->connected)
        continue;
      id = g_strdup_printf ("net%u", i);
      update->pending++;
      vireo_worker1_call_set_link (machine->worker, id, wanted->connected, machine->cancellable, on_link_set,
                                   update);
    }
  if (--update->pending == 0)
    link_update_finish (update);
}

static void
update_machine (VireoMachine *machine, GDBusMethodInvocation *invocation)
{
  g_autoptr (GVariant) settings = NULL;
  g_autoptr (VireoMachineConfig) config = vireo_machine_config_copy (machine->config);
  g_autoptr (GError) error = NULL;

  g_variant_get (g_dbus_method_invocation_get_parameters (invocation), "(@a{sv})", &settings);
  if (machine->disk_operation != NULL && g_variant_lookup (settings, "disks", "@aa{sv}", NULL))
    {
      vireo_machine_return_error (invocation, VIREO_ERROR_INVALID_STATE,
                                  "“%s” has a disk operation (%s) under way", machine->config->name,
                                  machine->disk_operation);
      return;
    }
  if (is_active (machine))
    {
      g_autofree char *keys = vireo_machine_config_keys_needing_off (settings);
      /* "nics" alone may change while running, when only links change (update_links). */
      if (keys && strcmp (keys, "nics") == 0)
        {
          if (!vireo_machine_config_apply_settings (config, settings, FALSE, &error))
            {
              g_dbus_method_invocation_return_gerror (invocation, error);
              return;
            }
          if (machine->name_taken
              && machine->name_taken (config->name, config->uuid, machine->name_taken_data))
            {
              vireo_machine_return_error (invocation, VIREO_ERROR_EXISTS,
                                          "another machine is already called “%s”", config->name);
              return;
            }
          update_links (machine, invocation, g_steal_pointer (&config));
          return;
        }
      if (keys)
        {
          vireo_machine_return_error (invocation, VIREO_ERROR_INVALID_STATE,
                                      "“%s” is running; turn it off to change %s", machine->config->name,
                                      keys);
          return;
        }
    }
  /* Whoever names a file now, the machine's files are opened with their rights from now on: checked
   * here, all of them, so a caller cannot keep another user's rights for files they could not open. */
  if (names_files (settings))
    config->files_uid = vireo_authority_caller_uid (invocation);
  if (!vireo_machine_config_apply_settings (config, settings, FALSE, &error)
      || !vireo_machine_config_validate (config, &error)
      || (config->files_uid != machine->config->files_uid
          && !vireo_machine_config_check_files (config, &error)))
    {
      g_dbus_method_invocation_return_gerror (invocation, error);
      return;
    }
  if (machine->name_taken && machine->name_taken (config->name, config->uuid, machine->name_taken_data))
    {
      vireo_machine_return_error (invocation, VIREO_ERROR_EXISTS, "another machine is already called “%s”",
                                  config->name);
      return;
    }
  if (store_config (machine, g_steal_pointer (&config), invocation))
    g_dbus_method_invocation_return_value (invocation, NULL);
}

static gboolean
handle_update (VireoDBusMachine *iface, GDBusMethodInvocation *invocation, GVariant *settings,
               VireoMachine *machine)
{
  authorize (machine, invocation, VIREO_ACTION_MODIFY, update_machine);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

static void
rename_machine (VireoMachine *machine, GDBusMethodInvocation *invocation)
{
  g_autoptr (VireoMachineConfig) config = vireo_machine_config_copy (machine->config);
  g_autoptr (GError) error = NULL;
  g_autoptr (GVariantBuilder) builder = g_variant_builder_new (G_VARIANT_TYPE_VARDICT);
  g_autoptr (GVariant) settings = NULL;
  const char *name;

  g_variant_get (g_dbus_method_invocation_get_parameters (invocation), "(&s)", &name);
  g_variant_builder_add (builder, "{sv}", "name", g_variant_new_string (name));
  settings = g_variant_ref_sink (g_variant_builder_end (builder));
  if (!vireo_machine_config_apply_settings (config, settings, FALSE, &error))
    {
      g_dbus_method_invocation_return_gerror (invocation, error);
      return;
    }
  if (machine->name_taken && machine->name_taken (config->name, config->uuid, machine->name_taken_data))
    {
      vireo_machine_return_error (invocation, VIREO_ERROR_EXISTS, "another machine is already called “%s”",
                                  config->name);
      return;
    }
  if (store_config (machine, g_steal_pointer (&config), invocation))
    vireo_dbus_machine_complete_rename (machine->iface, invocation);
}

static gboolean
handle_rename (VireoDBusMachine *iface, GDBusMethodInvocation *invocation, const char *name,
               VireoMachine *machine)
{
  authorize (machine, invocation, VIREO_ACTION_MODIFY, rename_machine);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

static gboolean
handle_export (VireoDBusMachine *iface, GDBusMethodInvocation *invocation, VireoMachine *machine)
{
  g_autofree char *xml = vireo_machine_config_to_xml (machine->config);
  vireo_dbus_machine_complete_export_libvirt_xml (iface, invocation, xml);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

static void
delete_machine (VireoMachine *machine, GDBusMethodInvocation *invocation)
{
  g_autoptr (GError) error = NULL;
  gboolean delete_disks;

  g_variant_get (g_dbus_method_invocation_get_parameters (invocation), "(b)", &delete_disks);
  if (machine->disk_operation != NULL)
    {
      vireo_machine_return_error (invocation, VIREO_ERROR_INVALID_STATE,
                                  "“%s” has a disk operation (%s) under way", machine->config->name,
                                  machine->disk_operation);
      return;
    }
  if (is_active (machine))
    {
      vireo_machine_return_error (invocation, VIREO_ERROR_INVALID_STATE,
                                  "“%s” is %s; turn it off before deleting it", machine->config->name,
                                  state (machine));
      return;
    }
  if (!vireo_machine_store_delete (machine->daemon->store, machine->config->uuid, delete_disks, &error))
    {
      g_dbus_method_invocation_return_gerror (invocation, error);
      return;
    }
  vireo_machine_forget_exit (machine);
  vireo_machine_checkpoints_drop (machine);
  vireo_dbus_machine_complete_delete (machine->iface, invocation);
  g_signal_emit (machine, signals[SIGNAL_DELETED], 0);
}

static gboolean
handle_delete (VireoDBusMachine *iface, GDBusMethodInvocation *invocation, gboolean delete_disks,
               VireoMachine *machine)
{
  authorize (machine, invocation, VIREO_ACTION_DELETE, delete_machine);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

/* --- object --- */

static void
vireo_machine_dispose (GObject *object)
{
  VireoMachine *machine = VIREO_MACHINE (object);

  vireo_machine_finish_waiters (machine, "gone", "the service is shutting down");
  if (machine->disk_cancellable)
    g_cancellable_cancel (machine->disk_cancellable);
  g_clear_object (&machine->disk_cancellable);
  /* Leaving the worker running on purpose: a restarted vireod re-attaches to it. */
  vireo_machine_drop_worker (machine);
  vireo_machine_checkpoints_drop (machine);
  g_clear_object (&machine->iface);
  g_clear_object (&machine->object);
  G_OBJECT_CLASS (vireo_machine_parent_class)->dispose (object);
}

static void
vireo_machine_finalize (GObject *object)
{
  VireoMachine *machine = VIREO_MACHINE (object);
  g_clear_pointer (&machine->config, vireo_machine_config_free);
  g_clear_pointer (&machine->receiving_disks, g_hash_table_unref);
  G_OBJECT_CLASS (vireo_machine_parent_class)->finalize (object);
}

static void
vireo_machine_class_init (VireoMachineClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  object_class->dispose = vireo_machine_dispose;
  object_class->finalize = vireo_machine_finalize;
  /* The worker's errors arrive as org.vireo.Vireo1.Error.* names: unless the domain is registered before
   * the first one, GDBus cannot map it back and callers would get an unnamed error. */
  (void) vireo_error_quark ();

  signals[SIGNAL_DELETED] = g_signal_new ("deleted", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL,
                                          NULL, NULL, G_TYPE_NONE, 0);
}

static void
vireo_machine_init (VireoMachine *machine)
{
}

VireoMachine *
vireo_machine_new (VireoDaemon *daemon, VireoMachineConfig *config)
{
  VireoMachine *machine = g_object_new (VIREO_TYPE_MACHINE, NULL);
  g_autofree char *path = vireo_machine_object_path (config->uuid);

  machine->daemon = daemon;
  machine->config = config;
  machine->object = vireo_dbus_object_skeleton_new (path);
  machine->iface = vireo_dbus_machine_skeleton_new ();
  vireo_dbus_machine_set_state (machine->iface, "off");
  vireo_dbus_machine_set_last_error (machine->iface, "");
  {
    const char *none[] = { NULL };
    vireo_dbus_machine_set_guest_addresses (machine->iface, none);
  }
  publish_config (machine);
  vireo_dbus_object_skeleton_set_machine (machine->object, machine->iface);

  g_signal_connect (machine->iface, "handle-start", G_CALLBACK (handle_start), machine);
  g_signal_connect (machine->iface, "handle-shutdown", G_CALLBACK (handle_shutdown), machine);
  g_signal_connect (machine->iface, "handle-turn-off", G_CALLBACK (handle_turn_off), machine);
  g_signal_connect (machine->iface, "handle-reset", G_CALLBACK (handle_reset), machine);
  g_signal_connect (machine->iface, "handle-pause", G_CALLBACK (handle_pause), machine);
  g_signal_connect (machine->iface, "handle-resume", G_CALLBACK (handle_resume), machine);
  g_signal_connect (machine->iface, "handle-save", G_CALLBACK (handle_save), machine);
  g_signal_connect (machine->iface, "handle-delete", G_CALLBACK (handle_delete), machine);
  g_signal_connect (machine->iface, "handle-update", G_CALLBACK (handle_update), machine);
  g_signal_connect (machine->iface, "handle-rename", G_CALLBACK (handle_rename), machine);
  g_signal_connect (machine->iface, "handle-export-libvirt-xml", G_CALLBACK (handle_export), machine);
  g_signal_connect (machine->iface, "handle-open-serial", G_CALLBACK (handle_open_serial), machine);
  g_signal_connect (machine->iface, "handle-open-display", G_CALLBACK (handle_open_display), machine);
  vireo_machine_disks_init (machine);
  vireo_machine_checkpoints_init (machine);
  return machine;
}

void
vireo_machine_set_name_check (VireoMachine *machine, VireoNameTakenFunc func, gpointer user_data)
{
  machine->name_taken = func;
  machine->name_taken_data = user_data;
}

const char *
vireo_machine_get_uuid (VireoMachine *machine)
{
  return machine->config->uuid;
}

const char *
vireo_machine_get_name (VireoMachine *machine)
{
  return machine->config->name;
}

const char *
vireo_machine_get_state (VireoMachine *machine)
{
  return state (machine);
}

GDBusObjectSkeleton *
vireo_machine_get_object (VireoMachine *machine)
{
  return G_DBUS_OBJECT_SKELETON (machine->object);
}

const VireoMachineConfig *
vireo_machine_get_config (VireoMachine *machine)
{
  return machine->config;
}
