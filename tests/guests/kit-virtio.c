/* kit-virtio.c — the guest kit's virtio-input driver over virtio-pci modern (virtio 1.x): finds the
 * vendor capabilities, negotiates VERSION_1 only, reads the device's name and event types, and
 * polls one event queue whose buffers go straight back to the device.  No interrupts (the avail
 * ring asks for none) and no status queue.  Everything the device writes (used ring ids and
 * lengths, configuration sizes) is bounds-checked before use. */
#include "kit-private.h"

/* struct virtio_input_config. */
#define INPUT_CFG_SELECT  0
#define INPUT_CFG_SUBSEL  1
#define INPUT_CFG_SIZE    2
#define INPUT_CFG_DATA    8
#define INPUT_CFG_DATA_MAX 128
#define INPUT_CFG_LEN     (INPUT_CFG_DATA + INPUT_CFG_DATA_MAX)
#define INPUT_CFG_ID_NAME 0x01
#define INPUT_CFG_EV_BITS 0x11
#define INPUT_CFG_ABS_INFO 0x12

#define EVENTQ 0


static void
report (const KitVirtioInput *dev, const char *problem)
{
  kit_printf ("kit: virtio-input %02x:%02x.%x: %s\n", dev->pci.bus, dev->pci.slot,
              dev->pci.function, problem);
}

/* The region one vendor capability describes, or NULL when its BAR or range is unusable. */
static volatile uint8_t *
map_capability (const KitVirtioInput *dev, uint8_t cap, uint32_t min_length, uint32_t *length)
{
  KitPciBar bar;
  uint8_t bar_index = kit_pci_read8 (&dev->pci, (uint8_t) (cap + CAP_BAR));
  uint32_t offset = kit_pci_read32 (&dev->pci, (uint8_t) (cap + CAP_OFFSET));

  *length = kit_pci_read32 (&dev->pci, (uint8_t) (cap + CAP_LENGTH));
  if (*length < min_length || !kit_pci_bar (&dev->pci, bar_index, &bar))
    return NULL;
  return kit_pci_bar_map (&bar, offset, *length);
}

static bool
find_capabilities (KitVirtioInput *dev, volatile uint8_t **notify_base, uint32_t *notify_length,
                   uint32_t *notify_multiplier, uint32_t *device_length)
{
  uint32_t common_length = 0;

  /* The first capability of each type is the one to use (virtio 1.x, 4.1.4). */
  for (uint8_t cap = kit_pci_next_capability (&dev->pci, 0, KIT_PCI_CAP_ID_VENDOR); cap != 0;
       cap = kit_pci_next_capability (&dev->pci, cap, KIT_PCI_CAP_ID_VENDOR))
    {
      /* Every field read below must stay inside the 256-byte configuration space. */
      if (cap > 0xff - CAP_NOTIFY_MULT - 3)
        continue;
      uint8_t type = kit_pci_read8 (&dev->pci, (uint8_t) (cap + CAP_CFG_TYPE));

      if (type == CAP_COMMON_CFG && dev->common == NULL)
        dev->common = map_capability (dev, cap, COMMON_CFG_LEN, &common_length);
      else if (type == CAP_NOTIFY_CFG && *notify_base == NULL)
        {
          *notify_base = map_capability (dev, cap, 2, notify_length);
          *notify_multiplier = kit_pci_read32 (&dev->pci, (uint8_t) (cap + CAP_NOTIFY_MULT));
        }
      else if (type == CAP_DEVICE_CFG && dev->device == NULL)
        dev->device = map_capability (dev, cap, INPUT_CFG_DATA, device_length);
    }
  return dev->common && *notify_base && dev->device;
}

/* Selects a configuration item; returns its size, limited to what the region holds. */
static unsigned
select_config (KitVirtioInput *dev, uint32_t device_length, uint8_t select, uint8_t subsel)
{
  write8 (dev->device, INPUT_CFG_SELECT, select);
  write8 (dev->device, INPUT_CFG_SUBSEL, subsel);
  unsigned size = read8 (dev->device, INPUT_CFG_SIZE);
  if (size > INPUT_CFG_DATA_MAX)
    size = INPUT_CFG_DATA_MAX;
  if (INPUT_CFG_DATA + size > device_length)
    size = device_length - INPUT_CFG_DATA;
  return size;
}

static void
read_config (KitVirtioInput *dev, uint32_t device_length)
{
  unsigned size = select_config (dev, device_length, INPUT_CFG_ID_NAME, 0);
  if (size > sizeof dev->name - 1)
    size = sizeof dev->name - 1;
  /* The name may or may not count a terminating NUL; it ends at the first one either way. */
  unsigned len = 0;
  for (; len < size; len++)
    {
      char c = (char) read8 (dev->device, INPUT_CFG_DATA + len);
      if (c == '\0')
        break;
      dev->name[len] = c >= 0x20 && c < 0x7f ? c : '?';
    }
  dev->name[len] = '\0';

  bool has_keys = select_config (dev, device_length, INPUT_CFG_EV_BITS, KIT_EV_KEY) > 0;
  dev->is_tablet = select_config (dev, device_length, INPUT_CFG_EV_BITS, KIT_EV_ABS) > 0;
  dev->is_keyboard = has_keys && !dev->is_tablet;

  for (unsigned axis = 0; axis < 2; axis++)
    {
      dev->abs_min[axis] = 0;
      dev->abs_max[axis] = 32767;
      /* struct virtio_input_absinfo: min, max, fuzz, flat, res. */
      if (dev->is_tablet
          && select_config (dev, device_length, INPUT_CFG_ABS_INFO, (uint8_t) axis) >= 8)
        {
          uint32_t min = read32 (dev->device, INPUT_CFG_DATA);
          uint32_t max = read32 (dev->device, INPUT_CFG_DATA + 4);
          if ((int32_t) min < (int32_t) max)
            {
              dev->abs_min[axis] = min;
              dev->abs_max[axis] = max;
            }
        }
    }
}

static void
fail (KitVirtioInput *dev, const char *problem)
{
  report (dev, problem);
  if (dev->common)
    write8 (dev->common, COMMON_DEVICE_STATUS,
            (uint8_t) (read8 (dev->common, COMMON_DEVICE_STATUS) | STATUS_FAILED));
}

bool
kit_virtio_input_init (KitVirtioInput *dev, unsigned index)
{
  volatile uint8_t *notify_base = NULL;
  uint32_t notify_length = 0, notify_multiplier = 0, device_length = 0;

  memset (dev, 0, sizeof *dev);
  if (!kit_pci_find (KIT_VIRTIO_VENDOR_ID, KIT_VIRTIO_INPUT_DEVICE_ID, index, &dev->pci))
    return false;
  kit_pci_enable (&dev->pci, KIT_PCI_COMMAND_MEMORY | KIT_PCI_COMMAND_MASTER);
  if (!find_capabilities (dev, &notify_base, &notify_length, &notify_multiplier, &device_length))
    {
      report (dev, "no usable common, notify and device configuration capabilities");
      dev->common = NULL;
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
  write32 (common, COMMON_DRIVER_FEATURE_SELECT, 0);
  write32 (common, COMMON_DRIVER_FEATURE, 0);
  write32 (common, COMMON_DRIVER_FEATURE_SELECT, 1);
  write32 (common, COMMON_DRIVER_FEATURE, FEATURE_VERSION_1);
  write8 (common, COMMON_DEVICE_STATUS, STATUS_ACKNOWLEDGE | STATUS_DRIVER | STATUS_FEATURES_OK);
  if (!(read8 (common, COMMON_DEVICE_STATUS) & STATUS_FEATURES_OK))
    {
      fail (dev, "the device refused FEATURES_OK");
      return false;
    }

  if (read16 (common, COMMON_NUM_QUEUES) < 1)
    {
      fail (dev, "the device has no queues");
      return false;
    }
  write16 (common, COMMON_QUEUE_SELECT, EVENTQ);
  uint16_t max_size = read16 (common, COMMON_QUEUE_SIZE);
  uint16_t size = KIT_VIRTIO_INPUT_QUEUE;
  while (size > max_size)
    size /= 2; /* split rings are a power of two long */
  if (size == 0)
    {
      fail (dev, "the event queue is not available");
      return false;
    }
  dev->queue_size = size;
  write16 (common, COMMON_QUEUE_SIZE, size);

  uint64_t notify_offset = (uint64_t) read16 (common, COMMON_QUEUE_NOTIFY_OFF) * notify_multiplier;
  if (notify_offset > notify_length || notify_length - notify_offset < 2)
    {
      fail (dev, "the event queue's doorbell lies outside the notify region");
      return false;
    }
  dev->notify = (volatile uint16_t *) (notify_base + notify_offset);

  /* Every buffer goes to the device at once; the avail ring asks for no interrupts. */
  for (uint16_t i = 0; i < size; i++)
    {
      dev->desc[i].addr = (uintptr_t) &dev->events[i];
      dev->desc[i].len = sizeof dev->events[i];
      dev->desc[i].flags = DESC_F_WRITE;
      dev->avail.ring[i] = i;
    }
  dev->avail.flags = AVAIL_F_NO_INTERRUPT;
  dev->avail.idx = size;
  write64 (common, COMMON_QUEUE_DESC, (uintptr_t) dev->desc);
  write64 (common, COMMON_QUEUE_DRIVER, (uintptr_t) &dev->avail);
  write64 (common, COMMON_QUEUE_DEVICE, (uintptr_t) &dev->used);
  write16 (common, COMMON_QUEUE_ENABLE, 1);

  read_config (dev, device_length);

  write8 (common, COMMON_DEVICE_STATUS,
          STATUS_ACKNOWLEDGE | STATUS_DRIVER | STATUS_FEATURES_OK | STATUS_DRIVER_OK);
  if (read8 (common, COMMON_DEVICE_STATUS) & STATUS_FAILED)
    {
      report (dev, "the device failed DRIVER_OK");
      return false;
    }
  *dev->notify = EVENTQ;
  return true;
}

bool
kit_virtio_input_poll (KitVirtioInput *dev, KitInputEvent *event)
{
  volatile KitVirtqUsed *used = &dev->used;
  volatile KitVirtqAvail *avail = &dev->avail;

  if (dev->queue_size == 0)
    return false;
  for (;;)
    {
      uint16_t used_idx = used->idx;
      if (used_idx == dev->last_used)
        break;
      /* x86 keeps loads in order: what the ring entry points at was written before idx. */
      barrier ();
      uint32_t id = used->ring[dev->last_used % dev->queue_size].id;
      uint32_t len = used->ring[dev->last_used % dev->queue_size].len;
      dev->last_used++;
      if (id >= dev->queue_size)
        continue; /* not a buffer we gave: nothing to read or give back */

      volatile KitInputEvent *written = &dev->events[id];
      KitInputEvent copy = { written->type, written->code, written->value };

      avail->ring[avail->idx % dev->queue_size] = (uint16_t) id;
      barrier ();
      avail->idx = (uint16_t) (avail->idx + 1);
      dev->need_notify = true;
      if (len < sizeof copy)
        continue;
      *event = copy;
      return true;
    }

  if (dev->need_notify)
    {
      /* The device may be checking the flag while we published: order the idx store first. */
      __asm__ volatile("mfence" ::: "memory");
      if (!(used->flags & USED_F_NO_NOTIFY))
        *dev->notify = EVENTQ;
      dev->need_notify = false;
    }
  return false;
}
