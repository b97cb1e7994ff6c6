/* cpuid.c — the CPUID a vCPU sees: feature names for the user's mask, and the topology of a machine
 * of single-threaded cores in one socket laid over what KVM supports.
 *
 * APIC ids equal vCPU indexes.  Topology is reported the Intel way (leaves 1, 4, 0xB, 0x1F) and the
 * AMD way (0x80000008, CmpLegacy off), so either vendor's guest code finds n cores of one thread
 * each. */
#include "cpuid.h"
#include "hv.h"

#include <string.h>

enum
{
  EAX,
  EBX,
  ECX,
  EDX
};

typedef struct
{
  const char *name;
  uint32_t leaf;
  uint32_t subleaf;
  uint8_t reg;
  uint8_t bit;
} CpuidFlag;

/* Linux's /proc/cpuinfo names (arch/x86/include/asm/cpufeatures.h) for the bits a user may want
 * hidden. */
static const CpuidFlag cpuid_flags[] = {
  { "fpu", 1, 0, EDX, 0 },
  { "vme", 1, 0, EDX, 1 },
  { "de", 1, 0, EDX, 2 },
  { "pse", 1, 0, EDX, 3 },
  { "tsc", 1, 0, EDX, 4 },
  { "msr", 1, 0, EDX, 5 },
  { "pae", 1, 0, EDX, 6 },
  { "mce", 1, 0, EDX, 7 },
  { "cx8", 1, 0, EDX, 8 },
  { "apic", 1, 0, EDX, 9 },
  { "sep", 1, 0, EDX, 11 },
  { "mtrr", 1, 0, EDX, 12 },
  { "pge", 1, 0, EDX, 13 },
  { "mca", 1, 0, EDX, 14 },
  { "cmov", 1, 0, EDX, 15 },
  { "pat", 1, 0, EDX, 16 },
  { "pse36", 1, 0, EDX, 17 },
  { "pn", 1, 0, EDX, 18 },
  { "clflush", 1, 0, EDX, 19 },
  { "dts", 1, 0, EDX, 21 },
  { "acpi", 1, 0, EDX, 22 },
  { "mmx", 1, 0, EDX, 23 },
  { "fxsr", 1, 0, EDX, 24 },
  { "sse", 1, 0, EDX, 25 },
  { "sse2", 1, 0, EDX, 26 },
  { "ss", 1, 0, EDX, 27 },
  { "ht", 1, 0, EDX, 28 },
  { "tm", 1, 0, EDX, 29 },
  { "ia64", 1, 0, EDX, 30 },
  { "pbe", 1, 0, EDX, 31 },

  { "pni", 1, 0, ECX, 0 },
  { "pclmulqdq", 1, 0, ECX, 1 },
  { "dtes64", 1, 0, ECX, 2 },
  { "monitor", 1, 0, ECX, 3 },
  { "ds_cpl", 1, 0, ECX, 4 },
  { "vmx", 1, 0, ECX, 5 },
  { "smx", 1, 0, ECX, 6 },
  { "est", 1, 0, ECX, 7 },
  { "tm2", 1, 0, ECX, 8 },
  { "ssse3", 1, 0, ECX, 9 },
  { "cid", 1, 0, ECX, 10 },
  { "sdbg", 1, 0, ECX, 11 },
  { "fma", 1, 0, ECX, 12 },
  { "cx16", 1, 0, ECX, 13 },
  { "xtpr", 1, 0, ECX, 14 },
  { "pdcm", 1, 0, ECX, 15 },
  { "pcid", 1, 0, ECX, 17 },
  { "dca", 1, 0, ECX, 18 },
  { "sse4_1", 1, 0, ECX, 19 },
  { "sse4_2", 1, 0, ECX, 20 },
  { "x2apic", 1, 0, ECX, 21 },
  { "movbe", 1, 0, ECX, 22 },
  { "popcnt", 1, 0, ECX, 23 },
  { "tsc_deadline_timer", 1, 0, ECX, 24 },
  { "aes", 1, 0, ECX, 25 },
  { "xsave", 1, 0, ECX, 26 },
  { "avx", 1, 0, ECX, 28 },
  { "f16c", 1, 0, ECX, 29 },
  { "rdrand", 1, 0, ECX, 30 },
  { "hypervisor", 1, 0, ECX, 31 },

  { "fsgsbase", 7, 0, EBX, 0 },
  { "tsc_adjust", 7, 0, EBX, 1 },
  { "sgx", 7, 0, EBX, 2 },
  { "bmi1", 7, 0, EBX, 3 },
  { "hle", 7, 0, EBX, 4 },
  { "avx2", 7, 0, EBX, 5 },
  { "smep", 7, 0, EBX, 7 },
  { "bmi2", 7, 0, EBX, 8 },
  { "erms", 7, 0, EBX, 9 },
  { "invpcid", 7, 0, EBX, 10 },
  { "rtm", 7, 0, EBX, 11 },
  { "cqm", 7, 0, EBX, 12 },
  { "mpx", 7, 0, EBX, 14 },
  { "rdt_a", 7, 0, EBX, 15 },
  { "avx512f", 7, 0, EBX, 16 },
  { "avx512dq", 7, 0, EBX, 17 },
  { "rdseed", 7, 0, EBX, 18 },
  { "adx", 7, 0, EBX, 19 },
  { "smap", 7, 0, EBX, 20 },
  { "avx512ifma", 7, 0, EBX, 21 },
  { "clflushopt", 7, 0, EBX, 23 },
  { "clwb", 7, 0, EBX, 24 },
  { "intel_pt", 7, 0, EBX, 25 },
  { "avx512pf", 7, 0, EBX, 26 },
  { "avx512er", 7, 0, EBX, 27 },
  { "avx512cd", 7, 0, EBX, 28 },
  { "sha_ni", 7, 0, EBX, 29 },
  { "avx512bw", 7, 0, EBX, 30 },
  { "avx512vl", 7, 0, EBX, 31 },

  { "avx512vbmi", 7, 0, ECX, 1 },
  { "umip", 7, 0, ECX, 2 },
  { "pku", 7, 0, ECX, 3 },
  { "ospke", 7, 0, ECX, 4 },
  { "waitpkg", 7, 0, ECX, 5 },
  { "avx512_vbmi2", 7, 0, ECX, 6 },
  { "gfni", 7, 0, ECX, 8 },
  { "vaes", 7, 0, ECX, 9 },
  { "vpclmulqdq", 7, 0, ECX, 10 },
  { "avx512_vnni", 7, 0, ECX, 11 },
  { "avx512_bitalg", 7, 0, ECX, 12 },
  { "tme", 7, 0, ECX, 13 },
  { "avx512_vpopcntdq", 7, 0, ECX, 14 },
  { "la57", 7, 0, ECX, 16 },
  { "rdpid", 7, 0, ECX, 22 },
  { "bus_lock_detect", 7, 0, ECX, 24 },
  { "cldemote", 7, 0, ECX, 25 },
  { "movdiri", 7, 0, ECX, 27 },
  { "movdir64b", 7, 0, ECX, 28 },
  { "enqcmd", 7, 0, ECX, 29 },
  { "sgx_lc", 7, 0, ECX, 30 },

  { "avx512_4vnniw", 7, 0, EDX, 2 },
  { "avx512_4fmaps", 7, 0, EDX, 3 },
  { "fsrm", 7, 0, EDX, 4 },
  { "avx512_vp2intersect", 7, 0, EDX, 8 },
  { "md_clear", 7, 0, EDX, 10 },
  { "serialize", 7, 0, EDX, 14 },
  { "tsxldtrk", 7, 0, EDX, 16 },
  { "pconfig", 7, 0, EDX, 18 },
  { "arch_lbr", 7, 0, EDX, 19 },
  { "ibt", 7, 0, EDX, 20 },
  { "amx_bf16", 7, 0, EDX, 22 },
  { "avx512_fp16", 7, 0, EDX, 23 },
  { "amx_tile", 7, 0, EDX, 24 },
  { "amx_int8", 7, 0, EDX, 25 },
  { "flush_l1d", 7, 0, EDX, 28 },
  { "arch_capabilities", 7, 0, EDX, 29 },

  { "avx_vnni", 7, 1, EAX, 4 },
  { "avx512_bf16", 7, 1, EAX, 5 },

  { "xsaveopt", 0xd, 1, EAX, 0 },
  { "xsavec", 0xd, 1, EAX, 1 },
  { "xgetbv1", 0xd, 1, EAX, 2 },
  { "xsaves", 0xd, 1, EAX, 3 },

  { "syscall", 0x80000001, 0, EDX, 11 },
  { "mp", 0x80000001, 0, EDX, 19 },
  { "nx", 0x80000001, 0, EDX, 20 },
  { "mmxext", 0x80000001, 0, EDX, 22 },
  { "fxsr_opt", 0x80000001, 0, EDX, 25 },
  { "pdpe1gb", 0x80000001, 0, EDX, 26 },
  { "rdtscp", 0x80000001, 0, EDX, 27 },
  { "lm", 0x80000001, 0, EDX, 29 },
  { "3dnowext", 0x80000001, 0, EDX, 30 },
  { "3dnow", 0x80000001, 0, EDX, 31 },

  { "lahf_lm", 0x80000001, 0, ECX, 0 },
  { "cmp_legacy", 0x80000001, 0, ECX, 1 },
  { "svm", 0x80000001, 0, ECX, 2 },
  { "extapic", 0x80000001, 0, ECX, 3 },
  { "cr8_legacy", 0x80000001, 0, ECX, 4 },
  { "abm", 0x80000001, 0, ECX, 5 },
  { "sse4a", 0x80000001, 0, ECX, 6 },
  { "misalignsse", 0x80000001, 0, ECX, 7 },
  { "3dnowprefetch", 0x80000001, 0, ECX, 8 },
  { "osvw", 0x80000001, 0, ECX, 9 },
  { "ibs", 0x80000001, 0, ECX, 10 },
  { "xop", 0x80000001, 0, ECX, 11 },
  { "skinit", 0x80000001, 0, ECX, 12 },
  { "wdt", 0x80000001, 0, ECX, 13 },
  { "lwp", 0x80000001, 0, ECX, 15 },
  { "fma4", 0x80000001, 0, ECX, 16 },
  { "tce", 0x80000001, 0, ECX, 17 },
  { "nodeid_msr", 0x80000001, 0, ECX, 19 },
  { "tbm", 0x80000001, 0, ECX, 21 },
  { "topoext", 0x80000001, 0, ECX, 22 },
  { "perfctr_core", 0x80000001, 0, ECX, 23 },
  { "perfctr_nb", 0x80000001, 0, ECX, 24 },
  { "bpext", 0x80000001, 0, ECX, 26 },
  { "ptsc", 0x80000001, 0, ECX, 27 },
  { "perfctr_llc", 0x80000001, 0, ECX, 28 },
  { "mwaitx", 0x80000001, 0, ECX, 29 },
};

/* Bits hv_cpuid_prepare() sets or clears. */
#define LEAF1_EDX_HTT          (1u << 28)
#define LEAF1_ECX_HYPERVISOR   (1u << 31)
#define EXT1_ECX_CMP_LEGACY    (1u << 1)
#define LEAF4_CORES_MASK       0xfc000000u /* EAX[31:26]: cores per package - 1 */
#define LEAF4_SHARING_MASK     0x03ffc000u /* EAX[25:14]: logical CPUs sharing the cache - 1 */
#define TOPOLOGY_LEVEL_SMT     1u
#define TOPOLOGY_LEVEL_CORE    2u

gboolean
hv_cpuid_lookup (const char *name, HvCpuidBit *bit)
{
  if (name == NULL)
    return FALSE;
  for (gsize i = 0; i < G_N_ELEMENTS (cpuid_flags); i++)
    if (g_ascii_strcasecmp (name, cpuid_flags[i].name) == 0)
      {
        if (bit)
          *bit = (HvCpuidBit){ .leaf = cpuid_flags[i].leaf, .subleaf = cpuid_flags[i].subleaf,
                               .reg = cpuid_flags[i].reg, .bit = cpuid_flags[i].bit };
        return TRUE;
      }
  return FALSE;
}

static gboolean
mask_contains (const HvCpuidMask *mask, const HvCpuidBit *bit)
{
  for (unsigned i = 0; i < mask->n_clear; i++)
    if (memcmp (&mask->clear[i], bit, sizeof *bit) == 0)
      return TRUE;
  return FALSE;
}

gboolean
hv_cpuid_mask_parse (const char *text, HvCpuidMask *mask, GError **error)
{
  g_auto (GStrv) items = NULL;
  g_autofree char *all = NULL;
  HvCpuidMask parsed;

  g_return_val_if_fail (mask != NULL, FALSE);
  memset (&parsed, 0, sizeof parsed);

  /* No text at all is no mask; emptiness between commas is a typo worth reporting. */
  all = g_strstrip (g_strdup (text ? text : ""));
  if (*all == '\0')
    {
      *mask = parsed;
      return TRUE;
    }

  items = g_strsplit (all, ",", -1);
  for (guint i = 0; items[i]; i++)
    {
      char *item = g_strstrip (items[i]);
      char *name;
      HvCpuidBit bit;

      if (*item == '\0')
        {
          g_set_error (error, HV_ERROR, HV_ERROR_INVALID_ARGUMENT,
                       "item %u of the CPUID mask “%s” is empty", i + 1, all);
          return FALSE;
        }
      if (*item != '-')
        {
          g_set_error (error, HV_ERROR, HV_ERROR_INVALID_ARGUMENT,
                       "“%s” in the CPUID mask must start with '-': features can only be removed",
                       item);
          return FALSE;
        }
      name = g_strstrip (item + 1);
      if (*name == '\0')
        {
          g_set_error (error, HV_ERROR, HV_ERROR_INVALID_ARGUMENT,
                       "item %u of the CPUID mask “%s” is a '-' without a feature name", i + 1,
                       all);
          return FALSE;
        }
      if (!hv_cpuid_lookup (name, &bit))
        {
          g_set_error (error, HV_ERROR, HV_ERROR_INVALID_ARGUMENT,
                       "unknown CPU feature “%s” in the CPUID mask (use the flag names of "
                       "/proc/cpuinfo)", name);
          return FALSE;
        }
      if (mask_contains (&parsed, &bit))
        continue;
      if (parsed.n_clear == HV_CPUID_MASK_MAX)
        {
          g_set_error (error, HV_ERROR, HV_ERROR_INVALID_ARGUMENT,
                       "the CPUID mask removes more than %d features", HV_CPUID_MASK_MAX);
          return FALSE;
        }
      parsed.clear[parsed.n_clear++] = bit;
    }
  *mask = parsed;
  return TRUE;
}

static struct kvm_cpuid_entry2 *
find_entry (struct kvm_cpuid_entry2 *entries, unsigned n_entries, uint32_t leaf, uint32_t subleaf)
{
  for (unsigned i = 0; i < n_entries; i++)
    if (entries[i].function == leaf && entries[i].index == subleaf)
      return &entries[i];
  return NULL;
}

unsigned
hv_cpuid_add_topology_leaves (struct kvm_cpuid_entry2 *entries, unsigned n_entries,
                              unsigned capacity)
{
  static const uint32_t leaves[] = { 0xb, 0x1f };

  for (gsize i = 0; i < G_N_ELEMENTS (leaves); i++)
    {
      struct kvm_cpuid_entry2 *first = find_entry (entries, n_entries, leaves[i], 0);
      if (first == NULL || find_entry (entries, n_entries, leaves[i], 1) != NULL
          || n_entries >= capacity)
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
      case EAX: return &e->eax;
      case EBX: return &e->ebx;
      case ECX: return &e->ecx;
      default: return &e->edx;
    }
}

/* Leaves 0xB and 0x1F: the SMT level (one thread, no APIC id bits), then the core level (@n_vcpus,
 * @shift bits), then invalid levels; EDX is the x2APIC id at every subleaf.  Without subleaf 1, a
 * leaf cannot say where the package ends: it is left empty; guests then use leaves 1 and 4. */
static void
prepare_extended_topology (struct kvm_cpuid_entry2 *e, gboolean complete, unsigned index,
                           unsigned n_vcpus, unsigned shift)
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
hv_cpuid_prepare (struct kvm_cpuid_entry2 *entries, unsigned n_entries, unsigned index,
                  unsigned n_vcpus, const HvCpuidMask *mask)
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
          if (b->leaf == e->function && b->subleaf == e->index && b->reg <= EDX && b->bit < 32)
            *entry_reg (e, b->reg) &= ~(1u << b->bit);
        }
    }
}
