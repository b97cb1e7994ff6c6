/* pio-loop.c — the port-I/O exit benchmark: prints "pio-loop start", does N byte writes to the POST
 * port (HV_PORT_POST, which ignores them) from ring 3, prints "pio-loop done" and powers off.  N
 * comes from "count=N" on the command line, 100000 by default.  Each write is one VM exit. */
#include "kit.h"

static long
pio_loop (void *unused)
{
  uint64_t count = 100000;

  kit_cmdline_u64 ("count", &count);
  kit_puts ("pio-loop start\n");
  for (uint64_t i = 0; i < count; i++)
    outb (HV_PORT_POST, (uint8_t) i);
  kit_puts ("pio-loop done\n");
  kit_poweroff ();
}

void
guest_main (void)
{
  kit_run_user (pio_loop, NULL);
}
