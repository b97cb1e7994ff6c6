/* vireo-ssh.h — reaching another Vireo host over ssh: its address (ssh://[user@]host[:port][/session]), the
 * ssh process that carries a remote command's stdin/stdout (or a TCP connection made there) over a
 * socketpair, why that process ended in words a user can act on, and ssh's questions (host keys,
 * passphrases) routed to the app's own prompt. */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

typedef struct
{
  char *user; /* NULL: ssh's default (its config, then the local user) */
  char *host;
  int port;         /* 0: ssh's default */
  gboolean session; /* the ssh user's session vireod, not the system one */
} VireoSshAddress;

/* Parses @uri; on bad input says what is wrong with it and what an address looks like. */
gboolean vireo_ssh_parse_uri (const char *uri, VireoSshAddress *address, GError **error);
void vireo_ssh_address_clear (VireoSshAddress *address);
/* How the app names the host: "user@host", "host:2222", "host (session)". */
char *vireo_ssh_describe_uri (const char *uri);

/* Runs `ssh … TARGET REMOTE_ARGV…`; *out_fd gets our end of a socketpair joined to the remote command's
 * stdin/stdout (caller owns it).  The GSubprocess is the ssh process; its stderr is a pipe that
 * vireo_ssh_wait_async() reads.  $VIREO_SSH_COMMAND (a command line, as GIT_SSH_COMMAND) replaces "ssh". */
GSubprocess *vireo_ssh_spawn (const char *uri, const char *const *remote_argv, int *out_fd, GError **error);
/* Runs `ssh … -W TO_HOST:TO_PORT TARGET`: *out_fd gets our end of a socketpair joined to a TCP connection
 * the remote host opens to @to_host (as it resolves it: 127.0.0.1 is the remote host itself) port
 * @to_port, one per call.  Otherwise as vireo_ssh_spawn(); the ssh:// path is ignored. */
GSubprocess *vireo_ssh_spawn_forward (const char *uri, const char *to_host, int to_port, int *out_fd,
                                      GError **error);

/* Waits for @ssh (from vireo_ssh_spawn or vireo_ssh_spawn_forward) to end, reading what it said on stderr
 * meanwhile.  Fails when it ended with a failure, with ssh's reason made readable ("Host key verification
 * failed", "Permission denied (publickey)", "the remote host has no systemd-stdio-bridge", "the remote host
 * could not connect to 127.0.0.1:5900: Connection refused"). */
void vireo_ssh_wait_async (GSubprocess *ssh, GCancellable *cancellable, GAsyncReadyCallback callback,
                           gpointer data);
gboolean vireo_ssh_wait_finish (GSubprocess *ssh, GAsyncResult *result, GError **error);

/* The sentence for what ssh wrote on stderr before it ended with @wait_status (as from waitpid); NULL when
 * it ended well and said nothing that matters.  @what is the remote command, or a forward's destination
 * (HOST:PORT).  Exposed for the tests. */
char *vireo_ssh_explain_failure (const char *stderr_text, int wait_status, const char *what);

/* ---- ssh's questions ---- */

typedef enum
{
  VIREO_SSH_PROMPT_CONFIRM, /* a yes/no question: an unknown host key, with its fingerprint */
  VIREO_SSH_PROMPT_SECRET,  /* a passphrase or password */
} VireoSshPromptKind;

/* Shows @prompt (ssh's text) and later calls vireo_ssh_prompt_answer (@request, answer or NULL to refuse). */
typedef void (*VireoSshPromptFunc) (VireoSshPromptKind kind, const char *prompt, gpointer request,
                                    gpointer data);

/* Installs the app's prompt: from then on ssh runs with SSH_ASKPASS set to @askpass_program (the vireo
 * binary, which turns into a prompt client when VIREO_ASKPASS_SOCKET is set) and SSH_ASKPASS_REQUIRE=force,
 * and asks its questions through a socket this process listens on.  Without it ssh cannot ask and fails.
 * With @askpass_program NULL, uninstalls it and removes the socket. */
void vireo_ssh_set_prompt (const char *askpass_program, VireoSshPromptFunc func, gpointer data);
void vireo_ssh_prompt_answer (gpointer request, const char *answer);

/* The prompt client's side, run by main() when $VIREO_ASKPASS_SOCKET is set: sends @prompt to the app,
 * prints the answer for ssh.  Returns the exit status (1: refused). */
int vireo_ssh_askpass_main (const char *prompt);

G_END_DECLS
