/* test-rtc.c — the CMOS clock through ports 0x70/0x71: time as Linux reads and sets it, UIP, the
 * interrupts a guest waits for, the BIOS memory-size bytes, and garbage. */
#include "devices.h"
#include "layout.h"
#include "test-util.h"

#include <string.h>
#include <time.h>

typedef struct
{
  VireoTestPlatform tp;
  HvRtc *rtc;
} Fixture;

static void
fixture_setup (Fixture *f, gconstpointer data)
{
  vireo_test_platform_init (&f->tp);
  f->rtc = hv_rtc_new (&f->tp.platform, 128 << 20);
}

static void
fixture_teardown (Fixture *f, gconstpointer data)
{
  hv_rtc_free (f->rtc);
  vireo_test_platform_clear (&f->tp);
}

static uint8_t
cmos_read (HvRtc *rtc, uint8_t index)
{
  uint8_t value = 0xff;
  /* Bit 7 of the index masks the NMI, as Linux's CMOS_READ leaves it set on some paths. */
  index |= 0x80;
  hv_rtc_io (rtc, 0, &index, 1, TRUE);
  hv_rtc_io (rtc, 1, &value, 1, FALSE);
  return value;
}

static void
cmos_write (HvRtc *rtc, uint8_t index, uint8_t value)
{
  hv_rtc_io (rtc, 0, &index, 1, TRUE);
  hv_rtc_io (rtc, 1, &value, 1, TRUE);
}

static int
bcd (uint8_t value)
{
  return (value >> 4) * 10 + (value & 0x0f);
}

static uint8_t
to_bcd (int value)
{
  return (uint8_t) (((value / 10) << 4) | (value % 10));
}

/* mc146818_get_time(): wait out UIP, read every field, retry if an update started meanwhile. */
static int64_t
read_clock (HvRtc *rtc)
{
  for (unsigned attempt = 0; attempt < 1000; attempt++)
    {
      uint8_t sec, min, hour, mday, mon, year, century, reg_b;
      gboolean binary;
      struct tm tm = { 0 };
      int h;

      if (cmos_read (rtc, 0x0a) & 0x80)
        {
          g_usleep (100);
          continue;
        }
      sec = cmos_read (rtc, 0x00);
      min = cmos_read (rtc, 0x02);
      hour = cmos_read (rtc, 0x04);
      mday = cmos_read (rtc, 0x07);
      mon = cmos_read (rtc, 0x08);
      year = cmos_read (rtc, 0x09);
      century = cmos_read (rtc, 0x32);
      reg_b = cmos_read (rtc, 0x0b);
      if ((cmos_read (rtc, 0x0a) & 0x80) || cmos_read (rtc, 0x00) != sec)
        continue;

      binary = (reg_b & 0x04) != 0;
#define FIELD(v) (binary ? (v) : bcd (v))
      h = FIELD (hour & 0x7f);
      if (!(reg_b & 0x02))
        h = h % 12 + ((hour & 0x80) ? 12 : 0);
      tm.tm_sec = FIELD (sec);
      tm.tm_min = FIELD (min);
      tm.tm_hour = h;
      tm.tm_mday = FIELD (mday);
      tm.tm_mon = FIELD (mon) - 1;
      tm.tm_year = FIELD (century) * 100 + FIELD (year) - 1900;
#undef FIELD
      return (int64_t) timegm (&tm);
    }
  g_assert_not_reached ();
}

static void
test_read_time (Fixture *f, gconstpointer data)
{
  HvRtc *rtc = f->rtc;
  time_t now = time (NULL);
  struct tm tm;

  /* Power-on defaults: BCD, 24 hours, divider running, valid RAM and time. */
  g_assert_cmphex (cmos_read (rtc, 0x0b), ==, 0x02);
  g_assert_cmphex (cmos_read (rtc, 0x0a) & 0x7f, ==, 0x26);
  g_assert_cmphex (cmos_read (rtc, 0x0d), ==, 0x80);

  g_assert_cmpint (read_clock (rtc), >=, (int64_t) now - 2);
  g_assert_cmpint (read_clock (rtc), <=, (int64_t) time (NULL) + 2);

  /* Day of the week counts from Sunday = 1. */
  now = time (NULL);
  gmtime_r (&now, &tm);
  if (tm.tm_hour != 23 || tm.tm_min != 59)
    g_assert_cmpint (bcd (cmos_read (rtc, 0x06)), ==, tm.tm_wday + 1);

  /* Binary mode, then 12-hour mode: the same time in other encodings. */
  cmos_write (rtc, 0x0b, 0x06);
  g_assert_cmpint (read_clock (rtc), >=, (int64_t) time (NULL) - 2);
  g_assert_cmpint (read_clock (rtc), <=, (int64_t) time (NULL) + 2);
  cmos_write (rtc, 0x0b, 0x00);
  g_assert_cmpint (read_clock (rtc), >=, (int64_t) time (NULL) - 2);
  g_assert_cmpint (read_clock (rtc), <=, (int64_t) time (NULL) + 2);
  g_assert_cmpuint (f->tp.irq_raises[HV_IRQ_RTC], ==, 0);
}

static void
test_uip (Fixture *f, gconstpointer data)
{
  /* Generous: a busy host may deschedule this loop across a few 244 us windows. */
  gint64 deadline = g_get_monotonic_time () + 10 * G_USEC_PER_SEC;
  gboolean seen_set = FALSE;
  gboolean seen_clear_after = FALSE;
  uint8_t sec_during = 0;

  /* A polling loop must see UIP come and go within a second or so, and the seconds move on after it. */
  while (g_get_monotonic_time () < deadline && !seen_clear_after)
    {
      gboolean uip = (cmos_read (f->rtc, 0x0a) & 0x80) != 0;
      if (uip && !seen_set)
        {
          seen_set = TRUE;
          sec_during = cmos_read (f->rtc, 0x00);
        }
      else if (!uip && seen_set)
        seen_clear_after = TRUE;
    }
  g_assert_true (seen_set);
  g_assert_true (seen_clear_after);
  g_assert_cmphex (cmos_read (f->rtc, 0x00), !=, sec_during);
}

static void
test_set_time (Fixture *f, gconstpointer data)
{
  HvRtc *rtc = f->rtc;
  struct tm tm = {
    .tm_year = 2001 - 1900, .tm_mon = 1, .tm_mday = 3, .tm_hour = 16, .tm_min = 5, .tm_sec = 6
  };
  int64_t target = (int64_t) timegm (&tm);
  uint8_t held;

  /* mc146818_set_time(): SET, divider reset, fields, then release. */
  cmos_write (rtc, 0x0b, 0x02 | 0x80 | 0x10);
  g_assert_cmphex (cmos_read (rtc, 0x0b), ==, 0x82); /* SET clears UIE */
  cmos_write (rtc, 0x0a, 0x70 | 0x06);
  cmos_write (rtc, 0x09, 0x01);
  cmos_write (rtc, 0x08, 0x02);
  cmos_write (rtc, 0x07, 0x03);
  cmos_write (rtc, 0x04, 0x16);
  cmos_write (rtc, 0x02, 0x05);
  cmos_write (rtc, 0x00, 0x06);
  cmos_write (rtc, 0x32, 0x20);

  /* While SET holds, the clock stands still and no update is in progress. */
  held = cmos_read (rtc, 0x00);
  g_assert_cmphex (held, ==, 0x06);
  g_usleep (1100 * 1000);
  g_assert_cmphex (cmos_read (rtc, 0x00), ==, 0x06);
  g_assert_cmphex (cmos_read (rtc, 0x0a) & 0x80, ==, 0);

  cmos_write (rtc, 0x0a, 0x26);
  cmos_write (rtc, 0x0b, 0x02);
  g_assert_cmpint (read_clock (rtc), >=, target);
  g_assert_cmpint (read_clock (rtc), <=, target + 2);
  g_assert_cmphex (cmos_read (rtc, 0x06), ==, 0x07); /* 3 February 2001 was a Saturday */

  /* 12-hour binary mode: 11 PM on 31 December 2099, then the clock rolls into the next century. */
  cmos_write (rtc, 0x0b, 0x80 | 0x04);
  cmos_write (rtc, 0x32, 20);
  cmos_write (rtc, 0x09, 99);
  cmos_write (rtc, 0x08, 12);
  cmos_write (rtc, 0x07, 31);
  cmos_write (rtc, 0x04, 0x80 | 11);
  cmos_write (rtc, 0x02, 59);
  cmos_write (rtc, 0x00, 59);
  cmos_write (rtc, 0x0b, 0x04);
  g_assert_cmphex (cmos_read (rtc, 0x04), ==, 0x80 | 11);
  g_usleep (1200 * 1000);
  g_assert_cmphex (cmos_read (rtc, 0x04), ==, 12); /* 12 AM */
  g_assert_cmphex (cmos_read (rtc, 0x09), ==, 0);
  g_assert_cmphex (cmos_read (rtc, 0x32), ==, 21);
  g_assert_cmphex (cmos_read (rtc, 0x08), ==, 1);
  g_assert_cmphex (cmos_read (rtc, 0x07), ==, 1);

  /* Without SET a field takes effect at once. */
  cmos_write (rtc, 0x0b, 0x02);
  cmos_write (rtc, 0x04, to_bcd (5));
  g_assert_cmphex (cmos_read (rtc, 0x04), ==, 0x05);
}

static gboolean
wait_irq (Fixture *f, gint64 timeout_usec)
{
  gint64 deadline = g_get_monotonic_time () + timeout_usec;
  gboolean level = FALSE;

  while (!level && g_get_monotonic_time () < deadline)
    {
      g_mutex_lock (&f->tp.lock);
      level = f->tp.irq_level[HV_IRQ_RTC];
      g_mutex_unlock (&f->tp.lock);
      if (!level)
        g_usleep (1000);
    }
  return level;
}

static void
test_update_interrupt (Fixture *f, gconstpointer data)
{
  HvRtc *rtc = f->rtc;

  cmos_read (rtc, 0x0c);
  cmos_write (rtc, 0x0b, 0x02 | 0x10);
  /* The guest does not touch the RTC while it waits: the interrupt must come by itself. */
  g_assert_true (wait_irq (f, 1500 * 1000));
  /* PF shows too: periodic ticks set it even with PIE off. */
  g_assert_cmphex (cmos_read (rtc, 0x0c) & 0xb0, ==, 0x80 | 0x10);
  g_assert_false (f->tp.irq_level[HV_IRQ_RTC]);
  g_assert_cmphex (cmos_read (rtc, 0x0c) & 0xb0, ==, 0x00);
  g_assert_true (wait_irq (f, 1500 * 1000));
  g_assert_cmphex (cmos_read (rtc, 0x0c) & 0x90, ==, 0x90);

  /* Disabling the source drops the line even with the flag set. */
  cmos_write (rtc, 0x0b, 0x02);
  g_usleep (1100 * 1000);
  g_assert_false (f->tp.irq_level[HV_IRQ_RTC]);
  g_assert_cmphex (cmos_read (rtc, 0x0c) & 0x90, ==, 0x10); /* the flag without IRQF */
}

static void
test_alarm_interrupt (Fixture *f, gconstpointer data)
{
  HvRtc *rtc = f->rtc;
  time_t now;
  struct tm tm;

  /* The alarm two seconds from now, in binary mode. */
  cmos_write (rtc, 0x0b, 0x02 | 0x04);
  now = (time_t) read_clock (rtc) + 2;
  gmtime_r (&now, &tm);
  cmos_write (rtc, 0x01, (uint8_t) tm.tm_sec);
  cmos_write (rtc, 0x03, (uint8_t) tm.tm_min);
  cmos_write (rtc, 0x05, (uint8_t) tm.tm_hour);
  cmos_read (rtc, 0x0c);
  cmos_write (rtc, 0x0b, 0x02 | 0x04 | 0x20);
  g_assert_false (wait_irq (f, 900 * 1000));
  g_assert_true (wait_irq (f, 3000 * 1000));
  g_assert_cmphex (cmos_read (rtc, 0x0c) & 0xa0, ==, 0xa0);
  g_assert_cmpint (read_clock (rtc), >=, (int64_t) now);

  /* "Don't care" in all three fields: every second. */
  cmos_write (rtc, 0x01, 0xff);
  cmos_write (rtc, 0x03, 0xc0);
  cmos_write (rtc, 0x05, 0xc5);
  g_assert_true (wait_irq (f, 1500 * 1000));
  g_assert_cmphex (cmos_read (rtc, 0x0c) & 0xa0, ==, 0xa0);
}

static void
test_periodic_interrupt (Fixture *f, gconstpointer data)
{
  HvRtc *rtc = f->rtc;
  gint64 end;
  unsigned acks = 0;

  /* 1024 Hz; a guest acknowledging as it goes must see many interrupts in 300 ms. */
  cmos_read (rtc, 0x0c);
  cmos_write (rtc, 0x0b, 0x02 | 0x40);
  end = g_get_monotonic_time () + 300 * 1000;
  while (g_get_monotonic_time () < end)
    {
      if (wait_irq (f, 100 * 1000))
        {
          g_assert_cmphex (cmos_read (rtc, 0x0c) & 0xc0, ==, 0xc0);
          acks++;
        }
    }
  g_assert_cmpuint (acks, >, 30);
  g_assert_cmpuint (acks, <=, 400);

  /* Rate 0 stops it. */
  cmos_write (rtc, 0x0a, 0x20);
  cmos_read (rtc, 0x0c);
  g_assert_false (wait_irq (f, 100 * 1000));
}

static void
test_flags_without_interrupts (Fixture *f, gconstpointer data)
{
  /* Flags are set whether or not their interrupt is enabled; the line stays low. */
  cmos_read (f->rtc, 0x0c);
  g_usleep (1100 * 1000);
  g_assert_cmphex (cmos_read (f->rtc, 0x0c) & 0xd0, ==, 0x40 | 0x10);
  g_assert_cmpuint (f->tp.irq_raises[HV_IRQ_RTC], ==, 0);
  cmos_write (f->rtc, 0x0c, 0xff);
  cmos_write (f->rtc, 0x0d, 0x00);
  g_assert_cmphex (cmos_read (f->rtc, 0x0d), ==, 0x80);
}

static unsigned
word (HvRtc *rtc, uint8_t low)
{
  return cmos_read (rtc, low) | (cmos_read (rtc, low + 1) << 8);
}

static void
test_memory_bytes (void)
{
  VireoTestPlatform tp;
  HvRtc *rtc;

  vireo_test_platform_init (&tp);

  rtc = hv_rtc_new (&tp.platform, 128ull << 20);
  g_assert_cmpuint (word (rtc, 0x15), ==, 640);
  g_assert_cmpuint (word (rtc, 0x17), ==, 0xffff); /* 127 MiB does not fit in 16 bits of KiB */
  g_assert_cmpuint (word (rtc, 0x30), ==, 0xffff);
  g_assert_cmpuint (word (rtc, 0x34), ==, (128 - 16) * 16);
  g_assert_cmpuint (cmos_read (rtc, 0x5b) | cmos_read (rtc, 0x5c) << 8 | cmos_read (rtc, 0x5d) << 16, ==, 0);
  hv_rtc_free (rtc);

  /* 6 GiB: 3 GiB below the PCI hole, 3 GiB above 4 GiB. */
  rtc = hv_rtc_new (&tp.platform, 6ull << 30);
  g_assert_cmpuint (word (rtc, 0x15), ==, 640);
  g_assert_cmpuint (word (rtc, 0x17), ==, 0xffff);
  g_assert_cmpuint (word (rtc, 0x34), ==, ((HV_LOW_RAM_MAX - (16 << 20)) >> 16));
  g_assert_cmpuint (cmos_read (rtc, 0x5b) | cmos_read (rtc, 0x5c) << 8 | cmos_read (rtc, 0x5d) << 16, ==,
                    ((6ull << 30) - HV_LOW_RAM_MAX) >> 16);
  hv_rtc_free (rtc);

  /* Small enough for the extended-memory word to be exact. */
  rtc = hv_rtc_new (&tp.platform, 33ull << 20);
  g_assert_cmpuint (word (rtc, 0x17), ==, 32 * 1024);
  g_assert_cmpuint (word (rtc, 0x30), ==, 32 * 1024);
  g_assert_cmpuint (word (rtc, 0x34), ==, 17 * 16);
  hv_rtc_free (rtc);

  vireo_test_platform_clear (&tp);
}

static void
test_cmos_memory (Fixture *f, gconstpointer data)
{
  uint8_t both[2] = { 0x40, 0x99 };

  for (unsigned i = 0x0e; i < 0x80; i++)
    if (i != 0x32)
      cmos_write (f->rtc, (uint8_t) i, (uint8_t) (i ^ 0x5a));
  for (unsigned i = 0x0e; i < 0x80; i++)
    if (i != 0x32)
      g_assert_cmphex (cmos_read (f->rtc, (uint8_t) i), ==, i ^ 0x5a);

  /* A 16-bit write to the index port sets the index and writes the data port. */
  hv_rtc_io (f->rtc, 0, both, 2, TRUE);
  g_assert_cmphex (cmos_read (f->rtc, 0x40), ==, 0x99);
}

static void
test_garbage (Fixture *f, gconstpointer data)
{
  static const unsigned widths[] = { 1, 2, 4, 8 };

  for (unsigned i = 0; i < 100000; i++)
    {
      uint8_t buffer[8];
      unsigned len = widths[g_test_rand_int_range (0, G_N_ELEMENTS (widths))];
      uint64_t offset = (uint64_t) g_test_rand_int_range (0, 4);
      gboolean is_write = g_test_rand_bit ();

      for (unsigned b = 0; b < sizeof buffer; b++)
        buffer[b] = (uint8_t) g_test_rand_int ();
      /* Mostly the clock registers, where the interesting decoding is. */
      if (g_test_rand_bit ())
        buffer[0] &= 0x0f;
      hv_rtc_io (f->rtc, offset, buffer, len, is_write);
    }

  /* Whatever the guest did, the clock can be put right and reads back sensibly. */
  cmos_write (f->rtc, 0x0a, 0x26);
  cmos_write (f->rtc, 0x0b, 0x82);
  cmos_write (f->rtc, 0x32, 0x20);
  cmos_write (f->rtc, 0x09, 0x24);
  cmos_write (f->rtc, 0x08, 0x06);
  cmos_write (f->rtc, 0x07, 0x15);
  cmos_write (f->rtc, 0x04, 0x12);
  cmos_write (f->rtc, 0x02, 0x00);
  cmos_write (f->rtc, 0x00, 0x00);
  cmos_write (f->rtc, 0x0b, 0x02);
  g_assert_cmphex (cmos_read (f->rtc, 0x09), ==, 0x24);
  g_assert_cmphex (cmos_read (f->rtc, 0x08), ==, 0x06);
}

/* A clock set to 2001 with an update interrupt pending comes back in a new RTC with its line raised and
 * the guest's offset from wall time: after a while saved, it shows what the original shows, not the
 * time of the save. */
static void
test_save_load (Fixture *f, gconstpointer data)
{
  HvRtc *rtc = f->rtc;
  struct tm tm = {
    .tm_year = 2001 - 1900, .tm_mon = 1, .tm_mday = 3, .tm_hour = 16, .tm_min = 5, .tm_sec = 6
  };
  int64_t target = (int64_t) timegm (&tm);
  Fixture copy;
  g_autoptr (GVariant) state = NULL;
  g_autoptr (GError) error = NULL;
  int64_t copy_time, original_time;

  cmos_write (rtc, 0x0b, 0x02 | 0x80);
  cmos_write (rtc, 0x09, 0x01);
  cmos_write (rtc, 0x08, 0x02);
  cmos_write (rtc, 0x07, 0x03);
  cmos_write (rtc, 0x04, 0x16);
  cmos_write (rtc, 0x02, 0x05);
  cmos_write (rtc, 0x00, 0x06);
  cmos_write (rtc, 0x32, 0x20);
  cmos_write (rtc, 0x0b, 0x02);
  cmos_write (rtc, 0x40, 0x77);
  cmos_read (rtc, 0x0c);
  cmos_write (rtc, 0x0b, 0x02 | 0x10);
  g_assert_true (wait_irq (f, 1500 * 1000));
  state = vireo_test_state_through_bytes (hv_rtc_save_state (rtc));

  g_usleep (1200 * 1000);
  vireo_test_platform_init (&copy.tp);
  copy.rtc = hv_rtc_new (&copy.tp.platform, 64 << 20);
  g_assert_true (hv_rtc_load_state (copy.rtc, state, &error));
  g_assert_no_error (error);
  g_assert_true (copy.tp.irq_level[HV_IRQ_RTC]);
  g_assert_cmphex (cmos_read (copy.rtc, 0x0c) & 0x90, ==, 0x90);
  g_assert_cmphex (cmos_read (copy.rtc, 0x0b), ==, 0x12);
  g_assert_cmphex (cmos_read (copy.rtc, 0x40), ==, 0x77);
  /* The memory-size bytes are the saved machine's. */
  g_assert_cmphex (cmos_read (copy.rtc, 0x34) | cmos_read (copy.rtc, 0x35) << 8, ==,
                   cmos_read (rtc, 0x34) | cmos_read (rtc, 0x35) << 8);
  copy_time = read_clock (copy.rtc);
  original_time = read_clock (rtc);
  g_assert_cmpint (copy_time, >=, target + 1);
  g_assert_cmpint (ABS (copy_time - original_time), <=, 1);
  /* Interrupts keep coming in the copy. */
  g_assert_true (wait_irq (&copy, 1500 * 1000));
  fixture_teardown (&copy, NULL);
}

/* A state with any field out of range is refused as a whole: the clock keeps what it had. */
static void
test_load_bad_state (Fixture *f, gconstpointer data)
{
  static const struct
  {
    const char *key;
    const char *value;
  } bad[] = {
    { "cmos", "[byte 1]" },
    { "index", "byte 0x80" },
    { "reg-a", "byte 0xa6" },
    { "reg-c", "byte 0x01" },
    { "offset-usec", "int64 -2000000000000000000" },
    { "frozen-time", "(2001, 2, 3, 16, 5, 1000)" },
    { "frozen-time", "(-1, 2, 3, 16, 5, 6)" },
    { "reg-b", "'two'" },
  };
  g_autoptr (GVariant) good = NULL;

  cmos_write (f->rtc, 0x41, 0x11);
  good = g_variant_ref_sink (hv_rtc_save_state (f->rtc));
  cmos_write (f->rtc, 0x41, 0x22);
  for (gsize i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autoptr (GError) error = NULL;
      g_autoptr (GVariant) state = vireo_test_state_spoiled (good, bad[i].key, bad[i].value);

      g_assert_false (hv_rtc_load_state (f->rtc, state, &error));
      g_assert_error (error, HV_ERROR, HV_ERROR_BAD_IMAGE);
      g_assert_nonnull (strstr (error->message, "RTC"));
      g_assert_cmphex (cmos_read (f->rtc, 0x41), ==, 0x22);
    }
  /* The good one does apply. */
  g_assert_true (hv_rtc_load_state (f->rtc, good, NULL));
  g_assert_cmphex (cmos_read (f->rtc, 0x41), ==, 0x11);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

#define ADD(path, fn) g_test_add ("/rtc/" path, Fixture, NULL, fixture_setup, fn, fixture_teardown)
  ADD ("read-time", test_read_time);
  ADD ("uip", test_uip);
  ADD ("set-time", test_set_time);
  ADD ("update-interrupt", test_update_interrupt);
  ADD ("alarm-interrupt", test_alarm_interrupt);
  ADD ("periodic-interrupt", test_periodic_interrupt);
  ADD ("flags-without-interrupts", test_flags_without_interrupts);
  ADD ("cmos-memory", test_cmos_memory);
  ADD ("garbage", test_garbage);
  ADD ("save-load", test_save_load);
  ADD ("load-bad-state", test_load_bad_state);
#undef ADD
  g_test_add_func ("/rtc/memory-bytes", test_memory_bytes);

  return g_test_run ();
}
