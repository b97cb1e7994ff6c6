/* kit-ps2.c — the guest kit's PS/2 keyboard: i8042 set-up for polling, reading scancodes, and the
 * US layout's characters for set-1 make codes (also the Linux key codes virtio-input sends). */
#include "kit-private.h"

#define I8042_STATUS_OUTPUT_FULL 0x01
#define I8042_STATUS_INPUT_FULL  0x02
#define I8042_STATUS_AUX_DATA    0x20
#define I8042_CMD_READ_CONFIG    0x20
#define I8042_CMD_WRITE_CONFIG   0x60
#define I8042_CMD_ENABLE_KBD     0xae
#define I8042_CONFIG_KBD_IRQ     0x01
#define I8042_CONFIG_AUX_IRQ     0x02
#define I8042_CONFIG_KBD_OFF     0x10
#define I8042_CONFIG_TRANSLATE   0x40
#define KBD_ENABLE_SCANNING      0xf4
#define KBD_ACK                  0xfa

/* About 20 ms at 3 GHz: a controller answers at once or not at all. */
#define I8042_TIMEOUT_CYCLES (1ull << 26)

static bool
wait_status (uint8_t mask, uint8_t want)
{
  uint64_t start = kit_rdtsc ();

  while ((inb (HV_PORT_I8042_CMD) & mask) != want)
    {
      if (kit_rdtsc () - start > I8042_TIMEOUT_CYCLES)
        return false;
      cpu_pause ();
    }
  return true;
}

static bool
send (uint16_t port, uint8_t byte)
{
  if (!wait_status (I8042_STATUS_INPUT_FULL, 0))
    return false;
  outb (port, byte);
  return true;
}

static void
flush (void)
{
  for (unsigned i = 0; i < 64 && (inb (HV_PORT_I8042_CMD) & I8042_STATUS_OUTPUT_FULL); i++)
    (void) inb (HV_PORT_I8042_DATA);
}

bool
kit_ps2_init (void)
{
  flush ();
  if (!send (HV_PORT_I8042_CMD, I8042_CMD_READ_CONFIG)
      || !wait_status (I8042_STATUS_OUTPUT_FULL, I8042_STATUS_OUTPUT_FULL))
    return false;
  uint8_t config = inb (HV_PORT_I8042_DATA);

  /* Polled, so no interrupts (they would only sit pending with IF clear); translation keeps what
   * the guest reads in set 1 whatever set the keyboard itself uses. */
  config &= (uint8_t) ~(I8042_CONFIG_KBD_IRQ | I8042_CONFIG_AUX_IRQ | I8042_CONFIG_KBD_OFF);
  config |= I8042_CONFIG_TRANSLATE;
  if (!send (HV_PORT_I8042_CMD, I8042_CMD_WRITE_CONFIG) || !send (HV_PORT_I8042_DATA, config)
      || !send (HV_PORT_I8042_CMD, I8042_CMD_ENABLE_KBD))
    return false;

  /* Scanning is on after a keyboard reset, but firmware may have turned it off; the ACK is not a
   * key, so it is consumed here. */
  if (send (HV_PORT_I8042_DATA, KBD_ENABLE_SCANNING)
      && wait_status (I8042_STATUS_OUTPUT_FULL, I8042_STATUS_OUTPUT_FULL))
    {
      uint8_t status = inb (HV_PORT_I8042_CMD);
      uint8_t reply = inb (HV_PORT_I8042_DATA);
      if ((status & I8042_STATUS_AUX_DATA) || reply != KBD_ACK)
        kit_printf ("kit: ps2: keyboard answered 0x%x to enable scanning\n", reply);
    }
  return true;
}

bool
kit_ps2_read (uint8_t *scancode)
{
  uint8_t status = inb (HV_PORT_I8042_CMD);

  if (!(status & I8042_STATUS_OUTPUT_FULL))
    return false;
  *scancode = inb (HV_PORT_I8042_DATA);
  return !(status & I8042_STATUS_AUX_DATA);
}

/* Set-1 make codes 0x00-0x39 on a US keyboard; 0 for keys without a character. */
static const char keys_plain[] = "\0\x1b"
                                 "1234567890-=\b\t"
                                 "qwertyuiop[]\n\0"
                                 "asdfghjkl;'`\0"
                                 "\\zxcvbnm,./\0*\0 ";
static const char keys_shifted[] = "\0\x1b"
                                   "!@#$%^&*()_+\b\t"
                                   "QWERTYUIOP{}\n\0"
                                   "ASDFGHJKL:\"~\0"
                                   "|ZXCVBNM<>?\0*\0 ";

_Static_assert(sizeof keys_plain == 0x3a + 1, "the table ends at the space bar (0x39)");
_Static_assert(sizeof keys_shifted == sizeof keys_plain, "both tables cover the same keys");

char
kit_key_ascii (unsigned code, bool shift)
{
  if (code >= sizeof keys_plain - 1)
    return 0;
  return shift ? keys_shifted[code] : keys_plain[code];
}
