/* test-io-threads.c — devices on their own I/O threads: a thread kept busy by a blocking handler (a disk
 * flush, a network poll) holds up only the devices placed on it, and the keyboard on another thread
 * still delivers the events it was given. */
#include "virtio-driver.h"
#include "devices/virtio-input.h"
#include "io/io-threads.h"
#include "iothread.h"

#include <glib-unix.h>
#include <linux/input.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#define EVENTQ_BASE  0x100000
#define STATUSQ_BASE 0x110000
#define EVENTS       0x200000 /* event buffers, 8 bytes each */

/* A handler that blocks the thread it runs on until told to return, as a synchronous fdatasync would. */
typedef struct
{
  GMutex lock;
  GCond cond;
  gboolean started;
  gboolean release;
  gboolean returned;
} BusyHandler;

static gboolean
busy_handler_run (gpointer data)
{
  BusyHandler *busy = data;

  g_mutex_lock (&busy->lock);
  busy->started = TRUE;
  g_cond_broadcast (&busy->cond);
  while (!busy->release)
    g_cond_wait (&busy->cond, &busy->lock);
  busy->returned = TRUE;
  g_cond_broadcast (&busy->cond);
  g_mutex_unlock (&busy->lock);
  return G_SOURCE_REMOVE;
}

/* Returns once the handler is running on @context, i.e. the thread iterating @context is stuck in it. */
static void
busy_handler_start (BusyHandler *busy, GMainContext *context)
{
  GSource *source = g_idle_source_new ();

  g_mutex_init (&busy->lock);
  g_cond_init (&busy->cond);
  busy->started = busy->release = busy->returned = FALSE;
  g_source_set_callback (source, busy_handler_run, busy, NULL);
  g_source_attach (source, context);
  g_source_unref (source);
  g_mutex_lock (&busy->lock);
  while (!busy->started)
    g_cond_wait (&busy->cond, &busy->lock);
  g_mutex_unlock (&busy->lock);
}

static gboolean
busy_handler_has_returned (BusyHandler *busy)
{
  gboolean returned;

  g_mutex_lock (&busy->lock);
  returned = busy->returned;
  g_mutex_unlock (&busy->lock);
  return returned;
}

static void
busy_handler_finish (BusyHandler *busy)
{
  g_mutex_lock (&busy->lock);
  busy->release = TRUE;
  g_cond_broadcast (&busy->cond);
  while (!busy->returned)
    g_cond_wait (&busy->cond, &busy->lock);
  g_mutex_unlock (&busy->lock);
  g_mutex_clear (&busy->lock);
  g_cond_clear (&busy->cond);
}

typedef struct
{
  TestMachine m;
  HvIoThreads *threads;
  HvPlatform keyboard_platform; /* the machine's platform, with the keyboard's I/O context */
  HvVirtioInput *keyboard;
  TestDriver d;
  TestQueue eventq;
  TestQueue statusq;
} Fixture;

/* A keyboard whose queue work runs on the I/O thread called @data (NULL: the shared one), brought up by
 * the driver with no event buffers yet. */
static void
fixture_setup (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  GMainContext *context;

  test_machine_init (&f->m);
  f->threads = hv_io_threads_new ("vireo-io", &error);
  g_assert_no_error (error);
  context = hv_io_threads_get (f->threads, data, &error);
  g_assert_no_error (error);
  f->keyboard_platform = f->m.tp.platform;
  f->keyboard_platform.io_context = context;
  f->keyboard = hv_virtio_input_new_keyboard (&f->keyboard_platform, f->m.pci, &error);
  g_assert_no_error (error);

  test_driver_probe (&f->d, &f->m, 1);
  g_assert_true (test_driver_negotiate (&f->d, HV_VIRTIO_FEATURE (HV_VIRTIO_F_VERSION_1)));
  test_queue_setup (&f->eventq, &f->d, 0, 64, EVENTQ_BASE, HV_VIRTIO_MSI_NO_VECTOR);
  test_queue_setup (&f->statusq, &f->d, 1, 64, STATUSQ_BASE, HV_VIRTIO_MSI_NO_VECTOR);
  test_driver_set_status (&f->d, test_driver_status (&f->d) | HV_VIRTIO_STATUS_DRIVER_OK);
  g_assert_true (hv_virtio_input_driver_ready (f->keyboard));
}

static void
fixture_teardown (Fixture *f, gconstpointer data)
{
  hv_virtio_input_free (f->keyboard);
  hv_io_threads_free (f->threads);
  test_machine_clear (&f->m);
}

/* A key press the device holds until the driver gives buffers (it has none yet), then the buffers and
 * the driver's notification, which the keyboard's I/O thread serves. */
static void
press_key_and_give_buffers (Fixture *f)
{
  g_assert_true (hv_virtio_input_send (f->keyboard, EV_KEY, KEY_A, 1));
  g_assert_true (hv_virtio_input_send (f->keyboard, EV_SYN, SYN_REPORT, 0));
  for (unsigned i = 0; i < 4; i++)
    test_queue_add (&f->eventq, EVENTS + 8ull * i, 8, TRUE);
  test_queue_kick (&f->eventq, 2);
}

static gboolean
take_event (Fixture *f, uint16_t *type, uint16_t *code, int32_t *value)
{
  uint32_t id, len;
  uint8_t raw[8];

  if (!test_queue_get_used (&f->eventq, &id, &len))
    return FALSE;
  g_assert_cmpuint (len, ==, 8);
  g_assert_cmpuint (id, <, 4);
  memcpy (raw, test_guest (f->d.machine, EVENTS + 8ull * id, 8), 8);
  *type = (uint16_t) (raw[0] | raw[1] << 8);
  *code = (uint16_t) (raw[2] | raw[3] << 8);
  *value = (int32_t) (raw[4] | raw[5] << 8 | raw[6] << 16 | (uint32_t) raw[7] << 24);
  return TRUE;
}

/* Waits for the key press to reach the driver.  The bound only turns a hang into a failure. */
static void
wait_for_key_press (Fixture *f)
{
  gint64 give_up = g_get_monotonic_time () + 60 * G_TIME_SPAN_SECOND;
  uint16_t type, code;
  int32_t value;

  while (!take_event (f, &type, &code, &value))
    {
      if (g_get_monotonic_time () > give_up)
        g_error ("the key press never reached the driver");
      g_usleep (G_TIME_SPAN_MILLISECOND);
    }
  g_assert_cmpuint (type, ==, EV_KEY);
  g_assert_cmpuint (code, ==, KEY_A);
  g_assert_cmpint (value, ==, 1);
  while (!take_event (f, &type, &code, &value))
    g_usleep (G_TIME_SPAN_MILLISECOND);
  g_assert_cmpuint (type, ==, EV_SYN);
  g_assert_cmpuint (code, ==, SYN_REPORT);
}

static void
test_named_threads (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (HvIoThreads) threads = hv_io_threads_new ("vireo-io", &error);
  GMainContext *disk, *net;

  g_assert_no_error (error);
  g_assert_cmpuint (hv_io_threads_count (threads), ==, 1);
  g_assert_true (hv_io_threads_get (threads, NULL, &error) == hv_io_threads_get_shared (threads));
  disk = hv_io_threads_get (threads, "disk0", &error);
  g_assert_no_error (error);
  net = hv_io_threads_get (threads, "net0", &error);
  g_assert_no_error (error);
  g_assert_true (disk != net);
  g_assert_true (disk != hv_io_threads_get_shared (threads));
  /* Devices naming the same thread share it. */
  g_assert_true (hv_io_threads_get (threads, "disk0", &error) == disk);
  g_assert_cmpuint (hv_io_threads_count (threads), ==, 3);

  g_assert_null (hv_io_threads_get (threads, "", &error));
  g_assert_error (error, HV_ERROR, HV_ERROR_INVALID_ARGUMENT);
}

/* An eventfd watched on an I/O thread, signalled by the test, answered by the thread. */
typedef struct
{
  int fd;
  GMutex lock;
  GCond cond;
  unsigned seen;
} PingPong;

static gboolean
ping_received (int fd, GIOCondition condition, gpointer data)
{
  PingPong *ping = data;
  eventfd_t count;

  (void) eventfd_read (fd, &count);
  g_mutex_lock (&ping->lock);
  ping->seen++;
  g_cond_signal (&ping->cond);
  g_mutex_unlock (&ping->lock);
  return G_SOURCE_CONTINUE;
}

/* Signals the eventfd and returns once the thread has handled it. */
static void
ping_once (PingPong *ping)
{
  unsigned before;

  g_mutex_lock (&ping->lock);
  before = ping->seen;
  g_mutex_unlock (&ping->lock);
  g_assert_cmpint (eventfd_write (ping->fd, 1), ==, 0);
  g_mutex_lock (&ping->lock);
  while (ping->seen == before)
    g_cond_wait (&ping->cond, &ping->lock);
  g_mutex_unlock (&ping->lock);
}

/* A thread with @max_ns (VIREO_POLL_MAX_NS) watching @ping's eventfd. */
static HvIoThread *
ping_thread_new (PingPong *ping, const char *max_ns, GSource **source)
{
  g_autoptr (GError) error = NULL;
  HvIoThread *thread;

  g_setenv ("VIREO_POLL_MAX_NS", max_ns, TRUE);
  thread = hv_iothread_new ("poll-test", &error);
  g_unsetenv ("VIREO_POLL_MAX_NS");
  g_assert_no_error (error);
  *source = g_unix_fd_source_new (ping->fd, G_IO_IN);
  g_source_set_callback (*source, G_SOURCE_FUNC (ping_received), ping, NULL);
  /* As the devices' sources: GLib does not wake the context after each dispatch, a wait that would
   * end at once and count as an event come quickly. */
  g_source_set_can_recurse (*source, TRUE);
  g_source_attach (*source, hv_iothread_get_context (thread));
  return thread;
}

static void
ping_thread_free (HvIoThread *thread, GSource *source)
{
  g_source_destroy (source);
  hv_iothread_barrier (hv_iothread_get_context (thread));
  g_source_unref (source);
  hv_iothread_free (thread);
}

/* Adaptive polling: an I/O thread whose events come one right after another polls before it sleeps,
 * with a window that grows no longer than its limit; events far apart close the window, so an idle
 * thread never spins; a limit of 0 turns polling off.  Events are handled throughout.  (The limit is
 * raised to 1 ms so that a loaded machine still answers inside it.) */
static void
test_adaptive_polling (void)
{
  PingPong ping = { 0 };
  HvIoThread *thread;
  GSource *source;
  unsigned i;

  ping.fd = eventfd (0, EFD_CLOEXEC | EFD_NONBLOCK);
  g_assert_cmpint (ping.fd, >=, 0);
  g_mutex_init (&ping.lock);
  g_cond_init (&ping.cond);

  thread = ping_thread_new (&ping, "1000000", &source);
  for (i = 0; i < 20000 && hv_iothread_get_poll_window (thread) == 0; i++)
    ping_once (&ping);
  g_assert_cmpint (hv_iothread_get_poll_window (thread), >, 0);
  for (i = 0; i < 200; i++)
    {
      ping_once (&ping);
      g_assert_cmpint (hv_iothread_get_poll_window (thread), <=, 1000000);
    }
  /* Every wait from now on is longer than the limit. */
  for (i = 0; i < 100 && hv_iothread_get_poll_window (thread) > 0; i++)
    {
      g_usleep (3 * G_TIME_SPAN_MILLISECOND);
      ping_once (&ping);
    }
  g_assert_cmpint (hv_iothread_get_poll_window (thread), ==, 0);
  ping_thread_free (thread, source);

  thread = ping_thread_new (&ping, "0", &source);
  for (i = 0; i < 2000; i++)
    ping_once (&ping);
  g_assert_cmpint (hv_iothread_get_poll_window (thread), ==, 0);
  ping_thread_free (thread, source);

  g_mutex_clear (&ping.lock);
  g_cond_clear (&ping.cond);
  close (ping.fd);
}

/* A disk-like device on the shared thread is stuck in a blocking call; the keyboard, on its own thread,
 * still takes the driver's buffers and delivers the key press while the disk's handler is running. */
static void
test_keyboard_while_shared_thread_busy (Fixture *f, gconstpointer data)
{
  BusyHandler disk;

  busy_handler_start (&disk, hv_io_threads_get_shared (f->threads));
  press_key_and_give_buffers (f);
  wait_for_key_press (f);
  g_assert_false (busy_handler_has_returned (&disk));
  busy_handler_finish (&disk);
}

/* The same with the keyboard on the shared thread and the disk on one of its own. */
static void
test_keyboard_while_disk_thread_busy (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  GMainContext *disk_context = hv_io_threads_get (f->threads, "disk0", &error);
  BusyHandler disk;

  g_assert_no_error (error);
  busy_handler_start (&disk, disk_context);
  press_key_and_give_buffers (f);
  wait_for_key_press (f);
  g_assert_false (busy_handler_has_returned (&disk));
  busy_handler_finish (&disk);
}

/* What the threads are for: on one thread, a blocking handler holds the keyboard's notification until
 * it returns.  (Nothing else iterates the context, so the used ring cannot move while it blocks.) */
static void
test_keyboard_behind_busy_handler_on_its_thread (Fixture *f, gconstpointer data)
{
  BusyHandler disk;
  uint16_t type, code;
  int32_t value;

  busy_handler_start (&disk, hv_io_threads_get_shared (f->threads));
  press_key_and_give_buffers (f);
  g_assert_false (take_event (f, &type, &code, &value));
  busy_handler_finish (&disk);
  wait_for_key_press (f);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/io-threads/named", test_named_threads);
  g_test_add_func ("/io-threads/adaptive-polling", test_adaptive_polling);
  g_test_add ("/io-threads/keyboard-own-thread/shared-busy", Fixture, "input", fixture_setup,
              test_keyboard_while_shared_thread_busy, fixture_teardown);
  g_test_add ("/io-threads/keyboard-shared-thread/disk-busy", Fixture, NULL, fixture_setup,
              test_keyboard_while_disk_thread_busy, fixture_teardown);
  g_test_add ("/io-threads/keyboard-shared-thread/shared-busy", Fixture, NULL, fixture_setup,
              test_keyboard_behind_busy_handler_on_its_thread, fixture_teardown);
  return g_test_run ();
}
