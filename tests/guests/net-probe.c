/* net-probe.c — the network guest: on the first virtio-net NIC it prints "net-probe mac=MAC", asks for
 * an address by DHCP (DISCOVER, then REQUEST of what was offered) or takes the one its command line
 * gives ("ip=A.B.C.D/N", no DHCP), prints "net-probe ip=A.B.C.D gw=A.B.C.D"; with "tftp=NAME" it fetches
 * NAME over TFTP from the DHCP server and prints "net-probe tftp NAME bytes=N sha256=HEX"; then it
 * answers ARP requests for its address and pings (ICMP echo), and sends every UDP datagram it receives
 * on port 7 back to its sender (the echo service), until the ACPI power button: "net-probe done" and
 * power-off.  "send=A.B.C.D" also sends one datagram "net-probe hello" from port 7 to A.B.C.D port 7
 * after the address line, for a host that listens.  Failures print "net-probe: ..." and power off.
 * Everything after the first lines runs in ring 3; the NIC is polled.  Ethernet, UDP, ARP and DHCP are
 * kit-ip.c's. */
#include "kit.h"

#define IP_LEN           20
#define ETH_IPV4         0x0800
#define PROTO_ICMP       1
#define PORT_ECHO        7
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
/* About a second at 2-3 GHz; the exact time does not matter. */
#define RETRY_CYCLES  (1ull << 31)
#define BUTTON_CYCLES (1ull << 24)

static KitIp me;
static uint8_t frame[2048];
static uint8_t out[2048];
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

static void
answer_echo (size_t len)
{
  size_t n;
  const uint8_t *payload = kit_udp_payload (frame, len, PORT_ECHO, &n);
  const uint8_t *ip = frame + KIT_ETH_LEN;

  if (payload == NULL || memcmp (ip + 16, me.ip, 4) != 0 || n > sizeof out - KIT_UDP_HEADERS)
    return;
  memcpy (out + KIT_UDP_HEADERS, payload, n);
  size_t out_len = kit_udp_build (&me, out, frame + 6, ip + 12, PORT_ECHO, kit_get_be16 (ip + IP_LEN), n);
  kit_virtio_net_send (out, out_len);
}

/* An ICMP echo request to us gets its reply, same identifier, sequence and data. */
static bool
answer_ping (size_t len)
{
  const uint8_t *ip = frame + KIT_ETH_LEN;

  if (len < KIT_ETH_LEN + IP_LEN + 8 || kit_get_be16 (frame + 12) != ETH_IPV4 || ip[0] != 0x45
      || ip[9] != PROTO_ICMP || (kit_get_be16 (ip + 6) & 0x3fff) != 0 || memcmp (ip + 16, me.ip, 4) != 0)
    return false;
  size_t ip_len = kit_get_be16 (ip + 2);
  if (ip_len < IP_LEN + 8 || ip_len > len - KIT_ETH_LEN || ip_len > sizeof out - KIT_ETH_LEN)
    return true;
  const uint8_t *icmp = ip + IP_LEN;
  if (icmp[0] != ICMP_ECHO)
    return true;
  size_t icmp_len = ip_len - IP_LEN;
  uint8_t *reply = out + KIT_ETH_LEN + IP_LEN;
  memcpy (reply, icmp, icmp_len);
  reply[0] = ICMP_ECHO_REPLY;
  kit_put_be16 (reply + 2, 0);
  kit_put_be16 (reply + 2, kit_ip_checksum (reply, icmp_len));
  kit_virtio_net_send (out, kit_ipv4_build (&me, out, frame + 6, ip + 12, PROTO_ICMP, icmp_len));
  return true;
}

/* Sends a TFTP packet of @len bytes (already in @out past the headers) to the server's @port. */
static bool
send_tftp (uint16_t port, size_t len)
{
  return kit_virtio_net_send (
      out, kit_udp_build (&me, out, me.server_mac, me.server, TFTP_CLIENT_PORT, port, len));
}

/* Fetches tftp_name from the DHCP server (RFC 1350, octet mode, 512-byte blocks) and prints its size
 * and SHA-256. */
static bool
tftp (void)
{
  uint8_t *request = out + KIT_UDP_HEADERS;
  size_t name_len = strlen (tftp_name);
  uint16_t server_port = PORT_TFTP, expect = 1;
  size_t request_len = 2 + name_len + 1 + 6;
  Sha256 sha;
  char hex[65];

  sha256_init (&sha);
  kit_put_be16 (request, TFTP_RRQ);
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
          if (kit_arp_answer (&me, frame, len)
              || (data = kit_udp_payload (frame, len, TFTP_CLIENT_PORT, &n)) == NULL || n < 4)
            continue;
          if (kit_get_be16 (data) == TFTP_ERROR)
            {
              kit_printf ("net-probe: tftp %s: error %u: %.100s\n", tftp_name, kit_get_be16 (data + 2),
                          n > 4 ? (const char *) data + 4 : "");
              return false;
            }
          if (kit_get_be16 (data) != TFTP_DATA || kit_get_be16 (data + 2) != expect)
            continue;
          server_port = kit_get_be16 (frame + KIT_ETH_LEN + IP_LEN);
          sha256_update (&sha, data + 4, n - 4);
          kit_put_be16 (request, TFTP_ACK);
          kit_put_be16 (request + 2, expect);
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
  size_t len = 0;

  while (text[len] != '\0' && text[len] != '/')
    len++;
  return kit_parse_ipv4 (text, len, addr);
}

static long
run (void *unused)
{
  if (!static_ip && !kit_dhcp (&me))
    {
      kit_puts ("net-probe: no answer from a DHCP server\n");
      kit_poweroff ();
    }
  kit_printf ("net-probe ip=%u.%u.%u.%u gw=%u.%u.%u.%u\n", me.ip[0], me.ip[1], me.ip[2], me.ip[3],
              me.gateway[0], me.gateway[1], me.gateway[2], me.gateway[3]);
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
      memcpy (out + KIT_UDP_HEADERS, hello, sizeof hello - 1);
      kit_virtio_net_send (
          out, kit_udp_build (&me, out, broadcast_mac, hello_to, PORT_ECHO, PORT_ECHO, sizeof hello - 1));
    }

  uint64_t last_button_check = kit_rdtsc ();
  for (;;)
    {
      size_t len = kit_virtio_net_receive (frame, sizeof frame);

      if (len > 0)
        {
          if (!kit_arp_answer (&me, frame, len) && !answer_ping (len))
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
  if (!kit_virtio_net_init (0, me.mac))
    {
      kit_puts ("net-probe: no virtio-net NIC\n");
      return 0;
    }
  kit_printf ("net-probe mac=%02x:%02x:%02x:%02x:%02x:%02x\n", me.mac[0], me.mac[1], me.mac[2], me.mac[3],
              me.mac[4], me.mac[5]);
  return 1;
}

void
guest_main (void)
{
  char text[32];

  if (kit_cmdline_string ("ip", text, sizeof text))
    {
      if (!parse_ipv4 (text, me.ip))
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
