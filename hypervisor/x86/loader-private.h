/* loader-private.h — what loader.c, pvh.c and bzimage.c share: the per-format loaders and describers, and the
 * helpers for the command line, the initrd and the sentences in loader errors. */
#pragma once

#include "boot.h"

#define HV_KIB       ((uint64_t) 1 << 10)
#define HV_MIB       ((uint64_t) 1 << 20)
#define HV_GIB       ((uint64_t) 1 << 30)
#define HV_PAGE_SIZE ((uint64_t) 4096)

/* Kernel files are untrusted and need not be aligned: every multi-byte field is read through these. */
static inline uint16_t
hv_load_le16 (const uint8_t *p)
{
  return (uint16_t) (p[0] | (p[1] << 8));
}

static inline uint32_t
hv_load_le32 (const uint8_t *p)
{
  return (uint32_t) p[0] | ((uint32_t) p[1] << 8) | ((uint32_t) p[2] << 16) | ((uint32_t) p[3] << 24);
}

static inline uint64_t
hv_load_le64 (const uint8_t *p)
{
  return (uint64_t) hv_load_le32 (p) | ((uint64_t) hv_load_le32 (p + 4) << 32);
}

static inline void
hv_store_le16 (uint8_t *p, uint16_t v)
{
  p[0] = v & 0xff;
  p[1] = v >> 8;
}

static inline void
hv_store_le32 (uint8_t *p, uint32_t v)
{
  for (unsigned i = 0; i < 4; i++)
    p[i] = (v >> (8 * i)) & 0xff;
}

static inline void
hv_store_le64 (uint8_t *p, uint64_t v)
{
  hv_store_le32 (p, (uint32_t) v);
  hv_store_le32 (p + 4, (uint32_t) (v >> 32));
}

/* TRUE when [@offset, @offset + @len) lies inside a file of @size bytes, without overflowing. */
static inline gboolean
hv_file_range_ok (gsize size, uint64_t offset, uint64_t len)
{
  return offset <= size && len <= size - offset;
}

/* "the kernel is @phrase; Vireo boots PVH ELF kernels and Linux bzImages" as HV_ERROR_BAD_IMAGE. */
void hv_boot_refuse (GError **error, const char *phrase);

/* "72 MiB", "3 GiB", "1.5 MiB", "512 KiB", "100 bytes". */
char *hv_boot_size_phrase (uint64_t bytes);
/* A guest-physical address for a sentence: "16 MiB" when it is a whole number of MiB, else "0x1234000". */
char *hv_boot_address_phrase (uint64_t gpa);
/* @bytes rounded up to a whole MiB, the granularity users give memory sizes in. */
uint64_t hv_boot_round_up_mib (uint64_t bytes);

/* Checks that the kernel's footprint [@start, @end) is RAM, failing with HV_ERROR_TOO_LARGE ("the kernel
 * needs at least ... of guest memory ...") or HV_ERROR_BAD_IMAGE when no memory size would help. */
gboolean hv_boot_check_kernel_fits (const HvMemory *mem, uint64_t start, uint64_t end, GError **error);

/* Writes the command line (NULL means empty) and its NUL at HV_CMDLINE.  The caller has checked its length. */
gboolean hv_boot_write_cmdline (HvMemory *mem, const char *cmdline, GError **error);

/* Copies the initrd (if any) to the highest page-aligned address whose end is at most @ceiling and whose
 * start is at least @floor, and records it in @setup.  @ceiling_owner names what set the ceiling when it is
 * lower than the end of low RAM (the kernel's initrd_addr_max), NULL otherwise. */
gboolean hv_boot_place_initrd (HvMemory *mem, const HvBootImages *images, uint64_t floor, uint64_t ceiling,
                               const char *ceiling_owner, HvBootSetup *setup, GError **error);

/* pvh.c: ELF files.  hv_pvh_describe() returns NULL when @data is not ELF at all. */
char *hv_pvh_describe (const uint8_t *data, gsize size);
gboolean hv_pvh_load (HvMemory *mem, const HvE820Map *map, const HvBootImages *images, HvBootSetup *setup,
                      GError **error);

/* bzimage.c: files with the Linux setup header ("HdrS" at 0x202).  hv_bzimage_describe() returns NULL when
 * @data has no setup header. */
gboolean hv_bzimage_probe (const uint8_t *data, gsize size);
char *hv_bzimage_describe (const uint8_t *data, gsize size);
gboolean hv_bzimage_load (HvMemory *mem, const HvE820Map *map, const HvBootImages *images, HvBootSetup *setup,
                          GError **error);
