/* hv.c — small public helpers of the core: exit reasons. */
#include "hv.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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
