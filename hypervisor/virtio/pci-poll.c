/* pci-poll.c — a virtio queue's part in its I/O thread's polling (iothread.c): while the thread polls,
 * the driver is asked not to notify and the thread finds new buffers by the driver's index; before it
 * sleeps, notifications are back on. */
#include "pci-private.h"

static gboolean
queue_running_locked (HvVirtioQueue *queue)
{
  HvVirtio *vdev = queue->vdev;

  return hv_virtio_is_driver_ok (vdev) && !vdev->paused && queue->enabled && !queue->vq.broken
         && hv_virtqueue_is_ready (&queue->vq);
}

uint16_t
hv_virtio_pci_driver_index (HvVirtioQueue *queue)
{
  return (uint16_t) (queue->vq.last_avail_idx + hv_virtqueue_available (&queue->vq));
}

static void
queue_poll_begin (void *data)
{
  HvVirtioQueue *queue = data;

  g_mutex_lock (&queue->vdev->lock);
  if (queue_running_locked (queue))
    hv_virtqueue_set_notification (&queue->vq, FALSE);
  g_mutex_unlock (&queue->vdev->lock);
}

/* Whether the driver made buffers available since the queue was last processed (queue_kicked notes
 * the index it starts from).  It stays TRUE until then, so that a look whose result GLib drops (its
 * poll set changed meanwhile) is not lost.  Skipped while a vCPU holds the lock (configuring the
 * device): the next look sees the buffers. */
static gboolean
queue_poll (void *data)
{
  HvVirtioQueue *queue = data;
  gboolean moved = FALSE;

  if (!g_mutex_trylock (&queue->vdev->lock))
    return FALSE;
  if (queue_running_locked (queue))
    moved = hv_virtio_pci_driver_index (queue) != queue->polled_avail;
  g_mutex_unlock (&queue->vdev->lock);
  return moved;
}

static gboolean
queue_poll_end (void *data)
{
  HvVirtioQueue *queue = data;
  gboolean moved = FALSE;

  g_mutex_lock (&queue->vdev->lock);
  /* On whatever happened meanwhile (a pause, a reset): a driver that notifies is always safe. */
  hv_virtqueue_set_notification (&queue->vq, TRUE);
  if (queue_running_locked (queue))
    moved = hv_virtio_pci_driver_index (queue) != queue->polled_avail;
  g_mutex_unlock (&queue->vdev->lock);
  return moved;
}

static const HvIoPollerFuncs queue_poller = {
  .begin = queue_poll_begin,
  .poll = queue_poll,
  .end = queue_poll_end,
};

void
hv_virtio_pci_poll_add (HvVirtio *vdev, HvVirtioQueue *queue)
{
  queue->poller_id = hv_iothread_add_poller (vdev->io_context, queue->notify_fd, &queue_poller, queue);
}

void
hv_virtio_pci_poll_remove_all (HvVirtio *vdev)
{
  for (unsigned i = 0; i < vdev->info->n_queues; i++)
    hv_iothread_remove_poller (vdev->io_context, vdev->queues[i].poller_id);
}

void
hv_virtio_pci_wake_drivers_locked (HvVirtio *vdev)
{
  for (unsigned i = 0; i < vdev->info->n_queues; i++)
    hv_virtqueue_set_notification (&vdev->queues[i].vq, TRUE);
}
