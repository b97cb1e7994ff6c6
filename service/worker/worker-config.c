/* worker-config.c — parsing and checking Worker1.Start's configuration, and building an HvVm from it. */
#include "worker-config.h"
#include "vireo-error.h"
#include "x86/layout.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The keys of Start's a{sv} that are the worker's own; the rest is the machine spec (spec.h). */
static const char *const run_keys[] = { "kvm-fd", "state-dir-fd", "restore", NULL };

typedef enum
{
  FD_CHARACTER_DEVICE,
  FD_REGULAR_FILE,
  FD_DIRECTORY,
} FdKind;

static const char *
fd_kind_to_string (FdKind kind)
{
  switch (kind)
    {
    case FD_CHARACTER_DEVICE:
      return "a character device";
    case FD_REGULAR_FILE:
      return "a regular file";
    case FD_DIRECTORY:
      return "a directory";
    }
  return "unknown";
}

/* Takes the worker's own copy of the fd that @key indexes in @fd_list; *fd_out stays -1 when @key is
 * absent and not @required. */
static gboolean
take_fd (GVariant *config, GUnixFDList *fd_list, const char *key, gboolean required, FdKind kind, int *fd_out,
         GError **error)
{
  int n_fds = fd_list ? g_unix_fd_list_get_length (fd_list) : 0;
  g_autoptr (GError) local = NULL;
  gint32 index;
  struct stat st;
  gboolean ok;
  int fd;

  if (!g_variant_lookup (config, key, "h", &index))
    {
      if (required)
        {
          g_set_error (error, VIREO_ERROR, VIREO_ERROR_INVALID_ARGUMENT,
                       "the machine configuration lacks “%s”", key);
          return FALSE;
        }
      return TRUE;
    }
  if (index < 0 || index >= n_fds)
    {
      g_set_error (error, VIREO_ERROR, VIREO_ERROR_INVALID_ARGUMENT,
                   "the machine configuration's “%s” is file descriptor %d, but the call carried %d", key,
                   index, n_fds);
      return FALSE;
    }
  fd = g_unix_fd_list_get (fd_list, index, &local);
  if (fd < 0)
    {
      g_set_error (error, VIREO_ERROR, VIREO_ERROR_FAILED, "cannot take “%s”: %s", key, local->message);
      return FALSE;
    }
  if (fstat (fd, &st) < 0)
    {
      int saved = errno;
      close (fd);
      g_set_error (error, VIREO_ERROR, VIREO_ERROR_INVALID_ARGUMENT, "“%s” cannot be examined: %s", key,
                   g_strerror (saved));
      return FALSE;
    }
  switch (kind)
    {
    case FD_CHARACTER_DEVICE:
      ok = S_ISCHR (st.st_mode);
      break;
    case FD_REGULAR_FILE:
      ok = S_ISREG (st.st_mode);
      break;
    case FD_DIRECTORY:
      ok = S_ISDIR (st.st_mode);
      break;
    default:
      g_assert_not_reached ();
    }
  if (!ok)
    {
      close (fd);
      g_set_error (error, VIREO_ERROR, VIREO_ERROR_INVALID_ARGUMENT, "“%s” is not %s", key,
                   fd_kind_to_string (kind));
      return FALSE;
    }
  *fd_out = fd;
  return TRUE;
}

static mode_t
fd_mode (int fd)
{
  struct stat st;
  return fstat (fd, &st) == 0 ? st.st_mode : 0;
}

/* Every fd of the call, for the spec's handles; *n_out 0 without a list. */
static const int *
peek_fds (GUnixFDList *fd_list, unsigned *n_out)
{
  int n = 0;
  const int *fds = fd_list ? g_unix_fd_list_peek_fds (fd_list, &n) : NULL;

  *n_out = (unsigned) n;
  return fds;
}

VireoWorkerConfig *
vireo_worker_config_parse (GVariant *config, GUnixFDList *fd_list, GError **error)
{
  g_autoptr (VireoWorkerConfig) parsed = g_new0 (VireoWorkerConfig, 1);
  g_autoptr (GError) local = NULL;
  static const char *const run_types[] = { "h", "h", "b" };
  gboolean restore = FALSE;
  unsigned n_fds;
  const int *fds = peek_fds (fd_list, &n_fds);

  parsed->kvm_fd = parsed->state_dir_fd = -1;

  if (!g_variant_is_of_type (config, G_VARIANT_TYPE_VARDICT))
    {
      g_set_error (error, VIREO_ERROR, VIREO_ERROR_INVALID_ARGUMENT,
                   "the machine configuration must be of type “a{sv}”");
      return NULL;
    }
  for (gsize i = 0; run_keys[i]; i++)
    {
      g_autoptr (GVariant) value = g_variant_lookup_value (config, run_keys[i], NULL);
      if (value && !g_variant_is_of_type (value, G_VARIANT_TYPE (run_types[i])))
        {
          g_set_error (error, VIREO_ERROR, VIREO_ERROR_INVALID_ARGUMENT,
                       "the machine configuration's “%s” must be of type “%s”, not “%s”", run_keys[i],
                       run_types[i], g_variant_get_type_string (value));
          return NULL;
        }
    }
  /* One check of the machine, the core's own (hv_machine_spec_check). */
  parsed->spec = hv_machine_spec_new_from_variant (config, fds, n_fds, run_keys, &local);
  if (parsed->spec == NULL || !hv_machine_spec_check (parsed->spec, HV_SPEC_CHECK_DEFAULT, &local))
    {
      g_propagate_error (error, vireo_error_from_hv (local));
      return NULL;
    }
  g_variant_lookup (config, "restore", "b", &restore);
  if (!take_fd (config, fd_list, "kvm-fd", TRUE, FD_CHARACTER_DEVICE, &parsed->kvm_fd, error)
      || !take_fd (config, fd_list, "state-dir-fd", FALSE, FD_DIRECTORY, &parsed->state_dir_fd, error))
    return NULL;
  /* The kernel is needed even when restoring: a guest that resets boots it afresh. */
  if (parsed->spec->boot == HV_BOOT_KERNEL
      && !S_ISREG (fd_mode (hv_machine_spec_get_fd (parsed->spec, parsed->spec->kernel))))
    {
      g_set_error (error, VIREO_ERROR, VIREO_ERROR_INVALID_ARGUMENT,
                   "the machine spec's “kernel” is not a regular file");
      return NULL;
    }
  if (parsed->spec->initrd >= 0
      && !S_ISREG (fd_mode (hv_machine_spec_get_fd (parsed->spec, parsed->spec->initrd))))
    {
      g_set_error (error, VIREO_ERROR, VIREO_ERROR_INVALID_ARGUMENT,
                   "the machine spec's “initrd” is not a regular file");
      return NULL;
    }
  if (restore && parsed->state_dir_fd < 0)
    {
      g_set_error (error, VIREO_ERROR, VIREO_ERROR_INVALID_ARGUMENT,
                   "the machine configuration asks to “restore” but gives no “state-dir-fd”");
      return NULL;
    }
  parsed->restore = restore;
  return g_steal_pointer (&parsed);
}

void
vireo_worker_config_free (VireoWorkerConfig *config)
{
  if (config == NULL)
    return;
  if (config->kvm_fd >= 0)
    close (config->kvm_fd);
  if (config->state_dir_fd >= 0)
    close (config->state_dir_fd);
  hv_machine_spec_free (config->spec);
  g_free (config);
}

HvVm *
vireo_worker_config_build_vm (const VireoWorkerConfig *config, gboolean restore, int serial_input_fd,
                              int serial_output_fd, GError **error)
{
  g_autoptr (HvVm) vm = NULL;
  int kvm_fd;

  /* The VM owns the fd it is given and closes it; the worker keeps its own for the next boot. */
  kvm_fd = fcntl (config->kvm_fd, F_DUPFD_CLOEXEC, 3);
  if (kvm_fd < 0)
    {
      int saved = errno;
      g_set_error (error, HV_ERROR, HV_ERROR_FAILED, "cannot duplicate the KVM device: %s",
                   g_strerror (saved));
      return NULL;
    }
  vm = hv_vm_new_for_fd (kvm_fd, error);
  if (vm == NULL)
    return NULL;

  if (!hv_vm_apply_spec (vm, config->spec, error))
    return NULL;
  if (restore && !hv_vm_set_restore (vm, config->state_dir_fd, error))
    return NULL;
  hv_vm_set_serial (vm, serial_input_fd, serial_output_fd);
  return g_steal_pointer (&vm);
}
