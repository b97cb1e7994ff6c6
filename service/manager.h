/* manager.h — the org.vireo.Vireo1.Manager object and the set of machines it owns. */
#pragma once

#include "daemon.h"

G_BEGIN_DECLS

/* Loads every stored machine, re-attaches to the workers of those still running, exports them all. */
VireoManager *vireo_manager_new (VireoDaemon *daemon);
void vireo_manager_free (VireoManager *manager);
/* Starts the machines whose "auto-start" says so. */
void vireo_manager_autostart (VireoManager *manager);
/* Stores and exports the new machine @config (taken) as CreateMachine does, answering @invocation with
 * its path "(o)" or the error (Exists for a name or UUID taken). */
void vireo_manager_define_machine (VireoManager *manager, GDBusMethodInvocation *invocation,
                                   VireoMachineConfig *config);
/* Whether what the manager reports about the host (KVM) is known yet. */
gboolean vireo_manager_is_ready (VireoManager *manager);

G_END_DECLS
