/* reset.c — prints "reset: pulsing the i8042 reset line", then writes 0xFE to the i8042 command
 * port. It must end in a reset, never a power-off: if the machine is still running a second later
 * it prints "reset: still running" and powers off, which a test sees as the wrong ending. */
#include "kit.h"

void
guest_main (void)
{
  kit_puts ("reset: pulsing the i8042 reset line\n");
  kit_reset_i8042 ();
  kit_puts ("reset: still running\n");
}
