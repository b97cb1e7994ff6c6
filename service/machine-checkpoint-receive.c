/* machine-checkpoint-receive.c — the receiving end of a machine's checkpoints moved from another host:
 * Machine.ReceiveCheckpointArchive (a pipe whose archive a thread reads into
 * <machine dir>/checkpoints.incoming, checkpoint-archive.h) and Machine.FinishCheckpointArchive (once
 * read: the definitions checked and pointed at this machine's images, the tree checked, all of it flushed
 * and renamed to <machine dir>/checkpoints in one step, then loaded and exported as at start).
 *
 * Until that rename nothing received is the machine's: a failure, or a vireod that stops halfway (the
 * folder is removed at the next load), leaves the machine without checkpoints, as it was.  The receive
 * lives in memory (machine->checkpoint_receive) from ReceiveCheckpointArchive until
 * FinishCheckpointArchive returns; meanwhile no checkpoint operation runs and the machine does not start,
 * so the machine still has no checkpoints of its own when the folder takes its place.
 *
 * The received tree's journal keys (applying, doomed) are dropped: they would name work of another host
 * for this one's recovery to do on its disks.
 */
#include "machine-checkpoints-private.h"
#include "checkpoint-archive.h"
#include "machine-store.h"
#include "vireo-error.h"

#include <errno.h>
#include <fcntl.h>
#include <gio/gunixfdlist.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define INCOMING_NAME    "checkpoints.incoming"
#define CHECKPOINTS_NAME "checkpoints"

typedef struct
{
  char *machine_dir;
  char *incoming;
  int fd;           /* the pipe's read end, until the reading thread ends */
  gboolean running; /* a thread works on it */
  gboolean read;    /* the reading thread ended (error: how) */
  GError *error;
  guint64 size;
  char *sha256;
  GDBusMethodInvocation *finishing; /* FinishCheckpointArchive, waiting */
  GPtrArray *images;                /* the machine's writable qcow2 images, for the snapshots' check */
} ArchiveReceive;

static void
archive_receive_free (ArchiveReceive *receive)
{
  g_free (receive->machine_dir);
  g_free (receive->incoming);
  if (receive->fd >= 0)
    close (receive->fd);
  g_clear_error (&receive->error);
  g_free (receive->sha256);
  g_clear_object (&receive->finishing);
  g_clear_pointer (&receive->images, g_ptr_array_unref);
  g_free (receive);
}

/* Removes <@machine_dir>/checkpoints.incoming and whatever is in it. */
static gboolean
remove_incoming (const char *machine_dir, GError **error)
{
  int dir_fd = open (machine_dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  gboolean ok;

  if (dir_fd < 0)
    {
      int errsv = errno;
      g_set_error (error, VIREO_ERROR, VIREO_ERROR_FAILED, "cannot open %s: %s", machine_dir,
                   g_strerror (errsv));
      return FALSE;
    }
  ok = vireo_remove_tree_at (dir_fd, INCOMING_NAME, FALSE, error);
  close (dir_fd);
  return ok;
}

/* The receive is over: the machine lets go of it. */
static void
end_receive (VireoMachine *machine, ArchiveReceive *receive)
{
  if (machine->checkpoint_receive == receive)
    machine->checkpoint_receive = NULL;
  archive_receive_free (receive);
}

/* ---- ReceiveCheckpointArchive ---- */

static void
read_in_thread (GTask *task, gpointer source, gpointer data, GCancellable *cancellable)
{
  ArchiveReceive *receive = data;
  GError *error = NULL;
  gboolean ok = remove_incoming (receive->machine_dir, &error)
                && vireo_checkpoint_archive_read (receive->fd, receive->incoming, &receive->size,
                                                  &receive->sha256, &error);

  /* The sender sees the end now: a refused archive stops its writes. */
  close (receive->fd);
  receive->fd = -1;
  if (!ok)
    {
      remove_incoming (receive->machine_dir, NULL);
      g_task_return_error (task, error);
      return;
    }
  g_task_return_boolean (task, TRUE);
}

static void settle (VireoMachine *machine, ArchiveReceive *receive);

static void
on_read (GObject *source, GAsyncResult *result, gpointer data)
{
  VireoMachine *machine = VIREO_MACHINE (source);
  ArchiveReceive *receive = data;

  receive->running = FALSE;
  receive->read = TRUE;
  g_task_propagate_boolean (G_TASK (result), &receive->error);
  if (machine->checkpoint_receive != receive)
    {
      /* The machine was deleted meanwhile. */
      archive_receive_free (receive);
      return;
    }
  if (receive->finishing != NULL)
    settle (machine, receive);
}

static void
receive_checkpoint_archive (VireoMachine *machine, GDBusMethodInvocation *invocation)
{
  g_autoptr (GUnixFDList) fds = NULL;
  g_autoptr (GTask) task = NULL;
  ArchiveReceive *receive;
  int pipe_fds[2];

  if (machine->checkpoints == NULL)
    {
      vireo_machine_return_error (invocation, VIREO_ERROR_NOT_FOUND, "“%s” was deleted",
                                  machine->config->name);
      return;
    }
  if (is_active (machine) || state_is (machine, "saved"))
    {
      vireo_machine_return_error (invocation, VIREO_ERROR_INVALID_STATE,
                                  "“%s” is %s; checkpoints are received only while it is off",
                                  machine->config->name, state (machine));
      return;
    }
  if (machine->checkpoint_receive != NULL)
    {
      vireo_machine_return_error (invocation, VIREO_ERROR_INVALID_STATE,
                                  "“%s” is receiving checkpoints already", machine->config->name);
      return;
    }
  if (machine->checkpoints->nodes->len > 0 || machine->checkpoints->doomed->len > 0
      || *machine->checkpoints->applying != '\0'
      /* An unreadable tree.ini is kept for someone to look at, not replaced. */
      || !g_str_has_suffix (machine->checkpoints->dir, G_DIR_SEPARATOR_S CHECKPOINTS_NAME))
    {
      vireo_machine_return_error (invocation, VIREO_ERROR_INVALID_STATE,
                                  "the machine has checkpoints already");
      return;
    }
  if (machine->checkpoint_op != NULL || machine->checkpoint_archives_sending > 0)
    {
      vireo_machine_return_error (invocation, VIREO_ERROR_INVALID_STATE,
                                  "“%s” has a checkpoint operation under way", machine->config->name);
      return;
    }
  if (!vireo_checkpoints_make_pipe (invocation, pipe_fds))
    return;
  receive = g_new0 (ArchiveReceive, 1);
  receive->machine_dir = vireo_machine_store_machine_dir (machine->daemon->store, machine->config->uuid);
  receive->incoming = g_build_filename (receive->machine_dir, INCOMING_NAME, NULL);
  receive->fd = pipe_fds[0];
  receive->running = TRUE;
  machine->checkpoint_receive = receive;
  task = g_task_new (machine, NULL, on_read, receive);
  g_task_set_task_data (task, receive, NULL);
  g_task_run_in_thread (task, read_in_thread);

  fds = g_unix_fd_list_new_from_array (&pipe_fds[1], 1);
  vireo_dbus_machine_complete_receive_checkpoint_archive (machine->iface, invocation, fds,
                                                          g_variant_new_handle (0));
}

static gboolean
handle_receive_checkpoint_archive (VireoDBusMachine *iface, GDBusMethodInvocation *invocation,
                                   GUnixFDList *fds, VireoMachine *machine)
{
  vireo_machine_authorize (machine, invocation, VIREO_ACTION_MODIFY, receive_checkpoint_archive);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

/* ---- FinishCheckpointArchive: settling the received folder (in a thread) ---- */

static gboolean
fsync_folder (const char *path, GError **error)
{
  int fd = open (path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  int errsv = fd < 0 ? errno : 0;

  if (fd >= 0 && fsync (fd) < 0)
    errsv = errno;
  if (fd >= 0)
    close (fd);
  if (errsv != 0)
    g_set_error (error, VIREO_ERROR, VIREO_ERROR_FAILED, "cannot flush %s to disk: %s", path,
                 g_strerror (errsv));
  return errsv == 0;
}

/* Checkpoint @id's definition, checked to parse, its disks pointed at the images of this machine's folder
 * that have their file names; written back atomically. */
static gboolean
settle_definition (ArchiveReceive *receive, const char *id, GError **error)
{
  g_autofree char *folder = g_build_filename (receive->incoming, id, NULL);
  g_autofree char *path = g_build_filename (folder, "definition.xml", NULL);
  g_autofree char *new_path = g_build_filename (folder, "definition.xml.new", NULL);
  g_autoptr (VireoMachineConfig) config = NULL;
  g_autoptr (GError) local = NULL;
  g_autofree char *xml = NULL;
  g_autofree char *rewritten = NULL;
  struct stat st;
  int fd;

  if (lstat (path, &st) < 0 || !S_ISREG (st.st_mode) || !g_file_get_contents (path, &xml, NULL, NULL))
    {
      g_set_error (error, VIREO_ERROR, VIREO_ERROR_FAILED,
                   "checkpoint %s of the archive's tree has no folder with a definition.xml", id);
      return FALSE;
    }
  if ((config = vireo_machine_config_new_from_xml (xml, &local)) == NULL)
    {
      g_set_error (error, VIREO_ERROR, VIREO_ERROR_FAILED,
                   "the definition of checkpoint %s in the archive is not a machine definition: %s", id,
                   local->message);
      return FALSE;
    }
  for (guint i = 0; i < config->disks->len; i++)
    {
      VireoDiskConfig *disk = g_ptr_array_index (config->disks, i);
      g_autofree char *base = NULL;
      g_autofree char *here = NULL;

      if (disk->path == NULL || *disk->path == '\0')
        continue;
      base = g_path_get_basename (disk->path);
      here = g_build_filename (receive->machine_dir, base, NULL);
      if (strcmp (base, "/") != 0 && strcmp (base, ".") != 0 && lstat (here, &st) == 0
          && S_ISREG (st.st_mode))
        {
          g_free (disk->path);
          disk->path = g_steal_pointer (&here);
        }
    }
  rewritten = vireo_machine_config_to_xml (config);
  fd = open (new_path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0 || write (fd, rewritten, strlen (rewritten)) != (ssize_t) strlen (rewritten) || fsync (fd) < 0
      || rename (new_path, path) < 0)
    {
      int errsv = errno;
      if (fd >= 0)
        close (fd);
      g_set_error (error, VIREO_ERROR, VIREO_ERROR_FAILED, "cannot write %s: %s", path, g_strerror (errsv));
      return FALSE;
    }
  close (fd);
  return fsync_folder (folder, error);
}

/* Logs each checkpoint of @tree whose snapshot one of @images lacks (Apply would report it). */
static void
warn_missing_snapshots (const VireoCheckpointTree *tree, GPtrArray *images)
{
  for (guint i = 0; i < images->len; i++)
    {
      const char *image = g_ptr_array_index (images, i);
      int fd = open (image, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
      g_autoptr (GPtrArray) ids = fd >= 0 ? vireo_checkpoint_disk_snapshot_ids (fd, NULL) : NULL;

      if (fd >= 0)
        close (fd);
      for (guint j = 0; j < tree->nodes->len; j++)
        {
          const VireoCheckpoint *checkpoint = g_ptr_array_index (tree->nodes, j);
          gboolean found = FALSE;

          for (guint k = 0; ids != NULL && k < ids->len && !found; k++)
            found = strcmp (g_ptr_array_index (ids, k), checkpoint->id) == 0;
          if (!found)
            g_warning ("the image %s has no snapshot %s%s of the received checkpoint “%s”", image,
                       VIREO_CHECKPOINT_SNAPSHOT_PREFIX, checkpoint->id, checkpoint->name);
        }
    }
}

/* The received folder takes the place of <machine dir>/checkpoints, which holds no checkpoint (at most
 * an empty tree): exchanged in one step, then the old one removed. */
static gboolean
put_in_place (ArchiveReceive *receive, GError **error)
{
  int dir_fd = open (receive->machine_dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  int errsv = 0;

  if (dir_fd < 0)
    errsv = errno;
  else if (renameat2 (dir_fd, INCOMING_NAME, dir_fd, CHECKPOINTS_NAME, RENAME_NOREPLACE) < 0)
    {
      if (errno != EEXIST || renameat2 (dir_fd, INCOMING_NAME, dir_fd, CHECKPOINTS_NAME, RENAME_EXCHANGE) < 0)
        errsv = errno;
    }
  if (errsv == 0 && fsync (dir_fd) < 0)
    errsv = errno;
  if (dir_fd >= 0)
    close (dir_fd);
  if (errsv != 0)
    {
      g_set_error (error, VIREO_ERROR, VIREO_ERROR_FAILED,
                   "cannot put the received checkpoints in place in %s: %s", receive->machine_dir,
                   g_strerror (errsv));
      return FALSE;
    }
  /* What was exchanged out (an empty tree) is no longer anybody's. */
  remove_incoming (receive->machine_dir, NULL);
  return TRUE;
}

static void
settle_in_thread (GTask *task, gpointer source, gpointer data, GCancellable *cancellable)
{
  ArchiveReceive *receive = data;
  g_autoptr (VireoCheckpointTree) tree = NULL;
  GError *error = NULL;
  gboolean ok = (tree = vireo_checkpoint_tree_load_dir (receive->incoming, &error)) != NULL;

  if (ok)
    {
      g_free (tree->applying);
      tree->applying = g_strdup ("");
      g_ptr_array_set_size (tree->doomed, 0);
    }
  for (guint i = 0; ok && i < tree->nodes->len; i++)
    ok = settle_definition (receive, ((VireoCheckpoint *) g_ptr_array_index (tree->nodes, i))->id, &error);
  ok = ok && vireo_checkpoint_tree_remove_strays (tree, &error) && vireo_checkpoint_tree_save (tree, &error)
       && put_in_place (receive, &error);
  if (!ok)
    {
      remove_incoming (receive->machine_dir, NULL);
      g_task_return_error (task, error);
      return;
    }
  warn_missing_snapshots (tree, receive->images);
  g_task_return_boolean (task, TRUE);
}

static void
on_settled (GObject *source, GAsyncResult *result, gpointer data)
{
  VireoMachine *machine = VIREO_MACHINE (source);
  ArchiveReceive *receive = data;
  g_autoptr (GError) error = NULL;
  VireoCheckpointTree *tree;

  receive->running = FALSE;
  if (machine->checkpoint_receive != receive)
    {
      /* The machine was deleted meanwhile. */
      archive_receive_free (receive);
      return;
    }
  if (!g_task_propagate_boolean (G_TASK (result), &error))
    {
      if (receive->finishing != NULL)
        g_dbus_method_invocation_return_gerror (receive->finishing, error);
      end_receive (machine, receive);
      return;
    }
  if (machine->checkpoints != NULL)
    {
      /* Loaded as at start: the service's own reading of its own folder. */
      if ((tree = vireo_checkpoint_tree_load (receive->machine_dir, &error)) == NULL)
        g_warning ("%s: %s", machine->config->name, error->message);
      else
        {
          vireo_checkpoint_tree_free (machine->checkpoints);
          machine->checkpoints = tree;
          vireo_checkpoints_publish_tree (machine);
        }
    }
  vireo_dbus_machine_complete_finish_checkpoint_archive (machine->iface, receive->finishing, receive->size,
                                                         receive->sha256);
  end_receive (machine, receive);
}

/* The archive has been read (or not): checked and put in place in a thread, or the error returned. */
static void
settle (VireoMachine *machine, ArchiveReceive *receive)
{
  g_autoptr (GTask) task = NULL;
  g_autoptr (GPtrArray) all_images = NULL;

  if (receive->error != NULL)
    {
      g_dbus_method_invocation_return_gerror (receive->finishing, receive->error);
      end_receive (machine, receive);
      return;
    }
  all_images = g_ptr_array_new_with_free_func (g_free);
  vireo_checkpoints_add_writable_images (all_images, machine->config);
  /* Only vireod's own are read with its rights. */
  receive->images = g_ptr_array_new_with_free_func (g_free);
  for (guint i = 0; i < all_images->len; i++)
    if (vireo_machine_config_in_own_folder (machine->config, g_ptr_array_index (all_images, i)))
      g_ptr_array_add (receive->images, g_strdup (g_ptr_array_index (all_images, i)));
  receive->running = TRUE;
  task = g_task_new (machine, NULL, on_settled, receive);
  g_task_set_task_data (task, receive, NULL);
  g_task_run_in_thread (task, settle_in_thread);
}

static void
finish_checkpoint_archive (VireoMachine *machine, GDBusMethodInvocation *invocation)
{
  ArchiveReceive *receive = machine->checkpoint_receive;

  if (receive == NULL)
    {
      vireo_machine_return_error (invocation, VIREO_ERROR_INVALID_STATE,
                                  "“%s” is receiving no checkpoint archive", machine->config->name);
      return;
    }
  if (receive->finishing != NULL || (receive->read && receive->running))
    {
      vireo_machine_return_error (invocation, VIREO_ERROR_INVALID_STATE,
                                  "the checkpoint archive of “%s” is being finished already",
                                  machine->config->name);
      return;
    }
  receive->finishing = g_object_ref (invocation);
  if (receive->read)
    settle (machine, receive);
}

static gboolean
handle_finish_checkpoint_archive (VireoDBusMachine *iface, GDBusMethodInvocation *invocation,
                                  VireoMachine *machine)
{
  vireo_machine_authorize (machine, invocation, VIREO_ACTION_MODIFY, finish_checkpoint_archive);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

/* ---- set-up and end ---- */

void
vireo_machine_checkpoint_receive_init (VireoMachine *machine)
{
  g_autofree char *machine_dir = vireo_machine_store_machine_dir (machine->daemon->store,
                                                                  machine->config->uuid);
  g_autoptr (GError) error = NULL;

  /* A receive that vireod did not finish. */
  if (!remove_incoming (machine_dir, &error) && g_file_test (machine_dir, G_FILE_TEST_IS_DIR))
    g_warning ("%s: %s", machine->config->name, error->message);
  g_signal_connect (machine->iface, "handle-receive-checkpoint-archive",
                    G_CALLBACK (handle_receive_checkpoint_archive), machine);
  g_signal_connect (machine->iface, "handle-finish-checkpoint-archive",
                    G_CALLBACK (handle_finish_checkpoint_archive), machine);
}

void
vireo_machine_checkpoint_receive_drop (VireoMachine *machine)
{
  ArchiveReceive *receive = g_steal_pointer (&machine->checkpoint_receive);

  if (receive == NULL)
    return;
  if (receive->finishing != NULL)
    {
      vireo_machine_return_error (receive->finishing, VIREO_ERROR_NOT_FOUND, "“%s” is gone",
                                  machine->config->name);
      g_clear_object (&receive->finishing);
    }
  /* A thread still at work frees it when it ends. */
  if (!receive->running)
    archive_receive_free (receive);
}
