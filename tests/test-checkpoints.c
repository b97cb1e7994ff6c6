/* test-checkpoints.c — the checkpoint tree store (service/checkpoints.c) on a temporary folder: saving and
 * loading, the tree's semantics (create under Now, delete of a leaf, a middle, a root and a subtree),
 * damaged files, and what a crash at each point of create, apply and delete leaves for the next load. */
#include "test-util.h"
#include "checkpoints.h"
#include "vireo-error.h"

#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct
{
  char *machine_dir;
  char *dir; /* <machine_dir>/checkpoints */
} Fixture;

static void
remove_tree (const char *path)
{
  g_autoptr (GDir) dir = g_dir_open (path, 0, NULL);
  const char *name;

  while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *child = g_build_filename (path, name, NULL);
      struct stat st;

      g_assert_cmpint (lstat (child, &st), ==, 0);
      if (S_ISDIR (st.st_mode))
        remove_tree (child);
      else
        g_assert_cmpint (unlink (child), ==, 0);
    }
  if (dir != NULL)
    g_assert_cmpint (rmdir (path), ==, 0);
}

static void
fixture_set_up (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;

  f->machine_dir = g_dir_make_tmp ("vireo-checkpoints-XXXXXX", &error);
  g_assert_no_error (error);
  f->dir = g_build_filename (f->machine_dir, "checkpoints", NULL);
}

static void
fixture_tear_down (Fixture *f, gconstpointer data)
{
  remove_tree (f->machine_dir);
  g_free (f->machine_dir);
  g_free (f->dir);
}

static VireoCheckpointTree *
load (Fixture *f)
{
  g_autoptr (GError) error = NULL;
  VireoCheckpointTree *tree = vireo_checkpoint_tree_load (f->machine_dir, &error);

  g_assert_no_error (error);
  g_assert_nonnull (tree);
  return tree;
}

static void
save (VireoCheckpointTree *tree)
{
  g_autoptr (GError) error = NULL;

  g_assert_true (vireo_checkpoint_tree_save (tree, &error));
  g_assert_no_error (error);
}

/* Creates a checkpoint as vireod does (folder, then tree) and returns its id. */
static char *
create (VireoCheckpointTree *tree, const char *name)
{
  char *id = vireo_checkpoint_tree_new_id (tree);
  g_autofree char *folder = vireo_checkpoint_tree_folder (tree, id);
  g_autofree char *definition = g_build_filename (folder, "definition.xml", NULL);

  g_assert_true (vireo_checkpoint_id_is_valid (id));
  g_assert_cmpint (g_mkdir_with_parents (folder, 0700), ==, 0);
  g_assert_true (g_file_set_contents (definition, "<domain/>", -1, NULL));
  vireo_checkpoint_tree_add (tree, vireo_checkpoint_new (id, name, "standard"));
  save (tree);
  return id;
}

static const char *
parent_of (VireoCheckpointTree *tree, const char *id)
{
  VireoCheckpoint *checkpoint = vireo_checkpoint_tree_find (tree, id);
  g_assert_nonnull (checkpoint);
  return checkpoint->parent;
}

static void
test_empty (Fixture *f, gconstpointer data)
{
  g_autoptr (VireoCheckpointTree) tree = load (f);

  g_assert_cmpuint (tree->nodes->len, ==, 0);
  g_assert_cmpstr (tree->current, ==, "");
  g_assert_cmpstr (tree->applying, ==, "");
  /* Nothing to clean in a folder that does not exist. */
  g_assert_true (vireo_checkpoint_tree_remove_strays (tree, NULL));
}

static void
test_round_trip (Fixture *f, gconstpointer data)
{
  g_autoptr (VireoCheckpointTree) tree = load (f);
  g_autoptr (VireoCheckpointTree) again = NULL;
  g_autofree char *a = create (tree, "Before the upgrade");
  g_autofree char *b = NULL;
  VireoCheckpoint *checkpoint;
  struct stat st;

  b = create (tree, "After — ünïcode");
  checkpoint = vireo_checkpoint_tree_find (tree, b);
  checkpoint->has_state = TRUE;
  g_free (checkpoint->consistency);
  checkpoint->consistency = g_strdup ("crash");
  g_free (checkpoint->kind);
  checkpoint->kind = g_strdup ("production");
  checkpoint->created = 1234567890123456;
  save (tree);

  again = load (f);
  g_assert_cmpuint (again->nodes->len, ==, 2);
  g_assert_cmpstr (again->current, ==, b);
  g_assert_cmpstr (parent_of (again, a), ==, "");
  g_assert_cmpstr (parent_of (again, b), ==, a);
  checkpoint = vireo_checkpoint_tree_find (again, b);
  g_assert_cmpstr (checkpoint->name, ==, "After — ünïcode");
  g_assert_true (checkpoint->has_state);
  g_assert_cmpstr (checkpoint->consistency, ==, "crash");
  g_assert_cmpstr (checkpoint->kind, ==, "production");
  g_assert_cmpint (checkpoint->created, ==, 1234567890123456);
  g_assert_cmpstr (vireo_checkpoint_tree_find (again, a)->name, ==, "Before the upgrade");

  /* Private, and no temporary file left behind. */
  g_assert_cmpint (stat (f->dir, &st), ==, 0);
  g_assert_cmpint (st.st_mode & 0777, ==, 0700);
  {
    g_autofree char *temp = g_build_filename (f->dir, "tree.ini.tmp", NULL);
    g_assert_false (g_file_test (temp, G_FILE_TEST_EXISTS));
  }
}

/*   a ─ b ─ c ─ Now        delete b (a middle): c hangs below a, Now stays below c
 *        └ d */
static void
test_delete_middle (Fixture *f, gconstpointer data)
{
  g_autoptr (VireoCheckpointTree) tree = load (f);
  g_autofree char *a = create (tree, "a");
  g_autofree char *b = create (tree, "b");
  g_autofree char *c = create (tree, "c");
  g_autofree char *d = NULL;
  g_autoptr (GPtrArray) removed = NULL;
  g_autoptr (GPtrArray) children = NULL;

  vireo_checkpoint_tree_set_current (tree, b);
  d = create (tree, "d");
  vireo_checkpoint_tree_set_current (tree, c);
  removed = vireo_checkpoint_tree_remove (tree, b, FALSE);
  g_assert_cmpuint (removed->len, ==, 1);
  g_assert_cmpstr (g_ptr_array_index (removed, 0), ==, b);
  g_assert_null (vireo_checkpoint_tree_find (tree, b));
  g_assert_cmpstr (parent_of (tree, c), ==, a);
  g_assert_cmpstr (parent_of (tree, d), ==, a);
  g_assert_cmpstr (tree->current, ==, c);
  children = vireo_checkpoint_tree_children (tree, a);
  g_assert_cmpuint (children->len, ==, 2);
  /* The deleted one's disk snapshots and folder still have to go: the journal says so. */
  g_assert_cmpuint (tree->doomed->len, ==, 1);
  g_assert_cmpstr (g_ptr_array_index (tree->doomed, 0), ==, b);
}

static void
test_delete_leaf_with_now (Fixture *f, gconstpointer data)
{
  g_autoptr (VireoCheckpointTree) tree = load (f);
  g_autofree char *a = create (tree, "a");
  g_autofree char *b = create (tree, "b");
  g_autoptr (GPtrArray) removed = vireo_checkpoint_tree_remove (tree, b, FALSE);

  g_assert_nonnull (removed);
  g_assert_cmpstr (tree->current, ==, a);
  g_assert_null (vireo_checkpoint_tree_remove (tree, "0123456789abcdef", FALSE));
}

static void
test_delete_root (Fixture *f, gconstpointer data)
{
  g_autoptr (VireoCheckpointTree) tree = load (f);
  g_autofree char *a = create (tree, "a");
  g_autofree char *b = create (tree, "b");
  g_autofree char *c = NULL;
  g_autoptr (GPtrArray) removed = NULL;
  g_autoptr (GPtrArray) roots = NULL;

  vireo_checkpoint_tree_set_current (tree, a);
  c = create (tree, "c");
  vireo_checkpoint_tree_set_current (tree, a);
  removed = vireo_checkpoint_tree_remove (tree, a, FALSE);
  g_assert_cmpuint (removed->len, ==, 1);
  /* Both children become roots; Now, which hung below the root, hangs below nothing. */
  g_assert_cmpstr (parent_of (tree, b), ==, "");
  g_assert_cmpstr (parent_of (tree, c), ==, "");
  g_assert_cmpstr (tree->current, ==, "");
  roots = vireo_checkpoint_tree_children (tree, "");
  g_assert_cmpuint (roots->len, ==, 2);
}

static void
test_delete_subtree (Fixture *f, gconstpointer data)
{
  g_autoptr (VireoCheckpointTree) tree = load (f);
  g_autofree char *a = create (tree, "a");
  g_autofree char *b = create (tree, "b");
  g_autofree char *c = create (tree, "c");
  g_autofree char *d = NULL;
  g_autoptr (GPtrArray) removed = NULL;

  vireo_checkpoint_tree_set_current (tree, a);
  d = create (tree, "d"); /* a ─ b ─ c;  a ─ d ─ Now */
  vireo_checkpoint_tree_set_current (tree, c);
  removed = vireo_checkpoint_tree_remove (tree, b, TRUE);
  g_assert_cmpuint (removed->len, ==, 2);
  g_assert_null (vireo_checkpoint_tree_find (tree, b));
  g_assert_null (vireo_checkpoint_tree_find (tree, c));
  g_assert_nonnull (vireo_checkpoint_tree_find (tree, d));
  g_assert_cmpstr (tree->current, ==, a);
  g_assert_cmpuint (tree->doomed->len, ==, 2);

  /* After the folders go, the journal forgets them, and a reload agrees. */
  for (guint i = 0; i < removed->len; i++)
    {
      g_assert_true (vireo_checkpoint_tree_remove_folder (tree, g_ptr_array_index (removed, i), NULL));
      vireo_checkpoint_tree_forget_doomed (tree, g_ptr_array_index (removed, i));
    }
  save (tree);
  {
    g_autoptr (VireoCheckpointTree) again = load (f);
    g_autofree char *folder = vireo_checkpoint_tree_folder (again, c);
    g_assert_cmpuint (again->nodes->len, ==, 2);
    g_assert_cmpuint (again->doomed->len, ==, 0);
    g_assert_false (g_file_test (folder, G_FILE_TEST_EXISTS));
  }
}

static void
test_names (Fixture *f, gconstpointer data)
{
  g_autofree char *long_name = g_strnfill (101, 'x');
  g_autofree char *longest = g_strnfill (100, 'x');
  g_autoptr (GError) error = NULL;

  g_assert_true (vireo_checkpoint_check_name ("Before the upgrade", NULL));
  g_assert_true (vireo_checkpoint_check_name (longest, NULL));
  g_assert_false (vireo_checkpoint_check_name ("", &error));
  g_assert_error (error, VIREO_ERROR, VIREO_ERROR_INVALID_ARGUMENT);
  g_assert_false (vireo_checkpoint_check_name (long_name, NULL));
  g_assert_false (vireo_checkpoint_check_name ("two\nlines", NULL));
  g_assert_false (vireo_checkpoint_check_name ("\xff", NULL));
  g_assert_true (vireo_checkpoint_id_is_valid ("0123456789abcdef"));
  g_assert_false (vireo_checkpoint_id_is_valid ("0123456789ABCDEF"));
  g_assert_false (vireo_checkpoint_id_is_valid ("0123456789abcde"));
  g_assert_false (vireo_checkpoint_id_is_valid ("../../../etc/pa"));
}

/* A damaged tree.ini keeps what can be kept: unknown parents make roots, a loop is broken, an unknown
 * current is none, and groups that are no checkpoints are ignored. */
static void
test_damaged (Fixture *f, gconstpointer data)
{
  g_autofree char *path = g_build_filename (f->dir, "tree.ini", NULL);
  g_autoptr (VireoCheckpointTree) tree = NULL;
  const char *text = "[tree]\ncurrent=ffffffffffffffff\ndoomed=nothex;aaaaaaaaaaaaaaaa\n"
                     "[checkpoint 1111111111111111]\nname=one\nparent=2222222222222222\n"
                     "[checkpoint 2222222222222222]\nname=two\nparent=1111111111111111\n"
                     "[checkpoint 3333333333333333]\nname=\nparent=9999999999999999\nkind=odd\n"
                     "[checkpoint ../evil]\nname=evil\n[other]\nx=1\n";

  g_assert_cmpint (g_mkdir_with_parents (f->dir, 0700), ==, 0);
  g_assert_true (g_file_set_contents (path, text, -1, NULL));
  tree = load (f);
  g_assert_cmpuint (tree->nodes->len, ==, 3);
  g_assert_cmpstr (tree->current, ==, "");
  g_assert_cmpstr (parent_of (tree, "3333333333333333"), ==, "");
  g_assert_cmpstr (vireo_checkpoint_tree_find (tree, "3333333333333333")->kind, ==, "standard");
  g_assert_cmpstr (vireo_checkpoint_tree_find (tree, "3333333333333333")->name, ==, "3333333333333333");
  /* The loop is broken somewhere: at least one of the two is a root. */
  g_assert_true (strcmp (parent_of (tree, "1111111111111111"), "") == 0
                 || strcmp (parent_of (tree, "2222222222222222"), "") == 0);
  g_assert_cmpuint (tree->doomed->len, ==, 1);

  /* Unreadable: an error, not an empty tree that would forget every checkpoint. */
  g_assert_true (g_file_set_contents (path, "[tree\n\x01", -1, NULL));
  {
    g_autoptr (GError) error = NULL;
    g_autoptr (VireoCheckpointTree) broken = vireo_checkpoint_tree_load (f->machine_dir, &error);
    g_assert_null (broken);
    g_assert_error (error, VIREO_ERROR, VIREO_ERROR_FAILED);
  }
}

static void
make_folder (Fixture *f, const char *name)
{
  g_autofree char *folder = g_build_filename (f->dir, name, NULL);
  g_autofree char *file = g_build_filename (folder, "definition.xml", NULL);

  g_assert_cmpint (g_mkdir_with_parents (folder, 0700), ==, 0);
  g_assert_true (g_file_set_contents (file, "<domain/>", -1, NULL));
}

static gboolean
exists (Fixture *f, const char *name)
{
  g_autofree char *path = g_build_filename (f->dir, name, NULL);
  return g_file_test (path, G_FILE_TEST_EXISTS);
}

/* Create, killed before its folder was renamed (a), after (b), or before tree.ini forgot it as doomed
 * (c: the tree names it, so it counts): the next load removes what the tree does not name. */
static void
test_crash_during_create (Fixture *f, gconstpointer data)
{
  g_autoptr (VireoCheckpointTree) tree = load (f);
  g_autofree char *kept = create (tree, "kept");
  g_autoptr (VireoCheckpointTree) again = NULL;

  /* The journal is written before the disk snapshots are taken. */
  vireo_checkpoint_tree_doom (tree, "aaaaaaaaaaaaaaaa");
  vireo_checkpoint_tree_doom (tree, "bbbbbbbbbbbbbbbb");
  save (tree);
  make_folder (f, "aaaaaaaaaaaaaaaa.tmp");
  make_folder (f, "bbbbbbbbbbbbbbbb");
  {
    g_autofree char *temp = g_build_filename (f->dir, "tree.ini.tmp", NULL);
    g_assert_true (g_file_set_contents (temp, "x", -1, NULL));
  }

  again = load (f);
  g_assert_cmpuint (again->nodes->len, ==, 1);
  g_assert_cmpstr (again->current, ==, kept);
  /* Their disk snapshots are for the caller to remove: the journal names them. */
  g_assert_cmpuint (again->doomed->len, ==, 2);
  /* Their folders stay until their snapshots are gone: their definitions say where those are. */
  make_folder (f, "cccccccccccccccc.tmp");
  g_assert_true (vireo_checkpoint_tree_remove_strays (again, NULL));
  g_assert_true (exists (f, "aaaaaaaaaaaaaaaa.tmp"));
  g_assert_true (exists (f, "bbbbbbbbbbbbbbbb"));
  g_assert_false (exists (f, "cccccccccccccccc.tmp"));
  g_assert_false (exists (f, "tree.ini.tmp"));
  g_assert_true (exists (f, kept));
  g_assert_true (exists (f, "tree.ini"));
  /* Once they are gone, the folders go with the ids. */
  g_assert_true (vireo_checkpoint_tree_remove_folder (again, "aaaaaaaaaaaaaaaa", NULL));
  vireo_checkpoint_tree_forget_doomed (again, "aaaaaaaaaaaaaaaa");
  vireo_checkpoint_tree_forget_doomed (again, "bbbbbbbbbbbbbbbb");
  g_assert_true (vireo_checkpoint_tree_remove_strays (again, NULL));
  g_assert_false (exists (f, "aaaaaaaaaaaaaaaa.tmp"));
  g_assert_false (exists (f, "bbbbbbbbbbbbbbbb"));
}

/* Apply, killed after the journal key was written: the next load sees it and applies again. */
static void
test_crash_during_apply (Fixture *f, gconstpointer data)
{
  g_autoptr (VireoCheckpointTree) tree = load (f);
  g_autofree char *a = create (tree, "a");
  g_autofree char *b = create (tree, "b");
  g_autoptr (VireoCheckpointTree) again = NULL;

  g_free (tree->applying);
  tree->applying = g_strdup (a);
  save (tree);
  again = load (f);
  g_assert_cmpstr (again->applying, ==, a);
  g_assert_cmpstr (again->current, ==, b);

  /* Done: Now below a, the key gone, in one write. */
  vireo_checkpoint_tree_set_current (again, a);
  g_free (again->applying);
  again->applying = g_strdup ("");
  save (again);
  g_clear_pointer (&tree, vireo_checkpoint_tree_free);
  tree = load (f);
  g_assert_cmpstr (tree->applying, ==, "");
  g_assert_cmpstr (tree->current, ==, a);

  /* Deleting the checkpoint being applied drops the journal key. */
  g_free (tree->applying);
  tree->applying = g_strdup (b);
  g_ptr_array_unref (vireo_checkpoint_tree_remove (tree, b, FALSE));
  g_assert_cmpstr (tree->applying, ==, "");
}

/* Delete, killed after tree.ini lost the node but before its disk snapshots and folder went. */
static void
test_crash_during_delete (Fixture *f, gconstpointer data)
{
  g_autoptr (VireoCheckpointTree) tree = load (f);
  g_autofree char *a = create (tree, "a");
  g_autofree char *b = create (tree, "b");
  g_autoptr (VireoCheckpointTree) again = NULL;

  g_ptr_array_unref (vireo_checkpoint_tree_remove (tree, b, FALSE));
  save (tree);
  again = load (f);
  g_assert_null (vireo_checkpoint_tree_find (again, b));
  g_assert_cmpstr (again->current, ==, a);
  g_assert_cmpuint (again->doomed->len, ==, 1);
  g_assert_cmpstr (g_ptr_array_index (again->doomed, 0), ==, b);
  g_assert_true (exists (f, b));
  g_assert_true (vireo_checkpoint_tree_remove_strays (again, NULL));
  g_assert_true (exists (f, b));
  g_assert_true (vireo_checkpoint_tree_remove_folder (again, b, NULL));
  vireo_checkpoint_tree_forget_doomed (again, b);
  g_assert_false (exists (f, b));
  g_assert_true (exists (f, a));
}

static void
test_link_state (Fixture *f, gconstpointer data)
{
  g_autofree char *from = g_build_filename (f->machine_dir, "checkpoints", "0123456789abcdef", NULL);
  g_autofree char *to = g_build_filename (f->machine_dir, "state", NULL);
  g_autofree char *from_memory = g_build_filename (from, "memory", NULL);
  g_autofree char *to_memory = g_build_filename (to, "memory", NULL);
  g_autofree char *to_state = g_build_filename (to, "state", NULL);
  g_autofree char *contents = NULL;
  struct stat a, b;

  g_assert_cmpint (g_mkdir_with_parents (from, 0700), ==, 0);
  g_assert_cmpint (g_mkdir_with_parents (to, 0700), ==, 0);
  g_assert_true (g_file_set_contents (from_memory, "checkpoint memory", -1, NULL));
  {
    g_autofree char *from_state = g_build_filename (from, "state", NULL);
    g_assert_true (g_file_set_contents (from_state, "checkpoint state", -1, NULL));
  }
  g_assert_true (g_file_set_contents (to_state, "old state", -1, NULL));

  g_assert_true (vireo_checkpoint_link_state (from, to, NULL));
  g_assert_true (g_file_get_contents (to_state, &contents, NULL, NULL));
  g_assert_cmpstr (contents, ==, "checkpoint state");
  /* The same file, not a copy. */
  g_assert_cmpint (stat (from_memory, &a), ==, 0);
  g_assert_cmpint (stat (to_memory, &b), ==, 0);
  g_assert_cmpuint (a.st_ino, ==, b.st_ino);
  /* A later save renames over the link: the checkpoint's file stays as it was. */
  g_assert_true (g_file_set_contents (to_memory, "new memory", -1, NULL));
  g_clear_pointer (&contents, g_free);
  g_assert_true (g_file_get_contents (from_memory, &contents, NULL, NULL));
  g_assert_cmpstr (contents, ==, "checkpoint memory");
}

static void
put_be (guint8 *p, guint64 value, guint bytes)
{
  for (guint i = 0; i < bytes; i++)
    p[i] = (guint8) (value >> (8 * (bytes - 1 - i)));
}

/* One snapshot table entry at @at: returns where the next one starts. */
static gsize
put_snapshot (guint8 *image, gsize at, const char *id, const char *name)
{
  gsize id_size = strlen (id), name_size = strlen (name);

  put_be (image + at + 12, id_size, 2);
  put_be (image + at + 14, name_size, 2);
  put_be (image + at + 36, 16, 4); /* extra data, as QEMU writes it */
  memcpy (image + at + 40 + 16, id, id_size);
  memcpy (image + at + 40 + 16 + id_size, name, name_size);
  return at + ((40 + 16 + id_size + name_size + 7) & ~(gsize) 7);
}

/* The snapshot table of an untrusted image: the checkpoint ids among its names, and damage refused. */
static void
test_disk_snapshot_ids (Fixture *f, gconstpointer data)
{
  g_autofree char *path = g_build_filename (f->machine_dir, "disk.qcow2", NULL);
  g_autofree guint8 *image = g_malloc0 (4096);
  g_autoptr (GPtrArray) ids = NULL;
  g_autoptr (GError) error = NULL;
  gsize at = 1024;
  int fd;

  put_be (image, 0x514649fb, 4);
  put_be (image + 4, 3, 4);
  put_be (image + 60, 3, 4);
  put_be (image + 64, 1024, 8);
  at = put_snapshot (image, at, "1", "vireo-0123456789abcdef");
  at = put_snapshot (image, at, "2", "before the upgrade");
  at = put_snapshot (image, at, "3", "vireo-not-an-id");
  g_assert_true (g_file_set_contents (path, (const char *) image, 4096, NULL));
  fd = open (path, O_RDONLY | O_CLOEXEC);
  g_assert_cmpint (fd, >=, 0);
  ids = vireo_checkpoint_disk_snapshot_ids (fd, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (ids->len, ==, 1);
  g_assert_cmpstr (g_ptr_array_index (ids, 0), ==, "0123456789abcdef");
  close (fd);

  /* A table running past the end of the file, and an absurd count. */
  put_be (image + 60, 4, 4);
  g_assert_true (g_file_set_contents (path, (const char *) image, (gssize) at, NULL));
  fd = open (path, O_RDONLY | O_CLOEXEC);
  g_clear_pointer (&ids, g_ptr_array_unref);
  ids = vireo_checkpoint_disk_snapshot_ids (fd, &error);
  g_assert_null (ids);
  g_assert_error (error, VIREO_ERROR, VIREO_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);
  put_be (image + 60, 0xffffffff, 4);
  g_assert_true (g_file_set_contents (path, (const char *) image, 4096, NULL));
  close (fd);
  fd = open (path, O_RDONLY | O_CLOEXEC);
  g_assert_null (vireo_checkpoint_disk_snapshot_ids (fd, &error));
  g_assert_error (error, VIREO_ERROR, VIREO_ERROR_INVALID_ARGUMENT);
  close (fd);

  /* A raw image has none. */
  g_assert_true (g_file_set_contents (path, "raw bytes", -1, NULL));
  fd = open (path, O_RDONLY | O_CLOEXEC);
  g_clear_pointer (&ids, g_ptr_array_unref);
  ids = vireo_checkpoint_disk_snapshot_ids (fd, NULL);
  g_assert_cmpuint (ids->len, ==, 0);
  close (fd);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

#define ADD(path, fn) g_test_add (path, Fixture, NULL, fixture_set_up, fn, fixture_tear_down)
  ADD ("/checkpoints/empty", test_empty);
  ADD ("/checkpoints/round-trip", test_round_trip);
  ADD ("/checkpoints/delete-middle", test_delete_middle);
  ADD ("/checkpoints/delete-leaf-with-now", test_delete_leaf_with_now);
  ADD ("/checkpoints/delete-root", test_delete_root);
  ADD ("/checkpoints/delete-subtree", test_delete_subtree);
  ADD ("/checkpoints/names", test_names);
  ADD ("/checkpoints/damaged", test_damaged);
  ADD ("/checkpoints/crash-during-create", test_crash_during_create);
  ADD ("/checkpoints/crash-during-apply", test_crash_during_apply);
  ADD ("/checkpoints/crash-during-delete", test_crash_during_delete);
  ADD ("/checkpoints/link-state", test_link_state);
  ADD ("/checkpoints/disk-snapshot-ids", test_disk_snapshot_ids);
#undef ADD
  return g_test_run ();
}
