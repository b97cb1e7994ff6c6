/* spice-vm.c — the VM's side of its SPICE server: the display device and the input calls as the
 * server's backend, started with the VM (hv_vm_set_spice_socket, hv_vm_open_display). */
#include "spice.h"
#include "vm-private.h"

#include <string.h>
#include <sys/un.h>

static void
vm_get_mode (void *opaque, HvDisplayMode *mode)
{
  hv_display_get_mode (hv_vm_get_display (opaque), mode);
}

static unsigned
vm_collect_dirty (void *opaque, HvRect *rects, unsigned max_rects)
{
  return hv_display_collect_dirty (hv_vm_get_display (opaque), rects, max_rects);
}

static void
vm_key (void *opaque, uint8_t scancode_fragment)
{
  hv_vm_input_key (opaque, scancode_fragment);
}

static void
vm_tablet (void *opaque, uint32_t x, uint32_t y, uint32_t buttons)
{
  hv_vm_input_tablet (opaque, x, y, buttons);
}

static void
vm_wheel (void *opaque, int32_t steps, uint32_t buttons)
{
  hv_vm_input_wheel (opaque, steps, buttons);
}

gboolean
hv_vm_set_spice_socket (HvVm *vm, const char *path, GError **error)
{
  if (vm->state != HV_VM_CONFIGURING)
    {
      g_set_error (error, HV_ERROR, HV_ERROR_INVALID_STATE,
                   "the VM has already been started; its configuration cannot change");
      return FALSE;
    }
  if (path == NULL || *path == '\0')
    {
      g_set_error (error, HV_ERROR, HV_ERROR_INVALID_ARGUMENT, "the SPICE socket needs a path");
      return FALSE;
    }
  /* spice-server would silently cut a longer one. */
  if (strlen (path) >= sizeof ((struct sockaddr_un *) NULL)->sun_path)
    {
      g_set_error (error, HV_ERROR, HV_ERROR_INVALID_ARGUMENT,
                   "the SPICE socket path “%s” is too long: a unix socket's path has at most %zu bytes", path,
                   sizeof ((struct sockaddr_un *) NULL)->sun_path - 1);
      return FALSE;
    }
  if (!vm->display_enabled)
    {
      g_set_error (error, HV_ERROR, HV_ERROR_INVALID_ARGUMENT,
                   "a SPICE socket needs a display: give the VM one first");
      return FALSE;
    }
  g_free (vm->spice_socket_path);
  vm->spice_socket_path = g_strdup (path);
  return TRUE;
}

static void
display_thread_started (void)
{
  hv_thread_started (HV_THREAD_DISPLAY);
}

gboolean
hv_vm_start_spice (HvVm *vm, GError **error)
{
  HvSpiceBackend backend = {
    .get_mode = vm_get_mode,
    .collect_dirty = vm_collect_dirty,
    .key = vm_key,
    .tablet = vm_tablet,
    .wheel = vm_wheel,
    .opaque = vm,
    .thread_started = display_thread_started,
  };

  if (hv_vm_get_display (vm) == NULL)
    {
      if (vm->spice_socket_path == NULL)
        return TRUE;
      g_set_error (error, HV_ERROR, HV_ERROR_INVALID_ARGUMENT,
                   "the SPICE socket %s needs a display, and the VM has none", vm->spice_socket_path);
      return FALSE;
    }
  vm->spice = hv_spice_new (&backend, vm->spice_socket_path, error);
  return vm->spice != NULL;
}

int
hv_vm_open_display (HvVm *vm, GError **error)
{
  gboolean running;

  g_mutex_lock (&vm->lock);
  running = vm->state == HV_VM_RUNNING && !vm->exiting;
  g_mutex_unlock (&vm->lock);
  if (!running)
    {
      g_set_error (error, HV_ERROR, HV_ERROR_INVALID_STATE, "the VM is not running");
      return -1;
    }
  if (vm->spice == NULL)
    {
      g_set_error (error, HV_ERROR, HV_ERROR_NOT_FOUND, "the VM has no display");
      return -1;
    }
  return hv_spice_open_client (vm->spice, error);
}
