/* spice.h — the VM's SPICE server (display/spice-*.c): libspice-server on a thread of its own that
 * shows a display (display.h) to SPICE clients and hands their keyboard and tablet input back. */
#pragma once

#include "display.h"
#include "hv.h"

typedef struct _HvSpice HvSpice;

/* What the server shows and where input goes.  Every callback runs on the server's "spice" thread. */
typedef struct
{
  /* The display: hv_display_get_mode() and hv_display_collect_dirty() of the VM's framebuffer.  While
   * most of the screen changes many times a second the server stops calling collect_dirty (with a
   * dirty log, every call costs the guest a write fault per page it then writes) and finds changes
   * by comparing the mode's pixels with what it sent; it calls it again before going back to it. */
  void (*get_mode) (void *opaque, HvDisplayMode *mode);
  unsigned (*collect_dirty) (void *opaque, HvRect *rects, unsigned max_rects);
  /* Input, as hv_vm_input_key(), hv_vm_input_tablet() and hv_vm_input_wheel() take it. */
  void (*key) (void *opaque, uint8_t scancode_fragment);
  void (*tablet) (void *opaque, uint32_t x, uint32_t y, uint32_t buttons);
  void (*wheel) (void *opaque, int32_t steps, uint32_t buttons);
  void *opaque;
  /* Runs first on the server's thread, before spice-server starts: the core's hv_thread_started()
   * for HV_THREAD_DISPLAY (the module does not link the core). */
  void (*thread_started) (void);
} HvSpiceBackend;

/* How often the display is polled for changes: HV_SPICE_FOLLOW_UP_MS after a poll that found some,
 * every HV_SPICE_REFRESH_MS while it changes, every HV_SPICE_IDLE_REFRESH_MS after
 * HV_SPICE_IDLE_AFTER_MS without a change.  Changes in between polls are coalesced. */
#define HV_SPICE_FOLLOW_UP_MS    1
#define HV_SPICE_REFRESH_MS      2
#define HV_SPICE_IDLE_REFRESH_MS 16
#define HV_SPICE_IDLE_AFTER_MS   500

/* Starts a server for @backend.  With @socket_path it also listens there (a unix socket, mode 0600,
 * replacing whatever was at the path) for clients that need no ticket: the file's permissions are the
 * access control.  The path is removed again by hv_spice_free(). */
HvSpice *hv_spice_new (const HvSpiceBackend *backend, const char *socket_path, GError **error);
/* Stops the server, disconnecting its clients; the backend is not called afterwards. */
void hv_spice_free (HvSpice *spice);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (HvSpice, hv_spice_free)

/* Connections open at once, all clients together: a SPICE client uses one per channel (main, display,
 * inputs, cursor, sound, USB: up to about 8), so this serves several viewers, and a caller opening
 * sockets it never uses runs out here instead of exhausting the worker's descriptors. */
#define HV_SPICE_CONNECTIONS_MAX 64

/* A new connection to the server: one end of a socketpair the server already serves, without a ticket.
 * SPICE opens one connection per channel, so a client that got its first one this way asks for another
 * for each channel (spice-client-glib's "open-fd" signal).  The caller owns the fd.  At most
 * HV_SPICE_CONNECTIONS_MAX are open at once (HV_ERROR_INVALID_STATE naming the limit). */
int hv_spice_open_client (HvSpice *spice, GError **error);

/* vm.c: starts the VM's server once its display device exists.  Fails when a SPICE socket was asked for
 * and the VM has no display. */
gboolean hv_vm_start_spice (HvVm *vm, GError **error);
