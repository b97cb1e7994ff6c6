/* loader.c — hv_boot_load(): recognizes the kernel file, hands it to the PVH or bzImage loader, and explains
 * in words what a file is when Vireo cannot boot it.  Also the helpers both loaders share (command line,
 * initrd placement, sizes in sentences). */
#include "loader-private.h"
#include "layout.h"

#include <string.h>

void
hv_boot_refuse (GError **error, const char *phrase)
{
  g_set_error (error, HV_ERROR, HV_ERROR_BAD_IMAGE,
               "the kernel is %s; Vireo boots PVH ELF kernels and Linux bzImages", phrase);
}

char *
hv_boot_size_phrase (uint64_t bytes)
{
  if (bytes >= HV_GIB && bytes % HV_GIB == 0)
    return g_strdup_printf ("%" G_GUINT64_FORMAT " GiB", bytes / HV_GIB);
  if (bytes >= HV_MIB && bytes % HV_MIB == 0)
    return g_strdup_printf ("%" G_GUINT64_FORMAT " MiB", bytes / HV_MIB);
  if (bytes >= HV_MIB)
    return g_strdup_printf ("%.1f MiB", (double) bytes / HV_MIB);
  if (bytes >= HV_KIB && bytes % HV_KIB == 0)
    return g_strdup_printf ("%" G_GUINT64_FORMAT " KiB", bytes / HV_KIB);
  return g_strdup_printf ("%" G_GUINT64_FORMAT " bytes", bytes);
}

char *
hv_boot_address_phrase (uint64_t gpa)
{
  if (gpa >= HV_MIB && gpa % HV_MIB == 0)
    return hv_boot_size_phrase (gpa);
  return g_strdup_printf ("0x%" G_GINT64_MODIFIER "x", gpa);
}

uint64_t
hv_boot_round_up_mib (uint64_t bytes)
{
  if (bytes > G_MAXUINT64 - (HV_MIB - 1))
    return G_MAXUINT64;
  return (bytes + HV_MIB - 1) & ~(HV_MIB - 1);
}

gboolean
hv_boot_check_kernel_fits (const HvMemory *mem, uint64_t start, uint64_t end, GError **error)
{
  uint64_t low_end = hv_memory_low_end (mem);

  if (end > HV_LOW_RAM_MAX)
    {
      /* More guest memory would not help: it would go above 4 GiB, not into the hole. */
      g_autofree char *at = hv_boot_address_phrase (start);
      g_autofree char *top = hv_boot_address_phrase (end);
      g_set_error (error, HV_ERROR, HV_ERROR_BAD_IMAGE,
                   "the kernel occupies %s to %s, which reaches past 3 GiB into the PCI hole; Vireo loads "
                   "kernels in the RAM below it",
                   at, top);
      return FALSE;
    }
  if (end > low_end || !hv_memory_check (mem, start, end - start))
    {
      g_autofree char *needed = hv_boot_size_phrase (hv_boot_round_up_mib (end));
      g_autofree char *at = hv_boot_address_phrase (start);
      g_autofree char *span = hv_boot_size_phrase (end - start);
      g_autofree char *have = hv_boot_size_phrase (mem->size);
      g_set_error (
          error, HV_ERROR, HV_ERROR_TOO_LARGE,
          "the kernel needs at least %s of guest memory (it loads at %s and occupies %s); the VM has %s",
          needed, at, span, have);
      return FALSE;
    }
  return TRUE;
}

gboolean
hv_boot_write_cmdline (HvMemory *mem, const char *cmdline, GError **error)
{
  if (cmdline == NULL)
    cmdline = "";
  return hv_memory_write (mem, HV_CMDLINE, cmdline, strlen (cmdline) + 1, "the kernel command line", error);
}

gboolean
hv_boot_place_initrd (HvMemory *mem, const HvBootImages *images, uint64_t floor, uint64_t ceiling,
                      const char *ceiling_owner, HvBootSetup *setup, GError **error)
{
  uint64_t low_end = hv_memory_low_end (mem);
  uint64_t size = images->initrd_size;
  uint64_t addr;

  setup->initrd_start = 0;
  setup->initrd_size = 0;
  /* An empty initrd is the same as none: the kernel treats a zero ramdisk size as "no initrd". */
  if (images->initrd == NULL || size == 0)
    return TRUE;

  if (ceiling > low_end || ceiling_owner == NULL)
    {
      ceiling = low_end;
      ceiling_owner = NULL;
    }
  floor = (floor + HV_PAGE_SIZE - 1) & ~(HV_PAGE_SIZE - 1);

  /* Top of memory, so the kernel's own early allocations above its image have the most room. */
  if (size > ceiling || ((ceiling - size) & ~(HV_PAGE_SIZE - 1)) < floor)
    {
      g_autofree char *what = hv_boot_size_phrase (size);
      g_autofree char *kernel_end = hv_boot_address_phrase (floor);
      g_autofree char *have = hv_boot_size_phrase (mem->size);

      if (ceiling_owner != NULL)
        {
          g_autofree char *limit = hv_boot_address_phrase (ceiling);
          g_set_error (error, HV_ERROR, HV_ERROR_TOO_LARGE,
                       "the initrd (%s) does not fit between the end of the kernel (%s) and %s, the highest "
                       "address %s accepts for an initrd",
                       what, kernel_end, limit, ceiling_owner);
        }
      else
        {
          uint64_t aligned_size = (size + HV_PAGE_SIZE - 1) & ~(HV_PAGE_SIZE - 1);
          g_autofree char *needed = hv_boot_size_phrase (hv_boot_round_up_mib (floor + aligned_size));
          g_set_error (
              error, HV_ERROR, HV_ERROR_TOO_LARGE,
              "the initrd (%s) does not fit in guest memory above the kernel, which ends at %s: they "
              "need at least %s of guest memory; the VM has %s",
              what, kernel_end, needed, have);
        }
      return FALSE;
    }
  addr = (ceiling - size) & ~(HV_PAGE_SIZE - 1);

  if (!hv_memory_write (mem, addr, images->initrd, size, "the initrd", error))
    return FALSE;
  setup->initrd_start = addr;
  setup->initrd_size = size;
  return TRUE;
}

typedef struct
{
  const char *magic;
  gsize len;
  gsize offset;
  const char *phrase;
  gboolean compressed;
} FileMagic;

/* Things people pass as a kernel by mistake, most of them from /boot or a distribution's installer. */
static const FileMagic file_magics[] = {
  { "\x1f\x8b", 2, 0, "a gzip-compressed file", TRUE },
  { "\xfd"
    "7zXZ\0",
    6, 0, "an xz-compressed file", TRUE },
  { "\x28\xb5\x2f\xfd", 4, 0, "a zstd-compressed file", TRUE },
  { "BZh", 3, 0, "a bzip2-compressed file", TRUE },
  { "\x04\x22\x4d\x18", 4, 0, "an lz4-compressed file", TRUE },
  { "\x02\x21\x4c\x18", 4, 0, "an lz4-compressed file", TRUE },
  { "\x89LZO\0\r\n\x1a\n", 9, 0, "an lzop-compressed file", TRUE },
  { "070701", 6, 0, "a cpio archive (an initramfs? give it as the initrd)", FALSE },
  { "070702", 6, 0, "a cpio archive (an initramfs? give it as the initrd)", FALSE },
  { "070707", 6, 0, "a cpio archive (an initramfs? give it as the initrd)", FALSE },
  { "!<arch>\n", 8, 0, "an ar archive (a .deb package? the kernel is the /boot/vmlinuz-* file inside it)",
    FALSE },
  { "PK\x03\x04", 4, 0, "a zip archive", FALSE },
  { "QFI\xfb", 4, 0, "a qcow2 disk image", FALSE },
  { "KDMV", 4, 0, "a VMDK disk image", FALSE },
  { "CD001", 5, 0x8001, "an ISO 9660 CD/DVD image", FALSE },
  { "MZ", 2, 0, "a PE executable (Windows or EFI) without a Linux boot header", FALSE },
};

static gboolean
looks_like_text (const uint8_t *data, gsize size)
{
  gsize n = MIN (size, 1024);
  for (gsize i = 0; i < n; i++)
    if (data[i] < 0x20 && data[i] != '\n' && data[i] != '\r' && data[i] != '\t')
      return FALSE;
  return TRUE;
}

static char *
describe_script (const uint8_t *data, gsize size)
{
  gsize n = MIN (size, 128);
  gsize end = 2;
  g_autofree char *interpreter = NULL;
  g_autofree char *base = NULL;

  while (end < n && data[end] != '\n' && data[end] != '\0')
    end++;
  interpreter = g_strstrip (g_strndup ((const char *) data + 2, end - 2));
  /* "#!/usr/bin/env python3" names its interpreter second. */
  if (g_str_has_prefix (interpreter, "/usr/bin/env "))
    base = g_strdup (g_strstrip (interpreter + strlen ("/usr/bin/env ")));
  else
    base = g_path_get_basename (interpreter);
  if (strchr (base, ' '))
    *strchr (base, ' ') = '\0';
  if (g_str_has_suffix (base, "sh"))
    return g_strdup ("a shell script");
  /* Not which interpreter: an error message never carries a file's content. */
  return g_strdup ("a script");
}

/* Describes a file that is neither ELF nor a bzImage; sets @compressed for the compressed formats. */
static char *
describe_other (const uint8_t *data, gsize size, gboolean *compressed)
{
  *compressed = FALSE;
  if (size == 0)
    return g_strdup ("an empty file");

  for (gsize i = 0; i < G_N_ELEMENTS (file_magics); i++)
    {
      const FileMagic *m = &file_magics[i];
      if (hv_file_range_ok (size, m->offset, m->len) && memcmp (data + m->offset, m->magic, m->len) == 0)
        {
          *compressed = m->compressed;
          return g_strdup (m->phrase);
        }
    }
  if (size >= 2 && data[0] == '#' && data[1] == '!')
    return describe_script (data, size);
  if (size >= 512 && data[510] == 0x55 && data[511] == 0xAA)
    return g_strdup ("a disk image or boot sector (it has an MBR signature but no Linux boot header)");
  if (looks_like_text (data, size))
    return g_strdup ("a text file");

  /* Not its first bytes: an error message never carries a file's content. */
  return g_strdup ("a file of unknown format");
}

char *
hv_boot_describe_file (const uint8_t *data, gsize size)
{
  char *phrase;
  gboolean compressed;

  if (data == NULL || size == 0)
    return g_strdup ("an empty file");
  if ((phrase = hv_pvh_describe (data, size)) != NULL)
    return phrase;
  if ((phrase = hv_bzimage_describe (data, size)) != NULL)
    return phrase;
  return describe_other (data, size, &compressed);
}

gboolean
hv_boot_load (HvMemory *mem, const HvE820Map *map, const HvBootImages *images, HvBootSetup *setup,
              GError **error)
{
  gsize cmdline_len;

  g_return_val_if_fail (mem != NULL && map != NULL && images != NULL && setup != NULL, FALSE);
  g_return_val_if_fail (map->n_entries <= HV_E820_MAX, FALSE);
  g_return_val_if_fail (images->initrd != NULL || images->initrd_size == 0, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  memset (setup, 0, sizeof *setup);

  cmdline_len = images->cmdline ? strlen (images->cmdline) : 0;
  if (cmdline_len >= HV_CMDLINE_MAX)
    {
      g_set_error (error, HV_ERROR, HV_ERROR_INVALID_ARGUMENT,
                   "the kernel command line is %" G_GSIZE_FORMAT " bytes long; Vireo passes at most %d",
                   cmdline_len, HV_CMDLINE_MAX - 1);
      return FALSE;
    }

  if (images->kernel == NULL || images->kernel_size == 0)
    {
      hv_boot_refuse (error, "an empty file");
      return FALSE;
    }
  if (images->kernel_size >= 4
      && memcmp (images->kernel,
                 "\x7f"
                 "ELF",
                 4)
             == 0)
    return hv_pvh_load (mem, map, images, setup, error);
  if (hv_bzimage_probe (images->kernel, images->kernel_size))
    return hv_bzimage_load (mem, map, images, setup, error);

  gboolean compressed;
  g_autofree char *phrase = describe_other (images->kernel, images->kernel_size, &compressed);
  if (compressed)
    g_set_error (error, HV_ERROR, HV_ERROR_BAD_IMAGE,
                 "the kernel is %s; Vireo boots PVH ELF kernels and Linux bzImages (decompress a compressed "
                 "vmlinux first)",
                 phrase);
  else
    hv_boot_refuse (error, phrase);
  return FALSE;
}
