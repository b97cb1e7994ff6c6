/* test-virtio-net.c — the virtio-net NIC as a driver sees it: what it offers, ARP answered by the NAT,
 * the receive header, mergeable buffers, and a hostile or absent driver (short, huge and out-of-RAM
 * transmit chains, buffers too small, a receive queue never refilled); restricted mode's filter and
 * saved state; the guest's address learnt from a DHCP ACK; several queue pairs and the control queue.
 * slirp runs on the test's I/O context, with no port forwards: nothing opens a socket.  The TAP backend
 * is tested in test-virtio-net-tap.c. */
#include "virtio-net-test.h"

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
  ADD ("save-load-link", test_save_load_link, fixture_setup);
  ADD ("guest-address", test_guest_address, fixture_setup);
  ADD ("rom", test_rom, fixture_setup);
  ADD ("mq/offer", test_mq_offer, mq_setup);
  ADD ("mq/pairs", test_mq_pairs, mq_setup);
  ADD ("mq/hostile-control", test_mq_hostile_control, mq_setup);
  virtio_net_add_tap_tests ();
  return g_test_run ();
}
