/* hv-limits.h — what a machine may ask of the core, checked without KVM: the error domain, the limits of a
 * configuration and the checks of its values.  vireod validates with these alone (libvireo-hv-limits), so
 * the privileged service links no vCPU, device or display code. */
#pragma once

#include <glib.h>
#include <stdint.h>

#include "x86/layout.h" /* HV_CMDLINE_MAX: the longest kernel command line, with its NUL */

G_BEGIN_DECLS

#define HV_ERROR (hv_error_quark ())
GQuark hv_error_quark (void);

typedef enum
{
  HV_ERROR_FAILED,           /* anything without a better code */
  HV_ERROR_NO_KVM,           /* /dev/kvm missing or KVM lacks a capability we need */
  HV_ERROR_PERMISSION,       /* /dev/kvm or a file exists but may not be opened */
  HV_ERROR_INVALID_ARGUMENT, /* a size, count or option out of range */
  HV_ERROR_NOT_FOUND,        /* a file does not exist */
  HV_ERROR_BAD_IMAGE,        /* a kernel/initrd that is not in a supported format */
  HV_ERROR_TOO_LARGE,        /* it does not fit in guest memory */
  HV_ERROR_INVALID_STATE,    /* the call is not valid in the VM's current state */
  HV_ERROR_TIMED_OUT,        /* a peer (the guest agent) did not answer in time */
  HV_ERROR_NOT_SUPPORTED,    /* the machine cannot do it as configured (a raw disk and checkpoints) */
} HvError;

/* Limits of the configuration.  The upper memory bound is also capped at run time by the host's RAM. */
#define HV_MEMORY_MIN (32ull << 20)
#define HV_MEMORY_MAX (1ull << 52) /* what a configuration may name; the host's RAM caps it at start */
#define HV_VCPUS_MIN  1
#define HV_VCPUS_MAX  64

/* Range checks shared by the core's setters and front ends that validate before opening /dev/kvm. */
gboolean hv_check_memory_size (uint64_t bytes, GError **error);
gboolean hv_check_vcpus (unsigned count, GError **error);
gboolean hv_check_cpuid_mask (const char *mask, GError **error);

/* Parses a memory size: "512M", "2G", "1.5G", "65536K", a plain number means MiB. */
gboolean hv_parse_memory_size (const char *text, uint64_t *bytes, GError **error);
/* The most memory a guest may be given on this host (its physical RAM). */
uint64_t hv_host_memory_limit (void);

G_END_DECLS
