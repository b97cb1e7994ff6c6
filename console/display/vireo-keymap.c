/* vireo-keymap.c — the evdev → XT set-1 table VireoDisplay sends keys with, written from Linux's
 * input-event-codes.h and the PC/AT set-1 scancode list (the xtkbd column of keycodemapdb), and the US
 * layout type_text() types with.  The VMM decodes the same codes back (hypervisor/input.c), and the
 * display tests hold the two tables to each other. */
#include "vireo-keymap.h"

#include <linux/input-event-codes.h>

/* Every key of a 105-key PC keyboard, the Japanese and Brazilian extra keys, and the multimedia and
 * power keys that PC keyboards send with an 0xe0 prefix. */
static const guint16 evdev_to_xt[] = {
  /* Codes 1..83 are the set-1 make codes themselves: Linux numbered its keys after the PC keyboard. */
  [KEY_ESC] = 0x01,
  [KEY_1] = 0x02, [KEY_2] = 0x03, [KEY_3] = 0x04, [KEY_4] = 0x05, [KEY_5] = 0x06,
  [KEY_6] = 0x07, [KEY_7] = 0x08, [KEY_8] = 0x09, [KEY_9] = 0x0a, [KEY_0] = 0x0b,
  [KEY_MINUS] = 0x0c, [KEY_EQUAL] = 0x0d, [KEY_BACKSPACE] = 0x0e, [KEY_TAB] = 0x0f,
  [KEY_Q] = 0x10, [KEY_W] = 0x11, [KEY_E] = 0x12, [KEY_R] = 0x13, [KEY_T] = 0x14,
  [KEY_Y] = 0x15, [KEY_U] = 0x16, [KEY_I] = 0x17, [KEY_O] = 0x18, [KEY_P] = 0x19,
  [KEY_LEFTBRACE] = 0x1a, [KEY_RIGHTBRACE] = 0x1b, [KEY_ENTER] = 0x1c, [KEY_LEFTCTRL] = 0x1d,
  [KEY_A] = 0x1e, [KEY_S] = 0x1f, [KEY_D] = 0x20, [KEY_F] = 0x21, [KEY_G] = 0x22,
  [KEY_H] = 0x23, [KEY_J] = 0x24, [KEY_K] = 0x25, [KEY_L] = 0x26,
  [KEY_SEMICOLON] = 0x27, [KEY_APOSTROPHE] = 0x28, [KEY_GRAVE] = 0x29, [KEY_LEFTSHIFT] = 0x2a,
  [KEY_BACKSLASH] = 0x2b,
  [KEY_Z] = 0x2c, [KEY_X] = 0x2d, [KEY_C] = 0x2e, [KEY_V] = 0x2f, [KEY_B] = 0x30,
  [KEY_N] = 0x31, [KEY_M] = 0x32,
  [KEY_COMMA] = 0x33, [KEY_DOT] = 0x34, [KEY_SLASH] = 0x35, [KEY_RIGHTSHIFT] = 0x36,
  [KEY_KPASTERISK] = 0x37, [KEY_LEFTALT] = 0x38, [KEY_SPACE] = 0x39, [KEY_CAPSLOCK] = 0x3a,
  [KEY_F1] = 0x3b, [KEY_F2] = 0x3c, [KEY_F3] = 0x3d, [KEY_F4] = 0x3e, [KEY_F5] = 0x3f,
  [KEY_F6] = 0x40, [KEY_F7] = 0x41, [KEY_F8] = 0x42, [KEY_F9] = 0x43, [KEY_F10] = 0x44,
  [KEY_NUMLOCK] = 0x45, [KEY_SCROLLLOCK] = 0x46,
  [KEY_KP7] = 0x47, [KEY_KP8] = 0x48, [KEY_KP9] = 0x49, [KEY_KPMINUS] = 0x4a,
  [KEY_KP4] = 0x4b, [KEY_KP5] = 0x4c, [KEY_KP6] = 0x4d, [KEY_KPPLUS] = 0x4e,
  [KEY_KP1] = 0x4f, [KEY_KP2] = 0x50, [KEY_KP3] = 0x51, [KEY_KP0] = 0x52, [KEY_KPDOT] = 0x53,

  /* From here on the numbers part ways. */
  [KEY_102ND] = 0x56, /* the ISO key between left Shift and Z */
  [KEY_F11] = 0x57, [KEY_F12] = 0x58,
  [KEY_KPEQUAL] = 0x59,
  [KEY_F13] = 0x5d, [KEY_F14] = 0x5e, [KEY_F15] = 0x5f,
  [KEY_KATAKANAHIRAGANA] = 0x70, [KEY_RO] = 0x73, [KEY_HENKAN] = 0x79, [KEY_MUHENKAN] = 0x7b,
  [KEY_YEN] = 0x7d, [KEY_KPCOMMA] = 0x7e,

  /* The 0xe0 keys of the 101/105-key layout. */
  [KEY_KPENTER] = 0x11c, [KEY_RIGHTCTRL] = 0x11d, [KEY_KPSLASH] = 0x135,
  [KEY_SYSRQ] = 0x137, /* Print Screen as the key sends it without Alt (Alt+Print is 0x54) */
  [KEY_RIGHTALT] = 0x138,
  [KEY_HOME] = 0x147, [KEY_UP] = 0x148, [KEY_PAGEUP] = 0x149, [KEY_LEFT] = 0x14b,
  [KEY_RIGHT] = 0x14d, [KEY_END] = 0x14f, [KEY_DOWN] = 0x150, [KEY_PAGEDOWN] = 0x151,
  [KEY_INSERT] = 0x152, [KEY_DELETE] = 0x153,
  [KEY_LEFTMETA] = 0x15b, [KEY_RIGHTMETA] = 0x15c, [KEY_COMPOSE] = 0x15d, /* the Menu key */
  [KEY_PAUSE] = VIREO_XT_PAUSE,

  /* Power management and multimedia keys (0xe0 too). */
  [KEY_POWER] = 0x15e, [KEY_SLEEP] = 0x15f, [KEY_WAKEUP] = 0x163,
  [KEY_PREVIOUSSONG] = 0x110, [KEY_NEXTSONG] = 0x119, [KEY_MUTE] = 0x120, [KEY_CALC] = 0x121,
  [KEY_PLAYPAUSE] = 0x122, [KEY_STOPCD] = 0x124, [KEY_VOLUMEDOWN] = 0x12e, [KEY_VOLUMEUP] = 0x130,
  [KEY_HOMEPAGE] = 0x132, [KEY_SEARCH] = 0x165, [KEY_BOOKMARKS] = 0x166, [KEY_REFRESH] = 0x167,
  [KEY_STOP] = 0x168, [KEY_FORWARD] = 0x169, [KEY_BACK] = 0x16a, [KEY_COMPUTER] = 0x16b,
  [KEY_MAIL] = 0x16c, [KEY_MEDIA] = 0x16d,
};

guint
vireo_keymap_evdev_to_xt (guint evdev_code)
{
  if (evdev_code >= G_N_ELEMENTS (evdev_to_xt))
    return 0;
  return evdev_to_xt[evdev_code];
}

guint
vireo_keymap_max_evdev (void)
{
  return G_N_ELEMENTS (evdev_to_xt) - 1;
}

/* US layout: printable ASCII from ' ' to '~', the key and whether it is the shifted character. */
typedef struct
{
  guint8 key;
  guint8 shift;
} TypedKey;

static const TypedKey us_printable[] = {
  [' ' - ' '] = { KEY_SPACE, 0 },      ['!' - ' '] = { KEY_1, 1 },
  ['"' - ' '] = { KEY_APOSTROPHE, 1 }, ['#' - ' '] = { KEY_3, 1 },
  ['$' - ' '] = { KEY_4, 1 },          ['%' - ' '] = { KEY_5, 1 },
  ['&' - ' '] = { KEY_7, 1 },          ['\'' - ' '] = { KEY_APOSTROPHE, 0 },
  ['(' - ' '] = { KEY_9, 1 },          [')' - ' '] = { KEY_0, 1 },
  ['*' - ' '] = { KEY_8, 1 },          ['+' - ' '] = { KEY_EQUAL, 1 },
  [',' - ' '] = { KEY_COMMA, 0 },      ['-' - ' '] = { KEY_MINUS, 0 },
  ['.' - ' '] = { KEY_DOT, 0 },        ['/' - ' '] = { KEY_SLASH, 0 },
  ['0' - ' '] = { KEY_0, 0 },          ['1' - ' '] = { KEY_1, 0 },
  ['2' - ' '] = { KEY_2, 0 },          ['3' - ' '] = { KEY_3, 0 },
  ['4' - ' '] = { KEY_4, 0 },          ['5' - ' '] = { KEY_5, 0 },
  ['6' - ' '] = { KEY_6, 0 },          ['7' - ' '] = { KEY_7, 0 },
  ['8' - ' '] = { KEY_8, 0 },          ['9' - ' '] = { KEY_9, 0 },
  [':' - ' '] = { KEY_SEMICOLON, 1 },  [';' - ' '] = { KEY_SEMICOLON, 0 },
  ['<' - ' '] = { KEY_COMMA, 1 },      ['=' - ' '] = { KEY_EQUAL, 0 },
  ['>' - ' '] = { KEY_DOT, 1 },        ['?' - ' '] = { KEY_SLASH, 1 },
  ['@' - ' '] = { KEY_2, 1 },
  ['[' - ' '] = { KEY_LEFTBRACE, 0 },  ['\\' - ' '] = { KEY_BACKSLASH, 0 },
  [']' - ' '] = { KEY_RIGHTBRACE, 0 }, ['^' - ' '] = { KEY_6, 1 },
  ['_' - ' '] = { KEY_MINUS, 1 },      ['`' - ' '] = { KEY_GRAVE, 0 },
  ['{' - ' '] = { KEY_LEFTBRACE, 1 },  ['|' - ' '] = { KEY_BACKSLASH, 1 },
  ['}' - ' '] = { KEY_RIGHTBRACE, 1 }, ['~' - ' '] = { KEY_GRAVE, 1 },
};

/* The letter keys in alphabetical order: their codes follow the keyboard's rows, not the alphabet. */
static const guint8 letter_keys[26] = {
  KEY_A, KEY_B, KEY_C, KEY_D, KEY_E, KEY_F, KEY_G, KEY_H, KEY_I, KEY_J, KEY_K, KEY_L, KEY_M,
  KEY_N, KEY_O, KEY_P, KEY_Q, KEY_R, KEY_S, KEY_T, KEY_U, KEY_V, KEY_W, KEY_X, KEY_Y, KEY_Z,
};

gboolean
vireo_keymap_char_to_evdev (gunichar c, guint *evdev_code, gboolean *shift)
{
  guint key = 0;
  gboolean shifted = FALSE;

  if (c >= 'a' && c <= 'z')
    key = letter_keys[c - 'a'];
  else if (c >= 'A' && c <= 'Z')
    {
      key = letter_keys[c - 'A'];
      shifted = TRUE;
    }
  else if (c == '\n' || c == '\r')
    key = KEY_ENTER;
  else if (c == '\t')
    key = KEY_TAB;
  else if (c >= ' ' && c <= '~')
    {
      key = us_printable[c - ' '].key;
      shifted = us_printable[c - ' '].shift;
    }

  if (key == 0)
    return FALSE;
  *evdev_code = key;
  *shift = shifted;
  return TRUE;
}
