/* worker.h — one hosted machine behind the org.vireo.Worker1 skeleton: its lifecycle from Start to the
 * end, reboots in place, the serial console, and Save. */
#pragma once

#include "vireo-worker-generated.h"

G_BEGIN_DECLS

typedef struct _VireoWorker VireoWorker;

/* Called once, on the main loop, when the machine has ended (State "ended"). */
typedef void (*VireoWorkerEndedFunc) (VireoWorker *worker, gpointer user_data);

VireoWorker *vireo_worker_new (const char *uuid, VireoWorkerEndedFunc ended, gpointer user_data,
                               GError **error);
void vireo_worker_free (VireoWorker *worker);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (VireoWorker, vireo_worker_free)

/* The object every connection exports at /org/vireo/Worker1. */
VireoWorker1 *vireo_worker_get_skeleton (VireoWorker *worker);

gboolean vireo_worker_has_started (VireoWorker *worker);
gboolean vireo_worker_has_ended (VireoWorker *worker);

/* Ends a running or paused machine as TurnOff does (a save in progress finishes first).  Returns FALSE
 * when there is nothing to end (never started, or already ended): then no ended callback follows. */
gboolean vireo_worker_turn_off (VireoWorker *worker);

/* Pushes out what is still queued: property changes and the serial console's last output. */
void vireo_worker_flush (VireoWorker *worker);

G_END_DECLS
