/* machine-xml-scan.c — domain XML read as text, without libvirt-gconfig: the shape checked before
 * libxml2 sees it, libxml2 kept quiet, and the direct children of an element (for what libvirt-gconfig
 * has no getter for). */
#include "machine-xml-private.h"
#include "vireo-error.h"
#include "vireo-text.h"

#include <libxml/xmlerror.h>

#include <string.h>

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
gboolean
vireo_xml_check_shape (const char *xml, GError **error)
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
void
vireo_xml_silence_libxml (void)
{
  xmlSetGenericErrorFunc (NULL, ignore_libxml_message);
  xmlSetStructuredErrorFunc (NULL, (xmlStructuredErrorFunc) ignore_libxml_error);
}

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

GPtrArray *
vireo_xml_children (const char *xml, GError **error)
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

const XmlChild *
vireo_xml_child (GPtrArray *children, const char *name)
{
  for (guint i = 0; i < children->len; i++)
    {
      const XmlChild *child = g_ptr_array_index (children, i);
      if (strcmp (child->name, name) == 0)
        return child;
    }
  return NULL;
}

const char *
vireo_xml_child_attribute (const XmlChild *child, const char *name)
{
  for (guint i = 0; child->attribute_names[i] != NULL; i++)
    if (strcmp (child->attribute_names[i], name) == 0)
      return child->attribute_values[i];
  return NULL;
}

/* The trimmed text of child @name, or NULL when there is none. */
char *
vireo_xml_child_text (GPtrArray *children, const char *name)
{
  const XmlChild *child = vireo_xml_child (children, name);
  return child != NULL ? g_strstrip (g_strdup (child->text->str)) : NULL;
}
