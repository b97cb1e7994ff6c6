/* kit-cpu.c — the guest kit's CPU and machine control: IDT and TSS, the exception report, ring 3,
 * power off, i8042 reset and triple fault, and kit_start, which runs the guest. */
#include "kit-private.h"

struct tss64
{
  uint32_t reserved0;
  uint64_t rsp[3];
  uint64_t reserved1;
  uint64_t ist[7];
  uint64_t reserved2;
  uint16_t reserved3;
  uint16_t iomap_base;
  uint8_t iomap[65536 / 8 + 1]; /* all ports allowed; the extra byte must be 0xff */
} __attribute__ ((packed));

struct idt_gate
{
  uint16_t offset_low;
  uint16_t selector;
  uint8_t ist;
  uint8_t type_attr;
  uint16_t offset_mid;
  uint32_t offset_high;
  uint32_t reserved;
} __attribute__ ((packed));

struct descriptor_pointer
{
  uint16_t limit;
  uint64_t base;
} __attribute__ ((packed));

#define IDT_INTERRUPT_GATE 0x8e /* present, DPL 0, 64-bit interrupt gate */
#define IDT_DPL3           0x60
#define TSS_AVAILABLE      0x89 /* present, 64-bit TSS (available) */

/* entry.S reads kit_tss (RSP0) and owns the GDT and stubs. */
extern struct tss64 kit_tss;
struct tss64 kit_tss __attribute__ ((aligned (16)));
extern uint64_t kit_gdt_tss[2];
extern const char kit_exception_stubs[];
extern const char kit_user_exit_trap[];
void kit_user_resume (void) __attribute__ ((noreturn));

static struct idt_gate idt[KIT_EXCEPTION_VECTORS] __attribute__ ((aligned (16)));
static uint8_t user_stack[KIT_USER_STACK_SIZE] __attribute__ ((aligned (16)));

/* Set once the guest is going down for good: any fault from then on is a triple fault. */
static volatile bool dying;
static volatile unsigned exception_depth;

static void
set_gate (unsigned vector, const void *handler, uint8_t type_attr)
{
  uint64_t offset = (uintptr_t) handler;

  idt[vector] = (struct idt_gate){
    .offset_low = (uint16_t) offset,
    .selector = KIT_SEL_KERNEL_CODE,
    .type_attr = type_attr,
    .offset_mid = (uint16_t) (offset >> 16),
    .offset_high = (uint32_t) (offset >> 32),
  };
}

/* Only the exception vectors: nothing raises an interrupt with IF clear, and a vector past the
 * limit would end up reported as #GP.  #BP's gate has DPL 3 because ring 3 leaves through int3:
 * where ring 0 is emulated (PVM) `int $n` from ring 3 is refused with #UD, while #BP is a real
 * exception there. */
static void
cpu_init (void)
{
  for (unsigned v = 0; v < KIT_EXCEPTION_VECTORS; v++)
    set_gate (v, kit_exception_stubs + 16 * v, IDT_INTERRUPT_GATE | (v == 3 ? IDT_DPL3 : 0));

  /* IOPL 3 opens every port to ring 3 on hardware, but where ring 3 runs under PVM the guest's IOPL
   * is not what the CPU sees: the refused instruction is emulated, and the emulator consults the
   * TSS I/O bitmap.  So there is one, allowing everything. */
  kit_tss.iomap_base = __builtin_offsetof(struct tss64, iomap);
  kit_tss.iomap[sizeof kit_tss.iomap - 1] = 0xff;
  uint64_t base = (uintptr_t) &kit_tss;
  uint64_t limit = sizeof kit_tss - 1;
  kit_gdt_tss[0] = (limit & 0xffff) | (base & 0xffffff) << 16 | (uint64_t) TSS_AVAILABLE << 40
                   | ((limit >> 16) & 0xf) << 48 | ((base >> 24) & 0xff) << 56;
  kit_gdt_tss[1] = base >> 32;

  struct descriptor_pointer idtr = { sizeof idt - 1, (uintptr_t) idt };
  __asm__ volatile("lidt %0" : : "m"(idtr));
  __asm__ volatile("ltr %w0" : : "r"(KIT_SEL_TSS));
}

void
kit_start (uint32_t start_info_paddr)
{
  cpu_init ();
  kit_serial_init ();
  kit_boot_init (start_info_paddr);
  guest_main ();
  kit_poweroff ();
}

bool
kit_in_user (void)
{
  uint16_t cs;

  __asm__ volatile("mov %%cs, %0" : "=r"(cs));
  return (cs & 3) == 3;
}

long
kit_run_user (long (*fn) (void *), void *arg)
{
  if (kit_in_user ())
    return fn (arg);
  return kit_run_user_asm (fn, arg, user_stack + sizeof user_stack);
}

/* A VMM may act on a power-off or reset request asynchronously (QEMU's main loop does), so give it
 * about a second: 2^31 TSC cycles, assuming a TSC of 1-3 GHz. */
void
kit_settle (void)
{
  uint64_t start = kit_rdtsc ();

  while (kit_rdtsc () - start < (1ull << 31))
    cpu_pause ();
}

void
kit_triple_fault (void)
{
  static const struct descriptor_pointer empty_idt = { 0, 0 };

  dying = true;
  if (!kit_in_user ())
    __asm__ volatile("lidt %0" : : "m"(empty_idt));
  /* With no IDT, #UD cannot be delivered: #GP, then #DF, then shutdown.  From ring 3 the #UD
   * reaches kit_exception, which sees `dying` and comes back here in ring 0. */
  for (;;)
    __asm__ volatile("ud2");
}

void
kit_reset_i8042 (void)
{
  /* Wait (boundedly) for the controller's input buffer to drain, as a real one needs. */
  for (unsigned i = 0; i < 1000 && (inb (HV_PORT_I8042_CMD) & 0x02); i++)
    cpu_pause ();
  outb (HV_PORT_I8042_CMD, 0xfe);
  kit_settle ();
}

static void poweroff_here (void) __attribute__ ((noreturn));

static void
poweroff_here (void)
{
  KitAcpiPm pm;
  uint8_t slp_typ_a, slp_typ_b;

  if (!kit_acpi_pm (&pm) || pm.pm1a_cnt == 0)
    kit_puts ("kit: power off: no FADT with a PM1a_CNT_BLK\n");
  else if (!kit_acpi_s5 (&slp_typ_a, &slp_typ_b))
    kit_puts ("kit: power off: no \\_S5 package in the DSDT\n");
  else
    {
      /* As ACPI's sleep sequence: SLP_TYP first, then SLP_TYP | SLP_EN. */
      uint16_t mask = (uint16_t) (7u << ACPI_PM1_CNT_SLP_TYP_SHIFT | ACPI_PM1_CNT_SLP_EN);
      uint16_t a = (uint16_t) ((inw (pm.pm1a_cnt) & ~mask) | slp_typ_a << ACPI_PM1_CNT_SLP_TYP_SHIFT);
      outw (pm.pm1a_cnt, a);
      if (pm.pm1b_cnt != 0)
        {
          uint16_t b = (uint16_t) ((inw (pm.pm1b_cnt) & ~mask) | slp_typ_b << ACPI_PM1_CNT_SLP_TYP_SHIFT);
          outw (pm.pm1b_cnt, b);
          outw (pm.pm1b_cnt, (uint16_t) (b | ACPI_PM1_CNT_SLP_EN));
        }
      outw (pm.pm1a_cnt, (uint16_t) (a | ACPI_PM1_CNT_SLP_EN));
      kit_settle ();
      kit_printf ("kit: power off: SLP_TYP %u | SLP_EN written to PM1a_CNT 0x%x, still running\n", slp_typ_a,
                  pm.pm1a_cnt);
    }
  kit_puts ("kit: resetting instead\n");
  kit_reset_i8042 ();
  kit_puts ("kit: the i8042 reset did not happen either\n");
  kit_triple_fault ();
}

static long
poweroff_in_user (void *unused)
{
  poweroff_here ();
}

void
kit_poweroff (void)
{
  /* Finding \_S5 scans the DSDT byte by byte: do it natively. */
  if (!kit_in_user () && !dying)
    kit_run_user (poweroff_in_user, NULL);
  poweroff_here ();
}

static const char *
exception_name (uint64_t vector)
{
  static const char *const names[KIT_EXCEPTION_VECTORS] = {
    "#DE", "#DB", "NMI", "#BP", "#OF", "#BR", "#UD", "#NM", "#DF", "CSO", "#TS",
    "#NP", "#SS", "#GP", "#PF", "15",  "#MF", "#AC", "#MC", "#XM", "#VE", "#CP",
    "22",  "23",  "24",  "25",  "26",  "27",  "#HV", "#VC", "#SX", "31",
  };

  return vector < KIT_EXCEPTION_VECTORS ? names[vector] : "?";
}

void
kit_exception (KitExceptionFrame *frame)
{
  uint64_t cr2;

  if (frame->vector == 3 && frame->rip == (uintptr_t) kit_user_exit_trap + 1 && (frame->cs & 3) == 3)
    kit_user_resume ();
  if (dying || exception_depth++ > 0)
    kit_triple_fault ();
  /* The report goes to the serial port only: a console mirror may be what faulted. */
  kit_set_console_hook (NULL);
  __asm__ volatile("mov %%cr2, %0" : "=r"(cr2));
  kit_printf ("kit: exception %lu %s error 0x%lx rip 0x%lx cs 0x%lx rsp 0x%lx cr2 0x%lx\n", frame->vector,
              exception_name (frame->vector), frame->error_code, frame->rip, frame->cs, frame->rsp, cr2);
  /* Maybe in a broken state: power off from here in ring 0, without another ring switch. */
  poweroff_here ();
}
