/* test-service-disks.c — disks and CD-ROMs through the service: a definition's disks booted and used, the
 * Machine disk methods (create, attach, detach, resize, import) off and running, media changes, and
 * firmware boot from a disk. */
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

/* ---- disks through the Machine methods ---- */

/* The disk of @machine's settings with target @target, as a{sv} (NULL when none). */
static GVariant *
settings_disk (VireoDBusMachine *machine, const char *target)
{
  g_autoptr (GVariant) settings = vireo_dbus_machine_dup_settings (machine);
  g_autoptr (GVariant) disks = g_variant_lookup_value (settings, "disks", G_VARIANT_TYPE ("aa{sv}"));
  GVariantIter iter;
  GVariant *disk;

  g_assert_nonnull (disks);
  g_variant_iter_init (&iter, disks);
  while ((disk = g_variant_iter_next_value (&iter)) != NULL)
    {
      const char *disk_target = NULL;
      if (g_variant_lookup (disk, "target", "&s", &disk_target) && g_str_equal (disk_target, target))
        return disk;
      g_variant_unref (disk);
    }
  return NULL;
}

static char *
disk_string (VireoDBusMachine *machine, const char *target, const char *key)
{
  g_autoptr (GVariant) disk = settings_disk (machine, target);
  char *value = NULL;

  g_assert_nonnull (disk);
  g_assert_true (g_variant_lookup (disk, key, "s", &value));
  return value;
}

static void
on_disk_progress (VireoDBusMachine *machine, const char *operation, const char *target, double fraction,
                  gpointer data)
{
  GArray *fractions = data;

  g_assert_cmpstr (operation, ==, "import");
  g_array_append_val (fractions, fraction);
}

/* Imports @source into @machine with @options; returns the target and checks the progress reports:
 * from 0.0 up to 1.0 (last), never backwards. */
static char *
import_with_progress (VireoDBusMachine *machine, const char *source, GVariant *options)
{
  g_autoptr (GArray) fractions = g_array_new (FALSE, FALSE, sizeof (double));
  gulong handler = g_signal_connect (machine, "disk-progress", G_CALLBACK (on_disk_progress), fractions);
  g_autofree char *target = NULL;

  target = call_for_target (machine, "ImportDisk", g_variant_new ("(s@a{sv})", source, options));
  /* The signal was sent before the reply; let it arrive. */
  for (guint i = 0;
       i < 100 && (fractions->len == 0 || g_array_index (fractions, double, fractions->len - 1) < 1.0); i++)
    g_main_context_iteration (NULL, FALSE);
  g_signal_handler_disconnect (machine, handler);
  g_test_message ("import of %s: %u progress reports", source, fractions->len);
  g_assert_cmpuint (fractions->len, >=, 2);
  g_assert_cmpfloat (g_array_index (fractions, double, 0), ==, 0.0);
  g_assert_cmpfloat (g_array_index (fractions, double, fractions->len - 1), ==, 1.0);
  for (guint i = 1; i < fractions->len; i++)
    g_assert_cmpfloat (g_array_index (fractions, double, i), >=, g_array_index (fractions, double, i - 1));
  return g_steal_pointer (&target);
}

/* Every disk method on an off machine: success paths judged by qemu-img, then each named error. */
static void
test_disk_methods (Fixture *f)
{
  g_autoptr (VireoDBusMachine) machine = NULL;
  g_autoptr (VireoDBusMachine) copy = NULL;
  g_autofree char *qemu_img = g_find_program_in_path ("qemu-img");
  g_autofree char *folder = NULL;
  g_autofree char *dir = g_build_filename (f->base, "user-files", NULL);
  g_autofree char *iso = NULL;
  g_autofree char *iso2 = NULL;
  g_autofree char *raw = NULL;
  g_autofree char *vmdk = g_build_filename (dir, "appliance.vmdk", NULL);
  g_autofree char *vhdx = g_build_filename (dir, "hyperv.vhdx", NULL);
  g_autofree char *broken = g_build_filename (dir, "broken.qcow2", NULL);
  g_autofree char *target = NULL;
  g_autofree char *path = NULL;
  g_autofree char *xml = NULL;
  g_autofree char *copy_path = NULL;
  g_autofree char *listing = NULL;
  g_autoptr (GVariant) reply = NULL;
  struct stat st;

  if (qemu_img == NULL)
    {
      g_test_skip ("needs qemu-img (Debian: qemu-utils)");
      return;
    }
  g_assert_no_errno (g_mkdir_with_parents (dir, 0700));
  iso = write_pattern_image (dir, "install.iso", 1 << 20);
  iso2 = write_pattern_image (dir, "drivers.iso", 64 << 10);
  raw = write_pattern_image (dir, "source.raw", 3 << 20);
  machine = create_guest (f, "disky", "echo");
  folder = machine_folder (f, machine);

  /* CreateDisk: a qcow2 image in the machine's folder, named after its target; a raw one on SATA. */
  target = call_for_target (machine, "CreateDisk", g_variant_new_parsed ("(uint64 1048576, @a{sv} {})"));
  g_assert_cmpstr (target, ==, "vda");
  path = g_build_filename (folder, "vda.qcow2", NULL);
  {
    const char *check[] = { "qemu-img", "check", "-q", path, NULL };
    run_ok (check);
  }
  g_assert_cmpuint (disk_virtual_size (path), ==, 1 << 20);
  g_assert_cmpstr (disk_string (machine, "vda", "path"), ==, path);
  g_assert_cmpstr (disk_string (machine, "vda", "format"), ==, "qcow2");
  g_clear_pointer (&target, g_free);
  g_clear_pointer (&path, g_free);
  target = call_for_target (machine, "CreateDisk",
                            g_variant_new_parsed ("(uint64 1000, {'format': <'raw'>, 'bus': <'sata'>, "
                                                  "'name': <'scratch.img'>})"));
  g_assert_cmpstr (target, ==, "sda");
  path = g_build_filename (folder, "scratch.img", NULL);
  g_assert_no_errno (stat (path, &st));
  g_assert_cmpint (st.st_size, ==, 1024);
  g_assert_cmpstr (disk_string (machine, "sda", "bus"), ==, "sata");
  g_clear_pointer (&target, g_free);

  call_expect_error (machine, "CreateDisk", g_variant_new_parsed ("(uint64 0, @a{sv} {})"),
                     ERROR_NAME ("InvalidArgument"), "size");
  call_expect_error (machine, "CreateDisk", g_variant_new_parsed ("(uint64 1048576, {'format': <'vmdk'>})"),
                     ERROR_NAME ("InvalidArgument"), "format");
  call_expect_error (machine, "CreateDisk", g_variant_new_parsed ("(uint64 1048576, {'format': <42>})"),
                     ERROR_NAME ("InvalidArgument"), "format");
  call_expect_error (machine, "CreateDisk",
                     g_variant_new_parsed ("(uint64 1048576, {'name': <'../escape'>})"),
                     ERROR_NAME ("InvalidArgument"), "name");
  call_expect_error (machine, "CreateDisk",
                     g_variant_new_parsed ("(uint64 1048576, {'name': <'machine.xml'>})"),
                     ERROR_NAME ("InvalidArgument"), "name");
  call_expect_error (machine, "CreateDisk",
                     g_variant_new_parsed ("(uint64 1048576, {'name': <'scratch.img'>})"),
                     ERROR_NAME ("Exists"), "scratch.img");
  call_expect_error (machine, "CreateDisk", g_variant_new_parsed ("(uint64 1048576, {'size': <'1G'>})"),
                     ERROR_NAME ("InvalidArgument"), "size");
  /* The bus checks the signature before vireod sees the call. */
  call_expect_error (machine, "CreateDisk", g_variant_new ("(s)", "1G"),
                     "org.freedesktop.DBus.Error.InvalidArgs", NULL);

  /* ResizeDisk: grow only. */
  call_ok (machine, "ResizeDisk", g_variant_new ("(st)", "vda", (guint64) 2 << 20));
  g_clear_pointer (&path, g_free);
  path = g_build_filename (folder, "vda.qcow2", NULL);
  g_assert_cmpuint (disk_virtual_size (path), ==, 2 << 20);
  call_ok (machine, "ResizeDisk", g_variant_new ("(st)", "sda", (guint64) 4096));
  g_clear_pointer (&path, g_free);
  path = g_build_filename (folder, "scratch.img", NULL);
  g_assert_no_errno (stat (path, &st));
  g_assert_cmpint (st.st_size, ==, 4096);
  call_expect_error (machine, "ResizeDisk", g_variant_new ("(st)", "vda", (guint64) 1 << 20),
                     ERROR_NAME ("InvalidArgument"), "shrink");
  call_expect_error (machine, "ResizeDisk", g_variant_new ("(st)", "vdq", (guint64) 1 << 20),
                     ERROR_NAME ("NotFound"), "vdq");

  /* AttachDisk: a CD-ROM with a medium (boot first) and an empty drive. */
  target = call_for_target (
      machine, "AttachDisk",
      g_variant_new_parsed ("({'path': <%s>, 'device': <'cdrom'>, 'boot-order': <uint32 1>},)", iso));
  g_assert_cmpstr (target, ==, "sdb");
  g_clear_pointer (&target, g_free);
  target = call_for_target (machine, "AttachDisk", g_variant_new_parsed ("({'device': <'cdrom'>},)"));
  g_assert_cmpstr (target, ==, "sdc");
  g_assert_cmpstr (disk_string (machine, "sdc", "path"), ==, "");
  call_expect_error (machine, "AttachDisk",
                     g_variant_new_parsed ("({'path': <%s>},)", "/nonexistent/disk.img"),
                     ERROR_NAME ("NotFound"), "/nonexistent/disk.img");
  call_expect_error (machine, "AttachDisk", g_variant_new_parsed ("({'path': <%s>, 'speed': <1>},)", iso2),
                     ERROR_NAME ("InvalidArgument"), "speed");
  call_expect_error (machine, "AttachDisk",
                     g_variant_new_parsed ("({'path': <%s>, 'device': <'cdrom'>, 'target': <'sdb'>},)", iso2),
                     ERROR_NAME ("Exists"), "sdb");
  call_expect_error (machine, "AttachDisk", g_variant_new_parsed ("({'path': <%s>},)", iso),
                     ERROR_NAME ("InvalidArgument"), "twice");

  /* ChangeMedium while off: the definition changes. */
  call_ok (machine, "ChangeMedium", g_variant_new ("(ss)", "sdc", iso2));
  g_assert_cmpstr (disk_string (machine, "sdc", "path"), ==, iso2);
  call_ok (machine, "ChangeMedium", g_variant_new ("(ss)", "sdc", ""));
  g_assert_cmpstr (disk_string (machine, "sdc", "path"), ==, "");
  call_expect_error (machine, "ChangeMedium", g_variant_new ("(ss)", "vda", iso2),
                     ERROR_NAME ("InvalidArgument"), "CD-ROM");
  call_expect_error (machine, "ChangeMedium", g_variant_new ("(ss)", "sdz", ""), ERROR_NAME ("NotFound"),
                     "sdz");
  call_expect_error (machine, "ChangeMedium", g_variant_new ("(ss)", "sdc", "/nonexistent.iso"),
                     ERROR_NAME ("NotFound"), "/nonexistent.iso");

  /* ImportDisk: a VMware and a Hyper-V image, made by qemu-img and judged by it. */
  {
    const char *to_vmdk[] = { "qemu-img", "convert", "-q", "-f", "raw", "-O", "vmdk", raw, vmdk, NULL };
    const char *to_vhdx[] = { "qemu-img", "convert", "-q", "-f", "raw", "-O", "vhdx", raw, vhdx, NULL };
    run_ok (to_vmdk);
    run_ok (to_vhdx);
  }
  target = import_with_progress (machine, vmdk, g_variant_new_parsed ("@a{sv} {}"));
  g_assert_cmpstr (target, ==, "vdb");
  g_clear_pointer (&path, g_free);
  path = g_build_filename (folder, "vdb.qcow2", NULL);
  {
    const char *check[] = { "qemu-img", "check", "-q", path, NULL };
    const char *compare[] = { "qemu-img", "compare", "-q", vmdk, path, NULL };
    run_ok (check);
    run_ok (compare);
  }
  g_assert_no_errno (stat (path, &st));
  g_assert_cmpuint (st.st_uid, ==, geteuid ());
  g_assert_cmpuint (st.st_mode & 0777, ==, 0600);
  g_clear_pointer (&target, g_free);
  target = import_with_progress (
      machine, vhdx, g_variant_new_parsed ("{'format': <'raw'>, 'bus': <'sata'>, 'name': <'hv.img'>}"));
  g_assert_cmpstr (target, ==, "sdd");
  g_clear_pointer (&path, g_free);
  path = g_build_filename (folder, "hv.img", NULL);
  {
    const char *compare[] = { "qemu-img", "compare", "-q", "-f", "vhdx", "-F", "raw", vhdx, path, NULL };
    const char *compare_source[] = { "qemu-img", "compare", "-q", raw, path, NULL };
    run_ok (compare);
    run_ok (compare_source);
  }
  g_assert_cmpstr (disk_string (machine, "sdd", "format"), ==, "raw");
  g_clear_pointer (&target, g_free);

  /* A failed import says qemu-img's reason and leaves nothing behind. */
  listing = folder_listing (folder);
  {
    static const char damaged[] = "QFI\xfb\0\0\0\x03 this header stops here";
    g_assert_true (g_file_set_contents (broken, damaged, sizeof damaged, NULL));
  }
  call_expect_error (machine, "ImportDisk", g_variant_new_parsed ("(%s, @a{sv} {})", broken),
                     ERROR_NAME ("Failed"), "qemu-img");
  call_expect_error (machine, "ImportDisk", g_variant_new_parsed ("(%s, @a{sv} {})", "/nonexistent.vmdk"),
                     ERROR_NAME ("NotFound"), "/nonexistent.vmdk");
  call_expect_error (machine, "ImportDisk", g_variant_new_parsed ("(%s, @a{sv} {})", "relative.vmdk"),
                     ERROR_NAME ("InvalidArgument"), "absolute");
  call_expect_error (machine, "ImportDisk", g_variant_new_parsed ("(%s, {'name': <'hv.img'>})", vmdk),
                     ERROR_NAME ("Exists"), "hv.img");
  call_expect_error (machine, "ImportDisk", g_variant_new_parsed ("(%s, {'format': <'vdi'>})", vmdk),
                     ERROR_NAME ("InvalidArgument"), "format");
  {
    g_autofree char *after = folder_listing (folder);
    g_assert_cmpstr (after, ==, listing);
  }

  /* The whole definition through libvirt XML and back, CD-ROMs, SATA and boot order included. */
  reply = call_full (machine, "ExportLibvirtXml", NULL, NULL, NULL);
  g_assert_nonnull (reply);
  g_variant_get (reply, "(s)", &xml);
  g_assert_nonnull (strstr (xml, "device=\"cdrom\""));
  g_assert_nonnull (strstr (xml, "bus=\"sata\""));
  g_assert_nonnull (strstr (xml, "<boot order=\"1\"/>"));
  g_clear_pointer (&reply, g_variant_unref);
  reply = call_full (f->manager, "ImportLibvirtXml",
                     g_variant_new_parsed ("(%s, {'name': <'copy'>, 'keep-uuid': <false>})", xml), NULL,
                     NULL);
  g_assert_nonnull (reply);
  g_variant_get (reply, "(o)", &copy_path);
  copy = machine_proxy (f, copy_path);
  {
    g_autoptr (GVariant) a = vireo_dbus_machine_dup_settings (machine);
    g_autoptr (GVariant) b = vireo_dbus_machine_dup_settings (copy);
    g_autoptr (GVariant) disks_a = g_variant_lookup_value (a, "disks", NULL);
    g_autoptr (GVariant) disks_b = g_variant_lookup_value (b, "disks", NULL);
    g_assert_true (g_variant_equal (disks_a, disks_b));
  }
  delete_machine (f, copy, FALSE);

  /* A domain virt-manager made for an installation: its IDE CD-ROM comes over as a SATA one, first to
   * boot, and its installer is opened (with the caller's rights) like any disk. */
  {
    g_autofree char *domain = g_strdup_printf (
        "<domain type='kvm'><name>installer</name><memory unit='MiB'>64</memory>"
        "<os><type arch='x86_64' machine='pc-q35-7.2'>hvm</type></os><devices>"
        "<disk type='file' device='disk'><driver name='qemu' type='raw'/><source file='%s'/>"
        "<target dev='vda' bus='virtio'/><boot order='2'/></disk>"
        "<disk type='file' device='cdrom'><driver name='qemu' type='raw'/><source file='%s'/>"
        "<target dev='hdc' bus='ide'/><readonly/><boot order='1'/></disk></devices></domain>",
        raw, iso);
    g_autofree char *installer_path = NULL;
    g_autoptr (VireoDBusMachine) installer = NULL;
    g_autoptr (GVariant) cdrom = NULL;
    guint32 order = 0;

    g_clear_pointer (&reply, g_variant_unref);
    reply = call_full (f->manager, "ImportLibvirtXml", g_variant_new_parsed ("(%s, @a{sv} {})", domain), NULL,
                       NULL);
    g_assert_nonnull (reply);
    g_variant_get (reply, "(o)", &installer_path);
    installer = machine_proxy (f, installer_path);
    cdrom = settings_disk (installer, "sda");
    g_assert_nonnull (cdrom);
    g_assert_cmpstr (disk_string (installer, "sda", "device"), ==, "cdrom");
    g_assert_cmpstr (disk_string (installer, "sda", "bus"), ==, "sata");
    g_assert_cmpstr (disk_string (installer, "sda", "path"), ==, iso);
    g_assert_true (g_variant_lookup (cdrom, "boot-order", "u", &order));
    g_assert_cmpuint (order, ==, 1);
    g_assert_cmpstr (disk_string (installer, "vda", "path"), ==, raw);
    delete_machine (f, installer, FALSE);
  }

  /* DetachDisk: the machine's own image may go with it; a file elsewhere never does. */
  call_ok (machine, "DetachDisk", g_variant_new ("(sb)", "sda", TRUE));
  g_clear_pointer (&path, g_free);
  path = g_build_filename (folder, "scratch.img", NULL);
  g_assert_false (g_file_test (path, G_FILE_TEST_EXISTS));
  g_assert_null (settings_disk (machine, "sda"));
  call_ok (machine, "DetachDisk", g_variant_new ("(sb)", "sdb", TRUE));
  g_assert_true (g_file_test (iso, G_FILE_TEST_EXISTS));
  call_ok (machine, "DetachDisk", g_variant_new ("(sb)", "vdb", FALSE));
  g_clear_pointer (&path, g_free);
  path = g_build_filename (folder, "vdb.qcow2", NULL);
  g_assert_true (g_file_test (path, G_FILE_TEST_EXISTS));
  call_expect_error (machine, "DetachDisk", g_variant_new ("(sb)", "sdb", FALSE), ERROR_NAME ("NotFound"),
                     "sdb");

  /* The definition on disk says the same after a restart, and what an import interrupted by vireod's
   * end left behind is cleared. */
  {
    g_autofree char *saved_path = g_strdup (machine_path (machine));
    g_autofree char *leftover = g_build_filename (folder, ".import-Ab12Cd", NULL);
    g_autofree char *partial = g_build_filename (leftover, "vdc.qcow2", NULL);

    g_assert_no_errno (g_mkdir (leftover, 0700));
    g_assert_true (g_file_set_contents (partial, "partial", -1, NULL));
    vireod_restart (f);
    g_assert_false (g_file_test (leftover, G_FILE_TEST_EXISTS));
    g_clear_object (&machine);
    machine = machine_proxy (f, saved_path);
    g_assert_cmpstr (disk_string (machine, "sdc", "device"), ==, "cdrom");
    g_assert_cmpstr (disk_string (machine, "sdd", "bus"), ==, "sata");
    g_assert_null (settings_disk (machine, "sda"));
  }
}

/* While the machine runs, its disks stay as they are (InvalidState), except a CD-ROM's medium. */
static void
test_disk_methods_running (Fixture *f)
{
  g_autoptr (VireoDBusMachine) machine = NULL;
  g_autoptr (GString) seen = g_string_new (NULL);
  g_autofree char *dir = g_build_filename (f->base, "user-files", NULL);
  g_autofree char *raw = NULL;
  g_autofree char *target = NULL;
  int fd;

  g_assert_no_errno (g_mkdir_with_parents (dir, 0700));
  raw = write_pattern_image (dir, "data.raw", 1 << 20);
  machine = create_guest (f, "spinning", "echo");
  target = call_for_target (machine, "AttachDisk", g_variant_new_parsed ("({'path': <%s>},)", raw));
  g_assert_cmpstr (target, ==, "vda");
  g_clear_pointer (&target, g_free);
  /* An image vireod made in the machine's folder, which (in system mode) only vireod may enter: it
   * opens it for the worker with its own rights. */
  target = call_for_target (machine, "CreateDisk", g_variant_new_parsed ("(uint64 1048576, @a{sv} {})"));
  g_assert_cmpstr (target, ==, "vdb");
  fd = start_and_wait_for (machine, "echo ready", seen);

  call_expect_error (machine, "CreateDisk", g_variant_new_parsed ("(uint64 1048576, @a{sv} {})"),
                     ERROR_NAME ("InvalidState"), "spinning");
  call_expect_error (machine, "AttachDisk",
                     g_variant_new_parsed ("({'path': <%s>, 'readonly': <true>},)", raw),
                     ERROR_NAME ("InvalidState"), "spinning");
  call_expect_error (machine, "DetachDisk", g_variant_new ("(sb)", "vda", FALSE), ERROR_NAME ("InvalidState"),
                     "spinning");
  call_expect_error (machine, "ResizeDisk", g_variant_new ("(st)", "vda", (guint64) 2 << 20),
                     ERROR_NAME ("InvalidState"), "spinning");
  call_expect_error (machine, "ImportDisk", g_variant_new_parsed ("(%s, @a{sv} {})", raw),
                     ERROR_NAME ("InvalidState"), "spinning");
  call_expect_error (machine, "ChangeMedium", g_variant_new ("(ss)", "vda", raw),
                     ERROR_NAME ("InvalidArgument"), "CD-ROM");
  g_assert_nonnull (settings_disk (machine, "vda"));
  assert_vireod_answers (f);
  call_ok (machine, "TurnOff", NULL);
  wait_for_state (machine, "off");
  close (fd);
}

/* A CD-ROM in a running machine: the medium changes and ejects through the worker.  Needs the core's
 * AHCI devices (cdrom, sata-disk); until this build has them, Start says so (NotSupported). */
static void
test_cdrom_running (Fixture *f)
{
  g_autoptr (VireoDBusMachine) machine = NULL;
  g_autoptr (GString) seen = g_string_new (NULL);
  g_autofree char *dir = g_build_filename (f->base, "user-files", NULL);
  g_autofree char *iso = NULL;
  g_autofree char *iso2 = NULL;
  g_autofree char *target = NULL;
  int fd;

  g_assert_no_errno (g_mkdir_with_parents (dir, 0700));
  iso = write_pattern_image (dir, "one.iso", 1 << 20);
  iso2 = write_pattern_image (dir, "two.iso", 1 << 20);
  machine = create_guest (f, "optical", "echo");
  target = call_for_target (machine, "AttachDisk",
                            g_variant_new_parsed ("({'path': <%s>, 'device': <'cdrom'>},)", iso));
  g_assert_cmpstr (target, ==, "sda");
  fd = start_and_wait_for (machine, "echo ready", seen);
  call_ok (machine, "ChangeMedium", g_variant_new ("(ss)", "sda", iso2));
  g_assert_cmpstr (disk_string (machine, "sda", "path"), ==, iso2);
  call_ok (machine, "ChangeMedium", g_variant_new ("(ss)", "sda", ""));
  g_assert_cmpstr (disk_string (machine, "sda", "path"), ==, "");
  call_expect_error (machine, "ChangeMedium", g_variant_new ("(ss)", "sda", "/nonexistent.iso"),
                     ERROR_NAME ("NotFound"), "/nonexistent.iso");
  call_ok (machine, "TurnOff", NULL);
  wait_for_state (machine, "off");
  close (fd);
}

static const ServiceTest service_tests[] = {
  { "/service/disk-methods", test_disk_methods, FALSE },
  { "/service/disk-methods-system", test_disk_methods, FALSE, TRUE },
  { "/service/disk-methods-running", test_disk_methods_running, TRUE },
  { "/service/disk-methods-running-system", test_disk_methods_running, TRUE, TRUE },
  { "/service/cdrom-running", test_cdrom_running, TRUE },
};

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  for (guint i = 0; i < G_N_ELEMENTS (service_tests); i++)
    g_test_add_data_func (service_tests[i].path, &service_tests[i], run_service_test);
  return g_test_run ();
}
