/* hello.c — the smallest guest: one line on COM1, then ACPI power off.  Also the "first byte"
 * benchmark, so it prints before doing anything else. */
#include "kit.h"

void
guest_main (void)
{
  kit_puts ("Hello from a Vireo test guest\n");
}
