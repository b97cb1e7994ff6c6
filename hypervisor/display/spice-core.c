/* spice-core.c — spice-server's event loop on GLib: the SpiceCoreInterface's timers and fd watches as
 * sources on the context of the thread that runs the server (spice-server.c). */
#include "spice-private.h"

#include <glib-unix.h>

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

const SpiceCoreInterface hv_spice_core_interface = {
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
