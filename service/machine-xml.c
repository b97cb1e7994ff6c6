/* machine-xml.c — a machine's definition as libvirt domain XML, written with libvirt-gconfig: the stored
 * and exported form (see machine-config.h).  Reading it is machine-xml-read.c. */
#include "machine-xml-private.h"
#include "open-as.h"
#include "switch-registry.h"
#include "vireo-error.h"

#include <string.h>

gboolean
vireo_xml_ensure_gconfig (GError **error)
{
  static gsize initialized = 0;
  static gboolean ok = FALSE;
  static GError *init_error = NULL;

  if (g_once_init_enter (&initialized))
    {
      ok = gvir_config_init_check (NULL, NULL, &init_error);
      g_once_init_leave (&initialized, 1);
    }
  if (!ok)
    g_set_error (error, VIREO_ERROR, VIREO_ERROR_FAILED, "libvirt-gconfig could not be initialized: %s",
                 init_error != NULL ? init_error->message : "unknown error");
  return ok;
}

/* libvirt names end up in file names and virsh command lines, so '/' and friends are out: the
 * display name lives in <title> and our metadata, and <name> is a plain identifier derived from it.
 */
static char *
libvirt_name_for (const VireoMachineConfig *config)
{
  GString *name = g_string_new (NULL);

  for (const char *p = config->name; *p != '\0' && name->len < NAME_MAX_CHARS; p++)
    {
      if (g_ascii_isalnum (*p) || *p == '_' || ((*p == '-' || *p == '.') && name->len > 0))
        g_string_append_c (name, *p);
      else if (name->len > 0 && name->str[name->len - 1] != '-')
        g_string_append_c (name, '-');
    }
  while (name->len > 0 && (name->str[name->len - 1] == '-' || name->str[name->len - 1] == '.'))
    g_string_truncate (name, name->len - 1);
  if (name->len == 0)
    {
      g_string_assign (name, "vireo-");
      g_string_append_len (name, config->uuid, 8);
    }
  return g_string_free (name, FALSE);
}

static void
add_device (GVirConfigDomain *domain, gpointer device)
{
  gvir_config_domain_add_device (domain, GVIR_CONFIG_DOMAIN_DEVICE (device));
  g_object_unref (device);
}

static void
add_pty_chardev (GVirConfigDomain *domain, gpointer chardev)
{
  GVirConfigDomainChardevSourcePty *pty = gvir_config_domain_chardev_source_pty_new ();

  gvir_config_domain_chardev_set_source (GVIR_CONFIG_DOMAIN_CHARDEV (chardev),
                                         GVIR_CONFIG_DOMAIN_CHARDEV_SOURCE (pty));
  g_object_unref (pty);
  add_device (domain, chardev);
}

static gboolean
add_disk (GVirConfigDomain *domain, const VireoDiskConfig *disk, GError **error)
{
  /* Written as XML: libvirt-gconfig 4.0 has no setter for a disk's <boot order=…/>.  Only the values
   * are escaped; the fragments are ours. */
  g_autoptr (GString) xml = g_string_new (NULL);
  g_autofree char *whole = NULL;

  g_string_append_printf (xml, "<disk type='file' device='%s'><driver name='qemu' type='%s'", disk->device,
                          disk->format);
  if (strcmp (disk->cache, "default") != 0)
    g_string_append_printf (xml, " cache='%s'", disk->cache);
  g_string_append (xml, "/>");
  if (*disk->path != '\0')
    {
      g_autofree char *escaped = g_markup_escape_text (disk->path, -1);
      g_string_append_printf (xml, "<source file='%s'/>", escaped);
    }
  g_string_append_printf (xml, "<target dev='%s' bus='%s'/>", disk->target, disk->bus);
  if (disk->readonly)
    g_string_append (xml, "<readonly/>");
  if (disk->boot_order != 0)
    g_string_append_printf (xml, "<boot order='%u'/>", disk->boot_order);
  g_string_append (xml, "</disk>");
  whole = g_string_free (g_steal_pointer (&xml), FALSE);
  GVirConfigDomainDisk *device = gvir_config_domain_disk_new_from_xml (whole, error);

  if (device == NULL)
    return FALSE;
  add_device (domain, device);
  return TRUE;
}

/* One NIC: NAT as <interface type='user'> with libvirt's <portForward> for its forwards, a switch on a
 * bridge as <interface type='bridge'>.  gconfig has setters for neither the source bridge nor port
 * forwards, so the element is written as XML and parsed, as disks are. */
static gboolean
add_nic (GVirConfigDomain *domain, const VireoNicConfig *nic, GError **error)
{
  g_autoptr (GString) xml = g_string_new (NULL);
  g_autofree char *kind = NULL;
  g_autofree char *bridge = NULL;
  g_autofree char *whole = NULL;
  gboolean nat;
  gpointer device;

  nat = !vireo_switch_registry_lookup (nic->switch_name, &kind, &bridge) || strcmp (kind, "nat") == 0
        || *bridge == '\0';
  if (nat)
    g_string_append (xml, "<interface type='user'>");
  else
    {
      g_autofree char *escaped = g_markup_escape_text (bridge, -1);
      g_string_append_printf (xml, "<interface type='bridge'><source bridge='%s'/>", escaped);
    }
  if (nic->mac != NULL)
    g_string_append_printf (xml, "<mac address='%s'/>", nic->mac);
  g_string_append (xml, "<model type='virtio'/>");
  if (nic->queues != 0)
    g_string_append_printf (xml, "<driver queues='%u'/>", nic->queues);
  if (!nic->connected)
    g_string_append (xml, "<link state='down'/>");
  for (guint i = 0; nat && i < nic->forwards->len; i++)
    {
      const VireoForwardConfig *forward = g_ptr_array_index (nic->forwards, i);

      /* Checked when set (tcp or udp, an IPv4 literal); escaped all the same, as this is XML. */
      g_autofree char *protocol = g_markup_escape_text (forward->protocol, -1);
      g_autofree char *address = g_markup_escape_text (forward->host_address, -1);

      g_string_append_printf (xml, "<portForward proto='%s'", protocol);
      if (*address != '\0')
        g_string_append_printf (xml, " address='%s'", address);
      g_string_append_printf (xml, "><range start='%u' to='%u'/></portForward>", forward->host_port,
                              forward->guest_port);
    }
  g_string_append (xml, "</interface>");
  whole = g_string_free (g_steal_pointer (&xml), FALSE);
  if (nat)
    device = gvir_config_domain_interface_user_new_from_xml (whole, error);
  else
    device = gvir_config_domain_interface_bridge_new_from_xml (whole, error);
  if (device == NULL)
    return FALSE;
  add_device (domain, device);
  return TRUE;
}

static gboolean
has_boot_order (const VireoMachineConfig *config)
{
  for (guint i = 0; i < config->disks->len; i++)
    if (((VireoDiskConfig *) g_ptr_array_index (config->disks, i))->boot_order != 0)
      return TRUE;
  return FALSE;
}

static char *
metadata_xml (const VireoMachineConfig *config)
{
  g_autofree char *fields = g_markup_printf_escaped (
      "<name>%s</name>"
      "<network>%s</network>"
      "<cpuid-mask>%s</cpuid-mask>"
      "<auto-start>%s</auto-start>"
      "<auto-stop>%s</auto-stop>"
      "<checkpoint-kind>%s</checkpoint-kind>"
      "<automatic-checkpoints>%s</automatic-checkpoints>",
      config->name, config->nics->len > 0 ? "nat" : "none", config->cpuid_mask, config->auto_start,
      config->auto_stop, config->checkpoint_kind, config->automatic_checkpoints ? "yes" : "no");

  /* An element, not text: g_markup_printf_escaped() would escape it into text that no one reads back,
   * and the machine's files would then be opened with vireod's own rights after a restart. */
  if (config->files_uid == VIREO_OWN_UID)
    return g_strdup_printf ("<machine>%s</machine>", fields);
  return g_strdup_printf ("<machine>%s<files-uid>%" G_GINT64_FORMAT "</files-uid></machine>", fields,
                          config->files_uid);
}

char *
vireo_machine_config_to_xml (const VireoMachineConfig *config)
{
  g_autoptr (GVirConfigDomain) domain = NULL;
  g_autoptr (GVirConfigDomainOs) os = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *libvirt_name = NULL;
  g_autofree char *metadata = NULL;
  const char *features[] = { "acpi", "apic", NULL };

  g_return_val_if_fail (config != NULL, NULL);

  if (!vireo_xml_ensure_gconfig (&error))
    {
      g_warning ("%s", error->message);
      return NULL;
    }

  domain = gvir_config_domain_new ();
  libvirt_name = libvirt_name_for (config);
  metadata = metadata_xml (config);
  gvir_config_domain_set_virt_type (domain, GVIR_CONFIG_DOMAIN_VIRT_KVM);
  gvir_config_domain_set_name (domain, libvirt_name);
  gvir_config_domain_set_uuid (domain, config->uuid);
  if (*config->name != '\0')
    gvir_config_domain_set_title (domain, config->name);
  if (*config->notes != '\0')
    gvir_config_domain_set_description (domain, config->notes);
  if (!gvir_config_domain_set_custom_xml_ns_children (domain, metadata, VIREO_XML_PREFIX, VIREO_XML_NS,
                                                      &error))
    {
      g_warning ("Cannot write the Vireo metadata of machine %s: %s", config->uuid, error->message);
      return NULL;
    }
  gvir_config_domain_set_memory (domain, config->memory_mib * 1024);
  gvir_config_domain_set_current_memory (domain, config->memory_mib * 1024);
  gvir_config_domain_set_vcpus (domain, config->vcpus);

  os = gvir_config_domain_os_new ();
  gvir_config_domain_os_set_os_type (os, GVIR_CONFIG_DOMAIN_OS_TYPE_HVM);
  gvir_config_domain_os_set_arch (os, "x86_64");
  gvir_config_domain_os_set_machine (os, "pc");
  if (strcmp (config->boot, "kernel") == 0)
    {
      gvir_config_domain_os_set_kernel (os, config->kernel);
      if (*config->initrd != '\0')
        gvir_config_domain_os_set_ramdisk (os, config->initrd);
      if (*config->cmdline != '\0')
        gvir_config_domain_os_set_cmdline (os, config->cmdline);
    }
  else
    {
      if (!has_boot_order (config))
        {
          /* libvirt refuses <os><boot dev=…> beside the disks' own <boot order>. */
          GList boot = { GINT_TO_POINTER (GVIR_CONFIG_DOMAIN_OS_BOOT_DEVICE_HD), NULL, NULL };
          gvir_config_domain_os_set_boot_devices (os, &boot);
        }
      if (config->boot_menu)
        gvir_config_domain_os_enable_boot_menu (os, TRUE);
    }
  gvir_config_domain_set_os (domain, os);
  gvir_config_domain_set_features (domain, (GStrv) features);
  gvir_config_domain_set_lifecycle (domain, GVIR_CONFIG_DOMAIN_LIFECYCLE_ON_POWEROFF,
                                    GVIR_CONFIG_DOMAIN_LIFECYCLE_DESTROY);
  gvir_config_domain_set_lifecycle (domain, GVIR_CONFIG_DOMAIN_LIFECYCLE_ON_REBOOT,
                                    GVIR_CONFIG_DOMAIN_LIFECYCLE_RESTART);
  gvir_config_domain_set_lifecycle (domain, GVIR_CONFIG_DOMAIN_LIFECYCLE_ON_CRASH,
                                    GVIR_CONFIG_DOMAIN_LIFECYCLE_DESTROY);

  for (guint i = 0; i < config->disks->len && i < DISKS_MAX; i++)
    if (!add_disk (domain, g_ptr_array_index (config->disks, i), &error))
      {
        g_warning ("Cannot describe a disk of machine %s: %s", config->uuid, error->message);
        return NULL;
      }
  for (guint i = 0; i < config->nics->len && i < VIREO_NICS_MAX; i++)
    if (!add_nic (domain, g_ptr_array_index (config->nics, i), &error))
      {
        g_warning ("Cannot describe a NIC of machine %s: %s", config->uuid, error->message);
        return NULL;
      }
  add_pty_chardev (domain, gvir_config_domain_serial_new ());
  {
    GVirConfigDomainConsole *console = gvir_config_domain_console_new ();
    gvir_config_domain_console_set_target_type (console, GVIR_CONFIG_DOMAIN_CONSOLE_TARGET_SERIAL);
    add_pty_chardev (domain, console);
  }
  if (config->guest_agent)
    {
      /* The guest agent's channel; libvirt wants a source, and its socket is the worker's own. */
      GVirConfigDomainChannel *channel = gvir_config_domain_channel_new ();
      GVirConfigDomainChardevSourceUnix *source = gvir_config_domain_chardev_source_unix_new ();

      gvir_config_domain_channel_set_target_type (channel, GVIR_CONFIG_DOMAIN_CHANNEL_TARGET_VIRTIO);
      gvir_config_domain_channel_set_target_name (channel, VIREO_GUEST_AGENT_PORT);
      gvir_config_domain_chardev_set_source (GVIR_CONFIG_DOMAIN_CHARDEV (channel),
                                             GVIR_CONFIG_DOMAIN_CHARDEV_SOURCE (source));
      g_object_unref (source);
      add_device (domain, channel);
    }
  if (config->display)
    {
      /* The display is reached through Machine.OpenDisplay (a socket fd), never a TCP port; gconfig
       * has no setter for <listen type='none'/>, so this one element is written as XML. */
      GVirConfigDomainGraphicsSpice *spice = gvir_config_domain_graphics_spice_new_from_xml (
          "<graphics type='spice' autoport='no'><listen type='none'/></graphics>", &error);
      GVirConfigDomainVideo *video;

      if (spice == NULL)
        {
          g_warning ("Cannot describe the display of machine %s: %s", config->uuid, error->message);
          return NULL;
        }
      add_device (domain, spice);
      video = gvir_config_domain_video_new ();
      gvir_config_domain_video_set_model (video, GVIR_CONFIG_DOMAIN_VIDEO_MODEL_VIRTIO);
      add_device (domain, video);
    }
  return gvir_config_object_to_xml (GVIR_CONFIG_OBJECT (domain));
}
