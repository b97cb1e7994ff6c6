/* virtio-driver.c — the guest side of virtio-pci for unit tests (virtio-driver.h). */
#include "virtio-driver.h"

#include <errno.h>
#include <string.h>
#include <sys/eventfd.h>

#define CONFIG_ADDRESS    0
#define CONFIG_DATA       4
#define VIRTIO_CAP_COMMON 1
#define VIRTIO_CAP_NOTIFY 2
#define VIRTIO_CAP_ISR    3
#define VIRTIO_CAP_DEVICE 4

static TestMachine *
machine_of (void *opaque)
{
  /* The platform's opaque is the VireoTestPlatform, the machine's first member. */
  return (TestMachine *) opaque;
}

static int
fake_add_msi_route (void *opaque, uint64_t address, uint32_t data, GError **error)
{
  TestMachine *m = machine_of (opaque);
  TestMsiRoute route = { .address = address, .data = data, .irqfd = -1 };

  g_array_append_val (m->routes, route);
  return TEST_FIRST_GSI + (int) m->routes->len - 1;
}

static TestMsiRoute *
route_of (TestMachine *m, unsigned gsi)
{
  if (gsi < TEST_FIRST_GSI || gsi - TEST_FIRST_GSI >= m->routes->len)
    return NULL;
  return &g_array_index (m->routes, TestMsiRoute, gsi - TEST_FIRST_GSI);
}

static gboolean
fake_update_msi_route (void *opaque, unsigned gsi, uint64_t address, uint32_t data, GError **error)
{
  TestMachine *m = machine_of (opaque);
  TestMsiRoute *route = route_of (m, gsi);

  g_assert_nonnull (route);
  route->address = address;
  route->data = data;
  m->route_updates++;
  return TRUE;
}

static gboolean
fake_set_irqfd (void *opaque, unsigned gsi, int fd, gboolean assign, GError **error)
{
  TestMachine *m = machine_of (opaque);
  TestMsiRoute *route = route_of (m, gsi);

  g_assert_nonnull (route);
  if (assign)
    {
      g_assert_cmpint (route->irqfd, ==, -1);
      route->irqfd = fd;
    }
  else
    {
      g_assert_cmpint (route->irqfd, ==, fd);
      route->irqfd = -1;
    }
  return TRUE;
}

/* Like KVM: the same address, width and fd cannot be assigned twice, and only what exists is removed. */
static gboolean
fake_set_ioeventfd (void *opaque, uint64_t addr, unsigned len, gboolean is_mmio, int fd, gboolean assign,
                    GError **error)
{
  TestMachine *m = machine_of (opaque);

  g_assert_true (is_mmio);
  for (guint i = 0; i < m->ioeventfds->len; i++)
    {
      TestIoeventfd *e = &g_array_index (m->ioeventfds, TestIoeventfd, i);
      if (e->addr == addr && e->len == len)
        {
          if (assign)
            {
              g_set_error (error, HV_ERROR, HV_ERROR_INVALID_ARGUMENT, "ioeventfd exists");
              return FALSE;
            }
          g_assert_cmpint (e->fd, ==, fd);
          g_array_remove_index (m->ioeventfds, i);
          return TRUE;
        }
    }
  if (!assign)
    {
      g_set_error (error, HV_ERROR, HV_ERROR_NOT_FOUND, "no such ioeventfd");
      return FALSE;
    }
  g_array_append_val (m->ioeventfds, ((TestIoeventfd){ .addr = addr, .len = len, .fd = fd }));
  return TRUE;
}

void
test_machine_init (TestMachine *m)
{
  g_autoptr (GError) error = NULL;

  memset (m, 0, sizeof *m);
  vireo_test_platform_init (&m->tp);
  g_assert_true (hv_memory_init (&m->memory, TEST_RAM_SIZE, &error));
  m->mmio = hv_bus_new ("MMIO");
  m->io_context = g_main_context_new ();
  m->pci = hv_pci_new ();
  m->routes = g_array_new (FALSE, TRUE, sizeof (TestMsiRoute));
  m->ioeventfds = g_array_new (FALSE, TRUE, sizeof (TestIoeventfd));
  m->tp.platform.memory = &m->memory;
  m->tp.platform.mmio = m->mmio;
  m->tp.platform.io_context = m->io_context;
  m->tp.platform.add_msi_route = fake_add_msi_route;
  m->tp.platform.update_msi_route = fake_update_msi_route;
  m->tp.platform.set_irqfd = fake_set_irqfd;
  m->tp.platform.set_ioeventfd = fake_set_ioeventfd;
}

void
test_machine_clear (TestMachine *m)
{
  hv_pci_free (m->pci);
  g_main_context_unref (m->io_context);
  hv_bus_free (m->mmio);
  hv_memory_clear (&m->memory);
  g_array_unref (m->routes);
  g_array_unref (m->ioeventfds);
  vireo_test_platform_clear (&m->tp);
}

void
test_machine_run_io (TestMachine *m)
{
  while (g_main_context_iteration (m->io_context, FALSE))
    ;
}

unsigned
test_machine_take_msi (TestMachine *m, uint32_t data)
{
  unsigned total = 0;

  for (guint i = 0; i < m->routes->len; i++)
    {
      TestMsiRoute *route = &g_array_index (m->routes, TestMsiRoute, i);
      eventfd_t count;

      if (route->data != data || route->irqfd < 0)
        continue;
      if (eventfd_read (route->irqfd, &count) == 0)
        total += (unsigned) count;
      else
        g_assert_cmpint (errno, ==, EAGAIN);
    }
  return total;
}

gboolean
test_machine_irq_level (TestMachine *m, unsigned gsi)
{
  gboolean level;

  g_mutex_lock (&m->tp.lock);
  level = m->tp.irq_level[gsi];
  g_mutex_unlock (&m->tp.lock);
  return level;
}

uint32_t
test_config_read (TestMachine *m, unsigned slot, unsigned reg, unsigned len)
{
  vireo_test_io_write (hv_pci_conf1_io, m->pci, CONFIG_ADDRESS, 4, 0x80000000u | slot << 11 | (reg & 0xfc));
  return vireo_test_io_read (hv_pci_conf1_io, m->pci, CONFIG_DATA + (reg & 3), len);
}

void
test_config_write (TestMachine *m, unsigned slot, unsigned reg, unsigned len, uint32_t value)
{
  vireo_test_io_write (hv_pci_conf1_io, m->pci, CONFIG_ADDRESS, 4, 0x80000000u | slot << 11 | (reg & 0xfc));
  vireo_test_io_write (hv_pci_conf1_io, m->pci, CONFIG_DATA + (reg & 3), len, value);
}

uint64_t
test_bar64_address (TestMachine *m, unsigned slot, unsigned reg)
{
  uint64_t low = test_config_read (m, slot, reg, 4) & ~0xfu;

  return low | (uint64_t) test_config_read (m, slot, reg + 4, 4) << 32;
}

uint64_t
test_mmio_read (TestMachine *m, uint64_t addr, unsigned len)
{
  uint8_t data[8];
  uint64_t value = 0;

  g_assert_cmpuint (len, <=, sizeof data);
  hv_bus_dispatch (m->mmio, addr, data, len, FALSE);
  for (unsigned i = 0; i < len; i++)
    value |= (uint64_t) data[i] << (8 * i);
  return value;
}

void
test_mmio_write (TestMachine *m, uint64_t addr, unsigned len, uint64_t value)
{
  uint8_t data[8];

  g_assert_cmpuint (len, <=, sizeof data);
  for (guint i = 0; i < m->ioeventfds->len; i++)
    {
      TestIoeventfd *e = &g_array_index (m->ioeventfds, TestIoeventfd, i);
      if (e->addr == addr && e->len == len)
        {
          g_assert_cmpint (eventfd_write (e->fd, 1), ==, 0);
          return;
        }
    }
  for (unsigned i = 0; i < len; i++)
    data[i] = (uint8_t) (value >> (8 * i));
  hv_bus_dispatch (m->mmio, addr, data, len, TRUE);
}

uint8_t *
test_guest (TestMachine *m, uint64_t gpa, uint64_t len)
{
  uint8_t *p = hv_memory_ptr (&m->memory, gpa, len);
  g_assert_nonnull (p);
  return p;
}

static uint64_t
bar_address (TestMachine *m, unsigned slot, unsigned bar)
{
  uint32_t low = test_config_read (m, slot, 0x10 + 4 * bar, 4);
  uint64_t address = low & ~0xfu;

  g_assert_cmphex (low & 1, ==, 0); /* memory, not I/O */
  if ((low & 0x6) == 0x4)
    address |= (uint64_t) test_config_read (m, slot, 0x10 + 4 * (bar + 1), 4) << 32;
  return address;
}

void
test_driver_probe (TestDriver *d, TestMachine *m, unsigned slot)
{
  unsigned seen = 0;

  memset (d, 0, sizeof *d);
  d->machine = m;
  d->slot = slot;

  g_assert_cmphex (test_config_read (m, slot, 0x06, 2) & 0x10, ==, 0x10); /* a capability list */
  for (unsigned cap = test_config_read (m, slot, 0x34, 1), hops = 0; cap != 0; hops++)
    {
      unsigned id = test_config_read (m, slot, cap, 1);
      unsigned next = test_config_read (m, slot, cap + 1, 1);

      g_assert_cmpuint (hops, <, 48);
      g_assert_cmpuint (cap, >=, 0x40);
      g_assert_cmphex (cap & 3, ==, 0);
      if (id == 0x09)
        {
          unsigned type = test_config_read (m, slot, cap + 3, 1);
          unsigned bar = test_config_read (m, slot, cap + 4, 1);
          uint32_t offset = test_config_read (m, slot, cap + 8, 4);
          uint32_t length = test_config_read (m, slot, cap + 12, 4);
          uint64_t at = bar_address (m, slot, bar) + offset;

          g_assert_cmpuint (bar, <=, 5);
          switch (type)
            {
            case VIRTIO_CAP_COMMON:
              g_assert_cmpuint (length, >=, 0x38);
              d->common = at;
              break;
            case VIRTIO_CAP_ISR:
              g_assert_cmpuint (length, >=, 1);
              d->isr = at;
              break;
            case VIRTIO_CAP_DEVICE:
              d->device = at;
              d->device_length = length;
              break;
            case VIRTIO_CAP_NOTIFY:
              g_assert_cmpuint (test_config_read (m, slot, cap + 2, 1), >=, 20);
              d->notify = at;
              d->notify_length = length;
              d->notify_multiplier = test_config_read (m, slot, cap + 16, 4);
              break;
            default:
              break;
            }
          seen |= 1u << type;
        }
      else if (id == 0x11)
        {
          uint32_t table = test_config_read (m, slot, cap + 4, 4);
          uint32_t pba = test_config_read (m, slot, cap + 8, 4);

          d->msix_cap = cap;
          d->msix_vectors = (test_config_read (m, slot, cap + 2, 2) & 0x7ff) + 1;
          d->msix_table = bar_address (m, slot, table & 7) + (table & ~7u);
          d->msix_pba = bar_address (m, slot, pba & 7) + (pba & ~7u);
        }
      cap = next;
    }
  g_assert_cmphex (seen & 0x1e, ==, 0x1e);
  g_assert_cmpuint (d->msix_cap, !=, 0);
}

uint64_t
test_common_read (TestDriver *d, unsigned offset, unsigned len)
{
  return test_mmio_read (d->machine, d->common + offset, len);
}

void
test_common_write (TestDriver *d, unsigned offset, unsigned len, uint64_t value)
{
  test_mmio_write (d->machine, d->common + offset, len, value);
}

uint64_t
test_driver_device_features (TestDriver *d)
{
  uint64_t features;

  test_common_write (d, 0x00, 4, 0);
  features = test_common_read (d, 0x04, 4);
  test_common_write (d, 0x00, 4, 1);
  return features | test_common_read (d, 0x04, 4) << 32;
}

uint8_t
test_driver_status (TestDriver *d)
{
  return (uint8_t) test_common_read (d, 0x14, 1);
}

void
test_driver_set_status (TestDriver *d, uint8_t status)
{
  test_common_write (d, 0x14, 1, status);
}

gboolean
test_driver_negotiate (TestDriver *d, uint64_t features)
{
  test_driver_set_status (d, 0);
  g_assert_cmpuint (test_driver_status (d), ==, 0);
  test_driver_set_status (d, HV_VIRTIO_STATUS_ACKNOWLEDGE);
  test_driver_set_status (d, HV_VIRTIO_STATUS_ACKNOWLEDGE | HV_VIRTIO_STATUS_DRIVER);
  test_common_write (d, 0x08, 4, 0);
  test_common_write (d, 0x0c, 4, (uint32_t) features);
  test_common_write (d, 0x08, 4, 1);
  test_common_write (d, 0x0c, 4, (uint32_t) (features >> 32));
  test_driver_set_status (d, HV_VIRTIO_STATUS_ACKNOWLEDGE | HV_VIRTIO_STATUS_DRIVER
                                 | HV_VIRTIO_STATUS_FEATURES_OK);
  return (test_driver_status (d) & HV_VIRTIO_STATUS_FEATURES_OK) != 0;
}

void
test_driver_set_msix (TestDriver *d, unsigned vector, uint32_t data)
{
  uint64_t entry = d->msix_table + 16ull * vector;
  uint16_t control = (uint16_t) test_config_read (d->machine, d->slot, d->msix_cap + 2, 2);

  g_assert_cmpuint (vector, <, d->msix_vectors);
  test_mmio_write (d->machine, entry, 4, (uint32_t) TEST_MSI_ADDRESS);
  test_mmio_write (d->machine, entry + 4, 4, TEST_MSI_ADDRESS >> 32);
  test_mmio_write (d->machine, entry + 8, 4, data);
  test_mmio_write (d->machine, entry + 12, 4, 0);
  test_config_write (d->machine, d->slot, d->msix_cap + 2, 2, control | 0x8000);
}

void
test_driver_mask_msix (TestDriver *d, unsigned vector, gboolean masked)
{
  test_mmio_write (d->machine, d->msix_table + 16ull * vector + 12, 4, masked ? 1 : 0);
}

void
test_queue_setup (TestQueue *q, TestDriver *d, unsigned index, uint16_t size, uint64_t base, uint16_t vector)
{
  memset (q, 0, sizeof *q);
  q->driver = d;
  q->index = index;
  q->size = size;
  q->desc = base;
  q->avail = base + HV_VRING_DESC_BYTES (size);
  q->used = (q->avail + HV_VRING_AVAIL_BYTES (size) + 3) & ~3ull;
  memset (test_guest (d->machine, base, q->used + HV_VRING_USED_BYTES (size) - base), 0,
          q->used + HV_VRING_USED_BYTES (size) - base);

  test_common_write (d, 0x16, 2, index);
  test_common_write (d, 0x18, 2, size);
  /* 64-bit registers in two halves, as Linux writes them. */
  test_common_write (d, 0x20, 4, (uint32_t) q->desc);
  test_common_write (d, 0x24, 4, q->desc >> 32);
  test_common_write (d, 0x28, 4, (uint32_t) q->avail);
  test_common_write (d, 0x2c, 4, q->avail >> 32);
  test_common_write (d, 0x30, 4, (uint32_t) q->used);
  test_common_write (d, 0x34, 4, q->used >> 32);
  test_common_write (d, 0x1a, 2, vector);
  test_common_write (d, 0x1c, 2, 1);
}

static void
put_desc (TestQueue *q, uint16_t index, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next)
{
  uint8_t *p = test_guest (q->driver->machine, q->desc + 16ull * index, 16);
  uint64_t addr_le = GUINT64_TO_LE (addr);
  uint32_t len_le = GUINT32_TO_LE (len);
  uint16_t flags_le = GUINT16_TO_LE (flags);
  uint16_t next_le = GUINT16_TO_LE (next);

  memcpy (p, &addr_le, 8);
  memcpy (p + 8, &len_le, 4);
  memcpy (p + 12, &flags_le, 2);
  memcpy (p + 14, &next_le, 2);
}

static void
publish (TestQueue *q, uint16_t head)
{
  TestMachine *m = q->driver->machine;
  uint16_t head_le = GUINT16_TO_LE (head);
  uint16_t idx_le;

  memcpy (test_guest (m, q->avail + 4 + 2ull * (q->avail_idx % q->size), 2), &head_le, 2);
  q->avail_idx++;
  idx_le = GUINT16_TO_LE (q->avail_idx);
  memcpy (test_guest (m, q->avail + 2, 2), &idx_le, 2);
}

uint16_t
test_queue_add (TestQueue *q, uint64_t addr, uint32_t len, gboolean writable)
{
  uint16_t head = q->next_desc;

  q->next_desc = (uint16_t) ((q->next_desc + 1) % q->size);
  put_desc (q, head, addr, len, writable ? HV_VRING_DESC_F_WRITE : 0, 0);
  publish (q, head);
  return head;
}

uint16_t
test_queue_add_pair (TestQueue *q, uint64_t out_addr, uint32_t out_len, uint64_t in_addr, uint32_t in_len)
{
  uint16_t head = q->next_desc;
  uint16_t second = (uint16_t) ((head + 1) % q->size);

  q->next_desc = (uint16_t) ((second + 1) % q->size);
  put_desc (q, head, out_addr, out_len, HV_VRING_DESC_F_NEXT, second);
  put_desc (q, second, in_addr, in_len, HV_VRING_DESC_F_WRITE, 0);
  publish (q, head);
  return head;
}

uint16_t
test_queue_add_chain (TestQueue *q, const TestBuffer *buffers, unsigned n)
{
  uint16_t head = q->next_desc;

  for (unsigned i = 0; i < n; i++)
    {
      uint16_t index = q->next_desc;
      uint16_t next = (uint16_t) ((index + 1) % q->size);

      q->next_desc = next;
      put_desc (q, index, buffers[i].addr, buffers[i].len,
                (uint16_t) ((buffers[i].writable ? HV_VRING_DESC_F_WRITE : 0)
                            | (i + 1 < n ? HV_VRING_DESC_F_NEXT : 0)),
                i + 1 < n ? next : 0);
    }
  publish (q, head);
  return head;
}

void
test_queue_kick (TestQueue *q, unsigned len)
{
  TestDriver *d = q->driver;
  uint16_t offset;

  /* The notify offset is read with the queue selected, as Linux does. */
  test_common_write (d, 0x16, 2, q->index);
  offset = (uint16_t) test_common_read (d, 0x1e, 2);
  g_assert_cmpuint ((uint64_t) offset * d->notify_multiplier + 2, <=, d->notify_length);
  test_mmio_write (d->machine, d->notify + (uint64_t) offset * d->notify_multiplier, len, q->index);
}

gboolean
test_queue_get_used (TestQueue *q, uint32_t *id, uint32_t *len)
{
  TestMachine *m = q->driver->machine;
  uint16_t idx_le;
  uint32_t raw[2];

  memcpy (&idx_le, test_guest (m, q->used + 2, 2), 2);
  if (GUINT16_FROM_LE (idx_le) == q->last_used)
    return FALSE;
  memcpy (raw, test_guest (m, q->used + 4 + 8ull * (q->last_used % q->size), 8), 8);
  *id = GUINT32_FROM_LE (raw[0]);
  *len = GUINT32_FROM_LE (raw[1]);
  q->last_used++;
  return TRUE;
}
