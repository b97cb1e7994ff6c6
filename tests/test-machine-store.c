/* test-machine-store.c — the machine store on a temporary folder: saving (atomic, private modes),
 * loading (skipping strangers, reporting broken definitions without touching them), saved state,
 * and deletion that never reaches outside a machine's folder. */
#include "test-util.h"
#include "machine-store.h"
#include "vireo-error.h"

#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct
{
  char *base;    /* temporary folder holding the store and an "outside" folder */
  char *root;    /* the store's root, created by the store */
  char *outside; /* files that belong to no machine */
  char *kernel;  /* outside: a kernel the machines boot */
  VireoMachineStore *store;
} Fixture;

static char *
write_file (const char *path, const char *contents)
{
  g_autoptr (GError) error = NULL;

  g_assert_true (g_file_set_contents (path, contents, -1, &error));
  g_assert_no_error (error);
  return g_strdup (path);
}

static char *
read_file (const char *path)
{
  g_autoptr (GError) error = NULL;
  char *contents = NULL;

  g_assert_true (g_file_get_contents (path, &contents, NULL, &error));
  g_assert_no_error (error);
  return contents;
}

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
  g_assert_cmpint (rmdir (path), ==, 0);
}

static void
fixture_setup (Fixture *fx, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *kernel = NULL;
  struct stat st;

  fx->base = g_dir_make_tmp ("vireo-store-XXXXXX", &error);
  g_assert_no_error (error);
  fx->root = g_build_filename (fx->base, "data", "vireo", NULL);
  fx->outside = g_build_filename (fx->base, "outside", NULL);
  g_assert_cmpint (mkdir (fx->outside, 0755), ==, 0);
  kernel = g_build_filename (fx->outside, "vmlinuz", NULL);
  fx->kernel = write_file (kernel, "kernel");

  fx->store = vireo_machine_store_new (fx->root, &error);
  g_assert_no_error (error);
  g_assert_nonnull (fx->store);
  g_assert_cmpstr (vireo_machine_store_get_root (fx->store), ==, fx->root);
  g_assert_cmpint (stat (fx->root, &st), ==, 0);
  g_assert_true (S_ISDIR (st.st_mode));
  g_assert_cmpint (st.st_mode & 07777, ==, 0700);
}

static void
fixture_teardown (Fixture *fx, gconstpointer data)
{
  vireo_machine_store_free (fx->store);
  remove_tree (fx->base);
  g_free (fx->base);
  g_free (fx->root);
  g_free (fx->outside);
  g_free (fx->kernel);
}

/* A valid machine booting the outside kernel; @disks (NULL-terminated paths) are given as raw
 * disks. */
static VireoMachineConfig *
machine_new (Fixture *fx, const char *name, const char *uuid, const char *const *disks)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GVariant) settings = NULL;
  VireoMachineConfig *config = vireo_machine_config_new ();
  GVariantBuilder builder;
  GVariantBuilder list;

  if (uuid != NULL)
    {
      g_free (config->uuid);
      config->uuid = g_strdup (uuid);
    }
  g_variant_builder_init (&list, G_VARIANT_TYPE ("aa{sv}"));
  for (guint i = 0; disks != NULL && disks[i] != NULL; i++)
    g_variant_builder_add_parsed (&list, "{'path': <%s>, 'format': <'raw'>}", disks[i]);
  g_variant_builder_init (&builder, G_VARIANT_TYPE_VARDICT);
  g_variant_builder_add (&builder, "{sv}", "name", g_variant_new_string (name));
  g_variant_builder_add (&builder, "{sv}", "kernel", g_variant_new_string (fx->kernel));
  g_variant_builder_add (&builder, "{sv}", "disks", g_variant_builder_end (&list));
  settings = g_variant_ref_sink (g_variant_builder_end (&builder));
  vireo_machine_config_apply_settings (config, settings, TRUE, &error);
  g_assert_no_error (error);
  return config;
}

static void
save_ok (Fixture *fx, const VireoMachineConfig *config)
{
  g_autoptr (GError) error = NULL;

  g_assert_true (vireo_machine_store_save (fx->store, config, &error));
  g_assert_no_error (error);
}

static char *
definition_path (Fixture *fx, const char *uuid)
{
  g_autofree char *dir = vireo_machine_store_machine_dir (fx->store, uuid);
  return g_build_filename (dir, "machine.xml", NULL);
}

static GPtrArray *
load_all (Fixture *fx, GPtrArray **problems)
{
  GPtrArray *machines = vireo_machine_store_load_all (fx->store, problems);

  g_assert_nonnull (machines);
  g_assert_nonnull (*problems);
  return machines;
}

static void
assert_problem_mentions (GPtrArray *problems, guint index, const char *needle)
{
  const char *problem;

  g_assert_cmpuint (index, <, problems->len);
  problem = g_ptr_array_index (problems, index);
  if (strstr (problem, needle) == NULL)
    g_error ("problem “%s” does not mention “%s”", problem, needle);
}

static gboolean
exists (const char *path)
{
  struct stat st;
  return lstat (path, &st) == 0;
}

static void
test_paths_and_modes (Fixture *fx, gconstpointer data)
{
  g_autoptr (VireoMachineConfig) config = machine_new (fx, "first", NULL, NULL);
  g_autofree char *dir = vireo_machine_store_machine_dir (fx->store, config->uuid);
  g_autofree char *state = vireo_machine_store_state_dir (fx->store, config->uuid);
  g_autofree char *expected_dir = g_build_filename (fx->root, config->uuid, NULL);
  g_autofree char *expected_state = g_build_filename (fx->root, config->uuid, "state", NULL);
  g_autofree char *path = definition_path (fx, config->uuid);
  g_autoptr (GError) error = NULL;
  g_autoptr (VireoMachineStore) again = NULL;
  struct stat st;

  g_assert_cmpstr (dir, ==, expected_dir);
  g_assert_cmpstr (state, ==, expected_state);

  save_ok (fx, config);
  g_assert_cmpint (stat (dir, &st), ==, 0);
  g_assert_cmpint (st.st_mode & 07777, ==, 0700);
  g_assert_cmpint (stat (path, &st), ==, 0);
  g_assert_true (S_ISREG (st.st_mode));
  g_assert_cmpint (st.st_mode & 07777, ==, 0600);

  /* Opening an existing store is fine; a file where the folder should be is not. */
  again = vireo_machine_store_new (fx->root, &error);
  g_assert_no_error (error);
  g_assert_nonnull (again);
  {
    g_autoptr (VireoMachineStore) broken = vireo_machine_store_new (path, &error);
    g_assert_null (broken);
    g_assert_error (error, VIREO_ERROR, VIREO_ERROR_FAILED);
  }
}

static void
test_save_and_load (Fixture *fx, gconstpointer data)
{
  g_autoptr (VireoMachineConfig) a = machine_new (fx, "Alpha", "aaaaaaaa-1111-4111-8111-111111111111", NULL);
  g_autoptr (VireoMachineConfig) b = machine_new (fx, "Beta / two", "bbbbbbbb-2222-4222-8222-222222222222",
                                                  NULL);
  g_autoptr (GPtrArray) machines = NULL;
  g_autoptr (GPtrArray) problems = NULL;
  g_autoptr (GVariant) settings_b = NULL;
  g_autoptr (GVariant) loaded_b = NULL;
  const VireoMachineConfig *first;
  const VireoMachineConfig *second;

  g_free (b->notes);
  b->notes = g_strdup ("line one\nline two");
  save_ok (fx, b);
  save_ok (fx, a);

  machines = load_all (fx, &problems);
  g_assert_cmpuint (problems->len, ==, 0);
  g_assert_cmpuint (machines->len, ==, 2);
  /* In a stable order, whatever the directory says. */
  first = g_ptr_array_index (machines, 0);
  second = g_ptr_array_index (machines, 1);
  g_assert_cmpstr (first->uuid, ==, a->uuid);
  g_assert_cmpstr (first->name, ==, "Alpha");
  g_assert_cmpstr (second->uuid, ==, b->uuid);
  settings_b = g_variant_ref_sink (vireo_machine_config_to_settings (b));
  loaded_b = g_variant_ref_sink (vireo_machine_config_to_settings (second));
  g_assert_true (g_variant_equal (settings_b, loaded_b));

  /* Loading is read-only: problems may be NULL, and nothing changed on disk. */
  g_ptr_array_unref (vireo_machine_store_load_all (fx->store, NULL));
}

static void
test_skips_strangers (Fixture *fx, gconstpointer data)
{
  g_autoptr (VireoMachineConfig) a = machine_new (fx, "Alpha", NULL, NULL);
  g_autoptr (GPtrArray) machines = NULL;
  g_autoptr (GPtrArray) problems = NULL;
  g_autofree char *lost = g_build_filename (fx->root, "lost+found", NULL);
  g_autofree char *upper = g_build_filename (fx->root, "AAAAAAAA-1111-4111-8111-111111111111", NULL);
  g_autofree char *upper_xml = g_build_filename (upper, "machine.xml", NULL);
  g_autofree char *file = g_build_filename (fx->root, "cccccccc-3333-4333-8333-333333333333", NULL);
  g_autofree char *kept = g_build_filename (fx->root, "dddddddd-4444-4444-8444-444444444444", NULL);
  g_autofree char *kept_disk = g_build_filename (kept, "disk.img", NULL);
  g_autofree char *link = g_build_filename (fx->root, "eeeeeeee-5555-4555-8555-555555555555", NULL);
  g_autofree char *notes = g_build_filename (fx->root, "README", NULL);

  save_ok (fx, a);
  g_assert_cmpint (mkdir (lost, 0700), ==, 0);
  g_assert_cmpint (mkdir (upper, 0700), ==, 0);
  g_free (write_file (upper_xml, "<garbage"));
  g_free (write_file (file, "a file named like a machine"));
  g_free (write_file (notes, "hello"));
  /* What Delete leaves when it keeps the disks: no definition, no problem. */
  g_assert_cmpint (mkdir (kept, 0700), ==, 0);
  g_free (write_file (kept_disk, ""));
  /* A symlink is not a machine folder of ours. */
  g_assert_cmpint (symlink (fx->outside, link), ==, 0);

  machines = load_all (fx, &problems);
  g_assert_cmpuint (machines->len, ==, 1);
  g_assert_cmpuint (problems->len, ==, 0);
}

static void
test_reports_broken (Fixture *fx, gconstpointer data)
{
  g_autoptr (VireoMachineConfig) good = machine_new (fx, "Good", "11111111-1111-4111-8111-111111111111",
                                                     NULL);
  g_autoptr (VireoMachineConfig) truncated = machine_new (fx, "Cut", "22222222-2222-4222-8222-222222222222",
                                                          NULL);
  g_autoptr (VireoMachineConfig) garbage = machine_new (fx, "Junk", "33333333-3333-4333-8333-333333333333",
                                                        NULL);
  g_autoptr (VireoMachineConfig) moved = machine_new (fx, "Moved", "44444444-4444-4444-8444-444444444444",
                                                      NULL);
  g_autoptr (VireoMachineConfig) empty = machine_new (fx, "Empty", "55555555-5555-4555-8555-555555555555",
                                                      NULL);
  g_autoptr (GPtrArray) machines = NULL;
  g_autoptr (GPtrArray) problems = NULL;
  g_autofree char *truncated_path = definition_path (fx, truncated->uuid);
  g_autofree char *garbage_path = definition_path (fx, garbage->uuid);
  g_autofree char *moved_path = definition_path (fx, moved->uuid);
  g_autofree char *empty_path = definition_path (fx, empty->uuid);
  g_autofree char *full = NULL;
  g_autofree char *cut = NULL;
  g_autofree char *after = NULL;
  g_autofree char *other_uuid_xml = NULL;

  save_ok (fx, good);
  save_ok (fx, truncated);
  save_ok (fx, garbage);
  save_ok (fx, empty);

  full = read_file (truncated_path);
  cut = g_strndup (full, strlen (full) / 2);
  g_free (write_file (truncated_path, cut));
  g_free (write_file (garbage_path, "\x89PNG\r\n\x1a\n not a definition"));
  g_free (write_file (empty_path, ""));
  /* A definition copied into another machine's folder. */
  {
    g_autofree char *dir = vireo_machine_store_machine_dir (fx->store, moved->uuid);
    g_autoptr (VireoMachineConfig) stranger = machine_new (fx, "Stranger",
                                                           "66666666-6666-4666-8666-666666666666", NULL);
    g_assert_cmpint (mkdir (dir, 0700), ==, 0);
    other_uuid_xml = vireo_machine_config_to_xml (stranger);
    g_free (write_file (moved_path, other_uuid_xml));
  }

  machines = load_all (fx, &problems);
  g_assert_cmpuint (machines->len, ==, 1);
  g_assert_cmpstr (((VireoMachineConfig *) g_ptr_array_index (machines, 0))->uuid, ==, good->uuid);
  g_assert_cmpuint (problems->len, ==, 4);
  /* Sorted by folder: 2222 (truncated), 3333 (garbage), 4444 (moved), 5555 (empty). */
  assert_problem_mentions (problems, 0, truncated_path);
  assert_problem_mentions (problems, 1, garbage_path);
  assert_problem_mentions (problems, 2, moved_path);
  assert_problem_mentions (problems, 2, "66666666-6666-4666-8666-666666666666");
  assert_problem_mentions (problems, 3, empty_path);

  /* Nothing was deleted or rewritten. */
  after = read_file (truncated_path);
  g_assert_cmpstr (after, ==, cut);
  g_assert_true (exists (garbage_path));
  g_assert_true (exists (moved_path));
}

static void
test_atomic_save (Fixture *fx, gconstpointer data)
{
  g_autoptr (VireoMachineConfig) config = machine_new (fx, "Atomic", NULL, NULL);
  g_autoptr (VireoMachineConfig) broken = NULL;
  g_autofree char *path = definition_path (fx, config->uuid);
  g_autofree char *dir = vireo_machine_store_machine_dir (fx->store, config->uuid);
  g_autofree char *old_link = g_build_filename (fx->base, "old-definition.xml", NULL);
  g_autofree char *old_contents = NULL;
  g_autofree char *linked = NULL;
  g_autofree char *current = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (GDir) listing = NULL;
  struct stat before, after;
  const char *name;

  save_ok (fx, config);
  old_contents = read_file (path);
  g_assert_cmpint (stat (path, &before), ==, 0);
  /* A second name for the old file: a rewrite in place would change what it shows. */
  g_assert_cmpint (link (path, old_link), ==, 0);

  g_free (config->name);
  config->name = g_strdup ("Atomic, renamed");
  save_ok (fx, config);

  g_assert_cmpint (stat (path, &after), ==, 0);
  g_assert_cmpuint (before.st_ino, !=, after.st_ino);
  g_assert_cmpint (after.st_mode & 07777, ==, 0600);
  linked = read_file (old_link);
  g_assert_cmpstr (linked, ==, old_contents);
  current = read_file (path);
  g_assert_nonnull (strstr (current, "Atomic, renamed"));
  g_assert_null (strstr (old_contents, "Atomic, renamed"));
  /* No temporary file is left behind. */
  listing = g_dir_open (dir, 0, &error);
  g_assert_no_error (error);
  while ((name = g_dir_read_name (listing)) != NULL)
    g_assert_cmpstr (name, ==, "machine.xml");

  /* A save that fails leaves the stored definition as it was. */
  broken = vireo_machine_config_copy (config);
  broken->memory_mib = 0;
  g_assert_false (vireo_machine_store_save (fx->store, broken, &error));
  g_assert_error (error, VIREO_ERROR, VIREO_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);
  g_free (broken->uuid);
  broken->uuid = g_strdup ("../../escape");
  broken->memory_mib = 512;
  g_assert_false (vireo_machine_store_save (fx->store, broken, &error));
  g_assert_error (error, VIREO_ERROR, VIREO_ERROR_INVALID_ARGUMENT);
  {
    g_autofree char *unchanged = read_file (path);
    g_assert_cmpstr (unchanged, ==, current);
  }
  g_assert_cmpint (unlink (old_link), ==, 0);
}

static void
test_saved_state (Fixture *fx, gconstpointer data)
{
  g_autoptr (VireoMachineConfig) config = machine_new (fx, "Stateful", NULL, NULL);
  g_autofree char *state = vireo_machine_store_state_dir (fx->store, config->uuid);
  g_autofree char *memory = g_build_filename (state, "memory", NULL);
  g_autofree char *precious = g_build_filename (fx->outside, "precious", NULL);
  g_autofree char *link = g_build_filename (state, "link", NULL);
  g_autoptr (GError) error = NULL;

  save_ok (fx, config);
  g_assert_false (vireo_machine_store_has_saved_state (fx->store, config->uuid));
  g_assert_true (vireo_machine_store_discard_saved_state (fx->store, config->uuid, &error));
  g_assert_no_error (error);

  g_assert_cmpint (mkdir (state, 0700), ==, 0);
  g_assert_false (vireo_machine_store_has_saved_state (fx->store, config->uuid));
  g_free (write_file (memory, "ram"));
  g_free (write_file (precious, "keep me"));
  g_assert_cmpint (symlink (fx->outside, link), ==, 0);
  g_assert_true (vireo_machine_store_has_saved_state (fx->store, config->uuid));
  g_assert_false (vireo_machine_store_has_saved_state (fx->store, "not-a-uuid"));

  g_assert_true (vireo_machine_store_discard_saved_state (fx->store, config->uuid, &error));
  g_assert_no_error (error);
  /* What it held is gone; the folder stays, emptied, for a running worker to save into again. */
  g_assert_false (exists (memory));
  g_assert_false (exists (link));
  g_assert_true (g_file_test (state, G_FILE_TEST_IS_DIR));
  g_assert_false (vireo_machine_store_has_saved_state (fx->store, config->uuid));
  /* The link went, not what it pointed to. */
  g_assert_true (exists (precious));

  g_assert_false (vireo_machine_store_discard_saved_state (fx->store, "../outside", &error));
  g_assert_error (error, VIREO_ERROR, VIREO_ERROR_INVALID_ARGUMENT);
}

/* What writes interrupted by a crash leave behind is cleaned when the store is read: temporary
 * definitions, folders that never got a definition; a folder with kept disks stays. */
static void
test_cleans_leftovers (Fixture *fx, gconstpointer data)
{
  g_autoptr (VireoMachineConfig) config = machine_new (fx, "Survivor", NULL, NULL);
  g_autofree char *folder = NULL;
  g_autofree char *temp = NULL;
  g_autofree char *empty = g_build_filename (fx->root, "0b5c1d6e-1111-4a2b-8c3d-9e8f7a6b5c4d", NULL);
  g_autofree char *empty_state = g_build_filename (empty, "state", NULL);
  g_autofree char *kept = g_build_filename (fx->root, "0b5c1d6e-2222-4a2b-8c3d-9e8f7a6b5c4d", NULL);
  g_autofree char *kept_disk = g_build_filename (kept, "disk.img", NULL);
  g_autofree char *kept_temp = g_build_filename (kept, "machine.xml.Ab12Cd", NULL);
  g_autoptr (GPtrArray) problems = NULL;
  g_autoptr (GPtrArray) machines = NULL;

  save_ok (fx, config);
  folder = vireo_machine_store_machine_dir (fx->store, config->uuid);
  temp = g_build_filename (folder, "machine.xml.x1Y2z3", NULL);
  g_free (write_file (temp, "<domain"));
  g_assert_cmpint (g_mkdir_with_parents (empty_state, 0700), ==, 0);
  g_assert_cmpint (g_mkdir_with_parents (kept, 0700), ==, 0);
  g_free (write_file (kept_disk, "disk"));
  g_free (write_file (kept_temp, "<dom"));

  machines = vireo_machine_store_load_all (fx->store, &problems);
  g_assert_cmpuint (machines->len, ==, 1);
  g_assert_cmpuint (problems->len, ==, 0);
  g_assert_false (exists (temp));
  g_assert_false (exists (empty));
  g_assert_false (exists (kept_temp));
  g_assert_true (exists (kept_disk));
}

static void
test_delete_keeps_disks (Fixture *fx, gconstpointer data)
{
  const char *uuid = "77777777-7777-4777-8777-777777777777";
  g_autofree char *dir = g_build_filename (fx->root, uuid, NULL);
  g_autofree char *disk = g_build_filename (dir, "disk.img", NULL);
  g_autofree char *state = g_build_filename (dir, "state", NULL);
  g_autofree char *state_file = g_build_filename (state, "vcpu0", NULL);
  g_autoptr (VireoMachineConfig) config = NULL;
  g_autoptr (GPtrArray) machines = NULL;
  g_autoptr (GPtrArray) problems = NULL;
  g_autoptr (GError) error = NULL;

  g_assert_cmpint (mkdir (dir, 0700), ==, 0);
  g_free (write_file (disk, "raw disk"));
  config = machine_new (fx, "Keeper", uuid, (const char *const[]){ disk, NULL });
  save_ok (fx, config);
  g_assert_cmpint (mkdir (state, 0700), ==, 0);
  g_free (write_file (state_file, "regs"));

  g_assert_true (vireo_machine_store_delete (fx->store, uuid, FALSE, &error));
  g_assert_no_error (error);
  g_assert_false (exists (state));
  g_assert_true (exists (disk));
  g_assert_true (exists (dir));
  {
    g_autofree char *path = definition_path (fx, uuid);
    g_assert_false (exists (path));
  }
  /* The folder with the kept disk is no machine, and no problem. */
  machines = load_all (fx, &problems);
  g_assert_cmpuint (machines->len, ==, 0);
  g_assert_cmpuint (problems->len, ==, 0);
  /* Deleting again: there is no such machine any more. */
  g_assert_false (vireo_machine_store_delete (fx->store, uuid, TRUE, &error));
  g_assert_error (error, VIREO_ERROR, VIREO_ERROR_NOT_FOUND);
  g_assert_true (exists (disk));
}

static void
test_delete_disks (Fixture *fx, gconstpointer data)
{
  const char *uuid = "88888888-8888-4888-8888-888888888888";
  g_autofree char *dir = g_build_filename (fx->root, uuid, NULL);
  g_autofree char *inside = g_build_filename (dir, "disk.img", NULL);
  g_autofree char *sub = g_build_filename (dir, "disks", NULL);
  g_autofree char *nested = g_build_filename (sub, "data.img", NULL);
  g_autofree char *outside_disk = g_build_filename (fx->outside, "shared.img", NULL);
  g_autofree char *target = g_build_filename (fx->outside, "target.img", NULL);
  g_autofree char *link_disk = g_build_filename (dir, "link.img", NULL);
  g_autofree char *escape_dir = g_build_filename (dir, "escape", NULL);
  g_autofree char *escape_disk = g_build_filename (escape_dir, "victim.img", NULL);
  g_autofree char *victim = g_build_filename (fx->outside, "victim.img", NULL);
  g_autofree char *dotdot = g_build_filename (dir, "..", "..", "..", "outside", "dotdot.img", NULL);
  g_autofree char *dotdot_real = g_build_filename (fx->outside, "dotdot.img", NULL);
  g_autoptr (VireoMachineConfig) config = NULL;
  g_autoptr (GError) error = NULL;

  g_assert_cmpint (mkdir (dir, 0700), ==, 0);
  g_assert_cmpint (mkdir (sub, 0700), ==, 0);
  g_free (write_file (inside, "inside"));
  g_free (write_file (nested, "nested"));
  g_free (write_file (outside_disk, "outside"));
  g_free (write_file (target, "target"));
  g_free (write_file (victim, "victim"));
  g_free (write_file (dotdot_real, "dotdot"));
  /* An image in the folder that is a symlink to a file outside, and a folder that is a symlink out.
   */
  g_assert_cmpint (symlink (target, link_disk), ==, 0);
  g_assert_cmpint (symlink (fx->outside, escape_dir), ==, 0);
  config = machine_new (
      fx, "Doomed", uuid,
      (const char *const[]){ inside, nested, outside_disk, link_disk, escape_disk, dotdot, NULL });
  save_ok (fx, config);

  g_assert_true (vireo_machine_store_delete (fx->store, uuid, TRUE, &error));
  g_assert_no_error (error);
  g_assert_false (exists (inside));
  g_assert_false (exists (nested));
  g_assert_false (exists (link_disk));
  /* Everything outside the folder is untouched, however it was reached. */
  g_assert_true (exists (outside_disk));
  g_assert_true (exists (target));
  g_assert_true (exists (victim));
  g_assert_true (exists (dotdot_real));
  /* The folder is kept while something else is in it ... */
  g_assert_true (exists (escape_dir));
  g_assert_true (exists (dir));

  /* ... and goes with the last of the machine's files. */
  {
    const char *uuid2 = "99999999-9999-4999-8999-999999999999";
    g_autofree char *dir2 = g_build_filename (fx->root, uuid2, NULL);
    g_autofree char *disk2 = g_build_filename (dir2, "disk.img", NULL);
    g_autoptr (VireoMachineConfig) config2 = NULL;

    g_assert_cmpint (mkdir (dir2, 0700), ==, 0);
    g_free (write_file (disk2, "disk"));
    config2 = machine_new (fx, "Gone", uuid2, (const char *const[]){ disk2, NULL });
    save_ok (fx, config2);
    g_assert_true (vireo_machine_store_delete (fx->store, uuid2, TRUE, &error));
    g_assert_no_error (error);
    g_assert_false (exists (dir2));
  }
}

static void
test_delete_refusals (Fixture *fx, gconstpointer data)
{
  static const char *const bad[] = {
    "",
    "..",
    "../outside",
    "AAAAAAAA-1111-4111-8111-111111111111",
    "aaaaaaaa11114111811111111111111111",
    "aaaaaaaa-1111-4111-8111-111111111111/../..",
  };
  const char *uuid = "abababab-1212-4343-8565-787878787878";
  g_autofree char *link = g_build_filename (fx->root, uuid, NULL);
  g_autofree char *outside_xml = g_build_filename (fx->outside, "machine.xml", NULL);
  g_autoptr (GError) error = NULL;

  for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_assert_false (vireo_machine_store_delete (fx->store, bad[i], TRUE, &error));
      g_assert_error (error, VIREO_ERROR, VIREO_ERROR_INVALID_ARGUMENT);
      g_clear_error (&error);
    }
  g_assert_false (
      vireo_machine_store_delete (fx->store, "12345678-1234-4234-8234-123456789abc", FALSE, &error));
  g_assert_error (error, VIREO_ERROR, VIREO_ERROR_NOT_FOUND);
  g_clear_error (&error);

  /* A machine folder replaced by a symlink is not followed. */
  g_free (write_file (outside_xml, "<domain/>"));
  g_assert_cmpint (symlink (fx->outside, link), ==, 0);
  g_assert_false (vireo_machine_store_delete (fx->store, uuid, TRUE, &error));
  g_assert_nonnull (error);
  g_assert_true (exists (outside_xml));
  g_assert_true (exists (fx->kernel));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

#define ADD(path, fn) g_test_add ("/machine-store/" path, Fixture, NULL, fixture_setup, fn, fixture_teardown)
  ADD ("paths-and-modes", test_paths_and_modes);
  ADD ("save-and-load", test_save_and_load);
  ADD ("skips-strangers", test_skips_strangers);
  ADD ("reports-broken", test_reports_broken);
  ADD ("atomic-save", test_atomic_save);
  ADD ("saved-state", test_saved_state);
  ADD ("cleans-leftovers", test_cleans_leftovers);
  ADD ("delete-keeps-disks", test_delete_keeps_disks);
  ADD ("delete-disks", test_delete_disks);
  ADD ("delete-refusals", test_delete_refusals);
#undef ADD

  return g_test_run ();
}
