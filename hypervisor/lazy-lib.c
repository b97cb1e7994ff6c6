/* lazy-lib.c — libraries mapped on first use (lazy-lib.h). */
#include "lazy-lib.h"
#include "hv-limits.h"

#include <dlfcn.h>

static gpointer
load (gpointer data)
{
  HvLazyLib *lib = data;
  void *handle = dlopen (lib->soname, RTLD_NOW | RTLD_LOCAL);

  if (handle == NULL)
    {
      lib->error = g_strdup (dlerror ());
      return NULL;
    }
  for (gsize i = 0; lib->symbols[i]; i++)
    {
      lib->slots[i] = dlsym (handle, lib->symbols[i]);
      if (lib->slots[i] == NULL)
        {
          lib->error = g_strdup_printf ("%s has no %s", lib->soname, lib->symbols[i]);
          return NULL;
        }
    }
  /* Never closed: the functions stay in use for the life of the process. */
  return handle;
}

gboolean
hv_lazy_lib_load (HvLazyLib *lib, const char *package, GError **error)
{
  if (g_once (&lib->once, load, lib) != NULL)
    return TRUE;
  g_set_error (error, HV_ERROR, HV_ERROR_FAILED, "cannot load %s (Debian package %s): %s", lib->soname,
               package, lib->error);
  return FALSE;
}
