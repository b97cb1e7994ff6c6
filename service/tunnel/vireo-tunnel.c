/* vireo-tunnel.c — a machine's display or serial console on stdin/stdout: calls Machine.OpenDisplay or
 * Machine.OpenSerial on this host's vireod and relays the socket it returns, so that a client elsewhere
 * (the app over `ssh HOST vireo-tunnel …`) gets the stream that a local client gets as an fd. */
#include "relay.h"
#include "vireo-dbus-generated.h"

#include <gio/gio.h>
#include <gio/gunixfdlist.h>
#include <locale.h>
#include <signal.h>
#include <stdio.h>
#include <unistd.h>

#define BUS_NAME "org.vireo.Vireo1"

static const char usage[] = "[--system|--session] display|serial OBJECT_PATH";

/* Prints one line: whatever a message holds, the reader (the app, a script) takes the first line. */
static int fail (const char *format, ...) G_GNUC_PRINTF (1, 2);

static int
fail (const char *format, ...)
{
  va_list args;
  g_autofree char *message = NULL;

  va_start (args, format);
  message = g_strdup_vprintf (format, args);
  va_end (args);
  g_strdelimit (message, "\r\n", ' ');
  g_printerr ("vireo-tunnel: %s\n", message);
  return 1;
}

/* The fd in an Open* reply. */
static int
take_fd (GVariant *handle, GUnixFDList *fds, GError **error)
{
  int index = g_variant_get_handle (handle);

  if (fds == NULL || index < 0 || index >= g_unix_fd_list_get_length (fds))
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "the service sent no socket");
      return -1;
    }
  return g_unix_fd_list_get (fds, index, error);
}

static int
open_stream (VireoDBusMachine *machine, gboolean display, GError **error)
{
  g_autoptr (GVariant) handle = NULL;
  g_autoptr (GUnixFDList) fds = NULL;
  gboolean ok;

  /* The service answers when the stream is ready; waiting for a busy service beats failing. */
  if (display)
    ok = vireo_dbus_machine_call_open_display_sync (machine, G_DBUS_CALL_FLAGS_NONE, G_MAXINT, NULL, &handle,
                                                    &fds, NULL, error);
  else
    ok = vireo_dbus_machine_call_open_serial_sync (machine, G_DBUS_CALL_FLAGS_NONE, G_MAXINT, NULL, &handle,
                                                   &fds, NULL, error);
  return ok ? take_fd (handle, fds, error) : -1;
}

int
main (int argc, char **argv)
{
  gboolean system_bus = FALSE, session_bus = FALSE;
  GOptionEntry entries[] = {
    { "system", 0, 0, G_OPTION_ARG_NONE, &system_bus, "Ask the system service (the default)", NULL },
    { "session", 0, 0, G_OPTION_ARG_NONE, &session_bus, "Ask the user's session service", NULL },
    { NULL },
  };
  g_autoptr (GOptionContext) context = g_option_context_new ("display|serial OBJECT_PATH");
  g_autoptr (GError) error = NULL;
  g_autoptr (GDBusConnection) bus = NULL;
  g_autoptr (VireoDBusMachine) machine = NULL;
  g_autofree char *name = NULL;
  const char *kind, *path, *bus_title;
  int fd;

  setlocale (LC_ALL, "");
  g_option_context_set_summary (
      context, "Relays a Vireo machine's display (SPICE) or serial console between stdin/stdout "
               "and the service,\nfor a client on another computer, e.g. "
               "`ssh HOST vireo-tunnel display /org/vireo/Vireo1/machines/ID`.");
  g_option_context_add_main_entries (context, entries, NULL);
  if (!g_option_context_parse (context, &argc, &argv, &error))
    return fail ("%s (usage: vireo-tunnel %s)", error->message, usage);
  if (system_bus && session_bus)
    return fail ("give one of --system or --session (usage: vireo-tunnel %s)", usage);
  if (argc != 3)
    return fail ("expected a stream and a machine's object path (usage: vireo-tunnel %s)", usage);
  kind = argv[1];
  path = argv[2];
  if (!g_str_equal (kind, "display") && !g_str_equal (kind, "serial"))
    return fail ("unknown stream “%s”: give display or serial", kind);
  if (!g_variant_is_object_path (path))
    return fail ("“%s” is not a machine's object path (like /org/vireo/Vireo1/machines/ID)", path);

  bus_title = session_bus ? "session" : "system";
  bus = g_bus_get_sync (session_bus ? G_BUS_TYPE_SESSION : G_BUS_TYPE_SYSTEM, NULL, &error);
  if (bus == NULL)
    return fail ("%s: could not connect to the %s bus: %s", path, bus_title, error->message);

  /* Loading the properties says whether the service runs and the machine exists, and its name. */
  machine = vireo_dbus_machine_proxy_new_sync (
      bus, G_DBUS_PROXY_FLAGS_DO_NOT_CONNECT_SIGNALS | G_DBUS_PROXY_FLAGS_DO_NOT_AUTO_START, BUS_NAME, path,
      NULL, &error);
  if (machine == NULL)
    return fail ("%s: %s", path, error->message);
  if (g_dbus_proxy_get_name_owner (G_DBUS_PROXY (machine)) == NULL)
    return fail ("%s: the Vireo service is not running on the %s bus", path, bus_title);
  /* Kept: the proxy goes before the stream ends, and the name may still be needed then. */
  name = vireo_dbus_machine_dup_name (machine);
  if (name == NULL)
    return fail ("there is no machine at %s on the %s bus", path, bus_title);

  fd = open_stream (machine, g_str_equal (kind, "display"), &error);
  if (fd < 0)
    {
      g_dbus_error_strip_remote_error (error);
      return fail ("machine “%s”: %s", name, error->message);
    }
  /* Nothing else needs the bus: the stream is ours from here on. */
  g_clear_object (&machine);
  g_dbus_connection_close_sync (bus, NULL, NULL);

  signal (SIGPIPE, SIG_IGN);
  if (!vireo_relay_run (STDIN_FILENO, STDOUT_FILENO, fd, &error))
    {
      close (fd);
      return fail ("machine “%s”: %s", name, error->message);
    }
  close (fd);
  return 0;
}
