/* vireo-text.c — text rules shared by the service and the app. */
#include "vireo-text.h"

#include <string.h>

char *
vireo_utf8_strip (const char *text)
{
  const char *start = text;
  const char *end = text + strlen (text);

  while (*start != '\0' && g_unichar_isspace (g_utf8_get_char (start)))
    start = g_utf8_next_char (start);
  while (end > start)
    {
      const char *prev = g_utf8_prev_char (end);
      if (!g_unichar_isspace (g_utf8_get_char (prev)))
        break;
      end = prev;
    }
  return g_strndup (start, end - start);
}

char *
vireo_text_for_message (const char *text, gsize max_chars)
{
  GString *out = g_string_new (NULL);
  const char *p = text ? text : "";
  gsize chars = 0;

  while (*p)
    {
      gunichar c = g_utf8_get_char_validated (p, -1);

      if (chars == max_chars)
        {
          g_string_append (out, "…");
          break;
        }
      if (c == (gunichar) -1 || c == (gunichar) -2 || g_unichar_iscntrl (c))
        {
          g_string_append_printf (out, "\\x%02x", (guint8) *p);
          p++;
        }
      else
        {
          g_string_append_unichar (out, c);
          p = g_utf8_next_char (p);
        }
      chars++;
    }
  return g_string_free (out, FALSE);
}
