/* vm-state.h — the KVM state of the VM's in-kernel PIC, IOAPIC, PIT and clock as a GVariant
 * dictionary for saved VMs. */
#pragma once

#include "hv.h"

/* The in-kernel PIC (master and slave), IOAPIC, PIT and kvmclock.  Returns a new a{sv}. */
GVariant *hv_vm_kvm_state_save (int vm_fd, GError **error);
gboolean hv_vm_kvm_state_check (GVariant *state, GError **error);
/* Applies a saved state to a VM whose irqchip and PIT were just created; checks it first. */
gboolean hv_vm_kvm_state_restore (int vm_fd, GVariant *state, GError **error);
