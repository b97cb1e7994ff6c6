/* image-info.c — an image's format and backing file, from its header alone (image-info.h). */
#include "image-info.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#define QCOW2_MAGIC              0x514649fbu /* "QFI\xfb" */
#define QCOW2_EXT_BACKING_FORMAT 0xe2792acau
#define QCOW2_EXT_END            0
#define HEADER_READ              65536 /* the first cluster at most: where header, extensions and name live */

static uint32_t
be32 (const uint8_t *p)
{
  return (uint32_t) p[0] << 24 | (uint32_t) p[1] << 16 | (uint32_t) p[2] << 8 | p[3];
}

static uint64_t
be64 (const uint8_t *p)
{
  return (uint64_t) be32 (p) << 32 | be32 (p + 4);
}

static gboolean
bad (GError **error, const char *what)
{
  g_set_error (error, HV_ERROR, HV_ERROR_BAD_IMAGE, "its qcow2 header is damaged: %s", what);
  return FALSE;
}

gboolean
hv_image_info_read (int fd, HvImageInfo *info, GError **error)
{
  g_autofree uint8_t *head = g_malloc0 (HEADER_READ);
  ssize_t got;
  size_t len = 0;
  uint32_t version, cluster_bits, header_length = 72;
  uint64_t backing_offset;
  uint32_t backing_size;

  memset (info, 0, sizeof *info);
  while (len < HEADER_READ)
    {
      got = pread (fd, head + len, HEADER_READ - len, (off_t) len);
      if (got < 0 && errno == EINTR)
        continue;
      if (got < 0)
        {
          int saved = errno;
          g_set_error (error, HV_ERROR, HV_ERROR_FAILED, "cannot read it: %s", g_strerror (saved));
          return FALSE;
        }
      if (got == 0)
        break;
      len += (size_t) got;
    }
  if (len < 4 || be32 (head) != QCOW2_MAGIC)
    return TRUE; /* raw */
  info->qcow2 = TRUE;
  if (len < 72)
    return bad (error, "it ends inside the header");
  version = be32 (head + 4);
  if (version != 2 && version != 3)
    {
      g_set_error (error, HV_ERROR, HV_ERROR_BAD_IMAGE,
                   "it is qcow2 version %u; Vireo reads versions 2 and 3", version);
      return FALSE;
    }
  cluster_bits = be32 (head + 20);
  if (cluster_bits < 9 || cluster_bits > 21)
    return bad (error, "its cluster size is out of range");
  if (version == 3)
    {
      if (len < 104)
        return bad (error, "it ends inside the version 3 header");
      header_length = be32 (head + 100);
      if (header_length < 104 || header_length % 8 != 0 || header_length > MIN (len, 1u << cluster_bits))
        return bad (error, "its header length is out of range");
    }
  backing_offset = be64 (head + 8);
  backing_size = be32 (head + 16);
  if (backing_offset == 0)
    return TRUE;
  if (backing_size == 0 || backing_size > HV_IMAGE_BACKING_NAME_MAX)
    return bad (error, "its backing file name is empty or too long");
  /* Compared without adding: a hostile offset must not wrap around. */
  if (backing_offset < header_length || backing_offset > MIN (len, 1u << cluster_bits)
      || backing_size > MIN (len, 1u << cluster_bits) - backing_offset)
    return bad (error, "its backing file name lies outside the first cluster");
  if (memchr (head + backing_offset, '\0', backing_size) != NULL
      || !g_utf8_validate ((const char *) head + backing_offset, backing_size, NULL))
    return bad (error, "its backing file name is not text");
  info->backing = g_strndup ((const char *) head + backing_offset, backing_size);

  /* Header extensions: from the end of the header up to the backing name (or the first cluster). */
  for (uint64_t at = header_length; at + 8 <= MIN (backing_offset, len);)
    {
      uint32_t type = be32 (head + at), length = be32 (head + at + 4);
      if (type == QCOW2_EXT_END)
        break;
      if (length > MIN (backing_offset, len) - at - 8)
        {
          hv_image_info_clear (info);
          return bad (error, "a header extension runs past its end");
        }
      if (type == QCOW2_EXT_BACKING_FORMAT)
        {
          g_autofree char *format = g_strndup ((const char *) head + at + 8, length);
          if (strcmp (format, "raw") != 0 && strcmp (format, "qcow2") != 0)
            {
              g_autofree char *shown = g_utf8_make_valid (format, -1);
              g_set_error (error, HV_ERROR, HV_ERROR_BAD_IMAGE,
                           "its backing file is in the “%.32s” format; Vireo reads raw and qcow2", shown);
              hv_image_info_clear (info);
              return FALSE;
            }
          info->backing_format = g_steal_pointer (&format);
        }
      at += 8 + ((uint64_t) length + 7) / 8 * 8;
    }
  return TRUE;
}

void
hv_image_info_clear (HvImageInfo *info)
{
  g_clear_pointer (&info->backing, g_free);
  g_clear_pointer (&info->backing_format, g_free);
}

char *
hv_image_backing_path (const char *image_path, const char *name)
{
  g_autofree char *dir = NULL;

  if (g_path_is_absolute (name))
    return g_strdup (name);
  dir = g_path_get_dirname (image_path);
  return g_build_filename (dir, name, NULL);
}
