/* vireo-host.h — one Vireo service as the app sees it: the user's session service, the system service or
 * another computer's service over ssh; whether it is reachable, its Manager, and its machines as a live list
 * model of VireoDBusMachine proxies. */
#pragma once

#include <gio/gio.h>

#include "vireo-dbus-generated.h"
#include "vireo-stream.h"

G_BEGIN_DECLS

typedef enum
{
  VIREO_HOST_SESSION,
  VIREO_HOST_SYSTEM,
  VIREO_HOST_REMOTE, /* another computer's vireod, through `ssh HOST systemd-stdio-bridge` */
} VireoHostKind;

/* How far the app got in reaching the host's bus; local hosts are always connected. */
typedef enum
{
  VIREO_HOST_CONNECTING,
  VIREO_HOST_CONNECTED,
  VIREO_HOST_LOST, /* the status says why; another attempt follows (1, 2, 4 … 60 s) */
} VireoHostState;

#define VIREO_TYPE_HOST (vireo_host_get_type ())
G_DECLARE_FINAL_TYPE (VireoHost, vireo_host, VIREO, HOST, GObject)

/* Watches org.vireo.Vireo1 on @bus (or, when NULL, on the session or system bus for @kind), following the
 * service as it comes and goes.  Properties: "available" (the service is running and listed), "status" (a
 * sentence for the user when it is not: how to start it), "title", "manager". */
VireoHost *vireo_host_new (VireoHostKind kind, GDBusConnection *bus);
/* A host reached over ssh (vireo-ssh.h): @uri is ssh://[user@]host[:port][/session], already checked with
 * vireo_ssh_parse_uri().  It connects at once, and again whenever the connection is lost. */
VireoHost *vireo_host_new_remote (const char *uri);

VireoHostKind vireo_host_get_kind (VireoHost *self);
/* The ssh:// address of a remote host; NULL for a local one. */
const char *vireo_host_get_uri (VireoHost *self);
VireoHostState vireo_host_get_state (VireoHost *self);
/* Tries to reach a remote host now, not when its back-off ends (no-op while connected or for local hosts). */
void vireo_host_reconnect (VireoHost *self);
/* "My Machines" / "System Machines" / "user@host": how the sidebar names it. */
const char *vireo_host_get_title (VireoHost *self);
gboolean vireo_host_get_available (VireoHost *self);
/* Why the host is unavailable and how to fix it; "" when available (also when KVM is missing: then the
 * host is available but machines cannot start, and the status says why). */
const char *vireo_host_get_status (VireoHost *self);
/* The service's Manager, or NULL while the service is not running. */
VireoDBusManager *vireo_host_get_manager (VireoHost *self);
/* A GListModel of VireoDBusMachine, in the order the service listed them; emptied when the service goes. */
GListModel *vireo_host_get_machines (VireoHost *self);
VireoDBusMachine *vireo_host_find_machine (VireoHost *self, const char *object_path);
/* The service's object manager (machines, virtual switches), or NULL while the service is not running; it
 * changes with "manager". */
GDBusObjectManager *vireo_host_get_objects (VireoHost *self);

/* Opens a new stream to @machine's display (one per SPICE channel) or serial console: the fd of
 * Machine.OpenDisplay / OpenSerial on this computer, a socket relayed through ssh and vireo-tunnel for a
 * remote host.  Finish gives a connected socket the caller owns, or -1 with @error (a service's refusal is
 * its D-Bus error: strip the remote error name before showing it).  VireoHost is a VireoStreamSource, so
 * the display widget, which knows no host, gets its streams the same way. */
void vireo_host_open_stream (VireoHost *host, VireoDBusMachine *machine, VireoStreamKind kind,
                             GCancellable *cancellable, GAsyncReadyCallback callback, gpointer data);
int vireo_host_open_stream_finish (VireoHost *host, GAsyncResult *result, GError **error);

G_END_DECLS
