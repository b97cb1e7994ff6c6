/* machine-xml.c — a machine's definition as libvirt domain XML, written and read with
 * libvirt-gconfig: the stored and exported form (see machine-config.h). */
#include "machine-config-private.h"
#include "vireo-text.h"
#include "vireo-error.h"
#include "open-as.h"
#include "hv-limits.h"
#include "switch-registry.h"
#include "net-options.h"

#include <libxml/xmlerror.h>

#include <string.h>

#include <libvirt-gconfig/libvirt-gconfig.h>

#define VIREO_XML_NS     "https://vireo.org/xmlns/vireo/1"
#define VIREO_XML_PREFIX "vireo"

/* Real domain definitions are a few KiB; this bounds what an import or a damaged file costs us. */
#define XML_MAX_BYTES (1024 * 1024)

/* The shape a domain definition may have.  Real ones have a few hundred elements of a few attributes,
 * nested less than ten deep; libxml2 checks an element's attributes against each other (quadratic in
 * their number), so these are checked first, by a linear scan. */
#define XML_MAX_ELEMENTS   10000
#define XML_MAX_DEPTH      32
#define XML_MAX_ATTRIBUTES 64

typedef struct
{
  unsigned elements;
  unsigned depth;
  gboolean in_os;   /* inside <domain><os> */
  GString *os_type; /* the text of <domain><os><type>, while inside it */
  int os_type_line;
} XmlShape;

/* The attributes libvirt-gconfig reads as enumerations: a value it does not know makes it log a critical
 * warning (and abort under G_DEBUG=fatal-criticals), so unknown ones are refused here, named. */
static const char *const domain_types[] = { "kvm", "qemu", NULL };
static const char *const disk_types[] = { "file", "block", "dir", "network", NULL };
static const char *const disk_devices[] = { "disk", "floppy", "cdrom", NULL };
/* <os><type>'s text, read as an enumeration too. */
static const char *const os_types[] = { "hvm", "linux", "exe", NULL };

static void
check_enum_attributes (const char *element, const char **names, const char **values, unsigned depth, int line,
                       GError **error)
{
  for (guint i = 0; names[i]; i++)
    {
      g_autofree char *shown = NULL;

      if (depth == 1 && g_str_equal (element, "domain") && g_str_equal (names[i], "type")
          && !g_strv_contains (domain_types, values[i]))
        {
          shown = vireo_text_for_message (values[i], 32);
          g_set_error (error, VIREO_ERROR, VIREO_ERROR_NOT_SUPPORTED,
                       "The domain is a “%s” domain; Vireo runs only KVM and QEMU domains (line %d).", shown,
                       line);
          return;
        }
      if (g_str_equal (element, "disk") && g_str_equal (names[i], "type")
          && !g_strv_contains (disk_types, values[i]))
        {
          shown = vireo_text_for_message (values[i], 32);
          g_set_error (error, VIREO_ERROR, VIREO_ERROR_NOT_SUPPORTED,
                       "A disk of the domain is of type “%s”, which Vireo cannot use (line %d).", shown,
                       line);
          return;
        }
      if (g_str_equal (element, "disk") && g_str_equal (names[i], "device")
          && !g_strv_contains (disk_devices, values[i]))
        {
          shown = vireo_text_for_message (values[i], 32);
          g_set_error (error, VIREO_ERROR, VIREO_ERROR_NOT_SUPPORTED,
                       "A disk of the domain is a “%s” device, which Vireo cannot use (line %d).", shown,
                       line);
          return;
        }
    }
}

static void
shape_start (GMarkupParseContext *context, const char *element, const char **names, const char **values,
             gpointer data, GError **error)
{
  XmlShape *shape = data;
  guint attributes = g_strv_length ((char **) names);
  int line, column;

  g_markup_parse_context_get_position (context, &line, &column);
  if (++shape->elements > XML_MAX_ELEMENTS)
    g_set_error (error, VIREO_ERROR, VIREO_ERROR_INVALID_ARGUMENT,
                 "The domain XML has more than %d elements, the limit (line %d).", XML_MAX_ELEMENTS, line);
  else if (++shape->depth > XML_MAX_DEPTH)
    g_set_error (error, VIREO_ERROR, VIREO_ERROR_INVALID_ARGUMENT,
                 "The domain XML nests elements more than %d deep, the limit (line %d).", XML_MAX_DEPTH,
                 line);
  else if (attributes > XML_MAX_ATTRIBUTES)
    g_set_error (error, VIREO_ERROR, VIREO_ERROR_INVALID_ARGUMENT,
                 "An element of the domain XML has %u attributes; the limit is %d (line %d).", attributes,
                 XML_MAX_ATTRIBUTES, line);
  else
    {
      check_enum_attributes (element, names, values, shape->depth, line, error);
      if (shape->depth == 2 && g_str_equal (element, "os"))
        shape->in_os = TRUE;
      else if (shape->depth == 3 && shape->in_os && g_str_equal (element, "type"))
        {
          shape->os_type = g_string_new (NULL);
          shape->os_type_line = line;
        }
    }
}

static void
shape_text (GMarkupParseContext *context, const char *text, gsize len, gpointer data, GError **error)
{
  XmlShape *shape = data;

  if (shape->os_type && shape->os_type->len < 64)
    g_string_append_len (shape->os_type, text, (gssize) MIN (len, 64));
}

static void
shape_end (GMarkupParseContext *context, const char *element, gpointer data, GError **error)
{
  XmlShape *shape = data;

  if (shape->depth == 3 && shape->os_type)
    {
      g_autoptr (GString) os_type = g_steal_pointer (&shape->os_type);
      if (!g_strv_contains (os_types, os_type->str))
        {
          g_autofree char *shown = vireo_text_for_message (os_type->str, 32);
          g_set_error (error, VIREO_ERROR, VIREO_ERROR_NOT_SUPPORTED,
                       "The domain's operating system type is “%s”; Vireo runs only full (hvm) virtual "
                       "machines (line %d).",
                       shown, shape->os_type_line);
        }
    }
  if (shape->depth == 2)
    shape->in_os = FALSE;
  shape->depth--;
}

/* Refuses XML past the limits above, or that is not well-formed, in time linear in its length; the
 * message says where, never what (it is a caller's text). */
static gboolean
check_xml_shape (const char *xml, GError **error)
{
  static const GMarkupParser parser = { shape_start, shape_end, shape_text, NULL, NULL };
  XmlShape shape = { 0 };
  g_autoptr (GMarkupParseContext) context = g_markup_parse_context_new (&parser, 0, &shape, NULL);
  g_autoptr (GError) local_error = NULL;
  int line, column;

  gboolean ok = g_markup_parse_context_parse (context, xml, -1, &local_error)
                && g_markup_parse_context_end_parse (context, &local_error);

  if (shape.os_type)
    g_string_free (shape.os_type, TRUE);
  if (ok)
    return TRUE;
  if (local_error->domain == VIREO_ERROR)
    {
      g_propagate_error (error, g_steal_pointer (&local_error));
      return FALSE;
    }
  /* GMarkup stops on its own at a thousand attributes, before shape_start sees the element. */
  g_markup_parse_context_get_position (context, &line, &column);
  g_set_error (error, VIREO_ERROR, VIREO_ERROR_INVALID_ARGUMENT,
               "The domain XML cannot be read at line %d, character %d: it is not well-formed XML, or goes "
               "past a limit (%d attributes per element).",
               line, column, XML_MAX_ATTRIBUTES);
  return FALSE;
}

/* libvirt-gconfig 4.0 defines no autoptr cleanups of its own. */
G_DEFINE_AUTOPTR_CLEANUP_FUNC (GVirConfigDomain, g_object_unref)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (GVirConfigDomainOs, g_object_unref)

static void
ignore_libxml_message (void *data, const char *format, ...)
{
}

static void
ignore_libxml_error (void *data, const xmlError *error)
{
}

/* libxml2 prints what it refuses to stderr, with pieces of the document: a caller's XML would end up in
 * vireod's log.  Our own messages say what is wrong; libxml2's handlers are per thread, so this is set in
 * each thread that parses. */
static void
silence_libxml (void)
{
  xmlSetGenericErrorFunc (NULL, ignore_libxml_message);
  xmlSetStructuredErrorFunc (NULL, (xmlStructuredErrorFunc) ignore_libxml_error);
}

static gboolean
ensure_gconfig (GError **error)
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

  if (!ensure_gconfig (&error))
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

/* libvirt-gconfig 4.0 has no getters for some elements (os/kernel, disk/readonly, ...) and reads
 * <memory unit=...> without range checks, so those are read from the XML text of the element that
 * holds them: this collects the direct children of its root element. */
typedef struct
{
  char *name; /* without namespace prefix */
  char **attribute_names;
  char **attribute_values;
  GString *text;
} XmlChild;

typedef struct
{
  GPtrArray *children;
  int depth;
} XmlChildScan;

static void
xml_child_free (gpointer data)
{
  XmlChild *child = data;

  g_free (child->name);
  g_strfreev (child->attribute_names);
  g_strfreev (child->attribute_values);
  g_string_free (child->text, TRUE);
  g_free (child);
}

static const char *
local_name (const char *qualified)
{
  const char *colon = strrchr (qualified, ':');
  return colon != NULL ? colon + 1 : qualified;
}

static void
scan_start (GMarkupParseContext *context, const char *element, const char **names, const char **values,
            gpointer user_data, GError **error)
{
  XmlChildScan *scan = user_data;

  if (++scan->depth == 2)
    {
      XmlChild *child = g_new0 (XmlChild, 1);

      child->name = g_strdup (local_name (element));
      child->attribute_names = g_strdupv ((char **) names);
      child->attribute_values = g_strdupv ((char **) values);
      child->text = g_string_new (NULL);
      g_ptr_array_add (scan->children, child);
    }
}

static void
scan_end (GMarkupParseContext *context, const char *element, gpointer user_data, GError **error)
{
  XmlChildScan *scan = user_data;
  scan->depth--;
}

static void
scan_text (GMarkupParseContext *context, const char *text, gsize len, gpointer user_data, GError **error)
{
  XmlChildScan *scan = user_data;

  if (scan->depth == 2)
    {
      XmlChild *child = g_ptr_array_index (scan->children, scan->children->len - 1);
      g_string_append_len (child->text, text, len);
    }
}

static GPtrArray *
xml_children (const char *xml, GError **error)
{
  static const GMarkupParser parser = { scan_start, scan_end, scan_text, NULL, NULL };
  g_autoptr (GPtrArray) children = g_ptr_array_new_with_free_func (xml_child_free);
  XmlChildScan scan = { children, 0 };
  g_autoptr (GMarkupParseContext) context = g_markup_parse_context_new (&parser, 0, &scan, NULL);
  g_autoptr (GError) local_error = NULL;

  if (!g_markup_parse_context_parse (context, xml, -1, &local_error)
      || !g_markup_parse_context_end_parse (context, &local_error))
    {
      g_set_error (error, VIREO_ERROR, VIREO_ERROR_INVALID_ARGUMENT, "The domain XML cannot be read: %s.",
                   local_error->message);
      return NULL;
    }
  return g_steal_pointer (&children);
}

static const XmlChild *
xml_child (GPtrArray *children, const char *name)
{
  for (guint i = 0; i < children->len; i++)
    {
      const XmlChild *child = g_ptr_array_index (children, i);
      if (strcmp (child->name, name) == 0)
        return child;
    }
  return NULL;
}

static const char *
xml_child_attribute (const XmlChild *child, const char *name)
{
  for (guint i = 0; child->attribute_names[i] != NULL; i++)
    if (strcmp (child->attribute_names[i], name) == 0)
      return child->attribute_values[i];
  return NULL;
}

/* The trimmed text of child @name, or NULL when there is none. */
static char *
xml_child_text (GPtrArray *children, const char *name)
{
  const XmlChild *child = xml_child (children, name);
  return child != NULL ? g_strstrip (g_strdup (child->text->str)) : NULL;
}

/* <memory unit='...'>: libvirt's units, case as libvirt accepts them; no unit means KiB. */
static gboolean
parse_memory (const XmlChild *memory, uint64_t *mib, GError **error)
{
  static const char scales[] = "kmgtpe";
  const char *unit = xml_child_attribute (memory, "unit");
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
  g_autofree char *text = xml_child_text (children, "vcpu");
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
  children = xml_children (xml, error);
  if (children == NULL)
    return FALSE;
  *name = xml_child_text (children, "name");
  *network = xml_child_text (children, "network");
  {
    /* Trusted only from vireod's own store: an import replaces it with the importing caller's uid. */
    g_autofree char *files_uid = xml_child_text (children, "files-uid");
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
    g_autofree char *automatic = xml_child_text (children, "automatic-checkpoints");
    config->automatic_checkpoints = g_strcmp0 (automatic, "yes") == 0;
  }
  for (guint i = 0; i < G_N_ELEMENTS (fields); i++)
    {
      g_autofree char *value = xml_child_text (children, fields[i].element);
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
  children = xml_children (os_xml, error);
  if (children == NULL)
    return FALSE;
  if ((value = xml_child_text (children, "kernel")) != NULL)
    take_string (&config->kernel, value);
  if ((value = xml_child_text (children, "initrd")) != NULL)
    take_string (&config->initrd, value);
  if ((value = xml_child_text (children, "cmdline")) != NULL)
    take_string (&config->cmdline, value);
  if ((menu = xml_child (children, "bootmenu")) != NULL)
    config->boot_menu = g_strcmp0 (xml_child_attribute (menu, "enable"), "yes") == 0;
  return TRUE;
}

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
  children = xml_children (disk_xml, error);
  if (children == NULL)
    return FALSE;
  target = xml_child (children, "target");
  bus = bus_for (target != NULL ? xml_child_attribute (target, "bus") : NULL, cdrom);
  if (bus == NULL)
    {
      g_set_error (
          error, VIREO_ERROR, VIREO_ERROR_NOT_SUPPORTED,
          "The domain's %s “%s” is on the “%s” bus; Vireo has virtio and SATA disks and SATA CD-ROMs.",
          cdrom ? "CD-ROM" : "disk", shown_source, xml_child_attribute (target, "bus"));
      return FALSE;
    }
  driver = xml_child (children, "driver");
  if (driver != NULL)
    format = xml_child_attribute (driver, "type");
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
  disk = vireo_disk_config_new (source, format, xml_child (children, "readonly") != NULL);
  take_string (&disk->device, g_strdup (cdrom ? "cdrom" : "disk"));
  take_string (&disk->bus, g_strdup (bus));
  if (cdrom)
    disk->readonly = TRUE;
  target = xml_child (children, "target");
  dev = target != NULL ? xml_child_attribute (target, "dev") : NULL;
  /* Another bus's name ("hdc" of an IDE CD-ROM) gives way to a fresh one of ours. */
  if (dev != NULL && !target_taken (config, dev) && vireo_disk_target_fits_bus (dev, bus))
    disk->target = g_strdup (dev);
  if ((boot = xml_child (children, "boot")) != NULL)
    {
      const char *order = xml_child_attribute (boot, "order");
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
  if ((driver_cache = driver != NULL ? xml_child_attribute (driver, "cache") : NULL) != NULL)
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
static gboolean
parse_os_boot_devices (GVirConfigDomain *domain, VireoMachineConfig *config, GError **error)
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
  children = xml_children (os_xml, error);
  if (children == NULL)
    return FALSE;
  /* Hard disks alone are what no order means here too. */
  {
    gboolean names_cdrom = FALSE;
    for (guint i = 0; i < children->len; i++)
      {
        const XmlChild *child = g_ptr_array_index (children, i);
        names_cdrom |= strcmp (child->name, "boot") == 0
                       && g_strcmp0 (xml_child_attribute (child, "dev"), "cdrom") == 0;
      }
    if (!names_cdrom)
      return TRUE;
  }
  for (guint i = 0; i < children->len; i++)
    {
      const XmlChild *child = g_ptr_array_index (children, i);
      const char *dev = strcmp (child->name, "boot") == 0 ? xml_child_attribute (child, "dev") : NULL;
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
  g_autoptr (GPtrArray) children = xml != NULL ? xml_children (xml, NULL) : NULL;
  const XmlChild *target = children != NULL ? xml_child (children, "target") : NULL;

  return target != NULL && g_strcmp0 (xml_child_attribute (target, "type"), "virtio") == 0
         && g_strcmp0 (xml_child_attribute (target, "name"), VIREO_GUEST_AGENT_PORT) == 0;
}

static gboolean
parse_devices (GVirConfigDomain *domain, VireoMachineConfig *config, char **removable, GError **error)
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

  if (!ensure_gconfig (error))
    return NULL;
  silence_libxml ();
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
  if (!check_xml_shape (xml, error))
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
  children = xml_children (normalized, error);
  if (children == NULL)
    return NULL;
  memory = xml_child (children, "memory");
  if (memory == NULL)
    {
      g_set_error_literal (error, VIREO_ERROR, VIREO_ERROR_INVALID_ARGUMENT,
                           "The domain has no <memory> size.");
      return NULL;
    }
  if (!parse_memory (memory, &config->memory_mib, error) || !parse_vcpus (children, &config->vcpus, error)
      || !parse_os (domain, config, error))
    return NULL;

  if (!parse_devices (domain, config, &removable, error) || !parse_os_boot_devices (domain, config, error))
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
