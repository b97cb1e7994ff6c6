/* test-worker-checkpoints.c — checkpoints through the worker: create, apply in place, production freeze/thaw,
 * and a large guest's apply. */
#include "worker-fixture.h"

/* ---- checkpoints ---- */

/* The config of guest @name (with @cmdline) and @devices (a(ssa{sv}) text, "%h" for the disk's fd)
 * for the disk at @disk_path (or none). */
static GVariant *
checkpoint_config (const char *name, const char *cmdline, GUnixFDList *fds, const char *disk_path,
                   const char *devices)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GVariant) base = g_variant_ref_sink (guest_config (name, fds, NULL, FALSE));
  g_auto (GVariantDict) dict = G_VARIANT_DICT_INIT (base);

  if (cmdline)
    g_variant_dict_insert (&dict, "cmdline", "s", cmdline);
  if (disk_path)
    {
      int fd = open (disk_path, O_RDWR | O_CLOEXEC);
      int index;

      g_assert_cmpint (fd, >=, 0);
      index = g_unix_fd_list_append (fds, fd, &error);
      g_assert_no_error (error);
      close (fd);
      g_variant_dict_insert_value (&dict, "devices", g_variant_new_parsed (devices, index));
    }
  else if (devices)
    g_variant_dict_insert_value (&dict, "devices", g_variant_new_parsed (devices));
  return g_variant_dict_end (&dict);
}

/* A folder for a checkpoint's state, as an fd in @fds (its index in *@index). */
static char *
checkpoint_dir (GUnixFDList *fds, int *index)
{
  g_autoptr (GError) error = NULL;
  char *path = g_dir_make_tmp ("vireo-checkpoint-XXXXXX", &error);
  int fd;

  g_assert_no_error (error);
  fd = open (path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  g_assert_cmpint (fd, >=, 0);
  *index = g_unix_fd_list_append (fds, fd, &error);
  g_assert_no_error (error);
  close (fd);
  return path;
}

static char *
make_qcow2 (const char *dir, const char *name)
{
  char *path = g_build_filename (dir, name, NULL);
  const char *argv[] = { "qemu-img", "create", "-q", "-f", "qcow2", path, "16M", NULL };

  g_assert_cmpint (vireo_test_run_judge (argv, NULL), ==, 0);
  return path;
}

static char *
snapshot_list (const char *path)
{
  const char *argv[] = { "qemu-img", "snapshot", "-l", path, NULL };
  char *out = NULL;

  g_assert_cmpint (vireo_test_run_judge (argv, &out), ==, 0);
  return out;
}

static uint64_t
last_tick (const char *text)
{
  const char *p = text;
  const char *found = NULL;

  while ((p = strstr (p, "tick ")) != NULL)
    {
      if (strchr (p, '\n'))
        found = p;
      p += 5;
    }
  return found ? g_ascii_strtoull (found + 5, NULL, 10) : 0;
}

static GVariant *
create_checkpoint (Worker *worker, const char *name, GVariant *options, GUnixFDList *fds, GError **error)
{
  GVariant *result = NULL;

  vireo_worker1_call_create_checkpoint_sync (worker->proxy, name, options, fds, &result, NULL, NULL, error);
  return result;
}

/* A standard checkpoint (disks and state) of a guest counting in memory, applied in place: the guest
 * counts on from the checkpoint's count and keeps its serial client; the disk has the snapshot, which
 * DeleteCheckpoint removes (twice: the second time is no error); the image stays clean. */
static void
test_checkpoint_apply (void)
{
  Worker worker;
  g_autoptr (GError) error = NULL;
  g_autoptr (GUnixFDList) fds = g_unix_fd_list_new ();
  g_autoptr (GUnixFDList) create_fds = g_unix_fd_list_new ();
  g_autoptr (GUnixFDList) apply_fds = NULL;
  g_autoptr (GVariant) result = NULL;
  g_autoptr (GString) seen = g_string_new (NULL);
  g_autofree char *state_dir = NULL;
  g_autofree char *disk = NULL;
  g_autofree char *disk_dir = NULL;
  g_autofree char *list = NULL;
  const char *check[] = { "qemu-img", "check", "-q", NULL, NULL };
  GVariant *config;
  const char *consistency = NULL;
  gboolean has_state = FALSE;
  uint64_t at_checkpoint, before, first;
  gsize mark;
  int dir_index, serial;
  gint64 start;

  if (!vireo_test_require_programs ((const char *[]){ "qemu-img", NULL }) || !worker_spawn (&worker))
    return;
  disk_dir = g_dir_make_tmp ("vireo-disk-XXXXXX", &error);
  g_assert_no_error (error);
  disk = make_qcow2 (disk_dir, "disk.qcow2");
  config = checkpoint_config ("tick-counter", "spin=3000000", fds, disk,
                              "[('serial', 'serial0', @a{sv} {}), ('virtio-blk', 'vda', {'file': <@h %h>})]");
  vireo_worker1_call_start_sync (worker.proxy, config, fds, NULL, NULL, &error);
  g_assert_no_error (error);
  serial = worker_open_serial (&worker);
  g_assert_true (serial_wait_for (serial, seen, "tick 3\n"));

  /* Taken from a paused machine, whose last tick the serial client then knows for sure. */
  vireo_worker1_call_pause_sync (worker.proxy, NULL, &error);
  g_assert_no_error (error);
  {
    g_autofree char *rest = serial_read_for (serial, 300);
    g_string_append (seen, rest);
  }
  at_checkpoint = last_tick (seen->str);
  state_dir = checkpoint_dir (create_fds, &dir_index);
  result = create_checkpoint (&worker, "vireo-0123456789abcdef",
                              g_variant_new_parsed ("{'state-dir-fd': <@h %h>}", dir_index), create_fds,
                              &error);
  g_assert_no_error (error);
  g_assert_true (g_variant_lookup (result, "consistency", "&s", &consistency));
  g_assert_true (g_variant_lookup (result, "has-state", "b", &has_state));
  g_assert_cmpstr (consistency, ==, "application");
  g_assert_true (has_state);
  assert_state_becomes (&worker, "paused");
  vireo_worker1_call_resume_sync (worker.proxy, NULL, &error);
  g_assert_no_error (error);

  /* Well past it, then back. */
  {
    g_autofree char *later = g_strdup_printf ("tick %" G_GUINT64_FORMAT "\n", at_checkpoint + 6);
    g_assert_true (serial_wait_for (serial, seen, later));
  }
  before = last_tick (seen->str);
  mark = seen->len;
  apply_fds = g_unix_fd_list_new ();
  {
    int fd = open (state_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    dir_index = g_unix_fd_list_append (apply_fds, fd, &error);
    close (fd);
  }
  start = g_get_monotonic_time ();
  vireo_worker1_call_apply_checkpoint_sync (worker.proxy, "vireo-0123456789abcdef",
                                            g_variant_new_parsed ("{'state-dir-fd': <@h %h>}", dir_index),
                                            apply_fds, NULL, NULL, &error);
  g_assert_no_error (error);
  g_test_message ("ApplyCheckpoint answered after %.1f ms", (g_get_monotonic_time () - start) / 1000.0);
  assert_state_becomes (&worker, "running");

  /* The same serial client hears the guest count on from the checkpoint: after the call, a tick lower
   * than the one before it (ticks printed before the pause may still arrive after the call). */
  {
    unsigned ticks = 0;
    uint64_t previous = before;

    for (const char *p = strstr (seen->str, "tick "); p; p = strstr (p + 5, "tick "))
      ticks++;
    g_assert_true (serial_wait_for_count (serial, seen, "tick ", ticks + 8, WAIT_SECONDS));
    first = 0;
    for (const char *p = strstr (seen->str + mark, "\ntick "); p && first == 0; p = strstr (p + 6, "\ntick "))
      {
        char *end = NULL;
        uint64_t tick = g_ascii_strtoull (p + 6, &end, 10);

        /* A line the revert cut ("tick 1" + "2\n" from the checkpoint) is skipped; the last one may not
         * be whole yet. */
        if (*end != '\n')
          {
            if (strchr (end, '\n') == NULL)
              break;
            continue;
          }
        if (tick < previous)
          first = tick;
        previous = tick;
      }
  }
  g_test_message ("ticks: %" G_GUINT64_FORMAT " at the checkpoint, %" G_GUINT64_FORMAT
                  " before applying it, counting again from %" G_GUINT64_FORMAT " after",
                  at_checkpoint, before, first);
  /* At the checkpoint the count was the last tick printed, or one more when the pause came between
   * counting and printing; a revert may cut a line, so the next whole one is one or two on. */
  g_assert_cmpuint (first, >=, at_checkpoint + 1);
  g_assert_cmpuint (first, <=, at_checkpoint + 2);

  /* A machine running on a checkpoint's memory file saves like any other (its pages and the file's). */
  {
    g_autoptr (GUnixFDList) again_fds = g_unix_fd_list_new ();
    g_autoptr (GVariant) again = NULL;
    int again_index;
    g_autofree char *again_dir = checkpoint_dir (again_fds, &again_index);
    g_autofree char *memory = g_build_filename (again_dir, "memory", NULL);
    struct stat st;

    again = create_checkpoint (&worker, "vireo-0123456789abcdee",
                               g_variant_new_parsed ("{'state-dir-fd': <@h %h>}", again_index), again_fds,
                               &error);
    g_assert_no_error (error);
    g_assert_no_errno (stat (memory, &st));
    g_assert_cmpint ((gint64) st.st_blocks * 512, <, st.st_size / 4);
    vireo_worker1_call_delete_checkpoint_sync (worker.proxy, "vireo-0123456789abcdee", NULL, &error);
    g_assert_no_error (error);
    vireo_test_remove_tree (again_dir);
  }

  /* Errors: a snapshot the disk lacks changes nothing. */
  vireo_worker1_call_apply_checkpoint_sync (worker.proxy, "vireo-ffffffffffffffff",
                                            g_variant_new_parsed ("{'state-dir-fd': <@h %h>}", dir_index),
                                            apply_fds, NULL, NULL, &error);
  assert_vireo_error (error, "NotFound");
  g_clear_error (&error);
  vireo_worker1_call_apply_checkpoint_sync (worker.proxy, "vireo-0123456789abcdef",
                                            g_variant_new_parsed ("@a{sv} {}"), NULL, NULL, NULL, &error);
  assert_vireo_error (error, "InvalidArgument");
  g_clear_error (&error);
  /* A folder without a saved state is refused before the disks change, and the machine runs on. */
  {
    g_autoptr (GUnixFDList) empty_fds = g_unix_fd_list_new ();
    int empty_index;
    g_autofree char *empty = checkpoint_dir (empty_fds, &empty_index);

    vireo_worker1_call_apply_checkpoint_sync (worker.proxy, "vireo-0123456789abcdef",
                                              g_variant_new_parsed ("{'state-dir-fd': <@h %h>}", empty_index),
                                              empty_fds, NULL, NULL, &error);
    assert_vireo_error (error, "NotFound");
    g_clear_error (&error);
    g_rmdir (empty);
  }
  assert_state_becomes (&worker, "running");

  vireo_worker1_call_delete_checkpoint_sync (worker.proxy, "vireo-0123456789abcdef", NULL, &error);
  g_assert_no_error (error);
  vireo_worker1_call_delete_checkpoint_sync (worker.proxy, "vireo-0123456789abcdef", NULL, &error);
  g_assert_no_error (error);
  assert_state_becomes (&worker, "running");

  vireo_worker1_call_turn_off_sync (worker.proxy, NULL, &error);
  g_assert_no_error (error);
  close (serial);
  worker_clear (&worker);
  list = snapshot_list (disk);
  g_assert_null (strstr (list, "vireo-0123456789abcdef"));
  check[3] = disk;
  g_assert_cmpint (vireo_test_run_judge (check, NULL), ==, 0);
  vireo_test_remove_tree (state_dir);
  vireo_test_remove_tree (disk_dir);
}

/* Production checkpoints: with the fake guest agent on the port the worker wires itself, freeze then
 * thaw, in that order, and "application"; without an agent, "crash" and no error.  A writable raw
 * disk is refused, named. */
static void
test_checkpoint_production (void)
{
  Worker worker;
  g_autoptr (GError) error = NULL;
  g_autoptr (GUnixFDList) fds = g_unix_fd_list_new ();
  g_autoptr (GVariant) result = NULL;
  g_autoptr (GString) seen = g_string_new (NULL);
  g_autofree char *raw = NULL;
  GVariant *config;
  const char *consistency = NULL;
  const char *freeze, *thaw;
  int serial;

  if (!worker_spawn (&worker))
    return;
  config = checkpoint_config ("agent", NULL, fds, NULL,
                              "[('serial', 'serial0', @a{sv} {}), "
                              "('virtio-serial', 'vserial0', {'ports': <'org.qemu.guest_agent.0'>})]");
  vireo_worker1_call_start_sync (worker.proxy, config, fds, NULL, NULL, &error);
  g_assert_no_error (error);
  serial = worker_open_serial (&worker);
  g_assert_true (serial_wait_for (serial, seen, "agent ready"));
  result = create_checkpoint (&worker, "vireo-00000000000000aa", g_variant_new_parsed ("{'freeze': <true>}"),
                              NULL, &error);
  g_assert_no_error (error);
  g_assert_true (g_variant_lookup (result, "consistency", "&s", &consistency));
  g_assert_cmpstr (consistency, ==, "application");
  g_assert_true (serial_wait_for (serial, seen, "agent: thaw\n"));
  freeze = strstr (seen->str, "agent: freeze\n");
  thaw = strstr (seen->str, "agent: thaw\n");
  g_assert_nonnull (freeze);
  g_assert_true (freeze < thaw);
  assert_state_becomes (&worker, "running");
  g_clear_pointer (&result, g_variant_unref);

  /* A live virtio device through a revert: a standard checkpoint applied in place, after which the
   * agent still answers on its queues. */
  {
    g_autoptr (GUnixFDList) create_fds = g_unix_fd_list_new ();
    g_autoptr (GUnixFDList) apply_fds = g_unix_fd_list_new ();
    g_autofree char *state_dir = NULL;
    gsize mark;
    int dir_index, fd;

    state_dir = checkpoint_dir (create_fds, &dir_index);
    result = create_checkpoint (&worker, "vireo-00000000000000ab",
                                g_variant_new_parsed ("{'state-dir-fd': <@h %h>}", dir_index), create_fds,
                                &error);
    g_assert_no_error (error);
    g_clear_pointer (&result, g_variant_unref);
    fd = open (state_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    dir_index = g_unix_fd_list_append (apply_fds, fd, &error);
    close (fd);
    vireo_worker1_call_apply_checkpoint_sync (worker.proxy, "vireo-00000000000000ab",
                                              g_variant_new_parsed ("{'state-dir-fd': <@h %h>}", dir_index),
                                              apply_fds, NULL, NULL, &error);
    g_assert_no_error (error);
    mark = seen->len;
    result = create_checkpoint (&worker, "vireo-00000000000000ac",
                                g_variant_new_parsed ("{'freeze': <true>}"), NULL, &error);
    g_assert_no_error (error);
    g_assert_true (g_variant_lookup (result, "consistency", "&s", &consistency));
    g_assert_cmpstr (consistency, ==, "application");
    g_assert_true (serial_wait_for_count (serial, seen, "agent: thaw\n", 2, WAIT_SECONDS));
    g_assert_nonnull (strstr (seen->str + mark, "agent: freeze\n"));
    vireo_test_remove_tree (state_dir);
  }
  vireo_worker1_call_turn_off_sync (worker.proxy, NULL, &error);
  g_assert_no_error (error);
  close (serial);
  worker_clear (&worker);
  g_clear_pointer (&result, g_variant_unref);

  /* No agent: crash-consistent. */
  if (!worker_spawn (&worker))
    return;
  g_clear_object (&fds);
  fds = g_unix_fd_list_new ();
  config = checkpoint_config ("tick-counter", NULL, fds, NULL, NULL);
  vireo_worker1_call_start_sync (worker.proxy, config, fds, NULL, NULL, &error);
  g_assert_no_error (error);
  result = create_checkpoint (&worker, "vireo-00000000000000bb", g_variant_new_parsed ("{'freeze': <true>}"),
                              NULL, &error);
  g_assert_no_error (error);
  g_assert_true (g_variant_lookup (result, "consistency", "&s", &consistency));
  g_assert_cmpstr (consistency, ==, "crash");
  vireo_worker1_call_turn_off_sync (worker.proxy, NULL, &error);
  g_assert_no_error (error);
  worker_clear (&worker);
  g_clear_pointer (&result, g_variant_unref);

  /* A writable raw disk. */
  if (!worker_spawn (&worker))
    return;
  raw = g_build_filename (worker.dir, "disk.raw", NULL);
  g_assert_true (g_file_set_contents (raw, "", 0, NULL));
  g_assert_no_errno (truncate (raw, 1 << 20));
  g_clear_object (&fds);
  fds = g_unix_fd_list_new ();
  config = checkpoint_config ("tick-counter", NULL, fds, raw,
                              "[('serial', 'serial0', @a{sv} {}), ('virtio-blk', 'vda', {'file': <@h %h>})]");
  vireo_worker1_call_start_sync (worker.proxy, config, fds, NULL, NULL, &error);
  g_assert_no_error (error);
  result = create_checkpoint (&worker, "vireo-00000000000000cc", g_variant_new_parsed ("@a{sv} {}"), NULL,
                              &error);
  assert_vireo_error (error, "NotSupported");
  g_assert_nonnull (strstr (error->message, "vda"));
  g_clear_error (&error);
  assert_state_becomes (&worker, "running");
  vireo_worker1_call_turn_off_sync (worker.proxy, NULL, &error);
  g_assert_no_error (error);
  g_unlink (raw);
  worker_clear (&worker);
}

/* The benchmark's case through the worker (with -m slow): a 1 GiB guest with 512 MiB touched; how long
 * CreateCheckpoint (with state) takes, and how long after the ApplyCheckpoint call the guest runs again
 * (the worker's own measurement, in its debug output) and the call is answered.  Timings are reported,
 * not judged. */
static void
test_checkpoint_apply_large (void)
{
  Worker worker;
  g_autoptr (GError) error = NULL;
  g_autoptr (GUnixFDList) fds = g_unix_fd_list_new ();
  g_autoptr (GUnixFDList) create_fds = g_unix_fd_list_new ();
  g_autoptr (GUnixFDList) apply_fds = g_unix_fd_list_new ();
  g_autoptr (GVariant) result = NULL;
  g_autoptr (GVariant) base = NULL;
  g_autoptr (GString) seen = g_string_new (NULL);
  g_autofree char *state_dir = NULL;
  g_autofree char *disk_dir = NULL;
  g_autofree char *disk = NULL;
  g_auto (GVariantDict) dict = G_VARIANT_DICT_INIT (NULL);
  int dir_index, serial, fd;
  gint64 start;

  if (!g_test_slow ())
    {
      g_test_skip ("a benchmark: run with -m slow");
      return;
    }
  if (!vireo_test_require_programs ((const char *[]){ "qemu-img", NULL }) || !worker_spawn (&worker))
    return;
  disk_dir = g_dir_make_tmp ("vireo-disk-XXXXXX", &error);
  disk = make_qcow2 (disk_dir, "disk.qcow2");
  base = g_variant_ref_sink (
      checkpoint_config ("tick-counter", "spin=3000000 touch=512", fds, disk,
                         "[('serial', 'serial0', @a{sv} {}), ('virtio-blk', 'vda', {'file': <@h %h>})]"));
  g_variant_dict_init (&dict, base);
  g_variant_dict_insert (&dict, "memory", "t", (guint64) 1 << 30);
  vireo_worker1_call_start_sync (worker.proxy, g_variant_dict_end (&dict), fds, NULL, NULL, &error);
  g_assert_no_error (error);
  serial = worker_open_serial (&worker);
  g_assert_true (serial_wait_for (serial, seen, "touched 512 MiB"));
  g_assert_true (serial_wait_for (serial, seen, "tick 2\n"));

  state_dir = checkpoint_dir (create_fds, &dir_index);
  start = g_get_monotonic_time ();
  result = create_checkpoint (&worker, "vireo-0000000000000001",
                              g_variant_new_parsed ("{'state-dir-fd': <@h %h>}", dir_index), create_fds,
                              &error);
  g_assert_no_error (error);
  g_test_message ("1 GiB, 512 MiB touched: CreateCheckpoint with state took %.1f ms",
                  (g_get_monotonic_time () - start) / 1000.0);
  g_assert_true (serial_wait_for (serial, seen, "tick 8\n"));

  fd = open (state_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  dir_index = g_unix_fd_list_append (apply_fds, fd, &error);
  close (fd);
  start = g_get_monotonic_time ();
  vireo_worker1_call_apply_checkpoint_sync (worker.proxy, "vireo-0000000000000001",
                                            g_variant_new_parsed ("{'state-dir-fd': <@h %h>}", dir_index),
                                            apply_fds, NULL, NULL, &error);
  g_assert_no_error (error);
  g_test_message ("1 GiB, 512 MiB touched: ApplyCheckpoint answered after %.1f ms",
                  (g_get_monotonic_time () - start) / 1000.0);
  /* The guest counts again from the checkpoint's count: after the call, a tick lower than the one before
   * it (ticks printed before the pause may still arrive after the call). */
  {
    gsize mark = seen->len;
    unsigned ticks = 0;
    uint64_t previous = last_tick (seen->str), went_back_to = 0;

    for (const char *p = strstr (seen->str, "tick "); p; p = strstr (p + 5, "tick "))
      ticks++;
    g_assert_true (serial_wait_for_count (serial, seen, "tick ", ticks + 8, WAIT_SECONDS));
    for (const char *p = strstr (seen->str + mark, "\ntick "); p && went_back_to == 0;
         p = strstr (p + 6, "\ntick "))
      {
        char *end = NULL;
        uint64_t tick = g_ascii_strtoull (p + 6, &end, 10);

        /* A line the revert cut ("tick 1" + "2\n" from the checkpoint) is skipped; the last one may not
         * be whole yet. */
        if (*end != '\n')
          {
            if (strchr (end, '\n') == NULL)
              break;
            continue;
          }
        if (tick < previous)
          went_back_to = tick;
        previous = tick;
      }
    g_test_message ("ticks: counting again from %" G_GUINT64_FORMAT " after the apply", went_back_to);
    g_assert_cmpuint (went_back_to, >, 0);
  }

  vireo_worker1_call_turn_off_sync (worker.proxy, NULL, &error);
  g_assert_no_error (error);
  close (serial);
  worker_clear (&worker);
  vireo_test_remove_tree (state_dir);
  vireo_test_remove_tree (disk_dir);
}

void
worker_add_checkpoint_tests (void)
{
  g_test_add_func ("/worker/checkpoint-apply", test_checkpoint_apply);
  g_test_add_func ("/worker/checkpoint-production", test_checkpoint_production);
  g_test_add_func ("/worker/checkpoint-apply-large", test_checkpoint_apply_large);
}
