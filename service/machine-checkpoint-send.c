/* machine-checkpoint-send.c — the sending end of a machine's checkpoints moved to another host:
 * Machine.OpenCheckpointArchive, a pipe the service writes the archive of the checkpoints folder into
 * from a thread (checkpoint-archive.h), which the app copies to the other host's
 * ReceiveCheckpointArchive.
 *
 * The tree is copied when the call comes and the folders are read while no checkpoint operation may run
 * (machine->checkpoint_archives_sending): what goes out is one consistent tree.  The disks' internal
 * snapshots travel inside the images (OpenDiskImage).  A reader that stops reading holds the thread in
 * write(); closing its end ends it with EPIPE (vireod ignores SIGPIPE).
 */
#include "machine-checkpoints-private.h"
#include "checkpoint-archive.h"
#include "vireo-error.h"

#include <errno.h>
#include <fcntl.h>
#include <gio/gunixfdlist.h>
#include <unistd.h>

typedef struct
{
  VireoMachine *machine;
  VireoCheckpointTree *tree;
  int fd; /* the pipe's write end */
} ArchiveSend;

static void
archive_send_free (gpointer data)
{
  ArchiveSend *send = data;

  g_object_unref (send->machine);
  vireo_checkpoint_tree_free (send->tree);
  if (send->fd >= 0)
    close (send->fd);
  g_free (send);
}

static void
write_in_thread (GTask *task, gpointer source, gpointer data, GCancellable *cancellable)
{
  ArchiveSend *send = data;
  GError *error = NULL;
  gboolean ok = vireo_checkpoint_archive_write (send->fd, send->tree, &error);

  /* The reader sees the end now, not when the task is freed. */
  close (send->fd);
  send->fd = -1;
  if (ok)
    g_task_return_boolean (task, TRUE);
  else
    g_task_return_error (task, error);
}

static void
on_written (GObject *source, GAsyncResult *result, gpointer data)
{
  ArchiveSend *send = g_task_get_task_data (G_TASK (result));
  g_autoptr (GError) error = NULL;

  send->machine->checkpoint_archives_sending--;
  /* Nobody waits for the reply: the reader sees a stream without its end marker. */
  if (!g_task_propagate_boolean (G_TASK (result), &error))
    g_message ("%s: the checkpoint archive was not written whole: %s", send->machine->config->name,
               error->message);
}

/* Whether the machine's checkpoints may be read now; else the error returned. */
static gboolean
require_can_send (VireoMachine *machine, GDBusMethodInvocation *invocation)
{
  g_autoptr (GError) error = NULL;

  if (machine->checkpoints == NULL)
    {
      vireo_machine_return_error (invocation, VIREO_ERROR_NOT_FOUND, "“%s” was deleted",
                                  machine->config->name);
      return FALSE;
    }
  if (is_active (machine) || state_is (machine, "saved"))
    {
      vireo_machine_return_error (invocation, VIREO_ERROR_INVALID_STATE,
                                  "“%s” is %s; its checkpoints are moved only while it is off",
                                  machine->config->name, state (machine));
      return FALSE;
    }
  if (machine->disk_operation != NULL)
    {
      vireo_machine_return_error (invocation, VIREO_ERROR_INVALID_STATE, "“%s” has a %s operation under way",
                                  machine->config->name, machine->disk_operation);
      return FALSE;
    }
  if (machine->checkpoint_receive != NULL)
    {
      vireo_machine_return_error (invocation, VIREO_ERROR_INVALID_STATE,
                                  "“%s” is receiving checkpoints from another host", machine->config->name);
      return FALSE;
    }
  if (*machine->checkpoints->applying != '\0' || machine->checkpoints->doomed->len > 0)
    {
      vireo_machine_return_error (invocation, VIREO_ERROR_INVALID_STATE,
                                  "a checkpoint operation of the machine did not finish");
      return FALSE;
    }
  return TRUE;
}

gboolean
vireo_checkpoints_make_pipe (GDBusMethodInvocation *invocation, int fds[2])
{
  if (pipe2 (fds, O_CLOEXEC) == 0)
    return TRUE;
  {
    int errsv = errno;
    vireo_machine_return_error (invocation, vireo_error_code_for_errno (errsv), "cannot make a pipe: %s",
                                g_strerror (errsv));
  }
  return FALSE;
}

static void
open_checkpoint_archive (VireoMachine *machine, GDBusMethodInvocation *invocation)
{
  g_autoptr (GUnixFDList) fds = NULL;
  g_autoptr (GTask) task = NULL;
  ArchiveSend *send;
  int pipe_fds[2];

  if (!require_can_send (machine, invocation) || !vireo_checkpoints_make_pipe (invocation, pipe_fds))
    return;
  send = g_new0 (ArchiveSend, 1);
  send->machine = g_object_ref (machine);
  send->tree = vireo_checkpoint_tree_copy (machine->checkpoints);
  send->fd = pipe_fds[1];
  machine->checkpoint_archives_sending++;
  task = g_task_new (NULL, NULL, on_written, NULL);
  g_task_set_task_data (task, send, archive_send_free);
  g_task_run_in_thread (task, write_in_thread);

  fds = g_unix_fd_list_new_from_array (&pipe_fds[0], 1);
  vireo_dbus_machine_complete_open_checkpoint_archive (machine->iface, invocation, fds,
                                                       g_variant_new_handle (0));
}

static gboolean
handle_open_checkpoint_archive (VireoDBusMachine *iface, GDBusMethodInvocation *invocation, GUnixFDList *fds,
                                VireoMachine *machine)
{
  vireo_machine_authorize (machine, invocation, VIREO_ACTION_MODIFY, open_checkpoint_archive);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

void
vireo_machine_checkpoint_send_init (VireoMachine *machine)
{
  g_signal_connect (machine->iface, "handle-open-checkpoint-archive",
                    G_CALLBACK (handle_open_checkpoint_archive), machine);
}
