/* memory.h — guest RAM: one memfd mapped shared, laid out around the 32-bit PCI hole. */
#pragma once

#include "hv.h"

typedef struct
{
  uint64_t gpa;    /* guest-physical start */
  uint64_t size;   /* bytes */
  uint64_t offset; /* offset in the memfd */
  uint8_t *host;   /* host mapping of the region */
} HvMemoryRegion;

typedef struct _HvMemory
{
  int memfd;
  uint8_t *base;             /* mapping of the whole memfd */
  uint64_t size;             /* RAM bytes in all */
  HvMemoryRegion regions[2]; /* below the PCI hole, and from 4 GiB up */
  unsigned n_regions;
} HvMemory;

/* Creates @size bytes of zeroed guest RAM.  Needs no KVM, so loaders and tables are unit-testable. */
gboolean hv_memory_init (HvMemory *mem, uint64_t size, GError **error);
void hv_memory_clear (HvMemory *mem);

/* The host address of [@gpa, @gpa + @len) when all of it is RAM in one region, else NULL.  Every
 * guest-supplied address goes through here (or hv_memory_check) before it is touched. */
void *hv_memory_ptr (const HvMemory *mem, uint64_t gpa, uint64_t len);
gboolean hv_memory_check (const HvMemory *mem, uint64_t gpa, uint64_t len);
/* Copies into guest RAM; fails with HV_ERROR_TOO_LARGE naming @what when the range is not RAM. */
gboolean hv_memory_write (HvMemory *mem, uint64_t gpa, const void *data, uint64_t len, const char *what,
                          GError **error);
/* The end of RAM below the 32-bit PCI hole. */
uint64_t hv_memory_low_end (const HvMemory *mem);
