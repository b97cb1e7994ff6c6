/* boot.c — the boot vCPU's state at the kernel's entry: GDT, IDT, identity page tables, registers. */
#include "boot.h"
#include "layout.h"

#include <errno.h>
#include <string.h>
#include <sys/ioctl.h>
#include <linux/kvm.h>

#define X86_CR0_PE   (1ull << 0)
#define X86_CR0_MP   (1ull << 1)
#define X86_CR0_ET   (1ull << 4)
#define X86_CR0_NE   (1ull << 5)
#define X86_CR0_WP   (1ull << 16)
#define X86_CR0_AM   (1ull << 18)
#define X86_CR0_PG   (1ull << 31)
#define X86_CR4_PAE  (1ull << 5)
#define X86_EFER_LME (1ull << 8)
#define X86_EFER_LMA (1ull << 10)

/* GDT selectors: the Linux boot protocol wants __BOOT_CS = 0x10 and __BOOT_DS = 0x18. */
#define BOOT_CS  0x10
#define BOOT_DS  0x18
#define BOOT_TSS 0x20

static uint64_t
gdt_entry (uint16_t flags, uint32_t base, uint32_t limit)
{
  return ((uint64_t) (base & 0xff000000u) << 32) | ((uint64_t) (flags & 0xf0ffu) << 40)
         | ((uint64_t) (limit & 0x000f0000u) << 32) | ((uint64_t) (base & 0x00ffffffu) << 16)
         | (uint64_t) (limit & 0x0000ffffu);
}

static struct kvm_segment
segment_from_gdt (uint64_t entry, uint16_t selector)
{
  struct kvm_segment seg = { 0 };
  seg.base = ((entry >> 16) & 0xffffff) | (((entry >> 56) & 0xff) << 24);
  seg.limit = (uint32_t) ((entry & 0xffff) | (((entry >> 48) & 0xf) << 16));
  seg.selector = selector;
  seg.type = (entry >> 40) & 0xf;
  seg.present = (entry >> 47) & 1;
  seg.dpl = (entry >> 45) & 3;
  seg.db = (entry >> 54) & 1;
  seg.s = (entry >> 44) & 1;
  seg.l = (entry >> 53) & 1;
  seg.g = (entry >> 55) & 1;
  seg.avl = (entry >> 52) & 1;
  seg.unusable = !seg.present;
  /* KVM wants the limit in bytes. */
  if (seg.g)
    seg.limit = (seg.limit << 12) | 0xfff;
  return seg;
}

static gboolean
write_gdt_idt (HvMemory *mem, gboolean long_mode, uint64_t gdt[5], GError **error)
{
  uint64_t idt = 0;

  gdt[0] = 0;
  gdt[1] = 0;
  /* Code: 64-bit (L) for the Linux entry, 32-bit (D) for PVH. */
  gdt[2] = long_mode ? gdt_entry (0xa09b, 0, 0xfffff) : gdt_entry (0xc09b, 0, 0xfffff);
  gdt[3] = gdt_entry (0xc093, 0, 0xfffff);
  gdt[4] = gdt_entry (0x008b, 0, 0x67); /* a busy 32-bit TSS: VMX requires a usable TR */

  return hv_memory_write (mem, HV_BOOT_GDT, gdt, 5 * sizeof (uint64_t), "the boot GDT", error)
         && hv_memory_write (mem, HV_BOOT_IDT, &idt, sizeof idt, "the boot IDT", error);
}

/* Identity-maps the first 4 GiB with 2 MiB pages: enough for the kernel, its boot_params and initrd. */
static gboolean
write_page_tables (HvMemory *mem, GError **error)
{
  uint64_t *pml4 = hv_memory_ptr (mem, HV_PML4, 4096);
  uint64_t *pdpt = hv_memory_ptr (mem, HV_PDPT, 4096);
  uint64_t *pd = hv_memory_ptr (mem, HV_PD, 4 * 4096);

  if (pml4 == NULL || pdpt == NULL || pd == NULL)
    {
      g_set_error (error, HV_ERROR, HV_ERROR_TOO_LARGE, "the boot page tables do not fit in guest memory");
      return FALSE;
    }
  memset (pml4, 0, 4096);
  memset (pdpt, 0, 4096);
  pml4[0] = HV_PDPT | 0x03; /* present, writable */
  for (unsigned i = 0; i < 4; i++)
    pdpt[i] = (HV_PD + i * 4096) | 0x03;
  for (unsigned i = 0; i < 4 * 512; i++)
    pd[i] = ((uint64_t) i << 21) | 0x83; /* present, writable, 2 MiB page */
  return TRUE;
}

gboolean
hv_boot_setup_vcpu (int vcpu_fd, HvMemory *mem, const HvBootSetup *setup, GError **error)
{
  gboolean long_mode = setup->protocol == HV_BOOT_LINUX64;
  struct kvm_sregs sregs;
  struct kvm_regs regs = { 0 };
  uint64_t gdt[5];
  struct kvm_segment code, data;

  if (!write_gdt_idt (mem, long_mode, gdt, error))
    return FALSE;
  if (long_mode && !write_page_tables (mem, error))
    return FALSE;

  if (ioctl (vcpu_fd, KVM_GET_SREGS, &sregs) < 0)
    goto fail;

  code = segment_from_gdt (gdt[2], BOOT_CS);
  data = segment_from_gdt (gdt[3], BOOT_DS);
  sregs.cs = code;
  sregs.ds = sregs.es = sregs.fs = sregs.gs = sregs.ss = data;
  sregs.tr = segment_from_gdt (gdt[4], BOOT_TSS);
  sregs.gdt.base = HV_BOOT_GDT;
  sregs.gdt.limit = 5 * sizeof (uint64_t) - 1;
  sregs.idt.base = HV_BOOT_IDT;
  sregs.idt.limit = sizeof (uint64_t) - 1;

  if (long_mode)
    {
      sregs.cr3 = HV_PML4;
      sregs.cr4 = X86_CR4_PAE;
      sregs.cr0 = X86_CR0_PE | X86_CR0_MP | X86_CR0_ET | X86_CR0_NE | X86_CR0_WP | X86_CR0_AM | X86_CR0_PG;
      sregs.efer = X86_EFER_LME | X86_EFER_LMA;
    }
  else
    {
      /* PVH: 32-bit protected mode, paging off (Xen's PVH boot ABI). */
      sregs.cr0 = X86_CR0_PE | X86_CR0_ET;
      sregs.cr3 = 0;
      sregs.cr4 = 0;
      sregs.efer = 0;
    }
  if (ioctl (vcpu_fd, KVM_SET_SREGS, &sregs) < 0)
    goto fail;

  regs.rflags = 0x2; /* bit 1 is reserved and always set; interrupts off */
  regs.rip = setup->entry;
  if (long_mode)
    {
      regs.rsi = setup->boot_data;
      regs.rsp = regs.rbp = HV_BOOT_STACK;
    }
  else
    regs.rbx = setup->boot_data;
  if (ioctl (vcpu_fd, KVM_SET_REGS, &regs) < 0)
    goto fail;
  return TRUE;

fail:
  {
    int saved = errno;
    g_set_error (error, HV_ERROR, HV_ERROR_FAILED, "cannot set the boot processor's registers: %s",
                 g_strerror (saved));
  }
  return FALSE;
}

gboolean
hv_boot_setup_vcpu_reset (int vcpu_fd, GError **error)
{
  struct kvm_sregs sregs;
  struct kvm_regs regs = { 0 };

  /* A new vCPU is in this state already; saying so keeps it true whatever KVM's defaults become. */
  if (ioctl (vcpu_fd, KVM_GET_SREGS, &sregs) < 0)
    goto fail;
  sregs.cs.selector = 0xf000;
  sregs.cs.base = 0xffff0000;
  sregs.cs.limit = 0xffff;
  if (ioctl (vcpu_fd, KVM_SET_SREGS, &sregs) < 0)
    goto fail;
  regs.rflags = 0x2;
  regs.rip = 0xfff0;
  if (ioctl (vcpu_fd, KVM_SET_REGS, &regs) < 0)
    goto fail;
  return TRUE;

fail:
  {
    int saved = errno;
    g_set_error (error, HV_ERROR, HV_ERROR_FAILED, "cannot put the boot processor at the reset vector: %s",
                 g_strerror (saved));
  }
  return FALSE;
}
