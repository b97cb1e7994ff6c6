/* vm-private.h — the VM object shared by vm.c (configuration and lifecycle), pc.c (building the
 * machine), vcpu.c (the run loops) and snapshot.c (saving and restoring it). */
#pragma once

#include "bus.h"
#include "irq.h"
#include "memory.h"
#include "device.h"
#include "devices/devices.h"
#include "devices/bochs-display.h"
#include "devices/virtio-input.h"
#include "display/spice.h"
#include "input.h"
#include "x86/boot.h"
#include "x86/cpuid.h"
#include "snapshot.h"

#include <pthread.h>
#include <linux/kvm.h>

typedef struct _HvKvmPlatform HvKvmPlatform;

typedef struct
{
  HvVm *vm;
  unsigned index;
  int fd;
  struct kvm_run *run;
  pthread_t thread;
  gboolean thread_started;
  uint64_t task_serial; /* the last task this vCPU ran (vm->task_serial), guarded by vm->lock */
} HvVcpu;

/* Work run on a parked vCPU's own thread (hv_vm_run_on_parked_vcpus). */
typedef gboolean (*HvVcpuTask) (HvVcpu *vcpu, void *data, GError **error);

typedef enum
{
  HV_VM_CONFIGURING,
  HV_VM_RUNNING,
  HV_VM_EXITED,
} HvVmState;

struct _HvVm
{
  int kvm_fd;
  int vm_fd;
  int vcpu_mmap_size;

  /* Configuration. */
  uint64_t memory_size;
  unsigned n_vcpus;
  HvCpuidMask cpuid_mask;
  char *cpuid_mask_text; /* as given, for hv_vm_get_spec */
  GBytes *kernel;
  GBytes *initrd;
  GBytes *firmware;      /* set instead of a kernel by hv_vm_set_firmware_fd: the image's bytes */
  char **boot_order;     /* the spec's (hv_vm_apply_spec), or NULL: the firmware's own order */
  unsigned boot_menu_ms; /* the spec's: 0 for no boot menu */
  char *cmdline;
  HvRestore *restore;       /* set instead of a kernel by hv_vm_set_restore (snapshot.c) */
  HvDevices *devices;       /* requested from the start, realized by hv_pc_build (pc.c) */
  gboolean display_enabled; /* hv_vm_set_display */
  char *spice_socket_path;  /* hv_vm_set_spice_socket (display/spice-vm.c), or NULL */

  /* The machine, once built. */
  HvMemory memory;
  HvBus *pio;
  HvBus *mmio;
  HvIrq *irq;
  HvPlatform platform;
  HvKvmPlatform *kvm_platform; /* kvm-platform.c: the platform's memory slots and I/O thread */
  unsigned n_fixed_slots; /* KVM memory slots taken by RAM and the firmware image, before kvm_platform's */
  void *firmware_rom;     /* the firmware image as the guest sees it below 4 GiB (read-only) */
  gsize firmware_rom_size;
  HvBootSetup boot;
  HvVcpu *vcpus;
  HvInput input;  /* what the input calls remember (input.c) */
  HvSpice *spice; /* the display's SPICE server (display/spice-server.c), NULL without a display */

  /* Lifecycle, guarded by lock. */
  GMutex lock;
  GCond cond;
  HvVmState state;
  gboolean exiting;    /* every vCPU should leave its loop */
  gboolean paused;     /* every vCPU should park */
  gboolean clock_told; /* hv_vm_revert told the paused vCPUs' kvmclocks already: resume need not */
  unsigned n_parked;
  unsigned n_live; /* vCPU threads still in their loop */
  HvExitReason exit_reason;
  char *exit_message;
  int exit_fd; /* eventfd, readable once n_live reaches 0 */
  gboolean joined;
  HvVcpuTask task; /* posted to the parked vCPUs, NULL when there is none */
  void *task_data;
  uint64_t task_serial;
  unsigned task_pending; /* vCPUs that have not finished the task */
  unsigned task_running; /* vCPUs running it right now */
  GError *task_error;    /* the first failure */
};

/* vcpu.c */
/* Creates the KVM vCPU and maps its run area; the vCPU is blank until set up for boot or restored. */
gboolean hv_vcpu_create (HvVm *vm, HvVcpu *vcpu, unsigned index, GError **error);
/* CPUID from @supported, the MSRs, FPU and LAPIC wiring of a fresh PC, and the boot processor's entry. */
gboolean hv_vcpu_set_up_boot (HvVcpu *vcpu, struct kvm_cpuid2 *supported, GError **error);
/* Completes the instruction of the vCPU's last exit without running further (see vcpu.c), so that its
 * state can be read.  Call on the vCPU's thread while it is parked. */
gboolean hv_vcpu_complete_io (HvVcpu *vcpu, GError **error);
/* Runs @task on every vCPU's own thread while the VM is paused, and waits for all of them.  Fails with
 * HV_ERROR_INVALID_STATE when the VM is not paused (or is resumed meanwhile), else with the first
 * task's error. */
gboolean hv_vm_run_on_parked_vcpus (HvVm *vm, HvVcpuTask task, void *data, GError **error);
gboolean hv_vcpu_start (HvVcpu *vcpu, GError **error);
void hv_vcpu_kick (HvVcpu *vcpu);
void hv_vcpu_destroy (HvVcpu *vcpu);
void hv_vcpu_install_kick_signal (void);

/* pc.c: the devices every PC has (in hv_vm_new), and adding or removing the display's. */
void hv_pc_add_base_devices (HvVm *vm);
gboolean hv_pc_set_display (HvVm *vm, gboolean enabled, GError **error);
/* pc.c: builds the machine: memory, irqchip, buses, devices, then tables, a kernel and vCPUs set up to
 * boot it, or (with vm->restore) the saved memory, blank vCPUs and the saved state of everything. */
gboolean hv_pc_build (HvVm *vm, GError **error);

/* vm.c: the display device for the SPICE glue; NULL when the VM has none or is not built yet. */
HvDisplay *hv_vm_get_display (HvVm *vm);

/* kvm-platform.c: fills in the optional HvPlatform services (memory, buses, I/O thread, ioeventfds, MSI
 * routes, irqfds, extra memory slots) once RAM, the irqchip and the buses exist; and takes them down
 * again after every device is freed. */
gboolean hv_kvm_platform_init (HvVm *vm, GError **error);
void hv_kvm_platform_free (HvVm *vm);

/* vm.c: ends the VM with @reason (first reason wins) and kicks every vCPU.  Any thread. */
void hv_vm_request_exit (HvVm *vm, HvExitReason reason, const char *message);
