/* snapshot.c — saving a paused VM into a folder and restoring it into a new VM: what the saved
 * state holds and the order in which its parts are collected and applied.  The files themselves are
 * snapshot-file.c's.
 *
 * The state is an a{sv}: "memory-size" t, "vcpu-count" u, "memory-id" ay (16 bytes, also in the
 * memory file), "vcpus" aa{sv} (x86/vcpu-state.c), "vm" a{sv} (PIC, IOAPIC, PIT and clock,
 * x86/vm-state.c), "devices" a{sa{sv}} (one section per device, keyed by its id, with its kind and
 * the version of its own state: device.c), and for people "saved-at" x (µs since the epoch) and
 * "writer" s.  Format version 1 keyed "devices" on fixed names, each holding the device's state
 * alone; it is read as version 2 (upgrade_v1).
 *
 * Saving: each parked vCPU, on its own thread, completes the instruction of its last exit and reads
 * its KVM state; then the VM's irqchip, PIT and clock, the devices, and the memory.  Restoring
 * builds the machine as a boot does, then writes the memory, the VM state, each vCPU's state and
 * the devices' state, in that order: devices last, because they raise their pending interrupt lines
 * again into the restored interrupt controllers and local APICs.  Reverting (hv_vm_revert) applies
 * the same steps, in the same order, to the paused machine that exists.  Memory is never read: the
 * memory file is mapped over guest RAM (memory.c).  fw_cfg has no saved state: after a restore its
 * item selector is the reset one, after a revert the present's; only firmware reads it, while it
 * boots, so a checkpoint taken then is the one case where this shows. */
#include "block/block.h"
#include "device.h"
#include "snapshot.h"
#include "snapshot-file.h"
#include "state.h"
#include "vm-private.h"
#include "x86/vcpu-state.h"
#include "x86/layout.h"
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

static gboolean
require_paused (HvVm *vm, GError **error)
{
  gboolean ok;

  g_mutex_lock (&vm->lock);
  ok = vm->state == HV_VM_RUNNING && !vm->exiting && vm->paused && vm->n_parked == vm->n_live;
  g_mutex_unlock (&vm->lock);
  if (!ok)
    g_set_error (error, HV_ERROR, HV_ERROR_INVALID_STATE, "only a paused VM can be saved: pause it first");
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

  g_variant_dict_insert_value (&dict, "devices", hv_devices_save (vm->devices));
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
  /* hv_vm_pause() has done this; a save never depends on it having stayed so. */
  hv_devices_quiesce (vm->devices, TRUE);
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
                   "the saved VM has %u vCPUs, but this one is configured with %u", n_vcpus, vm->n_vcpus);
      return FALSE;
    }
  return TRUE;
}

/* Checks everything in the state that can be checked without the machine: the top level, the vCPUs
 * and the VM's KVM state.  Devices are checked as they load (they need the devices). */
static gboolean
check_state (GVariant *state, uint64_t *memory_size, unsigned *n_vcpus, uint8_t id[HV_SNAPSHOT_ID_SIZE],
             GError **error)
{
  g_autoptr (GVariant) vcpus = NULL;
  g_autoptr (GVariant) vm_state = NULL;
  g_autoptr (GVariant) device_states = NULL;

  if (!hv_state_get (state, "the VM", "memory-size", "t", memory_size, error)
      || !hv_state_get (state, "the VM", "vcpu-count", "u", n_vcpus, error)
      || !hv_state_get_bytes (state, "the VM", "memory-id", id, HV_SNAPSHOT_ID_SIZE, HV_SNAPSHOT_ID_SIZE,
                              NULL, error))
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

/* Format version 1 keyed each device's state on a name of the one machine it knew; as version 2
 * sections, they are version 1 of their kinds' states, under the ids those devices have now.  A name
 * this table lacks stays as it is, for loading to refuse as a device the machine lacks. */
static const struct
{
  const char *name;
  const char *id;
  const char *kind;
} v1_devices[] = {
  { "pci", "pci0", "pci-host" },
  { "serial", "serial0", "serial" },
  { "i8042", "kbc0", "i8042" },
  { "rtc", "rtc0", "rtc" },
  { "acpi-pm", "pm0", "acpi-pm" },
  { "bochs-display", "display0", "bochs-display" },
  { "virtio-keyboard", "keyboard0", "virtio-keyboard" },
  { "virtio-tablet", "tablet0", "virtio-tablet" },
};

/* A version 1 state as version 2 says it; @state was read and its top level is an a{sv}.  What is
 * not as version 1 had it is left for the checks that follow to refuse. */
static GVariant *
upgrade_v1 (GVariant *state)
{
  g_autoptr (GVariant) old = g_variant_lookup_value (state, "devices", G_VARIANT_TYPE ("a{sa{sv}}"));
  GVariantDict dict;
  GVariantBuilder sections;

  if (old == NULL)
    return g_variant_ref (state);
  g_variant_builder_init (&sections, G_VARIANT_TYPE ("a{sa{sv}}"));
  for (gsize n = 0; n < g_variant_n_children (old); n++)
    {
      g_autoptr (GVariant) entry = g_variant_get_child_value (old, n);
      g_autoptr (GVariant) key = g_variant_get_child_value (entry, 0);
      g_autoptr (GVariant) device = g_variant_get_child_value (entry, 1);
      g_auto (GVariantDict) section = G_VARIANT_DICT_INIT (NULL);
      const char *name = g_variant_get_string (key, NULL);
      const char *id = name;
      const char *kind = name;

      for (gsize i = 0; i < G_N_ELEMENTS (v1_devices); i++)
        if (strcmp (name, v1_devices[i].name) == 0)
          {
            id = v1_devices[i].id;
            kind = v1_devices[i].kind;
          }
      g_variant_dict_insert (&section, "kind", "s", kind);
      g_variant_dict_insert (&section, "version", "u", 1);
      g_variant_dict_insert_value (&section, "state", device);
      g_variant_builder_add (&sections, "{s@a{sv}}", id, g_variant_dict_end (&section));
    }
  g_variant_dict_init (&dict, state);
  g_variant_dict_insert_value (&dict, "devices", g_variant_builder_end (&sections));
  return g_variant_ref_sink (g_variant_dict_end (&dict));
}

/* Reads and checks the saved VM in @dir_fd against @vm's configuration, and opens its memory. */
static HvRestore *
read_restore (HvVm *vm, int dir_fd, GError **error)
{
  g_autoptr (HvRestore) restore = g_new0 (HvRestore, 1);
  uint8_t id[HV_SNAPSHOT_ID_SIZE];
  unsigned version = 0;

  restore->memory_fd = -1;
  restore->state = hv_snapshot_read_state (dir_fd, &version, error);
  if (restore->state != NULL && version == 1)
    {
      GVariant *upgraded = upgrade_v1 (restore->state);
      g_variant_unref (restore->state);
      restore->state = upgraded;
    }
  if (restore->state == NULL
      || !check_state (restore->state, &restore->memory_size, &restore->n_vcpus, id, error)
      || !check_config (vm, restore->memory_size, restore->n_vcpus, error))
    return NULL;
  restore->memory_fd = hv_snapshot_open_memory (dir_fd, restore->memory_size, id, error);
  if (restore->memory_fd < 0)
    return NULL;
  return g_steal_pointer (&restore);
}

gboolean
hv_vm_set_restore (HvVm *vm, int dir_fd, GError **error)
{
  HvRestore *restore;

  g_return_val_if_fail (vm != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (vm->state != HV_VM_CONFIGURING)
    {
      g_set_error (error, HV_ERROR, HV_ERROR_INVALID_STATE,
                   "the VM has already been started; it cannot restore a saved state");
      return FALSE;
    }
  restore = read_restore (vm, dir_fd, error);
  if (restore == NULL)
    return FALSE;

  /* Restoring replaces booting a kernel.  A machine with firmware keeps it: its image stays mapped
   * below 4 GiB (the restored memory holds the firmware's copies of itself) and fw_cfg stays at its
   * ports, as in the machine that was saved. */
  g_clear_pointer (&vm->kernel, g_bytes_unref);
  g_clear_pointer (&vm->initrd, g_bytes_unref);
  g_clear_pointer (&vm->cmdline, g_free);
  hv_restore_free (vm->restore);
  vm->restore = restore;
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
  return hv_snapshot_map_memory (vm->restore->memory_fd, &vm->memory, error);
}

static gboolean
load_devices (HvVm *vm, GVariant *state, GError **error)
{
  g_autoptr (GVariant) sections = g_variant_lookup_value (state, "devices", G_VARIANT_TYPE ("a{sa{sv}}"));

  return hv_devices_load (vm->devices, sections, error);
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

/* ---- Reverting a paused VM in place ---- */

gboolean
hv_vm_check_saved (HvVm *vm, int dir_fd, GError **error)
{
  g_autoptr (HvRestore) restore = NULL;

  g_return_val_if_fail (vm != NULL, FALSE);
  restore = read_restore (vm, dir_fd, error);
  return restore != NULL;
}

typedef struct
{
  HvVm *vm;
  GVariant *vcpus;
} RevertContext;

/* On the vCPU's own thread: finish the instruction of its last exit first, so that nothing of the
 * discarded present completes into the restored registers when the vCPU runs again. */
static gboolean
revert_vcpu (HvVcpu *vcpu, void *data, GError **error)
{
  RevertContext *ctx = data;
  g_autoptr (GVariant) state = g_variant_get_child_value (ctx->vcpus, vcpu->index);

  if (!hv_vcpu_complete_io (vcpu, error)
      || !hv_vcpu_state_restore (ctx->vm->kvm_fd, ctx->vm->vm_fd, vcpu->fd, vcpu->index, state, error))
    return FALSE;
  /* What hv_vm_resume would otherwise do on this thread, in a round of its own. */
  hv_vcpu_state_clock_paused (vcpu->fd);
  return TRUE;
}

/* Why not rebuild: a machine built afresh and restored (the worker's reset path) costs 10-30 ms here
 * (a new KVM VM, irqchip, memory slots, devices, disk images reopened, the display server); loading
 * the saved state into the machine that exists costs the state's parse and some ioctls, well under a
 * millisecond, with memory mapped lazily.  What makes that sound is device.h's contract for load():
 * it replaces every bit of guest-visible state, including what the device holds on the host side
 * for the guest (queued input, received packets, timers), and assumes interrupt lines start low,
 * which revert_lower_lines makes true. */
static void
revert_lower_lines (HvVm *vm)
{
  for (unsigned gsi = 0; gsi < HV_IOAPIC_PINS; gsi++)
    hv_platform_set_irq (&vm->platform, gsi, FALSE);
}

gboolean
hv_vm_revert (HvVm *vm, int dir_fd, GError **error)
{
  g_autoptr (HvRestore) restore = NULL;
  g_autoptr (GVariant) vm_state = NULL;
  g_autoptr (GVariant) sections = NULL;
  RevertContext ctx = { .vm = vm };
  g_autofree char *message = NULL;
  gint64 start = g_get_monotonic_time ();
  gint64 checked;

  g_return_val_if_fail (vm != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (!require_paused (vm, error))
    return g_prefix_error (error, "cannot revert: "), FALSE;
  restore = read_restore (vm, dir_fd, error);
  if (restore == NULL)
    return FALSE;
  vm_state = g_variant_lookup_value (restore->state, "vm", G_VARIANT_TYPE_VARDICT);
  ctx.vcpus = g_variant_lookup_value (restore->state, "vcpus", G_VARIANT_TYPE ("aa{sv}"));
  sections = g_variant_lookup_value (restore->state, "devices", G_VARIANT_TYPE ("a{sa{sv}}"));
  checked = g_get_monotonic_time ();
  /* hv_vm_pause() has done this: nothing is in flight, no device takes work until resume. */
  hv_devices_quiesce (vm->devices, TRUE);

  /* Everything that can be checked without changing the machine has been; from here a failure leaves
   * a machine that is neither the present nor the saved one, and it is ended. */
  if (!hv_snapshot_map_memory (restore->memory_fd, &vm->memory, error))
    goto broken;
  revert_lower_lines (vm);
  if (!hv_vm_kvm_state_restore (vm->vm_fd, vm_state, error)
      || !hv_vm_run_on_parked_vcpus (vm, revert_vcpu, &ctx, error)
      || !hv_devices_load (vm->devices, sections, error))
    goto broken;
  g_clear_pointer (&ctx.vcpus, g_variant_unref);
  g_mutex_lock (&vm->lock);
  vm->clock_told = TRUE;
  g_mutex_unlock (&vm->lock);
  g_debug ("reverted the VM in %.3f ms (reading and checking the state %.3f ms)",
           (g_get_monotonic_time () - start) / 1000.0, (checked - start) / 1000.0);
  return TRUE;

broken:
  g_clear_pointer (&ctx.vcpus, g_variant_unref);
  message = g_strdup_printf ("reverting to a saved state failed half-way: %s", (*error)->message);
  hv_vm_request_exit (vm, HV_EXIT_INTERNAL_ERROR, message);
  g_prefix_error (error, "reverting to the saved state failed half-way, and the VM was ended: ");
  return FALSE;
}

/* ---- The disks' internal snapshots ---- */

static gboolean
disk_has_snapshot (HvDevice *device, const char *name, GError **error)
{
  g_autoptr (GPtrArray) list = hv_block_snapshot_list (device->kind->block (device), error);

  if (list == NULL)
    return g_prefix_error (error, "%s: ", device->id), FALSE;
  for (guint j = 0; j < list->len; j++)
    {
      HvBlockSnapshot *s = g_ptr_array_index (list, j);

      if (g_strcmp0 (s->name, name) == 0 || g_strcmp0 (s->id, name) == 0)
        return TRUE;
    }
  return g_set_error (error, HV_ERROR, HV_ERROR_NOT_FOUND, "%s: its disk has no snapshot \"%s\"", device->id,
                      name),
         FALSE;
}

static gboolean
disks_have_snapshot (GPtrArray *disks, const char *name, GError **error)
{
  for (guint i = 0; i < disks->len; i++)
    if (!disk_has_snapshot (g_ptr_array_index (disks, i), name, error))
      return FALSE;
  return TRUE;
}

gboolean
hv_vm_snapshot_disks (HvVm *vm, const char *op, const char *name, GError **error)
{
  g_autoptr (GPtrArray) all = NULL;
  g_autoptr (GPtrArray) disks = g_ptr_array_new ();
  HvBlockSnapshotOp kind;
  gboolean paused;
  gboolean if_present = FALSE;

  g_return_val_if_fail (vm != NULL, FALSE);
  if (g_strcmp0 (op, "create") == 0)
    kind = HV_BLOCK_SNAPSHOT_CREATE;
  else if (g_strcmp0 (op, "apply") == 0)
    kind = HV_BLOCK_SNAPSHOT_APPLY;
  else if (g_strcmp0 (op, "delete") == 0)
    kind = HV_BLOCK_SNAPSHOT_DELETE;
  else if (g_strcmp0 (op, "discard") == 0)
    {
      kind = HV_BLOCK_SNAPSHOT_DELETE;
      if_present = TRUE;
    }
  else
    return g_set_error (error, HV_ERROR, HV_ERROR_INVALID_ARGUMENT,
                        "there is no disk snapshot operation \"%s\" (create, apply, delete, discard)",
                        op ? op : "(null)"),
           FALSE;

  g_mutex_lock (&vm->lock);
  paused = vm->state == HV_VM_RUNNING && !vm->exiting && vm->paused && vm->n_parked == vm->n_live;
  g_mutex_unlock (&vm->lock);
  if (!paused)
    return g_set_error (error, HV_ERROR, HV_ERROR_INVALID_STATE,
                        "only a paused VM's disks can have snapshots taken: pause it first"),
           FALSE;
  /* hv_vm_pause() has done this: no request is in flight, none is taken until resume. */
  hv_devices_quiesce (vm->devices, TRUE);

  all = hv_devices_with_blocks (vm->devices);
  for (guint i = 0; i < all->len; i++)
    {
      HvDevice *device = g_ptr_array_index (all, i);
      HvBlock *block = device->kind->block (device);

      if (hv_block_is_read_only (block))
        continue;
      if (hv_block_get_format (block) != HV_BLOCK_FORMAT_QCOW2)
        return g_set_error (error, HV_ERROR, HV_ERROR_NOT_SUPPORTED,
                            "%s: its disk is a %s image: checkpoints need qcow2", device->id,
                            hv_block_format_name (hv_block_get_format (block))),
               FALSE;
      g_ptr_array_add (disks, device);
    }
  if (if_present)
    {
      /* Only the disks that have it. */
      for (guint i = disks->len; i-- > 0;)
        if (!disk_has_snapshot (g_ptr_array_index (disks, i), name, NULL))
          g_ptr_array_remove_index (disks, i);
    }
  else if (kind != HV_BLOCK_SNAPSHOT_CREATE && !disks_have_snapshot (disks, name, error))
    return FALSE;

  for (guint i = 0; i < disks->len; i++)
    {
      HvDevice *device = g_ptr_array_index (disks, i);

      if (hv_block_snapshot (device->kind->block (device), kind, name, error))
        continue;
      g_prefix_error (error, "%s: ", device->id);
      if (kind == HV_BLOCK_SNAPSHOT_CREATE)
        for (guint j = 0; j < i; j++)
          {
            HvDevice *done = g_ptr_array_index (disks, j);
            g_autoptr (GError) undo = NULL;

            if (!hv_block_snapshot (done->kind->block (done), HV_BLOCK_SNAPSHOT_DELETE, name, &undo))
              g_warning ("%s: cannot delete the snapshot \"%s\" again: %s", done->id, name, undo->message);
          }
      return FALSE;
    }
  return TRUE;
}
