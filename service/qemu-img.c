/* qemu-img.c — qemu-img as a watched subprocess (qemu-img.h): the main loop waits for nothing; its
 * output is read as it comes, "(12.34/100%)" reports (qemu-img -p, separated by "\r") become progress
 * and the rest is kept for an error message. */
#include "qemu-img.h"
#include "vireo-error.h"

#include <stdio.h>
#include <string.h>

/* How much of what qemu-img says an error message keeps (its last words). */
#define OUTPUT_KEPT_MAX 4096
/* How much of what it says a caller that reads it gets (snapshot -l of thousands of snapshots). */
#define LINES_KEPT_MAX (1024 * 1024)

typedef struct
{
  VireoIdentity identity;
  GSubprocess *process;
  VireoQemuImgProgress progress;
  gpointer progress_data;
  double last_fraction;
  GString *output;  /* what it said, progress taken out */
  GString *lines;   /* the same, line by line, from the start */
  GString *pending; /* the line being read */
  gboolean output_done;
  gboolean process_done;
  gboolean process_ok;
  GError *process_error;
} QemuImgRun;

static void
qemu_img_run_free (gpointer data)
{
  QemuImgRun *run = data;

  g_clear_object (&run->process);
  g_string_free (run->output, TRUE);
  g_string_free (run->lines, TRUE);
  g_string_free (run->pending, TRUE);
  g_clear_error (&run->process_error);
  g_free (run);
}

char *
vireo_qemu_img_find (GError **error)
{
  char *path = g_find_program_in_path ("qemu-img");

  if (path == NULL)
    g_set_error_literal (error, VIREO_ERROR, VIREO_ERROR_NOT_SUPPORTED,
                         "this needs qemu-img, which is not installed (Debian: package qemu-utils)");
  return path;
}

static void
take_output (QemuImgRun *run, const char *text, gsize len)
{
  g_string_append_len (run->pending, text, (gssize) len);
  while (TRUE)
    {
      char *end = strpbrk (run->pending->str, "\r\n");
      g_autofree char *piece = NULL;
      double percent;

      if (end == NULL)
        break;
      piece = g_strndup (run->pending->str, (gsize) (end - run->pending->str));
      g_string_erase (run->pending, 0, end - run->pending->str + 1);
      g_strstrip (piece);
      if (*piece == '(' && sscanf (piece, "(%lf/100%%)", &percent) == 1)
        {
          double fraction = CLAMP (percent / 100.0, 0.0, 1.0);

          /* 1.0 is for the caller to say, once its work is done. */
          if (run->progress != NULL && fraction < 1.0 && fraction - run->last_fraction >= 0.01)
            {
              run->last_fraction = fraction;
              run->progress (fraction, run->progress_data);
            }
          continue;
        }
      if (*piece != '\0' && run->lines->len + strlen (piece) < LINES_KEPT_MAX)
        g_string_append_printf (run->lines, "%s\n", piece);
      if (*piece != '\0')
        {
          g_string_append_printf (run->output, "%s%s", run->output->len ? " " : "", piece);
          if (run->output->len > OUTPUT_KEPT_MAX)
            g_string_erase (run->output, 0, run->output->len - OUTPUT_KEPT_MAX);
        }
    }
  /* A line without an end is no longer than a line. */
  if (run->pending->len > OUTPUT_KEPT_MAX)
    g_string_truncate (run->pending, 0);
}

static void
maybe_done (GTask *task)
{
  QemuImgRun *run = g_task_get_task_data (task);
  int status;

  if (!run->output_done || !run->process_done)
    return;
  if (run->process_error != NULL)
    g_task_return_new_error (task, VIREO_ERROR, VIREO_ERROR_FAILED, "qemu-img did not finish: %s",
                             run->process_error->message);
  else if (run->process_ok)
    g_task_return_boolean (task, TRUE);
  else
    {
      status = g_subprocess_get_if_exited (run->process) ? g_subprocess_get_exit_status (run->process) : -1;
      if (status == 126)
        g_task_return_new_error (task, VIREO_ERROR, VIREO_ERROR_PERMISSION_DENIED,
                                 "qemu-img could not take the caller's identity");
      else
        g_task_return_new_error (task, VIREO_ERROR, VIREO_ERROR_FAILED, "qemu-img failed: %s",
                                 run->output->len ? run->output->str : "(it said nothing)");
    }
  g_object_unref (task);
}

static void
on_output (GObject *source, GAsyncResult *result, gpointer data)
{
  GTask *task = data;
  QemuImgRun *run = g_task_get_task_data (task);
  g_autoptr (GBytes) bytes = g_input_stream_read_bytes_finish (G_INPUT_STREAM (source), result, NULL);

  if (bytes == NULL || g_bytes_get_size (bytes) == 0)
    {
      take_output (run, "\n", 1);
      run->output_done = TRUE;
      maybe_done (task);
      return;
    }
  take_output (run, g_bytes_get_data (bytes, NULL), g_bytes_get_size (bytes));
  g_input_stream_read_bytes_async (G_INPUT_STREAM (source), 4096, G_PRIORITY_DEFAULT, NULL, on_output, task);
}

static void
on_exited (GObject *source, GAsyncResult *result, gpointer data)
{
  GTask *task = data;
  QemuImgRun *run = g_task_get_task_data (task);

  run->process_ok = g_subprocess_wait_finish (G_SUBPROCESS (source), result, &run->process_error)
                    && g_subprocess_get_successful (G_SUBPROCESS (source));
  /* Cancelled: qemu-img goes too (its output then ends). */
  if (run->process_error != NULL)
    g_subprocess_force_exit (G_SUBPROCESS (source));
  run->process_done = TRUE;
  maybe_done (task);
}

void
vireo_qemu_img_run_async (const char *const *argv, int fd, const VireoIdentity *identity,
                          VireoQemuImgProgress progress, gpointer progress_data, GCancellable *cancellable,
                          GAsyncReadyCallback callback, gpointer user_data)
{
  vireo_qemu_img_run_with_folder_async (argv, fd, -1, identity, progress, progress_data, cancellable,
                                        callback, user_data);
}

void
vireo_qemu_img_run_with_folder_async (const char *const *argv, int fd, int folder_fd,
                                      const VireoIdentity *identity, VireoQemuImgProgress progress,
                                      gpointer progress_data, GCancellable *cancellable,
                                      GAsyncReadyCallback callback, gpointer user_data)
{
  GTask *task = g_task_new (NULL, cancellable, callback, user_data);
  g_autoptr (GSubprocessLauncher) launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE
                                                                        | G_SUBPROCESS_FLAGS_STDERR_MERGE);
  g_autoptr (GError) error = NULL;
  QemuImgRun *run = g_new0 (QemuImgRun, 1);

  if (identity != NULL)
    run->identity = *identity;
  run->progress = progress;
  run->progress_data = progress_data;
  run->last_fraction = 0.0;
  run->output = g_string_new (NULL);
  run->lines = g_string_new (NULL);
  run->pending = g_string_new (NULL);
  g_task_set_task_data (task, run, qemu_img_run_free);

  g_subprocess_launcher_unsetenv (launcher, "LD_PRELOAD");
  if (fd >= 0)
    g_subprocess_launcher_take_fd (launcher, fd, 3);
  if (folder_fd >= 0)
    g_subprocess_launcher_take_fd (launcher, folder_fd, 4);
  /* The identity lives in the task data, which outlives the spawn. */
  g_subprocess_launcher_set_child_setup (launcher, vireo_identity_assume_in_child, &run->identity, NULL);
  run->process = g_subprocess_launcher_spawnv (launcher, argv, &error);
  if (run->process == NULL)
    {
      g_task_return_new_error (task, VIREO_ERROR, VIREO_ERROR_FAILED, "cannot run qemu-img: %s",
                               error->message);
      g_object_unref (task);
      return;
    }
  g_input_stream_read_bytes_async (g_subprocess_get_stdout_pipe (run->process), 4096, G_PRIORITY_DEFAULT,
                                   NULL, on_output, task);
  g_subprocess_wait_async (run->process, cancellable, on_exited, task);
}

gboolean
vireo_qemu_img_run_finish (GAsyncResult *result, GError **error)
{
  return g_task_propagate_boolean (G_TASK (result), error);
}

gboolean
vireo_qemu_img_run_finish_with_output (GAsyncResult *result, char **output, GError **error)
{
  QemuImgRun *run = g_task_get_task_data (G_TASK (result));

  if (!g_task_propagate_boolean (G_TASK (result), error))
    return FALSE;
  *output = g_strdup (run->lines->str);
  return TRUE;
}
