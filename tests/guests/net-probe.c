/* net-probe.c — the network guest: on the first virtio-net NIC it prints "net-probe mac=MAC", asks for
 * an address by DHCP (DISCOVER, then REQUEST of what was offered), prints "net-probe ip=A.B.C.D
 * gw=A.B.C.D", then answers ARP requests for its address and sends every UDP datagram it receives on
 * port 7 back to its sender (the echo service), until the ACPI power button: "net-probe done" and
 * power-off.  Failures print "net-probe: ..." and power off.  Everything after the first lines runs
 * in ring 3; the NIC is polled. */
#include "kit.h"

#define ETH_LEN          14
#define IP_LEN           20
#define UDP_LEN          8
#define BOOTP_LEN        548 /* 236 fixed bytes and 312 of options: what slirp's DHCP server expects */
#define ETH_IPV4         0x0800
#define ETH_ARP          0x0806
#define PROTO_UDP        17
#define PORT_ECHO        7
#define PORT_DHCP_SERVER 67
#define PORT_DHCP_CLIENT 68
#define DHCP_DISCOVER    1
#define DHCP_OFFER       2
#define DHCP_REQUEST     3
#define DHCP_ACK         5
#define DHCP_XID         0x7669726fu /* "viro" */
#define DHCP_TRIES       10
/* About a second at 2-3 GHz; the exact time does not matter. */
#define RETRY_CYCLES  (1ull << 31)
#define BUTTON_CYCLES (1ull << 24)

static uint8_t mac[6];
static uint8_t frame[2048];
static uint8_t out[2048];
static uint8_t my_ip[4];
static uint8_t gateway[4];
static uint8_t server_id[4];
static KitAcpiPm pm;

static uint16_t
get16 (const uint8_t *p)
{
  return (uint16_t) (p[0] << 8 | p[1]);
}

static void
put16 (uint8_t *p, uint16_t value)
{
  p[0] = (uint8_t) (value >> 8);
  p[1] = (uint8_t) value;
}

static uint16_t
ip_checksum (const uint8_t *header)
{
  uint32_t sum = 0;

  for (unsigned i = 0; i < IP_LEN; i += 2)
    sum += get16 (header + i);
  while (sum >> 16)
    sum = (sum & 0xffff) + (sum >> 16);
  return (uint16_t) ~sum;
}

/* Ethernet, IPv4 and UDP headers in @out for @payload_len bytes of UDP payload; returns the frame's
 * length.  The UDP checksum is 0 (none), which IPv4 allows. */
static size_t
build_udp (const uint8_t *dst_mac, const uint8_t *src_ip, const uint8_t *dst_ip, uint16_t sport,
           uint16_t dport, size_t payload_len)
{
  uint8_t *ip = out + ETH_LEN;
  uint8_t *udp = ip + IP_LEN;

  memcpy (out, dst_mac, 6);
  memcpy (out + 6, mac, 6);
  put16 (out + 12, ETH_IPV4);
  memset (ip, 0, IP_LEN);
  ip[0] = 0x45;
  put16 (ip + 2, (uint16_t) (IP_LEN + UDP_LEN + payload_len));
  ip[8] = 64;
  ip[9] = PROTO_UDP;
  memcpy (ip + 12, src_ip, 4);
  memcpy (ip + 16, dst_ip, 4);
  put16 (ip + 10, ip_checksum (ip));
  put16 (udp, sport);
  put16 (udp + 2, dport);
  put16 (udp + 4, (uint16_t) (UDP_LEN + payload_len));
  put16 (udp + 6, 0);
  return ETH_LEN + IP_LEN + UDP_LEN + payload_len;
}

static bool
send_dhcp (uint8_t type)
{
  static const uint8_t broadcast_mac[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
  static const uint8_t any[4] = { 0, 0, 0, 0 };
  static const uint8_t broadcast[4] = { 255, 255, 255, 255 };
  uint8_t *bootp = out + ETH_LEN + IP_LEN + UDP_LEN;
  uint8_t *option = bootp + 240;

  memset (bootp, 0, BOOTP_LEN);
  bootp[0] = 1; /* BOOTREQUEST */
  bootp[1] = 1; /* Ethernet */
  bootp[2] = 6;
  bootp[4] = (uint8_t) (DHCP_XID >> 24);
  bootp[5] = (uint8_t) (DHCP_XID >> 16);
  bootp[6] = (uint8_t) (DHCP_XID >> 8);
  bootp[7] = (uint8_t) DHCP_XID;
  memcpy (bootp + 28, mac, 6);
  bootp[236] = 99; /* the DHCP magic cookie */
  bootp[237] = 130;
  bootp[238] = 83;
  bootp[239] = 99;
  *option++ = 53;
  *option++ = 1;
  *option++ = type;
  if (type == DHCP_REQUEST)
    {
      *option++ = 50; /* requested address */
      *option++ = 4;
      memcpy (option, my_ip, 4);
      option += 4;
      *option++ = 54; /* server identifier */
      *option++ = 4;
      memcpy (option, server_id, 4);
      option += 4;
    }
  *option = 255;
  size_t len = build_udp (broadcast_mac, any, broadcast, PORT_DHCP_CLIENT, PORT_DHCP_SERVER, BOOTP_LEN);
  return kit_virtio_net_send (out, len);
}

/* The UDP payload of an IPv4 frame for port @dport, or NULL. */
static const uint8_t *
udp_payload (size_t len, uint16_t dport, size_t *payload_len)
{
  const uint8_t *ip = frame + ETH_LEN;

  if (len < ETH_LEN + IP_LEN + UDP_LEN || get16 (frame + 12) != ETH_IPV4 || ip[0] != 0x45
      || ip[9] != PROTO_UDP || (get16 (ip + 6) & 0x3fff) != 0)
    return NULL;
  const uint8_t *udp = ip + IP_LEN;
  size_t udp_len = get16 (udp + 4);
  if (get16 (udp + 2) != dport || udp_len < UDP_LEN || udp_len > len - ETH_LEN - IP_LEN)
    return NULL;
  *payload_len = udp_len - UDP_LEN;
  return udp + UDP_LEN;
}

/* The DHCP message type of a reply to us, with its options read; 0 when @len bytes are none. */
static uint8_t
parse_dhcp (size_t len, uint8_t *yiaddr)
{
  size_t n;
  const uint8_t *bootp = udp_payload (len, PORT_DHCP_CLIENT, &n);
  uint8_t type = 0;

  if (bootp == NULL || n < 240 || bootp[0] != 2 || get16 (bootp + 4) != (DHCP_XID >> 16)
      || get16 (bootp + 6) != (DHCP_XID & 0xffff) || memcmp (bootp + 28, mac, 6) != 0)
    return 0;
  memcpy (yiaddr, bootp + 16, 4);
  for (size_t i = 240; i + 1 < n && bootp[i] != 255;)
    {
      uint8_t code = bootp[i];
      if (code == 0)
        {
          i++;
          continue;
        }
      uint8_t olen = bootp[i + 1];
      if (i + 2 + olen > n)
        break;
      const uint8_t *value = bootp + i + 2;
      if (code == 53 && olen >= 1)
        type = value[0];
      else if (code == 54 && olen >= 4)
        memcpy (server_id, value, 4);
      else if (code == 3 && olen >= 4)
        memcpy (gateway, value, 4);
      i += 2 + (size_t) olen;
    }
  return type;
}

static bool
answer_arp (size_t len)
{
  const uint8_t *arp = frame + ETH_LEN;

  if (len < ETH_LEN + 28 || get16 (frame + 12) != ETH_ARP || get16 (arp) != 1 || get16 (arp + 2) != ETH_IPV4
      || arp[4] != 6 || arp[5] != 4 || get16 (arp + 6) != 1 || memcmp (arp + 24, my_ip, 4) != 0)
    return false;
  uint8_t *reply = out + ETH_LEN;
  memcpy (out, arp + 8, 6);
  memcpy (out + 6, mac, 6);
  put16 (out + 12, ETH_ARP);
  memcpy (reply, arp, 6);
  put16 (reply + 6, 2);
  memcpy (reply + 8, mac, 6);
  memcpy (reply + 14, my_ip, 4);
  memcpy (reply + 18, arp + 8, 10); /* the asker's MAC and address */
  kit_virtio_net_send (out, ETH_LEN + 28);
  return true;
}

static void
answer_echo (size_t len)
{
  size_t n;
  const uint8_t *payload = udp_payload (len, PORT_ECHO, &n);
  const uint8_t *ip = frame + ETH_LEN;

  if (payload == NULL || memcmp (ip + 16, my_ip, 4) != 0 || n > sizeof out - ETH_LEN - IP_LEN - UDP_LEN)
    return;
  memcpy (out + ETH_LEN + IP_LEN + UDP_LEN, payload, n);
  size_t out_len = build_udp (frame + 6, my_ip, ip + 12, PORT_ECHO, get16 (ip + IP_LEN), n);
  kit_virtio_net_send (out, out_len);
}

/* DISCOVER until an OFFER, then REQUEST until an ACK. */
static bool
dhcp (void)
{
  uint8_t want = DHCP_OFFER;

  for (unsigned tries = 0; tries < DHCP_TRIES; tries++)
    {
      if (!send_dhcp (want == DHCP_OFFER ? DHCP_DISCOVER : DHCP_REQUEST))
        return false;
      uint64_t start = kit_rdtsc ();
      while (kit_rdtsc () - start < RETRY_CYCLES)
        {
          size_t len = kit_virtio_net_receive (frame, sizeof frame);
          uint8_t yiaddr[4];

          if (len == 0)
            {
              cpu_pause ();
              continue;
            }
          if (parse_dhcp (len, yiaddr) != want)
            continue;
          memcpy (my_ip, yiaddr, 4);
          if (want == DHCP_ACK)
            return true;
          want = DHCP_ACK;
          tries = 0;
          break;
        }
    }
  return false;
}

static long
run (void *unused)
{
  if (!dhcp ())
    {
      kit_puts ("net-probe: no answer from a DHCP server\n");
      kit_poweroff ();
    }
  kit_printf ("net-probe ip=%u.%u.%u.%u gw=%u.%u.%u.%u\n", my_ip[0], my_ip[1], my_ip[2], my_ip[3], gateway[0],
              gateway[1], gateway[2], gateway[3]);

  uint64_t last_button_check = kit_rdtsc ();
  for (;;)
    {
      size_t len = kit_virtio_net_receive (frame, sizeof frame);

      if (len > 0)
        {
          if (!answer_arp (len))
            answer_echo (len);
          continue;
        }
      /* The power button is a port read, a VM exit: not on every turn. */
      if (kit_rdtsc () - last_button_check > BUTTON_CYCLES)
        {
          last_button_check = kit_rdtsc ();
          if (inw (pm.pm1a_evt) & ACPI_PM1_PWRBTN)
            {
              outw (pm.pm1a_evt, ACPI_PM1_PWRBTN);
              kit_puts ("net-probe done\n");
              kit_poweroff ();
            }
        }
      cpu_pause ();
    }
}

static long
start (void *unused)
{
  if (!kit_acpi_pm (&pm) || pm.pm1a_evt == 0 || pm.pm1_evt_len < 4)
    {
      kit_puts ("net-probe: no PM1a_EVT_BLK in the FADT\n");
      return 0;
    }
  if (!kit_virtio_net_init (0, mac))
    {
      kit_puts ("net-probe: no virtio-net NIC\n");
      return 0;
    }
  kit_printf ("net-probe mac=%02x:%02x:%02x:%02x:%02x:%02x\n", mac[0], mac[1], mac[2], mac[3], mac[4],
              mac[5]);
  return 1;
}

void
guest_main (void)
{
  if (!kit_run_user (start, NULL))
    return;
  /* As in shutdown.c: a press latched before now is not the test's; then PWRBTN_EN, polled. */
  outw (pm.pm1a_evt, ACPI_PM1_PWRBTN);
  uint16_t pm1_en = (uint16_t) (pm.pm1a_evt + pm.pm1_evt_len / 2);
  outw (pm1_en, (uint16_t) (inw (pm1_en) | ACPI_PM1_PWRBTN));
  kit_run_user (run, NULL);
}
