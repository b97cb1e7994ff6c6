/* iothread.c — the VM's I/O thread: a named thread iterating its own GMainContext until told to stop,
 * polling adaptively before it sleeps. */
#include "iothread.h"
#include "hv.h"

#include <time.h>

/* Adaptive polling, as QEMU's I/O threads do it (its poll-max-ns, 32 µs by default): a thread whose
 * events come soon after it goes to wait keeps looking for them without sleeping for up to this long,
 * so that a disk request answered or a doorbell rung within that time costs no sleep and wake-up (on
 * a virtual CPU, an idle CPU is a halted one: waking it took 10–30 µs here, as long as a whole
 * request on a fast disk).  The window grows while events keep arriving inside it and shrinks when
 * they do not, to nothing after a few long waits, so an idle machine never spins.  On a machine with
 * few CPUs the spinning takes time from vCPUs; VIREO_POLL_MAX_NS=0 turns it off. */
#define POLL_MAX_NS_DEFAULT 32000
#define POLL_GROW_START_NS  4000

struct _HvIoThread
{
  GMainContext *context;
  GThread *thread;
  gint stopping; /* atomic */
  GMutex start_lock;
  GCond started_cond;
  gboolean started;
  int role;           /* HvThreadRole */
  gint64 poll_max_ns; /* 0: never polls */
  gint64 poll_ns;     /* the current window; written by the thread only */
};

/* The thread's own HvIoThread, for its poll function (GLib passes it no data). */
static __thread HvIoThread *current_thread;

static gint64
now_ns (void)
{
  struct timespec ts;

  clock_gettime (CLOCK_MONOTONIC, &ts);
  return (gint64) ts.tv_sec * G_GINT64_CONSTANT (1000000000) + ts.tv_nsec;
}

/* How long an event took to arrive sets the next window: inside the window, as it is; within the
 * longest window, twice as long; longer than that, half as long, and none once it is short.  Halving
 * rather than dropping at once keeps the window for a disk whose thread waits in turn for a doorbell
 * (microseconds) and for the disk (longer than any window): a few waits in a row with nothing inside
 * the window, as on an idle machine, stop the polling. */
static void
adjust_window (HvIoThread *thread, gint64 waited_ns)
{
  gint64 window = thread->poll_ns;

  if (waited_ns <= window)
    return;
  if (waited_ns > thread->poll_max_ns)
    window = window / 2 >= POLL_GROW_START_NS ? window / 2 : 0;
  else
    window = MIN (thread->poll_max_ns, window > 0 ? window * 2 : POLL_GROW_START_NS);
  __atomic_store_n (&thread->poll_ns, window, __ATOMIC_RELAXED);
}

/* The context's poll function: non-blocking polls for the current window, then a blocking one. */
static gint
iothread_poll (GPollFD *fds, guint nfds, gint timeout)
{
  HvIoThread *thread = current_thread;
  gint64 start, deadline;
  gint ready;

  if (thread == NULL || thread->poll_max_ns == 0 || timeout == 0)
    return g_poll (fds, nfds, timeout);
  start = now_ns ();
  deadline = start + thread->poll_ns;
  if (thread->poll_ns > 0)
    do
      {
        ready = g_poll (fds, nfds, 0);
        if (ready != 0)
          {
            adjust_window (thread, now_ns () - start);
            return ready;
          }
      }
    while (now_ns () < deadline && (timeout < 0 || now_ns () - start < (gint64) timeout * 1000000));
  if (timeout > 0)
    timeout = (gint) MAX (0, timeout - (now_ns () - start) / 1000000);
  ready = g_poll (fds, nfds, timeout);
  adjust_window (thread, now_ns () - start);
  return ready;
}

/* VIREO_POLL_MAX_NS overrides the longest window (0 turns polling off), for measurements. */
static gint64
poll_max_ns (void)
{
  const char *forced = g_getenv ("VIREO_POLL_MAX_NS");
  char *end = NULL;
  gint64 value;

  if (forced == NULL || *forced == '\0')
    return POLL_MAX_NS_DEFAULT;
  value = g_ascii_strtoll (forced, &end, 10);
  if (*end != '\0' || value < 0 || value > 1000000)
    {
      g_warning ("VIREO_POLL_MAX_NS=%s is not a number of nanoseconds from 0 to 1000000; using %d", forced,
                 POLL_MAX_NS_DEFAULT);
      return POLL_MAX_NS_DEFAULT;
    }
  return value;
}

static gpointer
iothread_run (gpointer data)
{
  HvIoThread *thread = data;

  hv_thread_started ((HvThreadRole) thread->role);
  current_thread = thread;
  g_main_context_push_thread_default (thread->context);
  g_mutex_lock (&thread->start_lock);
  thread->started = TRUE;
  g_cond_signal (&thread->started_cond);
  g_mutex_unlock (&thread->start_lock);
  /* A flag rather than a GMainLoop: a quit that arrives before g_main_loop_run() starts would be lost,
   * while the flag is seen on the first pass and g_main_context_wakeup() interrupts a blocked poll. */
  while (!g_atomic_int_get (&thread->stopping))
    g_main_context_iteration (thread->context, TRUE);
  g_main_context_pop_thread_default (thread->context);
  return NULL;
}

HvIoThread *
hv_iothread_new (const char *name, GError **error)
{
  return hv_iothread_new_with_role (name, HV_THREAD_IO, error);
}

HvIoThread *
hv_iothread_new_with_role (const char *name, int role, GError **error)
{
  HvIoThread *thread = g_new0 (HvIoThread, 1);

  thread->role = role;
  thread->context = g_main_context_new ();
  /* Device work (disks, network, consoles) waits like this; the display's thread has its own pace. */
  thread->poll_max_ns = role == HV_THREAD_DISPLAY ? 0 : poll_max_ns ();
  if (thread->poll_max_ns > 0)
    g_main_context_set_poll_func (thread->context, iothread_poll);
  g_mutex_init (&thread->start_lock);
  g_cond_init (&thread->started_cond);
  thread->thread = g_thread_try_new (name, iothread_run, thread, error);
  if (thread->thread == NULL)
    {
      g_mutex_clear (&thread->start_lock);
      g_cond_clear (&thread->started_cond);
      g_main_context_unref (thread->context);
      g_free (thread);
      return NULL;
    }
  /* Until the thread owns its context, another thread could acquire it (hv_iothread_barrier, a drain)
   * and make the thread's g_main_context_push_thread_default fail. */
  g_mutex_lock (&thread->start_lock);
  while (!thread->started)
    g_cond_wait (&thread->started_cond, &thread->start_lock);
  g_mutex_unlock (&thread->start_lock);
  return thread;
}

void
hv_iothread_free (HvIoThread *thread)
{
  if (thread == NULL)
    return;
  g_atomic_int_set (&thread->stopping, 1);
  g_main_context_wakeup (thread->context);
  g_thread_join (thread->thread);
  g_mutex_clear (&thread->start_lock);
  g_cond_clear (&thread->started_cond);
  g_main_context_unref (thread->context);
  g_free (thread);
}

int
hv_iothread_get_role (HvIoThread *thread)
{
  return thread->role;
}

gint64
hv_iothread_get_poll_window (HvIoThread *thread)
{
  return __atomic_load_n (&thread->poll_ns, __ATOMIC_RELAXED);
}

GMainContext *
hv_iothread_get_context (HvIoThread *thread)
{
  return thread->context;
}

typedef struct
{
  GMutex lock;
  GCond cond;
  gboolean done;
} Barrier;

static void
barrier_free (gpointer data)
{
  Barrier *barrier = data;
  g_mutex_clear (&barrier->lock);
  g_cond_clear (&barrier->cond);
}

static void
barrier_unref (gpointer data)
{
  g_atomic_rc_box_release_full (data, barrier_free);
}

static gboolean
barrier_reached (gpointer data)
{
  Barrier *barrier = data;

  g_mutex_lock (&barrier->lock);
  barrier->done = TRUE;
  g_cond_broadcast (&barrier->cond);
  g_mutex_unlock (&barrier->lock);
  return G_SOURCE_REMOVE;
}

void
hv_iothread_barrier (GMainContext *context)
{
  Barrier *barrier;
  GSource *source;

  /* A context that can be acquired is not dispatching anything (or this thread is the one dispatching). */
  if (g_main_context_acquire (context))
    {
      g_main_context_release (context);
      return;
    }

  /* Shared with the callback, which may still be unlocking when this function returns. */
  barrier = g_atomic_rc_box_new0 (Barrier);
  g_mutex_init (&barrier->lock);
  g_cond_init (&barrier->cond);
  source = g_idle_source_new ();
  g_source_set_priority (source, G_PRIORITY_HIGH);
  g_source_set_callback (source, barrier_reached, g_atomic_rc_box_acquire (barrier), barrier_unref);
  g_source_attach (source, context);

  g_mutex_lock (&barrier->lock);
  while (!barrier->done)
    {
      gint64 deadline = g_get_monotonic_time () + 10 * G_TIME_SPAN_MILLISECOND;

      if (g_cond_wait_until (&barrier->cond, &barrier->lock, deadline))
        continue;
      /* The thread iterating the context may have stopped since: then nothing runs and nothing will. */
      g_mutex_unlock (&barrier->lock);
      if (g_main_context_acquire (context))
        {
          g_source_destroy (source);
          g_main_context_release (context);
          g_mutex_lock (&barrier->lock);
          break;
        }
      g_mutex_lock (&barrier->lock);
    }
  g_mutex_unlock (&barrier->lock);
  g_source_destroy (source);
  g_source_unref (source);
  barrier_unref (barrier);
}
