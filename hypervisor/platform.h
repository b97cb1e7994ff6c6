/* platform.h — what a device model may ask of the machine it sits in: raise an interrupt line, end the VM.
 *
 * Devices never see the HvVm; they get an HvPlatform, which the VM implements with KVM and the unit tests
 * implement with a recorder.  Device handlers run on vCPU threads, several at once: every device guards
 * its own state with its own lock.
 */
#pragma once

#include "hv.h"

typedef struct _HvBus HvBus;
typedef struct _HvMemory HvMemory;

typedef struct
{
  /* Sets the level of an interrupt line (GSI 0..23 of the in-kernel PIC/IOAPIC).  Edge-triggered ISA
   * devices drive it like a wire: 1 while they want service, 0 once served. */
  void (*set_irq) (void *opaque, unsigned gsi, gboolean level);
  /* Ends the VM with @reason.  @message may be NULL.  Safe to call from any thread, more than once: the
   * first reason wins. */
  void (*request_exit) (void *opaque, HvExitReason reason, const char *message);
  void *opaque;

  /* What PCI and virtio devices need beyond that.  All optional: unit tests leave them NULL. */
  HvMemory *memory;         /* guest RAM, for DMA; every guest address goes through hv_memory_ptr() */
  HvBus *mmio;              /* for ranges that move at run time (PCI BARs): hv_bus_register() and */
  HvBus *pio;               /* hv_bus_unregister() may be called while vCPUs run */
  GMainContext *io_context; /* the VM's I/O thread: device work that must not run on vCPU threads */
  /* The context of the I/O thread called @thread, started on first use; devices naming the same thread
   * share it.  A device whose work may block (a disk, a network backend) asks for one of its own, so it
   * cannot hold up the others (input); it gives hv_virtio_pci_new() a copy of the platform with
   * io_context set to it, kept as long as the device.  Use hv_platform_get_io_context(). */
  GMainContext *(*get_io_context) (void *opaque, const char *thread, int role, GError **error);
  /* KVM_IOEVENTFD: a guest write to [addr, addr + len) signals @fd instead of exiting (assign FALSE
   * removes it); @len 0 on MMIO matches a write of any width at @addr. */
  gboolean (*set_ioeventfd) (void *opaque, uint64_t addr, unsigned len, gboolean is_mmio, int fd,
                             gboolean assign, GError **error);
  /* MSI routes (a GSI per message) and KVM_IRQFD: writing @fd injects the GSI's interrupt. */
  int (*add_msi_route) (void *opaque, uint64_t address, uint32_t data, GError **error);
  gboolean (*update_msi_route) (void *opaque, unsigned gsi, uint64_t address, uint32_t data, GError **error);
  gboolean (*set_irqfd) (void *opaque, unsigned gsi, int fd, gboolean assign, GError **error);
  /* Host memory mapped into the guest outside RAM (a framebuffer BAR).  map returns a slot handle or -1;
   * move changes where the guest sees it (a BAR the guest moved); get_dirty_log fills one bit per 4 KiB
   * page written since the last call (only for slots mapped with @track_dirty). */
  int (*map_memory) (void *opaque, uint64_t gpa, uint64_t size, void *host, gboolean track_dirty,
                     GError **error);
  gboolean (*move_memory) (void *opaque, int slot, uint64_t gpa, GError **error);
  void (*unmap_memory) (void *opaque, int slot);
  gboolean (*get_dirty_log) (void *opaque, int slot, unsigned long *bitmap, GError **error);
} HvPlatform;

static inline void
hv_platform_set_irq (const HvPlatform *platform, unsigned gsi, gboolean level)
{
  if (platform && platform->set_irq)
    platform->set_irq (platform->opaque, gsi, level);
}

static inline void
hv_platform_request_exit (const HvPlatform *platform, HvExitReason reason, const char *message)
{
  if (platform && platform->request_exit)
    platform->request_exit (platform->opaque, reason, message);
}

/* The context of I/O thread @thread (NULL: the shared one).  Where the platform has no threads of its
 * own (unit tests), every device shares io_context. */
static inline GMainContext *
hv_platform_get_thread_context (const HvPlatform *platform, const char *thread, int role, GError **error)
{
  if (thread == NULL || platform->get_io_context == NULL)
    return platform->io_context;
  return platform->get_io_context (platform->opaque, thread, role, error);
}

/* The same for a thread of role @role (HvThreadRole): a network back end's thread is HV_THREAD_NET, so a
 * sandbox can let it, and only it, make network sockets. */
static inline GMainContext *
hv_platform_get_io_context (const HvPlatform *platform, const char *thread, GError **error)
{
  return hv_platform_get_thread_context (platform, thread, HV_THREAD_IO, error);
}

/* A port-I/O or MMIO access to a device.  @offset is relative to the start of the range the handler was
 * registered for, @len is 1, 2, 4 or 8, @data is little-endian.  For reads the handler fills @data (it is
 * pre-filled with 0xff, what an unclaimed bus returns). */
typedef void (*HvIoHandler) (void *opaque, uint64_t offset, uint8_t *data, unsigned len, gboolean is_write);
