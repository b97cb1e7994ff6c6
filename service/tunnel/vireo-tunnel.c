/* vireo-tunnel.c — a machine's display or serial console on stdin/stdout: calls Machine.OpenDisplay or
 * Machine.OpenSerial on this host's vireod and relays the socket it returns, so that a client elsewhere
 * (the app over `ssh HOST vireo-tunnel …`) gets the stream that a local client gets as an fd.  And a
 * disk's image for a machine moved between hosts: disk-read copies Machine.OpenDiskImage's fd to stdout,
 * disk-write stdin to Machine.OpenReceivedDisk's, keeping the image sparse (sparse-copy.h); and its
 * checkpoints: checkpoints-read copies Machine.OpenCheckpointArchive's pipe to stdout, checkpoints-write
 * stdin to Machine.ReceiveCheckpointArchive's. */
#include "relay.h"
#include "sparse-copy.h"
#include "vireo-dbus-generated.h"

#include <errno.h>
#include <gio/gio.h>
#include <gio/gunixfdlist.h>
#include <locale.h>
#include <signal.h>
#include <stdio.h>
#include <unistd.h>

#define BUS_NAME "org.vireo.Vireo1"
/* What one read of a disk's bytes takes. */
#define DISK_CHUNK_BYTES (1024 * 1024)

static const char usage[] = "[--system|--session] display|serial OBJECT_PATH, disk-read|disk-write "
                            "OBJECT_PATH TARGET, or checkpoints-read|checkpoints-write OBJECT_PATH";

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

static int
open_disk (VireoDBusMachine *machine, gboolean write, const char *target, GError **error)
{
  g_autoptr (GVariant) handle = NULL;
  g_autoptr (GUnixFDList) fds = NULL;
  gboolean ok;

  if (write)
    ok = vireo_dbus_machine_call_open_received_disk_sync (machine, target, G_DBUS_CALL_FLAGS_NONE, G_MAXINT,
                                                          NULL, &handle, &fds, NULL, error);
  else
    ok = vireo_dbus_machine_call_open_disk_image_sync (machine, target, G_DBUS_CALL_FLAGS_NONE, G_MAXINT,
                                                       NULL, &handle, &fds, NULL, error);
  return ok ? take_fd (handle, fds, error) : -1;
}

static int
open_checkpoints (VireoDBusMachine *machine, gboolean write, GError **error)
{
  g_autoptr (GVariant) handle = NULL;
  g_autoptr (GUnixFDList) fds = NULL;
  gboolean ok;

  if (write)
    ok = vireo_dbus_machine_call_receive_checkpoint_archive_sync (machine, G_DBUS_CALL_FLAGS_NONE, G_MAXINT,
                                                                  NULL, &handle, &fds, NULL, error);
  else
    ok = vireo_dbus_machine_call_open_checkpoint_archive_sync (machine, G_DBUS_CALL_FLAGS_NONE, G_MAXINT,
                                                               NULL, &handle, &fds, NULL, error);
  return ok ? take_fd (handle, fds, error) : -1;
}

/* Reads up to @len bytes, fewer only at the end of @fd; -1 with errno on failure. */
static gssize
read_full (int fd, guint8 *buffer, gsize len)
{
  gsize got = 0;

  while (got < len)
    {
      ssize_t n = read (fd, buffer + got, len - got);

      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        return -1;
      if (n == 0)
        break;
      got += (gsize) n;
    }
  return (gssize) got;
}

/* @length bytes of @buffer to @out, which are those at @offset of a stream; the error says "cannot @what
 * at byte …". */
static gboolean
write_all (int out, const guint8 *buffer, gsize length, guint64 offset, const char *what, GError **error)
{
  gsize sent = 0;

  while (sent < length)
    {
      ssize_t n = write (out, buffer + sent, length - sent);

      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        {
          int errsv = errno;
          g_set_error (error, G_IO_ERROR, g_io_error_from_errno (errsv),
                       "cannot %s at byte %" G_GUINT64_FORMAT ": %s", what, offset + sent,
                       g_strerror (errsv));
          return FALSE;
        }
      sent += (gsize) n;
    }
  return TRUE;
}

/* disk-read: the image's bytes to @out, from its start to its end. */
static gboolean
copy_image_out (int image, int out, GError **error)
{
  g_autofree guint8 *buffer = g_malloc (DISK_CHUNK_BYTES);
  guint64 offset = 0;

  while (TRUE)
    {
      gssize got = pread (image, buffer, DISK_CHUNK_BYTES, (off_t) offset);

      if (got < 0 && errno == EINTR)
        continue;
      if (got < 0)
        {
          int errsv = errno;
          g_set_error (error, G_IO_ERROR, g_io_error_from_errno (errsv),
                       "cannot read the image at byte %" G_GUINT64_FORMAT ": %s", offset, g_strerror (errsv));
          return FALSE;
        }
      if (got == 0)
        return TRUE;
      if (!write_all (out, buffer, (gsize) got, offset, "send the image", error))
        return FALSE;
      offset += (guint64) got;
    }
}

/* Every byte of @in to @out until @in ends: for disk-write (@image) into the image from its start, zero blocks
 * left as holes, then its length; for checkpoints-read and checkpoints-write as they come.  Errors name
 * @what ("the image", "the checkpoint archive"). */
static gboolean
copy_in (int in, int out, gboolean image, const char *what, GError **error)
{
  g_autofree guint8 *buffer = g_malloc (DISK_CHUNK_BYTES);
  g_autofree char *writing = g_strdup_printf ("write %s", what);
  guint64 offset = 0;

  while (TRUE)
    {
      gssize got = read_full (in, buffer, DISK_CHUNK_BYTES);

      if (got < 0)
        {
          int errsv = errno;
          g_set_error (error, G_IO_ERROR, g_io_error_from_errno (errsv),
                       "cannot read %s after byte %" G_GUINT64_FORMAT ": %s", what, offset,
                       g_strerror (errsv));
          return FALSE;
        }
      if (got == 0)
        break;
      if (image ? !vireo_sparse_write (out, offset, buffer, (gsize) got, error)
                : !write_all (out, buffer, (gsize) got, offset, writing, error))
        return FALSE;
      offset += (guint64) got;
    }
  return image ? vireo_sparse_finish (out, offset, error) : TRUE;
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
  g_autoptr (GOptionContext) context = g_option_context_new (
      "display|serial OBJECT_PATH | disk-read|disk-write OBJECT_PATH TARGET | "
      "checkpoints-read|checkpoints-write OBJECT_PATH");
  g_autoptr (GError) error = NULL;
  g_autoptr (GDBusConnection) bus = NULL;
  g_autoptr (VireoDBusMachine) machine = NULL;
  g_autofree char *name = NULL;
  const char *kind, *path, *bus_title, *target = NULL;
  gboolean disk, disk_write, checkpoints, checkpoints_write;
  int fd;

  setlocale (LC_ALL, "");
  g_option_context_set_summary (
      context, "Relays a Vireo machine's display (SPICE) or serial console between stdin/stdout "
               "and the service,\nfor a client on another computer, e.g. "
               "`ssh HOST vireo-tunnel display /org/vireo/Vireo1/machines/ID`.\n"
               "disk-read writes the image of the machine's disk TARGET (e.g. vda) to stdout; disk-write "
               "writes stdin\ninto a disk being received (Machine.ReceiveDisk), keeping it sparse.\n"
               "checkpoints-read writes the archive of the machine's checkpoints to stdout; "
               "checkpoints-write writes stdin\nto the machine receiving them "
               "(Machine.ReceiveCheckpointArchive).");
  g_option_context_add_main_entries (context, entries, NULL);
  if (!g_option_context_parse (context, &argc, &argv, &error))
    return fail ("%s (usage: vireo-tunnel %s)", error->message, usage);
  if (system_bus && session_bus)
    return fail ("give one of --system or --session (usage: vireo-tunnel %s)", usage);
  if (argc < 3)
    return fail ("expected a stream and a machine's object path (usage: vireo-tunnel %s)", usage);
  kind = argv[1];
  path = argv[2];
  disk_write = g_str_equal (kind, "disk-write");
  disk = disk_write || g_str_equal (kind, "disk-read");
  checkpoints_write = g_str_equal (kind, "checkpoints-write");
  checkpoints = checkpoints_write || g_str_equal (kind, "checkpoints-read");
  if (!disk && !checkpoints && !g_str_equal (kind, "display") && !g_str_equal (kind, "serial"))
    return fail ("unknown stream “%s”: give display, serial, disk-read, disk-write, checkpoints-read or "
                 "checkpoints-write",
                 kind);
  if (argc != (disk ? 4 : 3))
    return fail (disk ? "expected a machine's object path and a disk's target (usage: vireo-tunnel %s)"
                      : "expected a stream and a machine's object path (usage: vireo-tunnel %s)",
                 usage);
  target = disk ? argv[3] : NULL;
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

  if (disk)
    fd = open_disk (machine, disk_write, target, &error);
  else if (checkpoints)
    fd = open_checkpoints (machine, checkpoints_write, &error);
  else
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
  if (disk)
    {
      gboolean ok = disk_write ? copy_in (STDIN_FILENO, fd, TRUE, "the image's bytes", &error)
                               : copy_image_out (fd, STDOUT_FILENO, &error);
      /* The written image's bytes are the file system's from here; FinishReceivedDisk flushes them. */
      if (close (fd) < 0 && ok && disk_write)
        {
          int errsv = errno;
          g_set_error (&error, G_IO_ERROR, g_io_error_from_errno (errsv), "cannot close the image: %s",
                       g_strerror (errsv));
          ok = FALSE;
        }
      if (!ok)
        return fail ("machine “%s”, disk %s: %s", name, target, error->message);
      return 0;
    }
  if (checkpoints)
    {
      gboolean ok = checkpoints_write ? copy_in (STDIN_FILENO, fd, FALSE, "the checkpoint archive", &error)
                                      : copy_in (fd, STDOUT_FILENO, FALSE, "the checkpoint archive", &error);
      /* Closing the pipe's write end is what tells the service the stream has ended. */
      if (close (fd) < 0 && ok && checkpoints_write)
        {
          int errsv = errno;
          g_set_error (&error, G_IO_ERROR, g_io_error_from_errno (errsv), "cannot close the pipe: %s",
                       g_strerror (errsv));
          ok = FALSE;
        }
      if (!ok)
        return fail ("machine “%s”, checkpoints: %s", name, error->message);
      return 0;
    }
  if (!vireo_relay_run (STDIN_FILENO, STDOUT_FILENO, fd, &error))
    {
      close (fd);
      return fail ("machine “%s”: %s", name, error->message);
    }
  close (fd);
  return 0;
}
