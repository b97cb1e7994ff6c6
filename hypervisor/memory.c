/* memory.c — guest RAM: one memfd mapped shared, split around the 32-bit PCI hole. */
#include "memory.h"
#include "x86/layout.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

gboolean
hv_memory_init (HvMemory *mem, uint64_t size, GError **error)
{
  uint64_t low;

  memset (mem, 0, sizeof *mem);
  mem->memfd = -1;

  if (size == 0 || (size & 0xfff) != 0)
    {
      g_set_error (error, HV_ERROR, HV_ERROR_INVALID_ARGUMENT,
                   "guest memory must be a non-zero multiple of 4 KiB");
      return FALSE;
    }

  mem->memfd = memfd_create ("vireo-guest-ram", MFD_CLOEXEC);
  if (mem->memfd < 0)
    {
      int saved = errno;
      g_set_error (error, HV_ERROR, HV_ERROR_FAILED, "cannot create guest memory: %s", g_strerror (saved));
      return FALSE;
    }
  if (ftruncate (mem->memfd, (off_t) size) < 0)
    {
      int saved = errno;
      g_set_error (error, HV_ERROR, HV_ERROR_FAILED,
                   "cannot size guest memory to %" G_GUINT64_FORMAT " MiB: %s", size >> 20,
                   g_strerror (saved));
      hv_memory_clear (mem);
      return FALSE;
    }
  /* MAP_NORESERVE: pages are allocated as the guest touches them, like any anonymous memory. */
  mem->base = mmap (NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE, mem->memfd, 0);
  if (mem->base == MAP_FAILED)
    {
      int saved = errno;
      mem->base = NULL;
      g_set_error (error, HV_ERROR, HV_ERROR_FAILED,
                   "cannot map %" G_GUINT64_FORMAT " MiB of guest memory: %s", size >> 20,
                   g_strerror (saved));
      hv_memory_clear (mem);
      return FALSE;
    }
  /* Guest RAM is never worth a core dump's size, nor is it the host's business to merge. */
  madvise (mem->base, size, MADV_DONTDUMP);
  mem->size = size;

  low = MIN (size, HV_LOW_RAM_MAX);
  mem->regions[0] = (HvMemoryRegion){ .gpa = 0, .size = low, .offset = 0, .host = mem->base };
  mem->n_regions = 1;
  if (size > low)
    {
      mem->regions[1] = (HvMemoryRegion){
        .gpa = HV_HIGH_RAM_START, .size = size - low, .offset = low, .host = mem->base + low
      };
      mem->n_regions = 2;
    }
  return TRUE;
}

void
hv_memory_clear (HvMemory *mem)
{
  if (mem->base)
    munmap (mem->base, mem->size);
  if (mem->memfd >= 0)
    close (mem->memfd);
  memset (mem, 0, sizeof *mem);
  mem->memfd = -1;
}

void *
hv_memory_ptr (const HvMemory *mem, uint64_t gpa, uint64_t len)
{
  for (unsigned i = 0; i < mem->n_regions; i++)
    {
      const HvMemoryRegion *r = &mem->regions[i];
      /* Written so that no sum can overflow: gpa and len come from guests. */
      if (gpa >= r->gpa && gpa - r->gpa <= r->size && len <= r->size - (gpa - r->gpa))
        return r->host + (gpa - r->gpa);
    }
  return NULL;
}

gboolean
hv_memory_check (const HvMemory *mem, uint64_t gpa, uint64_t len)
{
  return hv_memory_ptr (mem, gpa, len) != NULL;
}

gboolean
hv_memory_write (HvMemory *mem, uint64_t gpa, const void *data, uint64_t len, const char *what,
                 GError **error)
{
  void *dst = hv_memory_ptr (mem, gpa, len);
  if (dst == NULL)
    {
      g_set_error (error, HV_ERROR, HV_ERROR_TOO_LARGE,
                   "%s (%" G_GUINT64_FORMAT " bytes at 0x%" G_GINT64_MODIFIER "x) does not fit in the "
                   "guest's %" G_GUINT64_FORMAT " MiB of memory",
                   what, len, gpa, mem->size >> 20);
      return FALSE;
    }
  memcpy (dst, data, len);
  return TRUE;
}

uint64_t
hv_memory_low_end (const HvMemory *mem)
{
  return mem->n_regions ? mem->regions[0].size : 0;
}
