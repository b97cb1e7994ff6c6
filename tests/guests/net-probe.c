/* net-probe.c — the network guest: on the first virtio-net NIC it prints "net-probe mac=MAC", asks for
 * an address by DHCP (DISCOVER, then REQUEST of what was offered) or takes the one its command line
 * gives ("ip=A.B.C.D/N", no DHCP), prints "net-probe ip=A.B.C.D gw=A.B.C.D"; with "tftp=NAME" it fetches
 * NAME over TFTP from the DHCP server and prints "net-probe tftp NAME bytes=N sha256=HEX"; then it
 * answers ARP requests for its address and pings (ICMP echo), and sends every UDP datagram it receives
 * on port 7 back to its sender (the echo service), until the ACPI power button: "net-probe done" and
 * power-off.  "send=A.B.C.D" also sends one datagram "net-probe hello" from port 7 to A.B.C.D port 7
 * after the address line, for a host that listens.  Failures print "net-probe: ..." and power off.
 * Everything after the first lines runs in ring 3; the NIC is polled. */
#include "kit.h"

#define ETH_LEN          14
#define IP_LEN           20
#define UDP_LEN          8
#define BOOTP_LEN        548 /* 236 fixed bytes and 312 of options: what slirp's DHCP server expects */
#define ETH_IPV4         0x0800
#define ETH_ARP          0x0806
#define PROTO_ICMP       1
#define PROTO_UDP        17
#define PORT_ECHO        7
#define PORT_DHCP_SERVER 67
#define PORT_DHCP_CLIENT 68
#define DHCP_DISCOVER    1
#define DHCP_OFFER       2
#define DHCP_REQUEST     3
#define DHCP_ACK         5
#define DHCP_XID         0x7669726fu /* "viro" */
#define PORT_TFTP        69
#define TFTP_CLIENT_PORT 1069
#define TFTP_RRQ         1
#define TFTP_DATA        3
#define TFTP_ACK         4
#define TFTP_ERROR       5
#define TFTP_BLOCK       512
#define TFTP_TRIES       10
#define ICMP_ECHO_REPLY  0
#define ICMP_ECHO        8
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
static uint8_t server_mac[6];
static KitAcpiPm pm;
static bool static_ip;
static char tftp_name[128];
static bool have_tftp;
static uint8_t hello_to[4];
static bool have_hello;

/* ---- SHA-256 (FIPS 180-4), for the fetched file's digest ---- */

typedef struct
{
  uint32_t h[8];
  uint8_t block[64];
  size_t used;
  uint64_t bytes;
} Sha256;

static const uint32_t sha256_k[64] = {
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
  0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
  0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
  0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
  0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
  0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

static uint32_t
ror (uint32_t x, unsigned n)
{
  return x >> n | x << (32 - n);
}

static void
sha256_block (Sha256 *c)
{
  uint32_t w[64], v[8];

  for (unsigned i = 0; i < 16; i++)
    w[i] = (uint32_t) c->block[4 * i] << 24 | (uint32_t) c->block[4 * i + 1] << 16
           | (uint32_t) c->block[4 * i + 2] << 8 | c->block[4 * i + 3];
  for (unsigned i = 16; i < 64; i++)
    w[i] = w[i - 16] + (ror (w[i - 15], 7) ^ ror (w[i - 15], 18) ^ (w[i - 15] >> 3)) + w[i - 7]
           + (ror (w[i - 2], 17) ^ ror (w[i - 2], 19) ^ (w[i - 2] >> 10));
  memcpy (v, c->h, sizeof v);
  for (unsigned i = 0; i < 64; i++)
    {
      uint32_t t1 = v[7] + (ror (v[4], 6) ^ ror (v[4], 11) ^ ror (v[4], 25))
                    + ((v[4] & v[5]) ^ (~v[4] & v[6])) + sha256_k[i] + w[i];
      uint32_t t2 = (ror (v[0], 2) ^ ror (v[0], 13) ^ ror (v[0], 22))
                    + ((v[0] & v[1]) ^ (v[0] & v[2]) ^ (v[1] & v[2]));
      memmove (v + 1, v, 7 * sizeof v[0]);
      v[4] += t1;
      v[0] = t1 + t2;
    }
  for (unsigned i = 0; i < 8; i++)
    c->h[i] += v[i];
}

static void
sha256_init (Sha256 *c)
{
  static const uint32_t h0[8] = { 0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                  0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19 };
  memcpy (c->h, h0, sizeof h0);
  c->used = 0;
  c->bytes = 0;
}

static void
sha256_update (Sha256 *c, const uint8_t *data, size_t len)
{
  c->bytes += len;
  while (len > 0)
    {
      size_t n = 64 - c->used < len ? 64 - c->used : len;
      memcpy (c->block + c->used, data, n);
      c->used += n;
      data += n;
      len -= n;
      if (c->used == 64)
        {
          sha256_block (c);
          c->used = 0;
        }
    }
}

static void
sha256_hex (Sha256 *c, char hex[65])
{
  static const char digits[] = "0123456789abcdef";
  uint64_t bits = c->bytes * 8;
  uint8_t pad = 0x80;

  sha256_update (c, &pad, 1);
  pad = 0;
  while (c->used != 56)
    sha256_update (c, &pad, 1);
  for (int i = 7; i >= 0; i--)
    {
      uint8_t b = (uint8_t) (bits >> (8 * i));
      sha256_update (c, &b, 1);
    }
  for (unsigned i = 0; i < 32; i++)
    {
      uint8_t b = (uint8_t) (c->h[i / 4] >> (24 - 8 * (i % 4)));
      hex[2 * i] = digits[b >> 4];
      hex[2 * i + 1] = digits[b & 0xf];
    }
  hex[64] = '\0';
}

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
  memcpy (server_mac, frame + 6, 6);
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

static uint16_t
checksum (const uint8_t *data, size_t len)
{
  uint32_t sum = 0;

  for (size_t i = 0; i + 1 < len; i += 2)
    sum += get16 (data + i);
  if (len & 1)
    sum += (uint32_t) data[len - 1] << 8;
  while (sum >> 16)
    sum = (sum & 0xffff) + (sum >> 16);
  return (uint16_t) ~sum;
}

/* An ICMP echo request to us gets its reply, same identifier, sequence and data. */
static bool
answer_ping (size_t len)
{
  const uint8_t *ip = frame + ETH_LEN;

  if (len < ETH_LEN + IP_LEN + 8 || get16 (frame + 12) != ETH_IPV4 || ip[0] != 0x45 || ip[9] != PROTO_ICMP
      || (get16 (ip + 6) & 0x3fff) != 0 || memcmp (ip + 16, my_ip, 4) != 0)
    return false;
  size_t ip_len = get16 (ip + 2);
  if (ip_len < IP_LEN + 8 || ip_len > len - ETH_LEN || ip_len > sizeof out - ETH_LEN)
    return true;
  const uint8_t *icmp = ip + IP_LEN;
  if (icmp[0] != ICMP_ECHO)
    return true;
  size_t icmp_len = ip_len - IP_LEN;
  uint8_t *reply_ip = out + ETH_LEN;
  uint8_t *reply = reply_ip + IP_LEN;
  memcpy (out, frame + 6, 6);
  memcpy (out + 6, mac, 6);
  put16 (out + 12, ETH_IPV4);
  memset (reply_ip, 0, IP_LEN);
  reply_ip[0] = 0x45;
  put16 (reply_ip + 2, (uint16_t) ip_len);
  reply_ip[8] = 64;
  reply_ip[9] = PROTO_ICMP;
  memcpy (reply_ip + 12, my_ip, 4);
  memcpy (reply_ip + 16, ip + 12, 4);
  put16 (reply_ip + 10, ip_checksum (reply_ip));
  memcpy (reply, icmp, icmp_len);
  reply[0] = ICMP_ECHO_REPLY;
  put16 (reply + 2, 0);
  put16 (reply + 2, checksum (reply, icmp_len));
  kit_virtio_net_send (out, ETH_LEN + ip_len);
  return true;
}

/* Sends a TFTP packet of @len bytes (already in @out past the headers) to the server's @port. */
static bool
send_tftp (uint16_t port, size_t len)
{
  return kit_virtio_net_send (out, build_udp (server_mac, my_ip, server_id, TFTP_CLIENT_PORT, port, len));
}

/* Fetches tftp_name from the DHCP server (RFC 1350, octet mode, 512-byte blocks) and prints its size
 * and SHA-256. */
static bool
tftp (void)
{
  uint8_t *request = out + ETH_LEN + IP_LEN + UDP_LEN;
  size_t name_len = strlen (tftp_name);
  uint16_t server_port = PORT_TFTP, expect = 1;
  size_t request_len = 2 + name_len + 1 + 6;
  Sha256 sha;
  char hex[65];

  sha256_init (&sha);
  put16 (request, TFTP_RRQ);
  memcpy (request + 2, tftp_name, name_len + 1);
  memcpy (request + 2 + name_len + 1, "octet", 6);
  if (!send_tftp (PORT_TFTP, request_len))
    return false;
  for (unsigned tries = 0; tries < TFTP_TRIES;)
    {
      uint64_t start = kit_rdtsc ();
      bool progress = false;

      while (!progress && kit_rdtsc () - start < RETRY_CYCLES)
        {
          size_t len = kit_virtio_net_receive (frame, sizeof frame), n;
          const uint8_t *data;

          if (len == 0)
            {
              cpu_pause ();
              continue;
            }
          if (answer_arp (len) || (data = udp_payload (len, TFTP_CLIENT_PORT, &n)) == NULL || n < 4)
            continue;
          if (get16 (data) == TFTP_ERROR)
            {
              kit_printf ("net-probe: tftp %s: error %u: %.100s\n", tftp_name, get16 (data + 2),
                          n > 4 ? (const char *) data + 4 : "");
              return false;
            }
          if (get16 (data) != TFTP_DATA || get16 (data + 2) != expect)
            continue;
          server_port = get16 (frame + ETH_LEN + IP_LEN);
          sha256_update (&sha, data + 4, n - 4);
          put16 (request, TFTP_ACK);
          put16 (request + 2, expect);
          request_len = 4;
          send_tftp (server_port, request_len);
          if (n - 4 < TFTP_BLOCK)
            {
              uint64_t bytes = sha.bytes;
              sha256_hex (&sha, hex);
              kit_printf ("net-probe tftp %s bytes=%lu sha256=%s\n", tftp_name, (unsigned long) bytes, hex);
              return true;
            }
          expect++;
          progress = true;
          tries = 0;
        }
      if (!progress)
        {
          /* Lost: the request or the last ACK again. */
          tries++;
          send_tftp (server_port, request_len);
        }
    }
  kit_printf ("net-probe: tftp %s: no answer\n", tftp_name);
  return false;
}

/* "A.B.C.D" (and an ignored "/N") into @addr. */
static bool
parse_ipv4 (const char *text, uint8_t addr[4])
{
  for (unsigned i = 0; i < 4; i++)
    {
      unsigned v = 0, digits = 0;
      while (*text >= '0' && *text <= '9' && digits < 4)
        v = v * 10 + (unsigned) (*text++ - '0'), digits++;
      if (digits == 0 || v > 255 || (i < 3 && *text++ != '.'))
        return false;
      addr[i] = (uint8_t) v;
    }
  return *text == '\0' || *text == '/';
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
  if (!static_ip && !dhcp ())
    {
      kit_puts ("net-probe: no answer from a DHCP server\n");
      kit_poweroff ();
    }
  kit_printf ("net-probe ip=%u.%u.%u.%u gw=%u.%u.%u.%u\n", my_ip[0], my_ip[1], my_ip[2], my_ip[3], gateway[0],
              gateway[1], gateway[2], gateway[3]);
  if (have_tftp && (static_ip || !tftp ()))
    {
      if (static_ip)
        kit_puts ("net-probe: tftp= needs a DHCP server\n");
      kit_poweroff ();
    }
  if (have_hello)
    {
      static const uint8_t broadcast_mac[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
      static const char hello[] = "net-probe hello";
      /* To every port of the segment: no ARP needed for one datagram. */
      memcpy (out + ETH_LEN + IP_LEN + UDP_LEN, hello, sizeof hello - 1);
      kit_virtio_net_send (
          out, build_udp (broadcast_mac, my_ip, hello_to, PORT_ECHO, PORT_ECHO, sizeof hello - 1));
    }

  uint64_t last_button_check = kit_rdtsc ();
  for (;;)
    {
      size_t len = kit_virtio_net_receive (frame, sizeof frame);

      if (len > 0)
        {
          if (!answer_arp (len) && !answer_ping (len))
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
  char text[32];

  if (kit_cmdline_string ("ip", text, sizeof text))
    {
      if (!parse_ipv4 (text, my_ip))
        {
          kit_printf ("net-probe: ip=%s is not A.B.C.D/N\n", text);
          return;
        }
      static_ip = true;
    }
  if (kit_cmdline_string ("send", text, sizeof text))
    {
      if (!parse_ipv4 (text, hello_to))
        {
          kit_printf ("net-probe: send=%s is not A.B.C.D\n", text);
          return;
        }
      have_hello = true;
    }
  have_tftp = kit_cmdline_string ("tftp", tftp_name, sizeof tftp_name);
  if (!kit_run_user (start, NULL))
    return;
  /* As in shutdown.c: a press latched before now is not the test's; then PWRBTN_EN, polled. */
  outw (pm.pm1a_evt, ACPI_PM1_PWRBTN);
  uint16_t pm1_en = (uint16_t) (pm.pm1a_evt + pm.pm1_evt_len / 2);
  outw (pm1_en, (uint16_t) (inw (pm1_en) | ACPI_PM1_PWRBTN));
  kit_run_user (run, NULL);
}
