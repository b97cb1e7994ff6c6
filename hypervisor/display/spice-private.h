/* spice-private.h — the server object (HvSpice) shared by the SPICE files: spice-core.c (the event
 * loop), spice-display.c (the display path), spice-input.c (keyboard and tablet) and spice-server.c
 * (the server's thread). */
#pragma once

#include "spice.h"

/* Spelled with its folder: our own spice.h shadows the bare name. */
#include <spice-server/spice.h>

#include <sys/types.h>

/* A copy of a changed rectangle on its way to spice (spice-display.c). */
typedef struct _Update Update;

typedef struct
{
  int fd;    /* the server's end, owned by spice-server */
  ino_t ino; /* which socket it was, as the fd number may be reused once the server closes it */
} SpiceConnection;

struct _HvSpice
{
  HvSpiceBackend backend;
  char *socket_path;
  gboolean socket_bound;
  dev_t socket_dev;
  ino_t socket_ino;

  GMainContext *context;
  GMainLoop *loop;
  GThread *thread;

  /* The thread reports whether the server came up. */
  GMutex setup_lock;
  GCond setup_cond;
  gboolean setup_done;
  GError *setup_error;

  SpiceCoreInterface core;
  SpiceServer *server;
  QXLInstance qxl;
  SpiceKbdInstance keyboard;
  SpiceTabletInstance tablet;

  /* The spice thread's own. */
  GArray *connections; /* SpiceConnection: sockets handed to the server, while they stay open */
  GSource *refresh;
  gint64 last_change; /* monotonic time of the last poll that found the screen changed */
  gboolean have_mode;
  HvDisplayMode mode; /* the mode the primary surface was made for */
  gboolean surface_active;
  uint8_t *surface;    /* the primary surface's memory: spice renders into it */
  gboolean busy;       /* changes are found by comparing with the shadow, not the dirty log */
  gboolean leave_busy; /* the next poll goes back to the dirty log */
  uint8_t *shadow;     /* busy: what has been sent, width * 4 bytes per row */
  gboolean shadow_valid;
  uint32_t busy_phase;  /* which row of each band the next sampling poll compares */
  gint64 window_start;  /* monotonic time the current WINDOW_MS window began */
  uint64_t window_area; /* pixels sent in it */
  uint32_t next_image_id;
  int tablet_width; /* the surface size spice maps client positions to */
  int tablet_height;
  uint32_t pointer_x; /* the last tablet position, in 0..32767 */
  uint32_t pointer_y;

  /* Shared with spice's display worker thread, which runs the QXL callbacks. */
  GMutex queue_lock;
  GQueue queue;              /* Update, waiting for get_command */
  GHashTable *live;          /* every Update spice has not released yet */
  Update *storing;           /* being copied into the shadow: a release does not free it... */
  gboolean storing_released; /* ...but says so here */
};

/* spice-core.c: timers and fd watches on the thread-default context of the thread that runs the
 * server. */
extern const SpiceCoreInterface hv_spice_core_interface;

/* spice-display.c: the QXL device spice draws from. */
extern const QXLInterface hv_spice_qxl_interface;
/* The update queue, before the spice thread starts; and everything the display path holds, once
 * the thread and spice's own worker have ended. */
void hv_spice_display_init (HvSpice *spice);
void hv_spice_display_clear (HvSpice *spice);
/* On the spice thread, once the QXL interface is added and the VM started: shows the display's
 * current mode and starts polling it for changes. */
void hv_spice_display_start (HvSpice *spice);
/* On the spice thread, before spice_server_destroy(): stops polling. */
void hv_spice_display_stop (HvSpice *spice);

/* spice-input.c: the keyboard and tablet spice hands client input to. */
extern const SpiceKbdInterface hv_spice_keyboard_interface;
extern const SpiceTabletInterface hv_spice_tablet_interface;
