/* display.c — the display test guest: sets a mode on the Bochs display, draws a fixed test pattern,
 * and reports every key and tablet event it gets on serial.  Everything after the first instruction
 * runs in ring 3.
 *
 * Test pattern for a W x H mode (1024x768 by default), 32 bpp, colours as 0xRRGGBB:
 *   - everything not listed below is black 0x000000;
 *   - a white 0xFFFFFF square, 64x64, at x 100-163, y 100-163;
 *   - the label "Vireo display test WxH" in 0xC0C0C0, in the kit's 8x16 font, top-left at
 *     (256, 100): its pixels lie inside x 256-511, y 100-115 (the rest of that box is black);
 *   - the lower half, rows H/2 to H-1, is 8 vertical bars, bar i covering x from i*W/8 to
 *     (i+1)*W/8 - 1, left to right: white 0xFFFFFF, yellow 0xFFFF00, cyan 0x00FFFF, green 0x00FF00,
 *     magenta 0xFF00FF, red 0xFF0000, blue 0x0000FF, grey 0x808080.
 *   At 1024x768 the bars are 128 pixels wide from y 384; at 1280x800, 160 wide from y 400.
 *   Once the tablet has reported a position, the pointer is an 8x8 orange 0xFF8000 square whose
 *   top-left pixel is at (X * W / 32768, Y * H / 32768) for a 0..32767 tablet (in general
 *   (X - min) * W / (max - min + 1)), clipped to the screen; what it covered is put back when it
 *   moves.  A mode switch draws the pattern without it until the tablet reports again.
 *
 * Serial protocol (one line each, "\n"-terminated):
 *   display: Bochs display at BB:SS.F, framebuffer 0xADDR (N MiB), DISPI ID 0xID, registers
 *            through MMIO|ports             what was found (informational)
 *   display: mode WxH                       a mode is set (also after every switch)
 *   display: mode WxH refused, using 1024x768   the device refused the command line's mode
 *   display: pattern ready                  the pattern above is completely drawn
 *   display: no display (...)               no usable Bochs display; input is still reported
 *   display: ps2 keyboard | display: no ps2 keyboard
 *   display: virtio-input N NAME (keyboard|tablet|other)   one per virtio-input device set up
 *   display: input ready                    every input device is set up: inject from now on
 *   key: ps2 0xNN                           every byte the i8042 delivers (prefixes, releases too)
 *   key: virtio CODE VALUE                  EV_KEY from a virtio keyboard: Linux key code, then
 *                                           0 release, 1 press, 2 repeat (decimal)
 *   tablet: X Y BUTTONS                     at every SYN_REPORT of a virtio tablet: raw ABS_X/ABS_Y
 *                                           (0..32767) and buttons (bit 0 left, 1 middle, 2 right)
 *   wheel: N                                a tablet's REL_WHEEL movement (signed)
 *   display: power off (REASON)             then ACPI power-off
 * The command line "mode=WxH" picks the first mode (e.g. mode=1280x800).  The M key (PS/2 make code
 * 0x32 or virtio KEY_M press) switches to 1280x800, or back to 1024x768 from 1280x800, and redraws.
 * The Q key (0x10 / KEY_Q), the virtio KEY_POWER key and the ACPI power button power off. */
#include "kit.h"

#define DEFAULT_WIDTH  1024
#define DEFAULT_HEIGHT 768
#define SWITCH_WIDTH   1280
#define SWITCH_HEIGHT  800
#define SQUARE_X       100
#define SQUARE_Y       100
#define SQUARE_SIZE    64
#define LABEL_X        256
#define LABEL_Y        100
#define LABEL_COLOUR   0xc0c0c0
#define POINTER_SIZE   8
#define POINTER_COLOUR 0xff8000
#define MAX_INPUTS     4
#define PS2_MAKE_Q     0x10
#define PS2_MAKE_M     0x32

static const uint32_t bar_colours[8] = {
  0xffffff, 0xffff00, 0x00ffff, 0x00ff00, 0xff00ff, 0xff0000, 0x0000ff, 0x808080,
};

static KitFb fb;
static bool have_fb;
static KitVirtioInput inputs[MAX_INPUTS];
static unsigned n_inputs;

/* The pointer, and the pixels it covers. */
static bool pointer_shown;
static int pointer_x, pointer_y;
static uint32_t under_pointer[POINTER_SIZE * POINTER_SIZE];

/* The tablet's state, reported at each SYN_REPORT. */
static uint32_t tablet_x, tablet_y, tablet_buttons;

static void
draw_pattern (void)
{
  char label[48];
  uint32_t w = fb.width, h = fb.height;

  pointer_shown = false;
  kit_fb_fill_rect (&fb, 0, 0, (int) w, (int) h, 0x000000);
  kit_fb_fill_rect (&fb, SQUARE_X, SQUARE_Y, SQUARE_SIZE, SQUARE_SIZE, 0xffffff);
  kit_snprintf (label, sizeof label, "Vireo display test %ux%u", w, h);
  kit_fb_text (&fb, LABEL_X, LABEL_Y, label, LABEL_COLOUR, KIT_FB_TRANSPARENT, 1);
  for (uint32_t i = 0; i < 8; i++)
    {
      uint32_t x0 = i * w / 8, x1 = (i + 1) * w / 8;
      kit_fb_fill_rect (&fb, (int) x0, (int) (h / 2), (int) (x1 - x0), (int) (h - h / 2), bar_colours[i]);
    }
}

static bool
set_mode (uint32_t width, uint32_t height)
{
  if (!have_fb || !kit_fb_set_mode (&fb, width, height))
    return false;
  kit_printf ("display: mode %ux%u\n", fb.width, fb.height);
  draw_pattern ();
  kit_puts ("display: pattern ready\n");
  return true;
}

static void
hide_pointer (void)
{
  if (!pointer_shown)
    return;
  for (int dy = 0; dy < POINTER_SIZE; dy++)
    for (int dx = 0; dx < POINTER_SIZE; dx++)
      kit_fb_put_pixel (&fb, pointer_x + dx, pointer_y + dy, under_pointer[dy * POINTER_SIZE + dx]);
  pointer_shown = false;
}

static void
show_pointer (int x, int y)
{
  hide_pointer ();
  pointer_x = x;
  pointer_y = y;
  for (int dy = 0; dy < POINTER_SIZE; dy++)
    for (int dx = 0; dx < POINTER_SIZE; dx++)
      under_pointer[dy * POINTER_SIZE + dx] = kit_fb_get_pixel (&fb, x + dx, y + dy);
  kit_fb_fill_rect (&fb, x, y, POINTER_SIZE, POINTER_SIZE, POINTER_COLOUR);
  pointer_shown = true;
}

/* (value - min) * size / (max - min + 1), clamped to the screen. */
static int
scale_axis (uint32_t value, uint32_t min, uint32_t max, uint32_t size)
{
  int64_t range = (int64_t) (int32_t) max - (int32_t) min + 1;
  int64_t v = (int64_t) (int32_t) value - (int32_t) min;

  if (v < 0)
    v = 0;
  if (v >= range)
    v = range - 1;
  return (int) (v * size / range);
}

static void power_off (const char *reason) __attribute__ ((noreturn));

static void
power_off (const char *reason)
{
  kit_printf ("display: power off (%s)\n", reason);
  kit_poweroff ();
}

static void
toggle_mode (void)
{
  uint32_t old_width = fb.width, old_height = fb.height;
  bool is_switched = old_width == SWITCH_WIDTH && old_height == SWITCH_HEIGHT;

  if (!have_fb)
    return;
  if (!set_mode (is_switched ? DEFAULT_WIDTH : SWITCH_WIDTH, is_switched ? DEFAULT_HEIGHT : SWITCH_HEIGHT))
    set_mode (old_width, old_height);
}

static void
handle_tablet (KitVirtioInput *dev, const KitInputEvent *event)
{
  switch (event->type)
    {
    case KIT_EV_ABS:
      if (event->code == KIT_ABS_X)
        tablet_x = event->value;
      else if (event->code == KIT_ABS_Y)
        tablet_y = event->value;
      break;
    case KIT_EV_KEY:
      {
        uint32_t bit = event->code == KIT_BTN_LEFT     ? 1
                       : event->code == KIT_BTN_MIDDLE ? 2
                       : event->code == KIT_BTN_RIGHT  ? 4
                                                       : 0;
        if (event->value)
          tablet_buttons |= bit;
        else
          tablet_buttons &= ~bit;
        break;
      }
    case KIT_EV_REL:
      if (event->code == KIT_REL_WHEEL)
        kit_printf ("wheel: %d\n", (int32_t) event->value);
      break;
    case KIT_EV_SYN:
      if (event->code != KIT_SYN_REPORT)
        break;
      kit_printf ("tablet: %u %u %u\n", tablet_x, tablet_y, tablet_buttons);
      if (have_fb && fb.pixels)
        show_pointer (scale_axis (tablet_x, dev->abs_min[0], dev->abs_max[0], fb.width),
                      scale_axis (tablet_y, dev->abs_min[1], dev->abs_max[1], fb.height));
      break;
    default:
      break;
    }
}

static void
handle_virtio (KitVirtioInput *dev, const KitInputEvent *event)
{
  if (dev->is_tablet)
    {
      handle_tablet (dev, event);
      return;
    }
  if (event->type != KIT_EV_KEY)
    return;
  kit_printf ("key: virtio %u %u\n", event->code, event->value);
  if (event->value != 1)
    return;
  if (event->code == KIT_KEY_M)
    toggle_mode ();
  else if (event->code == KIT_KEY_Q)
    power_off ("q");
  else if (event->code == KIT_KEY_POWER)
    power_off ("power key");
}

/* "mode=WxH" on the command line. */
static bool
cmdline_mode (uint32_t *width, uint32_t *height)
{
  const char *s = kit_cmdline ();
  uint32_t w = 0, h = 0;

  for (; *s; s++)
    if ((s == kit_cmdline () || s[-1] == ' ') && memcmp (s, "mode=", 5) == 0)
      break;
  if (*s == '\0')
    return false;
  for (s += 5; *s >= '0' && *s <= '9' && w < 100000; s++)
    w = w * 10 + (uint32_t) (*s - '0');
  if (*s++ != 'x')
    return false;
  for (; *s >= '0' && *s <= '9' && h < 100000; s++)
    h = h * 10 + (uint32_t) (*s - '0');
  if (w == 0 || h == 0 || (*s != '\0' && *s != ' '))
    return false;
  *width = w;
  *height = h;
  return true;
}

static long
display_main (void *unused)
{
  uint32_t width = DEFAULT_WIDTH, height = DEFAULT_HEIGHT;
  bool have_ps2;

  kit_power_button_arm ();
  have_fb = kit_fb_init (&fb);
  if (have_fb)
    {
      kit_printf ("display: Bochs display at %02x:%02x.%x, framebuffer 0x%lx (%lu MiB), DISPI ID "
                  "0x%x, registers through %s\n",
                  fb.pci.bus, fb.pci.slot, fb.pci.function, fb.vram_bar.address, fb.vram_bar.size >> 20,
                  fb.dispi_id, fb.dispi ? "MMIO" : "ports");
      if (cmdline_mode (&width, &height) && !set_mode (width, height))
        kit_printf ("display: mode %ux%u refused, using %ux%u\n", width, height, DEFAULT_WIDTH,
                    DEFAULT_HEIGHT);
      if (fb.pixels == NULL && !set_mode (DEFAULT_WIDTH, DEFAULT_HEIGHT))
        have_fb = false;
    }
  if (!have_fb)
    kit_puts ("display: no display (no usable Bochs display)\n");

  have_ps2 = kit_ps2_init ();
  kit_puts (have_ps2 ? "display: ps2 keyboard\n" : "display: no ps2 keyboard\n");
  for (unsigned i = 0; i < MAX_INPUTS; i++)
    if (kit_virtio_input_init (&inputs[n_inputs], i))
      {
        KitVirtioInput *dev = &inputs[n_inputs++];
        kit_printf ("display: virtio-input %u %s (%s)\n", i, dev->name,
                    dev->is_tablet     ? "tablet"
                    : dev->is_keyboard ? "keyboard"
                                       : "other");
      }
  kit_puts ("display: input ready\n");

  for (;;)
    {
      uint8_t code;
      KitInputEvent event;
      bool idle = true;

      if (have_ps2 && kit_ps2_read (&code))
        {
          idle = false;
          kit_printf ("key: ps2 0x%02x\n", code);
          if (code == PS2_MAKE_M)
            toggle_mode ();
          else if (code == PS2_MAKE_Q)
            power_off ("q");
        }
      for (unsigned i = 0; i < n_inputs; i++)
        while (kit_virtio_input_poll (&inputs[i], &event))
          {
            idle = false;
            handle_virtio (&inputs[i], &event);
          }
      if (kit_power_button_pressed ())
        power_off ("power button");
      if (idle)
        cpu_pause ();
    }
}

void
guest_main (void)
{
  kit_run_user (display_main, NULL);
}
