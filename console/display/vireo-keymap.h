/* vireo-keymap.h — what VireoDisplay sends for a key: Linux evdev key codes to PC XT set-1 scancodes in
 * SPICE's spelling (0xe0-prefixed keys as 0x100 | code), and the US-layout keys that type a character
 * (vireo-keymap.c). */
#pragma once

#include <glib.h>

#include "xt-keys.h"

G_BEGIN_DECLS

/* Pause has no make/break pair: the keyboard sends 0xe1 0x1d 0x45 0xe1 0x9d 0xc5 when it is pressed and
 * nothing when it is released.  SPICE spells the 0xe1 0x1d part 0x21d. */
#define VIREO_XT_PAUSE VIREO_XT_PAUSE_SEQUENCE

/* The set-1 scancode of evdev key @evdev_code (0x01..0x7f, or 0x100 | code after an 0xe0 prefix, or
 * VIREO_XT_PAUSE), or 0 when a PC keyboard has no such key. */
guint vireo_keymap_evdev_to_xt (guint evdev_code);

/* The highest evdev code the table knows; every code above it maps to 0. */
guint vireo_keymap_max_evdev (void);

/* The evdev key that types @c on a US keyboard, and whether Shift must be held for it.  Newline and
 * carriage return are Enter, tab is Tab.  FALSE for characters the layout has no key for. */
gboolean vireo_keymap_char_to_evdev (gunichar c, guint *evdev_code, gboolean *shift);

G_END_DECLS
