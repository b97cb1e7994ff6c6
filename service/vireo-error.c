/* vireo-error.c — the service's error domain and its D-Bus error names. */
#include "vireo-error.h"

#include <errno.h>
#include "hv-limits.h"

#include <gio/gio.h>

static const GDBusErrorEntry vireo_error_entries[] = {
  { VIREO_ERROR_FAILED, "org.vireo.Vireo1.Error.Failed" },
  { VIREO_ERROR_NOT_FOUND, "org.vireo.Vireo1.Error.NotFound" },
  { VIREO_ERROR_INVALID_ARGUMENT, "org.vireo.Vireo1.Error.InvalidArgument" },
  { VIREO_ERROR_INVALID_STATE, "org.vireo.Vireo1.Error.InvalidState" },
  { VIREO_ERROR_NO_KVM, "org.vireo.Vireo1.Error.NoKvm" },
  { VIREO_ERROR_PERMISSION_DENIED, "org.vireo.Vireo1.Error.PermissionDenied" },
  { VIREO_ERROR_EXISTS, "org.vireo.Vireo1.Error.Exists" },
  { VIREO_ERROR_NOT_SUPPORTED, "org.vireo.Vireo1.Error.NotSupported" },
  { VIREO_ERROR_TIMEOUT, "org.vireo.Vireo1.Error.Timeout" },
  { VIREO_ERROR_MEDIUM_LOCKED, "org.vireo.Vireo1.Error.MediumLocked" },
};

GQuark
vireo_error_quark (void)
{
  static gsize quark = 0;
  g_dbus_error_register_error_domain ("vireo-error-quark", &quark, vireo_error_entries,
                                      G_N_ELEMENTS (vireo_error_entries));
  return (GQuark) quark;
}

VireoError
vireo_error_code_for_errno (int errsv)
{
  switch (errsv)
    {
    case ENOENT:
    case ENOTDIR:
      return VIREO_ERROR_NOT_FOUND;
    case EACCES:
    case EPERM:
    case EROFS:
      return VIREO_ERROR_PERMISSION_DENIED;
    default:
      return VIREO_ERROR_FAILED;
    }
}

GError *
vireo_error_from_hv (const GError *hv_error)
{
  VireoError code = VIREO_ERROR_FAILED;

  if (hv_error->domain == HV_ERROR)
    switch ((HvError) hv_error->code)
      {
      case HV_ERROR_NO_KVM:
        code = VIREO_ERROR_NO_KVM;
        break;
      case HV_ERROR_PERMISSION:
        code = VIREO_ERROR_PERMISSION_DENIED;
        break;
      case HV_ERROR_INVALID_ARGUMENT:
      case HV_ERROR_BAD_IMAGE:
      case HV_ERROR_TOO_LARGE:
        code = VIREO_ERROR_INVALID_ARGUMENT;
        break;
      case HV_ERROR_NOT_FOUND:
        code = VIREO_ERROR_NOT_FOUND;
        break;
      case HV_ERROR_INVALID_STATE:
        code = VIREO_ERROR_INVALID_STATE;
        break;
      case HV_ERROR_NOT_SUPPORTED:
        code = VIREO_ERROR_NOT_SUPPORTED;
        break;
      case HV_ERROR_TIMED_OUT:
      case HV_ERROR_FAILED:
        break;
      }
  return g_error_new_literal (VIREO_ERROR, code, hv_error->message);
}
