/* machine-xml-devices.c — the devices of libvirt domain XML that Vireo keeps: disks and CD-ROMs (with
 * their bus and boot order, also in the older <os><boot dev=...> form), network interfaces with their
 * port forwards, and the guest agent's channel. */
#include "machine-xml-private.h"
#include "net-options.h"
#include "switch-registry.h"
#include "vireo-error.h"
#include "vireo-text.h"

#include <string.h>

static gboolean
target_taken (const VireoMachineConfig *config, const char *target)
{
  return vireo_machine_config_find_disk (config, target) != NULL;
}

/* The bus a disk of another tool's domain gets here: virtio stays; SATA, IDE and SCSI disks and
 * CD-ROMs become SATA (what the guest sees changes from IDE or SCSI to AHCI, which every current guest
 * drives; refusing them would refuse most domains virt-manager and GNOME Boxes make); other buses
 * (USB, Xen, SD cards) are refused. */
static const char *
bus_for (const char *libvirt_bus, gboolean cdrom)
{
  if (libvirt_bus == NULL)
    return cdrom ? "sata" : "virtio";
  if (strcmp (libvirt_bus, "virtio") == 0)
    return cdrom ? NULL : "virtio";
  if (strcmp (libvirt_bus, "sata") == 0 || strcmp (libvirt_bus, "ide") == 0
      || strcmp (libvirt_bus, "scsi") == 0)
    return "sata";
  return NULL;
}

/* A file-backed disk or CD-ROM (which may be empty); floppies are skipped (@removable names the first). */
static gboolean
parse_disk_device (GVirConfigDomainDisk *device, VireoMachineConfig *config, char **removable, GError **error)
{
  GVirConfigDomainDiskGuestDeviceType kind = gvir_config_domain_disk_get_guest_device_type (device);
  const char *source = gvir_config_domain_disk_get_source (device);
  gboolean cdrom = kind == GVIR_CONFIG_DOMAIN_DISK_GUEST_DEVICE_CDROM;
  g_autofree char *disk_xml = NULL;
  g_autofree char *shown_source = NULL;
  g_autoptr (GPtrArray) children = NULL;
  const XmlChild *driver;
  const XmlChild *target;
  const XmlChild *boot;
  const char *format = NULL;
  const char *bus;
  const char *dev;
  const char *driver_cache;
  g_autoptr (VireoDiskConfig) disk = NULL;

  if (kind != GVIR_CONFIG_DOMAIN_DISK_GUEST_DEVICE_DISK && !cdrom)
    {
      if (*removable == NULL)
        *removable = g_strdup (source != NULL ? source : "");
      return TRUE;
    }
  if (gvir_config_domain_disk_get_disk_type (device) != GVIR_CONFIG_DOMAIN_DISK_FILE
      || (source == NULL && !cdrom))
    {
      g_set_error (error, VIREO_ERROR, VIREO_ERROR_NOT_SUPPORTED,
                   "The domain's disk %s is not an image file; Vireo uses only image files as disks.",
                   source != NULL ? source : "without a source");
      return FALSE;
    }
  if (source == NULL)
    source = "";
  shown_source = g_strdup (*source != '\0' ? source : "(empty CD-ROM drive)");

  disk_xml = gvir_config_object_to_xml (GVIR_CONFIG_OBJECT (device));
  children = vireo_xml_children (disk_xml, error);
  if (children == NULL)
    return FALSE;
  target = vireo_xml_child (children, "target");
  bus = bus_for (target != NULL ? vireo_xml_child_attribute (target, "bus") : NULL, cdrom);
  if (bus == NULL)
    {
      g_set_error (
          error, VIREO_ERROR, VIREO_ERROR_NOT_SUPPORTED,
          "The domain's %s “%s” is on the “%s” bus; Vireo has virtio and SATA disks and SATA CD-ROMs.",
          cdrom ? "CD-ROM" : "disk", shown_source, vireo_xml_child_attribute (target, "bus"));
      return FALSE;
    }
  driver = vireo_xml_child (children, "driver");
  if (driver != NULL)
    format = vireo_xml_child_attribute (driver, "type");
  /* libvirt's default for a file without a driver type is raw. */
  if (format == NULL)
    format = "raw";
  if (!string_in (format, format_values))
    {
      g_set_error (error, VIREO_ERROR, VIREO_ERROR_NOT_SUPPORTED,
                   "The domain's disk “%s” is a %s image; Vireo supports raw and qcow2 images.", shown_source,
                   format);
      return FALSE;
    }
  if (config->disks->len == DISKS_MAX)
    {
      g_set_error (error, VIREO_ERROR, VIREO_ERROR_NOT_SUPPORTED,
                   "The domain has more than %d disks; a Vireo machine has at most %d.", DISKS_MAX,
                   DISKS_MAX);
      return FALSE;
    }
  disk = vireo_disk_config_new (source, format, vireo_xml_child (children, "readonly") != NULL);
  take_string (&disk->device, g_strdup (cdrom ? "cdrom" : "disk"));
  take_string (&disk->bus, g_strdup (bus));
  if (cdrom)
    disk->readonly = TRUE;
  target = vireo_xml_child (children, "target");
  dev = target != NULL ? vireo_xml_child_attribute (target, "dev") : NULL;
  /* Another bus's name ("hdc" of an IDE CD-ROM) gives way to a fresh one of ours. */
  if (dev != NULL && !target_taken (config, dev) && vireo_disk_target_fits_bus (dev, bus))
    disk->target = g_strdup (dev);
  if ((boot = vireo_xml_child (children, "boot")) != NULL)
    {
      const char *order = vireo_xml_child_attribute (boot, "order");
      guint64 value;
      if (order == NULL || !g_ascii_string_to_unsigned (order, 10, 1, DISKS_MAX, &value, NULL))
        {
          g_set_error (error, VIREO_ERROR, VIREO_ERROR_NOT_SUPPORTED,
                       "The domain's disk “%s” has a boot order “%s”; Vireo takes 1 to %d.", shown_source,
                       order != NULL ? order : "", DISKS_MAX);
          return FALSE;
        }
      disk->boot_order = (unsigned) value;
    }
  if ((driver_cache = driver != NULL ? vireo_xml_child_attribute (driver, "cache") : NULL) != NULL)
    take_string (&disk->cache,
                 g_strdup (strcmp (driver_cache, "none") == 0 || strcmp (driver_cache, "directsync") == 0
                               ? "none"
                           : strcmp (driver_cache, "writeback") == 0 ? "writeback"
                                                                     : "default"));
  g_ptr_array_add (config->disks, g_steal_pointer (&disk));
  return TRUE;
}

/* The older form of a boot order, <os><boot dev='cdrom'/><boot dev='hd'/> (GNOME Boxes writes it):
 * when it names a CD-ROM and no disk has a <boot order> of its own, the first CD-ROM and the first hard
 * disk are given orders in that sequence. */
gboolean
vireo_xml_parse_os_boot_devices (GVirConfigDomain *domain, VireoMachineConfig *config, GError **error)
{
  g_autoptr (GVirConfigDomainOs) os = gvir_config_domain_get_os (domain);
  g_autofree char *os_xml = NULL;
  g_autoptr (GPtrArray) children = NULL;
  unsigned next = 1;

  for (guint i = 0; i < config->disks->len; i++)
    if (((VireoDiskConfig *) g_ptr_array_index (config->disks, i))->boot_order != 0)
      return TRUE;
  if (os == NULL)
    return TRUE;
  os_xml = gvir_config_object_to_xml (GVIR_CONFIG_OBJECT (os));
  children = vireo_xml_children (os_xml, error);
  if (children == NULL)
    return FALSE;
  /* Hard disks alone are what no order means here too. */
  {
    gboolean names_cdrom = FALSE;
    for (guint i = 0; i < children->len; i++)
      {
        const XmlChild *child = g_ptr_array_index (children, i);
        names_cdrom |= strcmp (child->name, "boot") == 0
                       && g_strcmp0 (vireo_xml_child_attribute (child, "dev"), "cdrom") == 0;
      }
    if (!names_cdrom)
      return TRUE;
  }
  for (guint i = 0; i < children->len; i++)
    {
      const XmlChild *child = g_ptr_array_index (children, i);
      const char *dev = strcmp (child->name, "boot") == 0 ? vireo_xml_child_attribute (child, "dev") : NULL;
      gboolean want_cdrom;

      if (dev == NULL || (strcmp (dev, "cdrom") != 0 && strcmp (dev, "hd") != 0))
        continue;
      want_cdrom = strcmp (dev, "cdrom") == 0;
      for (guint j = 0; j < config->disks->len; j++)
        {
          VireoDiskConfig *disk = g_ptr_array_index (config->disks, j);
          if ((strcmp (disk->device, "cdrom") == 0) == want_cdrom)
            {
              if (disk->boot_order == 0)
                disk->boot_order = next++;
              break;
            }
        }
    }
  return TRUE;
}

/* What an <interface> says that Vireo uses; gconfig has getters for the MAC and link only. */
typedef struct
{
  int depth;
  char *type;
  char *bridge;  /* <source bridge=…> */
  char *network; /* <source network=…> */
  char *mac;
  gboolean down;
  guint queues;           /* <driver queues=…>, 0 without */
  GPtrArray *forwards;    /* VireoForwardConfig */
  char *forward_protocol; /* inside a <portForward> */
  char *forward_address;
  const char *problem; /* a port forward Vireo cannot keep */
} InterfaceScan;

static const char *
attribute (const char **names, const char **values, const char *name)
{
  for (guint i = 0; names[i] != NULL; i++)
    if (strcmp (names[i], name) == 0)
      return values[i];
  return NULL;
}

static void
interface_start (GMarkupParseContext *context, const char *element, const char **names, const char **values,
                 gpointer data, GError **error)
{
  InterfaceScan *scan = data;
  const char *value;

  scan->depth++;
  if (scan->depth == 1)
    scan->type = g_strdup (attribute (names, values, "type"));
  else if (scan->depth == 2 && strcmp (element, "source") == 0)
    {
      if ((value = attribute (names, values, "bridge")) != NULL)
        take_string (&scan->bridge, g_strdup (value));
      if ((value = attribute (names, values, "network")) != NULL)
        take_string (&scan->network, g_strdup (value));
    }
  else if (scan->depth == 2 && strcmp (element, "mac") == 0)
    take_string (&scan->mac, g_strdup (attribute (names, values, "address")));
  else if (scan->depth == 2 && strcmp (element, "link") == 0)
    scan->down = g_strcmp0 (attribute (names, values, "state"), "down") == 0;
  else if (scan->depth == 2 && strcmp (element, "driver") == 0
           && (value = attribute (names, values, "queues")) != NULL)
    {
      guint64 queues;

      if (g_ascii_string_to_unsigned (value, 10, 1, HV_NET_QUEUES_MAX, &queues, NULL))
        scan->queues = (guint) queues;
      else
        scan->problem = "a number of queues outside 1 to 8";
    }
  else if (scan->depth == 2 && strcmp (element, "portForward") == 0)
    {
      take_string (&scan->forward_protocol, g_strdup (attribute (names, values, "proto")));
      take_string (&scan->forward_address, g_strdup (attribute (names, values, "address")));
    }
  else if (scan->depth == 3 && strcmp (element, "range") == 0 && scan->forward_protocol != NULL)
    {
      const char *start = attribute (names, values, "start");
      const char *end = attribute (names, values, "end");
      const char *to = attribute (names, values, "to");
      guint64 host_port, guest_port;

      if (g_strcmp0 (attribute (names, values, "exclude"), "yes") == 0)
        return;
      /* A range of ports (end) or a forward without a port are more than a Vireo forward says. */
      if (start == NULL || (end != NULL && strcmp (end, start) != 0)
          || !g_ascii_string_to_unsigned (start, 10, 1, 65535, &host_port, NULL)
          || !g_ascii_string_to_unsigned (to != NULL ? to : start, 10, 1, 65535, &guest_port, NULL))
        {
          scan->problem = "a port forward that is a range or has no port";
          return;
        }
      g_ptr_array_add (scan->forwards,
                       vireo_forward_config_new (scan->forward_protocol, scan->forward_address,
                                                 (guint16) host_port, (guint16) guest_port));
    }
}

static void
interface_end (GMarkupParseContext *context, const char *element, gpointer data, GError **error)
{
  InterfaceScan *scan = data;

  if (scan->depth == 2 && strcmp (element, "portForward") == 0)
    {
      g_clear_pointer (&scan->forward_protocol, g_free);
      g_clear_pointer (&scan->forward_address, g_free);
    }
  scan->depth--;
}

/* One <interface>: user → the Default Switch; bridge → the switch on that bridge; a libvirt network
 * (virt-manager's "default" is NAT) → the Default Switch.  A bridge no switch is on becomes the Default
 * Switch too, and the log says so: the machine keeps a network, if not the same one. */
static gboolean
parse_interface_device (GVirConfigDomainInterface *device, VireoMachineConfig *config, GError **error)
{
  static const GMarkupParser parser = { interface_start, interface_end, NULL, NULL, NULL };
  g_autofree char *xml = gvir_config_object_to_xml (GVIR_CONFIG_OBJECT (device));
  g_autoptr (GMarkupParseContext) context = NULL;
  g_autoptr (VireoNicConfig) nic = NULL;
  g_autofree char *switch_name = NULL;
  InterfaceScan scan = { 0 };
  gboolean ok;
  guint index = config->nics->len;

  scan.forwards = g_ptr_array_new_with_free_func ((GDestroyNotify) vireo_forward_config_free);
  context = g_markup_parse_context_new (&parser, 0, &scan, NULL);
  ok = g_markup_parse_context_parse (context, xml, -1, error)
       && g_markup_parse_context_end_parse (context, error);
  if (ok && index >= VIREO_NICS_MAX)
    {
      g_set_error (error, VIREO_ERROR, VIREO_ERROR_NOT_SUPPORTED,
                   "The domain has more than %d network interfaces; Vireo gives a machine at most %d.",
                   VIREO_NICS_MAX, VIREO_NICS_MAX);
      ok = FALSE;
    }
  if (ok && g_strcmp0 (scan.type, "bridge") == 0 && scan.bridge != NULL)
    {
      g_autofree char *shown_bridge = vireo_text_for_message (scan.bridge, 32);

      switch_name = vireo_switch_registry_find_bridge (scan.bridge);
      if (switch_name == NULL)
        g_message ("The domain's interface %u is on bridge “%s”, which no virtual switch uses: it is on the "
                   "Default Switch (NAT) instead.",
                   index + 1, shown_bridge);
    }
  else if (ok && g_strcmp0 (scan.type, "network") == 0 && g_strcmp0 (scan.network, "default") != 0)
    {
      g_autofree char *shown = vireo_text_for_message (scan.network != NULL ? scan.network : "", 32);
      g_message (
          "The domain's interface %u is on the libvirt network “%s”: it is on the Default Switch (NAT) "
          "instead.",
          index + 1, shown);
    }
  else if (ok && g_strcmp0 (scan.type, "user") != 0 && g_strcmp0 (scan.type, "network") != 0)
    {
      g_autofree char *shown = vireo_text_for_message (scan.type != NULL ? scan.type : "", 32);
      g_message ("The domain's interface %u is of type “%s”: it is on the Default Switch (NAT) instead.",
                 index + 1, shown);
    }
  if (ok)
    {
      nic = vireo_nic_config_new (NULL, switch_name != NULL ? switch_name : VIREO_DEFAULT_SWITCH);
      nic->connected = !scan.down;
      nic->queues = scan.queues;
      if (scan.mac != NULL && strlen (scan.mac) == 17 && hv_net_parse_mac (scan.mac, NULL, NULL))
        nic->mac = g_ascii_strdown (scan.mac, -1);
      else if (scan.mac != NULL)
        g_message ("The domain's interface %u has a MAC that is not usable; it gets a new one.", index + 1);
      /* Forwards only where they work: on NAT (a bridged guest is reached directly). */
      if (switch_name == NULL)
        {
          g_ptr_array_extend_and_steal (nic->forwards, g_steal_pointer (&scan.forwards));
          scan.forwards = NULL;
        }
      if (scan.problem != NULL)
        g_message ("The domain's interface %u has %s, which Vireo does not keep.", index + 1, scan.problem);
      g_ptr_array_add (config->nics, g_steal_pointer (&nic));
    }
  g_clear_pointer (&scan.forwards, g_ptr_array_unref);
  g_free (scan.type);
  g_free (scan.bridge);
  g_free (scan.network);
  g_free (scan.mac);
  g_free (scan.forward_protocol);
  g_free (scan.forward_address);
  return ok;
}

/* A <channel> whose <target type='virtio' name='org.qemu.guest_agent.0'/> is the guest agent's.  Read
 * from the element's XML, not with gvir_config_domain_channel_get_target_type: libvirt-gconfig logs a
 * critical warning for a target type it does not know (libvirt has more than it), and any is fine here. */
static gboolean
is_guest_agent_channel (GVirConfigDomainChannel *channel)
{
  g_autofree char *xml = gvir_config_object_to_xml (GVIR_CONFIG_OBJECT (channel));
  g_autoptr (GPtrArray) children = xml != NULL ? vireo_xml_children (xml, NULL) : NULL;
  const XmlChild *target = children != NULL ? vireo_xml_child (children, "target") : NULL;

  return target != NULL && g_strcmp0 (vireo_xml_child_attribute (target, "type"), "virtio") == 0
         && g_strcmp0 (vireo_xml_child_attribute (target, "name"), VIREO_GUEST_AGENT_PORT) == 0;
}

gboolean
vireo_xml_parse_devices (GVirConfigDomain *domain, VireoMachineConfig *config, char **removable,
                         GError **error)
{
  GList *devices = gvir_config_domain_get_devices (domain);
  gboolean ok = TRUE;

  for (GList *l = devices; l != NULL && ok; l = l->next)
    {
      if (GVIR_CONFIG_IS_DOMAIN_DISK (l->data))
        ok = parse_disk_device (l->data, config, removable, error);
      else if (GVIR_CONFIG_IS_DOMAIN_INTERFACE (l->data))
        ok = parse_interface_device (l->data, config, error);
      else if (GVIR_CONFIG_IS_DOMAIN_GRAPHICS (l->data))
        config->display = TRUE;
      else if (GVIR_CONFIG_IS_DOMAIN_CHANNEL (l->data) && is_guest_agent_channel (l->data))
        config->guest_agent = TRUE;
    }
  g_list_free_full (devices, g_object_unref);
  return ok;
}
