/* xt-keys.h — the one table of PC keys as Linux numbers them (evdev, input-event-codes.h) and as a PC/AT
 * keyboard sends them (XT set 1: the make code, 0x100 + code for an 0xe0-prefixed key, 0x21d for Pause and
 * its 0xe1 sequence), written from the xtkbd column of keycodemapdb.  The app's display widget sends keys
 * with it (console/display/vireo-keymap.c) and the VMM decodes them with it (hypervisor/input.c).
 * Data only: it needs nothing but <linux/input-event-codes.h>.
 *
 * VIREO_XT_KEYS (X) calls X (evdev, xt) for every key of a 105-key PC keyboard, the Japanese and
 * Brazilian extra keys, and the multimedia and power keys PC keyboards send with an 0xe0 prefix.
 * VIREO_XT_DECODE_ALIASES (X) lists what a keyboard also sends for a key, which no key is sent as:
 * Alt+Print Screen and Ctrl+Break. */
#pragma once

#include <linux/input-event-codes.h>

#define VIREO_XT_PAUSE_SEQUENCE 0x21d

/* Laid out by hand (tables of key codes, packed as many a line as fit): */
/* clang-format off */
#define VIREO_XT_KEYS(X) \
  X (KEY_ESC, 0x01) X (KEY_1, 0x02) X (KEY_2, 0x03) X (KEY_3, 0x04) X (KEY_4, 0x05) X (KEY_5, 0x06) \
  X (KEY_6, 0x07) X (KEY_7, 0x08) X (KEY_8, 0x09) X (KEY_9, 0x0a) X (KEY_0, 0x0b) X (KEY_MINUS, 0x0c) \
  X (KEY_EQUAL, 0x0d) X (KEY_BACKSPACE, 0x0e) X (KEY_TAB, 0x0f) X (KEY_Q, 0x10) X (KEY_W, 0x11) \
  X (KEY_E, 0x12) X (KEY_R, 0x13) X (KEY_T, 0x14) X (KEY_Y, 0x15) X (KEY_U, 0x16) X (KEY_I, 0x17) \
  X (KEY_O, 0x18) X (KEY_P, 0x19) X (KEY_LEFTBRACE, 0x1a) X (KEY_RIGHTBRACE, 0x1b) X (KEY_ENTER, 0x1c) \
  X (KEY_LEFTCTRL, 0x1d) X (KEY_A, 0x1e) X (KEY_S, 0x1f) X (KEY_D, 0x20) X (KEY_F, 0x21) X (KEY_G, 0x22) \
  X (KEY_H, 0x23) X (KEY_J, 0x24) X (KEY_K, 0x25) X (KEY_L, 0x26) X (KEY_SEMICOLON, 0x27) \
  X (KEY_APOSTROPHE, 0x28) X (KEY_GRAVE, 0x29) X (KEY_LEFTSHIFT, 0x2a) X (KEY_BACKSLASH, 0x2b) \
  X (KEY_Z, 0x2c) X (KEY_X, 0x2d) X (KEY_C, 0x2e) X (KEY_V, 0x2f) X (KEY_B, 0x30) X (KEY_N, 0x31) \
  X (KEY_M, 0x32) X (KEY_COMMA, 0x33) X (KEY_DOT, 0x34) X (KEY_SLASH, 0x35) X (KEY_RIGHTSHIFT, 0x36) \
  X (KEY_KPASTERISK, 0x37) X (KEY_LEFTALT, 0x38) X (KEY_SPACE, 0x39) X (KEY_CAPSLOCK, 0x3a) \
  X (KEY_F1, 0x3b) X (KEY_F2, 0x3c) X (KEY_F3, 0x3d) X (KEY_F4, 0x3e) X (KEY_F5, 0x3f) X (KEY_F6, 0x40) \
  X (KEY_F7, 0x41) X (KEY_F8, 0x42) X (KEY_F9, 0x43) X (KEY_F10, 0x44) X (KEY_NUMLOCK, 0x45) \
  X (KEY_SCROLLLOCK, 0x46) X (KEY_KP7, 0x47) X (KEY_KP8, 0x48) X (KEY_KP9, 0x49) X (KEY_KPMINUS, 0x4a) \
  X (KEY_KP4, 0x4b) X (KEY_KP5, 0x4c) X (KEY_KP6, 0x4d) X (KEY_KPPLUS, 0x4e) X (KEY_KP1, 0x4f) \
  X (KEY_KP2, 0x50) X (KEY_KP3, 0x51) X (KEY_KP0, 0x52) X (KEY_KPDOT, 0x53) X (KEY_102ND, 0x56) \
  X (KEY_F11, 0x57) X (KEY_F12, 0x58) X (KEY_KPEQUAL, 0x59) X (KEY_F13, 0x5d) X (KEY_F14, 0x5e) \
  X (KEY_F15, 0x5f) X (KEY_KATAKANAHIRAGANA, 0x70) X (KEY_RO, 0x73) X (KEY_HENKAN, 0x79) \
  X (KEY_MUHENKAN, 0x7b) X (KEY_YEN, 0x7d) X (KEY_KPCOMMA, 0x7e) X (KEY_KPENTER, 0x11c) \
  X (KEY_RIGHTCTRL, 0x11d) X (KEY_KPSLASH, 0x135) X (KEY_SYSRQ, 0x137) X (KEY_RIGHTALT, 0x138) \
  X (KEY_HOME, 0x147) X (KEY_UP, 0x148) X (KEY_PAGEUP, 0x149) X (KEY_LEFT, 0x14b) X (KEY_RIGHT, 0x14d) \
  X (KEY_END, 0x14f) X (KEY_DOWN, 0x150) X (KEY_PAGEDOWN, 0x151) X (KEY_INSERT, 0x152) \
  X (KEY_DELETE, 0x153) X (KEY_LEFTMETA, 0x15b) X (KEY_RIGHTMETA, 0x15c) X (KEY_COMPOSE, 0x15d) \
  X (KEY_PAUSE, 0x21d) X (KEY_POWER, 0x15e) X (KEY_SLEEP, 0x15f) X (KEY_WAKEUP, 0x163) \
  X (KEY_PREVIOUSSONG, 0x110) X (KEY_NEXTSONG, 0x119) X (KEY_MUTE, 0x120) X (KEY_CALC, 0x121) \
  X (KEY_PLAYPAUSE, 0x122) X (KEY_STOPCD, 0x124) X (KEY_VOLUMEDOWN, 0x12e) X (KEY_VOLUMEUP, 0x130) \
  X (KEY_HOMEPAGE, 0x132) X (KEY_SEARCH, 0x165) X (KEY_BOOKMARKS, 0x166) X (KEY_REFRESH, 0x167) \
  X (KEY_STOP, 0x168) X (KEY_FORWARD, 0x169) X (KEY_BACK, 0x16a) X (KEY_COMPUTER, 0x16b) \
  X (KEY_MAIL, 0x16c) X (KEY_MEDIA, 0x16d)

#define VIREO_XT_DECODE_ALIASES(X) \
  X (KEY_SYSRQ, 0x54) X (KEY_PAUSE, 0x146)
/* clang-format on */
