/* test-relay.c — vireo-tunnel's relay between stdin/stdout and a machine's socket: large transfers both
 * ways at once arrive whole and in order, and each half-close and a peer's going away reach the other side. */
#include "relay.h"

#include <errno.h>
#include <fcntl.h>
#include <gio/gio.h>
#include <glib-unix.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define LARGE_BYTES (64 * 1024 * 1024)
#define CHUNK_BYTES (48 * 1024 + 7) /* not a divisor of the relay's buffer */

/* The relay in a thread, between a client (its stdin/stdout) and a server (the machine's socket). */
typedef struct
{
  int in, out, socket; /* the relay's ends */
  gboolean ok;
  GError *error;
  GThread *thread;
} Relay;

typedef struct
{
  Relay relay;
  int client_write; /* the client's end of the relay's stdin */
  int client_read;  /* the client's end of the relay's stdout */
  int server;       /* the machine's end of the socket */
} Fixture;

static gpointer
relay_thread (gpointer data)
{
  Relay *relay = data;

  relay->ok = vireo_relay_run (relay->in, relay->out, relay->socket, &relay->error);
  return NULL;
}

/* @data, as a boolean: the relay's stdin and stdout are pipes (as ssh gives them); otherwise one socket. */
static void
fixture_setup (Fixture *f, gconstpointer data)
{
  gboolean pipes = GPOINTER_TO_INT (data);
  int server_pair[2];

  g_assert_no_errno (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, server_pair));
  f->relay.socket = server_pair[0];
  f->server = server_pair[1];
  if (pipes)
    {
      int in_pipe[2], out_pipe[2];

      g_assert_no_errno (pipe2 (in_pipe, O_CLOEXEC));
      g_assert_no_errno (pipe2 (out_pipe, O_CLOEXEC));
      f->relay.in = in_pipe[0];
      f->client_write = in_pipe[1];
      f->relay.out = out_pipe[1];
      f->client_read = out_pipe[0];
    }
  else
    {
      int client_pair[2];

      g_assert_no_errno (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, client_pair));
      f->relay.in = f->relay.out = client_pair[0];
      f->client_write = f->client_read = client_pair[1];
    }
  f->relay.thread = g_thread_new ("relay", relay_thread, &f->relay);
}

/* Waits for the relay's end, which must come (the test's own timeout guards against a hang). */
static void
relay_join (Fixture *f)
{
  g_thread_join (f->relay.thread);
  f->relay.thread = NULL;
  g_assert_no_error (f->relay.error);
  g_assert_true (f->relay.ok);
}

static void
fixture_teardown (Fixture *f, gconstpointer data)
{
  g_assert_null (f->relay.thread);
  close (f->relay.socket);
  if (f->server >= 0)
    close (f->server);
  if (f->relay.in != f->relay.out)
    {
      /* Not the relay's stdout: a pipe, which it closed when the server's side ended. */
      close (f->relay.in);
      if (f->client_write >= 0)
        close (f->client_write);
      close (f->client_read);
    }
  else
    {
      close (f->relay.in);
      close (f->client_read);
    }
}

static void
write_all (int fd, const void *data, gsize length)
{
  const char *p = data;

  while (length > 0)
    {
      ssize_t n = write (fd, p, length);
      if (n < 0 && errno == EINTR)
        continue;
      g_assert_cmpint (n, >, 0);
      p += n;
      length -= (gsize) n;
    }
}

/* Ends @fd's writing: shutdown for a socket, close for a pipe. */
static void
end_writing (int fd, gboolean is_pipe)
{
  if (is_pipe)
    close (fd);
  else
    g_assert_no_errno (shutdown (fd, SHUT_WR));
}

/* What one side sends: LARGE_BYTES of a pattern made from @seed, in odd-sized writes; its SHA-256. */
typedef struct
{
  int fd;
  gboolean is_pipe;
  guint32 seed;
  char *sha256;
} Sender;

static gpointer
send_thread (gpointer data)
{
  Sender *sender = data;
  g_autoptr (GChecksum) checksum = g_checksum_new (G_CHECKSUM_SHA256);
  g_autofree guint64 *chunk = g_malloc (CHUNK_BYTES + 8);
  guint64 state = sender->seed * 0x9e3779b97f4a7c15u;
  gsize sent = 0;

  while (sent < LARGE_BYTES)
    {
      gsize length = MIN (CHUNK_BYTES, LARGE_BYTES - sent);
      for (gsize i = 0; i < (length + 7) / 8; i++)
        {
          /* xorshift64: cheap, and no two chunks alike */
          state ^= state << 13;
          state ^= state >> 7;
          state ^= state << 17;
          chunk[i] = state;
        }
      g_checksum_update (checksum, (const guchar *) chunk, length);
      write_all (sender->fd, chunk, length);
      sent += length;
    }
  end_writing (sender->fd, sender->is_pipe);
  sender->sha256 = g_strdup (g_checksum_get_string (checksum));
  return NULL;
}

/* Reads @fd to its end; returns the SHA-256 of all of it and its length in @length. */
static char *
read_to_end (int fd, gsize *length)
{
  g_autoptr (GChecksum) checksum = g_checksum_new (G_CHECKSUM_SHA256);
  g_autofree char *buffer = g_malloc (100 * 1000);
  ssize_t n;

  *length = 0;
  while ((n = read (fd, buffer, 100 * 1000)) != 0)
    {
      if (n < 0 && errno == EINTR)
        continue;
      g_assert_cmpint (n, >, 0);
      g_checksum_update (checksum, (const guchar *) buffer, n);
      *length += (gsize) n;
    }
  return g_strdup (g_checksum_get_string (checksum));
}

typedef struct
{
  int fd;
  char *sha256;
  gsize length;
} Receiver;

static gpointer
receive_thread (gpointer data)
{
  Receiver *receiver = data;

  receiver->sha256 = read_to_end (receiver->fd, &receiver->length);
  return NULL;
}

static void
test_large_both_ways (Fixture *f, gconstpointer data)
{
  gboolean pipes = GPOINTER_TO_INT (data);
  Sender up = { .fd = f->client_write, .is_pipe = pipes, .seed = 1 };
  Sender down = { .fd = f->server, .is_pipe = FALSE, .seed = 2 };
  Receiver at_server = { .fd = f->server }, at_client = { .fd = f->client_read };
  GThread *threads[4];
  gint64 start = g_get_monotonic_time ();
  double seconds;

  /* Both ways at once: a relay that blocked on one direction would never finish. */
  threads[0] = g_thread_new ("up", send_thread, &up);
  threads[1] = g_thread_new ("down", send_thread, &down);
  threads[2] = g_thread_new ("at-server", receive_thread, &at_server);
  threads[3] = g_thread_new ("at-client", receive_thread, &at_client);
  for (guint i = 0; i < G_N_ELEMENTS (threads); i++)
    g_thread_join (threads[i]);
  relay_join (f);
  seconds = (double) (g_get_monotonic_time () - start) / G_USEC_PER_SEC;

  g_assert_cmpuint (at_server.length, ==, LARGE_BYTES);
  g_assert_cmpuint (at_client.length, ==, LARGE_BYTES);
  g_assert_cmpstr (at_server.sha256, ==, up.sha256);
  g_assert_cmpstr (at_client.sha256, ==, down.sha256);
  g_test_message ("%d MiB each way through %s in %.2f s: %.0f MiB/s each way", LARGE_BYTES >> 20,
                  pipes ? "pipes" : "a socket", seconds, (LARGE_BYTES >> 20) / seconds);
  g_free (up.sha256);
  g_free (down.sha256);
  g_free (at_server.sha256);
  g_free (at_client.sha256);
  if (pipes)
    f->client_write = -1; /* closed by the sender */
}

static void
read_exactly (int fd, const char *expected)
{
  gsize length = strlen (expected);
  g_autofree char *got = g_malloc0 (length + 1);
  gsize have = 0;

  while (have < length)
    {
      ssize_t n = read (fd, got + have, length - have);
      g_assert_cmpint (n, >, 0);
      have += (gsize) n;
    }
  g_assert_cmpstr (got, ==, expected);
}

static void
assert_at_end (int fd)
{
  char byte;
  g_assert_cmpint (read (fd, &byte, 1), ==, 0);
}

/* How fast the relay moves one stream (zeros, no checksum): reported, not judged. */
static void
test_throughput (Fixture *f, gconstpointer data)
{
  gboolean pipes = GPOINTER_TO_INT (data);
  const gsize total = 512 * 1024 * 1024;
  g_autofree char *zeros = g_malloc0 (VIREO_RELAY_BUFFER_SIZE);
  g_autofree char *buffer = g_malloc (VIREO_RELAY_BUFFER_SIZE);
  gint64 start = g_get_monotonic_time ();
  gsize sent = 0, received = 0;
  double seconds;

  /* One thread: write when the relay takes it, read what arrives (poll), like a SPICE client and server. */
  g_unix_set_fd_nonblocking (f->client_write, TRUE, NULL);
  g_unix_set_fd_nonblocking (f->server, TRUE, NULL);
  while (received < total)
    {
      struct pollfd fds[2] = {
        { .fd = sent < total ? f->client_write : -1, .events = POLLOUT },
        { .fd = f->server, .events = POLLIN },
      };
      ssize_t n;

      g_assert_cmpint (poll (fds, 2, -1), >, 0);
      if (fds[0].revents & POLLOUT)
        {
          n = write (f->client_write, zeros, MIN (VIREO_RELAY_BUFFER_SIZE, total - sent));
          if (n > 0)
            sent += (gsize) n;
          if (sent == total)
            end_writing (f->client_write, pipes);
        }
      if (fds[1].revents & POLLIN)
        {
          n = read (f->server, buffer, VIREO_RELAY_BUFFER_SIZE);
          g_assert_cmpint (n, >, 0);
          received += (gsize) n;
        }
    }
  seconds = (double) (g_get_monotonic_time () - start) / G_USEC_PER_SEC;
  g_test_message ("%zu MiB one way through %s in %.2f s: %.0f MiB/s", total >> 20,
                  pipes ? "pipes" : "a socket", seconds, (total >> 20) / seconds);
  g_unix_set_fd_nonblocking (f->server, FALSE, NULL);
  assert_at_end (f->server);
  g_assert_no_errno (shutdown (f->server, SHUT_WR));
  relay_join (f);
  if (pipes)
    f->client_write = -1;
}

/* The client ends its input first: the server sees the end, and still answers. */
static void
test_half_close_client_first (Fixture *f, gconstpointer data)
{
  gboolean pipes = GPOINTER_TO_INT (data);

  write_all (f->client_write, "question", 8);
  end_writing (f->client_write, pipes);
  read_exactly (f->server, "question");
  assert_at_end (f->server);

  write_all (f->server, "answer", 6);
  read_exactly (f->client_read, "answer");
  g_assert_nonnull (f->relay.thread); /* still relaying the server's side */
  g_assert_no_errno (shutdown (f->server, SHUT_WR));
  assert_at_end (f->client_read);
  relay_join (f);
  if (pipes)
    f->client_write = -1;
}

/* The server ends its side first: the client sees the end, and can still send. */
static void
test_half_close_server_first (Fixture *f, gconstpointer data)
{
  gboolean pipes = GPOINTER_TO_INT (data);

  write_all (f->server, "hello", 5);
  g_assert_no_errno (shutdown (f->server, SHUT_WR));
  read_exactly (f->client_read, "hello");
  assert_at_end (f->client_read);

  write_all (f->client_write, "still here", 10);
  read_exactly (f->server, "still here");
  end_writing (f->client_write, pipes);
  assert_at_end (f->server);
  relay_join (f);
  if (pipes)
    f->client_write = -1;
}

/* The machine's side closes altogether (the display server restarts): the relay ends without waiting for
 * the client's input to end, and the client sees the end of the stream. */
static void
test_server_gone (Fixture *f, gconstpointer data)
{
  write_all (f->server, "bye", 3);
  close (f->server);
  f->server = -1;
  read_exactly (f->client_read, "bye");
  assert_at_end (f->client_read);
  relay_join (f);
}

static void
add_test (const char *name, void (*func) (Fixture *, gconstpointer))
{
  for (int pipes = 0; pipes <= 1; pipes++)
    {
      g_autofree char *path = g_strdup_printf ("/relay/%s/%s", pipes ? "pipes" : "socket", name);
      g_test_add (path, Fixture, GINT_TO_POINTER (pipes), fixture_setup, func, fixture_teardown);
    }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  signal (SIGPIPE, SIG_IGN);
  add_test ("large-both-ways", test_large_both_ways);
  add_test ("half-close-client-first", test_half_close_client_first);
  add_test ("half-close-server-first", test_half_close_server_first);
  add_test ("server-gone", test_server_gone);
  add_test ("throughput", test_throughput);
  return g_test_run ();
}
