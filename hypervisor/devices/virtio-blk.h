/* virtio-blk.h — the virtio block device (virtio 1.2 §5.2) on the virtio-pci transport: a disk image
 * (HvBlock) read and written by the guest's requests, served on the disk's own I/O thread. */
#pragma once

#include "platform.h"
#include "block/block.h"
#include "devices/devices.h"

typedef struct _HvVirtioBlk HvVirtioBlk;

/* The longest serial number (VIRTIO_BLK_ID_BYTES). */
#define HV_VIRTIO_BLK_SERIAL_MAX 20

/* The most request queues a disk offers (VIRTIO_BLK_F_MQ). */
#define HV_VIRTIO_BLK_MAX_QUEUES 16

/* A disk on @pci called @name (unique in the machine) serving @block (taken, also on failure; not
 * attached yet: the device attaches it to @platform's io_context, which should be the disk's own
 * thread) with @n_queues request queues (1 to HV_VIRTIO_BLK_MAX_QUEUES).  @serial may be NULL. */
HvVirtioBlk *hv_virtio_blk_new (const HvPlatform *platform, HvPci *pci, const char *name, HvBlock *block,
                                const char *serial, unsigned n_queues, GError **error);
/* Once the VM no longer runs. */
void hv_virtio_blk_free (HvVirtioBlk *blk);
/* TRUE: take no new requests and wait for those in flight; FALSE: carry on. */
void hv_virtio_blk_quiesce (HvVirtioBlk *blk, gboolean quiesced);
/* Requests taken from the guest and not completed yet (for tests). */
unsigned hv_virtio_blk_get_in_flight (HvVirtioBlk *blk);
GVariant *hv_virtio_blk_save_state (HvVirtioBlk *blk);
gboolean hv_virtio_blk_load_state (HvVirtioBlk *blk, GVariant *state, GError **error);
