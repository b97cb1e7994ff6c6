/* kit-virtio-blk.c — the guest kit's virtio-blk driver over virtio-pci modern (virtio 1.x): one
 * queue, one request at a time (header, data buffers, status byte in one chain), polled through the
 * used ring with a timeout.  No interrupts: the avail ring asks for none. */
#include "kit-private.h"

/* struct virtio_blk_config. */
#define BLK_CFG_CAPACITY 0
#define BLK_CFG_LEN      8

#define DESC_F_NEXT 1
#define REQUESTQ    0

/* Feature bits the kit accepts when offered (the rest it does not need). */
#define KNOWN_FEATURES                                                                                       \
  ((1u << KIT_VIRTIO_BLK_F_RO) | (1u << KIT_VIRTIO_BLK_F_FLUSH) | (1u << KIT_VIRTIO_BLK_F_DISCARD)           \
   | (1u << KIT_VIRTIO_BLK_F_WRITE_ZEROES))

/* About a second at 3 GHz: requests on a test disk take microseconds. */
#define REQUEST_TIMEOUT_CYCLES (1ull << 32)

static void
report (const KitVirtioBlk *dev, const char *problem)
{
  kit_printf ("kit: virtio-blk %02x:%02x.%x: %s\n", dev->pci.bus, dev->pci.slot, dev->pci.function, problem);
}

bool
kit_virtio_blk_init (KitVirtioBlk *dev, unsigned index)
{
  return kit_virtio_blk_init_without (dev, index, 0);
}

bool
kit_virtio_blk_init_without (KitVirtioBlk *dev, unsigned index, uint32_t refused)
{
  KitVirtioPci t;
  const char *problem;

  memset (dev, 0, sizeof *dev);
  if (!kit_pci_find (KIT_VIRTIO_VENDOR_ID, KIT_VIRTIO_BLK_DEVICE_ID, index, &dev->pci))
    return false;
  kit_pci_enable (&dev->pci, KIT_PCI_COMMAND_MEMORY | KIT_PCI_COMMAND_MASTER);
  if (!kit_virtio_pci_find (&t, &dev->pci, BLK_CFG_LEN))
    {
      report (dev, "no usable common, notify and device configuration capabilities");
      return false;
    }
  dev->common = t.common;
  dev->device = t.device;
  dev->features = KNOWN_FEATURES & ~refused;
  problem = kit_virtio_pci_negotiate (&t, &dev->features);
  if (problem == NULL)
    problem = kit_virtio_pci_queue_size (&t, REQUESTQ, KIT_VIRTIO_INPUT_QUEUE, KIT_VIRTIO_BLK_SEGMENTS + 2,
                                         &dev->queue_size, &dev->notify);
  if (problem)
    {
      report (dev, problem);
      dev->queue_size = 0;
      return false;
    }
  dev->avail.flags = AVAIL_F_NO_INTERRUPT;
  kit_virtio_pci_queue_enable (&t, dev->desc, &dev->avail, &dev->used);
  dev->capacity = (uint64_t) read32 (dev->device, BLK_CFG_CAPACITY)
                  | (uint64_t) read32 (dev->device, BLK_CFG_CAPACITY + 4) << 32;
  problem = kit_virtio_pci_driver_ok (&t);
  if (problem)
    {
      report (dev, problem);
      dev->queue_size = 0;
      return false;
    }
  return true;
}

static void
put_le32 (uint8_t *p, uint32_t value)
{
  for (unsigned i = 0; i < 4; i++)
    p[i] = (uint8_t) (value >> (8 * i));
}

static void
put_le64 (uint8_t *p, uint64_t value)
{
  put_le32 (p, (uint32_t) value);
  put_le32 (p + 4, (uint32_t) (value >> 32));
}

int
kit_virtio_blk_request (KitVirtioBlk *dev, uint32_t type, uint64_t sector, const KitBlkSegment *segments,
                        unsigned n_segments)
{
  bool device_writes = type == KIT_VIRTIO_BLK_T_IN || type == KIT_VIRTIO_BLK_T_GET_ID;
  volatile KitVirtqUsed *used = &dev->used;
  unsigned n = 0;

  if (dev->queue_size == 0 || n_segments > KIT_VIRTIO_BLK_SEGMENTS)
    return -1;
  put_le32 (dev->header, type);
  put_le32 (dev->header + 4, 0);
  put_le64 (dev->header + 8, sector);
  dev->status = 0xff;

  dev->desc[n] = (KitVirtqDesc){ (uintptr_t) dev->header, sizeof dev->header, DESC_F_NEXT,
                                 (uint16_t) (n + 1) };
  n++;
  for (unsigned i = 0; i < n_segments; i++, n++)
    dev->desc[n] = (KitVirtqDesc){ (uintptr_t) segments[i].data, segments[i].len,
                                   (uint16_t) (DESC_F_NEXT | (device_writes ? DESC_F_WRITE : 0)),
                                   (uint16_t) (n + 1) };
  dev->desc[n] = (KitVirtqDesc){ (uintptr_t) &dev->status, 1, DESC_F_WRITE, 0 };

  dev->avail.ring[dev->avail.idx % dev->queue_size] = 0;
  __asm__ volatile("" ::: "memory");
  dev->avail.idx = (uint16_t) (dev->avail.idx + 1);
  __asm__ volatile("mfence" ::: "memory");
  if (!(used->flags & USED_F_NO_NOTIFY))
    *dev->notify = REQUESTQ;

  uint64_t start = kit_rdtsc ();
  while (used->idx == dev->last_used)
    {
      if (kit_rdtsc () - start > REQUEST_TIMEOUT_CYCLES)
        return -1;
      cpu_pause ();
    }
  __asm__ volatile("" ::: "memory");
  dev->last_used++;
  return dev->status;
}

int
kit_virtio_blk_range (KitVirtioBlk *dev, uint32_t type, uint64_t sector, uint32_t count)
{
  KitBlkSegment segment = { dev->ranges, sizeof dev->ranges };

  put_le64 (dev->ranges, sector);
  put_le32 (dev->ranges + 8, count);
  put_le32 (dev->ranges + 12, 0);
  return kit_virtio_blk_request (dev, type, 0, &segment, 1);
}
