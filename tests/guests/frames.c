/* frames.c — the display benchmark guest (tests/bench/frame-bench.c): sets 1920x1080x32 on the Bochs
 * display and redraws the whole screen from ring 3, frame after frame, each frame one colour that
 * encodes its number, and says on serial when each frame is completely written.
 *
 * Colour of frame N (0xRRGGBB), 12 bits of N spread over the high nibbles so that a client can decode
 * N mod 4096 from any pixel even after small colour errors (lossy compression, ±7 per channel):
 *   R = ((N >> 8) & 15) * 16 + 8,  G = ((N >> 4) & 15) * 16 + 8,  B = (N & 15) * 16 + 8.
 * Rows are written top to bottom, so the bottom-right pixel showing N means all of frame N was written.
 *
 * Command line: "fps=N" paces frame starts by the TSC at N per second (default 60; 0 draws as fast as
 * it can), "count=N" stops after N frames (default: never), "tsc_khz=N" gives the TSC frequency
 * instead of measuring it against the ACPI PM timer.
 *
 * Serial protocol (one line each, "\n"-terminated):
 *   frames: tsc N kHz (measured|given)      the TSC rate used for pacing
 *   frames: mode 1920x1080                  the mode is set
 *   frames: start                           once, just before frame 0
 *   f N                                     frame N is completely written (decimal, from 0)
 *   frames: no display (...)                no usable Bochs display or no 1920x1080; then power off
 *   frames: power off (REASON)              then ACPI power-off (power button or count reached) */
#include "kit.h"

#define WIDTH       1920
#define HEIGHT      1080
#define DEFAULT_FPS 60

static KitFb fb;

static uint32_t
frame_colour (uint64_t n)
{
  uint32_t r = (uint32_t) ((n >> 8) & 15) * 16 + 8;
  uint32_t g = (uint32_t) ((n >> 4) & 15) * 16 + 8;
  uint32_t b = (uint32_t) (n & 15) * 16 + 8;

  return r << 16 | g << 8 | b;
}

static void power_off (const char *reason) __attribute__ ((noreturn));

static void
power_off (const char *reason)
{
  kit_printf ("frames: power off (%s)\n", reason);
  kit_poweroff ();
}

static long
frames_main (void *unused)
{
  uint64_t fps = DEFAULT_FPS, count = 0, tsc_khz = 0, period = 0, next;
  bool given = kit_cmdline_u64 ("tsc_khz", &tsc_khz) && tsc_khz > 0;

  kit_power_button_arm ();
  kit_cmdline_u64 ("fps", &fps);
  kit_cmdline_u64 ("count", &count);
  if (fps > 1000)
    fps = 1000;
  if (!given)
    tsc_khz = kit_measure_tsc_khz (100);
  if (tsc_khz == 0 && fps != 0)
    {
      kit_puts ("frames: no TSC rate (no ACPI PM timer): drawing unpaced\n");
      fps = 0;
    }
  kit_printf ("frames: tsc %lu kHz (%s)\n", tsc_khz, given ? "given" : "measured");
  if (fps != 0)
    period = tsc_khz * 1000 / fps;

  if (!kit_fb_init (&fb))
    power_off ("no display (no usable Bochs display)");
  if (!kit_fb_set_mode (&fb, WIDTH, HEIGHT))
    power_off ("no display (1920x1080x32 refused)");
  kit_printf ("frames: mode %ux%u\n", fb.width, fb.height);

  kit_puts ("frames: start\n");
  next = kit_rdtsc ();
  for (uint64_t n = 0; count == 0 || n < count; n++)
    {
      if (period != 0)
        {
          while ((int64_t) (kit_rdtsc () - next) < 0)
            cpu_pause ();
          next += period;
          /* After a stall (the host descheduled us) start again from now instead of bursting. */
          if ((int64_t) (kit_rdtsc () - next) > (int64_t) period)
            next = kit_rdtsc () + period;
        }
      kit_fb_fill_rect (&fb, 0, 0, WIDTH, HEIGHT, frame_colour (n));
      kit_printf ("f %lu\n", n);
      if (kit_power_button_pressed ())
        power_off ("power button");
    }
  power_off ("count reached");
}

void
guest_main (void)
{
  kit_run_user (frames_main, NULL);
}
