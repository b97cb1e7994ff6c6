/* tick-counter.c — counts in memory from ring 3 and prints "tick N" after each step of
 * "spin=N" iterations (default 20,000,000, some tens of milliseconds here), forever: for the core's
 * revert test, where a guest reverted to a saved state must carry on from the count it had then.
 * "touch=N" first writes every page of N MiB of RAM from 64 MiB up (checkpoint benchmarks), then
 * prints "touched N MiB". */
#include "kit.h"

/* In guest memory, as everything the guest knows: a revert must bring back this value. */
static volatile uint64_t count;

static long
tick (void *unused)
{
  uint64_t spin = 20000000;

  uint64_t touch = 0;

  kit_cmdline_u64 ("spin", &spin);
  if (kit_cmdline_u64 ("touch", &touch) && touch > 0)
    {
      /* The kit maps the low 4 GiB for ring 3; the caller gives the guest the memory. */
      for (uint64_t page = 0; page < (touch << 20); page += 4096)
        *(volatile uint64_t *) (uintptr_t) ((64ull << 20) + page) = page | 1;
      kit_printf ("touched %lu MiB\n", (unsigned long) touch);
    }
  for (;;)
    {
      for (volatile uint64_t i = 0; i < spin; i++)
        ;
      count++;
      kit_printf ("tick %lu\n", (unsigned long) count);
    }
  return 0;
}

void
guest_main (void)
{
  kit_printf ("tick-counter ready\n");
  kit_run_user (tick, NULL);
}
