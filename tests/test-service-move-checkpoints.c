/* test-service-move-checkpoints.c — the service's side of moving a machine with its checkpoints: the
 * source's checkpoints read as one archive (OpenCheckpointArchive), its qcow2 image copied whole, and a
 * second machine receiving both (ReceiveCheckpointArchive, FinishCheckpointArchive) with the same tree,
 * an Apply that works there, and every refusal: hostile archives, a machine with checkpoints, one busy. */
#include "service-fixture.h"
#include "test-util.h"

#include <errno.h>
#include <fcntl.h>
#include <gio/gunixfdlist.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#define MAGIC     "VIREOCKP1\n"
#define MAGIC_LEN 10
#define MIB       (1024 * 1024)

/* ---- calls ---- */

static int
call_for_fd (VireoDBusMachine *machine, const char *method, GVariant *parameters, GError **error)
{
  g_autoptr (GUnixFDList) fds = NULL;
  g_autoptr (GVariant) reply = call_full (machine, method, parameters, &fds, error);

  if (reply == NULL)
    return -1;
  g_assert_nonnull (fds);
  return g_unix_fd_list_get (fds, 0, error);
}

static int
call_for_fd_ok (VireoDBusMachine *machine, const char *method, GVariant *parameters)
{
  g_autoptr (GError) error = NULL;
  int fd = call_for_fd (machine, method, parameters, &error);

  g_assert_no_error (error);
  g_assert_cmpint (fd, >=, 0);
  return fd;
}

static GByteArray *
read_all (int fd)
{
  GByteArray *bytes = g_byte_array_new ();
  guint8 buffer[65536];
  ssize_t n;

  while ((n = read (fd, buffer, sizeof buffer)) > 0 || (n < 0 && errno == EINTR))
    if (n > 0)
      g_byte_array_append (bytes, buffer, (guint) n);
  g_assert_cmpint (n, ==, 0);
  return bytes;
}

/* Writes as much of @data as the reader takes (it may stop reading a refused archive). */
static void
write_some (int fd, const guint8 *data, gsize length)
{
  while (length > 0)
    {
      ssize_t n = write (fd, data, length);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        return;
      data += n;
      length -= (gsize) n;
    }
}

/* ReceiveCheckpointArchive, @data written and the pipe closed, then FinishCheckpointArchive: its reply, or
 * NULL with @error. */
static GVariant *
send_archive (VireoDBusMachine *machine, const guint8 *data, gsize length, GError **error)
{
  int fd = call_for_fd_ok (machine, "ReceiveCheckpointArchive", NULL);

  write_some (fd, data, length);
  close (fd);
  return call_full (machine, "FinishCheckpointArchive", NULL, NULL, error);
}

static char *
create_checkpoint (VireoDBusMachine *machine, const char *name, const char *kind)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GVariant) reply = call_full (
      machine, "CreateCheckpoint", g_variant_new_parsed ("(%s, {'kind': <%s>})", name, kind), NULL, &error);
  char *path;

  g_assert_no_error (error);
  g_variant_get (reply, "(o)", &path);
  return path;
}

/* The checkpoints vireod lists for @machine as id → "name|parent id|kind|has-state". */
static GHashTable *
checkpoint_facts (Fixture *f, VireoDBusMachine *machine)
{
  g_autoptr (GHashTable) all = managed_objects (f, "org.vireo.Vireo1.Checkpoint");
  GHashTable *facts = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  GHashTableIter iter;
  gpointer key, value;

  g_hash_table_iter_init (&iter, all);
  while (g_hash_table_iter_next (&iter, &key, &value))
    {
      const char *owner, *name, *parent, *kind;
      gboolean has_state;

      g_assert_true (g_variant_lookup (value, "Machine", "&o", &owner));
      if (strcmp (owner, machine_path (machine)) != 0)
        continue;
      g_assert_true (g_variant_lookup (value, "Name", "&s", &name));
      g_assert_true (g_variant_lookup (value, "Parent", "&o", &parent));
      g_assert_true (g_variant_lookup (value, "Kind", "&s", &kind));
      g_assert_true (g_variant_lookup (value, "HasState", "b", &has_state));
      g_hash_table_insert (facts, g_strdup (checkpoint_id (key)),
                           g_strdup_printf ("%s|%s|%s|%d", name,
                                            strcmp (parent, "/") == 0 ? "" : checkpoint_id (parent), kind,
                                            has_state));
    }
  return facts;
}

static void
assert_same_checkpoints (Fixture *f, VireoDBusMachine *source, VireoDBusMachine *dest)
{
  g_autoptr (GHashTable) from = checkpoint_facts (f, source);
  g_autoptr (GHashTable) to = checkpoint_facts (f, dest);
  g_autofree char *current_from = current_checkpoint_of (f, machine_path (source));
  g_autofree char *current_to = current_checkpoint_of (f, machine_path (dest));
  GHashTableIter iter;
  gpointer key, value;

  g_assert_cmpuint (g_hash_table_size (to), ==, g_hash_table_size (from));
  g_hash_table_iter_init (&iter, from);
  while (g_hash_table_iter_next (&iter, &key, &value))
    {
      test_say ("checkpoint %s moved: %s", (char *) key, (char *) value);
      g_assert_cmpstr (g_hash_table_lookup (to, key), ==, value);
    }
  g_assert_cmpstr (strcmp (current_from, "/") == 0 ? "" : checkpoint_id (current_from), ==,
                   strcmp (current_to, "/") == 0 ? "" : checkpoint_id (current_to));
}

/* The image of @machine's first disk, as its settings name it. */
static char *
first_disk_path (VireoDBusMachine *machine)
{
  g_autoptr (GVariant) settings = vireo_dbus_machine_dup_settings (machine);
  g_autoptr (GVariant) disks = g_variant_lookup_value (settings, "disks", G_VARIANT_TYPE ("aa{sv}"));
  g_autoptr (GVariant) disk = g_variant_get_child_value (disks, 0);
  char *path = NULL;

  g_assert_true (g_variant_lookup (disk, "path", "s", &path));
  return path;
}

/* @source's disk vda copied byte for byte into a new disk of @dest's folder with the same file name,
 * received without dropping its snapshots. */
static char *
copy_disk_whole (VireoDBusMachine *source, VireoDBusMachine *dest, const char *image)
{
  g_autofree char *name = g_path_get_basename (image);
  g_autofree char *target = call_for_target (
      dest, "ReceiveDisk", g_variant_new_parsed ("({'format': <'qcow2'>}, {'name': <%s>})", name));
  int in = call_for_fd_ok (source, "OpenDiskImage", g_variant_new ("(s)", "vda"));
  int out = call_for_fd_ok (dest, "OpenReceivedDisk", g_variant_new ("(s)", target));
  g_autoptr (GByteArray) bytes = read_all (in);
  g_autoptr (GVariant) reply = NULL;
  g_autoptr (GError) error = NULL;

  write_some (out, bytes->data, bytes->len);
  close (in);
  close (out);
  reply = call_full (dest, "FinishReceivedDisk", g_variant_new_parsed ("(%s, @a{sv} {})", target), NULL,
                     &error);
  g_assert_no_error (error);
  return first_disk_path (dest);
}

/* ---- the move ---- */

/* A production checkpoint of the machine off, then a standard one of it saved (with state); the archive
 * goes to a second machine holding a copy of the image, which then has the same tree and can apply it. */
static void
test_move_checkpoints (Fixture *f)
{
  g_autoptr (VireoDBusMachine) source = create_guest (f, "with-checkpoints", "echo");
  g_autoptr (VireoDBusMachine) dest = create_guest (f, "moved-here", "echo");
  g_autoptr (GString) seen = g_string_new (NULL);
  g_autoptr (GByteArray) archive = NULL;
  g_autoptr (GVariant) reply = NULL;
  g_autoptr (GVariant) created = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *image = NULL;
  g_autofree char *received = NULL;
  g_autofree char *older = NULL;
  g_autofree char *saved = NULL;
  g_autofree char *sha = NULL;
  g_autofree char *received_sha = NULL;
  g_autofree char *dest_folder = machine_folder (f, dest);
  g_autofree char *incoming = g_build_filename (dest_folder, "checkpoints.incoming", NULL);
  g_autofree char *applied_path = NULL;
  guint64 size;
  int fd;

  if (!vireo_test_require_programs ((const char *const[]){ "qemu-img", "qemu-io", NULL }))
    return;
  created = call_full (source, "CreateDisk", g_variant_new_parsed ("(uint64 1048576, {'format': <'qcow2'>})"),
                       NULL, &error);
  g_assert_no_error (error);
  image = first_disk_path (source);
  disk_write_pattern (image, 0x11);
  older = create_checkpoint (source, "off, production", "production");
  disk_write_pattern (image, 0x22);
  fd = start_and_wait_for (source, "echo ready", seen);
  call_ok (source, "Save", NULL);
  close (fd);
  saved = create_checkpoint (source, "saved, standard", "standard");
  /* The saved state is not moved: the machine is moved off. */
  call_ok (source, "Start", NULL);
  call_ok (source, "TurnOff", NULL);
  disk_write_pattern (image, 0x33);

  /* While the archive is being written (its reader not reading), the tree stays as it is. */
  fd = call_for_fd_ok (source, "OpenCheckpointArchive", NULL);
  call_expect_error (source, "CreateCheckpoint", g_variant_new_parsed ("('later', @a{sv} {})"),
                     "org.vireo.Vireo1.Error.InvalidState", "being read");
  archive = read_all (fd);
  close (fd);
  g_assert_cmpuint (archive->len, >, MAGIC_LEN);
  g_assert_cmpmem (archive->data, MAGIC_LEN, MAGIC, MAGIC_LEN);
  sha = g_compute_checksum_for_data (G_CHECKSUM_SHA256, archive->data, archive->len);

  received = copy_disk_whole (source, dest, image);
  reply = send_archive (dest, archive->data, archive->len, &error);
  g_assert_no_error (error);
  g_variant_get (reply, "(ts)", &size, &received_sha);
  g_assert_cmpuint (size, ==, archive->len);
  g_assert_cmpstr (received_sha, ==, sha);
  g_assert_false (g_file_test (incoming, G_FILE_TEST_EXISTS));
  assert_same_checkpoints (f, source, dest);

  /* The older checkpoint applies on the second machine: its disk holds what it held then. */
  applied_path = g_strconcat (machine_path (dest), "/checkpoints/", checkpoint_id (older), NULL);
  g_clear_pointer (&reply, g_variant_unref);
  reply = bus_call (f, applied_path, "org.vireo.Vireo1.Checkpoint", "Apply",
                    g_variant_new_parsed ("({'start': <false>},)"), &error);
  g_assert_no_error (error);
  g_assert_true (disk_holds_pattern (f->base, received, NULL, 0x11));
  g_assert_true (disk_holds_pattern (f->base, image, NULL, 0x33));
  {
    g_autofree char *current = current_checkpoint_of (f, machine_path (dest));
    g_assert_cmpstr (current, ==, applied_path);
  }

  /* Once it has checkpoints, a machine receives no more. */
  call_expect_error (dest, "ReceiveCheckpointArchive", NULL, "org.vireo.Vireo1.Error.InvalidState",
                     "has checkpoints already");
  (void) saved;
}

/* ---- hostile archives ---- */

static void
put_entry (GByteArray *archive, const char *name, guint64 size, const char *data)
{
  guint16 length = GUINT16_TO_BE ((guint16) strlen (name));
  guint64 size_be = GUINT64_TO_BE (size);

  g_byte_array_append (archive, (const guint8 *) &length, sizeof length);
  g_byte_array_append (archive, (const guint8 *) name, (guint) strlen (name));
  g_byte_array_append (archive, (const guint8 *) &size_be, sizeof size_be);
  if (data != NULL)
    g_byte_array_append (archive, (const guint8 *) data, (guint) size);
}

static void
put_end (GByteArray *archive)
{
  guint16 end = 0;
  g_byte_array_append (archive, (const guint8 *) &end, sizeof end);
}

static GByteArray *
archive_with_tree (const char *tree)
{
  GByteArray *archive = g_byte_array_new ();

  g_byte_array_append (archive, (const guint8 *) MAGIC, MAGIC_LEN);
  put_entry (archive, "tree.ini", strlen (tree), tree);
  return archive;
}

/* @archive refused with Failed naming @culprit, leaving @machine without checkpoints or their folders. */
static void
assert_refused (Fixture *f, VireoDBusMachine *machine, GByteArray *archive, const char *culprit)
{
  g_autofree char *folder = machine_folder (f, machine);
  g_autofree char *incoming = g_build_filename (folder, "checkpoints.incoming", NULL);
  g_autofree char *checkpoints = g_build_filename (folder, "checkpoints", NULL);
  g_autoptr (GHashTable) facts = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (GVariant) reply = send_archive (machine, archive->data, archive->len, &error);

  g_assert_null (reply);
  test_say ("refused: %s", error->message);
  assert_dbus_error (error, "org.vireo.Vireo1.Error.Failed", culprit);
  g_assert_false (g_file_test (incoming, G_FILE_TEST_EXISTS));
  g_assert_false (g_file_test (checkpoints, G_FILE_TEST_EXISTS));
  facts = checkpoint_facts (f, machine);
  g_assert_cmpuint (g_hash_table_size (facts), ==, 0);
}

static void
test_move_checkpoints_refused (Fixture *f)
{
  g_autoptr (VireoDBusMachine) dest = create_guest (f, "hostile-target", "echo");
  g_autoptr (VireoDBusMachine) busy = create_guest (f, "with-one", "echo");
  GByteArray *archive;
  g_autofree char *big = g_malloc0 (2 * MIB);
  g_autofree char *checkpoint = NULL;
  const char *tree = "[tree]\ncurrent=0123456789abcdef\n\n[checkpoint 0123456789abcdef]\nname=one\n"
                     "parent=\nkind=production\nhas-state=false\n";
  PendingCall pending = { NULL };
  int fd;

  signal (SIGPIPE, SIG_IGN);
  if (!vireo_test_require_programs ((const char *const[]){ "qemu-img", NULL }))
    return;

  /* Not the magic. */
  archive = g_byte_array_new ();
  g_byte_array_append (archive, (const guint8 *) "VIREOCKP2\n", MAGIC_LEN);
  put_end (archive);
  assert_refused (f, dest, archive, "magic");
  g_byte_array_unref (archive);

  /* A name reaching out of the folder. */
  archive = archive_with_tree ("[tree]\ncurrent=\n");
  put_entry (archive, "../x", 2, "hi");
  put_end (archive);
  assert_refused (f, dest, archive, "“../x”, a name not allowed");
  g_byte_array_unref (archive);

  /* tree.ini twice. */
  archive = archive_with_tree ("[tree]\ncurrent=\n");
  put_entry (archive, "tree.ini", 16, "[tree]\ncurrent=\n");
  put_end (archive);
  assert_refused (f, dest, archive, "twice");
  g_byte_array_unref (archive);

  /* A definition of 2 MiB. */
  archive = archive_with_tree (tree);
  put_entry (archive, "0123456789abcdef/definition.xml", 2 * MIB, big);
  put_end (archive);
  assert_refused (f, dest, archive, "over its limit");
  g_byte_array_unref (archive);

  /* Cut short inside an entry, and before the end marker. */
  archive = archive_with_tree (tree);
  put_entry (archive, "0123456789abcdef/definition.xml", 1000, NULL);
  g_byte_array_append (archive, (const guint8 *) "<domain", 7);
  assert_refused (f, dest, archive, "ended early");
  g_byte_array_unref (archive);
  archive = archive_with_tree (tree);
  assert_refused (f, dest, archive, "ended early");
  g_byte_array_unref (archive);

  /* A tree naming a checkpoint the archive does not hold; a definition that is not one. */
  archive = archive_with_tree (tree);
  put_end (archive);
  assert_refused (f, dest, archive, "0123456789abcdef");
  g_byte_array_unref (archive);
  archive = archive_with_tree (tree);
  put_entry (archive, "0123456789abcdef/definition.xml", 9, "<domain/>");
  put_end (archive);
  assert_refused (f, dest, archive, "not a machine definition");
  g_byte_array_unref (archive);

  /* One receive at a time; no Finish without a receive. */
  call_expect_error (dest, "FinishCheckpointArchive", NULL, "org.vireo.Vireo1.Error.InvalidState",
                     "no checkpoint archive");
  fd = call_for_fd_ok (dest, "ReceiveCheckpointArchive", NULL);
  call_expect_error (dest, "ReceiveCheckpointArchive", NULL, "org.vireo.Vireo1.Error.InvalidState",
                     "already");
  call_expect_error (dest, "Start", NULL, "org.vireo.Vireo1.Error.InvalidState", "receiving checkpoints");
  close (fd);
  {
    g_autoptr (GError) error = NULL;
    g_autoptr (GVariant) reply = call_full (dest, "FinishCheckpointArchive", NULL, NULL, &error);
    assert_dbus_error (error, "org.vireo.Vireo1.Error.Failed", "ended early");
  }

  /* A machine with checkpoints receives none; one with a checkpoint under way gives no archive. */
  /* Its disk makes the checkpoint's qemu-img step one that takes a while. */
  {
    g_autoptr (GError) error = NULL;
    g_autoptr (GVariant) reply = call_full (
        busy, "CreateDisk", g_variant_new_parsed ("(uint64 1048576, {'format': <'qcow2'>})"), NULL, &error);
    g_assert_no_error (error);
  }
  checkpoint = create_checkpoint (busy, "one", "production");
  call_expect_error (busy, "ReceiveCheckpointArchive", NULL, "org.vireo.Vireo1.Error.InvalidState",
                     "has checkpoints already");
  g_dbus_proxy_call (G_DBUS_PROXY (busy), "CreateCheckpoint", g_variant_new_parsed ("('two', @a{sv} {})"),
                     G_DBUS_CALL_FLAGS_NONE, -1, NULL, store_pending_call, &pending);
  call_expect_error (busy, "OpenCheckpointArchive", NULL, "org.vireo.Vireo1.Error.InvalidState", "under way");
  while (pending.result == NULL)
    g_main_context_iteration (NULL, TRUE);
  {
    g_autoptr (GError) error = NULL;
    g_autoptr (GVariant) reply = g_dbus_proxy_call_finish (G_DBUS_PROXY (busy), pending.result, &error);
    g_assert_no_error (error);
    g_object_unref (pending.result);
  }
}

static const ServiceTest move_checkpoint_tests[] = {
  { "/service-move/checkpoints", test_move_checkpoints, TRUE },
  { "/service-move/checkpoints-refused", test_move_checkpoints_refused, FALSE },
};

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  for (guint i = 0; i < G_N_ELEMENTS (move_checkpoint_tests); i++)
    g_test_add_data_func (move_checkpoint_tests[i].path, &move_checkpoint_tests[i], run_service_test);
  return g_test_run ();
}
