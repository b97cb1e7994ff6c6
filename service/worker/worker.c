/* worker.c — the hosted machine behind org.vireo.Worker1: Start, the lifecycle calls, the end of the
 * machine (reboots in place, reset loops, exit reasons), Save on a thread, OpenSerial and OpenDisplay.
 * Checkpoints are in worker-checkpoints.c. */
#include "agent.h"
#include "worker-private.h"
#include "serial-mux.h"
#include "vireo-error.h"
#include "worker-config.h"

#include <errno.h>
#include <fcntl.h>
#include <gio/gunixfdlist.h>
#include <glib-unix.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static const char *
state_to_string (WorkerState state)
{
  switch (state)
    {
    case WORKER_IDLE:
      return "idle";
    case WORKER_RUNNING:
      return "running";
    case WORKER_PAUSED:
      return "paused";
    case WORKER_SAVING:
      return "saving";
    case WORKER_ENDED:
      return "ended";
    }
  return "unknown";
}

void
set_state (VireoWorker *worker, WorkerState state)
{
  worker->state = state;
  vireo_worker1_set_state (worker->skeleton, state_to_string (state));
}

void
return_error (GDBusMethodInvocation *invocation, VireoError code, const char *message)
{
  g_dbus_method_invocation_return_error_literal (invocation, VIREO_ERROR, code, message);
}

/* Answers with an HV_ERROR from the core, as the service's error. */
void
return_hv_error (GDBusMethodInvocation *invocation, const GError *hv_error)
{
  g_autoptr (GError) converted = vireo_error_from_hv (hv_error);
  g_dbus_method_invocation_return_gerror (invocation, converted);
}

/* The InvalidState answer for a call that needs a running (or paused) machine, saying what it is. */
void
return_not_active (VireoWorker *worker, GDBusMethodInvocation *invocation)
{
  const char *why = "the machine is not running";

  switch (worker->state)
    {
    case WORKER_IDLE:
      why = "the machine has not been started";
      break;
    case WORKER_ENDED:
      why = "the machine has already ended";
      break;
    case WORKER_SAVING:
      why = "the machine is being saved";
      break;
    case WORKER_RUNNING:
    case WORKER_PAUSED:
      if (worker->checkpoint_busy)
        why = "a checkpoint operation on the machine is under way";
      else if (worker->stop == STOP_RESET)
        why = "the machine is restarting";
      else if (worker->stop != STOP_NONE)
        why = "the machine is turning off";
      break;
    }
  return_error (invocation, VIREO_ERROR_INVALID_STATE, why);
}

/* Running or paused, and not already on its way to a stop. */
gboolean
is_active (VireoWorker *worker)
{
  return (worker->state == WORKER_RUNNING || worker->state == WORKER_PAUSED) && worker->stop == STOP_NONE
         && !worker->checkpoint_busy;
}

static void
add_waiter (VireoWorker *worker, GDBusMethodInvocation *invocation, StopRequest request)
{
  Waiter *waiter = g_new0 (Waiter, 1);
  waiter->invocation = invocation;
  waiter->request = request;
  g_queue_push_tail (&worker->waiters, waiter);
}

/* Answers the waiting calls: @restarted after a reboot (only Reset waits for that), else at the end. */
static void
complete_waiters (VireoWorker *worker, gboolean restarted)
{
  GQueue keep = G_QUEUE_INIT;
  Waiter *waiter;

  while ((waiter = g_queue_pop_head (&worker->waiters)))
    {
      if (restarted && waiter->request != STOP_RESET)
        {
          g_queue_push_tail (&keep, waiter);
          continue;
        }
      switch (waiter->request)
        {
        case STOP_RESET:
          if (restarted)
            vireo_worker1_complete_reset (worker->skeleton, waiter->invocation);
          else
            {
              g_autofree char *message = g_strdup_printf ("the machine ended instead of restarting (%s)",
                                                          vireo_worker1_get_exit_reason (worker->skeleton));
              return_error (waiter->invocation, VIREO_ERROR_FAILED, message);
            }
          break;
        case STOP_TURN_OFF:
          vireo_worker1_complete_turn_off (worker->skeleton, waiter->invocation);
          break;
        case STOP_SAVE:
          vireo_worker1_complete_save (worker->skeleton, waiter->invocation);
          break;
        case STOP_NONE:
          g_assert_not_reached ();
        }
      g_free (waiter);
    }
  worker->waiters = keep;
}

static void
end_machine (VireoWorker *worker, const char *reason, const char *message)
{
  g_debug ("the machine ended: %s (%s)", reason, message);
  vireo_worker1_set_exit_reason (worker->skeleton, reason);
  vireo_worker1_set_exit_message (worker->skeleton, message);
  g_clear_handle_id (&worker->addresses_poll, g_source_remove);
  vireo_worker1_set_guest_addresses (worker->skeleton, g_variant_new ("a{ss}", NULL));
  set_state (worker, WORKER_ENDED);
  complete_waiters (worker, FALSE);
  /* Drop the fds vireod lent us as soon as they are of no more use. */
  g_clear_pointer (&worker->config, vireo_worker_config_free);
  if (worker->ended)
    worker->ended (worker, worker->ended_data);
}

static gboolean on_vm_exit (int fd, GIOCondition condition, gpointer data);

/* How often GuestAddresses is read from the core: a lease is news for a person looking at the machine,
 * who does not mind two seconds; reading it is a lock and a copy. */
#define GUEST_ADDRESSES_POLL_SECONDS 2

static gboolean
poll_guest_addresses (gpointer data)
{
  VireoWorker *worker = data;

  /* The skeleton announces a change only when the value differs. */
  if (worker->vm != NULL)
    vireo_worker1_set_guest_addresses (worker->skeleton, hv_vm_get_guest_addresses (worker->vm));
  return G_SOURCE_CONTINUE;
}

/* Builds a fresh VM from the configuration and starts it. */
static gboolean
boot (VireoWorker *worker, gboolean restore, GError **error)
{
  g_autoptr (HvVm) vm = NULL;

  vm = vireo_worker_config_build_vm (worker->config, restore,
                                     vireo_serial_mux_get_guest_input_fd (worker->serial),
                                     vireo_serial_mux_get_guest_output_fd (worker->serial), error);
  if (vm == NULL || !hv_vm_start (vm, error))
    return FALSE;
  worker->vm = g_steal_pointer (&vm);
  worker->exit_watch = g_unix_fd_add (hv_vm_get_exit_fd (worker->vm), G_IO_IN, on_vm_exit, worker);
  /* A rebooted guest asks for its lease again; until then the old address is stale. */
  vireo_worker1_set_guest_addresses (worker->skeleton, g_variant_new ("a{ss}", NULL));
  if (worker->addresses_poll == 0 && hv_machine_spec_find_kind (worker->config->spec, "virtio-net") != NULL)
    worker->addresses_poll = g_timeout_add_seconds (GUEST_ADDRESSES_POLL_SECONDS, poll_guest_addresses,
                                                    worker);
  return TRUE;
}

static void
reboot (VireoWorker *worker)
{
  g_autoptr (GError) error = NULL;

  if (!boot (worker, FALSE, &error))
    {
      g_autofree char *message = g_strdup_printf ("the machine could not restart: %s", error->message);
      end_machine (worker, "internal-error", message);
      return;
    }
  set_state (worker, WORKER_RUNNING);
  complete_waiters (worker, TRUE);
}

/* Records a reset the guest asked for; TRUE when it makes too many within the window. */
static gboolean
count_guest_reset (VireoWorker *worker)
{
  gint64 now = g_get_monotonic_time ();
  unsigned kept = 0;

  for (unsigned i = 0; i < worker->n_resets; i++)
    if (now - worker->resets[i] < RESET_LOOP_WINDOW_SECONDS * G_USEC_PER_SEC)
      worker->resets[kept++] = worker->resets[i];
  worker->n_resets = kept;
  g_assert (worker->n_resets <= RESET_LOOP_MAX);
  worker->resets[worker->n_resets++] = now;
  if (worker->n_resets > RESET_LOOP_MAX)
    {
      worker->n_resets = 0;
      return TRUE;
    }
  return FALSE;
}

/* The VM's threads have ended: decide between a reboot and the end of the machine. */
void
handle_vm_exit (VireoWorker *worker)
{
  HvExitInfo info = { 0 };
  StopRequest stop = worker->stop;
  const char *message;

  hv_vm_wait (worker->vm, &info);
  g_clear_pointer (&worker->vm, hv_vm_free);
  worker->stop = STOP_NONE;
  message = info.message ? info.message : "";
  g_debug ("the VM stopped: %s (%s)", hv_exit_reason_to_string (info.reason), message);

  switch (info.reason)
    {
    case HV_EXIT_RESET:
    case HV_EXIT_TRIPLE_FAULT:
      /* A guest reset racing with the host's request: the request is what the user asked for. */
      if (stop == STOP_TURN_OFF)
        {
          end_machine (worker, "turned-off", "the machine was turned off");
          break;
        }
      if (stop != STOP_RESET && count_guest_reset (worker))
        {
          g_autofree char *loop = NULL;
          if (info.reason == HV_EXIT_RESET)
            loop = g_strdup_printf ("the guest reset itself %d times in %d seconds", RESET_LOOP_MAX + 1,
                                    RESET_LOOP_WINDOW_SECONDS);
          else
            loop = g_strdup_printf ("the guest's processor shut down (a triple fault) %d times in %d "
                                    "seconds; the last time: %s",
                                    RESET_LOOP_MAX + 1, RESET_LOOP_WINDOW_SECONDS, message);
          end_machine (worker, info.reason == HV_EXIT_RESET ? "reset-loop" : "triple-fault", loop);
          break;
        }
      /* Like a PC: a reset, or a triple fault the board turns into one, starts the machine again. */
      reboot (worker);
      break;
    case HV_EXIT_STOPPED:
      if (stop == STOP_RESET)
        reboot (worker);
      else if (stop == STOP_SAVE)
        end_machine (worker, "saved", "");
      else
        end_machine (worker, "turned-off", "the machine was turned off");
      break;
    case HV_EXIT_POWER_OFF:
      end_machine (worker, "power-off", "");
      break;
    case HV_EXIT_EMULATION_FAILURE:
    case HV_EXIT_INTERNAL_ERROR:
    case HV_EXIT_NONE:
      end_machine (worker, hv_exit_reason_to_string (info.reason), message);
      break;
    }
  hv_exit_info_clear (&info);
}

static gboolean
on_vm_exit (int fd, GIOCondition condition, gpointer data)
{
  VireoWorker *worker = data;

  worker->exit_watch = 0;
  if (worker->save_running || worker->checkpoint_busy)
    worker->exit_deferred = TRUE;
  else
    handle_vm_exit (worker);
  return G_SOURCE_REMOVE;
}

/* A virtio-serial device with the guest agent's port and no fds in the spec gets a socketpair per port:
 * the worker keeps the host end of the agent's (for hv_agent_call), and closes the others' (their ports
 * show the host as gone).  The spec keeps the guest ends, so every reboot wires the same channel. */
static gboolean
wire_agent_port (VireoWorker *worker, GError **error)
{
  HvMachineSpec *spec = worker->config->spec;

  for (guint i = 0; i < spec->devices->len && worker->agent_fd < 0; i++)
    {
      HvDeviceSpec *device = g_ptr_array_index (spec->devices, i);
      g_autoptr (GVariant) fds = g_variant_lookup_value (device->options, "fds", NULL);
      const char *ports = NULL;
      g_auto (GStrv) names = NULL;
      int guest_ends[8];
      guint n;

      if (g_strcmp0 (device->kind, "virtio-serial") != 0 || fds != NULL
          || !g_variant_lookup (device->options, "ports", "&s", &ports))
        continue;
      names = g_strsplit (ports, ",", -1);
      n = g_strv_length (names);
      if (!g_strv_contains ((const char *const *) names, HV_AGENT_PORT) || n > G_N_ELEMENTS (guest_ends))
        continue;
      for (guint j = 0; j < n; j++)
        {
          int pair[2];

          if (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) < 0)
            {
              int saved = errno;
              for (guint k = 0; k < j; k++)
                close (guest_ends[k]);
              return g_set_error (error, HV_ERROR, HV_ERROR_FAILED,
                                  "cannot make the guest agent's channel: %s", g_strerror (saved)),
                     FALSE;
            }
          guest_ends[j] = pair[1];
          if (strcmp (names[j], HV_AGENT_PORT) == 0 && worker->agent_fd < 0)
            worker->agent_fd = pair[0];
          else
            close (pair[0]);
        }
      hv_device_spec_set_fds (spec, device, "fds", guest_ends, n); /* takes them */
      g_debug ("%s: the guest agent's port is the worker's", device->id);
    }
  return TRUE;
}

static gboolean
handle_start (VireoWorker1 *skeleton, GDBusMethodInvocation *invocation, GUnixFDList *fd_list,
              GVariant *config, VireoWorker *worker)
{
  g_autoptr (GError) error = NULL;

  if (worker->state != WORKER_IDLE)
    {
      return_error (invocation, VIREO_ERROR_INVALID_STATE, "the machine has already been started");
      return TRUE;
    }
  worker->config = vireo_worker_config_parse (config, fd_list, &error);
  if (worker->config == NULL)
    {
      /* Nothing happened yet: the worker stays idle and vireod may try again. */
      g_dbus_method_invocation_return_gerror (invocation, error);
      return TRUE;
    }
  if (!wire_agent_port (worker, &error) || !boot (worker, worker->config->restore, &error))
    {
      g_autoptr (GError) converted = vireo_error_from_hv (error);
      end_machine (worker, "start-failed", converted->message);
      g_dbus_method_invocation_return_gerror (invocation, converted);
      return TRUE;
    }
  vireo_worker1_set_start_time (skeleton, (guint64) g_get_real_time ());
  set_state (worker, WORKER_RUNNING);
  vireo_worker1_complete_start (skeleton, invocation, NULL);
  return TRUE;
}

static gboolean
handle_pause (VireoWorker1 *skeleton, GDBusMethodInvocation *invocation, VireoWorker *worker)
{
  g_autoptr (GError) error = NULL;

  if (!is_active (worker) || worker->state != WORKER_RUNNING)
    {
      if (worker->state == WORKER_PAUSED && worker->stop == STOP_NONE)
        return_error (invocation, VIREO_ERROR_INVALID_STATE, "the machine is already paused");
      else
        return_not_active (worker, invocation);
      return TRUE;
    }
  if (!hv_vm_pause (worker->vm, &error))
    {
      return_hv_error (invocation, error);
      return TRUE;
    }
  set_state (worker, WORKER_PAUSED);
  vireo_worker1_complete_pause (skeleton, invocation);
  return TRUE;
}

static gboolean
handle_resume (VireoWorker1 *skeleton, GDBusMethodInvocation *invocation, VireoWorker *worker)
{
  g_autoptr (GError) error = NULL;

  if (!is_active (worker) || worker->state != WORKER_PAUSED)
    {
      if (worker->state == WORKER_RUNNING && worker->stop == STOP_NONE)
        return_error (invocation, VIREO_ERROR_INVALID_STATE, "the machine is not paused");
      else
        return_not_active (worker, invocation);
      return TRUE;
    }
  if (!hv_vm_resume (worker->vm, &error))
    {
      return_hv_error (invocation, error);
      return TRUE;
    }
  set_state (worker, WORKER_RUNNING);
  vireo_worker1_complete_resume (skeleton, invocation);
  return TRUE;
}

static gboolean
handle_press_power_button (VireoWorker1 *skeleton, GDBusMethodInvocation *invocation, VireoWorker *worker)
{
  g_autoptr (GError) error = NULL;

  if (!is_active (worker) || worker->state != WORKER_RUNNING)
    {
      if (worker->state == WORKER_PAUSED && worker->stop == STOP_NONE)
        return_error (invocation, VIREO_ERROR_INVALID_STATE,
                      "the machine is paused: resume it before pressing its power button");
      else
        return_not_active (worker, invocation);
      return TRUE;
    }
  if (!hv_vm_request_shutdown (worker->vm, &error))
    {
      return_hv_error (invocation, error);
      return TRUE;
    }
  vireo_worker1_complete_press_power_button (skeleton, invocation);
  return TRUE;
}

gboolean
vireo_worker_turn_off (VireoWorker *worker)
{
  switch (worker->state)
    {
    case WORKER_IDLE:
    case WORKER_ENDED:
      return FALSE;
    case WORKER_SAVING:
      /* The save ends the machine anyway, moments from now. */
      return TRUE;
    case WORKER_RUNNING:
    case WORKER_PAUSED:
      /* Turning off overrides a reset on its way. */
      if (worker->stop != STOP_TURN_OFF)
        {
          worker->stop = STOP_TURN_OFF;
          hv_vm_stop (worker->vm);
        }
      return TRUE;
    }
  return FALSE;
}

static gboolean
handle_turn_off (VireoWorker1 *skeleton, GDBusMethodInvocation *invocation, VireoWorker *worker)
{
  if (worker->state != WORKER_RUNNING && worker->state != WORKER_PAUSED)
    {
      return_not_active (worker, invocation);
      return TRUE;
    }
  vireo_worker_turn_off (worker);
  /* Answered once the machine has ended, so State already says "ended" when the caller hears back. */
  add_waiter (worker, invocation, STOP_TURN_OFF);
  return TRUE;
}

static gboolean
handle_reset (VireoWorker1 *skeleton, GDBusMethodInvocation *invocation, VireoWorker *worker)
{
  if (worker->stop == STOP_RESET)
    {
      add_waiter (worker, invocation, STOP_RESET);
      return TRUE;
    }
  if (!is_active (worker))
    {
      return_not_active (worker, invocation);
      return TRUE;
    }
  worker->stop = STOP_RESET;
  hv_vm_stop (worker->vm);
  add_waiter (worker, invocation, STOP_RESET);
  return TRUE;
}

static void
save_thread (GTask *task, gpointer source_object, gpointer task_data, GCancellable *cancellable)
{
  VireoWorker *worker = task_data;
  g_autoptr (GError) error = NULL;

  /* Only this thread touches the VM meanwhile: the main loop refuses every call while "saving". */
  if (hv_vm_save (worker->vm, worker->config->state_dir_fd, &error))
    g_task_return_boolean (task, TRUE);
  else
    g_task_return_error (task, g_steal_pointer (&error));
}

static void
save_done (GObject *source_object, GAsyncResult *result, gpointer user_data)
{
  GDBusMethodInvocation *invocation = user_data;
  VireoWorker *worker = g_task_get_task_data (G_TASK (result));
  g_autoptr (GError) error = NULL;

  worker->save_running = FALSE;
  if (!g_task_propagate_boolean (G_TASK (result), &error))
    {
      g_autoptr (GError) resume_error = NULL;

      g_warning ("saving the machine failed: %s", error->message);
      /* The machine carries on as it was. */
      if (worker->running_before_save && !hv_vm_resume (worker->vm, &resume_error))
        g_debug ("resuming after the failed save: %s", resume_error->message);
      set_state (worker, worker->running_before_save ? WORKER_RUNNING : WORKER_PAUSED);
      return_hv_error (invocation, error);
      if (worker->exit_deferred)
        {
          worker->exit_deferred = FALSE;
          handle_vm_exit (worker);
        }
      return;
    }

  /* The state is on disk; the machine ends as "saved" and Save is answered then. */
  worker->stop = STOP_SAVE;
  add_waiter (worker, invocation, STOP_SAVE);
  hv_vm_stop (worker->vm);
  if (worker->exit_deferred)
    {
      worker->exit_deferred = FALSE;
      handle_vm_exit (worker);
    }
}

static gboolean
handle_save (VireoWorker1 *skeleton, GDBusMethodInvocation *invocation, VireoWorker *worker)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GTask) task = NULL;

  if (!is_active (worker))
    {
      return_not_active (worker, invocation);
      return TRUE;
    }
  if (worker->config->state_dir_fd < 0)
    {
      return_error (invocation, VIREO_ERROR_NOT_SUPPORTED,
                    "the machine was started without a folder for its saved state, so it cannot be saved");
      return TRUE;
    }
  worker->running_before_save = worker->state == WORKER_RUNNING;
  if (worker->running_before_save && !hv_vm_pause (worker->vm, &error))
    {
      return_hv_error (invocation, error);
      return TRUE;
    }

  worker->save_running = TRUE;
  set_state (worker, WORKER_SAVING);
  task = g_task_new (NULL, NULL, save_done, invocation);
  g_task_set_task_data (task, worker, NULL);
  g_task_run_in_thread (task, save_thread);
  return TRUE;
}

static gboolean
handle_open_serial (VireoWorker1 *skeleton, GDBusMethodInvocation *invocation, GUnixFDList *fd_list,
                    guint32 owner, VireoWorker *worker)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GUnixFDList) out_fds = NULL;
  int fd;

  if (worker->state == WORKER_IDLE)
    {
      return_not_active (worker, invocation);
      return TRUE;
    }
  /* After the end too: the guest's last words are what someone debugging it wants to see. */
  fd = vireo_serial_mux_add_client (worker->serial, owner, &error);
  if (fd < 0)
    {
      return_error (invocation,
                    g_error_matches (error, G_IO_ERROR, G_IO_ERROR_TOO_MANY_OPEN_FILES)
                        ? VIREO_ERROR_INVALID_STATE
                        : VIREO_ERROR_FAILED,
                    error->message);
      return TRUE;
    }
  out_fds = g_unix_fd_list_new_from_array (&fd, 1); /* takes the fd */
  vireo_worker1_complete_open_serial (skeleton, invocation, out_fds, g_variant_new_handle (0));
  return TRUE;
}

static gboolean
handle_open_display (VireoWorker1 *skeleton, GDBusMethodInvocation *invocation, GUnixFDList *fd_list,
                     VireoWorker *worker)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GUnixFDList) out_fds = NULL;
  int fd;

  if (!is_active (worker))
    {
      return_not_active (worker, invocation);
      return TRUE;
    }
  if (hv_machine_spec_find_kind (worker->config->spec, "bochs-display") == NULL)
    {
      return_error (invocation, VIREO_ERROR_NOT_SUPPORTED, "the machine has no display");
      return TRUE;
    }
  fd = hv_vm_open_display (worker->vm, &error);
  if (fd < 0)
    {
      return_hv_error (invocation, error);
      return TRUE;
    }
  out_fds = g_unix_fd_list_new_from_array (&fd, 1); /* takes the fd */
  vireo_worker1_complete_open_display (skeleton, invocation, out_fds, g_variant_new_handle (0));
  return TRUE;
}

/* The spec the machine is rebuilt from (a reset) gets the drive's new disc, or none. */
static void
remember_medium (VireoWorker *worker, const char *id, int fd)
{
  HvMachineSpec *spec = worker->config->spec;
  HvDeviceSpec *device = hv_machine_spec_lookup_device (spec, id);
  g_auto (GVariantDict) options = G_VARIANT_DICT_INIT (NULL);

  if (device == NULL)
    return;
  g_variant_dict_init (&options, device->options);
  g_variant_dict_remove (&options, "file");
  g_variant_dict_remove (&options, "backing");
  g_variant_dict_remove (&options, "format"); /* the new disc's is probed */
  g_variant_unref (device->options);
  device->options = g_variant_ref_sink (g_variant_dict_end (&options));
  if (fd >= 0)
    hv_device_spec_set_fd (spec, device, "file", fd);
}

static gboolean
handle_change_medium (VireoWorker1 *skeleton, GDBusMethodInvocation *invocation, GUnixFDList *fd_list,
                      const char *id, GVariant *file, VireoWorker *worker)
{
  g_autoptr (GError) error = NULL;
  int handle = g_variant_get_handle (file);
  int fd;

  if (!is_active (worker))
    {
      return_not_active (worker, invocation);
      return TRUE;
    }
  fd = fd_list && handle >= 0 && handle < g_unix_fd_list_get_length (fd_list)
           ? g_unix_fd_list_get (fd_list, handle, &error)
           : -1;
  if (fd < 0)
    {
      return_error (invocation, VIREO_ERROR_INVALID_ARGUMENT, "the disc image's file was not passed");
      return TRUE;
    }
  if (!hv_vm_change_medium (worker->vm, id, fd, TRUE, &error))
    {
      close (fd);
      return_hv_error (invocation, error);
      return TRUE;
    }
  remember_medium (worker, id, fd); /* takes the fd */
  vireo_worker1_complete_change_medium (skeleton, invocation, NULL);
  return TRUE;
}

static gboolean
handle_eject_medium (VireoWorker1 *skeleton, GDBusMethodInvocation *invocation, const char *id,
                     VireoWorker *worker)
{
  g_autoptr (GError) error = NULL;

  if (!is_active (worker))
    {
      return_not_active (worker, invocation);
      return TRUE;
    }
  if (!hv_vm_change_medium (worker->vm, id, -1, FALSE, &error))
    {
      if (g_error_matches (error, HV_ERROR, HV_ERROR_INVALID_STATE))
        return_error (invocation, VIREO_ERROR_MEDIUM_LOCKED, error->message);
      else
        return_hv_error (invocation, error);
      return TRUE;
    }
  remember_medium (worker, id, -1);
  vireo_worker1_complete_eject_medium (skeleton, invocation);
  return TRUE;
}

/* A machine built again from its spec (a reset) keeps the cable as it was last set. */
static void
remember_link (VireoWorker *worker, const char *id, gboolean up)
{
  HvDeviceSpec *device = hv_machine_spec_lookup_device (worker->config->spec, id);
  g_auto (GVariantDict) options = G_VARIANT_DICT_INIT (NULL);

  if (device == NULL)
    return;
  g_variant_dict_init (&options, device->options);
  g_variant_dict_insert (&options, "link", "b", up);
  g_variant_unref (device->options);
  device->options = g_variant_ref_sink (g_variant_dict_end (&options));
}

static gboolean
handle_set_link (VireoWorker1 *skeleton, GDBusMethodInvocation *invocation, const char *id, gboolean up,
                 VireoWorker *worker)
{
  g_autoptr (GError) error = NULL;
  HvDeviceSpec *device;

  if (!is_active (worker))
    {
      return_not_active (worker, invocation);
      return TRUE;
    }
  device = hv_machine_spec_lookup_device (worker->config->spec, id);
  if (device == NULL || g_strcmp0 (device->kind, "virtio-net") != 0)
    {
      g_autofree char *message = g_strdup_printf ("the machine has no NIC “%s”", id);
      return_error (invocation, VIREO_ERROR_NOT_FOUND, message);
      return TRUE;
    }
  if (!hv_vm_set_link (worker->vm, id, up, &error))
    {
      return_hv_error (invocation, error);
      return TRUE;
    }
  remember_link (worker, id, up);
  vireo_worker1_complete_set_link (skeleton, invocation);
  return TRUE;
}

VireoWorker *
vireo_worker_new (const char *uuid, VireoWorkerEndedFunc ended, gpointer user_data, GError **error)
{
  g_autoptr (VireoWorker) worker = g_new0 (VireoWorker, 1);

  g_queue_init (&worker->waiters);
  worker->agent_fd = -1;
  worker->ended = ended;
  worker->ended_data = user_data;
  worker->serial = vireo_serial_mux_new (error);
  if (worker->serial == NULL)
    return NULL;

  worker->skeleton = vireo_worker1_skeleton_new ();
  vireo_worker1_set_uuid (worker->skeleton, uuid);
  vireo_worker1_set_state (worker->skeleton, state_to_string (WORKER_IDLE));
  vireo_worker1_set_start_time (worker->skeleton, 0);
  vireo_worker1_set_exit_reason (worker->skeleton, "");
  vireo_worker1_set_exit_message (worker->skeleton, "");
  vireo_worker1_set_guest_addresses (worker->skeleton, g_variant_new ("a{ss}", NULL));

  g_signal_connect (worker->skeleton, "handle-start", G_CALLBACK (handle_start), worker);
  g_signal_connect (worker->skeleton, "handle-pause", G_CALLBACK (handle_pause), worker);
  g_signal_connect (worker->skeleton, "handle-resume", G_CALLBACK (handle_resume), worker);
  g_signal_connect (worker->skeleton, "handle-press-power-button", G_CALLBACK (handle_press_power_button),
                    worker);
  g_signal_connect (worker->skeleton, "handle-turn-off", G_CALLBACK (handle_turn_off), worker);
  g_signal_connect (worker->skeleton, "handle-reset", G_CALLBACK (handle_reset), worker);
  g_signal_connect (worker->skeleton, "handle-save", G_CALLBACK (handle_save), worker);
  g_signal_connect (worker->skeleton, "handle-open-serial", G_CALLBACK (handle_open_serial), worker);
  g_signal_connect (worker->skeleton, "handle-open-display", G_CALLBACK (handle_open_display), worker);
  g_signal_connect (worker->skeleton, "handle-change-medium", G_CALLBACK (handle_change_medium), worker);
  g_signal_connect (worker->skeleton, "handle-eject-medium", G_CALLBACK (handle_eject_medium), worker);
  g_signal_connect (worker->skeleton, "handle-set-link", G_CALLBACK (handle_set_link), worker);
  g_signal_connect (worker->skeleton, "handle-create-checkpoint", G_CALLBACK (handle_create_checkpoint),
                    worker);
  g_signal_connect (worker->skeleton, "handle-apply-checkpoint", G_CALLBACK (handle_apply_checkpoint),
                    worker);
  g_signal_connect (worker->skeleton, "handle-delete-checkpoint", G_CALLBACK (handle_delete_checkpoint),
                    worker);
  return g_steal_pointer (&worker);
}

void
vireo_worker_free (VireoWorker *worker)
{
  Waiter *waiter;

  if (worker == NULL)
    return;
  g_return_if_fail (!worker->save_running && !worker->checkpoint_busy);

  if (worker->exit_watch)
    g_source_remove (worker->exit_watch);
  g_clear_handle_id (&worker->addresses_poll, g_source_remove);
  g_clear_pointer (&worker->vm, hv_vm_free);
  while ((waiter = g_queue_pop_head (&worker->waiters)))
    {
      return_error (waiter->invocation, VIREO_ERROR_FAILED, "the worker is exiting");
      g_free (waiter);
    }
  if (worker->skeleton)
    {
      GDBusInterfaceSkeleton *skeleton = G_DBUS_INTERFACE_SKELETON (worker->skeleton);
      GList *connections = g_dbus_interface_skeleton_get_connections (skeleton);

      g_signal_handlers_disconnect_by_data (worker->skeleton, worker);
      if (connections)
        g_dbus_interface_skeleton_unexport (skeleton);
      g_list_free_full (connections, g_object_unref);
      g_clear_object (&worker->skeleton);
    }
  g_clear_pointer (&worker->serial, vireo_serial_mux_free);
  g_clear_pointer (&worker->config, vireo_worker_config_free);
  if (worker->agent_fd >= 0)
    close (worker->agent_fd);
  g_free (worker);
}

VireoWorker1 *
vireo_worker_get_skeleton (VireoWorker *worker)
{
  return worker->skeleton;
}

gboolean
vireo_worker_has_started (VireoWorker *worker)
{
  return worker->state != WORKER_IDLE;
}

gboolean
vireo_worker_has_ended (VireoWorker *worker)
{
  return worker->state == WORKER_ENDED;
}

void
vireo_worker_flush (VireoWorker *worker)
{
  vireo_serial_mux_flush (worker->serial);
  g_dbus_interface_skeleton_flush (G_DBUS_INTERFACE_SKELETON (worker->skeleton));
}
