/* bzimage.c — the Linux x86 boot protocol's 64-bit entry: a bzImage's protected-mode code loaded at 1 MiB
 * (or where it must run), and the zero page (boot_params) with the setup header, command line, initrd and
 * e820 map.  Offsets are those of Documentation/arch/x86/boot.rst and zero-page.rst. */
#include "loader-private.h"
#include "layout.h"

#include <string.h>

/* Setup header fields, as offsets in the file and in boot_params alike. */
#define HDR_START            0x1f1
#define HDR_SETUP_SECTS      0x1f1
#define HDR_SYSSIZE          0x1f4
#define HDR_BOOT_FLAG        0x1fe
#define HDR_JUMP             0x200
#define HDR_MAGIC            0x202
#define HDR_VERSION          0x206
#define HDR_TYPE_OF_LOADER   0x210
#define HDR_LOADFLAGS        0x211
#define HDR_CODE32_START     0x214
#define HDR_RAMDISK_IMAGE    0x218
#define HDR_RAMDISK_SIZE     0x21c
#define HDR_HEAP_END_PTR     0x224
#define HDR_CMD_LINE_PTR     0x228
#define HDR_INITRD_ADDR_MAX  0x22c
#define HDR_KERNEL_ALIGNMENT 0x230
#define HDR_RELOCATABLE      0x234
#define HDR_XLOADFLAGS       0x236
#define HDR_CMDLINE_SIZE     0x238
#define HDR_PREF_ADDRESS     0x258
#define HDR_INIT_SIZE        0x260
#define HDR_MIN_END          0x264 /* a 2.12 header reaches at least past init_size */
#define HDR_MAX_END          0x290 /* where boot_params stops being the setup header */

/* boot_params fields outside the setup header. */
#define BP_ACPI_RSDP_ADDR    0x070
#define BP_EXT_RAMDISK_IMAGE 0x0c0
#define BP_EXT_RAMDISK_SIZE  0x0c4
#define BP_EXT_CMD_LINE_PTR  0x0c8
#define BP_E820_ENTRIES      0x1e8
#define BP_E820_TABLE        0x2d0
#define BP_E820_ENTRY_SIZE   20
#define BP_SIZE              4096

#define BOOT_FLAG_MAGIC       0xAA55
#define LOADFLAG_LOADED_HIGH  0x01
#define LOADFLAG_CAN_USE_HEAP 0x80
#define XLF_KERNEL_64         0x01
#define TYPE_OF_LOADER_OTHER  0xff
#define HEAP_END              0xfe00 /* what the setup code would get from a real-mode loader */
#define PROTOCOL_64BIT        0x020c /* 2.12: xloadflags, and with them a declared 64-bit entry */
#define PROTOCOL_RSDP         0x020e /* 2.14: acpi_rsdp_addr */
#define DEFAULT_CMDLINE_SIZE  255
#define ENTRY_64_OFFSET       0x200 /* startup_64 is 0x200 past the protected-mode start */

G_STATIC_ASSERT (BP_E820_TABLE + HV_E820_MAX * BP_E820_ENTRY_SIZE <= BP_SIZE);
G_STATIC_ASSERT (HV_ZERO_PAGE + BP_SIZE <= HV_PML4);

typedef struct
{
  uint16_t version;
  gsize header_end;    /* 0x202 + the jump's displacement byte */
  uint64_t setup_size; /* bytes of real-mode setup before the protected-mode code */
  uint64_t pm_size;    /* bytes of protected-mode code */
  gboolean relocatable;
  uint64_t alignment;
  uint64_t pref_address;
  uint64_t init_size;
  uint64_t initrd_addr_max;
  uint64_t cmdline_size;
} BzKernel;

gboolean
hv_bzimage_probe (const uint8_t *data, gsize size)
{
  return size >= HDR_MAGIC + 4 && memcmp (data + HDR_MAGIC, "HdrS", 4) == 0;
}

/* Checks @data as a bzImage we can enter in 64-bit mode.  Returns NULL and fills @bz when it is one;
 * otherwise a phrase saying what the file is. */
static char *
bz_parse (const uint8_t *data, gsize size, BzKernel *bz)
{
  unsigned setup_sects;
  uint64_t syssize;

  memset (bz, 0, sizeof *bz);
  if (!hv_bzimage_probe (data, size) || size < HDR_VERSION + 2)
    return g_strdup ("a truncated bzImage");
  if (hv_load_le16 (data + HDR_BOOT_FLAG) != BOOT_FLAG_MAGIC)
    return g_strdup ("a malformed bzImage (its boot flag is not 0xAA55)");

  bz->version = hv_load_le16 (data + HDR_VERSION);
  if (bz->version < PROTOCOL_64BIT)
    return g_strdup_printf (
        "a bzImage with boot protocol %u.%02u, which has no 64-bit entry point (Vireo needs "
        "2.12 or later)",
        bz->version >> 8, bz->version & 0xff);

  bz->header_end = HDR_JUMP + 2 + data[HDR_JUMP + 1];
  if (bz->header_end < HDR_MIN_END || bz->header_end > size)
    return g_strdup ("a truncated bzImage (its setup header is too short for its boot protocol)");
  if (!(data[HDR_LOADFLAGS] & LOADFLAG_LOADED_HIGH))
    return g_strdup ("a zImage (it loads below 1 MiB), which has no 64-bit entry point");
  if (!(hv_load_le16 (data + HDR_XLOADFLAGS) & XLF_KERNEL_64))
    return g_strdup ("a bzImage without a 64-bit entry point (XLF_KERNEL_64 is not set: a 32-bit kernel?)");

  setup_sects = data[HDR_SETUP_SECTS] ? data[HDR_SETUP_SECTS] : 4;
  bz->setup_size = (setup_sects + 1) * 512ull;
  if (bz->setup_size >= size)
    return g_strdup ("a truncated bzImage (it ends inside its setup code)");
  bz->pm_size = size - bz->setup_size;
  syssize = hv_load_le32 (data + HDR_SYSSIZE) * 16ull;
  if (syssize > bz->pm_size)
    {
      g_autofree char *want = hv_boot_size_phrase (syssize);
      g_autofree char *have = hv_boot_size_phrase (bz->pm_size);
      return g_strdup_printf ("a truncated bzImage (its header announces %s of kernel, the file has %s)",
                              want, have);
    }

  bz->relocatable = data[HDR_RELOCATABLE] != 0;
  bz->alignment = hv_load_le32 (data + HDR_KERNEL_ALIGNMENT);
  bz->pref_address = hv_load_le64 (data + HDR_PREF_ADDRESS);
  bz->init_size = hv_load_le32 (data + HDR_INIT_SIZE);
  bz->initrd_addr_max = hv_load_le32 (data + HDR_INITRD_ADDR_MAX);
  bz->cmdline_size = hv_load_le32 (data + HDR_CMDLINE_SIZE);
  if (bz->cmdline_size == 0)
    bz->cmdline_size = DEFAULT_CMDLINE_SIZE;

  if (bz->relocatable
      && (bz->alignment == 0 || (bz->alignment & (bz->alignment - 1)) != 0 || bz->alignment > HV_GIB))
    return g_strdup_printf ("a malformed bzImage (its kernel_alignment 0x%" G_GINT64_MODIFIER
                            "x is not a power "
                            "of two up to 1 GiB)",
                            bz->alignment);
  if (!bz->relocatable && bz->pref_address < HV_HIMEM_START)
    return g_strdup_printf ("a bzImage that must load at 0x%" G_GINT64_MODIFIER "x, below 1 MiB, where Vireo "
                            "keeps the boot data",
                            bz->pref_address);
  return NULL;
}

char *
hv_bzimage_describe (const uint8_t *data, gsize size)
{
  BzKernel bz;
  char *why;

  if (!hv_bzimage_probe (data, size))
    return NULL;
  why = bz_parse (data, size, &bz);
  if (why)
    return why;
  return g_strdup_printf ("a Linux bzImage (boot protocol %u.%02u)", bz.version >> 8, bz.version & 0xff);
}

static uint64_t
add_saturated (uint64_t a, uint64_t b)
{
  return a > G_MAXUINT64 - b ? G_MAXUINT64 : a + b;
}

static gboolean
write_zero_page (HvMemory *mem, const HvE820Map *map, const HvBootImages *images, const BzKernel *bz,
                 uint64_t load, const HvBootSetup *setup, GError **error)
{
  g_autofree uint8_t *bp = g_malloc0 (BP_SIZE);

  /* The 64-bit protocol: start from zeros, copy the setup header in, then fill in what a loader owns. */
  memcpy (bp + HDR_START, images->kernel + HDR_START, MIN (bz->header_end, HDR_MAX_END) - HDR_START);

  bp[HDR_TYPE_OF_LOADER] = TYPE_OF_LOADER_OTHER;
  bp[HDR_LOADFLAGS] = (bp[HDR_LOADFLAGS] & LOADFLAG_LOADED_HIGH) | LOADFLAG_CAN_USE_HEAP;
  hv_store_le16 (bp + HDR_HEAP_END_PTR, HEAP_END);
  hv_store_le32 (bp + HDR_CODE32_START, (uint32_t) load);
  hv_store_le32 (bp + HDR_CMD_LINE_PTR, (uint32_t) HV_CMDLINE);
  hv_store_le32 (bp + BP_EXT_CMD_LINE_PTR, (uint32_t) (HV_CMDLINE >> 32));
  hv_store_le32 (bp + HDR_RAMDISK_IMAGE, (uint32_t) setup->initrd_start);
  hv_store_le32 (bp + HDR_RAMDISK_SIZE, (uint32_t) setup->initrd_size);
  hv_store_le32 (bp + BP_EXT_RAMDISK_IMAGE, (uint32_t) (setup->initrd_start >> 32));
  hv_store_le32 (bp + BP_EXT_RAMDISK_SIZE, (uint32_t) (setup->initrd_size >> 32));

  bp[BP_E820_ENTRIES] = (uint8_t) map->n_entries;
  for (unsigned i = 0; i < map->n_entries; i++)
    {
      uint8_t *entry = bp + BP_E820_TABLE + i * BP_E820_ENTRY_SIZE;
      hv_store_le64 (entry, map->entries[i].addr);
      hv_store_le64 (entry + 8, map->entries[i].size);
      hv_store_le32 (entry + 16, map->entries[i].type);
    }

  /* Older kernels find the RSDP by scanning 0xE0000..0xFFFFF, which is where it is anyway. */
  if (bz->version >= PROTOCOL_RSDP)
    hv_store_le64 (bp + BP_ACPI_RSDP_ADDR, images->rsdp_addr);

  return hv_memory_write (mem, HV_ZERO_PAGE, bp, BP_SIZE, "the zero page", error);
}

gboolean
hv_bzimage_load (HvMemory *mem, const HvE820Map *map, const HvBootImages *images, HvBootSetup *setup,
                 GError **error)
{
  BzKernel bz;
  g_autofree char *why = bz_parse (images->kernel, images->kernel_size, &bz);
  uint64_t load, run, run_end;
  gsize cmdline_len = images->cmdline ? strlen (images->cmdline) : 0;

  if (why)
    {
      hv_boot_refuse (error, why);
      return FALSE;
    }

  if (cmdline_len > bz.cmdline_size)
    {
      g_set_error (error, HV_ERROR, HV_ERROR_INVALID_ARGUMENT,
                   "the kernel command line is %" G_GSIZE_FORMAT
                   " bytes long; this kernel accepts at most %" G_GUINT64_FORMAT,
                   cmdline_len, bz.cmdline_size);
      return FALSE;
    }

  /* A relocatable kernel goes at the first suitably aligned address from 1 MiB; an x86-64 one then
   * decompresses itself at its preferred address (LOAD_PHYSICAL_ADDR) when that is higher, and needs
   * init_size bytes from there.  A fixed kernel loads and runs at its preferred address. */
  if (bz.relocatable)
    {
      load = (HV_HIMEM_START + bz.alignment - 1) & ~(bz.alignment - 1);
      run = MAX (load, bz.pref_address);
    }
  else
    {
      load = bz.pref_address;
      run = load;
    }
  run_end = MAX (add_saturated (load, bz.pm_size), add_saturated (run, bz.init_size));

  /* run >= load, so this also covers the compressed image below the decompression address. */
  if (!hv_boot_check_kernel_fits (mem, run, run_end, error))
    return FALSE;
  if (!hv_memory_write (mem, load, images->kernel + bz.setup_size, bz.pm_size, "the kernel", error))
    return FALSE;
  if (!hv_boot_write_cmdline (mem, images->cmdline, error))
    return FALSE;
  if (!hv_boot_place_initrd (mem, images, run_end, bz.initrd_addr_max + 1, "the kernel", setup, error))
    return FALSE;
  if (!write_zero_page (mem, map, images, &bz, load, setup, error))
    return FALSE;

  setup->protocol = HV_BOOT_LINUX64;
  setup->entry = load + ENTRY_64_OFFSET;
  setup->boot_data = HV_ZERO_PAGE;
  setup->kernel_start = load;
  setup->kernel_end = run_end;
  return TRUE;
}
