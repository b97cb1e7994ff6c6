/* kit-virtio.c — the guest kit's virtio-input driver over virtio-pci modern (virtio 1.x): finds the
 * vendor capabilities, negotiates VERSION_1 only, reads the device's name and event types, and
 * polls one event queue whose buffers go straight back to the device.  No interrupts (the avail
 * ring asks for none) and no status queue.  Everything the device writes (used ring ids and
 * lengths, configuration sizes) is bounds-checked before use. */
#include "kit-private.h"

/* struct virtio_input_config. */
#define INPUT_CFG_SELECT   0
#define INPUT_CFG_SUBSEL   1
#define INPUT_CFG_SIZE     2
#define INPUT_CFG_DATA     8
#define INPUT_CFG_DATA_MAX 128
#define INPUT_CFG_LEN      (INPUT_CFG_DATA + INPUT_CFG_DATA_MAX)
#define INPUT_CFG_ID_NAME  0x01
#define INPUT_CFG_EV_BITS  0x11
#define INPUT_CFG_ABS_INFO 0x12

#define EVENTQ 0

static void
report (const KitVirtioInput *dev, const char *problem)
{
  kit_printf ("kit: virtio-input %02x:%02x.%x: %s\n", dev->pci.bus, dev->pci.slot, dev->pci.function,
              problem);
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
      if (dev->is_tablet && select_config (dev, device_length, INPUT_CFG_ABS_INFO, (uint8_t) axis) >= 8)
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

bool
kit_virtio_input_init (KitVirtioInput *dev, unsigned index)
{
  KitVirtioPci t;
  uint32_t features = 0;
  uint16_t size = 0;
  const char *problem;

  memset (dev, 0, sizeof *dev);
  if (!kit_pci_find (KIT_VIRTIO_VENDOR_ID, KIT_VIRTIO_INPUT_DEVICE_ID, index, &dev->pci))
    return false;
  kit_pci_enable (&dev->pci, KIT_PCI_COMMAND_MEMORY | KIT_PCI_COMMAND_MASTER);
  if (!kit_virtio_pci_find (&t, &dev->pci, INPUT_CFG_DATA))
    {
      report (dev, "no usable common, notify and device configuration capabilities");
      return false;
    }
  dev->common = t.common;
  dev->device = t.device;

  problem = kit_virtio_pci_negotiate (&t, &features);
  if (problem == NULL)
    problem = kit_virtio_pci_queue_size (&t, EVENTQ, KIT_VIRTIO_INPUT_QUEUE, 1, &size, &dev->notify);
  if (problem)
    {
      report (dev, problem);
      return false;
    }
  dev->queue_size = size;

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
  kit_virtio_pci_queue_enable (&t, dev->desc, &dev->avail, &dev->used);

  read_config (dev, t.device_length);

  problem = kit_virtio_pci_driver_ok (&t);
  if (problem)
    {
      report (dev, problem);
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
