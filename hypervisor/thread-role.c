/* thread-role.c — the roles of the core's threads, and the hook a host process runs as each one starts
 * (vireo-worker narrows the thread's seccomp filter there, service/worker/sandbox.c). */
#include "hv.h"

static HvThreadStartHook start_hook;

void
hv_set_thread_start_hook (HvThreadStartHook hook)
{
  g_atomic_pointer_set (&start_hook, hook);
}

void
hv_thread_started (HvThreadRole role)
{
  HvThreadStartHook hook = g_atomic_pointer_get (&start_hook);

  if (hook != NULL)
    hook (role);
}

const char *
hv_thread_role_to_string (HvThreadRole role)
{
  switch (role)
    {
    case HV_THREAD_VCPU:
      return "vcpu";
    case HV_THREAD_IO:
      return "io";
    case HV_THREAD_DISPLAY:
      return "display";
    case HV_THREAD_NET:
      return "net";
    }
  return "unknown";
}
