/* vm.c — the VM object: configuration, building the machine (memory, irqchip, devices, then tables and
 * kernel, or a saved state), and its lifecycle (start, pause, resume, power button, stop, wait). */
#include "vm-private.h"
#include "x86/acpi.h"
#include "x86/layout.h"
#include "x86/vcpu-state.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
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
                     "and enable virtualization in the firmware settings)", path);
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
  vm->serial_input_fd = -1;
  vm->serial_output_fd = -1;
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
  g_free (vm->cmdline);
  vm->kernel = g_steal_pointer (&kernel);
  vm->initrd = g_steal_pointer (&initrd);
  vm->cmdline = g_strdup (cmdline);
  return TRUE;
}

void
hv_vm_set_serial (HvVm *vm, int input_fd, int output_fd)
{
  vm->serial_input_fd = input_fd;
  vm->serial_output_fd = output_fd;
}

gboolean
hv_vm_set_display (HvVm *vm, gboolean enabled, GError **error)
{
  if (!require_configuring (vm, error))
    return FALSE;
  vm->display_enabled = enabled;
  return TRUE;
}

HvDisplay *
hv_vm_get_display (HvVm *vm)
{
  return vm->display ? hv_bochs_display_get_display (vm->display) : NULL;
}

/* HvPlatform on KVM. */
static void
platform_set_irq (void *opaque, unsigned gsi, gboolean level)
{
  HvVm *vm = opaque;
  hv_irq_set_line (vm->irq, gsi, level);
}

static void
platform_request_exit (void *opaque, HvExitReason reason, const char *message)
{
  hv_vm_request_exit (opaque, reason, message);
}

static void
post_port_io (void *opaque, uint64_t offset, uint8_t *data, unsigned len, gboolean is_write)
{
  /* Port 0x80: POST codes and Linux's io_delay.  Writes go nowhere; reads see the bus's 0xff. */
}

static gboolean
set_up_memory (HvVm *vm, GError **error)
{
  if (!hv_memory_init (&vm->memory, vm->memory_size, error))
    return FALSE;

  for (unsigned i = 0; i < vm->memory.n_regions; i++)
    {
      const HvMemoryRegion *r = &vm->memory.regions[i];
      struct kvm_userspace_memory_region slot = {
        .slot = i,
        .guest_phys_addr = r->gpa,
        .memory_size = r->size,
        .userspace_addr = (uintptr_t) r->host,
      };
      if (ioctl (vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &slot) < 0)
        {
          int saved = errno;
          g_set_error (error, HV_ERROR, HV_ERROR_FAILED,
                       "KVM cannot map %" G_GUINT64_FORMAT " MiB of guest memory: %s", r->size >> 20,
                       g_strerror (saved));
          return FALSE;
        }
    }
  return TRUE;
}

/* The display adapter, then the keyboard and tablet that go with it. */
static gboolean
set_up_display (HvVm *vm, GError **error)
{
  vm->display = hv_bochs_display_new (&vm->platform, vm->pci, error);
  if (vm->display == NULL
      || !hv_bus_register (vm->pio, HV_PORT_BOCHS_DISPI, HV_BOCHS_DISPI_PORTS, "bochs-display",
                           hv_bochs_display_dispi_io, vm->display, error))
    return FALSE;
  vm->keyboard = hv_virtio_input_new_keyboard (&vm->platform, vm->pci, error);
  if (vm->keyboard == NULL)
    return FALSE;
  vm->tablet = hv_virtio_input_new_tablet (&vm->platform, vm->pci, error);
  return vm->tablet != NULL;
}

static gboolean
set_up_platform (HvVm *vm, GError **error)
{
  if (ioctl (vm->vm_fd, KVM_SET_IDENTITY_MAP_ADDR, &(uint64_t){ HV_KVM_IDENTITY_MAP }) < 0
      || ioctl (vm->vm_fd, KVM_SET_TSS_ADDR, (unsigned long) HV_KVM_TSS) < 0)
    {
      int saved = errno;
      g_set_error (error, HV_ERROR, HV_ERROR_FAILED, "KVM cannot place its TSS: %s", g_strerror (saved));
      return FALSE;
    }
  vm->irq = hv_irq_new (vm->vm_fd, error);
  if (vm->irq == NULL)
    return FALSE;

  vm->platform.set_irq = platform_set_irq;
  vm->platform.request_exit = platform_request_exit;
  vm->platform.opaque = vm;

  vm->pio = hv_bus_new ("port I/O");
  vm->mmio = hv_bus_new ("MMIO");
  if (!hv_kvm_platform_init (vm, error))
    return FALSE;
  vm->serial = hv_serial_new (&vm->platform, HV_IRQ_COM1, vm->serial_output_fd);
  vm->i8042 = hv_i8042_new (&vm->platform);
  vm->rtc = hv_rtc_new (&vm->platform, vm->memory_size);
  vm->acpi_pm = hv_acpi_pm_new (&vm->platform);
  vm->pci = hv_pci_new ();

  if (!hv_bus_register (vm->pio, HV_PORT_COM1, 8, "serial", hv_serial_io, vm->serial, error)
      || !hv_bus_register (vm->pio, HV_PORT_I8042_DATA, 1, "i8042", hv_i8042_data_io, vm->i8042, error)
      || !hv_bus_register (vm->pio, HV_PORT_I8042_CMD, 1, "i8042", hv_i8042_command_io, vm->i8042,
                           error)
      || !hv_bus_register (vm->pio, HV_PORT_RTC, 2, "rtc", hv_rtc_io, vm->rtc, error)
      || !hv_bus_register (vm->pio, HV_PORT_POST, 1, "post", post_port_io, vm, error)
      || !hv_bus_register (vm->pio, HV_PORT_ACPI_PM, HV_PORT_ACPI_PM_LEN, "acpi-pm", hv_acpi_pm_io,
                           vm->acpi_pm, error)
      || !hv_bus_register (vm->pio, HV_PORT_PCI_CONF, 8, "pci", hv_pci_conf1_io, vm->pci, error))
    return FALSE;
  return !vm->display_enabled || set_up_display (vm, error);
}

static gboolean
load_kernel (HvVm *vm, GError **error)
{
  HvE820Map map;
  HvBootImages images = { 0 };
  uint64_t rsdp = 0;

  if (!hv_acpi_build (&vm->memory, vm->n_vcpus, &rsdp, error))
    return FALSE;

  hv_e820_build (&vm->memory, &map);
  images.kernel = g_bytes_get_data (vm->kernel, &images.kernel_size);
  if (vm->initrd)
    images.initrd = g_bytes_get_data (vm->initrd, &images.initrd_size);
  images.cmdline = vm->cmdline;
  images.rsdp_addr = rsdp;
  if (!hv_boot_load (&vm->memory, &map, &images, &vm->boot, error))
    return FALSE;

  /* The images are in guest RAM now; drop the host's mappings of the files. */
  g_clear_pointer (&vm->kernel, g_bytes_unref);
  g_clear_pointer (&vm->initrd, g_bytes_unref);
  return TRUE;
}

static struct kvm_cpuid2 *
get_supported_cpuid (HvVm *vm, GError **error)
{
  for (unsigned nent = 64; nent <= 4096; nent *= 2)
    {
      struct kvm_cpuid2 *cpuid = g_malloc0 (sizeof *cpuid + nent * sizeof cpuid->entries[0]);
      cpuid->nent = nent;
      if (ioctl (vm->kvm_fd, KVM_GET_SUPPORTED_CPUID, cpuid) == 0)
        return cpuid;
      g_free (cpuid);
      if (errno != E2BIG)
        break;
    }
  g_set_error (error, HV_ERROR, HV_ERROR_NO_KVM, "KVM_GET_SUPPORTED_CPUID failed: %s", g_strerror (errno));
  return NULL;
}

/* Creates the vCPUs, set up for booting the kernel, or blank for a restore to fill in. */
static gboolean
create_vcpus (HvVm *vm, gboolean for_boot, GError **error)
{
  g_autofree struct kvm_cpuid2 *supported = NULL;

  if (for_boot)
    {
      supported = get_supported_cpuid (vm, error);
      if (supported == NULL)
        return FALSE;
    }

  vm->vcpus = g_new0 (HvVcpu, vm->n_vcpus);
  for (unsigned i = 0; i < vm->n_vcpus; i++)
    vm->vcpus[i].fd = -1;
  for (unsigned i = 0; i < vm->n_vcpus; i++)
    if (!hv_vcpu_create (vm, &vm->vcpus[i], i, error)
        || (for_boot && !hv_vcpu_set_up_boot (&vm->vcpus[i], supported, error)))
      return FALSE;
  return TRUE;
}

/* The machine is built the same way either way; a restore fills it with the saved memory and state
 * where a boot writes tables and a kernel. */
static gboolean
build_machine (HvVm *vm, GError **error)
{
  if (vm->restore != NULL)
    return hv_restore_check_config (vm, error) && set_up_memory (vm, error)
           && set_up_platform (vm, error) && hv_restore_memory (vm, error)
           && create_vcpus (vm, FALSE, error) && hv_restore_machine (vm, error);
  return set_up_memory (vm, error) && set_up_platform (vm, error) && load_kernel (vm, error)
         && create_vcpus (vm, TRUE, error);
}

gboolean
hv_vm_start (HvVm *vm, GError **error)
{
  if (!require_configuring (vm, error))
    return FALSE;
  if (vm->kernel == NULL && vm->restore == NULL)
    {
      g_set_error (error, HV_ERROR, HV_ERROR_INVALID_ARGUMENT, "no kernel was given");
      return FALSE;
    }

  if (!build_machine (vm, error)
      || (vm->serial_input_fd >= 0
          && !hv_serial_start_input (vm->serial, vm->serial_input_fd, error))
      || !hv_vm_start_spice (vm, error))
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

gboolean
hv_vm_request_shutdown (HvVm *vm, GError **error)
{
  gboolean ok;
  g_mutex_lock (&vm->lock);
  ok = require_running (vm, error);
  g_mutex_unlock (&vm->lock);
  if (ok)
    hv_acpi_pm_press_power_button (vm->acpi_pm);
  return ok;
}

gboolean
hv_vm_send_ctrl_alt_del (HvVm *vm, GError **error)
{
  gboolean ok;
  g_mutex_lock (&vm->lock);
  ok = require_running (vm, error);
  g_mutex_unlock (&vm->lock);
  if (ok)
    hv_i8042_send_ctrl_alt_del (vm->i8042);
  return ok;
}

static void
set_devices_paused (HvVm *vm, gboolean paused)
{
  if (vm->keyboard)
    hv_virtio_input_set_paused (vm->keyboard, paused);
  if (vm->tablet)
    hv_virtio_input_set_paused (vm->tablet, paused);
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
  /* Devices that write guest memory on their own (input events) hold still too, so that a paused VM's
   * memory and device state agree when it is saved; what arrives meanwhile is delivered on resume. */
  set_devices_paused (vm, TRUE);
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
  /* A guest using kvmclock learns it was paused, so its watchdogs do not take the pause for a lockup.
   * When the VM is not paused this does nothing and the check below says so. */
  if (ioctl (vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_KVMCLOCK_CTRL) > 0)
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
  set_devices_paused (vm, FALSE);
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

  g_clear_pointer (&vm->serial, hv_serial_free);
  g_clear_pointer (&vm->i8042, hv_i8042_free);
  g_clear_pointer (&vm->rtc, hv_rtc_free);
  g_clear_pointer (&vm->acpi_pm, hv_acpi_pm_free);
  g_clear_pointer (&vm->display, hv_bochs_display_free);
  g_clear_pointer (&vm->keyboard, hv_virtio_input_free);
  g_clear_pointer (&vm->tablet, hv_virtio_input_free);
  g_clear_pointer (&vm->pci, hv_pci_free);
  hv_kvm_platform_free (vm);
  g_clear_pointer (&vm->pio, hv_bus_free);
  g_clear_pointer (&vm->mmio, hv_bus_free);
  g_clear_pointer (&vm->irq, hv_irq_free);
  hv_memory_clear (&vm->memory);

  g_clear_pointer (&vm->kernel, g_bytes_unref);
  g_clear_pointer (&vm->initrd, g_bytes_unref);
  g_clear_pointer (&vm->cmdline, g_free);
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
