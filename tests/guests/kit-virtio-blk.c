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
#define KNOWN_FEATURES                                                                               \
  ((1u << KIT_VIRTIO_BLK_F_RO) | (1u << KIT_VIRTIO_BLK_F_FLUSH) | (1u << KIT_VIRTIO_BLK_F_DISCARD)   \
   | (1u << KIT_VIRTIO_BLK_F_WRITE_ZEROES))

/* About a second at 3 GHz: requests on a test disk take microseconds. */
#define REQUEST_TIMEOUT_CYCLES (1ull << 32)

static void
report (const KitVirtioBlk *dev, const char *problem)
{
  kit_printf ("kit: virtio-blk %02x:%02x.%x: %s\n", dev->pci.bus, dev->pci.slot, dev->pci.function, problem);
}

static void
fail (KitVirtioBlk *dev, const char *problem)
{
  report (dev, problem);
  write8 (dev->common, COMMON_DEVICE_STATUS, (uint8_t) (read8 (dev->common, COMMON_DEVICE_STATUS) | STATUS_FAILED));
}

static volatile uint8_t *
map_capability (const KitPciDevice *pci, uint8_t cap, uint32_t min_length, uint32_t *length)
{
  KitPciBar bar;
  uint8_t bar_index = kit_pci_read8 (pci, (uint8_t) (cap + CAP_BAR));
  uint32_t offset = kit_pci_read32 (pci, (uint8_t) (cap + CAP_OFFSET));

  *length = kit_pci_read32 (pci, (uint8_t) (cap + CAP_LENGTH));
  if (*length < min_length || !kit_pci_bar (pci, bar_index, &bar))
    return NULL;
  return kit_pci_bar_map (&bar, offset, *length);
}

bool
kit_virtio_blk_init (KitVirtioBlk *dev, unsigned index)
{
  volatile uint8_t *notify_base = NULL;
  uint32_t notify_length = 0, notify_multiplier = 0, length = 0;

  memset (dev, 0, sizeof *dev);
  if (!kit_pci_find (KIT_VIRTIO_VENDOR_ID, KIT_VIRTIO_BLK_DEVICE_ID, index, &dev->pci))
    return false;
  kit_pci_enable (&dev->pci, KIT_PCI_COMMAND_MEMORY | KIT_PCI_COMMAND_MASTER);
  for (uint8_t cap = kit_pci_next_capability (&dev->pci, 0, KIT_PCI_CAP_ID_VENDOR); cap != 0;
       cap = kit_pci_next_capability (&dev->pci, cap, KIT_PCI_CAP_ID_VENDOR))
    {
      if (cap > 0xff - CAP_NOTIFY_MULT - 3)
        continue;
      uint8_t type = kit_pci_read8 (&dev->pci, (uint8_t) (cap + CAP_CFG_TYPE));
      if (type == CAP_COMMON_CFG && dev->common == NULL)
        dev->common = map_capability (&dev->pci, cap, COMMON_CFG_LEN, &length);
      else if (type == CAP_NOTIFY_CFG && notify_base == NULL)
        {
          notify_base = map_capability (&dev->pci, cap, 2, &notify_length);
          notify_multiplier = kit_pci_read32 (&dev->pci, (uint8_t) (cap + CAP_NOTIFY_MULT));
        }
      else if (type == CAP_DEVICE_CFG && dev->device == NULL)
        dev->device = map_capability (&dev->pci, cap, BLK_CFG_LEN, &length);
    }
  if (dev->common == NULL || notify_base == NULL || dev->device == NULL)
    {
      report (dev, "no usable common, notify and device configuration capabilities");
      return false;
    }

  volatile uint8_t *common = dev->common;
  write8 (common, COMMON_DEVICE_STATUS, 0);
  uint64_t start = kit_rdtsc ();
  while (read8 (common, COMMON_DEVICE_STATUS) != 0)
    {
      if (kit_rdtsc () - start > RESET_TIMEOUT_CYCLES)
        {
          report (dev, "the device does not reset");
          return false;
        }
      cpu_pause ();
    }
  write8 (common, COMMON_DEVICE_STATUS, STATUS_ACKNOWLEDGE);
  write8 (common, COMMON_DEVICE_STATUS, STATUS_ACKNOWLEDGE | STATUS_DRIVER);

  write32 (common, COMMON_DEVICE_FEATURE_SELECT, 1);
  if (!(read32 (common, COMMON_DEVICE_FEATURE) & FEATURE_VERSION_1))
    {
      fail (dev, "the device does not offer VIRTIO_F_VERSION_1");
      return false;
    }
  write32 (common, COMMON_DEVICE_FEATURE_SELECT, 0);
  dev->features = read32 (common, COMMON_DEVICE_FEATURE) & KNOWN_FEATURES;
  write32 (common, COMMON_DRIVER_FEATURE_SELECT, 0);
  write32 (common, COMMON_DRIVER_FEATURE, dev->features);
  write32 (common, COMMON_DRIVER_FEATURE_SELECT, 1);
  write32 (common, COMMON_DRIVER_FEATURE, FEATURE_VERSION_1);
  write8 (common, COMMON_DEVICE_STATUS, STATUS_ACKNOWLEDGE | STATUS_DRIVER | STATUS_FEATURES_OK);
  if (!(read8 (common, COMMON_DEVICE_STATUS) & STATUS_FEATURES_OK))
    {
      fail (dev, "the device refused FEATURES_OK");
      return false;
    }

  write16 (common, COMMON_QUEUE_SELECT, REQUESTQ);
  uint16_t size = KIT_VIRTIO_INPUT_QUEUE;
  uint16_t max_size = read16 (common, COMMON_QUEUE_SIZE);
  while (size > max_size)
    size /= 2;
  if (size < KIT_VIRTIO_BLK_SEGMENTS + 2)
    {
      fail (dev, "the request queue is too short");
      return false;
    }
  dev->queue_size = size;
  write16 (common, COMMON_QUEUE_SIZE, size);
  uint64_t notify_offset = (uint64_t) read16 (common, COMMON_QUEUE_NOTIFY_OFF) * notify_multiplier;
  if (notify_offset > notify_length || notify_length - notify_offset < 2)
    {
      fail (dev, "the request queue's doorbell lies outside the notify region");
      return false;
    }
  dev->notify = (volatile uint16_t *) (notify_base + notify_offset);
  dev->avail.flags = AVAIL_F_NO_INTERRUPT;
  write64 (common, COMMON_QUEUE_DESC, (uintptr_t) dev->desc);
  write64 (common, COMMON_QUEUE_DRIVER, (uintptr_t) &dev->avail);
  write64 (common, COMMON_QUEUE_DEVICE, (uintptr_t) &dev->used);
  write16 (common, COMMON_QUEUE_ENABLE, 1);

  dev->capacity = (uint64_t) read32 (dev->device, BLK_CFG_CAPACITY)
                  | (uint64_t) read32 (dev->device, BLK_CFG_CAPACITY + 4) << 32;

  write8 (common, COMMON_DEVICE_STATUS, STATUS_ACKNOWLEDGE | STATUS_DRIVER | STATUS_FEATURES_OK | STATUS_DRIVER_OK);
  if (read8 (common, COMMON_DEVICE_STATUS) & STATUS_FAILED)
    {
      report (dev, "the device failed DRIVER_OK");
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

  dev->desc[n] = (KitVirtqDesc){ (uintptr_t) dev->header, sizeof dev->header, DESC_F_NEXT, (uint16_t) (n + 1) };
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
