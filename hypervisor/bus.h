/* bus.h — one dispatch layer for port I/O and MMIO exits: address ranges mapped to device handlers. */
#pragma once

#include "platform.h"

HvBus *hv_bus_new (const char *name);
void hv_bus_free (HvBus *bus);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (HvBus, hv_bus_free)

/* Claims [@base, @base + @len) for @handler.  Fails on an empty range or an overlap with a range already
 * claimed (the error names both owners).  Safe while vCPUs run (PCI BARs move at run time). */
gboolean hv_bus_register (HvBus *bus, uint64_t base, uint64_t len, const char *owner, HvIoHandler handler,
                          void *opaque, GError **error);

/* Releases the range that starts at @base and belongs to @opaque; FALSE if there is none.  A vCPU that
 * looked the range up just before may still call its handler once: handlers must outlive their ranges
 * (devices live as long as the VM). */
gboolean hv_bus_unregister (HvBus *bus, uint64_t base, void *opaque);

/* Routes one access.  Returns FALSE when nothing claims @addr: reads then see all ones, writes are
 * dropped.  An access that straddles the end of a range is cut to the part inside it. */
gboolean hv_bus_dispatch (HvBus *bus, uint64_t addr, uint8_t *data, unsigned len, gboolean is_write);
