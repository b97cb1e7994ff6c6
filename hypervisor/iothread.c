/* iothread.c — the VM's I/O thread: a named thread iterating its own GMainContext until told to stop. */
#include "iothread.h"
#include "hv.h"

struct _HvIoThread
{
  GMainContext *context;
  GThread *thread;
  gint stopping; /* atomic */
  GMutex start_lock;
  GCond started_cond;
  gboolean started;
  int role; /* HvThreadRole */
};

static gpointer
iothread_run (gpointer data)
{
  HvIoThread *thread = data;

  hv_thread_started ((HvThreadRole) thread->role);
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
