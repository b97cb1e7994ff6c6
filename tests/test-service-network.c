/* test-service-network.c — NICs and virtual switches through the service: NAT, the nics setting, switches
 * and their bridges in system mode, the network boot ROM. */
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

/* ---- NICs and virtual switches ---- */

#define SWITCH_IFACE "org.vireo.Vireo1.Switch"

/* Settings' "nics" of @machine. */
static GVariant *
settings_nics (VireoDBusMachine *machine)
{
  g_autoptr (GVariant) settings = vireo_dbus_machine_dup_settings (machine);
  GVariant *nics = g_variant_lookup_value (settings, "nics", G_VARIANT_TYPE ("aa{sv}"));

  g_assert_nonnull (nics);
  return nics;
}

/* "mac" of NIC @i of @machine. */
static char *
nic_mac (VireoDBusMachine *machine, guint i)
{
  g_autoptr (GVariant) nics = settings_nics (machine);
  g_autoptr (GVariant) nic = NULL;
  char *mac = NULL;

  g_assert_cmpuint (i, <, g_variant_n_children (nics));
  nic = g_variant_get_child_value (nics, i);
  g_assert_true (g_variant_lookup (nic, "mac", "s", &mac));
  return mac;
}

/* The switches vireod lists, as name → object path. */
static GHashTable *
managed_switches (Fixture *f)
{
  g_autoptr (GHashTable) objects = managed_objects (f, SWITCH_IFACE);
  GHashTable *switches = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  GHashTableIter iter;
  gpointer path, properties;

  g_hash_table_iter_init (&iter, objects);
  while (g_hash_table_iter_next (&iter, &path, &properties))
    {
      const char *name;

      if (g_variant_lookup (properties, "Name", "&s", &name))
        g_hash_table_insert (switches, g_strdup (name), g_strdup (path));
    }
  return switches;
}

static char *
switch_property (Fixture *f, const char *path, const char *property)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GVariant) reply = bus_call (f, path, "org.freedesktop.DBus.Properties", "Get",
                                         g_variant_new ("(ss)", SWITCH_IFACE, property), &error);
  g_autoptr (GVariant) value = NULL;

  g_assert_no_error (error);
  g_variant_get (reply, "(v)", &value);
  return g_variant_is_of_type (value, G_VARIANT_TYPE_BOOLEAN)
             ? g_strdup (g_variant_get_boolean (value) ? "true" : "false")
             : g_variant_dup_string (value, NULL);
}

/* Switch.Delete on @path: succeeds, or (with @error_name) fails with that error naming @culprit. */
static void
delete_switch (Fixture *f, const char *path, const char *error_name, const char *culprit)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GVariant) reply = bus_call (f, path, SWITCH_IFACE, "Delete", NULL, &error);

  if (error_name == NULL)
    {
      g_assert_no_error (error);
      return;
    }
  g_assert_null (reply);
  assert_dbus_error (error, error_name, culprit);
}

/* The proxy of the one machine vireod lists (after a restart). */
static VireoDBusMachine *
only_machine (Fixture *f)
{
  g_autoptr (GHashTable) machines = managed_machines (f);
  GHashTableIter iter;
  gpointer key;

  g_assert_cmpuint (g_hash_table_size (machines), ==, 1);
  g_hash_table_iter_init (&iter, machines);
  g_assert_true (g_hash_table_iter_next (&iter, &key, NULL));
  return machine_proxy (f, key);
}

/* CreateSwitch; the new object's path, or NULL with @error. */
static char *
try_create_switch (Fixture *f, const char *name, const char *kind, const char *bridge, GError **error)
{
  return call_for_path (f, "CreateSwitch", g_variant_new ("(sss)", name, kind, bridge), error);
}

static void
create_switch_expect_error (Fixture *f, const char *name, const char *kind, const char *bridge,
                            const char *error_name, const char *culprit)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *path = try_create_switch (f, name, kind, bridge, &error);

  g_assert_null (path);
  assert_dbus_error (error, error_name, culprit);
}

/* The session service: NICs with generated MACs that stay across restarts and round trips, the shorthand,
 * the Default Switch alone, and GuestAddresses empty while off. */
static void
test_nics_session (Fixture *f)
{
  g_autoptr (VireoDBusMachine) machine = NULL;
  g_autoptr (VireoDBusMachine) imported = NULL;
  g_autoptr (GHashTable) switches = NULL;
  g_autoptr (GVariant) reply = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *mac0 = NULL;
  g_autofree char *mac1 = NULL;
  g_autofree char *again = NULL;
  g_autofree char *xml = NULL;
  g_autofree char *imported_path = NULL;
  g_autofree char *kernel = vireo_test_guest_path ("net-probe");
  const char *path;
  const char *const *addresses;

  /* The Default Switch is listed, NAT, built in; nothing else can be made here. */
  switches = managed_switches (f);
  g_assert_cmpuint (g_hash_table_size (switches), ==, 1);
  path = g_hash_table_lookup (switches, "Default Switch");
  g_assert_nonnull (path);
  {
    g_autofree char *kind = switch_property (f, path, "Kind");
    g_autofree char *bridge = switch_property (f, path, "Bridge");
    g_autofree char *builtin = switch_property (f, path, "Builtin");
    g_assert_cmpstr (kind, ==, "nat");
    g_assert_cmpstr (bridge, ==, "");
    g_assert_cmpstr (builtin, ==, "true");
  }
  create_switch_expect_error (f, "Lab", "private", "", ERROR_NAME ("NotSupported"), "system service");
  delete_switch (f, path, ERROR_NAME ("InvalidState"), "Default Switch");

  machine = create (
      f, g_variant_new_parsed ("{'name': <'wired'>, 'kernel': <%s>, 'nics': <[{'forwards': "
                               "<[('tcp', '', uint16 2222, uint16 22)]>}, {'connected': <false>}]>}",
                               kernel));
  mac0 = nic_mac (machine, 0);
  mac1 = nic_mac (machine, 1);
  g_assert_true (g_str_has_prefix (mac0, "52:54:00:"));
  g_assert_cmpstr (mac0, !=, mac1);
  addresses = vireo_dbus_machine_get_guest_addresses (machine);
  g_assert_true (addresses == NULL || addresses[0] == NULL);
  {
    g_autoptr (GVariant) settings = vireo_dbus_machine_dup_settings (machine);
    const char *network;
    g_assert_true (g_variant_lookup (settings, "network", "&s", &network));
    g_assert_cmpstr (network, ==, "nat");
  }
  create_expect_error (
      f, g_variant_new_parsed ("{'name': <'bad'>, 'kernel': <%s>, 'nics': <[{'switch': <'Lab'>}]>}", kernel),
      ERROR_NAME ("NotFound"), "Lab");

  /* The MACs stay when vireod starts again. */
  vireod_restart (f);
  g_clear_object (&machine);
  machine = only_machine (f);
  again = nic_mac (machine, 0);
  g_assert_cmpstr (again, ==, mac0);

  /* Export and import: the same NICs. */
  reply = call_full (machine, "ExportLibvirtXml", NULL, NULL, &error);
  g_assert_no_error (error);
  g_variant_get (reply, "(s)", &xml);
  g_assert_nonnull (strstr (xml, "<portForward proto=\"tcp\">"));
  g_assert_nonnull (strstr (xml, "<link state=\"down\"/>"));
  {
    g_autoptr (GVariant) import_reply = call_full (
        f->manager, "ImportLibvirtXml",
        g_variant_new_parsed ("(%s, {'name': <'wired copy'>, 'keep-uuid': <false>})", xml), NULL, &error);
    g_assert_no_error (error);
    g_variant_get (import_reply, "(o)", &imported_path);
  }
  imported = machine_proxy (f, imported_path);
  {
    g_autoptr (GVariant) a = settings_nics (machine);
    g_autoptr (GVariant) b = settings_nics (imported);
    g_assert_true (g_variant_equal (a, b));
  }

  /* The shorthand: "none" takes the NICs away. */
  call_ok (machine, "Update", g_variant_new_parsed ("({'network': <'none'>},)"));
  {
    g_autoptr (GVariant) nics = settings_nics (machine);
    g_assert_cmpuint (g_variant_n_children (nics), ==, 0);
  }
}

/* A machine on NAT: the guest's DHCP lease shows in GuestAddresses; the cable can be pulled while it
 * runs, but nothing else about its NICs changes then. */
static void
test_nics_running (Fixture *f)
{
  g_autofree char *kernel = vireo_test_guest_path ("net-probe");
  g_autoptr (VireoDBusMachine) machine = NULL;
  g_autoptr (GString) seen = g_string_new (NULL);
  const char *const *addresses;
  gint64 deadline;
  int fd;

  machine = create (f,
                    g_variant_new_parsed ("{'name': <'leased'>, 'kernel': <%s>, 'memory-mib': <uint64 64>, "
                                          "'nics': <[{'mac': <'52:54:00:01:02:03'>}]>}",
                                          kernel));
  fd = start_and_wait_for (machine, "net-probe ip=10.0.2.15 gw=10.0.2.2", seen);
  /* The guest's NIC has the definition's MAC. */
  g_assert_nonnull (strstr (seen->str, "net-probe mac=52:54:00:01:02:03\n"));
  deadline = g_get_monotonic_time () + WAIT_SECONDS * G_USEC_PER_SEC;
  while (((addresses = vireo_dbus_machine_get_guest_addresses (machine)) == NULL || addresses[0] == NULL)
         && g_get_monotonic_time () < deadline)
    g_main_context_iteration (NULL, TRUE);
  g_assert_nonnull (addresses);
  g_assert_cmpstr (addresses[0], ==, "10.0.2.15");
  g_assert_null (addresses[1]);

  call_ok (machine, "Update",
           g_variant_new_parsed ("({'nics': <[{'mac': <'52:54:00:01:02:03'>, 'connected': "
                                 "<false>}]>},)"));
  {
    g_autoptr (GVariant) nics = settings_nics (machine);
    g_autoptr (GVariant) nic = g_variant_get_child_value (nics, 0);
    gboolean connected = TRUE;
    g_assert_true (g_variant_lookup (nic, "connected", "b", &connected));
    g_assert_false (connected);
  }
  call_expect_error (machine, "Update",
                     g_variant_new_parsed ("({'nics': <[{'mac': <'52:54:00:01:02:04'>}]>},)"),
                     ERROR_NAME ("InvalidState"), "connected");
  call_ok (machine, "TurnOff", NULL);
  wait_for_state (machine, "off");
  close (fd);
  addresses = vireo_dbus_machine_get_guest_addresses (machine);
  g_assert_true (addresses == NULL || addresses[0] == NULL);
}

/* The name of the bridge the test in folder @base makes ("vtbr" and the folder's random suffix), which
 * the parent removes if the test failed before it did. */
static char *
test_bridge_name (const char *base)
{
  size_t len = strlen (base);
  return g_strdup_printf ("vtbr%s", base + (len > 6 ? len - 6 : 0));
}

/* After a system-mode test: the bridges it (or the vireod it ran) made and did not remove, because it
 * failed halfway.  The private switches' bridges are in the test's switches.ini. */
static void
remove_leftover_bridges (const char *base)
{
  g_autofree char *ini = g_build_filename (base, "storage", "switches.ini", NULL);
  g_autoptr (GKeyFile) file = g_key_file_new ();
  g_autoptr (GPtrArray) names = g_ptr_array_new_with_free_func (g_free);

  g_ptr_array_add (names, test_bridge_name (base));
  if (g_key_file_load_from_file (file, ini, G_KEY_FILE_NONE, NULL))
    {
      g_auto (GStrv) groups = g_key_file_get_groups (file, NULL);
      for (guint i = 0; groups[i] != NULL; i++)
        {
          g_autofree char *kind = g_key_file_get_string (file, groups[i], "Kind", NULL);
          char *bridge = g_key_file_get_string (file, groups[i], "Bridge", NULL);
          if (g_strcmp0 (kind, "private") == 0 && bridge != NULL)
            g_ptr_array_add (names, bridge);
          else
            g_free (bridge);
        }
    }
  for (guint i = 0; i < names->len; i++)
    {
      const char *name = g_ptr_array_index (names, i);
      g_autofree char *sys = g_build_filename ("/sys/class/net", name, NULL);
      const char *del[] = { "ip", "link", "del", name, NULL };
      g_autofree char *out = NULL;

      if (g_file_test (sys, G_FILE_TEST_EXISTS) && vireo_test_run_judge (del, &out) != 0)
        g_printerr ("cannot remove the bridge %s the test left: %s\n", name, out ? out : "");
    }
}

/* A bridge of this test's own, for an external switch: "ip link add … type bridge". */
static char *
make_test_bridge (void)
{
  char *name = test_bridge_name (g_getenv (TEST_DIR_VARIABLE));
  const char *add[] = { "ip", "link", "add", name, "type", "bridge", NULL };

  run_ok (add);
  return name;
}

static void
remove_test_bridge (const char *name)
{
  const char *del[] = { "ip", "link", "del", name, NULL };
  run_ok (del);
}

static gboolean
interface_exists (const char *name)
{
  g_autofree char *path = g_build_filename ("/sys/class/net", name, NULL);
  return g_file_test (path, G_FILE_TEST_EXISTS);
}

/* The ports of bridge @bridge whose names start with "vireo-t". */
static guint
tap_ports (const char *bridge)
{
  g_autofree char *path = g_build_filename ("/sys/class/net", bridge, "brif", NULL);
  g_autoptr (GDir) dir = g_dir_open (path, 0, NULL);
  const char *name;
  guint n = 0;

  while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
    n += g_str_has_prefix (name, "vireo-t");
  return n;
}

/* The TUN flags (IFF_*) of the first port of bridge @bridge whose name starts with "vireo-t"; 0 when
 * there is none. */
static guint
tap_port_flags (const char *bridge)
{
  g_autofree char *path = g_build_filename ("/sys/class/net", bridge, "brif", NULL);
  g_autoptr (GDir) dir = g_dir_open (path, 0, NULL);
  const char *name;

  while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
    if (g_str_has_prefix (name, "vireo-t"))
      {
        g_autofree char *flags_path = g_build_filename ("/sys/class/net", name, "tun_flags", NULL);
        g_autofree char *contents = NULL;

        g_assert_true (g_file_get_contents (flags_path, &contents, NULL, NULL));
        return (guint) g_ascii_strtoull (contents, NULL, 16);
      }
  return 0;
}

typedef struct
{
  const char *bridge;
  guint ports;
} PortsQuery;

static gboolean
ports_are (gpointer data)
{
  PortsQuery *query = data;
  return tap_ports (query->bridge) == query->ports;
}

/* The system service: external and private switches, their checks, their file, and Delete refused
 * while a machine uses them. */
static void
test_switches_system (Fixture *f)
{
  const char *needed[] = { "ip", NULL };
  g_autoptr (VireoDBusMachine) machine = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *test_bridge = NULL;
  g_autofree char *private_path = NULL;
  g_autofree char *external_path = NULL;
  g_autofree char *private_bridge = NULL;
  g_autoptr (GHashTable) switches = NULL;
  g_autofree char *kernel = vireo_test_guest_path ("net-probe");

  if (!vireo_test_require_programs (needed))
    return;
  test_bridge = make_test_bridge ();

  /* A private switch makes its bridge. */
  private_path = try_create_switch (f, "Lab", "private", "", &error);
  g_assert_no_error (error);
  private_bridge = switch_property (f, private_path, "Bridge");
  g_assert_true (g_str_has_prefix (private_bridge, "vireo-br"));
  g_assert_true (interface_exists (private_bridge));
  {
    /* No host address on it: IPv6 (which would give it a link-local one) is off where /proc/sys is
     * writable, as it is for root here. */
    g_autofree char *ipv6 = g_strdup_printf ("/proc/sys/net/ipv6/conf/%s/disable_ipv6", private_bridge);
    g_autofree char *contents = NULL;
    if (g_file_get_contents (ipv6, &contents, NULL, NULL) && access ("/proc/sys/net", W_OK) == 0)
      g_assert_cmpstr (g_strstrip (contents), ==, "1");
  }
  {
    g_autofree char *kind = switch_property (f, private_path, "Kind");
    g_assert_cmpstr (kind, ==, "private");
  }
  /* An external one takes an existing bridge. */
  external_path = try_create_switch (f, "Uplink", "external", test_bridge, &error);
  g_assert_no_error (error);
  {
    g_autofree char *bridge = switch_property (f, external_path, "Bridge");
    g_assert_cmpstr (bridge, ==, test_bridge);
  }

  /* What is refused, and why. */
  create_switch_expect_error (f, "Lab", "private", "", ERROR_NAME ("Exists"), "Lab");
  create_switch_expect_error (f, "Again", "external", test_bridge, ERROR_NAME ("Exists"), "Uplink");
  create_switch_expect_error (f, "Loop", "external", "lo", ERROR_NAME ("InvalidArgument"),
                              "not a Linux bridge");
  create_switch_expect_error (f, "Far", "external", "nosuchbridge0", ERROR_NAME ("NotFound"),
                              "nosuchbridge0");
  create_switch_expect_error (f, "Long", "external", "a-name-far-too-long", ERROR_NAME ("InvalidArgument"),
                              "a-name-far-too-long");
  create_switch_expect_error (f, "Slash", "external", "../eth0", ERROR_NAME ("InvalidArgument"), "../eth0");
  create_switch_expect_error (f, "Nat", "nat", "", ERROR_NAME ("InvalidArgument"), "nat");
  create_switch_expect_error (f, "Given", "private", test_bridge, ERROR_NAME ("InvalidArgument"), "private");
  create_switch_expect_error (f, " ", "private", "", ERROR_NAME ("InvalidArgument"), "name");

  /* A machine on the private switch: Delete is refused, naming it; forwards are refused there. */
  machine = create (f,
                    g_variant_new_parsed ("{'name': <'islander'>, 'kernel': <%s>, 'memory-mib': <uint64 64>, "
                                          "'nics': <[{'switch': <'Lab'>}]>}",
                                          kernel));
  create_expect_error (f,
                       g_variant_new_parsed ("{'name': <'forwarder'>, 'kernel': <%s>, 'nics': <[{'switch': "
                                             "<'Lab'>, 'forwards': <[('tcp', '', uint16 80, uint16 80)]>}]>}",
                                             kernel),
                       ERROR_NAME ("InvalidArgument"), "not a NAT switch");
  delete_switch (f, private_path, ERROR_NAME ("InvalidState"), "islander");
  {
    /* The XML says bridge, on the switch's bridge. */
    g_autoptr (GVariant) reply = call_full (machine, "ExportLibvirtXml", NULL, NULL, &error);
    g_autofree char *xml = NULL;
    g_autofree char *source = g_strdup_printf ("<source bridge=\"%s\"/>", private_bridge);
    g_assert_no_error (error);
    g_variant_get (reply, "(s)", &xml);
    g_assert_nonnull (strstr (xml, "<interface type=\"bridge\">"));
    g_assert_nonnull (strstr (xml, source));
  }

  /* The switches outlive vireod, and a private bridge that went is made again. */
  vireod_stop (f);
  remove_test_bridge (private_bridge);
  vireod_start (f);
  g_assert_true (interface_exists (private_bridge));
  switches = managed_switches (f);
  g_assert_cmpuint (g_hash_table_size (switches), ==, 3);
  g_clear_pointer (&private_path, g_free);
  g_clear_pointer (&external_path, g_free);
  private_path = g_strdup (g_hash_table_lookup (switches, "Lab"));
  external_path = g_strdup (g_hash_table_lookup (switches, "Uplink"));
  g_assert_nonnull (private_path);
  g_assert_nonnull (external_path);

  /* The machine leaves the switch; then it can go, and its bridge with it.  An external switch's
   * bridge is the host's and stays. */
  g_clear_object (&machine);
  machine = only_machine (f);
  call_ok (machine, "Update", g_variant_new_parsed ("({'nics': <[{'switch': <'Uplink'>}]>},)"));
  delete_switch (f, private_path, NULL, NULL);
  g_assert_false (interface_exists (private_bridge));
  call_ok (machine, "Update", g_variant_new_parsed ("({'network': <'none'>},)"));
  delete_switch (f, external_path, NULL, NULL);
  g_assert_true (interface_exists (test_bridge));
  g_hash_table_unref (switches);
  switches = managed_switches (f);
  g_assert_cmpuint (g_hash_table_size (switches), ==, 1);
  remove_test_bridge (test_bridge);
}

/* A machine with a NIC on a private switch starts with a TAP of vireod's on that bridge, which goes
 * with the machine; with three vCPUs the NIC has three queue pairs, so the TAP is a multiqueue one. */
static void
test_switches_running_system (Fixture *f)
{
  g_autoptr (VireoDBusMachine) machine = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *path = NULL;
  g_autofree char *bridge = NULL;
  g_autofree char *kernel = vireo_test_guest_path ("net-probe");
  PortsQuery query;

  path = try_create_switch (f, "Lab", "private", "", &error);
  g_assert_no_error (error);
  bridge = switch_property (f, path, "Bridge");
  machine = create (f,
                    g_variant_new_parsed ("{'name': <'islander'>, 'kernel': <%s>, 'memory-mib': <uint64 64>, "
                                          "'vcpus': <uint32 3>, 'nics': <[{'switch': <'Lab'>}, {}]>}",
                                          kernel));
  g_assert_cmpuint (tap_ports (bridge), ==, 0);
  call_ok (machine, "Start", NULL);
  wait_for_state (machine, "running");
  g_assert_cmpuint (tap_ports (bridge), ==, 1);
  g_assert_cmphex (tap_port_flags (bridge) & 0x0100, ==, 0x0100); /* IFF_MULTI_QUEUE */
  /* The cable of the bridged NIC too. */
  call_ok (machine, "Update",
           g_variant_new_parsed ("({'nics': <[{'switch': <'Lab'>, 'connected': <false>}, {}]>},)"));
  call_ok (machine, "TurnOff", NULL);
  wait_for_state (machine, "off");
  query = (PortsQuery){ bridge, 0 };
  g_assert_true (vireo_test_wait_until (ports_are, &query, WAIT_SECONDS));
  /* A switch whose bridge went away (an external one the host took down): Start says which. */
  {
    const char *needed[] = { "ip", NULL };
    g_autofree char *gone = NULL;
    g_autofree char *external = NULL;

    if (vireo_test_require_programs (needed))
      {
        gone = make_test_bridge ();
        external = try_create_switch (f, "Uplink", "external", gone, &error);
        g_assert_no_error (error);
        call_ok (machine, "Update", g_variant_new_parsed ("({'nics': <[{'switch': <'Uplink'>}]>},)"));
        remove_test_bridge (gone);
        call_expect_error (machine, "Start", NULL, ERROR_NAME ("NotFound"), gone);
        g_assert_cmpstr (vireo_dbus_machine_get_state (machine), ==, "off");
        call_ok (machine, "Update", g_variant_new_parsed ("({'network': <'none'>},)"));
        delete_switch (f, external, NULL, NULL);
      }
  }
  call_ok (machine, "Update", g_variant_new_parsed ("({'network': <'none'>},)"));
  delete_switch (f, path, NULL, NULL);
  g_assert_false (interface_exists (bridge));
}

/* A machine that boots from its disk and has a NIC: the firmware runs iPXE behind the NIC (network boot
 * is possible), which says so on the console. */
static void
test_network_boot_rom (Fixture *f)
{
  g_autofree char *dir = g_build_filename (f->storage, "images", NULL);
  g_autofree char *blank = g_build_filename (dir, "blank.raw", NULL);
  g_autoptr (VireoDBusMachine) machine = NULL;
  g_autoptr (GString) seen = g_string_new (NULL);
  int fd;

  if (!g_file_test (HV_DEFAULT_FIRMWARE, G_FILE_TEST_EXISTS) || !g_file_test (HV_NET_ROM, G_FILE_TEST_EXISTS))
    {
      g_test_skip ("needs Debian's SeaBIOS and iPXE (" HV_DEFAULT_FIRMWARE ", " HV_NET_ROM
                   ", packages seabios and ipxe-qemu)");
      return;
    }
  g_assert_no_errno (g_mkdir_with_parents (dir, 0700));
  fd = open (blank, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  g_assert_no_errno (ftruncate (fd, 1 << 20));
  close (fd);
  machine = create (
      f, g_variant_new_parsed ("{'name': <'netboot'>, 'boot': <'disk'>, 'memory-mib': <uint64 64>, "
                               "'disks': <[{'path': <%s>, 'format': <'raw'>}]>, 'nics': <@aa{sv} [{}]>}",
                               blank));
  call_ok (machine, "Start", NULL);
  fd = open_serial (machine);
  g_assert_true (serial_wait_for (fd, seen, 0, "iPXE", 2 * WAIT_SECONDS));
  g_test_message ("the firmware said: %s", seen->str);
  close (fd);
  call_ok (machine, "TurnOff", NULL);
  wait_for_state (machine, "off");
}

static const ServiceTest service_tests[] = {
  { "/service/network-boot-rom", test_network_boot_rom, TRUE },
  { "/service/nics", test_nics_session, FALSE },
  { "/service/nics-running", test_nics_running, TRUE },
  { "/service/switches-system", test_switches_system, FALSE, TRUE },
  { "/service/switches-running-system", test_switches_running_system, TRUE, TRUE },
};

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  service_test_system_cleanup = remove_leftover_bridges;
  for (guint i = 0; i < G_N_ELEMENTS (service_tests); i++)
    g_test_add_data_func (service_tests[i].path, &service_tests[i], run_service_test);
  return g_test_run ();
}
