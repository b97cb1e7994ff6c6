/* kit-console.c — the guest kit's COM1 driver, printf (to COM1 or a buffer), the console mirror
 * hook and the freestanding string functions. */
#include "kit-private.h"

enum
{
  UART_DATA = 0, /* RBR / THR; divisor low with DLAB */
  UART_IER = 1,  /* divisor high with DLAB */
  UART_IIR_FCR = 2,
  UART_LCR = 3,
  UART_MCR = 4,
  UART_LSR = 5,
};

#define UART_LSR_DR   0x01
#define UART_LSR_THRE 0x20

/* Bytes we may write before looking at LSR again: 16 once THRE says the FIFO is empty.  Every port
 * access is a VM exit, so this halves the cost of output compared with polling before each byte. */
static unsigned tx_room;
static unsigned tx_fifo_size = 1;
static void (*console_hook) (char c);

void
kit_serial_init (void)
{
  outb (HV_PORT_COM1 + UART_IER, 0x00);  /* polled: no interrupts */
  outb (HV_PORT_COM1 + UART_LCR, 0x80);  /* DLAB */
  outb (HV_PORT_COM1 + UART_DATA, 0x01); /* 115200 baud */
  outb (HV_PORT_COM1 + UART_IER, 0x00);
  outb (HV_PORT_COM1 + UART_LCR, 0x03);     /* 8N1 */
  outb (HV_PORT_COM1 + UART_IIR_FCR, 0x07); /* enable and clear the FIFOs */
  outb (HV_PORT_COM1 + UART_MCR, 0x03);     /* DTR, RTS */
  /* IIR bits 7:6 read 11 only on a 16550A whose FIFOs are now on; a plain 16450 takes one byte. */
  tx_fifo_size = (inb (HV_PORT_COM1 + UART_IIR_FCR) & 0xc0) == 0xc0 ? 16 : 1;
  tx_room = 0;
}

void
kit_putc (char c)
{
  if (tx_room == 0)
    {
      /* Bounded, so that a UART that never reports THRE costs output, not a hung guest. */
      for (unsigned i = 0; i < 100000; i++)
        {
          if (inb (HV_PORT_COM1 + UART_LSR) & UART_LSR_THRE)
            break;
          cpu_pause ();
        }
      tx_room = tx_fifo_size;
    }
  outb (HV_PORT_COM1 + UART_DATA, (uint8_t) c);
  tx_room--;
  if (console_hook)
    console_hook (c);
}

void
kit_set_console_hook (void (*hook) (char c))
{
  console_hook = hook;
}

void
kit_puts (const char *s)
{
  while (*s)
    kit_putc (*s++);
}

bool
kit_serial_getc (uint8_t *c)
{
  if (!(inb (HV_PORT_COM1 + UART_LSR) & UART_LSR_DR))
    return false;
  *c = inb (HV_PORT_COM1 + UART_DATA);
  return true;
}

/* Where formatted output goes: COM1 when buf is NULL, else buf (size bytes, NUL kept room for). */
typedef struct
{
  char *buf;
  size_t size;
  size_t len;
} Sink;

static void
sink_putc (Sink *sink, char c)
{
  if (sink->buf == NULL)
    kit_putc (c);
  else if (sink->len + 1 < sink->size)
    sink->buf[sink->len++] = c;
}

static void
put_padded (Sink *sink, const char *digits, size_t len, unsigned width, char pad)
{
  for (size_t i = len; i < width; i++)
    sink_putc (sink, pad);
  for (size_t i = 0; i < len; i++)
    sink_putc (sink, digits[i]);
}

static void
put_unsigned (Sink *sink, uint64_t value, unsigned base, bool negative, unsigned width, char pad)
{
  char buf[24];
  size_t n = sizeof buf;

  do
    {
      buf[--n] = "0123456789abcdef"[value % base];
      value /= base;
    }
  while (value != 0);
  if (negative)
    {
      if (pad == '0')
        {
          sink_putc (sink, '-');
          width = width > 0 ? width - 1 : 0;
        }
      else
        buf[--n] = '-';
    }
  put_padded (sink, buf + n, sizeof buf - n, width, pad);
}

static void
format (Sink *sink, const char *fmt, va_list ap)
{
  for (; *fmt; fmt++)
    {
      if (*fmt != '%')
        {
          sink_putc (sink, *fmt);
          continue;
        }
      fmt++;

      char pad = ' ';
      unsigned width = 0;
      unsigned longs = 0;
      if (*fmt == '0')
        {
          pad = '0';
          fmt++;
        }
      while (*fmt >= '0' && *fmt <= '9')
        width = width * 10 + (unsigned) (*fmt++ - '0');
      size_t precision = SIZE_MAX; /* only %s uses it: "%.4s" for ACPI signatures */
      if (*fmt == '.')
        {
          precision = 0;
          for (fmt++; *fmt >= '0' && *fmt <= '9'; fmt++)
            precision = precision * 10 + (size_t) (*fmt - '0');
        }
      while (*fmt == 'l' || *fmt == 'z')
        {
          longs++;
          fmt++;
        }

      switch (*fmt)
        {
        case 'd':
        case 'i':
          {
            int64_t v = longs ? va_arg (ap, int64_t) : va_arg (ap, int);
            uint64_t magnitude = v < 0 ? 0 - (uint64_t) v : (uint64_t) v;
            put_unsigned (sink, magnitude, 10, v < 0, width, pad);
            break;
          }
        case 'u':
        case 'x':
          {
            uint64_t v = longs ? va_arg (ap, uint64_t) : va_arg (ap, unsigned);
            put_unsigned (sink, v, *fmt == 'u' ? 10 : 16, false, width, pad);
            break;
          }
        case 'p':
          sink_putc (sink, '0');
          sink_putc (sink, 'x');
          put_unsigned (sink, (uintptr_t) va_arg (ap, void *), 16, false, width, pad);
          break;
        case 'c':
          {
            char c = (char) va_arg (ap, int);
            put_padded (sink, &c, 1, width, ' ');
            break;
          }
        case 's':
          {
            const char *s = va_arg (ap, const char *);
            if (s == NULL)
              s = "(null)";
            put_padded (sink, s, kit_strnlen (s, precision), width, ' ');
            break;
          }
        case '%':
          sink_putc (sink, '%');
          break;
        case '\0':
          return;
        default:
          /* Unknown conversions are shown, not silently dropped. */
          sink_putc (sink, '%');
          sink_putc (sink, *fmt);
          break;
        }
    }
}

void
kit_vprintf (const char *fmt, va_list ap)
{
  Sink sink = { NULL, 0, 0 };

  format (&sink, fmt, ap);
}

void
kit_printf (const char *fmt, ...)
{
  va_list ap;

  va_start (ap, fmt);
  kit_vprintf (fmt, ap);
  va_end (ap);
}

size_t
kit_vsnprintf (char *buf, size_t size, const char *fmt, va_list ap)
{
  Sink sink = { buf, size, 0 };

  if (size == 0)
    return 0;
  format (&sink, fmt, ap);
  buf[sink.len] = '\0';
  return sink.len;
}

size_t
kit_snprintf (char *buf, size_t size, const char *fmt, ...)
{
  va_list ap;
  size_t len;

  va_start (ap, fmt);
  len = kit_vsnprintf (buf, size, fmt, ap);
  va_end (ap);
  return len;
}

/* The compiler may emit calls to these four itself, so they use string instructions rather than
 * loops it could turn back into calls. */
void *
memset (void *dst, int c, size_t n)
{
  void *d = dst;
  __asm__ volatile("rep stosb" : "+D"(d), "+c"(n) : "a"(c) : "memory");
  return dst;
}

void *
memcpy (void *dst, const void *src, size_t n)
{
  void *d = dst;
  __asm__ volatile("rep movsb" : "+D"(d), "+S"(src), "+c"(n) : : "memory");
  return dst;
}

void *
memmove (void *dst, const void *src, size_t n)
{
  if ((uintptr_t) dst - (uintptr_t) src >= n)
    return memcpy (dst, src, n);

  /* Overlapping with dst above src: copy backwards. */
  void *d = (char *) dst + n - 1;
  const void *s = (const char *) src + n - 1;
  __asm__ volatile("std; rep movsb; cld" : "+D"(d), "+S"(s), "+c"(n) : : "memory");
  return dst;
}

int
memcmp (const void *a, const void *b, size_t n)
{
  const uint8_t *x = a;
  const uint8_t *y = b;

  for (size_t i = 0; i < n; i++)
    if (x[i] != y[i])
      return x[i] < y[i] ? -1 : 1;
  return 0;
}

size_t
strlen (const char *s)
{
  size_t n = 0;

  while (s[n])
    n++;
  return n;
}

size_t
kit_strnlen (const char *s, size_t max)
{
  size_t n = 0;

  while (n < max && s[n])
    n++;
  return n;
}
