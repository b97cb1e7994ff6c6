/* test-virtio-pci.c — the modern virtio-pci transport driven like a guest driver through configuration
 * space and its BARs, with a small echo device behind it: identity and capabilities, feature
 * negotiation, queue setup, DRIVER_OK, notifications by ioeventfd and by MMIO exit, INTx and MSI-X
 * (table, masks, PBA, routes), reset, NEEDS_RESET, BAR moves, saved state, and garbage from the guest. */
#include "virtio-driver.h"
#include "iothread.h"
#include "layout.h"
#include "state.h"

#include <string.h>

#define ECHO_DEVICE_ID 0x3f
#define ECHO_QUEUES    2
#define ECHO_QUEUE_MAX 8
#define ECHO_F_UPPER   0 /* device features 0 and 1 are offered, but refused together */
#define ECHO_F_LOWER   1
#define ECHO_MAGIC     0x6f686365u
#define VERSION_1      HV_VIRTIO_FEATURE (HV_VIRTIO_F_VERSION_1)

#define QUEUE0_BASE 0x100000
#define QUEUE1_BASE 0x110000
#define BUFFERS     0x200000

/* A device that answers each chain with its readable bytes reversed. */
typedef struct
{
  HvVirtio *vdev;
  HvVirtioDeviceInfo info;
  uint8_t config[8]; /* a read-only magic number, then 4 bytes the driver may write */
  unsigned notifies;
  unsigned driver_oks;
  unsigned resets;
  uint64_t features;
} EchoDevice;

static void
echo_config_read (void *opaque, unsigned offset, uint8_t *data, unsigned len)
{
  EchoDevice *echo = opaque;
  g_assert_cmpuint (offset + len, <=, sizeof echo->config);
  memcpy (data, echo->config + offset, len);
}

static void
echo_config_write (void *opaque, unsigned offset, const uint8_t *data, unsigned len)
{
  EchoDevice *echo = opaque;
  g_assert_cmpuint (offset + len, <=, sizeof echo->config);
  for (unsigned i = 0; i < len; i++)
    if (offset + i >= 4)
      echo->config[offset + i] = data[i];
}

static gboolean
echo_features_ok (void *opaque, uint64_t features)
{
  EchoDevice *echo = opaque;
  uint64_t both = HV_VIRTIO_FEATURE (ECHO_F_UPPER) | HV_VIRTIO_FEATURE (ECHO_F_LOWER);

  echo->features = features;
  return (features & both) != both;
}

static void
echo_driver_ok (void *opaque)
{
  EchoDevice *echo = opaque;
  echo->driver_oks++;
}

static void
echo_queue_notify (void *opaque, HvVirtqueue *vq)
{
  EchoDevice *echo = opaque;
  HvVirtqueueElement *elem;
  gboolean pushed = FALSE;

  echo->notifies++;
  while ((elem = hv_virtio_pop (echo->vdev, vq)) != NULL)
    {
      uint8_t in[64], out[64];
      gsize n = hv_virtqueue_element_read (elem, 0, in, sizeof in);

      for (gsize i = 0; i < n; i++)
        out[i] = in[n - 1 - i];
      hv_virtqueue_push (vq, elem, (uint32_t) hv_virtqueue_element_write (elem, 0, out, n));
      hv_virtqueue_element_free (elem);
      pushed = TRUE;
    }
  if (pushed)
    hv_virtio_notify (echo->vdev, vq);
}

static void
echo_reset (void *opaque)
{
  EchoDevice *echo = opaque;
  echo->resets++;
  memset (echo->config + 4, 0, 4);
}

static void
echo_init (EchoDevice *echo, TestMachine *m, const char *name)
{
  g_autoptr (GError) error = NULL;
  uint32_t magic = GUINT32_TO_LE (ECHO_MAGIC);

  memset (echo, 0, sizeof *echo);
  memcpy (echo->config, &magic, 4);
  echo->info = (HvVirtioDeviceInfo){
    .name = name,
    .device_id = ECHO_DEVICE_ID,
    .pci_class = 0xff0000,
    .features = HV_VIRTIO_FEATURE (ECHO_F_UPPER) | HV_VIRTIO_FEATURE (ECHO_F_LOWER),
    .n_queues = ECHO_QUEUES,
    .queue_size = ECHO_QUEUE_MAX,
    .config_size = sizeof echo->config,
    .config_read = echo_config_read,
    .config_write = echo_config_write,
    .features_ok = echo_features_ok,
    .driver_ok = echo_driver_ok,
    .queue_notify = echo_queue_notify,
    .reset = echo_reset,
  };
  echo->vdev = hv_virtio_pci_new (&m->tp.platform, m->pci, &echo->info, echo, &error);
  g_assert_no_error (error);
  g_assert_nonnull (echo->vdev);
}

typedef struct
{
  TestMachine m;
  EchoDevice echo;
  TestDriver d;
} Fixture;

static void
fixture_setup (Fixture *f, gconstpointer data)
{
  test_machine_init (&f->m);
  echo_init (&f->echo, &f->m, "echo");
  test_driver_probe (&f->d, &f->m, 1);
}

static void
fixture_teardown (Fixture *f, gconstpointer data)
{
  hv_virtio_free (f->echo.vdev);
  test_machine_clear (&f->m);
}

static uint8_t
status_of (Fixture *f)
{
  return test_driver_status (&f->d);
}

/* Negotiation of @features, the configuration vector, queue 0 of 4 entries with @vector, DRIVER_OK. */
static void
bring_up_with (Fixture *f, TestQueue *q, uint64_t features, uint16_t config_vector, uint16_t vector)
{
  g_assert_true (test_driver_negotiate (&f->d, features));
  test_common_write (&f->d, 0x10, 2, config_vector);
  test_queue_setup (q, &f->d, 0, 4, QUEUE0_BASE, vector);
  test_driver_set_status (&f->d, status_of (f) | HV_VIRTIO_STATUS_DRIVER_OK);
  g_assert_cmphex (status_of (f), ==, 0x0f);
}

static void
bring_up (Fixture *f, TestQueue *q, uint16_t vector)
{
  bring_up_with (f, q, VERSION_1, HV_VIRTIO_MSI_NO_VECTOR, vector);
}

/* One round trip: "abc" out, its reverse back. */
static void
round_trip_on (TestMachine *m, TestQueue *q, unsigned kick_len)
{
  uint32_t id, len;
  uint16_t head;

  memcpy (test_guest (m, BUFFERS, 3), "abc", 3);
  memset (test_guest (m, BUFFERS + 0x100, 16), 0, 16);
  head = test_queue_add_pair (q, BUFFERS, 3, BUFFERS + 0x100, 16);
  test_queue_kick (q, kick_len);
  test_machine_run_io (m);
  g_assert_true (test_queue_get_used (q, &id, &len));
  g_assert_cmpuint (id, ==, head);
  g_assert_cmpuint (len, ==, 3);
  g_assert_cmpmem (test_guest (m, BUFFERS + 0x100, 3), 3, "cba", 3);
}

static void
round_trip (Fixture *f, TestQueue *q, unsigned kick_len)
{
  round_trip_on (&f->m, q, kick_len);
}

static void
test_identity (Fixture *f, gconstpointer data)
{
  TestMachine *m = &f->m;
  uint32_t bar1, bar4;

  g_assert_cmphex (test_config_read (m, 1, 0x00, 2), ==, 0x1af4);
  g_assert_cmphex (test_config_read (m, 1, 0x02, 2), ==, 0x1040 + ECHO_DEVICE_ID);
  g_assert_cmphex (test_config_read (m, 1, 0x08, 1), ==, 1); /* revision: modern only */
  g_assert_cmphex (test_config_read (m, 1, 0x08, 4) >> 8, ==, 0xff0000);
  g_assert_cmphex (test_config_read (m, 1, 0x2c, 2), ==, 0x1af4);
  g_assert_cmphex (test_config_read (m, 1, 0x2e, 2), >=, 0x40);
  g_assert_cmphex (test_config_read (m, 1, 0x3d, 1), ==, 1); /* INTA */

  /* BAR 1 a 32-bit memory BAR, BAR 4 a 64-bit one; both placed and decoding. */
  bar1 = test_config_read (m, 1, 0x14, 4);
  bar4 = test_config_read (m, 1, 0x20, 4);
  g_assert_cmphex (bar1 & 0x7, ==, 0);
  g_assert_cmphex (bar4 & 0x7, ==, 0x4);
  g_assert_cmpuint (bar1 & ~0xfu, >=, HV_MMIO32_START);
  g_assert_cmphex (test_config_read (m, 1, 0x04, 2) & 0x2, ==, 0x2);

  /* What the probe found (it checked the capability list's shape). */
  g_assert_cmpuint (f->d.device_length, ==, 8);
  g_assert_cmpuint (f->d.notify_multiplier, ==, 4);
  g_assert_cmpuint (f->d.notify_length, >=, ECHO_QUEUES * 4);
  g_assert_cmpuint (f->d.msix_vectors, ==, ECHO_QUEUES + 1);
  g_assert_cmphex (f->d.msix_table & 0xfff, ==, 0);
  g_assert_cmpuint (f->d.msix_pba, >=, f->d.msix_table + 16 * f->d.msix_vectors);
  g_assert_cmphex (f->d.common & 0xfff, ==, 0);

  /* The device configuration through the transport: the device sees exactly its 8 bytes. */
  g_assert_cmphex (test_mmio_read (m, f->d.device, 4), ==, ECHO_MAGIC);
  test_mmio_write (m, f->d.device, 4, 0);
  test_mmio_write (m, f->d.device + 4, 4, 0x12345678);
  g_assert_cmphex (test_mmio_read (m, f->d.device, 8), ==, 0x12345678ull << 32 | ECHO_MAGIC);
  g_assert_cmphex (test_mmio_read (m, f->d.device + 6, 4), ==, 0x1234);
  g_assert_cmphex (test_mmio_read (m, f->d.device + 0x100, 4), ==, 0);
  test_mmio_write (m, f->d.device + 0x100, 4, 0xffffffff);

  /* num_queues, and registers past the common structure read as zero. */
  g_assert_cmpuint (test_common_read (&f->d, 0x12, 2), ==, ECHO_QUEUES);
  g_assert_cmpuint (test_common_read (&f->d, 0x40, 4), ==, 0);
}

static void
test_features (Fixture *f, gconstpointer data)
{
  TestDriver *d = &f->d;
  uint64_t offered;

  offered = test_driver_device_features (d);
  g_assert_cmphex (offered, ==,
                   VERSION_1 | HV_VIRTIO_FEATURE (HV_VIRTIO_F_INDIRECT_DESC)
                       | HV_VIRTIO_FEATURE (HV_VIRTIO_F_EVENT_IDX) | 0x3);
  test_common_write (d, 0x00, 4, 2);
  g_assert_cmphex (test_common_read (d, 0x04, 4), ==, 0);

  /* Without VERSION_1 (a legacy driver), with a feature never offered, and with a combination the
   * device refuses, FEATURES_OK does not stick. */
  g_assert_false (test_driver_negotiate (d, 0x1));
  g_assert_false (test_driver_negotiate (d, VERSION_1 | HV_VIRTIO_FEATURE (5)));
  g_assert_false (test_driver_negotiate (d, VERSION_1 | 0x3));
  g_assert_cmphex (f->echo.features, ==, VERSION_1 | 0x3);

  g_assert_true (test_driver_negotiate (d, VERSION_1 | 0x1));
  g_assert_cmphex (f->echo.features, ==, VERSION_1 | 0x1);
  hv_virtio_lock (f->echo.vdev);
  g_assert_cmphex (hv_virtio_get_features (f->echo.vdev), ==, VERSION_1 | 0x1);
  hv_virtio_unlock (f->echo.vdev);

  /* Once accepted the features are fixed; reading them back shows what was accepted. */
  test_common_write (d, 0x08, 4, 0);
  test_common_write (d, 0x0c, 4, 0x2);
  g_assert_cmphex (test_common_read (d, 0x0c, 4), ==, 0x1);
  test_common_write (d, 0x08, 4, 1);
  g_assert_cmphex (test_common_read (d, 0x0c, 4), ==, 0x1);
  test_common_write (d, 0x08, 4, 7);
  g_assert_cmphex (test_common_read (d, 0x0c, 4), ==, 0);

  /* The driver cannot set NEEDS_RESET nor clear bits it set. */
  test_driver_set_status (d, HV_VIRTIO_STATUS_NEEDS_RESET | HV_VIRTIO_STATUS_ACKNOWLEDGE);
  g_assert_cmphex (status_of (f), ==, 0x0b);
}

static void
test_queue_setup_registers (Fixture *f, gconstpointer data)
{
  TestDriver *d = &f->d;

  g_assert_true (test_driver_negotiate (d, VERSION_1));

  test_common_write (d, 0x16, 2, 0);
  g_assert_cmpuint (test_common_read (d, 0x18, 2), ==, ECHO_QUEUE_MAX);
  g_assert_cmpuint (test_common_read (d, 0x1e, 2), ==, 0);
  g_assert_cmpuint (test_common_read (d, 0x1a, 2), ==, HV_VIRTIO_MSI_NO_VECTOR);
  test_common_write (d, 0x16, 2, 1);
  g_assert_cmpuint (test_common_read (d, 0x1e, 2), ==, 1);

  /* A queue that does not exist has size 0 and ignores writes. */
  test_common_write (d, 0x16, 2, 9);
  g_assert_cmpuint (test_common_read (d, 0x16, 2), ==, 9);
  g_assert_cmpuint (test_common_read (d, 0x18, 2), ==, 0);
  test_common_write (d, 0x18, 2, 4);
  test_common_write (d, 0x1c, 2, 1);
  g_assert_cmpuint (test_common_read (d, 0x18, 2), ==, 0);
  g_assert_cmpuint (test_common_read (d, 0x1c, 2), ==, 0);

  /* Addresses written in halves read back whole; a 64-bit access works too. */
  test_common_write (d, 0x16, 2, 0);
  test_common_write (d, 0x18, 2, 4);
  test_common_write (d, 0x20, 4, 0x00100000);
  test_common_write (d, 0x24, 4, 0);
  test_common_write (d, 0x28, 8, 0x100040);
  test_common_write (d, 0x30, 4, 0x100080);
  g_assert_cmphex (test_common_read (d, 0x20, 8), ==, 0x100000);
  g_assert_cmphex (test_common_read (d, 0x28, 4), ==, 0x100040);
  g_assert_cmphex (test_common_read (d, 0x34, 4), ==, 0);

  /* Vectors the table does not have read back as NO_VECTOR, which is how a driver learns. */
  test_common_write (d, 0x1a, 2, ECHO_QUEUES + 1);
  g_assert_cmpuint (test_common_read (d, 0x1a, 2), ==, HV_VIRTIO_MSI_NO_VECTOR);
  test_common_write (d, 0x1a, 2, 1);
  g_assert_cmpuint (test_common_read (d, 0x1a, 2), ==, 1);
  test_common_write (d, 0x10, 2, 77);
  g_assert_cmpuint (test_common_read (d, 0x10, 2), ==, HV_VIRTIO_MSI_NO_VECTOR);

  test_common_write (d, 0x1c, 2, 1);
  g_assert_cmpuint (test_common_read (d, 0x1c, 2), ==, 1);
  g_assert_cmphex (status_of (f) & HV_VIRTIO_STATUS_NEEDS_RESET, ==, 0);
  /* A running queue's layout is fixed; 0 is not a valid write to queue_enable. */
  test_common_write (d, 0x18, 2, 2);
  test_common_write (d, 0x20, 4, 0x300000);
  test_common_write (d, 0x1c, 2, 0);
  g_assert_cmpuint (test_common_read (d, 0x18, 2), ==, 4);
  g_assert_cmphex (test_common_read (d, 0x20, 4), ==, 0x100000);
  g_assert_cmpuint (test_common_read (d, 0x1c, 2), ==, 1);
}

static void
test_notify_intx (Fixture *f, gconstpointer data)
{
  TestQueue q;
  unsigned gsi = HV_PCI_INTX_GSI (1, 0);

  g_assert_true (test_driver_negotiate (&f->d, VERSION_1));
  test_queue_setup (&q, &f->d, 0, 4, QUEUE0_BASE, HV_VIRTIO_MSI_NO_VECTOR);

  /* Before DRIVER_OK the device does not touch its queues. */
  test_queue_add_pair (&q, BUFFERS, 3, BUFFERS + 0x100, 16);
  test_queue_kick (&q, 2);
  test_machine_run_io (&f->m);
  g_assert_cmpuint (f->echo.notifies, ==, 0);

  /* The doorbell of each queue has an ioeventfd: a 16-bit write never reaches the bus. */
  g_assert_cmpuint (f->m.ioeventfds->len, ==, ECHO_QUEUES);
  g_assert_cmphex (g_array_index (f->m.ioeventfds, TestIoeventfd, 1).addr, ==,
                   f->d.notify + f->d.notify_multiplier);

  test_driver_set_status (&f->d, status_of (f) | HV_VIRTIO_STATUS_DRIVER_OK);
  g_assert_cmpuint (f->echo.driver_oks, ==, 1);
  test_queue_kick (&q, 2);
  test_machine_run_io (&f->m);
  g_assert_cmpuint (f->echo.notifies, ==, 1);
  {
    uint32_t id, len;
    g_assert_true (test_queue_get_used (&q, &id, &len));
    g_assert_cmpuint (len, ==, 3);
  }

  /* Without MSI-X the interrupt is INTx, level while the ISR says so; reading the ISR ends it. */
  g_assert_true (test_machine_irq_level (&f->m, gsi));
  g_assert_cmphex (test_mmio_read (&f->m, f->d.isr, 1), ==, 0x1);
  g_assert_false (test_machine_irq_level (&f->m, gsi));
  g_assert_cmphex (test_mmio_read (&f->m, f->d.isr, 1), ==, 0);

  /* A 32-bit write to the doorbell misses the ioeventfd and is handled by the MMIO handler. */
  round_trip (f, &q, 4);
  g_assert_cmpuint (f->echo.notifies, ==, 2);
  g_assert_true (test_machine_irq_level (&f->m, gsi));

  /* INTx disabled in the command register lowers the line while the ISR keeps its bit. */
  test_config_write (&f->m, 1, 0x04, 2, test_config_read (&f->m, 1, 0x04, 2) | 0x400);
  g_assert_false (test_machine_irq_level (&f->m, gsi));
  test_config_write (&f->m, 1, 0x04, 2, test_config_read (&f->m, 1, 0x04, 2) & ~0x400u);
  g_assert_true (test_machine_irq_level (&f->m, gsi));
  g_assert_cmphex (test_mmio_read (&f->m, f->d.isr, 1), ==, 0x1);

  /* The avail ring's NO_INTERRUPT flag is honoured (no event index negotiated here). */
  memcpy (test_guest (&f->m, q.avail, 2), &(uint16_t){ GUINT16_TO_LE (HV_VRING_AVAIL_F_NO_INTERRUPT) }, 2);
  round_trip (f, &q, 2);
  g_assert_false (test_machine_irq_level (&f->m, gsi));
}

static void
test_msix (Fixture *f, gconstpointer data)
{
  TestQueue q;
  unsigned gsi = HV_PCI_INTX_GSI (1, 0);

  for (unsigned v = 0; v < f->d.msix_vectors; v++)
    test_driver_set_msix (&f->d, v, 0x40 + v);
  bring_up_with (f, &q, VERSION_1, 0, 1);

  /* The first interrupt makes the route, binds the irqfd and signals it. */
  round_trip (f, &q, 2);
  g_assert_cmpuint (f->m.routes->len, ==, 1);
  g_assert_cmphex (g_array_index (f->m.routes, TestMsiRoute, 0).address, ==, TEST_MSI_ADDRESS);
  g_assert_cmphex (g_array_index (f->m.routes, TestMsiRoute, 0).data, ==, 0x41);
  g_assert_cmpuint (test_machine_take_msi (&f->m, 0x41), ==, 1);
  g_assert_false (test_machine_irq_level (&f->m, gsi));
  g_assert_cmphex (test_mmio_read (&f->m, f->d.isr, 1), ==, 0);

  /* A masked vector holds its interrupt in the PBA until it is unmasked. */
  test_driver_mask_msix (&f->d, 1, TRUE);
  round_trip (f, &q, 2);
  g_assert_cmpuint (test_machine_take_msi (&f->m, 0x41), ==, 0);
  g_assert_cmphex (test_mmio_read (&f->m, f->d.msix_pba, 8), ==, 0x2);
  /* The table reads back what was written, with the mask. */
  g_assert_cmphex (test_mmio_read (&f->m, f->d.msix_table + 16 + 8, 4), ==, 0x41);
  g_assert_cmphex (test_mmio_read (&f->m, f->d.msix_table + 16 + 12, 4), ==, 1);
  /* A new message while masked: the route follows it when the interrupt goes out. */
  test_mmio_write (&f->m, f->d.msix_table + 16 + 8, 4, 0x51);
  test_driver_mask_msix (&f->d, 1, FALSE);
  g_assert_cmphex (test_mmio_read (&f->m, f->d.msix_pba, 8), ==, 0);
  g_assert_cmpuint (f->m.routes->len, ==, 1);
  g_assert_cmpuint (f->m.route_updates, ==, 1);
  g_assert_cmpuint (test_machine_take_msi (&f->m, 0x51), ==, 1);

  /* The function mask in the capability holds every vector. */
  test_config_write (&f->m, 1, f->d.msix_cap + 2, 2, 0xc000);
  round_trip (f, &q, 2);
  g_assert_cmpuint (test_machine_take_msi (&f->m, 0x51), ==, 0);
  g_assert_cmphex (test_mmio_read (&f->m, f->d.msix_pba, 1), ==, 0x2);
  test_config_write (&f->m, 1, f->d.msix_cap + 2, 2, 0x8000);
  g_assert_cmpuint (test_machine_take_msi (&f->m, 0x51), ==, 1);

  /* A configuration change: a new generation and the configuration vector's interrupt. */
  hv_virtio_lock (f->echo.vdev);
  hv_virtio_notify_config (f->echo.vdev);
  hv_virtio_unlock (f->echo.vdev);
  g_assert_cmpuint (test_common_read (&f->d, 0x15, 1), ==, 1);
  g_assert_cmpuint (test_machine_take_msi (&f->m, 0x40), ==, 1);

  /* A queue with NO_VECTOR interrupts nobody, not even by INTx. */
  test_common_write (&f->d, 0x16, 2, 0);
  test_common_write (&f->d, 0x1a, 2, HV_VIRTIO_MSI_NO_VECTOR);
  round_trip (f, &q, 2);
  g_assert_cmpuint (test_machine_take_msi (&f->m, 0x51), ==, 0);
  g_assert_false (test_machine_irq_level (&f->m, gsi));

  /* The PBA is read-only and the vector control has only its mask bit. */
  test_mmio_write (&f->m, f->d.msix_pba, 8, ~0ull);
  g_assert_cmphex (test_mmio_read (&f->m, f->d.msix_pba, 8), ==, 0);
  test_mmio_write (&f->m, f->d.msix_table + 12, 4, 0xfffffffe);
  g_assert_cmphex (test_mmio_read (&f->m, f->d.msix_table + 12, 4), ==, 0);
  /* Past the table, before the PBA, and past the PBA: zeros, writes dropped. */
  test_mmio_write (&f->m, f->d.msix_table + 16 * 8, 4, 0xffffffff);
  g_assert_cmphex (test_mmio_read (&f->m, f->d.msix_table + 16 * 8, 4), ==, 0);
  g_assert_cmphex (test_mmio_read (&f->m, f->d.msix_pba + 8, 4), ==, 0);

  /* Turning MSI-X off sends the next interrupt by INTx. */
  test_common_write (&f->d, 0x1a, 2, 1);
  test_config_write (&f->m, 1, f->d.msix_cap + 2, 2, 0);
  round_trip (f, &q, 2);
  g_assert_true (test_machine_irq_level (&f->m, gsi));
}

static void
test_reset (Fixture *f, gconstpointer data)
{
  TestQueue q;
  unsigned resets;

  test_driver_set_msix (&f->d, 0, 0x40);
  bring_up_with (f, &q, VERSION_1 | 0x1, 0, 0);
  round_trip (f, &q, 2);
  test_mmio_write (&f->m, f->d.device + 4, 4, 0xabcd);
  resets = f->echo.resets;

  test_driver_set_status (&f->d, 0);
  g_assert_cmpuint (f->echo.resets, ==, resets + 1);
  g_assert_cmpuint (status_of (f), ==, 0);
  g_assert_cmphex (test_mmio_read (&f->m, f->d.device + 4, 4), ==, 0);
  test_common_write (&f->d, 0x08, 4, 0);
  g_assert_cmphex (test_common_read (&f->d, 0x0c, 4), ==, 0);
  g_assert_cmpuint (test_common_read (&f->d, 0x10, 2), ==, HV_VIRTIO_MSI_NO_VECTOR);
  g_assert_cmpuint (test_common_read (&f->d, 0x16, 2), ==, 0);
  g_assert_cmpuint (test_common_read (&f->d, 0x18, 2), ==, ECHO_QUEUE_MAX);
  g_assert_cmpuint (test_common_read (&f->d, 0x1a, 2), ==, HV_VIRTIO_MSI_NO_VECTOR);
  g_assert_cmpuint (test_common_read (&f->d, 0x1c, 2), ==, 0);
  g_assert_cmphex (test_common_read (&f->d, 0x20, 8), ==, 0);
  /* The MSI-X table is PCI's and survives a virtio reset. */
  g_assert_cmphex (test_mmio_read (&f->m, f->d.msix_table + 8, 4), ==, 0x40);

  /* A kick now reaches nobody. */
  test_queue_add_pair (&q, BUFFERS, 3, BUFFERS + 0x100, 16);
  test_queue_kick (&q, 2);
  test_machine_run_io (&f->m);
  g_assert_cmpuint (f->echo.notifies, ==, 1);

  /* And the device comes up again as new. */
  bring_up (f, &q, HV_VIRTIO_MSI_NO_VECTOR);
  round_trip (f, &q, 2);
}

static void
test_needs_reset (Fixture *f, gconstpointer data)
{
  TestQueue q;

  /* A ring outside RAM. */
  g_assert_true (test_driver_negotiate (&f->d, VERSION_1));
  test_common_write (&f->d, 0x16, 2, 0);
  test_common_write (&f->d, 0x18, 2, 4);
  test_common_write (&f->d, 0x20, 8, TEST_RAM_SIZE - 16);
  test_common_write (&f->d, 0x1c, 2, 1);
  g_assert_cmphex (status_of (f) & HV_VIRTIO_STATUS_NEEDS_RESET, ==, HV_VIRTIO_STATUS_NEEDS_RESET);
  g_assert_cmpuint (test_common_read (&f->d, 0x1c, 2), ==, 0);
  /* DRIVER_OK does not make a device that needs a reset work. */
  test_driver_set_status (&f->d, status_of (f) | HV_VIRTIO_STATUS_DRIVER_OK);
  g_assert_cmpuint (f->echo.driver_oks, ==, 0);

  /* A size that is not a power of two, and a queue enabled before FEATURES_OK. */
  g_assert_true (test_driver_negotiate (&f->d, VERSION_1));
  test_common_write (&f->d, 0x18, 2, 3);
  test_common_write (&f->d, 0x1c, 2, 1);
  g_assert_cmphex (status_of (f) & HV_VIRTIO_STATUS_NEEDS_RESET, ==, HV_VIRTIO_STATUS_NEEDS_RESET);
  test_driver_set_status (&f->d, 0);
  test_driver_set_status (&f->d, HV_VIRTIO_STATUS_ACKNOWLEDGE | HV_VIRTIO_STATUS_DRIVER);
  test_queue_setup (&q, &f->d, 0, 4, QUEUE0_BASE, HV_VIRTIO_MSI_NO_VECTOR);
  g_assert_cmphex (status_of (f) & HV_VIRTIO_STATUS_NEEDS_RESET, ==, HV_VIRTIO_STATUS_NEEDS_RESET);

  /* A ring broken while running: the device stops and says so with a configuration interrupt. */
  test_driver_set_msix (&f->d, 0, 0x40);
  bring_up_with (f, &q, VERSION_1, 0, HV_VIRTIO_MSI_NO_VECTOR);
  test_queue_add (&q, TEST_RAM_SIZE + 0x1000, 16, TRUE);
  test_queue_kick (&q, 2);
  test_machine_run_io (&f->m);
  g_assert_cmphex (status_of (f), ==, 0x0f | HV_VIRTIO_STATUS_NEEDS_RESET);
  g_assert_cmpuint (test_machine_take_msi (&f->m, 0x40), ==, 1);
  g_assert_cmpuint (test_common_read (&f->d, 0x15, 1), ==, 0); /* a generation is for config changes */
  /* Further kicks are ignored until the reset. */
  test_queue_kick (&q, 2);
  test_machine_run_io (&f->m);
  g_assert_cmpuint (f->echo.notifies, ==, 1);

  bring_up (f, &q, HV_VIRTIO_MSI_NO_VECTOR);
  round_trip (f, &q, 2);
}

static void
test_paused (Fixture *f, gconstpointer data)
{
  TestQueue q;
  uint32_t id, len;

  bring_up (f, &q, HV_VIRTIO_MSI_NO_VECTOR);
  hv_virtio_lock (f->echo.vdev);
  hv_virtio_set_paused (f->echo.vdev, TRUE);
  hv_virtio_unlock (f->echo.vdev);

  /* Registers still work; queue work waits. */
  g_assert_cmphex (status_of (f), ==, 0x0f);
  test_queue_add_pair (&q, BUFFERS, 3, BUFFERS + 0x100, 16);
  test_queue_kick (&q, 2);
  test_machine_run_io (&f->m);
  g_assert_cmpuint (f->echo.notifies, ==, 0);
  g_assert_false (test_queue_get_used (&q, &id, &len));

  /* Unpausing looks at the queue, so the notification that came meanwhile is not lost. */
  hv_virtio_lock (f->echo.vdev);
  hv_virtio_set_paused (f->echo.vdev, FALSE);
  hv_virtio_unlock (f->echo.vdev);
  test_machine_run_io (&f->m);
  g_assert_cmpuint (f->echo.notifies, ==, 1);
  g_assert_true (test_queue_get_used (&q, &id, &len));
  g_assert_cmpuint (len, ==, 3);
}

static void
test_bar_move (Fixture *f, gconstpointer data)
{
  TestQueue q;
  uint64_t old_common = f->d.common;
  uint64_t new_bar = 0xd0000000ull;

  bring_up (f, &q, HV_VIRTIO_MSI_NO_VECTOR);
  /* The guest moves BAR 4 (64-bit: low dword, then high). */
  test_config_write (&f->m, 1, 0x20, 4, (uint32_t) new_bar);
  test_config_write (&f->m, 1, 0x24, 4, 0);
  g_assert_cmphex (test_mmio_read (&f->m, old_common + 0x14, 1), ==, 0xff);
  test_driver_probe (&f->d, &f->m, 1);
  g_assert_cmphex (f->d.common, ==, new_bar);
  g_assert_cmphex (test_driver_status (&f->d), ==, 0x0f);

  /* The ioeventfds moved with the doorbells. */
  g_assert_cmpuint (f->m.ioeventfds->len, ==, ECHO_QUEUES);
  for (guint i = 0; i < f->m.ioeventfds->len; i++)
    {
      uint64_t addr = g_array_index (f->m.ioeventfds, TestIoeventfd, i).addr;
      g_assert_cmpuint (addr, >=, new_bar);
      g_assert_cmpuint (addr, <, new_bar + 0x4000);
    }
  round_trip (f, &q, 2);
  round_trip (f, &q, 4);

  /* Sizing the BAR does not move it. */
  test_config_write (&f->m, 1, 0x20, 4, 0xffffffff);
  g_assert_cmphex (test_config_read (&f->m, 1, 0x20, 4), ==, 0xffffc004);
  test_config_write (&f->m, 1, 0x20, 4, (uint32_t) new_bar);
  g_assert_cmphex (test_driver_status (&f->d), ==, 0x0f);
}

static GVariant *
save_all (Fixture *f, GVariant **pci)
{
  GVariant *state;

  *pci = g_variant_ref_sink (hv_pci_save_state (f->m.pci));
  hv_virtio_lock (f->echo.vdev);
  state = g_variant_ref_sink (hv_virtio_save_state (f->echo.vdev));
  hv_virtio_unlock (f->echo.vdev);
  return state;
}

static gboolean
load_virtio (EchoDevice *echo, GVariant *state, GError **error)
{
  gboolean ok;

  hv_virtio_lock (echo->vdev);
  ok = hv_virtio_load_state (echo->vdev, state, error);
  hv_virtio_unlock (echo->vdev);
  return ok;
}

/* A copy of @state with @key replaced by @value. */
static GVariant *
with_value (GVariant *state, const char *key, GVariant *value)
{
  g_auto (GVariantDict) dict = G_VARIANT_DICT_INIT (state);
  g_variant_dict_insert_value (&dict, key, value);
  return g_variant_ref_sink (g_variant_dict_end (&dict));
}

static void
test_save_load (Fixture *f, gconstpointer data)
{
  g_autoptr (GVariant) pci_state = NULL;
  g_autoptr (GVariant) state = NULL;
  g_autoptr (GError) error = NULL;
  TestMachine m2;
  EchoDevice echo2;
  TestDriver d2;
  TestQueue q;

  for (unsigned v = 0; v < f->d.msix_vectors; v++)
    test_driver_set_msix (&f->d, v, 0x40 + v);
  bring_up_with (f, &q, VERSION_1 | 0x2, 0, 2);
  round_trip (f, &q, 2);
  g_assert_cmpuint (test_machine_take_msi (&f->m, 0x42), ==, 1);
  test_driver_mask_msix (&f->d, 2, TRUE);
  round_trip (f, &q, 2); /* pending in the PBA */
  state = save_all (f, &pci_state);

  /* A new machine with the same device, its RAM copied as the memory file would bring it. */
  test_machine_init (&m2);
  memcpy (test_guest (&m2, 0, TEST_RAM_SIZE), test_guest (&f->m, 0, TEST_RAM_SIZE), TEST_RAM_SIZE);
  echo_init (&echo2, &m2, "echo");
  g_assert_true (hv_pci_load_state (m2.pci, pci_state, &error));
  g_assert_no_error (error);

  /* Damaged states are refused whole. */
  {
    static const struct
    {
      const char *key;
      const char *text;
    } bad[] = {
      { "status", "@y 0x30" },
      { "device-features", "@t 1" },
      { "config-vector", "@q 9" },
      { "isr", "@y 4" },
      { "driver-features", "@t 2" },
      { "msix-pending", "[byte 1, 2, 0]" },
      { "msix-table", "[byte 1, 2, 3]" },
      { "queues", "@a(qqbtttqqqbb) []" },
      { "queues", "[(@q 4, @q 2, true, @t 4194304, @t 0, @t 0, @q 0, @q 0, @q 0, false, false),"
                  " (4, 65535, false, 0, 0, 0, 0, 0, 0, false, false)]" },
      { "queues", "[(@q 6, @q 2, true, @t 1048576, @t 1048640, @t 1048704, @q 0, @q 0, @q 0, false, false),"
                  " (4, 65535, false, 0, 0, 0, 0, 0, 0, false, false)]" },
    };

    for (gsize i = 0; i < G_N_ELEMENTS (bad); i++)
      {
        g_autoptr (GVariant) value = g_variant_parse (NULL, bad[i].text, NULL, NULL, &error);
        g_autoptr (GVariant) broken = NULL;

        g_assert_no_error (error);
        broken = with_value (state, bad[i].key, value);
        g_assert_false (load_virtio (&echo2, broken, &error));
        g_assert_error (error, HV_ERROR, HV_ERROR_BAD_IMAGE);
        g_clear_error (&error);
      }
  }
  g_assert_true (load_virtio (&echo2, state, &error));
  g_assert_no_error (error);

  /* The driver finds everything as it left it. */
  test_driver_probe (&d2, &m2, 1);
  g_assert_cmphex (test_driver_status (&d2), ==, 0x0f);
  test_common_write (&d2, 0x08, 4, 0);
  g_assert_cmphex (test_common_read (&d2, 0x0c, 4), ==, 0x2);
  g_assert_cmpuint (test_common_read (&d2, 0x10, 2), ==, 0);
  test_common_write (&d2, 0x16, 2, 0);
  g_assert_cmpuint (test_common_read (&d2, 0x18, 2), ==, 4);
  g_assert_cmpuint (test_common_read (&d2, 0x1a, 2), ==, 2);
  g_assert_cmpuint (test_common_read (&d2, 0x1c, 2), ==, 1);
  g_assert_cmphex (test_mmio_read (&m2, d2.msix_table + 32 + 8, 4), ==, 0x42);
  g_assert_cmphex (test_mmio_read (&m2, d2.msix_pba, 1), ==, 0x4);

  /* Unmasking delivers the saved pending interrupt on the new machine's route. */
  test_driver_mask_msix (&d2, 2, FALSE);
  g_assert_cmpuint (test_machine_take_msi (&m2, 0x42), ==, 1);

  /* The queue continues where it was: the next chain lands in used entry 2. */
  test_machine_run_io (&m2); /* the look at each queue a load makes finds nothing to do */
  q.driver = &d2;
  round_trip_on (&m2, &q, 2);
  g_assert_cmpuint (q.last_used, ==, 3);

  hv_virtio_free (echo2.vdev);
  test_machine_clear (&m2);
}

/* Whatever a guest writes to configuration space and the BARs, nothing breaks, and a reset brings the
 * device back. */
static void
test_garbage (Fixture *f, gconstpointer data)
{
  uint64_t common = f->d.common;
  uint64_t msix = f->d.msix_table;
  TestQueue q;

  for (unsigned round = 0; round < 20000; round++)
    {
      static const unsigned widths[] = { 1, 2, 4, 8 };
      unsigned len = widths[g_test_rand_int_range (0, 4)];
      uint64_t value = (uint64_t) (uint32_t) g_test_rand_int () << 32 | (uint32_t) g_test_rand_int ();
      uint64_t base = g_test_rand_bit () ? common : msix;
      uint64_t offset = (uint64_t) g_test_rand_int_range (0, 0x4000);

      /* Mostly the registers that matter, with values that are mostly small. */
      if (g_test_rand_int_range (0, 4) == 0)
        offset = (uint64_t) g_test_rand_int_range (0, 0x40);
      if (g_test_rand_bit ())
        value &= 0xff;
      if (base == msix)
        offset %= 0x1000;
      if (g_test_rand_int_range (0, 8) == 0)
        {
          /* Configuration space below the BARs' reach: command, capabilities. */
          unsigned reg = (unsigned) g_test_rand_int_range (0x04, 0x100);
          if (reg >= 0x10 && reg < 0x28)
            continue;
          test_config_write (&f->m, 1, reg, len > 4 ? 4 : len, (uint32_t) value);
          continue;
        }
      if (g_test_rand_bit ())
        test_mmio_write (&f->m, base + offset, len, value);
      else
        test_mmio_read (&f->m, base + offset, len);
      if (round % 64 == 0)
        test_machine_run_io (&f->m);
    }
  test_machine_run_io (&f->m);

  /* A fresh start works. */
  test_config_write (&f->m, 1, 0x04, 2, 0x0006);
  test_config_write (&f->m, 1, f->d.msix_cap + 2, 2, 0);
  bring_up (f, &q, HV_VIRTIO_MSI_NO_VECTOR);
  round_trip (f, &q, 2);
}

/* The echo device on @thread's context, its queue 0 brought up. */
static void
io_thread_setup (Fixture *f, TestQueue *q, HvIoThread *thread)
{
  test_machine_init (&f->m);
  g_main_context_unref (f->m.io_context);
  f->m.io_context = g_main_context_ref (hv_iothread_get_context (thread));
  f->m.tp.platform.io_context = f->m.io_context;
  echo_init (&f->echo, &f->m, "echo");
  test_driver_probe (&f->d, &f->m, 1);
  bring_up (f, q, HV_VIRTIO_MSI_NO_VECTOR);
}

/* With a real I/O thread: notifications are handled there, and freeing the device waits for it. */
static void
test_io_thread (void)
{
  g_autoptr (GError) error = NULL;
  HvIoThread *thread = hv_iothread_new ("test-io", &error);
  Fixture f;
  TestQueue q;

  g_assert_no_error (error);
  io_thread_setup (&f, &q, thread);

  for (unsigned round = 0; round < 100; round++)
    {
      gint64 deadline = g_get_monotonic_time () + 5 * G_TIME_SPAN_SECOND;
      uint32_t id, len;

      test_queue_add_pair (&q, BUFFERS, 3, BUFFERS + 0x100, 16);
      test_queue_kick (&q, round % 2 ? 2 : 4);
      while (!test_queue_get_used (&q, &id, &len))
        {
          g_assert_cmpint (g_get_monotonic_time (), <, deadline);
          g_usleep (100);
        }
      g_assert_cmpuint (len, ==, 3);
    }
  /* Kicks still on their way when the device goes are harmless. */
  test_queue_add_pair (&q, BUFFERS, 3, BUFFERS + 0x100, 16);
  test_queue_kick (&q, 2);
  hv_virtio_free (f.echo.vdev);
  hv_iothread_free (thread);
  test_machine_clear (&f.m);
}

/* A driver that honours NO_NOTIFY, skipping its doorbell while the device's I/O thread polls the ring,
 * is still served, one request after another (the thread's window raised to 1 ms so that a loaded
 * machine still answers inside it, and the driver does find the flag set). */
static void
test_io_thread_quiet_driver (void)
{
  g_autoptr (GError) error = NULL;
  HvIoThread *thread;
  Fixture f;
  TestQueue q;
  unsigned skipped = 0;

  g_setenv ("VIREO_POLL_MAX_NS", "1000000", TRUE);
  thread = hv_iothread_new ("test-io", &error);
  g_unsetenv ("VIREO_POLL_MAX_NS");
  g_assert_no_error (error);
  io_thread_setup (&f, &q, thread);

  for (unsigned round = 0; round < 20000 && skipped < 100; round++)
    {
      gint64 deadline = g_get_monotonic_time () + 5 * G_TIME_SPAN_SECOND;
      uint16_t flags;
      uint32_t id, len;

      memset (test_guest (&f.m, BUFFERS + 0x100, 16), 0, 16);
      test_queue_add_pair (&q, BUFFERS, 3, BUFFERS + 0x100, 16);
      /* The driver's side of the barrier: its index before the device's wishes are read. */
      __atomic_thread_fence (__ATOMIC_SEQ_CST);
      memcpy (&flags, test_guest (&f.m, q.used, 2), 2);
      if (GUINT16_FROM_LE (flags) & HV_VRING_USED_F_NO_NOTIFY)
        skipped++;
      else
        test_queue_kick (&q, 2);
      while (!test_queue_get_used (&q, &id, &len))
        g_assert_cmpint (g_get_monotonic_time (), <, deadline);
      g_assert_cmpuint (len, ==, 3);
    }
  g_assert_cmpuint (skipped, >, 0);
  hv_virtio_free (f.echo.vdev);
  hv_iothread_free (thread);
  test_machine_clear (&f.m);
}

static void
test_bad_info (void)
{
  TestMachine m;
  HvVirtioDeviceInfo info = { .name = "bad", .device_id = 1, .n_queues = 1, .queue_size = 6 };
  g_autoptr (GError) error = NULL;

  test_machine_init (&m);
  g_assert_null (hv_virtio_pci_new (&m.tp.platform, m.pci, &info, NULL, &error));
  g_assert_error (error, HV_ERROR, HV_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);

  /* Without an I/O thread there is nowhere to do the work. */
  info.queue_size = 8;
  m.tp.platform.io_context = NULL;
  g_assert_null (hv_virtio_pci_new (&m.tp.platform, m.pci, &info, NULL, &error));
  g_assert_error (error, HV_ERROR, HV_ERROR_INVALID_ARGUMENT);
  /* Nothing was put on the bus. */
  g_assert_cmphex (test_config_read (&m, 1, 0, 4), ==, 0xffffffff);
  m.tp.platform.io_context = m.io_context;
  test_machine_clear (&m);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

#define ADD(path, fn) g_test_add (path, Fixture, NULL, fixture_setup, fn, fixture_teardown)
  ADD ("/virtio-pci/identity", test_identity);
  ADD ("/virtio-pci/features", test_features);
  ADD ("/virtio-pci/queue-setup", test_queue_setup_registers);
  ADD ("/virtio-pci/notify-intx", test_notify_intx);
  ADD ("/virtio-pci/msix", test_msix);
  ADD ("/virtio-pci/reset", test_reset);
  ADD ("/virtio-pci/needs-reset", test_needs_reset);
  ADD ("/virtio-pci/paused", test_paused);
  ADD ("/virtio-pci/bar-move", test_bar_move);
  ADD ("/virtio-pci/save-load", test_save_load);
  ADD ("/virtio-pci/garbage", test_garbage);
#undef ADD
  g_test_add_func ("/virtio-pci/bad-info", test_bad_info);
  g_test_add_func ("/virtio-pci/io-thread", test_io_thread);
  g_test_add_func ("/virtio-pci/io-thread/quiet-driver", test_io_thread_quiet_driver);
  return g_test_run ();
}
