/* net-bench.c — the guest of vireo-bench's network benchmark (`--only net`): the same ELF under vireo-run
 * and QEMU.  On the first virtio-net NIC it takes the address given as ip=A.B.C.D on its command line (a
 * bridge has no DHCP server) or else one by DHCP, prints
 *
 *   net-bench ready ip=A.B.C.D
 *
 * and serves UDP port 7 from ring 3, polling (no interrupts), until the power button or a quit:
 *
 *   - a datagram is sent back to its sender as it came (the host's round-trip measurement);
 *   - "net-bench send N S" sends N datagrams of S payload bytes (8-1472) back to the sender, from port
 *     7, as fast as the transmit ring takes them (a doorbell per 64 frames), each starting with its
 *     32-bit big-endian sequence number; then the datagram "net-bench end N" and, on COM1,
 *     "net-bench sent N S"; bad arguments: "net-bench: bad send command";
 *   - "net-bench quit" prints "net-bench done" and powers off, as the power button does.
 *
 * ARP requests for its address are answered.  Failures print "net-bench: ..." and power off. */
#include "kit.h"

#define PORT          7
#define PAYLOAD_MIN   8
#define PAYLOAD_MAX   1472 /* a 1500-byte MTU less IPv4 and UDP headers */
#define SEND_BATCH    64
#define BUTTON_CYCLES (1ull << 24)
#define COMMAND       "net-bench "

static KitIp me;
static uint8_t frame[2048];
static uint8_t out[2048];
static KitAcpiPm pm;

static void
finish (void)
{
  kit_puts ("net-bench done\n");
  kit_poweroff ();
}

/* Reads an unsigned decimal number at *@p in @end, moving past it and one space. */
static bool
parse_number (const char **p, const char *end, uint32_t *value)
{
  uint64_t v = 0;
  const char *start = *p;

  while (*p < end && **p >= '0' && **p <= '9' && v <= 0xffffffffu)
    v = v * 10 + (uint64_t) (*(*p)++ - '0');
  if (*p == start || v > 0xffffffffu)
    return false;
  if (*p < end && **p == ' ')
    (*p)++;
  *value = (uint32_t) v;
  return true;
}

/* The burst: N datagrams of S bytes to whoever sent @request (a frame in `frame`). */
static void
send_burst (const char *args, size_t args_len)
{
  const uint8_t *ip = frame + KIT_ETH_LEN;
  uint8_t peer_mac[6], peer_ip[4];
  uint16_t peer_port = kit_get_be16 (ip + 20);
  const char *p = args, *end = args + args_len;
  uint32_t count, size;

  if (!parse_number (&p, end, &count) || !parse_number (&p, end, &size) || p != end || size < PAYLOAD_MIN
      || size > PAYLOAD_MAX)
    {
      kit_puts ("net-bench: bad send command\n");
      return;
    }
  memcpy (peer_mac, frame + 6, 6);
  memcpy (peer_ip, ip + 12, 4);
  uint8_t *payload = out + KIT_UDP_HEADERS;
  for (uint32_t i = 0; i < size; i++)
    payload[i] = (uint8_t) i;
  size_t len = kit_udp_build (&me, out, peer_mac, peer_ip, PORT, peer_port, size);
  for (uint32_t i = 0; i < count; i++)
    {
      payload[0] = (uint8_t) (i >> 24);
      payload[1] = (uint8_t) (i >> 16);
      payload[2] = (uint8_t) (i >> 8);
      payload[3] = (uint8_t) i;
      if (!kit_virtio_net_queue_frame (out, len))
        {
          kit_printf ("net-bench: the device took no frame after %u\n", i);
          kit_poweroff ();
        }
      if (i % SEND_BATCH == SEND_BATCH - 1)
        kit_virtio_net_flush ();
    }
  int n = kit_snprintf ((char *) payload, PAYLOAD_MAX, "net-bench end %u", count);
  len = kit_udp_build (&me, out, peer_mac, peer_ip, PORT, peer_port, (size_t) n);
  kit_virtio_net_send (out, len);
  kit_printf ("net-bench sent %u %u\n", count, size);
}

static void
serve (size_t len)
{
  size_t n;
  const uint8_t *payload = kit_udp_payload (frame, len, PORT, &n);
  const uint8_t *ip = frame + KIT_ETH_LEN;

  if (payload == NULL || memcmp (ip + 16, me.ip, 4) != 0 || n > sizeof out - KIT_UDP_HEADERS)
    return;
  if (n >= sizeof COMMAND - 1 && memcmp (payload, COMMAND, sizeof COMMAND - 1) == 0)
    {
      const char *command = (const char *) payload + sizeof COMMAND - 1;
      size_t command_len = n - (sizeof COMMAND - 1);

      if (command_len >= 5 && memcmp (command, "send ", 5) == 0)
        send_burst (command + 5, command_len - 5);
      else if (command_len == 4 && memcmp (command, "quit", 4) == 0)
        finish ();
      else
        kit_puts ("net-bench: unknown command\n");
      return;
    }
  memcpy (out + KIT_UDP_HEADERS, payload, n);
  size_t out_len = kit_udp_build (&me, out, frame + 6, ip + 12, PORT, kit_get_be16 (ip + 20), n);
  kit_virtio_net_send (out, out_len);
}

static long
run (void *unused)
{
  if (!kit_cmdline_ipv4 ("ip", me.ip) && !kit_dhcp (&me))
    {
      kit_puts ("net-bench: no ip= on the command line and no answer from a DHCP server\n");
      kit_poweroff ();
    }
  kit_printf ("net-bench ready ip=%u.%u.%u.%u\n", me.ip[0], me.ip[1], me.ip[2], me.ip[3]);

  uint64_t last_button_check = kit_rdtsc ();
  for (;;)
    {
      size_t len = kit_virtio_net_receive (frame, sizeof frame);

      if (len > 0)
        {
          if (!kit_arp_answer (&me, frame, len))
            serve (len);
          continue;
        }
      /* The power button is a port read, a VM exit: not on every turn. */
      if (kit_rdtsc () - last_button_check > BUTTON_CYCLES)
        {
          last_button_check = kit_rdtsc ();
          if (inw (pm.pm1a_evt) & ACPI_PM1_PWRBTN)
            {
              outw (pm.pm1a_evt, ACPI_PM1_PWRBTN);
              finish ();
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
      kit_puts ("net-bench: no PM1a_EVT_BLK in the FADT\n");
      return 0;
    }
  if (!kit_virtio_net_init (0, me.mac))
    {
      kit_puts ("net-bench: no virtio-net NIC\n");
      return 0;
    }
  return 1;
}

void
guest_main (void)
{
  if (!kit_run_user (start, NULL))
    kit_poweroff ();
  /* As in shutdown.c: a press latched before now is not the test's; then PWRBTN_EN, polled. */
  outw (pm.pm1a_evt, ACPI_PM1_PWRBTN);
  uint16_t pm1_en = (uint16_t) (pm.pm1a_evt + pm.pm1_evt_len / 2);
  outw (pm1_en, (uint16_t) (inw (pm1_en) | ACPI_PM1_PWRBTN));
  kit_run_user (run, NULL);
}
