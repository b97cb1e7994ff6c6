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
  int role;            /* HvThreadRole */
  gint64 poll_max_ns;  /* 0: never polls */
  gint64 poll_ns;      /* the current window; written by the thread only */
  GMutex pollers_lock; /* guards pollers, next_poller_id and polling; held while a poller runs */
  GArray *pollers;     /* Poller */
  unsigned next_poller_id;
  gboolean polling; /* the pollers' begin has been called, their end not yet */
};

typedef struct
{
  unsigned id;
  int fd;
  const HvIoPollerFuncs *funcs;
  void *data;
} Poller;

/* Every HvIoThread by its context, for devices that know only the context they were given. */
static GMutex threads_lock;
static GHashTable *threads_by_context; /* GMainContext → HvIoThread */

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

/* Marks @fd readable in @fds; returns 1 if it was not marked yet. */
static gint
mark_ready (GPollFD *fds, guint nfds, int fd)
{
  gint marked = 0;

  for (guint j = 0; j < nfds; j++)
    if (fds[j].fd == fd && (fds[j].events & G_IO_IN))
      {
        if (fds[j].revents == 0)
          marked++;
        fds[j].revents |= G_IO_IN;
      }
  return marked;
}

typedef enum
{
  POLLERS_BEGIN,
  POLLERS_POLL,
  POLLERS_END,
} PollersStep;

/* Runs one step of every poller; returns how many fds of @fds it marked readable. */
static gint
run_pollers (HvIoThread *thread, PollersStep step, GPollFD *fds, guint nfds)
{
  gint marked = 0;

  g_mutex_lock (&thread->pollers_lock);
  if (step == POLLERS_BEGIN && !thread->polling)
    {
      thread->polling = TRUE;
      for (guint i = 0; i < thread->pollers->len; i++)
        {
          Poller *poller = &g_array_index (thread->pollers, Poller, i);
          poller->funcs->begin (poller->data);
        }
    }
  else if (step == POLLERS_POLL)
    for (guint i = 0; i < thread->pollers->len; i++)
      {
        Poller *poller = &g_array_index (thread->pollers, Poller, i);
        if (poller->funcs->poll (poller->data))
          marked += mark_ready (fds, nfds, poller->fd);
      }
  else if (step == POLLERS_END && thread->polling)
    {
      thread->polling = FALSE;
      for (guint i = 0; i < thread->pollers->len; i++)
        {
          Poller *poller = &g_array_index (thread->pollers, Poller, i);
          if (poller->funcs->end (poller->data))
            marked += mark_ready (fds, nfds, poller->fd);
        }
    }
  g_mutex_unlock (&thread->pollers_lock);
  return marked;
}

/* One look without waiting: the pollers (memory), then the fds (a system call). */
static gint
poll_once (HvIoThread *thread, GPollFD *fds, guint nfds)
{
  gint marked;

  for (guint j = 0; j < nfds; j++)
    fds[j].revents = 0;
  marked = run_pollers (thread, POLLERS_POLL, fds, nfds);
  return marked > 0 ? marked : g_poll (fds, nfds, 0);
}

/* The context's poll function: looks without waiting for the current window, then waits.  The
 * pollers' begin comes with the first look and their end only before a wait, so that a device whose
 * work keeps coming inside the window (a disk at queue depth 1: request, completion, request) keeps
 * its driver quiet throughout. */
static gint
iothread_poll (GPollFD *fds, guint nfds, gint timeout)
{
  HvIoThread *thread = current_thread;
  gint64 start, elapsed, limit;
  gint ready;

  if (thread == NULL || thread->poll_max_ns == 0 || timeout == 0)
    return g_poll (fds, nfds, timeout);
  start = now_ns ();
  /* The window, or the caller's timeout when that comes first. */
  limit = timeout < 0 ? thread->poll_ns : MIN (thread->poll_ns, (gint64) timeout * 1000000);
  if (limit > 0)
    {
      run_pollers (thread, POLLERS_BEGIN, fds, nfds);
      do
        {
          ready = poll_once (thread, fds, nfds);
          elapsed = now_ns () - start;
          if (ready != 0)
            {
              adjust_window (thread, elapsed);
              return ready;
            }
        }
      while (elapsed < limit);
    }
  /* Notifications back on before sleeping; work that came in between ends the wait before it starts. */
  for (guint j = 0; j < nfds; j++)
    fds[j].revents = 0;
  ready = run_pollers (thread, POLLERS_END, fds, nfds);
  if (ready > 0)
    {
      adjust_window (thread, now_ns () - start);
      return ready;
    }
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
  g_mutex_init (&thread->pollers_lock);
  thread->pollers = g_array_new (FALSE, FALSE, sizeof (Poller));
  thread->next_poller_id = 1;
  if (thread->poll_max_ns > 0)
    g_main_context_set_poll_func (thread->context, iothread_poll);
  g_mutex_init (&thread->start_lock);
  g_cond_init (&thread->started_cond);
  thread->thread = g_thread_try_new (name, iothread_run, thread, error);
  if (thread->thread == NULL)
    {
      g_mutex_clear (&thread->start_lock);
      g_cond_clear (&thread->started_cond);
      g_mutex_clear (&thread->pollers_lock);
      g_array_unref (thread->pollers);
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
  g_mutex_lock (&threads_lock);
  if (threads_by_context == NULL)
    threads_by_context = g_hash_table_new (NULL, NULL);
  g_hash_table_insert (threads_by_context, thread->context, thread);
  g_mutex_unlock (&threads_lock);
  return thread;
}

void
hv_iothread_free (HvIoThread *thread)
{
  if (thread == NULL)
    return;
  g_mutex_lock (&threads_lock);
  g_hash_table_remove (threads_by_context, thread->context);
  g_mutex_unlock (&threads_lock);
  g_atomic_int_set (&thread->stopping, 1);
  g_main_context_wakeup (thread->context);
  g_thread_join (thread->thread);
  g_mutex_clear (&thread->start_lock);
  g_cond_clear (&thread->started_cond);
  g_mutex_clear (&thread->pollers_lock);
  g_array_unref (thread->pollers);
  g_main_context_unref (thread->context);
  g_free (thread);
}

static HvIoThread *
thread_of_context (GMainContext *context)
{
  HvIoThread *thread;

  g_mutex_lock (&threads_lock);
  thread = threads_by_context ? g_hash_table_lookup (threads_by_context, context) : NULL;
  g_mutex_unlock (&threads_lock);
  return thread;
}

unsigned
hv_iothread_add_poller (GMainContext *context, int fd, const HvIoPollerFuncs *funcs, void *data)
{
  /* The thread outlives the devices on it: their owner frees them first. */
  HvIoThread *thread = thread_of_context (context);
  Poller poller = { 0, fd, funcs, data };

  g_return_val_if_fail (funcs != NULL && funcs->begin && funcs->poll && funcs->end, 0);

  if (thread == NULL || thread->poll_max_ns == 0)
    return 0;
  g_mutex_lock (&thread->pollers_lock);
  poller.id = thread->next_poller_id++;
  /* Joining a thread that is polling: it begins with the others. */
  if (thread->polling)
    funcs->begin (data);
  g_array_append_val (thread->pollers, poller);
  g_mutex_unlock (&thread->pollers_lock);
  return poller.id;
}

void
hv_iothread_remove_poller (GMainContext *context, unsigned id)
{
  HvIoThread *thread;

  if (id == 0)
    return;
  /* A thread that has ended polls nothing any more. */
  thread = thread_of_context (context);
  if (thread == NULL)
    return;
  g_mutex_lock (&thread->pollers_lock);
  for (guint i = 0; i < thread->pollers->len; i++)
    {
      Poller *poller = &g_array_index (thread->pollers, Poller, i);

      if (poller->id != id)
        continue;
      if (thread->polling)
        poller->funcs->end (poller->data);
      g_array_remove_index (thread->pollers, i);
      break;
    }
  g_mutex_unlock (&thread->pollers_lock);
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
