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
 * both).
 *
 * Here: the transport's and the network's callbacks, making and freeing the NIC, its saved state and
 * its kind; what the queues carry (frames both ways, the control queue) is virtio-net-queues.c. */
#include "virtio-net-private.h"
#include "bytes.h"
#include "device.h"
#include "iothread.h"
#include "state.h"

#include <linux/if_tun.h>
#include <string.h>

#define VIRTIO_ID_NET              1
#define PCI_CLASS_NETWORK_ETHERNET 0x020000

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
    virtio_net_flush_rx_locked (&net->pairs[i]);
}

static void
net_queue_notify (void *opaque, HvVirtqueue *vq)
{
  HvVirtioNet *net = opaque;

  if (vq->index >= 2 * net->max_pairs)
    virtio_net_drain_control_locked (net, vq);
  else if (vq->index % 2 == 0)
    virtio_net_flush_rx_locked (&net->pairs[vq->index / 2]);
  else
    virtio_net_drain_tx_locked (&net->pairs[vq->index / 2]);
}

static void
net_reset (void *opaque)
{
  HvVirtioNet *net = opaque;

  virtio_net_drop_pending_locked (net);
  /* One pair until the next driver says more (§5.1.6.5.5). */
  virtio_net_set_active_pairs_locked (net, 1);
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
  virtio_net_receive_locked (opaque, NULL, frame, len);
}

static gboolean
net_receive_tap_locked (void *opaque, const uint8_t *packet, gsize len)
{
  return virtio_net_receive_locked (opaque, packet, packet + HDR_LEN, len - HDR_LEN);
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
      virtio_net_set_active_pairs_locked (net, 1);
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
  virtio_net_drop_pending_locked (net);
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
        virtio_net_drop_pending_locked (net);
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
      virtio_net_drop_pending_locked (net);
      virtio_net_set_active_pairs_locked (net, pairs);
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
