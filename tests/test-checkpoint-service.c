/* test-checkpoint-service.c — checkpoints through the real vireod (suite service): the tree a machine's
 * checkpoints form (create, apply, delete of a leaf, a middle node, a root and a subtree, rename,
 * export) as the object manager lists it and as tree.ini keeps it across restarts; the qcow2 snapshots
 * `vireo-<id>` on the disks, judged by qemu-img; the disks' content through the boot-counter guest and
 * the memory's through the mem-counter guest; and the errors a caller gets.  The tests of an off machine's
 * tree are test-checkpoint-service-tree.c, those of guests test-checkpoint-service-guests.c; the helpers
 * they share, recovery after a crash, and the list of tests are here.
 *
 * The checkpoint objects are called with plain D-Bus calls (no generated proxy) and read through
 * GetManagedObjects, as a script would.  The "-system" variants run vireod --system (as root), whose
 * qemu-img runs as the owner of the machine's files. */
#include "test-checkpoint-service.h"
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

char *
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
GVariant *
checkpoint_call (Fixture *f, const char *path, const char *method, GVariant *parameters, GError **error)
{
  return bus_call (f, path, CHECKPOINT_IFACE, method, parameters, error);
}

void
checkpoint_call_ok (Fixture *f, const char *path, const char *method, GVariant *parameters)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GVariant) reply = checkpoint_call (f, path, method, parameters, &error);

  if (error)
    g_test_message ("%s on %s failed: %s", method, path, error->message);
  g_assert_no_error (error);
}

void
checkpoint_call_expect_error (Fixture *f, const char *path, const char *method, GVariant *parameters,
                              const char *name, const char *culprit)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GVariant) reply = checkpoint_call (f, path, method, parameters, &error);

  g_assert_null (reply);
  assert_dbus_error (error, name, culprit);
}

void
apply (Fixture *f, const char *path, gboolean start)
{
  checkpoint_call_ok (f, path, "Apply", g_variant_new_parsed ("({'start': <%b>},)", start));
}

void
delete_checkpoint (Fixture *f, const char *path, gboolean subtree)
{
  checkpoint_call_ok (f, path, "Delete", g_variant_new ("(b)", subtree));
}

/* The checkpoints vireod lists for @machine, as path → their properties. */
GHashTable *
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
GVariant *
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

char *
checkpoint_string (Fixture *f, const char *path, const char *property)
{
  g_autoptr (GVariant) value = checkpoint_property (f, path, property);
  return g_variant_dup_string (value, NULL);
}

gboolean
checkpoint_boolean (Fixture *f, const char *path, const char *property)
{
  g_autoptr (GVariant) value = checkpoint_property (f, path, property);
  return g_variant_get_boolean (value);
}

void
assert_current (Fixture *f, VireoDBusMachine *machine, const char *expected)
{
  g_autofree char *current = current_checkpoint_of (f, machine_path (machine));
  g_assert_cmpstr (current, ==, expected);
}

void
assert_parent (Fixture *f, const char *path, const char *expected)
{
  g_autofree char *parent = checkpoint_string (f, path, "Parent");
  g_assert_cmpstr (parent, ==, expected);
}

/* ---- disks, judged by qemu-img ---- */

gboolean
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
void
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
void
assert_now_pattern (Fixture *f, const char *image, guint byte)
{
  g_assert_true (disk_holds_pattern (f->base, image, NULL, byte));
}

/* The first PATTERN_LENGTH of the snapshot of checkpoint @path on @image hold @byte (read through
 * `qemu-img convert -l snapshot.name=vireo-<id>`, as Export copies it). */
void
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
VireoDBusMachine *
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

VireoDBusMachine *
create_machine_with_disk (Fixture *f, const char *name, const char *guest, char **image)
{
  return create_machine_with_format (f, name, guest, "qcow2", image);
}

/* ---- recovery ---- */

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
