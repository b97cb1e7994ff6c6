/* virtio-net.c — the virtio-net NIC (virtio 1.2 §5.1): frames the guest transmits go to its network,
 * frames from the network go to the guest's receive queue (waiting, bounded, while it has no buffers).
 * The network is user-mode NAT (net/user.c) on the device's own I/O thread, which also takes the queue
 * notifications; everything here runs with the transport lock held, which the network shares.  No
 * offloads are offered: slirp wants whole frames with valid checksums, so the guest computes them (no
 * CSUM, GUEST_CSUM, TSO). */
#include "bytes.h"
#include "virtio-net.h"
#include "device.h"
#include "iothread.h"
#include "net/user.h"
#include "state.h"
#include "virtio/virtio.h"

#include <string.h>

#define VIRTIO_ID_NET              1
#define PCI_CLASS_NETWORK_ETHERNET 0x020000

#define VIRTIO_NET_F_MAC       5
#define VIRTIO_NET_F_MRG_RXBUF 15
#define VIRTIO_NET_F_STATUS    16

#define VIRTIO_NET_S_LINK_UP 1

#define RXQ        0
#define TXQ        1
#define QUEUE_SIZE 256

/* struct virtio_net_hdr with VERSION_1: flags, gso_type, hdr_len, gso_size, csum_start, csum_offset,
 * num_buffers. */
#define HDR_LEN         12
#define HDR_NUM_BUFFERS 10

/* struct virtio_net_config: mac, status, max_virtqueue_pairs. */
#define CFG_MAC          0
#define CFG_STATUS       6
#define CFG_MAX_VQ_PAIRS 8
#define CFG_LEN          10

/* The shortest frame worth giving the network: an Ethernet header. */
#define ETH_HEADER_LEN 14

struct _HvVirtioNet
{
  HvPlatform platform; /* the machine's, with io_context set to the device's own */
  GMainContext *context;
  HvVirtio *vdev;
  HvVirtioDeviceInfo info;
  char *name;
  uint8_t config[CFG_LEN];
  HvNetUser *network;

  /* Guarded by the transport's lock (hv_virtio_lock). */
  gboolean closing; /* being freed: nothing goes to the network or the guest any more */
  GQueue pending;   /* GBytes: frames for the guest, oldest first */
  gsize pending_bytes;
  HvVirtioNetStats stats;
  uint8_t *tx_buffer; /* HV_VIRTIO_NET_FRAME_MAX bytes */
};

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
      if (elem->out_bytes < HDR_LEN + ETH_HEADER_LEN || elem->out_bytes - HDR_LEN > HV_VIRTIO_NET_FRAME_MAX)
        net->stats.tx_dropped++;
      else
        {
          gsize len = (gsize) (elem->out_bytes - HDR_LEN);
          hv_virtqueue_element_read (elem, HDR_LEN, net->tx_buffer, len);
          if (net->closing)
            ;
          else if (hv_net_user_send (net->network, net->tx_buffer, len))
            net->stats.tx_frames++;
          else
            net->stats.tx_filtered++;
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

static void
net_lock (void *opaque)
{
  HvVirtioNet *net = opaque;
  hv_virtio_lock (net->vdev);
}

static void
net_unlock (void *opaque)
{
  HvVirtioNet *net = opaque;
  hv_virtio_unlock (net->vdev);
}

static void
net_receive_locked (void *opaque, const uint8_t *frame, gsize len)
{
  receive_locked (opaque, frame, len);
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
  net->tx_buffer = g_malloc (HV_VIRTIO_NET_FRAME_MAX);
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
  net->network = hv_net_user_new (context,
                                  &(HvNetUserConfig){
                                      .restricted = config->restricted,
                                      .forwards = config->forwards,
                                      .n_forwards = config->n_forwards,
                                      .tftp_dir = config->tftp_dir,
                                      .lock = net_lock,
                                      .unlock = net_unlock,
                                      .receive = net_receive_locked,
                                      .opaque = net,
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
  hv_virtio_free (net->vdev);
  drop_pending_locked (net);
  g_main_context_unref (net->context);
  g_free (net->tx_buffer);
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
  /* A thread of its own, of the role that may make network sockets (slirp's connections). */
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
  return hv_virtio_net_load_state (device->impl, state, error);
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
  .state_version = 1,
  .realize = net_realize,
  .teardown = net_teardown,
  .quiesce = net_quiesce,
  .save = net_save,
  .load = net_load,
  .boot_path = net_boot_path,
};
