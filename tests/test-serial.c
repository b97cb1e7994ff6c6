/* test-serial.c — the 16550A model driven through its port handler the way Linux's 8250 driver does. */
#include "devices.h"
#include "layout.h"
#include "test-util.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

enum
{
  RBR = 0,
  THR = 0,
  DLL = 0,
  IER = 1,
  DLM = 1,
  IIR = 2,
  FCR = 2,
  EFR = 2,
  LCR = 3,
  MCR = 4,
  LSR = 5,
  MSR = 6,
  SCR = 7,
};

typedef struct
{
  VireoTestPlatform tp;
  HvSerial *serial;
  int out[2]; /* what the guest transmits ends up in out[0] */
} Fixture;

static void
out8 (HvSerial *serial, unsigned reg, uint8_t value)
{
  hv_serial_io (serial, reg, &value, 1, TRUE);
}

static uint8_t
in8 (HvSerial *serial, unsigned reg)
{
  uint8_t value = 0xff;
  hv_serial_io (serial, reg, &value, 1, FALSE);
  return value;
}

static gboolean
irq (Fixture *f)
{
  return f->tp.irq_level[HV_IRQ_COM1];
}

static void
fixture_setup (Fixture *f, gconstpointer data)
{
  vireo_test_platform_init (&f->tp);
  g_assert_no_errno (pipe2 (f->out, O_CLOEXEC | O_NONBLOCK));
  f->serial = hv_serial_new (&f->tp.platform, HV_IRQ_COM1, f->out[1]);
}

static void
fixture_teardown (Fixture *f, gconstpointer data)
{
  hv_serial_free (f->serial);
  close (f->out[0]);
  close (f->out[1]);
  vireo_test_platform_clear (&f->tp);
}

/* Everything transmitted so far. */
static char *
take_output (Fixture *f)
{
  GString *text = g_string_new (NULL);
  char buffer[256];
  ssize_t n;

  while ((n = read (f->out[0], buffer, sizeof buffer)) > 0)
    g_string_append_len (text, buffer, n);
  return g_string_free (text, FALSE);
}

/* The probe of drivers/tty/serial/8250/8250_port.c:autoconfig() and autoconfig_16550a(), step by step;
 * a wrong answer anywhere makes Linux settle for a lesser UART or none. */
static void
test_linux_autoconfig (Fixture *f, gconstpointer data)
{
  HvSerial *s = f->serial;
  uint8_t save_ier, save_mcr, save_lcr, scratch;

  /* IER holds exactly four bits. */
  save_ier = in8 (s, IER);
  out8 (s, IER, 0);
  g_assert_cmphex (in8 (s, IER) & 0x0f, ==, 0);
  out8 (s, IER, 0x0f);
  g_assert_cmphex (in8 (s, IER) & 0x0f, ==, 0x0f);
  out8 (s, IER, 0xff);
  g_assert_cmphex (in8 (s, IER), ==, 0x0f); /* no XScale UUE bit, no 16750 extras */
  out8 (s, IER, save_ier);

  /* Loopback: RTS and OUT2 come back as CTS and DCD. */
  save_mcr = in8 (s, MCR);
  save_lcr = in8 (s, LCR);
  out8 (s, MCR, 0x10 | 0x0a);
  g_assert_cmphex (in8 (s, MSR) & 0xf0, ==, 0x90);
  out8 (s, MCR, save_mcr);

  /* No EFR behind LCR 0xBF, and the FIFO bits of IIR say 16550A. */
  out8 (s, LCR, 0xbf);
  out8 (s, EFR, 0);
  out8 (s, LCR, 0);
  out8 (s, FCR, 0x01);
  g_assert_cmphex (in8 (s, IIR) >> 6, ==, 3);

  /* autoconfig_16550a: with DLAB set, offset 2 still reads IIR, never zero (no ST16C650). */
  out8 (s, LCR, 0x80);
  g_assert_cmphex (in8 (s, EFR), !=, 0);
  out8 (s, LCR, 0xbf);
  g_assert_cmphex (in8 (s, EFR), !=, 0);

  /* No 16750: IIR bit 5 never follows FCR bit 5, with or without DLAB. */
  out8 (s, LCR, 0);
  out8 (s, FCR, 0x01 | 0x20);
  g_assert_cmphex (in8 (s, IIR) >> 5, ==, 6);
  out8 (s, FCR, 0x01);
  out8 (s, LCR, 0x80);
  out8 (s, FCR, 0x01 | 0x20);
  g_assert_cmphex (in8 (s, IIR) >> 5, ==, 6);
  out8 (s, FCR, 0x01);
  out8 (s, LCR, 0);

  /* The scratch register keeps what is written. */
  out8 (s, SCR, 0xa5);
  g_assert_cmphex (in8 (s, SCR), ==, 0xa5);
  out8 (s, SCR, 0x5a);
  g_assert_cmphex (in8 (s, SCR), ==, 0x5a);

  /* Reset as autoconfig ends it. */
  out8 (s, LCR, save_lcr);
  out8 (s, MCR, save_mcr);
  out8 (s, FCR, 0x01 | 0x02 | 0x04);
  out8 (s, FCR, 0);
  scratch = in8 (s, RBR);
  (void) scratch;
  out8 (s, IER, 0);

  /* serial8250_startup refuses a port whose LSR reads all ones; an idle one has THRE and TEMT. */
  g_assert_cmphex (in8 (s, LSR), ==, 0x60);
  g_assert_cmphex (in8 (s, IIR), ==, 0x01);
  g_assert_cmphex (in8 (s, MSR) & 0xf0, ==, 0xb0);
  g_assert_false (irq (f));
}

static void
test_divisor_latch (Fixture *f, gconstpointer data)
{
  HvSerial *s = f->serial;
  g_autofree char *output = NULL;

  out8 (s, LCR, 0x83);
  out8 (s, DLL, 0x01);
  out8 (s, DLM, 0x02);
  g_assert_cmphex (in8 (s, DLL), ==, 0x01);
  g_assert_cmphex (in8 (s, DLM), ==, 0x02);
  out8 (s, LCR, 0x03);
  /* With DLAB clear the same offsets are THR and IER again. */
  g_assert_cmphex (in8 (s, IER), ==, 0);
  out8 (s, THR, 'x');
  output = take_output (f);
  g_assert_cmpstr (output, ==, "x");
  out8 (s, LCR, 0x83);
  g_assert_cmphex (in8 (s, DLL), ==, 0x01);
  g_assert_cmphex (in8 (s, DLM), ==, 0x02);
}

static void
test_transmit (Fixture *f, gconstpointer data)
{
  HvSerial *s = f->serial;
  g_autofree char *output = NULL;
  g_autofree char *looped = NULL;

  for (const char *p = "hello, world\n"; *p; p++)
    {
      g_assert_cmphex (in8 (s, LSR) & 0x20, ==, 0x20);
      out8 (s, THR, (uint8_t) *p);
    }
  output = take_output (f);
  g_assert_cmpstr (output, ==, "hello, world\n");

  /* In loopback the byte goes to the receiver, not the line. */
  out8 (s, MCR, 0x10);
  out8 (s, THR, 'L');
  looped = take_output (f);
  g_assert_cmpstr (looped, ==, "");
  g_assert_cmphex (in8 (s, LSR) & 0x01, ==, 0x01);
  g_assert_cmphex (in8 (s, RBR), ==, 'L');
  g_assert_cmphex (in8 (s, LSR) & 0x01, ==, 0);
}

static void
test_transmit_full_pipe (Fixture *f, gconstpointer data)
{
  HvSerial *s = f->serial;
  g_autofree char *output = NULL;
  g_autofree char *after = NULL;
  int capacity;

  /* A non-blocking output that is full drops bytes instead of stalling the vCPU. */
  capacity = fcntl (f->out[1], F_SETPIPE_SZ, 4096);
  g_assert_cmpint (capacity, >=, 4096);
  for (int i = 0; i < capacity + 1000; i++)
    out8 (s, THR, 'a');
  g_assert_cmphex (in8 (s, LSR) & 0x60, ==, 0x60);
  output = take_output (f);
  g_assert_cmpuint (strlen (output), ==, (gsize) capacity);

  /* Once the reader catches up, bytes flow again. */
  out8 (s, THR, 'b');
  after = take_output (f);
  g_assert_cmpstr (after, ==, "b");
}

static void
test_thre_interrupt (Fixture *f, gconstpointer data)
{
  HvSerial *s = f->serial;
  uint8_t iir1, iir2;

  out8 (s, MCR, 0x0b); /* DTR, RTS, OUT2 */
  g_assert_false (irq (f));

  /* Enabling THRI with THR empty asks for service at once. */
  out8 (s, IER, 0x02);
  g_assert_true (irq (f));
  g_assert_cmphex (in8 (s, IIR), ==, 0x02);
  /* Reading IIR while it names THRE acknowledges it. */
  g_assert_false (irq (f));
  g_assert_cmphex (in8 (s, IIR), ==, 0x01);

  /* Each byte sent makes THR empty again. */
  out8 (s, THR, 'a');
  g_assert_true (irq (f));
  g_assert_cmpuint (f->tp.irq_raises[HV_IRQ_COM1], ==, 2);
  g_assert_cmphex (in8 (s, IIR), ==, 0x02);
  g_assert_false (irq (f));

  /* serial8250_startup's test: THRE must come back when IER.THRI is toggled, or Linux marks the port
   * UART_BUG_THRE. */
  out8 (s, IER, 0);
  out8 (s, IER, 0x02);
  iir1 = in8 (s, IIR);
  out8 (s, IER, 0);
  out8 (s, IER, 0x02);
  iir2 = in8 (s, IIR);
  out8 (s, IER, 0);
  g_assert_cmphex (iir1 & 0x01, ==, 0);
  g_assert_cmphex (iir2 & 0x01, ==, 0);

  /* Writing THR with THRI disabled leaves nothing pending to report. */
  out8 (s, THR, 'b');
  g_assert_cmphex (in8 (s, IIR), ==, 0x01);
  g_assert_false (irq (f));
}

static void
test_out2_gates_irq (Fixture *f, gconstpointer data)
{
  HvSerial *s = f->serial;
  uint8_t byte = 'k';

  out8 (s, IER, 0x01);
  g_assert_cmpuint (hv_serial_receive (s, &byte, 1), ==, 1);
  /* Pending, but OUT2 is low: the PC's IRQ line stays quiet. */
  g_assert_cmphex (in8 (s, IIR), ==, 0x04);
  g_assert_false (irq (f));
  out8 (s, MCR, 0x08);
  g_assert_true (irq (f));
  out8 (s, MCR, 0x00);
  g_assert_false (irq (f));
  out8 (s, MCR, 0x08);
  g_assert_true (irq (f));
  g_assert_cmphex (in8 (s, RBR), ==, 'k');
  g_assert_false (irq (f));
}

static void
test_receive_fifo (Fixture *f, gconstpointer data)
{
  HvSerial *s = f->serial;
  uint8_t bytes[20];

  for (unsigned i = 0; i < sizeof bytes; i++)
    bytes[i] = (uint8_t) ('a' + i);

  /* FIFOs off: a single holding register. */
  g_assert_cmpuint (hv_serial_receive (s, bytes, sizeof bytes), ==, 1);
  g_assert_cmpuint (hv_serial_receive (s, bytes + 1, 1), ==, 0);
  g_assert_cmphex (in8 (s, RBR), ==, 'a');
  g_assert_cmphex (in8 (s, LSR) & 0x03, ==, 0); /* nothing lost, so no overrun */

  /* FIFOs on, trigger level 8: 16 bytes fit. */
  out8 (s, FCR, 0x81);
  out8 (s, MCR, 0x08);
  out8 (s, IER, 0x01);
  g_assert_cmpuint (hv_serial_receive (s, bytes, 3), ==, 3);
  /* Below the trigger level the data is reported as a character timeout. */
  g_assert_true (irq (f));
  g_assert_cmphex (in8 (s, IIR), ==, 0xcc);
  g_assert_cmpuint (hv_serial_receive (s, bytes + 3, sizeof bytes - 3), ==, 13);
  g_assert_cmphex (in8 (s, IIR), ==, 0xc4);

  for (unsigned i = 0; i < 16; i++)
    {
      g_assert_cmphex (in8 (s, LSR) & 0x01, ==, 0x01);
      g_assert_cmphex (in8 (s, RBR), ==, 'a' + i);
    }
  g_assert_cmphex (in8 (s, LSR), ==, 0x60);
  g_assert_false (irq (f));
  g_assert_cmphex (in8 (s, IIR), ==, 0xc1);

  /* FCR bit 1 empties the receive FIFO. */
  g_assert_cmpuint (hv_serial_receive (s, bytes, 5), ==, 5);
  g_assert_true (irq (f));
  out8 (s, FCR, 0x81 | 0x02);
  g_assert_cmphex (in8 (s, LSR) & 0x01, ==, 0);
  g_assert_false (irq (f));

  /* So does turning the FIFOs off. */
  g_assert_cmpuint (hv_serial_receive (s, bytes, 5), ==, 5);
  out8 (s, FCR, 0x00);
  g_assert_cmphex (in8 (s, LSR) & 0x01, ==, 0);
  g_assert_cmphex (in8 (s, IIR), ==, 0x01);
}

static void
test_overrun (Fixture *f, gconstpointer data)
{
  HvSerial *s = f->serial;

  out8 (s, MCR, 0x10 | 0x08); /* loopback */
  out8 (s, IER, 0x05);
  out8 (s, THR, '1');
  out8 (s, THR, '2'); /* no FIFO: the holding register is still full */
  g_assert_cmphex (in8 (s, IIR), ==, 0x06);
  g_assert_cmphex (in8 (s, LSR), ==, 0x63);
  /* Reading LSR clears the error; the data that arrived first is still there. */
  g_assert_cmphex (in8 (s, LSR), ==, 0x61);
  g_assert_cmphex (in8 (s, IIR), ==, 0x04);
  g_assert_cmphex (in8 (s, RBR), ==, '1');
  g_assert_cmphex (in8 (s, IIR), ==, 0x01);
  /* Loopback keeps the interrupt off the wire. */
  g_assert_cmpuint (f->tp.irq_raises[HV_IRQ_COM1], ==, 0);

  /* Outside input waits while the receiver is looped back. */
  g_assert_cmpuint (hv_serial_receive (s, (const uint8_t *) "x", 1), ==, 0);
}

static void
test_modem_status (Fixture *f, gconstpointer data)
{
  HvSerial *s = f->serial;

  g_assert_cmphex (in8 (s, MSR), ==, 0xb0);
  out8 (s, IER, 0x08);
  out8 (s, MCR, 0x10); /* loopback, all outputs off: DCD, DSR and CTS drop */
  g_assert_cmphex (in8 (s, IIR), ==, 0x00);
  g_assert_cmphex (in8 (s, MSR), ==, 0x0b);
  g_assert_cmphex (in8 (s, MSR), ==, 0x00);
  g_assert_cmphex (in8 (s, IIR), ==, 0x01);

  out8 (s, MCR, 0x10 | 0x01); /* DTR → DSR */
  g_assert_cmphex (in8 (s, MSR), ==, 0x22);
  out8 (s, MCR, 0x10 | 0x02); /* RTS → CTS, DSR drops */
  g_assert_cmphex (in8 (s, MSR), ==, 0x13);
  out8 (s, MCR, 0x10 | 0x04); /* OUT1 → RI */
  g_assert_cmphex (in8 (s, MSR), ==, 0x41);
  out8 (s, MCR, 0x10 | 0x08); /* OUT2 → DCD; RI's trailing edge */
  g_assert_cmphex (in8 (s, MSR), ==, 0x8c);

  /* Leaving loopback: the line looks connected again; the interrupt fires once OUT2 is on. */
  out8 (s, MCR, 0x08);
  g_assert_true (irq (f));
  g_assert_cmphex (in8 (s, MSR), ==, 0xb3);
  g_assert_false (irq (f));
}

static gboolean
wait_readable (Fixture *f, unsigned timeout_ms)
{
  gint64 deadline = g_get_monotonic_time () + timeout_ms * 1000;

  while (g_get_monotonic_time () < deadline)
    {
      if (in8 (f->serial, LSR) & 0x01)
        return TRUE;
      g_usleep (200);
    }
  return FALSE;
}

static void
test_input_thread (Fixture *f, gconstpointer data)
{
  HvSerial *s = f->serial;
  g_autoptr (GError) error = NULL;
  g_autoptr (GString) received = g_string_new (NULL);
  char text[200];
  int in[2];

  for (unsigned i = 0; i < sizeof text; i++)
    text[i] = (char) ('!' + i % 90);
  g_assert_no_errno (pipe2 (in, O_CLOEXEC));
  g_assert_cmpint (write (in[1], text, sizeof text), ==, sizeof text);

  out8 (s, FCR, 0x01);
  out8 (s, MCR, 0x08);
  out8 (s, IER, 0x01);
  g_assert_true (hv_serial_start_input (s, in[0], &error));
  g_assert_no_error (error);
  g_assert_false (hv_serial_start_input (s, in[0], &error));
  g_assert_error (error, HV_ERROR, HV_ERROR_INVALID_STATE);

  /* The thread fills the FIFO and then waits: nothing may be lost while the guest is slow. */
  g_assert_true (wait_readable (f, 5000));
  g_usleep (50000);
  g_assert_cmpuint (hv_serial_receive (s, (const uint8_t *) "#", 1), ==, 0);

  while (received->len < sizeof text)
    {
      g_assert_true (wait_readable (f, 5000));
      g_string_append_c (received, (char) in8 (s, RBR));
    }
  g_assert_cmpmem (received->str, received->len, text, sizeof text);
  g_assert_true (f->tp.irq_raises[HV_IRQ_COM1] > 0);

  /* End of file ends the thread; freeing the port afterwards must not hang. */
  close (in[1]);
  g_usleep (20000);
  close (in[0]);
}

static void
test_free_wakes_input_thread (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  char text[64];
  int in[2];

  memset (text, 'z', sizeof text);
  g_assert_no_errno (pipe2 (in, O_CLOEXEC));
  g_assert_cmpint (write (in[1], text, sizeof text), ==, sizeof text);
  out8 (f->serial, FCR, 0x01);
  g_assert_true (hv_serial_start_input (f->serial, in[0], &error));
  g_assert_true (wait_readable (f, 5000));
  g_usleep (20000);
  /* The thread is now asleep with a full FIFO and a non-empty pipe: free must wake and join it. */
  hv_serial_free (f->serial);
  f->serial = hv_serial_new (&f->tp.platform, HV_IRQ_COM1, f->out[1]);

  /* The 48 bytes the guest never read are still in the pipe. */
  g_assert_cmpint (read (in[0], text, sizeof text), ==, sizeof text - 16);
  close (in[0]);
  close (in[1]);
}

static void
test_garbage (Fixture *f, gconstpointer data)
{
  static const unsigned widths[] = { 1, 2, 4, 8 };
  HvSerial *s = f->serial;

  for (unsigned i = 0; i < 200000; i++)
    {
      uint8_t buffer[8];
      unsigned len = widths[g_test_rand_int_range (0, G_N_ELEMENTS (widths))];
      uint64_t offset = (uint64_t) g_test_rand_int_range (0, 12);
      gboolean is_write = g_test_rand_bit ();

      for (unsigned b = 0; b < sizeof buffer; b++)
        buffer[b] = (uint8_t) g_test_rand_int ();
      hv_serial_io (s, offset, buffer, len, is_write);
      if (g_test_rand_int_range (0, 64) == 0)
        hv_serial_receive (s, buffer, (gsize) g_test_rand_int_range (0, 9));
    }
  /* Whatever the guest did, the port still works. */
  out8 (s, LCR, 0x03);
  out8 (s, MCR, 0x00);
  out8 (s, FCR, 0x07);
  g_assert_cmphex (in8 (s, LSR) & 0x61, ==, 0x60);
}

/* A port in the middle of things (divisor, line settings, FIFO at trigger 14 holding part of a line, an
 * interrupt pending) comes back in a new port as the guest left it, with its interrupt line raised. */
static void
test_save_load (Fixture *f, gconstpointer data)
{
  HvSerial *s = f->serial;
  VireoTestPlatform tp;
  HvSerial *copy;
  g_autoptr (GVariant) state = NULL;
  g_autoptr (GError) error = NULL;

  out8 (s, LCR, 0x80);
  out8 (s, DLL, 0x01);
  out8 (s, DLM, 0x00);
  out8 (s, LCR, 0x1b);
  out8 (s, FCR, 0xc1);
  out8 (s, MCR, 0x0b);
  out8 (s, IER, 0x05);
  out8 (s, SCR, 0x5a);
  g_assert_cmpuint (hv_serial_receive (s, (const uint8_t *) "hello", 5), ==, 5);
  g_assert_cmphex (in8 (s, RBR), ==, 'h');
  g_assert_true (irq (f));
  state = vireo_test_state_through_bytes (hv_serial_save_state (s));

  vireo_test_platform_init (&tp);
  copy = hv_serial_new (&tp.platform, HV_IRQ_COM1, -1);
  g_assert_true (hv_serial_load_state (copy, state, &error));
  g_assert_no_error (error);
  g_assert_true (tp.irq_level[HV_IRQ_COM1]);
  g_assert_cmphex (in8 (copy, LCR), ==, 0x1b);
  g_assert_cmphex (in8 (copy, MCR), ==, 0x0b);
  g_assert_cmphex (in8 (copy, IER), ==, 0x05);
  g_assert_cmphex (in8 (copy, SCR), ==, 0x5a);
  g_assert_cmphex (in8 (copy, MSR) & 0xf0, ==, 0xb0); /* DCD, DSR, CTS of an idle line */
  /* Below trigger level 14: a character timeout, with the FIFOs on. */
  g_assert_cmphex (in8 (copy, IIR), ==, 0xcc);
  out8 (copy, LCR, 0x9b);
  g_assert_cmphex (in8 (copy, DLL), ==, 0x01);
  g_assert_cmphex (in8 (copy, DLM), ==, 0x00);
  out8 (copy, LCR, 0x1b);
  for (const char *c = "ello"; *c; c++)
    g_assert_cmphex (in8 (copy, RBR), ==, *c);
  g_assert_cmphex (in8 (copy, LSR), ==, 0x60);
  g_assert_false (tp.irq_level[HV_IRQ_COM1]);
  /* The FIFO has room for 16 again. */
  g_assert_cmpuint (hv_serial_receive (copy, (const uint8_t *) "0123456789abcdefXYZ", 19), ==, 16);
  hv_serial_free (copy);
  vireo_test_platform_clear (&tp);
}

/* A state with any field out of range is refused as a whole: the port keeps what it had. */
static void
test_load_bad_state (Fixture *f, gconstpointer data)
{
  static const struct
  {
    const char *key;
    const char *value;
  } bad[] = {
    { "ier", "byte 0x10" },        { "mcr", "byte 0x20" },
    { "trigger-level", "byte 3" }, { "rx", "[byte 1, 2]" }, /* FIFOs off: one byte at most */
    { "divisor", "uint32 1" },     { "lsr-errors", "byte 0x80" },
  };
  g_autoptr (GVariant) good = NULL;

  out8 (f->serial, SCR, 0x42);
  good = g_variant_ref_sink (hv_serial_save_state (f->serial));
  for (gsize i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autoptr (GError) error = NULL;
      g_autoptr (GVariant) value = g_variant_parse (NULL, bad[i].value, NULL, NULL, &error);
      g_autoptr (GVariant) state = NULL;
      GVariantDict dict;

      g_assert_no_error (error);
      g_variant_dict_init (&dict, good);
      g_variant_dict_insert (&dict, "scr", "y", 0x99);
      g_variant_dict_insert_value (&dict, bad[i].key, value);
      state = g_variant_ref_sink (g_variant_dict_end (&dict));
      g_assert_false (hv_serial_load_state (f->serial, state, &error));
      g_assert_error (error, HV_ERROR, HV_ERROR_BAD_IMAGE);
      g_assert_nonnull (strstr (error->message, "serial port"));
      g_assert_cmphex (in8 (f->serial, SCR), ==, 0x42);
    }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

#define ADD(path, fn) g_test_add ("/serial/" path, Fixture, NULL, fixture_setup, fn, fixture_teardown)
  ADD ("linux-autoconfig", test_linux_autoconfig);
  ADD ("divisor-latch", test_divisor_latch);
  ADD ("transmit", test_transmit);
  ADD ("transmit-full-pipe", test_transmit_full_pipe);
  ADD ("thre-interrupt", test_thre_interrupt);
  ADD ("out2-gates-irq", test_out2_gates_irq);
  ADD ("receive-fifo", test_receive_fifo);
  ADD ("overrun", test_overrun);
  ADD ("modem-status", test_modem_status);
  ADD ("input-thread", test_input_thread);
  ADD ("free-wakes-input-thread", test_free_wakes_input_thread);
  ADD ("garbage", test_garbage);
  ADD ("save-load", test_save_load);
  ADD ("load-bad-state", test_load_bad_state);
#undef ADD

  return g_test_run ();
}
