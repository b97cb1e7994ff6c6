/* kit-ip.c — the guest kit's IPv4 over kit-net.c, as much as the network guests need: Ethernet, IPv4
 * and UDP headers (no options, no fragments, UDP checksum 0, which IPv4 allows), answers to ARP
 * requests for our address, IPv4 headers for other protocols, a DHCP client (DISCOVER, then REQUEST of what was offered) and dotted
 * addresses on the command line.  Replies go to the MAC they came from, so there is no ARP cache. */
#include "kit.h"

#define IP_LEN           20
#define UDP_LEN          8
#define BOOTP_LEN        548 /* 236 fixed bytes and 312 of options: what slirp's DHCP server expects */
#define ETH_IPV4         0x0800
#define ETH_ARP          0x0806
#define PROTO_UDP        17
#define PORT_DHCP_SERVER 67
#define PORT_DHCP_CLIENT 68
#define DHCP_DISCOVER    1
#define DHCP_OFFER       2
#define DHCP_REQUEST     3
#define DHCP_ACK         5
#define DHCP_XID         0x7669726fu /* "viro" */
#define DHCP_TRIES       10
/* About a second at 2-3 GHz; the exact time does not matter. */
#define RETRY_CYCLES (1ull << 31)

static uint8_t dhcp_frame[2048];

uint16_t
kit_get_be16 (const uint8_t *p)
{
  return (uint16_t) (p[0] << 8 | p[1]);
}

void
kit_put_be16 (uint8_t *p, uint16_t value)
{
  p[0] = (uint8_t) (value >> 8);
  p[1] = (uint8_t) value;
}

uint16_t
kit_ip_checksum (const uint8_t *data, size_t len)
{
  uint32_t sum = 0;

  for (size_t i = 0; i + 1 < len; i += 2)
    sum += kit_get_be16 (data + i);
  if (len & 1)
    sum += (uint32_t) data[len - 1] << 8;
  while (sum >> 16)
    sum = (sum & 0xffff) + (sum >> 16);
  return (uint16_t) ~sum;
}

size_t
kit_ipv4_build (const KitIp *me, uint8_t *frame, const uint8_t *dst_mac, const uint8_t *dst_ip,
                uint8_t protocol, size_t payload_len)
{
  uint8_t *ip = frame + KIT_ETH_LEN;

  memcpy (frame, dst_mac, 6);
  memcpy (frame + 6, me->mac, 6);
  kit_put_be16 (frame + 12, ETH_IPV4);
  memset (ip, 0, IP_LEN);
  ip[0] = 0x45;
  kit_put_be16 (ip + 2, (uint16_t) (IP_LEN + payload_len));
  ip[8] = 64;
  ip[9] = protocol;
  memcpy (ip + 12, me->ip, 4);
  memcpy (ip + 16, dst_ip, 4);
  kit_put_be16 (ip + 10, kit_ip_checksum (ip, IP_LEN));
  return KIT_ETH_LEN + IP_LEN + payload_len;
}

size_t
kit_udp_build (const KitIp *me, uint8_t *frame, const uint8_t *dst_mac, const uint8_t *dst_ip, uint16_t sport,
               uint16_t dport, size_t payload_len)
{
  uint8_t *udp = frame + KIT_ETH_LEN + IP_LEN;

  kit_ipv4_build (me, frame, dst_mac, dst_ip, PROTO_UDP, UDP_LEN + payload_len);
  kit_put_be16 (udp, sport);
  kit_put_be16 (udp + 2, dport);
  kit_put_be16 (udp + 4, (uint16_t) (UDP_LEN + payload_len));
  kit_put_be16 (udp + 6, 0);
  return KIT_UDP_HEADERS + payload_len;
}

const uint8_t *
kit_udp_payload (const uint8_t *frame, size_t len, uint16_t dport, size_t *payload_len)
{
  const uint8_t *ip = frame + KIT_ETH_LEN;

  if (len < KIT_UDP_HEADERS || kit_get_be16 (frame + 12) != ETH_IPV4 || ip[0] != 0x45 || ip[9] != PROTO_UDP
      || (kit_get_be16 (ip + 6) & 0x3fff) != 0)
    return NULL;
  const uint8_t *udp = ip + IP_LEN;
  size_t udp_len = kit_get_be16 (udp + 4);
  if (kit_get_be16 (udp + 2) != dport || udp_len < UDP_LEN || udp_len > len - KIT_ETH_LEN - IP_LEN)
    return NULL;
  *payload_len = udp_len - UDP_LEN;
  return udp + UDP_LEN;
}

bool
kit_arp_answer (const KitIp *me, const uint8_t *frame, size_t len)
{
  const uint8_t *arp = frame + KIT_ETH_LEN;
  uint8_t out[KIT_ETH_LEN + 28];

  if (len < KIT_ETH_LEN + 28 || kit_get_be16 (frame + 12) != ETH_ARP || kit_get_be16 (arp) != 1
      || kit_get_be16 (arp + 2) != ETH_IPV4 || arp[4] != 6 || arp[5] != 4 || kit_get_be16 (arp + 6) != 1
      || memcmp (arp + 24, me->ip, 4) != 0)
    return false;
  uint8_t *reply = out + KIT_ETH_LEN;
  memcpy (out, arp + 8, 6);
  memcpy (out + 6, me->mac, 6);
  kit_put_be16 (out + 12, ETH_ARP);
  memcpy (reply, arp, 6);
  kit_put_be16 (reply + 6, 2);
  memcpy (reply + 8, me->mac, 6);
  memcpy (reply + 14, me->ip, 4);
  memcpy (reply + 18, arp + 8, 10); /* the asker's MAC and address */
  kit_virtio_net_send (out, sizeof out);
  return true;
}

static bool
send_dhcp (KitIp *me, uint8_t type)
{
  static const uint8_t broadcast_mac[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
  static const uint8_t broadcast[4] = { 255, 255, 255, 255 };
  static uint8_t out[KIT_UDP_HEADERS + BOOTP_LEN];
  uint8_t *bootp = out + KIT_UDP_HEADERS;
  uint8_t *option = bootp + 240;
  KitIp unaddressed = *me;

  memset (bootp, 0, BOOTP_LEN);
  bootp[0] = 1; /* BOOTREQUEST */
  bootp[1] = 1; /* Ethernet */
  bootp[2] = 6;
  bootp[4] = (uint8_t) (DHCP_XID >> 24);
  bootp[5] = (uint8_t) (DHCP_XID >> 16);
  bootp[6] = (uint8_t) (DHCP_XID >> 8);
  bootp[7] = (uint8_t) DHCP_XID;
  memcpy (bootp + 28, me->mac, 6);
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
      memcpy (option, me->ip, 4);
      option += 4;
      *option++ = 54; /* server identifier */
      *option++ = 4;
      memcpy (option, me->server, 4);
      option += 4;
    }
  *option = 255;
  /* Until the ACK the source address is 0.0.0.0. */
  memset (unaddressed.ip, 0, 4);
  size_t len = kit_udp_build (&unaddressed, out, broadcast_mac, broadcast, PORT_DHCP_CLIENT, PORT_DHCP_SERVER,
                              BOOTP_LEN);
  return kit_virtio_net_send (out, len);
}

/* The DHCP message type of a reply to us, with its options read into @me; 0 when @len bytes are none. */
static uint8_t
parse_dhcp (KitIp *me, size_t len, uint8_t *yiaddr)
{
  size_t n;
  const uint8_t *bootp = kit_udp_payload (dhcp_frame, len, PORT_DHCP_CLIENT, &n);
  uint8_t type = 0;

  if (bootp == NULL || n < 240 || bootp[0] != 2 || kit_get_be16 (bootp + 4) != (DHCP_XID >> 16)
      || kit_get_be16 (bootp + 6) != (DHCP_XID & 0xffff) || memcmp (bootp + 28, me->mac, 6) != 0)
    return 0;
  memcpy (yiaddr, bootp + 16, 4);
  memcpy (me->server_mac, dhcp_frame + 6, 6);
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
        memcpy (me->server, value, 4);
      else if (code == 3 && olen >= 4)
        memcpy (me->gateway, value, 4);
      i += 2 + (size_t) olen;
    }
  return type;
}

bool
kit_dhcp (KitIp *me)
{
  uint8_t want = DHCP_OFFER;

  for (unsigned tries = 0; tries < DHCP_TRIES; tries++)
    {
      if (!send_dhcp (me, want == DHCP_OFFER ? DHCP_DISCOVER : DHCP_REQUEST))
        return false;
      uint64_t start = kit_rdtsc ();
      while (kit_rdtsc () - start < RETRY_CYCLES)
        {
          size_t len = kit_virtio_net_receive (dhcp_frame, sizeof dhcp_frame);
          uint8_t yiaddr[4];

          if (len == 0)
            {
              cpu_pause ();
              continue;
            }
          if (parse_dhcp (me, len, yiaddr) != want)
            continue;
          memcpy (me->ip, yiaddr, 4);
          if (want == DHCP_ACK)
            return true;
          want = DHCP_ACK;
          tries = 0;
          break;
        }
    }
  return false;
}

bool
kit_parse_ipv4 (const char *text, size_t len, uint8_t ip[4])
{
  unsigned part = 0, value = 0, digits = 0;

  for (size_t i = 0; i <= len; i++)
    {
      char c = i < len ? text[i] : '.';
      if (c >= '0' && c <= '9' && digits < 3)
        {
          value = value * 10 + (unsigned) (c - '0');
          digits++;
          continue;
        }
      if (c != '.' || digits == 0 || value > 255 || part == 4)
        return false;
      ip[part++] = (uint8_t) value;
      value = digits = 0;
    }
  return part == 4;
}

bool
kit_cmdline_ipv4 (const char *key, uint8_t ip[4])
{
  char text[16];

  return kit_cmdline_string (key, text, sizeof text) && kit_parse_ipv4 (text, strlen (text), ip);
}
