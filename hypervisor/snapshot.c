/* snapshot.c — saving a paused VM into a folder and restoring it into a new VM: what the saved
 * state holds and the order in which its parts are collected and applied.  The files themselves are
 * snapshot-file.c's.
 *
 * The state is an a{sv}: "memory-size" t, "vcpu-count" u, "memory-id" ay (16 bytes, also in the
 * memory file), "vcpus" aa{sv} (x86/vcpu-state.c), "vm" a{sv} (PIC, IOAPIC, PIT and clock,
 * x86/vm-state.c), "devices" a{sa{sv}} (one dictionary per device, written by the device's own save
 * function), and for people "saved-at" x (µs since the epoch) and "writer" s.
 *
 * Saving: each parked vCPU, on its own thread, completes the instruction of its last exit and reads
 * its KVM state; then the VM's irqchip, PIT and clock, the devices, and the memory.  Restoring
 * builds the machine as a boot does, then writes the memory, the VM state, each vCPU's state and
 * the devices' state, in that order: devices last, because they raise their pending interrupt lines
 * again into the restored interrupt controllers and local APICs. */
#include "snapshot.h"
#include "snapshot-file.h"
#include "state.h"
#include "vm-private.h"
#include "x86/vcpu-state.h"
#include "x86/vm-state.h"

#include <string.h>
#include <unistd.h>

struct _HvRestore
{
  GVariant *state; /* the whole saved state, checked */
  int memory_fd;
  uint64_t memory_size;
  unsigned n_vcpus;
};

/* Saving. */

typedef struct
{
  HvVm *vm;
  GVariant **vcpus;
} SaveContext;

static gboolean
save_vcpu (HvVcpu *vcpu, void *data, GError **error)
{
  SaveContext *ctx = data;
  GVariant *state;

  if (!hv_vcpu_complete_io (vcpu, error))
    return FALSE;
  state = hv_vcpu_state_save (ctx->vm->kvm_fd, ctx->vm->vm_fd, vcpu->fd, vcpu->index, error);
  if (state == NULL)
    return FALSE;
  ctx->vcpus[vcpu->index] = g_variant_ref_sink (state);
  return TRUE;
}

typedef struct
{
  const char *name;
  GVariant *(*save) (HvVm *vm);
  gboolean (*load) (HvVm *vm, GVariant *state, GError **error);
  /* For devices a machine may lack (the display): whether this one has it.  NULL: always. */
  gboolean (*present) (HvVm *vm);
} SavedDevice;

static GVariant *
save_serial (HvVm *vm)
{
  return hv_serial_save_state (vm->serial);
}

static gboolean
load_serial (HvVm *vm, GVariant *state, GError **error)
{
  return hv_serial_load_state (vm->serial, state, error);
}

static GVariant *
save_i8042 (HvVm *vm)
{
  return hv_i8042_save_state (vm->i8042);
}

static gboolean
load_i8042 (HvVm *vm, GVariant *state, GError **error)
{
  return hv_i8042_load_state (vm->i8042, state, error);
}

static GVariant *
save_rtc (HvVm *vm)
{
  return hv_rtc_save_state (vm->rtc);
}

static gboolean
load_rtc (HvVm *vm, GVariant *state, GError **error)
{
  return hv_rtc_load_state (vm->rtc, state, error);
}

static GVariant *
save_acpi_pm (HvVm *vm)
{
  return hv_acpi_pm_save_state (vm->acpi_pm);
}

static gboolean
load_acpi_pm (HvVm *vm, GVariant *state, GError **error)
{
  return hv_acpi_pm_load_state (vm->acpi_pm, state, error);
}

static GVariant *
save_pci (HvVm *vm)
{
  return hv_pci_save_state (vm->pci);
}

static gboolean
load_pci (HvVm *vm, GVariant *state, GError **error)
{
  return hv_pci_load_state (vm->pci, state, error);
}

static gboolean
has_display (HvVm *vm)
{
  return vm->display != NULL;
}

static GVariant *
save_display (HvVm *vm)
{
  return hv_bochs_display_save_state (vm->display);
}

static gboolean
load_display (HvVm *vm, GVariant *state, GError **error)
{
  return hv_bochs_display_load_state (vm->display, state, error);
}

static GVariant *
save_keyboard (HvVm *vm)
{
  return hv_virtio_input_save_state (vm->keyboard);
}

static gboolean
load_keyboard (HvVm *vm, GVariant *state, GError **error)
{
  return hv_virtio_input_load_state (vm->keyboard, state, error);
}

static GVariant *
save_tablet (HvVm *vm)
{
  return hv_virtio_input_save_state (vm->tablet);
}

static gboolean
load_tablet (HvVm *vm, GVariant *state, GError **error)
{
  return hv_virtio_input_load_state (vm->tablet, state, error);
}

/* Every device of the machine, by the name its state is saved under.  PCI comes first on load so
 * the BARs are where the devices behind them expect. */
static const SavedDevice devices[] = {
  { "pci", save_pci, load_pci },
  { "serial", save_serial, load_serial },
  { "i8042", save_i8042, load_i8042 },
  { "rtc", save_rtc, load_rtc },
  { "acpi-pm", save_acpi_pm, load_acpi_pm },
  { "bochs-display", save_display, load_display, has_display },
  { "virtio-keyboard", save_keyboard, load_keyboard, has_display },
  { "virtio-tablet", save_tablet, load_tablet, has_display },
};

static gboolean
device_present (HvVm *vm, const SavedDevice *device)
{
  return device->present == NULL || device->present (vm);
}

static gboolean
require_paused (HvVm *vm, GError **error)
{
  gboolean ok;

  g_mutex_lock (&vm->lock);
  ok = vm->state == HV_VM_RUNNING && !vm->exiting && vm->paused && vm->n_parked == vm->n_live;
  g_mutex_unlock (&vm->lock);
  if (!ok)
    g_set_error (error, HV_ERROR, HV_ERROR_INVALID_STATE,
                 "only a paused VM can be saved: pause it first");
  return ok;
}

static GVariant *
build_state (HvVm *vm, GVariant **vcpus, GVariant *vm_state, const uint8_t id[HV_SNAPSHOT_ID_SIZE])
{
  g_auto (GVariantDict) dict = G_VARIANT_DICT_INIT (NULL);
  GVariantBuilder list;

  g_variant_dict_insert (&dict, "memory-size", "t", (guint64) vm->memory.size);
  g_variant_dict_insert (&dict, "vcpu-count", "u", vm->n_vcpus);
  g_variant_dict_insert_value (&dict, "memory-id", hv_state_new_bytes (id, HV_SNAPSHOT_ID_SIZE));
  g_variant_dict_insert (&dict, "saved-at", "x", g_get_real_time ());
  g_variant_dict_insert (&dict, "writer", "s", "vireo " VIREO_VERSION);

  g_variant_builder_init (&list, G_VARIANT_TYPE ("aa{sv}"));
  for (unsigned i = 0; i < vm->n_vcpus; i++)
    g_variant_builder_add_value (&list, vcpus[i]);
  g_variant_dict_insert_value (&dict, "vcpus", g_variant_builder_end (&list));
  g_variant_dict_insert_value (&dict, "vm", vm_state);

  g_variant_builder_init (&list, G_VARIANT_TYPE ("a{sa{sv}}"));
  for (gsize i = 0; i < G_N_ELEMENTS (devices); i++)
    if (device_present (vm, &devices[i]))
      g_variant_builder_add (&list, "{s@a{sv}}", devices[i].name, devices[i].save (vm));
  g_variant_dict_insert_value (&dict, "devices", g_variant_builder_end (&list));
  return g_variant_ref_sink (g_variant_dict_end (&dict));
}

gboolean
hv_vm_save (HvVm *vm, int dir_fd, GError **error)
{
  SaveContext ctx = { .vm = vm };
  g_autoptr (GVariant) state = NULL;
  GVariant *vm_state;
  uint8_t id[HV_SNAPSHOT_ID_SIZE];
  uint64_t written = 0;
  gint64 start = g_get_monotonic_time ();
  gint64 cpus_done;
  gint64 memory_done;
  gboolean ok = FALSE;

  g_return_val_if_fail (vm != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (!require_paused (vm, error))
    return FALSE;
  ctx.vcpus = g_new0 (GVariant *, vm->n_vcpus);
  if (!hv_vm_run_on_parked_vcpus (vm, save_vcpu, &ctx, error))
    goto out;
  vm_state = hv_vm_kvm_state_save (vm->vm_fd, error);
  if (vm_state == NULL)
    goto out;
  hv_snapshot_new_id (id);
  state = build_state (vm, ctx.vcpus, vm_state, id);
  cpus_done = g_get_monotonic_time ();

  if (!hv_snapshot_write_memory (dir_fd, &vm->memory, id, &written, error))
    goto out;
  memory_done = g_get_monotonic_time ();
  if (!hv_snapshot_write_state (dir_fd, state, error) || !hv_snapshot_commit (dir_fd, error))
    goto out;
  g_debug ("saved the VM in %" G_GINT64_FORMAT " ms: vCPUs and devices %" G_GINT64_FORMAT
           " ms, %" G_GUINT64_FORMAT " KiB of %" G_GUINT64_FORMAT " MiB memory %" G_GINT64_FORMAT
           " ms, state %" G_GSIZE_FORMAT " bytes",
           (g_get_monotonic_time () - start) / 1000, (cpus_done - start) / 1000, written >> 10,
           vm->memory.size >> 20, (memory_done - cpus_done) / 1000, g_variant_get_size (state));
  ok = TRUE;

out:
  if (!ok)
    hv_snapshot_discard (dir_fd);
  for (unsigned i = 0; i < vm->n_vcpus; i++)
    g_clear_pointer (&ctx.vcpus[i], g_variant_unref);
  g_free (ctx.vcpus);
  return ok;
}

/* Restoring. */

void
hv_restore_free (HvRestore *restore)
{
  if (restore == NULL)
    return;
  g_clear_pointer (&restore->state, g_variant_unref);
  if (restore->memory_fd >= 0)
    close (restore->memory_fd);
  g_free (restore);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (HvRestore, hv_restore_free)

static gboolean
check_config (HvVm *vm, uint64_t memory_size, unsigned n_vcpus, GError **error)
{
  if (memory_size != vm->memory_size)
    {
      g_set_error (error, HV_ERROR, HV_ERROR_INVALID_ARGUMENT,
                   "the saved VM has %" G_GUINT64_FORMAT
                   " MiB of memory, but this one is configured with %" G_GUINT64_FORMAT " MiB",
                   memory_size >> 20, vm->memory_size >> 20);
      return FALSE;
    }
  if (n_vcpus != vm->n_vcpus)
    {
      g_set_error (error, HV_ERROR, HV_ERROR_INVALID_ARGUMENT,
                   "the saved VM has %u vCPUs, but this one is configured with %u", n_vcpus,
                   vm->n_vcpus);
      return FALSE;
    }
  return TRUE;
}

/* Checks everything in the state that can be checked without the machine: the top level, the vCPUs
 * and the VM's KVM state.  Devices are checked as they load (they need the devices). */
static gboolean
check_state (GVariant *state, uint64_t *memory_size, unsigned *n_vcpus,
             uint8_t id[HV_SNAPSHOT_ID_SIZE], GError **error)
{
  g_autoptr (GVariant) vcpus = NULL;
  g_autoptr (GVariant) vm_state = NULL;
  g_autoptr (GVariant) device_states = NULL;

  if (!hv_state_get (state, "the VM", "memory-size", "t", memory_size, error)
      || !hv_state_get (state, "the VM", "vcpu-count", "u", n_vcpus, error)
      || !hv_state_get_bytes (state, "the VM", "memory-id", id, HV_SNAPSHOT_ID_SIZE,
                              HV_SNAPSHOT_ID_SIZE, NULL, error))
    return FALSE;
  if (*memory_size < HV_MEMORY_MIN || (*memory_size & 0xfff) != 0 || *n_vcpus < HV_VCPUS_MIN
      || *n_vcpus > HV_VCPUS_MAX)
    {
      hv_state_set_bad (error, "the VM", "its memory size or vCPU count is out of range");
      return FALSE;
    }
  vcpus = hv_state_lookup (state, "the VM", "vcpus", G_VARIANT_TYPE ("aa{sv}"), error);
  if (vcpus == NULL)
    return FALSE;
  if (g_variant_n_children (vcpus) != *n_vcpus)
    {
      hv_state_set_bad (error, "the VM", "it has %" G_GSIZE_FORMAT " vCPU states for %u vCPUs",
                        g_variant_n_children (vcpus), *n_vcpus);
      return FALSE;
    }
  for (unsigned i = 0; i < *n_vcpus; i++)
    {
      g_autoptr (GVariant) vcpu = g_variant_get_child_value (vcpus, i);
      if (!hv_vcpu_state_check (vcpu, i, error))
        return FALSE;
    }
  vm_state = hv_state_lookup (state, "the VM", "vm", G_VARIANT_TYPE_VARDICT, error);
  if (vm_state == NULL || !hv_vm_kvm_state_check (vm_state, error))
    return FALSE;
  device_states = hv_state_lookup (state, "the VM", "devices", G_VARIANT_TYPE ("a{sa{sv}}"), error);
  return device_states != NULL;
}

gboolean
hv_vm_set_restore (HvVm *vm, int dir_fd, GError **error)
{
  g_autoptr (HvRestore) restore = g_new0 (HvRestore, 1);
  uint8_t id[HV_SNAPSHOT_ID_SIZE];

  g_return_val_if_fail (vm != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  restore->memory_fd = -1;
  if (vm->state != HV_VM_CONFIGURING)
    {
      g_set_error (error, HV_ERROR, HV_ERROR_INVALID_STATE,
                   "the VM has already been started; it cannot restore a saved state");
      return FALSE;
    }
  restore->state = hv_snapshot_read_state (dir_fd, error);
  if (restore->state == NULL
      || !check_state (restore->state, &restore->memory_size, &restore->n_vcpus, id, error)
      || !check_config (vm, restore->memory_size, restore->n_vcpus, error))
    return FALSE;
  restore->memory_fd = hv_snapshot_open_memory (dir_fd, restore->memory_size, id, error);
  if (restore->memory_fd < 0)
    return FALSE;

  /* Restoring replaces booting a kernel. */
  g_clear_pointer (&vm->kernel, g_bytes_unref);
  g_clear_pointer (&vm->initrd, g_bytes_unref);
  g_clear_pointer (&vm->cmdline, g_free);
  hv_restore_free (vm->restore);
  vm->restore = g_steal_pointer (&restore);
  return TRUE;
}

gboolean
hv_restore_check_config (HvVm *vm, GError **error)
{
  return check_config (vm, vm->restore->memory_size, vm->restore->n_vcpus, error);
}

gboolean
hv_restore_memory (HvVm *vm, GError **error)
{
  return hv_snapshot_read_memory (vm->restore->memory_fd, &vm->memory, error);
}

static gboolean
load_devices (HvVm *vm, GVariant *state, GError **error)
{
  g_autoptr (GVariant) device_states
      = g_variant_lookup_value (state, "devices", G_VARIANT_TYPE ("a{sa{sv}}"));
  GVariantIter iter;
  const char *name;

  g_variant_iter_init (&iter, device_states);
  while (g_variant_iter_next (&iter, "{&s@a{sv}}", &name, NULL))
    {
      gboolean known = FALSE;
      for (gsize i = 0; i < G_N_ELEMENTS (devices); i++)
        known = known || (strcmp (name, devices[i].name) == 0 && device_present (vm, &devices[i]));
      if (!known)
        {
          hv_state_set_bad (error, "the VM", "it has a device “%s”, which this machine lacks",
                            name);
          return FALSE;
        }
    }
  for (gsize i = 0; i < G_N_ELEMENTS (devices); i++)
    {
      g_autoptr (GVariant) device = NULL;

      if (!device_present (vm, &devices[i]))
        continue;
      device = g_variant_lookup_value (device_states, devices[i].name, G_VARIANT_TYPE_VARDICT);
      if (device == NULL)
        {
          hv_state_set_bad (error, "the VM", "the state of device “%s” is missing",
                            devices[i].name);
          return FALSE;
        }
      if (!devices[i].load (vm, device, error))
        return FALSE;
    }
  return TRUE;
}

gboolean
hv_restore_machine (HvVm *vm, GError **error)
{
  GVariant *state = vm->restore->state;
  g_autoptr (GVariant) vm_state = g_variant_lookup_value (state, "vm", G_VARIANT_TYPE_VARDICT);
  g_autoptr (GVariant) vcpus = g_variant_lookup_value (state, "vcpus", G_VARIANT_TYPE ("aa{sv}"));
  gint64 start = g_get_monotonic_time ();

  if (!hv_vm_kvm_state_restore (vm->vm_fd, vm_state, error))
    return FALSE;
  for (unsigned i = 0; i < vm->n_vcpus; i++)
    {
      g_autoptr (GVariant) vcpu = g_variant_get_child_value (vcpus, i);
      if (!hv_vcpu_state_restore (vm->kvm_fd, vm->vm_fd, vm->vcpus[i].fd, i, vcpu, error))
        return FALSE;
    }
  if (!load_devices (vm, state, error))
    return FALSE;
  for (unsigned i = 0; i < vm->n_vcpus; i++)
    hv_vcpu_state_clock_paused (vm->vcpus[i].fd);

  g_debug ("restored the vCPUs and devices in %" G_GINT64_FORMAT " ms",
           (g_get_monotonic_time () - start) / 1000);
  g_clear_pointer (&vm->restore, hv_restore_free);
  return TRUE;
}
