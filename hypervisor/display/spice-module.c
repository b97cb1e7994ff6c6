/* spice-module.c — the core's side of the SPICE display module (spice-module.h): loads it the first
 * time a server is asked for, and hands hv_spice_new(), hv_spice_free() and hv_spice_open_client() to
 * it, so that only a VM with a display maps libspice-server. */
#include "spice-module.h"
#include "display/spice-module-config.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

/* Loaded once and never unloaded: spice-server keeps threads and global state of its own. */
static GMutex module_lock;
static const HvSpiceModule *module;
/* hv_display_hold_module_dir(): the module's folder, for a process whose sandbox hides its path. */
static int module_dir_fd = -1;

/* VIREO_MODULE_DIR when set (and the process is not set-id); else, for a binary inside the build
 * tree it was built in, the module built beside it, so tests and vireo-run work without installing;
 * else the installed module. */
static char *
module_dir (void)
{
  const char *dir = secure_getenv ("VIREO_MODULE_DIR");
  char exe[PATH_MAX], root[PATH_MAX];
  size_t root_length;

  if (module_dir_fd >= 0)
    return g_strdup_printf ("/proc/self/fd/%d", module_dir_fd);
  if (dir != NULL && *dir != '\0')
    return g_strdup (dir);
  if (realpath ("/proc/self/exe", exe) != NULL && realpath (HV_BUILD_ROOT, root) != NULL)
    {
      root_length = strlen (root);
      if (strncmp (exe, root, root_length) == 0 && exe[root_length] == '/')
        return g_strdup (HV_SPICE_MODULE_BUILD_DIR);
    }
  return g_strdup (HV_SPICE_MODULE_INSTALL_DIR);
}

static const HvSpiceModule *
load_module (GError **error)
{
  g_autofree char *dir = NULL;
  g_autofree char *path = NULL;
  const HvSpiceModule *table;
  void *handle;

  g_mutex_lock (&module_lock);
  if (module != NULL)
    goto out;

  dir = module_dir ();
  path = g_build_filename (dir, HV_SPICE_MODULE_FILE, NULL);
  handle = dlopen (path, RTLD_NOW | RTLD_LOCAL);
  if (handle == NULL)
    {
      g_set_error (error, HV_ERROR, HV_ERROR_NOT_FOUND,
                   "the display needs the SPICE module, which cannot be loaded: %s", dlerror ());
      goto out;
    }
  table = dlsym (handle, HV_SPICE_MODULE_SYMBOL);
  if (table == NULL || table->abi != HV_SPICE_MODULE_ABI || table->version == NULL
      || strcmp (table->version, VIREO_VERSION) != 0)
    {
      g_set_error (error, HV_ERROR, HV_ERROR_FAILED,
                   "the SPICE module %s is not of this build of Vireo (%s): reinstall Vireo", path,
                   VIREO_VERSION);
      dlclose (handle);
      goto out;
    }
  module = table;

out:
  table = module;
  g_mutex_unlock (&module_lock);
  return table;
}

gboolean
hv_display_preload (GError **error)
{
  return load_module (error) != NULL;
}

gboolean
hv_display_hold_module_dir (GError **error)
{
  g_autofree char *dir = NULL;
  int fd;

  g_mutex_lock (&module_lock);
  if (module_dir_fd >= 0 || module != NULL)
    {
      g_mutex_unlock (&module_lock);
      return TRUE;
    }
  dir = module_dir ();
  fd = open (dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0)
    {
      int saved = errno;
      g_mutex_unlock (&module_lock);
      g_set_error (error, HV_ERROR, HV_ERROR_NOT_FOUND, "cannot open the display modules' folder %s: %s", dir,
                   g_strerror (saved));
      return FALSE;
    }
  module_dir_fd = fd;
  g_mutex_unlock (&module_lock);
  return TRUE;
}

HvSpice *
hv_spice_new (const HvSpiceBackend *backend, const char *socket_path, GError **error)
{
  const HvSpiceModule *spice_module = load_module (error);

  if (spice_module == NULL)
    return NULL;
  return spice_module->server_new (backend, socket_path, error);
}

void
hv_spice_free (HvSpice *spice)
{
  /* A server exists only once the module was loaded. */
  if (spice != NULL)
    load_module (NULL)->server_free (spice);
}

int
hv_spice_open_client (HvSpice *spice, GError **error)
{
  return load_module (NULL)->open_client (spice, error);
}
