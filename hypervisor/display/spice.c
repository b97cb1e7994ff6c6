/* spice.c — the VM's SPICE server: libspice-server on a thread of its own ("spice") running its core
 * interface on a GMainContext, the QXL simple-display path fed from a display (display.h), keyboard and
 * tablet input handed back; and the VM's side of it (hv_vm_set_spice_socket, hv_vm_open_display). */
#include "spice.h"
#include "vm-private.h"

#include <errno.h>
#include <glib-unix.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

/* Spelled with its folder: our own spice.h shadows the bare name. */
#include <spice-server/spice.h>

/* Dirty rectangles taken from the display per refresh; more changes are folded into the last one. */
#define MAX_DIRTY_RECTS 32
/* A larger change is sent as several updates, so that spice can send one while the next is copied. */
#define MAX_UPDATE_BYTES (2u << 20)
/* Far beyond any mode the framebuffer offers; a larger one is taken for garbage and not shown. */
#define MAX_SURFACE_SIDE 16384

/* How changes are found.  Normally from the display's dirty log (collect_dirty): exact, and free
 * while nothing is written.  But each look re-arms the log, and the guest's first write to each
 * 4 KiB page after that faults into the host kernel: for a guest that redraws the whole screen every
 * frame, one fault per page per frame (2025 at 1920x1080), about 8.5 us each on this machine (PVM's
 * shadow paging; measured as 53 frames/s at most with a poll every 4 ms against 700 with the log
 * left alone), so 17 ms of the guest's time per frame: more than a 60 Hz frame has.  So while the
 * guest redraws most of the screen many times a second the log is left alone (its pages stay
 * writable) and changes are found by comparing the framebuffer with a copy of what was sent: "busy".
 * Every WINDOW_MS the area changed in that window picks the way for the next one, with hysteresis. */
#define WINDOW_MS   100
#define BUSY_ENTER  2 /* whole screens' worth of change in a window: leave the log alone */
#define BUSY_LEAVE  1 /* fewer whole screens than this in a window: back to the log */
/* Busy: rows compared together.  A poll of an unchanged screen compares one row per band, a
 * different one each time, and all of them only when one of those differs: so it reads an eighth
 * of the screen, and a change that misses the rows sampled (a few pixels) waits at most BAND_ROWS
 * polls, 16 ms. */
#define BAND_ROWS   8

/* One QXL_DRAW_COPY of a rectangle, with its own copy of the pixels (the guest may change them while
 * spice still reads).  The drawable comes first: the release info spice hands back points at it. */
typedef struct
{
  QXLDrawable drawable;
  QXLImage image;
  QXLCommandExt ext;
  uint8_t pixels[];
} Update;

struct SpiceTimer
{
  GMainContext *context;
  GSource *source;
  SpiceTimerFunc func;
  void *opaque;
};

struct SpiceWatch
{
  GMainContext *context;
  GSource *source;
  int fd;
  SpiceWatchFunc func;
  void *opaque;
};

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
  GSource *refresh;
  gint64 last_change;       /* monotonic time of the last poll that found the screen changed */
  gboolean have_mode;
  HvDisplayMode mode;       /* the mode the primary surface was made for */
  gboolean surface_active;
  uint8_t *surface;         /* the primary surface's memory: spice renders into it */
  gboolean busy;            /* changes are found by comparing with the shadow, not the dirty log */
  gboolean leave_busy;      /* the next poll goes back to the dirty log */
  uint8_t *shadow;          /* busy: what has been sent, width * 4 bytes per row */
  gboolean shadow_valid;
  uint32_t busy_phase;      /* which row of each band the next sampling poll compares */
  gint64 window_start;      /* monotonic time the current WINDOW_MS window began */
  uint64_t window_area;     /* pixels sent in it */
  uint32_t next_image_id;
  int tablet_width;         /* the surface size spice maps client positions to */
  int tablet_height;
  uint32_t pointer_x;       /* the last tablet position, in 0..32767 */
  uint32_t pointer_y;

  /* Shared with spice's display worker thread, which runs the QXL callbacks. */
  GMutex queue_lock;
  GQueue queue;             /* Update, waiting for get_command */
  GHashTable *live;         /* every Update spice has not released yet */
  Update *storing;          /* being copied into the shadow: a release does not free it... */
  gboolean storing_released; /* ...but says so here */
};

static HvSpice *
spice_from_qxl (QXLInstance *qxl)
{
  return (HvSpice *) ((char *) qxl - G_STRUCT_OFFSET (HvSpice, qxl));
}

/* --- the core interface: timers and fd watches on the spice thread's context --- */

/* spice-server calls these from the thread that runs the core, so the thread-default context is the
 * spice thread's own. */

static gboolean
timer_fire (gpointer data)
{
  SpiceTimer *timer = data;

  /* The source being dispatched keeps itself alive; the callback may start or remove the timer. */
  g_clear_pointer (&timer->source, g_source_unref);
  timer->func (timer->opaque);
  return G_SOURCE_REMOVE;
}

static SpiceTimer *
core_timer_add (SpiceTimerFunc func, void *opaque)
{
  SpiceTimer *timer = g_new0 (SpiceTimer, 1);

  timer->context = g_main_context_ref_thread_default ();
  timer->func = func;
  timer->opaque = opaque;
  return timer;
}

static void
core_timer_cancel (SpiceTimer *timer)
{
  if (timer->source)
    {
      g_source_destroy (timer->source);
      g_clear_pointer (&timer->source, g_source_unref);
    }
}

static void
core_timer_start (SpiceTimer *timer, uint32_t ms)
{
  core_timer_cancel (timer);
  timer->source = g_timeout_source_new (ms);
  g_source_set_callback (timer->source, timer_fire, timer, NULL);
  g_source_attach (timer->source, timer->context);
}

static void
core_timer_remove (SpiceTimer *timer)
{
  core_timer_cancel (timer);
  g_main_context_unref (timer->context);
  g_free (timer);
}

static gboolean
watch_fire (int fd, GIOCondition condition, gpointer data)
{
  SpiceWatch *watch = data;
  int events = 0;

  if (condition & (G_IO_IN | G_IO_HUP | G_IO_ERR))
    events |= SPICE_WATCH_EVENT_READ;
  if (condition & (G_IO_OUT | G_IO_ERR))
    events |= SPICE_WATCH_EVENT_WRITE;
  /* Once, with both events: the callback may remove the watch. */
  watch->func (watch->fd, events, watch->opaque);
  return G_SOURCE_CONTINUE;
}

static void
core_watch_update_mask (SpiceWatch *watch, int event_mask)
{
  GIOCondition condition = 0;

  if (watch->source)
    {
      g_source_destroy (watch->source);
      g_clear_pointer (&watch->source, g_source_unref);
    }
  if (event_mask & SPICE_WATCH_EVENT_READ)
    condition |= G_IO_IN | G_IO_HUP | G_IO_ERR;
  if (event_mask & SPICE_WATCH_EVENT_WRITE)
    condition |= G_IO_OUT | G_IO_ERR;
  if (condition == 0)
    return;
  watch->source = g_unix_fd_source_new (watch->fd, condition);
  g_source_set_callback (watch->source, G_SOURCE_FUNC (watch_fire), watch, NULL);
  g_source_attach (watch->source, watch->context);
}

static SpiceWatch *
core_watch_add (int fd, int event_mask, SpiceWatchFunc func, void *opaque)
{
  SpiceWatch *watch = g_new0 (SpiceWatch, 1);

  watch->context = g_main_context_ref_thread_default ();
  watch->fd = fd;
  watch->func = func;
  watch->opaque = opaque;
  core_watch_update_mask (watch, event_mask);
  return watch;
}

static void
core_watch_remove (SpiceWatch *watch)
{
  core_watch_update_mask (watch, 0);
  g_main_context_unref (watch->context);
  g_free (watch);
}

static void
core_channel_event (int event, SpiceChannelEventInfo *info)
{
  /* Connections come and go without the VM noticing; nothing to do (and this may run on spice's worker
   * thread). */
}

/* --- QXL: the display, as a queue of copies of its changed rectangles --- */

/* The queue is only filled while it is empty, so changes pile up in the display (which merges them)
 * rather than here while a slow client catches up. */
static gboolean
queue_is_empty (HvSpice *spice)
{
  gboolean empty;

  g_mutex_lock (&spice->queue_lock);
  empty = g_queue_is_empty (&spice->queue);
  g_mutex_unlock (&spice->queue_lock);
  return empty;
}

/* Drops the updates spice has not taken yet: they were drawn for a surface that is going away. */
static void
queue_drop (HvSpice *spice)
{
  Update *update;

  g_mutex_lock (&spice->queue_lock);
  while ((update = g_queue_pop_head (&spice->queue)))
    g_hash_table_remove (spice->live, update);
  g_mutex_unlock (&spice->queue_lock);
}

static void
qxl_attached_worker (QXLInstance *qxl)
{
}

static void
qxl_set_compression_level (QXLInstance *qxl, int level)
{
}

static void
qxl_set_mm_time (QXLInstance *qxl, uint32_t mm_time)
{
}

static void
qxl_get_init_info (QXLInstance *qxl, QXLDevInitInfo *info)
{
  /* One memory slot covering the whole address space: QXL addresses are our own pointers. */
  memset (info, 0, sizeof *info);
  info->memslot_gen_bits = 8;
  info->memslot_id_bits = 8;
  info->num_memslots = 1;
  info->num_memslots_groups = 1;
  info->internal_groupslot_id = 0;
  info->qxl_ram_size = 16 << 20;
  info->n_surfaces = 1;
}

static int
qxl_get_command (QXLInstance *qxl, QXLCommandExt *ext)
{
  HvSpice *spice = spice_from_qxl (qxl);
  Update *update;

  g_mutex_lock (&spice->queue_lock);
  update = g_queue_pop_head (&spice->queue);
  g_mutex_unlock (&spice->queue_lock);
  if (update == NULL)
    return 0;
  *ext = update->ext;
  return 1;
}

static int
qxl_req_cmd_notification (QXLInstance *qxl)
{
  /* TRUE: nothing queued, the refresh will call spice_qxl_wakeup() when there is. */
  return queue_is_empty (spice_from_qxl (qxl));
}

static void
qxl_release_resource (QXLInstance *qxl, QXLReleaseInfoExt release)
{
  HvSpice *spice = spice_from_qxl (qxl);
  Update *update;

  if (release.info == NULL)
    return;
  update = (Update *) ((char *) release.info - G_STRUCT_OFFSET (Update, drawable));
  g_mutex_lock (&spice->queue_lock);
  if (update == spice->storing)
    {
      g_hash_table_steal (spice->live, update);
      spice->storing_released = TRUE;
    }
  else
    g_hash_table_remove (spice->live, update);
  g_mutex_unlock (&spice->queue_lock);
}

static int
qxl_get_cursor_command (QXLInstance *qxl, QXLCommandExt *ext)
{
  /* No cursor of our own: clients draw theirs (client mouse mode). */
  return 0;
}

static int
qxl_req_cursor_notification (QXLInstance *qxl)
{
  return 1;
}

static void
qxl_notify_update (QXLInstance *qxl, uint32_t update_id)
{
}

static int
qxl_flush_resources (QXLInstance *qxl)
{
  return 0;
}

static void
qxl_async_complete (QXLInstance *qxl, uint64_t cookie)
{
}

static void
qxl_update_area_complete (QXLInstance *qxl, uint32_t surface_id, QXLRect *rects, uint32_t n_rects)
{
}

static void
qxl_set_client_capabilities (QXLInstance *qxl, uint8_t client_present,
                             uint8_t caps[SPICE_CAPABILITIES_SIZE])
{
}

static int
qxl_client_monitors_config (QXLInstance *qxl, VDAgentMonitorsConfig *config)
{
  /* The framebuffer's mode is the guest's to choose: client resize requests are not supported. */
  return 0;
}

G_GNUC_BEGIN_IGNORE_DEPRECATIONS
static const QXLInterface qxl_interface = {
  .base = {
    .type = SPICE_INTERFACE_QXL,
    .description = "vireo framebuffer",
    .major_version = SPICE_INTERFACE_QXL_MAJOR,
    .minor_version = SPICE_INTERFACE_QXL_MINOR,
  },
  .attached_worker = qxl_attached_worker,
  .set_compression_level = qxl_set_compression_level,
  /* Deprecated, but older servers call it unconditionally. */
  .set_mm_time = qxl_set_mm_time,
  .get_init_info = qxl_get_init_info,
  .get_command = qxl_get_command,
  .req_cmd_notification = qxl_req_cmd_notification,
  .release_resource = qxl_release_resource,
  .get_cursor_command = qxl_get_cursor_command,
  .req_cursor_notification = qxl_req_cursor_notification,
  .notify_update = qxl_notify_update,
  .flush_resources = qxl_flush_resources,
  .async_complete = qxl_async_complete,
  .update_area_complete = qxl_update_area_complete,
  .set_client_capabilities = qxl_set_client_capabilities,
  .client_monitors_config = qxl_client_monitors_config,
};
G_GNUC_END_IGNORE_DEPRECATIONS

/* A mode the surface can show: the display's own checks aside, nothing read from it may leave the
 * pixels it describes. */
static gboolean
mode_is_showable (const HvDisplayMode *mode)
{
  return mode->enabled && mode->pixels != NULL && mode->width > 0 && mode->height > 0
         && mode->width <= MAX_SURFACE_SIDE && mode->height <= MAX_SURFACE_SIDE
         && mode->stride >= mode->width * 4;
}

static void
destroy_surface (HvSpice *spice)
{
  queue_drop (spice);
  if (spice->surface_active)
    {
      /* Synchronous: spice's worker is done with the memory when it returns. */
      spice_qxl_destroy_primary_surface (&spice->qxl, 0);
      spice->surface_active = FALSE;
    }
  g_clear_pointer (&spice->surface, g_free);
  /* A new surface starts with the dirty log. */
  spice->busy = FALSE;
  spice->leave_busy = FALSE;
  spice->shadow_valid = FALSE;
  g_clear_pointer (&spice->shadow, g_free);
  spice->window_area = 0;
}

static void
create_surface (HvSpice *spice, const HvDisplayMode *mode)
{
  QXLDevSurfaceCreate create = { 0 };

  spice->surface = g_malloc0 ((gsize) mode->width * mode->height * 4);
  create.width = mode->width;
  create.height = mode->height;
  /* Bottom-up, with the memory starting at the last row: the layout QEMU's simple display uses. */
  create.stride = -(int32_t) (mode->width * 4);
  create.format = SPICE_SURFACE_FMT_32_xRGB;
  create.mouse_mode = 1; /* client mouse mode: clients send absolute positions for the tablet */
  create.mem = (uintptr_t) spice->surface;
  create.group_id = 0;
  spice_qxl_create_primary_surface (&spice->qxl, 0, &create);
  spice->surface_active = TRUE;
}

/* A copy of @rect (inside the mode) as a QXL draw command. */
static Update *
update_new (HvSpice *spice, const HvDisplayMode *mode, const HvRect *rect)
{
  gsize row = (gsize) rect->width * 4;
  /* Only the header is cleared: the pixels are all written below, and clearing 8 MiB for a full
   * screen cost as much as copying it. */
  Update *update = g_malloc (sizeof *update + row * rect->height);
  QXLDrawable *drawable = &update->drawable;
  QXLImage *image = &update->image;
  uint64_t id = (uint64_t) QXL_IMAGE_GROUP_DEVICE | ((uint64_t) ++spice->next_image_id << 32);

  memset (update, 0, sizeof *update);
  for (uint32_t y = 0; y < rect->height; y++)
    memcpy (update->pixels + y * row,
            mode->pixels + (gsize) (rect->y + y) * mode->stride + (gsize) rect->x * 4, row);

  drawable->release_info.id = (uintptr_t) update;
  drawable->surface_id = 0;
  drawable->type = QXL_DRAW_COPY;
  drawable->effect = QXL_EFFECT_OPAQUE;
  drawable->bbox.left = (int32_t) rect->x;
  drawable->bbox.top = (int32_t) rect->y;
  drawable->bbox.right = (int32_t) (rect->x + rect->width);
  drawable->bbox.bottom = (int32_t) (rect->y + rect->height);
  drawable->clip.type = SPICE_CLIP_TYPE_NONE;
  drawable->surfaces_dest[0] = -1;
  drawable->surfaces_dest[1] = -1;
  drawable->surfaces_dest[2] = -1;
  drawable->u.copy.rop_descriptor = SPICE_ROPD_OP_PUT;
  drawable->u.copy.src_bitmap = (uintptr_t) image;
  drawable->u.copy.src_area.right = (int32_t) rect->width;
  drawable->u.copy.src_area.bottom = (int32_t) rect->height;

  image->descriptor.id = id;
  image->descriptor.type = SPICE_IMAGE_TYPE_BITMAP;
  image->descriptor.width = rect->width;
  image->descriptor.height = rect->height;
  image->bitmap.format = SPICE_BITMAP_FMT_32BIT;
  image->bitmap.flags = QXL_BITMAP_DIRECT | QXL_BITMAP_TOP_DOWN;
  image->bitmap.x = rect->width;
  image->bitmap.y = rect->height;
  image->bitmap.stride = (uint32_t) row;
  image->bitmap.data = (uintptr_t) update->pixels;

  update->ext.cmd.type = QXL_CMD_DRAW;
  update->ext.cmd.data = (uintptr_t) drawable;
  update->ext.group_id = 0;
  return update;
}

/* Cuts @rect to the surface; FALSE when nothing is left. */
static gboolean
clip_rect (const HvDisplayMode *mode, HvRect *rect)
{
  if (rect->x >= mode->width || rect->y >= mode->height || rect->width == 0 || rect->height == 0)
    return FALSE;
  rect->width = MIN (rect->width, mode->width - rect->x);
  rect->height = MIN (rect->height, mode->height - rect->y);
  return TRUE;
}

static const uint8_t *
framebuffer_row (const HvDisplayMode *mode, uint32_t y)
{
  return mode->pixels + (gsize) y * mode->stride;
}

static gboolean
row_changed (HvSpice *spice, uint32_t y)
{
  gsize row = (gsize) spice->mode.width * 4;

  return memcmp (framebuffer_row (&spice->mode, y), spice->shadow + y * row, row) != 0;
}

/* Busy: the full-width bands whose pixels differ from the shadow, at most @max_rects (the last one
 * grows to cover the rest), as collect_dirty() reports them.  With @sample only when one sampled
 * row differs; without, every row is compared. */
static unsigned
busy_collect (HvSpice *spice, HvRect *rects, unsigned max_rects, gboolean sample)
{
  const HvDisplayMode *mode = &spice->mode;
  gboolean in_run = FALSE, any = FALSE;
  unsigned n = 0;

  if (!spice->shadow_valid)
    {
      rects[0] = (HvRect){ 0, 0, mode->width, mode->height };
      return 1;
    }
  if (sample)
    {
      uint32_t phase = spice->busy_phase++ % BAND_ROWS;

      for (uint32_t y = phase; y < mode->height && !any; y += BAND_ROWS)
        any = row_changed (spice, y);
      if (!any)
        return 0;
    }
  for (uint32_t top = 0; top < mode->height; top += BAND_ROWS)
    {
      uint32_t bottom = MIN (top + BAND_ROWS, mode->height);
      gboolean changed = FALSE;

      for (uint32_t y = top; y < bottom && !changed; y++)
        changed = row_changed (spice, y);
      if (!changed)
        in_run = FALSE;
      else if (in_run || n == max_rects)
        {
          rects[n - 1].height = bottom - rects[n - 1].y;
          in_run = TRUE;
        }
      else
        {
          rects[n++] = (HvRect){ 0, top, mode->width, bottom - top };
          in_run = TRUE;
        }
    }
  return n;
}

/* The changes since the last poll, from the dirty log or (busy) the shadow; switches between the two
 * at the end of each window. */
static unsigned
collect_changes (HvSpice *spice, HvRect *rects, unsigned max_rects)
{
  uint64_t screen = (uint64_t) spice->mode.width * spice->mode.height;
  gint64 now = g_get_monotonic_time ();
  unsigned n;

  if (now - spice->window_start >= WINDOW_MS * G_TIME_SPAN_MILLISECOND)
    {
      if (!spice->busy && spice->window_area >= BUSY_ENTER * screen)
        {
          spice->busy = TRUE;
          spice->shadow_valid = FALSE;
          if (spice->shadow == NULL)
            spice->shadow = g_malloc (screen * 4);
        }
      else if (spice->busy && spice->window_area < BUSY_LEAVE * screen)
        spice->leave_busy = TRUE;
      spice->window_start = now;
      spice->window_area = 0;
    }

  if (!spice->busy)
    return spice->backend.collect_dirty (spice->backend.opaque, rects, max_rects);
  if (!spice->leave_busy)
    return busy_collect (spice, rects, max_rects, TRUE);
  /* Re-arm the log first and compare after: a write before the re-arm is seen by the comparison, one
   * after it by the log. */
  spice->backend.collect_dirty (spice->backend.opaque, rects, max_rects);
  n = busy_collect (spice, rects, max_rects, FALSE);
  spice->busy = FALSE;
  spice->leave_busy = FALSE;
  return n;
}

/* Busy: what @update sent is now what the client has. */
static void
shadow_store (HvSpice *spice, const Update *update)
{
  const QXLRect *box = &update->drawable.bbox;
  gsize row = (gsize) spice->mode.width * 4;

  for (int32_t y = box->top; y < box->bottom; y++)
    memcpy (spice->shadow + (gsize) y * row, update->pixels + (gsize) (y - box->top) * row, row);
}

typedef enum
{
  POLL_UNCHANGED,
  POLL_SENT,     /* changes were queued for spice */
  POLL_WAITING,  /* spice has not taken the last ones yet: changes wait in the display */
} PollResult;

/* Polls the display: follows mode changes with a new primary surface and queues its changes. */
static PollResult
refresh (HvSpice *spice)
{
  HvRect rects[MAX_DIRTY_RECTS];
  HvDisplayMode mode, after;
  gboolean new_surface = FALSE, sent = FALSE;
  unsigned n_rects;

  spice->backend.get_mode (spice->backend.opaque, &mode);
  if (!spice->have_mode || mode.generation != spice->mode.generation)
    {
      destroy_surface (spice);
      spice->mode = mode;
      spice->have_mode = TRUE;
      if (mode_is_showable (&mode))
        {
          create_surface (spice, &mode);
          new_surface = TRUE;
        }
    }
  if (!spice->surface_active)
    {
      /* Nothing to draw on: what changed meanwhile is shown in full with the next surface. */
      spice->backend.collect_dirty (spice->backend.opaque, rects, MAX_DIRTY_RECTS);
      return POLL_UNCHANGED;
    }
  if (!queue_is_empty (spice))
    return POLL_WAITING;

  n_rects = collect_changes (spice, rects, MAX_DIRTY_RECTS);
  n_rects = MIN (n_rects, MAX_DIRTY_RECTS);
  if (new_surface)
    {
      /* A new surface starts black: draw all of it, whatever the display reports. */
      rects[0] = (HvRect){ 0, 0, mode.width, mode.height };
      n_rects = 1;
    }

  /* Each piece is queued as soon as it is copied, so that spice sends it while the next is copied.
   * The mode may change while the pixels are copied; such a copy is dropped and the next refresh
   * starts over with the new mode. */
  for (unsigned i = 0; i < n_rects; i++)
    {
      uint32_t piece_rows;

      if (!clip_rect (&spice->mode, &rects[i]))
        continue;
      piece_rows = MAX (1u, MAX_UPDATE_BYTES / (rects[i].width * 4u));
      for (uint32_t top = 0; top < rects[i].height; top += piece_rows)
        {
          HvRect piece = { rects[i].x, rects[i].y + top, rects[i].width,
                           MIN (piece_rows, rects[i].height - top) };
          Update *update = update_new (spice, &spice->mode, &piece);

          spice->backend.get_mode (spice->backend.opaque, &after);
          if (after.generation != spice->mode.generation)
            {
              g_free (update);
              return POLL_WAITING;
            }
          g_mutex_lock (&spice->queue_lock);
          g_hash_table_add (spice->live, update);
          g_queue_push_tail (&spice->queue, update);
          spice->storing = spice->busy ? update : NULL;
          g_mutex_unlock (&spice->queue_lock);
          spice_qxl_wakeup (&spice->qxl);
          sent = TRUE;
          spice->window_area += (uint64_t) piece.width * piece.height;

          /* The shadow is filled from the update while spice sends it, not before: that would
           * delay every piece by a second copy.  Meanwhile a release leaves it to us to free. */
          if (spice->busy)
            {
              shadow_store (spice, update);
              g_mutex_lock (&spice->queue_lock);
              spice->storing = NULL;
              if (spice->storing_released)
                g_free (update);
              spice->storing_released = FALSE;
              g_mutex_unlock (&spice->queue_lock);
            }
        }
    }
  /* Busy polls report the whole screen until the shadow holds it. */
  if (spice->busy && sent)
    spice->shadow_valid = TRUE;
  return sent ? POLL_SENT : POLL_UNCHANGED;
}

/* The refresh timer.  HV_SPICE_FOLLOW_UP_MS after a poll that sent something, because the guest may
 * still be drawing that frame; every HV_SPICE_REFRESH_MS while the screen changes, so that a change
 * waits at most that long before it is sent (a 60 Hz guest's frame is seen in time and not merged
 * with the next); every HV_SPICE_IDLE_REFRESH_MS once nothing has changed for
 * HV_SPICE_IDLE_AFTER_MS, so that an idle screen costs few wake-ups.  Between polls changes pile up
 * in the display's dirty log or its pixels, which is the coalescing. */
typedef struct
{
  GSource source;
  HvSpice *spice;
} RefreshSource;

static gboolean
refresh_dispatch (GSource *source, GSourceFunc callback, gpointer data)
{
  HvSpice *spice = ((RefreshSource *) source)->spice;
  gint64 now = g_source_get_time (source);
  gint64 period;

  switch (refresh (spice))
    {
    case POLL_SENT:
      spice->last_change = now;
      period = HV_SPICE_FOLLOW_UP_MS;
      break;
    case POLL_WAITING:
      spice->last_change = now;
      period = HV_SPICE_REFRESH_MS;
      break;
    case POLL_UNCHANGED:
    default:
      period = now - spice->last_change < HV_SPICE_IDLE_AFTER_MS * G_TIME_SPAN_MILLISECOND
                   ? HV_SPICE_REFRESH_MS : HV_SPICE_IDLE_REFRESH_MS;
      break;
    }
  /* From now, not from the last deadline: a poll that ran late is not made up with a burst. */
  g_source_set_ready_time (source, g_get_monotonic_time () + period * G_TIME_SPAN_MILLISECOND);
  return G_SOURCE_CONTINUE;
}

static GSourceFuncs refresh_funcs = {
  .dispatch = refresh_dispatch,
};

/* --- input --- */

static HvSpice *
spice_from_keyboard (SpiceKbdInstance *keyboard)
{
  return (HvSpice *) ((char *) keyboard - G_STRUCT_OFFSET (HvSpice, keyboard));
}

static HvSpice *
spice_from_tablet (SpiceTabletInstance *tablet)
{
  return (HvSpice *) ((char *) tablet - G_STRUCT_OFFSET (HvSpice, tablet));
}

static void
keyboard_push_scan_freg (SpiceKbdInstance *keyboard, uint8_t fragment)
{
  HvSpice *spice = spice_from_keyboard (keyboard);
  spice->backend.key (spice->backend.opaque, fragment);
}

static uint8_t
keyboard_get_leds (SpiceKbdInstance *keyboard)
{
  /* The core does not report the guest's LEDs; spice then syncs the client's lock keys by pressing
   * them, which is what a guest without LED state needs anyway. */
  return 0;
}

static const SpiceKbdInterface keyboard_interface = {
  .base = {
    .type = SPICE_INTERFACE_KEYBOARD,
    .description = "vireo keyboard",
    .major_version = SPICE_INTERFACE_KEYBOARD_MAJOR,
    .minor_version = SPICE_INTERFACE_KEYBOARD_MINOR,
  },
  .push_scan_freg = keyboard_push_scan_freg,
  .get_leds = keyboard_get_leds,
};

/* spice passes buttons as left 1, right 2, middle 4; hv.h wants left 1, middle 2, right 4. */
static uint32_t
buttons_from_spice (uint32_t buttons)
{
  return (buttons & 1) | ((buttons & 4) >> 1) | ((buttons & 2) << 1);
}

/* A surface coordinate (0..size-1) on the tablet's 0..32767 scale. */
static uint32_t
scale_to_tablet (int value, int size)
{
  if (value <= 0 || size <= 1)
    return 0;
  if (value >= size - 1)
    return 32767;
  return (uint32_t) ((uint64_t) value * 32767 / (uint64_t) (size - 1));
}

static void
tablet_set_logical_size (SpiceTabletInstance *tablet, int width, int height)
{
  HvSpice *spice = spice_from_tablet (tablet);
  spice->tablet_width = width;
  spice->tablet_height = height;
}

static void
tablet_position (SpiceTabletInstance *tablet, int x, int y, uint32_t buttons)
{
  HvSpice *spice = spice_from_tablet (tablet);
  int width = spice->tablet_width > 0 ? spice->tablet_width : (int) spice->mode.width;
  int height = spice->tablet_height > 0 ? spice->tablet_height : (int) spice->mode.height;

  spice->pointer_x = scale_to_tablet (x, width);
  spice->pointer_y = scale_to_tablet (y, height);
  spice->backend.tablet (spice->backend.opaque, spice->pointer_x, spice->pointer_y,
                         buttons_from_spice (buttons));
}

static void
tablet_wheel (SpiceTabletInstance *tablet, int motion, uint32_t buttons)
{
  HvSpice *spice = spice_from_tablet (tablet);

  /* spice reports every button press here, with no motion for buttons other than the wheel's. */
  if (motion == 0)
    spice->backend.tablet (spice->backend.opaque, spice->pointer_x, spice->pointer_y,
                           buttons_from_spice (buttons));
  else /* spice counts a notch up as -1; the core, like evdev's REL_WHEEL, as +1 */
    spice->backend.wheel (spice->backend.opaque, -motion, buttons_from_spice (buttons));
}

static void
tablet_buttons (SpiceTabletInstance *tablet, uint32_t buttons)
{
  HvSpice *spice = spice_from_tablet (tablet);
  spice->backend.tablet (spice->backend.opaque, spice->pointer_x, spice->pointer_y,
                         buttons_from_spice (buttons));
}

static const SpiceTabletInterface tablet_interface = {
  .base = {
    .type = SPICE_INTERFACE_TABLET,
    .description = "vireo tablet",
    .major_version = SPICE_INTERFACE_TABLET_MAJOR,
    .minor_version = SPICE_INTERFACE_TABLET_MINOR,
  },
  .set_logical_size = tablet_set_logical_size,
  .position = tablet_position,
  .wheel = tablet_wheel,
  .buttons = tablet_buttons,
};

/* --- the server's thread --- */

/* Remembers the socket spice bound, so that only that file is removed later. */
static gboolean
secure_socket (HvSpice *spice, GError **error)
{
  struct stat st;

  if (chmod (spice->socket_path, 0600) < 0 || stat (spice->socket_path, &st) < 0)
    {
      int saved = errno;
      g_set_error (error, HV_ERROR, HV_ERROR_FAILED, "the SPICE socket %s: %s", spice->socket_path,
                   g_strerror (saved));
      return FALSE;
    }
  spice->socket_bound = TRUE;
  spice->socket_dev = st.st_dev;
  spice->socket_ino = st.st_ino;
  return TRUE;
}

static gboolean
start_server (HvSpice *spice, GError **error)
{
  QXLDevMemSlot slot = { 0 };
  int status;

  spice->core = (SpiceCoreInterface){
    .base = {
      .type = SPICE_INTERFACE_CORE,
      .description = "vireo spice thread",
      .major_version = SPICE_INTERFACE_CORE_MAJOR,
      .minor_version = SPICE_INTERFACE_CORE_MINOR,
    },
    .timer_add = core_timer_add,
    .timer_start = core_timer_start,
    .timer_cancel = core_timer_cancel,
    .timer_remove = core_timer_remove,
    .watch_add = core_watch_add,
    .watch_update_mask = core_watch_update_mask,
    .watch_remove = core_watch_remove,
    .channel_event = core_channel_event,
  };

  spice->server = spice_server_new ();
  /* Connections are handed out by the VM's owner (a socketpair end, or a socket only its user may
   * open), so there is no ticket; and they are local, so pixels go uncompressed and exact. */
  spice_server_set_noauth (spice->server);
  spice_server_set_image_compression (spice->server, SPICE_IMAGE_COMPRESSION_OFF);
  spice_server_set_jpeg_compression (spice->server, SPICE_WAN_COMPRESSION_NEVER);
  spice_server_set_zlib_glz_compression (spice->server, SPICE_WAN_COMPRESSION_NEVER);
  spice_server_set_streaming_video (spice->server, SPICE_STREAM_VIDEO_OFF);
  spice_server_set_agent_mouse (spice->server, 0);
  if (spice->socket_path)
    {
      mode_t old_umask;

      spice_server_set_addr (spice->server, spice->socket_path, SPICE_ADDR_FLAG_UNIX_ONLY);
      /* The socket is created owner-only from the start, not chmod-ed after others could connect. */
      old_umask = umask (0177);
      status = spice_server_init (spice->server, &spice->core);
      umask (old_umask);
    }
  else
    status = spice_server_init (spice->server, &spice->core);
  if (status != 0)
    {
      if (spice->socket_path)
        g_set_error (error, HV_ERROR, HV_ERROR_FAILED,
                     "the SPICE server cannot listen on %s (is the folder writable?)", spice->socket_path);
      else
        g_set_error (error, HV_ERROR, HV_ERROR_FAILED, "the SPICE server cannot start");
      return FALSE;
    }
  if (spice->socket_path && !secure_socket (spice, error))
    return FALSE;

  spice->qxl.base.sif = &qxl_interface.base;
  spice->qxl.id = 0;
  spice->keyboard.base.sif = &keyboard_interface.base;
  spice->tablet.base.sif = &tablet_interface.base;
  if (spice_server_add_interface (spice->server, &spice->qxl.base) != 0
      || spice_server_add_interface (spice->server, &spice->keyboard.base) != 0
      || spice_server_add_interface (spice->server, &spice->tablet.base) != 0)
    {
      g_set_error (error, HV_ERROR, HV_ERROR_FAILED, "the SPICE server refused the display or input");
      return FALSE;
    }
  slot.virt_end = ~(uintptr_t) 0;
  spice_qxl_add_memslot (&spice->qxl, &slot);
  spice_server_vm_start (spice->server);

  refresh (spice);
  spice->last_change = g_get_monotonic_time ();
  spice->refresh = g_source_new (&refresh_funcs, sizeof (RefreshSource));
  ((RefreshSource *) spice->refresh)->spice = spice;
  g_source_set_ready_time (spice->refresh,
                           spice->last_change + HV_SPICE_REFRESH_MS * G_TIME_SPAN_MILLISECOND);
  g_source_attach (spice->refresh, spice->context);
  return TRUE;
}

static void
stop_server (HvSpice *spice)
{
  if (spice->refresh)
    {
      g_source_destroy (spice->refresh);
      g_clear_pointer (&spice->refresh, g_source_unref);
    }
  if (spice->server)
    {
      /* Stops spice's worker thread; the Updates it still held are freed with the rest. */
      spice_server_destroy (spice->server);
      spice->server = NULL;
#if SPICE_SERVER_VERSION == 0x000f01
      /* spice-server 0.15.1 allocates the keyboard's state (g_new0) when the interface is added, and
       * neither frees it on destroy nor supports removing the interface: a leak per server otherwise. */
      g_clear_pointer (&spice->keyboard.st, g_free);
#endif
    }
  spice->surface_active = FALSE;
  g_clear_pointer (&spice->surface, g_free);
  g_clear_pointer (&spice->shadow, g_free);
}

static gpointer
spice_thread (gpointer data)
{
  HvSpice *spice = data;
  GError *error = NULL;
  gboolean ok;

  g_main_context_push_thread_default (spice->context);
  ok = start_server (spice, &error);
  if (!ok)
    stop_server (spice);

  g_mutex_lock (&spice->setup_lock);
  spice->setup_done = TRUE;
  spice->setup_error = error;
  g_cond_signal (&spice->setup_cond);
  g_mutex_unlock (&spice->setup_lock);

  if (ok)
    {
      g_main_loop_run (spice->loop);
      stop_server (spice);
    }
  g_main_context_pop_thread_default (spice->context);
  return NULL;
}

static void
spice_destroy (HvSpice *spice)
{
  if (spice->socket_bound)
    {
      struct stat st;

      /* Only if the path is still our socket, not something put there since. */
      if (stat (spice->socket_path, &st) == 0 && st.st_dev == spice->socket_dev
          && st.st_ino == spice->socket_ino)
        unlink (spice->socket_path);
    }
  g_queue_clear (&spice->queue);
  g_clear_pointer (&spice->live, g_hash_table_unref);
  g_clear_pointer (&spice->loop, g_main_loop_unref);
  g_clear_pointer (&spice->context, g_main_context_unref);
  g_mutex_clear (&spice->setup_lock);
  g_cond_clear (&spice->setup_cond);
  g_mutex_clear (&spice->queue_lock);
  g_free (spice->socket_path);
  g_free (spice);
}

HvSpice *
hv_spice_new (const HvSpiceBackend *backend, const char *socket_path, GError **error)
{
  HvSpice *spice = g_new0 (HvSpice, 1);
  GError *local = NULL;

  spice->backend = *backend;
  spice->socket_path = g_strdup (socket_path);
  g_mutex_init (&spice->setup_lock);
  g_cond_init (&spice->setup_cond);
  g_mutex_init (&spice->queue_lock);
  g_queue_init (&spice->queue);
  spice->live = g_hash_table_new_full (NULL, NULL, g_free, NULL);
  spice->context = g_main_context_new ();
  spice->loop = g_main_loop_new (spice->context, FALSE);

  spice->thread = g_thread_try_new ("spice", spice_thread, spice, &local);
  if (spice->thread == NULL)
    {
      g_set_error (error, HV_ERROR, HV_ERROR_FAILED, "cannot start the SPICE thread: %s", local->message);
      g_error_free (local);
      spice_destroy (spice);
      return NULL;
    }

  g_mutex_lock (&spice->setup_lock);
  while (!spice->setup_done)
    g_cond_wait (&spice->setup_cond, &spice->setup_lock);
  g_mutex_unlock (&spice->setup_lock);
  if (spice->setup_error)
    {
      g_propagate_error (error, spice->setup_error);
      g_thread_join (spice->thread);
      spice_destroy (spice);
      return NULL;
    }
  return spice;
}

static gboolean
quit_on_thread (gpointer data)
{
  g_main_loop_quit (data);
  return G_SOURCE_REMOVE;
}

void
hv_spice_free (HvSpice *spice)
{
  if (spice == NULL)
    return;
  g_main_context_invoke (spice->context, quit_on_thread, spice->loop);
  g_thread_join (spice->thread);
  spice_destroy (spice);
}

typedef struct
{
  HvSpice *spice;
  int fd;
  int status;
  gboolean done;
  GMutex lock;
  GCond cond;
} AddClient;

static gboolean
add_client_on_thread (gpointer data)
{
  AddClient *call = data;

  call->status = spice_server_add_client (call->spice->server, call->fd, 1);
  g_mutex_lock (&call->lock);
  call->done = TRUE;
  g_cond_signal (&call->cond);
  g_mutex_unlock (&call->lock);
  return G_SOURCE_REMOVE;
}

int
hv_spice_open_client (HvSpice *spice, GError **error)
{
  AddClient call = { .spice = spice };
  int pair[2];

  if (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) < 0)
    {
      int saved = errno;
      g_set_error (error, HV_ERROR, HV_ERROR_FAILED, "cannot make a socket for the display: %s",
                   g_strerror (saved));
      return -1;
    }

  /* spice-server is not thread-safe: the connection is added on its own thread. */
  call.fd = pair[0];
  g_mutex_init (&call.lock);
  g_cond_init (&call.cond);
  g_main_context_invoke (spice->context, add_client_on_thread, &call);
  g_mutex_lock (&call.lock);
  while (!call.done)
    g_cond_wait (&call.cond, &call.lock);
  g_mutex_unlock (&call.lock);
  g_mutex_clear (&call.lock);
  g_cond_clear (&call.cond);

  if (call.status != 0)
    {
      /* The server did not take the socket. */
      close (pair[0]);
      close (pair[1]);
      g_set_error (error, HV_ERROR, HV_ERROR_FAILED, "the SPICE server refused a new connection");
      return -1;
    }
  return pair[1];
}

/* --- the VM's server: its display device and input calls as the backend --- */

static void
vm_get_mode (void *opaque, HvDisplayMode *mode)
{
  hv_display_get_mode (hv_vm_get_display (opaque), mode);
}

static unsigned
vm_collect_dirty (void *opaque, HvRect *rects, unsigned max_rects)
{
  return hv_display_collect_dirty (hv_vm_get_display (opaque), rects, max_rects);
}

static void
vm_key (void *opaque, uint8_t scancode_fragment)
{
  hv_vm_input_key (opaque, scancode_fragment);
}

static void
vm_tablet (void *opaque, uint32_t x, uint32_t y, uint32_t buttons)
{
  hv_vm_input_tablet (opaque, x, y, buttons);
}

static void
vm_wheel (void *opaque, int32_t steps, uint32_t buttons)
{
  hv_vm_input_wheel (opaque, steps, buttons);
}

gboolean
hv_vm_set_spice_socket (HvVm *vm, const char *path, GError **error)
{
  if (vm->state != HV_VM_CONFIGURING)
    {
      g_set_error (error, HV_ERROR, HV_ERROR_INVALID_STATE,
                   "the VM has already been started; its configuration cannot change");
      return FALSE;
    }
  if (path == NULL || *path == '\0')
    {
      g_set_error (error, HV_ERROR, HV_ERROR_INVALID_ARGUMENT, "the SPICE socket needs a path");
      return FALSE;
    }
  /* spice-server would silently cut a longer one. */
  if (strlen (path) >= sizeof ((struct sockaddr_un *) NULL)->sun_path)
    {
      g_set_error (error, HV_ERROR, HV_ERROR_INVALID_ARGUMENT,
                   "the SPICE socket path “%s” is too long: a unix socket's path has at most %zu bytes",
                   path, sizeof ((struct sockaddr_un *) NULL)->sun_path - 1);
      return FALSE;
    }
  if (!vm->display_enabled)
    {
      g_set_error (error, HV_ERROR, HV_ERROR_INVALID_ARGUMENT,
                   "a SPICE socket needs a display: give the VM one first");
      return FALSE;
    }
  g_free (vm->spice_socket_path);
  vm->spice_socket_path = g_strdup (path);
  return TRUE;
}

gboolean
hv_vm_start_spice (HvVm *vm, GError **error)
{
  HvSpiceBackend backend = {
    .get_mode = vm_get_mode,
    .collect_dirty = vm_collect_dirty,
    .key = vm_key,
    .tablet = vm_tablet,
    .wheel = vm_wheel,
    .opaque = vm,
  };

  if (hv_vm_get_display (vm) == NULL)
    {
      if (vm->spice_socket_path == NULL)
        return TRUE;
      g_set_error (error, HV_ERROR, HV_ERROR_INVALID_ARGUMENT,
                   "the SPICE socket %s needs a display, and the VM has none", vm->spice_socket_path);
      return FALSE;
    }
  vm->spice = hv_spice_new (&backend, vm->spice_socket_path, error);
  return vm->spice != NULL;
}

int
hv_vm_open_display (HvVm *vm, GError **error)
{
  gboolean running;

  g_mutex_lock (&vm->lock);
  running = vm->state == HV_VM_RUNNING && !vm->exiting;
  g_mutex_unlock (&vm->lock);
  if (!running)
    {
      g_set_error (error, HV_ERROR, HV_ERROR_INVALID_STATE, "the VM is not running");
      return -1;
    }
  if (vm->spice == NULL)
    {
      g_set_error (error, HV_ERROR, HV_ERROR_NOT_FOUND, "the VM has no display");
      return -1;
    }
  return hv_spice_open_client (vm->spice, error);
}
