/* loader-fixture.h — what the kernel loader tests share (test-loader.c, test-loader-bzimage.c): a guest's memory
 * and e820 map, loading into it, refusals, and the synthetic bzImages. */
#pragma once

#include "test-util.h"
#include "boot.h"
#include "layout.h"

#include <elf.h>
#include <string.h>

#define MIB ((uint64_t) 1 << 20)
#define GIB ((uint64_t) 1 << 30)

#define BAD_IMAGE_TAIL "; Vireo boots PVH ELF kernels and Linux bzImages"

typedef struct
{
  HvMemory mem;
  HvE820Map map;
} Guest;

typedef struct
{
  uint16_t version;
  uint8_t setup_sects;
  uint8_t loadflags;
  uint16_t xloadflags;
  gboolean relocatable;
  uint32_t alignment;
  uint64_t pref_address;
  uint32_t init_size;
  uint32_t initrd_addr_max;
  uint32_t cmdline_size;
  gsize pm_size;
} BzSpec;

void guest_init (Guest *guest, uint64_t size);

void guest_clear (Guest *guest);

uint8_t *guest_ptr (Guest *guest, uint64_t gpa, uint64_t len);

uint32_t le32_at (const uint8_t *p);

uint64_t le64_at (const uint8_t *p);

uint16_t le16_at (const uint8_t *p);

/* Distinct bytes per offset and seed, so a misplaced copy shows. */
void fill_pattern (uint8_t *p, gsize len, unsigned seed);

gboolean has_pattern (const uint8_t *p, gsize len, unsigned seed);

gboolean load (Guest *guest, GBytes *kernel, const uint8_t *initrd, gsize initrd_size, const char *cmdline,
               HvBootSetup *setup, GError **error);

/* Loads @kernel into a fresh VM of @mem_size and returns the error (which must be there). */
GError *load_error (GBytes *kernel, uint64_t mem_size, gsize initrd_size, const char *cmdline);

/* Checks a refusal: the error code, and the whole message (@exact) or a part of it. */
void assert_refusal (GBytes *kernel, uint64_t mem_size, gsize initrd_size, const char *cmdline, HvError code,
                     gboolean exact, const char *message);

BzSpec bz_spec (void);

GBytes *build_bzimage (const BzSpec *spec);

void assert_zero_page (Guest *guest, GBytes *kernel, const HvBootSetup *setup, const char *cmdline,
                       gboolean has_rsdp);

/* The tests of test-loader-bzimage.c. */
void loader_add_bzimage_tests (void);
