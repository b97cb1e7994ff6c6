/* virtio-net-test.c — the virtio-net device tests' machine and driver: the NIC set up on the NAT (plain,
 * restricted, with TFTP, with several pairs), the guest's side of its queues, and frames. */
#include "virtio-net-test.h"

/* The NIC (MAC guest_mac) of @config on the machine, found by the driver. */
void
add_nic (Fixture *f, HvVirtioNetConfig *config)
{
  g_autoptr (GError) error = NULL;

  memcpy (config->mac, guest_mac, 6);
  f->net = hv_virtio_net_new (&f->m.tp.platform, f->m.io_context, f->m.pci, config, &error);
  g_assert_no_error (error);
  test_driver_probe (&f->d, &f->m, 1);
  f->n_tx = 0;
}

void
setup_with (Fixture *f, gboolean restricted)
{
  HvVirtioNetConfig config = { .name = "net0", .restricted = restricted, .tftp_dir = f->tftp_fd };

  test_machine_init (&f->m);
  add_nic (f, &config);
}

void
fixture_setup (Fixture *f, gconstpointer data)
{
  f->tftp_fd = -1;
  f->tap_fd = f->packet = -1;
  setup_with (f, FALSE);
}

/* MQ_PAIRS queue pairs on the restricted NAT (the device takes several with any backend; specs refuse
 * them for the NAT). */
void
mq_setup (Fixture *f, gconstpointer data)
{
  HvVirtioNetConfig config = { .name = "net0", .restricted = TRUE, .tftp_dir = -1, .queues = MQ_PAIRS };

  f->tftp_fd = -1;
  f->tap_fd = f->packet = -1;
  f->pairs = MQ_PAIRS;
  test_machine_init (&f->m);
  add_nic (f, &config);
}

/* Restricted, with a TFTP directory holding "hello.txt". */
void
tftp_setup (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *file = NULL;

  f->tap_fd = f->packet = -1;
  f->tftp_dir = g_dir_make_tmp ("vireo-tftp-XXXXXX", &error);
  g_assert_no_error (error);
  file = g_build_filename (f->tftp_dir, "hello.txt", NULL);
  g_assert_true (g_file_set_contents (file, "hello over tftp\n", -1, &error));
  f->tftp_fd = open (f->tftp_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  g_assert_cmpint (f->tftp_fd, >=, 0);
  setup_with (f, TRUE);
}

void
restricted_setup (Fixture *f, gconstpointer data)
{
  f->tftp_fd = -1;
  f->tap_fd = f->packet = -1;
  setup_with (f, TRUE);
}

void
fixture_teardown (Fixture *f, gconstpointer data)
{
  hv_virtio_net_free (f->net);
  test_machine_clear (&f->m);
  if (f->tftp_fd >= 0)
    close (f->tftp_fd);
  if (f->packet >= 0)
    close (f->packet);
  if (f->tap_fd >= 0)
    close (f->tap_fd);
  for (unsigned i = 1; i < G_N_ELEMENTS (f->tap_fds); i++)
    if (f->tap_fds[i] > 0)
      close (f->tap_fds[i]);
  g_free (f->tap_name);
  if (f->tftp_dir)
    {
      vireo_test_remove_tree (f->tftp_dir);
      g_free (f->tftp_dir);
    }
}

uint64_t
device_features (Fixture *f)
{
  return test_driver_device_features (&f->d);
}

/* Gives the device @count receive buffers of @len bytes and tells it. */
void
give_rx (Fixture *f, unsigned count, uint32_t len)
{
  for (unsigned i = 0; i < count; i++)
    {
      uint64_t addr = RX_BUFS + (uint64_t) RX_BUF_LEN * (f->rxq.next_desc);
      uint16_t head = test_queue_add (&f->rxq, addr, len, TRUE);
      f->rx_addr[head] = addr;
    }
  test_queue_kick (&f->rxq, 2);
  test_machine_run_io (f->d.machine);
}

/* Features, queues (no MSI-X: INTx), DRIVER_OK, then @rx_buffers receive buffers of @rx_len bytes. */
void
bring_up (Fixture *f, uint64_t features, unsigned rx_buffers, uint32_t rx_len)
{
  g_assert_true (test_driver_negotiate (&f->d, HV_VIRTIO_FEATURE (HV_VIRTIO_F_VERSION_1) | features));
  test_queue_setup (&f->rxq, &f->d, 0, QUEUE_LEN, RXQ_BASE, HV_VIRTIO_MSI_NO_VECTOR);
  test_queue_setup (&f->txq, &f->d, 1, QUEUE_LEN, TXQ_BASE, HV_VIRTIO_MSI_NO_VECTOR);
  test_driver_set_status (&f->d, test_driver_status (&f->d) | HV_VIRTIO_STATUS_DRIVER_OK);
  give_rx (f, rx_buffers, rx_len);
}

/* Sends @frame behind a zero header, from one readable buffer; returns after the device took it. */
void
transmit (Fixture *f, const uint8_t *frame, gsize len)
{
  uint64_t addr = TX_BUFS + 2048ull * (f->n_tx++ % QUEUE_LEN);
  uint8_t *buf = test_guest (f->d.machine, addr, HDR_LEN + len);
  uint32_t id, used_len;

  memset (buf, 0, HDR_LEN);
  memcpy (buf + HDR_LEN, frame, len);
  test_queue_add (&f->txq, addr, (uint32_t) (HDR_LEN + len), FALSE);
  test_queue_kick (&f->txq, 2);
  test_machine_run_io (f->d.machine);
  g_assert_true (test_queue_get_used (&f->txq, &id, &used_len));
  g_assert_cmpuint (used_len, ==, 0);
}

/* The next frame the device delivered (one buffer); its length, 0 when there is none. */
gsize
next_rx (Fixture *f, uint8_t *frame, gsize max)
{
  uint32_t id, len;
  const uint8_t *buf;

  if (!test_queue_get_used (&f->rxq, &id, &len))
    return 0;
  g_assert_cmpuint (id, <, QUEUE_LEN);
  g_assert_cmpuint (len, >, HDR_LEN);
  buf = test_guest (f->d.machine, f->rx_addr[id], len);
  /* No offloads: flags and gso_type 0; one buffer. */
  g_assert_cmpuint (buf[0], ==, 0);
  g_assert_cmpuint (buf[1], ==, 0);
  g_assert_cmpuint (buf[10] | buf[11] << 8, ==, 1);
  g_assert_cmpuint (len - HDR_LEN, <=, max);
  memcpy (frame, buf + HDR_LEN, len - HDR_LEN);
  return len - HDR_LEN;
}

gsize
arp_request (uint8_t *frame, const uint8_t *target)
{
  memset (frame, 0xff, 6);
  memcpy (frame + 6, guest_mac, 6);
  frame[12] = 0x08;
  frame[13] = 0x06;
  memcpy (frame + 14, (const uint8_t[]){ 0, 1, 8, 0, 6, 4, 0, 1 }, 8);
  memcpy (frame + 22, guest_mac, 6);
  memcpy (frame + 28, guest_ip, 4);
  memset (frame + 32, 0, 6);
  memcpy (frame + 38, target, 4);
  return 42;
}

void
assert_arp_reply (Fixture *f)
{
  uint8_t frame[2048];
  gsize len = next_rx (f, frame, sizeof frame);

  g_assert_cmpuint (len, >=, 42);
  g_assert_cmpmem (frame, 6, guest_mac, 6);
  g_assert_cmphex (frame[12] << 8 | frame[13], ==, 0x0806);
  g_assert_cmphex (frame[20] << 8 | frame[21], ==, 2); /* a reply */
  g_assert_cmpmem (frame + 28, 4, gateway_ip, 4);      /* from the gateway */
  g_assert_cmpmem (frame + 32, 6, guest_mac, 6);
  g_assert_cmpmem (frame + 38, 4, guest_ip, 4);
}

TestQueue *
mq_queue (Fixture *f, unsigned index)
{
  return index == 0 ? &f->rxq : index == 1 ? &f->txq : &f->queues[index];
}

/* @features with VERSION_1, every queue of the device's pairs and its control queue (queue i on MSI-X
 * vector i), DRIVER_OK. */
void
mq_bring_up (Fixture *f, uint64_t features)
{
  g_assert_true (test_driver_negotiate (&f->d, HV_VIRTIO_FEATURE (HV_VIRTIO_F_VERSION_1) | features));
  for (unsigned i = 0; i < 2 * f->pairs + 1; i++)
    {
      uint64_t base = i == 0 ? RXQ_BASE : i == 1 ? TXQ_BASE : MQ_QUEUES_BASE + 0x1000ull * i;

      test_driver_set_msix (&f->d, i, MSI_DATA (i));
      test_queue_setup (mq_queue (f, i), &f->d, i, QUEUE_LEN, base, (uint16_t) i);
    }
  test_driver_set_status (&f->d, test_driver_status (&f->d) | HV_VIRTIO_STATUS_DRIVER_OK);
}

/* Gives pair @pair @count receive buffers. */
void
mq_give_rx (Fixture *f, unsigned pair, unsigned count)
{
  TestQueue *q = mq_queue (f, 2 * pair);

  for (unsigned i = 0; i < count; i++)
    {
      uint64_t addr = (pair == 0 ? RX_BUFS : MQ_RX_BUFS + 0x10000ull * pair)
                      + (uint64_t) RX_BUF_LEN * q->next_desc;
      uint16_t head = test_queue_add (q, addr, RX_BUF_LEN, TRUE);

      if (pair == 0)
        f->rx_addr[head] = addr;
      else
        f->mq_rx_addr[pair][head] = addr;
    }
  test_queue_kick (q, 2);
  test_machine_run_io (&f->m);
}

/* Sends @frame on pair @pair's transmit queue; returns once the device gave the buffer back. */
void
mq_transmit (Fixture *f, unsigned pair, const uint8_t *frame, gsize len)
{
  TestQueue *q = mq_queue (f, 2 * pair + 1);
  uint64_t addr = MQ_TX_BUFS + 0x8000ull * pair + 2048ull * (f->mq_tx[pair]++ % QUEUE_LEN);
  uint8_t *buf = test_guest (&f->m, addr, HDR_LEN + len);
  uint32_t id, used_len;

  memset (buf, 0, HDR_LEN);
  memcpy (buf + HDR_LEN, frame, len);
  test_queue_add (q, addr, (uint32_t) (HDR_LEN + len), FALSE);
  test_queue_kick (q, 2);
  test_machine_run_io (&f->m);
  g_assert_true (test_queue_get_used (q, &id, &used_len));
}

/* A command on the control queue from @buffers; the device's answer, or -1 when it returned the chain
 * without one. */
int
control (Fixture *f, const TestBuffer *buffers, unsigned n)
{
  TestQueue *q = mq_queue (f, 2 * f->pairs);
  uint32_t id, len;

  *test_guest (&f->m, CTRL_ACK, 1) = 0xee;
  test_queue_add_chain (q, buffers, n);
  test_queue_kick (q, 2);
  test_machine_run_io (&f->m);
  g_assert_true (test_queue_get_used (q, &id, &len));
  g_assert_cmpuint (len, <=, 1);
  return len == 1 ? *test_guest (&f->m, CTRL_ACK, 1) : -1;
}

/* VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET @pairs, as Linux sends it: class and command, the count, the ack. */
int
set_pairs (Fixture *f, unsigned pairs)
{
  uint8_t *command = test_guest (&f->m, CTRL_BUF, 4);

  command[0] = 4;
  command[1] = 0;
  command[2] = (uint8_t) pairs;
  command[3] = (uint8_t) (pairs >> 8);
  return control (f, (const TestBuffer[]){ { CTRL_BUF, 2 }, { CTRL_BUF + 2, 2 }, { CTRL_ACK, 1, TRUE } }, 3);
}
