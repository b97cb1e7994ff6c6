/* spice-display.c — the display path: the display's framebuffer (display.h) as QXL simple-display
 * updates, its changes found from the dirty log or by comparing with a shadow copy, polled at a rate
 * that follows how much the screen changes. */
#include "spice-private.h"

#include <string.h>

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
#define WINDOW_MS  100
#define BUSY_ENTER 2 /* whole screens' worth of change in a window: leave the log alone */
#define BUSY_LEAVE 1 /* fewer whole screens than this in a window: back to the log */
/* Busy: rows compared together.  A poll of an unchanged screen compares one row per band, a
 * different one each time, and all of them only when one of those differs: so it reads an eighth
 * of the screen, and a change that misses the rows sampled (a few pixels) waits at most BAND_ROWS
 * polls, 16 ms. */
#define BAND_ROWS 8

/* One QXL_DRAW_COPY of a rectangle, with its own copy of the pixels (the guest may change them while
 * spice still reads).  The drawable comes first: the release info spice hands back points at it. */
struct _Update
{
  QXLDrawable drawable;
  QXLImage image;
  QXLCommandExt ext;
  uint8_t pixels[];
};

static HvSpice *
spice_from_qxl (QXLInstance *qxl)
{
  return (HvSpice *) ((char *) qxl - G_STRUCT_OFFSET (HvSpice, qxl));
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
qxl_set_client_capabilities (QXLInstance *qxl, uint8_t client_present, uint8_t caps[SPICE_CAPABILITIES_SIZE])
{
}

static int
qxl_client_monitors_config (QXLInstance *qxl, VDAgentMonitorsConfig *config)
{
  /* The framebuffer's mode is the guest's to choose: client resize requests are not supported. */
  return 0;
}

G_GNUC_BEGIN_IGNORE_DEPRECATIONS
const QXLInterface hv_spice_qxl_interface = {
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
  POLL_SENT,    /* changes were queued for spice */
  POLL_WAITING, /* spice has not taken the last ones yet: changes wait in the display */
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
                   ? HV_SPICE_REFRESH_MS
                   : HV_SPICE_IDLE_REFRESH_MS;
      break;
    }
  /* From now, not from the last deadline: a poll that ran late is not made up with a burst. */
  g_source_set_ready_time (source, g_get_monotonic_time () + period * G_TIME_SPAN_MILLISECOND);
  return G_SOURCE_CONTINUE;
}

static GSourceFuncs refresh_funcs = {
  .dispatch = refresh_dispatch,
};

void
hv_spice_display_init (HvSpice *spice)
{
  g_mutex_init (&spice->queue_lock);
  g_queue_init (&spice->queue);
  spice->live = g_hash_table_new_full (NULL, NULL, g_free, NULL);
}

void
hv_spice_display_clear (HvSpice *spice)
{
  spice->surface_active = FALSE;
  g_clear_pointer (&spice->surface, g_free);
  g_clear_pointer (&spice->shadow, g_free);
  g_queue_clear (&spice->queue);
  g_clear_pointer (&spice->live, g_hash_table_unref);
  g_mutex_clear (&spice->queue_lock);
}

void
hv_spice_display_start (HvSpice *spice)
{
  refresh (spice);
  spice->last_change = g_get_monotonic_time ();
  spice->refresh = g_source_new (&refresh_funcs, sizeof (RefreshSource));
  ((RefreshSource *) spice->refresh)->spice = spice;
  g_source_set_ready_time (spice->refresh,
                           spice->last_change + HV_SPICE_REFRESH_MS * G_TIME_SPAN_MILLISECOND);
  g_source_attach (spice->refresh, spice->context);
}

void
hv_spice_display_stop (HvSpice *spice)
{
  if (spice->refresh)
    {
      g_source_destroy (spice->refresh);
      g_clear_pointer (&spice->refresh, g_source_unref);
    }
}
