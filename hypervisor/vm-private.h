/* vm-private.h — the VM object shared by vm.c (building and lifecycle) and vcpu.c (the run loops). */
#pragma once

#include "bus.h"
#include "irq.h"
#include "memory.h"
#include "devices/devices.h"
#include "x86/boot.h"
#include "x86/cpuid.h"

#include <pthread.h>
#include <linux/kvm.h>

typedef struct
{
  HvVm *vm;
  unsigned index;
  int fd;
  struct kvm_run *run;
  pthread_t thread;
  gboolean thread_started;
} HvVcpu;

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
  GBytes *kernel;
  GBytes *initrd;
  char *cmdline;
  int serial_input_fd;
  int serial_output_fd;

  /* The machine, once built. */
  HvMemory memory;
  HvBus *pio;
  HvBus *mmio;
  HvIrq *irq;
  HvPlatform platform;
  HvSerial *serial;
  HvI8042 *i8042;
  HvRtc *rtc;
  HvAcpiPm *acpi_pm;
  HvPci *pci;
  HvBootSetup boot;
  HvVcpu *vcpus;

  /* Lifecycle, guarded by lock. */
  GMutex lock;
  GCond cond;
  HvVmState state;
  gboolean exiting;    /* every vCPU should leave its loop */
  gboolean paused;     /* every vCPU should park */
  unsigned n_parked;
  unsigned n_live;     /* vCPU threads still in their loop */
  HvExitReason exit_reason;
  char *exit_message;
  int exit_fd;         /* eventfd, readable once n_live reaches 0 */
  gboolean joined;
};

/* vcpu.c */
gboolean hv_vcpu_create (HvVm *vm, HvVcpu *vcpu, unsigned index, struct kvm_cpuid2 *cpuid,
                         GError **error);
gboolean hv_vcpu_start (HvVcpu *vcpu, GError **error);
void hv_vcpu_kick (HvVcpu *vcpu);
void hv_vcpu_destroy (HvVcpu *vcpu);
void hv_vcpu_install_kick_signal (void);

/* vm.c: ends the VM with @reason (first reason wins) and kicks every vCPU.  Any thread. */
void hv_vm_request_exit (HvVm *vm, HvExitReason reason, const char *message);
