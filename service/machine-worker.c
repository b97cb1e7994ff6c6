/* machine-worker.c — the vireo-worker process that runs a machine: spawned and connected to at Start
 * (what Start sends it is machine-worker-config.c), watched (statistics, its end and the calls waiting
 * for it); re-attaching after a vireod restart is machine-worker-reattach.c. */
#include "machine-worker-private.h"
#include "exit-record.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <gio/gunixfdlist.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define STATS_INTERVAL 2 /* seconds */

/* System mode runs each machine's worker under a user of its own, like systemd's DynamicUser= and
 * libvirt's per-VM users, so that one machine's worker cannot signal, trace or read another's.  The
 * users are not in /etc/passwd: uids from a range that systemd's UIDS-GIDS.md leaves unused
 * (0x70000000–0x7FFEFFFF lies between the container ranges and the foreign range), 65536 of them from
 * 0x7A000000.  A machine's uid is derived from its UUID (FNV-1a) so that it stays the same from one run to
 * the next (its saved state stays its own), probing onward past a uid that /etc/passwd or /etc/group
 * names (getpwuid, getgrgid) or that another running machine holds.  No table to keep: a collision only
 * moves the later machine to the next free uid for that run, and its state folder is given to the uid
 * it runs as at every start.  The gid is the same number. */
#define WORKER_UID_FIRST 0x7A000000u
#define WORKER_UID_COUNT 0x10000u

/* uid → the machine (not referenced) whose worker runs as it. */
static GHashTable *worker_uids;

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

gboolean
vireo_machine_update_stats (gpointer data)
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
      vireo_dbus_machine_set_uptime (
          machine->iface,
          real_now > (gint64) start_time ? (guint64) (real_now - (gint64) start_time) / G_USEC_PER_SEC : 0);
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

void
vireo_machine_wait_for_end (VireoMachine *machine, GTask *task)
{
  machine->waiting_for_end = g_list_append (machine->waiting_for_end, task);
}

void
vireo_machine_finish_waiters (VireoMachine *machine, const char *reason, const char *message)
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

/* --- the machine's own user (system mode) --- */

static void
hold_worker_uid (VireoMachine *machine, uid_t uid)
{
  if (worker_uids == NULL)
    worker_uids = g_hash_table_new (NULL, NULL);
  machine->worker_uid = uid;
  g_hash_table_insert (worker_uids, GUINT_TO_POINTER (uid), machine);
}

static gboolean
worker_uid_taken (VireoMachine *machine, uid_t uid)
{
  gpointer holder = worker_uids ? g_hash_table_lookup (worker_uids, GUINT_TO_POINTER (uid)) : NULL;
  return (holder != NULL && holder != machine) || getpwuid (uid) != NULL || getgrgid ((gid_t) uid) != NULL;
}

static uid_t
choose_worker_uid (VireoMachine *machine, GError **error)
{
  guint32 hash = 2166136261u;

  for (const char *c = machine->config->uuid; *c; c++)
    hash = (hash ^ (guint8) g_ascii_tolower (*c)) * 16777619u;
  for (guint32 i = 0; i < WORKER_UID_COUNT; i++)
    {
      uid_t uid = WORKER_UID_FIRST + (hash + i) % WORKER_UID_COUNT;
      if (!worker_uid_taken (machine, uid))
        return uid;
    }
  g_set_error (error, VIREO_ERROR, VIREO_ERROR_FAILED, "cannot start “%s”: no user is left for its process",
               machine->config->name);
  return 0;
}

/* Gives the machine's state folder (and the saved state in it) to @uid, which writes it, while vireod
 * keeps reaching it through the group: vireod has no CAP_DAC_OVERRIDE.  Mode first, while the folder is
 * still vireod's, then the owners. */
gboolean
vireo_machine_give_state_dir (int dir_fd, uid_t uid, GError **error)
{
  int listing_fd = -1;
  DIR *listing = NULL;
  struct dirent *entry;

  if (fchmod (dir_fd, 0770) < 0 && errno != EPERM)
    goto fail;
  listing_fd = openat (dir_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (listing_fd < 0 || (listing = fdopendir (listing_fd)) == NULL)
    goto fail;
  while ((entry = readdir (listing)) != NULL)
    {
      if (g_str_equal (entry->d_name, ".") || g_str_equal (entry->d_name, ".."))
        continue;
      if (fchownat (dir_fd, entry->d_name, uid, 0, AT_SYMLINK_NOFOLLOW) < 0)
        goto fail;
    }
  closedir (listing);
  if (fchown (dir_fd, uid, 0) < 0)
    goto fail;
  return TRUE;

fail:
  {
    int saved = errno;
    if (listing)
      closedir (listing);
    else if (listing_fd >= 0)
      close (listing_fd);
    g_set_error (error, VIREO_ERROR, VIREO_ERROR_FAILED,
                 "cannot give the machine's state folder to its user: %s", g_strerror (saved));
    return FALSE;
  }
}

/* --- the worker --- */

/* GuestAddresses: the worker's NIC id → address, as a list in the order of the NICs (those with an
 * address only). */
static void
mirror_guest_addresses (VireoMachine *machine)
{
  g_autoptr (GVariant) addresses = NULL;
  g_autoptr (GStrvBuilder) list = g_strv_builder_new ();
  g_auto (GStrv) strv = NULL;

  if (machine->worker != NULL)
    addresses = vireo_worker1_dup_guest_addresses (machine->worker);
  for (guint i = 0; addresses != NULL && i < machine->config->nics->len; i++)
    {
      g_autofree char *id = g_strdup_printf ("net%u", i);
      const char *address;

      if (g_variant_lookup (addresses, id, "&s", &address))
        g_strv_builder_add (list, address);
    }
  strv = g_strv_builder_end (list);
  /* Only a change is announced (the setter compares). */
  vireo_dbus_machine_set_guest_addresses (machine->iface, (const char *const *) strv);
}

void
vireo_machine_drop_worker (VireoMachine *machine)
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
  if (machine->worker_uid != 0 && worker_uids
      && g_hash_table_lookup (worker_uids, GUINT_TO_POINTER (machine->worker_uid)) == machine)
    g_hash_table_remove (worker_uids, GUINT_TO_POINTER (machine->worker_uid));
  machine->worker_uid = 0;
  machine->worker_pid = 0;
  machine->last_sample = 0;
  mirror_guest_addresses (machine);
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

static char *
exit_record_path (VireoMachine *machine)
{
  return g_strdup_printf ("%s/%s.sock.exit", machine->daemon->workers_dir, machine->config->uuid);
}

/* A crash stays visible until the machine starts again or goes away, whether or not vireod restarts in
 * between: its record is kept (written here if the worker did not), every other end clears it. */
static void
keep_exit_record (VireoMachine *machine, gboolean crashed, const char *reason, const char *message)
{
  g_autofree char *path = exit_record_path (machine);
  g_autoptr (GError) error = NULL;

  if (!crashed)
    unlink (path);
  else if (!vireo_exit_record_write (path, machine->config->uuid, reason, message, 0, &error))
    g_warning ("%s: cannot keep the record of its crash: %s", machine->config->name, error->message);
}

void
vireo_machine_forget_exit (VireoMachine *machine)
{
  g_autofree char *path = exit_record_path (machine);
  unlink (path);
}

/* Maps the worker's end onto the machine's state. */
void
vireo_machine_worker_ended (VireoMachine *machine, const char *reason, const char *message)
{
  g_autoptr (GError) error = NULL;
  gboolean was_restoring = machine->restoring;

  g_debug ("%s: worker ended: %s (%s)", machine->config->name, reason, message);
  vireo_machine_drop_worker (machine);
  /* The re-attach socket is ours (bound at Start); its worker has nothing more to say. */
  {
    g_autofree char *socket_path = g_strdup_printf ("%s/%s.sock", machine->daemon->workers_dir,
                                                    machine->config->uuid);
    unlink (socket_path);
  }
  machine->restoring = FALSE;
  mark_running (machine, FALSE);

  if (g_strcmp0 (reason, "saved") == 0)
    {
      vireo_dbus_machine_set_last_error (machine->iface, "");
      vireo_machine_set_state (machine, "saved");
    }
  else if (g_strcmp0 (reason, "power-off") == 0 || g_strcmp0 (reason, "turned-off") == 0)
    {
      vireo_dbus_machine_set_last_error (machine->iface, "");
      vireo_machine_set_state (machine, "off");
    }
  else if (g_strcmp0 (reason, "start-failed") == 0)
    {
      vireo_dbus_machine_set_last_error (machine->iface, message ? message : "");
      vireo_machine_set_state (machine, was_restoring ? "saved" : "off");
    }
  else
    {
      vireo_dbus_machine_set_last_error (machine->iface,
                                         message && *message ? message : "the machine stopped unexpectedly");
      vireo_machine_set_state (machine, "crashed");
    }
  keep_exit_record (machine, g_str_equal (vireo_machine_get_state (machine), "crashed"), reason,
                    vireo_dbus_machine_get_last_error (machine->iface));
  vireo_machine_finish_waiters (machine, reason, message);
  vireo_machine_checkpoints_worker_ended (machine);
}

static void
on_worker_properties_changed (GDBusProxy *proxy, GVariant *changed, GStrv invalidated, gpointer data)
{
  VireoMachine *machine = data;
  const char *worker_state = vireo_worker1_get_state (machine->worker);
  g_autoptr (GVariant) addresses = g_variant_lookup_value (changed, "GuestAddresses", NULL);

  if (addresses != NULL)
    mirror_guest_addresses (machine);

  if (g_strcmp0 (worker_state, "ended") == 0)
    {
      g_autofree char *reason = g_strdup (vireo_worker1_get_exit_reason (machine->worker));
      g_autofree char *message = g_strdup (vireo_worker1_get_exit_message (machine->worker));
      vireo_machine_worker_ended (machine, reason, message);
      return;
    }
  /* Saving and stopping are ours to report; the worker only knows running and paused. */
  if (state_is (machine, "saving") || state_is (machine, "stopping") || state_is (machine, "starting"))
    return;
  if (g_strcmp0 (worker_state, "running") == 0 || g_strcmp0 (worker_state, "paused") == 0)
    vireo_machine_set_state (machine, worker_state);
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
      vireo_machine_worker_ended (machine, reason, exit_message);
      return;
    }
  /* Our own child: its exit status, moments away, says more (a signal such as the sandbox's SIGSYS). */
  if (machine->process != NULL)
    {
      g_signal_handlers_disconnect_by_data (connection, machine);
      return;
    }
  message = g_strdup_printf ("the process running “%s” ended unexpectedly; its definition is unchanged "
                             "and it can be started again",
                             machine->config->name);
  vireo_machine_worker_ended (machine, "crashed", message);
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
  vireo_machine_worker_ended (machine, "crashed", message);
}

void
vireo_machine_adopt_worker (VireoMachine *machine, GDBusConnection *connection, VireoWorker1 *worker)
{
  GCredentials *credentials = g_dbus_connection_get_peer_credentials (connection);

  machine->connection = g_object_ref (connection);
  machine->worker = g_object_ref (worker);
  machine->worker_pid = credentials ? g_credentials_get_unix_pid (credentials, NULL) : -1;
  if (machine->daemon->mode == VIREO_MODE_SYSTEM && machine->worker_uid == 0 && credentials)
    {
      /* Re-attached: the uid it runs as is taken, whatever this vireod would choose. */
      uid_t uid = g_credentials_get_unix_user (credentials, NULL);
      if (uid != (uid_t) -1 && uid != 0)
        hold_worker_uid (machine, uid);
    }
  g_signal_connect (connection, "closed", G_CALLBACK (on_worker_connection_closed), machine);
  g_signal_connect (worker, "g-properties-changed", G_CALLBACK (on_worker_properties_changed), machine);
  machine->stats_source = g_timeout_add_seconds (STATS_INTERVAL, vireo_machine_update_stats, machine);
  mirror_guest_addresses (machine);
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
  vireo_machine_drop_worker (machine);
  vireo_dbus_machine_set_last_error (machine->iface, error->message);
  vireo_machine_set_state (machine, machine->restoring ? "saved" : "off");
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
  vireo_machine_set_state (
      machine, g_strcmp0 (vireo_worker1_get_state (machine->worker), "paused") == 0 ? "paused" : "running");
  mark_running (machine, TRUE);
  vireo_machine_update_stats (machine);
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
  vireo_machine_adopt_worker (machine, g_dbus_proxy_get_connection (G_DBUS_PROXY (worker)), worker);
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

/* The worker's re-attach socket, bound here (vireod's folder is not the worker's to write) and handed
 * over listening; -1 and @error on failure.  A socket left by a dead worker is replaced: the machine is
 * not running, so nobody listens there. */
static int
bind_worker_socket (const char *path, GError **error)
{
  struct sockaddr_un address = { .sun_family = AF_UNIX };
  int fd;

  g_assert (strlen (path) < sizeof address.sun_path);
  strcpy (address.sun_path, path);
  if (unlink (path) < 0 && errno != ENOENT)
    goto fail;
  fd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    goto fail;
  if (bind (fd, (struct sockaddr *) &address, sizeof address) < 0 || chmod (path, 0600) < 0
      || listen (fd, 16) < 0)
    {
      int saved = errno;
      close (fd);
      errno = saved;
      goto fail;
    }
  return fd;

fail:
  {
    int saved = errno;
    g_set_error (error, VIREO_ERROR, VIREO_ERROR_FAILED, "cannot make the machine's socket %s: %s", path,
                 g_strerror (saved));
    return -1;
  }
}

/* An empty exit record for this run, which the worker fills through its fd if it ends with nobody
 * listening; readable by vireod through the group when the worker has a user of its own. */
static int
make_exit_record (VireoMachine *machine, GError **error)
{
  g_autofree char *path = exit_record_path (machine);
  int fd = open (path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);

  if (fd < 0
      || (machine->worker_uid != 0 && (fchmod (fd, 0640) < 0 || fchown (fd, machine->worker_uid, 0) < 0)))
    {
      int saved = errno;
      if (fd >= 0)
        close (fd);
      g_set_error (error, VIREO_ERROR, VIREO_ERROR_FAILED, "cannot make %s: %s", path, g_strerror (saved));
      return -1;
    }
  return fd;
}

void
vireo_machine_start_worker (VireoMachine *machine, GDBusMethodInvocation *invocation)
{
  StartCall *call = g_new0 (StartCall, 1);
  g_autoptr (GError) error = NULL;
  g_autoptr (GSubprocessLauncher) launcher = NULL;
  g_autofree char *socket_path = NULL;
  g_autofree char *reason = NULL;
  int pair[2];
  int listen_fd = -1;
  int record_fd = -1;

  call->machine = g_object_ref (machine);
  call->invocation = invocation ? g_object_ref (invocation) : NULL;

  if (is_active (machine)
      || !(state_is (machine, "off") || state_is (machine, "saved") || state_is (machine, "crashed")))
    {
      g_set_error (&error, VIREO_ERROR, VIREO_ERROR_INVALID_STATE, "“%s” is already %s",
                   machine->config->name, state (machine));
      goto fail_early;
    }
  if (machine->disk_operation != NULL)
    {
      g_set_error (&error, VIREO_ERROR, VIREO_ERROR_INVALID_STATE,
                   "cannot start “%s” while its disk operation (%s) is under way", machine->config->name,
                   machine->disk_operation);
      goto fail_early;
    }
  if (vireo_machine_receiving_disk (machine) != NULL)
    {
      g_set_error (&error, VIREO_ERROR, VIREO_ERROR_INVALID_STATE,
                   "cannot start “%s”: disk %s is still being received", machine->config->name,
                   vireo_machine_receiving_disk (machine));
      goto fail_early;
    }
  if (!vireo_machine_check_spec_for_start (machine->config, &error))
    {
      g_autofree char *message = g_strdup_printf ("cannot start “%s”: %s", machine->config->name,
                                                  error->message);
      g_clear_error (&error);
      g_set_error_literal (&error, VIREO_ERROR, VIREO_ERROR_INVALID_ARGUMENT, message);
      goto fail_early;
    }

  /* Said here, where the user hears it: the worker could only exit. */
  socket_path = g_strdup_printf ("%s/%s.sock", machine->daemon->workers_dir, machine->config->uuid);
  if (strlen (socket_path) >= sizeof ((struct sockaddr_un *) NULL)->sun_path)
    {
      g_set_error (&error, VIREO_ERROR, VIREO_ERROR_FAILED,
                   "cannot start “%s”: its socket path %s is longer than a unix socket allows (%zu bytes); "
                   "use a shorter runtime folder",
                   machine->config->name, socket_path, sizeof ((struct sockaddr_un *) NULL)->sun_path - 1);
      goto fail_early;
    }

  machine->restoring = state_is (machine, "saved")
                       && vireo_machine_store_has_saved_state (machine->daemon->store, machine->config->uuid);
  if (machine->daemon->mode == VIREO_MODE_SYSTEM)
    {
      uid_t uid = choose_worker_uid (machine, &error);
      if (uid == 0)
        goto fail_early;
      hold_worker_uid (machine, uid);
    }
  call->fds = g_unix_fd_list_new ();
  call->config = vireo_machine_build_worker_config (machine, call->fds, &error);
  if (call->config == NULL)
    goto fail_early;

  if (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) < 0)
    {
      int saved = errno;
      g_set_error (&error, VIREO_ERROR, VIREO_ERROR_FAILED, "socketpair: %s", g_strerror (saved));
      goto fail_early;
    }
  /* A new run: how the last one ended is history now. */
  vireo_machine_forget_exit (machine);
  listen_fd = bind_worker_socket (socket_path, &error);
  if (listen_fd < 0 || (record_fd = make_exit_record (machine, &error)) < 0)
    {
      if (listen_fd >= 0)
        close (listen_fd);
      close (pair[0]);
      close (pair[1]);
      goto fail_early;
    }
  launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_NONE);
  g_subprocess_launcher_take_fd (launcher, pair[1], 3);
  g_subprocess_launcher_take_fd (launcher, listen_fd, 4);
  g_subprocess_launcher_take_fd (launcher, record_fd, 5);
  /* --user: the worker starts as root only to set up its namespace (mapping root, so that vireod stays
   * known as root on its sockets) and becomes the machine's user before it touches a guest (sandbox.c).
   * --display: it loads the display module before its sandbox hides it. */
  {
    g_autoptr (GPtrArray) argv = g_ptr_array_new_with_free_func (g_free);
    g_ptr_array_add (argv, g_strdup (machine->daemon->worker_path));
    g_ptr_array_add (argv, g_strdup ("--uuid"));
    g_ptr_array_add (argv, g_strdup (machine->config->uuid));
    g_ptr_array_add (argv, g_strdup ("--socket"));
    g_ptr_array_add (argv, g_strdup (socket_path));
    g_ptr_array_add (argv, g_strdup ("--connection-fd=3"));
    g_ptr_array_add (argv, g_strdup ("--listen-fd=4"));
    g_ptr_array_add (argv, g_strdup ("--exit-record-fd=5"));
    if (machine->worker_uid != 0)
      g_ptr_array_add (argv, g_strdup_printf ("--user=%u", (unsigned) machine->worker_uid));
    if (machine->config->display)
      g_ptr_array_add (argv, g_strdup ("--display"));
    g_ptr_array_add (argv, NULL);
    machine->process = g_subprocess_launcher_spawnv (launcher, (const char *const *) argv->pdata, &error);
  }
  if (machine->process == NULL)
    {
      close (pair[0]);
      unlink (socket_path);
      g_prefix_error (&error, "cannot start the machine's process: ");
      error->domain = VIREO_ERROR;
      error->code = VIREO_ERROR_FAILED;
      goto fail_early;
    }
  machine->cancellable = g_cancellable_new ();
  g_subprocess_wait_async (machine->process, NULL, on_process_exited, g_object_ref (machine));
  vireo_machine_set_state (machine, "starting");

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
  if (machine->process == NULL && machine->worker_uid != 0)
    {
      g_hash_table_remove (worker_uids, GUINT_TO_POINTER (machine->worker_uid));
      machine->worker_uid = 0;
    }
  if (call->invocation)
    g_dbus_method_invocation_return_gerror (call->invocation, error);
  else
    g_message ("%s: cannot start: %s", machine->config->name, error->message);
  start_call_free (call);
}
