/* io-threads.c — the VM's I/O threads: the shared one and the named ones devices ask for. */
#include "io-threads.h"
#include "hv.h"

struct _HvIoThreads
{
  GMutex lock; /* guards named */
  char *name;
  HvIoThread *shared;
  GHashTable *named; /* thread name → HvIoThread */
};

HvIoThreads *
hv_io_threads_new (const char *name, GError **error)
{
  HvIoThreads *threads;
  HvIoThread *shared;

  g_return_val_if_fail (name != NULL, NULL);

  shared = hv_iothread_new (name, error);
  if (shared == NULL)
    return NULL;
  threads = g_new0 (HvIoThreads, 1);
  g_mutex_init (&threads->lock);
  threads->name = g_strdup (name);
  threads->shared = shared;
  threads->named = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, (GDestroyNotify) hv_iothread_free);
  return threads;
}

void
hv_io_threads_free (HvIoThreads *threads)
{
  if (threads == NULL)
    return;
  g_hash_table_unref (threads->named);
  hv_iothread_free (threads->shared);
  g_free (threads->name);
  g_mutex_clear (&threads->lock);
  g_free (threads);
}

GMainContext *
hv_io_threads_get_shared (HvIoThreads *threads)
{
  return hv_iothread_get_context (threads->shared);
}

GMainContext *
hv_io_threads_get (HvIoThreads *threads, const char *thread, GError **error)
{
  return hv_io_threads_get_with_role (threads, thread, HV_THREAD_IO, error);
}

GMainContext *
hv_io_threads_get_with_role (HvIoThreads *threads, const char *thread, int role, GError **error)
{
  HvIoThread *found;

  if (thread == NULL)
    return hv_io_threads_get_shared (threads);
  if (*thread == '\0')
    {
      g_set_error (error, HV_ERROR, HV_ERROR_INVALID_ARGUMENT, "an I/O thread needs a name");
      return NULL;
    }

  g_mutex_lock (&threads->lock);
  found = g_hash_table_lookup (threads->named, thread);
  if (found == NULL)
    {
      g_autofree char *full = g_strdup_printf ("%s-%s", threads->name, thread);

      found = hv_iothread_new_with_role (full, role, error);
      if (found == NULL)
        {
          g_mutex_unlock (&threads->lock);
          return NULL;
        }
      g_hash_table_insert (threads->named, g_strdup (thread), found);
    }
  else if (hv_iothread_get_role (found) != role)
    {
      g_mutex_unlock (&threads->lock);
      g_set_error (error, HV_ERROR, HV_ERROR_INVALID_ARGUMENT,
                   "the I/O thread “%s” is a %s thread, not a %s one", thread,
                   hv_thread_role_to_string (hv_iothread_get_role (found)), hv_thread_role_to_string (role));
      return NULL;
    }
  g_mutex_unlock (&threads->lock);
  return hv_iothread_get_context (found);
}

unsigned
hv_io_threads_count (HvIoThreads *threads)
{
  unsigned count;

  g_mutex_lock (&threads->lock);
  count = 1 + g_hash_table_size (threads->named);
  g_mutex_unlock (&threads->lock);
  return count;
}
