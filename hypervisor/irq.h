/* irq.h — the in-kernel interrupt controllers (PIC, IOAPIC, PIT) and the GSI routing table. */
#pragma once

#include "hv.h"

typedef struct _HvIrq HvIrq;

/* Creates the in-kernel irqchip and PIT2 on @vm_fd and installs the PC routing: ISA IRQs to the PICs and
 * the IOAPIC, with ISA IRQ 0 (the PIT) on IOAPIC pin 2 as the MADT says. */
HvIrq *hv_irq_new (int vm_fd, GError **error);
void hv_irq_free (HvIrq *irq);

/* Drives an interrupt line (GSI) to @level. */
void hv_irq_set_line (HvIrq *irq, unsigned gsi, gboolean level);

/* Adds an MSI route and returns its GSI (for an irqfd), or -1 with @error set. */
int hv_irq_add_msi_route (HvIrq *irq, uint64_t address, uint32_t data, GError **error);
/* Changes the message of an MSI route a guest reprogrammed. */
gboolean hv_irq_update_msi_route (HvIrq *irq, unsigned gsi, uint64_t address, uint32_t data, GError **error);
