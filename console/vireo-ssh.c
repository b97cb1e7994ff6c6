/* vireo-ssh.c — reaching another Vireo host over ssh: parses ssh:// addresses, runs ssh with a socketpair
 * for the remote command's stdin/stdout or a TCP connection from the remote host (-W), explains why ssh
 * ended, and carries ssh's questions (SSH_ASKPASS) to the app's prompt through a socket only this user can
 * reach. */
#include "vireo-ssh.h"

#include <errno.h>
#include <glib/gi18n.h>
#include <glib/gstdio.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#define ASKPASS_SOCKET_VARIABLE "VIREO_ASKPASS_SOCKET"
/* A prompt or an answer longer than this is not from ssh. */
#define ASKPASS_MAX_BYTES 65536

/* ---- addresses ---- */

static const char example_addresses[] = "ssh://host, ssh://user@host:2222, ssh://host/session";

static gboolean
invalid_address (GError **error, const char *uri, const char *why)
{
  g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT, _ ("“%s” is not a host address: %s (e.g. %s)"),
               uri, why, example_addresses);
  return FALSE;
}

gboolean
vireo_ssh_parse_uri (const char *uri, VireoSshAddress *address, GError **error)
{
  g_autoptr (GUri) parsed = NULL;
  const char *path;

  memset (address, 0, sizeof *address);
  if (!uri || !*uri)
    return invalid_address (error, "", _ ("it is empty"));
  if (!g_str_has_prefix (uri, "ssh://"))
    return invalid_address (error, uri, _ ("it must start with “ssh://”"));
  parsed = g_uri_parse (uri, G_URI_FLAGS_HAS_PASSWORD, NULL);
  if (!parsed)
    return invalid_address (error, uri, _ ("it cannot be read as an address"));
  if (!g_uri_get_host (parsed) || !*g_uri_get_host (parsed))
    return invalid_address (error, uri, _ ("it names no host"));
  if (g_uri_get_password (parsed))
    return invalid_address (error, uri, _ ("a password cannot be part of it; ssh asks for one when needed"));
  if (g_uri_get_query (parsed) || g_uri_get_fragment (parsed))
    return invalid_address (error, uri, _ ("it cannot have a “?” or “#” part"));
  /* ssh would take a name that starts with "-" for an option. */
  if (g_uri_get_host (parsed)[0] == '-' || (g_uri_get_user (parsed) && g_uri_get_user (parsed)[0] == '-'))
    return invalid_address (error, uri, _ ("a host or user name cannot start with “-”"));
  if (g_uri_get_user (parsed) && !*g_uri_get_user (parsed))
    return invalid_address (error, uri, _ ("the user name before “@” is empty"));
  path = g_uri_get_path (parsed);
  if (g_strcmp0 (path, "/session") != 0 && *path && g_strcmp0 (path, "/") != 0
      && g_strcmp0 (path, "/system") != 0)
    return invalid_address (error, uri, _ ("the only paths are “/session” and none (the system service)"));

  address->user = g_strdup (g_uri_get_user (parsed));
  address->host = g_strdup (g_uri_get_host (parsed));
  address->port = MAX (g_uri_get_port (parsed), 0);
  address->session = g_str_equal (path, "/session");
  return TRUE;
}

void
vireo_ssh_address_clear (VireoSshAddress *address)
{
  g_clear_pointer (&address->user, g_free);
  g_clear_pointer (&address->host, g_free);
}

char *
vireo_ssh_describe_uri (const char *uri)
{
  VireoSshAddress address;
  GString *name;

  if (!vireo_ssh_parse_uri (uri, &address, NULL))
    return g_strdup (uri);
  name = g_string_new (NULL);
  if (address.user)
    g_string_append_printf (name, "%s@", address.user);
  g_string_append (name, address.host);
  if (address.port)
    g_string_append_printf (name, ":%d", address.port);
  if (address.session)
    /* Translators: a remote host whose session service (not the system one) is meant. */
    g_string_append (name, _ (" (session)"));
  vireo_ssh_address_clear (&address);
  return g_string_free (name, FALSE);
}

/* ---- the prompt (SSH_ASKPASS) ---- */

static struct
{
  char *askpass_program;
  VireoSshPromptFunc func;
  gpointer data;
  GSocketService *service;
  char *dir;
  char *socket_path;
} prompt;

typedef struct
{
  GSocketConnection *connection;
  GByteArray *received;
} PromptRequest;

static void
prompt_request_free (PromptRequest *request)
{
  g_clear_object (&request->connection);
  g_clear_pointer (&request->received, g_byte_array_unref);
  g_free (request);
}

static void
on_answer_written (GObject *source, GAsyncResult *result, gpointer data)
{
  PromptRequest *request = data;

  g_output_stream_write_all_finish (G_OUTPUT_STREAM (source), result, NULL, NULL);
  g_io_stream_close (G_IO_STREAM (request->connection), NULL, NULL);
  prompt_request_free (request);
}

void
vireo_ssh_prompt_answer (gpointer request_pointer, const char *answer)
{
  PromptRequest *request = request_pointer;
  GOutputStream *out = g_io_stream_get_output_stream (G_IO_STREAM (request->connection));
  /* "y" and the answer, or "n": refused. */
  g_autofree char *reply = answer ? g_strconcat ("y", answer, NULL) : g_strdup ("n");

  g_output_stream_write_all_async (out, reply, strlen (reply), G_PRIORITY_DEFAULT, NULL, on_answer_written,
                                   request);
  /* The stream copies nothing: keep the reply alive with the request. */
  g_object_set_data_full (G_OBJECT (request->connection), "vireo-reply", g_steal_pointer (&reply), g_free);
}

static void read_prompt (PromptRequest *request);

static void
on_prompt_read (GObject *source, GAsyncResult *result, gpointer data)
{
  PromptRequest *request = data;
  g_autoptr (GBytes) bytes = g_input_stream_read_bytes_finish (G_INPUT_STREAM (source), result, NULL);
  g_autofree char *text = NULL;
  VireoSshPromptKind kind;

  if (!bytes || request->received->len + g_bytes_get_size (bytes) > ASKPASS_MAX_BYTES)
    {
      prompt_request_free (request);
      return;
    }
  if (g_bytes_get_size (bytes) > 0)
    {
      g_byte_array_append (request->received, g_bytes_get_data (bytes, NULL), g_bytes_get_size (bytes));
      read_prompt (request);
      return;
    }
  /* The whole prompt: its kind ('c' or 's'), a newline, ssh's text. */
  if (request->received->len < 2 || request->received->data[1] != '\n')
    {
      prompt_request_free (request);
      return;
    }
  kind = request->received->data[0] == 'c' ? VIREO_SSH_PROMPT_CONFIRM : VIREO_SSH_PROMPT_SECRET;
  text = g_utf8_make_valid ((const char *) request->received->data + 2, request->received->len - 2);
  if (prompt.func)
    prompt.func (kind, g_strstrip (text), request, prompt.data);
  else
    vireo_ssh_prompt_answer (request, NULL);
}

static void
read_prompt (PromptRequest *request)
{
  GInputStream *in = g_io_stream_get_input_stream (G_IO_STREAM (request->connection));

  g_input_stream_read_bytes_async (in, 4096, G_PRIORITY_DEFAULT, NULL, on_prompt_read, request);
}

static gboolean
on_prompt_incoming (GSocketService *service, GSocketConnection *connection, GObject *source, gpointer data)
{
  PromptRequest *request = g_new0 (PromptRequest, 1);

  request->connection = g_object_ref (connection);
  request->received = g_byte_array_new ();
  read_prompt (request);
  return TRUE;
}

static gboolean
ensure_prompt_socket (GError **error)
{
  g_autoptr (GSocketAddress) address = NULL;

  if (prompt.service)
    return TRUE;
  /* A folder only we can enter: whoever reaches the socket could answer for us. */
  prompt.dir = g_dir_make_tmp ("vireo-askpass-XXXXXX", error);
  if (!prompt.dir)
    return FALSE;
  prompt.socket_path = g_build_filename (prompt.dir, "socket", NULL);
  address = g_unix_socket_address_new (prompt.socket_path);
  prompt.service = g_socket_service_new ();
  if (!g_socket_listener_add_address (G_SOCKET_LISTENER (prompt.service), address, G_SOCKET_TYPE_STREAM,
                                      G_SOCKET_PROTOCOL_DEFAULT, NULL, NULL, error))
    {
      g_clear_object (&prompt.service);
      g_rmdir (prompt.dir);
      g_clear_pointer (&prompt.dir, g_free);
      g_clear_pointer (&prompt.socket_path, g_free);
      return FALSE;
    }
  g_signal_connect (prompt.service, "incoming", G_CALLBACK (on_prompt_incoming), NULL);
  g_socket_service_start (prompt.service);
  return TRUE;
}

void
vireo_ssh_set_prompt (const char *askpass_program, VireoSshPromptFunc func, gpointer data)
{
  g_free (prompt.askpass_program);
  prompt.askpass_program = g_strdup (askpass_program);
  prompt.func = func;
  prompt.data = data;
  if (askpass_program || !prompt.service)
    return;
  /* Uninstalled: the socket and its folder go. */
  g_socket_service_stop (prompt.service);
  g_socket_listener_close (G_SOCKET_LISTENER (prompt.service));
  g_clear_object (&prompt.service);
  g_unlink (prompt.socket_path);
  g_rmdir (prompt.dir);
  g_clear_pointer (&prompt.dir, g_free);
  g_clear_pointer (&prompt.socket_path, g_free);
}

int
vireo_ssh_askpass_main (const char *text)
{
  const char *path = g_getenv (ASKPASS_SOCKET_VARIABLE);
  const char *kind_variable = g_getenv ("SSH_ASKPASS_PROMPT");
  gboolean confirm = g_strcmp0 (kind_variable, "confirm") == 0 || (text && strstr (text, "(yes/no"));
  struct sockaddr_un address = { .sun_family = AF_UNIX };
  g_autoptr (GString) reply = g_string_new (NULL);
  g_autofree char *request = NULL;
  char buffer[4096];
  ssize_t n;
  int fd;

  if (!path || strlen (path) >= sizeof address.sun_path)
    return 1;
  strcpy (address.sun_path, path);
  fd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0 || connect (fd, (struct sockaddr *) &address, sizeof address) < 0)
    {
      g_printerr ("vireo: cannot reach the app to ask “%s”: %s\n", text ? text : "", g_strerror (errno));
      return 1;
    }
  request = g_strdup_printf ("%c\n%s", confirm ? 'c' : 's', text ? text : "");
  for (gsize done = 0; done < strlen (request); done += n)
    {
      n = write (fd, request + done, strlen (request) - done);
      if (n < 0 && errno == EINTR)
        n = 0;
      else if (n < 0)
        return 1;
    }
  shutdown (fd, SHUT_WR);
  while ((n = read (fd, buffer, sizeof buffer)) != 0 && reply->len < ASKPASS_MAX_BYTES)
    {
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        return 1;
      g_string_append_len (reply, buffer, n);
    }
  close (fd);
  if (reply->len < 1 || reply->str[0] != 'y')
    return 1;
  printf ("%s\n", reply->str + 1);
  return 0;
}

/* ---- running ssh ---- */

static char **
ssh_command (GError **error)
{
  const char *command = g_getenv ("VIREO_SSH_COMMAND");
  char **argv = NULL;

  if (!command || !*command)
    {
      argv = g_new0 (char *, 2);
      argv[0] = g_strdup ("ssh");
      return argv;
    }
  if (!g_shell_parse_argv (command, NULL, &argv, error))
    {
      g_prefix_error (error, _ ("VIREO_SSH_COMMAND cannot be read: "));
      return NULL;
    }
  return argv;
}

static void
child_setup (gpointer data)
{
  /* No controlling terminal: ssh must ask through SSH_ASKPASS, never on the terminal the app started in. */
  setsid ();
}

/* `ssh <options> [-p PORT] [-l USER]` for @uri, the options every ssh of ours runs with; the caller adds what
 * ssh is for and "-- HOST".  *host gets the host name.  @log_level: ssh's LogLevel. */
static GPtrArray *
ssh_argv_new (const char *uri, const char *log_level, char **host, GError **error)
{
  VireoSshAddress address;
  g_auto (GStrv) command = NULL;
  GPtrArray *argv;

  if (!vireo_ssh_parse_uri (uri, &address, error))
    return NULL;
  command = ssh_command (error);
  if (!command)
    {
      vireo_ssh_address_clear (&address);
      return NULL;
    }
  argv = g_ptr_array_new_with_free_func (g_free);
  for (char **word = command; *word; word++)
    g_ptr_array_add (argv, g_strdup (*word));
  /* No terminal, no X11 or agent forwarding; keep-alives notice a dead link within a minute. */
  for (const char *const *option = (const char *const[]){ "-T", "-x", "-a", "-o", "ServerAliveInterval=15",
                                                          "-o", "ServerAliveCountMax=3", NULL };
       *option; option++)
    g_ptr_array_add (argv, g_strdup (*option));
  g_ptr_array_add (argv, g_strdup ("-o"));
  g_ptr_array_add (argv, g_strdup_printf ("LogLevel=%s", log_level));
  if (address.port)
    {
      g_ptr_array_add (argv, g_strdup ("-p"));
      g_ptr_array_add (argv, g_strdup_printf ("%d", address.port));
    }
  if (address.user)
    {
      g_ptr_array_add (argv, g_strdup ("-l"));
      g_ptr_array_add (argv, g_strdup (address.user));
    }
  *host = g_steal_pointer (&address.host);
  vireo_ssh_address_clear (&address);
  return argv;
}

/* Runs @argv (NULL-terminated) with its stdin and stdout joined to a socketpair whose other end goes to
 * *out_fd, its stderr a pipe for vireo_ssh_wait_async(), and questions going to the app's prompt. */
static GSubprocess *
ssh_launch (GPtrArray *argv, int *out_fd, GError **error)
{
  g_autoptr (GSubprocessLauncher) launcher = NULL;
  GSubprocess *ssh;
  int fds[2];

  if (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) < 0)
    {
      int saved = errno;
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved),
                   _ ("Cannot make a socket pair for ssh: %s"), g_strerror (saved));
      return NULL;
    }
  launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDERR_PIPE);
  g_subprocess_launcher_take_stdin_fd (launcher, dup (fds[1]));
  g_subprocess_launcher_take_stdout_fd (launcher, fds[1]);
  g_subprocess_launcher_set_child_setup (launcher, child_setup, NULL, NULL);
  if (prompt.askpass_program && ensure_prompt_socket (NULL))
    {
      g_subprocess_launcher_setenv (launcher, "SSH_ASKPASS", prompt.askpass_program, TRUE);
      g_subprocess_launcher_setenv (launcher, "SSH_ASKPASS_REQUIRE", "force", TRUE);
      g_subprocess_launcher_setenv (launcher, ASKPASS_SOCKET_VARIABLE, prompt.socket_path, TRUE);
    }
  ssh = g_subprocess_launcher_spawnv (launcher, (const char *const *) argv->pdata, error);
  if (!ssh)
    {
      close (fds[0]);
      g_prefix_error (error, _ ("Cannot run ssh: "));
      return NULL;
    }
  *out_fd = fds[0];
  return ssh;
}

GSubprocess *
vireo_ssh_spawn (const char *uri, const char *const *remote_argv, int *out_fd, GError **error)
{
  g_autoptr (GPtrArray) argv = NULL;
  g_autoptr (GString) remote = g_string_new (NULL);
  g_autofree char *host = NULL;
  GSubprocess *ssh;

  g_return_val_if_fail (remote_argv && remote_argv[0], NULL);
  g_return_val_if_fail (out_fd, NULL);

  /* ssh's informational chatter ("Permanently added …") stays out of the messages we show. */
  argv = ssh_argv_new (uri, "ERROR", &host, error);
  if (!argv)
    return NULL;
  g_ptr_array_add (argv, g_strdup ("--"));
  g_ptr_array_add (argv, g_strdup (host));
  /* ssh hands the remote shell one command line: quote each word. */
  for (const char *const *word = remote_argv; *word; word++)
    {
      g_autofree char *quoted = g_shell_quote (*word);
      g_string_append_printf (remote, "%s%s", remote->len ? " " : "", quoted);
    }
  g_ptr_array_add (argv, g_strdup (remote->str));
  g_ptr_array_add (argv, NULL);
  ssh = ssh_launch (argv, out_fd, error);
  if (ssh)
    g_object_set_data_full (G_OBJECT (ssh), "vireo-what", g_strdup (remote_argv[0]), g_free);
  return ssh;
}

GSubprocess *
vireo_ssh_spawn_forward (const char *uri, const char *to_host, int to_port, int *out_fd, GError **error)
{
  g_autoptr (GPtrArray) argv = NULL;
  g_autofree char *host = NULL;
  g_autofree char *destination = NULL;
  GSubprocess *ssh;

  g_return_val_if_fail (to_host && *to_host, NULL);
  g_return_val_if_fail (to_port > 0 && to_port <= 65535, NULL);
  g_return_val_if_fail (out_fd, NULL);

  /* Why the far side could not connect ("open failed: connect failed: …") is said at INFO. */
  argv = ssh_argv_new (uri, "INFO", &host, error);
  if (!argv)
    return NULL;
  /* An IPv6 address needs brackets to keep its colons apart from the port's. */
  destination = strchr (to_host, ':') ? g_strdup_printf ("[%s]:%d", to_host, to_port)
                                      : g_strdup_printf ("%s:%d", to_host, to_port);
  g_ptr_array_add (argv, g_strdup ("-W"));
  g_ptr_array_add (argv, g_strdup (destination));
  g_ptr_array_add (argv, g_strdup ("--"));
  g_ptr_array_add (argv, g_strdup (host));
  g_ptr_array_add (argv, NULL);
  ssh = ssh_launch (argv, out_fd, error);
  if (ssh)
    g_object_set_data_full (G_OBJECT (ssh), "vireo-what", g_steal_pointer (&destination), g_free);
  return ssh;
}

/* ---- why ssh ended ---- */

static gboolean
line_matters (const char *line)
{
  /* "stdio forwarding failed" follows the line that says why (-W). */
  return *line && !g_str_has_prefix (line, "Warning: Permanently added") && !g_str_has_prefix (line, "@@@")
         && !g_str_has_prefix (line, "Killed by signal") && !g_str_equal (line, "stdio forwarding failed");
}

char *
vireo_ssh_explain_failure (const char *stderr_text, int wait_status, const char *what)
{
  g_auto (GStrv) lines = g_strsplit (stderr_text ? stderr_text : "", "\n", -1);
  const char *last = NULL;
  const char *open_failed;

  for (char **line = lines; *line; line++)
    {
      g_strstrip (g_strdelimit (*line, "\r", ' '));
      if (line_matters (*line))
        last = *line;
    }
  /* A forward the remote sshd could not open: "channel 0: open failed: connect failed: Connection refused",
   * "…: administratively prohibited: open failed". */
  open_failed = last && g_str_has_prefix (last, "channel ") ? strstr (last, ": open failed: ") : NULL;
  if (open_failed)
    {
      const char *reason = open_failed + strlen (": open failed: ");

      if (g_str_has_prefix (reason, "connect failed: "))
        reason += strlen ("connect failed: ");
      if (g_str_has_prefix (reason, "administratively prohibited"))
        return g_strdup_printf (_ ("The remote host’s sshd does not allow forwarding to %s"), what);
      return g_strdup_printf (_ ("The remote host could not connect to %s: %s"), what, reason);
    }
  if (stderr_text && strstr (stderr_text, "REMOTE HOST IDENTIFICATION HAS CHANGED"))
    return g_strdup (_ ("Host key verification failed: the host’s key has changed since it was last seen "
                        "(see ~/.ssh/known_hosts)"));
  if (WIFEXITED (wait_status) && WEXITSTATUS (wait_status) == 127
      && (!last || strstr (last, "not found") || strstr (last, "No such file")))
    {
      /* The shell names what it missed last: "sh: 1: exec: NAME: not found", "bash: line 1: NAME: command
       * not found". */
      g_autofree char *missing = last ? g_strdup (last) : NULL;
      char *end = missing ? strstr (missing, ": command not found") : NULL;
      char *start;

      if (missing && !end)
        end = strstr (missing, ": not found");
      if (end)
        {
          *end = '\0';
          start = g_strrstr (missing, ": ");
          return g_strdup_printf (_ ("The remote host has no “%s”: install it there"),
                                  start ? start + 2 : missing);
        }
      return g_strdup_printf (_ ("The remote host has no “%s”: install it there"), what);
    }
  if (last)
    {
      g_autofree char *sentence = g_strdup (last);
      gsize length = strlen (sentence);

      if (length && sentence[length - 1] == '.')
        sentence[length - 1] = '\0';
      return g_steal_pointer (&sentence);
    }
  if (WIFSIGNALED (wait_status))
    return g_strdup_printf (_ ("ssh ended by signal %d (%s)"), WTERMSIG (wait_status),
                            g_strsignal (WTERMSIG (wait_status)));
  if (WIFEXITED (wait_status) && WEXITSTATUS (wait_status) != 0)
    return g_strdup_printf (_ ("ssh ended with status %d"), WEXITSTATUS (wait_status));
  return NULL;
}

typedef struct
{
  GOutputStream *said; /* GMemoryOutputStream: ssh's stderr */
  char *what;          /* the remote command, or a forward's destination */
} WaitData;

static void
wait_data_free (WaitData *data)
{
  g_clear_object (&data->said);
  g_free (data->what);
  g_free (data);
}

static void
on_ssh_exited (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (GTask) task = user_data;
  GSubprocess *ssh = G_SUBPROCESS (source);
  WaitData *data = g_task_get_task_data (task);
  g_autoptr (GError) error = NULL;
  g_autofree char *text = NULL;
  g_autofree char *reason = NULL;

  if (!g_subprocess_wait_finish (ssh, result, &error))
    {
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }
  text = g_strndup (g_memory_output_stream_get_data (G_MEMORY_OUTPUT_STREAM (data->said)),
                    g_memory_output_stream_get_data_size (G_MEMORY_OUTPUT_STREAM (data->said)));
  if (g_subprocess_get_if_exited (ssh) && g_subprocess_get_exit_status (ssh) == 0)
    {
      g_task_return_boolean (task, TRUE);
      return;
    }
  reason = vireo_ssh_explain_failure (text, g_subprocess_get_status (ssh), data->what);
  g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_FAILED, "%s", reason ? reason : _ ("ssh failed"));
}

static void
on_stderr_read (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (GTask) task = user_data;

  /* A read error only means less to explain with. */
  g_output_stream_splice_finish (G_OUTPUT_STREAM (source), result, NULL);
  g_subprocess_wait_async (g_task_get_source_object (task), g_task_get_cancellable (task), on_ssh_exited,
                           g_object_ref (task));
}

void
vireo_ssh_wait_async (GSubprocess *ssh, GCancellable *cancellable, GAsyncReadyCallback callback,
                      gpointer data)
{
  GTask *task = g_task_new (ssh, cancellable, callback, data);
  WaitData *wait = g_new0 (WaitData, 1);
  const char *what = g_object_get_data (G_OBJECT (ssh), "vireo-what");

  wait->said = g_memory_output_stream_new_resizable ();
  wait->what = g_strdup (what ? what : "ssh");
  g_task_set_task_data (task, wait, (GDestroyNotify) wait_data_free);
  g_output_stream_splice_async (wait->said, g_subprocess_get_stderr_pipe (ssh),
                                G_OUTPUT_STREAM_SPLICE_CLOSE_TARGET, G_PRIORITY_DEFAULT, cancellable,
                                on_stderr_read, task);
}

gboolean
vireo_ssh_wait_finish (GSubprocess *ssh, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, ssh), FALSE);
  return g_task_propagate_boolean (G_TASK (result), error);
}
