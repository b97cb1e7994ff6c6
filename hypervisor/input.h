/* input.h — input from display clients on its way to the guest (input.c): PC XT set-1 scancode fragments
 * gathered into whole key sequences and named by Linux evdev key codes, and what hv_vm_input_key(),
 * hv_vm_input_tablet() and hv_vm_input_wheel() remember between calls. */
#pragma once

#include <glib.h>
#include <stdint.h>

/* The longest set-1 sequence for one key event: Pause's 0xe1 0x1d 0x45. */
#define HV_XT_SEQUENCE_MAX 3

/* A key event, as one whole sequence of fragments. */
typedef struct
{
  uint8_t scancodes[HV_XT_SEQUENCE_MAX]; /* what a PS/2 keyboard sends for it */
  unsigned n_scancodes;
  uint16_t code;    /* evdev KEY_*, or 0 for a sequence that names no key (a fake shift, an unknown code) */
  gboolean pressed; /* make, not break */
} HvXtKey;

/* Collects fragments until they form a sequence: a code, 0xe0 and a code, or 0xe1 and two codes. */
typedef struct
{
  uint8_t pending[HV_XT_SEQUENCE_MAX];
  unsigned n_pending;
} HvXtDecoder;

/* Feeds one fragment; TRUE when it completes a sequence, which @key then describes. */
gboolean hv_xt_decoder_feed (HvXtDecoder *decoder, uint8_t fragment, HvXtKey *key);

/* The evdev code of set-1 make code @code (bit 7 clear), after an 0xe0 prefix when @extended; 0 when
 * the key has none.  The inverse of the evdev→XT tables display clients use (keycodemapdb's xtkbd). */
uint16_t hv_xt_to_evdev (gboolean extended, uint8_t code);

/* Every evdev key code hv_xt_to_evdev() can return (for a keyboard to announce), ascending. */
const uint16_t *hv_xt_evdev_codes (gsize *n_codes);

/* What the VM remembers between input calls (HvVm.input). */
typedef struct
{
  GMutex lock;
  HvXtDecoder decoder;
  uint32_t ps2_down[256 / 32]; /* keys whose press went to the PS/2 keyboard: their release goes too */
  uint32_t buttons;            /* the tablet buttons the guest last heard of */
} HvInput;

void hv_input_init (HvInput *input);
void hv_input_clear (HvInput *input);
