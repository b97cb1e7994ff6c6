/* vireo-error.h — the service's error domain, registered as the org.vireo.Vireo1.Error.* D-Bus errors. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define VIREO_ERROR (vireo_error_quark ())
GQuark vireo_error_quark (void);

typedef enum
{
  VIREO_ERROR_FAILED,            /* org.vireo.Vireo1.Error.Failed */
  VIREO_ERROR_NOT_FOUND,         /* .NotFound */
  VIREO_ERROR_INVALID_ARGUMENT,  /* .InvalidArgument */
  VIREO_ERROR_INVALID_STATE,     /* .InvalidState */
  VIREO_ERROR_NO_KVM,            /* .NoKvm */
  VIREO_ERROR_PERMISSION_DENIED, /* .PermissionDenied */
  VIREO_ERROR_EXISTS,            /* .Exists */
  VIREO_ERROR_NOT_SUPPORTED,     /* .NotSupported */
  VIREO_ERROR_TIMEOUT,           /* .Timeout */
  VIREO_ERROR_MEDIUM_LOCKED,     /* .MediumLocked: the guest locked a drive's tray */
} VireoError;

/* The error a user can act on for a failed system call's errno: NotFound (ENOENT, ENOTDIR),
 * PermissionDenied (EACCES, EPERM, EROFS), else Failed. */
VireoError vireo_error_code_for_errno (int errsv);

/* Converts an HV_ERROR from the core into the nearest VIREO_ERROR, keeping the message. */
GError *vireo_error_from_hv (const GError *hv_error);

G_END_DECLS
