/* test-checkpoint-service.c — checkpoints through the real vireod (suite service): the tree a machine's
 * checkpoints form (create, apply, delete of a leaf, a middle node, a root and a subtree, rename,
 * export) as the object manager lists it and as tree.ini keeps it across restarts; the qcow2 snapshots
 * `vireo-<id>` on the disks, judged by qemu-img; the disks' content through the boot-counter guest and
 * the memory's through the mem-counter guest; and the errors a caller gets.
 *
 * The checkpoint objects are called with plain D-Bus calls (no generated proxy) and read through
 * GetManagedObjects, as a script would.  The "-system" variants run vireod --system (as root), whose
 * qemu-img runs as the owner of the machine's files. */
#include "service-fixture.h"
#include "test-util.h"

#include <errno.h>
#include <fcntl.h>
#include <gio/gunixsocketaddress.h>
#include <glib/gstdio.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---- checkpoints through D-Bus ---- */

/* CreateCheckpoint(@name, @options) on @machine: the new checkpoint's path, or NULL with @error. */
static char *
try_create_checkpoint (VireoDBusMachine *machine, const char *name, GVariant *options, GError **error)
{
  g_autoptr (GVariant) reply = NULL;
  char *path = NULL;

  if (options == NULL)
    options = g_variant_new ("a{sv}", NULL);
  reply = call_full (machine, "CreateCheckpoint", g_variant_new ("(s@a{sv})", name, options), NULL, error);
  if (reply)
    g_variant_get (reply, "(o)", &path);
  return path;
}

static char *
create_checkpoint (VireoDBusMachine *machine, const char *name, GVariant *options)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *prefix = g_strconcat (machine_path (machine), "/checkpoints/", NULL);
  char *path = try_create_checkpoint (machine, name, options, &error);

  if (error)
    g_test_message ("CreateCheckpoint (“%s”) failed: %s", name, error->message);
  g_assert_no_error (error);
  g_assert_true (g_str_has_prefix (path, prefix));
  return path;
}

/* A method of the checkpoint at @path; NULL with @error when it fails. */
static GVariant *
checkpoint_call (Fixture *f, const char *path, const char *method, GVariant *parameters, GError **error)
{
  return bus_call (f, path, CHECKPOINT_IFACE, method, parameters, error);
}

static void
checkpoint_call_ok (Fixture *f, const char *path, const char *method, GVariant *parameters)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GVariant) reply = checkpoint_call (f, path, method, parameters, &error);

  if (error)
    g_test_message ("%s on %s failed: %s", method, path, error->message);
  g_assert_no_error (error);
}

static void
checkpoint_call_expect_error (Fixture *f, const char *path, const char *method, GVariant *parameters,
                              const char *name, const char *culprit)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GVariant) reply = checkpoint_call (f, path, method, parameters, &error);

  g_assert_null (reply);
  assert_dbus_error (error, name, culprit);
}

static void
apply (Fixture *f, const char *path, gboolean start)
{
  checkpoint_call_ok (f, path, "Apply", g_variant_new_parsed ("({'start': <%b>},)", start));
}

static void
delete_checkpoint (Fixture *f, const char *path, gboolean subtree)
{
  checkpoint_call_ok (f, path, "Delete", g_variant_new ("(b)", subtree));
}

/* The checkpoints vireod lists for @machine, as path → their properties. */
static GHashTable *
checkpoints_of (Fixture *f, VireoDBusMachine *machine)
{
  GHashTable *all = managed_objects (f, CHECKPOINT_IFACE);
  GHashTableIter iter;
  gpointer key, value;

  g_hash_table_iter_init (&iter, all);
  while (g_hash_table_iter_next (&iter, &key, &value))
    {
      const char *owner = NULL;
      g_autofree char *prefix = g_strconcat (machine_path (machine), "/checkpoints/", NULL);

      g_assert_true (g_variant_lookup (value, "Machine", "&o", &owner));
      if (!g_str_equal (owner, machine_path (machine)))
        {
          g_assert_false (g_str_has_prefix (key, prefix));
          g_hash_table_iter_remove (&iter);
        }
      else
        g_assert_true (g_str_has_prefix (key, prefix));
    }
  return all;
}

/* One property of the checkpoint at @path as listed now; the checkpoint must be listed. */
static GVariant *
checkpoint_property (Fixture *f, const char *path, const char *property)
{
  g_autoptr (GHashTable) all = managed_objects (f, CHECKPOINT_IFACE);
  GVariant *properties = g_hash_table_lookup (all, path);
  GVariant *value;

  if (properties == NULL)
    g_test_message ("no checkpoint %s is listed", path);
  g_assert_nonnull (properties);
  value = g_variant_lookup_value (properties, property, NULL);
  g_assert_nonnull (value);
  return value;
}

static char *
checkpoint_string (Fixture *f, const char *path, const char *property)
{
  g_autoptr (GVariant) value = checkpoint_property (f, path, property);
  return g_variant_dup_string (value, NULL);
}

static gboolean
checkpoint_boolean (Fixture *f, const char *path, const char *property)
{
  g_autoptr (GVariant) value = checkpoint_property (f, path, property);
  return g_variant_get_boolean (value);
}

static void
assert_current (Fixture *f, VireoDBusMachine *machine, const char *expected)
{
  g_autofree char *current = current_checkpoint_of (f, machine_path (machine));
  g_assert_cmpstr (current, ==, expected);
}

static void
assert_parent (Fixture *f, const char *path, const char *expected)
{
  g_autofree char *parent = checkpoint_string (f, path, "Parent");
  g_assert_cmpstr (parent, ==, expected);
}

/* ---- disks, judged by qemu-img ---- */

static gboolean
require_qemu_img (void)
{
  return vireo_test_require_programs ((const char *const[]){ "qemu-img", "qemu-io", NULL });
}

static gint
compare_strings (gconstpointer a, gconstpointer b)
{
  return g_strcmp0 (*(const char *const *) a, *(const char *const *) b);
}

/* The internal snapshots of @image whose names start with "vireo-", sorted, as one string. */
static char *
disk_snapshots (const char *image)
{
  g_autoptr (GPtrArray) names = disk_checkpoint_snapshots (image);

  g_ptr_array_add (names, NULL);
  return g_strjoinv (" ", (char **) names->pdata);
}

/* The snapshot names the checkpoints @checkpoints (path → properties) must have on every writable disk. */
static char *
expected_snapshots (GHashTable *checkpoints)
{
  g_autoptr (GPtrArray) names = g_ptr_array_new_with_free_func (g_free);
  GHashTableIter iter;
  gpointer key;

  g_hash_table_iter_init (&iter, checkpoints);
  while (g_hash_table_iter_next (&iter, &key, NULL))
    g_ptr_array_add (names, g_strconcat ("vireo-", checkpoint_id (key), NULL));
  g_ptr_array_sort (names, compare_strings);
  g_ptr_array_add (names, NULL);
  return g_strjoinv (" ", (char **) names->pdata);
}

/* The checkpoints vireod lists for @machine are exactly the snapshots on @image (and every other writable
 * disk in the NULL-terminated rest), and exactly the folders under <machine folder>/checkpoints, each with
 * the definition it was taken with; the image is clean. */
static void
assert_tree_on_disk (Fixture *f, VireoDBusMachine *machine, const char *image, ...)
{
  g_autoptr (GHashTable) checkpoints = checkpoints_of (f, machine);
  g_autofree char *expected = expected_snapshots (checkpoints);
  g_autofree char *folder = machine_folder (f, machine);
  g_autofree char *checkpoints_dir = g_build_filename (folder, "checkpoints", NULL);
  g_autoptr (GDir) dir = g_dir_open (checkpoints_dir, 0, NULL);
  const char *entry;
  va_list disks;

  va_start (disks, image);
  for (const char *disk = image; disk; disk = va_arg (disks, const char *))
    {
      g_autofree char *found = disk_snapshots (disk);
      const char *check[] = { "qemu-img", "check", "-U", "-q", disk, NULL };

      if (!g_str_equal (found, expected))
        g_test_message ("%s holds the snapshots “%s”; the tree names “%s”", disk, found, expected);
      g_assert_cmpstr (found, ==, expected);
      run_ok (check);
    }
  va_end (disks);

  while (dir && (entry = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *path = g_strconcat (machine_path (machine), "/checkpoints/", entry, NULL);
      g_autofree char *definition = g_build_filename (checkpoints_dir, entry, "definition.xml", NULL);

      if (g_str_has_prefix (entry, "tree.ini"))
        continue;
      if (!g_hash_table_contains (checkpoints, path))
        g_test_message ("the folder %s/%s belongs to no checkpoint", checkpoints_dir, entry);
      g_assert_true (g_hash_table_contains (checkpoints, path));
      g_assert_true (g_file_test (definition, G_FILE_TEST_IS_REGULAR));
    }
  if (g_hash_table_size (checkpoints) > 0)
    {
      g_autofree char *tree = g_build_filename (checkpoints_dir, "tree.ini", NULL);
      g_assert_true (g_file_test (tree, G_FILE_TEST_IS_REGULAR));
    }
}

/* The first PATTERN_LENGTH of @image now hold @byte. */
static void
assert_now_pattern (Fixture *f, const char *image, guint byte)
{
  g_assert_true (disk_holds_pattern (f->base, image, NULL, byte));
}

/* The first PATTERN_LENGTH of the snapshot of checkpoint @path on @image hold @byte (read through
 * `qemu-img convert -l snapshot.name=vireo-<id>`, as Export copies it). */
static void
assert_snapshot_pattern (Fixture *f, const char *image, const char *path, guint byte)
{
  g_autofree char *snapshot = g_strconcat ("vireo-", checkpoint_id (path), NULL);
  g_assert_true (disk_holds_pattern (f->base, image, snapshot, byte));
}

/* The image of @machine's first disk, as its settings name it. */
static char *
first_disk_path (VireoDBusMachine *machine)
{
  g_autoptr (GVariant) settings = vireo_dbus_machine_dup_settings (machine);
  g_autoptr (GVariant) disks = g_variant_lookup_value (settings, "disks", G_VARIANT_TYPE ("aa{sv}"));
  g_autoptr (GVariant) disk = NULL;
  char *path = NULL;

  g_assert_nonnull (disks);
  g_assert_cmpuint (g_variant_n_children (disks), >=, 1);
  disk = g_variant_get_child_value (disks, 0);
  g_assert_true (g_variant_lookup (disk, "path", "s", &path));
  return path;
}

/* A machine of @guest with one new disk (CreateDisk) of 1 MiB in @format; *@image: its path. */
static VireoDBusMachine *
create_machine_with_format (Fixture *f, const char *name, const char *guest, const char *format, char **image)
{
  VireoDBusMachine *machine = create_guest (f, name, guest);
  g_autofree char *folder = machine_folder (f, machine);
  g_autoptr (GError) error = NULL;
  g_autoptr (GVariant) reply = call_full (machine, "CreateDisk",
                                          g_variant_new_parsed ("(uint64 1048576, {'format': <%s>})", format),
                                          NULL, &error);

  g_assert_no_error (error);
  *image = first_disk_path (machine);
  g_assert_true (g_str_has_prefix (*image, folder));
  g_assert_true (g_file_test (*image, G_FILE_TEST_IS_REGULAR));
  return machine;
}

static VireoDBusMachine *
create_machine_with_disk (Fixture *f, const char *name, const char *guest, char **image)
{
  return create_machine_with_format (f, name, guest, "qcow2", image);
}

/* ---- the tests ---- */

/* The tree of an off machine: each checkpoint's properties and disk snapshot, the current state ("Now")
 * moving with create and apply, the disk content of Now and of every checkpoint after each change,
 * deletes of a leaf, a middle node, a root and a subtree re-parenting what they should, rename, and all
 * of it again after a restart of vireod. */
static void
test_tree (Fixture *f)
{
  g_autofree char *image = NULL;
  g_autoptr (VireoDBusMachine) machine = create_machine_with_disk (f, "treelike", "echo", &image);
  g_autofree char *machine_at = g_strdup (machine_path (machine));
  g_autofree char *a = NULL, *b = NULL, *c = NULL, *d = NULL, *e = NULL, *g = NULL, *h = NULL;
  g_autofree char *name = NULL;
  g_autofree char *kind = NULL;
  g_autofree char *consistency = NULL;
  g_autofree char *owner = NULL;
  g_autoptr (GVariant) created = NULL;
  g_autoptr (GHashTable) before_restart = NULL;
  g_autoptr (GHashTable) after_restart = NULL;
  GHashTableIter iter;
  gpointer key, value;
  gint64 t0, t1;

  if (!require_qemu_img ())
    return;
  assert_current (f, machine, "/");
  assert_tree_on_disk (f, machine, image, NULL);

  /* A: a root, taken of the off machine: disks only, consistent by construction. */
  disk_write_pattern (image, 0xa1);
  t0 = g_get_real_time ();
  a = create_checkpoint (machine, "A", NULL);
  t1 = g_get_real_time ();
  name = checkpoint_string (f, a, "Name");
  kind = checkpoint_string (f, a, "Kind");
  consistency = checkpoint_string (f, a, "Consistency");
  owner = checkpoint_string (f, a, "Machine");
  created = checkpoint_property (f, a, "Created");
  g_assert_cmpstr (name, ==, "A");
  g_assert_cmpstr (kind, ==, "standard");
  g_assert_cmpstr (consistency, ==, "application");
  g_assert_cmpstr (owner, ==, machine_at);
  g_assert_false (checkpoint_boolean (f, a, "HasState"));
  /* Created: µs since the epoch, within the call (a second's slack for clocks that round). */
  g_assert_cmpint ((gint64) g_variant_get_uint64 (created), >=, t0 - G_USEC_PER_SEC);
  g_assert_cmpint ((gint64) g_variant_get_uint64 (created), <=, t1 + G_USEC_PER_SEC);
  assert_parent (f, a, "/");
  assert_current (f, machine, a);
  g_assert_cmpstr (vireo_dbus_machine_get_state (machine), ==, "off");
  assert_tree_on_disk (f, machine, image, NULL);

  /* A → B → C, Now under C. */
  disk_write_pattern (image, 0xb2);
  b = create_checkpoint (machine, "B", NULL);
  assert_parent (f, b, a);
  disk_write_pattern (image, 0xc3);
  c = create_checkpoint (machine, "C", NULL);
  assert_parent (f, c, b);
  assert_current (f, machine, c);
  disk_write_pattern (image, 0x0c);
  assert_tree_on_disk (f, machine, image, NULL);

  /* Apply A: Now is A's content again (what Now held is gone, as the caller asked), under A. */
  apply (f, a, FALSE);
  g_assert_cmpstr (vireo_dbus_machine_get_state (machine), ==, "off");
  assert_current (f, machine, a);
  assert_now_pattern (f, image, 0xa1);
  /* D: a second child of A. */
  disk_write_pattern (image, 0xd4);
  d = create_checkpoint (machine, "D", NULL);
  assert_parent (f, d, a);
  assert_current (f, machine, d);
  disk_write_pattern (image, 0x0d);
  for (guint round = 0; round < 2; round++)
    {
      assert_snapshot_pattern (f, image, a, 0xa1);
      assert_snapshot_pattern (f, image, b, 0xb2);
      assert_snapshot_pattern (f, image, c, 0xc3);
      assert_snapshot_pattern (f, image, d, 0xd4);
      assert_now_pattern (f, image, 0x0d);
      assert_tree_on_disk (f, machine, image, NULL);
      if (round == 0)
        {
          /* The same tree after a restart. */
          g_clear_object (&machine);
          before_restart = managed_objects (f, CHECKPOINT_IFACE);
          vireod_restart (f);
          machine = machine_proxy (f, machine_at);
          after_restart = managed_objects (f, CHECKPOINT_IFACE);
          g_assert_cmpuint (g_hash_table_size (after_restart), ==, g_hash_table_size (before_restart));
          g_hash_table_iter_init (&iter, before_restart);
          while (g_hash_table_iter_next (&iter, &key, &value))
            {
              GVariant *again = g_hash_table_lookup (after_restart, key);
              g_assert_nonnull (again);
              if (!g_variant_equal (value, again))
                {
                  g_autofree char *was = g_variant_print (value, TRUE);
                  g_autofree char *is = g_variant_print (again, TRUE);
                  g_test_message ("%s before the restart: %s\nafter: %s", (char *) key, was, is);
                }
              g_assert_true (g_variant_equal (value, again));
            }
          assert_current (f, machine, d);
        }
    }

  /* Rename, kept across a restart. */
  checkpoint_call_ok (f, b, "Rename", g_variant_new ("(s)", "Before the upgrade ☂"));
  g_clear_pointer (&name, g_free);
  name = checkpoint_string (f, b, "Name");
  g_assert_cmpstr (name, ==, "Before the upgrade ☂");

  /* Delete the leaf C: its snapshot goes, nothing else changes. */
  delete_checkpoint (f, c, FALSE);
  assert_tree_on_disk (f, machine, image, NULL);
  assert_parent (f, b, a);
  assert_current (f, machine, d);
  assert_snapshot_pattern (f, image, b, 0xb2);
  assert_now_pattern (f, image, 0x0d);
  /* A deleted checkpoint is no longer there to call. */
  {
    g_autoptr (GError) error = NULL;
    g_autoptr (GVariant) reply = checkpoint_call (f, c, "Apply", g_variant_new_parsed ("(@a{sv} {},)"),
                                                  &error);
    g_autofree char *remote = NULL;
    g_assert_null (reply);
    g_assert_nonnull (error);
    remote = g_dbus_error_get_remote_error (error);
    test_say ("Apply of a deleted checkpoint: %s", error->message);
    g_assert_true (g_strcmp0 (remote, ERROR_NAME ("NotFound")) == 0
                   || g_strcmp0 (remote, "org.freedesktop.DBus.Error.UnknownObject") == 0
                   || g_strcmp0 (remote, "org.freedesktop.DBus.Error.UnknownMethod") == 0
                   || g_strcmp0 (remote, "org.freedesktop.DBus.Error.UnknownInterface") == 0);
  }

  /* E under B (apply B, take E): A → B → E, A → D. */
  apply (f, b, FALSE);
  assert_now_pattern (f, image, 0xb2);
  disk_write_pattern (image, 0xe5);
  e = create_checkpoint (machine, "E", NULL);
  assert_parent (f, e, b);
  disk_write_pattern (image, 0x0e);

  /* Delete the middle node B: E hangs under A now and keeps every byte. */
  delete_checkpoint (f, b, FALSE);
  assert_parent (f, e, a);
  assert_current (f, machine, e);
  assert_snapshot_pattern (f, image, e, 0xe5);
  assert_snapshot_pattern (f, image, a, 0xa1);
  assert_snapshot_pattern (f, image, d, 0xd4);
  assert_now_pattern (f, image, 0x0e);
  assert_tree_on_disk (f, machine, image, NULL);

  /* Delete the root A: D and E become roots. */
  delete_checkpoint (f, a, FALSE);
  assert_parent (f, d, "/");
  assert_parent (f, e, "/");
  assert_current (f, machine, e);
  assert_snapshot_pattern (f, image, d, 0xd4);
  assert_snapshot_pattern (f, image, e, 0xe5);
  assert_now_pattern (f, image, 0x0e);
  assert_tree_on_disk (f, machine, image, NULL);

  /* A subtree under D: D → G → H, Now under H; delete D with its subtree: only E is left, and Now,
   * whose checkpoints are gone, derives from none. */
  apply (f, d, FALSE);
  disk_write_pattern (image, 0x67);
  g = create_checkpoint (machine, "G", NULL);
  disk_write_pattern (image, 0x68);
  h = create_checkpoint (machine, "H", NULL);
  assert_parent (f, h, g);
  assert_parent (f, g, d);
  disk_write_pattern (image, 0x0f);
  delete_checkpoint (f, d, TRUE);
  {
    g_autoptr (GHashTable) left = checkpoints_of (f, machine);
    g_assert_cmpuint (g_hash_table_size (left), ==, 1);
    g_assert_true (g_hash_table_contains (left, e));
  }
  assert_current (f, machine, "/");
  assert_snapshot_pattern (f, image, e, 0xe5);
  assert_now_pattern (f, image, 0x0f);
  assert_tree_on_disk (f, machine, image, NULL);

  /* And after one more restart. */
  g_clear_object (&machine);
  vireod_restart (f);
  machine = machine_proxy (f, machine_at);
  assert_current (f, machine, "/");
  g_clear_pointer (&name, g_free);
  name = checkpoint_string (f, e, "Name");
  g_assert_cmpstr (name, ==, "E");
  assert_tree_on_disk (f, machine, image, NULL);
  apply (f, e, FALSE);
  assert_now_pattern (f, image, 0xe5);
  assert_current (f, machine, e);

  /* "Take Checkpoint and Apply": Now is kept as a new checkpoint under E first, then E applied. */
  disk_write_pattern (image, 0x1e);
  checkpoint_call_ok (f, e, "Apply", g_variant_new_parsed ("({'checkpoint-current': <true>},)"));
  assert_now_pattern (f, image, 0xe5);
  assert_current (f, machine, e);
  {
    g_autoptr (GHashTable) now = checkpoints_of (f, machine);
    const char *kept = NULL;

    g_assert_cmpuint (g_hash_table_size (now), ==, 2);
    g_hash_table_iter_init (&iter, now);
    while (g_hash_table_iter_next (&iter, &key, NULL))
      if (!g_str_equal (key, e))
        kept = key;
    g_assert_nonnull (kept);
    assert_parent (f, kept, e);
    assert_snapshot_pattern (f, image, kept, 0x1e);
  }
  assert_tree_on_disk (f, machine, image, NULL);
}

/* The name "" gives "<machine name> - (YYYY-MM-DD - HH:MM:SS)", in local time; a production checkpoint
 * of an off machine is application-consistent too; Export makes a machine of a checkpoint's definition
 * and disk content, with a new identity and nothing of the original's checkpoints. */
static void
test_default_name_and_export (Fixture *f)
{
  g_autofree char *image = NULL;
  g_autoptr (VireoDBusMachine) machine = create_machine_with_disk (f, "Exporter", "echo", &image);
  g_autoptr (VireoDBusMachine) copy = NULL;
  g_autoptr (GDateTime) before = g_date_time_new_now_local ();
  g_autoptr (GDateTime) after = NULL;
  g_autofree char *path = NULL;
  g_autofree char *name = NULL;
  g_autofree char *kind = NULL;
  g_autofree char *consistency = NULL;
  g_autofree char *copy_at = NULL;
  g_autofree char *copy_folder = NULL;
  g_autofree char *copy_image = NULL;
  g_autoptr (GVariant) reply = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (GHashTable) checkpoints = NULL;
  gboolean name_fits = FALSE;

  if (!require_qemu_img ())
    return;
  disk_write_pattern (image, 0x5a);
  path = create_checkpoint (machine, "", g_variant_new_parsed ("{'kind': <'production'>}"));
  after = g_date_time_new_now_local ();
  name = checkpoint_string (f, path, "Name");
  kind = checkpoint_string (f, path, "Kind");
  consistency = checkpoint_string (f, path, "Consistency");
  test_say ("default name: %s", name);
  for (GDateTime *t = before; t; t = t == before ? after : NULL)
    {
      g_autofree char *stamp = g_date_time_format (t, "Exporter - (%Y-%m-%d - %H:%M:%S)");
      name_fits |= g_str_equal (stamp, name);
    }
  g_assert_true (name_fits);
  g_assert_cmpstr (kind, ==, "production");
  g_assert_cmpstr (consistency, ==, "application");
  g_assert_false (checkpoint_boolean (f, path, "HasState"));

  /* Now changes after the checkpoint: the export takes the checkpoint's content, not Now's. */
  disk_write_pattern (image, 0x77);
  reply = checkpoint_call (f, path, "Export", g_variant_new ("(s)", "Exported copy"), &error);
  g_assert_no_error (error);
  g_variant_get (reply, "(o)", &copy_at);
  g_assert_true (g_str_has_prefix (copy_at, ROOT_PATH "/machines/"));
  g_assert_cmpstr (copy_at, !=, machine_path (machine));
  copy = machine_proxy (f, copy_at);
  g_assert_cmpstr (vireo_dbus_machine_get_name (copy), ==, "Exported copy");
  g_assert_cmpstr (vireo_dbus_machine_get_uuid (copy), !=, vireo_dbus_machine_get_uuid (machine));
  g_assert_cmpstr (vireo_dbus_machine_get_state (copy), ==, "off");
  g_assert_cmpuint (vireo_dbus_machine_get_memory_mib (copy), ==,
                    vireo_dbus_machine_get_memory_mib (machine));
  copy_folder = machine_folder (f, copy);
  copy_image = g_build_filename (copy_folder, "vda.qcow2", NULL);
  {
    g_autoptr (GVariant) settings = vireo_dbus_machine_dup_settings (copy);
    g_autoptr (GVariant) disks = g_variant_lookup_value (settings, "disks", G_VARIANT_TYPE ("aa{sv}"));
    g_autoptr (GVariant) disk = NULL;
    const char *disk_path = NULL;

    g_assert_nonnull (disks);
    g_assert_cmpuint (g_variant_n_children (disks), ==, 1);
    disk = g_variant_get_child_value (disks, 0);
    g_assert_true (g_variant_lookup (disk, "path", "&s", &disk_path));
    g_test_message ("the exported disk: %s", disk_path);
    g_assert_true (g_str_has_prefix (disk_path, copy_folder));
    g_free (copy_image);
    copy_image = g_strdup (disk_path);
  }
  assert_now_pattern (f, copy_image, 0x5a);
  assert_now_pattern (f, image, 0x77);
  checkpoints = checkpoints_of (f, copy);
  g_assert_cmpuint (g_hash_table_size (checkpoints), ==, 0);
  assert_current (f, copy, "/");
  assert_tree_on_disk (f, copy, copy_image, NULL);
  assert_tree_on_disk (f, machine, image, NULL);

  /* A second machine of that name is refused, as CreateMachine refuses it. */
  checkpoint_call_expect_error (f, path, "Export", g_variant_new ("(s)", "Exported copy"),
                                ERROR_NAME ("Exists"), "Exported copy");

  /* The two are independent: the copy's disk changes nothing of the original's checkpoint. */
  disk_write_pattern (copy_image, 0x99);
  assert_snapshot_pattern (f, image, path, 0x5a);

  /* The export outlives a restart like any machine. */
  g_clear_object (&copy);
  vireod_restart (f);
  copy = machine_proxy (f, copy_at);
  g_assert_cmpstr (vireo_dbus_machine_get_name (copy), ==, "Exported copy");
}

/* What the service refuses: bad names and kinds, a writable raw disk (with the reason, and converted
 * with the caller's consent), and a second operation while one is under way. */
static void
test_errors (Fixture *f)
{
  g_autofree char *image = NULL;
  g_autoptr (VireoDBusMachine) machine = create_machine_with_disk (f, "refuser", "echo", &image);
  g_autoptr (VireoDBusMachine) raw_machine = NULL;
  g_autofree char *long_name = g_strnfill (101, 'x');
  g_autofree char *longest_name = g_strnfill (100, 'y');
  g_autofree char *a = NULL;
  g_autofree char *longest = NULL;
  g_autofree char *raw_image = NULL;
  g_autofree char *raw_before = NULL;
  g_autofree char *raw_after = NULL;
  g_autofree char *converted = NULL;
  g_autofree char *raw_folder = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (GHashTable) checkpoints = NULL;
  gsize raw_before_length, raw_after_length;
  PendingCall pending[3] = { 0 };
  guint refused = 0;

  if (!require_qemu_img ())
    return;
  call_expect_error (machine, "CreateCheckpoint",
                     g_variant_new ("(s@a{sv})", long_name, g_variant_new ("a{sv}", NULL)),
                     ERROR_NAME ("InvalidArgument"), NULL);
  call_expect_error (machine, "CreateCheckpoint", g_variant_new_parsed ("('x', {'kind': <'weird'>})"),
                     ERROR_NAME ("InvalidArgument"), "kind");
  call_expect_error (machine, "CreateCheckpoint", g_variant_new_parsed ("('x', {'kind': <uint32 1>})"),
                     ERROR_NAME ("InvalidArgument"), "kind");
  /* Nothing was made by the refusals. */
  checkpoints = checkpoints_of (f, machine);
  g_assert_cmpuint (g_hash_table_size (checkpoints), ==, 0);
  assert_tree_on_disk (f, machine, image, NULL);
  assert_current (f, machine, "/");

  longest = create_checkpoint (machine, longest_name, NULL);
  a = create_checkpoint (machine, "A", NULL);
  checkpoint_call_expect_error (f, a, "Rename", g_variant_new ("(s)", ""), ERROR_NAME ("InvalidArgument"),
                                NULL);
  checkpoint_call_expect_error (f, a, "Rename", g_variant_new ("(s)", long_name),
                                ERROR_NAME ("InvalidArgument"), NULL);
  {
    g_autofree char *name = checkpoint_string (f, a, "Name");
    g_assert_cmpstr (name, ==, "A");
  }

  /* Two creates and a delete sent at once: one operation at a time, the others refused, never
   * interleaved. */
  g_dbus_proxy_call (G_DBUS_PROXY (machine), "CreateCheckpoint", g_variant_new_parsed ("('one', @a{sv} {})"),
                     G_DBUS_CALL_FLAGS_NONE, CALL_TIMEOUT_MS, NULL, store_pending_call, &pending[0]);
  g_dbus_proxy_call (G_DBUS_PROXY (machine), "CreateCheckpoint", g_variant_new_parsed ("('two', @a{sv} {})"),
                     G_DBUS_CALL_FLAGS_NONE, CALL_TIMEOUT_MS, NULL, store_pending_call, &pending[1]);
  g_dbus_connection_call (f->connection, BUS_NAME, longest, CHECKPOINT_IFACE, "Delete",
                          g_variant_new ("(b)", FALSE), NULL, G_DBUS_CALL_FLAGS_NONE, CALL_TIMEOUT_MS, NULL,
                          store_pending_call, &pending[2]);
  while (!pending[0].result || !pending[1].result || !pending[2].result)
    g_main_context_iteration (NULL, TRUE);
  for (guint i = 0; i < 3; i++)
    {
      g_autoptr (GError) call_error = NULL;
      g_autoptr (GVariant) reply = NULL;

      if (i < 2)
        reply = g_dbus_proxy_call_finish (G_DBUS_PROXY (machine), pending[i].result, &call_error);
      else
        reply = g_dbus_connection_call_finish (f->connection, pending[i].result, &call_error);
      g_clear_object (&pending[i].result);
      test_say ("call %u of three at once: %s", i, call_error ? call_error->message : "done");
      if (call_error)
        {
          assert_dbus_error (call_error, ERROR_NAME ("InvalidState"), NULL);
          refused++;
        }
    }
  g_assert_cmpuint (refused, >=, 1);
  g_assert_cmpuint (refused, <=, 2);
  assert_tree_on_disk (f, machine, image, NULL);

  /* A writable raw disk: refused, saying which disk and what to do; nothing changes. */
  raw_machine = create_machine_with_format (f, "rawish", "echo", "raw", &raw_image);
  raw_folder = machine_folder (f, raw_machine);
  {
    const char *argv[] = { "qemu-io", "-f", "raw", "-c", "write -P 0x3c 0 " PATTERN_LENGTH, raw_image, NULL };
    run_ok (argv);
  }
  g_assert_true (g_file_get_contents (raw_image, &raw_before, &raw_before_length, NULL));
  {
    g_autoptr (GVariant) reply = call_full (raw_machine, "CreateCheckpoint",
                                            g_variant_new_parsed ("('r', @a{sv} {})"), NULL, &error);
    g_assert_null (reply);
    g_assert_nonnull (error);
    test_say ("a raw disk: %s", error->message);
    assert_dbus_error (error, ERROR_NAME ("NotSupported"), "vda");
    g_assert_nonnull (strstr (error->message, "raw"));
    g_assert_nonnull (strstr (error->message, "convert-raw"));
    g_clear_error (&error);
  }
  checkpoints = (g_hash_table_unref (checkpoints), checkpoints_of (f, raw_machine));
  g_assert_cmpuint (g_hash_table_size (checkpoints), ==, 0);
  assert_current (f, raw_machine, "/");

  /* With the caller's consent: converted to qcow2 beside it, the definition pointing at the copy, the raw
   * file kept as it was. */
  converted = create_checkpoint (raw_machine, "converted", g_variant_new_parsed ("{'convert-raw': <true>}"));
  {
    g_autoptr (GVariant) settings = vireo_dbus_machine_dup_settings (raw_machine);
    g_autoptr (GVariant) disks = g_variant_lookup_value (settings, "disks", G_VARIANT_TYPE ("aa{sv}"));
    g_autoptr (GVariant) disk = g_variant_get_child_value (disks, 0);
    const char *path = NULL, *format = NULL;

    g_assert_true (g_variant_lookup (disk, "path", "&s", &path));
    g_assert_true (g_variant_lookup (disk, "format", "&s", &format));
    test_say ("the converted disk: %s (%s)", path, format);
    g_assert_cmpstr (format, ==, "qcow2");
    g_assert_cmpstr (path, !=, raw_image);
    g_assert_true (g_str_has_prefix (path, raw_folder));
    assert_tree_on_disk (f, raw_machine, path, NULL);
    assert_snapshot_pattern (f, path, converted, 0x3c);
    assert_now_pattern (f, path, 0x3c);
  }
  g_assert_true (g_file_get_contents (raw_image, &raw_after, &raw_after_length, NULL));
  g_assert_cmpmem (raw_before, raw_before_length, raw_after, raw_after_length);

  /* A read-only raw disk is left alone: the checkpoint is taken of the rest. */
  {
    g_autofree char *readonly_raw = g_build_filename (f->base, "readonly.raw", NULL);
    g_autoptr (VireoDBusMachine) mixed = NULL;
    g_autofree char *mixed_image = NULL;
    g_autofree char *checkpoint = NULL;
    g_autoptr (GVariant) reply = NULL;
    g_autoptr (GVariant) settings = NULL;
    g_autoptr (GVariant) disks = NULL;
    g_autoptr (GVariantBuilder) builder = g_variant_builder_new (G_VARIANT_TYPE ("aa{sv}"));
    GVariantIter iter;
    GVariant *disk;

    g_assert_true (g_file_set_contents (readonly_raw, raw_before, (gssize) raw_before_length, NULL));
    mixed = create_machine_with_disk (f, "mixed", "echo", &mixed_image);
    settings = vireo_dbus_machine_dup_settings (mixed);
    disks = g_variant_lookup_value (settings, "disks", G_VARIANT_TYPE ("aa{sv}"));
    g_variant_iter_init (&iter, disks);
    while ((disk = g_variant_iter_next_value (&iter)))
      {
        g_variant_builder_add_value (builder, disk);
        g_variant_unref (disk);
      }
    g_variant_builder_add_parsed (builder, "{'path': <%s>, 'format': <'raw'>, 'readonly': <true>}",
                                  readonly_raw);
    reply = call_full (mixed, "Update",
                       g_variant_new_parsed ("({'disks': %v},)", g_variant_builder_end (builder)), NULL,
                       &error);
    g_assert_no_error (error);
    checkpoint = create_checkpoint (mixed, "with a read-only raw disk", NULL);
    assert_tree_on_disk (f, mixed, mixed_image, NULL);
    g_clear_pointer (&raw_after, g_free);
    g_assert_true (g_file_get_contents (readonly_raw, &raw_after, &raw_after_length, NULL));
    g_assert_cmpmem (raw_before, raw_before_length, raw_after, raw_after_length);
  }
}

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
static void
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
static void
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
static void
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
static void
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
static void
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
static void
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

/* Sets QCOW_OFLAG_COPIED on the first allocated L2 entry of the qcow2 image @image: on a cluster a
 * snapshot shares (refcount 2) that is the damage a snapshot step killed halfway leaves, which would let
 * the next write change the snapshot's data in place. */
static void
set_copied_flag (const char *image)
{
  int fd = open (image, O_RDWR | O_CLOEXEC);
  guint8 header[48], entry[8];
  guint32 cluster_bits, l1_size;
  guint64 l1_offset, l2_offset = 0, l2_entry = 0, at = 0;

  g_assert_cmpint (fd, >=, 0);
  g_assert_cmpint (pread (fd, header, sizeof header, 0), ==, sizeof header);
  cluster_bits = GUINT32_FROM_BE (*(guint32 *) (header + 20));
  l1_size = GUINT32_FROM_BE (*(guint32 *) (header + 36));
  l1_offset = GUINT64_FROM_BE (*(guint64 *) (header + 40));
  for (guint32 i = 0; i < l1_size && l2_offset == 0; i++)
    {
      g_assert_cmpint (pread (fd, entry, 8, l1_offset + i * 8), ==, 8);
      l2_offset = GUINT64_FROM_BE (*(guint64 *) entry) & 0x00fffffffffffe00ull;
    }
  g_assert_cmpuint (l2_offset, !=, 0);
  for (guint64 e = 0; e < (1ull << cluster_bits) / 8 && l2_entry == 0; e++)
    {
      g_assert_cmpint (pread (fd, entry, 8, l2_offset + e * 8), ==, 8);
      l2_entry = GUINT64_FROM_BE (*(guint64 *) entry);
      at = l2_offset + e * 8;
    }
  g_assert_cmpuint (l2_entry & 0x00fffffffffffe00ull, !=, 0);
  l2_entry = GUINT64_TO_BE (l2_entry | (1ull << 63));
  g_assert_cmpint (pwrite (fd, &l2_entry, 8, at), ==, 8);
  close (fd);
}

/* The exit status of `qemu-img check -U @image`: 0 clean, 2 corrupt, 3 leaks only. */
static int
image_check_status (const char *image)
{
  const char *check[] = { "qemu-img", "check", "-U", image, NULL };
  int status = -1;

  g_assert_true (g_spawn_sync (NULL, (char **) check, NULL,
                               G_SPAWN_SEARCH_PATH | G_SPAWN_STDOUT_TO_DEV_NULL | G_SPAWN_STDERR_TO_DEV_NULL,
                               NULL, NULL, NULL, NULL, &status, NULL));
  return WIFEXITED (status) ? WEXITSTATUS (status) : -1;
}

/* The journal's doomed list in tree.ini ("" when none). */
static char *
journal_doomed (Fixture *f, VireoDBusMachine *machine)
{
  g_autofree char *folder = machine_folder (f, machine);
  g_autofree char *path = g_build_filename (folder, "checkpoints", "tree.ini", NULL);
  g_autoptr (GKeyFile) file = g_key_file_new ();
  char *doomed = NULL;

  if (g_key_file_load_from_file (file, path, G_KEY_FILE_NONE, NULL))
    doomed = g_key_file_get_string (file, "tree", "doomed", NULL);
  return doomed ? doomed : g_strdup ("");
}

/* Waits (up to 15 s) until @machine's journal has no doomed ids and @image no snapshot but @expected. */
static void
wait_for_recovery (Fixture *f, VireoDBusMachine *machine, const char *image, const char *expected)
{
  gint64 deadline = g_get_monotonic_time () + 15 * G_USEC_PER_SEC;

  while (TRUE)
    {
      g_autofree char *doomed = journal_doomed (f, machine);
      g_autofree char *found = disk_snapshots (image);

      if ((*doomed == '\0' && g_str_equal (found, expected)) || g_get_monotonic_time () > deadline)
        {
          if (*doomed != '\0' || !g_str_equal (found, expected))
            g_test_message ("the journal still dooms “%s”, the disk holds “%s”", doomed, found);
          g_assert_cmpstr (doomed, ==, "");
          g_assert_cmpstr (found, ==, expected);
          return;
        }
      g_main_context_iteration (NULL, FALSE);
      g_usleep (20000);
    }
}

/* What recovery at load finishes, as a crash leaves it: an image a snapshot step was killed on (an
 * OFLAG_COPIED error) is repaired before the journal's work is done; an untracked snapshot goes although
 * a killed worker left its socket; an image a dying process still holds is tried again. */
static void
test_recovery (Fixture *f)
{
  g_autofree char *image = NULL;
  g_autoptr (VireoDBusMachine) machine = create_machine_with_disk (f, "recovering", "echo", &image);
  g_autofree char *machine_at = g_strdup (machine_path (machine));
  g_autofree char *folder = machine_folder (f, machine);
  g_autofree char *tree = g_build_filename (folder, "checkpoints", "tree.ini", NULL);
  g_autofree char *socket_path = NULL;
  g_autofree char *keep = NULL, *expected = NULL;
  g_autoptr (GKeyFile) file = g_key_file_new ();
  g_autoptr (GSubprocess) holder = NULL;
  g_autoptr (GError) error = NULL;

  if (!require_qemu_img ())
    return;
  vireod_stop (f);
  disk_write_pattern (image, 0x5a);
  vireod_start (f);
  g_clear_object (&machine);
  machine = machine_proxy (f, machine_at);
  keep = create_checkpoint (machine, "keep", NULL);
  expected = g_strconcat ("vireo-", checkpoint_id (keep), NULL);

  /* A delete interrupted after its journal entry, on an image with a wrong COPIED flag. */
  vireod_stop (f);
  set_copied_flag (image);
  g_assert_cmpint (image_check_status (image), ==, 2);
  g_assert_true (g_key_file_load_from_file (file, tree, G_KEY_FILE_KEEP_COMMENTS, &error));
  g_key_file_set_string (file, "tree", "doomed", "00000000000000aa;");
  g_assert_true (g_key_file_save_to_file (file, tree, &error));
  vireod_start (f);
  g_clear_object (&machine);
  machine = machine_proxy (f, machine_at);
  wait_for_recovery (f, machine, image, expected);
  g_assert_cmpint (image_check_status (image), ==, 0);
  assert_snapshot_pattern (f, image, keep, 0x5a);
  assert_now_pattern (f, image, 0x5a);

  /* An untracked snapshot, the socket of a killed worker, and the image locked for a moment. */
  vireod_stop (f);
  {
    const char *create[] = { "qemu-img", "snapshot", "-c", "vireo-0123456789abcdef", image, NULL };
    g_autoptr (GSocketAddress) address = NULL;
    g_autoptr (GSocket) socket = NULL;
    g_autofree char *workers = g_build_filename (f->runtime_dir, "vireo", "workers", NULL);
    g_autofree char *uuid = g_strdup (vireo_dbus_machine_get_uuid (machine));

    run_ok (create);
    g_assert_cmpint (g_mkdir_with_parents (workers, 0700), ==, 0);
    socket_path = g_strdup_printf ("%s/%s.sock", workers, uuid);
    address = g_unix_socket_address_new (socket_path);
    socket = g_socket_new (G_SOCKET_FAMILY_UNIX, G_SOCKET_TYPE_STREAM, 0, &error);
    g_assert_no_error (error);
    g_assert_true (g_socket_bind (socket, address, FALSE, &error));
    g_socket_close (socket, NULL);
  }
  holder = g_subprocess_new (G_SUBPROCESS_FLAGS_STDOUT_SILENCE, &error, "qemu-io", "-c", "sleep 2000", image,
                             NULL);
  g_assert_no_error (error);
  g_usleep (300000);
  vireod_start (f);
  g_clear_object (&machine);
  machine = machine_proxy (f, machine_at);
  wait_for_recovery (f, machine, image, expected);
  g_assert_true (g_subprocess_wait (holder, NULL, NULL));
  assert_tree_on_disk (f, machine, image, NULL);
  assert_snapshot_pattern (f, image, keep, 0x5a);
}

static const ServiceTest checkpoint_tests[] = {
  { "/checkpoint/tree", test_tree, FALSE },
  { "/checkpoint/tree-system", test_tree, FALSE, TRUE },
  { "/checkpoint/default-name-export", test_default_name_and_export, FALSE },
  { "/checkpoint/errors", test_errors, FALSE },
  { "/checkpoint/errors-system", test_errors, FALSE, TRUE },
  { "/checkpoint/recovery", test_recovery, FALSE },
  { "/checkpoint/saved", test_saved, TRUE },
  { "/checkpoint/running", test_running, TRUE },
  { "/checkpoint/settings", test_settings, TRUE },
  { "/checkpoint/production-agent", test_production_agent, TRUE },
  { "/checkpoint/boot-counter", test_boot_counter, TRUE },
  { "/checkpoint/boot-counter-system", test_boot_counter, TRUE, TRUE },
  { "/checkpoint/mem-counter", test_mem_counter, TRUE },
};

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  for (guint i = 0; i < G_N_ELEMENTS (checkpoint_tests); i++)
    g_test_add_data_func (checkpoint_tests[i].path, &checkpoint_tests[i], run_service_test);
  return g_test_run ();
}
