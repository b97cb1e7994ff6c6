/* test-machine-config-nics.c — a machine's NICs: the setting, switches, queue pairs, the XML round trip, old
 * definitions with "network" only, and NICs of imported domains. */
#include "machine-config-test.h"

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

void
machine_config_add_nic_tests (void)
{
#define ADD(path, fn) g_test_add ("/machine-config/" path, Files, NULL, files_setup, fn, files_teardown)
  ADD ("nics", test_nics);
  ADD ("nics-switches", test_nics_switches);
  ADD ("nics-round-trip", test_nics_round_trip);
  ADD ("nics-queues", test_nics_queues);
  g_test_add_func ("/machine-config/nics-old-definition", test_nics_old_definition);
  g_test_add_func ("/machine-config/import/nics-samples", test_nics_import_samples);
  g_test_add_func ("/machine-config/import/nics-bridged", test_nics_import_bridged);
#undef ADD
}
