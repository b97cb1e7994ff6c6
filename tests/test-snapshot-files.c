/* test-snapshot-files.c — damaged, foreign, mismatched, incomplete and older saved states: each refused with a
 * clear error, or (older sections) restored with defaults. */
#include "snapshot-fixture.h"

/* Bad saved states: each is a copy of a good one, spoiled one way. */

static void
make_good_save (SaveDir *dir)
{
  Guest guest = { 0 };

  guest_boot (&guest, "echo", NULL, 64ull << 20, 1);
  g_assert_true (vireo_test_guest_wait_for_output (&guest, "echo ready", 60));
  save_dir_init (dir);
  save_guest (&guest, dir, "echo, 64 MiB");
  vireo_test_guest_clear (&guest);
}

static GBytes *
read_saved (SaveDir *dir, const char *name)
{
  g_autofree char *path = save_dir_file (dir, name);
  g_autoptr (GError) error = NULL;
  char *data;
  gsize len;

  g_assert_true (g_file_get_contents (path, &data, &len, &error));
  return g_bytes_new_take (data, len);
}

static void
write_saved (SaveDir *dir, const char *name, const void *data, gsize len)
{
  g_autofree char *path = save_dir_file (dir, name);
  g_autoptr (GError) error = NULL;

  g_assert_true (g_file_set_contents (path, data, (gssize) len, &error));
}

/* Restores into a new VM of the saved shape, expecting @code with @words in the message, either
 * from hv_vm_set_restore or (for problems only the machine can see) from hv_vm_start. */
void
expect_restore_error (SaveDir *dir, uint64_t memory, unsigned cpus, HvError code, const char *words)
{
  Guest guest = { 0 };
  g_autoptr (GError) error = NULL;

  guest_new (&guest, memory, cpus);
  if (hv_vm_set_restore (guest.vm, dir->fd, &error))
    g_assert_false (hv_vm_start (guest.vm, &error));
  g_assert_nonnull (error);
  g_test_message ("refused: %s", error->message);
  g_assert_error (error, HV_ERROR, (gint) code);
  g_assert_nonnull (strstr (error->message, words));
  vireo_test_guest_clear (&guest);
}

/* Rewrites "state" with @body behind a correct header of format @format_version, as a crafted file
 * would be. */
static void
write_state_body_version (SaveDir *dir, GVariant *body, uint32_t format_version)
{
  gsize len = g_variant_get_size (body);
  g_autofree uint8_t *file = g_malloc0 (32 + len);
  uint64_t crc;
  uint64_t len64 = GUINT64_TO_LE (len);
  uint32_t version = GUINT32_TO_LE (format_version);

  memcpy (file, "VIREOSAV", 8);
  memcpy (file + 8, &version, 4);
  memcpy (file + 16, &len64, 8);
  g_variant_store (body, file + 32);
  crc = GUINT64_TO_LE (hv_crc64 (hv_crc64 (0, file, 24), file + 32, len));
  memcpy (file + 24, &crc, 8);
  write_saved (dir, "state", file, 32 + len);
}

/* The format this Vireo writes. */
static void
write_state_body (SaveDir *dir, GVariant *body)
{
  write_state_body_version (dir, body, 2);
}

/* Format version 1 keyed each device's state on a fixed name; version 2 keeps one section per device
 * id, with its kind and the version of its state. */
static const struct
{
  const char *v1_name;
  const char *id;
} v1_devices[] = {
  { "pci", "pci0" }, { "serial", "serial0" }, { "i8042", "kbc0" }, { "rtc", "rtc0" }, { "acpi-pm", "pm0" },
};

/* A format-2 body as today's saved state, format 1, would have held it: the device states under
 * their old names, without what their sections added since (the serial port's "port" and "gsi"). */
static GVariant *
body_as_v1 (GVariant *body)
{
  g_autoptr (GVariant) sections = g_variant_lookup_value (body, "devices", G_VARIANT_TYPE ("a{sa{sv}}"));
  GVariantBuilder devices;
  GVariantDict dict;

  g_assert_nonnull (sections);
  g_variant_builder_init (&devices, G_VARIANT_TYPE ("a{sa{sv}}"));
  for (gsize i = 0; i < G_N_ELEMENTS (v1_devices); i++)
    {
      g_autoptr (GVariant) section = g_variant_lookup_value (sections, v1_devices[i].id, NULL);
      g_autoptr (GVariant) state = NULL;
      GVariantDict old;

      g_assert_nonnull (section);
      state = g_variant_lookup_value (section, "state", G_VARIANT_TYPE_VARDICT);
      g_assert_nonnull (state);
      g_variant_dict_init (&old, state);
      g_variant_dict_remove (&old, "port");
      g_variant_dict_remove (&old, "gsi");
      g_variant_builder_add (&devices, "{s@a{sv}}", v1_devices[i].v1_name, g_variant_dict_end (&old));
    }
  g_assert_cmpuint (g_variant_n_children (sections), ==, G_N_ELEMENTS (v1_devices));
  g_variant_dict_init (&dict, body);
  g_variant_dict_insert_value (&dict, "devices", g_variant_builder_end (&devices));
  return g_variant_ref_sink (g_variant_dict_end (&dict));
}

/* A crafted-state path of format 1 ("devices/serial/rx") in format 2 ("devices/serial0/state/rx"). */
static char *
path_as_v2 (const char *path)
{
  g_auto (GStrv) parts = g_strsplit (path, "/", 3);

  if (g_strcmp0 (parts[0], "devices") != 0 || parts[1] == NULL)
    return g_strdup (path);
  for (gsize i = 0; i < G_N_ELEMENTS (v1_devices); i++)
    if (strcmp (parts[1], v1_devices[i].v1_name) == 0)
      return parts[2] ? g_strdup_printf ("devices/%s/state/%s", v1_devices[i].id, parts[2])
                      : g_strdup_printf ("devices/%s/state", v1_devices[i].id);
  return g_strdup (path);
}

/* The saved state's dictionary with @path (keys separated by '/') replaced by @value. */
static GVariant *
replace_in_state (GVariant *dict, const char *path, GVariant *value)
{
  g_auto (GStrv) keys = g_strsplit (path, "/", 2);
  GVariantDict d;

  g_variant_ref_sink (value);
  g_variant_dict_init (&d, dict);
  if (keys[1] == NULL)
    g_variant_dict_insert_value (&d, keys[0], value);
  else
    {
      g_autoptr (GVariant) inner = g_variant_dict_lookup_value (&d, keys[0], NULL);
      g_assert_nonnull (inner);
      if (g_variant_is_of_type (inner, G_VARIANT_TYPE ("aa{sv}")))
        {
          /* "vcpus/key": in the first vCPU's dictionary. */
          GVariantBuilder list;
          g_variant_builder_init (&list, G_VARIANT_TYPE ("aa{sv}"));
          for (gsize i = 0; i < g_variant_n_children (inner); i++)
            {
              g_autoptr (GVariant) child = g_variant_get_child_value (inner, i);
              g_variant_builder_add_value (&list, i == 0 ? replace_in_state (child, keys[1], value)
                                                         : g_variant_ref (child));
            }
          g_variant_dict_insert_value (&d, keys[0], g_variant_builder_end (&list));
        }
      else if (g_variant_is_of_type (inner, G_VARIANT_TYPE ("a{sa{sv}}")))
        {
          /* "devices/name/key", or "devices/name" for the device's whole dictionary. */
          g_auto (GStrv) rest = g_strsplit (keys[1], "/", 2);
          GVariantBuilder devices;
          GVariantIter iter;
          const char *name;
          GVariant *device;
          gboolean found = FALSE;
          g_variant_builder_init (&devices, G_VARIANT_TYPE ("a{sa{sv}}"));
          g_variant_iter_init (&iter, inner);
          while (g_variant_iter_next (&iter, "{&s@a{sv}}", &name, &device))
            {
              found = found || strcmp (name, rest[0]) == 0;
              if (strcmp (name, rest[0]) != 0)
                g_variant_builder_add (&devices, "{s@a{sv}}", name, device);
              else if (rest[1] == NULL)
                g_variant_builder_add (&devices, "{s@a{sv}}", name, value);
              else
                {
                  g_autoptr (GVariant) changed = replace_in_state (device, rest[1], value);
                  g_variant_builder_add (&devices, "{s@a{sv}}", name, changed);
                }
              g_variant_unref (device);
            }
          /* "devices/name" of a device the machine lacks adds it. */
          if (!found && rest[1] == NULL)
            g_variant_builder_add (&devices, "{s@a{sv}}", rest[0], value);
          g_variant_dict_insert_value (&d, keys[0], g_variant_builder_end (&devices));
        }
      else
        g_variant_dict_insert_value (&d, keys[0], replace_in_state (inner, keys[1], value));
    }
  g_variant_unref (value);
  return g_variant_ref_sink (g_variant_dict_end (&d));
}

static void
test_bad_files (void)
{
  SaveDir dir;
  g_autoptr (GBytes) state = NULL;
  g_autoptr (GBytes) memory = NULL;
  g_autoptr (GVariant) body = NULL;
  const uint8_t *data;
  gsize len;

  if (!vireo_test_require_kvm ())
    return;
  make_good_save (&dir);
  state = read_saved (&dir, "state");
  memory = read_saved (&dir, "memory");
  data = g_bytes_get_data (state, &len);

  /* The good one first, so that the failures below are the spoiling's doing. */
  {
    Guest guest = { 0 };
    g_autoptr (GError) error = NULL;
    guest_new (&guest, 64ull << 20, 1);
    g_assert_true (hv_vm_set_restore (guest.vm, dir.fd, &error));
    g_assert_no_error (error);
    vireo_test_guest_clear (&guest);
  }

  /* Truncated, at several places. */
  write_saved (&dir, "state", data, len - 1);
  expect_restore_error (&dir, 64ull << 20, 1, HV_ERROR_BAD_IMAGE, "truncated");
  write_saved (&dir, "state", data, 20);
  expect_restore_error (&dir, 64ull << 20, 1, HV_ERROR_BAD_IMAGE, "truncated");
  write_saved (&dir, "state", data, 4);
  expect_restore_error (&dir, 64ull << 20, 1, HV_ERROR_BAD_IMAGE, "not a Vireo saved state");
  write_saved (&dir, "state", "", 0);
  expect_restore_error (&dir, 64ull << 20, 1, HV_ERROR_BAD_IMAGE, "not a Vireo saved state");

  /* One flipped byte, in the header's length, in the body, in the checksum. */
  for (gsize at = 0; at < 3; at++)
    {
      gsize offsets[] = { 17, len / 2, 30 };
      g_autofree uint8_t *copy = g_memdup2 (data, len);
      copy[offsets[at]] ^= 0x10;
      write_saved (&dir, "state", copy, len);
      expect_restore_error (&dir, 64ull << 20, 1, HV_ERROR_BAD_IMAGE, at == 0 ? "truncated" : "checksum");
    }

  /* A foreign file, and a state of another format version. */
  write_saved (&dir, "state", "\177ELF\2\1\1\0\0\0\0\0\0\0\0\0\3\0>\0\1\0\0\0 and the rest of a program", 50);
  expect_restore_error (&dir, 64ull << 20, 1, HV_ERROR_BAD_IMAGE, "not a Vireo saved state");
  {
    g_autofree uint8_t *copy = g_memdup2 (data, len);
    copy[8] = 3;
    write_saved (&dir, "state", copy, len);
    expect_restore_error (&dir, 64ull << 20, 1, HV_ERROR_BAD_IMAGE, "version 3");
  }

  /* Good state, but a VM configured differently. */
  write_saved (&dir, "state", data, len);
  expect_restore_error (&dir, 128ull << 20, 1, HV_ERROR_INVALID_ARGUMENT, "64 MiB of memory");
  expect_restore_error (&dir, 64ull << 20, 2, HV_ERROR_INVALID_ARGUMENT, "1 vCPUs");

  /* The memory file missing, cut short, or from another save. */
  g_assert_no_errno (unlinkat (dir.fd, "memory", 0));
  expect_restore_error (&dir, 64ull << 20, 1, HV_ERROR_NOT_FOUND, "memory");
  {
    gsize memory_len;
    const uint8_t *memory_data = g_bytes_get_data (memory, &memory_len);
    g_autofree uint8_t *copy = g_memdup2 (memory_data, memory_len);
    write_saved (&dir, "memory", memory_data, memory_len - 4096);
    expect_restore_error (&dir, 64ull << 20, 1, HV_ERROR_BAD_IMAGE, "memory is");
    copy[30] ^= 1; /* the id */
    write_saved (&dir, "memory", copy, memory_len);
    expect_restore_error (&dir, 64ull << 20, 1, HV_ERROR_BAD_IMAGE, "memory");
    write_saved (&dir, "memory", "hello", 5);
    expect_restore_error (&dir, 64ull << 20, 1, HV_ERROR_BAD_IMAGE, "not the memory");
    write_saved (&dir, "memory", memory_data, memory_len);
  }
  g_assert_no_errno (unlinkat (dir.fd, "state", 0));
  expect_restore_error (&dir, 64ull << 20, 1, HV_ERROR_NOT_FOUND, "state");

  /* Crafted: a correct checksum over content that is wrong. */
  body = g_variant_new_from_bytes (G_VARIANT_TYPE_VARDICT, g_bytes_new_from_bytes (state, 32, len - 32),
                                   FALSE);
  g_variant_ref_sink (body);
  {
    static const struct
    {
      const char *path;
      const char *value;
      const char *words;
    } cases[] = {
      { "vcpu-count", "uint32 0", "out of range" },
      { "vcpus/mp-state", "uint32 99", "mp-state" },
      { "vcpus/regs", "[byte 1, 2, 3]", "regs" },
      { "vcpus/msrs", "[(uint32 0xdeadbeef, uint64 0)]", "MSR 0xdeadbeef" },
      { "vcpus/cpuid", "@a(uuuuuuu) []", "CPUID" },
      { "vm/clock", "'a string'", "clock" },
      { "memory-id", "[byte 1]", "memory-id" },
      { "devices/serial/rx", "[byte 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17]", "rx" },
      { "devices/serial/trigger-level", "byte 5", "trigger level" },
      { "devices/i8042/scancode-set", "byte 9", "scancode set" },
      { "devices/i8042/keyboard-queue", "[uint16 0x1234]", "keyboard-queue" },
      { "devices/rtc/index", "byte 0x80", "index" },
      { "devices/rtc/offset-usec", "int64 9000000000000000000", "RTC" },
      { "devices/acpi-pm/pm1-enable", "uint16 0xffff", "ACPI" },
      { "devices/pci/devices", "[(byte 0, 'host bridge', [byte 1], [uint64 0])]", "PCI" },
      { "devices/pci/devices", "[(byte 3, 'host bridge', [byte 1], [uint64 0])]", "slot 3" },
      { "devices/pci/devices", "@a(ysayat) []", "missing" },
      { "devices/serial", "@a{sv} {}", "“ier” is missing" },
      { "devices/floppy", "@a{sv} {}", "“floppy”, which this machine lacks" },
    };

    g_autoptr (GVariant) body_v1 = body_as_v1 (body);

    /* Each in today's format, and in format 1 as it was written before device sections. */
    for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
      {
        g_autoptr (GError) error = NULL;
        g_autoptr (GVariant) value = g_variant_parse (NULL, cases[i].value, NULL, NULL, &error);
        g_autoptr (GVariant) crafted = NULL;
        g_autoptr (GVariant) crafted_v1 = NULL;
        g_autofree char *path = path_as_v2 (cases[i].path);
        g_assert_no_error (error);
        g_test_message ("crafted: %s = %s", path, cases[i].value);
        crafted = replace_in_state (body, path, value);
        write_state_body (&dir, crafted);
        /* The memory-id case is caught before the memory file is looked at; a vcpu-count of 0
         * before the configuration is compared. */
        expect_restore_error (&dir, 64ull << 20, 1, HV_ERROR_BAD_IMAGE, cases[i].words);

        g_test_message ("crafted, format 1: %s = %s", cases[i].path, cases[i].value);
        crafted_v1 = replace_in_state (body_v1, cases[i].path, value);
        write_state_body_version (&dir, crafted_v1, 1);
        expect_restore_error (&dir, 64ull << 20, 1, HV_ERROR_BAD_IMAGE, cases[i].words);
      }
  }
  /* A well-formed variant of the wrong type at the top. */
  {
    g_autoptr (GVariant) other = g_variant_ref_sink (g_variant_new_string ("not a dictionary"));
    write_state_body (&dir, other);
    expect_restore_error (&dir, 64ull << 20, 1, HV_ERROR_BAD_IMAGE, "");
  }

  save_dir_clear (&dir);
}

/* The body of a saved "state" file, its header checked away. */
GVariant *
read_state_body (SaveDir *dir)
{
  g_autoptr (GBytes) state = read_saved (dir, "state");
  gsize len = g_bytes_get_size (state);
  g_autoptr (GBytes) body = g_bytes_new_from_bytes (state, 32, len - 32);

  g_assert_cmpuint (len, >, 32);
  g_assert_cmpint (memcmp (g_bytes_get_data (state, NULL), "VIREOSAV\2\0\0\0", 12), ==, 0);
  return g_variant_ref_sink (g_variant_new_from_bytes (G_VARIANT_TYPE_VARDICT, body, FALSE));
}

/* The restored echo guest carries on: what it is sent comes back, then it powers off. */
static void
expect_echo_carries_on (SaveDir *dir, const char *label)
{
  Guest guest = { 0 };
  g_autofree char *out = NULL;

  restore_guest (&guest, dir, 64ull << 20, 1, label);
  guest_send (&guest, "carried on q");
  g_assert_cmpint (guest_wait_exit (&guest), ==, HV_EXIT_POWER_OFF);
  out = vireo_test_guest_output (&guest);
  g_assert_cmpstr (out, ==, "carried on echo done\n");
  vireo_test_guest_clear (&guest);
}

/* A state saved in format 1, before device sections, restores: its devices' states become version 1
 * sections, and the fields added since take their defaults. */
static void
test_format_1_restores (void)
{
  SaveDir dir;
  g_autoptr (GVariant) body = NULL;
  g_autoptr (GVariant) body_v1 = NULL;

  if (!vireo_test_require_kvm ())
    return;
  make_good_save (&dir);
  body = read_state_body (&dir);
  body_v1 = body_as_v1 (body);
  write_state_body_version (&dir, body_v1, 1);
  expect_echo_carries_on (&dir, "echo, format 1");
  save_dir_clear (&dir);
}

/* Each device's section has its own version: an older one loads, with the fields added since at
 * their defaults; a newer one is refused, naming the device and the version. */
static void
test_section_versions (void)
{
  SaveDir dir;
  g_autoptr (GVariant) body = NULL;
  g_autoptr (GVariant) old_serial = NULL;
  g_autoptr (GVariant) trimmed = NULL;
  g_autoptr (GVariant) newer = NULL;
  g_autoptr (GVariant) value = NULL;
  g_autoptr (GVariant) serial_state = NULL;
  GVariantDict dict;

  if (!vireo_test_require_kvm ())
    return;
  make_good_save (&dir);
  body = read_state_body (&dir);
  {
    g_autoptr (GVariant) sections = g_variant_lookup_value (body, "devices", NULL);
    g_autoptr (GVariant) section = g_variant_lookup_value (sections, "serial0", NULL);
    uint32_t version = 0;
    g_assert_true (g_variant_lookup (section, "version", "u", &version));
    g_assert_cmpuint (version, ==, 2);
    serial_state = g_variant_lookup_value (section, "state", G_VARIANT_TYPE_VARDICT);
  }

  /* serial0 as version 1 wrote it: no "port" or "gsi" (COM1's, then). */
  g_variant_dict_init (&dict, serial_state);
  g_assert_true (g_variant_dict_remove (&dict, "port"));
  g_assert_true (g_variant_dict_remove (&dict, "gsi"));
  trimmed = g_variant_ref_sink (g_variant_dict_end (&dict));
  old_serial = replace_in_state (body, "devices/serial0/state", trimmed);
  value = g_variant_ref_sink (g_variant_new_uint32 (1));
  {
    g_autoptr (GVariant) old = replace_in_state (old_serial, "devices/serial0/version", value);
    write_state_body (&dir, old);
  }
  expect_echo_carries_on (&dir, "echo, serial section version 1");

  /* Version 2 has them: without them it is refused. */
  write_state_body (&dir, old_serial);
  expect_restore_error (&dir, 64ull << 20, 1, HV_ERROR_BAD_IMAGE, "“port” is missing");

  g_clear_pointer (&value, g_variant_unref);
  value = g_variant_ref_sink (g_variant_new_uint32 (3));
  newer = replace_in_state (body, "devices/serial0/version", value);
  write_state_body (&dir, newer);
  expect_restore_error (&dir, 64ull << 20, 1, HV_ERROR_BAD_IMAGE,
                        "device “serial0” (serial) has version 3; this version of Vireo reads "
                        "versions 1 to 2");
  g_clear_pointer (&newer, g_variant_unref);
  newer = replace_in_state (body, "devices/rtc0/version", value);
  write_state_body (&dir, newer);
  expect_restore_error (&dir, 64ull << 20, 1, HV_ERROR_BAD_IMAGE, "device “rtc0” (rtc) has version 3");
  save_dir_clear (&dir);
}

void
snapshot_add_file_tests (void)
{
  g_test_add_func ("/snapshot/bad-files", test_bad_files);
  g_test_add_func ("/snapshot/format-1-restores", test_format_1_restores);
  g_test_add_func ("/snapshot/section-versions", test_section_versions);
}
