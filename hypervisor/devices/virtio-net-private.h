/* virtio-net-private.h — what the virtio-net NIC's files share (virtio-net.c: the device, its
 * callbacks, saved state and kind; virtio-net-queues.c: frames both ways and the control queue): the
 * feature bits and layouts, the queue pair and device structures, and the calls between them. */
#pragma once

#include "virtio-net.h"
#include "net/tap.h"
#include "net/user.h"
#include "virtio/virtio.h"

#define VIRTIO_NET_F_CSUM       0
#define VIRTIO_NET_F_GUEST_CSUM 1
#define VIRTIO_NET_F_MAC        5
#define VIRTIO_NET_F_GUEST_TSO4 7
#define VIRTIO_NET_F_GUEST_TSO6 8
#define VIRTIO_NET_F_GUEST_ECN  9
#define VIRTIO_NET_F_HOST_TSO4  11
#define VIRTIO_NET_F_HOST_TSO6  12
#define VIRTIO_NET_F_HOST_ECN   13
#define VIRTIO_NET_F_MRG_RXBUF  15
#define VIRTIO_NET_F_STATUS     16
#define VIRTIO_NET_F_CTRL_VQ    17
#define VIRTIO_NET_F_MQ         22
#define VIRTIO_NET_F_GUEST_USO4 54
#define VIRTIO_NET_F_GUEST_USO6 55
#define VIRTIO_NET_F_HOST_USO   56

#define VIRTIO_NET_S_LINK_UP 1

/* Pair i is receive queue 2i and transmit queue 2i + 1; the control queue, there with several pairs,
 * comes after the last. */
#define RXQ(pair)  (2 * (pair))
#define TXQ(pair)  (2 * (pair) + 1)
#define QUEUE_SIZE 256

/* struct virtio_net_hdr with VERSION_1: flags, gso_type, hdr_len, gso_size, csum_start, csum_offset,
 * num_buffers. */
#define HDR_LEN         12
#define HDR_FLAGS       0
#define HDR_GSO_TYPE    1
#define HDR_NUM_BUFFERS 10

#define HDR_F_NEEDS_CSUM 1
#define GSO_NONE         0
#define GSO_TCPV4        1
#define GSO_UDP_L4       5
#define GSO_TCPV6        4
#define GSO_ECN          0x80

/* struct virtio_net_config: mac, status, max_virtqueue_pairs. */
#define CFG_MAC          0
#define CFG_STATUS       6
#define CFG_MAX_VQ_PAIRS 8
#define CFG_LEN          10

/* The shortest frame worth giving the network: an Ethernet header. */
#define ETH_HEADER_LEN 14
/* The longest frame without segmentation offload: a 1500-byte MTU, its Ethernet and a VLAN header. */
#define ETH_FRAME_MTU_MAX 1518

/* One receive and one transmit queue, and its TAP queue. */
typedef struct
{
  HvVirtioNet *net;
  unsigned index;
  HvNetTap *tap; /* NULL with the user backend */

  /* Guarded by the transport's lock. */
  GQueue pending; /* GBytes: header and frame for the guest, oldest first */
  gsize pending_bytes;
  gboolean rx_batch;      /* the TAP is handing over a burst: one interrupt at its end */
  gboolean rx_unnotified; /* frames went to the guest in this burst */
} NetPair;

struct _HvVirtioNet
{
  HvPlatform platform; /* the machine's, with io_context set to the device's own */
  GMainContext *context;
  HvVirtio *vdev;
  HvVirtioDeviceInfo info;
  char *name;
  uint8_t config[CFG_LEN];
  HvNetUser *network; /* or TAPs, one per pair */
  HvNetTap *tap;      /* the first pair's: the device's offloads are set through it */
  NetPair pairs[HV_VIRTIO_NET_MAX_QUEUES];
  unsigned max_pairs;
  gboolean spec_link_up; /* the cable as the spec had it: an older saved state says nothing of it */

  /* Guarded by the transport's lock (hv_virtio_lock). */
  gboolean closing;      /* being freed: nothing goes to the network or the guest any more */
  gboolean link_up;      /* the cable: with it out nothing goes either way */
  unsigned active_pairs; /* the pairs the driver uses (1 until it says more on the control queue) */
  HvVirtioNetStats stats;
  uint8_t *tx_buffer; /* HV_VIRTIO_NET_FRAME_MAX bytes */
  /* The chains one frame for the guest takes: QUEUE_SIZE, the most a queue may have (the transport
   * refuses larger ones). */
  HvVirtqueueElement **rx_elems;
  uint32_t guest_address; /* the IPv4 address the guest leased (network order), 0 for none yet */
};

/* virtio-net-queues.c, each with the transport lock held */
void virtio_net_drop_pending_locked (HvVirtioNet *net);
void virtio_net_flush_rx_locked (NetPair *pair);
gboolean virtio_net_receive_locked (NetPair *pair, const uint8_t *header, const uint8_t *frame, gsize len);
void virtio_net_drain_tx_locked (NetPair *pair);
void virtio_net_set_active_pairs_locked (HvVirtioNet *net, unsigned n);
void virtio_net_drain_control_locked (HvVirtioNet *net, HvVirtqueue *vq);
