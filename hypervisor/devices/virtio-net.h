/* virtio-net.h — a virtio-net NIC (virtio 1.2 §5.1) on the virtio-pci transport, its network being
 * user-mode NAT through libslirp (10.0.2.0/24 with DHCP, as QEMU's "user" network) or a TAP device
 * (bridged, with checksum and segmentation offloads), run on the device's own I/O thread. */
#pragma once

#include "platform.h"
#include "devices/devices.h"
#include "net-options.h"

typedef struct _HvVirtioNet HvVirtioNet;

/* The most frames (and bytes) waiting for the guest to give receive buffers; more are dropped, as a
 * NIC whose ring is full drops them.  TCP sends them again.  A TAP is not read while a frame waits. */
#define HV_VIRTIO_NET_PENDING_MAX       256
#define HV_VIRTIO_NET_PENDING_MAX_BYTES (1u << 20)
/* The longest frame either way (a 64 KiB IP packet and its Ethernet header, as QEMU allows); longer
 * ones from the guest are dropped. */
#define HV_VIRTIO_NET_FRAME_MAX 65550
/* The most queue pairs a NIC has (VIRTIO_NET_F_MQ). */
#define HV_VIRTIO_NET_MAX_QUEUES HV_NET_QUEUES_MAX
/* The version of its saved state: 2 added the link and the pairs in use. */
#define HV_VIRTIO_NET_STATE_VERSION 2

typedef enum
{
  HV_NET_BACKEND_USER, /* NAT through libslirp */
  HV_NET_BACKEND_TAP,  /* a TAP device (a bridge's port) */
} HvNetBackend;

typedef struct
{
  const char *name; /* unique in the machine (the device id) */
  uint8_t mac[6];
  HvNetBackend backend;
  int tap_fd; /* HV_NET_BACKEND_TAP: the TAP (not owned), IFF_TAP | IFF_NO_PI | IFF_VNET_HDR */
  /* Queue pairs, 0 or 1 for one, up to HV_VIRTIO_NET_MAX_QUEUES.  With a TAP, several need @tap_fds:
   * one queue each of a TAP made with IFF_MULTI_QUEUE (not owned; NULL with one pair: @tap_fd).  The
   * user backend takes several too, its frames all going to the first pair; machine specs refuse that
   * (slirp is one thread, so pairs would gain nothing), but it lets tests and fuzzing reach the
   * control queue without a TAP. */
  unsigned queues;
  const int *tap_fds;
  gboolean link_down; /* the cable is out at start */
  GBytes *rom;        /* an option ROM (iPXE) behind the ROM BAR, or NULL (not taken: referenced) */
  /* The rest for the user backend only. */
  /* Nothing leaves the host: the guest gets DHCP, TFTP and pings to the gateway, and may answer
   * whoever reaches it through a port forward; no DNS, no IPv6. */
  gboolean restricted;
  const HvNetHostForward *forwards;
  unsigned n_forwards;
  int tftp_dir; /* a directory the TFTP server serves (not owned), or -1 for none */
} HvVirtioNetConfig;

typedef struct
{
  uint64_t tx_frames;   /* frames the guest sent that went to the network */
  uint64_t tx_dropped;  /* malformed ones (shorter than the header, longer than FRAME_MAX or the MTU
                         * without segmentation, offloads not taken), or lost: link down, TAP refused */
  uint64_t tx_filtered; /* ones restricted mode kept in */
  uint64_t rx_frames;   /* frames given to the guest */
  uint64_t rx_dropped;  /* frames the guest had no room for, or that came while the link was down */
} HvVirtioNetStats;

/* Creates the NIC on @pci and its network on @context (the device's I/O thread, which also takes its
 * queue notifications); port forwards are bound now, so a port in use is an error here. */
HvVirtioNet *hv_virtio_net_new (const HvPlatform *platform, GMainContext *context, HvPci *pci,
                                const HvVirtioNetConfig *config, GError **error);
/* Once the VM no longer runs. */
void hv_virtio_net_free (HvVirtioNet *net);

/* Gives the guest one Ethernet frame (what the network sends it): now if it has receive buffers,
 * else once it has (up to PENDING_MAX frames wait).  Any thread. */
void hv_virtio_net_receive (HvVirtioNet *net, const uint8_t *frame, gsize len);
/* While paused nothing moves between the guest's memory and the network; frames for the guest wait
 * (and are dropped past the limit).  Any thread. */
void hv_virtio_net_set_paused (HvVirtioNet *net, gboolean paused);
void hv_virtio_net_get_stats (HvVirtioNet *net, HvVirtioNetStats *stats);
/* Plugs the cable in or pulls it out: the guest sees LINK_UP change (a configuration interrupt); with
 * it out nothing is sent or received.  Any thread. */
void hv_virtio_net_set_link (HvVirtioNet *net, gboolean up);
/* The IPv4 address (network order) of the last DHCP ACK that went to the guest for its MAC, 0 before
 * one has.  Any thread. */
uint32_t hv_virtio_net_get_guest_address (HvVirtioNet *net);

/* Saved state: the transport, queues, MAC address, the link and the pairs in use (a section of
 * @version 1 has neither: the link is the spec's, one pair).  The network's connections are not saved: a
 * restored guest keeps its address (DHCP leases are renewed as usual) but open TCP connections through
 * the NAT are reset and frames waiting for the guest are lost. */
GVariant *hv_virtio_net_save_state (HvVirtioNet *net);
gboolean hv_virtio_net_load_state (HvVirtioNet *net, GVariant *state, unsigned version, GError **error);
