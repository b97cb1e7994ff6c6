/* vcpu.c — vCPU creation (CPUID, MSRs, FPU, LAPIC wiring) and each vCPU's named thread running KVM_RUN,
 * parking while the VM is paused and running work posted to the parked vCPUs.
 *
 * A vCPU leaves KVM_RUN when kicked: the kicker sets kvm_run->immediate_exit and sends SIGRTMIN to the
 * thread, so the request is seen whether the thread is inside KVM_RUN or just about to enter it.
 */
#include "vm-private.h"
#include "x86/boot.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

/* MSR numbers (Intel SDM vol. 4). */
#define MSR_IA32_TSC          0x10
#define MSR_IA32_SYSENTER_CS  0x174
#define MSR_IA32_SYSENTER_ESP 0x175
#define MSR_IA32_SYSENTER_EIP 0x176
#define MSR_IA32_MISC_ENABLE  0x1a0
#define MSR_MTRR_DEF_TYPE     0x2ff
#define MSR_STAR              0xc0000081
#define MSR_LSTAR             0xc0000082
#define MSR_CSTAR             0xc0000083
#define MSR_SYSCALL_MASK      0xc0000084
#define MSR_KERNEL_GS_BASE    0xc0000102

#define MISC_ENABLE_FAST_STRING (1ull << 0)
#define MTRR_ENABLE             (1ull << 11)
#define MTRR_TYPE_WRBACK        6ull

/* Local APIC register offsets and delivery modes. */
#define APIC_LVT_LINT0   0x350
#define APIC_LVT_LINT1   0x360
#define APIC_MODE_NMI    0x4
#define APIC_MODE_EXTINT 0x7

static void
kick_signal_handler (int signo)
{
  /* Nothing to do: the signal's only job is to make KVM_RUN return with EINTR. */
}

static void
install_kick_signal_once (void)
{
  struct sigaction sa = { 0 };
  sa.sa_handler = kick_signal_handler;
  sigemptyset (&sa.sa_mask);
  sa.sa_flags = 0; /* no SA_RESTART: KVM_RUN must come back */
  sigaction (SIGRTMIN, &sa, NULL);
}

void
hv_vcpu_install_kick_signal (void)
{
  static pthread_once_t once = PTHREAD_ONCE_INIT;
  pthread_once (&once, install_kick_signal_once);
}

static gboolean
set_msrs (HvVcpu *vcpu, GError **error)
{
  static const struct
  {
    uint32_t index;
    uint64_t value;
  } boot_msrs[] = {
    { MSR_IA32_SYSENTER_CS, 0 },
    { MSR_IA32_SYSENTER_ESP, 0 },
    { MSR_IA32_SYSENTER_EIP, 0 },
    { MSR_STAR, 0 },
    { MSR_CSTAR, 0 },
    { MSR_KERNEL_GS_BASE, 0 },
    { MSR_SYSCALL_MASK, 0 },
    { MSR_LSTAR, 0 },
    /* All vCPUs write the same TSC value, so KVM keeps their TSCs synchronised. */
    { MSR_IA32_TSC, 0 },
    { MSR_IA32_MISC_ENABLE, MISC_ENABLE_FAST_STRING },
    { MSR_MTRR_DEF_TYPE, MTRR_ENABLE | MTRR_TYPE_WRBACK },
  };
  struct
  {
    struct kvm_msrs header;
    struct kvm_msr_entry entries[1];
  } one;

  /* One at a time, so that an MSR this host's KVM refuses is named and the others still get set. */
  for (gsize i = 0; i < G_N_ELEMENTS (boot_msrs); i++)
    {
      int ret;
      memset (&one, 0, sizeof one);
      one.header.nmsrs = 1;
      one.entries[0].index = boot_msrs[i].index;
      one.entries[0].data = boot_msrs[i].value;
      ret = ioctl (vcpu->fd, KVM_SET_MSRS, &one);
      if (ret < 0)
        {
          int saved = errno;
          g_set_error (error, HV_ERROR, HV_ERROR_FAILED, "vCPU %u: KVM_SET_MSRS failed: %s", vcpu->index,
                       g_strerror (saved));
          return FALSE;
        }
      if (ret != 1)
        g_debug ("vCPU %u: KVM refused MSR 0x%x", vcpu->index, boot_msrs[i].index);
    }
  return TRUE;
}

static gboolean
set_fpu (HvVcpu *vcpu, GError **error)
{
  struct kvm_fpu fpu = { 0 };
  fpu.fcw = 0x37f;    /* the x87 state after FNINIT */
  fpu.mxcsr = 0x1f80; /* all SSE exceptions masked */
  if (ioctl (vcpu->fd, KVM_SET_FPU, &fpu) < 0)
    {
      int saved = errno;
      g_set_error (error, HV_ERROR, HV_ERROR_FAILED, "vCPU %u: KVM_SET_FPU failed: %s", vcpu->index,
                   g_strerror (saved));
      return FALSE;
    }
  return TRUE;
}

static void
set_lvt_mode (struct kvm_lapic_state *lapic, unsigned reg, uint32_t mode)
{
  uint32_t value;
  memcpy (&value, lapic->regs + reg, sizeof value);
  value = (value & ~0x700u) | (mode << 8);
  memcpy (lapic->regs + reg, &value, sizeof value);
}

/* Wires LINT0 to the PIC (ExtINT) and LINT1 to NMI, as a PC's firmware leaves them. */
static gboolean
set_lapic_lints (HvVcpu *vcpu, GError **error)
{
  struct kvm_lapic_state lapic;
  if (ioctl (vcpu->fd, KVM_GET_LAPIC, &lapic) < 0)
    goto fail;
  set_lvt_mode (&lapic, APIC_LVT_LINT0, APIC_MODE_EXTINT);
  set_lvt_mode (&lapic, APIC_LVT_LINT1, APIC_MODE_NMI);
  if (ioctl (vcpu->fd, KVM_SET_LAPIC, &lapic) < 0)
    goto fail;
  return TRUE;

fail:
  {
    int saved = errno;
    g_set_error (error, HV_ERROR, HV_ERROR_FAILED, "vCPU %u: cannot set up the local APIC: %s", vcpu->index,
                 g_strerror (saved));
  }
  return FALSE;
}

gboolean
hv_vcpu_create (HvVm *vm, HvVcpu *vcpu, unsigned index, GError **error)
{
  memset (vcpu, 0, sizeof *vcpu);
  vcpu->vm = vm;
  vcpu->index = index;
  vcpu->fd = ioctl (vm->vm_fd, KVM_CREATE_VCPU, (unsigned long) index);
  if (vcpu->fd < 0)
    {
      int saved = errno;
      g_set_error (error, HV_ERROR, HV_ERROR_FAILED, "cannot create vCPU %u: %s", index, g_strerror (saved));
      return FALSE;
    }
  vcpu->run = mmap (NULL, vm->vcpu_mmap_size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu->fd, 0);
  if (vcpu->run == MAP_FAILED)
    {
      int saved = errno;
      vcpu->run = NULL;
      g_set_error (error, HV_ERROR, HV_ERROR_FAILED, "cannot map vCPU %u's run area: %s", index,
                   g_strerror (saved));
      return FALSE;
    }
  return TRUE;
}

gboolean
hv_vcpu_set_up_boot (HvVcpu *vcpu, struct kvm_cpuid2 *supported, GError **error)
{
  HvVm *vm = vcpu->vm;
  unsigned index = vcpu->index;
  g_autofree struct kvm_cpuid2 *cpuid = NULL;
  unsigned capacity = supported->nent + HV_CPUID_TOPOLOGY_ENTRIES;

  /* KVM may report the extended topology leaves with subleaf 0 only; make room for the core level. */
  cpuid = g_malloc0 (sizeof (*cpuid) + capacity * sizeof (cpuid->entries[0]));
  memcpy (cpuid->entries, supported->entries, supported->nent * sizeof (supported->entries[0]));
  cpuid->nent = hv_cpuid_add_topology_leaves (cpuid->entries, supported->nent, capacity);
  hv_cpuid_prepare (cpuid->entries, cpuid->nent, index, vm->n_vcpus, &vm->cpuid_mask);
  if (ioctl (vcpu->fd, KVM_SET_CPUID2, cpuid) < 0)
    {
      int saved = errno;
      g_set_error (error, HV_ERROR, HV_ERROR_FAILED, "vCPU %u: KVM_SET_CPUID2 failed: %s", index,
                   g_strerror (saved));
      return FALSE;
    }

  if (!set_msrs (vcpu, error) || !set_fpu (vcpu, error) || !set_lapic_lints (vcpu, error))
    return FALSE;

  /* Only the boot processor starts at the kernel's entry (or the firmware's reset vector); the others
   * wait for INIT/SIPI in KVM. */
  if (index == 0 && vm->firmware && !hv_boot_setup_vcpu_reset (vcpu->fd, error))
    return FALSE;
  if (index == 0 && !vm->firmware && !hv_boot_setup_vcpu (vcpu->fd, &vm->memory, &vm->boot, error))
    return FALSE;

  return TRUE;
}

void
hv_vcpu_kick (HvVcpu *vcpu)
{
  if (vcpu->run)
    __atomic_store_n (&vcpu->run->immediate_exit, 1, __ATOMIC_SEQ_CST);
  if (vcpu->thread_started)
    pthread_kill (vcpu->thread, SIGRTMIN);
}

/* Runs the task hv_vm_run_on_parked_vcpus() posted, on this vCPU's thread, with vm->lock held on entry
 * and exit (it is dropped while the task runs, so the vCPUs work in parallel). */
static void
run_task_locked (HvVcpu *vcpu)
{
  HvVm *vm = vcpu->vm;
  HvVcpuTask task = vm->task;
  void *data = vm->task_data;
  GError *local = NULL;
  gboolean ok;

  vcpu->task_serial = vm->task_serial;
  vm->task_running++;
  g_mutex_unlock (&vm->lock);
  ok = task (vcpu, data, &local);
  g_mutex_lock (&vm->lock);
  vm->task_running--;
  vm->task_pending--;
  if (!ok && local == NULL)
    local = g_error_new (HV_ERROR, HV_ERROR_FAILED, "vCPU %u: the task failed", vcpu->index);
  if (local != NULL && vm->task_error == NULL)
    vm->task_error = g_steal_pointer (&local);
  g_clear_error (&local);
  g_cond_broadcast (&vm->cond);
}

gboolean
hv_vm_run_on_parked_vcpus (HvVm *vm, HvVcpuTask task, void *data, GError **error)
{
  gboolean ok;

  g_mutex_lock (&vm->lock);
  if (vm->state != HV_VM_RUNNING || vm->exiting || !vm->paused || vm->n_parked < vm->n_live
      || vm->task != NULL)
    {
      g_mutex_unlock (&vm->lock);
      g_set_error (error, HV_ERROR, HV_ERROR_INVALID_STATE, "the VM is not paused");
      return FALSE;
    }
  vm->task = task;
  vm->task_data = data;
  vm->task_serial++;
  vm->task_pending = vm->n_live;
  vm->task_error = NULL;
  g_cond_broadcast (&vm->cond);
  /* A resume or stop meanwhile lets the vCPUs that have not started the task go; those running it
   * finish first, since @data belongs to the caller. */
  while (vm->task_running > 0 || (vm->task_pending > 0 && vm->paused && !vm->exiting))
    g_cond_wait (&vm->cond, &vm->lock);
  ok = vm->task_pending == 0 && vm->task_error == NULL;
  if (vm->task_error != NULL)
    g_propagate_error (error, g_steal_pointer (&vm->task_error));
  else if (!ok)
    g_set_error (error, HV_ERROR, HV_ERROR_INVALID_STATE,
                 "the VM was resumed or stopped before every vCPU was done");
  vm->task = NULL;
  vm->task_data = NULL;
  g_mutex_unlock (&vm->lock);
  return ok;
}

/* Checks, between runs, whether this vCPU should stop or park.  Returns FALSE when it should leave. */
static gboolean
vcpu_may_run (HvVcpu *vcpu)
{
  HvVm *vm = vcpu->vm;
  gboolean run;

  g_mutex_lock (&vm->lock);
  while (vm->paused && !vm->exiting)
    {
      if (vm->task != NULL && vcpu->task_serial != vm->task_serial)
        {
          run_task_locked (vcpu);
          continue;
        }
      vm->n_parked++;
      g_cond_broadcast (&vm->cond);
      g_cond_wait (&vm->cond, &vm->lock);
      vm->n_parked--;
    }
  run = !vm->exiting;
  g_mutex_unlock (&vm->lock);
  return run;
}

static char *
describe_failure (HvVcpu *vcpu, const char *what)
{
  struct kvm_regs regs;
  struct kvm_sregs sregs;
  GString *s = g_string_new (NULL);

  g_string_append_printf (s, "vCPU %u: %s", vcpu->index, what);
  if (ioctl (vcpu->fd, KVM_GET_REGS, &regs) == 0 && ioctl (vcpu->fd, KVM_GET_SREGS, &sregs) == 0)
    {
      struct kvm_translation tr = { .linear_address = sregs.cs.base + regs.rip };
      g_string_append_printf (s, " at RIP 0x%llx (CS 0x%x, CPL %u)", regs.rip, sregs.cs.selector,
                              sregs.cs.selector & 3);
      if (ioctl (vcpu->fd, KVM_TRANSLATE, &tr) == 0 && tr.valid)
        {
          const uint8_t *code = hv_memory_ptr (&vcpu->vm->memory, tr.physical_address, 8);
          if (code)
            g_string_append_printf (s, ", code %02x %02x %02x %02x %02x %02x %02x %02x", code[0], code[1],
                                    code[2], code[3], code[4], code[5], code[6], code[7]);
        }
    }
  return g_string_free (s, FALSE);
}

static void
handle_io (HvVcpu *vcpu)
{
  struct kvm_run *run = vcpu->run;
  uint8_t *data = (uint8_t *) run + run->io.data_offset;
  gboolean is_write = run->io.direction == KVM_EXIT_IO_OUT;

  /* A string instruction (rep outsb/insb) arrives as count accesses back to back. */
  for (uint32_t i = 0; i < run->io.count; i++)
    {
      hv_bus_dispatch (vcpu->vm->pio, run->io.port, data, run->io.size, is_write);
      data += run->io.size;
    }
}

/* Handles one exit; returns FALSE when the VM ends. */
static gboolean
handle_exit (HvVcpu *vcpu)
{
  struct kvm_run *run = vcpu->run;
  g_autofree char *message = NULL;

  switch (run->exit_reason)
    {
    case KVM_EXIT_IO:
      handle_io (vcpu);
      return TRUE;

    case KVM_EXIT_MMIO:
      hv_bus_dispatch (vcpu->vm->mmio, run->mmio.phys_addr, run->mmio.data,
                       MIN (run->mmio.len, sizeof run->mmio.data), run->mmio.is_write);
      return TRUE;

    case KVM_EXIT_INTR:
      return TRUE;

    case KVM_EXIT_SHUTDOWN:
      message = describe_failure (vcpu, "the processor shut down (triple fault)");
      hv_vm_request_exit (vcpu->vm, HV_EXIT_TRIPLE_FAULT, message);
      return FALSE;

    case KVM_EXIT_SYSTEM_EVENT:
      switch (run->system_event.type)
        {
        case KVM_SYSTEM_EVENT_RESET:
          hv_vm_request_exit (vcpu->vm, HV_EXIT_RESET, "the guest reset the machine");
          break;
        case KVM_SYSTEM_EVENT_SHUTDOWN:
          hv_vm_request_exit (vcpu->vm, HV_EXIT_POWER_OFF, "the guest powered off");
          break;
        default:
          message = g_strdup_printf ("vCPU %u: KVM reported system event %u", vcpu->index,
                                     run->system_event.type);
          hv_vm_request_exit (vcpu->vm, HV_EXIT_INTERNAL_ERROR, message);
          break;
        }
      return FALSE;

    case KVM_EXIT_INTERNAL_ERROR:
      if (run->internal.suberror == KVM_INTERNAL_ERROR_EMULATION)
        {
          message = describe_failure (vcpu, "KVM could not emulate an instruction");
          hv_vm_request_exit (vcpu->vm, HV_EXIT_EMULATION_FAILURE, message);
        }
      else
        {
          g_autofree char *what = g_strdup_printf ("KVM internal error (suberror %u)",
                                                   run->internal.suberror);
          message = describe_failure (vcpu, what);
          hv_vm_request_exit (vcpu->vm, HV_EXIT_INTERNAL_ERROR, message);
        }
      return FALSE;

    case KVM_EXIT_FAIL_ENTRY:
      message = g_strdup_printf ("vCPU %u: the processor refused to enter the guest (reason 0x%llx)",
                                 vcpu->index,
                                 (unsigned long long) run->fail_entry.hardware_entry_failure_reason);
      hv_vm_request_exit (vcpu->vm, HV_EXIT_INTERNAL_ERROR, message);
      return FALSE;

    default:
      {
        g_autofree char *what = g_strdup_printf ("unexpected KVM exit %u", run->exit_reason);
        message = describe_failure (vcpu, what);
        hv_vm_request_exit (vcpu->vm, HV_EXIT_INTERNAL_ERROR, message);
      }
      return FALSE;
    }
}

gboolean
hv_vcpu_complete_io (HvVcpu *vcpu, GError **error)
{
  /* KVM finishes an exit's instruction (an IN's result into RAX, RIP past an OUT) only when KVM_RUN is
   * entered again, and keeps that half-done state where no GET ioctl sees it.  Entering with
   * immediate_exit set finishes it and returns at once, before any further guest instruction. */
  for (unsigned round = 0; round < 64; round++)
    {
      __atomic_store_n (&vcpu->run->immediate_exit, 1, __ATOMIC_SEQ_CST);
      if (ioctl (vcpu->fd, KVM_RUN, 0) < 0)
        {
          int saved = errno;
          if (saved == EINTR || saved == EAGAIN)
            return TRUE;
          g_set_error (error, HV_ERROR, HV_ERROR_FAILED, "vCPU %u: KVM_RUN failed: %s", vcpu->index,
                       g_strerror (saved));
          return FALSE;
        }
      /* Finishing a string instruction can start its next chunk, which exits again: serve it. */
      if (vcpu->run->exit_reason != KVM_EXIT_IO && vcpu->run->exit_reason != KVM_EXIT_MMIO)
        {
          handle_exit (vcpu);
          g_set_error (error, HV_ERROR, HV_ERROR_INVALID_STATE,
                       "vCPU %u stopped (KVM exit %u) while its state was being read", vcpu->index,
                       vcpu->run->exit_reason);
          return FALSE;
        }
      handle_exit (vcpu);
    }
  g_set_error (error, HV_ERROR, HV_ERROR_FAILED, "vCPU %u kept exiting while its state was being read",
               vcpu->index);
  return FALSE;
}

static void *
vcpu_thread (void *data)
{
  HvVcpu *vcpu = data;
  HvVm *vm = vcpu->vm;
  char name[16];

  g_snprintf (name, sizeof name, "vcpu %u", vcpu->index);
  pthread_setname_np (pthread_self (), name);
  hv_thread_started (HV_THREAD_VCPU);

  while (vcpu_may_run (vcpu))
    {
      if (ioctl (vcpu->fd, KVM_RUN, 0) < 0)
        {
          int saved = errno;
          if (saved == EINTR || saved == EAGAIN)
            {
              __atomic_store_n (&vcpu->run->immediate_exit, 0, __ATOMIC_SEQ_CST);
              continue;
            }
          g_autofree char *what = g_strdup_printf ("KVM_RUN failed: %s", g_strerror (saved));
          g_autofree char *message = describe_failure (vcpu, what);
          hv_vm_request_exit (vm, HV_EXIT_INTERNAL_ERROR, message);
          break;
        }
      if (!handle_exit (vcpu))
        break;
    }

  g_mutex_lock (&vm->lock);
  if (--vm->n_live == 0)
    {
      uint64_t one = 1;
      vm->state = HV_VM_EXITED;
      if (write (vm->exit_fd, &one, sizeof one) < 0)
        g_warning ("cannot signal the VM's exit: %s", g_strerror (errno));
    }
  g_cond_broadcast (&vm->cond);
  g_mutex_unlock (&vm->lock);
  return NULL;
}

gboolean
hv_vcpu_start (HvVcpu *vcpu, GError **error)
{
  int ret = pthread_create (&vcpu->thread, NULL, vcpu_thread, vcpu);
  if (ret != 0)
    {
      g_set_error (error, HV_ERROR, HV_ERROR_FAILED, "cannot start vCPU %u's thread: %s", vcpu->index,
                   g_strerror (ret));
      return FALSE;
    }
  vcpu->thread_started = TRUE;
  return TRUE;
}

void
hv_vcpu_destroy (HvVcpu *vcpu)
{
  if (vcpu->run)
    munmap (vcpu->run, vcpu->vm->vcpu_mmap_size);
  if (vcpu->fd >= 0)
    close (vcpu->fd);
  vcpu->run = NULL;
  vcpu->fd = -1;
}
