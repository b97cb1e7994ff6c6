/* vireo-serial-console.c — a machine's serial console: a VTE terminal over the serial stream its host opens
 * (Machine.OpenSerial's socket, or one relayed through ssh), read into the terminal as the guest writes and
 * written in order as the user types; while the machine runs, a console that could not open (or that ended)
 * is opened again every second. */
#include "vireo-serial-console.h"

#include <unistd.h>

#include "vireo-format.h"

#define SERIAL_RETRY_MS  1000
#define SERIAL_READ_SIZE 4096

struct _VireoSerialConsole
{
  AdwBin parent_instance;

  VireoHost *host;
  VireoDBusMachine *machine;
  GCancellable *cancellable;

  /* Template widgets */
  VteTerminal *terminal;

  /* A connected socket from the host, read into the terminal; keys typed into the terminal are queued and
   * written in order. */
  GSocket *serial;
  GSource *serial_source;
  GQueue serial_out;
  gboolean serial_writing;
  gboolean serial_opening;
  guint serial_retry;
};

G_DEFINE_FINAL_TYPE (VireoSerialConsole, vireo_serial_console, ADW_TYPE_BIN)

void
vireo_serial_console_close (VireoSerialConsole *self)
{
  g_return_if_fail (VIREO_IS_SERIAL_CONSOLE (self));

  if (self->serial_source)
    {
      g_source_destroy (self->serial_source);
      g_clear_pointer (&self->serial_source, g_source_unref);
    }
  if (self->serial)
    g_socket_close (self->serial, NULL);
  g_clear_object (&self->serial);
  g_queue_clear_full (&self->serial_out, (GDestroyNotify) g_bytes_unref);
  self->serial_writing = FALSE;
}

static gboolean
serial_retry (gpointer data)
{
  VireoSerialConsole *self = data;

  self->serial_retry = 0;
  vireo_serial_console_open (self);
  return G_SOURCE_REMOVE;
}

static void
serial_schedule_retry (VireoSerialConsole *self)
{
  if (!self->serial_retry && vireo_state_is_active (vireo_dbus_machine_get_state (self->machine)))
    self->serial_retry = g_timeout_add (SERIAL_RETRY_MS, serial_retry, self);
}

static gboolean
on_serial_readable (GSocket *socket, GIOCondition condition, gpointer data)
{
  VireoSerialConsole *self = data;
  char buffer[SERIAL_READ_SIZE];
  g_autoptr (GError) error = NULL;
  gssize n = g_socket_receive (socket, buffer, sizeof buffer, NULL, &error);

  if (n > 0)
    {
      vte_terminal_feed (self->terminal, buffer, n);
      return G_SOURCE_CONTINUE;
    }
  if (n < 0 && g_error_matches (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK))
    return G_SOURCE_CONTINUE;
  /* The machine stopped (or its process went away): its console ends here. */
  g_clear_pointer (&self->serial_source, g_source_unref);
  vireo_serial_console_close (self);
  serial_schedule_retry (self);
  return G_SOURCE_REMOVE;
}

static void serial_write_next (VireoSerialConsole *self);

static void
on_serial_written (GObject *source, GAsyncResult *result, gpointer data)
{
  g_autoptr (VireoSerialConsole) self = data;
  g_autoptr (GError) error = NULL;

  self->serial_writing = FALSE;
  if (!g_output_stream_write_all_finish (G_OUTPUT_STREAM (source), result, NULL, &error))
    {
      if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        vireo_serial_console_close (self);
      return;
    }
  g_bytes_unref (g_queue_pop_head (&self->serial_out));
  serial_write_next (self);
}

static void
serial_write_next (VireoSerialConsole *self)
{
  GBytes *bytes = g_queue_peek_head (&self->serial_out);
  g_autoptr (GSocketConnection) connection = NULL;

  if (self->serial_writing || !bytes || !self->serial)
    return;
  self->serial_writing = TRUE;
  connection = g_socket_connection_factory_create_connection (self->serial);
  g_output_stream_write_all_async (g_io_stream_get_output_stream (G_IO_STREAM (connection)),
                                   g_bytes_get_data (bytes, NULL), g_bytes_get_size (bytes),
                                   G_PRIORITY_DEFAULT, self->cancellable, on_serial_written,
                                   g_object_ref (self));
}

void
vireo_serial_console_send (VireoSerialConsole *self, const char *text, gsize length)
{
  g_return_if_fail (VIREO_IS_SERIAL_CONSOLE (self));

  if (!self->serial || length == 0)
    return;
  g_queue_push_tail (&self->serial_out, g_bytes_new (text, length));
  serial_write_next (self);
}

static void
on_terminal_commit (VteTerminal *terminal, const char *text, guint size, VireoSerialConsole *self)
{
  vireo_serial_console_send (self, text, size);
}

static void
on_serial_opened (GObject *source, GAsyncResult *result, gpointer data)
{
  g_autoptr (VireoSerialConsole) self = data;
  g_autoptr (GError) error = NULL;
  int fd = vireo_host_open_stream_finish (VIREO_HOST (source), result, &error);

  self->serial_opening = FALSE;
  if (fd < 0)
    {
      if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        serial_schedule_retry (self);
      return;
    }
  vireo_serial_console_close (self);
  self->serial = g_socket_new_from_fd (fd, &error);
  if (!self->serial)
    {
      close (fd);
      return;
    }
  g_socket_set_blocking (self->serial, FALSE);
  /* The service replays what the guest wrote before: start from a clean screen so it is not shown twice. */
  vte_terminal_reset (self->terminal, TRUE, TRUE);
  self->serial_source = g_socket_create_source (self->serial, G_IO_IN | G_IO_HUP | G_IO_ERR, NULL);
  g_source_set_callback (self->serial_source, (GSourceFunc) (void (*) (void)) on_serial_readable, self, NULL);
  g_source_attach (self->serial_source, NULL);
}

void
vireo_serial_console_open (VireoSerialConsole *self)
{
  g_return_if_fail (VIREO_IS_SERIAL_CONSOLE (self));

  if (!self->machine || self->serial || self->serial_opening
      || !vireo_state_is_active (vireo_dbus_machine_get_state (self->machine)))
    return;
  self->serial_opening = TRUE;
  vireo_host_open_stream (self->host, self->machine, VIREO_STREAM_SERIAL, self->cancellable, on_serial_opened,
                          g_object_ref (self));
}

void
vireo_serial_console_set_machine (VireoSerialConsole *self, VireoHost *host, VireoDBusMachine *machine)
{
  g_return_if_fail (VIREO_IS_SERIAL_CONSOLE (self));
  g_return_if_fail ((host == NULL) == (machine == NULL));
  g_return_if_fail (host == NULL || VIREO_IS_HOST (host));
  g_return_if_fail (machine == NULL || VIREO_DBUS_IS_MACHINE (machine));

  if (self->machine == machine && self->host == host)
    return;
  g_clear_handle_id (&self->serial_retry, g_source_remove);
  vireo_serial_console_close (self);
  g_set_object (&self->host, host);
  g_set_object (&self->machine, machine);
}

gboolean
vireo_serial_console_is_open (VireoSerialConsole *self)
{
  g_return_val_if_fail (VIREO_IS_SERIAL_CONSOLE (self), FALSE);

  return self->serial != NULL;
}

static gboolean
vireo_serial_console_grab_focus (GtkWidget *widget)
{
  return gtk_widget_grab_focus (GTK_WIDGET (VIREO_SERIAL_CONSOLE (widget)->terminal));
}

static void
vireo_serial_console_dispose (GObject *object)
{
  VireoSerialConsole *self = VIREO_SERIAL_CONSOLE (object);

  g_cancellable_cancel (self->cancellable);
  g_clear_handle_id (&self->serial_retry, g_source_remove);
  vireo_serial_console_close (self);
  g_clear_object (&self->machine);
  g_clear_object (&self->host);
  gtk_widget_dispose_template (GTK_WIDGET (self), VIREO_TYPE_SERIAL_CONSOLE);
  G_OBJECT_CLASS (vireo_serial_console_parent_class)->dispose (object);
}

static void
vireo_serial_console_finalize (GObject *object)
{
  VireoSerialConsole *self = VIREO_SERIAL_CONSOLE (object);

  g_clear_object (&self->cancellable);
  G_OBJECT_CLASS (vireo_serial_console_parent_class)->finalize (object);
}

static void
vireo_serial_console_class_init (VireoSerialConsoleClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = vireo_serial_console_dispose;
  object_class->finalize = vireo_serial_console_finalize;
  widget_class->grab_focus = vireo_serial_console_grab_focus;

  g_type_ensure (VTE_TYPE_TERMINAL);
  gtk_widget_class_set_template_from_resource (widget_class, "/org/vireo/Vireo/vireo-serial-console.ui");
  gtk_widget_class_bind_template_child (widget_class, VireoSerialConsole, terminal);
  gtk_widget_class_bind_template_callback (widget_class, on_terminal_commit);
}

static void
vireo_serial_console_init (VireoSerialConsole *self)
{
  gtk_widget_init_template (GTK_WIDGET (self));

  self->cancellable = g_cancellable_new ();
  g_queue_init (&self->serial_out);
}
