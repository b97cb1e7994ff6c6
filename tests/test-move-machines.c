/* test-move-machines.c — "Move to…" (console/vireo-move.c) as the app runs it: a machine moved from one
 * private vireod to another reached only over the test sshd, its disks compared byte for byte (SHA-256) and
 * by content (qemu-io) with what the source held; refusals; a cancelled move that leaves both hosts as they
 * were; and a move to a libvirt host (the test's libvirtd, a storage pool of its own). */
#include "libvirtd-fixture.h"
#include "move-fixture.h"
#include "test-util.h"
#include "vireo-libvirt-host.h"
#include "vireo-move.h"

#include <string.h>
#include <sys/stat.h>

typedef struct
{
  GAsyncResult *result;
} Waited;

static void
on_waited (GObject *source, GAsyncResult *result, gpointer data)
{
  ((Waited *) data)->result = g_object_ref (result);
}

static gboolean
have_result (gpointer data)
{
  return ((Waited *) data)->result != NULL;
}

static GAsyncResult *
wait_result (Waited *waited, unsigned seconds)
{
  g_assert_true (vireo_test_wait_until (have_result, waited, seconds));
  return waited->result;
}

static char **
check_move (VireoMove *move, GError **error)
{
  Waited waited = { NULL };
  char **notes;

  vireo_move_check_async (move, NULL, on_waited, &waited);
  notes = vireo_move_check_finish (move, wait_result (&waited, WAIT_SECONDS), error);
  g_object_unref (waited.result);
  return notes;
}

static char *
run_move (VireoMove *move, gboolean delete_source, GCancellable *cancellable, GError **error)
{
  Waited waited = { NULL };
  char *made;

  vireo_move_run_async (move, delete_source, cancellable, on_waited, &waited);
  made = vireo_move_run_finish (move, wait_result (&waited, CHILD_TIMEOUT_SECONDS - 60), error);
  g_object_unref (waited.result);
  return made;
}

static gboolean
notes_say (char **notes, const char *needle)
{
  for (char **note = notes; note && *note; note++)
    if (strstr (*note, needle))
      return TRUE;
  return FALSE;
}

typedef struct
{
  VireoHost *host;
  const char *path;
} Listed;

static gboolean
host_lists (gpointer data)
{
  Listed *listed = data;

  return vireo_host_get_available (listed->host) && vireo_host_find_machine (listed->host, listed->path);
}

/* The app's view of the source service (the fixture's own bus), listing @path. */
static VireoHost *
source_host (MoveFixture *f, const char *path)
{
  VireoHost *host = vireo_host_new (VIREO_HOST_SESSION, f->service.connection);
  Listed listed = { host, path };

  g_assert_true (vireo_test_wait_until (host_lists, &listed, WAIT_SECONDS));
  return host;
}

/* The SHA-256 of each of the source machine's images, before anything moves. */
static GStrv
source_hashes (MoveFixture *f, const char *path, GStrv *paths)
{
  GStrvBuilder *builder = g_strv_builder_new ();
  GStrv hashes;

  *paths = move_fixture_source_disk_paths (f, path);
  for (char **p = *paths; *p; p++)
    {
      g_autofree char *hash = move_fixture_sha256 (*p, NULL);
      g_strv_builder_add (builder, hash);
    }
  hashes = g_strv_builder_end (builder);
  g_strv_builder_unref (builder);
  return hashes;
}

static char *
dest_machine_string (MoveFixture *f, const char *path, const char *property)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GVariant) reply = g_dbus_connection_call_sync (
      f->dest_connection, BUS_NAME, path, "org.freedesktop.DBus.Properties", "Get",
      g_variant_new ("(ss)", MACHINE_IFACE, property), G_VARIANT_TYPE ("(v)"), G_DBUS_CALL_FLAGS_NONE,
      CALL_TIMEOUT_MS, NULL, &error);
  g_autoptr (GVariant) value = NULL;

  g_assert_no_error (error);
  g_variant_get (reply, "(v)", &value);
  return g_variant_dup_string (value, NULL);
}

static guint
dest_machine_count (MoveFixture *f)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GVariant) reply = g_dbus_connection_call_sync (
      f->dest_connection, BUS_NAME, ROOT_PATH, "org.freedesktop.DBus.ObjectManager", "GetManagedObjects",
      NULL, G_VARIANT_TYPE ("(a{oa{sa{sv}}})"), G_DBUS_CALL_FLAGS_NONE, CALL_TIMEOUT_MS, NULL, &error);
  g_autoptr (GVariant) objects = NULL;
  GVariantIter iter;
  const char *path;
  GVariant *interfaces;
  guint count = 0;

  g_assert_no_error (error);
  objects = g_variant_get_child_value (reply, 0);
  g_variant_iter_init (&iter, objects);
  while (g_variant_iter_next (&iter, "{&o@a{sa{sv}}}", &path, &interfaces))
    {
      g_autoptr (GVariant) machine = g_variant_lookup_value (interfaces, MACHINE_IFACE, NULL);
      count += machine != NULL;
      g_variant_unref (interfaces);
    }
  return count;
}

/* ---- Vireo to Vireo over ssh ---- */

static void
test_to_vireo (MoveFixture *f)
{
  g_autofree char *path = move_fixture_make_machine (f, "traveller");
  g_autoptr (VireoHost) source = source_host (f, path);
  g_autofree char *uri = move_fixture_dest_uri (f);
  g_autoptr (VireoHost) dest = move_fixture_connect_host (f, uri);
  g_autoptr (VireoMove) move = NULL;
  g_autoptr (GError) error = NULL;
  g_auto (GStrv) paths = NULL, hashes = source_hashes (f, path, &paths);
  g_auto (GStrv) notes = NULL, report = NULL, copies = NULL;
  g_autofree char *made = NULL, *uuid = NULL, *name = NULL;
  struct stat st;

  move = vireo_move_new (source, vireo_host_find_machine (source, path), G_OBJECT (dest));
  notes = check_move (move, &error);
  g_assert_no_error (error);
  for (char **note = notes; *note; note++)
    test_say ("note: %s", *note);
  /* The echo guest boots a kernel file, which stays where it is; the empty drive and the NAT NIC move as
   * they are. */
  g_assert_true (notes_say (notes, "kernel"));
  g_assert_false (notes_say (notes, "CD-ROM"));
  g_assert_false (notes_say (notes, "Network adapter"));

  made = run_move (move, TRUE, NULL, &error);
  g_assert_no_error (error);
  g_assert_nonnull (made);
  g_assert_cmpfloat (vireo_move_get_fraction (move), ==, 1.0);
  report = vireo_move_get_report (move);
  g_assert_cmpuint (g_strv_length (report), ==, 2);
  for (guint i = 0; i < 2; i++)
    {
      test_say ("%s", report[i]);
      g_assert_nonnull (strstr (report[i], hashes[i]));
    }

  /* The copy: the same machine (UUID, name) with images identical to the source's. */
  uuid = dest_machine_string (f, made, "Uuid");
  name = dest_machine_string (f, made, "Name");
  g_assert_cmpstr (name, ==, "traveller");
  copies = move_fixture_dest_disk_paths (f, made);
  g_assert_cmpuint (g_strv_length (copies), ==, 2);
  for (guint i = 0; i < 2; i++)
    {
      g_autofree char *hash = move_fixture_sha256 (copies[i], NULL);
      g_assert_true (g_str_has_prefix (copies[i], f->dest_storage));
      g_assert_cmpstr (hash, ==, hashes[i]);
    }
  g_assert_true (move_fixture_disk_holds (copies[0], "qcow2", move_fixture_vda_patterns));
  g_assert_true (move_fixture_disk_holds (copies[1], "raw", move_fixture_vdb_patterns));
  /* The raw image kept its holes on the way. */
  g_assert_no_errno (stat (copies[1], &st));
  g_assert_cmpint ((guint64) st.st_blocks * 512, <, MOVE_FIXTURE_VDB_SIZE / 2);

  /* … and only then the source is gone, with its images. */
  {
    g_autoptr (GHashTable) machines = managed_machines (&f->service);
    g_assert_false (g_hash_table_contains (machines, path));
  }
  for (char **p = paths; *p; p++)
    g_assert_false (g_file_test (*p, G_FILE_TEST_EXISTS));

  /* … and back again, the other way over ssh: the remote host is now the source. */
  {
    Listed listed = { dest, made };
    g_autoptr (VireoMove) back = NULL;
    g_autofree char *home = NULL;
    g_auto (GStrv) returned = NULL;

    g_assert_true (vireo_test_wait_until (host_lists, &listed, WAIT_SECONDS));
    back = vireo_move_new (dest, vireo_host_find_machine (dest, made), G_OBJECT (source));
    home = run_move (back, TRUE, NULL, &error);
    g_assert_no_error (error);
    returned = move_fixture_source_disk_paths (f, home);
    g_assert_cmpuint (g_strv_length (returned), ==, 2);
    for (guint i = 0; i < 2; i++)
      {
        g_autofree char *hash = move_fixture_sha256 (returned[i], NULL);
        g_assert_cmpstr (hash, ==, hashes[i]);
      }
    g_assert_cmpuint (dest_machine_count (f), ==, 0);
  }
}

/* ---- with its checkpoints ---- */

static char *
take_checkpoint (VireoDBusMachine *machine, const char *name)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GVariant) reply = call_full (machine, "CreateCheckpoint",
                                          g_variant_new ("(s@a{sv})", name, g_variant_new ("a{sv}", NULL)),
                                          NULL, &error);
  char *checkpoint;

  g_assert_no_error (error);
  g_variant_get (reply, "(o)", &checkpoint);
  return checkpoint;
}

static char *
dest_property_string (MoveFixture *f, const char *path, const char *iface, const char *property)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GVariant) reply = g_dbus_connection_call_sync (
      f->dest_connection, BUS_NAME, path, "org.freedesktop.DBus.Properties", "Get",
      g_variant_new ("(ss)", iface, property), G_VARIANT_TYPE ("(v)"), G_DBUS_CALL_FLAGS_NONE,
      CALL_TIMEOUT_MS, NULL, &error);
  g_autoptr (GVariant) value = NULL;

  g_assert_no_error (error);
  g_variant_get (reply, "(v)", &value);
  return g_variant_is_of_type (value, G_VARIANT_TYPE_STRING)
                 || g_variant_is_of_type (value, G_VARIANT_TYPE_OBJECT_PATH)
             ? g_variant_dup_string (value, NULL)
             : NULL;
}

static void
test_with_checkpoints (MoveFixture *f)
{
  g_autofree char *path = move_fixture_make_machine (f, "keeper");
  g_autoptr (VireoDBusMachine) machine = machine_proxy (&f->service, path);
  g_autoptr (VireoHost) source = source_host (f, path);
  g_autofree char *uri = move_fixture_dest_uri (f);
  g_autoptr (VireoHost) dest = move_fixture_connect_host (f, uri);
  g_autoptr (VireoMove) move = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) snapshots = NULL;
  g_auto (GStrv) paths = NULL, copies = NULL, notes = NULL, report = NULL;
  g_autofree char *first = NULL, *second = NULL, *made = NULL, *current = NULL, *name = NULL;
  g_autofree char *first_there = NULL, *scratch = g_build_filename (f->dir, "scratch", NULL);

  /* Checkpoints need qcow2: the raw disk goes first. */
  call_ok (machine, "DetachDisk", g_variant_new ("(sb)", "vdb", TRUE));
  paths = move_fixture_source_disk_paths (f, path);
  g_assert_cmpuint (g_strv_length (paths), ==, 1);
  disk_write_pattern (paths[0], 0x11);
  first = take_checkpoint (machine, "first");
  disk_write_pattern (paths[0], 0x22);
  second = take_checkpoint (machine, "second");
  disk_write_pattern (paths[0], 0x33);
  g_assert_cmpint (g_mkdir_with_parents (scratch, 0700), ==, 0);

  move = vireo_move_new (source, vireo_host_find_machine (source, path), G_OBJECT (dest));
  g_assert_cmpuint (vireo_move_count_checkpoints (source, vireo_host_find_machine (source, path)), ==, 2);
  vireo_move_set_include_checkpoints (move, TRUE);
  notes = check_move (move, &error);
  g_assert_no_error (error);
  g_assert_false (notes_say (notes, "checkpoints are not moved"));
  made = run_move (move, TRUE, NULL, &error);
  g_assert_no_error (error);
  report = vireo_move_get_report (move);
  for (char **line = report; *line; line++)
    test_say ("%s", *line);
  g_assert_cmpuint (g_strv_length (report), ==, 2);
  g_assert_true (g_str_has_prefix (report[1], "checkpoints: "));

  /* The image arrived with both snapshots, the tree with both checkpoints, Now below the second. */
  copies = move_fixture_dest_disk_paths (f, made);
  snapshots = disk_checkpoint_snapshots (copies[0]);
  g_assert_cmpuint (snapshots->len, ==, 2);
  current = dest_property_string (f, made, MACHINE_IFACE, "CurrentCheckpoint");
  g_assert_cmpstr (checkpoint_id (current), ==, checkpoint_id (second));
  first_there = g_strdup_printf ("%s/checkpoints/%s", made, checkpoint_id (first));
  name = dest_property_string (f, first_there, CHECKPOINT_IFACE, "Name");
  g_assert_cmpstr (name, ==, "first");
  g_assert_true (disk_holds_pattern (scratch, copies[0], NULL, 0x33));

  /* … and applying the first there gives the disk as it was then. */
  {
    g_autoptr (GVariant) applied = g_dbus_connection_call_sync (
        f->dest_connection, BUS_NAME, first_there, CHECKPOINT_IFACE, "Apply", g_variant_new ("(a{sv})", NULL),
        NULL, G_DBUS_CALL_FLAGS_NONE, CALL_TIMEOUT_MS, NULL, &error);
    g_assert_no_error (error);
  }
  g_assert_true (disk_holds_pattern (scratch, copies[0], NULL, 0x11));
}

/* ---- refusals ---- */

static void
test_refusals (MoveFixture *f)
{
  g_autofree char *path = move_fixture_make_machine (f, "stayer");
  g_autoptr (VireoHost) source = source_host (f, path);
  g_autofree char *uri = move_fixture_dest_uri (f);
  g_autoptr (VireoHost) dest = move_fixture_connect_host (f, uri);
  VireoDBusMachine *machine = vireo_host_find_machine (source, path);
  g_autoptr (VireoMove) to_itself = vireo_move_new (source, machine, G_OBJECT (source));
  g_autoptr (VireoMove) move = vireo_move_new (source, machine, G_OBJECT (dest));
  g_autoptr (GError) error = NULL;
  g_auto (GStrv) notes = NULL;

  notes = check_move (to_itself, &error);
  g_assert_null (notes);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);

  /* A machine of the same name there: the user renames one first. */
  {
    g_autoptr (GVariant) settings = g_variant_ref_sink (guest_settings ("stayer", "echo"));
    g_autoptr (GVariant) reply = call_full (f->dest_manager, "CreateMachine",
                                            g_variant_new_tuple (&settings, 1), NULL, &error);
    g_autofree char *other = NULL;

    g_assert_no_error (error);
    g_variant_get (reply, "(o)", &other);
    g_assert_true (vireo_test_wait_until (host_lists, &(Listed){ dest, other }, WAIT_SECONDS));
    notes = check_move (move, &error);
    g_assert_null (notes);
    g_assert_error (error, G_IO_ERROR, G_IO_ERROR_EXISTS);
    g_assert_nonnull (strstr (error->message, "stayer"));
    g_clear_error (&error);
  }

  /* A machine that runs cannot move: its disks change under the copy. */
  if (vireo_test_require_kvm ())
    {
      call_ok (machine, "Start", NULL);
      wait_for_state (machine, "running");
      notes = check_move (move, &error);
      g_assert_null (notes);
      g_assert_error (error, G_IO_ERROR, G_IO_ERROR_BUSY);
      g_assert_nonnull (strstr (error->message, "shut it down"));
      g_clear_error (&error);
      call_ok (machine, "TurnOff", NULL);
      wait_for_state (machine, "off");
    }
}

/* ---- cancelled half-way ---- */

static void
on_stage (VireoMove *move, GParamSpec *pspec, GCancellable *cancellable)
{
  if (g_str_has_prefix (vireo_move_get_stage (move), "Copying vdb"))
    g_cancellable_cancel (cancellable);
}

static void
test_cancel (MoveFixture *f)
{
  g_autofree char *path = move_fixture_make_machine (f, "homebody");
  g_autoptr (VireoHost) source = source_host (f, path);
  g_autofree char *uri = move_fixture_dest_uri (f);
  g_autoptr (VireoHost) dest = move_fixture_connect_host (f, uri);
  g_autoptr (VireoMove) move = vireo_move_new (source, vireo_host_find_machine (source, path),
                                               G_OBJECT (dest));
  g_autoptr (GCancellable) cancellable = g_cancellable_new ();
  g_autoptr (GError) error = NULL;
  g_auto (GStrv) paths = NULL, hashes = source_hashes (f, path, &paths);
  g_autofree char *made = NULL;
  g_autofree char *listing = NULL;

  /* Cancelled while the second disk is on its way: the first is there already. */
  g_signal_connect (move, "notify::stage", G_CALLBACK (on_stage), cancellable);
  made = run_move (move, TRUE, cancellable, &error);
  g_assert_null (made);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);

  /* Nothing is left at the destination, and the source is as it was. */
  g_assert_cmpuint (dest_machine_count (f), ==, 0);
  listing = folder_listing (f->dest_storage);
  test_say ("the destination's storage afterwards: %s", listing);
  {
    g_autoptr (GHashTable) machines = managed_machines (&f->service);
    g_assert_true (g_hash_table_contains (machines, path));
  }
  for (guint i = 0; paths[i]; i++)
    {
      g_autofree char *hash = move_fixture_sha256 (paths[i], NULL);
      g_assert_cmpstr (hash, ==, hashes[i]);
    }
}

/* ---- to libvirt ---- */

static gboolean
libvirt_available (gpointer data)
{
  return vireo_libvirt_host_get_available (data);
}

static void
test_to_libvirt (MoveFixture *f)
{
  VireoTestLibvirtd libvirtd = { NULL };
  g_autofree char *path = NULL;
  g_autoptr (VireoHost) source = NULL;
  g_autoptr (VireoLibvirtHost) dest = NULL;
  g_autoptr (VireoMove) move = NULL;
  g_autoptr (GError) error = NULL;
  g_auto (GStrv) paths = NULL, hashes = NULL, notes = NULL;
  g_autofree char *made = NULL, *uuid = NULL, *xml = NULL;

  /* Under the test's folder: a failed test's daemon ends with it. */
  if (!vireo_test_libvirtd_start_in (&libvirtd, f->dir))
    return;
  vireo_test_libvirtd_add_pool (&libvirtd, "default");
  path = move_fixture_make_machine (f, "emigrant");
  source = source_host (f, path);
  hashes = source_hashes (f, path, &paths);
  uuid = vireo_dbus_machine_dup_uuid (vireo_host_find_machine (source, path));
  dest = vireo_libvirt_host_new (libvirtd.uri);
  g_assert_true (vireo_test_wait_until (libvirt_available, dest, WAIT_SECONDS));

  move = vireo_move_new (source, vireo_host_find_machine (source, path), G_OBJECT (dest));
  notes = check_move (move, &error);
  g_assert_no_error (error);
  for (char **note = notes; *note; note++)
    test_say ("note: %s", *note);
  g_assert_true (notes_say (notes, "storage pool “default”"));
  g_assert_true (notes_say (notes, "do not apply under libvirt"));

  /* A copy: the machine stays here as well. */
  made = run_move (move, FALSE, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (made, ==, uuid);

  xml = vireo_test_virsh (&libvirtd, "dumpxml", "emigrant", NULL);
  g_assert_nonnull (xml);
  for (guint i = 0; i < 2; i++)
    {
      const char *target = i == 0 ? "vda" : "vdb";
      g_autofree char *volume = g_strdup_printf ("emigrant-%s.%s", target, i == 0 ? "qcow2" : "img");
      g_autofree char *volume_path = vireo_test_virsh (&libvirtd, "vol-path", "--pool", "default", volume,
                                                       NULL);
      g_autofree char *hash = NULL;

      g_assert_nonnull (volume_path);
      hash = move_fixture_sha256 (volume_path, NULL);
      g_assert_cmpstr (hash, ==, hashes[i]);
      g_assert_nonnull (strstr (xml, volume_path));
      g_assert_true (
          move_fixture_disk_holds (volume_path, i == 0 ? "qcow2" : "raw",
                                   i == 0 ? move_fixture_vda_patterns : move_fixture_vdb_patterns));
    }
  /* The NIC is libvirt's user-mode network; the empty drive stays empty. */
  g_assert_nonnull (strstr (xml, "<interface type='user'>"));
  {
    g_autoptr (GHashTable) machines = managed_machines (&f->service);
    g_assert_true (g_hash_table_contains (machines, path));
  }

  /* Moving it again finds it there. */
  g_strfreev (notes);
  notes = check_move (move, &error);
  g_assert_null (notes);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_EXISTS);

  g_clear_object (&dest);
  vireo_test_libvirtd_stop (&libvirtd);
}

static const MoveTest tests[] = {
  { "/move/to-vireo", test_to_vireo },     { "/move/with-checkpoints", test_with_checkpoints },
  { "/move/refusals", test_refusals },     { "/move/cancel", test_cancel },
  { "/move/to-libvirt", test_to_libvirt },
};

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  for (gsize i = 0; i < G_N_ELEMENTS (tests); i++)
    g_test_add_data_func (tests[i].path, &tests[i], run_move_test);
  return g_test_run ();
}
