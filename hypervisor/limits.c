/* limits.c — what a machine may ask of the core, checked without KVM: the error domain, the host's memory,
 * and the checks of memory sizes, vCPU counts and CPUID masks. */
#include "hv-limits.h"
#include "x86/cpuid-mask.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

G_DEFINE_QUARK (hv - error - quark, hv_error)

uint64_t
hv_host_memory_limit (void)
{
  long pages = sysconf (_SC_PHYS_PAGES);
  long page_size = sysconf (_SC_PAGESIZE);
  if (pages <= 0 || page_size <= 0)
    return HV_MEMORY_MIN;
  return (uint64_t) pages * (uint64_t) page_size;
}

gboolean
hv_check_memory_size (uint64_t bytes, GError **error)
{
  uint64_t limit = hv_host_memory_limit ();

  if (bytes < HV_MEMORY_MIN)
    {
      g_set_error (error, HV_ERROR, HV_ERROR_INVALID_ARGUMENT,
                   "%" G_GUINT64_FORMAT " MiB of memory is too little: the minimum is %llu MiB", bytes >> 20,
                   HV_MEMORY_MIN >> 20);
      return FALSE;
    }
  if (bytes > limit)
    {
      g_set_error (error, HV_ERROR, HV_ERROR_INVALID_ARGUMENT,
                   "%" G_GUINT64_FORMAT " MiB of memory is more than this host has (%" G_GUINT64_FORMAT
                   " MiB)",
                   bytes >> 20, limit >> 20);
      return FALSE;
    }
  if (bytes & 0xfff)
    {
      g_set_error (error, HV_ERROR, HV_ERROR_INVALID_ARGUMENT, "memory must be a multiple of 4 KiB");
      return FALSE;
    }
  return TRUE;
}

gboolean
hv_check_vcpus (unsigned count, GError **error)
{
  if (count < HV_VCPUS_MIN || count > HV_VCPUS_MAX)
    {
      g_set_error (error, HV_ERROR, HV_ERROR_INVALID_ARGUMENT, "%u vCPUs is out of range: a VM has %d to %d",
                   count, HV_VCPUS_MIN, HV_VCPUS_MAX);
      return FALSE;
    }
  return TRUE;
}

gboolean
hv_check_cpuid_mask (const char *mask, GError **error)
{
  HvCpuidMask parsed = { 0 };
  return mask == NULL || *mask == '\0' || hv_cpuid_mask_parse (mask, &parsed, error);
}

gboolean
hv_parse_memory_size (const char *text, uint64_t *bytes, GError **error)
{
  const char *p;
  char *end = NULL;
  double value;
  double unit = 1024.0 * 1024.0;

  if (text == NULL || *text == '\0')
    {
      g_set_error (error, HV_ERROR, HV_ERROR_INVALID_ARGUMENT, "an empty memory size");
      return FALSE;
    }
  /* Digits with at most one decimal point, then an optional unit: no signs, exponents or hex. */
  for (p = text; g_ascii_isdigit (*p) || *p == '.'; p++)
    if (*p == '.' && strchr (p + 1, '.') != NULL)
      goto bad;
  if (p == text)
    goto bad;

  errno = 0;
  value = g_ascii_strtod (text, &end);
  if (errno != 0 || end != p || !(value > 0))
    goto bad;

  if (*end != '\0')
    {
      switch (g_ascii_toupper (*end))
        {
        case 'K':
          unit = 1024.0;
          break;
        case 'M':
          unit = 1024.0 * 1024.0;
          break;
        case 'G':
          unit = 1024.0 * 1024.0 * 1024.0;
          break;
        case 'T':
          unit = 1024.0 * 1024.0 * 1024.0 * 1024.0;
          break;
        default:
          goto bad;
        }
      end++;
      /* Accept "M", "MB", "MiB" alike. */
      if (g_ascii_strcasecmp (end, "") != 0 && g_ascii_strcasecmp (end, "b") != 0
          && g_ascii_strcasecmp (end, "ib") != 0)
        goto bad;
    }

  if (value * unit > (double) (1ull << 52))
    {
      g_set_error (error, HV_ERROR, HV_ERROR_INVALID_ARGUMENT, "memory size “%s” is too large", text);
      return FALSE;
    }
  *bytes = (uint64_t) (value * unit);
  /* Guest RAM is handed out in pages. */
  *bytes &= ~(uint64_t) 0xfff;
  if (*bytes == 0)
    goto bad;
  return TRUE;

bad:
  g_set_error (error, HV_ERROR, HV_ERROR_INVALID_ARGUMENT,
               "“%s” is not a memory size (use a number of MiB, or a suffix: 512M, 2G)", text);
  return FALSE;
}
