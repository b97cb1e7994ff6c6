/* ssh-fixture.c — an sshd of the test's own on 127.0.0.1 with test-made keys, and the ssh client config that
 * reaches it (see ssh-fixture.h). */
#include "ssh-fixture.h"

#include "test-util.h"

#include <glib/gstdio.h>
#include <netinet/in.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define SSHD "/usr/sbin/sshd"

const char *
vireo_ssh_fixture_unavailable (void)
{
  if (geteuid () != 0)
    return "the test sshd runs only as root";
  if (!g_file_test (SSHD, G_FILE_TEST_IS_EXECUTABLE))
    return SSHD " is missing (openssh-server)";
  if (!g_find_program_in_path ("ssh") || !g_find_program_in_path ("ssh-keygen"))
    return "ssh or ssh-keygen is missing (openssh-client)";
  return NULL;
}

static int
free_port (void)
{
  struct sockaddr_in address = { .sin_family = AF_INET, .sin_addr.s_addr = htonl (INADDR_LOOPBACK) };
  socklen_t length = sizeof address;
  int fd = socket (AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

  g_assert_cmpint (fd, >=, 0);
  g_assert_cmpint (bind (fd, (struct sockaddr *) &address, sizeof address), ==, 0);
  g_assert_cmpint (getsockname (fd, (struct sockaddr *) &address, &length), ==, 0);
  close (fd);
  return ntohs (address.sin_port);
}

static void
make_key (const char *path)
{
  const char *argv[] = {
    "ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "vireo-test", "-f", path, NULL
  };
  g_autofree char *out = NULL;

  g_assert_cmpint (vireo_test_run_judge (argv, &out), ==, 0);
}

static gboolean
sshd_listens (gpointer data)
{
  VireoSshFixture *f = data;
  struct sockaddr_in address = { .sin_family = AF_INET,
                                 .sin_addr.s_addr = htonl (INADDR_LOOPBACK),
                                 .sin_port = htons (f->port) };
  int fd = socket (AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  gboolean listening = connect (fd, (struct sockaddr *) &address, sizeof address) == 0;

  close (fd);
  return listening || g_subprocess_get_identifier (f->sshd) == NULL;
}

void
vireo_ssh_fixture_start (VireoSshFixture *f, const char *dir, const char *const *environment)
{
  g_autofree char *host_key = NULL, *host_pub = NULL, *user_pub = NULL, *authorized = NULL;
  g_autofree char *sshd_config = NULL;
  g_autofree char *pid_file = NULL, *host_pub_text = NULL, *user_pub_text = NULL;
  g_autofree char *command = NULL, *quoted_config = NULL;
  g_autofree char *bin = NULL, *bridge = NULL, *bridge_path = NULL, *bridge_script = NULL;
  g_autoptr (GString) config = g_string_new (NULL);
  g_autoptr (GString) client = g_string_new (NULL);

  memset (f, 0, sizeof *f);
  f->dir = g_strdup (dir);
  g_assert_cmpint (g_mkdir_with_parents (dir, 0700), ==, 0);
  host_key = g_build_filename (dir, "host_key", NULL);
  host_pub = g_strconcat (host_key, ".pub", NULL);
  f->user_key = g_build_filename (dir, "user_key", NULL);
  user_pub = g_strconcat (f->user_key, ".pub", NULL);
  authorized = g_build_filename (dir, "authorized_keys", NULL);
  sshd_config = g_build_filename (dir, "sshd_config", NULL);
  pid_file = g_build_filename (dir, "sshd.pid", NULL);
  f->config = g_build_filename (dir, "ssh_config", NULL);
  f->known_hosts = g_build_filename (dir, "known_hosts", NULL);
  f->log = g_build_filename (dir, "sshd.log", NULL);
  f->port = free_port ();

  /* systemd-stdio-bridge (252) takes the bus from --bus-path only, not from DBUS_*_BUS_ADDRESS: a stand-in
   * first in PATH points it at the test's buses, as the real one would reach the host's own. */
  bin = g_build_filename (dir, "bin", NULL);
  g_assert_cmpint (g_mkdir_with_parents (bin, 0700), ==, 0);
  bridge = g_find_program_in_path ("systemd-stdio-bridge");
  if (bridge)
    {
      bridge_path = g_build_filename (bin, "systemd-stdio-bridge", NULL);
      bridge_script = g_strdup_printf ("#!/bin/sh\n"
                                       "case \"$*\" in\n"
                                       "  *--bus-path=*) exec %s \"$@\" ;;\n"
                                       "  *--user*) exec %s --bus-path=\"$DBUS_SESSION_BUS_ADDRESS\" ;;\n"
                                       "esac\n"
                                       "exec %s --bus-path=\"$DBUS_SYSTEM_BUS_ADDRESS\" \"$@\"\n",
                                       bridge, bridge, bridge);
      g_assert_true (g_file_set_contents (bridge_path, bridge_script, -1, NULL));
      g_assert_cmpint (g_chmod (bridge_path, 0755), ==, 0);
    }

  make_key (host_key);
  make_key (f->user_key);
  g_assert_true (g_file_get_contents (host_pub, &host_pub_text, NULL, NULL));
  g_assert_true (g_file_get_contents (user_pub, &user_pub_text, NULL, NULL));
  g_assert_true (g_file_set_contents (authorized, user_pub_text, -1, NULL));

  g_string_append_printf (config,
                          "Port %d\nListenAddress 127.0.0.1\nHostKey %s\nAuthorizedKeysFile %s\n"
                          "PasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM no\n"
                          "StrictModes no\nPermitRootLogin prohibit-password\nPidFile %s\n",
                          f->port, host_key, authorized, pid_file);
  g_string_append_printf (config, "SetEnv \"PATH=%s", bin);
  for (const char *const *pair = environment; pair && *pair; pair++)
    if (g_str_has_prefix (*pair, "PATH="))
      g_string_append_printf (config, ":%s", *pair + strlen ("PATH="));
  g_string_append (config, ":/usr/local/bin:/usr/bin:/bin\"");
  for (const char *const *pair = environment; pair && *pair; pair++)
    if (!g_str_has_prefix (*pair, "PATH="))
      g_string_append_printf (config, " \"%s\"", *pair);
  g_string_append (config, "\n");
  g_assert_true (g_file_set_contents (sshd_config, config->str, -1, NULL));

  g_string_append_printf (client, "[127.0.0.1]:%d %s", f->port, host_pub_text);
  g_assert_true (g_file_set_contents (f->known_hosts, client->str, -1, NULL));
  g_string_truncate (client, 0);
  /* Exactly the test's keys: no agent, no ~/.ssh, no questions. */
  g_string_append_printf (
      client,
      "Host vireo-test\n  HostName 127.0.0.1\n  Port %d\n"
      "Host *\n  User root\n  IdentityFile %s\n  IdentitiesOnly yes\n  IdentityAgent none\n"
      "  UserKnownHostsFile %s\n  GlobalKnownHostsFile /dev/null\n"
      "  StrictHostKeyChecking yes\n  UpdateHostKeys no\n",
      f->port, f->user_key, f->known_hosts);
  g_assert_true (g_file_set_contents (f->config, client->str, -1, NULL));

  f->sshd_config = g_steal_pointer (&sshd_config);
  vireo_ssh_fixture_start_server (f);

  quoted_config = g_shell_quote (f->config);
  command = g_strdup_printf ("ssh -F %s", quoted_config);
  g_setenv ("VIREO_SSH_COMMAND", command, TRUE);
}

void
vireo_ssh_fixture_start_server (VireoSshFixture *f)
{
  g_autoptr (GError) error = NULL;

  g_assert_null (f->sshd);
  /* sshd's privilege separation folder, which the package's service would make. */
  g_assert_cmpint (g_mkdir_with_parents ("/run/sshd", 0755), ==, 0);
  /* Silenced: a test in a child process must not leave its stdout to sshd, which the parent waits on. */
  f->sshd = g_subprocess_new (G_SUBPROCESS_FLAGS_STDOUT_SILENCE | G_SUBPROCESS_FLAGS_STDERR_SILENCE, &error,
                              SSHD, "-D", "-f", f->sshd_config, "-E", f->log, NULL);
  g_assert_no_error (error);
  g_assert_true (vireo_test_wait_until (sshd_listens, f, 30));
  g_assert_nonnull (g_subprocess_get_identifier (f->sshd));
}

void
vireo_ssh_fixture_stop_server (VireoSshFixture *f)
{
  if (!f->sshd)
    return;
  g_subprocess_send_signal (f->sshd, SIGTERM);
  g_subprocess_wait (f->sshd, NULL, NULL);
  g_clear_object (&f->sshd);
}

char *
vireo_ssh_fixture_uri (VireoSshFixture *f, const char *path)
{
  return g_strdup_printf ("ssh://127.0.0.1:%d%s", f->port, path ? path : "");
}

char *
vireo_ssh_fixture_log (VireoSshFixture *f)
{
  char *log = NULL;

  if (!g_file_get_contents (f->log, &log, NULL, NULL))
    log = g_strdup ("(sshd logged nothing)");
  return log;
}

void
vireo_ssh_fixture_stop (VireoSshFixture *f)
{
  vireo_ssh_fixture_stop_server (f);
  g_unsetenv ("VIREO_SSH_COMMAND");
  g_free (f->dir);
  g_free (f->config);
  g_free (f->known_hosts);
  g_free (f->user_key);
  g_free (f->log);
  g_free (f->sshd_config);
  memset (f, 0, sizeof *f);
}
