/* pci.c — the modern virtio-pci transport (virtio 1.2 §4.1): a PCI function with the virtio vendor
 * capabilities, common configuration (features, status, queue setup, reset), ISR, device configuration
 * and queue notification registers in BAR 4, and MSI-X (table and PBA in BAR 1).
 *
 * Register accesses arrive on vCPU threads and only emulate registers.  Queue notifications are
 * ioeventfds whose eventfds the I/O thread watches; a notification the kernel did not catch (another
 * access width, or no ioeventfd support) reaches the MMIO handler, which signals the same eventfd.
 * Interrupts go out through irqfds bound to MSI routes, one per MSI-X vector, or on the slot's INTx line
 * while MSI-X is off. */
#include "bytes.h"
#include "pci-private.h"
#include "bus.h"
#include "iothread.h"
#include "x86/layout.h"

#include <errno.h>
#include <glib-unix.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

/* PCI configuration space. */
#define PCI_VENDOR_ID            0x00
#define PCI_DEVICE_ID            0x02
#define PCI_COMMAND              0x04
#define PCI_STATUS               0x06
#define PCI_REVISION_ID          0x08
#define PCI_CLASS_PROG           0x09
#define PCI_SUBSYSTEM_VENDOR     0x2c
#define PCI_SUBSYSTEM_ID         0x2e
#define PCI_CAPABILITY_LIST      0x34
#define PCI_INTERRUPT_PIN        0x3d
#define PCI_STATUS_CAP_LIST      0x0010
#define PCI_COMMAND_MEMORY       0x0002
#define PCI_COMMAND_INTX_DISABLE 0x0400
#define PCI_CAP_ID_VNDR          0x09
#define PCI_CAP_ID_MSIX          0x11
#define MSIX_CONTROL_ENABLE      0x8000
#define MSIX_CONTROL_MASKALL     0x4000

#define VIRTIO_PCI_VENDOR       0x1af4
#define VIRTIO_PCI_DEVICE_BASE  0x1040 /* non-transitional devices: 0x1040 + device ID (§4.1.2.1) */
#define VIRTIO_PCI_REVISION     0x01
#define VIRTIO_PCI_SUBSYSTEM_ID 0x1100 /* §4.1.2.1 asks for 0x40 or more; QEMU's value */

/* Virtio structure types of the vendor capabilities (§4.1.4). */
#define VIRTIO_PCI_CAP_COMMON_CFG 1
#define VIRTIO_PCI_CAP_NOTIFY_CFG 2
#define VIRTIO_PCI_CAP_ISR_CFG    3
#define VIRTIO_PCI_CAP_DEVICE_CFG 4

/* Where the capabilities sit in configuration space. */
#define CAP_COMMON     0x40
#define CAP_ISR        0x50
#define CAP_DEVICE     0x60
#define CAP_NOTIFY     0x70
#define CAP_MSIX       0x84
#define VIRTIO_CAP_LEN 16
#define NOTIFY_CAP_LEN 20

/* BAR 4: the virtio registers, one 4 KiB page per structure.  BAR 1: MSI-X. */
#define BAR_MSIX          1
#define BAR_REGS          4
#define REGION_SIZE       0x1000
#define COMMON_OFFSET     0x0000
#define ISR_OFFSET        0x1000
#define DEVICE_OFFSET     0x2000
#define NOTIFY_OFFSET     0x3000
#define REGS_BAR_SIZE     0x4000
#define NOTIFY_MULTIPLIER 4 /* each queue notifies at its own address, so ioeventfds need no datamatch */

/* Common configuration registers (§4.1.4.3). */
#define COMMON_DFSELECT 0x00
#define COMMON_DF       0x04
#define COMMON_GFSELECT 0x08
#define COMMON_GF       0x0c
#define COMMON_MSIX     0x10
#define COMMON_NUMQ     0x12
#define COMMON_STATUS   0x14
#define COMMON_CFGGEN   0x15
#define COMMON_Q_SELECT 0x16
#define COMMON_Q_SIZE   0x18
#define COMMON_Q_MSIX   0x1a
#define COMMON_Q_ENABLE 0x1c
#define COMMON_Q_NOFF   0x1e
#define COMMON_Q_DESC   0x20
#define COMMON_Q_DRIVER 0x28
#define COMMON_Q_DEVICE 0x30

#define TRANSPORT_FEATURES                                                                                   \
  (HV_VIRTIO_FEATURE (HV_VIRTIO_F_VERSION_1) | HV_VIRTIO_FEATURE (HV_VIRTIO_F_INDIRECT_DESC)                 \
   | HV_VIRTIO_FEATURE (HV_VIRTIO_F_EVENT_IDX))

static const struct
{
  uint8_t offset;
  uint8_t size;
} common_fields[] = {
  { COMMON_DFSELECT, 4 }, { COMMON_DF, 4 },     { COMMON_GFSELECT, 4 }, { COMMON_GF, 4 },
  { COMMON_MSIX, 2 },     { COMMON_NUMQ, 2 },   { COMMON_STATUS, 1 },   { COMMON_CFGGEN, 1 },
  { COMMON_Q_SELECT, 2 }, { COMMON_Q_SIZE, 2 }, { COMMON_Q_MSIX, 2 },   { COMMON_Q_ENABLE, 2 },
  { COMMON_Q_NOFF, 2 },   { COMMON_Q_DESC, 8 }, { COMMON_Q_DRIVER, 8 }, { COMMON_Q_DEVICE, 8 },
};

static void
warn_once_locked (HvVirtio *vdev, const char *what, const GError *error)
{
  if (vdev->warned)
    return;
  vdev->warned = TRUE;
  g_warning ("%s: %s: %s", vdev->info->name, what, error ? error->message : "not supported");
}

/* ---- Interrupts ---- */

static void
update_intx_locked (HvVirtio *vdev)
{
  gboolean level = !hv_msix_is_enabled (vdev->msix) && !vdev->intx_disabled && vdev->isr != 0;

  if (level == vdev->intx_level)
    return;
  vdev->intx_level = level;
  hv_platform_set_irq (vdev->platform, vdev->intx_gsi, level);
}

static void
interrupt_locked (HvVirtio *vdev, uint8_t isr_bit, uint16_t vector)
{
  if (hv_msix_is_enabled (vdev->msix))
    hv_msix_signal (vdev->msix, vector);
  else
    {
      vdev->isr |= isr_bit;
      update_intx_locked (vdev);
    }
}

/* The ROM BAR: reads see the ROM (0xff past its end), writes go nowhere.  The ROM never changes, so
 * no lock is needed. */
static void
rom_io (void *opaque, uint64_t offset, uint8_t *data, unsigned len, gboolean is_write)
{
  HvVirtio *vdev = opaque;
  gsize size;
  const uint8_t *rom = g_bytes_get_data (vdev->info->rom, &size);

  if (is_write)
    return;
  for (unsigned i = 0; i < len; i++)
    data[i] = offset + i < size ? rom[offset + i] : 0xff;
}

/* Maps the option ROM where the guest put and enabled it while memory decoding is on, else nowhere. */
static void
place_rom_locked (HvVirtio *vdev, uint16_t command)
{
  const HvPlatform *platform = vdev->platform;
  uint64_t addr = (command & PCI_COMMAND_MEMORY) ? hv_pci_rom_address (&vdev->pci) : 0;
  g_autoptr (GError) error = NULL;

  if (vdev->info->rom == NULL || platform->mmio == NULL || addr == vdev->rom_mapped_addr)
    return;
  if (vdev->rom_mapped_addr != 0)
    hv_bus_unregister (platform->mmio, vdev->rom_mapped_addr, vdev);
  vdev->rom_mapped_addr = 0;
  if (addr != 0
      && !hv_bus_register (platform->mmio, addr, vdev->pci.rom_size, vdev->info->name, rom_io, vdev, &error))
    {
      g_debug ("%s: the option ROM stays unmapped: %s", vdev->info->name, error->message);
      return;
    }
  vdev->rom_mapped_addr = addr;
}

/* Takes the bits of configuration space that steer interrupts. */
void
hv_virtio_pci_sync_config_locked (HvVirtio *vdev)
{
  uint16_t control = hv_get_le16 (vdev->pci.config + CAP_MSIX + 2);
  uint16_t command = hv_get_le16 (vdev->pci.config + PCI_COMMAND);

  place_rom_locked (vdev, command);

  vdev->intx_disabled = (command & PCI_COMMAND_INTX_DISABLE) != 0;
  hv_msix_set_control (vdev->msix, (control & MSIX_CONTROL_ENABLE) != 0,
                       (control & MSIX_CONTROL_MASKALL) != 0);
  update_intx_locked (vdev);
}

/* ---- Device-facing API ---- */

void
hv_virtio_lock (HvVirtio *vdev)
{
  g_mutex_lock (&vdev->lock);
}

void
hv_virtio_unlock (HvVirtio *vdev)
{
  g_mutex_unlock (&vdev->lock);
}

HvVirtqueue *
hv_virtio_get_queue (HvVirtio *vdev, unsigned index)
{
  g_return_val_if_fail (index < vdev->info->n_queues, NULL);
  return &vdev->queues[index].vq;
}

uint64_t
hv_virtio_get_features (HvVirtio *vdev)
{
  return vdev->driver_features;
}

gboolean
hv_virtio_is_driver_ok (HvVirtio *vdev)
{
  return (vdev->status & (HV_VIRTIO_STATUS_DRIVER_OK | HV_VIRTIO_STATUS_NEEDS_RESET))
         == HV_VIRTIO_STATUS_DRIVER_OK;
}

void
hv_virtio_notify_config (HvVirtio *vdev)
{
  vdev->config_generation++;
  if (vdev->status & HV_VIRTIO_STATUS_DRIVER_OK)
    interrupt_locked (vdev, ISR_CONFIG, vdev->config_vector);
}

void
hv_virtio_set_needs_reset (HvVirtio *vdev, const char *reason)
{
  if (vdev->status & HV_VIRTIO_STATUS_NEEDS_RESET)
    return;
  /* The guest caused this; a debug message, so a misbehaving guest cannot flood the host's log. */
  g_debug ("%s: %s; the device needs a reset", vdev->info->name, reason);
  vdev->status |= HV_VIRTIO_STATUS_NEEDS_RESET;
  if (vdev->status & HV_VIRTIO_STATUS_DRIVER_OK)
    interrupt_locked (vdev, ISR_CONFIG, vdev->config_vector);
}

void
hv_virtio_pci_kick_queues_locked (HvVirtio *vdev)
{
  for (unsigned i = 0; i < vdev->info->n_queues; i++)
    if (vdev->queues[i].enabled && eventfd_write (vdev->queues[i].notify_fd, 1) < 0)
      g_debug ("%s: cannot signal queue %u: %s", vdev->info->name, i, g_strerror (errno));
}

void
hv_virtio_set_paused (HvVirtio *vdev, gboolean paused)
{
  gboolean was_paused = vdev->paused;

  vdev->paused = paused;
  if (paused)
    hv_virtio_pci_wake_drivers_locked (vdev);
  if (was_paused && !paused && hv_virtio_is_driver_ok (vdev))
    hv_virtio_pci_kick_queues_locked (vdev);
}

gboolean
hv_virtio_is_paused (HvVirtio *vdev)
{
  return vdev->paused;
}

HvVirtqueueElement *
hv_virtio_pop (HvVirtio *vdev, HvVirtqueue *vq)
{
  g_autoptr (GError) error = NULL;
  HvVirtqueueElement *elem;

  if (!hv_virtio_is_driver_ok (vdev) || vdev->paused)
    return NULL;
  elem = hv_virtqueue_pop (vq, &error);
  if (error != NULL)
    hv_virtio_set_needs_reset (vdev, error->message);
  return elem;
}

void
hv_virtio_notify (HvVirtio *vdev, HvVirtqueue *vq)
{
  g_return_if_fail (vq->index < vdev->info->n_queues);

  if (!hv_virtio_is_driver_ok (vdev) || !hv_virtqueue_should_notify (vq))
    return;
  interrupt_locked (vdev, ISR_QUEUE, vdev->queues[vq->index].vector);
}

/* ---- Common configuration ---- */

static HvVirtioQueue *
selected_queue_locked (HvVirtio *vdev)
{
  return vdev->queue_select < vdev->info->n_queues ? &vdev->queues[vdev->queue_select] : NULL;
}

/* The transport's side of a reset (§2.4): what the driver set up is forgotten. */
static void
reset_transport_locked (HvVirtio *vdev)
{
  vdev->status = 0;
  vdev->device_feature_select = 0;
  vdev->driver_feature_select = 0;
  vdev->driver_features = 0;
  vdev->queue_select = 0;
  vdev->config_vector = HV_VIRTIO_MSI_NO_VECTOR;
  for (unsigned i = 0; i < vdev->info->n_queues; i++)
    {
      HvVirtioQueue *queue = &vdev->queues[i];
      hv_virtqueue_stop (&queue->vq);
      queue->size = vdev->info->queue_size;
      queue->vector = HV_VIRTIO_MSI_NO_VECTOR;
      queue->enabled = FALSE;
      queue->desc_addr = queue->driver_addr = queue->device_addr = 0;
    }
  /* The MSI-X table belongs to PCI, not to virtio, and stays; what the device had signalled does not. */
  hv_msix_clear_pending (vdev->msix);
  vdev->isr = 0;
  update_intx_locked (vdev);
}

static gboolean
features_acceptable_locked (HvVirtio *vdev, uint64_t features)
{
  if (features & ~vdev->host_features)
    return FALSE;
  if (!(features & HV_VIRTIO_FEATURE (HV_VIRTIO_F_VERSION_1)))
    return FALSE; /* this is a modern-only device: there is no legacy interface to fall back to */
  return vdev->info->features_ok == NULL || vdev->info->features_ok (vdev->opaque, features);
}

static void
write_status_locked (HvVirtio *vdev, uint8_t value)
{
  uint8_t old = vdev->status;
  uint8_t added;

  if (value == 0)
    {
      reset_transport_locked (vdev);
      if (vdev->info->reset)
        vdev->info->reset (vdev->opaque);
      return;
    }

  /* NEEDS_RESET is the device's to set; a driver cannot clear bits other than by a reset. */
  value &= STATUS_DRIVER_BITS;
  added = value & ~old;
  if ((added & HV_VIRTIO_STATUS_FEATURES_OK) && !features_acceptable_locked (vdev, vdev->driver_features))
    {
      /* The driver reads the status back and finds FEATURES_OK missing (§3.1.1). */
      value &= ~HV_VIRTIO_STATUS_FEATURES_OK;
      added &= ~HV_VIRTIO_STATUS_FEATURES_OK;
    }
  vdev->status = old | value;

  if (added & HV_VIRTIO_STATUS_DRIVER_OK)
    {
      if (!(vdev->status & HV_VIRTIO_STATUS_FEATURES_OK))
        {
          hv_virtio_set_needs_reset (vdev, "DRIVER_OK without FEATURES_OK");
          return;
        }
      if (vdev->info->driver_ok && !(vdev->status & HV_VIRTIO_STATUS_NEEDS_RESET))
        vdev->info->driver_ok (vdev->opaque);
    }
}

static void
enable_queue_locked (HvVirtio *vdev, HvVirtioQueue *queue)
{
  g_autoptr (GError) error = NULL;

  if (queue->enabled)
    return;
  if (!(vdev->status & HV_VIRTIO_STATUS_FEATURES_OK))
    {
      hv_virtio_set_needs_reset (vdev, "a queue was enabled before FEATURES_OK");
      return;
    }
  if (queue->size > vdev->info->queue_size)
    {
      g_autofree char *reason = g_strdup_printf ("queue %u: size %u is more than the maximum %u",
                                                 queue->vq.index, queue->size, vdev->info->queue_size);
      hv_virtio_set_needs_reset (vdev, reason);
      return;
    }
  if (!hv_virtqueue_start (&queue->vq, queue->size, queue->desc_addr, queue->driver_addr, queue->device_addr,
                           vdev->driver_features, &error))
    {
      hv_virtio_set_needs_reset (vdev, error->message);
      return;
    }
  queue->enabled = TRUE;
}

static uint16_t
checked_vector (HvVirtio *vdev, uint64_t value)
{
  /* A vector the table does not have reads back as NO_VECTOR: that is how the driver learns (§4.1.5.1.2). */
  return value < vdev->n_vectors ? (uint16_t) value : HV_VIRTIO_MSI_NO_VECTOR;
}

static uint64_t
common_read_locked (HvVirtio *vdev, unsigned offset)
{
  HvVirtioQueue *queue = selected_queue_locked (vdev);

  switch (offset)
    {
    case COMMON_DFSELECT:
      return vdev->device_feature_select;
    case COMMON_DF:
      return vdev->device_feature_select < 2
                 ? (uint32_t) (vdev->host_features >> (32 * vdev->device_feature_select))
                 : 0;
    case COMMON_GFSELECT:
      return vdev->driver_feature_select;
    case COMMON_GF:
      return vdev->driver_feature_select < 2
                 ? (uint32_t) (vdev->driver_features >> (32 * vdev->driver_feature_select))
                 : 0;
    case COMMON_MSIX:
      return vdev->config_vector;
    case COMMON_NUMQ:
      return vdev->info->n_queues;
    case COMMON_STATUS:
      return vdev->status;
    case COMMON_CFGGEN:
      return vdev->config_generation;
    case COMMON_Q_SELECT:
      return vdev->queue_select;
    default:
      break;
    }

  /* Queue registers of a queue that does not exist read as zero, so a size of 0 says "no such queue". */
  if (queue == NULL)
    return 0;
  switch (offset)
    {
    case COMMON_Q_SIZE:
      return queue->size;
    case COMMON_Q_MSIX:
      return queue->vector;
    case COMMON_Q_ENABLE:
      return queue->enabled;
    case COMMON_Q_NOFF:
      return queue->vq.index;
    case COMMON_Q_DESC:
      return queue->desc_addr;
    case COMMON_Q_DRIVER:
      return queue->driver_addr;
    case COMMON_Q_DEVICE:
      return queue->device_addr;
    default:
      return 0;
    }
}

static void
common_write_locked (HvVirtio *vdev, unsigned offset, uint64_t value)
{
  HvVirtioQueue *queue = selected_queue_locked (vdev);

  switch (offset)
    {
    case COMMON_DFSELECT:
      vdev->device_feature_select = (uint32_t) value;
      return;
    case COMMON_GFSELECT:
      vdev->driver_feature_select = (uint32_t) value;
      return;
    case COMMON_GF:
      /* Features are fixed once accepted; bits past 63 do not exist. */
      if (!(vdev->status & HV_VIRTIO_STATUS_FEATURES_OK) && vdev->driver_feature_select < 2)
        {
          unsigned shift = 32 * vdev->driver_feature_select;
          vdev->driver_features = (vdev->driver_features & ~(G_GUINT64_CONSTANT (0xffffffff) << shift))
                                  | ((value & 0xffffffff) << shift);
        }
      return;
    case COMMON_MSIX:
      vdev->config_vector = checked_vector (vdev, value);
      return;
    case COMMON_STATUS:
      write_status_locked (vdev, (uint8_t) value);
      return;
    case COMMON_Q_SELECT:
      vdev->queue_select = (uint16_t) value;
      return;
    default:
      break;
    }

  if (queue == NULL)
    return;
  switch (offset)
    {
    case COMMON_Q_MSIX:
      queue->vector = checked_vector (vdev, value);
      return;
    case COMMON_Q_ENABLE:
      /* Writing 0 is not allowed to a driver (§4.1.4.3.2); queues stop only by a device reset. */
      if (value == 1)
        enable_queue_locked (vdev, queue);
      return;
    default:
      break;
    }

  /* The layout of a running queue is fixed until the device is reset. */
  if (queue->enabled)
    return;
  switch (offset)
    {
    case COMMON_Q_SIZE:
      queue->size = (uint16_t) value;
      break;
    case COMMON_Q_DESC:
      queue->desc_addr = value;
      break;
    case COMMON_Q_DRIVER:
      queue->driver_addr = value;
      break;
    case COMMON_Q_DEVICE:
      queue->device_addr = value;
      break;
    default:
      break; /* read-only */
    }
}

/* Any width at any offset: each register the access overlaps is read, the bytes written are merged in,
 * and the register is written whole, so a driver splitting a 64-bit address in two works like one that
 * does not. */
static void
common_access_locked (HvVirtio *vdev, unsigned offset, uint8_t *data, unsigned len, gboolean is_write)
{
  if (!is_write)
    memset (data, 0, len);
  for (gsize f = 0; f < G_N_ELEMENTS (common_fields); f++)
    {
      unsigned start = common_fields[f].offset;
      unsigned end = start + common_fields[f].size;
      uint64_t value;
      gboolean touched = FALSE;

      if (end <= offset || start >= offset + len)
        continue;
      value = common_read_locked (vdev, start);
      for (unsigned i = 0; i < len; i++)
        {
          unsigned byte = offset + i;
          if (byte < start || byte >= end)
            continue;
          if (is_write)
            {
              unsigned shift = 8 * (byte - start);
              value = (value & ~(G_GUINT64_CONSTANT (0xff) << shift)) | ((uint64_t) data[i] << shift);
              touched = TRUE;
            }
          else
            data[i] = (uint8_t) (value >> (8 * (byte - start)));
        }
      if (touched)
        common_write_locked (vdev, start, value);
    }
}

/* ---- BAR handlers ---- */

static void
notify_queue (HvVirtio *vdev, unsigned offset)
{
  unsigned index = offset / NOTIFY_MULTIPLIER;

  /* The eventfd is what the ioeventfd would have signalled; the I/O thread does the rest.  The value
   * written (the queue index) carries nothing without VIRTIO_F_NOTIFICATION_DATA. */
  if (index < vdev->info->n_queues && eventfd_write (vdev->queues[index].notify_fd, 1) < 0)
    g_debug ("%s: cannot signal queue %u: %s", vdev->info->name, index, g_strerror (errno));
}

static void
regs_io (void *opaque, uint64_t offset, uint8_t *data, unsigned len, gboolean is_write)
{
  HvVirtio *vdev = opaque;
  unsigned region = (unsigned) (offset / REGION_SIZE) * REGION_SIZE;
  unsigned inside = (unsigned) (offset % REGION_SIZE);

  if (offset >= REGS_BAR_SIZE)
    return;
  /* An access straddling two structures is cut to the first. */
  len = MIN (len, REGION_SIZE - inside);

  if (region == NOTIFY_OFFSET)
    {
      if (is_write)
        notify_queue (vdev, inside);
      else
        memset (data, 0, len);
      return;
    }

  g_mutex_lock (&vdev->lock);
  switch (region)
    {
    case COMMON_OFFSET:
      common_access_locked (vdev, inside, data, len, is_write);
      break;
    case ISR_OFFSET:
      if (!is_write)
        {
          memset (data, 0, len);
          /* Reading the ISR acknowledges the interrupt (§4.1.4.5). */
          if (inside == 0)
            {
              data[0] = vdev->isr;
              vdev->isr = 0;
              update_intx_locked (vdev);
            }
        }
      break;
    case DEVICE_OFFSET:
      /* Past the device's structure the region reads as zero. */
      if (!is_write)
        memset (data, 0, len);
      if (inside >= vdev->info->config_size)
        break;
      len = MIN (len, vdev->info->config_size - inside);
      if (is_write && vdev->info->config_write)
        vdev->info->config_write (vdev->opaque, inside, data, len);
      else if (!is_write && vdev->info->config_read)
        vdev->info->config_read (vdev->opaque, inside, data, len);
      break;
    default:
      break;
    }
  g_mutex_unlock (&vdev->lock);
}

static void
msix_io (void *opaque, uint64_t offset, uint8_t *data, unsigned len, gboolean is_write)
{
  HvVirtio *vdev = opaque;

  g_mutex_lock (&vdev->lock);
  hv_msix_bar_io (vdev->msix, offset, data, len, is_write);
  g_mutex_unlock (&vdev->lock);
}

static uint64_t
notify_address (uint64_t bar_address, unsigned queue)
{
  return bar_address + NOTIFY_OFFSET + (uint64_t) queue * NOTIFY_MULTIPLIER;
}

static void
map_bar_locked (HvVirtio *vdev, unsigned bar, uint64_t address)
{
  const HvPlatform *platform = vdev->platform;
  g_autoptr (GError) error = NULL;

  if (!hv_bus_register (platform->mmio, address, vdev->pci.bar_size[bar], vdev->info->name,
                        bar == BAR_MSIX ? msix_io : regs_io, vdev, &error))
    {
      /* A guest that moves a BAR over another device's loses it until it moves it back. */
      g_debug ("%s: BAR %u stays unmapped: %s", vdev->info->name, bar, error->message);
      return;
    }
  vdev->bar_mapped[bar] = TRUE;
  vdev->bar_mapped_addr[bar] = address;
  if (bar != BAR_REGS || platform->set_ioeventfd == NULL)
    return;

  /* A doorbell of any width at the queue's address signals its eventfd inside the kernel.  Length 0 is
   * KVM's fast MMIO path (as QEMU registers its notifications): the write is caught from the faulting
   * address alone, without decoding the guest's instruction, which costs microseconds per request.
   * Kernels without it (KVM_CAP_IOEVENTFD_ANY_LENGTH, Linux 4.5) take the 16-bit writes Linux makes;
   * other widths then still exit and reach regs_io. */
  for (unsigned i = 0; i < vdev->info->n_queues; i++)
    {
      HvVirtioQueue *queue = &vdev->queues[i];
      g_autoptr (GError) local = NULL;
      uint64_t at = notify_address (address, i);

      for (unsigned len = 0; len <= 2 && !queue->ioeventfd; len += 2)
        {
          g_clear_error (&local);
          if (platform->set_ioeventfd (platform->opaque, at, len, TRUE, queue->notify_fd, TRUE, &local))
            {
              queue->ioeventfd = TRUE;
              queue->ioeventfd_addr = at;
              queue->ioeventfd_len = len;
            }
        }
      if (!queue->ioeventfd)
        g_debug ("%s: queue %u notifies by MMIO exit: %s", vdev->info->name, i, local->message);
    }
}

static void
unmap_bar_locked (HvVirtio *vdev, unsigned bar)
{
  const HvPlatform *platform = vdev->platform;

  if (!vdev->bar_mapped[bar])
    return;
  hv_bus_unregister (platform->mmio, vdev->bar_mapped_addr[bar], vdev);
  vdev->bar_mapped[bar] = FALSE;
  if (bar != BAR_REGS)
    return;
  for (unsigned i = 0; i < vdev->info->n_queues; i++)
    {
      HvVirtioQueue *queue = &vdev->queues[i];
      g_autoptr (GError) error = NULL;

      if (!queue->ioeventfd)
        continue;
      if (!platform->set_ioeventfd (platform->opaque, queue->ioeventfd_addr, queue->ioeventfd_len, TRUE,
                                    queue->notify_fd, FALSE, &error))
        warn_once_locked (vdev, "cannot remove an ioeventfd", error);
      queue->ioeventfd = FALSE;
    }
}

/* PCI bridge callbacks, with the bridge's lock held. */
static void
pci_config_written (HvPciDevice *device, unsigned offset, unsigned len)
{
  HvVirtio *vdev = device->opaque;

  g_mutex_lock (&vdev->lock);
  hv_virtio_pci_sync_config_locked (vdev);
  g_mutex_unlock (&vdev->lock);
}

static void
pci_bar_moved (HvPciDevice *device, unsigned bar, uint64_t old_addr, uint64_t new_addr)
{
  HvVirtio *vdev = device->opaque;

  if (bar != BAR_MSIX && bar != BAR_REGS)
    return;
  g_mutex_lock (&vdev->lock);
  unmap_bar_locked (vdev, bar);
  map_bar_locked (vdev, bar, new_addr);
  g_mutex_unlock (&vdev->lock);
}

/* ---- Queue notifications on the I/O thread ---- */

static gboolean
queue_kicked (int fd, GIOCondition condition, gpointer data)
{
  HvVirtioQueue *queue = data;
  HvVirtio *vdev = queue->vdev;
  eventfd_t count;

  /* Several notifications since the last look count as one.  None is no reason to stop: the I/O
   * thread's polling found buffers the driver made available without notifying. */
  (void) eventfd_read (fd, &count);
  g_mutex_lock (&vdev->lock);
  queue->polled_avail = hv_virtio_pci_driver_index (queue);
  /* While paused the notification is dropped: unpausing looks at every queue anyway. */
  if (hv_virtio_is_driver_ok (vdev) && !vdev->paused && queue->enabled && !queue->vq.broken
      && vdev->info->queue_notify)
    vdev->info->queue_notify (vdev->opaque, &queue->vq);
  g_mutex_unlock (&vdev->lock);
  return G_SOURCE_CONTINUE;
}

/* ---- Creation ---- */

static void
put_virtio_cap (uint8_t *config, unsigned at, unsigned next, unsigned len, uint8_t type, uint32_t offset,
                uint32_t length)
{
  config[at] = PCI_CAP_ID_VNDR;
  config[at + 1] = (uint8_t) next;
  config[at + 2] = (uint8_t) len;
  config[at + 3] = type;
  config[at + 4] = BAR_REGS;
  hv_put_le32 (config + at + 8, offset);
  hv_put_le32 (config + at + 12, length);
}

static void
build_config_space (HvVirtio *vdev)
{
  const HvVirtioDeviceInfo *info = vdev->info;
  uint8_t *config = vdev->pci.config;
  unsigned after_isr = info->config_size ? CAP_DEVICE : CAP_NOTIFY;

  hv_put_le16 (config + PCI_VENDOR_ID, VIRTIO_PCI_VENDOR);
  hv_put_le16 (config + PCI_DEVICE_ID, VIRTIO_PCI_DEVICE_BASE + info->device_id);
  hv_put_le16 (config + PCI_STATUS, PCI_STATUS_CAP_LIST);
  config[PCI_REVISION_ID] = VIRTIO_PCI_REVISION;
  config[PCI_CLASS_PROG] = (uint8_t) info->pci_class;
  config[PCI_CLASS_PROG + 1] = (uint8_t) (info->pci_class >> 8);
  config[PCI_CLASS_PROG + 2] = (uint8_t) (info->pci_class >> 16);
  hv_put_le16 (config + PCI_SUBSYSTEM_VENDOR, VIRTIO_PCI_VENDOR);
  hv_put_le16 (config + PCI_SUBSYSTEM_ID, VIRTIO_PCI_SUBSYSTEM_ID);
  config[PCI_INTERRUPT_PIN] = 1; /* INTA */
  config[PCI_CAPABILITY_LIST] = CAP_COMMON;

  put_virtio_cap (config, CAP_COMMON, CAP_ISR, VIRTIO_CAP_LEN, VIRTIO_PCI_CAP_COMMON_CFG, COMMON_OFFSET,
                  REGION_SIZE);
  put_virtio_cap (config, CAP_ISR, after_isr, VIRTIO_CAP_LEN, VIRTIO_PCI_CAP_ISR_CFG, ISR_OFFSET,
                  REGION_SIZE);
  if (info->config_size)
    put_virtio_cap (config, CAP_DEVICE, CAP_NOTIFY, VIRTIO_CAP_LEN, VIRTIO_PCI_CAP_DEVICE_CFG, DEVICE_OFFSET,
                    info->config_size);
  put_virtio_cap (config, CAP_NOTIFY, CAP_MSIX, NOTIFY_CAP_LEN, VIRTIO_PCI_CAP_NOTIFY_CFG, NOTIFY_OFFSET,
                  info->n_queues * NOTIFY_MULTIPLIER);
  hv_put_le32 (config + CAP_NOTIFY + 16, NOTIFY_MULTIPLIER);

  config[CAP_MSIX] = PCI_CAP_ID_MSIX;
  config[CAP_MSIX + 1] = 0;
  hv_put_le16 (config + CAP_MSIX + 2, (uint16_t) (vdev->n_vectors - 1));
  hv_put_le32 (config + CAP_MSIX + 4, 0 | BAR_MSIX); /* the table starts the BAR */
  hv_put_le32 (config + CAP_MSIX + 8, HV_MSIX_PBA_OFFSET | BAR_MSIX);
  /* The guest may set MSI-X Enable and Function Mask; the rest of the capability is read-only. */
  vdev->pci.write_mask[CAP_MSIX + 3] = (MSIX_CONTROL_ENABLE | MSIX_CONTROL_MASKALL) >> 8;

  vdev->pci.bar_size[BAR_MSIX] = HV_MSIX_BAR_SIZE;
  vdev->pci.bar_size[BAR_REGS] = REGS_BAR_SIZE;
  vdev->pci.bar_is_64[BAR_REGS] = TRUE;
}

static gboolean
check_info (const HvPlatform *platform, const HvVirtioDeviceInfo *info, GError **error)
{
  if (platform->memory == NULL || platform->mmio == NULL || platform->io_context == NULL)
    {
      g_set_error (error, HV_ERROR, HV_ERROR_INVALID_ARGUMENT,
                   "%s: virtio devices need guest memory, an MMIO bus and an I/O thread", info->name);
      return FALSE;
    }
  if (info->n_queues == 0 || info->n_queues > HV_VIRTIO_MAX_QUEUES || info->queue_size == 0
      || info->queue_size > HV_VIRTQUEUE_MAX_SIZE || (info->queue_size & (info->queue_size - 1)) != 0
      || info->config_size > HV_VIRTIO_MAX_CONFIG || info->device_id >= 0x40)
    {
      g_set_error (error, HV_ERROR, HV_ERROR_INVALID_ARGUMENT,
                   "%s: %u queues of %u entries, %u configuration bytes and device ID %u are not a valid "
                   "virtio device",
                   info->name, info->n_queues, info->queue_size, info->config_size, info->device_id);
      return FALSE;
    }
  return TRUE;
}

static int
new_eventfd (const char *name, GError **error)
{
  int fd = eventfd (0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (fd < 0)
    {
      int saved = errno;
      g_set_error (error, HV_ERROR, HV_ERROR_FAILED, "%s: cannot create an eventfd: %s", name,
                   g_strerror (saved));
    }
  return fd;
}

static void
vdev_destroy (HvVirtio *vdev)
{
  for (unsigned i = 0; vdev->queues && i < vdev->info->n_queues; i++)
    if (vdev->queues[i].notify_fd >= 0)
      close (vdev->queues[i].notify_fd);
  hv_msix_free (vdev->msix);
  g_free (vdev->queues);
  g_clear_pointer (&vdev->io_context, g_main_context_unref);
  g_mutex_clear (&vdev->lock);
  g_free (vdev);
}

HvVirtio *
hv_virtio_pci_new (const HvPlatform *platform, HvPci *pci, const HvVirtioDeviceInfo *info, void *opaque,
                   GError **error)
{
  HvVirtio *vdev;

  g_return_val_if_fail (platform != NULL && pci != NULL && info != NULL && info->name != NULL, NULL);

  if (!check_info (platform, info, error))
    return NULL;

  vdev = g_new0 (HvVirtio, 1);
  g_mutex_init (&vdev->lock);
  vdev->platform = platform;
  vdev->io_context = g_main_context_ref (platform->io_context);
  vdev->info = info;
  vdev->opaque = opaque;
  vdev->host_features = info->features | TRANSPORT_FEATURES;
  vdev->n_vectors = info->n_queues + 1;
  vdev->queues = g_new0 (HvVirtioQueue, info->n_queues);
  for (unsigned i = 0; i < info->n_queues; i++)
    vdev->queues[i].notify_fd = -1;

  for (unsigned i = 0; i < info->n_queues; i++)
    {
      HvVirtioQueue *queue = &vdev->queues[i];
      queue->vdev = vdev;
      hv_virtqueue_init (&queue->vq, platform->memory, i);
      queue->notify_fd = new_eventfd (info->name, error);
      if (queue->notify_fd < 0)
        goto fail;
    }
  /* One vector per queue and one for configuration changes, so no interrupt source shares one. */
  vdev->msix = hv_msix_new (platform, info->name, vdev->n_vectors, error);
  if (vdev->msix == NULL)
    goto fail;

  vdev->pci.name = info->name;
  vdev->pci.opaque = vdev;
  vdev->pci.config_written = pci_config_written;
  vdev->pci.bar_moved = pci_bar_moved;
  if (info->rom)
    {
      vdev->pci.rom_size = 0x800;
      while (vdev->pci.rom_size < g_bytes_get_size (info->rom))
        vdev->pci.rom_size <<= 1;
    }
  build_config_space (vdev);
  reset_transport_locked (vdev);

  /* Last, because the bridge cannot give a device back: nothing after this fails. */
  if (!hv_pci_add_device (pci, &vdev->pci, error))
    goto fail;

  g_mutex_lock (&vdev->lock);
  vdev->intx_gsi = HV_PCI_INTX_GSI (vdev->pci.slot, 0);
  map_bar_locked (vdev, BAR_MSIX, vdev->pci.bar_addr[BAR_MSIX]);
  map_bar_locked (vdev, BAR_REGS, vdev->pci.bar_addr[BAR_REGS]);
  g_mutex_unlock (&vdev->lock);

  for (unsigned i = 0; i < info->n_queues; i++)
    {
      HvVirtioQueue *queue = &vdev->queues[i];
      queue->source = g_unix_fd_source_new (queue->notify_fd, G_IO_IN);
      g_source_set_callback (queue->source, G_SOURCE_FUNC (queue_kicked), queue, NULL);
      /* Not taken out of the poll set and put back around each dispatch (GLib wakes the context for
       * both: three system calls per doorbell).  A nested iteration would find the device lock held;
       * no queue_notify iterates its context. */
      g_source_set_can_recurse (queue->source, TRUE);
      g_source_set_static_name (queue->source, info->name);
      g_source_attach (queue->source, vdev->io_context);
      hv_virtio_pci_poll_add (vdev, queue);
    }
  return vdev;

fail:
  vdev_destroy (vdev);
  return NULL;
}

char *
hv_virtio_boot_path (HvVirtio *vdev, const char *name)
{
  return hv_pci_boot_path (&vdev->pci, name);
}

void
hv_virtio_free (HvVirtio *vdev)
{
  const HvPlatform *platform;

  if (vdev == NULL)
    return;
  platform = vdev->platform;

  hv_virtio_pci_poll_remove_all (vdev);
  for (unsigned i = 0; i < vdev->info->n_queues; i++)
    if (vdev->queues[i].source)
      {
        g_source_destroy (vdev->queues[i].source);
        g_source_unref (vdev->queues[i].source);
      }
  /* A notification being handled right now finishes before the device goes. */
  hv_iothread_barrier (vdev->io_context);

  g_mutex_lock (&vdev->lock);
  unmap_bar_locked (vdev, BAR_MSIX);
  unmap_bar_locked (vdev, BAR_REGS);
  if (vdev->rom_mapped_addr != 0)
    hv_bus_unregister (platform->mmio, vdev->rom_mapped_addr, vdev);
  if (vdev->intx_level)
    hv_platform_set_irq (platform, vdev->intx_gsi, FALSE);
  g_mutex_unlock (&vdev->lock);
  vdev_destroy (vdev);
}
