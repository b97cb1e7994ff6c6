/* test-virtio-net.c — the virtio-net NIC as a driver sees it: what it offers, ARP answered by the NAT,
 * the receive header, mergeable buffers, and a hostile or absent driver (short, huge and out-of-RAM
 * transmit chains, buffers too small, a receive queue never refilled); restricted mode's filter and
 * saved state.  slirp runs on the test's I/O context, with no port forwards: nothing opens a socket. */
#include "virtio-driver.h"
#include "device.h"
#include "devices/virtio-net.h"

#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#define RXQ_BASE   0x100000
#define TXQ_BASE   0x110000
#define RX_BUFS    0x200000 /* RX_BUF_LEN each */
#define TX_BUFS    0x300000
#define BIG_BUF    0x320000 /* 70000 bytes */
#define RX_BUF_LEN 2048
#define QUEUE_LEN  16
#define HDR_LEN    12

#define F_CSUM       0
#define F_GUEST_CSUM 1
#define F_MAC        5
#define F_GUEST_TSO4 7
#define F_HOST_TSO4  11
#define F_MRG_RXBUF  15
#define F_STATUS     16

static const uint8_t guest_mac[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };
static const uint8_t guest_ip[4] = { 10, 0, 2, 15 };
static const uint8_t gateway_ip[4] = { 10, 0, 2, 2 };

typedef struct
{
  TestMachine m;
  HvVirtioNet *net;
  TestDriver d;
  TestQueue rxq;
  TestQueue txq;
  uint64_t rx_addr[QUEUE_LEN]; /* the buffer given with each receive descriptor */
  unsigned n_tx;
  char *tftp_dir; /* served by the TFTP server, when the test has one */
  int tftp_fd;
} Fixture;

static void
setup_with (Fixture *f, gboolean restricted)
{
  g_autoptr (GError) error = NULL;
  HvVirtioNetConfig config = { .name = "net0", .restricted = restricted, .tftp_dir = f->tftp_fd };

  memcpy (config.mac, guest_mac, 6);
  test_machine_init (&f->m);
  f->net = hv_virtio_net_new (&f->m.tp.platform, f->m.io_context, f->m.pci, &config, &error);
  g_assert_no_error (error);
  test_driver_probe (&f->d, &f->m, 1);
  f->n_tx = 0;
}

static void
fixture_setup (Fixture *f, gconstpointer data)
{
  f->tftp_fd = -1;
  setup_with (f, FALSE);
}

/* Restricted, with a TFTP directory holding "hello.txt". */
static void
tftp_setup (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *file = NULL;

  f->tftp_dir = g_dir_make_tmp ("vireo-tftp-XXXXXX", &error);
  g_assert_no_error (error);
  file = g_build_filename (f->tftp_dir, "hello.txt", NULL);
  g_assert_true (g_file_set_contents (file, "hello over tftp\n", -1, &error));
  f->tftp_fd = open (f->tftp_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  g_assert_cmpint (f->tftp_fd, >=, 0);
  setup_with (f, TRUE);
}

static void
restricted_setup (Fixture *f, gconstpointer data)
{
  f->tftp_fd = -1;
  setup_with (f, TRUE);
}

static void
fixture_teardown (Fixture *f, gconstpointer data)
{
  hv_virtio_net_free (f->net);
  test_machine_clear (&f->m);
  if (f->tftp_fd >= 0)
    close (f->tftp_fd);
  if (f->tftp_dir)
    {
      vireo_test_remove_tree (f->tftp_dir);
      g_free (f->tftp_dir);
    }
}

static uint64_t
device_features (Fixture *f)
{
  uint64_t features;

  test_common_write (&f->d, 0x00, 4, 0);
  features = test_common_read (&f->d, 0x04, 4);
  test_common_write (&f->d, 0x00, 4, 1);
  return features | test_common_read (&f->d, 0x04, 4) << 32;
}

/* Gives the device @count receive buffers of @len bytes and tells it. */
static void
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
static void
bring_up (Fixture *f, uint64_t features, unsigned rx_buffers, uint32_t rx_len)
{
  g_assert_true (test_driver_negotiate (&f->d, HV_VIRTIO_FEATURE (HV_VIRTIO_F_VERSION_1) | features));
  test_queue_setup (&f->rxq, &f->d, 0, QUEUE_LEN, RXQ_BASE, HV_VIRTIO_MSI_NO_VECTOR);
  test_queue_setup (&f->txq, &f->d, 1, QUEUE_LEN, TXQ_BASE, HV_VIRTIO_MSI_NO_VECTOR);
  test_driver_set_status (&f->d, test_driver_status (&f->d) | HV_VIRTIO_STATUS_DRIVER_OK);
  give_rx (f, rx_buffers, rx_len);
}

/* Sends @frame behind a zero header, from one readable buffer; returns after the device took it. */
static void
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
static gsize
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

static gsize
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

static void
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

static void
test_offer (Fixture *f, gconstpointer data)
{
  uint64_t features = device_features (f);

  g_assert_cmphex (test_config_read (&f->m, 1, 0, 4), ==, 0x10411af4);
  g_assert_cmphex (test_config_read (&f->m, 1, 0x08, 4) >> 8, ==, 0x020000);
  g_assert_true (features & HV_VIRTIO_FEATURE (HV_VIRTIO_F_VERSION_1));
  g_assert_true (features & HV_VIRTIO_FEATURE (F_MAC));
  g_assert_true (features & HV_VIRTIO_FEATURE (F_STATUS));
  g_assert_true (features & HV_VIRTIO_FEATURE (F_MRG_RXBUF));
  /* slirp needs whole frames with their checksums: no offloads either way. */
  g_assert_false (features & HV_VIRTIO_FEATURE (F_CSUM));
  g_assert_false (features & HV_VIRTIO_FEATURE (F_GUEST_CSUM));
  g_assert_false (features & HV_VIRTIO_FEATURE (F_GUEST_TSO4));
  g_assert_false (features & HV_VIRTIO_FEATURE (F_HOST_TSO4));
  for (unsigned i = 0; i < 6; i++)
    g_assert_cmphex (test_mmio_read (&f->m, f->d.device + i, 1), ==, guest_mac[i]);
  g_assert_cmphex (test_mmio_read (&f->m, f->d.device + 6, 2), ==, 1); /* LINK_UP */
}

static void
test_arp (Fixture *f, gconstpointer data)
{
  uint8_t frame[64];
  HvVirtioNetStats stats;

  bring_up (f, HV_VIRTIO_FEATURE (F_MAC) | HV_VIRTIO_FEATURE (F_STATUS), 8, RX_BUF_LEN);
  transmit (f, frame, arp_request (frame, gateway_ip));
  assert_arp_reply (f);
  hv_virtio_net_get_stats (f->net, &stats);
  g_assert_cmpuint (stats.tx_frames, ==, 1);
  g_assert_cmpuint (stats.rx_frames, ==, 1);
}

static void
test_hostile_tx (Fixture *f, gconstpointer data)
{
  uint8_t frame[64];
  HvVirtioNetStats stats;
  uint32_t id, len;

  bring_up (f, 0, 8, RX_BUF_LEN);
  /* Shorter than the header; a frame longer than any Ethernet frame may be; only writable buffers. */
  test_queue_add (&f->txq, TX_BUFS, 5, FALSE);
  test_queue_add (&f->txq, BIG_BUF, 70000, FALSE);
  test_queue_add (&f->txq, TX_BUFS, 64, TRUE);
  test_queue_kick (&f->txq, 2);
  test_machine_run_io (&f->m);
  for (unsigned i = 0; i < 3; i++)
    {
      g_assert_true (test_queue_get_used (&f->txq, &id, &len));
      g_assert_cmpuint (len, ==, 0);
    }
  hv_virtio_net_get_stats (f->net, &stats);
  g_assert_cmpuint (stats.tx_dropped, ==, 3);
  g_assert_cmpuint (stats.tx_frames, ==, 0);
  g_assert_false (test_driver_status (&f->d) & HV_VIRTIO_STATUS_NEEDS_RESET);

  /* The device goes on. */
  f->n_tx = 1;
  transmit (f, frame, arp_request (frame, gateway_ip));
  assert_arp_reply (f);
}

static void
test_tx_outside_ram (Fixture *f, gconstpointer data)
{
  static const uint8_t frame[60] = { 0 };
  HvVirtioNetStats stats;

  bring_up (f, 0, 8, RX_BUF_LEN);
  test_queue_add (&f->txq, TEST_RAM_SIZE - 16, 64, FALSE);
  test_queue_kick (&f->txq, 2);
  test_machine_run_io (&f->m);
  g_assert_true (test_driver_status (&f->d) & HV_VIRTIO_STATUS_NEEDS_RESET);
  /* Nothing reaches a broken driver, and nothing breaks. */
  hv_virtio_net_receive (f->net, frame, sizeof frame);
  hv_virtio_net_get_stats (f->net, &stats);
  g_assert_cmpuint (stats.rx_frames, ==, 0);
  g_assert_cmpuint (stats.rx_dropped, ==, 1);
}

static void
test_rx_never_refilled (Fixture *f, gconstpointer data)
{
  uint8_t frame[100];
  uint8_t got[2048];
  HvVirtioNetStats stats;

  bring_up (f, 0, 0, RX_BUF_LEN);
  for (unsigned i = 0; i < 1000; i++)
    {
      memset (frame, 0, sizeof frame);
      frame[14] = (uint8_t) i;
      frame[15] = (uint8_t) (i >> 8);
      hv_virtio_net_receive (f->net, frame, sizeof frame);
    }
  hv_virtio_net_get_stats (f->net, &stats);
  g_assert_cmpuint (stats.rx_frames, ==, 0);
  g_assert_cmpuint (stats.rx_dropped, ==, 1000 - HV_VIRTIO_NET_PENDING_MAX);

  /* Buffers at last: the oldest frames that waited arrive, in order. */
  give_rx (f, QUEUE_LEN, RX_BUF_LEN);
  for (unsigned i = 0; i < QUEUE_LEN; i++)
    {
      g_assert_cmpuint (next_rx (f, got, sizeof got), ==, sizeof frame);
      g_assert_cmpuint (got[14] | got[15] << 8, ==, i);
    }
  g_assert_cmpuint (next_rx (f, got, sizeof got), ==, 0);
  hv_virtio_net_get_stats (f->net, &stats);
  g_assert_cmpuint (stats.rx_frames, ==, QUEUE_LEN);
}

static void
test_rx_buffer_too_small (Fixture *f, gconstpointer data)
{
  uint8_t frame[100] = { 0 };
  HvVirtioNetStats stats;
  uint32_t id, len;

  bring_up (f, 0, 1, 20);
  hv_virtio_net_receive (f->net, frame, sizeof frame);
  g_assert_true (test_queue_get_used (&f->rxq, &id, &len));
  g_assert_cmpuint (len, ==, 0);
  hv_virtio_net_get_stats (f->net, &stats);
  g_assert_cmpuint (stats.rx_dropped, ==, 1);
  g_assert_false (test_driver_status (&f->d) & HV_VIRTIO_STATUS_NEEDS_RESET);
}

static void
test_mergeable (Fixture *f, gconstpointer data)
{
  uint8_t frame[150];
  uint8_t stream[HDR_LEN + sizeof frame];
  uint32_t ids[3], lens[3], id, len;
  gsize at = 0;

  for (unsigned i = 0; i < sizeof frame; i++)
    frame[i] = (uint8_t) (i * 7);
  bring_up (f, HV_VIRTIO_FEATURE (F_MRG_RXBUF), 2, 64);
  /* 162 bytes do not fit two buffers of 64: the frame waits, the buffers stay the driver's. */
  hv_virtio_net_receive (f->net, frame, sizeof frame);
  g_assert_false (test_queue_get_used (&f->rxq, &id, &len));
  give_rx (f, 1, 64);
  for (unsigned i = 0; i < 3; i++)
    {
      g_assert_true (test_queue_get_used (&f->rxq, &ids[i], &lens[i]));
      memcpy (stream + at, test_guest (&f->m, f->rx_addr[ids[i]], lens[i]), lens[i]);
      at += lens[i];
    }
  g_assert_cmpuint (lens[0], ==, 64);
  g_assert_cmpuint (lens[1], ==, 64);
  g_assert_cmpuint (lens[2], ==, sizeof stream - 128);
  g_assert_cmpuint (at, ==, sizeof stream);
  g_assert_cmpuint (stream[10] | stream[11] << 8, ==, 3); /* num_buffers */
  g_assert_cmpmem (stream + HDR_LEN, sizeof frame, frame, sizeof frame);
}

/* A UDP datagram from the guest (10.0.2.15:@sport) to the gateway's @dport, without a checksum. */
static gsize
udp_to_gateway (uint8_t *frame, uint16_t sport, uint16_t dport, const void *payload, gsize len)
{
  gsize ip_len = 20 + 8 + len;

  memset (frame, 0, 14 + ip_len);
  memcpy (frame, (const uint8_t[]){ 0x52, 0x55, 0x0a, 0x00, 0x02, 0x02 }, 6);
  memcpy (frame + 6, guest_mac, 6);
  frame[12] = 0x08;
  frame[14] = 0x45;
  frame[16] = (uint8_t) (ip_len >> 8);
  frame[17] = (uint8_t) ip_len;
  frame[22] = 64;
  frame[23] = 17;
  memcpy (frame + 26, guest_ip, 4);
  memcpy (frame + 30, gateway_ip, 4);
  {
    uint32_t sum = 0;
    for (unsigned i = 0; i < 20; i += 2)
      sum += (uint32_t) (frame[14 + i] << 8 | frame[15 + i]);
    while (sum >> 16)
      sum = (sum & 0xffff) + (sum >> 16);
    frame[24] = (uint8_t) (~sum >> 8);
    frame[25] = (uint8_t) ~sum;
  }
  frame[34] = (uint8_t) (sport >> 8);
  frame[35] = (uint8_t) sport;
  frame[36] = (uint8_t) (dport >> 8);
  frame[37] = (uint8_t) dport;
  frame[38] = (uint8_t) ((8 + len) >> 8);
  frame[39] = (uint8_t) (8 + len);
  memcpy (frame + 42, payload, len);
  return 14 + ip_len;
}

static void
test_restricted (Fixture *f, gconstpointer data)
{
  static const uint8_t query[4] = { 0 };
  uint8_t frame[64];
  HvVirtioNetStats stats;

  /* A DNS query to the gateway stays in. */
  bring_up (f, 0, 8, RX_BUF_LEN);
  transmit (f, frame, udp_to_gateway (frame, 1234, 53, query, sizeof query));
  hv_virtio_net_get_stats (f->net, &stats);
  g_assert_cmpuint (stats.tx_filtered, ==, 1);
  g_assert_cmpuint (stats.tx_frames, ==, 0);

  /* ARP is let through. */
  transmit (f, frame, arp_request (frame, gateway_ip));
  assert_arp_reply (f);
  hv_virtio_net_get_stats (f->net, &stats);
  g_assert_cmpuint (stats.tx_frames, ==, 1);
}

static void
test_tftp (Fixture *f, gconstpointer data)
{
  static const char request[] = "\0\1hello.txt\0octet";
  static const char expect[] = "\0\3\0\1hello over tftp\n";
  uint8_t frame[2048];
  gsize len;

  bring_up (f, 0, 8, RX_BUF_LEN);
  /* The NAT learns the guest's MAC from its ARP request, then answers the read request with the first
   * (and only) block. */
  transmit (f, frame, arp_request (frame, gateway_ip));
  assert_arp_reply (f);
  transmit (f, frame, udp_to_gateway (frame, 2000, 69, request, sizeof request));
  len = next_rx (f, frame, sizeof frame);
  g_assert_cmpuint (len, >=, 42 + sizeof expect - 1);
  g_assert_cmpuint (frame[23], ==, 17);
  g_assert_cmpmem (frame + 26, 4, gateway_ip, 4);
  g_assert_cmpuint (frame[36] << 8 | frame[37], ==, 2000);
  g_assert_cmpmem (frame + 42, sizeof expect - 1, expect, sizeof expect - 1);
}

static void
test_save_load (Fixture *f, gconstpointer data)
{
  g_autoptr (GVariant) pci_state = NULL;
  g_autoptr (GVariant) state = NULL;
  g_autoptr (GError) error = NULL;
  HvVirtioNetConfig config = { .name = "net0", .tftp_dir = -1 };
  HvVirtioNet *copy, *other;
  TestMachine m2;
  uint8_t frame[64];

  bring_up (f, 0, 4, RX_BUF_LEN);
  transmit (f, frame, arp_request (frame, gateway_ip));
  assert_arp_reply (f);
  hv_virtio_net_set_paused (f->net, TRUE);
  pci_state = g_variant_ref_sink (hv_pci_save_state (f->m.pci));
  state = g_variant_ref_sink (vireo_test_state_through_bytes (hv_virtio_net_save_state (f->net)));

  test_machine_init (&m2);
  memcpy (test_guest (&m2, 0, TEST_RAM_SIZE), test_guest (&f->m, 0, TEST_RAM_SIZE), TEST_RAM_SIZE);
  memcpy (config.mac, guest_mac, 6);
  copy = hv_virtio_net_new (&m2.tp.platform, m2.io_context, m2.pci, &config, &error);
  g_assert_no_error (error);
  g_assert_true (hv_pci_load_state (m2.pci, pci_state, &error));
  g_assert_no_error (error);

  /* Another MAC: the guest's driver would go on with the old one. */
  config.name = "net1";
  config.mac[5] = 0x57;
  other = hv_virtio_net_new (&m2.tp.platform, m2.io_context, m2.pci, &config, &error);
  g_assert_no_error (error);
  g_assert_false (hv_virtio_net_load_state (other, state, &error));
  g_assert_error (error, HV_ERROR, HV_ERROR_BAD_IMAGE);
  g_clear_error (&error);

  g_assert_true (hv_virtio_net_load_state (copy, state, &error));
  g_assert_no_error (error);

  /* The driver goes on with the new machine's device: the queues are where they were. */
  f->d.machine = &m2;
  transmit (f, frame, arp_request (frame, gateway_ip));
  assert_arp_reply (f);

  hv_virtio_net_free (other);
  hv_virtio_net_free (copy);
  test_machine_clear (&m2);
  f->d.machine = &f->m;
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
#define ADD(path, fn, setup) g_test_add ("/virtio-net/" path, Fixture, NULL, setup, fn, fixture_teardown)
  ADD ("offer", test_offer, fixture_setup);
  ADD ("arp", test_arp, fixture_setup);
  ADD ("hostile-tx", test_hostile_tx, fixture_setup);
  ADD ("tx-outside-ram", test_tx_outside_ram, fixture_setup);
  ADD ("rx-never-refilled", test_rx_never_refilled, fixture_setup);
  ADD ("rx-buffer-too-small", test_rx_buffer_too_small, fixture_setup);
  ADD ("mergeable", test_mergeable, fixture_setup);
  ADD ("restricted", test_restricted, restricted_setup);
  ADD ("tftp", test_tftp, tftp_setup);
  ADD ("save-load", test_save_load, fixture_setup);
  return g_test_run ();
}
