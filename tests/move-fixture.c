/* move-fixture.c — the move tests' two hosts: the service fixture's vireod as the source, a second
 * dbus-daemon and vireod as the destination behind the test sshd, a source machine with known disk content,
 * and the checks of a copy (see move-fixture.h). */
#include "move-fixture.h"

#include "test-util.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define KiB 1024
#define MiB (1024 * 1024)

/* Sorted by offset, apart from each other: the copies must keep the holes between them as zeros. */
const MoveFixturePattern move_fixture_vda_patterns[] = {
  { 0xa5, 0, 1 * MiB },
  { 0x3c, 16 * MiB, 512 * KiB },
  { 0, 0, 0 },
};

/* Not block-aligned in the middle, and nothing in the last 12 MiB: a copy that stops at the last data, or
 * rounds it, shows. */
const MoveFixturePattern move_fixture_vdb_patterns[] = {
  { 0x5a, 0, 64 * KiB },
  { 0xc3, 9 * MiB + 512, 100 * KiB },
  { 0x7e, 20 * MiB, 4 * KiB },
  { 0, 0, 0 },
};

const char *
move_fixture_unavailable (void)
{
  static const char *const programs[] = { "qemu-img", "qemu-io", "dbus-daemon" };
  const char *ssh = vireo_ssh_fixture_unavailable ();

  if (ssh)
    return ssh;
  for (gsize i = 0; i < G_N_ELEMENTS (programs); i++)
    {
      g_autofree char *found = g_find_program_in_path (programs[i]);
      if (!found)
        return "qemu-img, qemu-io (qemu-utils) or dbus-daemon is missing";
    }
  return NULL;
}

/* ---- the destination ---- */

static int
open_dest_log (MoveFixture *f)
{
  g_autofree char *path = g_build_filename (f->service.base, DEST_LOG_FILE, NULL);
  int fd = open (path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);

  g_assert_cmpint (fd, >=, 0);
  return fd;
}

/* A bus of the test's own, as GTestDBus makes one; its config file in the folder names the test in its
 * command line, so the runner's clean-up finds it. */
static void
start_dest_bus (MoveFixture *f, const char *dest_dir)
{
  g_autofree char *config = g_build_filename (dest_dir, "bus.conf", NULL);
  g_autofree char *socket = g_build_filename (dest_dir, "bus", NULL);
  g_autofree char *config_option = g_strconcat ("--config-file=", config, NULL);
  g_autofree char *text = g_strdup_printf ("<busconfig>\n"
                                           "  <type>session</type>\n"
                                           "  <listen>unix:path=%s</listen>\n"
                                           "  <policy context=\"default\">\n"
                                           "    <allow send_destination=\"*\" eavesdrop=\"true\"/>\n"
                                           "    <allow eavesdrop=\"true\"/>\n"
                                           "    <allow own=\"*\"/>\n"
                                           "  </policy>\n"
                                           "</busconfig>\n",
                                           socket);
  g_autoptr (GSubprocessLauncher) launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE);
  g_autoptr (GDataInputStream) out = NULL;
  g_autoptr (GError) error = NULL;
  char *address;

  g_assert_true (g_file_set_contents (config, text, -1, NULL));
  g_subprocess_launcher_take_stderr_fd (launcher, open_dest_log (f));
  f->dest_bus_daemon = g_subprocess_launcher_spawn (launcher, &error, "dbus-daemon", "--nofork",
                                                    config_option, "--print-address=1", NULL);
  g_assert_no_error (error);
  /* The address is printed once the bus listens. */
  out = g_data_input_stream_new (g_subprocess_get_stdout_pipe (f->dest_bus_daemon));
  address = g_data_input_stream_read_line (out, NULL, NULL, &error);
  g_assert_no_error (error);
  g_assert_nonnull (address);
  f->dest_bus_address = g_strstrip (address);
  g_assert_true (g_str_has_prefix (f->dest_bus_address, "unix:path="));

  f->dest_connection = g_dbus_connection_new_for_address_sync (
      f->dest_bus_address,
      G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT | G_DBUS_CONNECTION_FLAGS_MESSAGE_BUS_CONNECTION, NULL,
      NULL, &error);
  g_assert_no_error (error);
}

static gboolean
dest_name_owned (MoveFixture *f)
{
  g_autoptr (GVariant) reply = g_dbus_connection_call_sync (
      f->dest_connection, "org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus",
      "NameHasOwner", g_variant_new ("(s)", BUS_NAME), G_VARIANT_TYPE ("(b)"), G_DBUS_CALL_FLAGS_NONE, -1,
      NULL, NULL);
  gboolean owned = FALSE;

  if (reply)
    g_variant_get (reply, "(b)", &owned);
  return owned;
}

static gboolean
dest_vireod_gone (MoveFixture *f)
{
  return g_subprocess_get_identifier (f->dest_vireod) == NULL;
}

static gboolean
dest_name_owned_or_vireod_gone (gpointer data)
{
  return dest_vireod_gone (data) || dest_name_owned (data);
}

static void
start_dest_vireod (MoveFixture *f)
{
  g_autoptr (GSubprocessLauncher) launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_NONE);
  g_autoptr (GError) error = NULL;
  const char *vireod = g_getenv ("VIREOD") ? g_getenv ("VIREOD") : "service/vireod";
  int log_fd = open_dest_log (f);

  g_subprocess_launcher_setenv (launcher, "XDG_RUNTIME_DIR", f->dest_runtime_dir, TRUE);
  g_subprocess_launcher_setenv (launcher, "DBUS_SESSION_BUS_ADDRESS", f->dest_bus_address, TRUE);
  g_subprocess_launcher_unsetenv (launcher, "DBUS_SYSTEM_BUS_ADDRESS");
  g_subprocess_launcher_take_stdout_fd (launcher, dup (log_fd));
  g_subprocess_launcher_take_stderr_fd (launcher, log_fd);
  f->dest_vireod = g_subprocess_launcher_spawn (launcher, &error, vireod, "--session", "--storage",
                                                f->dest_storage, NULL);
  g_assert_no_error (error);
  g_assert_true (vireo_test_wait_until (dest_name_owned_or_vireod_gone, f, WAIT_SECONDS));
  g_assert_false (dest_vireod_gone (f));

  f->dest_manager = vireo_dbus_manager_proxy_new_sync (
      f->dest_connection, G_DBUS_PROXY_FLAGS_DO_NOT_AUTO_START, BUS_NAME, ROOT_PATH, NULL, &error);
  g_assert_no_error (error);
  g_assert_nonnull (vireo_dbus_manager_get_version (f->dest_manager));
  g_dbus_proxy_set_default_timeout (G_DBUS_PROXY (f->dest_manager), CALL_TIMEOUT_MS);
}

void
move_fixture_setup (MoveFixture *f, const char *base)
{
  g_autofree char *dest_dir = NULL, *ssh_dir = NULL, *tunnel_dir = NULL;
  g_autofree char *system_bus = NULL, *session_bus = NULL, *runtime = NULL, *path = NULL;
  const char *tunnel = g_getenv ("VIREO_TUNNEL");

  memset (f, 0, sizeof *f);
  g_assert_nonnull (tunnel);
  fixture_setup (&f->service, base, FALSE, NULL);
  f->dir = g_build_filename (base, "move", NULL);
  dest_dir = g_build_filename (f->dir, "dest", NULL);
  f->dest_storage = g_build_filename (dest_dir, "storage", NULL);
  f->dest_runtime_dir = g_build_filename (dest_dir, "run", NULL);
  g_assert_no_errno (g_mkdir_with_parents (f->dest_runtime_dir, 0700));

  start_dest_bus (f, dest_dir);
  start_dest_vireod (f);

  /* The destination's bus is the only one ssh's remote commands know, whichever they ask for. */
  system_bus = g_strconcat ("DBUS_SYSTEM_BUS_ADDRESS=", f->dest_bus_address, NULL);
  session_bus = g_strconcat ("DBUS_SESSION_BUS_ADDRESS=", f->dest_bus_address, NULL);
  runtime = g_strconcat ("XDG_RUNTIME_DIR=", f->dest_runtime_dir, NULL);
  tunnel_dir = g_path_get_dirname (tunnel);
  path = g_strconcat ("PATH=", tunnel_dir, NULL);
  {
    const char *environment[] = { system_bus, session_bus, runtime, path, NULL };
    ssh_dir = g_build_filename (f->dir, "ssh", NULL);
    vireo_ssh_fixture_start (&f->ssh, ssh_dir, environment);
  }
}

void
move_fixture_teardown (MoveFixture *f)
{
  vireo_ssh_fixture_stop (&f->ssh);

  /* Whatever the test did, the destination vireod must have survived it, and it exits cleanly. */
  g_clear_object (&f->dest_manager);
  g_assert_false (dest_vireod_gone (f));
  g_subprocess_send_signal (f->dest_vireod, SIGTERM);
  g_assert_true (g_subprocess_wait (f->dest_vireod, NULL, NULL));
  g_assert_true (g_subprocess_get_if_exited (f->dest_vireod));
  g_assert_cmpint (g_subprocess_get_exit_status (f->dest_vireod), ==, 0);
  g_clear_object (&f->dest_vireod);
  g_assert_true (vireo_test_signal_processes ("vireo-worker", f->dest_runtime_dir, SIGTERM, WAIT_SECONDS));

  g_dbus_connection_close_sync (f->dest_connection, NULL, NULL);
  g_clear_object (&f->dest_connection);
  g_subprocess_send_signal (f->dest_bus_daemon, SIGTERM);
  g_subprocess_wait (f->dest_bus_daemon, NULL, NULL);
  g_clear_object (&f->dest_bus_daemon);

  fixture_teardown (&f->service);
  g_free (f->dir);
  g_free (f->dest_bus_address);
  g_free (f->dest_storage);
  g_free (f->dest_runtime_dir);
  memset (f, 0, sizeof *f);
}

char *
move_fixture_dest_uri (MoveFixture *f)
{
  return vireo_ssh_fixture_uri (&f->ssh, "/session");
}

static gboolean
host_available (gpointer data)
{
  return vireo_host_get_available (data);
}

VireoHost *
move_fixture_connect_host (MoveFixture *f, const char *uri)
{
  g_autoptr (VireoHost) host = vireo_host_new_remote (uri);

  if (!vireo_test_wait_until (host_available, host, WAIT_SECONDS))
    {
      g_autofree char *log = vireo_ssh_fixture_log (&f->ssh);
      g_error ("%s never became available; its status: “%s”; sshd's log:\n%s", uri,
               vireo_host_get_status (host), log);
    }
  g_assert_cmpint (vireo_host_get_state (host), ==, VIREO_HOST_CONNECTED);
  return g_steal_pointer (&host);
}

/* ---- machines and their disks ---- */

/* The non-empty "path"s of the "disks" setting of the machine at @object_path, asked of the service. */
static GStrv
disk_paths (GDBusConnection *connection, const char *object_path)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GVariant) reply = g_dbus_connection_call_sync (
      connection, BUS_NAME, object_path, "org.freedesktop.DBus.Properties", "Get",
      g_variant_new ("(ss)", MACHINE_IFACE, "Settings"), G_VARIANT_TYPE ("(v)"),
      G_DBUS_CALL_FLAGS_NO_AUTO_START, CALL_TIMEOUT_MS, NULL, &error);
  g_autoptr (GVariant) settings = NULL;
  g_autoptr (GVariant) disks = NULL;
  g_autoptr (GPtrArray) paths = g_ptr_array_new_with_free_func (g_free);
  GVariantIter iter;
  GVariant *disk;

  g_assert_no_error (error);
  g_variant_get (reply, "(v)", &settings);
  disks = g_variant_lookup_value (settings, "disks", G_VARIANT_TYPE ("aa{sv}"));
  g_assert_nonnull (disks);
  g_variant_iter_init (&iter, disks);
  while ((disk = g_variant_iter_next_value (&iter)) != NULL)
    {
      const char *path = NULL;
      if (g_variant_lookup (disk, "path", "&s", &path) && *path)
        g_ptr_array_add (paths, g_strdup (path));
      g_variant_unref (disk);
    }
  g_ptr_array_add (paths, NULL);
  return (GStrv) g_ptr_array_free (g_steal_pointer (&paths), FALSE);
}

GStrv
move_fixture_dest_disk_paths (MoveFixture *f, const char *object_path)
{
  return disk_paths (f->dest_connection, object_path);
}

GStrv
move_fixture_source_disk_paths (MoveFixture *f, const char *object_path)
{
  return disk_paths (f->service.connection, object_path);
}

static void
fill_qcow2 (const char *image, const MoveFixturePattern *patterns)
{
  g_autoptr (GPtrArray) argv = g_ptr_array_new_with_free_func (g_free);

  g_ptr_array_add (argv, g_strdup ("qemu-io"));
  g_ptr_array_add (argv, g_strdup ("-f"));
  g_ptr_array_add (argv, g_strdup ("qcow2"));
  for (const MoveFixturePattern *p = patterns; p->length; p++)
    {
      g_ptr_array_add (argv, g_strdup ("-c"));
      g_ptr_array_add (argv, g_strdup_printf ("write -P 0x%02x %" G_GUINT64_FORMAT " %" G_GUINT64_FORMAT,
                                              p->byte, p->offset, p->length));
    }
  g_ptr_array_add (argv, g_strdup (image));
  g_ptr_array_add (argv, NULL);
  run_ok ((const char *const *) argv->pdata);
}

static void
fill_raw (const char *image, const MoveFixturePattern *patterns)
{
  int fd = open (image, O_WRONLY | O_CLOEXEC);

  g_assert_cmpint (fd, >=, 0);
  for (const MoveFixturePattern *p = patterns; p->length; p++)
    {
      g_autofree guchar *bytes = g_malloc (p->length);
      memset (bytes, p->byte, p->length);
      g_assert_cmpint (pwrite (fd, bytes, p->length, (off_t) p->offset), ==, (ssize_t) p->length);
    }
  g_assert_no_errno (fsync (fd));
  g_assert_no_errno (close (fd));
}

char *
move_fixture_make_machine (MoveFixture *f, const char *name)
{
  g_autofree char *kernel = vireo_test_guest_path ("echo");
  g_autoptr (VireoDBusMachine) machine = NULL;
  g_autofree char *vda = NULL, *vdb = NULL, *cdrom = NULL;
  g_auto (GStrv) paths = NULL;

  machine = create (&f->service,
                    g_variant_new_parsed ("{'name': <%s>, 'kernel': <%s>, 'memory-mib': <uint64 64>, "
                                          "'network': <'nat'>}",
                                          name, kernel));
  vda = call_for_target (machine, "CreateDisk",
                         g_variant_new_parsed ("(%t, {'format': <'qcow2'>})", MOVE_FIXTURE_VDA_SIZE));
  g_assert_cmpstr (vda, ==, "vda");
  vdb = call_for_target (machine, "CreateDisk",
                         g_variant_new_parsed ("(%t, {'format': <'raw'>})", MOVE_FIXTURE_VDB_SIZE));
  g_assert_cmpstr (vdb, ==, "vdb");
  cdrom = call_for_target (machine, "AttachDisk", g_variant_new_parsed ("({'device': <'cdrom'>},)"));
  g_assert_cmpstr (cdrom, ==, "sda");

  paths = move_fixture_source_disk_paths (f, machine_path (machine));
  g_assert_cmpuint (g_strv_length (paths), ==, 2);
  fill_qcow2 (paths[0], move_fixture_vda_patterns);
  fill_raw (paths[1], move_fixture_vdb_patterns);
  g_assert_cmpstr (vireo_dbus_machine_get_state (machine), ==, "off");
  return g_strdup (machine_path (machine));
}

char *
move_fixture_sha256 (const char *path, guint64 *size)
{
  g_autoptr (GChecksum) checksum = g_checksum_new (G_CHECKSUM_SHA256);
  g_autofree guchar *buffer = g_malloc (MiB);
  guint64 total = 0;
  int fd = open (path, O_RDONLY | O_CLOEXEC);
  ssize_t n;

  g_assert_cmpint (fd, >=, 0);
  while ((n = read (fd, buffer, MiB)) != 0)
    {
      if (n < 0 && errno == EINTR)
        continue;
      g_assert_cmpint (n, >, 0);
      g_checksum_update (checksum, buffer, n);
      total += (guint64) n;
    }
  close (fd);
  if (size)
    *size = total;
  return g_strdup (g_checksum_get_string (checksum));
}

/* ---- judging a copy ---- */

static void
add_read (GPtrArray *argv, guint byte, guint64 offset, guint64 length)
{
  if (length == 0)
    return;
  g_ptr_array_add (argv, g_strdup ("-c"));
  g_ptr_array_add (argv, g_strdup_printf ("read -P 0x%02x %" G_GUINT64_FORMAT " %" G_GUINT64_FORMAT, byte,
                                          offset, length));
}

gboolean
move_fixture_disk_holds (const char *image, const char *format, const MoveFixturePattern *patterns)
{
  g_autoptr (GPtrArray) argv = g_ptr_array_new_with_free_func (g_free);
  g_autofree char *out = NULL;
  guint64 size = disk_virtual_size (image);
  guint64 at = 0;
  int status;

  g_ptr_array_add (argv, g_strdup ("qemu-io"));
  g_ptr_array_add (argv, g_strdup ("-r"));
  g_ptr_array_add (argv, g_strdup ("-U"));
  g_ptr_array_add (argv, g_strdup ("-f"));
  g_ptr_array_add (argv, g_strdup (format));
  for (const MoveFixturePattern *p = patterns; p->length; p++)
    {
      g_assert_cmpuint (p->offset, >=, at);
      add_read (argv, 0, at, p->offset - at);
      add_read (argv, p->byte, p->offset, p->length);
      at = p->offset + p->length;
    }
  g_assert_cmpuint (size, >=, at);
  add_read (argv, 0, at, size - at);
  g_ptr_array_add (argv, g_strdup (image));
  g_ptr_array_add (argv, NULL);

  status = vireo_test_run_judge ((const char *const *) argv->pdata, &out);
  /* qemu-io says "Pattern verification failed", or "read failed", on its stdout. */
  if (status != 0 || out == NULL || strstr (out, "failed"))
    {
      g_auto (GStrv) lines = g_strsplit (out ? out : "", "\n", -1);
      test_say ("%s (%s) does not hold the content it should (qemu-io exited with %d)", image, format,
                status);
      for (guint i = 0; lines[i]; i++)
        if (strstr (lines[i], "failed"))
          test_say ("  %s", lines[i]);
      return FALSE;
    }
  if (g_str_equal (format, "qcow2"))
    {
      const char *check[] = { "qemu-img", "check", "-U", "-q", "-f", "qcow2", image, NULL };
      g_clear_pointer (&out, g_free);
      status = vireo_test_run_judge (check, &out);
      if (status != 0)
        {
          test_say ("qemu-img check %s exited with %d: %s", image, status, out ? out : "");
          return FALSE;
        }
    }
  return TRUE;
}

/* ---- running each test in a child ---- */

void
run_move_test (gconstpointer data)
{
  const MoveTest *test = data;
  const char *unavailable = move_fixture_unavailable ();

  if (g_test_subprocess ())
    {
      MoveFixture f;
      move_fixture_setup (&f, g_getenv (TEST_DIR_VARIABLE));
      test->func (&f);
      move_fixture_teardown (&f);
      return;
    }
  if (unavailable)
    {
      g_test_skip (unavailable);
      return;
    }
  if (test->needs_kvm && !vireo_test_require_kvm ())
    return;
  run_test_in_child (test->child_timeout_seconds, FALSE);
}
