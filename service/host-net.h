/* host-net.h — the host's side of bridged NICs: Linux bridges (checking a caller's, making and removing
 * private ones) and the TAP devices vireod makes for a machine's NICs.  Each call is a few ioctls that
 * do not wait, so they run on the main loop; all need CAP_NET_ADMIN (the system service). */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Checks a caller's name for a network interface: 1 to 15 bytes (IFNAMSIZ) of letters, digits, "-",
 * "_" and ".", not "." or "..".  VIREO_ERROR_INVALID_ARGUMENT naming it otherwise. */
gboolean vireo_host_net_check_name (const char *name, GError **error);
/* Whether interface @name exists, and whether it is a bridge (/sys/class/net/<name>/bridge). */
gboolean vireo_host_net_exists (const char *name);
gboolean vireo_host_net_is_bridge (const char *name);

/* Makes bridge @name with no port and no host address (IPv6 is turned off on it where the host lets
 * us), and sets it up.  A bridge of that name that is already there is taken as it is. */
gboolean vireo_host_net_add_bridge (const char *name, GError **error);
/* Sets bridge @name down and removes it; one that is gone already is no error. */
gboolean vireo_host_net_remove_bridge (const char *name, GError **error);

/* Makes a TAP device (IFF_TAP | IFF_NO_PI | IFF_VNET_HDR, named "vireo-tap<n>" by the kernel; the core's hv_net_open_bridge_tap) as a port of
 * @bridge, up; returns its fd (close-on-exec), and its name in @name when not NULL.  The device goes
 * away when the last copy of the fd is closed.  -1 with @error (naming the bridge) on failure. */
int vireo_host_net_open_tap (const char *bridge, char **name, GError **error);
/* The same with @n_queues queues (IFF_MULTI_QUEUE when more than one), their fds in @fds: one per queue
 * pair of the NIC. */
gboolean vireo_host_net_open_taps (const char *bridge, unsigned n_queues, int *fds, char **name,
                                   GError **error);

G_END_DECLS
