/* test-spec-round-trip.c — one machine, every option, through every shape it takes: libvirt domain XML
 * → the service's configuration → the machine spec vireod sends → the worker's reading of that message
 * → the core's VM, and the VM described back as a spec equals the one vireod sent. */
#include "test-util.h"
#include "machine-config.h"
#include "vireo-error.h"
#include "worker-config.h"
#include "net-options.h"
#include "switch-registry.h"

#include <fcntl.h>
#include <linux/sockios.h>
#include <sched.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#define DOMAIN_XML                                                                                           \
  "<domain type='kvm'>"                                                                                      \
  "  <name>round-trip</name>"                                                                                \
  "  <uuid>6b1d3a36-2c1f-4a59-9d8e-0a1b2c3d4e5f</uuid>"                                                      \
  "  <memory unit='MiB'>96</memory>"                                                                         \
  "  <vcpu>3</vcpu>"                                                                                         \
  "  <os><type arch='x86_64'>hvm</type>"                                                                     \
  "    <kernel>%s</kernel><initrd>%s</initrd><cmdline>console=ttyS0 quiet</cmdline></os>"                    \
  "  <devices>%s</devices>"                                                                                  \
  "  <metadata><vireo:machine xmlns:vireo='https://vireo.org/xmlns/vireo/1'>"                                \
  "    <vireo:cpuid-mask>-cx16,-avx512f</vireo:cpuid-mask></vireo:machine></metadata>"                       \
  "</domain>"

/* The message vireod would send for @config (vireo_machine_config_to_spec plus its files as fds), and
 * the worker's own keys, with the fds in @fds. */
static GVariant *
message_for (const VireoMachineConfig *config, GUnixFDList *fds)
{
  g_autoptr (HvMachineSpec) spec = vireo_machine_config_to_spec (config);
  g_autoptr (GVariant) message = NULL;
  GVariantDict dict;
  int kvm_fd;

  spec->kernel = hv_machine_spec_add_fd (spec, open (config->kernel, O_RDONLY | O_CLOEXEC));
  spec->initrd = hv_machine_spec_add_fd (spec, open (config->initrd, O_RDONLY | O_CLOEXEC));
  g_assert_cmpint (spec->kernel, >=, 0);
  g_assert_cmpint (spec->initrd, >=, 0);
  for (unsigned i = 0; i < hv_machine_spec_get_n_fds (spec); i++)
    g_assert_cmpint (g_unix_fd_list_append (fds, hv_machine_spec_get_fd (spec, (int) i), NULL), ==, i);
  message = g_variant_ref_sink (hv_machine_spec_to_variant (spec));
  g_variant_dict_init (&dict, message);
  kvm_fd = open (g_file_test ("/dev/kvm", G_FILE_TEST_EXISTS) ? "/dev/kvm" : "/dev/null", O_RDWR | O_CLOEXEC);
  g_assert_cmpint (kvm_fd, >=, 0);
  g_variant_dict_insert (&dict, "kvm-fd", "h", g_unix_fd_list_append (fds, kvm_fd, NULL));
  close (kvm_fd);
  return g_variant_ref_sink (g_variant_dict_end (&dict));
}

/* @spec's message without the boot files (which a VM keeps as their contents, not as fds). */
static GVariant *
without_files (const HvMachineSpec *spec)
{
  g_autoptr (GVariant) message = g_variant_ref_sink (hv_machine_spec_to_variant (spec));
  GVariantBuilder builder;
  GVariantIter iter;
  const char *key;
  GVariant *value;

  /* In the message's own (fixed) order. */
  g_variant_builder_init (&builder, G_VARIANT_TYPE_VARDICT);
  g_variant_iter_init (&iter, message);
  while (g_variant_iter_next (&iter, "{&sv}", &key, &value))
    {
      if (strcmp (key, "kernel") != 0 && strcmp (key, "initrd") != 0)
        g_variant_builder_add (&builder, "{sv}", key, value);
      g_variant_unref (value);
    }
  return g_variant_ref_sink (g_variant_builder_end (&builder));
}

static void
round_trip (const char *devices_xml, gboolean display)
{
  g_autofree char *kernel = vireo_test_guest_path ("boot-info");
  g_autofree char *xml = g_strdup_printf (DOMAIN_XML, kernel, kernel, devices_xml);
  g_autoptr (VireoMachineConfig) config = NULL;
  g_autoptr (GUnixFDList) fds = g_unix_fd_list_new ();
  g_autoptr (GVariant) message = NULL;
  g_autoptr (VireoWorkerConfig) parsed = NULL;
  g_autoptr (GVariant) sent = NULL;
  g_autoptr (GError) error = NULL;

  /* XML → configuration: every option arrived. */
  config = vireo_machine_config_new_from_xml (xml, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (config->memory_mib, ==, 96);
  g_assert_cmpuint (config->vcpus, ==, 3);
  g_assert_cmpstr (config->cmdline, ==, "console=ttyS0 quiet");
  g_assert_cmpstr (config->cpuid_mask, ==, "-cx16,-avx512f");
  g_assert_cmpstr (config->kernel, ==, kernel);
  g_assert_cmpstr (config->initrd, ==, kernel);
  g_assert_cmpint (config->display, ==, display);

  /* Configuration → message → the worker's reading: the same spec, fds and all. */
  message = message_for (config, fds);
  {
    g_autofree char *text = g_variant_print (message, TRUE);
    g_test_message ("sent: %s", text);
  }
  parsed = vireo_worker_config_parse (message, fds, &error);
  g_assert_no_error (error);
  {
    g_autoptr (HvMachineSpec) expected = vireo_machine_config_to_spec (config);
    g_autoptr (GVariant) a = NULL;
    g_autoptr (GVariant) b = NULL;
    g_assert_cmpuint (parsed->spec->memory, ==, 96ull << 20);
    g_assert_cmpuint (parsed->spec->vcpus, ==, 3);
    g_assert_cmpstr (parsed->spec->cmdline, ==, "console=ttyS0 quiet");
    g_assert_cmpstr (parsed->spec->cpuid_mask, ==, "-cx16,-avx512f");
    g_assert_cmpint (parsed->spec->kernel, >=, 0);
    g_assert_cmpint (parsed->spec->initrd, >=, 0);
    g_assert_nonnull (hv_machine_spec_lookup_device (parsed->spec, "serial0"));
    g_assert_cmpint (hv_machine_spec_find_kind (parsed->spec, "bochs-display") != NULL, ==, display);
    g_assert_cmpint (hv_machine_spec_find_kind (parsed->spec, "virtio-keyboard") != NULL, ==, display);
    g_assert_cmpint (hv_machine_spec_find_kind (parsed->spec, "virtio-tablet") != NULL, ==, display);
    a = without_files (expected);
    b = without_files (parsed->spec);
    g_assert_true (g_variant_equal (a, b));
    sent = g_steal_pointer (&a);
  }

  /* The worker's reading → the core: the VM is what was sent. */
  if (!vireo_test_require_kvm ())
    return;
  {
    g_autoptr (HvVm) vm = vireo_worker_config_build_vm (parsed, FALSE, -1, -1, &error);
    g_autoptr (HvMachineSpec) described = NULL;
    g_autoptr (GVariant) got = NULL;
    g_autofree char *text = NULL;

    g_assert_no_error (error);
    described = hv_vm_get_spec (vm);
    got = without_files (described);
    text = g_variant_print (got, TRUE);
    g_test_message ("the VM: %s", text);
    g_assert_true (g_variant_equal (sent, got));
  }
}

static void
test_without_display (void)
{
  round_trip ("", FALSE);
}

static void
test_with_display (void)
{
  round_trip ("<graphics type='spice' autoport='yes'/><video><model type='vga'/></video>", TRUE);
}

/* A disk-booting machine travels as firmware + boot order.  The core takes the firmware image from the
 * spec's fd and checks it (a device node is no image); the fw_cfg device it adds for the firmware is
 * the board's, not the spec's. */
static void
test_firmware_spec (void)
{
  g_autoptr (HvMachineSpec) spec = hv_machine_spec_new ();
  g_autoptr (HvMachineSpec) described = NULL;
  g_autoptr (HvVm) vm = NULL;
  g_autoptr (GError) error = NULL;
  const char *order[] = { "disk", NULL };

  if (!vireo_test_require_kvm ())
    return;
  spec->memory = 64ull << 20;
  spec->boot = HV_BOOT_FIRMWARE;
  spec->firmware = hv_machine_spec_add_fd (spec, open ("/dev/null", O_RDONLY | O_CLOEXEC));
  g_strfreev (spec->boot_order);
  spec->boot_order = g_strdupv ((char **) order);
  vm = hv_vm_new (NULL, &error);
  g_assert_no_error (error);
  g_assert_false (hv_vm_apply_spec (vm, spec, &error));
  g_assert_error (error, HV_ERROR, HV_ERROR_BAD_IMAGE);
  g_assert_nonnull (strstr (error->message, "firmware"));
  g_clear_error (&error);

  if (!g_file_test ("/usr/share/seabios/bios-256k.bin", G_FILE_TEST_EXISTS))
    return;
  g_clear_pointer (&vm, hv_vm_free);
  g_clear_pointer (&spec, hv_machine_spec_free);
  spec = hv_machine_spec_new ();
  spec->memory = 64ull << 20;
  spec->boot = HV_BOOT_FIRMWARE;
  spec->firmware = hv_machine_spec_add_fd (spec,
                                           open ("/usr/share/seabios/bios-256k.bin", O_RDONLY | O_CLOEXEC));
  vm = hv_vm_new (NULL, &error);
  g_assert_no_error (error);
  g_assert_true (hv_vm_apply_spec (vm, spec, &error));
  g_assert_no_error (error);
  described = hv_vm_get_spec (vm);
  g_assert_cmpint (described->boot, ==, HV_BOOT_FIRMWARE);
  g_assert_null (hv_machine_spec_find_kind (described, "fw-cfg"));
}

/* A network namespace of the test's own with the bridge @bridge, for TAPs (root only). */
static gboolean
private_bridge (const char *bridge)
{
  int sock;
  gboolean ok;

  if (geteuid () != 0 || access ("/dev/net/tun", R_OK | W_OK) < 0 || unshare (CLONE_NEWNET) < 0)
    return FALSE;
  sock = socket (AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  ok = sock >= 0 && ioctl (sock, SIOCBRADDBR, bridge) == 0;
  if (sock >= 0)
    close (sock);
  return ok;
}

/* A bridged NIC's queue pairs: <driver queues='3'/> → the configuration → "queues" in the spec vireod
 * sends, with one queue of a multiqueue TAP per pair → the worker's reading → a VM whose NIC has them. */
static void
test_nic_queues (void)
{
  static const char nic_xml[] = "<interface type='bridge'><source bridge='vireo-rt0'/>"
                                "<mac address='52:54:00:00:00:31'/><model type='virtio'/>"
                                "<driver name='vhost' queues='3'/></interface>";
  g_autofree char *kernel = vireo_test_guest_path ("boot-info");
  g_autofree char *xml = g_strdup_printf (DOMAIN_XML, kernel, kernel, nic_xml);
  g_autoptr (VireoMachineConfig) config = NULL;
  g_autoptr (HvMachineSpec) spec = NULL;
  g_autoptr (GUnixFDList) fds = g_unix_fd_list_new ();
  g_autoptr (VireoWorkerConfig) parsed = NULL;
  g_autoptr (GVariant) message = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *exported = NULL;
  HvDeviceSpec *nic;
  int taps[3];
  guint32 queues = 0;

  vireo_switch_registry_add ("Uplink", "external", "vireo-rt0");
  config = vireo_machine_config_new_from_xml (xml, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (config->nics->len, ==, 1);
  exported = vireo_machine_config_to_xml (config);
  g_assert_nonnull (strstr (exported, "<driver queues=\"3\"/>"));
  spec = vireo_machine_config_to_spec (config);
  nic = hv_machine_spec_lookup_device (spec, "net0");
  g_assert_nonnull (nic);
  g_assert_true (g_variant_lookup (nic->options, "queues", "u", &queues));
  g_assert_cmpuint (queues, ==, 3);
  g_assert_true (hv_machine_spec_check (spec, HV_SPEC_CHECK_WITHOUT_FDS, &error));
  g_assert_no_error (error);
  vireo_switch_registry_remove ("Uplink");

  if (!vireo_test_require_kvm ())
    return;
  if (!private_bridge ("vireo-rt0"))
    {
      g_test_skip ("the TAPs of a bridged NIC need root and /dev/net/tun (a network namespace and a bridge)");
      return;
    }
  /* What vireod does as the machine starts: a TAP with a queue per pair, and the boot files. */
  g_assert_true (hv_net_open_bridge_taps ("vireo-rt0", 3, taps, NULL, &error));
  g_assert_no_error (error);
  hv_device_spec_set_fds (spec, nic, "tap", taps, 3);
  spec->kernel = hv_machine_spec_add_fd (spec, open (kernel, O_RDONLY | O_CLOEXEC));
  spec->initrd = hv_machine_spec_add_fd (spec, open (kernel, O_RDONLY | O_CLOEXEC));
  for (unsigned i = 0; i < hv_machine_spec_get_n_fds (spec); i++)
    g_assert_cmpint (g_unix_fd_list_append (fds, hv_machine_spec_get_fd (spec, (int) i), NULL), ==, i);
  {
    g_autoptr (GVariant) sent = g_variant_ref_sink (hv_machine_spec_to_variant (spec));
    GVariantDict dict;
    int kvm_fd = open ("/dev/kvm", O_RDWR | O_CLOEXEC);

    g_variant_dict_init (&dict, sent);
    g_variant_dict_insert (&dict, "kvm-fd", "h", g_unix_fd_list_append (fds, kvm_fd, NULL));
    close (kvm_fd);
    message = g_variant_ref_sink (g_variant_dict_end (&dict));
  }
  parsed = vireo_worker_config_parse (message, fds, &error);
  g_assert_no_error (error);
  nic = hv_machine_spec_lookup_device (parsed->spec, "net0");
  g_assert_nonnull (nic);
  {
    g_autoptr (GVariant) tap = g_variant_lookup_value (nic->options, "tap", G_VARIANT_TYPE ("ah"));
    g_assert_nonnull (tap);
    g_assert_cmpuint (g_variant_n_children (tap), ==, 3);
  }
  {
    g_autoptr (HvVm) vm = vireo_worker_config_build_vm (parsed, FALSE, -1, -1, &error);
    g_autoptr (HvMachineSpec) described = NULL;
    HvDeviceSpec *device;

    g_assert_no_error (error);
    described = hv_vm_get_spec (vm);
    device = hv_machine_spec_lookup_device (described, "net0");
    g_assert_nonnull (device);
    queues = 0;
    g_assert_true (g_variant_lookup (device->options, "queues", "u", &queues));
    g_assert_cmpuint (queues, ==, 3);
  }
}

/* Two serial ports and two keyboards in one VM, from a spec. */
static void
test_several_instances (void)
{
  g_autofree char *kernel = vireo_test_guest_path ("hello");
  g_autoptr (HvMachineSpec) spec = hv_machine_spec_new ();
  g_autoptr (HvMachineSpec) described = NULL;
  g_autoptr (HvVm) vm = NULL;
  g_autoptr (GError) error = NULL;
  HvDeviceSpec *com2;
  HvExitInfo info = { 0 };
  int pipe_fds[2];

  if (!vireo_test_require_kvm ())
    return;
  spec->memory = 64ull << 20;
  spec->kernel = hv_machine_spec_add_fd (spec, open (kernel, O_RDONLY | O_CLOEXEC));
  hv_machine_spec_add_device (spec, "serial", "serial0", NULL);
  com2 = hv_machine_spec_add_device (spec, "serial", "com2", NULL);
  g_assert_no_errno (pipe2 (pipe_fds, O_CLOEXEC));
  hv_device_spec_set_fd (spec, com2, "output", pipe_fds[1]);
  hv_machine_spec_add_device (spec, "virtio-keyboard", NULL, NULL);
  hv_machine_spec_add_device (spec, "virtio-keyboard", NULL, NULL);
  vm = hv_vm_new (NULL, &error);
  g_assert_no_error (error);
  g_assert_true (hv_vm_apply_spec (vm, spec, &error));
  g_assert_no_error (error);
  described = hv_vm_get_spec (vm);
  g_assert_cmpuint (described->devices->len, ==, 4);
  g_assert_nonnull (hv_machine_spec_lookup_device (described, "com2"));
  g_assert_nonnull (hv_machine_spec_lookup_device (described, "keyboard1"));
  g_assert_true (hv_vm_start (vm, &error));
  g_assert_no_error (error);
  hv_vm_wait (vm, &info);
  g_assert_cmpint (info.reason, ==, HV_EXIT_POWER_OFF);
  hv_exit_info_clear (&info);
  close (pipe_fds[0]);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/spec-round-trip/without-display", test_without_display);
  g_test_add_func ("/spec-round-trip/with-display", test_with_display);
  g_test_add_func ("/spec-round-trip/firmware", test_firmware_spec);
  g_test_add_func ("/spec-round-trip/several-instances", test_several_instances);
  g_test_add_func ("/spec-round-trip/nic-queues", test_nic_queues);
  return g_test_run ();
}
