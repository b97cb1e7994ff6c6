/* switches.h — the virtual switches: org.vireo.Vireo1.Switch objects, Manager.CreateSwitch, their file in
 * the storage folder, and the private bridges vireod makes for them.  It fills switch-registry.h, which
 * the settings read. */
#pragma once

#include "daemon.h"

G_BEGIN_DECLS

typedef struct _VireoSwitches VireoSwitches;

/* The names of the machines with a NIC on switch @name, ", "-separated, or NULL when none has. */
typedef char *(*VireoSwitchUsersFunc) (const char *name, gpointer data);

/* Loads the switches (system mode: from <storage>/switches.ini, making private bridges again), exports
 * them and handles CreateSwitch on @manager_iface.  @users says which machines use a switch. */
VireoSwitches *vireo_switches_new (VireoDaemon *daemon, VireoDBusManager *manager_iface,
                                   VireoSwitchUsersFunc users, gpointer users_data);
void vireo_switches_free (VireoSwitches *switches);

G_END_DECLS
