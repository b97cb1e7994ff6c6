/* memory.c — guest RAM: one memfd mapped shared, split around the 32-bit PCI hole, or a saved memory
 * file mapped privately over it. */
#include "memory.h"
#include "x86/layout.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

gboolean
hv_memory_init (HvMemory *mem, uint64_t size, GError **error)
{
  uint64_t low;

  memset (mem, 0, sizeof *mem);
  mem->memfd = -1;
  mem->source_fd = -1;

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

#define MOVE_ALIGN (2ull << 20) /* page tables move whole when source and target agree modulo this */

typedef struct
{
  void *reserve;
  uint64_t reserve_size;
  int memfd;
} OldRam;

/* Frees the RAM a mapping replaced: hundreds of MiB of pages take tens of milliseconds of a core to
 * free, longer than the mapping takes to replace, and nothing waits for them.  The thread stays out of
 * the way of the revert under way (its allocations, the vCPUs' first page faults): it starts late, and
 * unmaps a chunk at a time, because munmap holds the process's mmap lock, which every mmap, munmap and
 * many page faults of the worker's other threads need.  (Not at idle priority: a thread starved while
 * holding that lock stalled the whole process under load.) */
#define FREE_DELAY_USEC 100000
#define FREE_CHUNK      (2ull << 20)

static void *
free_old_ram (void *data)
{
  OldRam *old = data;
  uint8_t *p = old->reserve;

  hv_thread_started (HV_THREAD_IO);
  g_usleep (FREE_DELAY_USEC);
  for (uint64_t done = 0; done < old->reserve_size; done += FREE_CHUNK)
    munmap (p + done, MIN (FREE_CHUNK, old->reserve_size - done));
  if (old->memfd >= 0)
    close (old->memfd);
  g_free (old);
  return NULL;
}

/* Moves the mapping at mem->base out of the way (page tables and all, no page is freed), leaving
 * the range empty for the new mapping; NULL when it cannot (the caller then maps over it). */
static OldRam *
move_old_ram (HvMemory *mem)
{
  OldRam *old = g_new0 (OldRam, 1);
  uintptr_t target;

  old->memfd = -1;
  old->reserve_size = mem->size + 2 * MOVE_ALIGN;
  old->reserve = mmap (NULL, old->reserve_size, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1,
                       0);
  if (old->reserve == MAP_FAILED)
    {
      g_free (old);
      return NULL;
    }
  target = ((uintptr_t) old->reserve + MOVE_ALIGN - 1) & ~(uintptr_t) (MOVE_ALIGN - 1);
  target += (uintptr_t) mem->base & (MOVE_ALIGN - 1);
  if (mremap (mem->base, mem->size, mem->size, MREMAP_MAYMOVE | MREMAP_FIXED, (void *) target) == MAP_FAILED)
    {
      munmap (old->reserve, old->reserve_size);
      g_free (old);
      return NULL;
    }
  return old;
}

gboolean
hv_memory_map_file (HvMemory *mem, int fd, uint64_t offset, GError **error)
{
  OldRam *old;
  int copy;
  void *mapped;

  g_return_val_if_fail (mem->base != NULL, FALSE);
  if ((offset & 0xfff) != 0)
    return g_set_error (error, HV_ERROR, HV_ERROR_INVALID_ARGUMENT,
                        "guest memory can only be mapped from a page-aligned offset"),
           FALSE;
  copy = fcntl (fd, F_DUPFD_CLOEXEC, 3);
  if (copy < 0)
    {
      int saved = errno;
      return g_set_error (error, HV_ERROR, HV_ERROR_FAILED, "cannot keep the saved memory open: %s",
                          g_strerror (saved)),
             FALSE;
    }
  /* For a moment the range is empty: nothing may touch guest RAM meanwhile (a paused VM's vCPUs are
   * parked and its devices quiesced; a VM being built has neither running). */
  old = move_old_ram (mem);
  mapped = mmap (mem->base, mem->size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_FIXED | MAP_NORESERVE, copy,
                 (off_t) offset);
  if (mapped == MAP_FAILED)
    {
      int saved = errno;

      close (copy);
      /* Put the previous RAM back, so that no pointer into it dangles. */
      if (old != NULL)
        {
          uintptr_t target = ((uintptr_t) old->reserve + MOVE_ALIGN - 1) & ~(uintptr_t) (MOVE_ALIGN - 1);
          target += (uintptr_t) mem->base & (MOVE_ALIGN - 1);
          mapped = mremap ((void *) target, mem->size, mem->size, MREMAP_MAYMOVE | MREMAP_FIXED, mem->base);
          munmap (old->reserve, old->reserve_size);
          g_free (old);
        }
      else if (mem->source_fd >= 0)
        mapped = mmap (mem->base, mem->size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_FIXED | MAP_NORESERVE,
                       mem->source_fd, (off_t) mem->source_offset);
      else
        mapped = mmap (mem->base, mem->size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED | MAP_NORESERVE,
                       mem->memfd, 0);
      if (mapped == MAP_FAILED)
        g_error ("guest memory at %p is gone and cannot be mapped again: %s", (void *) mem->base,
                 g_strerror (errno));
      return g_set_error (error, HV_ERROR, HV_ERROR_FAILED,
                          "cannot map the saved memory over %" G_GUINT64_FORMAT " MiB of guest memory: %s",
                          mem->size >> 20, g_strerror (saved)),
             FALSE;
    }
  madvise (mem->base, mem->size, MADV_DONTDUMP);
  if (mem->source_fd >= 0)
    close (mem->source_fd);
  mem->source_fd = copy;
  mem->source_offset = offset;

  /* RAM is the file's from now on (a later file replaces this one): the memfd's pages go, with the
   * moved mapping that still holds them, on a thread of their own. */
  if (old == NULL)
    {
      if (mem->memfd >= 0)
        close (mem->memfd);
    }
  else
    {
      pthread_t thread;
      pthread_attr_t attr;

      old->memfd = mem->memfd;
      pthread_attr_init (&attr);
      pthread_attr_setdetachstate (&attr, PTHREAD_CREATE_DETACHED);
      if (pthread_create (&thread, &attr, free_old_ram, old) != 0)
        free_old_ram (old);
      pthread_attr_destroy (&attr);
    }
  mem->memfd = -1;
  return TRUE;
}

void
hv_memory_clear (HvMemory *mem)
{
  if (mem->base)
    munmap (mem->base, mem->size);
  if (mem->memfd >= 0)
    close (mem->memfd);
  if (mem->source_fd >= 0)
    close (mem->source_fd);
  memset (mem, 0, sizeof *mem);
  mem->memfd = -1;
  mem->source_fd = -1;
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
