/* spice-module.h — the contract between the core and the SPICE display module: the one table the
 * module (vireo-display-spice.so, the spice-*.c files but spice-vm.c) exports, and that
 * spice-module.c loads only when a VM has a display, so that a machine without one maps neither the
 * module nor libspice-server. */
#pragma once

#include "spice.h"

/* The exported symbol's name, and the file's. */
#define HV_SPICE_MODULE_SYMBOL "hv_spice_module"
#define HV_SPICE_MODULE_FILE   "vireo-display-spice.so"

/* Bumped whenever this table or what it passes (HvSpiceBackend, HvDisplayMode, HvRect) changes. */
#define HV_SPICE_MODULE_ABI 2

typedef struct
{
  uint32_t abi;        /* HV_SPICE_MODULE_ABI of the module's build */
  const char *version; /* VIREO_VERSION of the module's build: only the core's own is taken */
  /* hv_spice_new(), hv_spice_free() and hv_spice_open_client(), as spice.h describes them. */
  HvSpice *(*server_new) (const HvSpiceBackend *backend, const char *socket_path, GError **error);
  void (*server_free) (HvSpice *spice);
  int (*open_client) (HvSpice *spice, GError **error);
} HvSpiceModule;
