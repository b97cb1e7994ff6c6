/* pc.c — building the PC a VM runs on: guest memory, the in-kernel irqchip, the buses and the
 * devices the VM asked for, then either ACPI tables, a kernel and vCPUs set up to boot it, or blank
 * vCPUs for a saved state to fill in.  The VM's configuration and lifecycle are vm.c's. */
#include "vm-private.h"
#include "x86/acpi.h"
#include "x86/layout.h"

#include <errno.h>
#include <sys/ioctl.h>

/* Every PC has these, with the ids vireo-run, the worker and saved states know them by. */
static const struct
{
  const char *kind;
  const char *id;
} base_devices[] = {
  { "pci-host", "pci0" },
  { "serial", "serial0" },
  { "i8042", "kbc0" },
  { "rtc", "rtc0" },
  { "acpi-pm", "pm0" },
};

/* What hv_vm_set_display() adds: the adapter, and the keyboard and tablet that go with it. */
static const struct
{
  const char *kind;
  const char *id;
} display_devices[] = {
  { "bochs-display", "display0" },
  { "virtio-keyboard", "keyboard0" },
  { "virtio-tablet", "tablet0" },
};

void
hv_pc_add_base_devices (HvVm *vm)
{
  for (gsize i = 0; i < G_N_ELEMENTS (base_devices); i++)
    if (hv_devices_add (vm->devices, base_devices[i].kind, base_devices[i].id, NULL) == NULL)
      g_assert_not_reached ();
}

gboolean
hv_pc_set_display (HvVm *vm, gboolean enabled, GError **error)
{
  for (gsize i = 0; i < G_N_ELEMENTS (display_devices); i++)
    {
      const char *id = display_devices[i].id;
      HvDevice *device = hv_devices_lookup (vm->devices, id);

      if (!enabled)
        hv_devices_remove (vm->devices, id);
      else if (device == NULL && !hv_devices_add (vm->devices, display_devices[i].kind, id, error))
        return FALSE;
    }
  return TRUE;
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

static gboolean
set_up_platform (HvVm *vm, GError **error)
{
  HvDeviceHost host;

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
  if (!hv_kvm_platform_init (vm, error)
      || !hv_bus_register (vm->pio, HV_PORT_POST, 1, "post", post_port_io, vm, error))
    return FALSE;

  host = (HvDeviceHost) {
    .platform = &vm->platform,
    .pio = vm->pio,
    .ram_size = vm->memory_size,
  };
  return hv_devices_realize (vm->devices, &host, error);
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

gboolean
hv_pc_build (HvVm *vm, GError **error)
{
  if (vm->restore != NULL)
    return hv_restore_check_config (vm, error) && set_up_memory (vm, error)
           && set_up_platform (vm, error) && hv_restore_memory (vm, error)
           && create_vcpus (vm, FALSE, error) && hv_restore_machine (vm, error);
  return set_up_memory (vm, error) && set_up_platform (vm, error) && load_kernel (vm, error)
         && create_vcpus (vm, TRUE, error);
}

