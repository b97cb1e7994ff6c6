/* vireo-stream.c — where a machine's display and serial streams come from: the VireoStreamSource interface,
 * the local way (the fd of Machine.OpenDisplay / OpenSerial) and the remote command line (vireo-tunnel). */
#include "vireo-stream.h"

#include <gio/gunixfdlist.h>
#include <glib/gi18n.h>
#include <unistd.h>

G_DEFINE_INTERFACE (VireoStreamSource, vireo_stream_source, G_TYPE_OBJECT)

static void
vireo_stream_source_default_init (VireoStreamSourceInterface *iface)
{
}

void
vireo_stream_source_open (VireoStreamSource *self, VireoDBusMachine *machine, VireoStreamKind kind,
                          GCancellable *cancellable, GAsyncReadyCallback callback, gpointer data)
{
  g_return_if_fail (VIREO_IS_STREAM_SOURCE (self));
  g_return_if_fail (VIREO_DBUS_IS_MACHINE (machine));

  VIREO_STREAM_SOURCE_GET_IFACE (self)->open_stream (self, machine, kind, cancellable, callback, data);
}

int
vireo_stream_source_open_finish (VireoStreamSource *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (VIREO_IS_STREAM_SOURCE (self), -1);

  return VIREO_STREAM_SOURCE_GET_IFACE (self)->open_stream_finish (self, result, error);
}

static void
on_local_stream (GObject *source, GAsyncResult *result, gpointer data)
{
  g_autoptr (GTask) task = data;
  VireoDBusMachine *machine = VIREO_DBUS_MACHINE (source);
  VireoStreamKind kind = GPOINTER_TO_INT (g_task_get_task_data (task));
  g_autoptr (GVariant) handle = NULL;
  g_autoptr (GUnixFDList) fds = NULL;
  g_autoptr (GError) error = NULL;
  gboolean ok;
  int index, fd;

  if (kind == VIREO_STREAM_DISPLAY)
    ok = vireo_dbus_machine_call_open_display_finish (machine, &handle, &fds, result, &error);
  else
    ok = vireo_dbus_machine_call_open_serial_finish (machine, &handle, &fds, result, &error);
  if (!ok)
    {
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }
  index = g_variant_get_handle (handle);
  if (fds == NULL || index < 0 || index >= g_unix_fd_list_get_length (fds))
    {
      g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "%s",
                               kind == VIREO_STREAM_DISPLAY
                                   ? _ ("The service sent no connection to the machine’s display")
                                   : _ ("The service sent no connection to the machine’s serial console"));
      return;
    }
  fd = g_unix_fd_list_get (fds, index, &error);
  if (fd < 0)
    {
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }
  /* A stream that arrives after its caller gave up would stay open for no one. */
  if (g_task_return_error_if_cancelled (task))
    {
      close (fd);
      return;
    }
  g_task_return_int (task, fd);
}

void
vireo_stream_open_local (VireoDBusMachine *machine, VireoStreamKind kind, GCancellable *cancellable,
                         GAsyncReadyCallback callback, gpointer data)
{
  GTask *task;

  g_return_if_fail (VIREO_DBUS_IS_MACHINE (machine));

  task = g_task_new (machine, cancellable, callback, data);
  g_task_set_source_tag (task, vireo_stream_open_local);
  g_task_set_task_data (task, GINT_TO_POINTER (kind), NULL);
  g_task_set_check_cancellable (task, FALSE);
  if (kind == VIREO_STREAM_DISPLAY)
    vireo_dbus_machine_call_open_display (machine, G_DBUS_CALL_FLAGS_NONE, -1, NULL, cancellable,
                                          on_local_stream, task);
  else
    vireo_dbus_machine_call_open_serial (machine, G_DBUS_CALL_FLAGS_NONE, -1, NULL, cancellable,
                                         on_local_stream, task);
}

int
vireo_stream_open_local_finish (GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (G_IS_TASK (result), -1);
  g_return_val_if_fail (g_task_get_source_tag (G_TASK (result)) == vireo_stream_open_local, -1);

  return (int) g_task_propagate_int (G_TASK (result), error);
}

char **
vireo_stream_tunnel_argv (const char *object_path, VireoStreamKind kind, gboolean session_bus)
{
  GStrvBuilder *builder;
  char **argv;

  g_return_val_if_fail (g_variant_is_object_path (object_path), NULL);

  builder = g_strv_builder_new ();
  g_strv_builder_add (builder, "vireo-tunnel");
  g_strv_builder_add (builder, session_bus ? "--session" : "--system");
  g_strv_builder_add (builder, kind == VIREO_STREAM_DISPLAY ? "display" : "serial");
  g_strv_builder_add (builder, object_path);
  argv = g_strv_builder_end (builder);
  g_strv_builder_unref (builder);
  return argv;
}
