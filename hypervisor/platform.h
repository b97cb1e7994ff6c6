/* platform.h — what a device model may ask of the machine it sits in: raise an interrupt line, end the VM.
 *
 * Devices never see the HvVm; they get an HvPlatform, which the VM implements with KVM and the unit tests
 * implement with a recorder.  Device handlers run on vCPU threads, several at once: every device guards
 * its own state with its own lock.
 */
#pragma once

#include "hv.h"

typedef struct
{
  /* Sets the level of an interrupt line (GSI 0..23 of the in-kernel PIC/IOAPIC).  Edge-triggered ISA
   * devices drive it like a wire: 1 while they want service, 0 once served. */
  void (*set_irq) (void *opaque, unsigned gsi, gboolean level);
  /* Ends the VM with @reason.  @message may be NULL.  Safe to call from any thread, more than once: the
   * first reason wins. */
  void (*request_exit) (void *opaque, HvExitReason reason, const char *message);
  void *opaque;
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

/* A port-I/O or MMIO access to a device.  @offset is relative to the start of the range the handler was
 * registered for, @len is 1, 2, 4 or 8, @data is little-endian.  For reads the handler fills @data (it is
 * pre-filled with 0xff, what an unclaimed bus returns). */
typedef void (*HvIoHandler) (void *opaque, uint64_t offset, uint8_t *data, unsigned len,
                             gboolean is_write);
