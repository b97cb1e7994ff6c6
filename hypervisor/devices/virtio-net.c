/* virtio-net.c — the virtio-net NIC (virtio 1.2 §5.1): frames the guest transmits go to its network,
 * frames from the network go to the guest's receive queue (waiting, bounded, while it has no buffers).
 * The network is user-mode NAT (net/user.c) or a TAP device (net/tap.c) on the device's own I/O thread,
 * which also takes the queue notifications; everything here runs with the transport lock held, which the
 * network shares.  With slirp no offloads are offered: it wants whole frames with valid checksums, so
 * the guest computes them.  With a TAP the virtio-net header goes through both ways as it is, and the
 * checksum, TSO and USO offloads the guest takes are the kernel's to honour (TUNSETOFFLOAD).  The link
 * state is the guest's cable; the address the guest leases by DHCP is learnt from the ACK going to it.
 *
 * Several queue pairs (VIRTIO_NET_F_MQ): a TAP made with IFF_MULTI_QUEUE gives one fd per pair, and
 * the pairs the driver does not use (VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET on the control queue) have their
 * TAP queue detached, so the kernel sends them nothing.  All pairs share the NIC's one network thread:
 * every queue's callback runs under the transport's one lock, so threads of their own would only take
 * turns at it, and what a pair costs the host is a read or a writev per frame.  What the guest gains
 * from pairs — each vCPU its own queues and MSI-X vectors, no lock shared between its CPUs — needs no
 * host thread.  Each queue still has its own ioeventfd and vector (the transport gives every queue
 * both). */
#include "bytes.h"
#include "virtio-net.h"
#include "device.h"
#include "iothread.h"
#include "net/tap.h"
#include "net/user.h"
#include "state.h"
#include "virtio/virtio.h"

#include <linux/if_tun.h>
#include <string.h>

#define VIRTIO_ID_NET              1
#define PCI_CLASS_NETWORK_ETHERNET 0x020000

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

/* What a TAP that takes offloads lets the guest do: hand over frames with the checksum to do and TCP
 * segments up to 64 KiB, and take the same from the host. */
#define TAP_OFFLOAD_FEATURES                                                                                 \
  (HV_VIRTIO_FEATURE (VIRTIO_NET_F_CSUM) | HV_VIRTIO_FEATURE (VIRTIO_NET_F_GUEST_CSUM)                       \
   | HV_VIRTIO_FEATURE (VIRTIO_NET_F_GUEST_TSO4) | HV_VIRTIO_FEATURE (VIRTIO_NET_F_GUEST_TSO6)               \
   | HV_VIRTIO_FEATURE (VIRTIO_NET_F_GUEST_ECN) | HV_VIRTIO_FEATURE (VIRTIO_NET_F_HOST_TSO4)                 \
   | HV_VIRTIO_FEATURE (VIRTIO_NET_F_HOST_TSO6) | HV_VIRTIO_FEATURE (VIRTIO_NET_F_HOST_ECN))
/* UDP segmentation both ways, where the kernel has it (Linux 6.2).  UFO (VIRTIO_NET_F_HOST_UFO and
 * GUEST_UFO) is not offered: Linux deprecated it, and USO replaces it. */
#define TAP_USO_FEATURES                                                                                     \
  (HV_VIRTIO_FEATURE (VIRTIO_NET_F_GUEST_USO4) | HV_VIRTIO_FEATURE (VIRTIO_NET_F_GUEST_USO6)                 \
   | HV_VIRTIO_FEATURE (VIRTIO_NET_F_HOST_USO))
#ifndef TUN_F_USO4
#define TUN_F_USO4 0x20
#define TUN_F_USO6 0x40
#endif

#define VIRTIO_NET_S_LINK_UP 1

/* Pair i is receive queue 2i and transmit queue 2i + 1; the control queue, there with several pairs,
 * comes after the last. */
#define RXQ(pair)  (2 * (pair))
#define TXQ(pair)  (2 * (pair) + 1)
#define QUEUE_SIZE 256

/* The control queue (virtio 1.2 §5.1.6.5): a class and a command, their data, and the device's one-byte
 * answer. */
#define CTRL_OK              0
#define CTRL_ERR             1
#define CTRL_MQ              4
#define CTRL_MQ_VQ_PAIRS_SET 0

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

/* ---- To the guest ---- */

static void
drop_pair_pending_locked (NetPair *pair)
{
  GBytes *frame;

  while ((frame = g_queue_pop_head (&pair->pending)) != NULL)
    g_bytes_unref (frame);
  pair->pending_bytes = 0;
  /* Nothing waits any more: the TAP may be read again (whatever comes next is dropped or delivered). */
  if (pair->tap)
    hv_net_tap_set_reading (pair->tap, TRUE);
}

static void
drop_pending_locked (HvVirtioNet *net)
{
  for (unsigned i = 0; i < net->max_pairs; i++)
    drop_pair_pending_locked (&net->pairs[i]);
}

/* Writes @len bytes of the stream that starts @offset bytes into @elems (header, then frame) across the
 * chains' writable buffers, each chain filled before the next. */
static void
write_stream (HvVirtqueueElement **elems, unsigned n_elems, gsize offset, const void *data, gsize len)
{
  const uint8_t *bytes = data;

  for (unsigned i = 0; i < n_elems && len > 0; i++)
    {
      gsize room = elems[i]->in_bytes;
      gsize n;

      if (offset >= room)
        {
          offset -= room;
          continue;
        }
      n = MIN (len, room - offset);
      hv_virtqueue_element_write (elems[i], offset, bytes, n);
      bytes += n;
      len -= n;
      offset = 0;
    }
}

/* Gives a packet (header, whose num_buffers is filled in here, and frame) to the guest.  FALSE when it
 * has to wait for buffers (or the driver broke the queue, which then needs a reset). */
static gboolean
deliver_one_locked (HvVirtioNet *net, HvVirtqueue *vq, const uint8_t *packet, gsize len, gboolean *pushed)
{
  gboolean mergeable = (hv_virtio_get_features (net->vdev) & HV_VIRTIO_FEATURE (VIRTIO_NET_F_MRG_RXBUF)) != 0;
  uint64_t need = len;
  HvVirtqueueElement **elems = net->rx_elems;
  uint8_t num_buffers[2];
  uint64_t total = 0;
  unsigned n = 0;

  /* Without mergeable buffers one chain takes the whole frame; with them, as many as it needs. */
  while (total < need && n < (mergeable ? vq->size : 1u))
    {
      HvVirtqueueElement *elem = hv_virtio_pop (net->vdev, vq);

      if (elem == NULL)
        break;
      elems[n++] = elem;
      total += elem->in_bytes;
    }
  if (total < need && (n == 0 || (mergeable && n < vq->size)))
    {
      /* Too few buffers yet: they go back until the driver adds more. */
      if (n > 0)
        hv_virtqueue_unpop (vq, n);
      for (unsigned i = 0; i < n; i++)
        hv_virtqueue_element_free (elems[i]);
      return FALSE;
    }
  if (total < need)
    {
      /* The frame cannot fit what this driver gives (buffers too small, or the whole ring is): it is
       * dropped, the buffers returned empty. */
      for (unsigned i = 0; i < n; i++)
        {
          hv_virtqueue_push (vq, elems[i], 0);
          hv_virtqueue_element_free (elems[i]);
        }
      net->stats.rx_dropped++;
      *pushed = TRUE;
      return TRUE;
    }
  hv_put_le16 (num_buffers, (uint16_t) n);
  write_stream (elems, n, 0, packet, HDR_NUM_BUFFERS);
  write_stream (elems, n, HDR_NUM_BUFFERS, num_buffers, sizeof num_buffers);
  write_stream (elems, n, HDR_LEN, packet + HDR_LEN, len - HDR_LEN);
  for (unsigned i = 0; i < n; i++)
    {
      uint64_t used = MIN (need, elems[i]->in_bytes);
      hv_virtqueue_push (vq, elems[i], (uint32_t) used);
      need -= used;
      hv_virtqueue_element_free (elems[i]);
    }
  net->stats.rx_frames++;
  *pushed = TRUE;
  return TRUE;
}

static gboolean
may_deliver_locked (HvVirtioNet *net, HvVirtqueue *vq)
{
  return hv_virtio_is_driver_ok (net->vdev) && !hv_virtio_is_paused (net->vdev) && hv_virtqueue_is_ready (vq);
}

/* Gives the guest every waiting frame it has buffers for on @pair, oldest first. */
static void
flush_rx_locked (NetPair *pair)
{
  HvVirtioNet *net = pair->net;
  HvVirtqueue *vq = hv_virtio_get_queue (net->vdev, RXQ (pair->index));
  gboolean pushed = FALSE;

  while (!g_queue_is_empty (&pair->pending) && may_deliver_locked (net, vq))
    {
      GBytes *packet = g_queue_peek_head (&pair->pending);
      gsize len;
      const uint8_t *data = g_bytes_get_data (packet, &len);

      if (!deliver_one_locked (net, vq, data, len, &pushed))
        break;
      g_queue_pop_head (&pair->pending);
      pair->pending_bytes -= len;
      g_bytes_unref (packet);
    }
  if (!hv_virtio_is_driver_ok (net->vdev))
    drop_pending_locked (net); /* the driver broke the queue, or reset: nothing waits for it */
  if (pushed)
    hv_virtio_notify (net->vdev, vq);
  /* The TAP is read again once nothing waits here: the guest took what it had. */
  if (pair->tap && g_queue_is_empty (&pair->pending))
    hv_net_tap_set_reading (pair->tap, TRUE);
}

/* A frame for the guest from its network on @pair, behind @header (HDR_LEN bytes; NULL for none: no
 * offload).  FALSE when it waits for the guest's buffers. */
static gboolean
receive_locked (NetPair *pair, const uint8_t *header, const uint8_t *frame, gsize len)
{
  HvVirtioNet *net = pair->net;
  HvVirtqueue *vq = hv_virtio_get_queue (net->vdev, RXQ (pair->index));
  uint32_t address;
  uint8_t *packet;

  /* Before the driver is ready there is nobody to wait for; a full queue means it takes nothing; with
   * the cable out nothing arrives; a pair the driver does not use gets nothing (its TAP queue is
   * detached, but a burst may have been read before). */
  if (net->closing || !net->link_up || !hv_virtio_is_driver_ok (net->vdev) || len > HV_VIRTIO_NET_FRAME_MAX
      || pair->index >= net->active_pairs || g_queue_get_length (&pair->pending) >= HV_VIRTIO_NET_PENDING_MAX
      || pair->pending_bytes + HDR_LEN + len > HV_VIRTIO_NET_PENDING_MAX_BYTES)
    {
      net->stats.rx_dropped++;
      return TRUE;
    }
  if (hv_net_parse_dhcp_ack (frame, len, net->config + CFG_MAC, &address))
    net->guest_address = address;
  /* Straight into the guest's buffers when nothing waits before it (a TAP's packet is in one buffer
   * already). */
  if (header != NULL && frame == header + HDR_LEN && g_queue_is_empty (&pair->pending)
      && may_deliver_locked (net, vq))
    {
      gboolean pushed = FALSE;
      gboolean done = deliver_one_locked (net, vq, header, HDR_LEN + len, &pushed);

      if (pushed && pair->rx_batch)
        pair->rx_unnotified = TRUE;
      else if (pushed)
        hv_virtio_notify (net->vdev, vq);
      if (done)
        return TRUE;
    }
  packet = g_malloc (HDR_LEN + len);
  if (header)
    memcpy (packet, header, HDR_LEN);
  else
    memset (packet, 0, HDR_LEN);
  memcpy (packet + HDR_LEN, frame, len);
  g_queue_push_tail (&pair->pending, g_bytes_new_take (packet, HDR_LEN + len));
  pair->pending_bytes += HDR_LEN + len;
  flush_rx_locked (pair);
  return g_queue_is_empty (&pair->pending);
}

void
hv_virtio_net_receive (HvVirtioNet *net, const uint8_t *frame, gsize len)
{
  hv_virtio_lock (net->vdev);
  receive_locked (&net->pairs[0], NULL, frame, len);
  hv_virtio_unlock (net->vdev);
}

/* ---- From the guest ---- */

/* Whether the header asks only for what the driver took: a checksum to finish needs CSUM, a segment
 * HOST_TSO4/6 or HOST_USO (and HOST_ECN for the ECN bit); a frame without segmentation fits the MTU. */
static gboolean
tx_header_valid_locked (HvVirtioNet *net, const uint8_t *header, gsize frame_len)
{
  uint64_t features = hv_virtio_get_features (net->vdev);
  uint8_t gso = header[HDR_GSO_TYPE];

  if ((header[HDR_FLAGS] & HDR_F_NEEDS_CSUM) && !(features & HV_VIRTIO_FEATURE (VIRTIO_NET_F_CSUM)))
    return FALSE;
  if ((gso & GSO_ECN) && !(features & HV_VIRTIO_FEATURE (VIRTIO_NET_F_HOST_ECN)))
    return FALSE;
  switch (gso & ~GSO_ECN)
    {
    case GSO_NONE:
      return frame_len <= ETH_FRAME_MTU_MAX;
    case GSO_TCPV4:
      return (features & HV_VIRTIO_FEATURE (VIRTIO_NET_F_HOST_TSO4)) != 0;
    case GSO_TCPV6:
      return (features & HV_VIRTIO_FEATURE (VIRTIO_NET_F_HOST_TSO6)) != 0;
    case GSO_UDP_L4:
      return (features & HV_VIRTIO_FEATURE (VIRTIO_NET_F_HOST_USO)) != 0;
    default:
      return FALSE;
    }
}

static void
transmit_locked (NetPair *pair, HvVirtqueueElement *elem)
{
  HvVirtioNet *net = pair->net;
  uint8_t header[HDR_LEN];
  gsize len;

  if (elem->out_bytes < HDR_LEN + ETH_HEADER_LEN || elem->out_bytes - HDR_LEN > HV_VIRTIO_NET_FRAME_MAX)
    {
      net->stats.tx_dropped++;
      return;
    }
  len = (gsize) (elem->out_bytes - HDR_LEN);
  hv_virtqueue_element_read (elem, 0, header, HDR_LEN);
  if (!tx_header_valid_locked (net, header, len))
    {
      net->stats.tx_dropped++;
      return;
    }
  if (net->closing || !net->link_up)
    {
      net->stats.tx_dropped++;
      return;
    }
  if (net->tap)
    {
      /* Header and frame as the guest wrote them, from its memory: the kernel checks the header and does
       * what it asks.  A pair the driver gave up has no TAP queue attached: the first pair's takes it. */
      HvNetTap *tap = pair->index < net->active_pairs ? pair->tap : net->tap;

      if (hv_net_tap_send (tap, elem->iov, elem->n_out))
        net->stats.tx_frames++;
      else
        net->stats.tx_dropped++;
      return;
    }
  /* slirp was offered no offloads, so every frame is complete: the header says nothing it uses. */
  hv_virtqueue_element_read (elem, HDR_LEN, net->tx_buffer, len);
  if (hv_net_user_send (net->network, net->tx_buffer, len))
    net->stats.tx_frames++;
  else
    net->stats.tx_filtered++;
}

static void
drain_tx_locked (NetPair *pair)
{
  HvVirtioNet *net = pair->net;
  HvVirtqueue *vq = hv_virtio_get_queue (net->vdev, TXQ (pair->index));
  gboolean pushed = FALSE;
  HvVirtqueueElement *elem;

  while ((elem = hv_virtio_pop (net->vdev, vq)) != NULL)
    {
      transmit_locked (pair, elem);
      hv_virtqueue_push (vq, elem, 0);
      hv_virtqueue_element_free (elem);
      pushed = TRUE;
    }
  if (pushed)
    hv_virtio_notify (net->vdev, vq);
}

/* ---- The control queue ---- */

/* Makes the first @n pairs the ones frames go to: the TAP queues of the others are detached, so the
 * kernel spreads what it sends over the first @n, and what waited for the others is dropped. */
static void
set_active_pairs_locked (HvVirtioNet *net, unsigned n)
{
  for (unsigned i = 0; i < net->max_pairs; i++)
    {
      NetPair *pair = &net->pairs[i];

      if (i >= n)
        drop_pair_pending_locked (pair);
      if (pair->tap)
        hv_net_tap_set_attached (pair->tap, i < n);
    }
  net->active_pairs = n;
}

/* Carries out one command; its answer.  Only VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET is known (the device
 * offers no other control feature), and only with MQ negotiated and a pair count it has. */
static uint8_t
control_command_locked (HvVirtioNet *net, HvVirtqueueElement *elem)
{
  uint8_t command[4];
  unsigned pairs;

  if (elem->out_bytes < 2)
    return CTRL_ERR;
  hv_virtqueue_element_read (elem, 0, command, 2);
  if (command[0] != CTRL_MQ || command[1] != CTRL_MQ_VQ_PAIRS_SET
      || !(hv_virtio_get_features (net->vdev) & HV_VIRTIO_FEATURE (VIRTIO_NET_F_MQ)) || elem->out_bytes != 4)
    return CTRL_ERR;
  hv_virtqueue_element_read (elem, 2, command + 2, 2);
  pairs = hv_get_le16 (command + 2);
  if (pairs < 1 || pairs > net->max_pairs)
    return CTRL_ERR;
  set_active_pairs_locked (net, pairs);
  return CTRL_OK;
}

static void
drain_control_locked (HvVirtioNet *net, HvVirtqueue *vq)
{
  gboolean pushed = FALSE;
  HvVirtqueueElement *elem;

  while ((elem = hv_virtio_pop (net->vdev, vq)) != NULL)
    {
      uint32_t written = 0;

      /* A command with nowhere to put its answer is not carried out: the driver could not tell. */
      if (elem->in_bytes >= 1)
        {
          uint8_t ack = control_command_locked (net, elem);

          hv_virtqueue_element_write (elem, 0, &ack, 1);
          written = 1;
        }
      hv_virtqueue_push (vq, elem, written);
      hv_virtqueue_element_free (elem);
      pushed = TRUE;
    }
  if (pushed)
    hv_virtio_notify (net->vdev, vq);
}

/* ---- The transport's callbacks (lock held) ---- */

static void
net_config_read (void *opaque, unsigned offset, uint8_t *data, unsigned len)
{
  HvVirtioNet *net = opaque;

  for (unsigned i = 0; i < len; i++)
    data[i] = offset + i < CFG_LEN ? net->config[offset + i] : 0;
}

/* The offloads the guest takes from the host become the TAP's (TUN_F_*); slirp was offered none. */
static gboolean
net_features_ok (void *opaque, uint64_t features)
{
  HvVirtioNet *net = opaque;
  unsigned tun = 0;

  /* Each offload leans on another (virtio 1.2 §5.1.3.1): a driver that asks for one alone is broken. */
  if ((features & (HV_VIRTIO_FEATURE (VIRTIO_NET_F_GUEST_TSO4) | HV_VIRTIO_FEATURE (VIRTIO_NET_F_GUEST_TSO6)))
      && !(features & HV_VIRTIO_FEATURE (VIRTIO_NET_F_GUEST_CSUM)))
    return FALSE;
  if ((features
       & (HV_VIRTIO_FEATURE (VIRTIO_NET_F_HOST_TSO4) | HV_VIRTIO_FEATURE (VIRTIO_NET_F_HOST_TSO6)
          | HV_VIRTIO_FEATURE (VIRTIO_NET_F_HOST_USO)))
      && !(features & HV_VIRTIO_FEATURE (VIRTIO_NET_F_CSUM)))
    return FALSE;
  if ((features & (HV_VIRTIO_FEATURE (VIRTIO_NET_F_GUEST_USO4) | HV_VIRTIO_FEATURE (VIRTIO_NET_F_GUEST_USO6)))
      && !(features & HV_VIRTIO_FEATURE (VIRTIO_NET_F_GUEST_CSUM)))
    return FALSE;
  if ((features & HV_VIRTIO_FEATURE (VIRTIO_NET_F_MQ))
      && !(features & HV_VIRTIO_FEATURE (VIRTIO_NET_F_CTRL_VQ)))
    return FALSE;
  if (net->tap == NULL)
    return TRUE;
  if (features & HV_VIRTIO_FEATURE (VIRTIO_NET_F_GUEST_CSUM))
    tun |= TUN_F_CSUM;
  if (features & HV_VIRTIO_FEATURE (VIRTIO_NET_F_GUEST_TSO4))
    tun |= TUN_F_TSO4;
  if (features & HV_VIRTIO_FEATURE (VIRTIO_NET_F_GUEST_TSO6))
    tun |= TUN_F_TSO6;
  if ((features & HV_VIRTIO_FEATURE (VIRTIO_NET_F_GUEST_ECN)) && (tun & (TUN_F_TSO4 | TUN_F_TSO6)))
    tun |= TUN_F_TSO_ECN;
  /* The kernel takes UDP segmentation for both IP versions or for neither: a driver taking one gets
   * whole datagrams, which is what it asked for too. */
  if ((features & HV_VIRTIO_FEATURE (VIRTIO_NET_F_GUEST_USO4))
      && (features & HV_VIRTIO_FEATURE (VIRTIO_NET_F_GUEST_USO6)))
    tun |= TUN_F_USO4 | TUN_F_USO6;
  return hv_net_tap_set_offloads (net->tap, tun);
}

static void
net_driver_ok (void *opaque)
{
  HvVirtioNet *net = opaque;

  for (unsigned i = 0; i < net->active_pairs; i++)
    flush_rx_locked (&net->pairs[i]);
}

static void
net_queue_notify (void *opaque, HvVirtqueue *vq)
{
  HvVirtioNet *net = opaque;

  if (vq->index >= 2 * net->max_pairs)
    drain_control_locked (net, vq);
  else if (vq->index % 2 == 0)
    flush_rx_locked (&net->pairs[vq->index / 2]);
  else
    drain_tx_locked (&net->pairs[vq->index / 2]);
}

static void
net_reset (void *opaque)
{
  HvVirtioNet *net = opaque;

  drop_pending_locked (net);
  /* One pair until the next driver says more (§5.1.6.5.5). */
  set_active_pairs_locked (net, 1);
  if (net->tap)
    {
      /* The next driver may take no offloads: the kernel gives it whole frames until it says. */
      hv_net_tap_set_offloads (net->tap, 0);
    }
}

/* The network's callbacks get a pair. */
static void
net_lock (void *opaque)
{
  NetPair *pair = opaque;
  hv_virtio_lock (pair->net->vdev);
}

static void
net_unlock (void *opaque)
{
  NetPair *pair = opaque;
  hv_virtio_unlock (pair->net->vdev);
}

static void
net_receive_locked (void *opaque, const uint8_t *frame, gsize len)
{
  receive_locked (opaque, NULL, frame, len);
}

static gboolean
net_receive_tap_locked (void *opaque, const uint8_t *packet, gsize len)
{
  return receive_locked (opaque, packet, packet + HDR_LEN, len - HDR_LEN);
}

/* Around a burst of frames from a TAP queue: the guest is interrupted once, at its end. */
static void
net_tap_batch_locked (void *opaque, gboolean starting)
{
  NetPair *pair = opaque;

  pair->rx_batch = starting;
  if (!starting && pair->rx_unnotified)
    {
      pair->rx_unnotified = FALSE;
      hv_virtio_notify (pair->net->vdev, hv_virtio_get_queue (pair->net->vdev, RXQ (pair->index)));
    }
}

/* One TAP per pair, all queues of one interface (IFF_MULTI_QUEUE when there are several), made before
 * the transport, whose features depend on what the kernel takes. */
static gboolean
open_taps (HvVirtioNet *net, const HvVirtioNetConfig *config, GError **error)
{
  for (unsigned i = 0; i < net->max_pairs; i++)
    {
      NetPair *pair = &net->pairs[i];
      int fd = config->tap_fds ? config->tap_fds[i] : config->tap_fd;

      pair->tap = hv_net_tap_new (net->context,
                                  &(HvNetTapConfig){
                                      .fd = fd,
                                      .lock = net_lock,
                                      .unlock = net_unlock,
                                      .receive = net_receive_tap_locked,
                                      .batch = net_tap_batch_locked,
                                      .opaque = pair,
                                  },
                                  error);
      if (pair->tap == NULL)
        {
          if (net->max_pairs > 1)
            g_prefix_error (error, "queue pair %u: ", i + 1);
          return FALSE;
        }
      if (net->max_pairs > 1 && !hv_net_tap_is_multi_queue (pair->tap))
        {
          g_set_error (error, HV_ERROR, HV_ERROR_INVALID_ARGUMENT,
                       "%u queue pairs need a TAP device made with IFF_MULTI_QUEUE, which %s was not",
                       net->max_pairs, hv_net_tap_get_name (pair->tap));
          return FALSE;
        }
      if (i > 0 && strcmp (hv_net_tap_get_name (pair->tap), hv_net_tap_get_name (net->pairs[0].tap)) != 0)
        {
          g_set_error (error, HV_ERROR, HV_ERROR_INVALID_ARGUMENT,
                       "the TAP fds are queues of different devices (%s and %s)",
                       hv_net_tap_get_name (net->pairs[0].tap), hv_net_tap_get_name (pair->tap));
          return FALSE;
        }
    }
  net->tap = net->pairs[0].tap;
  if (hv_net_tap_has_offloads (net->tap))
    net->info.features |= TAP_OFFLOAD_FEATURES;
  if (hv_net_tap_has_uso (net->tap))
    net->info.features |= TAP_USO_FEATURES;
  return TRUE;
}

HvVirtioNet *
hv_virtio_net_new (const HvPlatform *platform, GMainContext *context, HvPci *pci,
                   const HvVirtioNetConfig *config, GError **error)
{
  HvVirtioNet *net;

  if (config->queues > HV_VIRTIO_NET_MAX_QUEUES)
    {
      g_set_error (error, HV_ERROR, HV_ERROR_INVALID_ARGUMENT, "a NIC has 1 to %d queue pairs, not %u",
                   HV_VIRTIO_NET_MAX_QUEUES, config->queues);
      return NULL;
    }
  net = g_new0 (HvVirtioNet, 1);
  net->platform = *platform;
  net->platform.io_context = context;
  net->context = g_main_context_ref (context);
  net->name = g_strdup (config->name);
  net->max_pairs = MAX (config->queues, 1);
  for (unsigned i = 0; i < G_N_ELEMENTS (net->pairs); i++)
    {
      net->pairs[i].net = net;
      net->pairs[i].index = i;
      g_queue_init (&net->pairs[i].pending);
    }
  net->active_pairs = 1;
  net->tx_buffer = g_malloc (HV_VIRTIO_NET_FRAME_MAX);
  net->rx_elems = g_new0 (HvVirtqueueElement *, QUEUE_SIZE);
  net->link_up = net->spec_link_up = !config->link_down;
  memcpy (net->config + CFG_MAC, config->mac, 6);
  hv_put_le16 (net->config + CFG_STATUS, net->link_up ? VIRTIO_NET_S_LINK_UP : 0);
  hv_put_le16 (net->config + CFG_MAX_VQ_PAIRS, (uint16_t) net->max_pairs);
  net->info = (HvVirtioDeviceInfo){
    .name = net->name,
    .device_id = VIRTIO_ID_NET,
    .pci_class = PCI_CLASS_NETWORK_ETHERNET,
    .features = HV_VIRTIO_FEATURE (VIRTIO_NET_F_MAC) | HV_VIRTIO_FEATURE (VIRTIO_NET_F_STATUS)
                | HV_VIRTIO_FEATURE (VIRTIO_NET_F_MRG_RXBUF),
    /* With one pair, no control queue: the device looks as it did before pairs, and its saved states
     * still fit. */
    .n_queues = net->max_pairs > 1 ? 2 * net->max_pairs + 1 : 2,
    .queue_size = QUEUE_SIZE,
    .config_size = CFG_LEN,
    .config_read = net_config_read,
    .features_ok = net_features_ok,
    .driver_ok = net_driver_ok,
    .queue_notify = net_queue_notify,
    .reset = net_reset,
    .rom = config->rom ? g_bytes_ref (config->rom) : NULL,
  };
  if (net->max_pairs > 1)
    net->info.features |= HV_VIRTIO_FEATURE (VIRTIO_NET_F_CTRL_VQ) | HV_VIRTIO_FEATURE (VIRTIO_NET_F_MQ);
  if (config->backend == HV_NET_BACKEND_TAP && !open_taps (net, config, error))
    {
      hv_virtio_net_free (net);
      return NULL;
    }
  net->vdev = hv_virtio_pci_new (&net->platform, pci, &net->info, net, error);
  if (net->vdev == NULL)
    {
      hv_virtio_net_free (net);
      return NULL;
    }
  if (net->tap)
    {
      hv_virtio_lock (net->vdev);
      set_active_pairs_locked (net, 1);
      hv_virtio_unlock (net->vdev);
      for (unsigned i = 0; i < net->max_pairs; i++)
        hv_net_tap_start (net->pairs[i].tap);
      return net;
    }
  net->network = hv_net_user_new (context,
                                  &(HvNetUserConfig){
                                      .restricted = config->restricted,
                                      .forwards = config->forwards,
                                      .n_forwards = config->n_forwards,
                                      .tftp_dir = config->tftp_dir,
                                      .lock = net_lock,
                                      .unlock = net_unlock,
                                      .receive = net_receive_locked,
                                      .opaque = &net->pairs[0],
                                  },
                                  error);
  if (net->network == NULL)
    {
      hv_virtio_net_free (net);
      return NULL;
    }
  return net;
}

void
hv_virtio_net_free (HvVirtioNet *net)
{
  if (net == NULL)
    return;
  if (net->vdev)
    {
      /* The queues stop feeding the network, then the network stops (and with it frames for the
       * guest), then the transport goes, waiting for what its context is dispatching. */
      hv_virtio_lock (net->vdev);
      net->closing = TRUE;
      hv_virtio_unlock (net->vdev);
    }
  hv_net_user_free (net->network);
  for (unsigned i = 0; i < G_N_ELEMENTS (net->pairs); i++)
    g_clear_pointer (&net->pairs[i].tap, hv_net_tap_free);
  net->tap = NULL;
  hv_virtio_free (net->vdev);
  drop_pending_locked (net);
  g_main_context_unref (net->context);
  g_free (net->tx_buffer);
  g_free (net->rx_elems);
  g_clear_pointer (&net->info.rom, g_bytes_unref);
  g_free (net->name);
  g_free (net);
}

void
hv_virtio_net_set_paused (HvVirtioNet *net, gboolean paused)
{
  hv_virtio_lock (net->vdev);
  hv_virtio_set_paused (net->vdev, paused);
  hv_virtio_unlock (net->vdev);
}

void
hv_virtio_net_get_stats (HvVirtioNet *net, HvVirtioNetStats *stats)
{
  hv_virtio_lock (net->vdev);
  *stats = net->stats;
  hv_virtio_unlock (net->vdev);
}

void
hv_virtio_net_set_link (HvVirtioNet *net, gboolean up)
{
  hv_virtio_lock (net->vdev);
  if (net->link_up != up)
    {
      net->link_up = up;
      hv_put_le16 (net->config + CFG_STATUS, up ? VIRTIO_NET_S_LINK_UP : 0);
      /* Frames that waited for the guest went out with the cable. */
      if (!up)
        drop_pending_locked (net);
      hv_virtio_notify_config (net->vdev);
    }
  hv_virtio_unlock (net->vdev);
}

uint32_t
hv_virtio_net_get_guest_address (HvVirtioNet *net)
{
  uint32_t address;

  hv_virtio_lock (net->vdev);
  address = net->guest_address;
  hv_virtio_unlock (net->vdev);
  return address;
}

GVariant *
hv_virtio_net_save_state (HvVirtioNet *net)
{
  g_auto (GVariantDict) dict = G_VARIANT_DICT_INIT (NULL);

  hv_virtio_lock (net->vdev);
  g_variant_dict_insert_value (&dict, "virtio", hv_virtio_save_state (net->vdev));
  g_variant_dict_insert_value (&dict, "mac", hv_state_new_bytes (net->config + CFG_MAC, 6));
  /* Since version 2. */
  g_variant_dict_insert (&dict, "link", "b", net->link_up);
  g_variant_dict_insert (&dict, "pairs", "q", (guint16) net->active_pairs);
  hv_virtio_unlock (net->vdev);
  return g_variant_dict_end (&dict);
}

gboolean
hv_virtio_net_load_state (HvVirtioNet *net, GVariant *state, unsigned version, GError **error)
{
  g_autoptr (GVariant) transport = NULL;
  /* A version 1 section is a single pair's, and knows nothing of the cable: the spec's is taken. */
  gboolean link_up = net->spec_link_up;
  guint16 pairs = 1;
  uint8_t mac[6];
  gboolean ok;

  if (version > HV_VIRTIO_NET_STATE_VERSION)
    {
      hv_state_set_bad (error, net->name, "its version %u is newer than this NIC's (%u)", version,
                        HV_VIRTIO_NET_STATE_VERSION);
      return FALSE;
    }
  if (!hv_state_get_bytes (state, net->name, "mac", mac, 6, 6, NULL, error)
      || !hv_state_get_since (state, net->name, "link", "b", version, 2, &link_up, error)
      || !hv_state_get_since (state, net->name, "pairs", "q", version, 2, &pairs, error))
    return FALSE;
  if (pairs < 1 || pairs > net->max_pairs)
    {
      hv_state_set_bad (error, net->name, "it uses %u queue pairs, and the NIC has %u", pairs,
                        net->max_pairs);
      return FALSE;
    }
  /* The guest's driver read the MAC at probe time and keeps using it. */
  if (memcmp (mac, net->config + CFG_MAC, 6) != 0)
    {
      hv_state_set_bad (
          error, net->name,
          "it was saved with MAC %02x:%02x:%02x:%02x:%02x:%02x, which the machine no longer has", mac[0],
          mac[1], mac[2], mac[3], mac[4], mac[5]);
      return FALSE;
    }
  transport = hv_state_lookup (state, net->name, "virtio", G_VARIANT_TYPE_VARDICT, error);
  if (transport == NULL)
    return FALSE;
  hv_virtio_lock (net->vdev);
  ok = hv_virtio_load_state (net->vdev, transport, error);
  if (ok)
    {
      drop_pending_locked (net);
      set_active_pairs_locked (net, pairs);
      net->link_up = link_up;
      hv_put_le16 (net->config + CFG_STATUS, link_up ? VIRTIO_NET_S_LINK_UP : 0);
    }
  hv_virtio_unlock (net->vdev);
  return ok;
}

/* The "virtio-net" kind. */

static gboolean
net_realize (HvDevice *device, GError **error)
{
  const HvPlatform *platform = hv_device_get_platform (device);
  g_autoptr (GArray) forwards = g_array_new (FALSE, FALSE, sizeof (HvNetHostForward));
  HvVirtioNetConfig config = { .name = device->id,
                               .tap_fd = -1,
                               .tftp_dir = hv_device_get_fd_option (device, "tftp") };
  g_autofree int *taps = NULL;
  guint32 queues = 1;
  unsigned n_taps = 0;
  g_autoptr (GBytes) rom = NULL;
  GMainContext *context;
  gboolean link = TRUE;
  const char *text;
  int rom_fd;

  /* 52:54:00 is QEMU's prefix, and its first NIC's address; each further NIC counts up. */
  memcpy (config.mac, (const uint8_t[]){ 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 }, 6);
  config.mac[5] = (uint8_t) (config.mac[5] + device->index);
  if (g_variant_lookup (device->options, "mac", "&s", &text) && !hv_net_parse_mac (text, config.mac, error))
    return FALSE;
  if (g_variant_lookup (device->options, "hostfwd", "&s", &text)
      && !hv_net_parse_hostfwd (text, forwards, error))
    return FALSE;
  text = "user";
  g_variant_lookup (device->options, "backend", "&s", &text);
  if (strcmp (text, "tap") == 0)
    config.backend = HV_NET_BACKEND_TAP;
  else if (strcmp (text, "user") != 0)
    {
      g_set_error (error, HV_ERROR, HV_ERROR_INVALID_ARGUMENT, "there is no network backend “%s”", text);
      return FALSE;
    }
  g_variant_lookup (device->options, "queues", "u", &queues);
  config.queues = queues;
  if (config.backend == HV_NET_BACKEND_TAP)
    {
      taps = hv_device_get_fds_option (device, "tap", &n_taps);
      if (n_taps == 0)
        {
          g_set_error (error, HV_ERROR, HV_ERROR_INVALID_ARGUMENT,
                       "the network backend “tap” needs a TAP device (the “tap” option)");
          return FALSE;
        }
      if (n_taps != queues)
        {
          g_set_error (error, HV_ERROR, HV_ERROR_INVALID_ARGUMENT,
                       "%u queue pairs need as many TAP fds, not %u", queues, n_taps);
          return FALSE;
        }
      config.tap_fd = taps[0];
      config.tap_fds = taps;
    }
  g_variant_lookup (device->options, "restrict", "b", &config.restricted);
  g_variant_lookup (device->options, "link", "b", &link);
  config.link_down = !link;
  config.forwards = (const HvNetHostForward *) forwards->data;
  config.n_forwards = forwards->len;
  rom_fd = hv_device_get_fd_option (device, "rom");
  if (rom_fd >= 0 && (rom = hv_pci_read_rom (rom_fd, error)) == NULL)
    return FALSE;
  config.rom = rom;

  /* A thread of its own, of the role that may make network sockets (slirp's connections): slirp polls
   * sockets and a TAP may be busy with a burst of traffic. */
  context = hv_platform_get_thread_context (platform, device->id, HV_THREAD_NET, error);
  if (context == NULL)
    return FALSE;
  device->impl = hv_virtio_net_new (platform, context, hv_device_get_pci (device), &config, error);
  return device->impl != NULL;
}

static void
net_teardown (HvDevice *device)
{
  hv_virtio_net_free (device->impl);
}

static void
net_quiesce (HvDevice *device, gboolean quiesced)
{
  HvVirtioNet *net = device->impl;

  /* Frames wait in the device instead of going into guest memory; then whatever the I/O thread is in
   * the middle of finishes. */
  hv_virtio_net_set_paused (net, quiesced);
  if (quiesced)
    hv_iothread_barrier (net->context);
}

static GVariant *
net_save (HvDevice *device)
{
  return hv_virtio_net_save_state (device->impl);
}

static gboolean
net_load (HvDevice *device, GVariant *state, unsigned version, GError **error)
{
  return hv_virtio_net_load_state (device->impl, state, version, error);
}

static char *
net_boot_path (HvDevice *device)
{
  HvVirtioNet *net = device->impl;
  return hv_virtio_boot_path (net->vdev, "ethernet");
}

const HvDeviceKind hv_virtio_net_kind = {
  .info = &hv_kind_info_virtio_net,
  .order = HV_DEVICE_ORDER_PCI,
  .state_version = HV_VIRTIO_NET_STATE_VERSION,
  .realize = net_realize,
  .teardown = net_teardown,
  .quiesce = net_quiesce,
  .save = net_save,
  .load = net_load,
  .boot_path = net_boot_path,
};
