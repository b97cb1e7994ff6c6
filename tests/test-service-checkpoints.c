/* test-service-checkpoints.c — checkpoints of machines that are off or saved, in session and system mode, and
 * the recovery of an interrupted apply.  Checkpoints of running machines are in test-checkpoint-service.c. */
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
  for (guint i = 0; i < G_N_ELEMENTS (service_tests); i++)
    g_test_add_data_func (service_tests[i].path, &service_tests[i], run_service_test);
  return g_test_run ();
}
