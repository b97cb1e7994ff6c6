/* manager.h — the org.vireo.Vireo1.Manager object and the set of machines it owns. */
#pragma once

#include "daemon.h"

G_BEGIN_DECLS

/* Loads every stored machine, re-attaches to the workers of those still running, exports them all. */
VireoManager *vireo_manager_new (VireoDaemon *daemon);
void vireo_manager_free (VireoManager *manager);
/* Starts the machines whose "auto-start" says so. */
void vireo_manager_autostart (VireoManager *manager);
/* Whether what the manager reports about the host (KVM) is known yet. */
gboolean vireo_manager_is_ready (VireoManager *manager);

G_END_DECLS
