/* vm.c — the VM object: opening KVM, the configuration (memory, vCPUs, kernel, devices), and the
 * lifecycle (start, pause, resume, power button, stop, wait, free).  Building the machine is pc.c's. */
#include "vm-private.h"
#include "devices/ahci.h"
#include "devices/virtio-net.h"
#include "x86/layout.h"
#include "x86/vcpu-state.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define HV_DEFAULT_MEMORY (256ull << 20)

static const struct
{
  long cap;
  const char *name;
} required_caps[] = {
  { KVM_CAP_IRQCHIP, "an in-kernel irqchip" },
  { KVM_CAP_USER_MEMORY, "user memory slots" },
  { KVM_CAP_SET_TSS_ADDR, "KVM_SET_TSS_ADDR" },
  { KVM_CAP_EXT_CPUID, "KVM_GET_SUPPORTED_CPUID" },
  { KVM_CAP_PIT2, "an in-kernel PIT" },
  { KVM_CAP_IRQ_ROUTING, "interrupt routing" },
  { KVM_CAP_IMMEDIATE_EXIT, "immediate_exit" },
  { KVM_CAP_IOEVENTFD, "ioeventfd" },
  { KVM_CAP_IRQFD, "irqfd" },
};

static gboolean
open_kvm (HvVm *vm, const char *path, GError **error)
{
  vm->kvm_fd = open (path, O_RDWR | O_CLOEXEC);
  if (vm->kvm_fd < 0)
    {
      int saved = errno;
      if (saved == ENOENT || saved == ENODEV || saved == ENXIO)
        g_set_error (error, HV_ERROR, HV_ERROR_NO_KVM,
                     "%s does not exist: KVM is not available (load the kvm_intel or kvm_amd module, "
                     "and enable virtualization in the firmware settings)",
                     path);
      else if (saved == EACCES || saved == EPERM)
        g_set_error (error, HV_ERROR, HV_ERROR_PERMISSION,
                     "permission denied on %s: add your user to the “kvm” group and log in again", path);
      else
        g_set_error (error, HV_ERROR, HV_ERROR_NO_KVM, "cannot open %s: %s", path, g_strerror (saved));
      return FALSE;
    }
  return TRUE;
}

/* Checks that vm->kvm_fd is a KVM we can use and creates the VM. */
static gboolean
create_vm (HvVm *vm, const char *path, GError **error)
{
  int version;

  version = ioctl (vm->kvm_fd, KVM_GET_API_VERSION, 0);
  if (version != KVM_API_VERSION)
    {
      g_set_error (error, HV_ERROR, HV_ERROR_NO_KVM, "%s speaks KVM API version %d, Vireo needs %d", path,
                   version, KVM_API_VERSION);
      return FALSE;
    }
  for (gsize i = 0; i < G_N_ELEMENTS (required_caps); i++)
    if (ioctl (vm->kvm_fd, KVM_CHECK_EXTENSION, required_caps[i].cap) <= 0)
      {
        g_set_error (error, HV_ERROR, HV_ERROR_NO_KVM, "this host's KVM lacks %s, which Vireo needs",
                     required_caps[i].name);
        return FALSE;
      }

  vm->vcpu_mmap_size = ioctl (vm->kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
  if (vm->vcpu_mmap_size < (int) sizeof (struct kvm_run))
    {
      g_set_error (error, HV_ERROR, HV_ERROR_NO_KVM, "KVM_GET_VCPU_MMAP_SIZE returned %d",
                   vm->vcpu_mmap_size);
      return FALSE;
    }

  vm->vm_fd = ioctl (vm->kvm_fd, KVM_CREATE_VM, 0);
  if (vm->vm_fd < 0)
    {
      int saved = errno;
      g_set_error (error, HV_ERROR, HV_ERROR_NO_KVM, "KVM cannot create a virtual machine: %s",
                   g_strerror (saved));
      return FALSE;
    }
  return TRUE;
}

static HvVm *
vm_alloc (void)
{
  HvVm *vm = g_new0 (HvVm, 1);

  vm->kvm_fd = -1;
  vm->vm_fd = -1;
  vm->exit_fd = -1;
  vm->memory.memfd = -1;
  vm->memory.source_fd = -1;
  vm->devices = hv_devices_new (NULL);
  hv_pc_add_base_devices (vm);
  vm->memory_size = HV_DEFAULT_MEMORY;
  vm->n_vcpus = 1;
  hv_input_init (&vm->input);
  g_mutex_init (&vm->lock);
  g_cond_init (&vm->cond);
  return vm;
}

/* Finishes hv_vm_new*() once vm->kvm_fd is open. */
static HvVm *
vm_init (HvVm *vm, const char *path, GError **error)
{
  if (!create_vm (vm, path, error))
    {
      hv_vm_free (vm);
      return NULL;
    }
  vm->exit_fd = eventfd (0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (vm->exit_fd < 0)
    {
      int saved = errno;
      g_set_error (error, HV_ERROR, HV_ERROR_FAILED, "cannot create an eventfd: %s", g_strerror (saved));
      hv_vm_free (vm);
      return NULL;
    }
  return vm;
}

HvVm *
hv_vm_new (const char *kvm_path, GError **error)
{
  HvVm *vm = vm_alloc ();
  const char *path = kvm_path ? kvm_path : "/dev/kvm";

  if (!open_kvm (vm, path, error))
    {
      hv_vm_free (vm);
      return NULL;
    }
  return vm_init (vm, path, error);
}

HvVm *
hv_vm_new_for_fd (int kvm_fd, GError **error)
{
  HvVm *vm = vm_alloc ();

  vm->kvm_fd = kvm_fd;
  return vm_init (vm, "the KVM device", error);
}

static gboolean
require_configuring (HvVm *vm, GError **error)
{
  if (vm->state != HV_VM_CONFIGURING)
    {
      g_set_error (error, HV_ERROR, HV_ERROR_INVALID_STATE,
                   "the VM has already been started; its configuration cannot change");
      return FALSE;
    }
  return TRUE;
}

gboolean
hv_vm_set_memory (HvVm *vm, uint64_t bytes, GError **error)
{
  if (!require_configuring (vm, error) || !hv_check_memory_size (bytes, error))
    return FALSE;
  vm->memory_size = bytes;
  return TRUE;
}

gboolean
hv_vm_set_vcpus (HvVm *vm, unsigned count, GError **error)
{
  if (!require_configuring (vm, error) || !hv_check_vcpus (count, error))
    return FALSE;
  vm->n_vcpus = count;
  return TRUE;
}

gboolean
hv_vm_set_cpuid_mask (HvVm *vm, const char *mask, GError **error)
{
  HvCpuidMask parsed = { 0 };

  if (!require_configuring (vm, error))
    return FALSE;
  if (mask && *mask && !hv_cpuid_mask_parse (mask, &parsed, error))
    return FALSE;
  vm->cpuid_mask = parsed;
  g_free (vm->cpuid_mask_text);
  vm->cpuid_mask_text = g_strdup (mask ? mask : "");
  return TRUE;
}

/* Maps a file for loading; errors name the file and say what is wrong with it. */
static GBytes *
map_file (const char *path, const char *what, GError **error)
{
  g_autoptr (GError) local = NULL;
  GMappedFile *file;
  GBytes *bytes;

  if (g_file_test (path, G_FILE_TEST_IS_DIR))
    {
      g_set_error (error, HV_ERROR, HV_ERROR_BAD_IMAGE, "%s: is a directory, not a %s", path, what);
      return NULL;
    }
  file = g_mapped_file_new (path, FALSE, &local);
  if (file == NULL)
    {
      HvError code = HV_ERROR_FAILED;
      if (g_error_matches (local, G_FILE_ERROR, G_FILE_ERROR_NOENT))
        code = HV_ERROR_NOT_FOUND;
      else if (g_error_matches (local, G_FILE_ERROR, G_FILE_ERROR_ACCES)
               || g_error_matches (local, G_FILE_ERROR, G_FILE_ERROR_PERM))
        code = HV_ERROR_PERMISSION;
      g_set_error (error, HV_ERROR, code, "cannot read the %s: %s", what, local->message);
      return NULL;
    }
  bytes = g_mapped_file_get_bytes (file);
  g_mapped_file_unref (file);
  return bytes;
}

/* Maps an open file for loading (the fd stays the caller's). */
static GBytes *
map_fd (int fd, const char *what, GError **error)
{
  g_autoptr (GError) local = NULL;
  struct stat st;
  GMappedFile *file;
  GBytes *bytes;

  if (fstat (fd, &st) < 0 || !S_ISREG (st.st_mode))
    {
      g_set_error (error, HV_ERROR, HV_ERROR_BAD_IMAGE, "the %s is not a regular file", what);
      return NULL;
    }
  file = g_mapped_file_new_from_fd (fd, FALSE, &local);
  if (file == NULL)
    {
      g_set_error (error, HV_ERROR, HV_ERROR_FAILED, "cannot read the %s: %s", what, local->message);
      return NULL;
    }
  bytes = g_mapped_file_get_bytes (file);
  g_mapped_file_unref (file);
  return bytes;
}

/* Firmware and a kernel exclude each other. */
static void
clear_firmware (HvVm *vm)
{
  g_clear_pointer (&vm->firmware, g_bytes_unref);
  hv_devices_remove (vm->devices, "fwcfg0");
}

static gboolean
set_kernel_bytes (HvVm *vm, GBytes *kernel, GBytes *initrd, const char *cmdline, GError **error)
{
  if (cmdline && strlen (cmdline) >= HV_CMDLINE_MAX)
    {
      g_set_error (error, HV_ERROR, HV_ERROR_INVALID_ARGUMENT,
                   "the kernel command line is %zu bytes long; the limit is %d", strlen (cmdline),
                   HV_CMDLINE_MAX - 1);
      return FALSE;
    }

  g_clear_pointer (&vm->kernel, g_bytes_unref);
  g_clear_pointer (&vm->initrd, g_bytes_unref);
  g_clear_pointer (&vm->restore, hv_restore_free); /* booting a kernel replaces a restore */
  clear_firmware (vm);
  g_free (vm->cmdline);
  vm->kernel = g_bytes_ref (kernel);
  vm->initrd = initrd ? g_bytes_ref (initrd) : NULL;
  vm->cmdline = g_strdup (cmdline);
  return TRUE;
}

gboolean
hv_vm_set_kernel (HvVm *vm, const char *kernel_path, const char *initrd_path, const char *cmdline,
                  GError **error)
{
  g_autoptr (GBytes) kernel = NULL;
  g_autoptr (GBytes) initrd = NULL;

  if (!require_configuring (vm, error))
    return FALSE;
  g_return_val_if_fail (kernel_path != NULL, FALSE);

  kernel = map_file (kernel_path, "kernel", error);
  if (kernel == NULL)
    return FALSE;
  if (initrd_path)
    {
      initrd = map_file (initrd_path, "initrd", error);
      if (initrd == NULL)
        return FALSE;
    }
  return set_kernel_bytes (vm, kernel, initrd, cmdline, error);
}

gboolean
hv_vm_set_kernel_fds (HvVm *vm, int kernel_fd, int initrd_fd, const char *cmdline, GError **error)
{
  g_autoptr (GBytes) kernel = NULL;
  g_autoptr (GBytes) initrd = NULL;

  if (!require_configuring (vm, error))
    return FALSE;
  kernel = map_fd (kernel_fd, "kernel", error);
  if (kernel == NULL)
    return FALSE;
  if (initrd_fd >= 0)
    {
      initrd = map_fd (initrd_fd, "initrd", error);
      if (initrd == NULL)
        return FALSE;
    }
  return set_kernel_bytes (vm, kernel, initrd, cmdline, error);
}

/* The largest image: what fits below 4 GiB above the LAPIC and the KVM pages, as QEMU allows for
 * pflash. */
#define FIRMWARE_MAX     (16u << 20)
#define FIRMWARE_GRANULE (64u << 10)

gboolean
hv_vm_set_firmware_fd (HvVm *vm, int fd, GError **error)
{
  struct stat st;
  g_autofree uint8_t *image = NULL;
  gsize done = 0;

  if (!require_configuring (vm, error))
    return FALSE;
  if (fstat (fd, &st) < 0 || !S_ISREG (st.st_mode))
    {
      g_set_error (error, HV_ERROR, HV_ERROR_BAD_IMAGE, "the firmware is not a regular file");
      return FALSE;
    }
  if (st.st_size == 0 || st.st_size > FIRMWARE_MAX || st.st_size % FIRMWARE_GRANULE != 0)
    {
      g_set_error (error, HV_ERROR, HV_ERROR_BAD_IMAGE,
                   "the firmware image is %" G_GINT64_FORMAT " bytes; it must be a non-empty multiple "
                   "of 64 KiB, at most 16 MiB (a BIOS such as SeaBIOS's bios-256k.bin)",
                   (gint64) st.st_size);
      return FALSE;
    }
  /* Read, not mapped: the guest must not see the file change under it. */
  image = g_malloc (st.st_size);
  while (done < (gsize) st.st_size)
    {
      ssize_t n = pread (fd, image + done, st.st_size - done, (off_t) done);
      if (n <= 0)
        {
          int saved = n < 0 ? errno : EIO;
          if (n < 0 && saved == EINTR)
            continue;
          g_set_error (error, HV_ERROR, HV_ERROR_FAILED, "cannot read the firmware: %s", g_strerror (saved));
          return FALSE;
        }
      done += (gsize) n;
    }

  g_clear_pointer (&vm->kernel, g_bytes_unref);
  g_clear_pointer (&vm->initrd, g_bytes_unref);
  g_clear_pointer (&vm->restore, hv_restore_free);
  g_clear_pointer (&vm->firmware, g_bytes_unref);
  vm->firmware = g_bytes_new_take (g_steal_pointer (&image), st.st_size);
  if (hv_devices_lookup (vm->devices, "fwcfg0") == NULL
      && hv_devices_add (vm->devices, "fw-cfg", "fwcfg0", error) == NULL)
    return FALSE;
  return TRUE;
}

static int
dup_fd (int fd, const char *what, GError **error)
{
  int copy = fcntl (fd, F_DUPFD_CLOEXEC, 3);

  if (copy < 0)
    {
      int saved = errno;
      g_set_error (error, HV_ERROR, HV_ERROR_FAILED, "cannot keep the %s: %s", what, g_strerror (saved));
    }
  return copy;
}

void
hv_vm_set_serial (HvVm *vm, int input_fd, int output_fd)
{
  g_autoptr (GError) error = NULL;

  /* serial0 is there from hv_vm_new(); only a started VM refuses. */
  if (!hv_vm_set_device_io (vm, "serial0", input_fd, output_fd, &error))
    g_warning ("%s", error->message);
}

gboolean
hv_vm_add_device (HvVm *vm, const char *kind, const char *id, GError **error)
{
  g_return_val_if_fail (kind != NULL, FALSE);
  return require_configuring (vm, error) && hv_devices_add (vm->devices, kind, id, error) != NULL;
}

gboolean
hv_vm_set_device_io (HvVm *vm, const char *id, int input_fd, int output_fd, GError **error)
{
  HvDevice *device;

  if (!require_configuring (vm, error))
    return FALSE;
  device = hv_devices_lookup (vm->devices, id);
  if (device == NULL || strcmp (device->kind->info->name, "serial") != 0)
    {
      g_set_error (error, HV_ERROR, HV_ERROR_INVALID_ARGUMENT, "the VM has no serial port “%s”", id);
      return FALSE;
    }
  {
    GVariantDict options;
    int fd;

    /* The device keeps its own duplicates: the caller's stay the caller's. */
    g_variant_dict_init (&options, NULL);
    if (input_fd >= 0)
      {
        if ((fd = dup_fd (input_fd, "serial input", error)) < 0)
          return FALSE;
        g_variant_dict_insert (&options, "input", "h", fd);
      }
    if (output_fd >= 0)
      {
        if ((fd = dup_fd (output_fd, "serial output", error)) < 0)
          {
            hv_device_set_options (device, g_variant_dict_end (&options)); /* closes the input */
            return FALSE;
          }
        g_variant_dict_insert (&options, "output", "h", fd);
      }
    hv_device_set_options (device, g_variant_dict_end (&options));
  }
  return TRUE;
}

static int
dup_spec_fd (void *opaque, const char *name, int handle, GError **error)
{
  const HvMachineSpec *spec = opaque;
  g_autofree char *what = g_strdup_printf ("device's “%s”", name);
  return dup_fd (hv_machine_spec_get_fd (spec, handle), what, error);
}

static void
close_fd (void *opaque, int fd)
{
  close (fd);
}

/* @options of @device_spec with each fd handle turned into the VM's own duplicate of the fd. */
static GVariant *
take_device_options (const HvMachineSpec *spec, const HvDeviceSpec *device_spec, GError **error)
{
  GVariant *options = hv_spec_options_map_fds (device_spec->options, dup_spec_fd, close_fd, (void *) spec,
                                               error);
  if (options == NULL)
    g_prefix_error (error, "%s: ", device_spec->id);
  return options;
}

gboolean
hv_vm_apply_spec (HvVm *vm, const HvMachineSpec *spec, GError **error)
{
  if (!require_configuring (vm, error) || !hv_machine_spec_check (spec, HV_SPEC_CHECK_DEFAULT, error))
    return FALSE;
  if (!hv_vm_set_memory (vm, spec->memory, error) || !hv_vm_set_vcpus (vm, spec->vcpus, error)
      || !hv_vm_set_cpuid_mask (vm, spec->cpuid_mask, error))
    return FALSE;
  if (spec->boot == HV_BOOT_FIRMWARE)
    {
      if (!hv_vm_set_firmware_fd (vm, hv_machine_spec_get_fd (spec, spec->firmware), error))
        return FALSE;
      g_strfreev (vm->boot_order);
      vm->boot_order = g_strdupv (spec->boot_order);
      vm->boot_menu_ms = spec->boot_menu_ms;
    }
  else if (!hv_vm_set_kernel_fds (vm, hv_machine_spec_get_fd (spec, spec->kernel),
                                  hv_machine_spec_get_fd (spec, spec->initrd), spec->cmdline, error))
    return FALSE;

  for (guint i = 0; i < spec->devices->len; i++)
    {
      const HvDeviceSpec *device_spec = spec->devices->pdata[i];
      HvDevice *device = hv_devices_lookup (vm->devices, device_spec->id);
      GVariant *options;

      /* A device every VM has (serial0) is configured rather than added again. */
      if (device && strcmp (device->kind->info->name, device_spec->kind) != 0)
        {
          g_set_error (error, HV_ERROR, HV_ERROR_INVALID_ARGUMENT,
                       "device “%s” is a %s in every machine, not a %s", device_spec->id,
                       device->kind->info->name, device_spec->kind);
          return FALSE;
        }
      if (device == NULL)
        {
          device = hv_devices_add (vm->devices, device_spec->kind, device_spec->id, error);
          if (device == NULL)
            return FALSE;
        }
      options = take_device_options (spec, device_spec, error);
      if (options == NULL)
        return FALSE;
      hv_device_set_options (device, options);
    }
  vm->display_enabled = hv_devices_find_kind (vm->devices, "bochs-display") != NULL;
  return TRUE;
}

HvMachineSpec *
hv_vm_get_spec (HvVm *vm)
{
  HvMachineSpec *spec = hv_machine_spec_new ();

  spec->memory = vm->memory_size;
  spec->vcpus = vm->n_vcpus;
  spec->boot = vm->firmware ? HV_BOOT_FIRMWARE : HV_BOOT_KERNEL;
  if (vm->boot_order)
    {
      g_strfreev (spec->boot_order);
      spec->boot_order = g_strdupv (vm->boot_order);
    }
  spec->boot_menu_ms = vm->boot_menu_ms;
  g_free (spec->cpuid_mask);
  spec->cpuid_mask = g_strdup (vm->cpuid_mask_text ? vm->cpuid_mask_text : "");
  g_free (spec->cmdline);
  spec->cmdline = g_strdup (vm->cmdline ? vm->cmdline : "");
  for (guint i = 0; i < hv_devices_get_count (vm->devices); i++)
    {
      HvDevice *device = hv_devices_get (vm->devices, i);

      if (device->kind->info->board)
        continue;
      /* Without its fds (a NULL map drops them). */
      hv_machine_spec_add_device (spec, device->kind->info->name, device->id,
                                  hv_spec_options_map_fds (device->options, NULL, NULL, NULL, NULL));
    }
  return spec;
}

gboolean
hv_vm_set_display (HvVm *vm, gboolean enabled, GError **error)
{
  if (!require_configuring (vm, error) || !hv_pc_set_display (vm, enabled, error))
    return FALSE;
  vm->display_enabled = enabled;
  return TRUE;
}

HvDisplay *
hv_vm_get_display (HvVm *vm)
{
  HvBochsDisplay *display = hv_devices_get_impl (vm->devices, "bochs-display");
  return display ? hv_bochs_display_get_display (display) : NULL;
}

gboolean
hv_vm_start (HvVm *vm, GError **error)
{
  if (!require_configuring (vm, error))
    return FALSE;
  if (vm->kernel == NULL && vm->firmware == NULL && vm->restore == NULL)
    {
      g_set_error (error, HV_ERROR, HV_ERROR_INVALID_ARGUMENT, "no kernel or firmware was given");
      return FALSE;
    }

  if (!hv_pc_build (vm, error) || !hv_devices_start (vm->devices, error) || !hv_vm_start_spice (vm, error))
    {
      /* A half-built machine cannot be started again; hv_vm_free() takes it apart. */
      vm->state = HV_VM_EXITED;
      return FALSE;
    }

  hv_vcpu_install_kick_signal ();

  g_mutex_lock (&vm->lock);
  vm->state = HV_VM_RUNNING;
  vm->n_live = vm->n_vcpus;
  for (unsigned i = 0; i < vm->n_vcpus; i++)
    if (!hv_vcpu_start (&vm->vcpus[i], error))
      {
        /* The threads already running end; those never started are not counted. */
        vm->n_live -= vm->n_vcpus - i;
        vm->exiting = TRUE;
        vm->exit_reason = HV_EXIT_INTERNAL_ERROR;
        vm->exit_message = g_strdup ((*error)->message);
        for (unsigned j = 0; j < i; j++)
          hv_vcpu_kick (&vm->vcpus[j]);
        if (vm->n_live == 0)
          vm->state = HV_VM_EXITED;
        g_mutex_unlock (&vm->lock);
        return FALSE;
      }
  g_mutex_unlock (&vm->lock);
  return TRUE;
}

/* With vm->lock held. */
static void
kick_all_locked (HvVm *vm)
{
  if (vm->joined || vm->vcpus == NULL)
    return;
  for (unsigned i = 0; i < vm->n_vcpus; i++)
    hv_vcpu_kick (&vm->vcpus[i]);
}

void
hv_vm_request_exit (HvVm *vm, HvExitReason reason, const char *message)
{
  g_mutex_lock (&vm->lock);
  if (vm->exit_reason == HV_EXIT_NONE)
    {
      vm->exit_reason = reason;
      vm->exit_message = g_strdup (message ? message : hv_exit_reason_to_string (reason));
    }
  vm->exiting = TRUE;
  g_cond_broadcast (&vm->cond);
  kick_all_locked (vm);
  g_mutex_unlock (&vm->lock);
}

/* Call with the VM's lock held. */
static gboolean
require_running (HvVm *vm, GError **error)
{
  if (vm->state != HV_VM_RUNNING || vm->exiting)
    {
      g_set_error (error, HV_ERROR, HV_ERROR_INVALID_STATE, "the VM is not running");
      return FALSE;
    }
  return TRUE;
}

/* require_running() for callers without the lock. */
static gboolean
check_running (HvVm *vm, GError **error)
{
  gboolean ok;

  g_mutex_lock (&vm->lock);
  ok = require_running (vm, error);
  g_mutex_unlock (&vm->lock);
  return ok;
}

/* The realized device @id of @kind in the running VM; NULL with @error, naming it as @what, otherwise. */
static HvDevice *
require_device (HvVm *vm, const char *id, const char *kind, const char *what, GError **error)
{
  HvDevice *device;

  if (!check_running (vm, error))
    return NULL;
  device = hv_devices_lookup (vm->devices, id);
  if (device == NULL || strcmp (device->kind->info->name, kind) != 0 || !device->realized)
    {
      g_set_error (error, HV_ERROR, HV_ERROR_NOT_FOUND, "the VM has no %s “%s”", what, id);
      return NULL;
    }
  return device;
}

gboolean
hv_vm_request_shutdown (HvVm *vm, GError **error)
{
  gboolean ok = check_running (vm, error);

  if (ok)
    hv_acpi_pm_press_power_button (hv_devices_get_impl (vm->devices, "acpi-pm"));
  return ok;
}

gboolean
hv_vm_send_ctrl_alt_del (HvVm *vm, GError **error)
{
  gboolean ok = check_running (vm, error);

  if (ok)
    hv_i8042_send_ctrl_alt_del (hv_devices_get_impl (vm->devices, "i8042"));
  return ok;
}

gboolean
hv_vm_change_medium (HvVm *vm, const char *id, int fd, gboolean force, GError **error)
{
  HvDevice *device = require_device (vm, id, "cdrom", "CD-ROM drive", error);
  int copy = -1;

  if (device == NULL)
    return FALSE;
  if (fd >= 0 && (copy = dup_fd (fd, "disc image", error)) < 0)
    return FALSE;
  return hv_ahci_device_change_medium (device, copy, force, error);
}

gboolean
hv_vm_set_link (HvVm *vm, const char *id, gboolean up, GError **error)
{
  HvDevice *device = require_device (vm, id, "virtio-net", "network adapter", error);

  if (device == NULL)
    return FALSE;
  hv_virtio_net_set_link (device->impl, up);
  return TRUE;
}

GVariant *
hv_vm_get_guest_addresses (HvVm *vm)
{
  GVariantBuilder builder;

  g_variant_builder_init (&builder, G_VARIANT_TYPE ("a{ss}"));
  for (unsigned i = 0; vm->devices && i < hv_devices_get_count (vm->devices); i++)
    {
      HvDevice *device = hv_devices_get (vm->devices, i);
      uint32_t address;
      char text[INET_ADDRSTRLEN];

      if (!device->realized || strcmp (device->kind->info->name, "virtio-net") != 0)
        continue;
      address = hv_virtio_net_get_guest_address (device->impl);
      if (address != 0 && inet_ntop (AF_INET, &address, text, sizeof text))
        g_variant_builder_add (&builder, "{ss}", device->id, text);
    }
  return g_variant_builder_end (&builder);
}

gboolean
hv_vm_pause (HvVm *vm, GError **error)
{
  g_mutex_lock (&vm->lock);
  if (!require_running (vm, error))
    {
      g_mutex_unlock (&vm->lock);
      return FALSE;
    }
  vm->paused = TRUE;
  kick_all_locked (vm);
  while (vm->n_parked < vm->n_live && !vm->exiting)
    g_cond_wait (&vm->cond, &vm->lock);
  g_mutex_unlock (&vm->lock);
  /* Devices that work on their own (input events into guest memory, serial input) hold still too,
   * so that a paused VM's memory and device state agree when it is saved; what arrives meanwhile is
   * delivered on resume. */
  hv_devices_quiesce (vm->devices, TRUE);
  return TRUE;
}

static gboolean
tell_clock_paused (HvVcpu *vcpu, void *data, GError **error)
{
  hv_vcpu_state_clock_paused (vcpu->fd);
  return TRUE;
}

gboolean
hv_vm_resume (HvVm *vm, GError **error)
{
  gboolean told;

  /* A guest using kvmclock learns it was paused, so its watchdogs do not take the pause for a lockup
   * (unless a revert has just told it, on the vCPUs' threads).  When the VM is not paused this does
   * nothing and the check below says so. */
  g_mutex_lock (&vm->lock);
  told = vm->clock_told;
  vm->clock_told = FALSE;
  g_mutex_unlock (&vm->lock);
  if (!told && ioctl (vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_KVMCLOCK_CTRL) > 0)
    hv_vm_run_on_parked_vcpus (vm, tell_clock_paused, NULL, NULL);

  g_mutex_lock (&vm->lock);
  if (!vm->paused)
    {
      g_mutex_unlock (&vm->lock);
      g_set_error (error, HV_ERROR, HV_ERROR_INVALID_STATE, "the VM is not paused");
      return FALSE;
    }
  vm->paused = FALSE;
  g_cond_broadcast (&vm->cond);
  g_mutex_unlock (&vm->lock);
  hv_devices_quiesce (vm->devices, FALSE);
  return TRUE;
}

void
hv_vm_stop (HvVm *vm)
{
  hv_vm_request_exit (vm, HV_EXIT_STOPPED, "the VM was stopped by the host");
}

int
hv_vm_get_exit_fd (HvVm *vm)
{
  return vm->exit_fd;
}

gboolean
hv_vm_has_exited (HvVm *vm)
{
  gboolean exited;
  g_mutex_lock (&vm->lock);
  exited = vm->state == HV_VM_EXITED;
  g_mutex_unlock (&vm->lock);
  return exited;
}

void
hv_vm_wait (HvVm *vm, HvExitInfo *info)
{
  gboolean join;

  g_mutex_lock (&vm->lock);
  while (vm->state == HV_VM_RUNNING)
    g_cond_wait (&vm->cond, &vm->lock);
  join = !vm->joined;
  vm->joined = TRUE;
  g_mutex_unlock (&vm->lock);

  if (join && vm->vcpus)
    for (unsigned i = 0; i < vm->n_vcpus; i++)
      if (vm->vcpus[i].thread_started)
        {
          pthread_join (vm->vcpus[i].thread, NULL);
          vm->vcpus[i].thread_started = FALSE;
        }

  if (info)
    {
      g_mutex_lock (&vm->lock);
      info->reason = vm->exit_reason;
      info->message = g_strdup (vm->exit_message);
      g_mutex_unlock (&vm->lock);
    }
}

void
hv_vm_free (HvVm *vm)
{
  if (vm == NULL)
    return;

  if (vm->state == HV_VM_RUNNING)
    hv_vm_stop (vm);
  hv_vm_wait (vm, NULL);
  /* Before the devices it reads and feeds. */
  g_clear_pointer (&vm->spice, hv_spice_free);

  if (vm->vcpus)
    for (unsigned i = 0; i < vm->n_vcpus; i++)
      hv_vcpu_destroy (&vm->vcpus[i]);
  g_clear_pointer (&vm->vcpus, g_free);

  /* Last realized first: the PCI devices, the ISA devices, then the bus. */
  g_clear_pointer (&vm->devices, hv_devices_free);
  hv_kvm_platform_free (vm);
  g_clear_pointer (&vm->pio, hv_bus_free);
  g_clear_pointer (&vm->mmio, hv_bus_free);
  g_clear_pointer (&vm->irq, hv_irq_free);
  hv_memory_clear (&vm->memory);

  g_clear_pointer (&vm->kernel, g_bytes_unref);
  g_clear_pointer (&vm->initrd, g_bytes_unref);
  g_clear_pointer (&vm->firmware, g_bytes_unref);
  if (vm->firmware_rom)
    munmap (vm->firmware_rom, vm->firmware_rom_size);
  g_clear_pointer (&vm->cmdline, g_free);
  g_clear_pointer (&vm->boot_order, g_strfreev);
  g_clear_pointer (&vm->cpuid_mask_text, g_free);
  g_clear_pointer (&vm->spice_socket_path, g_free);
  g_clear_pointer (&vm->restore, hv_restore_free);
  g_clear_pointer (&vm->exit_message, g_free);
  g_clear_error (&vm->task_error);
  if (vm->exit_fd >= 0)
    close (vm->exit_fd);
  if (vm->vm_fd >= 0)
    close (vm->vm_fd);
  if (vm->kvm_fd >= 0)
    close (vm->kvm_fd);
  hv_input_clear (&vm->input);
  g_mutex_clear (&vm->lock);
  g_cond_clear (&vm->cond);
  g_free (vm);
}
