/* cpuid.h — the CPUID a vCPU sees: KVM's supported set, our topology, the user's feature mask applied. */
#pragma once

#include <glib.h>
#include <stdint.h>
#include <linux/kvm.h>

#include "cpuid-mask.h"

/* KVM_GET_SUPPORTED_CPUID reports leaves 0xB and 0x1F with subleaf 0 only ("no topology").
 * Appends an entry for subleaf 1 of each of them that is present (at most
 * HV_CPUID_TOPOLOGY_ENTRIES, while @capacity allows) for hv_cpuid_prepare() to fill with the core
 * level; returns the new entry count.  Without subleaf 1, hv_cpuid_prepare() leaves such a leaf
 * empty and guests take the topology from leaves 1 and 4. */
#define HV_CPUID_TOPOLOGY_ENTRIES 2
unsigned hv_cpuid_add_topology_leaves (struct kvm_cpuid_entry2 *entries, unsigned n_entries,
                                       unsigned capacity);

/* Turns KVM_GET_SUPPORTED_CPUID's answer (@entries, in place) into vCPU @index's CPUID of a machine with
 * @n_vcpus single-threaded cores in one socket: APIC ids, leaf 1/4/0xB/0x1F/0x80000008 topology, the
 * hypervisor bit, and the mask applied. */
void hv_cpuid_prepare (struct kvm_cpuid_entry2 *entries, unsigned n_entries, unsigned index, unsigned n_vcpus,
                       const HvCpuidMask *mask);
