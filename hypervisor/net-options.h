/* net-options.h — the text forms of a NIC's settings that machine specs and vireo-run share: MAC
 * addresses and port forwards.  Part of libvireo-hv-limits, so vireod checks them without the core. */
#pragma once

#include "hv-limits.h"

#include <netinet/in.h>

G_BEGIN_DECLS

/* The most queue pairs one NIC may have ("queues"). */
#define HV_NET_QUEUES_MAX 8

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

/* Whether @frame (an Ethernet frame going to a guest) is a DHCP ACK (UDP 67 → 68, BOOTP reply, message
 * type 5) for the client with hardware address @mac; then @address is the address it gives (yiaddr, in
 * network order).  Anything malformed is just not one: the frame may come from anyone on a bridge. */
gboolean hv_net_parse_dhcp_ack (const uint8_t *frame, gsize len, const uint8_t *mac, uint32_t *address);

/* Makes a TAP device (IFF_TAP | IFF_NO_PI | IFF_VNET_HDR, a kernel-chosen name "vireo-tapN"), attaches
 * it to the Linux bridge @bridge and brings it up: the fd for a "virtio-net" device's "tap" option
 * (close-on-exec; the TAP goes when the fd is closed).  Needs CAP_NET_ADMIN: HV_ERROR_PERMISSION
 * without, HV_ERROR_NOT_FOUND when @bridge is not a bridge.  @name (optional) gets the TAP's name. */
int hv_net_open_bridge_tap (const char *bridge, char **name, GError **error);
/* The same with @n_queues queues (IFF_MULTI_QUEUE when more than one): their fds in @fds, one per
 * queue pair of the NIC ("tap" takes them in order). */
gboolean hv_net_open_bridge_taps (const char *bridge, unsigned n_queues, int *fds, char **name,
                                  GError **error);

G_END_DECLS
