/* pc.c — building the PC a VM runs on: guest memory, the in-kernel irqchip, the buses and the
 * devices the VM asked for, then either ACPI tables, a kernel and vCPUs set up to boot it, or the
 * firmware image, fw_cfg's contents and vCPUs at the reset vector, or blank vCPUs for a saved state to
 * fill in.  The VM's configuration and lifecycle are vm.c's. */
#include "vm-private.h"
#include "bytes.h"
#include "devices/fw-cfg.h"
#include "x86/acpi.h"
#include "x86/layout.h"

#include <errno.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>

/* Every PC has these, with the ids vireo-run, the worker and saved states know them by. */
static const struct
{
  const char *kind;
  const char *id;
} base_devices[] = {
  { "pci-host", "pci0" }, { "serial", "serial0" }, { "i8042", "kbc0" },
  { "rtc", "rtc0" },      { "acpi-pm", "pm0" },
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

/* The firmware image read-only at the top of 4 GiB, where the reset vector is, in a memory slot of its
 * own: guest writes there exit as MMIO nobody claims, and are dropped.  Its last 128 KiB are also
 * copied to 0xE0000 as RAM, as a PC's chipset shows them there at power-on (QEMU's isa-bios); SeaBIOS
 * copies the rest of itself down from the top. */
static gboolean
map_firmware (HvVm *vm, GError **error)
{
  gsize size;
  const uint8_t *image = g_bytes_get_data (vm->firmware, &size);
  gsize low_size = MIN (size, HV_BIOS_LOW_SIZE);
  gboolean readonly = ioctl (vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_READONLY_MEM) > 0;
  struct kvm_userspace_memory_region slot;
  void *rom;

  rom = mmap (NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (rom == MAP_FAILED)
    {
      int saved = errno;
      g_set_error (error, HV_ERROR, HV_ERROR_FAILED, "cannot map the firmware: %s", g_strerror (saved));
      return FALSE;
    }
  memcpy (rom, image, size);
  if (readonly)
    mprotect (rom, size, PROT_READ);
  else
    g_warning ("this host's KVM has no read-only memory: the guest can write to its firmware image");
  vm->firmware_rom = rom;
  vm->firmware_rom_size = size;

  slot = (struct kvm_userspace_memory_region){
    .slot = vm->n_fixed_slots,
    .flags = readonly ? KVM_MEM_READONLY : 0,
    .guest_phys_addr = HV_4GIB - size,
    .memory_size = size,
    .userspace_addr = (uintptr_t) rom,
  };
  if (ioctl (vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &slot) < 0)
    {
      int saved = errno;
      g_set_error (error, HV_ERROR, HV_ERROR_FAILED, "KVM cannot map the firmware: %s", g_strerror (saved));
      return FALSE;
    }
  vm->n_fixed_slots++;
  return hv_memory_write (&vm->memory, HV_BIOS_LOW_END - low_size, image + size - low_size, low_size,
                          "the firmware's low copy", error);
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
  vm->n_fixed_slots = vm->memory.n_regions;
  return vm->firmware == NULL || map_firmware (vm, error);
}

static gboolean
set_up_platform (HvVm *vm, GError **error)
{
  HvDeviceHost host;

  /* Firmware images reach down from 4 GiB over the usual place of KVM's pages: QEMU's place then. */
  uint64_t identity_map = vm->firmware ? HV_KVM_IDENTITY_MAP_FIRMWARE : HV_KVM_IDENTITY_MAP;
  uint64_t tss = vm->firmware ? HV_KVM_TSS_FIRMWARE : HV_KVM_TSS;

  if (ioctl (vm->vm_fd, KVM_SET_IDENTITY_MAP_ADDR, &identity_map) < 0
      || ioctl (vm->vm_fd, KVM_SET_TSS_ADDR, (unsigned long) tss) < 0)
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

  host = (HvDeviceHost){
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

static gboolean
add_fw_cfg_int (HvFwCfg *fw_cfg, const char *name, uint64_t value, unsigned size, GError **error)
{
  g_autoptr (GBytes) data = NULL;

  value = GUINT64_TO_LE (value);
  data = g_bytes_new (&value, size);
  return hv_fw_cfg_add_file (fw_cfg, name, data, error);
}

/* Appends @device's boot path to @order, once. */
static void
add_boot_path (GString *order, GHashTable *seen, HvDevice *device)
{
  g_autofree char *path = NULL;

  if (device->kind->boot_path == NULL || !device->realized || g_hash_table_contains (seen, device))
    return;
  g_hash_table_add (seen, device);
  path = device->kind->boot_path (device);
  if (path)
    g_string_append_printf (order, "%s\n", path);
}

/* The "bootorder" file: one device path per line, first to try first, from the spec's boot order (ids
 * and classes).  Devices it leaves out follow in the firmware's own order. */
static GBytes *
build_boot_order (HvVm *vm)
{
  g_autoptr (GString) order = g_string_new (NULL);
  g_autoptr (GHashTable) seen = g_hash_table_new (NULL, NULL);
  unsigned n = hv_devices_get_count (vm->devices);

  for (gsize i = 0; vm->boot_order && vm->boot_order[i]; i++)
    {
      HvDevice *named = hv_devices_lookup (vm->devices, vm->boot_order[i]);
      if (named)
        {
          add_boot_path (order, seen, named);
          continue;
        }
      for (unsigned j = 0; j < n; j++)
        {
          HvDevice *device = hv_devices_get (vm->devices, j);
          const char *class = device->kind->info->boot_class;
          if (class && strcmp (class, vm->boot_order[i]) == 0)
            add_boot_path (order, seen, device);
        }
    }
  return g_bytes_new (order->str, order->len);
}

/* Tells the firmware the machine through fw_cfg: memory map, processors, the ACPI tables with the
 * commands that install them, the boot order and menu, where its console is and how long to wait
 * before retrying a failed boot. */
static gboolean
load_firmware (HvVm *vm, GError **error)
{
  HvFwCfg *fw_cfg = hv_devices_get_impl (vm->devices, "fw-cfg");
  g_autoptr (HvAcpiTables) tables = NULL;
  g_autoptr (GBytes) loader = NULL;
  g_autoptr (GByteArray) e820 = g_byte_array_new ();
  HvE820Map map;

  g_return_val_if_fail (fw_cfg != NULL, FALSE);

  hv_fw_cfg_set_item_u64 (fw_cfg, HV_FW_CFG_RAM_SIZE, vm->memory_size);
  hv_fw_cfg_set_item_u16 (fw_cfg, HV_FW_CFG_NB_CPUS, (uint16_t) vm->n_vcpus);
  hv_fw_cfg_set_item_u16 (fw_cfg, HV_FW_CFG_MAX_CPUS, (uint16_t) vm->n_vcpus);

  /* The map a kernel would get, and KVM's pages (which the firmware must not hand out) reserved. */
  hv_e820_build (&vm->memory, &map);
  if (map.n_entries < HV_E820_MAX)
    map.entries[map.n_entries++] = (HvE820Entry){ .addr = HV_KVM_IDENTITY_MAP_FIRMWARE,
                                                  .size = HV_KVM_PAGES_FIRMWARE_SIZE,
                                                  .type = HV_E820_RESERVED };
  for (unsigned i = 0; i < map.n_entries; i++)
    {
      uint8_t entry[20];
      hv_put_le32 (entry, (uint32_t) map.entries[i].addr);
      hv_put_le32 (entry + 4, (uint32_t) (map.entries[i].addr >> 32));
      hv_put_le32 (entry + 8, (uint32_t) map.entries[i].size);
      hv_put_le32 (entry + 12, (uint32_t) (map.entries[i].size >> 32));
      hv_put_le32 (entry + 16, map.entries[i].type);
      g_byte_array_append (e820, entry, sizeof entry);
    }

  tables = hv_acpi_tables_build (vm->n_vcpus, error);
  if (tables == NULL)
    return FALSE;
  loader = hv_acpi_tables_loader (tables);
  {
    g_autoptr (GBytes) e820_bytes = g_byte_array_free_to_bytes (g_steal_pointer (&e820));
    g_autoptr (GBytes) rsdp = g_bytes_new (tables->rsdp->data, tables->rsdp->len);
    g_autoptr (GBytes) blob = g_bytes_new (tables->tables->data, tables->tables->len);

    if (!hv_fw_cfg_add_file (fw_cfg, "etc/e820", e820_bytes, error)
        || !hv_fw_cfg_add_file (fw_cfg, HV_ACPI_RSDP_FILE, rsdp, error)
        || !hv_fw_cfg_add_file (fw_cfg, HV_ACPI_TABLES_FILE, blob, error)
        || !hv_fw_cfg_add_file (fw_cfg, HV_ACPI_LOADER_FILE, loader, error))
      return FALSE;
  }
  {
    g_autoptr (GBytes) order = build_boot_order (vm);
    if (g_bytes_get_size (order) > 0 && !hv_fw_cfg_add_file (fw_cfg, "bootorder", order, error))
      return FALSE;
  }
  /* SeaBIOS reads "show the menu" from the legacy item (as QEMU's -boot menu=on sets it), the wait from
   * a file; Esc opens it, on the display's keyboard or as a key on the serial console. */
  hv_fw_cfg_set_item_u16 (fw_cfg, HV_FW_CFG_BOOT_MENU, vm->boot_menu_ms > 0);
  if (vm->boot_menu_ms > 0 && !add_fw_cfg_int (fw_cfg, "etc/boot-menu-wait", vm->boot_menu_ms, 2, error))
    return FALSE;
  /* A machine with nothing to boot tries again after a while, as PCs do, rather than never. */
  if (!add_fw_cfg_int (fw_cfg, "etc/boot-fail-wait", HV_FIRMWARE_BOOT_FAIL_WAIT_MS, 4, error))
    return FALSE;
  /* The BIOS's screen goes to COM1 too (SeaBIOS's sercon), alone without a display and beside the
   * display's VGA BIOS with one, so a serial console always shows it. */
  if (!add_fw_cfg_int (fw_cfg, "etc/sercon-port", HV_PORT_COM1, 2, error))
    return FALSE;
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
    return hv_restore_check_config (vm, error) && set_up_memory (vm, error) && set_up_platform (vm, error)
           && hv_restore_memory (vm, error) && create_vcpus (vm, FALSE, error)
           && hv_restore_machine (vm, error);
  return set_up_memory (vm, error) && set_up_platform (vm, error)
         && (vm->firmware ? load_firmware (vm, error) : load_kernel (vm, error))
         && create_vcpus (vm, TRUE, error);
}
