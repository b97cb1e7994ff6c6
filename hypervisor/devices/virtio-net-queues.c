/* virtio-net-queues.c — what a virtio-net NIC's queues carry (virtio 1.2 §5.1.6): frames from its
 * network to the guest's receive queues (waiting, bounded, while it has no buffers; merged buffers; the
 * address it leases learnt on the way), frames the guest transmits (headers checked against the offloads
 * it took), and the control queue's commands (the queue pairs in use).  All with the transport lock held. */
#include "virtio-net-private.h"
#include "bytes.h"

#include <string.h>

/* The control queue (virtio 1.2 §5.1.6.5): a class and a command, their data, and the device's one-byte
 * answer. */
#define CTRL_OK              0
#define CTRL_ERR             1
#define CTRL_MQ              4
#define CTRL_MQ_VQ_PAIRS_SET 0

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

void
virtio_net_drop_pending_locked (HvVirtioNet *net)
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
void
virtio_net_flush_rx_locked (NetPair *pair)
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
    virtio_net_drop_pending_locked (net); /* the driver broke the queue, or reset: nothing waits for it */
  if (pushed)
    hv_virtio_notify (net->vdev, vq);
  /* The TAP is read again once nothing waits here: the guest took what it had. */
  if (pair->tap && g_queue_is_empty (&pair->pending))
    hv_net_tap_set_reading (pair->tap, TRUE);
}

/* A frame for the guest from its network on @pair, behind @header (HDR_LEN bytes; NULL for none: no
 * offload).  FALSE when it waits for the guest's buffers. */
gboolean
virtio_net_receive_locked (NetPair *pair, const uint8_t *header, const uint8_t *frame, gsize len)
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
  virtio_net_flush_rx_locked (pair);
  return g_queue_is_empty (&pair->pending);
}

void
hv_virtio_net_receive (HvVirtioNet *net, const uint8_t *frame, gsize len)
{
  hv_virtio_lock (net->vdev);
  virtio_net_receive_locked (&net->pairs[0], NULL, frame, len);
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

void
virtio_net_drain_tx_locked (NetPair *pair)
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
void
virtio_net_set_active_pairs_locked (HvVirtioNet *net, unsigned n)
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
  virtio_net_set_active_pairs_locked (net, pairs);
  return CTRL_OK;
}

void
virtio_net_drain_control_locked (HvVirtioNet *net, HvVirtqueue *vq)
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
