/* echo.c — a serial loopback: prints "echo ready", then in ring 3 polls COM1 and writes every byte
 * it receives straight back, until it receives 'q' (not echoed): then it prints "echo done" and
 * powers off; Ctrl-\ (0x1c, not echoed) instead prints "echo crash" and triple-faults, a crash on
 * demand.  Polling rather than interrupts keeps the guest to the UART's LSR/RBR registers. */
#include "kit.h"

#define CRASH 0x1c

static long
echo (void *unused)
{
  for (;;)
    {
      uint8_t c;
      if (!kit_serial_getc (&c))
        {
          cpu_pause ();
          continue;
        }
      if (c == 'q' || c == CRASH)
        return c;
      kit_putc ((char) c);
    }
}

void
guest_main (void)
{
  kit_puts ("echo ready\n");
  if (kit_run_user (echo, NULL) == CRASH)
    {
      kit_puts ("echo crash\n");
      kit_triple_fault ();
    }
  kit_puts ("echo done\n");
  kit_poweroff ();
}
