/* machine-worker-private.h — what the files of a machine's worker share: machine-worker.c (spawning,
 * watching and ending it), machine-worker-config.c (what Start sends it) and machine-worker-reattach.c
 * (finding it again after a vireod restart). */
#pragma once

#include "machine-private.h"

#include <gio/gunixfdlist.h>

G_BEGIN_DECLS

/* machine-worker.c */
gboolean vireo_machine_update_stats (gpointer data);
void vireo_machine_worker_ended (VireoMachine *machine, const char *reason, const char *message);
void vireo_machine_adopt_worker (VireoMachine *machine, GDBusConnection *connection, VireoWorker1 *worker);

/* machine-worker-config.c */
GVariant *vireo_machine_build_worker_config (VireoMachine *machine, GUnixFDList *fds, GError **error);
gboolean vireo_machine_check_spec_for_start (const VireoMachineConfig *config, GError **error);

G_END_DECLS
