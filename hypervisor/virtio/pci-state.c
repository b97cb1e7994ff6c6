/* pci-state.c — the saved state of the virtio-pci transport: the common configuration, the queues with
 * their ring indices, MSI-X, and the ISR. */
#include "pci-private.h"
#include "state.h"

#include <string.h>

#define QUEUE_STATE_TYPE "a(qqbtttqqqbb)"

GVariant *
hv_virtio_save_state (HvVirtio *vdev)
{
  g_auto (GVariantDict) dict = G_VARIANT_DICT_INIT (NULL);
  GVariantBuilder queues;

  g_variant_dict_insert (&dict, "device-features", "t", (guint64) vdev->host_features);
  g_variant_dict_insert (&dict, "status", "y", vdev->status);
  g_variant_dict_insert (&dict, "device-feature-select", "u", vdev->device_feature_select);
  g_variant_dict_insert (&dict, "driver-feature-select", "u", vdev->driver_feature_select);
  g_variant_dict_insert (&dict, "driver-features", "t", (guint64) vdev->driver_features);
  g_variant_dict_insert (&dict, "config-generation", "y", vdev->config_generation);
  g_variant_dict_insert (&dict, "config-vector", "q", vdev->config_vector);
  g_variant_dict_insert (&dict, "queue-select", "q", vdev->queue_select);
  g_variant_dict_insert (&dict, "isr", "y", vdev->isr);

  g_variant_builder_init (&queues, G_VARIANT_TYPE (QUEUE_STATE_TYPE));
  for (unsigned i = 0; i < vdev->info->n_queues; i++)
    {
      const HvVirtioQueue *q = &vdev->queues[i];
      g_variant_builder_add (&queues, "(qqbtttqqqbb)", q->size, q->vector, q->enabled, (guint64) q->desc_addr,
                             (guint64) q->driver_addr, (guint64) q->device_addr, q->vq.last_avail_idx,
                             q->vq.used_idx, q->vq.signalled_used, q->vq.signalled_used_valid, q->vq.broken);
    }
  g_variant_dict_insert_value (&dict, "queues", g_variant_builder_end (&queues));

  hv_msix_save_state (vdev->msix, &dict);
  return g_variant_dict_end (&dict);
}

typedef struct
{
  uint16_t size;
  uint16_t vector;
  gboolean enabled;
  uint64_t desc_addr;
  uint64_t driver_addr;
  uint64_t device_addr;
  HvVirtqueue vq;
} SavedQueue;

static gboolean
vector_valid (HvVirtio *vdev, uint16_t vector)
{
  return vector == HV_VIRTIO_MSI_NO_VECTOR || vector < vdev->n_vectors;
}

gboolean
hv_virtio_load_state (HvVirtio *vdev, GVariant *state, GError **error)
{
  const char *what = vdev->info->name;
  g_autofree SavedQueue *saved = g_new0 (SavedQueue, vdev->info->n_queues);
  g_autoptr (GVariant) queues = NULL;
  uint64_t device_features, driver_features;
  uint32_t device_feature_select, driver_feature_select;
  uint16_t config_vector, queue_select;
  uint8_t status, generation, isr;
  GVariantIter iter;
  unsigned index = 0;
  gboolean broken;
  gboolean signalled_valid;
  guint16 last_avail, used_idx, signalled_used;
  gboolean enabled;

  if (!hv_state_get (state, what, "device-features", "t", &device_features, error)
      || !hv_state_get (state, what, "status", "y", &status, error)
      || !hv_state_get (state, what, "device-feature-select", "u", &device_feature_select, error)
      || !hv_state_get (state, what, "driver-feature-select", "u", &driver_feature_select, error)
      || !hv_state_get (state, what, "driver-features", "t", &driver_features, error)
      || !hv_state_get (state, what, "config-generation", "y", &generation, error)
      || !hv_state_get (state, what, "config-vector", "q", &config_vector, error)
      || !hv_state_get (state, what, "queue-select", "q", &queue_select, error)
      || !hv_state_get_max (state, what, "isr", "y", ISR_QUEUE | ISR_CONFIG, &isr, error))
    return FALSE;
  if (device_features != vdev->host_features)
    {
      hv_state_set_bad (error, what, "it was saved for a device with other features");
      return FALSE;
    }
  if (status & ~(STATUS_DRIVER_BITS | HV_VIRTIO_STATUS_NEEDS_RESET))
    {
      hv_state_set_bad (error, what, "the device status 0x%02x has bits that do not exist", status);
      return FALSE;
    }
  if ((status & HV_VIRTIO_STATUS_FEATURES_OK)
      && ((driver_features & ~vdev->host_features)
          || !(driver_features & HV_VIRTIO_FEATURE (HV_VIRTIO_F_VERSION_1))))
    {
      hv_state_set_bad (error, what, "the driver's features were never offered");
      return FALSE;
    }
  if (!vector_valid (vdev, config_vector))
    {
      hv_state_set_bad (error, what, "configuration vector %u is out of range", config_vector);
      return FALSE;
    }

  queues = hv_state_lookup (state, what, "queues", G_VARIANT_TYPE (QUEUE_STATE_TYPE), error);
  if (queues == NULL)
    return FALSE;
  if (g_variant_n_children (queues) != vdev->info->n_queues)
    {
      hv_state_set_bad (error, what, "%" G_GSIZE_FORMAT " queues saved, the device has %u",
                        g_variant_n_children (queues), vdev->info->n_queues);
      return FALSE;
    }
  g_variant_iter_init (&iter, queues);
  while (g_variant_iter_next (&iter, "(qqbtttqqqbb)", &saved[index].size, &saved[index].vector, &enabled,
                              &saved[index].desc_addr, &saved[index].driver_addr, &saved[index].device_addr,
                              &last_avail, &used_idx, &signalled_used, &signalled_valid, &broken))
    {
      SavedQueue *q = &saved[index];
      g_autoptr (GError) local = NULL;

      q->enabled = enabled;
      hv_virtqueue_init (&q->vq, vdev->platform->memory, index);
      if (!vector_valid (vdev, q->vector))
        {
          hv_state_set_bad (error, what, "queue %u: vector %u is out of range", index, q->vector);
          return FALSE;
        }
      if (q->enabled)
        {
          if (q->size > vdev->info->queue_size
              || !hv_virtqueue_start (&q->vq, q->size, q->desc_addr, q->driver_addr, q->device_addr,
                                      driver_features, &local))
            {
              hv_state_set_bad (error, what, "queue %u cannot run: %s", index,
                                local ? local->message : "it is too large");
              return FALSE;
            }
          q->vq.last_avail_idx = last_avail;
          q->vq.used_idx = used_idx;
          q->vq.signalled_used = signalled_used;
          q->vq.signalled_used_valid = signalled_valid;
          q->vq.broken = broken;
        }
      index++;
    }

  /* The last check, which applies MSI-X when it passes; then the rest. */
  if (!hv_msix_load_state (vdev->msix, state, what, error))
    return FALSE;
  vdev->status = status;
  vdev->device_feature_select = device_feature_select;
  vdev->driver_feature_select = driver_feature_select;
  vdev->driver_features = driver_features;
  vdev->config_generation = generation;
  vdev->config_vector = config_vector;
  vdev->queue_select = queue_select;
  vdev->isr = isr;
  for (unsigned i = 0; i < vdev->info->n_queues; i++)
    {
      HvVirtioQueue *queue = &vdev->queues[i];
      queue->size = saved[i].size;
      queue->vector = saved[i].vector;
      queue->enabled = saved[i].enabled;
      queue->desc_addr = saved[i].desc_addr;
      queue->driver_addr = saved[i].driver_addr;
      queue->device_addr = saved[i].device_addr;
      queue->vq = saved[i].vq;
    }
  /* The line of a new machine starts low; raise it again if the state says so.  The bridge's state, loaded
   * first, holds MSI-X enable and mask and the command register. */
  vdev->intx_level = FALSE;
  hv_virtio_pci_sync_config_locked (vdev);

  /* A notification signalled but not yet handled when the state was saved is not in it: look at every
   * running queue once, which costs nothing when there is no work. */
  if (hv_virtio_is_driver_ok (vdev))
    hv_virtio_pci_kick_queues_locked (vdev);
  return TRUE;
}
