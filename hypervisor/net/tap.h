/* tap.h — a NIC's network as a TAP device (a bridge port, made by whoever has CAP_NET_ADMIN and handed
 * over as an fd): frames with their virtio-net header go to it and come from it on the NIC's I/O thread.
 * The TAP is opened with IFF_TAP | IFF_NO_PI | IFF_VNET_HDR; here its header becomes virtio 1.x's 12
 * bytes, so the guest's header passes through as it is and offloads (checksum, TSO) are honoured by the
 * host kernel. */
#pragma once

#include <glib.h>
#include <stdint.h>
#include <sys/uio.h>

typedef struct _HvNetTap HvNetTap;

/* The header in front of every frame both ways (struct virtio_net_hdr_v1, num_buffers included). */
#define HV_NET_TAP_HDR_LEN 12

typedef struct
{
  int fd; /* the TAP (not owned; made non-blocking) */

  /* The NIC's lock: held around every call below but new and free, taken by the TAP's source, and held
   * while @receive runs (on the context's thread).  @receive gets the header and the frame in one
   * buffer, which it copies if it keeps it; it returns FALSE when the guest has no room now (the packet
   * waits in the NIC): the TAP is then not read any more until hv_net_tap_set_reading (TRUE). */
  void (*lock) (void *opaque);
  void (*unlock) (void *opaque);
  gboolean (*receive) (void *opaque, const uint8_t *packet, gsize len);
  /* Lock held: a burst of @receive calls starts (@starting) or has ended, so that the NIC can interrupt
   * the guest once for all of them.  May be NULL. */
  void (*batch) (void *opaque, gboolean starting);
  void *opaque;
} HvNetTapConfig;

/* Checks that @config->fd is a TAP with a virtio-net header and sets the header to 12 bytes, to be read
 * on @context once started.  A detached queue of a multiqueue TAP is attached first. */
HvNetTap *hv_net_tap_new (GMainContext *context, const HvNetTapConfig *config, GError **error);
/* Starts reading (without the lock): @receive may be called from now on. */
void hv_net_tap_start (HvNetTap *tap);
/* Without the lock.  Once it returns, @receive is not called any more. */
void hv_net_tap_free (HvNetTap *tap);

/* A packet (header and frame) from the guest, in guest memory (lock held).  FALSE when the TAP refused
 * it (its queue full, a header the kernel rejects, the interface down). */
gboolean hv_net_tap_send (HvNetTap *tap, const struct iovec *iov, unsigned n_iov);
/* Stops or resumes reading the TAP (lock held): frames wait in the kernel's queue meanwhile, which drops
 * the newest when it is full, as a NIC does. */
void hv_net_tap_set_reading (HvNetTap *tap, gboolean reading);
/* The offloads the guest's driver takes (TUN_F_* flags): what the TAP may hand us (lock held).  FALSE
 * when the kernel refused them (then none are set). */
gboolean hv_net_tap_set_offloads (HvNetTap *tap, unsigned tun_flags);
/* Whether the kernel takes these offloads from this TAP (probed once at creation). */
gboolean hv_net_tap_has_offloads (HvNetTap *tap);
/* Whether it also takes UDP segmentation (TUN_F_USO4 | TUN_F_USO6, Linux 6.2), both or neither. */
gboolean hv_net_tap_has_uso (HvNetTap *tap);

/* A TAP made with IFF_MULTI_QUEUE has one fd per queue; the kernel spreads the frames it sends among the
 * attached ones.  Whether this one is such a queue; its interface's name. */
gboolean hv_net_tap_is_multi_queue (HvNetTap *tap);
const char *hv_net_tap_get_name (HvNetTap *tap);
/* Attaches the queue to its TAP or detaches it (IFF_ATTACH_QUEUE, IFF_DETACH_QUEUE; lock held): a
 * detached queue gets no frames from the kernel and is not read.  Freeing attaches it again, so the fd
 * goes back as it came.  FALSE (logged) when the kernel refused. */
gboolean hv_net_tap_set_attached (HvNetTap *tap, gboolean attached);
