/* hv.c — small public helpers of the core: the error domain, exit reasons, memory-size parsing. */
#include "hv.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

G_DEFINE_QUARK (hv-error-quark, hv_error)

const char *
hv_exit_reason_to_string (HvExitReason reason)
{
  switch (reason)
    {
    case HV_EXIT_NONE:
      return "none";
    case HV_EXIT_POWER_OFF:
      return "power-off";
    case HV_EXIT_RESET:
      return "reset";
    case HV_EXIT_TRIPLE_FAULT:
      return "triple-fault";
    case HV_EXIT_EMULATION_FAILURE:
      return "emulation-failure";
    case HV_EXIT_INTERNAL_ERROR:
      return "internal-error";
    case HV_EXIT_STOPPED:
      return "stopped";
    }
  return "unknown";
}

void
hv_exit_info_clear (HvExitInfo *info)
{
  g_clear_pointer (&info->message, g_free);
  info->reason = HV_EXIT_NONE;
}

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
