/* test-virtio-net-tap.c — the virtio-net NIC on the TAP backend (as root): the test process moves to a network
 * namespace of its own, makes a bridge and a TAP on it there (hv_net_open_bridge_tap, as vireo-run does), and plays
 * the host's side with a packet socket on the TAP that sees and sends virtio-net headers (PACKET_VNET_HDR):
 * offload headers go through both ways, the link can be pulled, a guest without receive buffers leaves frames in
 * the kernel's queue, headers asking for what was not negotiated are dropped, and a multiqueue TAP spreads flows
 * over the pairs the driver set. */
#include "virtio-net-test.h"

/* The test process has a network namespace of its own (root): TAP tests may run. */
static gboolean private_netns;

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

void
virtio_net_add_tap_tests (void)
{
  private_netns = enter_private_netns ();
#define ADD(path, fn, setup) g_test_add ("/virtio-net/" path, Fixture, NULL, setup, fn, fixture_teardown)
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
#undef ADD
}
