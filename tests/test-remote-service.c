/* test-remote-service.c — a Vireo host reached over ssh with the app's own code (console/vireo-ssh.c,
 * console/vireo-host.c): addresses, ssh's failures in words, a TCP connection made from the far side of
 * ssh, and a private vireod behind the test sshd (tests/ssh-fixture.c) listed, started, stopped, cut off and
 * reached again. */
#include "service-fixture.h"
#include "ssh-fixture.h"
#include "test-util.h"
#include "vireo-host.h"
#include "vireo-ssh.h"

#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* ---- addresses ---- */

static void
test_uri (void)
{
  static const struct
  {
    const char *uri;
    const char *user, *host;
    int port;
    gboolean session;
    const char *name;
  } good[] = {
    { "ssh://host", NULL, "host", 0, FALSE, "host" },
    { "ssh://alice@host.example:2222", "alice", "host.example", 2222, FALSE, "alice@host.example:2222" },
    { "ssh://host/session", NULL, "host", 0, TRUE, "host (session)" },
    { "ssh://bob@[::1]/", "bob", "::1", 0, FALSE, "bob@::1" },
  };
  static const struct
  {
    const char *uri;
    const char *says;
  } bad[] = {
    { "", "empty" },
    { "host", "ssh://" },
    { "qemu:///system", "ssh://" },
    { "ssh://", "no host" },
    { "ssh://alice:secret@host", "password" },
    { "ssh://-oProxyCommand=evil", "“-”" },
    { "ssh://host/elsewhere", "/session" },
    { "ssh://host?x=1", "“?”" },
    { "ssh://host:99999", "cannot be read" },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (good); i++)
    {
      VireoSshAddress address;
      g_autoptr (GError) error = NULL;
      g_autofree char *name = vireo_ssh_describe_uri (good[i].uri);

      g_assert_true (vireo_ssh_parse_uri (good[i].uri, &address, &error));
      g_assert_no_error (error);
      g_assert_cmpstr (address.user, ==, good[i].user);
      g_assert_cmpstr (address.host, ==, good[i].host);
      g_assert_cmpint (address.port, ==, good[i].port);
      g_assert_cmpint (address.session, ==, good[i].session);
      g_assert_cmpstr (name, ==, good[i].name);
      vireo_ssh_address_clear (&address);
    }
  for (gsize i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      VireoSshAddress address;
      g_autoptr (GError) error = NULL;

      g_assert_false (vireo_ssh_parse_uri (bad[i].uri, &address, &error));
      g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
      if (!strstr (error->message, bad[i].says))
        g_error ("“%s”: “%s” does not say “%s”", bad[i].uri, error->message, bad[i].says);
    }
}

/* ---- ssh itself ---- */

typedef struct
{
  GAsyncResult *result;
} Waited;

static void
on_waited (GObject *source, GAsyncResult *result, gpointer data)
{
  ((Waited *) data)->result = g_object_ref (result);
}

static gboolean
have_result (gpointer data)
{
  return ((Waited *) data)->result != NULL;
}

/* Runs @argv on the test host through vireo_ssh_spawn; returns what it printed, and ssh's failure in @error. */
static char *
run_remote (const char *uri, const char *const *argv, GError **error)
{
  g_autoptr (GSubprocess) ssh = NULL;
  g_autoptr (GString) out = g_string_new (NULL);
  Waited waited = { NULL };
  char buffer[256];
  ssize_t n;
  int fd = -1;

  ssh = vireo_ssh_spawn (uri, argv, &fd, error);
  if (!ssh)
    return NULL;
  /* Nothing to say to the remote command: it sees the end of its input. */
  shutdown (fd, SHUT_WR);
  while ((n = read (fd, buffer, sizeof buffer)) > 0)
    g_string_append_len (out, buffer, n);
  close (fd);
  vireo_ssh_wait_async (ssh, NULL, on_waited, &waited);
  g_assert_true (vireo_test_wait_until (have_result, &waited, 60));
  if (!vireo_ssh_wait_finish (ssh, waited.result, error))
    {
      g_object_unref (waited.result);
      return NULL;
    }
  g_object_unref (waited.result);
  return g_string_free (g_steal_pointer (&out), FALSE);
}

static void
expect_failure (const char *uri, const char *const *argv, const char *ssh_command, const char *says)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *out = NULL;

  g_setenv ("VIREO_SSH_COMMAND", ssh_command, TRUE);
  out = run_remote (uri, argv, &error);
  g_assert_null (out);
  g_assert_nonnull (error);
  g_test_message ("%s: %s", ssh_command, error->message);
  if (!strstr (error->message, says))
    g_error ("ssh's failure “%s” does not say “%s”", error->message, says);
}

/* The test sshd in a new folder (*dir), or FALSE with the test skipped when it cannot run here. */
static gboolean
start_ssh (VireoSshFixture *fixture, char **dir)
{
  const char *unavailable = vireo_ssh_fixture_unavailable ();
  g_autoptr (GError) error = NULL;

  if (unavailable)
    {
      g_test_skip (unavailable);
      return FALSE;
    }
  *dir = g_dir_make_tmp ("vireo-ssh-XXXXXX", &error);
  g_assert_no_error (error);
  vireo_ssh_fixture_start (fixture, *dir, NULL);
  return TRUE;
}

static void
test_ssh_failures (void)
{
  const char *echo[] = { "echo", "it's", "a \"quoted\" $word", NULL };
  const char *missing[] = { "vireo-no-such-command", "--system", NULL };
  const char *through_shell[] = { "sh", "-c", "exec vireo-no-such-bridge --bus-path=x", NULL };
  VireoSshFixture ssh;
  g_autoptr (GError) error = NULL;
  g_autofree char *dir = NULL, *uri = NULL, *out = NULL, *good_command = NULL, *other_key = NULL;
  g_autofree char *no_known_hosts = NULL, *wrong_key = NULL;

  if (!start_ssh (&ssh, &dir))
    return;
  uri = vireo_ssh_fixture_uri (&ssh, "");
  good_command = g_strdup (g_getenv ("VIREO_SSH_COMMAND"));

  /* Each word arrives as it was given, whatever the remote shell would make of it. */
  out = run_remote (uri, echo, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (out, ==, "it's a \"quoted\" $word\n");

  expect_failure (uri, missing, good_command, "The remote host has no “vireo-no-such-command”");
  /* Through a shell, as the session bridge is run: the shell's complaint names the program, not "sh". */
  expect_failure (uri, through_shell, good_command, "The remote host has no “vireo-no-such-bridge”");

  no_known_hosts = g_strdup_printf ("%s -o UserKnownHostsFile=/dev/null -o StrictHostKeyChecking=yes",
                                    good_command);
  expect_failure (uri, echo, no_known_hosts, "Host key verification failed");

  other_key = g_build_filename (dir, "other_key", NULL);
  {
    const char *keygen[] = { "ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", other_key, NULL };
    g_assert_cmpint (vireo_test_run_judge (keygen, NULL), ==, 0);
  }
  /* Not the config: its IdentityFile would be tried too. */
  wrong_key = g_strdup_printf (
      "ssh -F /dev/null -o User=root -o IdentityFile=%s -o IdentitiesOnly=yes "
      "-o IdentityAgent=none -o UserKnownHostsFile=%s -o GlobalKnownHostsFile=/dev/null",
      other_key, ssh.known_hosts);
  expect_failure (uri, echo, wrong_key, "Permission denied (publickey)");

  vireo_ssh_fixture_stop (&ssh);
  vireo_test_remove_tree (dir);
}

/* ---- TCP from the far side of ssh (ssh -W) ---- */

/* One connection's bytes back to it, in a thread of its own: the test reads with blocking calls. */
static gpointer
echo_one (gpointer data)
{
  g_autoptr (GSocketConnection) connection = g_socket_listener_accept (data, NULL, NULL, NULL);

  if (connection)
    {
      g_output_stream_splice (g_io_stream_get_output_stream (G_IO_STREAM (connection)),
                              g_io_stream_get_input_stream (G_IO_STREAM (connection)),
                              G_OUTPUT_STREAM_SPLICE_NONE, NULL, NULL);
      g_io_stream_close (G_IO_STREAM (connection), NULL, NULL);
    }
  return NULL;
}

/* What the far side's sshd says of a forward it could not open, in a sentence naming the destination. */
static void
test_forward_failures_explained (void)
{
  const int failed = 255 << 8; /* as waitpid reports exit status 255 */
  g_autofree char *refused = vireo_ssh_explain_failure (
      "channel 0: open failed: connect failed: Connection refused\nstdio forwarding failed\n", failed,
      "127.0.0.1:5900");
  g_autofree char *prohibited = vireo_ssh_explain_failure (
      "channel 0: open failed: administratively prohibited: open failed\r\nstdio forwarding failed\r\n",
      failed, "[::1]:5901");
  g_autofree char *unresolved = vireo_ssh_explain_failure (
      "channel 0: open failed: connect failed: name or service not known\nstdio forwarding failed\n", failed,
      "spice.invalid:5900");

  g_assert_cmpstr (refused, ==, "The remote host could not connect to 127.0.0.1:5900: Connection refused");
  g_assert_cmpstr (prohibited, ==, "The remote host’s sshd does not allow forwarding to [::1]:5901");
  g_assert_cmpstr (unresolved, ==,
                   "The remote host could not connect to spice.invalid:5900: name or service not known");
}

static int
closed_port (void)
{
  g_autoptr (GSocketListener) listener = g_socket_listener_new ();
  g_autoptr (GError) error = NULL;
  guint16 port = g_socket_listener_add_any_inet_port (listener, NULL, &error);

  g_assert_no_error (error);
  g_socket_listener_close (listener);
  return port;
}

/* What the forwarding ssh ended with. */
static gboolean
wait_ssh (GSubprocess *ssh, GError **error)
{
  Waited waited = { NULL };
  gboolean ok;

  vireo_ssh_wait_async (ssh, NULL, on_waited, &waited);
  g_assert_true (vireo_test_wait_until (have_result, &waited, 60));
  ok = vireo_ssh_wait_finish (ssh, waited.result, error);
  g_object_unref (waited.result);
  return ok;
}

static void
test_ssh_forward (void)
{
  static const char message[] = "SPICE bytes, there and back through ssh";
  g_autoptr (GSocketListener) echo = g_socket_listener_new ();
  g_autoptr (GThread) echo_thread = NULL;
  g_autoptr (GInetAddress) loopback = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  g_autoptr (GSocketAddress) any_port = g_inet_socket_address_new (loopback, 0);
  g_autoptr (GSocketAddress) bound = NULL;
  g_autoptr (GSubprocess) ssh = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *dir = NULL, *uri = NULL, *refused = NULL;
  VireoSshFixture fixture;
  char buffer[sizeof message];
  gsize done = 0;
  ssize_t n;
  int port, fd = -1;

  if (!start_ssh (&fixture, &dir))
    return;
  uri = vireo_ssh_fixture_uri (&fixture, "");

  g_socket_listener_add_address (echo, any_port, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP, NULL, &bound,
                                 &error);
  g_assert_no_error (error);
  port = g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (bound));
  echo_thread = g_thread_new ("echo", echo_one, echo);

  /* The bytes go through ssh to what listens on the far side's 127.0.0.1, and come back. */
  ssh = vireo_ssh_spawn_forward (uri, "127.0.0.1", port, &fd, &error);
  g_assert_no_error (error);
  g_assert_nonnull (ssh);
  g_assert_cmpint (write (fd, message, sizeof message), ==, sizeof message);
  while (done < sizeof message && (n = read (fd, buffer + done, sizeof message - done)) > 0)
    done += n;
  g_assert_cmpuint (done, ==, sizeof message);
  g_assert_cmpmem (buffer, sizeof buffer, message, sizeof message);
  /* Our end closed: the connection ends, and ssh with it, well. */
  close (fd);
  g_assert_true (wait_ssh (ssh, &error));
  g_assert_no_error (error);
  g_clear_object (&ssh);
  g_thread_join (g_steal_pointer (&echo_thread));

  /* Nothing listens there: the connection ends at once, and the reason says so. */
  port = closed_port ();
  ssh = vireo_ssh_spawn_forward (uri, "127.0.0.1", port, &fd, &error);
  g_assert_no_error (error);
  g_assert_cmpint (read (fd, buffer, sizeof buffer), ==, 0);
  close (fd);
  g_assert_false (wait_ssh (ssh, &error));
  g_assert_nonnull (error);
  g_test_message ("closed port: %s", error->message);
  refused = g_strdup_printf ("The remote host could not connect to 127.0.0.1:%d: Connection refused", port);
  g_assert_cmpstr (error->message, ==, refused);

  g_socket_listener_close (echo);
  vireo_ssh_fixture_stop (&fixture);
  vireo_test_remove_tree (dir);
}

/* ---- a private vireod behind the test sshd ---- */

typedef struct
{
  VireoHost *host;
  const char *path;
} ListedQuery;

static gboolean
host_lists (gpointer data)
{
  ListedQuery *query = data;

  return vireo_host_get_available (query->host) && vireo_host_find_machine (query->host, query->path) != NULL;
}

static gboolean
host_lost (gpointer data)
{
  return vireo_host_get_state (data) == VIREO_HOST_LOST;
}

static void
test_remote_host (Fixture *f)
{
  VireoSshFixture ssh;
  g_autofree char *ssh_dir = g_build_filename (f->base, "ssh", NULL);
  g_autofree char *build_dir = g_path_get_dirname (g_getenv ("VIREOD"));
  g_autofree char *system_bus = g_strdup_printf ("DBUS_SYSTEM_BUS_ADDRESS=%s",
                                                 g_test_dbus_get_bus_address (f->bus));
  g_autofree char *session_bus = g_strdup_printf ("DBUS_SESSION_BUS_ADDRESS=%s",
                                                  g_test_dbus_get_bus_address (f->bus));
  /* The build tree's programs (vireo-tunnel) before the system's, as if installed on the remote host. */
  g_autofree char *path = g_strdup_printf ("PATH=%s/tunnel:%s", build_dir, build_dir);
  const char *environment[] = { system_bus, session_bus, path, NULL };
  g_autoptr (VireoDBusMachine) machine = NULL;
  g_autoptr (VireoHost) host = NULL;
  g_autoptr (VireoHost) session_host = NULL;
  g_autofree char *uri = NULL, *session_uri = NULL, *title = NULL;
  VireoDBusMachine *far;
  ListedQuery query;

  vireo_ssh_fixture_start (&ssh, ssh_dir, environment);
  machine = create_guest (f, "far-echo", "echo");
  uri = vireo_ssh_fixture_uri (&ssh, "");

  host = vireo_host_new_remote (uri);
  g_assert_cmpint (vireo_host_get_kind (host), ==, VIREO_HOST_REMOTE);
  g_assert_cmpstr (vireo_host_get_uri (host), ==, uri);
  title = g_strdup_printf ("127.0.0.1:%d", ssh.port);
  g_assert_cmpstr (vireo_host_get_title (host), ==, title);
  query = (ListedQuery){ host, machine_path (machine) };
  if (!vireo_test_wait_until (host_lists, &query, WAIT_SECONDS))
    {
      g_autofree char *log = vireo_ssh_fixture_log (&ssh);
      g_error ("the remote host never listed the machine; its status: “%s”; sshd's log:\n%s",
               vireo_host_get_status (host), log);
    }
  g_assert_cmpint (vireo_host_get_state (host), ==, VIREO_HOST_CONNECTED);

  /* The remote machine's proxy: the same calls and signals as a local one, through the tunnel. */
  far = vireo_host_find_machine (host, machine_path (machine));
  g_assert_cmpstr (vireo_dbus_machine_get_name (far), ==, "far-echo");
  call_ok (far, "Start", NULL);
  wait_for_state (far, "running");

  /* Its serial console through the host's own stream call: ssh and vireo-tunnel, as fds cannot travel. */
  {
    Waited waited = { NULL };
    g_autoptr (GString) seen = g_string_new (NULL);
    g_autoptr (GError) error = NULL;
    gsize mark;
    int fd;

    vireo_host_open_stream (host, far, VIREO_STREAM_SERIAL, NULL, on_waited, &waited);
    g_assert_true (vireo_test_wait_until (have_result, &waited, WAIT_SECONDS));
    fd = vireo_host_open_stream_finish (host, waited.result, &error);
    g_object_unref (waited.result);
    g_assert_no_error (error);
    g_assert_true (serial_wait_for (fd, seen, 0, "echo ready", WAIT_SECONDS));
    mark = seen->len;
    serial_type (fd, "from afar");
    g_assert_true (serial_wait_for (fd, seen, mark, "from afar", WAIT_SECONDS));
    close (fd);
  }
  call_ok (far, "TurnOff", NULL);
  wait_for_state (far, "off");
  g_assert_cmpstr (vireo_dbus_machine_get_state (machine), ==, "off");

  /* The link dies: the host says so, instead of an empty list that looks like a host without machines. */
  g_assert_true (vireo_test_signal_processes ("ssh", ssh.config, SIGKILL, WAIT_SECONDS));
  g_assert_true (vireo_test_wait_until (host_lost, host, WAIT_SECONDS));
  test_say ("after the ssh process was killed: “%s”", vireo_host_get_status (host));
  g_assert_true (g_str_has_prefix (vireo_host_get_status (host), "Connection lost: "));
  g_assert_false (vireo_host_get_available (host));

  /* … and comes back by itself (the first retry is after a second). */
  g_assert_true (vireo_test_wait_until (host_lists, &query, WAIT_SECONDS));
  g_assert_cmpint (vireo_host_get_state (host), ==, VIREO_HOST_CONNECTED);
  g_assert_cmpstr (vireo_host_get_status (host), ==, "");

  /* The session service's address takes `systemd-stdio-bridge --user`. */
  session_uri = vireo_ssh_fixture_uri (&ssh, "/session");
  session_host = vireo_host_new_remote (session_uri);
  query.host = session_host;
  g_assert_true (vireo_test_wait_until (host_lists, &query, WAIT_SECONDS));

  g_clear_object (&session_host);
  g_clear_object (&host);
  vireo_ssh_fixture_stop (&ssh);
}

static const ServiceTest remote_host_test = { "/remote/host", test_remote_host, TRUE };

static void
run_remote_host_test (gconstpointer data)
{
  const char *unavailable = vireo_ssh_fixture_unavailable ();

  if (!g_test_subprocess () && unavailable)
    {
      g_test_skip (unavailable);
      return;
    }
  run_service_test (data);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/remote/uri", test_uri);
  g_test_add_func ("/remote/ssh-failures", test_ssh_failures);
  g_test_add_func ("/remote/ssh-forward", test_ssh_forward);
  g_test_add_func ("/remote/forward-failures-explained", test_forward_failures_explained);
  g_test_add_data_func (remote_host_test.path, &remote_host_test, run_remote_host_test);
  return g_test_run ();
}
