/* cpuid-mask.c — CPU feature names and the user's CPUID mask ("-cx16,-avx512f"): text only, no KVM, so
 * the service can check a mask without the vCPU code. */
#include "cpuid-mask.h"
#include "hv-limits.h"

#include <string.h>

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
  { "fpu", 1, 0, HV_CPUID_EDX, 0 },
  { "vme", 1, 0, HV_CPUID_EDX, 1 },
  { "de", 1, 0, HV_CPUID_EDX, 2 },
  { "pse", 1, 0, HV_CPUID_EDX, 3 },
  { "tsc", 1, 0, HV_CPUID_EDX, 4 },
  { "msr", 1, 0, HV_CPUID_EDX, 5 },
  { "pae", 1, 0, HV_CPUID_EDX, 6 },
  { "mce", 1, 0, HV_CPUID_EDX, 7 },
  { "cx8", 1, 0, HV_CPUID_EDX, 8 },
  { "apic", 1, 0, HV_CPUID_EDX, 9 },
  { "sep", 1, 0, HV_CPUID_EDX, 11 },
  { "mtrr", 1, 0, HV_CPUID_EDX, 12 },
  { "pge", 1, 0, HV_CPUID_EDX, 13 },
  { "mca", 1, 0, HV_CPUID_EDX, 14 },
  { "cmov", 1, 0, HV_CPUID_EDX, 15 },
  { "pat", 1, 0, HV_CPUID_EDX, 16 },
  { "pse36", 1, 0, HV_CPUID_EDX, 17 },
  { "pn", 1, 0, HV_CPUID_EDX, 18 },
  { "clflush", 1, 0, HV_CPUID_EDX, 19 },
  { "dts", 1, 0, HV_CPUID_EDX, 21 },
  { "acpi", 1, 0, HV_CPUID_EDX, 22 },
  { "mmx", 1, 0, HV_CPUID_EDX, 23 },
  { "fxsr", 1, 0, HV_CPUID_EDX, 24 },
  { "sse", 1, 0, HV_CPUID_EDX, 25 },
  { "sse2", 1, 0, HV_CPUID_EDX, 26 },
  { "ss", 1, 0, HV_CPUID_EDX, 27 },
  { "ht", 1, 0, HV_CPUID_EDX, 28 },
  { "tm", 1, 0, HV_CPUID_EDX, 29 },
  { "ia64", 1, 0, HV_CPUID_EDX, 30 },
  { "pbe", 1, 0, HV_CPUID_EDX, 31 },

  { "pni", 1, 0, HV_CPUID_ECX, 0 },
  { "pclmulqdq", 1, 0, HV_CPUID_ECX, 1 },
  { "dtes64", 1, 0, HV_CPUID_ECX, 2 },
  { "monitor", 1, 0, HV_CPUID_ECX, 3 },
  { "ds_cpl", 1, 0, HV_CPUID_ECX, 4 },
  { "vmx", 1, 0, HV_CPUID_ECX, 5 },
  { "smx", 1, 0, HV_CPUID_ECX, 6 },
  { "est", 1, 0, HV_CPUID_ECX, 7 },
  { "tm2", 1, 0, HV_CPUID_ECX, 8 },
  { "ssse3", 1, 0, HV_CPUID_ECX, 9 },
  { "cid", 1, 0, HV_CPUID_ECX, 10 },
  { "sdbg", 1, 0, HV_CPUID_ECX, 11 },
  { "fma", 1, 0, HV_CPUID_ECX, 12 },
  { "cx16", 1, 0, HV_CPUID_ECX, 13 },
  { "xtpr", 1, 0, HV_CPUID_ECX, 14 },
  { "pdcm", 1, 0, HV_CPUID_ECX, 15 },
  { "pcid", 1, 0, HV_CPUID_ECX, 17 },
  { "dca", 1, 0, HV_CPUID_ECX, 18 },
  { "sse4_1", 1, 0, HV_CPUID_ECX, 19 },
  { "sse4_2", 1, 0, HV_CPUID_ECX, 20 },
  { "x2apic", 1, 0, HV_CPUID_ECX, 21 },
  { "movbe", 1, 0, HV_CPUID_ECX, 22 },
  { "popcnt", 1, 0, HV_CPUID_ECX, 23 },
  { "tsc_deadline_timer", 1, 0, HV_CPUID_ECX, 24 },
  { "aes", 1, 0, HV_CPUID_ECX, 25 },
  { "xsave", 1, 0, HV_CPUID_ECX, 26 },
  { "avx", 1, 0, HV_CPUID_ECX, 28 },
  { "f16c", 1, 0, HV_CPUID_ECX, 29 },
  { "rdrand", 1, 0, HV_CPUID_ECX, 30 },
  { "hypervisor", 1, 0, HV_CPUID_ECX, 31 },

  { "fsgsbase", 7, 0, HV_CPUID_EBX, 0 },
  { "tsc_adjust", 7, 0, HV_CPUID_EBX, 1 },
  { "sgx", 7, 0, HV_CPUID_EBX, 2 },
  { "bmi1", 7, 0, HV_CPUID_EBX, 3 },
  { "hle", 7, 0, HV_CPUID_EBX, 4 },
  { "avx2", 7, 0, HV_CPUID_EBX, 5 },
  { "smep", 7, 0, HV_CPUID_EBX, 7 },
  { "bmi2", 7, 0, HV_CPUID_EBX, 8 },
  { "erms", 7, 0, HV_CPUID_EBX, 9 },
  { "invpcid", 7, 0, HV_CPUID_EBX, 10 },
  { "rtm", 7, 0, HV_CPUID_EBX, 11 },
  { "cqm", 7, 0, HV_CPUID_EBX, 12 },
  { "mpx", 7, 0, HV_CPUID_EBX, 14 },
  { "rdt_a", 7, 0, HV_CPUID_EBX, 15 },
  { "avx512f", 7, 0, HV_CPUID_EBX, 16 },
  { "avx512dq", 7, 0, HV_CPUID_EBX, 17 },
  { "rdseed", 7, 0, HV_CPUID_EBX, 18 },
  { "adx", 7, 0, HV_CPUID_EBX, 19 },
  { "smap", 7, 0, HV_CPUID_EBX, 20 },
  { "avx512ifma", 7, 0, HV_CPUID_EBX, 21 },
  { "clflushopt", 7, 0, HV_CPUID_EBX, 23 },
  { "clwb", 7, 0, HV_CPUID_EBX, 24 },
  { "intel_pt", 7, 0, HV_CPUID_EBX, 25 },
  { "avx512pf", 7, 0, HV_CPUID_EBX, 26 },
  { "avx512er", 7, 0, HV_CPUID_EBX, 27 },
  { "avx512cd", 7, 0, HV_CPUID_EBX, 28 },
  { "sha_ni", 7, 0, HV_CPUID_EBX, 29 },
  { "avx512bw", 7, 0, HV_CPUID_EBX, 30 },
  { "avx512vl", 7, 0, HV_CPUID_EBX, 31 },

  { "avx512vbmi", 7, 0, HV_CPUID_ECX, 1 },
  { "umip", 7, 0, HV_CPUID_ECX, 2 },
  { "pku", 7, 0, HV_CPUID_ECX, 3 },
  { "ospke", 7, 0, HV_CPUID_ECX, 4 },
  { "waitpkg", 7, 0, HV_CPUID_ECX, 5 },
  { "avx512_vbmi2", 7, 0, HV_CPUID_ECX, 6 },
  { "gfni", 7, 0, HV_CPUID_ECX, 8 },
  { "vaes", 7, 0, HV_CPUID_ECX, 9 },
  { "vpclmulqdq", 7, 0, HV_CPUID_ECX, 10 },
  { "avx512_vnni", 7, 0, HV_CPUID_ECX, 11 },
  { "avx512_bitalg", 7, 0, HV_CPUID_ECX, 12 },
  { "tme", 7, 0, HV_CPUID_ECX, 13 },
  { "avx512_vpopcntdq", 7, 0, HV_CPUID_ECX, 14 },
  { "la57", 7, 0, HV_CPUID_ECX, 16 },
  { "rdpid", 7, 0, HV_CPUID_ECX, 22 },
  { "bus_lock_detect", 7, 0, HV_CPUID_ECX, 24 },
  { "cldemote", 7, 0, HV_CPUID_ECX, 25 },
  { "movdiri", 7, 0, HV_CPUID_ECX, 27 },
  { "movdir64b", 7, 0, HV_CPUID_ECX, 28 },
  { "enqcmd", 7, 0, HV_CPUID_ECX, 29 },
  { "sgx_lc", 7, 0, HV_CPUID_ECX, 30 },

  { "avx512_4vnniw", 7, 0, HV_CPUID_EDX, 2 },
  { "avx512_4fmaps", 7, 0, HV_CPUID_EDX, 3 },
  { "fsrm", 7, 0, HV_CPUID_EDX, 4 },
  { "avx512_vp2intersect", 7, 0, HV_CPUID_EDX, 8 },
  { "md_clear", 7, 0, HV_CPUID_EDX, 10 },
  { "serialize", 7, 0, HV_CPUID_EDX, 14 },
  { "tsxldtrk", 7, 0, HV_CPUID_EDX, 16 },
  { "pconfig", 7, 0, HV_CPUID_EDX, 18 },
  { "arch_lbr", 7, 0, HV_CPUID_EDX, 19 },
  { "ibt", 7, 0, HV_CPUID_EDX, 20 },
  { "amx_bf16", 7, 0, HV_CPUID_EDX, 22 },
  { "avx512_fp16", 7, 0, HV_CPUID_EDX, 23 },
  { "amx_tile", 7, 0, HV_CPUID_EDX, 24 },
  { "amx_int8", 7, 0, HV_CPUID_EDX, 25 },
  { "flush_l1d", 7, 0, HV_CPUID_EDX, 28 },
  { "arch_capabilities", 7, 0, HV_CPUID_EDX, 29 },

  { "avx_vnni", 7, 1, HV_CPUID_EAX, 4 },
  { "avx512_bf16", 7, 1, HV_CPUID_EAX, 5 },

  { "xsaveopt", 0xd, 1, HV_CPUID_EAX, 0 },
  { "xsavec", 0xd, 1, HV_CPUID_EAX, 1 },
  { "xgetbv1", 0xd, 1, HV_CPUID_EAX, 2 },
  { "xsaves", 0xd, 1, HV_CPUID_EAX, 3 },

  { "syscall", 0x80000001, 0, HV_CPUID_EDX, 11 },
  { "mp", 0x80000001, 0, HV_CPUID_EDX, 19 },
  { "nx", 0x80000001, 0, HV_CPUID_EDX, 20 },
  { "mmxext", 0x80000001, 0, HV_CPUID_EDX, 22 },
  { "fxsr_opt", 0x80000001, 0, HV_CPUID_EDX, 25 },
  { "pdpe1gb", 0x80000001, 0, HV_CPUID_EDX, 26 },
  { "rdtscp", 0x80000001, 0, HV_CPUID_EDX, 27 },
  { "lm", 0x80000001, 0, HV_CPUID_EDX, 29 },
  { "3dnowext", 0x80000001, 0, HV_CPUID_EDX, 30 },
  { "3dnow", 0x80000001, 0, HV_CPUID_EDX, 31 },

  { "lahf_lm", 0x80000001, 0, HV_CPUID_ECX, 0 },
  { "cmp_legacy", 0x80000001, 0, HV_CPUID_ECX, 1 },
  { "svm", 0x80000001, 0, HV_CPUID_ECX, 2 },
  { "extapic", 0x80000001, 0, HV_CPUID_ECX, 3 },
  { "cr8_legacy", 0x80000001, 0, HV_CPUID_ECX, 4 },
  { "abm", 0x80000001, 0, HV_CPUID_ECX, 5 },
  { "sse4a", 0x80000001, 0, HV_CPUID_ECX, 6 },
  { "misalignsse", 0x80000001, 0, HV_CPUID_ECX, 7 },
  { "3dnowprefetch", 0x80000001, 0, HV_CPUID_ECX, 8 },
  { "osvw", 0x80000001, 0, HV_CPUID_ECX, 9 },
  { "ibs", 0x80000001, 0, HV_CPUID_ECX, 10 },
  { "xop", 0x80000001, 0, HV_CPUID_ECX, 11 },
  { "skinit", 0x80000001, 0, HV_CPUID_ECX, 12 },
  { "wdt", 0x80000001, 0, HV_CPUID_ECX, 13 },
  { "lwp", 0x80000001, 0, HV_CPUID_ECX, 15 },
  { "fma4", 0x80000001, 0, HV_CPUID_ECX, 16 },
  { "tce", 0x80000001, 0, HV_CPUID_ECX, 17 },
  { "nodeid_msr", 0x80000001, 0, HV_CPUID_ECX, 19 },
  { "tbm", 0x80000001, 0, HV_CPUID_ECX, 21 },
  { "topoext", 0x80000001, 0, HV_CPUID_ECX, 22 },
  { "perfctr_core", 0x80000001, 0, HV_CPUID_ECX, 23 },
  { "perfctr_nb", 0x80000001, 0, HV_CPUID_ECX, 24 },
  { "bpext", 0x80000001, 0, HV_CPUID_ECX, 26 },
  { "ptsc", 0x80000001, 0, HV_CPUID_ECX, 27 },
  { "perfctr_llc", 0x80000001, 0, HV_CPUID_ECX, 28 },
  { "mwaitx", 0x80000001, 0, HV_CPUID_ECX, 29 },
};

gboolean
hv_cpuid_lookup (const char *name, HvCpuidBit *bit)
{
  if (name == NULL)
    return FALSE;
  for (gsize i = 0; i < G_N_ELEMENTS (cpuid_flags); i++)
    if (g_ascii_strcasecmp (name, cpuid_flags[i].name) == 0)
      {
        if (bit)
          *bit = (HvCpuidBit){ .leaf = cpuid_flags[i].leaf,
                               .subleaf = cpuid_flags[i].subleaf,
                               .reg = cpuid_flags[i].reg,
                               .bit = cpuid_flags[i].bit };
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
          g_set_error (error, HV_ERROR, HV_ERROR_INVALID_ARGUMENT, "item %u of the CPUID mask “%s” is empty",
                       i + 1, all);
          return FALSE;
        }
      if (*item != '-')
        {
          g_set_error (error, HV_ERROR, HV_ERROR_INVALID_ARGUMENT,
                       "“%s” in the CPUID mask must start with '-': features can only be removed", item);
          return FALSE;
        }
      name = g_strstrip (item + 1);
      if (*name == '\0')
        {
          g_set_error (error, HV_ERROR, HV_ERROR_INVALID_ARGUMENT,
                       "item %u of the CPUID mask “%s” is a '-' without a feature name", i + 1, all);
          return FALSE;
        }
      if (!hv_cpuid_lookup (name, &bit))
        {
          g_set_error (error, HV_ERROR, HV_ERROR_INVALID_ARGUMENT,
                       "unknown CPU feature “%s” in the CPUID mask (use the flag names of "
                       "/proc/cpuinfo)",
                       name);
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
