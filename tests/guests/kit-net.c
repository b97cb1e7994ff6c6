/* kit-net.c — the guest kit's virtio-net driver over virtio-pci modern: polled, one receive and one
 * transmit queue of KIT_NET_QUEUE buffers each, VERSION_1 and MAC only (no offloads, no mergeable
 * buffers: every receive buffer holds a whole frame).  Like kit-virtio.c it asks for no interrupts
 * and checks everything the device writes (used ids and lengths) before use.
 *
 * Doorbells are VM exits, the dearest thing a guest does where exits cost tens of microseconds (this
 * host), so the driver rings few: frames may be queued and sent with one doorbell
 * (kit_virtio_net_queue_frame, kit_virtio_net_flush), and receive buffers go back to the device
 * without one until half the ring is back; the device always knows of at least the other half, so it
 * is never left without buffers while the driver holds back. */
#include "kit-private.h"

/* The virtio-pci register layout is kit-private.h's; this device's own feature bit: */
#define FEATURE_MAC (1u << 5) /* word 0 */

#define RXQ     0
#define TXQ     1
#define HDR_LEN 12 /* struct virtio_net_hdr with VERSION_1 */
#define BUF_LEN 2048

#define RESET_TIMEOUT_CYCLES (1ull << 26)

typedef struct
{
  uint64_t addr;
  uint32_t len;
  uint16_t flags;
  uint16_t next;
} Desc;

typedef struct
{
  Desc desc[KIT_NET_QUEUE] __attribute__ ((aligned (4096)));
  struct
  {
    uint16_t flags;
    uint16_t idx;
    uint16_t ring[KIT_NET_QUEUE];
  } avail __attribute__ ((aligned (64)));
  struct
  {
    uint16_t flags;
    uint16_t idx;
    struct
    {
      uint32_t id;
      uint32_t len;
    } ring[KIT_NET_QUEUE];
  } used __attribute__ ((aligned (64)));
  uint8_t buffers[KIT_NET_QUEUE][BUF_LEN];
  volatile uint16_t *notify;
  uint16_t last_used;
  uint16_t index;
} Queue;

static struct
{
  Queue rx;
  Queue tx;
  KitPciDevice pci;
  volatile uint8_t *common;
  volatile uint8_t *device;
  volatile uint8_t *notify_base;
  uint32_t notify_length;
  uint32_t notify_multiplier;
  uint16_t tx_free; /* transmit buffers not with the device */
  uint16_t tx_next;
  uint16_t tx_unkicked; /* frames published since the last transmit doorbell */
  uint16_t rx_unkicked; /* buffers given back since the last receive doorbell */
} nic;

static bool
fail (const char *problem)
{
  kit_printf ("kit: virtio-net %02x:%02x.%x: %s\n", nic.pci.bus, nic.pci.slot, nic.pci.function, problem);
  if (nic.common)
    write8 (nic.common, COMMON_DEVICE_STATUS,
            (uint8_t) (read8 (nic.common, COMMON_DEVICE_STATUS) | STATUS_FAILED));
  return false;
}

static volatile uint8_t *
map_capability (uint8_t cap, uint32_t min_length, uint32_t *length)
{
  KitPciBar bar;
  uint8_t bar_index = kit_pci_read8 (&nic.pci, (uint8_t) (cap + CAP_BAR));
  uint32_t offset = kit_pci_read32 (&nic.pci, (uint8_t) (cap + CAP_OFFSET));

  *length = kit_pci_read32 (&nic.pci, (uint8_t) (cap + CAP_LENGTH));
  if (*length < min_length || !kit_pci_bar (&nic.pci, bar_index, &bar))
    return NULL;
  return kit_pci_bar_map (&bar, offset, *length);
}

static bool
find_capabilities (void)
{
  uint32_t length;

  for (uint8_t cap = kit_pci_next_capability (&nic.pci, 0, KIT_PCI_CAP_ID_VENDOR); cap != 0;
       cap = kit_pci_next_capability (&nic.pci, cap, KIT_PCI_CAP_ID_VENDOR))
    {
      if (cap > 0xff - CAP_NOTIFY_MULT - 3)
        continue;
      uint8_t type = kit_pci_read8 (&nic.pci, (uint8_t) (cap + CAP_CFG_TYPE));

      if (type == CAP_COMMON_CFG && nic.common == NULL)
        nic.common = map_capability (cap, COMMON_CFG_LEN, &length);
      else if (type == CAP_NOTIFY_CFG && nic.notify_base == NULL)
        {
          nic.notify_base = map_capability (cap, 2, &nic.notify_length);
          nic.notify_multiplier = kit_pci_read32 (&nic.pci, (uint8_t) (cap + CAP_NOTIFY_MULT));
        }
      else if (type == CAP_DEVICE_CFG && nic.device == NULL)
        nic.device = map_capability (cap, 6, &length);
    }
  return nic.common && nic.notify_base && nic.device;
}

static bool
setup_queue (Queue *q, uint16_t index, bool writable)
{
  volatile uint8_t *common = nic.common;

  write16 (common, COMMON_QUEUE_SELECT, index);
  if (read16 (common, COMMON_QUEUE_SIZE) < KIT_NET_QUEUE)
    return fail ("a queue is shorter than the driver's");
  write16 (common, COMMON_QUEUE_SIZE, KIT_NET_QUEUE);
  uint64_t offset = (uint64_t) read16 (common, COMMON_QUEUE_NOTIFY_OFF) * nic.notify_multiplier;
  if (offset > nic.notify_length || nic.notify_length - offset < 2)
    return fail ("a doorbell lies outside the notify region");
  q->notify = (volatile uint16_t *) (nic.notify_base + offset);
  q->index = index;
  for (uint16_t i = 0; i < KIT_NET_QUEUE; i++)
    {
      q->desc[i].addr = (uintptr_t) q->buffers[i];
      q->desc[i].len = BUF_LEN;
      q->desc[i].flags = writable ? DESC_F_WRITE : 0;
      q->avail.ring[i] = i;
    }
  q->avail.flags = AVAIL_F_NO_INTERRUPT;
  /* Receive buffers all go to the device now; transmit buffers when there is something to send. */
  q->avail.idx = writable ? KIT_NET_QUEUE : 0;
  write64 (common, COMMON_QUEUE_DESC, (uintptr_t) q->desc);
  write64 (common, COMMON_QUEUE_DRIVER, (uintptr_t) &q->avail);
  write64 (common, COMMON_QUEUE_DEVICE, (uintptr_t) &q->used);
  write16 (common, COMMON_QUEUE_ENABLE, 1);
  return true;
}

bool
kit_virtio_net_init (unsigned index, uint8_t mac[6])
{
  memset (&nic, 0, sizeof nic);
  if (!kit_pci_find (KIT_VIRTIO_VENDOR_ID, KIT_VIRTIO_NET_DEVICE_ID, index, &nic.pci))
    return false;
  kit_pci_enable (&nic.pci, KIT_PCI_COMMAND_MEMORY | KIT_PCI_COMMAND_MASTER);
  if (!find_capabilities ())
    {
      nic.common = NULL;
      return fail ("no usable common, notify and device configuration capabilities");
    }

  volatile uint8_t *common = nic.common;
  write8 (common, COMMON_DEVICE_STATUS, 0);
  uint64_t start = kit_rdtsc ();
  while (read8 (common, COMMON_DEVICE_STATUS) != 0)
    {
      if (kit_rdtsc () - start > RESET_TIMEOUT_CYCLES)
        return fail ("the device does not reset");
      cpu_pause ();
    }
  write8 (common, COMMON_DEVICE_STATUS, STATUS_ACKNOWLEDGE);
  write8 (common, COMMON_DEVICE_STATUS, STATUS_ACKNOWLEDGE | STATUS_DRIVER);

  write32 (common, COMMON_DEVICE_FEATURE_SELECT, 0);
  uint32_t low = read32 (common, COMMON_DEVICE_FEATURE);
  write32 (common, COMMON_DEVICE_FEATURE_SELECT, 1);
  if (!(read32 (common, COMMON_DEVICE_FEATURE) & FEATURE_VERSION_1))
    return fail ("the device does not offer VIRTIO_F_VERSION_1");
  write32 (common, COMMON_DRIVER_FEATURE_SELECT, 0);
  write32 (common, COMMON_DRIVER_FEATURE, low & FEATURE_MAC);
  write32 (common, COMMON_DRIVER_FEATURE_SELECT, 1);
  write32 (common, COMMON_DRIVER_FEATURE, FEATURE_VERSION_1);
  write8 (common, COMMON_DEVICE_STATUS, STATUS_ACKNOWLEDGE | STATUS_DRIVER | STATUS_FEATURES_OK);
  if (!(read8 (common, COMMON_DEVICE_STATUS) & STATUS_FEATURES_OK))
    return fail ("the device refused FEATURES_OK");
  if (read16 (common, COMMON_NUM_QUEUES) < 2)
    return fail ("the device has fewer than two queues");

  /* Without VIRTIO_NET_F_MAC the driver would pick one; the kit's guests need the device's. */
  if (!(low & FEATURE_MAC))
    return fail ("the device does not offer VIRTIO_NET_F_MAC");
  for (unsigned i = 0; i < 6; i++)
    mac[i] = read8 (nic.device, i);

  if (!setup_queue (&nic.rx, RXQ, true) || !setup_queue (&nic.tx, TXQ, false))
    return false;
  nic.tx_free = KIT_NET_QUEUE;

  write8 (common, COMMON_DEVICE_STATUS,
          STATUS_ACKNOWLEDGE | STATUS_DRIVER | STATUS_FEATURES_OK | STATUS_DRIVER_OK);
  if (read8 (common, COMMON_DEVICE_STATUS) & STATUS_FAILED)
    return fail ("the device failed DRIVER_OK");
  *nic.rx.notify = RXQ;
  return true;
}

static void
kick (Queue *q)
{
  /* The device may be checking the flag while we published: order the idx store first. */
  __asm__ volatile("mfence" ::: "memory");
  if (!(q->used.flags & USED_F_NO_NOTIFY))
    *q->notify = q->index;
}

/* Takes back the transmit buffers the device is done with. */
static void
reclaim_tx (void)
{
  volatile uint16_t *used_idx = &nic.tx.used.idx;

  while (*used_idx != nic.tx.last_used)
    {
      barrier ();
      nic.tx.last_used++;
      if (nic.tx_free < KIT_NET_QUEUE)
        nic.tx_free++;
    }
}

void
kit_virtio_net_flush (void)
{
  if (nic.tx_unkicked == 0)
    return;
  nic.tx_unkicked = 0;
  kick (&nic.tx);
}

bool
kit_virtio_net_queue_frame (const void *frame, size_t len)
{
  if (nic.common == NULL || len > BUF_LEN - HDR_LEN)
    return false;
  reclaim_tx ();
  if (nic.tx_free == 0)
    kit_virtio_net_flush (); /* the device may not know of what it has to send yet */
  /* The clock is read only when there is a wait to time: not per frame. */
  uint64_t start = nic.tx_free == 0 ? kit_rdtsc () : 0;
  for (; nic.tx_free == 0; reclaim_tx ())
    {
      /* Seconds: a device whose thread a busy host starves for a while is slow, not gone. */
      if (kit_rdtsc () - start > RESET_TIMEOUT_CYCLES * 256)
        return false;
      cpu_pause ();
    }
  /* Buffers are used in turn, so the next one is free when any is. */
  uint16_t id = nic.tx_next;
  nic.tx_next = (uint16_t) ((nic.tx_next + 1) % KIT_NET_QUEUE);
  nic.tx_free--;
  memset (nic.tx.buffers[id], 0, HDR_LEN);
  memcpy (nic.tx.buffers[id] + HDR_LEN, frame, len);
  nic.tx.desc[id].len = (uint32_t) (HDR_LEN + len);
  nic.tx.avail.ring[nic.tx.avail.idx % KIT_NET_QUEUE] = id;
  barrier ();
  nic.tx.avail.idx++;
  nic.tx_unkicked++;
  return true;
}

bool
kit_virtio_net_send (const void *frame, size_t len)
{
  if (!kit_virtio_net_queue_frame (frame, len))
    return false;
  kit_virtio_net_flush ();
  return true;
}

size_t
kit_virtio_net_receive (void *frame, size_t max)
{
  volatile uint16_t *used_idx = &nic.rx.used.idx;

  if (nic.common == NULL)
    return 0;
  while (*used_idx != nic.rx.last_used)
    {
      barrier ();
      uint32_t id = nic.rx.used.ring[nic.rx.last_used % KIT_NET_QUEUE].id;
      uint32_t len = nic.rx.used.ring[nic.rx.last_used % KIT_NET_QUEUE].len;
      size_t copied = 0;

      nic.rx.last_used++;
      if (id >= KIT_NET_QUEUE)
        continue; /* not a buffer we gave */
      if (len > HDR_LEN && len <= BUF_LEN)
        {
          copied = len - HDR_LEN < max ? len - HDR_LEN : max;
          memcpy (frame, nic.rx.buffers[id] + HDR_LEN, copied);
        }
      nic.rx.avail.ring[nic.rx.avail.idx % KIT_NET_QUEUE] = (uint16_t) id;
      barrier ();
      nic.rx.avail.idx++;
      if (++nic.rx_unkicked >= KIT_NET_QUEUE / 2)
        {
          nic.rx_unkicked = 0;
          kick (&nic.rx);
        }
      if (copied > 0)
        return copied;
    }
  return 0;
}
