/* input.c — input from display clients into the guest: hv_vm_input_key() (XT set-1 fragments, to the
 * virtio keyboard once its driver is ready, to the PS/2 keyboard until then), hv_vm_input_tablet() and
 * hv_vm_input_wheel() (the virtio tablet), and the set-1 → evdev table that connects the two keyboards.
 *
 * A key's release goes where its press went, so a key pressed while the guest still used the PS/2
 * keyboard is not left down there (and autorepeating) when the virtio driver takes over. */
#include "input.h"
#include "devices/virtio-input.h"
#include "vm-private.h"

#include <linux/input-event-codes.h>
#include <string.h>

/* Set-1 make codes without a prefix.  Codes 0x01..0x53 and 0x56..0x58 are Linux's key numbers. */
static const uint16_t plain_keys[128] = {
  [0x01] = KEY_ESC,        [0x02] = KEY_1,          [0x03] = KEY_2,          [0x04] = KEY_3,
  [0x05] = KEY_4,          [0x06] = KEY_5,          [0x07] = KEY_6,          [0x08] = KEY_7,
  [0x09] = KEY_8,          [0x0a] = KEY_9,          [0x0b] = KEY_0,          [0x0c] = KEY_MINUS,
  [0x0d] = KEY_EQUAL,      [0x0e] = KEY_BACKSPACE,  [0x0f] = KEY_TAB,        [0x10] = KEY_Q,
  [0x11] = KEY_W,          [0x12] = KEY_E,          [0x13] = KEY_R,          [0x14] = KEY_T,
  [0x15] = KEY_Y,          [0x16] = KEY_U,          [0x17] = KEY_I,          [0x18] = KEY_O,
  [0x19] = KEY_P,          [0x1a] = KEY_LEFTBRACE,  [0x1b] = KEY_RIGHTBRACE, [0x1c] = KEY_ENTER,
  [0x1d] = KEY_LEFTCTRL,   [0x1e] = KEY_A,          [0x1f] = KEY_S,          [0x20] = KEY_D,
  [0x21] = KEY_F,          [0x22] = KEY_G,          [0x23] = KEY_H,          [0x24] = KEY_J,
  [0x25] = KEY_K,          [0x26] = KEY_L,          [0x27] = KEY_SEMICOLON,  [0x28] = KEY_APOSTROPHE,
  [0x29] = KEY_GRAVE,      [0x2a] = KEY_LEFTSHIFT,  [0x2b] = KEY_BACKSLASH,  [0x2c] = KEY_Z,
  [0x2d] = KEY_X,          [0x2e] = KEY_C,          [0x2f] = KEY_V,          [0x30] = KEY_B,
  [0x31] = KEY_N,          [0x32] = KEY_M,          [0x33] = KEY_COMMA,      [0x34] = KEY_DOT,
  [0x35] = KEY_SLASH,      [0x36] = KEY_RIGHTSHIFT, [0x37] = KEY_KPASTERISK, [0x38] = KEY_LEFTALT,
  [0x39] = KEY_SPACE,      [0x3a] = KEY_CAPSLOCK,   [0x3b] = KEY_F1,         [0x3c] = KEY_F2,
  [0x3d] = KEY_F3,         [0x3e] = KEY_F4,         [0x3f] = KEY_F5,         [0x40] = KEY_F6,
  [0x41] = KEY_F7,         [0x42] = KEY_F8,         [0x43] = KEY_F9,         [0x44] = KEY_F10,
  [0x45] = KEY_NUMLOCK,    [0x46] = KEY_SCROLLLOCK, [0x47] = KEY_KP7,        [0x48] = KEY_KP8,
  [0x49] = KEY_KP9,        [0x4a] = KEY_KPMINUS,    [0x4b] = KEY_KP4,        [0x4c] = KEY_KP5,
  [0x4d] = KEY_KP6,        [0x4e] = KEY_KPPLUS,     [0x4f] = KEY_KP1,        [0x50] = KEY_KP2,
  [0x51] = KEY_KP3,        [0x52] = KEY_KP0,        [0x53] = KEY_KPDOT,
  [0x54] = KEY_SYSRQ,      /* Alt+Print Screen */
  [0x56] = KEY_102ND,      [0x57] = KEY_F11,        [0x58] = KEY_F12,        [0x59] = KEY_KPEQUAL,
  [0x5d] = KEY_F13,        [0x5e] = KEY_F14,        [0x5f] = KEY_F15,
  [0x70] = KEY_KATAKANAHIRAGANA,                    [0x73] = KEY_RO,
  [0x79] = KEY_HENKAN,     [0x7b] = KEY_MUHENKAN,   [0x7d] = KEY_YEN,        [0x7e] = KEY_KPCOMMA,
};

/* Set-1 make codes after 0xe0.  0x2a and 0x36 are the "fake shifts" around some extended keys: no key. */
static const uint16_t extended_keys[128] = {
  [0x10] = KEY_PREVIOUSSONG, [0x19] = KEY_NEXTSONG, [0x1c] = KEY_KPENTER,   [0x1d] = KEY_RIGHTCTRL,
  [0x20] = KEY_MUTE,       [0x21] = KEY_CALC,       [0x22] = KEY_PLAYPAUSE,  [0x24] = KEY_STOPCD,
  [0x2e] = KEY_VOLUMEDOWN, [0x30] = KEY_VOLUMEUP,   [0x32] = KEY_HOMEPAGE,   [0x35] = KEY_KPSLASH,
  [0x37] = KEY_SYSRQ,      /* Print Screen */
  [0x38] = KEY_RIGHTALT,
  [0x46] = KEY_PAUSE,      /* Ctrl+Break */
  [0x47] = KEY_HOME,       [0x48] = KEY_UP,         [0x49] = KEY_PAGEUP,     [0x4b] = KEY_LEFT,
  [0x4d] = KEY_RIGHT,      [0x4f] = KEY_END,        [0x50] = KEY_DOWN,       [0x51] = KEY_PAGEDOWN,
  [0x52] = KEY_INSERT,     [0x53] = KEY_DELETE,     [0x5b] = KEY_LEFTMETA,   [0x5c] = KEY_RIGHTMETA,
  [0x5d] = KEY_COMPOSE,    [0x5e] = KEY_POWER,      [0x5f] = KEY_SLEEP,      [0x63] = KEY_WAKEUP,
  [0x65] = KEY_SEARCH,     [0x66] = KEY_BOOKMARKS,  [0x67] = KEY_REFRESH,    [0x68] = KEY_STOP,
  [0x69] = KEY_FORWARD,    [0x6a] = KEY_BACK,       [0x6b] = KEY_COMPUTER,   [0x6c] = KEY_MAIL,
  [0x6d] = KEY_MEDIA,
};

uint16_t
hv_xt_to_evdev (gboolean extended, uint8_t code)
{
  if (code >= 128)
    return 0;
  return extended ? extended_keys[code] : plain_keys[code];
}

static gsize n_all_codes;
static uint16_t all_codes[256];

const uint16_t *
hv_xt_evdev_codes (gsize *n_codes)
{
  static gsize initialized;

  if (g_once_init_enter (&initialized))
    {
      uint32_t seen[256 / 32] = { 0 };

      for (unsigned code = 0; code < 128; code++)
        {
          seen[plain_keys[code] / 32] |= 1u << (plain_keys[code] % 32);
          seen[extended_keys[code] / 32] |= 1u << (extended_keys[code] % 32);
        }
      for (unsigned key = 1; key < 256; key++)
        if (seen[key / 32] & (1u << (key % 32)))
          all_codes[n_all_codes++] = (uint16_t) key;
      g_once_init_leave (&initialized, 1);
    }
  *n_codes = n_all_codes;
  return all_codes;
}

gboolean
hv_xt_decoder_feed (HvXtDecoder *decoder, uint8_t fragment, HvXtKey *key)
{
  unsigned needed;

  g_return_val_if_fail (decoder != NULL && key != NULL, FALSE);

  /* A prefix where a code should be: the client lost a fragment; start over from the prefix. */
  if (fragment == 0xe0 || fragment == 0xe1)
    decoder->n_pending = 0;
  decoder->pending[decoder->n_pending++] = fragment;
  needed = decoder->pending[0] == 0xe1 ? 3 : decoder->pending[0] == 0xe0 ? 2 : 1;
  if (decoder->n_pending < needed)
    return FALSE;

  memset (key, 0, sizeof *key);
  memcpy (key->scancodes, decoder->pending, decoder->n_pending);
  key->n_scancodes = decoder->n_pending;
  decoder->n_pending = 0;

  switch (needed)
    {
    case 1:
      key->pressed = !(fragment & 0x80);
      key->code = hv_xt_to_evdev (FALSE, fragment & 0x7f);
      break;
    case 2:
      key->pressed = !(fragment & 0x80);
      key->code = hv_xt_to_evdev (TRUE, fragment & 0x7f);
      break;
    default:
      /* Pause: 0xe1 0x1d 0x45 when pressed, 0xe1 0x9d 0xc5 when released. */
      key->pressed = !(key->scancodes[1] & 0x80);
      if ((key->scancodes[1] & 0x7f) == 0x1d && (key->scancodes[2] & 0x7f) == 0x45
          && (key->scancodes[1] & 0x80) == (key->scancodes[2] & 0x80))
        key->code = KEY_PAUSE;
      break;
    }
  return TRUE;
}

void
hv_input_init (HvInput *input)
{
  memset (input, 0, sizeof *input);
  g_mutex_init (&input->lock);
}

void
hv_input_clear (HvInput *input)
{
  g_mutex_clear (&input->lock);
}

/* Routing, with vm->input.lock held.  Input goes to the first instance of each kind; NULL before the
 * machine is built. */

static HvVirtioInput *
keyboard_of (HvVm *vm)
{
  return hv_devices_get_impl (vm->devices, "virtio-keyboard");
}

static HvVirtioInput *
tablet_of (HvVm *vm)
{
  return hv_devices_get_impl (vm->devices, "virtio-tablet");
}

static gboolean
keyboard_ready (HvVm *vm)
{
  return keyboard_of (vm) != NULL && hv_virtio_input_driver_ready (keyboard_of (vm));
}

static gboolean
send_to_keyboard (HvVm *vm, const HvXtKey *key)
{
  if (key->code == 0)
    return TRUE; /* nothing the virtio keyboard has a code for: a fake shift or an unknown key */
  return hv_virtio_input_send (keyboard_of (vm), EV_KEY, key->code, key->pressed)
         && hv_virtio_input_send (keyboard_of (vm), EV_SYN, SYN_REPORT, 0);
}

static void
deliver_key_locked (HvVm *vm, const HvXtKey *key)
{
  uint32_t *word = &vm->input.ps2_down[key->code / 32];
  uint32_t bit = key->code != 0 ? 1u << (key->code % 32) : 0;
  gboolean pressed_on_ps2 = (*word & bit) != 0;
  HvI8042 *i8042 = hv_devices_get_impl (vm->devices, "i8042");

  /* A driver that went away between the check and the send loses nothing: the key goes to PS/2. */
  if (!pressed_on_ps2 && keyboard_ready (vm) && send_to_keyboard (vm, key))
    return;
  if (i8042 == NULL)
    return;
  hv_i8042_inject_scancodes (i8042, key->scancodes, key->n_scancodes);
  if (key->pressed)
    *word |= bit;
  else
    *word &= ~bit;
}

void
hv_vm_input_key (HvVm *vm, uint8_t scancode_fragment)
{
  HvXtKey key;

  g_return_if_fail (vm != NULL);

  g_mutex_lock (&vm->input.lock);
  if (hv_xt_decoder_feed (&vm->input.decoder, scancode_fragment, &key))
    deliver_key_locked (vm, &key);
  g_mutex_unlock (&vm->input.lock);
}

/* Button presses and releases since the guest last heard; the caller sends SYN_REPORT. */
static void
send_buttons_locked (HvVm *vm, HvVirtioInput *tablet, uint32_t buttons)
{
  static const uint16_t codes[] = { BTN_LEFT, BTN_MIDDLE, BTN_RIGHT };

  for (unsigned i = 0; i < G_N_ELEMENTS (codes); i++)
    {
      uint32_t bit = 1u << i;

      if (((buttons ^ vm->input.buttons) & bit)
          && hv_virtio_input_send (tablet, EV_KEY, codes[i], (buttons & bit) != 0))
        vm->input.buttons ^= bit;
    }
}

void
hv_vm_input_tablet (HvVm *vm, uint32_t x, uint32_t y, uint32_t buttons)
{
  HvVirtioInput *tablet;

  g_return_if_fail (vm != NULL);

  /* The machine has no other pointing device: without the tablet's driver, there is no one to tell. */
  g_mutex_lock (&vm->input.lock);
  tablet = tablet_of (vm);
  if (tablet != NULL && hv_virtio_input_driver_ready (tablet))
    {
      hv_virtio_input_send (tablet, EV_ABS, ABS_X, (int32_t) MIN (x, HV_VIRTIO_TABLET_ABS_MAX));
      hv_virtio_input_send (tablet, EV_ABS, ABS_Y, (int32_t) MIN (y, HV_VIRTIO_TABLET_ABS_MAX));
      send_buttons_locked (vm, tablet, buttons);
      hv_virtio_input_send (tablet, EV_SYN, SYN_REPORT, 0);
    }
  g_mutex_unlock (&vm->input.lock);
}

void
hv_vm_input_wheel (HvVm *vm, int32_t steps, uint32_t buttons)
{
  HvVirtioInput *tablet;

  g_return_if_fail (vm != NULL);

  g_mutex_lock (&vm->input.lock);
  tablet = tablet_of (vm);
  if (tablet != NULL && hv_virtio_input_driver_ready (tablet))
    {
      if (steps != 0)
        hv_virtio_input_send (tablet, EV_REL, REL_WHEEL, steps);
      send_buttons_locked (vm, tablet, buttons);
      hv_virtio_input_send (tablet, EV_SYN, SYN_REPORT, 0);
    }
  g_mutex_unlock (&vm->input.lock);
}
