/* serial-mux.h — the worker's serial console multiplexer: the guest's COM1 output kept as history and
 * fanned out to every client socket, and the clients' typing fed to the guest. */
#pragma once

#include <glib.h>
#include <stdint.h>

G_BEGIN_DECLS

/* How much of the guest's output a new client gets first, and how far a client may fall behind before it
 * loses the oldest part of what it has not read yet. */
#define VIREO_SERIAL_HISTORY_SIZE (64 * 1024)

typedef struct _VireoSerialMux VireoSerialMux;

/* Creates the two pipes the guest's UART is wired to and watches them on the thread-default main context.
 */
VireoSerialMux *vireo_serial_mux_new (GError **error);
void vireo_serial_mux_free (VireoSerialMux *mux);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (VireoSerialMux, vireo_serial_mux_free)

/* The fds for hv_vm_set_serial(): the guest reads its input from one and writes its output to the other.
 * The mux keeps them for its whole life, so clients stay connected across a reboot of the machine.  The
 * output fd is non-blocking: a worker that falls far behind costs the guest bytes, never a stalled vCPU.
 */
int vireo_serial_mux_get_guest_input_fd (VireoSerialMux *mux);
int vireo_serial_mux_get_guest_output_fd (VireoSerialMux *mux);

/* Connects a new client and returns its end of a stream socket (the caller owns it).  The client first
 * receives the history, then everything the guest writes; what it writes is typed into the guest.  A
 * client that does not read falls behind and loses the oldest output, never slowing the guest or the
 * other clients. */
/* The most clients one machine's serial console serves at once: every client is a socket in the worker,
 * and the worker's descriptors must not run out for its disks, display and vireod. */
#define VIREO_SERIAL_CLIENTS_MAX 16
/* ... and at most this many of them for one owner (a user), so that one user cannot take them all. */
#define VIREO_SERIAL_CLIENTS_PER_OWNER 8

int vireo_serial_mux_add_client (VireoSerialMux *mux, guint32 owner, GError **error);
unsigned vireo_serial_mux_get_n_clients (VireoSerialMux *mux);

/* Moves the output the guest has written so far into the history and to the clients, as far as they
 * can take it without blocking (before the process exits). */
void vireo_serial_mux_flush (VireoSerialMux *mux);

/* Bytes the guest has written since the mux was created. */
uint64_t vireo_serial_mux_get_output_total (VireoSerialMux *mux);

G_END_DECLS
