/* vireo-keymap.c — the evdev → XT set-1 codes VireoDisplay sends keys with, from the table the VMM decodes
 * them with (hypervisor/xt-keys.h), and the US layout type_text() types with. */
#include "vireo-keymap.h"

#include "xt-keys.h"

/* Every key of the one table the VMM decodes with too (hypervisor/xt-keys.h). */
static const guint16 evdev_to_xt[] = {
#define EVDEV_TO_XT(evdev, xt) [evdev] = xt,
  VIREO_XT_KEYS (EVDEV_TO_XT)
#undef EVDEV_TO_XT
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
  ['@' - ' '] = { KEY_2, 1 },          ['[' - ' '] = { KEY_LEFTBRACE, 0 },
  ['\\' - ' '] = { KEY_BACKSLASH, 0 }, [']' - ' '] = { KEY_RIGHTBRACE, 0 },
  ['^' - ' '] = { KEY_6, 1 },          ['_' - ' '] = { KEY_MINUS, 1 },
  ['`' - ' '] = { KEY_GRAVE, 0 },      ['{' - ' '] = { KEY_LEFTBRACE, 1 },
  ['|' - ' '] = { KEY_BACKSLASH, 1 },  ['}' - ' '] = { KEY_RIGHTBRACE, 1 },
  ['~' - ' '] = { KEY_GRAVE, 1 },
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
