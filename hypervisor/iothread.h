/* iothread.h — the VM's I/O thread: a named thread iterating a GMainContext, where device work woken by
 * ioeventfds (virtqueue processing) runs instead of on vCPU threads. */
#pragma once

#include <glib.h>

typedef struct _HvIoThread HvIoThread;

/* Starts the thread (@name is its name in ps and gdb, at most 15 characters are kept). */
HvIoThread *hv_iothread_new (const char *name, GError **error);
/* The same for a thread of another role than HV_THREAD_IO (hv.h: what the thread may do). */
HvIoThread *hv_iothread_new_with_role (const char *name, int role, GError **error);
/* Lets the dispatch in progress finish, then ends and joins the thread.  Sources still attached to the
 * context stay attached but are not dispatched any more. */
void hv_iothread_free (HvIoThread *thread);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (HvIoThread, hv_iothread_free)

GMainContext *hv_iothread_get_context (HvIoThread *thread);
/* How long, in nanoseconds, the thread now polls before it sleeps (iothread.c: adaptive polling, at
 * most VIREO_POLL_MAX_NS, 32000 by default; 0 when events have been slow to come). */
gint64 hv_iothread_get_poll_window (HvIoThread *thread);
/* Its role (HvThreadRole). */
int hv_iothread_get_role (HvIoThread *thread);

/* A poller lets a device take part in its I/O thread's polling (iothread.c) by looking at memory (a
 * ring's index) instead of waiting for an fd to be signalled.  When the thread starts polling it calls
 * begin (the device may ask its driver to stop notifying); while it polls, poll, which returns TRUE when
 * there is new work; before it goes to sleep, end (notifications back on), which returns TRUE if work
 * came meanwhile.  When poll or end return TRUE, @fd counts as readable, so that the source watching it
 * is dispatched, and must cope with @fd not being signalled.  The functions must not block or make
 * system calls; they run on the thread with its poller lock held (they may take their device's lock,
 * and hv_iothread_remove_poller must not be called with that lock held). */
typedef struct
{
  void (*begin) (void *data);
  gboolean (*poll) (void *data);
  gboolean (*end) (void *data);
} HvIoPollerFuncs;

/* Adds a poller to the I/O thread iterating @context; returns its id, or 0 when no polling I/O thread
 * iterates @context (then nothing is called). */
unsigned hv_iothread_add_poller (GMainContext *context, int fd, const HvIoPollerFuncs *funcs, void *data);
/* After it returns, the poller's functions are not running and will not be called again; if the thread
 * was polling, the poller's end was called first. */
void hv_iothread_remove_poller (GMainContext *context, unsigned id);

/* Returns once nothing is being dispatched on @context any more, so that a caller that has just destroyed
 * its sources knows their callbacks have returned.  Works whether a thread iterates @context or not (unit
 * tests iterate it themselves); called from a dispatch on @context, it returns at once. */
void hv_iothread_barrier (GMainContext *context);
