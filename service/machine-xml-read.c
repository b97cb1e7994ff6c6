/* machine-xml-read.c — a machine's definition read from libvirt domain XML, ours or another tool's: the
 * name, memory, processors, our metadata and the boot source, checked as a caller's input; the devices
 * are machine-xml-devices.c. */
#include "machine-xml-private.h"
#include "hv-limits.h"
#include "vireo-error.h"
#include "vireo-text.h"

#include <string.h>

/* Real domain definitions are a few KiB; this bounds what an import or a damaged file costs us. */
#define XML_MAX_BYTES (1024 * 1024)

/* <memory unit='...'>: libvirt's units, case as libvirt accepts them; no unit means KiB. */
static gboolean
parse_memory (const XmlChild *memory, uint64_t *mib, GError **error)
{
  static const char scales[] = "kmgtpe";
  const char *unit = vireo_xml_child_attribute (memory, "unit");
  g_autofree char *text = g_strstrip (g_strdup (memory->text->str));
  uint64_t value = 0;
  uint64_t scale = 1;

  if (unit == NULL)
    scale = 1024;
  else if (g_ascii_strcasecmp (unit, "b") == 0 || g_ascii_strcasecmp (unit, "bytes") == 0)
    scale = 1;
  else
    {
      const char *power = *unit != '\0' ? strchr (scales, g_ascii_tolower (*unit)) : NULL;
      const char *rest = unit + 1;
      uint64_t base;

      if (power == NULL)
        goto bad_unit;
      if (*rest == '\0' || g_ascii_strcasecmp (rest, "ib") == 0)
        base = 1024;
      else if (g_ascii_strcasecmp (rest, "b") == 0)
        base = 1000;
      else
        goto bad_unit;
      for (const char *p = scales; p <= power; p++)
        scale *= base;
    }

  if (!g_ascii_string_to_unsigned (text, 10, 0, G_MAXUINT64, &value, NULL))
    {
      g_set_error (error, VIREO_ERROR, VIREO_ERROR_INVALID_ARGUMENT,
                   "The domain's <memory> “%s” is not a number.", text);
      return FALSE;
    }
  if (value > G_MAXUINT64 / scale || value * scale / (1024 * 1024) > MEMORY_MIB_MAX)
    {
      g_set_error (error, VIREO_ERROR, VIREO_ERROR_INVALID_ARGUMENT,
                   "The domain's <memory> %s %s is too large.", text, unit != NULL ? unit : "KiB");
      return FALSE;
    }
  *mib = value * scale / (1024 * 1024);
  return TRUE;

bad_unit:
  g_set_error (error, VIREO_ERROR, VIREO_ERROR_INVALID_ARGUMENT,
               "The domain's <memory> has an unknown unit “%s”.", unit);
  return FALSE;
}

static gboolean
parse_vcpus (GPtrArray *children, unsigned *vcpus, GError **error)
{
  g_autofree char *text = vireo_xml_child_text (children, "vcpu");
  guint64 value;

  if (text == NULL)
    {
      *vcpus = 1;
      return TRUE;
    }
  if (!g_ascii_string_to_unsigned (text, 10, 0, G_MAXUINT32, &value, NULL))
    {
      g_set_error (error, VIREO_ERROR, VIREO_ERROR_INVALID_ARGUMENT,
                   "The domain's <vcpu> “%s” is not a number from 1 to %d.", text, HV_VCPUS_MAX);
      return FALSE;
    }
  *vcpus = (unsigned) value;
  return TRUE;
}

/* A display name from another tool's title or name: control characters become spaces and it is cut
 * to our length limit, so an import never fails over a cosmetic detail.  NULL when nothing is left.
 */
static char *
display_name_from (const char *text)
{
  g_autoptr (GString) cleaned = g_string_new (NULL);
  g_autofree char *trimmed = NULL;
  glong chars = 0;

  if (!g_utf8_validate (text, -1, NULL))
    return NULL;
  for (const char *p = text; *p != '\0'; p = g_utf8_next_char (p))
    {
      gunichar c = g_utf8_get_char (p);
      g_string_append_unichar (cleaned, g_unichar_iscntrl (c) || c == 0xfffe || c == 0xffff ? ' ' : c);
    }
  trimmed = vireo_utf8_strip (cleaned->str);
  for (char *p = trimmed; *p != '\0'; p = g_utf8_next_char (p))
    if (++chars > NAME_MAX_CHARS)
      {
        *p = '\0';
        break;
      }
  return *trimmed != '\0' ? vireo_utf8_strip (trimmed) : NULL;
}

/* Our own <vireo:machine> element, when the domain has one.  Name and network are returned rather
 * than set, because they override what the rest of the domain says. */
static gboolean
parse_metadata (GVirConfigDomain *domain, VireoMachineConfig *config, char **name, char **network,
                GError **error)
{
  static const struct
  {
    const char *element;
    size_t offset;
    const char *const *values;
  } fields[] = {
    { "cpuid-mask", STRING_FIELD (cpuid_mask), NULL },
    { "auto-start", STRING_FIELD (auto_start), auto_start_values },
    { "auto-stop", STRING_FIELD (auto_stop), auto_stop_values },
    { "checkpoint-kind", STRING_FIELD (checkpoint_kind), checkpoint_kind_values },
  };
  g_autofree char *xml = gvir_config_domain_get_custom_xml (domain, VIREO_XML_NS);
  g_autoptr (GPtrArray) children = NULL;

  if (xml == NULL)
    return TRUE;
  children = vireo_xml_children (xml, error);
  if (children == NULL)
    return FALSE;
  *name = vireo_xml_child_text (children, "name");
  *network = vireo_xml_child_text (children, "network");
  {
    /* Trusted only from vireod's own store: an import replaces it with the importing caller's uid. */
    g_autofree char *files_uid = vireo_xml_child_text (children, "files-uid");
    guint64 uid;
    if (files_uid != NULL)
      {
        if (!g_ascii_string_to_unsigned (files_uid, 10, 0, G_MAXUINT32, &uid, NULL))
          {
            g_set_error_literal (error, VIREO_ERROR, VIREO_ERROR_INVALID_ARGUMENT,
                                 "The domain's <vireo:files-uid> is not a user id.");
            return FALSE;
          }
        config->files_uid = (gint64) uid;
      }
  }
  if (*network != NULL && !vireo_machine_config_check_enum ("network", *network, network_values, error))
    return FALSE;
  {
    g_autofree char *automatic = vireo_xml_child_text (children, "automatic-checkpoints");
    config->automatic_checkpoints = g_strcmp0 (automatic, "yes") == 0;
  }
  for (guint i = 0; i < G_N_ELEMENTS (fields); i++)
    {
      g_autofree char *value = vireo_xml_child_text (children, fields[i].element);
      if (value == NULL)
        continue;
      if (fields[i].values != NULL
          && !vireo_machine_config_check_enum (fields[i].element, value, fields[i].values, error))
        return FALSE;
      take_string (G_STRUCT_MEMBER_P (config, fields[i].offset), g_steal_pointer (&value));
    }
  return TRUE;
}

static gboolean
parse_os (GVirConfigDomain *domain, VireoMachineConfig *config, GError **error)
{
  g_autoptr (GVirConfigDomainOs) os = gvir_config_domain_get_os (domain);
  g_autoptr (GPtrArray) children = NULL;
  g_autofree char *os_xml = NULL;
  const char *arch;
  char *value;
  const XmlChild *menu;

  if (os == NULL)
    {
      g_set_error_literal (error, VIREO_ERROR, VIREO_ERROR_INVALID_ARGUMENT,
                           "The domain has no <os> element.");
      return FALSE;
    }
  if (gvir_config_domain_os_get_os_type (os) != GVIR_CONFIG_DOMAIN_OS_TYPE_HVM)
    {
      g_set_error_literal (error, VIREO_ERROR, VIREO_ERROR_NOT_SUPPORTED,
                           "The domain is not a full (hvm) virtual machine; Vireo runs only those.");
      return FALSE;
    }
  arch = gvir_config_domain_os_get_arch (os);
  if (arch != NULL && strcmp (arch, "x86_64") != 0)
    {
      g_set_error (error, VIREO_ERROR, VIREO_ERROR_NOT_SUPPORTED,
                   "The domain is for the %s architecture; Vireo runs only x86_64 machines.", arch);
      return FALSE;
    }

  os_xml = gvir_config_object_to_xml (GVIR_CONFIG_OBJECT (os));
  children = vireo_xml_children (os_xml, error);
  if (children == NULL)
    return FALSE;
  if ((value = vireo_xml_child_text (children, "kernel")) != NULL)
    take_string (&config->kernel, value);
  if ((value = vireo_xml_child_text (children, "initrd")) != NULL)
    take_string (&config->initrd, value);
  if ((value = vireo_xml_child_text (children, "cmdline")) != NULL)
    take_string (&config->cmdline, value);
  if ((menu = vireo_xml_child (children, "bootmenu")) != NULL)
    config->boot_menu = g_strcmp0 (vireo_xml_child_attribute (menu, "enable"), "yes") == 0;
  return TRUE;
}

VireoMachineConfig *
vireo_machine_config_new_from_xml (const char *xml, GError **error)
{
  g_autoptr (VireoMachineConfig) config = NULL;
  g_autoptr (GVirConfigDomain) domain = NULL;
  g_autoptr (GPtrArray) children = NULL;
  g_autoptr (GError) local_error = NULL;
  g_autofree char *normalized = NULL;
  g_autofree char *metadata_name = NULL;
  g_autofree char *removable = NULL;
  g_autofree char *display_name = NULL;
  g_autofree char *metadata_network = NULL;
  GVirConfigDomainVirtType virt_type;
  const XmlChild *memory;
  const char *name;
  const char *title;
  const char *uuid;

  if (!vireo_xml_ensure_gconfig (error))
    return NULL;
  vireo_xml_silence_libxml ();
  if (xml == NULL || *xml == '\0')
    {
      g_set_error_literal (error, VIREO_ERROR, VIREO_ERROR_INVALID_ARGUMENT, "The domain XML is empty.");
      return NULL;
    }
  if (strlen (xml) > XML_MAX_BYTES)
    {
      g_set_error (error, VIREO_ERROR, VIREO_ERROR_INVALID_ARGUMENT,
                   "The domain XML is %zu bytes long; the limit is %d.", strlen (xml), XML_MAX_BYTES);
      return NULL;
    }
  if (!vireo_xml_check_shape (xml, error))
    return NULL;
  domain = gvir_config_domain_new_from_xml (xml, &local_error);
  if (domain == NULL)
    {
      /* libxml2 quotes the bytes it stumbled on, which need not be UTF-8: a D-Bus error must be. */
      g_autofree char *why = g_utf8_make_valid (local_error->message, -1);
      g_set_error (error, VIREO_ERROR, VIREO_ERROR_INVALID_ARGUMENT, "This is not libvirt domain XML: %s",
                   why);
      return NULL;
    }

  virt_type = gvir_config_domain_get_virt_type (domain);
  if (virt_type != GVIR_CONFIG_DOMAIN_VIRT_KVM && virt_type != GVIR_CONFIG_DOMAIN_VIRT_QEMU)
    {
      g_set_error_literal (error, VIREO_ERROR, VIREO_ERROR_NOT_SUPPORTED,
                           "The domain is not a KVM or QEMU domain; Vireo runs only those.");
      return NULL;
    }
  name = gvir_config_domain_get_name (domain);
  if (name == NULL || *name == '\0')
    {
      g_set_error_literal (error, VIREO_ERROR, VIREO_ERROR_INVALID_ARGUMENT, "The domain has no <name>.");
      return NULL;
    }

  config = vireo_machine_config_new ();
  /* No boot source is assumed: it follows from what the domain has. */
  g_clear_pointer (&config->boot, g_free);

  uuid = gvir_config_domain_get_uuid (domain);
  if (uuid != NULL)
    {
      g_autofree char *trimmed = g_strstrip (g_strdup (uuid));

      if (strlen (trimmed) != 36 || !g_uuid_string_is_valid (trimmed))
        {
          g_set_error (error, VIREO_ERROR, VIREO_ERROR_INVALID_ARGUMENT,
                       "The domain's UUID “%s” is not valid.", uuid);
          return NULL;
        }
      take_string (&config->uuid, g_ascii_strdown (trimmed, -1));
    }

  if (!parse_metadata (domain, config, &metadata_name, &metadata_network, error))
    return NULL;
  /* Our name, else the title libvirt tools show (GNOME Boxes keeps its display name there), else
   * the libvirt name. */
  title = gvir_config_domain_get_title (domain);
  if (metadata_name != NULL)
    display_name = vireo_utf8_strip (metadata_name);
  else
    display_name = display_name_from (title != NULL ? title : "");
  if (display_name == NULL || *display_name == '\0')
    take_string (&display_name, display_name_from (name));
  if (display_name == NULL)
    {
      g_set_error_literal (error, VIREO_ERROR, VIREO_ERROR_INVALID_ARGUMENT,
                           "The domain has no usable name.");
      return NULL;
    }
  take_string (&config->name, g_steal_pointer (&display_name));
  if (gvir_config_domain_get_description (domain) != NULL)
    take_string (&config->notes, g_strdup (gvir_config_domain_get_description (domain)));

  normalized = gvir_config_object_to_xml (GVIR_CONFIG_OBJECT (domain));
  children = vireo_xml_children (normalized, error);
  if (children == NULL)
    return NULL;
  memory = vireo_xml_child (children, "memory");
  if (memory == NULL)
    {
      g_set_error_literal (error, VIREO_ERROR, VIREO_ERROR_INVALID_ARGUMENT,
                           "The domain has no <memory> size.");
      return NULL;
    }
  if (!parse_memory (memory, &config->memory_mib, error) || !parse_vcpus (children, &config->vcpus, error)
      || !parse_os (domain, config, error))
    return NULL;

  if (!vireo_xml_parse_devices (domain, config, &removable, error)
      || !vireo_xml_parse_os_boot_devices (domain, config, error))
    return NULL;
  vireo_machine_config_assign_targets (config);
  /* The interfaces say what the network is.  Definitions of Vireo before "nics" wrote
   * <vireo:network>nat</vireo:network> with one <interface type='user'>, so they agree; where they do
   * not, the metadata (ours) wins over the devices. */
  if (g_strcmp0 (metadata_network, "none") == 0)
    g_ptr_array_set_size (config->nics, 0);
  else if (g_strcmp0 (metadata_network, "nat") == 0 && config->nics->len == 0)
    g_ptr_array_add (config->nics, vireo_nic_config_new (NULL, VIREO_DEFAULT_SWITCH));
  vireo_machine_config_assign_macs (config);
  vireo_machine_config_sync_network (config);

  if (*config->kernel != '\0')
    config->boot = g_strdup ("kernel");
  else if (config->disks->len > 0)
    config->boot = g_strdup ("disk");
  else if (removable != NULL)
    {
      g_set_error (error, VIREO_ERROR, VIREO_ERROR_NOT_SUPPORTED,
                   "The domain boots only from a CD-ROM or floppy (“%s”); Vireo cannot boot from those yet. "
                   "Install the system onto a disk image first.",
                   removable);
      return NULL;
    }
  else
    {
      g_set_error_literal (error, VIREO_ERROR, VIREO_ERROR_NOT_SUPPORTED,
                           "The domain has neither a kernel nor a disk to boot from.");
      return NULL;
    }

  if (!vireo_machine_config_validate (config, error))
    return NULL;
  return g_steal_pointer (&config);
}
