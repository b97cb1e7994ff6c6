/* serial.c — the 16550A UART (COM1, COM2): registers, FIFOs, loopback, interrupt line, the input
 * thread, its saved state, and the "serial" device kind. */
#include "devices.h"
#include "device.h"
#include "state.h"
#include "layout.h"

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

/* Register offsets from the port base. */
enum
{
  REG_RBR_THR_DLL = 0,
  REG_IER_DLM = 1,
  REG_IIR_FCR = 2,
  REG_LCR = 3,
  REG_MCR = 4,
  REG_LSR = 5,
  REG_MSR = 6,
  REG_SCR = 7,
  N_REGS = 8,
};

#define IER_RDI  0x01 /* received data available */
#define IER_THRI 0x02 /* transmitter holding register empty */
#define IER_RLSI 0x04 /* receiver line status */
#define IER_MSI  0x08 /* modem status */
#define IER_MASK 0x0f /* a 16550A has no other IER bits; Linux's probe checks that */

#define IIR_NO_INT  0x01
#define IIR_MSI     0x00
#define IIR_THRI    0x02
#define IIR_RDI     0x04
#define IIR_RLSI    0x06
#define IIR_TIMEOUT 0x0c
#define IIR_FIFO_ON 0xc0

#define FCR_ENABLE     0x01
#define FCR_CLEAR_RX   0x02
#define FCR_CLEAR_TX   0x04
#define FCR_TRIGGER(v) (((v) >> 6) & 3)

#define LCR_DLAB 0x80

#define MCR_DTR  0x01
#define MCR_RTS  0x02
#define MCR_OUT1 0x04
#define MCR_OUT2 0x08
#define MCR_LOOP 0x10
#define MCR_MASK 0x1f

#define LSR_DR   0x01
#define LSR_OE   0x02
#define LSR_THRE 0x20
#define LSR_TEMT 0x40

#define MSR_DCTS 0x01
#define MSR_DDSR 0x02
#define MSR_TERI 0x04
#define MSR_DDCD 0x08
#define MSR_CTS  0x10
#define MSR_DSR  0x20
#define MSR_RI   0x40
#define MSR_DCD  0x80
/* Without loopback the far end looks like a connected, ready terminal. */
#define MSR_IDLE_LINES (MSR_DCD | MSR_DSR | MSR_CTS)

#define FIFO_SIZE 16

struct _HvSerial
{
  GMutex lock;
  const HvPlatform *platform;
  unsigned gsi;
  uint16_t port; /* where the machine placed it; 0 outside a machine (unit tests) */
  int output_fd;
  GMutex output_lock; /* keeps one vCPU's bytes in order without holding @lock across write() */

  uint8_t ier;
  uint8_t lcr;
  uint8_t mcr;
  uint8_t lsr_errors; /* OE, until LSR is read */
  uint8_t msr;        /* line states in bits 7:4, deltas in 3:0 */
  uint8_t scr;
  uint16_t divisor;
  gboolean fifo_enabled;
  unsigned trigger_level;
  gboolean thr_interrupt; /* THRE is pending as an interrupt source */

  uint8_t rx[FIFO_SIZE];
  unsigned rx_head;
  unsigned rx_count;
  uint8_t last_rx; /* what RBR reads when nothing is pending */

  gboolean irq_level;

  /* Input thread: it sleeps on @wake_fd while the receiver is full; guest reads and hv_serial_free()
   * write to it. */
  GThread *input_thread;
  int input_fd;
  int wake_fd;
  gboolean input_waiting;
  gboolean input_held; /* hv_serial_hold_input: read nothing more from input_fd */
  gboolean stopping;
};

static const unsigned trigger_levels[4] = { 1, 4, 8, 14 };

static unsigned
rx_capacity (HvSerial *serial)
{
  /* With the FIFOs off the receiver is the single holding register of an 8250. */
  return serial->fifo_enabled ? FIFO_SIZE : 1;
}

static unsigned
rx_room_locked (HvSerial *serial)
{
  /* In loopback the receiver is disconnected from the line, so outside input must wait. */
  if (serial->mcr & MCR_LOOP)
    return 0;
  return rx_capacity (serial) - serial->rx_count;
}

static void
wake_input_locked (HvSerial *serial)
{
  uint64_t one = 1;

  if (!serial->input_waiting || serial->wake_fd < 0)
    return;
  serial->input_waiting = FALSE;
  /* A full counter (EAGAIN) already means "wake up". */
  while (write (serial->wake_fd, &one, sizeof one) < 0 && errno == EINTR)
    ;
}

/* The highest-priority pending, enabled source, as IIR bits 3:0. */
static uint8_t
pending_interrupt (HvSerial *serial)
{
  if ((serial->ier & IER_RLSI) && serial->lsr_errors)
    return IIR_RLSI;
  if ((serial->ier & IER_RDI) && serial->rx_count > 0)
    {
      /* The character timeout of real hardware fires once the line has been quiet for four character
       * times.  Input arrives here in whole batches under the lock, so when the guest can look the line
       * is already quiet: data below the trigger level reports the timeout at once. */
      if (!serial->fifo_enabled || serial->rx_count >= serial->trigger_level)
        return IIR_RDI;
      return IIR_TIMEOUT;
    }
  if ((serial->ier & IER_THRI) && serial->thr_interrupt)
    return IIR_THRI;
  if ((serial->ier & IER_MSI) && (serial->msr & 0x0f))
    return IIR_MSI;
  return IIR_NO_INT;
}

static void
update_irq_locked (HvSerial *serial)
{
  /* A PC gates the UART's interrupt output with OUT2; in loopback the OUT2 pin is forced inactive. */
  gboolean level = pending_interrupt (serial) != IIR_NO_INT && (serial->mcr & MCR_OUT2)
                   && !(serial->mcr & MCR_LOOP);

  if (level == serial->irq_level)
    return;
  serial->irq_level = level;
  hv_platform_set_irq (serial->platform, serial->gsi, level);
}

static uint8_t
modem_lines (HvSerial *serial)
{
  uint8_t lines = 0;

  if (!(serial->mcr & MCR_LOOP))
    return MSR_IDLE_LINES;
  if (serial->mcr & MCR_DTR)
    lines |= MSR_DSR;
  if (serial->mcr & MCR_RTS)
    lines |= MSR_CTS;
  if (serial->mcr & MCR_OUT1)
    lines |= MSR_RI;
  if (serial->mcr & MCR_OUT2)
    lines |= MSR_DCD;
  return lines;
}

static void
update_modem_status_locked (HvSerial *serial)
{
  uint8_t old_lines = serial->msr & 0xf0;
  uint8_t new_lines = modem_lines (serial);
  uint8_t changed = old_lines ^ new_lines;
  uint8_t deltas = serial->msr & 0x0f;

  if (changed & MSR_CTS)
    deltas |= MSR_DCTS;
  if (changed & MSR_DSR)
    deltas |= MSR_DDSR;
  if (changed & MSR_DCD)
    deltas |= MSR_DDCD;
  /* RI reports only its trailing edge. */
  if ((old_lines & MSR_RI) && !(new_lines & MSR_RI))
    deltas |= MSR_TERI;
  serial->msr = new_lines | deltas;
}

static void
clear_rx_locked (HvSerial *serial)
{
  serial->rx_head = 0;
  serial->rx_count = 0;
  wake_input_locked (serial);
}

/* Puts bytes into the receiver; returns how many were taken. */
static gsize
rx_push_locked (HvSerial *serial, const uint8_t *data, gsize len)
{
  unsigned capacity = rx_capacity (serial);
  gsize taken = 0;

  while (taken < len && serial->rx_count < capacity)
    {
      serial->rx[(serial->rx_head + serial->rx_count) % FIFO_SIZE] = data[taken++];
      serial->rx_count++;
    }
  return taken;
}

static uint8_t
rx_pop_locked (HvSerial *serial)
{
  if (serial->rx_count == 0)
    return serial->last_rx;
  serial->last_rx = serial->rx[serial->rx_head];
  serial->rx_head = (serial->rx_head + 1) % FIFO_SIZE;
  serial->rx_count--;
  wake_input_locked (serial);
  return serial->last_rx;
}

/* Sends one byte to the output fd.  A blocking fd (a tty, a file, a pipe someone reads) slows the
 * guest down the way a real line would; a non-blocking fd that is full drops the byte rather than
 * stall a vCPU. */
static void
transmit (HvSerial *serial, uint8_t byte)
{
  if (serial->output_fd < 0)
    return;
  g_mutex_lock (&serial->output_lock);
  for (;;)
    {
      ssize_t n = write (serial->output_fd, &byte, 1);
      if (n >= 0 || errno != EINTR)
        break;
    }
  g_mutex_unlock (&serial->output_lock);
}

/* Returns TRUE when @byte must still be sent to the output fd (done outside the lock). */
static gboolean
write_register_locked (HvSerial *serial, unsigned reg, uint8_t value)
{
  gboolean dlab = (serial->lcr & LCR_DLAB) != 0;
  gboolean send = FALSE;

  switch (reg)
    {
    case REG_RBR_THR_DLL:
      if (dlab)
        {
          serial->divisor = (serial->divisor & 0xff00) | value;
          break;
        }
      if (serial->mcr & MCR_LOOP)
        {
          if (rx_push_locked (serial, &value, 1) == 0)
            serial->lsr_errors |= LSR_OE;
        }
      else
        send = TRUE;
      /* The byte leaves at once, so THR is empty again by the time the guest can look. */
      serial->thr_interrupt = TRUE;
      break;

    case REG_IER_DLM:
      if (dlab)
        {
          serial->divisor = (serial->divisor & 0x00ff) | (uint16_t) (value << 8);
          break;
        }
      /* Enabling THRI while THR is empty raises THRE again even if an IIR read had cleared it: Linux's
       * startup test and Windows both rely on that. */
      if ((value & IER_THRI) && !(serial->ier & IER_THRI))
        serial->thr_interrupt = TRUE;
      serial->ier = value & IER_MASK;
      break;

    case REG_IIR_FCR:
      {
        gboolean enable = (value & FCR_ENABLE) != 0;
        if (enable != serial->fifo_enabled)
          {
            /* Switching the FIFOs on or off empties them. */
            serial->fifo_enabled = enable;
            clear_rx_locked (serial);
          }
        if (!enable)
          break; /* the other bits are only taken together with FCR_ENABLE */
        if (value & FCR_CLEAR_RX)
          clear_rx_locked (serial);
        /* Transmission is instantaneous, so the transmit FIFO is always empty already. */
        serial->trigger_level = trigger_levels[FCR_TRIGGER (value)];
        break;
      }

    case REG_LCR:
      serial->lcr = value;
      break;

    case REG_MCR:
      {
        gboolean was_loop = (serial->mcr & MCR_LOOP) != 0;
        serial->mcr = value & MCR_MASK;
        update_modem_status_locked (serial);
        if (was_loop && !(serial->mcr & MCR_LOOP))
          wake_input_locked (serial);
        break;
      }

    case REG_LSR:
    case REG_MSR:
      g_debug ("serial: write 0x%02x to read-only register %u ignored", value, reg);
      break;

    case REG_SCR:
      serial->scr = value;
      break;

    default:
      break;
    }

  update_irq_locked (serial);
  return send;
}

static uint8_t
read_register_locked (HvSerial *serial, unsigned reg)
{
  gboolean dlab = (serial->lcr & LCR_DLAB) != 0;
  uint8_t value = 0xff;

  switch (reg)
    {
    case REG_RBR_THR_DLL:
      value = dlab ? (uint8_t) serial->divisor : rx_pop_locked (serial);
      break;

    case REG_IER_DLM:
      value = dlab ? (uint8_t) (serial->divisor >> 8) : serial->ier;
      break;

    case REG_IIR_FCR:
      {
        uint8_t source = pending_interrupt (serial);
        value = source | (serial->fifo_enabled ? IIR_FIFO_ON : 0);
        /* Reading IIR while it reports THRE is how the guest acknowledges that source. */
        if (source == IIR_THRI)
          serial->thr_interrupt = FALSE;
        break;
      }

    case REG_LCR:
      value = serial->lcr;
      break;

    case REG_MCR:
      value = serial->mcr;
      break;

    case REG_LSR:
      value = LSR_THRE | LSR_TEMT | serial->lsr_errors;
      if (serial->rx_count > 0)
        value |= LSR_DR;
      serial->lsr_errors = 0;
      break;

    case REG_MSR:
      value = serial->msr;
      serial->msr &= 0xf0;
      break;

    case REG_SCR:
      value = serial->scr;
      break;

    default:
      break;
    }

  update_irq_locked (serial);
  return value;
}

void
hv_serial_io (void *opaque, uint64_t offset, uint8_t *data, unsigned len, gboolean is_write)
{
  HvSerial *serial = opaque;

  /* An 8-bit ISA device: a wider access reaches consecutive registers, one byte each. */
  for (unsigned i = 0; i < len; i++)
    {
      uint64_t reg = offset + i;
      if (reg >= N_REGS)
        break;
      if (is_write)
        {
          gboolean send;
          g_mutex_lock (&serial->lock);
          send = write_register_locked (serial, (unsigned) reg, data[i]);
          g_mutex_unlock (&serial->lock);
          if (send)
            transmit (serial, data[i]);
        }
      else
        {
          g_mutex_lock (&serial->lock);
          data[i] = read_register_locked (serial, (unsigned) reg);
          g_mutex_unlock (&serial->lock);
        }
    }
}

HvSerial *
hv_serial_new (const HvPlatform *platform, unsigned gsi, int output_fd)
{
  HvSerial *serial = g_new0 (HvSerial, 1);

  g_mutex_init (&serial->lock);
  g_mutex_init (&serial->output_lock);
  serial->platform = platform;
  serial->gsi = gsi;
  serial->output_fd = output_fd;
  serial->msr = MSR_IDLE_LINES;
  serial->divisor = 12; /* 9600 baud, what a PC BIOS leaves */
  serial->trigger_level = 1;
  serial->input_fd = -1;
  serial->wake_fd = -1;
  return serial;
}

void
hv_serial_free (HvSerial *serial)
{
  if (serial == NULL)
    return;

  if (serial->input_thread)
    {
      uint64_t one = 1;
      g_mutex_lock (&serial->lock);
      serial->stopping = TRUE;
      while (write (serial->wake_fd, &one, sizeof one) < 0 && errno == EINTR)
        ;
      g_mutex_unlock (&serial->lock);
      g_thread_join (serial->input_thread);
    }
  if (serial->wake_fd >= 0)
    close (serial->wake_fd);
  g_mutex_clear (&serial->output_lock);
  g_mutex_clear (&serial->lock);
  g_free (serial);
}

gsize
hv_serial_receive (HvSerial *serial, const uint8_t *data, gsize len)
{
  gsize taken;

  g_return_val_if_fail (serial != NULL, 0);
  g_return_val_if_fail (data != NULL || len == 0, 0);

  g_mutex_lock (&serial->lock);
  /* What does not fit stays with the caller: nothing is lost, so this is no overrun. */
  taken = (serial->mcr & MCR_LOOP) ? 0 : rx_push_locked (serial, data, len);
  update_irq_locked (serial);
  g_mutex_unlock (&serial->lock);
  return taken;
}

static gboolean
retry_errno (int err)
{
  return err == EINTR || err == EAGAIN || err == EWOULDBLOCK;
}

static gpointer
input_thread_main (gpointer data)
{
  HvSerial *serial = data;
  uint8_t buffer[FIFO_SIZE];
  gsize have = 0;
  gsize done = 0;

  hv_thread_started (HV_THREAD_IO);
  for (;;)
    {
      struct pollfd fds[2];
      unsigned room = 0;
      nfds_t n_fds = 1;

      g_mutex_lock (&serial->lock);
      if (serial->stopping)
        {
          g_mutex_unlock (&serial->lock);
          break;
        }
      if (done < have && !serial->input_held)
        {
          /* Bytes read earlier that the guest had no room for (it entered loopback meanwhile). */
          done += rx_push_locked (serial, buffer + done, have - done);
          update_irq_locked (serial);
        }
      if (done == have && !serial->input_held)
        {
          have = done = 0;
          room = rx_room_locked (serial);
        }
      /* Registering before sleeping, under the lock, means no wake-up can slip in between. */
      serial->input_waiting = room == 0 || serial->input_held;
      g_mutex_unlock (&serial->lock);

      fds[0] = (struct pollfd){ .fd = serial->wake_fd, .events = POLLIN };
      if (room > 0)
        {
          fds[1] = (struct pollfd){ .fd = serial->input_fd, .events = POLLIN };
          n_fds = 2;
        }
      if (poll (fds, n_fds, -1) < 0)
        {
          if (errno == EINTR)
            continue;
          g_warning ("serial: poll on the input failed: %s", g_strerror (errno));
          break;
        }

      if (fds[0].revents & POLLIN)
        {
          uint64_t count;
          if (read (serial->wake_fd, &count, sizeof count) < 0 && !retry_errno (errno))
            break;
        }

      if (n_fds == 2 && fds[1].revents)
        {
          ssize_t n;
          if (fds[1].revents & POLLNVAL)
            break;
          /* Only as much as the receiver can take, so the rest waits in the fd, not in a lost buffer;
           * and nothing once input is held, checked under the lock so that a hold is final when
           * hv_serial_hold_input() returns (poll said the fd is readable: read does not block). */
          int saved = 0;
          g_mutex_lock (&serial->lock);
          n = -2;
          if (!serial->input_held)
            {
              n = read (serial->input_fd, buffer, MIN (room, sizeof buffer));
              saved = errno;
            }
          g_mutex_unlock (&serial->lock);
          if (n == -2)
            continue;
          if (n == 0)
            break; /* end of file */
          if (n < 0)
            {
              if (retry_errno (saved))
                continue;
              g_debug ("serial: reading the input failed: %s", g_strerror (saved));
              break;
            }
          have = (gsize) n;
          done = 0;
        }
    }

  return NULL;
}

void
hv_serial_hold_input (HvSerial *serial, gboolean held)
{
  g_mutex_lock (&serial->lock);
  serial->input_held = held;
  if (!held)
    wake_input_locked (serial);
  g_mutex_unlock (&serial->lock);
}

gboolean
hv_serial_start_input (HvSerial *serial, int input_fd, GError **error)
{
  g_return_val_if_fail (serial != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (input_fd < 0)
    {
      g_set_error (error, HV_ERROR, HV_ERROR_INVALID_ARGUMENT,
                   "The serial input file descriptor %d is not valid", input_fd);
      return FALSE;
    }
  if (serial->input_thread != NULL)
    {
      g_set_error_literal (error, HV_ERROR, HV_ERROR_INVALID_STATE, "The serial port already has an input");
      return FALSE;
    }

  serial->wake_fd = eventfd (0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (serial->wake_fd < 0)
    {
      int err = errno;
      g_set_error (error, HV_ERROR, HV_ERROR_FAILED, "Could not create an eventfd for the serial input: %s",
                   g_strerror (err));
      return FALSE;
    }
  serial->input_fd = input_fd;
  serial->input_thread = g_thread_try_new ("serial-input", input_thread_main, serial, error);
  if (serial->input_thread == NULL)
    {
      close (serial->wake_fd);
      serial->wake_fd = -1;
      serial->input_fd = -1;
      g_prefix_error (error, "Could not start the serial input thread: ");
      return FALSE;
    }
  return TRUE;
}

GVariant *
hv_serial_save_state (HvSerial *serial)
{
  g_auto (GVariantDict) dict = G_VARIANT_DICT_INIT (NULL);
  uint8_t rx[FIFO_SIZE];

  g_return_val_if_fail (serial != NULL, NULL);

  g_mutex_lock (&serial->lock);
  for (unsigned i = 0; i < serial->rx_count; i++)
    rx[i] = serial->rx[(serial->rx_head + i) % FIFO_SIZE];
  g_variant_dict_insert (&dict, "port", "q", serial->port);
  g_variant_dict_insert (&dict, "gsi", "u", serial->gsi);
  g_variant_dict_insert (&dict, "ier", "y", serial->ier);
  g_variant_dict_insert (&dict, "lcr", "y", serial->lcr);
  g_variant_dict_insert (&dict, "mcr", "y", serial->mcr);
  g_variant_dict_insert (&dict, "lsr-errors", "y", serial->lsr_errors);
  g_variant_dict_insert (&dict, "msr", "y", serial->msr);
  g_variant_dict_insert (&dict, "scr", "y", serial->scr);
  g_variant_dict_insert (&dict, "divisor", "q", serial->divisor);
  g_variant_dict_insert (&dict, "fifo-enabled", "b", serial->fifo_enabled);
  g_variant_dict_insert (&dict, "trigger-level", "y", (guint8) serial->trigger_level);
  g_variant_dict_insert (&dict, "thr-interrupt", "b", serial->thr_interrupt);
  g_variant_dict_insert_value (&dict, "rx", hv_state_new_bytes (rx, serial->rx_count));
  g_variant_dict_insert (&dict, "last-rx", "y", serial->last_rx);
  g_mutex_unlock (&serial->lock);
  return g_variant_dict_end (&dict);
}

gboolean
hv_serial_load_state (HvSerial *serial, GVariant *state, GError **error)
{
  return hv_serial_load_state_version (serial, state, HV_SERIAL_STATE_VERSION, error);
}

gboolean
hv_serial_load_state_version (HvSerial *serial, GVariant *state, unsigned version, GError **error)
{
  const char *what = "the serial port";
  /* Version 1 knew one port only, COM1. */
  uint16_t port = HV_PORT_COM1;
  uint32_t gsi = HV_IRQ_COM1;
  uint8_t ier, lcr, mcr, lsr_errors, msr, scr, trigger_level, last_rx;
  uint16_t divisor;
  gboolean fifo_enabled, thr_interrupt, trigger_ok = FALSE;
  uint8_t rx[FIFO_SIZE];
  gsize rx_count;

  g_return_val_if_fail (serial != NULL, FALSE);
  g_return_val_if_fail (state != NULL, FALSE);

  if (!hv_state_get_max (state, what, "ier", "y", IER_MASK, &ier, error)
      || !hv_state_get (state, what, "lcr", "y", &lcr, error)
      || !hv_state_get_max (state, what, "mcr", "y", MCR_MASK, &mcr, error)
      || !hv_state_get_max (state, what, "lsr-errors", "y", LSR_OE, &lsr_errors, error)
      || !hv_state_get (state, what, "msr", "y", &msr, error)
      || !hv_state_get (state, what, "scr", "y", &scr, error)
      || !hv_state_get (state, what, "divisor", "q", &divisor, error)
      || !hv_state_get (state, what, "fifo-enabled", "b", &fifo_enabled, error)
      || !hv_state_get (state, what, "trigger-level", "y", &trigger_level, error)
      || !hv_state_get (state, what, "thr-interrupt", "b", &thr_interrupt, error)
      || !hv_state_get_bytes (state, what, "rx", rx, 0, fifo_enabled ? FIFO_SIZE : 1, &rx_count, error)
      || !hv_state_get (state, what, "last-rx", "y", &last_rx, error)
      || !hv_state_get_since (state, what, "port", "q", version, 2, &port, error)
      || !hv_state_get_since (state, what, "gsi", "u", version, 2, &gsi, error))
    return FALSE;
  if (port != serial->port || gsi != serial->gsi)
    {
      hv_state_set_bad (error, what, "it was at port 0x%x, IRQ %u; this one is at 0x%x, IRQ %u", port, gsi,
                        serial->port, serial->gsi);
      return FALSE;
    }
  for (unsigned i = 0; i < G_N_ELEMENTS (trigger_levels); i++)
    trigger_ok = trigger_ok || trigger_level == trigger_levels[i];
  if (!trigger_ok)
    {
      hv_state_set_bad (error, what, "the receiver trigger level %u does not exist", trigger_level);
      return FALSE;
    }

  g_mutex_lock (&serial->lock);
  serial->ier = ier;
  serial->lcr = lcr;
  serial->mcr = mcr;
  serial->lsr_errors = lsr_errors;
  /* The line states follow from MCR; only the deltas are the guest's to see. */
  serial->msr = modem_lines (serial) | (msr & 0x0f);
  serial->scr = scr;
  serial->divisor = divisor;
  serial->fifo_enabled = fifo_enabled;
  serial->trigger_level = trigger_level;
  serial->thr_interrupt = thr_interrupt;
  memcpy (serial->rx, rx, rx_count);
  serial->rx_head = 0;
  serial->rx_count = (unsigned) rx_count;
  serial->last_rx = last_rx;
  /* The line of a new machine is low: raise it again if an interrupt is pending. */
  serial->irq_level = FALSE;
  update_irq_locked (serial);
  wake_input_locked (serial);
  g_mutex_unlock (&serial->lock);
  return TRUE;
}

/* The "serial" kind: the PC's serial ports, handed to instances in order. */

static const struct
{
  uint16_t port;
  unsigned gsi;
} com_ports[] = {
  { HV_PORT_COM1, HV_IRQ_COM1 },
  { HV_PORT_COM2, HV_IRQ_COM2 },
};

static gboolean
serial_realize (HvDevice *device, GError **error)
{
  HvSerial *serial;

  if (!hv_device_claim_gsi (device, com_ports[device->index].gsi, error))
    return FALSE;
  serial = hv_serial_new (hv_device_get_platform (device), com_ports[device->index].gsi,
                          hv_device_get_fd_option (device, "output"));
  serial->port = com_ports[device->index].port;
  device->impl = serial;
  return hv_device_claim_pio (device, serial->port, N_REGS, hv_serial_io, serial, error);
}

static gboolean
serial_start (HvDevice *device, GError **error)
{
  int input_fd = hv_device_get_fd_option (device, "input");

  return input_fd < 0 || hv_serial_start_input (device->impl, input_fd, error);
}

static void
serial_teardown (HvDevice *device)
{
  hv_serial_free (device->impl);
}

static void
serial_quiesce (HvDevice *device, gboolean quiesced)
{
  /* What arrives meanwhile waits in the input fd, not in a receiver whose state was saved. */
  hv_serial_hold_input (device->impl, quiesced);
}

static GVariant *
serial_save (HvDevice *device)
{
  return hv_serial_save_state (device->impl);
}

static gboolean
serial_load (HvDevice *device, GVariant *state, unsigned version, GError **error)
{
  return hv_serial_load_state_version (device->impl, state, version, error);
}

const HvDeviceKind hv_serial_kind = {
  .info = &hv_kind_info_serial,
  .order = HV_DEVICE_ORDER_PLATFORM,
  .state_version = HV_SERIAL_STATE_VERSION,
  .realize = serial_realize,
  .start = serial_start,
  .teardown = serial_teardown,
  .quiesce = serial_quiesce,
  .save = serial_save,
  .load = serial_load,
};
