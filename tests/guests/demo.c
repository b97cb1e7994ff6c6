/* demo.c — the README's demo VM: a banner with what the machine looks like from inside (CPUs, memory,
 * ACPI tables, the CMOS clock), then a small command prompt on the serial console.  It shuts down
 * cleanly when the ACPI power button is pressed.  Everything after the first line runs in ring 3. */
#include "kit.h"

#define RTC_INDEX 0x70
#define RTC_DATA  0x71

static KitAcpiPm pm;
static bool have_pm;

static uint8_t
cmos_read (uint8_t reg)
{
  outb (RTC_INDEX, reg);
  return inb (RTC_DATA);
}

static unsigned
from_bcd (uint8_t value, bool binary)
{
  return binary ? value : (unsigned) (value >> 4) * 10 + (value & 0x0f);
}

static void
print_time (void)
{
  uint8_t sec, min, hour, day, mon, year, century, status_b;

  /* Wait out an update in progress (register A bit 7), then read twice until stable. */
  for (unsigned tries = 0; tries < 1000000 && (cmos_read (0x0a) & 0x80); tries++)
    cpu_pause ();
  do
    {
      sec = cmos_read (0x00);
      min = cmos_read (0x02);
      hour = cmos_read (0x04);
      day = cmos_read (0x07);
      mon = cmos_read (0x08);
      year = cmos_read (0x09);
      century = cmos_read (0x32);
    }
  while (sec != cmos_read (0x00));
  status_b = cmos_read (0x0b);
  bool binary = status_b & 0x04;
  kit_printf ("%02u%02u-%02u-%02u %02u:%02u:%02u UTC", from_bcd (century, binary), from_bcd (year, binary),
              from_bcd (mon, binary), from_bcd (day, binary), from_bcd (hour & 0x7f, binary),
              from_bcd (min, binary), from_bcd (sec, binary));
}

static unsigned
count_cpus (void)
{
  const struct acpi_header *madt = kit_acpi_find ("APIC");
  const uint8_t *p, *end;
  unsigned cpus = 0;

  if (madt == NULL)
    return 0;
  p = (const uint8_t *) madt + 44;
  end = (const uint8_t *) madt + madt->length;
  while (p + 2 <= end && p[1] >= 2 && p + p[1] <= end)
    {
      if (p[0] == 0 && p[1] >= 8 && (p[4] & 1))
        cpus++;
      p += p[1];
    }
  return cpus;
}

static void
print_info (void)
{
  uint32_t n_map = 0;
  const struct hvm_memmap_table_entry *map = kit_memmap (&n_map);
  uint64_t ram = 0;
  unsigned ranges = 0;

  for (uint32_t i = 0; map && i < n_map; i++)
    if (map[i].type == 1)
      {
        ram += map[i].size;
        ranges++;
      }

  kit_printf ("  CPUs          %u (from the ACPI MADT)\n", count_cpus ());
  kit_printf ("  Memory        %lu MiB of RAM in %u ranges of the memory map\n",
              (unsigned long) ((ram + (1u << 19)) >> 20), ranges);
  kit_printf ("  Command line  %s\n", *kit_cmdline () ? kit_cmdline () : "(none)");
  kit_puts ("  ACPI tables  ");
  for (unsigned i = 0; i < kit_acpi_root_count (); i++)
    {
      const struct acpi_header *table = kit_acpi_root_entry (i);
      if (table)
        kit_printf (" %.4s%s", table->signature,
                    kit_acpi_checksum_ok (table, table->length) ? "" : "(bad checksum)");
    }
  if (kit_acpi_dsdt ())
    kit_puts (" DSDT");
  kit_puts ("\n  Clock         ");
  print_time ();
  kit_puts (" (CMOS RTC)\n");
}

static void
print_help (void)
{
  kit_puts ("Commands:\n"
            "  help      this list\n"
            "  info      what this machine looks like from inside\n"
            "  time      the CMOS clock\n"
            "  primes N  count the primes below N (up to 50000000), natively in ring 3\n"
            "  echo ...  print the rest of the line\n"
            "  reset     reset the machine through the i8042\n"
            "  off       power off through ACPI\n"
            "Pressing the power button (SIGTERM to vireo-run, or Ctrl-A s) shuts the guest down.\n");
}

static uint8_t sieve[50000000];

static void
count_primes (const char *arg)
{
  uint64_t limit = 0, count = 0;

  while (*arg == ' ')
    arg++;
  for (; *arg >= '0' && *arg <= '9'; arg++)
    limit = limit * 10 + (uint64_t) (*arg - '0');
  if (limit < 2 || limit > sizeof sieve)
    {
      kit_puts ("primes: give a number from 2 to 50000000\n");
      return;
    }
  memset (sieve, 0, limit);
  for (uint64_t i = 2; i < limit; i++)
    {
      if (sieve[i])
        continue;
      count++;
      for (uint64_t j = i * i; j < limit; j += i)
        sieve[j] = 1;
    }
  kit_printf ("%lu primes below %lu\n", (unsigned long) count, (unsigned long) limit);
}

static bool
starts_with (const char *line, const char *word)
{
  size_t n = strlen (word);
  return memcmp (line, word, n) == 0 && (line[n] == '\0' || line[n] == ' ');
}

static void
run_command (const char *line)
{
  while (*line == ' ')
    line++;
  if (*line == '\0')
    return;
  if (starts_with (line, "help"))
    print_help ();
  else if (starts_with (line, "info"))
    print_info ();
  else if (starts_with (line, "time"))
    {
      print_time ();
      kit_puts ("\n");
    }
  else if (starts_with (line, "primes"))
    count_primes (line + 6);
  else if (starts_with (line, "echo"))
    kit_printf ("%s\n", line[4] ? line + 5 : "");
  else if (starts_with (line, "reset"))
    {
      kit_puts ("Resetting.\n");
      kit_reset_i8042 ();
    }
  else if (starts_with (line, "off"))
    {
      kit_puts ("Powering off.\n");
      kit_poweroff ();
    }
  else
    kit_printf ("%s: unknown command (try help)\n", line);
}

static bool
power_button_pressed (void)
{
  if (!have_pm)
    return false;
  if (!(inw (pm.pm1a_evt) & ACPI_PM1_PWRBTN))
    return false;
  outw (pm.pm1a_evt, ACPI_PM1_PWRBTN); /* write 1 to clear */
  return true;
}

static long
console (void *unused)
{
  char line[128];
  size_t len = 0;

  kit_puts ("\nVireo demo guest\n================\n"
            "A freestanding PVH guest booted by Vireo's VMM core; it talks over the serial port.\n\n");
  print_info ();
  kit_puts ("\nType help for commands.\n\nvireo> ");

  have_pm = kit_acpi_pm (&pm) && pm.pm1a_evt != 0;
  if (have_pm)
    outw (pm.pm1a_evt + pm.pm1_evt_len / 2, ACPI_PM1_PWRBTN);

  for (;;)
    {
      uint8_t c;

      if (power_button_pressed ())
        {
          kit_puts ("\nPower button pressed: shutting down.\n");
          kit_poweroff ();
        }
      if (!kit_serial_getc (&c))
        {
          cpu_pause ();
          continue;
        }
      if (c == '\r' || c == '\n')
        {
          kit_puts ("\n");
          line[len] = '\0';
          run_command (line);
          len = 0;
          kit_puts ("vireo> ");
        }
      else if (c == 0x7f || c == 0x08)
        {
          if (len > 0)
            {
              len--;
              kit_puts ("\b \b");
            }
        }
      else if (c >= 0x20 && c < 0x7f && len + 1 < sizeof line)
        {
          line[len++] = (char) c;
          kit_putc ((char) c);
        }
    }
}

void
guest_main (void)
{
  kit_run_user (console, NULL);
}
