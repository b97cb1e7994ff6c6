/* shutdown.c — the power-button guest: enables the ACPI fixed power button (PWRBTN_EN in PM1_EN),
 * prints "waiting for power button", then in ring 3 polls PM1_STS until PWRBTN_STS is set, clears
 * it (write 1), prints "power button pressed" and powers off.  With no usable FADT it prints
 * "shutdown: no PM1a_EVT_BLK in the FADT" and powers off at once.
 *
 * It polls instead of taking the SCI, and does not switch the platform into ACPI mode through
 * SMI_CMD: PWRBTN_STS latches either way, and an SMI would run firmware code the test does not
 * want. */
#include "kit.h"

static KitAcpiPm pm;

static long
wait_for_button (void *unused)
{
  for (;;)
    {
      if (inw (pm.pm1a_evt) & ACPI_PM1_PWRBTN)
        break;
      cpu_pause ();
    }
  outw (pm.pm1a_evt, ACPI_PM1_PWRBTN);
  kit_puts ("power button pressed\n");
  kit_poweroff ();
}

static long
find_pm_registers (void *unused)
{
  return kit_acpi_pm (&pm) && pm.pm1a_evt != 0 && pm.pm1_evt_len >= 4;
}

void
guest_main (void)
{
  /* The FADT walk runs natively; ring 0 only touches PM1_EN. */
  if (!kit_run_user (find_pm_registers, NULL))
    {
      kit_puts ("shutdown: no PM1a_EVT_BLK in the FADT\n");
      return;
    }
  /* A press latched before now (or at power-on) is not the one the test is about to make. */
  outw (pm.pm1a_evt, ACPI_PM1_PWRBTN);
  uint16_t pm1_en = (uint16_t) (pm.pm1a_evt + pm.pm1_evt_len / 2);
  outw (pm1_en, (uint16_t) (inw (pm1_en) | ACPI_PM1_PWRBTN));
  kit_puts ("waiting for power button\n");
  kit_run_user (wait_for_button, NULL);
}
