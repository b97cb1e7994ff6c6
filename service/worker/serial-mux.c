/* serial-mux.c — the serial console multiplexer: guest output into a history ring and out to the clients
 * (each at its own pace), client input into the guest with backpressure instead of loss. */
#include "serial-mux.h"

#include <errno.h>
#include <fcntl.h>
#include <gio/gio.h>
#include <glib-unix.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* Room for typed input the guest's pipe could not take yet; while it is full, clients are not read. */
#define INPUT_BACKLOG_MAX 4096
/* The guest side of the output pipe: large enough that the worker's main loop never has to keep up
 * byte for byte with a vCPU (best effort, the kernel may refuse). */
#define OUTPUT_PIPE_SIZE (1024 * 1024)

typedef struct
{
  VireoSerialMux *mux;
  int fd;
  guint32 owner;         /* the user it is for */
  uint64_t sent;         /* position in the guest's output stream up to which this client has it */
  gboolean input_closed; /* the client shut down its writing side */
  GSource *read_source;  /* NULL while input is backed up or after input_closed */
  GSource *hup_source;   /* after input_closed: notices the client going away */
  GSource *write_source; /* only while the client has output it could not take */
} SerialClient;

struct _VireoSerialMux
{
  int output_pipe[2]; /* the guest writes [1], the mux reads [0] */
  int input_pipe[2];  /* the mux writes [1], the guest reads [0] */
  GMainContext *context;
  GSource *output_source;
  GSource *input_source; /* only while the backlog waits for room in the input pipe */

  uint8_t history[VIREO_SERIAL_HISTORY_SIZE];
  uint64_t total; /* bytes the guest wrote; history holds the last MIN (total, size) of them */

  uint8_t backlog[INPUT_BACKLOG_MAX];
  gsize backlog_len;

  GList *clients; /* SerialClient */
};

static void client_update_sources (SerialClient *client);

static GSource *
attach_fd_source (VireoSerialMux *mux, int fd, GIOCondition condition, GUnixFDSourceFunc func, gpointer data)
{
  GSource *source = g_unix_fd_source_new (fd, condition);
  g_source_set_callback (source, G_SOURCE_FUNC (func), data, NULL);
  g_source_attach (source, mux->context);
  return source;
}

static void
clear_source (GSource **source)
{
  if (*source)
    {
      g_source_destroy (*source);
      g_clear_pointer (source, g_source_unref);
    }
}

static void
client_free (SerialClient *client)
{
  clear_source (&client->read_source);
  clear_source (&client->hup_source);
  clear_source (&client->write_source);
  if (client->fd >= 0)
    close (client->fd);
  g_free (client);
}

static void
client_remove (SerialClient *client)
{
  VireoSerialMux *mux = client->mux;
  mux->clients = g_list_remove (mux->clients, client);
  client_free (client);
}

static gboolean client_write_ready (int fd, GIOCondition condition, gpointer data);

/* Sends the client as much of the output it has not seen as it takes without blocking.  Returns FALSE
 * when the client is gone (and was removed). */
static gboolean
client_push (SerialClient *client)
{
  VireoSerialMux *mux = client->mux;
  uint64_t pending = mux->total - client->sent;

  if (pending > VIREO_SERIAL_HISTORY_SIZE)
    {
      /* It fell further behind than the history reaches: it skips to the oldest output still kept. */
      client->sent = mux->total - VIREO_SERIAL_HISTORY_SIZE;
      pending = VIREO_SERIAL_HISTORY_SIZE;
    }

  while (pending > 0)
    {
      gsize offset = client->sent % VIREO_SERIAL_HISTORY_SIZE;
      gsize chunk = MIN (pending, VIREO_SERIAL_HISTORY_SIZE - offset);
      ssize_t n = send (client->fd, mux->history + offset, chunk, MSG_DONTWAIT | MSG_NOSIGNAL);

      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
        break;
      if (n <= 0)
        {
          g_debug ("serial: a client went away: %s", n < 0 ? g_strerror (errno) : "end of stream");
          client_remove (client);
          return FALSE;
        }
      client->sent += (uint64_t) n;
      pending -= (uint64_t) n;
    }

  if (pending > 0 && client->write_source == NULL)
    client->write_source = attach_fd_source (mux, client->fd, G_IO_OUT, client_write_ready, client);
  else if (pending == 0)
    clear_source (&client->write_source);
  return TRUE;
}

static gboolean
client_write_ready (int fd, GIOCondition condition, gpointer data)
{
  SerialClient *client = data;

  /* client_push() owns the source from here: it keeps it while output is pending and drops it after. */
  if (client_push (client) && client->write_source == NULL)
    return G_SOURCE_REMOVE;
  return G_SOURCE_CONTINUE;
}

static void
push_all (VireoSerialMux *mux)
{
  for (GList *l = mux->clients; l != NULL;)
    {
      SerialClient *client = l->data;
      l = l->next; /* client_push() may remove it */
      client_push (client);
    }
}

/* Reads everything the guest has written so far into the history.  Returns FALSE when the pipe failed. */
static gboolean
drain_output (VireoSerialMux *mux)
{
  for (;;)
    {
      gsize offset = mux->total % VIREO_SERIAL_HISTORY_SIZE;
      ssize_t n = read (mux->output_pipe[0], mux->history + offset, VIREO_SERIAL_HISTORY_SIZE - offset);

      if (n > 0)
        {
          mux->total += (uint64_t) n;
          continue;
        }
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
        return TRUE;
      /* The mux holds the writing end itself, so end of file or an error means something is badly off. */
      g_warning ("serial: reading the guest's output failed: %s", n < 0 ? g_strerror (errno) : "end of file");
      return FALSE;
    }
}

static gboolean
guest_output_ready (int fd, GIOCondition condition, gpointer data)
{
  VireoSerialMux *mux = data;
  gboolean ok = drain_output (mux);

  push_all (mux);
  if (!ok)
    {
      g_clear_pointer (&mux->output_source, g_source_unref);
      return G_SOURCE_REMOVE;
    }
  return G_SOURCE_CONTINUE;
}

/* Writes the typed backlog into the guest's input pipe, as far as it has room. */
static void
flush_backlog (VireoSerialMux *mux)
{
  gsize done = 0;

  while (done < mux->backlog_len)
    {
      ssize_t n = write (mux->input_pipe[1], mux->backlog + done, mux->backlog_len - done);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        {
          if (errno != EAGAIN && errno != EWOULDBLOCK)
            {
              /* Nothing can be typed into the guest any more; keep its output flowing regardless. */
              g_warning ("serial: writing the guest's input failed: %s", g_strerror (errno));
              done = mux->backlog_len;
            }
          break;
        }
      done += (gsize) n;
    }
  memmove (mux->backlog, mux->backlog + done, mux->backlog_len - done);
  mux->backlog_len -= done;
}

static gboolean guest_input_ready (int fd, GIOCondition condition, gpointer data);

/* Keeps the input side consistent after the backlog changed: wait for room in the pipe while there is a
 * backlog, and read the clients only while there is room in the backlog. */
static void
update_input_flow (VireoSerialMux *mux)
{
  if (mux->backlog_len > 0 && mux->input_source == NULL)
    mux->input_source = attach_fd_source (mux, mux->input_pipe[1], G_IO_OUT, guest_input_ready, mux);
  else if (mux->backlog_len == 0)
    clear_source (&mux->input_source);
  for (GList *l = mux->clients; l != NULL; l = l->next)
    client_update_sources (l->data);
}

static gboolean
guest_input_ready (int fd, GIOCondition condition, gpointer data)
{
  VireoSerialMux *mux = data;

  flush_backlog (mux);
  if (mux->backlog_len == 0)
    {
      g_clear_pointer (&mux->input_source, g_source_unref);
      update_input_flow (mux);
      return G_SOURCE_REMOVE;
    }
  return G_SOURCE_CONTINUE;
}

static gboolean
client_hup (int fd, GIOCondition condition, gpointer data)
{
  SerialClient *client = data;

  g_debug ("serial: a client hung up");
  g_clear_pointer (&client->hup_source, g_source_unref);
  client_remove (client);
  return G_SOURCE_REMOVE;
}

static gboolean
client_read_ready (int fd, GIOCondition condition, gpointer data)
{
  SerialClient *client = data;
  VireoSerialMux *mux = client->mux;
  gsize room = INPUT_BACKLOG_MAX - mux->backlog_len;
  ssize_t n;

  do
    n = recv (client->fd, mux->backlog + mux->backlog_len, room, MSG_DONTWAIT);
  while (n < 0 && errno == EINTR);

  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
    return G_SOURCE_CONTINUE;
  if (n < 0 || (n == 0 && (condition & (G_IO_HUP | G_IO_ERR))))
    {
      /* Gone altogether. */
      g_clear_pointer (&client->read_source, g_source_unref);
      client_remove (client);
      return G_SOURCE_REMOVE;
    }
  if (n == 0)
    {
      /* It only shut down its writing side (e.g. a script whose input ended): keep sending it output. */
      g_clear_pointer (&client->read_source, g_source_unref);
      client->input_closed = TRUE;
      client_update_sources (client);
      return G_SOURCE_REMOVE;
    }

  mux->backlog_len += (gsize) n;
  flush_backlog (mux);
  /* The source stays in place unless the backlog is now full, which update_input_flow() decides. */
  update_input_flow (mux);
  return client->read_source ? G_SOURCE_CONTINUE : G_SOURCE_REMOVE;
}

static void
client_update_sources (SerialClient *client)
{
  VireoSerialMux *mux = client->mux;
  gboolean want_read = !client->input_closed && mux->backlog_len < INPUT_BACKLOG_MAX;

  if (want_read && client->read_source == NULL)
    client->read_source = attach_fd_source (mux, client->fd, G_IO_IN | G_IO_HUP | G_IO_ERR, client_read_ready,
                                            client);
  else if (!want_read && client->read_source)
    {
      /* Called from inside client_read_ready() too: destroying a source there is fine, and it then
       * returns G_SOURCE_REMOVE because read_source is NULL. */
      g_source_destroy (client->read_source);
      g_clear_pointer (&client->read_source, g_source_unref);
    }

  /* Without a read source, a client that closed its end altogether still has to be noticed. */
  if (client->input_closed && client->hup_source == NULL)
    client->hup_source = attach_fd_source (mux, client->fd, G_IO_HUP | G_IO_ERR, client_hup, client);
}

static gboolean
set_nonblocking (int fd, GError **error)
{
  if (!g_unix_set_fd_nonblocking (fd, TRUE, error))
    {
      g_prefix_error (error, "cannot set up the serial console: ");
      return FALSE;
    }
  return TRUE;
}

VireoSerialMux *
vireo_serial_mux_new (GError **error)
{
  g_autoptr (VireoSerialMux) mux = g_new0 (VireoSerialMux, 1);

  mux->output_pipe[0] = mux->output_pipe[1] = -1;
  mux->input_pipe[0] = mux->input_pipe[1] = -1;
  mux->context = g_main_context_ref_thread_default ();

  if (pipe2 (mux->output_pipe, O_CLOEXEC) < 0 || pipe2 (mux->input_pipe, O_CLOEXEC) < 0)
    {
      int saved = errno;
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved),
                   "cannot create the serial console's pipes: %s", g_strerror (saved));
      return NULL;
    }
  /* Both ends of the output pipe and the mux's end of the input pipe never block; the guest's input end
   * is read by the core's serial thread, which polls it. */
  if (!set_nonblocking (mux->output_pipe[0], error) || !set_nonblocking (mux->output_pipe[1], error)
      || !set_nonblocking (mux->input_pipe[1], error))
    return NULL;
  if (fcntl (mux->output_pipe[1], F_SETPIPE_SZ, OUTPUT_PIPE_SIZE) < 0)
    g_debug ("serial: cannot enlarge the output pipe: %s", g_strerror (errno));

  mux->output_source = attach_fd_source (mux, mux->output_pipe[0], G_IO_IN, guest_output_ready, mux);
  return g_steal_pointer (&mux);
}

void
vireo_serial_mux_free (VireoSerialMux *mux)
{
  if (mux == NULL)
    return;
  g_list_free_full (g_steal_pointer (&mux->clients), (GDestroyNotify) client_free);
  clear_source (&mux->output_source);
  clear_source (&mux->input_source);
  for (int i = 0; i < 2; i++)
    {
      if (mux->output_pipe[i] >= 0)
        close (mux->output_pipe[i]);
      if (mux->input_pipe[i] >= 0)
        close (mux->input_pipe[i]);
    }
  g_main_context_unref (mux->context);
  g_free (mux);
}

int
vireo_serial_mux_get_guest_input_fd (VireoSerialMux *mux)
{
  return mux->input_pipe[0];
}

int
vireo_serial_mux_get_guest_output_fd (VireoSerialMux *mux)
{
  return mux->output_pipe[1];
}

int
vireo_serial_mux_add_client (VireoSerialMux *mux, guint32 owner, GError **error)
{
  SerialClient *client;
  unsigned owned = 0;
  int pair[2];

  for (GList *l = mux->clients; l; l = l->next)
    owned += ((SerialClient *) l->data)->owner == owner;
  if (owned >= VIREO_SERIAL_CLIENTS_PER_OWNER)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_TOO_MANY_OPEN_FILES,
                   "you have %d serial consoles of this machine open already, the most one user may; close "
                   "one of them first",
                   VIREO_SERIAL_CLIENTS_PER_OWNER);
      return -1;
    }

  if (g_list_length (mux->clients) >= VIREO_SERIAL_CLIENTS_MAX)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_TOO_MANY_OPEN_FILES,
                   "the serial console has %d clients already, the most it serves at once; close one of "
                   "them first",
                   VIREO_SERIAL_CLIENTS_MAX);
      return -1;
    }
  if (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) < 0)
    {
      int saved = errno;
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved),
                   "cannot create a serial console connection: %s", g_strerror (saved));
      return -1;
    }
  if (!set_nonblocking (pair[0], error))
    {
      close (pair[0]);
      close (pair[1]);
      return -1;
    }

  /* Output the guest wrote but the mux has not read yet belongs to the history the client gets. */
  drain_output (mux);

  client = g_new0 (SerialClient, 1);
  client->mux = mux;
  client->fd = pair[0];
  client->owner = owner;
  client->sent = mux->total > VIREO_SERIAL_HISTORY_SIZE ? mux->total - VIREO_SERIAL_HISTORY_SIZE : 0;
  mux->clients = g_list_append (mux->clients, client);
  client_update_sources (client);
  /* A socket buffer holds the whole history, so this normally sends it at once. */
  client_push (client);
  return pair[1];
}

unsigned
vireo_serial_mux_get_n_clients (VireoSerialMux *mux)
{
  return g_list_length (mux->clients);
}

void
vireo_serial_mux_flush (VireoSerialMux *mux)
{
  drain_output (mux);
  push_all (mux);
}

uint64_t
vireo_serial_mux_get_output_total (VireoSerialMux *mux)
{
  return mux->total;
}
