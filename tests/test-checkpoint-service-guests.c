/* test-checkpoint-service-guests.c — checkpoints of saved and running guests through the real vireod:
 * state kept and applied, in place or at rest; the disks' content through the boot-counter guest and the
 * memory's through the mem-counter guest; a settings change between checkpoints; production checkpoints
 * through the guest agent. */
#include "test-checkpoint-service.h"
#include "test-util.h"

#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The echo guest's serial line @text typed and echoed. */
static void
echo_line (int fd, const char *text)
{
  g_autoptr (GString) seen = g_string_new (NULL);

  serial_type (fd, text);
  g_assert_true (serial_wait_for (fd, seen, 0, text, WAIT_SECONDS));
}

typedef struct
{
  ino_t inode;
  off_t size;
  struct timespec mtime;
} FileFacts;

static FileFacts
file_facts (const char *folder, const char *name)
{
  g_autofree char *path = g_build_filename (folder, name, NULL);
  struct stat st;
  FileFacts facts;

  g_assert_no_errno (stat (path, &st));
  facts.inode = st.st_ino;
  facts.size = st.st_size;
  facts.mtime = st.st_mtim;
  return facts;
}

static void
assert_same_file (FileFacts a, FileFacts b)
{
  g_assert_cmpuint (a.inode, ==, b.inode);
  g_assert_cmpint (a.size, ==, b.size);
  g_assert_cmpint (a.mtime.tv_sec, ==, b.mtime.tv_sec);
  g_assert_cmpint (a.mtime.tv_nsec, ==, b.mtime.tv_nsec);
}

/* A saved machine: a standard checkpoint holds its state (the saved files linked, never rewritten), a
 * production one only its disks; Apply of the first leaves the machine saved so that Start resumes it,
 * or running at once with "start"; Apply of the second leaves it off. */
void
test_saved (Fixture *f)
{
  g_autofree char *image = NULL;
  g_autoptr (VireoDBusMachine) machine = create_machine_with_disk (f, "sleeper", "echo", &image);
  g_autoptr (GString) seen = g_string_new (NULL);
  g_autofree char *folder = machine_folder (f, machine);
  g_autofree char *machine_at = g_strdup (machine_path (machine));
  g_autofree char *standard = NULL;
  g_autofree char *production = NULL;
  g_autofree char *state_dir = g_build_filename (folder, "state", NULL);
  g_autofree char *checkpoint_dir = NULL;
  g_autofree char *consistency = NULL;
  g_autofree char *kind = NULL;
  FileFacts memory_facts, state_facts;
  int fd;

  if (!require_qemu_img ())
    return;
  fd = start_and_wait_for (machine, "echo ready", seen);
  echo_line (fd, "one");
  call_ok (machine, "Save", NULL);
  g_assert_cmpstr (vireo_dbus_machine_get_state (machine), ==, "saved");
  close (fd);

  standard = create_checkpoint (machine, "saved, standard", NULL);
  g_assert_cmpstr (vireo_dbus_machine_get_state (machine), ==, "saved");
  g_assert_true (checkpoint_boolean (f, standard, "HasState"));
  kind = checkpoint_string (f, standard, "Kind");
  g_assert_cmpstr (kind, ==, "standard");
  checkpoint_dir = g_build_filename (folder, "checkpoints", checkpoint_id (standard), NULL);
  memory_facts = file_facts (checkpoint_dir, "memory");
  state_facts = file_facts (checkpoint_dir, "state");
  /* Linked, not copied. */
  g_assert_cmpuint (memory_facts.inode, ==, file_facts (state_dir, "memory").inode);

  production = create_checkpoint (machine, "saved, production",
                                  g_variant_new_parsed ("{'kind': <'production'>}"));
  g_assert_false (checkpoint_boolean (f, production, "HasState"));
  /* The guest's unwritten data is not on the disks: crash-consistent (judged at the end). */
  consistency = checkpoint_string (f, production, "Consistency");
  assert_parent (f, production, standard);
  assert_tree_on_disk (f, machine, image, NULL);

  /* The machine goes on from its saved state, then is turned off. */
  g_string_truncate (seen, 0);
  call_ok (machine, "Start", NULL);
  fd = open_serial (machine);
  echo_line (fd, "two");
  call_ok (machine, "TurnOff", NULL);
  close (fd);

  /* Apply the standard checkpoint: saved again; Start resumes where "one" was echoed, without a boot. */
  apply (f, standard, FALSE);
  g_assert_cmpstr (vireo_dbus_machine_get_state (machine), ==, "saved");
  assert_current (f, machine, standard);
  /* Across a restart too. */
  g_clear_object (&machine);
  vireod_restart (f);
  machine = machine_proxy (f, machine_at);
  wait_for_state (machine, "saved");
  call_ok (machine, "Start", NULL);
  g_assert_cmpstr (vireo_dbus_machine_get_state (machine), ==, "running");
  fd = open_serial (machine);
  g_string_truncate (seen, 0);
  serial_type (fd, "three");
  g_assert_true (serial_wait_for (fd, seen, 0, "three", WAIT_SECONDS));
  g_assert_null (strstr (seen->str, "echo ready"));
  /* A Save now writes new files over the links: the checkpoint's own stay as they were. */
  call_ok (machine, "Save", NULL);
  close (fd);
  assert_same_file (memory_facts, file_facts (checkpoint_dir, "memory"));
  assert_same_file (state_facts, file_facts (checkpoint_dir, "state"));

  /* Apply with "start": running at once, from the checkpoint. */
  apply (f, standard, TRUE);
  g_assert_cmpstr (vireo_dbus_machine_get_state (machine), ==, "running");
  fd = open_serial (machine);
  g_string_truncate (seen, 0);
  serial_type (fd, "four");
  g_assert_true (serial_wait_for (fd, seen, 0, "four", WAIT_SECONDS));
  g_assert_null (strstr (seen->str, "echo ready"));
  call_ok (machine, "TurnOff", NULL);
  close (fd);

  /* Apply the production checkpoint: off, and Start boots. */
  apply (f, production, FALSE);
  g_assert_cmpstr (vireo_dbus_machine_get_state (machine), ==, "off");
  assert_current (f, machine, production);
  g_string_truncate (seen, 0);
  fd = start_and_wait_for (machine, "echo ready", seen);
  call_ok (machine, "TurnOff", NULL);
  close (fd);

  /* Deleting the checkpoint with state removes its files; the machine's own state is not touched. */
  delete_checkpoint (f, standard, FALSE);
  g_assert_false (g_file_test (checkpoint_dir, G_FILE_TEST_EXISTS));
  assert_parent (f, production, "/");
  assert_tree_on_disk (f, machine, image, NULL);
  g_assert_cmpstr (consistency, ==, "crash");
}

/* A running machine: checkpoints are taken while it keeps running (standard: with its state; production
 * without a guest agent: crash-consistent); deleting one while it runs drops its snapshot (the worker's
 * image); Apply without "start" turns the worker off and leaves the machine saved; two creates at once
 * are one at a time. */
void
test_running (Fixture *f)
{
  g_autofree char *image = NULL;
  g_autoptr (VireoDBusMachine) machine = create_machine_with_disk (f, "runner", "echo", &image);
  g_autoptr (GString) seen = g_string_new (NULL);
  g_autoptr (GPtrArray) states = g_ptr_array_new_with_free_func (g_free);
  g_autofree char *standard = NULL;
  g_autofree char *production = NULL;
  g_autofree char *consistency = NULL;
  PendingCall pending[2] = { 0 };
  guint refused = 0;
  gulong handler;
  pid_t pid;
  int fd;

  if (!require_qemu_img ())
    return;
  fd = start_and_wait_for (machine, "echo ready", seen);
  echo_line (fd, "one");
  pid = worker_pid (machine);

  handler = g_signal_connect (machine, "notify::state", G_CALLBACK (on_state_changed), states);
  standard = create_checkpoint (machine, "running, standard", NULL);
  production = create_checkpoint (machine, "running, production",
                                  g_variant_new_parsed ("{'kind': <'production'>}"));
  g_signal_handler_disconnect (machine, handler);
  /* It paused at most for the moment; never off. */
  g_assert_false (strv_has (states, "off"));
  g_assert_false (strv_has (states, "saved"));
  g_assert_cmpstr (vireo_dbus_machine_get_state (machine), ==, "running");
  g_assert_cmpint (worker_pid (machine), ==, pid);
  echo_line (fd, "two");
  g_assert_true (checkpoint_boolean (f, standard, "HasState"));
  g_assert_false (checkpoint_boolean (f, production, "HasState"));
  /* The guest's unwritten data is not on the disks: crash-consistent (judged at the end). */
  consistency = checkpoint_string (f, production, "Consistency");
  assert_parent (f, production, standard);
  assert_current (f, machine, production);
  assert_tree_on_disk (f, machine, image, NULL);

  /* Deleted while running: through the worker, which holds the image. */
  delete_checkpoint (f, production, FALSE);
  assert_tree_on_disk (f, machine, image, NULL);
  assert_current (f, machine, standard);
  echo_line (fd, "three");

  /* Two at once: one refused or both done, one after the other. */
  g_dbus_proxy_call (G_DBUS_PROXY (machine), "CreateCheckpoint", g_variant_new_parsed ("('x', @a{sv} {})"),
                     G_DBUS_CALL_FLAGS_NONE, CALL_TIMEOUT_MS, NULL, store_pending_call, &pending[0]);
  g_dbus_proxy_call (G_DBUS_PROXY (machine), "CreateCheckpoint", g_variant_new_parsed ("('y', @a{sv} {})"),
                     G_DBUS_CALL_FLAGS_NONE, CALL_TIMEOUT_MS, NULL, store_pending_call, &pending[1]);
  while (!pending[0].result || !pending[1].result)
    g_main_context_iteration (NULL, TRUE);
  for (guint i = 0; i < 2; i++)
    {
      g_autoptr (GError) call_error = NULL;
      g_autoptr (GVariant) reply = g_dbus_proxy_call_finish (G_DBUS_PROXY (machine), pending[i].result,
                                                             &call_error);
      g_clear_object (&pending[i].result);
      test_say ("create %u of two at once: %s", i, call_error ? call_error->message : "done");
      if (call_error)
        {
          assert_dbus_error (call_error, ERROR_NAME ("InvalidState"), NULL);
          refused++;
        }
    }
  g_assert_cmpuint (refused, ==, 1);
  assert_tree_on_disk (f, machine, image, NULL);
  g_assert_cmpstr (vireo_dbus_machine_get_state (machine), ==, "running");
  echo_line (fd, "four");

  /* Apply without "start": saved at the checkpoint; Start resumes it (no boot). */
  apply (f, standard, FALSE);
  g_assert_cmpstr (vireo_dbus_machine_get_state (machine), ==, "saved");
  assert_current (f, machine, standard);
  close (fd);
  call_ok (machine, "Start", NULL);
  fd = open_serial (machine);
  g_string_truncate (seen, 0);
  serial_type (fd, "five");
  g_assert_true (serial_wait_for (fd, seen, 0, "five", WAIT_SECONDS));
  g_assert_null (strstr (seen->str, "echo ready"));

  /* Apply with "start" to the running machine: running again, in place. */
  apply (f, standard, TRUE);
  g_assert_cmpstr (vireo_dbus_machine_get_state (machine), ==, "running");
  close (fd);
  fd = open_serial (machine);
  echo_line (fd, "six");
  call_ok (machine, "TurnOff", NULL);
  close (fd);
  assert_tree_on_disk (f, machine, image, NULL);
}

/* The boot-counter guest's line "boot counter N" after a Start; the machine is turned off after. */
static guint
boot_and_count (VireoDBusMachine *machine)
{
  g_autoptr (GString) seen = g_string_new (NULL);
  gsize line;
  guint count;
  int fd;

  call_ok (machine, "Start", NULL);
  fd = open_serial (machine);
  g_assert_true (serial_wait_for (fd, seen, 0, "boot counter ", WAIT_SECONDS));
  line = (gsize) (strstr (seen->str, "boot counter ") - seen->str);
  /* The whole number: up to the end of its line. */
  g_assert_true (serial_wait_for (fd, seen, line, "\n", WAIT_SECONDS));
  count = (guint) g_ascii_strtoull (seen->str + line + strlen ("boot counter "), NULL, 10);
  test_say ("the guest says: boot counter %u", count);
  call_ok (machine, "TurnOff", NULL);
  g_assert_cmpstr (vireo_dbus_machine_get_state (machine), ==, "off");
  close (fd);
  return count;
}

/* Disk content as a guest sees it: the boot-counter guest counts its boots on its disk.  Checkpoints at
 * 1 and 2; apply the first → the next boot says 2 again; deleting checkpoints keeps every other state's
 * count. */
void
test_boot_counter (Fixture *f)
{
  g_autofree char *image = NULL;
  g_autoptr (VireoDBusMachine) machine = NULL;
  g_autofree char *guest = vireo_test_guest_path ("boot-counter");
  g_autofree char *one = NULL, *two = NULL, *three = NULL;

  if (!require_qemu_img ())
    return;
  if (!g_file_test (guest, G_FILE_TEST_EXISTS))
    {
      g_test_skip ("the boot-counter guest is not built");
      return;
    }
  machine = create_machine_with_disk (f, "counter", "boot-counter", &image);
  g_assert_cmpuint (boot_and_count (machine), ==, 1);
  one = create_checkpoint (machine, "at 1", NULL);
  g_assert_cmpuint (boot_and_count (machine), ==, 2);
  two = create_checkpoint (machine, "at 2", NULL);
  g_assert_cmpuint (boot_and_count (machine), ==, 3);

  apply (f, one, FALSE);
  g_assert_cmpuint (boot_and_count (machine), ==, 2);
  g_assert_cmpuint (boot_and_count (machine), ==, 3);
  three = create_checkpoint (machine, "at 3, beside “at 2”", NULL);
  assert_parent (f, three, one);
  g_assert_cmpuint (boot_and_count (machine), ==, 4);

  /* Delete the root "at 1": its children and Now keep every byte. */
  delete_checkpoint (f, one, FALSE);
  assert_tree_on_disk (f, machine, image, NULL);
  g_assert_cmpuint (boot_and_count (machine), ==, 5);
  apply (f, two, FALSE);
  g_assert_cmpuint (boot_and_count (machine), ==, 3);
  apply (f, three, FALSE);
  g_assert_cmpuint (boot_and_count (machine), ==, 4);

  /* Delete "at 2" while Now derives from "at 3": Now stays. */
  delete_checkpoint (f, two, FALSE);
  g_assert_cmpuint (boot_and_count (machine), ==, 5);
  apply (f, three, TRUE);
  /* With "start" and no state: booting at once. */
  g_assert_cmpstr (vireo_dbus_machine_get_state (machine), !=, "off");
  call_ok (machine, "TurnOff", NULL);
  assert_tree_on_disk (f, machine, image, NULL);
}

/* The last "count N" in @text after @from, or -1. */
static gint64
last_count (const GString *text, gsize from)
{
  const char *p = text->str + from;
  const char *found = NULL;
  gint64 count = -1;

  while ((p = strstr (p, "count ")) != NULL)
    {
      if (strchr (p, '\n'))
        found = p;
      p += strlen ("count ");
    }
  if (found)
    count = (gint64) g_ascii_strtoull (found + strlen ("count "), NULL, 10);
  return count;
}

/* Every complete line "count N" of @text, in order. */
static GArray *
all_counts (const GString *text)
{
  GArray *counts = g_array_new (FALSE, FALSE, sizeof (gint64));
  const char *p = text->str;

  while ((p = strstr (p, "count ")) != NULL && strchr (p, '\n'))
    {
      gint64 count = (gint64) g_ascii_strtoull (p + strlen ("count "), NULL, 10);
      g_array_append_val (counts, count);
      p += strlen ("count ");
    }
  return counts;
}

/* Waits until @fd's guest has printed a count of at least @target; returns the last one. */
static gint64
count_until (int fd, GString *seen, gsize from, gint64 target)
{
  gint64 deadline = g_get_monotonic_time () + (gint64) WAIT_SECONDS * G_USEC_PER_SEC;
  gint64 count;

  while ((count = last_count (seen, from)) < target)
    {
      g_assert_cmpint (g_get_monotonic_time (), <, deadline);
      serial_collect (fd, seen, 50);
    }
  return count;
}

/* Memory as a guest sees it: the mem-counter guest counts in memory; after a standard checkpoint it
 * counts on; Apply with "start" brings back the checkpoint's count. */
void
test_mem_counter (Fixture *f)
{
  g_autofree char *guest = vireo_test_guest_path ("mem-counter");
  g_autoptr (VireoDBusMachine) machine = NULL;
  g_autoptr (GString) seen = g_string_new (NULL);
  g_autofree char *checkpoint = NULL;
  g_autofree char *image = NULL;
  gint64 before, after_checkpoint, later, resumed, deadline;
  gsize mark;
  int fd;

  if (!g_file_test (guest, G_FILE_TEST_EXISTS))
    {
      g_test_skip ("the mem-counter guest is not built");
      return;
    }
  if (!require_qemu_img ())
    return;
  machine = create_machine_with_disk (f, "memory", "mem-counter", &image);
  call_ok (machine, "Start", NULL);
  fd = open_serial (machine);
  before = count_until (fd, seen, 0, 5);
  checkpoint = create_checkpoint (machine, "counting", NULL);
  g_assert_true (checkpoint_boolean (f, checkpoint, "HasState"));
  mark = seen->len;
  after_checkpoint = count_until (fd, seen, mark, before + 1);
  /* It runs on well past the checkpoint. */
  later = count_until (fd, seen, mark, after_checkpoint + 20);
  test_say ("count %" G_GINT64_FORMAT " before the checkpoint, %" G_GINT64_FORMAT
            " just after, %" G_GINT64_FORMAT " at Apply",
            before, after_checkpoint, later);
  close (fd);

  apply (f, checkpoint, TRUE);
  g_assert_cmpstr (vireo_dbus_machine_get_state (machine), ==, "running");
  /* The console may replay what the guest printed before Apply: the count it resumed from is the first
   * after a drop, or the first of all when nothing was replayed. */
  fd = open_serial (machine);
  g_string_truncate (seen, 0);
  deadline = g_get_monotonic_time () + (gint64) WAIT_SECONDS * G_USEC_PER_SEC;
  while (TRUE)
    {
      if (g_get_monotonic_time () > deadline)
        g_error ("no count after Apply; the console showed: %s", seen->str);
      g_autoptr (GArray) counts = all_counts (seen);
      resumed = -1;
      for (guint i = 1; i < counts->len && resumed < 0; i++)
        if (g_array_index (counts, gint64, i) < g_array_index (counts, gint64, i - 1))
          resumed = g_array_index (counts, gint64, i);
      if (resumed < 0 && counts->len > 0 && g_array_index (counts, gint64, 0) < later)
        resumed = g_array_index (counts, gint64, 0);
      /* A few counts after it, so that it is seen counting on. */
      if (resumed >= 0 && g_array_index (counts, gint64, counts->len - 1) >= resumed + 3)
        break;
      serial_collect (fd, seen, 50);
    }
  test_say ("count %" G_GINT64_FORMAT " after Apply", resumed);
  g_assert_cmpint (resumed, >=, before);
  g_assert_cmpint (resumed, <=, after_checkpoint + 1);
  g_assert_cmpint (resumed, <, later);
  call_ok (machine, "TurnOff", NULL);
  close (fd);
}

/* The machine settings: the default kind, and an automatic production checkpoint at each Start from
 * off (not at a resume). */
void
test_settings (Fixture *f)
{
  g_autofree char *image = NULL;
  g_autoptr (VireoDBusMachine) machine = create_machine_with_disk (f, "Auto", "echo", &image);
  g_autoptr (GString) seen = g_string_new (NULL);
  g_autoptr (GVariant) settings = NULL;
  g_autoptr (GHashTable) checkpoints = NULL;
  g_autofree char *path = NULL;
  g_autofree char *kind = NULL;
  const char *value = NULL;
  gboolean automatic = TRUE;
  GHashTableIter iter;
  gpointer key, properties;
  int fd;

  if (!require_qemu_img ())
    return;
  settings = vireo_dbus_machine_dup_settings (machine);
  if (g_variant_lookup (settings, "checkpoint-kind", "&s", &value))
    g_assert_cmpstr (value, ==, "standard");
  if (g_variant_lookup (settings, "automatic-checkpoints", "b", &automatic))
    g_assert_false (automatic);
  call_ok (machine, "Update", g_variant_new_parsed ("({'checkpoint-kind': <'production'>},)"));
  path = create_checkpoint (machine, "by default", NULL);
  kind = checkpoint_string (f, path, "Kind");
  g_assert_cmpstr (kind, ==, "production");
  delete_checkpoint (f, path, FALSE);
  call_expect_error (machine, "Update", g_variant_new_parsed ("({'checkpoint-kind': <'weird'>},)"),
                     ERROR_NAME ("InvalidArgument"), "weird");

  call_ok (machine, "Update", g_variant_new_parsed ("({'automatic-checkpoints': <true>},)"));
  fd = start_and_wait_for (machine, "echo ready", seen);
  call_ok (machine, "Save", NULL);
  close (fd);
  /* A resume takes none. */
  call_ok (machine, "Start", NULL);
  call_ok (machine, "TurnOff", NULL);
  checkpoints = checkpoints_of (f, machine);
  g_assert_cmpuint (g_hash_table_size (checkpoints), ==, 1);
  g_hash_table_iter_init (&iter, checkpoints);
  while (g_hash_table_iter_next (&iter, &key, &properties))
    {
      const char *name = NULL;
      g_assert_true (g_variant_lookup (properties, "Name", "&s", &name));
      g_assert_true (g_variant_lookup (properties, "Kind", "&s", &value));
      test_say ("automatic: %s", name);
      g_assert_true (g_str_has_prefix (name, "Automatic Checkpoint - Auto - ("));
      g_assert_cmpstr (value, ==, "production");
    }
  assert_tree_on_disk (f, machine, image, NULL);
}

/* A production checkpoint of a running machine whose guest runs an agent (the fake one of the agent
 * guest): its file systems frozen for the moment of the disk snapshot and thawed after, in that order,
 * and the checkpoint says "application"; a guest without an agent gets a crash-consistent one, not an
 * error. */
void
test_production_agent (Fixture *f)
{
  g_autofree char *image = NULL;
  g_autoptr (VireoDBusMachine) machine = NULL;
  g_autoptr (VireoDBusMachine) silent = NULL;
  g_autoptr (GString) seen = g_string_new (NULL);
  g_autoptr (GString) quiet = g_string_new (NULL);
  g_autofree char *path = NULL;
  g_autofree char *consistency = NULL;
  g_autofree char *silent_image = NULL;
  g_autofree char *silent_path = NULL;
  g_autofree char *silent_consistency = NULL;
  const char *freeze, *thaw;
  gsize mark;
  int fd;

  if (!require_qemu_img ())
    return;
  machine = create_machine_with_disk (f, "agented", "agent", &image);
  call_ok (machine, "Update", g_variant_new_parsed ("({'guest-agent': <true>},)"));
  fd = start_and_wait_for (machine, "agent ready", seen);
  mark = seen->len;
  path = create_checkpoint (machine, "frozen", g_variant_new_parsed ("{'kind': <'production'>}"));
  consistency = checkpoint_string (f, path, "Consistency");
  g_assert_cmpstr (consistency, ==, "application");
  g_assert_false (checkpoint_boolean (f, path, "HasState"));
  g_assert_true (serial_wait_for (fd, seen, mark, "agent: thaw", WAIT_SECONDS));
  freeze = strstr (seen->str + mark, "agent: freeze");
  thaw = strstr (seen->str + mark, "agent: thaw");
  g_assert_nonnull (freeze);
  g_assert_true (freeze < thaw);
  g_assert_cmpstr (vireo_dbus_machine_get_state (machine), ==, "running");
  assert_tree_on_disk (f, machine, image, NULL);
  call_ok (machine, "TurnOff", NULL);
  close (fd);

  /* The channel is there, but nothing answers on it. */
  silent = create_machine_with_disk (f, "agentless", "echo", &silent_image);
  call_ok (silent, "Update", g_variant_new_parsed ("({'guest-agent': <true>},)"));
  fd = start_and_wait_for (silent, "echo ready", quiet);
  silent_path = create_checkpoint (silent, "unfrozen", g_variant_new_parsed ("{'kind': <'production'>}"));
  silent_consistency = checkpoint_string (f, silent_path, "Consistency");
  g_assert_cmpstr (silent_consistency, ==, "crash");
  g_assert_cmpstr (vireo_dbus_machine_get_state (silent), ==, "running");
  echo_line (fd, "still here");
  call_ok (silent, "TurnOff", NULL);
  close (fd);
}
