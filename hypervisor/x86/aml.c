/* aml.c — the AML byte-code builder behind the DSDT (encodings per ACPI 6.x chapter 20 and 6.4). */
#include "aml.h"

#include <string.h>

enum
{
  AML_ZERO_OP = 0x00,
  AML_ONE_OP = 0x01,
  AML_NAME_OP = 0x08,
  AML_BYTE_PREFIX = 0x0a,
  AML_WORD_PREFIX = 0x0b,
  AML_DWORD_PREFIX = 0x0c,
  AML_STRING_PREFIX = 0x0d,
  AML_QWORD_PREFIX = 0x0e,
  AML_SCOPE_OP = 0x10,
  AML_BUFFER_OP = 0x11,
  AML_PACKAGE_OP = 0x12,
  AML_METHOD_OP = 0x14,
  AML_DUAL_NAME_PREFIX = 0x2e,
  AML_MULTI_NAME_PREFIX = 0x2f,
  AML_EXT_OP_PREFIX = 0x5b,
  AML_DEVICE_OP = 0x82, /* after AML_EXT_OP_PREFIX */
  AML_ROOT_CHAR = 0x5c,
  AML_PARENT_PREFIX_CHAR = 0x5e,
  AML_RETURN_OP = 0xa4,
};

/* Resource descriptor tags (ACPI 6.4.2, 6.4.3). */
enum
{
  RES_IRQ_NO_FLAGS = 0x22, /* small item 0x04, 2 bytes */
  RES_IO = 0x47,           /* small item 0x08, 7 bytes */
  RES_END_TAG = 0x79,      /* small item 0x0f, 1 byte */
  RES_DWORD_ADDRESS = 0x87,
  RES_WORD_ADDRESS = 0x88,
  RES_EXTENDED_IRQ = 0x89,
  RES_QWORD_ADDRESS = 0x8a,
};

/* Address space descriptor fields. */
enum
{
  RES_TYPE_MEMORY = 0,
  RES_TYPE_IO = 1,
  RES_TYPE_BUS_NUMBER = 2,
  /* General flags: producer (bit 0 clear), positive decode (bit 1 clear), _MIF (bit 2), _MAF (bit
   * 3). */
  RES_FLAGS_PRODUCER_FIXED = 0x0c,
  RES_IO_ENTIRE_RANGE = 0x03,
  RES_MEMORY_NON_CACHEABLE_RW = 0x01,
};

static void
put_u8 (GByteArray *aml, uint8_t v)
{
  g_byte_array_append (aml, &v, 1);
}

static void
put_le (GByteArray *aml, uint64_t v, unsigned n_bytes)
{
  for (unsigned i = 0; i < n_bytes; i++)
    put_u8 (aml, (uint8_t) (v >> (8 * i)));
}

unsigned
hv_aml_pkg_length_encode (gsize content_len, uint8_t out[HV_AML_PKG_LENGTH_MAX_BYTES])
{
  gsize total;
  unsigned n;

  /* The value counts its own bytes, so its size depends on itself: try each size in turn. */
  if (content_len < 0x3f)
    {
      out[0] = (uint8_t) (content_len + 1);
      return 1;
    }
  for (n = 2; n <= HV_AML_PKG_LENGTH_MAX_BYTES; n++)
    {
      /* With n bytes: 4 bits in the lead byte and 8 in each following one. */
      gsize max = ((gsize) 1 << (4 + 8 * (n - 1))) - 1;
      if (content_len > max - n)
        continue;
      total = content_len + n;
      out[0] = (uint8_t) (((n - 1) << 6) | (total & 0x0f));
      for (unsigned i = 1; i < n; i++)
        out[i] = (uint8_t) (total >> (4 + 8 * (i - 1)));
      return n;
    }
  return 0;
}

static gboolean
name_seg_valid (const char *seg, gsize len)
{
  if (len < 1 || len > 4 || g_ascii_isdigit (seg[0]))
    return FALSE;
  for (gsize i = 0; i < len; i++)
    if (!g_ascii_isupper (seg[i]) && !g_ascii_isdigit (seg[i]) && seg[i] != '_')
      return FALSE;
  return TRUE;
}

static void
put_name_seg (GByteArray *aml, const char *seg, gsize len)
{
  uint8_t bytes[4] = { '_', '_', '_', '_' };
  memcpy (bytes, seg, len);
  g_byte_array_append (aml, bytes, sizeof bytes);
}

void
hv_aml_name_seg (GByteArray *aml, const char *seg)
{
  g_return_if_fail (seg != NULL && name_seg_valid (seg, strlen (seg)));
  put_name_seg (aml, seg, strlen (seg));
}

void
hv_aml_name_path (GByteArray *aml, const char *path)
{
  const char *p = path;
  g_auto (GStrv) segs = NULL;
  guint n_segs;

  g_return_if_fail (path != NULL);

  if (*p == '\\')
    p++;
  else
    while (*p == '^')
      p++;
  segs = *p ? g_strsplit (p, ".", -1) : g_new0 (char *, 1);
  n_segs = g_strv_length (segs);
  g_return_if_fail (n_segs <= 255);
  for (guint i = 0; i < n_segs; i++)
    g_return_if_fail (name_seg_valid (segs[i], strlen (segs[i])));

  g_byte_array_append (aml, (const uint8_t *) path, (guint) (p - path)); /* '\' or '^'s */
  if (n_segs == 0)
    put_u8 (aml, AML_ZERO_OP); /* NullName */
  else if (n_segs == 2)
    put_u8 (aml, AML_DUAL_NAME_PREFIX);
  else if (n_segs > 2)
    {
      put_u8 (aml, AML_MULTI_NAME_PREFIX);
      put_u8 (aml, (uint8_t) n_segs);
    }
  for (guint i = 0; i < n_segs; i++)
    put_name_seg (aml, segs[i], strlen (segs[i]));
}

void
hv_aml_integer (GByteArray *aml, uint64_t value)
{
  if (value == 0)
    put_u8 (aml, AML_ZERO_OP);
  else if (value == 1)
    put_u8 (aml, AML_ONE_OP);
  else if (value <= G_MAXUINT8)
    {
      put_u8 (aml, AML_BYTE_PREFIX);
      put_le (aml, value, 1);
    }
  else if (value <= G_MAXUINT16)
    {
      put_u8 (aml, AML_WORD_PREFIX);
      put_le (aml, value, 2);
    }
  else if (value <= G_MAXUINT32)
    {
      put_u8 (aml, AML_DWORD_PREFIX);
      put_le (aml, value, 4);
    }
  else
    {
      put_u8 (aml, AML_QWORD_PREFIX);
      put_le (aml, value, 8);
    }
}

void
hv_aml_string (GByteArray *aml, const char *text)
{
  g_return_if_fail (text != NULL);
  for (const char *c = text; *c; c++)
    g_return_if_fail ((unsigned char) *c >= 0x01 && (unsigned char) *c <= 0x7f);
  put_u8 (aml, AML_STRING_PREFIX);
  g_byte_array_append (aml, (const uint8_t *) text, (guint) strlen (text) + 1);
}

void
hv_aml_eisa_id (GByteArray *aml, const char *id)
{
  uint32_t value = 0;

  g_return_if_fail (id != NULL && strlen (id) == 7);
  for (unsigned i = 0; i < 3; i++)
    {
      g_return_if_fail (id[i] >= 'A' && id[i] <= 'Z');
      value = (value << 5) | (uint32_t) (id[i] - 'A' + 1);
    }
  for (unsigned i = 3; i < 7; i++)
    {
      g_return_if_fail (g_ascii_isxdigit (id[i]) && !g_ascii_islower (id[i]));
      value = (value << 4) | (uint32_t) g_ascii_xdigit_value (id[i]);
    }
  /* The id is big-endian on the wire while DWordConst is little-endian, hence the swap. */
  put_u8 (aml, AML_DWORD_PREFIX);
  put_le (aml, GUINT32_SWAP_LE_BE (value), 4);
}

void
hv_aml_buffer (GByteArray *aml, const uint8_t *data, gsize len)
{
  gsize mark;

  put_u8 (aml, AML_BUFFER_OP);
  mark = aml->len;
  hv_aml_integer (aml, len);
  if (len > 0)
    g_byte_array_append (aml, data, (guint) len);
  hv_aml_end (aml, mark);
}

gsize
hv_aml_package_begin (GByteArray *aml, unsigned n_elements)
{
  gsize mark;

  g_return_val_if_fail (n_elements <= 255, aml->len);
  put_u8 (aml, AML_PACKAGE_OP);
  mark = aml->len;
  put_u8 (aml, (uint8_t) n_elements);
  return mark;
}

gsize
hv_aml_scope_begin (GByteArray *aml, const char *path)
{
  gsize mark;

  put_u8 (aml, AML_SCOPE_OP);
  mark = aml->len;
  hv_aml_name_path (aml, path);
  return mark;
}

gsize
hv_aml_device_begin (GByteArray *aml, const char *path)
{
  gsize mark;

  put_u8 (aml, AML_EXT_OP_PREFIX);
  put_u8 (aml, AML_DEVICE_OP);
  mark = aml->len;
  hv_aml_name_path (aml, path);
  return mark;
}

gsize
hv_aml_method_begin (GByteArray *aml, const char *path, unsigned n_args, gboolean serialized)
{
  gsize mark;

  g_return_val_if_fail (n_args <= 7, aml->len);
  put_u8 (aml, AML_METHOD_OP);
  mark = aml->len;
  hv_aml_name_path (aml, path);
  /* MethodFlags: ArgCount in bits 0-2, SerializeFlag in bit 3, SyncLevel 0. */
  put_u8 (aml, (uint8_t) (n_args | (serialized ? 0x08 : 0)));
  return mark;
}

void
hv_aml_end (GByteArray *aml, gsize mark)
{
  uint8_t pkg_length[HV_AML_PKG_LENGTH_MAX_BYTES];
  gsize content_len;
  unsigned n;

  g_return_if_fail (mark <= aml->len);
  content_len = aml->len - mark;
  n = hv_aml_pkg_length_encode (content_len, pkg_length);
  g_return_if_fail (n > 0);

  g_byte_array_set_size (aml, aml->len + n);
  memmove (aml->data + mark + n, aml->data + mark, content_len);
  memcpy (aml->data + mark, pkg_length, n);
}

void
hv_aml_name (GByteArray *aml, const char *path)
{
  put_u8 (aml, AML_NAME_OP);
  hv_aml_name_path (aml, path);
}

void
hv_aml_return (GByteArray *aml)
{
  put_u8 (aml, AML_RETURN_OP);
}

void
hv_aml_res_io (GByteArray *res, uint16_t min, uint16_t max, uint8_t align, uint8_t len)
{
  put_u8 (res, RES_IO);
  put_u8 (res, 0x01); /* decodes 16 address bits */
  put_le (res, min, 2);
  put_le (res, max, 2);
  put_u8 (res, align);
  put_u8 (res, len);
}

void
hv_aml_res_irq (GByteArray *res, unsigned irq)
{
  g_return_if_fail (irq < 16);
  put_u8 (res, RES_IRQ_NO_FLAGS);
  put_le (res, 1u << irq, 2);
}

void
hv_aml_res_ext_irq (GByteArray *res, uint32_t gsi, gboolean level, gboolean active_low, gboolean shared)
{
  uint8_t flags = 0x01; /* ResourceConsumer */

  if (!level)
    flags |= 0x02;
  if (active_low)
    flags |= 0x04;
  if (shared)
    flags |= 0x08;
  put_u8 (res, RES_EXTENDED_IRQ);
  put_le (res, 6, 2); /* flags, table length and one DWord */
  put_u8 (res, flags);
  put_u8 (res, 1);
  put_le (res, gsi, 4);
}

/* Word, DWord and QWord address space descriptors differ only in the width of five numbers. */
static void
put_address_space (GByteArray *res, uint8_t tag, unsigned width, uint8_t type, uint8_t type_flags,
                   uint64_t min, uint64_t max)
{
  uint64_t width_max = width == 8 ? G_MAXUINT64 : (G_GUINT64_CONSTANT (1) << (8 * width)) - 1;

  /* The length field has the same width: a window of the whole address space is not possible. */
  g_return_if_fail (min <= max && max <= width_max && max - min < width_max);
  put_u8 (res, tag);
  put_le (res, 3 + 5 * width, 2);
  put_u8 (res, type);
  put_u8 (res, RES_FLAGS_PRODUCER_FIXED);
  put_u8 (res, type_flags);
  put_le (res, 0, width); /* granularity */
  put_le (res, min, width);
  put_le (res, max, width);
  put_le (res, 0, width);             /* translation offset */
  put_le (res, max - min + 1, width); /* length */
}

void
hv_aml_res_word_bus_number (GByteArray *res, uint16_t min, uint16_t max)
{
  put_address_space (res, RES_WORD_ADDRESS, 2, RES_TYPE_BUS_NUMBER, 0, min, max);
}

void
hv_aml_res_word_io (GByteArray *res, uint16_t min, uint16_t max)
{
  put_address_space (res, RES_WORD_ADDRESS, 2, RES_TYPE_IO, RES_IO_ENTIRE_RANGE, min, max);
}

void
hv_aml_res_dword_memory (GByteArray *res, uint32_t min, uint32_t max)
{
  put_address_space (res, RES_DWORD_ADDRESS, 4, RES_TYPE_MEMORY, RES_MEMORY_NON_CACHEABLE_RW, min, max);
}

void
hv_aml_res_qword_memory (GByteArray *res, uint64_t min, uint64_t max)
{
  put_address_space (res, RES_QWORD_ADDRESS, 8, RES_TYPE_MEMORY, RES_MEMORY_NON_CACHEABLE_RW, min, max);
}

void
hv_aml_resource_template (GByteArray *aml, const GByteArray *res)
{
  g_autoptr (GByteArray) bytes = g_byte_array_sized_new (res->len + 2);

  g_byte_array_append (bytes, res->data, res->len);
  put_u8 (bytes, RES_END_TAG);
  put_u8 (bytes, 0);
  hv_aml_buffer (aml, bytes->data, bytes->len);
}
