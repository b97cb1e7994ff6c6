/* demo.c — the README's demo VM: a banner with what the machine looks like from inside (CPUs, memory,
 * ACPI tables, the CMOS clock), then a small command prompt on the serial console.  It shuts down
 * cleanly when the ACPI power button is pressed.  Everything after the first line runs in ring 3.
 *
 * With a Bochs display it is also graphical (1024x768): a title bar with "Vireo demo" and a clock
 * that ticks from the CMOS RTC, a colour test strip, the serial console mirrored in a panel, and a
 * status bar with the keyboards, the last key and the pointer.  Keys typed on the PS/2 or virtio
 * keyboard go to the same command line as serial input (and so are echoed on serial); tablet
 * clicks are echoed on serial as "pointer: <button> click at X,Y".  Without a display nothing of
 * this happens and the serial output is exactly the text-only demo's. */
#include "kit.h"

#define RTC_INDEX 0x70
#define RTC_DATA  0x71

typedef struct
{
  unsigned year, month, day, hour, minute, second;
} RtcTime;

static uint8_t
cmos_read (uint8_t reg)
{
  outb (RTC_INDEX, reg);
  return inb (RTC_DATA);
}

static unsigned
from_bcd (uint8_t value, bool binary)
{
  return binary ? value : (unsigned) (value >> 4) * 10 + (value & 0x0f);
}

static void
read_time (RtcTime *t)
{
  uint8_t sec, min, hour, day, mon, year, century, status_b;

  /* Wait out an update in progress (register A bit 7), then read twice until stable. */
  for (unsigned tries = 0; tries < 1000000 && (cmos_read (0x0a) & 0x80); tries++)
    cpu_pause ();
  do
    {
      sec = cmos_read (0x00);
      min = cmos_read (0x02);
      hour = cmos_read (0x04);
      day = cmos_read (0x07);
      mon = cmos_read (0x08);
      year = cmos_read (0x09);
      century = cmos_read (0x32);
    }
  while (sec != cmos_read (0x00));
  status_b = cmos_read (0x0b);
  bool binary = status_b & 0x04;
  t->year = from_bcd (century, binary) * 100 + from_bcd (year, binary);
  t->month = from_bcd (mon, binary);
  t->day = from_bcd (day, binary);
  t->hour = from_bcd (hour & 0x7f, binary);
  t->minute = from_bcd (min, binary);
  t->second = from_bcd (sec, binary);
}

static void
print_time (void)
{
  RtcTime t;

  read_time (&t);
  kit_printf ("%02u%02u-%02u-%02u %02u:%02u:%02u UTC", t.year / 100, t.year % 100, t.month, t.day, t.hour,
              t.minute, t.second);
}

/* The screen, when there is one. */
static struct
{
  bool active;
  KitFb fb;
  bool have_ps2;
  KitVirtioInput inputs[4];
  unsigned n_inputs;
} screen;

static unsigned
count_cpus (void)
{
  const struct acpi_header *madt = kit_acpi_find ("APIC");
  const uint8_t *p, *end;
  unsigned cpus = 0;

  if (madt == NULL)
    return 0;
  p = (const uint8_t *) madt + 44;
  end = (const uint8_t *) madt + madt->length;
  while (p + 2 <= end && p[1] >= 2 && p + p[1] <= end)
    {
      if (p[0] == 0 && p[1] >= 8 && (p[4] & 1))
        cpus++;
      p += p[1];
    }
  return cpus;
}

static void
print_display_info (void)
{
  bool virtio_keyboard = false, virtio_tablet = false;

  for (unsigned i = 0; i < screen.n_inputs; i++)
    {
      virtio_keyboard |= screen.inputs[i].is_keyboard;
      virtio_tablet |= screen.inputs[i].is_tablet;
    }
  kit_printf ("  Display       %ux%u on the Bochs display; keyboard: %s%s%s, tablet: %s\n", screen.fb.width,
              screen.fb.height, screen.have_ps2 ? "PS/2" : "",
              screen.have_ps2 && virtio_keyboard ? " and " : "",
              virtio_keyboard   ? "virtio"
              : screen.have_ps2 ? ""
                                : "none",
              virtio_tablet ? "virtio" : "none");
}

static void
print_info (void)
{
  uint32_t n_map = 0;
  const struct hvm_memmap_table_entry *map = kit_memmap (&n_map);
  uint64_t ram = 0;
  unsigned ranges = 0;

  for (uint32_t i = 0; map && i < n_map; i++)
    if (map[i].type == 1)
      {
        ram += map[i].size;
        ranges++;
      }

  kit_printf ("  CPUs          %u (from the ACPI MADT)\n", count_cpus ());
  kit_printf ("  Memory        %lu MiB of RAM in %u ranges of the memory map\n",
              (unsigned long) ((ram + (1u << 19)) >> 20), ranges);
  kit_printf ("  Command line  %s\n", *kit_cmdline () ? kit_cmdline () : "(none)");
  kit_puts ("  ACPI tables  ");
  for (unsigned i = 0; i < kit_acpi_root_count (); i++)
    {
      const struct acpi_header *table = kit_acpi_root_entry (i);
      if (table)
        kit_printf (" %.4s%s", table->signature,
                    kit_acpi_checksum_ok (table, table->length) ? "" : "(bad checksum)");
    }
  if (kit_acpi_dsdt ())
    kit_puts (" DSDT");
  kit_puts ("\n  Clock         ");
  print_time ();
  kit_puts (" (CMOS RTC)\n");
  if (screen.active)
    print_display_info ();
}

static void
print_help (void)
{
  kit_puts ("Commands:\n"
            "  help      this list\n"
            "  info      what this machine looks like from inside\n"
            "  time      the CMOS clock\n"
            "  primes N  count the primes below N (up to 50000000), natively in ring 3\n"
            "  echo ...  print the rest of the line\n"
            "  reset     reset the machine through the i8042\n"
            "  off       power off through ACPI\n"
            "Pressing the power button (SIGTERM to vireo-run, or Ctrl-A s) shuts the guest down.\n");
}

static uint8_t sieve[50000000];

static void
count_primes (const char *arg)
{
  uint64_t limit = 0, count = 0;

  while (*arg == ' ')
    arg++;
  for (; *arg >= '0' && *arg <= '9'; arg++)
    limit = limit * 10 + (uint64_t) (*arg - '0');
  if (limit < 2 || limit > sizeof sieve)
    {
      kit_puts ("primes: give a number from 2 to 50000000\n");
      return;
    }
  memset (sieve, 0, limit);
  for (uint64_t i = 2; i < limit; i++)
    {
      if (sieve[i])
        continue;
      count++;
      for (uint64_t j = i * i; j < limit; j += i)
        sieve[j] = 1;
    }
  kit_printf ("%lu primes below %lu\n", (unsigned long) count, (unsigned long) limit);
}

static bool
starts_with (const char *line, const char *word)
{
  size_t n = strlen (word);
  return memcmp (line, word, n) == 0 && (line[n] == '\0' || line[n] == ' ');
}

static void
run_command (const char *line)
{
  while (*line == ' ')
    line++;
  if (*line == '\0')
    return;
  if (starts_with (line, "help"))
    print_help ();
  else if (starts_with (line, "info"))
    print_info ();
  else if (starts_with (line, "time"))
    {
      print_time ();
      kit_puts ("\n");
    }
  else if (starts_with (line, "primes"))
    count_primes (line + 6);
  else if (starts_with (line, "echo"))
    kit_printf ("%s\n", line[4] ? line + 5 : "");
  else if (starts_with (line, "reset"))
    {
      kit_puts ("Resetting.\n");
      kit_reset_i8042 ();
    }
  else if (starts_with (line, "off"))
    {
      kit_puts ("Powering off.\n");
      kit_poweroff ();
    }
  else
    kit_printf ("%s: unknown command (try help)\n", line);
}

/* The command line being typed, from serial and from the keyboards alike. */
static char line[128];
static size_t line_len;

static void
line_input (uint8_t c)
{
  if (c == '\r' || c == '\n')
    {
      kit_puts ("\n");
      line[line_len] = '\0';
      run_command (line);
      line_len = 0;
      kit_puts ("vireo> ");
    }
  else if (c == 0x7f || c == 0x08)
    {
      if (line_len > 0)
        {
          line_len--;
          kit_puts ("\b \b");
        }
    }
  else if (c >= 0x20 && c < 0x7f && line_len + 1 < sizeof line)
    {
      line[line_len++] = (char) c;
      kit_putc ((char) c);
    }
}

/* ---- The graphical screen (1024x768). ---- */

#define SCREEN_WIDTH  1024
#define SCREEN_HEIGHT 768

#define COLOUR_DESKTOP     0x0b1220
#define COLOUR_HEADER_TOP  0x1f4068
#define COLOUR_HEADER_END  0x14253d
#define COLOUR_TITLE       0xffffff
#define COLOUR_SUBTITLE    0x9fb3c8
#define COLOUR_ACCENT      0x4fc3f7
#define COLOUR_PANEL       0x0d1117
#define COLOUR_PANEL_EDGE  0x30415a
#define COLOUR_PANEL_TITLE 0x1a2433
#define COLOUR_TEXT        0xd0d7de
#define COLOUR_PROMPT      0x7ee787
#define COLOUR_CURSOR      0x4fc3f7

#define HEADER_HEIGHT 80
#define STRIP_Y       80
#define STRIP_HEIGHT  40
#define PANEL_X       12
#define PANEL_Y       128
#define PANEL_WIDTH   1000
#define PANEL_HEIGHT  592
#define PANEL_BAR     24
#define TERM_X        (PANEL_X + 8)
#define TERM_Y        (PANEL_Y + PANEL_BAR + 4)
#define TERM_COLS     122
#define TERM_ROWS     35
#define STATUS_Y      728
#define STATUS_HEIGHT 40
#define CLOCK_SCALE   3

/* The serial console as the panel shows it: filled by the console hook, drawn by render(). */
static struct
{
  char cells[TERM_ROWS][TERM_COLS];
  unsigned row, col;
  bool dirty[TERM_ROWS];
} term;

/* What the status bar shows. */
static struct
{
  char last_key[48];
  int pointer_x, pointer_y;
  uint32_t buttons;
  bool have_pointer;
  bool dirty;
} status;

static bool shift_down;
static bool ps2_extended;
static RtcTime clock_now;
static bool clock_dirty;

/* The arrow pointer: 'X' outline, '.' fill, ' ' transparent; the hot spot is the top-left pixel. */
#define ARROW_WIDTH  12
#define ARROW_HEIGHT 19
static const char arrow[ARROW_HEIGHT][ARROW_WIDTH + 1] = {
  "X           ", "XX          ", "X.X         ", "X..X        ", "X...X       ",
  "X....X      ", "X.....X     ", "X......X    ", "X.......X   ", "X........X  ",
  "X.........X ", "X......XXXXX", "X...X..X    ", "X..XX..X    ", "X.X  X..X   ",
  "XX   X..X   ", "X     X..X  ", "      X..X  ", "       XX   ",
};

static struct
{
  bool shown;
  int x, y;
  uint32_t under[ARROW_HEIGHT][ARROW_WIDTH];
} arrow_state;

static void
term_newline (void)
{
  term.col = 0;
  if (term.row + 1 < TERM_ROWS)
    {
      term.row++;
      return;
    }
  memmove (term.cells[0], term.cells[1], sizeof term.cells - sizeof term.cells[0]);
  memset (term.cells[TERM_ROWS - 1], ' ', TERM_COLS);
  for (unsigned r = 0; r < TERM_ROWS; r++)
    term.dirty[r] = true;
}

/* The console hook: only updates the cells, so printing stays cheap. */
static void
term_putc (char c)
{
  term.dirty[term.row] = true;
  if (c == '\n')
    term_newline ();
  else if (c == '\r')
    term.col = 0;
  else if (c == '\b')
    {
      if (term.col > 0)
        term.col--;
    }
  else if (c >= 0x20 && c < 0x7f)
    {
      if (term.col == TERM_COLS)
        term_newline ();
      term.cells[term.row][term.col++] = c;
    }
  term.dirty[term.row] = true;
}

static uint32_t
mix (uint32_t a, uint32_t b, unsigned num, unsigned den)
{
  uint32_t out = 0;

  for (unsigned shift = 0; shift < 24; shift += 8)
    {
      unsigned ca = (a >> shift) & 0xff, cb = (b >> shift) & 0xff;
      out |= ((ca * (den - num) + cb * num) / den) << shift;
    }
  return out;
}

/* A fully saturated hue, 0..1535 around the colour wheel. */
static uint32_t
hue (unsigned h)
{
  unsigned f = h % 256;
  switch ((h / 256) % 6)
    {
    case 0:
      return 0xff0000 | f << 8;
    case 1:
      return (255 - f) << 16 | 0x00ff00;
    case 2:
      return 0x00ff00 | f;
    case 3:
      return (255 - f) << 8 | 0x0000ff;
    case 4:
      return f << 16 | 0x0000ff;
    default:
      return 0xff0000 | (255 - f);
    }
}

static void
draw_header (void)
{
  KitFb *fb = &screen.fb;

  for (int y = 0; y < HEADER_HEIGHT; y++)
    kit_fb_fill_rect (fb, 0, y, SCREEN_WIDTH, 1,
                      mix (COLOUR_HEADER_TOP, COLOUR_HEADER_END, (unsigned) y, HEADER_HEIGHT));
  kit_fb_fill_rect (fb, 24, 14, 6, 48, COLOUR_ACCENT);
  kit_fb_text (fb, 42, 8, "Vireo demo", COLOUR_TITLE, KIT_FB_TRANSPARENT, 3);
  kit_fb_text (fb, 44, 58, "A freestanding PVH guest on Vireo's VMM core: type, point and click.",
               COLOUR_SUBTITLE, KIT_FB_TRANSPARENT, 1);
}

static void
draw_clock (void)
{
  KitFb *fb = &screen.fb;
  char text[32];
  int width = 8 * KIT_FONT_WIDTH * CLOCK_SCALE;
  int x = SCREEN_WIDTH - 24 - width;

  /* Repaint the header behind the digits, row by row, so the gradient stays whole. */
  for (int y = 4; y < HEADER_HEIGHT - 2; y++)
    kit_fb_fill_rect (fb, x - 8, y, width + 8, 1,
                      mix (COLOUR_HEADER_TOP, COLOUR_HEADER_END, (unsigned) y, HEADER_HEIGHT));
  kit_snprintf (text, sizeof text, "%02u:%02u:%02u", clock_now.hour, clock_now.minute, clock_now.second);
  kit_fb_text (fb, x, 4, text, COLOUR_TITLE, KIT_FB_TRANSPARENT, CLOCK_SCALE);
  kit_snprintf (text, sizeof text, "%04u-%02u-%02u UTC", clock_now.year, clock_now.month, clock_now.day);
  kit_fb_text (fb, SCREEN_WIDTH - 24 - (int) strlen (text) * KIT_FONT_WIDTH, 58, text, COLOUR_ACCENT,
               KIT_FB_TRANSPARENT, 1);
}

/* Colour bars (the display test guest's eight), a hue sweep and a grey ramp. */
static void
draw_strip (void)
{
  static const uint32_t bars[8] = {
    0xffffff, 0xffff00, 0x00ffff, 0x00ff00, 0xff00ff, 0xff0000, 0x0000ff, 0x808080,
  };
  KitFb *fb = &screen.fb;

  for (int i = 0; i < 8; i++)
    kit_fb_fill_rect (fb, i * SCREEN_WIDTH / 8, STRIP_Y, SCREEN_WIDTH / 8, 24, bars[i]);
  for (int x = 0; x < SCREEN_WIDTH; x++)
    {
      kit_fb_fill_rect (fb, x, STRIP_Y + 24, 1, 8, hue ((unsigned) x * 1536 / SCREEN_WIDTH));
      kit_fb_fill_rect (fb, x, STRIP_Y + 32, 1, 8, mix (0x000000, 0xffffff, (unsigned) x, 1023));
    }
}

static void
draw_panel (void)
{
  KitFb *fb = &screen.fb;

  kit_fb_fill_rect (fb, PANEL_X - 1, PANEL_Y - 1, PANEL_WIDTH + 2, PANEL_HEIGHT + 2, COLOUR_PANEL_EDGE);
  kit_fb_fill_rect (fb, PANEL_X, PANEL_Y, PANEL_WIDTH, PANEL_BAR, COLOUR_PANEL_TITLE);
  kit_fb_fill_rect (fb, PANEL_X, PANEL_Y + PANEL_BAR, PANEL_WIDTH, PANEL_HEIGHT - PANEL_BAR, COLOUR_PANEL);
  for (int i = 0; i < 3; i++)
    kit_fb_fill_rect (fb, PANEL_X + 10 + i * 14, PANEL_Y + 8, 8, 8,
                      i == 0   ? 0xff5f57
                      : i == 1 ? 0xfebc2e
                               : 0x28c840);
  kit_fb_text (fb, PANEL_X + 64, PANEL_Y + 4, "Serial console (COM1)", COLOUR_TEXT, KIT_FB_TRANSPARENT, 1);
  kit_fb_text (fb, PANEL_X + PANEL_WIDTH - 8 - 41 * KIT_FONT_WIDTH, PANEL_Y + 4,
               "type here or on the serial port; try help", COLOUR_SUBTITLE, KIT_FB_TRANSPARENT, 1);
  for (unsigned r = 0; r < TERM_ROWS; r++)
    term.dirty[r] = true;
}

static void
draw_term_row (unsigned r)
{
  KitFb *fb = &screen.fb;
  int y = TERM_Y + (int) r * KIT_FONT_HEIGHT;
  bool prompt = memcmp (term.cells[r], "vireo> ", 7) == 0;

  kit_fb_fill_rect (fb, TERM_X, y, TERM_COLS * KIT_FONT_WIDTH, KIT_FONT_HEIGHT, COLOUR_PANEL);
  for (unsigned c = 0; c < TERM_COLS; c++)
    if (term.cells[r][c] != ' ')
      kit_fb_char (fb, TERM_X + (int) c * KIT_FONT_WIDTH, y, term.cells[r][c],
                   prompt && c < 6 ? COLOUR_PROMPT : COLOUR_TEXT, KIT_FB_TRANSPARENT, 1);
  if (r == term.row && term.col < TERM_COLS)
    kit_fb_fill_rect (fb, TERM_X + (int) term.col * KIT_FONT_WIDTH, y + 12, KIT_FONT_WIDTH, 3, COLOUR_CURSOR);
  term.dirty[r] = false;
}

static int
status_field (int x, const char *label, const char *value)
{
  x = kit_fb_text (&screen.fb, x, STATUS_Y + 12, label, COLOUR_ACCENT, KIT_FB_TRANSPARENT, 1);
  x = kit_fb_text (&screen.fb, x + KIT_FONT_WIDTH, STATUS_Y + 12, value, COLOUR_TEXT, KIT_FB_TRANSPARENT, 1);
  return x + 3 * KIT_FONT_WIDTH;
}

static void
draw_status (void)
{
  char keyboards[48], pointer[48], buttons[16];
  bool virtio_keyboard = false;
  int x = 24;

  for (unsigned i = 0; i < screen.n_inputs; i++)
    virtio_keyboard |= screen.inputs[i].is_keyboard;
  kit_snprintf (keyboards, sizeof keyboards, "%s%s%s", screen.have_ps2 ? "PS/2" : "",
                screen.have_ps2 && virtio_keyboard ? " + " : "", virtio_keyboard ? "virtio" : "");
  if (status.have_pointer)
    kit_snprintf (pointer, sizeof pointer, "%d, %d", status.pointer_x, status.pointer_y);
  else
    kit_snprintf (pointer, sizeof pointer, "(move it over the screen)");
  kit_snprintf (buttons, sizeof buttons, "%s%s%s", status.buttons & 1 ? "L" : "-",
                status.buttons & 2 ? "M" : "-", status.buttons & 4 ? "R" : "-");

  kit_fb_fill_rect (&screen.fb, 0, STATUS_Y, SCREEN_WIDTH, STATUS_HEIGHT, COLOUR_PANEL_TITLE);
  kit_fb_fill_rect (&screen.fb, 0, STATUS_Y, SCREEN_WIDTH, 1, COLOUR_PANEL_EDGE);
  x = status_field (x, "Keyboard", keyboards[0] ? keyboards : "none");
  x = status_field (x, "Last key", status.last_key[0] ? status.last_key : "(none yet)");
  x = status_field (x, "Pointer", pointer);
  status_field (x, "Buttons", buttons);
  status.dirty = false;
}

static void
hide_arrow (void)
{
  if (!arrow_state.shown)
    return;
  for (int dy = 0; dy < ARROW_HEIGHT; dy++)
    for (int dx = 0; dx < ARROW_WIDTH; dx++)
      if (arrow[dy][dx] != ' ')
        kit_fb_put_pixel (&screen.fb, arrow_state.x + dx, arrow_state.y + dy, arrow_state.under[dy][dx]);
  arrow_state.shown = false;
}

static void
show_arrow (void)
{
  if (!status.have_pointer)
    return;
  arrow_state.x = status.pointer_x;
  arrow_state.y = status.pointer_y;
  for (int dy = 0; dy < ARROW_HEIGHT; dy++)
    for (int dx = 0; dx < ARROW_WIDTH; dx++)
      if (arrow[dy][dx] != ' ')
        {
          arrow_state.under[dy][dx] = kit_fb_get_pixel (&screen.fb, arrow_state.x + dx, arrow_state.y + dy);
          kit_fb_put_pixel (&screen.fb, arrow_state.x + dx, arrow_state.y + dy,
                            arrow[dy][dx] == 'X' ? 0x000000 : 0xffffff);
        }
  arrow_state.shown = true;
}

/* Brings the screen up to date: only what changed is drawn, under a hidden pointer. */
static void
render (bool pointer_moved)
{
  bool any = pointer_moved || clock_dirty || status.dirty;

  for (unsigned r = 0; r < TERM_ROWS && !any; r++)
    any = term.dirty[r];
  if (!any)
    return;
  hide_arrow ();
  if (clock_dirty)
    draw_clock ();
  clock_dirty = false;
  for (unsigned r = 0; r < TERM_ROWS; r++)
    if (term.dirty[r])
      draw_term_row (r);
  if (status.dirty)
    draw_status ();
  show_arrow ();
}

static bool
screen_init (void)
{
  if (!kit_fb_init (&screen.fb) || !kit_fb_set_mode (&screen.fb, SCREEN_WIDTH, SCREEN_HEIGHT))
    return false;
  screen.have_ps2 = kit_ps2_init ();
  for (unsigned i = 0; i < 4; i++)
    if (kit_virtio_input_init (&screen.inputs[screen.n_inputs], i))
      screen.n_inputs++;

  memset (term.cells, ' ', sizeof term.cells);
  kit_fb_fill_rect (&screen.fb, 0, 0, SCREEN_WIDTH, SCREEN_HEIGHT, COLOUR_DESKTOP);
  draw_header ();
  read_time (&clock_now);
  draw_clock ();
  draw_strip ();
  draw_panel ();
  status.dirty = true;
  screen.active = true;
  kit_set_console_hook (term_putc);
  return true;
}

static void
key_typed (unsigned code, bool pressed, const char *source)
{
  if (code == 0x2a || code == 0x36) /* left and right shift */
    {
      shift_down = pressed;
      return;
    }
  if (!pressed)
    return;

  char c = kit_key_ascii (code, shift_down);
  if (c >= 0x21 && c < 0x7f)
    kit_snprintf (status.last_key, sizeof status.last_key, "'%c' (%s %u)", c, source, code);
  else
    kit_snprintf (status.last_key, sizeof status.last_key, "%s (%s %u)",
                  c == ' '    ? "space"
                  : c == '\n' ? "Enter"
                  : c == '\b' ? "Backspace"
                              : "key",
                  source, code);
  status.dirty = true;
  if (c != 0)
    line_input ((uint8_t) c);
}

static void
ps2_byte (uint8_t byte)
{
  if (byte == 0xe0)
    {
      ps2_extended = true;
      return;
    }
  bool extended = ps2_extended;
  ps2_extended = false;
  /* Extended keys: only keypad Enter types anything; 0xe0 0x2a and friends are fake shifts. */
  if (extended)
    {
      if (byte == 0x1c)
        line_input ('\n');
      return;
    }
  key_typed (byte & 0x7f, !(byte & 0x80), "PS/2");
}

static void
pointer_click (unsigned button)
{
  static const char *const names[3] = { "left", "middle", "right" };

  kit_printf ("\npointer: %s click at %d,%d\nvireo> ", names[button], status.pointer_x, status.pointer_y);
  line[line_len] = '\0';
  kit_puts (line);
}

/* Returns TRUE when the pointer moved. */
static bool
virtio_event (KitVirtioInput *dev, const KitInputEvent *event)
{
  static uint32_t tablet_x, tablet_y;

  if (!dev->is_tablet)
    {
      if (event->type != KIT_EV_KEY)
        return false;
      if (event->code == KIT_KEY_POWER && event->value == 1)
        {
          kit_puts ("\nPower key pressed: shutting down.\n");
          kit_poweroff ();
        }
      /* Codes 1-88 are the set-1 make codes; keypad Enter (96) is the one other key that types. */
      if (event->code == 96)
        {
          if (event->value != 0)
            line_input ('\n');
        }
      else if (event->code < 0x80)
        key_typed (event->code, event->value != 0, "virtio");
      return false;
    }

  if (event->type == KIT_EV_ABS && event->code == KIT_ABS_X)
    tablet_x = event->value;
  else if (event->type == KIT_EV_ABS && event->code == KIT_ABS_Y)
    tablet_y = event->value;
  else if (event->type == KIT_EV_KEY
           && (event->code == KIT_BTN_LEFT || event->code == KIT_BTN_MIDDLE || event->code == KIT_BTN_RIGHT))
    {
      unsigned button = event->code == KIT_BTN_LEFT ? 0 : event->code == KIT_BTN_MIDDLE ? 1 : 2;
      if (event->value)
        {
          status.buttons |= 1u << button;
          pointer_click (button);
        }
      else
        status.buttons &= ~(1u << button);
      status.dirty = true;
    }
  else if (event->type == KIT_EV_SYN && event->code == KIT_SYN_REPORT)
    {
      /* The same mapping as the display test guest: (value - min) * size / (max - min + 1). */
      int64_t range_x = (int64_t) (int32_t) dev->abs_max[0] - (int32_t) dev->abs_min[0] + 1;
      int64_t range_y = (int64_t) (int32_t) dev->abs_max[1] - (int32_t) dev->abs_min[1] + 1;
      int64_t x = (int64_t) (int32_t) tablet_x - (int32_t) dev->abs_min[0];
      int64_t y = (int64_t) (int32_t) tablet_y - (int32_t) dev->abs_min[1];
      x = x < 0 ? 0 : x >= range_x ? range_x - 1 : x;
      y = y < 0 ? 0 : y >= range_y ? range_y - 1 : y;
      int px = (int) (x * SCREEN_WIDTH / range_x), py = (int) (y * SCREEN_HEIGHT / range_y);
      if (!status.have_pointer || px != status.pointer_x || py != status.pointer_y)
        {
          status.pointer_x = px;
          status.pointer_y = py;
          status.have_pointer = true;
          status.dirty = true;
          return true;
        }
    }
  return false;
}

/* Polls the keyboards, the tablet and the clock; redraws what changed. */
static void
screen_poll (void)
{
  static uint64_t last_clock_check;
  bool pointer_moved = false;
  uint8_t byte;
  KitInputEvent event;

  if (screen.have_ps2 && kit_ps2_read (&byte))
    ps2_byte (byte);
  for (unsigned i = 0; i < screen.n_inputs; i++)
    while (kit_virtio_input_poll (&screen.inputs[i], &event))
      pointer_moved |= virtio_event (&screen.inputs[i], &event);

  /* Every few milliseconds (2^24 TSC cycles) is often enough to see the second change, and keeps
   * the RTC's port accesses (VM exits) rare. */
  uint64_t now = kit_rdtsc ();
  if (now - last_clock_check > (1ull << 24))
    {
      last_clock_check = now;
      if (from_bcd (cmos_read (0x00), cmos_read (0x0b) & 0x04) != clock_now.second)
        {
          read_time (&clock_now);
          clock_dirty = true;
        }
    }
  render (pointer_moved);
}

static long
console (void *unused)
{
  bool have_power_button = kit_power_button_arm ();

  screen_init ();
  kit_puts ("\nVireo demo guest\n================\n"
            "A freestanding PVH guest booted by Vireo's VMM core; it talks over the serial port.\n\n");
  print_info ();
  kit_puts ("\nType help for commands.\n\nvireo> ");

  for (;;)
    {
      uint8_t c;

      if (have_power_button && kit_power_button_pressed ())
        {
          kit_puts ("\nPower button pressed: shutting down.\n");
          kit_poweroff ();
        }
      if (screen.active)
        screen_poll ();
      if (!kit_serial_getc (&c))
        {
          cpu_pause ();
          continue;
        }
      line_input (c);
    }
}

void
guest_main (void)
{
  kit_run_user (console, NULL);
}
