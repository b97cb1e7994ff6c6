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

/* Returns once nothing is being dispatched on @context any more, so that a caller that has just destroyed
 * its sources knows their callbacks have returned.  Works whether a thread iterates @context or not (unit
 * tests iterate it themselves); called from a dispatch on @context, it returns at once. */
void hv_iothread_barrier (GMainContext *context);
