/* virtio.h — the device-facing virtio API: split virtqueues (virtqueue.c) and the virtio device object
 * behind the modern (virtio 1.x) PCI transport (pci.c, its saved state in pci-state.c, MSI-X in msix.c).
 *
 * A device model (virtio-input now, blk and net later) describes itself in an HvVirtioDeviceInfo and
 * creates its transport with hv_virtio_pci_new().  The transport emulates the registers on vCPU threads;
 * the driver's queue notifications arrive by ioeventfd on the VM's I/O thread (platform->io_context),
 * where the device's queue_notify callback runs; interrupts leave by irqfd (an MSI-X vector's GSI route)
 * or, without MSI-X, on the slot's INTx line.
 *
 * Locking: each device has one lock, the transport's (hv_virtio_lock).  Every callback runs with it held,
 * and every hv_virtio_* / hv_virtqueue_* call below except hv_virtio_pci_new, hv_virtio_free and
 * hv_virtio_lock itself expects it held.  Work started from elsewhere (a host thread delivering input)
 * takes it first.
 *
 * Everything a guest writes — registers, rings, descriptors — is untrusted: a driver that breaks the
 * protocol gets its device marked DEVICE_NEEDS_RESET, never a crash. */
#pragma once

#include "platform.h"
#include "memory.h"
#include "devices/devices.h"

#include <sys/uio.h>

/* Reserved feature bits (virtio 1.2 §6). */
#define HV_VIRTIO_F_INDIRECT_DESC 28
#define HV_VIRTIO_F_EVENT_IDX     29
#define HV_VIRTIO_F_VERSION_1     32
#define HV_VIRTIO_FEATURE(bit)    (G_GUINT64_CONSTANT (1) << (bit))

/* Device status bits (§2.1). */
#define HV_VIRTIO_STATUS_ACKNOWLEDGE 0x01
#define HV_VIRTIO_STATUS_DRIVER      0x02
#define HV_VIRTIO_STATUS_DRIVER_OK   0x04
#define HV_VIRTIO_STATUS_FEATURES_OK 0x08
#define HV_VIRTIO_STATUS_NEEDS_RESET 0x40
#define HV_VIRTIO_STATUS_FAILED      0x80

#define HV_VIRTIO_MSI_NO_VECTOR 0xffff

/* Split virtqueue layout (§2.7). */
#define HV_VRING_DESC_F_NEXT          1
#define HV_VRING_DESC_F_WRITE         2
#define HV_VRING_DESC_F_INDIRECT      4
#define HV_VRING_AVAIL_F_NO_INTERRUPT 1
#define HV_VRING_USED_F_NO_NOTIFY     1
#define HV_VRING_DESC_SIZE            16
#define HV_VRING_DESC_ALIGN           16
#define HV_VRING_AVAIL_ALIGN          2
#define HV_VRING_USED_ALIGN           4
/* Bytes of each area for a queue of @size entries, including the event-index fields. */
#define HV_VRING_DESC_BYTES(size)  ((uint64_t) (size) *HV_VRING_DESC_SIZE)
#define HV_VRING_AVAIL_BYTES(size) (6 + 2 * (uint64_t) (size))
#define HV_VRING_USED_BYTES(size)  (6 + 8 * (uint64_t) (size))

#define HV_VIRTQUEUE_MAX_SIZE 32768
/* The most buffers one chain may have, direct and indirect together (Linux's UIO_MAXIOV, QEMU's limit). */
#define HV_VIRTQUEUE_MAX_SEGMENTS 1024

/* ---- Split virtqueues (virtqueue.c) ---- */

/* One queue's device side.  The fields belong to virtqueue.c; the transport reads and restores the
 * indices for saved states. */
typedef struct
{
  HvMemory *memory;
  unsigned index;
  uint16_t size;      /* 0 while stopped */
  gboolean event_idx; /* VIRTIO_F_EVENT_IDX negotiated */
  gboolean indirect;  /* VIRTIO_F_INDIRECT_DESC negotiated */
  gboolean broken;    /* the driver broke the ring: nothing is popped until the queue restarts */
  uint8_t *desc;      /* host addresses of the three areas, checked when started */
  uint8_t *avail;
  uint8_t *used;
  uint16_t last_avail_idx; /* the next available entry the device will take */
  uint16_t used_idx;       /* the device's copy of used->idx */
  uint16_t signalled_used; /* used_idx at the last interrupt (event index) */
  gboolean signalled_used_valid;
  gboolean quiet; /* the device asked the driver not to notify (hv_virtqueue_set_notification) */
} HvVirtqueue;

/* One descriptor chain, popped from a queue: the device-readable buffers first, then the device-writable
 * ones.  Every iov points into guest RAM and was checked to lie inside it. */
typedef struct
{
  uint16_t head;  /* what hv_virtqueue_push returns to the driver */
  unsigned n_out; /* device-readable segments: iov[0 .. n_out) */
  unsigned n_in;  /* device-writable segments: iov[n_out .. n_out + n_in) */
  uint64_t out_bytes;
  uint64_t in_bytes;
  struct iovec iov[];
} HvVirtqueueElement;

void hv_virtqueue_element_free (HvVirtqueueElement *elem);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (HvVirtqueueElement, hv_virtqueue_element_free)

/* Copies from the readable buffers, starting @offset bytes in; returns the bytes copied. */
gsize hv_virtqueue_element_read (const HvVirtqueueElement *elem, gsize offset, void *buffer, gsize len);
/* Copies into the writable buffers, starting @offset bytes in; returns the bytes copied. */
gsize hv_virtqueue_element_write (HvVirtqueueElement *elem, gsize offset, const void *data, gsize len);

/* A stopped queue on @memory. */
void hv_virtqueue_init (HvVirtqueue *vq, HvMemory *memory, unsigned index);
/* Starts using the rings the driver set up: @size a power of two up to HV_VIRTQUEUE_MAX_SIZE, each area
 * aligned as §2.7 requires and inside RAM.  @features are the negotiated ones (event index, indirect
 * descriptors).  Fails with HV_ERROR_INVALID_ARGUMENT saying what is wrong; the queue stays stopped. */
gboolean hv_virtqueue_start (HvVirtqueue *vq, uint16_t size, uint64_t desc_addr, uint64_t driver_addr,
                             uint64_t device_addr, uint64_t features, GError **error);
/* Back to stopped, indices zero (device reset). */
void hv_virtqueue_stop (HvVirtqueue *vq);
gboolean hv_virtqueue_is_ready (const HvVirtqueue *vq);

/* Chains the driver has made available and the device has not taken yet (0 when stopped or broken).  A
 * value above the queue size means a broken ring, which the next pop reports. */
unsigned hv_virtqueue_available (const HvVirtqueue *vq);
/* Takes the next available chain.  NULL without @error when there is none; NULL with @error (and the
 * queue marked broken) when the driver broke the protocol: a descriptor index or address out of range,
 * a loop, too many segments, a writable buffer before a readable one, an indirect table where none may
 * be.  Devices usually call hv_virtio_pop(), which also marks the device NEEDS_RESET. */
HvVirtqueueElement *hv_virtqueue_pop (HvVirtqueue *vq, GError **error);
/* Gives back the last @count chains popped (and not pushed), to be popped again later: a device that
 * needs several chains for one request (virtio-net's mergeable receive buffers) and found too few. */
void hv_virtqueue_unpop (HvVirtqueue *vq, unsigned count);
/* Returns a chain to the driver with @written bytes stored in its writable buffers. */
void hv_virtqueue_push (HvVirtqueue *vq, const HvVirtqueueElement *elem, uint32_t written);
/* Whether the driver wants an interrupt for what was pushed since the last one that was sent (event index
 * or VRING_AVAIL_F_NO_INTERRUPT).  Counts as sending one when it returns TRUE. */
gboolean hv_virtqueue_should_notify (HvVirtqueue *vq);
/* Whether the driver should notify (ring the doorbell) when it makes buffers available: off while the
 * device looks at the ring by itself (an I/O thread polling), on before it stops looking.  Without
 * EVENT_IDX this is the used ring's NO_NOTIFY flag; with it, the index the driver notifies at, which
 * stays behind while notifications are off.  Turning them on ends with a full barrier, so that the
 * ring's index read after it is the driver's latest or the driver sees notifications on. */
void hv_virtqueue_set_notification (HvVirtqueue *vq, gboolean enable);

/* ---- The device behind a transport (pci.c) ---- */

typedef struct _HvVirtio HvVirtio;

#define HV_VIRTIO_MAX_QUEUES 64
#define HV_VIRTIO_MAX_CONFIG 0x1000

typedef struct
{
  const char *name;     /* unique in the machine: the PCI bridge matches saved states by it */
  uint16_t device_id;   /* virtio device ID (§5), e.g. 18 for input */
  uint32_t pci_class;   /* PCI class code: base << 16 | subclass << 8 | programming interface */
  uint64_t features;    /* device-specific features offered; the transport adds VERSION_1,
                                * INDIRECT_DESC and EVENT_IDX */
  unsigned n_queues;    /* 1 .. HV_VIRTIO_MAX_QUEUES */
  uint16_t queue_size;  /* each queue's maximum size, a power of two */
  unsigned config_size; /* bytes of device-specific configuration, 0 .. HV_VIRTIO_MAX_CONFIG */
  GBytes *rom;          /* an option ROM behind the ROM BAR (iPXE for a NIC), or NULL */

  /* Callbacks, with the device lock held; any may be NULL.  Accesses to the device configuration are cut
   * to config_size (offset + len <= config_size). */
  void (*config_read) (void *opaque, unsigned offset, uint8_t *data, unsigned len);
  void (*config_write) (void *opaque, unsigned offset, const uint8_t *data, unsigned len);
  /* The driver set FEATURES_OK with @features (already checked to be offered and to include
   * VERSION_1); FALSE refuses the combination. */
  gboolean (*features_ok) (void *opaque, uint64_t features);
  /* The driver set DRIVER_OK. */
  void (*driver_ok) (void *opaque);
  /* The driver notified @vq (I/O thread).  Only called while the driver is OK and @vq is running. */
  void (*queue_notify) (void *opaque, HvVirtqueue *vq);
  /* The driver reset the device: forget everything it set up. */
  void (*reset) (void *opaque);
} HvVirtioDeviceInfo;

/* Creates the device's transport and puts it on @pci: vendor 1af4, device 0x1040 + device_id, revision 1,
 * the virtio common/notify/ISR/device configuration capabilities in a 64-bit memory BAR (4) and MSI-X
 * with one vector per queue plus one for configuration changes (table and PBA in BAR 1).  @platform
 * must provide memory, mmio and io_context; ioeventfds, MSI routes and irqfds are used when it has them.
 * @info and @opaque must outlive the device. */
HvVirtio *hv_virtio_pci_new (const HvPlatform *platform, HvPci *pci, const HvVirtioDeviceInfo *info,
                             void *opaque, GError **error);
/* Only once the VM no longer runs: the PCI bridge keeps pointing at the device. */
void hv_virtio_free (HvVirtio *vdev);
/* The device's path for the firmware's boot order (hv_pci_boot_path); no lock needed. */
char *hv_virtio_boot_path (HvVirtio *vdev, const char *name);

void hv_virtio_lock (HvVirtio *vdev);
void hv_virtio_unlock (HvVirtio *vdev);

/* The rest with the lock held. */
HvVirtqueue *hv_virtio_get_queue (HvVirtio *vdev, unsigned index);
/* The features the driver accepted (valid once FEATURES_OK is set). */
uint64_t hv_virtio_get_features (HvVirtio *vdev);
/* DRIVER_OK is set and NEEDS_RESET is not: the device may use its queues. */
gboolean hv_virtio_is_driver_ok (HvVirtio *vdev);
/* Stops queue work while the VM is paused, so a saved state and the memory saved with it agree: no
 * queue_notify callback runs and hv_virtio_pop() gives nothing until unpaused, when every running queue
 * is looked at again (notifications that came meanwhile are not lost).  Register emulation goes on. */
void hv_virtio_set_paused (HvVirtio *vdev, gboolean paused);
gboolean hv_virtio_is_paused (HvVirtio *vdev);
/* hv_virtqueue_pop() that marks the device NEEDS_RESET when the driver broke the ring; NULL while the
 * driver is not OK or the device is paused. */
HvVirtqueueElement *hv_virtio_pop (HvVirtio *vdev, HvVirtqueue *vq);
/* Interrupts the driver for what was pushed to @vq, unless the ring says it does not want one. */
void hv_virtio_notify (HvVirtio *vdev, HvVirtqueue *vq);
/* The device configuration changed: a new config_generation and a configuration interrupt. */
void hv_virtio_notify_config (HvVirtio *vdev);
/* Sets DEVICE_NEEDS_RESET (the driver must reset the device before using it again) and tells the driver
 * with a configuration interrupt.  @reason is logged for debugging. */
void hv_virtio_set_needs_reset (HvVirtio *vdev, const char *reason);

/* Saved state of the transport and queues (not of the device model, which nests this in its own).  A
 * device must have no popped chain outstanding when it is saved.  Loading checks everything (the device
 * must be the same kind, HV_ERROR_BAD_IMAGE otherwise) and applies all or nothing; the PCI bridge's
 * state must have been loaded first.  With the lock held. */
GVariant *hv_virtio_save_state (HvVirtio *vdev);
gboolean hv_virtio_load_state (HvVirtio *vdev, GVariant *state, GError **error);
