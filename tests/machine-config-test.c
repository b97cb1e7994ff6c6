/* machine-config-test.c — the machine configuration tests' fixture: a folder of files settings can name, settings
 * built in a line, and libvirt XML parsed or validated. */
#include "machine-config-test.h"

char *
write_file (const char *dir, const char *name, const char *contents, gsize length)
{
  g_autoptr (GError) error = NULL;
  char *path = g_build_filename (dir, name, NULL);

  g_assert_true (g_file_set_contents (path, contents, length, &error));
  g_assert_no_error (error);
  return path;
}

void
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

void
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

void
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
GVariant *
one (const char *key, GVariant *value)
{
  GVariantBuilder builder;

  g_variant_builder_init (&builder, G_VARIANT_TYPE_VARDICT);
  g_variant_builder_add (&builder, "{sv}", key, value);
  return g_variant_ref_sink (g_variant_builder_end (&builder));
}

GVariant *
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

GVariant *
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
VireoMachineConfig *
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
VireoMachineConfig *
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

void
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
void
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

VireoMachineConfig *
parse_ok (const char *xml)
{
  g_autoptr (GError) error = NULL;
  VireoMachineConfig *config = vireo_machine_config_new_from_xml (xml, &error);

  g_assert_no_error (error);
  g_assert_nonnull (config);
  return config;
}

void
assert_contains (const char *haystack, const char *needle)
{
  if (strstr (haystack, needle) == NULL)
    g_error ("expected “%s” in:\n%s", needle, haystack);
}

void
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
