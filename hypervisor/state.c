/* state.c — saved state as GVariant dictionaries: typed lookups that check what a file from disk
 * holds, and the CRC-64 of the saved files. */
#include "state.h"

#include <stdarg.h>
#include <string.h>

GVariant *
hv_state_new_bytes (const void *data, gsize len)
{
  return g_variant_new_fixed_array (G_VARIANT_TYPE_BYTE, data, len, 1);
}

void
hv_state_set_bad (GError **error, const char *what, const char *format, ...)
{
  g_autofree char *reason = NULL;
  va_list args;

  va_start (args, format);
  reason = g_strdup_vprintf (format, args);
  va_end (args);
  g_set_error (error, HV_ERROR, HV_ERROR_BAD_IMAGE, "the saved state of %s is not valid: %s", what, reason);
}

GVariant *
hv_state_lookup (GVariant *dict, const char *what, const char *key, const GVariantType *type, GError **error)
{
  GVariant *value = g_variant_lookup_value (dict, key, NULL);

  if (value == NULL)
    {
      hv_state_set_bad (error, what, "“%s” is missing", key);
      return NULL;
    }
  if (!g_variant_is_of_type (value, type))
    {
      g_autofree char *expected = g_variant_type_dup_string (type);
      hv_state_set_bad (error, what, "“%s” is of type %s, not %s", key, g_variant_get_type_string (value),
                        expected);
      g_variant_unref (value);
      return NULL;
    }
  return value;
}

gboolean
hv_state_get (GVariant *dict, const char *what, const char *key, const char *format, void *out,
              GError **error)
{
  g_autoptr (GVariant) value = NULL;

  g_return_val_if_fail (strlen (format) == 1 && strchr ("byqutx", format[0]) != NULL, FALSE);
  value = hv_state_lookup (dict, what, key, G_VARIANT_TYPE (format), error);
  if (value == NULL)
    return FALSE;
  g_variant_get (value, format, out);
  return TRUE;
}

gboolean
hv_state_get_since (GVariant *dict, const char *what, const char *key, const char *format, unsigned version,
                    unsigned since, void *out, GError **error)
{
  g_autoptr (GVariant) value = NULL;

  if (version >= since)
    return hv_state_get (dict, what, key, format, out, error);
  /* An older writer did not know the field; one that is there anyway must still be well-typed. */
  value = g_variant_lookup_value (dict, key, NULL);
  return value == NULL || hv_state_get (dict, what, key, format, out, error);
}

gboolean
hv_state_get_max (GVariant *dict, const char *what, const char *key, const char *format, uint64_t max,
                  void *out, GError **error)
{
  uint64_t value;

  g_return_val_if_fail (strchr ("yqut", format[0]) != NULL, FALSE);
  if (!hv_state_get (dict, what, key, format, out, error))
    return FALSE;
  switch (format[0])
    {
    case 'y':
      value = *(uint8_t *) out;
      break;
    case 'q':
      value = *(uint16_t *) out;
      break;
    case 'u':
      value = *(uint32_t *) out;
      break;
    default:
      value = *(uint64_t *) out;
      break;
    }
  if (value > max)
    {
      hv_state_set_bad (error, what, "“%s” is out of range", key);
      return FALSE;
    }
  return TRUE;
}

gboolean
hv_state_get_bytes (GVariant *dict, const char *what, const char *key, void *buffer, gsize min_len,
                    gsize max_len, gsize *len, GError **error)
{
  g_autoptr (GVariant) value = hv_state_lookup (dict, what, key, G_VARIANT_TYPE_BYTESTRING, error);
  const void *data;
  gsize n;

  if (value == NULL)
    return FALSE;
  data = g_variant_get_fixed_array (value, &n, 1);
  if (n < min_len || n > max_len)
    {
      if (min_len == max_len)
        hv_state_set_bad (error, what, "“%s” is %" G_GSIZE_FORMAT " bytes long, not %" G_GSIZE_FORMAT, key, n,
                          min_len);
      else
        hv_state_set_bad (error, what,
                          "“%s” is %" G_GSIZE_FORMAT " bytes long, not %" G_GSIZE_FORMAT
                          " to %" G_GSIZE_FORMAT,
                          key, n, min_len, max_len);
      return FALSE;
    }
  if (n > 0)
    memcpy (buffer, data, n);
  if (len)
    *len = n;
  return TRUE;
}

uint64_t
hv_crc64 (uint64_t crc, const void *data, gsize len)
{
  static uint64_t table[256];
  static gsize initialized;
  const uint8_t *p = data;

  if (g_once_init_enter (&initialized))
    {
      for (unsigned i = 0; i < 256; i++)
        {
          uint64_t c = i;
          for (unsigned bit = 0; bit < 8; bit++)
            c = (c & 1) ? (c >> 1) ^ G_GUINT64_CONSTANT (0xC96C5795D7870F42) : c >> 1;
          table[i] = c;
        }
      g_once_init_leave (&initialized, 1);
    }
  crc = ~crc;
  for (gsize i = 0; i < len; i++)
    crc = table[(crc ^ p[i]) & 0xff] ^ (crc >> 8);
  return ~crc;
}
