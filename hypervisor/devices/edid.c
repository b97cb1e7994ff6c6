/* edid.c — the EDID the display adapter shows its guest (bochs-display.c): a monitor whose modes are
 * exactly those the adapter scans out. */
#include "edid.h"

#include <string.h>

static void
put16 (uint8_t *bytes, unsigned offset, uint16_t value)
{
  bytes[offset] = (uint8_t) value;
  bytes[offset + 1] = (uint8_t) (value >> 8);
}

typedef struct
{
  uint32_t clock_khz;
  uint16_t hactive, hfront, hsync, hback;
  uint16_t vactive, vfront, vsync, vback;
  gboolean hsync_positive, vsync_positive;
} Timing;

/* VESA DMT 1024x768 at 60 Hz: the preferred mode, the same as Linux's bochs driver picks without an
 * EDID. */
static const Timing timing_1024x768 = { 65000, 1024, 24, 136, 160, 768, 3, 6, 29, FALSE, FALSE };
/* CVT reduced blanking 2560x1600 at 60 Hz: the largest mode, beyond what a standard timing can say. */
static const Timing timing_2560x1600 = { 268500, 2560, 48, 32, 80, 1600, 3, 6, 37, TRUE, FALSE };

static void
put_detailed_timing (uint8_t *d, const Timing *t)
{
  unsigned hblank = t->hfront + t->hsync + t->hback;
  unsigned vblank = t->vfront + t->vsync + t->vback;
  unsigned clock = t->clock_khz / 10;

  d[0] = (uint8_t) clock;
  d[1] = (uint8_t) (clock >> 8);
  d[2] = (uint8_t) t->hactive;
  d[3] = (uint8_t) hblank;
  d[4] = (uint8_t) (((t->hactive >> 8) << 4) | (hblank >> 8));
  d[5] = (uint8_t) t->vactive;
  d[6] = (uint8_t) vblank;
  d[7] = (uint8_t) (((t->vactive >> 8) << 4) | (vblank >> 8));
  d[8] = (uint8_t) t->hfront;
  d[9] = (uint8_t) t->hsync;
  d[10] = (uint8_t) (((t->vfront & 0xf) << 4) | (t->vsync & 0xf));
  d[11] = (uint8_t) (((t->hfront >> 8) << 6) | ((t->hsync >> 8) << 4) | ((t->vfront >> 4) << 2)
                     | (t->vsync >> 4));
  /* Bytes 12..16: no image size (the screen is a window of any size), no border. */
  d[17] = (uint8_t) (0x18 | (t->vsync_positive ? 0x04 : 0) | (t->hsync_positive ? 0x02 : 0));
}

/* An EDID 1.4 block for a digital monitor of no fixed size whose modes are exactly those the device
 * shows: 800x600 and 1024x768 (established), eight standard timings from 1280x720 to 1920x1200, and
 * 1024x768 (preferred) and 2560x1600 as detailed timings.  The continuous-frequency bit stays clear, so
 * Linux infers no other modes. */
void
hv_edid_build (uint8_t edid[HV_EDID_SIZE])
{
  /* sRGB primaries and white point as 10-bit binary fractions: red, green, blue, white, x then y. */
  static const uint16_t chroma[8] = { 655, 338, 307, 614, 154, 61, 320, 337 };
  /* Standard timings: (width / 8) - 31, then aspect (00 16:10, 01 4:3, 10 5:4, 11 16:9) | refresh - 60. */
  static const uint8_t standard[16] = {
    0x81, 0xc0, /* 1280x720 */
    0x81, 0x00, /* 1280x800 */
    0x81, 0x80, /* 1280x1024 */
    0x95, 0x00, /* 1440x900 */
    0xa9, 0x40, /* 1600x1200 */
    0xb3, 0x00, /* 1680x1050 */
    0xd1, 0xc0, /* 1920x1080 */
    0xd1, 0x00, /* 1920x1200 */
  };
  static const char name[] = "Vireo\n       "; /* 13 bytes: a newline ends it, spaces pad it */
  unsigned sum = 0;

  memset (edid, 0, HV_EDID_SIZE);
  memset (edid + 1, 0xff, 6);
  /* Manufacturer "VIR" in 5-bit letters, product 1, made in 2024, EDID 1.4. */
  edid[8] = ('V' - '@') << 2 | ('I' - '@') >> 3;
  edid[9] = (uint8_t) (('I' - '@') << 5 | ('R' - '@'));
  put16 (edid, 10, 1);
  edid[17] = 2024 - 1990;
  edid[18] = 1;
  edid[19] = 4;
  edid[20] = 0xa0; /* digital, 8 bits per primary */
  edid[23] = 120;  /* gamma 2.2 */
  edid[24] = 0x06; /* RGB 4:4:4, sRGB, preferred timing is native */
  edid[25] = (uint8_t) ((chroma[0] & 3) << 6 | (chroma[1] & 3) << 4 | (chroma[2] & 3) << 2 | (chroma[3] & 3));
  edid[26] = (uint8_t) ((chroma[4] & 3) << 6 | (chroma[5] & 3) << 4 | (chroma[6] & 3) << 2 | (chroma[7] & 3));
  for (unsigned i = 0; i < 8; i++)
    edid[27 + i] = (uint8_t) (chroma[i] >> 2);
  edid[35] = 0x01; /* 800x600 at 60 Hz */
  edid[36] = 0x08; /* 1024x768 at 60 Hz */
  memcpy (edid + 38, standard, sizeof standard);
  put_detailed_timing (edid + 54, &timing_1024x768);
  put_detailed_timing (edid + 72, &timing_2560x1600);
  edid[90 + 3] = 0xfc; /* display product name */
  memcpy (edid + 90 + 5, name, 13);
  edid[108 + 3] = 0x10; /* dummy descriptor */

  for (unsigned i = 0; i < HV_EDID_SIZE - 1; i++)
    sum += edid[i];
  edid[HV_EDID_SIZE - 1] = (uint8_t) (256 - sum % 256);
}
