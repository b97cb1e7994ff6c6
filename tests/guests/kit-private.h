/* kit-private.h — what the kit's own files and entry.S share but guests do not call. */
#pragma once

#include "kit.h"

/* The frame kit_exception_common hands to kit_exception: pushed by the stub, then by the CPU. */
typedef struct
{
  uint64_t vector;
  uint64_t error_code;
  uint64_t rip;
  uint64_t cs;
  uint64_t rflags;
  uint64_t rsp;
  uint64_t ss;
} KitExceptionFrame;

/* Called from entry.S. */
void kit_start (uint32_t start_info_paddr) __attribute__ ((noreturn));
void kit_exception (KitExceptionFrame *frame) __attribute__ ((noreturn));
long kit_run_user_asm (long (*fn) (void *), void *arg, void *user_stack_top);

void kit_serial_init (void);
void kit_boot_init (uint32_t start_info_paddr);

/* The end of the identity map entry.S builds. */
#define KIT_IDENTITY_MAP_END 0x100000000ull

/* virtio-pci modern, shared by the kit's virtio drivers (kit-virtio.c, kit-virtio-blk.c). */
/* Vendor capability (struct virtio_pci_cap) fields and types. */
#define CAP_CFG_TYPE    3
#define CAP_BAR         4
#define CAP_OFFSET      8
#define CAP_LENGTH      12
#define CAP_NOTIFY_MULT 16
#define CAP_COMMON_CFG  1
#define CAP_NOTIFY_CFG  2
#define CAP_DEVICE_CFG  4

/* struct virtio_pci_common_cfg. */
#define COMMON_DEVICE_FEATURE_SELECT 0x00
#define COMMON_DEVICE_FEATURE        0x04
#define COMMON_DRIVER_FEATURE_SELECT 0x08
#define COMMON_DRIVER_FEATURE        0x0c
#define COMMON_NUM_QUEUES            0x12
#define COMMON_DEVICE_STATUS         0x14
#define COMMON_QUEUE_SELECT          0x16
#define COMMON_QUEUE_SIZE            0x18
#define COMMON_QUEUE_ENABLE          0x1c
#define COMMON_QUEUE_NOTIFY_OFF      0x1e
#define COMMON_QUEUE_DESC            0x20
#define COMMON_QUEUE_DRIVER          0x28
#define COMMON_QUEUE_DEVICE          0x30
#define COMMON_CFG_LEN               0x38

#define STATUS_ACKNOWLEDGE 0x01
#define STATUS_DRIVER      0x02
#define STATUS_DRIVER_OK   0x04
#define STATUS_FEATURES_OK 0x08
#define STATUS_FAILED      0x80
#define FEATURE_VERSION_1  0x1 /* feature bit 32: bit 0 of feature word 1 */

#define DESC_F_WRITE         2
#define AVAIL_F_NO_INTERRUPT 1
#define USED_F_NO_NOTIFY     1

/* About 20 ms at 3 GHz: a reset is immediate on a VMM's device. */
#define RESET_TIMEOUT_CYCLES (1ull << 26)

static inline uint8_t
read8 (volatile uint8_t *base, unsigned offset)
{
  return base[offset];
}

static inline uint16_t
read16 (volatile uint8_t *base, unsigned offset)
{
  return *(volatile uint16_t *) (base + offset);
}

static inline uint32_t
read32 (volatile uint8_t *base, unsigned offset)
{
  return *(volatile uint32_t *) (base + offset);
}

static inline void
write8 (volatile uint8_t *base, unsigned offset, uint8_t value)
{
  base[offset] = value;
}

static inline void
write16 (volatile uint8_t *base, unsigned offset, uint16_t value)
{
  *(volatile uint16_t *) (base + offset) = value;
}

static inline void
write32 (volatile uint8_t *base, unsigned offset, uint32_t value)
{
  *(volatile uint32_t *) (base + offset) = value;
}

/* 64-bit fields as two 32-bit halves, low first, which the spec allows and every device takes. */
static inline void
write64 (volatile uint8_t *base, unsigned offset, uint64_t value)
{
  write32 (base, offset, (uint32_t) value);
  write32 (base, offset + 4, (uint32_t) (value >> 32));
}

static inline void
barrier (void)
{
  __asm__ volatile("" ::: "memory");
}

/* The virtio-pci modern transport (kit-virtio-pci.c).  Functions returning a string return NULL on
 * success and otherwise what went wrong (the device is then marked FAILED where that helps). */
typedef struct
{
  volatile uint8_t *common; /* struct virtio_pci_common_cfg */
  volatile uint8_t *device; /* the device-specific configuration */
  uint32_t device_length;
  volatile uint8_t *notify_base;
  uint32_t notify_length;
  uint32_t notify_multiplier;
} KitVirtioPci;

/* Maps the common, notify and device configuration (at least @device_min bytes) of @pci. */
bool kit_virtio_pci_find (KitVirtioPci *t, const KitPciDevice *pci, uint32_t device_min);
/* Resets the device and negotiates VERSION_1 and the features 0-31 in @features that it offers
 * (@features becomes those), up to FEATURES_OK. */
const char *kit_virtio_pci_negotiate (KitVirtioPci *t, uint32_t *features);
/* Selects queue @index and sets its size: @wanted, halved until the device takes it, at least
 * @min_size; finds its doorbell. */
const char *kit_virtio_pci_queue_size (KitVirtioPci *t, unsigned index, uint16_t wanted, uint16_t min_size,
                                       uint16_t *size, volatile uint16_t **notify);
/* Gives the selected queue its areas and enables it. */
void kit_virtio_pci_queue_enable (KitVirtioPci *t, const void *desc, const void *avail, const void *used);
const char *kit_virtio_pci_driver_ok (KitVirtioPci *t);
void kit_virtio_pci_set_failed (KitVirtioPci *t);
