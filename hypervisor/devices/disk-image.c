/* disk-image.c — a storage device's image opened from its spec options, for every kind with a disk
 * image: the format and cache mode named, read-only or not, and the backing chain from the device's
 * own fds (the VMM opens no path). */
#include "disk-image.h"

#include <errno.h>
#include <fcntl.h>

static HvBlockCache
parse_cache (const char *text)
{
  if (g_strcmp0 (text, "none") == 0)
    return HV_BLOCK_CACHE_NONE;
  if (g_strcmp0 (text, "writeback") == 0)
    return HV_BLOCK_CACHE_WRITEBACK;
  return HV_BLOCK_CACHE_DEFAULT;
}

static HvBlockFormat
parse_format (const char *text)
{
  if (g_strcmp0 (text, "raw") == 0)
    return HV_BLOCK_FORMAT_RAW;
  if (g_strcmp0 (text, "qcow2") == 0)
    return HV_BLOCK_FORMAT_QCOW2;
  return HV_BLOCK_FORMAT_AUTO;
}

/* The image's backing files come as the device's "backing" fds, in chain order. */
static int
open_backing (void *opaque, unsigned depth, const char *name, HvBlockFormat format, GError **error)
{
  HvDevice *device = opaque;
  unsigned n;
  g_autofree int *fds = hv_device_get_fds_option (device, "backing", &n);
  int fd;

  if (depth == 0 || depth > n)
    {
      g_set_error (error, HV_ERROR, HV_ERROR_NOT_FOUND,
                   "it needs its backing file “%s” (link %u of its chain), which was not given", name, depth);
      return -1;
    }
  fd = fcntl (fds[depth - 1], F_DUPFD_CLOEXEC, 3);
  if (fd < 0)
    {
      int saved = errno;
      g_set_error (error, HV_ERROR, HV_ERROR_FAILED, "cannot use its backing file “%s”: %s", name,
                   g_strerror (saved));
    }
  return fd;
}

HvBlock *
hv_disk_image_open (HvDevice *device, int fd, gboolean read_only, gboolean probe, const char *what,
                    GError **error)
{
  HvBlockOptions options = { 0 };
  const char *format = NULL, *cache = NULL;
  HvBlock *block;

  g_variant_lookup (device->options, "format", "&s", &format);
  g_variant_lookup (device->options, "cache", "&s", &cache);
  g_variant_lookup (device->options, "read-only", "b", &options.read_only);
  options.format = probe ? HV_BLOCK_FORMAT_AUTO : parse_format (format);
  options.cache = parse_cache (cache);
  options.read_only = options.read_only || read_only;

  fd = fcntl (fd, F_DUPFD_CLOEXEC, 3);
  if (fd < 0)
    {
      int saved = errno;
      g_set_error (error, HV_ERROR, HV_ERROR_FAILED, "cannot use the %s: %s", what, g_strerror (saved));
      return NULL;
    }
  block = hv_block_open (fd, &options, open_backing, device, error);
  if (block == NULL)
    g_prefix_error (error, "the %s: ", what);
  return block;
}
