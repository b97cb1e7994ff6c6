/* triple-fault.c — prints "triple-fault: loading an empty IDT", then raises #UD with no IDT to
 * deliver it (#UD -> #GP -> #DF -> shutdown), which a VMM sees as KVM_EXIT_SHUTDOWN.  Nothing
 * follows. */
#include "kit.h"

void
guest_main (void)
{
  kit_puts ("triple-fault: loading an empty IDT\n");
  kit_triple_fault ();
}
