/* relay.h — copies a byte stream both ways between a pair of local fds (stdin/stdout) and a connected
 * socket, half-closes included, with one bounded buffer per direction: vireo-tunnel's data path. */
#pragma once

#include <glib.h>

/* Each direction's buffer: one read fills at most this much, and a direction whose buffer is full stops
 * reading until its reader takes some (the other direction goes on). */
#define VIREO_RELAY_BUFFER_SIZE (64 * 1024)

/* Relays @in → @socket and @socket → @out until both directions have ended, in a poll(2) loop that sleeps
 * while there is nothing to do.  When @in ends, the socket's write side is shut down once what was read
 * has been delivered; when the socket's peer ends its side, @out is shut down (a socket) or closed (a pipe,
 * which has no half-close).  A peer that goes away entirely ends the direction towards it, and what was
 * still buffered for it is dropped.  @in and @out may be one fd.  The fds are made non-blocking meanwhile
 * and get their flags back at the end.  SIGPIPE must be ignored by the caller.  Returns FALSE with @error
 * only for an unexpected I/O error; a peer going away is the normal end. */
gboolean vireo_relay_run (int in, int out, int socket, GError **error);
