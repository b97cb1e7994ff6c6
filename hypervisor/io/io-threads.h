/* io-threads.h — the VM's I/O threads: one shared by devices whose work never blocks, and one per device
 * (or group of devices) whose work may block, so that a disk flush or a network poll cannot hold up
 * keyboard input on another thread. */
#pragma once

#include "iothread.h"

typedef struct _HvIoThreads HvIoThreads;

/* Starts the shared thread, named @name (the VM's is "vireo-io"). */
HvIoThreads *hv_io_threads_new (const char *name, GError **error);
/* Stops and joins every thread.  The devices using them must be gone (or no longer attach anything). */
void hv_io_threads_free (HvIoThreads *threads);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (HvIoThreads, hv_io_threads_free)

/* The shared thread's context: the default for devices. */
GMainContext *hv_io_threads_get_shared (HvIoThreads *threads);
/* The context of the thread called @thread, started on first use ("<shared name>-<thread>" in ps, cut
 * to 15 characters); devices asking for the same @thread share it.  NULL means the shared thread.  The
 * context stays valid until hv_io_threads_free.  Safe from any thread. */
GMainContext *hv_io_threads_get (HvIoThreads *threads, const char *thread, GError **error);
/* The same for a thread of @role (HvThreadRole: HV_THREAD_IO or HV_THREAD_NET), which a thread of that
 * name must have: asking for it with another role fails. */
GMainContext *hv_io_threads_get_with_role (HvIoThreads *threads, const char *thread, int role,
                                           GError **error);
/* How many threads run, the shared one included (for tests and diagnostics). */
unsigned hv_io_threads_count (HvIoThreads *threads);
