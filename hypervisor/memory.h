/* memory.h — guest RAM: one memfd mapped shared, laid out around the 32-bit PCI hole; or, after a
 * restore, a saved memory file mapped privately over the same addresses (pages fault in on use). */
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
  int memfd; /* -1 once a file is mapped (hv_memory_map_file) */
  /* The saved memory file mapped MAP_PRIVATE over all of RAM (hv_memory_map_file), or -1 when RAM is
   * the memfd's.  While it is set the memfd holds nothing: RAM is the file's pages where the guest
   * has not written since, and private anonymous pages where it has. */
  int source_fd;
  uint64_t source_offset;    /* where RAM starts in source_fd */
  uint8_t *base;             /* mapping of the whole of RAM (memfd or source_fd) */
  uint64_t size;             /* RAM bytes in all */
  HvMemoryRegion regions[2]; /* below the PCI hole, and from 4 GiB up */
  unsigned n_regions;
} HvMemory;

/* Creates @size bytes of zeroed guest RAM.  Needs no KVM, so loaders and tables are unit-testable. */
gboolean hv_memory_init (HvMemory *mem, uint64_t size, GError **error);
void hv_memory_clear (HvMemory *mem);

/* Maps @size bytes of @fd from @offset (page-aligned) MAP_PRIVATE | MAP_FIXED over all of RAM, at
 * the same host address (KVM's memory slots and every pointer into RAM stay valid): RAM then reads as
 * the file, page by page as the guest touches it, and what the guest writes stays in this process.
 * Restoring saved memory thus costs no read of it.  @fd is duplicated and kept; the RAM it replaces
 * (the memfd, or an earlier file and the pages written over it) is moved aside and freed on a thread
 * of its own, so the call takes about as long for 1 GiB of touched RAM as for none.  Nothing may touch
 * RAM during the call (a paused VM, or one not started).  The file must never change while it is mapped: pages not yet copied would read
 * the change (and a truncation would fault).  Saved memory files are only ever replaced by renaming
 * new ones over them (snapshot-file.c), which leaves the mapped inode intact. */
gboolean hv_memory_map_file (HvMemory *mem, int fd, uint64_t offset, GError **error);

/* The host address of [@gpa, @gpa + @len) when all of it is RAM in one region, else NULL.  Every
 * guest-supplied address goes through here (or hv_memory_check) before it is touched. */
void *hv_memory_ptr (const HvMemory *mem, uint64_t gpa, uint64_t len);
gboolean hv_memory_check (const HvMemory *mem, uint64_t gpa, uint64_t len);
/* Copies into guest RAM; fails with HV_ERROR_TOO_LARGE naming @what when the range is not RAM. */
gboolean hv_memory_write (HvMemory *mem, uint64_t gpa, const void *data, uint64_t len, const char *what,
                          GError **error);
/* The end of RAM below the 32-bit PCI hole. */
uint64_t hv_memory_low_end (const HvMemory *mem);
