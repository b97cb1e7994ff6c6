/* machine.h — one machine as vireod sees it: its definition, its D-Bus object, and its worker process. */
#pragma once

#include "daemon.h"

G_BEGIN_DECLS

#define VIREO_TYPE_MACHINE (vireo_machine_get_type ())
G_DECLARE_FINAL_TYPE (VireoMachine, vireo_machine, VIREO, MACHINE, GObject)

/* Takes @config.  The machine is exported on the daemon's object manager by the manager. */
VireoMachine *vireo_machine_new (VireoDaemon *daemon, VireoMachineConfig *config);

const char *vireo_machine_get_uuid (VireoMachine *machine);
const char *vireo_machine_get_name (VireoMachine *machine);
const char *vireo_machine_get_state (VireoMachine *machine);
/* The machine's definition (owned by the machine; replaced when it changes). */
const VireoMachineConfig *vireo_machine_get_config (VireoMachine *machine);
GDBusObjectSkeleton *vireo_machine_get_object (VireoMachine *machine);

/* Looks for a worker left running by an earlier vireod and adopts it; otherwise picks up the record a
 * worker left when its machine ended while no vireod was there.  Sets State accordingly. */
void vireo_machine_reattach (VireoMachine *machine);

/* After re-attaching: finishes what an interrupted checkpoint operation (create, apply, delete) left,
 * when the machine is off or saved and no worker holds its disks (machine-checkpoints.c). */
void vireo_machine_checkpoints_recover (VireoMachine *machine);

/* Whether the machine was running when its service or host last went down. */
gboolean vireo_machine_was_running (VireoMachine *machine);

/* Starts the machine (as Machine.Start would, without a caller): for automatic start. */
void vireo_machine_start_unattended (VireoMachine *machine);

/* The manager's side: whether another machine than @except_uuid is named @name. */
typedef gboolean (*VireoNameTakenFunc) (const char *name, const char *except_uuid, gpointer user_data);
void vireo_machine_set_name_check (VireoMachine *machine, VireoNameTakenFunc func, gpointer user_data);

G_END_DECLS
