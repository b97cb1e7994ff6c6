/* fuzz-libvirt-xml.c — importing libvirt domain XML (service/machine-xml-read.c and the files beside it,
 * vireo_machine_config_new_from_xml), the one file format vireod reads from a D-Bus peer.  The
 * input is the XML text.  A domain that is accepted must survive our own export: exporting it,
 * importing the export and exporting again gives the same XML.  A critical warning is a crash: the
 * import refuses what libvirt-gconfig would warn about (enumeration values it does not know) before
 * handing it over. */
#include "fuzz-input.h"
#include "machine-config.h"

#include <libxml/xmlerror.h>

/* libxml2 prints every parse error of libvirt-gconfig's to stderr, which would bury the fuzzer's
 * own output; the import's GError is what the target checks. */
static void
quiet_xml_error (void *data, const char *format, ...)
{
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  g_autofree char *xml = g_strndup ((const char *) data, size);
  g_autoptr (VireoMachineConfig) config = NULL;
  g_autoptr (VireoMachineConfig) again = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *exported = NULL;
  g_autofree char *exported_again = NULL;

  fuzz_setup_logging (TRUE);
  xmlSetGenericErrorFunc (NULL, quiet_xml_error);

  config = vireo_machine_config_new_from_xml (xml, &error);
  if (config == NULL)
    {
      g_assert (error != NULL && g_utf8_validate (error->message, -1, NULL));
      fuzz_note_refusal ("domain", error);
      return 0;
    }
  exported = vireo_machine_config_to_xml (config);
  again = vireo_machine_config_new_from_xml (exported, &error);
  if (again == NULL)
    fuzz_fail ("our own export of an accepted domain is refused: %s\n%s", error->message, exported);
  exported_again = vireo_machine_config_to_xml (again);
  if (!g_str_equal (exported, exported_again))
    fuzz_fail ("the export changes when imported again:\n%s\n---\n%s", exported, exported_again);
  return 0;
}
