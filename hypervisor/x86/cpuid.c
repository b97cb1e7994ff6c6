/* cpuid.c — the CPUID a vCPU sees: the topology of a machine of single-threaded cores in one socket laid
 * over what KVM supports, with the user's mask (cpuid-mask.c) applied.
 *
 * APIC ids equal vCPU indexes.  Topology is reported the Intel way (leaves 1, 4, 0xB, 0x1F) and the
 * AMD way (0x80000008, CmpLegacy off), so either vendor's guest code finds n cores of one thread
 * each. */
#include "cpuid.h"
#include "hv.h"

#include <string.h>

/* Bits hv_cpuid_prepare() sets or clears. */
#define LEAF1_EDX_HTT        (1u << 28)
#define LEAF1_ECX_HYPERVISOR (1u << 31)
#define EXT1_ECX_CMP_LEGACY  (1u << 1)
#define LEAF4_CORES_MASK     0xfc000000u /* EAX[31:26]: cores per package - 1 */
#define LEAF4_SHARING_MASK   0x03ffc000u /* EAX[25:14]: logical CPUs sharing the cache - 1 */
#define TOPOLOGY_LEVEL_SMT   1u
#define TOPOLOGY_LEVEL_CORE  2u

static struct kvm_cpuid_entry2 *
find_entry (struct kvm_cpuid_entry2 *entries, unsigned n_entries, uint32_t leaf, uint32_t subleaf)
{
  for (unsigned i = 0; i < n_entries; i++)
    if (entries[i].function == leaf && entries[i].index == subleaf)
      return &entries[i];
  return NULL;
}

unsigned
hv_cpuid_add_topology_leaves (struct kvm_cpuid_entry2 *entries, unsigned n_entries, unsigned capacity)
{
  static const uint32_t leaves[] = { 0xb, 0x1f };

  for (gsize i = 0; i < G_N_ELEMENTS (leaves); i++)
    {
      struct kvm_cpuid_entry2 *first = find_entry (entries, n_entries, leaves[i], 0);
      if (first == NULL || find_entry (entries, n_entries, leaves[i], 1) != NULL || n_entries >= capacity)
        continue;
      entries[n_entries] = (struct kvm_cpuid_entry2){
        .function = leaves[i],
        .index = 1,
        .flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX,
      };
      n_entries++;
    }
  return n_entries;
}

static uint32_t *
entry_reg (struct kvm_cpuid_entry2 *e, unsigned reg)
{
  switch (reg)
    {
    case HV_CPUID_EAX:
      return &e->eax;
    case HV_CPUID_EBX:
      return &e->ebx;
    case HV_CPUID_ECX:
      return &e->ecx;
    default:
      return &e->edx;
    }
}

/* Leaves 0xB and 0x1F: the SMT level (one thread, no APIC id bits), then the core level (@n_vcpus,
 * @shift bits), then invalid levels; EDX is the x2APIC id at every subleaf.  Without subleaf 1, a
 * leaf cannot say where the package ends: it is left empty; guests then use leaves 1 and 4. */
static void
prepare_extended_topology (struct kvm_cpuid_entry2 *e, gboolean complete, unsigned index, unsigned n_vcpus,
                           unsigned shift)
{
  e->edx = index;
  if (complete && e->index == 0)
    {
      e->eax = 0;
      e->ebx = 1;
      e->ecx = TOPOLOGY_LEVEL_SMT << 8;
    }
  else if (complete && e->index == 1)
    {
      e->eax = shift;
      e->ebx = n_vcpus;
      e->ecx = TOPOLOGY_LEVEL_CORE << 8 | 1;
    }
  else
    {
      e->eax = 0;
      e->ebx = 0;
      e->ecx = e->index & 0xff;
    }
}

void
hv_cpuid_prepare (struct kvm_cpuid_entry2 *entries, unsigned n_entries, unsigned index, unsigned n_vcpus,
                  const HvCpuidMask *mask)
{
  unsigned shift = 0;
  gboolean complete_0b, complete_1f;

  g_return_if_fail (entries != NULL || n_entries == 0);
  g_return_if_fail (n_vcpus >= HV_VCPUS_MIN && n_vcpus <= HV_VCPUS_MAX && index < n_vcpus);

  /* Bits of the APIC id that number the cores: ceil(log2(n_vcpus)). */
  while ((1u << shift) < n_vcpus)
    shift++;
  complete_0b = find_entry (entries, n_entries, 0xb, 1) != NULL;
  complete_1f = find_entry (entries, n_entries, 0x1f, 1) != NULL;

  for (unsigned i = 0; i < n_entries; i++)
    {
      struct kvm_cpuid_entry2 *e = &entries[i];

      switch (e->function)
        {
        case 1:
          /* EBX: initial APIC id in [31:24], logical processors per package in [23:16]. */
          e->ebx = (e->ebx & 0x0000ffff) | index << 24 | n_vcpus << 16;
          e->ecx |= LEAF1_ECX_HYPERVISOR;
          if (n_vcpus > 1)
            e->edx |= LEAF1_EDX_HTT;
          else
            e->edx &= ~LEAF1_EDX_HTT;
          break;
        case 4:
          if ((e->eax & 0x1f) == 0) /* no cache at this subleaf: the list ends */
            break;
          e->eax &= ~(LEAF4_CORES_MASK | LEAF4_SHARING_MASK);
          e->eax |= (n_vcpus - 1) << 26;
          /* L1 and L2 are per core; L3 and beyond are shared by the package. */
          if (((e->eax >> 5) & 0x7) >= 3)
            e->eax |= (n_vcpus - 1) << 14;
          break;
        case 0xb:
          prepare_extended_topology (e, complete_0b, index, n_vcpus, shift);
          break;
        case 0x1f:
          prepare_extended_topology (e, complete_1f, index, n_vcpus, shift);
          break;
        case 0x80000001:
          /* CmpLegacy would tell AMD-aware guests that HTT counts cores of a legacy package. */
          e->ecx &= ~EXT1_ECX_CMP_LEGACY;
          break;
        case 0x80000008:
          /* ECX: ApicIdSize in [15:12], cores - 1 in [7:0]. */
          e->ecx = (e->ecx & ~0xf0ffu) | shift << 12 | ((n_vcpus - 1) & 0xff);
          break;
        default:
          break;
        }

      if (mask == NULL)
        continue;
      for (unsigned m = 0; m < mask->n_clear && m < HV_CPUID_MASK_MAX; m++)
        {
          const HvCpuidBit *b = &mask->clear[m];
          if (b->leaf == e->function && b->subleaf == e->index && b->reg <= HV_CPUID_EDX && b->bit < 32)
            *entry_reg (e, b->reg) &= ~(1u << b->bit);
        }
    }
}
