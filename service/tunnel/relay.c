/* relay.c — vireo-tunnel's data path: a poll(2) loop moving bytes both ways between stdin/stdout and the
 * machine's socket through one 64 KiB buffer per direction, passing each half-close on. */
#include "relay.h"

#include <errno.h>
#include <fcntl.h>
#include <gio/gio.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

/* What poll(2) reports whatever was asked: each ends a direction through the read or write it makes fail. */
#define POLL_ENDED (POLLHUP | POLLERR | POLLNVAL)

typedef struct
{
  int from;
  int to;
  gboolean to_is_socket;
  char *buffer;
  gsize start; /* the first byte not yet written */
  gsize end;   /* the end of what was read */
  gboolean eof;
  gboolean done;
} Direction;

static gboolean
errno_is_peer_gone (int err)
{
  return err == EPIPE || err == ECONNRESET || err == ENOTCONN;
}

static gboolean
set_error (GError **error, const char *what)
{
  int err = errno;

  g_set_error (error, G_IO_ERROR, g_io_error_from_errno (err), "%s: %s", what, g_strerror (err));
  return FALSE;
}

/* Ends the direction's writing side once all it read has gone out. */
static void
finish_if_drained (Direction *d)
{
  if (d->done || !d->eof || d->start < d->end)
    return;
  if (shutdown (d->to, SHUT_WR) < 0 && errno == ENOTSOCK)
    close (d->to);
  d->done = TRUE;
}

/* The peer @d writes to has gone: nothing more can reach it. */
static void
abandon (Direction *d)
{
  d->start = d->end = 0;
  d->eof = TRUE;
  d->done = TRUE;
}

static gboolean
fill (Direction *d, GError **error)
{
  ssize_t n;

  if (d->start == d->end)
    d->start = d->end = 0;
  do
    n = read (d->from, d->buffer + d->end, VIREO_RELAY_BUFFER_SIZE - d->end);
  while (n < 0 && errno == EINTR);
  if (n > 0)
    d->end += (gsize) n;
  else if (n == 0 || errno_is_peer_gone (errno))
    d->eof = TRUE;
  else if (errno != EAGAIN)
    return set_error (error, "Could not read");
  finish_if_drained (d);
  return TRUE;
}

static gboolean
drain (Direction *d, GError **error)
{
  ssize_t n;

  do
    n = d->to_is_socket ? send (d->to, d->buffer + d->start, d->end - d->start, MSG_NOSIGNAL)
                        : write (d->to, d->buffer + d->start, d->end - d->start);
  while (n < 0 && errno == EINTR);
  if (n > 0)
    d->start += (gsize) n;
  else if (n < 0 && errno_is_peer_gone (errno))
    abandon (d);
  else if (n < 0 && errno != EAGAIN)
    return set_error (error, "Could not write");
  if (d->start == d->end)
    d->start = d->end = 0;
  finish_if_drained (d);
  return TRUE;
}

static short
wants_to_read (const Direction *d)
{
  return !d->eof && d->end < VIREO_RELAY_BUFFER_SIZE ? POLLIN : 0;
}

static short
wants_to_write (const Direction *d)
{
  return !d->done && d->start < d->end ? POLLOUT : 0;
}

typedef struct
{
  int fd;
  int flags;
} SavedFlags;

static void
make_non_blocking (SavedFlags *saved, int fd)
{
  saved->fd = fd;
  saved->flags = fcntl (fd, F_GETFL);
  if (saved->flags >= 0)
    fcntl (fd, F_SETFL, saved->flags | O_NONBLOCK);
}

static void
restore_flags (const SavedFlags *saved)
{
  /* @out may have been closed by now; then there is nothing to restore. */
  if (saved->flags >= 0 && fcntl (saved->fd, F_GETFL) >= 0)
    fcntl (saved->fd, F_SETFL, saved->flags);
}

static gboolean
is_socket (int fd)
{
  int type;
  socklen_t length = sizeof type;

  return getsockopt (fd, SOL_SOCKET, SO_TYPE, &type, &length) == 0;
}

gboolean
vireo_relay_run (int in, int out, int socket, GError **error)
{
  g_autofree char *up_buffer = g_malloc (VIREO_RELAY_BUFFER_SIZE);
  g_autofree char *down_buffer = g_malloc (VIREO_RELAY_BUFFER_SIZE);
  Direction up = { .from = in, .to = socket, .to_is_socket = TRUE, .buffer = up_buffer };
  Direction down = { .from = socket, .to = out, .to_is_socket = is_socket (out), .buffer = down_buffer };
  SavedFlags saved[3];
  gboolean ok = TRUE;

  make_non_blocking (&saved[0], in);
  make_non_blocking (&saved[1], out);
  make_non_blocking (&saved[2], socket);

  while (ok && !(up.done && down.done))
    {
      /* in, socket, out; @in and @out may be one fd, so each has its own entry. */
      struct pollfd fds[3] = {
        { .fd = in, .events = wants_to_read (&up) },
        { .fd = socket, .events = wants_to_read (&down) | wants_to_write (&up) },
        { .fd = out, .events = wants_to_write (&down) },
      };

      /* A direction with nothing to do still watches its writing end, so that a peer that goes away
       * (POLL_ENDED) ends it rather than leaving it waiting for input that could never be delivered. */
      for (guint i = 0; i < G_N_ELEMENTS (fds); i++)
        if (fds[i].events == 0)
          fds[i].fd = -1;
      if (!up.done && fds[1].fd < 0 && up.eof == FALSE && down.eof)
        fds[1].fd = socket;
      if (!down.done && fds[2].fd < 0 && down.eof == FALSE && up.eof)
        fds[2].fd = out;

      if (poll (fds, G_N_ELEMENTS (fds), -1) < 0)
        {
          if (errno == EINTR)
            continue;
          ok = set_error (error, "Could not wait for data");
          break;
        }

      /* Every condition reported is acted on (a read, a write, or the end of a direction): nothing is
       * left to make the next poll return at once. */
      if ((fds[0].events & POLLIN) && (fds[0].revents & (POLLIN | POLL_ENDED)))
        ok = fill (&up, error);
      if (ok && (fds[1].events & POLLIN) && (fds[1].revents & (POLLIN | POLL_ENDED)))
        ok = fill (&down, error);
      if (ok && (fds[1].events & POLLOUT) && (fds[1].revents & (POLLOUT | POLL_ENDED)))
        ok = drain (&up, error);
      else if (ok && fds[1].events == 0 && (fds[1].revents & POLL_ENDED))
        abandon (&up);
      if (ok && (fds[2].events & POLLOUT) && (fds[2].revents & (POLLOUT | POLL_ENDED)))
        ok = drain (&down, error);
      else if (ok && fds[2].events == 0 && (fds[2].revents & POLL_ENDED))
        abandon (&down);
    }

  for (guint i = 0; i < G_N_ELEMENTS (saved); i++)
    restore_flags (&saved[i]);
  return ok;
}
