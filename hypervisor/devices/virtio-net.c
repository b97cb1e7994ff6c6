/* virtio-net.c — the virtio-net NIC (virtio 1.2 §5.1) with user-mode NAT through libslirp: frames the
 * guest transmits go to slirp_input(), frames slirp sends go to the guest's receive queue (waiting,
 * bounded, while it has no buffers).  slirp runs on the device's own I/O thread: its sockets and timers
 * are sources on that context, which also takes the queue notifications.
 *
 * Restricted mode is the device's own: libslirp's (restricted=1) drops every UDP datagram from the guest
 * but DHCP and TFTP, replies through a UDP port forward included (libslirp 4.7 udp_input), so here the
 * guest may send (slirp_input) only ARP, DHCP, TFTP and pings to the gateway, and answers to the peers
 * that reached it through a port forward; DNS is off and IPv6 with it.  Nothing else reaches slirp, so
 * nothing leaves the host.
 *
 * Every libslirp call happens on that thread with the transport lock held (slirp has no locks of its
 * own), so slirp's callbacks (send_packet) run with the lock held too.  No offloads are offered: slirp
 * wants whole frames with valid checksums, so the guest computes them (no CSUM, GUEST_CSUM, TSO). */
#include "bytes.h"
#include "virtio-net.h"
#include "device.h"
#include "iothread.h"
#include "state.h"
#include "virtio/virtio.h"

#include <arpa/inet.h>
#include <errno.h>
#include <slirp/libslirp.h>
#include <string.h>

#define VIRTIO_ID_NET 1
#define PCI_CLASS_NETWORK_ETHERNET 0x020000

#define VIRTIO_NET_F_MAC       5
#define VIRTIO_NET_F_MRG_RXBUF 15
#define VIRTIO_NET_F_STATUS    16

#define VIRTIO_NET_S_LINK_UP 1

#define RXQ 0
#define TXQ 1
#define QUEUE_SIZE 256

/* struct virtio_net_hdr with VERSION_1: flags, gso_type, hdr_len, gso_size, csum_start, csum_offset,
 * num_buffers. */
#define HDR_LEN 12
#define HDR_NUM_BUFFERS 10

/* struct virtio_net_config: mac, status, max_virtqueue_pairs. */
#define CFG_MAC    0
#define CFG_STATUS 6
#define CFG_MAX_VQ_PAIRS 8
#define CFG_LEN    10

/* The shortest frame worth giving slirp: an Ethernet header. */
#define ETH_HEADER_LEN 14
#define ETH_TYPE_IPV4 0x0800
#define ETH_TYPE_ARP  0x0806
#define IP_PROTO_ICMP 1
#define IP_PROTO_TCP  6
#define IP_PROTO_UDP  17
#define PORT_DHCP_SERVER 67
#define PORT_TFTP 69

/* The peers a restricted guest may answer: the last ones that reached it through a forward. */
#define PEERS_MAX 64

typedef struct
{
  uint8_t proto;
  uint16_t guest_port;
  uint32_t peer_addr;          /* network order, as in the frame */
  uint16_t peer_port;
} Peer;

typedef struct
{
  HvVirtioNet *net;
  SlirpTimerId id;
  void *cb_opaque;
  GSource *source;             /* armed: a timeout on the device's context */
} NetTimer;

typedef struct
{
  GSource source;
  HvVirtioNet *net;
} SlirpSource;

struct _HvVirtioNet
{
  HvPlatform platform;         /* the machine's, with io_context set to the device's own */
  GMainContext *context;
  HvVirtio *vdev;
  HvVirtioDeviceInfo info;
  char *name;
  uint8_t config[CFG_LEN];
  char *tftp_path;

  /* Guarded by the transport's lock (hv_virtio_lock). */
  Slirp *slirp;
  gboolean closing;            /* being freed: slirp is not called any more */
  GQueue pending;              /* GBytes: frames for the guest, oldest first */
  gsize pending_bytes;
  GArray *pollfds;             /* GPollFD: what slirp asked to poll this time round */
  GSource *slirp_source;
  GPtrArray *timers;           /* NetTimer */
  gint64 poll_deadline;        /* monotonic µs by which slirp wants its timers run */
  HvVirtioNetStats stats;
  uint8_t *tx_buffer;          /* HV_VIRTIO_NET_FRAME_MAX bytes */

  /* Restricted mode (set at creation). */
  gboolean restricted;
  uint32_t gateway;            /* 10.0.2.2, network order */
  HvNetHostForward *forwards;
  unsigned n_forwards;
  Peer peers[PEERS_MAX];       /* guarded by the lock */
  unsigned n_peers;
  unsigned next_peer;
};

/* ---- Restricted mode ---- */

static uint16_t
get_be16 (const uint8_t *p)
{
  return (uint16_t) (p[0] << 8 | p[1]);
}

/* The IPv4 protocol, addresses and ports of @frame (ports 0 when not TCP or UDP); FALSE when it is not a
 * well-formed IPv4 frame. */
static gboolean
parse_ipv4 (const uint8_t *frame, gsize len, uint8_t *proto, uint32_t *src, uint32_t *dst,
            uint16_t *sport, uint16_t *dport)
{
  const uint8_t *ip = frame + ETH_HEADER_LEN;
  gsize ihl;

  if (len < ETH_HEADER_LEN + 20 || get_be16 (frame + 12) != ETH_TYPE_IPV4 || (ip[0] >> 4) != 4)
    return FALSE;
  ihl = (gsize) (ip[0] & 0xf) * 4;
  if (ihl < 20 || len < ETH_HEADER_LEN + ihl)
    return FALSE;
  *proto = ip[9];
  memcpy (src, ip + 12, 4);
  memcpy (dst, ip + 16, 4);
  *sport = *dport = 0;
  if ((*proto == IP_PROTO_TCP || *proto == IP_PROTO_UDP) && len >= ETH_HEADER_LEN + ihl + 4
      && (get_be16 (ip + 6) & 0x1fff) == 0)
    {
      *sport = get_be16 (ip + ihl);
      *dport = get_be16 (ip + ihl + 2);
    }
  return TRUE;
}

static gboolean
is_forwarded_port (HvVirtioNet *net, uint8_t proto, uint16_t guest_port)
{
  for (unsigned i = 0; i < net->n_forwards; i++)
    if (net->forwards[i].guest_port == guest_port && net->forwards[i].udp == (proto == IP_PROTO_UDP))
      return TRUE;
  return FALSE;
}

/* A frame slirp sends the guest: if a peer reached a forwarded port, the guest may answer it. */
static void
note_peer_locked (HvVirtioNet *net, const uint8_t *frame, gsize len)
{
  uint8_t proto;
  uint32_t src, dst;
  uint16_t sport, dport;
  Peer peer;

  if (!parse_ipv4 (frame, len, &proto, &src, &dst, &sport, &dport) || dport == 0
      || !is_forwarded_port (net, proto, dport))
    return;
  peer = (Peer){ proto, dport, src, sport };
  for (unsigned i = 0; i < net->n_peers; i++)
    if (memcmp (&net->peers[i], &peer, sizeof peer) == 0)
      return;
  net->peers[net->next_peer] = peer;
  net->next_peer = (net->next_peer + 1) % PEERS_MAX;
  net->n_peers = MIN (net->n_peers + 1, PEERS_MAX);
}

/* Whether a restricted guest may send @frame. */
static gboolean
may_send_locked (HvVirtioNet *net, const uint8_t *frame, gsize len)
{
  uint8_t proto;
  uint32_t src, dst;
  uint16_t sport, dport;

  if (get_be16 (frame + 12) == ETH_TYPE_ARP)
    return TRUE;
  if (!parse_ipv4 (frame, len, &proto, &src, &dst, &sport, &dport))
    return FALSE;
  if (proto == IP_PROTO_UDP && dport == PORT_DHCP_SERVER)
    return TRUE;
  if (dst == net->gateway && ((proto == IP_PROTO_UDP && dport == PORT_TFTP) || proto == IP_PROTO_ICMP))
    return TRUE;
  if (sport == 0)
    return FALSE;
  for (unsigned i = 0; i < net->n_peers; i++)
    if (net->peers[i].proto == proto && net->peers[i].guest_port == sport && net->peers[i].peer_addr == dst
        && net->peers[i].peer_port == dport)
      return TRUE;
  return FALSE;
}

/* ---- To the guest ---- */

static void
drop_pending_locked (HvVirtioNet *net)
{
  GBytes *frame;

  while ((frame = g_queue_pop_head (&net->pending)) != NULL)
    g_bytes_unref (frame);
  net->pending_bytes = 0;
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

/* Gives the oldest waiting frame to the guest.  FALSE when it has to wait for buffers (or the driver
 * broke the queue, which then needs a reset). */
static gboolean
deliver_one_locked (HvVirtioNet *net, HvVirtqueue *vq, GBytes *frame, gboolean *pushed)
{
  gboolean mergeable = (hv_virtio_get_features (net->vdev) & HV_VIRTIO_FEATURE (VIRTIO_NET_F_MRG_RXBUF)) != 0;
  gsize frame_len;
  const uint8_t *data = g_bytes_get_data (frame, &frame_len);
  uint64_t need = HDR_LEN + (uint64_t) frame_len;
  g_autofree HvVirtqueueElement **elems = g_new0 (HvVirtqueueElement *, vq->size);
  uint8_t header[HDR_LEN] = { 0 };
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
  hv_put_le16 (header + HDR_NUM_BUFFERS, (uint16_t) n);
  write_stream (elems, n, 0, header, sizeof header);
  write_stream (elems, n, HDR_LEN, data, frame_len);
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

/* Gives the guest every waiting frame it has buffers for, oldest first. */
static void
flush_rx_locked (HvVirtioNet *net)
{
  HvVirtqueue *vq = hv_virtio_get_queue (net->vdev, RXQ);
  gboolean pushed = FALSE;

  while (!g_queue_is_empty (&net->pending) && hv_virtio_is_driver_ok (net->vdev)
         && !hv_virtio_is_paused (net->vdev) && hv_virtqueue_is_ready (vq))
    {
      GBytes *frame = g_queue_peek_head (&net->pending);

      if (!deliver_one_locked (net, vq, frame, &pushed))
        break;
      g_queue_pop_head (&net->pending);
      net->pending_bytes -= g_bytes_get_size (frame);
      g_bytes_unref (frame);
    }
  if (!hv_virtio_is_driver_ok (net->vdev))
    drop_pending_locked (net); /* the driver broke the queue, or reset: nothing waits for it */
  if (pushed)
    hv_virtio_notify (net->vdev, vq);
}

static void
receive_locked (HvVirtioNet *net, const uint8_t *frame, gsize len)
{
  /* Before the driver is ready there is nobody to wait for; a full queue means it takes nothing. */
  if (net->closing || !hv_virtio_is_driver_ok (net->vdev) || len > HV_VIRTIO_NET_FRAME_MAX
      || g_queue_get_length (&net->pending) >= HV_VIRTIO_NET_PENDING_MAX
      || net->pending_bytes + len > HV_VIRTIO_NET_PENDING_MAX_BYTES)
    {
      net->stats.rx_dropped++;
      return;
    }
  if (net->restricted)
    note_peer_locked (net, frame, len);
  g_queue_push_tail (&net->pending, g_bytes_new (frame, len));
  net->pending_bytes += len;
  flush_rx_locked (net);
}

void
hv_virtio_net_receive (HvVirtioNet *net, const uint8_t *frame, gsize len)
{
  hv_virtio_lock (net->vdev);
  receive_locked (net, frame, len);
  hv_virtio_unlock (net->vdev);
}

/* ---- From the guest ---- */

static void
drain_tx_locked (HvVirtioNet *net)
{
  HvVirtqueue *vq = hv_virtio_get_queue (net->vdev, TXQ);
  gboolean pushed = FALSE;
  HvVirtqueueElement *elem;

  while ((elem = hv_virtio_pop (net->vdev, vq)) != NULL)
    {
      /* The header says nothing we use: no offloads were offered, so every frame is complete. */
      if (elem->out_bytes < HDR_LEN + ETH_HEADER_LEN
          || elem->out_bytes - HDR_LEN > HV_VIRTIO_NET_FRAME_MAX)
        net->stats.tx_dropped++;
      else
        {
          gsize len = (gsize) (elem->out_bytes - HDR_LEN);
          hv_virtqueue_element_read (elem, HDR_LEN, net->tx_buffer, len);
          if (net->restricted && !may_send_locked (net, net->tx_buffer, len))
            net->stats.tx_filtered++;
          else
            {
              net->stats.tx_frames++;
              if (!net->closing)
                slirp_input (net->slirp, net->tx_buffer, (int) len);
            }
        }
      hv_virtqueue_push (vq, elem, 0);
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

static void
net_driver_ok (void *opaque)
{
  flush_rx_locked (opaque);
}

static void
net_queue_notify (void *opaque, HvVirtqueue *vq)
{
  HvVirtioNet *net = opaque;

  if (vq->index == RXQ)
    flush_rx_locked (net);
  else if (vq->index == TXQ)
    drain_tx_locked (net);
}

static void
net_reset (void *opaque)
{
  drop_pending_locked (opaque);
}

/* ---- libslirp on the device's context ---- */

static ssize_t
slirp_send_packet (const void *buf, size_t len, void *opaque)
{
  receive_locked (opaque, buf, len);
  return (ssize_t) len;
}

static void
slirp_guest_error (const char *msg, void *opaque)
{
  HvVirtioNet *net = opaque;
  g_debug ("%s: the guest sent something the network refuses: %s", net->name, msg);
}

static int64_t
slirp_clock_get_ns (void *opaque)
{
  return g_get_monotonic_time () * 1000;
}

static gboolean
timer_fire (gpointer data)
{
  NetTimer *timer = data;
  HvVirtioNet *net = timer->net;

  hv_virtio_lock (net->vdev);
  if (!net->closing)
    {
      g_clear_pointer (&timer->source, g_source_unref);
      slirp_handle_timer (net->slirp, timer->id, timer->cb_opaque);
    }
  hv_virtio_unlock (net->vdev);
  return G_SOURCE_REMOVE;
}

static void
timer_disarm (NetTimer *timer)
{
  if (timer->source)
    {
      g_source_destroy (timer->source);
      g_clear_pointer (&timer->source, g_source_unref);
    }
}

static void *
slirp_timer_new_opaque (SlirpTimerId id, void *cb_opaque, void *opaque)
{
  HvVirtioNet *net = opaque;
  NetTimer *timer = g_new0 (NetTimer, 1);

  timer->net = net;
  timer->id = id;
  timer->cb_opaque = cb_opaque;
  g_ptr_array_add (net->timers, timer);
  return timer;
}

static void
slirp_timer_free (void *data, void *opaque)
{
  HvVirtioNet *net = opaque;
  NetTimer *timer = data;

  timer_disarm (timer);
  g_ptr_array_remove_fast (net->timers, timer);
  g_free (timer);
}

/* @expire_ms is on slirp_clock_get_ns's clock, in milliseconds. */
static void
slirp_timer_mod (void *data, int64_t expire_ms, void *opaque)
{
  HvVirtioNet *net = opaque;
  NetTimer *timer = data;
  int64_t delay = expire_ms - g_get_monotonic_time () / 1000;

  timer_disarm (timer);
  if (net->closing)
    return;
  timer->source = g_timeout_source_new ((guint) CLAMP (delay, 0, G_MAXINT));
  g_source_set_callback (timer->source, timer_fire, timer, NULL);
  g_source_attach (timer->source, net->context);
}

static void
slirp_register_poll_fd (int fd, void *opaque)
{
  /* Nothing: the sockets to watch are asked for anew before every poll (slirp_pollfds_fill). */
}

static void
slirp_unregister_poll_fd (int fd, void *opaque)
{
}

static void
slirp_notify (void *opaque)
{
  HvVirtioNet *net = opaque;
  g_main_context_wakeup (net->context);
}

static const SlirpCb slirp_callbacks = {
  .send_packet = slirp_send_packet,
  .guest_error = slirp_guest_error,
  .clock_get_ns = slirp_clock_get_ns,
  .timer_free = slirp_timer_free,
  .timer_mod = slirp_timer_mod,
  .register_poll_fd = slirp_register_poll_fd,
  .unregister_poll_fd = slirp_unregister_poll_fd,
  .notify = slirp_notify,
  .timer_new_opaque = slirp_timer_new_opaque,
};

static int
slirp_add_poll (int fd, int events, void *opaque)
{
  HvVirtioNet *net = opaque;
  GPollFD pfd = { .fd = fd };

  if (events & SLIRP_POLL_IN)
    pfd.events |= G_IO_IN;
  if (events & SLIRP_POLL_OUT)
    pfd.events |= G_IO_OUT;
  if (events & SLIRP_POLL_PRI)
    pfd.events |= G_IO_PRI;
  if (events & SLIRP_POLL_ERR)
    pfd.events |= G_IO_ERR;
  if (events & SLIRP_POLL_HUP)
    pfd.events |= G_IO_HUP;
  g_array_append_val (net->pollfds, pfd);
  return (int) net->pollfds->len - 1;
}

static int
slirp_get_revents (int idx, void *opaque)
{
  HvVirtioNet *net = opaque;
  int events = 0;
  gushort revents;

  if (idx < 0 || (guint) idx >= net->pollfds->len)
    return 0;
  revents = g_array_index (net->pollfds, GPollFD, idx).revents;
  if (revents & G_IO_IN)
    events |= SLIRP_POLL_IN;
  if (revents & G_IO_OUT)
    events |= SLIRP_POLL_OUT;
  if (revents & G_IO_PRI)
    events |= SLIRP_POLL_PRI;
  if (revents & G_IO_ERR)
    events |= SLIRP_POLL_ERR;
  if (revents & G_IO_HUP)
    events |= SLIRP_POLL_HUP;
  return events;
}

/* The slirp source: prepare asks slirp what to poll and for how long, dispatch lets it act on what the
 * poll found (and run its TCP timers, which need a call at least every timeout). */
static gboolean
slirp_source_prepare (GSource *source, gint *timeout)
{
  HvVirtioNet *net = ((SlirpSource *) source)->net;
  uint32_t slirp_timeout = 1000;

  hv_virtio_lock (net->vdev);
  for (guint i = 0; i < net->pollfds->len; i++)
    g_source_remove_poll (source, &g_array_index (net->pollfds, GPollFD, i));
  g_array_set_size (net->pollfds, 0);
  if (!net->closing)
    slirp_pollfds_fill (net->slirp, &slirp_timeout, slirp_add_poll, net);
  /* The array is complete: the GPollFDs stay where they are until the next prepare. */
  for (guint i = 0; i < net->pollfds->len; i++)
    g_source_add_poll (source, &g_array_index (net->pollfds, GPollFD, i));
  slirp_timeout = MIN (slirp_timeout, 1000);
  net->poll_deadline = g_get_monotonic_time () + (gint64) slirp_timeout * 1000;
  hv_virtio_unlock (net->vdev);
  *timeout = (gint) slirp_timeout;
  return slirp_timeout == 0;
}

static gboolean
slirp_source_check (GSource *source)
{
  HvVirtioNet *net = ((SlirpSource *) source)->net;
  gboolean ready;

  hv_virtio_lock (net->vdev);
  ready = g_get_monotonic_time () >= net->poll_deadline;
  for (guint i = 0; !ready && i < net->pollfds->len; i++)
    if (g_array_index (net->pollfds, GPollFD, i).revents)
      ready = TRUE;
  hv_virtio_unlock (net->vdev);
  return ready;
}

static gboolean
slirp_source_dispatch (GSource *source, GSourceFunc callback, gpointer data)
{
  HvVirtioNet *net = ((SlirpSource *) source)->net;

  hv_virtio_lock (net->vdev);
  if (!net->closing)
    slirp_pollfds_poll (net->slirp, 0, slirp_get_revents, net);
  hv_virtio_unlock (net->vdev);
  return G_SOURCE_CONTINUE;
}

static GSourceFuncs slirp_source_funcs = {
  .prepare = slirp_source_prepare,
  .check = slirp_source_check,
  .dispatch = slirp_source_dispatch,
};

static gboolean
start_slirp (HvVirtioNet *net, const HvVirtioNetConfig *config, GError **error)
{
  SlirpConfig cfg = {
    .version = 4,
    .in_enabled = TRUE,
    .in6_enabled = !config->restricted,
    .vprefix_len = 64,
    .tftp_path = net->tftp_path,
    /* The DNS proxy asks the host's resolver: a way out. */
    .disable_dns = config->restricted,
  };

  /* QEMU's defaults, which guests and documentation assume: 10.0.2.0/24, the host (gateway) .2, DNS
   * .3, DHCP from .15; fec0::/64 with the same host numbers. */
  inet_pton (AF_INET, "10.0.2.0", &cfg.vnetwork);
  inet_pton (AF_INET, "255.255.255.0", &cfg.vnetmask);
  inet_pton (AF_INET, "10.0.2.2", &cfg.vhost);
  net->gateway = cfg.vhost.s_addr;
  inet_pton (AF_INET, "10.0.2.3", &cfg.vnameserver);
  inet_pton (AF_INET, "10.0.2.15", &cfg.vdhcp_start);
  inet_pton (AF_INET6, "fec0::", &cfg.vprefix_addr6);
  inet_pton (AF_INET6, "fec0::2", &cfg.vhost6);
  inet_pton (AF_INET6, "fec0::3", &cfg.vnameserver6);

  net->slirp = slirp_new (&cfg, &slirp_callbacks, net);
  if (net->slirp == NULL)
    {
      g_set_error (error, HV_ERROR, HV_ERROR_FAILED, "libslirp refused the network configuration");
      return FALSE;
    }
  for (unsigned i = 0; i < config->n_forwards; i++)
    {
      const HvNetHostForward *forward = &config->forwards[i];

      errno = 0;
      if (slirp_add_hostfwd (net->slirp, forward->udp, forward->host_addr, forward->host_port,
                             forward->guest_addr, forward->guest_port) < 0)
        {
          int saved = errno;
          char host[INET_ADDRSTRLEN];

          inet_ntop (AF_INET, &forward->host_addr, host, sizeof host);
          g_set_error (error, HV_ERROR, HV_ERROR_FAILED, "cannot forward %s %s:%u to the guest: %s",
                       forward->udp ? "udp" : "tcp", host, forward->host_port,
                       saved ? g_strerror (saved) : "the port is taken");
          return FALSE;
        }
    }
  net->slirp_source = g_source_new (&slirp_source_funcs, sizeof (SlirpSource));
  ((SlirpSource *) net->slirp_source)->net = net;
  g_source_set_name (net->slirp_source, "vireo slirp");
  g_source_attach (net->slirp_source, net->context);
  return TRUE;
}

HvVirtioNet *
hv_virtio_net_new (const HvPlatform *platform, GMainContext *context, HvPci *pci,
                   const HvVirtioNetConfig *config, GError **error)
{
  HvVirtioNet *net = g_new0 (HvVirtioNet, 1);

  net->platform = *platform;
  net->platform.io_context = context;
  net->context = g_main_context_ref (context);
  net->name = g_strdup (config->name);
  g_queue_init (&net->pending);
  net->pollfds = g_array_new (FALSE, FALSE, sizeof (GPollFD));
  net->timers = g_ptr_array_new ();
  net->tx_buffer = g_malloc (HV_VIRTIO_NET_FRAME_MAX);
  net->restricted = config->restricted;
  net->forwards = g_memdup2 (config->forwards, sizeof (HvNetHostForward) * config->n_forwards);
  net->n_forwards = config->n_forwards;
  if (config->tftp_dir >= 0)
    net->tftp_path = g_strdup_printf ("/proc/self/fd/%d", config->tftp_dir);
  memcpy (net->config + CFG_MAC, config->mac, 6);
  hv_put_le16 (net->config + CFG_STATUS, VIRTIO_NET_S_LINK_UP);
  hv_put_le16 (net->config + CFG_MAX_VQ_PAIRS, 1);
  net->info = (HvVirtioDeviceInfo){
    .name = net->name,
    .device_id = VIRTIO_ID_NET,
    .pci_class = PCI_CLASS_NETWORK_ETHERNET,
    .features = HV_VIRTIO_FEATURE (VIRTIO_NET_F_MAC) | HV_VIRTIO_FEATURE (VIRTIO_NET_F_STATUS)
                | HV_VIRTIO_FEATURE (VIRTIO_NET_F_MRG_RXBUF),
    .n_queues = 2,
    .queue_size = QUEUE_SIZE,
    .config_size = CFG_LEN,
    .config_read = net_config_read,
    .driver_ok = net_driver_ok,
    .queue_notify = net_queue_notify,
    .reset = net_reset,
  };
  net->vdev = hv_virtio_pci_new (&net->platform, pci, &net->info, net, error);
  if (net->vdev == NULL)
    {
      hv_virtio_net_free (net);
      return NULL;
    }
  hv_virtio_lock (net->vdev);
  if (!start_slirp (net, config, error))
    {
      hv_virtio_unlock (net->vdev);
      hv_virtio_net_free (net);
      return NULL;
    }
  hv_virtio_unlock (net->vdev);
  return net;
}

void
hv_virtio_net_free (HvVirtioNet *net)
{
  if (net == NULL)
    return;
  if (net->vdev)
    {
      /* Nothing on the context calls slirp or touches the queues after this (callbacks check closing);
       * the transport's teardown then waits for whatever is being dispatched. */
      hv_virtio_lock (net->vdev);
      net->closing = TRUE;
      for (guint i = 0; i < net->timers->len; i++)
        timer_disarm (net->timers->pdata[i]);
      hv_virtio_unlock (net->vdev);
    }
  if (net->slirp_source)
    {
      g_source_destroy (net->slirp_source);
      g_source_unref (net->slirp_source);
    }
  hv_iothread_barrier (net->context);
  hv_virtio_free (net->vdev);
  if (net->slirp)
    slirp_cleanup (net->slirp);
  drop_pending_locked (net);
  g_ptr_array_unref (net->timers);
  g_array_unref (net->pollfds);
  g_main_context_unref (net->context);
  g_free (net->tx_buffer);
  g_free (net->tftp_path);
  g_free (net->forwards);
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

GVariant *
hv_virtio_net_save_state (HvVirtioNet *net)
{
  g_auto (GVariantDict) dict = G_VARIANT_DICT_INIT (NULL);

  hv_virtio_lock (net->vdev);
  g_variant_dict_insert_value (&dict, "virtio", hv_virtio_save_state (net->vdev));
  g_variant_dict_insert_value (&dict, "mac", hv_state_new_bytes (net->config + CFG_MAC, 6));
  hv_virtio_unlock (net->vdev);
  return g_variant_dict_end (&dict);
}

gboolean
hv_virtio_net_load_state (HvVirtioNet *net, GVariant *state, GError **error)
{
  g_autoptr (GVariant) transport = NULL;
  uint8_t mac[6];
  gboolean ok;

  if (!hv_state_get_bytes (state, net->name, "mac", mac, 6, 6, NULL, error))
    return FALSE;
  /* The guest's driver read the MAC at probe time and keeps using it. */
  if (memcmp (mac, net->config + CFG_MAC, 6) != 0)
    {
      hv_state_set_bad (error, net->name,
                        "it was saved with MAC %02x:%02x:%02x:%02x:%02x:%02x, which the machine no longer has",
                        mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]);
      return FALSE;
    }
  transport = hv_state_lookup (state, net->name, "virtio", G_VARIANT_TYPE_VARDICT, error);
  if (transport == NULL)
    return FALSE;
  hv_virtio_lock (net->vdev);
  ok = hv_virtio_load_state (net->vdev, transport, error);
  if (ok)
    drop_pending_locked (net);
  hv_virtio_unlock (net->vdev);
  return ok;
}

/* The "virtio-net" kind. */

static gboolean
net_realize (HvDevice *device, GError **error)
{
  const HvPlatform *platform = hv_device_get_platform (device);
  g_autoptr (GArray) forwards = g_array_new (FALSE, FALSE, sizeof (HvNetHostForward));
  HvVirtioNetConfig config = { .name = device->id, .tftp_dir = hv_device_get_fd_option (device, "tftp") };
  GMainContext *context;
  const char *text;

  /* 52:54:00 is QEMU's prefix, and its first NIC's address; each further NIC counts up. */
  memcpy (config.mac, (const uint8_t[]){ 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 }, 6);
  config.mac[5] = (uint8_t) (config.mac[5] + device->index);
  if (g_variant_lookup (device->options, "mac", "&s", &text) && !hv_net_parse_mac (text, config.mac, error))
    return FALSE;
  if (g_variant_lookup (device->options, "hostfwd", "&s", &text)
      && !hv_net_parse_hostfwd (text, forwards, error))
    return FALSE;
  if (g_variant_lookup (device->options, "backend", "&s", &text) && strcmp (text, "user") != 0)
    {
      g_set_error (error, HV_ERROR, HV_ERROR_INVALID_ARGUMENT, "there is no network backend “%s”", text);
      return FALSE;
    }
  g_variant_lookup (device->options, "restrict", "b", &config.restricted);
  config.forwards = (const HvNetHostForward *) forwards->data;
  config.n_forwards = forwards->len;

  /* slirp polls sockets and may be busy with a burst of traffic: it gets a thread of its own. */
  context = hv_platform_get_io_context (platform, device->id, error);
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
  return hv_virtio_net_load_state (device->impl, state, error);
}

const HvDeviceKind hv_virtio_net_kind = {
  .info = &hv_kind_info_virtio_net,
  .order = HV_DEVICE_ORDER_PCI,
  .state_version = 1,
  .realize = net_realize,
  .teardown = net_teardown,
  .quiesce = net_quiesce,
  .save = net_save,
  .load = net_load,
};
