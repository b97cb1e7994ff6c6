/* acpi-pm.c — the ACPI PM1 event and control registers, the PM timer and the reset register at
 * HV_PORT_ACPI_PM, the SCI they drive, and their saved state.
 *
 * The machine is always in ACPI mode (SCI_EN reads 1; there is no SMI command port).  Sleep states
 * other than S5 are not supported and ignored.  The timer is 32 bits wide (the FADT's TMR_VAL_EXT);
 * TMR_STS is set when bit 31 flips, checked whenever the guest touches the block rather than at the
 * exact instant. */
#include "devices.h"
#include "device.h"
#include "layout.h"
#include "state.h"

#include <time.h>

/* Offsets within the block. */
#define OFF_PM1_STS 0x0
#define OFF_PM1_EN  0x2
#define OFF_PM1_CNT 0x4
#define OFF_PM_TMR  0x8
#define OFF_RESET   0xc
#define BLOCK_LEN   HV_PORT_ACPI_PM_LEN

#define STS_TMR     0x0001
#define STS_PWRBTN  0x0100
#define STS_WAK     0x8000
#define STS_MASK    (STS_TMR | STS_PWRBTN | STS_WAK)
#define EN_TMR      0x0001
#define EN_PWRBTN   0x0100
#define EN_MASK     0x0721 /* TMR, GBL, PWRBTN, SLPBTN, RTC */
#define SCI_SOURCES (STS_TMR | STS_PWRBTN)

#define CNT_SCI_EN     0x0001
#define CNT_GBL_RLS    0x0004 /* write-only */
#define CNT_SLP_TYP(v) (((v) >> 10) & 7)
#define CNT_SLP_EN     0x2000 /* write-only */
#define CNT_STORED     0x1c03 /* SCI_EN, BM_RLD, SLP_TYP */

#define PM_TIMER_HZ     3579545
#define TIMER_TICKS_MAX (G_GUINT64_CONSTANT (1) << 62) /* 40,000 years, and no overflow converting */

struct _HvAcpiPm
{
  GMutex lock;
  const HvPlatform *platform;
  uint16_t sts;
  uint16_t en;
  uint16_t cnt;
  uint64_t timer_base_ns;
  uint64_t timer_wraps; /* how many times bit 31 had flipped at the last look */
  gboolean sci_level;
};

static uint64_t
monotonic_ns (void)
{
  struct timespec ts;

  clock_gettime (CLOCK_MONOTONIC, &ts);
  return (uint64_t) ts.tv_sec * G_GUINT64_CONSTANT (1000000000) + (uint64_t) ts.tv_nsec;
}

/* Timer ticks since the device was created, as a 64-bit count. */
static uint64_t
timer_ticks (HvAcpiPm *pm)
{
  uint64_t ns = monotonic_ns () - pm->timer_base_ns;
  uint64_t seconds = ns / 1000000000u;
  uint64_t rest = ns % 1000000000u;

  /* Split so the product cannot overflow however long the VM runs. */
  return seconds * PM_TIMER_HZ + rest * PM_TIMER_HZ / 1000000000u;
}

static void
update_sci_locked (HvAcpiPm *pm)
{
  gboolean level = (pm->sts & pm->en & SCI_SOURCES) != 0;

  if (level == pm->sci_level)
    return;
  pm->sci_level = level;
  hv_platform_set_irq (pm->platform, HV_IRQ_SCI, level);
}

static uint32_t
read_timer_locked (HvAcpiPm *pm)
{
  uint64_t ticks = timer_ticks (pm);
  uint64_t wraps = ticks >> 31;

  if (wraps != pm->timer_wraps)
    {
      pm->timer_wraps = wraps;
      pm->sts |= STS_TMR;
      update_sci_locked (pm);
    }
  return (uint32_t) ticks;
}

/* Handles a write of @value to the 16-bit register at @reg, of which only the bytes in @byte_mask were
 * written.  Returns the exit the guest asked for, or HV_EXIT_NONE. */
static HvExitReason
write_register_locked (HvAcpiPm *pm, unsigned reg, uint16_t value, uint16_t byte_mask)
{
  switch (reg)
    {
    case OFF_PM1_STS:
      pm->sts &= ~(value & byte_mask & STS_MASK);
      break;

    case OFF_PM1_EN:
      pm->en = (pm->en & ~byte_mask) | (value & byte_mask & EN_MASK);
      break;

    case OFF_PM1_CNT:
      pm->cnt = (pm->cnt & ~byte_mask) | (value & byte_mask & CNT_STORED);
      if ((byte_mask & 0xff00) && (value & CNT_SLP_EN))
        {
          unsigned type = CNT_SLP_TYP (pm->cnt);
          if (type == HV_ACPI_SLP_TYP_S5)
            return HV_EXIT_POWER_OFF;
          g_debug ("acpi-pm: sleep type %u is not supported, ignored", type);
        }
      break;

    case OFF_RESET:
      if ((byte_mask & 0x00ff) && (value & 0xff) == HV_ACPI_RESET_VALUE)
        return HV_EXIT_RESET;
      break;

    default:
      /* PM_TMR is read-only; the gaps are reserved. */
      break;
    }
  return HV_EXIT_NONE;
}

void
hv_acpi_pm_io (void *opaque, uint64_t offset, uint8_t *data, unsigned len, gboolean is_write)
{
  HvAcpiPm *pm = opaque;
  HvExitReason exit_reason = HV_EXIT_NONE;

  if (offset >= BLOCK_LEN)
    return;
  len = (unsigned) MIN (len, BLOCK_LEN - offset);

  g_mutex_lock (&pm->lock);
  if (!is_write)
    {
      /* Build the whole block once so a wide read sees one consistent snapshot. */
      uint8_t block[BLOCK_LEN] = { 0 };
      uint16_t cnt = pm->cnt | CNT_SCI_EN;
      uint32_t timer = read_timer_locked (pm);

      block[OFF_PM1_STS] = (uint8_t) pm->sts;
      block[OFF_PM1_STS + 1] = (uint8_t) (pm->sts >> 8);
      block[OFF_PM1_EN] = (uint8_t) pm->en;
      block[OFF_PM1_EN + 1] = (uint8_t) (pm->en >> 8);
      block[OFF_PM1_CNT] = (uint8_t) cnt;
      block[OFF_PM1_CNT + 1] = (uint8_t) (cnt >> 8);
      for (unsigned i = 0; i < 4; i++)
        block[OFF_PM_TMR + i] = (uint8_t) (timer >> (8 * i));
      for (unsigned i = 0; i < len; i++)
        data[i] = block[offset + i];
    }
  else
    {
      /* Group the written bytes by the 16-bit register they belong to, so SLP_TYP and SLP_EN written
       * together, or a 32-bit write covering PM1_STS and PM1_EN, each act once. */
      for (unsigned reg = (unsigned) offset & ~1u; reg < offset + len; reg += 2)
        {
          uint16_t value = 0;
          uint16_t byte_mask = 0;
          HvExitReason reason;

          for (unsigned b = 0; b < 2; b++)
            if (reg + b >= offset && reg + b < offset + len)
              {
                value |= (uint16_t) (data[reg + b - offset] << (8 * b));
                byte_mask |= (uint16_t) (0xff << (8 * b));
              }
          reason = write_register_locked (pm, reg, value, byte_mask);
          if (exit_reason == HV_EXIT_NONE)
            exit_reason = reason;
        }
      read_timer_locked (pm); /* catch up on TMR_STS before deciding the SCI level */
    }
  update_sci_locked (pm);
  g_mutex_unlock (&pm->lock);

  if (exit_reason == HV_EXIT_POWER_OFF)
    hv_platform_request_exit (pm->platform, HV_EXIT_POWER_OFF, "the guest powered off (ACPI S5)");
  else if (exit_reason == HV_EXIT_RESET)
    hv_platform_request_exit (pm->platform, HV_EXIT_RESET,
                              "the guest reset the machine through the ACPI reset register");
}

void
hv_acpi_pm_press_power_button (HvAcpiPm *pm)
{
  g_return_if_fail (pm != NULL);

  g_mutex_lock (&pm->lock);
  pm->sts |= STS_PWRBTN;
  update_sci_locked (pm);
  g_mutex_unlock (&pm->lock);
}

HvAcpiPm *
hv_acpi_pm_new (const HvPlatform *platform)
{
  HvAcpiPm *pm = g_new0 (HvAcpiPm, 1);

  g_mutex_init (&pm->lock);
  pm->platform = platform;
  pm->timer_base_ns = monotonic_ns ();
  return pm;
}

void
hv_acpi_pm_free (HvAcpiPm *pm)
{
  if (pm == NULL)
    return;
  g_mutex_clear (&pm->lock);
  g_free (pm);
}

GVariant *
hv_acpi_pm_save_state (HvAcpiPm *pm)
{
  g_auto (GVariantDict) dict = G_VARIANT_DICT_INIT (NULL);

  g_return_val_if_fail (pm != NULL, NULL);

  g_mutex_lock (&pm->lock);
  read_timer_locked (pm); /* a TMR_STS due by now belongs in the state */
  g_variant_dict_insert (&dict, "pm1-status", "q", pm->sts);
  g_variant_dict_insert (&dict, "pm1-enable", "q", pm->en);
  g_variant_dict_insert (&dict, "pm1-control", "q", pm->cnt);
  /* The count, not the time base: the timer stands still while the VM is saved, like the guest's TSC. */
  g_variant_dict_insert (&dict, "timer-ticks", "t", (guint64) timer_ticks (pm));
  g_mutex_unlock (&pm->lock);
  return g_variant_dict_end (&dict);
}

gboolean
hv_acpi_pm_load_state (HvAcpiPm *pm, GVariant *state, GError **error)
{
  const char *what = "the ACPI PM registers";
  uint16_t sts, en, cnt;
  uint64_t ticks;
  uint64_t ticks_ns;

  g_return_val_if_fail (pm != NULL, FALSE);
  g_return_val_if_fail (state != NULL, FALSE);

  if (!hv_state_get (state, what, "pm1-status", "q", &sts, error)
      || !hv_state_get (state, what, "pm1-enable", "q", &en, error)
      || !hv_state_get (state, what, "pm1-control", "q", &cnt, error)
      || !hv_state_get_max (state, what, "timer-ticks", "t", TIMER_TICKS_MAX, &ticks, error))
    return FALSE;
  if ((sts & ~STS_MASK) || (en & ~EN_MASK) || (cnt & ~CNT_STORED))
    {
      hv_state_set_bad (error, what, "bits are set that the registers do not have");
      return FALSE;
    }

  /* Rounded up, so the timer never reads less than it did when saved. */
  ticks_ns = ticks / PM_TIMER_HZ * G_GUINT64_CONSTANT (1000000000)
             + ((ticks % PM_TIMER_HZ) * G_GUINT64_CONSTANT (1000000000) + PM_TIMER_HZ - 1) / PM_TIMER_HZ;
  g_mutex_lock (&pm->lock);
  pm->sts = sts;
  pm->en = en;
  pm->cnt = cnt;
  /* Unsigned arithmetic: a base "before boot" wraps, and timer_ticks() wraps back. */
  pm->timer_base_ns = monotonic_ns () - ticks_ns;
  pm->timer_wraps = ticks >> 31;
  /* The line of a new machine is low: raise it again if an event is pending. */
  pm->sci_level = FALSE;
  update_sci_locked (pm);
  g_mutex_unlock (&pm->lock);
  return TRUE;
}

/* The "acpi-pm" kind: the one PM block the FADT points to. */

static gboolean
acpi_pm_realize (HvDevice *device, GError **error)
{
  if (!hv_device_claim_gsi (device, HV_IRQ_SCI, error))
    return FALSE;
  device->impl = hv_acpi_pm_new (hv_device_get_platform (device));
  return hv_device_claim_pio (device, HV_PORT_ACPI_PM, HV_PORT_ACPI_PM_LEN, hv_acpi_pm_io, device->impl,
                              error);
}

static void
acpi_pm_teardown (HvDevice *device)
{
  hv_acpi_pm_free (device->impl);
}

static GVariant *
acpi_pm_save (HvDevice *device)
{
  return hv_acpi_pm_save_state (device->impl);
}

static gboolean
acpi_pm_load (HvDevice *device, GVariant *state, unsigned version, GError **error)
{
  return hv_acpi_pm_load_state (device->impl, state, error);
}

const HvDeviceKind hv_acpi_pm_kind = {
  .info = &hv_kind_info_acpi_pm,
  .order = HV_DEVICE_ORDER_PLATFORM,
  .state_version = 1,
  .realize = acpi_pm_realize,
  .teardown = acpi_pm_teardown,
  .save = acpi_pm_save,
  .load = acpi_pm_load,
};
