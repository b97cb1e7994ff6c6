/* ssh-fixture.h — an sshd of the test's own on 127.0.0.1 (a free port, a host key and a user key made by
 * the test, a known_hosts and an ssh config that trust exactly them), for the tests of remote hosts.  Remote
 * commands get the environment the test gives (private bus addresses, a PATH with the build tree) through
 * sshd's SetEnv.  sshd runs only as root; without root or /usr/sbin/sshd, the start says why it cannot. */
#pragma once

#include <gio/gio.h>

typedef struct
{
  char *dir;         /* keys, configs and sshd's log */
  char *config;      /* the ssh client's config: ssh -F <config> */
  char *known_hosts; /* [127.0.0.1]:<port> and the host key */
  char *user_key;    /* the private key sshd accepts */
  char *log;         /* sshd -E */
  char *sshd_config;
  int port;
  GSubprocess *sshd;
} VireoSshFixture;

/* Why the fixture cannot run here (not root, no sshd), or NULL when it can. */
const char *vireo_ssh_fixture_unavailable (void);
/* Makes the keys and configs in @dir (created) and starts sshd; @environment is NULL or NAME=VALUE pairs for
 * the remote commands (a PATH is added to: <dir>/bin first, the system's last).  <dir>/bin holds a
 * systemd-stdio-bridge that takes DBUS_SYSTEM_BUS_ADDRESS (with --user: DBUS_SESSION_BUS_ADDRESS) as its
 * bus unless given --bus-path.  Sets $VIREO_SSH_COMMAND to `ssh -F <config>`.  Asserts on failure. */
void vireo_ssh_fixture_start (VireoSshFixture *f, const char *dir, const char *const *environment);
/* Ends the listening sshd (not the sessions it serves): new connections are refused until it starts again on
 * the same port, keys and config. */
void vireo_ssh_fixture_stop_server (VireoSshFixture *f);
void vireo_ssh_fixture_start_server (VireoSshFixture *f);
/* ssh://127.0.0.1:<port><path>, with @path "" or "/session". */
char *vireo_ssh_fixture_uri (VireoSshFixture *f, const char *path);
/* Ends sshd (and the sessions it serves) and frees the fixture; leaves @dir to the caller. */
void vireo_ssh_fixture_stop (VireoSshFixture *f);
/* What sshd logged, for a failing test's message. */
char *vireo_ssh_fixture_log (VireoSshFixture *f);
