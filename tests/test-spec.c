/* test-spec.c — the machine spec (hypervisor/spec.h): its one check, its message, --device text, and
 * the kinds the core's device models point at. */
#include "test-util.h"
#include "spec.h"
#include "device.h"

#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int
open_null (void)
{
  int fd = open ("/dev/null", O_RDONLY | O_CLOEXEC);
  g_assert_cmpint (fd, >=, 0);
  return fd;
}

/* A spec that passes the check: a kernel (any fd will do for the check) and COM1. */
static HvMachineSpec *
good_spec (void)
{
  HvMachineSpec *spec = hv_machine_spec_new ();

  spec->memory = 64ull << 20;
  spec->kernel = hv_machine_spec_add_fd (spec, open_null ());
  hv_machine_spec_add_device (spec, "serial", "serial0", NULL);
  return spec;
}

static void
assert_check_fails (const HvMachineSpec *spec, HvSpecCheckFlags flags, const char *needle)
{
  g_autoptr (GError) error = NULL;

  g_assert_false (hv_machine_spec_check (spec, flags, &error));
  g_assert_error (error, HV_ERROR, HV_ERROR_INVALID_ARGUMENT);
  g_test_message ("refused: %s", error->message);
  g_assert_nonnull (strstr (error->message, needle));
}

static void
test_defaults (void)
{
  g_autoptr (HvMachineSpec) spec = hv_machine_spec_new ();
  g_autoptr (HvMachineSpec) good = good_spec ();
  g_autoptr (GError) error = NULL;

  g_assert_cmpuint (spec->memory, ==, 512ull << 20);
  g_assert_cmpuint (spec->vcpus, ==, 1);
  g_assert_cmpint (spec->boot, ==, HV_BOOT_KERNEL);
  g_assert_cmpint (spec->kernel, ==, -1);
  g_assert_cmpuint (spec->devices->len, ==, 0);
  /* Without a kernel: wrong for a worker, fine for vireod before it opens files. */
  assert_check_fails (spec, HV_SPEC_CHECK_DEFAULT, "has none");
  g_assert_true (hv_machine_spec_check (spec, HV_SPEC_CHECK_WITHOUT_FDS, &error));
  g_assert_no_error (error);
  g_assert_true (hv_machine_spec_check (good, HV_SPEC_CHECK_DEFAULT, &error));
  g_assert_no_error (error);
}

static void
test_check_machine (void)
{
  static const char long_cmdline[HV_CMDLINE_MAX + 1] = { [0 ... HV_CMDLINE_MAX - 1] = 'x' };
  g_autoptr (GError) error = NULL;

  {
    g_autoptr (HvMachineSpec) spec = good_spec ();
    spec->memory = 1 << 20;
    assert_check_fails (spec, HV_SPEC_CHECK_WITHOUT_FDS | HV_SPEC_CHECK_ANY_HOST, "minimum is 32 MiB");
    spec->memory = (64ull << 20) + 1;
    assert_check_fails (spec, HV_SPEC_CHECK_DEFAULT, "multiple of 4 KiB");
    /* More than this host has: refused here, stored for another host. */
    spec->memory = HV_MEMORY_MAX;
    assert_check_fails (spec, HV_SPEC_CHECK_DEFAULT, "more than this host has");
    g_assert_true (hv_machine_spec_check (spec, HV_SPEC_CHECK_ANY_HOST, &error));
    g_assert_no_error (error);
  }
  {
    g_autoptr (HvMachineSpec) spec = good_spec ();
    spec->vcpus = 0;
    assert_check_fails (spec, HV_SPEC_CHECK_DEFAULT, "out of range");
    spec->vcpus = HV_VCPUS_MAX + 1;
    assert_check_fails (spec, HV_SPEC_CHECK_DEFAULT, "out of range");
  }
  {
    g_autoptr (HvMachineSpec) spec = good_spec ();
    g_free (spec->cpuid_mask);
    spec->cpuid_mask = g_strdup ("-warpdrive");
    assert_check_fails (spec, HV_SPEC_CHECK_DEFAULT, "warpdrive");
  }
  {
    g_autoptr (HvMachineSpec) spec = good_spec ();
    g_free (spec->cmdline);
    spec->cmdline = g_strdup (long_cmdline);
    assert_check_fails (spec, HV_SPEC_CHECK_DEFAULT, "command line");
  }
  {
    g_autoptr (HvMachineSpec) spec = good_spec ();
    spec->initrd = 5;
    assert_check_fails (spec, HV_SPEC_CHECK_DEFAULT, "initrd is file 5");
  }
  {
    g_autoptr (HvMachineSpec) spec = good_spec ();
    const char *order[] = { "disk", "floppy", NULL };
    spec->boot = HV_BOOT_FIRMWARE;
    assert_check_fails (spec, HV_SPEC_CHECK_DEFAULT, "boots firmware but has none");
    spec->firmware = hv_machine_spec_add_fd (spec, open_null ());
    g_strfreev (spec->boot_order);
    spec->boot_order = g_strdupv ((char **) order);
    assert_check_fails (spec, HV_SPEC_CHECK_DEFAULT, "“floppy” in the boot order");
    g_free (spec->boot_order[1]);
    spec->boot_order[1] = g_strdup ("disk");
    assert_check_fails (spec, HV_SPEC_CHECK_DEFAULT, "twice");
    g_free (spec->boot_order[1]);
    spec->boot_order[1] = g_strdup ("cdrom");
    g_assert_true (hv_machine_spec_check (spec, HV_SPEC_CHECK_DEFAULT, &error));
    g_assert_no_error (error);
  }
  {
    /* Devices by id: only ones the machine has, and ones the firmware can boot from. */
    g_autoptr (HvMachineSpec) spec = good_spec ();
    const char *order[] = { "net0", "disk", "serial0", NULL };
    spec->boot = HV_BOOT_FIRMWARE;
    spec->firmware = hv_machine_spec_add_fd (spec, open_null ());
    hv_machine_spec_add_device (spec, "virtio-net", "net0", NULL);
    g_strfreev (spec->boot_order);
    spec->boot_order = g_strdupv ((char **) order);
    assert_check_fails (spec, HV_SPEC_CHECK_DEFAULT, "“serial0” in the boot order is a serial");
    g_free (spec->boot_order[2]);
    spec->boot_order[2] = g_strdup ("disk7");
    assert_check_fails (spec, HV_SPEC_CHECK_DEFAULT, "neither a device of the machine");
    g_clear_pointer (&spec->boot_order[2], g_free);
    g_assert_true (hv_machine_spec_check (spec, HV_SPEC_CHECK_DEFAULT, &error));
    g_assert_no_error (error);
    spec->boot_menu_ms = HV_BOOT_MENU_MS_MAX + 1;
    assert_check_fails (spec, HV_SPEC_CHECK_DEFAULT, "boot menu would wait");
    spec->boot_menu_ms = 2500;
    g_assert_true (hv_machine_spec_check (spec, HV_SPEC_CHECK_DEFAULT, &error));
    g_assert_no_error (error);
  }
}

static void
test_check_devices (void)
{
  g_autoptr (GError) error = NULL;

  {
    g_autoptr (HvMachineSpec) spec = good_spec ();
    hv_machine_spec_add_device (spec, "floppy", NULL, NULL);
    assert_check_fails (spec, HV_SPEC_CHECK_DEFAULT, "no device kind “floppy”");
  }
  {
    g_autoptr (HvMachineSpec) spec = good_spec ();
    hv_machine_spec_add_device (spec, "pci-host", NULL, NULL);
    assert_check_fails (spec, HV_SPEC_CHECK_DEFAULT, "part of every machine");
  }
  {
    g_autoptr (HvMachineSpec) spec = good_spec ();
    hv_machine_spec_add_device (spec, "virtio-tablet", "kbc0", NULL);
    assert_check_fails (spec, HV_SPEC_CHECK_DEFAULT, "belongs to the machine's i8042");
  }
  {
    g_autoptr (HvMachineSpec) spec = good_spec ();
    hv_machine_spec_add_device (spec, "serial", "serial0", NULL);
    assert_check_fails (spec, HV_SPEC_CHECK_DEFAULT, "two devices with the id “serial0”");
  }
  {
    g_autoptr (HvMachineSpec) spec = good_spec ();
    hv_machine_spec_add_device (spec, "serial", "9lives", NULL);
    assert_check_fails (spec, HV_SPEC_CHECK_DEFAULT, "not a device id");
  }
  {
    g_autoptr (HvMachineSpec) spec = good_spec ();
    HvDeviceSpec *second = hv_machine_spec_add_device (spec, "serial", NULL, NULL);
    g_assert_cmpstr (second->id, ==, "serial1");
    g_assert_true (hv_machine_spec_check (spec, HV_SPEC_CHECK_DEFAULT, &error));
    g_assert_no_error (error);
    hv_machine_spec_add_device (spec, "serial", NULL, NULL);
    assert_check_fails (spec, HV_SPEC_CHECK_DEFAULT, "at most 2 devices of kind “serial”");
  }
  {
    /* Several of a kind without a limit. */
    g_autoptr (HvMachineSpec) spec = good_spec ();
    for (unsigned i = 0; i < 5; i++)
      hv_machine_spec_add_device (spec, "virtio-keyboard", NULL, NULL);
    g_assert_cmpstr (((HvDeviceSpec *) spec->devices->pdata[5])->id, ==, "keyboard4");
    g_assert_true (hv_machine_spec_check (spec, HV_SPEC_CHECK_DEFAULT, &error));
    g_assert_no_error (error);
  }
  {
    g_autoptr (HvMachineSpec) spec = good_spec ();
    hv_machine_spec_add_device (spec, "serial", NULL, g_variant_new_parsed ("{'speed': <uint32 9600>}"));
    assert_check_fails (spec, HV_SPEC_CHECK_DEFAULT, "a serial has no option “speed”");
  }
  {
    g_autoptr (HvMachineSpec) spec = good_spec ();
    hv_machine_spec_add_device (spec, "serial", NULL, g_variant_new_parsed ("{'output': <'stdout'>}"));
    assert_check_fails (spec, HV_SPEC_CHECK_DEFAULT, "must be of type “h”");
  }
  {
    g_autoptr (HvMachineSpec) spec = good_spec ();
    hv_machine_spec_add_device (spec, "serial", NULL, g_variant_new_parsed ("{'output': <handle 7>}"));
    assert_check_fails (spec, HV_SPEC_CHECK_DEFAULT, "file 7");
  }
  {
    g_autoptr (HvMachineSpec) spec = good_spec ();
    for (unsigned i = 0; i < HV_SPEC_DEVICES_MAX; i++)
      hv_machine_spec_add_device (spec, "virtio-tablet", NULL, NULL);
    assert_check_fails (spec, HV_SPEC_CHECK_DEFAULT, "the limit is");
  }
}

/* Disks: the image is required, string options take only the values they list. */
static void
test_check_disks (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (HvMachineSpec) spec = good_spec ();
  HvDeviceSpec *disk;

  disk = hv_machine_spec_add_device (spec, "virtio-blk", NULL, NULL);
  g_assert_cmpstr (disk->id, ==, "disk0");
  assert_check_fails (spec, HV_SPEC_CHECK_DEFAULT, "“file” is missing");
  g_assert_true (hv_machine_spec_check (spec, HV_SPEC_CHECK_WITHOUT_FDS, &error));
  hv_device_spec_set_fd (spec, disk, "file", open_null ());
  g_assert_true (hv_machine_spec_check (spec, HV_SPEC_CHECK_DEFAULT, &error));
  g_assert_no_error (error);

  {
    static const struct
    {
      const char *options;
      const char *needle;
    } bad[] = {
      { "{'format': <'vmdk'>}", "one of auto, raw, qcow2, not “vmdk”" },
      { "{'cache': <'directsync'>}", "one of none, writeback" },
      { "{'serial': <'123456789012345678901'>}", "at most 20 bytes" },
      { "{'read-only': <'yes'>}", "must be of type “b”" },
      { "{'queues': <uint32 0>}", "is 1 to 16, not 0" },
      { "{'queues': <uint32 17>}", "is 1 to 16, not 17" },
    };
    for (gsize i = 0; i < G_N_ELEMENTS (bad); i++)
      {
        g_autoptr (HvMachineSpec) other = good_spec ();
        HvDeviceSpec *d;

        d = hv_machine_spec_add_device (other, "virtio-blk", NULL, g_variant_new_parsed (bad[i].options));
        hv_device_spec_set_fd (other, d, "file", open_null ());
        assert_check_fails (other, HV_SPEC_CHECK_DEFAULT, bad[i].needle);
      }
  }
  {
    g_autoptr (HvMachineSpec) other = good_spec ();
    HvDeviceSpec *d;

    d = hv_machine_spec_add_device (other, "virtio-blk", NULL,
                                    g_variant_new_parsed ("{'format': <'qcow2'>, 'cache': <'none'>, "
                                                          "'read-only': <true>, "
                                                          "'serial': <'12345678901234567890'>}"));
    hv_device_spec_set_fd (other, d, "file", open_null ());
    g_assert_true (hv_machine_spec_check (other, HV_SPEC_CHECK_DEFAULT, &error));
    g_assert_no_error (error);
  }
}

/* SATA disks need an image, CD-ROMs may be empty; six drives share the controller's ports; a CD-ROM
 * takes no write options; the message keeps them all. */
static void
test_check_sata (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (HvMachineSpec) spec = good_spec ();
  g_autoptr (GVariant) message = NULL;
  g_autoptr (HvMachineSpec) back = NULL;
  HvDeviceSpec *disk, *cdrom;

  disk = hv_machine_spec_add_device (spec, "sata-disk", NULL, g_variant_new_parsed ("{'serial': <'S1'>}"));
  g_assert_cmpstr (disk->id, ==, "sata0");
  assert_check_fails (spec, HV_SPEC_CHECK_DEFAULT, "“file” is missing");
  hv_device_spec_set_fd (spec, disk, "file", open_null ());
  cdrom = hv_machine_spec_add_device (spec, "cdrom", NULL, NULL);
  g_assert_cmpstr (cdrom->id, ==, "cdrom0");
  g_assert_true (hv_machine_spec_check (spec, HV_SPEC_CHECK_DEFAULT, &error));
  g_assert_no_error (error);
  cdrom = hv_machine_spec_add_device (spec, "cdrom", NULL, NULL);
  hv_device_spec_set_fd (spec, cdrom, "file", open_null ());
  message = g_variant_ref_sink (hv_machine_spec_to_variant (spec));
  back = hv_machine_spec_new_from_variant (message, (const int *) spec->fds->data, spec->fds->len, NULL,
                                           &error);
  g_assert_no_error (error);
  g_assert_true (hv_machine_spec_check (back, HV_SPEC_CHECK_DEFAULT, &error));
  g_assert_cmpstr (((HvDeviceSpec *) back->devices->pdata[1])->kind, ==, "sata-disk");
  g_assert_cmpstr (((HvDeviceSpec *) back->devices->pdata[2])->kind, ==, "cdrom");
  g_assert_cmpint (hv_device_spec_get_fd (back, back->devices->pdata[3], "file"), >=, 0);

  {
    g_autoptr (HvMachineSpec) other = good_spec ();

    hv_machine_spec_add_device (other, "cdrom", NULL, g_variant_new_parsed ("{'read-only': <false>}"));
    assert_check_fails (other, HV_SPEC_CHECK_DEFAULT, "read-only");
  }
  {
    g_autoptr (HvMachineSpec) other = good_spec ();

    for (unsigned i = 0; i < 7; i++)
      hv_machine_spec_add_device (other, "cdrom", NULL, NULL);
    assert_check_fails (other, HV_SPEC_CHECK_DEFAULT, "cdrom");
  }
  {
    g_autoptr (HvMachineSpec) other = good_spec ();

    for (unsigned i = 0; i < 4; i++)
      hv_machine_spec_add_device (other, "cdrom", NULL, NULL);
    for (unsigned i = 0; i < 3; i++)
      hv_device_spec_set_fd (other, hv_machine_spec_add_device (other, "sata-disk", NULL, NULL), "file",
                             open_null ());
    assert_check_fails (other, HV_SPEC_CHECK_DEFAULT, "7 SATA drives");
  }
}

/* The message keeps everything but fd numbers: a spec read back writes the same message. */
static void
test_message_round_trip (void)
{
  g_autofree char *text = NULL;
  g_autoptr (HvMachineSpec) spec = good_spec ();
  g_autoptr (HvMachineSpec) back = NULL;
  g_autoptr (GVariant) message = NULL;
  g_autoptr (GVariant) again = NULL;
  g_autoptr (GError) error = NULL;
  HvDeviceSpec *com2;
  struct stat a, b;
  const char *order[] = { "cdrom", "disk", NULL };

  spec->vcpus = 3;
  g_free (spec->cpuid_mask);
  spec->cpuid_mask = g_strdup ("-cx16");
  g_free (spec->cmdline);
  spec->cmdline = g_strdup ("console=ttyS0 quiet");
  spec->initrd = hv_machine_spec_add_fd (spec, open ("/proc/self/exe", O_RDONLY | O_CLOEXEC));
  g_strfreev (spec->boot_order);
  spec->boot_order = g_strdupv ((char **) order);
  spec->boot_menu_ms = 1500;
  com2 = hv_machine_spec_add_device (spec, "serial", "com2", NULL);
  hv_device_spec_set_fd (spec, com2, "output", open_null ());
  hv_machine_spec_add_device (spec, "bochs-display", NULL, NULL);

  message = g_variant_ref_sink (hv_machine_spec_to_variant (spec));
  text = g_variant_print (message, TRUE);
  g_test_message ("%s", text);
  back = hv_machine_spec_new_from_variant (message, (const int *) spec->fds->data, spec->fds->len, NULL,
                                           &error);
  g_assert_no_error (error);
  g_assert_true (hv_machine_spec_check (back, HV_SPEC_CHECK_DEFAULT, &error));
  g_assert_no_error (error);
  again = g_variant_ref_sink (hv_machine_spec_to_variant (back));
  g_assert_true (g_variant_equal (message, again));
  g_assert_cmpuint (back->boot_menu_ms, ==, 1500);

  /* The reader has its own fds, for the same files. */
  g_assert_cmpint (hv_machine_spec_get_fd (back, back->initrd), !=,
                   hv_machine_spec_get_fd (spec, spec->initrd));
  g_assert_no_errno (fstat (hv_machine_spec_get_fd (back, back->initrd), &a));
  g_assert_no_errno (fstat (hv_machine_spec_get_fd (spec, spec->initrd), &b));
  g_assert_cmpuint (a.st_ino, ==, b.st_ino);
  g_assert_cmpint (hv_device_spec_get_fd (back, hv_machine_spec_lookup_device (back, "com2"), "output"), >=,
                   0);
}

/* A disk's chain of backing files travels as one "ah" option: each fd its own handle, in order. */
static void
test_fd_array_option (void)
{
  g_autoptr (HvMachineSpec) spec = good_spec ();
  g_autoptr (HvMachineSpec) back = NULL;
  g_autoptr (GVariant) message = NULL;
  g_autoptr (GVariant) dropped = NULL;
  g_autoptr (GError) error = NULL;
  HvDeviceSpec *disk;
  int chain[2] = { open_null (), open ("/proc/self/exe", O_RDONLY | O_CLOEXEC) };
  gsize n;
  const gint32 *handles;
  g_autoptr (GVariant) value = NULL;
  struct stat a, b;

  disk = hv_machine_spec_add_device (spec, "virtio-blk", NULL, NULL);
  hv_device_spec_set_fd (spec, disk, "file", open_null ());
  hv_device_spec_set_fds (spec, disk, "backing", chain, 2);
  g_assert_true (hv_machine_spec_check (spec, HV_SPEC_CHECK_DEFAULT, &error));
  g_assert_no_error (error);

  message = g_variant_ref_sink (hv_machine_spec_to_variant (spec));
  back = hv_machine_spec_new_from_variant (message, (const int *) spec->fds->data, spec->fds->len, NULL,
                                           &error);
  g_assert_no_error (error);
  g_assert_true (hv_machine_spec_check (back, HV_SPEC_CHECK_DEFAULT, &error));
  g_assert_no_error (error);
  value = g_variant_lookup_value (hv_machine_spec_lookup_device (back, "disk0")->options, "backing",
                                  G_VARIANT_TYPE ("ah"));
  handles = g_variant_get_fixed_array (value, &n, sizeof (gint32));
  g_assert_cmpuint (n, ==, 2);
  g_assert_no_errno (fstat (hv_machine_spec_get_fd (back, handles[1]), &a));
  g_assert_no_errno (fstat (chain[1], &b));
  g_assert_cmpuint (a.st_ino, ==, b.st_ino);

  /* Without fds, as a VM describes itself. */
  dropped = g_variant_ref_sink (hv_spec_options_map_fds (disk->options, NULL, NULL, NULL, NULL));
  g_assert_cmpuint (g_variant_n_children (dropped), ==, 0);

  /* A handle in the array that the spec does not have. */
  {
    g_autoptr (HvMachineSpec) bad = good_spec ();
    const gint32 wrong[] = { 0, 9 };
    hv_machine_spec_add_device (
        bad, "virtio-blk", NULL,
        g_variant_new_parsed ("{'file': <handle 0>, 'backing': <%@ah>}",
                              g_variant_new_fixed_array (G_VARIANT_TYPE_HANDLE, wrong, 2, sizeof (gint32))));
    assert_check_fails (bad, HV_SPEC_CHECK_DEFAULT, "file 9");
  }
}

static GVariant *
message_with (const char *key, GVariant *value)
{
  g_autoptr (HvMachineSpec) spec = good_spec ();
  GVariantDict dict;
  g_autoptr (GVariant) base = g_variant_ref_sink (hv_machine_spec_to_variant (spec));

  g_variant_dict_init (&dict, base);
  if (value)
    g_variant_dict_insert_value (&dict, key, value);
  else
    g_variant_dict_remove (&dict, key);
  return g_variant_ref_sink (g_variant_dict_end (&dict));
}

static void
assert_read_fails (GVariant *message, const char *const *ignore, const char *needle)
{
  g_autoptr (GVariant) owned = message;
  g_autoptr (GError) error = NULL;
  int fd = open_null ();
  HvMachineSpec *spec = hv_machine_spec_new_from_variant (message, &fd, 1, ignore, &error);

  close (fd);
  g_assert_null (spec);
  g_assert_error (error, HV_ERROR, HV_ERROR_INVALID_ARGUMENT);
  g_test_message ("refused: %s", error->message);
  g_assert_nonnull (strstr (error->message, needle));
}

static void
test_message_errors (void)
{
  const char *const ours[] = { "kvm-fd", NULL };
  g_autoptr (GError) error = NULL;

  assert_read_fails (message_with ("version", g_variant_new_uint32 (HV_SPEC_VERSION + 1)), NULL,
                     "this build reads versions up to");
  assert_read_fails (message_with ("version", NULL), NULL, "has no “version”");
  assert_read_fails (message_with ("memory", g_variant_new_string ("lots")), NULL,
                     "“memory” must be of type “t”");
  assert_read_fails (message_with ("kernel", g_variant_new_handle (3)), NULL, "carried 1");
  assert_read_fails (message_with ("boot", g_variant_new_string ("floppy")), NULL, "“floppy”");
  assert_read_fails (message_with ("disks", g_variant_new_string ("/dev/sda")), NULL, "unknown key “disks”");
  assert_read_fails (message_with ("kvm-fd", g_variant_new_handle (0)), NULL, "unknown key “kvm-fd”");
  assert_read_fails (
      message_with ("devices", g_variant_new_parsed ("[('serial', 'serial1', {'input': <handle 4>})]")), NULL,
      "serial1.input");
  assert_read_fails (g_variant_ref_sink (g_variant_new_string ("spec")), NULL, "must be of type “a{sv}”");

  /* A caller's own keys pass through to it. */
  {
    g_autoptr (GVariant) message = message_with ("kvm-fd", g_variant_new_handle (0));
    int fd = open_null ();
    g_autoptr (HvMachineSpec) spec = hv_machine_spec_new_from_variant (message, &fd, 1, ours, &error);
    close (fd);
    g_assert_no_error (error);
    g_assert_nonnull (spec);
  }
}

static void
test_device_text (void)
{
  g_autoptr (HvMachineSpec) spec = good_spec ();
  g_autoptr (GError) error = NULL;
  HvDeviceSpec *device;

  g_assert_true (hv_machine_spec_add_device_text (spec, "serial,id=com2", &error));
  g_assert_no_error (error);
  g_assert_true (hv_machine_spec_add_device_text (spec, "virtio-keyboard", &error));
  g_assert_no_error (error);
  device = hv_machine_spec_lookup_device (spec, "com2");
  g_assert_nonnull (device);
  g_assert_cmpstr (device->kind, ==, "serial");
  g_assert_nonnull (hv_machine_spec_lookup_device (spec, "keyboard0"));
  g_assert_true (hv_machine_spec_check (spec, HV_SPEC_CHECK_DEFAULT, &error));
  g_assert_no_error (error);

  g_assert_false (hv_machine_spec_add_device_text (spec, "floppy", &error));
  g_assert_nonnull (strstr (error->message, "the kinds are: serial, bochs-display"));
  g_clear_error (&error);
  g_assert_false (hv_machine_spec_add_device_text (spec, "rtc", &error));
  g_clear_error (&error);
  g_assert_false (hv_machine_spec_add_device_text (spec, "serial,fast", &error));
  g_assert_nonnull (strstr (error->message, "not OPTION=VALUE"));
  g_clear_error (&error);
  g_assert_false (hv_machine_spec_add_device_text (spec, "serial,speed=9600", &error));
  g_assert_nonnull (strstr (error->message, "no option “speed”"));
  g_clear_error (&error);
  g_assert_false (hv_machine_spec_add_device_text (spec, "serial,output=3", &error));
  g_assert_nonnull (strstr (error->message, "is a file"));
  g_clear_error (&error);
  g_assert_cmpuint (spec->devices->len, ==, 3);
}

/* A NIC's MAC and port forwards are checked with the spec, naming the device and the option. */
static void
test_check_net (void)
{
  g_autoptr (GError) error = NULL;
  const struct
  {
    const char *options;
    const char *expect; /* NULL: accepted */
  } cases[] = {
    { "{'backend': <'user'>, 'restrict': <true>}", NULL },
    { "{'mac': <'52:54:00:AB:cd:ef'>}", NULL },
    { "{'hostfwd': <'tcp::2222-:22'>}", NULL },
    { "{'hostfwd': <'udp:127.0.0.1:5555-10.0.2.15:7;tcp:0.0.0.0:8080-:80'>}", NULL },
    { "{'hostfwd': <''>}", NULL },
    { "{'backend': <'vde'>}", "device “net0”: the option “backend”: “vde” is not a network backend" },
    { "{'link': <false>}", NULL },
    { "{'link': <'down'>}", "must be of type “b”" },
    { "{'backend': <'tap'>}", "device “net0”: the backend “tap” needs a TAP device (“tap”)" },
    { "{'backend': <'tap'>, 'tap': <[handle 1]>, 'hostfwd': <'tcp::2222-:22'>}",
      "the option “hostfwd” is the NAT's (backend “user”), not a TAP's" },
    { "{'backend': <'tap'>, 'tap': <[handle 1]>, 'restrict': <true>}", "the option “restrict” is the NAT's" },
    { "{'tap': <[handle 1]>}", "a TAP device (“tap”) needs the backend “tap”" },
    { "{'backend': <'tap'>, 'tap': <[handle 1]>, 'link': <false>, 'mac': <'52:54:00:00:00:09'>}", NULL },
    { "{'mac': <'52:54:00:12:34'>}",
      "device “net0”: the option “mac”: “52:54:00:12:34” is not a MAC address" },
    { "{'mac': <'52-54-00-12-34-56'>}", "is not a MAC address" },
    { "{'mac': <'52:54:00:12:34:5g'>}", "is not a MAC address" },
    { "{'mac': <'03:00:00:00:00:01'>}", "multicast" },
    { "{'mac': <'00:00:00:00:00:00'>}", "not a usable MAC address" },
    { "{'mac': <uint32 5>}", "must be of type “s”" },
    { "{'hostfwd': <'icmp::1-:1'>}",
      "the option “hostfwd”: the forward “icmp::1-:1” does not start with tcp: or udp:" },
    { "{'hostfwd': <'tcp:2222-:22'>}", "is not tcp|udp:[HOSTADDR]:HOSTPORT-[GUESTADDR]:GUESTPORT" },
    { "{'hostfwd': <'tcp::0-:22'>}", "“0” in the forward “tcp::0-:22” is not a host port" },
    { "{'hostfwd': <'tcp::22-:65536'>}", "is not a guest port" },
    { "{'hostfwd': <'tcp:1.2.3:22-:22'>}",
      "“1.2.3” in the forward “tcp:1.2.3:22-:22” is not a host IPv4 address" },
    { "{'hostfwd': <'tcp::22-10.0.2.x:22'>}", "is not a guest IPv4 address" },
    { "{'hostfwd': <'tcp::22-:22;tcp:127.0.0.1:22-:23'>}", "already forwarded" },
    { "{'tftp': <'/srv/tftp'>}", "must be of type “h”" },
    /* Queue pairs: one TAP queue each; the NAT has one. */
    { "{'backend': <'tap'>, 'tap': <handle 1>}", "the option “tap” must be of type “ah”" },
    { "{'backend': <'tap'>, 'tap': <[handle 1, handle 1]>, 'queues': <uint32 2>}", NULL },
    { "{'backend': <'tap'>, 'tap': <[handle 1]>, 'queues': <uint32 2>}",
      "2 queue pairs need 2 TAP fds, not 1" },
    { "{'backend': <'tap'>, 'tap': <[handle 1, handle 1]>}", "1 queue pair needs 1 TAP fd, not 2" },
    { "{'backend': <'tap'>, 'tap': <[handle 1]>, 'queues': <uint32 9>}",
      "the option “queues” is 1 to 8, not 9" },
    { "{'backend': <'tap'>, 'tap': <[handle 1]>, 'queues': <uint32 0>}",
      "the option “queues” is 1 to 8, not 0" },
    { "{'queues': <uint32 2>}",
      "the NAT (backend “user”) has one queue pair, not 2: only a TAP has several" },
    { "{'queues': <uint32 1>, 'restrict': <true>}", NULL },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr (HvMachineSpec) spec = good_spec ();

      /* Handle 1: a file the machine has (a TAP, as far as the spec can tell). */
      g_assert_cmpint (hv_machine_spec_add_fd (spec, open_null ()), ==, 1);
      hv_machine_spec_add_device (spec, "virtio-net", NULL, g_variant_new_parsed (cases[i].options));
      if (cases[i].expect)
        assert_check_fails (spec, HV_SPEC_CHECK_DEFAULT, cases[i].expect);
      else
        {
          g_assert_true (hv_machine_spec_check (spec, HV_SPEC_CHECK_DEFAULT, &error));
          g_assert_no_error (error);
        }
    }

  /* The same through --device text, and at most eight NICs. */
  {
    g_autoptr (HvMachineSpec) spec = good_spec ();
    g_assert_true (hv_machine_spec_add_device_text (
        spec, "virtio-net,hostfwd=udp::5555-:7;tcp::2222-:22,restrict=on,mac=52:54:00:00:00:09", &error));
    g_assert_no_error (error);
    g_assert_true (hv_machine_spec_check (spec, HV_SPEC_CHECK_DEFAULT, &error));
    g_assert_no_error (error);
    for (unsigned i = 0; i < 7; i++)
      hv_machine_spec_add_device (spec, "virtio-net", NULL, NULL);
    g_assert_true (hv_machine_spec_check (spec, HV_SPEC_CHECK_DEFAULT, &error));
    g_assert_no_error (error);
    hv_machine_spec_add_device (spec, "virtio-net", NULL, NULL);
    assert_check_fails (spec, HV_SPEC_CHECK_DEFAULT, "at most 8 devices of kind “virtio-net”");
  }
}

/* virtio-serial's port names and their fds, one per port. */
static void
test_check_serial (void)
{
  struct
  {
    const char *options;
    const char *expect; /* NULL: accepted */
  } cases[] = {
    { "{'ports': <'org.qemu.guest_agent.0'>}", NULL },
    { "{'ports': <'org.qemu.guest_agent.0,com.example.a'>, 'fds': <[handle 1, 1]>}", NULL },
    { "{'ports': <'org.qemu.guest_agent.0'>, 'fds': <[handle 1, 1]>}", "1 port names and 2 fds" },
    { "@a{sv} {}", "“ports”" },
    { "{'ports': <''>}", "1 to 8 ports" },
    { "{'ports': <'a,,b'>}", "a port name has 1 to 64 characters" },
    { "{'ports': <'a,a'>}", "two ports are named “a”" },
    { "{'ports': <'a b'>}", "other than printable ASCII" },
    { "{'ports': <'a,b,c,d,e,f,g,h,i'>}", "1 to 8 ports" },
  };
  g_autoptr (GError) error = NULL;

  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr (HvMachineSpec) spec = good_spec ();

      g_assert_cmpint (hv_machine_spec_add_fd (spec, open_null ()), ==, 1);
      hv_machine_spec_add_device (spec, "virtio-serial", NULL, g_variant_new_parsed (cases[i].options));
      if (cases[i].expect)
        assert_check_fails (spec, HV_SPEC_CHECK_DEFAULT, cases[i].expect);
      else
        {
          g_assert_true (hv_machine_spec_check (spec, HV_SPEC_CHECK_DEFAULT, &error));
          g_assert_no_error (error);
        }
    }
}

/* Every kind of the core points at the entry specs know it by, and every entry has a device model. */
static void
test_kinds_agree (void)
{
  gsize n_models = 0, n_infos = 0;

  for (const HvDeviceKind *const *kind = hv_device_kinds; *kind; kind++, n_models++)
    {
      g_assert_nonnull ((*kind)->info);
      g_assert_true (hv_device_kind_info_lookup ((*kind)->info->name) == (*kind)->info);
    }
  for (; hv_device_kind_infos[n_infos]; n_infos++)
    g_assert_nonnull (hv_device_kind_infos[n_infos]->description);
  g_assert_cmpuint (n_models, ==, n_infos);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/spec/defaults", test_defaults);
  g_test_add_func ("/spec/check-machine", test_check_machine);
  g_test_add_func ("/spec/check-devices", test_check_devices);
  g_test_add_func ("/spec/check-disks", test_check_disks);
  g_test_add_func ("/spec/check-sata", test_check_sata);
  g_test_add_func ("/spec/message-round-trip", test_message_round_trip);
  g_test_add_func ("/spec/message-errors", test_message_errors);
  g_test_add_func ("/spec/fd-array-option", test_fd_array_option);
  g_test_add_func ("/spec/device-text", test_device_text);
  g_test_add_func ("/spec/check-net", test_check_net);
  g_test_add_func ("/spec/check-serial", test_check_serial);
  g_test_add_func ("/spec/kinds-agree", test_kinds_agree);
  return g_test_run ();
}
