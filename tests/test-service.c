/* test-service.c — the 'service' suite: the real vireod --session on a private bus, driven through the
 * generated org.vireo.Vireo1 proxies and the gdbus command line, with the test guests as machines.  The
 * sandbox tests also run vireod --system (as root, the private bus standing in for the system bus).
 * The fixture, and each test's run in a child process, are in service-fixture.c. */
#include "hv.h"
#include "service-fixture.h"
#include "test-util.h"

#include <errno.h>
#include <fcntl.h>
#include <gio/gunixfdlist.h>
#include <glib/gstdio.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---- the tests ---- */

static void
test_host_facts (Fixture *f)
{
  int kvm = open ("/dev/kvm", O_RDWR | O_CLOEXEC);
  g_autoptr (GHashTable) machines = managed_machines (f);

  g_assert_cmpstr (vireo_dbus_manager_get_version (f->manager), ==, VIREO_VERSION);
  g_assert_cmpstr (vireo_dbus_manager_get_mode (f->manager), ==, "session");
  g_assert_cmpint (vireo_dbus_manager_get_kvm_available (f->manager), ==, kvm >= 0);
  if (kvm >= 0)
    g_assert_cmpstr (vireo_dbus_manager_get_kvm_status (f->manager), ==, "");
  else
    g_assert_cmpstr (vireo_dbus_manager_get_kvm_status (f->manager), !=, "");
  if (kvm >= 0)
    close (kvm);
  g_assert_cmpuint (vireo_dbus_manager_get_host_cpus (f->manager), ==, g_get_num_processors ());
  g_assert_cmpuint (vireo_dbus_manager_get_host_memory_mib (f->manager), >, 0);
  g_assert_cmpuint (vireo_dbus_manager_get_host_memory_mib (f->manager), ==, hv_host_memory_limit () >> 20);
  g_assert_cmpstr (vireo_dbus_manager_get_storage_location (f->manager), ==, f->storage);
  g_assert_true (g_file_test (f->storage, G_FILE_TEST_IS_DIR));
  /* A fresh service has no machines. */
  g_assert_cmpuint (g_hash_table_size (machines), ==, 0);
}

static void
test_lifecycle (Fixture *f)
{
  g_autoptr (VireoDBusMachine) machine = create_guest (f, "hello", "hello");
  g_autoptr (GPtrArray) states = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GVariant) settings = NULL;
  g_autofree char *kernel = vireo_test_guest_path ("hello");
  g_autofree char *folder = machine_folder (f, machine);
  const char *kernel_setting = NULL;
  gulong handler;

  g_assert_cmpstr (vireo_dbus_machine_get_name (machine), ==, "hello");
  g_assert_true (g_uuid_string_is_valid (vireo_dbus_machine_get_uuid (machine)));
  g_assert_cmpstr (vireo_dbus_machine_get_state (machine), ==, "off");
  g_assert_cmpuint (vireo_dbus_machine_get_uptime (machine), ==, 0);
  g_assert_cmpstr (vireo_dbus_machine_get_last_error (machine), ==, "");
  g_assert_cmpuint (vireo_dbus_machine_get_memory_mib (machine), ==, 64);
  g_assert_cmpuint (vireo_dbus_machine_get_vcpus (machine), ==, 1);
  settings = vireo_dbus_machine_dup_settings (machine);
  g_assert_true (g_variant_lookup (settings, "kernel", "&s", &kernel_setting));
  g_assert_cmpstr (kernel_setting, ==, kernel);
  /* Its definition is stored at once, in its own folder. */
  g_assert_true (g_file_test (folder, G_FILE_TEST_IS_DIR));

  handler = g_signal_connect (machine, "notify::state", G_CALLBACK (on_state_changed), states);
  for (int round = 0; round < 2; round++)
    {
      g_ptr_array_set_size (states, 0);
      call_ok (machine, "Start", NULL);
      /* The guest powers itself off at once. */
      wait_for_state (machine, "off");
      g_assert_true (strv_has (states, "running"));
      g_assert_cmpstr (g_ptr_array_index (states, states->len - 1), ==, "off");
      g_assert_cmpuint (vireo_dbus_machine_get_uptime (machine), ==, 0);
      g_assert_cmpfloat (vireo_dbus_machine_get_cpu_usage (machine), ==, 0.0);
      g_assert_cmpstr (vireo_dbus_machine_get_last_error (machine), ==, "");
    }
  g_signal_handler_disconnect (machine, handler);
}

static void
test_serial (Fixture *f)
{
  g_autoptr (VireoDBusMachine) machine = NULL;
  g_autoptr (GString) first = g_string_new (NULL);
  g_autoptr (GString) second = g_string_new (NULL);
  gsize mark;
  int fd1, fd2;

  machine = create_guest (f, "echo", "echo");
  fd1 = start_and_wait_for (machine, "echo ready", first);

  mark = first->len;
  serial_type (fd1, "hello vireo");
  g_assert_true (serial_wait_for (fd1, first, mark, "hello vireo", WAIT_SECONDS));

  /* A second console first gets what the guest wrote before, then the same live output. */
  fd2 = open_serial (machine);
  g_assert_true (serial_wait_for (fd2, second, 0, "echo ready", WAIT_SECONDS));
  g_assert_true (serial_wait_for (fd2, second, 0, "hello vireo", WAIT_SECONDS));
  mark = first->len;
  serial_type (fd2, "from two");
  g_assert_true (serial_wait_for (fd2, second, second->len, "from two", WAIT_SECONDS));
  g_assert_true (serial_wait_for (fd1, first, mark, "from two", WAIT_SECONDS));

  /* Uptime counts while it runs. */
  g_assert_true (vireo_test_wait_until (uptime_positive, machine, WAIT_SECONDS));

  /* 'q' makes the guest say goodbye and power off. */
  mark = first->len;
  serial_type (fd1, "q");
  g_assert_true (serial_wait_for (fd1, first, mark, "echo done", WAIT_SECONDS));
  wait_for_state (machine, "off");
  g_assert_cmpstr (vireo_dbus_machine_get_last_error (machine), ==, "");
  g_assert_cmpuint (vireo_dbus_machine_get_uptime (machine), ==, 0);
  close (fd1);
  close (fd2);
}

/* ---- display ---- */

static void
test_display (Fixture *f)
{
  g_autoptr (VireoDBusMachine) machine = NULL;
  g_autofree char *kernel = vireo_test_guest_path ("display");
  g_autoptr (GError) error = NULL;
  g_autoptr (GUnixFDList) fds = NULL;
  g_autoptr (GVariant) reply = NULL;
  g_autoptr (GString) seen = g_string_new (NULL);
  struct stat st;
  gint32 handle;
  int serial, fd;

  machine = create (f,
                    g_variant_new_parsed ("{'name': <'screen'>, 'kernel': <%s>, 'memory-mib': <uint64 128>, "
                                          "'display': <true>}",
                                          kernel));
  call_expect_error (machine, "OpenDisplay", NULL, ERROR_NAME ("InvalidState"), "screen");
  serial = start_and_wait_for (machine, "display: pattern ready", seen);

  /* Each call gives a new connected socket speaking SPICE (the display tests check the protocol). */
  for (int i = 0; i < 2; i++)
    {
      g_clear_pointer (&reply, g_variant_unref);
      g_clear_object (&fds);
      reply = call_full (machine, "OpenDisplay", NULL, &fds, &error);
      g_assert_no_error (error);
      g_variant_get (reply, "(h)", &handle);
      fd = g_unix_fd_list_get (fds, handle, &error);
      g_assert_no_error (error);
      g_assert_cmpint (fstat (fd, &st), ==, 0);
      g_assert_true (S_ISSOCK (st.st_mode));
      close (fd);
    }
  close (serial);
  call_ok (machine, "TurnOff", NULL);
  g_assert_cmpstr (vireo_dbus_machine_get_state (machine), ==, "off");
}

static void
test_pause_resume (Fixture *f)
{
  g_autoptr (VireoDBusMachine) machine = NULL;
  g_autoptr (GString) seen = g_string_new (NULL);
  gsize mark;
  int fd;

  machine = create_guest (f, "pausable", "echo");
  fd = start_and_wait_for (machine, "echo ready", seen);

  call_ok (machine, "Pause", NULL);
  g_assert_cmpstr (vireo_dbus_machine_get_state (machine), ==, "paused");
  call_expect_error (machine, "Pause", NULL, ERROR_NAME ("InvalidState"), "pausable");
  call_expect_error (machine, "Shutdown", g_variant_new ("(u)", 5), ERROR_NAME ("InvalidState"), "pausable");

  /* Typing reaches a paused guest only once it runs again. */
  mark = seen->len;
  serial_type (fd, "typed while paused");
  serial_collect (fd, seen, PAUSED_QUIET_MS);
  g_assert_cmpstr (seen->str + mark, ==, "");
  g_assert_cmpstr (vireo_dbus_machine_get_state (machine), ==, "paused");

  call_ok (machine, "Resume", NULL);
  g_assert_cmpstr (vireo_dbus_machine_get_state (machine), ==, "running");
  g_assert_true (serial_wait_for (fd, seen, mark, "typed while paused", WAIT_SECONDS));
  call_expect_error (machine, "Resume", NULL, ERROR_NAME ("InvalidState"), "pausable");

  /* Pausing a second time works as the first. */
  call_ok (machine, "Pause", NULL);
  g_assert_cmpstr (vireo_dbus_machine_get_state (machine), ==, "paused");
  call_ok (machine, "Resume", NULL);
  mark = seen->len;
  serial_type (fd, "again");
  g_assert_true (serial_wait_for (fd, seen, mark, "again", WAIT_SECONDS));

  call_ok (machine, "TurnOff", NULL);
  g_assert_cmpstr (vireo_dbus_machine_get_state (machine), ==, "off");
  close (fd);
}

static void
test_shutdown (Fixture *f)
{
  g_autoptr (VireoDBusMachine) graceful = NULL;
  g_autoptr (VireoDBusMachine) stubborn = NULL;
  g_autoptr (GString) seen = g_string_new (NULL);
  g_autoptr (GString) stubborn_seen = g_string_new (NULL);
  g_autoptr (GError) error = NULL;
  g_autoptr (GVariant) reply = NULL;
  int fd;

  /* A guest that listens to the power button: Shutdown returns once it is off. */
  graceful = create_guest (f, "graceful", "shutdown");
  fd = start_and_wait_for (graceful, "waiting for power button", seen);
  call_ok (graceful, "Shutdown", g_variant_new ("(u)", 30));
  g_assert_cmpstr (vireo_dbus_machine_get_state (graceful), ==, "off");
  g_assert_cmpstr (vireo_dbus_machine_get_last_error (graceful), ==, "");
  g_assert_true (serial_wait_for (fd, seen, 0, "power button pressed", WAIT_SECONDS));
  close (fd);

  /* One that ignores it: Timeout, and the machine keeps running until turned off. */
  stubborn = create_guest (f, "stubborn", "echo");
  fd = start_and_wait_for (stubborn, "echo ready", stubborn_seen);
  reply = call_full (stubborn, "Shutdown", g_variant_new ("(u)", 3), NULL, &error);
  g_assert_null (reply);
  assert_dbus_error (error, ERROR_NAME ("Timeout"), "stubborn");
  g_assert_cmpstr (vireo_dbus_machine_get_state (stubborn), ==, "running");
  /* Still alive: it echoes. */
  serial_type (fd, "still here");
  g_assert_true (serial_wait_for (fd, stubborn_seen, 0, "still here", WAIT_SECONDS));
  call_ok (stubborn, "TurnOff", NULL);
  g_assert_cmpstr (vireo_dbus_machine_get_state (stubborn), ==, "off");
  g_assert_cmpstr (vireo_dbus_machine_get_last_error (stubborn), ==, "");
  close (fd);
}

/* Save and Start again, over and over, on one machine that never powers off in between: each restore
 * continues the same guest, and each save after a restore writes a new saved state. */
static void
test_save_restore_cycles (Fixture *f)
{
  g_autoptr (VireoDBusMachine) machine = create_guest (f, "cycler", "echo");
  g_autoptr (GString) seen = g_string_new (NULL);
  int fd = start_and_wait_for (machine, "echo ready", seen);

  close (fd);
  for (int cycle = 1; cycle <= 20; cycle++)
    {
      g_autofree char *line = g_strdup_printf ("cycle %d", cycle);
      g_autoptr (GString) echoed = g_string_new (NULL);

      call_ok (machine, "Save", NULL);
      g_assert_cmpstr (vireo_dbus_machine_get_state (machine), ==, "saved");
      g_assert_cmpstr (vireo_dbus_machine_get_last_error (machine), ==, "");
      call_ok (machine, "Start", NULL);
      g_assert_cmpstr (vireo_dbus_machine_get_state (machine), ==, "running");
      fd = open_serial (machine);
      serial_type (fd, line);
      g_assert_true (serial_wait_for (fd, echoed, 0, line, WAIT_SECONDS));
      /* Resumed, not booted again. */
      g_assert_null (strstr (echoed->str, "echo ready"));
      close (fd);
    }
  call_ok (machine, "TurnOff", NULL);
}

static void
test_save_restore (Fixture *f)
{
  g_autoptr (VireoDBusMachine) machine = NULL;
  g_autoptr (GString) before = g_string_new (NULL);
  g_autoptr (GString) after = g_string_new (NULL);
  g_autoptr (GString) fresh = g_string_new (NULL);
  g_autofree char *path = NULL;
  gsize mark;
  int fd;

  machine = create_guest (f, "saver", "echo");
  path = g_strdup (machine_path (machine));
  fd = start_and_wait_for (machine, "echo ready", before);
  mark = before->len;
  serial_type (fd, "before save");
  g_assert_true (serial_wait_for (fd, before, mark, "before save", WAIT_SECONDS));

  call_ok (machine, "Save", NULL);
  g_assert_cmpstr (vireo_dbus_machine_get_state (machine), ==, "saved");
  g_assert_cmpuint (vireo_dbus_machine_get_uptime (machine), ==, 0);
  g_assert_cmpstr (vireo_dbus_machine_get_last_error (machine), ==, "");
  close (fd);

  /* A saved machine stays saved across a restart of the service. */
  g_clear_object (&machine);
  vireod_restart (f);
  machine = machine_proxy (f, path);
  wait_for_state (machine, "saved");

  /* Start continues where it was: the guest is still in its echo loop and does not boot again, so no
   * new banner comes before the echo. */
  call_ok (machine, "Start", NULL);
  g_assert_cmpstr (vireo_dbus_machine_get_state (machine), ==, "running");
  fd = open_serial (machine);
  serial_type (fd, "after restore");
  g_assert_true (serial_wait_for (fd, after, 0, "after restore", WAIT_SECONDS));
  g_assert_null (strstr (after->str, "echo ready"));
  mark = after->len;
  serial_type (fd, "q");
  g_assert_true (serial_wait_for (fd, after, mark, "echo done", WAIT_SECONDS));
  wait_for_state (machine, "off");
  g_assert_cmpstr (vireo_dbus_machine_get_last_error (machine), ==, "");
  close (fd);

  /* The saved state was used once: the next Start boots afresh. */
  fd = start_and_wait_for (machine, "echo ready", fresh);
  call_ok (machine, "TurnOff", NULL);
  g_assert_cmpstr (vireo_dbus_machine_get_state (machine), ==, "off");
  close (fd);
}

static void
test_persistence (Fixture *f)
{
  g_autofree char *hello = vireo_test_guest_path ("hello");
  g_autofree char *echo = vireo_test_guest_path ("echo");
  g_autofree char *shutdown = vireo_test_guest_path ("shutdown");
  GVariant *definitions[] = {
    g_variant_new_parsed (
        "{'name': <'alpha'>, 'kernel': <%s>, 'memory-mib': <uint64 64>, 'vcpus': <uint32 2>,"
        " 'cmdline': <'console=ttyS0 answer=42'>, 'notes': <'first line\\nsecond line'>,"
        " 'auto-stop': <'turn-off'>}",
        hello),
    g_variant_new_parsed ("{'name': <'béta ☂'>, 'kernel': <%s>, 'initrd': <%s>, 'memory-mib': <uint64 48>,"
                          " 'cpuid-mask': <'-cx16'>, 'auto-start': <'if-running'>}",
                          echo, hello),
    g_variant_new_parsed ("{'name': <'gamma'>, 'kernel': <%s>}", shutdown),
  };
  g_autoptr (GHashTable) before = NULL;
  g_autoptr (GHashTable) after = NULL;
  GHashTableIter iter;
  gpointer key, value;

  for (guint i = 0; i < G_N_ELEMENTS (definitions); i++)
    {
      g_autoptr (VireoDBusMachine) machine = create (f, definitions[i]);
      g_assert_cmpstr (vireo_dbus_machine_get_state (machine), ==, "off");
    }
  before = managed_machines (f);
  g_assert_cmpuint (g_hash_table_size (before), ==, 3);

  vireod_restart (f);

  after = managed_machines (f);
  g_assert_cmpuint (g_hash_table_size (after), ==, 3);
  g_hash_table_iter_init (&iter, before);
  while (g_hash_table_iter_next (&iter, &key, &value))
    {
      GVariant *again = g_hash_table_lookup (after, key);
      g_autoptr (VireoDBusMachine) machine = machine_proxy (f, key);
      g_autoptr (GVariant) settings_before = g_variant_lookup_value (value, "Settings", NULL);
      g_autoptr (GVariant) settings_after = NULL;
      static const char *const same[] = { "Name", "Uuid", "MemoryMiB", "VCpus", "Notes", "State" };

      g_assert_nonnull (again);
      settings_after = g_variant_lookup_value (again, "Settings", NULL);
      if (!g_variant_equal (settings_before, settings_after))
        {
          g_autofree char *was = g_variant_print (settings_before, TRUE);
          g_autofree char *is = g_variant_print (settings_after, TRUE);
          g_test_message ("settings before the restart: %s\nafter: %s", was, is);
        }
      g_assert_true (g_variant_equal (settings_before, settings_after));
      for (guint i = 0; i < G_N_ELEMENTS (same); i++)
        {
          g_autoptr (GVariant) a = g_variant_lookup_value (value, same[i], NULL);
          g_autoptr (GVariant) b = g_variant_lookup_value (again, same[i], NULL);
          g_assert_nonnull (a);
          g_assert_nonnull (b);
          g_assert_true (g_variant_equal (a, b));
        }
      g_assert_cmpstr (vireo_dbus_machine_get_state (machine), ==, "off");
    }
}

static void
test_reattach (Fixture *f)
{
  g_autoptr (VireoDBusMachine) machine = NULL;
  g_autoptr (GString) seen = g_string_new (NULL);
  g_autoptr (GString) history = g_string_new (NULL);
  g_autofree char *path = NULL;
  g_autofree char *uuid = NULL;
  VireoTestProcessQuery worker_query = { "vireo-worker", NULL };
  gsize mark;
  pid_t pid;
  int fd, fd2;

  machine = create_guest (f, "survivor", "echo");
  path = g_strdup (machine_path (machine));
  fd = start_and_wait_for (machine, "echo ready", seen);
  mark = seen->len;
  serial_type (fd, "one");
  g_assert_true (serial_wait_for (fd, seen, mark, "one", WAIT_SECONDS));
  pid = worker_pid (machine);
  /* A copy: the proxy's string goes with the proxy, just below. */
  uuid = g_strdup (vireo_dbus_machine_get_uuid (machine));
  worker_query.needle = uuid;

  g_clear_object (&machine);
  vireod_stop (f);
  /* The machine runs on without the service, and a console opened before keeps working. */
  g_assert_cmpint (kill (pid, 0), ==, 0);
  mark = seen->len;
  serial_type (fd, "two");
  g_assert_true (serial_wait_for (fd, seen, mark, "two", WAIT_SECONDS));

  vireod_start (f);
  machine = machine_proxy (f, path);
  wait_for_state (machine, "running");
  g_assert_cmpint (worker_pid (machine), ==, pid);
  g_assert_cmpstr (vireo_dbus_machine_get_last_error (machine), ==, "");

  /* The same guest, not a new boot: the history has all of it. */
  fd2 = open_serial (machine);
  g_assert_true (serial_wait_for (fd2, history, 0, "two", WAIT_SECONDS));
  g_assert_nonnull (strstr (history->str, "echo ready"));
  g_assert_nonnull (strstr (history->str, "one"));
  mark = history->len;
  serial_type (fd2, "three");
  g_assert_true (serial_wait_for (fd2, history, mark, "three", WAIT_SECONDS));
  g_assert_true (vireo_test_wait_until (uptime_positive, machine, WAIT_SECONDS));

  call_ok (machine, "TurnOff", NULL);
  g_assert_cmpstr (vireo_dbus_machine_get_state (machine), ==, "off");
  g_assert_true (vireo_test_wait_until (vireo_test_processes_gone, &worker_query, WAIT_SECONDS));
  close (fd);
  close (fd2);
}

static void
test_worker_killed (Fixture *f)
{
  g_autoptr (VireoDBusMachine) machine = NULL;
  g_autoptr (VireoDBusMachine) bystander = NULL;
  g_autoptr (GString) seen = g_string_new (NULL);
  g_autoptr (GString) again = g_string_new (NULL);
  g_autoptr (GVariant) settings = NULL;
  g_autoptr (GVariant) settings_after = NULL;
  g_autofree char *definition = NULL;
  g_autofree char *definition_after = NULL;
  int fd;

  machine = create_guest (f, "fragile", "echo");
  fd = start_and_wait_for (machine, "echo ready", seen);
  close (fd);
  settings = vireo_dbus_machine_dup_settings (machine);
  definition = read_definition (f, machine);

  g_assert_cmpint (kill (worker_pid (machine), SIGKILL), ==, 0);
  assert_vireod_answers (f);
  wait_for_state (machine, "crashed");
  g_test_message ("LastError after the worker was killed: %s", vireo_dbus_machine_get_last_error (machine));
  g_assert_cmpstr (vireo_dbus_machine_get_last_error (machine), !=, "");
  g_assert_nonnull (strstr (vireo_dbus_machine_get_last_error (machine), "fragile"));
  g_assert_cmpuint (vireo_dbus_machine_get_uptime (machine), ==, 0);

  /* The service carries on with everything else. */
  assert_vireod_answers (f);
  bystander = create_guest (f, "bystander", "hello");
  g_assert_cmpstr (vireo_dbus_machine_get_state (bystander), ==, "off");

  /* The definition is untouched, and the machine can run again. */
  settings_after = vireo_dbus_machine_dup_settings (machine);
  g_assert_true (g_variant_equal (settings, settings_after));
  definition_after = read_definition (f, machine);
  g_assert_cmpstr (definition, ==, definition_after);
  call_expect_error (machine, "OpenSerial", NULL, ERROR_NAME ("InvalidState"), "fragile");

  fd = start_and_wait_for (machine, "echo ready", again);
  g_assert_cmpstr (vireo_dbus_machine_get_last_error (machine), ==, "");
  call_ok (machine, "TurnOff", NULL);
  g_assert_cmpstr (vireo_dbus_machine_get_state (machine), ==, "off");
  close (fd);
}

/* A machine that crashes while vireod is down comes back "crashed", saying why, and stays so across
 * another restart, until it starts again. */
static void
test_crash_record (Fixture *f)
{
  g_autoptr (VireoDBusMachine) machine = create_guest (f, "crasher", "echo");
  g_autoptr (GString) seen = g_string_new (NULL);
  g_autofree char *path = g_strdup (machine_path (machine));
  g_autofree char *marker = NULL;
  VireoTestProcessQuery worker_query = { "vireo-worker", NULL };
  g_autofree char *uuid = g_strdup (vireo_dbus_machine_get_uuid (machine));
  int fd = start_and_wait_for (machine, "echo ready", seen);

  worker_query.needle = uuid;
  marker = g_build_filename (f->storage, uuid, "running", NULL);
  g_assert_true (g_file_test (marker, G_FILE_TEST_EXISTS));
  g_clear_object (&machine);
  vireod_stop (f);
  /* Like a PC, the machine restarts after a triple fault; the fourth within ten seconds ends it. */
  for (int crash = 0; crash < 4; crash++)
    {
      gsize mark = seen->len;
      if (crash > 0)
        g_assert_true (serial_wait_for (fd, seen, mark, "echo ready", WAIT_SECONDS));
      mark = seen->len;
      serial_type (fd, "\x1c");
      g_assert_true (serial_wait_for (fd, seen, mark, "echo crash", WAIT_SECONDS));
    }
  close (fd);
  g_assert_true (vireo_test_wait_until (vireo_test_processes_gone, &worker_query, WAIT_SECONDS));

  for (int restart = 0; restart < 2; restart++)
    {
      vireod_start (f);
      machine = machine_proxy (f, path);
      wait_for_state (machine, "crashed");
      g_test_message ("LastError after vireod restart %d: %s", restart + 1,
                      vireo_dbus_machine_get_last_error (machine));
      g_assert_nonnull (strstr (vireo_dbus_machine_get_last_error (machine), "a triple fault"));
      g_assert_false (g_file_test (marker, G_FILE_TEST_EXISTS));
      g_clear_object (&machine);
      vireod_stop (f);
    }

  /* Starting again ends the record. */
  vireod_start (f);
  machine = machine_proxy (f, path);
  g_string_truncate (seen, 0);
  fd = start_and_wait_for (machine, "echo ready", seen);
  g_assert_cmpstr (vireo_dbus_machine_get_last_error (machine), ==, "");
  call_ok (machine, "TurnOff", NULL);
  close (fd);
  g_clear_object (&machine);
  vireod_restart (f);
  machine = machine_proxy (f, path);
  wait_for_state (machine, "off");
  g_assert_cmpstr (vireo_dbus_machine_get_last_error (machine), ==, "");
}

/* A kernel swapped for a FIFO after the machine was defined: Start fails saying so, and vireod answers
 * throughout (it used to block in open() until someone wrote to the FIFO). */
static void
test_fifo_kernel (Fixture *f)
{
  g_autofree char *hello = vireo_test_guest_path ("hello");
  g_autofree char *kernel = g_build_filename (f->base, "swapped.elf", NULL);
  g_autofree char *contents = NULL;
  g_autoptr (VireoDBusMachine) machine = NULL;
  gsize length;

  g_assert_true (g_file_get_contents (hello, &contents, &length, NULL));
  g_assert_true (g_file_set_contents (kernel, contents, (gssize) length, NULL));
  machine = create (
      f, g_variant_new_parsed ("{'name': <'swapped'>, 'kernel': <%s>, 'memory-mib': <uint64 64>}", kernel));
  g_assert_cmpint (unlink (kernel), ==, 0);
  g_assert_cmpint (mkfifo (kernel, 0600), ==, 0);

  call_expect_error (machine, "Start", NULL, ERROR_NAME ("InvalidArgument"), "not a regular file");
  assert_vireod_answers (f);
  g_assert_cmpstr (vireo_dbus_machine_get_state (machine), ==, "off");
}

static void
create_expect_error (Fixture *f, GVariant *settings, const char *name, const char *culprit)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *path = try_create (f, settings, &error);

  g_assert_null (path);
  assert_dbus_error (error, name, culprit);
}

static void
test_errors (Fixture *f)
{
  g_autofree char *hello = vireo_test_guest_path ("hello");
  g_autofree char *long_name = g_strnfill (65, 'n');
  g_autoptr (VireoDBusMachine) target = NULL;
  g_autoptr (VireoDBusMachine) other = NULL;
  g_autoptr (VireoDBusMachine) with_display = NULL;
  g_autoptr (GHashTable) machines = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (GVariant) reply = NULL;
  g_autofree char *remote = NULL;
  static const char *const need_running[] = { "Pause", "Resume", "TurnOff", "OpenSerial", "Save", "Reset" };

  /* CreateMachine: each bad setting is named in the message. */
  create_expect_error (f, g_variant_new_parsed ("{'kernel': <%s>}", hello), ERROR_NAME ("InvalidArgument"),
                       "name");
  create_expect_error (f, g_variant_new_parsed ("{'name': <'x'>, 'kernel': <%s>, 'colour': <'blue'>}", hello),
                       ERROR_NAME ("InvalidArgument"), "colour");
  create_expect_error (f, g_variant_new_parsed ("{'name': <'x'>, 'kernel': <%s>, 'vcpus': <'two'>}", hello),
                       ERROR_NAME ("InvalidArgument"), "vcpus");
  create_expect_error (
      f, g_variant_new_parsed ("{'name': <'x'>, 'kernel': <%s>, 'memory-mib': <uint64 1>}", hello),
      ERROR_NAME ("InvalidArgument"), "memory-mib");
  create_expect_error (f,
                       g_variant_new_parsed ("{'name': <'x'>, 'kernel': <%s>, 'vcpus': <uint32 65>}", hello),
                       ERROR_NAME ("InvalidArgument"), "vcpus");
  create_expect_error (f, g_variant_new_parsed ("{'name': <%s>, 'kernel': <%s>}", long_name, hello),
                       ERROR_NAME ("InvalidArgument"), "name");
  create_expect_error (f, g_variant_new_parsed ("{'name': <'x'>, 'kernel': <%s>, 'boot': <'floppy'>}", hello),
                       ERROR_NAME ("InvalidArgument"), "floppy");
  create_expect_error (f,
                       g_variant_new_parsed ("{'name': <'x'>, 'kernel': <'/nonexistent/vireo/kernel.elf'>}"),
                       ERROR_NAME ("NotFound"), "/nonexistent/vireo/kernel.elf");

  target = create_guest (f, "target", "hello");
  other = create_guest (f, "other", "hello");
  create_expect_error (f, guest_settings ("target", "hello"), ERROR_NAME ("Exists"), "target");

  /* Calls that need a running machine, on one that is off. */
  for (guint i = 0; i < G_N_ELEMENTS (need_running); i++)
    call_expect_error (target, need_running[i], NULL, ERROR_NAME ("InvalidState"), "target");
  call_expect_error (target, "Shutdown", g_variant_new ("(u)", 5), ERROR_NAME ("InvalidState"), "target");
  call_expect_error (target, "OpenDisplay", NULL, ERROR_NAME ("NotSupported"), "target");
  g_assert_cmpstr (vireo_dbus_machine_get_state (target), ==, "off");

  /* Changes that would break the rules leave the machine as it was. */
  call_expect_error (target, "Update", g_variant_new_parsed ("({'name': <'other'>},)"), ERROR_NAME ("Exists"),
                     "other");
  call_expect_error (target, "Rename", g_variant_new ("(s)", "other"), ERROR_NAME ("Exists"), "other");
  call_expect_error (target, "Rename", g_variant_new ("(s)", ""), ERROR_NAME ("InvalidArgument"), "name");
  call_expect_error (target, "Update", g_variant_new_parsed ("({'memory-mib': <uint64 1>},)"),
                     ERROR_NAME ("InvalidArgument"), "memory-mib");
  call_expect_error (target, "Update", g_variant_new_parsed ("({'vcpus': <'many'>},)"),
                     ERROR_NAME ("InvalidArgument"), "vcpus");
  g_assert_cmpstr (vireo_dbus_machine_get_name (target), ==, "target");
  g_assert_cmpuint (vireo_dbus_machine_get_memory_mib (target), ==, 64);
  g_assert_cmpuint (vireo_dbus_machine_get_vcpus (target), ==, 1);

  /* A NAT machine is made like any other (NAT runs now: /service/nat). */
  with_display = create (
      f, g_variant_new_parsed ("{'name': <'with nat'>, 'kernel': <%s>, 'network': <'nat'>}", hello));
  g_assert_cmpstr (vireo_dbus_machine_get_state (with_display), ==, "off");

  /* Importing what is not a libvirt domain. */
  call_expect_error (f->manager, "ImportLibvirtXml",
                     g_variant_new_parsed ("('this is <not> a domain', @a{sv} {})"),
                     ERROR_NAME ("InvalidArgument"), NULL);
  call_expect_error (f->manager, "ImportLibvirtXml", g_variant_new_parsed ("('', @a{sv} {})"),
                     ERROR_NAME ("InvalidArgument"), NULL);
  call_expect_error (f->manager, "ImportLibvirtXml",
                     g_variant_new_parsed ("('<domain type=\"kvm\"/>', {'colour': <'blue'>})"),
                     ERROR_NAME ("InvalidArgument"), "colour");
  /* One element with 90,000 attributes (under the size limit): refused by its shape, and the service
   * answers others meanwhile (the parse runs off its main loop). */
  {
    g_autoptr (GString) hostile = g_string_new ("<domain type='kvm'><name>a</name><x");
    for (int i = 0; i < 90000; i++)
      g_string_append_printf (hostile, " a%d='1'", i);
    g_string_append (hostile, "/></domain>");
    call_expect_error (
        f->manager, "ImportLibvirtXml",
        g_variant_new ("(s@a{sv})", hostile->str, g_variant_new_array (G_VARIANT_TYPE ("{sv}"), NULL, 0)),
        ERROR_NAME ("InvalidArgument"), "attributes per element");
    assert_vireod_answers (f);
  }

  /* A machine that does not exist. */
  reply = bus_call (f, ROOT_PATH "/machines/no_such_machine", MACHINE_IFACE, "Start", NULL, &error);
  g_assert_null (reply);
  g_assert_nonnull (error);
  remote = g_dbus_error_get_remote_error (error);
  g_test_message ("a call on a machine that does not exist: %s", error->message);
  g_assert_true (g_strcmp0 (remote, "org.freedesktop.DBus.Error.UnknownObject") == 0
                 || g_strcmp0 (remote, "org.freedesktop.DBus.Error.UnknownMethod") == 0);

  /* None of the failures left a machine behind, and the service is still there. */
  machines = managed_machines (f);
  g_assert_cmpuint (g_hash_table_size (machines), ==, 3);
  assert_vireod_answers (f);
}

static void
test_errors_running (Fixture *f)
{
  g_autoptr (VireoDBusMachine) machine = NULL;
  g_autoptr (GString) seen = g_string_new (NULL);
  g_autoptr (GVariant) settings = NULL;
  const char *notes = NULL;
  int fd;

  machine = create_guest (f, "busy", "echo");
  fd = start_and_wait_for (machine, "echo ready", seen);

  call_expect_error (machine, "Start", NULL, ERROR_NAME ("InvalidState"), "busy");
  call_expect_error (machine, "Update", g_variant_new_parsed ("({'memory-mib': <uint64 128>},)"),
                     ERROR_NAME ("InvalidState"), "memory-mib");
  g_assert_cmpuint (vireo_dbus_machine_get_memory_mib (machine), ==, 64);
  call_expect_error (machine, "Delete", g_variant_new ("(b)", FALSE), ERROR_NAME ("InvalidState"), "busy");
  call_expect_error (machine, "OpenDisplay", NULL, ERROR_NAME ("NotSupported"), "busy");

  /* What may change while it runs does. */
  call_ok (machine, "Update", g_variant_new_parsed ("({'notes': <'edited while running'>},)"));
  g_assert_cmpstr (vireo_dbus_machine_get_notes (machine), ==, "edited while running");
  settings = vireo_dbus_machine_dup_settings (machine);
  g_assert_true (g_variant_lookup (settings, "notes", "&s", &notes));
  g_assert_cmpstr (notes, ==, "edited while running");
  call_ok (machine, "Rename", g_variant_new ("(s)", "busy renamed"));
  g_assert_cmpstr (vireo_dbus_machine_get_name (machine), ==, "busy renamed");

  g_assert_cmpstr (vireo_dbus_machine_get_state (machine), ==, "running");
  assert_vireod_answers (f);
  call_ok (machine, "TurnOff", NULL);
  g_assert_cmpstr (vireo_dbus_machine_get_state (machine), ==, "off");
  close (fd);
}

static void
on_object_removed (GDBusObjectManager *manager, GDBusObject *object, gpointer data)
{
  g_ptr_array_add (data, g_strdup (g_dbus_object_get_object_path (object)));
}

/* Deletes @machine and checks that its object and folder went away. */
static void
delete_machine (Fixture *f, VireoDBusMachine *machine, gboolean delete_disks)
{
  g_autoptr (GPtrArray) removed = g_ptr_array_new_with_free_func (g_free);
  g_autofree char *path = g_strdup (machine_path (machine));
  g_autofree char *folder = machine_folder (f, machine);
  ObjectQuery query = { f, path };
  gulong handler = g_signal_connect (f->objects, "object-removed", G_CALLBACK (on_object_removed), removed);

  g_assert_true (g_file_test (folder, G_FILE_TEST_IS_DIR));
  call_ok (machine, "Delete", g_variant_new ("(b)", delete_disks));
  g_assert_true (vireo_test_wait_until (machine_gone, &query, WAIT_SECONDS));
  g_assert_true (strv_has (removed, path));
  g_assert_false (g_file_test (folder, G_FILE_TEST_EXISTS));
  g_signal_handler_disconnect (f->objects, handler);
}

static void
test_update_export_import (Fixture *f)
{
  g_autoptr (VireoDBusMachine) original = create_guest (f, "original", "hello");
  g_autoptr (VireoDBusMachine) copy = NULL;
  g_autoptr (GVariant) settings = NULL;
  g_autoptr (GVariant) copy_settings = NULL;
  g_autoptr (GVariant) reply = NULL;
  g_autoptr (GHashTable) machines = NULL;
  g_autofree char *definition = NULL;
  g_autofree char *xml = NULL;
  g_autofree char *copy_path = NULL;
  g_autofree char *name_element = NULL;
  const char *cmdline = NULL;
  GVariantIter iter;
  const char *key;
  GVariant *value;

  call_ok (original, "Update",
           g_variant_new_parsed ("({'memory-mib': <uint64 128>, 'vcpus': <uint32 2>,"
                                 " 'cmdline': <'quiet answer=42'>, 'notes': <'round trip'>},)"));
  g_assert_cmpuint (vireo_dbus_machine_get_memory_mib (original), ==, 128);
  g_assert_cmpuint (vireo_dbus_machine_get_vcpus (original), ==, 2);
  g_assert_cmpstr (vireo_dbus_machine_get_notes (original), ==, "round trip");
  settings = vireo_dbus_machine_dup_settings (original);
  g_assert_true (g_variant_lookup (settings, "cmdline", "&s", &cmdline));
  g_assert_cmpstr (cmdline, ==, "quiet answer=42");
  g_clear_pointer (&settings, g_variant_unref);

  call_ok (original, "Rename", g_variant_new ("(s)", "renamed"));
  g_assert_cmpstr (vireo_dbus_machine_get_name (original), ==, "renamed");
  definition = read_definition (f, original);
  g_assert_nonnull (strstr (definition, "renamed"));

  reply = call_full (original, "ExportLibvirtXml", NULL, NULL, NULL);
  g_assert_nonnull (reply);
  g_variant_get (reply, "(s)", &xml);
  name_element = g_strdup_printf ("<name>%s</name>", "renamed");
  g_assert_nonnull (strstr (xml, name_element));
  g_assert_nonnull (strstr (xml, vireo_dbus_machine_get_uuid (original)));
  g_clear_pointer (&reply, g_variant_unref);

  /* Imported as a copy: a new machine, the same settings. */
  reply = call_full (f->manager, "ImportLibvirtXml",
                     g_variant_new_parsed ("(%s, {'name': <'copy'>, 'keep-uuid': <false>})", xml), NULL,
                     NULL);
  g_assert_nonnull (reply);
  g_variant_get (reply, "(o)", &copy_path);
  g_assert_cmpstr (copy_path, !=, machine_path (original));
  copy = machine_proxy (f, copy_path);
  g_assert_cmpstr (vireo_dbus_machine_get_name (copy), ==, "copy");
  g_assert_cmpstr (vireo_dbus_machine_get_uuid (copy), !=, vireo_dbus_machine_get_uuid (original));
  g_assert_cmpstr (vireo_dbus_machine_get_state (copy), ==, "off");
  settings = vireo_dbus_machine_dup_settings (original);
  copy_settings = vireo_dbus_machine_dup_settings (copy);
  g_variant_iter_init (&iter, settings);
  while (g_variant_iter_next (&iter, "{&sv}", &key, &value))
    {
      g_autoptr (GVariant) owned = value;
      g_autoptr (GVariant) copied = g_variant_lookup_value (copy_settings, key, NULL);

      if (g_str_equal (key, "name"))
        continue;
      g_assert_nonnull (copied);
      if (!g_variant_equal (value, copied))
        {
          g_autofree char *was = g_variant_print (value, TRUE);
          g_autofree char *is = g_variant_print (copied, TRUE);
          g_test_message ("setting “%s” did not survive export and import: %s became %s", key, was, is);
        }
      g_assert_true (g_variant_equal (value, copied));
    }

  /* Importing it again with its UUID collides with the original. */
  call_expect_error (f->manager, "ImportLibvirtXml", g_variant_new_parsed ("(%s, {'name': <'copy 2'>})", xml),
                     ERROR_NAME ("Exists"), vireo_dbus_machine_get_uuid (original));

  delete_machine (f, copy, TRUE);
  delete_machine (f, original, FALSE);
  machines = managed_machines (f);
  g_assert_cmpuint (g_hash_table_size (machines), ==, 0);
}

static void
test_many_machines (Fixture *f)
{
  g_autoptr (GHashTable) paths = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  g_autoptr (GHashTable) names = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  g_autoptr (GHashTable) machines = NULL;
  GList *objects;
  GHashTableIter iter;
  gpointer value;

  for (int i = 0; i < 50; i++)
    {
      g_autofree char *name = g_strdup_printf ("machine %02d", i);
      g_autoptr (GError) error = NULL;
      char *path = try_create (f, guest_settings (name, "hello"), &error);

      g_assert_no_error (error);
      g_assert_true (g_hash_table_add (paths, path));
    }

  machines = managed_machines (f);
  g_assert_cmpuint (g_hash_table_size (machines), ==, 50);
  g_hash_table_iter_init (&iter, machines);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    {
      const char *name = NULL;
      g_assert_true (g_variant_lookup (value, "Name", "&s", &name));
      g_assert_true (g_str_has_prefix (name, "machine "));
      g_assert_true (g_hash_table_add (names, g_strdup (name)));
    }
  g_assert_cmpuint (g_hash_table_size (names), ==, 50);

  /* The object manager client sees the same 50 machines (beside the Default Switch). */
  objects = g_dbus_object_manager_get_objects (f->objects);
  {
    guint n_machines = 0;
    for (GList *l = objects; l != NULL; l = l->next)
      {
        g_autoptr (GDBusInterface) iface = g_dbus_object_get_interface (l->data, MACHINE_IFACE);
        n_machines += iface != NULL;
      }
    g_assert_cmpuint (n_machines, ==, 50);
  }
  g_assert_cmpuint (g_list_length (objects), ==, 51);
  g_list_free_full (objects, g_object_unref);
}

/* ---- gdbus ---- */

/* Runs `gdbus call --session --dest org.vireo.Vireo1 --object-path PATH --method METHOD ARGS...` and
 * returns its standard output; @status gets its wait status, @errors its standard error. */
static char *
gdbus_call (const char *path, const char *method, const char *const *args, int *status, char **errors)
{
  g_autoptr (GPtrArray) argv = g_ptr_array_new ();
  g_autoptr (GError) error = NULL;
  g_autofree char *gdbus = g_find_program_in_path ("gdbus");
  g_autoptr (GString) line = g_string_new ("gdbus");
  char *output = NULL;

  g_ptr_array_add (argv, gdbus);
  g_ptr_array_add (argv, (char *) "call");
  g_ptr_array_add (argv, (char *) "--session");
  g_ptr_array_add (argv, (char *) "--dest");
  g_ptr_array_add (argv, (char *) BUS_NAME);
  g_ptr_array_add (argv, (char *) "--object-path");
  g_ptr_array_add (argv, (char *) path);
  g_ptr_array_add (argv, (char *) "--method");
  g_ptr_array_add (argv, (char *) method);
  for (guint i = 0; args && args[i]; i++)
    g_ptr_array_add (argv, (char *) args[i]);
  g_ptr_array_add (argv, NULL);

  /* The command as one would type it (the README's lines): GVariant text in double quotes. */
  for (guint i = 1; argv->pdata[i]; i++)
    {
      const char *arg = argv->pdata[i];
      g_autofree char *quoted = NULL;

      if (strpbrk (arg, "\"$`\\!") != NULL)
        quoted = g_shell_quote (arg);
      else if (strpbrk (arg, " '{<>;&|()*?[") != NULL)
        quoted = g_strdup_printf ("\"%s\"", arg);
      g_string_append_printf (line, " %s", quoted ? quoted : arg);
    }
  g_spawn_sync (NULL, (char **) argv->pdata, NULL, G_SPAWN_DEFAULT, NULL, NULL, &output, errors, status,
                &error);
  g_assert_no_error (error);
  g_test_message ("$ %s\n%s%s", line->str, output, errors && *errors ? *errors : "");
  return output;
}

/* The same, expecting success and the output @expected (NULL: any). */
static char *
gdbus_call_ok (const char *path, const char *method, const char *const *args, const char *expected)
{
  g_autofree char *errors = NULL;
  g_autoptr (GError) error = NULL;
  int status;
  char *output = gdbus_call (path, method, args, &status, &errors);

  g_spawn_check_wait_status (status, &error);
  g_assert_no_error (error);
  if (expected)
    g_assert_cmpstr (output, ==, expected);
  return output;
}

static void
test_gdbus (Fixture *f)
{
  g_autofree char *gdbus = g_find_program_in_path ("gdbus");
  g_autofree char *kernel = vireo_test_guest_path ("shutdown");
  g_autofree char *create_args = NULL;
  g_autofree char *created = NULL;
  g_autofree char *listed = NULL;
  g_autofree char *errors = NULL;
  g_autofree char *failed = NULL;
  g_autofree char *path = NULL;
  g_autoptr (GVariant) reply = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (VireoDBusMachine) machine = NULL;
  g_autoptr (GString) seen = g_string_new (NULL);
  ObjectQuery query = { f, NULL };
  int status;
  int fd;

  if (gdbus == NULL)
    {
      g_test_skip ("needs the gdbus program");
      return;
    }

  /* The command lines of the README's "Scripting with gdbus". */
  create_args = g_strdup_printf ("{'name': <'demo'>, 'kernel': <'%s'>, 'memory-mib': <uint64 64>}", kernel);
  created = gdbus_call_ok (ROOT_PATH, "org.vireo.Vireo1.Manager.CreateMachine",
                           (const char *const[]){ create_args, NULL }, NULL);
  reply = g_variant_parse (G_VARIANT_TYPE ("(o)"), created, NULL, NULL, &error);
  g_assert_no_error (error);
  g_variant_get (reply, "(o)", &path);
  g_assert_true (g_str_has_prefix (path, ROOT_PATH "/machines/"));
  machine = machine_proxy (f, path);
  g_assert_cmpstr (vireo_dbus_machine_get_name (machine), ==, "demo");
  g_assert_cmpuint (vireo_dbus_machine_get_memory_mib (machine), ==, 64);

  listed = gdbus_call_ok (ROOT_PATH, "org.freedesktop.DBus.ObjectManager.GetManagedObjects", NULL, NULL);
  g_assert_nonnull (strstr (listed, path));
  g_assert_nonnull (strstr (listed, "'Name': <'demo'>"));

  gdbus_call_ok (path, "org.vireo.Vireo1.Machine.Start", NULL, "()\n");
  gdbus_call_ok (path, "org.freedesktop.DBus.Properties.Get",
                 (const char *const[]){ "org.vireo.Vireo1.Machine", "State", NULL }, "(<'running'>,)\n");

  /* The guest reacts to the power button once it has armed it. */
  fd = open_serial (machine);
  g_assert_true (serial_wait_for (fd, seen, 0, "waiting for power button", WAIT_SECONDS));
  gdbus_call_ok (path, "org.vireo.Vireo1.Machine.Shutdown", (const char *const[]){ "30", NULL }, "()\n");
  gdbus_call_ok (path, "org.freedesktop.DBus.Properties.Get",
                 (const char *const[]){ "org.vireo.Vireo1.Machine", "State", NULL }, "(<'off'>,)\n");
  close (fd);

  gdbus_call_ok (path, "org.vireo.Vireo1.Machine.Start", NULL, "()\n");
  gdbus_call_ok (path, "org.vireo.Vireo1.Machine.TurnOff", NULL, "()\n");
  gdbus_call_ok (path, "org.freedesktop.DBus.Properties.Get",
                 (const char *const[]){ "org.vireo.Vireo1.Machine", "State", NULL }, "(<'off'>,)\n");

  /* A failure names its error for scripts to match on. */
  failed = gdbus_call (ROOT_PATH, "org.vireo.Vireo1.Manager.CreateMachine",
                       (const char *const[]){ create_args, NULL }, &status, &errors);
  g_assert_false (g_spawn_check_wait_status (status, NULL));
  g_assert_nonnull (strstr (errors, "org.vireo.Vireo1.Error.Exists"));
  g_assert_nonnull (strstr (errors, "demo"));

  gdbus_call_ok (path, "org.vireo.Vireo1.Machine.Delete", (const char *const[]){ "false", NULL }, "()\n");
  query.path = path;
  g_clear_object (&machine);
  g_assert_true (vireo_test_wait_until (machine_gone, &query, WAIT_SECONDS));
}

/* ---- the worker sandbox ---- */

/* The value of "@key:" in /proc/@pid/status, or NULL. */
static char *
proc_status_field (pid_t pid, const char *key)
{
  g_autofree char *path = g_strdup_printf ("/proc/%d/status", (int) pid);
  g_autofree char *contents = NULL;
  g_autofree char *prefix = g_strconcat (key, ":", NULL);
  g_auto (GStrv) lines = NULL;

  if (!g_file_get_contents (path, &contents, NULL, NULL))
    return NULL;
  lines = g_strsplit (contents, "\n", -1);
  for (guint i = 0; lines[i]; i++)
    if (g_str_has_prefix (lines[i], prefix))
      return g_strdup (g_strstrip (lines[i] + strlen (prefix)));
  return NULL;
}

static char *
mount_namespace (pid_t pid)
{
  g_autofree char *path = g_strdup_printf ("/proc/%d/ns/mnt", (int) pid);
  return g_file_read_link (path, NULL);
}

/* What every worker gets, in either mode: no-new-privs, a seccomp filter, no capabilities, and (the
 * kernel allowing user namespaces, as Debian's does) a mount namespace that is not vireod's. */
static void
assert_worker_confined (Fixture *f, pid_t pid)
{
  g_autofree char *seccomp = proc_status_field (pid, "Seccomp");
  g_autofree char *no_new_privs = proc_status_field (pid, "NoNewPrivs");
  g_autofree char *cap_eff = proc_status_field (pid, "CapEff");
  g_autofree char *cap_prm = proc_status_field (pid, "CapPrm");
  g_autofree char *cap_amb = proc_status_field (pid, "CapAmb");
  g_autofree char *worker_ns = mount_namespace (pid);
  g_autofree char *vireod_ns = mount_namespace (
      (pid_t) g_ascii_strtoll (g_subprocess_get_identifier (f->vireod), NULL, 10));

  g_test_message ("worker %d: Seccomp %s, NoNewPrivs %s, CapEff %s, mount namespace %s (vireod's %s)",
                  (int) pid, seccomp, no_new_privs, cap_eff, worker_ns, vireod_ns);
  g_assert_cmpstr (seccomp, ==, "2");
  g_assert_cmpstr (no_new_privs, ==, "1");
  g_assert_cmpstr (cap_eff, ==, "0000000000000000");
  g_assert_cmpstr (cap_prm, ==, "0000000000000000");
  g_assert_cmpstr (cap_amb, ==, "0000000000000000");
  g_assert_nonnull (worker_ns);
  g_assert_nonnull (vireod_ns);
  g_assert_cmpstr (worker_ns, !=, vireod_ns);
}

/* A system machine's worker runs as a user of its own, not root, confined; it still saves and restores
 * (its state folder is given to that user). */
/* A machine with a disk: a qcow2 overlay on a raw base, named relatively, as a user keeps them side by
 * side.  vireod opens the image and its base with the caller's rights and hands the worker fds; the disk
 * guest writes, flushes and reads back, then powers off; qemu-img finds the overlay clean and the base is
 * untouched.  In system mode this runs in the sandboxed worker, whose I/O threads do the disk work. */
static void
test_disks (Fixture *f)
{
  g_autofree char *kernel = vireo_test_guest_path ("disk");
  g_autofree char *dir = g_build_filename (f->storage, "images", NULL);
  g_autofree char *base = g_build_filename (dir, "base.raw", NULL);
  g_autofree char *overlay = g_build_filename (dir, "overlay.qcow2", NULL);
  g_autofree char *base_bytes = g_malloc (1 << 20);
  g_autofree char *after = NULL;
  g_autofree char *out = NULL;
  g_autofree char *qemu_img = g_find_program_in_path ("qemu-img");
  g_autoptr (VireoDBusMachine) machine = NULL;
  gsize after_len;

  if (qemu_img == NULL)
    {
      g_test_skip ("needs qemu-img (Debian: qemu-utils) to make the images");
      return;
    }
  g_assert_no_errno (g_mkdir_with_parents (dir, 0700));
  memset (base_bytes, 0x42, 1 << 20);
  g_assert_true (g_file_set_contents (base, base_bytes, 1 << 20, NULL));
  {
    const char *argv[] = { "qemu-img", "create", "-q",  "-f",    "qcow2", "-b",
                           "base.raw", "-F",     "raw", overlay, NULL };
    g_assert_cmpint (vireo_test_run_judge (argv, NULL), ==, 0);
  }
  machine = create (f, g_variant_new_parsed ("{'name': <'disky'>, 'kernel': <%s>, 'memory-mib': <uint64 64>, "
                                             "'disks': <[{'path': <%s>, 'format': <'qcow2'>}]>}",
                                             kernel, overlay));
  call_ok (machine, "Start", NULL);
  wait_for_state (machine, "off");
  g_assert_cmpstr (vireo_dbus_machine_get_last_error (machine), ==, "");

  g_assert_true (g_file_get_contents (base, &after, &after_len, NULL));
  g_assert_cmpmem (after, after_len, base_bytes, 1 << 20);
  {
    const char *check[] = { "qemu-img", "check", "-q", overlay, NULL };
    const char *written[] = { "qemu-io", "-r", "-c", "read -P 0xa5 0 4k", overlay, NULL };
    const char *from_base[] = { "qemu-io", "-r", "-c", "read -P 0x42 512k 4k", overlay, NULL };
    g_assert_cmpint (vireo_test_run_judge (check, NULL), ==, 0);
    g_assert_cmpint (vireo_test_run_judge (written, &out), ==, 0);
    g_assert_null (strstr (out, "Pattern verification failed"));
    g_clear_pointer (&out, g_free);
    g_assert_cmpint (vireo_test_run_judge (from_base, &out), ==, 0);
    g_assert_null (strstr (out, "Pattern verification failed"));
  }

  /* Without its base, Start says which file is missing; the machine stays off. */
  g_assert_no_errno (g_unlink (base));
  call_expect_error (machine, "Start", NULL, ERROR_NAME ("NotFound"), "base.raw");
  g_assert_cmpstr (vireo_dbus_machine_get_state (machine), ==, "off");
}

/* NAT: the machine's NIC gets its address from libslirp's DHCP server (in the worker, on the NIC's own
 * thread, which in system mode is the sandbox's network role), as the guest reports on COM1. */
static void
test_nat (Fixture *f)
{
  g_autofree char *kernel = vireo_test_guest_path ("net-probe");
  g_autoptr (VireoDBusMachine) machine = NULL;
  g_autoptr (GString) seen = g_string_new (NULL);
  int fd;

  machine = create (f, g_variant_new_parsed ("{'name': <'natty'>, 'kernel': <%s>, 'memory-mib': <uint64 64>, "
                                             "'network': <'nat'>}",
                                             kernel));
  fd = start_and_wait_for (machine, "net-probe ip=10.0.2.15 gw=10.0.2.2", seen);
  close (fd);
  call_ok (machine, "TurnOff", NULL);
  wait_for_state (machine, "off");
  g_assert_cmpstr (vireo_dbus_machine_get_last_error (machine), ==, "");
}

/* A machine that boots from its disk starts the firmware (SeaBIOS), which says so on COM1 and, with
 * nothing bootable on a blank disk, says that too. */
static void
test_firmware_boot (Fixture *f)
{
  g_autofree char *dir = g_build_filename (f->storage, "images", NULL);
  g_autofree char *blank = g_build_filename (dir, "blank.raw", NULL);
  g_autofree char *data = g_build_filename (dir, "data.raw", NULL);
  g_autoptr (VireoDBusMachine) machine = NULL;
  g_autoptr (GString) seen = g_string_new (NULL);
  int fd;

  if (!g_file_test (HV_DEFAULT_FIRMWARE, G_FILE_TEST_EXISTS))
    {
      g_test_skip ("needs Debian's SeaBIOS (" HV_DEFAULT_FIRMWARE ", package seabios)");
      return;
    }
  g_assert_no_errno (g_mkdir_with_parents (dir, 0700));
  fd = open (blank, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  g_assert_no_errno (ftruncate (fd, 1 << 20));
  close (fd);
  g_assert_true (g_file_set_contents (data, "", 0, NULL));
  fd = open (data, O_RDWR | O_CLOEXEC);
  g_assert_no_errno (ftruncate (fd, 1 << 20));
  close (fd);
  /* Two virtio disks and an empty SATA CD-ROM drive, each probed by the firmware from the sandboxed
   * worker's vCPU threads (moving their BARs once made glibc's allocator open a file there, which the
   * sandbox forbids). */
  machine = create (
      f, g_variant_new_parsed ("{'name': <'firmware'>, 'boot': <'disk'>, 'memory-mib': <uint64 64>, "
                               "'disks': <[{'path': <%s>, 'format': <'raw'>, 'boot-order': <uint32 1>},"
                               " {'path': <%s>, 'format': <'raw'>, 'readonly': <true>},"
                               " {'path': <''>, 'device': <'cdrom'>, 'boot-order': <uint32 2>}]>}",
                               blank, data));
  call_ok (machine, "Start", NULL);
  fd = open_serial (machine);
  /* The firmware's lines end in "\r\n"; emulated ring 0 makes it slow here. */
  g_assert_true (serial_wait_for (fd, seen, 0, "No bootable device.", 2 * WAIT_SECONDS));
  g_test_message ("the firmware said: %s", seen->str);
  g_assert_nonnull (strstr (seen->str, "SeaBIOS (version"));
  close (fd);
  call_ok (machine, "TurnOff", NULL);
  wait_for_state (machine, "off");
}

static void
test_sandbox_system (Fixture *f)
{
  g_autoptr (VireoDBusMachine) machine = create_guest (f, "boxed", "echo");
  g_autoptr (GString) output = g_string_new (NULL);
  g_autofree char *uid_line = NULL;
  g_auto (GStrv) uids = NULL;
  pid_t pid;
  int fd;

  fd = start_and_wait_for (machine, "echo ready", output);
  pid = worker_pid (machine);
  uid_line = proc_status_field (pid, "Uid");
  g_test_message ("worker %d: Uid %s", (int) pid, uid_line);
  g_assert_nonnull (uid_line);
  uids = g_strsplit_set (uid_line, " \t", -1);
  g_assert_cmpuint (g_strv_length (uids), ==, 4);
  /* Real, effective, saved and file-system uid: all the machine's, none root's or the caller's. */
  for (guint i = 0; i < 4; i++)
    {
      g_assert_cmpstr (uids[i], ==, uids[0]);
      g_assert_cmpstr (uids[i], !=, "0");
    }
  assert_worker_confined (f, pid);

  /* What it must write, it can: the saved state, through the folder vireod gave it. */
  serial_type (fd, "boxed in");
  g_assert_true (serial_wait_for (fd, output, 0, "boxed in", WAIT_SECONDS));
  close (fd);
  call_ok (machine, "Save", NULL);
  g_assert_cmpstr (vireo_dbus_machine_get_state (machine), ==, "saved");
  call_ok (machine, "Start", NULL);
  wait_for_state (machine, "running");
  g_assert_cmpstr (vireo_dbus_machine_get_last_error (machine), ==, "");
  call_ok (machine, "TurnOff", NULL);
  wait_for_state (machine, "off");
}

/* A vCPU thread that makes a call its filter does not allow takes the worker down with SIGSYS; vireod
 * survives and says so in LastError. */
static void
test_sandbox_forbidden_call (Fixture *f)
{
  g_autoptr (VireoDBusMachine) machine = create_guest (f, "rule-breaker", "echo");
  g_autoptr (GError) error = NULL;
  g_autoptr (GVariant) reply = NULL;
  const char *last_error;

  /* The hook waits a second after the vCPU starts, so that Start has been answered; if the machine dies
   * sooner on a slow host, Start fails instead and the machine is "off", which the wait below reports. */
  reply = call_full (machine, "Start", NULL, NULL, &error);
  if (error)
    g_test_message ("Start: %s", error->message);
  wait_for_state (machine, "crashed");
  last_error = vireo_dbus_machine_get_last_error (machine);
  g_test_message ("LastError: %s", last_error);
  g_assert_nonnull (strstr (last_error, "signal 31"));
  assert_vireod_answers (f);
}

/* The session service's workers run as the user, with the same confinement. */
static void
test_sandbox_session (Fixture *f)
{
  g_autoptr (VireoDBusMachine) machine = create_guest (f, "homebody", "echo");
  g_autoptr (GString) output = g_string_new (NULL);
  g_autofree char *uid_line = NULL;
  g_autofree char *own = g_strdup_printf ("%u", (unsigned) getuid ());
  g_auto (GStrv) uids = NULL;
  pid_t pid;
  int fd;

  fd = start_and_wait_for (machine, "echo ready", output);
  pid = worker_pid (machine);
  uid_line = proc_status_field (pid, "Uid");
  uids = g_strsplit_set (uid_line, " \t", -1);
  g_assert_cmpstr (uids[0], ==, own);
  assert_worker_confined (f, pid);
  close (fd);
  call_ok (machine, "TurnOff", NULL);
  wait_for_state (machine, "off");
}

/* ---- disks through the Machine methods ---- */

/* Calls @method, expects a reply of one string (a disk's target) and returns it. */
static char *
call_for_target (gpointer proxy, const char *method, GVariant *parameters)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GVariant) reply = call_full (proxy, method, parameters, NULL, &error);
  char *target = NULL;

  if (error)
    g_test_message ("%s failed: %s", method, error->message);
  g_assert_no_error (error);
  g_variant_get (reply, "(s)", &target);
  return target;
}

/* The disk of @machine's settings with target @target, as a{sv} (NULL when none). */
static GVariant *
settings_disk (VireoDBusMachine *machine, const char *target)
{
  g_autoptr (GVariant) settings = vireo_dbus_machine_dup_settings (machine);
  g_autoptr (GVariant) disks = g_variant_lookup_value (settings, "disks", G_VARIANT_TYPE ("aa{sv}"));
  GVariantIter iter;
  GVariant *disk;

  g_assert_nonnull (disks);
  g_variant_iter_init (&iter, disks);
  while ((disk = g_variant_iter_next_value (&iter)) != NULL)
    {
      const char *disk_target = NULL;
      if (g_variant_lookup (disk, "target", "&s", &disk_target) && g_str_equal (disk_target, target))
        return disk;
      g_variant_unref (disk);
    }
  return NULL;
}

static char *
disk_string (VireoDBusMachine *machine, const char *target, const char *key)
{
  g_autoptr (GVariant) disk = settings_disk (machine, target);
  char *value = NULL;

  g_assert_nonnull (disk);
  g_assert_true (g_variant_lookup (disk, key, "s", &value));
  return value;
}

/* qemu-img's idea of an image's virtual size. */
static guint64
virtual_size (const char *path)
{
  const char *argv[] = { "qemu-img", "info", "--output=json", "-U", path, NULL };
  g_autofree char *out = NULL;
  const char *found;

  g_assert_cmpint (vireo_test_run_judge (argv, &out), ==, 0);
  found = strstr (out, "\"virtual-size\":");
  g_assert_nonnull (found);
  return g_ascii_strtoull (found + strlen ("\"virtual-size\":"), NULL, 10);
}

static char *
write_pattern_image (const char *dir, const char *name, gsize size)
{
  char *path = g_build_filename (dir, name, NULL);
  g_autofree guchar *bytes = g_malloc (size);

  for (gsize i = 0; i < size; i++)
    bytes[i] = (guchar) ((i / 4096) * 7 + (i % 251));
  /* A hole in the middle, as real images have. */
  memset (bytes + size / 2, 0, MIN (size / 4, (gsize) 65536));
  g_assert_true (g_file_set_contents (path, (const char *) bytes, (gssize) size, NULL));
  return path;
}

static gint
compare_names (gconstpointer a, gconstpointer b)
{
  return g_strcmp0 (*(const char *const *) a, *(const char *const *) b);
}

/* The files of @folder that are not the definition, sorted, as one string. */
static char *
folder_listing (const char *folder)
{
  g_autoptr (GDir) dir = g_dir_open (folder, 0, NULL);
  g_autoptr (GPtrArray) names = g_ptr_array_new_with_free_func (g_free);
  const char *entry;

  g_assert_nonnull (dir);
  while ((entry = g_dir_read_name (dir)) != NULL)
    if (!g_str_equal (entry, "machine.xml"))
      g_ptr_array_add (names, g_strdup (entry));
  g_ptr_array_sort (names, compare_names);
  g_ptr_array_add (names, NULL);
  return g_strjoinv (" ", (char **) names->pdata);
}

static void
on_disk_progress (VireoDBusMachine *machine, const char *operation, const char *target, double fraction,
                  gpointer data)
{
  GArray *fractions = data;

  g_assert_cmpstr (operation, ==, "import");
  g_array_append_val (fractions, fraction);
}

/* Imports @source into @machine with @options; returns the target and checks the progress reports:
 * from 0.0 up to 1.0 (last), never backwards. */
static char *
import_with_progress (VireoDBusMachine *machine, const char *source, GVariant *options)
{
  g_autoptr (GArray) fractions = g_array_new (FALSE, FALSE, sizeof (double));
  gulong handler = g_signal_connect (machine, "disk-progress", G_CALLBACK (on_disk_progress), fractions);
  g_autofree char *target = NULL;

  target = call_for_target (machine, "ImportDisk", g_variant_new ("(s@a{sv})", source, options));
  /* The signal was sent before the reply; let it arrive. */
  for (guint i = 0;
       i < 100 && (fractions->len == 0 || g_array_index (fractions, double, fractions->len - 1) < 1.0); i++)
    g_main_context_iteration (NULL, FALSE);
  g_signal_handler_disconnect (machine, handler);
  g_test_message ("import of %s: %u progress reports", source, fractions->len);
  g_assert_cmpuint (fractions->len, >=, 2);
  g_assert_cmpfloat (g_array_index (fractions, double, 0), ==, 0.0);
  g_assert_cmpfloat (g_array_index (fractions, double, fractions->len - 1), ==, 1.0);
  for (guint i = 1; i < fractions->len; i++)
    g_assert_cmpfloat (g_array_index (fractions, double, i), >=, g_array_index (fractions, double, i - 1));
  return g_steal_pointer (&target);
}

/* Every disk method on an off machine: success paths judged by qemu-img, then each named error. */
static void
test_disk_methods (Fixture *f)
{
  g_autoptr (VireoDBusMachine) machine = NULL;
  g_autoptr (VireoDBusMachine) copy = NULL;
  g_autofree char *qemu_img = g_find_program_in_path ("qemu-img");
  g_autofree char *folder = NULL;
  g_autofree char *dir = g_build_filename (f->base, "user-files", NULL);
  g_autofree char *iso = NULL;
  g_autofree char *iso2 = NULL;
  g_autofree char *raw = NULL;
  g_autofree char *vmdk = g_build_filename (dir, "appliance.vmdk", NULL);
  g_autofree char *vhdx = g_build_filename (dir, "hyperv.vhdx", NULL);
  g_autofree char *broken = g_build_filename (dir, "broken.qcow2", NULL);
  g_autofree char *target = NULL;
  g_autofree char *path = NULL;
  g_autofree char *xml = NULL;
  g_autofree char *copy_path = NULL;
  g_autofree char *listing = NULL;
  g_autoptr (GVariant) reply = NULL;
  struct stat st;

  if (qemu_img == NULL)
    {
      g_test_skip ("needs qemu-img (Debian: qemu-utils)");
      return;
    }
  g_assert_no_errno (g_mkdir_with_parents (dir, 0700));
  iso = write_pattern_image (dir, "install.iso", 1 << 20);
  iso2 = write_pattern_image (dir, "drivers.iso", 64 << 10);
  raw = write_pattern_image (dir, "source.raw", 3 << 20);
  machine = create_guest (f, "disky", "echo");
  folder = machine_folder (f, machine);

  /* CreateDisk: a qcow2 image in the machine's folder, named after its target; a raw one on SATA. */
  target = call_for_target (machine, "CreateDisk", g_variant_new_parsed ("(uint64 1048576, @a{sv} {})"));
  g_assert_cmpstr (target, ==, "vda");
  path = g_build_filename (folder, "vda.qcow2", NULL);
  {
    const char *check[] = { "qemu-img", "check", "-q", path, NULL };
    run_ok (check);
  }
  g_assert_cmpuint (virtual_size (path), ==, 1 << 20);
  g_assert_cmpstr (disk_string (machine, "vda", "path"), ==, path);
  g_assert_cmpstr (disk_string (machine, "vda", "format"), ==, "qcow2");
  g_clear_pointer (&target, g_free);
  g_clear_pointer (&path, g_free);
  target = call_for_target (machine, "CreateDisk",
                            g_variant_new_parsed ("(uint64 1000, {'format': <'raw'>, 'bus': <'sata'>, "
                                                  "'name': <'scratch.img'>})"));
  g_assert_cmpstr (target, ==, "sda");
  path = g_build_filename (folder, "scratch.img", NULL);
  g_assert_no_errno (stat (path, &st));
  g_assert_cmpint (st.st_size, ==, 1024);
  g_assert_cmpstr (disk_string (machine, "sda", "bus"), ==, "sata");
  g_clear_pointer (&target, g_free);

  call_expect_error (machine, "CreateDisk", g_variant_new_parsed ("(uint64 0, @a{sv} {})"),
                     ERROR_NAME ("InvalidArgument"), "size");
  call_expect_error (machine, "CreateDisk", g_variant_new_parsed ("(uint64 1048576, {'format': <'vmdk'>})"),
                     ERROR_NAME ("InvalidArgument"), "format");
  call_expect_error (machine, "CreateDisk", g_variant_new_parsed ("(uint64 1048576, {'format': <42>})"),
                     ERROR_NAME ("InvalidArgument"), "format");
  call_expect_error (machine, "CreateDisk",
                     g_variant_new_parsed ("(uint64 1048576, {'name': <'../escape'>})"),
                     ERROR_NAME ("InvalidArgument"), "name");
  call_expect_error (machine, "CreateDisk",
                     g_variant_new_parsed ("(uint64 1048576, {'name': <'machine.xml'>})"),
                     ERROR_NAME ("InvalidArgument"), "name");
  call_expect_error (machine, "CreateDisk",
                     g_variant_new_parsed ("(uint64 1048576, {'name': <'scratch.img'>})"),
                     ERROR_NAME ("Exists"), "scratch.img");
  call_expect_error (machine, "CreateDisk", g_variant_new_parsed ("(uint64 1048576, {'size': <'1G'>})"),
                     ERROR_NAME ("InvalidArgument"), "size");
  /* The bus checks the signature before vireod sees the call. */
  call_expect_error (machine, "CreateDisk", g_variant_new ("(s)", "1G"),
                     "org.freedesktop.DBus.Error.InvalidArgs", NULL);

  /* ResizeDisk: grow only. */
  call_ok (machine, "ResizeDisk", g_variant_new ("(st)", "vda", (guint64) 2 << 20));
  g_clear_pointer (&path, g_free);
  path = g_build_filename (folder, "vda.qcow2", NULL);
  g_assert_cmpuint (virtual_size (path), ==, 2 << 20);
  call_ok (machine, "ResizeDisk", g_variant_new ("(st)", "sda", (guint64) 4096));
  g_clear_pointer (&path, g_free);
  path = g_build_filename (folder, "scratch.img", NULL);
  g_assert_no_errno (stat (path, &st));
  g_assert_cmpint (st.st_size, ==, 4096);
  call_expect_error (machine, "ResizeDisk", g_variant_new ("(st)", "vda", (guint64) 1 << 20),
                     ERROR_NAME ("InvalidArgument"), "shrink");
  call_expect_error (machine, "ResizeDisk", g_variant_new ("(st)", "vdq", (guint64) 1 << 20),
                     ERROR_NAME ("NotFound"), "vdq");

  /* AttachDisk: a CD-ROM with a medium (boot first) and an empty drive. */
  target = call_for_target (
      machine, "AttachDisk",
      g_variant_new_parsed ("({'path': <%s>, 'device': <'cdrom'>, 'boot-order': <uint32 1>},)", iso));
  g_assert_cmpstr (target, ==, "sdb");
  g_clear_pointer (&target, g_free);
  target = call_for_target (machine, "AttachDisk", g_variant_new_parsed ("({'device': <'cdrom'>},)"));
  g_assert_cmpstr (target, ==, "sdc");
  g_assert_cmpstr (disk_string (machine, "sdc", "path"), ==, "");
  call_expect_error (machine, "AttachDisk",
                     g_variant_new_parsed ("({'path': <%s>},)", "/nonexistent/disk.img"),
                     ERROR_NAME ("NotFound"), "/nonexistent/disk.img");
  call_expect_error (machine, "AttachDisk", g_variant_new_parsed ("({'path': <%s>, 'speed': <1>},)", iso2),
                     ERROR_NAME ("InvalidArgument"), "speed");
  call_expect_error (machine, "AttachDisk",
                     g_variant_new_parsed ("({'path': <%s>, 'device': <'cdrom'>, 'target': <'sdb'>},)", iso2),
                     ERROR_NAME ("Exists"), "sdb");
  call_expect_error (machine, "AttachDisk", g_variant_new_parsed ("({'path': <%s>},)", iso),
                     ERROR_NAME ("InvalidArgument"), "twice");

  /* ChangeMedium while off: the definition changes. */
  call_ok (machine, "ChangeMedium", g_variant_new ("(ss)", "sdc", iso2));
  g_assert_cmpstr (disk_string (machine, "sdc", "path"), ==, iso2);
  call_ok (machine, "ChangeMedium", g_variant_new ("(ss)", "sdc", ""));
  g_assert_cmpstr (disk_string (machine, "sdc", "path"), ==, "");
  call_expect_error (machine, "ChangeMedium", g_variant_new ("(ss)", "vda", iso2),
                     ERROR_NAME ("InvalidArgument"), "CD-ROM");
  call_expect_error (machine, "ChangeMedium", g_variant_new ("(ss)", "sdz", ""), ERROR_NAME ("NotFound"),
                     "sdz");
  call_expect_error (machine, "ChangeMedium", g_variant_new ("(ss)", "sdc", "/nonexistent.iso"),
                     ERROR_NAME ("NotFound"), "/nonexistent.iso");

  /* ImportDisk: a VMware and a Hyper-V image, made by qemu-img and judged by it. */
  {
    const char *to_vmdk[] = { "qemu-img", "convert", "-q", "-f", "raw", "-O", "vmdk", raw, vmdk, NULL };
    const char *to_vhdx[] = { "qemu-img", "convert", "-q", "-f", "raw", "-O", "vhdx", raw, vhdx, NULL };
    run_ok (to_vmdk);
    run_ok (to_vhdx);
  }
  target = import_with_progress (machine, vmdk, g_variant_new_parsed ("@a{sv} {}"));
  g_assert_cmpstr (target, ==, "vdb");
  g_clear_pointer (&path, g_free);
  path = g_build_filename (folder, "vdb.qcow2", NULL);
  {
    const char *check[] = { "qemu-img", "check", "-q", path, NULL };
    const char *compare[] = { "qemu-img", "compare", "-q", vmdk, path, NULL };
    run_ok (check);
    run_ok (compare);
  }
  g_assert_no_errno (stat (path, &st));
  g_assert_cmpuint (st.st_uid, ==, geteuid ());
  g_assert_cmpuint (st.st_mode & 0777, ==, 0600);
  g_clear_pointer (&target, g_free);
  target = import_with_progress (
      machine, vhdx, g_variant_new_parsed ("{'format': <'raw'>, 'bus': <'sata'>, 'name': <'hv.img'>}"));
  g_assert_cmpstr (target, ==, "sdd");
  g_clear_pointer (&path, g_free);
  path = g_build_filename (folder, "hv.img", NULL);
  {
    const char *compare[] = { "qemu-img", "compare", "-q", "-f", "vhdx", "-F", "raw", vhdx, path, NULL };
    const char *compare_source[] = { "qemu-img", "compare", "-q", raw, path, NULL };
    run_ok (compare);
    run_ok (compare_source);
  }
  g_assert_cmpstr (disk_string (machine, "sdd", "format"), ==, "raw");
  g_clear_pointer (&target, g_free);

  /* A failed import says qemu-img's reason and leaves nothing behind. */
  listing = folder_listing (folder);
  {
    static const char damaged[] = "QFI\xfb\0\0\0\x03 this header stops here";
    g_assert_true (g_file_set_contents (broken, damaged, sizeof damaged, NULL));
  }
  call_expect_error (machine, "ImportDisk", g_variant_new_parsed ("(%s, @a{sv} {})", broken),
                     ERROR_NAME ("Failed"), "qemu-img");
  call_expect_error (machine, "ImportDisk", g_variant_new_parsed ("(%s, @a{sv} {})", "/nonexistent.vmdk"),
                     ERROR_NAME ("NotFound"), "/nonexistent.vmdk");
  call_expect_error (machine, "ImportDisk", g_variant_new_parsed ("(%s, @a{sv} {})", "relative.vmdk"),
                     ERROR_NAME ("InvalidArgument"), "absolute");
  call_expect_error (machine, "ImportDisk", g_variant_new_parsed ("(%s, {'name': <'hv.img'>})", vmdk),
                     ERROR_NAME ("Exists"), "hv.img");
  call_expect_error (machine, "ImportDisk", g_variant_new_parsed ("(%s, {'format': <'vdi'>})", vmdk),
                     ERROR_NAME ("InvalidArgument"), "format");
  {
    g_autofree char *after = folder_listing (folder);
    g_assert_cmpstr (after, ==, listing);
  }

  /* The whole definition through libvirt XML and back, CD-ROMs, SATA and boot order included. */
  reply = call_full (machine, "ExportLibvirtXml", NULL, NULL, NULL);
  g_assert_nonnull (reply);
  g_variant_get (reply, "(s)", &xml);
  g_assert_nonnull (strstr (xml, "device=\"cdrom\""));
  g_assert_nonnull (strstr (xml, "bus=\"sata\""));
  g_assert_nonnull (strstr (xml, "<boot order=\"1\"/>"));
  g_clear_pointer (&reply, g_variant_unref);
  reply = call_full (f->manager, "ImportLibvirtXml",
                     g_variant_new_parsed ("(%s, {'name': <'copy'>, 'keep-uuid': <false>})", xml), NULL,
                     NULL);
  g_assert_nonnull (reply);
  g_variant_get (reply, "(o)", &copy_path);
  copy = machine_proxy (f, copy_path);
  {
    g_autoptr (GVariant) a = vireo_dbus_machine_dup_settings (machine);
    g_autoptr (GVariant) b = vireo_dbus_machine_dup_settings (copy);
    g_autoptr (GVariant) disks_a = g_variant_lookup_value (a, "disks", NULL);
    g_autoptr (GVariant) disks_b = g_variant_lookup_value (b, "disks", NULL);
    g_assert_true (g_variant_equal (disks_a, disks_b));
  }
  delete_machine (f, copy, FALSE);

  /* A domain virt-manager made for an installation: its IDE CD-ROM comes over as a SATA one, first to
   * boot, and its installer is opened (with the caller's rights) like any disk. */
  {
    g_autofree char *domain = g_strdup_printf (
        "<domain type='kvm'><name>installer</name><memory unit='MiB'>64</memory>"
        "<os><type arch='x86_64' machine='pc-q35-7.2'>hvm</type></os><devices>"
        "<disk type='file' device='disk'><driver name='qemu' type='raw'/><source file='%s'/>"
        "<target dev='vda' bus='virtio'/><boot order='2'/></disk>"
        "<disk type='file' device='cdrom'><driver name='qemu' type='raw'/><source file='%s'/>"
        "<target dev='hdc' bus='ide'/><readonly/><boot order='1'/></disk></devices></domain>",
        raw, iso);
    g_autofree char *installer_path = NULL;
    g_autoptr (VireoDBusMachine) installer = NULL;
    g_autoptr (GVariant) cdrom = NULL;
    guint32 order = 0;

    g_clear_pointer (&reply, g_variant_unref);
    reply = call_full (f->manager, "ImportLibvirtXml", g_variant_new_parsed ("(%s, @a{sv} {})", domain), NULL,
                       NULL);
    g_assert_nonnull (reply);
    g_variant_get (reply, "(o)", &installer_path);
    installer = machine_proxy (f, installer_path);
    cdrom = settings_disk (installer, "sda");
    g_assert_nonnull (cdrom);
    g_assert_cmpstr (disk_string (installer, "sda", "device"), ==, "cdrom");
    g_assert_cmpstr (disk_string (installer, "sda", "bus"), ==, "sata");
    g_assert_cmpstr (disk_string (installer, "sda", "path"), ==, iso);
    g_assert_true (g_variant_lookup (cdrom, "boot-order", "u", &order));
    g_assert_cmpuint (order, ==, 1);
    g_assert_cmpstr (disk_string (installer, "vda", "path"), ==, raw);
    delete_machine (f, installer, FALSE);
  }

  /* DetachDisk: the machine's own image may go with it; a file elsewhere never does. */
  call_ok (machine, "DetachDisk", g_variant_new ("(sb)", "sda", TRUE));
  g_clear_pointer (&path, g_free);
  path = g_build_filename (folder, "scratch.img", NULL);
  g_assert_false (g_file_test (path, G_FILE_TEST_EXISTS));
  g_assert_null (settings_disk (machine, "sda"));
  call_ok (machine, "DetachDisk", g_variant_new ("(sb)", "sdb", TRUE));
  g_assert_true (g_file_test (iso, G_FILE_TEST_EXISTS));
  call_ok (machine, "DetachDisk", g_variant_new ("(sb)", "vdb", FALSE));
  g_clear_pointer (&path, g_free);
  path = g_build_filename (folder, "vdb.qcow2", NULL);
  g_assert_true (g_file_test (path, G_FILE_TEST_EXISTS));
  call_expect_error (machine, "DetachDisk", g_variant_new ("(sb)", "sdb", FALSE), ERROR_NAME ("NotFound"),
                     "sdb");

  /* The definition on disk says the same after a restart, and what an import interrupted by vireod's
   * end left behind is cleared. */
  {
    g_autofree char *saved_path = g_strdup (machine_path (machine));
    g_autofree char *leftover = g_build_filename (folder, ".import-Ab12Cd", NULL);
    g_autofree char *partial = g_build_filename (leftover, "vdc.qcow2", NULL);

    g_assert_no_errno (g_mkdir (leftover, 0700));
    g_assert_true (g_file_set_contents (partial, "partial", -1, NULL));
    vireod_restart (f);
    g_assert_false (g_file_test (leftover, G_FILE_TEST_EXISTS));
    g_clear_object (&machine);
    machine = machine_proxy (f, saved_path);
    g_assert_cmpstr (disk_string (machine, "sdc", "device"), ==, "cdrom");
    g_assert_cmpstr (disk_string (machine, "sdd", "bus"), ==, "sata");
    g_assert_null (settings_disk (machine, "sda"));
  }
}

/* While the machine runs, its disks stay as they are (InvalidState), except a CD-ROM's medium. */
static void
test_disk_methods_running (Fixture *f)
{
  g_autoptr (VireoDBusMachine) machine = NULL;
  g_autoptr (GString) seen = g_string_new (NULL);
  g_autofree char *dir = g_build_filename (f->base, "user-files", NULL);
  g_autofree char *raw = NULL;
  g_autofree char *target = NULL;
  int fd;

  g_assert_no_errno (g_mkdir_with_parents (dir, 0700));
  raw = write_pattern_image (dir, "data.raw", 1 << 20);
  machine = create_guest (f, "spinning", "echo");
  target = call_for_target (machine, "AttachDisk", g_variant_new_parsed ("({'path': <%s>},)", raw));
  g_assert_cmpstr (target, ==, "vda");
  g_clear_pointer (&target, g_free);
  /* An image vireod made in the machine's folder, which (in system mode) only vireod may enter: it
   * opens it for the worker with its own rights. */
  target = call_for_target (machine, "CreateDisk", g_variant_new_parsed ("(uint64 1048576, @a{sv} {})"));
  g_assert_cmpstr (target, ==, "vdb");
  fd = start_and_wait_for (machine, "echo ready", seen);

  call_expect_error (machine, "CreateDisk", g_variant_new_parsed ("(uint64 1048576, @a{sv} {})"),
                     ERROR_NAME ("InvalidState"), "spinning");
  call_expect_error (machine, "AttachDisk",
                     g_variant_new_parsed ("({'path': <%s>, 'readonly': <true>},)", raw),
                     ERROR_NAME ("InvalidState"), "spinning");
  call_expect_error (machine, "DetachDisk", g_variant_new ("(sb)", "vda", FALSE), ERROR_NAME ("InvalidState"),
                     "spinning");
  call_expect_error (machine, "ResizeDisk", g_variant_new ("(st)", "vda", (guint64) 2 << 20),
                     ERROR_NAME ("InvalidState"), "spinning");
  call_expect_error (machine, "ImportDisk", g_variant_new_parsed ("(%s, @a{sv} {})", raw),
                     ERROR_NAME ("InvalidState"), "spinning");
  call_expect_error (machine, "ChangeMedium", g_variant_new ("(ss)", "vda", raw),
                     ERROR_NAME ("InvalidArgument"), "CD-ROM");
  g_assert_nonnull (settings_disk (machine, "vda"));
  assert_vireod_answers (f);
  call_ok (machine, "TurnOff", NULL);
  wait_for_state (machine, "off");
  close (fd);
}

/* A CD-ROM in a running machine: the medium changes and ejects through the worker.  Needs the core's
 * AHCI devices (cdrom, sata-disk); until this build has them, Start says so (NotSupported). */
static void
test_cdrom_running (Fixture *f)
{
  g_autoptr (VireoDBusMachine) machine = NULL;
  g_autoptr (GString) seen = g_string_new (NULL);
  g_autofree char *dir = g_build_filename (f->base, "user-files", NULL);
  g_autofree char *iso = NULL;
  g_autofree char *iso2 = NULL;
  g_autofree char *target = NULL;
  int fd;

  g_assert_no_errno (g_mkdir_with_parents (dir, 0700));
  iso = write_pattern_image (dir, "one.iso", 1 << 20);
  iso2 = write_pattern_image (dir, "two.iso", 1 << 20);
  machine = create_guest (f, "optical", "echo");
  target = call_for_target (machine, "AttachDisk",
                            g_variant_new_parsed ("({'path': <%s>, 'device': <'cdrom'>},)", iso));
  g_assert_cmpstr (target, ==, "sda");
  fd = start_and_wait_for (machine, "echo ready", seen);
  call_ok (machine, "ChangeMedium", g_variant_new ("(ss)", "sda", iso2));
  g_assert_cmpstr (disk_string (machine, "sda", "path"), ==, iso2);
  call_ok (machine, "ChangeMedium", g_variant_new ("(ss)", "sda", ""));
  g_assert_cmpstr (disk_string (machine, "sda", "path"), ==, "");
  call_expect_error (machine, "ChangeMedium", g_variant_new ("(ss)", "sda", "/nonexistent.iso"),
                     ERROR_NAME ("NotFound"), "/nonexistent.iso");
  call_ok (machine, "TurnOff", NULL);
  wait_for_state (machine, "off");
  close (fd);
}

/* ---- NICs and virtual switches ---- */

#define SWITCH_IFACE "org.vireo.Vireo1.Switch"

/* Settings' "nics" of @machine. */
static GVariant *
settings_nics (VireoDBusMachine *machine)
{
  g_autoptr (GVariant) settings = vireo_dbus_machine_dup_settings (machine);
  GVariant *nics = g_variant_lookup_value (settings, "nics", G_VARIANT_TYPE ("aa{sv}"));

  g_assert_nonnull (nics);
  return nics;
}

/* "mac" of NIC @i of @machine. */
static char *
nic_mac (VireoDBusMachine *machine, guint i)
{
  g_autoptr (GVariant) nics = settings_nics (machine);
  g_autoptr (GVariant) nic = NULL;
  char *mac = NULL;

  g_assert_cmpuint (i, <, g_variant_n_children (nics));
  nic = g_variant_get_child_value (nics, i);
  g_assert_true (g_variant_lookup (nic, "mac", "s", &mac));
  return mac;
}

/* The switches vireod lists, as name → object path. */
static GHashTable *
managed_switches (Fixture *f)
{
  g_autoptr (GHashTable) objects = managed_objects (f, SWITCH_IFACE);
  GHashTable *switches = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  GHashTableIter iter;
  gpointer path, properties;

  g_hash_table_iter_init (&iter, objects);
  while (g_hash_table_iter_next (&iter, &path, &properties))
    {
      const char *name;

      if (g_variant_lookup (properties, "Name", "&s", &name))
        g_hash_table_insert (switches, g_strdup (name), g_strdup (path));
    }
  return switches;
}

static char *
switch_property (Fixture *f, const char *path, const char *property)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GVariant) reply = bus_call (f, path, "org.freedesktop.DBus.Properties", "Get",
                                         g_variant_new ("(ss)", SWITCH_IFACE, property), &error);
  g_autoptr (GVariant) value = NULL;

  g_assert_no_error (error);
  g_variant_get (reply, "(v)", &value);
  return g_variant_is_of_type (value, G_VARIANT_TYPE_BOOLEAN)
             ? g_strdup (g_variant_get_boolean (value) ? "true" : "false")
             : g_variant_dup_string (value, NULL);
}

/* Switch.Delete on @path: succeeds, or (with @error_name) fails with that error naming @culprit. */
static void
delete_switch (Fixture *f, const char *path, const char *error_name, const char *culprit)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GVariant) reply = bus_call (f, path, SWITCH_IFACE, "Delete", NULL, &error);

  if (error_name == NULL)
    {
      g_assert_no_error (error);
      return;
    }
  g_assert_null (reply);
  assert_dbus_error (error, error_name, culprit);
}

/* The proxy of the one machine vireod lists (after a restart). */
static VireoDBusMachine *
only_machine (Fixture *f)
{
  g_autoptr (GHashTable) machines = managed_machines (f);
  GHashTableIter iter;
  gpointer key;

  g_assert_cmpuint (g_hash_table_size (machines), ==, 1);
  g_hash_table_iter_init (&iter, machines);
  g_assert_true (g_hash_table_iter_next (&iter, &key, NULL));
  return machine_proxy (f, key);
}

/* CreateSwitch; the new object's path, or NULL with @error. */
static char *
try_create_switch (Fixture *f, const char *name, const char *kind, const char *bridge, GError **error)
{
  return call_for_path (f, "CreateSwitch", g_variant_new ("(sss)", name, kind, bridge), error);
}

static void
create_switch_expect_error (Fixture *f, const char *name, const char *kind, const char *bridge,
                            const char *error_name, const char *culprit)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *path = try_create_switch (f, name, kind, bridge, &error);

  g_assert_null (path);
  assert_dbus_error (error, error_name, culprit);
}

/* The session service: NICs with generated MACs that stay across restarts and round trips, the shorthand,
 * the Default Switch alone, and GuestAddresses empty while off. */
static void
test_nics_session (Fixture *f)
{
  g_autoptr (VireoDBusMachine) machine = NULL;
  g_autoptr (VireoDBusMachine) imported = NULL;
  g_autoptr (GHashTable) switches = NULL;
  g_autoptr (GVariant) reply = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *mac0 = NULL;
  g_autofree char *mac1 = NULL;
  g_autofree char *again = NULL;
  g_autofree char *xml = NULL;
  g_autofree char *imported_path = NULL;
  g_autofree char *kernel = vireo_test_guest_path ("net-probe");
  const char *path;
  const char *const *addresses;

  /* The Default Switch is listed, NAT, built in; nothing else can be made here. */
  switches = managed_switches (f);
  g_assert_cmpuint (g_hash_table_size (switches), ==, 1);
  path = g_hash_table_lookup (switches, "Default Switch");
  g_assert_nonnull (path);
  {
    g_autofree char *kind = switch_property (f, path, "Kind");
    g_autofree char *bridge = switch_property (f, path, "Bridge");
    g_autofree char *builtin = switch_property (f, path, "Builtin");
    g_assert_cmpstr (kind, ==, "nat");
    g_assert_cmpstr (bridge, ==, "");
    g_assert_cmpstr (builtin, ==, "true");
  }
  create_switch_expect_error (f, "Lab", "private", "", ERROR_NAME ("NotSupported"), "system service");
  delete_switch (f, path, ERROR_NAME ("InvalidState"), "Default Switch");

  machine = create (
      f, g_variant_new_parsed ("{'name': <'wired'>, 'kernel': <%s>, 'nics': <[{'forwards': "
                               "<[('tcp', '', uint16 2222, uint16 22)]>}, {'connected': <false>}]>}",
                               kernel));
  mac0 = nic_mac (machine, 0);
  mac1 = nic_mac (machine, 1);
  g_assert_true (g_str_has_prefix (mac0, "52:54:00:"));
  g_assert_cmpstr (mac0, !=, mac1);
  addresses = vireo_dbus_machine_get_guest_addresses (machine);
  g_assert_true (addresses == NULL || addresses[0] == NULL);
  {
    g_autoptr (GVariant) settings = vireo_dbus_machine_dup_settings (machine);
    const char *network;
    g_assert_true (g_variant_lookup (settings, "network", "&s", &network));
    g_assert_cmpstr (network, ==, "nat");
  }
  create_expect_error (
      f, g_variant_new_parsed ("{'name': <'bad'>, 'kernel': <%s>, 'nics': <[{'switch': <'Lab'>}]>}", kernel),
      ERROR_NAME ("NotFound"), "Lab");

  /* The MACs stay when vireod starts again. */
  vireod_restart (f);
  g_clear_object (&machine);
  machine = only_machine (f);
  again = nic_mac (machine, 0);
  g_assert_cmpstr (again, ==, mac0);

  /* Export and import: the same NICs. */
  reply = call_full (machine, "ExportLibvirtXml", NULL, NULL, &error);
  g_assert_no_error (error);
  g_variant_get (reply, "(s)", &xml);
  g_assert_nonnull (strstr (xml, "<portForward proto=\"tcp\">"));
  g_assert_nonnull (strstr (xml, "<link state=\"down\"/>"));
  {
    g_autoptr (GVariant) import_reply = call_full (
        f->manager, "ImportLibvirtXml",
        g_variant_new_parsed ("(%s, {'name': <'wired copy'>, 'keep-uuid': <false>})", xml), NULL, &error);
    g_assert_no_error (error);
    g_variant_get (import_reply, "(o)", &imported_path);
  }
  imported = machine_proxy (f, imported_path);
  {
    g_autoptr (GVariant) a = settings_nics (machine);
    g_autoptr (GVariant) b = settings_nics (imported);
    g_assert_true (g_variant_equal (a, b));
  }

  /* The shorthand: "none" takes the NICs away. */
  call_ok (machine, "Update", g_variant_new_parsed ("({'network': <'none'>},)"));
  {
    g_autoptr (GVariant) nics = settings_nics (machine);
    g_assert_cmpuint (g_variant_n_children (nics), ==, 0);
  }
}

/* A machine on NAT: the guest's DHCP lease shows in GuestAddresses; the cable can be pulled while it
 * runs, but nothing else about its NICs changes then. */
static void
test_nics_running (Fixture *f)
{
  g_autofree char *kernel = vireo_test_guest_path ("net-probe");
  g_autoptr (VireoDBusMachine) machine = NULL;
  g_autoptr (GString) seen = g_string_new (NULL);
  const char *const *addresses;
  gint64 deadline;
  int fd;

  machine = create (f,
                    g_variant_new_parsed ("{'name': <'leased'>, 'kernel': <%s>, 'memory-mib': <uint64 64>, "
                                          "'nics': <[{'mac': <'52:54:00:01:02:03'>}]>}",
                                          kernel));
  fd = start_and_wait_for (machine, "net-probe ip=10.0.2.15 gw=10.0.2.2", seen);
  /* The guest's NIC has the definition's MAC. */
  g_assert_nonnull (strstr (seen->str, "net-probe mac=52:54:00:01:02:03\n"));
  deadline = g_get_monotonic_time () + WAIT_SECONDS * G_USEC_PER_SEC;
  while (((addresses = vireo_dbus_machine_get_guest_addresses (machine)) == NULL || addresses[0] == NULL)
         && g_get_monotonic_time () < deadline)
    g_main_context_iteration (NULL, TRUE);
  g_assert_nonnull (addresses);
  g_assert_cmpstr (addresses[0], ==, "10.0.2.15");
  g_assert_null (addresses[1]);

  call_ok (machine, "Update",
           g_variant_new_parsed ("({'nics': <[{'mac': <'52:54:00:01:02:03'>, 'connected': "
                                 "<false>}]>},)"));
  {
    g_autoptr (GVariant) nics = settings_nics (machine);
    g_autoptr (GVariant) nic = g_variant_get_child_value (nics, 0);
    gboolean connected = TRUE;
    g_assert_true (g_variant_lookup (nic, "connected", "b", &connected));
    g_assert_false (connected);
  }
  call_expect_error (machine, "Update",
                     g_variant_new_parsed ("({'nics': <[{'mac': <'52:54:00:01:02:04'>}]>},)"),
                     ERROR_NAME ("InvalidState"), "connected");
  call_ok (machine, "TurnOff", NULL);
  wait_for_state (machine, "off");
  close (fd);
  addresses = vireo_dbus_machine_get_guest_addresses (machine);
  g_assert_true (addresses == NULL || addresses[0] == NULL);
}

/* The name of the bridge the test in folder @base makes ("vtbr" and the folder's random suffix), which
 * the parent removes if the test failed before it did. */
static char *
test_bridge_name (const char *base)
{
  size_t len = strlen (base);
  return g_strdup_printf ("vtbr%s", base + (len > 6 ? len - 6 : 0));
}

/* After a system-mode test: the bridges it (or the vireod it ran) made and did not remove, because it
 * failed halfway.  The private switches' bridges are in the test's switches.ini. */
static void
remove_leftover_bridges (const char *base)
{
  g_autofree char *ini = g_build_filename (base, "storage", "switches.ini", NULL);
  g_autoptr (GKeyFile) file = g_key_file_new ();
  g_autoptr (GPtrArray) names = g_ptr_array_new_with_free_func (g_free);

  g_ptr_array_add (names, test_bridge_name (base));
  if (g_key_file_load_from_file (file, ini, G_KEY_FILE_NONE, NULL))
    {
      g_auto (GStrv) groups = g_key_file_get_groups (file, NULL);
      for (guint i = 0; groups[i] != NULL; i++)
        {
          g_autofree char *kind = g_key_file_get_string (file, groups[i], "Kind", NULL);
          char *bridge = g_key_file_get_string (file, groups[i], "Bridge", NULL);
          if (g_strcmp0 (kind, "private") == 0 && bridge != NULL)
            g_ptr_array_add (names, bridge);
          else
            g_free (bridge);
        }
    }
  for (guint i = 0; i < names->len; i++)
    {
      const char *name = g_ptr_array_index (names, i);
      g_autofree char *sys = g_build_filename ("/sys/class/net", name, NULL);
      const char *del[] = { "ip", "link", "del", name, NULL };
      g_autofree char *out = NULL;

      if (g_file_test (sys, G_FILE_TEST_EXISTS) && vireo_test_run_judge (del, &out) != 0)
        g_printerr ("cannot remove the bridge %s the test left: %s\n", name, out ? out : "");
    }
}

/* A bridge of this test's own, for an external switch: "ip link add … type bridge". */
static char *
make_test_bridge (void)
{
  char *name = test_bridge_name (g_getenv (TEST_DIR_VARIABLE));
  const char *add[] = { "ip", "link", "add", name, "type", "bridge", NULL };

  run_ok (add);
  return name;
}

static void
remove_test_bridge (const char *name)
{
  const char *del[] = { "ip", "link", "del", name, NULL };
  run_ok (del);
}

static gboolean
interface_exists (const char *name)
{
  g_autofree char *path = g_build_filename ("/sys/class/net", name, NULL);
  return g_file_test (path, G_FILE_TEST_EXISTS);
}

/* The ports of bridge @bridge whose names start with "vireo-t". */
static guint
tap_ports (const char *bridge)
{
  g_autofree char *path = g_build_filename ("/sys/class/net", bridge, "brif", NULL);
  g_autoptr (GDir) dir = g_dir_open (path, 0, NULL);
  const char *name;
  guint n = 0;

  while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
    n += g_str_has_prefix (name, "vireo-t");
  return n;
}

/* The TUN flags (IFF_*) of the first port of bridge @bridge whose name starts with "vireo-t"; 0 when
 * there is none. */
static guint
tap_port_flags (const char *bridge)
{
  g_autofree char *path = g_build_filename ("/sys/class/net", bridge, "brif", NULL);
  g_autoptr (GDir) dir = g_dir_open (path, 0, NULL);
  const char *name;

  while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
    if (g_str_has_prefix (name, "vireo-t"))
      {
        g_autofree char *flags_path = g_build_filename ("/sys/class/net", name, "tun_flags", NULL);
        g_autofree char *contents = NULL;

        g_assert_true (g_file_get_contents (flags_path, &contents, NULL, NULL));
        return (guint) g_ascii_strtoull (contents, NULL, 16);
      }
  return 0;
}

typedef struct
{
  const char *bridge;
  guint ports;
} PortsQuery;

static gboolean
ports_are (gpointer data)
{
  PortsQuery *query = data;
  return tap_ports (query->bridge) == query->ports;
}

/* The system service: external and private switches, their checks, their file, and Delete refused
 * while a machine uses them. */
static void
test_switches_system (Fixture *f)
{
  const char *needed[] = { "ip", NULL };
  g_autoptr (VireoDBusMachine) machine = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *test_bridge = NULL;
  g_autofree char *private_path = NULL;
  g_autofree char *external_path = NULL;
  g_autofree char *private_bridge = NULL;
  g_autoptr (GHashTable) switches = NULL;
  g_autofree char *kernel = vireo_test_guest_path ("net-probe");

  if (!vireo_test_require_programs (needed))
    return;
  test_bridge = make_test_bridge ();

  /* A private switch makes its bridge. */
  private_path = try_create_switch (f, "Lab", "private", "", &error);
  g_assert_no_error (error);
  private_bridge = switch_property (f, private_path, "Bridge");
  g_assert_true (g_str_has_prefix (private_bridge, "vireo-br"));
  g_assert_true (interface_exists (private_bridge));
  {
    /* No host address on it: IPv6 (which would give it a link-local one) is off where /proc/sys is
     * writable, as it is for root here. */
    g_autofree char *ipv6 = g_strdup_printf ("/proc/sys/net/ipv6/conf/%s/disable_ipv6", private_bridge);
    g_autofree char *contents = NULL;
    if (g_file_get_contents (ipv6, &contents, NULL, NULL) && access ("/proc/sys/net", W_OK) == 0)
      g_assert_cmpstr (g_strstrip (contents), ==, "1");
  }
  {
    g_autofree char *kind = switch_property (f, private_path, "Kind");
    g_assert_cmpstr (kind, ==, "private");
  }
  /* An external one takes an existing bridge. */
  external_path = try_create_switch (f, "Uplink", "external", test_bridge, &error);
  g_assert_no_error (error);
  {
    g_autofree char *bridge = switch_property (f, external_path, "Bridge");
    g_assert_cmpstr (bridge, ==, test_bridge);
  }

  /* What is refused, and why. */
  create_switch_expect_error (f, "Lab", "private", "", ERROR_NAME ("Exists"), "Lab");
  create_switch_expect_error (f, "Again", "external", test_bridge, ERROR_NAME ("Exists"), "Uplink");
  create_switch_expect_error (f, "Loop", "external", "lo", ERROR_NAME ("InvalidArgument"),
                              "not a Linux bridge");
  create_switch_expect_error (f, "Far", "external", "nosuchbridge0", ERROR_NAME ("NotFound"),
                              "nosuchbridge0");
  create_switch_expect_error (f, "Long", "external", "a-name-far-too-long", ERROR_NAME ("InvalidArgument"),
                              "a-name-far-too-long");
  create_switch_expect_error (f, "Slash", "external", "../eth0", ERROR_NAME ("InvalidArgument"), "../eth0");
  create_switch_expect_error (f, "Nat", "nat", "", ERROR_NAME ("InvalidArgument"), "nat");
  create_switch_expect_error (f, "Given", "private", test_bridge, ERROR_NAME ("InvalidArgument"), "private");
  create_switch_expect_error (f, " ", "private", "", ERROR_NAME ("InvalidArgument"), "name");

  /* A machine on the private switch: Delete is refused, naming it; forwards are refused there. */
  machine = create (f,
                    g_variant_new_parsed ("{'name': <'islander'>, 'kernel': <%s>, 'memory-mib': <uint64 64>, "
                                          "'nics': <[{'switch': <'Lab'>}]>}",
                                          kernel));
  create_expect_error (f,
                       g_variant_new_parsed ("{'name': <'forwarder'>, 'kernel': <%s>, 'nics': <[{'switch': "
                                             "<'Lab'>, 'forwards': <[('tcp', '', uint16 80, uint16 80)]>}]>}",
                                             kernel),
                       ERROR_NAME ("InvalidArgument"), "not a NAT switch");
  delete_switch (f, private_path, ERROR_NAME ("InvalidState"), "islander");
  {
    /* The XML says bridge, on the switch's bridge. */
    g_autoptr (GVariant) reply = call_full (machine, "ExportLibvirtXml", NULL, NULL, &error);
    g_autofree char *xml = NULL;
    g_autofree char *source = g_strdup_printf ("<source bridge=\"%s\"/>", private_bridge);
    g_assert_no_error (error);
    g_variant_get (reply, "(s)", &xml);
    g_assert_nonnull (strstr (xml, "<interface type=\"bridge\">"));
    g_assert_nonnull (strstr (xml, source));
  }

  /* The switches outlive vireod, and a private bridge that went is made again. */
  vireod_stop (f);
  remove_test_bridge (private_bridge);
  vireod_start (f);
  g_assert_true (interface_exists (private_bridge));
  switches = managed_switches (f);
  g_assert_cmpuint (g_hash_table_size (switches), ==, 3);
  g_clear_pointer (&private_path, g_free);
  g_clear_pointer (&external_path, g_free);
  private_path = g_strdup (g_hash_table_lookup (switches, "Lab"));
  external_path = g_strdup (g_hash_table_lookup (switches, "Uplink"));
  g_assert_nonnull (private_path);
  g_assert_nonnull (external_path);

  /* The machine leaves the switch; then it can go, and its bridge with it.  An external switch's
   * bridge is the host's and stays. */
  g_clear_object (&machine);
  machine = only_machine (f);
  call_ok (machine, "Update", g_variant_new_parsed ("({'nics': <[{'switch': <'Uplink'>}]>},)"));
  delete_switch (f, private_path, NULL, NULL);
  g_assert_false (interface_exists (private_bridge));
  call_ok (machine, "Update", g_variant_new_parsed ("({'network': <'none'>},)"));
  delete_switch (f, external_path, NULL, NULL);
  g_assert_true (interface_exists (test_bridge));
  g_hash_table_unref (switches);
  switches = managed_switches (f);
  g_assert_cmpuint (g_hash_table_size (switches), ==, 1);
  remove_test_bridge (test_bridge);
}

/* A machine with a NIC on a private switch starts with a TAP of vireod's on that bridge, which goes
 * with the machine; with three vCPUs the NIC has three queue pairs, so the TAP is a multiqueue one. */
static void
test_switches_running_system (Fixture *f)
{
  g_autoptr (VireoDBusMachine) machine = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *path = NULL;
  g_autofree char *bridge = NULL;
  g_autofree char *kernel = vireo_test_guest_path ("net-probe");
  PortsQuery query;

  path = try_create_switch (f, "Lab", "private", "", &error);
  g_assert_no_error (error);
  bridge = switch_property (f, path, "Bridge");
  machine = create (f,
                    g_variant_new_parsed ("{'name': <'islander'>, 'kernel': <%s>, 'memory-mib': <uint64 64>, "
                                          "'vcpus': <uint32 3>, 'nics': <[{'switch': <'Lab'>}, {}]>}",
                                          kernel));
  g_assert_cmpuint (tap_ports (bridge), ==, 0);
  call_ok (machine, "Start", NULL);
  wait_for_state (machine, "running");
  g_assert_cmpuint (tap_ports (bridge), ==, 1);
  g_assert_cmphex (tap_port_flags (bridge) & 0x0100, ==, 0x0100); /* IFF_MULTI_QUEUE */
  /* The cable of the bridged NIC too. */
  call_ok (machine, "Update",
           g_variant_new_parsed ("({'nics': <[{'switch': <'Lab'>, 'connected': <false>}, {}]>},)"));
  call_ok (machine, "TurnOff", NULL);
  wait_for_state (machine, "off");
  query = (PortsQuery){ bridge, 0 };
  g_assert_true (vireo_test_wait_until (ports_are, &query, WAIT_SECONDS));
  /* A switch whose bridge went away (an external one the host took down): Start says which. */
  {
    const char *needed[] = { "ip", NULL };
    g_autofree char *gone = NULL;
    g_autofree char *external = NULL;

    if (vireo_test_require_programs (needed))
      {
        gone = make_test_bridge ();
        external = try_create_switch (f, "Uplink", "external", gone, &error);
        g_assert_no_error (error);
        call_ok (machine, "Update", g_variant_new_parsed ("({'nics': <[{'switch': <'Uplink'>}]>},)"));
        remove_test_bridge (gone);
        call_expect_error (machine, "Start", NULL, ERROR_NAME ("NotFound"), gone);
        g_assert_cmpstr (vireo_dbus_machine_get_state (machine), ==, "off");
        call_ok (machine, "Update", g_variant_new_parsed ("({'network': <'none'>},)"));
        delete_switch (f, external, NULL, NULL);
      }
  }
  call_ok (machine, "Update", g_variant_new_parsed ("({'network': <'none'>},)"));
  delete_switch (f, path, NULL, NULL);
  g_assert_false (interface_exists (bridge));
}

/* A machine that boots from its disk and has a NIC: the firmware runs iPXE behind the NIC (network boot
 * is possible), which says so on the console. */
static void
test_network_boot_rom (Fixture *f)
{
  g_autofree char *dir = g_build_filename (f->storage, "images", NULL);
  g_autofree char *blank = g_build_filename (dir, "blank.raw", NULL);
  g_autoptr (VireoDBusMachine) machine = NULL;
  g_autoptr (GString) seen = g_string_new (NULL);
  int fd;

  if (!g_file_test (HV_DEFAULT_FIRMWARE, G_FILE_TEST_EXISTS) || !g_file_test (HV_NET_ROM, G_FILE_TEST_EXISTS))
    {
      g_test_skip ("needs Debian's SeaBIOS and iPXE (" HV_DEFAULT_FIRMWARE ", " HV_NET_ROM
                   ", packages seabios and ipxe-qemu)");
      return;
    }
  g_assert_no_errno (g_mkdir_with_parents (dir, 0700));
  fd = open (blank, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  g_assert_no_errno (ftruncate (fd, 1 << 20));
  close (fd);
  machine = create (
      f, g_variant_new_parsed ("{'name': <'netboot'>, 'boot': <'disk'>, 'memory-mib': <uint64 64>, "
                               "'disks': <[{'path': <%s>, 'format': <'raw'>}]>, 'nics': <@aa{sv} [{}]>}",
                               blank));
  call_ok (machine, "Start", NULL);
  fd = open_serial (machine);
  g_assert_true (serial_wait_for (fd, seen, 0, "iPXE", 2 * WAIT_SECONDS));
  g_test_message ("the firmware said: %s", seen->str);
  close (fd);
  call_ok (machine, "TurnOff", NULL);
  wait_for_state (machine, "off");
}

/* ---- checkpoints (machines off or saved) ---- */

static gboolean
checkpoint_exported (gpointer data)
{
  ObjectQuery *query = data;
  g_autoptr (GDBusInterface) iface = g_dbus_object_manager_get_interface (query->f->objects, query->path,
                                                                          CHECKPOINT_IFACE);
  return iface != NULL;
}

static gboolean
checkpoint_gone (gpointer data)
{
  return !checkpoint_exported (data);
}

static VireoDBusCheckpoint *
checkpoint_proxy (Fixture *f, const char *path)
{
  ObjectQuery query = { f, path };
  GDBusInterface *iface;

  g_assert_true (vireo_test_wait_until (checkpoint_exported, &query, WAIT_SECONDS));
  iface = g_dbus_object_manager_get_interface (f->objects, path, CHECKPOINT_IFACE);
  g_dbus_proxy_set_default_timeout (G_DBUS_PROXY (iface), CALL_TIMEOUT_MS);
  return VIREO_DBUS_CHECKPOINT (iface);
}

/* CreateCheckpoint(@name, @options): the new checkpoint's proxy. */
static VireoDBusCheckpoint *
create_checkpoint (Fixture *f, VireoDBusMachine *machine, const char *name, GVariant *options)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GVariant) reply = call_full (machine, "CreateCheckpoint",
                                          g_variant_new ("(s@a{sv})", name, options), NULL, &error);
  const char *path;

  if (error)
    g_test_message ("CreateCheckpoint failed: %s", error->message);
  g_assert_no_error (error);
  g_variant_get (reply, "(&o)", &path);
  g_assert_true (g_str_has_prefix (path, machine_path (machine)));
  return checkpoint_proxy (f, path);
}

static const char *
checkpoint_path (VireoDBusCheckpoint *checkpoint)
{
  return g_dbus_proxy_get_object_path (G_DBUS_PROXY (checkpoint));
}

/* Writes 4 KiB of @pattern at offset 0 of the image, as a guest would. */
static void
write_disk_pattern (const char *image, guint pattern)
{
  g_autofree char *command = g_strdup_printf ("write -P 0x%02x 0 4k", pattern);
  const char *argv[] = { "qemu-io", "-f", "qcow2", "-c", command, image, NULL };
  run_ok (argv);
}

static void
assert_disk_pattern (const char *image, guint pattern)
{
  g_autofree char *command = g_strdup_printf ("read -P 0x%02x 0 4k", pattern);
  const char *argv[] = { "qemu-io", "-f", "qcow2", "-c", command, image, NULL };
  g_autofree char *out = NULL;

  g_assert_cmpint (vireo_test_run_judge (argv, &out), ==, 0);
  if (strstr (out, "Pattern verification failed") != NULL)
    g_test_message ("%s: %s", image, out);
  g_assert_null (strstr (out, "Pattern verification failed"));
}

/* The internal snapshots qemu-img lists for @image. */
static char *
snapshot_listing (const char *image)
{
  const char *argv[] = { "qemu-img", "snapshot", "-l", "-U", image, NULL };
  char *out = NULL;

  g_assert_cmpint (vireo_test_run_judge (argv, &out), ==, 0);
  return out;
}

static gboolean
has_snapshot (const char *image, VireoDBusCheckpoint *checkpoint)
{
  g_autofree char *listing = snapshot_listing (image);
  g_autofree char *name = g_strconcat ("vireo-", strrchr (checkpoint_path (checkpoint), '/') + 1, NULL);
  return strstr (listing, name) != NULL;
}

/* The user who owns a machine's files outside vireod's folder in the system tests ("nobody"). */
#define FILES_OWNER_UID 65534
#define FILES_OWNER_GID 65534

/* System mode: Export of a machine whose qcow2 disk lies outside vireod's folder, owned by an
 * unprivileged user.  qemu-img reads it as that user, who cannot write into vireod's folders; the copy
 * must still arrive, with the checkpoint's content, as vireod's own file in the new machine's folder. */
static void
export_owned_image (Fixture *f)
{
  g_autofree char *dir = g_build_filename (f->base, "owner-files", NULL);
  g_autofree char *image = g_build_filename (dir, "owned.qcow2", NULL);
  g_autofree char *target = NULL;
  g_autofree char *definition = NULL;
  g_autofree char *definition_path = NULL;
  g_autofree char *machine_path_copy = NULL;
  g_autoptr (VireoDBusMachine) machine = NULL;
  g_autoptr (VireoDBusCheckpoint) checkpoint = NULL;
  g_autoptr (GString) edited = NULL;
  g_autoptr (GError) error = NULL;
  const char *create[] = { "qemu-img", "create", "-q", "-f", "qcow2", image, "1M", NULL };

  /* The owner reaches the folder (the test's base folder is searchable, not readable). */
  g_assert_no_errno (chmod (f->base, 0711));
  g_assert_no_errno (g_mkdir_with_parents (dir, 0700));
  run_ok (create);
  write_disk_pattern (image, 0x44);
  g_assert_no_errno (chown (image, FILES_OWNER_UID, FILES_OWNER_GID));
  g_assert_no_errno (chown (dir, FILES_OWNER_UID, FILES_OWNER_GID));

  machine = create_guest (f, "owned", "echo");
  target = call_for_target (machine, "AttachDisk", g_variant_new_parsed ("({'path': <%s>},)", image));
  /* Its files are the owner's, as if that user had defined it. */
  machine_path_copy = g_strdup (machine_path (machine));
  definition = read_definition (f, machine);
  {
    g_autofree char *folder = machine_folder (f, machine);
    definition_path = g_build_filename (folder, "machine.xml", NULL);
  }
  g_clear_object (&machine);
  vireod_stop (f);
  edited = g_string_new (definition);
  {
    /* The caller's (root's) uid, as the machine was defined, becomes the owner's. */
    g_autofree char *caller = g_strdup_printf ("<vireo:files-uid>%u</vireo:files-uid>", (guint) getuid ());
    g_assert_cmpint (g_string_replace (
        edited, caller, "<vireo:files-uid>" G_STRINGIFY (FILES_OWNER_UID) "</vireo:files-uid>", 0), ==, 1);
  }
  g_assert_true (g_file_set_contents (definition_path, edited->str, -1, &error));
  g_assert_no_error (error);
  vireod_start (f);
  machine = machine_proxy (f, machine_path_copy);

  checkpoint = create_checkpoint (f, machine, "owned", g_variant_new_parsed ("@a{sv} {}"));
  g_assert_true (has_snapshot (image, checkpoint));
  write_disk_pattern (image, 0x55);
  {
    g_autoptr (GVariant) reply = call_full (checkpoint, "Export", g_variant_new_parsed ("('owned copy',)"),
                                            NULL, &error);
    g_autoptr (VireoDBusMachine) exported = NULL;
    g_autofree char *exported_folder = NULL;
    g_autofree char *exported_image = NULL;
    g_autofree char *base = g_strdup_printf ("%s.qcow2", target);
    g_autofree char *listing = NULL;
    const char *exported_path;
    struct stat st;

    g_assert_no_error (error);
    g_variant_get (reply, "(&o)", &exported_path);
    exported = machine_proxy (f, exported_path);
    exported_folder = machine_folder (f, exported);
    exported_image = g_build_filename (exported_folder, base, NULL);
    assert_disk_pattern (exported_image, 0x44);
    /* vireod's own file, in the new machine's folder, and nothing else left there. */
    g_assert_no_errno (lstat (exported_image, &st));
    g_assert_true (S_ISREG (st.st_mode));
    g_assert_cmpuint (st.st_uid, ==, geteuid ());
    g_assert_cmpuint (st.st_gid, ==, getegid ());
    g_assert_cmpuint (st.st_mode & 07777, ==, 0600);
    g_assert_cmpuint (st.st_nlink, ==, 1);
    listing = folder_listing (exported_folder);
    g_assert_cmpstr (listing, ==, base);
    call_ok (exported, "Delete", g_variant_new_parsed ("(true,)"));
  }
  /* The original is the owner's still, as it was. */
  assert_disk_pattern (image, 0x55);
  {
    struct stat st;
    g_assert_no_errno (stat (image, &st));
    g_assert_cmpuint (st.st_uid, ==, FILES_OWNER_UID);
  }
}

/* Create, apply, rename and delete on a machine that is off, judged by qemu-img and qemu-io, and the tree
 * across a restart of vireod. */
static void
test_checkpoints_off (Fixture *f)
{
  g_autofree char *qemu_img = g_find_program_in_path ("qemu-img");
  g_autofree char *qemu_io = g_find_program_in_path ("qemu-io");
  g_autoptr (VireoDBusMachine) machine = NULL;
  g_autoptr (VireoDBusCheckpoint) one = NULL;
  g_autoptr (VireoDBusCheckpoint) two = NULL;
  g_autoptr (VireoDBusCheckpoint) three = NULL;
  g_autoptr (GHashTable) listed = NULL;
  g_autofree char *folder = NULL;
  g_autofree char *image = NULL;
  g_autofree char *target = NULL;
  g_autofree char *path_one = NULL;
  g_autofree char *path_two = NULL;
  g_autofree char *machine_path_copy = NULL;
  g_autofree char *raw = NULL;
  g_autofree char *dir = g_build_filename (f->base, "user-files", NULL);

  if (qemu_img == NULL || qemu_io == NULL)
    {
      g_test_skip ("needs qemu-img and qemu-io (Debian: qemu-utils)");
      return;
    }
  machine = create_guest (f, "checkpointed", "echo");
  g_assert_cmpstr (vireo_dbus_machine_get_current_checkpoint (machine), ==, "/");
  call_ok (machine, "Update", g_variant_new_parsed ("({'network': <'nat'>},)"));
  folder = machine_folder (f, machine);
  target = call_for_target (machine, "CreateDisk", g_variant_new_parsed ("(uint64 1048576, @a{sv} {})"));
  image = g_build_filename (folder, "vda.qcow2", NULL);
  write_disk_pattern (image, 0x11);

  /* One: the disk at 0x11; the default kind; a machine off is application-consistent, without state. */
  one = create_checkpoint (f, machine, "one", g_variant_new_parsed ("@a{sv} {}"));
  path_one = g_strdup (checkpoint_path (one));
  g_assert_cmpstr (vireo_dbus_checkpoint_get_name (one), ==, "one");
  g_assert_cmpstr (vireo_dbus_checkpoint_get_parent (one), ==, "/");
  g_assert_cmpstr (vireo_dbus_checkpoint_get_kind (one), ==, "standard");
  g_assert_cmpstr (vireo_dbus_checkpoint_get_consistency (one), ==, "application");
  g_assert_false (vireo_dbus_checkpoint_get_has_state (one));
  g_assert_cmpstr (vireo_dbus_checkpoint_get_machine (one), ==, machine_path (machine));
  g_assert_cmpuint (vireo_dbus_checkpoint_get_created (one), >, 0);
  g_assert_cmpstr (vireo_dbus_machine_get_current_checkpoint (machine), ==, path_one);
  g_assert_true (has_snapshot (image, one));

  /* Two, below one, with the default name and the production kind. */
  write_disk_pattern (image, 0x22);
  two = create_checkpoint (f, machine, "", g_variant_new_parsed ("{'kind': <'production'>}"));
  path_two = g_strdup (checkpoint_path (two));
  g_assert_true (g_str_has_prefix (vireo_dbus_checkpoint_get_name (two), "checkpointed - ("));
  g_assert_cmpstr (vireo_dbus_checkpoint_get_parent (two), ==, path_one);
  g_assert_cmpstr (vireo_dbus_checkpoint_get_kind (two), ==, "production");
  write_disk_pattern (image, 0x33);

  /* Apply one: the disk is 0x11 again, Now hangs below one, the machine stays off. */
  call_ok (one, "Apply", g_variant_new_parsed ("(@a{sv} {},)"));
  assert_disk_pattern (image, 0x11);
  g_assert_cmpstr (vireo_dbus_machine_get_current_checkpoint (machine), ==, path_one);
  g_assert_cmpstr (vireo_dbus_machine_get_state (machine), ==, "off");
  /* And two still holds 0x22. */
  call_ok (two, "Apply", g_variant_new_parsed ("(@a{sv} {},)"));
  assert_disk_pattern (image, 0x22);
  call_ok (one, "Apply", g_variant_new_parsed ("(@a{sv} {'checkpoint-current': <true>},)"));
  assert_disk_pattern (image, 0x11);
  {
    /* "Take Checkpoint and Apply": the current state became a third checkpoint below two. */
    g_autoptr (GHashTable) objects = managed_objects (f, CHECKPOINT_IFACE);
    g_assert_cmpuint (g_hash_table_size (objects), ==, 3);
  }

  /* Rename, and names refused. */
  call_ok (two, "Rename", g_variant_new_parsed ("('second',)"));
  g_assert_cmpstr (vireo_dbus_checkpoint_get_name (two), ==, "second");
  call_expect_error (two, "Rename", g_variant_new_parsed ("('',)"), "org.vireo.Vireo1.Error.InvalidArgument",
                     "1 to 100");
  call_expect_error (machine, "CreateCheckpoint", g_variant_new_parsed ("('x', {'kind': <'full'>})"),
                     "org.vireo.Vireo1.Error.InvalidArgument", "kind");
  call_expect_error (one, "Apply", g_variant_new_parsed ("(@a{sv} {'now': <true>},)"),
                     "org.vireo.Vireo1.Error.InvalidArgument", "now");

  /* Export two as a new machine: its disk is two's, copied; a new UUID and MAC; the name must be free. */
  {
    g_autoptr (GError) error = NULL;
    g_autoptr (GVariant) reply = call_full (two, "Export", g_variant_new_parsed ("('exported',)"), NULL,
                                            &error);
    g_autoptr (VireoDBusMachine) exported = NULL;
    g_autoptr (GVariant) nics = NULL;
    g_autoptr (GVariant) exported_nics = NULL;
    g_autofree char *exported_folder = NULL;
    g_autofree char *exported_image = NULL;
    g_autofree char *exported_listing = NULL;
    g_autoptr (GVariant) nic = NULL;
    g_autoptr (GVariant) exported_nic = NULL;
    const char *exported_path;
    const char *mac, *exported_mac;

    g_assert_no_error (error);
    g_variant_get (reply, "(&o)", &exported_path);
    exported = machine_proxy (f, exported_path);
    g_assert_cmpstr (vireo_dbus_machine_get_name (exported), ==, "exported");
    g_assert_cmpstr (vireo_dbus_machine_get_state (exported), ==, "off");
    g_assert_cmpstr (vireo_dbus_machine_get_uuid (exported), !=, vireo_dbus_machine_get_uuid (machine));
    exported_folder = machine_folder (f, exported);
    exported_image = g_build_filename (exported_folder, "vda.qcow2", NULL);
    assert_disk_pattern (exported_image, 0x22);
    /* A plain copy: no snapshots came along. */
    exported_listing = snapshot_listing (exported_image);
    g_assert_null (strstr (exported_listing, "vireo-"));
    nics = g_variant_lookup_value (vireo_dbus_machine_get_settings (machine), "nics", NULL);
    exported_nics = g_variant_lookup_value (vireo_dbus_machine_get_settings (exported), "nics", NULL);
    g_assert_cmpuint (g_variant_n_children (exported_nics), ==, 1);
    nic = g_variant_get_child_value (nics, 0);
    exported_nic = g_variant_get_child_value (exported_nics, 0);
    g_assert_true (g_variant_lookup (nic, "mac", "&s", &mac));
    g_assert_true (g_variant_lookup (exported_nic, "mac", "&s", &exported_mac));
    g_assert_cmpstr (mac, !=, exported_mac);
    call_expect_error (two, "Export", g_variant_new_parsed ("('exported',)"), "org.vireo.Vireo1.Error.Exists",
                       "exported");
    call_ok (exported, "Delete", g_variant_new_parsed ("(true,)"));
  }
  /* The original keeps its disk as it was. */
  assert_disk_pattern (image, 0x11);

  /* Restart: the tree, names and Now survive. */
  machine_path_copy = g_strdup (machine_path (machine));
  g_clear_object (&machine);
  g_clear_object (&one);
  g_clear_object (&two);
  vireod_restart (f);
  machine = machine_proxy (f, machine_path_copy);
  listed = managed_objects (f, CHECKPOINT_IFACE);
  g_assert_cmpuint (g_hash_table_size (listed), ==, 3);
  one = checkpoint_proxy (f, path_one);
  two = checkpoint_proxy (f, path_two);
  g_assert_cmpstr (vireo_dbus_checkpoint_get_name (two), ==, "second");
  g_assert_cmpstr (vireo_dbus_machine_get_current_checkpoint (machine), ==, path_one);

  /* Delete the root: two becomes a root, Now hangs below nothing, the disk keeps what Now has, and the
   * snapshot is gone from the image. */
  call_ok (one, "Delete", g_variant_new_parsed ("(false,)"));
  {
    ObjectQuery query = { f, path_one };
    g_assert_true (vireo_test_wait_until (checkpoint_gone, &query, WAIT_SECONDS));
  }
  g_assert_cmpstr (vireo_dbus_checkpoint_get_parent (two), ==, "/");
  g_assert_cmpstr (vireo_dbus_machine_get_current_checkpoint (machine), ==, "/");
  g_assert_false (has_snapshot (image, one));
  g_assert_true (has_snapshot (image, two));
  assert_disk_pattern (image, 0x11);
  /* Its object is gone with it. */
  call_expect_error (one, "Rename", g_variant_new_parsed ("('gone',)"),
                     "org.freedesktop.DBus.Error.UnknownMethod", NULL);

  /* Delete a subtree: two and the one below it. */
  call_ok (two, "Delete", g_variant_new_parsed ("(true,)"));
  {
    g_autoptr (GHashTable) objects = managed_objects (f, CHECKPOINT_IFACE);
    g_autofree char *listing = snapshot_listing (image);
    g_assert_cmpuint (g_hash_table_size (objects), ==, 0);
    g_assert_null (strstr (listing, "vireo-"));
  }
  {
    const char *check[] = { "qemu-img", "check", "-q", image, NULL };
    run_ok (check);
  }
  assert_disk_pattern (image, 0x11);

  /* A writable raw disk is refused with the reason, naming the disk. */
  g_assert_no_errno (g_mkdir_with_parents (dir, 0700));
  raw = write_pattern_image (dir, "data.raw", 1 << 20);
  g_free (target);
  target = call_for_target (machine, "AttachDisk", g_variant_new_parsed ("({'path': <%s>},)", raw));
  call_expect_error (machine, "CreateCheckpoint", g_variant_new_parsed ("('x', @a{sv} {})"),
                     "org.vireo.Vireo1.Error.NotSupported", target);

  /* With consent it becomes a qcow2 copy in the machine's folder; the raw file stays as it was. */
  three = create_checkpoint (f, machine, "converted", g_variant_new_parsed ("{'convert-raw': <true>}"));
  {
    g_autofree char *copy = g_strdup_printf ("%s/%s.qcow2", folder, target);
    g_autofree char *definition = read_definition (f, machine);
    const char *compare[] = { "qemu-img", "compare", "-f", "raw", "-F", "qcow2", raw, copy, NULL };

    g_assert_nonnull (strstr (definition, copy));
    g_assert_null (strstr (definition, raw));
    g_assert_true (g_file_test (raw, G_FILE_TEST_IS_REGULAR));
    g_assert_true (has_snapshot (copy, three));
    g_assert_true (has_snapshot (image, three));
    run_ok (compare);
  }

  /* The system service runs qemu-img as root on its own images: one whose header now names another
   * file (rewritten by someone who kept a descriptor) is refused rather than followed. */
  if (f->system_mode)
    {
      const char *rebase[] = { "qemu-img",    "rebase", "-u",  "-f",  "qcow2", "-b",
                               "/etc/shadow", "-F",     "raw", image, NULL };
      run_ok (rebase);
      call_expect_error (machine, "CreateCheckpoint", g_variant_new_parsed ("('x', @a{sv} {})"),
                         "org.vireo.Vireo1.Error.InvalidArgument", "names another file");
      export_owned_image (f);
    }
}

/* A saved machine: its standard checkpoint keeps the saved state (HasState), and applying it leaves the
 * machine saved again, resuming where it was. */
static void
test_checkpoints_saved (Fixture *f)
{
  g_autoptr (VireoDBusMachine) machine = create_guest (f, "saved-checkpoint", "echo");
  g_autoptr (VireoDBusCheckpoint) saved = NULL;
  g_autoptr (VireoDBusCheckpoint) production = NULL;

  call_ok (machine, "Start", NULL);
  wait_for_state (machine, "running");
  call_ok (machine, "Save", NULL);
  wait_for_state (machine, "saved");
  saved = create_checkpoint (f, machine, "saved", g_variant_new_parsed ("@a{sv} {}"));
  g_assert_true (vireo_dbus_checkpoint_get_has_state (saved));
  g_assert_cmpstr (vireo_dbus_checkpoint_get_consistency (saved), ==, "application");
  production = create_checkpoint (f, machine, "disks only",
                                  g_variant_new_parsed ("{'kind': <'production'>}"));
  g_assert_false (vireo_dbus_checkpoint_get_has_state (production));
  /* What the guest had not written is in the saved memory, not on the disks. */
  g_assert_cmpstr (vireo_dbus_checkpoint_get_consistency (production), ==, "crash");

  /* Start resumes the saved state; turned off, the machine has no state left. */
  call_ok (machine, "Start", NULL);
  wait_for_state (machine, "running");
  call_ok (machine, "TurnOff", NULL);
  wait_for_state (machine, "off");

  call_ok (saved, "Apply", g_variant_new_parsed ("(@a{sv} {},)"));
  g_assert_cmpstr (vireo_dbus_machine_get_state (machine), ==, "saved");
  call_ok (production, "Apply", g_variant_new_parsed ("(@a{sv} {},)"));
  g_assert_cmpstr (vireo_dbus_machine_get_state (machine), ==, "off");
  call_ok (saved, "Apply", g_variant_new_parsed ("(@a{sv} {'start': <true>},)"));
  wait_for_state (machine, "running");
  call_ok (machine, "TurnOff", NULL);
  wait_for_state (machine, "off");

  /* Automatic checkpoints: each Start from off takes a production one first, below Now. */
  call_ok (machine, "Update", g_variant_new_parsed ("({'automatic-checkpoints': <true>},)"));
  call_ok (machine, "Start", NULL);
  wait_for_state (machine, "running");
  {
    const char *current = vireo_dbus_machine_get_current_checkpoint (machine);
    g_autoptr (VireoDBusCheckpoint) automatic = checkpoint_proxy (f, current);
    g_assert_true (g_str_has_prefix (vireo_dbus_checkpoint_get_name (automatic),
                                     "Automatic Checkpoint - saved-checkpoint - ("));
    g_assert_cmpstr (vireo_dbus_checkpoint_get_kind (automatic), ==, "production");
    g_assert_cmpstr (vireo_dbus_checkpoint_get_parent (automatic), ==, checkpoint_path (saved));
  }
  /* Saved and resumed: no new one. */
  call_ok (machine, "Save", NULL);
  wait_for_state (machine, "saved");
  call_ok (machine, "Start", NULL);
  wait_for_state (machine, "running");
  {
    g_autoptr (GHashTable) objects = managed_objects (f, CHECKPOINT_IFACE);
    g_assert_cmpuint (g_hash_table_size (objects), ==, 3);
  }
  call_ok (machine, "TurnOff", NULL);
  wait_for_state (machine, "off");
}

/* Waits until vireod has finished the work tree.ini's journal names (its keys "applying" and "doomed"). */
static void
wait_for_journal_done (const char *tree_path)
{
  for (guint i = 0; i < WAIT_SECONDS * 10; i++)
    {
      g_autofree char *contents = NULL;
      g_assert_true (g_file_get_contents (tree_path, &contents, NULL, NULL));
      if (strstr (contents, "applying=") == NULL && strstr (contents, "doomed=") == NULL)
        return;
      g_main_context_iteration (NULL, FALSE);
      g_usleep (100000);
    }
  g_assert_not_reached ();
}

/* What a kill -9 of vireod leaves in the middle of a create (a "doomed" id in tree.ini, its disk snapshot
 * and temporary folder) and of an apply (the "applying" key): the next vireod removes the first and
 * finishes the second before anyone asks. */
static void
test_checkpoints_recovery (Fixture *f)
{
  g_autofree char *qemu_img = g_find_program_in_path ("qemu-img");
  g_autofree char *qemu_io = g_find_program_in_path ("qemu-io");
  g_autoptr (VireoDBusMachine) machine = NULL;
  g_autoptr (VireoDBusCheckpoint) kept = NULL;
  g_autoptr (GKeyFile) tree = g_key_file_new ();
  g_autoptr (GError) error = NULL;
  g_autofree char *folder = NULL;
  g_autofree char *image = NULL;
  g_autofree char *target = NULL;
  g_autofree char *tree_path = NULL;
  g_autofree char *temp_folder = NULL;
  g_autofree char *path = NULL;
  g_autofree char *kept_path = NULL;
  const char *orphan = "aaaaaaaaaaaaaaaa";

  if (qemu_img == NULL || qemu_io == NULL)
    {
      g_test_skip ("needs qemu-img and qemu-io (Debian: qemu-utils)");
      return;
    }
  machine = create_guest (f, "interrupted", "echo");
  path = g_strdup (machine_path (machine));
  folder = machine_folder (f, machine);
  target = call_for_target (machine, "CreateDisk", g_variant_new_parsed ("(uint64 1048576, @a{sv} {})"));
  image = g_build_filename (folder, "vda.qcow2", NULL);
  write_disk_pattern (image, 0x11);
  kept = create_checkpoint (f, machine, "kept", g_variant_new_parsed ("@a{sv} {}"));
  kept_path = g_strdup (checkpoint_path (kept));
  g_clear_object (&kept);
  g_clear_object (&machine);
  write_disk_pattern (image, 0x22);

  vireod_stop (f);
  {
    g_autofree char *name = g_strconcat ("vireo-", orphan, NULL);
    const char *argv[] = { "qemu-img", "snapshot", "-c", name, image, NULL };
    /* One no journal names either (a tree.ini restored from a backup), and one of the user's own. */
    const char *untracked[] = { "qemu-img", "snapshot", "-c", "vireo-bbbbbbbbbbbbbbbb", image, NULL };
    const char *users[] = { "qemu-img", "snapshot", "-c", "before-vireo", image, NULL };
    run_ok (argv);
    run_ok (untracked);
    run_ok (users);
  }
  tree_path = g_build_filename (folder, "checkpoints", "tree.ini", NULL);
  temp_folder = g_strdup_printf ("%s/checkpoints/%s.tmp", folder, orphan);
  g_assert_no_errno (g_mkdir_with_parents (temp_folder, 0700));
  g_assert_true (g_key_file_load_from_file (tree, tree_path, G_KEY_FILE_NONE, &error));
  g_assert_no_error (error);
  g_key_file_set_string (tree, "tree", "doomed", orphan);
  g_key_file_set_string (tree, "tree", "applying", strrchr (kept_path, '/') + 1);
  g_key_file_set_string (tree, "tree", "current", "");
  g_assert_true (g_key_file_save_to_file (tree, tree_path, &error));
  g_assert_no_error (error);
  vireod_start (f);

  machine = machine_proxy (f, path);
  kept = checkpoint_proxy (f, kept_path);
  /* A call right away waits for the recovery rather than being refused: the apply is finished first
   * (Now below "kept", the disk as it was then), so the new checkpoint hangs below "kept". */
  {
    g_autoptr (VireoDBusCheckpoint) after = create_checkpoint (f, machine, "after",
                                                               g_variant_new_parsed ("@a{sv} {}"));
    g_autofree char *listing = NULL;

    g_assert_cmpstr (vireo_dbus_checkpoint_get_parent (after), ==, kept_path);
    wait_for_journal_done (tree_path);
    listing = snapshot_listing (image);
    g_assert_null (strstr (listing, orphan));
    g_assert_null (strstr (listing, "vireo-bbbbbbbbbbbbbbbb"));
    g_assert_nonnull (strstr (listing, "before-vireo"));
    g_assert_true (has_snapshot (image, kept));
    g_assert_true (has_snapshot (image, after));
    call_ok (after, "Delete", g_variant_new_parsed ("(false,)"));
  }
  for (guint i = 0; i < WAIT_SECONDS * 10
                    && g_strcmp0 (vireo_dbus_machine_get_current_checkpoint (machine), kept_path) != 0;
       i++)
    {
      g_main_context_iteration (NULL, FALSE);
      g_usleep (100000);
    }
  g_assert_cmpstr (vireo_dbus_machine_get_current_checkpoint (machine), ==, kept_path);
  assert_disk_pattern (image, 0x11);
  g_assert_false (g_file_test (temp_folder, G_FILE_TEST_EXISTS));
  {
    g_autofree char *contents = NULL;
    g_assert_true (g_file_get_contents (tree_path, &contents, NULL, NULL));
    g_assert_null (strstr (contents, "applying"));
    g_assert_null (strstr (contents, "doomed"));
  }

  /* The same with a worker socket left behind: vireod waits until it knows the worker is gone (a stale
   * socket), then finishes the apply at rest. */
  {
    g_autofree char *workers = g_build_filename (f->runtime_dir, "vireo", "workers", NULL);
    g_autofree char *uuid = g_strdup (vireo_dbus_machine_get_uuid (machine));
    g_autofree char *socket_path = g_strdup_printf ("%s/%s.sock", workers, uuid);

    write_disk_pattern (image, 0x44);
    g_clear_object (&kept);
    g_clear_object (&machine);
    vireod_stop (f);
    g_assert_true (g_key_file_load_from_file (tree, tree_path, G_KEY_FILE_NONE, &error));
    g_assert_no_error (error);
    g_key_file_set_string (tree, "tree", "applying", strrchr (kept_path, '/') + 1);
    g_assert_true (g_key_file_save_to_file (tree, tree_path, &error));
    g_assert_no_error (error);
    g_assert_no_errno (g_mkdir_with_parents (workers, 0700));
    g_assert_true (g_file_set_contents (socket_path, "", 0, NULL));
    vireod_start (f);
    machine = machine_proxy (f, path);
    wait_for_journal_done (tree_path);
    assert_disk_pattern (image, 0x11);
    for (guint i = 0; i < WAIT_SECONDS * 10
                      && g_strcmp0 (vireo_dbus_machine_get_current_checkpoint (machine), kept_path) != 0;
         i++)
      {
        g_main_context_iteration (NULL, FALSE);
        g_usleep (100000);
      }
    g_assert_cmpstr (vireo_dbus_machine_get_current_checkpoint (machine), ==, kept_path);
    g_assert_false (g_file_test (socket_path, G_FILE_TEST_EXISTS));
  }

  /* An apply that cannot be finished (its checkpoint lost its definition) blocks nothing but itself:
   * deleting that checkpoint is the way out. */
  {
    g_autoptr (VireoDBusCheckpoint) lost = create_checkpoint (f, machine, "lost",
                                                              g_variant_new_parsed ("@a{sv} {}"));
    g_autofree char *lost_path = g_strdup (checkpoint_path (lost));
    g_autofree char *definition = g_strdup_printf ("%s/checkpoints/%s/definition.xml", folder,
                                                   strrchr (lost_path, '/') + 1);
    g_autofree char *contents = NULL;

    g_clear_object (&lost);
    g_clear_object (&machine);
    vireod_stop (f);
    g_assert_no_errno (unlink (definition));
    g_assert_true (g_key_file_load_from_file (tree, tree_path, G_KEY_FILE_NONE, &error));
    g_assert_no_error (error);
    g_key_file_set_string (tree, "tree", "applying", strrchr (lost_path, '/') + 1);
    g_assert_true (g_key_file_save_to_file (tree, tree_path, &error));
    g_assert_no_error (error);
    vireod_start (f);
    machine = machine_proxy (f, path);
    lost = checkpoint_proxy (f, lost_path);
    call_ok (lost, "Delete", g_variant_new_parsed ("(false,)"));
    g_assert_true (g_file_get_contents (tree_path, &contents, NULL, NULL));
    g_assert_null (strstr (contents, "applying"));
    assert_disk_pattern (image, 0x11);
  }
}

static const ServiceTest service_tests[] = {
  { "/service/host-facts", test_host_facts, FALSE },
  { "/service/lifecycle", test_lifecycle, TRUE },
  { "/service/serial", test_serial, TRUE },
  { "/service/pause-resume", test_pause_resume, TRUE },
  { "/service/display", test_display, TRUE },
  { "/service/shutdown", test_shutdown, TRUE },
  { "/service/save-restore", test_save_restore, TRUE },
  { "/service/save-restore-cycles", test_save_restore_cycles, TRUE },
  { "/service/crash-record", test_crash_record, TRUE },
  { "/service/fifo-kernel", test_fifo_kernel, TRUE },
  { "/service/persistence", test_persistence, FALSE },
  { "/service/reattach", test_reattach, TRUE },
  { "/service/worker-killed", test_worker_killed, TRUE },
  { "/service/errors", test_errors, FALSE },
  { "/service/errors-running", test_errors_running, TRUE },
  { "/service/update-export-import", test_update_export_import, FALSE },
  { "/service/many-machines", test_many_machines, FALSE },
  { "/service/gdbus", test_gdbus, TRUE },
  { "/service/disks", test_disks, TRUE },
  { "/service/disks-system", test_disks, TRUE, TRUE },
  { "/service/disk-methods", test_disk_methods, FALSE },
  { "/service/disk-methods-system", test_disk_methods, FALSE, TRUE },
  { "/service/disk-methods-running", test_disk_methods_running, TRUE },
  { "/service/disk-methods-running-system", test_disk_methods_running, TRUE, TRUE },
  { "/service/cdrom-running", test_cdrom_running, TRUE },
  { "/service/firmware-boot", test_firmware_boot, TRUE },
  { "/service/network-boot-rom", test_network_boot_rom, TRUE },
  { "/service/nat", test_nat, TRUE },
  { "/service/nat-system", test_nat, TRUE, TRUE },
  { "/service/nics", test_nics_session, FALSE },
  { "/service/nics-running", test_nics_running, TRUE },
  { "/service/switches-system", test_switches_system, FALSE, TRUE },
  { "/service/switches-running-system", test_switches_running_system, TRUE, TRUE },
  { "/service/sandbox/system-worker", test_sandbox_system, TRUE, TRUE },
  { "/service/sandbox/forbidden-call", test_sandbox_forbidden_call, TRUE, TRUE, "vcpu:1000" },
  { "/service/sandbox/session-worker", test_sandbox_session, TRUE },
  { "/service/checkpoints-off", test_checkpoints_off, FALSE },
  { "/service/checkpoints-off-system", test_checkpoints_off, FALSE, TRUE },
  { "/service/checkpoints-saved", test_checkpoints_saved, TRUE },
  { "/service/checkpoints-saved-system", test_checkpoints_saved, TRUE, TRUE },
  { "/service/checkpoints-recovery", test_checkpoints_recovery, FALSE },
};

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  service_test_system_cleanup = remove_leftover_bridges;
  for (guint i = 0; i < G_N_ELEMENTS (service_tests); i++)
    g_test_add_data_func (service_tests[i].path, &service_tests[i], run_service_test);
  return g_test_run ();
}
