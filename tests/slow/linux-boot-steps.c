/* linux-boot-steps.c — what a stock Debian kernel must print, in order, when vireo-run boots it (directly or
 * through SeaBIOS and GRUB): the matchers, the e820 map and ACPI tables it must report, and the lines it must
 * never print. */
#include "linux-boot.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

G_DEFINE_QUARK (vireo - slow - test - error, test_error)

gboolean
boot_by_firmware (const Boot *boot)
{
  return boot->disk != NULL || boot->cdrom != NULL;
}

/* ---- what the kernel must print, in order ---------------------------------------------------------- */

static StepResult
match_contains (const char *line, const char *needle)
{
  return strstr (line, needle) ? STEP_MATCH : STEP_NO_MATCH;
}

static StepResult
match_linux_version (Boot *boot, const char *line, GError **error)
{
  return match_contains (line, "Linux version ");
}

static StepResult
match_exact_command_line (Boot *boot, const char *line, const char *prefix, GError **error)
{
  const char *found = strstr (line, prefix);
  if (found == NULL)
    return STEP_NO_MATCH;
  if (strcmp (found + strlen (prefix), boot->cmdline) != 0)
    {
      g_set_error (error, TEST_ERROR, TEST_ERROR_FAILED,
                   "the kernel received a different command line: it printed \"%s\", we passed \"%s\"", line,
                   boot->cmdline);
      return STEP_FAIL;
    }
  return STEP_MATCH;
}

static StepResult
match_command_line (Boot *boot, const char *line, GError **error)
{
  /* setup_arch's "Command line: "; start_kernel's "Kernel command line: " has a lowercase c. */
  return match_exact_command_line (boot, line, "Command line: ", error);
}

static StepResult
match_kernel_command_line (Boot *boot, const char *line, GError **error)
{
  return match_exact_command_line (boot, line, "Kernel command line: ", error);
}

static StepResult
match_e820_header (Boot *boot, const char *line, GError **error)
{
  if (strstr (line, "BIOS-provided physical RAM map:") == NULL)
    return STEP_NO_MATCH;
  boot->in_e820 = TRUE;
  return STEP_NO_MATCH; /* the step completes when the map's last line has been checked */
}

static void
add_range (GArray *map, uint64_t start, uint64_t end, const char *type)
{
  E820Range range = { start, end, type };
  g_array_append_val (map, range);
}

static int
compare_ranges (gconstpointer a, gconstpointer b)
{
  const E820Range *ra = a, *rb = b;
  return ra->start < rb->start ? -1 : ra->start > rb->start;
}

/* The map Linux should print for ours: our e820 is spelled out here from layout.h rather than taken from
 * the VMM's code, so the kernel judges that code.  Linux sorts the map and merges touching ranges of one
 * type before printing it, and its PVH entry adds the ISA hole (0xA0000-0xFFFFF) as reserved first. */
static GArray *
expected_e820 (gboolean pvh)
{
  g_autoptr (GArray) raw = g_array_new (FALSE, FALSE, sizeof (E820Range));
  GArray *map = g_array_new (FALSE, FALSE, sizeof (E820Range));

  g_assert_cmpuint (MEMORY_SIZE, <=, HV_LOW_RAM_MAX);
  add_range (raw, 0, HV_EBDA_START, "usable");
  add_range (raw, HV_EBDA_START, 0xA0000, "reserved");
  add_range (raw, HV_ACPI_START, HV_ACPI_END, "reserved");
  add_range (raw, HV_HIMEM_START, MEMORY_SIZE, "usable");
  if (pvh)
    add_range (raw, 0xA0000, 0x100000, "reserved");
  g_array_sort (raw, compare_ranges);

  for (unsigned i = 0; i < raw->len; i++)
    {
      const E820Range *r = &g_array_index (raw, E820Range, i);
      E820Range *last = map->len ? &g_array_index (map, E820Range, map->len - 1) : NULL;
      if (last && strcmp (last->type, r->type) == 0 && r->start <= last->end)
        last->end = MAX (last->end, r->end);
      else
        g_array_append_val (map, *r);
    }
  return map;
}

static char *
format_e820 (GArray *map)
{
  GString *s = g_string_new (NULL);
  for (unsigned i = 0; i < map->len; i++)
    {
      const E820Range *r = &g_array_index (map, E820Range, i);
      g_string_append_printf (s, "\n    [mem 0x%016" PRIx64 "-0x%016" PRIx64 "] %s", r->start, r->end - 1,
                              r->type);
    }
  return g_string_free (s, FALSE);
}

/* Returns FALSE (and sets @error) when a "BIOS-e820:" line cannot be read. */
gboolean
parse_e820_line (Boot *boot, const char *line, GError **error)
{
  const char *p = strstr (line, "BIOS-e820: [mem ");
  uint64_t first, last;
  char type[64];

  if (p == NULL
      || sscanf (p, "BIOS-e820: [mem 0x%" SCNx64 "-0x%" SCNx64 "] %63[^\n]", &first, &last, type) != 3
      || last < first)
    {
      g_set_error (error, TEST_ERROR, TEST_ERROR_FAILED, "cannot read the e820 line \"%s\"", line);
      return FALSE;
    }
  E820Range range = { first, last + 1, g_intern_string (type) };
  g_array_append_val (boot->e820, range);
  return TRUE;
}

/* Whether the map calls all of [@start, @end) @type, in one range. */
static gboolean
e820_covers (GArray *map, uint64_t start, uint64_t end, const char *type)
{
  for (unsigned i = 0; i < map->len; i++)
    {
      const E820Range *r = &g_array_index (map, E820Range, i);
      if (r->start <= start && end <= r->end && strcmp (r->type, type) == 0)
        return TRUE;
    }
  return FALSE;
}

/* The firmware builds the map the kernel gets from ours (fw_cfg "etc/e820") and takes some for itself:
 * SeaBIOS its EBDA below 640 KiB, the F segment, a few pages at the top of RAM for the ACPI tables and
 * its own data, and the BIOS image below 4 GiB.  So the test checks what the firmware cannot make up:
 * the RAM we gave is usable but for those bits, and nothing beyond it or in the ISA hole is. */
static gboolean
check_firmware_e820 (Boot *boot, GError **error)
{
  const char *problem = NULL;

  if (!e820_covers (boot->e820, 0, 0x9f000, "usable"))
    problem = "the conventional memory below 636 KiB is not usable";
  else if (!e820_covers (boot->e820, HV_HIMEM_START, MEMORY_SIZE - (1 << 20), "usable"))
    problem = "the RAM from 1 MiB to 1 MiB below its end is not usable in one range";
  else if (!e820_covers (boot->e820, 0x100000000ull - (256 << 10), 0x100000000ull, "reserved"))
    problem = "the BIOS image below 4 GiB is not reserved";
  for (unsigned i = 0; problem == NULL && i < boot->e820->len; i++)
    {
      const E820Range *r = &g_array_index (boot->e820, E820Range, i);
      if (strcmp (r->type, "usable") == 0
          && (r->end > MEMORY_SIZE || (r->end > 0xA0000 && r->start < 0x100000)))
        problem = "a usable range lies outside the machine's RAM or in the ISA hole";
    }
  if (problem)
    {
      g_autofree char *got = format_e820 (boot->e820);
      g_set_error (error, TEST_ERROR, TEST_ERROR_FAILED, "the kernel's e820 map is wrong: %s.\n  printed:%s",
                   problem, got);
      return FALSE;
    }
  return TRUE;
}

gboolean
check_e820 (Boot *boot, GError **error)
{
  if (boot_by_firmware (boot))
    return check_firmware_e820 (boot, error);

  g_autoptr (GArray) expected = expected_e820 (boot->pvh);
  gboolean same = expected->len == boot->e820->len;

  for (unsigned i = 0; same && i < expected->len; i++)
    {
      const E820Range *e = &g_array_index (expected, E820Range, i);
      const E820Range *g = &g_array_index (boot->e820, E820Range, i);
      same = e->start == g->start && e->end == g->end && strcmp (e->type, g->type) == 0;
    }
  if (!same)
    {
      g_autofree char *want = format_e820 (expected);
      g_autofree char *got = format_e820 (boot->e820);
      g_set_error (error, TEST_ERROR, TEST_ERROR_FAILED,
                   "the kernel's e820 map differs from ours.\n  expected:%s\n  printed:%s", want, got);
      return FALSE;
    }
  return TRUE;
}

/* "ACPI: XSDT 0x00000000000E0024 000034 (v01 ...)": the table must lie in our ACPI area. */
/* Whether [@addr, @addr + 1) lies in a range the kernel's e820 map calls reserved. */
static gboolean
in_reserved_range (Boot *boot, uint64_t addr)
{
  for (unsigned i = 0; i < boot->e820->len; i++)
    {
      const E820Range *r = &g_array_index (boot->e820, E820Range, i);
      if (strcmp (r->type, "reserved") == 0 && addr >= r->start && addr < r->end)
        return TRUE;
    }
  return FALSE;
}

static StepResult
match_acpi_table (Boot *boot, const char *line, const char *signature, GError **error)
{
  g_autofree char *needle = g_strdup_printf ("ACPI: %s 0x", signature);
  const char *p = strstr (line, needle);
  uint64_t addr;

  if (p == NULL)
    return STEP_NO_MATCH;
  if (sscanf (p + strlen (needle), "%" SCNx64, &addr) != 1)
    {
      g_set_error (error, TEST_ERROR, TEST_ERROR_FAILED, "cannot read the %s's address: \"%s\"", signature,
                   line);
      return STEP_FAIL;
    }
  /* The firmware copies the tables from fw_cfg to memory it reserves for them (SeaBIOS: the RSDP in the
   * F segment, the rest at the top of RAM). */
  if (boot_by_firmware (boot) && !in_reserved_range (boot, addr))
    {
      g_set_error (error, TEST_ERROR, TEST_ERROR_FAILED,
                   "the kernel found the %s outside the memory the e820 map reserves: \"%s\"", signature,
                   line);
      return STEP_FAIL;
    }
  if (!boot_by_firmware (boot) && (addr < HV_ACPI_START || addr >= HV_ACPI_END))
    {
      g_set_error (error, TEST_ERROR, TEST_ERROR_FAILED,
                   "the kernel found the %s outside our ACPI area 0x%llx-0x%llx: \"%s\"", signature,
                   HV_ACPI_START, HV_ACPI_END - 1, line);
      return STEP_FAIL;
    }
  return STEP_MATCH;
}

static StepResult
match_rsdp (Boot *boot, const char *line, GError **error)
{
  return match_acpi_table (boot, line, "RSDP", error);
}

static StepResult
match_xsdt (Boot *boot, const char *line, GError **error)
{
  if (strstr (line, "ACPI: RSDT 0x"))
    {
      g_set_error (error, TEST_ERROR, TEST_ERROR_FAILED,
                   "the kernel used an RSDT where we offer an XSDT (RSDP revision < 2?): \"%s\"", line);
      return STEP_FAIL;
    }
  return match_acpi_table (boot, line, "XSDT", error);
}

/* The XSDT's order decides in which order these are listed. */
static StepResult
match_described_tables (Boot *boot, const char *line, GError **error)
{
  static const char *const signatures[] = { "FACP", "DSDT", "APIC" };

  for (unsigned i = 0; i < G_N_ELEMENTS (signatures); i++)
    {
      StepResult result = match_acpi_table (boot, line, signatures[i], error);
      if (result == STEP_FAIL)
        return result;
      if (result == STEP_MATCH)
        boot->tables_seen |= 1u << i;
    }
  return boot->tables_seen == (1u << G_N_ELEMENTS (signatures)) - 1 ? STEP_MATCH : STEP_NO_MATCH;
}

static StepResult
match_pm_timer (Boot *boot, const char *line, GError **error)
{
  g_autofree char *want = g_strdup_printf ("ACPI: PM-Timer IO Port: 0x%x", HV_PORT_ACPI_PM_TMR);
  const char *p = strstr (line, "ACPI: PM-Timer IO Port: ");

  if (p == NULL)
    return STEP_NO_MATCH;
  if (strcmp (p, want) != 0)
    {
      g_set_error (error, TEST_ERROR, TEST_ERROR_FAILED, "the FADT's PM timer is not ours (\"%s\"): \"%s\"",
                   want, line);
      return STEP_FAIL;
    }
  return STEP_MATCH;
}

static StepResult
match_ioapic (Boot *boot, const char *line, GError **error)
{
  g_autofree char *want = g_strdup_printf (", address 0x%llx, GSI 0-%u", HV_IOAPIC_ADDR, HV_IOAPIC_PINS - 1);

  if (strstr (line, "IOAPIC[0]: apic_id ") == NULL)
    return STEP_NO_MATCH;
  if (!g_str_has_suffix (line, want))
    {
      g_set_error (error, TEST_ERROR, TEST_ERROR_FAILED, "the MADT's IOAPIC is not ours (\"…%s\"): \"%s\"",
                   want, line);
      return STEP_FAIL;
    }
  return STEP_MATCH;
}

/* layout.h wires ISA IRQ 0 (the PIT) to IOAPIC pin 2; only an override in the MADT tells Linux so. */
static StepResult
match_timer_override (Boot *boot, const char *line, GError **error)
{
  if (strstr (line, "ACPI: INT_SRC_OVR (bus 0 bus_irq 0 global_irq ") == NULL)
    return STEP_NO_MATCH;
  if (strstr (line, "ACPI: INT_SRC_OVR (bus 0 bus_irq 0 global_irq 2 ") == NULL)
    {
      g_set_error (error, TEST_ERROR, TEST_ERROR_FAILED, "the MADT routes IRQ 0 elsewhere than GSI 2: \"%s\"",
                   line);
      return STEP_FAIL;
    }
  return STEP_MATCH;
}

static StepResult
match_madt_smp (Boot *boot, const char *line, GError **error)
{
  return match_contains (line, "ACPI: Using ACPI (MADT) for SMP configuration information");
}

static StepResult
match_cpus (Boot *boot, const char *line, GError **error)
{
  g_autofree char *want = g_strdup_printf ("smpboot: Allowing %u CPUs, 0 hotplug CPUs", N_CPUS);

  if (strstr (line, "smpboot: Allowing ") == NULL)
    return STEP_NO_MATCH;
  if (strstr (line, want) == NULL)
    {
      g_set_error (error, TEST_ERROR, TEST_ERROR_FAILED, "the MADT does not list %u CPUs (\"%s\"): \"%s\"",
                   N_CPUS, want, line);
      return STEP_FAIL;
    }
  return STEP_MATCH;
}

/* acpi_early_init: from here on every table's checksum has been verified (see forbidden_lines[]). */
static StepResult
match_acpi_core (Boot *boot, const char *line, GError **error)
{
  return match_contains (line, "ACPI: Core revision ");
}

static StepResult
match_apic_mode (Boot *boot, const char *line, GError **error)
{
  return match_contains (line, "APIC: Switch to symmetric I/O mode setup");
}

/* check_timer() prints this, then makes sure PIT interrupts arrive through the IOAPIC; when they do not
 * it prints one of the forbidden_lines[] lines and tries other routes or panics. */
static StepResult
match_timer (Boot *boot, const char *line, GError **error)
{
  if (strstr (line, "..TIMER: vector=") == NULL)
    return STEP_NO_MATCH;
  if (strstr (line, " apic1=0 pin1=2 ") == NULL)
    {
      g_set_error (error, TEST_ERROR, TEST_ERROR_FAILED, "the timer is not on IOAPIC 0 pin 2: \"%s\"", line);
      return STEP_FAIL;
    }
  return STEP_MATCH;
}

static StepResult
match_calibrated (Boot *boot, const char *line, GError **error)
{
  return match_contains (line, "Calibrating delay loop");
}

/* fpu__init_system() prints this right before alternative_instructions() runs the int3 self-test. */
static StepResult
match_fpu (Boot *boot, const char *line, GError **error)
{
  return match_contains (line, "x86/fpu: ");
}

static StepResult
match_smp_up (Boot *boot, const char *line, GError **error)
{
  g_autofree char *want = g_strdup_printf ("smp: Brought up 1 node, %u CPUs", N_CPUS);

  if (strstr (line, "smp: Brought up ") == NULL)
    return STEP_NO_MATCH;
  if (strstr (line, want) == NULL)
    {
      g_set_error (error, TEST_ERROR, TEST_ERROR_FAILED, "not every CPU came up (\"%s\"): \"%s\"", want,
                   line);
      return STEP_FAIL;
    }
  return STEP_MATCH;
}

static StepResult
match_userspace (Boot *boot, const char *line, GError **error)
{
  return match_contains (line, "vireo-slow: userspace up");
}

static StepResult
match_nproc (Boot *boot, const char *line, GError **error)
{
  g_autofree char *want = g_strdup_printf ("vireo-slow: cpus=%u", N_CPUS);

  if (strstr (line, "vireo-slow: cpus=") == NULL)
    return STEP_NO_MATCH;
  if (strstr (line, want) == NULL)
    {
      g_set_error (error, TEST_ERROR, TEST_ERROR_FAILED, "userspace sees other CPUs than \"%s\": \"%s\"",
                   want, line);
      return STEP_FAIL;
    }
  return STEP_MATCH;
}

const Step boot_steps[] = {
  /* Printed first but only shown once setup_arch() starts earlyprintk, so its time includes that much of
   * the kernel's ring-0 start (and, for a bzImage, the decompression before it). */
  { "kernel up to earlyprintk", match_linux_version },
  { "command line passed", match_command_line },
  { "e820 map as ours", match_e820_header },
  { "ACPI RSDP found", match_rsdp },
  { "ACPI XSDT", match_xsdt },
  { "ACPI FACP, DSDT, APIC", match_described_tables },
  { "FADT PM timer", match_pm_timer },
  { "MADT IOAPIC", match_ioapic },
  { "MADT IRQ 0 override", match_timer_override },
  { "MADT used for SMP", match_madt_smp },
  { "MADT CPUs", match_cpus },
  { "kernel command line", match_kernel_command_line },
  { "ACPI tables verified", match_acpi_core },
  { "APIC mode", match_apic_mode },
  { "IOAPIC timer", match_timer },
  { "delay loop calibrated", match_calibrated },
  { "FPU set up (int3 self-test next)", match_fpu },
  /* Early boot, which every host must get through, ends here; the rest only happens where guest ring 0
   * runs on hardware virtualization. */
  { "all CPUs up", match_smp_up },
  { "userspace up", match_userspace },
  { "userspace sees the CPUs", match_nproc },
};

static StepResult
match_seabios (Boot *boot, const char *line, GError **error)
{
  return match_contains (line, "SeaBIOS (version ");
}

static StepResult
match_grub_menu (Boot *boot, const char *line, GError **error)
{
  return match_contains (line, "GNU GRUB");
}

/* GRUB says so before it runs the entry's commands; "Linux version" then shows that it loaded the kernel
 * from the disk through the firmware's int 13h and handed it the command line and initrd. */
static StepResult
match_grub_booting (Boot *boot, const char *line, GError **error)
{
  return match_contains (line, "Booting `" GRUB_ENTRY "'");
}

/* What a firmware boot prints before the kernel does (the serial console of the firmware, then GRUB's). */
const Step firmware_boot_steps[] = {
  { "SeaBIOS on COM1", match_seabios },
  { "GRUB menu on COM1", match_grub_menu },
  { "GRUB boots its entry", match_grub_booting },
};

/* How many of @list are early boot: those before the first one that needs real VT. */
unsigned
count_early_steps (const Step *list, unsigned n_list)
{
  unsigned n = 0;
  while (n < n_list && list[n].match != match_smp_up)
    n++;
  return n;
}

/* A line containing any of these fails the test wherever it appears. */
const char *const forbidden_lines[] = {
  "Incorrect checksum", /* ACPICA: a table's bytes do not sum to zero */
  "ACPI BIOS Warning",
  "ACPI BIOS Error",
  "ACPI Warning",
  "ACPI Error",
  "ACPI: [Firmware Bug]",
  "MP-BIOS bug", /* check_timer: the PIT is not where the MADT says */
  "timer doesn't work",
  "APIC timer disabled", /* setup_boot_APIC_clock: calibration against the PIT failed */
  "disabling apic timer",
  "Kernel panic",
  "BUG: ",
  "Oops: ",
  "WARNING: CPU: ",
  "general protection fault",
};

const unsigned boot_steps_count = G_N_ELEMENTS (boot_steps);
const unsigned firmware_boot_steps_count = G_N_ELEMENTS (firmware_boot_steps);
const unsigned forbidden_lines_count = G_N_ELEMENTS (forbidden_lines);
