/* machine.c — one machine in vireod: the org.vireo.Vireo1.Machine methods, its state, and the
 * vireo-worker process that runs it (spawned, watched, re-attached after a vireod restart).
 *
 * Every method answers asynchronously: authorization, the worker's replies and the guest's own pace
 * never block the bus.  vireod runs no guest-facing code; the worker does.
 */
#include "machine.h"
#include "vireo-error.h"
#include "vireo-worker-generated.h"
#include "hv.h"

#include <errno.h>
#include <fcntl.h>
#include <gio/gunixfdlist.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#define SHUTDOWN_DEFAULT_TIMEOUT 120  /* seconds */
#define WORKER_CALL_TIMEOUT      (60 * 1000)
#define WORKER_SAVE_TIMEOUT      (10 * 60 * 1000)
#define STATS_INTERVAL           2   /* seconds */

struct _VireoMachine
{
  GObject parent_instance;

  VireoDaemon *daemon;
  VireoMachineConfig *config;
  VireoDBusObjectSkeleton *object;
  VireoDBusMachine *iface;
  VireoNameTakenFunc name_taken;
  gpointer name_taken_data;

  /* The worker, while the machine runs. */
  GSubprocess *process;          /* NULL when re-attached */
  GDBusConnection *connection;
  VireoWorker1 *worker;
  pid_t worker_pid;
  gboolean restoring;            /* the current start resumes saved state */
  GCancellable *cancellable;

  /* Calls waiting for the machine to end (TurnOff, Save, Shutdown). */
  GList *waiting_for_end;        /* GTask */
  guint shutdown_timeout;

  guint stats_source;
  guint64 last_cpu_ticks;
  gint64 last_sample;
};

G_DEFINE_TYPE (VireoMachine, vireo_machine, G_TYPE_OBJECT)

enum
{
  SIGNAL_DELETED,
  N_SIGNALS,
};
static guint signals[N_SIGNALS];

static void worker_ended (VireoMachine *machine, const char *reason, const char *message);

char *
vireo_machine_object_path (const char *uuid)
{
  g_autofree char *escaped = g_strdup (uuid);
  g_strdelimit (escaped, "-", '_');
  return g_strconcat ("/org/vireo/Vireo1/machines/", escaped, NULL);
}

static const char *
state (VireoMachine *machine)
{
  return vireo_dbus_machine_get_state (machine->iface);
}

static gboolean
state_is (VireoMachine *machine, const char *name)
{
  return g_strcmp0 (state (machine), name) == 0;
}

static gboolean
is_active (VireoMachine *machine)
{
  return machine->worker != NULL;
}

static void
set_state (VireoMachine *machine, const char *new_state)
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
  /* Before the reply to Update or Rename, like set_state(). */
  g_dbus_interface_skeleton_flush (G_DBUS_INTERFACE_SKELETON (machine->iface));
}

/* --- statistics --- */

static gboolean
read_cpu_ticks (pid_t pid, guint64 *ticks)
{
  g_autofree char *path = g_strdup_printf ("/proc/%d/stat", (int) pid);
  g_autofree char *contents = NULL;
  g_auto (GStrv) fields = NULL;
  const char *after_comm;

  if (pid <= 0 || !g_file_get_contents (path, &contents, NULL, NULL))
    return FALSE;
  /* The command name may contain spaces; the fields after it are fixed. */
  after_comm = strrchr (contents, ')');
  if (after_comm == NULL)
    return FALSE;
  fields = g_strsplit (after_comm + 2, " ", -1);
  if (g_strv_length (fields) < 13)
    return FALSE;
  /* utime and stime: fields 14 and 15 of stat, 12 and 13 after the command name. */
  *ticks = g_ascii_strtoull (fields[11], NULL, 10) + g_ascii_strtoull (fields[12], NULL, 10);
  return TRUE;
}

static gboolean
update_stats (gpointer data)
{
  VireoMachine *machine = data;
  guint64 start_time, ticks;
  gint64 now = g_get_monotonic_time ();

  if (machine->worker == NULL)
    return G_SOURCE_CONTINUE;

  start_time = vireo_worker1_get_start_time (machine->worker);
  if (start_time > 0)
    {
      gint64 real_now = g_get_real_time ();
      vireo_dbus_machine_set_uptime (machine->iface,
                                     real_now > (gint64) start_time
                                       ? (guint64) (real_now - (gint64) start_time) / G_USEC_PER_SEC
                                       : 0);
    }

  if (read_cpu_ticks (machine->worker_pid, &ticks))
    {
      if (machine->last_sample > 0 && ticks >= machine->last_cpu_ticks && now > machine->last_sample)
        {
          double seconds = (double) (ticks - machine->last_cpu_ticks) / (double) sysconf (_SC_CLK_TCK);
          double elapsed = (double) (now - machine->last_sample) / G_USEC_PER_SEC;
          vireo_dbus_machine_set_cpu_usage (machine->iface, 100.0 * seconds / elapsed);
        }
      machine->last_cpu_ticks = ticks;
      machine->last_sample = now;
    }
  return G_SOURCE_CONTINUE;
}

/* --- waiting for the machine to end --- */

static void
wait_for_end (VireoMachine *machine, GTask *task)
{
  machine->waiting_for_end = g_list_append (machine->waiting_for_end, task);
}

static void
finish_waiters (VireoMachine *machine, const char *reason, const char *message)
{
  GList *waiters = g_steal_pointer (&machine->waiting_for_end);

  g_clear_handle_id (&machine->shutdown_timeout, g_source_remove);
  for (GList *l = waiters; l; l = l->next)
    {
      GTask *task = l->data;
      const char *wanted = g_task_get_task_data (task);
      if (wanted == NULL || g_strcmp0 (wanted, reason) == 0
          || (g_str_equal (wanted, "off") && g_strcmp0 (reason, "power-off") == 0))
        g_task_return_boolean (task, TRUE);
      else
        g_task_return_new_error (task, VIREO_ERROR, VIREO_ERROR_FAILED, "%s",
                                 message && *message ? message : "the machine stopped");
      g_object_unref (task);
    }
  g_list_free (waiters);
}

/* --- the worker --- */

static void
drop_worker (VireoMachine *machine)
{
  if (machine->cancellable)
    g_cancellable_cancel (machine->cancellable);
  g_clear_object (&machine->cancellable);
  if (machine->worker)
    g_signal_handlers_disconnect_by_data (machine->worker, machine);
  if (machine->connection)
    {
      g_signal_handlers_disconnect_by_data (machine->connection, machine);
      g_dbus_connection_close (machine->connection, NULL, NULL, NULL);
    }
  g_clear_object (&machine->worker);
  g_clear_object (&machine->connection);
  g_clear_object (&machine->process);
  g_clear_handle_id (&machine->stats_source, g_source_remove);
  machine->worker_pid = 0;
  machine->last_sample = 0;
}

/* A marker in the machine's folder while it runs, so that "auto-start: if-running" can tell after a
 * host restart which machines were running when the host went down. */
static void
mark_running (VireoMachine *machine, gboolean running)
{
  g_autofree char *dir = vireo_machine_store_machine_dir (machine->daemon->store, machine->config->uuid);
  g_autofree char *marker = g_build_filename (dir, "running", NULL);

  if (running)
    {
      g_autoptr (GError) error = NULL;
      if (!g_file_set_contents_full (marker, "", 0, G_FILE_SET_CONTENTS_NONE, 0600, &error))
        g_warning ("%s: %s", machine->config->name, error->message);
    }
  else
    unlink (marker);
}

gboolean
vireo_machine_was_running (VireoMachine *machine)
{
  g_autofree char *dir = vireo_machine_store_machine_dir (machine->daemon->store, machine->config->uuid);
  g_autofree char *marker = g_build_filename (dir, "running", NULL);
  return g_file_test (marker, G_FILE_TEST_EXISTS);
}

/* Maps the worker's end onto the machine's state. */
static void
worker_ended (VireoMachine *machine, const char *reason, const char *message)
{
  g_autoptr (GError) error = NULL;
  gboolean was_restoring = machine->restoring;

  g_debug ("%s: worker ended: %s (%s)", machine->config->name, reason, message);
  drop_worker (machine);
  machine->restoring = FALSE;
  mark_running (machine, FALSE);

  if (g_strcmp0 (reason, "saved") == 0)
    {
      vireo_dbus_machine_set_last_error (machine->iface, "");
      set_state (machine, "saved");
    }
  else if (g_strcmp0 (reason, "power-off") == 0 || g_strcmp0 (reason, "turned-off") == 0)
    {
      vireo_dbus_machine_set_last_error (machine->iface, "");
      set_state (machine, "off");
    }
  else if (g_strcmp0 (reason, "start-failed") == 0)
    {
      vireo_dbus_machine_set_last_error (machine->iface, message ? message : "");
      set_state (machine, was_restoring ? "saved" : "off");
    }
  else
    {
      vireo_dbus_machine_set_last_error (machine->iface,
                                         message && *message ? message : "the machine stopped unexpectedly");
      set_state (machine, "crashed");
    }
  finish_waiters (machine, reason, message);
}

static void
on_worker_properties_changed (GDBusProxy *proxy, GVariant *changed, GStrv invalidated, gpointer data)
{
  VireoMachine *machine = data;
  const char *worker_state = vireo_worker1_get_state (machine->worker);

  if (g_strcmp0 (worker_state, "ended") == 0)
    {
      g_autofree char *reason = g_strdup (vireo_worker1_get_exit_reason (machine->worker));
      g_autofree char *message = g_strdup (vireo_worker1_get_exit_message (machine->worker));
      worker_ended (machine, reason, message);
      return;
    }
  /* Saving and stopping are ours to report; the worker only knows running and paused. */
  if (state_is (machine, "saving") || state_is (machine, "stopping") || state_is (machine, "starting"))
    return;
  if (g_strcmp0 (worker_state, "running") == 0 || g_strcmp0 (worker_state, "paused") == 0)
    set_state (machine, worker_state);
}

static void
on_worker_connection_closed (GDBusConnection *connection, gboolean remote_peer_vanished, GError *error,
                             gpointer data)
{
  VireoMachine *machine = data;
  g_autofree char *message = NULL;

  if (machine->worker && g_strcmp0 (vireo_worker1_get_state (machine->worker), "ended") == 0)
    {
      g_autofree char *reason = g_strdup (vireo_worker1_get_exit_reason (machine->worker));
      g_autofree char *exit_message = g_strdup (vireo_worker1_get_exit_message (machine->worker));
      worker_ended (machine, reason, exit_message);
      return;
    }
  message = g_strdup_printf ("the process running “%s” ended unexpectedly; its definition is unchanged "
                             "and it can be started again",
                             machine->config->name);
  worker_ended (machine, "crashed", message);
}

static void
on_process_exited (GObject *source, GAsyncResult *result, gpointer data)
{
  g_autoptr (VireoMachine) machine = data;
  GSubprocess *process = G_SUBPROCESS (source);
  g_autofree char *message = NULL;

  if (!g_subprocess_wait_finish (process, result, NULL) || machine->process != process)
    return;
  /* The connection closing usually tells us first; this catches a worker that died before it spoke. */
  if (g_subprocess_get_if_signaled (process))
    message = g_strdup_printf ("the process running “%s” was killed by signal %d (%s); its definition is "
                               "unchanged and it can be started again",
                               machine->config->name, g_subprocess_get_term_sig (process),
                               g_strsignal (g_subprocess_get_term_sig (process)));
  else
    message = g_strdup_printf ("the process running “%s” exited with status %d before reporting why",
                               machine->config->name, g_subprocess_get_exit_status (process));
  if (machine->worker && g_strcmp0 (vireo_worker1_get_state (machine->worker), "ended") == 0)
    return;
  worker_ended (machine, "crashed", message);
}

static void
adopt_worker (VireoMachine *machine, GDBusConnection *connection, VireoWorker1 *worker)
{
  GCredentials *credentials = g_dbus_connection_get_peer_credentials (connection);

  machine->connection = g_object_ref (connection);
  machine->worker = g_object_ref (worker);
  machine->worker_pid = credentials ? g_credentials_get_unix_pid (credentials, NULL) : -1;
  g_signal_connect (connection, "closed", G_CALLBACK (on_worker_connection_closed), machine);
  g_signal_connect (worker, "g-properties-changed", G_CALLBACK (on_worker_properties_changed), machine);
  machine->stats_source = g_timeout_add_seconds (STATS_INTERVAL, update_stats, machine);
}

/* --- authorization helper --- */

typedef void (*AuthorizedFunc) (VireoMachine *machine, GDBusMethodInvocation *invocation);

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
authorize (VireoMachine *machine, GDBusMethodInvocation *invocation, const char *action,
           AuthorizedFunc func)
{
  AuthCall *call = g_new0 (AuthCall, 1);
  call->machine = g_object_ref (machine);
  call->invocation = g_object_ref (invocation);
  call->func = func;
  vireo_authority_check_async (machine->daemon->authority, invocation, action, NULL, on_authorized, call);
}

static void
return_error (GDBusMethodInvocation *invocation, VireoError code, const char *format, ...)
  G_GNUC_PRINTF (3, 4);

static void
return_error (GDBusMethodInvocation *invocation, VireoError code, const char *format, ...)
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
  return_error (invocation, VIREO_ERROR_INVALID_STATE, "“%s” is not running (it is %s)",
                machine->config->name, state (machine));
  return FALSE;
}

/* --- Start --- */

typedef struct
{
  VireoMachine *machine;
  GDBusMethodInvocation *invocation; /* NULL for an unattended start */
  GUnixFDList *fds;
  GVariant *config;
} StartCall;

static void
start_call_free (StartCall *call)
{
  g_clear_object (&call->machine);
  g_clear_object (&call->invocation);
  g_clear_object (&call->fds);
  g_clear_pointer (&call->config, g_variant_unref);
  g_free (call);
}

static void
start_failed (StartCall *call, const GError *cause)
{
  VireoMachine *machine = call->machine;
  const char *last_error = vireo_dbus_machine_get_last_error (machine->iface);
  g_autoptr (GError) error = NULL;

  /* A worker that died while we were connecting cancels the connection; why it died is the news. */
  if (g_error_matches (cause, G_IO_ERROR, G_IO_ERROR_CANCELLED) && last_error && *last_error)
    error = g_error_new_literal (VIREO_ERROR, VIREO_ERROR_FAILED, last_error);
  else if (cause->domain != VIREO_ERROR)
    error = g_error_new_literal (VIREO_ERROR, VIREO_ERROR_FAILED, cause->message);
  else
    error = g_error_copy (cause);

  g_message ("%s: cannot start: %s", machine->config->name, error->message);
  if (machine->process)
    g_subprocess_force_exit (machine->process);
  drop_worker (machine);
  vireo_dbus_machine_set_last_error (machine->iface, error->message);
  set_state (machine, machine->restoring ? "saved" : "off");
  machine->restoring = FALSE;
  if (call->invocation)
    g_dbus_method_invocation_return_gerror (call->invocation, error);
  start_call_free (call);
}

static void
on_worker_started (GObject *source, GAsyncResult *result, gpointer data)
{
  StartCall *call = data;
  VireoMachine *machine = call->machine;
  g_autoptr (GError) error = NULL;

  if (!vireo_worker1_call_start_finish (VIREO_WORKER1 (source), NULL, result, &error))
    {
      g_dbus_error_strip_remote_error (error);
      start_failed (call, error);
      return;
    }
  if (machine->restoring)
    {
      g_autoptr (GError) discard_error = NULL;
      /* The state is now live in the worker; resuming the same file twice would fork the past. */
      if (!vireo_machine_store_discard_saved_state (machine->daemon->store, machine->config->uuid,
                                                    &discard_error))
        g_warning ("%s: %s", machine->config->name, discard_error->message);
      machine->restoring = FALSE;
    }
  vireo_dbus_machine_set_last_error (machine->iface, "");
  set_state (machine, g_strcmp0 (vireo_worker1_get_state (machine->worker), "paused") == 0 ? "paused"
                                                                                              : "running");
  mark_running (machine, TRUE);
  update_stats (machine);
  if (call->invocation)
    vireo_dbus_machine_complete_start (machine->iface, call->invocation);
  start_call_free (call);
}

static void
on_worker_proxy (GObject *source, GAsyncResult *result, gpointer data)
{
  StartCall *call = data;
  VireoMachine *machine = call->machine;
  g_autoptr (GError) error = NULL;
  g_autoptr (VireoWorker1) worker = vireo_worker1_proxy_new_finish (result, &error);

  if (worker == NULL)
    {
      start_failed (call, error);
      return;
    }
  adopt_worker (machine, g_dbus_proxy_get_connection (G_DBUS_PROXY (worker)), worker);
  if (machine->process)
    machine->worker_pid = (pid_t) g_ascii_strtoll (g_subprocess_get_identifier (machine->process), NULL, 10);
  g_dbus_proxy_set_default_timeout (G_DBUS_PROXY (worker), WORKER_CALL_TIMEOUT);
  vireo_worker1_call_start (worker, call->config, call->fds, machine->cancellable, on_worker_started, call);
}

static void
on_worker_connected (GObject *source, GAsyncResult *result, gpointer data)
{
  StartCall *call = data;
  g_autoptr (GError) error = NULL;
  g_autoptr (GDBusConnection) connection = g_dbus_connection_new_finish (result, &error);

  if (connection == NULL)
    {
      g_prefix_error (&error, "cannot talk to the machine's process: ");
      start_failed (call, error);
      return;
    }
  vireo_worker1_proxy_new (connection, G_DBUS_PROXY_FLAGS_NONE, NULL, "/org/vireo/Worker1",
                           call->machine->cancellable, on_worker_proxy, call);
}

static int
open_for_worker (const char *path, int flags, const char *what, GError **error)
{
  int fd = open (path, flags | O_CLOEXEC);
  if (fd < 0)
    {
      int saved = errno;
      g_set_error (error, VIREO_ERROR,
                   saved == ENOENT ? VIREO_ERROR_NOT_FOUND
                   : (saved == EACCES || saved == EPERM) ? VIREO_ERROR_PERMISSION_DENIED
                                                         : VIREO_ERROR_FAILED,
                   "cannot open the %s %s: %s", what, path, g_strerror (saved));
    }
  return fd;
}

/* Appends @fd (taking it) to @fds and returns its handle. */
static gint32
pass_fd (GUnixFDList *fds, int fd)
{
  gint32 handle = g_unix_fd_list_append (fds, fd, NULL);
  close (fd);
  return handle;
}

/* What the worker needs, as a{sv} with handles into @fds. */
static GVariant *
build_worker_config (VireoMachine *machine, GUnixFDList *fds, GError **error)
{
  VireoMachineConfig *c = machine->config;
  g_autoptr (GVariantDict) dict = g_variant_dict_new (NULL);
  g_autofree char *state_dir = vireo_machine_store_state_dir (machine->daemon->store, c->uuid);
  g_autofree char *machine_dir = vireo_machine_store_machine_dir (machine->daemon->store, c->uuid);
  int fd;

  fd = open_for_worker (machine->daemon->kvm_path, O_RDWR, "KVM device", error);
  if (fd < 0)
    {
      (*error)->code = (*error)->code == VIREO_ERROR_PERMISSION_DENIED ? VIREO_ERROR_PERMISSION_DENIED
                                                                       : VIREO_ERROR_NO_KVM;
      return NULL;
    }
  g_variant_dict_insert (dict, "kvm-fd", "h", pass_fd (fds, fd));
  g_variant_dict_insert (dict, "memory-mib", "t", c->memory_mib);
  g_variant_dict_insert (dict, "vcpus", "u", c->vcpus);
  g_variant_dict_insert (dict, "cmdline", "s", c->cmdline);
  g_variant_dict_insert (dict, "cpuid-mask", "s", c->cpuid_mask);

  if (g_mkdir_with_parents (state_dir, 0700) < 0)
    {
      int saved = errno;
      g_set_error (error, VIREO_ERROR, VIREO_ERROR_FAILED, "cannot create %s: %s", state_dir,
                   g_strerror (saved));
      return NULL;
    }
  fd = open_for_worker (state_dir, O_RDONLY | O_DIRECTORY, "state folder", error);
  if (fd < 0)
    return NULL;
  g_variant_dict_insert (dict, "state-dir-fd", "h", pass_fd (fds, fd));

  if (machine->restoring)
    g_variant_dict_insert (dict, "restore", "b", TRUE);
  /* Also when restoring: a restored guest that resets boots the kernel afresh. */
  fd = open_for_worker (c->kernel, O_RDONLY, "kernel", error);
  if (fd < 0)
    return NULL;
  g_variant_dict_insert (dict, "kernel-fd", "h", pass_fd (fds, fd));
  if (c->initrd && *c->initrd)
    {
      fd = open_for_worker (c->initrd, O_RDONLY, "initrd", error);
      if (fd < 0)
        return NULL;
      g_variant_dict_insert (dict, "initrd-fd", "h", pass_fd (fds, fd));
    }
  return g_variant_ref_sink (g_variant_dict_end (dict));
}

/* Why the machine cannot start with this build, or NULL. */
static char *
unsupported_reason (const VireoMachineConfig *c)
{
  if (g_strcmp0 (c->boot, "disk") == 0)
    return g_strdup ("booting from a disk image needs firmware, which this version of Vireo does not "
                     "have yet; boot a kernel instead (set “boot” to “kernel”)");
  if (g_strcmp0 (c->network, "nat") == 0)
    return g_strdup ("NAT networking needs the virtual network card, which this version of Vireo does "
                     "not have yet; set “network” to “none”");
  if (c->display)
    return g_strdup ("a graphical display is not part of this version of Vireo yet; set “display” to "
                     "false and use the serial console");
  return NULL;
}

static void
start_machine (VireoMachine *machine, GDBusMethodInvocation *invocation)
{
  StartCall *call = g_new0 (StartCall, 1);
  g_autoptr (GError) error = NULL;
  g_autoptr (GSubprocessLauncher) launcher = NULL;
  g_autofree char *socket_path = NULL;
  g_autofree char *reason = NULL;
  int pair[2];

  call->machine = g_object_ref (machine);
  call->invocation = invocation ? g_object_ref (invocation) : NULL;

  if (is_active (machine) || !(state_is (machine, "off") || state_is (machine, "saved")
                               || state_is (machine, "crashed")))
    {
      g_set_error (&error, VIREO_ERROR, VIREO_ERROR_INVALID_STATE, "“%s” is already %s",
                   machine->config->name, state (machine));
      goto fail_early;
    }
  reason = unsupported_reason (machine->config);
  if (reason)
    {
      g_set_error (&error, VIREO_ERROR, VIREO_ERROR_NOT_SUPPORTED, "cannot start “%s”: %s",
                   machine->config->name, reason);
      goto fail_early;
    }
  if (!hv_check_memory_size (machine->config->memory_mib << 20, &error))
    {
      g_autofree char *message = g_strdup_printf ("cannot start “%s”: %s", machine->config->name,
                                                  error->message);
      g_clear_error (&error);
      g_set_error_literal (&error, VIREO_ERROR, VIREO_ERROR_INVALID_ARGUMENT, message);
      goto fail_early;
    }

  machine->restoring = state_is (machine, "saved")
                       && vireo_machine_store_has_saved_state (machine->daemon->store, machine->config->uuid);
  call->fds = g_unix_fd_list_new ();
  call->config = build_worker_config (machine, call->fds, &error);
  if (call->config == NULL)
    goto fail_early;

  if (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) < 0)
    {
      int saved = errno;
      g_set_error (&error, VIREO_ERROR, VIREO_ERROR_FAILED, "socketpair: %s", g_strerror (saved));
      goto fail_early;
    }
  socket_path = g_strdup_printf ("%s/%s.sock", machine->daemon->workers_dir, machine->config->uuid);
  launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_NONE);
  g_subprocess_launcher_take_fd (launcher, pair[1], 3);
  machine->process = g_subprocess_launcher_spawn (launcher, &error, machine->daemon->worker_path, "--uuid",
                                                  machine->config->uuid, "--socket", socket_path,
                                                  "--connection-fd", "3", NULL);
  if (machine->process == NULL)
    {
      close (pair[0]);
      g_prefix_error (&error, "cannot start the machine's process: ");
      error->domain = VIREO_ERROR;
      error->code = VIREO_ERROR_FAILED;
      goto fail_early;
    }
  machine->cancellable = g_cancellable_new ();
  g_subprocess_wait_async (machine->process, NULL, on_process_exited, g_object_ref (machine));
  set_state (machine, "starting");

  {
    g_autoptr (GSocket) socket = g_socket_new_from_fd (pair[0], &error);
    g_autoptr (GSocketConnection) stream = NULL;
    if (socket == NULL)
      {
        close (pair[0]);
        start_failed (call, error);
        return;
      }
    stream = g_socket_connection_factory_create_connection (socket);
    g_dbus_connection_new (G_IO_STREAM (stream), NULL, G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT, NULL,
                           machine->cancellable, on_worker_connected, call);
  }
  return;

fail_early:
  machine->restoring = FALSE;
  if (call->invocation)
    g_dbus_method_invocation_return_gerror (call->invocation, error);
  else
    g_message ("%s: cannot start: %s", machine->config->name, error->message);
  start_call_free (call);
}

static gboolean
handle_start (VireoDBusMachine *iface, GDBusMethodInvocation *invocation, VireoMachine *machine)
{
  authorize (machine, invocation, VIREO_ACTION_START_STOP, start_machine);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

void
vireo_machine_start_unattended (VireoMachine *machine)
{
  start_machine (machine, NULL);
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
  const char *state_after;  /* the machine's state once the worker agreed, or NULL */
} WorkerCall;

static void
on_worker_call_done (GObject *source, GAsyncResult *result, gpointer data)
{
  WorkerCall *call = data;
  g_autoptr (GError) error = NULL;

  if (call->finish (VIREO_WORKER1 (source), result, &error))
    {
      if (call->state_after && is_active (call->machine))
        set_state (call->machine, call->state_after);
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
      return_error (invocation, VIREO_ERROR_INVALID_STATE, "“%s” is already paused", machine->config->name);
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
      return_error (invocation, VIREO_ERROR_INVALID_STATE, "“%s” is not paused (it is %s)",
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
        set_state (machine, restore_state);
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
  wait_for_end (machine, task);
  if (state_during)
    set_state (machine, state_during);
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
      return_error (invocation, VIREO_ERROR_INVALID_STATE, "“%s” is already being saved",
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
        set_state (machine, g_strcmp0 (vireo_worker1_get_state (machine->worker), "paused") == 0 ? "paused"
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
      return_error (invocation, VIREO_ERROR_INVALID_STATE,
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
  wait_for_end (machine, task);
  set_state (machine, "stopping");
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

static void
on_serial_opened (GObject *source, GAsyncResult *result, gpointer data)
{
  GDBusMethodInvocation *invocation = data;
  g_autoptr (GError) error = NULL;
  g_autoptr (GUnixFDList) fds = NULL;
  g_autoptr (GVariant) handle = NULL;

  if (!vireo_worker1_call_open_serial_finish (VIREO_WORKER1 (source), &handle, &fds, result, &error))
    {
      g_dbus_error_strip_remote_error (error);
      g_dbus_method_invocation_return_gerror (invocation, error);
    }
  else
    g_dbus_method_invocation_return_value_with_unix_fd_list (invocation, g_variant_new ("(@h)", handle), fds);
  g_object_unref (invocation);
}

static void
open_serial (VireoMachine *machine, GDBusMethodInvocation *invocation)
{
  if (!require_active (machine, invocation))
    return;
  vireo_worker1_call_open_serial (machine->worker, NULL, machine->cancellable, on_serial_opened,
                                  g_object_ref (invocation));
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
    return_error (invocation, VIREO_ERROR_NOT_SUPPORTED, "“%s” has no display; use its serial console",
                  machine->config->name);
  else
    return_error (invocation, VIREO_ERROR_NOT_SUPPORTED,
                  "a graphical display is not part of this version of Vireo yet");
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

static void
update_machine (VireoMachine *machine, GDBusMethodInvocation *invocation)
{
  g_autoptr (GVariant) settings = NULL;
  g_autoptr (VireoMachineConfig) config = vireo_machine_config_copy (machine->config);
  g_autoptr (GError) error = NULL;

  g_variant_get (g_dbus_method_invocation_get_parameters (invocation), "(@a{sv})", &settings);
  if (is_active (machine))
    {
      g_autofree char *keys = vireo_machine_config_keys_needing_off (settings);
      if (keys)
        {
          return_error (invocation, VIREO_ERROR_INVALID_STATE,
                        "“%s” is running; turn it off to change %s", machine->config->name, keys);
          return;
        }
    }
  if (!vireo_machine_config_apply_settings (config, settings, FALSE, &error)
      || !vireo_machine_config_validate (config, &error))
    {
      g_dbus_method_invocation_return_gerror (invocation, error);
      return;
    }
  if (machine->name_taken && machine->name_taken (config->name, config->uuid, machine->name_taken_data))
    {
      return_error (invocation, VIREO_ERROR_EXISTS, "another machine is already called “%s”", config->name);
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
      return_error (invocation, VIREO_ERROR_EXISTS, "another machine is already called “%s”", config->name);
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
  if (is_active (machine))
    {
      return_error (invocation, VIREO_ERROR_INVALID_STATE, "“%s” is %s; turn it off before deleting it",
                    machine->config->name, state (machine));
      return;
    }
  if (!vireo_machine_store_delete (machine->daemon->store, machine->config->uuid, delete_disks, &error))
    {
      g_dbus_method_invocation_return_gerror (invocation, error);
      return;
    }
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

/* --- re-attaching --- */

static void
read_exit_record (VireoMachine *machine, const char *record_path)
{
  g_autoptr (GKeyFile) record = g_key_file_new ();
  g_autofree char *reason = NULL;
  g_autofree char *message = NULL;

  if (!g_key_file_load_from_file (record, record_path, G_KEY_FILE_NONE, NULL))
    return;
  reason = g_key_file_get_string (record, "exit", "reason", NULL);
  message = g_key_file_get_string (record, "exit", "message", NULL);
  unlink (record_path);
  if (reason == NULL)
    return;
  worker_ended (machine, reason, message);
}

static void
reattach_done (VireoMachine *machine)
{
  g_assert (machine->daemon->reattaching > 0);
  machine->daemon->reattaching--;
}

static void
on_reattach_proxy (GObject *source, GAsyncResult *result, gpointer data)
{
  g_autoptr (VireoMachine) machine = data;
  g_autoptr (GError) error = NULL;
  g_autoptr (VireoWorker1) worker = vireo_worker1_proxy_new_finish (result, &error);
  const char *worker_state;

  reattach_done (machine);

  if (worker == NULL)
    {
      g_message ("%s: cannot re-attach to its worker: %s", machine->config->name, error->message);
      return;
    }
  worker_state = vireo_worker1_get_state (worker);
  if (g_strcmp0 (worker_state, "ended") == 0)
    {
      /* It ended while nobody listened; once we let go of it, it exits. */
      g_autofree char *reason = g_strdup (vireo_worker1_get_exit_reason (worker));
      g_autofree char *message = g_strdup (vireo_worker1_get_exit_message (worker));
      worker_ended (machine, reason, message);
      return;
    }
  if (g_strcmp0 (worker_state, "running") != 0 && g_strcmp0 (worker_state, "paused") != 0)
    return;
  g_message ("%s: re-attached to its running worker", machine->config->name);
  machine->cancellable = g_cancellable_new ();
  adopt_worker (machine, g_dbus_proxy_get_connection (G_DBUS_PROXY (worker)), worker);
  g_dbus_proxy_set_default_timeout (G_DBUS_PROXY (worker), WORKER_CALL_TIMEOUT);
  set_state (machine, worker_state);
  update_stats (machine);
}

static void
on_reattach_connected (GObject *source, GAsyncResult *result, gpointer data)
{
  g_autoptr (VireoMachine) machine = data;
  g_autoptr (GError) error = NULL;
  g_autoptr (GDBusConnection) connection = g_dbus_connection_new_for_address_finish (result, &error);
  g_autofree char *socket_path = g_strdup_printf ("%s/%s.sock", machine->daemon->workers_dir,
                                                  machine->config->uuid);

  if (connection == NULL)
    {
      g_message ("%s: removing the stale worker socket %s (%s)", machine->config->name, socket_path,
                 error->message);
      unlink (socket_path);
      reattach_done (machine);
      return;
    }
  vireo_worker1_proxy_new (connection, G_DBUS_PROXY_FLAGS_NONE, NULL, "/org/vireo/Worker1", NULL,
                           on_reattach_proxy, g_object_ref (machine));
}

void
vireo_machine_reattach (VireoMachine *machine)
{
  g_autofree char *socket_path = g_strdup_printf ("%s/%s.sock", machine->daemon->workers_dir,
                                                  machine->config->uuid);
  g_autofree char *record_path = g_strconcat (socket_path, ".exit", NULL);
  g_autofree char *escaped = NULL;
  g_autofree char *address = NULL;

  if (vireo_machine_store_has_saved_state (machine->daemon->store, machine->config->uuid))
    set_state (machine, "saved");
  if (g_file_test (record_path, G_FILE_TEST_EXISTS))
    read_exit_record (machine, record_path);
  if (!g_file_test (socket_path, G_FILE_TEST_EXISTS))
    return;

  escaped = g_dbus_address_escape_value (socket_path);
  address = g_strconcat ("unix:path=", escaped, NULL);
  machine->daemon->reattaching++;
  g_dbus_connection_new_for_address (address, G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT, NULL, NULL,
                                     on_reattach_connected, g_object_ref (machine));
}

/* --- object --- */

static void
vireo_machine_dispose (GObject *object)
{
  VireoMachine *machine = VIREO_MACHINE (object);

  finish_waiters (machine, "gone", "the service is shutting down");
  /* Leaving the worker running on purpose: a restarted vireod re-attaches to it. */
  drop_worker (machine);
  g_clear_object (&machine->iface);
  g_clear_object (&machine->object);
  G_OBJECT_CLASS (vireo_machine_parent_class)->dispose (object);
}

static void
vireo_machine_finalize (GObject *object)
{
  VireoMachine *machine = VIREO_MACHINE (object);
  g_clear_pointer (&machine->config, vireo_machine_config_free);
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
