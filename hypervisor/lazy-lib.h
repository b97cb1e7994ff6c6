/* lazy-lib.h — a shared library the core maps only when a machine uses it (libslirp for NAT, zlib and
 * zstd for compressed qcow2 clusters), so a machine without those maps none of their code: the same
 * reason the display is a module (display/spice-module.c).  Loaded once per process, from the thread
 * that builds the machine (a sandboxed worker's I/O threads may not open files). */
#pragma once

#include <glib.h>

typedef struct
{
  const char *soname;         /* "libslirp.so.0" */
  const char *const *symbols; /* NULL-terminated */
  void **slots;               /* one per symbol, filled by hv_lazy_lib_load */
  GOnce once;
  char *error; /* why it could not be loaded, once tried */
} HvLazyLib;

#define HV_LAZY_LIB_INIT(soname, symbols, slots)                                                             \
  {                                                                                                          \
    soname, symbols, (void **) (slots), G_ONCE_INIT, NULL                                                    \
  }

/* Loads @lib and resolves every symbol, once; later calls give the same answer.  On failure the error
 * (HV_ERROR_FAILED) names the library and what is missing, and says which package provides it. */
gboolean hv_lazy_lib_load (HvLazyLib *lib, const char *package, GError **error);
