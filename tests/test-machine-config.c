/* test-machine-config.c — machine settings: defaults, checked updates (types, ranges, files, disk
 * formats, atomicity), and libvirt domain XML: our export round-trips and validates, virt-manager
 * and GNOME Boxes domains import, and what Vireo cannot run is refused with a reason. */
#include "test-util.h"
#include "machine-config.h"
#include "switch-registry.h"
#include "vireo-error.h"

#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define QCOW2_MAGIC "QFI\xfb"

typedef struct
{
  char *dir;
  char *kernel;
  char *initrd;
  char *raw;   /* a raw image */
  char *qcow2; /* starts with the qcow2 magic */
} Files;

static char *
write_file (const char *dir, const char *name, const char *contents, gsize length)
{
  g_autoptr (GError) error = NULL;
  char *path = g_build_filename (dir, name, NULL);

  g_assert_true (g_file_set_contents (path, contents, length, &error));
  g_assert_no_error (error);
  return path;
}

static void
files_setup (Files *files, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  char qcow2[512] = QCOW2_MAGIC;
  char raw[512] = { 0x33, 0xc0, 0x8e, 0xd0 };

  files->dir = g_dir_make_tmp ("vireo-config-XXXXXX", &error);
  g_assert_no_error (error);
  files->kernel = write_file (files->dir, "vmlinuz",
                              "\x7f"
                              "ELF kernel",
                              10);
  files->initrd = write_file (files->dir, "initrd.img", "070701", 6);
  files->raw = write_file (files->dir, "disk.img", raw, sizeof raw);
  files->qcow2 = write_file (files->dir, "disk.qcow2", qcow2, sizeof qcow2);
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

      if (lstat (child, &st) == 0 && S_ISDIR (st.st_mode))
        remove_tree (child);
      else
        g_assert_cmpint (unlink (child), ==, 0);
    }
  g_assert_cmpint (rmdir (path), ==, 0);
}

static void
files_teardown (Files *files, gconstpointer data)
{
  remove_tree (files->dir);
  g_free (files->dir);
  g_free (files->kernel);
  g_free (files->initrd);
  g_free (files->raw);
  g_free (files->qcow2);
}

/* One setting as a{sv}. */
static GVariant *
one (const char *key, GVariant *value)
{
  GVariantBuilder builder;

  g_variant_builder_init (&builder, G_VARIANT_TYPE_VARDICT);
  g_variant_builder_add (&builder, "{sv}", key, value);
  return g_variant_ref_sink (g_variant_builder_end (&builder));
}

static GVariant *
disk_entry (const char *path, const char *format, gboolean readonly)
{
  GVariantBuilder builder;

  g_variant_builder_init (&builder, G_VARIANT_TYPE_VARDICT);
  g_variant_builder_add (&builder, "{sv}", "path", g_variant_new_string (path));
  if (format != NULL)
    g_variant_builder_add (&builder, "{sv}", "format", g_variant_new_string (format));
  g_variant_builder_add (&builder, "{sv}", "readonly", g_variant_new_boolean (readonly));
  return g_variant_builder_end (&builder);
}

static GVariant *
disks_of (GVariant *first, ...)
{
  GVariantBuilder builder;
  va_list args;

  g_variant_builder_init (&builder, G_VARIANT_TYPE ("aa{sv}"));
  va_start (args, first);
  for (GVariant *entry = first; entry != NULL; entry = va_arg (args, GVariant *))
    g_variant_builder_add_value (&builder, entry);
  va_end (args);
  return g_variant_builder_end (&builder);
}

/* A complete, valid direct-kernel machine. */
static VireoMachineConfig *
kernel_machine (Files *files)
{
  g_autoptr (GError) error = NULL;
  VireoMachineConfig *config = vireo_machine_config_new ();
  g_autoptr (GVariant) settings = NULL;

  settings = g_variant_ref_sink (g_variant_new_parsed (
      "{'name': <'Kernel box'>, 'memory-mib': <uint64 256>, 'vcpus': <uint32 2>, 'kernel': <%s>, "
      "'initrd': <%s>, 'cmdline': <'console=ttyS0 noxsave quiet'>, 'cpuid-mask': <'-cx16'>, "
      "'notes': <'two\nlines & <markup>'>, 'auto-start': <'always'>, 'auto-stop': <'shutdown'>}",
      files->kernel, files->initrd));
  g_assert_true (vireo_machine_config_apply_settings (config, settings, TRUE, &error));
  g_assert_no_error (error);
  return config;
}

/* A disk machine with a display, NAT and a read-only second disk. */
static VireoMachineConfig *
disk_machine (Files *files)
{
  g_autoptr (GError) error = NULL;
  VireoMachineConfig *config = vireo_machine_config_new ();
  GVariantBuilder builder;
  g_autoptr (GVariant) settings = NULL;

  g_variant_builder_init (&builder, G_VARIANT_TYPE_VARDICT);
  g_variant_builder_add (&builder, "{sv}", "name", g_variant_new_string ("Desktop / test: 1"));
  g_variant_builder_add (&builder, "{sv}", "boot", g_variant_new_string ("disk"));
  g_variant_builder_add (&builder, "{sv}", "memory-mib", g_variant_new_uint64 (1024));
  g_variant_builder_add (
      &builder, "{sv}", "disks",
      disks_of (disk_entry (files->qcow2, "qcow2", FALSE), disk_entry (files->raw, "raw", TRUE), NULL));
  g_variant_builder_add (&builder, "{sv}", "network", g_variant_new_string ("nat"));
  g_variant_builder_add (&builder, "{sv}", "display", g_variant_new_boolean (TRUE));
  settings = g_variant_ref_sink (g_variant_builder_end (&builder));
  g_assert_true (vireo_machine_config_apply_settings (config, settings, TRUE, &error));
  g_assert_no_error (error);
  return config;
}

static void
assert_same_config (const VireoMachineConfig *a, const VireoMachineConfig *b)
{
  g_autoptr (GVariant) sa = g_variant_ref_sink (vireo_machine_config_to_settings (a));
  g_autoptr (GVariant) sb = g_variant_ref_sink (vireo_machine_config_to_settings (b));

  g_assert_cmpstr (a->uuid, ==, b->uuid);
  if (!g_variant_equal (sa, sb))
    {
      g_autofree char *ta = g_variant_print (sa, TRUE);
      g_autofree char *tb = g_variant_print (sb, TRUE);
      g_assert_cmpstr (ta, ==, tb);
    }
}

/* Applies @settings, expects @code with @needle in the message, and that @config did not change. */
static void
assert_refused (VireoMachineConfig *config, GVariant *settings, gboolean creating, int code,
                const char *needle)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (VireoMachineConfig) before = vireo_machine_config_copy (config);
  g_autoptr (GVariant) owned = g_variant_ref_sink (settings);

  g_assert_false (vireo_machine_config_apply_settings (config, owned, creating, &error));
  g_assert_error (error, VIREO_ERROR, code);
  if (strstr (error->message, needle) == NULL)
    g_error ("“%s” does not mention “%s”", error->message, needle);
  assert_same_config (config, before);
}

static void
test_defaults (void)
{
  g_autoptr (VireoMachineConfig) a = vireo_machine_config_new ();
  g_autoptr (VireoMachineConfig) b = vireo_machine_config_new ();
  g_autoptr (GError) error = NULL;

  g_assert_true (vireo_machine_config_is_canonical_uuid (a->uuid));
  g_assert_cmpstr (a->uuid, !=, b->uuid);
  g_assert_cmpstr (a->name, ==, "");
  g_assert_cmpuint (a->memory_mib, ==, 512);
  g_assert_cmpuint (a->vcpus, ==, 1);
  g_assert_cmpstr (a->boot, ==, "kernel");
  g_assert_cmpstr (a->kernel, ==, "");
  g_assert_cmpstr (a->initrd, ==, "");
  g_assert_cmpstr (a->cmdline, ==, "");
  g_assert_cmpuint (a->disks->len, ==, 0);
  g_assert_cmpstr (a->network, ==, "none");
  g_assert_false (a->display);
  g_assert_cmpstr (a->cpuid_mask, ==, "");
  g_assert_cmpstr (a->notes, ==, "");
  g_assert_cmpstr (a->auto_start, ==, "none");
  g_assert_cmpstr (a->auto_stop, ==, "save");
  /* Unnamed and without a kernel, the defaults alone are not a machine. */
  g_assert_false (vireo_machine_config_validate (a, &error));
  g_assert_error (error, VIREO_ERROR, VIREO_ERROR_INVALID_ARGUMENT);

  g_assert_false (vireo_machine_config_is_canonical_uuid (NULL));
  g_assert_false (vireo_machine_config_is_canonical_uuid ("0E6A4D1C-5B2E-4C1B-9D7A-3F1E2D3C4B5A"));
  g_assert_false (vireo_machine_config_is_canonical_uuid ("0e6a4d1c5b2e4c1b9d7a3f1e2d3c4b5a"));
  g_assert_false (vireo_machine_config_is_canonical_uuid ("../0e6a4d1c-5b2e-4c1b-9d7a-3f1e2d3c4b"));
  g_assert_true (vireo_machine_config_is_canonical_uuid ("0e6a4d1c-5b2e-4c1b-9d7a-3f1e2d3c4b5a"));
}

static void
test_create (Files *files, gconstpointer data)
{
  g_autoptr (VireoMachineConfig) config = kernel_machine (files);
  g_autoptr (VireoMachineConfig) copy = NULL;
  g_autoptr (GVariant) settings = NULL;
  g_autoptr (GVariant) disks = NULL;
  const char *text;
  guint64 memory;
  gboolean boot_menu = TRUE;

  g_assert_cmpstr (config->name, ==, "Kernel box");
  g_assert_cmpuint (config->memory_mib, ==, 256);
  g_assert_cmpuint (config->vcpus, ==, 2);
  g_assert_cmpstr (config->kernel, ==, files->kernel);
  g_assert_cmpstr (config->initrd, ==, files->initrd);
  g_assert_cmpstr (config->cmdline, ==, "console=ttyS0 noxsave quiet");
  g_assert_cmpstr (config->cpuid_mask, ==, "-cx16");
  g_assert_cmpstr (config->notes, ==, "two\nlines & <markup>");
  g_assert_cmpstr (config->auto_start, ==, "always");
  g_assert_cmpstr (config->auto_stop, ==, "shutdown");

  /* Settings shows every key with its documented type. */
  settings = g_variant_ref_sink (vireo_machine_config_to_settings (config));
  g_assert_cmpuint (g_variant_n_children (settings), ==, 19);
  g_assert_true (g_variant_lookup (settings, "boot-menu", "b", &boot_menu));
  g_assert_false (boot_menu);
  g_assert_true (g_variant_lookup (settings, "memory-mib", "t", &memory));
  g_assert_cmpuint (memory, ==, 256);
  g_assert_true (g_variant_lookup (settings, "name", "&s", &text));
  g_assert_cmpstr (text, ==, "Kernel box");
  disks = g_variant_lookup_value (settings, "disks", G_VARIANT_TYPE ("aa{sv}"));
  g_assert_nonnull (disks);

  copy = vireo_machine_config_copy (config);
  assert_same_config (config, copy);
}

static void
test_create_requirements (Files *files, gconstpointer data)
{
  g_autoptr (VireoMachineConfig) config = vireo_machine_config_new ();
  g_autoptr (GError) error = NULL;
  g_autoptr (GVariant) named = NULL;

  assert_refused (config, g_variant_new_parsed ("{'kernel': <%s>}", files->kernel), TRUE,
                  VIREO_ERROR_INVALID_ARGUMENT, "“name”");
  assert_refused (config, g_variant_new_parsed ("{'name': <'a'>}", files->kernel), TRUE,
                  VIREO_ERROR_INVALID_ARGUMENT, "“kernel”");
  assert_refused (config, g_variant_new_parsed ("{'name': <'a'>, 'boot': <'disk'>}"), TRUE,
                  VIREO_ERROR_INVALID_ARGUMENT, "“disks”");
  assert_refused (config,
                  g_variant_new_parsed ("{'name': <'a'>, 'kernel': <%s>, 'boot': <'cdrom'>}", files->kernel),
                  TRUE, VIREO_ERROR_INVALID_ARGUMENT, "“boot”");

  named = g_variant_ref_sink (g_variant_new_parsed ("{'name': <'a'>, 'kernel': <%s>}", files->kernel));
  g_assert_true (vireo_machine_config_apply_settings (config, named, TRUE, &error));
  g_assert_no_error (error);
  /* Switching to disk boot without a disk would make the machine unbootable. */
  assert_refused (config, one ("boot", g_variant_new_string ("disk")), FALSE, VIREO_ERROR_INVALID_ARGUMENT,
                  "“disks”");
  assert_refused (config, one ("kernel", g_variant_new_string ("")), FALSE, VIREO_ERROR_INVALID_ARGUMENT,
                  "“kernel”");
  assert_refused (config, g_variant_new_parsed ("[<'not a dictionary'>]"), FALSE,
                  VIREO_ERROR_INVALID_ARGUMENT, "a{sv}");
}

static void
test_unknown_and_wrong_types (Files *files, gconstpointer data)
{
  g_autoptr (VireoMachineConfig) config = kernel_machine (files);

  assert_refused (config, one ("colour", g_variant_new_string ("blue")), FALSE, VIREO_ERROR_INVALID_ARGUMENT,
                  "“colour”");
  assert_refused (config, one ("memory-mib", g_variant_new_int32 (1024)), FALSE, VIREO_ERROR_INVALID_ARGUMENT,
                  "“memory-mib”");
  assert_refused (config, one ("memory-mib", g_variant_new_string ("1G")), FALSE,
                  VIREO_ERROR_INVALID_ARGUMENT, "“memory-mib”");
  assert_refused (config, one ("vcpus", g_variant_new_uint64 (2)), FALSE, VIREO_ERROR_INVALID_ARGUMENT,
                  "“vcpus”");
  assert_refused (config, one ("name", g_variant_new_int32 (7)), FALSE, VIREO_ERROR_INVALID_ARGUMENT,
                  "“name”");
  assert_refused (config, one ("display", g_variant_new_string ("yes")), FALSE, VIREO_ERROR_INVALID_ARGUMENT,
                  "“display”");
  assert_refused (config, one ("disks", g_variant_new_strv (NULL, 0)), FALSE, VIREO_ERROR_INVALID_ARGUMENT,
                  "“disks”");
  assert_refused (config, one ("notes", g_variant_new_variant (g_variant_new_string ("x"))), FALSE,
                  VIREO_ERROR_INVALID_ARGUMENT, "“notes”");

  /* A huge or hostile key is named, not echoed whole. */
  {
    g_autofree char *huge = g_strnfill (10 * 1024 * 1024, 'k');
    g_autoptr (GError) error = NULL;
    g_autoptr (GVariant) settings = g_variant_ref_sink (one (huge, g_variant_new_string ("x")));

    g_assert_false (vireo_machine_config_apply_settings (config, settings, FALSE, &error));
    g_assert_error (error, VIREO_ERROR, VIREO_ERROR_INVALID_ARGUMENT);
    g_assert_cmpuint (strlen (error->message), <, 200);
    g_assert_nonnull (strstr (error->message, "kkkk…"));
    g_clear_error (&error);
    g_clear_pointer (&settings, g_variant_unref);
    settings = g_variant_ref_sink (one ("bell\a\x1b[31m", g_variant_new_string ("x")));
    g_assert_false (vireo_machine_config_apply_settings (config, settings, FALSE, &error));
    g_assert_nonnull (strstr (error->message, "“bell\\x07\\x1b[31m”"));
  }
}

static void
test_ranges (Files *files, gconstpointer data)
{
  g_autoptr (VireoMachineConfig) config = kernel_machine (files);
  g_autoptr (GError) error = NULL;
  uint64_t host_mib = hv_host_memory_limit () >> 20;
  g_autoptr (GVariant) ok_memory = one ("memory-mib", g_variant_new_uint64 (32));
  g_autoptr (GVariant) ok_vcpus = one ("vcpus", g_variant_new_uint32 (64));

  assert_refused (config, one ("memory-mib", g_variant_new_uint64 (31)), FALSE, VIREO_ERROR_INVALID_ARGUMENT,
                  "memory-mib");
  assert_refused (config, one ("memory-mib", g_variant_new_uint64 (0)), FALSE, VIREO_ERROR_INVALID_ARGUMENT,
                  "memory-mib");
  assert_refused (config, one ("memory-mib", g_variant_new_uint64 (host_mib + 1)), FALSE,
                  VIREO_ERROR_INVALID_ARGUMENT, "more than this host has");
  assert_refused (config, one ("memory-mib", g_variant_new_uint64 (G_MAXUINT64)), FALSE,
                  VIREO_ERROR_INVALID_ARGUMENT, "memory-mib");
  assert_refused (config, one ("vcpus", g_variant_new_uint32 (0)), FALSE, VIREO_ERROR_INVALID_ARGUMENT,
                  "vcpus");
  assert_refused (config, one ("vcpus", g_variant_new_uint32 (65)), FALSE, VIREO_ERROR_INVALID_ARGUMENT,
                  "vcpus");
  assert_refused (config, one ("vcpus", g_variant_new_uint32 (G_MAXUINT32)), FALSE,
                  VIREO_ERROR_INVALID_ARGUMENT, "vcpus");

  g_assert_true (vireo_machine_config_apply_settings (config, ok_memory, FALSE, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (config->memory_mib, ==, 32);
  g_assert_true (vireo_machine_config_apply_settings (config, ok_vcpus, FALSE, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (config->vcpus, ==, 64);
}

static void
test_names (Files *files, gconstpointer data)
{
  g_autoptr (VireoMachineConfig) config = kernel_machine (files);
  g_autoptr (GError) error = NULL;
  g_autoptr (GString) long_name = g_string_new (NULL);
  g_autoptr (GVariant) trimmed = one ("name", g_variant_new_string ("\u3000  Web server 2 \t"));
  g_autoptr (GVariant) hangul = NULL;

  g_assert_true (vireo_machine_config_apply_settings (config, trimmed, FALSE, &error));
  g_assert_no_error (error);
  g_assert_cmpstr (config->name, ==, "Web server 2");

  for (int i = 0; i < 64; i++)
    g_string_append (long_name, "가");
  hangul = one ("name", g_variant_new_string (long_name->str));
  g_assert_true (vireo_machine_config_apply_settings (config, hangul, FALSE, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (g_utf8_strlen (config->name, -1), ==, 64);

  g_string_append (long_name, "가");
  assert_refused (config, one ("name", g_variant_new_string (long_name->str)), FALSE,
                  VIREO_ERROR_INVALID_ARGUMENT, "65 characters");
  assert_refused (config, one ("name", g_variant_new_string ("")), FALSE, VIREO_ERROR_INVALID_ARGUMENT,
                  "empty");
  assert_refused (config, one ("name", g_variant_new_string ("   ")), FALSE, VIREO_ERROR_INVALID_ARGUMENT,
                  "empty");
  assert_refused (config, one ("name", g_variant_new_string ("two\nlines")), FALSE,
                  VIREO_ERROR_INVALID_ARGUMENT, "control character");
  assert_refused (config, one ("name", g_variant_new_string ("bell\a")), FALSE, VIREO_ERROR_INVALID_ARGUMENT,
                  "control character");
  assert_refused (config, one ("name", g_variant_new_string ("c1\xc2\x85")), FALSE,
                  VIREO_ERROR_INVALID_ARGUMENT, "control character");
}

static void
test_enums_and_text (Files *files, gconstpointer data)
{
  g_autoptr (VireoMachineConfig) config = kernel_machine (files);
  g_autofree char *huge_notes = g_strnfill (100 * 1024, 'n');
  g_autofree char *huge_cmdline = g_strnfill (5000, 'c');
  g_autofree char *huge_name = g_strnfill (10000, 'a');
  g_autoptr (GVariant) all = NULL;
  g_autoptr (GError) error = NULL;

  assert_refused (config, one ("boot", g_variant_new_string ("pxe")), FALSE, VIREO_ERROR_INVALID_ARGUMENT,
                  "“boot”");
  assert_refused (config, one ("network", g_variant_new_string ("bridge")), FALSE,
                  VIREO_ERROR_INVALID_ARGUMENT, "“network”");
  assert_refused (config, one ("auto-start", g_variant_new_string ("sometimes")), FALSE,
                  VIREO_ERROR_INVALID_ARGUMENT, "“auto-start”");
  assert_refused (config, one ("auto-stop", g_variant_new_string ("hibernate")), FALSE,
                  VIREO_ERROR_INVALID_ARGUMENT, "“auto-stop”");
  assert_refused (config, one ("network", g_variant_new_string ("NAT")), FALSE, VIREO_ERROR_INVALID_ARGUMENT,
                  "“network”");
  assert_refused (config, one ("cpuid-mask", g_variant_new_string ("cx16")), FALSE,
                  VIREO_ERROR_INVALID_ARGUMENT, "“cpuid-mask”");
  assert_refused (config, one ("cpuid-mask", g_variant_new_string ("-no-such-feature")), FALSE,
                  VIREO_ERROR_INVALID_ARGUMENT, "“cpuid-mask”");
  assert_refused (config, one ("notes", g_variant_new_string (huge_notes)), FALSE,
                  VIREO_ERROR_INVALID_ARGUMENT, "“notes”");
  assert_refused (config, one ("notes", g_variant_new_string ("nul-ish \x01")), FALSE,
                  VIREO_ERROR_INVALID_ARGUMENT, "“notes”");
  assert_refused (config, one ("cmdline", g_variant_new_string (huge_cmdline)), FALSE,
                  VIREO_ERROR_INVALID_ARGUMENT, "“cmdline”");
  assert_refused (config, one ("cmdline", g_variant_new_string ("a\nb")), FALSE, VIREO_ERROR_INVALID_ARGUMENT,
                  "“cmdline”");
  assert_refused (config, one ("name", g_variant_new_string (huge_name)), FALSE, VIREO_ERROR_INVALID_ARGUMENT,
                  "“name”");

  /* network "nat" and display are settings now; whether they can run is decided at start. */
  all = g_variant_ref_sink (g_variant_new_parsed ("{'network': <'nat'>, 'display': <true>, 'cpuid-mask': "
                                                  "<'-cx16,-avx512f'>, 'auto-start': <'if-running'>,"
                                                  " 'auto-stop': <'turn-off'>, 'notes': <'tab\there'>}"));
  g_assert_true (vireo_machine_config_apply_settings (config, all, FALSE, &error));
  g_assert_no_error (error);
  g_assert_cmpstr (config->network, ==, "nat");
  g_assert_true (config->display);
  g_assert_cmpstr (config->cpuid_mask, ==, "-cx16,-avx512f");
  g_assert_cmpstr (config->auto_start, ==, "if-running");
  g_assert_cmpstr (config->auto_stop, ==, "turn-off");
}

static void
test_paths (Files *files, gconstpointer data)
{
  g_autoptr (VireoMachineConfig) config = kernel_machine (files);
  g_autofree char *missing = g_build_filename (files->dir, "no-such-kernel", NULL);
  g_autofree char *through_file = g_build_filename (files->kernel, "x", NULL);
  g_autoptr (GVariant) clear_initrd = one ("initrd", g_variant_new_string (""));
  g_autoptr (GError) error = NULL;

  assert_refused (config, one ("kernel", g_variant_new_string ("vmlinuz")), FALSE,
                  VIREO_ERROR_INVALID_ARGUMENT, "absolute");
  assert_refused (config, one ("kernel", g_variant_new_string (missing)), FALSE, VIREO_ERROR_NOT_FOUND,
                  missing);
  assert_refused (config, one ("initrd", g_variant_new_string (missing)), FALSE, VIREO_ERROR_NOT_FOUND,
                  missing);
  assert_refused (config, one ("kernel", g_variant_new_string (through_file)), FALSE, VIREO_ERROR_NOT_FOUND,
                  through_file);
  assert_refused (config, one ("kernel", g_variant_new_string (files->dir)), FALSE,
                  VIREO_ERROR_INVALID_ARGUMENT, "not a regular file");
  assert_refused (config, one ("kernel", g_variant_new_string ("/dev/null")), FALSE,
                  VIREO_ERROR_INVALID_ARGUMENT, "not a regular file");

  g_assert_true (vireo_machine_config_apply_settings (config, clear_initrd, FALSE, &error));
  g_assert_no_error (error);
  g_assert_cmpstr (config->initrd, ==, "");
}

static void
test_unreadable_file (Files *files, gconstpointer data)
{
  g_autoptr (VireoMachineConfig) config = kernel_machine (files);

  /* Root reads everything itself; files are opened with the rights of the user who named them, so as
   * root the test names them as "nobody" (the folder is opened up for that user, the files are not). */
  if (geteuid () == 0)
    {
      config->files_uid = 65534;
      g_assert_cmpint (chmod (files->dir, 0755), ==, 0);
    }
  g_assert_cmpint (chmod (files->initrd, 0), ==, 0);
  assert_refused (config, one ("initrd", g_variant_new_string (files->initrd)), FALSE,
                  VIREO_ERROR_PERMISSION_DENIED, files->initrd);
  g_assert_cmpint (chmod (files->raw, 0444), ==, 0);
  assert_refused (config, one ("disks", disks_of (disk_entry (files->raw, "raw", FALSE), NULL)), FALSE,
                  VIREO_ERROR_PERMISSION_DENIED, files->raw);
}

static void
test_disks (Files *files, gconstpointer data)
{
  g_autoptr (VireoMachineConfig) config = kernel_machine (files);
  g_autoptr (GVariant) detected = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *missing = g_build_filename (files->dir, "gone.qcow2", NULL);
  g_autofree char *empty = write_file (files->dir, "empty.img", "", 0);
  GVariantBuilder many;
  const VireoDiskConfig *disk;

  /* A qcow2 image declared raw would hand the guest the image's metadata; the reverse would not
   * open. */
  assert_refused (config, one ("disks", disks_of (disk_entry (files->qcow2, "raw", FALSE), NULL)), FALSE,
                  VIREO_ERROR_INVALID_ARGUMENT, files->qcow2);
  assert_refused (config, one ("disks", disks_of (disk_entry (files->raw, "qcow2", FALSE), NULL)), FALSE,
                  VIREO_ERROR_INVALID_ARGUMENT, files->raw);
  assert_refused (config, one ("disks", disks_of (disk_entry (files->raw, "vmdk", FALSE), NULL)), FALSE,
                  VIREO_ERROR_INVALID_ARGUMENT, "vmdk");
  assert_refused (config, one ("disks", disks_of (disk_entry (missing, "qcow2", FALSE), NULL)), FALSE,
                  VIREO_ERROR_NOT_FOUND, missing);
  assert_refused (config, one ("disks", disks_of (disk_entry ("disk.img", "raw", FALSE), NULL)), FALSE,
                  VIREO_ERROR_INVALID_ARGUMENT, "absolute");
  assert_refused (config,
                  one ("disks", disks_of (disk_entry (files->raw, "raw", FALSE),
                                          disk_entry (files->raw, "raw", TRUE), NULL)),
                  FALSE, VIREO_ERROR_INVALID_ARGUMENT, "twice");
  assert_refused (config,
                  one ("disks", g_variant_new_parsed ("[{'path': <%s>, 'size': <'10G'>}]", files->raw)),
                  FALSE, VIREO_ERROR_INVALID_ARGUMENT, "“size”");
  assert_refused (config, one ("disks", g_variant_new_parsed ("[{'format': <'raw'>}]")), FALSE,
                  VIREO_ERROR_INVALID_ARGUMENT, "“path”");
  assert_refused (config,
                  one ("disks", g_variant_new_parsed ("[{'path': <%s>, 'readonly': <'yes'>}]", files->raw)),
                  FALSE, VIREO_ERROR_INVALID_ARGUMENT, "“readonly”");

  g_variant_builder_init (&many, G_VARIANT_TYPE ("aa{sv}"));
  for (int i = 0; i < 17; i++)
    {
      g_autofree char *name = g_strdup_printf ("disk%d.img", i);
      g_autofree char *path = write_file (files->dir, name, "", 0);
      g_variant_builder_add_value (&many, disk_entry (path, "raw", FALSE));
    }
  assert_refused (config, one ("disks", g_variant_builder_end (&many)), FALSE, VIREO_ERROR_INVALID_ARGUMENT,
                  "at most 16");

  /* Without a declared format the image says what it is; an empty file is raw. */
  detected = one ("disks",
                  disks_of (disk_entry (files->qcow2, NULL, FALSE), disk_entry (empty, NULL, TRUE), NULL));
  g_assert_true (vireo_machine_config_apply_settings (config, detected, FALSE, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (config->disks->len, ==, 2);
  disk = g_ptr_array_index (config->disks, 0);
  g_assert_cmpstr (disk->path, ==, files->qcow2);
  g_assert_cmpstr (disk->format, ==, "qcow2");
  g_assert_false (disk->readonly);
  disk = g_ptr_array_index (config->disks, 1);
  g_assert_cmpstr (disk->format, ==, "raw");
  g_assert_true (disk->readonly);
}

static void
test_atomic_apply (Files *files, gconstpointer data)
{
  g_autoptr (VireoMachineConfig) config = kernel_machine (files);
  GVariantBuilder builder;

  /* Valid keys before the bad one must not stick. */
  g_variant_builder_init (&builder, G_VARIANT_TYPE_VARDICT);
  g_variant_builder_add (&builder, "{sv}", "name", g_variant_new_string ("Renamed"));
  g_variant_builder_add (&builder, "{sv}", "notes", g_variant_new_string ("changed"));
  g_variant_builder_add (&builder, "{sv}", "disks", disks_of (disk_entry (files->raw, "raw", FALSE), NULL));
  g_variant_builder_add (&builder, "{sv}", "vcpus", g_variant_new_uint32 (1000));
  assert_refused (config, g_variant_builder_end (&builder), FALSE, VIREO_ERROR_INVALID_ARGUMENT, "vcpus");
  g_assert_cmpstr (config->name, ==, "Kernel box");
  g_assert_cmpuint (config->disks->len, ==, 0);
}

static void
test_keys_needing_off (void)
{
  g_autoptr (GVariant) live = g_variant_ref_sink (g_variant_new_parsed (
      "{'name': <'a'>, 'notes': <'b'>, 'auto-start': <'none'>, 'auto-stop': <'save'>}"));
  g_autoptr (GVariant) mixed = g_variant_ref_sink (
      g_variant_new_parsed ("{'name': <'a'>, 'memory-mib': <uint64 64>, 'notes': <''>, 'disks': "
                            "<@aa{sv} []>, 'display': <true>}"));
  g_autoptr (GVariant) empty = g_variant_ref_sink (g_variant_new_parsed ("@a{sv} {}"));
  g_autofree char *none = vireo_machine_config_keys_needing_off (live);
  g_autofree char *some = vireo_machine_config_keys_needing_off (mixed);
  g_autofree char *nothing = vireo_machine_config_keys_needing_off (empty);

  g_assert_null (none);
  g_assert_cmpstr (some, ==, "memory-mib, disks, display");
  g_assert_null (nothing);
}

static VireoMachineConfig *
parse_ok (const char *xml)
{
  g_autoptr (GError) error = NULL;
  VireoMachineConfig *config = vireo_machine_config_new_from_xml (xml, &error);

  g_assert_no_error (error);
  g_assert_nonnull (config);
  return config;
}

static void
assert_parse_fails (const char *xml, int code, const char *needle)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (VireoMachineConfig) config = vireo_machine_config_new_from_xml (xml, &error);

  g_assert_null (config);
  g_assert_error (error, VIREO_ERROR, code);
  if (needle != NULL && strstr (error->message, needle) == NULL)
    g_error ("“%s” does not mention “%s”", error->message, needle);
}

static void
assert_contains (const char *haystack, const char *needle)
{
  if (strstr (haystack, needle) == NULL)
    g_error ("expected “%s” in:\n%s", needle, haystack);
}

static void
test_export (Files *files, gconstpointer data)
{
  g_autoptr (VireoMachineConfig) kernel = kernel_machine (files);
  g_autoptr (VireoMachineConfig) disk = disk_machine (files);
  g_autofree char *kernel_xml = vireo_machine_config_to_xml (kernel);
  g_autofree char *disk_xml = vireo_machine_config_to_xml (disk);
  g_autofree char *uuid = g_strdup_printf ("<uuid>%s</uuid>", kernel->uuid);
  g_autofree char *kernel_path = g_strdup_printf ("<kernel>%s</kernel>", files->kernel);
  g_autofree char *initrd_path = g_strdup_printf ("<initrd>%s</initrd>", files->initrd);
  g_autofree char *qcow2_source = g_strdup_printf ("<source file=\"%s\"/>", files->qcow2);

  assert_contains (kernel_xml, "<domain type=\"kvm\">");
  assert_contains (kernel_xml, "<name>Kernel-box</name>");
  assert_contains (kernel_xml, "<title>Kernel box</title>");
  assert_contains (kernel_xml, uuid);
  assert_contains (kernel_xml, "<description>two\nlines &amp; &lt;markup&gt;</description>");
  assert_contains (kernel_xml, "<memory unit=\"KiB\">262144</memory>");
  assert_contains (kernel_xml, "<currentMemory unit=\"KiB\">262144</currentMemory>");
  assert_contains (kernel_xml, "<vcpu>2</vcpu>");
  assert_contains (kernel_xml, "<type arch=\"x86_64\" machine=\"pc\">hvm</type>");
  assert_contains (kernel_xml, kernel_path);
  assert_contains (kernel_xml, initrd_path);
  assert_contains (kernel_xml, "<cmdline>console=ttyS0 noxsave quiet</cmdline>");
  assert_contains (kernel_xml, "<acpi/>");
  assert_contains (kernel_xml, "<apic/>");
  assert_contains (kernel_xml, "<on_poweroff>destroy</on_poweroff>");
  assert_contains (kernel_xml, "<on_reboot>restart</on_reboot>");
  assert_contains (kernel_xml, "<on_crash>destroy</on_crash>");
  assert_contains (kernel_xml, "<serial type=\"pty\"/>");
  assert_contains (kernel_xml, "<target type=\"serial\"/>");
  assert_contains (kernel_xml, "<vireo:machine xmlns:vireo=\"https://vireo.org/xmlns/vireo/1\">");
  assert_contains (kernel_xml, "<vireo:name>Kernel box</vireo:name>");
  assert_contains (kernel_xml, "<vireo:network>none</vireo:network>");
  assert_contains (kernel_xml, "<vireo:cpuid-mask>-cx16</vireo:cpuid-mask>");
  assert_contains (kernel_xml, "<vireo:auto-start>always</vireo:auto-start>");
  assert_contains (kernel_xml, "<vireo:auto-stop>shutdown</vireo:auto-stop>");
  g_assert_null (strstr (kernel_xml, "<boot dev="));
  g_assert_null (strstr (kernel_xml, "<interface"));
  g_assert_null (strstr (kernel_xml, "<graphics"));

  assert_contains (disk_xml, "<name>Desktop-test-1</name>");
  assert_contains (disk_xml, "<title>Desktop / test: 1</title>");
  assert_contains (disk_xml, "<boot dev=\"hd\"/>");
  g_assert_null (strstr (disk_xml, "<kernel>"));
  g_assert_null (strstr (disk_xml, "<description>"));
  assert_contains (disk_xml, "<driver name=\"qemu\" type=\"qcow2\"/>");
  assert_contains (disk_xml, "<driver name=\"qemu\" type=\"raw\"/>");
  assert_contains (disk_xml, qcow2_source);
  assert_contains (disk_xml, "<target dev=\"vda\" bus=\"virtio\"/>");
  assert_contains (disk_xml, "<target dev=\"vdb\" bus=\"virtio\"/>");
  assert_contains (disk_xml, "<readonly/>");
  assert_contains (disk_xml, "<interface type=\"user\">");
  assert_contains (disk_xml, "<model type=\"virtio\"/>");
  assert_contains (disk_xml, "<graphics type=\"spice\" autoport=\"no\">");
  assert_contains (disk_xml, "<listen type=\"none\"/>");
  assert_contains (disk_xml, "<model type=\"virtio\"/>");
  assert_contains (disk_xml, "<video>");
}

static void
test_libvirt_names (void)
{
  static const struct
  {
    const char *name;
    const char *libvirt;
  } cases[] = {
    { "web01", "web01" },       { "My VM", "My-VM" },    { "a/b\\c:d", "a-b-c-d" },
    { "--dashes--", "dashes" }, { ".hidden", "hidden" }, { "Ubuntu 24.04 (LTS)", "Ubuntu-24.04-LTS" },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr (VireoMachineConfig) config = vireo_machine_config_new ();
      g_autofree char *xml = NULL;
      g_autofree char *expected = g_strdup_printf ("<name>%s</name>", cases[i].libvirt);

      g_free (config->name);
      config->name = g_strdup (cases[i].name);
      xml = vireo_machine_config_to_xml (config);
      assert_contains (xml, expected);
    }

  {
    g_autoptr (VireoMachineConfig) config = vireo_machine_config_new ();
    g_autofree char *xml = NULL;
    g_autofree char *expected = NULL;

    g_free (config->name);
    config->name = g_strdup ("우분투 서버");
    xml = vireo_machine_config_to_xml (config);
    expected = g_strdup_printf ("<name>vireo-%.8s</name>", config->uuid);
    assert_contains (xml, expected);
    assert_contains (xml, "<title>우분투 서버</title>");
  }
}

static void
test_round_trip (Files *files, gconstpointer data)
{
  VireoMachineConfig *configs[] = { kernel_machine (files), disk_machine (files) };

  /* The checkpoint settings and the guest agent's channel come back too. */
  g_free (configs[1]->checkpoint_kind);
  configs[1]->checkpoint_kind = g_strdup ("production");
  configs[1]->automatic_checkpoints = TRUE;
  configs[1]->guest_agent = TRUE;
  for (guint i = 0; i < G_N_ELEMENTS (configs); i++)
    {
      g_autoptr (VireoMachineConfig) config = configs[i];
      g_autofree char *xml = vireo_machine_config_to_xml (config);
      g_autoptr (VireoMachineConfig) parsed = parse_ok (xml);
      g_autofree char *again = vireo_machine_config_to_xml (parsed);

      assert_same_config (config, parsed);
      g_assert_cmpstr (xml, ==, again);
      g_assert_cmpint (parsed->guest_agent, ==, i == 1);
      if (i == 1)
        {
          g_autoptr (HvMachineSpec) spec = vireo_machine_config_to_spec (parsed);
          g_assert_nonnull (strstr (xml, "org.qemu.guest_agent.0"));
          g_assert_nonnull (hv_machine_spec_lookup_device (spec, VIREO_GUEST_AGENT_DEVICE));
          g_assert_true (hv_machine_spec_check (spec, HV_SPEC_CHECK_WITHOUT_FDS, NULL));
        }
    }
}

static void
run_validator (const char *xml, const char *dir)
{
  g_autofree char *validator = g_find_program_in_path ("virt-xml-validate");
  g_autofree char *path = NULL;
  g_autofree char *out = NULL;
  g_autofree char *err = NULL;
  g_autoptr (GError) error = NULL;
  int status = 0;

  path = write_file (dir, "domain.xml", xml, strlen (xml));
  {
    const char *argv[] = { validator, path, "domain", NULL };
    g_assert_true (
        g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_DEFAULT, NULL, NULL, &out, &err, &status, &error));
  }
  g_assert_no_error (error);
  if (!g_spawn_check_wait_status (status, NULL))
    g_error ("virt-xml-validate refused our XML:\n%s\n%s%s", xml, out, err);
  g_assert_cmpint (unlink (path), ==, 0);
}

static void
test_validates (Files *files, gconstpointer data)
{
  g_autofree char *validator = g_find_program_in_path ("virt-xml-validate");
  g_autoptr (VireoMachineConfig) kernel = kernel_machine (files);
  g_autoptr (VireoMachineConfig) disk = disk_machine (files);
  g_autoptr (VireoMachineConfig) plain = vireo_machine_config_new ();
  g_autofree char *kernel_xml = vireo_machine_config_to_xml (kernel);
  g_autofree char *disk_xml = vireo_machine_config_to_xml (disk);
  g_autofree char *plain_xml = NULL;

  if (validator == NULL)
    {
      g_test_skip ("virt-xml-validate is not installed (package libvirt-clients)");
      return;
    }
  /* Without notes, initrd or command line. */
  g_free (plain->name);
  plain->name = g_strdup ("가");
  g_free (plain->kernel);
  plain->kernel = g_strdup (files->kernel);
  plain->guest_agent = TRUE;
  plain_xml = vireo_machine_config_to_xml (plain);

  run_validator (kernel_xml, files->dir);
  run_validator (disk_xml, files->dir);
  run_validator (plain_xml, files->dir);
}

/* What virt-manager writes for a direct kernel boot (virt-install --boot kernel=...,initrd=...). */
static const char virt_manager_kernel_xml[]
    = "<domain type='kvm' id='3'>\n"
      "  <name>fedora-kernel</name>\n"
      "  <uuid>5A6E2C1D-7F3B-4E8A-9C0D-1B2A3C4D5E6F</uuid>\n"
      "  <metadata>\n"
      "    <libosinfo:libosinfo "
      "xmlns:libosinfo=\"http://libosinfo.org/xmlns/libvirt/domain/1.0\">\n"
      "      <libosinfo:os id=\"http://fedoraproject.org/fedora/39\"/>\n"
      "    </libosinfo:libosinfo>\n"
      "  </metadata>\n"
      "  <memory unit='KiB'>2097152</memory>\n"
      "  <currentMemory unit='KiB'>2097152</currentMemory>\n"
      "  <vcpu placement='static'>2</vcpu>\n"
      "  <resource><partition>/machine</partition></resource>\n"
      "  <os>\n"
      "    <type arch='x86_64' machine='pc-q35-7.2'>hvm</type>\n"
      "    <kernel>/var/lib/libvirt/boot/vmlinuz-6.5</kernel>\n"
      "    <initrd>/var/lib/libvirt/boot/initrd-6.5.img</initrd>\n"
      "    <cmdline>console=ttyS0 root=/dev/vda1 ro</cmdline>\n"
      "    <boot dev='hd'/>\n"
      "  </os>\n"
      "  <features><acpi/><apic/><vmport state='off'/></features>\n"
      "  <cpu mode='host-passthrough' check='none' migratable='on'/>\n"
      "  <clock offset='utc'>\n"
      "    <timer name='rtc' tickpolicy='catchup'/>\n"
      "    <timer name='pit' tickpolicy='delay'/>\n"
      "    <timer name='hpet' present='no'/>\n"
      "  </clock>\n"
      "  <on_poweroff>destroy</on_poweroff>\n"
      "  <on_reboot>restart</on_reboot>\n"
      "  <on_crash>destroy</on_crash>\n"
      "  <pm><suspend-to-mem enabled='no'/><suspend-to-disk enabled='no'/></pm>\n"
      "  <devices>\n"
      "    <emulator>/usr/bin/qemu-system-x86_64</emulator>\n"
      "    <disk type='file' device='disk'>\n"
      "      <driver name='qemu' type='qcow2' discard='unmap'/>\n"
      "      <source file='/var/lib/libvirt/images/fedora.qcow2'/>\n"
      "      <target dev='vda' bus='virtio'/>\n"
      "      <address type='pci' domain='0x0000' bus='0x04' slot='0x00' function='0x0'/>\n"
      "    </disk>\n"
      "    <controller type='usb' index='0' model='qemu-xhci' ports='15'/>\n"
      "    <controller type='pci' index='0' model='pcie-root'/>\n"
      "    <controller type='virtio-serial' index='0'/>\n"
      "    <interface type='network'>\n"
      "      <mac address='52:54:00:12:34:56'/>\n"
      "      <source network='default'/>\n"
      "      <model type='virtio'/>\n"
      "    </interface>\n"
      "    <serial type='pty'><target type='isa-serial' port='0'><model "
      "name='isa-serial'/></target></serial>\n"
      "    <console type='pty'><target type='serial' port='0'/></console>\n"
      "    <channel type='unix'>\n"
      "      <target type='virtio' name='org.qemu.guest_agent.0'/>\n"
      "    </channel>\n"
      "    <input type='tablet' bus='usb'/>\n"
      "    <input type='mouse' bus='ps2'/>\n"
      "    <input type='keyboard' bus='ps2'/>\n"
      "    <sound model='ich9'/>\n"
      "    <video><model type='qxl' ram='65536' vram='65536' vgamem='16384' heads='1' "
      "primary='yes'/></video>\n"
      "    <memballoon model='virtio'/>\n"
      "    <rng model='virtio'><backend model='random'>/dev/urandom</backend></rng>\n"
      "  </devices>\n"
      "</domain>\n";

/* What GNOME Boxes writes for an installed system (user-mode networking, SPICE, an installer ISO
 * still attached as a CD-ROM). */
static const char boxes_disk_xml[]
    = "<?xml version='1.0' encoding='UTF-8'?>\n"
      "<domain type='kvm' xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'>\n"
      "  <name>fedora39-wor</name>\n"
      "  <uuid>9d3f6b5e-2c4a-4b1e-8f7d-6a5b4c3d2e1f</uuid>\n"
      "  <title>Fedora 39 Workstation</title>\n"
      "  <description>Installed from Fedora-Workstation-Live-x86_64-39.iso</description>\n"
      "  <metadata>\n"
      "    <boxes:gnome-boxes xmlns:boxes=\"https://wiki.gnome.org/Apps/Boxes\">\n"
      "      <os-state>installed</os-state>\n"
      "      <media-id>http://fedoraproject.org/fedora/39:0</media-id>\n"
      "    </boxes:gnome-boxes>\n"
      "  </metadata>\n"
      "  <memory unit='GiB'>4</memory>\n"
      "  <currentMemory unit='MiB'>4096</currentMemory>\n"
      "  <vcpu placement='static' current='2'>4</vcpu>\n"
      "  <os>\n"
      "    <type arch='x86_64' machine='pc-q35-7.2'>hvm</type>\n"
      "    <boot dev='cdrom'/>\n"
      "    <boot dev='hd'/>\n"
      "    <bootmenu enable='no'/>\n"
      "  </os>\n"
      "  <features><acpi/><apic/></features>\n"
      "  <cpu mode='host-passthrough'><topology sockets='1' dies='1' cores='2' "
      "threads='2'/></cpu>\n"
      "  <clock offset='localtime'><timer name='rtc' tickpolicy='catchup'/></clock>\n"
      "  <on_poweroff>destroy</on_poweroff>\n"
      "  <on_reboot>destroy</on_reboot>\n"
      "  <on_crash>destroy</on_crash>\n"
      "  <devices>\n"
      "    <disk type='file' device='disk'>\n"
      "      <driver name='qemu' type='qcow2' cache='writeback'/>\n"
      "      <source file='/home/ann/.local/share/gnome-boxes/images/fedora39-wor'/>\n"
      "      <target dev='hda' bus='ide'/>\n"
      "    </disk>\n"
      "    <disk type='file' device='cdrom'>\n"
      "      <driver name='qemu' type='raw'/>\n"
      "      <source file='/home/ann/Downloads/Fedora-Workstation-Live-x86_64-39.iso' "
      "startupPolicy='optional'/>\n"
      "      <target dev='hdc' bus='ide'/>\n"
      "      <readonly/>\n"
      "    </disk>\n"
      "    <disk type='file' device='disk'>\n"
      "      <driver name='qemu' type='raw'/>\n"
      "      <source file='/home/ann/data.img'/>\n"
      "      <target dev='hdb' bus='ide'/>\n"
      "      <readonly/>\n"
      "    </disk>\n"
      "    <controller type='usb' index='0' model='ich9-ehci1'/>\n"
      "    <controller type='usb' index='0' model='ich9-uhci1'><master "
      "startport='0'/></controller>\n"
      "    <interface type='user'>\n"
      "      <mac address='52:54:00:aa:bb:cc'/>\n"
      "      <model type='virtio'/>\n"
      "    </interface>\n"
      "    <smartcard mode='passthrough' type='spicevmc'/>\n"
      "    <channel type='spicevmc'><target type='virtio' name='com.redhat.spice.0'/></channel>\n"
      "    <channel type='spiceport'>\n"
      "      <source channel='org.spice-space.webdav.0'/>\n"
      "      <target type='virtio' name='org.spice-space.webdav.0'/>\n"
      "    </channel>\n"
      "    <input type='tablet' bus='usb'/>\n"
      "    <graphics type='spice'>\n"
      "      <listen type='none'/>\n"
      "      <image compression='off'/>\n"
      "      <gl enable='no'/>\n"
      "    </graphics>\n"
      "    <sound model='ich9'/>\n"
      "    <video><model type='qxl' ram='65536' vram='65536' vgamem='16384' heads='1' "
      "primary='yes'/></video>\n"
      "    <redirdev bus='usb' type='spicevmc'/>\n"
      "    <redirdev bus='usb' type='spicevmc'/>\n"
      "  </devices>\n"
      "  <qemu:commandline><qemu:arg value='-snapshot'/></qemu:commandline>\n"
      "</domain>\n";

static void
test_import_virt_manager_kernel (void)
{
  g_autoptr (VireoMachineConfig) config = parse_ok (virt_manager_kernel_xml);
  const VireoDiskConfig *disk;

  g_assert_cmpstr (config->uuid, ==, "5a6e2c1d-7f3b-4e8a-9c0d-1b2a3c4d5e6f");
  g_assert_cmpstr (config->name, ==, "fedora-kernel");
  /* Its guest agent channel. */
  g_assert_true (config->guest_agent);
  g_assert_cmpuint (config->memory_mib, ==, 2048);
  g_assert_cmpuint (config->vcpus, ==, 2);
  g_assert_cmpstr (config->boot, ==, "kernel");
  g_assert_cmpstr (config->kernel, ==, "/var/lib/libvirt/boot/vmlinuz-6.5");
  g_assert_cmpstr (config->initrd, ==, "/var/lib/libvirt/boot/initrd-6.5.img");
  g_assert_cmpstr (config->cmdline, ==, "console=ttyS0 root=/dev/vda1 ro");
  g_assert_cmpuint (config->disks->len, ==, 1);
  disk = g_ptr_array_index (config->disks, 0);
  g_assert_cmpstr (disk->path, ==, "/var/lib/libvirt/images/fedora.qcow2");
  g_assert_cmpstr (disk->format, ==, "qcow2");
  g_assert_false (disk->readonly);
  g_assert_cmpstr (config->network, ==, "nat");
  g_assert_false (config->display);
  g_assert_cmpstr (config->notes, ==, "");
  g_assert_cmpstr (config->auto_start, ==, "none");
  g_assert_cmpstr (config->auto_stop, ==, "save");
}

static void
test_import_boxes_disk (void)
{
  g_autoptr (VireoMachineConfig) config = parse_ok (boxes_disk_xml);
  g_autoptr (GError) error = NULL;
  g_autofree char *xml = NULL;
  g_autoptr (VireoMachineConfig) again = NULL;
  const VireoDiskConfig *disk;

  g_assert_cmpstr (config->uuid, ==, "9d3f6b5e-2c4a-4b1e-8f7d-6a5b4c3d2e1f");
  g_assert_cmpstr (config->name, ==, "Fedora 39 Workstation");
  g_assert_cmpstr (config->notes, ==, "Installed from Fedora-Workstation-Live-x86_64-39.iso");
  g_assert_cmpuint (config->memory_mib, ==, 4096);
  g_assert_cmpuint (config->vcpus, ==, 4);
  g_assert_cmpstr (config->boot, ==, "disk");
  g_assert_cmpstr (config->kernel, ==, "");
  /* The IDE disks and CD-ROM come over as SATA ones, in their order, with format, read-only flag and
   * cache; the old-style <os><boot dev=…> order becomes theirs (CD-ROM first, then the disk). */
  g_assert_cmpuint (config->disks->len, ==, 3);
  disk = g_ptr_array_index (config->disks, 0);
  g_assert_cmpstr (disk->path, ==, "/home/ann/.local/share/gnome-boxes/images/fedora39-wor");
  g_assert_cmpstr (disk->format, ==, "qcow2");
  g_assert_false (disk->readonly);
  g_assert_cmpstr (disk->device, ==, "disk");
  g_assert_cmpstr (disk->bus, ==, "sata");
  g_assert_cmpstr (disk->target, ==, "sda");
  g_assert_cmpstr (disk->cache, ==, "writeback");
  g_assert_cmpuint (disk->boot_order, ==, 2);
  disk = g_ptr_array_index (config->disks, 1);
  g_assert_cmpstr (disk->path, ==, "/home/ann/Downloads/Fedora-Workstation-Live-x86_64-39.iso");
  g_assert_cmpstr (disk->device, ==, "cdrom");
  g_assert_cmpstr (disk->bus, ==, "sata");
  g_assert_cmpstr (disk->target, ==, "sdb");
  g_assert_true (disk->readonly);
  g_assert_cmpuint (disk->boot_order, ==, 1);
  disk = g_ptr_array_index (config->disks, 2);
  g_assert_cmpstr (disk->path, ==, "/home/ann/data.img");
  g_assert_cmpstr (disk->format, ==, "raw");
  g_assert_true (disk->readonly);
  g_assert_cmpstr (disk->target, ==, "sdc");
  g_assert_cmpuint (disk->boot_order, ==, 0);
  g_assert_cmpstr (config->network, ==, "nat");
  g_assert_true (config->display);

  /* Once imported, it is ours: exporting and reading back changes nothing. */
  xml = vireo_machine_config_to_xml (config);
  again = parse_ok (xml);
  assert_same_config (config, again);
}

static char *
domain_with (const char *memory, const char *os, const char *devices)
{
  return g_strdup_printf ("<domain type='kvm'><name>t</name>%s<os>%s</os><devices>%s</devices></domain>",
                          memory, os, devices);
}

#define KERNEL_OS "<type arch='x86_64'>hvm</type><kernel>/boot/vmlinuz</kernel>"

static void
test_import_memory_units (void)
{
  static const struct
  {
    const char *element;
    uint64_t mib;
  } cases[] = {
    { "<memory>1048576</memory>", 1024 },
    { "<memory unit='KiB'>524288</memory>", 512 },
    { "<memory unit='k'>524288</memory>", 512 },
    { "<memory unit='b'>1073741824</memory>", 1024 },
    { "<memory unit='bytes'>1073741824</memory>", 1024 },
    { "<memory unit='KB'>1048576000</memory>", 1000000 },
    { "<memory unit='M'>300</memory>", 300 },
    { "<memory unit='MiB'>300</memory>", 300 },
    { "<memory unit='MB'>1000</memory>", 953 },
    { "<memory unit='G'>2</memory>", 2048 },
    { "<memory unit='GiB'>3</memory>", 3072 },
    { "<memory unit='GB'>1</memory>", 953 },
    { "<memory unit='TiB'>1</memory>", 1024 * 1024 },
    { "<memory unit='KiB'> 65536 </memory>", 64 },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *xml = domain_with (cases[i].element, KERNEL_OS, "");
      g_autoptr (VireoMachineConfig) config = parse_ok (xml);

      g_assert_cmpuint (config->memory_mib, ==, cases[i].mib);
    }
}

static void
test_import_refusals (void)
{
  static const struct
  {
    const char *memory;
    const char *os;
    const char *devices;
    int code;
    const char *needle;
  } cases[] = {
    /* Memory that cannot be: too little, an unknown unit, a wrapped negative, more bytes than
       exist. */
    { "<memory unit='MiB'>16</memory>", KERNEL_OS, "", VIREO_ERROR_INVALID_ARGUMENT, "memory-mib" },
    { "<memory unit='furlongs'>5</memory>", KERNEL_OS, "", VIREO_ERROR_INVALID_ARGUMENT, "furlongs" },
    { "<memory unit='KiB'>-5</memory>", KERNEL_OS, "", VIREO_ERROR_INVALID_ARGUMENT, "<memory>" },
    { "<memory unit='GiB'>99999999999999999</memory>", KERNEL_OS, "", VIREO_ERROR_INVALID_ARGUMENT,
      "too large" },
    { "<memory unit='EiB'>1</memory>", KERNEL_OS, "", VIREO_ERROR_INVALID_ARGUMENT, "too large" },
    { "<memory>lots</memory>", KERNEL_OS, "", VIREO_ERROR_INVALID_ARGUMENT, "<memory>" },
    { "", KERNEL_OS, "", VIREO_ERROR_INVALID_ARGUMENT, "<memory>" },
    { "<memory>65536</memory><vcpu>65</vcpu>", KERNEL_OS, "", VIREO_ERROR_INVALID_ARGUMENT, "vcpus" },
    { "<memory>65536</memory><vcpu>99999999999999999999</vcpu>", KERNEL_OS, "", VIREO_ERROR_INVALID_ARGUMENT,
      "<vcpu>" },
    { "<memory>65536</memory><vcpu>two</vcpu>", KERNEL_OS, "", VIREO_ERROR_INVALID_ARGUMENT, "<vcpu>" },
    { "<memory>65536</memory><vcpu>0</vcpu>", KERNEL_OS, "", VIREO_ERROR_INVALID_ARGUMENT, "vcpus" },
    /* What Vireo cannot run. */
    { "<memory>65536</memory>", "<type arch='aarch64' machine='virt'>hvm</type><kernel>/k</kernel>", "",
      VIREO_ERROR_NOT_SUPPORTED, "aarch64" },
    { "<memory>65536</memory>", "<type arch='i686'>hvm</type><kernel>/k</kernel>", "",
      VIREO_ERROR_NOT_SUPPORTED, "x86_64" },
    { "<memory>65536</memory>", "<type>xen</type><kernel>/k</kernel>", "", VIREO_ERROR_NOT_SUPPORTED, "hvm" },
    { "<memory>65536</memory>", "<type arch='x86_64'>hvm</type>", "", VIREO_ERROR_NOT_SUPPORTED,
      "neither a kernel nor a disk" },
    { "<memory>65536</memory>", "<type arch='x86_64'>hvm</type>",
      "<disk type='file' device='disk'><source file='/vm/a.img'/><target dev='sda' bus='usb'/></disk>",
      VIREO_ERROR_NOT_SUPPORTED, "usb" },
    { "<memory>65536</memory>", "<type arch='x86_64'>hvm</type>",
      "<disk type='file' device='cdrom'><source file='/iso/a.iso'/><target dev='vda' bus='virtio'/></disk>",
      VIREO_ERROR_NOT_SUPPORTED, "CD-ROM" },
    { "<memory>65536</memory>", "<type arch='x86_64'>hvm</type>",
      "<disk type='file' device='disk'><source file='/vm/a.img'/><target dev='vda'/><boot "
      "order='99'/></disk>",
      VIREO_ERROR_NOT_SUPPORTED, "boot order" },
    { "<memory>65536</memory>", "<type arch='x86_64'>hvm</type>",
      "<disk type='block' device='disk'><source dev='/dev/sdb'/><target dev='vda'/></disk>",
      VIREO_ERROR_NOT_SUPPORTED, "/dev/sdb" },
    { "<memory>65536</memory>", "<type arch='x86_64'>hvm</type>",
      "<disk type='file' device='disk'><driver name='qemu' type='vmdk'/><source file='/vm/a.vmdk'/>"
      "<target dev='vda'/></disk>",
      VIREO_ERROR_NOT_SUPPORTED, "vmdk" },
    { "<memory>65536</memory>", "<type arch='x86_64'>hvm</type><kernel>relative/vmlinuz</kernel>", "",
      VIREO_ERROR_INVALID_ARGUMENT, "absolute" },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *xml = domain_with (cases[i].memory, cases[i].os, cases[i].devices);
      assert_parse_fails (xml, cases[i].code, cases[i].needle);
    }
}

static void
test_import_names_and_ids (void)
{
  g_autoptr (VireoMachineConfig) generated = NULL;
  g_autoptr (VireoMachineConfig) long_machine = NULL;
  g_autoptr (VireoMachineConfig) titled = NULL;
  g_autofree char *long_name = g_strnfill (65, 'n');
  g_autofree char *long_xml = g_strdup_printf (
      "<domain type='kvm'><name>%s</name><memory>65536</memory><os>" KERNEL_OS "</os></domain>", long_name);

  assert_parse_fails ("<domain type='kvm'><memory>65536</memory><os>" KERNEL_OS "</os></domain>",
                      VIREO_ERROR_INVALID_ARGUMENT, "<name>");
  assert_parse_fails ("<domain type='kvm'><name>  </name><memory>65536</memory><os>" KERNEL_OS
                      "</os></domain>",
                      VIREO_ERROR_INVALID_ARGUMENT, "name");
  assert_parse_fails (
      "<domain type='kvm'><name>a</name><uuid>not-a-uuid</uuid><memory>65536</memory><os>" KERNEL_OS
      "</os></domain>",
      VIREO_ERROR_INVALID_ARGUMENT, "not-a-uuid");
  assert_parse_fails ("<domain type='xen'><name>a</name><memory>65536</memory><os>" KERNEL_OS
                      "</os></domain>",
                      VIREO_ERROR_NOT_SUPPORTED, "KVM");
  /* Our metadata is checked like settings. */
  assert_parse_fails ("<domain type='kvm'><name>a</name><memory>65536</memory><os>" KERNEL_OS
                      "</os><metadata>"
                      "<v:machine xmlns:v='https://vireo.org/xmlns/vireo/1'><v:name>a</v:name>"
                      "<v:network>warp</v:network></v:machine></metadata></domain>",
                      VIREO_ERROR_INVALID_ARGUMENT, "warp");

  /* Another tool's names are cleaned up rather than refused: cut to 64 characters, control
   * characters made spaces. */
  long_machine = parse_ok (long_xml);
  g_assert_cmpuint (strlen (long_machine->name), ==, 64);
  titled = parse_ok (
      "<domain type='kvm'><name>a</name><title>\t Two&#10;lines\u3000</title><memory>65536</memory>"
      "<os>" KERNEL_OS "</os></domain>");
  g_assert_cmpstr (titled->name, ==, "Two lines");

  /* No UUID: a fresh one.  A QEMU (TCG) domain is fine: Vireo runs it under KVM. */
  generated = parse_ok ("<domain type='qemu'><name>a</name><memory>65536</memory><os>" KERNEL_OS
                        "</os></domain>");
  g_assert_true (vireo_machine_config_is_canonical_uuid (generated->uuid));
  g_assert_cmpuint (generated->memory_mib, ==, 64);
  g_assert_cmpuint (generated->vcpus, ==, 1);
  g_assert_cmpstr (generated->network, ==, "none");
}

static void
test_import_garbage (void)
{
  static const char *const garbage[] = {
    "",
    "not xml at all",
    "<domain",
    "<domain type='kvm'><name>a</name>",
    "<?xml version='1.0'?>",
    "\x01\x02\x03\xff\xfe",
    "<domain type='kvm'><name>a</name><memory>65536</memory><os>" KERNEL_OS "</os></domain><domain/>",
  };
  g_autoptr (GString) huge = g_string_new ("<domain type='kvm'><name>a</name><description>");

  for (guint i = 0; i < G_N_ELEMENTS (garbage); i++)
    assert_parse_fails (garbage[i], VIREO_ERROR_INVALID_ARGUMENT, NULL);
  assert_parse_fails ("<network><name>default</name></network>", VIREO_ERROR_INVALID_ARGUMENT, NULL);

  while (huge->len < 2 * 1024 * 1024)
    g_string_append (huge, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
  g_string_append (huge, "</description><memory>65536</memory><os>" KERNEL_OS "</os></domain>");
  assert_parse_fails (huge->str, VIREO_ERROR_INVALID_ARGUMENT, "limit");
}

/* XML within the size limit but of a shape no definition has is refused quickly, before libxml2 (whose
 * attribute checks are quadratic: 90,000 attributes on one element took 88 s), naming the limit and
 * where, and echoing none of it. */
static void
test_import_hostile_shapes (void)
{
  g_autoptr (GString) attributes = g_string_new ("<domain type='kvm'><name>a</name><x");
  g_autoptr (GString) deep = g_string_new ("<domain type='kvm'>");
  g_autoptr (GString) many = g_string_new ("<domain type='kvm'><name>a</name>");
  gint64 start = g_get_monotonic_time ();

  for (int i = 0; i < 90000; i++)
    g_string_append_printf (attributes, " a%d='1'", i);
  g_string_append (attributes, "/></domain>");
  g_assert_cmpuint (attributes->len, <, 1024 * 1024);
  assert_parse_fails (attributes->str, VIREO_ERROR_INVALID_ARGUMENT, "64 attributes per element");
  g_string_assign (attributes, "<domain type='kvm'><name>a</name><x");
  for (int i = 0; i < 100; i++)
    g_string_append_printf (attributes, " a%d='1'", i);
  g_string_append (attributes, "/></domain>");
  assert_parse_fails (attributes->str, VIREO_ERROR_INVALID_ARGUMENT, "100 attributes; the limit is 64");

  for (int i = 0; i < 40; i++)
    g_string_append (deep, "<d>");
  assert_parse_fails (deep->str, VIREO_ERROR_INVALID_ARGUMENT, "more than 32 deep");

  for (int i = 0; i < 20000; i++)
    g_string_append (many, "<e/>");
  g_string_append (many, "</domain>");
  assert_parse_fails (many->str, VIREO_ERROR_INVALID_ARGUMENT, "more than 10000 elements");

  /* Values libvirt-gconfig reads as enumerations and does not know (it would log a critical warning,
   * fatal in tests) are refused first, named. */
  assert_parse_fails ("<domain type='xen'><name>a</name></domain>", VIREO_ERROR_NOT_SUPPORTED,
                      "“xen” domain");
  assert_parse_fails (
      "<domain type='kvm'><name>a</name><devices><disk type='volume' device='disk'/></devices>"
      "</domain>",
      VIREO_ERROR_NOT_SUPPORTED, "of type “volume”");
  assert_parse_fails ("<domain type='kvm'><name>a</name><devices><disk type='file' device='lun'/></devices>"
                      "</domain>",
                      VIREO_ERROR_NOT_SUPPORTED, "a “lun” device");

  assert_parse_fails ("<domain type='kvm'><name>secret-token-123</nam></domain>",
                      VIREO_ERROR_INVALID_ARGUMENT, "not well-formed XML");
  g_test_message ("three hostile shapes refused in %" G_GINT64_FORMAT " ms",
                  (g_get_monotonic_time () - start) / 1000);
}

/* Disks of every kind: a SATA disk, a CD-ROM with a medium and an empty one, targets given and
 * assigned, boot order and cache; then the refusals that keep a definition sensible. */
static void
test_disk_kinds (Files *files, gconstpointer data)
{
  g_autoptr (VireoMachineConfig) config = kernel_machine (files);
  g_autoptr (GVariant) settings = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (HvMachineSpec) spec = NULL;
  g_autofree char *xml = NULL;
  g_autoptr (VireoMachineConfig) again = NULL;
  g_autofree char *validator = g_find_program_in_path ("virt-xml-validate");
  const VireoDiskConfig *disk;

  settings = g_variant_ref_sink (
      g_variant_new_parsed ("{'boot': <'disk'>, 'kernel': <''>, 'initrd': <''>, 'cmdline': <''>,"
                            " 'disks': <[{'path': <%s>, 'boot-order': <uint32 2>, 'cache': <'none'>},"
                            " {'path': <%s>, 'bus': <'sata'>, 'readonly': <true>},"
                            " {'path': <%s>, 'device': <'cdrom'>, 'boot-order': <uint32 1>},"
                            " {'device': <'cdrom'>, 'target': <'sdf'>}]>}",
                            files->qcow2, files->raw, files->initrd));
  vireo_machine_config_apply_settings (config, settings, FALSE, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (config->disks->len, ==, 4);
  disk = g_ptr_array_index (config->disks, 0);
  g_assert_cmpstr (disk->target, ==, "vda");
  g_assert_cmpstr (disk->bus, ==, "virtio");
  g_assert_cmpstr (disk->cache, ==, "none");
  g_assert_cmpuint (disk->boot_order, ==, 2);
  disk = g_ptr_array_index (config->disks, 1);
  g_assert_cmpstr (disk->target, ==, "sda");
  g_assert_cmpstr (disk->bus, ==, "sata");
  g_assert_cmpstr (disk->device, ==, "disk");
  disk = g_ptr_array_index (config->disks, 2);
  g_assert_cmpstr (disk->target, ==, "sdb");
  g_assert_cmpstr (disk->device, ==, "cdrom");
  g_assert_true (disk->readonly);
  g_assert_cmpstr (disk->bus, ==, "sata");
  disk = g_ptr_array_index (config->disks, 3);
  g_assert_cmpstr (disk->target, ==, "sdf");
  g_assert_cmpstr (disk->path, ==, "");
  g_assert_cmpstr (disk->format, ==, "raw");
  g_assert_true (vireo_machine_config_find_disk (config, "sdf") == disk);
  g_assert_null (vireo_machine_config_find_disk (config, "sdz"));

  /* The spec: each disk under its target, of the core's kind for it; the boot order by target. */
  spec = vireo_machine_config_to_spec (config);
  g_assert_cmpstr (hv_machine_spec_lookup_device (spec, "vda")->kind, ==, "virtio-blk");
  g_assert_cmpstr (hv_machine_spec_lookup_device (spec, "sda")->kind, ==, "sata-disk");
  g_assert_cmpstr (hv_machine_spec_lookup_device (spec, "sdb")->kind, ==, "cdrom");
  g_assert_cmpstr (hv_machine_spec_lookup_device (spec, "sdf")->kind, ==, "cdrom");
  {
    gboolean readonly = FALSE;
    const char *format = NULL;
    g_assert_true (
        g_variant_lookup (hv_machine_spec_lookup_device (spec, "sda")->options, "read-only", "b", &readonly));
    g_assert_true (readonly);
    /* A CD-ROM drive is read-only by nature: the kind takes no such option. */
    g_assert_false (
        g_variant_lookup (hv_machine_spec_lookup_device (spec, "sdb")->options, "read-only", "b", &readonly));
    g_assert_true (
        g_variant_lookup (hv_machine_spec_lookup_device (spec, "vda")->options, "cache", "&s", &format));
    g_assert_cmpstr (format, ==, "none");
    g_assert_false (
        g_variant_lookup (hv_machine_spec_lookup_device (spec, "sdf")->options, "format", "&s", &format));
  }
  g_assert_cmpstr (spec->boot_order[0], ==, "sdb");
  g_assert_cmpstr (spec->boot_order[1], ==, "vda");
  g_assert_null (spec->boot_order[2]);
  g_assert_true (hv_machine_spec_check (spec, HV_SPEC_CHECK_WITHOUT_FDS, &error));
  g_assert_no_error (error);

  /* The libvirt form keeps all of it. */
  xml = vireo_machine_config_to_xml (config);
  assert_contains (xml, "device=\"cdrom\"");
  assert_contains (xml, "<target dev=\"sdb\" bus=\"sata\"/>");
  assert_contains (xml, "<boot order=\"1\"/>");
  assert_contains (xml, "cache=\"none\"");
  g_assert_null (strstr (xml, "<boot dev="));
  /* libvirt's own schema takes it (package libvirt-clients). */
  if (validator != NULL)
    run_validator (xml, files->dir);
  again = vireo_machine_config_new_from_xml (xml, &error);
  g_assert_no_error (error);
  assert_same_config (config, again);

  assert_refused (config,
                  one ("disks", g_variant_new_parsed ("[{'path': <%s>, 'device': <'floppy'>}]", files->raw)),
                  FALSE, VIREO_ERROR_INVALID_ARGUMENT, "floppy");
  assert_refused (config,
                  one ("disks", g_variant_new_parsed ("[{'path': <%s>, 'bus': <'ide'>}]", files->raw)), FALSE,
                  VIREO_ERROR_INVALID_ARGUMENT, "ide");
  assert_refused (config,
                  one ("disks", g_variant_new_parsed ("[{'path': <%s>, 'cache': <'unsafe'>}]", files->raw)),
                  FALSE, VIREO_ERROR_INVALID_ARGUMENT, "unsafe");
  assert_refused (
      config,
      one ("disks",
           g_variant_new_parsed ("[{'path': <%s>, 'device': <'cdrom'>, 'readonly': <false>}]", files->raw)),
      FALSE, VIREO_ERROR_INVALID_ARGUMENT, "CD-ROM");
  assert_refused (config,
                  one ("disks", g_variant_new_parsed (
                                    "[{'path': <%s>, 'device': <'cdrom'>, 'bus': <'virtio'>}]", files->raw)),
                  FALSE, VIREO_ERROR_INVALID_ARGUMENT, "CD-ROM");
  assert_refused (config, one ("disks", g_variant_new_parsed ("[{'device': <'disk'>}]")), FALSE,
                  VIREO_ERROR_INVALID_ARGUMENT, "path");
  assert_refused (config,
                  one ("disks", g_variant_new_parsed ("[{'path': <%s>, 'target': <'sda'>}]", files->raw)),
                  FALSE, VIREO_ERROR_INVALID_ARGUMENT, "sda");
  assert_refused (config,
                  one ("disks", g_variant_new_parsed ("[{'path': <%s>, 'target': <'vd1'>}]", files->raw)),
                  FALSE, VIREO_ERROR_INVALID_ARGUMENT, "vd1");
  assert_refused (config,
                  one ("disks", g_variant_new_parsed ("[{'path': <%s>, 'target': <'vdb'>}, {'path': <%s>, "
                                                      "'target': <'vdb'>, 'readonly': <true>}]",
                                                      files->raw, files->qcow2)),
                  FALSE, VIREO_ERROR_INVALID_ARGUMENT, "vdb");
  assert_refused (
      config,
      one ("disks", g_variant_new_parsed ("[{'path': <%s>, 'boot-order': <uint32 1>}, {'path': <%s>, "
                                          "'boot-order': <uint32 1>}]",
                                          files->raw, files->qcow2)),
      FALSE, VIREO_ERROR_INVALID_ARGUMENT, "boot order");
  assert_refused (config,
                  one ("disks", g_variant_new_parsed ("[{'path': <%s>, 'boot-order': <'1'>}]", files->raw)),
                  FALSE, VIREO_ERROR_INVALID_ARGUMENT, "boot-order");
}

/* What virt-manager writes for an installation: a virtio disk and an IDE CD-ROM holding the
 * installer, per-device boot order; and a SCSI disk, which becomes a SATA one. */
static const char virt_manager_install_xml[]
    = "<domain type='kvm'>\n"
      "  <name>debian12</name>\n"
      "  <uuid>0b7c2a1e-3d4f-4a5b-8c6d-7e8f9a0b1c2d</uuid>\n"
      "  <memory unit='KiB'>2097152</memory>\n"
      "  <vcpu placement='static'>2</vcpu>\n"
      "  <os><type arch='x86_64' machine='pc-q35-7.2'>hvm</type></os>\n"
      "  <devices>\n"
      "    <emulator>/usr/bin/qemu-system-x86_64</emulator>\n"
      "    <disk type='file' device='disk'>\n"
      "      <driver name='qemu' type='qcow2' discard='unmap'/>\n"
      "      <source file='/var/lib/libvirt/images/debian12.qcow2'/>\n"
      "      <target dev='vda' bus='virtio'/>\n"
      "      <boot order='2'/>\n"
      "      <address type='pci' domain='0x0000' bus='0x04' slot='0x00' function='0x0'/>\n"
      "    </disk>\n"
      "    <disk type='file' device='cdrom'>\n"
      "      <driver name='qemu' type='raw'/>\n"
      "      <source file='/var/lib/libvirt/images/debian-12.4.0-amd64-netinst.iso'/>\n"
      "      <target dev='hdc' bus='ide'/>\n"
      "      <readonly/>\n"
      "      <boot order='1'/>\n"
      "      <address type='drive' controller='0' bus='1' target='0' unit='0'/>\n"
      "    </disk>\n"
      "    <disk type='file' device='disk'>\n"
      "      <driver name='qemu' type='raw'/>\n"
      "      <source file='/var/lib/libvirt/images/scratch.img'/>\n"
      "      <target dev='sdb' bus='scsi'/>\n"
      "    </disk>\n"
      "    <disk type='file' device='cdrom'>\n"
      "      <driver name='qemu' type='raw'/>\n"
      "      <target dev='sdc' bus='sata'/>\n"
      "      <readonly/>\n"
      "    </disk>\n"
      "    <controller type='scsi' index='0' model='virtio-scsi'/>\n"
      "  </devices>\n"
      "</domain>\n";

static void
test_import_virt_manager_install (void)
{
  g_autoptr (VireoMachineConfig) config = parse_ok (virt_manager_install_xml);
  g_autoptr (VireoMachineConfig) again = NULL;
  g_autofree char *xml = NULL;
  const VireoDiskConfig *disk;

  g_assert_cmpstr (config->boot, ==, "disk");
  g_assert_cmpuint (config->disks->len, ==, 4);
  disk = g_ptr_array_index (config->disks, 0);
  g_assert_cmpstr (disk->target, ==, "vda");
  g_assert_cmpstr (disk->bus, ==, "virtio");
  g_assert_cmpuint (disk->boot_order, ==, 2);
  disk = g_ptr_array_index (config->disks, 1);
  g_assert_cmpstr (disk->device, ==, "cdrom");
  g_assert_cmpstr (disk->bus, ==, "sata");
  g_assert_cmpstr (disk->path, ==, "/var/lib/libvirt/images/debian-12.4.0-amd64-netinst.iso");
  g_assert_cmpuint (disk->boot_order, ==, 1);
  g_assert_true (disk->readonly);
  /* "hdc" is no SATA name: it gets the first free one ("sdb" and "sdc" are kept by the others). */
  g_assert_cmpstr (disk->target, ==, "sda");
  disk = g_ptr_array_index (config->disks, 2);
  g_assert_cmpstr (disk->bus, ==, "sata");
  g_assert_cmpstr (disk->target, ==, "sdb");
  disk = g_ptr_array_index (config->disks, 3);
  g_assert_cmpstr (disk->device, ==, "cdrom");
  g_assert_cmpstr (disk->path, ==, "");
  g_assert_cmpstr (disk->target, ==, "sdc");

  xml = vireo_machine_config_to_xml (config);
  again = parse_ok (xml);
  assert_same_config (config, again);

  /* The firmware boots the drives by their targets, in the definition's boot order: the CD first. */
  {
    g_autoptr (HvMachineSpec) spec = vireo_machine_config_to_spec (config);
    const char *order[] = { "sda", "vda", NULL };
    g_assert_cmpstrv (spec->boot_order, order);
    g_assert_cmpuint (spec->boot_menu_ms, ==, 0);
  }
  /* The boot menu (virt-manager's "Enable boot menu") goes to <os><bootmenu enable='yes'/> and back. */
  {
    g_autoptr (VireoMachineConfig) with_menu = NULL;
    g_autoptr (HvMachineSpec) spec = NULL;
    g_autofree char *menu_xml = NULL;

    config->boot_menu = TRUE;
    menu_xml = vireo_machine_config_to_xml (config);
    g_assert_nonnull (strstr (menu_xml, "<bootmenu enable=\"yes\"/>"));
    with_menu = parse_ok (menu_xml);
    g_assert_true (with_menu->boot_menu);
    assert_same_config (config, with_menu);
    spec = vireo_machine_config_to_spec (with_menu);
    g_assert_cmpuint (spec->boot_menu_ms, ==, VIREO_BOOT_MENU_MS);
  }
}

/* ---- NICs ---- */

static GVariant *
nics_of (const char *text)
{
  g_autoptr (GError) error = NULL;
  GVariant *nics = g_variant_parse (G_VARIANT_TYPE ("aa{sv}"), text, NULL, NULL, &error);

  g_assert_no_error (error);
  return g_variant_ref_sink (nics);
}

static const VireoNicConfig *
nic_at (const VireoMachineConfig *config, guint i)
{
  g_assert_cmpuint (i, <, config->nics->len);
  return g_ptr_array_index (config->nics, i);
}

static void
test_nics (Files *files, gconstpointer data)
{
  g_autoptr (VireoMachineConfig) config = kernel_machine (files);
  g_autoptr (GError) error = NULL;
  g_autoptr (GVariant) settings = NULL;
  g_autoptr (GVariant) nics = NULL;
  g_autoptr (HvMachineSpec) spec = NULL;
  g_autofree char *first_mac = NULL;
  const char *text;

  g_assert_cmpuint (config->nics->len, ==, 0);
  g_assert_cmpstr (config->network, ==, "none");

  /* Two NICs: defaults, a generated MAC that differs from the other one, forwards kept. */
  settings = one ("nics", nics_of ("[{'forwards': <[('tcp', '', uint16 2222, uint16 22), ('udp', '0.0.0.0', "
                                   "7777, 7)]>}, {'mac': <'52:54:00:AB:CD:EF'>, 'connected': <false>}]"));
  g_assert_true (vireo_machine_config_apply_settings (config, settings, FALSE, &error));
  g_assert_no_error (error);
  g_assert_no_error (error);
  g_assert_cmpuint (config->nics->len, ==, 2);
  g_assert_cmpstr (config->network, ==, "nat");
  g_assert_cmpstr (nic_at (config, 0)->switch_name, ==, VIREO_DEFAULT_SWITCH);
  g_assert_true (nic_at (config, 0)->connected);
  g_assert_true (g_str_has_prefix (nic_at (config, 0)->mac, "52:54:00:"));
  g_assert_cmpstr (nic_at (config, 1)->mac, ==, "52:54:00:ab:cd:ef");
  g_assert_false (nic_at (config, 1)->connected);
  g_assert_cmpuint (nic_at (config, 0)->forwards->len, ==, 2);
  first_mac = g_strdup (nic_at (config, 0)->mac);

  /* The spec: one virtio-net per NIC, net0 and net1, with the core's hostfwd text. */
  spec = vireo_machine_config_to_spec (config);
  {
    g_autofree char *printed = NULL;
    g_autoptr (GVariant) variant = g_variant_ref_sink (hv_machine_spec_to_variant (spec));
    printed = g_variant_print (variant, FALSE);
    g_autofree char *net0 = g_strdup_printf ("('virtio-net', 'net0', {'mac': <'%s'>, 'backend': <'user'>, "
                                             "'hostfwd': <'tcp:127.0.0.1:2222-:22;udp:0.0.0.0:7777-:7'>})",
                                             nic_at (config, 0)->mac);
    assert_contains (printed, net0);
    assert_contains (printed, "('virtio-net', 'net1', {'mac': <'52:54:00:ab:cd:ef'>, 'backend': <'user'>, "
                              "'link': <false>})");
  }

  /* The generated MAC is the same for the same machine and position: an update that gives the NIC
   * without a MAC keeps it, and a copy of the definition has it. */
  g_clear_pointer (&settings, g_variant_unref);
  settings = one ("nics", nics_of ("[{'switch': <'Default Switch'>}]"));
  g_assert_true (vireo_machine_config_apply_settings (config, settings, FALSE, &error));
  g_assert_cmpstr (nic_at (config, 0)->mac, ==, first_mac);
  g_assert_cmpuint (nic_at (config, 0)->forwards->len, ==, 0);

  /* Settings shows them back. */
  {
    g_autoptr (GVariant) all = vireo_machine_config_to_settings (config);
    g_autoptr (GVariant) shown = NULL;
    g_variant_ref_sink (all);
    g_assert_true (g_variant_lookup (all, "network", "&s", &text));
    g_assert_cmpstr (text, ==, "nat");
    shown = g_variant_lookup_value (all, "nics", G_VARIANT_TYPE ("aa{sv}"));
    g_assert_nonnull (shown);
    g_assert_cmpuint (g_variant_n_children (shown), ==, 1);
  }

  /* The shorthand: "none" removes the NICs, "nat" makes one, and keeps those there are. */
  g_clear_pointer (&settings, g_variant_unref);
  settings = one ("network", g_variant_new_string ("none"));
  g_assert_true (vireo_machine_config_apply_settings (config, settings, FALSE, &error));
  g_assert_cmpuint (config->nics->len, ==, 0);
  g_assert_cmpstr (config->network, ==, "none");
  g_clear_pointer (&settings, g_variant_unref);
  settings = one ("network", g_variant_new_string ("nat"));
  g_assert_true (vireo_machine_config_apply_settings (config, settings, FALSE, &error));
  g_assert_cmpuint (config->nics->len, ==, 1);
  g_assert_cmpstr (nic_at (config, 0)->mac, ==, first_mac);
  g_assert_true (vireo_machine_config_apply_settings (config, settings, FALSE, &error));
  g_assert_cmpuint (config->nics->len, ==, 1);
  /* Both keys: the NICs win. */
  g_clear_pointer (&settings, g_variant_unref);
  settings = g_variant_ref_sink (g_variant_new_parsed ("{'network': <'nat'>, 'nics': <@aa{sv} []>}"));
  g_assert_true (vireo_machine_config_apply_settings (config, settings, FALSE, &error));
  g_assert_cmpuint (config->nics->len, ==, 0);

  /* Refusals, each naming the NIC and the field, leaving the machine as it was. */
  assert_refused (config, one ("nics", nics_of ("[{'mac': <'01:00:5e:00:00:01'>}]")), FALSE,
                  VIREO_ERROR_INVALID_ARGUMENT, "“mac” of NIC 1");
  assert_refused (config, one ("nics", nics_of ("[{}, {'mac': <'52:54:00:zz:00:01'>}]")), FALSE,
                  VIREO_ERROR_INVALID_ARGUMENT, "NIC 2");
  assert_refused (config,
                  one ("nics", nics_of ("[{'mac': <'52:54:00:00:00:01'>}, {'mac': <'52:54:00:00:00:01'>}]")),
                  FALSE, VIREO_ERROR_INVALID_ARGUMENT, "NIC 2 has the MAC");
  assert_refused (config, one ("nics", nics_of ("[{'switch': <'Nowhere'>}]")), FALSE, VIREO_ERROR_NOT_FOUND,
                  "“Nowhere”, does not exist");
  assert_refused (config, one ("nics", nics_of ("[{'colour': <'blue'>}]")), FALSE,
                  VIREO_ERROR_INVALID_ARGUMENT, "unknown key “colour”");
  assert_refused (config, one ("nics", nics_of ("[{'connected': <'yes'>}]")), FALSE,
                  VIREO_ERROR_INVALID_ARGUMENT, "“connected” of NIC 1 must be of type “b”");
  assert_refused (config, one ("nics", nics_of ("[{'forwards': <[('sctp', '', uint16 1, uint16 2)]>}]")),
                  FALSE, VIREO_ERROR_INVALID_ARGUMENT, "protocol “sctp”");
  assert_refused (config,
                  one ("nics", nics_of ("[{'forwards': <[('tcp', 'localhost', uint16 1, uint16 2)]>}]")),
                  FALSE, VIREO_ERROR_INVALID_ARGUMENT, "“localhost”");
  assert_refused (config, one ("nics", nics_of ("[{'forwards': <[('tcp', '', uint16 0, uint16 2)]>}]")),
                  FALSE, VIREO_ERROR_INVALID_ARGUMENT, "port 0");
  assert_refused (config,
                  one ("nics", nics_of ("[{'forwards': <[('tcp', '', uint16 80, uint16 2)]>}, {'forwards': "
                                        "<[('tcp', '127.0.0.1', uint16 80, uint16 3)]>}]")),
                  FALSE, VIREO_ERROR_INVALID_ARGUMENT, "forwarded twice (NIC 2)");
  assert_refused (config, one ("nics", nics_of ("[{}, {}, {}, {}, {}, {}, {}, {}, {}]")), FALSE,
                  VIREO_ERROR_INVALID_ARGUMENT, "at most 8");
  assert_refused (config, one ("nics", g_variant_new_parsed ("@aa{sv} [{'forwards': <@a(ssqq) []>}]")), TRUE,
                  VIREO_ERROR_INVALID_ARGUMENT, "“name” is required");
  g_assert_cmpuint (config->nics->len, ==, 0);
}

/* NICs on other switches: forwards refused there, bridges in the XML. */
static void
test_nics_switches (Files *files, gconstpointer data)
{
  g_autoptr (VireoMachineConfig) config = kernel_machine (files);
  g_autoptr (VireoMachineConfig) parsed = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (GVariant) settings = NULL;
  g_autofree char *xml = NULL;

  vireo_switch_registry_add ("Lab", "private", "vireo-br0");
  assert_refused (config,
                  one ("nics", nics_of ("[{'switch': <'Lab'>, 'forwards': <[('tcp', '', uint16 80, "
                                        "uint16 80)]>}]")),
                  FALSE, VIREO_ERROR_INVALID_ARGUMENT, "not a NAT switch");
  /* The switch's own kind decides the backend; tap needs the core of net-core, so only the config and
   * the XML are checked here, not the spec. */
  g_ptr_array_set_size (config->nics, 0);
  g_ptr_array_add (config->nics, vireo_nic_config_new ("52:54:00:00:00:07", "Lab"));
  g_ptr_array_add (config->nics, vireo_nic_config_new (NULL, VIREO_DEFAULT_SWITCH));
  g_ptr_array_add (nic_at (config, 1)->forwards, vireo_forward_config_new ("udp", "", 5353, 53));
  vireo_machine_config_assign_macs (config);
  g_free (config->network);
  config->network = g_strdup ("nat");

  xml = vireo_machine_config_to_xml (config);
  assert_contains (xml, "<interface type=\"bridge\">");
  assert_contains (xml, "<source bridge=\"vireo-br0\"/>");
  assert_contains (xml, "<mac address=\"52:54:00:00:00:07\"/>");
  assert_contains (xml, "<portForward proto=\"udp\">");
  assert_contains (xml, "<range start=\"5353\" to=\"53\"/>");
  parsed = vireo_machine_config_new_from_xml (xml, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (parsed->nics->len, ==, 2);
  g_assert_cmpstr (nic_at (parsed, 0)->switch_name, ==, "Lab");
  g_assert_cmpstr (nic_at (parsed, 1)->mac, ==, nic_at (config, 1)->mac);
  assert_same_config (config, parsed);

  /* A bridge no switch is on: the Default Switch, without losing the MAC. */
  vireo_switch_registry_remove ("Lab");
  g_clear_pointer (&parsed, vireo_machine_config_free);
  parsed = vireo_machine_config_new_from_xml (xml, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (nic_at (parsed, 0)->switch_name, ==, VIREO_DEFAULT_SWITCH);
  g_assert_cmpstr (nic_at (parsed, 0)->mac, ==, "52:54:00:00:00:07");
}

/* The "queues" of NIC 0 in @config's spec, 0 without the option. */
static guint32
spec_queues (const VireoMachineConfig *config)
{
  g_autoptr (HvMachineSpec) spec = vireo_machine_config_to_spec (config);
  HvDeviceSpec *device = hv_machine_spec_lookup_device (spec, "net0");
  guint32 queues = 0;

  g_assert_nonnull (device);
  g_variant_lookup (device->options, "queues", "u", &queues);
  return queues;
}

/* Queue pairs: a bridged NIC of a machine with several vCPUs gets one per vCPU, up to four, unless the
 * definition says (<driver queues='N'/>, kept through the XML and the "nics" setting); NAT has one. */
static void
test_nics_queues (Files *files, gconstpointer data)
{
  g_autoptr (VireoMachineConfig) config = kernel_machine (files);
  g_autoptr (VireoMachineConfig) parsed = NULL;
  g_autoptr (GVariant) shown = NULL;
  g_autoptr (GVariant) nics = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *xml = NULL;
  guint32 queues = 0;
  VireoNicConfig *nic;

  vireo_switch_registry_add ("Lab", "private", "vireo-br0");
  nic = vireo_nic_config_new ("52:54:00:00:00:07", "Lab");
  g_ptr_array_add (config->nics, nic);
  config->vcpus = 1;
  g_assert_cmpuint (spec_queues (config), ==, 0);
  config->vcpus = 3;
  g_assert_cmpuint (spec_queues (config), ==, 3);
  config->vcpus = 16;
  g_assert_cmpuint (spec_queues (config), ==, VIREO_NIC_AUTO_QUEUES_MAX);
  nic->queues = 2;
  g_assert_cmpuint (spec_queues (config), ==, 2);
  nic->queues = 1;
  g_assert_cmpuint (spec_queues (config), ==, 0);

  /* The definition keeps what it says, and says nothing when vireod chooses. */
  nic->queues = 6;
  xml = vireo_machine_config_to_xml (config);
  assert_contains (xml, "<driver queues=\"6\"/>");
  parsed = vireo_machine_config_new_from_xml (xml, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (nic_at (parsed, 0)->queues, ==, 6);
  assert_same_config (config, parsed);
  nic->queues = 0;
  g_free (xml);
  xml = vireo_machine_config_to_xml (config);
  g_assert_null (strstr (xml, "queues"));

  /* On NAT: one pair, whatever the definition says. */
  g_free (nic->switch_name);
  nic->switch_name = g_strdup (VIREO_DEFAULT_SWITCH);
  nic->queues = 4;
  g_assert_cmpuint (spec_queues (config), ==, 0);

  /* The setting: 0 (vireod chooses) to 8, shown as given. */
  assert_refused (config, one ("nics", nics_of ("[{'switch': <'Lab'>, 'queues': <uint32 9>}]")), FALSE,
                  VIREO_ERROR_INVALID_ARGUMENT, "NIC 1 asks for 9 queue pairs; a NIC has 1 to 8");
  g_assert_true (vireo_machine_config_apply_settings (
      config, one ("nics", nics_of ("[{'switch': <'Lab'>, 'queues': <uint32 3>}]")), FALSE, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (nic_at (config, 0)->queues, ==, 3);
  shown = g_variant_ref_sink (vireo_machine_config_to_settings (config));
  nics = g_variant_lookup_value (shown, "nics", G_VARIANT_TYPE ("aa{sv}"));
  {
    g_autoptr (GVariant) first = g_variant_get_child_value (nics, 0);
    g_assert_true (g_variant_lookup (first, "queues", "u", &queues));
  }
  g_assert_cmpuint (queues, ==, 3);
  vireo_switch_registry_remove ("Lab");
}

/* Export and import keep NICs, their MACs, links and forwards; the XML validates. */
static void
test_nics_round_trip (Files *files, gconstpointer data)
{
  g_autofree char *validator = NULL;
  g_autoptr (VireoMachineConfig) config = disk_machine (files);
  g_autoptr (VireoMachineConfig) parsed = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (GVariant) settings = NULL;
  g_autofree char *xml = NULL;
  g_autofree char *again = NULL;

  settings = one ("nics",
                  nics_of ("[{'forwards': <[('tcp', '', uint16 2222, uint16 22), ('udp', '192.168.1.5', "
                           "7777, 7)]>}, {'mac': <'52:54:00:ab:cd:ef'>, 'connected': <false>}]"));
  g_assert_true (vireo_machine_config_apply_settings (config, settings, FALSE, &error));
  g_assert_no_error (error);
  xml = vireo_machine_config_to_xml (config);
  assert_contains (xml, "<interface type=\"user\">");
  assert_contains (xml, "<link state=\"down\"/>");
  assert_contains (xml, "<portForward proto=\"udp\" address=\"192.168.1.5\">");
  assert_contains (xml, "<range start=\"2222\" to=\"22\"/>");
  assert_contains (xml, "<vireo:network>nat</vireo:network>");
  parsed = vireo_machine_config_new_from_xml (xml, &error);
  g_assert_no_error (error);
  assert_same_config (config, parsed);
  again = vireo_machine_config_to_xml (parsed);
  g_assert_cmpstr (xml, ==, again);
  validator = g_find_program_in_path ("virt-xml-validate");
  if (validator != NULL)
    run_validator (xml, files->dir);
}

/* A definition of Vireo before "nics": <vireo:network>nat</vireo:network> and one interface without a
 * MAC.  It keeps one NIC, which gets its MAC once. */
static void
test_nics_old_definition (void)
{
  static const char xml[]
      = "<domain type='kvm'><name>old</name><uuid>0b9e1c53-3c55-4f5c-a2cb-4ba1e1e4e3c1</uuid>"
        "<metadata><vireo:machine xmlns:vireo='https://vireo.org/xmlns/vireo/1'><vireo:name>Old</vireo:name>"
        "<vireo:network>nat</vireo:network></vireo:machine></metadata>"
        "<memory unit='KiB'>524288</memory><vcpu>1</vcpu>"
        "<os><type arch='x86_64' machine='pc'>hvm</type><kernel>/boot/vmlinuz</kernel></os>"
        "<devices><interface type='user'><model type='virtio'/></interface></devices></domain>";
  g_autoptr (VireoMachineConfig) a = parse_ok (xml);
  g_autoptr (VireoMachineConfig) b = parse_ok (xml);

  g_assert_cmpuint (a->nics->len, ==, 1);
  g_assert_cmpstr (a->network, ==, "nat");
  g_assert_cmpstr (nic_at (a, 0)->mac, ==, nic_at (b, 0)->mac);
  g_assert_true (nic_at (a, 0)->connected);
}

/* virt-manager's "Bridge device" NIC and libvirt's passt NIC with port forwards (libvirt 9.0's
 * <portForward>), as `virsh dumpxml` shows them. */
static const char virt_manager_bridged_xml[]
    = "<domain type='kvm'>\n"
      "  <name>debian12</name>\n"
      "  <uuid>3f0c5a1e-8d2b-4c7a-9e61-2b7d4a9c0e15</uuid>\n"
      "  <memory unit='KiB'>1048576</memory>\n"
      "  <vcpu placement='static'>1</vcpu>\n"
      "  <os><type arch='x86_64' machine='pc-q35-7.2'>hvm</type><boot dev='hd'/></os>\n"
      "  <devices>\n"
      "    <emulator>/usr/bin/qemu-system-x86_64</emulator>\n"
      "    <disk type='file' device='disk'>\n"
      "      <driver name='qemu' type='qcow2'/>\n"
      "      <source file='/var/lib/libvirt/images/debian12.qcow2'/>\n"
      "      <target dev='vda' bus='virtio'/>\n"
      "    </disk>\n"
      "    <interface type='bridge'>\n"
      "      <mac address='52:54:00:9A:0B:1C'/>\n"
      "      <source bridge='br0'/>\n"
      "      <model type='virtio'/>\n"
      "      <address type='pci' domain='0x0000' bus='0x01' slot='0x00' function='0x0'/>\n"
      "    </interface>\n"
      "    <interface type='user'>\n"
      "      <mac address='52:54:00:9a:0b:1d'/>\n"
      "      <portForward proto='tcp'>\n"
      "        <range start='2222' to='22'/>\n"
      "      </portForward>\n"
      "      <portForward proto='udp' address='0.0.0.0'>\n"
      "        <range start='5353'/>\n"
      "        <range start='6000' end='6010'/>\n"
      "      </portForward>\n"
      "      <model type='virtio'/>\n"
      "      <backend type='passt'/>\n"
      "      <link state='down'/>\n"
      "    </interface>\n"
      "    <interface type='direct'>\n"
      "      <source dev='eth0' mode='bridge'/>\n"
      "      <model type='e1000e'/>\n"
      "    </interface>\n"
      "  </devices>\n"
      "</domain>\n";

static void
test_nics_import_bridged (void)
{
  g_autoptr (VireoMachineConfig) config = NULL;
  const VireoNicConfig *nic;
  const VireoForwardConfig *forward;

  vireo_switch_registry_add ("Uplink", "external", "br0");
  config = parse_ok (virt_manager_bridged_xml);
  /* macvtap (type 'direct') is a device libvirt-gconfig does not know, left out like other unknown
   * devices. */
  g_assert_cmpuint (config->nics->len, ==, 2);
  /* The bridge's switch, the MAC in our lower case. */
  nic = nic_at (config, 0);
  g_assert_cmpstr (nic->switch_name, ==, "Uplink");
  g_assert_cmpstr (nic->mac, ==, "52:54:00:9a:0b:1c");
  g_assert_cmpuint (nic->forwards->len, ==, 0);
  /* User networking with its forwards and its cable out; a range of ports is more than a forward of
   * ours says, and is left out (the log says so). */
  nic = nic_at (config, 1);
  g_assert_cmpstr (nic->switch_name, ==, VIREO_DEFAULT_SWITCH);
  g_assert_false (nic->connected);
  g_assert_cmpuint (nic->forwards->len, ==, 2);
  forward = g_ptr_array_index (nic->forwards, 0);
  g_assert_cmpstr (forward->protocol, ==, "tcp");
  g_assert_cmpstr (forward->host_address, ==, "");
  g_assert_cmpuint (forward->host_port, ==, 2222);
  g_assert_cmpuint (forward->guest_port, ==, 22);
  forward = g_ptr_array_index (nic->forwards, 1);
  g_assert_cmpstr (forward->protocol, ==, "udp");
  g_assert_cmpstr (forward->host_address, ==, "0.0.0.0");
  g_assert_cmpuint (forward->host_port, ==, 5353);
  g_assert_cmpuint (forward->guest_port, ==, 5353);
  vireo_switch_registry_remove ("Uplink");

  /* Without a switch on br0, the bridged NIC is on NAT too. */
  g_clear_pointer (&config, vireo_machine_config_free);
  config = parse_ok (virt_manager_bridged_xml);
  g_assert_cmpstr (nic_at (config, 0)->switch_name, ==, VIREO_DEFAULT_SWITCH);
  g_assert_cmpstr (nic_at (config, 0)->mac, ==, "52:54:00:9a:0b:1c");
}

/* virt-manager's NAT network and GNOME Boxes' user networking keep their MACs. */
static void
test_nics_import_samples (void)
{
  g_autoptr (VireoMachineConfig) virt_manager = parse_ok (virt_manager_kernel_xml);
  g_autoptr (VireoMachineConfig) boxes = parse_ok (boxes_disk_xml);

  g_assert_cmpuint (virt_manager->nics->len, ==, 1);
  g_assert_cmpstr (nic_at (virt_manager, 0)->switch_name, ==, VIREO_DEFAULT_SWITCH);
  g_assert_cmpstr (nic_at (virt_manager, 0)->mac, ==, "52:54:00:12:34:56");
  g_assert_cmpuint (boxes->nics->len, ==, 1);
  g_assert_cmpstr (nic_at (boxes, 0)->mac, ==, "52:54:00:aa:bb:cc");
  g_assert_true (nic_at (boxes, 0)->connected);
}

/* The user whose rights open the machine's files is kept in the stored definition: a machine defined by
 * a user must not have its files opened with vireod's own rights after the service restarts. */
static void
test_files_uid_kept (Files *files, gconstpointer data)
{
  g_autoptr (VireoMachineConfig) config = kernel_machine (files);
  g_autoptr (VireoMachineConfig) parsed = NULL;
  g_autofree char *xml = NULL;

  config->files_uid = 1000;
  xml = vireo_machine_config_to_xml (config);
  assert_contains (xml, "<vireo:files-uid>1000</vireo:files-uid>");
  parsed = parse_ok (xml);
  g_assert_cmpint (parsed->files_uid, ==, 1000);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

#define ADD(path, fn) g_test_add ("/machine-config/" path, Files, NULL, files_setup, fn, files_teardown)
  g_test_add_func ("/machine-config/defaults", test_defaults);
  ADD ("create", test_create);
  ADD ("create-requirements", test_create_requirements);
  ADD ("unknown-and-wrong-types", test_unknown_and_wrong_types);
  ADD ("ranges", test_ranges);
  ADD ("names", test_names);
  ADD ("enums-and-text", test_enums_and_text);
  ADD ("paths", test_paths);
  ADD ("unreadable-file", test_unreadable_file);
  ADD ("disks", test_disks);
  ADD ("atomic-apply", test_atomic_apply);
  g_test_add_func ("/machine-config/keys-needing-off", test_keys_needing_off);
  ADD ("export", test_export);
  g_test_add_func ("/machine-config/libvirt-names", test_libvirt_names);
  ADD ("round-trip", test_round_trip);
  ADD ("virt-xml-validate", test_validates);
  g_test_add_func ("/machine-config/import/virt-manager-kernel", test_import_virt_manager_kernel);
  g_test_add_func ("/machine-config/import/hostile-shapes", test_import_hostile_shapes);
  g_test_add_func ("/machine-config/import/boxes-disk", test_import_boxes_disk);
  g_test_add_func ("/machine-config/import/virt-manager-install", test_import_virt_manager_install);
  ADD ("disk-kinds", test_disk_kinds);
  g_test_add_func ("/machine-config/import/memory-units", test_import_memory_units);
  g_test_add_func ("/machine-config/import/refusals", test_import_refusals);
  g_test_add_func ("/machine-config/import/names-and-ids", test_import_names_and_ids);
  g_test_add_func ("/machine-config/import/garbage", test_import_garbage);
  ADD ("files-uid-kept", test_files_uid_kept);
  ADD ("nics", test_nics);
  ADD ("nics-switches", test_nics_switches);
  ADD ("nics-round-trip", test_nics_round_trip);
  ADD ("nics-queues", test_nics_queues);
  g_test_add_func ("/machine-config/nics-old-definition", test_nics_old_definition);
  g_test_add_func ("/machine-config/import/nics-samples", test_nics_import_samples);
  g_test_add_func ("/machine-config/import/nics-bridged", test_nics_import_bridged);
#undef ADD

  return g_test_run ();
}
