/* kit-virtio-pci.c — the virtio-pci modern transport (virtio 1.x, 4.1) for the kit's polled drivers
 * (kit-virtio.c, kit-virtio-blk.c): the vendor capabilities, reset and feature negotiation, and a
 * split queue's size, doorbell and areas.  Everything the device reports is bounds-checked. */
#include "kit-private.h"

/* The region one vendor capability describes, or NULL when its BAR or range is unusable. */
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
kit_virtio_pci_find (KitVirtioPci *t, const KitPciDevice *pci, uint32_t device_min)
{
  uint32_t common_length = 0;

  memset (t, 0, sizeof *t);
  /* The first capability of each type is the one to use (virtio 1.x, 4.1.4). */
  for (uint8_t cap = kit_pci_next_capability (pci, 0, KIT_PCI_CAP_ID_VENDOR); cap != 0;
       cap = kit_pci_next_capability (pci, cap, KIT_PCI_CAP_ID_VENDOR))
    {
      /* Every field read below must stay inside the 256-byte configuration space. */
      if (cap > 0xff - CAP_NOTIFY_MULT - 3)
        continue;
      uint8_t type = kit_pci_read8 (pci, (uint8_t) (cap + CAP_CFG_TYPE));

      if (type == CAP_COMMON_CFG && t->common == NULL)
        t->common = map_capability (pci, cap, COMMON_CFG_LEN, &common_length);
      else if (type == CAP_NOTIFY_CFG && t->notify_base == NULL)
        {
          t->notify_base = map_capability (pci, cap, 2, &t->notify_length);
          t->notify_multiplier = kit_pci_read32 (pci, (uint8_t) (cap + CAP_NOTIFY_MULT));
        }
      else if (type == CAP_DEVICE_CFG && t->device == NULL)
        t->device = map_capability (pci, cap, device_min, &t->device_length);
    }
  if (t->common && t->notify_base && t->device)
    return true;
  t->common = NULL;
  return false;
}

void
kit_virtio_pci_set_failed (KitVirtioPci *t)
{
  if (t->common)
    write8 (t->common, COMMON_DEVICE_STATUS,
            (uint8_t) (read8 (t->common, COMMON_DEVICE_STATUS) | STATUS_FAILED));
}

const char *
kit_virtio_pci_negotiate (KitVirtioPci *t, uint32_t *features)
{
  volatile uint8_t *common = t->common;

  write8 (common, COMMON_DEVICE_STATUS, 0);
  uint64_t start = kit_rdtsc ();
  while (read8 (common, COMMON_DEVICE_STATUS) != 0)
    {
      if (kit_rdtsc () - start > RESET_TIMEOUT_CYCLES)
        return "the device does not reset";
      cpu_pause ();
    }
  write8 (common, COMMON_DEVICE_STATUS, STATUS_ACKNOWLEDGE);
  write8 (common, COMMON_DEVICE_STATUS, STATUS_ACKNOWLEDGE | STATUS_DRIVER);

  write32 (common, COMMON_DEVICE_FEATURE_SELECT, 1);
  if (!(read32 (common, COMMON_DEVICE_FEATURE) & FEATURE_VERSION_1))
    {
      kit_virtio_pci_set_failed (t);
      return "the device does not offer VIRTIO_F_VERSION_1";
    }
  write32 (common, COMMON_DEVICE_FEATURE_SELECT, 0);
  *features &= read32 (common, COMMON_DEVICE_FEATURE);
  write32 (common, COMMON_DRIVER_FEATURE_SELECT, 0);
  write32 (common, COMMON_DRIVER_FEATURE, *features);
  write32 (common, COMMON_DRIVER_FEATURE_SELECT, 1);
  write32 (common, COMMON_DRIVER_FEATURE, FEATURE_VERSION_1);
  write8 (common, COMMON_DEVICE_STATUS, STATUS_ACKNOWLEDGE | STATUS_DRIVER | STATUS_FEATURES_OK);
  if (!(read8 (common, COMMON_DEVICE_STATUS) & STATUS_FEATURES_OK))
    {
      kit_virtio_pci_set_failed (t);
      return "the device refused FEATURES_OK";
    }
  return NULL;
}

const char *
kit_virtio_pci_queue_size (KitVirtioPci *t, unsigned index, uint16_t wanted, uint16_t min_size,
                           uint16_t *size, volatile uint16_t **notify)
{
  volatile uint8_t *common = t->common;
  const char *problem = NULL;

  if (read16 (common, COMMON_NUM_QUEUES) <= index)
    problem = "the device has too few queues";
  else
    {
      write16 (common, COMMON_QUEUE_SELECT, (uint16_t) index);
      uint16_t max_size = read16 (common, COMMON_QUEUE_SIZE);
      *size = wanted;
      while (*size > max_size)
        *size /= 2; /* split rings are a power of two long */
      if (*size == 0 || *size < min_size)
        problem = "a queue is not available or too short";
    }
  if (problem == NULL)
    {
      write16 (common, COMMON_QUEUE_SIZE, *size);
      uint64_t offset = (uint64_t) read16 (common, COMMON_QUEUE_NOTIFY_OFF) * t->notify_multiplier;
      if (offset > t->notify_length || t->notify_length - offset < 2)
        problem = "a queue's doorbell lies outside the notify region";
      else
        *notify = (volatile uint16_t *) (t->notify_base + offset);
    }
  if (problem)
    kit_virtio_pci_set_failed (t);
  return problem;
}

void
kit_virtio_pci_queue_enable (KitVirtioPci *t, const void *desc, const void *avail, const void *used)
{
  write64 (t->common, COMMON_QUEUE_DESC, (uintptr_t) desc);
  write64 (t->common, COMMON_QUEUE_DRIVER, (uintptr_t) avail);
  write64 (t->common, COMMON_QUEUE_DEVICE, (uintptr_t) used);
  write16 (t->common, COMMON_QUEUE_ENABLE, 1);
}

const char *
kit_virtio_pci_driver_ok (KitVirtioPci *t)
{
  write8 (t->common, COMMON_DEVICE_STATUS,
          STATUS_ACKNOWLEDGE | STATUS_DRIVER | STATUS_FEATURES_OK | STATUS_DRIVER_OK);
  if (read8 (t->common, COMMON_DEVICE_STATUS) & STATUS_FAILED)
    return "the device failed DRIVER_OK";
  return NULL;
}
