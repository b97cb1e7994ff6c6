/* bus.c — one dispatch layer for port I/O and MMIO exits: sorted, non-overlapping ranges, binary search.
 *
 * Lookups take the read side of a reader-writer lock (uncontended: ranges change only when the guest
 * moves a PCI BAR), so vCPUs dispatch in parallel; each device serialises its own state.
 */
#include "bus.h"

#include <string.h>

typedef struct
{
  uint64_t base;
  uint64_t len;
  char *owner;
  HvIoHandler handler;
  void *opaque;
} HvBusRange;

struct _HvBus
{
  char *name;
  GRWLock lock;
  GArray *ranges; /* HvBusRange, sorted by base */
};

static void
range_clear (gpointer data)
{
  HvBusRange *range = data;
  g_free (range->owner);
}

HvBus *
hv_bus_new (const char *name)
{
  HvBus *bus = g_new0 (HvBus, 1);
  bus->name = g_strdup (name);
  bus->ranges = g_array_new (FALSE, TRUE, sizeof (HvBusRange));
  g_array_set_clear_func (bus->ranges, range_clear);
  g_rw_lock_init (&bus->lock);
  return bus;
}

void
hv_bus_free (HvBus *bus)
{
  if (bus == NULL)
    return;
  g_array_unref (bus->ranges);
  g_rw_lock_clear (&bus->lock);
  g_free (bus->name);
  g_free (bus);
}

/* Index of the first range whose end lies above @addr. */
static guint
lower_bound (HvBus *bus, uint64_t addr)
{
  guint lo = 0, hi = bus->ranges->len;
  while (lo < hi)
    {
      guint mid = lo + (hi - lo) / 2;
      HvBusRange *r = &g_array_index (bus->ranges, HvBusRange, mid);
      if (r->base + r->len <= addr)
        lo = mid + 1;
      else
        hi = mid;
    }
  return lo;
}

gboolean
hv_bus_register (HvBus *bus, uint64_t base, uint64_t len, const char *owner, HvIoHandler handler,
                 void *opaque, GError **error)
{
  HvBusRange range = { base, len, NULL, handler, opaque };
  guint at;

  g_return_val_if_fail (handler != NULL, FALSE);

  if (len == 0 || base + len < base)
    {
      g_set_error (error, HV_ERROR, HV_ERROR_INVALID_ARGUMENT,
                   "%s: %s range 0x%" G_GINT64_MODIFIER "x+0x%" G_GINT64_MODIFIER "x is empty or wraps",
                   owner, bus->name, base, len);
      return FALSE;
    }

  g_rw_lock_writer_lock (&bus->lock);
  at = lower_bound (bus, base);
  if (at < bus->ranges->len)
    {
      HvBusRange *next = &g_array_index (bus->ranges, HvBusRange, at);
      if (next->base < base + len)
        {
          g_set_error (error, HV_ERROR, HV_ERROR_INVALID_ARGUMENT,
                       "%s: %s range 0x%" G_GINT64_MODIFIER "x-0x%" G_GINT64_MODIFIER "x overlaps %s at "
                       "0x%" G_GINT64_MODIFIER "x-0x%" G_GINT64_MODIFIER "x",
                       owner, bus->name, base, base + len - 1, next->owner, next->base,
                       next->base + next->len - 1);
          g_rw_lock_writer_unlock (&bus->lock);
          return FALSE;
        }
    }

  range.owner = g_strdup (owner);
  g_array_insert_val (bus->ranges, at, range);
  g_rw_lock_writer_unlock (&bus->lock);
  return TRUE;
}

gboolean
hv_bus_unregister (HvBus *bus, uint64_t base, void *opaque)
{
  gboolean found = FALSE;
  guint at;

  g_rw_lock_writer_lock (&bus->lock);
  at = lower_bound (bus, base);
  if (at < bus->ranges->len)
    {
      HvBusRange *r = &g_array_index (bus->ranges, HvBusRange, at);
      if (r->base == base && r->opaque == opaque)
        {
          g_array_remove_index (bus->ranges, at);
          found = TRUE;
        }
    }
  g_rw_lock_writer_unlock (&bus->lock);
  return found;
}

gboolean
hv_bus_dispatch (HvBus *bus, uint64_t addr, uint8_t *data, unsigned len, gboolean is_write)
{
  HvBusRange r;
  guint at;

  if (!is_write)
    memset (data, 0xff, len);

  g_rw_lock_reader_lock (&bus->lock);
  at = lower_bound (bus, addr);
  if (at >= bus->ranges->len || addr < g_array_index (bus->ranges, HvBusRange, at).base)
    {
      g_rw_lock_reader_unlock (&bus->lock);
      return FALSE;
    }
  r = g_array_index (bus->ranges, HvBusRange, at);
  g_rw_lock_reader_unlock (&bus->lock);
  /* Outside the lock: a handler may move its own ranges (a PCI config write moving an I/O BAR).  Devices
   * live as long as the VM, so an access racing a move reaches the device at its old address, as it
   * could on hardware. */
  r.handler (r.opaque, addr - r.base, data, (unsigned) MIN ((uint64_t) len, r.len - (addr - r.base)),
             is_write);
  return TRUE;
}
