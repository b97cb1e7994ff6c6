/* kit-virtio-serial.c — the guest kit's virtio-serial driver (virtio-console with MULTIPORT, virtio 1.2
 * §5.3) over virtio-pci modern: the control queues, a named port found by its PORT_NAME and opened,
 * its bytes in and out, all polled.  No interrupts: the avail rings ask for none. */
#include "kit-private.h"

#define F_MULTIPORT   1
#define CONTROL_RX    2
#define CONTROL_TX    3
#define CFG_MAX_PORTS 4

#define EVENT_DEVICE_READY 0
#define EVENT_DEVICE_ADD   1
#define EVENT_PORT_READY   3
#define EVENT_PORT_OPEN    6
#define EVENT_PORT_NAME    7

/* About a second at 3 GHz. */
#define TIMEOUT_CYCLES (1ull << 32)

static void
report (const KitVirtioSerial *dev, const char *problem)
{
  kit_printf ("kit: virtio-serial %02x:%02x.%x: %s\n", dev->pci.bus, dev->pci.slot, dev->pci.function,
              problem);
}

static void
put_le (uint8_t *p, uint32_t value, unsigned bytes)
{
  for (unsigned i = 0; i < bytes; i++)
    p[i] = (uint8_t) (value >> (8 * i));
}

static uint32_t
get_le (const volatile uint8_t *p, unsigned bytes)
{
  uint32_t value = 0;

  for (unsigned i = 0; i < bytes; i++)
    value |= (uint32_t) p[i] << (8 * i);
  return value;
}

static void
queue_add (KitSerialQueue *q, void *buffer, uint32_t len, bool writable)
{
  uint16_t slot = (uint16_t) (q->avail.idx % KIT_SERIAL_QUEUE);

  q->desc[slot] = (KitVirtqDesc){ (uintptr_t) buffer, len, writable ? DESC_F_WRITE : 0, 0 };
  q->avail.ring[slot] = slot;
  barrier ();
  q->avail.idx = (uint16_t) (q->avail.idx + 1);
  __asm__ volatile("mfence" ::: "memory");
  if (!(q->used.flags & USED_F_NO_NOTIFY))
    *q->notify = q->index;
}

/* The next used buffer's descriptor and length; false when there is none. */
static bool
queue_used (KitSerialQueue *q, uint16_t *slot, uint32_t *len)
{
  volatile KitSerialUsed *used = &q->used;

  if (used->idx == q->last_used)
    return false;
  barrier ();
  *slot = (uint16_t) used->ring[q->last_used % KIT_SERIAL_QUEUE].id;
  *len = used->ring[q->last_used % KIT_SERIAL_QUEUE].len;
  q->last_used++;
  return *slot < KIT_SERIAL_QUEUE;
}

static const char *
queue_setup (KitVirtioPci *t, KitSerialQueue *q, unsigned index)
{
  uint16_t size;
  const char *problem = kit_virtio_pci_queue_size (t, index, KIT_SERIAL_QUEUE, KIT_SERIAL_QUEUE, &size,
                                                   &q->notify);

  if (problem)
    return problem;
  q->index = (uint16_t) index;
  q->avail.flags = AVAIL_F_NO_INTERRUPT;
  kit_virtio_pci_queue_enable (t, q->desc, &q->avail, &q->used);
  return NULL;
}

/* Sends one control message and waits for the device to take it. */
static bool
send_control (KitVirtioSerial *dev, uint32_t id, uint16_t event, uint16_t value)
{
  KitSerialQueue *q = &dev->control_tx;
  uint64_t start = kit_rdtsc ();
  uint16_t slot;
  uint32_t len;

  put_le (dev->control_out, id, 4);
  put_le (dev->control_out + 4, event, 2);
  put_le (dev->control_out + 6, value, 2);
  queue_add (q, dev->control_out, 8, false);
  while (!queue_used (q, &slot, &len))
    {
      if (kit_rdtsc () - start > TIMEOUT_CYCLES)
        return false;
      cpu_pause ();
    }
  return true;
}

bool
kit_virtio_serial_init (KitVirtioSerial *dev, unsigned index)
{
  KitVirtioPci t;
  const char *problem;
  uint32_t features = 1u << F_MULTIPORT;

  memset (dev, 0, sizeof *dev);
  if (!kit_pci_find (KIT_VIRTIO_VENDOR_ID, KIT_VIRTIO_SERIAL_DEVICE_ID, index, &dev->pci))
    return false;
  kit_pci_enable (&dev->pci, KIT_PCI_COMMAND_MEMORY | KIT_PCI_COMMAND_MASTER);
  if (!kit_virtio_pci_find (&t, &dev->pci, 12))
    {
      report (dev, "no usable common, notify and device configuration capabilities");
      return false;
    }
  problem = kit_virtio_pci_negotiate (&t, &features);
  if (problem == NULL && !(features & (1u << F_MULTIPORT)))
    problem = "no MULTIPORT";
  if (problem == NULL)
    {
      uint32_t max_ports = read32 (t.device, CFG_MAX_PORTS);
      dev->n_ports = max_ports > KIT_SERIAL_PORTS + 1 ? KIT_SERIAL_PORTS : max_ports - 1;
      problem = queue_setup (&t, &dev->control_rx, CONTROL_RX);
    }
  if (problem == NULL)
    problem = queue_setup (&t, &dev->control_tx, CONTROL_TX);
  for (unsigned i = 0; problem == NULL && i < dev->n_ports; i++)
    {
      problem = queue_setup (&t, &dev->rx[i], 4 + 2 * i);
      if (problem == NULL)
        problem = queue_setup (&t, &dev->tx[i], 5 + 2 * i);
    }
  if (problem == NULL)
    problem = kit_virtio_pci_driver_ok (&t);
  if (problem)
    {
      report (dev, problem);
      return false;
    }
  for (unsigned i = 0; i < KIT_SERIAL_QUEUE; i++)
    queue_add (&dev->control_rx, dev->control_in[i], sizeof dev->control_in[i], true);
  for (unsigned p = 0; p < dev->n_ports; p++)
    for (unsigned i = 0; i < KIT_SERIAL_QUEUE; i++)
      queue_add (&dev->rx[p], dev->data_in[p][i], sizeof dev->data_in[p][i], true);
  if (!send_control (dev, 0, EVENT_DEVICE_READY, 1))
    {
      report (dev, "the device does not take control messages");
      return false;
    }
  return true;
}

/* Handles the device's control messages: ports are made ready as they come, @name's is opened. */
static int
poll_control (KitVirtioSerial *dev, const char *name)
{
  uint16_t slot;
  uint32_t len;
  int found = -1;

  while (queue_used (&dev->control_rx, &slot, &len))
    {
      const uint8_t *m = dev->control_in[slot];
      uint32_t id = get_le (m, 4);
      uint16_t event = (uint16_t) get_le (m + 4, 2);
      uint16_t value = (uint16_t) get_le (m + 6, 2);

      if (len >= 8 && id >= 1 && id <= dev->n_ports)
        {
          if (event == EVENT_DEVICE_ADD)
            send_control (dev, id, EVENT_PORT_READY, 1);
          else if (event == EVENT_PORT_OPEN)
            dev->host_connected[id - 1] = value == 1;
          else if (event == EVENT_PORT_NAME && name && len - 8 == strlen (name)
                   && memcmp (m + 8, name, len - 8) == 0)
            found = (int) id;
        }
      queue_add (&dev->control_rx, dev->control_in[slot], sizeof dev->control_in[slot], true);
    }
  return found;
}

int
kit_virtio_serial_open (KitVirtioSerial *dev, const char *name)
{
  uint64_t start = kit_rdtsc ();

  for (;;)
    {
      int id = poll_control (dev, name);
      if (id > 0)
        return send_control (dev, (uint32_t) id, EVENT_PORT_OPEN, 1) ? id : -1;
      if (kit_rdtsc () - start > 4 * TIMEOUT_CYCLES)
        return -1;
      cpu_pause ();
    }
}

size_t
kit_virtio_serial_read (KitVirtioSerial *dev, int id, uint8_t *buffer, size_t size)
{
  KitSerialQueue *q = &dev->rx[id - 1];
  uint16_t slot;
  uint32_t len;

  poll_control (dev, NULL);
  if (size < KIT_SERIAL_BUFFER || !queue_used (q, &slot, &len))
    return 0;
  if (len > KIT_SERIAL_BUFFER)
    len = KIT_SERIAL_BUFFER;
  memcpy (buffer, dev->data_in[id - 1][slot], len);
  queue_add (q, dev->data_in[id - 1][slot], KIT_SERIAL_BUFFER, true);
  return len;
}

bool
kit_virtio_serial_write (KitVirtioSerial *dev, int id, const void *data, size_t len)
{
  KitSerialQueue *q = &dev->tx[id - 1];
  uint64_t start = kit_rdtsc ();
  uint16_t slot;
  uint32_t used_len;

  while (len > 0)
    {
      size_t n = len < KIT_SERIAL_BUFFER ? len : KIT_SERIAL_BUFFER;

      memcpy (dev->data_out, data, n);
      queue_add (q, dev->data_out, (uint32_t) n, false);
      while (!queue_used (q, &slot, &used_len))
        {
          if (kit_rdtsc () - start > 4 * TIMEOUT_CYCLES)
            return false;
          cpu_pause ();
        }
      data = (const uint8_t *) data + n;
      len -= n;
    }
  return true;
}
