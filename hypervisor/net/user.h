/* user.h — user-mode networking ("user", as QEMU calls it): a NAT through libslirp on a NIC's I/O
 * thread, with QEMU's addresses (10.0.2.0/24, gateway and host 10.0.2.2, DNS 10.0.2.3, DHCP from
 * 10.0.2.15; fec0::/64), port forwards and an optional TFTP directory.  The NIC gives it the frames its
 * guest sends and gets the frames for the guest through a callback. */
#pragma once

#include "net-options.h"

typedef struct _HvNetUser HvNetUser;

typedef struct
{
  /* Nothing leaves the host: the guest gets DHCP, TFTP and pings to the gateway, and may answer
   * whoever reaches it through a port forward; no DNS, no IPv6. */
  gboolean restricted;
  const HvNetHostForward *forwards;
  unsigned n_forwards;
  int tftp_dir; /* a directory the TFTP server serves (not owned), or -1 */

  /* The NIC's lock: held around every call below but new and free, taken by the network for its own
   * work on the context, and held while @receive runs (on the context's thread). */
  void (*lock) (void *opaque);
  void (*unlock) (void *opaque);
  void (*receive) (void *opaque, const uint8_t *frame, gsize len);
  void *opaque;
} HvNetUserConfig;

/* Starts the network on @context; port forwards are bound now, so a taken port is an error here. */
HvNetUser *hv_net_user_new (GMainContext *context, const HvNetUserConfig *config, GError **error);
/* Without the lock.  Once it returns, @receive is not called any more. */
void hv_net_user_free (HvNetUser *user);

/* A frame from the guest (lock held).  FALSE when it did not go out: shorter than an Ethernet header,
 * or kept in by restricted mode. */
gboolean hv_net_user_send (HvNetUser *user, const uint8_t *frame, gsize len);
