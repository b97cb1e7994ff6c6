/* kvm-platform.c — the optional HvPlatform services on KVM: ioeventfds, MSI routes and irqfds, memory
 * slots outside RAM with dirty logging, and the VM's I/O threads. */
#include "vm-private.h"
#include "io/io-threads.h"

#include <errno.h>
#include <stdarg.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#define PAGE_SIZE 4096ull
/* Slots for host memory mapped into the guest (framebuffers); RAM has its own below them. */
#define MAX_EXTRA_SLOTS 32

typedef struct
{
  gboolean used;
  gboolean mapped;     /* FALSE after a move KVM refused: the guest sees nothing there */
  gboolean report_all; /* the next dirty log reports every page: the slot is new to KVM */
  uint64_t gpa;
  uint64_t size;
  void *host;
  gboolean track_dirty;
} ExtraSlot;

struct _HvKvmPlatform
{
  GMutex lock;             /* guards slots */
  HvIoThreads *io_threads; /* the shared "vireo-io" and those devices ask for */
  unsigned first_slot;     /* the KVM slot number of slots[0] */
  unsigned n_slots;        /* how many of slots[] KVM can take */
  ExtraSlot slots[MAX_EXTRA_SLOTS];
};

static gboolean set_errno_error (GError **error, int saved, const char *format, ...) G_GNUC_PRINTF (3, 4);

static gboolean
set_errno_error (GError **error, int saved, const char *format, ...)
{
  g_autofree char *what = NULL;
  va_list args;

  va_start (args, format);
  what = g_strdup_vprintf (format, args);
  va_end (args);
  g_set_error (error, HV_ERROR,
               saved == EINVAL || saved == EEXIST ? HV_ERROR_INVALID_ARGUMENT : HV_ERROR_FAILED, "%s: %s",
               what, g_strerror (saved));
  return FALSE;
}

static gboolean
platform_set_ioeventfd (void *opaque, uint64_t addr, unsigned len, gboolean is_mmio, int fd, gboolean assign,
                        GError **error)
{
  HvVm *vm = opaque;
  struct kvm_ioeventfd ioeventfd = {
    .addr = addr,
    .len = len,
    .fd = fd,
    .flags = (is_mmio ? 0 : KVM_IOEVENTFD_FLAG_PIO) | (assign ? 0 : KVM_IOEVENTFD_FLAG_DEASSIGN),
  };

  if (ioctl (vm->vm_fd, KVM_IOEVENTFD, &ioeventfd) < 0)
    return set_errno_error (error, errno, "KVM_IOEVENTFD (%s %u bytes at 0x%" G_GINT64_MODIFIER "x)",
                            assign ? "assigning" : "removing", len, addr);
  return TRUE;
}

static GMainContext *
platform_get_io_context (void *opaque, const char *thread, int role, GError **error)
{
  HvVm *vm = opaque;

  if (vm->kvm_platform == NULL)
    {
      g_set_error (error, HV_ERROR, HV_ERROR_INVALID_STATE, "the VM is being taken apart");
      return NULL;
    }
  return hv_io_threads_get_with_role (vm->kvm_platform->io_threads, thread, role, error);
}

static int
platform_add_msi_route (void *opaque, uint64_t address, uint32_t data, GError **error)
{
  HvVm *vm = opaque;
  return hv_irq_add_msi_route (vm->irq, address, data, error);
}

static gboolean
platform_update_msi_route (void *opaque, unsigned gsi, uint64_t address, uint32_t data, GError **error)
{
  HvVm *vm = opaque;
  return hv_irq_update_msi_route (vm->irq, gsi, address, data, error);
}

static gboolean
platform_set_irqfd (void *opaque, unsigned gsi, int fd, gboolean assign, GError **error)
{
  HvVm *vm = opaque;
  struct kvm_irqfd irqfd = {
    .fd = (uint32_t) fd,
    .gsi = gsi,
    .flags = assign ? 0 : KVM_IRQFD_FLAG_DEASSIGN,
  };

  if (ioctl (vm->vm_fd, KVM_IRQFD, &irqfd) < 0)
    return set_errno_error (error, errno, "KVM_IRQFD (%s GSI %u)", assign ? "assigning" : "removing", gsi);
  return TRUE;
}

/* With kvm->lock held.  @size 0 deletes the slot. */
static gboolean
set_slot_locked (HvVm *vm, unsigned index, uint64_t gpa, uint64_t size, GError **error)
{
  HvKvmPlatform *kvm = vm->kvm_platform;
  const ExtraSlot *slot = &kvm->slots[index];
  struct kvm_userspace_memory_region region = {
    .slot = kvm->first_slot + index,
    .flags = slot->track_dirty && size ? KVM_MEM_LOG_DIRTY_PAGES : 0,
    .guest_phys_addr = gpa,
    .memory_size = size,
    .userspace_addr = (uintptr_t) slot->host,
  };

  if (ioctl (vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &region) < 0)
    return set_errno_error (error, errno,
                            "KVM cannot map %" G_GUINT64_FORMAT
                            " KiB of host memory at guest address 0x%" G_GINT64_MODIFIER "x",
                            size >> 10, gpa);
  return TRUE;
}

static gboolean
check_gpa (uint64_t gpa, uint64_t size, GError **error)
{
  if ((gpa & (PAGE_SIZE - 1)) || gpa + size < gpa)
    {
      g_set_error (error, HV_ERROR, HV_ERROR_INVALID_ARGUMENT,
                   "guest address 0x%" G_GINT64_MODIFIER "x cannot take %" G_GUINT64_FORMAT " bytes of "
                   "mapped memory",
                   gpa, size);
      return FALSE;
    }
  return TRUE;
}

/* The index in slots[] of handle @slot, or -1. */
static int
slot_index_locked (HvKvmPlatform *kvm, int slot)
{
  if (slot < (int) kvm->first_slot || slot >= (int) (kvm->first_slot + kvm->n_slots)
      || !kvm->slots[slot - kvm->first_slot].used)
    return -1;
  return slot - (int) kvm->first_slot;
}

static int
platform_map_memory (void *opaque, uint64_t gpa, uint64_t size, void *host, gboolean track_dirty,
                     GError **error)
{
  HvVm *vm = opaque;
  HvKvmPlatform *kvm = vm->kvm_platform;
  ExtraSlot *slot = NULL;
  unsigned index;

  if (kvm == NULL)
    {
      g_set_error (error, HV_ERROR, HV_ERROR_INVALID_STATE, "the VM is being taken apart");
      return -1;
    }

  if (size == 0 || (size & (PAGE_SIZE - 1)) || ((uintptr_t) host & (PAGE_SIZE - 1))
      || !check_gpa (gpa, size, NULL))
    {
      g_set_error (error, HV_ERROR, HV_ERROR_INVALID_ARGUMENT,
                   "%" G_GUINT64_FORMAT
                   " bytes at host %p cannot be mapped at guest address 0x%" G_GINT64_MODIFIER
                   "x: KVM maps whole pages",
                   size, host, gpa);
      return -1;
    }

  g_mutex_lock (&kvm->lock);
  for (index = 0; index < kvm->n_slots; index++)
    if (!kvm->slots[index].used)
      {
        slot = &kvm->slots[index];
        break;
      }
  if (slot == NULL)
    {
      g_mutex_unlock (&kvm->lock);
      g_set_error (error, HV_ERROR, HV_ERROR_TOO_LARGE, "KVM has no memory slot left (%u in use)",
                   kvm->n_slots);
      return -1;
    }
  *slot = (ExtraSlot){ .used = TRUE, .gpa = gpa, .size = size, .host = host, .track_dirty = track_dirty };
  if (!set_slot_locked (vm, index, gpa, size, error))
    {
      *slot = (ExtraSlot){ 0 };
      g_mutex_unlock (&kvm->lock);
      return -1;
    }
  slot->mapped = TRUE;
  g_mutex_unlock (&kvm->lock);
  return (int) (kvm->first_slot + index);
}

static gboolean
platform_move_memory (void *opaque, int handle, uint64_t gpa, GError **error)
{
  HvVm *vm = opaque;
  HvKvmPlatform *kvm = vm->kvm_platform;
  ExtraSlot *slot;
  int index;
  gboolean ok = TRUE;

  if (kvm == NULL)
    {
      g_set_error (error, HV_ERROR, HV_ERROR_INVALID_STATE, "the VM is being taken apart");
      return FALSE;
    }
  g_mutex_lock (&kvm->lock);
  index = slot_index_locked (kvm, handle);
  if (index < 0)
    {
      g_mutex_unlock (&kvm->lock);
      g_set_error (error, HV_ERROR, HV_ERROR_INVALID_ARGUMENT, "no mapped memory has handle %d", handle);
      return FALSE;
    }
  slot = &kvm->slots[index];
  if (slot->mapped && slot->gpa == gpa)
    {
      g_mutex_unlock (&kvm->lock);
      return TRUE;
    }
  /* KVM cannot move a slot: delete it and create it again where the guest put it.  The guest is moving
   * the BAR, so it does not use the memory in between. */
  if (slot->mapped && !set_slot_locked (vm, (unsigned) index, slot->gpa, 0, error))
    ok = FALSE;
  else
    {
      slot->mapped = FALSE;
      slot->gpa = gpa;
      /* A guest may put a BAR where nothing can be mapped (over RAM); it sees nothing there until it
       * moves the BAR again. */
      if (check_gpa (gpa, slot->size, error)
          && set_slot_locked (vm, (unsigned) index, gpa, slot->size, error))
        {
          slot->mapped = TRUE;
          slot->report_all = TRUE;
        }
      else
        ok = FALSE;
    }
  g_mutex_unlock (&kvm->lock);
  return ok;
}

static void
platform_unmap_memory (void *opaque, int handle)
{
  HvVm *vm = opaque;
  HvKvmPlatform *kvm = vm->kvm_platform;
  g_autoptr (GError) error = NULL;
  int index;

  /* After hv_kvm_platform_free the VM's fd is about to close, which drops every slot anyway. */
  if (kvm == NULL)
    return;
  g_mutex_lock (&kvm->lock);
  index = slot_index_locked (kvm, handle);
  if (index >= 0)
    {
      if (kvm->slots[index].mapped
          && !set_slot_locked (vm, (unsigned) index, kvm->slots[index].gpa, 0, &error))
        g_warning ("%s", error->message);
      kvm->slots[index] = (ExtraSlot){ 0 };
    }
  g_mutex_unlock (&kvm->lock);
}

static gboolean
platform_get_dirty_log (void *opaque, int handle, unsigned long *bitmap, GError **error)
{
  HvVm *vm = opaque;
  HvKvmPlatform *kvm = vm->kvm_platform;
  struct kvm_dirty_log log = { 0 };
  ExtraSlot *slot;
  gsize longs;
  int index;

  if (kvm == NULL)
    {
      g_set_error (error, HV_ERROR, HV_ERROR_INVALID_STATE, "the VM is being taken apart");
      return FALSE;
    }
  g_mutex_lock (&kvm->lock);
  index = slot_index_locked (kvm, handle);
  if (index < 0 || !kvm->slots[index].track_dirty)
    {
      g_mutex_unlock (&kvm->lock);
      g_set_error (error, HV_ERROR, HV_ERROR_INVALID_ARGUMENT,
                   "no mapped memory with dirty tracking has handle %d", handle);
      return FALSE;
    }
  slot = &kvm->slots[index];
  longs = (slot->size / PAGE_SIZE + 8 * sizeof (unsigned long) - 1) / (8 * sizeof (unsigned long));
  if (!slot->mapped)
    {
      /* Unmapped memory cannot be written by the guest. */
      memset (bitmap, 0, longs * sizeof (unsigned long));
      g_mutex_unlock (&kvm->lock);
      return TRUE;
    }
  log.slot = kvm->first_slot + (unsigned) index;
  log.dirty_bitmap = bitmap;
  if (ioctl (vm->vm_fd, KVM_GET_DIRTY_LOG, &log) < 0)
    {
      int saved = errno;
      g_mutex_unlock (&kvm->lock);
      return set_errno_error (error, saved, "KVM_GET_DIRTY_LOG of slot %d", handle);
    }
  if (slot->report_all)
    {
      /* What was written before the slot was (re)created is not in KVM's log. */
      memset (bitmap, 0xff, longs * sizeof (unsigned long));
      slot->report_all = FALSE;
    }
  g_mutex_unlock (&kvm->lock);
  return TRUE;
}

gboolean
hv_kvm_platform_init (HvVm *vm, GError **error)
{
  HvKvmPlatform *kvm;
  int max_slots;

  g_return_val_if_fail (vm->kvm_platform == NULL, FALSE);

  kvm = g_new0 (HvKvmPlatform, 1);
  g_mutex_init (&kvm->lock);
  kvm->first_slot = vm->n_fixed_slots;
  max_slots = ioctl (vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_NR_MEMSLOTS);
  if (max_slots <= 0)
    max_slots = 32; /* what KVM has guaranteed since its first releases */
  kvm->n_slots = (unsigned) MIN (MAX_EXTRA_SLOTS, MAX (max_slots - (int) kvm->first_slot, 0));
  kvm->io_threads = hv_io_threads_new ("vireo-io", error);
  if (kvm->io_threads == NULL)
    {
      g_mutex_clear (&kvm->lock);
      g_free (kvm);
      return FALSE;
    }
  vm->kvm_platform = kvm;

  vm->platform.memory = &vm->memory;
  vm->platform.mmio = vm->mmio;
  vm->platform.pio = vm->pio;
  vm->platform.io_context = hv_io_threads_get_shared (kvm->io_threads);
  vm->platform.get_io_context = platform_get_io_context;
  vm->platform.set_ioeventfd = platform_set_ioeventfd;
  vm->platform.add_msi_route = platform_add_msi_route;
  vm->platform.update_msi_route = platform_update_msi_route;
  vm->platform.set_irqfd = platform_set_irqfd;
  vm->platform.map_memory = platform_map_memory;
  vm->platform.move_memory = platform_move_memory;
  vm->platform.unmap_memory = platform_unmap_memory;
  vm->platform.get_dirty_log = platform_get_dirty_log;
  return TRUE;
}

void
hv_kvm_platform_free (HvVm *vm)
{
  HvKvmPlatform *kvm = vm->kvm_platform;

  if (kvm == NULL)
    return;
  vm->platform.io_context = NULL;
  vm->platform.get_io_context = NULL;
  hv_io_threads_free (kvm->io_threads);
  g_mutex_clear (&kvm->lock);
  g_free (kvm);
  vm->kvm_platform = NULL;
}
