/* rtc.c — the MC146818 CMOS clock: time and date from the host's clock (UTC) plus a guest-set offset,
 * CMOS memory with the BIOS memory-size bytes, the periodic, alarm and update-ended interrupts, and the
 * saved state (which keeps the offset, so a restored guest's clock goes on following wall time).
 *
 * The clock is never stored as register values: reads compute them from the host's real-time clock,
 * so UIP and the update-ended flag follow real seconds.  Flags are brought up to date lazily on every
 * access; a timer thread, started the first time the guest enables an interrupt, raises IRQ 8 on
 * time.  Setting the time without the SET bit applies each register at once (a date briefly invalid
 * between two writes is normalised); the divider bits of register A are stored but do not stop the
 * clock; writes to the day of the week are ignored because it is derived from the date. */
#include "devices.h"
#include "device.h"
#include "layout.h"
#include "state.h"

#include <string.h>
#include <time.h>

#define REG_SECONDS       0x00
#define REG_SECONDS_ALARM 0x01
#define REG_MINUTES       0x02
#define REG_MINUTES_ALARM 0x03
#define REG_HOURS         0x04
#define REG_HOURS_ALARM   0x05
#define REG_DAY_OF_WEEK   0x06
#define REG_DAY_OF_MONTH  0x07
#define REG_MONTH         0x08
#define REG_YEAR          0x09
#define REG_A             0x0a
#define REG_B             0x0b
#define REG_C             0x0c
#define REG_D             0x0d
#define REG_CENTURY       HV_RTC_CENTURY

#define A_UIP       0x80
#define B_SET       0x80
#define B_PIE       0x40
#define B_AIE       0x20
#define B_UIE       0x10
#define B_BINARY    0x04
#define B_24H       0x02
#define C_IRQF      0x80
#define C_PF        0x40
#define C_AF        0x20
#define C_UF        0x10
#define D_VRT       0x80
#define IRQ_SOURCES (C_PF | C_AF | C_UF) /* same bit positions as the enables in register B */

#define ALARM_DONT_CARE 0xc0

/* Beyond what the guest can set (year 0 to 25599 through the registers); keeps all sums in range. */
#define OFFSET_USEC_MAX (G_GINT64_CONSTANT (1000000000000000000))
#define FROZEN_YEAR_MAX 40000

#define USEC_PER_SEC G_USEC_PER_SEC
#define UIP_USEC     244 /* UIP is set this long before each update */
#define CMOS_SIZE    128

typedef struct
{
  int sec;
  int min;
  int hour;
  int mday;
  int mon; /* 1..12 */
  int year;
} RtcTime;

struct _HvRtc
{
  GMutex lock;
  GCond changed;
  const HvPlatform *platform;

  uint8_t cmos[CMOS_SIZE]; /* memory bytes and the alarm registers; time registers are computed */
  uint8_t index;
  uint8_t reg_a;
  uint8_t reg_b;
  uint8_t reg_c; /* PF, AF, UF; IRQF is derived */

  int64_t offset_usec;   /* guest time = host real time + offset */
  RtcTime frozen;        /* the time while SET holds the clock */
  int64_t last_update;   /* the guest second whose update was last accounted */
  int64_t last_periodic; /* the last periodic tick accounted */
  gboolean irq_level;

  GThread *timer;
  gboolean stopping;
};

static int64_t
floor_div (int64_t a, int64_t b)
{
  int64_t q = a / b;
  return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

static int64_t
floor_mod (int64_t a, int64_t b)
{
  return a - floor_div (a, b) * b;
}

static int64_t
guest_usec (HvRtc *rtc, int64_t host_usec)
{
  return host_usec + rtc->offset_usec;
}

static int64_t
guest_second (HvRtc *rtc, int64_t host_usec)
{
  return floor_div (guest_usec (rtc, host_usec), USEC_PER_SEC);
}

static RtcTime
time_from_seconds (int64_t seconds)
{
  time_t t = (time_t) seconds;
  struct tm tm;
  RtcTime rt = { 0, 0, 0, 1, 1, 1970 };

  if (gmtime_r (&t, &tm) == NULL)
    return rt;
  rt.sec = tm.tm_sec;
  rt.min = tm.tm_min;
  rt.hour = tm.tm_hour;
  rt.mday = tm.tm_mday;
  rt.mon = tm.tm_mon + 1;
  rt.year = tm.tm_year + 1900;
  return rt;
}

/* Out-of-range fields roll over into the next ones, as timegm does. */
static int64_t
seconds_from_time (const RtcTime *rt)
{
  struct tm tm = {
    .tm_sec = rt->sec,
    .tm_min = rt->min,
    .tm_hour = rt->hour,
    .tm_mday = rt->mday,
    .tm_mon = rt->mon - 1,
    .tm_year = rt->year - 1900,
  };
  return (int64_t) timegm (&tm);
}

static RtcTime
current_time_locked (HvRtc *rtc, int64_t host_usec)
{
  if (rtc->reg_b & B_SET)
    return rtc->frozen;
  return time_from_seconds (guest_second (rtc, host_usec));
}

static uint8_t
encode (HvRtc *rtc, int value)
{
  value = (int) floor_mod (value, 100);
  if (rtc->reg_b & B_BINARY)
    return (uint8_t) value;
  return (uint8_t) (((value / 10) << 4) | (value % 10));
}

static int
decode (HvRtc *rtc, uint8_t value)
{
  if (rtc->reg_b & B_BINARY)
    return value;
  return (value >> 4) * 10 + (value & 0x0f);
}

static uint8_t
encode_hour (HvRtc *rtc, int hour)
{
  int hour12;

  if (rtc->reg_b & B_24H)
    return encode (rtc, hour);
  hour12 = hour % 12 == 0 ? 12 : hour % 12;
  return encode (rtc, hour12) | (hour >= 12 ? 0x80 : 0);
}

static int
decode_hour (HvRtc *rtc, uint8_t value)
{
  int hour;

  if (rtc->reg_b & B_24H)
    return decode (rtc, value);
  hour = decode (rtc, value & 0x7f);
  if (hour == 12)
    hour = 0;
  return (value & 0x80) ? hour + 12 : hour;
}

static int64_t
periodic_usec (HvRtc *rtc)
{
  unsigned rate = rtc->reg_a & 0x0f;

  if (rate == 0)
    return 0;
  /* Rates 1 and 2 repeat 7 and 8 (256 and 128 Hz), as on the original part. */
  if (rate < 3)
    rate += 7;
  /* 32768 Hz >> (rate - 1): from 122 us (rate 3) to 500 ms (rate 15). */
  return ((int64_t) USEC_PER_SEC << (rate - 1)) / 32768;
}

static gboolean
alarm_matches (HvRtc *rtc, int64_t second)
{
  int64_t of_day = floor_mod (second, 86400);
  uint8_t now[3] = {
    encode (rtc, (int) (of_day % 60)),
    encode (rtc, (int) (of_day / 60 % 60)),
    encode_hour (rtc, (int) (of_day / 3600)),
  };
  const uint8_t alarm[3] = {
    rtc->cmos[REG_SECONDS_ALARM],
    rtc->cmos[REG_MINUTES_ALARM],
    rtc->cmos[REG_HOURS_ALARM],
  };

  for (unsigned i = 0; i < 3; i++)
    if ((alarm[i] & ALARM_DONT_CARE) != ALARM_DONT_CARE && alarm[i] != now[i])
      return FALSE;
  return TRUE;
}

static void
update_irq_locked (HvRtc *rtc)
{
  gboolean level = (rtc->reg_c & rtc->reg_b & IRQ_SOURCES) != 0;

  if (level == rtc->irq_level)
    return;
  rtc->irq_level = level;
  hv_platform_set_irq (rtc->platform, HV_IRQ_RTC, level);
}

/* Sets the flags of every update, alarm and periodic tick that happened since the last look. */
static void
account_locked (HvRtc *rtc, int64_t host_usec)
{
  int64_t second = guest_second (rtc, host_usec);
  int64_t period = periodic_usec (rtc);

  if (rtc->reg_b & B_SET)
    rtc->last_update = second; /* no updates while the clock is held */
  else if (second < rtc->last_update)
    rtc->last_update = second; /* the host's clock went back */
  else if (second > rtc->last_update)
    {
      rtc->reg_c |= C_UF;
      /* An alarm repeats at least daily, so one day of seconds is enough to look at. */
      for (int64_t s = MAX (rtc->last_update + 1, second - 86399); s <= second; s++)
        if (alarm_matches (rtc, s))
          {
            rtc->reg_c |= C_AF;
            break;
          }
      rtc->last_update = second;
    }

  if (period > 0)
    {
      int64_t tick = floor_div (host_usec, period);
      if (tick > rtc->last_periodic)
        rtc->reg_c |= C_PF;
      rtc->last_periodic = tick;
    }

  update_irq_locked (rtc);
}

/* Makes @rt the current time; the new second starts now. */
static void
set_time_locked (HvRtc *rtc, const RtcTime *rt, int64_t host_usec)
{
  int64_t seconds = seconds_from_time (rt);

  rtc->offset_usec = seconds * USEC_PER_SEC - host_usec;
  rtc->last_update = seconds;
}

static void
write_time_register_locked (HvRtc *rtc, unsigned reg, uint8_t value, int64_t host_usec)
{
  RtcTime rt = current_time_locked (rtc, host_usec);
  int64_t sub_second = floor_mod (guest_usec (rtc, host_usec), USEC_PER_SEC);

  switch (reg)
    {
    case REG_SECONDS:
      rt.sec = decode (rtc, value);
      break;
    case REG_MINUTES:
      rt.min = decode (rtc, value);
      break;
    case REG_HOURS:
      rt.hour = decode_hour (rtc, value);
      break;
    case REG_DAY_OF_MONTH:
      rt.mday = decode (rtc, value);
      break;
    case REG_MONTH:
      rt.mon = decode (rtc, value);
      break;
    case REG_YEAR:
      rt.year = rt.year / 100 * 100 + decode (rtc, value);
      break;
    case REG_CENTURY:
      rt.year = decode (rtc, value) * 100 + rt.year % 100;
      break;
    default:
      return;
    }

  if (rtc->reg_b & B_SET)
    {
      rtc->frozen = rt;
      return;
    }
  /* A running clock keeps its phase within the second. */
  set_time_locked (rtc, &rt, host_usec - sub_second);
}

static void
write_register_b_locked (HvRtc *rtc, uint8_t value, int64_t host_usec)
{
  uint8_t old = rtc->reg_b;

  /* Setting SET also clears UIE. */
  if (value & B_SET)
    value &= ~B_UIE;
  if (!(old & B_SET) && (value & B_SET))
    rtc->frozen = current_time_locked (rtc, host_usec);
  rtc->reg_b = value;
  if ((old & B_SET) && !(value & B_SET))
    set_time_locked (rtc, &rtc->frozen, host_usec);
}

static gpointer timer_thread_main (gpointer data);

static void
ensure_timer_locked (HvRtc *rtc)
{
  g_autoptr (GError) error = NULL;

  if (rtc->timer != NULL || !(rtc->reg_b & (B_PIE | B_AIE | B_UIE)))
    return;
  rtc->timer = g_thread_try_new ("rtc-timer", timer_thread_main, rtc, &error);
  if (rtc->timer == NULL)
    g_warning ("rtc: could not start the timer thread, interrupts arrive only when the guest "
               "looks: %s",
               error->message);
}

static uint8_t
read_register_locked (HvRtc *rtc, unsigned reg, int64_t host_usec)
{
  RtcTime rt;
  uint8_t value;

  switch (reg)
    {
    case REG_SECONDS:
    case REG_MINUTES:
    case REG_HOURS:
    case REG_DAY_OF_WEEK:
    case REG_DAY_OF_MONTH:
    case REG_MONTH:
    case REG_YEAR:
    case REG_CENTURY:
      rt = current_time_locked (rtc, host_usec);
      switch (reg)
        {
        case REG_SECONDS:
          return encode (rtc, rt.sec);
        case REG_MINUTES:
          return encode (rtc, rt.min);
        case REG_HOURS:
          return encode_hour (rtc, rt.hour);
        case REG_DAY_OF_WEEK:
          /* 1 January 1970 was a Thursday; Sunday is 1. */
          return encode (rtc, (int) floor_mod (floor_div (seconds_from_time (&rt), 86400) + 4, 7) + 1);
        case REG_DAY_OF_MONTH:
          return encode (rtc, rt.mday);
        case REG_MONTH:
          return encode (rtc, rt.mon);
        case REG_YEAR:
          return encode (rtc, rt.year % 100);
        default:
          return encode (rtc, rt.year / 100);
        }

    case REG_A:
      value = rtc->reg_a;
      if (!(rtc->reg_b & B_SET)
          && floor_mod (guest_usec (rtc, host_usec), USEC_PER_SEC) >= USEC_PER_SEC - UIP_USEC)
        value |= A_UIP;
      return value;

    case REG_B:
      return rtc->reg_b;

    case REG_C:
      value = rtc->reg_c;
      if (rtc->reg_c & rtc->reg_b & IRQ_SOURCES)
        value |= C_IRQF;
      rtc->reg_c = 0;
      update_irq_locked (rtc);
      /* The timer thread sleeps while the line is high. */
      g_cond_signal (&rtc->changed);
      return value;

    case REG_D:
      return D_VRT;

    default:
      return rtc->cmos[reg];
    }
}

static void
write_register_locked (HvRtc *rtc, unsigned reg, uint8_t value, int64_t host_usec)
{
  switch (reg)
    {
    case REG_SECONDS:
    case REG_MINUTES:
    case REG_HOURS:
    case REG_DAY_OF_MONTH:
    case REG_MONTH:
    case REG_YEAR:
    case REG_CENTURY:
      write_time_register_locked (rtc, reg, value, host_usec);
      break;

    case REG_DAY_OF_WEEK:
      break;

    case REG_A:
      rtc->reg_a = value & ~A_UIP;
      /* Count periodic ticks of the new rate from now on. */
      if (periodic_usec (rtc) > 0)
        rtc->last_periodic = floor_div (host_usec, periodic_usec (rtc));
      break;

    case REG_B:
      write_register_b_locked (rtc, value, host_usec);
      ensure_timer_locked (rtc);
      break;

    case REG_C:
    case REG_D:
      g_debug ("rtc: write 0x%02x to read-only register 0x%02x ignored", value, reg);
      break;

    default:
      rtc->cmos[reg] = value;
      break;
    }

  update_irq_locked (rtc);
  g_cond_signal (&rtc->changed);
}

void
hv_rtc_io (void *opaque, uint64_t offset, uint8_t *data, unsigned len, gboolean is_write)
{
  HvRtc *rtc = opaque;

  /* An 8-bit ISA device: a 16-bit write to the index port sets index and data at once. */
  for (unsigned i = 0; i < len; i++)
    {
      uint64_t port = offset + i;
      int64_t now;

      if (port > 1)
        break;
      if (port == 0)
        {
          /* Bit 7 masks the NMI on a PC; there is no NMI source here.  The index port reads as
           * open bus. */
          if (is_write)
            {
              g_mutex_lock (&rtc->lock);
              rtc->index = data[i] & 0x7f;
              g_mutex_unlock (&rtc->lock);
            }
          continue;
        }

      now = g_get_real_time ();
      g_mutex_lock (&rtc->lock);
      account_locked (rtc, now);
      if (is_write)
        write_register_locked (rtc, rtc->index, data[i], now);
      else
        data[i] = read_register_locked (rtc, rtc->index, now);
      g_mutex_unlock (&rtc->lock);
    }
}

/* The next host time (real-time clock, in us) something can raise the line, or -1 for none. */
static int64_t
next_event_locked (HvRtc *rtc, int64_t host_usec)
{
  int64_t next = -1;
  int64_t period = periodic_usec (rtc);

  /* While the line is high nothing new can be signalled; reading register C wakes us. */
  if (rtc->irq_level)
    return -1;
  if ((rtc->reg_b & (B_UIE | B_AIE)) && !(rtc->reg_b & B_SET))
    next = (guest_second (rtc, host_usec) + 1) * USEC_PER_SEC - rtc->offset_usec;
  if ((rtc->reg_b & B_PIE) && period > 0)
    {
      int64_t tick = (rtc->last_periodic + 1) * period;
      if (next < 0 || tick < next)
        next = tick;
    }
  return next;
}

static gpointer
timer_thread_main (gpointer data)
{
  HvRtc *rtc = data;

  hv_thread_started (HV_THREAD_IO);
  g_mutex_lock (&rtc->lock);
  while (!rtc->stopping)
    {
      int64_t now = g_get_real_time ();
      int64_t next;

      account_locked (rtc, now);
      next = next_event_locked (rtc, now);
      if (next < 0)
        g_cond_wait (&rtc->changed, &rtc->lock);
      else
        g_cond_wait_until (&rtc->changed, &rtc->lock, g_get_monotonic_time () + MAX (next - now, 0));
    }
  g_mutex_unlock (&rtc->lock);
  return NULL;
}

static void
put_word (uint8_t *cmos, unsigned low, uint64_t value)
{
  cmos[low] = (uint8_t) value;
  cmos[low + 1] = (uint8_t) (value >> 8);
}

/* The memory-size bytes a PC BIOS leaves for the OS. */
static void
set_memory_size (HvRtc *rtc, uint64_t ram_size)
{
  uint64_t low = MIN (ram_size, HV_LOW_RAM_MAX);
  uint64_t high = ram_size - low;
  uint64_t extended_kib = low > (1 << 20) ? (low - (1 << 20)) >> 10 : 0;
  uint64_t above_16m = low > (16 << 20) ? (low - (16 << 20)) >> 16 : 0;
  uint64_t above_4g = MIN (high >> 16, 0xffffff);
  unsigned checksum = 0;

  put_word (rtc->cmos, 0x15, 640);
  put_word (rtc->cmos, 0x17, MIN (extended_kib, 0xffff));
  put_word (rtc->cmos, 0x30, MIN (extended_kib, 0xffff));
  put_word (rtc->cmos, 0x34, MIN (above_16m, 0xffff));
  rtc->cmos[0x5b] = (uint8_t) above_4g;
  rtc->cmos[0x5c] = (uint8_t) (above_4g >> 8);
  rtc->cmos[0x5d] = (uint8_t) (above_4g >> 16);

  /* The standard checksum over 0x10..0x2d, big-endian at 0x2e. */
  for (unsigned i = 0x10; i <= 0x2d; i++)
    checksum += rtc->cmos[i];
  rtc->cmos[0x2e] = (uint8_t) (checksum >> 8);
  rtc->cmos[0x2f] = (uint8_t) checksum;
}

HvRtc *
hv_rtc_new (const HvPlatform *platform, uint64_t ram_size)
{
  HvRtc *rtc = g_new0 (HvRtc, 1);
  int64_t now = g_get_real_time ();

  g_mutex_init (&rtc->lock);
  g_cond_init (&rtc->changed);
  rtc->platform = platform;
  rtc->reg_a = 0x26; /* 32.768 kHz time base, 1024 Hz periodic rate */
  rtc->reg_b = B_24H;
  rtc->last_update = guest_second (rtc, now);
  rtc->last_periodic = floor_div (now, periodic_usec (rtc));
  set_memory_size (rtc, ram_size);
  return rtc;
}

void
hv_rtc_free (HvRtc *rtc)
{
  if (rtc == NULL)
    return;
  if (rtc->timer != NULL)
    {
      g_mutex_lock (&rtc->lock);
      rtc->stopping = TRUE;
      g_cond_signal (&rtc->changed);
      g_mutex_unlock (&rtc->lock);
      g_thread_join (rtc->timer);
    }
  g_cond_clear (&rtc->changed);
  g_mutex_clear (&rtc->lock);
  g_free (rtc);
}

GVariant *
hv_rtc_save_state (HvRtc *rtc)
{
  g_auto (GVariantDict) dict = G_VARIANT_DICT_INIT (NULL);
  int64_t now = g_get_real_time ();

  g_return_val_if_fail (rtc != NULL, NULL);

  g_mutex_lock (&rtc->lock);
  /* Flags due by now belong in the state. */
  account_locked (rtc, now);
  g_variant_dict_insert_value (&dict, "cmos", hv_state_new_bytes (rtc->cmos, sizeof rtc->cmos));
  g_variant_dict_insert (&dict, "index", "y", rtc->index);
  g_variant_dict_insert (&dict, "reg-a", "y", rtc->reg_a);
  g_variant_dict_insert (&dict, "reg-b", "y", rtc->reg_b);
  g_variant_dict_insert (&dict, "reg-c", "y", rtc->reg_c);
  /* The offset, not the time: the guest's clock goes on with wall time while the VM is saved. */
  g_variant_dict_insert (&dict, "offset-usec", "x", rtc->offset_usec);
  g_variant_dict_insert (&dict, "frozen-time", "(iiiiii)", rtc->frozen.year, rtc->frozen.mon,
                         rtc->frozen.mday, rtc->frozen.hour, rtc->frozen.min, rtc->frozen.sec);
  g_mutex_unlock (&rtc->lock);
  return g_variant_dict_end (&dict);
}

gboolean
hv_rtc_load_state (HvRtc *rtc, GVariant *state, GError **error)
{
  const char *what = "the RTC";
  g_autoptr (GVariant) frozen_value = NULL;
  uint8_t cmos[CMOS_SIZE];
  uint8_t index, reg_a, reg_b, reg_c;
  int64_t offset_usec;
  RtcTime frozen;
  int64_t now;

  g_return_val_if_fail (rtc != NULL, FALSE);
  g_return_val_if_fail (state != NULL, FALSE);

  if (!hv_state_get_bytes (state, what, "cmos", cmos, sizeof cmos, sizeof cmos, NULL, error)
      || !hv_state_get_max (state, what, "index", "y", CMOS_SIZE - 1, &index, error)
      || !hv_state_get (state, what, "reg-a", "y", &reg_a, error)
      || !hv_state_get (state, what, "reg-b", "y", &reg_b, error)
      || !hv_state_get (state, what, "reg-c", "y", &reg_c, error)
      || !hv_state_get (state, what, "offset-usec", "x", &offset_usec, error))
    return FALSE;
  frozen_value = hv_state_lookup (state, what, "frozen-time", G_VARIANT_TYPE ("(iiiiii)"), error);
  if (frozen_value == NULL)
    return FALSE;
  g_variant_get (frozen_value, "(iiiiii)", &frozen.year, &frozen.mon, &frozen.mday, &frozen.hour, &frozen.min,
                 &frozen.sec);
  if ((reg_a & A_UIP) || (reg_c & ~IRQ_SOURCES))
    {
      hv_state_set_bad (error, what, "status register bits are set that only the clock sets");
      return FALSE;
    }
  if (offset_usec > OFFSET_USEC_MAX || offset_usec < -OFFSET_USEC_MAX)
    {
      hv_state_set_bad (error, what, "the clock is set %" G_GINT64_FORMAT " s away from the host's",
                        offset_usec / USEC_PER_SEC);
      return FALSE;
    }
  /* The held time comes from register writes, each field one decoded byte. */
  if (frozen.year < 0 || frozen.year > FROZEN_YEAR_MAX || frozen.mon < 0 || frozen.mon > 0xff
      || frozen.mday < 0 || frozen.mday > 0xff || frozen.hour < 0 || frozen.hour > 0xff || frozen.min < 0
      || frozen.min > 0xff || frozen.sec < 0 || frozen.sec > 0xff)
    {
      hv_state_set_bad (error, what, "the held time is out of range");
      return FALSE;
    }

  now = g_get_real_time ();
  g_mutex_lock (&rtc->lock);
  memcpy (rtc->cmos, cmos, sizeof cmos);
  rtc->index = index;
  rtc->reg_a = reg_a;
  rtc->reg_b = reg_b;
  rtc->reg_c = reg_c;
  rtc->offset_usec = offset_usec;
  rtc->frozen = frozen;
  /* Updates and ticks are counted from now; flags still pending came with register C. */
  rtc->last_update = guest_second (rtc, now);
  if (periodic_usec (rtc) > 0)
    rtc->last_periodic = floor_div (now, periodic_usec (rtc));
  /* The line of a new machine is low: raise it again if an interrupt is pending. */
  rtc->irq_level = FALSE;
  update_irq_locked (rtc);
  ensure_timer_locked (rtc);
  g_cond_signal (&rtc->changed);
  g_mutex_unlock (&rtc->lock);
  return TRUE;
}

/* The "rtc" kind: the PC's one CMOS clock. */

static gboolean
rtc_realize (HvDevice *device, GError **error)
{
  if (!hv_device_claim_gsi (device, HV_IRQ_RTC, error))
    return FALSE;
  device->impl = hv_rtc_new (hv_device_get_platform (device), hv_device_get_ram_size (device));
  return hv_device_claim_pio (device, HV_PORT_RTC, 2, hv_rtc_io, device->impl, error);
}

static void
rtc_teardown (HvDevice *device)
{
  hv_rtc_free (device->impl);
}

static GVariant *
rtc_save (HvDevice *device)
{
  return hv_rtc_save_state (device->impl);
}

static gboolean
rtc_load (HvDevice *device, GVariant *state, unsigned version, GError **error)
{
  return hv_rtc_load_state (device->impl, state, error);
}

const HvDeviceKind hv_rtc_kind = {
  .info = &hv_kind_info_rtc,
  .order = HV_DEVICE_ORDER_PLATFORM,
  .state_version = 1,
  .realize = rtc_realize,
  .teardown = rtc_teardown,
  .save = rtc_save,
  .load = rtc_load,
};
