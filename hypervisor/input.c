/* input.c — input from display clients into the guest: hv_vm_input_key() (XT set-1 fragments, to the
 * virtio keyboard once its driver is ready, to the PS/2 keyboard until then), hv_vm_input_tablet() and
 * hv_vm_input_wheel() (the virtio tablet), and the set-1 → evdev table that connects the two keyboards.
 *
 * A key's release goes where its press went, so a key pressed while the guest still used the PS/2
 * keyboard is not left down there (and autorepeating) when the virtio driver takes over. */
#include "input.h"
#include "devices/virtio-input.h"
#include "vm-private.h"

#include "xt-keys.h"
#include <string.h>

/* Set-1 codes to evdev keys: the make code, 0x100 + code after an 0xe0 prefix (xt-keys.h). */
static const uint16_t xt_to_evdev[VIREO_XT_PAUSE_SEQUENCE + 1] = {
#define XT_TO_EVDEV(evdev, xt) [xt] = evdev,
  VIREO_XT_KEYS (XT_TO_EVDEV) VIREO_XT_DECODE_ALIASES (XT_TO_EVDEV)
#undef XT_TO_EVDEV
};
uint16_t
hv_xt_to_evdev (gboolean extended, uint8_t code)
{
  if (code >= 128)
    return 0;
  return xt_to_evdev[(extended ? 0x100 : 0) + code];
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

      for (unsigned code = 0; code < G_N_ELEMENTS (xt_to_evdev); code++)
        seen[xt_to_evdev[code] / 32] |= 1u << (xt_to_evdev[code] % 32);
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
