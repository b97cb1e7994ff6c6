/* net-options.h — the text forms of a NIC's settings that machine specs and vireo-run share: MAC
 * addresses and port forwards.  Part of libvireo-hv-limits, so vireod checks them without the core. */
#pragma once

#include "hv-limits.h"

#include <netinet/in.h>

G_BEGIN_DECLS

/* The most forwards one NIC may have. */
#define HV_NET_HOSTFWD_MAX 64

/* One port forward: connections (TCP) or datagrams (UDP) to host_addr:host_port go to the guest's
 * guest_addr:guest_port (guest_addr 0: the address the guest got by DHCP). */
typedef struct
{
  gboolean udp;
  struct in_addr host_addr;
  uint16_t host_port;
  struct in_addr guest_addr;
  uint16_t guest_port;
} HvNetHostForward;

/* "aa:bb:cc:dd:ee:ff" (hex, either case): a unicast address, not all zeros.  @mac may be NULL (only
 * checking). */
gboolean hv_net_parse_mac (const char *text, uint8_t *mac, GError **error);

/* One or more forwards separated by ";", each "tcp|udp:[HOSTADDR]:HOSTPORT-[GUESTADDR]:GUESTPORT"
 * (QEMU's hostfwd syntax; HOSTADDR defaults to 127.0.0.1, so a forward is only reachable from this
 * host unless an address is given).  Ports 1-65535, addresses dotted IPv4.  Appends to @forwards
 * (HvNetHostForward) unless it is NULL.  HV_ERROR_INVALID_ARGUMENT naming the bad part. */
gboolean hv_net_parse_hostfwd (const char *text, GArray *forwards, GError **error);

G_END_DECLS
