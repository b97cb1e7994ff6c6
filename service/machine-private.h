/* machine-private.h — what machine.c (the Machine methods, state and definition changes) and
 * machine-worker.c (the vireo-worker process) share: the machine object and the calls between them. */
#pragma once

#include "machine.h"
#include "checkpoints.h"
#include "vireo-worker-generated.h"
#include "vireo-error.h"

#include <sys/types.h>

G_BEGIN_DECLS

#define WORKER_CALL_TIMEOUT (60 * 1000)

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
  GSubprocess *process; /* NULL when re-attached */
  GDBusConnection *connection;
  VireoWorker1 *worker;
  pid_t worker_pid;
  uid_t worker_uid;   /* system mode: the machine's own user while its worker runs; else 0 */
  gboolean restoring; /* the current start resumes saved state */
  GCancellable *cancellable;

  /* Calls waiting for the machine to end (TurnOff, Save, Shutdown). */
  GList *waiting_for_end; /* GTask */
  guint shutdown_timeout;

  /* The disk operation under way (machine-disks.c: "create", "resize", "import"), or NULL: one at a
   * time, and the machine does not start meanwhile. */
  const char *disk_operation;
  GCancellable *disk_cancellable;
  /* The disks being received (machine-disk-receive.c), target → image path, from ReceiveDisk until
   * FinishReceivedDisk: the machine does not start meanwhile.  NULL until the first. */
  GHashTable *receiving_disks;

  /* The checkpoints (machine-checkpoints.c): the tree, its D-Bus objects (id → object skeleton), and
   * the checkpoint operation that holds disk_operation ("checkpoint"). */
  VireoCheckpointTree *checkpoints;
  GHashTable *checkpoint_objects;
  gpointer checkpoint_op;
  GList *checkpoint_waiting; /* calls that came while interrupted work was being finished */
  /* A move's checkpoints (machine-checkpoint-send.c, machine-checkpoint-receive.c): how many archives
   * are being written, and the archive being received (from ReceiveCheckpointArchive until
   * FinishCheckpointArchive returns); checkpoint operations and Start wait for neither. */
  guint checkpoint_archives_sending;
  gpointer checkpoint_receive;

  guint stats_source;
  guint64 last_cpu_ticks;
  gint64 last_sample;
};

/* ---- the State property (machine.c) ---- */

static inline const char *
state (VireoMachine *machine)
{
  return vireo_dbus_machine_get_state (machine->iface);
}

static inline gboolean
state_is (VireoMachine *machine, const char *name)
{
  return g_strcmp0 (state (machine), name) == 0;
}

static inline gboolean
is_active (VireoMachine *machine)
{
  return machine->worker != NULL;
}

/* Sets State and announces the change before the next reply goes out. */
void vireo_machine_set_state (VireoMachine *machine, const char *new_state);

/* ---- shared by the Machine methods (machine.c) ---- */

typedef void (*VireoAuthorizedFunc) (VireoMachine *machine, GDBusMethodInvocation *invocation);

/* Asks whether the caller of @invocation may do @action (asynchronously) and then calls @func, or
 * returns the refusal. */
void vireo_machine_authorize (VireoMachine *machine, GDBusMethodInvocation *invocation, const char *action,
                              VireoAuthorizedFunc func);
/* Returns a VIREO_ERROR on @invocation, its message from @format. */
void vireo_machine_return_error (GDBusMethodInvocation *invocation, VireoError code, const char *format, ...)
    G_GNUC_PRINTF (3, 4);
/* Stores @config (taking it) as the machine's definition and publishes it; on failure returns the error
 * on @invocation and FALSE. */
gboolean vireo_machine_store_config (VireoMachine *machine, VireoMachineConfig *config,
                                     GDBusMethodInvocation *invocation);

/* ---- disks (machine-disks.c) ---- */

/* Connects the disk methods (CreateDisk, AttachDisk, ...) and clears what an interrupted import left. */
void vireo_machine_disks_init (VireoMachine *machine);
/* The target of a disk still being received (machine-disk-receive.c), or NULL. */
const char *vireo_machine_receiving_disk (VireoMachine *machine);

/* ---- checkpoints (machine-checkpoints.c) ---- */

/* Loads the tree, exports its objects and connects CreateCheckpoint. */
void vireo_machine_checkpoints_init (VireoMachine *machine);
/* Machine.Start once authorized (and the unattended start): finishes interrupted checkpoint work and
 * takes the automatic checkpoint when the machine starts from off, then starts the worker. */
void vireo_machine_checkpoints_start (VireoMachine *machine, GDBusMethodInvocation *invocation);
/* Unexports the checkpoints' objects and lets go of the tree. */
void vireo_machine_checkpoints_drop (VireoMachine *machine);
/* After the worker's end: finishes what an interrupted checkpoint operation left. */
void vireo_machine_checkpoints_worker_ended (VireoMachine *machine);

/* ---- the worker (machine-worker.c, machine-worker-reattach.c) ---- */

/* Gives a folder the worker writes (saved state, a checkpoint's state) to the machine's user @uid
 * (system mode), as vireod keeps reaching it through the group. */
gboolean vireo_machine_give_state_dir (int dir_fd, uid_t uid, GError **error);

/* Machine.Start once authorized: checks that the machine can start, spawns its worker and connects
 * to it.  @invocation is NULL for an unattended start, whose failure is only logged. */
void vireo_machine_start_worker (VireoMachine *machine, GDBusMethodInvocation *invocation);

/* Lets go of the worker (proxy, connection, process, statistics) without stopping it. */
void vireo_machine_drop_worker (VireoMachine *machine);
/* Drops the record of how the machine last ended (a new run starts, or the machine goes). */
void vireo_machine_forget_exit (VireoMachine *machine);

/* Takes @task, whose task data is the end reason it waits for (NULL: any), until the worker ends. */
void vireo_machine_wait_for_end (VireoMachine *machine, GTask *task);
/* Completes every waiting task: successfully when @reason is the one it waits for ("off" also takes
 * "power-off"), else with @message as the error. */
void vireo_machine_finish_waiters (VireoMachine *machine, const char *reason, const char *message);

G_END_DECLS
