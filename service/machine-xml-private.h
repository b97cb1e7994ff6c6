/* machine-xml-private.h — what the files of the libvirt domain XML form share (machine-xml.c: writing it;
 * machine-xml-read.c: reading it; machine-xml-devices.c: the devices read from it; machine-xml-scan.c:
 * the XML text read without libvirt-gconfig): the namespace of our metadata, libvirt-gconfig's set-up,
 * the checks before libxml2, and the direct children of an element. */
#pragma once

#include "machine-config-private.h"

#include <libvirt-gconfig/libvirt-gconfig.h>

G_BEGIN_DECLS

#define VIREO_XML_NS     "https://vireo.org/xmlns/vireo/1"
#define VIREO_XML_PREFIX "vireo"

/* libvirt-gconfig 4.0 defines no autoptr cleanups of its own. */
G_DEFINE_AUTOPTR_CLEANUP_FUNC (GVirConfigDomain, g_object_unref)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (GVirConfigDomainOs, g_object_unref)

/* machine-xml.c: initializes libvirt-gconfig once (VIREO_ERROR_FAILED when it cannot be). */
gboolean vireo_xml_ensure_gconfig (GError **error);

/* machine-xml-scan.c: refuses XML past the limits on its shape, or with an attribute value
 * libvirt-gconfig would log a critical for (VIREO_ERROR_INVALID_ARGUMENT saying where, never what). */
gboolean vireo_xml_check_shape (const char *xml, GError **error);
/* Keeps libxml2 from printing pieces of a caller's document to stderr, in the calling thread. */
void vireo_xml_silence_libxml (void);

/* libvirt-gconfig 4.0 has no getters for some elements (os/kernel, disk/readonly, ...) and reads
 * <memory unit=...> without range checks, so those are read from the XML text of the element that
 * holds them: vireo_xml_children() collects the direct children of its root element. */
typedef struct
{
  char *name; /* without namespace prefix */
  char **attribute_names;
  char **attribute_values;
  GString *text;
} XmlChild;

GPtrArray *vireo_xml_children (const char *xml, GError **error);
const XmlChild *vireo_xml_child (GPtrArray *children, const char *name);
const char *vireo_xml_child_attribute (const XmlChild *child, const char *name);
/* The trimmed text of child @name, or NULL when there is none. */
char *vireo_xml_child_text (GPtrArray *children, const char *name);

/* machine-xml-devices.c: the disks, CD-ROMs (@removable names the first floppy or CD-ROM skipped),
 * interfaces and guest agent channel of @domain into @config. */
gboolean vireo_xml_parse_devices (GVirConfigDomain *domain, VireoMachineConfig *config, char **removable,
                                  GError **error);
/* The older form of a boot order, <os><boot dev=...>, where no disk has a <boot order>. */
gboolean vireo_xml_parse_os_boot_devices (GVirConfigDomain *domain, VireoMachineConfig *config,
                                          GError **error);

G_END_DECLS
