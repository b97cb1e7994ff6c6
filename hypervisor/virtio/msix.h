/* msix.h — MSI-X for a PCI function (PCI 3.0 §6.8.2): the vector table and pending bits the guest sees in
 * a BAR, and each vector's interrupt sent as an irqfd bound to an MSI route.  It has no lock of its own:
 * the lock of the device that owns it guards every call. */
#pragma once

#include "platform.h"

#define HV_MSIX_ENTRY_SIZE  16
#define HV_MSIX_BAR_SIZE    0x1000 /* the table from offset 0, the PBA from HV_MSIX_PBA_OFFSET */
#define HV_MSIX_PBA_OFFSET  0x800
#define HV_MSIX_MAX_VECTORS (HV_MSIX_PBA_OFFSET / HV_MSIX_ENTRY_SIZE)

typedef struct _HvMsix HvMsix;

/* @n_vectors entries, all masked, as after a PCI reset.  @owner names the device in log messages. */
HvMsix *hv_msix_new (const HvPlatform *platform, const char *owner, unsigned n_vectors, GError **error);
/* Unbinds the irqfds from their routes. */
void hv_msix_free (HvMsix *msix);

/* The Enable and Function Mask bits of the capability's Message Control, as the guest last wrote them.
 * Interrupts held back by a mask that is now clear go out. */
void hv_msix_set_control (HvMsix *msix, gboolean enabled, gboolean masked);
gboolean hv_msix_is_enabled (const HvMsix *msix);

/* Interrupts with @vector now, or as soon as its masks allow; a vector past the table is ignored (that is
 * how a virtio NO_VECTOR behaves). */
void hv_msix_signal (HvMsix *msix, unsigned vector);
/* Forgets the interrupts held back (the device was reset). */
void hv_msix_clear_pending (HvMsix *msix);

/* A guest access to the BAR with the table and PBA: entries read back as written (vector control keeps
 * only its mask bit); the PBA is read-only; everything else reads as zero. */
void hv_msix_bar_io (HvMsix *msix, uint64_t offset, uint8_t *data, unsigned len, gboolean is_write);

/* Saved state: "msix-table" (the entries) and "msix-pending" (one byte per vector) in @dict.  Loading
 * checks both for @what and changes nothing when either is wrong; routes are made again at the next
 * interrupt. */
void hv_msix_save_state (HvMsix *msix, GVariantDict *dict);
gboolean hv_msix_load_state (HvMsix *msix, GVariant *state, const char *what, GError **error);
