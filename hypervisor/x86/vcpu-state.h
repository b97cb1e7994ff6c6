/* vcpu-state.h — the KVM state of an x86 vCPU as a GVariant dictionary for saved VMs, read and
 * written in Firecracker's ioctl order. */
#pragma once

#include "hv.h"

/* Everything KVM holds for one vCPU: CPUID, MP state, registers, FPU/XSAVE, XCRs, debug registers,
 * local APIC, MSRs, TSC frequency and pending events.  Call with no exit pending (the vCPU
 * re-entered KVM_RUN after its last exit), preferably on the vCPU's own thread.  Returns a new
 * a{sv}. */
GVariant *hv_vcpu_state_save (int kvm_fd, int vm_fd, int vcpu_fd, unsigned index, GError **error);
/* Checks a saved vCPU state without KVM: every field present, of the right size and in range. */
gboolean hv_vcpu_state_check (GVariant *state, unsigned index, GError **error);
/* Applies a saved state to a vCPU that has never run, or to a parked one with no exit pending
 * (hv_vm_revert: KVM takes CPUID again after a vCPU ran only when it is the same, which the same
 * configuration gives); checks it first. */
gboolean hv_vcpu_state_restore (int kvm_fd, int vm_fd, int vcpu_fd, unsigned index, GVariant *state,
                                GError **error);
/* Tells KVM the vCPU was paused by the host, so a guest using kvmclock does not take the lost time
 * for a soft lockup.  A guest without kvmclock is no error. */
void hv_vcpu_state_clock_paused (int vcpu_fd);
