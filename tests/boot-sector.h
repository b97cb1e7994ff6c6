/* boot-sector.h — the tests' and the benchmark's boot sector: real-mode code that writes a message to
 * COM1 by its ports, then halts or resets the machine through port 0xCF9 (the chipset's reset control). */
#pragma once

#include <glib.h>
#include <stdint.h>
#include <string.h>

/* Fills @sector (512 bytes, zeroed by the caller) with the code, @message after it and the boot
 * signature.  @message must be short: it follows the code in the sector. */
static inline void
vireo_boot_sector_fill (uint8_t *sector, const char *message, gboolean reset)
{
  static const uint8_t code[] = {
    0xfa,             /* cli */
    0x31, 0xc0,       /* xor ax, ax */
    0x8e, 0xd8,       /* mov ds, ax */
    0xba, 0xf8, 0x03, /* mov dx, 0x3f8 */
    0xbe, 0x00, 0x00, /* mov si, message (patched) */
    0xac,             /* next: lodsb */
    0x84, 0xc0,       /* test al, al */
    0x74, 0x03,       /* jz end */
    0xee,             /* out dx, al */
    0xeb, 0xf8,       /* jmp next */
    0x90, 0x90, 0x90, /* end: (reset) mov dx, 0xcf9 */
    0x90, 0x90,       /* (reset) mov al, 6: a hard reset */
    0x90,             /* (reset) out dx, al */
    0xf4,             /* halt: hlt */
    0xeb, 0xfd,       /* jmp halt */
  };
  static const uint8_t reset_code[] = { 0xba, 0xf9, 0x0c, 0xb0, 0x06, 0xee };
  uint16_t at = 0x7c00 + sizeof code;

  g_assert (sizeof code + strlen (message) + 1 <= 510);
  memcpy (sector, code, sizeof code);
  if (reset)
    memcpy (sector + 19, reset_code, sizeof reset_code);
  sector[9] = at & 0xff;
  sector[10] = at >> 8;
  memcpy (sector + sizeof code, message, strlen (message));
  sector[510] = 0x55;
  sector[511] = 0xaa;
}
