/* test-move.c — moving a machine between hosts.  For now the fixture's own checks (tests/move-fixture.c):
 * two vireods that answer, the destination reached as a Vireo host over ssh and only there, and a source
 * machine whose disks hold what the copies will be judged by. */
#include "move-fixture.h"
#include "test-util.h"

#include <string.h>
#include <sys/stat.h>

/* ---- the two services ---- */

static char *
dest_version (MoveFixture *f)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GVariant) reply = g_dbus_connection_call_sync (
      f->dest_connection, BUS_NAME, ROOT_PATH, "org.freedesktop.DBus.Properties", "Get",
      g_variant_new ("(ss)", MANAGER_IFACE, "Version"), G_VARIANT_TYPE ("(v)"),
      G_DBUS_CALL_FLAGS_NO_AUTO_START, CALL_TIMEOUT_MS, NULL, &error);
  g_autoptr (GVariant) version = NULL;

  g_assert_no_error (error);
  g_variant_get (reply, "(v)", &version);
  return g_variant_dup_string (version, NULL);
}

/* CreateMachine on the destination, through the test's own connection. */
static char *
dest_create_guest (MoveFixture *f, const char *name)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GVariant) settings = g_variant_ref_sink (guest_settings (name, "echo"));
  g_autoptr (GVariant) reply = call_full (f->dest_manager, "CreateMachine",
                                          g_variant_new_tuple (&settings, 1), NULL, &error);
  char *path = NULL;

  g_assert_no_error (error);
  g_variant_get (reply, "(o)", &path);
  return path;
}

/* The destination as the app reaches it at @uri: its machine @dest_path, and only its machines. */
static void
assert_host_is_dest (MoveFixture *f, const char *uri, const char *dest_path, const char *source_path)
{
  g_autoptr (VireoHost) host = move_fixture_connect_host (f, uri);
  VireoDBusMachine *machine = vireo_host_find_machine (host, dest_path);

  g_assert_nonnull (machine);
  g_assert_cmpstr (vireo_dbus_machine_get_name (machine), ==, "only-there");
  g_assert_null (vireo_host_find_machine (host, source_path));
  g_assert_cmpuint (g_list_model_get_n_items (vireo_host_get_machines (host)), ==, 1);
}

static void
test_hosts (MoveFixture *f)
{
  g_autoptr (VireoDBusMachine) here = NULL;
  g_autoptr (GHashTable) source_machines = NULL;
  g_autofree char *version = dest_version (f);
  g_autofree char *there = NULL, *uri = NULL, *system_uri = NULL;

  assert_vireod_answers (&f->service);
  g_assert_cmpstr (version, ==, VIREO_VERSION);

  /* Two services with their own machines: what is made on one is not on the other. */
  here = create_guest (&f->service, "only-here", "echo");
  there = dest_create_guest (f, "only-there");
  g_assert_cmpstr (there, !=, machine_path (here));
  source_machines = managed_machines (&f->service);
  g_assert_cmpuint (g_hash_table_size (source_machines), ==, 1);
  g_assert_true (g_hash_table_contains (source_machines, machine_path (here)));

  uri = move_fixture_dest_uri (f);
  g_assert_true (g_str_has_suffix (uri, "/session"));
  test_say ("the destination is %s", uri);
  assert_host_is_dest (f, uri, there, machine_path (here));
  /* The destination's bus is the remote commands' system bus too. */
  system_uri = vireo_ssh_fixture_uri (&f->ssh, "");
  assert_host_is_dest (f, system_uri, there, machine_path (here));
}

/* ---- the source machine and its disks ---- */

static GVariant *
setting (VireoDBusMachine *machine, const char *key, const GVariantType *type)
{
  g_autoptr (GVariant) settings = vireo_dbus_machine_dup_settings (machine);
  GVariant *value = g_variant_lookup_value (settings, key, type);

  g_assert_nonnull (value);
  return value;
}

static const char *
disk_key (GVariant *disk, const char *key)
{
  const char *value = NULL;

  g_assert_true (g_variant_lookup (disk, key, "&s", &value));
  return value;
}

static void
test_machine (MoveFixture *f)
{
  g_autofree char *path = move_fixture_make_machine (f, "to-move");
  g_autoptr (VireoDBusMachine) machine = machine_proxy (&f->service, path);
  g_autofree char *folder = machine_folder (&f->service, machine);
  g_auto (GStrv) paths = move_fixture_source_disk_paths (f, path);
  g_autoptr (GVariant) disks = setting (machine, "disks", G_VARIANT_TYPE ("aa{sv}"));
  g_autoptr (GVariant) nics = setting (machine, "nics", G_VARIANT_TYPE ("aa{sv}"));
  g_autoptr (GVariant) vda = NULL, vdb = NULL, sda = NULL;
  g_autofree char *vdb_hash = NULL;
  g_autofree char *expected_hash = NULL;
  g_autofree char *bytes = NULL;
  guint64 size = 0;
  gsize length;
  struct stat st;

  g_assert_cmpstr (vireo_dbus_machine_get_state (machine), ==, "off");
  g_assert_cmpuint (g_variant_n_children (disks), ==, 3);
  vda = g_variant_get_child_value (disks, 0);
  vdb = g_variant_get_child_value (disks, 1);
  sda = g_variant_get_child_value (disks, 2);
  g_assert_cmpstr (disk_key (vda, "target"), ==, "vda");
  g_assert_cmpstr (disk_key (vda, "format"), ==, "qcow2");
  g_assert_cmpstr (disk_key (vdb, "target"), ==, "vdb");
  g_assert_cmpstr (disk_key (vdb, "format"), ==, "raw");
  g_assert_cmpstr (disk_key (sda, "device"), ==, "cdrom");
  g_assert_cmpstr (disk_key (sda, "path"), ==, "");
  g_assert_cmpuint (g_variant_n_children (nics), ==, 1);
  {
    g_autoptr (GVariant) nic = g_variant_get_child_value (nics, 0);
    g_assert_cmpstr (disk_key (nic, "switch"), ==, "Default Switch");
  }

  /* Both images are the service's own, in the machine's folder. */
  g_assert_cmpuint (g_strv_length (paths), ==, 2);
  g_assert_cmpstr (paths[0], ==, disk_key (vda, "path"));
  g_assert_cmpstr (paths[1], ==, disk_key (vdb, "path"));
  for (guint i = 0; i < 2; i++)
    g_assert_true (g_str_has_prefix (paths[i], folder));

  /* The content the copies are judged by, and a judge that can say no. */
  g_assert_true (move_fixture_disk_holds (paths[0], "qcow2", move_fixture_vda_patterns));
  g_assert_true (move_fixture_disk_holds (paths[1], "raw", move_fixture_vdb_patterns));
  g_assert_false (move_fixture_disk_holds (paths[0], "qcow2", move_fixture_vdb_patterns));
  g_assert_false (move_fixture_disk_holds (paths[1], "raw", move_fixture_vda_patterns));

  /* vdb keeps its holes: a sparse file of its full size. */
  g_assert_no_errno (stat (paths[1], &st));
  g_assert_cmpint (st.st_size, ==, MOVE_FIXTURE_VDB_SIZE);
  g_assert_cmpint ((guint64) st.st_blocks * 512, <, MOVE_FIXTURE_VDB_SIZE / 2);

  /* The checksum is SHA-256 of every byte, as the engine will compute it. */
  vdb_hash = move_fixture_sha256 (paths[1], &size);
  g_assert_cmpuint (size, ==, MOVE_FIXTURE_VDB_SIZE);
  g_assert_true (g_file_get_contents (paths[1], &bytes, &length, NULL));
  expected_hash = g_compute_checksum_for_data (G_CHECKSUM_SHA256, (const guchar *) bytes, length);
  g_assert_cmpstr (vdb_hash, ==, expected_hash);
  g_assert_cmpuint (strlen (vdb_hash), ==, 64);
}

/* The destination's disk paths, asked of it directly. */
static void
test_dest_disk_paths (MoveFixture *f)
{
  g_autofree char *path = dest_create_guest (f, "there");
  g_autoptr (GError) error = NULL;
  g_autoptr (VireoDBusMachine) machine = vireo_dbus_machine_proxy_new_sync (
      f->dest_connection, G_DBUS_PROXY_FLAGS_DO_NOT_AUTO_START, BUS_NAME, path, NULL, &error);
  g_autofree char *target = NULL, *cdrom = NULL;
  g_auto (GStrv) paths = NULL;

  g_assert_no_error (error);
  g_dbus_proxy_set_default_timeout (G_DBUS_PROXY (machine), CALL_TIMEOUT_MS);
  target = call_for_target (machine, "CreateDisk", g_variant_new_parsed ("(uint64 1048576, @a{sv} {})"));
  cdrom = call_for_target (machine, "AttachDisk", g_variant_new_parsed ("({'device': <'cdrom'>},)"));
  paths = move_fixture_dest_disk_paths (f, path);
  g_assert_cmpuint (g_strv_length (paths), ==, 1);
  g_assert_true (g_str_has_prefix (paths[0], f->dest_storage));
  g_assert_true (g_str_has_suffix (paths[0], "/vda.qcow2"));
  g_assert_true (g_file_test (paths[0], G_FILE_TEST_IS_REGULAR));
}

static const MoveTest tests[] = {
  { "/move/fixture/hosts", test_hosts },
  { "/move/fixture/machine", test_machine },
  { "/move/fixture/dest-disk-paths", test_dest_disk_paths },
};

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  for (gsize i = 0; i < G_N_ELEMENTS (tests); i++)
    g_test_add_data_func (tests[i].path, &tests[i], run_move_test);
  return g_test_run ();
}
