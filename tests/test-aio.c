/* test-aio.c — asynchronous file I/O on both engines (io_uring and the thread pool): data written comes
 * back, flushes and zeroing work, errors reach the request that caused them, a full queue refuses more,
 * drain waits for a request that is slow to finish, and many requests at once all complete. */
#include "io/aio.h"
#include "iothread.h"
#include "hv.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

typedef struct
{
  HvAioEngine engine;
  GMainContext *context; /* iterated by the test unless a test gives the HvAio a thread */
  HvAio *aio;
  char *path;
  int fd;
} Fixture;

/* What a completion callback saw. */
typedef struct
{
  gint done; /* atomic: callbacks may run on an I/O thread */
  int64_t result;
} Completion;

static void
completion_cb (void *opaque, int64_t result)
{
  Completion *completion = opaque;

  completion->result = result;
  g_atomic_int_set (&completion->done, 1);
}

static gboolean
make_aio (Fixture *f, GMainContext *context, unsigned depth)
{
  g_autoptr (GError) error = NULL;

  f->aio = hv_aio_new (context, depth, f->engine, &error);
  if (f->aio == NULL && f->engine == HV_AIO_ENGINE_IO_URING)
    {
      g_test_skip (error->message);
      return FALSE;
    }
  g_assert_no_error (error);
  g_assert_cmpint (hv_aio_get_engine (f->aio), ==, f->engine);
  return TRUE;
}

static void
fixture_setup (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;

  f->engine = GPOINTER_TO_INT (data);
  f->context = g_main_context_new ();
  f->fd = g_file_open_tmp ("vireo-aio-XXXXXX", &f->path, &error);
  g_assert_no_error (error);
}

static void
fixture_teardown (Fixture *f, gconstpointer data)
{
  g_clear_pointer (&f->aio, hv_aio_free);
  g_main_context_unref (f->context);
  close (f->fd);
  g_unlink (f->path);
  g_free (f->path);
}

static void
wait_for (Fixture *f, Completion *completion)
{
  while (!g_atomic_int_get (&completion->done))
    g_main_context_iteration (f->context, TRUE);
}

/* Submits and waits; returns the result. */
static int64_t
run (Fixture *f, HvAioOp op, int fd, const struct iovec *iov, unsigned n_iov, int64_t offset, uint64_t length)
{
  g_autoptr (GError) error = NULL;
  Completion completion = { 0 };

  g_assert_true (
      hv_aio_submit (f->aio, op, fd, iov, n_iov, offset, length, completion_cb, &completion, &error));
  g_assert_no_error (error);
  wait_for (f, &completion);
  g_assert_cmpuint (hv_aio_get_in_flight (f->aio), ==, 0);
  return completion.result;
}

static void
fill_pattern (uint8_t *buffer, gsize len, unsigned seed)
{
  for (gsize i = 0; i < len; i++)
    buffer[i] = (uint8_t) (i * 7 + seed * 13 + (i >> 8));
}

/* A pattern written from three buffers at an offset reads back into two others, the file holds it, and a
 * flush succeeds. */
static void
test_write_read_flush (Fixture *f, gconstpointer data)
{
  uint8_t pattern[10000], back[10000], file[10000];
  struct iovec out[3] = {
    { pattern, 1 },
    { pattern + 1, 4095 },
    { pattern + 4096, sizeof pattern - 4096 },
  };
  struct iovec in[2] = { { back, 5000 }, { back + 5000, 5000 } };

  if (!make_aio (f, f->context, 8))
    return;
  fill_pattern (pattern, sizeof pattern, 1);
  memset (back, 0, sizeof back);

  g_assert_cmpint (run (f, HV_AIO_WRITE, f->fd, out, 3, 4096, 0), ==, sizeof pattern);
  g_assert_cmpint (run (f, HV_AIO_FLUSH, f->fd, NULL, 0, 0, 0), ==, 0);
  g_assert_cmpint (run (f, HV_AIO_READ, f->fd, in, 2, 4096, 0), ==, sizeof back);
  g_assert_cmpmem (back, sizeof back, pattern, sizeof pattern);

  g_assert_cmpint (pread (f->fd, file, sizeof file, 4096), ==, sizeof file);
  g_assert_cmpmem (file, sizeof file, pattern, sizeof pattern);
  /* The hole before it reads as zeros. */
  g_assert_cmpint (run (f, HV_AIO_READ, f->fd, in, 1, 0, 0), ==, 5000);
  for (unsigned i = 0; i < 4096; i++)
    g_assert_cmpuint (back[i], ==, 0);
  g_assert_cmpmem (back + 4096, 5000 - 4096, pattern, 5000 - 4096);
}

/* Write-zeroes and discard leave zeros where the pattern was, and nothing else changes. */
static void
test_zeroes_and_discard (Fixture *f, gconstpointer data)
{
  static uint8_t pattern[65536], back[65536];
  struct iovec iov = { pattern, sizeof pattern };
  struct iovec in = { back, sizeof back };
  int64_t result;

  if (!make_aio (f, f->context, 4))
    return;
  fill_pattern (pattern, sizeof pattern, 2);
  g_assert_cmpint (run (f, HV_AIO_WRITE, f->fd, &iov, 1, 0, 0), ==, sizeof pattern);

  result = run (f, HV_AIO_WRITE_ZEROES, f->fd, NULL, 0, 4096, 8192);
  if (result == -EOPNOTSUPP)
    {
      g_test_skip ("the file system cannot zero ranges");
      return;
    }
  g_assert_cmpint (result, ==, 0);
  g_assert_cmpint (run (f, HV_AIO_DISCARD, f->fd, NULL, 0, 32768, 16384), ==, 0);

  g_assert_cmpint (run (f, HV_AIO_READ, f->fd, &in, 1, 0, 0), ==, sizeof back);
  for (gsize i = 0; i < sizeof back; i++)
    {
      gboolean zeroed = (i >= 4096 && i < 4096 + 8192) || (i >= 32768 && i < 32768 + 16384);
      g_assert_cmpuint (back[i], ==, zeroed ? 0 : pattern[i]);
    }
  /* Discard keeps the size; write-zeroes past the end grows the file as a write would. */
  g_assert_cmpint (lseek (f->fd, 0, SEEK_END), ==, sizeof pattern);
  g_assert_cmpint (run (f, HV_AIO_WRITE_ZEROES, f->fd, NULL, 0, sizeof pattern, 4096), ==, 0);
  g_assert_cmpint (lseek (f->fd, 0, SEEK_END), ==, sizeof pattern + 4096);
}

/* Failures of the I/O arrive as negative errnos in the request's callback; a read past the end is short. */
static void
test_errors (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  uint8_t buffer[4096];
  struct iovec iov = { buffer, sizeof buffer };
  int closed_fd, read_only_fd;
  Completion completion = { 0 };

  if (!make_aio (f, f->context, 4))
    return;

  closed_fd = dup (f->fd);
  close (closed_fd);
  g_assert_cmpint (run (f, HV_AIO_READ, closed_fd, &iov, 1, 0, 0), ==, -EBADF);
  g_assert_cmpint (run (f, HV_AIO_WRITE, closed_fd, &iov, 1, 0, 0), ==, -EBADF);
  g_assert_cmpint (run (f, HV_AIO_FLUSH, closed_fd, NULL, 0, 0, 0), ==, -EBADF);

  read_only_fd = open (f->path, O_RDONLY | O_CLOEXEC);
  g_assert_cmpint (read_only_fd, >=, 0);
  g_assert_cmpint (run (f, HV_AIO_WRITE, read_only_fd, &iov, 1, 0, 0), ==, -EBADF);
  g_assert_cmpint (run (f, HV_AIO_WRITE_ZEROES, read_only_fd, NULL, 0, 0, 4096), ==, -EBADF);
  close (read_only_fd);

  /* A 100-byte file: a read of 4 KiB gets 100 bytes, one past the end gets none. */
  memset (buffer, 0xaa, sizeof buffer);
  g_assert_cmpint (pwrite (f->fd, buffer, 100, 0), ==, 100);
  memset (buffer, 0, sizeof buffer);
  g_assert_cmpint (run (f, HV_AIO_READ, f->fd, &iov, 1, 0, 0), ==, 100);
  g_assert_cmpuint (buffer[99], ==, 0xaa);
  g_assert_cmpuint (buffer[100], ==, 0);
  g_assert_cmpint (run (f, HV_AIO_READ, f->fd, &iov, 1, 4096, 0), ==, 0);

  /* Requests that cannot be made are refused at once, and nothing is left in flight. */
  g_assert_false (
      hv_aio_submit (f->aio, HV_AIO_READ, f->fd, &iov, 1, -2, 0, completion_cb, &completion, &error));
  g_assert_error (error, HV_ERROR, HV_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);
  g_assert_false (
      hv_aio_submit (f->aio, HV_AIO_DISCARD, f->fd, NULL, 0, 0, 0, completion_cb, &completion, &error));
  g_assert_error (error, HV_ERROR, HV_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);
  g_assert_false (hv_aio_submit (f->aio, HV_AIO_WRITE, f->fd, &iov, HV_AIO_MAX_IOV + 1, 0, 0, completion_cb,
                                 &completion, &error));
  g_assert_error (error, HV_ERROR, HV_ERROR_INVALID_ARGUMENT);
  g_assert_cmpuint (hv_aio_get_in_flight (f->aio), ==, 0);
  g_assert_false (g_atomic_int_get (&completion.done));
}

/* Writes @data to a pipe once told to: the slow end of a slow request. */
typedef struct
{
  int fd;
  GMutex lock;
  GCond cond;
  gboolean go;
  gint written; /* atomic */
} DelayedWriter;

static gpointer
delayed_writer_run (gpointer data)
{
  DelayedWriter *writer = data;

  g_mutex_lock (&writer->lock);
  while (!writer->go)
    g_cond_wait (&writer->cond, &writer->lock);
  g_mutex_unlock (&writer->lock);
  /* Give a drain that returns too early the chance to be caught. */
  g_usleep (50 * G_TIME_SPAN_MILLISECOND);
  g_atomic_int_set (&writer->written, 1);
  g_assert_cmpint (write (writer->fd, "slow", 4), ==, 4);
  return NULL;
}

static void
delayed_writer_go (DelayedWriter *writer)
{
  g_mutex_lock (&writer->lock);
  writer->go = TRUE;
  g_cond_signal (&writer->cond);
  g_mutex_unlock (&writer->lock);
}

/* A read from a pipe whose writer is late stays in flight; the queue refuses a request beyond its depth;
 * the context stays free to run other work meanwhile; drain returns only once the read completed and its
 * callback ran — from the thread that owns the context (@data's thread NULL) or from another thread
 * while an I/O thread delivers completions. */
static void
check_drain (Fixture *f, GMainContext *context)
{
  g_autoptr (GError) error = NULL;
  DelayedWriter writer = { 0 };
  Completion slow = { 0 }, refused = { 0 };
  char buffer[16] = { 0 };
  struct iovec iov = { buffer, sizeof buffer };
  int pipe_fds[2];
  GThread *thread;

  if (!make_aio (f, context, 1))
    return;
  g_assert_cmpint (pipe2 (pipe_fds, O_CLOEXEC), ==, 0);
  writer.fd = pipe_fds[1];
  g_mutex_init (&writer.lock);
  g_cond_init (&writer.cond);
  thread = g_thread_new ("late-writer", delayed_writer_run, &writer);

  g_assert_true (hv_aio_submit (f->aio, HV_AIO_READ, pipe_fds[0], &iov, 1, HV_AIO_OFFSET_STREAM, 0,
                                completion_cb, &slow, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (hv_aio_get_free_slots (f->aio), ==, 0);
  g_assert_false (
      hv_aio_submit (f->aio, HV_AIO_FLUSH, f->fd, NULL, 0, 0, 0, completion_cb, &refused, &error));
  g_assert_error (error, HV_ERROR, HV_ERROR_INVALID_STATE);

  if (context == f->context)
    {
      /* The request blocks nothing: the device's context goes on dispatching. */
      while (g_main_context_iteration (f->context, FALSE))
        ;
      g_assert_false (g_atomic_int_get (&slow.done));
    }
  g_assert_cmpuint (hv_aio_get_in_flight (f->aio), ==, 1);

  delayed_writer_go (&writer);
  hv_aio_drain (f->aio);
  g_assert_true (g_atomic_int_get (&writer.written));
  g_assert_true (g_atomic_int_get (&slow.done));
  g_assert_cmpint (slow.result, ==, 4);
  g_assert_cmpstr (buffer, ==, "slow");
  g_assert_cmpuint (hv_aio_get_in_flight (f->aio), ==, 0);
  g_assert_cmpuint (hv_aio_get_free_slots (f->aio), ==, 1);
  g_assert_false (g_atomic_int_get (&refused.done));

  g_thread_join (thread);
  g_mutex_clear (&writer.lock);
  g_cond_clear (&writer.cond);
  close (pipe_fds[0]);
  close (pipe_fds[1]);
}

static void
test_drain_here (Fixture *f, gconstpointer data)
{
  check_drain (f, f->context);
}

static void
test_drain_io_thread (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (HvIoThread) thread = hv_iothread_new ("aio-test", &error);

  g_assert_no_error (error);
  check_drain (f, hv_iothread_get_context (thread));
  /* The HvAio goes before the thread that delivers its completions. */
  g_clear_pointer (&f->aio, hv_aio_free);
}

#define CANCEL_REQUESTS 6

/* Reads from pipes nobody writes yet, more than the thread pool runs at once: a cancel stops those not
 * started (thread pool) or all of them (io_uring, where a read waiting for data can be stopped).  Every
 * request completes, cancelled or with its data; one submitted after the cancel is not affected. */
static void
test_cancel (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  Completion completions[CANCEL_REQUESTS + 1] = { 0 };
  char buffers[CANCEL_REQUESTS + 1][8] = { 0 };
  int pipes[CANCEL_REQUESTS + 1][2];
  unsigned cancelled = 0;

  if (!make_aio (f, f->context, CANCEL_REQUESTS + 1))
    return;
  for (unsigned i = 0; i <= CANCEL_REQUESTS; i++)
    {
      struct iovec iov = { buffers[i], sizeof buffers[i] - 1 };

      g_assert_cmpint (pipe2 (pipes[i], O_CLOEXEC), ==, 0);
      if (i == CANCEL_REQUESTS)
        hv_aio_cancel (f->aio);
      g_assert_true (hv_aio_submit (f->aio, HV_AIO_READ, pipes[i][0], &iov, 1, HV_AIO_OFFSET_STREAM, 0,
                                    completion_cb, &completions[i], &error));
      g_assert_no_error (error);
    }
  g_assert_cmpuint (hv_aio_get_in_flight (f->aio), ==, CANCEL_REQUESTS + 1);

  /* Whatever was not cancelled finds data to read. */
  for (unsigned i = 0; i <= CANCEL_REQUESTS; i++)
    g_assert_cmpint (write (pipes[i][1], "data", 4), ==, 4);
  hv_aio_drain (f->aio);
  g_assert_cmpuint (hv_aio_get_in_flight (f->aio), ==, 0);

  for (unsigned i = 0; i < CANCEL_REQUESTS; i++)
    {
      g_assert_true (completions[i].done);
      if (completions[i].result == -ECANCELED)
        {
          cancelled++;
          g_assert_cmpstr (buffers[i], ==, "");
        }
      else
        {
          g_assert_cmpint (completions[i].result, ==, 4);
          g_assert_cmpstr (buffers[i], ==, "data");
        }
    }
  g_assert_cmpuint (cancelled, >=, 1);
  if (f->engine == HV_AIO_ENGINE_IO_URING)
    g_assert_cmpuint (cancelled, ==, CANCEL_REQUESTS);
  g_assert_cmpint (completions[CANCEL_REQUESTS].result, ==, 4);
  g_assert_cmpstr (buffers[CANCEL_REQUESTS], ==, "data");

  for (unsigned i = 0; i <= CANCEL_REQUESTS; i++)
    {
      close (pipes[i][0]);
      close (pipes[i][1]);
    }
}

#define MANY_BLOCKS 512
#define BLOCK_SIZE  4096
#define MANY_DEPTH  64

typedef struct
{
  Fixture *f;
  unsigned completed;
  unsigned failed;
} Many;

static void
many_cb (void *opaque, int64_t result)
{
  Many *many = opaque;

  many->completed++;
  if (result != BLOCK_SIZE)
    many->failed++;
}

/* Keeps the queue full: submits every block, waiting for room when there is none. */
static void
run_many (Fixture *f, Many *many, HvAioOp op, uint8_t *blocks)
{
  g_autoptr (GError) error = NULL;
  unsigned max_in_flight = 0;

  many->completed = many->failed = 0;
  for (unsigned i = 0; i < MANY_BLOCKS; i++)
    {
      /* Scattered order, so requests complete out of order. */
      unsigned block = (i * 37) % MANY_BLOCKS;
      struct iovec iov = { blocks + (gsize) block * BLOCK_SIZE, BLOCK_SIZE };

      while (hv_aio_get_free_slots (f->aio) == 0)
        g_main_context_iteration (f->context, TRUE);
      g_assert_true (
          hv_aio_submit (f->aio, op, f->fd, &iov, 1, (int64_t) block * BLOCK_SIZE, 0, many_cb, many, &error));
      g_assert_no_error (error);
      max_in_flight = MAX (max_in_flight, hv_aio_get_in_flight (f->aio));
    }
  g_assert_cmpuint (max_in_flight, <=, MANY_DEPTH);
  hv_aio_drain (f->aio);
  g_assert_cmpuint (many->completed, ==, MANY_BLOCKS);
  g_assert_cmpuint (many->failed, ==, 0);
}

static void
test_many (Fixture *f, gconstpointer data)
{
  g_autofree uint8_t *out = g_malloc ((gsize) MANY_BLOCKS * BLOCK_SIZE);
  g_autofree uint8_t *in = g_malloc0 ((gsize) MANY_BLOCKS * BLOCK_SIZE);
  Many many = { f, 0, 0 };

  if (!make_aio (f, f->context, MANY_DEPTH))
    return;
  for (unsigned i = 0; i < MANY_BLOCKS; i++)
    fill_pattern (out + (gsize) i * BLOCK_SIZE, BLOCK_SIZE, i);
  run_many (f, &many, HV_AIO_WRITE, out);
  g_assert_cmpint (run (f, HV_AIO_FLUSH, f->fd, NULL, 0, 0, 0), ==, 0);
  run_many (f, &many, HV_AIO_READ, in);
  g_assert_cmpmem (in, (gsize) MANY_BLOCKS * BLOCK_SIZE, out, (gsize) MANY_BLOCKS * BLOCK_SIZE);
}

/* VIREO_AIO picks the engine when the caller leaves the choice; a wrong value is an error. */
static void
test_engine_from_environment (void)
{
  if (g_test_subprocess ())
    {
      g_autoptr (GError) error = NULL;
      g_autoptr (GMainContext) context = g_main_context_new ();
      g_autoptr (HvAio) aio = NULL;

      g_setenv ("VIREO_AIO", "threads", TRUE);
      aio = hv_aio_new (context, 4, HV_AIO_ENGINE_DEFAULT, &error);
      g_assert_no_error (error);
      g_assert_cmpint (hv_aio_get_engine (aio), ==, HV_AIO_ENGINE_THREADS);
      g_setenv ("VIREO_AIO", "posix", TRUE);
      g_assert_null (hv_aio_new (context, 4, HV_AIO_ENGINE_DEFAULT, &error));
      g_assert_error (error, HV_ERROR, HV_ERROR_INVALID_ARGUMENT);
      g_clear_error (&error);
      g_assert_null (hv_aio_new (context, 0, HV_AIO_ENGINE_THREADS, &error));
      g_assert_error (error, HV_ERROR, HV_ERROR_INVALID_ARGUMENT);
      return;
    }
  g_test_trap_subprocess (NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
  g_test_trap_assert_passed ();
}

/* As a sandbox that forbids io_uring does: io_uring_setup fails with EPERM (a filter on this process). */
static void
forbid_io_uring (void)
{
  struct sock_filter code[] = {
    BPF_STMT (BPF_LD | BPF_W | BPF_ABS, offsetof (struct seccomp_data, nr)),
    BPF_JUMP (BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_setup, 0, 1),
    BPF_STMT (BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
    BPF_STMT (BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
  };
  struct sock_fprog program = { .len = G_N_ELEMENTS (code), .filter = code };

  g_assert_cmpint (prctl (PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), ==, 0);
  g_assert_cmpint (prctl (PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &program), ==, 0);
}

/* Where io_uring cannot be set up, the default engine is the thread pool, and it works; asking for
 * io_uring says why not. */
static void
test_fallback_without_io_uring (void)
{
  if (g_test_subprocess ())
    {
      g_autoptr (GError) error = NULL;
      g_autoptr (GMainContext) context = g_main_context_new ();
      g_autoptr (HvAio) aio = NULL;
      char data[] = "fallback", back[sizeof data] = { 0 };
      struct iovec out = { data, sizeof data }, in = { back, sizeof back };
      Completion written = { 0 }, read = { 0 };
      g_autofree char *path = NULL;
      int fd;

      forbid_io_uring ();
      g_assert_null (hv_aio_new (context, 4, HV_AIO_ENGINE_IO_URING, &error));
      g_assert_error (error, HV_ERROR, HV_ERROR_FAILED);
      g_assert_nonnull (strstr (error->message, g_strerror (EPERM)));
      g_clear_error (&error);

      aio = hv_aio_new (context, 4, HV_AIO_ENGINE_DEFAULT, &error);
      g_assert_no_error (error);
      g_assert_cmpint (hv_aio_get_engine (aio), ==, HV_AIO_ENGINE_THREADS);
      fd = g_file_open_tmp ("vireo-aio-XXXXXX", &path, &error);
      g_assert_no_error (error);
      g_assert_true (hv_aio_submit (aio, HV_AIO_WRITE, fd, &out, 1, 512, 0, completion_cb, &written, &error));
      hv_aio_drain (aio);
      g_assert_cmpint (written.result, ==, sizeof data);
      g_assert_true (hv_aio_submit (aio, HV_AIO_READ, fd, &in, 1, 512, 0, completion_cb, &read, &error));
      hv_aio_drain (aio);
      g_assert_cmpint (read.result, ==, sizeof data);
      g_assert_cmpstr (back, ==, "fallback");
      close (fd);
      g_unlink (path);
      return;
    }
  g_test_trap_subprocess (NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
  g_test_trap_assert_passed ();
}

static void
add_for_engines (const char *name, void (*test) (Fixture *, gconstpointer))
{
  static const HvAioEngine engines[] = { HV_AIO_ENGINE_IO_URING, HV_AIO_ENGINE_THREADS };

  for (unsigned i = 0; i < G_N_ELEMENTS (engines); i++)
    {
      g_autofree char *path = g_strdup_printf ("/aio/%s/%s", hv_aio_engine_name (engines[i]), name);
      g_test_add (path, Fixture, GINT_TO_POINTER (engines[i]), fixture_setup, test, fixture_teardown);
    }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  /* The choice is the test's, not the environment's. */
  g_unsetenv ("VIREO_AIO");
  add_for_engines ("write-read-flush", test_write_read_flush);
  add_for_engines ("zeroes-and-discard", test_zeroes_and_discard);
  add_for_engines ("errors", test_errors);
  add_for_engines ("drain/here", test_drain_here);
  add_for_engines ("drain/io-thread", test_drain_io_thread);
  add_for_engines ("cancel", test_cancel);
  add_for_engines ("many", test_many);
  g_test_add_func ("/aio/engine-from-environment", test_engine_from_environment);
  g_test_add_func ("/aio/fallback-without-io-uring", test_fallback_without_io_uring);
  return g_test_run ();
}
