/* compute.c — CPU-bound work in ring 3: counts the primes below 2,000,000 with a sieve of
 * Eratosthenes and prints "compute: 148933", then powers off from ring 3.  "rounds=N" on the
 * command line repeats the sieve N times (default 1) for benchmarks that want a longer run; the
 * output does not change. */
#include "kit.h"

#define SIEVE_LIMIT 2000000u

/* In .bss, which the ELF loader zeroes; the sieve sets every byte itself anyway. */
static uint8_t composite[SIEVE_LIMIT];

static uint32_t
count_primes (void)
{
  uint32_t count = 0;

  memset (composite, 0, sizeof composite);
  for (uint32_t i = 2; i < SIEVE_LIMIT; i++)
    {
      if (composite[i])
        continue;
      count++;
      for (uint64_t j = (uint64_t) i * i; j < SIEVE_LIMIT; j += i)
        composite[j] = 1;
    }
  return count;
}

static long
compute (void *unused)
{
  uint64_t rounds = 1;
  uint32_t primes = 0;

  kit_cmdline_u64 ("rounds", &rounds);
  if (rounds == 0)
    rounds = 1;
  for (uint64_t r = 0; r < rounds; r++)
    primes = count_primes ();
  kit_printf ("compute: %u\n", primes);
  kit_poweroff ();
}

void
guest_main (void)
{
  kit_run_user (compute, NULL);
}
