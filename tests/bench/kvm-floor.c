/* kvm-floor.c — the floor for the PIO benchmark: the smallest VMM that can serve a port write from
 * guest ring 3.  One vCPU, one memslot, long mode set straight through KVM_SET_SREGS, CPL 3 with
 * IOPL 3 from the first instruction, and a KVM_RUN loop that does nothing but check each exit.
 * Whatever a real VMM costs per exit beyond this is its own.
 *
 * The guest is a six-byte loop, "out %al,$0x80; dec %ecx; jnz", run --count times, then one write
 * to FLOOR_PORT_DONE.  Prints "kvm-floor: count=N loop_ns=T" (T: the KVM_RUN loop alone) and exits
 * 0 when every exit was the expected one. */
#include <errno.h>
#include <fcntl.h>
#include <glib.h>
#include <linux/kvm.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "x86/layout.h"

/* The floor guest's own machine: nothing of the Vireo platform exists here, only a slot of RAM. */
#define FLOOR_RAM_SIZE (2u << 20) /* one 2 MiB page, identity mapped */
#define FLOOR_PML4     0x1000u
#define FLOOR_PDPT     0x2000u
#define FLOOR_PD       0x3000u
#define FLOOR_GDT      0x4000u
#define FLOOR_TSS      0x5000u
#define FLOOR_CODE     0x10000u
#define FLOOR_STACK    0x20000u
/* Not a port of the Vireo machine: only this VMM ever sees it, and it means "loop finished". */
#define FLOOR_PORT_DONE 0xf4u

#define SEL_USER_DATA 0x1b /* GDT entry 3, RPL 3 */
#define SEL_USER_CODE 0x23 /* GDT entry 4, RPL 3 */
#define SEL_TSS       0x28 /* GDT entry 5 (two slots in long mode) */

#define PTE_PRESENT (1ull << 0)
#define PTE_WRITE   (1ull << 1)
#define PTE_USER    (1ull << 2)
#define PTE_LARGE   (1ull << 7)

#define CR0_PE       (1ull << 0)
#define CR0_MP       (1ull << 1)
#define CR0_ET       (1ull << 4)
#define CR0_NE       (1ull << 5)
#define CR0_WP       (1ull << 16)
#define CR0_PG       (1ull << 31)
#define CR4_PAE      (1ull << 5)
#define EFER_LME     (1ull << 8)
#define EFER_LMA     (1ull << 10)
#define RFLAGS_FIXED (1ull << 1)
#define RFLAGS_IOPL3 (3ull << 12)

static gint64
now_ns (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_MONOTONIC, &ts);
  return (gint64) ts.tv_sec * G_GINT64_CONSTANT (1000000000) + ts.tv_nsec;
}

static void G_GNUC_NORETURN
die_errno (const char *what)
{
  int saved = errno;
  g_printerr ("kvm-floor: %s: %s\n", what, g_strerror (saved));
  exit (1);
}

/* A flat descriptor as the CPU would load it from the GDT: the VMX entry checks want the hidden
 * part of every segment register to be self-consistent, so build it in one place. */
static struct kvm_segment
flat_segment (uint16_t selector, uint8_t type, gboolean code)
{
  struct kvm_segment s = { 0 };
  s.base = 0;
  s.limit = 0xffffffff;
  s.selector = selector;
  s.type = type;
  s.present = 1;
  s.dpl = 3;
  s.s = 1;
  s.g = 1;
  s.l = code ? 1 : 0;
  s.db = code ? 0 : 1;
  return s;
}

static uint64_t
descriptor_from_segment (const struct kvm_segment *s)
{
  uint64_t limit = s->limit >> (s->g ? 12 : 0);
  return (limit & 0xffff) | ((uint64_t) (s->base & 0xffffff) << 16) | ((uint64_t) s->type << 40)
         | ((uint64_t) s->s << 44) | ((uint64_t) s->dpl << 45) | ((uint64_t) s->present << 47)
         | (((limit >> 16) & 0xf) << 48) | ((uint64_t) s->l << 53) | ((uint64_t) s->db << 54)
         | ((uint64_t) s->g << 55) | ((uint64_t) ((s->base >> 24) & 0xff) << 56);
}

static void
build_guest (uint8_t *ram, struct kvm_sregs *sregs)
{
  static const uint8_t code[] = {
    0xe6, 0x80,            /* 0: out %al, $0x80 (HV_PORT_POST) */
    0xff, 0xc9,            /* 2: dec %ecx */
    0x75, 0xfa,            /* 4: jnz 0 */
    0xe6, FLOOR_PORT_DONE, /* 6: out %al, $FLOOR_PORT_DONE */
    0xeb, 0xfe,            /* 8: jmp 8 (never reached: the VMM stops at the exit above) */
  };
  G_STATIC_ASSERT (HV_PORT_POST == 0x80);
  uint64_t *pml4 = (uint64_t *) (ram + FLOOR_PML4);
  uint64_t *pdpt = (uint64_t *) (ram + FLOOR_PDPT);
  uint64_t *pd = (uint64_t *) (ram + FLOOR_PD);
  uint64_t *gdt = (uint64_t *) (ram + FLOOR_GDT);
  struct kvm_segment cs = flat_segment (SEL_USER_CODE, 0xb, TRUE);
  struct kvm_segment ds = flat_segment (SEL_USER_DATA, 0x3, FALSE);
  struct kvm_segment tr = { 0 };
  struct kvm_segment ldt = { 0 };

  /* Ring 3 only reaches pages with the U/S bit set at every level. */
  pml4[0] = FLOOR_PDPT | PTE_PRESENT | PTE_WRITE | PTE_USER;
  pdpt[0] = FLOOR_PD | PTE_PRESENT | PTE_WRITE | PTE_USER;
  pd[0] = 0 | PTE_PRESENT | PTE_WRITE | PTE_USER | PTE_LARGE;
  memcpy (ram + FLOOR_CODE, code, sizeof code);

  /* A 64-bit busy TSS: VM entry refuses a long-mode guest without a usable TR. */
  tr.base = FLOOR_TSS;
  tr.limit = 0x67;
  tr.selector = SEL_TSS;
  tr.type = 0xb;
  tr.present = 1;
  ldt.unusable = 1;
  ldt.type = 0x2;

  gdt[0] = 0;
  gdt[1] = 0;
  gdt[2] = 0;
  gdt[3] = descriptor_from_segment (&ds);
  gdt[4] = descriptor_from_segment (&cs);
  gdt[5] = (0x67 & 0xffff) | ((uint64_t) FLOOR_TSS << 16) | (0xbull << 40) | (1ull << 47);
  gdt[6] = 0;

  sregs->cs = cs;
  sregs->ds = sregs->es = sregs->fs = sregs->gs = sregs->ss = ds;
  sregs->tr = tr;
  sregs->ldt = ldt;
  sregs->gdt.base = FLOOR_GDT;
  sregs->gdt.limit = 7 * sizeof (uint64_t) - 1;
  sregs->idt.base = 0;
  sregs->idt.limit = 0;
  sregs->cr0 = CR0_PE | CR0_MP | CR0_ET | CR0_NE | CR0_WP | CR0_PG;
  sregs->cr3 = FLOOR_PML4;
  sregs->cr4 = CR4_PAE;
  sregs->efer = EFER_LME | EFER_LMA;
}

/* KVM refuses EFER.LME when the vCPU's CPUID lacks long mode, so hand it what the host supports. */
static void
set_supported_cpuid (int kvm_fd, int vcpu_fd)
{
  for (guint nent = 64; nent <= 4096; nent *= 2)
    {
      g_autofree struct kvm_cpuid2 *cpuid = g_malloc0 (sizeof *cpuid
                                                       + nent * sizeof (struct kvm_cpuid_entry2));
      cpuid->nent = nent;
      if (ioctl (kvm_fd, KVM_GET_SUPPORTED_CPUID, cpuid) < 0)
        {
          if (errno == E2BIG)
            continue;
          die_errno ("KVM_GET_SUPPORTED_CPUID");
        }
      if (ioctl (vcpu_fd, KVM_SET_CPUID2, cpuid) < 0)
        die_errno ("KVM_SET_CPUID2");
      return;
    }
  g_printerr ("kvm-floor: KVM_GET_SUPPORTED_CPUID: more than 4096 entries\n");
  exit (1);
}

int
main (int argc, char **argv)
{
  gint64 count = 100000;
  GOptionEntry entries[] = {
    { "count", 'n', 0, G_OPTION_ARG_INT64, &count, "Port writes the guest does (1 to 2^32-1)", "N" },
    { NULL },
  };
  g_autoptr (GOptionContext) context = g_option_context_new ("- the bare-KVM floor for PIO exits");
  g_autoptr (GError) error = NULL;

  g_option_context_add_main_entries (context, entries, NULL);
  if (!g_option_context_parse (context, &argc, &argv, &error))
    {
      g_printerr ("kvm-floor: %s\n", error->message);
      return 2;
    }
  if (count < 1 || count > G_MAXUINT32)
    {
      g_printerr ("kvm-floor: --count must be between 1 and %u\n", G_MAXUINT32);
      return 2;
    }

  const char *device = g_getenv ("VIREO_KVM_DEVICE");
  int kvm_fd = open (device ? device : "/dev/kvm", O_RDWR | O_CLOEXEC);
  if (kvm_fd < 0)
    die_errno (device ? device : "/dev/kvm");
  if (ioctl (kvm_fd, KVM_GET_API_VERSION, 0) != KVM_API_VERSION)
    {
      g_printerr ("kvm-floor: unexpected KVM API version\n");
      return 1;
    }
  int vm_fd = ioctl (kvm_fd, KVM_CREATE_VM, 0);
  if (vm_fd < 0)
    die_errno ("KVM_CREATE_VM");
  /* Intel hosts want this before the first KVM_RUN; the pages lie outside the memslot. */
  if (ioctl (vm_fd, KVM_SET_TSS_ADDR, (unsigned long) HV_KVM_TSS) < 0)
    die_errno ("KVM_SET_TSS_ADDR");

  uint8_t *ram = mmap (NULL, FLOOR_RAM_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (ram == MAP_FAILED)
    die_errno ("mmap guest RAM");
  struct kvm_userspace_memory_region region = {
    .slot = 0,
    .guest_phys_addr = 0,
    .memory_size = FLOOR_RAM_SIZE,
    .userspace_addr = (uint64_t) (uintptr_t) ram,
  };
  if (ioctl (vm_fd, KVM_SET_USER_MEMORY_REGION, &region) < 0)
    die_errno ("KVM_SET_USER_MEMORY_REGION");

  int vcpu_fd = ioctl (vm_fd, KVM_CREATE_VCPU, 0);
  if (vcpu_fd < 0)
    die_errno ("KVM_CREATE_VCPU");
  int run_size = ioctl (kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
  if (run_size < (int) sizeof (struct kvm_run))
    die_errno ("KVM_GET_VCPU_MMAP_SIZE");
  struct kvm_run *run = mmap (NULL, (size_t) run_size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu_fd, 0);
  if (run == MAP_FAILED)
    die_errno ("mmap kvm_run");
  set_supported_cpuid (kvm_fd, vcpu_fd);

  struct kvm_sregs sregs;
  if (ioctl (vcpu_fd, KVM_GET_SREGS, &sregs) < 0)
    die_errno ("KVM_GET_SREGS");
  build_guest (ram, &sregs);
  if (ioctl (vcpu_fd, KVM_SET_SREGS, &sregs) < 0)
    die_errno ("KVM_SET_SREGS");
  struct kvm_regs regs = { 0 };
  regs.rip = FLOOR_CODE;
  regs.rsp = FLOOR_STACK;
  regs.rcx = (uint64_t) count;
  regs.rflags = RFLAGS_FIXED | RFLAGS_IOPL3;
  if (ioctl (vcpu_fd, KVM_SET_REGS, &regs) < 0)
    die_errno ("KVM_SET_REGS");

  guint64 exits = 0;
  gint64 start = now_ns ();
  for (;;)
    {
      if (ioctl (vcpu_fd, KVM_RUN, 0) < 0)
        {
          if (errno == EINTR || errno == EAGAIN)
            continue;
          die_errno ("KVM_RUN");
        }
      if (run->exit_reason == KVM_EXIT_IO && run->io.direction == KVM_EXIT_IO_OUT && run->io.size == 1
          && run->io.count == 1)
        {
          if (run->io.port == HV_PORT_POST)
            {
              exits++;
              continue;
            }
          if (run->io.port == FLOOR_PORT_DONE)
            break;
        }
      if (run->exit_reason == KVM_EXIT_INTERNAL_ERROR)
        g_printerr ("kvm-floor: KVM internal error, suberror %u\n", run->internal.suberror);
      else if (run->exit_reason == KVM_EXIT_IO)
        g_printerr ("kvm-floor: unexpected port access 0x%x\n", run->io.port);
      else
        g_printerr ("kvm-floor: unexpected exit reason %u\n", run->exit_reason);
      return 1;
    }
  gint64 loop_ns = now_ns () - start;

  if (exits != (guint64) count)
    {
      g_printerr ("kvm-floor: %" G_GUINT64_FORMAT " exits on port 0x80, expected %" G_GINT64_FORMAT "\n",
                  exits, count);
      return 1;
    }
  g_print ("kvm-floor: count=%" G_GINT64_FORMAT " loop_ns=%" G_GINT64_FORMAT "\n", count, loop_ns);
  return 0;
}
