/* test-machine-config-xml.c — machines in libvirt domain XML: our export round-trips and validates, virt-manager and
 * GNOME Boxes domains import, disks of every kind, and what Vireo cannot run is refused with a reason. */
#include "machine-config-test.h"

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
const char virt_manager_kernel_xml[]
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
const char boxes_disk_xml[]
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

void
machine_config_add_xml_tests (void)
{
#define ADD(path, fn) g_test_add ("/machine-config/" path, Files, NULL, files_setup, fn, files_teardown)
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
#undef ADD
}
