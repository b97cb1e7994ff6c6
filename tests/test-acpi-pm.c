/* test-acpi-pm.c — the ACPI PM block as a guest's ACPI code drives it: power button and SCI, S5, the
 * reset register, the PM timer, access widths and garbage. */
#include "devices.h"
#include "layout.h"
#include "test-util.h"

#include <string.h>

#define PM1_STS (HV_PORT_ACPI_PM1_EVT - HV_PORT_ACPI_PM)
#define PM1_EN  (PM1_STS + 2)
#define PM1_CNT (HV_PORT_ACPI_PM1_CNT - HV_PORT_ACPI_PM)
#define PM_TMR  (HV_PORT_ACPI_PM_TMR - HV_PORT_ACPI_PM)
#define RESET   (HV_PORT_ACPI_RESET - HV_PORT_ACPI_PM)

#define PWRBTN 0x0100
#define TMR    0x0001
#define WAK    0x8000
#define SLP_EN 0x2000
#define SCI_EN 0x0001

typedef struct
{
  VireoTestPlatform tp;
  HvAcpiPm *pm;
} Fixture;

static void
fixture_setup (Fixture *f, gconstpointer data)
{
  vireo_test_platform_init (&f->tp);
  f->pm = hv_acpi_pm_new (&f->tp.platform);
}

static void
fixture_teardown (Fixture *f, gconstpointer data)
{
  hv_acpi_pm_free (f->pm);
  vireo_test_platform_clear (&f->tp);
}

static uint32_t
pm_read (Fixture *f, unsigned offset, unsigned len)
{
  return vireo_test_io_read (hv_acpi_pm_io, f->pm, offset, len);
}

static void
pm_write (Fixture *f, unsigned offset, unsigned len, uint32_t value)
{
  vireo_test_io_write (hv_acpi_pm_io, f->pm, offset, len, value);
}

static gboolean
sci (Fixture *f)
{
  return f->tp.irq_level[HV_IRQ_SCI];
}

static void
test_power_button (Fixture *f, gconstpointer data)
{
  /* Always in ACPI mode. */
  g_assert_cmphex (pm_read (f, PM1_CNT, 2) & SCI_EN, ==, SCI_EN);

  /* Enabled: a press raises the SCI; clearing the status drops it. */
  pm_write (f, PM1_EN, 2, PWRBTN);
  g_assert_cmphex (pm_read (f, PM1_EN, 2), ==, PWRBTN);
  g_assert_false (sci (f));
  hv_acpi_pm_press_power_button (f->pm);
  g_assert_true (sci (f));
  g_assert_cmphex (pm_read (f, PM1_STS, 2) & PWRBTN, ==, PWRBTN);
  /* Writing zeros clears nothing. */
  pm_write (f, PM1_STS, 2, 0);
  g_assert_true (sci (f));
  pm_write (f, PM1_STS, 2, PWRBTN);
  g_assert_false (sci (f));
  g_assert_cmphex (pm_read (f, PM1_STS, 2) & PWRBTN, ==, 0);
  g_assert_cmpuint (f->tp.irq_raises[HV_IRQ_SCI], ==, 1);

  /* Not enabled: the status is set but the SCI stays low, until the guest enables it. */
  pm_write (f, PM1_EN, 2, 0);
  hv_acpi_pm_press_power_button (f->pm);
  g_assert_false (sci (f));
  g_assert_cmphex (pm_read (f, PM1_STS, 2) & PWRBTN, ==, PWRBTN);
  pm_write (f, PM1_EN, 2, PWRBTN);
  g_assert_true (sci (f));
  /* Disabling it drops the line again. */
  pm_write (f, PM1_EN, 2, 0);
  g_assert_false (sci (f));

  /* A 32-bit access at offset 0 covers PM1_STS and PM1_EN: enable and clear in one go. */
  g_assert_cmphex (pm_read (f, PM1_STS, 4), ==, PWRBTN);
  pm_write (f, PM1_STS, 4, (uint32_t) PWRBTN << 16);
  g_assert_true (sci (f));
  g_assert_cmphex (pm_read (f, PM1_STS, 4), ==, ((uint32_t) PWRBTN << 16) | PWRBTN);
  pm_write (f, PM1_STS, 4, ((uint32_t) PWRBTN << 16) | PWRBTN);
  g_assert_false (sci (f));
  /* Byte access to the high byte of PM1_STS. */
  hv_acpi_pm_press_power_button (f->pm);
  g_assert_cmphex (pm_read (f, PM1_STS + 1, 1), ==, PWRBTN >> 8);
  pm_write (f, PM1_STS + 1, 1, PWRBTN >> 8);
  g_assert_false (sci (f));
  g_assert_cmpuint (f->tp.exit_requests, ==, 0);
}

static void
test_sleep_states (Fixture *f, gconstpointer data)
{
  /* Linux writes SLP_TYP first, then SLP_TYP | SLP_EN.  Other states than S5 are ignored. */
  pm_write (f, PM1_CNT, 2, SCI_EN | (1 << 10));
  pm_write (f, PM1_CNT, 2, SCI_EN | (1 << 10) | SLP_EN);
  g_assert_cmpuint (f->tp.exit_requests, ==, 0);
  g_assert_cmphex (pm_read (f, PM1_CNT, 2) & SLP_EN, ==, 0); /* write-only */
  g_assert_cmphex (pm_read (f, PM1_CNT, 2), ==, SCI_EN | (1 << 10));

  pm_write (f, PM1_CNT, 2, SCI_EN | (HV_ACPI_SLP_TYP_S5 << 10));
  g_assert_cmpuint (f->tp.exit_requests, ==, 0);
  pm_write (f, PM1_CNT, 2, SCI_EN | (HV_ACPI_SLP_TYP_S5 << 10) | SLP_EN);
  g_assert_cmpuint (f->tp.exit_requests, ==, 1);
  g_assert_cmpint (f->tp.exit_reason, ==, HV_EXIT_POWER_OFF);
  g_assert_cmpstr (f->tp.exit_message, ==, "the guest powered off (ACPI S5)");
}

static void
test_s5_byte_write (Fixture *f, gconstpointer data)
{
  /* SLP_TYP and SLP_EN share the high byte, so a byte write there is enough. */
  pm_write (f, PM1_CNT + 1, 1, (SLP_EN | (HV_ACPI_SLP_TYP_S5 << 10)) >> 8);
  g_assert_cmpint (f->tp.exit_reason, ==, HV_EXIT_POWER_OFF);
}

static void
test_reset_register (Fixture *f, gconstpointer data)
{
  pm_write (f, RESET, 1, 0x00);
  pm_write (f, RESET, 1, HV_ACPI_RESET_VALUE ^ 0xff);
  g_assert_cmpuint (f->tp.exit_requests, ==, 0);
  g_assert_cmphex (pm_read (f, RESET, 1), ==, 0);
  pm_write (f, RESET, 1, HV_ACPI_RESET_VALUE);
  g_assert_cmpuint (f->tp.exit_requests, ==, 1);
  g_assert_cmpint (f->tp.exit_reason, ==, HV_EXIT_RESET);
}

static void
test_pm_timer (Fixture *f, gconstpointer data)
{
  uint32_t t0, t1, previous;
  gint64 start, elapsed;
  double rate;

  start = g_get_monotonic_time ();
  t0 = pm_read (f, PM_TMR, 4);
  previous = t0;
  /* Monotonic from read to read. */
  for (unsigned i = 0; i < 10000; i++)
    {
      uint32_t t = pm_read (f, PM_TMR, 4);
      g_assert_cmpuint (t - t0, >=, previous - t0);
      previous = t;
    }
  g_usleep (200 * 1000);
  t1 = pm_read (f, PM_TMR, 4);
  elapsed = g_get_monotonic_time () - start;

  rate = (double) (uint32_t) (t1 - t0) * G_USEC_PER_SEC / (double) elapsed;
  g_assert_cmpfloat (rate, >, 3579545 * 0.8);
  g_assert_cmpfloat (rate, <, 3579545 * 1.2);

  /* The timer is read-only. */
  pm_write (f, PM_TMR, 4, 0);
  g_assert_cmpuint (pm_read (f, PM_TMR, 4) - t1, <, 3579545 * 5);
  g_assert_cmpuint (f->tp.irq_raises[HV_IRQ_SCI], ==, 0);
}

static void
test_garbage (Fixture *f, gconstpointer data)
{
  static const unsigned widths[] = { 1, 2, 4, 8 };

  for (unsigned i = 0; i < 200000; i++)
    {
      uint8_t buffer[8];
      unsigned len = widths[g_test_rand_int_range (0, G_N_ELEMENTS (widths))];
      uint64_t offset = (uint64_t) g_test_rand_int_range (0, 20);
      gboolean is_write = g_test_rand_bit ();

      for (unsigned b = 0; b < sizeof buffer; b++)
        buffer[b] = (uint8_t) g_test_rand_int ();
      hv_acpi_pm_io (f->pm, offset, buffer, len, is_write);
      if (g_test_rand_int_range (0, 1000) == 0)
        hv_acpi_pm_press_power_button (f->pm);
    }

  /* Whatever happened, the SCI follows status and enable. */
  pm_write (f, PM1_STS, 4, ((uint32_t) PWRBTN << 16) | 0xffff);
  g_assert_false (sci (f));
  hv_acpi_pm_press_power_button (f->pm);
  g_assert_true (sci (f));
}

/* A pressed power button with its SCI raised, sleep type bits and the timer come back in a new block:
 * the SCI is raised again and the timer continues from its saved count. */
static void
test_save_load (Fixture *f, gconstpointer data)
{
  Fixture copy;
  g_autoptr (GVariant) state = NULL;
  g_autoptr (GError) error = NULL;
  uint32_t saved_timer;
  uint32_t copy_timer;

  pm_write (f, PM1_EN, 2, PWRBTN);
  pm_write (f, PM1_CNT, 2, 3 << 10);
  hv_acpi_pm_press_power_button (f->pm);
  g_assert_true (sci (f));
  g_usleep (20000);
  saved_timer = pm_read (f, PM_TMR, 4);
  state = vireo_test_state_through_bytes (hv_acpi_pm_save_state (f->pm));
  g_usleep (50000);

  vireo_test_platform_init (&copy.tp);
  copy.pm = hv_acpi_pm_new (&copy.tp.platform);
  g_assert_true (hv_acpi_pm_load_state (copy.pm, state, &error));
  g_assert_no_error (error);
  g_assert_true (sci (&copy));
  g_assert_cmphex (pm_read (&copy, PM1_STS, 2) & PWRBTN, ==, PWRBTN);
  g_assert_cmphex (pm_read (&copy, PM1_EN, 2), ==, PWRBTN);
  g_assert_cmphex (pm_read (&copy, PM1_CNT, 2), ==, SCI_EN | 3 << 10);
  /* The copy's timer went on from the saved count; the original's ran on for 50 ms more. */
  copy_timer = pm_read (&copy, PM_TMR, 4);
  g_assert_cmpuint (copy_timer, >=, saved_timer);
  g_assert_cmpuint (copy_timer, <, pm_read (f, PM_TMR, 4));
  /* Acknowledging the press drops the line. */
  pm_write (&copy, PM1_STS, 2, PWRBTN);
  g_assert_false (sci (&copy));
  fixture_teardown (&copy, NULL);
}

/* A state with any field out of range is refused as a whole: the block keeps what it had. */
static void
test_load_bad_state (Fixture *f, gconstpointer data)
{
  static const struct
  {
    const char *key;
    const char *value;
  } bad[] = {
    { "pm1-status", "uint16 0x0002" },  { "pm1-enable", "uint16 0x8000" },
    { "pm1-control", "uint16 0x2000" }, { "timer-ticks", "uint64 0xffffffffffffffff" },
    { "pm1-enable", "uint32 0x100" },
  };
  g_autoptr (GVariant) good = NULL;

  good = g_variant_ref_sink (hv_acpi_pm_save_state (f->pm));
  pm_write (f, PM1_EN, 2, PWRBTN);
  for (gsize i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autoptr (GError) error = NULL;
      g_autoptr (GVariant) state = vireo_test_state_spoiled (good, bad[i].key, bad[i].value);

      g_assert_false (hv_acpi_pm_load_state (f->pm, state, &error));
      g_assert_error (error, HV_ERROR, HV_ERROR_BAD_IMAGE);
      g_assert_nonnull (strstr (error->message, "ACPI"));
      g_assert_cmphex (pm_read (f, PM1_EN, 2), ==, PWRBTN);
    }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

#define ADD(path, fn) g_test_add ("/acpi-pm/" path, Fixture, NULL, fixture_setup, fn, fixture_teardown)
  ADD ("power-button", test_power_button);
  ADD ("sleep-states", test_sleep_states);
  ADD ("s5-byte-write", test_s5_byte_write);
  ADD ("reset-register", test_reset_register);
  ADD ("pm-timer", test_pm_timer);
  ADD ("garbage", test_garbage);
  ADD ("save-load", test_save_load);
  ADD ("load-bad-state", test_load_bad_state);
#undef ADD

  return g_test_run ();
}
