/* i8042.c — the PS/2 controller with its keyboard: status and command byte, controller commands, the
 * reset line, keyboard commands, scancode injection and the saved state.
 *
 * No mouse is attached: the aux port exists (Linux's loopback and IRQ 12 tests pass), but bytes sent to
 * the aux device time out, which Linux's psmouse treats as "no mouse" at its first command. */
#include "devices.h"
#include "device.h"
#include "layout.h"
#include "state.h"

#include <string.h>

#define STATUS_OBF     0x01
#define STATUS_SYS     0x04
#define STATUS_A2      0x08 /* last write went to the command port */
#define STATUS_UNLOCK  0x10 /* keyboard not inhibited by the key lock */
#define STATUS_AUX_OBF 0x20
#define STATUS_TIMEOUT 0x40

#define CCB_KBD_INT 0x01
#define CCB_AUX_INT 0x02
#define CCB_SYS     0x04
#define CCB_KBD_DIS 0x10
#define CCB_AUX_DIS 0x20
#define CCB_XLATE   0x40
/* What a PC BIOS leaves behind: keyboard interrupt on, system flag, no mouse set up, translation. */
#define CCB_DEFAULT (CCB_KBD_INT | CCB_SYS | CCB_AUX_DIS | CCB_XLATE)

#define OUTPORT_RESET   0x01 /* low = hold the CPU in reset */
#define OUTPORT_A20     0x02
#define OUTPORT_KBD_OBF 0x10
#define OUTPORT_AUX_OBF 0x20
#define OUTPORT_DEFAULT (OUTPORT_RESET | OUTPORT_A20 | 0xc0) /* keyboard clock and data idle high */

#define KBD_ACK    0xfa
#define KBD_RESEND 0xfe
#define KBD_BAT_OK 0xaa

#define QUEUE_SIZE 64

/* Where a byte in the output buffer came from. */
#define BYTE_AUX     0x100 /* shows as AUX OBF and raises IRQ 12 */
#define BYTE_TIMEOUT 0x200 /* the transfer timed out (no aux device) */

typedef struct
{
  uint16_t items[QUEUE_SIZE]; /* the byte plus BYTE_* flags */
  unsigned head;
  unsigned count;
} ByteQueue;

struct _HvI8042
{
  GMutex lock;
  const HvPlatform *platform;

  uint8_t ram[32]; /* controller RAM; byte 0 is the command byte */
  uint8_t outport;
  gboolean sys_flag;
  gboolean last_was_command;
  uint8_t pending_command; /* controller command waiting for its data byte, 0 if none */

  gboolean obf;
  uint16_t obf_byte;    /* with BYTE_* flags */
  ByteQueue controller; /* controller answers, always delivered first */
  ByteQueue keyboard;   /* what the keyboard sends; held while the keyboard interface is disabled */

  /* The keyboard itself. */
  gboolean scanning;
  uint8_t kbd_pending; /* keyboard command waiting for its parameter, 0 if none */
  uint8_t scancode_set;
  uint8_t leds;
  uint8_t typematic;
  uint8_t kbd_last_sent;

  gboolean kbd_irq;
  gboolean aux_irq;
};

#define CCB(i8042) ((i8042)->ram[0])

static gboolean
queue_push (ByteQueue *queue, uint16_t item)
{
  if (queue->count == QUEUE_SIZE)
    return FALSE;
  queue->items[(queue->head + queue->count) % QUEUE_SIZE] = item;
  queue->count++;
  return TRUE;
}

static uint16_t
queue_pop (ByteQueue *queue)
{
  uint16_t item = queue->items[queue->head];
  queue->head = (queue->head + 1) % QUEUE_SIZE;
  queue->count--;
  return item;
}

static void
queue_clear (ByteQueue *queue)
{
  queue->head = 0;
  queue->count = 0;
}

static void
update_irq_locked (HvI8042 *i8042)
{
  gboolean kbd = i8042->obf && !(i8042->obf_byte & BYTE_AUX) && (CCB (i8042) & CCB_KBD_INT);
  gboolean aux = i8042->obf && (i8042->obf_byte & BYTE_AUX) && (CCB (i8042) & CCB_AUX_INT);

  if (kbd != i8042->kbd_irq)
    {
      i8042->kbd_irq = kbd;
      hv_platform_set_irq (i8042->platform, HV_IRQ_KEYBOARD, kbd);
    }
  if (aux != i8042->aux_irq)
    {
      i8042->aux_irq = aux;
      hv_platform_set_irq (i8042->platform, HV_IRQ_MOUSE, aux);
    }
}

/* Moves the next deliverable byte into the empty output buffer. */
static void
fill_output_buffer_locked (HvI8042 *i8042)
{
  if (!i8042->obf)
    {
      if (i8042->controller.count > 0)
        {
          i8042->obf_byte = queue_pop (&i8042->controller);
          i8042->obf = TRUE;
        }
      else if (i8042->keyboard.count > 0 && !(CCB (i8042) & CCB_KBD_DIS))
        {
          i8042->obf_byte = queue_pop (&i8042->keyboard);
          i8042->obf = TRUE;
        }
    }
  update_irq_locked (i8042);
}

static void
controller_reply_locked (HvI8042 *i8042, uint16_t item)
{
  if (!queue_push (&i8042->controller, item))
    g_debug ("i8042: controller output queue full, byte dropped");
  fill_output_buffer_locked (i8042);
}

static void
keyboard_send_locked (HvI8042 *i8042, uint8_t byte)
{
  i8042->kbd_last_sent = byte;
  if (!queue_push (&i8042->keyboard, byte))
    g_debug ("i8042: keyboard output queue full, byte dropped");
  fill_output_buffer_locked (i8042);
}

static void
keyboard_defaults_locked (HvI8042 *i8042)
{
  i8042->scancode_set = 2;
  i8042->typematic = 0x2b; /* 10.9 characters/s after 500 ms */
}

static void
keyboard_parameter_locked (HvI8042 *i8042, uint8_t command, uint8_t value)
{
  switch (command)
    {
    case 0xed: /* set LEDs */
      i8042->leds = value & 0x07;
      keyboard_send_locked (i8042, KBD_ACK);
      break;

    case 0xf0: /* get or set the scancode set */
      if (value > 3)
        {
          keyboard_send_locked (i8042, KBD_RESEND);
          break;
        }
      keyboard_send_locked (i8042, KBD_ACK);
      if (value == 0)
        keyboard_send_locked (i8042, i8042->scancode_set);
      else
        i8042->scancode_set = value;
      break;

    case 0xf3: /* typematic rate and delay */
      i8042->typematic = value & 0x7f;
      keyboard_send_locked (i8042, KBD_ACK);
      break;

    default:
      break;
    }
}

/* A byte written to port 0x60 without a pending controller command goes to the keyboard. */
static void
keyboard_write_locked (HvI8042 *i8042, uint8_t value)
{
  /* Talking to the keyboard re-enables its interface, as on real controllers. */
  CCB (i8042) &= ~CCB_KBD_DIS;

  /* Parameters are below 0x80; anything else is a new command that cancels the pending one. */
  if (i8042->kbd_pending != 0 && value < 0x80)
    {
      uint8_t command = i8042->kbd_pending;
      i8042->kbd_pending = 0;
      keyboard_parameter_locked (i8042, command, value);
      return;
    }
  i8042->kbd_pending = 0;

  /* A keyboard discards its unsent output when it receives a command (except echo and resend). */
  if (value != 0xee && value != 0xfe)
    queue_clear (&i8042->keyboard);

  switch (value)
    {
    case 0xed: /* set LEDs */
    case 0xf0: /* scancode set */
    case 0xf3: /* typematic */
      keyboard_send_locked (i8042, KBD_ACK);
      i8042->kbd_pending = value;
      break;

    case 0xee: /* echo */
      keyboard_send_locked (i8042, 0xee);
      break;

    case 0xf2: /* identify: an MF2 keyboard; the controller translates 0x83 when translating */
      keyboard_send_locked (i8042, KBD_ACK);
      keyboard_send_locked (i8042, 0xab);
      keyboard_send_locked (i8042, (CCB (i8042) & CCB_XLATE) ? 0x41 : 0x83);
      break;

    case 0xf4: /* enable scanning */
      i8042->scanning = TRUE;
      keyboard_send_locked (i8042, KBD_ACK);
      break;

    case 0xf5: /* disable scanning and restore defaults */
      i8042->scanning = FALSE;
      keyboard_defaults_locked (i8042);
      keyboard_send_locked (i8042, KBD_ACK);
      break;

    case 0xf6: /* restore defaults */
      keyboard_defaults_locked (i8042);
      keyboard_send_locked (i8042, KBD_ACK);
      break;

    case 0xfe: /* resend the last byte */
      keyboard_send_locked (i8042, i8042->kbd_last_sent);
      break;

    case 0xff: /* reset and self-test */
      keyboard_defaults_locked (i8042);
      i8042->leds = 0;
      i8042->scanning = TRUE;
      keyboard_send_locked (i8042, KBD_ACK);
      keyboard_send_locked (i8042, KBD_BAT_OK);
      break;

    default:
      g_debug ("i8042: unknown keyboard command 0x%02x", value);
      keyboard_send_locked (i8042, KBD_RESEND);
      break;
    }
}

static void
request_reset (HvI8042 *i8042)
{
  hv_platform_request_exit (i8042->platform, HV_EXIT_RESET, "the guest reset the machine through the i8042");
}

/* Handles the data byte of a controller command.  Returns TRUE if the guest asked for a reset. */
static gboolean
controller_parameter_locked (HvI8042 *i8042, uint8_t command, uint8_t value)
{
  if (command >= 0x60 && command <= 0x7f)
    {
      i8042->ram[command & 0x1f] = value;
      if (command == 0x60)
        {
          i8042->sys_flag = (value & CCB_SYS) != 0;
          /* The enable bits may have changed what can reach the output buffer and which IRQ it raises. */
          fill_output_buffer_locked (i8042);
        }
      return FALSE;
    }

  switch (command)
    {
    case 0xd1: /* write output port */
      if ((value & OUTPORT_A20) == 0)
        g_debug ("i8042: the guest turned A20 off, which this machine does not emulate");
      i8042->outport = value & ~(OUTPORT_KBD_OBF | OUTPORT_AUX_OBF);
      return (value & OUTPORT_RESET) == 0;

    case 0xd2: /* as if the keyboard had sent it */
      controller_reply_locked (i8042, value);
      break;

    case 0xd3: /* as if the aux device had sent it */
      controller_reply_locked (i8042, value | BYTE_AUX);
      break;

    case 0xd4: /* to the aux device: nobody answers */
      CCB (i8042) &= ~CCB_AUX_DIS;
      controller_reply_locked (i8042, 0xfe | BYTE_AUX | BYTE_TIMEOUT);
      break;

    default:
      break;
    }
  return FALSE;
}

/* Returns TRUE if the command asks for a reset. */
static gboolean
controller_command_locked (HvI8042 *i8042, uint8_t command)
{
  i8042->pending_command = 0;

  if (command >= 0x20 && command <= 0x3f)
    {
      controller_reply_locked (i8042, i8042->ram[command & 0x1f]);
      return FALSE;
    }
  if ((command >= 0x60 && command <= 0x7f) || (command >= 0xd1 && command <= 0xd4))
    {
      i8042->pending_command = command;
      return FALSE;
    }
  if (command >= 0xf0)
    {
      /* Pulse output port lines: a low bit 0 pulses the reset line. */
      return (command & 0x01) == 0;
    }

  switch (command)
    {
    case 0xa7: /* disable aux */
      CCB (i8042) |= CCB_AUX_DIS;
      break;

    case 0xa8: /* enable aux */
      CCB (i8042) &= ~CCB_AUX_DIS;
      break;

    case 0xa9: /* aux interface test: "clock line stuck high", i.e. nothing plugged in */
      controller_reply_locked (i8042, 0x02);
      break;

    case 0xaa: /* controller self-test */
      i8042->sys_flag = TRUE;
      controller_reply_locked (i8042, 0x55);
      break;

    case 0xab: /* keyboard interface test */
      controller_reply_locked (i8042, 0x00);
      break;

    case 0xad: /* disable keyboard */
      CCB (i8042) |= CCB_KBD_DIS;
      break;

    case 0xae: /* enable keyboard */
      CCB (i8042) &= ~CCB_KBD_DIS;
      fill_output_buffer_locked (i8042);
      break;

    case 0xc0: /* input port: keyboard not inhibited */
      controller_reply_locked (i8042, 0x80);
      break;

    case 0xd0: /* output port, with the buffer-full lines */
      {
        uint8_t value = i8042->outport;
        if (i8042->obf && !(i8042->obf_byte & BYTE_AUX))
          value |= OUTPORT_KBD_OBF;
        if (i8042->obf && (i8042->obf_byte & BYTE_AUX))
          value |= OUTPORT_AUX_OBF;
        controller_reply_locked (i8042, value);
        break;
      }

    default:
      g_debug ("i8042: unknown controller command 0x%02x", command);
      break;
    }
  return FALSE;
}

void
hv_i8042_data_io (void *opaque, uint64_t offset, uint8_t *data, unsigned len, gboolean is_write)
{
  HvI8042 *i8042 = opaque;
  gboolean reset = FALSE;

  if (offset != 0 || len == 0)
    return;

  g_mutex_lock (&i8042->lock);
  if (is_write)
    {
      uint8_t command = i8042->pending_command;
      i8042->last_was_command = FALSE;
      i8042->pending_command = 0;
      if (command != 0)
        reset = controller_parameter_locked (i8042, command, data[0]);
      else
        keyboard_write_locked (i8042, data[0]);
    }
  else
    {
      /* Reading an empty buffer returns the last byte again, as the hardware does. */
      data[0] = (uint8_t) i8042->obf_byte;
      i8042->obf = FALSE;
      /* Drop the line first so the next byte arrives as a new edge. */
      update_irq_locked (i8042);
      fill_output_buffer_locked (i8042);
    }
  g_mutex_unlock (&i8042->lock);

  if (reset)
    request_reset (i8042);
}

void
hv_i8042_command_io (void *opaque, uint64_t offset, uint8_t *data, unsigned len, gboolean is_write)
{
  HvI8042 *i8042 = opaque;
  gboolean reset = FALSE;

  if (offset != 0 || len == 0)
    return;

  g_mutex_lock (&i8042->lock);
  if (is_write)
    {
      i8042->last_was_command = TRUE;
      reset = controller_command_locked (i8042, data[0]);
    }
  else
    {
      /* The input buffer is consumed at once, so IBF never shows. */
      uint8_t status = STATUS_UNLOCK;
      if (i8042->obf)
        {
          status |= STATUS_OBF;
          if (i8042->obf_byte & BYTE_AUX)
            status |= STATUS_AUX_OBF;
          if (i8042->obf_byte & BYTE_TIMEOUT)
            status |= STATUS_TIMEOUT;
        }
      if (i8042->sys_flag)
        status |= STATUS_SYS;
      if (i8042->last_was_command)
        status |= STATUS_A2;
      data[0] = status;
    }
  g_mutex_unlock (&i8042->lock);

  if (reset)
    request_reset (i8042);
}

HvI8042 *
hv_i8042_new (const HvPlatform *platform)
{
  HvI8042 *i8042 = g_new0 (HvI8042, 1);

  g_mutex_init (&i8042->lock);
  i8042->platform = platform;
  CCB (i8042) = CCB_DEFAULT;
  i8042->outport = OUTPORT_DEFAULT;
  /* The machine starts where a BIOS would have left it: self-tested, keyboard reset and scanning. */
  i8042->sys_flag = TRUE;
  i8042->scanning = TRUE;
  keyboard_defaults_locked (i8042);
  return i8042;
}

void
hv_i8042_free (HvI8042 *i8042)
{
  if (i8042 == NULL)
    return;
  g_mutex_clear (&i8042->lock);
  g_free (i8042);
}

static gboolean
keyboard_accepts_input_locked (HvI8042 *i8042)
{
  return i8042->scanning && !(CCB (i8042) & CCB_KBD_DIS);
}

void
hv_i8042_inject_scancodes (HvI8042 *i8042, const uint8_t *codes, gsize n_codes)
{
  g_return_if_fail (i8042 != NULL);
  g_return_if_fail (codes != NULL || n_codes == 0);

  g_mutex_lock (&i8042->lock);
  if (!keyboard_accepts_input_locked (i8042))
    g_debug ("i8042: keyboard disabled, %" G_GSIZE_FORMAT " scancodes dropped", n_codes);
  else if (QUEUE_SIZE - i8042->keyboard.count < n_codes)
    /* All or nothing, so a key never loses its break code half-way. */
    g_debug ("i8042: keyboard queue full, %" G_GSIZE_FORMAT " scancodes dropped", n_codes);
  else
    {
      for (gsize i = 0; i < n_codes; i++)
        queue_push (&i8042->keyboard, codes[i]);
      fill_output_buffer_locked (i8042);
    }
  g_mutex_unlock (&i8042->lock);
}

void
hv_i8042_send_ctrl_alt_del (HvI8042 *i8042)
{
  /* Set 1: LCtrl, LAlt and Delete (extended) down, then up in reverse order. */
  static const uint8_t codes[] = { 0x1d, 0x38, 0xe0, 0x53, 0xe0, 0xd3, 0xb8, 0x9d };

  hv_i8042_inject_scancodes (i8042, codes, sizeof codes);
}

static GVariant *
queue_save (const ByteQueue *queue)
{
  uint16_t items[QUEUE_SIZE];

  for (unsigned i = 0; i < queue->count; i++)
    items[i] = queue->items[(queue->head + i) % QUEUE_SIZE];
  return g_variant_new_fixed_array (G_VARIANT_TYPE_UINT16, items, queue->count, sizeof items[0]);
}

static gboolean
queue_load (GVariant *state, const char *key, ByteQueue *queue, GError **error)
{
  g_autoptr (GVariant) value = hv_state_lookup (state, "the i8042", key, G_VARIANT_TYPE ("aq"), error);
  const uint16_t *items;
  gsize n;

  if (value == NULL)
    return FALSE;
  items = g_variant_get_fixed_array (value, &n, sizeof items[0]);
  if (n > QUEUE_SIZE)
    {
      hv_state_set_bad (error, "the i8042", "“%s” holds %" G_GSIZE_FORMAT " bytes; it has room for %d", key,
                        n, QUEUE_SIZE);
      return FALSE;
    }
  memset (queue, 0, sizeof *queue);
  for (gsize i = 0; i < n; i++)
    {
      if (items[i] & ~(0xff | BYTE_AUX | BYTE_TIMEOUT))
        {
          hv_state_set_bad (error, "the i8042", "“%s” holds 0x%x, which is no byte", key, items[i]);
          return FALSE;
        }
      queue->items[i] = items[i];
    }
  queue->count = (unsigned) n;
  return TRUE;
}

GVariant *
hv_i8042_save_state (HvI8042 *i8042)
{
  g_auto (GVariantDict) dict = G_VARIANT_DICT_INIT (NULL);

  g_return_val_if_fail (i8042 != NULL, NULL);

  g_mutex_lock (&i8042->lock);
  g_variant_dict_insert_value (&dict, "ram", hv_state_new_bytes (i8042->ram, sizeof i8042->ram));
  g_variant_dict_insert (&dict, "outport", "y", i8042->outport);
  g_variant_dict_insert (&dict, "sys-flag", "b", i8042->sys_flag);
  g_variant_dict_insert (&dict, "last-was-command", "b", i8042->last_was_command);
  g_variant_dict_insert (&dict, "pending-command", "y", i8042->pending_command);
  g_variant_dict_insert (&dict, "obf", "b", i8042->obf);
  g_variant_dict_insert (&dict, "obf-byte", "q", i8042->obf_byte);
  g_variant_dict_insert_value (&dict, "controller-queue", queue_save (&i8042->controller));
  g_variant_dict_insert_value (&dict, "keyboard-queue", queue_save (&i8042->keyboard));
  g_variant_dict_insert (&dict, "scanning", "b", i8042->scanning);
  g_variant_dict_insert (&dict, "keyboard-pending", "y", i8042->kbd_pending);
  g_variant_dict_insert (&dict, "scancode-set", "y", i8042->scancode_set);
  g_variant_dict_insert (&dict, "leds", "y", i8042->leds);
  g_variant_dict_insert (&dict, "typematic", "y", i8042->typematic);
  g_variant_dict_insert (&dict, "keyboard-last-sent", "y", i8042->kbd_last_sent);
  g_mutex_unlock (&i8042->lock);
  return g_variant_dict_end (&dict);
}

gboolean
hv_i8042_load_state (HvI8042 *i8042, GVariant *state, GError **error)
{
  const char *what = "the i8042";
  uint8_t ram[32];
  uint8_t outport, pending_command, kbd_pending, scancode_set, leds, typematic, kbd_last_sent;
  uint16_t obf_byte;
  gboolean sys_flag, last_was_command, obf, scanning;
  ByteQueue controller, keyboard;

  g_return_val_if_fail (i8042 != NULL, FALSE);
  g_return_val_if_fail (state != NULL, FALSE);

  if (!hv_state_get_bytes (state, what, "ram", ram, sizeof ram, sizeof ram, NULL, error)
      || !hv_state_get (state, what, "outport", "y", &outport, error)
      || !hv_state_get (state, what, "sys-flag", "b", &sys_flag, error)
      || !hv_state_get (state, what, "last-was-command", "b", &last_was_command, error)
      || !hv_state_get (state, what, "pending-command", "y", &pending_command, error)
      || !hv_state_get (state, what, "obf", "b", &obf, error)
      || !hv_state_get_max (state, what, "obf-byte", "q", 0xff | BYTE_AUX | BYTE_TIMEOUT, &obf_byte, error)
      || !queue_load (state, "controller-queue", &controller, error)
      || !queue_load (state, "keyboard-queue", &keyboard, error)
      || !hv_state_get (state, what, "scanning", "b", &scanning, error)
      || !hv_state_get (state, what, "keyboard-pending", "y", &kbd_pending, error)
      || !hv_state_get (state, what, "scancode-set", "y", &scancode_set, error)
      || !hv_state_get_max (state, what, "leds", "y", 0x07, &leds, error)
      || !hv_state_get_max (state, what, "typematic", "y", 0x7f, &typematic, error)
      || !hv_state_get (state, what, "keyboard-last-sent", "y", &kbd_last_sent, error))
    return FALSE;
  /* Only commands that take a data byte can be waiting for one. */
  if (pending_command != 0 && !(pending_command >= 0x60 && pending_command <= 0x7f)
      && !(pending_command >= 0xd1 && pending_command <= 0xd4))
    {
      hv_state_set_bad (error, what, "controller command 0x%02x does not wait for data", pending_command);
      return FALSE;
    }
  if (kbd_pending != 0 && kbd_pending != 0xed && kbd_pending != 0xf0 && kbd_pending != 0xf3)
    {
      hv_state_set_bad (error, what, "keyboard command 0x%02x does not wait for data", kbd_pending);
      return FALSE;
    }
  if (scancode_set < 1 || scancode_set > 3)
    {
      hv_state_set_bad (error, what, "scancode set %u does not exist", scancode_set);
      return FALSE;
    }

  g_mutex_lock (&i8042->lock);
  memcpy (i8042->ram, ram, sizeof ram);
  i8042->outport = outport;
  i8042->sys_flag = sys_flag;
  i8042->last_was_command = last_was_command;
  i8042->pending_command = pending_command;
  i8042->obf = obf;
  i8042->obf_byte = obf_byte;
  i8042->controller = controller;
  i8042->keyboard = keyboard;
  i8042->scanning = scanning;
  i8042->kbd_pending = kbd_pending;
  i8042->scancode_set = scancode_set;
  i8042->leds = leds;
  i8042->typematic = typematic;
  i8042->kbd_last_sent = kbd_last_sent;
  /* The lines of a new machine are low: raise them again where a byte is waiting. */
  i8042->kbd_irq = FALSE;
  i8042->aux_irq = FALSE;
  fill_output_buffer_locked (i8042);
  g_mutex_unlock (&i8042->lock);
  return TRUE;
}

/* The "i8042" kind: the PC's one keyboard controller. */

static gboolean
i8042_realize (HvDevice *device, GError **error)
{
  if (!hv_device_claim_gsi (device, HV_IRQ_KEYBOARD, error)
      || !hv_device_claim_gsi (device, HV_IRQ_MOUSE, error))
    return FALSE;
  device->impl = hv_i8042_new (hv_device_get_platform (device));
  return hv_device_claim_pio (device, HV_PORT_I8042_DATA, 1, hv_i8042_data_io, device->impl, error)
         && hv_device_claim_pio (device, HV_PORT_I8042_CMD, 1, hv_i8042_command_io, device->impl, error);
}

static void
i8042_teardown (HvDevice *device)
{
  hv_i8042_free (device->impl);
}

static GVariant *
i8042_save (HvDevice *device)
{
  return hv_i8042_save_state (device->impl);
}

static gboolean
i8042_load (HvDevice *device, GVariant *state, unsigned version, GError **error)
{
  return hv_i8042_load_state (device->impl, state, error);
}

const HvDeviceKind hv_i8042_kind = {
  .info = &hv_kind_info_i8042,
  .order = HV_DEVICE_ORDER_PLATFORM,
  .state_version = 1,
  .realize = i8042_realize,
  .teardown = i8042_teardown,
  .save = i8042_save,
  .load = i8042_load,
};
