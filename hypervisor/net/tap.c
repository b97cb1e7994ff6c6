/* tap.c — a NIC's network as a TAP device: frames with their virtio-net header go to the TAP with one
 * writev from guest memory, and come from it into a buffer on the NIC's I/O thread, which hands them to
 * the NIC.  The TAP's fd is polled by a GSource whose events are switched off while the guest has no
 * receive buffers, so the kernel's queue (bounded, dropping) holds what waits, not ours. */
#include "net/tap.h"
#include "hv.h"
#include "iothread.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

/* The longest packet read: the header and a 64 KiB GSO frame with its Ethernet and VLAN headers.  A
 * longer one is cut by read(), seen as filling the buffer, and dropped. */
#define PACKET_MAX (HV_NET_TAP_HDR_LEN + 65536 + 18)
/* Frames read per dispatch, so that one busy TAP does not keep the thread from its queue notifications. */
#define READS_PER_DISPATCH 64

/* What the kernel may hand the guest once it takes them: checksum left to do, TSO, with ECN. */
#define TUN_OFFLOADS (TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_TSO_ECN)
/* UDP segmentation (Linux 6.2; Debian 12's headers are older).  UFO, its predecessor, is deprecated in
 * Linux (TUNSETOFFLOAD takes TUN_F_UFO only to keep old QEMUs working) and is not asked for. */
#ifndef TUN_F_USO4
#define TUN_F_USO4 0x20
#define TUN_F_USO6 0x40
#endif

typedef struct
{
  GSource source;
  HvNetTap *tap;
} TapSource;

struct _HvNetTap
{
  GMainContext *context;
  int fd;
  void (*lock) (void *opaque);
  void (*unlock) (void *opaque);
  gboolean (*receive) (void *opaque, const uint8_t *packet, gsize len);
  void (*batch) (void *opaque, gboolean starting);
  void *opaque;
  gboolean has_offloads;
  gboolean has_uso;
  gboolean multi_queue; /* made with IFF_MULTI_QUEUE: one fd of several queues */
  char name[IFNAMSIZ];
  uint8_t *buffer; /* PACKET_MAX bytes, used on the context's thread only */

  /* Guarded by the NIC's lock. */
  gboolean closing;
  gboolean reading;
  gboolean broken;   /* reads fail: not polled any more */
  gboolean detached; /* a queue the kernel sends nothing (IFF_DETACH_QUEUE): not polled */
  GSource *source;
  gpointer fd_tag;
};

static gboolean
tap_source_dispatch (GSource *source, GSourceFunc callback, gpointer data)
{
  HvNetTap *tap = ((TapSource *) source)->tap;

  /* The lock is held for the whole burst (reads do not block): one interrupt for the guest at its end. */
  tap->lock (tap->opaque);
  if (tap->batch)
    tap->batch (tap->opaque, TRUE);
  for (unsigned i = 0; i < READS_PER_DISPATCH && !tap->closing && tap->reading && !tap->detached; i++)
    {
      ssize_t n = read (tap->fd, tap->buffer, PACKET_MAX);

      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0 && (errno == EAGAIN || errno == EIO))
        break; /* drained (EIO: the interface is down; nothing until it is up again) */
      if (n < 0)
        {
          /* The TAP is gone (EBADFD: someone deleted the interface): poll() would report it for ever, so
           * the fd is not polled again; the guest's frames go nowhere, as with a cut cable. */
          g_warning ("tap: the TAP device cannot be read any more: %s", g_strerror (errno));
          tap->broken = TRUE;
          /* Out of the poll set altogether: poll() reports errors even for no events. */
          g_source_remove_unix_fd (tap->source, tap->fd_tag);
          break;
        }
      if (n < HV_NET_TAP_HDR_LEN || n >= PACKET_MAX)
        continue; /* no header, or cut: nothing the guest could use */
      /* A frame read while the guest had no room is still taken (it waits in the NIC); the next waits in
       * the kernel. */
      if (!tap->receive (tap->opaque, tap->buffer, (gsize) n))
        hv_net_tap_set_reading (tap, FALSE);
    }
  if (tap->batch)
    tap->batch (tap->opaque, FALSE);
  tap->unlock (tap->opaque);
  return G_SOURCE_CONTINUE;
}

static GSourceFuncs tap_source_funcs = {
  .dispatch = tap_source_dispatch,
};

HvNetTap *
hv_net_tap_new (GMainContext *context, const HvNetTapConfig *config, GError **error)
{
  struct ifreq ifr = { 0 };
  int hdr_len = HV_NET_TAP_HDR_LEN;
  int flags;
  HvNetTap *tap;

  if (ioctl (config->fd, TUNGETIFF, &ifr) < 0)
    {
      int saved = errno;
      g_set_error (error, HV_ERROR, HV_ERROR_INVALID_ARGUMENT, "the network fd is not a TAP device: %s",
                   g_strerror (saved));
      return NULL;
    }
  if ((ifr.ifr_flags & (IFF_TAP | IFF_TUN)) != IFF_TAP || !(ifr.ifr_flags & IFF_NO_PI)
      || !(ifr.ifr_flags & IFF_VNET_HDR))
    {
      g_set_error (error, HV_ERROR, HV_ERROR_INVALID_ARGUMENT,
                   "the TAP device %s was not made with IFF_TAP, IFF_NO_PI and IFF_VNET_HDR", ifr.ifr_name);
      return NULL;
    }
  if (ioctl (config->fd, TUNSETVNETHDRSZ, &hdr_len) < 0)
    {
      int saved = errno;
      g_set_error (error, HV_ERROR, HV_ERROR_FAILED, "cannot set the TAP device %s's header size: %s",
                   ifr.ifr_name, g_strerror (saved));
      return NULL;
    }
  /* A queue of a multiqueue TAP that was left detached gets no frames until it is attached again. */
  if (ifr.ifr_flags & IFF_DETACH_QUEUE)
    {
      struct ifreq attach = { .ifr_flags = IFF_ATTACH_QUEUE };
      if (ioctl (config->fd, TUNSETQUEUE, &attach) < 0)
        {
          int saved = errno;
          g_set_error (error, HV_ERROR, HV_ERROR_FAILED, "cannot attach the queue of the TAP device %s: %s",
                       ifr.ifr_name, g_strerror (saved));
          return NULL;
        }
    }
  flags = fcntl (config->fd, F_GETFL);
  if (flags < 0 || fcntl (config->fd, F_SETFL, flags | O_NONBLOCK) < 0)
    {
      int saved = errno;
      g_set_error (error, HV_ERROR, HV_ERROR_FAILED, "cannot make the TAP device %s non-blocking: %s",
                   ifr.ifr_name, g_strerror (saved));
      return NULL;
    }

  tap = g_new0 (HvNetTap, 1);
  tap->context = g_main_context_ref (context);
  tap->fd = config->fd;
  tap->lock = config->lock;
  tap->unlock = config->unlock;
  tap->receive = config->receive;
  tap->batch = config->batch;
  tap->opaque = config->opaque;
  tap->buffer = g_malloc (PACKET_MAX);
  /* Offloads the kernel takes now it will take later: ask once, then hand the guest none until its
   * driver says which it takes. */
  tap->has_offloads = ioctl (tap->fd, TUNSETOFFLOAD, (unsigned long) TUN_OFFLOADS) == 0;
  tap->has_uso = tap->has_offloads
                 && ioctl (tap->fd, TUNSETOFFLOAD, (unsigned long) (TUN_OFFLOADS | TUN_F_USO4 | TUN_F_USO6))
                        == 0;
  ioctl (tap->fd, TUNSETOFFLOAD, 0ul);
  tap->multi_queue = (ifr.ifr_flags & IFF_MULTI_QUEUE) != 0;
  g_strlcpy (tap->name, ifr.ifr_name, sizeof tap->name);
  tap->reading = TRUE;
  tap->source = g_source_new (&tap_source_funcs, sizeof (TapSource));
  ((TapSource *) tap->source)->tap = tap;
  tap->fd_tag = g_source_add_unix_fd (tap->source, tap->fd, G_IO_IN);
  g_source_set_static_name (tap->source, "vireo tap");
  return tap;
}

void
hv_net_tap_start (HvNetTap *tap)
{
  g_source_attach (tap->source, tap->context);
}

void
hv_net_tap_free (HvNetTap *tap)
{
  if (tap == NULL)
    return;
  if (g_source_get_context (tap->source) != NULL)
    {
      tap->lock (tap->opaque);
      tap->closing = TRUE;
      tap->unlock (tap->opaque);
    }
  g_source_destroy (tap->source);
  g_source_unref (tap->source);
  /* A read being handled right now finishes before the buffer goes. */
  hv_iothread_barrier (tap->context);
  /* The fd goes back as it came: a machine built again from the same spec finds every queue attached. */
  if (tap->detached)
    {
      struct ifreq attach = { .ifr_flags = IFF_ATTACH_QUEUE };
      ioctl (tap->fd, TUNSETQUEUE, &attach);
    }
  g_main_context_unref (tap->context);
  g_free (tap->buffer);
  g_free (tap);
}

gboolean
hv_net_tap_send (HvNetTap *tap, const struct iovec *iov, unsigned n_iov)
{
  ssize_t n;

  if (tap->closing)
    return FALSE;
  do
    n = writev (tap->fd, iov, (int) n_iov);
  while (n < 0 && errno == EINTR);
  /* EAGAIN: the TAP's queue is full (its reader is slow); EINVAL: a header the kernel refuses; EIO: the
   * interface is down.  The frame is lost as on a wire. */
  return n >= 0;
}

/* Polled for frames while reading and attached. */
static void
update_poll (HvNetTap *tap)
{
  g_source_modify_unix_fd (tap->source, tap->fd_tag, tap->reading && !tap->detached ? G_IO_IN : 0);
}

void
hv_net_tap_set_reading (HvNetTap *tap, gboolean reading)
{
  if (tap->closing || tap->broken || tap->reading == reading)
    return;
  tap->reading = reading;
  update_poll (tap);
}

gboolean
hv_net_tap_set_attached (HvNetTap *tap, gboolean attached)
{
  struct ifreq ifr = { .ifr_flags = attached ? IFF_ATTACH_QUEUE : IFF_DETACH_QUEUE };

  if (tap->broken || tap->detached == !attached)
    return TRUE;
  if (ioctl (tap->fd, TUNSETQUEUE, &ifr) < 0)
    {
      g_warning ("tap: cannot %s a queue of the TAP device %s: %s", attached ? "attach" : "detach", tap->name,
                 g_strerror (errno));
      return FALSE;
    }
  tap->detached = !attached;
  update_poll (tap);
  return TRUE;
}

gboolean
hv_net_tap_set_offloads (HvNetTap *tap, unsigned tun_flags)
{
  if (ioctl (tap->fd, TUNSETOFFLOAD, (unsigned long) tun_flags) == 0)
    return TRUE;
  g_debug ("tap: the kernel refused offloads %#x: %s", tun_flags, g_strerror (errno));
  ioctl (tap->fd, TUNSETOFFLOAD, 0ul);
  return FALSE;
}

gboolean
hv_net_tap_has_offloads (HvNetTap *tap)
{
  return tap->has_offloads;
}

gboolean
hv_net_tap_has_uso (HvNetTap *tap)
{
  return tap->has_uso;
}

gboolean
hv_net_tap_is_multi_queue (HvNetTap *tap)
{
  return tap->multi_queue;
}

const char *
hv_net_tap_get_name (HvNetTap *tap)
{
  return tap->name;
}
