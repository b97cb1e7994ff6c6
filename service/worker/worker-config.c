/* worker-config.c — parsing and checking Worker1.Start's configuration, and building an HvVm from it. */
#include "worker-config.h"
#include "vireo-error.h"
#include "x86/layout.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const struct
{
  const char *key;
  const char *type;
} known_keys[] = {
  { "memory-mib", "t" },   { "vcpus", "u" },     { "cmdline", "s" },
  { "cpuid-mask", "s" },   { "kvm-fd", "h" },    { "kernel-fd", "h" },
  { "initrd-fd", "h" },    { "state-dir-fd", "h" }, { "restore", "b" },
  { "display", "b" },
};

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

/* Every key known, of the right type, and given once: the worker boots exactly what vireod asked for,
 * never a machine missing something vireod thought it had configured. */
static gboolean
check_keys (GVariant *config, GError **error)
{
  g_autoptr (GHashTable) seen = g_hash_table_new (g_str_hash, g_str_equal);
  GVariantIter iter;
  const char *key;
  GVariant *value;

  g_variant_iter_init (&iter, config);
  while (g_variant_iter_next (&iter, "{&sv}", &key, &value))
    {
      g_autoptr (GVariant) owned = value;
      gsize i;

      for (i = 0; i < G_N_ELEMENTS (known_keys); i++)
        if (strcmp (key, known_keys[i].key) == 0)
          break;
      if (i == G_N_ELEMENTS (known_keys))
        {
          g_set_error (error, VIREO_ERROR, VIREO_ERROR_INVALID_ARGUMENT,
                       "the machine configuration has an unknown key “%s”", key);
          return FALSE;
        }
      if (!g_variant_is_of_type (value, G_VARIANT_TYPE (known_keys[i].type)))
        {
          g_set_error (error, VIREO_ERROR, VIREO_ERROR_INVALID_ARGUMENT,
                       "the machine configuration's “%s” must be of type “%s”, not “%s”", key,
                       known_keys[i].type, g_variant_get_type_string (value));
          return FALSE;
        }
      if (!g_hash_table_add (seen, (gpointer) known_keys[i].key))
        {
          g_set_error (error, VIREO_ERROR, VIREO_ERROR_INVALID_ARGUMENT,
                       "the machine configuration gives “%s” more than once", key);
          return FALSE;
        }
    }
  return TRUE;
}

/* Takes the worker's own copy of the fd that @key indexes in @fd_list; *fd_out stays -1 when @key is
 * absent and not @required. */
static gboolean
take_fd (GVariant *config, GUnixFDList *fd_list, const char *key, gboolean required, FdKind kind,
         int *fd_out, GError **error)
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

/* Turns an HV_ERROR from a range check into the service's error, naming the key it came from. */
static void
set_error_for_key (GError **error, const char *key, const GError *hv_error)
{
  GError *converted = vireo_error_from_hv (hv_error);
  g_prefix_error (&converted, "the machine configuration's “%s”: ", key);
  g_propagate_error (error, converted);
}

VireoWorkerConfig *
vireo_worker_config_parse (GVariant *config, GUnixFDList *fd_list, GError **error)
{
  g_autoptr (VireoWorkerConfig) parsed = g_new0 (VireoWorkerConfig, 1);
  g_autoptr (GError) local = NULL;
  guint64 memory_mib = VIREO_WORKER_DEFAULT_MEMORY_MIB;
  guint32 vcpus = VIREO_WORKER_DEFAULT_VCPUS;
  const char *cmdline = "";
  const char *cpuid_mask = "";
  gboolean restore = FALSE;
  gboolean display = FALSE;

  parsed->kvm_fd = parsed->kernel_fd = parsed->initrd_fd = parsed->state_dir_fd = -1;

  if (!g_variant_is_of_type (config, G_VARIANT_TYPE_VARDICT))
    {
      g_set_error (error, VIREO_ERROR, VIREO_ERROR_INVALID_ARGUMENT,
                   "the machine configuration must be of type “a{sv}”");
      return NULL;
    }
  if (!check_keys (config, error))
    return NULL;

  g_variant_lookup (config, "memory-mib", "t", &memory_mib);
  g_variant_lookup (config, "vcpus", "u", &vcpus);
  g_variant_lookup (config, "cmdline", "&s", &cmdline);
  g_variant_lookup (config, "cpuid-mask", "&s", &cpuid_mask);
  g_variant_lookup (config, "restore", "b", &restore);
  g_variant_lookup (config, "display", "b", &display);

  if (memory_mib > (G_MAXUINT64 >> 20))
    {
      g_set_error (error, VIREO_ERROR, VIREO_ERROR_INVALID_ARGUMENT,
                   "the machine configuration's “memory-mib” (%" G_GUINT64_FORMAT ") is out of range",
                   memory_mib);
      return NULL;
    }
  if (!hv_check_memory_size (memory_mib << 20, &local))
    {
      set_error_for_key (error, "memory-mib", local);
      return NULL;
    }
  if (!hv_check_vcpus (vcpus, &local))
    {
      set_error_for_key (error, "vcpus", local);
      return NULL;
    }
  if (!hv_check_cpuid_mask (cpuid_mask, &local))
    {
      set_error_for_key (error, "cpuid-mask", local);
      return NULL;
    }
  if (strlen (cmdline) >= HV_CMDLINE_MAX)
    {
      g_set_error (error, VIREO_ERROR, VIREO_ERROR_INVALID_ARGUMENT,
                   "the machine configuration's “cmdline” is %zu bytes long; the limit is %d",
                   strlen (cmdline), HV_CMDLINE_MAX - 1);
      return NULL;
    }

  /* The kernel is needed even when restoring: a guest that resets boots it afresh. */
  if (!take_fd (config, fd_list, "kvm-fd", TRUE, FD_CHARACTER_DEVICE, &parsed->kvm_fd, error)
      || !take_fd (config, fd_list, "kernel-fd", TRUE, FD_REGULAR_FILE, &parsed->kernel_fd, error)
      || !take_fd (config, fd_list, "initrd-fd", FALSE, FD_REGULAR_FILE, &parsed->initrd_fd, error)
      || !take_fd (config, fd_list, "state-dir-fd", FALSE, FD_DIRECTORY, &parsed->state_dir_fd, error))
    return NULL;
  if (restore && parsed->state_dir_fd < 0)
    {
      g_set_error (error, VIREO_ERROR, VIREO_ERROR_INVALID_ARGUMENT,
                   "the machine configuration asks to “restore” but gives no “state-dir-fd”");
      return NULL;
    }

  parsed->memory_mib = memory_mib;
  parsed->vcpus = vcpus;
  parsed->cmdline = g_strdup (cmdline);
  parsed->cpuid_mask = g_strdup (cpuid_mask);
  parsed->restore = restore;
  parsed->display = display;
  return g_steal_pointer (&parsed);
}

void
vireo_worker_config_free (VireoWorkerConfig *config)
{
  if (config == NULL)
    return;
  if (config->kvm_fd >= 0)
    close (config->kvm_fd);
  if (config->kernel_fd >= 0)
    close (config->kernel_fd);
  if (config->initrd_fd >= 0)
    close (config->initrd_fd);
  if (config->state_dir_fd >= 0)
    close (config->state_dir_fd);
  g_free (config->cmdline);
  g_free (config->cpuid_mask);
  g_free (config);
}

HvVm *
vireo_worker_config_build_vm (const VireoWorkerConfig *config, gboolean restore, int serial_input_fd,
                              int serial_output_fd, GError **error)
{
  g_autoptr (HvVm) vm = NULL;
  g_autofree char *kernel_path = NULL;
  g_autofree char *initrd_path = NULL;
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

  /* The core maps the images by path; /proc/self/fd reaches the files vireod opened for us. */
  kernel_path = g_strdup_printf ("/proc/self/fd/%d", config->kernel_fd);
  if (config->initrd_fd >= 0)
    initrd_path = g_strdup_printf ("/proc/self/fd/%d", config->initrd_fd);

  if (!hv_vm_set_memory (vm, config->memory_mib << 20, error)
      || !hv_vm_set_vcpus (vm, config->vcpus, error)
      || !hv_vm_set_cpuid_mask (vm, config->cpuid_mask, error)
      || !hv_vm_set_kernel (vm, kernel_path, initrd_path, config->cmdline, error)
      || !hv_vm_set_display (vm, config->display, error))
    return NULL;
  if (restore && !hv_vm_set_restore (vm, config->state_dir_fd, error))
    return NULL;
  hv_vm_set_serial (vm, serial_input_fd, serial_output_fd);
  return g_steal_pointer (&vm);
}
