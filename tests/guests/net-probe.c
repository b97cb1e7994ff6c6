/* net-probe.c — the network guest: on the first virtio-net NIC it prints "net-probe mac=MAC", asks for
 * an address by DHCP (DISCOVER, then REQUEST of what was offered), prints "net-probe ip=A.B.C.D
 * gw=A.B.C.D", then answers ARP requests for its address and sends every UDP datagram it receives on
 * port 7 back to its sender (the echo service), until the ACPI power button: "net-probe done" and
 * power-off.  Failures print "net-probe: ..." and power off.  Everything after the first lines runs
 * in ring 3; the NIC is polled. */
#include "kit.h"

#define PORT_ECHO     7
#define BUTTON_CYCLES (1ull << 24)

static KitIp me;
static uint8_t frame[2048];
static uint8_t out[2048];
static KitAcpiPm pm;

static void
answer_echo (size_t len)
{
  size_t n;
  const uint8_t *payload = kit_udp_payload (frame, len, PORT_ECHO, &n);
  const uint8_t *ip = frame + KIT_ETH_LEN;

  if (payload == NULL || memcmp (ip + 16, me.ip, 4) != 0 || n > sizeof out - KIT_UDP_HEADERS)
    return;
  memcpy (out + KIT_UDP_HEADERS, payload, n);
  size_t out_len = kit_udp_build (&me, out, frame + 6, ip + 12, PORT_ECHO, kit_get_be16 (ip + 20), n);
  kit_virtio_net_send (out, out_len);
}

static long
run (void *unused)
{
  if (!kit_dhcp (&me))
    {
      kit_puts ("net-probe: no answer from a DHCP server\n");
      kit_poweroff ();
    }
  kit_printf ("net-probe ip=%u.%u.%u.%u gw=%u.%u.%u.%u\n", me.ip[0], me.ip[1], me.ip[2], me.ip[3],
              me.gateway[0], me.gateway[1], me.gateway[2], me.gateway[3]);

  uint64_t last_button_check = kit_rdtsc ();
  for (;;)
    {
      size_t len = kit_virtio_net_receive (frame, sizeof frame);

      if (len > 0)
        {
          if (!kit_arp_answer (&me, frame, len))
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
  if (!kit_run_user (start, NULL))
    return;
  /* As in shutdown.c: a press latched before now is not the test's; then PWRBTN_EN, polled. */
  outw (pm.pm1a_evt, ACPI_PM1_PWRBTN);
  uint16_t pm1_en = (uint16_t) (pm.pm1a_evt + pm.pm1_evt_len / 2);
  outw (pm1_en, (uint16_t) (inw (pm1_en) | ACPI_PM1_PWRBTN));
  kit_run_user (run, NULL);
}
