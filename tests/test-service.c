/* test-service.c — the 'service' suite: the real vireod --session on a private bus, driven through the
 * generated org.vireo.Vireo1 proxies, with the test guests as machines: a machine's life (start, serial,
 * display, pause, shutdown, save and restore, persistence, re-attaching, crashes) and the worker's sandbox
 * (vireod --system as root, the private bus standing in for the system bus).  The fixture, and each test's
 * run in a child process, are in service-fixture.c; the other groups in test-service-*.c. */
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
  { "/service/disks", test_disks, TRUE },
  { "/service/disks-system", test_disks, TRUE, TRUE },
  { "/service/firmware-boot", test_firmware_boot, TRUE },
  { "/service/nat", test_nat, TRUE },
  { "/service/nat-system", test_nat, TRUE, TRUE },
  { "/service/sandbox/system-worker", test_sandbox_system, TRUE, TRUE },
  { "/service/sandbox/forbidden-call", test_sandbox_forbidden_call, TRUE, TRUE, "vcpu:1000" },
  { "/service/sandbox/session-worker", test_sandbox_session, TRUE },
};

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  for (guint i = 0; i < G_N_ELEMENTS (service_tests); i++)
    g_test_add_data_func (service_tests[i].path, &service_tests[i], run_service_test);
  return g_test_run ();
}
