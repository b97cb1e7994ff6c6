/* test-virtio-net.c — the virtio-net NIC as a driver sees it: what it offers, ARP answered by the NAT,
 * the receive header, mergeable buffers, and a hostile or absent driver (short, huge and out-of-RAM
 * transmit chains, buffers too small, a receive queue never refilled); restricted mode's filter and
 * saved state; the guest's address learnt from a DHCP ACK.  slirp runs on the test's I/O context, with
 * no port forwards: nothing opens a socket.
 *
 * The TAP backend (as root): the test process moves to a network namespace of its own, makes a bridge
 * and a TAP on it there (hv_net_open_bridge_tap, as vireo-run does), and plays the host's side with a
 * packet socket on the TAP that sees and sends virtio-net headers (PACKET_VNET_HDR): offload headers go
 * through both ways, the link can be pulled, a guest without receive buffers leaves frames in the
 * kernel's queue, and headers asking for what was not negotiated are dropped. */
#include "virtio-driver.h"
#include "device.h"
#include "devices/virtio-net.h"

#include <fcntl.h>
#include <linux/if_bridge.h>
#include <linux/if_packet.h>
#include <linux/if_tun.h>
#include <linux/sockios.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
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
#define F_GUEST_TSO6 8
#define F_HOST_TSO4  11
#define F_HOST_TSO6  12
#define F_MRG_RXBUF  15
#define F_STATUS     16
#define F_CTRL_VQ    17
#define F_MQ         22
#define F_GUEST_USO4 54
#define F_GUEST_USO6 55
#define F_HOST_USO   56

/* Several queue pairs: pair 0 is rxq and txq above, the other queues (and the control queue) here. */
#define MQ_PAIRS       3
#define MQ_QUEUES_BASE 0x120000 /* queue i at + i * 0x1000 */
#define MQ_RX_BUFS     0x340000 /* pair p's at + p * 0x10000, RX_BUF_LEN each */
#define MQ_TX_BUFS     0x380000 /* pair p's at + p * 0x8000 */
#define CTRL_BUF       0x3c0000
#define CTRL_ACK       0x3c1000
#define MSI_DATA(q)    (0x40 + (q)) /* queue q's MSI-X vector's message */

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
  int tap_fd; /* the TAP backend's, or -1 */
  char *tap_name;
  int packet;            /* a packet socket on the TAP: the host's side */
  int tap_fds[MQ_PAIRS]; /* a multiqueue TAP's queues (tap_fd is the first), or -1 */
  unsigned pairs;        /* the NIC's queue pairs */
  TestQueue queues[2 * MQ_PAIRS + 1];
  uint64_t mq_rx_addr[MQ_PAIRS][QUEUE_LEN];
  unsigned mq_tx[MQ_PAIRS];
} Fixture;

/* The test process has a network namespace of its own (root): TAP tests may run. */
static gboolean private_netns;

/* The NIC (MAC guest_mac) of @config on the machine, found by the driver. */
static void
add_nic (Fixture *f, HvVirtioNetConfig *config)
{
  g_autoptr (GError) error = NULL;

  memcpy (config->mac, guest_mac, 6);
  f->net = hv_virtio_net_new (&f->m.tp.platform, f->m.io_context, f->m.pci, config, &error);
  g_assert_no_error (error);
  test_driver_probe (&f->d, &f->m, 1);
  f->n_tx = 0;
}

static void
setup_with (Fixture *f, gboolean restricted)
{
  HvVirtioNetConfig config = { .name = "net0", .restricted = restricted, .tftp_dir = f->tftp_fd };

  test_machine_init (&f->m);
  add_nic (f, &config);
}

static void
fixture_setup (Fixture *f, gconstpointer data)
{
  f->tftp_fd = -1;
  f->tap_fd = f->packet = -1;
  setup_with (f, FALSE);
}

/* MQ_PAIRS queue pairs on the restricted NAT (the device takes several with any backend; specs refuse
 * them for the NAT). */
static void
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
static void
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

static void
restricted_setup (Fixture *f, gconstpointer data)
{
  f->tftp_fd = -1;
  f->tap_fd = f->packet = -1;
  setup_with (f, TRUE);
}

static void
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

static uint64_t
device_features (Fixture *f)
{
  return test_driver_device_features (&f->d);
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
  /* One pair: no control queue, the layout of a NIC before pairs. */
  g_assert_false (features & HV_VIRTIO_FEATURE (F_MQ));
  g_assert_false (features & HV_VIRTIO_FEATURE (F_CTRL_VQ));
  g_assert_false (features & HV_VIRTIO_FEATURE (F_HOST_USO));
  g_assert_cmpuint (test_mmio_read (&f->m, f->d.device + 8, 2), ==, 1);
  g_assert_cmpuint (test_common_read (&f->d, 0x12, 2), ==, 2);
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
  g_assert_false (hv_virtio_net_load_state (other, state, HV_VIRTIO_NET_STATE_VERSION, &error));
  g_assert_error (error, HV_ERROR, HV_ERROR_BAD_IMAGE);
  g_clear_error (&error);

  g_assert_true (hv_virtio_net_load_state (copy, state, HV_VIRTIO_NET_STATE_VERSION, &error));
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

/* A NIC of a spec whose link is @link_up on a machine whose PCI bus is @pci_state's; its LINK_UP bit
 * once @state (of @version) is loaded, or -1 when it was refused (@error). */
static int
link_after_load (TestMachine *m, GVariant *pci_state, gboolean link_up, GVariant *state, unsigned version,
                 GError **error)
{
  HvVirtioNetConfig config = { .name = "net0", .tftp_dir = -1, .link_down = !link_up };
  HvVirtioNet *net;
  int link = -1;

  test_machine_init (m);
  memcpy (config.mac, guest_mac, 6);
  net = hv_virtio_net_new (&m->tp.platform, m->io_context, m->pci, &config, NULL);
  g_assert_nonnull (net);
  g_assert_true (hv_pci_load_state (m->pci, pci_state, NULL));
  if (hv_virtio_net_load_state (net, state, version, error))
    {
      TestDriver d;
      test_driver_probe (&d, m, 1);
      link = (int) test_mmio_read (m, d.device + 6, 2);
    }
  hv_virtio_net_free (net);
  test_machine_clear (m);
  return link;
}

/* The cable is part of the saved state since version 2: a NIC saved with it out comes back with it out
 * whatever the spec says; a version 1 section (without it) takes the spec's; a newer section is
 * refused. */
static void
test_save_load_link (Fixture *f, gconstpointer data)
{
  g_autoptr (GVariant) pci_state = NULL;
  g_autoptr (GVariant) state = NULL;
  g_autoptr (GVariant) old = NULL;
  g_autoptr (GError) error = NULL;
  GVariantDict dict;
  TestMachine m2;

  bring_up (f, 0, 4, RX_BUF_LEN);
  hv_virtio_net_set_link (f->net, FALSE);
  hv_virtio_net_set_paused (f->net, TRUE);
  pci_state = g_variant_ref_sink (hv_pci_save_state (f->m.pci));
  state = g_variant_ref_sink (vireo_test_state_through_bytes (hv_virtio_net_save_state (f->net)));

  g_assert_cmpint (link_after_load (&m2, pci_state, TRUE, state, HV_VIRTIO_NET_STATE_VERSION, &error), ==, 0);
  g_assert_no_error (error);
  g_variant_dict_init (&dict, state);
  g_variant_dict_remove (&dict, "link");
  g_variant_dict_remove (&dict, "pairs");
  old = g_variant_ref_sink (g_variant_dict_end (&dict));
  g_assert_cmpint (link_after_load (&m2, pci_state, TRUE, old, 1, &error), ==, 1);
  g_assert_no_error (error);
  g_assert_cmpint (link_after_load (&m2, pci_state, FALSE, old, 1, &error), ==, 0);
  g_assert_no_error (error);
  /* Version 2 without the field is broken, not old. */
  g_assert_cmpint (link_after_load (&m2, pci_state, TRUE, old, 2, &error), ==, -1);
  g_assert_error (error, HV_ERROR, HV_ERROR_BAD_IMAGE);
  g_clear_error (&error);
  g_assert_cmpint (link_after_load (&m2, pci_state, TRUE, state, HV_VIRTIO_NET_STATE_VERSION + 1, &error), ==,
                   -1);
  g_assert_error (error, HV_ERROR, HV_ERROR_BAD_IMAGE);
}

/* ---- The option ROM ---- */

/* An option ROM ("rom", iPXE's for network boot) is behind the ROM BAR: sized as the ROM rounded up to a
 * power of two, read where the guest puts it while enabled and memory decoding is on, nowhere else. */
static void
test_rom (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autofree uint8_t *image = g_malloc (3000);
  g_autoptr (GBytes) rom = NULL;
  HvVirtioNetConfig config = { .name = "net1", .tftp_dir = -1 };
  HvVirtioNet *with_rom;
  const uint64_t at = 0xd0000000;

  for (gsize i = 0; i < 3000; i++)
    image[i] = (uint8_t) (i * 5);
  image[0] = 0x55;
  image[1] = 0xaa;
  rom = g_bytes_new (image, 3000);
  memcpy (config.mac, guest_mac, 6);
  config.mac[5]++;
  config.rom = rom;
  with_rom = hv_virtio_net_new (&f->m.tp.platform, f->m.io_context, f->m.pci, &config, &error);
  g_assert_no_error (error);

  /* The fixture's NIC has none: its ROM BAR reads as zero whatever is written. */
  test_config_write (&f->m, 1, 0x30, 4, 0xffffffff);
  g_assert_cmphex (test_config_read (&f->m, 1, 0x30, 4), ==, 0);

  test_config_write (&f->m, 2, 0x30, 4, 0xfffff800);
  g_assert_cmphex (test_config_read (&f->m, 2, 0x30, 4), ==, 0xfffff000);          /* 4 KiB */
  test_config_write (&f->m, 2, 0x04, 2, test_config_read (&f->m, 2, 0x04, 2) | 2); /* memory on */
  test_config_write (&f->m, 2, 0x30, 4, (uint32_t) at);
  g_assert_cmphex (test_mmio_read (&f->m, at, 2), ==, 0xffff); /* not enabled */
  test_config_write (&f->m, 2, 0x30, 4, (uint32_t) at | 1);
  g_assert_cmphex (test_mmio_read (&f->m, at, 2), ==, 0xaa55);
  g_assert_cmphex (test_mmio_read (&f->m, at + 2999, 1), ==, image[2999]);
  g_assert_cmphex (test_mmio_read (&f->m, at + 3000, 4), ==, 0xffffffff); /* past its end */
  test_mmio_write (&f->m, at, 4, 0);                                      /* writes go nowhere */
  g_assert_cmphex (test_mmio_read (&f->m, at, 2), ==, 0xaa55);
  /* Memory decoding off: gone. */
  test_config_write (&f->m, 2, 0x04, 2, test_config_read (&f->m, 2, 0x04, 2) & ~2u);
  g_assert_cmphex (test_mmio_read (&f->m, at, 2), ==, 0xffff);
  hv_virtio_net_free (with_rom);
}

/* ---- The guest's address from DHCP ---- */

/* A DHCP reply from 10.0.2.2 to @client_mac giving 10.0.2.15, of message type @type; its length. */
static gsize
dhcp_reply (uint8_t *frame, const uint8_t *client_mac, uint8_t type)
{
  uint8_t *ip = frame + 14, *udp = ip + 20, *bootp = udp + 8;
  gsize bootp_len = 240 + 3 + 1;

  memset (frame, 0, 14 + 20 + 8 + bootp_len);
  memcpy (frame, client_mac, 6);
  memcpy (frame + 6, (const uint8_t[]){ 0x52, 0x55, 0x0a, 0x00, 0x02, 0x02 }, 6);
  frame[12] = 0x08;
  ip[0] = 0x45;
  ip[2] = (uint8_t) ((20 + 8 + bootp_len) >> 8);
  ip[3] = (uint8_t) (20 + 8 + bootp_len);
  ip[8] = 64;
  ip[9] = 17;
  memcpy (ip + 12, gateway_ip, 4);
  memset (ip + 16, 0xff, 4);
  udp[1] = 67;
  udp[3] = 68;
  udp[4] = (uint8_t) ((8 + bootp_len) >> 8);
  udp[5] = (uint8_t) (8 + bootp_len);
  bootp[0] = 2;
  bootp[1] = 1;
  bootp[2] = 6;
  memcpy (bootp + 16, guest_ip, 4);
  memcpy (bootp + 28, client_mac, 6);
  memcpy (bootp + 236, (const uint8_t[]){ 99, 130, 83, 99 }, 4);
  memcpy (bootp + 240, (const uint8_t[]){ 53, 1, type, 255 }, 4);
  return 14 + 20 + 8 + bootp_len;
}

static void
test_guest_address (Fixture *f, gconstpointer data)
{
  static const uint8_t other_mac[6] = { 0x52, 0x54, 0x00, 0x99, 0x99, 0x99 };
  uint8_t frame[400], copy[400];
  gsize len;
  uint32_t address;

  bring_up (f, 0, 8, RX_BUF_LEN);
  g_assert_cmpuint (hv_virtio_net_get_guest_address (f->net), ==, 0);
  /* An offer, and an ACK for someone else, teach nothing. */
  hv_virtio_net_receive (f->net, frame, dhcp_reply (frame, guest_mac, 2));
  hv_virtio_net_receive (f->net, frame, dhcp_reply (frame, other_mac, 5));
  g_assert_cmpuint (hv_virtio_net_get_guest_address (f->net), ==, 0);
  len = dhcp_reply (frame, guest_mac, 5);
  hv_virtio_net_receive (f->net, frame, len);
  address = hv_virtio_net_get_guest_address (f->net);
  g_assert_cmpmem (&address, 4, guest_ip, 4);

  /* Every cut of a good ACK is refused, and so is any one byte changed in its headers' lengths. */
  for (gsize cut = 0; cut < len; cut++)
    g_assert_false (hv_net_parse_dhcp_ack (frame, cut, guest_mac, &address));
  for (gsize at = 14; at < 14 + 20 + 8; at++)
    for (unsigned v = 0; v < 256; v += 17)
      {
        g_autofree uint8_t *exact = g_memdup2 (frame, len);

        exact[at] = (uint8_t) v;
        /* Whatever it decides, it reads nothing past the frame (ASan's judgement). */
        (void) hv_net_parse_dhcp_ack (exact, len, guest_mac, &address);
      }
  /* An option running past the end. */
  memcpy (copy, frame, len);
  copy[len - 3] = 200;
  g_assert_false (hv_net_parse_dhcp_ack (copy, len, guest_mac, &address));
}

/* ---- Several queue pairs ---- */

static TestQueue *
mq_queue (Fixture *f, unsigned index)
{
  return index == 0 ? &f->rxq : index == 1 ? &f->txq : &f->queues[index];
}

/* @features with VERSION_1, every queue of the device's pairs and its control queue (queue i on MSI-X
 * vector i), DRIVER_OK. */
static void
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
static void
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
static void
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
static int
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
static int
set_pairs (Fixture *f, unsigned pairs)
{
  uint8_t *command = test_guest (&f->m, CTRL_BUF, 4);

  command[0] = 4;
  command[1] = 0;
  command[2] = (uint8_t) pairs;
  command[3] = (uint8_t) (pairs >> 8);
  return control (f, (const TestBuffer[]){ { CTRL_BUF, 2 }, { CTRL_BUF + 2, 2 }, { CTRL_ACK, 1, TRUE } }, 3);
}

/* The device offers its pairs, with the control queue they need: MQ_PAIRS in max_virtqueue_pairs, two
 * queues a pair and one more; MQ without the control queue is refused. */
static void
test_mq_offer (Fixture *f, gconstpointer data)
{
  uint64_t features = device_features (f);

  g_assert_true (features & HV_VIRTIO_FEATURE (F_MQ));
  g_assert_true (features & HV_VIRTIO_FEATURE (F_CTRL_VQ));
  g_assert_cmpuint (test_mmio_read (&f->m, f->d.device + 8, 2), ==, MQ_PAIRS);
  g_assert_cmpuint (test_common_read (&f->d, 0x12, 2), ==, 2 * MQ_PAIRS + 1);
  /* A vector for each queue, and one for configuration changes. */
  g_assert_cmpuint (f->d.msix_vectors, ==, 2 * MQ_PAIRS + 2);
  g_assert_false (
      test_driver_negotiate (&f->d, HV_VIRTIO_FEATURE (HV_VIRTIO_F_VERSION_1) | HV_VIRTIO_FEATURE (F_MQ)));
  g_assert_true (test_driver_negotiate (&f->d, HV_VIRTIO_FEATURE (HV_VIRTIO_F_VERSION_1)
                                                   | HV_VIRTIO_FEATURE (F_MQ)
                                                   | HV_VIRTIO_FEATURE (F_CTRL_VQ)));
}

/* The driver asks for every pair and sends on the second and third: each frame leaves (slirp answers
 * the ARP requests, on the first pair, the NAT's only one), and each transmit queue interrupts on its own
 * vector. */
static void
test_mq_pairs (Fixture *f, gconstpointer data)
{
  uint8_t frame[64];

  mq_bring_up (f, HV_VIRTIO_FEATURE (F_MQ) | HV_VIRTIO_FEATURE (F_CTRL_VQ));
  mq_give_rx (f, 0, 4);
  g_assert_cmpint (set_pairs (f, MQ_PAIRS), ==, 0);
  g_assert_cmpuint (test_machine_take_msi (&f->m, MSI_DATA (2 * MQ_PAIRS)), ==, 1);
  for (unsigned pair = 1; pair < MQ_PAIRS; pair++)
    {
      HvVirtioNetStats stats;

      mq_transmit (f, pair, frame, arp_request (frame, gateway_ip));
      g_assert_cmpuint (test_machine_take_msi (&f->m, MSI_DATA (2 * pair + 1)), ==, 1);
      hv_virtio_net_get_stats (f->net, &stats);
      g_assert_cmpuint (stats.tx_frames, ==, pair);
      assert_arp_reply (f);
      g_assert_cmpuint (test_machine_take_msi (&f->m, MSI_DATA (0)), >=, 1);
    }
  g_assert_cmpuint (test_machine_take_msi (&f->m, MSI_DATA (3)), ==, 0);
  g_assert_false (test_driver_status (&f->d) & HV_VIRTIO_STATUS_NEEDS_RESET);
}

/* A hostile control queue: every malformed or unknown command is answered VIRTIO_NET_ERR, a command
 * without room for the answer is returned untouched, and the device goes on. */
static void
test_mq_hostile_control (Fixture *f, gconstpointer data)
{
  uint8_t *command = test_guest (&f->m, CTRL_BUF, 8);

  mq_bring_up (f, HV_VIRTIO_FEATURE (F_MQ) | HV_VIRTIO_FEATURE (F_CTRL_VQ));
  /* Pairs 0, one more than the device has, the protocol's largest. */
  g_assert_cmpint (set_pairs (f, 0), ==, 1);
  g_assert_cmpint (set_pairs (f, MQ_PAIRS + 1), ==, 1);
  g_assert_cmpint (set_pairs (f, 0x8000), ==, 1);
  g_assert_cmpint (set_pairs (f, 0xffff), ==, 1);
  /* Too short, too long, nothing readable at all. */
  memcpy (command, (const uint8_t[]){ 4, 0, 2, 0, 0, 0, 0, 0 }, 8);
  g_assert_cmpint (control (f, (const TestBuffer[]){ { CTRL_BUF, 1 }, { CTRL_ACK, 1, TRUE } }, 2), ==, 1);
  g_assert_cmpint (control (f, (const TestBuffer[]){ { CTRL_BUF, 3 }, { CTRL_ACK, 1, TRUE } }, 2), ==, 1);
  g_assert_cmpint (control (f, (const TestBuffer[]){ { CTRL_BUF, 8 }, { CTRL_ACK, 1, TRUE } }, 2), ==, 1);
  g_assert_cmpint (control (f, (const TestBuffer[]){ { CTRL_ACK, 1, TRUE } }, 1), ==, 1);
  /* No room for the answer: not carried out. */
  g_assert_cmpint (control (f, (const TestBuffer[]){ { CTRL_BUF, 4 } }, 1), ==, -1);
  /* Classes the device does not offer: RX mode, MAC filter, VLAN, announce, guest offloads; MQ's RSS
   * and hash commands. */
  for (unsigned class = 0; class < 8; class ++)
    {
      command[0] = (uint8_t) class;
      command[1] = class == 4 ? 1 : 0;
      g_assert_cmpint (control (f, (const TestBuffer[]){ { CTRL_BUF, 4 }, { CTRL_ACK, 1, TRUE } }, 2), ==, 1);
    }
  command[0] = 4;
  command[1] = 2;
  g_assert_cmpint (control (f, (const TestBuffer[]){ { CTRL_BUF, 4 }, { CTRL_ACK, 1, TRUE } }, 2), ==, 1);
  /* An answer buffer outside RAM: the chain is refused, and the device needs a reset. */
  g_assert_cmpint (set_pairs (f, 2), ==, 0);
  g_assert_false (test_driver_status (&f->d) & HV_VIRTIO_STATUS_NEEDS_RESET);
  test_queue_add_chain (mq_queue (f, 2 * f->pairs),
                        (const TestBuffer[]){ { CTRL_BUF, 4 }, { TEST_RAM_SIZE - 1, 2, TRUE } }, 2);
  test_queue_kick (mq_queue (f, 2 * f->pairs), 2);
  test_machine_run_io (&f->m);
  g_assert_true (test_driver_status (&f->d) & HV_VIRTIO_STATUS_NEEDS_RESET);

  /* Without MQ negotiated the command is refused too. */
  mq_bring_up (f, HV_VIRTIO_FEATURE (F_CTRL_VQ));
  g_assert_cmpint (set_pairs (f, 2), ==, 1);
  g_assert_cmpint (set_pairs (f, 1), ==, 1);
}

/* ---- The TAP backend ---- */

#define TAP_ETHERTYPE 0x88b5 /* IEEE local experimental */
#define PACKET_HDR    10     /* struct virtio_net_hdr, as a packet socket gives and takes it */
#define BRIDGE        "vireo-br0"

/* A NIC with @pairs queue pairs on a TAP of as many queues (IFF_MULTI_QUEUE with more than one), and
 * a packet socket on the TAP. */
static void
setup_tap_pairs (Fixture *f, unsigned pairs)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *name = NULL;
  HvVirtioNetConfig config = {
    .name = "net0", .backend = HV_NET_BACKEND_TAP, .tftp_dir = -1, .queues = pairs, .tap_fds = f->tap_fds
  };
  struct sockaddr_ll address = { .sll_family = AF_PACKET, .sll_protocol = htons (ETH_P_ALL) };
  int one = 1;

  f->tftp_fd = -1;
  f->tap_fd = f->packet = -1;
  f->pairs = pairs;
  test_machine_init (&f->m);
  if (!private_netns)
    {
      g_test_skip ("the TAP backend's tests need root and /dev/net/tun (a network namespace, a bridge and a "
                   "TAP)");
      return;
    }
  g_assert_true (hv_net_open_bridge_taps (BRIDGE, pairs, f->tap_fds, &name, &error));
  g_assert_no_error (error);
  g_assert_true (g_str_has_prefix (name, "vireo-tap"));
  f->tap_fd = config.tap_fd = f->tap_fds[0];
  f->tap_name = g_strdup (name);
  f->packet = socket (AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons (ETH_P_ALL));
  g_assert_cmpint (f->packet, >=, 0);
  g_assert_no_errno (setsockopt (f->packet, SOL_PACKET, PACKET_VNET_HDR, &one, sizeof one));
  address.sll_ifindex = (int) if_nametoindex (name);
  g_assert_no_errno (bind (f->packet, (struct sockaddr *) &address, sizeof address));
  add_nic (f, &config);
}

static void
tap_setup (Fixture *f, gconstpointer data)
{
  setup_tap_pairs (f, 1);
}

/* Two queue pairs on a multiqueue TAP (one fd each). */
static void
tap_mq_setup (Fixture *f, gconstpointer data)
{
  setup_tap_pairs (f, 2);
}

/* What the host's side receives from the guest within @timeout_ms: header and frame; 0 for nothing. */
static gsize
host_receive (Fixture *f, uint8_t *buf, gsize size, int timeout_ms)
{
  struct pollfd pfd = { .fd = f->packet, .events = POLLIN };
  ssize_t n;

  for (;;)
    {
      if (poll (&pfd, 1, timeout_ms) <= 0)
        return 0;
      n = recv (f->packet, buf, size, 0);
      g_assert_cmpint (n, >=, PACKET_HDR + 14);
      /* Only the guest's frames (IPv6 is off, but the kernel may have sent something before). */
      if (memcmp (buf + PACKET_HDR + 6, guest_mac, 6) == 0)
        return (gsize) n;
    }
}

/* The host's side sends @frame behind @header (PACKET_HDR bytes, NULL for none). */
static void
host_send (Fixture *f, const uint8_t *header, const uint8_t *frame, gsize len)
{
  static const uint8_t none[PACKET_HDR] = { 0 };
  struct iovec iov[2] = { { (void *) (header ? header : none), PACKET_HDR }, { (void *) frame, len } };
  struct msghdr msg = { .msg_iov = iov, .msg_iovlen = 2 };

  g_assert_cmpint (sendmsg (f->packet, &msg, 0), ==, (ssize_t) (PACKET_HDR + len));
}

/* Runs the I/O context until the receive queue has a used buffer or @timeout_ms pass. */
static gboolean
wait_rx (Fixture *f, int timeout_ms)
{
  gint64 end = g_get_monotonic_time () + timeout_ms * 1000;
  uint16_t used;

  do
    {
      test_machine_run_io (&f->m);
      used = *(uint16_t *) test_guest (&f->m, f->rxq.used + 2, 2);
      if (used != f->rxq.last_used)
        return TRUE;
      g_usleep (1000);
    }
  while (g_get_monotonic_time () < end);
  return FALSE;
}

static gsize
test_frame (uint8_t *frame, gsize len, uint8_t tag)
{
  memcpy (frame, (const uint8_t[]){ 0x52, 0x54, 0x00, 0xaa, 0xbb, 0xcc }, 6);
  memcpy (frame + 6, guest_mac, 6);
  frame[12] = TAP_ETHERTYPE >> 8;
  frame[13] = TAP_ETHERTYPE & 0xff;
  for (gsize i = 14; i < len; i++)
    frame[i] = (uint8_t) (tag + i);
  return len;
}

/* An IPv4 TCP segment (@protocol 6) or UDP datagram (17) of @payload bytes from the guest, its checksum
 * left to do (the pseudo-header's sum in the field, as a driver with CSUM puts it), behind a header
 * asking for TSO or USO in @size-byte segments. */
static gsize
gso_packet (uint8_t *packet, uint8_t protocol, gsize payload, uint16_t size)
{
  gboolean tcp = protocol == 6;
  gsize l4_len = tcp ? 20 : 8;
  uint8_t *hdr = packet, *frame = packet + HDR_LEN, *ip = frame + 14, *l4 = ip + 20;
  gsize ip_len = 20 + l4_len + payload;
  unsigned check = tcp ? 16 : 6;
  uint32_t sum = 0;

  memset (packet, 0, HDR_LEN + 14 + ip_len);
  hdr[0] = 1;           /* NEEDS_CSUM */
  hdr[1] = tcp ? 1 : 5; /* GSO_TCPV4, GSO_UDP_L4 */
  hdr[2] = (uint8_t) (14 + 20 + l4_len);
  hdr[4] = (uint8_t) size;
  hdr[5] = (uint8_t) (size >> 8);
  hdr[6] = 34;              /* csum_start */
  hdr[8] = (uint8_t) check; /* csum_offset */
  memcpy (frame, (const uint8_t[]){ 0x52, 0x54, 0x00, 0xaa, 0xbb, 0xcc }, 6);
  memcpy (frame + 6, guest_mac, 6);
  frame[12] = 0x08;
  ip[0] = 0x45;
  ip[2] = (uint8_t) (ip_len >> 8);
  ip[3] = (uint8_t) ip_len;
  ip[6] = tcp ? 0x40 : 0; /* DF */
  ip[8] = 64;
  ip[9] = protocol;
  memcpy (ip + 12, (const uint8_t[]){ 10, 77, 0, 2 }, 4);
  memcpy (ip + 16, (const uint8_t[]){ 10, 77, 0, 1 }, 4);
  for (unsigned i = 0; i < 20; i += 2)
    sum += (uint32_t) (ip[i] << 8 | ip[i + 1]);
  while (sum >> 16)
    sum = (sum & 0xffff) + (sum >> 16);
  ip[10] = (uint8_t) (~sum >> 8);
  ip[11] = (uint8_t) ~sum;
  l4[0] = 0x30;
  l4[1] = 0x39; /* 12345 */
  l4[3] = tcp ? 80 : 7;
  if (tcp)
    {
      l4[12] = 5 << 4;
      l4[13] = 0x18; /* PSH, ACK */
      l4[14] = 0xff;
      l4[15] = 0xff;
    }
  else
    {
      l4[4] = (uint8_t) ((8 + payload) >> 8);
      l4[5] = (uint8_t) (8 + payload);
    }
  sum = (10 << 8 | 77) + 2 + (10 << 8 | 77) + 1 + protocol + (uint32_t) (l4_len + payload);
  while (sum >> 16)
    sum = (sum & 0xffff) + (sum >> 16);
  l4[check] = (uint8_t) (sum >> 8);
  l4[check + 1] = (uint8_t) sum;
  for (gsize i = 0; i < payload; i++)
    l4[l4_len + i] = (uint8_t) (i * 13);
  return HDR_LEN + 14 + ip_len;
}

#define SKIP_WITHOUT_TAP(f)                                                                                  \
  if ((f)->tap_fd < 0)                                                                                       \
  return

static void
test_tap_offer (Fixture *f, gconstpointer data)
{
  uint64_t features;

  SKIP_WITHOUT_TAP (f);
  features = device_features (f);
  g_assert_true (features & HV_VIRTIO_FEATURE (F_CSUM));
  g_assert_true (features & HV_VIRTIO_FEATURE (F_GUEST_CSUM));
  g_assert_true (features & HV_VIRTIO_FEATURE (F_HOST_TSO4));
  g_assert_true (features & HV_VIRTIO_FEATURE (F_HOST_TSO6));
  g_assert_true (features & HV_VIRTIO_FEATURE (F_GUEST_TSO4));
  g_assert_true (features & HV_VIRTIO_FEATURE (F_GUEST_TSO6));
  g_assert_true (features & HV_VIRTIO_FEATURE (F_MRG_RXBUF));
  /* TSO leans on checksum offload: a driver asking for one without the other is refused. */
  g_assert_false (test_driver_negotiate (&f->d, HV_VIRTIO_FEATURE (HV_VIRTIO_F_VERSION_1)
                                                    | HV_VIRTIO_FEATURE (F_GUEST_TSO4)));
  g_assert_false (test_driver_negotiate (&f->d, HV_VIRTIO_FEATURE (HV_VIRTIO_F_VERSION_1)
                                                    | HV_VIRTIO_FEATURE (F_HOST_TSO4)));
}

/* Plain frames both ways, headers of zeros: nothing negotiated, nothing to do. */
static void
test_tap_frames (Fixture *f, gconstpointer data)
{
  uint8_t frame[200], got[2048];
  uint32_t id, len;
  gsize n;

  SKIP_WITHOUT_TAP (f);
  bring_up (f, 0, 8, RX_BUF_LEN);
  transmit (f, frame, test_frame (frame, sizeof frame, 1));
  n = host_receive (f, got, sizeof got, 2000);
  g_assert_cmpuint (n, ==, PACKET_HDR + sizeof frame);
  g_assert_cmpmem (got + PACKET_HDR, sizeof frame, frame, sizeof frame);

  host_send (f, NULL, frame, test_frame (frame, 100, 2));
  g_assert_true (wait_rx (f, 2000));
  g_assert_true (test_queue_get_used (&f->rxq, &id, &len));
  g_assert_cmpuint (len, ==, HDR_LEN + 100);
  g_assert_cmpmem (test_guest (&f->m, f->rx_addr[id] + HDR_LEN, 100), 100, frame, 100);
}

/* A TSO segment the guest hands over goes to the host as one GSO packet, its header as the guest wrote
 * it; without HOST_TSO4 negotiated the same packet is dropped. */
static void
test_tap_tso_to_host (Fixture *f, gconstpointer data)
{
  g_autofree uint8_t *got = g_malloc (70000);
  uint8_t *packet = test_guest (&f->m, BIG_BUF, 70000);
  HvVirtioNetStats stats;
  uint32_t id, len;
  gsize size, n;

  SKIP_WITHOUT_TAP (f);
  bring_up (f, HV_VIRTIO_FEATURE (F_CSUM) | HV_VIRTIO_FEATURE (F_HOST_TSO4), 8, RX_BUF_LEN);
  size = gso_packet (packet, 6, 4000, 1448);
  test_queue_add (&f->txq, BIG_BUF, (uint32_t) size, FALSE);
  test_queue_kick (&f->txq, 2);
  test_machine_run_io (&f->m);
  g_assert_true (test_queue_get_used (&f->txq, &id, &len));
  n = host_receive (f, got, 70000, 2000);
  g_assert_cmpuint (n, ==, PACKET_HDR + size - HDR_LEN);
  g_assert_cmpuint (got[1], ==, 1);                  /* GSO_TCPV4 */
  g_assert_cmpuint (got[4] | got[5] << 8, ==, 1448); /* gso_size */
  g_assert_cmpmem (got + PACKET_HDR, size - HDR_LEN, packet + HDR_LEN, size - HDR_LEN);

  /* A driver that did not take TSO: the same packet is dropped, and so is a frame over the MTU. */
  test_driver_set_status (&f->d, 0);
  bring_up (f, 0, 8, RX_BUF_LEN);
  test_queue_add (&f->txq, BIG_BUF, (uint32_t) size, FALSE);
  packet = test_guest (&f->m, BIG_BUF + 0x10000, 2000);
  memset (packet, 0, HDR_LEN);
  test_frame (packet + HDR_LEN, 1600, 3);
  test_queue_add (&f->txq, BIG_BUF + 0x10000, HDR_LEN + 1600, FALSE);
  test_queue_kick (&f->txq, 2);
  test_machine_run_io (&f->m);
  hv_virtio_net_get_stats (f->net, &stats);
  g_assert_cmpuint (stats.tx_dropped, ==, 2);
  g_assert_cmpuint (host_receive (f, got, 70000, 200), ==, 0);
  g_assert_false (test_driver_status (&f->d) & HV_VIRTIO_STATUS_NEEDS_RESET);
}

/* USO where the kernel has it (TUNSETOFFLOAD takes TUN_F_USO4 | TUN_F_USO6, Linux 6.2): offered both
 * ways then, and a UDP segment the guest hands over goes to the host as one GSO packet; a driver without
 * HOST_USO has it dropped.  Where the kernel has not, none of the three is offered. */
static void
test_tap_uso (Fixture *f, gconstpointer data)
{
  g_autofree uint8_t *got = g_malloc (70000);
  uint8_t *packet = test_guest (&f->m, BIG_BUF, 70000);
  uint64_t features, uso;
  HvVirtioNetStats stats;
  gboolean kernel_has_uso;
  uint32_t id, len;
  gsize size;

  SKIP_WITHOUT_TAP (f);
  /* TUN_F_CSUM | TSO4 | TSO6 | USO4 | USO6, then none again (as the device leaves it before DRIVER_OK). */
  kernel_has_uso = ioctl (f->tap_fd, TUNSETOFFLOAD, 0x01ul | 0x02 | 0x04 | 0x20 | 0x40) == 0;
  g_assert_no_errno (ioctl (f->tap_fd, TUNSETOFFLOAD, 0ul));
  features = device_features (f);
  uso = HV_VIRTIO_FEATURE (F_HOST_USO) | HV_VIRTIO_FEATURE (F_GUEST_USO4) | HV_VIRTIO_FEATURE (F_GUEST_USO6);
  g_assert_cmphex (features & uso, ==, kernel_has_uso ? uso : 0);
  if (!kernel_has_uso)
    {
      g_test_skip ("this kernel's TAP has no UDP segmentation offload (Linux 6.2)");
      return;
    }
  /* USO leans on checksum offload, as TSO does. */
  g_assert_false (test_driver_negotiate (&f->d, HV_VIRTIO_FEATURE (HV_VIRTIO_F_VERSION_1)
                                                    | HV_VIRTIO_FEATURE (F_HOST_USO)));
  g_assert_false (test_driver_negotiate (&f->d, HV_VIRTIO_FEATURE (HV_VIRTIO_F_VERSION_1)
                                                    | HV_VIRTIO_FEATURE (F_GUEST_USO4)));
  /* One of the two guest directions: whole datagrams for it, which the kernel allows. */
  g_assert_true (test_driver_negotiate (&f->d, HV_VIRTIO_FEATURE (HV_VIRTIO_F_VERSION_1)
                                                   | HV_VIRTIO_FEATURE (F_GUEST_CSUM)
                                                   | HV_VIRTIO_FEATURE (F_GUEST_USO4)));

  test_driver_set_status (&f->d, 0);
  bring_up (f, HV_VIRTIO_FEATURE (F_CSUM) | HV_VIRTIO_FEATURE (F_HOST_USO), 8, RX_BUF_LEN);
  size = gso_packet (packet, 17, 3000, 1000);
  test_queue_add (&f->txq, BIG_BUF, (uint32_t) size, FALSE);
  test_queue_kick (&f->txq, 2);
  test_machine_run_io (&f->m);
  g_assert_true (test_queue_get_used (&f->txq, &id, &len));
  g_assert_cmpuint (host_receive (f, got, 70000, 2000), ==, PACKET_HDR + size - HDR_LEN);
  g_assert_cmpuint (got[1], ==, 5);                  /* GSO_UDP_L4 */
  g_assert_cmpuint (got[4] | got[5] << 8, ==, 1000); /* gso_size */
  g_assert_cmpmem (got + PACKET_HDR, size - HDR_LEN, packet + HDR_LEN, size - HDR_LEN);

  test_driver_set_status (&f->d, 0);
  bring_up (f, HV_VIRTIO_FEATURE (F_CSUM), 8, RX_BUF_LEN);
  test_queue_add (&f->txq, BIG_BUF, (uint32_t) size, FALSE);
  test_queue_kick (&f->txq, 2);
  test_machine_run_io (&f->m);
  hv_virtio_net_get_stats (f->net, &stats);
  g_assert_cmpuint (stats.tx_dropped, ==, 1);
  g_assert_cmpuint (host_receive (f, got, 70000, 200), ==, 0);
}

#define BIG_RX_BUFS 0x200000 /* BIG_RX_LEN each: 64 KiB GSO packets in QUEUE_LEN buffers */
#define BIG_RX_LEN  0x2000

/* A GSO packet of @payload TCP bytes from the host reaches a guest that takes TSO in one piece, across
 * QUEUE_LEN mergeable buffers of @buffer_len bytes, with its header. */
static void
assert_gso_to_guest (Fixture *f, gsize payload, uint32_t buffer_len)
{
  g_autofree uint8_t *packet = g_malloc (70000);
  g_autofree uint8_t *stream = g_malloc (70000);
  uint8_t header[PACKET_HDR];
  gsize size, at = 0;
  unsigned buffers = 0;
  uint32_t id, len;

  for (unsigned i = 0; i < QUEUE_LEN; i++)
    {
      uint64_t addr = BIG_RX_BUFS + (uint64_t) buffer_len * f->rxq.next_desc;
      uint16_t head = test_queue_add (&f->rxq, addr, buffer_len, TRUE);
      f->rx_addr[head] = addr;
    }
  test_queue_kick (&f->rxq, 2);
  test_machine_run_io (&f->m);
  size = gso_packet (packet, 6, payload, 1448);
  memcpy (header, packet, PACKET_HDR);
  host_send (f, header, packet + HDR_LEN, size - HDR_LEN);
  g_assert_true (wait_rx (f, 2000));
  while (test_queue_get_used (&f->rxq, &id, &len))
    {
      memcpy (stream + at, test_guest (&f->m, f->rx_addr[id], len), len);
      at += len;
      buffers++;
    }
  g_assert_cmpuint (at, ==, size);
  g_assert_cmpuint (stream[10] | stream[11] << 8, ==, buffers);
  g_assert_cmpuint (buffers, ==, (size + buffer_len - 1) / buffer_len);
  g_assert_cmpuint (stream[1], ==, 1); /* GSO_TCPV4 */
  g_assert_cmpuint (stream[4] | stream[5] << 8, ==, 1448);
  g_assert_cmpmem (stream + HDR_LEN, size - HDR_LEN, packet + HDR_LEN, size - HDR_LEN);
}

static void
test_tap_gso_to_guest (Fixture *f, gconstpointer data)
{
  const uint64_t features = HV_VIRTIO_FEATURE (F_GUEST_CSUM) | HV_VIRTIO_FEATURE (F_GUEST_TSO4)
                            | HV_VIRTIO_FEATURE (F_MRG_RXBUF);

  SKIP_WITHOUT_TAP (f);
  bring_up (f, features, 0, RX_BUF_LEN);
  assert_gso_to_guest (f, 20000, RX_BUF_LEN);
  /* About the largest the kernel hands a TAP whole (its gso_max_size, 64 KiB; a frame of 65534 bytes here,
   * larger ones it segments itself). */
  test_driver_set_status (&f->d, 0);
  bring_up (f, features, 0, RX_BUF_LEN);
  assert_gso_to_guest (f, 65480, BIG_RX_LEN);
}

/* With the cable out the guest is told (LINK_UP clear, a configuration interrupt) and nothing moves
 * either way; plugged in again, frames flow. */
static void
test_tap_link (Fixture *f, gconstpointer data)
{
  uint8_t frame[100], got[2048];
  HvVirtioNetStats stats;
  uint32_t id, len;

  SKIP_WITHOUT_TAP (f);
  bring_up (f, HV_VIRTIO_FEATURE (F_STATUS), 8, RX_BUF_LEN);
  g_assert_cmphex (test_mmio_read (&f->m, f->d.device + 6, 2), ==, 1);
  test_mmio_read (&f->m, f->d.isr, 1); /* clears it */
  hv_virtio_net_set_link (f->net, FALSE);
  g_assert_cmphex (test_mmio_read (&f->m, f->d.device + 6, 2), ==, 0);
  g_assert_cmphex (test_mmio_read (&f->m, f->d.isr, 1) & 2, ==, 2);

  host_send (f, NULL, frame, test_frame (frame, sizeof frame, 4));
  g_assert_false (wait_rx (f, 300));
  transmit (f, frame, sizeof frame);
  g_assert_cmpuint (host_receive (f, got, sizeof got, 300), ==, 0);
  hv_virtio_net_get_stats (f->net, &stats);
  g_assert_cmpuint (stats.rx_dropped, ==, 1);
  g_assert_cmpuint (stats.tx_dropped, ==, 1);

  hv_virtio_net_set_link (f->net, TRUE);
  g_assert_cmphex (test_mmio_read (&f->m, f->d.device + 6, 2), ==, 1);
  host_send (f, NULL, frame, sizeof frame);
  g_assert_true (wait_rx (f, 2000));
  g_assert_true (test_queue_get_used (&f->rxq, &id, &len));
  g_assert_cmpuint (len, ==, HDR_LEN + sizeof frame);
  transmit (f, frame, sizeof frame);
  g_assert_cmpuint (host_receive (f, got, sizeof got, 2000), ==, PACKET_HDR + sizeof frame);
}

/* A guest with no receive buffers: the TAP is not read past one frame, so nothing is lost in the NIC
 * (more frames than it would keep wait in the kernel's queue); each refill takes the next ones, in
 * order. */
static void
test_tap_rx_full (Fixture *f, gconstpointer data)
{
  const unsigned total = HV_VIRTIO_NET_PENDING_MAX + 144;
  uint8_t frame[100];
  HvVirtioNetStats stats;
  unsigned got = 0;
  uint32_t id, len;

  SKIP_WITHOUT_TAP (f);
  bring_up (f, 0, 0, RX_BUF_LEN);
  for (unsigned i = 0; i < total; i++)
    {
      test_frame (frame, sizeof frame, 0);
      frame[14] = (uint8_t) i;
      frame[15] = (uint8_t) (i >> 8);
      host_send (f, NULL, frame, sizeof frame);
    }
  g_usleep (100 * 1000);
  test_machine_run_io (&f->m);
  hv_virtio_net_get_stats (f->net, &stats);
  g_assert_cmpuint (stats.rx_dropped, ==, 0);
  g_assert_cmpuint (stats.rx_frames, ==, 0);

  while (got < total)
    {
      give_rx (f, QUEUE_LEN, RX_BUF_LEN);
      g_assert_true (wait_rx (f, 2000));
      while (test_queue_get_used (&f->rxq, &id, &len))
        {
          const uint8_t *seq = test_guest (&f->m, f->rx_addr[id] + HDR_LEN + 14, 2);
          g_assert_cmpuint (len, ==, HDR_LEN + sizeof frame);
          g_assert_cmpuint (seq[0] | seq[1] << 8, ==, got);
          got++;
        }
    }
  hv_virtio_net_get_stats (f->net, &stats);
  g_assert_cmpuint (stats.rx_frames, ==, total);
  g_assert_cmpuint (stats.rx_dropped, ==, 0);
}

/* Headers asking for what the driver did not take, and chains of bad lengths, are dropped; the device
 * goes on. */
static void
test_tap_hostile (Fixture *f, gconstpointer data)
{
  uint8_t *packet = test_guest (&f->m, TX_BUFS, 2048);
  uint8_t frame[100], got[2048];
  HvVirtioNetStats stats;

  SKIP_WITHOUT_TAP (f);
  bring_up (f, HV_VIRTIO_FEATURE (F_CSUM), 8, RX_BUF_LEN);
  memset (packet, 0, HDR_LEN);
  test_frame (packet + HDR_LEN, 100, 5);
  packet[1] = 4; /* GSO_TCPV6, not taken */
  test_queue_add (&f->txq, TX_BUFS, HDR_LEN + 100, FALSE);
  packet = test_guest (&f->m, TX_BUFS + 2048, 2048);
  memset (packet, 0, HDR_LEN);
  packet[1] = 0x81; /* ECN without HOST_ECN */
  test_queue_add (&f->txq, TX_BUFS + 2048, HDR_LEN + 100, FALSE);
  packet = test_guest (&f->m, TX_BUFS + 4096, 2048);
  memset (packet, 0, HDR_LEN);
  packet[1] = 9; /* no such type */
  test_queue_add (&f->txq, TX_BUFS + 4096, HDR_LEN + 100, FALSE);
  test_queue_add (&f->txq, TX_BUFS, 5, FALSE);  /* shorter than a header */
  test_queue_add (&f->txq, TX_BUFS, 100, TRUE); /* only writable */
  test_queue_kick (&f->txq, 2);
  test_machine_run_io (&f->m);
  hv_virtio_net_get_stats (f->net, &stats);
  g_assert_cmpuint (stats.tx_dropped, ==, 5);
  g_assert_cmpuint (host_receive (f, got, sizeof got, 200), ==, 0);
  g_assert_false (test_driver_status (&f->d) & HV_VIRTIO_STATUS_NEEDS_RESET);

  f->n_tx = 5;
  transmit (f, frame, test_frame (frame, sizeof frame, 6));
  g_assert_cmpuint (host_receive (f, got, sizeof got, 2000), ==, PACKET_HDR + sizeof frame);
}

static void
write_proc (const char *path, const char *value)
{
  int fd = open (path, O_WRONLY | O_CLOEXEC);

  if (fd >= 0)
    {
      g_assert_cmpint (write (fd, value, strlen (value)), ==, (ssize_t) strlen (value));
      close (fd);
    }
}

/* Someone deletes the TAP under a running NIC: the NIC says so once and stops polling it (poll() would
 * report the dead fd for ever), its frames go nowhere, and nothing else breaks. */
static void
test_tap_deleted (Fixture *f, gconstpointer data)
{
  const char *argv[] = { "ip", "link", "del", NULL, NULL };
  g_autoptr (GError) error = NULL;
  g_autofree char *ip = g_find_program_in_path ("ip");
  uint8_t frame[100];
  HvVirtioNetStats stats;
  GLogLevelFlags fatal;
  int status;

  SKIP_WITHOUT_TAP (f);
  if (ip == NULL)
    {
      g_test_skip ("ip (iproute2) is not installed");
      return;
    }
  bring_up (f, 0, 8, RX_BUF_LEN);
  argv[3] = f->tap_name;
  g_assert_true (g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, NULL, NULL,
                               &status, &error));
  g_assert_no_error (error);
  g_assert_true (g_spawn_check_wait_status (status, NULL));
  /* The NIC's warning is expected (g_test_expect_message does not see structured logging). */
  fatal = g_log_set_always_fatal (G_LOG_FATAL_MASK);
  test_machine_run_io (&f->m);
  g_log_set_always_fatal (fatal);
  /* Nothing is left to dispatch: the dead fd is not polled. */
  g_assert_false (g_main_context_iteration (f->m.io_context, FALSE));
  transmit (f, frame, test_frame (frame, sizeof frame, 7));
  hv_virtio_net_get_stats (f->net, &stats);
  g_assert_cmpuint (stats.tx_dropped, ==, 1);
  g_assert_false (test_driver_status (&f->d) & HV_VIRTIO_STATUS_NEEDS_RESET);
}

/* A UDP datagram from the host's side to the guest, of flow @port: the kernel spreads flows over the
 * TAP's attached queues by their hash. */
static gsize
udp_to_guest (uint8_t *frame, uint16_t port)
{
  uint8_t *ip = frame + 14, *udp = ip + 20;

  memset (frame, 0, 14 + 20 + 8 + 16);
  memcpy (frame, guest_mac, 6);
  memcpy (frame + 6, (const uint8_t[]){ 0x52, 0x54, 0x00, 0xaa, 0xbb, 0xcc }, 6);
  frame[12] = 0x08;
  ip[0] = 0x45;
  ip[3] = 20 + 8 + 16;
  ip[8] = 64;
  ip[9] = 17;
  memcpy (ip + 12, (const uint8_t[]){ 10, 77, 0, 1 }, 4);
  memcpy (ip + 16, (const uint8_t[]){ 10, 77, 0, 2 }, 4);
  udp[0] = (uint8_t) (port >> 8);
  udp[1] = (uint8_t) port;
  udp[3] = 7;
  udp[5] = 8 + 16;
  return 14 + 20 + 8 + 16;
}

/* Sends @n flows from the host's side and counts, per pair, the frames the guest gets within 2 s. */
static void
host_flows_to_pairs (Fixture *f, unsigned n, uint16_t first_port, unsigned *counts)
{
  gint64 end = g_get_monotonic_time () + 2 * G_USEC_PER_SEC;
  unsigned total = 0;
  uint8_t frame[128];

  for (unsigned i = 0; i < n; i++)
    host_send (f, NULL, frame, udp_to_guest (frame, (uint16_t) (first_port + i)));
  memset (counts, 0, f->pairs * sizeof *counts);
  while (total < n && g_get_monotonic_time () < end)
    {
      test_machine_run_io (&f->m);
      for (unsigned pair = 0; pair < f->pairs; pair++)
        {
          uint32_t id, len;

          while (test_queue_get_used (mq_queue (f, 2 * pair), &id, &len))
            {
              uint64_t addr = pair == 0 ? f->rx_addr[id] : f->mq_rx_addr[pair][id];

              g_assert_cmpuint (len, ==, HDR_LEN + udp_to_guest (frame, 0));
              g_assert_cmpmem (test_guest (&f->m, addr + HDR_LEN, 6), 6, guest_mac, 6);
              counts[pair]++;
              total++;
            }
        }
      g_usleep (1000);
    }
  g_assert_cmpuint (total, ==, n);
}

/* A multiqueue TAP: the kernel sends to the first pair alone until the driver asks for two, then
 * spreads flows over both; each pair transmits through its own queue; back to one pair, the second
 * gets nothing again. */
static void
test_tap_mq (Fixture *f, gconstpointer data)
{
  uint8_t frame[200], got[2048];
  unsigned counts[2];

  SKIP_WITHOUT_TAP (f);
  g_assert_true (device_features (f) & HV_VIRTIO_FEATURE (F_MQ));
  g_assert_cmpuint (test_mmio_read (&f->m, f->d.device + 8, 2), ==, 2);
  mq_bring_up (f, HV_VIRTIO_FEATURE (F_MQ) | HV_VIRTIO_FEATURE (F_CTRL_VQ));
  mq_give_rx (f, 0, QUEUE_LEN);
  mq_give_rx (f, 1, QUEUE_LEN);

  host_flows_to_pairs (f, 16, 1000, counts);
  g_assert_cmpuint (counts[1], ==, 0);

  g_assert_cmpint (set_pairs (f, 2), ==, 0);
  mq_give_rx (f, 0, counts[0]);
  /* 16 flows all hashed to the first queue: 1 in 65536. */
  host_flows_to_pairs (f, 16, 2000, counts);
  g_assert_cmpuint (counts[1], >, 0);
  g_assert_cmpuint (test_machine_take_msi (&f->m, MSI_DATA (2)), >, 0);

  mq_transmit (f, 1, frame, test_frame (frame, sizeof frame, 9));
  g_assert_cmpuint (host_receive (f, got, sizeof got, 2000), ==, PACKET_HDR + sizeof frame);
  g_assert_cmpmem (got + PACKET_HDR, sizeof frame, frame, sizeof frame);

  g_assert_cmpint (set_pairs (f, 1), ==, 0);
  mq_give_rx (f, 0, counts[0]);
  host_flows_to_pairs (f, 8, 3000, counts);
  g_assert_cmpuint (counts[1], ==, 0);
  g_assert_false (test_driver_status (&f->d) & HV_VIRTIO_STATUS_NEEDS_RESET);
}

/* A checkpoint of the driver's side: guest RAM and the rings as the test's driver keeps them. */
typedef struct
{
  uint8_t *ram;
  TestQueue rxq, txq;
  TestQueue queues[2 * MQ_PAIRS + 1];
} DriverSnapshot;

static void
driver_snapshot_take (Fixture *f, DriverSnapshot *snapshot)
{
  snapshot->ram = g_memdup2 (test_guest (&f->m, 0, TEST_RAM_SIZE), TEST_RAM_SIZE);
  snapshot->rxq = f->rxq;
  snapshot->txq = f->txq;
  memcpy (snapshot->queues, f->queues, sizeof f->queues);
}

/* The paused NIC loads @state of @version, as a revert does: guest memory is the saved one again. */
static void
revert_to (Fixture *f, const DriverSnapshot *snapshot, GVariant *state, unsigned version)
{
  g_autoptr (GError) error = NULL;

  hv_virtio_net_set_paused (f->net, TRUE);
  memcpy (test_guest (&f->m, 0, TEST_RAM_SIZE), snapshot->ram, TEST_RAM_SIZE);
  f->rxq = snapshot->rxq;
  f->txq = snapshot->txq;
  memcpy (f->queues, snapshot->queues, sizeof f->queues);
  g_assert_true (hv_virtio_net_load_state (f->net, state, version, &error));
  g_assert_no_error (error);
  hv_virtio_net_set_paused (f->net, FALSE);
}

/* The pairs in use are saved: back to a state with two, the second TAP queue is attached again (the
 * driver had gone down to one since), and flows reach both pairs; a version 1 section, from before
 * pairs, gives one. */
static void
test_tap_mq_save_load (Fixture *f, gconstpointer data)
{
  g_autoptr (GVariant) state = NULL;
  g_autoptr (GVariant) old = NULL;
  DriverSnapshot snapshot;
  GVariantDict dict;
  unsigned counts[2];

  SKIP_WITHOUT_TAP (f);
  mq_bring_up (f, HV_VIRTIO_FEATURE (F_MQ) | HV_VIRTIO_FEATURE (F_CTRL_VQ));
  mq_give_rx (f, 0, QUEUE_LEN);
  mq_give_rx (f, 1, QUEUE_LEN);
  g_assert_cmpint (set_pairs (f, 2), ==, 0);
  hv_virtio_net_set_paused (f->net, TRUE);
  state = g_variant_ref_sink (vireo_test_state_through_bytes (hv_virtio_net_save_state (f->net)));
  driver_snapshot_take (f, &snapshot);
  hv_virtio_net_set_paused (f->net, FALSE);
  g_variant_dict_init (&dict, state);
  g_variant_dict_remove (&dict, "link");
  g_variant_dict_remove (&dict, "pairs");
  old = g_variant_ref_sink (g_variant_dict_end (&dict));

  g_assert_cmpint (set_pairs (f, 1), ==, 0);
  revert_to (f, &snapshot, state, HV_VIRTIO_NET_STATE_VERSION);
  host_flows_to_pairs (f, 16, 5000, counts);
  g_assert_cmpuint (counts[1], >, 0);

  revert_to (f, &snapshot, old, 1);
  host_flows_to_pairs (f, 8, 6000, counts);
  g_assert_cmpuint (counts[1], ==, 0);
  g_assert_false (test_driver_status (&f->d) & HV_VIRTIO_STATUS_NEEDS_RESET);
  g_free (snapshot.ram);
}

/* The test's network namespace, with IPv6 off (the kernel would send router solicitations down the
 * TAP) and a bridge for the TAPs, left down: an up bridge sends IGMP reports down its ports, and the
 * packet socket sees the TAP's traffic before the bridge would. */
static gboolean
enter_private_netns (void)
{
  int sock;

  if (geteuid () != 0 || access ("/dev/net/tun", R_OK | W_OK) < 0 || unshare (CLONE_NEWNET) < 0)
    return FALSE;
  write_proc ("/proc/sys/net/ipv6/conf/default/disable_ipv6", "1");
  write_proc ("/proc/sys/net/ipv6/conf/all/disable_ipv6", "1");
  sock = socket (AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (sock < 0 || ioctl (sock, SIOCBRADDBR, BRIDGE) < 0)
    {
      if (sock >= 0)
        close (sock);
      return FALSE;
    }
  close (sock);
  return TRUE;
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  private_netns = enter_private_netns ();
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
  ADD ("save-load-link", test_save_load_link, fixture_setup);
  ADD ("guest-address", test_guest_address, fixture_setup);
  ADD ("rom", test_rom, fixture_setup);
  ADD ("mq/offer", test_mq_offer, mq_setup);
  ADD ("mq/pairs", test_mq_pairs, mq_setup);
  ADD ("mq/hostile-control", test_mq_hostile_control, mq_setup);
  ADD ("tap/offer", test_tap_offer, tap_setup);
  ADD ("tap/frames", test_tap_frames, tap_setup);
  ADD ("tap/tso-to-host", test_tap_tso_to_host, tap_setup);
  ADD ("tap/uso", test_tap_uso, tap_setup);
  ADD ("tap/gso-to-guest", test_tap_gso_to_guest, tap_setup);
  ADD ("tap/link", test_tap_link, tap_setup);
  ADD ("tap/rx-full", test_tap_rx_full, tap_setup);
  ADD ("tap/hostile", test_tap_hostile, tap_setup);
  ADD ("tap/deleted", test_tap_deleted, tap_setup);
  ADD ("tap/mq", test_tap_mq, tap_mq_setup);
  ADD ("tap/mq-save-load", test_tap_mq_save_load, tap_mq_setup);
  return g_test_run ();
}
