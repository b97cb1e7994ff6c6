/* worker-private.h — the worker's state, shared by worker.c (the machine's life) and worker-checkpoints.c. */
#pragma once

#include "agent.h"
#include "worker.h"
#include "serial-mux.h"
#include "vireo-error.h"
#include "worker-config.h"

#include <gio/gunixfdlist.h>

/* More than this many guest resets within the window end the machine instead of rebooting it again:
 * a guest that cannot boot should say so rather than spin. */
#define RESET_LOOP_MAX            3
#define RESET_LOOP_WINDOW_SECONDS 10

typedef enum
{
  WORKER_IDLE,
  WORKER_RUNNING,
  WORKER_PAUSED,
  WORKER_SAVING,
  WORKER_ENDED,
} WorkerState;

/* What the worker asked of the VM it stopped, which decides what its end means. */
typedef enum
{
  STOP_NONE,
  STOP_RESET,
  STOP_TURN_OFF,
  STOP_SAVE,
} StopRequest;

typedef struct
{
  GDBusMethodInvocation *invocation;
  StopRequest request;
} Waiter;

struct _VireoWorker
{
  VireoWorker1 *skeleton;
  VireoSerialMux *serial;
  VireoWorkerConfig *config;
  HvVm *vm;
  guint exit_watch;
  guint addresses_poll; /* GuestAddresses, while there is a VM */
  WorkerState state;
  StopRequest stop;
  gboolean save_running;  /* a thread is writing the VM's state: the VM must stay */
  gboolean exit_deferred; /* the VM ended while that thread ran */
  gboolean running_before_save;
  gboolean checkpoint_busy; /* a checkpoint operation is under way (see CheckpointOp) */
  int agent_fd;             /* the host end of the guest agent's port, when the worker made it; or -1 */
  GQueue waiters;           /* Waiter: calls answered once the machine restarted or ended */
  gint64 resets[RESET_LOOP_MAX + 1]; /* monotonic times of the latest guest resets */
  unsigned n_resets;
  VireoWorkerEndedFunc ended;
  gpointer ended_data;
};

void set_state (VireoWorker *worker, WorkerState state);

void return_error (GDBusMethodInvocation *invocation, VireoError code, const char *message);

/* Answers with an HV_ERROR from the core, as the service's error. */
void return_hv_error (GDBusMethodInvocation *invocation, const GError *hv_error);

/* The InvalidState answer for a call that needs a running (or paused) machine, saying what it is. */
void return_not_active (VireoWorker *worker, GDBusMethodInvocation *invocation);

/* Running or paused, and not already on its way to a stop. */
gboolean is_active (VireoWorker *worker);

/* The VM's threads have ended: decide between a reboot and the end of the machine. */
void handle_vm_exit (VireoWorker *worker);

/* ---- worker-checkpoints.c: Worker1's checkpoint calls ---- */

gboolean handle_create_checkpoint (VireoWorker1 *skeleton, GDBusMethodInvocation *invocation,
                                   GUnixFDList *fd_list, const char *name, GVariant *options,
                                   VireoWorker *worker);

gboolean handle_apply_checkpoint (VireoWorker1 *skeleton, GDBusMethodInvocation *invocation,
                                  GUnixFDList *fd_list, const char *name, GVariant *options,
                                  VireoWorker *worker);

gboolean handle_delete_checkpoint (VireoWorker1 *skeleton, GDBusMethodInvocation *invocation,
                                   const char *name, VireoWorker *worker);
