/* pci-private.h — the virtio-pci transport's state, shared by pci.c (registers, interrupts, BARs) and
 * pci-state.c (its saved state). */
#pragma once

#include "virtio.h"
#include "msix.h"
#include "iothread.h"

#define ISR_QUEUE  0x1
#define ISR_CONFIG 0x2

#define STATUS_DRIVER_BITS                                                                                   \
  (HV_VIRTIO_STATUS_ACKNOWLEDGE | HV_VIRTIO_STATUS_DRIVER | HV_VIRTIO_STATUS_DRIVER_OK                       \
   | HV_VIRTIO_STATUS_FEATURES_OK | HV_VIRTIO_STATUS_FAILED)

typedef struct
{
  HvVirtio *vdev;
  HvVirtqueue vq;
  /* What the driver programmed through the common configuration. */
  uint16_t size;
  uint16_t vector;
  gboolean enabled;
  uint64_t desc_addr;
  uint64_t driver_addr;
  uint64_t device_addr;
  /* Notification: the eventfd the I/O thread watches, and the ioeventfd signalling it. */
  int notify_fd;
  GSource *source;
  unsigned poller_id;    /* the queue's part in its I/O thread's polling (0: none) */
  uint16_t polled_avail; /* the driver's index as that polling saw it last */
  gboolean ioeventfd;
  uint64_t ioeventfd_addr;
  unsigned ioeventfd_len; /* 0: any width (KVM's fast MMIO path), else 2 */
} HvVirtioQueue;

struct _HvVirtio
{
  GMutex lock;
  const HvPlatform *platform;
  GMainContext *io_context; /* a reference: the queue sources are attached to it */
  const HvVirtioDeviceInfo *info;
  void *opaque;
  HvPciDevice pci;
  unsigned intx_gsi;
  uint64_t host_features;

  /* Common configuration. */
  uint32_t device_feature_select;
  uint32_t driver_feature_select;
  uint64_t driver_features;
  uint8_t status;
  uint8_t config_generation;
  uint16_t config_vector;
  uint16_t queue_select;
  HvVirtioQueue *queues;
  gboolean paused; /* hv_virtio_set_paused: no queue work */

  /* Interrupts. */
  uint8_t isr;
  gboolean intx_level;
  HvMsix *msix;
  unsigned n_vectors;
  /* A copy of the command register's INTx Disable (MSI-X keeps its own copy of its bits), taken when the
   * guest writes configuration space under the bridge's lock, so the I/O thread never reads it. */
  gboolean intx_disabled;

  gboolean bar_mapped[6];
  uint64_t bar_mapped_addr[6];
  uint64_t rom_mapped_addr; /* where the option ROM decodes, 0 nowhere */
  gboolean warned;          /* a host-side failure was logged once */
};

/* Takes the configuration-space bits that steer interrupts (MSI-X Enable and Function Mask, INTx
 * Disable) and applies them: the line is raised or lowered, held-back MSI-X interrupts go out.  Maps the
 * option ROM where its BAR says. */
void hv_virtio_pci_sync_config_locked (HvVirtio *vdev);
/* Makes the I/O thread look at every running queue, as if the driver had notified each. */
void hv_virtio_pci_kick_queues_locked (HvVirtio *vdev);

/* pci-poll.c: the driver's index in @queue's available ring (the last taken one while it is stopped). */
uint16_t hv_virtio_pci_driver_index (HvVirtioQueue *queue);
/* Adds @queue's poller to the device's I/O thread (once its source watches the notify eventfd); removes
 * every queue's, without the device's lock (their end may take it). */
void hv_virtio_pci_poll_add (HvVirtio *vdev, HvVirtioQueue *queue);
void hv_virtio_pci_poll_remove_all (HvVirtio *vdev);
/* Asks every queue's driver to notify again: for a device being paused, whose rings are saved with the
 * guest's memory and must not ask for quiet, as no I/O thread polls them after a restore until they are
 * busy again. */
void hv_virtio_pci_wake_drivers_locked (HvVirtio *vdev);
