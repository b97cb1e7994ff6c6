/* vireo-stream.h — where a machine's display and serial console streams come from: VireoStreamSource, which
 * the app's hosts implement (a local host passes on the fd the service returns, a remote one relays the
 * stream through ssh and vireo-tunnel), the local way itself, and the remote command line. */
#pragma once

#include <gio/gio.h>

#include "vireo-dbus-generated.h"

G_BEGIN_DECLS

typedef enum
{
  VIREO_STREAM_DISPLAY, /* SPICE: one stream per channel */
  VIREO_STREAM_SERIAL,
} VireoStreamKind;

#define VIREO_TYPE_STREAM_SOURCE (vireo_stream_source_get_type ())
G_DECLARE_INTERFACE (VireoStreamSource, vireo_stream_source, VIREO, STREAM_SOURCE, GObject)

struct _VireoStreamSourceInterface
{
  GTypeInterface parent_iface;

  void (*open_stream) (VireoStreamSource *self, VireoDBusMachine *machine, VireoStreamKind kind,
                       GCancellable *cancellable, GAsyncReadyCallback callback, gpointer data);
  int (*open_stream_finish) (VireoStreamSource *self, GAsyncResult *result, GError **error);
};

/* Opens a new stream to @machine's display or serial console; finish gives a connected socket the caller
 * owns, or -1 with @error: the service's own D-Bus error when it refused (strip the remote error name
 * before showing it), an error whose message is for the user otherwise. */
void vireo_stream_source_open (VireoStreamSource *self, VireoDBusMachine *machine, VireoStreamKind kind,
                               GCancellable *cancellable, GAsyncReadyCallback callback, gpointer data);
int vireo_stream_source_open_finish (VireoStreamSource *self, GAsyncResult *result, GError **error);

/* Machine.OpenDisplay or Machine.OpenSerial on @machine's own connection: the fd the service returns (errors
 * as vireo_stream_source_open_finish's). */
void vireo_stream_open_local (VireoDBusMachine *machine, VireoStreamKind kind, GCancellable *cancellable,
                              GAsyncReadyCallback callback, gpointer data);
int vireo_stream_open_local_finish (GAsyncResult *result, GError **error);

/* The command a remote host runs for a stream of the machine at @object_path (through ssh): vireo-tunnel,
 * asking that host's system service, or with @session_bus the ssh user's session service. */
char **vireo_stream_tunnel_argv (const char *object_path, VireoStreamKind kind, gboolean session_bus);

G_END_DECLS
