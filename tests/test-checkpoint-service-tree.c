/* test-checkpoint-service-tree.c — checkpoints of an off machine through the real vireod: the tree as the
 * object manager lists it and as tree.ini keeps it across restarts (create, apply, delete of a leaf, a
 * middle node, a root and a subtree, rename), default names and Export, and the errors a caller gets. */
#include "test-checkpoint-service.h"

#include <string.h>

/* The tree of an off machine: each checkpoint's properties and disk snapshot, the current state ("Now")
 * moving with create and apply, the disk content of Now and of every checkpoint after each change,
 * deletes of a leaf, a middle node, a root and a subtree re-parenting what they should, rename, and all
 * of it again after a restart of vireod. */
void
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
void
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
void
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
