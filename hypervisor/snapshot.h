/* snapshot.h — restoring a saved VM inside the core: what hv_vm_set_restore() keeps and the steps
 * hv_vm_start() takes with it (snapshot.c).  hv_vm_save() and hv_vm_set_restore() themselves are in
 * hv.h. */
#pragma once

#include "hv.h"

/* What hv_vm_set_restore() has read and checked, kept until hv_vm_start() uses it. */
typedef struct _HvRestore HvRestore;
void hv_restore_free (HvRestore *restore);

/* For hv_vm_start() (vm.c), in this order: the configuration still matches the saved state; then,
 * once guest memory exists, its contents; then, once the irqchip, devices and blank vCPUs exist,
 * the state of all of them.  Errors are HV_ERROR_INVALID_ARGUMENT (configuration) or
 * HV_ERROR_BAD_IMAGE. */
gboolean hv_restore_check_config (HvVm *vm, GError **error);
gboolean hv_restore_memory (HvVm *vm, GError **error);
gboolean hv_restore_machine (HvVm *vm, GError **error);
