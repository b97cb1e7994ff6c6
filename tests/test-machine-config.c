/* test-machine-config.c — machine settings: defaults, checked updates (types, ranges, files, disk formats,
 * atomicity).  libvirt domain XML is tested in test-machine-config-xml.c, NICs in test-machine-config-nics.c. */
#include "machine-config-test.h"

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
  ADD ("files-uid-kept", test_files_uid_kept);
#undef ADD
  machine_config_add_xml_tests ();
  machine_config_add_nic_tests ();

  return g_test_run ();
}
