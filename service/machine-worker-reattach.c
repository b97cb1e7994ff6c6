/* machine-worker-reattach.c — a machine's worker found again after a vireod restart: connected to through
 * its socket and adopted if it still runs, or its end taken from what it says or from its exit record. */
#include "machine-worker-private.h"
#include "exit-record.h"

#include <unistd.h>

/* The record of an end no vireod saw (left by the worker) or of a crash (kept by an earlier vireod). */
static void
read_exit_record (VireoMachine *machine, const char *record_path)
{
  g_autofree char *reason = NULL;
  g_autofree char *message = NULL;

  if (vireo_exit_record_read (record_path, &reason, &message))
    vireo_machine_worker_ended (machine, reason, message);
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
      vireo_machine_worker_ended (machine, reason, message);
      return;
    }
  if (g_strcmp0 (worker_state, "running") != 0 && g_strcmp0 (worker_state, "paused") != 0)
    return;
  g_message ("%s: re-attached to its running worker", machine->config->name);
  machine->cancellable = g_cancellable_new ();
  vireo_machine_adopt_worker (machine, g_dbus_proxy_get_connection (G_DBUS_PROXY (worker)), worker);
  g_dbus_proxy_set_default_timeout (G_DBUS_PROXY (worker), WORKER_CALL_TIMEOUT);
  vireo_machine_set_state (machine, worker_state);
  vireo_machine_update_stats (machine);
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
      g_autofree char *record_path = g_strconcat (socket_path, ".exit", NULL);
      g_message ("%s: removing the stale worker socket %s (%s)", machine->config->name, socket_path,
                 error->message);
      unlink (socket_path);
      read_exit_record (machine, record_path);
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
    vireo_machine_set_state (machine, "saved");
  /* A worker still there says itself how the machine ended; the record speaks only for one that is gone,
   * so an end is taken exactly once. */
  if (!g_file_test (socket_path, G_FILE_TEST_EXISTS))
    {
      read_exit_record (machine, record_path);
      return;
    }

  escaped = g_dbus_address_escape_value (socket_path);
  address = g_strconcat ("unix:path=", escaped, NULL);
  machine->daemon->reattaching++;
  g_dbus_connection_new_for_address (address, G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT, NULL, NULL,
                                     on_reattach_connected, g_object_ref (machine));
}
