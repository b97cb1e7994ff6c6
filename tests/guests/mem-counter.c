/* mem-counter.c — counts in memory, for the checkpoint tests and benchmark: a restored memory state
 * shows in the count the guest goes on from.
 *
 * Command line (all optional):
 *   period=MS   milliseconds between counts (default 50, at least 1), paced by the TSC, whose rate is
 *               measured against the ACPI PM timer at start (or given with tsc_khz=N)
 *   touch=MIB   first fills MIB MiB of RAM from 16 MiB up with a pattern (every byte, so no page is a
 *               zero page a VMM could skip), as a guest with that much memory in use; it must lie in one
 *               RAM range of the memory map
 *
 * Serial protocol (one line each, "\n"-terminated):
 *   mem-counter: tsc N kHz (measured|given)
 *   mem-counter: touched N MiB            after the fill (only with touch=)
 *   count N                               every period, N = 1, 2, 3, ... (the counter lives in guest RAM)
 *   mem-counter: power button             then ACPI power-off
 *   mem-counter: FAIL ...                 then ACPI power-off
 *
 * With touch=, each count also checks 1 MiB of the filled range (in turn, round and round) and fails when
 * it no longer holds the pattern, so a memory restore that loses or mixes up pages is seen. */
#include "kit.h"

#define TOUCH_BASE  (16ull << 20)
#define CHECK_BYTES (1ull << 20)
#define MEMMAP_RAM  1

/* The state a checkpoint must carry: in RAM, where the loop keeps it. */
static volatile uint64_t count;

static void failed (const char *what, uint64_t value) __attribute__ ((noreturn));

static void
failed (const char *what, uint64_t value)
{
  kit_printf ("mem-counter: FAIL %s (0x%lx)\n", what, value);
  kit_poweroff ();
}

/* The pattern's word at @address: differs from page to page and from word to word, never zero. */
static inline uint64_t
pattern (uint64_t address)
{
  return (address * 0x9e3779b97f4a7c15ull) | 1;
}

/* Whether [base, base + len) lies in one RAM range of the memory map. */
static bool
in_ram (uint64_t base, uint64_t len)
{
  uint32_t n = 0;
  const struct hvm_memmap_table_entry *map = kit_memmap (&n);

  for (uint32_t i = 0; map != NULL && i < n; i++)
    if (map[i].type == MEMMAP_RAM && map[i].addr <= base && base + len <= map[i].addr + map[i].size)
      return true;
  return false;
}

static void
touch (uint64_t bytes)
{
  volatile uint64_t *words = (volatile uint64_t *) (uintptr_t) TOUCH_BASE;

  if (TOUCH_BASE + bytes > 4ull << 30 || !in_ram (TOUCH_BASE, bytes))
    failed ("touch= is more than the RAM above 16 MiB", bytes);
  for (uint64_t i = 0; i < bytes / 8; i++)
    words[i] = pattern (TOUCH_BASE + i * 8);
  kit_printf ("mem-counter: touched %lu MiB\n", bytes >> 20);
}

/* Checks the next CHECK_BYTES of the touched range; *@offset goes round it. */
static void
check (uint64_t bytes, uint64_t *offset)
{
  volatile uint64_t *words = (volatile uint64_t *) (uintptr_t) (TOUCH_BASE + *offset);

  for (uint64_t i = 0; i < CHECK_BYTES / 8; i++)
    {
      uint64_t address = TOUCH_BASE + *offset + i * 8;

      if (words[i] != pattern (address))
        failed ("touched memory changed at", address);
    }
  *offset += CHECK_BYTES;
  if (*offset >= bytes)
    *offset = 0;
}

static long
run (void *unused)
{
  uint64_t period_ms = 50, touch_mib = 0, tsc_khz = 0, period, next, checked = 0;
  bool given = kit_cmdline_u64 ("tsc_khz", &tsc_khz) && tsc_khz > 0;

  kit_cmdline_u64 ("period", &period_ms);
  kit_cmdline_u64 ("touch", &touch_mib);
  if (period_ms == 0)
    period_ms = 1;
  if (!given)
    tsc_khz = kit_measure_tsc_khz (20);
  if (tsc_khz == 0)
    failed ("no TSC rate: no ACPI PM timer, and no tsc_khz=", 0);
  kit_printf ("mem-counter: tsc %lu kHz (%s)\n", tsc_khz, given ? "given" : "measured");
  if (!kit_power_button_arm ())
    kit_puts ("mem-counter: no ACPI power button\n");
  if (touch_mib > 4096)
    failed ("touch= is more than the RAM above 16 MiB", touch_mib);
  if (touch_mib != 0)
    touch (touch_mib << 20);

  period = tsc_khz * period_ms;
  next = kit_rdtsc () + period;
  for (;;)
    {
      uint64_t now;

      while ((int64_t) ((now = kit_rdtsc ()) - next) < 0)
        {
          /* A TSC that went back (a VMM that does not restore it) must not stall the count. */
          if ((int64_t) (next - now) > (int64_t) (2 * period))
            next = now;
          cpu_pause ();
        }
      next += period;
      /* After a stall (the host descheduled or paused us) go on from now instead of bursting. */
      if ((int64_t) (kit_rdtsc () - next) > (int64_t) period)
        next = kit_rdtsc () + period;
      count++;
      kit_printf ("count %lu\n", (uint64_t) count);
      if (touch_mib != 0)
        check (touch_mib << 20, &checked);
      if (kit_power_button_pressed ())
        {
          kit_puts ("mem-counter: power button\n");
          kit_poweroff ();
        }
    }
}

void
guest_main (void)
{
  kit_run_user (run, NULL);
}
