/* test-tunnel-service.c — vireo-tunnel against the real vireod: a machine's serial console and its SPICE
 * display (a spice-client-glib session whose every channel goes through a tunnel of its own, as the app's
 * do for a remote host) relayed over stdin/stdout, a disk's image read out of one machine and written
 * sparse into another, a machine's checkpoints read as an archive and received by another, and the
 * one-line errors of a call that cannot succeed. */
#include "service-fixture.h"
#include "test-util.h"

#include <errno.h>
#include <fcntl.h>
#include <gio/gunixinputstream.h>
#include <gio/gunixoutputstream.h>
#include <spice-client.h>
#include <spice/protocol.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#define MISSING_PATH "/org/vireo/Vireo1/machines/0000000000000000"

static const char *
tunnel_program (void)
{
  const char *program = g_getenv ("VIREO_TUNNEL");

  g_assert_nonnull (program);
  return program;
}

static gboolean
subprocess_ended (gpointer data)
{
  return *(gboolean *) data;
}

static void
on_subprocess_ended (GObject *source, GAsyncResult *result, gpointer data)
{
  g_subprocess_wait_finish (G_SUBPROCESS (source), result, NULL);
  *(gboolean *) data = TRUE;
}

/* Waits for @tunnel to end by itself and asserts that it exited with status 0. */
static void
assert_tunnel_exits_cleanly (GSubprocess *tunnel)
{
  gboolean ended = FALSE;

  g_subprocess_wait_async (tunnel, NULL, on_subprocess_ended, &ended);
  g_assert_true (vireo_test_wait_until (subprocess_ended, &ended, WAIT_SECONDS));
  g_assert_true (g_subprocess_get_if_exited (tunnel));
  g_assert_cmpint (g_subprocess_get_exit_status (tunnel), ==, 0);
}

/* A tunnel whose stdin and stdout are one socket (the app's end of ssh is a socketpair); *@fd gets ours. */
static GSubprocess *
tunnel_spawn_socket (const char *kind, const char *path, int *fd)
{
  g_autoptr (GSubprocessLauncher) launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_NONE);
  g_autoptr (GError) error = NULL;
  GSubprocess *tunnel;
  int pair[2];

  g_assert_no_errno (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair));
  g_subprocess_launcher_take_stdin_fd (launcher, dup (pair[1]));
  g_subprocess_launcher_take_stdout_fd (launcher, pair[1]);
  tunnel = g_subprocess_launcher_spawn (launcher, &error, tunnel_program (), "--session", kind, path, NULL);
  g_assert_no_error (error);
  *fd = pair[0];
  return tunnel;
}

/* ---- serial ---- */

/* Over pipes, as ssh gives a remote command: the history and live output arrive, typed text reaches the
 * guest, and the tunnel ends by itself, with status 0, when the machine does. */
static void
test_tunnel_serial (Fixture *f)
{
  g_autoptr (VireoDBusMachine) machine = create_guest (f, "tunnelled", "echo");
  g_autoptr (GString) seen = g_string_new (NULL);
  g_autoptr (GString) through = g_string_new (NULL);
  g_autoptr (GSubprocess) tunnel = NULL;
  g_autoptr (GError) error = NULL;
  int serial, in, out;
  gsize mark;

  serial = start_and_wait_for (machine, "echo ready", seen);
  tunnel = g_subprocess_new (G_SUBPROCESS_FLAGS_STDIN_PIPE | G_SUBPROCESS_FLAGS_STDOUT_PIPE, &error,
                             tunnel_program (), "--session", "serial", machine_path (machine), NULL);
  g_assert_no_error (error);
  in = g_unix_output_stream_get_fd (G_UNIX_OUTPUT_STREAM (g_subprocess_get_stdin_pipe (tunnel)));
  out = g_unix_input_stream_get_fd (G_UNIX_INPUT_STREAM (g_subprocess_get_stdout_pipe (tunnel)));

  g_assert_true (serial_wait_for (out, through, 0, "echo ready", WAIT_SECONDS));
  mark = seen->len;
  serial_type (in, "through the tunnel");
  g_assert_true (serial_wait_for (out, through, 0, "through the tunnel", WAIT_SECONDS));
  /* It is the guest's echo: the local console sees it too. */
  g_assert_true (serial_wait_for (serial, seen, mark, "through the tunnel", WAIT_SECONDS));

  mark = through->len;
  serial_type (in, "q");
  g_assert_true (serial_wait_for (out, through, mark, "echo done", WAIT_SECONDS));
  wait_for_state (machine, "off");
  /* Its stdin still open: the machine's end closing is enough. */
  assert_tunnel_exits_cleanly (tunnel);
  close (serial);
}

/* ---- display ---- */

static VireoDBusMachine *
start_display_machine (Fixture *f, int *serial)
{
  g_autofree char *kernel = vireo_test_guest_path ("display");
  g_autoptr (GString) seen = g_string_new (NULL);
  VireoDBusMachine *machine;

  machine = create (f, g_variant_new_parsed ("{'name': <'far-screen'>, 'kernel': <%s>, "
                                             "'memory-mib': <uint64 128>, 'display': <true>}",
                                             kernel));
  *serial = start_and_wait_for (machine, "display: pattern ready", seen);
  return machine;
}

/* The SPICE server's answer to a client's first message comes back through the tunnel; when the client
 * hangs up, the tunnel ends with status 0. */
static void
test_tunnel_display_link (Fixture *f)
{
  int serial, fd;
  g_autoptr (VireoDBusMachine) machine = start_display_machine (f, &serial);
  g_autoptr (GSubprocess) tunnel = tunnel_spawn_socket ("display", machine_path (machine), &fd);
  SpiceLinkHeader header = { .magic = SPICE_MAGIC,
                             .major_version = SPICE_VERSION_MAJOR,
                             .minor_version = SPICE_VERSION_MINOR,
                             .size = sizeof (SpiceLinkMess) };
  SpiceLinkMess mess = { .connection_id = 0,
                         .channel_type = SPICE_CHANNEL_MAIN,
                         .channel_id = 0,
                         .caps_offset = sizeof (SpiceLinkMess) };
  char link[sizeof header + sizeof mess];
  SpiceLinkHeader reply;

  memcpy (link, &header, sizeof header);
  memcpy (link + sizeof header, &mess, sizeof mess);
  g_assert_cmpint (send (fd, link, sizeof link, MSG_NOSIGNAL), ==, sizeof link);
  g_assert_cmpint (recv (fd, &reply, sizeof reply, MSG_WAITALL), ==, sizeof reply);
  g_assert_cmpmem (&reply.magic, 4, "REDQ", 4);
  g_assert_cmpuint (reply.major_version, ==, SPICE_VERSION_MAJOR);
  g_assert_cmpuint (reply.size, >, 0);

  close (fd);
  assert_tunnel_exits_cleanly (tunnel);
  close (serial);
  call_ok (machine, "TurnOff", NULL);
}

typedef struct
{
  Fixture *f;
  const char *path;
  GPtrArray *tunnels; /* one per channel */
  SpiceSession *session;
  SpiceDisplayChannel *display;
} TunnelClient;

static int
tunnel_client_connect (TunnelClient *client)
{
  int fd;

  g_ptr_array_add (client->tunnels, tunnel_spawn_socket ("display", client->path, &fd));
  return fd;
}

static void
on_open_fd (SpiceChannel *channel, int with_tls, TunnelClient *client)
{
  spice_channel_open_fd (channel, tunnel_client_connect (client));
}

static void
on_channel_new (SpiceSession *session, SpiceChannel *channel, TunnelClient *client)
{
  g_signal_connect (channel, "open-fd", G_CALLBACK (on_open_fd), client);
  if (SPICE_IS_DISPLAY_CHANNEL (channel))
    {
      client->display = SPICE_DISPLAY_CHANNEL (channel);
      spice_channel_connect (channel);
    }
}

/* The pixel the client shows at (@x, @y) as 0xRRGGBB, or -1 while it shows no such pixel. */
static gint64
client_pixel (TunnelClient *client, int x, int y)
{
  SpiceDisplayPrimary primary;

  if (client->display == NULL
      || !spice_display_channel_get_primary (SPICE_CHANNEL (client->display), 0, &primary)
      || x >= primary.width || y >= primary.height)
    return -1;
  return *(const uint32_t *) (primary.data + (gsize) y * primary.stride + (gsize) x * 4) & 0xffffff;
}

/* A spice-client-glib session whose every channel is a tunnel of its own shows the guest's pattern (its
 * white square at 100..163 on black); when it disconnects, every tunnel ends with status 0. */
static void
test_tunnel_display_session (Fixture *f)
{
  int serial;
  g_autoptr (VireoDBusMachine) machine = start_display_machine (f, &serial);
  TunnelClient client = { f, machine_path (machine), g_ptr_array_new_with_free_func (g_object_unref) };

  client.session = spice_session_new ();
  g_signal_connect (client.session, "channel-new", G_CALLBACK (on_channel_new), &client);
  g_assert_true (spice_session_open_fd (client.session, tunnel_client_connect (&client)));
  VIREO_TEST_WAIT_FOR (client_pixel (&client, 100, 100) == 0xffffff
                           && client_pixel (&client, 163, 163) == 0xffffff
                           && client_pixel (&client, 99, 100) == 0 && client_pixel (&client, 10, 10) == 0,
                       "the guest's pattern through the tunnels", WAIT_SECONDS);
  g_test_message ("%u tunnels, one per channel", client.tunnels->len);
  g_assert_cmpuint (client.tunnels->len, >=, 2);

  spice_session_disconnect (client.session);
  for (guint i = 0; i < client.tunnels->len; i++)
    assert_tunnel_exits_cleanly (g_ptr_array_index (client.tunnels, i));
  g_clear_object (&client.session);
  g_ptr_array_unref (client.tunnels);
  close (serial);
  call_ok (machine, "TurnOff", NULL);
}

/* ---- errors ---- */

typedef struct
{
  int status;
  char *out;
  char *err;
} TunnelRun;

static TunnelRun
tunnel_run (const char *const *args)
{
  g_autoptr (GPtrArray) argv = g_ptr_array_new ();
  g_autoptr (GError) error = NULL;
  TunnelRun run = { 0 };
  int wait_status;

  g_ptr_array_add (argv, (char *) tunnel_program ());
  for (; *args; args++)
    g_ptr_array_add (argv, (char *) *args);
  g_ptr_array_add (argv, NULL);
  g_assert_true (g_spawn_sync (NULL, (char **) argv->pdata, NULL, G_SPAWN_DEFAULT, NULL, NULL, &run.out,
                               &run.err, &wait_status, &error));
  g_assert_no_error (error);
  g_assert_true (WIFEXITED (wait_status));
  run.status = WEXITSTATUS (wait_status);
  return run;
}

static void
tunnel_run_clear (TunnelRun *run)
{
  g_free (run->out);
  g_free (run->err);
}

/* One line on stderr, "vireo-tunnel: …" mentioning each of @needles (NULL-terminated), status 1, and
 * nothing on stdout (which is the stream). */
static void
assert_tunnel_fails (const char *const *args, const char *const *needles)
{
  TunnelRun run = tunnel_run (args);

  g_test_message ("vireo-tunnel said: %s", run.err);
  g_assert_cmpint (run.status, ==, 1);
  g_assert_cmpstr (run.out, ==, "");
  g_assert_true (g_str_has_prefix (run.err, "vireo-tunnel: "));
  g_assert_nonnull (strchr (run.err, '\n'));
  g_assert_cmpstr (strchr (run.err, '\n') + 1, ==, "");
  for (; *needles; needles++)
    if (strstr (run.err, *needles) == NULL)
      g_error ("vireo-tunnel's error does not mention “%s”: %s", *needles, run.err);
  tunnel_run_clear (&run);
}

static void
test_tunnel_errors (Fixture *f)
{
  g_autoptr (VireoDBusMachine) machine = create_guest (f, "sleeper", "echo");
  g_autofree char *path = g_strdup (machine_path (machine));
  g_autoptr (GError) error = NULL;
  g_autoptr (GVariant) reply = NULL;
  TunnelRun help;

  /* Arguments. */
  assert_tunnel_fails ((const char *[]){ NULL }, (const char *[]){ "usage", NULL });
  assert_tunnel_fails ((const char *[]){ "--session", "display", NULL }, (const char *[]){ "usage", NULL });
  assert_tunnel_fails ((const char *[]){ "--session", "sound", path, NULL },
                       (const char *[]){ "sound", NULL });
  assert_tunnel_fails ((const char *[]){ "--session", "serial", "sleeper", NULL },
                       (const char *[]){ "sleeper", "object path", NULL });
  assert_tunnel_fails ((const char *[]){ "--session", "--system", "serial", path, NULL },
                       (const char *[]){ "--system", NULL });
  assert_tunnel_fails ((const char *[]){ "--frobnicate", "serial", path, NULL },
                       (const char *[]){ "frobnicate", NULL });
  help = tunnel_run ((const char *[]){ "--help", NULL });
  g_assert_cmpint (help.status, ==, 0);
  g_assert_nonnull (strstr (help.out, "display|serial OBJECT_PATH"));
  tunnel_run_clear (&help);

  /* No such machine. */
  assert_tunnel_fails ((const char *[]){ "--session", "display", MISSING_PATH, NULL },
                       (const char *[]){ "no machine", MISSING_PATH, NULL });

  /* A machine that is off: the service's own reason, after the machine's name. */
  reply = call_full (machine, "OpenSerial", NULL, NULL, &error);
  g_assert_null (reply);
  g_dbus_error_strip_remote_error (error);
  assert_tunnel_fails ((const char *[]){ "--session", "serial", path, NULL },
                       (const char *[]){ "“sleeper”", error->message, NULL });
  g_clear_error (&error);
  reply = call_full (machine, "OpenDisplay", NULL, NULL, &error);
  g_assert_null (reply);
  g_dbus_error_strip_remote_error (error);
  assert_tunnel_fails ((const char *[]){ "--session", "display", path, NULL },
                       (const char *[]){ "“sleeper”", error->message, NULL });

  /* No service at all. */
  g_clear_object (&machine);
  vireod_stop (f);
  assert_tunnel_fails ((const char *[]){ "--session", "serial", path, NULL },
                       (const char *[]){ path, "not running", NULL });
  vireod_start (f);
}

/* ---- disks ---- */

#define MIB        (1024 * 1024)
#define DISK_BYTES (32 * MIB)

/* A raw image with holes: data in its first MiB and at 20 MiB, zeros elsewhere, a hole at its end. */
static char *
write_holey_image (Fixture *f)
{
  g_autofree char *dir = g_build_filename (f->base, "user-files", NULL);
  char *path = g_build_filename (dir, "holey.img", NULL);
  g_autofree guint8 *bytes = g_malloc (MIB);
  int fd;

  g_assert_no_errno (g_mkdir_with_parents (dir, 0700));
  fd = open (path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  g_assert_cmpint (fd, >=, 0);
  for (gsize i = 0; i < MIB; i++)
    bytes[i] = (guint8) (i % 253 + 1);
  g_assert_cmpint (pwrite (fd, bytes, MIB, 0), ==, MIB);
  g_assert_cmpint (pwrite (fd, bytes, 100 * 1000, 20 * MIB + 12345), ==, 100 * 1000);
  g_assert_no_errno (ftruncate (fd, DISK_BYTES));
  close (fd);
  return path;
}

/* A tunnel of kind @kind for disk @target (NULL: none, a checkpoints tunnel) of @machine, its stdin @in
 * (taken; -1: /dev/null) and its stdout a pipe when @out_pipe. */
static GSubprocess *
tunnel_spawn_disk (const char *kind, VireoDBusMachine *machine, const char *target, int in, gboolean out_pipe)
{
  g_autoptr (GSubprocessLauncher) launcher = g_subprocess_launcher_new (
      out_pipe ? G_SUBPROCESS_FLAGS_STDOUT_PIPE : G_SUBPROCESS_FLAGS_NONE);
  g_autoptr (GError) error = NULL;
  GSubprocess *tunnel;

  if (in >= 0)
    g_subprocess_launcher_take_stdin_fd (launcher, in);
  tunnel = g_subprocess_launcher_spawn (launcher, &error, tunnel_program (), "--session", kind,
                                        machine_path (machine), target, NULL);
  g_assert_no_error (error);
  return tunnel;
}

static char *
file_sha256 (const char *path)
{
  g_autofree char *contents = NULL;
  gsize size;

  g_assert_true (g_file_get_contents (path, &contents, &size, NULL));
  return g_compute_checksum_for_data (G_CHECKSUM_SHA256, (const guchar *) contents, size);
}

/* disk-read gives the image's bytes; disk-read piped into disk-write (as the app joins two hosts' tunnels)
 * fills a received disk with the same bytes, its holes kept, and FinishReceivedDisk agrees. */
static void
test_tunnel_disk (Fixture *f)
{
  g_autofree char *image = write_holey_image (f);
  g_autofree char *sha = file_sha256 (image);
  g_autoptr (VireoDBusMachine) source = create_guest (f, "from-here", "echo");
  g_autoptr (VireoDBusMachine) dest = create_guest (f, "to-there", "echo");
  g_autoptr (GSubprocess) reader = NULL;
  g_autoptr (GSubprocess) writer = NULL;
  g_autoptr (GBytes) read_out = NULL;
  g_autoptr (GVariant) reply = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *target = NULL;
  g_autofree char *read_sha = NULL;
  g_autofree char *received_sha = NULL;
  g_autofree char *folder = machine_folder (f, dest);
  g_autofree char *received = g_build_filename (folder, "vda.img", NULL);
  guint64 size;
  struct stat st;

  g_free (call_for_target (source, "AttachDisk",
                           g_variant_new_parsed ("({'path': <%s>, 'format': <'raw'>},)", image)));

  /* disk-read alone: the bytes, whole. */
  reader = tunnel_spawn_disk ("disk-read", source, "vda", -1, TRUE);
  g_subprocess_communicate (reader, NULL, NULL, &read_out, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (g_bytes_get_size (read_out), ==, DISK_BYTES);
  read_sha = g_compute_checksum_for_bytes (G_CHECKSUM_SHA256, read_out);
  g_assert_cmpstr (read_sha, ==, sha);
  assert_tunnel_exits_cleanly (reader);
  g_clear_object (&reader);

  /* disk-read | disk-write into a received disk. */
  target = call_for_target (dest, "ReceiveDisk", g_variant_new_parsed ("({'format': <'raw'>}, @a{sv} {})"));
  g_assert_cmpstr (target, ==, "vda");
  reader = tunnel_spawn_disk ("disk-read", source, "vda", -1, TRUE);
  writer = tunnel_spawn_disk (
      "disk-write", dest, "vda",
      dup (g_unix_input_stream_get_fd (G_UNIX_INPUT_STREAM (g_subprocess_get_stdout_pipe (reader)))), FALSE);
  g_input_stream_close (g_subprocess_get_stdout_pipe (reader), NULL, NULL);
  assert_tunnel_exits_cleanly (reader);
  assert_tunnel_exits_cleanly (writer);
  g_assert_no_errno (stat (received, &st));
  g_test_message ("received: %lld bytes allocated of %lld", (long long) st.st_blocks * 512,
                  (long long) st.st_size);
  g_assert_cmpint (st.st_size, ==, DISK_BYTES);
  g_assert_cmpint (st.st_blocks * 512, <=, 2 * MIB);
  received_sha = file_sha256 (received);
  g_assert_cmpstr (received_sha, ==, sha);
  reply = call_full (dest, "FinishReceivedDisk", g_variant_new_parsed ("(%s, @a{sv} {})", "vda"), NULL,
                     &error);
  g_assert_no_error (error);
  g_clear_pointer (&received_sha, g_free);
  g_variant_get (reply, "(ts)", &size, &received_sha);
  g_assert_cmpuint (size, ==, DISK_BYTES);
  g_assert_cmpstr (received_sha, ==, sha);

  /* Their errors, in one line: a disk that is not there, and one that is no longer being received. */
  g_free (call_for_target (source, "AttachDisk", g_variant_new_parsed ("({'device': <'cdrom'>},)")));
  assert_tunnel_fails ((const char *[]){ "--session", "disk-read", machine_path (source), NULL },
                       (const char *[]){ "usage", NULL });
  assert_tunnel_fails ((const char *[]){ "--session", "disk-read", machine_path (source), "vdz", NULL },
                       (const char *[]){ "“from-here”", "vdz", NULL });
  assert_tunnel_fails ((const char *[]){ "--session", "disk-read", machine_path (source), "sda", NULL },
                       (const char *[]){ "“from-here”", "CD-ROM", NULL });
  assert_tunnel_fails ((const char *[]){ "--session", "disk-write", machine_path (dest), "vda", NULL },
                       (const char *[]){ "“to-there”", "not being received", NULL });
}

/* ---- checkpoints ---- */

/* checkpoints-read gives the archive of a machine's checkpoints; checkpoints-read piped into
 * checkpoints-write makes another machine receive it: FinishCheckpointArchive counts and hashes the same
 * bytes, and the checkpoint appears there with its id. */
static void
test_tunnel_checkpoints (Fixture *f)
{
  g_autoptr (VireoDBusMachine) source = create_guest (f, "from-here", "echo");
  g_autoptr (VireoDBusMachine) dest = create_guest (f, "to-there", "echo");
  g_autoptr (GSubprocess) reader = NULL;
  g_autoptr (GSubprocess) writer = NULL;
  g_autoptr (GBytes) read_out = NULL;
  g_autoptr (GVariant) reply = NULL;
  g_autoptr (GVariant) created = NULL;
  g_autoptr (GHashTable) listed = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *checkpoint = NULL;
  g_autofree char *read_sha = NULL;
  g_autofree char *received_sha = NULL;
  g_autofree char *moved = NULL;
  guint64 size;

  created = call_full (source, "CreateCheckpoint", g_variant_new_parsed ("('before the move', @a{sv} {})"),
                       NULL, &error);
  g_assert_no_error (error);
  g_variant_get (created, "(o)", &checkpoint);

  /* checkpoints-read alone: an archive, whole. */
  reader = tunnel_spawn_disk ("checkpoints-read", source, NULL, -1, TRUE);
  g_subprocess_communicate (reader, NULL, NULL, &read_out, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (g_bytes_get_size (read_out), >, 10);
  g_assert_cmpmem (g_bytes_get_data (read_out, NULL), 10, "VIREOCKP1\n", 10);
  read_sha = g_compute_checksum_for_bytes (G_CHECKSUM_SHA256, read_out);
  assert_tunnel_exits_cleanly (reader);
  g_clear_object (&reader);

  /* checkpoints-read | checkpoints-write into another machine. */
  reader = tunnel_spawn_disk ("checkpoints-read", source, NULL, -1, TRUE);
  writer = tunnel_spawn_disk (
      "checkpoints-write", dest, NULL,
      dup (g_unix_input_stream_get_fd (G_UNIX_INPUT_STREAM (g_subprocess_get_stdout_pipe (reader)))), FALSE);
  g_input_stream_close (g_subprocess_get_stdout_pipe (reader), NULL, NULL);
  assert_tunnel_exits_cleanly (reader);
  assert_tunnel_exits_cleanly (writer);
  reply = call_full (dest, "FinishCheckpointArchive", NULL, NULL, &error);
  g_assert_no_error (error);
  g_variant_get (reply, "(ts)", &size, &received_sha);
  g_assert_cmpuint (size, ==, g_bytes_get_size (read_out));
  g_assert_cmpstr (received_sha, ==, read_sha);
  listed = managed_objects (f, "org.vireo.Vireo1.Checkpoint");
  moved = g_strconcat (machine_path (dest), "/checkpoints/", checkpoint_id (checkpoint), NULL);
  g_assert_true (g_hash_table_contains (listed, moved));

  /* Their errors, in one line: too many arguments, and a machine that has checkpoints already. */
  assert_tunnel_fails (
      (const char *[]){ "--session", "checkpoints-read", machine_path (source), "vda", NULL },
      (const char *[]){ "usage", NULL });
  assert_tunnel_fails ((const char *[]){ "--session", "checkpoints-write", machine_path (dest), NULL },
                       (const char *[]){ "“to-there”", "has checkpoints already", NULL });
}

static const ServiceTest tunnel_tests[] = {
  { "/tunnel/serial", test_tunnel_serial, TRUE },
  { "/tunnel/display-link", test_tunnel_display_link, TRUE },
  { "/tunnel/display-session", test_tunnel_display_session, TRUE },
  { "/tunnel/errors", test_tunnel_errors, FALSE },
  { "/tunnel/disk", test_tunnel_disk, FALSE },
  { "/tunnel/checkpoints", test_tunnel_checkpoints, FALSE },
};

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  for (guint i = 0; i < G_N_ELEMENTS (tunnel_tests); i++)
    g_test_add_data_func (tunnel_tests[i].path, &tunnel_tests[i], run_service_test);
  return g_test_run ();
}
