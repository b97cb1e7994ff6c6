/* cpuid-mask.h — CPU feature names and the user's CPUID mask: text only, no KVM. */
#pragma once

#include <glib.h>
#include <stdint.h>

typedef enum
{
  HV_CPUID_EAX,
  HV_CPUID_EBX,
  HV_CPUID_ECX,
  HV_CPUID_EDX,
} HvCpuidReg;

typedef struct
{
  uint32_t leaf;
  uint32_t subleaf;
  uint8_t reg; /* HvCpuidReg */
  uint8_t bit;
} HvCpuidBit;

#define HV_CPUID_MASK_MAX 64

typedef struct
{
  HvCpuidBit clear[HV_CPUID_MASK_MAX]; /* bits the user removed */
  unsigned n_clear;
} HvCpuidMask;

/* Parses "-cx16,-avx512f" (Linux /proc/cpuinfo flag names; case-insensitive; spaces allowed).  An unknown
 * name, a missing '-' or an empty item is an HV_ERROR_INVALID_ARGUMENT that names it. */
gboolean hv_cpuid_mask_parse (const char *text, HvCpuidMask *mask, GError **error);

/* Looks up one flag name; FALSE when unknown. */
gboolean hv_cpuid_lookup (const char *name, HvCpuidBit *bit);
