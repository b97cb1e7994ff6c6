/* spice-input.c — client input: spice's keyboard and tablet interfaces, handing scancodes, absolute
 * positions, buttons and the wheel to the backend (spice.h). */
#include "spice-private.h"

static HvSpice *
spice_from_keyboard (SpiceKbdInstance *keyboard)
{
  return (HvSpice *) ((char *) keyboard - G_STRUCT_OFFSET (HvSpice, keyboard));
}

static HvSpice *
spice_from_tablet (SpiceTabletInstance *tablet)
{
  return (HvSpice *) ((char *) tablet - G_STRUCT_OFFSET (HvSpice, tablet));
}

static void
keyboard_push_scan_freg (SpiceKbdInstance *keyboard, uint8_t fragment)
{
  HvSpice *spice = spice_from_keyboard (keyboard);
  spice->backend.key (spice->backend.opaque, fragment);
}

static uint8_t
keyboard_get_leds (SpiceKbdInstance *keyboard)
{
  /* The core does not report the guest's LEDs; spice then syncs the client's lock keys by pressing
   * them, which is what a guest without LED state needs anyway. */
  return 0;
}

const SpiceKbdInterface hv_spice_keyboard_interface = {
  .base = {
    .type = SPICE_INTERFACE_KEYBOARD,
    .description = "vireo keyboard",
    .major_version = SPICE_INTERFACE_KEYBOARD_MAJOR,
    .minor_version = SPICE_INTERFACE_KEYBOARD_MINOR,
  },
  .push_scan_freg = keyboard_push_scan_freg,
  .get_leds = keyboard_get_leds,
};

/* spice passes buttons as left 1, right 2, middle 4; hv.h wants left 1, middle 2, right 4. */
static uint32_t
buttons_from_spice (uint32_t buttons)
{
  return (buttons & 1) | ((buttons & 4) >> 1) | ((buttons & 2) << 1);
}

/* A surface coordinate (0..size-1) on the tablet's 0..32767 scale. */
static uint32_t
scale_to_tablet (int value, int size)
{
  if (value <= 0 || size <= 1)
    return 0;
  if (value >= size - 1)
    return 32767;
  return (uint32_t) ((uint64_t) value * 32767 / (uint64_t) (size - 1));
}

static void
tablet_set_logical_size (SpiceTabletInstance *tablet, int width, int height)
{
  HvSpice *spice = spice_from_tablet (tablet);
  spice->tablet_width = width;
  spice->tablet_height = height;
}

static void
tablet_position (SpiceTabletInstance *tablet, int x, int y, uint32_t buttons)
{
  HvSpice *spice = spice_from_tablet (tablet);
  int width = spice->tablet_width > 0 ? spice->tablet_width : (int) spice->mode.width;
  int height = spice->tablet_height > 0 ? spice->tablet_height : (int) spice->mode.height;

  spice->pointer_x = scale_to_tablet (x, width);
  spice->pointer_y = scale_to_tablet (y, height);
  spice->backend.tablet (spice->backend.opaque, spice->pointer_x, spice->pointer_y,
                         buttons_from_spice (buttons));
}

static void
tablet_wheel (SpiceTabletInstance *tablet, int motion, uint32_t buttons)
{
  HvSpice *spice = spice_from_tablet (tablet);

  /* spice reports every button press here, with no motion for buttons other than the wheel's. */
  if (motion == 0)
    spice->backend.tablet (spice->backend.opaque, spice->pointer_x, spice->pointer_y,
                           buttons_from_spice (buttons));
  else /* spice counts a notch up as -1; the core, like evdev's REL_WHEEL, as +1 */
    spice->backend.wheel (spice->backend.opaque, -motion, buttons_from_spice (buttons));
}

static void
tablet_buttons (SpiceTabletInstance *tablet, uint32_t buttons)
{
  HvSpice *spice = spice_from_tablet (tablet);
  spice->backend.tablet (spice->backend.opaque, spice->pointer_x, spice->pointer_y,
                         buttons_from_spice (buttons));
}

const SpiceTabletInterface hv_spice_tablet_interface = {
  .base = {
    .type = SPICE_INTERFACE_TABLET,
    .description = "vireo tablet",
    .major_version = SPICE_INTERFACE_TABLET_MAJOR,
    .minor_version = SPICE_INTERFACE_TABLET_MINOR,
  },
  .set_logical_size = tablet_set_logical_size,
  .position = tablet_position,
  .wheel = tablet_wheel,
  .buttons = tablet_buttons,
};
