/* echo.c — a serial loopback: prints "echo ready", then in ring 3 polls COM1 and writes every byte
 * it receives straight back, until it receives 'q' (not echoed): then it prints "echo done" and
 * powers off.  Polling rather than interrupts keeps the guest to the UART's LSR/RBR registers. */
#include "kit.h"

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
      if (c == 'q')
        break;
      kit_putc ((char) c);
    }
  kit_puts ("echo done\n");
  kit_poweroff ();
}

void
guest_main (void)
{
  kit_puts ("echo ready\n");
  kit_run_user (echo, NULL);
}
